/* put_stream.c — a streamed body's blocks: read one at a time into their slots, hashed in body order by two lanes.
 *
 * A PUT body over 4 MiB (intake.c) or another source (gw_put_start_source)
 * is read block by block straight into the buffer the block will be posted
 * from (put_read_block, started by put.c when the block gets its budget
 * slot). Two lanes then hash the blocks in body order side by side, each on
 * its own pool thread: MD5 for the ETag in one, SHA-256 for a signed payload
 * and the x-amz-checksum in the other (put_work.c); a block is sealed once
 * every running lane is past it (put.c's seal, journal and post follow). A
 * digest that does not match fails the put once both lanes are through the
 * body, Content-MD5's error first.
 *
 * Threads: the loop; the lanes' jobs touch only their lane and the blocks'
 * plaintext (read only).
 */
#include "gateway/engine/put_int.h"
#include "gateway/gw.h"

static void on_block_read(struct gw_body *body, enum s3_err err, void *ud)
{
    struct put_blk *c = ud;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    (void)body;
    p->reading = NULL;
    if (err != S3E_OK || p->failed || p->freeing) {
        p->jobs--;
        put_slot_release(c);
        if (err != S3E_OK)
            put_fail(p, err);
    } else {
        /* The read's job goes on as the lane's, then the seal's. */
        put_lane_kick(p);
        if (p->next < p->n_blocks && !p->waiting)
            put_wait_append(gw, p);
    }
    put_up_pump(gw);
    put_finish(p);
}

/* A source's read is over: got bytes of the n asked for, and whether the
 * data ends there. At its end the put's length and block count become exact
 * (the source guarantees got > 0 there, except for an empty first block). */
static void on_source_read(void *ud, enum s3_err err, size_t got, int end)
{
    struct put_blk *c = ud;
    struct gw_put *p = c->p;
    size_t bs = (size_t)p->gw->cfg.block_size;
    if (err == S3E_OK && got < c->plain_len && !end)
        err = S3E_INTERNAL_ERROR; /* a short read must be the end */
    if (err == S3E_OK && got == 0)
        err = S3E_INTERNAL_ERROR;
    if (err == S3E_OK) {
        c->buf_len -= c->plain_len - got;
        c->plain_len = got;
        if (end) {
            p->len = c->i * bs + got;
            p->n_blocks = c->i + 1;
        }
    }
    on_block_read(NULL, err, c);
}

/* Takes block c's buffer and reads its bytes of the body into it: at
 * BLK_HEADER_LEN when it will be sealed (in place), else at 0. */
void put_read_block(struct gw_put *p, struct put_blk *c)
{
    struct gw *gw = p->gw;
    size_t bs = (size_t)gw->cfg.block_size;
    size_t off = c->i * bs, n = p->len - off < bs ? p->len - off : bs;
    int seal = gw->keys != NULL && !gw->cfg.no_encryption;
    c->buf_len = n + (seal ? BLK_OVERHEAD : 0);
    c->buf = bigbuf_new(gw_stripe_capacity(gw, c->buf_len));
    c->plain = c->buf + (seal ? BLK_HEADER_LEN : 0);
    c->plain_len = n;
    p->reading = c;
    if (p->src_ops != NULL) {
        p->src_ops->read(p->src, c->plain, n, on_source_read, c);
        return;
    }
    gw_body_read(p->body, c->plain, n, on_block_read, c);
}

/* Whether lane L runs for p: MD5 always, the second lane for SHA-256 or a checksum. */
static int lane_on(const struct gw_put *p, int L)
{
    return L == LANE_MD5 || p->sha_ctx != NULL || p->ck_ctx != NULL;
}

/* The first block some running lane has not hashed yet (blocks below it are
 * sealed, or given back by a failed put). */
static size_t lanes_low(const struct gw_put *p)
{
    size_t lo = p->lanes[LANE_MD5].next;
    if (lane_on(p, LANE_SHA) && p->lanes[LANE_SHA].next < lo)
        lo = p->lanes[LANE_SHA].next;
    return lo;
}

/* What the lanes found: an internal failure at once; a digest that does not
 * match once every running lane is through the body, Content-MD5's first (as
 * one lane judged them before). */
static enum s3_err lanes_verdict(const struct gw_put *p)
{
    for (int L = 0; L < PUT_LANES; L++)
        if (lane_on(p, L) && p->lanes[L].err == S3E_INTERNAL_ERROR)
            return S3E_INTERNAL_ERROR;
    for (int L = 0; L < PUT_LANES; L++)
        if (lane_on(p, L) && (p->lanes[L].busy || p->lanes[L].next < p->n_blocks))
            return S3E_OK;
    for (int L = 0; L < PUT_LANES; L++)
        if (lane_on(p, L) && p->lanes[L].err != S3E_OK)
            return p->lanes[L].err;
    return S3E_OK;
}

static void lane_done(uv_work_t *w, int status)
{
    struct put_lane *l = w->data;
    struct gw_put *p = l->p;
    struct gw *gw = p->gw;
    size_t i = l->next++;
    l->busy = 0;
    p->verifying--;
    if (status != 0 && l->err == S3E_OK)
        l->err = S3E_INTERNAL_ERROR;
    enum s3_err e = lanes_verdict(p);
    if (e != S3E_OK)
        put_fail(p, e);
    /* Hashed by every running lane: now the keyed hash, identity and seal (in place) on the pool. A
     * failed put's blocks give their slots back in lane_kick. */
    if (!p->failed && !p->freeing && lanes_low(p) > i) {
        p->sealing = i + 1;
        uv_queue_work(gw->loop, &p->bl[i].work, put_seal_work, put_after_seal);
    }
    put_lane_kick(p);
    put_up_pump(gw);
    put_finish(p);
}

/* Starts each idle lane on its next block if that is read; a failed put,
 * once no lane runs, gives the slots of the blocks read but not sealed back
 * instead. */
void put_lane_kick(struct gw_put *p)
{
    if (!p->streamed)
        return;
    if (p->failed || p->freeing) {
        if (p->verifying > 0)
            return; /* a lane is hashing a block */
        size_t i = p->sealing;
        while (i < p->next && p->bl[i].buf != NULL && &p->bl[i] != p->reading) {
            p->jobs--;
            put_slot_release(&p->bl[i++]);
        }
        p->sealing = i;
        for (int L = 0; L < PUT_LANES; L++)
            if (p->lanes[L].next < i)
                p->lanes[L].next = i;
        return;
    }
    for (int L = 0; L < PUT_LANES; L++) {
        struct put_lane *l = &p->lanes[L];
        if (!lane_on(p, L) || l->busy || l->next >= p->next || &p->bl[l->next] == p->reading)
            continue;
        l->busy = 1;
        p->verifying++;
        l->last = l->next + 1 >= p->n_blocks;
        l->work.data = l;
        uv_queue_work(p->gw->loop, &l->work, put_lane_work, lane_done);
    }
}


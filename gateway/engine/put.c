/* put.c — the upload half of the block pipeline: request bodies into Telegram documents.
 *
 * DESIGN
 * PUT/UploadPart, streamed (a body over 4 MiB read by intake.c): each block
 * gets its budget slot before its bytes are read, straight into the buffer
 * it will be posted from; two lanes hash blocks in body order side by side
 * on the pool (MD5 in one; SHA-256 for a signed payload and an
 * x-amz-checksum when one is to be verified in the other: one stream uses
 * two cores), then the block is sealed in
 * place, journaled and posted as below. Nothing is gated: the request's
 * signature was checked on its head, and a digest that fails at the end
 * fails the put like any other failure (posted blocks are queued for
 * deletion).
 * PUT/UploadPart, buffered: the body (h2o's buffer, in place) is first verified on
 * libuv's pool: aws-chunked decoded in place with every chunk signature
 * checked, MD5 (the ETag) and, for hex payload hashes, SHA-256 computed and
 * compared with Content-MD5 and x-amz-content-sha256. Only a body that passed
 * is split into blocks of --block-size. Each block then goes through
 *   seal (libuv pool): keyed hash HMAC-SHA256 for dedup, a random 16-byte
 *     identity, AES-256-GCM into a job-owned buffer (a plain copy with
 *     --no-encryption);
 *   journal (store thread): either a live block with the same keyed hash is
 *     held (refcount + 1, journaled) and reused, or an "in flight" row is
 *     written BEFORE the document is posted;
 *   post: the sealed buffer is sent as a document; the confirmed message id
 *     is journaled.
 * Blocks of all requests share one upload budget (--max-upload-blocks slots,
 * a slot held from sealing until the post is answered, so at most that many
 * sealed buffers exist); requests wanting slots wait in a FIFO, served
 * round-robin one block at a time, and at most --max-waiting requests wait
 * (beyond: 503 SlowDown). A put that succeeds inserts its blocks and clears
 * its journal rows in the caller's store transaction (put_commit.c) (dedup holds are
 * released right after the commit); one that fails or is abandoned waits for
 * its posts to be answered, then queues what it posted for deletion and
 * releases its holds. After a crash the start-up sweep does the same for
 * every journal row left.
 *
 * Memory: at most max_upload_blocks sealed buffers (block_size + 52 bytes
 * each), in bigbufs (common.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gateway/blocks/blk.h"
#include "gateway/engine/cache.h"
#include "gateway/engine/put_int.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

/* ---- PUT -------------------------------------------------------------------- */

static void up_pump(struct gw *gw);

static void put_cleanup(struct gw_put *p);

/* Delivers the callback once nothing is outstanding; may free p (the
 * callback can end the request), so callers touch nothing after it. */
static void finish(struct gw_put *p)
{
    if (p->freeing) {
        if (p->jobs == 0 && p->verifying == 0)
            put_cleanup(p);
        return;
    }
    if (p->finished || p->jobs > 0 || p->verifying > 0)
        return;
    if (!p->failed && p->done < p->n_blocks)
        return;
    p->finished = 1;
    p->cb(p, p->failed ? p->err : S3E_OK, p->ud);
}

static void wait_remove(struct gw *gw, struct gw_put *p)
{
    if (!p->waiting)
        return;
    SQUEUE_REMOVE(struct gw_put, gw->up_wait_head, gw->up_wait_tail, p, wait_next);
    p->waiting = 0;
    gw->up_waiting--;
}

static void wait_append(struct gw *gw, struct gw_put *p)
{
    SQUEUE_APPEND(gw->up_wait_head, gw->up_wait_tail, p, wait_next);
    p->waiting = 1;
    gw->up_waiting++;
}


static void slot_release(struct put_blk *b)
{
    if (b->slot) {
        b->slot = 0;
        b->p->gw->up_inflight--;
    }
    bigbuf_free(b->buf);
    b->buf = NULL;
}

/* Shards of the put's stripes still waiting for a pair are not posted. */
static void abandon_stripes(struct gw_put *p)
{
    for (size_t i = 0; p->bl != NULL && i < p->next; i++)
        if (p->bl[i].ss != NULL)
            gw_stripe_send_abandon(p->bl[i].ss);
}

static void put_fail(struct gw_put *p, enum s3_err err)
{
    if (!p->failed) {
        p->failed = 1;
        p->err = err;
        wait_remove(p->gw, p);
        abandon_stripes(p);
    }
}

static void on_block_sent(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct put_blk *c = ud;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    size_t sent = c->buf_len;
    c->call = NULL;
    if (gw_sched_done(gw, &c->post, res, p->failed || p->freeing))
        return; /* placed again on the next free pair; the slot and the buffer stay */
    p->jobs--;
    slot_release(c);
    if (res->status == TG_OK && doc != NULL) {
        struct store_block *b = &p->blocks[c->i];
        b->chat_id = doc->chat_id;
        b->message_id = doc->message_id;
        snprintf(b->file_id, sizeof(b->file_id), "%s", doc->file_id);
        snprintf(b->file_unique_id, sizeof(b->file_unique_id), "%s", doc->file_unique_id);
        b->stored_size = doc->file_size;
        b->created_ms = now_ms();
        /* Journal the message id (the store thread runs jobs in order, so
         * this lands before any commit or clean-up of this put). */
        gw_journal_posted(gw, b->uuid, b->chat_id, b->bot_id, b->message_id);
        if (doc->message_id <= 0 || (size_t)doc->file_size != sent) {
            log_error("put %s: block %zu/%zu: Telegram recorded %lld bytes as message %lld/%lld, %zu were sent",
                      p->tag, c->i + 1, p->n_blocks, (long long)doc->file_size, (long long)doc->chat_id,
                      (long long)doc->message_id, sent);
            put_fail(p, S3E_INTERNAL_ERROR);
        } else {
            p->done++;
        }
    } else if (!p->failed) {
        log_warn("put %s: block %zu/%zu not stored: %s (%s, http %d, after %d attempts%s)", p->tag, c->i + 1,
                 p->n_blocks, tg_status_name(res->status), res->description, res->http_status, res->attempts,
                 res->maybe_posted ? "; a message may exist that cannot be found" : "");
        put_fail(p, res->status == TG_OK ? S3E_INTERNAL_ERROR : gw_tg_err(res));
    }
    up_pump(gw);
    finish(p);
}

/* Every shard of block c has its answer. */
static void on_stripe_done(struct gw_stripe_send *ss)
{
    struct put_blk *c = ss->ud;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    p->jobs--;
    slot_release(c);
    if (gw_stripe_stored(ss)) {
        struct store_stripe tmp;
        gw_stripe_result(ss, &p->blocks[c->i], &tmp);
        if (ss->n_posted < ss->k + ss->m)
            log_warn("put %s: block %zu/%zu stored with %d of %d shards (degraded)", p->tag, c->i + 1, p->n_blocks,
                     ss->n_posted, ss->k + ss->m);
        p->done++;
    } else if (!p->failed) {
        log_warn("put %s: block %zu/%zu not stored: %d of %d shards landed, %d needed", p->tag, c->i + 1,
                 p->n_blocks, ss->n_posted, ss->k + ss->m, ss->k);
        put_fail(p, ss->broken || ss->err == S3E_OK ? S3E_INTERNAL_ERROR : ss->err);
    }
    up_pump(gw);
    finish(p);
}

/* The scheduler found a free pair for block c (sched.c). */
static void on_pair(struct gw_post_slot *s, size_t bot_i, size_t chat_i)
{
    struct put_blk *c = (struct put_blk *)(void *)((char *)s - offsetof(struct put_blk, post));
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    size_t i = c->i;
    size_t bs = (size_t)gw->cfg.block_size;
    size_t off = i * bs, n = p->len - off < bs ? p->len - off : bs;
    struct store_block *b = &p->blocks[i];
    if (p->failed || p->freeing) {
        /* Not posted at all: the clean-up removes its journal row. */
        p->jobs--;
        slot_release(c);
        up_pump(gw);
        finish(p);
        return;
    }
    b->bot_id = gw->bots[bot_i].id;
    char fname[96], caption[256];
    snprintf(fname, sizeof(fname), "tgs3-%s-%zu.bin", p->tag, i);
    /* A self-describing caption lets orphans of lost answers be recognised. */
    char uuid_hex[33];
    hex_encode(b->uuid, sizeof(b->uuid), uuid_hex);
    snprintf(caption, sizeof(caption), "tgs3 v1 put=%s blk=%zu/%zu off=%zu len=%zu id=%s", p->tag, i + 1,
             p->n_blocks, off, n, uuid_hex);
    gw_post_document(gw, bot_i, chat_i, c->buf, c->buf_len, fname, caption, on_block_sent, c);
}

/* No pair could take block c within --max-schedule-wait. */
static void on_post_expired(struct gw_post_slot *s)
{
    struct put_blk *c = (struct put_blk *)(void *)((char *)s - offsetof(struct put_blk, post));
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    p->jobs--;
    slot_release(c);
    put_fail(p, gw->pool != NULL && tg_pool_open_chats(gw->pool) == 0 ? S3E_SERVICE_UNAVAILABLE : S3E_SLOW_DOWN);
    up_pump(gw);
    finish(p);
}

/* Journaled: the block waits for the (bot, chat) pair that can post soonest. */
static void start_block(struct gw_put *p, size_t i)
{
    struct put_blk *c = &p->bl[i];
    p->jobs++;
    if (c->ss != NULL) {
        c->ss->done = on_stripe_done;
        c->ss->ud = c;
        gw_stripe_send_start(c->ss);
        return;
    }
    c->post.go = on_pair;
    c->post.expired = on_post_expired;
    gw_sched_enqueue(p->gw, &c->post);
}

/* Store thread: reuse a live block with the same keyed hash (taking a
 * journaled hold), else journal the upload before it starts. */
static void journal_run(struct store *st, void *arg)
{
    struct put_blk *c = arg;
    struct gw_put *p = c->p;
    struct store_block *b = &p->blocks[c->i];
    static const unsigned char zero[32];
    c->dedup = 0;
    if (memcmp(b->hash, zero, sizeof(zero)) != 0) {
        c->st = store_inflight_hold(st, b->uuid, p->tag, b->hash, b->key_id, b->plain_size, now_ms(), &c->found);
        if (c->st == STORE_OK) {
            c->dedup = 1;
            return;
        }
        if (c->st != STORE_NOT_FOUND)
            return;
    }
    if (c->ss == NULL) {
        c->st = store_inflight_begin(st, b->uuid, p->tag, 0, 0, now_ms());
        return;
    }
    /* A stripe: one journal row per shard, under the shard's own identity. */
    c->st = STORE_OK;
    for (int k = 0; k < c->ss->k + c->ss->m && c->st == STORE_OK; k++)
        c->st = store_inflight_begin(st, c->ss->keys[k], p->tag, 0, 0, now_ms());
}

static void journal_done(void *arg)
{
    struct put_blk *c = arg;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    p->jobs--;
    if (c->st != STORE_OK) {
        log_error("put %s: block %zu/%zu: cannot journal it: %s", p->tag, c->i + 1, p->n_blocks,
                  store_status_name(c->st));
        slot_release(c);
        put_fail(p, gw_store_err(c->st));
    } else if (c->dedup) {
        struct store_block *b = &p->blocks[c->i];
        unsigned char uuid[16];
        memcpy(uuid, b->uuid, sizeof(uuid)); /* the journal row is keyed by this put's identity */
        *b = c->found;
        memcpy(b->uuid, uuid, sizeof(uuid));
        slot_release(c);
        p->done++;
        p->reused++;
        log_debug("put %s: block %zu/%zu is already stored as %lld/%lld; reused", p->tag, c->i + 1, p->n_blocks,
                  (long long)c->found.chat_id, (long long)c->found.message_id);
    } else if (p->failed || p->freeing) {
        slot_release(c); /* journaled but never posted: the clean-up removes the row */
    } else {
        start_block(p, c->i);
    }
    up_pump(gw);
    finish(p);
}

static void after_seal(uv_work_t *w, int status)
{
    struct put_blk *c = w->data;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    p->jobs--;
    if (status != 0 || c->seal_st != BLK_OK) {
        log_error("put %s: block %zu/%zu: cannot seal it: %s", p->tag, c->i + 1, p->n_blocks,
                  status != 0 ? "cancelled" : blk_status_name(c->seal_st));
        slot_release(c);
        put_fail(p, S3E_INTERNAL_ERROR);
    } else if (p->failed || p->freeing) {
        slot_release(c);
    } else if (p->gated && !p->verified) {
        /* Nothing is posted before the body has proved itself. */
        p->jobs++;
        c->parked = 1;
        p->parked++;
        return;
    } else {
        p->jobs++;
        gw_store_call(gw, journal_run, journal_done, c);
        return;
    }
    up_pump(gw);
    finish(p);
}

/* The checks are over: parked blocks go on to be journaled and posted (go),
 * or give their slots back. The caller pumps and finishes. */
static void unpark(struct gw_put *p, int go)
{
    for (size_t i = 0; p->parked > 0 && i < p->next; i++) {
        struct put_blk *c = &p->bl[i];
        if (!c->parked)
            continue;
        c->parked = 0;
        p->parked--;
        if (go) {
            gw_store_call(p->gw, journal_run, journal_done, c);
        } else {
            p->jobs--;
            slot_release(c);
        }
    }
}

/* ---- streamed bodies ----------------------------------------------------------- */

static void lane_kick(struct gw_put *p);

static void on_block_read(struct gw_body *body, enum s3_err err, void *ud)
{
    struct put_blk *c = ud;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    (void)body;
    p->reading = NULL;
    if (err != S3E_OK || p->failed || p->freeing) {
        p->jobs--;
        slot_release(c);
        if (err != S3E_OK)
            put_fail(p, err);
    } else {
        /* The read's job goes on as the lane's, then the seal's. */
        lane_kick(p);
        if (p->next < p->n_blocks && !p->waiting)
            wait_append(gw, p);
    }
    up_pump(gw);
    finish(p);
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
static void read_block(struct gw_put *p, struct put_blk *c)
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
        uv_queue_work(gw->loop, &p->bl[i].work, put_seal_work, after_seal);
    }
    lane_kick(p);
    up_pump(gw);
    finish(p);
}

/* Starts each idle lane on its next block if that is read; a failed put,
 * once no lane runs, gives the slots of the blocks read but not sealed back
 * instead. */
static void lane_kick(struct gw_put *p)
{
    if (!p->streamed)
        return;
    if (p->failed || p->freeing) {
        if (p->verifying > 0)
            return; /* a lane is hashing a block */
        size_t i = p->sealing;
        while (i < p->next && p->bl[i].buf != NULL && &p->bl[i] != p->reading) {
            p->jobs--;
            slot_release(&p->bl[i++]);
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

/* Takes a budget slot (the caller checked one is free) and seals the next block. */
static void prepare_block(struct gw_put *p)
{
    struct gw *gw = p->gw;
    size_t i = p->next++;
    struct put_blk *c = &p->bl[i];
    c->p = p;
    c->i = i;
    c->slot = 1;
    if (gw_stripe_wanted(gw) && c->ss == NULL) {
        c->ss = xcalloc(1, sizeof(*c->ss));
        c->ss->gw = gw;
        c->ss->k = gw->red_k;
        c->ss->m = gw->red_m;
        c->ss->ec = gw->ec;
        snprintf(c->ss->name, sizeof(c->ss->name), "put=%s blk=%zu/%zu", p->tag, i + 1, p->n_blocks);
    }
    gw->up_inflight++;
    gw_opened_trim(gw); /* verified blocks kept give way to the upload's buffer */
    c->work.data = c;
    p->jobs++;
    if (p->streamed) {
        read_block(p, c);
        return;
    }
    uv_queue_work(gw->loop, &c->work, put_seal_work, after_seal);
}

static void up_pump(struct gw *gw)
{
    while (gw->up_inflight < gw->cfg.max_upload_blocks && gw->up_wait_head != NULL) {
        struct gw_put *p = gw->up_wait_head;
        wait_remove(gw, p);
        if (p->next < p->n_blocks)
            prepare_block(p);
        /* round-robin: one block per turn; a streamed put comes back once its read is done */
        if (!p->streamed && p->next < p->n_blocks && !p->failed)
            wait_append(gw, p);
    }
    if (gw->up_wait_head != NULL)
        gw_intake_reclaim(gw); /* stalled bodies holding slots give way */
}

static void free_now(struct gw_put *p)
{
    secure_zero(&p->auth, sizeof(p->auth));
    EVP_MD_CTX_free(p->md5_ctx);
    EVP_MD_CTX_free(p->sha_ctx);
    s3_checksum_release(p->ck_ctx);
    free(p->ck_ctx);
    for (size_t i = 0; p->bl && i < p->n_blocks; i++) {
        bigbuf_free(p->bl[i].buf);
        gw_stripe_send_release(p->bl[i].ss);
        free(p->bl[i].ss);
    }
    free(p->blocks);
    free(p->bl);
    free(p);
}

static void on_packed(void *ud, int ok, int64_t block_id, int64_t offset)
{
    struct gw_put *p = ud;
    p->jobs--;
    p->pack_block = block_id;
    p->pack_off = offset;
    if (!ok) {
        p->failed = 1;
        p->err = S3E_INTERNAL_ERROR;
    }
    finish(p);
}

/* Splits the body into blocks and queues them for sealing; too many puts
 * waiting for budget already fails this one with SlowDown. */
static void start_blocks(struct gw_put *p)
{
    struct gw *gw = p->gw;
    size_t bs = (size_t)gw->cfg.block_size;
    p->n_blocks = (p->len + bs - 1) / bs;
    p->blocks = xcalloc(p->n_blocks ? p->n_blocks : 1, sizeof(*p->blocks));
    p->bl = xcalloc(p->n_blocks ? p->n_blocks : 1, sizeof(*p->bl));
    if (p->n_blocks == 0)
        return;
    if (gw->up_waiting >= gw->cfg.max_waiting) {
        put_fail(p, S3E_SLOW_DOWN);
        return;
    }
    wait_append(gw, p);
    up_pump(gw);
}

static void after_verify(uv_work_t *w, int status)
{
    struct put_check *k = w->data;
    struct gw_put *p = k->p;
    struct gw *gw = p->gw;
    if (status != 0)
        k->err = S3E_INTERNAL_ERROR;
    if (k->err != S3E_OK && p->verify_err == S3E_OK)
        p->verify_err = k->err;
    if (--p->verifying > 0)
        return;
    secure_zero(p->auth.signing_key, sizeof(p->auth.signing_key));
    if (p->freeing) {
        finish(p);
        return;
    }
    if (p->verify_err != S3E_OK) {
        put_fail(p, p->verify_err);
        unpark(p, 0);
        up_pump(gw);
        finish(p);
        return;
    }
    p->verified = 1;
    if (p->early) {
        unpark(p, 1);
        finish(p); /* all blocks may be done already */
        return;
    }
    if (p->chk.may_pack && gw_pack_wants(gw, p->len)) {
        p->packed = 1; /* n_blocks stays 0: the pack's append is the one job */
        p->blocks = xcalloc(1, sizeof(*p->blocks));
        p->bl = xcalloc(1, sizeof(*p->bl));
        p->jobs++;
        gw_pack_append(gw, p->data, p->len, on_packed, p);
        return;
    }
    start_blocks(p);
    finish(p);
}

static void queue_check(struct gw_put *p, int kind)
{
    struct put_check *k = &p->checks[p->verifying++];
    k->p = p;
    k->kind = kind;
    k->err = S3E_OK;
    k->work.data = k;
    uv_queue_work(p->gw->loop, &k->work, put_verify_work, after_verify);
}

/* A plain body (not aws-chunked) that will not go into a pack is split and
 * sealed while its checks run: MD5, SHA-256 and the x-amz-checksum each on
 * a thread of their own. Blocks are posted at once when no check can fail
 * (UNSIGNED-PAYLOAD without Content-MD5 or x-amz-checksum: MD5 is only the
 * ETag then), else they wait sealed, in their budget slots, for all checks
 * to pass. An aws-chunked body is decoded in place first, so its checks run
 * as one job before any block starts. */
static struct gw_put *put_new(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                              size_t len, const char *tag, gw_put_cb cb, void *ud)
{
    struct gw_put *p = xcalloc(1, sizeof(*p));
    p->gw = gw;
    p->len = len;
    p->auth = *auth;
    p->chk = *chk;
    snprintf(p->tag, sizeof(p->tag), "%s", tag);
    p->cb = cb;
    p->ud = ud;
    return p;
}

struct gw_put *gw_put_start(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                            char *data, size_t len, const char *tag, gw_put_cb cb, void *ud)
{
    struct gw_put *p = put_new(gw, auth, chk, len, tag, cb, ud);
    p->data = data;
    if (p->chk.chunked || (p->chk.may_pack && gw_pack_wants(gw, len))) {
        queue_check(p, CHECK_ALL);
        return p;
    }
    p->early = 1;
    p->gated = p->chk.has_md5 || p->chk.ck_alg[0] != '\0' || p->chk.verify_sha256;
    queue_check(p, CHECK_MD5);
    if (p->chk.ck_alg[0] != '\0')
        queue_check(p, CHECK_SUM);
    if (p->chk.verify_sha256)
        queue_check(p, CHECK_SHA256);
    start_blocks(p);
    return p;
}

static struct gw_put *start_streamed(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                                     struct gw_body *body, const struct gw_put_source *ops, void *src, uint64_t len,
                                     const char *tag, gw_put_cb cb, void *ud, enum s3_err *err)
{
    if (chk->chunked) {
        *err = S3E_NOT_IMPLEMENTED; /* the intake never streams those */
        return NULL;
    }
    struct gw_put *p = put_new(gw, auth, chk, (size_t)len, tag, cb, ud);
    p->streamed = 1;
    p->body = body;
    p->src_ops = ops;
    p->src = src;
    for (int L = 0; L < PUT_LANES; L++) {
        p->lanes[L].p = p;
        p->lanes[L].which = L;
    }
    p->md5_ctx = EVP_MD_CTX_new();
    if (p->chk.verify_sha256)
        p->sha_ctx = EVP_MD_CTX_new();
    if (p->chk.ck_alg[0] != '\0') {
        p->ck_ctx = xmalloc(sizeof(*p->ck_ctx));
        if (s3_checksum_init(p->ck_ctx, p->chk.ck_alg) != 0) {
            free(p->ck_ctx);
            p->ck_ctx = NULL;
            put_fail(p, S3E_INVALID_REQUEST);
        }
    }
    if (!p->failed && (p->md5_ctx == NULL || !EVP_DigestInit_ex(p->md5_ctx, EVP_md5(), NULL) ||
                       (p->chk.verify_sha256 &&
                        (p->sha_ctx == NULL || !EVP_DigestInit_ex(p->sha_ctx, EVP_sha256(), NULL)))))
        put_fail(p, S3E_INTERNAL_ERROR);
    if (!p->failed)
        start_blocks(p);
    if (p->failed) { /* nothing started */
        *err = p->err;
        free_now(p);
        return NULL;
    }
    return p;
}

struct gw_put *gw_put_start_body(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                                 struct gw_body *body, uint64_t len, const char *tag, gw_put_cb cb, void *ud,
                                 enum s3_err *err)
{
    return start_streamed(gw, auth, chk, body, NULL, NULL, len, tag, cb, ud, err);
}

struct gw_put *gw_put_start_source(struct gw *gw, const struct gw_body_check *chk, const struct gw_put_source *ops,
                                   void *src, uint64_t max_len, const char *tag, gw_put_cb cb, void *ud,
                                   enum s3_err *err)
{
    struct s3_auth none;
    memset(&none, 0, sizeof(none));
    struct gw_body_check plain = *chk;
    plain.verify_sha256 = 0; /* a source's bytes are signed by nothing the engine checks */
    return start_streamed(gw, &none, &plain, NULL, ops, src, max_len, tag, cb, ud, err);
}

const char *gw_put_md5_hex(const struct gw_put *p)
{
    return p->md5_hex;
}

const char *gw_put_checksum(const struct gw_put *p, const char **b64)
{
    *b64 = p->chk.ck_value;
    return p->chk.ck_alg[0] ? p->chk.ck_alg : NULL;
}

size_t gw_put_size(const struct gw_put *p)
{
    return p->len;
}

static void orphan_run(struct store *st, void *arg)
{
    gw_put_orphan_blocks(arg, st);
}

static void orphan_done(void *arg)
{
    free_now(arg);
}

/* Nothing outstanding any more: queue what was posted but not committed, then free. */
static void put_cleanup(struct gw_put *p)
{
    if (!p->committed && p->next > 0)
        gw_store_call(p->gw, orphan_run, orphan_done, p);
    else
        free_now(p);
}

void gw_put_free(struct gw_put *p)
{
    if (p == NULL)
        return;
    struct gw *gw = p->gw;
    wait_remove(gw, p);
    p->freeing = 1;
    if (p->reading != NULL) { /* its callback will not come: the body goes with the request */
        if (p->src_ops != NULL)
            p->src_ops->cancel(p->src);
        else
            gw_body_cancel(p->body);
        p->jobs--;
        slot_release(p->reading);
        p->reading = NULL;
    }
    p->body = NULL;
    lane_kick(p);
    unpark(p, 0);
    up_pump(gw);
    /* Checks and posts in flight are let finish (their buffers are the put's
     * own), so whatever they created is known and queued for deletion. */
    if (p->jobs == 0 && p->verifying == 0)
        put_cleanup(p);
}

size_t gw_put_buffer_size(const struct gw *gw)
{
    return gw_stripe_capacity(gw, (size_t)gw->cfg.block_size + BLK_OVERHEAD);
}

void gw_put_counters(const struct gw *gw, struct gw_budget_counters *out)
{
    out->held = gw->up_inflight;
    out->waiting = gw->up_waiting;
}

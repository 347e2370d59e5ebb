/* chainio.c — posting one chain document (chain.h) as a sealed stripe, pinned; reading one back.
 *
 * A post seals the plaintext on libuv's pool (blk_seal under the document's
 * identity, then gw_stripe_encode into k + m shards), journals one row per
 * shard (store_inflight_begin, as a block's shards are: a crash between the
 * post and its record leaves the row, and the start-up sweep or the stray
 * probe deletes what landed), posts the shards through the scheduler into
 * distinct chats (stripe_send.c) and pins each landed shard by the bot that
 * posted it. The caller records the document and ends the rows in one
 * transaction (chain_post_keys); a post that failed ends them here, so what
 * landed goes to the delete queue.
 *
 * A read is a block read of a stripe the caller knows (gw_block_read_stripe),
 * then blk_open on the pool.
 *
 * Threads: the loop, except the seal and open jobs (pool), which touch only
 * their own job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/engine/stripe.h"
#include "gateway/safety/chain.h"

struct chain_post {
    struct gw *gw;
    int pin;
    chain_post_cb cb;
    void *ud;
    struct chain_ref ref;
    unsigned char *plain;
    size_t len;
    unsigned char *buf;
    struct gw_stripe_send ss;
    uv_work_t work;
    enum blk_status bst;
    enum store_status st;
    int pins_waiting, pinned;
    int discarding; /* chain_post_discard: free once the rows are ended */
};

const unsigned char (*chain_post_keys(const struct chain_post *p, int *n))[16]
{
    *n = p->ss.k + p->ss.m;
    return (const unsigned char(*)[16])p->ss.keys;
}

void chain_post_free(struct chain_post *p)
{
    if (p == NULL)
        return;
    gw_stripe_send_release(&p->ss);
    bigbuf_free(p->buf);
    free(p);
}

static void finish(struct chain_post *p, int ok)
{
    p->cb(p->gw, ok, &p->ref, p, p->ud);
}

/* ---- failure: the rows ended as not committed (what landed goes to the delete queue) ---- */

static void unjournal_run(struct store *st, void *arg)
{
    struct chain_post *p = arg;
    for (int i = 0; i < p->ss.k + p->ss.m; i++)
        if (store_inflight_end(st, p->ss.keys[i], 0, now_ms()) != STORE_OK)
            p->st = STORE_IO;
}

static void unjournal_done(void *arg)
{
    struct chain_post *p = arg;
    if (p->st != STORE_OK)
        log_error("%s: cannot queue its shards for deletion (the start-up sweep does)", p->ss.name);
    if (p->discarding)
        chain_post_free(p);
    else
        finish(p, 0);
}

void chain_post_discard(struct chain_post *p)
{
    if (p == NULL)
        return;
    p->discarding = 1;
    gw_store_call(p->gw, unjournal_run, unjournal_done, p);
}

static void fail(struct chain_post *p)
{
    gw_store_call(p->gw, unjournal_run, unjournal_done, p);
}

/* ---- pins ---- */

static void on_pinned(void *ud, const struct tg_result *res)
{
    struct chain_post *p = ud;
    if (res->status == TG_OK)
        p->pinned++;
    else
        log_warn("%s: cannot pin a copy: %s (%s); the bots need the right to pin (edit) messages",
                 p->ss.name, tg_status_name(res->status), res->description);
    if (--p->pins_waiting > 0)
        return;
    if (p->pinned == 0) {
        fail(p);
        return;
    }
    finish(p, 1);
}

static const char *bot_token(struct gw *gw, int64_t bot_id)
{
    for (size_t i = 0; i < gw->n_bots; i++)
        if (gw->bots[i].id == bot_id)
            return gw->bots[i].token;
    return gw->n_bots ? gw->bots[0].token : NULL;
}

static void on_sent(struct gw_stripe_send *ss)
{
    struct chain_post *p = ss->ud;
    struct gw *gw = p->gw;
    if (!gw_stripe_stored(ss) || ss->broken || gw->tg == NULL) {
        log_warn("%s: not posted (%d of %d shards landed)", ss->name, ss->n_posted, ss->k + ss->m);
        fail(p);
        return;
    }
    struct store_block blk;
    gw_stripe_result(ss, &blk, &p->ref.sp);
    if (!p->pin) {
        finish(p, 1);
        return;
    }
    p->pins_waiting = p->ref.sp.n;
    for (int i = 0; i < p->ref.sp.n; i++) {
        const struct store_shard *sh = &p->ref.sp.sh[i];
        tg_pin_message(gw->tg, bot_token(gw, sh->bot_id), sh->chat_id, sh->message_id, on_pinned, p);
    }
}

/* ---- sealing and journaling ---- */

static void seal_work(uv_work_t *w)
{
    struct chain_post *p = w->data;
    struct gw *gw = p->gw;
    size_t sealed = p->len + BLK_OVERHEAD;
    int kid;
    unsigned char nonce[BLK_NONCE_LEN];
    p->buf = bigbuf_new(blk_shard_len(sealed, p->ss.k) * (size_t)(p->ss.k + p->ss.m));
    p->bst = blk_seal(gw->keys, (enum blk_kind)p->ref.kind, p->ref.uuid, p->plain, p->len, p->buf, &kid, nonce);
    if (p->bst == BLK_OK)
        p->bst = gw_stripe_encode(&p->ss, gw->keys, p->ref.uuid, p->buf, sealed);
    secure_zero(p->plain, p->len);
    free(p->plain);
    p->plain = NULL;
    p->ref.sp.sealed_size = (int64_t)sealed;
}

static void journal_run(struct store *st, void *arg)
{
    struct chain_post *p = arg;
    p->st = STORE_OK;
    for (int i = 0; p->st == STORE_OK && i < p->ss.k + p->ss.m; i++)
        p->st = store_inflight_begin(st, p->ss.keys[i], p->ss.name, 0, 0, now_ms());
}

static void journal_done(void *arg)
{
    struct chain_post *p = arg;
    if (p->st != STORE_OK) {
        log_error("%s: cannot journal its shards: %s", p->ss.name, store_status_name(p->st));
        fail(p);
        return;
    }
    p->ss.done = on_sent;
    p->ss.ud = p;
    gw_stripe_send_start(&p->ss);
}

static void after_seal(uv_work_t *w, int status)
{
    struct chain_post *p = w->data;
    if (status != 0 || p->bst != BLK_OK) {
        log_error("%s: cannot seal it: %s", p->ss.name, status != 0 ? "cancelled" : blk_status_name(p->bst));
        finish(p, 0);
        return;
    }
    gw_store_call(p->gw, journal_run, journal_done, p);
}

struct chain_post *chain_post_start(struct gw *gw, int kind, int64_t seq, const unsigned char *chain, int64_t chain_at,
                                    unsigned char *plain, size_t len, int k, int m, int pin, chain_post_cb cb,
                                    void *ud)
{
    struct chain_post *p = xcalloc(1, sizeof(*p));
    p->gw = gw;
    p->pin = pin;
    p->cb = cb;
    p->ud = ud;
    p->plain = plain;
    p->len = len;
    p->ref.seq = seq;
    p->ref.kind = kind;
    p->ref.plain_len = (int64_t)len;
    p->ref.sp.k = k;
    p->ref.sp.m = m;
    if (seq >= 0)
        chain_uuid(chain, seq, p->ref.uuid);
    else if (blk_random(p->ref.uuid, sizeof(p->ref.uuid)) != BLK_OK)
        abort();
    p->ss.gw = gw;
    p->ss.k = k;
    p->ss.m = m;
    p->ss.ec = gw_ec_for(gw, k, m);
    chain_caption(p->ss.name, sizeof(p->ss.name), chain, chain_at, seq);
    p->work.data = p;
    if (p->ss.ec == NULL || gw->keys == NULL || uv_queue_work(gw->loop, &p->work, seal_work, after_seal) != 0) {
        secure_zero(plain, len);
        free(plain);
        p->plain = NULL;
        log_error("%s: cannot start (layout %d+%d, keys %s)", p->ss.name, k, m, gw->keys ? "loaded" : "missing");
        finish(p, 0);
    }
    return p;
}

/* ---- reading ---- */

struct chain_read {
    struct gw *gw;
    struct chain_ref ref;
    chain_read_cb cb;
    void *ud;
    unsigned char *data;
    size_t len, plain_len;
    enum blk_status st;
    char err[400];
    uv_work_t work;
};

static void open_work(uv_work_t *w)
{
    struct chain_read *r = w->data;
    r->st = blk_open(r->gw->keys, (enum blk_kind)r->ref.kind, r->ref.uuid, 0, (size_t)r->ref.plain_len, r->data,
                     r->len, &r->plain_len);
}

static void after_open(uv_work_t *w, int status)
{
    struct chain_read *r = w->data;
    if (status != 0 || r->st != BLK_OK) {
        snprintf(r->err, sizeof(r->err), "does not open: %s", status != 0 ? "cancelled" : blk_status_name(r->st));
        r->cb(r->gw, &r->ref, NULL, 0, r->err, r->ud);
    } else {
        r->cb(r->gw, &r->ref, r->data + BLK_HEADER_LEN, r->plain_len, NULL, r->ud);
    }
    secure_zero(r->data, r->len);
    bigbuf_free(r->data);
    free(r);
}

static void on_read(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct chain_read *r = ud;
    if (res->status != TG_OK || data == NULL || r->gw->keys == NULL) {
        bigbuf_free(data);
        snprintf(r->err, sizeof(r->err), "cannot be read: %s (%s)", tg_status_name(res->status), res->description);
        r->cb(r->gw, &r->ref, NULL, 0, r->err, r->ud);
        free(r);
        return;
    }
    r->data = data;
    r->len = len;
    r->work.data = r;
    if (uv_queue_work(r->gw->loop, &r->work, open_work, after_open) != 0) {
        r->st = BLK_ERR_FORMAT;
        after_open(&r->work, -1);
    }
}

void chain_read_start(struct gw *gw, const struct chain_ref *ref, chain_read_cb cb, void *ud)
{
    struct chain_read *r = xcalloc(1, sizeof(*r));
    struct store_block blk;
    r->gw = gw;
    r->ref = *ref;
    r->cb = cb;
    r->ud = ud;
    memset(&blk, 0, sizeof(blk));
    memcpy(blk.uuid, ref->uuid, sizeof(blk.uuid));
    blk.stored_size = ref->sp.sealed_size;
    blk.plain_size = ref->plain_len;
    gw_block_read_stripe(gw, &blk, &ref->sp, on_read, r);
}

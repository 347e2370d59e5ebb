/* rebuild.c — posting a block's shards again from its sealed document: read, verify, encode, journal, post.
 *
 * DESIGN
 * The one path by which shards of a block that is already in the index
 * reach Telegram: repair.c posts the shards a stripe lacks, upgrade.c a
 * whole stripe for a block stored as one document. Stages, each started
 * by the end of the one before:
 *   read     the sealed document, from any K good shards or the one
 *            document (gw_block_read_start), its size checked against the
 *            index;
 *   encode   on libuv's pool: with verify, the document authenticated whole
 *            first (gw_block_open on a copy: it opens in place), then padded,
 *            parity computed and every shard sealed with a fresh identity
 *            (gw_stripe_encode);
 *   journal  on the store thread, a row per wanted shard under its identity,
 *            before anything is posted (a crash then leaves rows the
 *            start-up sweep and the stray probe settle);
 *   post     the wanted shards, each into a chat that holds no shard of the
 *            stripe (stripe_send.c), through the scheduler.
 * What landed is the caller's to record: it owns the transaction that
 * makes the index name the new shards, which ends their journal rows.
 *
 * Threads: the loop; the verification and the encoding on the pool, over
 * buffers only the rebuild holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/shard.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

static void finish(struct gw_rebuild *rb, enum gw_rebuild_end end)
{
    rb->end = rb->stopping ? GW_REBUILD_STOPPED : end;
    rb->done(rb); /* may free rb */
}

/* ---- post --------------------------------------------------------------------- */

static void on_sent(struct gw_stripe_send *ss)
{
    finish(ss->ud, GW_REBUILD_SENT);
}

/* ---- journal ------------------------------------------------------------------ */

static void journal_run(struct store *st, void *arg)
{
    struct gw_rebuild *rb = arg;
    int64_t now = now_ms();
    int i;
    rb->sst = STORE_OK;
    for (i = 0; i < rb->n_want && rb->sst == STORE_OK; i++)
        rb->sst = store_inflight_begin(st, rb->ss.keys[rb->want[i]], rb->journal, 0, 0, now);
    if (rb->sst == STORE_OK)
        return;
    /* Nothing is posted: the rows written end at once. */
    for (int j = 0; j + 1 < i; j++)
        if (store_inflight_end(st, rb->ss.keys[rb->want[j]], 0, now) != STORE_OK)
            break; /* left to the start-up sweep */
}

static void journal_done(void *arg)
{
    struct gw_rebuild *rb = arg;
    if (rb->stopping) {
        rb->journaled = rb->sst == STORE_OK;
        finish(rb, GW_REBUILD_STOPPED);
        return;
    }
    if (rb->sst != STORE_OK) {
        snprintf(rb->why, sizeof(rb->why), "cannot journal its shards: %s", store_status_name(rb->sst));
        finish(rb, GW_REBUILD_FAILED);
        return;
    }
    rb->journaled = 1;
    rb->ss.done = on_sent;
    rb->ss.ud = rb;
    gw_stripe_send_start(&rb->ss);
}

/* ---- verify and encode -------------------------------------------------------- */

static void encode_work(uv_work_t *w)
{
    struct gw_rebuild *rb = w->data;
    const struct blk_keyring *keys = rb->ss.gw->keys;
    if (rb->doc != NULL) {
        size_t off, plain_len;
        rb->st = gw_block_open(keys, &rb->blk, rb->doc, rb->sealed_len, &off, &plain_len);
        secure_zero(rb->doc, rb->sealed_len); /* opened in place: plaintext now */
        rb->bad = rb->st != BLK_OK;
        if (rb->bad)
            return;
    }
    rb->st = gw_stripe_encode(&rb->ss, keys, rb->blk.uuid, rb->buf, rb->sealed_len);
}

static void after_encode(uv_work_t *w, int status)
{
    struct gw_rebuild *rb = w->data;
    bigbuf_free(rb->doc);
    rb->doc = NULL;
    if (rb->stopping) {
        finish(rb, GW_REBUILD_STOPPED);
    } else if (status != 0 || rb->bad || rb->st != BLK_OK) {
        snprintf(rb->why, sizeof(rb->why), "%s: %s", rb->bad ? "failed verification" : "cannot encode its stripe",
                 status != 0 ? "cancelled" : blk_status_name(rb->st));
        finish(rb, rb->bad && status == 0 ? GW_REBUILD_BAD : GW_REBUILD_FAILED);
    } else {
        gw_store_call(rb->ss.gw, journal_run, journal_done, rb);
    }
}

/* ---- read --------------------------------------------------------------------- */

static void on_read(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct gw_rebuild *rb = ud;
    rb->read = NULL;
    if (rb->stopping || res->status != TG_OK || data == NULL || (int64_t)len != rb->blk.stored_size) {
        if (res->status != TG_OK || data == NULL)
            snprintf(rb->why, sizeof(rb->why), "%s (%s)", tg_status_name(res->status), res->description);
        else
            snprintf(rb->why, sizeof(rb->why), "%zu bytes read, the index says %lld", len,
                     (long long)rb->blk.stored_size);
        bigbuf_free(data);
        finish(rb, GW_REBUILD_UNREAD);
        return;
    }
    /* The bodies of the whole stripe need room beyond the document. */
    rb->sealed_len = len;
    rb->buf = bigbuf_new(blk_shard_len(len, rb->ss.k) * (size_t)(rb->ss.k + rb->ss.m));
    memcpy(rb->buf, data, len);
    if (rb->verify)
        rb->doc = data;
    else
        bigbuf_free(data);
    rb->work.data = rb;
    if (uv_queue_work(rb->ss.gw->loop, &rb->work, encode_work, after_encode) != 0) {
        snprintf(rb->why, sizeof(rb->why), "cannot queue its encoding");
        finish(rb, GW_REBUILD_FAILED);
    }
}

void gw_rebuild_start(struct gw_rebuild *rb)
{
    for (int i = 0; i < STORE_MAX_SHARDS; i++)
        rb->ss.skip[i] = 1;
    for (int i = 0; i < rb->n_want; i++)
        rb->ss.skip[rb->want[i]] = 0;
    rb->read = gw_block_read_start(rb->ss.gw, &rb->blk, on_read, rb);
}

void gw_rebuild_stop(struct gw_rebuild *rb)
{
    rb->stopping = 1;
    gw_stripe_send_abandon(&rb->ss);
    if (rb->read != NULL) { /* its callback will not come */
        gw_block_read_cancel(rb->read);
        rb->read = NULL;
        finish(rb, GW_REBUILD_STOPPED);
    }
}

void gw_rebuild_release(struct gw_rebuild *rb)
{
    gw_stripe_send_release(&rb->ss);
    bigbuf_free(rb->buf);
    rb->buf = NULL;
    bigbuf_free(rb->doc);
    rb->doc = NULL;
}

enum store_status gw_rebuild_drop_rows(struct store *st, const struct gw_rebuild *rb, const unsigned char *kept,
                                       int64_t now_ms)
{
    enum store_status ret = STORE_OK;
    for (int i = 0; rb->journaled && i < rb->n_want; i++) {
        int idx = rb->want[i];
        if ((kept == NULL || !kept[idx]) && store_inflight_end(st, rb->ss.keys[idx], 0, now_ms) != STORE_OK)
            ret = STORE_IO;
    }
    return ret;
}

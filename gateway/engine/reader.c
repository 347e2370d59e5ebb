/* reader.c — reading a block through whichever bot can: file_ids belong to the bot that got them.
 *
 * A block's file_id is valid for its uploader only (reference/botapi.md §8).
 * When the uploader is no longer configured, or its file_id is refused
 * ("invalid file_id", "wrong file identifier"), another configured bot reads
 * the block: first with a file_id recorded for it earlier (block_files), else
 * it re-derives one the way the Bot API allows: forwardMessage of the block's
 * message into the same chat, the forwarded copy's document carries a file_id
 * for the forwarding bot. The copy is queued for deletion on the durable GC
 * queue, the file_id recorded with store_block_set_file, and the bytes fetched.
 *
 * DESIGN
 *   Stages: UPLOADER (the block's own file_id) → RECORDED (block_files) →
 *   FORWARDED. Each stage runs at most once per read; a refusal moves to the
 *   next stage, any other failure ends the read.
 *   Store lookups and updates run on the store thread; a read cancelled while
 *   one runs is freed when it returns (gw_read_cancel never waits).
 *   A forward is a post: it spends a token of the reading bot's pair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

enum stage { ST_UPLOADER, ST_RECORDED, ST_FORWARDED };

struct gw_read {
    struct gw *gw;
    struct store_block blk;
    tg_fetch_cb cb;
    void *ud;
    enum stage stage;
    size_t reader;          /* index into gw->bots of the bot reading now */
    struct tg_call *call;
    int store_busy;         /* a store job holds r */
    int cancelled;          /* gw_read_cancel ran while store_busy */
    char file_id[256];
    int64_t copy_id;        /* message id of the forwarded copy */
    enum store_status st;
};

static void next_stage(struct gw_read *r, const char *why);

static int refused_file_id(const struct tg_result *res)
{
    if (res->status == TG_OK || res->http_status != 400)
        return 0;
    return strstr(res->description, "file_id") != NULL || strstr(res->description, "file identifier") != NULL;
}

static void deliver(struct gw_read *r, const struct tg_result *res, unsigned char *data, size_t len)
{
    tg_fetch_cb cb = r->cb;
    void *ud = r->ud;
    free(r);
    cb(ud, res, data, len);
}

static void on_fetched(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct gw_read *r = ud;
    r->call = NULL;
    if (res->status != TG_OK && refused_file_id(res) && r->stage != ST_FORWARDED) {
        bigbuf_free(data);
        next_stage(r, res->description);
        return;
    }
    deliver(r, res, data, len);
}

static void fetch(struct gw_read *r, const char *file_id)
{
    struct gw *gw = r->gw;
    r->call = tg_fetch_file(gw->tg, gw->bots[r->reader].token, file_id, r->blk.stored_size,
                            (size_t)r->blk.stored_size, on_fetched, r);
}

/* ---- store jobs ------------------------------------------------------------- */

static void lookup_run(struct store *st, void *arg)
{
    struct gw_read *r = arg;
    r->st = store_block_file_for(st, r->blk.id, r->gw->bots[r->reader].id, r->file_id);
}

static void on_forwarded(void *ud, const struct tg_result *res, const struct tg_document *doc);

static void forward(struct gw_read *r)
{
    struct gw *gw = r->gw;
    int ci = gw_chat_index(gw, r->blk.chat_id);
    r->stage = ST_FORWARDED;
    if (ci >= 0 && gw->pool != NULL)
        tg_pool_take(gw->pool, r->reader, (size_t)ci, mono_ms());
    r->call = tg_forward_message(gw->tg, gw->bots[r->reader].token, r->blk.chat_id, r->blk.chat_id,
                                 r->blk.message_id, on_forwarded, r);
}

static void lookup_done(void *arg)
{
    struct gw_read *r = arg;
    r->store_busy = 0;
    if (r->cancelled) {
        free(r);
        return;
    }
    if (r->st == STORE_OK) {
        fetch(r, r->file_id);
        return;
    }
    if (r->st != STORE_NOT_FOUND)
        log_warn("block %lld/%lld: cannot look up a file_id for bot %lld: %s; re-deriving one",
                 (long long)r->blk.chat_id, (long long)r->blk.message_id, (long long)r->gw->bots[r->reader].id,
                 store_status_name(r->st));
    forward(r);
}

static void record_run(struct store *st, void *arg)
{
    struct gw_read *r = arg;
    int64_t bot_id = r->gw->bots[r->reader].id;
    r->st = store_block_set_file(st, r->blk.id, bot_id, r->file_id);
    enum store_status s = store_gc_enqueue(st, r->blk.chat_id, r->copy_id, bot_id, now_ms());
    if (s != STORE_OK)
        log_error("block %lld/%lld: cannot queue the forwarded copy %lld for deletion: %s", (long long)r->blk.chat_id,
                  (long long)r->blk.message_id, (long long)r->copy_id, store_status_name(s));
}

static void record_done(void *arg)
{
    struct gw_read *r = arg;
    r->store_busy = 0;
    if (r->cancelled) {
        free(r);
        return;
    }
    if (r->st != STORE_OK && r->st != STORE_NOT_FOUND)
        log_warn("block %lld/%lld: cannot record the file_id of bot %lld: %s", (long long)r->blk.chat_id,
                 (long long)r->blk.message_id, (long long)r->gw->bots[r->reader].id, store_status_name(r->st));
    fetch(r, r->file_id);
}

static void on_forwarded(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct gw_read *r = ud;
    r->call = NULL;
    if (res->status != TG_OK || doc == NULL) {
        log_warn("block %lld/%lld: bot %lld cannot forward it to read it: %s (%s)", (long long)r->blk.chat_id,
                 (long long)r->blk.message_id, (long long)r->gw->bots[r->reader].id, tg_status_name(res->status),
                 res->description);
        deliver(r, res, NULL, 0);
        return;
    }
    snprintf(r->file_id, sizeof(r->file_id), "%s", doc->file_id);
    r->copy_id = doc->message_id;
    log_info("block %lld/%lld: bot %lld re-derived a file_id (copy %lld queued for deletion)",
             (long long)r->blk.chat_id, (long long)r->blk.message_id, (long long)r->gw->bots[r->reader].id,
             (long long)r->copy_id);
    r->store_busy = 1;
    gw_store_call(r->gw, record_run, record_done, r);
}

/* Moves to the next way of reading the block; why says what failed. */
static void next_stage(struct gw_read *r, const char *why)
{
    struct gw *gw = r->gw;
    if (r->stage == ST_UPLOADER) {
        /* Another bot than the uploader when there is one, taking turns. */
        size_t pick = gw->rr_next++ % gw->n_bots;
        for (size_t k = 0; k < gw->n_bots; k++) {
            size_t i = (pick + k) % gw->n_bots;
            if (gw->bots[i].id != r->blk.bot_id || gw->n_bots == 1) {
                pick = i;
                break;
            }
        }
        r->reader = pick;
        r->stage = ST_RECORDED;
        log_info("block %lld/%lld: uploader bot %lld: %s; reading through bot %lld", (long long)r->blk.chat_id,
                 (long long)r->blk.message_id, (long long)r->blk.bot_id, why, (long long)gw->bots[pick].id);
        r->store_busy = 1;
        gw_store_call(gw, lookup_run, lookup_done, r);
        return;
    }
    log_info("block %lld/%lld: bot %lld's recorded file_id refused (%s); re-deriving it", (long long)r->blk.chat_id,
             (long long)r->blk.message_id, (long long)gw->bots[r->reader].id, why);
    forward(r);
}

struct gw_read *gw_read_start(struct gw *gw, const struct store_block *blk, tg_fetch_cb cb, void *ud)
{
    struct gw_read *r = xcalloc(1, sizeof(*r));
    r->gw = gw;
    r->blk = *blk;
    r->cb = cb;
    r->ud = ud;
    r->stage = ST_UPLOADER;
    struct gw_bot *bot = gw_bot_by_id(gw, blk->bot_id);
    if (bot != NULL) {
        r->reader = (size_t)(bot - gw->bots);
        fetch(r, blk->file_id);
        return r;
    }
    next_stage(r, "not configured");
    return r;
}

void gw_read_cancel(struct gw_read *r)
{
    if (r == NULL)
        return;
    if (r->call) {
        tg_call_cancel(r->call);
        r->call = NULL;
    }
    if (r->store_busy) {
        r->cancelled = 1; /* the store job's completion frees it */
        return;
    }
    free(r);
}

struct gw_bot *gw_bot_by_id(struct gw *gw, int64_t bot_id)
{
    for (size_t i = 0; i < gw->n_bots; i++)
        if (gw->bots[i].id == bot_id)
            return &gw->bots[i];
    return NULL;
}

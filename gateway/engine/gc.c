/* gc.c — the delete queue runner: unreferenced blocks leave Telegram in deleteMessages batches.
 *
 * Every --gc-interval the loop asks the store thread for due queue items (at
 * most GC_BATCH) and expired multipart uploads (aborted there, which queues
 * their blocks). Items are grouped by (bot, chat) and deleted with one
 * deleteMessages call per group of up to 100; done items leave the queue,
 * failures are retried later with backoff. Items whose message was posted
 * more than GC_DEADLINE_MS ago (Telegram lets bots delete channel posts for
 * 48 hours only), and messages Telegram refuses to delete, move to the
 * unreclaimable table (logged, counted) instead of being retried forever.
 * One run at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define GC_BATCH 100 /* items per run: deleteMessages takes at most 100 ids */
#define GC_RETRY_MS 60000
#define GC_DEADLINE_MS (47LL * 3600 * 1000) /* a margin inside Telegram's 48-hour delete window */

struct gc_run {
    struct gw *gw;
    struct store_gc_item items[GC_BATCH];
    size_t n;
    size_t group; /* items in the group being deleted (a prefix of items[]) */
    int64_t ids[GC_BATCH];
    int ok, unreclaimable;
    size_t aged; /* items recorded unreclaimable before any attempt (too old) */
    enum store_status st;
};

static void gc_tick(uv_timer_t *t);

static void finish_run(struct gc_run *run, int more)
{
    struct gw *gw = run->gw;
    gw->gc_last_due = run->n;
    free(run);
    gw->gc_busy = 0;
    if (more && !gw->stopping && !gw->gc_once)
        uv_timer_start(&gw->gc_timer, gc_tick, 10, (uint64_t)gw->cfg.gc_interval_ms);
}

static void mark_run(struct store *st, void *arg)
{
    struct gc_run *run = arg;
    int64_t qids[GC_BATCH];
    for (size_t i = 0; i < run->group; i++)
        qids[i] = run->items[i].id;
    if (run->unreclaimable) {
        run->st = store_gc_unreclaimable(st, run->items, run->group, now_ms(), "Telegram refused to delete it");
    } else if (run->ok) {
        run->st = store_gc_done(st, qids, run->group);
    } else {
        run->st = STORE_OK;
        for (size_t i = 0; i < run->group && run->st == STORE_OK; i++)
            run->st = store_gc_retry(st, qids[i], now_ms() + GC_RETRY_MS * (1 + run->items[i].attempts));
    }
}

static void mark_done(void *arg)
{
    struct gc_run *run = arg;
    if (run->st != STORE_OK)
        log_error("gc: cannot update the delete queue: %s", store_status_name(run->st));
    else if (run->ok)
        run->gw->gc_deleted += run->group;
    else if (run->unreclaimable)
        run->gw->gc_unreclaimable += run->group;
    else
        run->gw->gc_failed += run->group;
    finish_run(run, run->ok && run->n == GC_BATCH);
}

static void on_deleted(void *ud, const struct tg_result *res)
{
    struct gc_run *run = ud;
    run->ok = res->status == TG_OK;
    if (!run->ok && strstr(res->description, "can't be deleted") != NULL) {
        run->unreclaimable = 1;
        log_warn("gc: %zu messages in chat %lld can no longer be deleted (past Telegram's 48 h window); "
                 "recorded as unreclaimable",
                 run->group, (long long)run->items[0].chat_id);
    } else if (!run->ok && strstr(res->description, "chat not found") != NULL) {
        /* The channel is gone (deleted or banned): so are its messages, and nothing can delete them. */
        run->unreclaimable = 1;
        log_warn("gc: %zu messages in chat %lld cannot be deleted: the chat is gone (%s); recorded as unreclaimable",
                 run->group, (long long)run->items[0].chat_id, res->description);
    } else if (!run->ok) {
        log_warn("gc: deleteMessages in chat %lld failed: %s (%s); will retry", (long long)run->items[0].chat_id,
                 tg_status_name(res->status), res->description);
    } else {
        log_debug("gc: deleted %zu messages in chat %lld", run->group, (long long)run->items[0].chat_id);
    }
    gw_store_call(run->gw, mark_run, mark_done, run);
}

static void due_run(struct store *st, void *arg)
{
    struct gc_run *run = arg;
    struct gw *gw = run->gw;
    if (gw->cfg.upload_expiry_ms > 0) {
        char(*ids)[64] = NULL;
        size_t n = 0;
        if (store_upload_expired(st, now_ms() - gw->cfg.upload_expiry_ms, 100, &ids, &n) == STORE_OK) {
            for (size_t i = 0; i < n; i++)
                if (store_upload_abort(st, ids[i]) == STORE_OK)
                    log_info("gc: multipart upload %s expired and was aborted", ids[i]);
        }
        free(ids);
    }
    run->st = store_gc_due(st, now_ms() + gw->gc_horizon_ms, GC_BATCH, run->items, &run->n);
    if (run->st != STORE_OK)
        return;
    /* Messages past the window are recorded, not attempted. */
    struct store_gc_item old[GC_BATCH];
    size_t n_old = 0, keep = 0;
    int64_t now = now_ms();
    for (size_t i = 0; i < run->n; i++) {
        if (run->items[i].posted_ms > 0 && now - run->items[i].posted_ms > GC_DEADLINE_MS)
            old[n_old++] = run->items[i];
        else
            run->items[keep++] = run->items[i];
    }
    if (n_old > 0) {
        run->st = store_gc_unreclaimable(st, old, n_old, now, "posted more than 47 h ago");
        if (run->st == STORE_OK) {
            run->aged = n_old;
            run->n = keep;
            log_warn("gc: %zu messages were posted more than 47 h ago and can no longer be deleted by a bot; "
                     "recorded as unreclaimable (first: %lld/%lld)",
                     n_old, (long long)old[0].chat_id, (long long)old[0].message_id);
        }
    }
}

static void due_done(void *arg)
{
    struct gc_run *run = arg;
    struct gw *gw = run->gw;
    gw->gc_unreclaimable += run->aged;
    if (run->st != STORE_OK || run->n == 0 || (gw->stopping && !gw->gc_once)) {
        if (run->st != STORE_OK)
            run->n = 0;
        finish_run(run, 0);
        return;
    }
    /* The first (bot, chat) group; the queue is ordered by bot, chat, message. */
    size_t g = 0;
    while (g < run->n && run->items[g].bot_id == run->items[0].bot_id &&
           run->items[g].chat_id == run->items[0].chat_id) {
        run->ids[g] = run->items[g].message_id;
        g++;
    }
    run->group = g;
    struct gw_bot *bot = gw_bot_by_id(gw, run->items[0].bot_id);
    /* The poster is no longer configured: another bot deletes its posts, as an
     * administrator of the channel with can_delete_messages (start-up checks). */
    if (bot == NULL)
        bot = &gw->bots[0];
    tg_delete_messages(gw->tg, bot->token, run->items[0].chat_id, run->ids, g, on_deleted, run);
}

static void gc_tick(uv_timer_t *t)
{
    struct gw *gw = t->data;
    if (gw->gc_busy || gw->stopping)
        return;
    gw->gc_busy = 1;
    struct gc_run *run = xcalloc(1, sizeof(*run));
    run->gw = gw;
    gw_store_call(gw, due_run, due_done, run);
}

void gw_gc_start(struct gw *gw)
{
    uv_timer_init(gw->loop, &gw->gc_timer);
    gw->gc_timer.data = gw;
    uv_timer_start(&gw->gc_timer, gc_tick, (uint64_t)gw->cfg.gc_interval_ms, (uint64_t)gw->cfg.gc_interval_ms);
}

int gw_gc_run_now(struct gw *gw)
{
    gw->gc_once = 1;
    for (;;) {
        uint64_t before = gw->gc_deleted + gw->gc_unreclaimable + gw->gc_failed;
        gw->gc_busy = 1;
        struct gc_run *run = xcalloc(1, sizeof(*run));
        run->gw = gw;
        gw_store_call(gw, due_run, due_done, run);
        while (gw->gc_busy)
            uv_run(gw->loop, UV_RUN_ONCE);
        /* Failed groups are rescheduled later, so each run settles different items. */
        if (gw->gc_last_due == 0 || gw->gc_deleted + gw->gc_unreclaimable + gw->gc_failed == before)
            break;
    }
    return gw->gc_failed > 0 ? -1 : 0;
}

void gw_gc_stop(struct gw *gw)
{
    uv_timer_stop(&gw->gc_timer);
    uv_close((uv_handle_t *)&gw->gc_timer, NULL);
}

void gw_gc_counters(const struct gw *gw, struct gw_gc_counters *out)
{
    out->deleted = gw->gc_deleted;
    out->failed = gw->gc_failed;
    out->unreclaimable = gw->gc_unreclaimable;
}

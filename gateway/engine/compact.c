/* compact.c — pack compaction: the live objects of a mostly dead pack move to a new pack.
 *
 * Deleting a packed object only lowers its pack's reference count, so a pack
 * whose objects are mostly gone keeps a whole document in Telegram for a few
 * live bytes. Every --gc-interval one run:
 *   1. store thread: the posted pack with the largest dead share, at least
 *      --pack-compact % (store_pack_candidate), and its live extents;
 *   2. the pack is fetched and authenticated like any GET block, but only
 *      when a read slot is free (never at a reader's expense);
 *   3. each live object's bytes are appended to the open pack (pack.c:
 *      written and fsync'd in the spool before the callback);
 *   4. store thread, one transaction: each copy is recorded (a pack_moves
 *      row holding a reference on the new pack);
 *   5. once the new pack is posted, the next run first repoints, in one
 *      transaction, every object that still is where it was copied from;
 *      the old pack loses those references and, at zero, is queued for
 *      deletion like any block.
 * Until step 5 the index names only the old pack, which Telegram holds: a
 * journal document taken meanwhile (safety/journal.c) never points an old
 * object at a pack that may not reach Telegram. An object deleted or
 * overwritten meanwhile is left alone (its copy is dead bytes in the new
 * pack). A crash before step 4 leaves the copies dead; after it, the new
 * pack is in the spool, posted by the resume of pack.c, and step 5 follows.
 * One run at a time; at most COMPACT_MAX_OBJECTS
 * objects per run (the rest go in a later run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define COMPACT_MAX_OBJECTS 8192

struct gw_compact {
    struct gw *gw;
    uv_timer_t timer;
    int busy;         /* a run is under way */
    int stopped;      /* gw_compact_stop was called */
    int timer_closed; /* its close callback ran: the last of run and timer frees c */
    struct compact_run *run; /* the run under way, or NULL */
    uint64_t moved;
};

struct compact_item {
    struct compact_run *run;
    size_t i;
    int ok;
};

struct compact_run {
    struct gw_compact *c;
    struct store_block blk;
    struct store_pack_live *live;
    size_t n;
    struct compact_item *items;
    struct store_pack_move *moves;
    size_t n_moves;
    size_t pending; /* appends outstanding */
    struct gw_fetch *fetch;
    int fetched; /* the block is here (or failed): no fetch callback pending */
    enum store_status st;
    int64_t moved_bytes;
    size_t applied, stale; /* step 5 of earlier runs, done by this one */
};

static void run_end(struct compact_run *run)
{
    struct gw_compact *c = run->c;
    gw_fetch_free(run->fetch);
    free(run->live);
    free(run->items);
    free(run->moves);
    free(run);
    c->run = NULL;
    c->busy = 0;
    if (c->stopped && c->timer_closed)
        free(c);
}

static void hold_run(struct store *st, void *arg)
{
    struct compact_run *run = arg;
    run->st = store_pack_move_hold(st, run->blk.id, run->moves, run->n_moves);
}

static void hold_done(void *arg)
{
    struct compact_run *run = arg;
    if (run->st != STORE_OK)
        log_error("compact: cannot record the copies of pack %lld/%lld: %s (they stay dead)",
                  (long long)run->blk.chat_id, (long long)run->blk.message_id, store_status_name(run->st));
    else
        log_info("compact: pack %lld/%lld (%lld bytes): %zu of %zu live objects (%lld bytes) copied to a new pack,"
                 " repointed once it is posted",
                 (long long)run->blk.chat_id, (long long)run->blk.message_id, (long long)run->blk.plain_size,
                 run->n_moves, run->n, (long long)run->moved_bytes);
    run_end(run);
}

/* Every append has called back: repoint what was copied. */
static void appended_all(struct compact_run *run)
{
    /* Every copy is on disk: the old pack's bytes are no longer needed here. */
    gw_fetch_free(run->fetch);
    run->fetch = NULL;
    if (run->c->stopped) { /* the index is closing: the copies stay dead bytes */
        run_end(run);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < run->n; i++)
        if (run->items[i].ok)
            run->moves[k++] = run->moves[i];
    run->n_moves = k;
    if (k == 0) {
        log_warn("compact: pack %lld/%lld: no object could be copied", (long long)run->blk.chat_id,
                 (long long)run->blk.message_id);
        run_end(run);
        return;
    }
    gw_store_call(run->c->gw, hold_run, hold_done, run);
}

static void on_appended(void *ud, int ok, int64_t block_id, int64_t offset)
{
    struct compact_item *it = ud;
    struct compact_run *run = it->run;
    if (ok) {
        struct store_pack_move *m = &run->moves[it->i];
        m->new_block = block_id;
        m->new_offset = offset;
        it->ok = 1;
    }
    if (--run->pending == 0)
        appended_all(run);
}

static void on_block(struct gw_fetch *f, enum s3_err err, void *ud)
{
    struct compact_run *run = ud;
    struct gw *gw = run->c->gw;
    (void)f;
    run->fetched = 1;
    if (err != S3E_OK) {
        log_warn("compact: cannot read pack %lld/%lld: %s; tried again later", (long long)run->blk.chat_id,
                 (long long)run->blk.message_id, s3_err_code(err));
        run_end(run);
        return;
    }
    size_t len = 0;
    const unsigned char *data = gw_fetch_data(run->fetch, &len);
    if (data == NULL || run->c->stopped || !gw_pack_wants(gw, 1)) {
        run_end(run);
        return;
    }
    run->items = xcalloc(run->n, sizeof(*run->items));
    run->moves = xcalloc(run->n, sizeof(*run->moves));
    run->pending = 1; /* held until every append is started: one can call back at once */
    for (size_t i = 0; i < run->n; i++) {
        const struct store_pack_live *l = &run->live[i];
        if (l->offset < 0 || l->length <= 0 || (uint64_t)(l->offset + l->length) > len) {
            log_error("compact: pack %lld/%lld: extent %lld+%lld lies outside its %zu bytes; left alone",
                      (long long)run->blk.chat_id, (long long)run->blk.message_id, (long long)l->offset,
                      (long long)l->length, len);
            continue;
        }
        run->items[i].run = run;
        run->items[i].i = i;
        run->moves[i].object_id = l->object_id;
        run->moves[i].old_offset = l->offset;
        run->moves[i].length = l->length;
        run->moved_bytes += l->length;
        run->pending++;
        gw_pack_append(gw, data + l->offset, (size_t)l->length, on_appended, &run->items[i]);
    }
    if (--run->pending == 0)
        appended_all(run);
}

static void find_run(struct store *st, void *arg)
{
    struct compact_run *run = arg;
    struct gw *gw = run->c->gw;
    run->st = store_pack_moves_apply(st, now_ms(), &run->applied, &run->stale);
    if (run->st == STORE_OK)
        run->st = store_pack_candidate(st, gw->cfg.pack_compact_pct, gw->cfg.pack_threshold, COMPACT_MAX_OBJECTS,
                                   &run->blk, &run->live, &run->n);
}

static void find_done(void *arg)
{
    struct compact_run *run = arg;
    struct gw_compact *c = run->c;
    c->moved += run->applied;
    if (run->applied + run->stale > 0)
        log_info("compact: %zu objects repointed to their copies in posted packs (%zu changed meanwhile)",
                 run->applied, run->stale);
    if (run->st != STORE_OK || run->n == 0 || c->stopped) {
        if (run->st != STORE_OK && run->st != STORE_NOT_FOUND)
            log_error("compact: cannot look for packs to compact: %s", store_status_name(run->st));
        run_end(run);
        return;
    }
    run->fetch = gw_fetch_start(c->gw, &run->blk, GW_FETCH_AHEAD, on_block, run);
    if (run->fetch == NULL) { /* every read slot is busy: readers first */
        run_end(run);
        return;
    }
    size_t len;
    if (gw_fetch_data(run->fetch, &len) != NULL) /* verified and in memory already: no callback comes */
        on_block(run->fetch, S3E_OK, run);
}

static void tick(uv_timer_t *t)
{
    struct gw_compact *c = t->data;
    struct gw *gw = c->gw;
    if (c->busy || gw->stopping || !gw_pack_wants(gw, 1))
        return;
    c->busy = 1;
    struct compact_run *run = xcalloc(1, sizeof(*run));
    run->c = c;
    c->run = run;
    gw_store_call(gw, find_run, find_done, run);
}

void gw_compact_start(struct gw *gw)
{
    if (gw->cfg.pack_compact_pct <= 0 || gw->packer == NULL)
        return;
    struct gw_compact *c = xcalloc(1, sizeof(*c));
    c->gw = gw;
    uv_timer_init(gw->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, tick, (uint64_t)gw->cfg.gc_interval_ms, (uint64_t)gw->cfg.gc_interval_ms);
    gw->compact = c;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct gw_compact *c = h->data;
    c->timer_closed = 1;
    if (!c->busy)
        free(c); /* else the run's end frees it */
}

void gw_compact_stop(struct gw *gw)
{
    struct gw_compact *c = gw->compact;
    if (c == NULL)
        return;
    gw->compact = NULL;
    c->stopped = 1;
    /* A fetch still under way is cancelled: Telegram calls stop at shutdown
     * and would never call back. Store jobs and appends do complete. */
    if (c->run != NULL && c->run->fetch != NULL && !c->run->fetched)
        run_end(c->run);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

uint64_t gw_compact_moved(const struct gw *gw)
{
    return gw->compact ? gw->compact->moved : 0;
}

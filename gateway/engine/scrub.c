/* scrub.c — reading every shard back through the Bot API, verifying it, queueing the bad ones for repair, and
 * upgrading blocks stored as one document to stripes.
 *
 * DESIGN
 * A pass walks the blocks in id order from a cursor kept in the index (so
 * a restart goes on where it stopped). Every shard of a stripe is fetched
 * (through its uploader's file_id, else another bot: reader.c) and
 * authenticated on libuv's pool (blk_shard_open); a shard that is missing,
 * refused or fails verification is queued for repair (repair.c). A block
 * stored as one document is fetched and authenticated whole; a bad one can
 * only be reported. When new blocks are stripes and this process posts
 * (gw_upgrade_wanted), such a block is upgraded instead (upgrade.c: read,
 * verified, posted as a stripe, swapped in), at the repair's priority: while
 * client uploads wait for a pair or a repair runs, the pass waits
 * UPGRADE_WAIT_MS at a time. In the background (--scrub-interval; 0 = off)
 * blocks follow each other at the pace that spreads one pass over the
 * interval, the first one IDLE_MS after start-up (or one interval, when
 * shorter), from the place the last run reached; `tgs3 scrub` runs one whole
 * pass at once.
 *
 * Threads: the loop; verification on the pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/shard.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

#define MIN_GAP_MS 50  /* between two blocks of a background pass, at least */
#define IDLE_MS 60000  /* the first block of a background pass is checked this long after start-up, at most */
#define UPGRADE_WAIT_MS 1000 /* an upgrade waiting for client uploads or a repair looks again this often */

struct doc_check {
    struct gw_scrub *s;
    int pos;           /* shard position in sp.sh, or -1: the block's one document */
    struct gw_read *call;
    unsigned char *data;
    size_t len;
    enum blk_status st;
    uv_work_t work;
};

struct gw_scrub {
    struct gw *gw;
    int foreground;
    int stopping, closed;
    uv_timer_t timer;
    int store_busy;    /* a store job holds s */
    int64_t cursor;    /* last block id checked */
    int64_t total;     /* blocks in the index */
    struct store_block blk;
    struct store_stripe sp;
    int is_stripe;
    struct doc_check docs[STORE_MAX_SHARDS];
    struct gw_upgrade *up; /* the block being upgraded */
    int running;       /* documents being fetched or verified, or upgraded */
    enum store_status st;
    struct gw_scrub_counters c;
    void (*pass_done)(struct gw *gw);
};

static void scrub_next(struct gw_scrub *s);

static void free_if_done(struct gw_scrub *s)
{
    if (!s->stopping || !s->closed || s->store_busy || s->running > 0)
        return;
    for (int i = 0; i < STORE_MAX_SHARDS; i++)
        bigbuf_free(s->docs[i].data);
    free(s);
}

static void on_timer(uv_timer_t *t)
{
    scrub_next(t->data);
}

/* ---- one block ---------------------------------------------------------------------- */

static void cursor_run(struct store *st, void *arg)
{
    struct gw_scrub *s = arg;
    s->st = store_scrub_cursor_set(st, s->cursor);
}

static void cursor_done(void *arg)
{
    struct gw_scrub *s = arg;
    s->store_busy = 0;
    if (s->st != STORE_OK)
        log_warn("scrub: cannot record its place (block %lld): %s", (long long)s->cursor, store_status_name(s->st));
    if (s->stopping) {
        free_if_done(s);
        return;
    }
    if (s->foreground) {
        scrub_next(s);
        return;
    }
    int64_t gap = s->gw->cfg.scrub_interval_ms / (s->total > 0 ? s->total : 1);
    uv_timer_start(&s->timer, on_timer, (uint64_t)(gap < MIN_GAP_MS ? MIN_GAP_MS : gap), 0);
}

static void block_checked(struct gw_scrub *s)
{
    s->c.blocks_checked++;
    for (int i = 0; i < STORE_MAX_SHARDS; i++) {
        bigbuf_free(s->docs[i].data);
        s->docs[i].data = NULL;
    }
    if (s->foreground && s->c.blocks_checked % 16 == 0)
        fprintf(stderr,
                "\rscrub: %llu of %lld blocks checked, %llu upgraded, %llu bad shard(s) queued for repair, %llu bad "
                "block(s)",
                (unsigned long long)s->c.blocks_checked, (long long)s->total, (unsigned long long)s->c.blocks_upgraded,
                (unsigned long long)s->c.shards_bad, (unsigned long long)s->c.blocks_bad);
    if (s->stopping) {
        free_if_done(s);
        return;
    }
    s->store_busy = 1;
    gw_store_call(s->gw, cursor_run, cursor_done, s); /* the place, then the next block */
}

/* The block's document (pos -1) or its shard at position pos in sp.sh is bad. */
static void doc_bad(struct gw_scrub *s, int pos, const char *why, int repairable)
{
    if (pos < 0) {
        s->c.blocks_bad++;
        log_error("scrub: block %lld (message %lld/%lld): %s; it is stored as one document and cannot be rebuilt",
                  (long long)s->blk.id, (long long)s->blk.chat_id, (long long)s->blk.message_id, why);
        return;
    }
    const struct store_shard *sh = &s->sp.sh[pos];
    s->c.shards_bad++;
    log_warn("scrub: block %lld: shard %d (message %lld/%lld): %s%s", (long long)s->blk.id, sh->idx,
             (long long)sh->chat_id, (long long)sh->message_id, why, repairable ? "; queued for repair" : "");
    if (repairable)
        gw_repair_shard(s->gw, s->blk.id, sh->idx, why);
}

static void verify_work(uv_work_t *w)
{
    struct doc_check *d = w->data;
    struct gw_scrub *s = d->s;
    size_t off, plen;
    if (d->pos < 0) {
        d->st = gw_block_open(s->gw->keys, &s->blk, d->data, d->len, &off, &plen);
        return;
    }
    const struct store_shard *sh = &s->sp.sh[d->pos];
    d->st = blk_shard_open(s->gw->keys, s->blk.uuid, sh->idx, s->sp.k, s->sp.m, (uint64_t)s->sp.sealed_size, d->data,
                           d->len);
}

static void after_verify(uv_work_t *w, int status)
{
    struct doc_check *d = w->data;
    struct gw_scrub *s = d->s;
    if (status != 0 || d->st != BLK_OK)
        doc_bad(s, d->pos, status != 0 ? "verification cancelled" : blk_status_name(d->st), status == 0);
    else
        s->c.docs_ok++;
    secure_zero(d->data, d->len);
    if (--s->running == 0)
        block_checked(s);
}

static void on_doc(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct doc_check *d = ud;
    struct gw_scrub *s = d->s;
    d->call = NULL;
    if (res->status != TG_OK || data == NULL) {
        bigbuf_free(data);
        char why[300];
        snprintf(why, sizeof(why), "cannot be read: %s", res->description);
        doc_bad(s, d->pos, why, !tg_result_temporary(res));
        if (--s->running == 0)
            block_checked(s);
        return;
    }
    d->data = data;
    d->len = len;
    d->work.data = d;
    if (uv_queue_work(s->gw->loop, &d->work, verify_work, after_verify) != 0 && --s->running == 0)
        block_checked(s);
}

static void check_doc(struct gw_scrub *s, int pos)
{
    struct doc_check *d = &s->docs[pos < 0 ? 0 : pos];
    struct store_block doc = s->blk;
    memset(d, 0, sizeof(*d));
    d->s = s;
    d->pos = pos;
    if (pos >= 0)
        gw_shard_doc(&s->sp.sh[pos], &doc);
    s->running++;
    d->call = gw_read_start(s->gw, &doc, on_doc, d);
}

/* ---- a block stored as one document, made a stripe ------------------------------------ */

static void on_upgraded(void *ud, enum gw_upgrade_end end, const char *why)
{
    struct gw_scrub *s = ud;
    s->up = NULL;
    if (end == GW_UPGRADE_BAD) {
        doc_bad(s, -1, why, 0);
    } else {
        s->c.docs_ok++;
        if (end == GW_UPGRADE_DONE)
            s->c.blocks_upgraded++;
        else
            s->c.upgrades_later++;
    }
    if (--s->running == 0)
        block_checked(s);
}

static void upgrade_block(struct gw_scrub *s);

static void on_upgrade_wait(uv_timer_t *t)
{
    upgrade_block(t->data);
}

static void upgrade_block(struct gw_scrub *s)
{
    if (!gw_upgrade_may_start(s->gw)) { /* client uploads and repairs first */
        uv_timer_start(&s->timer, on_upgrade_wait, UPGRADE_WAIT_MS, 0);
        return;
    }
    s->running++;
    s->up = gw_upgrade_start(s->gw, &s->blk, on_upgraded, s);
}

/* ---- the walk ------------------------------------------------------------------------ */

static void next_run(struct store *st, void *arg)
{
    struct gw_scrub *s = arg;
    s->st = store_scrub_next(st, s->cursor, &s->blk, &s->sp, &s->is_stripe, &s->total);
}

static void next_done(void *arg)
{
    struct gw_scrub *s = arg;
    s->store_busy = 0;
    if (s->stopping) {
        free_if_done(s);
        return;
    }
    if (s->st == STORE_NOT_FOUND) { /* the pass is over */
        s->c.passes++;
        s->cursor = 0;
        if (s->foreground) {
            s->pass_done(s->gw);
            return;
        }
        s->store_busy = 1;
        gw_store_call(s->gw, cursor_run, cursor_done, s);
        return;
    }
    if (s->st != STORE_OK) {
        log_error("scrub: cannot read the index: %s", store_status_name(s->st));
        if (s->foreground)
            s->pass_done(s->gw);
        else
            uv_timer_start(&s->timer, on_timer, IDLE_MS, 0);
        return;
    }
    s->cursor = s->blk.id;
    if (s->blk.chat_id == 0) { /* a pack not posted yet: in the spool, not in Telegram */
        block_checked(s);
        return;
    }
    if (!s->is_stripe) {
        if (gw_upgrade_wanted(s->gw))
            upgrade_block(s);
        else
            check_doc(s, -1);
        return;
    }
    if (s->sp.n < s->sp.k + s->sp.m)
        gw_repair_kick(s->gw); /* shards it lacks are rebuilt, queued or not */
    for (int i = 0; i < s->sp.n; i++)
        check_doc(s, i);
    if (s->sp.n == 0)
        block_checked(s);
}

static void scrub_next(struct gw_scrub *s)
{
    if (s->store_busy || s->running > 0 || s->stopping)
        return;
    s->store_busy = 1;
    gw_store_call(s->gw, next_run, next_done, s);
}

static void start_run(struct store *st, void *arg)
{
    struct gw_scrub *s = arg;
    s->st = store_scrub_cursor_get(st, &s->cursor);
}

static void start_done(void *arg)
{
    struct gw_scrub *s = arg;
    int64_t interval = s->gw->cfg.scrub_interval_ms;
    s->store_busy = 0;
    if (s->st != STORE_OK || s->foreground)
        s->cursor = 0; /* tgs3 scrub: a whole pass, whatever place the gateway's scrub recorded */
    if (s->stopping)
        free_if_done(s);
    else if (s->foreground)
        scrub_next(s);
    else /* not in the rush of a start */
        uv_timer_start(&s->timer, on_timer, (uint64_t)(interval < IDLE_MS ? interval : IDLE_MS), 0);
}

void gw_scrub_start(struct gw *gw, int foreground, void (*pass_done)(struct gw *gw))
{
    if (!foreground && gw->cfg.scrub_interval_ms <= 0)
        return;
    struct gw_scrub *s = xcalloc(1, sizeof(*s));
    s->gw = gw;
    s->foreground = foreground;
    s->pass_done = pass_done;
    gw->scrub = s;
    uv_timer_init(gw->loop, &s->timer);
    s->timer.data = s;
    s->store_busy = 1;
    gw_store_call(gw, start_run, start_done, s);
}

static void on_closed(uv_handle_t *h)
{
    struct gw_scrub *s = h->data;
    s->closed = 1;
    free_if_done(s);
}

void gw_scrub_stop(struct gw *gw)
{
    struct gw_scrub *s = gw->scrub;
    if (s == NULL)
        return;
    gw->scrub = NULL;
    s->stopping = 1;
    for (int i = 0; i < STORE_MAX_SHARDS; i++)
        if (s->docs[i].call != NULL) { /* their callbacks will not come */
            gw_read_cancel(s->docs[i].call);
            s->docs[i].call = NULL;
            s->running--;
        }
    if (s->up != NULL) { /* its callback will not come */
        gw_upgrade_stop(s->up);
        s->up = NULL;
        s->running--;
    }
    /* A store job or a verification still running finishes the free. */
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}

void gw_scrub_counters(const struct gw *gw, struct gw_scrub_counters *out)
{
    if (gw->scrub != NULL)
        *out = gw->scrub->c;
    else
        memset(out, 0, sizeof(*out));
}

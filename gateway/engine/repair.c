/* repair.c — rebuilding missing or damaged shards from K good ones, into live chats.
 *
 * DESIGN
 * The queue is durable (store/repair.c): shards a read or a scrub found
 * missing or corrupt, every shard of a lost chat, and those a degraded
 * upload could not place. The runner takes one block at a time and posts
 * its missing shards again (rebuild.c): the sealed document read from any
 * K good shards, the stripe encoded again on libuv's pool (same geometry,
 * fresh shard nonces), a journal row per shard to post, and only the
 * missing ones posted, each into a live chat that holds no shard of the stripe.
 * Each rebuilt shard is swapped into the index in one transaction with the
 * end of its journal row; the replaced message goes to the delete queue.
 * A crash between a post and its swap leaves a journal row, which the
 * start-up sweep turns into a deletion, and the repair row, which runs
 * again: the index never records fewer shards than Telegram holds.
 *
 * Priority: the runner starts a block only while no client document waits
 * for a (bot, chat) pair, so repairs use what the uploads leave of the rate
 * budget. A block that cannot be made whole (no live chat without a shard of
 * it) waits RETRY_MS and is reported: add a channel.
 *
 * Threads: the loop; the encoding on the pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/shard.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

#define TICK_MS 2000            /* the runner looks for due repairs this often */
#define RETRY_MS (60 * 1000)    /* a block that failed waits at least this long */

struct gw_repair {
    struct gw *gw;
    uv_timer_t timer;
    int busy;                    /* a block is being repaired */
    struct rjob *job;            /* that block's job */
    int stopping, closed;
    struct gw_repair_counters c;
};

struct rjob {
    struct gw_repair *r;
    struct gw_rebuild rb; /* the block and the shards it wants (store_repair_next), posted again */
    struct store_stripe sp;
    int64_t *retired; /* the chats retired so far (tgs3 chat retire may run beside the gateway) */
    size_t n_retired;
    enum store_status st;
    int swapped;          /* shards swapped into the index */
};

static void runner_next(struct gw_repair *r);

static void job_end(struct rjob *j, int ok)
{
    struct gw_repair *r = j->r;
    gw_rebuild_release(&j->rb);
    free(j);
    r->busy = 0;
    r->job = NULL;
    if (r->stopping) {
        if (r->closed)
            free(r);
        return;
    }
    if (ok)
        runner_next(r); /* the next block at once while the backlog lasts */
}

/* ---- the end: swap posted shards in, put the block back for later otherwise ---- */

static void swap_run(struct store *st, void *arg)
{
    struct rjob *j = arg;
    const struct gw_rebuild *rb = &j->rb;
    int64_t now = now_ms();
    unsigned char kept[STORE_MAX_SHARDS] = {0};
    j->st = STORE_OK;
    for (int i = 0; rb->end == GW_REBUILD_SENT && i < rb->ss.n_posted; i++) {
        const struct store_shard *sh = &rb->ss.sh[i];
        enum store_status s = store_repair_swap(st, rb->blk.id, sh, rb->ss.keys[sh->idx], now);
        if (s == STORE_OK) {
            kept[sh->idx] = 1;
            j->swapped++;
        } else if (s != STORE_NOT_FOUND) {
            j->st = s;
        } /* NOT_FOUND: the block went away meanwhile; the new message goes */
    }
    /* The journal rows of shards not swapped in: their messages go. */
    if (gw_rebuild_drop_rows(st, rb, kept, now) != STORE_OK)
        j->st = STORE_IO;
    if (j->swapped < rb->n_want && store_repair_later(st, rb->blk.id, now + RETRY_MS) != STORE_OK)
        j->st = STORE_IO;
}

static void swap_done(void *arg)
{
    struct rjob *j = arg;
    struct gw_repair *r = j->r;
    long long id = (long long)j->rb.blk.id;
    r->c.shards_repaired += (uint64_t)j->swapped;
    if (j->st != STORE_OK)
        log_error("repair: block %lld: cannot record its rebuilt shards: %s", id, store_status_name(j->st));
    if (j->swapped == j->rb.n_want) {
        r->c.blocks_repaired++;
        log_info("repair: block %lld is whole again (%d shard%s rebuilt)", id, j->swapped, j->swapped == 1 ? "" : "s");
    } else {
        r->c.failed++;
        log_warn("repair: block %lld: %d of %d shards rebuilt; the rest again in %d s", id, j->swapped,
                 j->rb.n_want, RETRY_MS / 1000);
    }
    job_end(j, 1);
}

/* The block's shards are posted, or it could not be read: the index learns
 * what landed and the block comes back later for the rest. */
static void on_rebuilt(struct gw_rebuild *rb)
{
    struct rjob *j = rb->ud;
    switch (rb->end) {
    case GW_REBUILD_STOPPED: /* journaled posts are swept at the next start; the repair row stays */
        job_end(j, 0);
        return;
    case GW_REBUILD_UNREAD:
        log_warn("repair: block %lld cannot be read from %d good shards (%s); again later", (long long)rb->blk.id,
                 j->sp.k, rb->why);
        break;
    case GW_REBUILD_BAD:
    case GW_REBUILD_FAILED:
        log_error("repair: block %lld: %s", (long long)rb->blk.id, rb->why);
        j->r->c.failed++;
        job_end(j, 0);
        return;
    case GW_REBUILD_SENT:
        break;
    }
    gw_store_call(j->r->gw, swap_run, swap_done, j);
}

/* ---- the runner ---------------------------------------------------------------- */

static void next_run(struct store *st, void *arg)
{
    struct rjob *j = arg;
    j->st = store_chats_retired(st, &j->retired, &j->n_retired);
    if (j->st == STORE_OK)
        j->st = store_repair_next(st, now_ms(), &j->rb.blk, &j->sp, j->rb.want, &j->rb.n_want);
}

static void next_done(void *arg)
{
    struct rjob *j = arg;
    struct gw_repair *r = j->r;
    struct gw *gw = r->gw;
    struct gw_rebuild *rb = &j->rb;
    for (size_t i = 0; i < j->n_retired; i++) { /* never rebuilt into a chat retired meanwhile */
        int ci = gw_chat_index(gw, j->retired[i]);
        if (ci >= 0 && gw_chat_state(gw, (size_t)ci) != GW_CHAT_RETIRED)
            gw_chat_retired(gw, (size_t)ci);
    }
    free(j->retired);
    j->retired = NULL;
    if (j->st != STORE_OK || r->stopping) {
        if (j->st != STORE_NOT_FOUND && !r->stopping)
            log_error("repair: cannot read the queue: %s", store_status_name(j->st));
        job_end(j, 0);
        return;
    }
    struct gw_stripe_send *ss = &rb->ss;
    ss->gw = gw;
    ss->k = j->sp.k;
    ss->m = j->sp.m;
    ss->ec = gw_ec_for(gw, ss->k, ss->m);
    snprintf(ss->name, sizeof(ss->name), "repair blk=%lld", (long long)rb->blk.id);
    /* A chat holding a good shard of the stripe takes no other; nor does the
     * chat of a replaced shard unless it still answers (a deleted or damaged
     * message in a healthy chat may be posted there again). */
    unsigned char wanted[STORE_MAX_SHARDS] = {0};
    for (int i = 0; i < rb->n_want; i++)
        wanted[rb->want[i]] = 1;
    for (int i = 0; i < j->sp.n; i++) {
        const struct store_shard *sh = &j->sp.sh[i];
        int ci = gw_chat_index(gw, sh->chat_id);
        if (!wanted[sh->idx] || ci < 0 || gw_chat_state(gw, (size_t)ci) != GW_CHAT_OK)
            ss->held_chats[ss->n_held++] = sh->chat_id;
    }
    if (ss->ec == NULL) {
        log_error("repair: block %lld: no Reed-Solomon tables for %d+%d", (long long)rb->blk.id, ss->k, ss->m);
        job_end(j, 0);
        return;
    }
    log_info("repair: block %lld: rebuilding %d shard%s of %d+%d", (long long)rb->blk.id, rb->n_want,
             rb->n_want == 1 ? "" : "s", ss->k, ss->m);
    rb->journal = "repair";
    rb->done = on_rebuilt;
    rb->ud = j;
    gw_rebuild_start(rb);
}

static void runner_next(struct gw_repair *r)
{
    struct gw *gw = r->gw;
    if (r->busy || r->stopping || gw->post_waiting > 0 || gw->storeq == NULL)
        return; /* client uploads first */
    struct rjob *j = xcalloc(1, sizeof(*j));
    j->r = r;
    r->busy = 1;
    r->job = j;
    gw_store_call(gw, next_run, next_done, j);
}

static void on_tick(uv_timer_t *t)
{
    runner_next(t->data);
}

void gw_repair_start(struct gw *gw)
{
    struct gw_repair *r = xcalloc(1, sizeof(*r));
    r->gw = gw;
    gw->repair = r;
    gw->repair_wake = gw_repair_kick; /* damage.c wakes the runner when it queues something */
    uv_timer_init(gw->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, 0, TICK_MS);
}

void gw_repair_kick(struct gw *gw)
{
    if (gw->repair != NULL)
        runner_next(gw->repair);
}

static void on_closed(uv_handle_t *h)
{
    struct gw_repair *r = h->data;
    r->closed = 1;
    if (!r->busy)
        free(r);
}

void gw_repair_stop(struct gw *gw)
{
    struct gw_repair *r = gw->repair;
    if (r == NULL)
        return;
    r->stopping = 1;
    gw->repair = NULL;
    gw->repair_wake = NULL;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_closed);
    if (r->job != NULL) /* a rebuild under way ends (a read at once, in job_end) */
        gw_rebuild_stop(&r->job->rb);
}

int gw_repair_busy(const struct gw *gw)
{
    return gw->repair != NULL && gw->repair->busy;
}

void gw_repair_counters(const struct gw *gw, struct gw_repair_counters *out)
{
    if (gw->repair != NULL)
        *out = gw->repair->c;
    else
        memset(out, 0, sizeof(*out));
}

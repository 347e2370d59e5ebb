/* repair.c — rebuilding missing or damaged shards from K good ones, into live chats.
 *
 * DESIGN
 * The queue is durable (store/repair.c): shards a read or a scrub found
 * missing or corrupt, every shard of a lost chat, and those a degraded
 * upload could not place. The runner takes one block at a time: reads its
 * sealed document from any K good shards (stripe_read.c), encodes the
 * stripe again on libuv's pool (same geometry, fresh shard nonces),
 * journals a row per shard to post, and posts only the missing ones
 * (stripe_send.c), each into a live chat that holds no shard of the stripe.
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
    struct store_block blk;
    struct store_stripe sp;
    int want[STORE_MAX_SHARDS];
    int n_want;
    enum store_status st;
    struct gw_block_read *read;
    unsigned char *buf; /* the sealed document, then the stripe's bodies */
    size_t sealed_len;
    struct gw_stripe_send ss;
    enum blk_status enc;
    uv_work_t work;
    int swapped;        /* shards swapped into the index */
};

static void runner_next(struct gw_repair *r);

static void job_end(struct rjob *j, int ok)
{
    struct gw_repair *r = j->r;
    gw_stripe_send_release(&j->ss);
    bigbuf_free(j->buf);
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

struct swap_job {
    struct rjob *j;
    enum store_status st;
};

static void swap_run(struct store *st, void *arg)
{
    struct swap_job *w = arg;
    struct rjob *j = w->j;
    int64_t now = now_ms();
    unsigned char posted[STORE_MAX_SHARDS] = {0};
    w->st = STORE_OK;
    for (int i = 0; i < j->ss.n_posted; i++) {
        const struct store_shard *sh = &j->ss.sh[i];
        enum store_status s = store_repair_swap(st, j->blk.id, sh, j->ss.keys[sh->idx], now);
        posted[sh->idx] = 1;
        if (s == STORE_OK) {
            j->swapped++;
            continue;
        }
        /* The block went away meanwhile (or the swap failed): the new message goes. */
        if (store_inflight_end(st, j->ss.keys[sh->idx], 0, now) != STORE_OK || s != STORE_NOT_FOUND)
            w->st = s;
    }
    for (int i = 0; j->buf != NULL && i < j->n_want; i++) /* journal rows of shards that found no chat */
        if (!posted[j->want[i]] && store_inflight_end(st, j->ss.keys[j->want[i]], 0, now) != STORE_OK)
            w->st = STORE_IO;
    if (j->swapped < j->n_want && store_repair_later(st, j->blk.id, now + RETRY_MS) != STORE_OK)
        w->st = STORE_IO;
}

static void swap_done(void *arg)
{
    struct swap_job *w = arg;
    struct rjob *j = w->j;
    struct gw_repair *r = j->r;
    r->c.shards_repaired += (uint64_t)j->swapped;
    if (w->st != STORE_OK)
        log_error("repair: block %lld: cannot record its rebuilt shards: %s", (long long)j->blk.id,
                  store_status_name(w->st));
    if (j->swapped == j->n_want) {
        r->c.blocks_repaired++;
        log_info("repair: block %lld is whole again (%d shard%s rebuilt)", (long long)j->blk.id, j->swapped,
                 j->swapped == 1 ? "" : "s");
    } else {
        r->c.failed++;
        log_warn("repair: block %lld: %d of %d shards rebuilt; the rest again in %d s", (long long)j->blk.id,
                 j->swapped, j->n_want, RETRY_MS / 1000);
    }
    free(w);
    job_end(j, 1);
}

static void on_sent(struct gw_stripe_send *ss)
{
    struct rjob *j = ss->ud;
    if (j->r->stopping) { /* journaled posts are swept at the next start; the repair row stays */
        job_end(j, 0);
        return;
    }
    struct swap_job *w = xcalloc(1, sizeof(*w));
    w->j = j;
    gw_store_call(j->r->gw, swap_run, swap_done, w);
}

/* ---- journal, then post the missing shards ------------------------------------ */

static void journal_run(struct store *st, void *arg)
{
    struct rjob *j = arg;
    j->st = STORE_OK;
    for (int i = 0; i < j->n_want && j->st == STORE_OK; i++)
        j->st = store_inflight_begin(st, j->ss.keys[j->want[i]], "repair", 0, 0, now_ms());
}

static void journal_done(void *arg)
{
    struct rjob *j = arg;
    if (j->st != STORE_OK || j->r->stopping) {
        if (j->r->stopping) {
            job_end(j, 0);
            return;
        }
        log_error("repair: block %lld: cannot journal its shards: %s", (long long)j->blk.id,
                  store_status_name(j->st));
        j->r->c.failed++;
        job_end(j, 0);
        return;
    }
    j->ss.done = on_sent;
    j->ss.ud = j;
    gw_stripe_send_start(&j->ss);
}

static void encode_work(uv_work_t *w)
{
    struct rjob *j = w->data;
    j->enc = gw_stripe_encode(&j->ss, j->r->gw->keys, j->blk.uuid, j->buf, j->sealed_len);
}

static void after_encode(uv_work_t *w, int status)
{
    struct rjob *j = w->data;
    if (status != 0 || j->enc != BLK_OK || j->r->stopping) {
        if (!j->r->stopping)
            log_error("repair: block %lld: cannot encode its stripe: %s", (long long)j->blk.id,
                      status != 0 ? "cancelled" : blk_status_name(j->enc));
        j->r->c.failed++;
        job_end(j, 0);
        return;
    }
    gw_store_call(j->r->gw, journal_run, journal_done, j);
}

static void on_read(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct rjob *j = ud;
    struct gw *gw = j->r->gw;
    j->read = NULL;
    if (j->r->stopping) {
        bigbuf_free(data);
        job_end(j, 0);
        return;
    }
    if (res->status != TG_OK || data == NULL || (int64_t)len != j->sp.sealed_size) {
        bigbuf_free(data);
        log_warn("repair: block %lld cannot be read from %d good shards (%s); again later", (long long)j->blk.id,
                 j->sp.k, res->description);
        j->r->c.failed++;
        struct swap_job *w = xcalloc(1, sizeof(*w)); /* nothing posted: only puts the block back */
        w->j = j;
        gw_store_call(gw, swap_run, swap_done, w);
        return;
    }
    /* The bodies of the whole stripe need room beyond the document. */
    size_t cap = blk_shard_len(len, j->sp.k) * (size_t)(j->sp.k + j->sp.m);
    j->buf = bigbuf_new(cap);
    memcpy(j->buf, data, len);
    bigbuf_free(data);
    j->sealed_len = len;
    j->work.data = j;
    if (uv_queue_work(gw->loop, &j->work, encode_work, after_encode) != 0) {
        j->r->c.failed++;
        job_end(j, 0);
    }
}

/* ---- the runner ---------------------------------------------------------------- */

static void next_run(struct store *st, void *arg)
{
    struct rjob *j = arg;
    j->st = store_repair_next(st, now_ms(), &j->blk, &j->sp, j->want, &j->n_want);
}

static void next_done(void *arg)
{
    struct rjob *j = arg;
    struct gw_repair *r = j->r;
    struct gw *gw = r->gw;
    if (j->st != STORE_OK || r->stopping) {
        if (j->st != STORE_NOT_FOUND && !r->stopping)
            log_error("repair: cannot read the queue: %s", store_status_name(j->st));
        job_end(j, 0);
        return;
    }
    struct gw_stripe_send *ss = &j->ss;
    ss->gw = gw;
    ss->k = j->sp.k;
    ss->m = j->sp.m;
    ss->ec = gw_ec_for(gw, ss->k, ss->m);
    snprintf(ss->name, sizeof(ss->name), "repair blk=%lld", (long long)j->blk.id);
    for (int i = 0; i < STORE_MAX_SHARDS; i++)
        ss->skip[i] = 1;
    for (int i = 0; i < j->n_want; i++)
        ss->skip[j->want[i]] = 0;
    /* A chat holding a good shard of the stripe takes no other; nor does the
     * chat of a replaced shard unless it still answers (a deleted or damaged
     * message in a healthy chat may be posted there again). */
    for (int i = 0; i < j->sp.n; i++) {
        const struct store_shard *sh = &j->sp.sh[i];
        int ci = gw_chat_index(gw, sh->chat_id);
        if (ss->skip[sh->idx] || ci < 0 || gw_chat_state(gw, (size_t)ci) != GW_CHAT_OK)
            ss->held_chats[ss->n_held++] = sh->chat_id;
    }
    if (ss->ec == NULL) {
        log_error("repair: block %lld: no Reed-Solomon tables for %d+%d", (long long)j->blk.id, ss->k, ss->m);
        job_end(j, 0);
        return;
    }
    log_info("repair: block %lld: rebuilding %d shard%s of %d+%d", (long long)j->blk.id, j->n_want,
             j->n_want == 1 ? "" : "s", ss->k, ss->m);
    j->read = gw_block_read_start(gw, &j->blk, on_read, j);
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
    if (r->job != NULL && r->job->read != NULL) { /* its callback will not come */
        gw_block_read_cancel(r->job->read);
        r->job->read = NULL;
        job_end(r->job, 0);
    }
}

void gw_repair_counters(const struct gw *gw, struct gw_repair_counters *out)
{
    if (gw->repair != NULL)
        *out = gw->repair->c;
    else
        memset(out, 0, sizeof(*out));
}

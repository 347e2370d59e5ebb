/* stripe_read.c — reading a block's sealed document: one document, or any K good shards of its stripe.
 *
 * DESIGN
 * The index says how a block is stored (store_stripe_get, on the store
 * thread). A block stored as one document is read by reader.c as before.
 * A stripe is read from K of its shards in parallel, data shards first (so
 * when they all arrive nothing is decoded), shards in chats known to
 * refuse last: each shard is fetched through
 * reader.c (its uploader's file_id, else another bot's) and authenticated
 * on libuv's pool (blk_shard_open: a damaged, truncated or swapped shard is
 * named, never used). A shard that fails to arrive or to verify is replaced
 * by the next one, parity included; one that is slower than HEDGE_MS gets a
 * companion (the next shard starts beside it). With K good shards the
 * sealed document is put together on the pool (the data shards' bodies in
 * order, missing ones rebuilt by Reed–Solomon from ISA-L) and handed to the
 * caller exactly as reader.c hands over a single document, so the cache and
 * the fetch above verify and serve it the same way. A shard that fails to
 * verify, or that Telegram refuses for good, is queued for repair.
 *
 * Memory: the K (+ hedged) shard documents of a block in flight and the
 * document they rebuild, freed as soon as it is handed over.
 *
 * Threads: the loop, except verify_work and build_work (pool), which touch
 * only their shard or the read's good shards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/shard.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

#define HEDGE_MS 2000 /* a stripe still short of K good shards after this starts one more */

enum { SH_IDLE, SH_FETCHING, SH_VERIFYING, SH_GOOD, SH_BAD };

struct shard_read {
    struct gw_block_read *br;
    int pos;               /* index into br->sp->sh */
    int state;             /* SH_* */
    struct gw_read *call;
    unsigned char *data;   /* the fetched document (bigbuf) */
    size_t len;
    enum blk_status st;
    uv_work_t work;
};

struct gw_block_read {
    struct gw *gw;
    struct store_block blk;
    tg_fetch_cb cb;
    void *ud;
    struct gw_read *plain;  /* a block stored as one document */
    struct store_stripe *sp;
    struct blk_ec *ec;      /* the stripe's Reed–Solomon tables */
    enum store_status st;
    struct shard_read rd[STORE_MAX_SHARDS];
    int order[STORE_MAX_SHARDS]; /* positions in sp->sh, in the order they are tried */
    int next;               /* next of order to start */
    int good;
    int on_pool;            /* pool jobs running for this read */
    int store_busy;
    int cancelled;
    struct tg_result last;  /* the last shard failure, for the caller when fewer than K arrive */
    unsigned char *out;     /* the rebuilt document (build_work) */
    int build_failed;
    uv_work_t build;
    uv_timer_t hedge;
    int hedge_init;         /* the timer is open, or closing */
    int hedge_closing;
};

static void br_free(struct gw_block_read *br);

static void on_hedge_closed(uv_handle_t *h)
{
    struct gw_block_read *br = h->data;
    br->hedge_init = 0;
    br_free(br);
}

/* Frees br once nothing runs for it any more (store job, pool jobs, the
 * timer's close). The timer is closed at once, not after the pool jobs:
 * at shutdown the loop's handles are closed while pool jobs still run, and
 * a handle must not be closed twice. One closed by someone else (the
 * shutdown's walk, no callback) leaves br to the process's end. */
static void br_free(struct gw_block_read *br)
{
    if (br->hedge_init && !br->hedge_closing) {
        br->hedge_closing = 1;
        if (!uv_is_closing((uv_handle_t *)&br->hedge)) {
            uv_timer_stop(&br->hedge);
            br->hedge.data = br;
            uv_close((uv_handle_t *)&br->hedge, on_hedge_closed);
        }
    }
    if (br->store_busy || br->on_pool > 0 || br->hedge_init)
        return;
    for (int i = 0; i < STORE_MAX_SHARDS; i++)
        bigbuf_free(br->rd[i].data);
    bigbuf_free(br->out);
    free(br->sp);
    free(br);
}

static void deliver(struct gw_block_read *br, const struct tg_result *res, unsigned char *data, size_t len)
{
    tg_fetch_cb cb = br->cb;
    void *ud = br->ud;
    br->cancelled = 1; /* nothing more reaches the caller */
    for (int i = 0; br->sp != NULL && i < br->sp->n; i++)
        if (br->rd[i].call != NULL) {
            gw_read_cancel(br->rd[i].call);
            br->rd[i].call = NULL;
        }
    br_free(br);
    cb(ud, res, data, len);
}

static void fail_with(struct gw_block_read *br, enum tg_status status, const char *why)
{
    struct tg_result res;
    memset(&res, 0, sizeof(res));
    res.status = status;
    snprintf(res.description, sizeof(res.description), "%s", why);
    deliver(br, &res, NULL, 0);
}

static void on_plain(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct gw_block_read *br = ud;
    br->plain = NULL;
    deliver(br, res, data, len);
}

/* ---- Reed–Solomon tables, one per layout met --------------------------------------- */

struct blk_ec *gw_ec_for(struct gw *gw, int k, int m)
{
    for (size_t i = 0; i < gw->n_ecs; i++)
        if (gw->ecs[i].k == k && gw->ecs[i].m == m)
            return gw->ecs[i].ec;
    struct blk_ec *ec = NULL;
    if (gw->n_ecs == ARRAY_SIZE(gw->ecs) || blk_ec_new(k, m, &ec) != BLK_OK)
        return NULL;
    gw->ecs[gw->n_ecs].k = k;
    gw->ecs[gw->n_ecs].m = m;
    gw->ecs[gw->n_ecs++].ec = ec;
    return ec;
}

void gw_ec_free_all(struct gw *gw)
{
    for (size_t i = 0; i < gw->n_ecs; i++)
        blk_ec_free(gw->ecs[i].ec);
    gw->n_ecs = 0;
    gw->ec = NULL;
}

/* ---- shards ------------------------------------------------------------------ */

static void start_next(struct gw_block_read *br);

static int in_flight(const struct gw_block_read *br)
{
    int n = 0;
    for (int i = 0; i < br->next; i++)
        n += br->rd[br->order[i]].state == SH_FETCHING || br->rd[br->order[i]].state == SH_VERIFYING;
    return n;
}

/* No more shards will come: K good ones rebuild the block, else it is lost to this read. */
static void settle(struct gw_block_read *br);

static void verify_work(uv_work_t *w)
{
    struct shard_read *r = w->data;
    struct gw_block_read *br = r->br;
    const struct store_shard *sh = &br->sp->sh[r->pos];
    r->st = blk_shard_open(br->gw->keys, br->blk.uuid, sh->idx, br->sp->k, br->sp->m, (uint64_t)br->sp->sealed_size,
                           r->data, r->len);
}

static void after_verify(uv_work_t *w, int status)
{
    struct shard_read *r = w->data;
    struct gw_block_read *br = r->br;
    const struct store_shard *sh = &br->sp->sh[r->pos];
    br->on_pool--;
    if (br->cancelled) {
        br_free(br);
        return;
    }
    if (status == 0 && r->st == BLK_OK) {
        r->state = SH_GOOD;
        br->good++;
    } else {
        r->state = SH_BAD;
        bigbuf_free(r->data);
        r->data = NULL;
        log_error("block %lld: shard %d (message %lld/%lld) failed verification: %s; reading another shard",
                  (long long)br->blk.id, sh->idx, (long long)sh->chat_id, (long long)sh->message_id,
                  status != 0 ? "cancelled" : blk_status_name(r->st));
        if (br->blk.id > 0) /* a chain document is not in the index: nothing to repair */
            gw_repair_shard(br->gw, br->blk.id, sh->idx, "failed verification");
        memset(&br->last, 0, sizeof(br->last));
        br->last.status = TG_ERR_API;
        snprintf(br->last.description, sizeof(br->last.description), "a shard failed verification");
    }
    settle(br);
}

static void on_shard(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct shard_read *r = ud;
    struct gw_block_read *br = r->br;
    const struct store_shard *sh = &br->sp->sh[r->pos];
    r->call = NULL;
    if (res->status != TG_OK || data == NULL) {
        r->state = SH_BAD;
        bigbuf_free(data);
        br->last = *res;
        log_warn("block %lld: shard %d (message %lld/%lld) cannot be read: %s (%s); reading another shard",
                 (long long)br->blk.id, sh->idx, (long long)sh->chat_id, (long long)sh->message_id,
                 tg_status_name(res->status), res->description);
        if (!tg_result_temporary(res) && br->blk.id > 0)
            gw_repair_shard(br->gw, br->blk.id, sh->idx, "cannot be read");
        settle(br);
        return;
    }
    r->data = data;
    r->len = len;
    r->state = SH_VERIFYING;
    r->work.data = r;
    br->on_pool++;
    if (uv_queue_work(br->gw->loop, &r->work, verify_work, after_verify) != 0) {
        br->on_pool--;
        r->state = SH_BAD;
        settle(br);
    }
}

void gw_shard_doc(const struct store_shard *sh, struct store_block *out)
{
    memset(out, 0, sizeof(*out)); /* id 0: file_ids of other bots are not recorded for shards */
    out->chat_id = sh->chat_id;
    out->message_id = sh->message_id;
    out->bot_id = sh->bot_id;
    snprintf(out->file_id, sizeof(out->file_id), "%s", sh->file_id);
    out->stored_size = sh->size;
}

static void start_shard(struct gw_block_read *br, int pos)
{
    struct shard_read *r = &br->rd[pos];
    struct store_block d;
    gw_shard_doc(&br->sp->sh[pos], &d);
    r->br = br;
    r->pos = pos;
    r->state = SH_FETCHING;
    r->call = gw_read_start(br->gw, &d, on_shard, r);
}

static void start_next(struct gw_block_read *br)
{
    if (br->next < br->sp->n)
        start_shard(br, br->order[br->next++]);
}

static void on_hedge(uv_timer_t *t)
{
    struct gw_block_read *br = t->data;
    if (br->cancelled || br->good >= br->sp->k)
        return;
    if (br->good + in_flight(br) <= br->sp->k && br->next < br->sp->n) {
        log_info("block %lld: a shard is slow; reading one more", (long long)br->blk.id);
        start_next(br);
    }
}

/* ---- putting the document together -------------------------------------------- */

static void build_work(uv_work_t *w)
{
    struct gw_block_read *br = w->data;
    const struct store_stripe *sp = br->sp;
    size_t s = blk_shard_len((uint64_t)sp->sealed_size, sp->k);
    unsigned char *have[STORE_MAX_SHARDS] = {0};
    unsigned char *rebuilt[STORE_MAX_SHARDS] = {0};
    int want[STORE_MAX_SHARDS], n_want = 0, n_have = 0;

    for (int i = 0; i < sp->n; i++)
        if (br->rd[i].state == SH_GOOD && n_have < sp->k) {
            have[sp->sh[i].idx] = br->rd[i].data + BLK_SHARD_HEADER_LEN;
            n_have++;
        }
    for (int i = 0; i < sp->k; i++)
        if (have[i] == NULL) {
            rebuilt[n_want] = xmalloc(s);
            want[n_want++] = i;
        }
    br->build_failed = 0;
    if (n_want > 0 && blk_ec_rebuild(br->ec, s, have, want, n_want, rebuilt) != BLK_OK)
        br->build_failed = 1;
    if (!br->build_failed) {
        for (int j = 0; j < n_want; j++)
            have[want[j]] = rebuilt[j];
        br->out = bigbuf_new((size_t)sp->sealed_size);
        for (int i = 0; i < sp->k; i++) {
            size_t off = (size_t)i * s;
            if (off >= (size_t)sp->sealed_size)
                break;
            size_t n = (size_t)sp->sealed_size - off < s ? (size_t)sp->sealed_size - off : s;
            memcpy(br->out + off, have[i], n);
        }
    }
    for (int j = 0; j < n_want; j++)
        free(rebuilt[j]);
}

static void after_build(uv_work_t *w, int status)
{
    struct gw_block_read *br = w->data;
    br->on_pool--;
    if (br->cancelled) {
        br_free(br);
        return;
    }
    if (status != 0 || br->build_failed || br->out == NULL) {
        fail_with(br, TG_ERR_IO, "the stripe could not be rebuilt");
        return;
    }
    unsigned char *out = br->out;
    br->out = NULL;
    struct tg_result ok;
    memset(&ok, 0, sizeof(ok));
    ok.status = TG_OK;
    deliver(br, &ok, out, (size_t)br->sp->sealed_size);
}

static void settle(struct gw_block_read *br)
{
    if (br->good >= br->sp->k) {
        for (int i = 0; i < br->sp->n; i++) /* K good ones are enough: slower shards are not waited for */
            if (br->rd[i].call != NULL) {
                gw_read_cancel(br->rd[i].call);
                br->rd[i].call = NULL;
                br->rd[i].state = SH_IDLE;
            }
        if (br->on_pool > 0)
            return; /* a verification still running; it settles again */
        br->build.data = br;
        br->on_pool++;
        if (uv_queue_work(br->gw->loop, &br->build, build_work, after_build) != 0) {
            br->on_pool--;
            fail_with(br, TG_ERR_IO, "cannot queue the stripe's rebuild");
        }
        return;
    }
    while (br->good + in_flight(br) < br->sp->k && br->next < br->sp->n)
        start_next(br);
    if (br->good + in_flight(br) < br->sp->k) {
        log_error("block %lld: %d of its %d shards could be read, %d are needed", (long long)br->blk.id, br->good,
                  br->sp->k + br->sp->m, br->sp->k);
        if (in_flight(br) == 0)
            deliver(br, &br->last, NULL, 0);
    }
}

/* The order shards are tried in: data shards before parity (no decoding
 * when they all arrive), and shards in chats known to refuse last. */
static void plan(struct gw_block_read *br)
{
    int n = 0;
    for (int pass = 0; pass < 4; pass++)
        for (int i = 0; i < br->sp->n; i++) {
            const struct store_shard *sh = &br->sp->sh[i];
            int ci = gw_chat_index(br->gw, sh->chat_id);
            int healthy = ci < 0 || gw_chat_state(br->gw, (size_t)ci) == GW_CHAT_OK;
            int data = sh->idx < br->sp->k;
            if (pass == (healthy ? 0 : 2) + (data ? 0 : 1))
                br->order[n++] = i;
        }
}

/* ---- the index says how the block is stored ------------------------------------ */

static void read_stripe(struct gw_block_read *br);

static void lookup_run(struct store *st, void *arg)
{
    struct gw_block_read *br = arg;
    br->sp = xmalloc(sizeof(*br->sp));
    br->st = store_stripe_get(st, br->blk.id, br->sp);
}

static void lookup_done(void *arg)
{
    struct gw_block_read *br = arg;
    struct gw *gw = br->gw;
    br->store_busy = 0;
    if (br->cancelled) {
        br_free(br);
        return;
    }
    if (br->st == STORE_NOT_FOUND) {
        free(br->sp);
        br->sp = NULL;
        br->plain = gw_read_start(gw, &br->blk, on_plain, br);
        return;
    }
    if (br->st != STORE_OK) {
        log_error("block %lld: cannot look up its stripe: %s", (long long)br->blk.id, store_status_name(br->st));
        fail_with(br, TG_ERR_IO, "the block's stripe cannot be looked up");
        return;
    }
    read_stripe(br);
}

/* br->sp known: read its shards. */
static void read_stripe(struct gw_block_read *br)
{
    br->ec = gw_ec_for(br->gw, br->sp->k, br->sp->m);
    if (br->ec == NULL) {
        log_error("block %lld: no Reed-Solomon tables for its layout %d+%d", (long long)br->blk.id, br->sp->k,
                  br->sp->m);
        fail_with(br, TG_ERR_IO, "the block's stripe has no usable layout");
        return;
    }
    plan(br);
    uv_timer_init(br->gw->loop, &br->hedge);
    br->hedge.data = br;
    br->hedge_init = 1;
    uv_timer_start(&br->hedge, on_hedge, HEDGE_MS, HEDGE_MS);
    settle(br);
}

struct gw_block_read *gw_block_read_stripe(struct gw *gw, const struct store_block *blk, const struct store_stripe *sp,
                                           tg_fetch_cb cb, void *ud)
{
    struct gw_block_read *br = xcalloc(1, sizeof(*br));
    br->gw = gw;
    br->blk = *blk;
    br->cb = cb;
    br->ud = ud;
    br->sp = xmalloc(sizeof(*br->sp));
    *br->sp = *sp;
    read_stripe(br);
    return br;
}

struct gw_block_read *gw_block_read_start(struct gw *gw, const struct store_block *blk, tg_fetch_cb cb, void *ud)
{
    struct gw_block_read *br = xcalloc(1, sizeof(*br));
    br->gw = gw;
    br->blk = *blk;
    br->cb = cb;
    br->ud = ud;
    if (blk->id <= 0) { /* not in the index (a snapshot, a pack being read back): one document */
        br->plain = gw_read_start(gw, blk, on_plain, br);
        return br;
    }
    br->store_busy = 1;
    gw_store_call(gw, lookup_run, lookup_done, br);
    return br;
}

void gw_block_read_cancel(struct gw_block_read *br)
{
    if (br == NULL)
        return;
    if (br->plain != NULL) {
        gw_read_cancel(br->plain);
        br->plain = NULL;
    }
    br->cancelled = 1;
    for (int i = 0; br->sp != NULL && i < br->sp->n; i++)
        if (br->rd[i].call != NULL) {
            gw_read_cancel(br->rd[i].call);
            br->rd[i].call = NULL;
        }
    br_free(br);
}

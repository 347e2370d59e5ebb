/* admin.c — the admin listener: /metrics, /healthz, /readyz, request counters and the access log.
 *
 * DESIGN: a second h2o configuration and context on the gateway's loop,
 * bound to --admin-listen (default 127.0.0.1:9001), never to the S3 port
 * where "/metrics" would be a bucket name. It serves three paths:
 *   /metrics  Prometheus text format (version 0.0.4)
 *   /healthz  200 while the loop runs
 *   /readyz   200 while the last periodic getMe to the Bot API server
 *             succeeded, every stripe keeps at least K shards (the last
 *             index read) and the gateway is not stopping, else 503
 * Every --health-interval a timer sends one getMe (bot 1) and, on the store
 * thread, reads the index totals (store_stats_get), so no SQLite runs on
 * the loop; /metrics shows the last figures read. At most one of each is
 * outstanding.
 *
 * The getMe has its own deadline, 3/4 of the interval and at most
 * PROBE_MAX_MS, not the client's transfer timeout (600 s by default): a
 * server that is alive but hung (stopped, deadlocked) accepts connections
 * and never answers, and must still show as not ready. A probe sent at a
 * tick thus ends before the next tick, so a hang is seen within two
 * intervals and recovery within one after the server answers again. Only
 * the probe's own connection is closed when it times out.
 *
 * Counters live here and are touched on the loop thread only: requests by
 * (operation, status), bytes in (request bodies) and out (response bodies).
 * The Bot API client keeps its own counters (tg_client_stats); the intake,
 * the budgets, the scheduler, the delete queue and the cache each hand theirs
 * over through an accessor (gw_intake_counters and friends, gw.h).
 *
 * Lifetime: gw_admin_start after the S3 listener; gw_admin_stop when the
 * loop has stopped (closes the listener, cancels the getMe); the store job,
 * if any, completes while the store thread shuts down (gw_storeq_free);
 * gw_admin_dispose after that frees everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "gateway/engine/cache.h"
#include "gateway/gw.h"

#define ADMIN_MAX_CONNECTIONS 64
#define ADMIN_MAX_BODY (1u << 20) /* bytes: the largest /metrics answer */
#define REQ_SLOTS 512             /* distinct (operation, status) pairs counted */
#define PROBE_MAX_MS 10000        /* ms: the longest a getMe probe may take */

struct req_count {
    uint16_t op;
    uint16_t status; /* 0: slot unused */
    uint64_t n;
};

struct stats_job {
    struct gw_admin *a;
    struct store_stats s;
    struct store_stripe_counts sc;
    int64_t repair_shards, repair_blocks;
    enum store_status st;
};

struct gw_admin {
    struct gw *gw;
    h2o_globalconf_t conf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    int listening, ctx_ready;
    int connections;
    uv_timer_t timer;
    int timer_on;
    int handles_open; /* timer and listener not yet through their close callbacks */

    struct tg_call *me_call; /* getMe in flight */
    long probe_timeout_ms;   /* ms: deadline of each getMe */
    int ready;               /* the last getMe succeeded */
    int64_t ready_changed_ms;
    int stats_busy;          /* a store_stats_get job is queued */
    int have_stats;
    struct store_stats index;
    struct store_stripe_counts stripes; /* read with index */
    int64_t repair_shards;              /* the repair queue's length, read with index */

    struct req_count reqs[REQ_SLOTS];
    uint64_t reqs_dropped; /* pairs beyond REQ_SLOTS */
    uint64_t dur_ms[S3_OP__COUNT]; /* ms: request durations summed per operation */
    uint64_t dur_n[S3_OP__COUNT];
    uint64_t bytes_in, bytes_out;
};

/* ---- counters and the access log -------------------------------------------- */

static void count_request(struct gw_admin *a, int op, int status)
{
    size_t h = ((size_t)op * 31u + (size_t)status) % REQ_SLOTS;
    for (size_t i = 0; i < REQ_SLOTS; i++) {
        struct req_count *c = &a->reqs[(h + i) % REQ_SLOTS];
        if (c->status == 0) {
            c->op = (uint16_t)op;
            c->status = (uint16_t)status;
        }
        if (c->op == op && c->status == status) {
            c->n++;
            return;
        }
    }
    a->reqs_dropped++;
}

static int64_t ms_since(const struct timeval *t)
{
    if (t->tv_sec == 0 && t->tv_usec == 0)
        return 0;
    struct timeval now;
    gettimeofday(&now, NULL);
    int64_t ms = ((int64_t)now.tv_sec - t->tv_sec) * 1000 + ((int64_t)now.tv_usec - t->tv_usec) / 1000;
    return ms < 0 ? 0 : ms;
}

void gw_admin_request_done(struct gw_req *r)
{
    h2o_req_t *req = r->req;
    struct gw_admin *a = r->gw->admin;
    if (req == NULL)
        return;
    /* 0: the client went away before a response was started (nginx's 499). */
    int status = req->res.status != 0 ? req->res.status : 499;
    size_t in = r->body != NULL ? (size_t)gw_body_received(r->body) : req->entity.base ? req->entity.len : 0;
    size_t out = req->bytes_sent;
    int64_t ms = ms_since(&req->timestamps.request_begin_at);
    if (a != NULL) {
        count_request(a, (int)r->route.op, status);
        if ((unsigned)r->route.op < S3_OP__COUNT) {
            a->dur_ms[r->route.op] += (uint64_t)ms;
            a->dur_n[r->route.op]++;
        }
        a->bytes_in += in;
        a->bytes_out += out;
    }
    if (log_get_level() <= LOG_INFO) {
        size_t plen = r->s3.path_len > 512 ? 512 : r->s3.path_len;
        log_info("access %s %s %d in=%zu out=%zu %lldms user=%s %.*s %.*s", r->id, s3_op_name(r->route.op), status,
                 in, out, (long long)ms,
                 r->has_auth ? r->auth.access_key : "-", (int)req->method.len, req->method.base, (int)plen,
                 r->s3.path ? r->s3.path : "");
    }
}

/* ---- /metrics ------------------------------------------------------------------- */

static int metric(struct dbuf *b, const char *name, const char *type, const char *help)
{
    return dbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one unlabelled value: its HELP and TYPE lines, then the value. */
static int metric_u64(struct dbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    return metric(b, name, type, help) | dbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Requests by operation and status, their durations, bytes in and out, requests and connections open. */
static int render_requests(const struct gw_admin *a, struct dbuf *b)
{
    const struct gw *gw = a->gw;
    int rc = 0;
    rc |= metric(b, "tgs3_requests_total", "counter", "S3 requests by operation and HTTP status");
    for (size_t i = 0; i < REQ_SLOTS; i++)
        if (a->reqs[i].status != 0)
            rc |= dbuf_printf(b, "tgs3_requests_total{op=\"%s\",status=\"%d\"} %llu\n",
                              s3_op_name((enum s3_op)a->reqs[i].op), a->reqs[i].status,
                              (unsigned long long)a->reqs[i].n);
    rc |= metric(b, "tgs3_request_duration_seconds", "summary",
                 "time from the first request byte to the end of the response, per operation");
    for (size_t i = 0; i < S3_OP__COUNT; i++)
        if (a->dur_n[i] != 0)
            rc |= dbuf_printf(b,
                              "tgs3_request_duration_seconds_sum{op=\"%s\"} %.3f\n"
                              "tgs3_request_duration_seconds_count{op=\"%s\"} %llu\n",
                              s3_op_name((enum s3_op)i), (double)a->dur_ms[i] / 1000.0,
                              s3_op_name((enum s3_op)i), (unsigned long long)a->dur_n[i]);
    rc |= metric_u64(b, "tgs3_bytes_in_total", "counter", "request body bytes received", a->bytes_in);
    rc |= metric_u64(b, "tgs3_bytes_out_total", "counter", "response body bytes sent", a->bytes_out);
    rc |= metric(b, "tgs3_requests_active", "gauge", "requests being processed");
    rc |= dbuf_printf(b, "tgs3_requests_active %d\n", gw->active);
    rc |= metric(b, "tgs3_connections", "gauge", "open S3 client connections");
    rc |= dbuf_printf(b, "tgs3_connections %d\n", gw->connections);
    return rc;
}

/* The Bot API client's calls, 429s and waits, the scheduler's wait, and the last getMe. */
static int render_telegram(const struct gw_admin *a, struct dbuf *b)
{
    struct gw *gw = a->gw;
    struct tg_stats ts;
    struct gw_sched_counters sc;
    int rc = 0;

    memset(&ts, 0, sizeof(ts));
    if (gw->tg != NULL)
        tg_client_stats(gw->tg, &ts);
    gw_sched_counters(gw, &sc);
    rc |= metric(b, "tgs3_telegram_calls_total", "counter", "Bot API HTTP attempts by method and result");
    for (size_t m = 0; m < TG_STATS_METHODS; m++)
        for (size_t s = 0; s < TG_STATS_RESULTS; s++)
            if (ts.calls[m][s] != 0)
                rc |= dbuf_printf(b, "tgs3_telegram_calls_total{method=\"%s\",result=\"%s\"} %llu\n",
                                  tg_stats_method_name(m), tg_status_name((enum tg_status)s),
                                  (unsigned long long)ts.calls[m][s]);
    rc |= metric_u64(b, "tgs3_telegram_429_total", "counter", "Bot API answers 429 Too Many Requests", ts.rate_limited);
    rc |= metric(b, "tgs3_telegram_wait_seconds_total", "counter", "seconds waited on retry_after after 429s");
    rc |= dbuf_printf(b, "tgs3_telegram_wait_seconds_total %.3f\n", (double)ts.wait_ms / 1000.0);
    rc |= metric(b, "tgs3_schedule_wait_seconds_total", "counter",
                 "seconds blocks waited for a (bot, chat) pair under the rate limits, summed");
    rc |= dbuf_printf(b, "tgs3_schedule_wait_seconds_total %.3f\n", (double)sc.wait_ms / 1000.0);
    rc |= metric(b, "tgs3_telegram_inflight_calls", "gauge", "Bot API calls in flight");
    rc |= dbuf_printf(b, "tgs3_telegram_inflight_calls %zu\n", gw->tg ? tg_client_inflight(gw->tg) : (size_t)0);
    rc |= metric(b, "tgs3_botapi_up", "gauge", "1 if the last periodic getMe succeeded");
    rc |= dbuf_printf(b, "tgs3_botapi_up %d\n", a->ready);
    return rc;
}

/* The upload and fetch budgets, the queues, and the scheduler's pairs and chats. */
static int render_budgets(const struct gw *gw, struct dbuf *b)
{
    struct gw_budget_counters up, fetch;
    struct gw_sched_counters sc;
    int rc = 0;

    gw_put_counters(gw, &up);
    gw_fetch_counters(gw, &fetch);
    gw_sched_counters(gw, &sc);
    rc |= metric(b, "tgs3_inflight_upload_blocks", "gauge", "blocks being posted to Telegram");
    rc |= dbuf_printf(b, "tgs3_inflight_upload_blocks %d\n", up.held);
    rc |= metric(b, "tgs3_inflight_fetch_blocks", "gauge", "fetched block buffers held (fetching or fetched)");
    rc |= dbuf_printf(b, "tgs3_inflight_fetch_blocks %d\n", fetch.held);
    rc |= metric(b, "tgs3_queue_waiting", "gauge", "requests waiting for a budget slot, blocks waiting for a pair");
    rc |= dbuf_printf(b, "tgs3_queue_waiting{kind=\"upload\"} %d\ntgs3_queue_waiting{kind=\"fetch\"} %d\n",
                      up.waiting, fetch.waiting);
    rc |= dbuf_printf(b, "tgs3_queue_waiting{kind=\"post\"} %zu\n", sc.post_waiting);
    if (gw->pool != NULL) {
        rc |= metric(b, "tgs3_telegram_posts_total", "counter", "posts scheduled per (bot, chat) pair");
        for (size_t i = 0; i < gw->n_bots; i++)
            for (size_t k = 0; k < gw->cfg.n_chat_ids; k++)
                rc |= dbuf_printf(b, "tgs3_telegram_posts_total{bot=\"%lld\",chat=\"%lld\"} %llu\n",
                                  (long long)gw->bots[i].id, (long long)gw->cfg.chat_ids[k],
                                  (unsigned long long)tg_pool_pair_stats(gw->pool, i, k).posts);
        rc |= metric(b, "tgs3_chat_open", "gauge", "1 while a chat takes new blocks (0: rolled over)");
        for (size_t k = 0; k < gw->cfg.n_chat_ids; k++)
            rc |= dbuf_printf(b, "tgs3_chat_open{chat=\"%lld\"} %d\n", (long long)gw->cfg.chat_ids[k],
                              tg_pool_chat_is_open(gw->pool, k));
        rc |= metric(b, "tgs3_upload_posts_per_minute", "gauge", "posts per minute the open pairs sustain");
        rc |= dbuf_printf(b, "tgs3_upload_posts_per_minute %.1f\n", tg_pool_rate_per_min(gw->pool));
        int64_t now = mono_ms();
        long sum = 0;
        rc |= metric(b, "tgs3_pair_allowance", "gauge",
                     "posts a (bot, chat) pair may make in any 60 s: --rate-pair-per-min, halved by 429s, "
                     "one back per window without");
        for (size_t i = 0; i < gw->n_bots; i++)
            for (size_t k = 0; k < gw->cfg.n_chat_ids; k++) {
                int a = tg_pool_pair_allowance(gw->pool, i, k, now);
                sum += a;
                rc |= dbuf_printf(b, "tgs3_pair_allowance{bot=\"%lld\",chat=\"%lld\"} %d\n",
                                  (long long)gw->bots[i].id, (long long)gw->cfg.chat_ids[k], a);
            }
        rc |= metric(b, "tgs3_pair_allowance_sum", "gauge", "tgs3_pair_allowance over all pairs");
        rc |= dbuf_printf(b, "tgs3_pair_allowance_sum %ld\n", sum);
        rc |= metric_u64(b, "tgs3_rate_limited_total", "counter", "429s answered to posts the scheduler placed",
                         tg_pool_rate_limited(gw->pool));
    }
    if (gw->chat_blocks != NULL) {
        rc |= metric(b, "tgs3_chat_blocks", "gauge", "blocks held per chat (for rollover)");
        for (size_t k = 0; k < gw->cfg.n_chat_ids; k++)
            rc |= dbuf_printf(b, "tgs3_chat_blocks{chat=\"%lld\"} %lld\n", (long long)gw->cfg.chat_ids[k],
                              (long long)gw->chat_blocks[k]);
    }
    return rc;
}

/* The delete queue, compaction, the intake's refusals and spill, the block cache and verified blocks. */
static int render_engine(const struct gw *gw, struct dbuf *b)
{
    struct gw_gc_counters gc;
    struct gw_intake_counters in;
    uint64_t hits = 0, misses = 0, joined = 0;
    int rc = 0;

    gw_gc_counters(gw, &gc);
    gw_intake_counters(gw, &in);
    gw_cache_counters(gw, &hits, &misses, &joined);
    rc |= metric_u64(b, "tgs3_gc_deleted_total", "counter", "messages deleted by the delete queue", gc.deleted);
    rc |= metric_u64(b, "tgs3_pack_compacted_objects_total", "counter", "packed objects moved out of mostly dead packs", gw_compact_moved(gw));
    rc |= metric_u64(b, "tgs3_streamed_bodies_total", "counter", "PUT and part bodies read from the socket as they arrived", in.bodies_streamed);
    rc |= metric_u64(b, "tgs3_heads_refused_total", "counter", "requests answered before their body was read (framing, authentication, --max-spill)", in.heads_refused);
    rc |= metric_u64(b, "tgs3_header_timeouts_total", "counter", "connections closed for a head not complete in --header-timeout", in.header_timeouts);
    rc |= metric_u64(b, "tgs3_connections_evicted_total", "counter", "idle connections closed to make room at --max-connections", in.conns_evicted);
    rc |= metric_u64(b, "tgs3_bodies_too_slow_total", "counter", "streamed bodies ended below --body-min-rate", in.bodies_too_slow);
    rc |= metric_u64(b, "tgs3_spill_bytes", "gauge", "bytes of request bodies buffered (or reserved) for authenticated requests", in.spill_held);
    rc |= metric_u64(b, "tgs3_gc_failed_total", "counter", "message deletions that failed (retried later)", gc.failed);
    rc |= metric_u64(b, "tgs3_gc_unreclaimable_total", "counter", "messages Telegram would no longer delete", gc.unreclaimable);
    rc |= metric_u64(b, "tgs3_cache_hits_total", "counter", "block reads served from the disk cache", hits);
    rc |= metric_u64(b, "tgs3_cache_misses_total", "counter", "block reads that went to Telegram", misses);
    rc |= metric_u64(b, "tgs3_cache_joined_total", "counter", "block reads that joined a fetch already running", joined);
    struct gw_lifecycle_counters lc;
    gw_lifecycle_counters(gw, &lc);
    rc |= metric(b, "tgs3_lifecycle_expired_total", "counter", "versions, delete markers and uploads removed by lifecycle rules");
    rc |= dbuf_printf(b, "tgs3_lifecycle_expired_total{kind=\"current\"} %llu\n", (unsigned long long)lc.expired_current);
    rc |= dbuf_printf(b, "tgs3_lifecycle_expired_total{kind=\"noncurrent\"} %llu\n", (unsigned long long)lc.expired_noncurrent);
    rc |= dbuf_printf(b, "tgs3_lifecycle_expired_total{kind=\"delete_marker\"} %llu\n", (unsigned long long)lc.expired_markers);
    rc |= dbuf_printf(b, "tgs3_lifecycle_expired_total{kind=\"upload\"} %llu\n", (unsigned long long)lc.aborted_uploads);
    rc |= metric_u64(b, "tgs3_lifecycle_locked_skipped_total", "counter", "versions lifecycle runs left in place, under retention or a legal hold (again at each run)", lc.locked_skipped);
    rc |= metric_u64(b, "tgs3_lifecycle_runs_total", "counter", "lifecycle runs finished", lc.runs);
    rc |= metric_u64(b, "tgs3_lifecycle_last_run_seconds", "gauge", "when the last lifecycle run finished (unix seconds on the gateway's clock; 0: never)", (uint64_t)(lc.last_run_ms / 1000));
    rc |= metric(b, "tgs3_verified_block_bytes", "gauge", "plaintext of verified blocks kept in memory for re-reading");
    rc |= dbuf_printf(b, "tgs3_verified_block_bytes %zu\n", gw_opened_bytes(gw));
    return rc;
}

/* The index totals last read on the store thread (none until the first read). */
static int render_index(const struct gw_admin *a, struct dbuf *b)
{
    int rc = 0;
    if (!a->have_stats)
        return 0;
    rc |= metric_u64(b, "tgs3_gc_backlog", "gauge", "messages on the delete queue", (uint64_t)a->index.gc_pending);
    rc |= metric_u64(b, "tgs3_index_buckets", "gauge", "buckets in the index", (uint64_t)a->index.buckets);
    rc |= metric_u64(b, "tgs3_index_objects", "gauge", "objects in the index", (uint64_t)a->index.objects);
    rc |= metric_u64(b, "tgs3_index_bytes", "gauge", "bytes of all objects", (uint64_t)a->index.bytes);
    rc |= metric_u64(b, "tgs3_index_blocks", "gauge", "blocks (Telegram documents) referenced", (uint64_t)a->index.blocks);
    rc |= metric_u64(b, "tgs3_index_block_bytes", "gauge", "stored bytes of all blocks", (uint64_t)a->index.block_bytes);
    rc |= metric_u64(b, "tgs3_index_uploads", "gauge", "unfinished multipart uploads", (uint64_t)a->index.uploads);
    return rc;
}

/* Redundancy: the layout of new blocks, the chats' health, and how whole the stripes are. */
static int render_redundancy(const struct gw_admin *a, struct dbuf *b)
{
    const struct gw *gw = a->gw;
    size_t refusing, lost;
    int rc = 0;
    gw_chats_counters(gw, &refusing, &lost);
    rc |= metric(b, "tgs3_redundancy_shards", "gauge",
                 "layout of new blocks: data and parity shards per block (parity 0: unprotected)");
    rc |= dbuf_printf(b, "tgs3_redundancy_shards{kind=\"data\"} %d\ntgs3_redundancy_shards{kind=\"parity\"} %d\n",
                      gw->red_k, gw->red_m);
    rc |= metric_u64(b, "tgs3_unprotected", "gauge",
                     "1 when new blocks survive no lost channel (one chat, or --redundancy none)", gw->red_m == 0);
    rc |= metric(b, "tgs3_chats", "gauge", "storage chats by health");
    rc |= dbuf_printf(b, "tgs3_chats{state=\"ok\"} %zu\ntgs3_chats{state=\"refusing\"} %zu\ntgs3_chats{state=\"lost\"} %zu\n",
                      gw->cfg.n_chat_ids - refusing - lost, refusing, lost);
    struct gw_repair_counters rp;
    gw_repair_counters(gw, &rp);
    rc |= metric_u64(b, "tgs3_repaired_shards_total", "counter", "shards rebuilt into live chats", rp.shards_repaired);
    rc |= metric_u64(b, "tgs3_repaired_blocks_total", "counter", "stripes made whole again", rp.blocks_repaired);
    rc |= metric_u64(b, "tgs3_repair_failures_total", "counter", "repairs put back for later", rp.failed);
    struct gw_scrub_counters sc;
    gw_scrub_counters(gw, &sc);
    rc |= metric_u64(b, "tgs3_upgraded_blocks_total", "counter",
                     "blocks stored as one document upgraded to stripes by the scrub, since start",
                     sc.blocks_upgraded);
    if (!a->have_stats)
        return rc;
    rc |= metric_u64(b, "tgs3_repair_backlog", "gauge", "shards queued for rebuilding", (uint64_t)a->repair_shards);
    rc |= metric(b, "tgs3_stripes", "gauge",
                 "blocks by redundancy: healthy (all K+M shards), degraded (at least K), lost (fewer than K), "
                 "unprotected (one document)");
    rc |= dbuf_printf(b,
                      "tgs3_stripes{state=\"healthy\"} %lld\ntgs3_stripes{state=\"degraded\"} %lld\n"
                      "tgs3_stripes{state=\"lost\"} %lld\ntgs3_stripes{state=\"unprotected\"} %lld\n",
                      (long long)a->stripes.healthy, (long long)a->stripes.degraded, (long long)a->stripes.lost,
                      (long long)a->stripes.unprotected);
    return rc;
}

/* The index in Telegram: the journal's lag and the chain's progress (journal.c). */
static int render_journal(const struct gw_admin *a, struct dbuf *b)
{
    const struct gw *gw = a->gw;
    int rc = 0;
    struct gw_journal_counters jc;
    gw_journal_counters(gw, &jc);
    if (jc.on) {
        rc |= metric(b, "tgs3_journal_lag_seconds", "gauge", "age of the oldest index change not yet in Telegram");
        rc |= dbuf_printf(b, "tgs3_journal_lag_seconds %.3f\n", (double)jc.lag_ms / 1000.0);
        rc |= metric_u64(b, "tgs3_journal_seq", "gauge", "the index chain's last journal document", (uint64_t)jc.seq);
        rc |= metric_u64(b, "tgs3_journal_pending", "gauge", "changesets waiting for Telegram", jc.pending);
        rc |= metric_u64(b, "tgs3_journal_documents_total", "counter", "journal documents posted", jc.docs);
        rc |= metric_u64(b, "tgs3_journal_bytes_total", "counter", "changeset bytes posted", jc.bytes);
        rc |= metric_u64(b, "tgs3_snapshots_total", "counter", "snapshots that began a new chain", jc.snapshots);
        rc |= metric_u64(b, "tgs3_journal_failures_total", "counter", "journal or snapshot posts retried", jc.failures);
        rc |= metric_u64(b, "tgs3_journal_takes_total", "counter", "looks at the index's changes (empty ones too)",
                         jc.takes);
    }
    return rc;
}

/* The whole /metrics answer into b: 0, or -1 when it outgrew b's limit. */
static int render_metrics(struct gw_admin *a, struct dbuf *b)
{
    int rc = 0;
    rc |= render_requests(a, b);
    rc |= render_telegram(a, b);
    rc |= render_budgets(a->gw, b);
    rc |= render_engine(a->gw, b);
    rc |= render_index(a, b);
    rc |= render_redundancy(a, b);
    rc |= render_journal(a, b);
    return rc == 0 ? 0 : -1;
}

/* ---- HTTP ------------------------------------------------------------------------ */

static void respond(h2o_req_t *req, int status, const char *reason, const char *type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    req->res.content_length = len;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        static h2o_generator_t gen = {NULL, NULL};
        h2o_start_response(req, &gen);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    h2o_send_inline(req, body, len);
}

/* Every stripe still has K shards (as of the last index read): every block can be read. */
static int stripes_readable(const struct gw_admin *a)
{
    return !a->have_stats || a->stripes.lost == 0;
}

static int is_ready(const struct gw_admin *a)
{
    return a->ready && !a->gw->stopping && stripes_readable(a);
}

static int on_admin_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct gw_admin *a = *(struct gw_admin **)(self + 1);
    static const char text[] = "text/plain; charset=utf-8";
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path_normalized.len;
    const char *p = req->path_normalized.base;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        respond(req, 405, "Method Not Allowed", text, H2O_STRLIT("method not allowed\n"));
        return 0;
    }
    if (h2o_memis(p, plen, H2O_STRLIT("/healthz"))) {
        respond(req, 200, "OK", text, H2O_STRLIT("ok\n"));
    } else if (h2o_memis(p, plen, H2O_STRLIT("/readyz"))) {
        if (is_ready(a))
            respond(req, 200, "OK", text, H2O_STRLIT("ready\n"));
        else if (a->gw->stopping)
            respond(req, 503, "Service Unavailable", text, H2O_STRLIT("stopping\n"));
        else if (!stripes_readable(a))
            respond(req, 503, "Service Unavailable", text,
                    H2O_STRLIT("stripes with fewer than K shards: some blocks cannot be read (tgs3_stripes)\n"));
        else
            respond(req, 503, "Service Unavailable", text, H2O_STRLIT("Bot API server not answering getMe\n"));
    } else if (h2o_memis(p, plen, H2O_STRLIT("/metrics"))) {
        struct dbuf b;
        dbuf_init(&b, ADMIN_MAX_BODY);
        if (render_metrics(a, &b) != 0)
            respond(req, 500, "Internal Server Error", text, H2O_STRLIT("metrics exceed the size limit\n"));
        else
            respond(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.ptr ? b.ptr : "", b.len);
        dbuf_release(&b);
    } else {
        respond(req, 404, "Not Found", text, H2O_STRLIT("not found: try /metrics, /healthz or /readyz\n"));
    }
    return 0;
}

/* h2o owns handle->data of accepted sockets, so the admin pointer rides beside the handle. */
struct admin_conn {
    uv_tcp_t tcp;
    struct gw_admin *a;
};

static void on_conn_closed(uv_handle_t *h)
{
    struct admin_conn *c = (struct admin_conn *)h;
    c->a->connections--;
    free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct gw_admin *a = listener->data;
    if (status != 0)
        return;
    struct admin_conn *c = xmalloc(sizeof(*c));
    c->a = a;
    uv_tcp_init(listener->loop, &c->tcp);
    a->connections++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || a->connections > ADMIN_MAX_CONNECTIONS) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(&a->accept, sock);
}

/* ---- periodic checks ---------------------------------------------------------- */

static void on_me(void *ud, const struct tg_result *res, const struct tg_bot_info *bot)
{
    struct gw_admin *a = ud;
    (void)bot;
    a->me_call = NULL;
    int ok = res->status == TG_OK;
    if (ok != a->ready) {
        if (ok)
            log_info("Bot API server answers getMe again: ready");
        else
            log_warn("Bot API server check failed: %s (%s; getMe deadline %ld ms): not ready",
                     tg_status_name(res->status), res->description, a->probe_timeout_ms);
        a->ready = ok;
        a->ready_changed_ms = mono_ms();
    }
}

static void stats_run(struct store *st, void *arg)
{
    struct stats_job *j = arg;
    j->st = store_stats_get(st, &j->s);
    if (j->st == STORE_OK)
        j->st = store_stripe_counts(st, &j->sc);
    if (j->st == STORE_OK)
        j->st = store_repair_backlog(st, &j->repair_shards, &j->repair_blocks);
}

static void stats_done(void *arg)
{
    struct stats_job *j = arg;
    struct gw_admin *a = j->a;
    a->stats_busy = 0;
    if (j->st == STORE_OK) {
        a->index = j->s;
        a->stripes = j->sc;
        a->repair_shards = j->repair_shards;
        a->have_stats = 1;
    } else {
        log_warn("metrics: cannot read index totals: %s", store_status_name(j->st));
    }
    free(j);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct gw_admin *a = h->data;
    a->handles_open--;
}

static void on_tick(uv_timer_t *t)
{
    struct gw_admin *a = t->data;
    struct gw *gw = a->gw;
    if (gw->stopping)
        return;
    if (a->me_call == NULL && gw->tg != NULL && gw->n_bots > 0)
        a->me_call = tg_get_me_within(gw->tg, gw->bots[0].token, a->probe_timeout_ms, on_me, a);
    gw_chats_check(gw); /* chats that refused documents: back, or lost */
    if (!a->stats_busy && gw->storeq != NULL) {
        struct stats_job *j = xcalloc(1, sizeof(*j));
        j->a = a;
        a->stats_busy = 1;
        gw_store_call(gw, stats_run, stats_done, j);
    }
}

/* ---- lifecycle -------------------------------------------------------------------- */

/* The getMe deadline for a health interval (see the note at the top). */
static long probe_timeout(int64_t interval_ms)
{
    int64_t t = interval_ms * 3 / 4;
    if (t > PROBE_MAX_MS)
        t = PROBE_MAX_MS;
    return t < 1 ? 1 : (long)t;
}

int gw_admin_start(struct gw *gw)
{
    struct gw_admin *a = xcalloc(1, sizeof(*a));
    gw->admin = a;
    a->gw = gw;
    a->ready = 1; /* the start-up checks have just passed */
    a->probe_timeout_ms = probe_timeout(gw->cfg.health_interval_ms);
    gw->request_done = gw_admin_request_done;

    uv_timer_init(gw->loop, &a->timer);
    a->timer.data = a;
    a->timer_on = 1;
    a->handles_open++;
    uv_timer_start(&a->timer, on_tick, 0, (uint64_t)gw->cfg.health_interval_ms);

    if (gw->cfg.admin_listen == NULL || !strcmp(gw->cfg.admin_listen, "off"))
        return 0;
    char host[256];
    const char *colon = strrchr(gw->cfg.admin_listen, ':');
    size_t hl = colon ? (size_t)(colon - gw->cfg.admin_listen) : 0;
    if (colon == NULL || hl >= sizeof(host)) {
        log_error("--admin-listen %s: expected HOST:PORT", gw->cfg.admin_listen);
        return -1;
    }
    memcpy(host, gw->cfg.admin_listen, hl);
    host[hl] = '\0';

    h2o_config_init(&a->conf);
    a->conf.server_name = h2o_iovec_init(H2O_STRLIT("tgs3-admin"));
    a->conf.max_request_entity_size = 4096;
    a->conf.http1.req_timeout = 10000;
    a->conf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *hostconf = h2o_config_register_host(&a->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler) + sizeof(struct gw_admin *));
    *(struct gw_admin **)(handler + 1) = a;
    handler->on_req = on_admin_req;
    h2o_context_init(&a->ctx, gw->loop, &a->conf);
    a->ctx_ready = 1;
    a->accept.ctx = &a->ctx;
    a->accept.hosts = a->conf.hosts;

    struct sockaddr_in addr;
    int port = parse_port(colon + 1);
    if (port < 0 || uv_ip4_addr(host, port, &addr) != 0) {
        log_error("--admin-listen %s: not an IPv4 address and port", gw->cfg.admin_listen);
        return -1;
    }
    uv_tcp_init(gw->loop, &a->listener);
    a->listener.data = a;
    a->listening = 1;
    a->handles_open++;
    int rc = uv_tcp_bind(&a->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, 64, on_accept);
    if (rc != 0) {
        log_error("cannot listen on %s (--admin-listen): %s", gw->cfg.admin_listen, uv_strerror(rc));
        return -1;
    }
    log_info("admin listener on %s: /metrics /healthz /readyz", gw->cfg.admin_listen);
    return 0;
}

void gw_admin_stop(struct gw *gw)
{
    struct gw_admin *a = gw->admin;
    if (a == NULL)
        return;
    if (a->timer_on) {
        a->timer_on = 0;
        uv_timer_stop(&a->timer);
        uv_close((uv_handle_t *)&a->timer, on_handle_closed);
    }
    if (a->me_call != NULL) {
        tg_call_cancel(a->me_call);
        a->me_call = NULL;
    }
    if (a->listening) {
        a->listening = 0;
        uv_close((uv_handle_t *)&a->listener, on_handle_closed);
    }
}

void gw_admin_dispose(struct gw *gw)
{
    struct gw_admin *a = gw->admin;
    if (a == NULL)
        return;
    ASSERT(!a->stats_busy && !a->timer_on && !a->listening);
    while (a->handles_open > 0)
        uv_run(gw->loop, UV_RUN_ONCE);
    if (a->ctx_ready) {
        h2o_context_dispose(&a->ctx);
        h2o_config_dispose(&a->conf);
    }
    free(a);
    gw->admin = NULL;
}

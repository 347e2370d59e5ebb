/* main.c — tgs3-botapi: a local emulator of the self-hosted Telegram Bot API server.
 *
 * DESIGN. One thread, one libuv loop, h2o 2.2 as the HTTP server. h2o buffers every request
 * body whole (large ones spill to an mmap'd file under DIR/tmp), then on_req routes:
 *   /bot<token>/<method>          Bot API methods (methods.c), JSON answers
 *   /file/bot<token>/<file_path>  downloads, non-local mode only (the real local server has none)
 *   /_emulator/stats              counters for tests and benchmarks
 * Telegram's behaviour on demand, all on uv timers (nothing blocks the loop):
 *   --bandwidth     a request with a body runs only after the body would have arrived at that
 *                   rate; /file/ downloads are paced to it; a local getFile answers after the
 *                   file would have downloaded
 *   --rate-chat/--rate-bot with --flood-wait-max   sliding windows (methods.c); a flood wait
 *                   within the maximum runs the call again later instead of answering 429
 *   --latency-ms    every API answer waits this long
 *   --fail-drop     the connection is closed before the method runs (h2o 2.2 has buffered the
 *                   body by then, so the client may well have sent all of it)
 *   --fail-lost     sendDocument posts, then the connection is closed without an answer, as
 *                   the real server's 500 s idle timer does (at once here, so tests stay fast)
 *   --fail-429/--fail-5xx/--fail-getfile   answers of methods.c
 *   --file-ttl      a 1 s timer removes downloaded files past their time (local mode)
 *   --store-ram     documents in memory taken once before listening (docs.c)
 * State lives under --dir and survives restarts (state.c). SIGTERM/SIGINT stop the loop and
 * free everything.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>
#include <uv.h>

#include "telegram/emulator/emu.h"

#define DOWNLOAD_CHUNK (1024 * 1024) /* bytes per h2o_send */

struct emu_config emu_cfg;

static uv_loop_t loop;
static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static uv_tcp_t listener;
static uv_signal_t sigterm_h, sigint_h;
static uv_timer_t ttl_timer;
static struct emu_state state;

int64_t emu_now(void)
{
    return (int64_t)time(NULL) + emu_cfg.clock_offset;
}

/* ---- answers ---- */

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 413:
        return "Request Entity Too Large";
    case 429:
        return "Too Many Requests";
    case 501:
        return "Not Implemented";
    default:
        return "Internal Server Error";
    }
}

static void send_now(h2o_req_t *req, int status, int retry_after, int drop, const char *body, size_t len)
{
    if (drop) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
        if (sock)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
    }
    req->res.status = status;
    req->res.reason = reason_of(status);
    if (len)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    if (retry_after > 0) {
        char *v = h2o_mem_alloc_pool(&req->pool, 24);
        int n = snprintf(v, 24, "%d", retry_after);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v, (size_t)n);
    }
    h2o_send_inline(req, body, len);
}

/* Work for later on a uv timer: an answer held back (--latency-ms), a call waiting for its body
 * to "arrive" (--bandwidth) or for its flood wait. The struct is malloc'ed and freed in the
 * timer's close callback; the request side holds a pool-shared ref whose dispose detaches it
 * (the request may die first), and the timer detaches the ref when it fires. */
enum later_kind { LATER_ANSWER, LATER_BODY, LATER_FLOOD };

struct later_ref;
struct later {
    uv_timer_t timer;
    struct later_ref *ref; /* NULL once either side let go */
    h2o_req_t *req;        /* NULL once the request is gone */
    enum later_kind kind;
    /* LATER_ANSWER */
    int status, retry_after, drop;
    char *body;
    size_t len;
    /* LATER_BODY, LATER_FLOOD */
    struct emu_call *call; /* request pool */
    const char *canonical;
};

struct later_ref {
    struct later *l;
};

static void run_call(struct emu_call *call, const char *canonical);
static void rerun_call(struct emu_call *call, const char *canonical);

static void on_later_closed(uv_handle_t *h)
{
    struct later *l = h->data;
    free(l->body);
    free(l);
}

static void on_later_dispose(void *obj)
{
    struct later_ref *ref = obj;
    if (ref->l) {
        ref->l->req = NULL;
        ref->l->ref = NULL;
    }
}

static void on_later_timer(uv_timer_t *t)
{
    struct later *l = t->data;
    if (l->ref) {
        l->ref->l = NULL;
        l->ref = NULL;
    }
    if (l->req) {
        switch (l->kind) {
        case LATER_ANSWER:
            send_now(l->req, l->status, l->retry_after, l->drop, l->body, l->len);
            break;
        case LATER_BODY:
            run_call(l->call, l->canonical);
            break;
        case LATER_FLOOD:
            rerun_call(l->call, l->canonical);
            break;
        }
    }
    uv_close((uv_handle_t *)&l->timer, on_later_closed);
}

static struct later *later_new(h2o_req_t *req, enum later_kind kind, int64_t delay_ms)
{
    struct later *l = xcalloc(1, sizeof(*l));
    l->req = req;
    l->kind = kind;
    l->ref = h2o_mem_alloc_shared(&req->pool, sizeof(*l->ref), on_later_dispose);
    l->ref->l = l;
    uv_timer_init(&loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_later_timer, (uint64_t)(delay_ms > 0 ? delay_ms : 0), 0);
    return l;
}

/* Sends body (copied) after the configured latency plus extra_ms. */
static void answer_later(h2o_req_t *req, int status, int retry_after, int drop, const char *body, size_t len,
                         int64_t extra_ms)
{
    int64_t delay = (int64_t)emu_cfg.latency_ms + extra_ms;
    if (delay <= 0) {
        send_now(req, status, retry_after, drop, body, len);
        return;
    }
    struct later *l = later_new(req, LATER_ANSWER, delay);
    l->status = status;
    l->retry_after = retry_after;
    l->drop = drop;
    l->body = xmalloc(len + 1);
    memcpy(l->body, body, len);
    l->len = len;
}

static void answer(h2o_req_t *req, int status, int retry_after, int drop, const char *body, size_t len)
{
    answer_later(req, status, retry_after, drop, body, len, 0);
}

/* Closes the connection without an answer (the request is finished into the dead socket). */
static void drop_now(h2o_req_t *req)
{
    send_now(req, 500, 0, 1, "", 0);
}

static void answer_json(h2o_req_t *req, int status, int retry_after, int drop, json_t *doc)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    ASSERT(body != NULL);
    answer(req, status, retry_after, drop, body, strlen(body));
    free(body);
}

static void answer_error(h2o_req_t *req, int status, const char *desc, int retry_after, int drop)
{
    json_t *o = json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", status, "description", desc);
    if (retry_after > 0)
        json_object_set_new(o, "parameters", json_pack("{s:i}", "retry_after", retry_after));
    answer_json(req, status, retry_after, drop, o);
}

/* ---- downloads (non-local mode) ---- */

/* With --bandwidth, chunk k goes out no earlier than start + bytes_before_k / bandwidth: a
 * heap timer (closed in its callback) fires then; the download's dispose detaches it, as the
 * request may die while it waits. */
struct download;
struct pace {
    uv_timer_t timer;
    struct download *d; /* NULL once the request is gone */
};

struct download {
    h2o_generator_t super;
    h2o_req_t *req;
    int fd;
    size_t left; /* bytes */
    size_t sent; /* bytes */
    int64_t start_ms;
    char *buf;
    struct pace *pace;
};

static void on_pace_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_download_dispose(void *obj)
{
    struct download *d = obj;
    if (d->fd >= 0)
        close(d->fd);
    free(d->buf);
    if (d->pace) {
        d->pace->d = NULL;
        uv_timer_stop(&d->pace->timer);
        uv_close((uv_handle_t *)&d->pace->timer, on_pace_closed);
    }
}

static size_t download_chunk(const struct download *d)
{
    size_t want = d->left < DOWNLOAD_CHUNK ? d->left : DOWNLOAD_CHUNK;
    if (emu_cfg.bandwidth > 0) {
        /* About ten sends a second, so the pace is smooth. */
        size_t step = (size_t)(emu_cfg.bandwidth / 10 > 4096 ? emu_cfg.bandwidth / 10 : 4096);
        if (want > step)
            want = step;
    }
    return want;
}

static void download_send(struct download *d)
{
    size_t want = download_chunk(d);
    ssize_t n = want ? read(d->fd, d->buf, want) : 0;
    if (n < 0 || (n == 0 && want)) {
        h2o_send(d->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    d->left -= (size_t)n;
    d->sent += (size_t)n;
    h2o_iovec_t v = h2o_iovec_init(d->buf, (size_t)n);
    h2o_send(d->req, &v, 1, d->left ? H2O_SEND_STATE_IN_PROGRESS : H2O_SEND_STATE_FINAL);
}

static void on_pace(uv_timer_t *t)
{
    struct pace *pc = t->data;
    if (pc->d)
        download_send(pc->d);
}

static void on_download_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct download *d = (struct download *)gen;
    (void)req;
    if (emu_cfg.bandwidth > 0 && d->sent > 0) {
        int64_t due = d->start_ms + (int64_t)((double)d->sent * 1000.0 / (double)emu_cfg.bandwidth);
        int64_t now = mono_ms();
        if (due > now) {
            if (!d->pace) {
                d->pace = xcalloc(1, sizeof(*d->pace));
                d->pace->d = d;
                uv_timer_init(&loop, &d->pace->timer);
                d->pace->timer.data = d->pace;
            }
            uv_timer_start(&d->pace->timer, on_pace, (uint64_t)(due - now), 0);
            return;
        }
    }
    download_send(d);
}

static void on_download_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)gen;
    (void)req;
}

static int token_ok(const char *t, size_t len);

static void serve_download(h2o_req_t *req, const char *path, size_t len)
{
    /* path: "/file/bot<token>/<rel>" */
    const char *tok = path + 9, *end = path + len;
    const char *slash = memchr(tok, '/', (size_t)(end - tok));
    if (emu_cfg.local || !slash || !token_ok(tok, (size_t)(slash - tok)) || slash + 1 >= end) {
        answer_error(req, 404, "Not Found", 0, 0);
        return;
    }
    char *rel = emu_url_decode(&req->pool, slash + 1, (size_t)(end - slash - 1), NULL);
    if (strstr(rel, "..") || rel[0] == '/') {
        answer_error(req, 404, "Not Found", 0, 0);
        return;
    }
    char full[8192];
    snprintf(full, sizeof(full), "%s/%.*s/%s", emu_cfg.dir, (int)(slash - tok), tok, rel);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        answer_error(req, 404, "Not Found", 0, 0);
        return;
    }
    struct download *d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), on_download_dispose);
    d->super.proceed = on_download_proceed;
    d->super.stop = on_download_stop;
    d->req = req;
    d->fd = fd;
    d->left = (size_t)sb.st_size;
    d->sent = 0;
    d->start_ms = mono_ms();
    d->buf = xmalloc(DOWNLOAD_CHUNK);
    d->pace = NULL;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = (size_t)sb.st_size;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/octet-stream"));
    h2o_start_response(req, &d->super);
    download_send(d);
}

/* ---- Bot API ---- */

/* §3: first char not '0', at most 80 bytes, "<id>:<secret>" with 0 < id < 2^54. */
static int token_ok(const char *t, size_t len)
{
    if (len == 0 || len > 80 || t[0] == '0')
        return 0;
    const char *colon = memchr(t, ':', len);
    if (!colon || colon == t || memchr(t, '/', len))
        return 0;
    uint64_t id = 0;
    for (const char *p = t; p < colon; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        id = id * 10 + (uint64_t)(*p - '0');
        if (id >= (1ULL << 54))
            return 0;
    }
    return id > 0;
}

static void serve_api(h2o_req_t *req, const char *path, size_t len)
{
    const char *tok = path + 4, *end = path + len;
    const char *slash = memchr(tok, '/', (size_t)(end - tok));
    size_t toklen = slash ? (size_t)(slash - tok) : (size_t)(end - tok);
    if (!token_ok(tok, toklen)) {
        answer_error(req, 401, "Unauthorized: invalid token specified", 0, 0);
        return;
    }
    int64_t bid = strtoll(tok, NULL, 10);
    for (size_t i = 0; i < emu_cfg.nrevoked; i++) {
        if (emu_cfg.revoked[i] == bid) {
            /* A well-formed token the server cannot log in with (§3): 401 Unauthorized. */
            answer_error(req, 401, "Unauthorized", 0, 0);
            return;
        }
    }
    struct emu_call *call = h2o_mem_alloc_pool(&req->pool, sizeof(*call));
    memset(call, 0, sizeof(*call));
    struct emu_bare bare = {0, NULL};
    if (emu_params_parse(req, &call->params, &bare) != 0) {
        req->res.status = bare.status;
        req->res.reason = bare.reason;
        h2o_send_inline(req, "", 0);
        return;
    }
    const char *mname = slash ? slash + 1 : end;
    size_t mlen = (size_t)(end - mname);
    if (mlen >= 5 && memcmp(mname, "test/", 5) == 0) {
        mname += 5;
        mlen -= 5;
    }
    char mbuf[64];
    const char *canonical = NULL;
    if (mlen == 0) {
        const char *p = emu_param_str(&call->params, "method");
        canonical = p ? methods_lookup(p) : NULL;
    } else if (mlen < sizeof(mbuf)) {
        memcpy(mbuf, mname, mlen);
        mbuf[mlen] = '\0';
        canonical = methods_lookup(mbuf);
    }
    if (!canonical) {
        answer_error(req, 404, "Not Found: method not found", 0, 0);
        return;
    }
    char *token = h2o_mem_alloc_pool(&req->pool, toklen + 1);
    memcpy(token, tok, toklen);
    token[toklen] = '\0';
    call->req = req;
    call->token = token;
    call->bot_id = strtoll(token, NULL, 10);
    if (emu_cfg.bandwidth > 0 && req->entity.len > 0) {
        /* h2o buffered the body at loopback speed: the call runs when it would have arrived. */
        struct later *l = later_new(req, LATER_BODY, (int64_t)req->entity.len * 1000 / emu_cfg.bandwidth);
        l->call = call;
        l->canonical = canonical;
        return;
    }
    run_call(call, canonical);
}

/* Answers a call whose method has run (or schedules its flood-wait rerun). */
static void finish_call(struct emu_call *call, const char *canonical)
{
    h2o_req_t *req = call->req;
    if (call->r.defer_ms > 0) {
        call->reserved = 1;
        call->waited_ms += call->r.defer_ms;
        struct later *l = later_new(req, LATER_FLOOD, call->r.defer_ms);
        l->call = call;
        l->canonical = canonical;
        return;
    }
    if (call->r.status == 200 && strcmp(canonical, "sendDocument") == 0 && methods_roll(emu_cfg.fail_lost)) {
        /* Posted, but the answer never comes. */
        methods_count_fault("lost");
        json_decref(call->r.result);
        call->r.result = NULL;
        drop_now(req);
        return;
    }
    json_t *o;
    if (call->r.status == 200) {
        o = json_pack("{s:b,s:o}", "ok", 1, "result", call->r.result);
    } else {
        o = json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", call->r.status, "description", call->r.desc);
        if (call->r.retry_after > 0)
            json_object_set_new(o, "parameters", json_pack("{s:i}", "retry_after", call->r.retry_after));
    }
    call->r.result = NULL;
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ASSERT(body != NULL);
    answer_later(req, call->r.status, call->r.retry_after, 0, body, strlen(body), call->r.delay_ms);
    free(body);
}

static void run_call(struct emu_call *call, const char *canonical)
{
    if (methods_roll(emu_cfg.fail_drop)) {
        methods_count_fault("dropped");
        drop_now(call->req);
        return;
    }
    methods_call(canonical, call);
    finish_call(call, canonical);
}

/* The flood wait is over: the call runs again on the post slot it reserved. */
static void rerun_call(struct emu_call *call, const char *canonical)
{
    methods_call(canonical, call);
    finish_call(call, canonical);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *path = req->path.base;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        req->res.status = 501;
        req->res.reason = "Not Implemented";
        h2o_send_inline(req, "", 0);
        return 0;
    }
    if (plen == 16 && memcmp(path, "/_emulator/stats", 16) == 0) {
        /* Not an API answer: no latency, no faults. */
        json_t *stats = methods_stats();
        char *body = json_dumps(stats, JSON_COMPACT);
        json_decref(stats);
        ASSERT(body != NULL);
        send_now(req, 200, 0, 0, body, strlen(body));
        free(body);
    } else if (plen > 9 && memcmp(path, "/file/bot", 9) == 0) {
        serve_download(req, path, plen);
    } else if (plen >= 4 && memcmp(path, "/bot", 4) == 0) {
        serve_api(req, path, plen);
    } else {
        answer_error(req, 404, "Not Found", 0, 0);
    }
    return 0;
}

/* ---- server plumbing ---- */

static void on_conn_close(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *server, int status)
{
    if (status != 0)
        return;
    uv_tcp_t *conn = xmalloc(sizeof(*conn));
    uv_tcp_init(server->loop, conn);
    if (uv_accept(server, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, on_conn_close);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_close);
    h2o_accept(&accept_ctx, sock);
}

static void on_ttl_timer(uv_timer_t *t)
{
    (void)t;
    methods_expire_files();
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tgs3-botapi --listen HOST:PORT --dir DIR [--local] --chat ID [--chat ID ...]\n"
            "  Telegram's limits (defaults as Telegram): --rate-chat N (posts per bot and chat in any 60 s,\n"
            "  default 20; 0 = off) --rate-bot N (posts per bot in any 1 s, default 30; 0 = off)\n"
            "  --flood-wait-max S (waits up to S come back as latency, longer ones as 429; default 60)\n"
            "  --bandwidth BYTES (per connection per second; K/M/G) --latency-ms N\n"
            "  faults, fractions in [0,1]: --fail-429 P --fail-5xx P --fail-drop P (connection closed, the method\n"
            "  does not run) --fail-lost P (sendDocument posts, no answer comes) --fail-getfile P (transient)\n"
            "  --seed N --clock-offset S --file-ttl S (local: downloaded files removed after S)\n"
            "  --store-ram BYTES (documents in memory taken once at start, in places of --store-ram-doc BYTES,\n"
            "  default 16M+64K; for a DIR on tmpfs) --spill-threshold SIZE --revoked-bot ID ... --verbose\n");
}

/* A fraction in [0,1]; -1 when v is not one. */
static double parse_fraction(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= 0.0 && d <= 1.0))
        return -1;
    return d;
}

/* A non-negative integer; -1 when v is not one. */
static long long parse_count(const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || errno || n < 0 || n > INT32_MAX)
        return -1;
    return n;
}

/* What one command-line option did: not one of this group's, a flag (no
 * value), took the next argument as its value, or was refused (a message
 * went to stderr). */
enum arg_use { ARG_UNKNOWN, ARG_FLAG, ARG_VALUE, ARG_BAD };

static int need_value(const char *a, const char *v)
{
    if (!v) {
        fprintf(stderr, "tgs3-botapi: %s needs a value\n", a);
        return -1;
    }
    return 0;
}

/* The rate limits and failure knobs: whole numbers >= 0 and fractions in [0,1]. */
static enum arg_use parse_knob(const char *a, const char *v)
{
    static const struct {
        const char *name;
        int *field;
    } counts[] = {
        {"--rate-chat", &emu_cfg.rate_chat},   {"--rate-bot", &emu_cfg.rate_bot},
        {"--flood-wait-max", &emu_cfg.flood_wait_max}, {"--latency-ms", &emu_cfg.latency_ms},
        {"--file-ttl", &emu_cfg.file_ttl},
    };
    static const struct {
        const char *name;
        double *field;
    } fractions[] = {
        {"--fail-429", &emu_cfg.fail_429},   {"--fail-5xx", &emu_cfg.fail_5xx},
        {"--fail-drop", &emu_cfg.fail_drop}, {"--fail-lost", &emu_cfg.fail_lost},
        {"--fail-getfile", &emu_cfg.fail_getfile},
    };
    for (size_t k = 0; k < ARRAY_SIZE(counts); k++) {
        if (strcmp(a, counts[k].name) != 0)
            continue;
        if (need_value(a, v) != 0)
            return ARG_BAD;
        long long n = parse_count(v);
        if (n < 0) {
            fprintf(stderr, "tgs3-botapi: %s needs a whole number >= 0, not %s\n", a, v);
            return ARG_BAD;
        }
        *counts[k].field = (int)n;
        return ARG_VALUE;
    }
    for (size_t k = 0; k < ARRAY_SIZE(fractions); k++) {
        if (strcmp(a, fractions[k].name) != 0)
            continue;
        if (need_value(a, v) != 0)
            return ARG_BAD;
        *fractions[k].field = parse_fraction(v);
        if (*fractions[k].field < 0) {
            fprintf(stderr, "tgs3-botapi: %s needs a fraction in [0,1], not %s\n", a, v);
            return ARG_BAD;
        }
        return ARG_VALUE;
    }
    return ARG_UNKNOWN;
}

/* The byte sizes (K/M/G): --bandwidth may be 0 (unlimited), the others not. */
static enum arg_use parse_size_opt(const char *a, const char *v)
{
    int64_t *field;
    int64_t min;
    if (strcmp(a, "--bandwidth") == 0) {
        field = &emu_cfg.bandwidth;
        min = 0;
    } else if (strcmp(a, "--store-ram") == 0) {
        field = &emu_cfg.store_ram;
        min = 1;
    } else if (strcmp(a, "--store-ram-doc") == 0) {
        field = &emu_cfg.store_ram_doc;
        min = 1;
    } else if (strcmp(a, "--spill-threshold") == 0) {
        field = &emu_cfg.spill_threshold;
        min = 1;
    } else {
        return ARG_UNKNOWN;
    }
    if (need_value(a, v) != 0)
        return ARG_BAD;
    int64_t n = parse_size(v);
    if (n < min) {
        fprintf(stderr, "tgs3-botapi: bad size %s\n", v);
        return ARG_BAD;
    }
    *field = n;
    return ARG_VALUE;
}

/* Where it listens and keeps files, the chats, the clock, the seed, revoked bots, flags. */
static enum arg_use parse_setup_opt(const char *a, const char *v, char **listen_s, char **dir_s)
{
    if (strcmp(a, "--local") == 0) {
        emu_cfg.local = 1;
        return ARG_FLAG;
    }
    if (strcmp(a, "--verbose") == 0) {
        log_set_level(LOG_DEBUG);
        return ARG_FLAG;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        usage();
        exit(0);
    }
    if (strcmp(a, "--listen") != 0 && strcmp(a, "--dir") != 0 && strcmp(a, "--chat") != 0 &&
        strcmp(a, "--clock-offset") != 0 && strcmp(a, "--seed") != 0 && strcmp(a, "--revoked-bot") != 0)
        return ARG_UNKNOWN;
    if (need_value(a, v) != 0)
        return ARG_BAD;
    if (strcmp(a, "--listen") == 0) {
        *listen_s = xstrdup(v);
    } else if (strcmp(a, "--dir") == 0) {
        *dir_s = xstrdup(v);
    } else if (strcmp(a, "--chat") == 0) {
        char *end;
        long long id = strtoll(v, &end, 10);
        if (*end || id == 0) {
            fprintf(stderr, "tgs3-botapi: bad chat id %s\n", v);
            return ARG_BAD;
        }
        emu_cfg.chats = xrealloc(emu_cfg.chats, (emu_cfg.nchats + 1) * sizeof(*emu_cfg.chats));
        emu_cfg.chats[emu_cfg.nchats++] = id;
    } else if (strcmp(a, "--clock-offset") == 0) {
        emu_cfg.clock_offset = strtoll(v, NULL, 10);
    } else if (strcmp(a, "--seed") == 0) {
        emu_cfg.seed = strtoull(v, NULL, 10);
    } else {
        emu_cfg.revoked = xrealloc(emu_cfg.revoked, (emu_cfg.nrevoked + 1) * sizeof(*emu_cfg.revoked));
        emu_cfg.revoked[emu_cfg.nrevoked++] = strtoll(v, NULL, 10);
    }
    return ARG_VALUE;
}

static int parse_args(int argc, char **argv, char **listen_s, char **dir_s)
{
    emu_cfg.rate_chat = 20;
    emu_cfg.rate_bot = 30;
    emu_cfg.flood_wait_max = 60;
    emu_cfg.store_ram_doc = (16 << 20) + (64 << 10);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        enum arg_use use = parse_setup_opt(a, v, listen_s, dir_s);
        if (use == ARG_UNKNOWN)
            use = parse_knob(a, v);
        if (use == ARG_UNKNOWN)
            use = parse_size_opt(a, v);
        if (use == ARG_UNKNOWN) {
            fprintf(stderr, "tgs3-botapi: unknown option %s\n", a);
            return -1;
        }
        if (use == ARG_BAD)
            return -1;
        if (use == ARG_VALUE)
            i++;
    }
    if (!*listen_s || !*dir_s) {
        usage();
        return -1;
    }
    return 0;
}

static int bind_listener(const char *spec, char *shown, size_t shownsz)
{
    const char *colon = strrchr(spec, ':');
    if (!colon)
        return -1;
    char host[256];
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    if (strcmp(host, "localhost") == 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "127.0.0.1");
    int port = atoi(colon + 1);
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return -1;
    uv_tcp_init(&loop, &listener);
    int rc = uv_tcp_bind(&listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&listener, 1024, on_accept);
    if (rc != 0) {
        fprintf(stderr, "tgs3-botapi: listen %s: %s\n", spec, uv_strerror(rc));
        return -1;
    }
    int namelen = sizeof(ss);
    uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &namelen);
    int real_port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                            : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    snprintf(shown, shownsz, "%.*s:%d", (int)(colon - spec), spec, real_port);
    return 0;
}

int main(int argc, char **argv)
{
    char *listen_s = NULL, *dir_s = NULL, *dir_abs = NULL;
    int rc = 1, h2o_up = 0, listening = 0;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    if (parse_args(argc, argv, &listen_s, &dir_s) != 0)
        goto out;
    if (mkdir(dir_s, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "tgs3-botapi: mkdir %s: %s\n", dir_s, strerror(errno));
        goto out;
    }
    dir_abs = realpath(dir_s, NULL);
    if (!dir_abs) {
        fprintf(stderr, "tgs3-botapi: realpath %s: %s\n", dir_s, strerror(errno));
        goto out;
    }
    emu_cfg.dir = dir_abs;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir_abs);
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "tgs3-botapi: mkdir %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    /* One server per --dir, as the real one's binlog lock (another would sweep and
     * overwrite this one's documents). The descriptor stays open until exit. */
    snprintf(tmp, sizeof(tmp), "%s/state.lock", dir_abs);
    if (lock_file(tmp) < 0) {
        fprintf(stderr, "tgs3-botapi: can't lock file \"%s\", because it is already in use; check for another "
                        "program instance running (%s)\n",
                tmp, strerror(errno));
        goto out;
    }
    snprintf(h2o_socket_buffer_mmap_settings.fn_template, sizeof(h2o_socket_buffer_mmap_settings.fn_template),
             "%s/tmp/h2o.b.XXXXXX", dir_abs);
    if (emu_cfg.spill_threshold > 0)
        h2o_socket_buffer_mmap_settings.threshold = (size_t)emu_cfg.spill_threshold;
    if (docs_open(dir_abs, emu_cfg.store_ram, emu_cfg.store_ram_doc) != 0)
        goto out;
    if (state_open(&state, dir_abs, emu_cfg.chats, emu_cfg.nchats) != 0)
        goto out;
    methods_init(&state);

    h2o_config_init(&config);
    config.max_request_entity_size = (size_t)2200 * 1024 * 1024;
    config.http1.req_timeout = 600000;
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
    h2o_context_init(&ctx, &loop, &config);
    h2o_up = 1;
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    char shown[300];
    if (bind_listener(listen_s, shown, sizeof(shown)) != 0)
        goto out;
    listening = 1;
    uv_signal_init(&loop, &sigterm_h);
    uv_signal_start(&sigterm_h, on_signal, SIGTERM);
    uv_signal_init(&loop, &sigint_h);
    uv_signal_start(&sigint_h, on_signal, SIGINT);
    uv_timer_init(&loop, &ttl_timer);
    if (emu_cfg.file_ttl > 0 && emu_cfg.local)
        uv_timer_start(&ttl_timer, on_ttl_timer, 1000, 1000);
    printf("tgs3-botapi listening on %s\n", shown);
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (listening) {
        uv_close((uv_handle_t *)&listener, NULL);
        uv_close((uv_handle_t *)&sigterm_h, NULL);
        uv_close((uv_handle_t *)&sigint_h, NULL);
        uv_timer_stop(&ttl_timer);
        uv_close((uv_handle_t *)&ttl_timer, NULL);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    /* Live connections still reference the context; then it stays (reachable) until exit. */
    int idle = h2o_linklist_is_empty(&ctx.http1._conns) && h2o_linklist_is_empty(&ctx.http2._conns);
    if (h2o_up && idle) {
        h2o_context_dispose(&ctx);
        h2o_config_dispose(&config);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    if (!h2o_up || idle)
        uv_loop_close(&loop);
    methods_release();
    state_close(&state);
    docs_close();
    free(emu_cfg.chats);
    free(emu_cfg.revoked);
    free(listen_s);
    free(dir_s);
    free(dir_abs);
    fflush(stdout);
    return rc;
}

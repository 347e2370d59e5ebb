/* main.c — tgs3-botapi: a local emulator of the self-hosted Telegram Bot API server.
 *
 * DESIGN. One thread, one libuv loop, h2o 2.2 as the HTTP server. h2o buffers every request
 * body whole (large ones spill to an mmap'd file under DIR/tmp), then on_req routes:
 *   /bot<token>/<method>          Bot API methods (methods.c), JSON answers
 *   /file/bot<token>/<file_path>  downloads, non-local mode only (the real local server has none)
 *   /_emulator/stats              counters for tests and benchmarks
 * Answers can be delayed (--latency-ms, a uv timer per answer, never blocking the loop) or
 * dropped (--fault-drop: the socket is shut down after the method ran, as a lost answer).
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

/* A delayed answer: the timer is malloc'ed and freed in its close callback; the request side
 * holds a pool-shared ref whose dispose detaches it (the request may die first). */
struct pending {
    uv_timer_t timer;
    h2o_req_t *req;
    int status, retry_after, drop;
    char *body;
    size_t len;
};

struct pending_ref {
    struct pending *p;
};

static void on_pending_closed(uv_handle_t *h)
{
    struct pending *p = h->data;
    free(p->body);
    free(p);
}

static void on_pending_dispose(void *obj)
{
    struct pending_ref *ref = obj;
    if (ref->p)
        ref->p->req = NULL;
}

static void on_pending_timer(uv_timer_t *t)
{
    struct pending *p = t->data;
    if (p->req)
        send_now(p->req, p->status, p->retry_after, p->drop, p->body, p->len);
    uv_close((uv_handle_t *)&p->timer, on_pending_closed);
}

/* Sends body (copied) with the configured latency. */
static void answer(h2o_req_t *req, int status, int retry_after, int drop, const char *body, size_t len)
{
    if (emu_cfg.latency_ms <= 0) {
        send_now(req, status, retry_after, drop, body, len);
        return;
    }
    struct pending *p = xcalloc(1, sizeof(*p));
    p->req = req;
    p->status = status;
    p->retry_after = retry_after;
    p->drop = drop;
    p->body = xmalloc(len + 1);
    memcpy(p->body, body, len);
    p->len = len;
    struct pending_ref *ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_pending_dispose);
    ref->p = p;
    uv_timer_init(&loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_pending_timer, (uint64_t)emu_cfg.latency_ms, 0);
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

struct download {
    h2o_generator_t super;
    int fd;
    size_t left; /* bytes */
    char *buf;
};

static void on_download_dispose(void *obj)
{
    struct download *d = obj;
    if (d->fd >= 0)
        close(d->fd);
    free(d->buf);
}

static void on_download_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct download *d = (struct download *)gen;
    size_t want = d->left < DOWNLOAD_CHUNK ? d->left : DOWNLOAD_CHUNK;
    ssize_t n = want ? read(d->fd, d->buf, want) : 0;
    if (n < 0 || (n == 0 && want)) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    d->left -= (size_t)n;
    h2o_iovec_t v = h2o_iovec_init(d->buf, (size_t)n);
    h2o_send(req, &v, 1, d->left ? H2O_SEND_STATE_IN_PROGRESS : H2O_SEND_STATE_FINAL);
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
    d->fd = fd;
    d->left = (size_t)sb.st_size;
    d->buf = xmalloc(DOWNLOAD_CHUNK);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = (size_t)sb.st_size;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/octet-stream"));
    h2o_start_response(req, &d->super);
    on_download_proceed(&d->super, req);
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
    struct emu_call call;
    memset(&call, 0, sizeof(call));
    struct emu_bare bare = {0, NULL};
    if (emu_params_parse(req, &call.params, &bare) != 0) {
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
        const char *p = emu_param_str(&call.params, "method");
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
    call.req = req;
    call.token = token;
    call.bot_id = strtoll(token, NULL, 10);
    methods_call(canonical, &call);
    int drop = methods_roll(emu_cfg.fault_drop);
    if (call.r.status == 200) {
        json_t *o = json_pack("{s:b,s:o}", "ok", 1, "result", call.r.result);
        answer_json(req, 200, 0, drop, o);
    } else {
        answer_error(req, call.r.status, call.r.desc, call.r.retry_after, drop);
    }
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

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tgs3-botapi --listen HOST:PORT --dir DIR [--local] --chat ID [--chat ID ...]\n"
            "       [--clock-offset S] [--rate-chat N] [--rate-bot N] [--limits] [--fault-5xx PCT]\n"
            "       [--fault-429 PCT] [--fault-drop PCT] [--latency-ms N] [--seed N] [--spill-threshold SIZE]\n"
            "       [--revoked-bot ID ...] [--verbose]\n");
}

static int parse_args(int argc, char **argv, char **listen_s, char **dir_s)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE                                                                                                     \
    do {                                                                                                               \
        if (!v) {                                                                                                      \
            fprintf(stderr, "tgs3-botapi: %s needs a value\n", a);                                                     \
            return -1;                                                                                                 \
        }                                                                                                              \
        i++;                                                                                                           \
    } while (0)
        if (strcmp(a, "--listen") == 0) {
            NEED_VALUE;
            *listen_s = xstrdup(v);
        } else if (strcmp(a, "--dir") == 0) {
            NEED_VALUE;
            *dir_s = xstrdup(v);
        } else if (strcmp(a, "--local") == 0) {
            emu_cfg.local = 1;
        } else if (strcmp(a, "--chat") == 0) {
            NEED_VALUE;
            char *end;
            long long id = strtoll(v, &end, 10);
            if (*end || id == 0) {
                fprintf(stderr, "tgs3-botapi: bad chat id %s\n", v);
                return -1;
            }
            emu_cfg.chats = xrealloc(emu_cfg.chats, (emu_cfg.nchats + 1) * sizeof(*emu_cfg.chats));
            emu_cfg.chats[emu_cfg.nchats++] = id;
        } else if (strcmp(a, "--clock-offset") == 0) {
            NEED_VALUE;
            emu_cfg.clock_offset = strtoll(v, NULL, 10);
        } else if (strcmp(a, "--rate-chat") == 0) {
            NEED_VALUE;
            emu_cfg.rate_chat = atoi(v);
        } else if (strcmp(a, "--rate-bot") == 0) {
            NEED_VALUE;
            emu_cfg.rate_bot = atoi(v);
        } else if (strcmp(a, "--limits") == 0) {
            if (!emu_cfg.rate_chat)
                emu_cfg.rate_chat = 20;
            if (!emu_cfg.rate_bot)
                emu_cfg.rate_bot = 30;
        } else if (strcmp(a, "--fault-5xx") == 0) {
            NEED_VALUE;
            emu_cfg.fault_5xx = strtod(v, NULL);
        } else if (strcmp(a, "--fault-429") == 0) {
            NEED_VALUE;
            emu_cfg.fault_429 = strtod(v, NULL);
        } else if (strcmp(a, "--fault-drop") == 0) {
            NEED_VALUE;
            emu_cfg.fault_drop = strtod(v, NULL);
        } else if (strcmp(a, "--latency-ms") == 0) {
            NEED_VALUE;
            emu_cfg.latency_ms = atoi(v);
        } else if (strcmp(a, "--seed") == 0) {
            NEED_VALUE;
            emu_cfg.seed = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--spill-threshold") == 0) {
            NEED_VALUE;
            emu_cfg.spill_threshold = parse_size(v);
            if (emu_cfg.spill_threshold <= 0) {
                fprintf(stderr, "tgs3-botapi: bad size %s\n", v);
                return -1;
            }
        } else if (strcmp(a, "--revoked-bot") == 0) {
            NEED_VALUE;
            emu_cfg.revoked = xrealloc(emu_cfg.revoked, (emu_cfg.nrevoked + 1) * sizeof(*emu_cfg.revoked));
            emu_cfg.revoked[emu_cfg.nrevoked++] = strtoll(v, NULL, 10);
        } else if (strcmp(a, "--verbose") == 0) {
            log_set_level(LOG_DEBUG);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        } else {
            fprintf(stderr, "tgs3-botapi: unknown option %s\n", a);
            return -1;
        }
#undef NEED_VALUE
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
    snprintf(h2o_socket_buffer_mmap_settings.fn_template, sizeof(h2o_socket_buffer_mmap_settings.fn_template),
             "%s/tmp/h2o.b.XXXXXX", dir_abs);
    if (emu_cfg.spill_threshold > 0)
        h2o_socket_buffer_mmap_settings.threshold = (size_t)emu_cfg.spill_threshold;
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
    printf("tgs3-botapi listening on %s\n", shown);
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (listening) {
        uv_close((uv_handle_t *)&listener, NULL);
        uv_close((uv_handle_t *)&sigterm_h, NULL);
        uv_close((uv_handle_t *)&sigint_h, NULL);
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
    free(emu_cfg.chats);
    free(emu_cfg.revoked);
    free(listen_s);
    free(dir_s);
    free(dir_abs);
    fflush(stdout);
    return rc;
}

/* serve.c — the request entry of tgs3-botapi: routing, Bot API calls and their answers.
 *
 * on_req (serve_on_req) routes a request h2o has buffered whole:
 *   /bot<token>/<method>          a Bot API call: token and method checked, parameters parsed
 *                                 (params.c), the method run (methods.c), a JSON answer
 *   /file/bot<token>/<file_path>  a download (download.c)
 *   /_emulator/...                the test surface (admin.c): no latency, no faults
 * and injects the faults that live in the transport: --fail-drop (the connection closes before
 * the method runs), --fail-lost (sendDocument posts, no answer comes), --latency-ms and
 * --bandwidth (the call runs when its body would have arrived), and runs a call again after a
 * flood wait. Work for later sits on uv timers of the request's loop; nothing blocks.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <h2o.h>
#include <uv.h>

#include "telegram/emulator/emu.h"

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
    case 405:
        return "Method Not Allowed";
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

void serve_send_now(h2o_req_t *req, int status, int retry_after, int drop, const char *body, size_t len)
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
            serve_send_now(l->req, l->status, l->retry_after, l->drop, l->body, l->len);
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
    uv_timer_init(req->conn->ctx->loop, &l->timer);
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
        serve_send_now(req, status, retry_after, drop, body, len);
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

/* Closes the connection without an answer (the request is finished into the dead socket). */
static void drop_now(h2o_req_t *req)
{
    serve_send_now(req, 500, 0, 1, "", 0);
}

json_t *serve_error_doc(int status, const char *desc, int retry_after)
{
    json_t *o = json_pack("{s:b,s:i,s:s}", "ok", 0, "error_code", status, "description", desc);
    if (retry_after > 0)
        json_object_set_new(o, "parameters", json_pack("{s:i}", "retry_after", retry_after));
    return o;
}

/* The JSON text of doc (whose reference it takes), malloc'ed. */
static char *dump(json_t *doc)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    ASSERT(body != NULL);
    return body;
}

void serve_send_json_now(h2o_req_t *req, int status, json_t *doc)
{
    char *body = dump(doc);
    serve_send_now(req, status, 0, 0, body, strlen(body));
    free(body);
}

void serve_answer_error(h2o_req_t *req, int status, const char *desc, int retry_after, int drop)
{
    char *body = dump(serve_error_doc(status, desc, retry_after));
    answer_later(req, status, retry_after, drop, body, strlen(body), 0);
    free(body);
}

/* ---- Bot API ---- */

/* §3: first char not '0', at most 80 bytes, "<id>:<secret>" with 0 < id < 2^54. */
int serve_token_ok(const char *t, size_t len)
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
    if (!serve_token_ok(tok, toklen)) {
        serve_answer_error(req, 401, "Unauthorized: invalid token specified", 0, 0);
        return;
    }
    int64_t bid = strtoll(tok, NULL, 10);
    for (size_t i = 0; i < emu_cfg.nrevoked; i++) {
        if (emu_cfg.revoked[i] == bid) {
            /* A well-formed token the server cannot log in with (§3): 401 Unauthorized. */
            serve_answer_error(req, 401, "Unauthorized", 0, 0);
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
        serve_answer_error(req, 404, "Not Found: method not found", 0, 0);
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
    json_t *o = call->r.status == 200 ? json_pack("{s:b,s:o}", "ok", 1, "result", call->r.result)
                                      : serve_error_doc(call->r.status, call->r.desc, call->r.retry_after);
    call->r.result = NULL;
    char *body = dump(o);
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

int serve_on_req(h2o_handler_t *self, h2o_req_t *req)
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
    if (plen >= 11 && memcmp(path, "/_emulator/", 11) == 0) {
        admin_serve(req, path, plen);
    } else if (plen > 9 && memcmp(path, "/file/bot", 9) == 0) {
        download_serve(req, path, plen);
    } else if (plen >= 4 && memcmp(path, "/bot", 4) == 0) {
        serve_api(req, path, plen);
    } else {
        serve_answer_error(req, 404, "Not Found", 0, 0);
    }
    return 0;
}


/* req.c — a request's context and its answers: the one way out for headers, XML and errors.
 *
 * Each request gets a malloc'd struct gw_req tied to h2o's pool by a shared
 * anchor whose dispose callback detaches it (req = NULL); the context is
 * freed once it is detached and no async work holds it (gw_req_hold and
 * gw_req_release around every asynchronous step; gw_req_store_call does both
 * around a store job). Loop thread only.
 * Calls nothing above it: the access log and request counters (admin.c)
 * hook in through gw->request_done.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gw.h"

struct anchor {
    struct gw_req *r;
};

static void req_free(struct gw_req *r)
{
    r->gw->active--;
    if (r->op_free)
        r->op_free(r);
    gw_body_free(r->body);
    s3_route_release(&r->route);
    secure_zero(r->auth.signing_key, sizeof(r->auth.signing_key));
    free(r->hdrs);
    free(r);
}

static void on_anchor_dispose(void *p)
{
    struct anchor *a = p;
    struct gw_req *r = a->r;
    if (r->gw->request_done != NULL)
        r->gw->request_done(r); /* h2o's request fields are still intact while its pool is cleared */
    r->req = NULL;
    gw_body_request_gone(r->body);
    if (r->pending == 0)
        req_free(r);
}

void gw_req_hold(struct gw_req *r)
{
    r->pending++;
}

int gw_req_release(struct gw_req *r)
{
    ASSERT(r->pending > 0);
    r->pending--;
    if (r->req != NULL)
        return 1;
    if (r->pending == 0)
        req_free(r);
    return 0;
}

void gw_random_hex(char *out, size_t n)
{
    unsigned char buf[64];
    ASSERT(n <= sizeof(buf));
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, buf, n) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)n) {
        /* /dev/urandom failing is not an input error: fall back to a time-seeded mix. */
        uint64_t x = (uint64_t)mono_ms() ^ ((uint64_t)now_ms() << 20) ^ (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
    }
    hex_encode(buf, n, out);
}

const char *gw_req_header(struct gw_req *r, const char *name, size_t *len)
{
    return s3_header_get(&r->s3, name, len);
}

const char *gw_req_user(struct gw_req *r)
{
    return r->has_auth ? r->auth.access_key : "";
}

void gw_add_header(struct gw_req *r, const char *name, const char *value, size_t len)
{
    h2o_req_t *req = r->req;
    /* The one way out for a header: a value that would split the response
     * (CR, LF) or carry other control bytes never goes out. Requests asking
     * for such values are refused earlier (400); this is the last guard. */
    if (!s3_header_value_ok(value, len)) {
        log_warn("req %s: header %s not sent: its value holds control bytes", r->id, name);
        return;
    }
    size_t nlen = strlen(name);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen);
    memcpy(n, name, nlen);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 1, NULL, v.base, v.len);
}

static void common_headers(struct gw_req *r)
{
    gw_add_header(r, "x-amz-request-id", r->id, strlen(r->id));
}

void gw_respond_xml(struct gw_req *r, int status, const char *body, size_t len)
{
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Error";
    common_headers(r);
    gw_add_header(r, "content-type", "application/xml", 15);
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

void gw_respond_empty(struct gw_req *r, int status)
{
    static h2o_generator_t gen = {NULL, NULL};
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = status == 204 ? "No Content" : "OK";
    common_headers(r);
    if (req->res.content_length == SIZE_MAX)
        req->res.content_length = 0;
    h2o_start_response(req, &gen);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

void gw_respond_error(struct gw_req *r, enum s3_err e, const char *message)
{
    h2o_req_t *req = r->req;
    struct dbuf body;
    char resource[2048];
    snprintf(resource, sizeof(resource), "%.*s", (int)r->s3.path_len, r->s3.path);
    int status = s3_err_status(e);
    if (status >= 500)
        log_warn("req %s: %s %s → %d %s%s%s", r->id, s3_op_name(r->route.op), resource, status, s3_err_code(e),
                 message ? ": " : "", message ? message : "");
    if (e == S3E_NOT_MODIFIED) {
        req->res.content_length = SIZE_MAX;
        req->res.status = 304;
        req->res.reason = "Not Modified";
        common_headers(r);
        static h2o_generator_t gen = {NULL, NULL};
        h2o_start_response(req, &gen);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    dbuf_init(&body, 64 * 1024);
    if (s3_err_render(&body, e, message, resource, r->id) != 0) {
        dbuf_reset(&body);
        if (s3_err_render(&body, e, NULL, NULL, r->id) != 0)
            log_error("req %s: cannot render error", r->id);
    }
    req->res.status = status;
    req->res.reason = s3_err_code(e);
    common_headers(r);
    gw_add_header(r, "content-type", "application/xml", 15);
    req->res.content_length = body.len;
    h2o_send_inline(req, body.ptr ? body.ptr : "", body.len);
    dbuf_release(&body);
}

enum s3_err gw_store_err(enum store_status s)
{
    switch (s) {
    case STORE_OK: return S3E_OK;
    case STORE_NOT_FOUND: return S3E_NO_SUCH_KEY;
    case STORE_EXISTS: return S3E_BUCKET_ALREADY_OWNED_BY_YOU;
    case STORE_NOT_EMPTY: return S3E_BUCKET_NOT_EMPTY;
    case STORE_CONFLICT: return S3E_INVALID_PART;
    case STORE_BUSY: return S3E_SLOW_DOWN;
    case STORE_LOCKED: return S3E_ACCESS_DENIED; /* AWS: a locked version is AccessDenied */
    case STORE_SCHEMA:
    case STORE_IO: return S3E_INTERNAL_ERROR;
    }
    return S3E_INTERNAL_ERROR;
}

enum s3_err gw_store_err_or(enum store_status s, enum s3_err not_found)
{
    return s == STORE_NOT_FOUND ? not_found : gw_store_err(s);
}

/* ---- store jobs on behalf of a request ------------------------------------------ */

struct req_job {
    struct gw_req *r;
    gw_req_run_fn run;
    gw_req_done_fn done;
    void *op;
    void (*op_free)(void *op);
    enum s3_err err; /* run's verdict */
};

static void req_job_run(struct store *st, void *arg)
{
    struct req_job *j = arg;
    j->err = j->run(st, j->r, j->op);
}

/* The request is released first: only a context still attached to h2o is
 * answered, and a released context is never touched again (it may be freed,
 * and r->op with it). The job's own op goes last, whatever happened. */
static void req_job_done(void *arg)
{
    struct req_job *j = arg;
    struct gw_req *r = j->r;
    if (gw_req_release(r)) {
        if (j->err != S3E_OK)
            gw_respond_error(r, j->err, NULL);
        else
            j->done(r, j->op);
    }
    if (j->op_free != NULL)
        j->op_free(j->op);
    free(j);
}

void gw_req_store_call(struct gw_req *r, gw_req_run_fn run, gw_req_done_fn done, void *op, void (*op_free)(void *op))
{
    struct req_job *j = xmalloc(sizeof(*j));
    *j = (struct req_job){.r = r, .run = run, .done = done, .op = op, .op_free = op_free, .err = S3E_OK};
    gw_req_hold(r);
    gw_store_call(r->gw, req_job_run, req_job_done, j);
}

struct gw_req *gw_req_new(struct gw *gw, h2o_req_t *req)
{
    struct gw_req *r = xcalloc(1, sizeof(*r));
    r->gw = gw;
    r->req = req;
    gw->active++;
    gw_request_id_new(gw, r->id);
    struct anchor *a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), on_anchor_dispose);
    a->r = r;
    r->body = gw_body_claim(gw, req);

    /* The library's view of the request: views into h2o's memory, valid on this thread. */
    r->s3.method = req->method.base;
    r->s3.method_len = req->method.len;
    r->s3.path = req->path.base;
    r->s3.path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (req->query_at != SIZE_MAX) {
        r->s3.query = req->path.base + req->query_at + 1;
        r->s3.query_len = req->path.len - req->query_at - 1;
    }
    r->hdrs = xcalloc(req->headers.size + 4, sizeof(*r->hdrs));
    for (size_t i = 0; i < req->headers.size; i++) {
        r->hdrs[i].name = req->headers.entries[i].name->base;
        r->hdrs[i].name_len = req->headers.entries[i].name->len;
        r->hdrs[i].value = req->headers.entries[i].value.base;
        r->hdrs[i].value_len = req->headers.entries[i].value.len;
        if (r->body != NULL && gw_body_is_header(r->hdrs[i].name, r->hdrs[i].name_len)) {
            r->hdrs[i].name = "content-length"; /* renamed for h2o only (intake.c) */
        }
    }
    /* h2o keeps Host apart from the other headers (authority); SigV4 signs it. */
    r->hdrs[req->headers.size].name = "host";
    r->hdrs[req->headers.size].name_len = 4;
    r->hdrs[req->headers.size].value = req->authority.base;
    r->hdrs[req->headers.size].value_len = req->authority.len;
    r->s3.headers = r->hdrs;
    r->s3.n_headers = req->headers.size + 1;
    /* h2o 2.2 consumes Content-Length while parsing, but clients (rclone) sign it: restore it
     * from the body h2o read, which has exactly the length the client declared. */
    if (s3_header_get(&r->s3, "content-length", NULL) == NULL &&
        (req->entity.base != NULL || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")) ||
         h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))) {
        char *cl = h2o_mem_alloc_pool(&req->pool, 24);
        int n = snprintf(cl, 24, "%zu", req->entity.base != NULL ? req->entity.len : (size_t)0);
        r->hdrs[r->s3.n_headers].name = "content-length";
        r->hdrs[r->s3.n_headers].name_len = 14;
        r->hdrs[r->s3.n_headers].value = cl;
        r->hdrs[r->s3.n_headers].value_len = (size_t)n;
        r->s3.n_headers++;
    }
    /* h2o also consumes Transfer-Encoding and Expect, which a client may sign: as the head had them. */
    const char *dropped[2];
    gw_intake_dropped(req, &dropped[0], &dropped[1]);
    for (int i = 0; i < 2; i++) {
        if (dropped[i] == NULL)
            continue;
        r->hdrs[r->s3.n_headers].name = i == 0 ? "transfer-encoding" : "expect";
        r->hdrs[r->s3.n_headers].name_len = i == 0 ? 17 : 6;
        size_t n = strlen(dropped[i]);
        char *v = h2o_mem_alloc_pool(&req->pool, n + 1); /* the connection's copy changes with its next head */
        memcpy(v, dropped[i], n + 1);
        r->hdrs[r->s3.n_headers].value = v;
        r->hdrs[r->s3.n_headers].value_len = n;
        r->s3.n_headers++;
    }

    return r;
}

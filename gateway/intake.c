/* intake.c — large PUT bodies read from the socket as the engine asks for them.
 *
 * h2o 2.2 has no streaming request body: it hands a request over only once
 * the whole body sits in the socket's input buffer, which past a few MiB is
 * a file-backed mapping that it grows by remapping. For a 1 GiB PUT that
 * means a second of page faults and zeroing on the loop thread before the
 * first byte can be hashed, and nothing overlaps with the receive.
 *
 * DESIGN
 *   h2o reads every request through h2o_socket_read_start(sock, cb). This
 *   file defines that function (the executable's definition interposes the
 *   library's, which it then calls through dlsym(RTLD_NEXT)), so for the
 *   gateway's own S3 connections it sees each request head before h2o
 *   parses it. A head that qualifies (PUT, one Content-Length above
 *   INTAKE_MIN, no Transfer-Encoding, no aws-chunked payload, no
 *   x-amz-checksum) has its Content-Length header renamed in place to
 *   INTAKE_HEADER (same length): h2o then sees a request without a body,
 *   stops reading the socket and calls the handler at once. The handler
 *   claims the body (gw_body_claim, synchronously inside that same read
 *   callback) and the engine reads it block by block (gw_body_read) with
 *   libuv directly on the connection's handle, straight into block buffers:
 *   the socket's bytes are copied once, by the kernel.
 *   The request is marked not persistent until its last body byte has been
 *   read, so any answer given earlier (an auth failure, a missing bucket, a
 *   failed upload) closes the connection instead of parsing body bytes as a
 *   request. "Expect: 100-continue" is answered when the first block is
 *   wanted, so a client waits until a budget slot is free.
 *   Bytes h2o had already read past the head are taken over at the claim
 *   (anything past the body stays for h2o as the next request).
 *   Every other request, and every other socket, passes through untouched.
 * Limits: a read waits at most --req-timeout for bytes (RequestTimeout);
 *   one read at a time per body, into the caller's buffer; nothing buffered
 *   here beyond the bytes h2o read along with the head.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define INTAKE_MIN (4u << 20) /* smaller bodies go through h2o's buffer */
#define INTAKE_HEADER "x-tgs3-clength" /* replaces "content-length" (14 bytes) in streamed heads */
#define INTAKE_BUCKETS 1024
#define INTAKE_MAX_HEADERS 100

/* picohttpparser, which libh2o carries and exports but does not install a
 * header for: the parser h2o reads heads with, so the intake and h2o agree
 * on every head. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);

typedef void (*read_start_fn)(h2o_socket_t *sock, h2o_socket_cb cb);

static read_start_fn real_read_start;
static h2o_socket_cb reqread_cb;        /* h2o's HTTP/1 request reader, seen on the first accept */
static struct gw_conn *by_sock[INTAKE_BUCKETS];
static struct gw_conn *pending;         /* head just renamed, handed to h2o's reader now */
static struct gw_body *bodies;          /* bodies with a read outstanding (idle timeout scan) */
static struct gw_body *deferred;        /* finished reads waiting for the idle callback */
static uv_idle_t idle;
static uv_timer_t tick;
static int started;
static int arriving; /* claimed bodies not read to the end */

static void on_idle(uv_idle_t *h);

struct gw_body {
    struct gw_conn *c;     /* NULL once the connection closed */
    h2o_req_t *req;        /* NULL once h2o disposed the request */
    int persistent;        /* h2o's keep-alive decision, given back once the body is read */
    uint64_t len, got;     /* declared length; bytes handed out */
    unsigned char *prefix; /* body bytes h2o read along with the head */
    size_t prefix_len, prefix_off;
    int expect_continue, continue_sent;
    /* the read in progress */
    unsigned char *dst;
    size_t want, have;
    gw_body_cb cb;
    void *ud;
    int reading, socket_reading;
    enum s3_err err; /* the first failure, S3E_OK while none */
    int64_t last_ms;
    struct gw_body *next; /* on bodies (reading) or deferred (done, callback due) */
    int listed, deferred;
    int complete; /* the last byte was read */
};

static size_t bucket_of(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    return (size_t)((x >> 4) ^ (x >> 14)) % INTAKE_BUCKETS;
}

static struct gw_conn *find(const h2o_socket_t *sock)
{
    for (struct gw_conn *c = by_sock[bucket_of(sock)]; c != NULL; c = c->hnext)
        if (c->sock == sock)
            return c;
    return NULL;
}

void gw_intake_register(struct gw_conn *c)
{
    size_t b = bucket_of(c->sock);
    c->hnext = by_sock[b];
    by_sock[b] = c;
    c->fresh = 1;
}

/* h2o_http1_accept starts reading through h2o_socket_read_start; if that
 * call did not come here (a libh2o built to bind its own calls), every body
 * is buffered by h2o as before: correct, only slower. Said once. */
void gw_intake_accepted(struct gw_conn *c)
{
    static int warned;
    if (c->fresh && !warned) {
        warned = 1;
        log_warn("libh2o reads requests without h2o_socket_read_start reaching tgs3: large PUT bodies are buffered "
                 "by h2o (slower, not streamed)");
    }
}

static void finish_read(struct gw_body *b);
static void defer_remove(struct gw_body *b);

void gw_intake_unregister(struct gw_conn *c)
{
    struct gw_conn **pp = &by_sock[bucket_of(c->sock)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    if (pending == c)
        pending = NULL;
    if (c->body != NULL) {
        struct gw_body *b = c->body;
        b->c = NULL;
        b->socket_reading = 0; /* the handle is closing */
        c->body = NULL;
        if (b->reading) { /* its read ends now (a close callback: nothing of the caller's is on the stack) */
            if (b->err == S3E_OK)
                b->err = S3E_INCOMPLETE_BODY;
            defer_remove(b);
            finish_read(b);
        }
    }
}

/* ---- the head ------------------------------------------------------------------ */

static int name_is(const struct phr_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

static int name_starts(const struct phr_header *h, const char *prefix)
{
    size_t n = strlen(prefix);
    return h->name_len >= n && strncasecmp(h->name, prefix, n) == 0;
}

/* A complete head at the start of sock->input that qualifies gets its
 * Content-Length renamed; c remembers what h2o will not see. */
static void inspect(struct gw_conn *c)
{
    if (pending == c)
        pending = NULL; /* a head h2o answered without the handler: this is a new one */
    h2o_buffer_t *in = c->sock->input;
    if (in == NULL || in->size < 4 || memcmp(in->bytes, "PUT ", 4) != 0)
        return;
    const char *method, *path;
    size_t method_len, path_len, num = INTAKE_MAX_HEADERS;
    int minor;
    struct phr_header h[INTAKE_MAX_HEADERS];
    size_t len = in->size < 65536 ? in->size : 65536;
    int head = phr_parse_request(in->bytes, len, &method, &method_len, &path, &path_len, &minor, h, &num, 0);
    if (head <= 0 || minor != 1)
        return;
    const struct phr_header *cl = NULL;
    int expect = 0;
    for (size_t i = 0; i < num; i++) {
        if (name_is(&h[i], "content-length")) {
            if (cl != NULL)
                return;
            cl = &h[i];
        } else if (name_is(&h[i], "transfer-encoding") || name_is(&h[i], INTAKE_HEADER) ||
                   name_starts(&h[i], "x-amz-checksum-") || name_is(&h[i], "x-amz-trailer")) {
            return;
        } else if (name_is(&h[i], "x-amz-content-sha256")) {
            if (h[i].value_len >= 10 && memcmp(h[i].value, "STREAMING-", 10) == 0)
                return;
        } else if (name_is(&h[i], "expect")) {
            if (h[i].value_len != 12 || strncasecmp(h[i].value, "100-continue", 12) != 0)
                return; /* h2o answers 417 */
            expect = 1;
        }
    }
    if (cl == NULL || cl->value_len == 0 || cl->value_len > 15)
        return;
    uint64_t n = 0;
    for (size_t i = 0; i < cl->value_len; i++) {
        if (cl->value[i] < '0' || cl->value[i] > '9')
            return;
        n = n * 10 + (uint64_t)(cl->value[i] - '0');
    }
    if (n <= INTAKE_MIN)
        return;
    memcpy((char *)cl->name, INTAKE_HEADER, 14);
    c->head_len = (size_t)head;
    c->body_len = n;
    c->expect_continue = expect;
    pending = c;
}

/* h2o's read callback for a registered connection goes through here. */
static void on_h2o_read(h2o_socket_t *sock, const char *err)
{
    struct gw_conn *c = find(sock);
    if (c == NULL)
        return; /* cannot happen: reads stop before a socket is unregistered */
    h2o_socket_cb cb = c->h2o_read_cb;
    if (err == NULL && cb == reqread_cb)
        inspect(c);
    cb(sock, err);
    if (pending == c)
        pending = NULL; /* not claimed: h2o answered by itself */
}

void h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
    if (real_read_start == NULL) {
        union {
            void *obj;
            read_start_fn fn;
        } sym = {dlsym(RTLD_NEXT, "h2o_socket_read_start")};
        real_read_start = sym.fn;
        if (real_read_start == NULL) {
            fprintf(stderr, "tgs3: h2o_socket_read_start not found in libh2o\n");
            abort();
        }
    }
    struct gw_conn *c = find(sock);
    if (c == NULL) {
        real_read_start(sock, cb);
        return;
    }
    if (c->fresh) {
        c->fresh = 0; /* h2o_http1_accept starts with its request reader */
        if (reqread_cb == NULL)
            reqread_cb = cb;
    }
    c->h2o_read_cb = cb;
    /* Bytes already there (a pipelined request) are parsed right after this returns. */
    if (cb == reqread_cb)
        inspect(c);
    real_read_start(sock, on_h2o_read);
}

/* ---- the body ------------------------------------------------------------------ */

/* A body is on at most one list at a time, by its next link. */
static void unlink_body(struct gw_body **head, struct gw_body *b)
{
    while (*head && *head != b)
        head = &(*head)->next;
    if (*head)
        *head = b->next;
    b->next = NULL;
}

static void list_remove(struct gw_body *b)
{
    if (b->listed)
        unlink_body(&bodies, b);
    b->listed = 0;
}

static void defer_remove(struct gw_body *b)
{
    if (b->deferred)
        unlink_body(&deferred, b);
    b->deferred = 0;
}

struct gw_body *gw_body_claim(struct gw *gw, h2o_req_t *req)
{
    struct gw_conn *c = pending;
    if (c == NULL || c->sock == NULL || c->sock->data != (void *)req->conn)
        return NULL;
    pending = NULL;
    struct gw_body *b = xcalloc(1, sizeof(*b));
    b->c = c;
    b->req = req;
    b->len = c->body_len;
    b->expect_continue = c->expect_continue;
    b->persistent = req->http1_is_persistent;
    req->http1_is_persistent = 0; /* until the last body byte is read */
    /* Body bytes read along with the head; anything past the body is the next request. */
    h2o_buffer_t *in = c->sock->input;
    size_t extra = in->size > c->head_len ? in->size - c->head_len : 0;
    size_t take = (uint64_t)extra > b->len ? (size_t)b->len : extra;
    if (take > 0) {
        b->prefix = xmalloc(take);
        memcpy(b->prefix, in->bytes + c->head_len, take);
        b->prefix_len = take;
        memmove(in->bytes + c->head_len, in->bytes + c->head_len + take, extra - take);
        in->size -= take;
    }
    c->body = b;
    gw->bodies_streamed++;
    arriving++;
    return b;
}

uint64_t gw_body_len(const struct gw_body *b)
{
    return b->len;
}

uint64_t gw_body_received(const struct gw_body *b)
{
    return b->got;
}

int gw_intake_arriving(void)
{
    return arriving;
}

int gw_body_is_header(const char *name, size_t len)
{
    return len == 14 && memcmp(name, INTAKE_HEADER, 14) == 0;
}

static void finish_read(struct gw_body *b)
{
    gw_body_cb cb = b->cb;
    void *ud = b->ud;
    enum s3_err err = b->err;
    b->reading = 0;
    b->cb = NULL;
    list_remove(b);
    if (err == S3E_OK && b->got == b->len && !b->complete) {
        b->complete = 1;
        arriving--;
        if (b->req != NULL)
            b->req->http1_is_persistent = b->persistent != 0;
    }
    if (cb)
        cb(b, err, ud);
}

static void defer(struct gw_body *b)
{
    list_remove(b);
    if (b->deferred)
        return;
    b->deferred = 1;
    b->next = deferred;
    deferred = b;
    if (started)
        uv_idle_start(&idle, on_idle);
}

static void on_idle(uv_idle_t *h)
{
    while (deferred != NULL) {
        struct gw_body *b = deferred;
        deferred = b->next;
        b->next = NULL;
        b->deferred = 0;
        finish_read(b);
    }
    uv_idle_stop(h);
}

static void stop_socket(struct gw_body *b)
{
    if (b->socket_reading && b->c != NULL)
        uv_read_stop((uv_stream_t *)&b->c->tcp);
    b->socket_reading = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct gw_conn *c = (struct gw_conn *)(void *)h;
    struct gw_body *b = c->body;
    (void)suggested;
    if (b == NULL || !b->reading || b->have >= b->want) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = (char *)b->dst + b->have;
    buf->len = b->want - b->have;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct gw_conn *c = (struct gw_conn *)(void *)s;
    struct gw_body *b = c->body;
    (void)buf;
    if (b == NULL || !b->reading) {
        uv_read_stop(s);
        return;
    }
    if (n == UV_ENOBUFS || n == 0)
        return;
    if (n < 0) {
        b->err = S3E_INCOMPLETE_BODY; /* the client went away before its body ended */
        stop_socket(b);
        finish_read(b);
        return;
    }
    b->have += (size_t)n;
    b->got += (uint64_t)n;
    b->last_ms = mono_ms();
    if (b->have == b->want) {
        stop_socket(b);
        finish_read(b);
    }
}

static void on_continue_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status; /* a failed write shows as a failed read */
}

void gw_body_read(struct gw_body *b, unsigned char *dst, size_t n, gw_body_cb cb, void *ud)
{
    ASSERT(!b->reading && (uint64_t)n <= b->len - b->got);
    b->dst = dst;
    b->want = n;
    b->have = 0;
    b->cb = cb;
    b->ud = ud;
    b->reading = 1;
    if (b->prefix_off < b->prefix_len) {
        size_t k = b->prefix_len - b->prefix_off < n ? b->prefix_len - b->prefix_off : n;
        memcpy(dst, b->prefix + b->prefix_off, k);
        b->prefix_off += k;
        b->have = k;
        b->got += k;
        if (b->prefix_off == b->prefix_len) {
            free(b->prefix);
            b->prefix = NULL;
            b->prefix_len = b->prefix_off = 0;
        }
    }
    if (b->have == b->want || b->c == NULL) {
        if (b->have < b->want && b->err == S3E_OK)
            b->err = S3E_INCOMPLETE_BODY;
        defer(b); /* never call back from inside the caller */
        return;
    }
    struct gw_conn *c = b->c;
    if (b->expect_continue && !b->continue_sent) {
        static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t ub = uv_buf_init(cont, sizeof(cont) - 1);
        b->continue_sent = 1;
        if (uv_write(&c->cont_write, (uv_stream_t *)&c->tcp, &ub, 1, on_continue_written) != 0) {
            b->err = S3E_INCOMPLETE_BODY;
            defer(b);
            return;
        }
    }
    b->last_ms = mono_ms();
    if (!b->listed) {
        b->listed = 1;
        b->next = bodies;
        bodies = b;
    }
    if (!b->socket_reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            b->err = S3E_INCOMPLETE_BODY;
            defer(b);
            return;
        }
        b->socket_reading = 1;
    }
}

void gw_body_cancel(struct gw_body *b)
{
    if (b == NULL)
        return;
    b->cb = NULL;
    b->reading = 0;
    stop_socket(b);
    list_remove(b);
    defer_remove(b);
}

void gw_body_request_gone(struct gw_body *b)
{
    if (b != NULL)
        b->req = NULL;
}

void gw_body_free(struct gw_body *b)
{
    if (b == NULL)
        return;
    gw_body_cancel(b);
    if (!b->complete)
        arriving--;
    if (b->c != NULL)
        b->c->body = NULL;
    free(b->prefix);
    free(b);
}

/* Reads that saw no byte for --req-timeout end with RequestTimeout. */
static void on_tick(uv_timer_t *t)
{
    struct gw *gw = t->data;
    int64_t now = mono_ms();
    for (struct gw_body *b = bodies, *next; b != NULL; b = next) {
        next = b->next;
        if (b->reading && now - b->last_ms > gw->cfg.req_timeout_ms) {
            b->err = S3E_REQUEST_TIMEOUT;
            stop_socket(b);
            finish_read(b);
        }
    }
}

void gw_intake_start(struct gw *gw)
{
    uv_idle_init(gw->loop, &idle);
    uv_timer_init(gw->loop, &tick);
    tick.data = gw;
    uv_timer_start(&tick, on_tick, 1000, 1000);
    uv_unref((uv_handle_t *)&tick);
    started = 1;
}

void gw_intake_stop(struct gw *gw)
{
    (void)gw;
    if (!started)
        return;
    started = 0;
    uv_close((uv_handle_t *)&idle, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
}

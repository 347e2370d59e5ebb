/* intake.c — what arrives on an S3 connection: every request head checked
 * before its body costs anything, and large PUT bodies read from the socket
 * as the engine asks for them.
 *
 * h2o 2.2 has no streaming request body and no hook before a body is read:
 * it hands a request over only once the whole body sits in the socket's
 * input buffer (past a few MiB a file-backed mapping in DATA_DIR/tmp), and
 * answers "Expect: 100-continue" itself. Left alone, anyone could make it
 * buffer gigabytes on the index's disk without a credential, and a 1 GiB PUT
 * would cost a second of page faults on the loop before its first byte is
 * hashed.
 *
 * DESIGN
 *   h2o reads every request through h2o_socket_read_start(sock, cb). This
 *   file defines that function (the executable's definition interposes the
 *   library's, which it then calls through dlsym(RTLD_NEXT)), so for the
 *   gateway's own S3 connections it sees each request head before h2o
 *   parses it, with the same parser (picohttpparser). Each complete head is
 *   checked once, in this order:
 *   - framing: more than one Content-Length that disagree, Content-Length
 *     with Transfer-Encoding, or more than one Transfer-Encoding is refused
 *     (behind a proxy, each is request smuggling);
 *   - a PUT with one Content-Length above INTAKE_MIN, no Transfer-Encoding
 *     and no aws-chunked payload or trailer is streamed (below; an
 *     x-amz-checksum-* header is computed on the engine's hash lane);
 *   - any other body above INTAKE_FREE (or chunked) is authenticated from
 *     the head (gw_auth_verify: the handler's own check) and must fit in
 *     --max-spill with the bodies already buffered; chunked bodies grow
 *     their share as they arrive and lose the connection past the cap.
 *   A refused head has its framing headers renamed in place (same lengths):
 *   h2o then sees a request without a body, calls the handler at once, the
 *   handler answers the verdict (gw_intake_verdict) and the connection
 *   closes with the body unread. Nothing of it reaches memory or disk.
 *   Streamed: the head's Content-Length is renamed to INTAKE_HEADER (same
 *   length): h2o sees a request without a body, stops reading the socket
 *   and calls the handler at once. The handler authenticates the head,
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
 *   Every other socket passes through untouched.
 * Connections: a head must be complete --header-timeout after its first
 *   byte (a new connection: after its accept), else the connection is
 *   closed; at --max-connections the connection idle longest makes room
 *   (gw_intake_make_room). Closing goes through h2o's own read callback with
 *   an error, which is how h2o closes on a socket error.
 * Limits: a streamed body read that sees no byte for --req-timeout, or that
 *   runs below --body-min-rate over a window (5 s; while other uploads wait
 *   for a slot, anything from 0.5 s), ends with RequestTimeout and frees its
 *   slot; one read
 *   at a time per body, into the caller's buffer; nothing buffered here
 *   beyond the bytes h2o read along with the head.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define INTAKE_MIN (4u << 20) /* smaller bodies go through h2o's buffer */
#define INTAKE_FREE (64u << 10) /* bodies up to this are buffered (in memory) before authentication */
#define INTAKE_HEADER "x-tgs3-clength" /* replaces "content-length" (14 bytes) in streamed heads */
#define REFUSED_CL "x-tgs3-refused"    /* replaces "content-length" in refused heads */
#define REFUSED_TE "x-tgs3-refused-te" /* replaces "transfer-encoding" (17 bytes) in refused heads */
#define INTAKE_BUCKETS 1024
#define INTAKE_MAX_HEADERS 100 /* h2o's H2O_MAX_HEADERS: a head with more is h2o's 400 */
#define INTAKE_MAX_HEAD (8192 + 4096 * 100) /* h2o's H2O_MAX_REQLEN: the longest head h2o parses */
#define TICK_MS 250
#define RATE_WINDOW_MS 5000    /* --body-min-rate is measured over this */
#define RATE_WINDOW_BUSY_MS 500 /* ... or, while uploads wait for a slot, over at least this */
#define RATE_FIRST_BUSY_MS 3000 /* ... but this before its first byte (a client answering "100 Continue") */
#define PAUSE_GRACE_MAX_MS 120000 /* TCP's longest retransmission backoff (TCP_RTO_MAX) */

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
static int reclaim_due; /* a policing pass is scheduled right away */

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
    int64_t rate_since_ms; /* the rate window's start */
    uint64_t rate_bytes;   /* bytes since then */
    int64_t grace_until;   /* no rate floor before then: the client's TCP recovers from our pause */
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
    c->head_since_ms = mono_ms(); /* a new connection owes its first head from now */
}

static void spill_release(struct gw_conn *c)
{
    ASSERT(c->gw->spill_held >= c->spill);
    c->gw->spill_held -= c->spill;
    c->spill = 0;
}

/* Closes c the way h2o closes on a socket error: through h2o's own read
 * callback, which disposes its connection and closes the socket. Only for a
 * connection h2o reads a head from (no request of it is being handled). */
static void close_conn(struct gw_conn *c, const char *why)
{
    if (c->closing || c->h2o_read_cb == NULL)
        return;
    c->closing = 1;
    c->gw->conns_closing++;
    c->h2o_read_cb(c->sock, why);
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
    spill_release(c);
    free(c->answer);
    c->answer = NULL;
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

static int value_is(const struct phr_header *h, const char *v)
{
    size_t n = strlen(v);
    return h->value_len == n && strncasecmp(h->value, v, n) == 0;
}

/* Content-Length's value: digits only, at most 15 of them; -1 otherwise. */
static int64_t parse_length(const struct phr_header *h)
{
    if (h->value_len == 0 || h->value_len > 15)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9')
            return -1;
        n = n * 10 + (h->value[i] - '0');
    }
    return n;
}

/* h2o sees no body in a refused head: it calls the handler at once, which
 * answers c->verdict, and the body is never read. */
static void refuse(struct gw_conn *c, struct phr_header *h, size_t num, enum s3_err verdict)
{
    for (size_t i = 0; i < num; i++) {
        if (name_is(&h[i], "content-length"))
            memcpy((char *)h[i].name, REFUSED_CL, 14);
        else if (name_is(&h[i], "transfer-encoding"))
            memcpy((char *)h[i].name, REFUSED_TE, 17);
    }
    c->verdict = verdict;
    c->gw->heads_refused++;
}

/* The head's own authentication, as the handler will run it (auth.c). */
static enum s3_err authenticate(struct gw *gw, const char *method, size_t method_len, const char *path,
                                size_t path_len, const struct phr_header *h, size_t num)
{
    struct s3_header hs[INTAKE_MAX_HEADERS];
    for (size_t i = 0; i < num; i++)
        hs[i] = (struct s3_header){.name = h[i].name, .name_len = h[i].name_len, .value = h[i].value,
                                   .value_len = h[i].value_len};
    return gw_auth_head(gw, method, method_len, path, path_len, hs, num);
}

/* A complete head at the start of sock->input is checked once (the file's
 * comment gives the order); an incomplete one starts the header timeout. */
static void inspect(struct gw_conn *c)
{
    if (pending == c)
        pending = NULL; /* a head h2o answered without the handler: this is a new one */
    if (c->checked)
        return; /* its body arriving, or read again after "100 Continue" */
    struct gw *gw = c->gw;
    h2o_buffer_t *in = c->sock->input;
    if (in == NULL || in->size == 0) {
        if (c->head_since_ms == 0 && c->idle_since_ms == 0)
            c->idle_since_ms = mono_ms();
        return;
    }
    const char *method, *path;
    size_t method_len, path_len, num = INTAKE_MAX_HEADERS;
    int minor;
    struct phr_header h[INTAKE_MAX_HEADERS];
    size_t len = in->size < INTAKE_MAX_HEAD ? in->size : INTAKE_MAX_HEAD;
    int head = phr_parse_request(in->bytes, len, &method, &method_len, &path, &path_len, &minor, h, &num, 0);
    c->idle_since_ms = 0;
    if (head == -2) {
        if (c->head_since_ms == 0)
            c->head_since_ms = mono_ms();
        return;
    }
    c->head_since_ms = 0;
    if (head < 0)
        return; /* h2o answers 400 and closes */
    c->checked = 1;
    c->handled = 0;
    c->chunked = 0;
    c->verdict = S3E_OK;
    c->te_value[0] = c->expect_value[0] = '\0';

    const struct phr_header *cl = NULL;
    int n_cl = 0, n_te = 0, chunked = 0, expect = 0, stream_ok = 1, form = 0;
    int64_t n = 0;
    for (size_t i = 0; i < num; i++) {
        if (name_is(&h[i], "content-length")) {
            int64_t v = parse_length(&h[i]);
            if (v < 0 || (n_cl > 0 && v != n)) {
                refuse(c, h, num, S3E_BAD_REQUEST); /* RFC 9112 §6.3: invalid or disagreeing lengths */
                return;
            }
            n = v;
            n_cl++;
            cl = &h[i];
        } else if (name_is(&h[i], "transfer-encoding")) {
            n_te++;
            chunked = value_is(&h[i], "chunked");
            if (chunked)
                snprintf(c->te_value, sizeof(c->te_value), "%.*s", (int)h[i].value_len, h[i].value);
        } else if (name_is(&h[i], INTAKE_HEADER) || name_is(&h[i], "x-amz-trailer")) {
            stream_ok = 0;
        } else if (name_is(&h[i], "x-amz-content-sha256")) {
            if (h[i].value_len >= 10 && memcmp(h[i].value, "STREAMING-", 10) == 0)
                stream_ok = 0;
        } else if (name_is(&h[i], "content-type")) { /* a POST form authenticates in its body (ops/post.c) */
            form = h[i].value_len >= 19 && strncasecmp(h[i].value, "multipart/form-data", 19) == 0;
        } else if (name_is(&h[i], "expect")) {
            expect = value_is(&h[i], "100-continue") ? 1 : -1;
            if (expect > 0)
                snprintf(c->expect_value, sizeof(c->expect_value), "%.*s", (int)h[i].value_len, h[i].value);
        }
    }
    if ((n_te > 0 && n_cl > 0) || n_te > 1) {
        refuse(c, h, num, S3E_BAD_REQUEST); /* RFC 9112 §6.1: a smuggling vector behind a proxy */
        return;
    }
    if (expect < 0) {
        refuse(c, h, num, S3E_EXPECTATION_FAILED); /* RFC 9110 §10.1.1: 100-continue is the one expectation */
        return;
    }
    if (n_te == 1 && !chunked)
        return; /* h2o answers 400 "unknown transfer-encoding" and closes */
    if (n_te == 0 && (uint64_t)n <= INTAKE_FREE && !(expect && n > 0))
        return; /* no body, or a small one: buffered in memory, authenticated by the handler */
    /* (A small body behind "Expect: 100-continue" is authenticated here, before h2o says 100.) */

    /* A large PUT body (or any POST form) streamed: the handler authenticates it before reading. */
    if (stream_ok && n_te == 0 && minor == 1 && (((uint64_t)n > INTAKE_MIN && method_len == 3 &&
        memcmp(method, "PUT", 3) == 0) || (form && method_len == 4 && memcmp(method, "POST", 4) == 0))) {
        memcpy((char *)cl->name, INTAKE_HEADER, 14);
        c->head_len = (size_t)head;
        c->body_len = (uint64_t)n;
        c->expect_continue = expect;
        pending = c;
        return;
    }

    /* Any other body is buffered by h2o: only for an authenticated request, and only within --max-spill. */
    enum s3_err e = authenticate(gw, method, method_len, path, path_len, h, num);
    if (e != S3E_OK) {
        refuse(c, h, num, e);
        return;
    }
    uint64_t want = chunked ? (uint64_t)in->size : (uint64_t)n;
    if (gw->spill_held + want > (uint64_t)gw->cfg.max_spill) {
        refuse(c, h, num, S3E_SLOW_DOWN);
        return;
    }
    gw->spill_held += want;
    c->spill = want;
    c->chunked = chunked;
}

static void on_answer_written(h2o_socket_t *sock, const char *err)
{
    struct gw_conn *c = find(sock);
    (void)err;
    if (c != NULL)
        close_conn(c, "answered");
}

/* Answers e on c's socket while h2o is still reading the request's body
 * (it could only answer once the body is in), then closes the connection.
 * h2o's read callback is not called again; were h2o to close the socket
 * first (its request timeout), it drops the write's callback with it. */
static void answer_raw(struct gw_conn *c, enum s3_err e)
{
    struct gw *gw = c->gw;
    struct dbuf body;
    char id[17];
    gw_request_id_new(gw, id);
    dbuf_init(&body, 4096);
    if (s3_err_render(&body, e, NULL, NULL, id) != 0)
        dbuf_reset(&body);
    free(c->answer);
    c->answer = xmalloc(512 + body.len);
    int n = snprintf(c->answer, 512,
                     "HTTP/1.1 %d %s\r\nServer: tgs3\r\nx-amz-request-id: %s\r\nContent-Type: application/xml\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     s3_err_status(e), s3_err_code(e), id, body.len);
    size_t len = (size_t)n;
    if (body.len > 0)
        memcpy(c->answer + len, body.ptr, body.len);
    len += body.len;
    dbuf_release(&body);
    gw->heads_refused++;
    h2o_socket_read_stop(c->sock);
    h2o_iovec_t buf = h2o_iovec_init(c->answer, len);
    h2o_socket_write(c->sock, &buf, 1, on_answer_written);
}

/* A chunked body h2o buffers takes its share of --max-spill as it arrives;
 * past the cap the connection is closed (its answer could only come once
 * the body is in). 0 when it was closed. */
static int chunked_grows(struct gw_conn *c)
{
    struct gw *gw = c->gw;
    uint64_t now_in = c->sock->input != NULL ? (uint64_t)c->sock->input->size : 0;
    if (!c->chunked || c->handled || now_in <= c->spill)
        return 1;
    uint64_t more = now_in - c->spill;
    if (gw->spill_held + more > (uint64_t)gw->cfg.max_spill) {
        log_warn("a chunked request body passed --max-spill (%llu bytes buffered): 503, connection closed",
                 (unsigned long long)gw->spill_held);
        answer_raw(c, S3E_SLOW_DOWN);
        return 0;
    }
    gw->spill_held += more;
    c->spill += more;
    return 1;
}

static struct gw_conn *conn_of(h2o_req_t *req)
{
    /* h2o's HTTP/1 connection (lib/http1.c, st_h2o_http1_conn_t) begins with
     * its h2o_conn_t and the socket; the socket's data points back at it. */
    struct http1_conn_head {
        h2o_conn_t super;
        h2o_socket_t *sock;
    } *hc = (struct http1_conn_head *)(void *)req->conn;
    struct gw_conn *c = find(hc->sock);
    return c != NULL && c->sock != NULL && c->sock->data == (void *)req->conn ? c : NULL;
}

void gw_intake_dropped(h2o_req_t *req, const char **te, const char **expect)
{
    struct gw_conn *c = conn_of(req);
    *te = c != NULL && c->te_value[0] ? c->te_value : NULL;
    *expect = c != NULL && c->expect_value[0] ? c->expect_value : NULL;
}

enum s3_err gw_intake_verdict(h2o_req_t *req)
{
    struct gw_conn *c = conn_of(req);
    if (c == NULL)
        return S3E_OK;
    c->handled = 1;
    enum s3_err v = c->verdict;
    c->verdict = S3E_OK;
    if (v != S3E_OK)
        req->http1_is_persistent = 0; /* the body is still in the socket */
    return v;
}

/* h2o's read callback for a registered connection goes through here. */
static void on_h2o_read(h2o_socket_t *sock, const char *err)
{
    struct gw_conn *c = find(sock);
    if (c == NULL)
        return; /* cannot happen: reads stop before a socket is unregistered */
    h2o_socket_cb cb = c->h2o_read_cb;
    if (err == NULL && cb == reqread_cb) {
        inspect(c);
        if (!chunked_grows(c))
            return;
    }
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
    if (cb == reqread_cb && c->handled) {
        /* The last request is done and its buffer consumed: a new one begins. */
        spill_release(c);
        c->checked = c->handled = c->chunked = 0;
        c->head_since_ms = 0;
        c->idle_since_ms = 0;
    }
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
    b->rate_bytes += (uint64_t)n;
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
    /* After a pause of ours (an upload waiting for a slot), the client's TCP may have backed
     * off: the full receive queue dropped its segments and each retry doubled its timer. Its
     * next segment may come as late as the pause was long; the rate floor waits that long. */
    int64_t now = mono_ms(), pause = b->last_ms > 0 ? now - b->last_ms : 0; /* last_ms: its last byte */
    if (pause > RATE_WINDOW_BUSY_MS)
        b->grace_until = now + (pause < PAUSE_GRACE_MAX_MS ? pause : PAUSE_GRACE_MAX_MS);
    b->last_ms = now;
    b->rate_since_ms = now; /* the slot was just taken: the window starts with the read */
    b->rate_bytes = 0;
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

/* Streamed body reads hold an upload slot: one that saw no byte for
 * --req-timeout, or that ran below --body-min-rate over its window (after
 * the grace of a pause the gateway made, gw_body_read), ends with
 * RequestTimeout and gives the slot back. */
static void police_bodies(struct gw *gw, int64_t now)
{
    int wanted = gw->up_waiting; /* slots uploads wait for: as many slow bodies give theirs up now */
    for (struct gw_body *b = bodies, *next; b != NULL; b = next) {
        next = b->next;
        if (!b->reading)
            continue;
        int64_t span = now - b->rate_since_ms;
        int full = span >= RATE_WINDOW_MS, slow = 0;
        int64_t busy = b->rate_bytes > 0 || b->got > 0 ? RATE_WINDOW_BUSY_MS : RATE_FIRST_BUSY_MS;
        if ((full || (wanted > 0 && span >= busy)) && now >= b->grace_until)
            slow = gw->cfg.body_min_rate > 0 && b->rate_bytes * 1000 < (uint64_t)gw->cfg.body_min_rate * (uint64_t)span;
        if (slow && !full)
            wanted--;
        if (full) {
            b->rate_since_ms = now;
            b->rate_bytes = 0;
        }
        if (slow || now - b->last_ms > gw->cfg.req_timeout_ms) {
            if (slow)
                gw->bodies_too_slow++;
            b->err = S3E_REQUEST_TIMEOUT;
            stop_socket(b);
            finish_read(b);
        }
    }
}

/* A head must be complete --header-timeout after its first byte (or the accept). */
static void police_heads(struct gw *gw, int64_t now)
{
    for (struct gw_conn *c = gw->conns; c != NULL; c = c->next) {
        if (c->sock == NULL || c->checked || c->closing || c->h2o_read_cb != reqread_cb || c->head_since_ms == 0)
            continue;
        if (now - c->head_since_ms > gw->cfg.header_timeout_ms) {
            gw->header_timeouts++;
            close_conn(c, "header timeout");
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    struct gw *gw = t->data;
    int64_t now = mono_ms();
    reclaim_due = 0;
    police_bodies(gw, now);
    police_heads(gw, now);
}

void gw_intake_reclaim(struct gw *gw)
{
    (void)gw;
    if (!started || reclaim_due || bodies == NULL)
        return;
    reclaim_due = 1;
    uv_timer_start(&tick, on_tick, 0, TICK_MS); /* now, outside the caller */
}

/* Since when a connection with no byte of a head has been quiet: its last
 * response (kept alive), or its accept (new). */
static int64_t quiet_since(const struct gw_conn *c)
{
    return c->idle_since_ms ? c->idle_since_ms : c->head_since_ms;
}

int gw_intake_make_room(struct gw *gw)
{
    struct gw_conn *idlest = NULL, *oldest_head = NULL;
    for (struct gw_conn *c = gw->conns; c != NULL; c = c->next) {
        if (c->sock == NULL || c->checked || c->closing || c->h2o_read_cb != reqread_cb)
            continue; /* a request is on it (or h2o has not started reading) */
        if (c->sock->input == NULL || c->sock->input->size == 0) {
            if (idlest == NULL || quiet_since(c) < quiet_since(idlest))
                idlest = c;
        } else if (oldest_head == NULL || c->head_since_ms < oldest_head->head_since_ms) {
            oldest_head = c;
        }
    }
    struct gw_conn *victim = idlest != NULL ? idlest : oldest_head;
    if (victim == NULL)
        return 0;
    gw->conns_evicted++;
    close_conn(victim, "room for a new connection");
    return 1;
}

void gw_intake_counters(const struct gw *gw, struct gw_intake_counters *out)
{
    out->bodies_streamed = gw->bodies_streamed;
    out->heads_refused = gw->heads_refused;
    out->header_timeouts = gw->header_timeouts;
    out->conns_evicted = gw->conns_evicted;
    out->bodies_too_slow = gw->bodies_too_slow;
    out->spill_held = gw->spill_held;
}

void gw_intake_start(struct gw *gw)
{
    uv_idle_init(gw->loop, &idle);
    uv_timer_init(gw->loop, &tick);
    tick.data = gw;
    uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);
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

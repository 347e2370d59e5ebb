/* client.c — the Bot API client core: curl multi_socket on a libuv loop, calls, retries.
 *
 * Every call is a heap object holding one curl easy handle per HTTP attempt.
 * curl's multi_socket API is driven by libuv as in curl's multi-uv.c example:
 * one uv_poll_t per socket curl asks us to watch, one uv_timer_t for curl's
 * timeout. Answers go into a bounded dbuf; the Retry-After header is kept.
 *
 * DESIGN
 *   States of a call: attempt running (easy on the multi handle) → answer
 *   judged by should_retry() → either waiting on its retry timer (then a new
 *   attempt) or finished (callback, then freed). tg_fetch_file adds stages
 *   (fetch.c); a stage restarts the attempt counter, not the total.
 *   Threads: everything runs on the loop thread that owns the client.
 *   Limits: max_attempts HTTP attempts per stage; backoff 250 ms × 2^n with
 *   jitter, capped at 8 s; a 429 is waited for only if retry_after ≤
 *   max_retry_wait; answers ≤ TG_MAX_JSON_ANSWER bytes. Each attempt is
 *   bounded by timeout_ms, or by the time left to the call's deadline when it
 *   has one (tg_get_me_within), and no retry is waited for past the deadline.
 *   Lifetimes: uv handles are freed in their close callbacks; a call with a
 *   local file read running on the pool is freed from its completion, so
 *   cancellation never waits and callbacks never run after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg_int.h"

#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 8000

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct tg_client *c;
    struct sock_ctx *prev, *next;
};

static void attempt_start(struct tg_call *call);
static void check_multi_info(struct tg_client *c);

/* ---- libuv ↔ curl glue (multi-uv.c) ----------------------------------------- */

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sock_close(struct sock_ctx *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (s->c->socks == s)
        s->c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *s = h->data;
    struct tg_client *c = s->c;
    int flags = 0;
    int running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    (void)curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_multi_info(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct tg_client *c = userp;
    struct sock_ctx *s = socketp;
    (void)easy;

    if (action == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(s);
            if (!c->closing) /* not from inside curl_multi_cleanup */
                curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->c = c;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_curl_timeout(uv_timer_t *t)
{
    struct tg_client *c = t->data;
    int running;
    (void)curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct tg_client *c = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else if (!c->closing)
        uv_timer_start(&c->timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- client ----------------------------------------------------------------- */

static void init_curl(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

struct tg_client *tg_client_new(uv_loop_t *loop, const struct tg_config *cfg)
{
    static uv_once_t once = UV_ONCE_INIT;
    struct tg_client *c;

    ASSERT(loop != NULL && cfg != NULL && cfg->api_url != NULL);
    /* curl_global_init is not thread-safe on every build; do it once for all loops. */
    uv_once(&once, init_curl);
    c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->cfg = *cfg;
    c->api_url = xstrdup(cfg->api_url);
    c->cfg.api_url = c->api_url;
    if (c->cfg.max_attempts <= 0)
        c->cfg.max_attempts = 5;
    if (c->cfg.max_retry_wait <= 0)
        c->cfg.max_retry_wait = 60;
    if (c->cfg.connect_timeout_ms <= 0)
        c->cfg.connect_timeout_ms = 10000;
    if (c->cfg.timeout_ms <= 0)
        c->cfg.timeout_ms = 600000;
    if (c->cfg.max_connections <= 0)
        c->cfg.max_connections = 64;
    c->rng = (uint64_t)mono_ms() ^ ((uint64_t)(uintptr_t)c << 16) ^ 0x9E3779B97F4A7C15ull;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        free(c->api_url);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->cfg.max_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->cfg.max_connections);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    return c;
}

static void on_client_closed(uv_handle_t *h)
{
    struct tg_client *c = h->data;
    free(c->api_url);
    free(c);
}

void tg_client_free(struct tg_client *c)
{
    if (c == NULL)
        return;
    c->closing = 1;
    while (c->calls)
        tg_call_cancel(c->calls);
    /* Cleanup closes cached connections, telling us CURL_POLL_REMOVE for each. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

size_t tg_client_inflight(const struct tg_client *c)
{
    return c->inflight;
}

static const char *const stats_methods[TG_STATS_METHODS] = {
    "getMe", "getChat", "sendDocument", "forwardMessage", "getFile",
    "download", "deleteMessages", "deleteMessage", "pinChatMessage", "other",
};
#define STATS_DOWNLOAD 5
#define STATS_OTHER (TG_STATS_METHODS - 1)

void tg_client_stats(const struct tg_client *c, struct tg_stats *out)
{
    *out = c->stats;
}

const char *tg_stats_method_name(size_t i)
{
    return i < TG_STATS_METHODS ? stats_methods[i] : "other";
}

static size_t stats_method(const char *method)
{
    for (size_t i = 0; i < STATS_OTHER; i++)
        if (strcmp(stats_methods[i], method) == 0)
            return i;
    return STATS_OTHER;
}

/* ---- calls ------------------------------------------------------------------ */

struct tg_call *call_new(struct tg_client *c, enum call_kind kind, const char *token, const char *method,
                         void *ud)
{
    struct tg_call *call = xcalloc(1, sizeof(*call));
    struct dbuf url;

    ASSERT(!c->closing);
    call->c = c;
    call->loop = c->loop;
    call->kind = kind;
    call->method = stats_method(method);
    call->ud = ud;
    call->token = xstrdup(token);
    dbuf_init(&url, 4096);
    if (dbuf_printf(&url, "%s/bot%s/%s", c->api_url, token, method) != 0)
        call->url = xstrdup(""); /* over-long token: curl fails with a transport error */
    else
        call->url = dbuf_take(&url, NULL);
    dbuf_release(&url);
    dbuf_init(&call->answer, TG_MAX_JSON_ANSWER);
    dbuf_init(&call->errbody, TG_MAX_JSON_ANSWER);
    DLIST_PUSH(c->calls, call, prev, next);
    c->inflight++;
    return call;
}

void call_set_json(struct tg_call *call, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    ASSERT(s != NULL);
    json_decref(body);
    call->json = s;
    call->json_len = strlen(s);
}

void call_detach(struct tg_call *call)
{
    struct tg_client *c = call->c;
    if (c == NULL)
        return;
    DLIST_REMOVE(c->calls, call, prev, next);
    c->inflight--;
    call->c = NULL;
}

static void free_secret(char *s)
{
    if (s) {
        secure_zero(s, strlen(s));
        free(s);
    }
}

static void attempt_release(struct tg_call *call)
{
    if (call->easy) {
        curl_easy_cleanup(call->easy);
        call->easy = NULL;
    }
    curl_mime_free(call->mime);
    call->mime = NULL;
    curl_slist_free_all(call->headers);
    call->headers = NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

void call_destroy(struct tg_call *call)
{
    ASSERT(call->c == NULL);
    ASSERT(call->easy == NULL);
    attempt_release(call);
    if (call->timer) {
        uv_timer_stop(call->timer);
        uv_close((uv_handle_t *)call->timer, on_timer_closed);
        call->timer = NULL;
    }
    free_secret(call->token);
    call->token = NULL;
    free_secret(call->url);
    call->url = NULL;
    free(call->json);
    call->json = NULL;
    free(call->filename);
    call->filename = NULL;
    free(call->caption);
    call->caption = NULL;
    dbuf_release(&call->answer);
    dbuf_release(&call->errbody);
    if (call->fs_busy) {
        /* fetch.c frees the call when its local read on the pool completes */
        call->cancelled = 1;
        return;
    }
    fetch_release(call);
    free(call);
}

void tg_call_cancel(struct tg_call *call)
{
    if (call == NULL)
        return;
    if (call->easy && call->c) {
        curl_multi_remove_handle(call->c->multi, call->easy);
        curl_easy_cleanup(call->easy);
        call->easy = NULL;
    }
    call_detach(call);
    call_destroy(call);
}

/* ---- attempts --------------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct tg_call *call = ud;
    struct dbuf *b = &call->answer;
    if (call->raw_answer) {
        /* File bytes are bounded by the caller's max_size; an error answer by the JSON cap. */
        long status = 0;
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            b = &call->errbody;
    }
    if (dbuf_add(b, p, size * n) != 0) {
        call->overflow = 1;
        return 0;
    }
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct tg_call *call = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";

    if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
        call->retry_hdr[0] = '\0'; /* a new response (after 100 Continue or a redirect) */
        return len;
    }
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1, o = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (i < len && p[i] >= '0' && p[i] <= '9' && o + 1 < sizeof(call->retry_hdr))
            call->retry_hdr[o++] = p[i++];
        call->retry_hdr[o] = '\0';
    }
    return len;
}

static size_t on_doc_read(char *buf, size_t size, size_t n, void *arg)
{
    struct doc_part *d = arg;
    size_t want = size * n, got = 0, at = 0;
    for (int i = 0; i < d->n_iov && got < want; i++) {
        const struct tg_iov *v = &d->iov[i];
        if (d->pos < at + v->len) {
            size_t from = d->pos - at, k = v->len - from;
            if (k > want - got)
                k = want - got;
            memcpy(buf + got, (const unsigned char *)v->base + from, k);
            got += k;
            d->pos += k;
        }
        at += v->len;
    }
    if (d->pos == d->len)
        d->done = 1;
    return got;
}

static int on_doc_seek(void *arg, curl_off_t offset, int origin)
{
    struct doc_part *d = arg;
    curl_off_t base = origin == SEEK_SET ? 0 : origin == SEEK_CUR ? (curl_off_t)d->pos : (curl_off_t)d->len;
    curl_off_t to = base + offset;
    if (to < 0 || to > (curl_off_t)d->len)
        return CURL_SEEKFUNC_FAIL;
    d->pos = (size_t)to;
    return CURL_SEEKFUNC_OK;
}

/* Runs before every request curl sends, including the one it re-sends on its
 * own when a reused connection turns out dead without an answer (libcurl's
 * Curl_retry_request). Such a hidden retry counts as an attempt, and for sends
 * it may duplicate the message if the first request had been fully sent. */
static int on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    struct tg_call *call = ud;
    (void)ip;
    (void)local_ip;
    (void)port;
    (void)local_port;
    call->requests++;
    if (call->requests > 1) {
        call->attempts++;
        if ((call->kind == CALL_SEND || call->kind == CALL_FORWARD) && (call->json != NULL || call->doc.done))
            call->maybe_posted = 1;
    }
    return CURL_PREREQFUNC_OK;
}

static void add_text_part(curl_mime *mime, const char *name, const char *value)
{
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, name);
    curl_mime_data(part, value, CURL_ZERO_TERMINATED);
}

static void build_mime(struct tg_call *call)
{
    char chat[32];
    curl_mimepart *part;

    call->mime = curl_mime_init(call->easy);
    snprintf(chat, sizeof(chat), "%lld", (long long)call->chat_id);
    add_text_part(call->mime, "chat_id", chat);
    add_text_part(call->mime, "disable_content_type_detection", "true");
    if (call->caption)
        add_text_part(call->mime, "caption", call->caption);
    call->doc.pos = 0;
    call->doc.done = 0;
    part = curl_mime_addpart(call->mime);
    curl_mime_name(part, "document");
    /* A part without a filename is a string parameter to the server (read as a file_id). */
    curl_mime_filename(part, call->filename);
    curl_mime_type(part, "application/octet-stream");
    curl_mime_data_cb(part, (curl_off_t)call->doc.len, on_doc_read, on_doc_seek, NULL, &call->doc);
    curl_easy_setopt(call->easy, CURLOPT_MIMEPOST, call->mime);
}

static void attempt_start(struct tg_call *call)
{
    struct tg_client *c = call->c;
    long timeout_ms;
    CURL *e;

    ASSERT(c != NULL && call->easy == NULL);
    timeout_ms = c->cfg.timeout_ms;
    if (call->deadline_ms != 0) {
        int64_t left = call->deadline_ms - mono_ms();
        if (left <= 0) {
            call_fail_later(call, TG_ERR_TRANSPORT, "no answer before the call's deadline");
            return;
        }
        if (left < timeout_ms)
            timeout_ms = (long)left;
    }
    e = curl_easy_init();
    if (e == NULL) {
        call_fail_later(call, TG_ERR_TRANSPORT, "curl_easy_init failed");
        return;
    }
    call->easy = e;
    call->attempts++;
    call->stage_attempts++;
    call->overflow = 0;
    call->requests = 0;
    call->retry_hdr[0] = '\0';
    dbuf_reset(&call->answer);
    dbuf_reset(&call->errbody);

    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms); /* curl caps the connect timeout by it */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, call);
    /* The server never sends 100 Continue; without this curl would stall 1 s per upload. */
    call->headers = curl_slist_append(NULL, "Expect:");
    if (call->json) {
        call->headers = curl_slist_append(call->headers, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->json);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->json_len);
    } else if (call->has_doc) {
        build_mime(call);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        attempt_release(call);
        call_fail_later(call, TG_ERR_TRANSPORT, "curl_multi_add_handle failed");
    }
}

void call_set_timeout(struct tg_call *call, long timeout_ms)
{
    ASSERT(timeout_ms > 0 && call->easy == NULL);
    call->deadline_ms = mono_ms() + timeout_ms;
}

void call_start(struct tg_call *call)
{
    attempt_start(call);
}

void call_restart(struct tg_call *call, char *url)
{
    free_secret(call->url);
    call->url = url;
    call->stage_attempts = 0;
    call->stage_waits = 0;
    free(call->json);
    call->json = NULL;
    call->has_doc = 0;
    attempt_start(call);
}

static void on_call_timer(uv_timer_t *t)
{
    struct tg_call *call = t->data;
    if (call->has_pending) {
        struct tg_result res = call->pending;
        call->has_pending = 0;
        res.attempts = call->attempts;
        call_finish_error(call, &res);
        return;
    }
    attempt_start(call);
}

static void call_timer_start(struct tg_call *call, uint64_t ms)
{
    if (call->timer == NULL) {
        call->timer = xmalloc(sizeof(*call->timer));
        uv_timer_init(call->loop, call->timer);
        call->timer->data = call;
    }
    uv_timer_start(call->timer, on_call_timer, ms, 0);
}

void call_fail_later(struct tg_call *call, enum tg_status st, const char *desc)
{
    memset(&call->pending, 0, sizeof(call->pending));
    result_set(&call->pending, st, desc);
    call->has_pending = 1;
    call_timer_start(call, 0);
}

/* Transport failures worth another attempt: the server may be restarting or the
 * kept-alive connection was closed under us (the server's idle timeout is 500 s). */
static int transport_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* The one retry policy. Returns the wait in ms, or -1 when the result is final.
 * A 429 is Telegram saying when to come back, not a failed try: it does not
 * use up the stage's max_attempts, so a read survives a burst of 429s mixed
 * with 5xx answers; 429s have their own bound (RATE_WAITS_PER_ATTEMPT per
 * attempt allowed, each at most max_retry_wait long). */
#define RATE_WAITS_PER_ATTEMPT 2
static int64_t retry_delay(struct tg_call *call, const struct tg_result *res, int transport_ok)
{
    struct tg_client *c = call->c;
    int retry = 0;

    if (res->status == TG_ERR_RATE_LIMITED) {
        if (call->kind == CALL_SEND && c->cfg.send_no_wait_429)
            return -1;
        if (res->retry_after > c->cfg.max_retry_wait ||
            call->stage_waits >= RATE_WAITS_PER_ATTEMPT * c->cfg.max_attempts)
            return -1;
        call->stage_waits++;
        call->stage_attempts--; /* attempt_start counted it */
        if (res->retry_after > 0)
            return (int64_t)res->retry_after * 1000;
        return BACKOFF_BASE_MS;
    }
    if (call->stage_attempts >= c->cfg.max_attempts)
        return -1;
    switch (res->status) {
    case TG_ERR_TRANSPORT:
        retry = transport_ok;
        break;
    case TG_ERR_HTTP:
    case TG_ERR_API:
        retry = res->http_status >= 500 || res->error_code >= 500;
        /* getFile: the server's download from Telegram failed or is in progress (§5.3) */
        if (call->kind == CALL_FETCH && !call->raw_answer && res->http_status == 400 &&
            strstr(res->description, "temporarily unavailable") != NULL)
            retry = 1;
        break;
    default:
        break;
    }
    if (!retry)
        return -1;
    int shift = call->stage_attempts - 1;
    int64_t d = shift >= 6 ? BACKOFF_MAX_MS : (int64_t)BACKOFF_BASE_MS << shift;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    /* jitter: uniform in [d/2, d] (xorshift64) */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return d / 2 + (int64_t)(c->rng % (uint64_t)(d / 2 + 1));
}

static void attempt_done(struct tg_call *call, CURLcode rc)
{
    struct tg_result res;
    json_t *result = NULL;
    long status = 0;

    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK && (call->kind == CALL_SEND || call->kind == CALL_FORWARD)) {
        /* The server posts before it answers (§5.2): a lost answer may hide a message. */
        curl_off_t sent = 0, total = -1;
        curl_easy_getinfo(call->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
        curl_easy_getinfo(call->easy, CURLINFO_CONTENT_LENGTH_UPLOAD_T, &total);
        if (sent > 0 && sent >= total)
            call->maybe_posted = 1;
    }
    curl_multi_remove_handle(call->c->multi, call->easy);
    attempt_release(call);

    memset(&res, 0, sizeof(res));
    if (rc != CURLE_OK && call->overflow) {
        int file = call->raw_answer && status == 200;
        res.http_status = (int)status;
        result_set(&res, file ? TG_ERR_TOO_BIG : TG_ERR_PARSE, file ? "download exceeds the size limit" : "answer too large");
    } else if (rc != CURLE_OK) {
        res.http_status = (int)status;
        /* curl_easy_strerror, not the error buffer: that may quote the URL and its token */
        result_set(&res, TG_ERR_TRANSPORT, curl_easy_strerror(rc));
    } else if (call->raw_answer && status == 200) {
        res.http_status = 200;
        result_set(&res, TG_OK, NULL);
    } else {
        void *out = NULL;
        struct dbuf *b = call->raw_answer ? &call->errbody : &call->answer;
        tg_parse_answer((int)status, b->ptr, b->len,
                        call->retry_hdr[0] ? call->retry_hdr : NULL, &res, &out);
        result = out;
    }
    res.attempts = call->attempts;
    res.maybe_posted = call->maybe_posted;
    call->c->stats.calls[call->raw_answer ? STATS_DOWNLOAD : call->method][res.status]++;
    if (res.status == TG_ERR_RATE_LIMITED)
        call->c->stats.rate_limited++;

    int64_t wait = res.status == TG_OK ? -1 : retry_delay(call, &res, transport_retryable(rc));
    if (wait >= 0 && call->deadline_ms != 0 && mono_ms() + wait >= call->deadline_ms)
        wait = -1; /* no time left for another attempt: this failure is the answer */
    if (wait >= 0 && res.status == TG_ERR_RATE_LIMITED)
        call->c->stats.wait_ms += (uint64_t)wait;
    if (wait >= 0) {
        json_decref(result);
        call_timer_start(call, (uint64_t)wait);
        return;
    }
    if (call->raw_answer && res.status == TG_OK)
        fetch_on_download(call, &res);
    else
        call_on_answer(call, &res, result);
    json_decref(result);
}

static void check_multi_info(struct tg_client *c)
{
    CURLMsg *msg;
    int left;

    /* A callback may free the client: re-check before every read. */
    while (c->multi != NULL && !c->closing) {
        msg = curl_multi_info_read(c->multi, &left);
        if (msg == NULL)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct tg_call *call = NULL;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&call);
        ASSERT(call != NULL && call->easy == e);
        attempt_done(call, rc);
    }
}

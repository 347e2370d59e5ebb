/* test_tg_client.c — the Bot API client against a scripted local HTTP server, and optionally an emulator.
 *
 * The self-contained part runs a tiny HTTP/1.1 server on the same libuv loop
 * that answers from a script (502 twice, 429 with Retry-After, hangs, drops)
 * and checks retries, cancellation, local and cloud fetches and teardown.
 * With TGS3_BOTAPI_URL and TGS3_CHAT_ID set (TGS3_BOTAPI_MODE=local|cloud),
 * it also round-trips 1 MiB through a running tgs3-botapi.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telegram/tg.h"
#include "tests/unit/check.h"

static uv_loop_t loop;
static const char *TOKEN = "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ";

/* ---- scripted server -------------------------------------------------------- */

#define HANG "HANG"   /* read the request, never answer */
#define DROP "DROP"   /* read the request, close without answering */
#define MAX_SCRIPT 16

struct conn {
    uv_tcp_t tcp;
    struct dbuf in;
    struct conn *next;
    int closing;
};

static struct {
    uv_tcp_t tcp;
    int port;
    char *script[MAX_SCRIPT];
    size_t n, next;
    char *reqs[MAX_SCRIPT]; /* requests received (head + body) */
    size_t nreq;
    int connections;
    struct conn *conns;
} srv;

static char *resp(int status, const char *extra, const char *body)
{
    struct dbuf b;
    dbuf_init(&b, 1 << 24);
    if (dbuf_printf(&b, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, strlen(body), extra ? extra : "") ||
        dbuf_adds(&b, body))
        abort();
    return dbuf_take(&b, NULL);
}

static void script_reset(void)
{
    for (size_t i = 0; i < srv.n; i++)
        free(srv.script[i]);
    for (size_t i = 0; i < srv.nreq; i++)
        free(srv.reqs[i]);
    srv.n = srv.next = srv.nreq = 0;
}

static void script_add(char *r)
{
    if (srv.n == MAX_SCRIPT)
        abort();
    srv.script[srv.n++] = r;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *cn = h->data;
    struct conn **pp = &srv.conns;
    while (*pp != cn)
        pp = &(*pp)->next;
    *pp = cn->next;
    dbuf_release(&cn->in);
    free(cn);
}

static void conn_close(struct conn *cn)
{
    if (!cn->closing) {
        cn->closing = 1;
        uv_close((uv_handle_t *)&cn->tcp, on_conn_closed);
    }
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void conn_send(struct conn *cn, const char *s)
{
    uv_write_t *w = xmalloc(sizeof(*w));
    char *copy = xstrdup(s);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned int)strlen(copy));
    if (uv_write(w, (uv_stream_t *)&cn->tcp, &b, 1, on_written) != 0)
        on_written(w, -1);
}

static size_t content_length(const char *head, size_t headlen)
{
    for (size_t i = 0; i + 15 < headlen; i++)
        if (strncasecmp(head + i, "\ncontent-length:", 16) == 0)
            return (size_t)strtoul(head + i + 16, NULL, 10);
    return 0;
}

static void serve(struct conn *cn)
{
    for (;;) {
        char *end = cn->in.len ? strstr(cn->in.ptr, "\r\n\r\n") : NULL;
        if (end == NULL)
            return;
        size_t headlen = (size_t)(end - cn->in.ptr) + 4;
        size_t total = headlen + content_length(cn->in.ptr, headlen);
        if (cn->in.len < total)
            return;
        if (srv.nreq < MAX_SCRIPT)
            srv.reqs[srv.nreq++] = xstrndup(cn->in.ptr, total); /* truncated at NULs: fine for checks */
        memmove(cn->in.ptr, cn->in.ptr + total, cn->in.len - total);
        cn->in.len -= total;
        cn->in.ptr[cn->in.len] = '\0';
        const char *r = srv.next < srv.n ? srv.script[srv.next++] : HANG;
        if (strcmp(r, HANG) == 0)
            continue;
        if (strcmp(r, DROP) == 0) {
            conn_close(cn);
            return;
        }
        conn_send(cn, r);
    }
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    b->base = xmalloc(sz);
    b->len = sz;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *cn = s->data;
    if (n < 0) {
        conn_close(cn);
    } else if (n > 0 && !cn->closing) {
        if (dbuf_add(&cn->in, b->base, (size_t)n) != 0)
            abort();
        serve(cn);
    }
    free(b->base);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct conn *cn = xcalloc(1, sizeof(*cn));
    dbuf_init(&cn->in, 8u << 20);
    uv_tcp_init(&loop, &cn->tcp);
    cn->tcp.data = cn;
    cn->next = srv.conns;
    srv.conns = cn;
    srv.connections++;
    if (uv_accept(server, (uv_stream_t *)&cn->tcp) == 0)
        uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read);
    else
        conn_close(cn);
}

static void srv_start(void)
{
    struct sockaddr_in a;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &srv.tcp);
    if (uv_tcp_bind(&srv.tcp, (const struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&srv.tcp, 16, on_connection) != 0)
        abort();
    uv_tcp_getsockname(&srv.tcp, (struct sockaddr *)&ss, &len);
    srv.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_stop(void)
{
    for (struct conn *cn = srv.conns; cn; cn = cn->next)
        conn_close(cn);
    uv_close((uv_handle_t *)&srv.tcp, NULL);
    script_reset();
}

/* ---- capture ---------------------------------------------------------------- */

struct cap {
    int calls;
    struct tg_result res;
    struct tg_document doc;
    int has_doc;
    struct tg_bot_info bot;
    struct tg_chat_info chat;
    int has_chat;
    unsigned char *data;
    size_t len;
};

static void on_send(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct cap *c = ud;
    c->calls++;
    c->res = *res;
    c->has_doc = doc != NULL;
    if (doc)
        c->doc = *doc;
}

static void on_me(void *ud, const struct tg_result *res, const struct tg_bot_info *bot)
{
    struct cap *c = ud;
    c->calls++;
    c->res = *res;
    if (bot)
        c->bot = *bot;
}

static void on_bool(void *ud, const struct tg_result *res)
{
    struct cap *c = ud;
    c->calls++;
    c->res = *res;
}

static void on_chat(void *ud, const struct tg_result *res, const struct tg_chat_info *chat)
{
    struct cap *c = ud;
    c->calls++;
    c->res = *res;
    c->has_chat = chat != NULL;
    if (chat)
        c->chat = *chat;
}

static void on_fetch(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct cap *c = ud;
    c->calls++;
    c->res = *res;
    c->data = data;
    c->len = len;
}

/* UV_RUN_ONCE blocks for I/O even after a timer ran a callback: a 10 ms tick
 * (unref'd, so it never keeps the loop alive) wakes it to re-check. */
static uv_timer_t tick;
static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void wait_for(struct cap *c)
{
    while (c->calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
}

static struct tg_client *client(const char *url, enum tg_mode mode, int max_attempts)
{
    struct tg_config cfg = {
        .api_url = url,
        .mode = mode,
        .max_attempts = max_attempts,
        .max_retry_wait = 60,
        .connect_timeout_ms = 2000,
        .timeout_ms = 20000,
        .max_connections = 8,
    };
    return tg_client_new(&loop, &cfg);
}

static const char *MSG_OK =
    "{\"ok\":true,\"result\":{\"message_id\":42,\"chat\":{\"id\":-1001,\"type\":\"channel\",\"title\":\"t\"},"
    "\"date\":1760000000,\"document\":{\"file_name\":\"b.bin\",\"file_id\":\"BQACfid\",\"file_unique_id\":\"AgADu\","
    "\"file_size\":1000},\"caption\":\"cap-1\"}}";

/* ---- self-contained tests --------------------------------------------------- */

static void test_retry_502(struct tg_client *c)
{
    struct cap cap = {0};
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)('a' + i % 26);
    script_reset();
    script_add(resp(502, NULL, ""));
    script_add(resp(502, "Content-Type: text/html\r\n", "<html>bad gateway</html>"));
    script_add(resp(200, "Content-Type: application/json\r\n", MSG_OK));
    struct tg_call *call = tg_send_document(c, TOKEN, -1001, data, sizeof(data), "b.bin", "cap-1", on_send, &cap);
    CHECK(call != NULL);
    CHECK(tg_client_inflight(c) == 1);
    wait_for(&cap);
    CHECK(cap.calls == 1);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.res.attempts == 3);
    CHECK(cap.res.maybe_posted == 0);
    CHECK(cap.has_doc && cap.doc.message_id == 42 && cap.doc.chat_id == -1001);
    CHECK(strcmp(cap.doc.file_id, "BQACfid") == 0);
    CHECK(strcmp(cap.doc.caption, "cap-1") == 0);
    CHECK(tg_client_inflight(c) == 0);
    CHECK(srv.nreq == 3);
    const char *r = srv.nreq ? srv.reqs[srv.nreq - 1] : "";
    CHECK(strncmp(r, "POST /bot123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ/sendDocument HTTP/1.1", 70) == 0);
    CHECK(strstr(r, "Expect") == NULL);
    CHECK(strstr(r, "multipart/form-data") != NULL);
    CHECK(strstr(r, "name=\"document\"; filename=\"b.bin\"") != NULL);
    CHECK(strstr(r, "name=\"disable_content_type_detection\"\r\n\r\ntrue") != NULL);
    CHECK(strstr(r, "name=\"chat_id\"\r\n\r\n-1001") != NULL);
    CHECK(strstr(r, "name=\"caption\"\r\n\r\ncap-1") != NULL);
    CHECK(strstr(r, "abcdefghijklmnopqrstuvwxyzabc") != NULL);
}

static void test_retry_429(struct tg_client *c)
{
    struct cap cap = {0};
    script_reset();
    script_add(resp(429, "Retry-After: 1\r\nContent-Type: application/json\r\n",
                    "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 1\","
                    "\"parameters\":{\"retry_after\":1}}"));
    script_add(resp(200, NULL, "{\"ok\":true,\"result\":{\"id\":123456,\"is_bot\":true,\"first_name\":\"S3\","
                               "\"username\":\"s3_bot\"}}"));
    int64_t t0 = mono_ms();
    tg_get_me(c, TOKEN, on_me, &cap);
    wait_for(&cap);
    int64_t dt = mono_ms() - t0;
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.res.attempts == 2);
    CHECK(dt >= 950);
    CHECK(cap.bot.id == 123456);
    CHECK(strcmp(cap.bot.username, "s3_bot") == 0);
    CHECK(strcmp(cap.bot.first_name, "S3") == 0);

    /* too long a wait comes back to the caller */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(resp(429, "Retry-After: 100\r\n",
                    "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 100\"}"));
    tg_get_me(c, TOKEN, on_me, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_RATE_LIMITED);
    CHECK(cap.res.retry_after == 100);
    CHECK(cap.res.attempts == 1);
}

static void test_no_retry_4xx(struct tg_client *c)
{
    struct cap cap = {0};
    script_reset();
    script_add(resp(400, NULL, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message to delete not found\"}"));
    tg_delete_message(c, TOKEN, -1001, 77, on_bool, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_NOT_FOUND);
    CHECK(cap.res.attempts == 1);
    CHECK(srv.nreq == 1);
    const char *r = srv.nreq ? srv.reqs[0] : "";
    CHECK(strstr(r, "/deleteMessage HTTP/1.1") != NULL);
    CHECK(strstr(r, "application/json") != NULL);
    CHECK(strstr(r, "\"message_id\":77") != NULL);

    /* a bare 413 status line is final too */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(resp(413, "Connection: close\r\n", ""));
    int64_t ids[3] = {1, 2, 3};
    tg_delete_messages(c, TOKEN, -1001, ids, 3, on_bool, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_TOO_BIG);
    CHECK(cap.res.http_status == 413);
    CHECK(cap.res.attempts == 1);
    CHECK(srv.nreq == 1 && strstr(srv.reqs[0], "\"message_ids\":[1,2,3]") != NULL);
}

static void test_drop_then_ok(struct tg_client *c)
{
    struct cap cap = {0};
    script_reset();
    script_add(xstrdup(DROP));
    script_add(resp(200, NULL, "{\"ok\":true,\"result\":true}"));
    tg_pin_message(c, TOKEN, -1001, 5, on_bool, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.res.attempts == 2);
    CHECK(srv.nreq == 2 && strstr(srv.reqs[1], "\"disable_notification\":true") != NULL);

    /* a send whose answer is lost after the whole request went out is retried and flagged */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(xstrdup(DROP));
    script_add(resp(200, NULL, MSG_OK));
    tg_send_document(c, TOKEN, -1001, "0123456789", 10, "b.bin", "cap-1", on_send, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.res.attempts == 2);
    CHECK(cap.res.maybe_posted == 1);
    CHECK(srv.nreq == 2 && strstr(srv.reqs[0], "0123456789") != NULL);
}

static void test_refused(void)
{
    struct cap cap = {0};
    char url[64];
    uv_tcp_t t;
    struct sockaddr_in a;
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    /* a port that was just free */
    uv_tcp_init(&loop, &t);
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    uv_close((uv_handle_t *)&t, NULL);

    struct tg_client *c = client(url, TG_MODE_LOCAL, 2);
    tg_get_chat(c, TOKEN, -1001, on_chat, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_TRANSPORT);
    CHECK(cap.res.attempts == 2);
    CHECK(cap.res.http_status == 0);
    CHECK(strstr(cap.res.description, "AAbbCC") == NULL);
    CHECK(cap.res.description[0] != '\0');
    CHECK(!cap.has_chat);
    tg_client_free(c);
}

static void test_empty_document(struct tg_client *c)
{
    struct cap cap = {0};
    struct tg_call *call = tg_send_document(c, TOKEN, -1001, "", 0, "x", NULL, on_send, &cap);
    CHECK(call != NULL);
    CHECK(cap.calls == 0); /* never synchronous */
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_API);
    CHECK(!cap.has_doc);
}

static void on_cancel_timer(uv_timer_t *t)
{
    tg_call_cancel(t->data);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(struct tg_client *c)
{
    struct cap cap = {0};
    uv_timer_t t;
    script_reset();
    script_add(xstrdup(HANG));
    struct tg_call *call = tg_get_me(c, TOKEN, on_me, &cap);
    uv_timer_init(&loop, &t);
    t.data = call;
    uv_timer_start(&t, on_cancel_timer, 100, 0);
    while (srv.nreq == 0 || uv_is_active((uv_handle_t *)&t))
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(tg_client_inflight(c) == 0);
    /* a few more turns: nothing may call back */
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(cap.calls == 0);

    /* cancel during a retry wait */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(resp(503, NULL, ""));
    call = tg_get_me(c, TOKEN, on_me, &cap);
    while (srv.nreq == 0)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_NOWAIT);
    tg_call_cancel(call);
    CHECK(tg_client_inflight(c) == 0);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(cap.calls == 0);
}

/* tg_get_me_within: a server that accepts and never answers ends the call at
 * its deadline, not at the client's 20 s timeout, without retrying past it,
 * and leaves other calls alone. */
static void test_deadline(struct tg_client *c)
{
    struct cap probe = {0}, other = {0};
    script_reset();
    script_add(xstrdup(HANG));
    script_add(resp(200, NULL, "{\"ok\":true,\"result\":{\"id\":42,\"is_bot\":true,\"first_name\":\"B\"}}"));
    int64_t t0 = mono_ms();
    tg_get_me_within(c, TOKEN, 400, on_me, &probe);
    while (srv.nreq == 0)
        uv_run(&loop, UV_RUN_ONCE);
    /* a call started while the probe hangs gets its answer on another connection */
    tg_get_me(c, TOKEN, on_me, &other);
    wait_for(&other);
    CHECK(other.res.status == TG_OK && other.bot.id == 42);
    CHECK(probe.calls == 0);
    wait_for(&probe);
    int64_t dt = mono_ms() - t0;
    CHECK(probe.res.status == TG_ERR_TRANSPORT);
    CHECK(probe.res.attempts == 1);
    CHECK(dt >= 350 && dt < 5000);
    CHECK(strstr(probe.res.description, "AAbbCC") == NULL);
    CHECK(tg_client_inflight(c) == 0);

    /* the deadline covers the retries: a 502, then a hang, ends at the one deadline */
    memset(&probe, 0, sizeof(probe));
    script_reset();
    script_add(resp(502, NULL, ""));
    script_add(xstrdup(HANG));
    t0 = mono_ms();
    tg_get_me_within(c, TOKEN, 1500, on_me, &probe);
    wait_for(&probe);
    dt = mono_ms() - t0;
    CHECK(probe.res.status == TG_ERR_TRANSPORT);
    CHECK(probe.res.attempts == 2);
    CHECK(srv.nreq == 2);
    CHECK(dt >= 1400 && dt < 6000);

    /* a server that answers in time: the deadline changes nothing */
    memset(&probe, 0, sizeof(probe));
    script_reset();
    script_add(resp(200, NULL, "{\"ok\":true,\"result\":{\"id\":43,\"is_bot\":true,\"first_name\":\"B\"}}"));
    tg_get_me_within(c, TOKEN, 5000, on_me, &probe);
    wait_for(&probe);
    CHECK(probe.res.status == TG_OK && probe.bot.id == 43 && probe.res.attempts == 1);
}

static char *write_temp(const unsigned char *data, size_t len)
{
    char *path = xstrdup("/tmp/tgs3-test-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len)
        abort();
    close(fd);
    return path;
}

static char *file_answer(const char *path, size_t size)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"ok\":true,\"result\":{\"file_id\":\"BQACfid\",\"file_unique_id\":\"AgADu\",\"file_size\":%zu,"
             "\"file_path\":\"%s\"}}",
             size, path);
    return resp(200, NULL, body);
}

static void test_fetch_local(struct tg_client *c)
{
    struct cap cap = {0};
    size_t n = 5u << 20; /* more than one read chunk */
    unsigned char *data = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 12));
    char *path = write_temp(data, n);

    script_reset();
    script_add(resp(400, NULL, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: wrong file_id or the file "
                               "is temporarily unavailable\"}"));
    script_add(file_answer(path, n));
    tg_fetch_file(c, TOKEN, "BQACfid", (int64_t)n, 8u << 20, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.res.attempts == 2);
    CHECK(cap.len == n && cap.data && memcmp(cap.data, data, n) == 0);
    CHECK(access(path, F_OK) != 0); /* unlinked */
    bigbuf_free(cap.data);
    CHECK(srv.nreq >= 1 && strstr(srv.reqs[0], "\"file_id\":\"BQACfid\"") != NULL);
    free(path);

    /* A file not in the page cache is read with O_DIRECT, its last partial
     * page included: the same bytes. (Where the file system keeps it cached
     * anyway, the buffered path runs; the bytes are the same.) */
    memset(&cap, 0, sizeof(cap));
    size_t odd = n - 1234;
    path = write_temp(data, odd);
    int dfd = open(path, O_RDONLY);
    CHECK(dfd >= 0 && fdatasync(dfd) == 0);
    CHECK(posix_fadvise(dfd, 0, 0, POSIX_FADV_DONTNEED) == 0);
    close(dfd);
    script_reset();
    script_add(file_answer(path, odd));
    tg_fetch_file(c, TOKEN, "BQACfid", (int64_t)odd, 8u << 20, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.len == odd && cap.data && memcmp(cap.data, data, odd) == 0);
    CHECK(access(path, F_OK) != 0);
    bigbuf_free(cap.data);
    free(path);

    /* size mismatch → IO */
    memset(&cap, 0, sizeof(cap));
    path = write_temp(data, 100);
    script_reset();
    script_add(file_answer(path, 100));
    tg_fetch_file(c, TOKEN, "BQACfid", 99, 1000, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_IO);
    CHECK(strstr(cap.res.description, "size") != NULL);
    CHECK(cap.data == NULL);
    unlink(path);
    free(path);

    /* the copy gone when it is opened (another reader of the document removed
     * it): getFile again, and the new copy is read */
    memset(&cap, 0, sizeof(cap));
    path = write_temp(data, 100);
    script_reset();
    script_add(file_answer("/nonexistent/tgs3/file_0", 100));
    script_add(file_answer(path, 100));
    tg_fetch_file(c, TOKEN, "BQACfid", 100, 1000, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.res.attempts == 2 && srv.nreq == 2);
    CHECK(cap.len == 100 && cap.data && memcmp(cap.data, data, 100) == 0);
    bigbuf_free(cap.data);
    free(path);

    /* missing every time → IO once the stage's attempts are used up */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    for (int i = 0; i < 5; i++)
        script_add(file_answer("/nonexistent/tgs3/file_0", 100));
    tg_fetch_file(c, TOKEN, "BQACfid", -1, 1000, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_IO);
    CHECK(cap.res.attempts == 5 && srv.nreq == 5);

    /* over max_size → TOO_BIG before reading */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(file_answer("/nonexistent/tgs3/file_0", 100000));
    tg_fetch_file(c, TOKEN, "BQACfid", -1, 1000, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_TOO_BIG);

    /* cancelled while the file is being read: no callback, no leak */
    memset(&cap, 0, sizeof(cap));
    path = write_temp(data, n);
    script_reset();
    script_add(file_answer(path, n));
    struct tg_call *call = tg_fetch_file(c, TOKEN, "BQACfid", -1, 8u << 20, on_fetch, &cap);
    while (srv.nreq == 0)
        uv_run(&loop, UV_RUN_ONCE);
    while (tg_client_inflight(c) == 1 && cap.calls == 0) {
        uv_run(&loop, UV_RUN_ONCE);
        /* the getFile answer was handled once the call waits on the fs pool */
        if (srv.next == 1)
            break;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    if (cap.calls == 0)
        tg_call_cancel(call);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(cap.calls == 0 || cap.res.status == TG_OK);
    bigbuf_free(cap.data);
    unlink(path);
    free(path);
    free(data);
}

static void test_fetch_cloud(void)
{
    struct cap cap = {0};
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    struct tg_client *c = client(url, TG_MODE_CLOUD, 3);
    script_reset();
    script_add(file_answer("documents/file_1.bin", 11));
    script_add(resp(500, NULL, ""));
    script_add(resp(200, "Content-Type: application/octet-stream\r\n", "hello world"));
    tg_fetch_file(c, TOKEN, "BQACfid", 11, 1000, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.res.attempts == 3);
    CHECK(cap.len == 11 && cap.data && memcmp(cap.data, "hello world", 11) == 0);
    bigbuf_free(cap.data);
    CHECK(srv.nreq == 3 && strncmp(srv.reqs[2], "GET /file/bot123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ/documents/file_1.bin ", 76) == 0);

    /* download over max_size */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(file_answer("documents/file_2.bin", 5));
    script_add(resp(200, NULL, "0123456789"));
    tg_fetch_file(c, TOKEN, "BQACfid", -1, 5, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_TOO_BIG);
    CHECK(cap.data == NULL);

    /* file:// needs a local server */
    memset(&cap, 0, sizeof(cap));
    tg_send_document_path(c, TOKEN, -1001, "/tmp/x", NULL, on_send, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_API);
    CHECK(!cap.has_doc);

    /* 404 from a server that has no /file/ endpoint */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(file_answer("documents/file_3.bin", 5));
    script_add(resp(404, NULL, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}"));
    tg_fetch_file(c, TOKEN, "BQACfid", -1, 5, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_API);
    if (cap.res.status != TG_ERR_API) printf("got %s %d %s\n", tg_status_name(cap.res.status), cap.res.http_status, cap.res.description);
    CHECK(cap.res.http_status == 404);

    /* free with calls in flight: no callbacks */
    memset(&cap, 0, sizeof(cap));
    script_reset();
    script_add(xstrdup(HANG));
    tg_get_me(c, TOKEN, on_me, &cap);
    tg_send_document(c, TOKEN, 1, "x", 1, "x", NULL, on_send, &cap);
    while (srv.nreq < 2)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(tg_client_inflight(c) == 2);
    tg_client_free(c);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(cap.calls == 0);
}

/* A callback that frees the client it runs under. */
static struct tg_client *self_free_client;
static void on_me_free(void *ud, const struct tg_result *res, const struct tg_bot_info *bot)
{
    on_me(ud, res, bot);
    tg_client_free(self_free_client);
    self_free_client = NULL;
}

static void test_free_in_callback(void)
{
    struct cap cap = {0}, cap2 = {0};
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    self_free_client = client(url, TG_MODE_LOCAL, 3);
    script_reset();
    script_add(resp(200, NULL, "{\"ok\":true,\"result\":{\"id\":1}}"));
    script_add(xstrdup(HANG));
    tg_get_me(self_free_client, TOKEN, on_me, &cap2);
    while (srv.nreq < 1)
        uv_run(&loop, UV_RUN_ONCE);
    /* the second request hangs; the first answered call frees the client */
    tg_get_me(self_free_client, TOKEN, on_me_free, &cap);
    while (cap.calls + cap2.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(cap.calls + cap2.calls == 1);
    CHECK(self_free_client == NULL || cap2.calls == 1);
    if (self_free_client) {
        tg_client_free(self_free_client);
        self_free_client = NULL;
    }
}

/* ---- against a running emulator -------------------------------------------- */

static void test_emulator(const char *url, int64_t chat, enum tg_mode mode)
{
    struct tg_client *c = client(url, mode, 3);
    const char *token = getenv("TGS3_TOKEN") ? getenv("TGS3_TOKEN") : TOKEN;
    struct cap cap = {0};
    size_t n = 1u << 20;
    unsigned char *data = xmalloc(n);
    uint64_t x = 0x243F6A8885A308D3ull ^ (uint64_t)now_ms();
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    printf("emulator %s (%s mode)\n", url, mode == TG_MODE_LOCAL ? "local" : "cloud");

    tg_get_me(c, token, on_me, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.bot.id == 123456);

    char caption[64];
    snprintf(caption, sizeof(caption), "{\"t\":\"unit\",\"n\":%lld}", (long long)now_ms());
    memset(&cap, 0, sizeof(cap));
    tg_send_document(c, token, chat, data, n, "blk-unit.bin", caption, on_send, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    if (cap.res.status != TG_OK)
        printf("  sendDocument: %s %d %s\n", tg_status_name(cap.res.status), cap.res.http_status,
               cap.res.description);
    struct tg_document doc = cap.doc;
    CHECK(doc.file_size == (int64_t)n);
    CHECK(doc.chat_id == chat);
    CHECK(strcmp(doc.caption, caption) == 0);

    memset(&cap, 0, sizeof(cap));
    tg_fetch_file(c, token, doc.file_id, doc.file_size, n, on_fetch, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    if (cap.res.status != TG_OK)
        printf("  fetch: %s %d %s\n", tg_status_name(cap.res.status), cap.res.http_status, cap.res.description);
    CHECK(cap.len == n && cap.data && memcmp(cap.data, data, n) == 0);
    bigbuf_free(cap.data);

    memset(&cap, 0, sizeof(cap));
    tg_pin_message(c, token, chat, doc.message_id, on_bool, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);

    memset(&cap, 0, sizeof(cap));
    tg_get_chat(c, token, chat, on_chat, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.has_chat && cap.chat.id == chat);
    CHECK(cap.chat.has_pinned && cap.chat.pinned.message_id == doc.message_id);
    CHECK(strcmp(cap.chat.pinned.file_unique_id, doc.file_unique_id) == 0);

    memset(&cap, 0, sizeof(cap));
    tg_forward_message(c, token, chat, chat, doc.message_id, on_send, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);
    CHECK(cap.has_doc && cap.doc.file_size == (int64_t)n && cap.doc.message_id != doc.message_id);
    int64_t ids[3] = {doc.message_id, cap.doc.message_id, 999999};

    memset(&cap, 0, sizeof(cap));
    tg_delete_messages(c, token, chat, ids, 3, on_bool, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_OK);

    memset(&cap, 0, sizeof(cap));
    tg_delete_message(c, token, chat, doc.message_id, on_bool, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_NOT_FOUND);

    memset(&cap, 0, sizeof(cap));
    tg_get_me(c, "bad-token", on_me, &cap);
    wait_for(&cap);
    CHECK(cap.res.status == TG_ERR_UNAUTHORIZED);
    CHECK(cap.res.attempts == 1);

    if (mode == TG_MODE_LOCAL) {
        char *path = write_temp(data, 4096);
        memset(&cap, 0, sizeof(cap));
        tg_send_document_path(c, token, chat, path, "by path", on_send, &cap);
        wait_for(&cap);
        CHECK(cap.res.status == TG_OK);
        CHECK(cap.doc.file_size == 4096);
        if (cap.res.status != TG_OK)
            printf("  sendDocument path: %s %s\n", tg_status_name(cap.res.status), cap.res.description);
        unlink(path);
        free(path);
    }
    free(data);
    tg_client_free(c);
}

int main(void)
{
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    uv_unref((uv_handle_t *)&tick);
    srv_start();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    struct tg_client *c = client(url, TG_MODE_LOCAL, 5);
    CHECK(c != NULL);

    test_retry_502(c);
    test_retry_429(c);
    test_no_retry_4xx(c);
    test_drop_then_ok(c);
    test_empty_document(c);
    test_cancel(c);
    test_deadline(c);
    test_fetch_local(c);
    test_refused();
    test_fetch_cloud();
    test_free_in_callback();
    CHECK(srv.connections >= 1);
    tg_client_free(c);
    tg_client_free(NULL);

    const char *eurl = getenv("TGS3_BOTAPI_URL");
    const char *echat = getenv("TGS3_CHAT_ID");
    if (eurl && *eurl && echat && *echat) {
        const char *m = getenv("TGS3_BOTAPI_MODE");
        test_emulator(eurl, strtoll(echat, NULL, 10), m && strcmp(m, "cloud") == 0 ? TG_MODE_CLOUD : TG_MODE_LOCAL);
    } else {
        printf("TGS3_BOTAPI_URL/TGS3_CHAT_ID unset: emulator round-trip skipped\n");
    }

    srv_stop();
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* fetch.c — tg_fetch_file: getFile, then read+unlink the local copy or download it.
 *
 * Local mode (the self-hosted server with --local): getFile answers only
 * after the server has downloaded the whole file, and file_path is an
 * absolute path on a disk we share. We read it with uv_fs_* (libuv's pool,
 * so the loop never blocks) into one buffer of the file's size, then unlink
 * it: the server keeps downloaded copies up to a day and allows clients to
 * delete them (tdlib/telegram-bot-api#303). The server has no /file/
 * endpoint in either mode. Cloud mode downloads /file/bot<token>/<path>.
 *
 * While a uv_fs request runs the call cannot be freed (the request lives in
 * it); a cancel marks it and the request's callback closes and frees.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg_int.h"

#define READ_CHUNK (4u << 20) /* bytes per uv_fs_read */

static void read_next(struct tg_call *call);
static void local_finish(struct tg_call *call);

struct tg_call *tg_fetch_file(struct tg_client *c, const char *token, const char *file_id, int64_t expected_size,
                              size_t max_size, tg_fetch_cb cb, void *ud)
{
    json_t *body = json_object();
    json_object_set_new(body, "file_id", json_string(file_id));
    struct tg_call *call = call_new(c, CALL_FETCH, token, "getFile", ud);
    call_set_json(call, body);
    call->cb.fetch = cb;
    call->fetch = xcalloc(1, sizeof(*call->fetch));
    call->fetch->expected_size = expected_size;
    call->fetch->max_size = max_size;
    call->fetch->fd = -1;
    if (expected_size >= 0 && (uint64_t)expected_size > max_size) {
        call_fail_later(call, TG_ERR_TOO_BIG, "expected size exceeds max_size");
        return call;
    }
    call_start(call);
    return call;
}

void fetch_release(struct tg_call *call)
{
    struct fetch_state *f = call->fetch;
    if (f == NULL)
        return;
    free(f->path);
    bigbuf_free(f->buf);
    free(f);
    call->fetch = NULL;
}

static void deliver(struct tg_call *call, struct tg_result *res, unsigned char *buf, size_t len)
{
    call_detach(call);
    call->cb.fetch(call->ud, res, buf, len);
    call_destroy(call);
}

/* ---- local mode ------------------------------------------------------------- */

static void local_fail(struct tg_call *call, enum tg_status st, const char *what, int uverr)
{
    char desc[TG_MAX_DESCRIPTION];
    snprintf(desc, sizeof(desc), "%s: %s", what, uv_strerror(uverr));
    result_set(&call->fetch->res, st, uverr ? desc : what);
    local_finish(call);
}

/* Frees a call that was cancelled while its fs request ran. Returns 1 if it did. */
static int reap_cancelled(struct tg_call *call, uv_fs_cb close_cb)
{
    struct fetch_state *f = call->fetch;
    if (!call->cancelled)
        return 0;
    if (f->fd >= 0) {
        uv_file fd = f->fd;
        f->fd = -1;
        uv_fs_close(call->loop, &f->req, fd, close_cb);
        return 1;
    }
    call->fs_busy = 0;
    fetch_release(call);
    free(call);
    return 1;
}

static void on_reap_closed(uv_fs_t *req)
{
    struct tg_call *call = req->data;
    uv_fs_req_cleanup(req);
    reap_cancelled(call, on_reap_closed);
}

static void on_unlinked(uv_fs_t *req)
{
    struct tg_call *call = req->data;
    struct fetch_state *f = call->fetch;
    uv_fs_req_cleanup(req);
    call->fs_busy = 0;
    if (call->cancelled) {
        reap_cancelled(call, on_reap_closed);
        return;
    }
    /* An unlink failure is not the caller's problem: the bytes were read. */
    struct tg_result res = f->res;
    res.attempts = call->attempts;
    if (res.status == TG_OK) {
        unsigned char *buf = f->buf;
        size_t len = f->got;
        f->buf = NULL;
        deliver(call, &res, buf, len);
    } else {
        deliver(call, &res, NULL, 0);
    }
}

static void on_closed(uv_fs_t *req)
{
    struct tg_call *call = req->data;
    struct fetch_state *f = call->fetch;
    uv_fs_req_cleanup(req);
    if (call->cancelled) {
        reap_cancelled(call, on_reap_closed);
        return;
    }
    f->req.data = call;
    if (uv_fs_unlink(call->loop, &f->req, f->path, on_unlinked) != 0)
        on_unlinked(&f->req);
}

/* Closes the file (if open), unlinks it, then delivers f->res. */
static void local_finish(struct tg_call *call)
{
    struct fetch_state *f = call->fetch;
    f->req.data = call;
    if (f->fd >= 0) {
        uv_file fd = f->fd;
        f->fd = -1;
        if (uv_fs_close(call->loop, &f->req, fd, on_closed) == 0)
            return;
    }
    on_closed(&f->req);
}

static void on_read(uv_fs_t *req)
{
    struct tg_call *call = req->data;
    struct fetch_state *f = call->fetch;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (reap_cancelled(call, on_reap_closed))
        return;
    if (n < 0) {
        local_fail(call, TG_ERR_IO, "read", (int)n);
        return;
    }
    if (n == 0) {
        local_fail(call, TG_ERR_IO, "file shorter than its size", 0);
        return;
    }
    f->got += (size_t)n;
    read_next(call);
}

static void read_next(struct tg_call *call)
{
    struct fetch_state *f = call->fetch;
    if (f->got == f->size) {
        result_set(&f->res, TG_OK, NULL);
        f->res.http_status = 200;
        local_finish(call);
        return;
    }
    size_t want = f->size - f->got;
    if (want > READ_CHUNK)
        want = READ_CHUNK;
    uv_buf_t b = uv_buf_init((char *)f->buf + f->got, (unsigned int)want);
    f->req.data = call;
    int rc = uv_fs_read(call->loop, &f->req, f->fd, &b, 1, (int64_t)f->got, on_read);
    if (rc != 0)
        local_fail(call, TG_ERR_IO, "read", rc);
}

static void on_fstat(uv_fs_t *req)
{
    struct tg_call *call = req->data;
    struct fetch_state *f = call->fetch;
    ssize_t r = req->result;
    uint64_t size = req->statbuf.st_size;
    uv_fs_req_cleanup(req);
    if (reap_cancelled(call, on_reap_closed))
        return;
    if (r < 0) {
        local_fail(call, TG_ERR_IO, "fstat", (int)r);
        return;
    }
    if (size > f->max_size) {
        result_set(&f->res, TG_ERR_TOO_BIG, "file exceeds max_size");
        local_finish(call);
        return;
    }
    if (f->expected_size >= 0 && size != (uint64_t)f->expected_size) {
        char desc[TG_MAX_DESCRIPTION];
        snprintf(desc, sizeof(desc), "size mismatch: file has %llu bytes, expected %lld",
                 (unsigned long long)size, (long long)f->expected_size);
        result_set(&f->res, TG_ERR_IO, desc);
        local_finish(call);
        return;
    }
    f->size = (size_t)size;
    f->got = 0;
    f->buf = bigbuf_new(f->size); /* recycled: warm memory, no fresh faults per block */
    read_next(call);
}

static void on_open(uv_fs_t *req)
{
    struct tg_call *call = req->data;
    struct fetch_state *f = call->fetch;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r >= 0)
        f->fd = (uv_file)r;
    if (reap_cancelled(call, on_reap_closed))
        return;
    if (r < 0) {
        char desc[TG_MAX_DESCRIPTION];
        call->fs_busy = 0;
        struct tg_result res;
        memset(&res, 0, sizeof(res));
        snprintf(desc, sizeof(desc), "open: %s", uv_strerror((int)r));
        result_set(&res, TG_ERR_IO, desc);
        res.attempts = call->attempts;
        deliver(call, &res, NULL, 0);
        return;
    }
    f->req.data = call;
    int rc = uv_fs_fstat(call->loop, &f->req, f->fd, on_fstat);
    if (rc != 0)
        local_fail(call, TG_ERR_IO, "fstat", rc);
}

static void local_start(struct tg_call *call)
{
    struct fetch_state *f = call->fetch;
    f->req.data = call;
    call->fs_busy = 1;
    int rc = uv_fs_open(call->loop, &f->req, f->path, O_RDONLY, 0, on_open);
    if (rc != 0) {
        struct tg_result res;
        call->fs_busy = 0;
        memset(&res, 0, sizeof(res));
        result_set(&res, TG_ERR_IO, uv_strerror(rc));
        res.attempts = call->attempts;
        deliver(call, &res, NULL, 0);
    }
}

/* ---- stages ----------------------------------------------------------------- */

void fetch_on_file(struct tg_call *call, struct tg_result *res, json_t *file)
{
    struct fetch_state *f = call->fetch;
    json_t *path = json_object_get(file, "file_path");
    json_t *size = json_object_get(file, "file_size");

    if (!json_is_string(path) || json_string_length(path) == 0) {
        result_set(res, TG_ERR_PARSE, "getFile: no file_path (file not downloadable)");
        call_finish_error(call, res);
        return;
    }
    if (json_is_integer(size) && json_integer_value(size) >= 0 &&
        (uint64_t)json_integer_value(size) > f->max_size) {
        result_set(res, TG_ERR_TOO_BIG, "file exceeds max_size");
        call_finish_error(call, res);
        return;
    }
    const char *p = json_string_value(path);
    if (call->c->cfg.mode == TG_MODE_LOCAL) {
        if (p[0] != '/') {
            result_set(res, TG_ERR_PARSE, "getFile: relative file_path in local mode");
            call_finish_error(call, res);
            return;
        }
        f->path = xstrdup(p);
        local_start(call);
        return;
    }
    struct dbuf url;
    size_t max = f->max_size;
    if (max > (size_t)TG_CLOUD_MAX_DOWNLOAD)
        max = (size_t)TG_CLOUD_MAX_DOWNLOAD;
    dbuf_init(&url, 8192);
    if (dbuf_printf(&url, "%s/file/bot%s/%s", call->c->api_url, call->token, p) != 0) {
        dbuf_release(&url);
        result_set(res, TG_ERR_PARSE, "getFile: file_path too long");
        call_finish_error(call, res);
        return;
    }
    dbuf_release(&call->answer);
    dbuf_init(&call->answer, max);
    call->raw_answer = 1;
    call_restart(call, dbuf_take(&url, NULL));
    dbuf_release(&url);
}

void fetch_on_download(struct tg_call *call, struct tg_result *res)
{
    struct fetch_state *f = call->fetch;
    if (f->expected_size >= 0 && (uint64_t)call->answer.len != (uint64_t)f->expected_size) {
        char desc[TG_MAX_DESCRIPTION];
        snprintf(desc, sizeof(desc), "size mismatch: downloaded %zu bytes, expected %lld", call->answer.len,
                 (long long)f->expected_size);
        result_set(res, TG_ERR_IO, desc);
        call_finish_error(call, res);
        return;
    }
    /* Callers get a bigbuf: one copy of at most TG_CLOUD_MAX_DOWNLOAD bytes,
     * small beside the download itself. */
    size_t len = call->answer.len;
    unsigned char *buf = bigbuf_new(len);
    if (len > 0)
        memcpy(buf, call->answer.ptr, len);
    dbuf_release(&call->answer);
    deliver(call, res, buf, len);
}

/* fetch.c — tg_fetch_file: getFile, then read+unlink the local copy or download it.
 *
 * Local mode (the self-hosted server with --local): getFile answers only
 * after the server has downloaded the whole file, and file_path is an
 * absolute path on a disk we share. One job on libuv's pool (so the loop
 * never blocks) reads it into one buffer of the file's size, then unlinks
 * it: the server keeps downloaded copies up to a day and allows clients to
 * delete them (tdlib/telegram-bot-api#303). The server has no /file/
 * endpoint in either mode. Cloud mode downloads /file/bot<token>/<path>.
 *
 * Two reads of one document at once (a GET beside a repair or a scrub of
 * the same stripe) get the same file_path, and the first to finish unlinks
 * it: a copy gone when we open it is asked for again with getFile (the
 * server makes a new one), within the stage's max_attempts.
 *
 * While that job runs the call cannot be freed (the job's state lives in
 * it); a cancel marks it and the job's completion frees it.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telegram/tg_int.h"

#define READ_CHUNK (4u << 20) /* bytes per buffered read of a local file */

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

/* Reads [from, f->size) of fd into f->buf in READ_CHUNK pieces; direct: fd
 * is O_DIRECT, so every read is whole pages (the buffer has room past the
 * end, the kernel stops at end of file). Returns 0 or an errno, EINVAL when
 * O_DIRECT was refused; f->got counts what arrived. */
static int read_range(struct fetch_state *f, int fd, int direct)
{
    while (f->got < f->size) {
        size_t want = f->size - f->got;
        if (direct) /* one call: the device gets all of it at once */
            want = (want + BIGBUF_ALIGN - 1) / BIGBUF_ALIGN * BIGBUF_ALIGN;
        else if (want > READ_CHUNK)
            want = READ_CHUNK;
        ssize_t n = pread(fd, f->buf + f->got, want, (off_t)f->got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return ENODATA;
        f->got += (size_t)n;
        if (f->got > f->size) /* the file grew meanwhile */
            f->got = f->size;
    }
    return 0;
}

/* libuv pool thread: opens the server's copy, checks its size, reads it
 * into a block buffer, closes and removes it; the outcome goes to f->res.
 * Touches only f.
 *
 * The server has just downloaded the file: usually it is in the page cache
 * and read from there. When it is not (the server wrote it straight to disk,
 * or it was evicted), it is read with O_DIRECT into the buffer instead:
 * reading through the page cache would fill fresh cache pages only to drop
 * them with the unlink (measured on a 2-CPU VM: 2.3 CPU-seconds per GiB
 * against 0.05). */
static void local_work(uv_work_t *w)
{
    struct fetch_state *f = w->data;
    char desc[TG_MAX_DESCRIPTION];
    struct stat stbuf;
    int fd = -1, dfd = -1, err = 0;
    const char *what = "open";
    f->vanished = 0;
    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        f->vanished = err == ENOENT;
        goto out;
    }
    what = "fstat";
    if (fstat(fd, &stbuf) != 0) {
        err = errno;
        goto out;
    }
    if ((uint64_t)stbuf.st_size > f->max_size) {
        result_set(&f->res, TG_ERR_TOO_BIG, "file exceeds max_size");
        goto out;
    }
    if (f->expected_size >= 0 && (uint64_t)stbuf.st_size != (uint64_t)f->expected_size) {
        snprintf(desc, sizeof(desc), "size mismatch: file has %llu bytes, expected %lld",
                 (unsigned long long)stbuf.st_size, (long long)f->expected_size);
        result_set(&f->res, TG_ERR_IO, desc);
        goto out;
    }
    f->size = (size_t)stbuf.st_size;
    f->got = 0;
    /* Room for O_DIRECT's whole last page; recycled: warm memory, no fresh faults per block. */
    f->buf = bigbuf_new((f->size + BIGBUF_ALIGN - 1) / BIGBUF_ALIGN * BIGBUF_ALIGN);
    what = "read";
    if (f->size >= BIGBUF_MIN && !fd_all_cached(fd, f->size)) {
        dfd = open(f->path, O_RDONLY | O_CLOEXEC | O_DIRECT);
        if (dfd >= 0) {
            err = read_range(f, dfd, 1);
            if (err == EINVAL) {
                f->got = f->got / BIGBUF_ALIGN * BIGBUF_ALIGN; /* refused after all: the rest buffered */
                err = 0;
            }
        }
    }
    if (err == 0)
        err = read_range(f, fd, 0);
    if (err == ENODATA) {
        result_set(&f->res, TG_ERR_IO, "file shorter than its size");
        err = 0;
        goto out;
    }
    if (err == 0) {
        result_set(&f->res, TG_OK, NULL);
        f->res.http_status = 200;
    }
out:
    if (err != 0) {
        snprintf(desc, sizeof(desc), "%s: %s", what, uv_strerror(-err)); /* strerror is not for threads */
        result_set(&f->res, TG_ERR_IO, desc);
    }
    if (dfd >= 0)
        close(dfd);
    if (fd >= 0) {
        close(fd);
        /* An unlink failure is not the caller's problem: the bytes were read. */
        (void)unlink(f->path);
    }
}

static void after_local(uv_work_t *w, int status)
{
    struct fetch_state *f = w->data;
    struct tg_call *call = f->call;
    call->fs_busy = 0;
    if (call->cancelled) {
        fetch_release(call);
        free(call);
        return;
    }
    if (status == 0 && f->vanished && call->stage_attempts < call->c->cfg.max_attempts) {
        free(f->path); /* another reader removed the copy: getFile again (fetch_on_file) */
        f->path = NULL;
        call_start(call);
        return;
    }
    struct tg_result res = f->res;
    res.attempts = call->attempts;
    if (status != 0)
        result_set(&res, TG_ERR_IO, "read: cancelled");
    if (res.status == TG_OK) {
        unsigned char *buf = f->buf;
        size_t len = f->got;
        f->buf = NULL;
        deliver(call, &res, buf, len);
    } else {
        deliver(call, &res, NULL, 0);
    }
}

static void local_start(struct tg_call *call)
{
    struct fetch_state *f = call->fetch;
    f->call = call;
    f->work.data = f;
    memset(&f->res, 0, sizeof(f->res));
    call->fs_busy = 1;
    int rc = uv_queue_work(call->loop, &f->work, local_work, after_local);
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

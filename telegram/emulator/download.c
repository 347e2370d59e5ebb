/* download.c — /file/bot<token>/<file_path>: the cloud Bot API's file downloads.
 *
 * Only in non-local mode (the real local server serves no files, §5.4): file_path is the
 * relative path getFile gave (documents/file_N under DIR/<token>), sent in chunks of
 * DOWNLOAD_CHUNK bytes from the file. With --bandwidth, chunk k goes out no earlier than
 * start + bytes_before_k / bandwidth, on a uv timer of the request's loop.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <h2o.h>
#include <uv.h>

#include "telegram/emulator/emu.h"

#define DOWNLOAD_CHUNK (1024 * 1024) /* bytes per h2o_send */

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
    if (emu_cfg.bandwidth > 0 && d->sent > 0) {
        int64_t due = d->start_ms + (int64_t)((double)d->sent * 1000.0 / (double)emu_cfg.bandwidth);
        int64_t now = mono_ms();
        if (due > now) {
            if (!d->pace) {
                d->pace = xcalloc(1, sizeof(*d->pace));
                d->pace->d = d;
                uv_timer_init(req->conn->ctx->loop, &d->pace->timer);
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

void download_serve(h2o_req_t *req, const char *path, size_t len)
{
    /* path: "/file/bot<token>/<rel>" */
    const char *tok = path + 9, *end = path + len;
    const char *slash = memchr(tok, '/', (size_t)(end - tok));
    if (emu_cfg.local || !slash || !serve_token_ok(tok, (size_t)(slash - tok)) || slash + 1 >= end) {
        serve_answer_error(req, 404, "Not Found", 0, 0);
        return;
    }
    char *rel = emu_url_decode(&req->pool, slash + 1, (size_t)(end - slash - 1), NULL);
    if (strstr(rel, "..") || rel[0] == '/') {
        serve_answer_error(req, 404, "Not Found", 0, 0);
        return;
    }
    char full[8192];
    snprintf(full, sizeof(full), "%s/%.*s/%s", emu_cfg.dir, (int)(slash - tok), tok, rel);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    /* A copy of a document whose channel is gone, or whose bot was kicked, is no longer served. */
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        !methods_file_served(strtoll(tok, NULL, 10), full, &sb)) {
        if (fd >= 0)
            close(fd);
        serve_answer_error(req, 404, "Not Found", 0, 0);
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


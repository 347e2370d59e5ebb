/* form.c — the body of a POST Object form, read as its handler asks for it.
 *
 * A browser upload authenticates inside its body: the policy and signature
 * are form fields ahead of the file. So nothing of the file may be stored,
 * and nothing of the body buffered without bound, before those fields are
 * read and checked. This file reads a form (multipart/form-data, the
 * boundary from the request's Content-Type) in two steps:
 *   - the head: at most S3_FORM_MAX_PRE bytes (AWS's 20 KB) into one buffer,
 *     parsed by s3_form_parse_head up to the file part's first byte; a form
 *     whose file does not start within them is refused
 *     (MaxPostPreDataLengthExceededError) with the rest unread;
 *   - the file: either it ends inside the bytes already read (a small file,
 *     or a small body h2o buffered whole: gw_form_file_whole), or it is a
 *     gw_put_source the engine reads block by block straight into its block
 *     buffers. Each block is scanned for the delimiter (CRLF "--" boundary)
 *     that ends the file; the few bytes after a block are read ahead
 *     (into the head's buffer, reused) to tell whether a delimiter starts
 *     across the block's end, so the engine learns the end with the block
 *     that holds the file's last byte and never stores the delimiter.
 * content-length-range is applied as bytes go: past the maximum the read
 * fails (EntityTooLarge) with nothing more read; under the minimum at the
 * end (EntityTooSmall). What follows the file (the closing delimiter, fields
 * AWS ignores) is read and dropped when it is at most DRAIN_MAX bytes, so the
 * connection can carry the answer; past that the connection closes after it.
 * Memory: the head buffer (S3_FORM_MAX_PRE + a little), per request.
 * Loop thread only.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define HEAD_CAP (S3_FORM_MAX_PRE + 256) /* the head, then the read-ahead after each block */
#define FIRST_READ (8u << 10)           /* most forms' fields fit in this */
#define DRAIN_MAX (64u << 10)
#define DRAIN_CHUNK (16u << 10)

struct gw_form {
    struct gw_body *body; /* streamed, or NULL: the whole body is in entity */
    const char *entity;
    size_t entity_len;
    char delim[S3_FORM_MAX_BOUNDARY + 5]; /* CRLF "--" boundary */
    size_t dl;
    char boundary[S3_FORM_MAX_BOUNDARY + 1];
    size_t blen;
    char *buf;           /* HEAD_CAP bytes: the head, then the carry */
    char *scratch;       /* DRAIN_CHUNK bytes for what follows the file, allocated when needed */
    size_t have;         /* bytes in buf */
    uint64_t remaining;  /* body bytes not read yet */
    struct s3_form_head head;
    int head_done;
    size_t carry_off, carry_len; /* body bytes read but not delivered: buf[carry_off..) */
    /* the file */
    uint64_t delivered, min_len, max_len;
    uint64_t bound; /* the length the engine was told to expect at most (gw_form_file_bound) */
    void (*drained)(void *ud);
    void *drained_ud;
    gw_form_cb head_cb;
    void *head_ud;
    /* the engine's read in progress */
    unsigned char *dst;
    size_t want, got;
    gw_put_source_cb src_cb;
    void *src_ud;
    int end;
    enum s3_err err;
};

struct gw_form *gw_form_new(struct gw_body *body, const char *entity, size_t entity_len, const char *boundary,
                            size_t blen)
{
    struct gw_form *f = xcalloc(1, sizeof(*f));
    f->body = body;
    f->entity = entity;
    f->entity_len = entity_len;
    memcpy(f->boundary, boundary, blen);
    f->blen = blen;
    memcpy(f->delim, "\r\n--", 4);
    memcpy(f->delim + 4, boundary, blen);
    f->dl = blen + 4;
    f->remaining = body != NULL ? gw_body_len(body) : 0;
    f->max_len = UINT64_MAX;
    if (body != NULL)
        f->buf = xmalloc(HEAD_CAP);
    return f;
}

void gw_form_free(struct gw_form *f)
{
    if (f == NULL)
        return;
    if (f->body != NULL)
        gw_body_cancel(f->body);
    free(f->buf);
    free(f->scratch);
    free(f);
}

const struct s3_form_head *gw_form_head(const struct gw_form *f)
{
    return &f->head;
}

static enum s3_err head_status(enum s3_form_status st)
{
    switch (st) {
    case S3_FORM_OK: return S3E_OK;
    case S3_FORM_MORE: return S3E_MAX_POST_PRE_DATA;
    case S3_FORM_TOO_MANY:
    case S3_FORM_DUPLICATE: return S3E_INVALID_ARGUMENT;
    case S3_FORM_NO_FILE: return S3E_INVALID_ARGUMENT;
    case S3_FORM_MALFORMED: break;
    }
    return S3E_MALFORMED_POST_REQUEST;
}

static const char *head_message(enum s3_form_status st)
{
    switch (st) {
    case S3_FORM_NO_FILE: return "POST requires exactly one file upload per request.";
    case S3_FORM_DUPLICATE: return "A form field was given more than once.";
    case S3_FORM_TOO_MANY: return "Too many form fields.";
    default: return NULL;
    }
}

static void read_head_more(struct gw_form *f);

/* Parses what the buffer holds; done (with the head or a failure), or reads more. */
static void head_step(struct gw_form *f)
{
    int at_end = f->remaining == 0;
    enum s3_form_status st = s3_form_parse_head(f->buf, f->have, at_end, f->boundary, f->blen, &f->head);
    if (st == S3_FORM_MORE && !at_end && f->have < S3_FORM_MAX_PRE) {
        read_head_more(f);
        return;
    }
    if (st == S3_FORM_OK && f->head.file_start > S3_FORM_MAX_PRE)
        st = S3_FORM_MORE;
    if (st == S3_FORM_OK) {
        f->head_done = 1;
        f->carry_off = f->head.file_start;
        f->carry_len = f->have - f->head.file_start;
    }
    f->head_cb(f, head_status(st), head_message(st), f->head_ud);
}

static void on_head_read(struct gw_body *b, enum s3_err err, void *ud)
{
    struct gw_form *f = ud;
    (void)b;
    if (err != S3E_OK) {
        f->head_cb(f, err, NULL, f->head_ud);
        return;
    }
    head_step(f);
}

static void read_head_more(struct gw_form *f)
{
    size_t room = (f->have < FIRST_READ ? FIRST_READ : S3_FORM_MAX_PRE) - f->have;
    size_t n = (uint64_t)room < f->remaining ? room : (size_t)f->remaining;
    unsigned char *dst = (unsigned char *)f->buf + f->have;
    f->have += n;
    f->remaining -= n;
    gw_body_read(f->body, dst, n, on_head_read, f);
}

void gw_form_read_head(struct gw_form *f, gw_form_cb cb, void *ud)
{
    f->head_cb = cb;
    f->head_ud = ud;
    if (f->body == NULL) {
        /* h2o buffered the whole body: parse it in place (at most the 20 KB ahead of the file count). */
        size_t n = f->entity_len < S3_FORM_MAX_PRE + 512 ? f->entity_len : S3_FORM_MAX_PRE + 512;
        enum s3_form_status st = s3_form_parse_head(f->entity, n, n == f->entity_len, f->boundary, f->blen, &f->head);
        if (st == S3_FORM_OK && f->head.file_start > S3_FORM_MAX_PRE)
            st = S3_FORM_MORE;
        f->head_done = st == S3_FORM_OK;
        cb(f, head_status(st), head_message(st), ud);
        return;
    }
    read_head_more(f);
}

/* ---- the file ------------------------------------------------------------------- */

void gw_form_set_range(struct gw_form *f, uint64_t min_len, uint64_t max_len)
{
    f->min_len = min_len;
    f->max_len = max_len;
}

int gw_form_file_whole(struct gw_form *f, const char **data, size_t *len, enum s3_err *err)
{
    const char *base = f->body != NULL ? f->buf + f->carry_off : f->entity + f->head.file_start;
    size_t n = f->body != NULL ? f->carry_len : f->entity_len - f->head.file_start;
    *err = S3E_OK;
    const char *d = memmem(base, n, f->delim, f->dl);
    if (d == NULL) {
        if (f->body == NULL || f->remaining == 0)
            *err = S3E_MALFORMED_POST_REQUEST; /* the body ends inside its file */
        return 0;
    }
    *data = base;
    *len = (size_t)(d - base);
    if ((uint64_t)*len > f->max_len)
        *err = S3E_ENTITY_TOO_LARGE;
    else if ((uint64_t)*len < f->min_len)
        *err = S3E_ENTITY_TOO_SMALL;
    return 1;
}

uint64_t gw_form_file_bound(const struct gw_form *f)
{
    /* The body's bytes after the file's first one, less the delimiter that must follow it. */
    uint64_t after = (uint64_t)f->carry_len + f->remaining;
    uint64_t n = after > f->dl ? after - f->dl : 0;
    return n < f->max_len ? n : f->max_len;
}

uint64_t gw_form_file_bound_set(struct gw_form *f)
{
    f->bound = gw_form_file_bound(f);
    return f->bound;
}

static void on_drain_read(struct gw_body *b, enum s3_err err, void *ud);

/* Reads and drops the rest of the body (at most DRAIN_MAX of it), then calls drained. */
static void drain_step(struct gw_form *f)
{
    if (f->body != NULL && f->remaining > 0 && f->remaining <= DRAIN_MAX) {
        size_t n = f->remaining < DRAIN_CHUNK ? (size_t)f->remaining : DRAIN_CHUNK;
        f->remaining -= n;
        if (f->scratch == NULL)
            f->scratch = xmalloc(DRAIN_CHUNK);
        gw_body_read(f->body, (unsigned char *)f->scratch, n, on_drain_read, f); /* the carry may hold the file */
        return;
    }
    void (*cb)(void *) = f->drained;
    f->drained = NULL;
    if (cb != NULL)
        cb(f->drained_ud);
}

static void on_drain_read(struct gw_body *b, enum s3_err err, void *ud)
{
    struct gw_form *f = ud;
    (void)b;
    if (err != S3E_OK)
        f->remaining = 0; /* the client left after its file: nothing more to drop */
    drain_step(f);
}

void gw_form_drain(struct gw_form *f, void (*drained)(void *ud), void *ud)
{
    f->drained = drained;
    f->drained_ud = ud;
    if (f->body == NULL || f->remaining == 0 || f->remaining > DRAIN_MAX) {
        /* nothing to read (the callback still comes later, never from inside) */
        if (f->body != NULL) {
            gw_body_read(f->body, (unsigned char *)f->buf, 0, on_drain_read, f); /* writes nothing */
            return;
        }
        f->drained = NULL;
        drained(ud);
        return;
    }
    drain_step(f);
}

static void deliver(void *ud)
{
    struct gw_form *f = ud;
    gw_put_source_cb cb = f->src_cb;
    f->src_cb = NULL;
    if (cb != NULL)
        cb(f->src_ud, f->err, f->got, f->end);
}

/* Delivers the read's outcome; after the end, first drops a short epilogue. */
static void finish_read(struct gw_form *f)
{
    if (f->end && f->err == S3E_OK) {
        gw_form_drain(f, deliver, f);
        return;
    }
    deliver(f);
}

/* The file ends at got (this read's bytes): check the range, then finish. */
static void file_ends(struct gw_form *f, size_t got)
{
    f->got = got;
    f->end = 1;
    f->delivered += got;
    f->carry_len = 0;
    if (f->delivered > f->max_len)
        f->err = S3E_ENTITY_TOO_LARGE;
    else if (f->delivered < f->min_len)
        f->err = S3E_ENTITY_TOO_SMALL;
    finish_read(f);
}

static void lookahead(struct gw_form *f);

static void on_lookahead(struct gw_body *b, enum s3_err err, void *ud)
{
    struct gw_form *f = ud;
    (void)b;
    if (err != S3E_OK) {
        f->err = err;
        finish_read(f);
        return;
    }
    lookahead(f);
}

/* dst[0..want) holds file candidates without a whole delimiter: look at the
 * bytes after it (the carry, topped up to a delimiter's length) for one
 * that starts in dst's last bytes or right after them. */
static void lookahead(struct gw_form *f)
{
    if (f->carry_len < f->dl && f->remaining > 0) {
        if (f->carry_off > 0) {
            memmove(f->buf, f->buf + f->carry_off, f->carry_len);
            f->carry_off = 0;
        }
        size_t n = f->dl - f->carry_len;
        if ((uint64_t)n > f->remaining)
            n = (size_t)f->remaining;
        unsigned char *dst = (unsigned char *)f->buf + f->carry_len;
        f->carry_len += n;
        f->remaining -= n;
        gw_body_read(f->body, dst, n, on_lookahead, f);
        return;
    }
    char t[2 * (S3_FORM_MAX_BOUNDARY + 4)];
    size_t tail = f->want < f->dl - 1 ? f->want : f->dl - 1;
    size_t ahead = f->carry_len < f->dl ? f->carry_len : f->dl;
    memcpy(t, f->dst + f->want - tail, tail);
    memcpy(t + tail, f->buf + f->carry_off, ahead);
    const char *d = memmem(t, tail + ahead, f->delim, f->dl);
    if (d != NULL && (size_t)(d - t) <= tail) {
        file_ends(f, f->want - tail + (size_t)(d - t));
        return;
    }
    if (f->carry_len < f->dl) {
        f->err = S3E_MALFORMED_POST_REQUEST; /* the body ends inside its file */
        finish_read(f);
        return;
    }
    f->got = f->want;
    f->delivered += f->want;
    if (f->delivered > f->max_len)
        f->err = S3E_ENTITY_TOO_LARGE;
    else if (f->delivered >= f->bound) /* the engine expects no more, yet the file goes on */
        f->err = f->bound == f->max_len ? S3E_ENTITY_TOO_LARGE : S3E_MALFORMED_POST_REQUEST;
    finish_read(f);
}

static void on_filled(struct gw_body *b, enum s3_err err, void *ud)
{
    struct gw_form *f = ud;
    (void)b;
    if (err != S3E_OK) {
        f->err = err;
        finish_read(f);
        return;
    }
    const char *d = memmem(f->dst, f->want, f->delim, f->dl);
    if (d != NULL) {
        file_ends(f, (size_t)(d - (const char *)f->dst));
        return;
    }
    lookahead(f);
}

static void source_read(void *src, unsigned char *dst, size_t n, gw_put_source_cb cb, void *ud)
{
    struct gw_form *f = src;
    ASSERT(f->body != NULL && f->head_done && f->src_cb == NULL);
    f->dst = dst;
    f->want = n;
    f->got = 0;
    f->src_cb = cb;
    f->src_ud = ud;
    f->err = S3E_OK;
    size_t k = f->carry_len < n ? f->carry_len : n;
    memcpy(dst, f->buf + f->carry_off, k);
    f->carry_off += k;
    f->carry_len -= k;
    size_t rest = n - k;
    if ((uint64_t)rest > f->remaining) {
        /* The body ends before this block would: the delimiter must be in what there is. */
        f->want = k + (size_t)f->remaining;
        rest = (size_t)f->remaining;
    }
    f->remaining -= rest;
    gw_body_read(f->body, dst + k, rest, on_filled, f); /* even a 0-byte read calls back later */
}

static void source_cancel(void *src)
{
    struct gw_form *f = src;
    f->src_cb = NULL;
    gw_body_cancel(f->body);
}

const struct gw_put_source gw_form_source = {source_read, source_cancel};

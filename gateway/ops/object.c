/* object.c — PutObject, GetObject, HeadObject, DeleteObject.
 *
 * PUT: bucket checked first (so a missing bucket stores nothing), then the
 * body goes through the engine (verify, then blocks), then one store
 * transaction inserts the blocks and the object. The ETag is answered only
 * after that commit.
 *
 * GET/HEAD: the object and its extents are resolved, conditions and Range
 * evaluated, and the first block fetched, all before any header is sent, so
 * every failure up to there is a proper S3 error. Then blocks stream with
 * h2o's proceed back-pressure; the next READ_AHEAD blocks are fetched ahead while the
 * current one is sent (if a read slot is free). A failure after the headers
 * went out cuts the response (H2O_SEND_STATE_ERROR), never completes it
 * with wrong bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/engine/cache.h"
#include "gateway/gw.h"
#include "gateway/ops/ops.h"

/* ---- PutObject ---------------------------------------------------------------- */

struct put_op {
    struct gw_put *put;
    struct store_object obj;
    enum store_status st;
    struct s3_request *cond; /* If-Match / If-None-Match snapshot, or NULL */
    enum s3_err cond_err;    /* conditional write failed at commit */
    struct store_bucket bucket;
};

static void put_free(struct gw_req *r)
{
    struct put_op *op = r->op;
    gw_put_free(op->put);
    free(op->obj.key);
    free(op->obj.meta_json);
    free(op->obj.extents);
    free((char *)op->obj.acl);
    free(op->cond);
    free(op);
    r->op = NULL;
}

/* Every outcome is answered by put_commit_done: a failed commit's answer
 * names the store status. */
static enum s3_err put_commit_run(struct store *st, struct gw_req *r, void *arg)
{
    struct put_op *op = arg;
    (void)r;
    op->st = store_tx_begin(st);
    if (op->st != STORE_OK)
        return S3E_OK;
    /* Conditions are decided inside the transaction that writes: race-free. */
    op->cond_err = gw_write_conditions(st, op->cond, op->obj.bucket, op->obj.key);
    if (op->cond_err != S3E_OK)
        op->st = STORE_CONFLICT;
    op->st = gw_put_commit_object(op->put, st, &op->obj, op->st);
    return S3E_OK;
}

static void put_commit_done(struct gw_req *r, void *arg)
{
    struct put_op *op = arg;
    if (op->cond_err != S3E_OK)
        gw_respond_error(r, op->cond_err, NULL);
    else if (op->st == STORE_NOT_FOUND)
        gw_respond_error(r, S3E_NO_SUCH_BUCKET, NULL);
    else if (op->st != STORE_OK)
        gw_respond_error(r, gw_store_err(op->st), store_status_name(op->st));
    else {
        gw_version_headers(r, op->obj.version_id, 0);
        gw_respond_stored(r, op->obj.etag, op->put);
    }
}

/* The body is stored as blocks: the object is committed. */
static void put_stored(struct gw_req *r, struct gw_put *p)
{
    struct put_op *op = r->op;
    gw_put_fill_object(p, &op->obj);
    gw_req_store_call(r, put_commit_run, put_commit_done, op, NULL);
}

/* Starts the body pipeline once the bucket is known to exist. */
static void put_begin(struct gw_req *r)
{
    struct put_op *op = r->op;
    op->obj.bucket_id = r->bucket_id; /* the commit goes into this bucket or nowhere */
    op->obj.acl = gw_acl_object_for_write(r); /* the bucket's owner is known now */
    char msg[160];
    enum s3_err e = gw_lock_for_put_msg(r, &op->bucket, now_ms(), &op->obj, msg, sizeof(msg));
    if (e != S3E_OK) {
        gw_respond_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    op->put = gw_put_body_start(r, 1, put_stored);
}

/* Conditional PUT: checked once before the upload (no wasted blocks) and
 * again in the commit transaction (the one that counts). */
static enum s3_err put_precheck(struct store *st, struct gw_req *r, enum store_status found,
                                const struct store_bucket *b)
{
    struct put_op *op = r->op;
    if (found != STORE_OK)
        return gw_store_err_or(found, S3E_NO_SUCH_BUCKET);
    op->bucket = *b;
    return gw_write_conditions(st, op->cond, op->obj.bucket, op->obj.key);
}

void gw_op_put_object(struct gw_req *r)
{
    if (!gw_tagging_header_ok(r))
        return;
    struct put_op *op = xcalloc(1, sizeof(*op));
    snprintf(op->obj.bucket, sizeof(op->obj.bucket), "%s", r->route.bucket);
    op->obj.key = xstrdup(r->route.key);
    op->obj.meta_json = gw_meta_from_request(r);
    r->op = op;
    r->op_free = put_free;
    op->cond = gw_write_conditions_snapshot(r);
    gw_with_bucket(r, put_precheck, put_begin);
}

/* ---- GetObject / HeadObject -------------------------------------------------- */

/* Blocks fetched ahead of the one streaming, when read budget slots are free
 * (read-ahead never waits for a slot, so it cannot starve first blocks). */
#define READ_AHEAD 4

struct get_op {
    h2o_generator_t super;
    struct gw_req *r;
    struct store_object *obj;
    uint64_t pos, end;   /* next byte to send, end (exclusive), object offsets */
    size_t ext;          /* extent holding pos */
    uint64_t ext_start;  /* object offset where that extent starts */
    struct gw_fetch *cur;   /* block of extent `ext` */
    struct gw_fetch *ahead[READ_AHEAD]; /* blocks of the next extents in other blocks, in order */
    size_t ahead_ext[READ_AHEAD];
    size_t n_ahead;
    size_t sent_len;     /* bytes of the outstanding h2o_send */
    unsigned fetch_flags; /* GW_FETCH_NO_CACHE for a read too long for the block cache */
    int started, sending, stopped;
    const char *version;  /* the route's versionId, NULL: the latest */
};

static void get_free(struct gw_req *r)
{
    struct get_op *op = r->op;
    gw_fetch_free(op->cur);
    for (size_t i = 0; i < op->n_ahead; i++)
        gw_fetch_free(op->ahead[i]);
    store_object_free(op->obj);
    free(op);
    r->op = NULL;
}

static void get_pump(struct get_op *op);

static void on_block(struct gw_fetch *f, enum s3_err err, void *ud)
{
    struct get_op *op = ud;
    struct gw_req *r = op->r;
    if (err != S3E_OK) {
        for (size_t i = 0; i < op->n_ahead; i++)
            if (f == op->ahead[i]) {
                /* A failed read-ahead is retried as a normal fetch when its turn comes. */
                gw_fetch_free(f);
                memmove(&op->ahead[i], &op->ahead[i + 1], (op->n_ahead - i - 1) * sizeof(op->ahead[0]));
                memmove(&op->ahead_ext[i], &op->ahead_ext[i + 1], (op->n_ahead - i - 1) * sizeof(op->ahead_ext[0]));
                op->n_ahead--;
                return;
            }
        if (!op->started) {
            gw_respond_error(r, err, "block fetch failed");
        } else if (!op->stopped) {
            log_error("req %s: block fetch failed mid-response; cutting it", r->id);
            op->stopped = 1;
            h2o_send(r->req, NULL, 0, H2O_SEND_STATE_ERROR);
        }
        return;
    }
    if (f == op->cur)
        get_pump(op);
}

static void on_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    struct get_op *op = (struct get_op *)self;
    (void)req;
    op->sending = 0;
    op->pos += op->sent_len;
    op->sent_len = 0;
    get_pump(op);
}

static void on_stop(h2o_generator_t *self, h2o_req_t *req)
{
    struct get_op *op = (struct get_op *)self;
    (void)req;
    op->stopped = 1;
    for (size_t i = 0; i < op->n_ahead; i++)
        gw_fetch_free(op->ahead[i]);
    op->n_ahead = 0;
}

static void start_headers(struct get_op *op, int status)
{
    struct gw_req *r = op->r;
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = status == 206 ? "Partial Content" : "OK";
    req->res.content_length = (size_t)(op->end - op->pos);
    gw_add_header(r, "x-amz-request-id", r->id, strlen(r->id));
    op->super.proceed = on_proceed;
    op->super.stop = on_stop;
    h2o_start_response(req, &op->super);
    op->started = 1;
}

/* The bytes of a block that extents ext, ext+1, ... of o (as long as they
 * stay in that block) hold, from byte skip of extent ext on: all that a
 * reader of them needs, and all that is read of a block still in the spool
 * (a small object in an unposted pack). */
static void block_span(const struct store_object *o, size_t ext, uint64_t skip, uint64_t *off, uint64_t *len)
{
    uint64_t lo = (uint64_t)o->extents[ext].offset + skip, hi = (uint64_t)o->extents[ext].offset +
                                                                 (uint64_t)o->extents[ext].length;
    for (size_t j = ext + 1; j < o->n_extents && o->extents[j].block_id == o->extents[ext].block_id; j++) {
        uint64_t a = (uint64_t)o->extents[j].offset, b = a + (uint64_t)o->extents[j].length;
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
    }
    *off = lo;
    *len = hi > lo ? hi - lo : 0;
}

static void get_pump(struct get_op *op)
{
    struct gw_req *r = op->r;
    if (op->stopped || op->sending)
        return;
    struct store_object *o = op->obj;
    /* Move to the extent holding pos. */
    while (op->ext < o->n_extents && op->pos >= op->ext_start + (uint64_t)o->extents[op->ext].length) {
        int64_t old_block = o->extents[op->ext].block_id;
        op->ext_start += (uint64_t)o->extents[op->ext].length;
        op->ext++;
        if (op->ext < o->n_extents && o->extents[op->ext].block_id == old_block)
            continue; /* same block: keep the buffer */
        gw_fetch_free(op->cur);
        op->cur = NULL;
        while (op->n_ahead > 0 && op->ahead_ext[0] <= op->ext) {
            if (op->ahead_ext[0] == op->ext && op->cur == NULL)
                op->cur = op->ahead[0];
            else
                gw_fetch_free(op->ahead[0]);
            op->n_ahead--;
            memmove(&op->ahead[0], &op->ahead[1], op->n_ahead * sizeof(op->ahead[0]));
            memmove(&op->ahead_ext[0], &op->ahead_ext[1], op->n_ahead * sizeof(op->ahead_ext[0]));
        }
    }
    if (op->pos >= op->end) {
        h2o_send(r->req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    const struct store_extent *e = &o->extents[op->ext];
    if (op->cur == NULL) {
        uint64_t off, len;
        block_span(o, op->ext, op->pos - op->ext_start, &off, &len);
        op->cur = gw_fetch_start_range(r->gw, &e->block, op->fetch_flags, off, len, on_block, op);
        if (op->cur == NULL) {
            if (!op->started)
                gw_respond_error(r, S3E_SLOW_DOWN, "read budget exhausted");
            else {
                op->stopped = 1;
                h2o_send(r->req, NULL, 0, H2O_SEND_STATE_ERROR);
            }
            return;
        }
    }
    /* Read ahead: the next extents that live in other blocks, up to READ_AHEAD,
     * asked for while the current block is still being fetched too, so the
     * first blocks of a response are read side by side. */
    while (op->n_ahead < READ_AHEAD) {
        size_t from = op->n_ahead ? op->ahead_ext[op->n_ahead - 1] : op->ext;
        size_t k = from + 1;
        while (k < o->n_extents && o->extents[k].block_id == o->extents[from].block_id)
            k++;
        uint64_t kstart = op->ext_start;
        for (size_t j = op->ext; j < k && j < o->n_extents; j++)
            kstart += (uint64_t)o->extents[j].length;
        if (k >= o->n_extents || kstart >= op->end)
            break;
        uint64_t koff, klen;
        block_span(o, k, 0, &koff, &klen);
        struct gw_fetch *a = gw_fetch_start_range(r->gw, &o->extents[k].block, op->fetch_flags | GW_FETCH_AHEAD,
                                                  koff, klen, on_block, op);
        if (a == NULL)
            break; /* no free slot: try again on the next pump */
        op->ahead[op->n_ahead] = a;
        op->ahead_ext[op->n_ahead] = k;
        op->n_ahead++;
    }
    size_t blen;
    const unsigned char *data = gw_fetch_data(op->cur, &blen);
    if (data == NULL)
        return; /* on_block resumes */
    if (!op->started)
        start_headers(op, (r->req->res.status == 206) ? 206 : 200);
    uint64_t in_ext = op->pos - op->ext_start;
    uint64_t n = (uint64_t)e->length - in_ext;
    if (n > op->end - op->pos)
        n = op->end - op->pos;
    uint64_t boff = (uint64_t)e->offset + in_ext, base = gw_fetch_base(op->cur);
    if (boff < base || boff - base + n > blen) {
        log_error("req %s: extent beyond its block (%llu+%llu > %llu+%zu)", r->id, (unsigned long long)boff,
                  (unsigned long long)n, (unsigned long long)base, blen);
        op->stopped = 1;
        h2o_send(r->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    h2o_iovec_t buf = h2o_iovec_init(data + (boff - base), (size_t)n);
    op->sending = 1;
    op->sent_len = (size_t)n;
    int final = op->pos + n >= op->end;
    h2o_send(r->req, &buf, 1, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static enum s3_err get_run(struct store *st, struct gw_req *r, void *arg)
{
    struct get_op *op = arg;
    enum store_status s;
    if (r->route.op == S3_OP_HEAD_OBJECT)
        s = store_object_head_v(st, r->route.bucket, r->route.key, op->version, &op->obj);
    else
        s = store_object_get_v(st, r->route.bucket, r->route.key, op->version, &op->obj);
    if (s == STORE_NOT_FOUND && op->version != NULL && !gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_VERSION;
    if (s == STORE_OK)
        gw_version_visible(st, r->route.bucket, op->obj->version_id);
    return s == STORE_NOT_FOUND ? gw_no_such_object(st, r->route.bucket) : gw_store_err(s);
}

/* partNumber=N of a multipart object → its byte range from the stored part sizes. */
static enum s3_err part_range(struct gw_req *r, const struct store_object *o, const char *pn, uint64_t *first,
                              uint64_t *last, int *nparts)
{
    char *end;
    long n = strtol(pn, &end, 10);
    if (*end != '\0' || n < 1 || n > S3_MAX_PARTS)
        return S3E_INVALID_ARGUMENT;
    int64_t sizes[1] = {o->size};
    const int64_t *ps = sizes;
    size_t count = 1;
    int64_t *parsed = NULL;
    const char *pj = o->meta_json ? strstr(o->meta_json, "\"parts\":[") : NULL;
    if (pj != NULL) {
        pj += 9;
        parsed = xcalloc(S3_MAX_PARTS, sizeof(*parsed));
        count = 0;
        while (*pj && *pj != ']' && count < S3_MAX_PARTS) {
            parsed[count++] = strtoll(pj, &end, 10);
            pj = *end == ',' ? end + 1 : end;
        }
        ps = parsed;
    }
    (void)r;
    *nparts = (int)count;
    if ((size_t)n > count) {
        free(parsed);
        return S3E_INVALID_PART_NUMBER;
    }
    uint64_t off = 0;
    for (long i = 0; i < n - 1; i++)
        off += (uint64_t)ps[i];
    *first = off;
    *last = off + (uint64_t)ps[n - 1] - 1;
    free(parsed);
    return S3E_OK;
}

static const char *const override_names[][2] = {
    {"response-content-type", "content-type"},
    {"response-content-language", "content-language"},
    {"response-expires", "expires"},
    {"response-cache-control", "cache-control"},
    {"response-content-disposition", "content-disposition"},
    {"response-content-encoding", "content-encoding"},
};

/* response-* values are decoded from the query, so %0D%0A would become a
 * line break in the response headers: refuse them before any work is done. */
static enum s3_err response_overrides_check(const struct gw_req *r)
{
    for (size_t i = 0; i < ARRAY_SIZE(override_names); i++) {
        const char *v = s3_route_param(&r->route, override_names[i][0]);
        if (v != NULL && !s3_header_value_ok(v, strlen(v)))
            return S3E_INVALID_ARGUMENT;
    }
    return S3E_OK;
}

static void response_overrides(struct gw_req *r)
{
    h2o_req_t *req = r->req;
    for (size_t i = 0; i < ARRAY_SIZE(override_names); i++) {
        const char *v = s3_route_param(&r->route, override_names[i][0]);
        if (v == NULL || !s3_header_value_ok(v, strlen(v))) /* checked at the start already */
            continue;
        const char *name = override_names[i][1];
        ssize_t at;
        while ((at = h2o_find_header_by_str(&req->res.headers, name, strlen(name), -1)) != -1)
            h2o_delete_header(&req->res.headers, at);
        gw_add_header(r, name, v, strlen(v));
    }
}

static void get_done(struct gw_req *r, void *arg)
{
    struct get_op *op = arg;
    struct store_object *o = op->obj;
    if (o->delete_marker) {
        /* The key's latest version is a delete marker: no such key; the marker itself
         * (addressed by its version) is no object to read. */
        gw_version_headers(r, o->version_id, 1);
        if (op->version == NULL) {
            gw_respond_error(r, S3E_NO_SUCH_KEY, NULL);
            return;
        }
        char lm[32];
        s3_time_http(o->mtime_ms, lm);
        gw_add_header(r, "last-modified", lm, strlen(lm));
        gw_respond_error(r, S3E_METHOD_NOT_ALLOWED, NULL);
        return;
    }
    enum s3_err e = s3_conditions_check(&r->s3, o->etag, o->mtime_ms);
    if (e == S3E_NOT_MODIFIED) {
        gw_add_etag(r, o->etag);
        char lm[32];
        s3_time_http(o->mtime_ms, lm);
        gw_add_header(r, "last-modified", lm, strlen(lm));
    }
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    int has_range = 0, status = 200, nparts = 0;
    uint64_t first = 0, last = 0;
    const char *pn = s3_route_param(&r->route, "partNumber");
    size_t hl;
    const char *range = gw_req_header(r, "range", &hl);
    if (pn != NULL) {
        e = part_range(r, o, pn, &first, &last, &nparts);
        has_range = o->size > 0;
        if (e == S3E_OK && o->size == 0)
            has_range = 0;
    } else if (range != NULL) {
        e = s3_range_parse(range, hl, (uint64_t)o->size, &has_range, &first, &last);
    }
    if (e == S3E_INVALID_RANGE) {
        char cr[64];
        int n = snprintf(cr, sizeof(cr), "bytes */%lld", (long long)o->size);
        gw_add_header(r, "content-range", cr, (size_t)n);
    }
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    if (has_range) {
        status = 206;
        op->pos = first;
        op->end = last + 1;
        char cr[96];
        int n = snprintf(cr, sizeof(cr), "bytes %llu-%llu/%lld", (unsigned long long)first,
                         (unsigned long long)last, (long long)o->size);
        gw_add_header(r, "content-range", cr, (size_t)n);
    } else {
        op->pos = 0;
        op->end = (uint64_t)o->size;
    }
    if (pn != NULL) {
        char pc[16];
        int n = snprintf(pc, sizeof(pc), "%d", nparts);
        gw_add_header(r, "x-amz-mp-parts-count", pc, (size_t)n);
    }
    gw_add_etag(r, o->etag);
    char lm[32];
    s3_time_http(o->mtime_ms, lm);
    gw_add_header(r, "last-modified", lm, strlen(lm));
    gw_add_header(r, "accept-ranges", "bytes", 5);
    gw_version_headers(r, o->version_id, 0);
    gw_lock_headers(r, o);
    gw_meta_to_response(r, o->meta_json);
    gw_meta_extra_to_response(r, o->meta_json, !has_range && pn == NULL);
    response_overrides(r);
    h2o_req_t *req = r->req;
    if (r->route.op == S3_OP_HEAD_OBJECT || op->pos >= op->end) {
        req->res.content_length = (size_t)(op->end - op->pos);
        req->res.status = status;
        gw_respond_empty(r, status);
        return;
    }
    req->res.status = status; /* start_headers reads it */
    /* Admission goes by the object, not this response: a client that downloads
     * a large object in ranges (aws s3 cp in 8 MiB parts, rclone's threads)
     * reads all of it, a piece at a time, and would push everything else out. */
    if (!gw_cache_admits(r->gw, (uint64_t)o->size))
        op->fetch_flags = GW_FETCH_NO_CACHE;
    /* Position on the first extent; its block is fetched before headers go out. */
    while (op->ext < o->n_extents && op->pos >= op->ext_start + (uint64_t)o->extents[op->ext].length) {
        op->ext_start += (uint64_t)o->extents[op->ext].length;
        op->ext++;
    }
    if (op->ext >= o->n_extents) {
        gw_respond_error(r, S3E_INTERNAL_ERROR, "object extents do not cover its size");
        return;
    }
    get_pump(op);
}

void gw_op_get_object(struct gw_req *r)
{
    enum s3_err e = response_overrides_check(r);
    if (e != S3E_OK) {
        gw_respond_error(r, e, "response-* override values must not hold control characters");
        return;
    }
    struct get_op *op = xcalloc(1, sizeof(*op));
    op->r = r;
    r->op = op;
    r->op_free = get_free;
    if (!gw_version_param(r, &op->version))
        return;
    gw_req_store_call(r, get_run, get_done, op, NULL);
}

/* ---- DeleteObject -------------------------------------------------------------- */

/* A key that is not there is deleted already; its bucket must exist. With
 * If-Match (an ETag or "*", general purpose buckets: S3's conditional
 * deletes) the object must be there with that ETag: 404 NoSuchKey, 412
 * PreconditionFailed. */
struct del_op {
    char *if_match;      /* NULL: none */
    const char *version; /* the route's versionId, NULL: none */
    int bypass;
    struct store_deleted res;
};

static void del_free(struct gw_req *r)
{
    struct del_op *op = r->op;
    free(op->if_match);
    free(op);
    r->op = NULL;
}

static enum s3_err del_run(struct store *st, struct gw_req *r, void *arg)
{
    struct del_op *op = arg;
    if (gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_BUCKET;
    return gw_delete_if_match(st, r->route.bucket, r->route.key, op->if_match, op->version, op->bypass, &op->res);
}

static void del_done(struct gw_req *r, void *arg)
{
    struct del_op *op = arg;
    gw_version_headers(r, op->res.version_id, op->res.delete_marker);
    gw_respond_empty(r, 204);
}

void gw_op_delete_object(struct gw_req *r)
{
    size_t l;
    /* S3 supports these two only for directory buckets; a general purpose
     * bucket does not evaluate them, and ignoring a condition would delete
     * what the client meant to keep. */
    if (gw_req_header(r, "x-amz-if-match-last-modified-time", NULL) != NULL ||
        gw_req_header(r, "x-amz-if-match-size", NULL) != NULL) {
        gw_respond_error(r, S3E_NOT_IMPLEMENTED, NULL);
        return;
    }
    struct del_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = del_free;
    if (!gw_version_param(r, &op->version))
        return;
    const char *im = gw_req_header(r, "if-match", &l);
    op->if_match = im ? xstrndup(im, l) : NULL;
    op->bypass = gw_bypass_governance(r);
    gw_req_store_call(r, del_run, del_done, op, NULL);
}

/* copy.c — CopyObject and UploadPartCopy: server-side copies that share blocks.
 *
 * A copy uploads nothing: the destination (object or part) gets extents that
 * point at the source's blocks, and the store counts the new references, so
 * deleting either side later keeps the other intact. Everything (both
 * buckets, the source, the copy-source conditions, the upload for a part
 * copy, the write) happens in one store transaction, so a concurrent change
 * of the source cannot slip between the check and the copy.
 *
 * UploadPartCopy's part ETag: no bytes pass through the gateway, so the MD5
 * of the range is unknown. The part ETag is instead
 * md5("<source etag> bytes=<first>-<last>") in hex: deterministic, 32 hex like
 * any part ETag, so CompleteMultipartUpload matches it and builds the
 * md5(part md5s)-N ETag from the stored part ETags as usual. A multipart
 * ETag is never a content MD5 anyway, and clients do not recompute it.
 *
 * CopyObject keeps the source's ETag (the bytes are the same extents).
 * Metadata: COPY (default) keeps the source's stored headers and user
 * metadata; REPLACE takes the request's. Tags follow x-amz-tagging-directive
 * the same way. A self-copy must REPLACE something (as AWS); it rewrites the
 * metadata and the mtime only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

/* ---- the copy job --------------------------------------------------------------- */

struct copy_op {
    int part;          /* UploadPartCopy */
    int part_number;
    char src_bucket[S3_MAX_BUCKET_LEN + 1];
    char *src_key;
    char src_version[STORE_VERSION_LEN + 8]; /* the source's versionId ("" = the current object) */
    char *range;       /* x-amz-copy-source-range, or NULL */
    struct s3_request *cond; /* snapshot of the condition headers (read on the store thread) */
    char *req_meta;    /* metadata from this request's headers */
    int replace_meta, replace_tags;
    int check_access;  /* several users, or anonymous: the caller's rights are checked (http/acl.c) */
    char user[129];    /* "" = anonymous */
    char *acl;         /* the new object's ACL (NULL: private to the bucket's owner) */
    struct s3_lock_headers lock; /* CopyObject's x-amz-object-lock-* (ops/objlock.c) */
    /* results */
    char version_id[STORE_VERSION_LEN];     /* of the copy ("" = none named) */
    char src_version_id[STORE_VERSION_LEN]; /* of the source read ("" = none named) */
    char etag[80];
    int64_t mtime_ms;
    int64_t range_beyond; /* the source's size when the range reached past it, else -1 */
};

static void copy_free(struct gw_req *r)
{
    struct copy_op *op = r->op;
    free(op->src_key);
    free(op->range);
    free(op->cond);
    free(op->req_meta);
    free(op->acl);
    free(op);
    r->op = NULL;
}

/* The caller may write into bucket name (key NULL) or read its object key (ACLs: http/acl.c). */
static enum s3_err bucket_access(struct copy_op *op, struct store *st, const char *name, const char *key)
{
    struct store_bucket b;
    enum store_status s = store_bucket_get(st, name, &b);
    if (s != STORE_OK)
        return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
    if (!op->check_access)
        return S3E_OK;
    return gw_acl_allows(st, op->user, &b, key, key != NULL, key != NULL ? S3_PERM_READ : S3_PERM_WRITE);
}

/* The extents of src covering [first, last]: slices of the same blocks. */
static struct store_extent *slice_extents(const struct store_object *src, uint64_t first, uint64_t last, size_t *n)
{
    struct store_extent *out = xcalloc(src->n_extents ? src->n_extents : 1, sizeof(*out));
    uint64_t pos = 0, end = last + 1;
    *n = 0;
    for (size_t i = 0; i < src->n_extents && pos < end; i++) {
        const struct store_extent *e = &src->extents[i];
        uint64_t es = pos, ee = pos + (uint64_t)e->length;
        pos = ee;
        if (ee <= first)
            continue;
        uint64_t s = es > first ? es : first, t = ee < end ? ee : end;
        out[*n].block_id = e->block_id;
        out[*n].offset = e->offset + (int64_t)(s - es);
        out[*n].length = (int64_t)(t - s);
        (*n)++;
    }
    return out;
}

static void part_etag(const char *src_etag, uint64_t first, uint64_t last, char out[33])
{
    char s[160];
    unsigned char md[16];
    unsigned int ml = 0;
    int n = snprintf(s, sizeof(s), "%s bytes=%llu-%llu", src_etag, (unsigned long long)first,
                     (unsigned long long)last);
    ASSERT(n > 0 && (size_t)n < sizeof(s));
    ASSERT(EVP_Digest(s, (size_t)n, md, &ml, EVP_md5(), NULL) == 1);
    hex_encode(md, 16, out);
}

static enum s3_err copy_part(struct copy_op *op, struct store *st, struct gw_req *r, const struct store_object *src)
{
    struct store_upload u;
    const char *id = s3_route_param(&r->route, "uploadId");
    enum store_status s = store_upload_get(st, id ? id : "", &u);
    if (s != STORE_OK)
        return gw_store_err_or(s, S3E_NO_SUCH_UPLOAD);
    int same = !strcmp(u.bucket, r->route.bucket) && !strcmp(u.key, r->route.key);
    store_upload_release(&u);
    if (!same)
        return S3E_NO_SUCH_UPLOAD;
    uint64_t first = 0, last = 0;
    if (op->range != NULL) {
        /* Well formed (checked on the loop) but past the source's end. */
        if (s3_copy_range_parse(op->range, strlen(op->range), (uint64_t)src->size, &first, &last) != S3E_OK) {
            op->range_beyond = src->size;
            return S3E_INVALID_ARGUMENT;
        }
    } else if (src->size > 0) {
        last = (uint64_t)src->size - 1;
    }
    size_t n = 0;
    struct store_extent *ext = src->size > 0 ? slice_extents(src, first, last, &n) : NULL;
    int64_t size = src->size > 0 ? (int64_t)(last - first + 1) : 0;
    part_etag(src->etag, first, last, op->etag);
    op->mtime_ms = now_ms();
    s = store_part_put(st, id, op->part_number, op->etag, size, ext, n, op->mtime_ms);
    free(ext);
    return gw_store_err_or(s, S3E_NO_SUCH_UPLOAD);
}

static enum s3_err copy_object(struct copy_op *op, struct store *st, struct gw_req *r, const struct store_object *src)
{
    /* A copy of an older version onto its own key restores it: not a copy to itself. */
    int self = !strcmp(op->src_bucket, r->route.bucket) && !strcmp(op->src_key, r->route.key) &&
               (op->src_version[0] == '\0' || src->is_latest);
    if (self && !op->replace_meta && !op->replace_tags)
        return S3E_COPY_TO_ITSELF;
    struct store_bucket dst = {0};
    if (store_bucket_get(st, r->route.bucket, &dst) == STORE_OK && dst.versioning != STORE_VERSIONING_OFF)
        self = 0; /* a versioned bucket keeps the old version: the copy is a new one */
    char *meta = gw_meta_copy(src->meta_json, op->req_meta, op->replace_meta, op->replace_tags);
    enum store_status s;
    op->mtime_ms = now_ms();
    snprintf(op->etag, sizeof(op->etag), "%s", src->etag);
    if (self) {
        s = store_object_set_meta(st, r->route.bucket, r->route.key, meta, op->mtime_ms);
        if (s == STORE_OK)
            s = store_object_acl_set(st, r->route.bucket, r->route.key, NULL, op->acl); /* a copy resets it, as AWS */
    } else {
        struct store_object obj = *src;
        snprintf(obj.bucket, sizeof(obj.bucket), "%s", r->route.bucket);
        obj.key = r->route.key;
        obj.mtime_ms = op->mtime_ms;
        obj.meta_json = meta;
        obj.bucket_id = r->bucket_id;
        obj.acl = op->acl;
        /* A copy is not locked by its source's lock: by its request's, or its bucket's default. */
        enum s3_err e = gw_lock_apply(&op->lock, &dst, op->mtime_ms, &obj);
        if (e != S3E_OK) {
            free(meta);
            return e;
        }
        s = store_object_put(st, &obj);
        snprintf(op->version_id, sizeof op->version_id, "%s", obj.version_id);
    }
    free(meta);
    return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
}

static enum s3_err copy_run(struct store *st, struct gw_req *r, void *arg)
{
    struct copy_op *op = arg;
    struct store_object *src = NULL;
    enum store_status s = store_tx_begin(st);
    if (s != STORE_OK)
        return gw_store_err(s);
    enum s3_err err = bucket_access(op, st, r->route.bucket, NULL);
    if (err == S3E_OK)
        err = bucket_access(op, st, op->src_bucket, op->src_key);
    if (err != S3E_OK)
        goto out;
    s = store_object_get_v(st, op->src_bucket, op->src_key, op->src_version[0] ? op->src_version : NULL, &src);
    if (s == STORE_OK && src->delete_marker) {
        s = STORE_NOT_FOUND;
        if (op->src_version[0])
            err = S3E_INVALID_REQUEST; /* "The source of a copy request may not specifically refer to a delete marker" */
    }
    if (s != STORE_OK) {
        if (err == S3E_OK)
            err = gw_store_err_or(s, op->src_version[0] ? S3E_NO_SUCH_VERSION : S3E_NO_SUCH_KEY);
        goto out;
    }
    snprintf(op->src_version_id, sizeof op->src_version_id, "%s", src->version_id);
    gw_version_visible(st, op->src_bucket, op->src_version_id);
    err = s3_copy_conditions_check(op->cond, src->etag, src->mtime_ms);
    if (err != S3E_OK)
        goto out;
    err = op->part ? copy_part(op, st, r, src) : copy_object(op, st, r, src);
    if (err != S3E_OK)
        goto out;
    s = store_tx_commit(st);
    if (s != STORE_OK)
        err = gw_store_err(s);
out:
    if (err != S3E_OK)
        store_tx_rollback(st);
    store_object_free(src);
    /* copy_done answers that one, with the source's size in the message. */
    return op->range_beyond >= 0 ? S3E_OK : err;
}

static void copy_done(struct gw_req *r, void *arg)
{
    struct copy_op *op = arg;
    const char *root = op->part ? "CopyPartResult" : "CopyObjectResult";
    char t[32], etag[96];
    struct dbuf out;
    struct s3_xml x;
    if (op->range_beyond >= 0) {
        /* What S3 answers (observed): 400 InvalidArgument naming the size. */
        char msg[96];
        snprintf(msg, sizeof(msg), "Range specified is not valid for source object of size: %lld",
                 (long long)op->range_beyond);
        gw_respond_error(r, S3E_INVALID_ARGUMENT, msg);
        return;
    }
    s3_time_iso(op->mtime_ms, t);
    snprintf(etag, sizeof(etag), "\"%s\"", op->etag);
    if (op->src_version_id[0])
        gw_add_header(r, "x-amz-copy-source-version-id", op->src_version_id, strlen(op->src_version_id));
    gw_version_headers(r, op->version_id, 0);
    dbuf_init(&out, 64 * 1024);
    s3_xml_begin(&x, &out, root);
    s3_xml_elem(&x, "LastModified", t);
    s3_xml_elem(&x, "ETag", etag);
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, root) != 0);
}

/* COPY (default) → 0, REPLACE → 1, anything else → -1. */
static int directive(struct gw_req *r, const char *name)
{
    size_t l;
    const char *v = gw_req_header(r, name, &l);
    if (v == NULL || (l == 4 && !strncasecmp(v, "COPY", 4)))
        return 0;
    if (l == 7 && !strncasecmp(v, "REPLACE", 7))
        return 1;
    return -1;
}

static const char *const cond_headers[] = {
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since",
};

static void copy_start(struct gw_req *r, int part)
{
    struct copy_op *op = xcalloc(1, sizeof(*op));
    op->part = part;
    op->range_beyond = -1;
    r->op = op;
    r->op_free = copy_free;
    size_t l;
    const char *src = gw_req_header(r, "x-amz-copy-source", &l);
    enum s3_err e = s3_copy_source_parse(src ? src : "", src ? l : 0, op->src_bucket, &op->src_key);
    if (e != S3E_OK) {
        gw_respond_error(r, e, e == S3E_INVALID_ARGUMENT ? "Copy Source must mention the source bucket and key: "
                                                           "sourcebucket/sourcekey"
                                                         : NULL);
        return;
    }
    const char *vmsg = NULL;
    if (s3_copy_source_version(src, l, op->src_version, sizeof op->src_version) < 0 ||
        gw_version_check(op->src_version[0] ? op->src_version : NULL, &vmsg) != S3E_OK) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, vmsg ? vmsg : "Invalid version id specified");
        return;
    }
    if (part) {
        const char *pn = s3_route_param(&r->route, "partNumber");
        char *end;
        long n = pn ? strtol(pn, &end, 10) : 0;
        if (pn == NULL || *pn == '\0' || *end != '\0' || n < 1 || n > S3_MAX_PARTS) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT,
                             "Part number must be an integer between 1 and 10000, inclusive");
            return;
        }
        op->part_number = (int)n;
        const char *rg = gw_req_header(r, "x-amz-copy-source-range", &l);
        uint64_t first, last;
        if (rg != NULL && s3_copy_range_parse(rg, l, UINT64_MAX, &first, &last) != S3E_OK) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT,
                             "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
                             "and last are the zero-based offsets of the first and last bytes to copy");
            return;
        }
        if (rg != NULL)
            op->range = xstrndup(rg, l);
    } else {
        char msg[160];
        e = s3_lock_headers_parse(&r->s3, now_ms(), &op->lock, msg, sizeof(msg));
        if (e != S3E_OK) {
            gw_respond_error(r, e, msg);
            return;
        }
        op->replace_meta = directive(r, "x-amz-metadata-directive");
        op->replace_tags = directive(r, "x-amz-tagging-directive");
        if (op->replace_meta < 0 || op->replace_tags < 0) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "Unknown metadata or tagging directive");
            return;
        }
        const char *tg = gw_req_header(r, "x-amz-tagging", &l);
        struct s3_tag tags[S3_MAX_TAGS];
        size_t nt;
        if (op->replace_tags && tg != NULL && s3_tagging_parse_query(tg, l, tags, S3_MAX_TAGS, &nt) != S3E_OK) {
            gw_respond_error(r, S3E_INVALID_TAG, NULL);
            return;
        }
        op->req_meta = gw_meta_from_request(r);
    }
    op->cond = gw_req_snapshot(r, cond_headers, ARRAY_SIZE(cond_headers));
    op->check_access = r->gw->cfg.n_users > 1 || !r->has_auth;
    snprintf(op->user, sizeof(op->user), "%s", gw_req_user(r));
    if (!part)
        op->acl = gw_acl_object_for_write(r);
    gw_req_store_call(r, copy_run, copy_done, op, NULL);
}

void gw_op_copy_object(struct gw_req *r)
{
    copy_start(r, 0);
}

void gw_op_upload_part_copy(struct gw_req *r)
{
    copy_start(r, 1);
}

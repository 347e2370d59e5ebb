/* bucket.c — bucket operations, listings (V1 and V2), DeleteObjects, bucket probes.
 *
 * Listings run on the store thread (store_object_list) and are rendered on
 * the loop with the one XML writer; max-keys is capped at 1000. V2
 * continuation tokens are the base64 of the last key or prefix returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

#define XML_MAX (8u << 20) /* bytes: largest XML answer (1000 keys of 1 KiB, escaped) */

/* ---- ListBuckets ---------------------------------------------------------------- */

#define MAX_BUCKETS 10000 /* ListBuckets max-buckets: S3 accepts 1..10000 */

/* ListBuckets pages by name: max-buckets, continuation-token (the base64 of
 * the last name returned), prefix and bucket-region filter the one sorted
 * list the store returns. */
struct buckets_op {
    struct store_bucket *list;
    size_t n;
    size_t max;         /* max-buckets, or SIZE_MAX when not asked */
    char *after;        /* names after this one (the decoded token), "" for all */
    const char *prefix; /* the route's, or "" */
    int other_region;   /* bucket-region names another region: nothing is there */
};

static void buckets_free(void *arg)
{
    struct buckets_op *op = arg;
    free(op->list);
    free(op->after);
    free(op);
}

static enum s3_err list_buckets_run(struct store *st, struct gw_req *r, void *arg)
{
    struct buckets_op *op = arg;
    (void)r;
    return gw_store_err(store_bucket_list(st, &op->list, &op->n));
}

static void list_buckets_done(struct gw_req *r, void *arg)
{
    struct buckets_op *op = arg;
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, XML_MAX);
    const char *last = NULL;
    size_t shown = 0, plen = strlen(op->prefix);
    int more = 0;
    s3_xml_begin(&x, &out, "ListAllMyBucketsResult");
    gw_owner_xml(&x, gw_req_user(r));
    s3_xml_open(&x, "Buckets");
    for (size_t i = 0; i < op->n && !op->other_region; i++) {
        char t[32];
        const struct store_bucket *b = &op->list[i];
        if (!gw_access_visible(r, b) || strncmp(b->name, op->prefix, plen) != 0 || strcmp(b->name, op->after) <= 0)
            continue;
        if (shown == op->max) {
            more = 1;
            break;
        }
        s3_time_iso(b->created_ms, t);
        s3_xml_open(&x, "Bucket");
        s3_xml_elem(&x, "Name", b->name);
        s3_xml_elem(&x, "CreationDate", t);
        s3_xml_elem(&x, "BucketRegion", r->gw->cfg.region);
        s3_xml_close(&x, "Bucket");
        last = b->name;
        shown++;
    }
    s3_xml_close(&x, "Buckets");
    if (more && last != NULL) {
        size_t ml = strlen(last);
        char tok[4 * S3_MAX_BUCKET_LEN / 3 + 8];
        size_t tl = s3_base64_encode((const unsigned char *)last, ml, tok, sizeof(tok));
        s3_xml_elemn(&x, "ContinuationToken", tok, tl);
    }
    if (s3_route_param(&r->route, "prefix") != NULL)
        s3_xml_elem(&x, "Prefix", op->prefix);
    int failed = s3_xml_end(&x, "ListAllMyBucketsResult") != 0;
    gw_respond_xml_buf(r, &out, failed);
}

void gw_op_list_buckets(struct gw_req *r)
{
    const char *mb = s3_route_param(&r->route, "max-buckets");
    const char *ct = s3_route_param(&r->route, "continuation-token");
    const char *p = s3_route_param(&r->route, "prefix");
    const char *br = s3_route_param(&r->route, "bucket-region");
    size_t max = SIZE_MAX;
    if (mb != NULL) {
        char *end;
        long v = strtol(mb, &end, 10);
        if (*mb == '\0' || *end != '\0' || v < 1 || v > MAX_BUCKETS) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "Argument max-buckets must be an integer between 1 and 10000");
            return;
        }
        max = (size_t)v;
    }
    char after[S3_MAX_BUCKET_LEN + 1] = "";
    if (ct != NULL) {
        size_t cl = strlen(ct), n = 0;
        if (cl == 0 || cl > 4 * S3_MAX_BUCKET_LEN / 3 + 4 ||
            s3_base64_decode(ct, cl, (unsigned char *)after, sizeof(after) - 1, &n) != 0 ||
            memchr(after, '\0', n) != NULL) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "The continuation token provided is incorrect");
            return;
        }
        after[n] = '\0';
    }
    struct buckets_op *op = xcalloc(1, sizeof(*op));
    op->max = max;
    op->after = xstrdup(after);
    op->prefix = p ? p : "";
    op->other_region = br != NULL && strcmp(br, r->gw->cfg.region) != 0;
    gw_req_store_call(r, list_buckets_run, list_buckets_done, op, buckets_free);
}

/* ---- CreateBucket, DeleteBucket ------------------------------------------------------ */

struct create_op {
    char *acl; /* x-amz-acl / x-amz-grant-*, or NULL: private */
    int lock;  /* x-amz-bucket-object-lock-enabled: true (ops/objlock.c) */
};

static void create_op_free(void *arg)
{
    struct create_op *op = arg;
    free(op->acl);
    free(op);
}

static enum s3_err create_bucket_run(struct store *st, struct gw_req *r, void *arg)
{
    struct create_op *op = arg;
    enum store_status s = store_bucket_create_acl(st, r->route.bucket, gw_req_user(r), now_ms(), op->acl);
    if (s == STORE_OK && op->lock)
        return gw_lock_bucket_create(st, r->route.bucket);
    if (s != STORE_EXISTS)
        return gw_store_err(s);
    struct store_bucket b;
    if (store_bucket_get(st, r->route.bucket, &b) != STORE_OK)
        b.owner[0] = '\0';
    return strcmp(b.owner, gw_req_user(r)) == 0 ? S3E_BUCKET_ALREADY_OWNED_BY_YOU : S3E_BUCKET_ALREADY_EXISTS;
}

static void create_bucket_answer(struct gw_req *r)
{
    char loc[80];
    int n = snprintf(loc, sizeof(loc), "/%s", r->route.bucket);
    gw_add_header(r, "location", loc, (size_t)n);
    gw_respond_empty(r, 200);
}

static void create_bucket_done(struct gw_req *r, void *arg)
{
    struct create_op *op = arg;
    if (op->acl != NULL)
        gw_acl_public_refresh_then(r, create_bucket_answer); /* it has an ACL */
    else
        create_bucket_answer(r);
}

void gw_op_create_bucket(struct gw_req *r)
{
    const char *body;
    size_t len;
    enum s3_err e = gw_small_body(r, &body, &len);
    char location[64] = "";
    if (e == S3E_OK)
        e = s3_xml_parse_create_bucket(body, len, location, sizeof(location));
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    gw_cors_forget(r->gw, r->route.bucket); /* "no such bucket" no longer holds */
    /* Its ACL (checked by access.c): stored only when the request gives one. */
    struct s3_acl *acl = xmalloc(sizeof(*acl));
    const char *msg;
    int given = 0;
    char *text = NULL;
    if (gw_acl_from_request(r, 0, gw_req_user(r), gw_req_user(r), acl, &given, &msg) == S3E_OK && given)
        text = gw_acl_text(acl);
    free(acl);
    struct create_op *op = xcalloc(1, sizeof(*op));
    op->acl = text;
    op->lock = gw_lock_create_asked(r);
    gw_req_store_call(r, create_bucket_run, create_bucket_done, op, create_op_free);
}

static enum s3_err delete_bucket_run(struct store *st, struct gw_req *r, void *op)
{
    (void)op;
    return gw_store_err_or(store_bucket_delete(st, r->route.bucket), S3E_NO_SUCH_BUCKET);
}

static void delete_bucket_done(struct gw_req *r, void *op)
{
    gw_acl_public_refresh(r->gw); /* its ACL went with it */
    gw_answer_204(r, op);
}

void gw_op_delete_bucket(struct gw_req *r)
{
    gw_cors_forget(r->gw, r->route.bucket); /* its CORS rules go with it */
    gw_req_store_call(r, delete_bucket_run, delete_bucket_done, NULL, NULL);
}

/* ---- HeadBucket, GetBucketLocation and the bucket stubs share one lookup -------------- */

static enum s3_err bucket_get_run(struct store *st, struct gw_req *r, void *arg)
{
    struct store_bucket *b = arg;
    return gw_store_err_or(store_bucket_get(st, r->route.bucket, b), S3E_NO_SUCH_BUCKET);
}

static void bucket_get_done(struct gw_req *r, void *arg)
{
    (void)arg;
    const char *region = r->gw->cfg.region;
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, 64 * 1024);
    switch (r->route.op) {
    case S3_OP_HEAD_BUCKET:
        dbuf_release(&out);
        gw_add_header(r, "x-amz-bucket-region", region, strlen(region));
        gw_respond_empty(r, 200);
        return;
    case S3_OP_GET_BUCKET_LOCATION:
        s3_xml_begin(&x, &out, "LocationConstraint");
        if (strcmp(region, "us-east-1") != 0)
            s3_xml_escape(&out, region, strlen(region));
        gw_respond_xml_buf(r, &out, s3_xml_end(&x, "LocationConstraint") != 0);
        return;
    default: /* GetBucketTagging: no tags are stored on buckets */
        dbuf_release(&out);
        gw_respond_error(r, S3E_NO_SUCH_TAG_SET, NULL);
        return;
    }
}

static void bucket_lookup(struct gw_req *r)
{
    gw_req_store_call(r, bucket_get_run, bucket_get_done, xcalloc(1, sizeof(struct store_bucket)), free);
}

void gw_op_head_bucket(struct gw_req *r)
{
    bucket_lookup(r);
}

void gw_op_get_bucket_location(struct gw_req *r)
{
    bucket_lookup(r);
}

void gw_op_bucket_stub(struct gw_req *r)
{
    bucket_lookup(r);
}

/* ---- ListObjects (V1) and ListObjectsV2 (ListObjectVersions: ops/versions.c) ------------------------ */

struct list_op {
    int v2, url, fetch_owner;
    char *prefix, *delimiter, *after;
    size_t max_keys;
    struct store_list res;
};

static void list_free(struct gw_req *r)
{
    struct list_op *op = r->op;
    free(op->prefix);
    free(op->delimiter);
    free(op->after);
    store_list_release(&op->res);
    free(op);
    r->op = NULL;
}

static enum s3_err list_run(struct store *st, struct gw_req *r, void *arg)
{
    struct list_op *op = arg;
    return gw_store_err_or(
        store_object_list(st, r->route.bucket, op->prefix, op->delimiter, op->after, op->max_keys, &op->res),
        S3E_NO_SUCH_BUCKET);
}


/* What a listing says of where it starts. V2 pages by a continuation token,
 * the base64 of the last key or prefix returned. */
static void list_markers(struct s3_xml *x, struct gw_req *r, const struct list_op *op)
{
    if (op->v2) {
        const char *sa = s3_route_param(&r->route, "start-after");
        const char *ct = s3_route_param(&r->route, "continuation-token");
        if (sa)
            gw_xml_elem_enc(x, op->url, "StartAfter", sa);
        if (ct)
            s3_xml_elem(x, "ContinuationToken", ct);
        s3_xml_elem_i64(x, "KeyCount", (int64_t)(op->res.n_entries + op->res.n_prefixes));
    } else {
        const char *m = s3_route_param(&r->route, "marker");
        gw_xml_elem_enc(x, op->url, "Marker", m ? m : "");
    }
}

/* After IsTruncated: where the listing goes on. */
static void list_next(struct s3_xml *x, const struct list_op *op)
{
    if (!op->res.truncated || !op->res.next_marker)
        return;
    if (!op->v2) {
        gw_xml_elem_enc(x, op->url, "NextMarker", op->res.next_marker);
        return;
    }
    size_t ml = strlen(op->res.next_marker);
    char *tok = xmalloc(ml * 4 / 3 + 8);
    size_t tl = s3_base64_encode((const unsigned char *)op->res.next_marker, ml, tok, ml * 4 / 3 + 8);
    s3_xml_elemn(x, "NextContinuationToken", tok, tl);
    free(tok);
}

/* One <Contents>. */
static void list_entry(struct s3_xml *x, struct gw_req *r, const struct list_op *op,
                       const struct store_list_entry *e)
{
    const char *tag = "Contents";
    char t[32], etag[96];
    s3_time_iso(e->mtime_ms, t);
    snprintf(etag, sizeof(etag), "\"%s\"", e->etag);
    s3_xml_open(x, tag);
    gw_xml_elem_enc(x, op->url, "Key", e->key);
    s3_xml_elem(x, "LastModified", t);
    s3_xml_elem(x, "ETag", etag);
    s3_xml_elem_i64(x, "Size", e->size);
    if (!op->v2 || op->fetch_owner)
        gw_owner_xml(x, r->bucket_id.owner[0] != '\0' ? r->bucket_id.owner : gw_req_user(r));
    s3_xml_elem(x, "StorageClass", "STANDARD");
    s3_xml_close(x, tag);
}

static void list_done(struct gw_req *r, void *arg)
{
    struct list_op *op = arg;
    const char *root = "ListBucketResult";
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, XML_MAX);
    s3_xml_begin(&x, &out, root);
    s3_xml_elem(&x, "Name", r->route.bucket);
    gw_xml_elem_enc(&x, op->url, "Prefix", op->prefix);
    list_markers(&x, r, op);
    s3_xml_elem_i64(&x, "MaxKeys", (int64_t)op->max_keys);
    if (op->delimiter[0])
        gw_xml_elem_enc(&x, op->url, "Delimiter", op->delimiter);
    if (op->url)
        s3_xml_elem(&x, "EncodingType", "url");
    s3_xml_elem(&x, "IsTruncated", op->res.truncated ? "true" : "false");
    list_next(&x, op);
    for (size_t i = 0; i < op->res.n_entries; i++)
        list_entry(&x, r, op, &op->res.entries[i]);
    for (size_t i = 0; i < op->res.n_prefixes; i++) {
        s3_xml_open(&x, "CommonPrefixes");
        gw_xml_elem_enc(&x, op->url, "Prefix", op->res.prefixes[i]);
        s3_xml_close(&x, "CommonPrefixes");
    }
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, root) != 0);
}

void gw_op_list_objects(struct gw_req *r)
{
    struct list_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = list_free;
    op->v2 = r->route.op == S3_OP_LIST_OBJECTS_V2;
    if (!gw_list_params(r, &op->url, &op->max_keys))
        return;
    const char *fo = s3_route_param(&r->route, "fetch-owner");
    op->fetch_owner = fo != NULL && !strcmp(fo, "true");
    const char *p = s3_route_param(&r->route, "prefix");
    const char *d = s3_route_param(&r->route, "delimiter");
    op->prefix = xstrdup(p ? p : "");
    op->delimiter = xstrdup(d ? d : "");
    if (op->v2) {
        const char *ct = s3_route_param(&r->route, "continuation-token");
        const char *sa = s3_route_param(&r->route, "start-after");
        if (ct != NULL) {
            size_t cl = strlen(ct), n = 0;
            char *dec = xmalloc(cl + 1);
            if (s3_base64_decode(ct, cl, (unsigned char *)dec, cl, &n) != 0) {
                free(dec);
                gw_respond_error(r, S3E_INVALID_ARGUMENT, "The continuation token provided is incorrect");
                return;
            }
            dec[n] = '\0';
            op->after = dec;
        } else {
            op->after = xstrdup(sa ? sa : "");
        }
    } else {
        const char *m = s3_route_param(&r->route, "marker");
        op->after = xstrdup(m ? m : "");
    }
    gw_req_store_call(r, list_run, list_done, op, NULL);
}

/* ---- DeleteObjects ------------------------------------------------------------------ */

struct mdel_op {
    struct s3_delete_key *keys;
    size_t n;
    int quiet, bypass;
    enum s3_err *err; /* per key */
    struct store_deleted *res; /* per key */
};

static void mdel_free(struct gw_req *r)
{
    struct mdel_op *op = r->op;
    s3_delete_keys_free(op->keys, op->n);
    free(op->err);
    free(op->res);
    free(op);
    r->op = NULL;
}

static enum s3_err mdel_run(struct store *st, struct gw_req *r, void *arg)
{
    struct mdel_op *op = arg;
    if (gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_BUCKET;
    for (size_t i = 0; i < op->n; i++)
        op->err[i] = gw_delete_if_match(st, r->route.bucket, op->keys[i].key, op->keys[i].etag, op->keys[i].version,
                                        op->bypass, &op->res[i]);
    return S3E_OK;
}

static void mdel_done(struct gw_req *r, void *arg)
{
    struct mdel_op *op = arg;
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, XML_MAX);
    s3_xml_begin(&x, &out, "DeleteResult");
    for (size_t i = 0; i < op->n; i++) {
        if (op->err[i] == S3E_OK) {
            if (op->quiet)
                continue;
            const struct store_deleted *d = &op->res[i];
            s3_xml_open(&x, "Deleted");
            s3_xml_elem(&x, "Key", op->keys[i].key);
            if (op->keys[i].version != NULL)
                s3_xml_elem(&x, "VersionId", op->keys[i].version);
            if (d->delete_marker) {
                s3_xml_elem(&x, "DeleteMarker", "true");
                s3_xml_elem(&x, "DeleteMarkerVersionId", d->version_id);
            }
            s3_xml_close(&x, "Deleted");
        } else {
            enum s3_err e = op->err[i];
            s3_xml_open(&x, "Error");
            s3_xml_elem(&x, "Key", op->keys[i].key);
            if (op->keys[i].version != NULL)
                s3_xml_elem(&x, "VersionId", op->keys[i].version);
            s3_xml_elem(&x, "Code", s3_err_code(e));
            s3_xml_elem(&x, "Message", s3_err_message(e));
            s3_xml_close(&x, "Error");
        }
    }
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "DeleteResult") != 0);
}

void gw_op_delete_objects(struct gw_req *r)
{
    const char *body;
    size_t len;
    enum s3_err e = gw_small_body(r, &body, &len);
    struct mdel_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = mdel_free;
    if (e == S3E_OK)
        e = s3_xml_parse_delete(body, len, &op->keys, &op->n, &op->quiet);
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    for (size_t i = 0; i < op->n; i++) {
        if (strlen(op->keys[i].key) > S3_MAX_KEY_LEN) {
            gw_respond_error(r, S3E_KEY_TOO_LONG, NULL);
            return;
        }
    }
    for (size_t i = 0; i < op->n; i++) {
        const char *msg = NULL;
        if (gw_version_check(op->keys[i].version, &msg) != S3E_OK) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, msg);
            return;
        }
    }
    op->err = xcalloc(op->n ? op->n : 1, sizeof(*op->err));
    op->res = xcalloc(op->n ? op->n : 1, sizeof(*op->res));
    op->bypass = gw_bypass_governance(r);
    gw_req_store_call(r, mdel_run, mdel_done, op, NULL);
}

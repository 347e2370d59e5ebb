/* lifecycle.c — PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration, DeleteBucketLifecycle.
 *
 * A bucket's rules live in the index (store/lifecycle.c) as the XML
 * GetBucketLifecycleConfiguration answers; the runner (engine/lifecycle.c)
 * reads them there at each run, so a change needs no cache to drop. Put
 * needs Content-MD5 or an x-amz-checksum-* header over its body, as S3 does;
 * whichever is given must match. A rule without an ID gets one, as S3 gives
 * (48 characters of base64 over random bytes). Only the bucket's owner may
 * call these (the default of http/acl.c). Loop thread, except the *_run store jobs.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

struct lc_op {
    char *xml; /* Put: the configuration as stored; Get: as read */
};

static void lc_op_free(struct gw_req *r)
{
    struct lc_op *op = r->op;
    free(op->xml);
    free(op);
    r->op = NULL;
}

static struct lc_op *lc_op_new(struct gw_req *r)
{
    struct lc_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = lc_op_free;
    return op;
}

/* S3 wants the body's integrity declared: Content-MD5 (checked by
 * gw_small_body) or one x-amz-checksum-* header, checked here. */
static enum s3_err integrity_check(struct gw_req *r, const char *body, size_t len)
{
    static const char *const algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    size_t vl = 0;
    int declared = gw_req_header(r, "content-md5", &vl) != NULL;
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", algs[i]);
        const char *v = gw_req_header(r, name, &vl);
        if (v == NULL)
            continue;
        declared = 1;
        enum s3_err e = s3_checksum_check(algs[i], strlen(algs[i]), v, vl, body, len);
        if (e != S3E_OK)
            return e;
    }
    return declared ? S3E_OK : S3E_MISSING_CONTENT_MD5;
}

/* S3 names the rules that came without an ID. */
static int ids_fill(struct s3_lifecycle *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        unsigned char raw[36];
        char id[64];
        if (cfg->rules[i].id != NULL)
            continue;
        if (blk_random(raw, sizeof(raw)) != BLK_OK)
            return -1;
        s3_base64_encode(raw, sizeof(raw), id, sizeof(id));
        cfg->rules[i].id = xstrdup(id);
    }
    return 0;
}

static enum s3_err put_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lc_op *op = arg;
    return gw_store_err_or(store_lifecycle_put(st, r->route.bucket, op->xml), S3E_NO_SUCH_BUCKET);
}

static void changed_done(struct gw_req *r, void *arg)
{
    (void)arg;
    gw_respond_empty(r, r->route.op == S3_OP_DELETE_BUCKET_LIFECYCLE ? 204 : 200);
}

void gw_op_put_bucket_lifecycle(struct gw_req *r)
{
    struct lc_op *op = lc_op_new(r);
    struct s3_lifecycle cfg;
    struct dbuf out;
    char msg[512] = "";
    const char *body = NULL;
    size_t len = 0;
    enum s3_err e = gw_small_body(r, &body, &len);
    if (e == S3E_OK)
        e = integrity_check(r, body, len);
    if (e == S3E_OK)
        e = s3_lifecycle_parse(body, len, &cfg, msg, sizeof(msg));
    if (e != S3E_OK) {
        gw_respond_error(r, e, msg[0] != '\0' ? msg : NULL);
        return;
    }
    /* Rendered, it never outgrows the document it came from by much. */
    dbuf_init(&out, 4 * S3_MAX_XML_BODY);
    e = ids_fill(&cfg) != 0 ? S3E_INTERNAL_ERROR : s3_lifecycle_render(&cfg, &out) != 0 ? S3E_MALFORMED_XML : S3E_OK;
    s3_lifecycle_release(&cfg);
    if (e != S3E_OK) {
        dbuf_release(&out);
        gw_respond_error(r, e, NULL);
        return;
    }
    op->xml = dbuf_take(&out, NULL);
    gw_req_store_call(r, put_run, changed_done, op, NULL);
}

static enum s3_err get_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lc_op *op = arg;
    enum store_status s = store_lifecycle_get(st, r->route.bucket, &op->xml);
    if (s == STORE_NOT_FOUND)
        return gw_bucket_missing(st, r->route.bucket) ? S3E_NO_SUCH_BUCKET : S3E_NO_SUCH_LIFECYCLE_CONFIGURATION;
    return gw_store_err(s);
}

static void get_done(struct gw_req *r, void *arg)
{
    struct lc_op *op = arg;
    gw_respond_xml(r, 200, op->xml, strlen(op->xml));
}

void gw_op_get_bucket_lifecycle(struct gw_req *r)
{
    gw_req_store_call(r, get_run, get_done, lc_op_new(r), NULL);
}

static enum s3_err delete_run(struct store *st, struct gw_req *r, void *arg)
{
    (void)arg;
    if (gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_BUCKET;
    return gw_store_err(store_lifecycle_delete(st, r->route.bucket));
}

void gw_op_delete_bucket_lifecycle(struct gw_req *r)
{
    gw_req_store_call(r, delete_run, changed_done, lc_op_new(r), NULL);
}

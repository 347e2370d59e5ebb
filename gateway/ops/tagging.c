/* tagging.c — PutObjectTagging, GetObjectTagging, DeleteObjectTagging.
 *
 * Tags live in the object's meta_json ("tags": [[key, value]…], meta.c),
 * at most S3_MAX_TAGS. A tagging change rewrites meta_json only, in one store
 * transaction, and keeps the object's Last-Modified (as S3 does: tags are a
 * sub-resource, not object data). Tags set at upload time come from the
 * x-amz-tagging header (meta.c); GET/HEAD answer x-amz-tagging-count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

struct tag_op {
    struct s3_tag tags[S3_MAX_TAGS];
    size_t n;
    int write;          /* Put or Delete */
    const char *version; /* the route's versionId, NULL: the current object */
    char version_id[STORE_VERSION_LEN]; /* answered in x-amz-version-id ("" none) */
};

static void tag_free(struct gw_req *r)
{
    free(r->op);
    r->op = NULL;
}

static enum s3_err tag_run(struct store *st, struct gw_req *r, void *arg)
{
    struct tag_op *op = arg;
    struct store_object *o = NULL;
    char *meta = NULL;
    enum s3_err err = S3E_OK;
    enum store_status s = STORE_OK;
    if (op->write) {
        s = store_tx_begin(st);
        if (s != STORE_OK)
            return gw_store_err(s);
    }
    s = store_object_head_v(st, r->route.bucket, r->route.key, op->version, &o);
    if (s == STORE_OK && o->delete_marker) {
        err = op->version ? S3E_METHOD_NOT_ALLOWED : S3E_NO_SUCH_KEY;
        goto out;
    }
    if (s != STORE_OK) {
        err = s != STORE_NOT_FOUND                ? gw_store_err(s)
              : gw_bucket_missing(st, r->route.bucket) ? S3E_NO_SUCH_BUCKET
              : op->version                         ? S3E_NO_SUCH_VERSION
                                                    : S3E_NO_SUCH_KEY;
        goto out;
    }
    snprintf(op->version_id, sizeof op->version_id, "%s", o->version_id);
    gw_version_visible(st, r->route.bucket, op->version_id);
    if (!op->write) {
        op->n = gw_meta_get_tags(o->meta_json, op->tags, S3_MAX_TAGS);
        goto out;
    }
    meta = gw_meta_set_tags(o->meta_json, op->tags, op->n);
    s = store_object_set_meta_v(st, r->route.bucket, r->route.key, o->version_id, meta, o->mtime_ms);
    if (s == STORE_OK)
        s = store_tx_commit(st);
    err = gw_store_err(s);
out:
    if (op->write && err != S3E_OK)
        store_tx_rollback(st);
    free(meta);
    store_object_free(o);
    return err;
}

static void tag_done(struct gw_req *r, void *arg)
{
    struct tag_op *op = arg;
    gw_version_headers(r, op->version_id, 0);
    if (r->route.op == S3_OP_DELETE_OBJECT_TAGGING) {
        gw_respond_empty(r, 204);
        return;
    }
    if (r->route.op == S3_OP_PUT_OBJECT_TAGGING) {
        gw_respond_empty(r, 200);
        return;
    }
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, 64 * 1024);
    s3_xml_begin(&x, &out, "Tagging");
    s3_xml_open(&x, "TagSet");
    for (size_t i = 0; i < op->n; i++) {
        s3_xml_open(&x, "Tag");
        s3_xml_elem(&x, "Key", op->tags[i].key);
        s3_xml_elem(&x, "Value", op->tags[i].value);
        s3_xml_close(&x, "Tag");
    }
    s3_xml_close(&x, "TagSet");
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "Tagging") != 0);
}

static void tag_start(struct gw_req *r, int write)
{
    struct tag_op *op = xcalloc(1, sizeof(*op));
    op->write = write;
    r->op = op;
    r->op_free = tag_free;
    if (!gw_version_param(r, &op->version))
        return;
    if (r->route.op == S3_OP_PUT_OBJECT_TAGGING) {
        const char *body;
        size_t len;
        enum s3_err e = gw_small_body(r, &body, &len);
        if (e == S3E_OK)
            e = s3_xml_parse_tagging(body, len, op->tags, S3_MAX_TAGS, &op->n);
        if (e != S3E_OK) {
            gw_respond_error(r, e, NULL);
            return;
        }
    }
    gw_req_store_call(r, tag_run, tag_done, op, NULL);
}

void gw_op_get_object_tagging(struct gw_req *r)
{
    tag_start(r, 0);
}

void gw_op_put_object_tagging(struct gw_req *r)
{
    tag_start(r, 1);
}

void gw_op_delete_object_tagging(struct gw_req *r)
{
    tag_start(r, 1);
}

/* versions.c — what versions add to the object operations: the versionId parameter, the
 * x-amz-version-id and x-amz-delete-marker headers, governance bypass, ListObjectVersions.
 *
 * A bucket never versioned shows no version ids (its objects are the "null" version, which
 * S3 does not name there); once versioning was enabled, every answer names the version it
 * wrote or read, "null" included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/ops/ops.h"

/* A version id the store could have made: "null" or 32 characters of [0-9a-f]. */
static int version_id_ok(const char *v)
{
    if (strcmp(v, "null") == 0)
        return 1;
    if (strlen(v) != STORE_VERSION_LEN - 1)
        return 0;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

enum s3_err gw_version_check(const char *v, const char **message)
{
    if (v != NULL && *v == '\0') {
        *message = "Version id cannot be the empty string";
        return S3E_INVALID_ARGUMENT;
    }
    if (v != NULL && !version_id_ok(v)) {
        *message = "Invalid version id specified";
        return S3E_INVALID_ARGUMENT;
    }
    return S3E_OK;
}

int gw_version_param(struct gw_req *r, const char **version)
{
    const char *msg = NULL;

    *version = s3_route_param(&r->route, "versionId");
    enum s3_err e = gw_version_check(*version, &msg);
    if (e != S3E_OK) {
        gw_respond_error(r, e, msg);
        return 0;
    }
    return 1;
}

void gw_version_visible(struct store *st, const char *bucket, char version_id[STORE_VERSION_LEN])
{
    struct store_bucket b;

    if (store_bucket_get(st, bucket, &b) == STORE_OK && b.versioning == STORE_VERSIONING_OFF)
        version_id[0] = '\0';
}

void gw_version_headers(struct gw_req *r, const char *version_id, int delete_marker)
{
    if (version_id != NULL && version_id[0] != '\0')
        gw_add_header(r, "x-amz-version-id", version_id, strlen(version_id));
    if (delete_marker)
        gw_add_header(r, "x-amz-delete-marker", "true", 4);
}

int gw_bypass_governance(struct gw_req *r)
{
    const char *v = gw_req_header(r, "x-amz-bypass-governance-retention", NULL);

    if (v == NULL || strcasecmp(v, "true") != 0 || !r->has_auth)
        return 0;
    /* The one user of a single-user gateway owns every bucket (http/access.c reads none for it). */
    return r->gw->cfg.n_users <= 1 ||
           (r->bucket_id.owner[0] != '\0' && strcmp(r->bucket_id.owner, gw_req_user(r)) == 0);
}

/* ---- deletes ------------------------------------------------------------------------------ */

enum s3_err gw_delete_if_match(struct store *st, const char *bucket, const char *key, const char *if_match,
                               const char *version, int bypass, struct store_deleted *res)
{
    memset(res, 0, sizeof *res);
    if (if_match == NULL) {
        enum store_status s = store_object_delete_v(st, bucket, key, version, bypass, now_ms(), res);
        if (s == STORE_OK)
            gw_version_visible(st, bucket, res->version_id);
        else if (s == STORE_NOT_FOUND && version != NULL)
            snprintf(res->version_id, sizeof res->version_id, "%s", version);
        return s == STORE_NOT_FOUND ? S3E_OK : gw_store_err(s);
    }
    /* The condition as the one header s3_write_conditions_check reads. */
    struct s3_header h = {"if-match", 8, if_match, strlen(if_match)};
    struct s3_request cond = {"DELETE", 6, NULL, 0, NULL, 0, &h, 1};
    struct store_object *cur = NULL;
    enum store_status s = store_tx_begin(st);
    if (s != STORE_OK)
        return gw_store_err(s);
    enum s3_err e = S3E_OK;
    s = store_object_head_v(st, bucket, key, version, &cur);
    if (s == STORE_OK && cur->delete_marker)
        s = STORE_NOT_FOUND;
    if (s == STORE_OK || s == STORE_NOT_FOUND)
        e = s3_write_conditions_check(&cond, s == STORE_OK, s == STORE_OK ? cur->etag : NULL);
    else
        e = gw_store_err(s);
    store_object_free(cur);
    if (e == S3E_OK) {
        s = store_object_delete_v(st, bucket, key, version, bypass, now_ms(), res);
        if (s == STORE_OK)
            s = store_tx_commit(st);
        if (s == STORE_OK)
            gw_version_visible(st, bucket, res->version_id);
        if (s != STORE_OK)
            e = gw_store_err(s);
    }
    if (e != S3E_OK)
        store_tx_rollback(st);
    return e;
}

/* ---- ListObjectVersions -------------------------------------------------------------------- */

struct lv_op {
    int url;
    char *prefix, *delimiter, *key_marker, *version_marker;
    size_t max_keys;
    struct store_version_list res;
};

static void lv_free(struct gw_req *r)
{
    struct lv_op *op = r->op;
    free(op->prefix);
    free(op->delimiter);
    free(op->key_marker);
    free(op->version_marker);
    store_version_list_release(&op->res);
    free(op);
    r->op = NULL;
}

static enum s3_err lv_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lv_op *op = arg;
    return gw_store_err_or(store_object_versions(st, r->route.bucket, op->prefix, op->delimiter, op->key_marker,
                                                 op->version_marker, op->max_keys, &op->res),
                           S3E_NO_SUCH_BUCKET);
}


static void lv_entry(struct s3_xml *x, struct gw_req *r, const struct lv_op *op, const struct store_version_entry *e)
{
    const char *tag = e->delete_marker ? "DeleteMarker" : "Version";
    char t[32], etag[96];
    s3_time_iso(e->mtime_ms, t);
    s3_xml_open(x, tag);
    gw_xml_elem_enc(x, op->url, "Key", e->key);
    s3_xml_elem(x, "VersionId", e->version_id);
    s3_xml_elem(x, "IsLatest", e->is_latest ? "true" : "false");
    s3_xml_elem(x, "LastModified", t);
    if (!e->delete_marker) {
        snprintf(etag, sizeof(etag), "\"%s\"", e->etag);
        s3_xml_elem(x, "ETag", etag);
        s3_xml_elem_i64(x, "Size", e->size);
    }
    gw_owner_xml(x, r->bucket_id.owner[0] != '\0' ? r->bucket_id.owner : gw_req_user(r));
    if (!e->delete_marker)
        s3_xml_elem(x, "StorageClass", "STANDARD");
    s3_xml_close(x, tag);
}

static void lv_done(struct gw_req *r, void *arg)
{
    struct lv_op *op = arg;
    const struct store_version_list *res = &op->res;
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, 16u << 20);
    s3_xml_begin(&x, &out, "ListVersionsResult");
    s3_xml_elem(&x, "Name", r->route.bucket);
    gw_xml_elem_enc(&x, op->url, "Prefix", op->prefix);
    gw_xml_elem_enc(&x, op->url, "KeyMarker", op->key_marker);
    s3_xml_elem(&x, "VersionIdMarker", op->version_marker);
    if (res->truncated && res->next_key) {
        gw_xml_elem_enc(&x, op->url, "NextKeyMarker", res->next_key);
        if (res->next_version[0])
            s3_xml_elem(&x, "NextVersionIdMarker", res->next_version);
    }
    s3_xml_elem_i64(&x, "MaxKeys", (int64_t)op->max_keys);
    if (op->delimiter[0])
        gw_xml_elem_enc(&x, op->url, "Delimiter", op->delimiter);
    if (op->url)
        s3_xml_elem(&x, "EncodingType", "url");
    s3_xml_elem(&x, "IsTruncated", res->truncated ? "true" : "false");
    for (size_t i = 0; i < res->n_entries; i++)
        lv_entry(&x, r, op, &res->entries[i]);
    for (size_t i = 0; i < res->n_prefixes; i++) {
        s3_xml_open(&x, "CommonPrefixes");
        gw_xml_elem_enc(&x, op->url, "Prefix", res->prefixes[i]);
        s3_xml_close(&x, "CommonPrefixes");
    }
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "ListVersionsResult") != 0);
}

void gw_op_list_versions(struct gw_req *r)
{
    struct lv_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = lv_free;
    if (!gw_list_params(r, &op->url, &op->max_keys))
        return;
    const char *p = s3_route_param(&r->route, "prefix");
    const char *d = s3_route_param(&r->route, "delimiter");
    const char *km = s3_route_param(&r->route, "key-marker");
    const char *vm = s3_route_param(&r->route, "version-id-marker");
    op->prefix = xstrdup(p ? p : "");
    op->delimiter = xstrdup(d ? d : "");
    op->key_marker = xstrdup(km ? km : "");
    op->version_marker = xstrdup(vm ? vm : "");
    if (vm != NULL && *vm != '\0' && op->key_marker[0] == '\0') {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "A version-id marker cannot be specified without a key marker.");
        return;
    }
    const char *msg = NULL;
    if (vm != NULL && *vm != '\0' && gw_version_check(vm, &msg) != S3E_OK) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, msg);
        return;
    }
    gw_req_store_call(r, lv_run, lv_done, op, NULL);
}

/* ops_versions.c — ListObjectVersions for an unversioned store.
 *
 * Buckets are never versioned, so every key has exactly one version: the
 * current one, VersionId "null", IsLatest true (what S3 answers for objects
 * written while versioning was never enabled). The listing is therefore the
 * plain key listing (store_object_list) rendered as <Version> entries;
 * key-marker is the listing's "after" key, and version-id-marker has nothing
 * left to select within a key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/ops.h"

#define XML_MAX (8u << 20) /* bytes: 1000 keys of 1 KiB, escaped */

struct ver_op {
    struct gw_req *r;
    enum store_status st;
    int url;
    char *prefix, *delimiter, *after;
    size_t max_keys;
    struct store_list res;
};

static void ver_free(struct gw_req *r)
{
    struct ver_op *op = r->op;
    free(op->prefix);
    free(op->delimiter);
    free(op->after);
    store_list_release(&op->res);
    free(op);
    r->op = NULL;
}

static void ver_run(struct store *st, void *arg)
{
    struct ver_op *op = arg;
    op->st = store_object_list(st, op->r->route.bucket, op->prefix, op->delimiter, op->after, op->max_keys,
                               &op->res);
}

static void elem_enc(struct s3_xml *x, int url, const char *name, const char *v)
{
    if (!url) {
        s3_xml_elem(x, name, v);
        return;
    }
    struct dbuf enc;
    dbuf_init(&enc, 4 * S3_MAX_KEY_LEN + 16);
    s3_uri_encode(&enc, v, strlen(v), 0);
    s3_xml_elemn(x, name, enc.ptr ? enc.ptr : "", enc.len);
    dbuf_release(&enc);
}

static void ver_done(void *arg)
{
    struct ver_op *op = arg;
    struct gw_req *r = op->r;
    if (!gw_req_release(r))
        return;
    if (op->st != STORE_OK) {
        gw_respond_error(r, op->st == STORE_NOT_FOUND ? S3E_NO_SUCH_BUCKET : gw_store_err(op->st), NULL);
        return;
    }
    const char *vm = s3_route_param(&r->route, "version-id-marker");
    const char *owner = gw_req_user(r);
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, XML_MAX);
    s3_xml_begin(&x, &out, "ListVersionsResult");
    s3_xml_elem(&x, "Name", r->route.bucket);
    elem_enc(&x, op->url, "Prefix", op->prefix);
    elem_enc(&x, op->url, "KeyMarker", op->after);
    s3_xml_elem(&x, "VersionIdMarker", vm ? vm : "");
    if (op->res.truncated && op->res.next_marker) {
        elem_enc(&x, op->url, "NextKeyMarker", op->res.next_marker);
        s3_xml_elem(&x, "NextVersionIdMarker", "null");
    }
    s3_xml_elem_i64(&x, "MaxKeys", (int64_t)op->max_keys);
    if (op->delimiter[0])
        elem_enc(&x, op->url, "Delimiter", op->delimiter);
    if (op->url)
        s3_xml_elem(&x, "EncodingType", "url");
    s3_xml_elem(&x, "IsTruncated", op->res.truncated ? "true" : "false");
    for (size_t i = 0; i < op->res.n_entries; i++) {
        const struct store_list_entry *e = &op->res.entries[i];
        char t[32], etag[96];
        s3_time_iso(e->mtime_ms, t);
        snprintf(etag, sizeof(etag), "\"%s\"", e->etag);
        s3_xml_open(&x, "Version");
        elem_enc(&x, op->url, "Key", e->key);
        s3_xml_elem(&x, "VersionId", "null");
        s3_xml_elem(&x, "IsLatest", "true");
        s3_xml_elem(&x, "LastModified", t);
        s3_xml_elem(&x, "ETag", etag);
        s3_xml_elem_i64(&x, "Size", e->size);
        s3_xml_open(&x, "Owner");
        s3_xml_elem(&x, "ID", owner);
        s3_xml_elem(&x, "DisplayName", owner);
        s3_xml_close(&x, "Owner");
        s3_xml_elem(&x, "StorageClass", "STANDARD");
        s3_xml_close(&x, "Version");
    }
    for (size_t i = 0; i < op->res.n_prefixes; i++) {
        s3_xml_open(&x, "CommonPrefixes");
        elem_enc(&x, op->url, "Prefix", op->res.prefixes[i]);
        s3_xml_close(&x, "CommonPrefixes");
    }
    if (s3_xml_end(&x, "ListVersionsResult") != 0)
        gw_respond_error(r, S3E_INTERNAL_ERROR, "response too large");
    else
        gw_respond_xml(r, 200, out.ptr, out.len);
    dbuf_release(&out);
}

void gw_op_list_object_versions(struct gw_req *r)
{
    struct ver_op *op = xcalloc(1, sizeof(*op));
    op->r = r;
    r->op = op;
    r->op_free = ver_free;
    const char *enc = s3_route_param(&r->route, "encoding-type");
    if (enc && *enc && strcmp(enc, "url") != 0) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "Invalid Encoding Method specified in Request");
        return;
    }
    op->url = enc != NULL && !strcmp(enc, "url");
    const char *p = s3_route_param(&r->route, "prefix");
    const char *d = s3_route_param(&r->route, "delimiter");
    const char *km = s3_route_param(&r->route, "key-marker");
    op->prefix = xstrdup(p ? p : "");
    op->delimiter = xstrdup(d ? d : "");
    op->after = xstrdup(km ? km : "");
    op->max_keys = STORE_MAX_LIST;
    const char *mk = s3_route_param(&r->route, "max-keys");
    if (mk != NULL) {
        char *end;
        long v = strtol(mk, &end, 10);
        if (*mk == '\0' || *end != '\0' || v < 0) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "max-keys must be a non-negative integer");
            return;
        }
        op->max_keys = v > STORE_MAX_LIST ? STORE_MAX_LIST : (size_t)v;
    }
    gw_req_hold(r);
    gw_store_call(r->gw, ver_run, ver_done, op);
}

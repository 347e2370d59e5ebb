/* attributes.c — GetObjectAttributes (GET /bucket/key?attributes).
 *
 * Answers only what x-amz-object-attributes asks for (ETag, Checksum,
 * ObjectParts, StorageClass, ObjectSize; required, as AWS) from the object's
 * index row: ETag without quotes; Checksum as recorded (a COMPOSITE value
 * without its "-N"); ObjectParts of a multipart object with PartsCount, and
 * its parts (number, size, checksum), paged by x-amz-max-parts and
 * x-amz-part-number-marker, when it has part checksums (AWS lists parts only
 * then). Last-Modified and x-amz-version-id go in headers; versionId names a
 * version (a delete marker: 404 NoSuchKey, 405 by its id, with
 * x-amz-delete-marker). Loop thread, the read on the store thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

#define MAX_PARTS_PAGE 1000 /* AWS's default and maximum x-amz-max-parts */

struct attr_op {
    unsigned want;  /* S3_ATTR_* bits */
    int marker, max;
    const char *version; /* the route's versionId, NULL: the current object */
    struct store_object *obj;
};

static void attr_free(struct gw_req *r)
{
    struct attr_op *op = r->op;
    store_object_free(op->obj);
    free(op);
    r->op = NULL;
}

static enum s3_err attr_run(struct store *st, struct gw_req *r, void *arg)
{
    struct attr_op *op = arg;
    enum store_status s = store_object_head_v(st, r->route.bucket, r->route.key, op->version, &op->obj);
    if (s == STORE_NOT_FOUND && op->version != NULL && !gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_VERSION;
    if (s == STORE_NOT_FOUND)
        return gw_no_such_object(st, r->route.bucket);
    if (s == STORE_OK)
        gw_version_visible(st, r->route.bucket, op->obj->version_id);
    return gw_store_err(s);
}

static void parts_xml(struct s3_xml *x, struct attr_op *op, const char *ck_alg)
{
    struct gw_meta_part *parts = NULL;
    size_t total = 0;
    int truncated = 0;
    size_t n = gw_meta_get_parts(op->obj->meta_json, op->marker, (size_t)op->max, &parts, &total, &truncated);
    if (total == 0) { /* not a multipart object: no ObjectParts, as AWS */
        free(parts);
        return;
    }
    s3_xml_open(x, "ObjectParts");
    s3_xml_elem_i64(x, "PartsCount", (int64_t)total);
    /* Parts only when the object has part checksums (AWS, general purpose buckets). */
    int listed = ck_alg != NULL && (n == 0 || parts[0].ck[0] != '\0');
    if (listed) {
        s3_xml_elem_i64(x, "PartNumberMarker", op->marker);
        if (n > 0)
            s3_xml_elem_i64(x, "NextPartNumberMarker", parts[n - 1].number);
        s3_xml_elem_i64(x, "MaxParts", op->max);
        s3_xml_elem(x, "IsTruncated", truncated ? "true" : "false");
        for (size_t i = 0; i < n; i++) {
            s3_xml_open(x, "Part");
            s3_xml_elem_i64(x, "PartNumber", parts[i].number);
            s3_xml_elem_i64(x, "Size", parts[i].size);
            if (parts[i].ck[0] != '\0')
                s3_xml_elem(x, s3_checksum_xml_name(ck_alg), parts[i].ck);
            s3_xml_close(x, "Part");
        }
    }
    s3_xml_close(x, "ObjectParts");
    free(parts);
}

static void attr_done(struct gw_req *r, void *arg)
{
    struct attr_op *op = arg;
    struct store_object *o = op->obj;
    struct dbuf out;
    struct s3_xml x;
    char lm[32], alg[16], value[S3_CHECKSUM_MAX], type[16];
    s3_time_http(o->mtime_ms, lm);
    gw_add_header(r, "last-modified", lm, strlen(lm));
    if (o->delete_marker) {
        gw_version_headers(r, o->version_id, 1);
        gw_respond_error(r, op->version ? S3E_METHOD_NOT_ALLOWED : S3E_NO_SUCH_KEY, NULL);
        return;
    }
    gw_version_headers(r, o->version_id, 0);
    int has_ck = gw_meta_get_checksum(o->meta_json, alg, value, type);
    dbuf_init(&out, 1u << 20);
    s3_xml_begin(&x, &out, "GetObjectAttributesResponse");
    if (op->want & S3_ATTR_ETAG)
        s3_xml_elem(&x, "ETag", o->etag);
    if ((op->want & S3_ATTR_CHECKSUM) && has_ck) {
        char *dash = strchr(value, '-');
        if (dash != NULL)
            *dash = '\0';
        s3_xml_open(&x, "Checksum");
        s3_xml_elem(&x, s3_checksum_xml_name(alg), value);
        s3_xml_elem(&x, "ChecksumType", type);
        s3_xml_close(&x, "Checksum");
    }
    if (op->want & S3_ATTR_OBJECT_PARTS)
        parts_xml(&x, op, has_ck ? alg : NULL);
    if (op->want & S3_ATTR_STORAGE_CLASS)
        s3_xml_elem(&x, "StorageClass", "STANDARD");
    if (op->want & S3_ATTR_OBJECT_SIZE)
        s3_xml_elem_i64(&x, "ObjectSize", o->size);
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "GetObjectAttributesResponse") != 0);
}

/* A non-negative integer header (absent: def); values above max are max. */
static int int_header(struct gw_req *r, const char *name, int def, int max, int *out)
{
    size_t len;
    const char *v = gw_req_header(r, name, &len);
    *out = def;
    if (v == NULL)
        return 0;
    if (len == 0 || len > 9)
        return -1;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    *out = n > max ? max : (int)n;
    return 0;
}

void gw_op_get_object_attributes(struct gw_req *r)
{
    size_t len;
    const char *v = gw_req_header(r, "x-amz-object-attributes", &len);
    unsigned want = 0;
    int bad = v != NULL && s3_object_attributes_parse(v, len, &want) != 0;
    if (bad || want == 0) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT,
                         bad ? "Invalid attribute name specified."
                             : "The x-amz-object-attributes header specifying the attributes to be retrieved is "
                               "either missing or empty");
        return;
    }
    struct attr_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = attr_free;
    op->want = want;
    if (!gw_version_param(r, &op->version))
        return;
    if (int_header(r, "x-amz-max-parts", MAX_PARTS_PAGE, MAX_PARTS_PAGE, &op->max) != 0 ||
        int_header(r, "x-amz-part-number-marker", 0, S3_MAX_PARTS, &op->marker) != 0) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, NULL);
        return;
    }
    gw_req_store_call(r, attr_run, attr_done, op, NULL);
}

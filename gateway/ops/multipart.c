/* multipart.c — CreateMultipartUpload, UploadPart, Complete, Abort, ListParts, ListMultipartUploads.
 *
 * A part is stored like an object body: verified, split into blocks and
 * posted; its extents are kept under (upload id, part number). Complete
 * validates the client's list against the stored parts (order, ETags, 5 MiB
 * minimum except the last) and stitches the parts' extents into the object
 * in one transaction: nothing is uploaded again.
 *
 * Checksums (AWS "Checking object integrity"): CreateMultipartUpload may name
 * an algorithm and a type (COMPOSITE, FULL_OBJECT), kept with the upload;
 * every part then must carry that checksum (header or aws-chunked trailer,
 * verified over its bytes by the engine) and it is kept with the part.
 * Complete compares the client's per-part checksums with the kept ones and
 * records the object's: COMPOSITE = H(raw part checksums) "-N", FULL_OBJECT =
 * the CRC of the whole object combined from the parts' CRCs and sizes
 * (s3/checksum.c); a checksum header on Complete must match it. A part copy
 * has no checksum (no bytes pass through), so it cannot complete such an upload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

#define MIN_PART_SIZE (5 * 1024 * 1024) /* bytes: S3's minimum for all parts but the last */
#define XML_MAX (8u << 20)

/* <Initiator> and <Owner> of an upload: the caller, who owns the bucket. */
static void initiator_and_owner(struct s3_xml *x, const char *owner)
{
    s3_xml_open(x, "Initiator");
    s3_xml_elem(x, "ID", owner);
    s3_xml_elem(x, "DisplayName", owner);
    s3_xml_close(x, "Initiator");
    gw_owner_xml(x, owner);
}

/* ---- CreateMultipartUpload ------------------------------------------------------ */

struct create_op {
    char id[33];
    char *meta;
    const char *ck_alg;  /* canonical, or NULL */
    const char *ck_type; /* "COMPOSITE" / "FULL_OBJECT" when ck_alg */
};

static void create_free(void *arg)
{
    struct create_op *op = arg;
    free(op->meta);
    free(op);
}

static enum s3_err create_run(struct store *st, struct gw_req *r, void *arg)
{
    struct create_op *op = arg;
    if (gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_BUCKET;
    enum s3_err e = gw_lock_upload_check(st, r->route.bucket, op->meta);
    if (e != S3E_OK)
        return e;
    if (op->ck_alg == NULL)
        return gw_store_err(store_upload_create(st, op->id, r->route.bucket, r->route.key, op->meta, now_ms()));
    enum store_status s = store_tx_begin(st);
    if (s == STORE_OK)
        s = store_upload_create(st, op->id, r->route.bucket, r->route.key, op->meta, now_ms());
    if (s == STORE_OK)
        s = store_upload_checksum_set(st, op->id, op->ck_alg, op->ck_type);
    if (s == STORE_OK)
        s = store_tx_commit(st);
    if (s != STORE_OK)
        store_tx_rollback(st);
    return gw_store_err(s);
}

static void create_done(struct gw_req *r, void *arg)
{
    struct create_op *op = arg;
    struct dbuf out;
    struct s3_xml x;
    if (op->ck_alg != NULL) {
        const char *up = s3_checksum_alg_upper(op->ck_alg);
        gw_add_header(r, "x-amz-checksum-algorithm", up, strlen(up));
        gw_add_header(r, "x-amz-checksum-type", op->ck_type, strlen(op->ck_type));
    }
    dbuf_init(&out, 64 * 1024);
    s3_xml_begin(&x, &out, "InitiateMultipartUploadResult");
    s3_xml_elem(&x, "Bucket", r->route.bucket);
    s3_xml_elem(&x, "Key", r->route.key);
    s3_xml_elem(&x, "UploadId", op->id);
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "InitiateMultipartUploadResult") != 0);
}

/* x-amz-checksum-algorithm and x-amz-checksum-type of CreateMultipartUpload
 * (AWS "Checking object integrity": FULL_OBJECT for the CRCs only, COMPOSITE
 * for all but CRC64NVME, whose default is FULL_OBJECT). Answers the error and
 * returns 0 when they are not a combination AWS takes. */
static int create_checksum_headers(struct gw_req *r, struct create_op *op)
{
    size_t al, tl;
    const char *a = gw_req_header(r, "x-amz-checksum-algorithm", &al);
    const char *t = gw_req_header(r, "x-amz-checksum-type", &tl);
    char msg[160];
    if (a == NULL) {
        if (t != NULL)
            gw_respond_error(r, S3E_INVALID_REQUEST,
                             "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
                             "header.");
        return t == NULL;
    }
    op->ck_alg = s3_checksum_alg(a, al);
    if (op->ck_alg == NULL) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "Value for x-amz-checksum-algorithm header is invalid.");
        return 0;
    }
    if (t == NULL)
        op->ck_type = strcmp(op->ck_alg, "crc64nvme") == 0 ? "FULL_OBJECT" : "COMPOSITE";
    else if (tl == 9 && strncasecmp(t, "COMPOSITE", 9) == 0)
        op->ck_type = "COMPOSITE";
    else if (tl == 11 && strncasecmp(t, "FULL_OBJECT", 11) == 0)
        op->ck_type = "FULL_OBJECT";
    else {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "Value for x-amz-checksum-type header is invalid.");
        return 0;
    }
    if (!s3_checksum_type_ok(op->ck_alg, op->ck_type[0] == 'F')) {
        snprintf(msg, sizeof(msg), "The %s checksum type cannot be used with the %s checksum algorithm.",
                 op->ck_type, op->ck_alg);
        gw_respond_error(r, S3E_INVALID_REQUEST, msg);
        return 0;
    }
    return 1;
}

void gw_op_create_multipart(struct gw_req *r)
{
    if (!gw_tagging_header_ok(r))
        return;
    struct create_op *op = xcalloc(1, sizeof(*op));
    if (!create_checksum_headers(r, op)) {
        free(op);
        return;
    }
    gw_random_hex(op->id, 16);
    char *meta = gw_meta_from_request(r), *acl = gw_acl_object_for_write(r);
    op->meta = gw_meta_with_acl(meta, acl); /* the object gets it at CompleteMultipartUpload */
    free(meta);
    free(acl);
    char msg[160];
    enum s3_err e = gw_lock_upload_headers(r, now_ms(), &op->meta, msg, sizeof(msg)); /* and its Object Lock */
    if (e != S3E_OK) {
        gw_respond_error(r, e, msg[0] ? msg : NULL);
        create_free(op);
        return;
    }
    gw_req_store_call(r, create_run, create_done, op, create_free);
}

/* Looks up uploadId and checks it belongs to this bucket/key (store thread). */
static enum store_status upload_of(struct store *st, struct gw_req *r, struct store_upload *u)
{
    const char *id = s3_route_param(&r->route, "uploadId");
    enum store_status s = store_upload_get(st, id ? id : "", u);
    if (s != STORE_OK)
        return s;
    if (strcmp(u->bucket, r->route.bucket) != 0 || strcmp(u->key, r->route.key) != 0) {
        store_upload_release(u);
        return STORE_NOT_FOUND;
    }
    return STORE_OK;
}

static enum s3_err upload_err(enum store_status s)
{
    return gw_store_err_or(s, S3E_NO_SUCH_UPLOAD);
}

/* ---- UploadPart ------------------------------------------------------------------ */

struct part_op {
    int part_number;
    struct gw_put *put;
    char etag[40];
    int64_t size;
    char up_alg[16];       /* the upload's checksum algorithm ("" = none) */
    char ck_alg[16];       /* the part's verified checksum, canonical ("" = none) */
    char ck_value[64];
    enum s3_err err;       /* a refusal decided on the store thread, with msg */
    char msg[160];
};

/* AWS's answer to a part whose checksum is not the upload's algorithm. */
static void checksum_mismatch_msg(char *msg, size_t n, const char *want, const char *got)
{
    snprintf(msg, n, "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", want,
             got[0] ? got : "null");
}

static void part_free(struct gw_req *r)
{
    struct part_op *op = r->op;
    gw_put_free(op->put);
    free(op);
    r->op = NULL;
}

static enum s3_err part_commit_run(struct store *st, struct gw_req *r, void *arg)
{
    struct part_op *op = arg;
    struct store_extent *ext = NULL;
    size_t n = 0;
    struct store_upload u;
    if (op->up_alg[0] != '\0' && strcmp(op->up_alg, op->ck_alg) != 0) {
        /* The body came without the upload's checksum (a trailer can name another). */
        gw_put_orphan_blocks(op->put, st);
        op->err = S3E_INVALID_REQUEST;
        checksum_mismatch_msg(op->msg, sizeof(op->msg), op->up_alg, op->ck_alg);
        return S3E_OK;
    }
    enum store_status s = store_tx_begin(st);
    if (s != STORE_OK)
        return upload_err(s);
    s = upload_of(st, r, &u);
    if (s == STORE_OK) {
        store_upload_release(&u);
        s = gw_put_commit_blocks(op->put, st, &ext, &n);
    }
    if (s == STORE_OK)
        s = store_part_put(st, s3_route_param(&r->route, "uploadId"), op->part_number, op->etag, op->size, ext, n,
                           now_ms());
    if (s == STORE_OK && op->ck_alg[0] != '\0')
        s = store_part_checksum_set(st, s3_route_param(&r->route, "uploadId"), op->part_number, op->ck_alg,
                                    op->ck_value);
    if (s == STORE_OK)
        s = store_tx_commit(st);
    if (s != STORE_OK) {
        store_tx_rollback(st);
        gw_put_orphan_blocks(op->put, st);
    } else {
        gw_put_mark_committed(op->put);
    }
    free(ext);
    return upload_err(s);
}

static void part_commit_done(struct gw_req *r, void *arg)
{
    struct part_op *op = arg;
    if (op->err != S3E_OK)
        gw_respond_error(r, op->err, op->msg);
    else
        gw_respond_stored(r, op->etag, op->put);
}

/* The body is stored as blocks: the part is committed. */
static void part_stored(struct gw_req *r, struct gw_put *p)
{
    struct part_op *op = r->op;
    snprintf(op->etag, sizeof(op->etag), "%s", gw_put_md5_hex(p));
    op->size = (int64_t)gw_put_size(p);
    const char *ckv, *ck = gw_put_checksum(p, &ckv);
    const char *alg = ck ? s3_checksum_alg(ck, strlen(ck)) : NULL;
    if (alg != NULL) {
        snprintf(op->ck_alg, sizeof(op->ck_alg), "%s", alg);
        snprintf(op->ck_value, sizeof(op->ck_value), "%s", ckv);
    }
    gw_req_store_call(r, part_commit_run, part_commit_done, op, NULL);
}

/* The upload must exist (and be this key's) before the body costs blocks. */
static enum s3_err upload_check_run(struct store *st, struct gw_req *r, void *arg)
{
    struct part_op *op = arg;
    struct store_upload u;
    enum store_status s = upload_of(st, r, &u);
    if (s == STORE_OK) {
        snprintf(op->up_alg, sizeof(op->up_alg), "%s", u.ck_alg);
        store_upload_release(&u);
    }
    return upload_err(s);
}

/* The algorithm of the checksum the request carries: an x-amz-checksum-<alg>
 * header, or the one its x-amz-trailer announces ("" = none). */
static void sent_checksum_alg(struct gw_req *r, char out[16])
{
    static const char *const algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    size_t len;
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", algs[i]);
        if (gw_req_header(r, name, NULL) != NULL) {
            snprintf(out, 16, "%s", algs[i]);
            return;
        }
    }
    const char *t = gw_req_header(r, "x-amz-trailer", &len);
    if (t != NULL && len > 15 && strncasecmp(t, "x-amz-checksum-", 15) == 0) {
        const char *a = s3_checksum_alg(t + 15, len - 15);
        if (a != NULL)
            snprintf(out, 16, "%s", a);
    }
}

static void part_begin(struct gw_req *r, void *arg)
{
    struct part_op *op = arg;
    if (op->up_alg[0] != '\0') {
        char sent[16];
        sent_checksum_alg(r, sent);
        if (strcmp(sent, op->up_alg) != 0) {
            checksum_mismatch_msg(op->msg, sizeof(op->msg), op->up_alg, sent);
            gw_respond_error(r, S3E_INVALID_REQUEST, op->msg);
            return;
        }
    }
    op->put = gw_put_body_start(r, 0, part_stored);
}

void gw_op_upload_part(struct gw_req *r)
{
    const char *pn = s3_route_param(&r->route, "partNumber");
    char *end;
    long n = pn ? strtol(pn, &end, 10) : 0;
    if (pn == NULL || *pn == '\0' || *end != '\0' || n < 1 || n > S3_MAX_PARTS) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "Part number must be an integer between 1 and 10000, inclusive");
        return;
    }
    struct part_op *op = xcalloc(1, sizeof(*op));
    op->part_number = (int)n;
    r->op = op;
    r->op_free = part_free;
    gw_req_store_call(r, upload_check_run, part_begin, op, NULL);
}

/* ---- CompleteMultipartUpload --------------------------------------------------------- */

struct complete_op {
    struct s3_complete_part *parts;
    size_t n;
    char etag[80];
    struct s3_request *cond; /* If-Match / If-None-Match snapshot, or NULL */
    char hdr_type[16];       /* x-amz-checksum-type of the request ("" = none) */
    char hdr_alg[16];        /* x-amz-checksum-<alg> of the request ("" = none) */
    char hdr_value[S3_CHECKSUM_MAX];
    char ck_alg[16];         /* the object's checksum ("" = none) */
    char ck_type[16];
    char ck_value[S3_CHECKSUM_MAX];
    enum s3_err err;         /* a refusal with msg, decided on the store thread */
    char msg[200];
    char version_id[STORE_VERSION_LEN]; /* of the object written ("" none) */
};

/* The value without a composite "-N" suffix. */
static size_t checksum_b64_len(const char *v)
{
    const char *dash = strchr(v, '-');
    return dash ? (size_t)(dash - v) : strlen(v);
}

/* Checks the listed parts' checksums against the stored ones (stored[idx[i]]
 * is listed part i) and computes the object's checksum into op (none when the
 * upload has no algorithm). Returns S3E_OK, or the refusal with op->msg set. */
static enum s3_err complete_checksums(struct complete_op *op, const struct store_upload *u,
                                      const struct store_part *stored, const size_t *idx, const int64_t *sizes)
{
    for (size_t i = 0; i < op->n; i++) {
        const struct s3_complete_part *c = &op->parts[i];
        const struct store_part *p = &stored[idx[i]];
        /* A part kept without a checksum is the second loop's (or, with no algorithm, nobody's) concern. */
        if (c->ck_alg[0] == '\0' || p->ck_alg[0] == '\0' ||
            (u->ck_alg[0] == '\0' && strcmp(c->ck_alg, p->ck_alg) != 0))
            continue;
        if (strcmp(c->ck_alg, p->ck_alg) != 0 || strcmp(c->ck_value, p->ck_value) != 0)
            return S3E_INVALID_PART;
    }
    if (u->ck_alg[0] == '\0')
        return S3E_OK;
    int full = strcmp(u->ck_type, "FULL_OBJECT") == 0;
    if (op->hdr_type[0] != '\0' && strcmp(op->hdr_type, u->ck_type) != 0) {
        snprintf(op->msg, sizeof(op->msg),
                 "The upload was created using the %s checksum mode. The complete request must use the same "
                 "checksum mode.",
                 u->ck_type);
        return S3E_INVALID_REQUEST;
    }
    const char **vals = xcalloc(op->n, sizeof(*vals));
    enum s3_err err = S3E_OK;
    for (size_t i = 0; i < op->n && err == S3E_OK; i++) {
        const struct store_part *p = &stored[idx[i]];
        if (!full && op->parts[i].ck_alg[0] == '\0') {
            snprintf(op->msg, sizeof(op->msg),
                     "The upload was created using a %s checksum. The complete request must include the checksum "
                     "for each part. It was missing for part %d in the request.",
                     u->ck_alg, op->parts[i].part_number);
            err = S3E_INVALID_REQUEST;
        } else if (strcmp(p->ck_alg, u->ck_alg) != 0) {
            /* Only a part copy is stored without the upload's checksum: no bytes passed here to sum. */
            snprintf(op->msg, sizeof(op->msg),
                     "Part %d has no %s checksum: a part copied with UploadPartCopy has none in this store; "
                     "upload it with UploadPart instead.",
                     op->parts[i].part_number, u->ck_alg);
            err = S3E_INVALID_PART;
        }
        vals[i] = p->ck_value;
    }
    if (err == S3E_OK &&
        s3_checksum_multipart(u->ck_alg, full, vals, sizes, op->n, op->ck_value, sizeof(op->ck_value)) != S3E_OK)
        err = S3E_INVALID_PART;
    free(vals);
    if (err != S3E_OK)
        return err;
    if (op->hdr_alg[0] != '\0' && strcmp(op->hdr_alg, u->ck_alg) != 0) {
        checksum_mismatch_msg(op->msg, sizeof(op->msg), u->ck_alg, op->hdr_alg);
        return S3E_INVALID_REQUEST;
    }
    size_t hl = checksum_b64_len(op->hdr_value), ol = checksum_b64_len(op->ck_value);
    if (op->hdr_alg[0] != '\0' && (hl != ol || memcmp(op->hdr_value, op->ck_value, ol) != 0)) {
        snprintf(op->msg, sizeof(op->msg), "The %s you specified did not match the calculated checksum.", u->ck_alg);
        return S3E_BAD_DIGEST;
    }
    snprintf(op->ck_alg, sizeof(op->ck_alg), "%s", u->ck_alg);
    snprintf(op->ck_type, sizeof(op->ck_type), "%s", u->ck_type);
    return S3E_OK;
}

static void complete_free(struct gw_req *r)
{
    struct complete_op *op = r->op;
    free(op->cond);
    free(op->parts);
    free(op);
    r->op = NULL;
}

static enum s3_err complete_run(struct store *st, struct gw_req *r, void *arg)
{
    struct complete_op *op = arg;
    struct store_upload u;
    struct store_part *stored = NULL;
    size_t ns = 0;
    int truncated = 0;
    int *numbers = NULL;
    int64_t *sizes = NULL;
    size_t *idx = NULL;
    const char **pvals = NULL;
    char(*md5s)[33] = NULL;
    struct store_object obj;
    memset(&obj, 0, sizeof(obj));
    enum s3_err err = S3E_OK;
    enum store_status s = upload_of(st, r, &u);
    if (s == STORE_NOT_FOUND) {
        /* A retry of a completion whose answer was lost: S3 answers it as
         * the first while the object the upload produced is still there. */
        const char *id = s3_route_param(&r->route, "uploadId");
        s = store_upload_completed(st, id ? id : "", r->route.bucket, r->route.key, now_ms(), op->etag);
        return s == STORE_OK ? S3E_OK : upload_err(s);
    }
    if (s != STORE_OK)
        return upload_err(s);
    s = store_part_list(st, u.id, 0, S3_MAX_PARTS, &stored, &ns, &truncated);
    if (s != STORE_OK) {
        err = gw_store_err(s);
        goto out;
    }
    numbers = xcalloc(op->n, sizeof(*numbers));
    sizes = xcalloc(op->n, sizeof(*sizes));
    idx = xcalloc(op->n, sizeof(*idx));
    pvals = xcalloc(op->n, sizeof(*pvals));
    md5s = xcalloc(op->n, sizeof(*md5s));
    int64_t total = 0;
    size_t k = 0;
    /* Order first, as S3: a misordered list is InvalidPartOrder whatever its parts. */
    for (size_t i = 1; i < op->n; i++) {
        if (op->parts[i].part_number <= op->parts[i - 1].part_number) {
            err = S3E_INVALID_PART_ORDER;
            goto out;
        }
    }
    for (size_t i = 0; i < op->n; i++) {
        while (k < ns && stored[k].part_number < op->parts[i].part_number)
            k++;
        if (k == ns || stored[k].part_number != op->parts[i].part_number ||
            strcmp(stored[k].etag, op->parts[i].etag) != 0) {
            err = S3E_INVALID_PART;
            goto out;
        }
        if (i + 1 < op->n && stored[k].size < MIN_PART_SIZE) {
            err = S3E_ENTITY_TOO_SMALL;
            goto out;
        }
        numbers[i] = stored[k].part_number;
        sizes[i] = stored[k].size;
        idx[i] = k;
        pvals[i] = stored[k].ck_alg[0] ? stored[k].ck_value : NULL;
        memcpy(md5s[i], stored[k].etag, 32);
        md5s[i][32] = '\0';
        total += stored[k].size;
    }
    err = complete_checksums(op, &u, stored, idx, sizes);
    if (err != S3E_OK) {
        if (op->msg[0] != '\0') { /* answered with its message by complete_done */
            op->err = err;
            err = S3E_OK;
        }
        goto out;
    }
    s3_etag_multipart((const char(*)[33])md5s, op->n, op->etag);
    snprintf(obj.bucket, sizeof(obj.bucket), "%s", u.bucket);
    obj.key = u.key;
    obj.bucket_id = r->bucket_id;
    obj.size = total;
    snprintf(obj.etag, sizeof(obj.etag), "%s", op->etag);
    obj.mtime_ms = now_ms();
    char *acl = NULL, *meta = gw_meta_take_acl(u.meta_json, &acl);
    err = gw_lock_for_complete(st, u.bucket, obj.mtime_ms, &meta, &obj); /* asked at create, or the default */
    obj.meta_json = gw_meta_set_parts(meta, sizes, op->n);
    obj.acl = acl;
    free(meta);
    if (op->ck_alg[0] != '\0' || !gw_parts_contiguous(numbers, op->n)) {
        char *m = gw_meta_set_part_checksums(obj.meta_json, numbers, op->ck_alg[0] ? pvals : NULL, op->n,
                                             op->ck_alg[0] ? op->ck_alg : NULL, op->ck_type, op->ck_value);
        free(obj.meta_json);
        obj.meta_json = m;
    }
    /* A conditional write is decided in the transaction that completes the upload. */
    s = err == S3E_OK ? store_tx_begin(st) : STORE_OK;
    if (s == STORE_OK && err == S3E_OK) {
        err = gw_write_conditions(st, op->cond, obj.bucket, obj.key);
        if (err == S3E_OK)
            s = store_upload_complete(st, u.id, numbers, op->n, &obj);
        if (err == S3E_OK && s == STORE_OK)
            s = store_tx_commit(st);
        else
            store_tx_rollback(st);
    }
    if (err == S3E_OK && s == STORE_OK)
        snprintf(op->version_id, sizeof op->version_id, "%s", obj.version_id);
    free(obj.meta_json);
    free(acl);
    if (err == S3E_OK && s != STORE_OK)
        err = s == STORE_CONFLICT ? S3E_INVALID_PART : upload_err(s);
out:
    free(numbers);
    free(sizes);
    free(idx);
    free(pvals);
    free(md5s);
    store_parts_free(stored, ns);
    store_upload_release(&u);
    return err;
}

static void complete_done(struct gw_req *r, void *arg)
{
    struct complete_op *op = arg;
    struct dbuf out;
    struct s3_xml x;
    char etag[96], loc[2048];
    if (op->err != S3E_OK) {
        gw_respond_error(r, op->err, op->msg);
        return;
    }
    snprintf(etag, sizeof(etag), "\"%s\"", op->etag);
    snprintf(loc, sizeof(loc), "/%s/%s", r->route.bucket, r->route.key);
    gw_version_headers(r, op->version_id, 0);
    dbuf_init(&out, 64 * 1024);
    s3_xml_begin(&x, &out, "CompleteMultipartUploadResult");
    s3_xml_elem(&x, "Location", loc);
    s3_xml_elem(&x, "Bucket", r->route.bucket);
    s3_xml_elem(&x, "Key", r->route.key);
    s3_xml_elem(&x, "ETag", etag);
    if (op->ck_alg[0] != '\0') {
        s3_xml_elem(&x, s3_checksum_xml_name(op->ck_alg), op->ck_value);
        s3_xml_elem(&x, "ChecksumType", op->ck_type);
    }
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "CompleteMultipartUploadResult") != 0);
}

/* x-amz-checksum-type and x-amz-checksum-<alg> of CompleteMultipartUpload
 * into op; answers the error and returns 0 when malformed. */
static int complete_checksum_headers(struct gw_req *r, struct complete_op *op)
{
    static const char *const algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    size_t len;
    const char *t = gw_req_header(r, "x-amz-checksum-type", &len);
    if (t != NULL) {
        if (len == 9 && strncasecmp(t, "COMPOSITE", 9) == 0)
            snprintf(op->hdr_type, sizeof(op->hdr_type), "COMPOSITE");
        else if (len == 11 && strncasecmp(t, "FULL_OBJECT", 11) == 0)
            snprintf(op->hdr_type, sizeof(op->hdr_type), "FULL_OBJECT");
        else {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "Value for x-amz-checksum-type header is invalid.");
            return 0;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", algs[i]);
        const char *v = gw_req_header(r, name, &len);
        if (v == NULL)
            continue;
        if (op->hdr_alg[0] != '\0' || len == 0 || len >= sizeof(op->hdr_value)) {
            gw_respond_error(r, S3E_INVALID_REQUEST, NULL);
            return 0;
        }
        snprintf(op->hdr_alg, sizeof(op->hdr_alg), "%s", algs[i]);
        memcpy(op->hdr_value, v, len);
        op->hdr_value[len] = '\0';
    }
    return 1;
}

void gw_op_complete_multipart(struct gw_req *r)
{
    const char *body;
    size_t len;
    struct complete_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = complete_free;
    enum s3_err e = gw_small_body(r, &body, &len);
    if (e == S3E_OK)
        e = s3_xml_parse_complete(body, len, &op->parts, &op->n);
    if (e == S3E_OK && op->n == 0)
        e = S3E_MALFORMED_XML;
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    if (!complete_checksum_headers(r, op))
        return;
    op->cond = gw_write_conditions_snapshot(r);
    gw_req_store_call(r, complete_run, complete_done, op, NULL);
}

/* ---- AbortMultipartUpload ---------------------------------------------------------- */

static enum s3_err abort_run(struct store *st, struct gw_req *r, void *op)
{
    struct store_upload u;
    (void)op;
    enum store_status s = upload_of(st, r, &u);
    if (s == STORE_OK) {
        s = store_upload_abort(st, u.id);
        store_upload_release(&u);
    }
    return upload_err(s);
}

void gw_op_abort_multipart(struct gw_req *r)
{
    gw_req_store_call(r, abort_run, gw_answer_204, NULL, NULL);
}

/* ---- ListParts ----------------------------------------------------------------------- */

struct lparts_op {
    int marker, max, truncated;
    struct store_part *parts;
    size_t n;
    char ck_alg[16], ck_type[16]; /* the upload's */
};

static void lparts_free(struct gw_req *r)
{
    struct lparts_op *op = r->op;
    store_parts_free(op->parts, op->n);
    free(op);
    r->op = NULL;
}

static enum s3_err lparts_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lparts_op *op = arg;
    struct store_upload u;
    enum store_status s = upload_of(st, r, &u);
    if (s == STORE_OK) {
        s = store_part_list(st, u.id, op->marker, (size_t)op->max, &op->parts, &op->n, &op->truncated);
        snprintf(op->ck_alg, sizeof(op->ck_alg), "%s", u.ck_alg);
        snprintf(op->ck_type, sizeof(op->ck_type), "%s", u.ck_type);
        store_upload_release(&u);
    }
    return upload_err(s);
}

static void lparts_done(struct gw_req *r, void *arg)
{
    struct lparts_op *op = arg;
    struct dbuf out;
    struct s3_xml x;
    const char *owner = gw_req_user(r);
    dbuf_init(&out, XML_MAX);
    s3_xml_begin(&x, &out, "ListPartsResult");
    s3_xml_elem(&x, "Bucket", r->route.bucket);
    s3_xml_elem(&x, "Key", r->route.key);
    s3_xml_elem(&x, "UploadId", s3_route_param(&r->route, "uploadId"));
    initiator_and_owner(&x, owner);
    s3_xml_elem(&x, "StorageClass", "STANDARD");
    s3_xml_elem_i64(&x, "PartNumberMarker", op->marker);
    if (op->n > 0)
        s3_xml_elem_i64(&x, "NextPartNumberMarker", op->parts[op->n - 1].part_number);
    s3_xml_elem_i64(&x, "MaxParts", op->max);
    s3_xml_elem(&x, "IsTruncated", op->truncated ? "true" : "false");
    for (size_t i = 0; i < op->n; i++) {
        char t[32], etag[64];
        s3_time_iso(op->parts[i].mtime_ms, t);
        snprintf(etag, sizeof(etag), "\"%s\"", op->parts[i].etag);
        s3_xml_open(&x, "Part");
        s3_xml_elem_i64(&x, "PartNumber", op->parts[i].part_number);
        s3_xml_elem(&x, "LastModified", t);
        s3_xml_elem(&x, "ETag", etag);
        s3_xml_elem_i64(&x, "Size", op->parts[i].size);
        if (op->parts[i].ck_alg[0] != '\0')
            s3_xml_elem(&x, s3_checksum_xml_name(op->parts[i].ck_alg), op->parts[i].ck_value);
        s3_xml_close(&x, "Part");
    }
    if (op->ck_alg[0] != '\0') {
        s3_xml_elem(&x, "ChecksumAlgorithm", s3_checksum_alg_upper(op->ck_alg));
        s3_xml_elem(&x, "ChecksumType", op->ck_type);
    }
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "ListPartsResult") != 0);
}

static int int_param(struct gw_req *r, const char *name, int def, int min, int max, int *out)
{
    const char *v = s3_route_param(&r->route, name);
    if (v == NULL || *v == '\0') {
        *out = def;
        return 0;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < min)
        return -1;
    *out = n > max ? max : (int)n;
    return 0;
}

void gw_op_list_parts(struct gw_req *r)
{
    struct lparts_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = lparts_free;
    if (int_param(r, "part-number-marker", 0, 0, S3_MAX_PARTS, &op->marker) != 0 ||
        int_param(r, "max-parts", 1000, 0, 1000, &op->max) != 0) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, NULL);
        return;
    }
    gw_req_store_call(r, lparts_run, lparts_done, op, NULL);
}

/* ---- ListMultipartUploads -------------------------------------------------------------- */

struct lup_op {
    int max, truncated;
    struct store_upload *ups;
    size_t n;
};

static void lup_free(struct gw_req *r)
{
    struct lup_op *op = r->op;
    for (size_t i = 0; i < op->n; i++)
        store_upload_release(&op->ups[i]);
    free(op->ups);
    free(op);
    r->op = NULL;
}

static enum s3_err lup_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lup_op *op = arg;
    if (gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_BUCKET;
    const char *p = s3_route_param(&r->route, "prefix"), *km = s3_route_param(&r->route, "key-marker"),
               *im = s3_route_param(&r->route, "upload-id-marker");
    return gw_store_err(store_upload_list(st, r->route.bucket, p ? p : "", km ? km : "", im ? im : "",
                                          (size_t)op->max, &op->ups, &op->n, &op->truncated));
}

static void lup_done(struct gw_req *r, void *arg)
{
    struct lup_op *op = arg;
    struct dbuf out;
    struct s3_xml x;
    const char *owner = gw_req_user(r);
    const char *p = s3_route_param(&r->route, "prefix"), *km = s3_route_param(&r->route, "key-marker"),
               *im = s3_route_param(&r->route, "upload-id-marker");
    dbuf_init(&out, XML_MAX);
    s3_xml_begin(&x, &out, "ListMultipartUploadsResult");
    s3_xml_elem(&x, "Bucket", r->route.bucket);
    s3_xml_elem(&x, "KeyMarker", km ? km : "");
    s3_xml_elem(&x, "UploadIdMarker", im ? im : "");
    if (op->truncated && op->n > 0) {
        s3_xml_elem(&x, "NextKeyMarker", op->ups[op->n - 1].key);
        s3_xml_elem(&x, "NextUploadIdMarker", op->ups[op->n - 1].id);
    }
    s3_xml_elem(&x, "Prefix", p ? p : "");
    s3_xml_elem_i64(&x, "MaxUploads", op->max);
    s3_xml_elem(&x, "IsTruncated", op->truncated ? "true" : "false");
    for (size_t i = 0; i < op->n; i++) {
        char t[32];
        s3_time_iso(op->ups[i].created_ms, t);
        s3_xml_open(&x, "Upload");
        s3_xml_elem(&x, "Key", op->ups[i].key);
        s3_xml_elem(&x, "UploadId", op->ups[i].id);
        initiator_and_owner(&x, owner);
        s3_xml_elem(&x, "StorageClass", "STANDARD");
        s3_xml_elem(&x, "Initiated", t);
        s3_xml_close(&x, "Upload");
    }
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "ListMultipartUploadsResult") != 0);
}

void gw_op_list_uploads(struct gw_req *r)
{
    struct lup_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = lup_free;
    if (int_param(r, "max-uploads", 1000, 0, 1000, &op->max) != 0) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, NULL);
        return;
    }
    gw_req_store_call(r, lup_run, lup_done, op, NULL);
}

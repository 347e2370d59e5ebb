/* objlock.c — bucket versioning and S3 Object Lock: Get/PutBucketVersioning, Get/PutObjectLockConfiguration,
 * Get/PutObjectRetention, Get/PutObjectLegalHold, and the lock of objects as they are written and read.
 *
 * A bucket's versioning state and its Object Lock (enabled, default
 * retention) are columns of its index row; a version's retention (mode,
 * retain-until in unix ms) and legal hold are columns of the version's row
 * (store/versions.c enforces them on every overwrite and delete). The
 * documents are read and rendered by s3/objlock.c. As in S3:
 *  - Object Lock needs versioning Enabled: PutObjectLockConfiguration on any
 *    other bucket, and suspending versioning on a lock bucket, are 409
 *    InvalidBucketState;
 *  - PutObjectLockConfiguration, PutObjectRetention and PutObjectLegalHold
 *    need Content-MD5 or an x-amz-checksum-* (verified against the body);
 *  - retention and legal-hold calls on a bucket without Object Lock are 400
 *    InvalidRequest "Bucket is missing Object Lock Configuration";
 *  - x-amz-bypass-governance-retention: true counts only for the bucket's
 *    owner (the one who may grant s3:BypassGovernanceRetention; this gateway
 *    has no bucket policies), for anyone else it is ignored.
 * Who may call these operations at all is decided before (http/acl.c: the
 * bucket's owner). Times are now_ms(), the gateway's clock with
 * --clock-offset. Loop thread, except the *_run store jobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

#define DOC_MAX 4096 /* bytes of any document answered here */
#define DAY_MS 86400000LL

/* ---- request checks shared with the writes -------------------------------------------- */

static const char *const checksum_algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};

int gw_lock_integrity_given(struct gw_req *r)
{
    size_t len;
    if (gw_req_header(r, "content-md5", &len) != NULL || gw_req_header(r, "x-amz-sdk-checksum-algorithm", &len))
        return 1;
    const char *t = gw_req_header(r, "x-amz-trailer", &len);
    if (t != NULL && len >= 15 && strncasecmp(t, "x-amz-checksum-", 15) == 0)
        return 1;
    for (size_t i = 0; i < ARRAY_SIZE(checksum_algs); i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", checksum_algs[i]);
        if (gw_req_header(r, name, &len) != NULL)
            return 1;
    }
    return 0;
}

int gw_lock_bypass_asked(struct gw_req *r)
{
    size_t len;
    const char *v = gw_req_header(r, "x-amz-bypass-governance-retention", &len);
    return v != NULL && len == 4 && strncasecmp(v, "true", 4) == 0;
}

int gw_lock_bypass(struct gw_req *r, const struct store_bucket *b, int asked)
{
    const char *who = gw_req_user(r);
    if (!asked || !r->has_auth)
        return 0;
    return r->gw->cfg.n_users <= 1 || strcmp(who, b->owner) == 0; /* a single user owns every bucket */
}

enum s3_err gw_lock_apply(const struct s3_lock_headers *h, const struct store_bucket *b, int64_t now,
                          struct store_object *obj)
{
    obj->lock_mode[0] = '\0';
    obj->lock_until_ms = 0;
    obj->legal_hold = 0;
    if (s3_lock_headers_given(h) && !b->lock_enabled)
        return S3E_MISSING_LOCK_CONFIG;
    if (h->retention) {
        snprintf(obj->lock_mode, sizeof(obj->lock_mode), "%s", s3_lock_mode_name(h->mode));
        obj->lock_until_ms = h->until_ms;
    } else if (b->lock_enabled && b->lock_mode[0] != '\0') {
        int64_t days = b->lock_years > 0 ? (int64_t)b->lock_years * 365 : b->lock_days;
        snprintf(obj->lock_mode, sizeof(obj->lock_mode), "%s", b->lock_mode);
        obj->lock_until_ms = now + days * DAY_MS;
    }
    obj->legal_hold = h->legal_hold == 1;
    return S3E_OK;
}

enum s3_err gw_lock_for_put_msg(struct gw_req *r, const struct store_bucket *b, int64_t now, struct store_object *obj,
                                char *msg, size_t msgsz)
{
    struct s3_lock_headers h;
    enum s3_err e = s3_lock_headers_parse(&r->s3, now, &h, msg, msgsz);
    if (e != S3E_OK)
        return e;
    if (s3_lock_headers_given(&h) && b->lock_enabled && !gw_lock_integrity_given(r)) {
        snprintf(msg, msgsz, "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests "
                             "with Object Lock parameters");
        return S3E_MISSING_CONTENT_MD5;
    }
    return gw_lock_apply(&h, b, now, obj);
}

enum s3_err gw_lock_for_put(struct gw_req *r, const struct store_bucket *b, int64_t now, struct store_object *obj)
{
    char msg[160];
    return gw_lock_for_put_msg(r, b, now, obj, msg, sizeof(msg));
}

void gw_lock_headers(struct gw_req *r, const struct store_object *obj)
{
    if (obj->lock_mode[0] != '\0') {
        char t[32];
        s3_time_iso(obj->lock_until_ms, t);
        gw_add_header(r, "x-amz-object-lock-mode", obj->lock_mode, strlen(obj->lock_mode));
        gw_add_header(r, "x-amz-object-lock-retain-until-date", t, strlen(t));
    }
    if (obj->legal_hold)
        gw_add_header(r, "x-amz-object-lock-legal-hold", "ON", 2);
}

/* ---- multipart uploads: the lock asked at CreateMultipartUpload, applied at Complete ------------ */

/* The upload's meta_json carries {"lock": [mode, until_ms, legal_hold]} from its x-amz-object-lock-* headers. */
#define LOCK_KEY "lock"

enum s3_err gw_lock_upload_headers(struct gw_req *r, int64_t now, char **meta_json, char *msg, size_t msgsz)
{
    struct s3_lock_headers h;
    enum s3_err e = s3_lock_headers_parse(&r->s3, now, &h, msg, msgsz);
    if (e != S3E_OK || !s3_lock_headers_given(&h))
        return e;
    json_t *root = *meta_json ? json_loads(*meta_json, 0, NULL) : NULL;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    json_object_set_new(root, LOCK_KEY,
                        json_pack("[sIb]", s3_lock_mode_name(h.retention ? h.mode : S3_LOCK_NONE),
                                  (json_int_t)(h.retention ? h.until_ms : 0), h.legal_hold == 1));
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    free(*meta_json);
    *meta_json = out ? out : xstrdup("{}");
    return S3E_OK;
}

/* Reads and removes the "lock" of meta_json (malloc'd, replaced); 1 when there was one. */
static int take_lock(char **meta_json, struct store_object *obj)
{
    json_t *root = *meta_json ? json_loads(*meta_json, 0, NULL) : NULL;
    json_t *l = root ? json_object_get(root, LOCK_KEY) : NULL;
    const char *mode = NULL;
    json_int_t until = 0;
    int hold = 0;
    if (l == NULL || json_unpack(l, "[sIb]", &mode, &until, &hold) != 0) {
        json_decref(root);
        return 0;
    }
    snprintf(obj->lock_mode, sizeof(obj->lock_mode), "%s", mode);
    obj->lock_until_ms = until;
    obj->legal_hold = hold;
    json_object_del(root, LOCK_KEY);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    free(*meta_json);
    *meta_json = out ? out : xstrdup("{}");
    return 1;
}

enum s3_err gw_lock_upload_check(struct store *st, const char *bucket, const char *meta_json)
{
    struct store_object o;
    char *copy = xstrdup(meta_json ? meta_json : "{}");
    int asked = take_lock(&copy, &o);
    free(copy);
    if (!asked)
        return S3E_OK;
    struct store_bucket b;
    enum store_status s = store_bucket_get(st, bucket, &b);
    if (s != STORE_OK)
        return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
    return b.lock_enabled ? S3E_OK : S3E_MISSING_LOCK_CONFIG;
}

enum s3_err gw_lock_for_complete(struct store *st, const char *bucket, int64_t now, char **meta_json,
                                 struct store_object *obj)
{
    struct store_bucket b;
    struct s3_lock_headers h = {.legal_hold = -1};
    if (take_lock(meta_json, obj)) { /* as the headers of the upload's creation were */
        int m = s3_lock_mode_parse(obj->lock_mode, strlen(obj->lock_mode));
        h.retention = m > 0;
        h.mode = m > 0 ? (enum s3_lock_mode)m : S3_LOCK_NONE;
        h.until_ms = obj->lock_until_ms;
        h.legal_hold = obj->legal_hold ? 1 : 0;
    }
    enum store_status s = store_bucket_get(st, bucket, &b);
    if (s != STORE_OK)
        return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
    return gw_lock_apply(&h, &b, now, obj);
}

int gw_lock_create_asked(struct gw_req *r)
{
    size_t len;
    const char *v = gw_req_header(r, "x-amz-bucket-object-lock-enabled", &len);
    return v != NULL && len == 4 && strncasecmp(v, "true", 4) == 0;
}

enum s3_err gw_lock_bucket_create(struct store *st, const char *bucket)
{
    enum store_status s = store_bucket_versioning_set(st, bucket, STORE_VERSIONING_ENABLED);
    if (s == STORE_OK)
        s = store_bucket_lock_set(st, bucket, "", 0, 0);
    return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
}

/* ---- the operations' state ---------------------------------------------------------------- */

struct lock_op {
    int versioning;                 /* PutBucketVersioning: 1 Enabled, 2 Suspended */
    struct s3_lock_config cfg;      /* PutObjectLockConfiguration */
    struct s3_retention ret;        /* PutObjectRetention; GetObjectRetention's answer */
    int hold;                       /* PutObjectLegalHold; GetObjectLegalHold's answer */
    int bypass_asked;               /* x-amz-bypass-governance-retention: true */
    int has_version;                /* ?versionId= */
    char version[STORE_VERSION_LEN];
    struct store_bucket b;          /* read by every job */
    enum s3_err err;                /* an answer with a message: err and msg, answered by done */
    const char *msg;
};

static void op_free(struct gw_req *r)
{
    free(r->op);
    r->op = NULL;
}

static struct lock_op *op_new(struct gw_req *r)
{
    struct lock_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = op_free;
    return op;
}

/* A small body as S3 wants it for these: checked against x-amz-content-sha256 and Content-MD5
 * (gw_small_body), against an x-amz-checksum-* too, and, with need_integrity, refused without one of them. */
static enum s3_err body_of(struct gw_req *r, int need_integrity, const char **body, size_t *len)
{
    if (need_integrity && !gw_lock_integrity_given(r))
        return S3E_MISSING_CONTENT_MD5;
    enum s3_err e = gw_small_body(r, body, len);
    for (size_t i = 0; i < ARRAY_SIZE(checksum_algs) && e == S3E_OK; i++) {
        char name[32];
        size_t vl;
        snprintf(name, sizeof(name), "x-amz-checksum-%s", checksum_algs[i]);
        const char *v = gw_req_header(r, name, &vl);
        if (v != NULL)
            e = s3_checksum_check(checksum_algs[i], strlen(checksum_algs[i]), v, vl, *body, *len);
    }
    return e;
}

/* ?versionId: absent (latest), else a version id of the store's form. 0 after answering a bad one. */
static int version_param(struct gw_req *r, struct lock_op *op)
{
    const char *v = s3_route_param(&r->route, "versionId");
    if (v == NULL)
        return 1;
    size_t n = strlen(v);
    if (n == 0) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "Version id cannot be the empty string");
        return 0;
    }
    if (n >= sizeof(op->version)) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "Invalid version id specified");
        return 0;
    }
    memcpy(op->version, v, n + 1);
    op->has_version = 1;
    return 1;
}

static const char *version_of(const struct lock_op *op)
{
    return op->has_version ? op->version : NULL;
}

/* Store thread: the request's bucket into op->b; NoSuchBucket. */
static enum s3_err bucket_read(struct store *st, struct gw_req *r, struct lock_op *op)
{
    return gw_store_err_or(store_bucket_get(st, r->route.bucket, &op->b), S3E_NO_SUCH_BUCKET);
}

/* Store thread: a version that is not there. */
static enum s3_err no_version(struct store *st, struct gw_req *r, const struct lock_op *op)
{
    if (op->has_version)
        return gw_bucket_missing(st, r->route.bucket) ? S3E_NO_SUCH_BUCKET : S3E_NO_SUCH_VERSION;
    return gw_no_such_object(st, r->route.bucket);
}

static void answer(struct gw_req *r, struct lock_op *op, int (*render)(struct lock_op *op, struct dbuf *out))
{
    if (op->err != S3E_OK) {
        gw_respond_error(r, op->err, op->msg);
        return;
    }
    if (render == NULL) {
        gw_respond_empty(r, 200);
        return;
    }
    struct dbuf out;
    dbuf_init(&out, DOC_MAX);
    int failed = render(op, &out) != 0;
    gw_respond_xml_buf(r, &out, failed);
}

static void done_empty(struct gw_req *r, void *arg)
{
    answer(r, arg, NULL);
}

/* ---- Get/PutBucketVersioning ------------------------------------------------------------- */

static int render_versioning(struct lock_op *op, struct dbuf *out)
{
    return s3_versioning_render(op->b.versioning, out);
}

static enum s3_err get_versioning_run(struct store *st, struct gw_req *r, void *arg)
{
    return bucket_read(st, r, arg);
}

static void get_versioning_done(struct gw_req *r, void *arg)
{
    answer(r, arg, render_versioning);
}

void gw_op_get_bucket_versioning(struct gw_req *r)
{
    gw_req_store_call(r, get_versioning_run, get_versioning_done, op_new(r), NULL);
}

static enum s3_err put_versioning_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lock_op *op = arg;
    enum s3_err e = bucket_read(st, r, op);
    if (e != S3E_OK)
        return e;
    enum store_status s = store_bucket_versioning_set(st, r->route.bucket, op->versioning);
    if (s == STORE_CONFLICT) {
        op->err = S3E_INVALID_BUCKET_STATE;
        op->msg = "An Object Lock configuration is present on this bucket, so the versioning state cannot be "
                  "changed.";
        return S3E_OK;
    }
    return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
}

void gw_op_put_bucket_versioning(struct gw_req *r)
{
    struct lock_op *op = op_new(r);
    const char *body;
    size_t len;
    int mfa = 0;
    enum s3_err e = body_of(r, 0, &body, &len);
    if (e == S3E_OK)
        e = s3_versioning_parse(body, len, &op->versioning, &mfa);
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    if (mfa) {
        /* MFA Delete needs the root account's MFA device (x-amz-mfa): none exists here. */
        size_t ml;
        if (gw_req_header(r, "x-amz-mfa", &ml) == NULL)
            gw_respond_error(r, S3E_ACCESS_DENIED, "Mfa Authentication must be used for this request");
        else
            gw_respond_error(r, S3E_NOT_IMPLEMENTED, "MFA Delete is not supported by this gateway");
        return;
    }
    gw_req_store_call(r, put_versioning_run, done_empty, op, NULL);
}

/* ---- Get/PutObjectLockConfiguration --------------------------------------------------------- */

static int render_lock_config(struct lock_op *op, struct dbuf *out)
{
    struct s3_lock_config c = {0};
    int m = s3_lock_mode_parse(op->b.lock_mode, strlen(op->b.lock_mode));
    if (m > 0 && (op->b.lock_days > 0 || op->b.lock_years > 0)) {
        c.mode = (enum s3_lock_mode)m;
        c.days = op->b.lock_days;
        c.years = op->b.lock_years;
    }
    return s3_lock_config_render(&c, out);
}

static enum s3_err get_lock_config_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lock_op *op = arg;
    enum s3_err e = bucket_read(st, r, op);
    if (e == S3E_OK && !op->b.lock_enabled)
        e = S3E_NO_SUCH_OBJECT_LOCK_CONFIGURATION;
    return e;
}

static void get_lock_config_done(struct gw_req *r, void *arg)
{
    answer(r, arg, render_lock_config);
}

void gw_op_get_object_lock_configuration(struct gw_req *r)
{
    gw_req_store_call(r, get_lock_config_run, get_lock_config_done, op_new(r), NULL);
}

static enum s3_err put_lock_config_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lock_op *op = arg;
    enum s3_err e = bucket_read(st, r, op);
    if (e != S3E_OK)
        return e;
    enum store_status s = store_bucket_lock_set(st, r->route.bucket, s3_lock_mode_name(op->cfg.mode), op->cfg.days,
                                                op->cfg.years);
    if (s == STORE_CONFLICT) {
        op->err = S3E_INVALID_BUCKET_STATE;
        op->msg = "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration";
        return S3E_OK;
    }
    return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
}

void gw_op_put_object_lock_configuration(struct gw_req *r)
{
    struct lock_op *op = op_new(r);
    const char *body;
    size_t len;
    char msg[128] = "";
    enum s3_err e = body_of(r, 1, &body, &len);
    if (e == S3E_OK)
        e = s3_lock_config_parse(body, len, &op->cfg, msg, sizeof(msg));
    if (e != S3E_OK) {
        gw_respond_error(r, e, msg[0] != '\0' ? msg : NULL);
        return;
    }
    gw_req_store_call(r, put_lock_config_run, done_empty, op, NULL);
}

/* ---- Get/PutObjectRetention, Get/PutObjectLegalHold ----------------------------------------- */

/* Store thread: the bucket, which must have Object Lock. */
static enum s3_err lock_bucket(struct store *st, struct gw_req *r, struct lock_op *op)
{
    enum s3_err e = bucket_read(st, r, op);
    if (e == S3E_OK && !op->b.lock_enabled)
        e = S3E_MISSING_LOCK_CONFIG;
    return e;
}

/* Store thread: a version's lock, for the Get operations. */
static enum s3_err version_lock_read(struct store *st, struct gw_req *r, struct lock_op *op)
{
    struct store_object *o = NULL;
    enum s3_err e = lock_bucket(st, r, op);
    if (e != S3E_OK)
        return e;
    enum store_status s = store_object_head_v(st, r->route.bucket, r->route.key, version_of(op), &o);
    if (s == STORE_NOT_FOUND) {
        e = no_version(st, r, op);
    } else if (s != STORE_OK) {
        e = gw_store_err(s);
    } else if (o->delete_marker) {
        /* S3: a delete marker named by its version is 405; the latest being one is "no such key". */
        e = op->has_version ? S3E_METHOD_NOT_ALLOWED : S3E_NO_SUCH_KEY;
    } else {
        int m = s3_lock_mode_parse(o->lock_mode, strlen(o->lock_mode));
        op->ret.mode = m > 0 ? (enum s3_lock_mode)m : S3_LOCK_NONE;
        op->ret.until_ms = o->lock_until_ms;
        op->hold = o->legal_hold;
    }
    store_object_free(o);
    return e;
}

static enum s3_err get_retention_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lock_op *op = arg;
    enum s3_err e = version_lock_read(st, r, op);
    if (e == S3E_OK && op->ret.mode == S3_LOCK_NONE)
        e = S3E_NO_SUCH_OBJECT_LOCK;
    return e;
}

static int render_retention(struct lock_op *op, struct dbuf *out)
{
    return s3_retention_render(&op->ret, out);
}

static void get_retention_done(struct gw_req *r, void *arg)
{
    answer(r, arg, render_retention);
}

void gw_op_get_object_retention(struct gw_req *r)
{
    struct lock_op *op = op_new(r);
    if (version_param(r, op))
        gw_req_store_call(r, get_retention_run, get_retention_done, op, NULL);
}

static enum s3_err put_retention_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lock_op *op = arg;
    enum s3_err e = lock_bucket(st, r, op);
    if (e != S3E_OK)
        return e;
    enum store_status s = store_object_retention_set(st, r->route.bucket, r->route.key, version_of(op),
                                                     s3_lock_mode_name(op->ret.mode), op->ret.until_ms,
                                                     gw_lock_bypass(r, &op->b, op->bypass_asked), now_ms(), NULL);
    if (s == STORE_NOT_FOUND)
        return no_version(st, r, op);
    if (s == STORE_LOCKED)
        return S3E_ACCESS_DENIED;
    return gw_store_err(s);
}

void gw_op_put_object_retention(struct gw_req *r)
{
    struct lock_op *op = op_new(r);
    const char *body;
    size_t len;
    char msg[128] = "";
    if (!version_param(r, op))
        return;
    enum s3_err e = body_of(r, 1, &body, &len);
    if (e == S3E_OK)
        e = s3_retention_parse(body, len, now_ms(), &op->ret, msg, sizeof(msg));
    if (e != S3E_OK) {
        gw_respond_error(r, e, msg[0] != '\0' ? msg : NULL);
        return;
    }
    op->bypass_asked = gw_lock_bypass_asked(r);
    gw_req_store_call(r, put_retention_run, done_empty, op, NULL);
}

static enum s3_err get_legal_hold_run(struct store *st, struct gw_req *r, void *arg)
{
    return version_lock_read(st, r, arg);
}

static int render_legal_hold(struct lock_op *op, struct dbuf *out)
{
    return s3_legal_hold_render(op->hold, out);
}

static void get_legal_hold_done(struct gw_req *r, void *arg)
{
    answer(r, arg, render_legal_hold);
}

void gw_op_get_object_legal_hold(struct gw_req *r)
{
    struct lock_op *op = op_new(r);
    if (version_param(r, op))
        gw_req_store_call(r, get_legal_hold_run, get_legal_hold_done, op, NULL);
}

static enum s3_err put_legal_hold_run(struct store *st, struct gw_req *r, void *arg)
{
    struct lock_op *op = arg;
    enum s3_err e = lock_bucket(st, r, op);
    if (e != S3E_OK)
        return e;
    enum store_status s =
        store_object_legal_hold_set(st, r->route.bucket, r->route.key, version_of(op), op->hold, NULL);
    if (s == STORE_NOT_FOUND)
        return no_version(st, r, op);
    return gw_store_err(s);
}

void gw_op_put_object_legal_hold(struct gw_req *r)
{
    struct lock_op *op = op_new(r);
    const char *body;
    size_t len;
    if (!version_param(r, op))
        return;
    enum s3_err e = body_of(r, 1, &body, &len);
    if (e == S3E_OK)
        e = s3_legal_hold_parse(body, len, &op->hold);
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    gw_req_store_call(r, put_legal_hold_run, done_empty, op, NULL);
}

/* post.c — PostObject: an object uploaded by an HTML form (browser-based upload).
 *
 * POST /bucket with Content-Type multipart/form-data. The request carries no
 * Authorization: its form does, ahead of the file (AWS "Browser-based
 * uploads using POST", PostObject). In order:
 *   1. the form up to the file's first byte is read (http/form.c: at most
 *      20 KB, nothing of the file stored);
 *   2. required fields (key, and the signature fields of the version used)
 *      400 InvalidArgument "Bucket POST must contain a field named 'key'. …";
 *   3. the signature: SigV4 (x-amz-algorithm AWS4-HMAC-SHA256,
 *      x-amz-credential, x-amz-date, x-amz-signature = hex HMAC-SHA256 of the
 *      base64 policy under the credential's signing key) or SigV2
 *      (AWSAccessKeyId, signature = base64 HMAC-SHA1 of it under the secret):
 *      403 InvalidAccessKeyId / SignatureDoesNotMatch; a form with neither is
 *      anonymous (no policy either: AWS's upload to a publicly writable bucket);
 *      x-amz-security-token (temporary credentials) is refused: there is no STS;
 *   4. the policy (s3/policy.c): expiry and every condition, with ${filename}
 *      substituted in the key first (403 AccessDenied "Invalid according to
 *      Policy: …");
 *   5. the bucket (exists) and its ACL, exactly as for PutObject (http/access.c):
 *      WRITE on it for the signer (owner, or a grant to them, AuthenticatedUsers
 *      or AllUsers), for anonymous a grant to AllUsers; 403 AccessDenied;
 *   6. the file: stored like a PutObject body (the engine, http/form.c's
 *      source for a large one), content-length-range applied as it arrives
 *      (400 EntityTooLarge / EntityTooSmall), then committed in one
 *      transaction with the metadata the form gave (Content-Type,
 *      Cache-Control, Content-Disposition, Content-Encoding, Expires,
 *      x-amz-meta-*, tagging);
 *   7. the answer: success_action_redirect (or redirect) → 303 to it with
 *      bucket, key and etag; else success_action_status 200, 201 (a
 *      <PostResponse>) or 204 (the default, and for any other value).
 * The acl field is PutObject's x-amz-acl: checked as it is (400 InvalidArgument
 * "Invalid canned ACL"), refused when public and the bucket's public access
 * block has BlockPublicAcls (403 AccessDenied), stored as the new object's ACL
 * (ops/acl.c gw_acl_object_for_write).
 * x-amz-checksum-* and Content-MD5 fields are verified like PutObject's
 * headers: on the whole file in memory, or block by block as it streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/gw.h"
#include "gateway/http/acl.h"
#include "gateway/ops/ops.h"

#define MAX_POLICY S3_FORM_MAX_PRE

struct post_op {
    struct gw_form *form;
    struct gw_put *put;
    struct store_object obj;
    enum store_status st;
    struct gw_body_check chk;
    char canned_acl[32]; /* the form's acl field; "" when absent */
    struct s3_header acl_hdr; /* it, as the x-amz-acl header the ACL code reads */
    int success_status;  /* 200, 201 or 204 */
    char *redirect;      /* success_action_redirect (or redirect), or NULL */
    int64_t min_len, max_len; /* content-length-range */
    const char *whole;        /* a file held whole in memory (the form's buffer or h2o's), or NULL */
    size_t whole_len;
};

static void post_free(struct gw_req *r)
{
    struct post_op *op = r->op;
    gw_put_free(op->put);
    gw_form_free(op->form);
    free(op->obj.key);
    free(op->obj.meta_json);
    free(op->obj.extents);
    free((char *)(uintptr_t)op->obj.acl);
    free(op->redirect);
    free(op);
    r->op = NULL;
}

/* ---- the answer ----------------------------------------------------------------- */

static void add_encoded(struct dbuf *out, const char *name, const char *v)
{
    if (dbuf_adds(out, name) != 0 || dbuf_adds(out, "=") != 0)
        return;
    s3_uri_encode(out, v, strlen(v), 1);
}

static void post_answer(struct gw_req *r)
{
    struct post_op *op = r->op;
    char etag[96];
    snprintf(etag, sizeof(etag), "\"%s\"", op->obj.etag);
    gw_add_etag(r, op->obj.etag);
    gw_version_headers(r, op->obj.version_id, 0);
    /* Location: the object's URL as the client addressed the bucket. */
    size_t hl = 0;
    const char *host = gw_req_header(r, "host", &hl);
    struct dbuf loc;
    dbuf_init(&loc, 4 * S3_MAX_KEY_LEN + 512);
    if (dbuf_adds(&loc, "http://") != 0 || (host != NULL && dbuf_add(&loc, host, hl) != 0) ||
        dbuf_adds(&loc, "/") != 0 || dbuf_adds(&loc, op->obj.bucket) != 0 || dbuf_adds(&loc, "/") != 0)
        dbuf_reset(&loc);
    s3_uri_encode(&loc, op->obj.key, strlen(op->obj.key), 0);
    if (op->redirect != NULL) {
        struct dbuf to;
        dbuf_init(&to, strlen(op->redirect) + 4 * S3_MAX_KEY_LEN + 256);
        if (dbuf_adds(&to, op->redirect) == 0 && dbuf_adds(&to, strchr(op->redirect, '?') ? "&" : "?") == 0) {
            add_encoded(&to, "bucket", op->obj.bucket);
            dbuf_adds(&to, "&") == 0 ? add_encoded(&to, "key", op->obj.key) : (void)0;
            dbuf_adds(&to, "&") == 0 ? add_encoded(&to, "etag", etag) : (void)0;
        }
        gw_add_header(r, "location", to.ptr ? to.ptr : "", to.len);
        dbuf_release(&to);
        dbuf_release(&loc);
        gw_respond_empty(r, 303);
        return;
    }
    if (loc.len > 0)
        gw_add_header(r, "location", loc.ptr, loc.len);
    if (op->success_status == 201) {
        struct dbuf out;
        struct s3_xml x;
        dbuf_init(&out, 4 * S3_MAX_KEY_LEN + 1024);
        s3_xml_begin(&x, &out, "PostResponse");
        s3_xml_elemn(&x, "Location", loc.ptr ? loc.ptr : "", loc.len);
        s3_xml_elem(&x, "Bucket", op->obj.bucket);
        s3_xml_elem(&x, "Key", op->obj.key);
        s3_xml_elem(&x, "ETag", etag);
        int failed = s3_xml_end(&x, "PostResponse") != 0;
        dbuf_release(&loc);
        if (failed) {
            dbuf_release(&out);
            gw_respond_error(r, S3E_INTERNAL_ERROR, "response too large");
            return;
        }
        gw_respond_xml(r, 201, out.ptr, out.len);
        dbuf_release(&out);
        return;
    }
    dbuf_release(&loc);
    gw_respond_empty(r, op->success_status);
}

/* ---- the commit (as PutObject's) -------------------------------------------------- */

static enum s3_err commit_run(struct store *st, struct gw_req *r, void *arg)
{
    struct post_op *op = arg;
    struct store_bucket b;
    (void)r;
    op->st = store_tx_begin(st);
    if (op->st != STORE_OK)
        return S3E_OK;
    /* A form takes the bucket's default retention (Object Lock fields are not POST fields). */
    const struct s3_lock_headers none = {.retention = 0, .legal_hold = -1}; /* none given */
    enum store_status found = store_bucket_get(st, op->obj.bucket, &b);
    if (found == STORE_OK && gw_lock_apply(&none, &b, op->obj.mtime_ms, &op->obj) != S3E_OK)
        found = STORE_IO;
    op->st = gw_put_commit_object(op->put, st, &op->obj, found);
    return S3E_OK;
}

static void commit_done(struct gw_req *r, void *arg)
{
    struct post_op *op = arg;
    if (op->st == STORE_NOT_FOUND)
        gw_respond_error(r, S3E_NO_SUCH_BUCKET, NULL);
    else if (op->st != STORE_OK)
        gw_respond_error(r, gw_store_err(op->st), store_status_name(op->st));
    else
        post_answer(r);
}

static void on_stored(struct gw_put *p, enum s3_err err, void *ud)
{
    struct gw_req *r = ud;
    struct post_op *op = r->op;
    if (!gw_req_release(r))
        return;
    if (err != S3E_OK) {
        gw_respond_error(r, err, NULL);
        return;
    }
    gw_put_fill_object(p, &op->obj);
    gw_req_store_call(r, commit_run, commit_done, op, NULL);
}

/* ---- the object's ACL (as PutObject's) ------------------------------------------------ */

/* The form's acl field stands for the request's headers while the ACL code
 * PutObject uses reads them (http/acl.c, ops/acl.c): AWS reads no header of a
 * form upload, and the form has no x-amz-grant-* fields. */
static void acl_headers_on(struct gw_req *r, struct post_op *op, const struct s3_header **saved, size_t *saved_n)
{
    *saved = r->s3.headers;
    *saved_n = r->s3.n_headers;
    op->acl_hdr.name = "x-amz-acl";
    op->acl_hdr.name_len = 9;
    op->acl_hdr.value = op->canned_acl;
    op->acl_hdr.value_len = strlen(op->canned_acl);
    r->s3.headers = &op->acl_hdr;
    r->s3.n_headers = op->canned_acl[0] != '\0' ? 1 : 0;
}

static void acl_headers_off(struct gw_req *r, const struct s3_header *saved, size_t saved_n)
{
    r->s3.headers = saved;
    r->s3.n_headers = saved_n;
}

/* ---- the file ------------------------------------------------------------------------ */

/* A file held whole in memory: the rest of the body is read first, then it is stored. */
static void on_whole_drained(void *ud)
{
    struct gw_req *r = ud;
    struct post_op *op = r->op;
    if (!gw_req_release(r))
        return;
    op->chk.may_pack = 1;
    gw_req_hold(r);
    op->put = gw_put_start(r->gw, &r->auth, &op->chk, (char *)(uintptr_t)op->whole, op->whole_len, r->id, on_stored, r);
}

static void post_store(struct gw_req *r)
{
    struct post_op *op = r->op;
    op->obj.bucket_id = r->bucket_id;
    /* The object's owner and ACL, as PutObject's x-amz-acl sets them (the bucket's owner is known now). */
    const struct s3_header *saved;
    size_t saved_n;
    acl_headers_on(r, op, &saved, &saved_n);
    op->obj.acl = gw_acl_object_for_write(r);
    acl_headers_off(r, saved, saved_n);
    const char *data;
    size_t len;
    enum s3_err e;
    if (gw_form_file_whole(op->form, &data, &len, &e)) {
        if (e != S3E_OK) {
            gw_respond_error(r, e, NULL);
            return;
        }
        op->whole = data;
        op->whole_len = len;
        gw_req_hold(r);
        gw_form_drain(op->form, on_whole_drained, r);
        return;
    }
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    uint64_t bound = gw_form_file_bound_set(op->form);
    if (bound == 0) {
        gw_respond_error(r, (uint64_t)op->min_len > 0 ? S3E_ENTITY_TOO_SMALL : S3E_MALFORMED_POST_REQUEST, NULL);
        return;
    }
    if (bound > (uint64_t)r->gw->cfg.max_body) {
        /* The body may hold more than the largest object: refused once the file proves it is. */
        gw_form_set_range(op->form, (uint64_t)op->min_len,
                          (uint64_t)op->max_len < (uint64_t)r->gw->cfg.max_body ? (uint64_t)op->max_len
                                                                                 : (uint64_t)r->gw->cfg.max_body);
        bound = gw_form_file_bound_set(op->form);
    }
    enum s3_err err = S3E_OK;
    gw_req_hold(r);
    op->put = gw_put_start_source(r->gw, &op->chk, &gw_form_source, op->form, bound, r->id, on_stored, r, &err);
    if (op->put == NULL && gw_req_release(r))
        gw_respond_error(r, err, NULL);
}

static enum s3_err bucket_check(struct store *st, struct gw_req *r, enum store_status found,
                                const struct store_bucket *b)
{
    if (found != STORE_OK)
        return gw_store_err_or(found, S3E_NO_SUCH_BUCKET);
    /* As PutObject: WRITE on the bucket by its ACL, and a public acl field against its public access block. */
    return gw_access_acl_check(st, r, found, b);
}

/* ---- the fields ------------------------------------------------------------------------- */

static const char *field(const struct s3_form_head *h, const char *name, size_t *len)
{
    const struct s3_form_field *f = s3_form_get(h, name);
    if (f == NULL)
        return NULL;
    *len = f->value_len;
    return f->value;
}

/* 400 InvalidArgument as AWS words a missing field. */
static void missing(struct gw_req *r, const char *name)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "Bucket POST must contain a field named '%s'.  If it is specified, please check the order of the fields.",
             name);
    gw_respond_error(r, S3E_INVALID_ARGUMENT, msg);
}

static const char *lookup_secret(struct gw *gw, const char *ak, size_t len)
{
    for (size_t i = 0; i < gw->cfg.n_users; i++) {
        const char *k = gw->cfg.users[i].access_key;
        if (k != NULL && strlen(k) == len && memcmp(k, ak, len) == 0)
            return gw->cfg.users[i].secret_key;
    }
    return NULL;
}

/* The form's signature over its policy; on success r is authenticated as its access key. */
static int authenticate(struct gw_req *r, const struct s3_form_head *h, const char *policy, size_t plen)
{
    size_t cl = 0, sl = 0, al = 0, dl = 0;
    const char *cred = field(h, "x-amz-credential", &cl), *sig = field(h, "x-amz-signature", &sl);
    if (field(h, "x-amz-security-token", &al) != NULL) {
        gw_respond_error(r, S3E_ACCESS_DENIED, "Temporary credentials (x-amz-security-token) are not supported.");
        return 0;
    }
    if (cred != NULL || sig != NULL || field(h, "x-amz-algorithm", &al) != NULL) {
        const char *alg = field(h, "x-amz-algorithm", &al), *date = field(h, "x-amz-date", &dl);
        const char *need = alg == NULL ? "x-amz-algorithm" : cred == NULL ? "x-amz-credential"
                           : date == NULL ? "x-amz-date" : sig == NULL ? "x-amz-signature" : NULL;
        if (need != NULL) {
            missing(r, need);
            return 0;
        }
        if (al != 16 || memcmp(alg, "AWS4-HMAC-SHA256", 16) != 0) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "Unsupported x-amz-algorithm: only AWS4-HMAC-SHA256 is.");
            return 0;
        }
        /* AK/yyyymmdd/region/s3/aws4_request */
        char c[512], *parts[5];
        int n = 0;
        if (cl >= sizeof(c)) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "x-amz-credential is malformed.");
            return 0;
        }
        memcpy(c, cred, cl);
        c[cl] = '\0';
        for (char *p = c, *save = NULL, *t; n < 5 && (t = strtok_r(p, "/", &save)) != NULL; p = NULL)
            parts[n++] = t;
        if (n != 5 || strlen(parts[1]) != 8 || strcmp(parts[3], "s3") != 0 || strcmp(parts[4], "aws4_request") != 0 ||
            dl < 8 || memcmp(date, parts[1], 8) != 0) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "x-amz-credential is malformed.");
            return 0;
        }
        const char *secret = lookup_secret(r->gw, parts[0], strlen(parts[0]));
        if (secret == NULL) {
            gw_respond_error(r, S3E_INVALID_ACCESS_KEY_ID, NULL);
            return 0;
        }
        if (!s3_post_sig_v4_ok(secret, parts[1], parts[2], policy, plen, sig, sl)) {
            gw_respond_error(r, S3E_SIGNATURE_DOES_NOT_MATCH, NULL);
            return 0;
        }
        snprintf(r->auth.access_key, sizeof(r->auth.access_key), "%s", parts[0]);
    } else {
        const char *ak = field(h, "awsaccesskeyid", &al), *sig2 = field(h, "signature", &sl);
        if (ak == NULL && sig2 == NULL) {
            /* A policy needs its signature: only a form with neither is anonymous. */
            gw_respond_error(r, S3E_ACCESS_DENIED, "A POST form with a policy must be signed.");
            return 0;
        }
        if (ak == NULL || sig2 == NULL) {
            missing(r, ak == NULL ? "AWSAccessKeyId" : "signature");
            return 0;
        }
        const char *secret = lookup_secret(r->gw, ak, al);
        if (secret == NULL || al >= sizeof(r->auth.access_key)) {
            gw_respond_error(r, S3E_INVALID_ACCESS_KEY_ID, NULL);
            return 0;
        }
        if (!s3_post_sig_v2_ok(secret, policy, plen, sig2, sl)) {
            gw_respond_error(r, S3E_SIGNATURE_DOES_NOT_MATCH, NULL);
            return 0;
        }
        memcpy(r->auth.access_key, ak, al);
        r->auth.access_key[al] = '\0';
    }
    r->auth.payload = S3_PAYLOAD_UNSIGNED;
    r->has_auth = 1;
    return 1;
}

/* The key with each ${filename} replaced by the file's name; NULL when too long. */
static char *expand_key(const char *k, size_t kl, const char *fname, size_t fl)
{
    static const char var[] = "${filename}";
    struct dbuf out;
    dbuf_init(&out, S3_MAX_KEY_LEN + 1);
    for (size_t i = 0; i < kl;) {
        if (kl - i >= sizeof(var) - 1 && memcmp(k + i, var, sizeof(var) - 1) == 0) {
            if (dbuf_add(&out, fname, fl) != 0)
                goto fail;
            i += sizeof(var) - 1;
        } else {
            if (dbuf_add(&out, k + i, 1) != 0)
                goto fail;
            i++;
        }
    }
    if (dbuf_add(&out, "", 1) != 0)
        goto fail;
    return out.ptr;
fail:
    dbuf_release(&out);
    return NULL;
}

/* The object's stored headers and metadata, from the form's fields, exactly
 * as PutObject keeps them from its request headers (meta.c). */
static int build_meta(struct gw_req *r, struct post_op *op, const struct s3_form_head *h)
{
    static const char *const stored[] = {"content-type", "cache-control", "content-disposition", "content-encoding",
                                         "content-language", "expires"};
    struct s3_header hs[S3_FORM_MAX_FIELDS];
    size_t n = 0;
    for (size_t i = 0; i < h->n_fields; i++) {
        const struct s3_form_field *f = &h->fields[i];
        int keep = f->name_len > 11 && strncasecmp(f->name, "x-amz-meta-", 11) == 0;
        for (size_t k = 0; !keep && k < ARRAY_SIZE(stored); k++)
            keep = strlen(stored[k]) == f->name_len && strncasecmp(stored[k], f->name, f->name_len) == 0;
        if (!keep)
            continue;
        if (!s3_header_value_ok(f->value, f->value_len)) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "A form field value holds a control character.");
            return 0;
        }
        hs[n].name = f->name;
        hs[n].name_len = f->name_len;
        hs[n].value = f->value;
        hs[n].value_len = f->value_len;
        n++;
    }
    const struct s3_header *saved = r->s3.headers;
    size_t saved_n = r->s3.n_headers;
    r->s3.headers = hs;
    r->s3.n_headers = n;
    op->obj.meta_json = gw_meta_from_request(r);
    r->s3.headers = saved;
    r->s3.n_headers = saved_n;
    size_t tl = 0;
    const char *tagging = field(h, "tagging", &tl);
    if (tagging != NULL) {
        struct s3_tag tags[S3_MAX_TAGS];
        size_t nt = 0;
        enum s3_err e = s3_xml_parse_tagging(tagging, tl, tags, S3_MAX_TAGS, &nt);
        if (e != S3E_OK) {
            gw_respond_error(r, e, NULL);
            return 0;
        }
        char *m = gw_meta_set_tags(op->obj.meta_json, tags, nt);
        free(op->obj.meta_json);
        op->obj.meta_json = m;
    }
    return 1;
}

/* The options of the answer and of the body's checks. */
static int read_options(struct gw_req *r, struct post_op *op, const struct s3_form_head *h)
{
    size_t len = 0;
    const char *v = field(h, "acl", &len);
    if (v != NULL) {
        if (len >= sizeof(op->canned_acl) || memchr(v, '\0', len) != NULL) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "Invalid canned ACL");
            return 0;
        }
        memcpy(op->canned_acl, v, len);
        /* Checked as PutObject's x-amz-acl (400 InvalidArgument, 501 NotImplemented); public or not. */
        const struct s3_header *saved;
        size_t saved_n;
        acl_headers_on(r, op, &saved, &saved_n);
        int ok = gw_access_request_acl_ok(r);
        acl_headers_off(r, saved, saved_n);
        if (!ok)
            return 0;
    }
    /* AWS: 200 and 201 as asked; any other value, or none, is 204. */
    op->success_status = 204;
    v = field(h, "success_action_status", &len);
    if (v != NULL && len == 3 && (memcmp(v, "200", 3) == 0 || memcmp(v, "201", 3) == 0))
        op->success_status = v[2] == '0' ? 200 : 201;
    /* AWS: a redirect it cannot use as a URL is as if absent. */
    v = field(h, "success_action_redirect", &len);
    if (v == NULL)
        v = field(h, "redirect", &len);
    if (v != NULL && len > 0 && len <= 2048 && s3_header_value_ok(v, len) &&
        (strncasecmp(v, "http://", 7) == 0 || strncasecmp(v, "https://", 8) == 0))
        op->redirect = xstrndup(v, len);
    v = field(h, "content-md5", &len);
    if (v != NULL) {
        size_t n = 0;
        if (s3_base64_decode(v, len, op->chk.md5, sizeof(op->chk.md5), &n) != 0 || n != 16) {
            gw_respond_error(r, S3E_INVALID_DIGEST, NULL);
            return 0;
        }
        op->chk.has_md5 = 1;
    }
    static const char *const algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", algs[i]);
        v = field(h, name, &len);
        if (v == NULL)
            continue;
        if (op->chk.ck_alg[0] != '\0' || len == 0 || len >= sizeof(op->chk.ck_value)) {
            gw_respond_error(r, S3E_INVALID_REQUEST, NULL);
            return 0;
        }
        snprintf(op->chk.ck_alg, sizeof(op->chk.ck_alg), "%s", algs[i]);
        memcpy(op->chk.ck_value, v, len);
        op->chk.ck_value[len] = '\0';
    }
    return 1;
}

static void on_head(struct gw_form *f, enum s3_err err, const char *message, void *ud)
{
    struct gw_req *r = ud;
    struct post_op *op = r->op;
    if (!gw_req_release(r))
        return;
    if (err != S3E_OK) {
        gw_respond_error(r, err, message);
        return;
    }
    const struct s3_form_head *h = gw_form_head(f);
    size_t kl = 0, pl = 0;
    const char *key = field(h, "key", &kl), *policy = field(h, "policy", &pl);
    if (key == NULL) {
        missing(r, "key");
        return;
    }
    if (policy == NULL && (s3_form_get(h, "x-amz-signature") || s3_form_get(h, "signature"))) {
        missing(r, "policy");
        return;
    }
    /* No policy and no signature field at all: anonymous, which only a bucket
     * granting WRITE to AllUsers lets in (bucket_check), with no conditions. */
    int anonymous = policy == NULL && !s3_form_get(h, "x-amz-credential") && !s3_form_get(h, "x-amz-algorithm") &&
                    !s3_form_get(h, "awsaccesskeyid") && !s3_form_get(h, "x-amz-security-token");
    if (policy == NULL && !anonymous) {
        missing(r, "policy");
        return;
    }
    if (!anonymous && !authenticate(r, h, policy, pl))
        return;
    op->obj.key = expand_key(key, kl, h->filename, h->filename_len);
    if (op->obj.key == NULL || strlen(op->obj.key) > S3_MAX_KEY_LEN || op->obj.key[0] == '\0') {
        gw_respond_error(r, op->obj.key != NULL && op->obj.key[0] == '\0' ? S3E_INVALID_ARGUMENT : S3E_KEY_TOO_LONG,
                         op->obj.key != NULL && op->obj.key[0] == '\0' ? "User key must have a length greater than 0."
                                                                        : NULL);
        return;
    }
    if (!s3_utf8_valid(op->obj.key, strlen(op->obj.key))) {
        gw_respond_error(r, S3E_INVALID_URI, NULL);
        return;
    }
    if (anonymous) {
        op->min_len = 0;
        op->max_len = (int64_t)r->gw->cfg.max_body;
        gw_form_set_range(f, 0, (uint64_t)op->max_len);
        if (!read_options(r, op, h) || !build_meta(r, op, h))
            return;
        gw_with_bucket(r, bucket_check, post_store);
        return;
    }
    unsigned char *json = xmalloc(pl);
    size_t jl = 0;
    if (s3_base64_decode(policy, pl, json, pl, &jl) != 0) {
        free(json);
        gw_respond_error(r, S3E_INVALID_POLICY_DOCUMENT, "Invalid Policy: Invalid 'Policy' base64 encoding.");
        return;
    }
    char msg[512];
    int64_t lo, hi;
    err = gw_post_policy_check((const char *)json, jl, h, r->route.bucket, op->obj.key, wall_ms() / 1000, &lo, &hi,
                               msg, sizeof(msg));
    free(json);
    if (err != S3E_OK) {
        gw_respond_error(r, err, msg[0] ? msg : NULL);
        return;
    }
    op->min_len = lo;
    op->max_len = hi;
    gw_form_set_range(f, (uint64_t)lo, (uint64_t)hi);
    if (!read_options(r, op, h) || !build_meta(r, op, h))
        return;
    gw_with_bucket(r, bucket_check, post_store);
}

void gw_op_post_object(struct gw_req *r)
{
    size_t len;
    char boundary[S3_FORM_MAX_BOUNDARY + 1];
    size_t blen;
    const char *ct = gw_req_header(r, "content-type", &len);
    if (ct == NULL || s3_form_boundary(ct, len, boundary, &blen) != 0) {
        gw_respond_error(r, S3E_PRECONDITION_FAILED, "Bucket POST must be of the enclosure-type multipart/form-data");
        return;
    }
    struct post_op *op = xcalloc(1, sizeof(*op));
    snprintf(op->obj.bucket, sizeof(op->obj.bucket), "%s", r->route.bucket);
    r->op = op;
    r->op_free = post_free;
    h2o_req_t *req = r->req;
    op->form = gw_form_new(r->body, req->entity.base ? req->entity.base : "", req->entity.base ? req->entity.len : 0,
                           boundary, blen);
    gw_req_hold(r);
    gw_form_read_head(op->form, on_head, r);
}

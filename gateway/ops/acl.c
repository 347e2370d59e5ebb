/* acl.c — GetBucketAcl, GetObjectAcl, PutBucketAcl, PutObjectAcl and the
 * bucket's PublicAccessBlock (Get/Put/Delete); the ACL an object write stores.
 *
 * Who may call these was decided before (http/access.c, http/acl.c). What a
 * Get*Acl answers is what is in force: the stored ACL, or for none the
 * owner's FULL_CONTROL (private). Put*Acl takes the ACL from x-amz-acl, from
 * x-amz-grant-* headers or from an <AccessControlPolicy> body (one of
 * them), refuses a public one when the bucket's public access block has
 * BlockPublicAcls (403 AccessDenied, as AWS), and keeps the resource's owner
 * whatever the body's <Owner> says. Every change of a bucket's ACL or public
 * access block refreshes the intake's list of buckets open to anonymous
 * writes (gw_acl_public_refresh).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

/* The ACL in force given its stored text (NULL: private) and the owner it defaults to. */
static void acl_in_force(const char *text, const char *owner, struct s3_acl *acl)
{
    if (text == NULL || s3_acl_decode(text, strlen(text), acl) != 0) {
        if (s3_acl_canned("private", 7, owner, owner, 0, acl) != S3E_OK)
            memset(acl, 0, sizeof(*acl));
    }
    if (acl->owner[0] == '\0')
        snprintf(acl->owner, sizeof(acl->owner), "%s", owner);
}

/* ---- object writes ----------------------------------------------------------------------- */

char *gw_acl_object_for_write(struct gw_req *r)
{
    const char *bucket_owner = r->bucket_id.owner[0] != '\0' ? r->bucket_id.owner : gw_req_user(r);
    const char *owner = r->has_auth ? gw_req_user(r) : bucket_owner;
    struct s3_acl *acl = xmalloc(sizeof(*acl));
    const char *msg;
    int given;
    char *text = NULL;
    /* The headers were checked by access.c: this cannot fail on them. */
    if (gw_acl_from_request(r, 1, owner, bucket_owner, acl, &given, &msg) == S3E_OK)
        text = gw_acl_object_text(acl, bucket_owner);
    free(acl);
    return text;
}

char *gw_meta_with_acl(const char *meta_json, const char *acl)
{
    json_t *root = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    if (acl != NULL)
        json_object_set_new(root, "acl", json_string(acl));
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out ? out : xstrdup("{}");
}

char *gw_meta_take_acl(const char *meta_json, char **acl)
{
    json_t *root = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    *acl = NULL;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return xstrdup(meta_json ? meta_json : "{}");
    }
    const char *v = json_string_value(json_object_get(root, "acl"));
    if (v != NULL)
        *acl = xstrdup(v);
    json_object_del(root, "acl");
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out ? out : xstrdup("{}");
}

/* ---- Get*Acl ------------------------------------------------------------------------------ */

struct acl_op {
    struct s3_acl acl;
    char *canned;     /* Put*Acl by x-amz-acl: the name, expanded once the owners are known */
    int refresh;      /* a bucket's ACL changed: refresh the public-write list */
    const char *version; /* an object's versionId (the route's), NULL: the current object */
};

static void acl_op_free(void *p)
{
    struct acl_op *op = p;
    free(op->canned);
    free(op);
}

static enum s3_err get_acl_run(struct store *st, struct gw_req *r, void *arg)
{
    struct acl_op *op = arg;
    struct store_bucket b;
    char *text = NULL;
    enum store_status s = store_bucket_get(st, r->route.bucket, &b);
    if (s != STORE_OK)
        return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
    if (r->route.key != NULL) {
        s = store_object_acl_get(st, r->route.bucket, r->route.key, op->version, &text);
        if (s == STORE_NOT_FOUND)
            return op->version ? S3E_NO_SUCH_VERSION : S3E_NO_SUCH_KEY;
    } else {
        s = store_bucket_acl_get(st, r->route.bucket, &text);
    }
    if (s != STORE_OK)
        return gw_store_err(s);
    acl_in_force(text, b.owner, &op->acl);
    free(text);
    return S3E_OK;
}

static void get_acl_done(struct gw_req *r, void *arg)
{
    struct acl_op *op = arg;
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, 256 * 1024);
    gw_acl_render(&x, &out, &op->acl);
    gw_respond_xml_buf(r, &out, x.failed);
}

void gw_op_get_acl(struct gw_req *r)
{
    struct acl_op *op = xcalloc(1, sizeof(*op));
    if (r->route.key != NULL && !gw_version_param(r, &op->version)) {
        acl_op_free(op);
        return;
    }
    gw_req_store_call(r, get_acl_run, get_acl_done, op, acl_op_free);
}

/* ---- Put*Acl ------------------------------------------------------------------------------ */

static enum s3_err put_acl_run(struct store *st, struct gw_req *r, void *arg)
{
    struct acl_op *op = arg;
    struct store_bucket b;
    char *text = NULL, *old = NULL;
    enum s3_err err = S3E_OK;
    enum store_status s = store_tx_begin(st);
    if (s != STORE_OK)
        return gw_store_err(s);
    s = store_bucket_get(st, r->route.bucket, &b);
    if (s != STORE_OK) {
        err = gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
        goto out;
    }
    /* The owner stays whoever owns the resource (an object's: from its ACL). */
    const char *owner = b.owner;
    struct s3_acl *cur = xmalloc(sizeof(*cur));
    if (r->route.key != NULL) {
        s = store_object_acl_get(st, r->route.bucket, r->route.key, op->version, &old);
        if (s != STORE_OK) {
            free(cur);
            err = s != STORE_NOT_FOUND ? gw_store_err(s) : op->version ? S3E_NO_SUCH_VERSION : S3E_NO_SUCH_KEY;
            goto out;
        }
    }
    acl_in_force(old, b.owner, cur);
    owner = cur->owner;
    if (op->canned != NULL)
        err = s3_acl_canned(op->canned, strlen(op->canned), owner, b.owner, r->route.key != NULL, &op->acl);
    snprintf(op->acl.owner, sizeof(op->acl.owner), "%s", owner);
    free(cur);
    if (err == S3E_OK && s3_acl_is_public(&op->acl))
        err = gw_acl_blocked(st, b.name);
    if (err != S3E_OK)
        goto out;
    if (r->route.key != NULL) {
        text = gw_acl_object_text(&op->acl, b.owner);
        s = store_object_acl_set(st, r->route.bucket, r->route.key, op->version, text);
    } else {
        text = gw_acl_text(&op->acl);
        s = text != NULL ? store_bucket_acl_set(st, r->route.bucket, text) : STORE_IO;
        op->refresh = 1;
    }
    if (s == STORE_OK)
        s = store_tx_commit(st);
    if (s != STORE_OK)
        err = gw_store_err_or(s, r->route.key != NULL ? S3E_NO_SUCH_KEY : S3E_NO_SUCH_BUCKET);
out:
    if (err != S3E_OK)
        store_tx_rollback(st);
    free(text);
    free(old);
    return err;
}

static void answer_200(struct gw_req *r)
{
    gw_respond_empty(r, 200);
}

static void answer_204(struct gw_req *r)
{
    gw_respond_empty(r, 204);
}

static void put_acl_done(struct gw_req *r, void *arg)
{
    struct acl_op *op = arg;
    if (op->refresh)
        gw_acl_public_refresh_then(r, answer_200);
    else
        answer_200(r);
}

void gw_op_put_acl(struct gw_req *r)
{
    struct acl_op *op = xcalloc(1, sizeof(*op));
    const char *body, *msg = NULL;
    size_t len = 0, cl;
    int given = 0;
    if (r->route.key != NULL && !gw_version_param(r, &op->version)) {
        acl_op_free(op);
        return;
    }
    enum s3_err e = gw_small_body(r, &body, &len);
    if (e != S3E_OK)
        goto fail;
    /* The headers were checked by access.c; the owners are filled in on the store thread. */
    e = gw_acl_from_request(r, r->route.key != NULL, "", "", &op->acl, &given, &msg);
    if (e != S3E_OK)
        goto fail;
    if (given && len > 0) {
        e = S3E_INVALID_REQUEST;
        msg = "This request does not support content with ACL headers";
        goto fail;
    }
    if (given) {
        const char *canned = gw_req_header(r, "x-amz-acl", &cl);
        if (canned != NULL)
            op->canned = xstrndup(canned, cl);
    } else if (len > 0) {
        e = s3_xml_parse_acl(body, len, &op->acl);
        if (e == S3E_OK && !gw_acl_ids_known(r->gw, &op->acl)) {
            e = S3E_INVALID_ARGUMENT;
            msg = "Invalid id";
        }
        if (e != S3E_OK)
            goto fail;
    } else {
        e = S3E_MISSING_SECURITY_HEADER;
        msg = "Your request was missing a required header";
        goto fail;
    }
    gw_req_store_call(r, put_acl_run, put_acl_done, op, acl_op_free);
    return;
fail:
    acl_op_free(op);
    gw_respond_error(r, e, msg);
}

/* ---- PublicAccessBlock -------------------------------------------------------------------- */

struct pab_op {
    int64_t flags;
};

static enum s3_err pab_run(struct store *st, struct gw_req *r, void *arg)
{
    struct pab_op *op = arg;
    enum store_status s;
    if (r->route.op == S3_OP_GET_PUBLIC_ACCESS_BLOCK) {
        s = store_pab_get(st, r->route.bucket, &op->flags);
        if (s == STORE_NOT_FOUND)
            return gw_bucket_missing(st, r->route.bucket) ? S3E_NO_SUCH_BUCKET : S3E_NO_SUCH_PUBLIC_ACCESS_BLOCK;
        return gw_store_err(s);
    }
    s = store_pab_set(st, r->route.bucket, r->route.op == S3_OP_PUT_PUBLIC_ACCESS_BLOCK ? op->flags : -1);
    return gw_store_err_or(s, S3E_NO_SUCH_BUCKET);
}

static void pab_done(struct gw_req *r, void *arg)
{
    static const char *const names[] = {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                        "RestrictPublicBuckets"};
    static const unsigned bits[] = {S3_PAB_BLOCK_PUBLIC_ACLS, S3_PAB_IGNORE_PUBLIC_ACLS, S3_PAB_BLOCK_PUBLIC_POLICY,
                                    S3_PAB_RESTRICT_PUBLIC_BUCKETS};
    struct pab_op *op = arg;
    if (r->route.op != S3_OP_GET_PUBLIC_ACCESS_BLOCK) {
        gw_acl_public_refresh_then(r, r->route.op == S3_OP_PUT_PUBLIC_ACCESS_BLOCK ? answer_200 : answer_204);
        return;
    }
    struct dbuf out;
    struct s3_xml x;
    dbuf_init(&out, 4096);
    s3_xml_begin(&x, &out, "PublicAccessBlockConfiguration");
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        s3_xml_elem(&x, names[i], (op->flags & (int64_t)bits[i]) ? "true" : "false");
    gw_respond_xml_buf(r, &out, s3_xml_end(&x, "PublicAccessBlockConfiguration") != 0);
}

void gw_op_public_access_block(struct gw_req *r)
{
    struct pab_op *op = xcalloc(1, sizeof(*op));
    if (r->route.op == S3_OP_PUT_PUBLIC_ACCESS_BLOCK) {
        const char *body;
        size_t len;
        unsigned flags = 0;
        enum s3_err e = gw_small_body(r, &body, &len);
        if (e == S3E_OK)
            e = s3_xml_parse_pab(body, len, &flags);
        if (e != S3E_OK) {
            free(op);
            gw_respond_error(r, e, NULL);
            return;
        }
        op->flags = flags;
    }
    gw_req_store_call(r, pab_run, pab_done, op, free);
}

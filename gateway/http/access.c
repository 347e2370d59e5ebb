/* access.c — the access check before every operation, and the bucket lookup
 * it shares with the handlers (gw_with_bucket).
 *
 * Each bucket belongs to the access key that created it (store buckets.owner)
 * and has an ACL (acl.c says who may do what). With more than one --user, or
 * for an anonymous request, every request naming a bucket first reads that
 * bucket on the store thread and is judged by its ACLs: 403 AccessDenied when
 * they do not allow it; a missing bucket goes on to the handler, which
 * answers NoSuchBucket (or creates it). With a single user and a signed
 * request nothing is read: every bucket is that user's. A request setting a
 * public ACL is also checked against the bucket's public access block.
 * CopyObject and UploadPartCopy check their source themselves (ops/copy.c).
 * PostObject (ops/post.c) identifies its signer from its form, then calls the
 * same two checks itself with its form's acl field as the request's x-amz-acl.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/http/acl.h"

/* ---- a request's bucket, read before it goes on ------------------------------------ */

struct bucket_step {
    gw_bucket_check_fn check;
    void (*next)(struct gw_req *r);
    enum store_status found;
    struct store_bucket b;
};

static enum s3_err bucket_step_run(struct store *st, struct gw_req *r, void *arg)
{
    struct bucket_step *bs = arg;
    bs->found = store_bucket_get(st, r->route.bucket, &bs->b);
    return bs->check(st, r, bs->found, &bs->b);
}

static void bucket_step_done(struct gw_req *r, void *arg)
{
    struct bucket_step *bs = arg;
    if (bs->found == STORE_OK && r->bucket_id.owner[0] == '\0')
        store_bucket_id_of(&bs->b, &r->bucket_id);
    bs->next(r);
}

void gw_with_bucket(struct gw_req *r, gw_bucket_check_fn check, void (*next)(struct gw_req *r))
{
    struct bucket_step *bs = xcalloc(1, sizeof(*bs));
    bs->check = check;
    bs->next = next;
    gw_req_store_call(r, bucket_step_run, bucket_step_done, bs, free);
}

/* ---- who may do what: the ACL decision (acl.c) ---------------------------------------- */

/* A missing bucket (or one the index cannot read now) is left to the
 * handler; an existing one is judged by its ACLs, and a request setting a
 * public ACL by the bucket's public access block. */
enum s3_err gw_access_acl_check(struct store *st, struct gw_req *r, enum store_status found,
                                const struct store_bucket *b)
{
    int object;
    unsigned need;
    if (found != STORE_OK)
        return S3E_OK;
    enum s3_err e = S3E_OK;
    gw_acl_need(r->route.op, &object, &need);
    /* The one user of a single-user gateway may do anything, as before ACLs. */
    if (r->gw->cfg.n_users > 1 || !r->has_auth)
        e = gw_acl_allows(st, gw_req_user(r), b, r->route.key, object, need);
    if (e == S3E_OK && r->sets_public_acl)
        e = gw_acl_blocked(st, b->name); /* AWS: 403 AccessDenied */
    return e;
}

/* Does the request carry an ACL, and is it public? Its errors are answered
 * here, before anything is read (the handlers build the ACL they store again,
 * with the owners they then know). */
int gw_access_request_acl_ok(struct gw_req *r)
{
    struct s3_acl *acl = xmalloc(sizeof(*acl));
    const char *msg;
    int given = 0;
    enum s3_err e = gw_acl_from_request(r, r->route.key != NULL, gw_req_user(r), "", acl, &given, &msg);
    if (e != S3E_OK)
        gw_respond_error(r, e, msg);
    else
        r->sets_public_acl = given && s3_acl_is_public(acl);
    free(acl);
    return e == S3E_OK;
}

static int takes_acl(enum s3_op op)
{
    return op == S3_OP_CREATE_BUCKET || op == S3_OP_PUT_OBJECT || op == S3_OP_COPY_OBJECT ||
           op == S3_OP_CREATE_MULTIPART_UPLOAD || op == S3_OP_PUT_BUCKET_ACL || op == S3_OP_PUT_OBJECT_ACL;
}

int gw_access_visible(const struct gw_req *r, const struct store_bucket *b)
{
    return r->gw->cfg.n_users <= 1 || strcmp(b->owner, r->has_auth ? r->auth.access_key : "") == 0;
}

void gw_access_check(struct gw_req *r, void (*next)(struct gw_req *r))
{
    /* Anonymous may list no buckets and create none. */
    if (!r->has_auth && (r->route.bucket[0] == '\0' || r->route.op == S3_OP_CREATE_BUCKET)) {
        gw_respond_error(r, S3E_ACCESS_DENIED, NULL);
        return;
    }
    if (takes_acl(r->route.op) && !gw_access_request_acl_ok(r))
        return;
    /* The one user of a single-user gateway owns every bucket: only a public
     * ACL (against a public access block) needs a look at the index. */
    int needed = r->route.bucket[0] != '\0' && r->route.op != S3_OP_CREATE_BUCKET &&
                 (r->gw->cfg.n_users > 1 || !r->has_auth || r->sets_public_acl);
    if (needed)
        gw_with_bucket(r, gw_access_acl_check, next);
    else
        next(r);
}

/* acl.c — who may do what: an operation's permission, the ACL decision, the request's own ACL.
 *
 * Each bucket and object has an owner and an ACL (store acl.c; none: private
 * to the bucket's owner). A request is made by a configured user (a valid
 * signature) or by anonymous (no signature at all: auth.c). The owner of a
 * resource may do anything with it; anyone else only what a grant to them,
 * to AuthenticatedUsers (any user) or to AllUsers (anyone) allows, as AWS
 * maps ACL permissions to operations:
 *   bucket READ       ListObjects(V2), ListObjectVersions, ListMultipartUploads, HeadBucket
 *   bucket WRITE      PutObject, PostObject, CopyObject (into it), the multipart operations, DeleteObject(s)
 *   bucket READ_ACP   GetBucketAcl;  WRITE_ACP  PutBucketAcl
 *   object READ       GetObject, HeadObject (and CopyObject from it, checked in ops/copy.c)
 *   object READ_ACP   GetObjectAcl;  WRITE_ACP  PutObjectAcl
 *   FULL_CONTROL      all four
 * Everything else (DeleteBucket, the bucket's location, versioning, tags,
 * public access block, object tags) is the owner's alone. An object named
 * by a request that is not there is NoSuchKey only to those who may list
 * the bucket, AccessDenied to the others (AWS). A bucket's PublicAccessBlock
 * IgnorePublicAcls makes grants to the two groups count for nothing, for the
 * bucket and its objects; BlockPublicAcls refuses requests setting such
 * grants (access.c, ops/acl.c). No bucket policies exist, so
 * BlockPublicPolicy and RestrictPublicBuckets change nothing here.
 *
 * The buckets open to anonymous writes are kept by public.c.
 * Loop thread, except gw_acl_allows (store thread).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/http/acl.h"

/* ---- what an operation needs -------------------------------------------------------------- */

void gw_acl_need(enum s3_op op, int *object, unsigned *need)
{
    *object = 0;
    switch (op) {
    case S3_OP_LIST_OBJECTS:
    case S3_OP_LIST_OBJECTS_V2:
    case S3_OP_LIST_OBJECT_VERSIONS:
    case S3_OP_LIST_MULTIPART_UPLOADS:
    case S3_OP_HEAD_BUCKET: *need = S3_PERM_READ; return;
    case S3_OP_PUT_OBJECT:
    case S3_OP_POST_OBJECT:
    case S3_OP_COPY_OBJECT:
    case S3_OP_CREATE_MULTIPART_UPLOAD:
    case S3_OP_UPLOAD_PART:
    case S3_OP_UPLOAD_PART_COPY:
    case S3_OP_COMPLETE_MULTIPART_UPLOAD:
    case S3_OP_ABORT_MULTIPART_UPLOAD:
    case S3_OP_LIST_PARTS:
    case S3_OP_DELETE_OBJECT:
    case S3_OP_DELETE_OBJECTS: *need = S3_PERM_WRITE; return;
    case S3_OP_GET_BUCKET_ACL: *need = S3_PERM_READ_ACP; return;
    case S3_OP_PUT_BUCKET_ACL: *need = S3_PERM_WRITE_ACP; return;
    case S3_OP_GET_OBJECT:
    case S3_OP_HEAD_OBJECT: *object = 1; *need = S3_PERM_READ; return;
    case S3_OP_GET_OBJECT_ACL: *object = 1; *need = S3_PERM_READ_ACP; return;
    case S3_OP_PUT_OBJECT_ACL: *object = 1; *need = S3_PERM_WRITE_ACP; return;
    case S3_OP_GET_OBJECT_TAGGING:
    case S3_OP_PUT_OBJECT_TAGGING:
    case S3_OP_DELETE_OBJECT_TAGGING: *object = 1; *need = GW_NEED_OWNER; return;
    default: *need = GW_NEED_OWNER; return;
    }
}

/* ---- the decision (store thread) ------------------------------------------------------------ */

enum s3_err gw_acl_allows(struct store *st, const char *who, const struct store_bucket *b, const char *key,
                          int object, unsigned need)
{
    struct s3_acl *acl = xmalloc(sizeof(*acl));
    char *text = NULL;
    int64_t flags = 0;
    enum s3_err err = S3E_ACCESS_DENIED;
    enum store_status s = store_pab_get(st, b->name, &flags);
    if (s != STORE_OK && s != STORE_NOT_FOUND) {
        err = gw_store_err(s);
        goto out;
    }
    int ignore = s == STORE_OK && (flags & S3_PAB_IGNORE_PUBLIC_ACLS) != 0;
    if (object && key != NULL) {
        s = store_object_acl_get(st, b->name, key, NULL, &text);
        if (s == STORE_NOT_FOUND) {
            /* No such object: NoSuchKey (from the handler) for whoever may list the bucket. */
            free(text);
            text = NULL;
            object = 0;
            need = S3_PERM_READ;
        } else if (s != STORE_OK) {
            err = gw_store_err(s);
            goto out;
        }
    }
    if (!object) {
        if (who[0] != '\0' && strcmp(b->owner, who) == 0) {
            err = S3E_OK;
            goto out;
        }
        s = store_bucket_acl_get(st, b->name, &text);
        if (s != STORE_OK) {
            err = gw_store_err(s);
            goto out;
        }
    }
    gw_acl_load(text, b->owner, acl);
    if (need & GW_NEED_OWNER)
        err = who[0] != '\0' && strcmp(acl->owner, who) == 0 ? S3E_OK : S3E_ACCESS_DENIED;
    else
        err = (s3_acl_perms(acl, who, ignore) & need) == need ? S3E_OK : S3E_ACCESS_DENIED;
out:
    free(text);
    free(acl);
    return err;
}

enum s3_err gw_acl_blocked(struct store *st, const char *bucket)
{
    int64_t flags = 0;
    enum store_status s = store_pab_get(st, bucket, &flags);
    if (s == STORE_NOT_FOUND)
        return S3E_OK;
    if (s != STORE_OK)
        return gw_store_err(s);
    return (flags & S3_PAB_BLOCK_PUBLIC_ACLS) != 0 ? S3E_ACCESS_DENIED : S3E_OK;
}

/* ---- the request's own ACL -------------------------------------------------------------------- */

/* Are the grantees that name a user configured users? (AWS: 400 InvalidArgument "Invalid id".) */
int gw_acl_ids_known(const struct gw *gw, const struct s3_acl *acl)
{
    for (size_t i = 0; i < acl->n; i++) {
        if (acl->g[i].type != S3_GRANTEE_USER)
            continue;
        int found = 0;
        for (size_t u = 0; u < gw->cfg.n_users && !found; u++)
            found = gw->cfg.users[u].access_key != NULL && strcmp(gw->cfg.users[u].access_key, acl->g[i].id) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

enum s3_err gw_acl_from_request(struct gw_req *r, int for_object, const char *owner, const char *bucket_owner,
                                struct s3_acl *out, int *given, const char **msg)
{
    static const enum s3_perm order[] = {S3_PERM_READ, S3_PERM_WRITE, S3_PERM_READ_ACP, S3_PERM_WRITE_ACP,
                                         S3_PERM_FULL_CONTROL};
    size_t cl = 0;
    const char *canned = gw_req_header(r, "x-amz-acl", &cl);
    int grants = 0;
    enum s3_err e = S3E_OK;
    *msg = NULL;
    *given = 0;
    memset(out, 0, sizeof(*out));
    snprintf(out->owner, sizeof(out->owner), "%s", owner);
    for (size_t i = 0; i < ARRAY_SIZE(order); i++)
        grants += gw_req_header(r, s3_acl_grant_header_name(order[i]), NULL) != NULL;
    if (canned != NULL && grants > 0) {
        *msg = "Specifying both Canned ACLs and Header Grants is not allowed";
        return S3E_INVALID_REQUEST;
    }
    if (canned != NULL) {
        e = s3_acl_canned(canned, cl, owner, bucket_owner, for_object, out);
        if (e == S3E_INVALID_ARGUMENT)
            *msg = "Invalid canned ACL";
        *given = e == S3E_OK;
        return e;
    }
    if (grants == 0) {
        e = s3_acl_canned("private", 7, owner, bucket_owner, for_object, out);
        return e;
    }
    for (size_t i = 0; i < ARRAY_SIZE(order) && e == S3E_OK; i++) {
        size_t l;
        const char *v = gw_req_header(r, s3_acl_grant_header_name(order[i]), &l);
        if (v != NULL)
            e = s3_acl_grant_header(order[i], v, l, out);
    }
    if (e == S3E_OK && !gw_acl_ids_known(r->gw, out)) {
        e = S3E_INVALID_ARGUMENT;
        *msg = "Invalid id";
    }
    *given = e == S3E_OK;
    return e;
}

char *gw_acl_text(const struct s3_acl *acl)
{
    struct dbuf d;
    dbuf_init(&d, 64 * 1024);
    if (s3_acl_encode(acl, &d) != 0 || dbuf_add(&d, "", 1) != 0) {
        dbuf_release(&d);
        return NULL;
    }
    char *s = xstrdup(d.ptr);
    dbuf_release(&d);
    return s;
}

char *gw_acl_object_text(const struct s3_acl *acl, const char *bucket_owner)
{
    /* Private and owned by the bucket's owner is what no row means: store none. */
    if (acl->n == 1 && acl->g[0].type == S3_GRANTEE_USER && acl->g[0].perm == S3_PERM_FULL_CONTROL &&
        strcmp(acl->g[0].id, acl->owner) == 0 && strcmp(acl->owner, bucket_owner) == 0)
        return NULL;
    return gw_acl_text(acl);
}

/* ---- the list of buckets open to anonymous writes, on a request's behalf ------------------------ */

struct refresh_req {
    struct gw_acl_public_job *job;
    void (*then)(struct gw_req *r);
};

static enum s3_err refresh_req_run(struct store *st, struct gw_req *r, void *arg)
{
    struct refresh_req *q = arg;
    (void)r;
    gw_acl_public_job_read(st, q->job);
    return S3E_OK;
}

/* It is answered once the list is in place, so the client's next request already meets it. */
static void refresh_req_done(struct gw_req *r, void *arg)
{
    struct refresh_req *q = arg;
    gw_acl_public_job_install(q->job);
    q->then(r);
}

static void refresh_req_free(void *arg)
{
    struct refresh_req *q = arg;
    gw_acl_public_job_end(q->job); /* installs the list when the client left before */
    free(q);
}

void gw_acl_public_refresh_then(struct gw_req *r, void (*then)(struct gw_req *r))
{
    struct refresh_req *q = xcalloc(1, sizeof(*q));
    q->job = gw_acl_public_job_new(r->gw);
    q->then = then;
    gw_req_store_call(r, refresh_req_run, refresh_req_done, q, refresh_req_free);
}

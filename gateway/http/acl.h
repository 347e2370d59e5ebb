/* acl.h — what a request may do: the bucket lookup a request waits on (access.c) and the ACLs and
 * public access blocks that decide (acl.c). */
#ifndef TGS3_GW_ACL_H
#define TGS3_GW_ACL_H

#include "gateway/gw.h"

/* The access check (access.c): runs next(r) when the request's ACL headers are valid and the
 * ACLs allow it (http/acl.c), else answers the error (403 AccessDenied…); gw_access_visible:
 * may the caller see bucket b in ListBuckets. */
void gw_access_check(struct gw_req *r, void (*next)(struct gw_req *r));
int gw_access_visible(const struct gw_req *r, const struct store_bucket *b);
/* Reads r's bucket (r->route.bucket) on the store thread, where check judges
 * the lookup (found: its status; b: the bucket when found is STORE_OK) and
 * returns S3E_OK or the error to answer. Then, if the client is still there
 * and check passed, r->bucket_id records the bucket (unless one is recorded
 * already) and next(r) runs on the loop. access.c; gw_req_store_call's rules. */
typedef enum s3_err (*gw_bucket_check_fn)(struct store *st, struct gw_req *r, enum store_status found,
                                          const struct store_bucket *b);
void gw_with_bucket(struct gw_req *r, gw_bucket_check_fn check, void (*next)(struct gw_req *r));
/* The two halves of gw_access_check, for PostObject (ops/post.c), which identifies its caller
 * itself: the request's x-amz-acl / x-amz-grant-* headers checked (answers the error and
 * returns 0 when invalid; sets r->sets_public_acl), and the gw_bucket_check_fn judging a
 * found bucket by its ACLs for r->route.op and by its public access block. */
int gw_access_request_acl_ok(struct gw_req *r);
enum s3_err gw_access_acl_check(struct store *st, struct gw_req *r, enum store_status found,
                                const struct store_bucket *b);

/* ---- ACLs (http/acl.c; handlers in ops/acl.c) ---------------------------------------------- */

#define GW_NEED_OWNER 0x100u /* a permission no grant gives: the owner's alone */
/* What op needs: S3_PERM_* bits or GW_NEED_OWNER, on its bucket (*object 0) or its object. */
void gw_acl_need(enum s3_op op, int *object, unsigned *need);
/* Store thread: may who ("" = anonymous) do what needs on bucket b (object 0) or on its object key
 * (object 1)? S3E_OK, S3E_ACCESS_DENIED, or the store's failure. A missing object needs bucket READ
 * (its handler then answers NoSuchKey). */
enum s3_err gw_acl_allows(struct store *st, const char *who, const struct store_bucket *b, const char *key,
                          int object, unsigned need);
/* Store thread: S3E_ACCESS_DENIED when bucket's public access block has BlockPublicAcls. */
enum s3_err gw_acl_blocked(struct store *st, const char *bucket);
/* The ACL the request's x-amz-acl or x-amz-grant-* headers give a new resource owned by owner (in a
 * bucket of bucket_owner), private when it has neither (*given 0). Errors as AWS (*msg: the message
 * or NULL): both kinds → InvalidRequest, an unknown canned ACL or grantee → InvalidArgument. */
enum s3_err gw_acl_from_request(struct gw_req *r, int for_object, const char *owner, const char *bucket_owner,
                                struct s3_acl *out, int *given, const char **msg);
/* Is every user grantee of acl a configured user? */
int gw_acl_ids_known(const struct gw *gw, const struct s3_acl *acl);
/* acl in its stored form, malloc'd (NULL only if it cannot be encoded). */
char *gw_acl_text(const struct s3_acl *acl);
/* An object's ACL to store: NULL when it is what no ACL means (private, owned by bucket_owner). */
char *gw_acl_object_text(const struct s3_acl *acl, const char *bucket_owner);
/* ---- buckets open to anonymous writes, and a stored ACL read back (public.c) ---- */

/* The ACL in its stored form (NULL: none, private) of a resource whose owner defaults to owner;
 * text that does not decode grants nothing. */
void gw_acl_load(const char *text, const char *owner, struct s3_acl *acl);
/* A read of the list: new (loop), read (store thread), install (loop), end (installs if not yet; frees). */
struct gw_acl_public_job;
struct gw_acl_public_job *gw_acl_public_job_new(struct gw *gw);
void gw_acl_public_job_read(struct store *st, struct gw_acl_public_job *j);
void gw_acl_public_job_install(struct gw_acl_public_job *j);
void gw_acl_public_job_end(struct gw_acl_public_job *j);
/* Buckets granting WRITE to anyone: read again from the index (after a change; at start-up), and
 * asked by the intake. Loop thread. */
void gw_acl_public_refresh(struct gw *gw);
/* The same for a request that changed an ACL: then(r) answers it once the new list is in place
 * (not called when the client left). */
void gw_acl_public_refresh_then(struct gw_req *r, void (*then)(struct gw_req *r));
int gw_acl_public_write(const struct gw *gw, const char *bucket);
/* An unsigned request head (intake.c): does it name a bucket in that list? */
int gw_acl_anonymous_write(struct gw *gw, const struct s3_request *s3);
void gw_acl_public_free(struct gw *gw);

#endif

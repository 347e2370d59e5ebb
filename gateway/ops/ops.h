/* ops.h — helpers shared by the handlers of ops/: in ops/common.c, or in versions.c / objlock.c where said. */
#ifndef TGS3_GW_OPS_H
#define TGS3_GW_OPS_H

#include "gateway/gw.h"
#include "gateway/http/acl.h"
#include "gateway/ops/handlers.h"

/* Payload checks for a body-carrying request (chunked, sha256, Content-MD5, size). */
enum s3_err gw_body_check_init(struct gw_req *r, struct gw_body_check *chk);
void gw_add_etag(struct gw_req *r, const char *etag);
/* PutObject and UploadPart: checks the request's payload headers and starts
 * the engine on its body, streamed (intake.c) or buffered by h2o (may_pack:
 * a small one may go into a pack), with r held. When the engine is done r is
 * released and, if the client is still there, the failure is answered or
 * stored(r, p) runs on the loop. Returns the put (the caller owns it:
 * gw_put_free), or NULL when it could not start: the error is answered then
 * (unless the client is gone). */
struct gw_put *gw_put_body_start(struct gw_req *r, int may_pack, void (*stored)(struct gw_req *r, struct gw_put *p));
/* A stored body's size, ETag (MD5), time and verified checksum (into meta_json) on obj. */
void gw_put_fill_object(struct gw_put *p, struct store_object *obj);
/* Store thread, inside a transaction the caller began (st_so_far: how it went so far): the put's
 * blocks and obj are written and the transaction committed; on any failure it is rolled back and
 * the put's blocks are orphaned (PutObject, POST forms). Returns the outcome. */
enum store_status gw_put_commit_object(struct gw_put *put, struct store *st, struct store_object *obj,
                                       enum store_status st_so_far);
/* 200 with the ETag and verified checksum of a body just stored (PutObject, UploadPart). */
void gw_respond_stored(struct gw_req *r, const char *etag, const struct gw_put *put);
/* Store thread: is bucket missing from the index (a failed read is not
 * "missing")? The answer for an object that is not there: NoSuchBucket when
 * its bucket is missing too, else NoSuchKey. */
int gw_bucket_missing(struct store *st, const char *bucket);
enum s3_err gw_no_such_object(struct store *st, const char *bucket);
/* Answers 200 with the XML document in out, or 500 InternalError "response
 * too large" when failed (it did not fit); releases out. */
void gw_respond_xml_buf(struct gw_req *r, struct dbuf *out, int failed);
/* A gw_req_store_call done that answers 204 No Content (the deletes). */
void gw_answer_204(struct gw_req *r, void *op);
/* Verifies a small (XML) body against x-amz-content-sha256 and Content-MD5 on the loop. */
enum s3_err gw_small_body(struct gw_req *r, const char **body, size_t *len);
/* <AccessControlPolicy> of acl (owner and grants, in order); <Owner> alone. */
void gw_acl_render(struct s3_xml *x, struct dbuf *out, const struct s3_acl *acl);
void gw_owner_xml(struct s3_xml *x, const char *owner);
/* A listing's encoding-type (url or none) and max-keys (≤ STORE_MAX_LIST; default that); 0 when
 * either is malformed (answered: 400 InvalidArgument). */
int gw_list_params(struct gw_req *r, int *url, size_t *max_keys);
/* Element text, URL-encoded when the client asked for encoding-type=url (the listings). */
void gw_xml_elem_enc(struct s3_xml *x, int url, const char *name, const char *v);

/* Conditional writes: the request's If-Match / If-None-Match, snapshotted on
 * the loop (NULL when it has neither; free() it), checked against bucket/key's
 * current state (cond NULL = no condition). The check runs on the store
 * thread, inside the transaction that writes. */
struct s3_request *gw_write_conditions_snapshot(struct gw_req *r);
enum s3_err gw_write_conditions(struct store *st, const struct s3_request *cond, const char *bucket,
                                const char *key);
/* ops/versions.c, store thread: deletes bucket/key, or its version (store_object_delete_v; absent is deleted
 * already: S3E_OK; a locked version: AccessDenied), what it did into res.
 * With if_match (an ETag list or "*", If-Match of DeleteObject or <ETag> of
 * DeleteObjects) the object must be there (S3E_NO_SUCH_KEY) with a listed
 * ETag (S3E_PRECONDITION_FAILED), checked in the transaction that deletes. */
enum s3_err gw_delete_if_match(struct store *st, const char *bucket, const char *key, const char *if_match,
                               const char *version, int bypass, struct store_deleted *res);
/* ---- versions (ops/versions.c) ---- */
/* A versionId (query parameter, copy source, DeleteObjects entry) that cannot be one of ours:
 * S3E_INVALID_ARGUMENT with AWS's message; NULL is none and fine. */
enum s3_err gw_version_check(const char *v, const char **message);
/* The request's versionId into *version (NULL: none); 0 when it is malformed (answered). */
int gw_version_param(struct gw_req *r, const char **version);
/* Store thread: clears version_id when bucket was never versioned (S3 names no version there). */
void gw_version_visible(struct store *st, const char *bucket, char version_id[STORE_VERSION_LEN]);
/* x-amz-version-id (when version_id is not empty) and x-amz-delete-marker: true. */
void gw_version_headers(struct gw_req *r, const char *version_id, int delete_marker);
/* x-amz-bypass-governance-retention: true from the bucket's owner (loop thread). */
int gw_bypass_governance(struct gw_req *r);

/* 1 when the request's x-amz-tagging header is absent or well formed; else
 * answers its error (400 InvalidTag) and returns 0. */
int gw_tagging_header_ok(struct gw_req *r);
/* A malloc'd copy of the request's method and of the named headers (names
 * must be static strings, at most 16), for s3_ rules evaluated on the store
 * thread after h2o may have freed the request. free() it. */
struct s3_request *gw_req_snapshot(struct gw_req *r, const char *const *names, size_t n);

/* ACLs of object writes (ops/acl.c). The stored ACL of the object the request writes (PutObject,
 * CopyObject, CreateMultipartUpload) from its x-amz-acl / x-amz-grant-* headers (checked by
 * access.c), owned by its writer (anonymous: the bucket's owner); NULL: private to the bucket's
 * owner. malloc'd. Loop thread. */
char *gw_acl_object_for_write(struct gw_req *r);
/* An upload's meta_json carries the ACL its object gets at CompleteMultipartUpload: _with_acl
 * adds it (acl NULL: none); _take_acl returns the meta_json without it and the ACL in *acl (or
 * NULL). Both malloc'd. */
char *gw_meta_with_acl(const char *meta_json, const char *acl);
char *gw_meta_take_acl(const char *meta_json, char **acl);

/* policy.c: a POST policy (the base64-decoded JSON of the "policy" field) checked
 * against the form as AWS does (PostObject, "Creating a POST policy"):
 * expiration (ISO 8601) not past now (unix seconds), every condition
 * ({"f": "v"}, ["eq", "$f", "v"], ["starts-with", "$f", "p"],
 * ["content-length-range", min, max]) met by the form's fields (bucket: the
 * request's bucket; key: after ${filename}), and every field other than the
 * exempt ones (policy, file, x-amz-signature, signature, AWSAccessKeyId,
 * x-ignore- prefixed) named by a condition. On success *min_len and *max_len hold the
 * content-length-range (0 and INT64_MAX without one). Errors:
 * S3E_INVALID_POLICY_DOCUMENT (unreadable policy), S3E_ACCESS_DENIED
 * (expired, a condition failed, extra fields), with AWS's message in msg. */
enum s3_err gw_post_policy_check(const char *json, size_t len, const struct s3_form_head *form, const char *bucket,
                                 const char *key, int64_t now, int64_t *min_len, int64_t *max_len, char *msg,
                                 size_t msgsz) WARN_UNUSED;

/* Object Lock of writes and reads (ops/objlock.c). Loop thread (they read the request's headers).
 * gw_lock_for_put: obj's lock_mode, lock_until_ms and legal_hold from the request's
 * x-amz-object-lock-mode / -retain-until-date / -legal-hold headers, else the bucket's default
 * retention from now (ms: the gateway's clock; Days, or Years of 365 days); none without either.
 * Errors: the headers' own (S3E_INVALID_ARGUMENT, AWS's message in msg with _msg), lock headers on a
 * bucket without Object Lock (S3E_MISSING_LOCK_CONFIG) or without Content-MD5 / a checksum
 * (S3E_MISSING_CONTENT_MD5). */
enum s3_err gw_lock_for_put(struct gw_req *r, const struct store_bucket *b, int64_t now_ms, struct store_object *obj);
enum s3_err gw_lock_for_put_msg(struct gw_req *r, const struct store_bucket *b, int64_t now_ms,
                                struct store_object *obj, char *msg, size_t msgsz);
/* Any thread: obj's lock from headers h already read (s3_lock_headers_parse) or b's default retention,
 * as gw_lock_for_put (CopyObject reads the headers on the loop and the bucket in its store job). */
enum s3_err gw_lock_apply(const struct s3_lock_headers *h, const struct store_bucket *b, int64_t now_ms,
                          struct store_object *obj);
/* x-amz-object-lock-mode, -retain-until-date (ISO 8601, Z) and -legal-hold (ON) of a GET/HEAD answer, when set. */
void gw_lock_headers(struct gw_req *r, const struct store_object *obj);
/* Does the request carry Content-MD5, an x-amz-checksum-*, x-amz-sdk-checksum-algorithm or a checksum trailer? */
int gw_lock_integrity_given(struct gw_req *r);
/* x-amz-bypass-governance-retention: true (loop thread); it counts (gw_lock_bypass, any thread) only
 * for the bucket's owner: GOVERNANCE retention may then be shortened, removed or deleted through. */
int gw_lock_bypass_asked(struct gw_req *r);
int gw_lock_bypass(struct gw_req *r, const struct store_bucket *b, int asked);
/* Multipart uploads. CreateMultipartUpload (loop): the request's x-amz-object-lock-* headers, read
 * against now, go into the upload's *meta_json (replaced); errors as gw_lock_for_put's header errors.
 * gw_lock_upload_check (store thread, create): S3E_MISSING_LOCK_CONFIG when the upload asks for a
 * lock and bucket has no Object Lock. gw_lock_for_complete (store thread, CompleteMultipartUpload):
 * takes the lock out of *meta_json (replaced) into obj, else the bucket's default retention from now;
 * S3E_MISSING_LOCK_CONFIG when the upload asked for a lock and the bucket has no Object Lock. */
enum s3_err gw_lock_upload_headers(struct gw_req *r, int64_t now_ms, char **meta_json, char *msg, size_t msgsz);
enum s3_err gw_lock_upload_check(struct store *st, const char *bucket, const char *meta_json);
enum s3_err gw_lock_for_complete(struct store *st, const char *bucket, int64_t now_ms, char **meta_json,
                                 struct store_object *obj);
/* CreateBucket: x-amz-bucket-object-lock-enabled: true (loop thread); then, on the store thread
 * right after the bucket is created, versioning Enabled and Object Lock on (no default retention). */
int gw_lock_create_asked(struct gw_req *r);
enum s3_err gw_lock_bucket_create(struct store *st, const char *bucket);

#endif

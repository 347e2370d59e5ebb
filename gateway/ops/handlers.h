/* handlers.h — the S3 operation handlers (gateway/ops/), as the server dispatches them, and the CORS
 * step every routed request passes (ops/cors.c). */
#ifndef TGS3_GW_HANDLERS_H
#define TGS3_GW_HANDLERS_H

#include "gateway/gw.h"

void gw_op_list_buckets(struct gw_req *r);
void gw_op_create_bucket(struct gw_req *r);
void gw_op_delete_bucket(struct gw_req *r);
void gw_op_head_bucket(struct gw_req *r);
void gw_op_get_bucket_location(struct gw_req *r);
void gw_op_bucket_stub(struct gw_req *r); /* GetBucketTagging */
void gw_op_list_objects(struct gw_req *r);
void gw_op_list_versions(struct gw_req *r); /* ops/versions.c */
void gw_op_put_object(struct gw_req *r);
void gw_op_post_object(struct gw_req *r); /* ops/post.c: HTML form upload, authenticated by its form */
void gw_op_get_object(struct gw_req *r); /* GET and HEAD */
void gw_op_delete_object(struct gw_req *r);
void gw_op_delete_objects(struct gw_req *r);
void gw_op_create_multipart(struct gw_req *r);
void gw_op_upload_part(struct gw_req *r);
void gw_op_complete_multipart(struct gw_req *r);
void gw_op_abort_multipart(struct gw_req *r);
void gw_op_list_parts(struct gw_req *r);
void gw_op_list_uploads(struct gw_req *r);
void gw_op_copy_object(struct gw_req *r);      /* ops/copy.c */
void gw_op_upload_part_copy(struct gw_req *r); /* ops/copy.c */
void gw_op_get_object_tagging(struct gw_req *r);    /* ops/tagging.c */
void gw_op_get_object_attributes(struct gw_req *r); /* ops/attributes.c */
void gw_op_put_object_tagging(struct gw_req *r);    /* ops/tagging.c */
void gw_op_delete_object_tagging(struct gw_req *r); /* ops/tagging.c */
void gw_op_get_bucket_cors(struct gw_req *r);       /* ops/cors.c */
void gw_op_put_bucket_cors(struct gw_req *r);       /* ops/cors.c */
void gw_op_delete_bucket_cors(struct gw_req *r);    /* ops/cors.c */
void gw_op_get_bucket_lifecycle(struct gw_req *r);    /* ops/lifecycle.c */
void gw_op_put_bucket_lifecycle(struct gw_req *r);    /* ops/lifecycle.c */
void gw_op_delete_bucket_lifecycle(struct gw_req *r); /* ops/lifecycle.c */
/* OPTIONS: a browser's preflight, answered from the bucket's CORS rules without authentication. */
void gw_op_cors_preflight(struct gw_req *r);        /* ops/cors.c */
/* A request carrying Origin gets the matching CORS rule's headers on its
 * answer (whatever it is) before next(r) runs; at once when it names no
 * bucket or no Origin, or the bucket's rules are cached. ops/cors.c. */
void gw_cors_then(struct gw_req *r, void (*next)(struct gw_req *r));
/* A bucket's CORS rules changed or it was deleted: the cached rules go. */
void gw_cors_forget(struct gw *gw, const char *bucket);
void gw_cors_cache_free(struct gw *gw); /* at shutdown */

void gw_op_get_acl(struct gw_req *r);  /* GetBucketAcl, GetObjectAcl (ops/acl.c) */
void gw_op_put_acl(struct gw_req *r);  /* PutBucketAcl, PutObjectAcl */
void gw_op_public_access_block(struct gw_req *r); /* Get/Put/DeletePublicAccessBlock */

void gw_op_get_bucket_versioning(struct gw_req *r);         /* ops/objlock.c */
void gw_op_put_bucket_versioning(struct gw_req *r);         /* ops/objlock.c */
void gw_op_get_object_lock_configuration(struct gw_req *r); /* ops/objlock.c */
void gw_op_put_object_lock_configuration(struct gw_req *r); /* ops/objlock.c */
void gw_op_get_object_retention(struct gw_req *r);          /* ops/objlock.c */
void gw_op_put_object_retention(struct gw_req *r);          /* ops/objlock.c */
void gw_op_get_object_legal_hold(struct gw_req *r);         /* ops/objlock.c */
void gw_op_put_object_legal_hold(struct gw_req *r);         /* ops/objlock.c */

#endif

/* gw.h — the tgs3 gateway's internal interfaces (prefix gw_).
 *
 * The gateway glues the pure S3 library (s3/), the Bot API client
 * (telegram/) and the index (gateway/store/) together on one libuv loop that
 * runs h2o and curl. Files:
 *   main.c       command line, sub-commands, start-up and shutdown
 *   config.c     options: flags and TGS3_* environment, defaults, checks
 *   server.c     h2o listener, request context, auth, dispatch, responses
 *   storeq.c     the store thread: SQLite jobs off the loop, completions back on it
 *   engine.c     block pipeline: verify and split bodies, upload blocks under
 *                a global budget; fetch blocks for GETs under a read budget
 *   meta.c       stored object headers and user metadata (meta_json)
 *   ops_bucket.c bucket operations and listings
 *   ops_object.c PUT/GET/HEAD/DELETE object
 *   ops_multipart.c multipart uploads
 *   ops_copy.c   CopyObject and UploadPartCopy (extents shared, nothing uploaded)
 *   gc.c         the delete queue runner
 *
 * Threads: the loop thread owns every h2o and curl object and every struct
 * gw_req; the store thread only runs store jobs over job-owned copies; libuv's
 * pool runs body verification over the request entity (HTTP/1 only: h2o stops
 * reading the socket once the body is in, so the entity cannot be freed while
 * a request is being processed; HTTP/2 upgrade is disabled for this reason).
 */
#ifndef TGS3_GW_H
#define TGS3_GW_H

#include <h2o.h>

#include "common/common.h"
#include "gateway/store/store.h"
#include "s3/s3.h"
#include "telegram/tg.h"

/* ---- configuration -------------------------------------------------------- */

struct gw_user {
    char *access_key;
    char *secret_key; /* secret: cleansed on free */
};

struct gw_config {
    char *listen;        /* HOST:PORT */
    char *data_dir;
    char *botapi_url;
    char **bot_tokens;   /* secrets */
    size_t n_bot_tokens;
    int64_t *chat_ids;
    size_t n_chat_ids;
    enum tg_mode mode;
    int64_t block_size;        /* bytes */
    struct gw_user *users;
    size_t n_users;
    char *region;
    char *staging_dir;         /* local mode: upload by file:// from here (NULL: multipart POST) */
    char *domain;              /* virtual-hosted-style base domain, or NULL */
    int64_t max_body;          /* bytes: largest single PUT / part body */
    int max_upload_blocks;     /* blocks being uploaded at once, all requests */
    int max_fetch_blocks;      /* fetched blocks held in memory at once, all requests */
    int max_waiting;           /* requests queued for a budget before 503 SlowDown */
    int max_connections;
    int64_t gc_grace_ms;
    int64_t gc_interval_ms;
    int64_t upload_expiry_ms;  /* unfinished multipart uploads expire after this */
    int64_t req_timeout_ms;    /* h2o http1 request timeout (whole body must arrive within it) */
    char *log_level;
    char *log_file;
};

void gw_config_init(struct gw_config *cfg);
void gw_config_release(struct gw_config *cfg);
/* Parses flags (argv after the sub-command) over TGS3_* environment over
 * defaults. Returns 0, or -1 after printing a clear message to stderr. */
int gw_config_parse(struct gw_config *cfg, int argc, char **argv);
void gw_config_usage(FILE *fp);
/* Checks cross-option rules (block size vs mode, at least one user…). */
int gw_config_check(const struct gw_config *cfg);

/* ---- the gateway ---------------------------------------------------------- */

struct gw_bot {
    char *token; /* secret */
    int64_t id;  /* digits before ':' */
};

struct gw_storeq;
struct gw_put;
struct gw_fetch;

struct gw {
    struct gw_config cfg;
    uv_loop_t *loop;
    h2o_globalconf_t h2o_config;
    h2o_context_t h2o_ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    int listening;
    struct tg_client *tg;
    struct gw_storeq *storeq;
    struct gw_bot *bots;
    size_t n_bots;
    size_t rr_next; /* round-robin cursor over (bot, chat) pairs */

    /* upload budget: blocks in flight to Telegram */
    int up_inflight;
    struct gw_put *up_wait_head, *up_wait_tail;
    int up_waiting;

    /* fetch budget: block buffers held (fetching or fetched) */
    int fetch_held;
    struct gw_fetch *fetch_wait_head, *fetch_wait_tail;
    int fetch_waiting;

    uv_timer_t gc_timer;
    int gc_busy;
    uint64_t req_seq;
    int connections;
    int active;    /* requests being processed */
    int stopping;
};

/* ---- server (server.c) ------------------------------------------------------ */

int gw_server_start(struct gw *gw);           /* binds --listen; 0 or -1 (logged) */
void gw_server_stop_accepting(struct gw *gw); /* closes the listener */
void gw_server_dispose(struct gw *gw);        /* after the loop has drained */

/* ---- request context (server.c) ------------------------------------------- */

struct gw_req {
    struct gw *gw;
    h2o_req_t *req;  /* NULL once h2o has disposed the request */
    int pending;     /* async operations holding this context */
    char id[17];     /* request id (hex) */
    struct s3_request s3;
    struct s3_header *hdrs;
    struct s3_route route;
    struct s3_auth auth;
    int has_auth;
    void *op;        /* operation state, owned by the handler */
    void (*op_free)(struct gw_req *r); /* releases op when the context dies */
};

/* Async discipline: gw_req_hold before starting async work; in its
 * completion call gw_req_release, and only if it returns 1 is r->req alive. */
void gw_req_hold(struct gw_req *r);
int gw_req_release(struct gw_req *r) WARN_UNUSED;

const char *gw_req_header(struct gw_req *r, const char *name, size_t *len);
void gw_add_header(struct gw_req *r, const char *name, const char *value, size_t len);
void gw_respond_error(struct gw_req *r, enum s3_err e, const char *message);
void gw_respond_xml(struct gw_req *r, int status, const char *body, size_t len);
void gw_respond_empty(struct gw_req *r, int status);
/* Maps store failures to S3 errors (the one place). */
enum s3_err gw_store_err(enum store_status s);
/* Owner of the request (authenticated access key). */
const char *gw_req_user(struct gw_req *r);

/* ---- store thread (storeq.c) ---------------------------------------------- */

typedef void (*gw_store_run_fn)(struct store *st, void *arg); /* store thread */
typedef void (*gw_store_done_fn)(void *arg);                 /* loop thread */
struct gw_storeq *gw_storeq_new(struct gw *gw, struct store *st);
/* Runs the remaining jobs, stops the thread, closes the store. */
void gw_storeq_free(struct gw_storeq *q);
void gw_store_call(struct gw *gw, gw_store_run_fn run, gw_store_done_fn done, void *arg);
/* Synchronous use before the loop runs (start-up checks, sub-commands). */
struct store *gw_storeq_store(struct gw_storeq *q);

/* ---- engine (engine.c) ---------------------------------------------------- */

/* Body verification + block upload for PUT and UploadPart. */
struct gw_body_check {
    int chunked;               /* aws-chunked: decode in place first */
    int verify_sha256;         /* compare against auth payload hash */
    int has_md5;               /* Content-MD5 given */
    unsigned char md5[16];
};
typedef void (*gw_put_cb)(struct gw_put *p, enum s3_err err, void *ud);
/* Starts verifying data (in place if chunked) and uploading it as blocks.
 * data must stay valid until the callback. On success the callback gets
 * gw_put_md5_hex/gw_put_extents; on failure nothing is referenced and the
 * blocks already posted are queued for deletion. */
struct gw_put *gw_put_start(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                            char *data, size_t len, const char *tag, gw_put_cb cb, void *ud);
const char *gw_put_md5_hex(const struct gw_put *p);
size_t gw_put_size(const struct gw_put *p);
/* New blocks with extents covering the body in order (block ids unset). */
size_t gw_put_blocks(const struct gw_put *p, struct store_block **blocks);
/* In the store thread: inserts the put's blocks and fills extents (malloc'd). */
enum store_status gw_put_commit_blocks(struct gw_put *p, struct store *st, struct store_extent **ext, size_t *n);
/* On a failed commit: queue the posted blocks for deletion (store thread). */
void gw_put_orphan_blocks(struct gw_put *p, struct store *st);
/* After the caller's transaction with gw_put_commit_blocks committed. */
void gw_put_mark_committed(struct gw_put *p);
/* Cancels outstanding uploads (request gone) or frees a finished put; posted
 * blocks not committed to the index are queued for deletion. */
void gw_put_free(struct gw_put *p);

/* Block fetching for GET. */
typedef void (*gw_fetch_cb)(struct gw_fetch *f, enum s3_err err, void *ud);
/* Fetches the block of ext (waiting for a read budget slot unless
 * opportunistic, in which case NULL is returned when no slot is free). */
struct gw_fetch *gw_fetch_start(struct gw *gw, const struct store_block *blk, int opportunistic, gw_fetch_cb cb,
                                void *ud);
const unsigned char *gw_fetch_data(const struct gw_fetch *f, size_t *len);
/* Releases the buffer and the budget slot; cancels if still running. */
void gw_fetch_free(struct gw_fetch *f);

/* Blocks → Telegram deletion (gc.c). */
void gw_gc_start(struct gw *gw);
void gw_gc_stop(struct gw *gw);
struct gw_bot *gw_bot_by_id(struct gw *gw, int64_t bot_id);

/* ---- metadata (meta.c) ---------------------------------------------------- */

/* Builds the meta_json kept with an object from the request's headers:
 * Content-Type (default binary/octet-stream), Content-Encoding (minus
 * aws-chunked), Content-Disposition, Content-Language, Cache-Control,
 * Expires, x-amz-meta-*, x-amz-tagging. Returns malloc'd JSON text. */
char *gw_meta_from_request(struct gw_req *r);
/* Adds the stored headers of meta_json to the response. */
void gw_meta_to_response(struct gw_req *r, const char *meta_json);
/* Sets/gets a top-level field in meta_json (returns new malloc'd text). */
char *gw_meta_set_parts(const char *meta_json, const int64_t *part_sizes, size_t n);
/* CopyObject: the source's meta_json with, when replace_meta, the stored
 * headers and user metadata of req_meta (x-amz-metadata-directive: REPLACE)
 * and, when replace_tags, its tags (x-amz-tagging-directive: REPLACE). Part
 * sizes and checksum stay the source's (same bytes). Returns malloc'd text. */
char *gw_meta_copy(const char *src_meta, const char *req_meta, int replace_meta, int replace_tags);
/* Replaces the object's tags (n = 0 removes them); returns malloc'd text. */
char *gw_meta_set_tags(const char *meta_json, const struct s3_tag *tags, size_t n);
/* Reads up to max tags into tags; returns how many. */
size_t gw_meta_get_tags(const char *meta_json, struct s3_tag *tags, size_t max);
/* Records the verified whole-object checksum ("crc32", base64); malloc'd text. */
char *gw_meta_set_checksum(const char *meta_json, const char *alg, const char *b64);
/* GET/HEAD: x-amz-tagging-count, and the stored checksum when the request
 * has x-amz-checksum-mode: ENABLED and full_object (no range/part). */
void gw_meta_extra_to_response(struct gw_req *r, const char *meta_json, int full_object);

/* ---- handlers ------------------------------------------------------------- */

void gw_op_list_buckets(struct gw_req *r);
void gw_op_create_bucket(struct gw_req *r);
void gw_op_delete_bucket(struct gw_req *r);
void gw_op_head_bucket(struct gw_req *r);
void gw_op_get_bucket_location(struct gw_req *r);
void gw_op_bucket_stub(struct gw_req *r); /* versioning, acl, tagging */
void gw_op_list_objects(struct gw_req *r);
void gw_op_put_object(struct gw_req *r);
void gw_op_get_object(struct gw_req *r); /* GET and HEAD */
void gw_op_delete_object(struct gw_req *r);
void gw_op_delete_objects(struct gw_req *r);
void gw_op_object_stub(struct gw_req *r); /* acl, tagging */
void gw_op_create_multipart(struct gw_req *r);
void gw_op_upload_part(struct gw_req *r);
void gw_op_complete_multipart(struct gw_req *r);
void gw_op_abort_multipart(struct gw_req *r);
void gw_op_list_parts(struct gw_req *r);
void gw_op_list_uploads(struct gw_req *r);
void gw_op_copy_object(struct gw_req *r);      /* ops_copy.c */
void gw_op_upload_part_copy(struct gw_req *r); /* ops_copy.c */

/* Random hex id of 2*n chars into out (2n+1 bytes). */
void gw_random_hex(char *out, size_t n);

#endif

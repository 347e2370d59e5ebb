/* gw.h — the tgs3 gateway's internal interfaces (prefix gw_).
 *
 * The gateway glues the pure S3 library (s3/), the Bot API client
 * (telegram/) and the index (gateway/store/) together on one libuv loop that
 * runs h2o and curl. Its layers, each a folder, calls pointing down
 * (main -> server/admin -> ops -> engine -> http helpers -> store thread;
 * safety beside ops, using the engine):
 *   main.c       command line, sub-commands, start-up and shutdown
 *   config.c     options: flags and TGS3_* environment, defaults, checks
 *   server.c     h2o listener, request context, dispatch, responses
 *   admin.c      admin listener: /metrics, /healthz, /readyz; access log
 *   setup.c      the one start-up: data-dir lock, index, store thread, bots, Bot API client
 *   storeq.c     the store thread: SQLite jobs off the loop, completions back on it
 *   http/        what a request is before an operation runs:
 *     req.c      the request context and its answers (headers, XML, errors), and
 *                store jobs on a request's behalf (gw_req_store_call)
 *     intake.c   request heads checked before their bodies; large PUT bodies streamed
 *     auth.c     SigV4 against the configured users; request ids
 *     access.c   the access check before each operation (by the ACLs); the
 *                request's bucket read before a handler goes on (gw_with_bucket)
 *     acl.c      who may do what: permissions of operations, the ACL decision,
 *                the request's own ACL, buckets open to anonymous writes
 *     meta.c     stored object headers and user metadata (meta_json)
 *   ops/         S3 operations, one file per family (ops.h: their shared helpers):
 *     bucket.c   bucket operations, listings (V1, V2, object versions), DeleteObjects
 *     object.c   PUT/GET/HEAD/DELETE object
 *     multipart.c multipart uploads
 *     copy.c     CopyObject and UploadPartCopy (extents shared, nothing uploaded)
 *     tagging.c  object tags (Put/Get/DeleteObjectTagging)
 *     cors.c     bucket CORS rules (Put/Get/DeleteBucketCors), preflights (OPTIONS, no
 *                credentials) and the CORS headers of requests carrying Origin
 *     acl.c      Get/Put Bucket/Object ACLs, PublicAccessBlock, the ACL an object write stores
 *   engine/      the block pipeline:
 *     put.c      verify and split bodies, upload blocks under a global budget
 *                (put_work.c: its jobs on libuv's pool; put_int.h: their shared state)
 *     fetch.c    fetch and verify blocks for GETs under a read budget
 *     cache.c    block cache on local disk; one Telegram read per block at a time
 *     opened.c   verified blocks kept in memory, shared by reference
 *     reader.c   reading a block through whichever bot can
 *     sched.c    which (bot, chat) pair posts each block, and when
 *     post.c     sending a block's document; finding posts whose answer was lost
 *     pack.c     small-object packing; compact.c moves live objects out of dead packs
 *     gc.c       the delete queue runner
 *     stripe_send.c, stripe_read.c (stripe.h)  blocks as K + M shards in different
 *                chats: posted to distinct chats, read back from any K good ones
 *     chats.c    each storage chat's health: refusing, back, lost
 *     damage.c   bad shards and lost chats into the durable repair queue
 *     repair.c   missing or damaged shards rebuilt into live chats
 *     rebuild.c  a block's shards posted again from its document (repair, upgrade)
 *     scrub.c    every shard read back and verified; bad ones queued for repair
 *     upgrade.c  a block stored as one document made a stripe (during the scrub)
 *   safety/      what keeps the index and Telegram in step:
 *     keys.c     the master key, the journal sweep, the tools' set-up
 *     strays.c   after a crash: finds the posts whose answers it swallowed, deletes them;
 *                after a recovery: deletes the posts in the sweep windows nothing references
 *     sweep.c    tgs3 recover's sweep windows: where the lost run's unknown posts can be
 *     snapshot.c sealed index snapshots; tgs3 snapshot and recover
 *     fsck.c     tgs3 fsck [--repair]
 *     cmd_stats.c, cmd_gc.c, cmd_scrub.c, cmd_chat.c, cmd_repair.c  tgs3 stats, gc, scrub,
 *                chat retire, repair
 *   store/, blocks/  the SQLite index (store_*) and the block format (blk_*)
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
#include "gateway/blocks/blk.h"
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
    int max_connections;       /* at the cap, the longest idle connection is closed for a new one */
    int64_t header_timeout_ms; /* a request head must be complete this long after its first byte (or the accept) */
    int64_t body_min_rate;     /* bytes/s a streamed body keeps arriving at, or loses its slot; 0 = no floor */
    int64_t max_spill;         /* bytes of request bodies buffered by h2o at once, all requests */
    int64_t gc_grace_ms;
    int64_t gc_interval_ms;
    int64_t upload_expiry_ms;  /* unfinished multipart uploads expire after this */
    int64_t req_timeout_ms;    /* h2o http1 request timeout (whole body must arrive within it) */
    char *log_level;
    char *log_file;
    char *key_file;               /* master keys (default DATA_DIR/master.key); secret, never logged */
    int no_encryption;            /* blocks posted unsealed (keyed hashes still verify them) */
    int64_t snapshot_interval_ms; /* a new chain (snapshot) at the latest this long after the last; 0 = by size only */
    int64_t clock_offset_ms;      /* --clock-offset: added to now_ms() (retention, lifecycle, the 48-hour rule) */
    int64_t journal_interval_ms;  /* index changes go to Telegram at most this often; 0 = no journal, no snapshots */
    double rate_pair_per_min;      /* posts per (bot, chat) per minute */
    double rate_bot_per_sec;       /* posts per bot per second */
    double rate_chat_per_min;      /* posts per chat per minute, all bots; 0 = no limit */
    int64_t max_schedule_wait_ms;  /* an upload that cannot post a block for this long gets 503 SlowDown */
    int64_t chat_max_messages;     /* rollover: a chat holding this many blocks takes no more */
    char *admin_listen;         /* HOST:PORT of /metrics, /healthz, /readyz; "off" disables */
    int64_t health_interval_ms; /* between periodic getMe and index-statistics reads */
    int64_t shutdown_grace_ms;  /* SIGTERM: how long requests in flight may take to finish */
    char *cache_dir;            /* block cache (default DATA_DIR/cache) */
    char *redundancy;           /* none | mirror | rs:K+M | auto (gw_config_redundancy) */
    int64_t chat_lost_after_ms; /* a chat refusing this long is lost (its shards rebuilt elsewhere) */
    int64_t scrub_interval_ms;  /* one background scrub pass over every shard takes this long (0 = off) */
    int64_t cache_size;         /* bytes of cached blocks; 0 = no disk cache */
    int64_t pack_threshold;     /* bytes: PUT bodies under this are packed */
    int64_t pack_delay_ms;      /* a pack is posted this long after its first object at the latest */
    int pack_compact_pct;       /* a posted pack this % dead is compacted by GC; 0 = never */
    int no_packing;
    int64_t stray_probe_max;      /* message ids the start-up stray probe may read (forwards); 0 = no probe */
    int64_t stray_probe_delay_ms; /* the probe starts this long after start-up (late posts of the crashed run land) */
    int sigv2;                    /* accept SigV2 (--sigv2 on, the default); off: InvalidRequest 400 */
    int64_t lifecycle_interval_ms; /* between runs of the buckets' lifecycle rules (engine/lifecycle.c) */
};

void gw_config_init(struct gw_config *cfg);
void gw_config_release(struct gw_config *cfg);
/* Parses flags (argv after the sub-command) over TGS3_* environment over
 * the --config file over defaults. Returns 0; 1 when --print-config printed
 * the result (the caller exits 0); or -1 after printing a clear message to
 * stderr. --help prints the options and exits. */
int gw_config_parse(struct gw_config *cfg, int argc, char **argv);
/* --redundancy as given, "auto" when unset. */
const char *gw_config_redundancy(const struct gw_config *cfg);
void gw_config_usage(FILE *fp);
/* Checks cross-option rules (block size vs mode, at least one user…). */
int gw_config_check(const struct gw_config *cfg);

/* ---- the gateway ---------------------------------------------------------- */

struct gw_bot {
    char *token; /* secret */
    int64_t id;  /* digits before ':' */
};

struct blk_ec;
struct gw_storeq;
struct gw_req;
struct gw_put;
struct gw_fetch;
struct gw_cache;
struct gw_opened_set;
struct gw_packer;
struct gw_cors_cache;
struct gw_lifecycle;

struct gw {
    struct gw_config cfg;
    uv_loop_t *loop;
    uv_timer_t wake;          /* while a tool or the start-up waits on the loop (gw_wake_start) */
    h2o_globalconf_t h2o_config;
    h2o_context_t h2o_ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    int listening;
    struct tg_client *tg;
    struct gw_storeq *storeq;
    struct gw_bot *bots;
    size_t n_bots;
    struct blk_keyring *keys; /* sealing, dedup and snapshot keys (gateway/blocks); NULL only in tests */
    struct gw_journal *journal; /* the index's journal in Telegram (journal.c); NULL when off */
    size_t rr_next; /* round-robin cursor over bots for reads that need another bot */
    struct blk_ec *ec;      /* Reed–Solomon tables of the stripe layout (NULL: unprotected) */
    struct gw_ec_slot {     /* tables of every layout met so far (gw_ec_for) */
        int k, m;
        struct blk_ec *ec;
    } ecs[8];
    size_t n_ecs;
    int red_k, red_m;       /* --redundancy: K data + M parity shards per block (1 + 0: one document) */
    struct gw_chats *chats; /* health of each storage chat (chats.c) */
    struct gw_repair *repair; /* the runner of the repair queue (repair.c) */
    void (*repair_wake)(struct gw *gw); /* set while the runner runs: something was queued (damage.c) */
    struct gw_scrub *scrub;   /* the background scrub (scrub.c) */
    struct tg_pool *pool;   /* upload scheduler over bots × chats (sched.c) */
    int64_t *chat_blocks;   /* blocks per configured chat, for rollover */
    uv_timer_t sched_timer; /* wakes the scheduler when a pair's bucket refills */
    int sched_started;
    struct gw_post_slot *post_head, *post_tail; /* blocks waiting for a (bot, chat) pair */
    struct gw_hunts *hunts;  /* searches for orphans of lost answers (post.c) */
    size_t post_waiting;
    uint64_t sched_wait_ms; /* ms blocks waited for a (bot, chat) pair, summed (metrics) */

    /* upload budget: blocks in flight to Telegram */
    int up_inflight;
    struct gw_put *up_wait_head, *up_wait_tail;
    int up_waiting;

    /* fetch budget: block buffers held (fetching or fetched) */
    int fetch_held;
    struct gw_fetch *fetch_wait_head, *fetch_wait_tail;
    int fetch_waiting;
    struct gw_fetch *fetch_leaders; /* fetches others of the same block wait for */
    struct gw_fetch *fetch_parked;  /* those others */

    uv_timer_t gc_timer;
    int gc_busy;
    int gc_once;          /* tgs3 gc: no timer; gw_gc_run_now drives the runs */
    size_t gc_last_due;   /* queue items the last run found due */
    int64_t gc_horizon_ms; /* tgs3 gc --all: items due this far ahead count as due now */
    uint64_t gc_deleted, gc_failed, gc_unreclaimable; /* messages, since start */
    uint64_t req_seq;
    uint64_t bodies_streamed; /* claimed by the intake, since start */
    int connections;
    int conns_closing; /* of them, closed by the gateway and not gone yet */
    uint64_t spill_held;  /* bytes of request bodies h2o buffers (or may) for authenticated requests */
    uint64_t heads_refused, header_timeouts, conns_evicted, bodies_too_slow; /* since start (metrics) */
    int active;    /* requests being processed */
    int stopping;
    struct gw_admin *admin; /* admin listener, counters (admin.c) */
    struct gw_cache *cache; /* block cache and read coalescing (cache.c) */
    struct gw_opened_set *opened; /* verified blocks kept in memory (opened.c) */
    struct gw_packer *packer; /* small-object packing, NULL when off (pack.c) */
    struct gw_compact *compact; /* pack compaction (compact.c) */
    struct gw_strays *strays; /* the start-up search for strays of a crash, NULL when none (strays.c) */
    struct gw_conn *conns;  /* accepted S3 connections (server.c) */
    struct gw_cors_cache *cors; /* buckets' CORS rules last read (ops/cors.c) */
    void (*request_done)(struct gw_req *r); /* each request as h2o disposes it (admin.c's access log), or NULL */
    struct gw_acl_public *acl_public; /* buckets granting WRITE to anonymous, for the intake (http/acl.c) */
    struct gw_lifecycle *lifecycle; /* the lifecycle runner (engine/lifecycle.c) */
};

/* An accepted S3 connection (server.c); h2o owns handle->data, so the
 * gateway's state rides beside the handle. */
struct gw_conn {
    uv_tcp_t tcp;
    struct gw *gw;
    h2o_socket_t *sock;             /* NULL until h2o owns the connection */
    struct gw_conn *prev, *next;    /* gw->conns */
    /* intake.c */
    struct gw_conn *hnext;          /* socket lookup chain */
    int fresh;                      /* h2o has not started reading yet */
    h2o_socket_cb h2o_read_cb;      /* h2o's reader, called after the intake looked */
    size_t head_len;                /* of the head whose body is streamed */
    uint64_t body_len;
    int expect_continue;
    struct gw_body *body;           /* being streamed, or NULL */
    uv_write_t cont_write;          /* "100 Continue" */
    /* the head in front of h2o (intake.c) */
    int checked;                    /* the head at the front of the input was checked (its request is on) */
    int handled;                    /* ... and reached the handler: the next head starts a new request */
    int chunked;                    /* ... and h2o buffers its chunked body: its spill grows as it arrives */
    char te_value[8], expect_value[13]; /* the head's Transfer-Encoding / Expect as sent, which h2o drops; "" */
    int closing;                    /* closed by the gateway (header timeout, room for another) */
    enum s3_err verdict;            /* the checked head is answered with this, unread (S3E_OK: it is not) */
    int64_t head_since_ms;          /* an incomplete head's first byte (a new connection: its accept); 0: none */
    int64_t idle_since_ms;          /* kept alive with no byte of a next head since; 0: not idle */
    uint64_t spill;                 /* bytes of gw->spill_held reserved for the checked head's buffered body */
    char *answer;                   /* an answer written by the intake itself, until the socket closes */
};

/* ---- intake (intake.c): large PUT bodies read as the engine asks --------------- */

struct gw_body;
typedef void (*gw_body_cb)(struct gw_body *b, enum s3_err err, void *ud);
void gw_intake_start(struct gw *gw);
void gw_intake_stop(struct gw *gw);
void gw_intake_register(struct gw_conn *c);   /* before h2o_accept */
void gw_intake_accepted(struct gw_conn *c);   /* after h2o_accept: warns once if h2o bypassed the intake */
void gw_intake_unregister(struct gw_conn *c); /* the connection closed */
/* In the handler: the streamed body of req, or NULL when h2o buffered it
 * (req->entity). Owned by the caller (gw_body_free). */
struct gw_body *gw_body_claim(struct gw *gw, h2o_req_t *req);
uint64_t gw_body_len(const struct gw_body *b);
uint64_t gw_body_received(const struct gw_body *b); /* bytes read so far */
int gw_intake_arriving(void); /* claimed bodies whose last byte has not been read yet */
/* The name the renamed Content-Length header has in h2o's view of a streamed request. */
int gw_body_is_header(const char *name, size_t len);
/* In the handler, first: the answer the intake gave req's head before its
 * body was read (S3E_OK: none; else answer it, the connection then closes). */
enum s3_err gw_intake_verdict(h2o_req_t *req);
/* The Transfer-Encoding ("chunked") and Expect ("100-continue") values req's
 * head carried as sent, or NULL: h2o drops both headers, and SigV4 may sign them. */
void gw_intake_dropped(h2o_req_t *req, const char **te, const char **expect);
/* At the connection cap: closes the connection idle longest (no request on
 * it, no byte of one), else the oldest incomplete head. 1 if one was closed. */
int gw_intake_make_room(struct gw *gw);
/* Uploads wait for a slot: streamed bodies that hold one below
 * --body-min-rate give it up soon (RequestTimeout), not after a full window. */
void gw_intake_reclaim(struct gw *gw);
/* Reads the next n bytes of the body into dst; cb runs later on the loop
 * (never from inside this call) with S3E_OK, IncompleteBody (the client
 * went away) or RequestTimeout. One read at a time. */
void gw_body_read(struct gw_body *b, unsigned char *dst, size_t n, gw_body_cb cb, void *ud);
void gw_body_cancel(struct gw_body *b);       /* the outstanding read's cb will not run */
void gw_body_request_gone(struct gw_body *b); /* h2o disposed the request */
void gw_body_free(struct gw_body *b);

/* ---- POST Object forms (form.c): fields first, then the file streamed --------- */

struct gw_form;
/* A form read from a streamed body (body, owned by the caller and outliving
 * the form) or from h2o's buffer (entity, the whole body). */
struct gw_form *gw_form_new(struct gw_body *body, const char *entity, size_t entity_len, const char *boundary,
                            size_t blen);
void gw_form_free(struct gw_form *f); /* cancels a read in progress; NULL ok */
/* Reads the form up to its file's first byte (at most S3_FORM_MAX_PRE
 * bytes); cb gets S3E_OK with gw_form_head, or the S3 error and a message
 * for it (or NULL). cb may run from inside this call. */
typedef void (*gw_form_cb)(struct gw_form *f, enum s3_err err, const char *message, void *ud);
void gw_form_read_head(struct gw_form *f, gw_form_cb cb, void *ud);
const struct s3_form_head *gw_form_head(const struct gw_form *f);
/* The policy's content-length-range for the file. */
void gw_form_set_range(struct gw_form *f, uint64_t min_len, uint64_t max_len);
/* 1 when the whole file is in memory already (*data, *len: valid while f
 * is); *err EntityTooLarge/EntityTooSmall against the range, or
 * MalformedPOSTRequest when the body ends inside the file (then 0). */
int gw_form_file_whole(struct gw_form *f, const char **data, size_t *len, enum s3_err *err);
/* Else the file is read as gw_form_source (src = f), whose length is at
 * most gw_form_file_bound_set(f) (pass it to gw_put_start_source). */
uint64_t gw_form_file_bound(const struct gw_form *f);
uint64_t gw_form_file_bound_set(struct gw_form *f);
extern const struct gw_put_source gw_form_source;
/* Reads and drops what follows the file (when short), then drained(ud), later on the loop. */
void gw_form_drain(struct gw_form *f, void (*drained)(void *ud), void *ud);

/* ---- authentication (auth.c) ---------------------------------------------- */

/* Verifies s3's SigV4 signature (header or presigned), or its SigV2 one
 * (header or query; S3E_SIGV2_DISABLED with --sigv2 off), against the configured
 * users at the current time: S3E_OK, or the S3 error. out (may be NULL) gets
 * the verified credentials; it holds a signing key: the caller cleanses it. */
enum s3_err gw_auth_verify(struct gw *gw, const struct s3_request *s3, struct s3_auth *out);
void gw_request_id_new(struct gw *gw, char out[17]); /* a new request id (16 hex digits) */

/* The intake's check of a request head (method, target with its query, headers) before its
 * body is read: the handler's own verification, or, for a head with no signature at all, is its
 * bucket open to anonymous writes (http/acl.c)? auth.c. */
enum s3_err gw_auth_head(struct gw *gw, const char *method, size_t method_len, const char *target,
                         size_t target_len, const struct s3_header *hs, size_t n);
/* Who is asking (auth.c): anonymous (no signature at all: *user 0) or a user whose signature
 * verifies (*user 1, out filled); anything else is the signature's error. */
enum s3_err gw_auth_identify(struct gw *gw, const struct s3_request *s3, struct s3_auth *out, int *user);

/* ---- server (server.c) ------------------------------------------------------ */

int gw_server_start(struct gw *gw);           /* binds --listen; 0 or -1 (logged) */

void gw_server_stop_accepting(struct gw *gw); /* closes the listener; connections end after their response */
/* Connections holding bytes of a request: one still arriving (h2o hands it
 * over only once its body is complete) or one being processed. */
int gw_server_receiving(struct gw *gw);
void gw_server_dispose(struct gw *gw);        /* after the loop has drained */

/* ---- admin listener and metrics (admin.c) ---------------------------------- */

struct gw_admin;
/* Starts the periodic Bot API and index checks and binds --admin-listen.
 * 0, or -1 (logged); gw_admin_stop and gw_admin_dispose are needed either way. */
int gw_admin_start(struct gw *gw);
void gw_admin_stop(struct gw *gw);    /* closes the listener, stops the checks */
void gw_admin_dispose(struct gw *gw); /* after the store thread has stopped */

/* ---- counters read by /metrics (each from its subsystem; loop thread) -------- */

/* The intake's (intake.c): since start, except spill_held. */
struct gw_intake_counters {
    uint64_t bodies_streamed; /* bodies claimed and read from the socket as they arrived */
    uint64_t heads_refused;   /* requests answered before their body was read */
    uint64_t header_timeouts; /* connections closed for a head not complete in --header-timeout */
    uint64_t conns_evicted;   /* idle connections closed to make room at --max-connections */
    uint64_t bodies_too_slow; /* streamed bodies ended below --body-min-rate */
    uint64_t spill_held;      /* bytes of request bodies buffered (or reserved) now */
};
void gw_intake_counters(const struct gw *gw, struct gw_intake_counters *out);

/* The delete queue's (gc.c): messages, since start. */
struct gw_gc_counters {
    uint64_t deleted, failed, unreclaimable;
};
void gw_gc_counters(const struct gw *gw, struct gw_gc_counters *out);

/* The scheduler's (sched.c). */
struct gw_sched_counters {
    uint64_t wait_ms;    /* ms blocks waited for a (bot, chat) pair, summed since start */
    size_t post_waiting; /* blocks waiting for a pair now */
};
void gw_sched_counters(const struct gw *gw, struct gw_sched_counters *out);

/* A budget now: slots held and requests waiting for one. Uploads (put.c):
 * blocks being posted; fetches (fetch.c): block buffers fetching or fetched. */
struct gw_budget_counters {
    int held;
    int waiting;
};
void gw_put_counters(const struct gw *gw, struct gw_budget_counters *out);
/* The bytes of one upload slot's buffer (a sealed block, room for its stripe):
 * what the server prepares --max-upload-blocks of at start and keeps. */
size_t gw_put_buffer_size(const struct gw *gw);
void gw_fetch_counters(const struct gw *gw, struct gw_budget_counters *out);

/* ---- admin sub-commands (cmd_stats.c, cmd_gc.c) ---------------------------- */

int gw_cmd_stats(int argc, char **argv); /* tgs3 stats: exit status */
int gw_cmd_gc(int argc, char **argv);    /* tgs3 gc: exit status */
int gw_cmd_scrub(int argc, char **argv); /* tgs3 scrub: exit status */

/* ---- data safety (keys.c, snapshot.c, fsck.c) ---------------------------- */

/* Loads --key-file (default DATA_DIR/master.key) into gw->keys; with create
 * set a missing file is created (0600, 32 random bytes). 0, or -1 (logged).
 * The key bytes are never logged; gw_keys_free cleanses them. */
int gw_keys_load(struct gw *gw, int create);
void gw_keys_free(struct gw *gw);
/* ---- the one start-up (setup.c) -------------------------------------------- */

/* A tool's command line into a zeroed gw: its own flags (names in own,
 * NULL-terminated, each setting own_set[k]), -h/--help (prints usage), and
 * the serve options, parsed into gw->cfg. -1: go on; else the exit status
 * (0: help or --print-config printed, 2: bad usage), gw->cfg released. */
int gw_tool_args(struct gw *gw, int argc, char **argv, const char *usage, const char *const *own, int *own_set);

/* The index of DATA_DIR (migrated, with --gc-grace), or NULL (logged). */
struct store *gw_setup_index(const struct gw *gw, const char *name);
void gw_setup_bots(struct gw *gw); /* gw->bots from the configured tokens */
/* The Bot API client on gw->loop: each call at most timeout_ms, at most
 * max_connections connections; send_no_wait_429 hands a rate-limited post
 * back at once (the scheduler moves it to another pair). 0, or -1 (logged). */
int gw_setup_client(struct gw *gw, const char *name, long timeout_ms, int max_connections, int send_no_wait_429);
/* For sub-commands: after gw->cfg is parsed, opens the index, the store
 * thread, the loop, the bots and the Bot API client (calls of at most
 * timeout_ms) into gw; 0 or -1 (logged). gw_tool_close undoes whatever was done. */
int gw_tool_open(struct gw *gw, uv_loop_t *loop, const char *name, long timeout_ms);
void gw_tool_close(struct gw *gw);
/* A loop driven by `while (!done) uv_run(loop, UV_RUN_ONCE)` can block for good
 * when the callback that sets done runs before that turn's poll (libuv runs due
 * timers first, and the store thread's async handle keeps the loop alive): a
 * repeating wake-up timer bounds every turn. Tools have it from gw_tool_open;
 * serve around its start-up checks. Stop leaves the handle for the loop's close. */
void gw_wake_start(struct gw *gw);
void gw_wake_stop(struct gw *gw);
/* Takes DATA_DIR/tgs3.lock (flock, exclusive, held until exit) for what must
 * have the data dir alone: serve, recover, repair, fsck --repair. Another holder:
 * -1 with a message naming the dir (logged). */
int gw_data_dir_lock(const char *dir, const char *name);
/* The same, quietly: 0 taken, 1 another process holds it, -1 error (errno). */
int gw_data_dir_try_lock(const char *dir);
/* For what posts (serve, tgs3 repair, tgs3 scrub upgrading), once the index is
 * open: the scheduler seeded with each chat's document count, the layout of
 * new blocks (gw->red_k, red_m, ec; --redundancy) and the retired chats
 * closed. 0, or -1 (logged). gw_sched_stop and gw_chats_free undo it. */
int gw_setup_posting(struct gw *gw);
/* Journal sweep at start-up (store thread not running yet): posted blocks of
 * unfinished puts are queued for deletion, dedup holds released; the posts
 * never answered stay journaled and are returned (*unconfirmed malloc'd, the
 * caller frees) for gw_strays_plan. */
void gw_journal_sweep(struct store *st, struct store_inflight **unconfirmed, size_t *n);

/* ---- the stray probe (strays.c) -------------------------------------------- */

struct gw_strays;
/* Start-up, before the loop runs (the store answers directly): plans the
 * search for posts a crash left in Telegram without the index knowing them:
 * the unconfirmed journal rows (takes ownership of rows) and the unposted
 * packs. Sets gw->strays when there is something to look for; resumed packs
 * are held back until the probe ends (gw_pack_release_resumed). */
void gw_strays_plan(struct gw *gw, struct store_inflight *rows, size_t n);
void gw_strays_start(struct gw *gw); /* after --stray-probe-delay ms; no-op without a plan */
void gw_strays_stop(struct gw *gw);  /* shutdown: what was not settled stays journaled */

/* tgs3 recover (sweep.c), on the recovered index st before store_drop_unposted:
 * records each configured chat's sweep window (store_sweep_set) from the
 * index's floor up to the chat's newest message id, learnt by posting a probe
 * document and deleting it. Main thread; runs the loop until each call is
 * answered. A chat left without a window is reported. Returns the windows recorded. */
size_t gw_sweep_record(struct gw *gw, struct store *st);

/* The index in Telegram (safety/journal.c, snapshot.c; chain.h): a chain of
 * a snapshot and journal documents. prepare attaches the journal's session
 * to the index right after it opens (before any write); start runs it on the
 * loop; drained posts the last changes at shutdown (1 when done or given up). */
struct gw_journal;
struct gw_journal_counters {
    int on;
    int64_t seq;        /* the chain's last document */
    size_t pending;     /* changesets not in Telegram yet */
    int64_t lag_ms;     /* age of the oldest change not in Telegram */
    uint64_t docs, bytes, snapshots, failures;
    uint64_t takes;     /* looks at the index's changes, empty ones too (about one a tick when idle) */
};
int gw_journal_prepare(struct gw *gw, struct store *st);
void gw_journal_start(struct gw *gw);
int gw_journal_drained(struct gw *gw);
void gw_journal_stop(struct gw *gw);
void gw_journal_free(struct gw *gw);
void gw_journal_counters(const struct gw *gw, struct gw_journal_counters *out);
int gw_cmd_snapshot(int argc, char **argv); /* tgs3 snapshot */
int gw_cmd_recover(int argc, char **argv);  /* tgs3 recover */
int gw_cmd_fsck(int argc, char **argv);     /* tgs3 fsck */

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
    struct gw_body *body; /* a streamed body (intake.c), else h2o's req->entity */
    /* The bucket as the request found it at its start (access.c's gw_with_bucket):
     * a commit into it must find the same bucket, not one created since under its name. */
    struct store_bucket_id bucket_id;
    int sets_public_acl; /* its x-amz-acl / x-amz-grant-* grant to AllUsers or AuthenticatedUsers (access.c) */
    void (*cors_next)(struct gw_req *r); /* ops/cors.c: where the request goes once its CORS headers are added */
};

/* The context of a new request (http/req.c): its id, its streamed body if
 * the intake kept one, and the S3 library's view of it (views into h2o's
 * memory, valid on the loop thread while r->req is). Freed by itself. */
struct gw_req *gw_req_new(struct gw *gw, h2o_req_t *req);
/* Async discipline: gw_req_hold before starting async work; in its
 * completion call gw_req_release, and only if it returns 1 is r->req alive. */
void gw_req_hold(struct gw_req *r);
int gw_req_release(struct gw_req *r) WARN_UNUSED;
/* Counts a finished request and writes its access-log line (admin.c; called
 * through gw->request_done, which gw_admin_start sets). */
void gw_admin_request_done(struct gw_req *r);

const char *gw_req_header(struct gw_req *r, const char *name, size_t *len);
void gw_add_header(struct gw_req *r, const char *name, const char *value, size_t len);
void gw_respond_error(struct gw_req *r, enum s3_err e, const char *message);
void gw_respond_xml(struct gw_req *r, int status, const char *body, size_t len);
void gw_respond_empty(struct gw_req *r, int status);
/* Maps store failures to S3 errors (the one place); _or answers not_found
 * for STORE_NOT_FOUND (NoSuchBucket, NoSuchUpload…) and maps the rest alike. */
enum s3_err gw_store_err(enum store_status s);
enum s3_err gw_store_err_or(enum store_status s, enum s3_err not_found);

/* A store job on behalf of a request: the one shape of "work on the store
 * thread, then answer on the loop" (libuv's uv_queue_work with its after-work
 * callback). gw_req_store_call holds r and queues run(st, r, op) on the
 * store thread; run may read r's own copies (route, auth, bucket_id, id), never
 * r->req nor the header views of r->s3, and returns how the request is to be
 * answered: S3E_OK, or the S3 error. Back on the loop r is released; if the
 * client is still there the error is answered (gw_respond_error, no message)
 * or done(r, op) answers the success. op is the caller's state: r->op (freed
 * with r, op_free NULL) or a job's own, which op_free (e.g. free) releases
 * once the job is over, whether or not the client stayed. */
typedef enum s3_err (*gw_req_run_fn)(struct store *st, struct gw_req *r, void *op); /* store thread */
typedef void (*gw_req_done_fn)(struct gw_req *r, void *op);                        /* loop thread */
void gw_req_store_call(struct gw_req *r, gw_req_run_fn run, gw_req_done_fn done, void *op, void (*op_free)(void *op));
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
/* From now on commits are synced a batch at a time (group commit: a job's
 * done still runs only after its commit is durable). Call it once nothing
 * uses gw_storeq_store any more. */
void gw_storeq_defer_sync(struct gw_storeq *q);

/* ---- uploads (engine/put.c): body verification, blocks into Telegram ------- */

struct gw_body_check {
    int chunked;               /* aws-chunked: decode in place first */
    int verify_sha256;         /* compare against auth payload hash */
    int has_md5;               /* Content-MD5 given */
    unsigned char md5[16];
    /* x-amz-checksum-<alg>: the header's to verify (alg "" = none). After a
     * successful verification it holds the object's checksum, from the
     * header or else from an aws-chunked trailer (gw_put_checksum). */
    char ck_alg[12];           /* "crc32", "crc32c", "crc64nvme", "sha1", "sha256" */
    char ck_value[64];         /* base64 */
    int may_pack;              /* PutObject: a small body may go into a pack */
};
typedef void (*gw_put_cb)(struct gw_put *p, enum s3_err err, void *ud);
/* Starts verifying data (in place if chunked) and uploading it as blocks.
 * data must stay valid until the callback. On success the callback gets
 * gw_put_md5_hex/gw_put_extents; on failure nothing is referenced and the
 * blocks already posted are queued for deletion. */
struct gw_put *gw_put_start(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                            char *data, size_t len, const char *tag, gw_put_cb cb, void *ud);
/* The same for a streamed body of len bytes: each block is read into its
 * own buffer when it gets a budget slot, hashed in order (MD5, SHA-256),
 * sealed in place and posted; Content-MD5 and a signed payload hash are
 * compared at the end, and a mismatch fails the put (what was posted is
 * queued for deletion). body must outlive the put or be cancelled by
 * gw_put_free. NULL (and *err) when it cannot start (SlowDown: too many
 * puts wait for budget). */
struct gw_put *gw_put_start_body(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                                 struct gw_body *body, uint64_t len, const char *tag, gw_put_cb cb, void *ud,
                                 enum s3_err *err);
/* A data source for gw_put_start_source: read fills dst with up to n bytes
 * and calls cb later on the loop (never from inside read) with the bytes
 * got (n unless end) and end (no byte follows; got > 0 unless nothing at
 * all was read before). One read at a time; cancel drops the outstanding
 * read (its cb will not run). */
typedef void (*gw_put_source_cb)(void *ud, enum s3_err err, size_t got, int end);
struct gw_put_source {
    void (*read)(void *src, unsigned char *dst, size_t n, gw_put_source_cb cb, void *ud);
    void (*cancel)(void *src);
};
/* Streams a source of at most max_len bytes (its true length is known at its
 * end) like gw_put_start_body; chk may ask for Content-MD5 only. */
struct gw_put *gw_put_start_source(struct gw *gw, const struct gw_body_check *chk, const struct gw_put_source *ops,
                                   void *src, uint64_t max_len, const char *tag, gw_put_cb cb, void *ud,
                                   enum s3_err *err);
const char *gw_put_md5_hex(const struct gw_put *p);
/* The verified x-amz-checksum (header or trailer): its algorithm, or NULL
 * when the request carried none; *b64 receives its value. */
const char *gw_put_checksum(const struct gw_put *p, const char **b64);
size_t gw_put_size(const struct gw_put *p);
/* In the store thread: inserts the put's blocks and fills extents (malloc'd). */
enum store_status gw_put_commit_blocks(struct gw_put *p, struct store *st, struct store_extent **ext, size_t *n);
/* On a failed commit: queue the posted blocks for deletion (store thread). */
void gw_put_orphan_blocks(struct gw_put *p, struct store *st);
/* After the caller's transaction with gw_put_commit_blocks committed. */
void gw_put_mark_committed(struct gw_put *p);
/* Cancels outstanding uploads (request gone) or frees a finished put; posted
 * blocks not committed to the index are queued for deletion. */
void gw_put_free(struct gw_put *p);

/* The S3 error for a Telegram failure that outlasted its retries. */
enum s3_err gw_tg_err(const struct tg_result *res);

/* ---- reads (engine/fetch.c): blocks out of Telegram, verified --------------- */

typedef void (*gw_fetch_cb)(struct gw_fetch *f, enum s3_err err, void *ud);
#define GW_FETCH_AHEAD 1u    /* opportunistic: NULL at once when no read slot is free */
#define GW_FETCH_NO_CACHE 2u /* a fetched document is not written to the block cache */
/* Fetches blk (waiting for a read budget slot unless GW_FETCH_AHEAD). */
struct gw_fetch *gw_fetch_start(struct gw *gw, const struct store_block *blk, unsigned flags, gw_fetch_cb cb,
                                void *ud);
/* The same, for a reader that needs only bytes [off, off + len) of the
 * block's plaintext: a block still in the spool (an unposted pack) is then
 * read just there, any other block whole. */
struct gw_fetch *gw_fetch_start_range(struct gw *gw, const struct store_block *blk, unsigned flags, uint64_t off,
                                      uint64_t len, gw_fetch_cb cb, void *ud);
/* The verified plaintext (NULL until on the callback with S3E_OK), which
 * starts at byte gw_fetch_base of the block: 0, or the off of a ranged read
 * that was served from the spool. */
const unsigned char *gw_fetch_data(const struct gw_fetch *f, size_t *len);
uint64_t gw_fetch_base(const struct gw_fetch *f);
/* Releases the buffer and the budget slot; cancels if still running. */
void gw_fetch_free(struct gw_fetch *f);


/* ---- scheduler (sched.c) ---------------------------------------------------- */

/* The upload scheduler: a tg_pool over every (bot, chat) pair, seeded with
 * the index's block count per chat (counts[i] for cfg.chat_ids[i]; chats at
 * --chat-max-messages start closed; with every chat full it still serves
 * reads, and uploads get 503). Returns 0.
 * gw_sched_stop fails what still waits, closes the timer and frees the pool. */
int gw_sched_start(struct gw *gw, const int64_t *counts);
void gw_sched_stop(struct gw *gw);
/* Index of a configured chat, or -1. */
int gw_chat_index(const struct gw *gw, int64_t chat_id);

/* A block waiting for a pair; embedded in the caller's per-block state. */
struct gw_post_slot {
    /* The pair (indices into gw->bots, cfg.chat_ids) is free: post now. */
    void (*go)(struct gw_post_slot *s, size_t bot, size_t chat);
    /* No pair could take it within --max-schedule-wait: the caller fails it (503 SlowDown). */
    void (*expired)(struct gw_post_slot *s);
    const unsigned char *avoid; /* one byte per chat: 1 = may not post there (NULL: any chat) */
    size_t bot, chat;  /* the pair of the last go */
    int placements;    /* pairs it was handed to */
    int failures;      /* 5xx answers and lost connections so far (429s are not failures) */
    int64_t first_ms;  /* mono ms of its first enqueue: 429s re-place it until --max-schedule-wait */
    int64_t since_ms;  /* mono ms it started waiting */
    int queued;
    struct gw_post_slot *prev, *next;
};
/* Queues s for the pair that can post soonest (go runs from the loop, never from here). */
void gw_sched_enqueue(struct gw *gw, struct gw_post_slot *s);
/* Removes s if queued (go and expired will not run). */
void gw_sched_cancel(struct gw *gw, struct gw_post_slot *s);
/* The answer of s's post: counts the chat's block (rollover) on success,
 * pauses the pair on a 429. Returns 1 when s was queued again for another
 * pair (a 429, a 5xx or a lost connection, at most a few times, unless
 * give_up): the caller then waits for go again. */
int gw_sched_done(struct gw *gw, struct gw_post_slot *s, const struct tg_result *res, int give_up);
/* Ends the searches for orphans of lost answers (post.c) and cancels the
 * sends still in flight, whose callbacks then never come; at shutdown. */
void gw_post_stop(struct gw *gw);
/* Posts buf as a document by (bot, chat): from memory, or in local mode
 * with --staging-dir by file:// (written there on the pool, removed after
 * the answer). buf must stay valid until cb. */
void gw_post_document(struct gw *gw, size_t bot, size_t chat, const void *buf, size_t len, const char *fname,
                      const char *caption, tg_send_cb cb, void *ud);

/* Records in the journal row uuid (store_inflight_posted) where its post landed. The store
 * thread runs jobs in order, so this lands before any commit or clean-up that follows. */
void gw_journal_posted(struct gw *gw, const unsigned char uuid[16], int64_t chat_id, int64_t bot_id,
                       int64_t message_id);
/* The same document sent from iov[0..n) (a shard's header, body and tag), in order. */
void gw_post_document_iov(struct gw *gw, size_t bot, size_t chat, const struct tg_iov *iov, int n, const char *fname,
                          const char *caption, tg_send_cb cb, void *ud);

/* ---- the health of each storage chat (chats.c) ---- */

enum gw_chat_state { GW_CHAT_OK, GW_CHAT_REFUSING, GW_CHAT_LOST, GW_CHAT_RETIRED };
/* Chat ci refused a document: no new document goes there until it answers getChat again. */
void gw_chat_refused(struct gw *gw, size_t ci, const char *why);
enum gw_chat_state gw_chat_state(const struct gw *gw, size_t ci);
/* The operator retired chat ci (tgs3 chat retire): lost for good, never reopened, never posted to. */
void gw_chat_retired(struct gw *gw, size_t ci);
/* Health tick: asks every refusing chat whether it is back (reopens it), or lost. */
void gw_chats_check(struct gw *gw);
void gw_chats_free(struct gw *gw);
void gw_chats_counters(const struct gw *gw, size_t *refusing, size_t *lost); /* lost counts retired ones */
/* tgs3 chat retire ID: exit status. */
int gw_cmd_chat(int argc, char **argv);
/* tgs3 repair: exit status. */
int gw_cmd_repair(int argc, char **argv);

/* Authenticates blk's fetched document data[0..len) (blk_open in place, or the keyed hash of an unsealed block);
 * on BLK_OK the plaintext is data[*off .. *off + *plain_len). Any thread. */
enum blk_status gw_block_open(const struct blk_keyring *keys, const struct store_block *blk, unsigned char *data,
                              size_t len, size_t *off, size_t *plain_len) WARN_UNUSED;

/* ---- repair: bad shards recorded (damage.c), rebuilt into live chats (repair.c) ---- */

struct gw_repair_counters {
    uint64_t shards_repaired, blocks_repaired, failed;
};
void gw_repair_start(struct gw *gw);
/* Queues shard idx of block_id (a read or a scrub found it missing or corrupt; damage.c). Loop thread. */
void gw_repair_shard(struct gw *gw, int64_t block_id, int idx, const char *reason);
/* Queues every shard held in chat_id (the chat is lost). */
void gw_repair_chat(struct gw *gw, int64_t chat_id, const char *reason);
/* Something was queued: look now rather than at the next tick. */
void gw_repair_kick(struct gw *gw);
void gw_repair_stop(struct gw *gw);
int gw_repair_busy(const struct gw *gw); /* 1 while the runner repairs a block */
void gw_repair_counters(const struct gw *gw, struct gw_repair_counters *out);

/* ---- scrub: every shard read back and verified (scrub.c) ---- */

struct gw_scrub_counters {
    uint64_t passes, blocks_checked, docs_ok, shards_bad, blocks_bad;
    uint64_t blocks_upgraded, upgrades_later; /* blocks stored as one document made stripes, or left for the next pass */
};
/* Starts a pass (foreground: at once, pass_done called at its end; else
 * paced over --scrub-interval, passes one after another; 0 = off). */
void gw_scrub_start(struct gw *gw, int foreground, void (*pass_done)(struct gw *gw));
void gw_scrub_stop(struct gw *gw);
void gw_scrub_counters(const struct gw *gw, struct gw_scrub_counters *out);

/* ---- stripes: gateway/engine/stripe.h (stripe_send.c, stripe_read.c) ---- */

/* ---- reads through any bot (reader.c) ---------------------------------------- */

/* Fetches blk's document: through its uploader's file_id, or, when that bot
 * is not configured or its file_id is refused, through another bot: its
 * recorded file_id, else one re-derived by forwarding the message (the copy
 * is queued for deletion, the file_id recorded in the index). cb as for
 * tg_fetch_file, exactly once unless cancelled. */
struct gw_read;
struct gw_read *gw_read_start(struct gw *gw, const struct store_block *blk, tg_fetch_cb cb, void *ud);
void gw_read_cancel(struct gw_read *r);
/* The configured bot with this id, or NULL. */
struct gw_bot *gw_bot_by_id(struct gw *gw, int64_t bot_id);

/* ---- block cache (cache.c) and verified blocks in memory (opened.c): engine/cache.h ---- */

/* ---- small-object packing (pack.c) ------------------------------------------ */

/* Opens DATA_DIR/spool and posts the packs a previous run left there
 * (start-up: the store is used directly). Off with --no-packing. 0 or -1. */
int gw_pack_start(struct gw *gw);
void gw_pack_stop(struct gw *gw); /* unposted packs stay for the next start */
void gw_pack_free(struct gw *gw); /* after the loop has drained */
/* Should a verified body of len bytes be packed? */
int gw_pack_wants(const struct gw *gw, size_t len);
/* Appends data (valid until cb) to the open pack, on disk and fsync'd
 * before cb(ok, the pack's block id, offset of the data in it). Loop thread. */
typedef void (*gw_pack_cb)(void *ud, int ok, int64_t block_id, int64_t offset);
void gw_pack_append(struct gw *gw, const void *data, size_t len, gw_pack_cb cb, void *ud);
/* The spool file of an unposted pack (blocks with chat_id 0); -1 when packing is off. */
int gw_pack_path(const struct gw *gw, int64_t block_id, char *out, size_t n);
/* Snapshots: closes the open pack and calls cb once every pack holding
 * objects now has its post recorded (unposted = 0), or after timeout_ms, or
 * when the packer stops (unposted = packs still only in the spool). One
 * flush at a time. Loop thread. */
typedef void (*gw_pack_flush_cb)(void *ud, size_t unposted);
void gw_pack_flush(struct gw *gw, int64_t timeout_ms, gw_pack_flush_cb cb, void *ud);
/* Posts the packs resumed at start-up, held back while the stray probe runs
 * (a repost would carry the caption the probe deletes copies of). */
void gw_pack_release_resumed(struct gw *gw);

/* Pack compaction (compact.c): every --gc-interval, the posted pack with the
 * most dead bytes (at least --pack-compact %) has its live objects copied
 * into the open pack and repointed; the old pack then goes the way of any
 * unreferenced block. One pack at a time, reads only with a free read slot. */
void gw_compact_start(struct gw *gw);
void gw_compact_stop(struct gw *gw);
uint64_t gw_compact_moved(const struct gw *gw); /* objects moved since start */

/* Blocks → Telegram deletion (gc.c). */
void gw_gc_start(struct gw *gw);
void gw_gc_stop(struct gw *gw);
/* Runs the delete queue now until no item is due (the loop must not be
 * running: this runs it). 0, or -1 if some deletions failed (retried later). */
int gw_gc_run_now(struct gw *gw);

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
/* Multipart objects (Complete, GetObjectAttributes): 1 when numbers are 1…n;
 * meta_json with the part numbers (when not 1…n), and with alg the object's
 * checksum (type "COMPOSITE"/"FULL_OBJECT", value) and its parts' values
 * (values may be NULL); malloc'd text. */
int gw_parts_contiguous(const int *numbers, size_t n);
char *gw_meta_set_part_checksums(const char *meta_json, const int *numbers, const char *const *values, size_t n,
                                 const char *alg, const char *type, const char *value);
/* The object's recorded checksum: 1 with alg (canonical), value and type set, else 0. */
int gw_meta_get_checksum(const char *meta_json, char alg[16], char value[S3_CHECKSUM_MAX], char type[16]);
struct gw_meta_part {
    int number;
    int64_t size; /* bytes */
    char ck[64];  /* base64 checksum, "" = none */
};
/* The parts of a multipart object numbered above marker, at most max, into
 * *out (malloc'd, NULL when none); *total = all its parts (0: not multipart),
 * *truncated when more follow. Returns how many are in *out. */
size_t gw_meta_get_parts(const char *meta_json, int marker, size_t max, struct gw_meta_part **out, size_t *total,
                         int *truncated);

/* Random hex id of 2*n chars into out (2n+1 bytes). */
void gw_random_hex(char *out, size_t n);

/* ---- lifecycle: buckets' expiry and abort rules run (engine/lifecycle.c) ---- */
struct gw_lifecycle_counters {
    uint64_t expired_current;    /* current objects deleted or hidden under a delete marker (Expiration) */
    uint64_t expired_noncurrent; /* noncurrent versions deleted (NoncurrentVersionExpiration) */
    uint64_t expired_markers;    /* lone delete markers removed (ExpiredObjectDeleteMarker) */
    uint64_t aborted_uploads;    /* multipart uploads aborted (AbortIncompleteMultipartUpload) */
    uint64_t locked_skipped;     /* versions left in place: under retention or a legal hold (each run that meets one) */
    uint64_t runs;               /* finished runs since start */
    int64_t last_run_ms;         /* when the last run finished (now_ms clock; 0: never, as far as the index knows) */
};
/* Every --lifecycle-interval (the last run's time kept in the index, so a
 * restart keeps the schedule and a run due during downtime happens soon
 * after start) the buckets' rules are applied on the store thread in
 * bounded batches. Loop thread. */
void gw_lifecycle_start(struct gw *gw);
void gw_lifecycle_stop(struct gw *gw);
void gw_lifecycle_counters(const struct gw *gw, struct gw_lifecycle_counters *out);

#endif

/* store.h — the SQLite index: buckets, objects, extents, blocks, multipart uploads, GC queue.
 *
 * A synchronous library over one sqlite3 connection. The gateway calls it
 * from exactly one thread (its store thread), so every function here may
 * block on disk; none may be called from the event loop. A struct store is
 * not shared between threads.
 *
 * DESIGN: WAL mode with synchronous=FULL, so a commit that acknowledges an
 * object survives a crash or power loss. Additive, versioned migrations (schema_version in table meta);
 * opening a database whose version is newer than this code knows fails with
 * STORE_SCHEMA. Keys compare as bytes (BINARY collation), so listings come
 * out in S3 byte order.
 *
 * Blocks carry a reference count = the number of extents (of objects and of
 * uploaded parts) that point at them. When a count drops to zero the block
 * row is removed and its message is put on the durable GC queue, due after a
 * grace period; blocks uploaded for a request that then failed go straight
 * onto that queue. Every mutating call below runs in its own transaction
 * unless the caller opened one with store_tx_begin (then it joins it).
 * On failure nothing is changed.
 */
#ifndef TGS3_STORE_H
#define TGS3_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define STORE_MAX_KEY 1024
#define STORE_MAX_BUCKET 63
#define STORE_MAX_LIST 1000
#define STORE_VERSION_LEN 33 /* a version id: "null" or 32 characters, and its NUL */

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND,  /* bucket, object or upload absent */
    STORE_EXISTS,     /* bucket already exists */
    STORE_NOT_EMPTY,  /* bucket still holds objects or uploads */
    STORE_CONFLICT,   /* invalid part list and the like (see function) */
    STORE_BUSY,       /* SQLITE_BUSY after retries */
    STORE_SCHEMA,     /* unknown (newer) schema */
    STORE_IO,         /* any other SQLite/disk error */
    STORE_LOCKED,     /* the version is under Object Lock retention or a legal hold */
};
const char *store_status_name(enum store_status s);

struct store;

/* Opens (creating and migrating) the index at path. *out is NULL on failure. */
enum store_status store_open(const char *path, struct store **out) WARN_UNUSED;
void store_close(struct store *st); /* NULL ok */
/* The last SQLite error text (for logs). */
const char *store_errmsg(struct store *st);

/* Group commit. After store_defer_sync a COMMIT no longer waits for the disk
 * (synchronous=NORMAL: the WAL is written, not synced); store_sync then
 * makes every commit so far durable with one sync of the WAL. The caller
 * must call store_sync before it lets anything depend on those commits
 * (an answer to a client, a post to Telegram). SQLite still syncs around
 * its checkpoints. On a store_sync failure nothing since the last good one
 * may be treated as durable. */
enum store_status store_defer_sync(struct store *st) WARN_UNUSED;
enum store_status store_sync(struct store *st) WARN_UNUSED;

/* Explicit transactions, for a sequence of calls that must commit together.
 * They do not nest. Inside one, each call runs in a savepoint: a call that
 * fails is undone alone and the transaction goes on. */
enum store_status store_tx_begin(struct store *st) WARN_UNUSED;
/* On failure the transaction is rolled back and closed. */
enum store_status store_tx_commit(struct store *st) WARN_UNUSED;
/* Undoes the open transaction; a no-op when none is open. */
void store_tx_rollback(struct store *st);

/* ---- buckets ---------------------------------------------------------------- */

enum store_versioning { STORE_VERSIONING_OFF = 0, STORE_VERSIONING_ENABLED = 1, STORE_VERSIONING_SUSPENDED = 2 };
struct store_bucket {
    char name[STORE_MAX_BUCKET + 1];
    char owner[129];    /* access key of the creator */
    int64_t created_ms;
    int versioning;     /* enum store_versioning */
    int lock_enabled;   /* Object Lock (only with versioning Enabled) */
    char lock_mode[12]; /* default retention: "" none, "GOVERNANCE", "COMPLIANCE" */
    int lock_days, lock_years; /* of the default retention (one of them is set) */
};
/* Which bucket of a name: a bucket deleted and created again (by another
 * user, say) has another owner or creation time. owner[0] == 0: any. */
struct store_bucket_id {
    char owner[129];
    int64_t created_ms;
};
void store_bucket_id_of(const struct store_bucket *b, struct store_bucket_id *out);
enum store_status store_bucket_create(struct store *st, const char *name, const char *owner, int64_t now_ms)
    WARN_UNUSED; /* STORE_EXISTS (store_bucket_get tells whose) */
/* out may be NULL to test existence only. */
enum store_status store_bucket_get(struct store *st, const char *name, struct store_bucket *out) WARN_UNUSED;
/* Deletes an empty bucket, aborting its unfinished multipart uploads (their
 * blocks' references dropped now). STORE_NOT_FOUND, or STORE_NOT_EMPTY while
 * it holds an object. */
enum store_status store_bucket_delete(struct store *st, const char *name) WARN_UNUSED;
/* All buckets in name order; *out malloc'd (NULL when *n is 0). */
enum store_status store_bucket_list(struct store *st, struct store_bucket **out, size_t *n) WARN_UNUSED;

/* ---- blocks --------------------------------------------------------------- */

struct store_block {
    int64_t id;           /* assigned by store_block_insert */
    int64_t chat_id;
    int64_t message_id;
    int64_t bot_id;       /* the uploader (digits before ':' in its token) */
    char file_id[256];    /* valid for bot_id only */
    char file_unique_id[64];
    int64_t plain_size;   /* bytes of object data */
    int64_t stored_size;  /* bytes of the document in Telegram */
    unsigned char hash[32]; /* keyed content hash (all zero if none) */
    int key_id;           /* sealing key id, 0 = not sealed */
    unsigned char nonce[12];
    int64_t refcount;
    int64_t created_ms;   /* when the document was posted */
    unsigned char uuid[16]; /* random identity bound into the sealed document (all zero if none) */
};
/* Inserts a confirmed block with refcount 0 (references come from extents). Sets b->id. */
enum store_status store_block_insert(struct store *st, struct store_block *b) WARN_UNUSED;
enum store_status store_block_get(struct store *st, int64_t id, struct store_block *out) WARN_UNUSED;
/* A pack's block row before it is posted (chat_id 0, a unique negative
 * message_id): inserted with one reference of its own, the hold that keeps
 * it while objects are appended to it. Sets b->id. Its own transaction:
 * not inside store_tx_begin. */
enum store_status store_block_insert_held(struct store *st, struct store_block *b) WARN_UNUSED;
/* A packed block posted at last: fills in where it lives and how it was
 * sealed (every field but id, uuid and refcount) on the row b->id, which
 * must still be unposted (chat_id 0), and drops the hold. NOT_FOUND if it
 * is gone or was posted already. */
enum store_status store_block_set_posted(struct store *st, const struct store_block *b) WARN_UNUSED;
/* Records the file_id under which bot_id can read block id (file_ids are per
 * bot): for the uploader it replaces the block's own, for any other bot it is
 * kept beside the block. NOT_FOUND if the block is missing. */
enum store_status store_block_set_file(struct store *st, int64_t id, int64_t bot_id, const char *file_id)
    WARN_UNUSED;
/* The file_id under which bot_id reads block id, into out; NOT_FOUND if that
 * bot has none recorded (or the block is missing). */
enum store_status store_block_file_for(struct store *st, int64_t block_id, int64_t bot_id, char out[256])
    WARN_UNUSED;
/* Number of documents the index holds in chat_id (blocks as one document and shards; channel rollover), into *n. */
enum store_status store_block_count_chat(struct store *st, int64_t chat_id, int64_t *n) WARN_UNUSED;

/* ---- objects -------------------------------------------------------------- */

struct store_extent {
    int64_t block_id;
    int64_t offset; /* bytes into the block's plaintext */
    int64_t length; /* bytes */
    struct store_block block; /* filled by reads (store_object_get, parts) */
};

struct store_object {
    char bucket[STORE_MAX_BUCKET + 1];
    char *key;          /* malloc'd */
    int64_t size;       /* bytes */
    char etag[80];      /* unquoted: 32 hex, or 32 hex + "-N" */
    int64_t mtime_ms;
    char *meta_json;    /* malloc'd JSON object text chosen by the gateway (headers, user metadata, tags, part sizes) */
    struct store_extent *extents; /* malloc'd, in object order */
    size_t n_extents;
    struct store_bucket_id bucket_id; /* writes: the bucket must still be this one (else NOT_FOUND) */
    const char *acl;    /* writes: the object's owner and ACL (acl.c), NULL: private to the bucket's owner;
                         * an overwrite replaces the old one. Reads leave it NULL. Not owned. */
    /* versions.c */
    char version_id[STORE_VERSION_LEN]; /* "null" or an id; writes: set by the store */
    int delete_marker;  /* reads: the row is a delete marker (size 0, no extents) */
    int is_latest;      /* reads: the key's current version */
    int64_t noncurrent_ms; /* reads: when it stopped being current (0 while it is) */
    char lock_mode[12]; /* Object Lock retention: "", "GOVERNANCE", "COMPLIANCE" (writes: set by the caller) */
    int64_t lock_until_ms;
    int legal_hold;
};
void store_object_free(struct store_object *o); /* frees the members and o itself; NULL ok */

/* Creates or replaces bucket/key with obj (size, etag, mtime, meta_json and
 * extents whose block_id are set). References are taken on every extent's
 * block; a replaced object's references are dropped. NOT_FOUND if the bucket
 * is missing; STORE_CONFLICT if an extent names a missing block.
 * Versions (versions.c): in a bucket with versioning Enabled the object is a
 * new version with a new id, the one before stays as a noncurrent version;
 * Suspended: it is the "null" version, replacing the key's null version
 * wherever it is in the stack; never enabled: it replaces the key's one row.
 * A replaced version under retention or legal hold at obj->mtime_ms: STORE_LOCKED.
 * obj->version_id is set to the new version's id ("" in a bucket never versioned). */
enum store_status store_object_put(struct store *st, struct store_object *obj) WARN_UNUSED;
/* Reads an object with its extents (each with its block). *out malloc'd. */
enum store_status store_object_get(struct store *st, const char *bucket, const char *key,
                                   struct store_object **out) WARN_UNUSED;
/* Reads without extents (HEAD, conditions): out->extents NULL. */
enum store_status store_object_head(struct store *st, const char *bucket, const char *key,
                                    struct store_object **out) WARN_UNUSED;
/* Replaces only meta_json (and mtime) of an existing object (self-copy, tagging). */
enum store_status store_object_set_meta(struct store *st, const char *bucket, const char *key,
                                        const char *meta_json, int64_t mtime_ms) WARN_UNUSED;
/* Removes bucket/key; NOT_FOUND if absent (S3 still answers 204). */
enum store_status store_object_delete(struct store *st, const char *bucket, const char *key) WARN_UNUSED;

/* ---- versions (versions.c) ------------------------------------------------------
 * A key's versions are rows of objects ordered by id (newest highest), exactly
 * one of them the latest. A version argument NULL means the latest; "null" the
 * null version. The functions above (without _v) see the current object only:
 * NOT_FOUND when the latest version is a delete marker. */
enum store_status store_object_get_v(struct store *st, const char *bucket, const char *key, const char *version,
                                     struct store_object **out) WARN_UNUSED;
/* Without extents. A delete marker is returned as one (out->delete_marker). */
enum store_status store_object_head_v(struct store *st, const char *bucket, const char *key, const char *version,
                                      struct store_object **out) WARN_UNUSED;
enum store_status store_object_set_meta_v(struct store *st, const char *bucket, const char *key, const char *version,
                                          const char *meta_json, int64_t mtime_ms) WARN_UNUSED;
struct store_deleted {
    char version_id[STORE_VERSION_LEN]; /* the version removed or the delete marker added ("" none) */
    int delete_marker;                  /* it is a delete marker */
};
/* DeleteObject. version NULL: never-versioned bucket: the row goes
 * (NOT_FOUND if none); Enabled: a delete marker is added as the latest;
 * Suspended: a "null" delete marker replaces the null version. version
 * given: that version goes (NOT_FOUND if the key has none such) and the
 * next newest becomes the latest. A version under a legal hold, COMPLIANCE
 * retention, or GOVERNANCE retention without bypass_governance, until
 * now_ms: STORE_LOCKED, nothing changed. */
enum store_status store_object_delete_v(struct store *st, const char *bucket, const char *key, const char *version,
                                        int bypass_governance, int64_t now_ms, struct store_deleted *res) WARN_UNUSED;
/* PutObjectRetention on a version (NULL: latest): mode "" removes. A
 * COMPLIANCE retention only lengthens and stays COMPLIANCE; a GOVERNANCE one
 * in force is shortened, weakened or removed only with bypass_governance;
 * else STORE_LOCKED. NOT_FOUND: no such version, or a delete marker.
 * version_out (may be NULL): the version's id. */
enum store_status store_object_retention_set(struct store *st, const char *bucket, const char *key,
                                             const char *version, const char *mode, int64_t until_ms,
                                             int bypass_governance, int64_t now_ms,
                                             char version_out[STORE_VERSION_LEN]) WARN_UNUSED;
enum store_status store_object_legal_hold_set(struct store *st, const char *bucket, const char *key,
                                              const char *version, int on, char version_out[STORE_VERSION_LEN])
    WARN_UNUSED;
/* PutBucketVersioning: STORE_CONFLICT when Object Lock is on and state is not Enabled. */
enum store_status store_bucket_versioning_set(struct store *st, const char *bucket, int state) WARN_UNUSED;
/* PutObjectLockConfiguration / CreateBucket with Object Lock: enabled, and the
 * default retention (mode "" none). STORE_CONFLICT when versioning is not Enabled. */
enum store_status store_bucket_lock_set(struct store *st, const char *bucket, const char *mode, int days, int years)
    WARN_UNUSED;

struct store_version_entry {
    char *key; /* malloc'd */
    char version_id[STORE_VERSION_LEN];
    int is_latest, delete_marker;
    int64_t size;
    char etag[80];
    int64_t mtime_ms;
};
struct store_version_list {
    struct store_version_entry *entries; size_t n_entries;
    char **prefixes; size_t n_prefixes;
    int truncated;
    char *next_key;                         /* when truncated; malloc'd */
    char next_version[STORE_VERSION_LEN];   /* "" when the listing goes on at a common prefix */
};
/* ListObjectVersions: versions of keys starting with prefix, by key then
 * newest first, after (key_marker, version_marker) — a key marker alone
 * skips every version of that key — rolling keys with delimiter into
 * common prefixes; at most max_keys entries + prefixes. */
enum store_status store_object_versions(struct store *st, const char *bucket, const char *prefix,
                                        const char *delimiter, const char *key_marker, const char *version_marker,
                                        size_t max_keys, struct store_version_list *out) WARN_UNUSED;
void store_version_list_release(struct store_version_list *l);

struct store_list_entry {
    char *key; /* malloc'd */
    int64_t size;
    char etag[80];
    int64_t mtime_ms;
};
struct store_list {
    struct store_list_entry *entries; size_t n_entries;
    char **prefixes; size_t n_prefixes; /* common prefixes, malloc'd strings */
    int truncated;
    char *next_marker; /* last key or prefix returned, when truncated; malloc'd or NULL */
};
/* Lists keys of bucket that start with prefix and are > after (byte order),
 * rolling keys that contain delimiter (after the prefix) into common
 * prefixes. Empty delimiter = none. At most max_keys (≤ STORE_MAX_LIST)
 * entries + prefixes together. NOT_FOUND if the bucket is missing. */
enum store_status store_object_list(struct store *st, const char *bucket, const char *prefix,
                                    const char *delimiter, const char *after, size_t max_keys,
                                    struct store_list *out) WARN_UNUSED;
void store_list_release(struct store_list *l);

/* ---- multipart -------------------------------------------------------------- */

struct store_upload {
    char id[64];
    char bucket[STORE_MAX_BUCKET + 1];
    char *key;        /* malloc'd */
    char *meta_json;  /* malloc'd */
    int64_t created_ms;
    char ck_alg[16];  /* x-amz-checksum-algorithm, lower case ("crc32"…), "" = none */
    char ck_type[16]; /* "COMPOSITE" or "FULL_OBJECT" ("" = none) */
};
void store_upload_release(struct store_upload *u);
enum store_status store_upload_create(struct store *st, const char *id, const char *bucket, const char *key,
                                      const char *meta_json, int64_t now_ms) WARN_UNUSED;
enum store_status store_upload_get(struct store *st, const char *id, struct store_upload *out) WARN_UNUSED;

struct store_part {
    int part_number;
    char etag[40];  /* unquoted hex md5 */
    int64_t size;
    int64_t mtime_ms;
    char ck_alg[16];   /* the part's verified checksum: algorithm ("" = none) */
    char ck_value[64]; /* and base64 value */
    struct store_extent *extents; /* malloc'd; only from store_part_get */
    size_t n_extents;
};
/* Creates or replaces part part_number of upload id with the given extents
 * (block ids set); references taken, a replaced part's dropped. */
enum store_status store_part_put(struct store *st, const char *upload_id, int part_number, const char *etag,
                                 int64_t size, const struct store_extent *ext, size_t n, int64_t now_ms)
    WARN_UNUSED;
/* Reads part part_number of upload id with its extents (each with its block);
 * out->extents malloc'd (free with store_parts_free(out, 1) only if out was
 * malloc'd, else free(out->extents)). NOT_FOUND if absent. */
enum store_status store_part_get(struct store *st, const char *upload_id, int part_number, struct store_part *out)
    WARN_UNUSED;
/* Parts with number > after, ascending, at most max; *out malloc'd (extents NULL;
 * *out NULL when *n is 0). */
enum store_status store_part_list(struct store *st, const char *upload_id, int after, size_t max,
                                  struct store_part **out, size_t *n, int *truncated) WARN_UNUSED;
void store_parts_free(struct store_part *p, size_t n);

/* Completes upload id: the object's extents are the listed parts' extents in
 * order (nothing is uploaded again); obj supplies bucket, key, size, etag,
 * mtime and meta_json (obj->extents ignored). The upload and all its parts
 * (listed or not) are removed; references move accordingly. NOT_FOUND if the
 * upload is gone; STORE_CONFLICT if a listed part does not exist. */
enum store_status store_upload_complete(struct store *st, const char *upload_id, const int *part_numbers,
                                        size_t n, struct store_object *obj) WARN_UNUSED;
enum store_status store_upload_abort(struct store *st, const char *upload_id) WARN_UNUSED;
/* A completed upload is remembered for STORE_COMPLETED_KEEP_MS (completed.c):
 * STORE_OK with its ETag in etag when upload_id completed into bucket/key
 * and the object there is still the one it produced (same row, same ETag),
 * else STORE_NOT_FOUND. */
#define STORE_COMPLETED_KEEP_MS (24 * 3600 * 1000LL)
enum store_status store_upload_completed(struct store *st, const char *upload_id, const char *bucket,
                                         const char *key, int64_t now_ms, char etag[80]) WARN_UNUSED;
/* checksums.c: records upload id's checksum algorithm and type, or part
 * part_number's verified checksum (after store_part_put, which clears it).
 * NOT_FOUND when there is no such upload or part. */
enum store_status store_upload_checksum_set(struct store *st, const char *id, const char *alg, const char *type)
    WARN_UNUSED;
enum store_status store_part_checksum_set(struct store *st, const char *upload_id, int part_number,
                                          const char *alg, const char *value) WARN_UNUSED;
/* Uploads of bucket whose key starts with prefix, ordered by key then id,
 * after the (key, id) markers (S3: a key marker alone skips that key's
 * uploads; "" or NULL = no marker). *out malloc'd (NULL when *n is 0), each
 * released with store_upload_release. */
enum store_status store_upload_list(struct store *st, const char *bucket, const char *prefix,
                                    const char *key_marker, const char *id_marker, size_t max,
                                    struct store_upload **out, size_t *n, int *truncated) WARN_UNUSED;
/* Ids of uploads created before older_than_ms (for expiry), oldest first;
 * *out malloc'd array of char[64] (NULL when *n is 0). */
enum store_status store_upload_expired(struct store *st, int64_t older_than_ms, size_t max,
                                       char (**out)[64], size_t *n) WARN_UNUSED;

/* ---- GC queue ------------------------------------------------------------- */

struct store_gc_item {
    int64_t id;
    int64_t chat_id;
    int64_t message_id;
    int64_t bot_id;
    int64_t due_ms;
    int attempts;
    int64_t posted_ms; /* when the message was posted; 0 = unknown */
};
/* Puts a message on the delete queue, due at due_ms (e.g. a stray block of a failed upload). */
enum store_status store_gc_enqueue(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                   int64_t due_ms) WARN_UNUSED;
/* Grace period applied when a block's count reaches zero (ms); default 0. */
void store_set_gc_grace(struct store *st, int64_t grace_ms);
/* Up to max items due at now_ms, ordered by (bot, chat, message). */
enum store_status store_gc_due(struct store *st, int64_t now_ms, size_t max, struct store_gc_item *out,
                               size_t *n) WARN_UNUSED;
enum store_status store_gc_done(struct store *st, const int64_t *ids, size_t n) WARN_UNUSED;
/* Records a failed attempt; due again at retry_ms. */
enum store_status store_gc_retry(struct store *st, int64_t id, int64_t retry_ms) WARN_UNUSED;

/* ---- data safety (safety.c) ------------------------------------------------- */

/* A live block (refcount > 0) with this keyed hash, key id and plaintext
 * size, into out; NOT_FOUND if none. */
enum store_status store_block_find_by_hash(struct store *st, const unsigned char hash[32], int key_id,
                                           int64_t plain_size, struct store_block *out) WARN_UNUSED;

/* ---- stripes (shards.c) ---- */

#define STORE_MAX_SHARDS 32 /* K + M at most (BLK_MAX_SHARDS) */
/* One document of a stripe. */
struct store_shard {
    int idx;               /* 0..K-1 data, K..K+M-1 parity */
    int64_t chat_id, message_id, bot_id;
    char file_id[256];     /* valid for bot_id only */
    char file_unique_id[64];
    int64_t size;          /* bytes of the document */
    int64_t created_ms;    /* when it was posted */
};
/* A block stored as K data + M parity shards, each in a different chat. */
struct store_stripe {
    int k, m;
    int64_t sealed_size;   /* bytes of the sealed block the shards rebuild */
    int n;                 /* shards held, ascending idx (fewer than K + M: degraded) */
    struct store_shard sh[STORE_MAX_SHARDS];
};
/* Records block_id's stripe and its n shards (in the caller's transaction, after store_block_insert). */
enum store_status store_stripe_insert(struct store *st, int64_t block_id, const struct store_stripe *sp) WARN_UNUSED;
/* NOT_FOUND: the block is one document (unprotected). */
enum store_status store_stripe_get(struct store *st, int64_t block_id, struct store_stripe *out) WARN_UNUSED;
/* The block is gone: every shard's message is queued for deletion, the rows removed (store_block_unref). */
enum store_status store_stripe_drop(struct store *st, int64_t block_id, int64_t now_ms) WARN_UNUSED;
/* Block block_id, stored as the one document (old_chat_id, old_message_id),
 * becomes the stripe sp (shards in idx order, each posted under journal
 * identity keys[idx]): the old message is queued for deletion after the
 * grace period, the block row names sp's first shard and forgets the other
 * bots' file ids of the old document, the stripe and its shards are
 * recorded and their journal rows end, all in one transaction. NOT_FOUND,
 * nothing changed, when the block is gone, names another document or is a
 * stripe already. */
enum store_status store_stripe_upgrade(struct store *st, int64_t block_id, int64_t old_chat_id, int64_t old_message_id,
                                       const struct store_stripe *sp, const unsigned char (*keys)[16], int64_t now_ms)
    WARN_UNUSED;
/* Adds one shard row (a rebuilt shard, inside store_repair_swap). */
enum store_status store_stripe_add_shard(struct store *st, int64_t block_id, const struct store_shard *sh) WARN_UNUSED;

/* ---- the repair queue (repair.c) ---- */

/* Queues shard idx of block_id for rebuilding (a stripe only; once per shard). */
enum store_status store_repair_add(struct store *st, int64_t block_id, int idx, const char *reason, int64_t now_ms)
    WARN_UNUSED;
/* Queues every shard held in chat_id (the chat is lost); *added: rows queued. */
enum store_status store_repair_add_chat(struct store *st, int64_t chat_id, const char *reason, int64_t now_ms,
                                        int64_t *added) WARN_UNUSED;
/* The next block due: its row, its stripe and the shard indexes to rebuild
 * (queued ones and those it holds no shard for), ascending. NOT_FOUND when
 * nothing is due. Rows of blocks that are gone or whole are dropped. */
enum store_status store_repair_next(struct store *st, int64_t now_ms, struct store_block *blk, struct store_stripe *sp,
                                    int *want, int *n_want) WARN_UNUSED;
/* Shard sh (posted under journal identity key) replaces shard sh->idx of
 * block_id: the old shard's message is queued for deletion, the block row
 * follows it if it named the old one, the repair row and the journal row
 * end, all in one transaction. NOT_FOUND when the block is gone. */
enum store_status store_repair_swap(struct store *st, int64_t block_id, const struct store_shard *sh,
                                    const unsigned char key[16], int64_t now_ms) WARN_UNUSED;
/* Tries block_id again at due_ms (attempts + 1). */
enum store_status store_repair_later(struct store *st, int64_t block_id, int64_t due_ms) WARN_UNUSED;
/* Every queued shard due now, whenever it was to be tried again (tgs3 repair: the operator asks now). */
enum store_status store_repair_all_due(struct store *st, int64_t now_ms) WARN_UNUSED;
enum store_status store_repair_backlog(struct store *st, int64_t *shards, int64_t *blocks) WARN_UNUSED;
/* Queued shards due by now_ms (a block being repaired stays due until its shards are swapped in). */
enum store_status store_repair_due(struct store *st, int64_t now_ms, int64_t *shards) WARN_UNUSED;

/* Scrub: the first block after `after` (id order), its stripe if it has one
 * (*is_stripe), and the number of blocks. NOT_FOUND past the last block. */
enum store_status store_scrub_next(struct store *st, int64_t after, struct store_block *blk, struct store_stripe *sp,
                                   int *is_stripe, int64_t *total) WARN_UNUSED;
/* The last block id the scrub checked (0: a pass starts over), kept across restarts. */
enum store_status store_scrub_cursor_get(struct store *st, int64_t *cursor) WARN_UNUSED;
enum store_status store_scrub_cursor_set(struct store *st, int64_t cursor) WARN_UNUSED;

/* The operator retires chat_id (tgs3 chat retire): recorded, and every shard it holds
 * queued for repair (*queued), in one transaction. Retiring twice changes nothing. */
enum store_status store_chat_retire(struct store *st, int64_t chat_id, int64_t now_ms, int64_t *queued) WARN_UNUSED;
/* The retired chats (*out malloc'd, NULL when *n is 0). */
enum store_status store_chats_retired(struct store *st, int64_t **out, size_t *n) WARN_UNUSED;

struct store_stripe_counts {
    int64_t unprotected; /* posted blocks stored as one document */
    int64_t healthy;     /* stripes holding all K + M shards */
    int64_t degraded;    /* fewer than K + M, at least K: readable, not whole */
    int64_t lost;        /* fewer than K */
};
enum store_status store_stripe_counts(struct store *st, struct store_stripe_counts *out) WARN_UNUSED;

/* The journal of blocks in flight. A row is written BEFORE a block is
 * posted (uuid, put tag, chat, bot, start time), updated with the message
 * id once Telegram confirms it, and removed in the transaction that commits
 * the block to the index (or when the put fails, its message then queued
 * for deletion). A dedup hit holds one extra reference on the block it
 * reuses through a row with hold_block_id, released the same way. After a
 * crash every remaining row is swept at start-up. */
struct store_inflight {
    unsigned char uuid[16];
    char put[40];
    int64_t chat_id, bot_id, message_id, hold_block_id, started_ms;
};
enum store_status store_inflight_begin(struct store *st, const unsigned char uuid[16], const char *put,
                                       int64_t chat_id, int64_t bot_id, int64_t now_ms) WARN_UNUSED;
enum store_status store_inflight_posted(struct store *st, const unsigned char uuid[16], int64_t chat_id,
                                        int64_t bot_id, int64_t message_id) WARN_UNUSED;
/* Dedup: finds a live block like store_block_find_by_hash, takes a hold on
 * it (refcount + 1) and journals the hold under uuid, in one transaction.
 * NOT_FOUND (nothing changed) when no block matches. */
enum store_status store_inflight_hold(struct store *st, const unsigned char uuid[16], const char *put,
                                      const unsigned char hash[32], int key_id, int64_t plain_size,
                                      int64_t now_ms, struct store_block *out) WARN_UNUSED;
/* Ends a journal row: releases its hold, and unless committed queues its
 * posted message (if any) for deletion at now_ms. A missing row is fine. */
enum store_status store_inflight_end(struct store *st, const unsigned char uuid[16], int committed, int64_t now_ms)
    WARN_UNUSED;
/* Start-up sweep: ends every row as not committed, except rows whose
 * message was never confirmed: the send may or may not have landed, so they
 * stay in the journal and are returned (*out malloc'd, NULL when *n is 0)
 * for the stray probe, which ends them with store_stray_collect or
 * store_inflight_forget. */
enum store_status store_inflight_sweep(struct store *st, int64_t now_ms, struct store_inflight **out, size_t *n,
                                       size_t *swept) WARN_UNUSED; /* *swept: rows settled */

/* The end (offset + length, bytes) of the last extent, of an object or a
 * part, inside block_id; 0 when nothing references it. */
enum store_status store_block_extent_end(struct store *st, int64_t block_id, int64_t *end) WARN_UNUSED;

/* ---- the stray probe (strays.c) ---- */

/* The highest message id in chat_id of a block created before before_ms
 * (1 when none): a post started at or after before_ms got a larger id. */
enum store_status store_strays_floor(struct store *st, int64_t chat_id, int64_t before_ms, int64_t *floor)
    WARN_UNUSED;
/* Message ids in chat_id above `above` that the index references (blocks,
 * delete queue, unreclaimable, journal, the last snapshot), ascending, at
 * most max (+ 1 for the snapshot); *out malloc'd, NULL when *n is 0. */
enum store_status store_strays_referenced(struct store *st, int64_t chat_id, int64_t above, size_t max,
                                          int64_t **out, size_t *n) WARN_UNUSED;
/* An unposted pack's file_id is empty until its first post starts, then
 * STORE_PACK_POSTING (set by store_pack_posting), until the post is recorded. */
#define STORE_PACK_POSTING "posting"
enum store_status store_pack_posting(struct store *st, int64_t block_id) WARN_UNUSED;
struct store_stray_pack {
    int64_t block_id;
    unsigned char uuid[16];
    int64_t created_ms; /* when the pack opened */
};
/* Packs whose post started but is not recorded (chat_id 0, file_id
 * STORE_PACK_POSTING), at most max; *out malloc'd. */
enum store_status store_strays_unposted(struct store *st, size_t max, struct store_stray_pack **out, size_t *n)
    WARN_UNUSED;
/* Queues message (chat_id, message_id) for deletion at now_ms, unless a
 * block references it (STORE_EXISTS, nothing changed); with uuid also ends
 * that unconfirmed journal row. One transaction. */
enum store_status store_stray_collect(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                      int64_t posted_ms, const unsigned char *uuid, int64_t now_ms) WARN_UNUSED;
/* Ends unconfirmed journal rows uuids[0..n) (the probe gave up on them). */
enum store_status store_inflight_forget(struct store *st, const unsigned char (*uuids)[16], size_t n) WARN_UNUSED;

/* ---- the sweep windows a recovery leaves (sweep.c) ---- */

/* Where chat_id's window begins: the newest message id in the chat that a
 * journaled table references (blocks, shards, delete queue, unreclaimable,
 * journal; 1 when none), lowered, when a post started and was never answered
 * (an unconfirmed journal row, a pack being posted), to the newest block
 * created slack_ms before the earliest of them. For tgs3 recover, before
 * store_drop_unposted. */
enum store_status store_sweep_floor(struct store *st, int64_t chat_id, int64_t slack_ms, int64_t *floor) WARN_UNUSED;
/* Records ids floor < id < top of chat_id for the stray probe; a window the
 * chat has already is widened to hold both. */
enum store_status store_sweep_set(struct store *st, int64_t chat_id, int64_t floor, int64_t top) WARN_UNUSED;
struct store_sweep {
    int64_t chat_id, floor, top; /* ids floor < id < top are to be read */
};
/* Every window, at most max, by chat; *out malloc'd, NULL when *n is 0. */
enum store_status store_sweeps_list(struct store *st, size_t max, struct store_sweep **out, size_t *n) WARN_UNUSED;
/* Queues message (chat_id, message_id) for deletion at now_ms unless anything
 * references it (blocks, shards, delete queue, unreclaimable, journal, the
 * chain's documents, the pinned snapshot: STORE_EXISTS, nothing changed). One
 * transaction. */
enum store_status store_sweep_collect(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                      int64_t now_ms) WARN_UNUSED;
/* Every id of chat_id's window up to through is read: its floor moves there,
 * and the window goes once nothing is left in it (INT64_MAX: done). */
enum store_status store_sweep_advance(struct store *st, int64_t chat_id, int64_t through) WARN_UNUSED;

/* After a recovery: objects and multipart parts with an extent in a block never posted (chat_id 0) are
 * deleted whole; their references on posted blocks are dropped (a block left with none goes to the
 * delete queue); the unposted block rows and their block_files/stripes/shards/repairs rows go too.
 * One transaction. Counts in *objects, *parts, *blocks. */
enum store_status store_drop_unposted(struct store *st, int64_t now_ms, int64_t *objects, int64_t *parts,
                                      int64_t *blocks) WARN_UNUSED;

/* ---- the index's chain in Telegram (chain.c; safety/chain.h) ---- */
#define STORE_CHAIN_ID_LEN 16
struct store_chain {
    int have;                 /* a chain was begun */
    unsigned char chain[STORE_CHAIN_ID_LEN];
    int64_t chain_at;         /* ms it began */
    int64_t seq;              /* its last journal document (0: the manifest only) */
    int64_t bytes;            /* journal bytes since its snapshot */
    int clean;                /* the last run ended cleanly, every change posted */
};
enum store_status store_chain_get(struct store *st, struct store_chain *out) WARN_UNUSED;
enum store_status store_chain_set_clean(struct store *st, int clean) WARN_UNUSED;
/* One document of a chain: its encoded ref, the messages it occupies, the
 * journal rows of its shards (ended as committed in the same transaction). */
struct store_chain_msg {
    int64_t chat_id, message_id, bot_id;
};
struct store_chain_doc {
    const unsigned char *chain;
    int64_t seq;              /* > 0 journal (moves chain_seq), 0 manifest, < 0 snapshot block */
    const void *ref;
    size_t ref_len;
    size_t bytes;             /* journal bytes it carries (chain_bytes) */
    const struct store_chain_msg *msgs;
    int n_msgs;
    const unsigned char (*keys)[16];
    int n_keys;
};
enum store_status store_chain_add(struct store *st, const struct store_chain_doc *d, int64_t now_ms) WARN_UNUSED;
/* chain becomes the index's chain (its documents added before, in the same
 * transaction): every message of any other chain, and the single pinned
 * snapshot of earlier versions, is queued for deletion; the unjournaled mark
 * is cleared. */
enum store_status store_chain_begin(struct store *st, const unsigned char *chain, int64_t chain_at, int64_t now_ms)
    WARN_UNUSED;
struct store_chain_ref {
    int64_t seq;
    unsigned char *ref;       /* malloc'd encoded ref */
    size_t len;
};
/* The refs of chain's documents with lo <= seq <= hi, ascending, at most max. */
enum store_status store_chain_refs(struct store *st, const unsigned char *chain, int64_t lo, int64_t hi, size_t max,
                                   struct store_chain_ref **out, size_t *n) WARN_UNUSED;
void store_chain_refs_free(struct store_chain_ref *v, size_t n);

/* Queues a message for deletion recording when it was posted (see gc_queue). */
enum store_status store_gc_enqueue_posted(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                          int64_t posted_ms, int64_t due_ms) WARN_UNUSED;
/* Moves queue items ids[0..n) to the unreclaimable table (past Telegram's
 * 48-hour delete window), with a reason. */
enum store_status store_gc_unreclaimable(struct store *st, const struct store_gc_item *items, size_t n,
                                         int64_t now_ms, const char *reason) WARN_UNUSED;
enum store_status store_unreclaimable_count(struct store *st, int64_t *n) WARN_UNUSED;

/* fsck: the index against itself. Each problem found is reported through
 * cb (a line of text); with repair set, reference counts are set to what
 * the extents (and journal holds) say, blocks nobody references are
 * removed and their messages queued for deletion. Counts go to *problems
 * and *repaired. */
typedef void (*store_fsck_cb)(void *ud, const char *line);
enum store_status store_fsck_index(struct store *st, int repair, int64_t now_ms, store_fsck_cb cb, void *ud,
                                   int64_t *problems, int64_t *repaired) WARN_UNUSED;
/* Blocks with id > after_id in id order, at most max; *out malloc'd (NULL when *n is 0). */
enum store_status store_block_page(struct store *st, int64_t after_id, size_t max, struct store_block **out,
                                   size_t *n) WARN_UNUSED;

/* Writes a consistent copy of the whole index to path (VACUUM INTO; path must
 * not exist). Not inside a transaction. */
enum store_status store_snapshot_write(struct store *st, const char *path) WARN_UNUSED;
/* Records the message holding the newest snapshot; the one it replaces is
 * queued for deletion after the grace period. */
enum store_status store_snapshot_record(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                        int64_t now_ms) WARN_UNUSED;

/* ---- stats ---------------------------------------------------------------- */

struct store_stats {
    int64_t buckets, objects, bytes, blocks, block_bytes, uploads, gc_pending;
};
enum store_status store_stats_get(struct store *st, struct store_stats *out) WARN_UNUSED;

/* Opens an existing index read-only (no migration; safe beside a running
 * writer thanks to WAL). STORE_SCHEMA if the file holds no tgs3 index. */
enum store_status store_open_readonly(const char *path, struct store **out) WARN_UNUSED;
/* Figures per storage chat, in chat id order; *out malloc'd (NULL when *n is 0). */
struct store_chat_stats {
    int64_t chat_id;
    int64_t blocks;         /* live blocks = messages the index references */
    int64_t bytes;          /* stored bytes of those blocks */
    int64_t bots;           /* distinct bots that posted them */
    int64_t gc_pending;     /* messages waiting on the delete queue */
    int64_t top_message_id; /* highest message id known in the chat */
};
enum store_status store_stats_chats(struct store *st, struct store_chat_stats **out, size_t *n) WARN_UNUSED;
/* Objects and bytes per bucket, in name order; *out malloc'd (NULL when *n is 0). */
struct store_bucket_stats {
    char name[STORE_MAX_BUCKET + 1];
    int64_t objects;
    int64_t bytes;
};
enum store_status store_stats_buckets(struct store *st, struct store_bucket_stats **out, size_t *n) WARN_UNUSED;
/* Figures of the safety machinery (schema 2 and later). */
struct store_stats_extra {
    int64_t inflight;      /* journal rows: blocks being posted, or left by a crash (swept at start) */
    int64_t unreclaimable; /* messages Telegram would no longer delete */
    int64_t unposted;      /* block rows not posted yet (packs filling in the spool) */
    int64_t shared_blocks; /* blocks several objects use (packs of small objects, dedup) */
};
enum store_status store_stats_extra(struct store *st, struct store_stats_extra *out) WARN_UNUSED;

/* ---- two index files compared (compare.c) --------------------------------- */

enum store_compare_side {
    STORE_CMP_ONLY_A,  /* the row (or, with no key, the table) is in a only */
    STORE_CMP_ONLY_B,  /* in b only */
    STORE_CMP_DIFFERS, /* the key is on both sides, the values differ */
    STORE_CMP_SCHEMA,  /* the table's columns differ (no key): its rows were not compared */
};
const char *store_compare_side_name(enum store_compare_side side);
/* One difference: table, the row's key as text ("col=value, …", values as SQL literals; NULL for a
 * whole table), which side. The strings live until the callback returns. */
typedef void (*store_compare_cb)(void *ud, const char *table, const char *key, enum store_compare_side side);
/* Compares the index files a and b (both opened read-only, neither changed; any thread) table by
 * table, every table of either but sqlite_* and the names in skip (NULL-terminated; NULL for none),
 * rows matched by primary key, in table then key order. cb (may be NULL) gets the first max
 * differences; *n_diff counts them all. On failure *n_diff is 0 and err (errcap bytes) says why. */
enum store_status store_compare(const char *a, const char *b, const char *const *skip, size_t max,
                                store_compare_cb cb, void *ud, int64_t *n_diff, char *err, size_t errcap) WARN_UNUSED;

/* ---- pack compaction (compact.c) ------------------------------------------ */

struct store_pack_live { /* an object's one extent inside a pack */
    int64_t object_id;
    int64_t offset, length;
};
/* The posted pack with the largest share of dead bytes, at least pct % of
 * its plaintext, that only one-extent objects smaller than max_object refer
 * to; with up to max_live of its live extents (malloc'd, by offset).
 * NOT_FOUND when no pack qualifies. */
enum store_status store_pack_candidate(struct store *st, int pct, int64_t max_object, size_t max_live,
                                       struct store_block *blk, struct store_pack_live **live, size_t *n)
    WARN_UNUSED;
struct store_pack_move {
    int64_t object_id;
    int64_t old_offset, length;
    int64_t new_block, new_offset;
};
/* Compaction's copies are recorded before they are used: in one transaction
 * each move becomes a pack_moves row holding one reference on its new block
 * (an unposted pack). An object is repointed only once that pack is posted
 * (store_pack_moves_apply): an index taken in between (the journal's) still
 * names the old pack, which Telegram holds. */
enum store_status store_pack_move_hold(struct store *st, int64_t old_block, const struct store_pack_move *m, size_t n)
    WARN_UNUSED;
/* In one transaction, for every recorded move whose new block is posted:
 * an object still at (old_block, old_offset) points at its copy (the row's
 * reference becomes the extent's; the old block loses one and is queued for
 * deletion when its last goes); otherwise the copy is dead and the row's
 * reference goes. *moved and *stale count each. */
enum store_status store_pack_moves_apply(struct store *st, int64_t now_ms, size_t *moved, size_t *stale) WARN_UNUSED;

/* ---- the index journal (changes.c) ---------------------------------------- */

/* Every change to the index after a snapshot, as changesets of SQLite's
 * session extension: logical row changes keyed by primary key (an insert
 * with the new row, a delete with the old one, an update with the old and
 * new values of the columns it changed), compact, independent of pages and
 * checkpoints, so they apply onto a VACUUM INTO copy. The gateway starts
 * recording and writes a snapshot with no write between (so the chain
 * begins exactly at it), takes a changeset at its interval and posts it;
 * recovery applies the chain in order onto the snapshot. Table meta (schema
 * version, pinned snapshot, scrub cursor, the unjournaled mark) is never
 * recorded.
 *
 * Memory: the session holds, until the next take, the key and first old
 * values of every row changed since the last one (a row changed many times
 * is held once). The caller must take at its interval; nothing else bounds
 * it. */

/* Starts recording the changes made through st to every table but meta.
 * Idempotent (a running session is kept). Outside any transaction: inside
 * one it is STORE_BUSY. */
enum store_status store_changes_start(struct store *st) WARN_UNUSED;
/* Stops recording; what was not taken is dropped. No-op when not recording;
 * store_close does it. */
void store_changes_stop(struct store *st);
/* The changeset of every change since store_changes_start or the previous
 * take, into *buf (free with store_changes_free) and *len; *buf NULL and
 * *len 0 when nothing changed (a row changed back, writes rolled back).
 * Recording starts afresh, so the next take holds only what follows. st
 * must be recording. Outside any transaction: inside one (store_tx_begin,
 * a call under way) it is STORE_BUSY and nothing is taken. On failure
 * every change stays for the next take. */
enum store_status store_changes_take(struct store *st, void **buf, size_t *len) WARN_UNUSED;
void store_changes_free(void *buf); /* NULL ok */
/* When (mono_ms) the first commit the recording holds was made, 0 when it
 * holds none: the age of the index's oldest change not yet taken. The one
 * store call any thread may make, while st is open. */
int64_t store_changes_waiting(struct store *st);
/* Applies a changeset from store_changes_take, whole or not at all, in one
 * transaction (a savepoint inside store_tx_begin) onto st: a copy of the
 * index as it stood when the chain began, with the chain's earlier
 * changesets applied. Strict: STORE_CONFLICT, nothing changed, when any
 * change does not fit (a row to update or delete is missing or holds other
 * values than the changeset's old ones, a row to insert exists, a
 * constraint fails), when it names a table st does not have with the same
 * columns and primary key, or meta, or when the bytes are not a changeset;
 * store_errmsg says which. STORE_IO or STORE_BUSY: st itself failed. len 0
 * is STORE_OK. */
enum store_status store_changes_apply(struct store *st, const void *buf, size_t len) WARN_UNUSED;

/* The unjournaled mark. A write transaction that commits on a store that
 * is not recording (the offline tools: tgs3 chat retire, gc, repair,
 * fsck --repair, recover, the migrations of store_open) makes changes no
 * journal carries, so it also sets meta 'journal_unjournaled' to now (ms)
 * unless it is set, in the same transaction. Transactions that change no
 * row leave it alone. *since_ms: when the first such write committed, 0
 * when none did since the mark was cleared. */
enum store_status store_changes_unjournaled(struct store *st, int64_t *since_ms) WARN_UNUSED;
/* Clears the mark (the gateway starts a new chain from a fresh snapshot). */
enum store_status store_changes_clear_unjournaled(struct store *st) WARN_UNUSED;

/* ---- ACLs and public access blocks (acl.c) ---------------------------------- */

/* ACL texts are the gateway's (s3_acl_encode); NULL = private (no row). */
/* store_bucket_create with the bucket's ACL in the same transaction. */
enum store_status store_bucket_create_acl(struct store *st, const char *name, const char *owner, int64_t now_ms,
                                          const char *acl) WARN_UNUSED; /* STORE_EXISTS */
/* *acl malloc'd, or NULL when the bucket has none (private); STORE_OK either way. */
enum store_status store_bucket_acl_get(struct store *st, const char *bucket, char **acl) WARN_UNUSED;
enum store_status store_bucket_acl_set(struct store *st, const char *bucket, const char *acl)
    WARN_UNUSED; /* NOT_FOUND: no bucket */
/* PublicAccessBlock flags (S3_PAB_* bits); NOT_FOUND (*flags -1) when the bucket has none. */
enum store_status store_pab_get(struct store *st, const char *bucket, int64_t *flags) WARN_UNUSED;
/* flags < 0 removes them. NOT_FOUND: no bucket. */
enum store_status store_pab_set(struct store *st, const char *bucket, int64_t flags) WARN_UNUSED;
/* Inside a write: removes bucket's ACL and flags (the bucket is being deleted). */
enum store_status store_bucket_acls_drop(struct store *st, const char *bucket) WARN_UNUSED;
/* The ACL text of the object's version (NULL: the current object), NULL when it has none (private,
 * owned by the bucket's owner); NOT_FOUND: no such object or version (a delete marker has none). */
enum store_status store_object_acl_get(struct store *st, const char *bucket, const char *key, const char *version,
                                       char **acl) WARN_UNUSED;
enum store_status store_object_acl_set(struct store *st, const char *bucket, const char *key, const char *version,
                                       const char *acl) WARN_UNUSED; /* NOT_FOUND: no object */
/* Inside a write: sets (acl NULL: removes) the ACL of object row object_id. */
enum store_status store_object_acl_write(struct store *st, int64_t object_id, const char *acl) WARN_UNUSED;
/* Buckets having an ACL whose public access block has none of skip_flags, in name order, at most max
 * (then more may exist); *out malloc'd (free with store_bucket_acls_free). */
struct store_bucket_acl {
    char *bucket, *acl;
};
enum store_status store_bucket_acls_list(struct store *st, int64_t skip_flags, size_t max,
                                         struct store_bucket_acl **out, size_t *n) WARN_UNUSED;
void store_bucket_acls_free(struct store_bucket_acl *v, size_t n);
/* ---- CORS configurations (cors.c) ------------------------------------------------ */

/* The CORS configuration of bucket (the XML s3_cors_render wrote) into *xml,
 * malloc'd (free()); STORE_NOT_FOUND when it has none. */
enum store_status store_cors_get(struct store *st, const char *bucket, char **xml) WARN_UNUSED;
/* Sets bucket's configuration, replacing any; STORE_NOT_FOUND when there is no such bucket. */
enum store_status store_cors_put(struct store *st, const char *bucket, const char *xml) WARN_UNUSED;
/* Removes bucket's configuration; STORE_OK when it had none. */
enum store_status store_cors_delete(struct store *st, const char *bucket) WARN_UNUSED;

/* ---- lifecycle (lifecycle.c) ------------------------------------------------------ */

/* A bucket's lifecycle configuration (the XML s3_lifecycle_render wrote) into
 * *xml, malloc'd; STORE_NOT_FOUND when it has none. */
enum store_status store_lifecycle_get(struct store *st, const char *bucket, char **xml) WARN_UNUSED;
/* Sets bucket's configuration, replacing any; STORE_NOT_FOUND: no such bucket. */
enum store_status store_lifecycle_put(struct store *st, const char *bucket, const char *xml) WARN_UNUSED;
/* Removes bucket's configuration; STORE_OK when it had none. */
enum store_status store_lifecycle_delete(struct store *st, const char *bucket) WARN_UNUSED;
struct store_lc_bucket {
    char name[STORE_MAX_BUCKET + 1];
    char *config;   /* malloc'd XML */
    int versioning; /* enum store_versioning */
};
/* Buckets with a configuration, by name, after `after` ("" from the start),
 * at most max; *out malloc'd (store_lc_buckets_free). */
enum store_status store_lc_buckets(struct store *st, const char *after, size_t max, struct store_lc_bucket **out,
                                   size_t *n) WARN_UNUSED;
void store_lc_buckets_free(struct store_lc_bucket *v, size_t n);
/* A version a lifecycle rule may act on. */
struct store_lc_row {
    int64_t id;                         /* the objects row: the order within a key */
    char *key;                          /* malloc'd */
    char version[STORE_VERSION_LEN];
    int64_t size;
    int marker;                         /* a delete marker */
    char *meta_json;                    /* malloc'd (tags, meta.c) */
};
void store_lc_rows_free(struct store_lc_row *v, size_t n);
/* The batches of the lifecycle runner. Each reads at most max rows of bucket
 * whose key starts with prefix, in (key, id) order after the cursor, into
 * *out, malloc'd (NULL when *n is 0).
 * store_lc_current: current objects (latest, not a marker) created at or
 * before cutoff_ms; the cursor is after_key. */
enum store_status store_lc_current(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                   const char *after_key, size_t max, struct store_lc_row **out, size_t *n)
    WARN_UNUSED;
/* Noncurrent versions (delete markers included) that stopped being current
 * at or before cutoff_ms and have at least `newer` noncurrent versions of
 * their key newer than themselves (NewerNoncurrentVersions; 0: any). */
enum store_status store_lc_noncurrent(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                      int newer, const char *after_key, int64_t after_id, size_t max,
                                      struct store_lc_row **out, size_t *n) WARN_UNUSED;
/* Delete markers that are their key's latest and only version, made at or before cutoff_ms. */
enum store_status store_lc_lone_markers(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                        const char *after_key, size_t max, struct store_lc_row **out, size_t *n)
    WARN_UNUSED;
/* Ids of multipart uploads of bucket under prefix begun at or before
 * cutoff_ms, after after_id ("" from the start), by id; *out malloc'd. */
enum store_status store_lc_uploads(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                   const char *after_id, size_t max, char (**out)[64], size_t *n) WARN_UNUSED;
/* When the runner last finished a run (meta 'lifecycle_last_run'; 0: never). */
enum store_status store_lc_last_run(struct store *st, int64_t *ms) WARN_UNUSED;
enum store_status store_lc_last_run_set(struct store *st, int64_t ms) WARN_UNUSED;

#endif

/* store.c — opening the index, migrations, statements, transactions, errors.
 *
 * The connection is configured once (WAL, synchronous=FULL until
 * store_defer_sync hands syncing to the caller's store_sync, busy timeout,
 * foreign keys off: reference counts are kept by this module), then brought
 * to the newest schema by running the migrations it lacks, each in its own
 * transaction. Prepared statements are cached by the address of their SQL
 * text, so the hot path (small PUT and GET) never re-parses SQL.
 *
 * DESIGN: every mutating function brackets itself with store_op_begin and
 * store_op_end. Outside an explicit transaction that is BEGIN IMMEDIATE ...
 * COMMIT (ROLLBACK on failure); inside one (store_tx_begin) it is a
 * savepoint, so a failed call still leaves nothing behind while the caller's
 * transaction goes on. Every write transaction (migrations too) commits in
 * commit_write, which sets the index journal's unjournaled mark (changes.c).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

/* Schema version N is reached by running migrations[N-1]. Only append. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE buckets("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE blocks("
    "  id INTEGER PRIMARY KEY,"
    "  chat_id INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL,"
    "  bot_id INTEGER NOT NULL,"
    "  file_id TEXT NOT NULL,"
    "  file_unique_id TEXT NOT NULL,"
    "  plain_size INTEGER NOT NULL,"
    "  stored_size INTEGER NOT NULL,"
    "  hash BLOB,"
    "  key_id INTEGER NOT NULL,"
    "  nonce BLOB,"
    "  refcount INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE(chat_id, message_id));"
    "CREATE TABLE block_files("
    "  block_id INTEGER NOT NULL,"
    "  bot_id INTEGER NOT NULL,"
    "  file_id TEXT NOT NULL,"
    "  PRIMARY KEY(block_id, bot_id)) WITHOUT ROWID;"
    "CREATE TABLE objects("
    "  id INTEGER PRIMARY KEY,"
    "  bucket TEXT NOT NULL,"
    "  key TEXT NOT NULL COLLATE BINARY,"
    "  size INTEGER NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  mtime_ms INTEGER NOT NULL,"
    "  meta_json TEXT NOT NULL,"
    "  UNIQUE(bucket, key));"
    "CREATE TABLE extents("
    "  object_id INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  block_id INTEGER NOT NULL,"
    "  offset INTEGER NOT NULL,"
    "  length INTEGER NOT NULL,"
    "  PRIMARY KEY(object_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX extents_block ON extents(block_id);"
    "CREATE TABLE uploads("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  bucket TEXT NOT NULL,"
    "  key TEXT NOT NULL COLLATE BINARY,"
    "  meta_json TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX uploads_key ON uploads(bucket, key, id);"
    "CREATE INDEX uploads_created ON uploads(created_ms);"
    "CREATE TABLE parts("
    "  upload_id TEXT NOT NULL,"
    "  part_number INTEGER NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  mtime_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(upload_id, part_number)) WITHOUT ROWID;"
    "CREATE TABLE part_extents("
    "  upload_id TEXT NOT NULL,"
    "  part_number INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  block_id INTEGER NOT NULL,"
    "  offset INTEGER NOT NULL,"
    "  length INTEGER NOT NULL,"
    "  PRIMARY KEY(upload_id, part_number, seq)) WITHOUT ROWID;"
    "CREATE INDEX part_extents_block ON part_extents(block_id);"
    "CREATE TABLE gc_queue("
    "  id INTEGER PRIMARY KEY,"
    "  chat_id INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL,"
    "  bot_id INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(chat_id, message_id));"
    "CREATE INDEX gc_queue_due ON gc_queue(due_ms);",
    /* 2: data safety — block identities for sealing, dedup lookups, the journal
     * of uploads in flight, message ages for the 48-hour rule, unreclaimable messages. */
    "ALTER TABLE blocks ADD COLUMN uuid BLOB;"
    "CREATE INDEX blocks_hash ON blocks(hash, key_id);"
    "ALTER TABLE gc_queue ADD COLUMN posted_ms INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE inflight("
    "  uuid BLOB PRIMARY KEY NOT NULL,"
    "  put TEXT NOT NULL,"
    "  chat_id INTEGER NOT NULL,"
    "  bot_id INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL DEFAULT 0,"
    "  hold_block_id INTEGER NOT NULL DEFAULT 0,"
    "  started_ms INTEGER NOT NULL);"
    "CREATE TABLE unreclaimable("
    "  chat_id INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL,"
    "  bot_id INTEGER NOT NULL,"
    "  posted_ms INTEGER NOT NULL,"
    "  recorded_ms INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  PRIMARY KEY(chat_id, message_id)) WITHOUT ROWID;",
    /* 3: redundancy — a block stored as a stripe of K data + M parity shards
     * in different chats (shards.c); blocks without a stripes row are one document. */
    "CREATE TABLE stripes("
    "  block_id INTEGER PRIMARY KEY,"
    "  k INTEGER NOT NULL,"
    "  m INTEGER NOT NULL,"
    "  sealed_size INTEGER NOT NULL);"
    "CREATE TABLE shards("
    "  block_id INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  chat_id INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL,"
    "  bot_id INTEGER NOT NULL,"
    "  file_id TEXT NOT NULL,"
    "  file_unique_id TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(block_id, idx)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX shards_message ON shards(chat_id, message_id);"
    "CREATE TABLE repairs("
    "  block_id INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  added_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(block_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX repairs_due ON repairs(due_ms);"
    "CREATE TABLE retired_chats("
    "  chat_id INTEGER PRIMARY KEY,"
    "  retired_ms INTEGER NOT NULL);",
    /* 4: the index in Telegram — the documents of its chain (chain.c), outside the journal. */
    "CREATE TABLE chain_docs("
    "  chain BLOB NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  ref BLOB NOT NULL,"
    "  posted_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(chain, seq)) WITHOUT ROWID;"
    "CREATE TABLE chain_msgs("
    "  chat_id INTEGER NOT NULL,"
    "  message_id INTEGER NOT NULL,"
    "  bot_id INTEGER NOT NULL,"
    "  chain BLOB NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  posted_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(chat_id, message_id)) WITHOUT ROWID;",
    /* 5: after a recovery, each chat's ids where posts the recovered index cannot know of may lie
     * (sweep.c), until the gateway's stray probe has read them; outside the journal. */
    "CREATE TABLE sweeps("
    "  chat_id INTEGER PRIMARY KEY,"
    "  floor INTEGER NOT NULL,"
    "  top INTEGER NOT NULL);",
    /* 6: pack compaction's copies waiting for their new pack to be posted (compact.c); each row
     * holds one reference on new_block until the object is repointed or the copy dropped. */
    "CREATE TABLE pack_moves("
    "  object_id INTEGER NOT NULL,"
    "  old_block INTEGER NOT NULL,"
    "  old_offset INTEGER NOT NULL,"
    "  length INTEGER NOT NULL,"
    "  new_block INTEGER NOT NULL,"
    "  new_offset INTEGER NOT NULL,"
    "  PRIMARY KEY(new_block, new_offset)) WITHOUT ROWID;"
    "CREATE INDEX pack_moves_old ON pack_moves(old_block);",
    /* 7: completed uploads — what a retried CompleteMultipartUpload answers while the object the
     * upload produced is still there (completed.c); kept one day. */
    "CREATE TABLE completed_uploads("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  bucket TEXT NOT NULL,"
    "  key TEXT NOT NULL COLLATE BINARY,"
    "  object_id INTEGER NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  completed_ms INTEGER NOT NULL);"
    "CREATE INDEX completed_uploads_ms ON completed_uploads(completed_ms);",
    /* 8: ACLs and public access blocks (acl.c) — a bucket's ACL and its PublicAccessBlock flags,
     * an object's owner and ACL keyed by its row id (deleted with the object; no row: private,
     * owned by the bucket's owner). */
    "CREATE TABLE bucket_acls("
    "  bucket TEXT PRIMARY KEY NOT NULL,"
    "  acl TEXT NOT NULL);"
    "CREATE TABLE public_access_blocks("
    "  bucket TEXT PRIMARY KEY NOT NULL,"
    "  flags INTEGER NOT NULL);"
    "CREATE TABLE object_acls("
    "  object_id INTEGER PRIMARY KEY,"
    "  acl TEXT NOT NULL);",
    /* 9: CORS rules — each bucket's CORS configuration (PutBucketCors), as GetBucketCors renders it (cors.c). */
    "CREATE TABLE bucket_cors("
    "  bucket TEXT PRIMARY KEY NOT NULL,"
    "  config TEXT NOT NULL);",
    /* 10: checksums of parts and objects — an upload's x-amz-checksum-algorithm and -type, each
     * part's verified checksum (checksums.c); a completed object keeps its own and its parts' in
     * meta_json. */
    "ALTER TABLE uploads ADD COLUMN ck_alg TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE uploads ADD COLUMN ck_type TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE parts ADD COLUMN ck_alg TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE parts ADD COLUMN ck_value TEXT NOT NULL DEFAULT '';",
    /* 11: versions (versions.c) — a key holds a stack of versions, newest = highest id, exactly one
     * of them latest; a delete marker is a version without data; each version's Object Lock
     * retention and legal hold. A bucket's versioning state (0 never enabled, 1 Enabled,
     * 2 Suspended), its Object Lock and default retention; its lifecycle rules (lifecycle.c). */
    "CREATE TABLE objects_v("
    "  id INTEGER PRIMARY KEY,"
    "  bucket TEXT NOT NULL,"
    "  key TEXT NOT NULL COLLATE BINARY,"
    "  size INTEGER NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  mtime_ms INTEGER NOT NULL,"
    "  meta_json TEXT NOT NULL,"
    "  version TEXT NOT NULL DEFAULT 'null',"
    "  latest INTEGER NOT NULL DEFAULT 1,"
    "  marker INTEGER NOT NULL DEFAULT 0,"
    "  noncurrent_ms INTEGER NOT NULL DEFAULT 0,"
    "  lock_mode TEXT NOT NULL DEFAULT '',"
    "  lock_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  legal_hold INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(bucket, key, version));"
    "INSERT INTO objects_v(id, bucket, key, size, etag, mtime_ms, meta_json)"
    "  SELECT id, bucket, key, size, etag, mtime_ms, meta_json FROM objects;"
    "DROP TABLE objects;"
    "ALTER TABLE objects_v RENAME TO objects;"
    "CREATE UNIQUE INDEX objects_latest ON objects(bucket, key) WHERE latest = 1;"
    "CREATE INDEX objects_versions ON objects(bucket, key, id DESC);"
    "ALTER TABLE buckets ADD COLUMN versioning INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE buckets ADD COLUMN lock_enabled INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE buckets ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE buckets ADD COLUMN lock_days INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE buckets ADD COLUMN lock_years INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE bucket_lifecycle("
    "  bucket TEXT PRIMARY KEY NOT NULL,"
    "  config TEXT NOT NULL);",
};

const char *store_status_name(enum store_status s)
{
    switch (s) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not found";
    case STORE_EXISTS: return "exists";
    case STORE_NOT_EMPTY: return "not empty";
    case STORE_CONFLICT: return "conflict";
    case STORE_BUSY: return "busy";
    case STORE_SCHEMA: return "unknown schema";
    case STORE_IO: return "i/o error";
    case STORE_LOCKED: return "locked";
    }
    return "unknown status";
}

enum store_status store_fail(struct store *st, int rc)
{
    const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

    snprintf(st->err, sizeof st->err, "%s", msg);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return STORE_BUSY;
    return STORE_IO;
}

const char *store_errmsg(struct store *st)
{
    return st->err;
}

enum store_status store_stmt(struct store *st, const char *sql, sqlite3_stmt **out)
{
    uintptr_t h = (uintptr_t)sql;
    size_t i;
    int rc;

    *out = NULL;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15u;
    i = (size_t)(h >> 20) & (STORE_STMT_SLOTS - 1);
    for (size_t probes = 0; probes < STORE_STMT_SLOTS; probes++, i = (i + 1) & (STORE_STMT_SLOTS - 1)) {
        struct store_stmt_slot *slot = &st->stmts[i];
        if (slot->sql == sql) {
            sqlite3_reset(slot->stmt);
            sqlite3_clear_bindings(slot->stmt);
            *out = slot->stmt;
            return STORE_OK;
        }
        if (slot->sql == NULL) {
            rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
            if (rc != SQLITE_OK) {
                slot->stmt = NULL;
                return store_fail(st, rc);
            }
            slot->sql = sql;
            *out = slot->stmt;
            return STORE_OK;
        }
    }
    ASSERT(!"statement cache full");
    return STORE_IO;
}

enum store_status store_exec_stmt(struct store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    enum store_status ret = STORE_OK;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = store_fail(st, rc);
    sqlite3_reset(s);
    return ret;
}

/* Binds parameters 1, 2, ... of s from ap as fmt says (see store_int.h). */
static void bind_va(sqlite3_stmt *s, const char *fmt, va_list ap)
{
    const void *p;
    int len;

    for (int i = 1; *fmt != '\0'; fmt++, i++) {
        switch (*fmt) {
        case 'i':
            sqlite3_bind_int(s, i, va_arg(ap, int));
            break;
        case 'I':
            sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
            break;
        case 't':
            sqlite3_bind_text(s, i, va_arg(ap, const char *), -1, SQLITE_STATIC);
            break;
        case 'T':
            p = va_arg(ap, const char *);
            len = va_arg(ap, int);
            sqlite3_bind_text(s, i, p, len, SQLITE_TRANSIENT);
            break;
        case 'b':
            p = va_arg(ap, const void *);
            len = va_arg(ap, int);
            sqlite3_bind_blob(s, i, p, len, SQLITE_STATIC);
            break;
        default:
            ASSERT(!"unknown bind format");
        }
    }
}

static enum store_status prep_va(struct store *st, sqlite3_stmt **out, const char *sql, const char *fmt,
                                 va_list ap)
{
    enum store_status ret = store_stmt(st, sql, out);

    if (ret == STORE_OK)
        bind_va(*out, fmt, ap);
    return ret;
}

enum store_status store_prep(struct store *st, sqlite3_stmt **out, const char *sql, const char *fmt, ...)
{
    enum store_status ret;
    va_list ap;

    va_start(ap, fmt);
    ret = prep_va(st, out, sql, fmt, ap);
    va_end(ap);
    return ret;
}

enum store_status store_query(struct store *st, sqlite3_stmt **out, const char *sql, const char *fmt, ...)
{
    enum store_status ret;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    ret = prep_va(st, out, sql, fmt, ap);
    va_end(ap);
    if (ret != STORE_OK)
        return ret;
    rc = sqlite3_step(*out);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    ret = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_fail(st, rc);
    sqlite3_reset(*out);
    return ret;
}

enum store_status store_scalars(struct store *st, int64_t *out, int n, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    ret = prep_va(st, &s, sql, fmt, ap);
    va_end(ap);
    if (ret != STORE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        ret = store_fail(st, rc);
    for (int i = 0; i < n && ret == STORE_OK; i++)
        out[i] = sqlite3_column_int64(s, i);
    sqlite3_reset(s);
    return ret;
}

/* What a statement run by exec_va must do beyond completing. */
enum exec_want {
    EXEC_RUN,    /* nothing */
    EXEC_CHANGE, /* change a row (else STORE_NOT_FOUND) */
    EXEC_INSERT, /* a constraint violation is STORE_EXISTS */
};

static enum store_status exec_va(struct store *st, enum exec_want want, const char *sql, const char *fmt,
                                 va_list ap)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret = prep_va(st, &s, sql, fmt, ap);
    int rc;

    if (ret != STORE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT && want == EXEC_INSERT)
        ret = STORE_EXISTS;
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = store_fail(st, rc);
    sqlite3_reset(s);
    if (ret == STORE_OK && want == EXEC_CHANGE && sqlite3_changes(st->db) == 0)
        ret = STORE_NOT_FOUND;
    return ret;
}

enum store_status store_exec(struct store *st, const char *sql, const char *fmt, ...)
{
    enum store_status ret;
    va_list ap;

    va_start(ap, fmt);
    ret = exec_va(st, EXEC_RUN, sql, fmt, ap);
    va_end(ap);
    return ret;
}

enum store_status store_exec_found(struct store *st, const char *sql, const char *fmt, ...)
{
    enum store_status ret;
    va_list ap;

    va_start(ap, fmt);
    ret = exec_va(st, EXEC_CHANGE, sql, fmt, ap);
    va_end(ap);
    return ret;
}

enum store_status store_insert(struct store *st, const char *sql, const char *fmt, ...)
{
    enum store_status ret;
    va_list ap;

    va_start(ap, fmt);
    ret = exec_va(st, EXEC_INSERT, sql, fmt, ap);
    va_end(ap);
    return ret;
}

enum store_status store_rows_each(struct store *st, sqlite3_stmt *s, store_row_fn *fn, void *ud)
{
    enum store_status ret = STORE_OK;
    int rc;

    for (;;) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        if (fn(s, ud) == STORE_ROW_STOP) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        ret = store_fail(st, rc);
    sqlite3_reset(s);
    return ret;
}

struct rows_walk {
    size_t size, max, cap;
    store_row_read_fn *read;
    void *ud;
    struct store_rows *out;
};

static enum store_row on_rows_row(sqlite3_stmt *s, void *ud)
{
    struct rows_walk *w = ud;
    struct store_rows *out = w->out;
    unsigned char *row;

    if (out->n == w->max) {
        out->more = 1;
        return STORE_ROW_STOP;
    }
    if (out->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        out->v = xrealloc(out->v, w->cap * w->size);
    }
    row = (unsigned char *)out->v + out->n * w->size;
    memset(row, 0, w->size);
    if (w->read(s, row, w->ud) == STORE_ROW_STOP)
        return STORE_ROW_STOP;
    out->n++;
    return STORE_ROW_NEXT;
}

enum store_status store_rows_read(struct store *st, sqlite3_stmt *s, size_t size, size_t max,
                                  store_row_read_fn *read, store_row_release_fn *release, void *ud,
                                  struct store_rows *out)
{
    struct rows_walk w = {.size = size, .max = max, .read = read, .ud = ud, .out = out};
    enum store_status ret;

    memset(out, 0, sizeof *out);
    ret = store_rows_each(st, s, on_rows_row, &w);
    for (size_t i = 0; ret != STORE_OK && release != NULL && i < out->n; i++)
        release((unsigned char *)out->v + i * size);
    if (ret != STORE_OK || out->n == 0) { /* a first row refused by read leaves an empty array behind */
        free(out->v);
        memset(out, 0, sizeof *out);
    }
    return ret;
}

enum store_status store_rows_select(struct store *st, struct store_rows *out, size_t size, size_t max,
                                    store_row_read_fn *read, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    va_list ap;

    memset(out, 0, sizeof *out);
    va_start(ap, fmt);
    ret = prep_va(st, &s, sql, fmt, ap);
    va_end(ap);
    if (ret == STORE_OK)
        ret = store_rows_read(st, s, size, max, read, NULL, NULL, out);
    return ret;
}

/* Runs sql, which takes no parameters (transaction control). */
static enum store_status exec_sql(struct store *st, const char *sql)
{
    return store_exec(st, sql, "");
}

static enum store_status begin_write(struct store *st)
{
    st->tx_changes = (int64_t)sqlite3_total_changes64(st->db);
    return exec_sql(st, "BEGIN IMMEDIATE");
}

/* The one place a write transaction commits: the unjournaled mark goes in with it. */
static enum store_status commit_write(struct store *st)
{
    enum store_status ret = store_changes_note(st);

    return ret == STORE_OK ? exec_sql(st, "COMMIT") : ret;
}

enum store_status store_op_begin(struct store *st)
{
    return st->explicit_tx ? exec_sql(st, "SAVEPOINT store_op") : begin_write(st);
}

enum store_status store_op_end(struct store *st, enum store_status status)
{
    enum store_status ret;

    if (status == STORE_OK) {
        ret = st->explicit_tx ? exec_sql(st, "RELEASE store_op") : commit_write(st);
        if (ret == STORE_OK)
            return STORE_OK;
        status = ret;
    }
    if (st->explicit_tx) {
        (void)exec_sql(st, "ROLLBACK TO store_op");
        (void)exec_sql(st, "RELEASE store_op");
    } else if (!sqlite3_get_autocommit(st->db)) {
        (void)exec_sql(st, "ROLLBACK");
    }
    return status;
}

enum store_status store_read_begin(struct store *st)
{
    return exec_sql(st, "SAVEPOINT store_read");
}

void store_read_end(struct store *st)
{
    (void)exec_sql(st, "RELEASE store_read");
}

enum store_status store_tx_begin(struct store *st)
{
    enum store_status ret;

    ASSERT(!st->explicit_tx);
    ret = begin_write(st);
    if (ret == STORE_OK)
        st->explicit_tx = 1;
    return ret;
}

enum store_status store_tx_commit(struct store *st)
{
    enum store_status ret;

    ASSERT(st->explicit_tx);
    ret = commit_write(st);
    if (ret != STORE_OK && !sqlite3_get_autocommit(st->db))
        (void)exec_sql(st, "ROLLBACK");
    st->explicit_tx = 0;
    return ret;
}

void store_tx_rollback(struct store *st)
{
    /* A failed store_tx_commit has already rolled back; callers may still call this. */
    if (!st->explicit_tx)
        return;
    if (!sqlite3_get_autocommit(st->db))
        (void)exec_sql(st, "ROLLBACK");
    st->explicit_tx = 0;
}

void store_set_gc_grace(struct store *st, int64_t grace_ms)
{
    st->gc_grace_ms = grace_ms;
}

void store_col_text(sqlite3_stmt *s, int col, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    size_t len = t ? (size_t)sqlite3_column_bytes(s, col) : 0;

    if (len >= n)
        len = n - 1;
    if (len)
        memcpy(out, t, len);
    out[len] = '\0';
}

void store_col_blob(sqlite3_stmt *s, int col, void *out, size_t n)
{
    const void *p = sqlite3_column_blob(s, col);

    if (p && (size_t)sqlite3_column_bytes(s, col) == n)
        memcpy(out, p, n);
}

char *store_col_strdup(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    size_t len = t ? (size_t)sqlite3_column_bytes(s, col) : 0;

    return xstrndup(t ? (const char *)t : "", len);
}

enum store_status store_schema_version(struct store *st, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int rc;

    *out = 0;
    rc = sqlite3_prepare_v2(st->db, "SELECT v FROM meta WHERE k = 'schema_version'", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        ret = store_fail(st, rc);
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc);
        goto out;
    }
    ret = STORE_OK;
out:
    sqlite3_finalize(s);
    return ret;
}

static enum store_status exec_script(struct store *st, const char *sql)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? STORE_OK : store_fail(st, rc);
}

enum store_status store_defer_sync(struct store *st)
{
    st->synced_changes = (int64_t)sqlite3_total_changes64(st->db); /* committed so far: synced (FULL) */
    return exec_script(st, "PRAGMA synchronous=NORMAL;");
}

enum store_status store_sync(struct store *st)
{
    /* Reads alone (most GETs) changed nothing: no sync. Every statement that
     * writes here changes rows, so the count tells. */
    int64_t changes = (int64_t)sqlite3_total_changes64(st->db);
    if (changes == st->synced_changes)
        return STORE_OK;
    sqlite3_file *wal = NULL;
    int rc = sqlite3_file_control(st->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    if (rc != SQLITE_OK)
        return store_fail(st, rc);
    if (wal != NULL && wal->pMethods != NULL) { /* else no WAL open yet: nothing written */
        rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
        if (rc != SQLITE_OK)
            return store_fail(st, rc);
    }
    st->synced_changes = changes;
    return STORE_OK;
}

static enum store_status migrate(struct store *st)
{
    const int64_t newest = (int64_t)ARRAY_SIZE(migrations);
    enum store_status ret;
    int64_t version;
    char sql[128];

    ret = exec_script(st, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY NOT NULL, v)");
    if (ret != STORE_OK)
        goto out;
    ret = store_schema_version(st, &version);
    if (ret != STORE_OK)
        goto out;
    if (version > newest || version < 0) {
        snprintf(st->err, sizeof st->err, "schema version %lld is not known (newest %lld)",
                 (long long)version, (long long)newest);
        ret = STORE_SCHEMA;
        goto out;
    }
    for (; version < newest; version++) { /* a new schema: no journal chain spans it (the mark) */
        ret = begin_write(st);
        if (ret != STORE_OK)
            goto out;
        ret = exec_script(st, migrations[version]);
        if (ret == STORE_OK) {
            snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(k, v) VALUES ('schema_version', %lld)",
                     (long long)(version + 1));
            ret = exec_script(st, sql);
        }
        if (ret == STORE_OK)
            ret = commit_write(st);
        if (ret != STORE_OK) {
            (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
    }
    ret = STORE_OK;
out:
    return ret;
}

enum store_status store_connect(struct store *st, const char *path, int flags)
{
    int rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(st->db, 0);
        rc = sqlite3_busy_timeout(st->db, 5000);
    }
    return rc == SQLITE_OK ? STORE_OK : store_fail(st, rc);
}

enum store_status store_open(const char *path, struct store **out)
{
    struct store *st = xcalloc(1, sizeof *st);
    enum store_status ret;

    *out = NULL;
    ret = store_connect(st, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (ret != STORE_OK)
        goto out;
    /* WAL with synchronous=FULL: a commit that acknowledges an object survives power loss. */
    ret = exec_script(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;");
    if (ret != STORE_OK)
        goto out;
    ret = migrate(st);
    if (ret != STORE_OK)
        goto out;
    *out = st;
    st = NULL;
out:
    store_close(st);
    return ret;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    if (st->explicit_tx)
        store_tx_rollback(st);
    store_changes_stop(st);
    for (size_t i = 0; i < STORE_STMT_SLOTS; i++)
        sqlite3_finalize(st->stmts[i].stmt);
    sqlite3_close(st->db);
    free(st);
}

enum store_status store_stats_get(struct store *st, struct store_stats *out)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM buckets), (SELECT count(*) FROM objects),"
        " (SELECT coalesce(sum(size), 0) FROM objects), (SELECT count(*) FROM blocks),"
        " (SELECT coalesce(sum(stored_size), 0) FROM blocks), (SELECT count(*) FROM uploads),"
        " (SELECT count(*) FROM gc_queue)";
    int64_t v[7];
    enum store_status ret;

    memset(out, 0, sizeof *out);
    ret = store_scalars(st, v, 7, sql, "");
    if (ret == STORE_OK)
        *out = (struct store_stats){.buckets = v[0], .objects = v[1], .bytes = v[2], .blocks = v[3],
                                    .block_bytes = v[4], .uploads = v[5], .gc_pending = v[6]};
    return ret;
}

/* store_int.h — internals shared by the files of gateway/store/.
 *
 * The connection, the prepared-statement cache, error mapping, statement
 * helpers (bind from a format, step once, run, read one row's integers),
 * column readers, walking a statement's rows (into a growing array), the
 * per-call transaction wrapper, block reference counting, the GC queue's
 * insert and the pinned snapshot's record. Nothing here is visible outside
 * this directory.
 */
#ifndef TGS3_STORE_INT_H
#define TGS3_STORE_INT_H

#include <stdatomic.h>

#include <sqlite3.h>

#include "gateway/store/store.h"

/* Distinct SQL texts used by the module; a power of two, well above the count. */
#define STORE_STMT_SLOTS 256

struct store_stmt_slot {
    const char *sql;     /* string literal at the call site; the cache key */
    sqlite3_stmt *stmt;
};

struct store {
    sqlite3 *db;
    int explicit_tx;      /* store_tx_begin is open: calls use savepoints */
    int64_t gc_grace_ms;  /* ms between a block's last reference and its deletion */
    int64_t synced_changes; /* sqlite3_total_changes64 at the last store_sync */
    int64_t tx_changes;   /* sqlite3_total_changes64 when the write transaction began */
    struct sqlite3_session *session; /* records changes for the index journal (changes.c); NULL: none */
    _Atomic int64_t waiting_ms; /* mono ms of the first commit the session recorded since the last take; 0: none (any thread reads it) */
    char err[256];        /* last SQLite error text */
    struct store_stmt_slot stmts[STORE_STMT_SLOTS];
};

/* Opens path with flags (SQLITE_OPEN_*; NOMUTEX is added) as st->db, set up
 * as every connection is: plain result codes, a 5 s busy timeout. */
enum store_status store_connect(struct store *st, const char *path, int flags) WARN_UNUSED;
/* Reads meta.schema_version into *out; 0 when none is recorded. */
enum store_status store_schema_version(struct store *st, int64_t *out) WARN_UNUSED;

/* Returns the cached statement for sql (a string literal), reset and with
 * bindings cleared, preparing it on first use. */
enum store_status store_stmt(struct store *st, const char *sql, sqlite3_stmt **out) WARN_UNUSED;
/* Records the connection's error text and maps an SQLite result code. */
enum store_status store_fail(struct store *st, int rc) WARN_UNUSED;
/* Steps s once, expecting SQLITE_DONE, and resets it. */
enum store_status store_exec_stmt(struct store *st, sqlite3_stmt *s) WARN_UNUSED;

/* The statement helpers below take sql (a string literal: the cache key) and
 * bind parameters ?1, ?2, ... from the arguments after fmt, one character of
 * fmt each, in the manner of sqlite3_mprintf:
 *   i  an int
 *   I  an int64_t (not a size_t, an int or a sqlite3_int64: cast)
 *   t  a const char *, NUL-terminated text kept by the caller until the
 *      statement is reset (SQLITE_STATIC); NULL binds NULL
 *   T  a const char * and an int length (-1: up to the NUL), text that is
 *      copied (SQLITE_TRANSIENT)
 *   b  a const void * and an int length, a blob kept by the caller until the
 *      statement is reset (SQLITE_STATIC)
 * Parameters past fmt stay NULL. */

/* Returns in *out the cached statement for sql with its parameters bound. */
enum store_status store_prep(struct store *st, sqlite3_stmt **out, const char *sql, const char *fmt, ...)
    WARN_UNUSED;
/* Prepares sql and steps it once: STORE_OK with *out on its first row (read
 * it, then sqlite3_reset it), STORE_NOT_FOUND when it yields none, or the
 * failure; on anything but STORE_OK the statement is already reset. */
enum store_status store_query(struct store *st, sqlite3_stmt **out, const char *sql, const char *fmt, ...)
    WARN_UNUSED;
/* Runs sql, a query that always yields one row (aggregates, EXISTS), and
 * copies the first n columns of that row, as integers, to out[0 .. n-1]
 * (left as they were on failure). Resets the statement. */
enum store_status store_scalars(struct store *st, int64_t *out, int n, const char *sql, const char *fmt, ...)
    WARN_UNUSED;
/* Runs sql to completion and resets it; sqlite3_changes tells what it did. */
enum store_status store_exec(struct store *st, const char *sql, const char *fmt, ...) WARN_UNUSED;
/* store_exec of a statement meant to change a row: STORE_NOT_FOUND if it changed none. */
enum store_status store_exec_found(struct store *st, const char *sql, const char *fmt, ...) WARN_UNUSED;
/* store_exec of an insert: a constraint violation (the row exists) is
 * STORE_EXISTS, leaving the error text alone for the caller to set. */
enum store_status store_insert(struct store *st, const char *sql, const char *fmt, ...) WARN_UNUSED;

/* What a row callback asks of the walk over a statement's rows. */
enum store_row { STORE_ROW_NEXT, STORE_ROW_STOP };

/* Called by store_rows_each for each row of s: reads the current row and
 * returns STORE_ROW_NEXT to go on, or STORE_ROW_STOP to end the walk there
 * (an end, not an error). */
typedef enum store_row store_row_fn(sqlite3_stmt *s, void *ud);
/* Steps s, a bound statement, until its rows end or fn stops the walk, then
 * resets it. STORE_OK unless a step fails. */
enum store_status store_rows_each(struct store *st, sqlite3_stmt *s, store_row_fn *fn, void *ud) WARN_UNUSED;

/* Rows gathered by store_rows_read into one growing array. */
struct store_rows {
    void *v;  /* malloc'd array of n elements; NULL while n is 0 */
    size_t n;
    int more; /* the walk stopped at max elements with another row waiting */
};
/* Called by store_rows_read for each row of s: fills row (zeroed, one
 * element) from the current row and returns STORE_ROW_NEXT; or returns
 * STORE_ROW_STOP, having put nothing in row that needs freeing, to end the
 * walk before this row. */
typedef enum store_row store_row_read_fn(sqlite3_stmt *s, void *row, void *ud);
/* Releases what read put in row (NULL when rows own nothing). */
typedef void store_row_release_fn(void *row);
/* Steps s, a bound statement, reading each row with read into a new element
 * of size bytes at the end of out (zeroed first), and resets it. At most max
 * elements: a further row ends the walk with out->more set. On failure the
 * rows read so far are released and out is left empty. */
enum store_status store_rows_read(struct store *st, sqlite3_stmt *s, size_t size, size_t max,
                                  store_row_read_fn *read, store_row_release_fn *release, void *ud,
                                  struct store_rows *out) WARN_UNUSED;
/* Prepares sql and reads its rows into out as store_rows_read does (no
 * release, no user data); out is left empty when sql cannot be prepared. */
enum store_status store_rows_select(struct store *st, struct store_rows *out, size_t size, size_t max,
                                    store_row_read_fn *read, const char *sql, const char *fmt, ...) WARN_UNUSED;

/* Every mutating call: store_op_begin opens BEGIN IMMEDIATE, or a savepoint
 * when the caller holds an explicit transaction; store_op_end commits or
 * releases on STORE_OK and rolls back otherwise, returning the final status. */
enum store_status store_op_begin(struct store *st) WARN_UNUSED;
enum store_status store_op_end(struct store *st, enum store_status status) WARN_UNUSED;

/* Called just before a write transaction commits (store.c has the one place):
 * when no session records st's changes and rows changed since st->tx_changes,
 * sets the unjournaled mark in meta unless it is set; when one does and it
 * holds changes, notes when the first of them since the last take committed
 * (store_changes_waiting) (changes.c). */
enum store_status store_changes_note(struct store *st) WARN_UNUSED;

/* Takes one reference on block_id; STORE_CONFLICT if the block is missing. */
enum store_status store_block_ref(struct store *st, int64_t block_id) WARN_UNUSED;
/* Drops count references; at zero the block is deleted and its message
 * queued for deletion at now_ms + grace. */
enum store_status store_block_unref(struct store *st, int64_t block_id, int64_t count, int64_t now_ms)
    WARN_UNUSED;
/* Queues message (chat_id, message_id), posted by bot_id at posted_ms, for
 * deletion at due_ms; a message queued already stays as it is. */
enum store_status store_gc_add(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                               int64_t posted_ms, int64_t due_ms) WARN_UNUSED;
/* Takes one reference per extent. */
enum store_status store_extents_ref(struct store *st, const struct store_extent *ext, size_t n) WARN_UNUSED;

/* A set of (block id, reference count) pairs, gathered before rows go away. */
struct store_ref {
    int64_t block_id;
    int64_t count;
};
struct store_refs {
    struct store_ref *v; /* malloc'd */
    size_t n;
};
/* Gathers the rows of s, a bound statement selecting (block_id, count), and resets it. */
enum store_status store_refs_collect(struct store *st, sqlite3_stmt *s, struct store_refs *out) WARN_UNUSED;
enum store_status store_refs_drop(struct store *st, const struct store_refs *r, int64_t now_ms) WARN_UNUSED;
void store_refs_release(struct store_refs *r);

/* A SQL LIMIT for a caller's count, clamped to what a page can sensibly hold. */
static inline int64_t store_limit(size_t max)
{
    return max > 100000 ? 100000 : (int64_t)max;
}

/* Fills b from columns col.. col+13 of s (the order of STORE_BLOCK_COLS). */
void store_block_read(sqlite3_stmt *s, int col, struct store_block *b);
#define STORE_BLOCK_COLS                                                                              \
    "b.id, b.chat_id, b.message_id, b.bot_id, b.file_id, b.file_unique_id, b.plain_size, "             \
    "b.stored_size, b.hash, b.key_id, b.nonce, b.refcount, b.created_ms, b.uuid"

/* Copies the text of column col into a char array of size n (truncating). */
void store_col_text(sqlite3_stmt *s, int col, char *out, size_t n);
/* Copies the blob of column col into out when it is exactly n bytes; else
 * leaves out as it is. */
void store_col_blob(sqlite3_stmt *s, int col, void *out, size_t n);
/* Returns a malloc'd copy of the text of column col ("" for NULL). */
char *store_col_strdup(sqlite3_stmt *s, int col);
/* Reads the rows of s, a bound statement selecting (block_id, offset, length,
 * STORE_BLOCK_COLS), into a malloc'd array, and resets it. */
enum store_status store_extents_read(struct store *st, sqlite3_stmt *s, struct store_extent **out, size_t *n)
    WARN_UNUSED;

/* Creates or replaces obj's bucket/key with extents ext (references taken
 * before the replaced object's are dropped at obj->mtime_ms). Call between
 * store_op_begin and store_op_end. */
enum store_status store_object_write(struct store *st, struct store_object *obj,
                                     const struct store_extent *ext, size_t n) WARN_UNUSED;
/* list.c, for the listings: s (slen bytes) starts with p; s (len bytes in a buffer of len + 1)
 * replaced by the smallest string greater than every string starting with s (0: none); the
 * length of the common prefix key rolls into after plen bytes of prefix at delim (0: none). */
int store_key_starts_with(const char *s, size_t slen, const char *p, size_t plen);
int store_key_successor(char *s, size_t *len);
size_t store_key_rolled_len(const char *key, size_t klen, size_t plen, const char *delim, size_t dlen);
/* bucket_docs.c: a bucket's configuration document (CORS rules, lifecycle rules) as stored text:
 * read (NOT_FOUND: none), written (NOT_FOUND: no such bucket), removed. */
enum store_bucket_doc { STORE_DOC_CORS, STORE_DOC_LIFECYCLE };
enum store_status store_bucket_doc_get(struct store *st, enum store_bucket_doc d, const char *bucket, char **text)
    WARN_UNUSED;
enum store_status store_bucket_doc_put(struct store *st, enum store_bucket_doc d, const char *bucket,
                                       const char *text) WARN_UNUSED;
enum store_status store_bucket_doc_delete(struct store *st, enum store_bucket_doc d, const char *bucket) WARN_UNUSED;
/* versions.c: puts obj's row (a delete marker when marker) into its key's stack as b's
 * versioning state says, setting obj->version_id and *id (the row, without extents yet);
 * STORE_LOCKED when it would replace a locked version. */
enum store_status store_version_place(struct store *st, const struct store_bucket *b, struct store_object *obj,
                                      int marker, int64_t *id) WARN_UNUSED;
/* Makes the newest version of bucket/key the latest when none is (bucket NULL: of every key). */
enum store_status store_versions_relatest(struct store *st, const char *bucket, const char *key) WARN_UNUSED;
/* Removes every multipart upload of bucket with its parts, dropping their
 * references at now_ms as AbortMultipartUpload does (multipart.c). Call
 * between store_op_begin and store_op_end. */
enum store_status store_bucket_uploads_remove(struct store *st, const char *bucket, int64_t now_ms) WARN_UNUSED;
/* Records that upload_id completed into obj (its bucket/key row, written
 * already, and etag at obj->mtime_ms), removing records past their keep
 * time (completed.c). Call between store_op_begin and store_op_end. */
enum store_status store_completed_record(struct store *st, const char *upload_id, const struct store_object *obj)
    WARN_UNUSED;
/* The snapshot pinned in meta (k = 'last_snapshot', "chat:message:bot:ms"):
 * the message holding its document, never collected while pinned. */
struct store_pin {
    long long chat_id, message_id, bot_id, posted_ms;
};
/* Reads a pin from the text of column col of s; message_id 0 when it does not parse. */
void store_pin_read(sqlite3_stmt *s, int col, struct store_pin *out);

/* A consistent read of several statements: a savepoint (deferred transaction). */
enum store_status store_read_begin(struct store *st) WARN_UNUSED;
void store_read_end(struct store *st);

#endif

/* safety.c — dedup lookups, the journal of blocks in flight, unreclaimable messages, fsck, snapshots.
 *
 * The journal (table inflight) is what makes a crash leave strays only where
 * the GC finds them: a row is written before a block is posted and removed
 * in the very transaction that references the block (or queues its message
 * for deletion). Dedup holds live in the same table, so a block reused by a
 * put still running cannot drop to zero references under it, and a crash
 * releases the hold at the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

static enum store_status find_by_hash(struct store *st, const unsigned char hash[32], int key_id, int64_t plain_size,
                                      struct store_block *out)
{
    static const char sql[] = "SELECT " STORE_BLOCK_COLS " FROM blocks b WHERE b.hash = ?1 AND b.key_id = ?2"
                              " AND b.plain_size = ?3 AND b.refcount > 0 ORDER BY b.id DESC LIMIT 1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql, "biI", hash, 32, key_id, plain_size);

    if (ret == STORE_OK)
        store_block_read(s, 0, out);
    sqlite3_reset(s);
    return ret;
}

enum store_status store_block_find_by_hash(struct store *st, const unsigned char hash[32], int key_id,
                                           int64_t plain_size, struct store_block *out)
{
    return find_by_hash(st, hash, key_id, plain_size, out);
}

enum store_status store_inflight_begin(struct store *st, const unsigned char uuid[16], const char *put,
                                       int64_t chat_id, int64_t bot_id, int64_t now_ms)
{
    static const char sql[] = "INSERT INTO inflight(uuid, put, chat_id, bot_id, started_ms) VALUES (?1, ?2, ?3, ?4, ?5)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "btIII", uuid, 16, put, chat_id, bot_id, now_ms);
    return store_op_end(st, ret);
}

enum store_status store_inflight_posted(struct store *st, const unsigned char uuid[16], int64_t chat_id,
                                        int64_t bot_id, int64_t message_id)
{
    static const char sql[] = "UPDATE inflight SET chat_id = ?2, message_id = ?3, bot_id = ?4 WHERE uuid = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "bIII", uuid, 16, chat_id, message_id, bot_id);
    return store_op_end(st, ret);
}

enum store_status store_inflight_hold(struct store *st, const unsigned char uuid[16], const char *put,
                                      const unsigned char hash[32], int key_id, int64_t plain_size,
                                      int64_t now_ms, struct store_block *out)
{
    static const char sql[] = "INSERT INTO inflight(uuid, put, chat_id, bot_id, message_id, hold_block_id, started_ms)"
                              " VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = find_by_hash(st, hash, key_id, plain_size, out);
    if (ret == STORE_OK)
        ret = store_block_ref(st, out->id);
    if (ret == STORE_OK)
        ret = store_exec(st, sql, "btIIII", uuid, 16, put, out->chat_id, out->bot_id, out->id, now_ms);
    return store_op_end(st, ret);
}

enum store_status store_gc_enqueue_posted(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                          int64_t posted_ms, int64_t due_ms)
{
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_gc_add(st, chat_id, message_id, bot_id, posted_ms, due_ms);
    return store_op_end(st, ret);
}

static void read_inflight(sqlite3_stmt *s, struct store_inflight *r)
{
    memset(r, 0, sizeof(*r));
    store_col_blob(s, 0, r->uuid, 16);
    store_col_text(s, 1, r->put, sizeof(r->put));
    r->chat_id = sqlite3_column_int64(s, 2);
    r->bot_id = sqlite3_column_int64(s, 3);
    r->message_id = sqlite3_column_int64(s, 4);
    r->hold_block_id = sqlite3_column_int64(s, 5);
    r->started_ms = sqlite3_column_int64(s, 6);
}

static enum store_row read_inflight_row(sqlite3_stmt *s, void *row, void *ud)
{
    (void)ud;
    read_inflight(s, row);
    return STORE_ROW_NEXT;
}

/* Ends row r (already read); called inside an operation. */
static enum store_status end_row(struct store *st, const struct store_inflight *r, int committed, int64_t now_ms)
{
    static const char sql_del[] = "DELETE FROM inflight WHERE uuid = ?1";
    enum store_status ret = STORE_OK;

    if (r->hold_block_id != 0)
        ret = store_block_unref(st, r->hold_block_id, 1, now_ms);
    if (ret == STORE_OK && !committed && r->message_id != 0)
        ret = store_gc_add(st, r->chat_id, r->message_id, r->bot_id, r->started_ms, now_ms);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_del, "b", r->uuid, 16);
    return ret;
}

#define INFLIGHT_COLS "uuid, put, chat_id, bot_id, message_id, hold_block_id, started_ms"
/* A post that was never answered (or whose answer was never journaled): no message id, no hold. */
#define UNCONFIRMED(r) ((r)->message_id == 0 && (r)->hold_block_id == 0)

enum store_status store_inflight_end(struct store *st, const unsigned char uuid[16], int committed, int64_t now_ms)
{
    static const char sql[] = "SELECT " INFLIGHT_COLS " FROM inflight WHERE uuid = ?1";
    sqlite3_stmt *s = NULL;
    struct store_inflight r;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql, "b", uuid, 16);
    if (ret == STORE_OK) {
        read_inflight(s, &r);
        sqlite3_reset(s);
        ret = end_row(st, &r, committed, now_ms);
    } else if (ret == STORE_NOT_FOUND) {
        ret = STORE_OK; /* no journal row: nothing to end */
    }
    return store_op_end(st, ret);
}

enum store_status store_inflight_sweep(struct store *st, int64_t now_ms, struct store_inflight **out, size_t *n,
                                       size_t *swept)
{
    static const char sql[] = "SELECT " INFLIGHT_COLS " FROM inflight";
    struct store_inflight *rows = NULL, *unknown = NULL;
    struct store_rows got;
    size_t len = 0, nu = 0;
    enum store_status ret;

    *out = NULL;
    *n = 0;
    *swept = 0;
    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_rows_select(st, &got, sizeof(*rows), SIZE_MAX, read_inflight_row, sql, "");
    if (ret != STORE_OK)
        goto out;
    rows = got.v;
    len = got.n;
    /* Unconfirmed rows stay: they name what the stray probe looks for, and
     * a crash before it is done must leave them for the next start. */
    for (size_t i = 0; i < len && ret == STORE_OK; i++)
        if (!UNCONFIRMED(&rows[i]))
            ret = end_row(st, &rows[i], 0, now_ms);
    if (ret != STORE_OK)
        goto out;
    for (size_t i = 0; i < len; i++) {
        if (UNCONFIRMED(&rows[i])) {
            if (unknown == NULL)
                unknown = xcalloc(len, sizeof(*unknown));
            unknown[nu++] = rows[i];
        }
    }
out:
    free(rows);
    ret = store_op_end(st, ret);
    if (ret == STORE_OK) {
        *out = unknown;
        *n = nu;
        *swept = len - nu;
    } else {
        free(unknown);
    }
    return ret;
}

enum store_status store_gc_unreclaimable(struct store *st, const struct store_gc_item *items, size_t n,
                                         int64_t now_ms, const char *reason)
{
    static const char sql_add[] = "INSERT OR REPLACE INTO unreclaimable(chat_id, message_id, bot_id, posted_ms,"
                                  " recorded_ms, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    static const char sql_del[] = "DELETE FROM gc_queue WHERE id = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    for (size_t i = 0; i < n && ret == STORE_OK; i++) {
        ret = store_exec(st, sql_add, "IIIIIt", items[i].chat_id, items[i].message_id, items[i].bot_id,
                         items[i].posted_ms, now_ms, reason);
        if (ret == STORE_OK)
            ret = store_exec(st, sql_del, "I", items[i].id);
    }
    return store_op_end(st, ret);
}

enum store_status store_unreclaimable_count(struct store *st, int64_t *n)
{
    static const char sql[] = "SELECT count(*) FROM unreclaimable";

    *n = 0;
    return store_scalars(st, n, 1, sql, "");
}

/* Where fsck's findings go. */
struct fsck {
    store_fsck_cb cb;
    void *ud;
    int64_t *problems;
};

static void report(struct fsck *f, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void report(struct fsck *f, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    (*f->problems)++;
    if (f->cb)
        f->cb(f->ud, line);
}

/* Reports a block whose refcount differs from its references and keeps the count it should have. */
static enum store_row read_bad_refcount(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_ref *r = row;
    int64_t have = sqlite3_column_int64(s, 3);

    r->block_id = sqlite3_column_int64(s, 0);
    r->count = sqlite3_column_int64(s, 4);
    report(ud, "block %lld (message %lld/%lld): refcount %lld, references %lld", (long long)r->block_id,
           (long long)sqlite3_column_int64(s, 1), (long long)sqlite3_column_int64(s, 2), (long long)have,
           (long long)r->count);
    return STORE_ROW_NEXT;
}

/* Reference counts against the extents of objects and of parts, journal holds and compaction's
 * recorded copies; with repair, set right. */
static enum store_status fsck_refcounts(struct store *st, struct fsck *f, int repair, int64_t now_ms,
                                        int64_t *repaired)
{
    static const char sql_refs[] =
        "SELECT b.id, b.chat_id, b.message_id, b.refcount,"
        " (SELECT count(*) FROM extents e WHERE e.block_id = b.id)"
        " + (SELECT count(*) FROM part_extents p WHERE p.block_id = b.id)"
        " + (SELECT count(*) FROM inflight i WHERE i.hold_block_id = b.id)"
        " + (SELECT count(*) FROM pack_moves m WHERE m.new_block = b.id)"
        " + (CASE WHEN b.chat_id = 0 THEN 1 ELSE 0 END) AS want" /* an unposted pack holds itself */
        " FROM blocks b WHERE b.refcount != want";
    static const char sql_set[] = "UPDATE blocks SET refcount = ?2 WHERE id = ?1";
    struct store_rows rows;
    struct store_ref *fix;
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    ret = store_stmt(st, sql_refs, &s);
    if (ret != STORE_OK)
        return ret;
    ret = store_rows_read(st, s, sizeof(*fix), SIZE_MAX, read_bad_refcount, NULL, f, &rows);
    if (ret != STORE_OK)
        return ret;
    fix = rows.v;
    for (size_t i = 0; repair && i < rows.n && ret == STORE_OK; i++) {
        /* Set the count to want + 1, then drop one: at zero the block is removed and queued. */
        ret = store_exec(st, sql_set, "II", fix[i].block_id, fix[i].count + 1);
        if (ret == STORE_OK)
            ret = store_block_unref(st, fix[i].block_id, 1, now_ms);
        if (ret == STORE_OK)
            (*repaired)++;
    }
    free(fix);
    return ret;
}

static enum store_row on_missing_block(sqlite3_stmt *s, void *ud)
{
    report(ud, "%s %s references missing block %lld", (const char *)sqlite3_column_text(s, 0),
           (const char *)sqlite3_column_text(s, 1), (long long)sqlite3_column_int64(s, 2));
    return STORE_ROW_NEXT;
}

static enum store_row on_extent_outside(sqlite3_stmt *s, void *ud)
{
    report(ud, "object %s extent %lld: block %lld [%lld, +%lld) outside its %lld bytes",
           (const char *)sqlite3_column_text(s, 0), (long long)sqlite3_column_int64(s, 1),
           (long long)sqlite3_column_int64(s, 2), (long long)sqlite3_column_int64(s, 3),
           (long long)sqlite3_column_int64(s, 4), (long long)sqlite3_column_int64(s, 5));
    return STORE_ROW_NEXT;
}

static enum store_row on_size_mismatch(sqlite3_stmt *s, void *ud)
{
    report(ud, "object %s: size %lld but its extents hold %lld bytes", (const char *)sqlite3_column_text(s, 0),
           (long long)sqlite3_column_int64(s, 1), (long long)sqlite3_column_int64(s, 2));
    return STORE_ROW_NEXT;
}

/* Reports each row of sql, a query for one kind of problem, with fn. */
static enum store_status fsck_query(struct store *st, struct fsck *f, const char *sql, store_row_fn *fn)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_stmt(st, sql, &s);

    if (ret != STORE_OK)
        return ret;
    return store_rows_each(st, s, fn, f);
}

static enum store_row on_latest_count(sqlite3_stmt *s, void *ud)
{
    report(ud, "object %s has %lld latest versions, not 1", (const char *)sqlite3_column_text(s, 0),
           (long long)sqlite3_column_int64(s, 1));
    return STORE_ROW_NEXT;
}

enum store_status store_fsck_index(struct store *st, int repair, int64_t now_ms, store_fsck_cb cb, void *ud,
                                   int64_t *problems, int64_t *repaired)
{
    static const char sql_missing[] =
        "SELECT 'object', o.bucket || '/' || o.key, e.block_id FROM extents e JOIN objects o ON o.id = e.object_id"
        " WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.id = e.block_id)"
        " UNION ALL SELECT 'part', p.upload_id || '#' || p.part_number, p.block_id FROM part_extents p"
        " WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.id = p.block_id)";
    static const char sql_bounds[] =
        "SELECT o.bucket || '/' || o.key, e.seq, e.block_id, e.offset, e.length, b.plain_size"
        " FROM extents e JOIN objects o ON o.id = e.object_id JOIN blocks b ON b.id = e.block_id"
        " WHERE e.offset < 0 OR e.length <= 0"
        /* an unposted pack's size is recorded when it is sealed (fsck checks its spool file) */
        " OR (b.chat_id != 0 AND e.offset + e.length > b.plain_size)";
    static const char sql_sizes[] =
        "SELECT o.bucket || '/' || o.key, o.size, coalesce((SELECT sum(e.length) FROM extents e"
        " WHERE e.object_id = o.id), 0) AS total FROM objects o WHERE o.size != total";
    static const char sql_latest[] =
        "SELECT bucket || '/' || key, sum(latest) AS n FROM objects GROUP BY bucket, key HAVING n != 1";
    static const char sql_inflight[] = "SELECT count(*) FROM inflight";
    struct fsck f = {.cb = cb, .ud = ud, .problems = problems};
    enum store_status ret;

    *problems = 0;
    *repaired = 0;
    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    /* 1. reference counts */
    ret = fsck_refcounts(st, &f, repair, now_ms, repaired);
    /* 2. references to missing blocks (not repairable: the data is gone from the index) */
    if (ret == STORE_OK)
        ret = fsck_query(st, &f, sql_missing, on_missing_block);
    /* 3. extents within their blocks */
    if (ret == STORE_OK)
        ret = fsck_query(st, &f, sql_bounds, on_extent_outside);
    /* 4. object sizes = sum of extents */
    if (ret == STORE_OK)
        ret = fsck_query(st, &f, sql_sizes, on_size_mismatch);

    /* 5. every key has exactly one latest version */
    if (ret == STORE_OK)
        ret = fsck_query(st, &f, sql_latest, on_latest_count);

    /* 6. the journal is empty when no gateway runs (a running one sweeps it at start) */
    int64_t inflight = 0;
    if (ret == STORE_OK)
        ret = store_scalars(st, &inflight, 1, sql_inflight, "");
    if (ret == STORE_OK && inflight > 0 && cb) {
        char line[128];
        snprintf(line, sizeof(line), "note: %lld blocks in flight (swept at the next start)", (long long)inflight);
        cb(ud, line);
    }
    return store_op_end(st, ret);
}

static enum store_row read_block_row(sqlite3_stmt *s, void *row, void *ud)
{
    (void)ud;
    store_block_read(s, 0, row);
    return STORE_ROW_NEXT;
}

enum store_status store_block_page(struct store *st, int64_t after_id, size_t max, struct store_block **out,
                                   size_t *n)
{
    static const char sql[] = "SELECT " STORE_BLOCK_COLS " FROM blocks b WHERE b.id > ?1 ORDER BY b.id LIMIT ?2";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, max, read_block_row, sql, "II", after_id,
                                              store_limit(max));

    *out = rows.v;
    *n = rows.n;
    return ret;
}

enum store_status store_snapshot_write(struct store *st, const char *path)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret = STORE_OK;
    int rc = sqlite3_prepare_v2(st->db, "VACUUM INTO ?1", -1, &s, NULL);

    if (rc != SQLITE_OK)
        return store_fail(st, rc);
    sqlite3_bind_text(s, 1, path, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        ret = store_fail(st, rc);
    sqlite3_finalize(s);
    return ret;
}

/* How a pin is written in meta: chat, message, bot, posted (ms). */
#define PIN_FORMAT "%lld:%lld:%lld:%lld"

void store_pin_read(sqlite3_stmt *s, int col, struct store_pin *out)
{
    char v[128];

    memset(out, 0, sizeof(*out));
    store_col_text(s, col, v, sizeof(v));
    if (sscanf(v, PIN_FORMAT, &out->chat_id, &out->message_id, &out->bot_id, &out->posted_ms) != 4)
        out->message_id = 0;
}

enum store_status store_snapshot_record(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                        int64_t now_ms)
{
    static const char sql_get[] = "SELECT v FROM meta WHERE k = 'last_snapshot'";
    static const char sql_set[] = "INSERT OR REPLACE INTO meta(k, v) VALUES ('last_snapshot', ?1)";
    sqlite3_stmt *s = NULL;
    struct store_pin prev = {0};
    char v[128];
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql_get, "");
    if (ret == STORE_OK)
        store_pin_read(s, 0, &prev);
    sqlite3_reset(s);
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK; /* no snapshot pinned yet */
    if (ret == STORE_OK && prev.message_id != 0 && !(prev.chat_id == chat_id && prev.message_id == message_id))
        ret = store_gc_add(st, prev.chat_id, prev.message_id, prev.bot_id, prev.posted_ms,
                           now_ms + st->gc_grace_ms);
    if (ret != STORE_OK)
        goto out;
    snprintf(v, sizeof(v), PIN_FORMAT, (long long)chat_id, (long long)message_id, (long long)bot_id,
             (long long)now_ms);
    ret = store_exec(st, sql_set, "T", v, -1);
out:
    return store_op_end(st, ret);
}

enum store_status store_block_extent_end(struct store *st, int64_t block_id, int64_t *end)
{
    static const char sql[] =
        "SELECT max(coalesce((SELECT max(offset + length) FROM extents WHERE block_id = ?1), 0),"
        " coalesce((SELECT max(offset + length) FROM part_extents WHERE block_id = ?1), 0))";

    *end = 0;
    return store_scalars(st, end, 1, sql, "I", block_id);
}

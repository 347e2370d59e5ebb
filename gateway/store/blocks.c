/* blocks.c — block rows, per-bot file ids and reference counting.
 *
 * A block's refcount equals the number of extents (of objects and of parts)
 * naming it. Dropping the last reference deletes the row, its per-bot file
 * ids, and queues its message for deletion after the grace period; the
 * queue is keyed by (chat_id, message_id), so queueing twice is harmless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

void store_block_read(sqlite3_stmt *s, int col, struct store_block *b)
{
    memset(b, 0, sizeof *b);
    b->id = sqlite3_column_int64(s, col);
    b->chat_id = sqlite3_column_int64(s, col + 1);
    b->message_id = sqlite3_column_int64(s, col + 2);
    b->bot_id = sqlite3_column_int64(s, col + 3);
    store_col_text(s, col + 4, b->file_id, sizeof b->file_id);
    store_col_text(s, col + 5, b->file_unique_id, sizeof b->file_unique_id);
    b->plain_size = sqlite3_column_int64(s, col + 6);
    b->stored_size = sqlite3_column_int64(s, col + 7);
    store_col_blob(s, col + 8, b->hash, sizeof b->hash);
    b->key_id = sqlite3_column_int(s, col + 9);
    store_col_blob(s, col + 10, b->nonce, sizeof b->nonce);
    b->refcount = sqlite3_column_int64(s, col + 11);
    b->created_ms = sqlite3_column_int64(s, col + 12);
    store_col_blob(s, col + 13, b->uuid, sizeof b->uuid);
}

/* Binds the eleven fields a posted block records (chat_id … created_ms, in table order)
 * to parameters first .. first + 10; insert and set_posted share the order. */
static void bind_posted_fields(sqlite3_stmt *s, int first, const struct store_block *b)
{
    sqlite3_bind_int64(s, first, b->chat_id);
    sqlite3_bind_int64(s, first + 1, b->message_id);
    sqlite3_bind_int64(s, first + 2, b->bot_id);
    sqlite3_bind_text(s, first + 3, b->file_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, first + 4, b->file_unique_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, first + 5, b->plain_size);
    sqlite3_bind_int64(s, first + 6, b->stored_size);
    sqlite3_bind_blob(s, first + 7, b->hash, (int)sizeof b->hash, SQLITE_STATIC);
    sqlite3_bind_int(s, first + 8, b->key_id);
    sqlite3_bind_blob(s, first + 9, b->nonce, (int)sizeof b->nonce, SQLITE_STATIC);
    sqlite3_bind_int64(s, first + 10, b->created_ms);
}

enum store_status store_block_insert(struct store *st, struct store_block *b)
{
    static const char sql[] =
        "INSERT INTO blocks(chat_id, message_id, bot_id, file_id, file_unique_id, plain_size, stored_size,"
        " hash, key_id, nonce, refcount, created_ms, uuid)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?12)";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int rc;

    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_prep(st, &s, sql, "");
    if (ret != STORE_OK)
        goto out;
    bind_posted_fields(s, 1, b);
    sqlite3_bind_blob(s, 12, b->uuid, (int)sizeof b->uuid, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT) {
        snprintf(st->err, sizeof st->err, "block (%lld, %lld) already recorded", (long long)b->chat_id,
                 (long long)b->message_id);
        ret = STORE_EXISTS;
    } else if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc);
    } else {
        b->id = sqlite3_last_insert_rowid(st->db);
        b->refcount = 0;
    }
out:
    sqlite3_reset(s);
    return store_op_end(st, ret);
}

enum store_status store_block_set_posted(struct store *st, const struct store_block *b)
{
    static const char sql[] =
        "UPDATE blocks SET chat_id = ?2, message_id = ?3, bot_id = ?4, file_id = ?5, file_unique_id = ?6,"
        " plain_size = ?7, stored_size = ?8, hash = ?9, key_id = ?10, nonce = ?11, created_ms = ?12"
        " WHERE id = ?1 AND chat_id = 0";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_prep(st, &s, sql, "I", b->id);
    if (ret == STORE_OK) {
        bind_posted_fields(s, 2, b);
        ret = store_exec_stmt(st, s);
    }
    if (ret == STORE_OK && sqlite3_changes(st->db) == 0)
        ret = STORE_NOT_FOUND;
    if (ret == STORE_OK)
        ret = store_block_unref(st, b->id, 1, b->created_ms); /* the pack's own hold */
    return store_op_end(st, ret);
}

enum store_status store_block_insert_held(struct store *st, struct store_block *b)
{
    enum store_status ret = store_tx_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_block_insert(st, b);
    if (ret == STORE_OK)
        ret = store_block_ref(st, b->id);
    if (ret == STORE_OK)
        ret = store_tx_commit(st);
    if (ret != STORE_OK)
        store_tx_rollback(st);
    return ret;
}

enum store_status store_block_get(struct store *st, int64_t id, struct store_block *out)
{
    static const char sql[] = "SELECT " STORE_BLOCK_COLS " FROM blocks b WHERE b.id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql, "I", id);

    if (ret == STORE_OK)
        store_block_read(s, 0, out);
    sqlite3_reset(s);
    return ret;
}

enum store_status store_block_set_file(struct store *st, int64_t id, int64_t bot_id, const char *file_id)
{
    static const char sql_uploader[] = "UPDATE blocks SET file_id = ?3 WHERE id = ?1 AND bot_id = ?2";
    static const char sql_exists[] = "SELECT 1 FROM blocks WHERE id = ?1";
    static const char sql_other[] = "INSERT OR REPLACE INTO block_files(block_id, bot_id, file_id) VALUES (?1, ?2, ?3)";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    /* The uploader's own file_id lives in the block row. */
    ret = store_exec(st, sql_uploader, "IIt", id, bot_id, file_id);
    if (ret != STORE_OK || sqlite3_changes(st->db) > 0)
        goto out;
    ret = store_query(st, &s, sql_exists, "I", id);
    sqlite3_reset(s);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_other, "IIt", id, bot_id, file_id);
out:
    return store_op_end(st, ret);
}

enum store_status store_block_file_for(struct store *st, int64_t block_id, int64_t bot_id, char out[256])
{
    static const char sql[] =
        "SELECT file_id FROM blocks WHERE id = ?1 AND bot_id = ?2"
        " UNION ALL SELECT file_id FROM block_files WHERE block_id = ?1 AND bot_id = ?2";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    out[0] = '\0';
    ret = store_query(st, &s, sql, "II", block_id, bot_id);
    if (ret == STORE_OK)
        store_col_text(s, 0, out, 256);
    sqlite3_reset(s);
    return ret;
}

enum store_status store_block_ref(struct store *st, int64_t block_id)
{
    static const char sql[] = "UPDATE blocks SET refcount = refcount + 1 WHERE id = ?1";
    enum store_status ret = store_exec_found(st, sql, "I", block_id);

    if (ret == STORE_NOT_FOUND) {
        snprintf(st->err, sizeof st->err, "block %lld does not exist", (long long)block_id);
        ret = STORE_CONFLICT;
    }
    return ret;
}

enum store_status store_extents_ref(struct store *st, const struct store_extent *ext, size_t n)
{
    enum store_status ret = STORE_OK;

    for (size_t i = 0; i < n && ret == STORE_OK; i++)
        ret = store_block_ref(st, ext[i].block_id);
    return ret;
}

enum store_status store_block_unref(struct store *st, int64_t block_id, int64_t count, int64_t now_ms)
{
    static const char sql_dec[] =
        "UPDATE blocks SET refcount = refcount - ?2 WHERE id = ?1"
        " RETURNING refcount, chat_id, message_id, bot_id, created_ms";
    static const char sql_del[] = "DELETE FROM blocks WHERE id = ?1";
    static const char sql_del_files[] = "DELETE FROM block_files WHERE block_id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int64_t refcount, chat_id, message_id, bot_id, posted_ms;

    ret = store_query(st, &s, sql_dec, "II", block_id, count);
    if (ret == STORE_NOT_FOUND)
        return STORE_OK; /* references never outlive their block: a missing row means nothing to drop */
    if (ret != STORE_OK)
        return ret;
    refcount = sqlite3_column_int64(s, 0);
    chat_id = sqlite3_column_int64(s, 1);
    message_id = sqlite3_column_int64(s, 2);
    bot_id = sqlite3_column_int64(s, 3);
    posted_ms = sqlite3_column_int64(s, 4);
    ret = store_exec_stmt(st, s); /* runs the statement to completion */
    if (ret != STORE_OK || refcount > 0)
        return ret;
    ret = store_stripe_drop(st, block_id, now_ms); /* a stripe's other shards */
    if (ret == STORE_OK)
        ret = store_exec(st, sql_del, "I", block_id);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_del_files, "I", block_id);
    if (ret == STORE_OK)
        ret = store_gc_add(st, chat_id, message_id, bot_id, posted_ms, now_ms + st->gc_grace_ms);
    return ret;
}

static enum store_row read_ref(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_ref *r = row;

    (void)ud;
    r->block_id = sqlite3_column_int64(s, 0);
    r->count = sqlite3_column_int64(s, 1);
    return STORE_ROW_NEXT;
}

enum store_status store_refs_collect(struct store *st, sqlite3_stmt *s, struct store_refs *out)
{
    struct store_rows rows;
    enum store_status ret = store_rows_read(st, s, sizeof *out->v, SIZE_MAX, read_ref, NULL, NULL, &rows);

    out->v = rows.v;
    out->n = rows.n;
    return ret;
}

enum store_status store_refs_drop(struct store *st, const struct store_refs *r, int64_t now_ms)
{
    enum store_status ret = STORE_OK;

    for (size_t i = 0; i < r->n && ret == STORE_OK; i++)
        ret = store_block_unref(st, r->v[i].block_id, r->v[i].count, now_ms);
    return ret;
}

void store_refs_release(struct store_refs *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

static enum store_row read_extent(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_extent *e = row;

    (void)ud;
    e->block_id = sqlite3_column_int64(s, 0);
    e->offset = sqlite3_column_int64(s, 1);
    e->length = sqlite3_column_int64(s, 2);
    store_block_read(s, 3, &e->block);
    return STORE_ROW_NEXT;
}

enum store_status store_extents_read(struct store *st, sqlite3_stmt *s, struct store_extent **out, size_t *n)
{
    struct store_rows rows;
    enum store_status ret = store_rows_read(st, s, sizeof **out, SIZE_MAX, read_extent, NULL, NULL, &rows);

    *out = rows.v;
    *n = rows.n;
    return ret;
}

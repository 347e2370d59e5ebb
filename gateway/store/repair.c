/* repair.c — the durable queue of shards to rebuild, and the swap of a rebuilt shard into its stripe.
 *
 * A row (block_id, idx) says shard idx of that block's stripe must be
 * posted again: a read or a scrub found it missing or corrupt, its chat was
 * lost, or the block was stored with fewer than K + M shards. Shards a
 * stripe has no row for in shards are rebuilt too, queued or not. A
 * rebuilt shard replaces the old one in one transaction (the old message
 * goes to the delete queue), so the index never records fewer shards than
 * Telegram holds.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_repair_add(struct store *st, int64_t block_id, int idx, const char *reason, int64_t now_ms)
{
    static const char sql[] = "INSERT OR IGNORE INTO repairs(block_id, idx, reason, due_ms, attempts, added_ms)"
                              " SELECT ?1, ?2, ?3, ?4, 0, ?4 WHERE EXISTS(SELECT 1 FROM stripes WHERE block_id = ?1)";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_stmt(st, sql, &s);
    if (ret == STORE_OK) {
        sqlite3_bind_int64(s, 1, block_id);
        sqlite3_bind_int(s, 2, idx);
        sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, now_ms);
        ret = store_exec_stmt(st, s);
    }
    return store_op_end(st, ret);
}

enum store_status store_repair_add_chat(struct store *st, int64_t chat_id, const char *reason, int64_t now_ms,
                                        int64_t *added)
{
    static const char sql[] = "INSERT OR IGNORE INTO repairs(block_id, idx, reason, due_ms, attempts, added_ms)"
                              " SELECT block_id, idx, ?2, ?3, 0, ?3 FROM shards WHERE chat_id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_op_begin(st);

    *added = 0;
    if (ret != STORE_OK)
        return ret;
    ret = store_stmt(st, sql, &s);
    if (ret == STORE_OK) {
        sqlite3_bind_int64(s, 1, chat_id);
        sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, now_ms);
        ret = store_exec_stmt(st, s);
        if (ret == STORE_OK)
            *added = sqlite3_changes(st->db);
    }
    return store_op_end(st, ret);
}

/* The repair rows of block_id into want (ascending), with every index its stripe lacks a shard for. */
static enum store_status wanted(struct store *st, int64_t block_id, const struct store_stripe *sp, int *want,
                                int *n_want)
{
    static const char sql[] = "SELECT idx FROM repairs WHERE block_id = ?1";
    unsigned char need[STORE_MAX_SHARDS] = {0};
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int rc;

    for (int i = 0; i < sp->k + sp->m; i++)
        need[i] = 1;
    for (int i = 0; i < sp->n; i++)
        need[sp->sh[i].idx] = 0;
    ret = store_stmt(st, sql, &s);
    if (ret != STORE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, block_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int idx = sqlite3_column_int(s, 0);
        if (idx >= 0 && idx < sp->k + sp->m)
            need[idx] = 1;
    }
    if (rc != SQLITE_DONE)
        ret = store_fail(st, rc);
    sqlite3_reset(s);
    *n_want = 0;
    for (int i = 0; i < sp->k + sp->m; i++)
        if (need[i])
            want[(*n_want)++] = i;
    return ret;
}

enum store_status store_repair_next(struct store *st, int64_t now_ms, struct store_block *blk, struct store_stripe *sp,
                                    int *want, int *n_want)
{
    static const char sql_next[] = "SELECT block_id FROM repairs WHERE due_ms <= ?1 ORDER BY due_ms, block_id LIMIT 1";
    static const char sql_drop[] = "DELETE FROM repairs WHERE block_id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int64_t id;
    int rc;

    for (;;) {
        ret = store_stmt(st, sql_next, &s);
        if (ret != STORE_OK)
            return ret;
        sqlite3_bind_int64(s, 1, now_ms);
        rc = sqlite3_step(s);
        id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? STORE_NOT_FOUND : store_fail(st, rc);
        ret = store_block_get(st, id, blk);
        if (ret == STORE_OK)
            ret = store_stripe_get(st, id, sp);
        if (ret == STORE_OK)
            ret = wanted(st, id, sp, want, n_want);
        if (ret == STORE_OK && *n_want > 0)
            return STORE_OK;
        if (ret != STORE_OK && ret != STORE_NOT_FOUND)
            return ret;
        /* The block is gone, or its stripe is whole again: nothing to do for it. */
        ret = store_op_begin(st);
        if (ret != STORE_OK)
            return ret;
        ret = store_stmt(st, sql_drop, &s);
        if (ret == STORE_OK) {
            sqlite3_bind_int64(s, 1, id);
            ret = store_exec_stmt(st, s);
        }
        ret = store_op_end(st, ret);
        if (ret != STORE_OK)
            return ret;
    }
}

enum store_status store_repair_swap(struct store *st, int64_t block_id, const struct store_shard *sh,
                                    const unsigned char key[16], int64_t now_ms)
{
    static const char sql_old_gc[] =
        "INSERT OR IGNORE INTO gc_queue(chat_id, message_id, bot_id, due_ms, attempts, posted_ms)"
        " SELECT chat_id, message_id, bot_id, ?3, 0, created_ms FROM shards WHERE block_id = ?1 AND idx = ?2";
    static const char sql_block[] =
        "UPDATE blocks SET chat_id = ?3, message_id = ?4, bot_id = ?5, file_id = ?6, file_unique_id = ?7"
        " WHERE id = ?1 AND (chat_id, message_id) = (SELECT chat_id, message_id FROM shards"
        "                                             WHERE block_id = ?1 AND idx = ?2)";
    static const char sql_del[] = "DELETE FROM shards WHERE block_id = ?1 AND idx = ?2";
    static const char sql_done[] = "DELETE FROM repairs WHERE block_id = ?1 AND idx = ?2";
    static const char sql_exists[] = "SELECT 1 FROM stripes WHERE block_id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int rc;

    /* One transaction around calls that open their own (store_inflight_end): theirs become savepoints. */
    ret = store_tx_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_stmt(st, sql_exists, &s);
    if (ret != STORE_OK)
        goto out;
    sqlite3_bind_int64(s, 1, block_id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) {
        ret = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_fail(st, rc);
        goto out;
    }
    const char *const sqls[] = {sql_old_gc, sql_block, sql_del};
    for (size_t i = 0; i < ARRAY_SIZE(sqls) && ret == STORE_OK; i++) {
        ret = store_stmt(st, sqls[i], &s);
        if (ret != STORE_OK)
            break;
        sqlite3_bind_int64(s, 1, block_id);
        sqlite3_bind_int(s, 2, sh->idx);
        if (i == 0)
            sqlite3_bind_int64(s, 3, now_ms + st->gc_grace_ms);
        if (i == 1) {
            sqlite3_bind_int64(s, 3, sh->chat_id);
            sqlite3_bind_int64(s, 4, sh->message_id);
            sqlite3_bind_int64(s, 5, sh->bot_id);
            sqlite3_bind_text(s, 6, sh->file_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 7, sh->file_unique_id, -1, SQLITE_STATIC);
        }
        ret = store_exec_stmt(st, s);
    }
    if (ret != STORE_OK)
        goto out;
    ret = store_stripe_add_shard(st, block_id, sh);
    if (ret == STORE_OK)
        ret = store_stmt(st, sql_done, &s);
    if (ret == STORE_OK) {
        sqlite3_bind_int64(s, 1, block_id);
        sqlite3_bind_int(s, 2, sh->idx);
        ret = store_exec_stmt(st, s);
    }
    if (ret == STORE_OK)
        ret = store_inflight_end(st, key, 1, now_ms);
out:
    if (ret == STORE_OK)
        return store_tx_commit(st);
    store_tx_rollback(st);
    return ret;
}

enum store_status store_repair_later(struct store *st, int64_t block_id, int64_t due_ms)
{
    static const char sql[] = "UPDATE repairs SET attempts = attempts + 1, due_ms = ?2 WHERE block_id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_stmt(st, sql, &s);
    if (ret == STORE_OK) {
        sqlite3_bind_int64(s, 1, block_id);
        sqlite3_bind_int64(s, 2, due_ms);
        ret = store_exec_stmt(st, s);
    }
    return store_op_end(st, ret);
}

enum store_status store_repair_backlog(struct store *st, int64_t *shards, int64_t *blocks)
{
    static const char sql[] = "SELECT count(*), count(DISTINCT block_id) FROM repairs";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_stmt(st, sql, &s);
    int rc;

    *shards = *blocks = 0;
    if (ret != STORE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *shards = sqlite3_column_int64(s, 0);
        *blocks = sqlite3_column_int64(s, 1);
    } else {
        ret = store_fail(st, rc);
    }
    sqlite3_reset(s);
    return ret;
}

/* ---- scrub: the walk over every block, and its place in it ---- */

enum store_status store_scrub_next(struct store *st, int64_t after, struct store_block *blk, struct store_stripe *sp,
                                   int *is_stripe, int64_t *total)
{
    static const char sql_next[] = "SELECT id FROM blocks WHERE id > ?1 ORDER BY id LIMIT 1";
    static const char sql_total[] = "SELECT count(*) FROM blocks";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int64_t id = 0;
    int rc;

    ret = store_stmt(st, sql_total, &s);
    if (ret != STORE_OK)
        return ret;
    rc = sqlite3_step(s);
    *total = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    ret = store_stmt(st, sql_next, &s);
    if (ret != STORE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, after);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? STORE_NOT_FOUND : store_fail(st, rc);
    ret = store_block_get(st, id, blk);
    if (ret != STORE_OK)
        return ret;
    ret = store_stripe_get(st, id, sp);
    *is_stripe = ret == STORE_OK;
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

enum store_status store_scrub_cursor_get(struct store *st, int64_t *cursor)
{
    static const char sql[] = "SELECT v FROM meta WHERE k = 'scrub_cursor'";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_stmt(st, sql, &s);
    int rc;

    *cursor = 0;
    if (ret != STORE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *cursor = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        ret = store_fail(st, rc);
    sqlite3_reset(s);
    return ret;
}

enum store_status store_scrub_cursor_set(struct store *st, int64_t cursor)
{
    static const char sql[] = "INSERT OR REPLACE INTO meta(k, v) VALUES ('scrub_cursor', ?1)";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_stmt(st, sql, &s);
    if (ret == STORE_OK) {
        sqlite3_bind_int64(s, 1, cursor);
        ret = store_exec_stmt(st, s);
    }
    return store_op_end(st, ret);
}

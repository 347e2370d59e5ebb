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
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_repair_add(struct store *st, int64_t block_id, int idx, const char *reason, int64_t now_ms)
{
    static const char sql[] = "INSERT OR IGNORE INTO repairs(block_id, idx, reason, due_ms, attempts, added_ms)"
                              " SELECT ?1, ?2, ?3, ?4, 0, ?4 WHERE EXISTS(SELECT 1 FROM stripes WHERE block_id = ?1)";
    enum store_status ret = store_op_begin(st);

    if (ret == STORE_OK)
        ret = store_exec(st, sql, "IitI", block_id, idx, reason, now_ms);
    return store_op_end(st, ret);
}

enum store_status store_repair_add_chat(struct store *st, int64_t chat_id, const char *reason, int64_t now_ms,
                                        int64_t *added)
{
    static const char sql[] = "INSERT OR IGNORE INTO repairs(block_id, idx, reason, due_ms, attempts, added_ms)"
                              " SELECT block_id, idx, ?2, ?3, 0, ?3 FROM shards WHERE chat_id = ?1";
    enum store_status ret = store_op_begin(st);

    *added = 0;
    if (ret == STORE_OK)
        ret = store_exec(st, sql, "ItI", chat_id, reason, now_ms);
    if (ret == STORE_OK)
        *added = sqlite3_changes(st->db);
    return store_op_end(st, ret);
}

/* Block id's row into blk and its stripe into sp; NOT_FOUND when either is missing. */
static enum store_status block_and_stripe(struct store *st, int64_t id, struct store_block *blk, struct store_stripe *sp)
{
    enum store_status ret = store_block_get(st, id, blk);
    return ret == STORE_OK ? store_stripe_get(st, id, sp) : ret;
}

static enum store_row read_idx(sqlite3_stmt *s, void *row, void *ud)
{
    (void)ud;
    *(int *)row = sqlite3_column_int(s, 0);
    return STORE_ROW_NEXT;
}

/* The repair rows of block_id into want (ascending), with every index its stripe lacks a shard for. */
static enum store_status wanted(struct store *st, int64_t block_id, const struct store_stripe *sp, int *want,
                                int *n_want)
{
    static const char sql[] = "SELECT idx FROM repairs WHERE block_id = ?1";
    unsigned char need[STORE_MAX_SHARDS] = {0};
    struct store_rows rows;
    enum store_status ret;

    for (int i = 0; i < sp->k + sp->m; i++)
        need[i] = 1;
    for (int i = 0; i < sp->n; i++)
        need[sp->sh[i].idx] = 0;
    ret = store_rows_select(st, &rows, sizeof(int), STORE_MAX_SHARDS, read_idx, sql, "I", block_id);
    for (size_t i = 0; ret == STORE_OK && i < rows.n; i++) {
        int idx = ((int *)rows.v)[i];
        if (idx >= 0 && idx < sp->k + sp->m)
            need[idx] = 1;
    }
    free(rows.v);
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

    for (;;) {
        ret = store_query(st, &s, sql_next, "I", now_ms);
        if (ret != STORE_OK)
            return ret;
        id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        ret = block_and_stripe(st, id, blk, sp);
        if (ret == STORE_OK)
            ret = wanted(st, id, sp, want, n_want);
        if (ret == STORE_OK && *n_want > 0)
            return STORE_OK;
        if (ret != STORE_OK && ret != STORE_NOT_FOUND)
            return ret;
        /* The block is gone, or its stripe is whole again: nothing to do for it. */
        ret = store_op_begin(st);
        if (ret == STORE_OK)
            ret = store_exec(st, sql_drop, "I", id);
        ret = store_op_end(st, ret);
        if (ret != STORE_OK)
            return ret;
    }
}

enum store_status store_repair_swap(struct store *st, int64_t block_id, const struct store_shard *sh,
                                    const unsigned char key[16], int64_t now_ms)
{
    static const char sql_exists[] = "SELECT 1 FROM stripes WHERE block_id = ?1";
    static const char sql_old_gc[] =
        "INSERT OR IGNORE INTO gc_queue(chat_id, message_id, bot_id, due_ms, attempts, posted_ms)"
        " SELECT chat_id, message_id, bot_id, ?3, 0, created_ms FROM shards WHERE block_id = ?1 AND idx = ?2";
    static const char sql_block[] =
        "UPDATE blocks SET chat_id = ?3, message_id = ?4, bot_id = ?5, file_id = ?6, file_unique_id = ?7"
        " WHERE id = ?1 AND (chat_id, message_id) = (SELECT chat_id, message_id FROM shards"
        "                                             WHERE block_id = ?1 AND idx = ?2)";
    static const char sql_del[] = "DELETE FROM shards WHERE block_id = ?1 AND idx = ?2";
    static const char sql_done[] = "DELETE FROM repairs WHERE block_id = ?1 AND idx = ?2";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    /* One transaction around calls that open their own (store_inflight_end): theirs become savepoints. */
    ret = store_tx_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql_exists, "I", block_id);
    if (ret == STORE_OK)
        sqlite3_reset(s);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_old_gc, "IiI", block_id, sh->idx, now_ms + st->gc_grace_ms);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_block, "IiIIItt", block_id, sh->idx, sh->chat_id, sh->message_id, sh->bot_id,
                         sh->file_id, sh->file_unique_id);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_del, "Ii", block_id, sh->idx);
    if (ret == STORE_OK)
        ret = store_stripe_add_shard(st, block_id, sh);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_done, "Ii", block_id, sh->idx);
    if (ret == STORE_OK)
        ret = store_inflight_end(st, key, 1, now_ms);
    if (ret == STORE_OK)
        return store_tx_commit(st);
    store_tx_rollback(st);
    return ret;
}

enum store_status store_repair_later(struct store *st, int64_t block_id, int64_t due_ms)
{
    static const char sql[] = "UPDATE repairs SET attempts = attempts + 1, due_ms = ?2 WHERE block_id = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret == STORE_OK)
        ret = store_exec(st, sql, "II", block_id, due_ms);
    return store_op_end(st, ret);
}

enum store_status store_repair_all_due(struct store *st, int64_t now_ms)
{
    static const char sql[] = "UPDATE repairs SET due_ms = ?1 WHERE due_ms > ?1";
    enum store_status ret = store_op_begin(st);

    if (ret == STORE_OK)
        ret = store_exec(st, sql, "I", now_ms);
    return store_op_end(st, ret);
}

enum store_status store_repair_backlog(struct store *st, int64_t *shards, int64_t *blocks)
{
    static const char sql[] = "SELECT count(*), count(DISTINCT block_id) FROM repairs";
    int64_t v[2] = {0, 0};
    enum store_status ret = store_scalars(st, v, 2, sql, "");

    *shards = v[0];
    *blocks = v[1];
    return ret;
}

enum store_status store_repair_due(struct store *st, int64_t now_ms, int64_t *shards)
{
    static const char sql[] = "SELECT count(*) FROM repairs WHERE due_ms <= ?1";

    *shards = 0;
    return store_scalars(st, shards, 1, sql, "I", now_ms);
}

/* ---- scrub: the walk over every block, and its place in it ---- */

enum store_status store_scrub_next(struct store *st, int64_t after, struct store_block *blk, struct store_stripe *sp,
                                   int *is_stripe, int64_t *total)
{
    static const char sql_next[] = "SELECT id FROM blocks WHERE id > ?1 ORDER BY id LIMIT 1";
    static const char sql_total[] = "SELECT count(*) FROM blocks";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_scalars(st, total, 1, sql_total, "");
    int64_t id;

    if (ret == STORE_OK)
        ret = store_query(st, &s, sql_next, "I", after);
    if (ret != STORE_OK)
        return ret;
    id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    ret = block_and_stripe(st, id, blk, sp);
    *is_stripe = ret == STORE_OK;
    if (ret == STORE_NOT_FOUND) /* a block as one document (the block row exists: the id came from it) */
        ret = STORE_OK;
    return ret;
}

enum store_status store_scrub_cursor_get(struct store *st, int64_t *cursor)
{
    static const char sql[] = "SELECT ifnull((SELECT v FROM meta WHERE k = 'scrub_cursor'), 0)";

    *cursor = 0;
    return store_scalars(st, cursor, 1, sql, "");
}

enum store_status store_scrub_cursor_set(struct store *st, int64_t cursor)
{
    static const char sql[] = "INSERT OR REPLACE INTO meta(k, v) VALUES ('scrub_cursor', ?1)";
    enum store_status ret = store_op_begin(st);

    if (ret == STORE_OK)
        ret = store_exec(st, sql, "I", cursor);
    return store_op_end(st, ret);
}

/* ---- retired chats: lost by the operator's word ---- */

enum store_status store_chat_retire(struct store *st, int64_t chat_id, int64_t now_ms, int64_t *queued)
{
    static const char sql[] = "INSERT OR IGNORE INTO retired_chats(chat_id, retired_ms) VALUES (?1, ?2)";
    enum store_status ret = store_tx_begin(st); /* store_repair_add_chat's own becomes a savepoint */

    *queued = 0;
    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "II", chat_id, now_ms);
    if (ret == STORE_OK)
        ret = store_repair_add_chat(st, chat_id, "chat retired", now_ms, queued);
    if (ret == STORE_OK)
        return store_tx_commit(st);
    store_tx_rollback(st);
    return ret;
}

static enum store_row read_i64(sqlite3_stmt *s, void *row, void *ud)
{
    (void)ud;
    *(int64_t *)row = sqlite3_column_int64(s, 0);
    return STORE_ROW_NEXT;
}

enum store_status store_chats_retired(struct store *st, int64_t **out, size_t *n)
{
    static const char sql[] = "SELECT chat_id FROM retired_chats ORDER BY chat_id";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof(int64_t), 100000, read_i64, sql, "");

    *out = rows.v;
    *n = rows.n;
    return ret;
}

/* shards.c — stripes: the documents of a block stored as K data + M parity shards in different chats.
 *
 * A striped block keeps its row in blocks (its identity, sizes, hash and
 * references; chat_id/message_id there are those of shard 0, so the
 * block's own UNIQUE(chat_id, message_id) and every existing question about
 * blocks still hold) and adds one row in stripes (K, M, the sealed length
 * the shards rebuild) and one row per shard held in shards. A stripe with
 * fewer rows than K + M is degraded; one without a stripes row is a block
 * written as one document (unprotected), until the scrub upgrades it to a
 * stripe (store_stripe_upgrade). Rows go with their block: when its last
 * reference goes, every shard's message is queued for deletion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define SHARD_COLS "idx, chat_id, message_id, bot_id, file_id, file_unique_id, size, created_ms"

static enum store_row read_shard(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_shard *sh = row;
    const unsigned char *t;

    (void)ud;
    sh->idx = sqlite3_column_int(s, 0);
    sh->chat_id = sqlite3_column_int64(s, 1);
    sh->message_id = sqlite3_column_int64(s, 2);
    sh->bot_id = sqlite3_column_int64(s, 3);
    t = sqlite3_column_text(s, 4);
    snprintf(sh->file_id, sizeof(sh->file_id), "%s", t ? (const char *)t : "");
    t = sqlite3_column_text(s, 5);
    snprintf(sh->file_unique_id, sizeof(sh->file_unique_id), "%s", t ? (const char *)t : "");
    sh->size = sqlite3_column_int64(s, 6);
    sh->created_ms = sqlite3_column_int64(s, 7);
    return STORE_ROW_NEXT;
}

enum store_status store_stripe_add_shard(struct store *st, int64_t block_id, const struct store_shard *sh)
{
    static const char sql[] = "INSERT INTO shards(block_id, " SHARD_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

    return store_exec(st, sql, "IiIIIttII", block_id, sh->idx, sh->chat_id, sh->message_id, sh->bot_id, sh->file_id,
                      sh->file_unique_id, sh->size, sh->created_ms);
}

enum store_status store_stripe_insert(struct store *st, int64_t block_id, const struct store_stripe *sp)
{
    static const char sql[] = "INSERT INTO stripes(block_id, k, m, sealed_size) VALUES (?1, ?2, ?3, ?4)";
    enum store_status ret;

    if (sp->k < 1 || sp->m < 0 || sp->k + sp->m > STORE_MAX_SHARDS || sp->n < 0 || sp->n > sp->k + sp->m)
        return STORE_CONFLICT;
    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "IiiI", block_id, sp->k, sp->m, sp->sealed_size);
    for (int i = 0; ret == STORE_OK && i < sp->n; i++)
        ret = store_stripe_add_shard(st, block_id, &sp->sh[i]);
    return store_op_end(st, ret);
}

enum store_status store_stripe_get(struct store *st, int64_t block_id, struct store_stripe *out)
{
    static const char sql_stripe[] = "SELECT k, m, sealed_size FROM stripes WHERE block_id = ?1";
    static const char sql_shards[] = "SELECT " SHARD_COLS " FROM shards WHERE block_id = ?1 ORDER BY idx";
    struct store_rows rows;
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    memset(out, 0, sizeof(*out));
    ret = store_query(st, &s, sql_stripe, "I", block_id);
    if (ret != STORE_OK)
        return ret;
    out->k = sqlite3_column_int(s, 0);
    out->m = sqlite3_column_int(s, 1);
    out->sealed_size = sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    ret = store_rows_select(st, &rows, sizeof(struct store_shard), STORE_MAX_SHARDS, read_shard, sql_shards, "I",
                            block_id);
    if (ret == STORE_OK) {
        memcpy(out->sh, rows.v, rows.n * sizeof(struct store_shard));
        out->n = (int)rows.n;
    }
    free(rows.v);
    return ret;
}

enum store_status store_stripe_drop(struct store *st, int64_t block_id, int64_t now_ms)
{
    static const char sql_queue[] =
        "INSERT OR IGNORE INTO gc_queue(chat_id, message_id, bot_id, due_ms, attempts, posted_ms)"
        " SELECT chat_id, message_id, bot_id, ?2, 0, created_ms FROM shards WHERE block_id = ?1";
    static const char sql_shards[] = "DELETE FROM shards WHERE block_id = ?1";
    static const char sql_stripe[] = "DELETE FROM stripes WHERE block_id = ?1";
    static const char sql_repairs[] = "DELETE FROM repairs WHERE block_id = ?1";
    enum store_status ret = store_exec(st, sql_queue, "II", block_id, now_ms + st->gc_grace_ms);

    if (ret == STORE_OK)
        ret = store_exec(st, sql_shards, "I", block_id);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_stripe, "I", block_id);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_repairs, "I", block_id);
    return ret;
}

enum store_status store_stripe_upgrade(struct store *st, int64_t block_id, int64_t old_chat_id, int64_t old_message_id,
                                       const struct store_stripe *sp, const unsigned char (*keys)[16], int64_t now_ms)
{
    static const char sql_old[] =
        "SELECT bot_id, created_ms FROM blocks WHERE id = ?1 AND chat_id = ?2 AND message_id = ?3"
        " AND NOT EXISTS(SELECT 1 FROM stripes WHERE block_id = ?1)";
    static const char sql_block[] = "UPDATE blocks SET chat_id = ?2, message_id = ?3, bot_id = ?4, file_id = ?5,"
                                    " file_unique_id = ?6, created_ms = ?7 WHERE id = ?1";
    static const char sql_files[] = "DELETE FROM block_files WHERE block_id = ?1";
    const struct store_shard *first = &sp->sh[0];
    sqlite3_stmt *s = NULL;
    int64_t old_bot, old_posted;
    enum store_status ret;

    if (sp->n < 1)
        return STORE_CONFLICT;
    /* One transaction around calls that open their own (store_stripe_insert, store_inflight_end): savepoints. */
    ret = store_tx_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql_old, "III", block_id, old_chat_id, old_message_id);
    if (ret == STORE_OK) {
        old_bot = sqlite3_column_int64(s, 0);
        old_posted = sqlite3_column_int64(s, 1);
        sqlite3_reset(s);
        ret = store_gc_add(st, old_chat_id, old_message_id, old_bot, old_posted, now_ms + st->gc_grace_ms);
    }
    /* The block row names its first shard, as for a block posted as a stripe (put.c). */
    if (ret == STORE_OK)
        ret = store_exec(st, sql_block, "IIIIttI", block_id, first->chat_id, first->message_id, first->bot_id,
                         first->file_id, first->file_unique_id, first->created_ms);
    if (ret == STORE_OK) /* other bots' file ids of the old document */
        ret = store_exec(st, sql_files, "I", block_id);
    if (ret == STORE_OK)
        ret = store_stripe_insert(st, block_id, sp);
    for (int i = 0; ret == STORE_OK && i < sp->n; i++)
        ret = store_inflight_end(st, keys[sp->sh[i].idx], 1, now_ms);
    if (ret == STORE_OK)
        return store_tx_commit(st);
    store_tx_rollback(st);
    return ret;
}

enum store_status store_stripe_counts(struct store *st, struct store_stripe_counts *out)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM blocks b WHERE NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id)"
        "        AND b.chat_id != 0),"
        " ifnull(sum(n = k + m), 0), ifnull(sum(n < k + m AND n >= k), 0), ifnull(sum(n < k), 0)"
        " FROM (SELECT p.k AS k, p.m AS m, (SELECT count(*) FROM shards s WHERE s.block_id = p.block_id) AS n"
        "       FROM stripes p)";
    int64_t v[4] = {0, 0, 0, 0};
    enum store_status ret = store_scalars(st, v, 4, sql, "");

    out->unprotected = v[0];
    out->healthy = v[1];
    out->degraded = v[2];
    out->lost = v[3];
    return ret;
}

/* shards.c — stripes: the documents of a block stored as K data + M parity shards in different chats.
 *
 * A striped block keeps its row in blocks (its identity, sizes, hash and
 * references; chat_id/message_id there are those of shard 0, so the
 * block's own UNIQUE(chat_id, message_id) and every existing question about
 * blocks still hold) and adds one row in stripes (K, M, the sealed length
 * the shards rebuild) and one row per shard held in shards. A stripe with
 * fewer rows than K + M is degraded; one without a stripes row is a block
 * written as one document (unprotected). Rows go with their block: when its
 * last reference goes, every shard's message is queued for deletion.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define SHARD_COLS "idx, chat_id, message_id, bot_id, file_id, file_unique_id, size, created_ms"

static void read_shard(sqlite3_stmt *s, struct store_shard *sh)
{
    const unsigned char *t;

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
}

static enum store_status insert_shard(struct store *st, int64_t block_id, const struct store_shard *sh)
{
    static const char sql[] = "INSERT INTO shards(block_id, " SHARD_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_stmt(st, sql, &s);

    if (ret != STORE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, block_id);
    sqlite3_bind_int(s, 2, sh->idx);
    sqlite3_bind_int64(s, 3, sh->chat_id);
    sqlite3_bind_int64(s, 4, sh->message_id);
    sqlite3_bind_int64(s, 5, sh->bot_id);
    sqlite3_bind_text(s, 6, sh->file_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, sh->file_unique_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, sh->size);
    sqlite3_bind_int64(s, 9, sh->created_ms);
    return store_exec_stmt(st, s);
}

enum store_status store_stripe_add_shard(struct store *st, int64_t block_id, const struct store_shard *sh)
{
    return insert_shard(st, block_id, sh);
}

enum store_status store_stripe_insert(struct store *st, int64_t block_id, const struct store_stripe *sp)
{
    static const char sql[] = "INSERT INTO stripes(block_id, k, m, sealed_size) VALUES (?1, ?2, ?3, ?4)";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    if (sp->k < 1 || sp->m < 0 || sp->k + sp->m > STORE_MAX_SHARDS || sp->n < 0 || sp->n > sp->k + sp->m)
        return STORE_CONFLICT;
    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_stmt(st, sql, &s);
    if (ret != STORE_OK)
        goto out;
    sqlite3_bind_int64(s, 1, block_id);
    sqlite3_bind_int(s, 2, sp->k);
    sqlite3_bind_int(s, 3, sp->m);
    sqlite3_bind_int64(s, 4, sp->sealed_size);
    ret = store_exec_stmt(st, s);
    for (int i = 0; ret == STORE_OK && i < sp->n; i++)
        ret = insert_shard(st, block_id, &sp->sh[i]);
out:
    return store_op_end(st, ret);
}

enum store_status store_stripe_get(struct store *st, int64_t block_id, struct store_stripe *out)
{
    static const char sql_stripe[] = "SELECT k, m, sealed_size FROM stripes WHERE block_id = ?1";
    static const char sql_shards[] = "SELECT " SHARD_COLS " FROM shards WHERE block_id = ?1 ORDER BY idx";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int rc;

    memset(out, 0, sizeof(*out));
    ret = store_stmt(st, sql_stripe, &s);
    if (ret != STORE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, block_id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        ret = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_fail(st, rc);
        sqlite3_reset(s);
        return ret;
    }
    out->k = sqlite3_column_int(s, 0);
    out->m = sqlite3_column_int(s, 1);
    out->sealed_size = sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    ret = store_stmt(st, sql_shards, &s);
    if (ret != STORE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, block_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && out->n < STORE_MAX_SHARDS)
        read_shard(s, &out->sh[out->n++]);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_fail(st, rc);
    sqlite3_reset(s);
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
    const char *const sqls[] = {sql_queue, sql_shards, sql_stripe, sql_repairs};
    sqlite3_stmt *s = NULL;
    enum store_status ret = STORE_OK;

    for (size_t i = 0; i < ARRAY_SIZE(sqls) && ret == STORE_OK; i++) {
        ret = store_stmt(st, sqls[i], &s);
        if (ret != STORE_OK)
            break;
        sqlite3_bind_int64(s, 1, block_id);
        if (i == 0)
            sqlite3_bind_int64(s, 2, now_ms + st->gc_grace_ms);
        ret = store_exec_stmt(st, s);
    }
    return ret;
}

enum store_status store_stripe_counts(struct store *st, struct store_stripe_counts *out)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM blocks b WHERE NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id)"
        "        AND b.chat_id != 0),"
        " sum(n = k + m), sum(n < k + m AND n >= k), sum(n < k)"
        " FROM (SELECT p.k AS k, p.m AS m, (SELECT count(*) FROM shards s WHERE s.block_id = p.block_id) AS n"
        "       FROM stripes p)";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int rc;

    memset(out, 0, sizeof(*out));
    ret = store_stmt(st, sql, &s);
    if (ret != STORE_OK)
        return ret;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->unprotected = sqlite3_column_int64(s, 0);
        out->healthy = sqlite3_column_int64(s, 1);
        out->degraded = sqlite3_column_int64(s, 2);
        out->lost = sqlite3_column_int64(s, 3);
    } else {
        ret = store_fail(st, rc);
    }
    sqlite3_reset(s);
    return ret;
}

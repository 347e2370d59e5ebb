/* strays.c — what the stray probe needs from the index: where to look, what is referenced, what to collect.
 *
 * A crash can swallow the answer to a sendDocument that Telegram carried
 * out: the message exists, the index does not know it. The journal
 * (safety.c) keeps such unconfirmed posts, and a pack whose post started
 * keeps its row unposted (chat_id 0, file_id "posting") until the post is
 * recorded, so the gateway's stray probe (gateway/strays.c) knows what to
 * look for. These queries give it a floor (no such post can sit at
 * or below it), the message ids the index references above the floor (never
 * probed, never deleted), and one transaction per stray that queues it for
 * deletion, re-checking that no block references it, and ends its journal
 * row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

/* Ends the journal row of a post that was never confirmed (no message id, no hold). */
static const char sql_forget[] = "DELETE FROM inflight WHERE uuid = ?1 AND message_id = 0 AND hold_block_id = 0";

enum store_status store_strays_floor(struct store *st, int64_t chat_id, int64_t before_ms, int64_t *floor)
{
    /* A block's created_ms is taken after its post was answered, so a block
     * created before a post started holds a smaller message id. */
    static const char sql[] =
        "SELECT coalesce(max(m), 1) FROM (SELECT max(message_id) AS m FROM blocks WHERE chat_id = ?1 AND created_ms < ?2"
        " UNION ALL SELECT max(message_id) FROM shards WHERE chat_id = ?1 AND created_ms < ?2)";

    *floor = 1;
    return store_scalars(st, floor, 1, sql, "II", chat_id, before_ms);
}

static enum store_row read_message_id(sqlite3_stmt *s, void *row, void *ud)
{
    int64_t *id = row;

    (void)ud;
    *id = sqlite3_column_int64(s, 0);
    return STORE_ROW_NEXT;
}

enum store_status store_strays_referenced(struct store *st, int64_t chat_id, int64_t above, size_t max,
                                          int64_t **out, size_t *n)
{
    static const char sql[] =
        "SELECT message_id FROM blocks WHERE chat_id = ?1 AND message_id > ?2"
        " UNION SELECT message_id FROM shards WHERE chat_id = ?1 AND message_id > ?2"
        " UNION SELECT message_id FROM gc_queue WHERE chat_id = ?1 AND message_id > ?2"
        " UNION SELECT message_id FROM unreclaimable WHERE chat_id = ?1 AND message_id > ?2"
        " UNION SELECT message_id FROM inflight WHERE chat_id = ?1 AND message_id > ?2"
        " UNION SELECT message_id FROM chain_msgs WHERE chat_id = ?1 AND message_id > ?2"
        " ORDER BY 1 LIMIT ?3";
    static const char sql_snap[] = "SELECT v FROM meta WHERE k = 'last_snapshot'";
    struct store_rows rows;
    sqlite3_stmt *s = NULL;
    struct store_pin pin = {0};
    int64_t *v;
    size_t len;
    enum store_status ret;

    *out = NULL;
    *n = 0;
    ret = store_rows_select(st, &rows, sizeof *v, max, read_message_id, sql, "III", chat_id, above,
                            store_limit(max));
    if (ret != STORE_OK)
        return ret;
    v = rows.v;
    len = rows.n;
    /* The pinned snapshot is referenced from meta (k = 'last_snapshot', "chat:message:bot:ms"). */
    ret = store_stmt(st, sql_snap, &s);
    if (ret != STORE_OK) {
        free(v);
        return ret;
    }
    if (sqlite3_step(s) == SQLITE_ROW) /* else none is pinned, or it cannot be read: nothing to add */
        store_pin_read(s, 0, &pin);
    sqlite3_reset(s);
    if (pin.message_id > above && pin.chat_id == chat_id) {
        size_t i = 0;
        v = xrealloc(v, (len + 1) * sizeof(*v));
        while (i < len && v[i] < pin.message_id)
            i++;
        if (i == len || v[i] != pin.message_id) {
            memmove(v + i + 1, v + i, (len - i) * sizeof(*v));
            v[i] = pin.message_id;
            len++;
        }
    }
    if (len == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = len;
    return STORE_OK;
}

static enum store_row read_stray_pack(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_stray_pack *p = row;

    (void)ud;
    p->block_id = sqlite3_column_int64(s, 0);
    store_col_blob(s, 1, p->uuid, 16);
    p->created_ms = sqlite3_column_int64(s, 2);
    return STORE_ROW_NEXT;
}

enum store_status store_strays_unposted(struct store *st, size_t max, struct store_stray_pack **out, size_t *n)
{
    static const char sql[] = "SELECT id, uuid, created_ms FROM blocks WHERE chat_id = 0 AND file_id = '"
                              STORE_PACK_POSTING "' ORDER BY id LIMIT ?1";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, max, read_stray_pack, sql, "I",
                                              store_limit(max));

    *out = rows.v;
    *n = rows.n;
    return ret;
}

enum store_status store_stray_collect(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                      int64_t posted_ms, const unsigned char *uuid, int64_t now_ms)
{
    static const char sql_ref[] = "SELECT 1 FROM blocks WHERE chat_id = ?1 AND message_id = ?2"
                                  " UNION ALL SELECT 1 FROM shards WHERE chat_id = ?1 AND message_id = ?2";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql_ref, "II", chat_id, message_id);
    sqlite3_reset(s);
    if (ret == STORE_OK)
        ret = STORE_EXISTS; /* a block references it: never deleted */
    else if (ret == STORE_NOT_FOUND)
        ret = store_gc_add(st, chat_id, message_id, bot_id, posted_ms, now_ms);
    if (ret == STORE_OK && uuid != NULL)
        ret = store_exec(st, sql_forget, "b", uuid, 16);
    return store_op_end(st, ret);
}

enum store_status store_inflight_forget(struct store *st, const unsigned char (*uuids)[16], size_t n)
{
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    for (size_t i = 0; i < n && ret == STORE_OK; i++)
        ret = store_exec(st, sql_forget, "b", uuids[i], 16);
    return store_op_end(st, ret);
}

enum store_status store_pack_posting(struct store *st, int64_t block_id)
{
    static const char sql[] = "UPDATE blocks SET file_id = '" STORE_PACK_POSTING "' WHERE id = ?1 AND chat_id = 0";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "I", block_id);
    return store_op_end(st, ret);
}

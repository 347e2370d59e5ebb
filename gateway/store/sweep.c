/* sweep.c — the sweep windows a recovery leaves for the stray probe: where they lie, reading one, collecting in it.
 *
 * After `tgs3 recover`, whatever reached a chat after the last journal
 * document that the tool could apply (blocks, shards and packs of uploads in
 * flight or acknowledged within the journal's lag, journal documents never
 * pinned) is referenced by nothing. The tool records per chat a window of
 * message ids (floor, top) where such posts can be: table sweeps, outside
 * the journal (changes.c). The gateway's stray probe reads every id of a
 * window, collects the tgs3 posts that the index does not reference (one
 * transaction each, re-checking every table that references messages), moves
 * the floor as it goes and drops the row when the window is done.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/store/store_int.h"

enum store_status store_sweep_floor(struct store *st, int64_t chat_id, int64_t slack_ms, int64_t *floor)
{
    /* Every id here was recorded after its post was answered, so before the
     * journal's last cut: a post that started after the cut got a larger id.
     * chain_msgs is left out: a journal document is posted after its cut, so
     * the posts between the cut and it lie below it. */
    static const char sql_max[] =
        "SELECT coalesce(max(m), 1) FROM (SELECT max(message_id) AS m FROM blocks WHERE chat_id = ?1"
        " UNION ALL SELECT max(message_id) FROM shards WHERE chat_id = ?1"
        " UNION ALL SELECT max(message_id) FROM gc_queue WHERE chat_id = ?1"
        " UNION ALL SELECT max(message_id) FROM unreclaimable WHERE chat_id = ?1"
        " UNION ALL SELECT max(message_id) FROM inflight WHERE chat_id = ?1)";
    /* Posts that started before the cut and whose answer the index never got
     * (unconfirmed journal rows; packs being posted, which the recovery
     * drops): they can lie lower, above the newest block created before. */
    static const char sql_unsettled[] =
        "SELECT coalesce(min(t), -1) FROM (SELECT min(started_ms) AS t FROM inflight"
        " WHERE message_id = 0 AND hold_block_id = 0"
        " UNION ALL SELECT min(created_ms) FROM blocks WHERE chat_id = 0 AND file_id = '" STORE_PACK_POSTING "')";
    int64_t top_ref = 1, since = -1, low = 1;
    enum store_status ret;

    *floor = 1;
    ret = store_scalars(st, &top_ref, 1, sql_max, "I", chat_id);
    if (ret == STORE_OK)
        ret = store_scalars(st, &since, 1, sql_unsettled, "");
    if (ret == STORE_OK && since >= 0) {
        ret = store_strays_floor(st, chat_id, since - slack_ms, &low);
        if (ret == STORE_OK && low < top_ref)
            top_ref = low;
    }
    if (ret == STORE_OK)
        *floor = top_ref;
    return ret;
}

enum store_status store_sweep_set(struct store *st, int64_t chat_id, int64_t floor, int64_t top)
{
    /* A window left by an earlier recovery (in the snapshot this one began
     * from) is not done: the two become one. */
    static const char sql[] = "INSERT INTO sweeps(chat_id, floor, top) VALUES (?1, ?2, ?3)"
                              " ON CONFLICT(chat_id) DO UPDATE SET floor = min(floor, excluded.floor),"
                              " top = max(top, excluded.top)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "III", chat_id, floor, top);
    return store_op_end(st, ret);
}

static enum store_row read_sweep(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_sweep *w = row;

    (void)ud;
    w->chat_id = sqlite3_column_int64(s, 0);
    w->floor = sqlite3_column_int64(s, 1);
    w->top = sqlite3_column_int64(s, 2);
    return STORE_ROW_NEXT;
}

enum store_status store_sweeps_list(struct store *st, size_t max, struct store_sweep **out, size_t *n)
{
    static const char sql[] = "SELECT chat_id, floor, top FROM sweeps ORDER BY chat_id LIMIT ?1";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, max, read_sweep, sql, "I", store_limit(max));

    *out = rows.v;
    *n = rows.n;
    return ret;
}

enum store_status store_sweep_collect(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                      int64_t now_ms)
{
    static const char sql_ref[] = "SELECT 1 FROM blocks WHERE chat_id = ?1 AND message_id = ?2"
                                  " UNION ALL SELECT 1 FROM shards WHERE chat_id = ?1 AND message_id = ?2"
                                  " UNION ALL SELECT 1 FROM gc_queue WHERE chat_id = ?1 AND message_id = ?2"
                                  " UNION ALL SELECT 1 FROM unreclaimable WHERE chat_id = ?1 AND message_id = ?2"
                                  " UNION ALL SELECT 1 FROM inflight WHERE chat_id = ?1 AND message_id = ?2"
                                  " UNION ALL SELECT 1 FROM chain_msgs WHERE chat_id = ?1 AND message_id = ?2";
    static const char sql_snap[] = "SELECT v FROM meta WHERE k = 'last_snapshot'";
    sqlite3_stmt *s = NULL;
    struct store_pin pin = {0};
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql_ref, "II", chat_id, message_id);
    sqlite3_reset(s);
    if (ret == STORE_OK) {
        ret = STORE_EXISTS; /* referenced: never deleted */
    } else if (ret == STORE_NOT_FOUND) {
        ret = store_query(st, &s, sql_snap, "");
        if (ret == STORE_OK)
            store_pin_read(s, 0, &pin);
        sqlite3_reset(s);
        if (ret == STORE_OK || ret == STORE_NOT_FOUND)
            ret = pin.message_id == message_id && pin.chat_id == chat_id ? STORE_EXISTS : STORE_OK;
    }
    if (ret == STORE_OK)
        ret = store_gc_add(st, chat_id, message_id, bot_id, now_ms, now_ms);
    return store_op_end(st, ret);
}

enum store_status store_sweep_advance(struct store *st, int64_t chat_id, int64_t through)
{
    static const char sql[] = "UPDATE sweeps SET floor = ?2 WHERE chat_id = ?1 AND floor < ?2";
    static const char sql_done[] = "DELETE FROM sweeps WHERE chat_id = ?1 AND floor >= top - 1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "II", chat_id, through);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_done, "I", chat_id);
    return store_op_end(st, ret);
}

/* compact.c — the index side of pack compaction: finding packs that are mostly
 * dead and moving the live objects they still hold to a new pack.
 *
 * A pack qualifies when it is posted, every reference to it is an extent of a
 * one-extent object smaller than the caller's bound (no multipart part, dedup
 * hold or journal row refers to it: refcount equals its extents), and its live
 * bytes are at most (100 - pct) % of its plaintext, and no copy of it waits.
 * The copies are recorded first (pack_moves, each row a reference on the new
 * pack); an object is repointed only when the new pack is posted, and only if
 * it still is what was copied (same object row, block and offset): an object
 * deleted or overwritten meanwhile keeps its new state and its copy is dead
 * bytes in the new pack.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

static enum store_row read_live(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_pack_live *l = row;

    (void)ud;
    l->object_id = sqlite3_column_int64(s, 0);
    l->offset = sqlite3_column_int64(s, 1);
    l->length = sqlite3_column_int64(s, 2);
    return STORE_ROW_NEXT;
}

enum store_status store_pack_candidate(struct store *st, int pct, int64_t max_object, size_t max_live,
                                       struct store_block *blk, struct store_pack_live **live, size_t *n)
{
    static const char sql_find[] =
        "SELECT " STORE_BLOCK_COLS " FROM blocks b JOIN ("
        "  SELECT e.block_id AS bid, SUM(e.length) AS live, COUNT(*) AS n, MAX(o.size) AS big,"
        "         SUM(CASE WHEN o.size = e.length THEN 0 ELSE 1 END) AS split"
        "  FROM extents e JOIN objects o ON o.id = e.object_id GROUP BY e.block_id) x ON x.bid = b.id"
        " WHERE b.chat_id != 0 AND b.refcount = x.n AND x.split = 0 AND x.big < ?2"
        "   AND x.live * 100 <= b.plain_size * (100 - ?1)"
        "   AND NOT EXISTS (SELECT 1 FROM part_extents p WHERE p.block_id = b.id)"
        "   AND NOT EXISTS (SELECT 1 FROM pack_moves m WHERE m.old_block = b.id)"
        " ORDER BY x.live * 1.0 / b.plain_size LIMIT 1";
    static const char sql_live[] =
        "SELECT object_id, offset, length FROM extents WHERE block_id = ?1 ORDER BY offset LIMIT ?2";
    struct store_rows rows;
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    *live = NULL;
    *n = 0;
    ret = store_read_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql_find, "iI", pct, max_object);
    if (ret != STORE_OK)
        goto out;
    store_block_read(s, 0, blk);
    sqlite3_reset(s);
    ret = store_rows_select(st, &rows, sizeof **live, SIZE_MAX, read_live, sql_live, "II", blk->id,
                            store_limit(max_live));
    *live = rows.v;
    *n = rows.n;
out:
    store_read_end(st);
    if (ret != STORE_OK) {
        free(*live);
        *live = NULL;
        *n = 0;
    }
    return ret;
}

enum store_status store_pack_move_hold(struct store *st, int64_t old_block, const struct store_pack_move *m, size_t n)
{
    static const char sql[] = "INSERT INTO pack_moves(object_id, old_block, old_offset, length, new_block, new_offset)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    for (size_t i = 0; i < n && ret == STORE_OK; i++) {
        ret = store_exec(st, sql, "IIIIII", m[i].object_id, old_block, m[i].old_offset, m[i].length, m[i].new_block,
                         m[i].new_offset);
        if (ret == STORE_OK)
            ret = store_block_ref(st, m[i].new_block);
    }
    return store_op_end(st, ret);
}

struct ready_move {
    int64_t object_id, old_block, old_offset, length, new_block, new_offset;
};

static enum store_row read_ready(sqlite3_stmt *s, void *row, void *ud)
{
    struct ready_move *m = row;

    (void)ud;
    m->object_id = sqlite3_column_int64(s, 0);
    m->old_block = sqlite3_column_int64(s, 1);
    m->old_offset = sqlite3_column_int64(s, 2);
    m->length = sqlite3_column_int64(s, 3);
    m->new_block = sqlite3_column_int64(s, 4);
    m->new_offset = sqlite3_column_int64(s, 5);
    return STORE_ROW_NEXT;
}

enum store_status store_pack_moves_apply(struct store *st, int64_t now_ms, size_t *moved, size_t *stale)
{
    static const char sql_ready[] =
        "SELECT m.object_id, m.old_block, m.old_offset, m.length, m.new_block, m.new_offset"
        " FROM pack_moves m JOIN blocks b ON b.id = m.new_block WHERE b.chat_id != 0 LIMIT 8192";
    static const char sql_move[] = "UPDATE extents SET block_id = ?5, offset = ?6"
                                   " WHERE object_id = ?1 AND block_id = ?2 AND offset = ?3 AND length = ?4";
    static const char sql_del[] = "DELETE FROM pack_moves WHERE new_block = ?1 AND new_offset = ?2";
    struct store_rows rows;
    size_t k = 0, dead = 0;
    enum store_status ret;

    *moved = *stale = 0;
    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_rows_select(st, &rows, sizeof(struct ready_move), SIZE_MAX, read_ready, sql_ready, "");
    struct ready_move *m = rows.v;
    for (size_t i = 0; ret == STORE_OK && i < rows.n; i++) {
        ret = store_exec(st, sql_del, "II", m[i].new_block, m[i].new_offset);
        if (ret == STORE_OK)
            ret = store_exec(st, sql_move, "IIIIII", m[i].object_id, m[i].old_block, m[i].old_offset, m[i].length,
                             m[i].new_block, m[i].new_offset);
        if (ret != STORE_OK)
            break;
        if (sqlite3_changes(st->db) > 0) { /* the row's reference is the extent's now */
            ret = store_block_unref(st, m[i].old_block, 1, now_ms);
            k++;
        } else { /* deleted or rewritten meanwhile: its copy is dead bytes in the new pack */
            ret = store_block_unref(st, m[i].new_block, 1, now_ms);
            dead++;
        }
    }
    free(rows.v);
    ret = store_op_end(st, ret);
    if (ret == STORE_OK) {
        *moved = k;
        *stale = dead;
    }
    return ret;
}

/* stats.c — read-only views of the index for `tgs3 stats`: a read-only open and per-chat figures.
 *
 * `tgs3 stats` may run while `tgs3 serve` writes the same file: WAL mode
 * lets a reader see the last committed state without blocking the writer.
 * The read-only connection never migrates; an index without a schema
 * version is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_open_readonly(const char *path, struct store **out)
{
    struct store *st = xcalloc(1, sizeof *st);
    enum store_status ret;
    int64_t version;

    *out = NULL;
    ret = store_connect(st, path, SQLITE_OPEN_READONLY);
    if (ret != STORE_OK)
        goto out;
    ret = store_schema_version(st, &version);
    if (ret != STORE_OK)
        goto out;
    if (version < 1) {
        snprintf(st->err, sizeof st->err, "not a tgs3 index (no schema version)");
        ret = STORE_SCHEMA;
        goto out;
    }
    *out = st;
    st = NULL;
out:
    store_close(st);
    return ret;
}

static enum store_row read_chat_stats(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_chat_stats *c = row;

    (void)ud;
    c->chat_id = sqlite3_column_int64(s, 0);
    c->blocks = sqlite3_column_int64(s, 1);
    c->bytes = sqlite3_column_int64(s, 2);
    c->bots = sqlite3_column_int64(s, 3);
    c->gc_pending = sqlite3_column_int64(s, 4);
    c->top_message_id = sqlite3_column_int64(s, 5);
    return STORE_ROW_NEXT;
}

enum store_status store_stats_chats(struct store *st, struct store_chat_stats **out, size_t *n)
{
    static const char sql[] =
        "SELECT chat_id, sum(blocks), sum(bytes), sum(bots), sum(pending), max(top) FROM ("
        " SELECT chat_id, count(*) AS blocks, coalesce(sum(stored_size), 0) AS bytes,"
        "  count(DISTINCT bot_id) AS bots, 0 AS pending, max(message_id) AS top FROM blocks GROUP BY chat_id"
        " UNION ALL"
        " SELECT chat_id, 0, 0, 0, count(*), max(message_id) FROM gc_queue GROUP BY chat_id)"
        " GROUP BY chat_id ORDER BY chat_id";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, SIZE_MAX, read_chat_stats, sql, "");

    *out = rows.v;
    *n = rows.n;
    return ret;
}

static enum store_row read_bucket_stats(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_bucket_stats *b = row;

    (void)ud;
    store_col_text(s, 0, b->name, sizeof(b->name));
    b->objects = sqlite3_column_int64(s, 1);
    b->bytes = sqlite3_column_int64(s, 2);
    return STORE_ROW_NEXT;
}

enum store_status store_stats_buckets(struct store *st, struct store_bucket_stats **out, size_t *n)
{
    static const char sql[] = "SELECT b.name, count(o.id), coalesce(sum(o.size), 0) FROM buckets b"
                              " LEFT JOIN objects o ON o.bucket = b.name AND o.marker = 0 GROUP BY b.name ORDER BY b.name";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, SIZE_MAX, read_bucket_stats, sql, "");

    *out = rows.v;
    *n = rows.n;
    return ret;
}

enum store_status store_stats_extra(struct store *st, struct store_stats_extra *out)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM inflight), (SELECT count(*) FROM unreclaimable),"
        " (SELECT count(*) FROM blocks WHERE chat_id = 0),"
        " (SELECT count(*) FROM (SELECT block_id FROM extents GROUP BY block_id"
        "  HAVING count(DISTINCT object_id) > 1))";
    int64_t v[4];
    enum store_status ret;

    memset(out, 0, sizeof(*out));
    ret = store_scalars(st, v, 4, sql, "");
    if (ret == STORE_OK)
        *out = (struct store_stats_extra){.inflight = v[0], .unreclaimable = v[1], .unposted = v[2],
                                          .shared_blocks = v[3]};
    return ret;
}

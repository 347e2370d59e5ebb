/* gc.c — the durable queue of Telegram messages to delete.
 *
 * Rows are keyed by (chat_id, message_id): a message is queued at most once.
 * The deleter takes due rows, deletes the messages, then marks them done or
 * reschedules them with store_gc_retry, which counts the attempts.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_gc_enqueue(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                                   int64_t due_ms)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO gc_queue(chat_id, message_id, bot_id, due_ms, attempts) VALUES (?1, ?2, ?3, ?4, 0)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "IIII", chat_id, message_id, bot_id, due_ms);
    return store_op_end(st, ret);
}

enum store_status store_gc_add(struct store *st, int64_t chat_id, int64_t message_id, int64_t bot_id,
                               int64_t posted_ms, int64_t due_ms)
{
    static const char sql[] = "INSERT OR IGNORE INTO gc_queue(chat_id, message_id, bot_id, due_ms, attempts, posted_ms)"
                              " VALUES (?1, ?2, ?3, ?4, 0, ?5)";

    return store_exec(st, sql, "IIIII", chat_id, message_id, bot_id, due_ms, posted_ms);
}

struct gc_due_walk {
    struct store_gc_item *out; /* the caller's array of max items */
    size_t max, n;
};

static enum store_row on_gc_due_row(sqlite3_stmt *s, void *ud)
{
    struct gc_due_walk *w = ud;
    struct store_gc_item *it;

    if (w->n == w->max)
        return STORE_ROW_STOP;
    it = &w->out[w->n++];
    it->id = sqlite3_column_int64(s, 0);
    it->chat_id = sqlite3_column_int64(s, 1);
    it->message_id = sqlite3_column_int64(s, 2);
    it->bot_id = sqlite3_column_int64(s, 3);
    it->due_ms = sqlite3_column_int64(s, 4);
    it->attempts = sqlite3_column_int(s, 5);
    it->posted_ms = sqlite3_column_int64(s, 6);
    return STORE_ROW_NEXT;
}

enum store_status store_gc_due(struct store *st, int64_t now_ms, size_t max, struct store_gc_item *out,
                               size_t *n)
{
    static const char sql[] = "SELECT id, chat_id, message_id, bot_id, due_ms, attempts, posted_ms FROM gc_queue"
                              " WHERE due_ms <= ?1 ORDER BY bot_id, chat_id, message_id LIMIT ?2";
    struct gc_due_walk w = {.out = out, .max = max};
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    *n = 0;
    ret = store_prep(st, &s, sql, "II", now_ms, store_limit(max));
    if (ret != STORE_OK)
        return ret;
    ret = store_rows_each(st, s, on_gc_due_row, &w);
    if (ret == STORE_OK)
        *n = w.n;
    return ret;
}

enum store_status store_gc_done(struct store *st, const int64_t *ids, size_t n)
{
    static const char sql[] = "DELETE FROM gc_queue WHERE id = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    for (size_t i = 0; i < n && ret == STORE_OK; i++)
        ret = store_exec(st, sql, "I", ids[i]);
    return store_op_end(st, ret);
}

enum store_status store_gc_retry(struct store *st, int64_t id, int64_t retry_ms)
{
    static const char sql[] = "UPDATE gc_queue SET attempts = attempts + 1, due_ms = ?2 WHERE id = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec_found(st, sql, "II", id, retry_ms);
    return store_op_end(st, ret);
}

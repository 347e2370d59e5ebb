/* chats.c — per-chat questions about the blocks of the index (channel rollover). */
#include "gateway/store/store_int.h"

enum store_status store_block_count_chat(struct store *st, int64_t chat_id, int64_t *n)
{
    static const char sql[] = "SELECT COUNT(*) FROM blocks WHERE chat_id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int rc;

    *n = 0;
    ret = store_stmt(st, sql, &s);
    if (ret != STORE_OK)
        return ret;
    sqlite3_bind_int64(s, 1, chat_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        ret = store_fail(st, rc);
    sqlite3_reset(s);
    return ret;
}

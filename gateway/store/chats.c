/* chats.c — per-chat questions about the blocks of the index (channel rollover). */
#include "gateway/store/store_int.h"

enum store_status store_block_count_chat(struct store *st, int64_t chat_id, int64_t *n)
{
    /* Documents in the chat: blocks stored as one document, and shards of stripes. */
    static const char sql[] =
        "SELECT (SELECT COUNT(*) FROM blocks b WHERE chat_id = ?1"
        "        AND NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id))"
        " + (SELECT COUNT(*) FROM shards WHERE chat_id = ?1)";

    *n = 0;
    return store_scalars(st, n, 1, sql, "I", chat_id);
}

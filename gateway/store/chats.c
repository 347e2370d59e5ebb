/* chats.c — per-chat questions about the blocks of the index (channel rollover). */
#include "gateway/store/store_int.h"

enum store_status store_block_count_chat(struct store *st, int64_t chat_id, int64_t *n)
{
    static const char sql[] = "SELECT COUNT(*) FROM blocks WHERE chat_id = ?1";

    *n = 0;
    return store_scalars(st, n, 1, sql, "I", chat_id);
}

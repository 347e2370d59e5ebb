/* cmd_chat.c — `tgs3 chat retire ID`: the operator declares a storage chat lost.
 *
 * Writes the index (through SQLite's locking: safe beside a running
 * gateway): the chat is recorded as retired and every shard it holds is
 * queued for repair. The gateway reads the retired chats at start-up and
 * before each repair (a running one takes the retirement at its next
 * repair), and rebuilds the queued shards in the other chats, never back
 * into a retired one. Keep
 * the chat configured while it still answers: its shards are read from it
 * until they are rebuilt. Exit status: 0 done, 1 index error, 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

int gw_cmd_chat(int argc, char **argv)
{
    static const char usage[] = "usage: tgs3 chat retire CHAT_ID [serve options: --data-dir, --config …]\n\n"
                                "Retires a storage chat: no new shards go there and every shard it holds is "
                                "rebuilt in the other chats (by the gateway, from its next start).";
    struct gw gw;
    if (argc < 2 || strcmp(argv[0], "retire") != 0) {
        fprintf(stderr, "%s\n", usage);
        return argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) ? 0 : 2;
    }
    char *end;
    long long chat = strtoll(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || chat == 0) {
        fprintf(stderr, "tgs3 chat retire: '%s' is not a chat id\n", argv[1]);
        return 2;
    }
    int prc = gw_tool_args(&gw, argc - 2, argv + 2, usage, NULL, NULL);
    if (prc >= 0)
        return prc;
    int rc = 1;
    struct store *st = gw_setup_index(&gw, "chat");
    int64_t queued = 0;
    if (st != NULL) {
        enum store_status s = store_chat_retire(st, (int64_t)chat, now_ms(), &queued);
        if (s == STORE_OK) {
            printf("chat %lld retired: %lld shards queued for repair (the gateway rebuilds them from its next "
                   "start)\n",
                   chat, (long long)queued);
            rc = 0;
        } else {
            fprintf(stderr, "tgs3 chat retire: %s\n", store_status_name(s));
        }
        store_close(st);
    }
    gw_config_release(&gw.cfg);
    return rc;
}

/* cmd_gc.c — `tgs3 gc`: run the delete queue once, now, and exit.
 *
 * Takes the options of `tgs3 serve` (flags, TGS3_* environment, --config
 * file): --data-dir for the index and --botapi-url, --bot-token and --mode
 * for the Bot API server. Every queue item already due is deleted with
 * deleteMessages, batch after batch, exactly as the gateway's own runner
 * does; expired multipart uploads are aborted first. Items not yet due
 * (inside the grace period they were queued with) stay queued unless --all
 * is given. Safe beside a running gateway: both
 * write the index through SQLite's locking, and deleting a message twice is
 * harmless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

int gw_cmd_gc(int argc, char **argv)
{
    struct gw gw;
    uv_loop_t loop;
    int rc = 1;
    static const char *const own[] = {"--all", NULL};
    int all = 0;
    int prc = gw_tool_args(&gw, argc, argv,
                           "usage: tgs3 gc [--all] [serve options: --data-dir, --botapi-url, --bot-token, --mode, "
                           "--config …]\n\nDeletes every queued message that is due (with --all: every queued "
                           "message, inside its grace period or not), then exits.\n",
                           own, &all);
    if (prc >= 0)
        return prc;
    if (all)
        gw.gc_horizon_ms = 100LL * 365 * 86400 * 1000;
    if (gw.cfg.n_bot_tokens == 0) {
        fprintf(stderr, "tgs3 gc: no bot: give --bot-token (every bot that posted blocks)\n");
        gw_config_release(&gw.cfg);
        return 2;
    }
    if (gw_tool_open(&gw, &loop, "gc", 120000) != 0)
        goto out;
    int r = gw_gc_run_now(&gw);
    printf("gc: %llu messages deleted, %llu past Telegram's 48 h window (dropped from the queue), "
           "%llu failed (retried later)\n",
           (unsigned long long)gw.gc_deleted, (unsigned long long)gw.gc_unreclaimable,
           (unsigned long long)gw.gc_failed);
    rc = r == 0 ? 0 : 1;
out:
    gw_tool_close(&gw);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}

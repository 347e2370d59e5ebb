/* cmd_scrub.c — `tgs3 scrub`: read every shard (and every single-document block) back, verify it, and exit.
 *
 * Takes the options of `tgs3 serve`. One pass of the scrub (engine/scrub.c)
 * runs at once, with a progress line on stderr: every document is fetched
 * through the Bot API and authenticated; a missing or corrupt shard is
 * queued for repair in the index (the gateway rebuilds it when it runs), a
 * bad single-document block is reported. Exit status: 0 when everything
 * verified, 1 when something did not, 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

static int pass_over;

static void on_pass_done(struct gw *gw)
{
    (void)gw;
    pass_over = 1;
}

int gw_cmd_scrub(int argc, char **argv)
{
    struct gw gw;
    uv_loop_t loop;
    int rc = 1;
    int prc = gw_tool_args(&gw, argc, argv,
                           "usage: tgs3 scrub [serve options: --data-dir, --botapi-url, --bot-token, --chat-id, "
                           "--mode, --config …]\n\nReads every shard and block back through the Bot API and "
                           "verifies it; bad shards are queued for repair. Exit 0 clean, 1 when something is bad.",
                           NULL, NULL);
    if (prc >= 0)
        return prc;
    if (gw_keys_load(&gw, 0) != 0) /* the shards' tags and the blocks' seals */
        goto out_cfg;
    if (gw_tool_open(&gw, &loop, "scrub", 600000) != 0)
        goto out;
    pass_over = 0;
    gw_scrub_start(&gw, 1, on_pass_done);
    while (!pass_over)
        uv_run(gw.loop, UV_RUN_ONCE);
    struct gw_scrub_counters c;
    gw_scrub_counters(&gw, &c);
    gw_scrub_stop(&gw);
    fprintf(stderr, "\n");
    printf("scrub: %llu blocks checked, %llu documents verified, %llu bad shard(s) queued for repair, %llu bad "
           "block(s) stored as one document; %s\n",
           (unsigned long long)c.blocks_checked, (unsigned long long)c.docs_ok, (unsigned long long)c.shards_bad,
           (unsigned long long)c.blocks_bad, c.shards_bad + c.blocks_bad == 0 ? "clean" : "NOT clean");
    rc = c.shards_bad + c.blocks_bad == 0 ? 0 : 1;
out:
    gw_tool_close(&gw);
out_cfg:
    gw_keys_free(&gw);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}

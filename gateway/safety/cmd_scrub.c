/* cmd_scrub.c — `tgs3 scrub`: read every shard (and every single-document block) back, verify it, and exit.
 *
 * Takes the options of `tgs3 serve`. One pass of the scrub (engine/scrub.c)
 * runs at once, with a progress line on stderr: every document is fetched
 * through the Bot API and authenticated; a missing or corrupt shard is
 * queued for repair in the index (the gateway rebuilds it when it runs), a
 * bad single-document block is reported. When new blocks are stripes
 * (--redundancy) and the index holds blocks stored as one document, the
 * pass upgrades them to stripes (engine/upgrade.c): that posts, so it takes
 * the data dir's lock, and beside a running gateway (which holds it) those
 * blocks are only verified: its background scrub upgrades them. Exit
 * status: 0 when everything verified (and every upgrade tried succeeded),
 * 1 when something did not, 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/shard.h"
#include "gateway/gw.h"

static int pass_over;

static void on_pass_done(struct gw *gw)
{
    (void)gw;
    pass_over = 1;
}

static const char usage[] =
    "usage: tgs3 scrub [serve options: --data-dir, --botapi-url, --bot-token, --chat-id, --mode, --redundancy, "
    "--config …]\n\nReads every shard and block back through the Bot API and verifies it; bad shards are queued "
    "for repair. Blocks stored as one document are upgraded to the --redundancy layout unless the gateway runs. "
    "Exit 0 clean, 1 when something is bad.";

/* Blocks stored as one document are upgraded when new blocks are stripes and
 * this process may post: it takes the data dir (the gateway stopped) and
 * starts the scheduler. 1 when it does, 0 when they are only verified, -1 on
 * failure (logged). */
static int may_upgrade(struct gw *gw)
{
    struct store_stripe_counts sc;
    int k = 1, m = 0;
    if (blk_layout_parse(gw_config_redundancy(&gw->cfg), (int)gw->cfg.n_chat_ids, &k, &m) != 0 ||
        (k == 1 && m == 0) || gw->cfg.n_bot_tokens == 0)
        return 0;
    if (store_stripe_counts(gw_storeq_store(gw->storeq), &sc) != STORE_OK || sc.unprotected == 0)
        return 0;
    int rc = gw_data_dir_try_lock(gw->cfg.data_dir);
    if (rc != 0) {
        log_warn("scrub: %lld block(s) stored as one document are verified, not upgraded to %d+%d: %s",
                 (long long)sc.unprotected, k, m,
                 rc == 1 ? "the gateway holds the data dir (its background scrub upgrades them)"
                         : "the data dir cannot be locked");
        return 0;
    }
    return gw_setup_posting(gw) == 0 ? 1 : -1;
}

int gw_cmd_scrub(int argc, char **argv)
{
    struct gw gw;
    uv_loop_t loop;
    int rc = 1, posting = 0;
    int prc = gw_tool_args(&gw, argc, argv, usage, NULL, NULL);
    if (prc >= 0)
        return prc;
    if (gw_keys_load(&gw, 0) != 0) /* the shards' tags and the blocks' seals */
        goto out_cfg;
    if (gw_tool_open(&gw, &loop, "scrub", 600000) != 0)
        goto out;
    posting = may_upgrade(&gw);
    if (posting < 0)
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
           "block(s) stored as one document, %llu block(s) upgraded",
           (unsigned long long)c.blocks_checked, (unsigned long long)c.docs_ok, (unsigned long long)c.shards_bad,
           (unsigned long long)c.blocks_bad, (unsigned long long)c.blocks_upgraded);
    if (posting > 0)
        printf(" to stripes of %d+%d", gw.red_k, gw.red_m);
    if (c.upgrades_later > 0)
        printf(", %llu left as one document (a shard found no chat: the next pass tries again)",
               (unsigned long long)c.upgrades_later);
    printf("; %s\n", c.shards_bad + c.blocks_bad == 0 ? "clean" : "NOT clean");
    rc = c.shards_bad + c.blocks_bad + c.upgrades_later == 0 ? 0 : 1;
out:
    if (posting != 0) {
        gw_sched_stop(&gw);
        gw_chats_free(&gw);
    }
    gw_tool_close(&gw);
out_cfg:
    gw_keys_free(&gw);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}

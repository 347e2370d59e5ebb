/* cmd_repair.c — `tgs3 repair`: run the repair queue now, in the foreground, with a progress line.
 *
 * Takes the options of `tgs3 serve` and the data dir's lock (the gateway
 * must not run: both would post). The same runner as the gateway's
 * (engine/repair.c) rebuilds every queued shard from K good ones into live
 * chats, through the scheduler's rate budget; it ends when nothing is due
 * any more. Shards that could not be rebuilt (no live chat without a shard
 * of their stripe, or fewer than K readable shards) stay queued: exit 1,
 * "add a channel". Exit 0 when the queue is empty, 2 on bad usage.
 * Shards the gateway had put off (a failed attempt waits a minute) are
 * tried at once: the first poll makes every queued shard due now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define POLL_MS 500

struct watch {
    struct gw *gw;
    uv_timer_t timer;
    int busy, done, primed;
    int64_t due, queued, blocks;
    enum store_status st;
};

static void count_run(struct store *st, void *arg)
{
    struct watch *w = arg;
    w->st = w->primed ? STORE_OK : store_repair_all_due(st, now_ms());
    if (w->st == STORE_OK)
        w->st = store_repair_due(st, now_ms(), &w->due);
    if (w->st == STORE_OK)
        w->st = store_repair_backlog(st, &w->queued, &w->blocks);
}

static void count_done(void *arg)
{
    struct watch *w = arg;
    struct gw_repair_counters c;
    w->busy = 0;
    if (!w->primed) {
        w->primed = 1;
        gw_repair_kick(w->gw); /* what was put off is due now */
    }
    gw_repair_counters(w->gw, &c);
    fprintf(stderr, "\rrepair: %llu shards rebuilt, %lld queued (%lld due now)   ",
            (unsigned long long)c.shards_repaired, (long long)w->queued, (long long)w->due);
    if (w->st != STORE_OK || w->due == 0)
        w->done = 1;
}

static void on_poll(uv_timer_t *t)
{
    struct watch *w = t->data;
    if (w->busy || w->done)
        return;
    w->busy = 1;
    gw_store_call(w->gw, count_run, count_done, w);
}

static const char usage[] =
    "usage: tgs3 repair [serve options: --data-dir, --key-file, --botapi-url, --bot-token, --chat-id, --mode, "
    "--config …]\n\nRebuilds every shard in the repair queue from K good ones into live chats, then exits: 0 when "
    "the queue is empty, 1 when shards are left (add a channel). The gateway must not run.";

int gw_cmd_repair(int argc, char **argv)
{
    struct gw gw;
    uv_loop_t loop;
    int rc = 1, prc = gw_tool_args(&gw, argc, argv, usage, NULL, NULL);
    if (prc >= 0)
        return prc;
    if (gw.cfg.n_bot_tokens == 0 || gw.cfg.n_chat_ids == 0) {
        fprintf(stderr, "tgs3 repair: give --bot-token and --chat-id as for tgs3 serve\n");
        gw_config_release(&gw.cfg);
        return 2;
    }
    if (gw_data_dir_lock(gw.cfg.data_dir, "repair") != 0) {
        gw_config_release(&gw.cfg);
        return 2;
    }
    if (gw_keys_load(&gw, 0) != 0 || gw_tool_open(&gw, &loop, "repair", 600000) != 0 || gw_setup_posting(&gw) != 0)
        goto out;
    struct watch w = {.gw = &gw};
    uv_timer_init(gw.loop, &w.timer);
    w.timer.data = &w;
    uv_timer_start(&w.timer, on_poll, 0, POLL_MS);
    gw_repair_start(&gw);
    while (!w.done)
        uv_run(gw.loop, UV_RUN_ONCE);
    uv_timer_stop(&w.timer);
    uv_close((uv_handle_t *)&w.timer, NULL);
    gw_repair_stop(&gw);
    gw_sched_stop(&gw);
    gw_chats_free(&gw);
    struct gw_repair_counters c;
    gw_repair_counters(&gw, &c);
    fprintf(stderr, "\n");
    printf("repair: %lld shards of %lld blocks left in the queue%s\n", (long long)w.queued, (long long)w.blocks,
           w.queued > 0 ? " (no live chat without a shard of their stripe, or too few readable shards: add a channel)"
                        : "; every stripe is whole");
    rc = w.st == STORE_OK && w.queued == 0 ? 0 : 1;
out:
    gw_tool_close(&gw);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}

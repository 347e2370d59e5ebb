/* sched.c — which (bot, chat) pair posts each block, and when (post.c sends it).
 *
 * DESIGN
 * Telegram, not HTTP, bounds tgs3: about 20 posts a minute per bot in one
 * chat and about 30 a second per bot. Blocks ready to be posted wait here in
 * one FIFO; the pool (telegram/pool.c) keeps each pair's sliding window (as
 * Telegram counts: --rate-pair-per-min posts in any 60 s, so a pair's whole
 * allowance goes at once as a burst, then a post each time a slot frees) and
 * token buckets per bot and per chat, and the head of the FIFO goes to the
 * pair that can post soonest, so throughput approaches pairs × rate × block
 * size after the first bursts. When no pair has room a timer wakes the
 * scheduler when the first does (at least every SCHED_TICK_MS, to expire
 * waiters).
 *
 * A 429 pauses the pair it came from for retry_after (and the whole bot for
 * short waits: its per-second limit) and halves the pair's allowance (a
 * Telegram stricter than documented is learned; one post comes back per
 * window without a 429), and the block goes back to the FIFO for
 * the next free pair; so do 5xx answers and lost connections that survived
 * the client's own retries, at most MAX_FAILURES times. A block that waits
 * longer than --max-schedule-wait for a pair is handed back (expired): its
 * request fails with 503 SlowDown rather than queueing without bound. The
 * global in-flight budget (--max-upload-blocks, put.c) bounds how many
 * blocks wait here at all.
 *
 * Rollover: every confirmed post counts against its chat; a chat holding
 * --chat-max-messages blocks is closed and the other chats take over.
 *
 * Threads: the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define MAX_FAILURES 4     /* 5xx answers or lost connections (after the client's own retries) per block */
#define SCHED_TICK_MS 1000 /* the scheduler looks at its waiters at least this often */

static void sched_pump(struct gw *gw);

int gw_chat_index(const struct gw *gw, int64_t chat_id)
{
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++)
        if (gw->cfg.chat_ids[i] == chat_id)
            return (int)i;
    return -1;
}

/* ---- the FIFO of blocks waiting for a pair ---------------------------------- */

static void q_remove(struct gw *gw, struct gw_post_slot *s)
{
    if (!s->queued)
        return;
    DLIST_REMOVE_T(gw->post_head, gw->post_tail, s, prev, next);
    s->queued = 0;
    gw->post_waiting--;
}

static void q_append(struct gw *gw, struct gw_post_slot *s)
{
    DLIST_APPEND_T(gw->post_head, gw->post_tail, s, prev, next);
    s->queued = 1;
    gw->post_waiting++;
}

static void on_sched_timer(uv_timer_t *t)
{
    sched_pump(t->data);
}

static void on_kick(uv_timer_t *t)
{
    sched_pump(t->data);
}

void gw_sched_enqueue(struct gw *gw, struct gw_post_slot *s)
{
    ASSERT(!s->queued && s->go != NULL && s->expired != NULL);
    s->since_ms = mono_ms();
    if (s->placements == 0)
        s->first_ms = s->since_ms;
    q_append(gw, s);
    /* go never runs from inside the caller: the pump starts from the loop. */
    if (gw->sched_started)
        uv_timer_start(&gw->sched_timer, on_kick, 0, 0);
}

void gw_sched_cancel(struct gw *gw, struct gw_post_slot *s)
{
    q_remove(gw, s);
}

/* Hands waiters whose time is up back to their owners (503 SlowDown), or
 * every waiter when no chat is open. Owners may free anything of theirs, so
 * the waiters are unlinked first. */
static void expire(struct gw *gw, int64_t now, int all)
{
    struct gw_post_slot *out[128];
    size_t n = 0;
    for (struct gw_post_slot *s = gw->post_head, *next; s != NULL && n < ARRAY_SIZE(out); s = next) {
        next = s->next;
        if (!all && now - s->since_ms < gw->cfg.max_schedule_wait_ms)
            continue;
        q_remove(gw, s);
        out[n++] = s;
    }
    if (n > 0)
        log_warn("scheduler: %zu block(s) %s; their requests get 503", n,
                 all ? "have no open storage chat" : "found no free (bot, chat) pair within --max-schedule-wait");
    for (size_t k = 0; k < n; k++)
        out[k]->expired(out[k]);
}

/* Hands one waiter back at once: no open chat it may use exists (a stripe's
 * shard whose other shards took every open chat). */
static void expire_one(struct gw *gw, struct gw_post_slot *s)
{
    q_remove(gw, s);
    s->expired(s);
}

static void sched_pump(struct gw *gw)
{
    int64_t now = mono_ms();
    int64_t sleep_ms = SCHED_TICK_MS;
    if (gw->pool == NULL)
        return;
    expire(gw, now, 0);
    /* In FIFO order, each waiter takes the pair that can post soonest among
     * the chats it may use; one that must wait lets the next ones try. */
    for (struct gw_post_slot *s = gw->post_head, *next; s != NULL; s = next) {
        size_t bot, chat;
        next = s->next;
        int64_t w = tg_pool_pick_avoid(gw->pool, now, s->avoid, &bot, &chat);
        if (w < 0) {
            if (s->avoid == NULL) {
                expire(gw, now, 1);
                break;
            }
            expire_one(gw, s);
            next = gw->post_head; /* the owner may have removed other waiters */
            continue;
        }
        if (w > 0) {
            if (w < sleep_ms)
                sleep_ms = w;
            if (s->avoid == NULL)
                break; /* every later waiter without a restriction would wait as long */
            continue;
        }
        q_remove(gw, s);
        tg_pool_take(gw->pool, bot, chat, now);
        s->bot = bot;
        s->chat = chat;
        s->placements++;
        gw->sched_wait_ms += (uint64_t)(now - s->since_ms); /* metrics: time spent waiting for a pair */
        s->go(s, bot, chat);
        next = gw->post_head; /* go may have queued or removed waiters */
    }
    if (gw->sched_started) {
        if (gw->post_head != NULL)
            uv_timer_start(&gw->sched_timer, on_sched_timer, (uint64_t)(sleep_ms > 0 ? sleep_ms : 1), 0);
        else
            uv_timer_stop(&gw->sched_timer);
    }
}

static void count_chat(struct gw *gw, size_t ci)
{
    gw->chat_blocks[ci]++;
    if (gw->chat_blocks[ci] >= gw->cfg.chat_max_messages && tg_pool_chat_is_open(gw->pool, ci)) {
        tg_pool_set_chat_open(gw->pool, ci, 0);
        log_info("chat %lld holds %lld blocks (--chat-max-messages): new blocks go to the other chats",
                 (long long)gw->cfg.chat_ids[ci], (long long)gw->chat_blocks[ci]);
        if (tg_pool_open_chats(gw->pool) == 0)
            log_error("every storage chat is full (--chat-max-messages %lld): add a --chat-id; uploads fail "
                      "until then",
                      (long long)gw->cfg.chat_max_messages);
    }
}

int gw_sched_done(struct gw *gw, struct gw_post_slot *s, const struct tg_result *res, int give_up)
{
    if (gw->pool == NULL)
        return 0;
    if (res->status == TG_OK) {
        count_chat(gw, s->chat);
        return 0;
    }
    if (res->status == TG_ERR_RATE_LIMITED)
        tg_pool_pause(gw->pool, s->bot, s->chat, res->retry_after, mono_ms());
    if (give_up || !tg_result_temporary(res))
        return 0;
    /* A 429 is Telegram asking to wait, not a failure: the block waits for the
     * next free pair as long as --max-schedule-wait allows (then SlowDown). */
    if (res->status == TG_ERR_RATE_LIMITED ? mono_ms() - s->first_ms >= gw->cfg.max_schedule_wait_ms
                                           : ++s->failures >= MAX_FAILURES)
        return 0;
    log_debug("scheduler: bot %lld in chat %lld: %s (%s%s); placing the block again", (long long)gw->bots[s->bot].id,
              (long long)gw->cfg.chat_ids[s->chat], tg_status_name(res->status), res->description,
              res->maybe_posted ? ", the lost answer may hide a posted copy" : "");
    gw_sched_enqueue(gw, s);
    return 1;
}

int gw_sched_start(struct gw *gw, const int64_t *counts)
{
    struct tg_pool_config pc = {
        .n_bots = gw->n_bots,
        .n_chats = gw->cfg.n_chat_ids,
        .pair_per_min = gw->cfg.rate_pair_per_min,
        .pair_burst = 1,
        .window = 1,
        .bot_per_sec = gw->cfg.rate_bot_per_sec,
        .chat_per_min = gw->cfg.rate_chat_per_min,
    };
    gw->pool = tg_pool_new(&pc, mono_ms());
    gw->chat_blocks = xcalloc(gw->cfg.n_chat_ids, sizeof(*gw->chat_blocks));
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++) {
        gw->chat_blocks[i] = counts ? counts[i] : 0;
        if (gw->chat_blocks[i] >= gw->cfg.chat_max_messages) {
            tg_pool_set_chat_open(gw->pool, i, 0);
            log_info("chat %lld already holds %lld blocks (--chat-max-messages %lld): no new blocks go there",
                     (long long)gw->cfg.chat_ids[i], (long long)gw->chat_blocks[i],
                     (long long)gw->cfg.chat_max_messages);
        }
    }
    uv_timer_init(gw->loop, &gw->sched_timer);
    gw->sched_timer.data = gw;
    gw->sched_started = 1;
    double per_min = tg_pool_rate_per_min(gw->pool);
    log_info("scheduler: %zu bot(s) x %zu open chat(s) of %zu: %.0f posts/min, about %.2f MiB/s at %lld-byte "
             "blocks",
             gw->n_bots, tg_pool_open_chats(gw->pool), gw->cfg.n_chat_ids, per_min,
             per_min / 60.0 * (double)gw->cfg.block_size / 1048576.0, (long long)gw->cfg.block_size);
    /* Reads still work when every chat is full, so the gateway serves; uploads get 503 until a chat is added. */
    if (tg_pool_open_chats(gw->pool) == 0)
        log_error("every storage chat holds --chat-max-messages %lld blocks or more: uploads fail until a "
                  "--chat-id with room is added",
                  (long long)gw->cfg.chat_max_messages);
    return 0;
}

void gw_sched_stop(struct gw *gw)
{
    gw_post_stop(gw);
    if (gw->pool != NULL && gw->post_head != NULL)
        expire(gw, mono_ms(), 1);
    if (gw->sched_started) {
        uv_timer_stop(&gw->sched_timer);
        uv_close((uv_handle_t *)&gw->sched_timer, NULL);
        gw->sched_started = 0;
    }
    tg_pool_free(gw->pool);
    gw->pool = NULL;
    free(gw->chat_blocks);
    gw->chat_blocks = NULL;
}

void gw_sched_counters(const struct gw *gw, struct gw_sched_counters *out)
{
    out->wait_ms = gw->sched_wait_ms;
    out->post_waiting = gw->post_waiting;
}

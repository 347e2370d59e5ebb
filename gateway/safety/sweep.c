/* sweep.c — tgs3 recover's sweep windows: where each chat may hold posts the recovered index cannot know of.
 *
 * A recovered index stops at the last journal document that reached
 * Telegram. Whatever the lost gateway posted after that document's cut
 * (blocks, shards and packs of uploads in flight or acknowledged within the
 * journal's lag, journal documents never pinned) stays in the chats,
 * referenced by nothing. Message ids in a chat are sequential, so such posts
 * lie in a window per chat: above the newest id the index recorded before
 * the cut (store_sweep_floor), below the chat's top now. The Bot API tells
 * the top only by posting, so the tool posts a tiny probe document, takes its
 * id and deletes it (queued in the recovered index when the delete fails).
 * The windows go into table sweeps of the recovered index; the gateway's
 * stray probe (strays.c) reads them at its next start and deletes the tgs3
 * posts there that nothing references.
 *
 * Threads: the tool's main thread, running the loop until each call is
 * answered. A chat that no bot can post into gets no window (reported).
 */
#include <stdio.h>
#include <string.h>

#include "gateway/gw.h"

#define SWEEP_CLOCK_SLACK_MS 10000 /* the unsettled posts' times come from the wall clock: allow for small steps */

static const char PROBE_BODY[] = "tgs3 sweep probe\n";
/* A tgs3 caption: a probe that outlives its delete is collected by a later sweep. */
static const char PROBE_CAPTION[] = "tgs3 v1 sweep-probe";

struct top_call {
    uv_loop_t *loop;
    int done;
    struct tg_result res;
    int64_t message_id;
};

/* Each answer stops the loop: run once, libuv 1.44 runs the timers (where
 * curl may finish a transfer) before it polls, and would then block. */
static void on_posted(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct top_call *c = ud;
    uv_stop(c->loop);
    c->done = 1;
    c->res = *res;
    c->message_id = res->status == TG_OK && doc != NULL ? doc->message_id : 0;
}

static void on_deleted(void *ud, const struct tg_result *res)
{
    struct top_call *c = ud;
    uv_stop(c->loop);
    c->done = 1;
    c->res = *res;
}

static void wait_for(struct gw *gw, struct top_call *c)
{
    while (!c->done)
        uv_run(gw->loop, UV_RUN_ONCE);
}

/* The chat's newest message id now (the probe's), by any bot: *bot its index; 0 when none could post. */
static int64_t chat_top(struct gw *gw, int64_t chat, size_t *bot)
{
    for (size_t b = 0; b < gw->n_bots; b++) {
        struct top_call c = {.loop = gw->loop};
        tg_send_document(gw->tg, gw->bots[b].token, chat, PROBE_BODY, sizeof(PROBE_BODY) - 1, "probe",
                         PROBE_CAPTION, on_posted, &c);
        wait_for(gw, &c);
        if (c.message_id > 0) {
            *bot = b;
            return c.message_id;
        }
        fprintf(stderr, "tgs3 recover: chat %lld: bot %lld cannot post the sweep probe: %s (%s)\n", (long long)chat,
                (long long)gw->bots[b].id, tg_status_name(c.res.status), c.res.description);
    }
    return 0;
}

size_t gw_sweep_record(struct gw *gw, struct store *st)
{
    size_t n = 0;
    for (size_t ci = 0; ci < gw->cfg.n_chat_ids; ci++) {
        int64_t chat = gw->cfg.chat_ids[ci], floor = 1, top;
        size_t bot = 0, seen = 0;
        while (seen < ci && gw->cfg.chat_ids[seen] != chat)
            seen++;
        if (seen < ci)
            continue; /* configured twice */
        enum store_status ss = store_sweep_floor(st, chat, SWEEP_CLOCK_SLACK_MS, &floor);
        if (ss != STORE_OK) {
            fprintf(stderr, "tgs3 recover: chat %lld: cannot read the index: %s; no sweep\n", (long long)chat,
                    store_status_name(ss));
            continue;
        }
        top = chat_top(gw, chat, &bot);
        if (top == 0) {
            fprintf(stderr, "tgs3 recover: chat %lld: its newest message id is unknown; posts of the lost run there "
                            "are not looked for\n",
                    (long long)chat);
            continue;
        }
        struct top_call c = {.loop = gw->loop};
        tg_delete_message(gw->tg, gw->bots[bot].token, chat, top, on_deleted, &c);
        wait_for(gw, &c);
        if (c.res.status != TG_OK && store_gc_enqueue(st, chat, top, gw->bots[bot].id, now_ms()) != STORE_OK)
            fprintf(stderr, "tgs3 recover: chat %lld: the sweep probe (message %lld) stays: %s\n", (long long)chat,
                    (long long)top, tg_status_name(c.res.status));
        ss = store_sweep_set(st, chat, floor, top);
        if (ss != STORE_OK) {
            fprintf(stderr, "tgs3 recover: chat %lld: cannot record its sweep window: %s (%s)\n", (long long)chat,
                    store_status_name(ss), store_errmsg(st));
            continue;
        }
        printf("chat %lld: message ids %lld..%lld are read by the gateway's next start; posts of the lost run there "
               "that the index does not reference are deleted\n",
               (long long)chat, (long long)(floor + 1), (long long)(top - 1));
        n++;
    }
    return n;
}

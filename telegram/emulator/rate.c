/* rate.c — Telegram's flood limits on posts, and what the stats count per (bot, chat).
 *
 * Sliding windows. Each limited key (a bot in a chat: --rate-chat per 60 s; a bot: --rate-bot
 * per 1 s) keeps the times of its last N posts in a ring. A post fits at time t when the N-th
 * latest post is at least the window before t: so at most N posts land in any window, bursts
 * of N included, as Telegram allows short bursts. A post that does not fit now is given the
 * earliest time it does (its slot reserved at once, so concurrent waiters queue in order); a
 * wait up to --flood-wait-max comes back as latency (the call runs again then, as TDLib
 * re-sends a query after FLOOD_WAIT), a longer one as 429.
 * Limits: one entry per (bot, chat) pair seen, found by a linear search (tests and benchmarks
 * use a handful).
 */
#include <stdlib.h>
#include <string.h>

#include "telegram/emulator/emu.h"

#define CHAT_WINDOW_MS 60000
#define BOT_WINDOW_MS 1000

/* The key of both kinds of entries below, their first member. */
struct pair_key {
    int64_t bot, chat;
};

/* A growable array of entries that start with a struct pair_key. */
struct keyed {
    void *v;
    size_t n, cap;
    size_t size; /* bytes per entry */
};

struct window {
    struct pair_key key; /* chat 0 = the per-bot window */
    int64_t *t; /* ms, ring of the last cap post times, oldest at head */
    int cap, n, head;
};

/* Per (bot, chat) counters for the stats. chat 0 collects calls that name no chat. */
struct pair_stat {
    struct pair_key key;
    uint64_t posts;         /* posts made */
    uint64_t rate_limited;  /* 429s sent because a window was full for longer than --flood-wait-max */
    uint64_t injected_429;  /* 429s sent by --fail-429 */
    uint64_t flood_waits;   /* posts delayed as latency */
    uint64_t flood_wait_ms; /* ms of such delays */
    int peak_window;        /* most posts of this pair seen in one 60 s window (with --rate-chat) */
};

static struct keyed windows = {NULL, 0, 0, sizeof(struct window)};
static struct keyed pstats = {NULL, 0, 0, sizeof(struct pair_stat)};

/* The entry keyed (bot, chat); appended, zeroed but for its key, when absent (*added = 1). */
static void *keyed_get(struct keyed *a, int64_t bot, int64_t chat, int *added)
{
    unsigned char *base = a->v;
    *added = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct pair_key *k = (void *)(base + i * a->size);
        if (k->bot == bot && k->chat == chat)
            return k;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = xrealloc(a->v, a->cap * a->size);
    }
    struct pair_key *k = (void *)((unsigned char *)a->v + a->n++ * a->size);
    memset(k, 0, a->size);
    k->bot = bot;
    k->chat = chat;
    *added = 1;
    return k;
}

static struct window *window_get(int64_t bot, int64_t chat, int cap)
{
    int added;
    struct window *w = keyed_get(&windows, bot, chat, &added);
    if (added) {
        w->cap = cap;
        w->t = xcalloc((size_t)cap, sizeof(*w->t));
    }
    return w;
}

static struct pair_stat *pair_stat(int64_t bot, int64_t chat)
{
    int added;
    return keyed_get(&pstats, bot, chat, &added);
}

/* Earliest time ≥ now a post fits in w (never before its latest post: the ring stays sorted). */
static int64_t window_fit(const struct window *w, int64_t span_ms, int64_t now)
{
    int64_t t = now;
    if (w->n > 0) {
        int64_t last = w->t[(w->head + w->n - 1) % w->cap];
        if (last > t)
            t = last;
    }
    if (w->n == w->cap && w->t[w->head] + span_ms > t)
        t = w->t[w->head] + span_ms;
    return t;
}

static void window_push(struct window *w, int64_t t)
{
    if (w->n == w->cap) {
        w->t[w->head] = t;
        w->head = (w->head + 1) % w->cap;
    } else {
        w->t[(w->head + w->n++) % w->cap] = t;
    }
}

/* Posts of w within the window ending at t (its newest entries). */
static int window_count(const struct window *w, int64_t span_ms, int64_t t)
{
    int c = 0;
    for (int i = 0; i < w->n; i++)
        if (w->t[(w->head + i) % w->cap] > t - span_ms)
            c++;
    return c;
}

/* A post by bot into chat: 0 when it may go ahead now (its slot taken); > 0 ms when it was
 * given a later slot within --flood-wait-max (the caller runs the call again then); < 0 when
 * it must be refused with 429, -retry_after seconds. */
static int64_t rate_take(struct emu_call *c, int64_t chat)
{
    struct pair_stat *ps = pair_stat(c->bot_id, chat);
    if (c->reserved) {
        ps->posts++;
        return 0;
    }
    struct window *wc = emu_cfg.rate_chat > 0 ? window_get(c->bot_id, chat, emu_cfg.rate_chat) : NULL;
    struct window *wb = emu_cfg.rate_bot > 0 ? window_get(c->bot_id, 0, emu_cfg.rate_bot) : NULL;
    int64_t now = mono_ms(), t = now;
    if (wc) {
        int64_t f = window_fit(wc, CHAT_WINDOW_MS, now);
        t = f > t ? f : t;
    }
    if (wb) {
        int64_t f = window_fit(wb, BOT_WINDOW_MS, now);
        t = f > t ? f : t;
    }
    int64_t wait = t - now;
    if (wait > (int64_t)emu_cfg.flood_wait_max * 1000 - c->waited_ms) {
        ps->rate_limited++;
        int64_t s = (wait + 999) / 1000;
        return -(s < 1 ? 1 : s);
    }
    if (wc) {
        window_push(wc, t);
        int n = window_count(wc, CHAT_WINDOW_MS, t);
        if (n > ps->peak_window)
            ps->peak_window = n;
    }
    if (wb)
        window_push(wb, t);
    if (wait == 0) {
        ps->posts++;
        return 0;
    }
    ps->flood_waits++;
    ps->flood_wait_ms += (uint64_t)wait;
    return wait;
}

int rate_ok(struct emu_call *c, int64_t chat)
{
    int64_t v = rate_take(c, chat);
    if (v == 0)
        return 1;
    if (v < 0)
        call_too_many(c, (int)-v);
    else
        c->r.defer_ms = v;
    return 0;
}

void rate_count_injected(int64_t bot, int64_t chat)
{
    pair_stat(bot, chat)->injected_429++;
}

json_t *rate_stats(struct rate_totals *tot)
{
    json_t *pairs = json_array();
    memset(tot, 0, sizeof(*tot));
    for (size_t i = 0; i < pstats.n; i++) {
        const struct pair_stat *p = (const struct pair_stat *)pstats.v + i;
        json_array_append_new(pairs, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i}", "bot",
                                               (json_int_t)p->key.bot, "chat", (json_int_t)p->key.chat, "posts",
                                               (json_int_t)p->posts, "too_many",
                                               (json_int_t)(p->rate_limited + p->injected_429), "rate_limited",
                                               (json_int_t)p->rate_limited, "injected_429",
                                               (json_int_t)p->injected_429, "flood_waits",
                                               (json_int_t)p->flood_waits, "flood_wait_ms",
                                               (json_int_t)p->flood_wait_ms, "peak_60s", p->peak_window));
        tot->rate_limited += p->rate_limited;
        tot->injected_429 += p->injected_429;
        tot->flood_waits += p->flood_waits;
        tot->flood_wait_ms += p->flood_wait_ms;
    }
    return pairs;
}

void rate_release(void)
{
    for (size_t i = 0; i < windows.n; i++)
        free(((struct window *)windows.v + i)->t);
    free(windows.v);
    windows.v = NULL;
    windows.n = windows.cap = 0;
    free(pstats.v);
    pstats.v = NULL;
    pstats.n = pstats.cap = 0;
}

/* pool.c — the bot × chat pool: token buckets and the choice of where the next post goes.
 *
 * Telegram bounds a bot to about 20 posts a minute in one chat and about 30 a
 * second overall (reference/botapi.md §7.1), so the upload throughput of tgs3
 * is pairs × rate × block size, and reaching it is a scheduling problem. Every
 * (bot, chat) pair, every bot and every chat has a token bucket; a post spends
 * one token of each of its three buckets. tg_pool_pick scans the pairs of open
 * chats for the smallest wait (the largest of its three buckets' waits and any
 * pause a 429 imposed), starting after the last pair picked so that equal
 * pairs take turns.
 *
 * DESIGN
 *   Time: callers pass a monotonic ms clock; nothing here reads one, so the
 *   unit test drives time by hand.
 *   A 429 is attributed as the reference suggests: it always pauses the pair
 *   for retry_after; a short retry_after (≤ BOT_PAUSE_MAX_S) is what the
 *   per-second bot limit produces, so the bot pauses too. Long waits for one
 *   pair leave the bot's other chats working.
 *   Limits: n_bots × n_chats pairs, scanned linearly per pick (a few hundred
 *   at most in practice).
 *   The window (cfg.window): Telegram allows a pair pair_per_min posts in ANY
 *   60 s window, bursts included, so instead of the pair's bucket each pair
 *   keeps the times of its last posts in a ring (at most WINDOW_RING_MAX;
 *   above that the window shrinks in proportion: as many posts per
 *   60 × ring / pair_per_min s) and may post while fewer than its allowance
 *   lie within the window: a burst of the whole allowance as soon as blocks
 *   are ready, then one post as each slot frees, a window after it was taken.
 *   The allowance starts at the configured rate and learns: a 429 halves it
 *   (floor 1; once per window, as the posts that were in flight together
 *   report one overshoot) besides pausing the pair for retry_after, and every
 *   full window without a 429 gives one post back, up to the configured rate.
 *   It is computed from the time of the last 429, so it needs no clock.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg_int.h"

#define BOT_PAUSE_MAX_S 2 /* a 429 asking for at most this long is taken as the bot's per-second limit */
#define WINDOW_MS 60000     /* Telegram's window for a pair's posts */
#define WINDOW_RING_MAX 1024 /* send times kept per pair (the window shrinks above this rate) */

struct bucket {
    double tokens;
    double cap;          /* tokens */
    double per_ms;       /* tokens per ms; 0 = unlimited */
    int64_t last_ms;
    int64_t paused_until; /* ms; 0 = not paused */
};

/* A pair's sliding window (cfg.window). */
struct pair_window {
    int64_t *t;       /* ring of the send times of the last cap posts, oldest at head, non-decreasing */
    int n, head;
    int allow;        /* allowance at last_429_ms (after its halving) */
    int64_t last_429_ms, shrink_ms; /* the latest 429, the latest halving; INT64_MIN: none */
};

struct tg_pool {
    struct tg_pool_config cfg;
    struct bucket *pairs; /* [bot * n_chats + chat] */
    struct pair_window *win; /* [bot * n_chats + chat] when cfg.window, else NULL */
    int win_cap;          /* posts per window: the configured allowance */
    int64_t win_ms;       /* the window's length */
    struct bucket *bots;
    struct bucket *chats;
    unsigned char *open;  /* per chat */
    struct tg_pool_stats *stats; /* per pair */
    size_t cursor;        /* pair index after the last pick */
};

static void bucket_init(struct bucket *b, double per_ms, double cap, int64_t now)
{
    b->per_ms = per_ms;
    b->cap = cap < 1 ? 1 : cap;
    b->tokens = b->cap;
    b->last_ms = now;
    b->paused_until = 0;
}

static void refill(struct bucket *b, int64_t now)
{
    if (now > b->last_ms) {
        b->tokens += (double)(now - b->last_ms) * b->per_ms;
        if (b->tokens > b->cap)
            b->tokens = b->cap;
        b->last_ms = now;
    }
}

static int64_t bucket_wait(struct bucket *b, int64_t now)
{
    int64_t w = 0;
    if (b->per_ms > 0) {
        refill(b, now);
        if (b->tokens < 1.0)
            w = (int64_t)ceil((1.0 - b->tokens) / b->per_ms);
    }
    if (b->paused_until > now && b->paused_until - now > w)
        w = b->paused_until - now;
    return w;
}

static void bucket_take(struct bucket *b, int64_t now)
{
    if (b->per_ms <= 0)
        return;
    refill(b, now);
    b->tokens -= 1.0;
}

static void bucket_pause(struct bucket *b, int64_t until)
{
    if (until > b->paused_until)
        b->paused_until = until;
    /* Whatever was saved up is evidently not there: start the refill from empty. */
    if (b->tokens > 0)
        b->tokens = 0;
}

/* The pair's allowance at now: the one after its last 429, plus one per whole window since. */
static int win_allow(const struct tg_pool *p, const struct pair_window *w, int64_t now)
{
    if (w->allow >= p->win_cap || w->last_429_ms == INT64_MIN)
        return p->win_cap;
    int64_t grown = now > w->last_429_ms ? (now - w->last_429_ms) / p->win_ms : 0;
    return grown >= p->win_cap - w->allow ? p->win_cap : w->allow + (int)grown;
}

/* Ms until the pair's window has room for one more post under its allowance. */
static int64_t win_wait(const struct tg_pool *p, const struct pair_window *w, int64_t now)
{
    int a = win_allow(p, w, now);
    if (w->n < a)
        return 0;
    /* The a-th latest post leaves the window first among those that fill it. */
    int64_t free_at = w->t[(w->head + w->n - a) % p->win_cap] + p->win_ms;
    return free_at > now ? free_at - now : 0;
}

static void win_take(const struct tg_pool *p, struct pair_window *w, int64_t now)
{
    int cap = p->win_cap;
    if (w->n > 0) {
        int64_t last = w->t[(w->head + w->n - 1) % cap];
        if (now < last)
            now = last; /* keep the ring in order */
    }
    if (w->n == cap) {
        w->t[w->head] = now;
        w->head = (w->head + 1) % cap;
    } else {
        w->t[(w->head + w->n++) % cap] = now;
    }
}

static void win_429(const struct tg_pool *p, struct pair_window *w, int64_t now)
{
    int a = win_allow(p, w, now);
    if (w->shrink_ms == INT64_MIN || now - w->shrink_ms >= p->win_ms) {
        a /= 2;
        w->shrink_ms = now;
    }
    w->allow = a < 1 ? 1 : a;
    w->last_429_ms = now;
}

struct tg_pool *tg_pool_new(const struct tg_pool_config *cfg, int64_t now_ms)
{
    ASSERT(cfg != NULL && cfg->n_bots > 0 && cfg->n_chats > 0);
    struct tg_pool *p = xcalloc(1, sizeof(*p));
    p->cfg = *cfg;
    if (p->cfg.pair_per_min <= 0)
        p->cfg.pair_per_min = 20;
    if (p->cfg.pair_burst < 1)
        p->cfg.pair_burst = 1;
    if (p->cfg.bot_per_sec <= 0)
        p->cfg.bot_per_sec = 30;
    size_t np = cfg->n_bots * cfg->n_chats;
    p->pairs = xcalloc(np, sizeof(*p->pairs));
    p->stats = xcalloc(np, sizeof(*p->stats));
    p->bots = xcalloc(cfg->n_bots, sizeof(*p->bots));
    p->chats = xcalloc(cfg->n_chats, sizeof(*p->chats));
    p->open = xcalloc(cfg->n_chats, 1);
    for (size_t i = 0; i < np; i++)
        bucket_init(&p->pairs[i], p->cfg.pair_per_min / 60000.0, p->cfg.pair_burst, now_ms);
    if (p->cfg.window) {
        double n = ceil(p->cfg.pair_per_min);
        p->win_cap = n > WINDOW_RING_MAX ? WINDOW_RING_MAX : (int)n;
        p->win_ms = (int64_t)llround((double)WINDOW_MS * p->win_cap / p->cfg.pair_per_min);
        if (p->win_ms < 1)
            p->win_ms = 1;
        p->win = xcalloc(np, sizeof(*p->win));
        for (size_t i = 0; i < np; i++) {
            p->win[i].t = xcalloc((size_t)p->win_cap, sizeof(*p->win[i].t));
            p->win[i].allow = p->win_cap;
            p->win[i].last_429_ms = p->win[i].shrink_ms = INT64_MIN;
        }
    }
    for (size_t i = 0; i < cfg->n_bots; i++)
        bucket_init(&p->bots[i], p->cfg.bot_per_sec / 1000.0, p->cfg.bot_per_sec, now_ms);
    for (size_t i = 0; i < cfg->n_chats; i++) {
        double per_min = p->cfg.chat_per_min > 0 ? p->cfg.chat_per_min : 0;
        bucket_init(&p->chats[i], per_min / 60000.0, per_min > 0 ? per_min / 20.0 : 1, now_ms);
        p->open[i] = 1;
    }
    return p;
}

void tg_pool_free(struct tg_pool *p)
{
    if (p == NULL)
        return;
    if (p->win != NULL)
        for (size_t i = 0; i < p->cfg.n_bots * p->cfg.n_chats; i++)
            free(p->win[i].t);
    free(p->win);
    free(p->pairs);
    free(p->stats);
    free(p->bots);
    free(p->chats);
    free(p->open);
    free(p);
}

int64_t tg_pool_wait(struct tg_pool *p, size_t bot, size_t chat, int64_t now_ms)
{
    ASSERT(bot < p->cfg.n_bots && chat < p->cfg.n_chats);
    size_t i = bot * p->cfg.n_chats + chat;
    int64_t w;
    if (p->win != NULL) {
        w = win_wait(p, &p->win[i], now_ms);
        if (p->pairs[i].paused_until > now_ms && p->pairs[i].paused_until - now_ms > w)
            w = p->pairs[i].paused_until - now_ms;
    } else {
        w = bucket_wait(&p->pairs[i], now_ms);
    }
    int64_t wb = bucket_wait(&p->bots[bot], now_ms);
    int64_t wc = bucket_wait(&p->chats[chat], now_ms);
    if (wb > w)
        w = wb;
    if (wc > w)
        w = wc;
    return w;
}

int64_t tg_pool_pick(struct tg_pool *p, int64_t now_ms, size_t *bot, size_t *chat)
{
    return tg_pool_pick_avoid(p, now_ms, NULL, bot, chat);
}

int64_t tg_pool_pick_avoid(struct tg_pool *p, int64_t now_ms, const unsigned char *avoid, size_t *bot, size_t *chat)
{
    size_t np = p->cfg.n_bots * p->cfg.n_chats;
    int64_t best = -1;
    size_t best_i = 0;
    for (size_t k = 0; k < np; k++) {
        size_t i = (p->cursor + k) % np;
        size_t b = i / p->cfg.n_chats, c = i % p->cfg.n_chats;
        if (!p->open[c] || (avoid != NULL && avoid[c]))
            continue;
        int64_t w = tg_pool_wait(p, b, c, now_ms);
        if (best < 0 || w < best) {
            best = w;
            best_i = i;
            if (w == 0)
                break;
        }
    }
    if (best < 0)
        return -1;
    *bot = best_i / p->cfg.n_chats;
    *chat = best_i % p->cfg.n_chats;
    return best;
}

void tg_pool_take(struct tg_pool *p, size_t bot, size_t chat, int64_t now_ms)
{
    size_t i = bot * p->cfg.n_chats + chat;
    ASSERT(bot < p->cfg.n_bots && chat < p->cfg.n_chats);
    if (p->win != NULL)
        win_take(p, &p->win[i], now_ms);
    else
        bucket_take(&p->pairs[i], now_ms);
    bucket_take(&p->bots[bot], now_ms);
    bucket_take(&p->chats[chat], now_ms);
    p->stats[i].posts++;
    p->cursor = (i + 1) % (p->cfg.n_bots * p->cfg.n_chats);
}

void tg_pool_pause(struct tg_pool *p, size_t bot, size_t chat, int retry_after, int64_t now_ms)
{
    ASSERT(bot < p->cfg.n_bots && chat < p->cfg.n_chats);
    int s = retry_after > 0 ? retry_after : 1;
    int64_t until = now_ms + (int64_t)s * 1000;
    bucket_pause(&p->pairs[bot * p->cfg.n_chats + chat], until);
    if (p->win != NULL)
        win_429(p, &p->win[bot * p->cfg.n_chats + chat], now_ms);
    if (s <= BOT_PAUSE_MAX_S)
        bucket_pause(&p->bots[bot], until);
    p->stats[bot * p->cfg.n_chats + chat].rate_limited++;
}

void tg_pool_set_chat_open(struct tg_pool *p, size_t chat, int open)
{
    ASSERT(chat < p->cfg.n_chats);
    p->open[chat] = open != 0;
}

int tg_pool_chat_is_open(const struct tg_pool *p, size_t chat)
{
    return chat < p->cfg.n_chats && p->open[chat];
}

size_t tg_pool_open_chats(const struct tg_pool *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->cfg.n_chats; i++)
        n += p->open[i];
    return n;
}

double tg_pool_rate_per_min(const struct tg_pool *p)
{
    size_t open = tg_pool_open_chats(p);
    double pairs = (double)(p->cfg.n_bots * open) * p->cfg.pair_per_min;
    double bots = (double)p->cfg.n_bots * p->cfg.bot_per_sec * 60.0;
    double r = pairs < bots ? pairs : bots;
    if (p->cfg.chat_per_min > 0 && (double)open * p->cfg.chat_per_min < r)
        r = (double)open * p->cfg.chat_per_min;
    return r;
}

struct tg_pool_stats tg_pool_pair_stats(const struct tg_pool *p, size_t bot, size_t chat)
{
    ASSERT(bot < p->cfg.n_bots && chat < p->cfg.n_chats);
    return p->stats[bot * p->cfg.n_chats + chat];
}

int tg_pool_pair_allowance(const struct tg_pool *p, size_t bot, size_t chat, int64_t now_ms)
{
    ASSERT(bot < p->cfg.n_bots && chat < p->cfg.n_chats);
    if (p->win == NULL)
        return (int)p->cfg.pair_burst;
    return win_allow(p, &p->win[bot * p->cfg.n_chats + chat], now_ms);
}

uint64_t tg_pool_rate_limited(const struct tg_pool *p)
{
    uint64_t n = 0;
    for (size_t i = 0; i < p->cfg.n_bots * p->cfg.n_chats; i++)
        n += p->stats[i].rate_limited;
    return n;
}

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
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg_int.h"

#define BOT_PAUSE_MAX_S 2 /* a 429 asking for at most this long is taken as the bot's per-second limit */

struct bucket {
    double tokens;
    double cap;          /* tokens */
    double per_ms;       /* tokens per ms; 0 = unlimited */
    int64_t last_ms;
    int64_t paused_until; /* ms; 0 = not paused */
};

struct tg_pool {
    struct tg_pool_config cfg;
    struct bucket *pairs; /* [bot * n_chats + chat] */
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
    int64_t w = bucket_wait(&p->pairs[bot * p->cfg.n_chats + chat], now_ms);
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

/* test_tg_pool.c — the bot × chat scheduler's buckets, picks, pauses and rollover, time driven by hand. */
#include <stdio.h>
#include <stdlib.h>

#include "telegram/tg.h"
#include "tests/unit/check.h"

/* Posts as fast as the pool allows for `ms` of simulated time; returns the number of posts. */
static int run(struct tg_pool *p, int64_t start, int64_t ms, int *per_pair, size_t n_chats)
{
    int posts = 0;
    int64_t t = start;
    while (t < start + ms) {
        size_t b, c;
        int64_t w = tg_pool_pick(p, t, &b, &c);
        if (w < 0)
            break;
        if (w > 0) {
            t += w;
            continue;
        }
        tg_pool_take(p, b, c, t);
        if (per_pair)
            per_pair[b * n_chats + c]++;
        posts++;
    }
    return posts;
}

static void test_rate_model(void)
{
    /* 1 pair at 20/min: 20 posts a minute (1 at once, then one every 3 s). */
    struct tg_pool_config cfg = {.n_bots = 1, .n_chats = 1, .pair_per_min = 20};
    struct tg_pool *p = tg_pool_new(&cfg, 0);
    int n = run(p, 0, 60000, NULL, 1);
    CHECK(n == 20);
    CHECK(tg_pool_rate_per_min(p) == 20.0);
    tg_pool_free(p);

    /* 4 bots × 2 chats: 8 pairs, 160 a minute, spread evenly. */
    struct tg_pool_config cfg8 = {.n_bots = 4, .n_chats = 2, .pair_per_min = 20};
    int per[8] = {0};
    p = tg_pool_new(&cfg8, 0);
    n = run(p, 0, 60000, per, 2);
    CHECK(n == 160);
    for (int i = 0; i < 8; i++)
        CHECK(per[i] == 20);
    CHECK(tg_pool_rate_per_min(p) == 160.0);
    tg_pool_free(p);

    /* The per-bot limit caps many chats: 1 bot, 4 chats at 600/min each, 2/s per bot. */
    struct tg_pool_config cfgb = {.n_bots = 1, .n_chats = 4, .pair_per_min = 600, .bot_per_sec = 2};
    p = tg_pool_new(&cfgb, 0);
    n = run(p, 0, 10000, NULL, 4);
    CHECK(n >= 20 && n <= 22); /* 2 burst + 2/s */
    tg_pool_free(p);

    /* A per-chat limit over all bots. */
    struct tg_pool_config cfgc = {.n_bots = 4, .n_chats = 1, .pair_per_min = 60, .chat_per_min = 30};
    p = tg_pool_new(&cfgc, 0);
    n = run(p, 0, 60000, NULL, 1);
    CHECK(n >= 30 && n <= 32);
    tg_pool_free(p);
}

static void test_pause(void)
{
    struct tg_pool_config cfg = {.n_bots = 2, .n_chats = 1, .pair_per_min = 60};
    struct tg_pool *p = tg_pool_new(&cfg, 0);
    size_t b, c;
    CHECK(tg_pool_pick(p, 0, &b, &c) == 0);
    /* A long 429 on bot 0 pauses only that pair: bot 1 takes over. */
    tg_pool_pause(p, 0, 0, 35, 0);
    CHECK(tg_pool_wait(p, 0, 0, 0) == 35000);
    CHECK(tg_pool_pick(p, 0, &b, &c) == 0 && b == 1);
    tg_pool_take(p, 1, 0, 0);
    CHECK(tg_pool_pick(p, 0, &b, &c) == 1000 && b == 1);
    CHECK(tg_pool_wait(p, 0, 0, 34999) == 1);
    CHECK(tg_pool_wait(p, 0, 0, 35000) == 0);
    CHECK(tg_pool_pair_stats(p, 0, 0).rate_limited == 1);
    CHECK(tg_pool_pair_stats(p, 1, 0).posts == 1);
    tg_pool_free(p);

    /* A short 429 pauses the whole bot (its per-second limit), in every chat. */
    struct tg_pool_config cfg2 = {.n_bots = 1, .n_chats = 2, .pair_per_min = 60};
    p = tg_pool_new(&cfg2, 0);
    tg_pool_pause(p, 0, 0, 1, 0);
    CHECK(tg_pool_wait(p, 0, 1, 0) == 1000);
    CHECK(tg_pool_pick(p, 0, &b, &c) == 1000);
    tg_pool_free(p);
}

static void test_rollover(void)
{
    struct tg_pool_config cfg = {.n_bots = 2, .n_chats = 3, .pair_per_min = 20};
    struct tg_pool *p = tg_pool_new(&cfg, 0);
    size_t b, c;
    tg_pool_set_chat_open(p, 0, 0);
    CHECK(tg_pool_open_chats(p) == 2);
    for (int i = 0; i < 20; i++) {
        CHECK(tg_pool_pick(p, 0, &b, &c) >= 0 && c != 0);
        tg_pool_take(p, b, c, 0);
    }
    tg_pool_set_chat_open(p, 1, 0);
    tg_pool_set_chat_open(p, 2, 0);
    CHECK(tg_pool_pick(p, 0, &b, &c) == -1);
    CHECK(tg_pool_rate_per_min(p) == 0.0);
    tg_pool_set_chat_open(p, 2, 1);
    CHECK(tg_pool_pick(p, 100000, &b, &c) == 0 && c == 2);
    tg_pool_free(p);
}

int main(void)
{
    test_rate_model();
    test_pause();
    test_rollover();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

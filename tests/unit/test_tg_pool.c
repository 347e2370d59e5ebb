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

/* The sliding window: a burst of N, then as the window frees; a 429 halves the allowance, quiet windows regrow it. */
static void test_window(void)
{
    struct tg_pool_config cfg = {.n_bots = 1, .n_chats = 1, .pair_per_min = 20, .window = 1};
    struct tg_pool *p = tg_pool_new(&cfg, 0);
    size_t b, c;
    /* A burst of 20 at t = 0 (a post every 100 ms: the first at 0, the last at 1.9 s). */
    for (int i = 0; i < 20; i++) {
        CHECK(tg_pool_pick(p, i * 100, &b, &c) == 0);
        tg_pool_take(p, 0, 0, i * 100);
    }
    CHECK(tg_pool_pair_allowance(p, 0, 0, 2000) == 20);
    /* The 21st not before 60 s after the first; the 22nd not before 60 s after the second. */
    CHECK(tg_pool_pick(p, 2000, &b, &c) == 58000);
    CHECK(tg_pool_wait(p, 0, 0, 59999) == 1);
    CHECK(tg_pool_wait(p, 0, 0, 60000) == 0);
    tg_pool_take(p, 0, 0, 60000);
    CHECK(tg_pool_wait(p, 0, 0, 60000) == 100);
    /* In the long run 20 a minute: the other 19 of the second round, then 20 from 120 s (the slots free as
     * they were taken), none before 180 s. */
    CHECK(run(p, 60000, 120000, NULL, 1) == 39);
    tg_pool_free(p);

    /* Same over 8 pairs: 160 at once (as fast as 30/s per bot allows: 30 + 10 in 1/3 s), the next 160 a
     * minute later. */
    struct tg_pool_config cfg8 = {.n_bots = 4, .n_chats = 2, .pair_per_min = 20, .window = 1};
    int per[8] = {0};
    p = tg_pool_new(&cfg8, 0);
    CHECK(run(p, 0, 1, per, 2) == 120);
    CHECK(run(p, 1, 999, per, 2) == 40);
    CHECK(tg_pool_pick(p, 1000, &b, &c) == 59000);
    CHECK(run(p, 1000, 59000, NULL, 2) == 0);
    CHECK(run(p, 60000, 1000, per, 2) == 160);
    for (int i = 0; i < 8; i++)
        CHECK(per[i] == 40); /* 20 per pair per window */
    tg_pool_free(p);

    /* A 429 halves the allowance and pauses the pair for retry_after; 429s of posts in flight together halve once. */
    p = tg_pool_new(&cfg, 0);
    for (int i = 0; i < 20; i++)
        tg_pool_take(p, 0, 0, 0);
    tg_pool_pause(p, 0, 0, 5, 1000);
    tg_pool_pause(p, 0, 0, 5, 1200);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 1200) == 10);
    CHECK(tg_pool_pair_stats(p, 0, 0).rate_limited == 2);
    CHECK(tg_pool_rate_limited(p) == 2);
    /* 20 posts at t = 0 fill the window until 60 s; then 10 may go at once, not 20. */
    CHECK(tg_pool_wait(p, 0, 0, 6200) == 53800);
    CHECK(run(p, 60000, 1, NULL, 1) == 10);
    /* Another 429 a window after the first halving halves again; the floor is 1. */
    tg_pool_pause(p, 0, 0, 1, 61000);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 61000) == 5);
    tg_pool_pause(p, 0, 0, 1, 121000);
    tg_pool_pause(p, 0, 0, 1, 181000);
    tg_pool_pause(p, 0, 0, 1, 241000);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 241000) == 1);
    tg_pool_pause(p, 0, 0, 1, 301000);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 301000) == 1);
    /* Regrowth: one post per whole window without a 429, up to the configured 20. */
    CHECK(tg_pool_pair_allowance(p, 0, 0, 360999) == 1);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 361000) == 2);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 301000 + 5 * 60000) == 6);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 301000 + 19 * 60000) == 20);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 301000 + 100 * 60000) == 20);
    /* A 429 while regrowing halves the allowance reached so far and restarts the clock. */
    tg_pool_pause(p, 0, 0, 1, 301000 + 7 * 60000);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 301000 + 7 * 60000) == 4);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 301000 + 8 * 60000) == 5);
    /* The allowance governs the window: with 5, the 6th post in a window waits for the first to leave it. */
    int64_t t0 = 301000 + 8 * 60000 + 120000; /* the earlier posts have left the window; allowance 7 */
    CHECK(tg_pool_pair_allowance(p, 0, 0, t0) == 7);
    CHECK(run(p, t0, 1, NULL, 1) == 7);
    CHECK(tg_pool_wait(p, 0, 0, t0) == 60000);
    tg_pool_free(p);

    /* The other limits still apply within a burst: 2/s per bot over 4 chats. */
    struct tg_pool_config cfgb = {.n_bots = 1, .n_chats = 4, .pair_per_min = 20, .bot_per_sec = 2, .window = 1};
    p = tg_pool_new(&cfgb, 0);
    int n = run(p, 0, 10000, NULL, 4);
    CHECK(n >= 20 && n <= 22);
    tg_pool_free(p);

    /* Rates above the ring's size keep their proportion: 6000/min = 1024 per 10.24 s. */
    struct tg_pool_config cfgr = {.n_bots = 1, .n_chats = 1, .pair_per_min = 6000, .bot_per_sec = 100000,
                                  .window = 1};
    p = tg_pool_new(&cfgr, 0);
    CHECK(run(p, 0, 1, NULL, 1) == 1024);
    CHECK(tg_pool_wait(p, 0, 0, 0) == 10240);
    CHECK(tg_pool_pair_allowance(p, 0, 0, 0) == 1024);
    tg_pool_free(p);
}

int main(void)
{
    test_rate_model();
    test_pause();
    test_rollover();
    test_window();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

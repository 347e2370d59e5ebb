/* large.h — the main table's figures, shared by large.c (the rounds) and table.c (the rows). */
#ifndef TGS3_BENCH_LARGE_H
#define TGS3_BENCH_LARGE_H

#include "tests/bench/bench.h"

#define BENCH_MAIN_BLOCK ((int64_t)16 << 20) /* --block-size of the main table's gateway */

enum { SM_PUT, SM_GET, SM_AGAIN, SM_HEAD, SM_KINDS }; /* the small-object rows */
static const int bench_conc[2] = {16, 64};            /* their concurrencies */

struct large_fig { /* one size's section, MiB/s per round */
    struct bench_stat put1, put1s, put4, get1, again, get4; /* put1s: tgs3, the payload signed */
    /* tgs3's signed PUT: CPU seconds per GiB of the gateway, the emulator and the whole machine (the client too) */
    struct bench_stat cpu_gw, cpu_emu, cpu_all;
    long rss_put4; /* KiB: the gateway's peak RssAnon during the four-stream PUTs, the highest of the rounds */
};

struct small_fig { /* one small-object row */
    struct bench_stat ops; /* successful requests per second */
    struct bench_stat p50, p99; /* latency, ms */
};

struct side_figs { /* what one server (nginx or tgs3) measured over the rounds */
    struct large_fig L[BENCH_MAX_SIZES];
    struct small_fig S[SM_KINDS][2];
    struct bench_stat cold, warm, cold_ratio; /* tgs3: MiB/s of the first and the second PUT, and their ratio */
    long rss_all;                             /* KiB: tgs3's peak RssAnon over every round */
    int errors;                               /* failed requests */
};

/* The main table's rows (table.c). */
void bench_main_rows(const struct bench_env *env, const struct bench_ceil *c, const struct side_figs *ngx,
                     const struct side_figs *gw);

#endif

/* redundancy.c — tgs3-bench's stripes: rs:4+2 against --redundancy none, measured side by side in one run.
 *
 * Two sides, each a gateway with its own emulator (6 chats, 1 bot, no rate
 * limits, 16 MiB blocks), alike but for --redundancy:
 *   PUT: a large object (TGS3_BENCH_LARGE) in one stream, after a 256 MiB
 *     warm-up PUT on each side; the sides take turns, RS_ROUNDS times, and
 *     the best of each is kept. A stripe is encoded (ISA-L) and posted as 6
 *     shard documents of a quarter block, 1.5 times the bytes of none. The
 *     emulators keep documents in RAM stores on tmpfs when there is room for
 *     both (4+2 in places of a shard's size), else both on the disk. Beside
 *     the rates: each side's CPU seconds per GiB (gateway, emulator) and what
 *     its gateway logged as warnings, so a low ratio shows where time went.
 *   GET: RS_READS objects of 16 MiB (one block) each, read once after both
 *     gateways were restarted with --cache-size 0, so nothing is in a cache;
 *     the emulators answer getFile after the document would have come at
 *     RS_BANDWIDTH (its --bandwidth, per connection), so none waits for one
 *     16 MiB document while 4+2 fetches four 4 MiB shards side by side.
 *     The sides take turns; the median of each is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "tests/bench/bench.h"

#define RS_CHATS 6
#define RS_BLOCK ((int64_t)16 << 20)                   /* bytes */
#define RS_ROUNDS 2                                    /* measured PUTs per side */
#define RS_SHARD_DOC ((int64_t)(4 << 20) + (64 << 10)) /* RAM place of a 4+2 shard of a 16 MiB block */
#define RS_READS 3                                     /* uncached reads per side */
#define RS_READ_SIZE ((uint64_t)16 << 20)              /* bytes: one block */
#define RS_BANDWIDTH ((int64_t)8 << 20)                /* bytes per second per connection */

struct side {
    const char *redundancy;
    int shards;             /* documents a block becomes: K + M */
    int64_t ram_doc;        /* bytes of the emulator's RAM place */
    char en[32], gn[32];    /* the names of its emulator and gateway */
    struct bench_server emu, gw;
    double put[RS_ROUNDS];  /* MiB/s */
    long rss_kb;            /* peak RssAnon during its measured PUTs */
    double cpu_gw, cpu_emu; /* CPU seconds of its gateway and emulator over its measured PUTs */
    long log_from;          /* bytes of the gateway's log before the PUTs */
    long warnings;          /* lines of the gateway's log since that warn or tell of an error */
    char first_warning[200];
    double get[RS_READS];   /* seconds */
    int errors;
};

static void side_init(struct side *s, const char *redundancy, int shards, int64_t ram_doc, const char *tag)
{
    memset(s, 0, sizeof(*s));
    s->redundancy = redundancy;
    s->shards = shards;
    s->ram_doc = ram_doc;
    snprintf(s->en, sizeof(s->en), "%s-emu", tag);
    snprintf(s->gn, sizeof(s->gn), "%s-gw", tag);
}

/* Starts the side's emulator (unless it runs) and its gateway; extra: NULL-terminated flags after --redundancy. */
static int side_start(const struct bench_env *env, struct side *s, const struct bench_emu_opts *eo,
                      const char *const *extra)
{
    const char *flags[16];
    size_t n = 0;
    flags[n++] = "--redundancy";
    flags[n++] = s->redundancy;
    for (size_t i = 0; extra[i] != NULL && n < ARRAY_SIZE(flags) - 1; i++)
        flags[n++] = extra[i];
    flags[n] = NULL;
    struct bench_gw_opts go = {.nbots = 1, .nchats = RS_CHATS, .block_size = RS_BLOCK, .extra = flags};
    if (s->emu.proc.pid == 0 && bench_start_emulator(env, &s->emu, s->en, eo) != 0)
        return -1;
    if (bench_start_gateway(env, &s->gw, s->gn, &s->emu, &go) != 0)
        return -1;
    return 0;
}

static void side_stop(const struct bench_env *env, struct side *s)
{
    bench_stop(&s->gw.proc);
    bench_stop_emulator(env, &s->emu, s->en);
}

static const char *const unlimited[] = {"--rate-pair-per-min", "1000000", "--rate-bot-per-sec", "1000000", NULL};

/* The large PUT, the sides taking turns. 0, or -1 when a side did not start. */
static int put_runs(const struct bench_env *env, struct side sd[2], int *ram)
{
    uint64_t warm = env->large < (256u << 20) ? env->large : (256u << 20);
    uint64_t bs = (uint64_t)RS_BLOCK;
    int64_t blocks = (int64_t)((warm + bs - 1) / bs + RS_ROUNDS * ((env->large + bs - 1) / bs) + 4);
    int64_t need[2];
    for (int i = 0; i < 2; i++)
        need[i] = blocks * sd[i].shards * sd[i].ram_doc;
    *ram = env->ram_dir[0] && bench_ram_room(need[0] + need[1]);
    for (int i = 0; i < 2; i++) {
        struct bench_emu_opts eo = {
            .nchats = RS_CHATS, .ram_bytes = *ram ? need[i] : 0, .ram_doc = *ram ? sd[i].ram_doc : 0};
        if (side_start(env, &sd[i], &eo, unlimited) != 0 || bench_make_bucket(env, &sd[i].gw) != 0)
            return -1;
        sd[i].log_from = bench_file_size(sd[i].gw.log);
    }
    struct bench_run r;
    for (int i = 0; i < 2; i++) {
        bench_progress("stripes: warm-up PUT %llu MiB, --redundancy %s", (unsigned long long)(warm >> 20),
                       sd[i].redundancy);
        bench_request(env, &r, &sd[i].gw, BENCH_PUT, 1, 1, "/bench/warmup-", warm);
        sd[i].errors += (int)r.errors;
        bench_run_release(&r);
    }
    for (int round = 0; round < RS_ROUNDS; round++)
        for (int i = 0; i < 2; i++) {
            char path[64];
            snprintf(path, sizeof(path), "/bench/large-%d-", round);
            bench_progress("stripes: PUT %llu MiB, one stream, --redundancy %s (%d of %d)",
                           (unsigned long long)(env->large >> 20), sd[i].redundancy, round + 1, RS_ROUNDS);
            sync(); /* the other side's dirty pages are written now, not during this PUT */
            bench_rss_watch(sd[i].gw.proc.pid);
            double g0 = bench_cpu_secs(sd[i].gw.proc.pid), e0 = bench_cpu_secs(sd[i].emu.proc.pid);
            bench_request(env, &r, &sd[i].gw, BENCH_PUT, 1, 1, path, env->large);
            sd[i].cpu_gw += bench_cpu_secs(sd[i].gw.proc.pid) - g0;
            sd[i].cpu_emu += bench_cpu_secs(sd[i].emu.proc.pid) - e0;
            sd[i].put[round] = bench_mibs(&r);
            if (bench_rss_peak_kb() > sd[i].rss_kb)
                sd[i].rss_kb = bench_rss_peak_kb();
            bench_rss_watch(0);
            sd[i].errors += (int)r.errors;
            bench_run_release(&r);
        }
    for (int i = 0; i < 2; i++)
        sd[i].warnings = bench_log_warnings(sd[i].gw.log, sd[i].log_from, sd[i].first_warning,
                                            sizeof(sd[i].first_warning));
    return 0;
}

/* RS_READS objects of RS_READ_SIZE PUT, both gateways restarted, each object read once, the sides taking turns. */
static int read_runs(const struct bench_env *env, struct side sd[2])
{
    static const char *const flags[] = {"--cache-size", "0", "--stray-probe-max", "0", "--scrub-interval", "0",
                                        "--rate-pair-per-min", "1000000", "--rate-bot-per-sec", "1000000", NULL};
    struct bench_emu_opts eo = {.nchats = RS_CHATS, .bandwidth = RS_BANDWIDTH};
    struct bench_run r;
    char path[64];
    for (int i = 0; i < 2; i++) {
        if (side_start(env, &sd[i], &eo, flags) != 0 || bench_make_bucket(env, &sd[i].gw) != 0)
            return -1;
        bench_progress("stripes: PUT %d x %llu MiB, --redundancy %s, emulator --bandwidth %lld MiB/s", RS_READS,
                       (unsigned long long)(RS_READ_SIZE >> 20), sd[i].redundancy, (long long)(RS_BANDWIDTH >> 20));
        for (int k = 0; k < RS_READS; k++) {
            snprintf(path, sizeof(path), "/bench/read-%d-", k);
            bench_request(env, &r, &sd[i].gw, BENCH_PUT, 1, 1, path, RS_READ_SIZE);
            sd[i].errors += (int)r.errors;
            bench_run_release(&r);
        }
        /* A fresh process: no block in memory; --cache-size 0: none on the disk. */
        bench_stop(&sd[i].gw.proc);
        if (side_start(env, &sd[i], &eo, flags) != 0)
            return -1;
    }
    for (int k = 0; k < RS_READS; k++)
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof(path), "/bench/read-%d-", k);
            bench_progress("stripes: GET %s0 uncached, --redundancy %s", path, sd[i].redundancy);
            bench_request(env, &r, &sd[i].gw, BENCH_GET, 1, 1, path, RS_READ_SIZE);
            sd[i].get[k] = r.errors ? 0 : r.secs;
            sd[i].errors += (int)r.errors;
            bench_run_release(&r);
        }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double best(const double *v, size_t n)
{
    double b = 0;
    for (size_t i = 0; i < n; i++)
        b = v[i] > b ? v[i] : b;
    return b;
}

static double median(const double *v, size_t n)
{
    double tmp[RS_READS > RS_ROUNDS ? RS_READS : RS_ROUNDS];
    memcpy(tmp, v, n * sizeof(*v));
    qsort(tmp, n, sizeof(*tmp), cmp_double);
    return tmp[n / 2];
}

static void put_rows(const struct bench_env *env, const struct side sd[2], int ram)
{
    double b0 = best(sd[0].put, RS_ROUNDS), b1 = best(sd[1].put, RS_ROUNDS);
    bench_row("  PUT %4llu MiB 1 stream   none %6.0f MiB/s  rs:4+2 %6.0f MiB/s  (best of %d, sides taking turns: "
              "none",
              (unsigned long long)(env->large >> 20), b0, b1, RS_ROUNDS);
    for (int k = 0; k < RS_ROUNDS; k++)
        bench_row(" %.0f", sd[0].put[k]);
    bench_row(", rs:4+2");
    for (int k = 0; k < RS_ROUNDS; k++)
        bench_row(" %.0f", sd[1].put[k]);
    bench_row(") | %.2fx none (target >= 0.8)\n", bench_ratio(b1, b0));
    /* CPU seconds per GiB stored: where the time goes when the ratio is low (the machine may be shared). */
    double gib = (double)env->large * RS_ROUNDS / (1024.0 * BENCH_MIB);
    bench_row("    CPU s per GiB: gateway none %.2f, rs:4+2 %.2f; emulator none %.2f, rs:4+2 %.2f | peak RssAnon: none "
              "%.0f MiB, rs:4+2 %.0f MiB | documents in %s\n",
              sd[0].cpu_gw / gib, sd[1].cpu_gw / gib, sd[0].cpu_emu / gib, sd[1].cpu_emu / gib,
              (double)sd[0].rss_kb / 1024.0, (double)sd[1].rss_kb / 1024.0,
              ram ? "RAM stores on /dev/shm" : "the emulators' disk stores (no room in /dev/shm for both)");
    for (int i = 0; i < 2; i++)
        if (sd[i].warnings > 0)
            bench_row("    %s: the gateway logged %ld warnings or errors during the PUTs; the first: %.160s\n",
                      sd[i].redundancy, sd[i].warnings, sd[i].first_warning);
}

static void read_rows(const struct side sd[2])
{
    double t0 = median(sd[0].get, RS_READS), t1 = median(sd[1].get, RS_READS);
    double mb = (double)RS_READ_SIZE / BENCH_MIB;
    double bw = (double)RS_BANDWIDTH / BENCH_MIB;
    bench_row("  GET %3.0f MiB uncached    none %6.1f MiB/s  rs:4+2 %6.1f MiB/s  (%.2f s and %.2f s, median of %d) | "
              "%.2fx none (target >= 2)\n",
              mb, t0 > 0 ? mb / t0 : 0, t1 > 0 ? mb / t1 : 0, t0, t1, RS_READS, bench_ratio(t0, t1));
    bench_row("    --cache-size 0, gateways restarted after the PUTs; emulator --bandwidth %.0f MiB/s per connection: "
              "one %.0f MiB document %.1f s, one of 4 shards %.2f s\n",
              bw, mb, mb / bw, mb / 4.0 / bw);
}

void bench_redundancy_suite(const struct bench_env *env)
{
    struct side sd[2];
    int ram = 0;
    side_init(&sd[0], "none", 1, BENCH_RAM_DOC, "rs-put-none");
    side_init(&sd[1], "rs:4+2", 6, RS_SHARD_DOC, "rs-put-42");
    bench_row("\nstripes: rs:4+2 against --redundancy none in this run (each side its own emulator, %d chats, 1 bot, "
              "no rate limits, %lld MiB blocks)\n",
              RS_CHATS, (long long)(RS_BLOCK >> 20));
    int rc = put_runs(env, sd, &ram);
    for (int i = 0; i < 2; i++)
        side_stop(env, &sd[i]);
    if (rc == 0)
        put_rows(env, sd, ram);
    else
        bench_row("  PUT: could not start\n");
    int errors = sd[0].errors + sd[1].errors;

    side_init(&sd[0], "none", 1, 0, "rs-get-none");
    side_init(&sd[1], "rs:4+2", 6, 0, "rs-get-42");
    rc = read_runs(env, sd);
    for (int i = 0; i < 2; i++)
        side_stop(env, &sd[i]);
    if (rc == 0)
        read_rows(sd);
    else
        bench_row("  GET: could not start\n");
    errors += sd[0].errors + sd[1].errors;
    if (errors)
        bench_row("  (%d requests failed)\n", errors);
}

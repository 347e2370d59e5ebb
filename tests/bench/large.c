/* large.c — tgs3-bench's main table: tgs3 against nginx, every row the median of env->rounds rounds.
 *
 * A round starts its servers afresh and stops them after (their data goes),
 * nginx first, then tgs3 (an emulator without Telegram's limits and a gateway
 * with its own rate model lifted), so that whatever slows the shared machine
 * for a while falls on both sides alike, and memory and disk hold one
 * round's worth at most:
 *   tgs3: the cold PUT (BENCH_COLD bytes, one stream, the first request
 *     after the bucket on the fresh pair) and the warm one (the same again);
 *     nginx: one unmeasured warm-up PUT of the same size. Either way a
 *     server's first large write, which pays for memory touched for the
 *     first time, is behind it before the sections;
 *   a section per size of env->sizes, after sync(): PUT one object in one
 *     stream (tgs3: then one more with its payload hash signed), four in four streams (the gateway's peak RssAnon meanwhile),
 *     GET the first object (the first read of it), GET it again, GET the
 *     four in four streams (first reads too);
 *   the small objects: env->n_small 4 KiB PUTs at concurrency 16 and 64, then
 *     (tgs3: once every pack is in Telegram) GET them, GET them again, HEAD.
 * Each figure keeps every round's value (bench_stat); table.c prints the
 * medians. The bodies come from env->bodies (bench.c sizes it once).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/large.h"

static const char *const unlimited[] = {"--rate-pair-per-min", "1000000", "--rate-bot-per-sec", "1000000", NULL};

/* One large measurement (conc requests side by side): MiB/s; failures counted into F. */
static double large_one(const struct bench_env *env, const struct bench_server *s, enum bench_method m, int conc,
                        const char *path, uint64_t size, struct side_figs *F)
{
    struct bench_run r;
    bench_request(env, &r, s, m, conc, (size_t)conc, path, size);
    double v = bench_mibs(&r);
    F->errors += (int)r.errors;
    bench_run_release(&r);
    return v;
}

/* emu: tgs3's emulator (its CPU is counted during the signed PUT), NULL for nginx. */
static void large_section(const struct bench_env *env, const struct bench_server *s, const struct bench_server *emu,
                          int si, struct side_figs *F, const char *who, int watch_rss)
{
    uint64_t size = env->sizes[si];
    struct large_fig *L = &F->L[si];
    char p1[64], p4[64];
    snprintf(p1, sizeof(p1), "/bench/large%llu-1-", (unsigned long long)(size >> 20));
    snprintf(p4, sizeof(p4), "/bench/large%llu-4-", (unsigned long long)(size >> 20));
    unsigned long long mib = (unsigned long long)(size >> 20);
    /* Dirty pages left by the previous writes are flushed now, not during these measurements. */
    sync();
    bench_progress("%s: PUT %llu MiB, one stream", who, mib);
    bench_stat_add(&L->put1, large_one(env, s, BENCH_PUT, 1, p1, size, F));
    if (s->t.access_key != NULL) { /* tgs3: the same with the payload's SHA-256 signed, which it verifies */
        struct bench_run r;
        char ps[64];
        snprintf(ps, sizeof(ps), "/bench/large%llu-signed", (unsigned long long)(size >> 20));
        bench_progress("%s: PUT %llu MiB, one stream, signed payload", who, mib);
        double g0 = bench_cpu_secs(s->proc.pid), e0 = emu ? bench_cpu_secs(emu->proc.pid) : 0, a0 = bench_busy_secs();
        bench_put_signed(env, &r, s, ps, size);
        double gib = (double)size / (double)((uint64_t)1 << 30);
        if (r.errors == 0 && emu != NULL && g0 >= 0 && e0 >= 0 && a0 >= 0) {
            bench_stat_add(&L->cpu_gw, (bench_cpu_secs(s->proc.pid) - g0) / gib);
            bench_stat_add(&L->cpu_emu, (bench_cpu_secs(emu->proc.pid) - e0) / gib);
            bench_stat_add(&L->cpu_all, (bench_busy_secs() - a0) / gib);
        }
        bench_stat_add(&L->put1s, bench_mibs(&r));
        F->errors += (int)r.errors;
        bench_run_release(&r);
    }
    bench_progress("%s: PUT 4 x %llu MiB, four streams", who, mib);
    if (watch_rss && bench_rss_peak_kb() > F->rss_all) /* the peak so far, before the reset */
        F->rss_all = bench_rss_peak_kb();
    bench_rss_reset();
    bench_stat_add(&L->put4, large_one(env, s, BENCH_PUT, 4, p4, size, F));
    if (watch_rss && bench_rss_peak_kb() > L->rss_put4)
        L->rss_put4 = bench_rss_peak_kb();
    bench_progress("%s: GET %llu MiB, one stream, first read", who, mib);
    bench_stat_add(&L->get1, large_one(env, s, BENCH_GET, 1, p1, size, F));
    bench_progress("%s: GET %llu MiB, one stream, again", who, mib);
    bench_stat_add(&L->again, large_one(env, s, BENCH_GET, 1, p1, size, F));
    bench_progress("%s: GET 4 x %llu MiB, four streams", who, mib);
    bench_stat_add(&L->get4, large_one(env, s, BENCH_GET, 4, p4, size, F));
}

static void small_add(struct small_fig *f, const struct bench_run *r, struct side_figs *F)
{
    bench_stat_add(&f->ops, bench_ops(r));
    bench_stat_add(&f->p50, bench_pct(r, 0.5) * 1e3);
    bench_stat_add(&f->p99, bench_pct(r, 0.99) * 1e3);
    F->errors += (int)r->errors;
}

/* gw: the server is tgs3, whose small objects are packed: the GETs start once
 * every pack is in Telegram (posted --pack-delay after its first object), so
 * "first read" reads them from Telegram and "again" from the block cache. */
static void small_section(const struct bench_env *env, const struct bench_server *s, struct side_figs *F,
                          const char *who, int gw)
{
    static const char *const paths[2] = {"/bench/s16-", "/bench/s64-"};
    static const enum bench_method methods[SM_KINDS] = {BENCH_PUT, BENCH_GET, BENCH_GET, BENCH_HEAD};
    static const char *const what[SM_KINDS] = {"PUT 4 KiB", "GET 4 KiB", "GET 4 KiB again", "HEAD"};
    for (int k = 0; k < SM_KINDS; k++) {
        if (k == SM_GET && gw) {
            bench_progress("%s: waiting until every pack is in Telegram", who);
            double t0 = bench_now();
            while (bench_unposted(s) != 0 && bench_now() - t0 < 60) {
                struct timespec ts = {0, 100 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        for (int c = 0; c < 2; c++) {
            struct bench_run r;
            bench_progress("%s: %s x %zu at concurrency %d", who, what[k], env->n_small, bench_conc[c]);
            bench_request(env, &r, s, methods[k], bench_conc[c], env->n_small, paths[c],
                          methods[k] == BENCH_HEAD ? 0 : 4096);
            small_add(&F->S[k][c], &r, F);
            bench_run_release(&r);
        }
    }
}

/* The server's files go after each round: the disk holds one round's worth. */
static void remove_sub(const struct bench_server *s, const char *sub)
{
    char dir[4400];
    snprintf(dir, sizeof(dir), "%s/%s", s->dir, sub);
    if (access(dir, F_OK) == 0 && bench_remove_tree(dir) != 0)
        bench_progress("could not remove %s", dir);
}

static int nginx_round(const struct bench_env *env, struct side_figs *F, int round)
{
    struct bench_server ngx;
    char name[32];
    memset(&ngx, 0, sizeof(ngx));
    snprintf(name, sizeof(name), "nginx-%d", round + 1);
    if (bench_start_nginx(env, &ngx, name) != 0)
        return -1;
    sync();
    bench_progress("nginx: warm-up PUT %llu MiB (round %d of %d)", (unsigned long long)(BENCH_COLD >> 20), round + 1,
                   env->rounds);
    large_one(env, &ngx, BENCH_PUT, 1, "/bench/warmup-", BENCH_COLD, F);
    for (int si = 0; si < env->nsizes; si++)
        large_section(env, &ngx, NULL, si, F, "nginx", 0);
    small_section(env, &ngx, F, "nginx", 0);
    bench_stop(&ngx.proc);
    remove_sub(&ngx, "www");
    return 0;
}

static int tgs3_round(const struct bench_env *env, const struct bench_ceil *c, struct side_figs *F, int round)
{
    struct bench_server emu, gw;
    char en[32], gn[32];
    int rc = -1;
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    snprintf(en, sizeof(en), "emu-%d", round + 1);
    snprintf(gn, sizeof(gn), "gw-%d", round + 1);
    struct bench_emu_opts eo = {.nchats = 1, .ram_bytes = c->ram_bytes};
    struct bench_gw_opts go = {.nbots = 1, .nchats = 1, .block_size = BENCH_MAIN_BLOCK, .extra = unlimited};
    if (bench_start_emulator(env, &emu, en, &eo) != 0 || bench_start_gateway(env, &gw, gn, &emu, &go) != 0 ||
        bench_make_bucket(env, &gw) != 0)
        goto out;
    bench_rss_watch(gw.proc.pid);
    sync();
    bench_progress("tgs3: cold PUT %llu MiB, the first on a fresh emulator and gateway (round %d of %d)",
                   (unsigned long long)(BENCH_COLD >> 20), round + 1, env->rounds);
    double cold = large_one(env, &gw, BENCH_PUT, 1, "/bench/cold-", BENCH_COLD, F);
    bench_progress("tgs3: warm PUT %llu MiB, the second", (unsigned long long)(BENCH_COLD >> 20));
    double warm = large_one(env, &gw, BENCH_PUT, 1, "/bench/warm-", BENCH_COLD, F);
    bench_stat_add(&F->cold, cold);
    bench_stat_add(&F->warm, warm);
    bench_stat_add(&F->cold_ratio, bench_ratio(cold, warm));
    for (int si = 0; si < env->nsizes; si++)
        large_section(env, &gw, &emu, si, F, "tgs3", 1);
    small_section(env, &gw, F, "tgs3", 1);
    rc = 0;
out:
    if (bench_rss_peak_kb() > F->rss_all) /* the peak since the last reset: the small objects' */
        F->rss_all = bench_rss_peak_kb();
    for (int si = 0; si < env->nsizes; si++)
        if (F->L[si].rss_put4 > F->rss_all)
            F->rss_all = F->L[si].rss_put4;
    bench_rss_watch(0);
    bench_stop(&gw.proc);
    bench_stop_emulator(env, &emu, en);
    remove_sub(&gw, "data");
    remove_sub(&gw, "staging");
    return rc;
}

int64_t bench_main_ram_need(const struct bench_env *env)
{
    uint64_t per = (uint64_t)BENCH_MAIN_BLOCK;
    uint64_t blocks = 2 * ((BENCH_COLD + per - 1) / per) + 8; /* cold and warm PUTs; packs */
    for (int si = 0; si < env->nsizes; si++)
        blocks += 5 * ((env->sizes[si] + per - 1) / per); /* one object, then four */
    return (int64_t)blocks * BENCH_RAM_DOC;
}

int bench_main_suite(const struct bench_env *env, const struct bench_ceil *c)
{
    static struct side_figs ngx, gw; /* zero */
    for (int round = 0; round < env->rounds; round++) {
        if (nginx_round(env, &ngx, round) != 0 || tgs3_round(env, c, &gw, round) != 0)
            return -1;
    }
    bench_main_rows(env, c, &ngx, &gw);
    return 0;
}

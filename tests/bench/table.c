/* table.c — tgs3-bench's main table: the ceilings, the cold row, a section per large size, the small objects.
 *
 * Every throughput is the median of the rounds (large.c) with its spread,
 * (max - min) / median, beside the same figure of nginx or the ceiling it is
 * held against; latencies are the medians of the rounds' percentiles. The
 * targets are printed next to the ratios, with whether this run met them.
 */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/bench/large.h"

#define TARGET_PUT_MD5 0.9    /* PUT 1 stream / MD5 */
#define TARGET_GET_NGINX 0.6  /* GET 1 stream first, GET 4 streams / nginx */
#define TARGET_SMALL_PUT 0.5  /* 4 KiB PUT at c=16 / nginx */
#define TARGET_COLD 0.8       /* cold / warm PUT */
#define TARGET_RSS_MIB 256.0  /* peak RssAnon during four concurrent 1 GiB PUTs */

/* Judged on the ratio as printed (two decimals), so that "0.60 (target >= 0.6)" never reads "missed". */
static const char *met(double v, double target)
{
    return floor(v * 100.0 + 0.5) >= floor(target * 100.0 + 0.5) ? "met" : "missed";
}

static void header_rows(const struct bench_env *env, const struct bench_ceil *c)
{
    char host[256] = "", sizes[128] = "";
    size_t at = 0;
    gethostname(host, sizeof(host) - 1);
    for (int si = 0; si < env->nsizes && at < sizeof(sizes); si++)
        at += (size_t)snprintf(sizes + at, sizeof(sizes) - at, "%s%llu MiB", si ? " and " : "",
                               (unsigned long long)(env->sizes[si] >> 20));
    bench_row("\ntgs3 bench  %s, %ld CPUs, block %lld MiB, large objects %s, %zu small requests per row; each row the "
              "median of %d rounds (fresh servers each) ±spread = (max - min) / median\n",
              host, sysconf(_SC_NPROCESSORS_ONLN), (long long)(BENCH_MAIN_BLOCK >> 20), sizes, env->n_small,
              env->rounds);
    bench_row("ceilings (one core, OpenSSL EVP): MD5 %.0f MiB/s, SHA-256 %.0f MiB/s, AES-256-GCM %.0f MiB/s; HTTP: "
              "nginx 1.22 (one worker, sendfile, WebDAV PUT)\n",
              c->md5, c->sha, c->gcm);
    if (c->ram_bytes > 0)
        bench_row("emulator's store: RAM, %lld places of 16 MiB + 64 KiB on /dev/shm taken at its start, each round "
                  "(Telegram's storage out of the way)\n",
                  (long long)(c->ram_bytes / BENCH_RAM_DOC));
    else
        bench_row("emulator's store: the disk (no room in /dev/shm); O_DIRECT in %lld MiB blocks: write %.0f MiB/s, "
                  "read %.0f MiB/s (%d blocks at a time)\n",
                  (long long)(BENCH_MAIN_BLOCK >> 20), c->disk_wr, c->disk_rd, BENCH_DISK_READERS);
}

static void cold_rows(const struct side_figs *gw)
{
    char a[48], b[48], r[48];
    double ratio = bench_median(&gw->cold_ratio);
    bench_row("\ncold start: a fresh emulator + gateway each round, nothing stored before (MiB/s)\n");
    bench_row("  PUT %llu MiB 1 stream   first (cold) %s  second (warm) %s | cold/warm %s (median of the rounds' "
              "ratios; target >= %.1f: %s)\n",
              (unsigned long long)(BENCH_COLD >> 20), bench_stat_str(&gw->cold, 6, 0, "", a, sizeof(a)),
              bench_stat_str(&gw->warm, 6, 0, "", b, sizeof(b)), bench_stat_str(&gw->cold_ratio, 4, 2, "", r, sizeof(r)),
              TARGET_COLD, met(ratio, TARGET_COLD));
}

static void put_row(const char *what, const struct bench_stat *g, const struct bench_stat *n, double md5)
{
    char a[48], b[48];
    bench_row("  %-30s %s | MD5 %6.0f  nginx PUT %s | %.2fx MD5, %.2fx nginx\n", what,
              bench_stat_str(g, 7, 0, "", a, sizeof(a)), md5, bench_stat_str(n, 6, 0, "", b, sizeof(b)),
              bench_ratio(bench_median(g), md5), bench_ratio(bench_median(g), bench_median(n)));
}

/* disk: the disk's read rate when the emulator's store is there (else 0). */
static void get_row(const char *what, const struct bench_stat *g, const struct bench_stat *n, double disk)
{
    char a[48], b[48];
    double v = bench_median(g);
    bench_row("  %-30s %s | nginx GET %s            | %.2fx nginx", what, bench_stat_str(g, 7, 0, "", a, sizeof(a)),
              bench_stat_str(n, 6, 0, "", b, sizeof(b)), bench_ratio(v, bench_median(n)));
    if (disk > 0)
        bench_row(", %.2fx the disk's %.0f", bench_ratio(v, disk), disk);
    bench_row("\n");
}

/* Where the signed PUT's CPU goes, against what 0.9x MD5 allows: its hashes alone (MD5 for the ETag,
 * SHA-256 for the signed payload and again for the dedup HMAC, AES-GCM) at the single-core
 * ceilings, and every core of the machine for the time 0.9x MD5 would take. */
static void signed_cpu_row(const struct large_fig *g, const struct bench_ceil *c)
{
    if (g->cpu_all.n == 0 || c->md5 <= 0 || c->sha <= 0 || c->gcm <= 0)
        return;
    double floor_s = 1024.0 / c->md5 + 2 * 1024.0 / c->sha + 1024.0 / c->gcm;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double budget = (double)ncpu * 1024.0 / (TARGET_PUT_MD5 * c->md5);
    bench_row("    its CPU s per GiB: gateway %.2f, emulator %.2f, whole machine %.2f (the client too) | its hashes "
              "alone at the ceilings %.2f (MD5 + 2 x SHA-256 + AES-GCM); %.1fx MD5 allows %ld CPUs x %.2f s = %.2f\n",
              bench_median(&g->cpu_gw), bench_median(&g->cpu_emu), bench_median(&g->cpu_all), floor_s,
              TARGET_PUT_MD5, ncpu, budget / (double)ncpu, budget);
}

static void size_rows(const struct bench_env *env, int si, const struct bench_ceil *c, const struct side_figs *ngx,
                      const struct side_figs *gw)
{
    const struct large_fig *g = &gw->L[si], *n = &ngx->L[si];
    uint64_t size = env->sizes[si];
    double disk = c->ram_bytes > 0 ? 0 : c->disk_rd;
    char title[64];
    snprintf(title, sizeof(title), "large objects of %llu MiB (MiB/s)", (unsigned long long)(size >> 20));
    bench_row("\n%-36stgs3       | baseline                            | ratio\n", title);
    put_row("PUT 1 stream", &g->put1, &n->put1, c->md5);
    put_row("PUT 1 stream, signed payload", &g->put1s, &n->put1, c->md5);
    signed_cpu_row(g, c);
    put_row("PUT 4 streams", &g->put4, &n->put4, c->md5);
    get_row("GET 1 stream (first)", &g->get1, &n->get1, disk);
    get_row("GET 1 stream (again)", &g->again, &n->again, disk);
    get_row("GET 4 streams", &g->get4, &n->get4, disk);
    double put = bench_ratio(bench_median(&g->put1s), c->md5);
    double first = bench_ratio(bench_median(&g->get1), bench_median(&n->get1));
    double again = bench_ratio(bench_median(&g->again), bench_median(&n->again));
    double four = bench_ratio(bench_median(&g->get4), bench_median(&n->get4));
    double small = bench_ratio(bench_median(&gw->S[SM_PUT][0].ops), bench_median(&ngx->S[SM_PUT][0].ops));
    bench_row("  ratios: PUT 1 stream signed / MD5 %.2f (target >= %.1f: %s); GET / nginx GET: 1 stream first %.2f (target "
              ">= %.1f: %s), again %.2f, 4 streams %.2f (target >= %.1f: %s); 4 KiB PUT c=16 / nginx %.2f (target >= "
              "%.1f: %s)\n",
              put, TARGET_PUT_MD5, met(put, TARGET_PUT_MD5), first, TARGET_GET_NGINX, met(first, TARGET_GET_NGINX),
              again, four, TARGET_GET_NGINX, met(four, TARGET_GET_NGINX), small, TARGET_SMALL_PUT,
              met(small, TARGET_SMALL_PUT));
    double rss = (double)g->rss_put4 / 1024.0;
    bench_row("  gateway peak RssAnon during 4 concurrent %llu MiB PUTs: %.0f MiB (the highest of the rounds)",
              (unsigned long long)(size >> 20), rss);
    if (size == (uint64_t)1 << 30)
        bench_row("; target < %.0f MiB: %s", TARGET_RSS_MIB, rss < TARGET_RSS_MIB ? "met" : "missed");
    bench_row("\n");
}

static void small_row(const char *what, int c, const struct small_fig *g, const struct small_fig *n)
{
    char a[48], b[48];
    bench_row("  %-17s c=%-3d %s p50 %6.2f  p99 %7.2f ms | %s p50 %5.2f  p99 %6.2f | %5.2fx\n", what, c,
              bench_stat_str(&g->ops, 7, 0, "/s", a, sizeof(a)), bench_median(&g->p50), bench_median(&g->p99),
              bench_stat_str(&n->ops, 7, 0, "/s", b, sizeof(b)), bench_median(&n->p50), bench_median(&n->p99),
              bench_ratio(bench_median(&g->ops), bench_median(&n->ops)));
}

void bench_main_rows(const struct bench_env *env, const struct bench_ceil *c, const struct side_figs *ngx,
                     const struct side_figs *gw)
{
    static const char *const what[SM_KINDS] = {"PUT", "GET (first read)", "GET (again)", "HEAD"};
    header_rows(env, c);
    cold_rows(gw);
    for (int si = 0; si < env->nsizes; si++)
        size_rows(env, si, c, ngx, gw);
    bench_row("\nsmall objects (4 KiB)         tgs3 ops/s, latency (medians)             | nginx                        "
              "          | ratio\n");
    for (int k = 0; k < SM_KINDS; k++)
        for (int i = 0; i < 2; i++)
            small_row(what[k], bench_conc[i], &gw->S[k][i], &ngx->S[k][i]);
    bench_row("\ngateway peak RssAnon over every round: %.0f MiB\n", (double)gw->rss_all / 1024.0);
    if (gw->errors || ngx->errors)
        bench_row("(failed requests: tgs3 %d, nginx %d)\n", gw->errors, ngx->errors);
}

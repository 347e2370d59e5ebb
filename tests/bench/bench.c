/* bench.c — tgs3-bench: `make bench` prints one table of throughput figures, each with its baseline.
 *
 * One run measures, on this machine and in this order:
 *   ceilings: single-core MD5, SHA-256 and AES-256-GCM (OpenSSL EVP, in process);
 *   where the emulator keeps its documents: in RAM it takes at its start
 *     (--store-ram on /dev/shm) when there is room, so that neither the
 *     disk nor the kernel's price for fresh memory stands in for Telegram;
 *     else on the disk, whose O_DIRECT rates are measured;
 *   nginx from Debian (one worker, static GET, WebDAV PUT) as the HTTP ceiling;
 *   tgs3 against tgs3-botapi --local without limits (blocks uploaded by
 *     file:// from a staging dir): large objects (1 GiB, TGS3_BENCH_LARGE to
 *     change) one stream and four, after sync() and one unmeasured 256 MiB
 *     warm-up PUT (nginx gets the same), the GET "again" row the median of
 *     three reads, 4 KiB objects at concurrency 16 and 64 (read once their
 *     packs are in Telegram: first from there, then from the cache);
 *   stripes (redundancy.c): a large PUT with rs:4+2 over 6 chats against
 *     --redundancy none, and an uncached 16 MiB read at a per-connection
 *     bandwidth, 4+2 against none;
 *   Telegram-shaped (telegram.c): the emulator's limits on, large uploads
 *     against the rate model (4 bots x 2 chats; 4 bots x 6 chats with none
 *     and with rs:4+2), 1 bot x 1 chat for 10,000 4 KiB objects;
 *   x-amz-checksum (checksums.c): each CRC's rate in process, and a large
 *     PUT with a CRC64NVME and with a CRC32C checksum against one without;
 *   the gateway's peak RssAnon (/proc/PID/status, sampled every 100 ms).
 * It never fails on a time: it prints numbers. Exit status 1 only when
 * something could not be started at all.
 *
 * Environment: TGS3_BENCH_LARGE (size, default 1G), TGS3_BENCH_SMALL (4 KiB
 * requests per measurement, default 4000), TGS3_BENCH_TG_SMALL (objects of
 * the 1 bot x 1 chat run, default 10000), TGS3_BENCH_TELEGRAM=0 skips the
 * Telegram-shaped runs, TGS3_BENCH_ONLY=checksums runs only the checksum
 * rows (after the ceilings), TGS3_BENCH_KEEP=1 keeps the
 * temporary directory, BUILD (binaries, default build).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "common/common.h"
#include "tests/bench/bench.h"

static char root[4096]; /* temporary directory of this run */
static uint64_t large;   /* bytes */
static size_t n_small;   /* requests per small measurement */
static size_t n_tg_small;
static const int64_t block_size = 16 << 20;
static struct bench_env env;

/* ---- nginx ---------------------------------------------------------------------- */

static int start_nginx(struct bench_server *s)
{
    char conf[4400], docroot[4300], cmd[9000];
    snprintf(s->dir, sizeof(s->dir), "%s/nginx", root);
    snprintf(docroot, sizeof(docroot), "%s/www", s->dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/tmp' '%s/www/bench'", s->dir, s->dir);
    if (system(cmd) != 0)
        return -1;
    s->port = bench_free_port();
    snprintf(conf, sizeof(conf), "%s/nginx.conf", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/nginx.log", s->dir);
    FILE *fp = fopen(conf, "w");
    if (fp == NULL)
        return -1;
    fprintf(fp,
            "worker_processes 1;\n"
            "daemon off;\nmaster_process off;\n"
            "pid %s/nginx.pid;\nerror_log %s warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  access_log off;\n"
            "  sendfile on; tcp_nopush on; tcp_nodelay on;\n"
            "  keepalive_requests 1000000; keepalive_timeout 300s;\n"
            "  client_body_temp_path %s/tmp/body; proxy_temp_path %s/tmp/proxy;\n"
            "  fastcgi_temp_path %s/tmp/fcgi; uwsgi_temp_path %s/tmp/uwsgi; scgi_temp_path %s/tmp/scgi;\n"
            "  client_max_body_size 0; client_body_buffer_size 64k;\n"
            "  server {\n"
            "    listen 127.0.0.1:%d;\n"
            "    root %s;\n"
            "    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw; }\n"
            "  }\n"
            "}\n",
            s->dir, s->log, s->dir, s->dir, s->dir, s->dir, s->dir, s->port, docroot);
    fclose(fp);
    char *argv[] = {(char *)"/usr/sbin/nginx", (char *)"-p", s->dir, (char *)"-c", conf, (char *)"-e", s->log, NULL};
    if (bench_spawn(&s->proc, "nginx", argv, s->log) != 0)
        return -1;
    snprintf(s->host_port, sizeof(s->host_port), "127.0.0.1:%d", s->port);
    s->t.host_port = s->host_port;
    return bench_wait_port(&s->proc, s->port, 20, s->log);
}

/* The RAM stores of the emulators (docs.c): a directory on tmpfs, or none
 * (ram_dir empty: documents on the disk); the run without limits takes
 * ram_bytes there, if there is room. */
static char ram_dir[4096];
static int64_t ram_bytes;

/* Sizes the RAM store of the run without limits: a place for every 16 MiB
 * block the large and small runs store (warm-up, one object, four, packs),
 * if there is room (bench_ram_room); else its documents go to the disk. */
static void plan_ram(void)
{
    uint64_t warm = large < (256u << 20) ? large : (256u << 20);
    uint64_t per = (uint64_t)block_size;
    uint64_t blocks = (warm + per - 1) / per + 5 * ((large + per - 1) / per) + 8;
    int64_t need = (int64_t)blocks * BENCH_RAM_DOC;
    snprintf(ram_dir, sizeof(ram_dir), "/dev/shm/tgs3-bench.XXXXXX");
    if (access("/dev/shm", W_OK) != 0 || mkdtemp(ram_dir) == NULL) {
        ram_dir[0] = '\0';
        return;
    }
    if (bench_ram_room(need))
        ram_bytes = need;
}

/* ---- workloads ------------------------------------------------------------------- */

struct large_res {
    double put1, put4, get1, get4, get1_warm;
    int errors;
};

struct small_res {
    struct bench_run put[2], get[2], get_warm[2], head[2];
};

static const int conc[2] = {16, 64};

#define AGAIN_RUNS 3 /* reads of the "again" row; the median is shown */

static int cmp_rate(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void large_suite(const struct bench_server *s, struct large_res *L, const char *who, long *rss_put4_kb)
{
    struct bench_run r;
    memset(L, 0, sizeof(*L));
    /* Dirty pages left by the previous server's writes are flushed now, not
     * during this one's measurements. */
    sync();
    /* Warm-up, not measured: a server's first large write after start pays
     * for memory it touches for the first time (on this VM its page-cache
     * writes cost about twice as much as later ones). */
    uint64_t warm = large < (256u << 20) ? large : (256u << 20);
    bench_progress("%s: warm-up PUT %llu MiB", who, (unsigned long long)(warm >> 20));
    bench_request(&env, &r, s, BENCH_PUT, 1, 1, "/bench/warmup-", warm);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    bench_progress("%s: PUT %llu MiB, one stream", who, (unsigned long long)(large >> 20));
    bench_request(&env, &r, s, BENCH_PUT, 1, 1, "/bench/large-1-", large);
    L->put1 = bench_mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    bench_progress("%s: PUT 4 x %llu MiB, four streams", who, (unsigned long long)(large >> 20));
    bench_rss_reset();
    bench_request(&env, &r, s, BENCH_PUT, 4, 4, "/bench/large-4-", large);
    if (rss_put4_kb)
        *rss_put4_kb = bench_rss_peak_kb();
    L->put4 = bench_mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    bench_progress("%s: GET one stream", who);
    bench_request(&env, &r, s, BENCH_GET, 1, 1, "/bench/large-1-", large);
    L->get1 = bench_mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    /* Read again AGAIN_RUNS times, the median kept: on a shared VM one read now
     * and then runs at twice or half the rate of its neighbours, for either server. */
    double again[AGAIN_RUNS];
    for (int i = 0; i < AGAIN_RUNS; i++) {
        bench_progress("%s: GET one stream again (%d of %d)", who, i + 1, AGAIN_RUNS);
        bench_request(&env, &r, s, BENCH_GET, 1, 1, "/bench/large-1-", large);
        again[i] = bench_mibs(&r);
        L->errors += (int)r.errors;
        bench_run_release(&r);
    }
    qsort(again, AGAIN_RUNS, sizeof(again[0]), cmp_rate);
    L->get1_warm = again[AGAIN_RUNS / 2];
    bench_progress("%s: GET four streams", who);
    bench_request(&env, &r, s, BENCH_GET, 4, 4, "/bench/large-4-", large);
    L->get4 = bench_mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
}

/* gw: the server is tgs3, whose small objects are packed: the GETs start once
 * every pack is in Telegram (posted --pack-delay after its first object), so
 * "first read" reads them from Telegram and "again" from the block cache. */
static void small_suite(const struct bench_server *s, struct small_res *S, const char *who, int gw)
{
    static const char *const paths[2] = {"/bench/s16-", "/bench/s64-"};
    for (int c = 0; c < 2; c++) {
        bench_progress("%s: PUT %zu x 4 KiB at concurrency %d", who, n_small, conc[c]);
        bench_request(&env, &S->put[c], s, BENCH_PUT, conc[c], n_small, paths[c], 4096);
    }
    if (gw) {
        bench_progress("%s: waiting until every pack is in Telegram", who);
        double t0 = bench_now();
        while (bench_unposted(s) != 0 && bench_now() - t0 < 60) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (int c = 0; c < 2; c++) {
        bench_progress("%s: GET 4 KiB at concurrency %d", who, conc[c]);
        bench_request(&env, &S->get[c], s, BENCH_GET, conc[c], n_small, paths[c], 4096);
    }
    for (int c = 0; c < 2; c++) {
        bench_progress("%s: GET 4 KiB again at concurrency %d", who, conc[c]);
        bench_request(&env, &S->get_warm[c], s, BENCH_GET, conc[c], n_small, paths[c], 4096);
    }
    for (int c = 0; c < 2; c++) {
        bench_progress("%s: HEAD at concurrency %d", who, conc[c]);
        bench_request(&env, &S->head[c], s, BENCH_HEAD, conc[c], n_small, paths[c], 0);
    }
}

static void small_release(struct small_res *S)
{
    for (int c = 0; c < 2; c++) {
        bench_run_release(&S->put[c]);
        bench_run_release(&S->get[c]);
        bench_run_release(&S->get_warm[c]);
        bench_run_release(&S->head[c]);
    }
}

/* A large GET row; disk: the disk's read rate when the emulator's store is there (else 0). */
static void get_row(const char *what, double v, double ngx, double disk)
{
    if (disk > 0)
        bench_row("  %-23s %9.0f  | nginx GET %6.0f  disk %6.0f | %.2fx nginx, %.2fx disk\n", what, v, ngx, disk,
            bench_ratio(v, ngx), bench_ratio(v, disk));
    else
        bench_row("  %-23s %9.0f  | nginx GET %6.0f             | %.2fx\n", what, v, ngx, bench_ratio(v, ngx));
}

static void small_row(const char *what, int c, const struct bench_run *g, const struct bench_run *n)
{
    bench_row("  %-26s c=%-3d %9.0f/s  p50 %6.2f ms  p99 %7.2f ms | nginx %7.0f/s  p50 %5.2f  p99 %6.2f | %5.2fx%s\n",
        what, c, bench_ops(g), bench_pct(g, 0.5) * 1e3, bench_pct(g, 0.99) * 1e3, bench_ops(n), bench_pct(n, 0.5) * 1e3,
        bench_pct(n, 0.99) * 1e3, bench_ratio(bench_ops(g), bench_ops(n)), g->errors ? "  (errors)" : "");
}

/* ---- main -------------------------------------------------------------------------- */

static void on_exit_cleanup(void)
{
    bench_stop_all();
}

static void on_signal(int sig)
{
    bench_kill_all_now();
    if (ram_dir[0]) /* memory on tmpfs: not left behind */
        (void)bench_remove_tree(ram_dir);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* What the ceilings and the two servers measured, for the first part of the table. */
struct figures {
    double md5, sha, gcm, disk_wr, disk_rd; /* MiB/s */
    struct large_res nL, gL;
    struct small_res nS, gS;
    long rss_put4, rss_all; /* KiB */
};

static void main_rows(const struct figures *f)
{
    const struct large_res *nL = &f->nL, *gL = &f->gL;
    const struct small_res *nS = &f->nS, *gS = &f->gS;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    bench_row("\ntgs3 bench  %s, %ld CPUs, block %lld MiB, large object %llu MiB, %zu small requests per row\n", host,
              sysconf(_SC_NPROCESSORS_ONLN), (long long)(block_size >> 20), (unsigned long long)(large >> 20),
              n_small);
    bench_row("ceilings (one core, OpenSSL EVP): MD5 %.0f MiB/s, SHA-256 %.0f MiB/s, AES-256-GCM %.0f MiB/s; HTTP: "
              "nginx 1.22 (one worker, sendfile, WebDAV PUT)\n",
              f->md5, f->sha, f->gcm);
    if (ram_bytes > 0)
        bench_row("emulator's store: RAM, %lld places of 16 MiB + 64 KiB on /dev/shm taken at its start (Telegram's "
                  "storage out of the way)\n",
                  (long long)(ram_bytes / BENCH_RAM_DOC));
    else
        bench_row("emulator's store: the disk (no room in /dev/shm); O_DIRECT in %lld MiB blocks: write %.0f MiB/s, "
                  "read %.0f MiB/s (%d blocks at a time)\n",
                  (long long)(block_size >> 20), f->disk_wr, f->disk_rd, BENCH_DISK_READERS);
    bench_row("\nlarge objects (MiB/s)           tgs3  | baseline                    | ratio\n");
    bench_row("  PUT 1 stream            %9.0f  | MD5 %6.0f  nginx PUT %6.0f | %.2fx MD5, %.2fx nginx\n", gL->put1,
              f->md5, nL->put1, bench_ratio(gL->put1, f->md5), bench_ratio(gL->put1, nL->put1));
    bench_row("  PUT 4 streams           %9.0f  | MD5 %6.0f  nginx PUT %6.0f | %.2fx MD5, %.2fx nginx\n", gL->put4,
              f->md5, nL->put4, bench_ratio(gL->put4, f->md5), bench_ratio(gL->put4, nL->put4));
    get_row("GET 1 stream (first)", gL->get1, nL->get1, f->disk_rd);
    get_row("GET 1 stream (again)*", gL->get1_warm, nL->get1_warm, f->disk_rd);
    get_row("GET 4 streams", gL->get4, nL->get4, f->disk_rd);
    bench_row("  * the median of %d reads\n", AGAIN_RUNS);
    if (gL->errors || nL->errors)
        bench_row("  (errors: tgs3 %d, nginx %d)\n", gL->errors, nL->errors);
    bench_row(
        "\nsmall objects (4 KiB)              tgs3 ops/s and latency        | nginx                           | ratio\n");
    for (int c = 0; c < 2; c++)
        small_row("PUT", conc[c], &gS->put[c], &nS->put[c]);
    for (int c = 0; c < 2; c++)
        small_row("GET (first read)", conc[c], &gS->get[c], &nS->get[c]);
    for (int c = 0; c < 2; c++)
        small_row("GET (again)", conc[c], &gS->get_warm[c], &nS->get_warm[c]);
    for (int c = 0; c < 2; c++)
        small_row("HEAD", conc[c], &gS->head[c], &nS->head[c]);
    /* Baselines: the better of nginx's two runs of the same read. */
    double ngx_get1 = nL->get1_warm > nL->get1 ? nL->get1_warm : nL->get1;
    double ngx_w = bench_ops(&nS->get_warm[1]), ngx_f = bench_ops(&nS->get[1]);
    double ngx_small = ngx_w > ngx_f ? ngx_w : ngx_f;
    bench_row("\nratios: PUT 1 stream / MD5 %.2f (target >= 0.5); GET 1 stream first %.2f, again %.2f / best "
              "nginx GET (target >= 0.5); 4 KiB GET again / best nginx 4 KiB GET at c=64 %.2f (target >= 0.25)\n",
              bench_ratio(gL->put1, f->md5), bench_ratio(gL->get1, ngx_get1), bench_ratio(gL->get1_warm, ngx_get1),
              bench_ratio(bench_ops(&gS->get_warm[1]), ngx_small));
    bench_row("gateway peak RssAnon: %.0f MiB overall, %.0f MiB during 4 concurrent large PUTs (target < 256 MiB)\n",
              (double)f->rss_all / 1024.0, (double)f->rss_put4 / 1024.0);
}

/* nginx, then tgs3 without Telegram's limits: the figures of main_rows. 0, or -1 when a server did not start. */
static int measure(struct figures *f)
{
    struct bench_server ngx, emu, gw;
    memset(&ngx, 0, sizeof(ngx));
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    if (start_nginx(&ngx) != 0)
        return -1;
    large_suite(&ngx, &f->nL, "nginx", NULL);
    small_suite(&ngx, &f->nS, "nginx", 0);
    bench_stop(&ngx.proc);

    /* Without Telegram's limits the gateway's own rate model is lifted too. */
    static const char *const unlimited[] = {"--rate-pair-per-min", "1000000", "--rate-bot-per-sec", "1000000", NULL};
    struct bench_emu_opts eo = {.nchats = 1, .ram_bytes = ram_bytes};
    struct bench_gw_opts go = {.nbots = 1, .nchats = 1, .block_size = block_size, .extra = unlimited};
    if (bench_start_emulator(&env, &emu, "emu", &eo) != 0 || bench_start_gateway(&env, &gw, "gw", &emu, &go) != 0 ||
        bench_make_bucket(&env, &gw) != 0)
        return -1;
    bench_rss_watch(gw.proc.pid);
    large_suite(&gw, &f->gL, "tgs3", &f->rss_put4);
    small_suite(&gw, &f->gS, "tgs3", 1);
    long rss_small = bench_rss_peak_kb();
    f->rss_all = f->rss_put4 > rss_small ? f->rss_put4 : rss_small;
    bench_rss_watch(0);
    bench_stop(&gw.proc);
    bench_stop_emulator(&env, &emu, "emu");
    return 0;
}

static int env_is(const char *name, const char *value)
{
    const char *e = getenv(name);
    return e != NULL && strcmp(e, value) == 0;
}

int main(void)
{
    const char *e;
    large = 1ull << 30;
    if ((e = getenv("TGS3_BENCH_LARGE")) != NULL && parse_size(e) > 0)
        large = (uint64_t)parse_size(e);
    n_small = 4000;
    if ((e = getenv("TGS3_BENCH_SMALL")) != NULL && atol(e) > 0)
        n_small = (size_t)atol(e);
    n_tg_small = 10000;
    if ((e = getenv("TGS3_BENCH_TG_SMALL")) != NULL && atol(e) > 0)
        n_tg_small = (size_t)atol(e);
    env.bindir = "build";
    if ((e = getenv("BUILD")) != NULL && *e)
        env.bindir = e;
    srand((unsigned)time(NULL));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(on_exit_cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (mkdir("build/bench-tmp", 0755) != 0 && access("build/bench-tmp", F_OK) != 0) {
        perror("tgs3-bench: build/bench-tmp");
        return 1;
    }
    char cwd[2048];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return 1;
    snprintf(root, sizeof(root), "%s/build/bench-tmp/run.XXXXXX", cwd);
    if (mkdtemp(root) == NULL) {
        perror("tgs3-bench: mkdtemp");
        return 1;
    }

    /* Bodies: large enough that no two large PUTs share a block. */
    size_t bodies_len = (size_t)large + (size_t)(64 << 20);
    bench_progress("generating %zu MiB of random bodies", bodies_len >> 20);
    unsigned char *buf = bench_random_data(bodies_len);
    env.root = root;
    env.ram_dir = ram_dir;
    env.bodies = buf;
    env.bodies_len = bodies_len;
    env.large = large;

    static struct figures f; /* zero: small_release is safe whatever ran */
    bench_progress("ceilings: MD5, SHA-256, AES-256-GCM on one core");
    size_t clen = 16u << 20;
    f.md5 = bench_digest_rate(EVP_md5(), buf, clen);
    f.sha = bench_digest_rate(EVP_sha256(), buf, clen);
    f.gcm = bench_gcm_rate(buf, clen);
    plan_ram();
    if (ram_bytes == 0) {
        bench_progress("ceilings: the disk, O_DIRECT, %zu MiB", (size_t)large >> 20);
        bench_disk_rates(buf, (size_t)large, root, (size_t)block_size, &f.disk_wr, &f.disk_rd);
    }
    int only_checksums = env_is("TGS3_BENCH_ONLY", "checksums");
    int rc = only_checksums ? 0 : measure(&f) == 0 ? 0 : 1;
    if (only_checksums) {
        bench_checksum_suite(&env);
    } else if (rc == 0) {
        main_rows(&f);
        bench_checksum_suite(&env);
        bench_redundancy_suite(&env);
        bench_row("\nTelegram-shaped (emulator defaults: 20 posts/min per bot and chat, 30/s per bot)\n");
        if (!env_is("TGS3_BENCH_TELEGRAM", "0"))
            bench_telegram_suite(&env, n_tg_small);
        else
            bench_row("  (skipped: TGS3_BENCH_TELEGRAM=0)\n");
    }

    small_release(&f.nS);
    small_release(&f.gS);
    bench_stop_all();
    free(buf);
    if (rc == 0)
        bench_table_print();
    if (ram_dir[0] && bench_remove_tree(ram_dir) != 0) /* tmpfs: memory, never kept */
        bench_progress("could not remove %s", ram_dir);
    if (!env_is("TGS3_BENCH_KEEP", "1")) {
        if (bench_remove_tree(root) != 0)
            bench_progress("could not remove %s", root);
    } else {
        bench_progress("kept %s", root);
    }
    curl_global_cleanup();
    return rc;
}

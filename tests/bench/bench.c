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
 *   Telegram-shaped: the emulator's limits on, 4 bots x 2 chats for a large
 *     upload against the rate model, 1 bot x 1 chat for 10,000 4 KiB objects;
 *   the gateway's peak RssAnon (/proc/PID/status, sampled every 100 ms).
 * It never fails on a time: it prints numbers. Exit status 1 only when
 * something could not be started at all.
 *
 * Environment: TGS3_BENCH_LARGE (size, default 1G), TGS3_BENCH_SMALL (4 KiB
 * requests per measurement, default 4000), TGS3_BENCH_TG_SMALL (objects of
 * the 1 bot x 1 chat run, default 10000), TGS3_BENCH_TELEGRAM=0 skips the
 * Telegram-shaped runs, TGS3_BENCH_KEEP=1 keeps the
 * temporary directory, BUILD (binaries, default build).
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "common/common.h"
#include "tests/bench/bench.h"

#define AK "TGS3BENCHACCESSKEY01"
#define SK "tgs3BenchSecretKey0123456789abcdefghijklm"
#define CHAT1 "-1001000000001"
#define CHAT2 "-1001000000002"
#define MIB (1024.0 * 1024.0)

static char root[4096]; /* temporary directory of this run */
static const char *bindir = "build";
static uint64_t large;   /* bytes */
static size_t n_small;   /* requests per small measurement */
static size_t n_tg_small;
static int64_t block_size = 16 << 20;

/* ---- output ----------------------------------------------------------------- */

static char table[64 * 1024];
static size_t table_len;

static void row(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void row(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(table + table_len, sizeof(table) - table_len, fmt, ap);
    va_end(ap);
    if (n > 0 && table_len + (size_t)n < sizeof(table))
        table_len += (size_t)n;
    /* Progress on stderr as rows are made; the table itself at the end on stdout. */
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void progress(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "# ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* ---- processes ------------------------------------------------------------------ */

struct server {
    struct bench_proc proc;
    int port;
    char host_port[32];
    char dir[4200];
    char log[4300];
    struct bench_target t;
};

static int start_nginx(struct server *s)
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

/* The emulator's RAM store for the run without limits (docs.c): a directory on
 * tmpfs and the bytes to take there, or none (ram_dir empty: documents on
 * the disk). */
static char ram_dir[4096];
static int64_t ram_bytes;
#define RAM_DOC ((int64_t)(16 << 20) + (64 << 10)) /* one place: a 16 MiB block and its header */

/* ram: keep the documents in the RAM store (when there is one). */
static int start_emulator(struct server *s, const char *name, int limits, int nchats, int ram)
{
    char listen[64], dir[4300], ram_s[32];
    snprintf(s->dir, sizeof(s->dir), "%s/%s", root, name);
    mkdir(s->dir, 0755);
    if (ram && ram_dir[0])
        snprintf(dir, sizeof(dir), "%s/%s", ram_dir, name);
    else
        snprintf(dir, sizeof(dir), "%s/docs", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/botapi.log", s->dir);
    s->port = bench_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    char exe[4200];
    snprintf(exe, sizeof(exe), "%s/tgs3-botapi", bindir);
    char *argv[20];
    int a = 0;
    argv[a++] = exe;
    argv[a++] = (char *)"--listen";
    argv[a++] = listen;
    argv[a++] = (char *)"--dir";
    argv[a++] = dir;
    argv[a++] = (char *)"--local";
    argv[a++] = (char *)"--chat";
    argv[a++] = (char *)CHAT1;
    if (nchats > 1) {
        argv[a++] = (char *)"--chat";
        argv[a++] = (char *)CHAT2;
    }
    if (!limits) { /* the emulator enforces Telegram's limits unless told otherwise */
        argv[a++] = (char *)"--rate-chat";
        argv[a++] = (char *)"0";
        argv[a++] = (char *)"--rate-bot";
        argv[a++] = (char *)"0";
    }
    int wait_s = 30;
    if (ram && ram_dir[0]) {
        snprintf(ram_s, sizeof(ram_s), "%lld", (long long)ram_bytes);
        argv[a++] = (char *)"--store-ram";
        argv[a++] = ram_s;
        wait_s += (int)(ram_bytes >> 30) * 10; /* it touches that memory before it listens */
    }
    argv[a] = NULL;
    if (bench_spawn(&s->proc, "tgs3-botapi", argv, s->log) != 0)
        return -1;
    snprintf(s->host_port, sizeof(s->host_port), "127.0.0.1:%d", s->port);
    return bench_wait_port(&s->proc, s->port, wait_s, s->log);
}

/* Sizes the RAM store: a place for every 16 MiB block the large and small
 * runs store (warm-up, one object, four, packs), if /dev/shm has that room
 * and the machine half of it free; else ram_dir stays empty. */
static void plan_ram(void)
{
    uint64_t warm = large < (256u << 20) ? large : (256u << 20);
    uint64_t per = (uint64_t)block_size;
    uint64_t blocks = (warm + per - 1) / per + 5 * ((large + per - 1) / per) + 8;
    int64_t need = (int64_t)blocks * RAM_DOC;
    struct statvfs vs;
    long avail_kb = bench_mem_available_kb();
    if (statvfs("/dev/shm", &vs) != 0 || (double)vs.f_bavail * (double)vs.f_frsize < 1.25 * (double)need ||
        avail_kb <= 0 || (double)avail_kb * 1024.0 < 2.0 * (double)need)
        return;
    snprintf(ram_dir, sizeof(ram_dir), "/dev/shm/tgs3-bench.XXXXXX");
    if (mkdtemp(ram_dir) == NULL) {
        ram_dir[0] = '\0';
        return;
    }
    ram_bytes = need;
}

/* extra: NULL-terminated extra flags. */
static int start_gateway(struct server *s, const char *name, const struct server *emu, int nbots, int nchats,
                         const char *const *extra)
{
    char listen[64], url[64], exe[4200], data[4300], staging[4300], bs[32];
    char tokens[4][64];
    snprintf(s->dir, sizeof(s->dir), "%s/%s", root, name);
    mkdir(s->dir, 0755);
    snprintf(data, sizeof(data), "%s/data", s->dir);
    snprintf(staging, sizeof(staging), "%s/staging", s->dir);
    mkdir(staging, 0755);
    snprintf(s->log, sizeof(s->log), "%s/tgs3.log", s->dir);
    snprintf(exe, sizeof(exe), "%s/tgs3", bindir);
    snprintf(url, sizeof(url), "http://%s", emu->host_port);
    snprintf(bs, sizeof(bs), "%lld", (long long)block_size);
    s->port = bench_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    char *argv[64];
    int a = 0;
    argv[a++] = exe;
    argv[a++] = (char *)"serve";
    argv[a++] = (char *)"--listen";
    argv[a++] = listen;
    argv[a++] = (char *)"--data-dir";
    argv[a++] = data;
    argv[a++] = (char *)"--botapi-url";
    argv[a++] = url;
    argv[a++] = (char *)"--mode";
    argv[a++] = (char *)"local";
    argv[a++] = (char *)"--staging-dir";
    argv[a++] = staging;
    argv[a++] = (char *)"--block-size";
    argv[a++] = bs;
    argv[a++] = (char *)"--access-key";
    argv[a++] = (char *)AK;
    argv[a++] = (char *)"--secret-key";
    argv[a++] = (char *)SK;
    argv[a++] = (char *)"--admin-listen";
    argv[a++] = (char *)"off";
    argv[a++] = (char *)"--log-level";
    argv[a++] = (char *)"warn";
    argv[a++] = (char *)"--snapshot-interval";
    argv[a++] = (char *)"0";
    argv[a++] = (char *)"--shutdown-grace";
    argv[a++] = (char *)"5";
    for (int i = 0; i < nbots; i++) {
        snprintf(tokens[i], sizeof(tokens[i]), "%d:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", 123456780 + i);
        argv[a++] = (char *)"--bot-token";
        argv[a++] = tokens[i];
    }
    argv[a++] = (char *)"--chat-id";
    argv[a++] = (char *)CHAT1;
    if (nchats > 1) {
        argv[a++] = (char *)"--chat-id";
        argv[a++] = (char *)CHAT2;
    }
    for (size_t i = 0; extra && extra[i] && a < 62; i++)
        argv[a++] = (char *)extra[i];
    argv[a] = NULL;
    if (bench_spawn(&s->proc, "tgs3", argv, s->log) != 0)
        return -1;
    snprintf(s->host_port, sizeof(s->host_port), "127.0.0.1:%d", s->port);
    s->t.host_port = s->host_port;
    s->t.access_key = AK;
    s->t.secret_key = SK;
    return bench_wait_port(&s->proc, s->port, 60, s->log);
}

/* ---- workloads ------------------------------------------------------------------- */

static const unsigned char *bodies;
static size_t bodies_len;

static void run(struct bench_run *r, const struct server *s, enum bench_method m, int conc, size_t n,
                const char *path, uint64_t size)
{
    memset(r, 0, sizeof(*r));
    r->t = &s->t;
    r->method = m;
    r->concurrency = conc;
    r->n = n;
    r->path = path;
    r->size = size;
    r->data = bodies;
    r->data_len = bodies_len;
    r->shift = (size_t)rand();
    bench_http_run(r);
    if (r->errors > 0)
        progress("%s %s%s on %s: %zu of %zu failed (first: %ld)", m == BENCH_PUT ? "PUT" : m == BENCH_GET ? "GET" : "HEAD",
                 path, r->single ? "" : "N", s->host_port, r->errors, r->done, r->first_error);
}

static double mibs(const struct bench_run *r)
{
    return r->secs > 0 ? (double)(r->bytes) / MIB / r->secs : 0;
}

static double ops(const struct bench_run *r)
{
    return r->secs > 0 ? (double)(r->done - r->errors) / r->secs : 0;
}

static int make_bucket(const struct server *s)
{
    struct bench_run r;
    memset(&r, 0, sizeof(r));
    r.t = &s->t;
    r.method = BENCH_PUT;
    r.concurrency = 1;
    r.n = 1;
    r.path = "/bench";
    r.single = 1;
    r.data = bodies;
    r.data_len = bodies_len;
    bench_http_run(&r);
    int rc = r.errors ? -1 : 0;
    if (rc)
        progress("cannot create bucket on %s (status %ld)", s->host_port, r.first_error);
    bench_run_release(&r);
    return rc;
}

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

static void large_suite(const struct server *s, struct large_res *L, const char *who, long *rss_put4_kb)
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
    progress("%s: warm-up PUT %llu MiB", who, (unsigned long long)(warm >> 20));
    run(&r, s, BENCH_PUT, 1, 1, "/bench/warmup-", warm);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    progress("%s: PUT %llu MiB, one stream", who, (unsigned long long)(large >> 20));
    run(&r, s, BENCH_PUT, 1, 1, "/bench/large-1-", large);
    L->put1 = mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    progress("%s: PUT 4 x %llu MiB, four streams", who, (unsigned long long)(large >> 20));
    bench_rss_reset();
    run(&r, s, BENCH_PUT, 4, 4, "/bench/large-4-", large);
    if (rss_put4_kb)
        *rss_put4_kb = bench_rss_peak_kb();
    L->put4 = mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    progress("%s: GET one stream", who);
    run(&r, s, BENCH_GET, 1, 1, "/bench/large-1-", large);
    L->get1 = mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
    /* Read again AGAIN_RUNS times, the median kept: on a shared VM one read now
     * and then runs at twice or half the rate of its neighbours, for either server. */
    double again[AGAIN_RUNS];
    for (int i = 0; i < AGAIN_RUNS; i++) {
        progress("%s: GET one stream again (%d of %d)", who, i + 1, AGAIN_RUNS);
        run(&r, s, BENCH_GET, 1, 1, "/bench/large-1-", large);
        again[i] = mibs(&r);
        L->errors += (int)r.errors;
        bench_run_release(&r);
    }
    qsort(again, AGAIN_RUNS, sizeof(again[0]), cmp_rate);
    L->get1_warm = again[AGAIN_RUNS / 2];
    progress("%s: GET four streams", who);
    run(&r, s, BENCH_GET, 4, 4, "/bench/large-4-", large);
    L->get4 = mibs(&r);
    L->errors += (int)r.errors;
    bench_run_release(&r);
}

static long unposted(const struct server *gw);

/* gw: the server is tgs3, whose small objects are packed: the GETs start once
 * every pack is in Telegram (posted --pack-delay after its first object), so
 * "first read" reads them from Telegram and "again" from the block cache. */
static void small_suite(const struct server *s, struct small_res *S, const char *who, int gw)
{
    static const char *const paths[2] = {"/bench/s16-", "/bench/s64-"};
    for (int c = 0; c < 2; c++) {
        progress("%s: PUT %zu x 4 KiB at concurrency %d", who, n_small, conc[c]);
        run(&S->put[c], s, BENCH_PUT, conc[c], n_small, paths[c], 4096);
    }
    if (gw) {
        progress("%s: waiting until every pack is in Telegram", who);
        double t0 = bench_now();
        while (unposted(s) != 0 && bench_now() - t0 < 60) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (int c = 0; c < 2; c++) {
        progress("%s: GET 4 KiB at concurrency %d", who, conc[c]);
        run(&S->get[c], s, BENCH_GET, conc[c], n_small, paths[c], 4096);
    }
    for (int c = 0; c < 2; c++) {
        progress("%s: GET 4 KiB again at concurrency %d", who, conc[c]);
        run(&S->get_warm[c], s, BENCH_GET, conc[c], n_small, paths[c], 4096);
    }
    for (int c = 0; c < 2; c++) {
        progress("%s: HEAD at concurrency %d", who, conc[c]);
        run(&S->head[c], s, BENCH_HEAD, conc[c], n_small, paths[c], 0);
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
        row("  %-23s %9.0f  | nginx GET %6.0f  disk %6.0f | %.2fx nginx, %.2fx disk\n", what, v, ngx, disk,
            ratio(v, ngx), ratio(v, disk));
    else
        row("  %-23s %9.0f  | nginx GET %6.0f             | %.2fx\n", what, v, ngx, ratio(v, ngx));
}

static void small_row(const char *what, int c, const struct bench_run *g, const struct bench_run *n)
{
    row("  %-26s c=%-3d %9.0f/s  p50 %6.2f ms  p99 %7.2f ms | nginx %7.0f/s  p50 %5.2f  p99 %6.2f | %5.2fx%s\n",
        what, c, ops(g), bench_pct(g, 0.5) * 1e3, bench_pct(g, 0.99) * 1e3, ops(n), bench_pct(n, 0.5) * 1e3,
        bench_pct(n, 0.99) * 1e3, ratio(ops(g), ops(n)), g->errors ? "  (errors)" : "");
}

/* ---- Telegram-shaped runs --------------------------------------------------------- */


/* Blocks of the gateway's index not yet in Telegram (packs in the spool), or -1. */
static long unposted(const struct server *gw)
{
    char path[4400];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long n = -1;
    snprintf(path, sizeof(path), "%s/data/index.db", gw->dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM blocks WHERE chat_id = 0 AND refcount > 0", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static size_t on_stats(char *p, size_t sz, size_t n, void *ud)
{
    struct dbuf *b = ud;
    return dbuf_add(b, p, sz * n) == 0 ? sz * n : 0;
}

/* Messages the emulator holds in CHAT1, or -1. */
/* The emulator's /_emulator/stats, parsed (NULL when unreachable). */
static json_t *emu_stats(const struct server *emu)
{
    char url[128];
    struct dbuf b;
    json_t *j = NULL;
    dbuf_init(&b, 1 << 20);
    snprintf(url, sizeof(url), "http://%s/_emulator/stats", emu->host_port);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_stats);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(e) == CURLE_OK)
        j = json_loadb(b.ptr, b.len, 0, NULL);
    curl_easy_cleanup(e);
    dbuf_release(&b);
    return j;
}

static long emu_messages(const struct server *emu)
{
    long n = -1;
    json_t *j = emu_stats(emu);
    json_t *m = json_object_get(json_object_get(json_object_get(j, "chats"), CHAT1), "messages");
    if (json_is_integer(m))
        n = (long)json_integer_value(m);
    json_decref(j);
    return n;
}

/* Over the (bot, chat) pairs: how many posted, the most posts one saw in a 60 s window, 429s sent. */
static void emu_pairs(const struct server *emu, long *used, long *peak, long *too_many)
{
    *used = *peak = *too_many = 0;
    json_t *j = emu_stats(emu);
    json_t *pairs = json_object_get(j, "pairs");
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p)
    {
        long posts = (long)json_integer_value(json_object_get(p, "posts"));
        long pk = (long)json_integer_value(json_object_get(p, "peak_60s"));
        *used += posts > 0;
        *peak = pk > *peak ? pk : *peak;
        *too_many += (long)json_integer_value(json_object_get(p, "too_many"));
    }
    json_decref(j);
}

/* Telegram-shaped large upload: 4 MiB blocks, so the 1 GiB object is 256 posts and the rate
 * (8 pairs x 20 posts/min), not this machine, bounds the time. The model is the README's
 * steady throughput, posts / (pairs x posts per minute); Telegram's sliding window would also
 * allow a first burst of 20 posts per pair, which the gateway's pacing does not spend. */
#define TG_BLOCK (4 << 20)
static void tg_large(void)
{
    struct server emu, gw;
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    int64_t saved_block = block_size;
    block_size = TG_BLOCK;
    if (start_emulator(&emu, "tg-large-emu", 1, 2, 0) != 0 || start_gateway(&gw, "tg-large-gw", &emu, 4, 2, NULL) != 0 ||
        make_bucket(&gw) != 0) {
        row("  telegram 4 bots x 2 chats: could not start\n");
        goto out;
    }
    progress("telegram-shaped: PUT %llu MiB through 4 bots x 2 chats in %d MiB blocks, emulator limits on",
             (unsigned long long)(large >> 20), TG_BLOCK >> 20);
    struct bench_run r;
    run(&r, &gw, BENCH_PUT, 1, 1, "/bench/tg-large", large);
    double blocks = (double)((large + (uint64_t)TG_BLOCK - 1) / (uint64_t)TG_BLOCK);
    double model = blocks / (8.0 * 20.0 / 60.0);
    row("  upload %4llu MiB, 4 bots x 2 chats, %d MiB blocks  %8.1f s  (%6.1f MiB/s) | model: %.0f posts / (8 pairs x "
        "20/min) = %.1f s (%.1f MiB/s) | %5.2fx of model time%s\n",
        (unsigned long long)(large >> 20), TG_BLOCK >> 20, r.secs, mibs(&r), blocks, model,
        (double)large / MIB / model, ratio(r.secs, model), r.errors ? "  (errors)" : "");
    long used, peak, too_many;
    emu_pairs(&emu, &used, &peak, &too_many);
    row("    emulator: %ld of 8 pairs posted, busiest 60 s window of a pair %ld posts (limit 20), %ld answers 429\n",
        used, peak, too_many);
    bench_run_release(&r);
out:
    block_size = saved_block;
    bench_stop(&gw.proc);
    bench_stop(&emu.proc);
}

static void tg_small(void)
{
    struct server emu, gw;
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    static const char *const extra[] = {"--max-schedule-wait", "30", NULL};
    if (start_emulator(&emu, "tg-small-emu", 1, 1, 0) != 0 || start_gateway(&gw, "tg-small-gw", &emu, 1, 1, extra) != 0 ||
        make_bucket(&gw) != 0) {
        row("  telegram 1 bot x 1 chat: could not start\n");
        goto out;
    }
    progress("telegram-shaped: PUT %zu x 4 KiB through 1 bot x 1 chat, emulator limits on (new requests stop after 120 s)",
             n_tg_small);
    struct bench_run p, g;
    memset(&p, 0, sizeof(p));
    p.t = &gw.t;
    p.method = BENCH_PUT;
    p.concurrency = 64;
    p.n = n_tg_small;
    p.path = "/bench/tg-small-";
    p.size = 4096;
    p.data = bodies;
    p.data_len = bodies_len;
    p.deadline_s = 120;
    bench_http_run(&p);
    size_t stored = p.done - p.errors;
    double t0 = bench_now();
    progress("telegram-shaped: waiting until every pack is in Telegram");
    long left;
    while ((left = unposted(&gw)) != 0 && bench_now() - t0 < 300) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double posted = p.secs + (bench_now() - t0);
    long docs = emu_messages(&emu);
    progress("telegram-shaped: GET them back");
    run(&g, &gw, BENCH_GET, 64, stored == p.n ? p.n : 0, "/bench/tg-small-", 4096);
    double model = (double)n_tg_small / 20.0 * 60.0;
    row("  %zu x 4 KiB, 1 bot x 1 chat      PUT %zu acknowledged in %.1f s, all in Telegram after %.1f s (%ld "
        "documents%s), GET %zu in %.1f s: stored and read back in %.1f s | unpacked model: %zu posts / 20 per min = "
        "%.0f s | target < 120 s\n",
        n_tg_small, stored, p.secs, posted, docs, left != 0 ? ", some still unposted" : "", g.done - g.errors,
        g.secs, posted + g.secs, n_tg_small, model);
    bench_run_release(&p);
    bench_run_release(&g);
out:
    bench_stop(&gw.proc);
    bench_stop(&emu.proc);
}

/* ---- main -------------------------------------------------------------------------- */

static void on_exit_cleanup(void)
{
    bench_stop_all();
}

/* rm -rf dir; 0 when it went. Async-signal-safe (fork, exec, waitpid). */
static int remove_tree(const char *dir)
{
    int st = 0;
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void on_signal(int sig)
{
    bench_kill_all_now();
    if (ram_dir[0]) /* memory on tmpfs: not left behind */
        (void)remove_tree(ram_dir);
    signal(sig, SIG_DFL);
    raise(sig);
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
    if ((e = getenv("BUILD")) != NULL && *e)
        bindir = e;
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
    bodies_len = (size_t)large + (size_t)(64 << 20);
    progress("generating %zu MiB of random bodies", bodies_len >> 20);
    unsigned char *buf = bench_random_data(bodies_len);
    bodies = buf;

    progress("ceilings: MD5, SHA-256, AES-256-GCM on one core");
    size_t clen = 16u << 20;
    double md5 = bench_digest_rate(EVP_md5(), buf, clen);
    double sha = bench_digest_rate(EVP_sha256(), buf, clen);
    double gcm = bench_gcm_rate(buf, clen);
    double disk_wr = 0, disk_rd = 0;
    plan_ram();
    if (!ram_dir[0]) {
        progress("ceilings: the disk, O_DIRECT, %zu MiB", (size_t)large >> 20);
        bench_disk_rates(buf, (size_t)large, root, (size_t)block_size, &disk_wr, &disk_rd);
    }

    struct server ngx, emu, gw;
    memset(&ngx, 0, sizeof(ngx));
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    struct large_res nL, gL;
    struct small_res nS, gS;
    memset(&nS, 0, sizeof(nS));
    memset(&gS, 0, sizeof(gS));
    long rss_put4 = 0, rss_all = 0;
    int rc = 0;

    if (start_nginx(&ngx) != 0) {
        rc = 1;
        goto out;
    }
    large_suite(&ngx, &nL, "nginx", NULL);
    small_suite(&ngx, &nS, "nginx", 0);
    bench_stop(&ngx.proc);

    /* Without Telegram's limits the gateway's own rate model is lifted too. */
    static const char *const unlimited[] = {"--rate-pair-per-min", "1000000", "--rate-bot-per-sec", "1000000", NULL};
    if (start_emulator(&emu, "emu", 0, 1, 1) != 0 || start_gateway(&gw, "gw", &emu, 1, 1, unlimited) != 0 ||
        make_bucket(&gw) != 0) {
        rc = 1;
        goto out;
    }
    bench_rss_watch(gw.proc.pid);
    large_suite(&gw, &gL, "tgs3", &rss_put4);
    small_suite(&gw, &gS, "tgs3", 1);
    long rss_small = bench_rss_peak_kb();
    rss_all = rss_put4 > rss_small ? rss_put4 : rss_small;
    bench_rss_watch(0);
    bench_stop(&gw.proc);
    bench_stop(&emu.proc);

    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    row("\ntgs3 bench  %s, %ld CPUs, block %lld MiB, large object %llu MiB, %zu small requests per row\n", host,
        sysconf(_SC_NPROCESSORS_ONLN), (long long)(block_size >> 20), (unsigned long long)(large >> 20), n_small);
    row("ceilings (one core, OpenSSL EVP): MD5 %.0f MiB/s, SHA-256 %.0f MiB/s, AES-256-GCM %.0f MiB/s; HTTP: nginx "
        "1.22 (one worker, sendfile, WebDAV PUT)\n",
        md5, sha, gcm);
    if (ram_dir[0])
        row("emulator's store: RAM, %lld places of 16 MiB + 64 KiB on /dev/shm taken at its start (Telegram's "
            "storage out of the way)\n",
            (long long)(ram_bytes / RAM_DOC));
    else
        row("emulator's store: the disk (no room in /dev/shm); O_DIRECT in %lld MiB blocks: write %.0f MiB/s, read "
            "%.0f MiB/s (%d blocks at a time)\n",
            (long long)(block_size >> 20), disk_wr, disk_rd, BENCH_DISK_READERS);
    row("\nlarge objects (MiB/s)           tgs3  | baseline                    | ratio\n");
    row("  PUT 1 stream            %9.0f  | MD5 %6.0f  nginx PUT %6.0f | %.2fx MD5, %.2fx nginx\n", gL.put1, md5,
        nL.put1, ratio(gL.put1, md5), ratio(gL.put1, nL.put1));
    row("  PUT 4 streams           %9.0f  | MD5 %6.0f  nginx PUT %6.0f | %.2fx MD5, %.2fx nginx\n", gL.put4, md5,
        nL.put4, ratio(gL.put4, md5), ratio(gL.put4, nL.put4));
    get_row("GET 1 stream (first)", gL.get1, nL.get1, disk_rd);
    get_row("GET 1 stream (again)*", gL.get1_warm, nL.get1_warm, disk_rd);
    get_row("GET 4 streams", gL.get4, nL.get4, disk_rd);
    row("  * the median of %d reads\n", AGAIN_RUNS);
    if (gL.errors || nL.errors)
        row("  (errors: tgs3 %d, nginx %d)\n", gL.errors, nL.errors);
    row("\nsmall objects (4 KiB)              tgs3 ops/s and latency        | nginx                           | ratio\n");
    for (int c = 0; c < 2; c++)
        small_row("PUT", conc[c], &gS.put[c], &nS.put[c]);
    for (int c = 0; c < 2; c++)
        small_row("GET (first read)", conc[c], &gS.get[c], &nS.get[c]);
    for (int c = 0; c < 2; c++)
        small_row("GET (again)", conc[c], &gS.get_warm[c], &nS.get_warm[c]);
    for (int c = 0; c < 2; c++)
        small_row("HEAD", conc[c], &gS.head[c], &nS.head[c]);
    /* Baselines: the better of nginx's two runs of the same read. */
    double ngx_get1 = nL.get1_warm > nL.get1 ? nL.get1_warm : nL.get1;
    double ngx_small = ops(&nS.get_warm[1]) > ops(&nS.get[1]) ? ops(&nS.get_warm[1]) : ops(&nS.get[1]);
    row("\nratios: PUT 1 stream / MD5 %.2f (target >= 0.5); GET 1 stream first %.2f, again %.2f / best "
        "nginx GET (target >= 0.5); 4 KiB GET again / best nginx 4 KiB GET at c=64 %.2f (target >= 0.25)\n",
        ratio(gL.put1, md5), ratio(gL.get1, ngx_get1), ratio(gL.get1_warm, ngx_get1),
        ratio(ops(&gS.get_warm[1]), ngx_small));
    row("gateway peak RssAnon: %.0f MiB overall, %.0f MiB during 4 concurrent large PUTs (target < 256 MiB)\n",
        (double)rss_all / 1024.0, (double)rss_put4 / 1024.0);

    row("\nTelegram-shaped (emulator defaults: 20 posts/min per bot and chat, 30/s per bot)\n");
    if (getenv("TGS3_BENCH_TELEGRAM") == NULL || strcmp(getenv("TGS3_BENCH_TELEGRAM"), "0") != 0) {
        tg_large();
        tg_small();
    } else {
        row("  (skipped: TGS3_BENCH_TELEGRAM=0)\n");
    }

out:
    small_release(&nS);
    small_release(&gS);
    bench_stop_all();
    free(buf);
    if (rc == 0) {
        printf("%s", table);
        fflush(stdout);
    }
    if (ram_dir[0] && remove_tree(ram_dir) != 0) /* tmpfs: memory, never kept */
        progress("could not remove %s", ram_dir);
    if (getenv("TGS3_BENCH_KEEP") == NULL || strcmp(getenv("TGS3_BENCH_KEEP"), "1") != 0) {
        if (remove_tree(root) != 0)
            progress("could not remove %s", root);
    } else {
        progress("kept %s", root);
    }
    curl_global_cleanup();
    return rc;
}

/* bench.c — tgs3-bench: `make bench` prints one table of throughput figures, each with its baseline.
 *
 * One run measures, on this machine and in this order:
 *   ceilings: single-core MD5, SHA-256 and AES-256-GCM (OpenSSL EVP, in process);
 *   where the emulator keeps its documents: in RAM it takes at its start
 *     (--store-ram on /dev/shm) when there is room, so that neither the
 *     disk nor the kernel's price for fresh memory stands in for Telegram;
 *     else on the disk, whose O_DIRECT rates are measured;
 *   the main table (large.c, table.c), in rounds (3; the rows are medians
 *     with their spread), each nginx from Debian (one worker, static GET,
 *     WebDAV PUT; the HTTP ceiling) then tgs3 against tgs3-botapi --local
 *     without limits (blocks uploaded by file:// from a staging dir), every
 *     server started afresh: tgs3's cold PUT of 256 MiB (the first request
 *     on a fresh pair) and a warm one after it; a section per large size
 *     (256 MiB and 1 GiB): PUT one stream and four, GET first read, again,
 *     four streams; 4 KiB objects at concurrency 16 and 64 (read once their
 *     packs are in Telegram: first from there, then from the cache); the
 *     gateway's peak RssAnon (/proc/PID/status, sampled every 100 ms);
 *   x-amz-checksum (checksums.c): each CRC's rate in process, and a large
 *     PUT with a CRC64NVME and with a CRC32C checksum against one without;
 *   stripes (redundancy.c): a large PUT with rs:4+2 over 6 chats against
 *     --redundancy none, and an uncached 16 MiB read at a per-connection
 *     bandwidth, 4+2 against none;
 *   Telegram-shaped (telegram.c): the emulator's limits on, uploads against
 *     the windowed model (200 MiB in 1 MiB blocks and 1 GiB in 4 MiB blocks
 *     through 4 bots x 2 chats, 320 MiB through 1 bot x 1 chat at the
 *     gateway's default block size), the stripes (4 bots x 6 chats, none and
 *     rs:4+2), 1 bot x 1 chat for 10,000 4 KiB objects.
 * "Large" outside the main table (checksums, stripes) is the largest size.
 * It never fails on a time: it prints numbers. Exit status 1 only when
 * something could not be started at all.
 *
 * Environment: TGS3_BENCH_SIZES (the main table's large objects, a comma-
 * separated list of sizes, default 256M,1G), TGS3_BENCH_LARGE (one size
 * instead of the list), TGS3_BENCH_ROUNDS (rounds of the main table, 1 to 5,
 * default 3), TGS3_BENCH_SMALL (4 KiB requests per measurement, default
 * 4000), TGS3_BENCH_TG_SMALL (objects of the 1 bot x 1 chat run, default
 * 10000), TGS3_BENCH_TELEGRAM=0 skips the Telegram-shaped runs,
 * TGS3_BENCH_ONLY=checksums runs only the checksum rows (after the
 * ceilings), TGS3_BENCH_KEEP=1 keeps the temporary directory, BUILD
 * (binaries, default build).
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
static size_t n_tg_small;
static struct bench_env env;

/* The RAM stores of the emulators (docs.c): a directory on tmpfs, or none
 * (ram_dir empty: documents on the disk). */
static char ram_dir[4096];

/* Sizes the RAM store of the main table's emulator: a place for every 16 MiB
 * block a round stores (bench_main_ram_need), if there is room
 * (bench_ram_room); else its documents go to the disk. */
static int64_t plan_ram(void)
{
    int64_t need = bench_main_ram_need(&env);
    snprintf(ram_dir, sizeof(ram_dir), "/dev/shm/tgs3-bench.XXXXXX");
    if (access("/dev/shm", W_OK) != 0 || mkdtemp(ram_dir) == NULL) {
        ram_dir[0] = '\0';
        return 0;
    }
    return bench_ram_room(need) ? need : 0;
}

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

static int env_is(const char *name, const char *value)
{
    const char *e = getenv(name);
    return e != NULL && strcmp(e, value) == 0;
}

/* The main table's sizes: TGS3_BENCH_LARGE (one), else TGS3_BENCH_SIZES (a list), else 256M,1G. 0, or -1 (printed). */
static int parse_sizes(void)
{
    const char *e = getenv("TGS3_BENCH_LARGE");
    char list[256];
    if (e != NULL && *e) {
        if (getenv("TGS3_BENCH_SIZES") != NULL)
            bench_progress("TGS3_BENCH_LARGE=%s overrides TGS3_BENCH_SIZES", e);
        snprintf(list, sizeof(list), "%s", e);
    } else if ((e = getenv("TGS3_BENCH_SIZES")) != NULL && *e) {
        snprintf(list, sizeof(list), "%s", e);
    } else {
        snprintf(list, sizeof(list), "256M,1G");
    }
    env.nsizes = 0;
    env.large = 0;
    char *save = NULL;
    for (char *t = strtok_r(list, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
        int64_t v = parse_size(t);
        if (v < (1 << 20) || env.nsizes == BENCH_MAX_SIZES) {
            fprintf(stderr, "tgs3-bench: sizes: '%s' is not a size of 1M or more, or more than %d sizes\n", t,
                    BENCH_MAX_SIZES);
            return -1;
        }
        env.sizes[env.nsizes++] = (uint64_t)v;
        if ((uint64_t)v > env.large)
            env.large = (uint64_t)v;
    }
    return env.nsizes > 0 ? 0 : -1;
}

int main(void)
{
    const char *e;
    if (parse_sizes() != 0)
        return 1;
    env.rounds = 3;
    if ((e = getenv("TGS3_BENCH_ROUNDS")) != NULL && atoi(e) >= 1 && atoi(e) <= BENCH_MAX_ROUNDS)
        env.rounds = atoi(e);
    env.n_small = 4000;
    if ((e = getenv("TGS3_BENCH_SMALL")) != NULL && atol(e) > 0)
        env.n_small = (size_t)atol(e);
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

    /* Bodies: large enough that no two large PUTs share a block. One buffer
     * for every run, read circularly by PUTs larger than it (the Telegram
     * rows' fixed sizes): its length is no multiple of a block, so a block's
     * bytes come back only after far more blocks than any object has. */
    uint64_t biggest = env.large > BENCH_COLD ? env.large : BENCH_COLD;
    size_t bodies_len = (size_t)biggest + (size_t)(64 << 20) + 4093;
    bench_progress("generating %zu MiB of random bodies", bodies_len >> 20);
    unsigned char *buf = bench_random_data(bodies_len);
    env.root = root;
    env.ram_dir = ram_dir;
    env.bodies = buf;
    env.bodies_len = bodies_len;

    struct bench_ceil c;
    memset(&c, 0, sizeof(c));
    bench_progress("ceilings: MD5, SHA-256, AES-256-GCM on one core");
    size_t clen = 16u << 20;
    c.md5 = bench_digest_rate(EVP_md5(), buf, clen);
    c.sha = bench_digest_rate(EVP_sha256(), buf, clen);
    c.gcm = bench_gcm_rate(buf, clen);
    c.ram_bytes = plan_ram();
    if (c.ram_bytes == 0) {
        bench_progress("ceilings: the disk, O_DIRECT, %zu MiB", (size_t)env.large >> 20);
        bench_disk_rates(buf, (size_t)env.large, root, (size_t)(16 << 20), &c.disk_wr, &c.disk_rd);
    }
    int only_checksums = env_is("TGS3_BENCH_ONLY", "checksums");
    int rc = only_checksums ? 0 : bench_main_suite(&env, &c) == 0 ? 0 : 1;
    if (only_checksums) {
        bench_checksum_suite(&env);
    } else if (rc == 0) {
        bench_checksum_suite(&env);
        bench_redundancy_suite(&env);
        bench_row("\nTelegram-shaped (emulator defaults: 20 posts/min per bot and chat, 30/s per bot)\n");
        if (!env_is("TGS3_BENCH_TELEGRAM", "0"))
            bench_telegram_suite(&env, n_tg_small);
        else
            bench_row("  (skipped: TGS3_BENCH_TELEGRAM=0)\n");
    }

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

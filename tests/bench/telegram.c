/* telegram.c — tgs3-bench's Telegram-shaped runs: the emulator's rate limits on, uploads against the rate model.
 *
 * Telegram, not this machine, bounds an upload: about 20 posts a minute per
 * (bot, chat) pair. The model is the README's steady throughput: the
 * documents of the object over pairs × 20 per minute, so pairs × 20/min ×
 * document size, × K/(K+M) with stripes (a block of K documents' worth of
 * data is K + M posts): the long run. Telegram's sliding window also allows a
 * first burst of 20 posts per pair, which the gateway spends: the windowed
 * model is each pair's share of the posts, its first 20 at once and 20 more
 * each 60 s, so ceil((share - 20) / 20) × 60 s plus the upload time (0 s
 * when the share fits one window: then the upload alone bounds the time).
 *
 * Large uploads, in 4 MiB documents so the rate bounds the time:
 *   4 bots x 2 chats, --redundancy none (the long-standing row);
 *   4 bots x 6 chats, --redundancy none, then rs:4+2 in 16 MiB blocks (so
 *     each shard is again a 4 MiB document): the stripes against the
 *     redundancy-adjusted model and against none with the same pairs.
 * Small objects: 1 bot x 1 chat, 4 KiB objects packed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/bench/bench.h"

#define TG_DOC (4 << 20) /* bytes of a posted document in the large uploads */
#define TG_PAIR_PER_MIN 20.0

struct tg_upload {
    const char *name; /* the run's directories: NAME-emu, NAME-gw */
    int nbots, nchats;
    const char *redundancy; /* --redundancy */
    int k, m;               /* its geometry: 1+0 for none */
    /* out */
    double secs, model_secs, mibs;
    double window_secs; /* the windowed model (first bursts counted) */
    int failed;
};

/* One large PUT through o->nbots x o->nchats pairs in blocks of k documents of TG_DOC bytes. */
static void tg_upload(const struct bench_env *env, struct tg_upload *o)
{
    struct bench_server emu, gw;
    char en[64], gn[64], path[64];
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    snprintf(en, sizeof(en), "%s-emu", o->name);
    snprintf(gn, sizeof(gn), "%s-gw", o->name);
    const char *const extra[] = {"--redundancy", o->redundancy, NULL};
    struct bench_emu_opts eo = {.nchats = o->nchats, .limits = 1};
    struct bench_gw_opts go = {
        .nbots = o->nbots, .nchats = o->nchats, .block_size = (int64_t)o->k * TG_DOC, .extra = extra};
    int pairs = o->nbots * o->nchats;
    o->failed = 1;
    if (bench_start_emulator(env, &emu, en, &eo) != 0 || bench_start_gateway(env, &gw, gn, &emu, &go) != 0 ||
        bench_make_bucket(env, &gw) != 0) {
        bench_row("  telegram %d bots x %d chats, %s: could not start\n", o->nbots, o->nchats, o->redundancy);
        goto out;
    }
    bench_progress("telegram-shaped: PUT %llu MiB through %d bots x %d chats, --redundancy %s, %lld MiB blocks, "
                   "emulator limits on",
                   (unsigned long long)(env->large >> 20), o->nbots, o->nchats, o->redundancy,
                   (long long)(go.block_size >> 20));
    struct bench_run r;
    snprintf(path, sizeof(path), "/bench/%s", o->name);
    bench_request(env, &r, &gw, BENCH_PUT, 1, 1, path, env->large);
    uint64_t bs = (uint64_t)go.block_size;
    double blocks = (double)((env->large + bs - 1) / bs);
    double posts = blocks * (o->k + o->m);
    o->secs = r.secs;
    o->mibs = bench_mibs(&r);
    o->model_secs = posts / ((double)pairs * TG_PAIR_PER_MIN / 60.0);
    double share = ceil(posts / (double)pairs);
    o->window_secs = share > TG_PAIR_PER_MIN ? ceil((share - TG_PAIR_PER_MIN) / TG_PAIR_PER_MIN) * 60.0 : 0;
    o->failed = r.errors > 0;
    char shape[64];
    if (o->k + o->m > 1)
        snprintf(shape, sizeof(shape), "%lld MiB blocks = %d MiB shards", (long long)(bs >> 20), TG_DOC >> 20);
    else
        snprintf(shape, sizeof(shape), "%d MiB blocks", TG_DOC >> 20);
    bench_row("  upload %4llu MiB, %d bots x %d chats, %-6s %-28s %7.1f s (%6.1f MiB/s) | model: ",
              (unsigned long long)(env->large >> 20), o->nbots, o->nchats, o->redundancy, shape, r.secs, o->mibs);
    if (o->k + o->m > 1)
        bench_row("%.0f blocks x %d = ", blocks, o->k + o->m);
    /* Each pair's first window goes at once, then 20 more each 60 s: what a short run can reach. */
    bench_row("%.0f posts / (%d pairs x 20/min) = %.1f s in the long run (%.1f MiB/s) | %5.2fx of it; windowed "
              "model %.0f s + upload",
              posts, pairs, o->model_secs, (double)env->large / BENCH_MIB / o->model_secs,
              bench_ratio(r.secs, o->model_secs), o->window_secs);
    if (o->window_secs > 0)
        bench_row(" | %5.2fx of the windowed model", bench_ratio(r.secs, o->window_secs));
    else
        bench_row(" (one burst per pair: the upload alone)");
    bench_row("%s\n", r.errors ? "  (errors)" : "");
    long used, peak, too_many;
    bench_emu_pairs(&emu, &used, &peak, &too_many);
    bench_row("    emulator: %ld of %d pairs posted, busiest 60 s window of a pair %ld posts (limit 20), %ld answers "
              "429\n",
              used, pairs, peak, too_many);
    bench_run_release(&r);
out:
    bench_stop(&gw.proc);
    bench_stop_emulator(env, &emu, en);
}

/* Stripes under Telegram's limits: rs:4+2 against none through the same 4 x 6 pairs in documents of the same size. */
static void tg_stripes(const struct bench_env *env)
{
    struct tg_upload none = {.name = "tg-6-none", .nbots = 4, .nchats = 6, .redundancy = "none", .k = 1, .m = 0};
    struct tg_upload rs = {.name = "tg-6-rs", .nbots = 4, .nchats = 6, .redundancy = "rs:4+2", .k = 4, .m = 2};
    tg_upload(env, &none);
    tg_upload(env, &rs);
    if (none.failed || rs.failed || rs.secs <= 0)
        return;
    double red = (double)rs.k / (double)(rs.k + rs.m);
    bench_row("  rs:4+2 under Telegram's limits: %.2fx of the model's speed (pairs x 20/min x %d MiB x 4/6 = %.1f "
              "MiB/s; target within 10%%); %.2fx none's speed through the same pairs (model %.2f)\n",
              rs.model_secs / rs.secs, TG_DOC >> 20, (double)env->large / BENCH_MIB / rs.model_secs,
              bench_ratio(rs.mibs, none.mibs), red);
}

static void tg_small(const struct bench_env *env, size_t n_small)
{
    struct bench_server emu, gw;
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    static const char *const extra[] = {"--max-schedule-wait", "30", NULL};
    struct bench_emu_opts eo = {.nchats = 1, .limits = 1};
    struct bench_gw_opts go = {.nbots = 1, .nchats = 1, .block_size = 16 << 20, .extra = extra};
    if (bench_start_emulator(env, &emu, "tg-small-emu", &eo) != 0 ||
        bench_start_gateway(env, &gw, "tg-small-gw", &emu, &go) != 0 || bench_make_bucket(env, &gw) != 0) {
        bench_row("  telegram 1 bot x 1 chat: could not start\n");
        goto out;
    }
    bench_progress("telegram-shaped: PUT %zu x 4 KiB through 1 bot x 1 chat, emulator limits on (new requests stop "
                   "after 120 s)",
                   n_small);
    struct bench_run p, g;
    memset(&p, 0, sizeof(p));
    p.t = &gw.t;
    p.method = BENCH_PUT;
    p.concurrency = 64;
    p.n = n_small;
    p.path = "/bench/tg-small-";
    p.size = 4096;
    p.data = env->bodies;
    p.data_len = env->bodies_len;
    p.deadline_s = 120;
    bench_http_run(&p);
    size_t stored = p.done - p.errors;
    double t0 = bench_now();
    bench_progress("telegram-shaped: waiting until every pack is in Telegram");
    long left;
    while ((left = bench_unposted(&gw)) != 0 && bench_now() - t0 < 300) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double posted = p.secs + (bench_now() - t0);
    long docs = bench_emu_messages(&emu, 0);
    bench_progress("telegram-shaped: GET them back");
    bench_request(env, &g, &gw, BENCH_GET, 64, stored == p.n ? p.n : 0, "/bench/tg-small-", 4096);
    double model = (double)n_small / TG_PAIR_PER_MIN * 60.0;
    bench_row("  %zu x 4 KiB, 1 bot x 1 chat      PUT %zu acknowledged in %.1f s, all in Telegram after %.1f s (%ld "
              "documents%s), GET %zu in %.1f s: stored and read back in %.1f s | unpacked model: %zu posts / 20 per "
              "min = %.0f s | target < 120 s\n",
              n_small, stored, p.secs, posted, docs, left != 0 ? ", some still unposted" : "", g.done - g.errors,
              g.secs, posted + g.secs, n_small, model);
    bench_run_release(&p);
    bench_run_release(&g);
out:
    bench_stop(&gw.proc);
    bench_stop_emulator(env, &emu, "tg-small-emu");
}

void bench_telegram_suite(const struct bench_env *env, size_t n_small)
{
    /* Pinned to none: with two chats the gateway's default (auto) would mirror every block. */
    struct tg_upload two = {.name = "tg-large", .nbots = 4, .nchats = 2, .redundancy = "none", .k = 1, .m = 0};
    tg_upload(env, &two);
    tg_stripes(env);
    tg_small(env, n_small);
}

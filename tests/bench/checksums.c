/* checksums.c — tgs3-bench's x-amz-checksum rows: what a flexible checksum costs a PUT.
 *
 * Current SDKs send a CRC with every upload by default (CRC32, CRC32C or
 * CRC64NVME, in a header or a trailer), and the gateway computes it over the
 * whole body. Two rows:
 *   in process: MiB/s of each CRC (and SHA-256 beside them) through
 *     s3_checksum_init/update/final in 1 MiB pieces, one core;
 *   PUT: a large object (TGS3_BENCH_LARGE) in one stream, SigV4-signed like
 *     the other PUT rows, with an x-amz-checksum-crc64nvme header, with
 *     x-amz-checksum-crc32c, and without; one gateway and emulator (1 bot,
 *     1 chat, no rate limits, 16 MiB blocks; RAM store when there is room),
 *     after a 256 MiB warm-up PUT; the three take turns CK_ROUNDS times and
 *     the best of each is kept. Target: each checksum PUT >= 0.9 x the plain one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "s3/s3.h"
#include "tests/bench/bench.h"

#define CK_ROUNDS 3
#define CK_BLOCK ((int64_t)16 << 20) /* bytes */
#define CK_PIECE ((size_t)1 << 20)   /* bytes per update in the in-process rates */

static const char *const kinds[3] = {NULL, "crc64nvme", "crc32c"};

/* MiB/s of alg over buf[0..len) in CK_PIECE pieces, repeated for a second. */
static double crc_rate(const char *alg, const unsigned char *buf, size_t len)
{
    double t0 = bench_now(), t = 0;
    uint64_t bytes = 0;
    do {
        struct s3_checksum_ctx c;
        unsigned char out[32];
        if (s3_checksum_init(&c, alg) != 0)
            return 0;
        for (size_t at = 0; at < len; at += CK_PIECE)
            if (s3_checksum_update(&c, buf + at, len - at < CK_PIECE ? len - at : CK_PIECE) != 0)
                break;
        s3_checksum_final(&c, out);
        s3_checksum_release(&c);
        bytes += len;
        t = bench_now() - t0;
    } while (t < 1.0);
    return (double)bytes / BENCH_MIB / t;
}

/* The "x-amz-checksum-<alg>: <base64>" line of the body a single PUT of size
 * bytes sends from env->bodies at offset start (read circularly, as http.c does). */
static void checksum_line(const struct bench_env *env, const char *alg, size_t start, uint64_t size, char *line,
                          size_t cap)
{
    struct s3_checksum_ctx c;
    unsigned char d[32];
    char b64[64];
    ASSERT(s3_checksum_init(&c, alg) == 0);
    uint64_t done = 0;
    while (done < size) {
        size_t at = (size_t)((start + done) % env->bodies_len);
        size_t k = env->bodies_len - at;
        if (k > size - done)
            k = (size_t)(size - done);
        ASSERT(s3_checksum_update(&c, env->bodies + at, k) == 0);
        done += k;
    }
    size_t dl = s3_checksum_final(&c, d);
    s3_checksum_release(&c);
    b64[s3_base64_encode(d, dl, b64, sizeof(b64))] = '\0';
    snprintf(line, cap, "x-amz-checksum-%s: %s", alg, b64);
}

/* One large PUT to path, with alg's checksum header (alg NULL: none); MiB/s, -1 on failure. */
static double put_once(const struct bench_env *env, const struct bench_server *gw, const char *alg, const char *path)
{
    struct bench_run r;
    char line[160];
    memset(&r, 0, sizeof(r));
    r.t = &gw->t;
    r.method = BENCH_PUT;
    r.concurrency = 1;
    r.n = 1;
    r.path = path;
    r.single = 1;
    r.size = env->large;
    r.data = env->bodies;
    r.data_len = env->bodies_len;
    r.shift = (size_t)rand() % env->bodies_len; /* another body each time: no block is deduplicated */
    if (alg != NULL) {
        checksum_line(env, alg, r.shift, r.size, line, sizeof(line));
        r.header = line;
    }
    bench_http_run(&r);
    double v = r.errors ? -1 : bench_mibs(&r);
    if (r.errors)
        bench_progress("checksums: PUT %s with %s failed (first: %ld)", path, alg ? alg : "none", r.first_error);
    bench_run_release(&r);
    return v;
}

void bench_checksum_suite(const struct bench_env *env)
{
    size_t clen = 16u << 20;
    bench_progress("checksums: CRC32, CRC32C, CRC64NVME, SHA-256 on one core");
    double r32 = crc_rate("crc32", env->bodies, clen), r32c = crc_rate("crc32c", env->bodies, clen);
    double r64 = crc_rate("crc64nvme", env->bodies, clen), rsha = crc_rate("sha256", env->bodies, clen);
    bench_row("\nx-amz-checksum (one core, in process, %zu KiB pieces): CRC32 %.0f MiB/s, CRC32C %.0f MiB/s, "
              "CRC64NVME %.0f MiB/s (SHA-256 %.0f MiB/s)\n",
              CK_PIECE >> 10, r32, r32c, r64, rsha);

    struct bench_server emu, gw;
    memset(&emu, 0, sizeof(emu));
    memset(&gw, 0, sizeof(gw));
    uint64_t warm = env->large < (256u << 20) ? env->large : (256u << 20);
    uint64_t bs = (uint64_t)CK_BLOCK;
    int64_t need = (int64_t)((warm + bs - 1) / bs + 3 * CK_ROUNDS * ((env->large + bs - 1) / bs) + 4) * BENCH_RAM_DOC;
    int ram = env->ram_dir[0] && bench_ram_room(need);
    static const char *const unlimited[] = {"--rate-pair-per-min", "1000000", "--rate-bot-per-sec", "1000000", NULL};
    struct bench_emu_opts eo = {.nchats = 1, .ram_bytes = ram ? need : 0};
    struct bench_gw_opts go = {.nbots = 1, .nchats = 1, .block_size = CK_BLOCK, .extra = unlimited};
    if (bench_start_emulator(env, &emu, "ck-emu", &eo) != 0 || bench_start_gateway(env, &gw, "ck-gw", &emu, &go) != 0 ||
        bench_make_bucket(env, &gw) != 0) {
        bench_row("  PUT with a checksum: (not measured: a server did not start)\n");
        goto out;
    }
    struct bench_run r;
    bench_progress("checksums: warm-up PUT %llu MiB", (unsigned long long)(warm >> 20));
    bench_request(env, &r, &gw, BENCH_PUT, 1, 1, "/bench/ck-warmup-", warm);
    bench_run_release(&r);
    double best[3] = {0, 0, 0};
    int failed = 0;
    for (int round = 0; round < CK_ROUNDS; round++)
        for (int k = 0; k < 3; k++) {
            char path[64];
            snprintf(path, sizeof(path), "/bench/ck-%s-%d", kinds[k] ? kinds[k] : "none", round);
            bench_progress("checksums: PUT %llu MiB, one stream, %s (%d of %d)",
                           (unsigned long long)(env->large >> 20), kinds[k] ? kinds[k] : "no checksum", round + 1,
                           CK_ROUNDS);
            sync(); /* the previous PUT's dirty pages are written now, not during this one */
            double v = put_once(env, &gw, kinds[k], path);
            if (v < 0)
                failed++;
            else if (v > best[k])
                best[k] = v;
        }
    bench_row("  PUT %4llu MiB 1 stream   none %6.0f  crc64nvme %6.0f  crc32c %6.0f MiB/s (best of %d, taking turns%s) "
              "| %.2fx, %.2fx none (target >= 0.9)\n",
              (unsigned long long)(env->large >> 20), best[0], best[1], best[2], CK_ROUNDS,
              ram ? "" : "; emulator's store on the disk", bench_ratio(best[1], best[0]), bench_ratio(best[2], best[0]));
    if (failed)
        bench_row("  (%d checksum PUTs failed)\n", failed);
out:
    bench_stop(&gw.proc);
    bench_stop_emulator(env, &emu, "ck-emu");
}

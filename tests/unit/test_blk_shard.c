/* test_blk_shard.c — unit tests of gateway/blocks/shard.c: shard lengths, Reed–Solomon
 * encode and rebuild under every erasure pattern, shard documents (seal, open, peek,
 * tampering, swapped identities, keys), a stripe end to end, the redundancy layouts.
 *
 * Random sizes and patterns come from a seed printed first (argv[1] replays one).
 * The throughput lines (encode, rebuild, GMAC against HMAC-SHA256) are information,
 * never checked. One line per failed check, then the summary line `N passed, N failed`.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gateway/blocks/blk.h"
#include "gateway/blocks/shard.h"
#include "tests/unit/check.h"

#define MIB ((size_t)1 << 20)

static unsigned char master[2 * BLK_KEY_LEN];
static uint64_t rng;

/* xorshift64*: reproducible from the printed seed. */
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static void fill_random(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rnd() >> 56);
}

static struct blk_keyring *ring(size_t n)
{
    struct blk_keyring *kr = NULL;
    CHECK(blk_keyring_new(master, n, &kr) == BLK_OK);
    return kr;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t binomial(int n, int r)
{
    uint64_t c = 1;
    for (int i = 1; i <= r; i++)
        c = c * (uint64_t)(n - r + i) / (uint64_t)i;
    return c;
}

/* A sealed buffer (random bytes stand in for one) cut into k data shards and encoded. */
struct stripe {
    int k, m;
    uint64_t sealed_len;
    size_t len; /* bytes per shard */
    unsigned char *sealed;
    unsigned char *shard[BLK_MAX_SHARDS];
};

static void stripe_make(struct stripe *s, const struct blk_ec *ec, int k, int m, uint64_t sealed_len)
{
    memset(s, 0, sizeof(*s));
    s->k = k;
    s->m = m;
    s->sealed_len = sealed_len;
    s->len = blk_shard_len(sealed_len, k);
    s->sealed = xmalloc((size_t)sealed_len);
    fill_random(s->sealed, (size_t)sealed_len);
    for (int i = 0; i < k + m; i++) {
        s->shard[i] = xcalloc(1, s->len); /* data shards zero-padded past sealed_len */
        if (i < k) {
            size_t off = (size_t)i * s->len;
            if (off < sealed_len)
                memcpy(s->shard[i], s->sealed + off,
                       (size_t)sealed_len - off < s->len ? (size_t)sealed_len - off : s->len);
        }
    }
    blk_ec_encode(ec, s->len, s->shard, s->shard + k);
}

static void stripe_release(struct stripe *s)
{
    for (int i = 0; i < s->k + s->m; i++)
        free(s->shard[i]);
    free(s->sealed);
}

/* Erases the shards in mask, rebuilds them all and compares; returns 1 when all match. */
static int rebuild_matches(const struct blk_ec *ec, const struct stripe *s, uint64_t mask)
{
    unsigned char *have[BLK_MAX_SHARDS] = {0}, *out[BLK_MAX_SHARDS] = {0};
    int want[BLK_MAX_SHARDS] = {0}, n_want = 0, ok = 1;
    for (int i = 0; i < s->k + s->m; i++) {
        have[i] = (mask >> i & 1) ? NULL : s->shard[i];
        if (mask >> i & 1) {
            want[n_want] = i;
            out[n_want] = xmalloc(s->len);
            memset(out[n_want], 0xEE, s->len);
            n_want++;
        }
    }
    if (blk_ec_rebuild(ec, s->len, have, want, n_want, out) != BLK_OK)
        ok = 0;
    for (int j = 0; j < n_want; j++) {
        if (ok && memcmp(out[j], s->shard[want[j]], s->len) != 0)
            ok = 0;
        free(out[j]);
    }
    return ok;
}

/* A random set of e indexes below n, as a bit mask. */
static uint64_t random_mask(int n, int e)
{
    int idx[BLK_MAX_SHARDS];
    uint64_t mask = 0;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 0; i < e; i++) {
        int j = i + (int)(rnd() % (uint64_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        mask |= (uint64_t)1 << idx[i];
    }
    return mask;
}

static void test_shard_len(void)
{
    CHECK(blk_shard_len(1, 1) == 64);
    CHECK(blk_shard_len(64, 1) == 64);
    CHECK(blk_shard_len(65, 1) == 128);
    CHECK(blk_shard_len(128, 2) == 64);
    CHECK(blk_shard_len(129, 2) == 128);
    CHECK(blk_shard_len(1, 8) == 64);
    CHECK(blk_shard_len(3 * 1000, 3) == 1024);
    CHECK(blk_shard_len(0, 4) == 0);
    CHECK(blk_shard_len(16 * MIB, 4) == 4 * MIB);
    CHECK(blk_shard_len(UINT64_MAX, 1) == SIZE_MAX);
    CHECK(blk_shard_len(UINT64_MAX, 2) % 64 == 0);
    CHECK(blk_shard_len(100, 0) == SIZE_MAX);
    CHECK(blk_shard_len(100, -3) == SIZE_MAX);
}

static void test_ec_new(void)
{
    int bad[][2] = {{0, 0}, {0, 1}, {-1, 2}, {1, -1}, {33, 0}, {16, 17}, {1, 32}, {2, 31}};
    int good[][2] = {{1, 0}, {32, 0}, {1, 31}, {16, 16}, {31, 1}};
    static char sentinel;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct blk_ec *ec = (struct blk_ec *)(void *)&sentinel; /* must come back NULL */
        CHECK(blk_ec_new(bad[i][0], bad[i][1], &ec) == BLK_ERR_FORMAT && ec == NULL);
    }
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct blk_ec *ec = NULL;
        CHECK(blk_ec_new(good[i][0], good[i][1], &ec) == BLK_OK && ec != NULL);
        blk_ec_free(ec);
    }
    blk_ec_free(NULL);
}

/* Every geometry: encode, then rebuild under every erasure pattern of at most m shards
 * (random patterns when there are too many), and refuse fewer than k. */
static void test_erasures(void)
{
    static const int geo[][2] = {{1, 0}, {1, 1}, {1, 2}, {2, 1}, {3, 1}, {4, 2}, {8, 2}, {10, 4}, {16, 16}};
    for (size_t g = 0; g < ARRAY_SIZE(geo); g++) {
        int k = geo[g][0], m = geo[g][1], n = k + m;
        struct blk_ec *ec = NULL;
        CHECK(blk_ec_new(k, m, &ec) == BLK_OK);
        if (ec == NULL)
            continue;
        /* One byte; a multiple of 64 * k (no padding); k-divisible but padded; not divisible; random. */
        uint64_t sizes[] = {1, 64 * (uint64_t)k * 3, 100 * (uint64_t)k, 64 * (uint64_t)k * 5 + 1, 1 + rnd() % 300000};
        int exhaustive = binomial(n, m) <= 2000;
        long patterns = 0, bad = 0;
        for (size_t z = 0; z < ARRAY_SIZE(sizes); z++) {
            struct stripe s;
            stripe_make(&s, ec, k, m, sizes[z]);
            /* Systematic: the data shards are the sealed bytes, then zeros. */
            int sys = 1;
            for (int i = 0; i < k; i++)
                for (size_t b = 0; b < s.len; b++) {
                    uint64_t at = (uint64_t)i * s.len + b;
                    if (s.shard[i][b] != (at < s.sealed_len ? s.sealed[at] : 0))
                        sys = 0;
                }
            CHECK(sys);
            if (exhaustive) {
                for (uint64_t mask = 0; mask < (uint64_t)1 << n; mask++) {
                    if (__builtin_popcountll(mask) > m)
                        continue;
                    patterns++;
                    bad += !rebuild_matches(ec, &s, mask);
                }
            } else {
                for (int r = 0; r < 300; r++) {
                    int e = r < 100 ? m : (int)(rnd() % (uint64_t)(m + 1));
                    patterns++;
                    bad += !rebuild_matches(ec, &s, random_mask(n, e));
                }
            }
            /* m + 1 erased: fewer than k left, refused with nothing written. */
            unsigned char *have[BLK_MAX_SHARDS], *out = xmalloc(s.len);
            uint64_t mask = random_mask(n, m + 1);
            int want[1] = {0};
            for (int i = 0; i < n; i++) {
                have[i] = (mask >> i & 1) ? NULL : s.shard[i];
                if (mask >> i & 1)
                    want[0] = i;
            }
            memset(out, 0xEE, s.len);
            CHECK(blk_ec_rebuild(ec, s.len, have, want, 1, &out) == BLK_ERR_FORMAT);
            CHECK(out[0] == 0xEE && out[s.len - 1] == 0xEE);
            /* Parity recomputed from the data alone (what a scrub compares). */
            if (m > 0) {
                unsigned char *pout[BLK_MAX_SHARDS];
                int pw[BLK_MAX_SHARDS];
                for (int j = 0; j < m; j++) {
                    pw[j] = k + j;
                    pout[j] = xmalloc(s.len);
                }
                CHECK(blk_ec_rebuild(ec, s.len, s.shard, pw, m, pout) == BLK_OK);
                for (int j = 0; j < m; j++) {
                    CHECK(memcmp(pout[j], s.shard[k + j], s.len) == 0);
                    free(pout[j]);
                }
            }
            free(out);
            stripe_release(&s);
        }
        printf("  %d+%d: %ld erasure patterns (%s), %ld wrong\n", k, m, patterns,
               exhaustive ? "all of at most m" : "random", bad);
        CHECK(bad == 0);
        blk_ec_free(ec);
    }
}

/* Every k + m <= BLK_MAX_SHARDS, not only the listed ones: random patterns of exactly m erasures. */
static void test_all_geometries(void)
{
    long bad = 0, runs = 0;
    for (int k = 1; k <= BLK_MAX_SHARDS; k++) {
        for (int m = 0; k + m <= BLK_MAX_SHARDS; m++) {
            struct blk_ec *ec = NULL;
            if (blk_ec_new(k, m, &ec) != BLK_OK) {
                bad++;
                continue;
            }
            struct stripe s;
            stripe_make(&s, ec, k, m, 1 + rnd() % (128 * (uint64_t)k));
            for (int r = 0; r < 4; r++, runs++)
                bad += !rebuild_matches(ec, &s, random_mask(k + m, m));
            stripe_release(&s);
            blk_ec_free(ec);
        }
    }
    printf("  every geometry: %ld rebuilds, %ld wrong\n", runs, bad);
    CHECK(bad == 0);
}

/* One shared blk_ec, rebuilds on several threads at once (make tsan watches this one). */
struct worker {
    const struct blk_ec *ec;
    const struct stripe *s;
    uint64_t seed;
    int bad;
};

static void *on_worker(void *arg)
{
    struct worker *w = arg;
    int n = w->s->k + w->s->m;
    for (int r = 0; r < 50; r++) {
        /* m distinct indexes from a per-thread generator (rnd() is not for threads): a
         * random start, then steps of 5, which is prime to n = 12. */
        uint64_t mask = 0;
        w->seed = w->seed * 6364136223846793005ULL + 1442695040888963407ULL;
        for (int e = 0, i = (int)(w->seed >> 33) % n; e < w->s->m; e++, i = (i + 5) % n)
            mask |= (uint64_t)1 << i;
        w->bad += !rebuild_matches(w->ec, w->s, mask);
    }
    return NULL;
}

static void test_threads(void)
{
    struct blk_ec *ec = NULL;
    CHECK(blk_ec_new(8, 4, &ec) == BLK_OK);
    if (ec == NULL)
        return;
    struct stripe s;
    stripe_make(&s, ec, 8, 4, 50000);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.ec = ec, .s = &s, .seed = (uint64_t)i + 1, .bad = 0};
        CHECK(pthread_create(&t[i], NULL, on_worker, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(w[i].bad == 0);
    }
    stripe_release(&s);
    blk_ec_free(ec);
}

static void test_rebuild_args(void)
{
    struct blk_ec *ec = NULL;
    CHECK(blk_ec_new(4, 2, &ec) == BLK_OK);
    if (ec == NULL)
        return;
    struct stripe s;
    stripe_make(&s, ec, 4, 2, 1000);
    unsigned char *out = xmalloc(s.len), *outs[BLK_MAX_SHARDS + 1];
    int want[BLK_MAX_SHARDS + 1];
    int bad_idx[] = {-1, 6, 7, 1000};
    for (size_t i = 0; i < ARRAY_SIZE(bad_idx); i++)
        CHECK(blk_ec_rebuild(ec, s.len, s.shard, &bad_idx[i], 1, &out) == BLK_ERR_FORMAT);
    for (int j = 0; j <= BLK_MAX_SHARDS; j++) {
        want[j] = 0;
        outs[j] = out;
    }
    CHECK(blk_ec_rebuild(ec, s.len, s.shard, want, BLK_MAX_SHARDS + 1, outs) == BLK_ERR_FORMAT);
    CHECK(blk_ec_rebuild(ec, s.len, s.shard, want, -1, outs) == BLK_ERR_FORMAT);
    CHECK(blk_ec_rebuild(ec, s.len, s.shard, want, 0, outs) == BLK_OK);
    /* Any length works, not only multiples of 64 (ISA-L's tail path). */
    unsigned char *d[4], *p[2], *q = xmalloc(37);
    for (int i = 0; i < 4; i++) {
        d[i] = xmalloc(37);
        fill_random(d[i], 37);
    }
    p[0] = xmalloc(37);
    p[1] = xmalloc(37);
    blk_ec_encode(ec, 37, d, p);
    unsigned char *have[6] = {NULL, d[1], NULL, d[3], p[0], p[1]};
    int w = 2;
    CHECK(blk_ec_rebuild(ec, 37, have, &w, 1, &q) == BLK_OK && memcmp(q, d[2], 37) == 0);
    for (int i = 0; i < 4; i++)
        free(d[i]);
    free(p[0]);
    free(p[1]);
    free(q);
    free(out);
    stripe_release(&s);
    blk_ec_free(ec);
}

/* header || body || tag of shard index of stripe s. */
static unsigned char *make_doc(const struct blk_keyring *kr, const unsigned char *id, const struct stripe *s, int index,
                               size_t *doc_len)
{
    *doc_len = s->len + BLK_SHARD_OVERHEAD;
    unsigned char *doc = xmalloc(*doc_len);
    memcpy(doc + BLK_SHARD_HEADER_LEN, s->shard[index], s->len);
    CHECK(blk_shard_seal(kr, id, index, s->k, s->m, s->sealed_len, s->shard[index], s->len, doc,
                         doc + BLK_SHARD_HEADER_LEN + s->len) == BLK_OK);
    return doc;
}

static int refused(enum blk_status st)
{
    return st == BLK_ERR_AUTH || st == BLK_ERR_FORMAT;
}

static void test_seal_open(void)
{
    struct blk_keyring *kr = ring(1);
    struct blk_ec *ec = NULL;
    unsigned char id[BLK_ID_LEN], other[BLK_ID_LEN];
    CHECK(blk_random(id, sizeof(id)) == BLK_OK);
    memcpy(other, id, sizeof(other));
    other[15] ^= 1;
    CHECK(blk_ec_new(4, 2, &ec) == BLK_OK);
    if (ec == NULL)
        return;
    struct stripe s;
    stripe_make(&s, ec, 4, 2, 5000);
    size_t n;

    for (int i = 0; i < 6; i++) {
        unsigned char *doc = make_doc(kr, id, &s, i, &n);
        CHECK(blk_shard_open(kr, id, i, 4, 2, 5000, doc, n) == BLK_OK);
        CHECK(memcmp(doc + BLK_SHARD_HEADER_LEN, s.shard[i], s.len) == 0);
        CHECK(memcmp(doc, "TGS3", 4) == 0 && doc[4] == 1 && doc[5] == BLK_KIND_SHARD && doc[6] == 1 && doc[7] == i);
        CHECK(doc[36] == 4 && doc[37] == 2 && doc[38] == 0 && doc[39] == 0);
        CHECK(doc[40] == 0 && doc[45] == 0 && doc[46] == 0x13 && doc[47] == 0x88); /* 5000 big-endian */
        int pi, pk, pm;
        uint64_t pl;
        unsigned char pid[BLK_ID_LEN];
        CHECK(blk_shard_peek(doc, n, &pi, &pk, &pm, pid, &pl) == BLK_OK);
        CHECK(pi == i && pk == 4 && pm == 2 && pl == 5000 && memcmp(pid, id, BLK_ID_LEN) == 0);
        CHECK(blk_shard_peek(doc, BLK_SHARD_HEADER_LEN, &pi, &pk, &pm, pid, &pl) == BLK_OK);
        CHECK(blk_shard_peek(doc, BLK_SHARD_HEADER_LEN - 1, &pi, &pk, &pm, pid, &pl) == BLK_ERR_FORMAT);
        free(doc);
    }

    /* Two seals of the same shard: fresh nonces, different tags, both open. */
    size_t n2;
    unsigned char *ref = make_doc(kr, id, &s, 1, &n), *again = make_doc(kr, id, &s, 1, &n2);
    CHECK(memcmp(ref + 24, again + 24, BLK_NONCE_LEN) != 0);
    CHECK(memcmp(ref + n - BLK_SHARD_TAG_LEN, again + n - BLK_SHARD_TAG_LEN, BLK_SHARD_TAG_LEN) != 0);
    free(again);

    /* Every bit of the header and the tag, and bits of the body. A flipped key id
     * byte names an unknown key: BLK_ERR_KEY there. */
    unsigned char *buf = xmalloc(n + 1);
    int all = 1;
    for (size_t byte = 0; byte < n; byte++) {
        int in_body = byte >= BLK_SHARD_HEADER_LEN && byte < BLK_SHARD_HEADER_LEN + s.len;
        if (in_body && byte % 97 != 0 && byte != BLK_SHARD_HEADER_LEN && byte != n - BLK_SHARD_TAG_LEN - 1)
            continue;
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, ref, n);
            buf[byte] ^= (unsigned char)(1u << bit);
            enum blk_status st = blk_shard_open(kr, id, 1, 4, 2, 5000, buf, n);
            if (!(refused(st) || (byte == 6 && st == BLK_ERR_KEY))) {
                printf("  flipped bit %d of byte %zu: %s\n", bit, byte, blk_status_name(st));
                all = 0;
            }
        }
    }
    CHECK(all);

    /* The same shard presented as something else. */
    CHECK(blk_shard_open(kr, id, 0, 4, 2, 5000, ref, n) == BLK_ERR_AUTH);
    CHECK(blk_shard_open(kr, id, 2, 4, 2, 5000, ref, n) == BLK_ERR_AUTH);
    CHECK(blk_shard_open(kr, other, 1, 4, 2, 5000, ref, n) == BLK_ERR_AUTH);
    CHECK(blk_shard_open(kr, id, 1, 5, 2, 5000, ref, n) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 3, 5000, ref, n) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 1, 5000, ref, n) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 4999, ref, n) == BLK_ERR_FORMAT); /* same shard length */
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 0, ref, n) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 6, 4, 2, 5000, ref, n) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 0, 2, 5000, ref, n) == BLK_ERR_FORMAT);
    /* ... and with its header rewritten to match: the tag no longer verifies. */
    memcpy(buf, ref, n);
    buf[7] = 2;
    CHECK(blk_shard_open(kr, id, 2, 4, 2, 5000, buf, n) == BLK_ERR_AUTH);
    memcpy(buf, ref, n);
    memcpy(buf + 8, other, BLK_ID_LEN);
    CHECK(blk_shard_open(kr, other, 1, 4, 2, 5000, buf, n) == BLK_ERR_AUTH);
    memcpy(buf, ref, n);
    buf[47] = 0x87; /* sealed_len 4999: same shard length */
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 4999, buf, n) == BLK_ERR_AUTH);
    memcpy(buf, ref, n);
    buf[37] = 3;
    CHECK(blk_shard_open(kr, id, 1, 4, 3, 5000, buf, n) == BLK_ERR_AUTH);
    /* Another shard's body under this header and tag. */
    memcpy(buf, ref, n);
    memcpy(buf + BLK_SHARD_HEADER_LEN, s.shard[2], s.len);
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 5000, buf, n) == BLK_ERR_AUTH);

    /* Truncated, extended, tiny. */
    memcpy(buf, ref, n);
    buf[n] = 0;
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 5000, buf, n - 1) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 5000, buf, n + 1) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 5000, buf, BLK_SHARD_OVERHEAD) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 5000, buf, BLK_SHARD_HEADER_LEN) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 5000, buf, 10) == BLK_ERR_FORMAT);
    CHECK(blk_shard_open(kr, id, 1, 4, 2, 5000, buf, 0) == BLK_ERR_FORMAT);

    /* A different master key. */
    unsigned char stranger_key[BLK_KEY_LEN];
    memset(stranger_key, 0x5A, sizeof(stranger_key));
    struct blk_keyring *stranger = NULL;
    CHECK(blk_keyring_new(stranger_key, 1, &stranger) == BLK_OK);
    CHECK(blk_shard_open(stranger, id, 1, 4, 2, 5000, ref, n) == BLK_ERR_AUTH);
    blk_keyring_free(stranger);

    /* Seal refuses a geometry that does not add up. */
    unsigned char h[BLK_SHARD_HEADER_LEN], t[BLK_SHARD_TAG_LEN];
    CHECK(blk_shard_seal(kr, id, 1, 4, 2, 5000, s.shard[1], s.len - 64, h, t) == BLK_ERR_FORMAT);
    CHECK(blk_shard_seal(kr, id, 6, 4, 2, 5000, s.shard[1], s.len, h, t) == BLK_ERR_FORMAT);
    CHECK(blk_shard_seal(kr, id, -1, 4, 2, 5000, s.shard[1], s.len, h, t) == BLK_ERR_FORMAT);
    CHECK(blk_shard_seal(kr, id, 0, 0, 2, 5000, s.shard[1], s.len, h, t) == BLK_ERR_FORMAT);
    CHECK(blk_shard_seal(kr, id, 0, 20, 13, 5000, s.shard[1], blk_shard_len(5000, 20), h, t) == BLK_ERR_FORMAT);
    CHECK(blk_shard_seal(kr, id, 0, 4, 2, 0, s.shard[1], 0, h, t) == BLK_ERR_FORMAT);

    /* A sealed block is not a shard, and blk_seal has no key for the shard kind. */
    unsigned char sealed[100 + BLK_OVERHEAD], nonce[BLK_NONCE_LEN], plain[100] = {0};
    int kid, pi, pk, pm;
    uint64_t pl;
    unsigned char pid[BLK_ID_LEN];
    CHECK(blk_seal(kr, BLK_KIND_DATA, id, plain, sizeof(plain), sealed, &kid, nonce) == BLK_OK);
    CHECK(blk_shard_peek(sealed, sizeof(sealed), &pi, &pk, &pm, pid, &pl) == BLK_ERR_FORMAT);
    CHECK(blk_seal(kr, BLK_KIND_SHARD, id, plain, sizeof(plain), sealed, &kid, nonce) == BLK_ERR_KEY);

    free(buf);
    free(ref);
    stripe_release(&s);
    blk_ec_free(ec);
    blk_keyring_free(kr);
}

static void test_keys(void)
{
    struct blk_keyring *one = ring(1), *two = ring(2);
    struct blk_ec *ec = NULL;
    unsigned char id[BLK_ID_LEN] = {4, 2};
    CHECK(blk_ec_new(2, 1, &ec) == BLK_OK);
    if (ec == NULL)
        return;
    struct stripe s;
    stripe_make(&s, ec, 2, 1, 777);
    size_t n;

    /* Rotation: shards of key 1 open with keys 1..2; new shards use key 2, unknown to the old ring. */
    unsigned char *old = make_doc(one, id, &s, 2, &n);
    CHECK(old[6] == 1);
    CHECK(blk_shard_open(two, id, 2, 2, 1, 777, old, n) == BLK_OK);
    unsigned char *neu = make_doc(two, id, &s, 2, &n);
    CHECK(neu[6] == 2);
    CHECK(blk_shard_open(two, id, 2, 2, 1, 777, neu, n) == BLK_OK);
    CHECK(blk_shard_open(one, id, 2, 2, 1, 777, neu, n) == BLK_ERR_KEY);
    /* Key id rewritten to another known key: the tag fails. */
    neu[6] = 1;
    CHECK(blk_shard_open(two, id, 2, 2, 1, 777, neu, n) == BLK_ERR_AUTH);
    neu[6] = 9;
    CHECK(blk_shard_open(two, id, 2, 2, 1, 777, neu, n) == BLK_ERR_KEY);

    /* No keyring: an unkeyed tag (key id 0) that catches damage. */
    unsigned char *plain = make_doc(NULL, id, &s, 0, &n);
    CHECK(plain[6] == 0);
    CHECK(blk_shard_open(NULL, id, 0, 2, 1, 777, plain, n) == BLK_OK);
    plain[BLK_SHARD_HEADER_LEN + 5] ^= 0x10;
    CHECK(blk_shard_open(NULL, id, 0, 2, 1, 777, plain, n) == BLK_ERR_AUTH);
    plain[BLK_SHARD_HEADER_LEN + 5] ^= 0x10;
    plain[n - 1] ^= 0x80;
    CHECK(blk_shard_open(NULL, id, 0, 2, 1, 777, plain, n) == BLK_ERR_AUTH);
    plain[n - 1] ^= 0x80;
    plain[36] = 1; /* geometry rewritten: FORMAT before the tag */
    CHECK(blk_shard_open(NULL, id, 0, 2, 1, 777, plain, n) == BLK_ERR_FORMAT);
    plain[36] = 2;
    CHECK(blk_shard_open(NULL, id, 1, 2, 1, 777, plain, n) == BLK_ERR_AUTH);
    /* A keyring never takes an unkeyed shard (anyone can make one), nor the reverse. */
    CHECK(blk_shard_open(two, id, 0, 2, 1, 777, plain, n) == BLK_ERR_KEY);
    unsigned char *keyed = make_doc(two, id, &s, 0, &n);
    CHECK(blk_shard_open(NULL, id, 0, 2, 1, 777, keyed, n) == BLK_ERR_KEY);

    free(keyed);
    free(plain);
    free(old);
    free(neu);
    stripe_release(&s);
    blk_ec_free(ec);
    blk_keyring_free(one);
    blk_keyring_free(two);
}

/* A real sealed block as a 3+2 stripe: one shard document damaged, one lost; the good
 * ones are found by their tags, the data rebuilt, and the block opens. */
static void test_end_to_end(void)
{
    struct blk_keyring *kr = ring(2);
    struct blk_ec *ec = NULL;
    unsigned char id[BLK_ID_LEN], nonce[BLK_NONCE_LEN];
    size_t plain_len = 100000, got = 0;
    int kid, k = 3, m = 2;
    CHECK(blk_random(id, sizeof(id)) == BLK_OK);
    CHECK(blk_ec_new(k, m, &ec) == BLK_OK);
    if (ec == NULL)
        return;
    unsigned char *plain = xmalloc(plain_len);
    fill_random(plain, plain_len);
    size_t sealed_len = plain_len + BLK_OVERHEAD, len = blk_shard_len(sealed_len, k);
    /* The sealed buffer padded to k shards: data shard i is sealed + i * len. */
    unsigned char *sealed = xcalloc((size_t)k, len);
    CHECK(blk_seal(kr, BLK_KIND_DATA, id, plain, plain_len, sealed, &kid, nonce) == BLK_OK);
    unsigned char *data[BLK_MAX_SHARDS], *parity[BLK_MAX_SHARDS], *docs[BLK_MAX_SHARDS];
    for (int i = 0; i < k; i++)
        data[i] = sealed + (size_t)i * len;
    for (int j = 0; j < m; j++)
        parity[j] = xmalloc(len);
    blk_ec_encode(ec, len, data, parity);
    size_t doc_len = len + BLK_SHARD_OVERHEAD;
    for (int i = 0; i < k + m; i++) {
        docs[i] = xmalloc(doc_len);
        const unsigned char *body = i < k ? data[i] : parity[i - k];
        memcpy(docs[i] + BLK_SHARD_HEADER_LEN, body, len);
        CHECK(blk_shard_seal(kr, id, i, k, m, sealed_len, body, len, docs[i], docs[i] + BLK_SHARD_HEADER_LEN + len) ==
              BLK_OK);
    }
    free(sealed);

    docs[1][BLK_SHARD_HEADER_LEN + 1234] ^= 4; /* damaged */
    free(docs[2]);                             /* lost */
    docs[2] = NULL;
    unsigned char *have[BLK_MAX_SHARDS] = {0}, *out[BLK_MAX_SHARDS];
    int want[BLK_MAX_SHARDS], n_want = 0;
    for (int i = 0; i < k + m; i++) {
        if (docs[i] != NULL && blk_shard_open(kr, id, i, k, m, sealed_len, docs[i], doc_len) == BLK_OK)
            have[i] = docs[i] + BLK_SHARD_HEADER_LEN;
        else if (i < k)
            want[n_want++] = i;
    }
    CHECK(have[0] != NULL && have[1] == NULL && have[2] == NULL && have[3] != NULL && have[4] != NULL);
    CHECK(n_want == 2);
    unsigned char *whole = xmalloc((size_t)k * len);
    for (int i = 0; i < k; i++)
        if (have[i] != NULL)
            memcpy(whole + (size_t)i * len, have[i], len);
    for (int j = 0; j < n_want; j++)
        out[j] = whole + (size_t)want[j] * len;
    CHECK(blk_ec_rebuild(ec, len, have, want, n_want, out) == BLK_OK);
    CHECK(blk_open(kr, BLK_KIND_DATA, id, kid, plain_len, whole, sealed_len, &got) == BLK_OK);
    CHECK(got == plain_len && memcmp(whole + BLK_HEADER_LEN, plain, plain_len) == 0);

    free(whole);
    for (int i = 0; i < k + m; i++)
        free(docs[i]);
    for (int j = 0; j < m; j++)
        free(parity[j]);
    free(plain);
    blk_ec_free(ec);
    blk_keyring_free(kr);
}

static void test_layouts(void)
{
    static const int table[][3] = {{-1, 1, 0}, {0, 1, 0}, {1, 1, 0}, {2, 1, 1},  {3, 1, 1},  {4, 2, 1},  {5, 3, 1},
                                   {6, 2, 2},  {7, 3, 2}, {8, 4, 2}, {12, 8, 2}, {13, 8, 2}, {40, 8, 2}, {1000, 8, 2}};
    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        int k = -5, m = -5;
        blk_layout_auto(table[i][0], &k, &m);
        if (k != table[i][1] || m != table[i][2])
            printf("  auto %d channels: %d+%d, want %d+%d\n", table[i][0], k, m, table[i][1], table[i][2]);
        CHECK(k == table[i][1] && m == table[i][2]);
    }
    /* Every channel count: distinct channels, survives f, k in 1..8. */
    for (int n = 2; n <= 100; n++) {
        int k, m, f = n >= 6 ? 2 : 1;
        blk_layout_auto(n, &k, &m);
        CHECK(k >= 1 && k <= 8 && m == f && k + m <= n && k + m <= BLK_MAX_SHARDS);
    }

    static const struct {
        const char *s;
        int n, rc, k, m;
    } parse[] = {
        {"none", 5, 0, 1, 0},       {"auto", 5, 0, 3, 1},
        {"auto", 1, 0, 1, 0},       {"auto", 12, 0, 8, 2},
        {"mirror", 1, 0, 1, 0},     {"mirror", 2, 0, 1, 1},
        {"mirror", 3, 0, 1, 2},     {"mirror", 40, 0, 1, 31},
        {"rs:4+2", 6, 0, 4, 2},     {"rs:4+2", 9, 0, 4, 2},
        {"rs:1+0", 1, 0, 1, 0},     {"rs:16+16", 32, 0, 16, 16},
        {"rs:32+0", 40, 0, 32, 0},  {"rs:10+4", 14, 0, 10, 4},
        {"rs:4+2", 5, -1, 0, 0},    {"rs:0+2", 5, -1, 0, 0},
        {"rs:17+16", 40, -1, 0, 0}, {"rs:1+32", 40, -1, 0, 0},
        {"rs:4+", 9, -1, 0, 0},     {"rs:4", 9, -1, 0, 0},
        {"rs:+2", 9, -1, 0, 0},     {"rs:4+2x", 9, -1, 0, 0},
        {"rs:-1+2", 9, -1, 0, 0},   {"rs:4+-2", 9, -1, 0, 0},
        {"rs:004+2", 9, -1, 0, 0},  {"rs: 4+2", 9, -1, 0, 0},
        {"rs:4 +2", 9, -1, 0, 0},   {"RS:4+2", 9, -1, 0, 0},
        {"rs:4+2 ", 9, -1, 0, 0},   {"", 9, -1, 0, 0},
        {"None", 9, -1, 0, 0},      {"auto ", 9, -1, 0, 0},
        {"rs:", 9, -1, 0, 0},       {"rs:99999999999+1", 9, -1, 0, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(parse); i++) {
        int k = -5, m = -5;
        int rc = blk_layout_parse(parse[i].s, parse[i].n, &k, &m);
        int ok =
            rc == parse[i].rc && (rc != 0 || (k == parse[i].k && m == parse[i].m)) && (rc == 0 || (k == -5 && m == -5));
        if (!ok)
            printf("  parse \"%s\" with %d channels: rc %d, %d+%d\n", parse[i].s, parse[i].n, rc, k, m);
        CHECK(ok);
    }
}

/* ---- throughput (printed, never checked) ---- */

/* Runs fn over bytes bytes until at least 0.3 s have passed; MB/s. */
static double rate(void (*fn)(void *), void *arg, size_t bytes)
{
    double t0 = now(), t;
    long runs = 0;
    do {
        fn(arg);
        runs++;
        t = now() - t0;
    } while (t < 0.3);
    return (double)bytes * (double)runs / t / 1e6;
}

struct bench {
    const struct blk_ec *ec;
    const struct blk_keyring *kr;
    struct stripe *s;
    unsigned char **have, **out;
    int *want, n_want;
    unsigned char key[32], tag[32];
};

static void run_encode(void *arg)
{
    struct bench *b = arg;
    blk_ec_encode(b->ec, b->s->len, b->s->shard, b->s->shard + b->s->k);
}

static void run_rebuild(void *arg)
{
    struct bench *b = arg;
    if (blk_ec_rebuild(b->ec, b->s->len, b->have, b->want, b->n_want, b->out) != BLK_OK)
        abort();
}

static void run_gmac(void *arg)
{
    struct bench *b = arg;
    unsigned char header[BLK_SHARD_HEADER_LEN];
    if (blk_shard_seal(b->kr, b->key, 0, b->s->k, b->s->m, b->s->sealed_len, b->s->shard[0], b->s->len, header,
                       b->tag) != BLK_OK)
        abort();
}

static void run_unkeyed(void *arg)
{
    struct bench *b = arg;
    unsigned char header[BLK_SHARD_HEADER_LEN];
    if (blk_shard_seal(NULL, b->key, 0, b->s->k, b->s->m, b->s->sealed_len, b->s->shard[0], b->s->len, header,
                       b->tag) != BLK_OK)
        abort();
}

static void run_hmac(void *arg)
{
    struct bench *b = arg;
    unsigned int n = 0;
    if (HMAC(EVP_sha256(), b->key, 32, b->s->shard[0], b->s->len, b->tag, &n) == NULL)
        abort();
}

static void bench(void)
{
    struct blk_keyring *kr = ring(1);
    struct blk_ec *ec = NULL;
    struct stripe s;
    struct bench b;
    memset(&b, 0, sizeof(b));
    if (blk_ec_new(4, 2, &ec) != BLK_OK)
        abort();
    stripe_make(&s, ec, 4, 2, 16 * MIB);
    b.ec = ec;
    b.kr = kr;
    b.s = &s;
    printf("throughput (information, not checked; this build's flags apply):\n");
    printf("  encode 4+2, 16 MiB block:          %8.0f MB/s of block\n", rate(run_encode, &b, 16 * MIB));
    unsigned char *have[6] = {NULL, NULL, s.shard[2], s.shard[3], s.shard[4], s.shard[5]};
    unsigned char *out[2] = {xmalloc(s.len), xmalloc(s.len)};
    int want[2] = {0, 1};
    b.have = have;
    b.out = out;
    b.want = want;
    b.n_want = 2;
    printf("  rebuild 4+2, 2 data shards lost:   %8.0f MB/s of block\n", rate(run_rebuild, &b, 16 * MIB));
    b.n_want = 1;
    have[1] = s.shard[1];
    printf("  rebuild 4+2, 1 data shard lost:    %8.0f MB/s of block\n", rate(run_rebuild, &b, 16 * MIB));
    printf("  shard tag GMAC (AES-256-GCM AAD):  %8.0f MB/s (4 MiB shard)\n", rate(run_gmac, &b, s.len));
    printf("  HMAC-SHA256, same bytes:           %8.0f MB/s\n", rate(run_hmac, &b, s.len));
    printf("  unkeyed tag (SHA-256):             %8.0f MB/s\n", rate(run_unkeyed, &b, s.len));
    free(out[0]);
    free(out[1]);
    stripe_release(&s);
    blk_ec_free(ec);
    blk_keyring_free(kr);
}

int main(int argc, char **argv)
{
    rng = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL) * 2654435761u + 1;
    if (rng == 0)
        rng = 1;
    printf("seed %llu\n", (unsigned long long)rng);
    for (size_t i = 0; i < sizeof(master); i++)
        master[i] = (unsigned char)(i * 7 + 3);
    test_shard_len();
    test_ec_new();
    test_erasures();
    test_all_geometries();
    test_threads();
    test_rebuild_args();
    test_seal_open();
    test_keys();
    test_end_to_end();
    test_layouts();
    bench();
    return check_summary();
}

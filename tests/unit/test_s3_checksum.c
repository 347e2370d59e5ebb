/* test_s3_checksum.c — the CRCs (s3/crc.c) against a byte-at-a-time table
 * reference on many lengths, alignments and streamed pieces; multipart
 * checksums: CRC combination against direct computation over the joined
 * bytes, COMPOSITE and FULL_OBJECT values, algorithm names and AWS's allowed
 * combinations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"
#include "s3/s3_int.h"
#include "tests/unit/check.h"

static const char *const crc_algs[] = {"crc32", "crc32c", "crc64nvme"};

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* The CRC of data as an integer, computed directly. */
static uint64_t crc_of(const char *alg, const unsigned char *p, size_t n)
{
    unsigned char d[32];
    size_t l = s3_checksum_compute(alg, strlen(alg), p, n, d);
    uint64_t c = 0;
    for (size_t i = 0; i < l; i++)
        c = c << 8 | d[i];
    return c;
}

static void b64_of(const char *alg, const unsigned char *p, size_t n, char out[64])
{
    unsigned char d[32];
    size_t l = s3_checksum_compute(alg, strlen(alg), p, n, d);
    out[s3_base64_encode(d, l, out, 64)] = '\0';
}

/* The reference: one table step per byte, the table built from the reflected
 * polynomial (what s3/ computed before crc.c). */
static uint64_t crc_ref(const char *alg, const unsigned char *p, size_t n)
{
    uint64_t poly = strcmp(alg, "crc32") == 0    ? 0xedb88320u
                    : strcmp(alg, "crc32c") == 0 ? 0x82f63b78u
                                                 : 0x9a6c9329ac4bc9b5ull;
    uint64_t mask = strcmp(alg, "crc64nvme") == 0 ? ~0ull : 0xffffffffull;
    uint64_t table[256];
    for (uint64_t i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        table[i] = c;
    }
    uint64_t crc = mask;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc ^ mask;
}

/* The CRC of p[0..n) through the streaming context, fed in random pieces
 * (empty ones too) of at most cap bytes. */
static uint64_t crc_streamed(const char *alg, const unsigned char *p, size_t n, size_t cap)
{
    struct s3_checksum_ctx c;
    unsigned char d[32];
    if (s3_checksum_init(&c, alg) != 0)
        return 0;
    size_t at = 0;
    while (at < n) {
        size_t k = (size_t)(rnd() % (cap + 1));
        if (k > n - at)
            k = n - at;
        if (s3_checksum_update(&c, p + at, k) != 0)
            break;
        at += k;
    }
    size_t l = s3_checksum_final(&c, d);
    s3_checksum_release(&c);
    uint64_t v = 0;
    for (size_t i = 0; i < l; i++)
        v = v << 8 | d[i];
    return v;
}

/* Published check values ("123456789"). */
static void test_vectors(void)
{
    const unsigned char *s = (const unsigned char *)"123456789";
    CHECK(crc_of("crc32", s, 9) == 0xcbf43926u);
    CHECK(crc_of("crc32c", s, 9) == 0xe3069283u);
    CHECK(crc_of("crc64nvme", s, 9) == 0xae8b14860a799888ull);
    for (size_t a = 0; a < 3; a++) /* the streaming context, a byte at a time */
        CHECK(crc_streamed(crc_algs[a], s, 9, 1) == crc_of(crc_algs[a], s, 9));
    CHECK(s3_crc32(0, s, 9) == 0xcbf43926u && s3_crc32c(0, s, 9) == 0xe3069283u);
    CHECK(s3_crc64nvme(0, s, 9) == 0xae8b14860a799888ull);
    CHECK(s3_crc32(0, s, 0) == 0 && s3_crc32c(0, s, 0) == 0 && s3_crc64nvme(0, s, 0) == 0);
}

/* Whole buffers, streamed pieces and the s3_crc* calls themselves against the
 * reference, on every length to 300 bytes and around the folding sizes, at
 * every alignment mod 16. */
static void test_against_reference(void)
{
    enum { MAXLEN = 300000 };
    static const size_t big[] = {511, 512, 513, 1023, 4095, 4096, 4097, 65535, 65536 + 7, 262144 + 13, MAXLEN - 16};
    static const size_t caps[] = {1, 7, 63, 64, 65, 200, 5000, 100000};
    unsigned char *buf = malloc(MAXLEN);
    for (size_t i = 0; i < MAXLEN; i++)
        buf[i] = (unsigned char)rnd();
    for (size_t a = 0; a < 3; a++) {
        const char *alg = crc_algs[a];
        int bad = 0;
        for (size_t li = 0; li < 301 + sizeof(big) / sizeof(big[0]); li++) {
            size_t n = li < 301 ? li : big[li - 301];
            for (size_t off = 0; off < 16; off++) {
                const unsigned char *p = buf + off;
                uint64_t want = crc_ref(alg, p, n);
                size_t cut = n ? (size_t)(rnd() % n) : 0;
                uint64_t direct = a == 0   ? s3_crc32(s3_crc32(0, p, cut), p + cut, n - cut)
                                  : a == 1 ? s3_crc32c(s3_crc32c(0, p, cut), p + cut, n - cut)
                                           : s3_crc64nvme(s3_crc64nvme(0, p, cut), p + cut, n - cut);
                uint64_t whole = crc_of(alg, p, n);
                uint64_t streamed = crc_streamed(alg, p, n, caps[rnd() % (sizeof(caps) / sizeof(caps[0]))]);
                if (whole != want || streamed != want || direct != want) {
                    if (bad++ == 0)
                        printf("%s: length %zu at +%zu: want %016llx, whole %016llx, streamed %016llx, split at %zu "
                               "%016llx\n",
                               alg, n, off, (unsigned long long)want, (unsigned long long)whole,
                               (unsigned long long)streamed, cut, (unsigned long long)direct);
                }
            }
        }
        CHECK(bad == 0);
    }
    free(buf);
}

/* combine(crc(A), crc(B), |B|) == crc(A || B) for random splits, including empty sides. */
static void test_combine(void)
{
    size_t n = 200000;
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)rnd();
    for (size_t a = 0; a < 3; a++) {
        const char *alg = crc_algs[a];
        size_t splits[] = {0, 1, 7, 8, 4096, 65537, n - 1, n};
        for (size_t k = 0; k < sizeof(splits) / sizeof(splits[0]) + 20; k++) {
            size_t cut = k < sizeof(splits) / sizeof(splits[0]) ? splits[k] : (size_t)(rnd() % (n + 1));
            uint64_t got = 0;
            CHECK(s3_crc_combine(alg, crc_of(alg, buf, cut), crc_of(alg, buf + cut, n - cut), n - cut, &got) == 0);
            CHECK(got == crc_of(alg, buf, n));
        }
    }
    uint64_t x;
    CHECK(s3_crc_combine("sha1", 1, 2, 3, &x) == -1);
    free(buf);
}

/* FULL_OBJECT over many parts equals the CRC of the whole; COMPOSITE equals
 * H(raw part digests) "-N", both computed here independently. */
static void test_multipart(void)
{
    enum { PARTS = 7 };
    int64_t sizes[PARTS] = {5, 0, 100000, 1, 33333, 65536, 12};
    size_t total = 0;
    for (int i = 0; i < PARTS; i++)
        total += (size_t)sizes[i];
    unsigned char *buf = malloc(total);
    for (size_t i = 0; i < total; i++)
        buf[i] = (unsigned char)rnd();
    static const char *const all[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    for (size_t a = 0; a < 5; a++) {
        const char *alg = all[a];
        char vals[PARTS][64], out[S3_CHECKSUM_MAX], want[64];
        const char *ptrs[PARTS];
        unsigned char cat[PARTS * 32], d[32];
        size_t off = 0, cl = 0;
        for (int i = 0; i < PARTS; i++) {
            b64_of(alg, buf + off, (size_t)sizes[i], vals[i]);
            ptrs[i] = vals[i];
            cl += s3_checksum_compute(alg, strlen(alg), buf + off, (size_t)sizes[i], cat + cl);
            off += (size_t)sizes[i];
        }
        int crc = a < 3;
        if (crc) {
            CHECK(s3_checksum_multipart(alg, 1, ptrs, sizes, PARTS, out, sizeof(out)) == S3E_OK);
            b64_of(alg, buf, total, want);
            CHECK_STR(out, want);
        } else {
            CHECK(s3_checksum_multipart(alg, 1, ptrs, sizes, PARTS, out, sizeof(out)) == S3E_INVALID_ARGUMENT);
        }
        if (strcmp(alg, "crc64nvme") != 0) {
            CHECK(s3_checksum_multipart(alg, 0, ptrs, sizes, PARTS, out, sizeof(out)) == S3E_OK);
            size_t dl = s3_checksum_compute(alg, strlen(alg), cat, cl, d);
            want[s3_base64_encode(d, dl, want, sizeof(want))] = '\0';
            strcat(want, "-7");
            CHECK_STR(out, want);
        } else {
            CHECK(s3_checksum_multipart(alg, 0, ptrs, sizes, PARTS, out, sizeof(out)) == S3E_INVALID_ARGUMENT);
        }
        /* A part value of the wrong length or not base64 is refused. */
        const char *bad[2] = {vals[0], "AAAA"};
        CHECK(s3_checksum_multipart(alg, crc, bad, sizes, 2, out, sizeof(out)) == S3E_INVALID_DIGEST);
        bad[1] = "!!";
        CHECK(s3_checksum_multipart(alg, crc, bad, sizes, 2, out, sizeof(out)) == S3E_INVALID_DIGEST);
    }
    /* A single part: FULL_OBJECT is that part's CRC. */
    const char *one[1] = {"yZRlqg=="};
    int64_t one_size[1] = {11};
    char out[S3_CHECKSUM_MAX];
    CHECK(s3_checksum_multipart("crc32", 1, one, one_size, 1, out, sizeof(out)) == S3E_OK);
    CHECK_STR(out, "yZRlqg==");
    CHECK(s3_checksum_multipart("crc32", 1, one, one_size, 0, out, sizeof(out)) == S3E_INVALID_ARGUMENT);
    free(buf);
}

static void test_names(void)
{
    CHECK_STR(s3_checksum_alg("CRC64NVME", 9), "crc64nvme");
    CHECK_STR(s3_checksum_alg("Sha256", 6), "sha256");
    CHECK(s3_checksum_alg("md5", 3) == NULL);
    CHECK(s3_checksum_alg("crc3", 4) == NULL);
    CHECK_STR(s3_checksum_alg_upper("crc32c"), "CRC32C");
    CHECK_STR(s3_checksum_xml_name("sha1"), "ChecksumSHA1");
    CHECK_STR(s3_checksum_alg_of_xml("ChecksumCRC64NVME"), "crc64nvme");
    CHECK(s3_checksum_alg_of_xml("ChecksumMD5") == NULL);
    CHECK(s3_checksum_type_ok("crc32", 1) && s3_checksum_type_ok("crc32", 0));
    CHECK(s3_checksum_type_ok("crc64nvme", 1) && !s3_checksum_type_ok("crc64nvme", 0));
    CHECK(!s3_checksum_type_ok("sha256", 1) && s3_checksum_type_ok("sha256", 0));
    CHECK(!s3_checksum_type_ok("md5", 0));
}

static void test_attributes_header(void)
{
    unsigned w = 99;
    CHECK(s3_object_attributes_parse("ETag", 4, &w) == 0 && w == S3_ATTR_ETAG);
    const char *all = "ETag, Checksum,ObjectParts ,\tStorageClass,ObjectSize";
    CHECK(s3_object_attributes_parse(all, strlen(all), &w) == 0 &&
          w == (S3_ATTR_ETAG | S3_ATTR_CHECKSUM | S3_ATTR_OBJECT_PARTS | S3_ATTR_STORAGE_CLASS | S3_ATTR_OBJECT_SIZE));
    CHECK(s3_object_attributes_parse("", 0, &w) == 0 && w == 0);
    CHECK(s3_object_attributes_parse(" , ,", 4, &w) == 0 && w == 0);
    CHECK(s3_object_attributes_parse("ETag,etag", 9, &w) == -1 && w == 0);
    CHECK(s3_object_attributes_parse("ETa", 3, &w) == -1);
    CHECK(s3_object_attributes_parse("ETagX", 5, &w) == -1);
    CHECK(s3_object_attributes_parse("ETag", 3, &w) == -1); /* the length is respected */
}

int main(void)
{
    test_attributes_header();
    test_vectors();
    test_against_reference();
    test_combine();
    test_multipart();
    test_names();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* mpchecksum.c — multipart checksums: algorithm names, CRC combination, and
 * the object checksum of a multipart upload from its parts' checksums.
 *
 * AWS "Checking object integrity in Amazon S3", multipart uploads:
 *   COMPOSITE    base64(H(raw part checksum 1 || … || raw part checksum N)) "-N"
 *                (CRC32, CRC32C, SHA1, SHA256);
 *   FULL_OBJECT  the CRC of the whole object (CRC32, CRC32C, CRC64NVME).
 * The full-object CRC is combined from the part CRCs and sizes without the
 * bytes: for a reflected CRC with all-ones init and final xor,
 *   crc(A || B) = crc(A) · x^(8·|B|) mod P  ⊕  crc(B)
 * (the conditioning cancels out; zlib's crc32_combine). Multiplication is in
 * GF(2)[x] mod P on the reflected representation, where x^k is the bit
 * (top >> k); x^(8·len) is found by squaring, so a combination costs
 * O(log len) multiplications of width bits each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_int.h"

struct crc_def {
    const char *alg;
    uint64_t poly; /* reflected */
    uint64_t top;  /* the bit of x^0 */
    size_t bytes;
};

static const struct crc_def crcs[] = {
    {"crc32", 0xedb88320u, 1ull << 31, 4},
    {"crc32c", 0x82f63b78u, 1ull << 31, 4},
    {"crc64nvme", 0x9a6c9329ac4bc9b5ull, 1ull << 63, 8},
};

static const struct crc_def *crc_find(const char *alg)
{
    for (size_t i = 0; i < sizeof(crcs) / sizeof(crcs[0]); i++)
        if (strcmp(crcs[i].alg, alg) == 0)
            return &crcs[i];
    return NULL;
}

/* a · b mod P, both reflected. */
static uint64_t mult_mod(const struct crc_def *d, uint64_t a, uint64_t b)
{
    uint64_t p = 0;
    for (uint64_t m = d->top; m != 0; m >>= 1) {
        if (a & m)
            p ^= b;
        b = (b & 1) ? (b >> 1) ^ d->poly : b >> 1;
    }
    return p;
}

/* x^(8·len) mod P. */
static uint64_t x8n_mod(const struct crc_def *d, uint64_t len)
{
    uint64_t p = d->top, sq = d->top >> 8;
    while (len != 0) {
        if (len & 1)
            p = mult_mod(d, sq, p);
        sq = mult_mod(d, sq, sq);
        len >>= 1;
    }
    return p;
}

int s3_crc_combine(const char *alg, uint64_t crc1, uint64_t crc2, uint64_t len2, uint64_t *out)
{
    const struct crc_def *d = crc_find(alg);
    if (d == NULL)
        return -1;
    *out = mult_mod(d, x8n_mod(d, len2), crc1) ^ crc2;
    return 0;
}

/* ---- algorithm names ---------------------------------------------------------- */

static const struct {
    const char *alg, *upper, *xml;
} names[] = {
    {"crc32", "CRC32", "ChecksumCRC32"},       {"crc32c", "CRC32C", "ChecksumCRC32C"},
    {"crc64nvme", "CRC64NVME", "ChecksumCRC64NVME"}, {"sha1", "SHA1", "ChecksumSHA1"},
    {"sha256", "SHA256", "ChecksumSHA256"},
};

const char *s3_checksum_alg(const char *v, size_t len)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (s3_memieq(v, len, names[i].alg))
            return names[i].alg;
    return NULL;
}

const char *s3_checksum_alg_upper(const char *alg)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].alg, alg) == 0)
            return names[i].upper;
    return NULL;
}

const char *s3_checksum_xml_name(const char *alg)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].alg, alg) == 0)
            return names[i].xml;
    return NULL;
}

const char *s3_checksum_alg_of_xml(const char *elem)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].xml, elem) == 0)
            return names[i].alg;
    return NULL;
}

int s3_checksum_type_ok(const char *alg, int full_object)
{
    if (full_object)
        return crc_find(alg) != NULL;
    return strcmp(alg, "crc64nvme") != 0 && s3_checksum_alg_upper(alg) != NULL;
}

/* ---- multipart object checksums ------------------------------------------------- */

static size_t digest_len(const char *alg)
{
    const struct crc_def *d = crc_find(alg);
    if (d != NULL)
        return d->bytes;
    if (strcmp(alg, "sha1") == 0)
        return 20;
    if (strcmp(alg, "sha256") == 0)
        return 32;
    return 0;
}

/* The raw big-endian digest of a base64 checksum value of alg. */
static int decode_part(const char *alg, const char *b64, unsigned char out[32])
{
    size_t want = digest_len(alg), n = 0;
    if (want == 0 || b64 == NULL || s3_base64_decode(b64, strlen(b64), out, 32, &n) != 0 || n != want)
        return -1;
    return 0;
}

enum s3_err s3_checksum_multipart(const char *alg, int full_object, const char *const *part_b64,
                                  const int64_t *sizes, size_t n, char *out, size_t out_len)
{
    unsigned char raw[32], digest[32];
    if (n == 0 || n > S3_MAX_PARTS || out_len < S3_CHECKSUM_MAX || !s3_checksum_type_ok(alg, full_object))
        return S3E_INVALID_ARGUMENT;
    if (full_object) {
        const struct crc_def *d = crc_find(alg);
        uint64_t crc = 0;
        for (size_t i = 0; i < n; i++) {
            if (decode_part(alg, part_b64[i], raw) != 0 || sizes[i] < 0)
                return S3E_INVALID_DIGEST;
            uint64_t c = 0;
            for (size_t k = 0; k < d->bytes; k++)
                c = c << 8 | raw[k];
            if (i == 0)
                crc = c;
            else if (s3_crc_combine(alg, crc, c, (uint64_t)sizes[i], &crc) != 0)
                return S3E_INVALID_ARGUMENT;
        }
        for (size_t k = 0; k < d->bytes; k++)
            digest[k] = (unsigned char)(crc >> (8 * (d->bytes - 1 - k)));
        s3_base64_encode(digest, d->bytes, out, out_len);
        return S3E_OK;
    }
    size_t dl = digest_len(alg);
    unsigned char *cat = xmalloc(n * dl);
    for (size_t i = 0; i < n; i++) {
        if (decode_part(alg, part_b64[i], raw) != 0) {
            free(cat);
            return S3E_INVALID_DIGEST;
        }
        memcpy(cat + i * dl, raw, dl);
    }
    size_t got = s3_checksum_compute(alg, strlen(alg), cat, n * dl, digest);
    free(cat);
    ASSERT(got == dl);
    size_t bl = s3_base64_encode(digest, dl, out, out_len);
    snprintf(out + bl, out_len - bl, "-%zu", n);
    return S3E_OK;
}

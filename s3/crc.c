/* crc.c — the CRCs of the x-amz-checksum family, fast: CRC32, CRC32C, CRC64NVME.
 *
 * All three are reflected CRCs with an all-ones init and final xor; each
 * function here takes the finished CRC of the bytes before (0 for none) and
 * returns the finished CRC with buf appended, as zlib's crc32() does, so a
 * body can be fed a piece at a time.
 *   CRC32      polynomial 0x04c11db7 (reflected 0xedb88320): ISA-L's
 *              crc32_gzip_refl, which takes and returns finished values;
 *   CRC32C     0x1edc6f41 (0x82f63b78): ISA-L's crc32_iscsi, which works on
 *              the unconditioned register (init ~0 and no final xor are the
 *              caller's), and takes an int length;
 *   CRC64NVME  0xad93d23594c93659 (0x9a6c9329ac4bc9b5): the same polynomial
 *              as ISA-L's crc64_rocksoft_refl, absent before ISA-L 2.31
 *              (Debian 12 has 2.30), so computed here: on x86-64 with
 *              PCLMULQDQ by folding 64 bytes at a time (Intel, "Fast CRC
 *              Computation for Generic Polynomials Using PCLMULQDQ"), the
 *              ends and other CPUs slicing by 8 bytes; tables and folding
 *              constants built once.
 * Check values (CRC of "123456789"): 0xcbf43926, 0xe3069283, 0xae8b14860a799888.
 * Computation only; any thread.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <isa-l/crc.h>

#include "s3/s3_int.h"

uint32_t s3_crc32(uint32_t crc, const void *buf, size_t len)
{
    return crc32_gzip_refl(crc, buf, (uint64_t)len);
}

uint32_t s3_crc32c(uint32_t crc, const void *buf, size_t len)
{
    unsigned char *p = (unsigned char *)(uintptr_t)buf; /* crc32_iscsi only reads it */
    uint32_t reg = ~crc;
    while (len > 0) {
        size_t k = len < (size_t)INT_MAX ? len : (size_t)1 << 30;
        reg = crc32_iscsi(p, (int)k, reg);
        p += k;
        len -= k;
    }
    return ~reg;
}

#define CRC64NVME_POLY 0x9a6c9329ac4bc9b5ull

static uint64_t t64[8][256];
/* Folding constants: x^n mod P, reflected (bit i is x^(63-i)). */
static uint64_t k127, k191, k511, k575;
static int have_clmul;
static pthread_once_t t64_once = PTHREAD_ONCE_INIT;

static uint64_t xn_mod(unsigned n)
{
    uint64_t v = 1ull << 63; /* x^0 */
    while (n-- > 0)
        v = (v & 1) ? (v >> 1) ^ CRC64NVME_POLY : v >> 1;
    return v;
}

/* t64[0]: one byte's step; t64[k][b]: byte b followed by k zero bytes. */
static void t64_build(void)
{
    for (uint64_t i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC64NVME_POLY : c >> 1;
        t64[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++)
            t64[k][i] = (t64[k - 1][i] >> 8) ^ t64[0][t64[k - 1][i] & 0xff];
    /* A 128-bit lane H·x^64 + L moved D bits on is H·x^(D+64) + L·x^D; the
     * carry-less product of two reflected values comes out times x, hence -1. */
    k127 = xn_mod(127);
    k191 = xn_mod(191);
    k511 = xn_mod(511);
    k575 = xn_mod(575);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The unconditioned register c over p[0..len). */
static uint64_t crc64_slice8(uint64_t c, const unsigned char *p, size_t len)
{
    for (; len > 0 && ((uintptr_t)p & 7) != 0; len--, p++)
        c = t64[0][(c ^ *p) & 0xff] ^ (c >> 8);
    for (; len >= 8; len -= 8, p += 8) {
        c ^= load_le64(p);
        c = t64[7][c & 0xff] ^ t64[6][(c >> 8) & 0xff] ^ t64[5][(c >> 16) & 0xff] ^ t64[4][(c >> 24) & 0xff] ^
            t64[3][(c >> 32) & 0xff] ^ t64[2][(c >> 40) & 0xff] ^ t64[1][(c >> 48) & 0xff] ^ t64[0][c >> 56];
    }
    for (; len > 0; len--, p++)
        c = t64[0][(c ^ *p) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define CLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

CLMUL_TARGET static inline __m128i load16(const unsigned char *p)
{
    return _mm_loadu_si128((const void *)p); /* unaligned */
}

/* x moved on by the distance whose constants k holds (low: H's, high: L's). */
CLMUL_TARGET static inline __m128i fold(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* The unconditioned register c over p[0..len), len >= 64. */
CLMUL_TARGET static uint64_t crc64_clmul(uint64_t c, const unsigned char *p, size_t len)
{
    const __m128i k512 = _mm_set_epi64x((long long)k511, (long long)k575);
    const __m128i k128 = _mm_set_epi64x((long long)k127, (long long)k191);
    __m128i x0 = _mm_xor_si128(load16(p), _mm_cvtsi64_si128((long long)c));
    __m128i x1 = load16(p + 16);
    __m128i x2 = load16(p + 32);
    __m128i x3 = load16(p + 48);
    p += 64;
    len -= 64;
    for (; len >= 64; len -= 64, p += 64) {
        x0 = _mm_xor_si128(fold(x0, k512), load16(p));
        x1 = _mm_xor_si128(fold(x1, k512), load16(p + 16));
        x2 = _mm_xor_si128(fold(x2, k512), load16(p + 32));
        x3 = _mm_xor_si128(fold(x3, k512), load16(p + 48));
    }
    x1 = _mm_xor_si128(fold(x0, k128), x1);
    x2 = _mm_xor_si128(fold(x1, k128), x2);
    x3 = _mm_xor_si128(fold(x2, k128), x3);
    for (; len >= 16; len -= 16, p += 16)
        x3 = _mm_xor_si128(fold(x3, k128), load16(p));
    /* The register is x3's 16 bytes as a message (from a zero register), then the tail. */
    unsigned char last[16];
    _mm_storeu_si128((void *)last, x3);
    return crc64_slice8(crc64_slice8(0, last, 16), p, len);
}
#endif

uint64_t s3_crc64nvme(uint64_t crc, const void *buf, size_t len)
{
    pthread_once(&t64_once, t64_build);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (have_clmul && len >= 64)
        return ~crc64_clmul(~crc, buf, len);
#endif
    return ~crc64_slice8(~crc, buf, len);
}

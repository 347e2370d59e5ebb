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
 *              (Debian 12 has 2.30), so computed here slicing by 8 bytes
 *              with tables built once.
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
static pthread_once_t t64_once = PTHREAD_ONCE_INIT;

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

uint64_t s3_crc64nvme(uint64_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t c = ~crc;
    pthread_once(&t64_once, t64_build);
    for (; len > 0 && ((uintptr_t)p & 7) != 0; len--, p++)
        c = t64[0][(c ^ *p) & 0xff] ^ (c >> 8);
    for (; len >= 8; len -= 8, p += 8) {
        c ^= load_le64(p);
        c = t64[7][c & 0xff] ^ t64[6][(c >> 8) & 0xff] ^ t64[5][(c >> 16) & 0xff] ^ t64[4][(c >> 24) & 0xff] ^
            t64[3][(c >> 32) & 0xff] ^ t64[2][(c >> 40) & 0xff] ^ t64[1][(c >> 48) & 0xff] ^ t64[0][c >> 56];
    }
    for (; len > 0; len--, p++)
        c = t64[0][(c ^ *p) & 0xff] ^ (c >> 8);
    return ~c;
}

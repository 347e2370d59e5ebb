/* checksum.c — the x-amz-checksum algorithms computed a piece at a time.
 *
 * chunked.c computes a checksum over a buffer held whole; a body streamed in
 * blocks (engine/put.c's lane: a PUT or part over 4 MiB, a POST form's file) feeds this one
 * block after another instead. Same algorithms, same digests: CRC32 and
 * CRC32C (reflected, big-endian out), CRC64NVME (all three from crc.c),
 * SHA-1, SHA-256.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "s3/s3.h"
#include "s3/s3_int.h"

enum { K_NONE, K_CRC32, K_CRC32C, K_CRC64, K_MD };

int s3_checksum_init(struct s3_checksum_ctx *c, const char *alg)
{
    memset(c, 0, sizeof(*c));
    if (strcmp(alg, "crc32") == 0 || strcmp(alg, "crc32c") == 0 || strcmp(alg, "crc64nvme") == 0) {
        c->kind = strcmp(alg, "crc32") == 0 ? K_CRC32 : strcmp(alg, "crc32c") == 0 ? K_CRC32C : K_CRC64;
        c->crc = 0;
        return 0;
    }
    const EVP_MD *md = strcmp(alg, "sha1") == 0 ? EVP_sha1() : strcmp(alg, "sha256") == 0 ? EVP_sha256() : NULL;
    if (md == NULL)
        return -1;
    c->md = EVP_MD_CTX_new();
    if (c->md == NULL || !EVP_DigestInit_ex(c->md, md, NULL)) {
        EVP_MD_CTX_free(c->md);
        c->md = NULL;
        return -1;
    }
    c->kind = K_MD;
    return 0;
}

int s3_checksum_update(struct s3_checksum_ctx *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    if (c->kind == K_CRC32) {
        c->crc = s3_crc32((uint32_t)c->crc, p, n);
    } else if (c->kind == K_CRC32C) {
        c->crc = s3_crc32c((uint32_t)c->crc, p, n);
    } else if (c->kind == K_CRC64) {
        c->crc = s3_crc64nvme(c->crc, p, n);
    } else if (c->kind == K_MD) {
        return EVP_DigestUpdate(c->md, p, n) ? 0 : -1;
    } else {
        return -1;
    }
    return 0;
}

size_t s3_checksum_final(struct s3_checksum_ctx *c, unsigned char out[32])
{
    unsigned int dl = 0;
    switch (c->kind) {
    case K_CRC32:
    case K_CRC32C:
        for (int i = 0; i < 4; i++)
            out[i] = (unsigned char)((uint32_t)c->crc >> (24 - 8 * i));
        return 4;
    case K_CRC64:
        for (int i = 0; i < 8; i++)
            out[i] = (unsigned char)(c->crc >> (56 - 8 * i));
        return 8;
    case K_MD:
        if (!EVP_DigestFinal_ex(c->md, out, &dl))
            return 0;
        return dl;
    default: return 0;
    }
}

void s3_checksum_release(struct s3_checksum_ctx *c)
{
    if (c == NULL)
        return;
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

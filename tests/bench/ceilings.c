/* ceilings.c — what the machine can do at all, measured in the same run as tgs3: digests, AES-GCM, the disk.
 *
 * The benchmark reports tgs3's figures as ratios of these ceilings (and of
 * nginx), so a slower or busier machine moves both sides together.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "tests/bench/bench.h"

#define MIB (1024.0 * 1024.0)

double bench_digest_rate(const struct evp_md_st *md, const unsigned char *buf, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char out[64];
    unsigned int n;
    double t0 = bench_now(), t;
    uint64_t bytes = 0;
    EVP_DigestInit_ex(ctx, md, NULL);
    do {
        EVP_DigestUpdate(ctx, buf, len);
        bytes += len;
        t = bench_now() - t0;
    } while (t < 1.0);
    EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
    return (double)bytes / MIB / t;
}

double bench_gcm_rate(const unsigned char *buf, size_t len)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char key[32] = {1}, iv[12] = {2}, tag[16];
    unsigned char *out = xmalloc(len + 16);
    double t0 = bench_now(), t;
    uint64_t bytes = 0;
    int n;
    do {
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv);
        EVP_EncryptUpdate(ctx, out, &n, buf, (int)len);
        EVP_EncryptFinal_ex(ctx, out + n, &n);
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
        bytes += len;
        t = bench_now() - t0;
    } while (t < 1.0);
    EVP_CIPHER_CTX_free(ctx);
    free(out);
    return (double)bytes / MIB / t;
}

/* The disk under the run's directory, as the emulator's store uses it:
 * len bytes written with O_DIRECT in blocks of block_size, then read back the
 * same way by BENCH_DISK_READERS threads side by side (a GET reads the block it
 * streams and up to four ahead), MiB/s each; 0 where O_DIRECT is refused.
 * The emulator keeps Telegram's copy of every document there, so a GET of
 * blocks in no cache cannot read faster. */
struct disk_reader {
    pthread_t th;
    int fd, err;
    size_t first, len, bs;
};

static void *disk_read_main(void *arg)
{
    struct disk_reader *d = arg;
    void *tmp = NULL;
    if (posix_memalign(&tmp, 4096, d->bs) != 0) {
        d->err = 1;
        return NULL;
    }
    for (size_t off = d->first * d->bs; off < d->len; off += BENCH_DISK_READERS * d->bs)
        if (pread(d->fd, tmp, d->bs, (off_t)off) != (ssize_t)d->bs)
            d->err = 1;
    free(tmp);
    return NULL;
}

void bench_disk_rates(const unsigned char *buf, size_t len, const char *dir, size_t bs, double *wr, double *rd)
{
    char path[4200];
    void *tmp = NULL;
    struct disk_reader rdr[BENCH_DISK_READERS];
    *wr = *rd = 0;
    snprintf(path, sizeof(path), "%s/disk-ceiling", dir);
    if (posix_memalign(&tmp, 4096, bs) != 0)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
    if (fd < 0)
        goto out;
    len = len / bs * bs;
    double t0 = bench_now();
    for (size_t off = 0; off < len; off += bs) {
        memcpy(tmp, buf + off, bs);
        if (pwrite(fd, tmp, bs, (off_t)off) != (ssize_t)bs)
            goto out;
    }
    *wr = (double)len / MIB / (bench_now() - t0);
    t0 = bench_now();
    int err = 0;
    size_t started = 0;
    for (size_t i = 0; i < BENCH_DISK_READERS; i++) {
        rdr[i] = (struct disk_reader){.fd = fd, .first = i, .len = len, .bs = bs};
        if (pthread_create(&rdr[i].th, NULL, disk_read_main, &rdr[i]) != 0)
            break;
        started++;
    }
    for (size_t i = 0; i < started; i++) {
        pthread_join(rdr[i].th, NULL);
        err |= rdr[i].err;
    }
    if (started == BENCH_DISK_READERS && !err)
        *rd = (double)len / MIB / (bench_now() - t0);
out:
    if (fd >= 0)
        close(fd);
    unlink(path);
    free(tmp);
}

/* Random bytes (AES-128-CTR keystream): incompressible, no two blocks alike. */
unsigned char *bench_random_data(size_t len)
{
    unsigned char *buf = xmalloc(len);
    unsigned char key[16], iv[16];
    for (size_t i = 0; i < 16; i++) {
        key[i] = (unsigned char)(rand() & 0xff);
        iv[i] = (unsigned char)(rand() & 0xff);
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, key, iv);
    memset(buf, 0, len);
    for (size_t off = 0; off < len;) {
        size_t k = len - off > (1u << 30) ? (1u << 30) : len - off;
        int n;
        EVP_EncryptUpdate(ctx, buf + off, &n, buf + off, (int)k);
        off += k;
    }
    EVP_CIPHER_CTX_free(ctx);
    return buf;
}

/* test_blk_seal.c — unit tests of gateway/blocks: seal/open round trips, tampering, wrong
 * identity (associated data), wrong and rotated key ids, keyed hashes, the key file, opening
 * into another buffer (blk_open_copy).
 *
 * One line per failed check, then the summary line `N passed, N failed`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/blocks/blk.h"
#include "tests/unit/check.h"

static unsigned char master[3 * BLK_KEY_LEN];

static int contains(const unsigned char *hay, size_t n, const unsigned char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static struct blk_keyring *ring(size_t n)
{
    struct blk_keyring *kr = NULL;
    CHECK(blk_keyring_new(master, n, &kr) == BLK_OK);
    return kr;
}

/* Seals len bytes of a pattern; returns the malloc'd sealed buffer. */
static unsigned char *seal(struct blk_keyring *kr, enum blk_kind kind, const unsigned char *id, const unsigned char *plain,
                           size_t len, int *kid, unsigned char *nonce)
{
    unsigned char *out = xmalloc(len + BLK_OVERHEAD);
    CHECK(blk_seal(kr, kind, id, plain, len, out, kid, nonce) == BLK_OK);
    return out;
}

static void test_round_trip(void)
{
    struct blk_keyring *kr = ring(1);
    unsigned char id[BLK_ID_LEN], nonce[BLK_NONCE_LEN], nonce2[BLK_NONCE_LEN];
    size_t sizes[] = {1, 15, 16, 17, 4096, 1000003};
    CHECK(blk_random(id, sizeof(id)) == BLK_OK);
    for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
        size_t len = sizes[s], got = 0;
        unsigned char *plain = xmalloc(len);
        for (size_t i = 0; i < len; i++)
            plain[i] = (unsigned char)(i * 31 + 7);
        int kid = 0;
        unsigned char *sealed = seal(kr, BLK_KIND_DATA, id, plain, len, &kid, nonce);
        CHECK(kid == 1);
        CHECK(memcmp(sealed + BLK_HEADER_LEN, plain, len < 16 ? len : 16) != 0); /* not plaintext */
        CHECK(memcmp(sealed + 24, nonce, BLK_NONCE_LEN) == 0);
        CHECK(blk_open(kr, BLK_KIND_DATA, id, 1, len, sealed, len + BLK_OVERHEAD, &got) == BLK_OK);
        CHECK(got == len && memcmp(sealed + BLK_HEADER_LEN, plain, len) == 0);
        /* A second seal of the same data uses a fresh nonce and differs. */
        int kid2 = 0;
        unsigned char *again = seal(kr, BLK_KIND_DATA, id, plain, len, &kid2, nonce2);
        CHECK(memcmp(nonce, nonce2, BLK_NONCE_LEN) != 0);
        CHECK(memcmp(again + BLK_HEADER_LEN, sealed + BLK_HEADER_LEN, len) != 0 || len == 0);
        /* Any key id accepted, any length accepted. */
        CHECK(blk_open(kr, BLK_KIND_DATA, id, 0, SIZE_MAX, again, len + BLK_OVERHEAD, &got) == BLK_OK && got == len);
        free(again);
        free(sealed);
        free(plain);
    }
    blk_keyring_free(kr);
}

static void test_tamper(void)
{
    struct blk_keyring *kr = ring(1);
    unsigned char id[BLK_ID_LEN] = {1, 2, 3}, nonce[BLK_NONCE_LEN], plain[1000];
    memset(plain, 'A', sizeof(plain));
    int kid;
    unsigned char *ref = seal(kr, BLK_KIND_DATA, id, plain, sizeof(plain), &kid, nonce);
    size_t n = sizeof(plain) + BLK_OVERHEAD, got;
    unsigned char *buf = xmalloc(n);
    /* Flip one bit at many positions: header, ciphertext, tag. */
    size_t positions[] = {0, 4, 5, 7, 8, 23, 24, 35, 36, 500, n - 17, n - 16, n - 1};
    for (size_t p = 0; p < ARRAY_SIZE(positions); p++) {
        memcpy(buf, ref, n);
        buf[positions[p]] ^= 0x01;
        enum blk_status s = blk_open(kr, BLK_KIND_DATA, id, 1, sizeof(plain), buf, n, &got);
        CHECK(s != BLK_OK);
        /* No plaintext is left behind after a failure. */
        CHECK(!contains(buf, n, plain, 16));
    }
    /* Truncated and extended buffers. */
    memcpy(buf, ref, n);
    CHECK(blk_open(kr, BLK_KIND_DATA, id, 1, sizeof(plain), buf, n - 1, &got) != BLK_OK);
    memcpy(buf, ref, n);
    CHECK(blk_open(kr, BLK_KIND_DATA, id, 1, SIZE_MAX, buf, n - 1, &got) == BLK_ERR_AUTH);
    CHECK(blk_open(kr, BLK_KIND_DATA, id, 1, 0, buf, 10, &got) == BLK_ERR_FORMAT);
    free(buf);
    free(ref);
    blk_keyring_free(kr);
}

/* blk_open_copy: the same answers as blk_open, the plaintext into out, the sealed buffer untouched. */
static void test_open_copy(void)
{
    struct blk_keyring *kr = ring(2);
    unsigned char id[BLK_ID_LEN] = {9, 8, 7}, other[BLK_ID_LEN] = {9, 8, 6}, nonce[BLK_NONCE_LEN], plain[5000];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (unsigned char)(i * 13 + 1);
    int kid = 0;
    unsigned char *sealed = seal(kr, BLK_KIND_DATA, id, plain, sizeof(plain), &kid, nonce);
    size_t n = sizeof(plain) + BLK_OVERHEAD, got = 0;
    unsigned char *keep = xmalloc(n), *out = xmalloc(sizeof(plain));
    memcpy(keep, sealed, n);
    CHECK(blk_open_copy(kr, BLK_KIND_DATA, id, kid, sizeof(plain), sealed, n, out, &got) == BLK_OK);
    CHECK(got == sizeof(plain) && memcmp(out, plain, sizeof(plain)) == 0);
    CHECK(memcmp(sealed, keep, n) == 0); /* others may read it meanwhile: left as it was */
    /* Another reader of the same document opens it too. */
    memset(out, 0, sizeof(plain));
    CHECK(blk_open_copy(kr, BLK_KIND_DATA, id, 0, SIZE_MAX, sealed, n, out, &got) == BLK_OK);
    CHECK(got == sizeof(plain) && memcmp(out, plain, sizeof(plain)) == 0);
    /* Failures: wrong identity, wrong kind, wrong key id, a flipped bit; no plaintext in out. */
    CHECK(blk_open_copy(kr, BLK_KIND_DATA, other, kid, sizeof(plain), sealed, n, out, &got) == BLK_ERR_AUTH);
    CHECK(blk_open_copy(kr, BLK_KIND_SNAPSHOT, id, kid, sizeof(plain), sealed, n, out, &got) == BLK_ERR_FORMAT);
    CHECK(blk_open_copy(kr, BLK_KIND_DATA, id, kid == 1 ? 2 : 1, sizeof(plain), sealed, n, out, &got) == BLK_ERR_KEY);
    sealed[n / 2] ^= 0x10;
    memset(out, 0, sizeof(plain));
    CHECK(blk_open_copy(kr, BLK_KIND_DATA, id, kid, sizeof(plain), sealed, n, out, &got) == BLK_ERR_AUTH);
    CHECK(got == 0 && !contains(out, sizeof(plain), plain + 100, 16));
    CHECK(memcmp(sealed + n / 2 + 1, keep + n / 2 + 1, n - n / 2 - 1) == 0);
    free(out);
    free(keep);
    free(sealed);
    blk_keyring_free(kr);
}

static void test_wrong_ad(void)
{
    struct blk_keyring *kr = ring(1);
    unsigned char id[BLK_ID_LEN] = {9}, other[BLK_ID_LEN] = {8}, nonce[BLK_NONCE_LEN], plain[64] = "hello";
    int kid;
    unsigned char *ref = seal(kr, BLK_KIND_DATA, id, plain, sizeof(plain), &kid, nonce);
    size_t n = sizeof(plain) + BLK_OVERHEAD, got;
    unsigned char *buf = xmalloc(n);
    /* Another block's identity. */
    memcpy(buf, ref, n);
    CHECK(blk_open(kr, BLK_KIND_DATA, other, 1, sizeof(plain), buf, n, &got) == BLK_ERR_AUTH);
    /* The identity rewritten in the header to match: the AD no longer authenticates. */
    memcpy(buf, ref, n);
    memcpy(buf + 8, other, BLK_ID_LEN);
    CHECK(blk_open(kr, BLK_KIND_DATA, other, 1, sizeof(plain), buf, n, &got) == BLK_ERR_AUTH);
    /* Another length than the index records. */
    memcpy(buf, ref, n);
    CHECK(blk_open(kr, BLK_KIND_DATA, id, 1, sizeof(plain) - 1, buf, n, &got) == BLK_ERR_FORMAT);
    /* Another kind: a data block is not a snapshot (header says data). */
    memcpy(buf, ref, n);
    CHECK(blk_open(kr, BLK_KIND_SNAPSHOT, id, 1, sizeof(plain), buf, n, &got) == BLK_ERR_FORMAT);
    /* Kind byte rewritten: the snapshot subkey and the AD both disagree. */
    memcpy(buf, ref, n);
    buf[5] = BLK_KIND_SNAPSHOT;
    CHECK(blk_open(kr, BLK_KIND_SNAPSHOT, id, 1, sizeof(plain), buf, n, &got) == BLK_ERR_AUTH);
    free(buf);
    free(ref);
    blk_keyring_free(kr);
}

static void test_key_ids(void)
{
    struct blk_keyring *one = ring(1), *three = ring(3);
    unsigned char id[BLK_ID_LEN] = {7}, nonce[BLK_NONCE_LEN], plain[100];
    memset(plain, 'z', sizeof(plain));
    size_t n = sizeof(plain) + BLK_OVERHEAD, got;
    int kid = 0;
    CHECK(blk_keyring_current(three) == 3);
    /* Old data (key 1) opens after rotation (keys 1..3). */
    unsigned char *old = seal(one, BLK_KIND_DATA, id, plain, sizeof(plain), &kid, nonce);
    CHECK(kid == 1);
    unsigned char *buf = xmalloc(n);
    memcpy(buf, old, n);
    CHECK(blk_open(three, BLK_KIND_DATA, id, 1, sizeof(plain), buf, n, &got) == BLK_OK);
    /* New data uses key 3 and cannot be opened by a keyring without it. */
    unsigned char *neu = seal(three, BLK_KIND_DATA, id, plain, sizeof(plain), &kid, nonce);
    CHECK(kid == 3 && neu[6] == 3);
    memcpy(buf, neu, n);
    CHECK(blk_open(one, BLK_KIND_DATA, id, 0, sizeof(plain), buf, n, &got) == BLK_ERR_KEY);
    /* The index says key 1 but the document says key 3. */
    memcpy(buf, neu, n);
    CHECK(blk_open(three, BLK_KIND_DATA, id, 1, sizeof(plain), buf, n, &got) == BLK_ERR_KEY);
    /* Key id byte rewritten to another known key: authentication fails. */
    memcpy(buf, neu, n);
    buf[6] = 2;
    CHECK(blk_open(three, BLK_KIND_DATA, id, 2, sizeof(plain), buf, n, &got) == BLK_ERR_AUTH);
    /* A different master key altogether. */
    unsigned char other_master[BLK_KEY_LEN];
    memset(other_master, 0x55, sizeof(other_master));
    struct blk_keyring *stranger = NULL;
    CHECK(blk_keyring_new(other_master, 1, &stranger) == BLK_OK);
    memcpy(buf, old, n);
    CHECK(blk_open(stranger, BLK_KIND_DATA, id, 1, sizeof(plain), buf, n, &got) == BLK_ERR_AUTH);
    blk_keyring_free(stranger);
    free(buf);
    free(old);
    free(neu);
    blk_keyring_free(one);
    blk_keyring_free(three);
}

static void test_hash(void)
{
    struct blk_keyring *a = ring(1), *b = NULL;
    unsigned char h1[BLK_HASH_LEN], h2[BLK_HASH_LEN], h3[BLK_HASH_LEN];
    CHECK(blk_hash(a, "abc", 3, h1) == BLK_OK);
    CHECK(blk_hash(a, "abc", 3, h2) == BLK_OK);
    CHECK(memcmp(h1, h2, BLK_HASH_LEN) == 0);
    CHECK(blk_hash(a, "abd", 3, h2) == BLK_OK);
    CHECK(memcmp(h1, h2, BLK_HASH_LEN) != 0);
    unsigned char m2[BLK_KEY_LEN];
    memset(m2, 0xAA, sizeof(m2));
    CHECK(blk_keyring_new(m2, 1, &b) == BLK_OK);
    CHECK(blk_hash(b, "abc", 3, h3) == BLK_OK);
    CHECK(memcmp(h1, h3, BLK_HASH_LEN) != 0); /* keyed: another key, another hash */
    /* Not the bare SHA-256 of "abc" (ba7816bf...). */
    CHECK(!(h1[0] == 0xba && h1[1] == 0x78 && h1[2] == 0x16));
    blk_keyring_free(a);
    blk_keyring_free(b);
}

static void test_key_file(void)
{
    char dir[64], path[128];
    snprintf(dir, sizeof(dir), "/tmp/test_blk_%ld", (long)getpid());
    snprintf(path, sizeof(path), "%s/master.key", dir);
    CHECK(mkdir(dir, 0700) == 0);
    struct blk_keyring *kr = NULL;
    int created = 0, loose = 0;
    char err[256];
    CHECK(blk_keyring_load(path, 0, &kr, &created, &loose, err, sizeof(err)) == BLK_ERR_IO && kr == NULL);
    CHECK(strstr(err, "master.key") != NULL);
    CHECK(blk_keyring_load(path, 1, &kr, &created, &loose, err, sizeof(err)) == BLK_OK && kr != NULL);
    CHECK(created == 1 && loose == 0);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == BLK_KEY_LEN && (sb.st_mode & 0777) == 0600);
    unsigned char id[BLK_ID_LEN] = {0}, nonce[BLK_NONCE_LEN], plain[10] = "secret!!!";
    int kid;
    unsigned char *sealed = seal(kr, BLK_KIND_SNAPSHOT, id, plain, sizeof(plain), &kid, nonce);
    blk_keyring_free(kr);
    /* Reloading gives the same keys. */
    kr = NULL;
    CHECK(blk_keyring_load(path, 1, &kr, &created, &loose, err, sizeof(err)) == BLK_OK && created == 0);
    size_t got;
    CHECK(kr && blk_open(kr, BLK_KIND_SNAPSHOT, id, 0, SIZE_MAX, sealed, sizeof(plain) + BLK_OVERHEAD, &got) == BLK_OK);
    blk_keyring_free(kr);
    /* A loose mode is reported; a malformed file refused. */
    CHECK(chmod(path, 0644) == 0);
    kr = NULL;
    CHECK(blk_keyring_load(path, 0, &kr, &created, &loose, err, sizeof(err)) == BLK_OK && loose == 1);
    blk_keyring_free(kr);
    FILE *fp = fopen(path, "ab");
    CHECK(fp != NULL && fwrite("x", 1, 1, fp) == 1);
    if (fp)
        fclose(fp);
    kr = NULL;
    CHECK(blk_keyring_load(path, 0, &kr, &created, &loose, err, sizeof(err)) == BLK_ERR_IO && kr == NULL);
    free(sealed);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(master); i++)
        master[i] = (unsigned char)(i * 7 + 1);
    test_round_trip();
    test_tamper();
    test_open_copy();
    test_wrong_ad();
    test_key_ids();
    test_hash();
    test_key_file();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* blk.c — AES-256-GCM sealing, HKDF subkeys, keyed hashes and the key file.
 *
 * DESIGN: the keyring is built once (from the key file) and then only read,
 * so the sealing functions are safe on any thread. Each master key yields
 * four subkeys through HKDF-SHA256 with distinct info strings, so the AES
 * key never doubles as the HMAC key, a snapshot key cannot open a block and
 * a shard tag (shard.c) is never computed under a sealing key.
 * Nonces are 96 random bits per seal: with at most a few billion blocks per
 * key the collision chance stays far below 2^-32 (NIST SP 800-38D, 8.3).
 * GCM lengths go to OpenSSL in chunks below INT_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "gateway/blocks/blk.h"
#include "gateway/blocks/blk_int.h"

#define BLK_VERSION 1
#define CHUNK (1u << 30) /* bytes per EVP update (its lengths are int) */

static const unsigned char magic[4] = {'T', 'G', 'S', '3'};

struct blk_keys {
    unsigned char seal[BLK_KEY_LEN];
    unsigned char dedup[BLK_KEY_LEN];
    unsigned char snap[BLK_KEY_LEN];
    unsigned char shard[BLK_KEY_LEN]; /* GMAC of stripe shards (shard.c) */
};

struct blk_keyring {
    size_t n;              /* key ids 1..n */
    struct blk_keys *keys; /* [n]; secret */
};

const char *blk_status_name(enum blk_status s)
{
    switch (s) {
    case BLK_OK: return "ok";
    case BLK_ERR_FORMAT: return "not a sealed block of this format";
    case BLK_ERR_KEY: return "unknown or unexpected key id";
    case BLK_ERR_AUTH: return "authentication failed";
    case BLK_ERR_CRYPTO: return "crypto library failure";
    case BLK_ERR_IO: return "key file error";
    }
    return "unknown status";
}

enum blk_status blk_random(void *out, size_t n)
{
    if (n > INT_MAX || RAND_bytes(out, (int)n) != 1)
        return BLK_ERR_CRYPTO;
    return BLK_OK;
}

static int hkdf(const unsigned char *master, const char *info, unsigned char *out)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t outlen = BLK_KEY_LEN;
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_salt(ctx, (const unsigned char *)"tgs3", 4) > 0 &&
             EVP_PKEY_CTX_set1_hkdf_key(ctx, master, BLK_KEY_LEN) > 0 &&
             EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)info, (int)strlen(info)) > 0 &&
             EVP_PKEY_derive(ctx, out, &outlen) > 0 && outlen == BLK_KEY_LEN;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : -1;
}

enum blk_status blk_keyring_new(const unsigned char *keys, size_t n_keys, struct blk_keyring **out)
{
    *out = NULL;
    if (n_keys == 0 || n_keys > BLK_MAX_KEYS)
        return BLK_ERR_IO;
    struct blk_keyring *kr = xcalloc(1, sizeof(*kr));
    kr->n = n_keys;
    kr->keys = xcalloc(n_keys, sizeof(*kr->keys));
    for (size_t i = 0; i < n_keys; i++) {
        const unsigned char *m = keys + i * BLK_KEY_LEN;
        if (hkdf(m, "tgs3 block sealing v1", kr->keys[i].seal) != 0 ||
            hkdf(m, "tgs3 dedup hmac v1", kr->keys[i].dedup) != 0 ||
            hkdf(m, "tgs3 index snapshot v1", kr->keys[i].snap) != 0 ||
            hkdf(m, "tgs3 stripe shard v1", kr->keys[i].shard) != 0) {
            blk_keyring_free(kr);
            return BLK_ERR_CRYPTO;
        }
    }
    *out = kr;
    return BLK_OK;
}

void blk_keyring_free(struct blk_keyring *kr)
{
    if (kr == NULL)
        return;
    if (kr->keys) {
        OPENSSL_cleanse(kr->keys, kr->n * sizeof(*kr->keys));
        free(kr->keys);
    }
    free(kr);
}

int blk_keyring_current(const struct blk_keyring *kr)
{
    return (int)kr->n;
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static enum blk_status create_key_file(const char *path, char *err, size_t errlen)
{
    unsigned char key[BLK_KEY_LEN];
    enum blk_status ret = BLK_ERR_IO;
    int fd = -1;
    if (blk_random(key, sizeof(key)) != BLK_OK) {
        snprintf(err, errlen, "no random bytes for a new key");
        ret = BLK_ERR_CRYPTO;
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if (pwrite_all(fd, key, sizeof(key), 0) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        fd = -1;
        unlink(path);
        goto out;
    }
    if (fsync_dir_of(path) != 0) {
        snprintf(err, errlen, "cannot sync the directory of %s: %s", path, strerror(errno));
        goto out;
    }
    ret = BLK_OK;
out:
    if (fd >= 0)
        close(fd);
    OPENSSL_cleanse(key, sizeof(key));
    return ret;
}

enum blk_status blk_keyring_load(const char *path, int create, struct blk_keyring **out, int *created,
                                 int *loose_mode, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    size_t cap = (size_t)BLK_MAX_KEYS * BLK_KEY_LEN + 1, len = 0;
    enum blk_status ret = BLK_ERR_IO;
    struct stat sb;
    int fd = -1;

    *out = NULL;
    *created = 0;
    *loose_mode = 0;
    err[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        ret = create_key_file(path, err, errlen);
        if (ret != BLK_OK)
            goto out;
        *created = 1;
        ret = BLK_ERR_IO;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "key file %s is not a regular file", path);
        goto out;
    }
    *loose_mode = (sb.st_mode & 077) != 0;
    buf = xmalloc(cap);
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read key file %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap)
            break;
    }
    if (len == 0 || len % BLK_KEY_LEN != 0 || len / BLK_KEY_LEN > BLK_MAX_KEYS) {
        snprintf(err, errlen, "key file %s must hold 1 to %d keys of %d raw bytes (it has %zu bytes)", path,
                 BLK_MAX_KEYS, BLK_KEY_LEN, len);
        goto out;
    }
    ret = blk_keyring_new(buf, len / BLK_KEY_LEN, out);
    if (ret != BLK_OK)
        snprintf(err, errlen, "cannot derive keys: %s", blk_status_name(ret));
out:
    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return ret;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* The key blk_seal and blk_open use for kind under key_id; NULL when the key
 * id is unknown or the kind is not sealed whole (shards carry a tag only). */
static const unsigned char *subkey(const struct blk_keyring *kr, enum blk_kind kind, int key_id)
{
    if (key_id < 1 || (size_t)key_id > kr->n)
        return NULL;
    const struct blk_keys *k = &kr->keys[key_id - 1];
    switch (kind) {
    case BLK_KIND_DATA: return k->seal;
    case BLK_KIND_SNAPSHOT:
    case BLK_KIND_JOURNAL: return k->snap;
    case BLK_KIND_SHARD: break;
    }
    return NULL;
}

const unsigned char *blk_keyring_shard_key(const struct blk_keyring *kr, int key_id)
{
    if (key_id < 1 || (size_t)key_id > kr->n)
        return NULL;
    return kr->keys[key_id - 1].shard;
}

/* GCM over in[0..len) into out (may equal in), AD = header + be64(len). */
static int gcm(int enc, const unsigned char *key, const unsigned char *header, uint64_t plain_len,
               const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char ad[BLK_HEADER_LEN + 8];
    int ok = 0, n = 0;
    memcpy(ad, header, BLK_HEADER_LEN);
    put_be64(ad + BLK_HEADER_LEN, plain_len);
    if (ctx == NULL)
        goto out;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BLK_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, header + 24, enc) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, ad, (int)sizeof(ad)) != 1)
        goto out;
    for (size_t off = 0; off < len;) {
        size_t c = len - off < CHUNK ? len - off : CHUNK;
        if (EVP_CipherUpdate(ctx, out + off, &n, in + off, (int)c) != 1)
            goto out;
        off += c;
    }
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BLK_TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1)
        goto out;
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BLK_TAG_LEN, tag) != 1)
        goto out;
    ok = 1;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

enum blk_status blk_seal(const struct blk_keyring *kr, enum blk_kind kind, const unsigned char *id,
                         const void *plain, size_t len, unsigned char *out, int *key_id, unsigned char *nonce)
{
    int kid = blk_keyring_current(kr);
    const unsigned char *key = subkey(kr, kind, kid);
    if (key == NULL)
        return BLK_ERR_KEY;
    memcpy(out, magic, 4);
    out[4] = BLK_VERSION;
    out[5] = (unsigned char)kind;
    out[6] = (unsigned char)kid;
    out[7] = 0;
    memcpy(out + 8, id, BLK_ID_LEN);
    if (blk_random(out + 24, BLK_NONCE_LEN) != BLK_OK)
        return BLK_ERR_CRYPTO;
    if (gcm(1, key, out, len, plain, len, out + BLK_HEADER_LEN, out + BLK_HEADER_LEN + len) != 0)
        return BLK_ERR_CRYPTO;
    *key_id = kid;
    memcpy(nonce, out + 24, BLK_NONCE_LEN);
    return BLK_OK;
}

enum blk_status blk_peek(const unsigned char *buf, size_t len, int *kind, int *key_id, unsigned char *id)
{
    if (len < BLK_OVERHEAD || memcmp(buf, magic, 4) != 0 || buf[4] != BLK_VERSION || buf[7] != 0)
        return BLK_ERR_FORMAT;
    *kind = buf[5];
    *key_id = buf[6];
    memcpy(id, buf + 8, BLK_ID_LEN);
    return BLK_OK;
}

/* The plaintext goes to out, which blk_open points at buf + BLK_HEADER_LEN (in place). */
enum blk_status blk_open_copy(const struct blk_keyring *kr, enum blk_kind kind, const unsigned char *id, int key_id,
                              size_t plain_len, const unsigned char *buf, size_t sealed_len, unsigned char *out,
                              size_t *plain_len_out)
{
    int k, kid;
    unsigned char hid[BLK_ID_LEN];
    *plain_len_out = 0;
    if (blk_peek(buf, sealed_len, &k, &kid, hid) != BLK_OK || k != (int)kind)
        return BLK_ERR_FORMAT;
    size_t len = sealed_len - BLK_OVERHEAD;
    if (plain_len != SIZE_MAX && plain_len != len)
        return BLK_ERR_FORMAT;
    if (key_id != 0 && kid != key_id)
        return BLK_ERR_KEY;
    const unsigned char *key = subkey(kr, kind, kid);
    if (key == NULL)
        return BLK_ERR_KEY;
    /* The identity is also in the AD; checking it first gives a clearer answer. */
    if (CRYPTO_memcmp(hid, id, BLK_ID_LEN) != 0)
        return BLK_ERR_AUTH;
    unsigned char tag[BLK_TAG_LEN];
    memcpy(tag, buf + BLK_HEADER_LEN + len, BLK_TAG_LEN);
    if (gcm(0, key, buf, len, buf + BLK_HEADER_LEN, len, out, tag) != 0) {
        OPENSSL_cleanse(out, len); /* unauthenticated plaintext never survives */
        return BLK_ERR_AUTH;
    }
    *plain_len_out = len;
    return BLK_OK;
}

enum blk_status blk_open(const struct blk_keyring *kr, enum blk_kind kind, const unsigned char *id, int key_id,
                         size_t plain_len, unsigned char *buf, size_t sealed_len, size_t *plain_len_out)
{
    return blk_open_copy(kr, kind, id, key_id, plain_len, buf, sealed_len, buf + BLK_HEADER_LEN, plain_len_out);
}

enum blk_status blk_hash(const struct blk_keyring *kr, const void *data, size_t len, unsigned char *out)
{
    /* Always key 1's: hashes stay comparable (and unsealed blocks verifiable) across rotations. */
    const unsigned char *key = kr->keys[0].dedup;
    unsigned int n = 0;
    if (HMAC(EVP_sha256(), key, BLK_KEY_LEN, data, len, out, &n) == NULL || n != BLK_HASH_LEN)
        return BLK_ERR_CRYPTO;
    return BLK_OK;
}

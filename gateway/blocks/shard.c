/* shard.c — stripes: shard lengths, Reed–Solomon encode and rebuild (ISA-L), shard documents, layouts.
 *
 * DESIGN: the code is systematic: the k data shards are the sealed buffer
 * itself, cut in k, and the m parity shards are rows of a Cauchy matrix
 * applied to them in GF(2^8) (gf_gen_cauchy1_matrix). Every square
 * submatrix of a Cauchy matrix is invertible, so any k of the k + m shards
 * decode, for every k + m <= BLK_MAX_SHARDS; the Vandermonde-style
 * gf_gen_rs_matrix does not promise that for all sizes. A struct blk_ec holds
 * the matrix and the parity's expanded tables and is never written after
 * blk_ec_new; a rebuild derives its decoding rows on its own stack and heap,
 * so any number of threads share one. ISA-L picks its SIMD variant on its
 * first call; its lengths are int, so bodies go through it in chunks of
 * 1 GiB.
 *
 * Each shard document carries its own tag (shard.h) so a reader can tell
 * which shard is bad before it decodes: the tag is a GMAC (GCM with AAD
 * only), which runs at the speed of GHASH with PCLMUL, several times faster
 * than HMAC-SHA256 (tests/unit/test_blk_shard.c prints both), under its own
 * HKDF subkey, with a fresh random 96-bit nonce per document (as blk_seal:
 * collisions stay far below 2^-32 for a few billion shards per key). The
 * tag is checked with CRYPTO_memcmp.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gateway/blocks/blk_int.h"
#include "gateway/blocks/shard.h"

#define SHARD_VERSION 1
#define CHUNK (1u << 30) /* bytes per ISA-L or EVP call (their lengths are int) */
#define GF_TABLE 32      /* bytes of ec_init_tables output per matrix coefficient */
#define AUTO_MAX_K 8     /* data shards blk_layout_auto uses at most: a read fetches k documents */

/* Header offsets (shard.h). */
#define H_KEY_ID 6
#define H_INDEX 7
#define H_ID 8
#define H_NONCE 24
#define H_K 36
#define H_M 37
#define H_RESERVED 38
#define H_SEALED_LEN 40

static const unsigned char magic[4] = {'T', 'G', 'S', '3'}; /* as blk.c: every tgs3 document starts so */

struct blk_ec {
    int k, m;
    /* (k + m) x k coefficients, row-major: the identity, then the m Cauchy rows. */
    unsigned char matrix[BLK_MAX_SHARDS * BLK_MAX_SHARDS];
    /* ec_init_tables of the Cauchy rows: GF_TABLE * k * m bytes (k * m <= 16 * 16). */
    unsigned char parity[GF_TABLE * (BLK_MAX_SHARDS / 2) * (BLK_MAX_SHARDS / 2)];
};

static int geometry_ok(int k, int m)
{
    return k >= 1 && k <= BLK_MAX_SHARDS && m >= 0 && m <= BLK_MAX_SHARDS - k;
}

/* A shard's place in a stripe: the geometry, an index in it, a non-empty block. */
static int shape_ok(int index, int k, int m, uint64_t sealed_len)
{
    return geometry_ok(k, m) && index >= 0 && index < k + m && sealed_len > 0;
}

size_t blk_shard_len(uint64_t sealed_len, int k)
{
    if (k < 1)
        return SIZE_MAX;
    uint64_t per = sealed_len / (uint64_t)k + (sealed_len % (uint64_t)k != 0);
    if (per > SIZE_MAX - (BLK_SHARD_ALIGN - 1))
        return SIZE_MAX;
    return ((size_t)per + BLK_SHARD_ALIGN - 1) & ~(size_t)(BLK_SHARD_ALIGN - 1);
}

/* ---- erasure code ---- */

enum blk_status blk_ec_new(int k, int m, struct blk_ec **out)
{
    *out = NULL;
    if (!geometry_ok(k, m))
        return BLK_ERR_FORMAT;
    struct blk_ec *ec = xcalloc(1, sizeof(*ec));
    ec->k = k;
    ec->m = m;
    gf_gen_cauchy1_matrix(ec->matrix, k + m, k);
    if (m > 0)
        ec_init_tables(k, m, ec->matrix + k * k, ec->parity);
    *out = ec;
    return BLK_OK;
}

void blk_ec_free(struct blk_ec *ec)
{
    free(ec);
}

/* out[0..rows) = tables applied to in[0..k), len bytes each, in chunks ISA-L's int lengths take. */
static void run(size_t len, int k, int rows, const unsigned char *tables, unsigned char *const *in,
                unsigned char *const *out)
{
    unsigned char *src[BLK_MAX_SHARDS], *dst[BLK_MAX_SHARDS];
    for (size_t off = 0; off < len;) {
        size_t c = len - off < CHUNK ? len - off : CHUNK;
        for (int i = 0; i < k; i++)
            src[i] = in[i] + off;
        for (int j = 0; j < rows; j++)
            dst[j] = out[j] + off;
        /* ISA-L only reads the tables; its prototype is not const. */
        ec_encode_data((int)c, k, rows, (unsigned char *)tables, src, dst);
        off += c;
    }
}

void blk_ec_encode(const struct blk_ec *ec, size_t len, unsigned char *const *data, unsigned char *const *parity)
{
    if (ec->m > 0)
        run(len, ec->k, ec->m, ec->parity, data, parity);
}

enum blk_status blk_ec_rebuild(const struct blk_ec *ec, size_t len, unsigned char *const *have, const int *want,
                               int n_want, unsigned char *const *out)
{
    int k = ec->k, n = ec->k + ec->m, used[BLK_MAX_SHARDS], n_used = 0;
    unsigned char *src[BLK_MAX_SHARDS];
    unsigned char sub[BLK_MAX_SHARDS * BLK_MAX_SHARDS], inv[BLK_MAX_SHARDS * BLK_MAX_SHARDS];
    unsigned char dec[BLK_MAX_SHARDS * BLK_MAX_SHARDS];

    if (n_want < 0 || n_want > BLK_MAX_SHARDS)
        return BLK_ERR_FORMAT;
    for (int j = 0; j < n_want; j++)
        if (want[j] < 0 || want[j] >= n)
            return BLK_ERR_FORMAT;
    for (int i = 0; i < n && n_used < k; i++) {
        if (have[i] != NULL) {
            used[n_used] = i;
            src[n_used] = have[i];
            n_used++;
        }
    }
    if (n_used < k)
        return BLK_ERR_FORMAT;
    if (n_want == 0)
        return BLK_OK;

    /* sub maps the data to the k shards used; its inverse maps them back to the data. */
    for (int r = 0; r < k; r++)
        memcpy(sub + r * k, ec->matrix + used[r] * k, (size_t)k);
    ASSERT(gf_invert_matrix(sub, inv, k) == 0); /* never singular: any k rows of the code are independent */
    /* Row j: a wanted data shard is a row of the inverse; a wanted parity shard is its
     * encoding row applied to the data, i.e. to the inverse. */
    for (int j = 0; j < n_want; j++) {
        int w = want[j];
        for (int c = 0; c < k; c++) {
            unsigned char v = 0;
            if (w < k) {
                v = inv[w * k + c];
            } else {
                for (int t = 0; t < k; t++)
                    v ^= gf_mul(ec->matrix[w * k + t], inv[t * k + c]);
            }
            dec[j * k + c] = v;
        }
    }
    unsigned char *tables = xmalloc((size_t)GF_TABLE * (size_t)k * (size_t)n_want);
    ec_init_tables(k, n_want, dec, tables);
    run(len, k, n_want, tables, src, out);
    free(tables);
    return BLK_OK;
}

/* ---- shard documents ---- */

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* GMAC: AES-256-GCM with no plaintext, AAD = header || body, nonce from the header. */
static int gmac(const unsigned char *key, const unsigned char *header, const unsigned char *body, size_t len,
                unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char none[16];
    int ok = 0, n = 0;
    if (ctx == NULL)
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BLK_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, header + H_NONCE) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, header, BLK_SHARD_HEADER_LEN) != 1)
        goto out;
    for (size_t off = 0; off < len;) {
        size_t c = len - off < CHUNK ? len - off : CHUNK;
        if (EVP_EncryptUpdate(ctx, NULL, &n, body + off, (int)c) != 1)
            goto out;
        off += c;
    }
    if (EVP_EncryptFinal_ex(ctx, none, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BLK_SHARD_TAG_LEN, tag) != 1)
        goto out;
    ok = 1;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* Without a keyring: the first BLK_SHARD_TAG_LEN bytes of SHA-256(header || body). */
static int unkeyed(const unsigned char *header, const unsigned char *body, size_t len, unsigned char *tag)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, header, BLK_SHARD_HEADER_LEN) == 1 && EVP_DigestUpdate(ctx, body, len) == 1 &&
             EVP_DigestFinal_ex(ctx, digest, &n) == 1 && n >= BLK_SHARD_TAG_LEN;
    EVP_MD_CTX_free(ctx);
    if (ok)
        memcpy(tag, digest, BLK_SHARD_TAG_LEN);
    return ok ? 0 : -1;
}

/* The tag of header || body: under key, or unkeyed when key is NULL. */
static int compute_tag(const unsigned char *key, const unsigned char *header, const unsigned char *body, size_t len,
                       unsigned char *tag)
{
    return key != NULL ? gmac(key, header, body, len, tag) : unkeyed(header, body, len, tag);
}

enum blk_status blk_shard_seal(const struct blk_keyring *kr, const unsigned char *id, int index, int k, int m,
                               uint64_t sealed_len, const void *body, size_t len, unsigned char *header,
                               unsigned char *tag)
{
    const unsigned char *key = NULL;
    int key_id = 0;
    if (!shape_ok(index, k, m, sealed_len) || len != blk_shard_len(sealed_len, k))
        return BLK_ERR_FORMAT;
    if (kr != NULL) {
        key_id = blk_keyring_current(kr);
        key = blk_keyring_shard_key(kr, key_id);
        if (key == NULL)
            return BLK_ERR_KEY;
    }
    memcpy(header, magic, 4);
    header[4] = SHARD_VERSION;
    header[5] = BLK_KIND_SHARD;
    header[H_KEY_ID] = (unsigned char)key_id;
    header[H_INDEX] = (unsigned char)index;
    memcpy(header + H_ID, id, BLK_ID_LEN);
    if (blk_random(header + H_NONCE, BLK_NONCE_LEN) != BLK_OK)
        return BLK_ERR_CRYPTO;
    header[H_K] = (unsigned char)k;
    header[H_M] = (unsigned char)m;
    header[H_RESERVED] = 0;
    header[H_RESERVED + 1] = 0;
    put_be64(header + H_SEALED_LEN, sealed_len);
    if (compute_tag(key, header, body, len, tag) != 0)
        return BLK_ERR_CRYPTO;
    return BLK_OK;
}

enum blk_status blk_shard_peek(const unsigned char *doc, size_t len, int *index, int *k, int *m, unsigned char *id,
                               uint64_t *sealed_len)
{
    if (len < BLK_SHARD_HEADER_LEN || memcmp(doc, magic, 4) != 0 || doc[4] != SHARD_VERSION ||
        doc[5] != BLK_KIND_SHARD || doc[H_RESERVED] != 0 || doc[H_RESERVED + 1] != 0)
        return BLK_ERR_FORMAT;
    int hindex = doc[H_INDEX], hk = doc[H_K], hm = doc[H_M];
    uint64_t hlen = get_be64(doc + H_SEALED_LEN);
    if (!shape_ok(hindex, hk, hm, hlen))
        return BLK_ERR_FORMAT;
    *index = hindex;
    *k = hk;
    *m = hm;
    memcpy(id, doc + H_ID, BLK_ID_LEN);
    *sealed_len = hlen;
    return BLK_OK;
}

enum blk_status blk_shard_open(const struct blk_keyring *kr, const unsigned char *id, int index, int k, int m,
                               uint64_t sealed_len, const unsigned char *doc, size_t doc_len)
{
    unsigned char hid[BLK_ID_LEN], tag[BLK_SHARD_TAG_LEN];
    const unsigned char *key = NULL;
    int hindex, hk, hm;
    uint64_t hlen;

    if (!shape_ok(index, k, m, sealed_len) || blk_shard_peek(doc, doc_len, &hindex, &hk, &hm, hid, &hlen) != BLK_OK)
        return BLK_ERR_FORMAT;
    size_t len = blk_shard_len(sealed_len, k);
    if (hk != k || hm != m || hlen != sealed_len || len == SIZE_MAX || doc_len < BLK_SHARD_OVERHEAD ||
        doc_len - BLK_SHARD_OVERHEAD != len)
        return BLK_ERR_FORMAT;
    /* A keyring takes keyed shards only (an unkeyed tag anyone can forge); no keyring, unkeyed only. */
    int key_id = doc[H_KEY_ID];
    if (kr != NULL) {
        key = blk_keyring_shard_key(kr, key_id);
        if (key == NULL)
            return BLK_ERR_KEY;
    } else if (key_id != 0) {
        return BLK_ERR_KEY;
    }
    /* The identity is also under the tag; checking it first gives a clearer answer. */
    if (hindex != index || CRYPTO_memcmp(hid, id, BLK_ID_LEN) != 0)
        return BLK_ERR_AUTH;
    if (compute_tag(key, doc, doc + BLK_SHARD_HEADER_LEN, len, tag) != 0)
        return BLK_ERR_CRYPTO;
    if (CRYPTO_memcmp(tag, doc + BLK_SHARD_HEADER_LEN + len, BLK_SHARD_TAG_LEN) != 0)
        return BLK_ERR_AUTH;
    return BLK_OK;
}

/* ---- layouts ---- */

void blk_layout_auto(int n_channels, int *k, int *m)
{
    if (n_channels <= 1) {
        *k = 1;
        *m = 0;
        return;
    }
    int f = n_channels >= 6 ? 2 : 1;     /* channels a stripe survives losing */
    int with_spare = n_channels - 2 * f; /* data shards when f channels stay spare for repairs */
    int kk = with_spare >= 1 ? with_spare : n_channels - f;
    *k = kk < AUTO_MAX_K ? kk : AUTO_MAX_K;
    *m = f;
}

/* One or two decimal digits at *p (no sign, no space): 0, advancing *p, or -1. */
static int small_number(const char **p, int *out)
{
    const char *s = *p;
    int v = 0, n = 0;
    while (s[n] >= '0' && s[n] <= '9' && n < 3) {
        v = v * 10 + (s[n] - '0');
        n++;
    }
    if (n == 0 || n > 2)
        return -1;
    *p = s + n;
    *out = v;
    return 0;
}

int blk_layout_parse(const char *s, int n_channels, int *k, int *m)
{
    int kk, mm;
    if (strcmp(s, "none") == 0) {
        kk = 1;
        mm = 0;
    } else if (strcmp(s, "auto") == 0) {
        blk_layout_auto(n_channels, &kk, &mm);
    } else if (strcmp(s, "mirror") == 0) {
        /* A full copy in every channel: 1 + (n-1), which is at least 1+1 from two channels
         * on; one channel has nowhere for a copy to go (1+0). Capped at BLK_MAX_SHARDS copies. */
        kk = 1;
        mm = n_channels <= 1 ? 0 : n_channels - 1;
        if (mm > BLK_MAX_SHARDS - 1)
            mm = BLK_MAX_SHARDS - 1;
    } else if (strncmp(s, "rs:", 3) == 0) {
        const char *p = s + 3;
        if (small_number(&p, &kk) != 0 || *p != '+')
            return -1;
        p++;
        if (small_number(&p, &mm) != 0 || *p != '\0')
            return -1;
        /* Every shard goes to its own channel. */
        if (!geometry_ok(kk, mm) || kk + mm > n_channels)
            return -1;
    } else {
        return -1;
    }
    *k = kk;
    *m = mm;
    return 0;
}

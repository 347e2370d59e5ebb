/* put_work.c — what runs on libuv's pool for a put: body checks, block sealing, the streamed hash lane.
 *
 * Each job reads and writes only the put's own state (put_int.h) and the
 * job-owned buffers; the loop side (put.c) starts them and takes the results
 * in their after-work callbacks. No store, no network, no loop calls here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gateway/engine/put_int.h"

static int digest(const EVP_MD *md, const char *data, size_t len, unsigned char *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, data, len) &&
             EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* The first x-amz-checksum-<alg>:<b64> line of a decoded trailer into chk. */
static void trailer_checksum(const struct dbuf *t, struct gw_body_check *chk)
{
    size_t i = 0;
    while (t->ptr && i < t->len) {
        const char *line = t->ptr + i;
        const char *nl = memchr(line, '\n', t->len - i);
        size_t ll = nl ? (size_t)(nl - line) : t->len - i;
        const char *colon = memchr(line, ':', ll);
        size_t al = colon ? (size_t)(colon - line) : 0;
        if (al > 15 && al - 15 < sizeof(chk->ck_alg) && memcmp(line, "x-amz-checksum-", 15) == 0 &&
            ll - al - 1 < sizeof(chk->ck_value)) {
            memcpy(chk->ck_alg, line + 15, al - 15);
            chk->ck_alg[al - 15] = '\0';
            memcpy(chk->ck_value, colon + 1, ll - al - 1);
            chk->ck_value[ll - al - 1] = '\0';
            return;
        }
        i += ll + 1;
    }
}

/* MD5 (the ETag) and the Content-MD5 comparison. */
static enum s3_err check_md5(struct gw_put *p)
{
    unsigned char md5[16];
    if (digest(EVP_md5(), p->data, p->len, md5) != 0)
        return S3E_INTERNAL_ERROR;
    hex_encode(md5, 16, p->md5_hex);
    if (p->chk.has_md5 && memcmp(md5, p->chk.md5, 16) != 0)
        return S3E_BAD_DIGEST;
    return S3E_OK;
}

/* The x-amz-checksum-<alg> of the request, if any. */
static enum s3_err check_sum(const struct gw_put *p)
{
    if (p->chk.ck_alg[0] == '\0')
        return S3E_OK;
    enum s3_err e = s3_checksum_check(p->chk.ck_alg, strlen(p->chk.ck_alg), p->chk.ck_value,
                                      strlen(p->chk.ck_value), p->data, p->len);
    return e == S3E_INVALID_DIGEST ? S3E_INVALID_REQUEST : e;
}

/* A hex x-amz-content-sha256 against the body. */
static enum s3_err check_sha256(const struct gw_put *p)
{
    unsigned char sha[32];
    if (!p->chk.verify_sha256)
        return S3E_OK;
    if (digest(EVP_sha256(), p->data, p->len, sha) != 0)
        return S3E_INTERNAL_ERROR;
    return memcmp(sha, p->auth.payload_sha256, 32) == 0 ? S3E_OK : S3E_X_AMZ_CONTENT_SHA256_MISMATCH;
}

/* libuv pool thread: one check of the body. The checks of one put run in
 * parallel and only read the body, except CHECK_ALL (aws-chunked), which
 * decodes it in place first and runs alone. Each writes only its own err
 * (and CHECK_MD5/CHECK_ALL md5_hex). */
void put_verify_work(uv_work_t *w)
{
    struct put_check *k = w->data;
    struct gw_put *p = k->p;
    switch (k->kind) {
    case CHECK_MD5: k->err = check_md5(p); return;
    case CHECK_SUM: k->err = check_sum(p); return;
    case CHECK_SHA256: k->err = check_sha256(p); return;
    default: break;
    }
    if (p->chk.chunked) {
        size_t out = 0;
        struct dbuf trailer;
        dbuf_init(&trailer, 4096);
        enum s3_err e = s3_chunked_decode(&p->auth, p->data, p->len, &out, &trailer);
        if (e == S3E_OK && p->chk.ck_alg[0] == '\0')
            trailer_checksum(&trailer, &p->chk); /* verified by the decoder */
        dbuf_release(&trailer);
        if (e != S3E_OK) {
            k->err = e;
            return;
        }
        p->len = out;
    }
    k->err = check_md5(p);
    if (k->err == S3E_OK)
        k->err = check_sum(p);
    if (k->err == S3E_OK)
        k->err = check_sha256(p);
}

/* libuv pool: keyed hash, identity and seal of block c->i into a job-owned buffer. */
void put_seal_work(uv_work_t *w)
{
    struct put_blk *c = w->data;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    struct store_block *b = &p->blocks[c->i];
    size_t bs = (size_t)gw->cfg.block_size;
    size_t off = c->i * bs, n = p->len - off < bs ? p->len - off : bs;
    if (p->streamed)
        n = c->plain_len; /* what was read (p->len may still be an upper bound being settled on the loop) */
    const unsigned char *plain = p->streamed ? c->plain : (const unsigned char *)p->data + off;
    b->plain_size = (int64_t)n;
    c->seal_st = blk_random(b->uuid, sizeof(b->uuid));
    if (c->seal_st == BLK_OK && gw->keys != NULL)
        c->seal_st = blk_hash(gw->keys, plain, n, b->hash);
    if (c->seal_st != BLK_OK)
        return;
    if (p->streamed) {
        /* Read into buf already: sealed in place (plain == buf + BLK_HEADER_LEN) or posted as is. */
        if (c->plain != c->buf)
            c->seal_st = blk_seal(gw->keys, BLK_KIND_DATA, b->uuid, plain, n, c->buf, &b->key_id, b->nonce);
        else
            b->key_id = 0;
    } else if (gw->keys != NULL && !gw->cfg.no_encryption) {
        c->buf_len = n + BLK_OVERHEAD;
        c->buf = bigbuf_new(gw_stripe_capacity(gw, c->buf_len));
        c->seal_st = blk_seal(gw->keys, BLK_KIND_DATA, b->uuid, plain, n, c->buf, &b->key_id, b->nonce);
    } else {
        c->buf_len = n;
        c->buf = bigbuf_new(gw_stripe_capacity(gw, c->buf_len));
        memcpy(c->buf, plain, n);
        b->key_id = 0;
    }
    /* A stripe: the sealed document cut into shards, parity computed, each shard sealed. */
    if (c->seal_st == BLK_OK && c->ss != NULL)
        c->seal_st = gw_stripe_encode(c->ss, gw->keys, b->uuid, c->buf, c->buf_len);
}

/* libuv pool: one lane's running hashes over its next block in body order;
 * the last block finishes them and compares what the lane checks: Content-MD5
 * (LANE_MD5), the signed payload hash and the x-amz-checksum (LANE_SHA). */
void put_lane_work(uv_work_t *w)
{
    struct put_lane *l = w->data;
    struct gw_put *p = l->p;
    const struct put_blk *c = &p->bl[l->next];
    int ok = l->which == LANE_MD5
                 ? EVP_DigestUpdate(p->md5_ctx, c->plain, c->plain_len)
                 : (p->sha_ctx == NULL || EVP_DigestUpdate(p->sha_ctx, c->plain, c->plain_len)) &&
                       (p->ck_ctx == NULL || s3_checksum_update(p->ck_ctx, c->plain, c->plain_len) == 0);
    if (!ok) {
        l->err = S3E_INTERNAL_ERROR;
        return;
    }
    if (!l->last)
        return;
    unsigned char md5[16], sha[32];
    unsigned int n = 0;
    if (l->which == LANE_MD5) {
        if (!EVP_DigestFinal_ex(p->md5_ctx, md5, &n)) {
            l->err = S3E_INTERNAL_ERROR;
            return;
        }
        hex_encode(md5, 16, p->md5_hex);
        if (p->chk.has_md5 && memcmp(md5, p->chk.md5, 16) != 0)
            l->err = S3E_BAD_DIGEST;
        return;
    }
    if (p->sha_ctx != NULL) {
        if (!EVP_DigestFinal_ex(p->sha_ctx, sha, &n))
            l->err = S3E_INTERNAL_ERROR;
        else if (memcmp(sha, p->auth.payload_sha256, 32) != 0)
            l->err = S3E_X_AMZ_CONTENT_SHA256_MISMATCH;
    }
    if (l->err == S3E_OK && p->ck_ctx != NULL) {
        /* the x-amz-checksum asked for, as s3_checksum_check judges a whole body */
        unsigned char got[32], want[32];
        size_t gl = s3_checksum_final(p->ck_ctx, got), wl = 0;
        if (gl == 0)
            l->err = S3E_INTERNAL_ERROR;
        else if (s3_base64_decode(p->chk.ck_value, strlen(p->chk.ck_value), want, sizeof(want), &wl) != 0 || wl != gl)
            l->err = S3E_INVALID_DIGEST;
        else if (CRYPTO_memcmp(want, got, gl) != 0)
            l->err = S3E_BAD_DIGEST;
    }
}

/* test_chain_doc.c — unit tests of gateway/safety/chaindoc.c: the bytes of the index's chain
 * documents.
 *
 * Manifests (no block, one, many; mirror 1+2 and Reed–Solomon 4+2 stripes, degraded ones,
 * file_ids of the longest length) and journal documents (no ref and CHAIN_MAX_REFS refs,
 * empty and non-empty changesets) survive encode → decode → encode unchanged; every
 * truncation, a flipped magic byte, a trailing byte and each out-of-range field are
 * refused. chain_back_seqs, captions (inside a whole caption as stripe_send.c writes it)
 * and chain_uuid are checked too. The pseudo-random fields come from a fixed seed.
 *
 *   test_chain_doc --seeds DIR   also writes the fuzz seeds (tests/fuzz/corpus/chaindoc/)
 *
 * One line per failed check, then the summary line `N passed, N failed`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/safety/chain.h"
#include "tests/unit/check.h"

#define REF_HEAD_LEN 44   /* bytes of a ref before its shards */
#define SHARD_HEAD_LEN 35 /* bytes of a shard before its file_id */
#define MANIFEST_HEAD_LEN 52 /* through n_blocks */
#define JOURNAL_HEAD_LEN 49 /* through n_refs */

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static const char *seed_dir; /* --seeds DIR, or NULL */

static void write_seed(const char *name, const unsigned char *p, size_t len)
{
    char path[1024];
    if (seed_dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (fp == NULL)
        return;
    CHECK(fwrite(p, 1, len, fp) == len);
    CHECK(fclose(fp) == 0);
}

/* A Bot API file_id look-alike of len characters. */
static void fill_file_id(char *out, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < len; i++)
        out[i] = abc[check_rand(&rs) % 64];
    out[len] = '\0';
}

/* A ref of a k + m stripe holding n shards (the last n indexes), file_ids of fid_len characters. */
static void fill_ref(struct chain_ref *r, int64_t seq, int kind, int k, int m, int n, size_t fid_len)
{
    memset(r, 0, sizeof(*r));
    r->seq = seq;
    for (size_t i = 0; i < sizeof(r->uuid); i++)
        r->uuid[i] = (unsigned char)check_rand(&rs);
    r->kind = kind;
    r->plain_len = (int64_t)(check_rand(&rs) % (64u << 20));
    r->sp.k = k;
    r->sp.m = m;
    r->sp.sealed_size = r->plain_len + 52;
    r->sp.n = n;
    for (int i = 0; i < n; i++) {
        struct store_shard *sh = &r->sp.sh[i];
        sh->idx = k + m - n + i;
        sh->chat_id = -1000000000000 - (int64_t)(check_rand(&rs) % 1000000000);
        sh->message_id = (int64_t)(check_rand(&rs) % 10000000);
        sh->bot_id = (int64_t)(check_rand(&rs) % 10000000000);
        sh->size = r->sp.sealed_size / k + 48;
        fill_file_id(sh->file_id, fid_len);
    }
}

/* Every field the format carries is equal. */
static int ref_eq(const struct chain_ref *a, const struct chain_ref *b)
{
    if (a->seq != b->seq || memcmp(a->uuid, b->uuid, sizeof(a->uuid)) != 0 || a->kind != b->kind ||
        a->plain_len != b->plain_len || a->sp.k != b->sp.k || a->sp.m != b->sp.m ||
        a->sp.sealed_size != b->sp.sealed_size || a->sp.n != b->sp.n)
        return 0;
    for (int i = 0; i < a->sp.n; i++) {
        const struct store_shard *x = &a->sp.sh[i], *y = &b->sp.sh[i];
        if (x->idx != y->idx || x->chat_id != y->chat_id || x->message_id != y->message_id ||
            x->bot_id != y->bot_id || x->size != y->size || strcmp(x->file_id, y->file_id) != 0)
            return 0;
    }
    return 1;
}

/* A heap copy of exactly n bytes (so ASan sees a read past the end). */
static unsigned char *copy(const unsigned char *p, size_t n)
{
    unsigned char *c = xmalloc(n ? n : 1);
    if (n > 0)
        memcpy(c, p, n);
    return c;
}

static int manifest_decodes(const unsigned char *p, size_t n)
{
    struct chain_manifest mf;
    unsigned char *c = copy(p, n);
    int rc = chain_manifest_decode(c, n, &mf);
    chain_manifest_release(&mf);
    free(c);
    return rc == 0;
}

static struct chain_journal jbuf; /* about 470 KB: not on the stack */

static int journal_decodes(const unsigned char *p, size_t n)
{
    unsigned char *c = copy(p, n);
    int rc = chain_journal_decode(c, n, &jbuf);
    free(c);
    return rc == 0;
}

static int ref_decodes(const unsigned char *p, size_t n)
{
    struct chain_ref r;
    unsigned char *c = copy(p, n);
    int rc = chain_ref_decode(c, n, &r);
    free(c);
    return rc == 0;
}

/* Every prefix shorter than len is refused (every step-th one, and the last 64, for long ones). */
static void check_truncations(int (*decodes)(const unsigned char *, size_t), const unsigned char *p, size_t len,
                              size_t step)
{
    int accepted = 0;
    for (size_t t = 0; t < len; t++)
        if ((t % step == 0 || t + 64 >= len) && decodes(p, t))
            accepted++;
    CHECK(accepted == 0);
}

/* A flipped bit in any magic byte, and one byte too many, are refused. */
static void check_frame(int (*decodes)(const unsigned char *, size_t), const unsigned char *p, size_t len)
{
    unsigned char *c = xmalloc(len + 1);
    memcpy(c, p, len);
    int accepted = 0;
    for (size_t i = 0; i < 8; i++) {
        c[i] ^= 0x20;
        accepted += decodes(c, len);
        c[i] ^= 0x20;
    }
    CHECK(accepted == 0);
    c[len] = 0;
    CHECK(!decodes(c, len + 1));
    CHECK(decodes(c, len));
    free(c);
}

/* ---- manifests ---- */

static void manifest_init(struct chain_manifest *mf, uint32_t n)
{
    memset(mf, 0, sizeof(*mf));
    for (size_t i = 0; i < CHAIN_ID_LEN; i++)
        mf->chain[i] = (unsigned char)check_rand(&rs);
    mf->chain_at = 1700000000000 + (int64_t)(check_rand(&rs) % 100000000);
    mf->created_ms = mf->chain_at + 1234;
    mf->index_size = check_rand(&rs) % (1ull << 40);
    mf->n_blocks = n;
    mf->blocks = xcalloc(n ? n : 1, sizeof(*mf->blocks));
}

/* Encodes mf, decodes it, encodes that again; step as for check_truncations. */
static void manifest_roundtrip(const char *what, const struct chain_manifest *mf, size_t step, const char *seed)
{
    size_t len = 0, len2 = 0;
    unsigned char *enc = chain_manifest_encode(mf, &len);
    struct chain_manifest back;
    unsigned char *c = copy(enc, len);

    CHECK(len >= MANIFEST_HEAD_LEN && memcmp(enc, "TGS3MAN1", 8) == 0);
    int rc = chain_manifest_decode(c, len, &back);
    CHECK(rc == 0);
    if (rc != 0) {
        printf("  (%s)\n", what);
        goto out;
    }
    CHECK(memcmp(back.chain, mf->chain, CHAIN_ID_LEN) == 0);
    CHECK(back.chain_at == mf->chain_at && back.created_ms == mf->created_ms);
    CHECK(back.index_size == mf->index_size && back.n_blocks == mf->n_blocks);
    int same = 1;
    for (uint32_t i = 0; i < mf->n_blocks && back.n_blocks == mf->n_blocks; i++)
        same &= ref_eq(&back.blocks[i], &mf->blocks[i]);
    CHECK(same);
    unsigned char *enc2 = chain_manifest_encode(&back, &len2);
    CHECK(len2 == len && memcmp(enc2, enc, len) == 0);
    free(enc2);
    chain_manifest_release(&back);
    CHECK(back.blocks == NULL && back.n_blocks == 0);
    CHECK(!journal_decodes(enc, len));
    check_truncations(manifest_decodes, enc, len, step);
    check_frame(manifest_decodes, enc, len);
    if (seed != NULL)
        write_seed(seed, enc, len);
out:
    free(c);
    free(enc);
}

static void test_manifests(void)
{
    struct chain_manifest mf;

    manifest_init(&mf, 0);
    manifest_roundtrip("no block", &mf, 1, "manifest-empty");
    chain_manifest_release(&mf);

    manifest_init(&mf, 1);
    fill_ref(&mf.blocks[0], -1, BLK_KIND_SNAPSHOT, 1, 2, 3, 40);
    manifest_roundtrip("one block, mirror 1+2", &mf, 1, "manifest-1block-mirror");
    size_t len = 0;
    unsigned char *enc = chain_manifest_encode(&mf, &len);
    /* The last byte of the second shard's file_id. */
    size_t at = MANIFEST_HEAD_LEN + REF_HEAD_LEN + 2 * SHARD_HEAD_LEN + 40 + 39;
    CHECK(enc[at] == (unsigned char)mf.blocks[0].sp.sh[1].file_id[39] && manifest_decodes(enc, len));
    enc[at] = '\0';
    CHECK(!manifest_decodes(enc, len));
    write_seed("manifest-nul-in-file-id", enc, len);
    free(enc);
    chain_manifest_release(&mf);

    manifest_init(&mf, 2);
    fill_ref(&mf.blocks[0], -1, BLK_KIND_SNAPSHOT, 4, 2, 6, 255);
    fill_ref(&mf.blocks[1], -2, BLK_KIND_SNAPSHOT, 4, 2, 4, 255);
    manifest_roundtrip("4+2, one degraded, 255-byte file_ids", &mf, 1, "manifest-rs4+2-longid");
    chain_manifest_release(&mf);

    manifest_init(&mf, 3);
    fill_ref(&mf.blocks[0], -1, BLK_KIND_SNAPSHOT, 1, 0, 1, 1);
    fill_ref(&mf.blocks[1], -2, BLK_KIND_SNAPSHOT, 16, 16, 32, 0);
    fill_ref(&mf.blocks[2], -3, BLK_KIND_SNAPSHOT, 1, 31, 1, 70);
    mf.blocks[2].plain_len = 0;
    mf.blocks[2].sp.sealed_size = 0;
    manifest_roundtrip("1+0, 16+16, an empty block with one shard of 1+31", &mf, 1, "manifest-edges");
    chain_manifest_release(&mf);

    manifest_init(&mf, 3); /* the shortest refs: the count is checked against the bytes left */
    for (uint32_t i = 0; i < mf.n_blocks; i++)
        fill_ref(&mf.blocks[i], -1 - (int64_t)i, BLK_KIND_SNAPSHOT, 1, 0, 1, 0);
    manifest_roundtrip("three shortest refs", &mf, 1, NULL);
    chain_manifest_release(&mf);

    manifest_init(&mf, 300);
    for (uint32_t i = 0; i < mf.n_blocks; i++) {
        int k = 1 + (int)(check_rand(&rs) % 8), m = (int)(check_rand(&rs) % 4);
        int n = k + (int)(check_rand(&rs) % (uint64_t)(m + 1));
        fill_ref(&mf.blocks[i], -1 - (int64_t)i, BLK_KIND_SNAPSHOT, k, m, n, (size_t)(check_rand(&rs) % 256));
    }
    manifest_roundtrip("300 blocks", &mf, 4099, NULL);

    /* Out-of-range fields, each in one block of an otherwise good manifest. */
    struct chain_ref good = mf.blocks[0];
    mf.n_blocks = 1;
    int refused = 0, cases = 0;
#define REFUSED(stmt)                                                                                                  \
    do {                                                                                                               \
        mf.blocks[0] = good;                                                                                           \
        struct chain_ref *r = &mf.blocks[0];                                                                           \
        stmt;                                                                                                          \
        enc = chain_manifest_encode(&mf, &len);                                                                        \
        cases++;                                                                                                       \
        if (!manifest_decodes(enc, len))                                                                               \
            refused++;                                                                                                 \
        else                                                                                                           \
            printf("FAIL %s:%d: accepted a manifest with %s\n", __FILE__, __LINE__, #stmt);                            \
        free(enc);                                                                                                     \
    } while (0)
    REFUSED(r->kind = BLK_KIND_JOURNAL);
    REFUSED(r->kind = BLK_KIND_DATA);
    REFUSED(r->sp.k = 0);
    REFUSED((r->sp.k = 20, r->sp.m = 13, r->sp.n = 1));
    REFUSED(r->sp.n = 0);
    REFUSED(r->sp.n = r->sp.k + r->sp.m + 1);
    REFUSED(r->sp.sh[0].idx = r->sp.k + r->sp.m);
    REFUSED(r->plain_len = -1);
    REFUSED(r->sp.sealed_size = r->plain_len - 1);
#undef REFUSED
    CHECK(refused == cases);
    mf.blocks[0] = good;
    enc = chain_manifest_encode(&mf, &len);
    CHECK(manifest_decodes(enc, len));
    free(enc);
    mf.n_blocks = 300;
    chain_manifest_release(&mf);

    /* More blocks than the format allows, and a count the bytes cannot hold. */
    manifest_init(&mf, 0);
    enc = chain_manifest_encode(&mf, &len);
    CHECK(len == MANIFEST_HEAD_LEN);
    enc[48] = 0x01;
    enc[50] = 0x01; /* 65537 */
    CHECK(!manifest_decodes(enc, len));
    enc[48] = 0x01;
    enc[50] = 0x00; /* 1 */
    CHECK(!manifest_decodes(enc, len));
    free(enc);
    chain_manifest_release(&mf);
}

/* ---- refs ---- */

static void test_refs(void)
{
    struct chain_ref r, back;
    size_t len = 0, len2 = 0;

    fill_ref(&r, 7, BLK_KIND_JOURNAL, 1, 2, 3, 60);
    unsigned char *enc = chain_ref_encode(&r, &len);
    CHECK(len == REF_HEAD_LEN + 3 * (SHARD_HEAD_LEN + 60));
    CHECK(chain_ref_decode(enc, len, &back) == 0 && ref_eq(&back, &r));
    CHECK(back.sp.sh[0].file_unique_id[0] == '\0' && back.sp.sh[0].created_ms == 0);
    unsigned char *enc2 = chain_ref_encode(&back, &len2);
    CHECK(len2 == len && memcmp(enc, enc2, len) == 0);
    free(enc2);
    check_truncations(ref_decodes, enc, len, 1);
    write_seed("ref-mirror1+2", enc, len);

    /* A file_id is text: a NUL inside one is not this encoding of any ref. */
    enc[REF_HEAD_LEN + SHARD_HEAD_LEN + 5] = '\0';
    CHECK(!ref_decodes(enc, len));
    write_seed("ref-nul-in-file-id", enc, len);
    enc[REF_HEAD_LEN + SHARD_HEAD_LEN + 5] = 'x';
    CHECK(ref_decodes(enc, len));
    enc[REF_HEAD_LEN + SHARD_HEAD_LEN + 59] = '\0'; /* the last byte */
    CHECK(!ref_decodes(enc, len));
    free(enc);

    /* The longest file_id, and one byte longer. */
    fill_ref(&r, 0, BLK_KIND_SNAPSHOT, 4, 2, 1, 255);
    enc = chain_ref_encode(&r, &len);
    CHECK(len == REF_HEAD_LEN + SHARD_HEAD_LEN + 255 && ref_decodes(enc, len));
    write_seed("ref-rs4+2-longid", enc, len);
    unsigned char *longer = xmalloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = 'A';
    longer[REF_HEAD_LEN + SHARD_HEAD_LEN - 2] = 0x00;
    longer[REF_HEAD_LEN + SHARD_HEAD_LEN - 1] = 0x01; /* 256 */
    CHECK(!ref_decodes(longer, len + 1));
    free(longer);
    free(enc);

    /* An empty file_id (a shard whose bot is gone). */
    fill_ref(&r, 3, BLK_KIND_JOURNAL, 2, 1, 3, 0);
    enc = chain_ref_encode(&r, &len);
    CHECK(chain_ref_decode(enc, len, &back) == 0 && ref_eq(&back, &r));
    free(enc);
}

/* ---- journal documents ---- */

static struct chain_journal jdoc;

static void journal_init(int64_t seq, int n_refs, const unsigned char *changes, size_t changes_len)
{
    int64_t back[CHAIN_MAX_REFS];
    memset(&jdoc, 0, sizeof(jdoc));
    for (size_t i = 0; i < CHAIN_ID_LEN; i++)
        jdoc.chain[i] = (unsigned char)check_rand(&rs);
    jdoc.chain_at = 1700000000000;
    jdoc.seq = seq;
    jdoc.created_ms = 1700000000000 + seq * 10000;
    int n = chain_back_seqs(seq, back);
    jdoc.n_refs = n_refs;
    for (int i = 0; i < n_refs; i++) {
        int64_t s = i < n ? back[i] : seq - 1;
        if (s == 0)
            fill_ref(&jdoc.refs[i], 0, BLK_KIND_SNAPSHOT, 1, 2, 3, 50);
        else
            fill_ref(&jdoc.refs[i], s, BLK_KIND_JOURNAL, 1, 1 + i % 2, 1 + i % (2 + i % 2), 50);
    }
    jdoc.changes = changes;
    jdoc.changes_len = changes_len;
}

static void journal_roundtrip(const char *what, const char *seed)
{
    size_t len = 0, len2 = 0;
    unsigned char *enc = chain_journal_encode(&jdoc, &len);
    unsigned char *c = copy(enc, len);

    CHECK(len >= JOURNAL_HEAD_LEN && memcmp(enc, "TGS3JRN1", 8) == 0);
    int rc = chain_journal_decode(c, len, &jbuf);
    CHECK(rc == 0);
    if (rc != 0) {
        printf("  (%s)\n", what);
        goto out;
    }
    CHECK(memcmp(jbuf.chain, jdoc.chain, CHAIN_ID_LEN) == 0 && jbuf.chain_at == jdoc.chain_at);
    CHECK(jbuf.seq == jdoc.seq && jbuf.created_ms == jdoc.created_ms && jbuf.n_refs == jdoc.n_refs);
    int same = 1;
    for (int i = 0; i < jdoc.n_refs && jbuf.n_refs == jdoc.n_refs; i++)
        same &= ref_eq(&jbuf.refs[i], &jdoc.refs[i]);
    CHECK(same);
    CHECK(jbuf.changes_len == jdoc.changes_len);
    if (jdoc.changes_len == 0)
        CHECK(jbuf.changes == NULL);
    else
        CHECK(jbuf.changes == c + len - jdoc.changes_len && memcmp(jbuf.changes, jdoc.changes, jdoc.changes_len) == 0);
    unsigned char *enc2 = chain_journal_encode(&jbuf, &len2);
    CHECK(len2 == len && memcmp(enc2, enc, len) == 0);
    free(enc2);
    CHECK(!manifest_decodes(enc, len));
    check_truncations(journal_decodes, enc, len, 1);
    check_frame(journal_decodes, enc, len);
    if (seed != NULL)
        write_seed(seed, enc, len);
out:
    free(c);
    free(enc);
}

static void test_journals(void)
{
    static const unsigned char changes[] = "T\x03\x01\x00\x00objects\x00\x12\x01\x03hello changeset bytes";
    size_t len = 0;
    unsigned char *enc;

    journal_init(1, 0, NULL, 0);
    journal_roundtrip("no ref, no change", "journal-empty");
    journal_init(1, 1, changes, sizeof(changes) - 1);
    journal_roundtrip("seq 1: the manifest, a changeset", "journal-seq1");
    int64_t back[CHAIN_MAX_REFS];
    journal_init(6, chain_back_seqs(6, back), changes, sizeof(changes) - 1);
    journal_roundtrip("seq 6: 0, 2, 4, 5", "journal-seq6");
    journal_init((int64_t)1 << 40, CHAIN_MAX_REFS, NULL, 0);
    journal_roundtrip("CHAIN_MAX_REFS refs, no change", NULL);
    journal_init((int64_t)1 << 40, CHAIN_MAX_REFS, changes, sizeof(changes) - 1);
    journal_roundtrip("CHAIN_MAX_REFS refs, a changeset", NULL);

    /* Out-of-range fields. */
    journal_init(9, 4, changes, sizeof(changes) - 1);
    struct chain_ref good = jdoc.refs[3];
    int refused = 0, cases = 0;
#define REFUSED(stmt)                                                                                                  \
    do {                                                                                                               \
        journal_init(9, 4, changes, sizeof(changes) - 1);                                                              \
        jdoc.refs[3] = good;                                                                                           \
        stmt;                                                                                                          \
        enc = chain_journal_encode(&jdoc, &len);                                                                       \
        cases++;                                                                                                       \
        if (!journal_decodes(enc, len))                                                                                \
            refused++;                                                                                                 \
        else                                                                                                           \
            printf("FAIL %s:%d: accepted a journal document with %s\n", __FILE__, __LINE__, #stmt);                    \
        free(enc);                                                                                                     \
    } while (0)
    REFUSED(jdoc.seq = 0);
    REFUSED(jdoc.seq = -5);
    REFUSED(jdoc.refs[3].seq = 9);
    REFUSED(jdoc.refs[3].seq = 10);
    REFUSED(jdoc.refs[3].seq = -1);
    REFUSED(jdoc.refs[3].kind = BLK_KIND_DATA);
    REFUSED(jdoc.refs[3].sp.k = 0);
    REFUSED(jdoc.refs[3].sp.n = 0);
#undef REFUSED
    CHECK(refused == cases);

    /* More refs than the format allows. */
    journal_init(3, 0, NULL, 0);
    enc = chain_journal_encode(&jdoc, &len);
    CHECK(len == JOURNAL_HEAD_LEN + 4 && journal_decodes(enc, len));
    enc[JOURNAL_HEAD_LEN - 1] = CHAIN_MAX_REFS + 1;
    CHECK(!journal_decodes(enc, len));
    free(enc);

    /* The largest changeset, and one byte more (the changes themselves stay unread). */
    size_t big = JOURNAL_HEAD_LEN + 4 + CHAIN_MAX_CHANGESET + 1;
    unsigned char *b = xcalloc(1, big);
    memcpy(b, "TGS3JRN1", 8);
    b[8 + CHAIN_ID_LEN + 8] = 3; /* seq */
    uint32_t n = CHAIN_MAX_CHANGESET + 1;
    for (int i = 0; i < 4; i++)
        b[JOURNAL_HEAD_LEN + i] = (unsigned char)(n >> (8 * i));
    CHECK(chain_journal_decode(b, big, &jbuf) != 0);
    n = CHAIN_MAX_CHANGESET;
    for (int i = 0; i < 4; i++)
        b[JOURNAL_HEAD_LEN + i] = (unsigned char)(n >> (8 * i));
    CHECK(chain_journal_decode(b, big - 1, &jbuf) == 0 && jbuf.changes_len == CHAIN_MAX_CHANGESET &&
          jbuf.changes == b + JOURNAL_HEAD_LEN + 4);
    CHECK(chain_journal_decode(b, big, &jbuf) != 0);
    free(b);
}

/* ---- chain_back_seqs ---- */

static void check_back(int64_t seq, const int64_t *want, int n_want)
{
    int64_t out[CHAIN_MAX_REFS];
    int n = chain_back_seqs(seq, out);
    int ok = n >= 1 && n <= CHAIN_MAX_REFS && out[0] == 0, has_prev = 0;
    for (int i = 0; ok && i < n; i++) {
        ok = out[i] >= 0 && out[i] < seq && (i == 0 || out[i] > out[i - 1]);
        has_prev |= out[i] == seq - 1;
    }
    if (!ok || !has_prev)
        printf("FAIL %s:%d: chain_back_seqs(%" PRId64 ") gave %d seqs\n", __FILE__, __LINE__, seq, n);
    CHECK(ok && has_prev);
    if (want != NULL)
        CHECK(n == n_want && memcmp(out, want, (size_t)n * sizeof(*out)) == 0);
    /* seq - 2^i for every i the count leaves room for. */
    int found = 0, expect = 0;
    for (int i = 0; i < CHAIN_MAX_REFS - 1 && ((int64_t)1 << i) < seq; i++) {
        expect++;
        for (int j = 0; j < n; j++)
            found += out[j] == seq - ((int64_t)1 << i);
    }
    CHECK(found == expect);
}

static void test_back_seqs(void)
{
    int64_t out[CHAIN_MAX_REFS];
    CHECK(chain_back_seqs(0, out) == 0);
    CHECK(chain_back_seqs(-3, out) == 0);
    check_back(1, (int64_t[]){0}, 1);
    check_back(2, (int64_t[]){0, 1}, 2);
    check_back(3, (int64_t[]){0, 1, 2}, 3);
    check_back(5, (int64_t[]){0, 1, 3, 4}, 4);
    check_back(8, (int64_t[]){0, 4, 6, 7}, 4);
    check_back(1000, (int64_t[]){0, 488, 744, 872, 936, 968, 984, 992, 996, 998, 999}, 11);
    check_back((int64_t)1 << 40, NULL, 0);
    CHECK(chain_back_seqs((int64_t)1 << 40, out) == CHAIN_MAX_REFS);
    check_back(INT64_MAX, NULL, 0);
    for (int64_t s = 1; s < 300; s++)
        check_back(s, NULL, 0);
}

/* ---- captions and identities ---- */

static int caption_parses(const char *cap, unsigned char *chain, int64_t *at, int64_t *seq)
{
    size_t n = strlen(cap) + 1;
    char *c = xmalloc(n);
    memcpy(c, cap, n);
    int rc = chain_caption_parse(c, chain, at, seq);
    free(c);
    return rc == 0;
}

/* tmpl with each {NN} replaced by the first NN characters of hex. */
static void expand(char *out, size_t cap, const char *tmpl, const char *hex)
{
    size_t o = 0;
    for (const char *p = tmpl; *p != '\0' && o + 1 < cap;) {
        if (p[0] == '{' && p[1] != '\0' && p[2] != '\0' && p[3] == '}') {
            size_t n = (size_t)(p[1] - '0') * 10 + (size_t)(p[2] - '0');
            for (size_t i = 0; i < n && o + 1 < cap; i++)
                out[o++] = hex[i];
            p += 4;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static void test_captions(void)
{
    unsigned char chain[CHAIN_ID_LEN], got[CHAIN_ID_LEN];
    char name[128], cap[512], hex[2 * CHAIN_ID_LEN + 1];
    int64_t at = 0, seq = 0;
    for (size_t i = 0; i < CHAIN_ID_LEN; i++)
        chain[i] = (unsigned char)(0xf0 + i * 17);
    hex_encode(chain, CHAIN_ID_LEN, hex);

    const int64_t seqs[] = {0, 1, 2, 1000, (int64_t)1 << 40, INT64_MAX};
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        int64_t want_at = i == 5 ? INT64_MAX : 1700000000123;
        chain_caption(name, sizeof(name), chain, want_at, seqs[i]);
        snprintf(cap, sizeof(cap), "tgs3 v1 %s shard=0/1+2 len=123 id=%s", name, "0123456789abcdef0123456789abcdef");
        memset(got, 0, sizeof(got));
        CHECK(caption_parses(cap, got, &at, &seq));
        CHECK(memcmp(got, chain, CHAIN_ID_LEN) == 0 && at == want_at && seq == seqs[i]);
        if (i == 1) {
            char want[128];
            snprintf(want, sizeof(want), "chain=%s at=1700000000123 seq=1", hex);
            CHECK_STR(name, want);
            write_seed("caption-seq1", (const unsigned char *)cap, strlen(cap));
        }
        if (i == 0)
            write_seed("caption-manifest", (const unsigned char *)cap, strlen(cap));
    }

    /* Malformed: each is refused. */
    const char *bad[] = {
        "",
        "tgs3 v1 ",
        "tgs3 v2 chain={32} at=5 seq=1 shard=0/1+2",
        "TGS3 v1 chain={32} at=5 seq=1 shard=0/1+2",
        "chain={32} at=5 seq=1",
        "xtgs3 v1 chain={32} at=5 seq=1",
        "tgs3 v1 chain={31} at=5 seq=1 shard=0/1+2",
        "tgs3 v1 chain={32}0 at=5 seq=1 shard=0/1+2",
        "tgs3 v1 chain={31}g at=5 seq=1 shard=0/1+2",
        "tgs3 v1 chain={30}AB at=5 seq=1 shard=0/1+2",
        "tgs3 v1 chain={32} at=0 seq=1 shard=0/1+2",
        "tgs3 v1 chain={32} at=-5 seq=1 shard=0/1+2",
        "tgs3 v1 chain={32} at=5 seq=-1 shard=0/1+2",
        "tgs3 v1 chain={32} at=5 shard=0/1+2",
        "tgs3 v1 chain={32} seq=1 shard=0/1+2",
        "tgs3 v1 chain={32} at=5 seq= shard=0/1+2",
        "tgs3 v1 chain={32} at=x seq=1",
        "tgs3 v1 chain= at=5 seq=1",
        "tgs3 v1chain={32} at=5 seq=1",
        "tgs3 v1 put=abc blk=1/1 off=0 len=5 id={32}",
        "tgs3 v1 snapshot id={32} at=5 plain=10",
        "tgs3 v1 pack=12 len=5 id={32}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expand(cap, sizeof(cap), bad[i], hex);
        int ok = caption_parses(cap, got, &at, &seq);
        if (ok)
            printf("FAIL %s:%d: accepted the caption \"%s\"\n", __FILE__, __LINE__, cap);
        CHECK(!ok);
    }
    snprintf(cap, sizeof(cap), "tgs3 v1 chain=%s at=5 seq=1 shard=0/1+2 len=1 id=00", hex);
    CHECK(caption_parses(cap, got, &at, &seq) && at == 5 && seq == 1);

    /* Identities: stable, and distinct across seqs and chains. */
    unsigned char u[4][16], other[CHAIN_ID_LEN];
    memcpy(other, chain, CHAIN_ID_LEN);
    other[CHAIN_ID_LEN - 1] ^= 1;
    chain_uuid(chain, 0, u[0]);
    chain_uuid(chain, 1, u[1]);
    chain_uuid(other, 1, u[2]);
    chain_uuid(chain, (int64_t)1 << 40, u[3]);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            CHECK(memcmp(u[i], u[j], 16) != 0);
    unsigned char again[16];
    chain_uuid(chain, 1, again);
    CHECK(memcmp(again, u[1], 16) == 0);
    chain_uuid(other, 1, again);
    CHECK(memcmp(again, u[2], 16) == 0);
    int distinct = 1;
    unsigned char seen[64][16];
    for (int s = 0; s < 64; s++) {
        chain_uuid(chain, s, seen[s]);
        for (int t = 0; t < s; t++)
            distinct &= memcmp(seen[s], seen[t], 16) != 0;
    }
    CHECK(distinct);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
        seed_dir = argv[2];
    else if (argc != 1) {
        printf("usage: %s [--seeds DIR]\n", argv[0]);
        return 2;
    }
    test_refs();
    test_manifests();
    test_journals();
    test_back_seqs();
    test_captions();
    return check_summary();
}

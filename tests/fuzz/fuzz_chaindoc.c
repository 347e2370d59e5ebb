/* fuzz_chaindoc.c — the index's chain documents (gateway/safety/chaindoc.c): manifests,
 * journal documents, refs, and the chain's name in a shard's caption.
 *
 * Input: any bytes. They are decoded as a manifest (chain_manifest_decode), a journal
 * document (chain_journal_decode) and a ref (chain_ref_decode), and read as a
 * NUL-terminated caption (chain_caption_parse; the bytes up to the first NUL).
 * Checked: a decode that succeeds yields values within the format's bounds (chain.h:
 * k >= 1, k + m <= STORE_MAX_SHARDS, 1 <= n <= k + m, every shard's idx < k + m and its
 * file_id without a NUL, 0 <= plain_len <= sealed_size, a known kind; a manifest's blocks
 * are snapshot blocks, at most CHAIN_MAX_BLOCKS; a journal's seq >= 1, at most
 * CHAIN_MAX_REFS refs each with 0 <= seq < the document's, its changes at most
 * CHAIN_MAX_CHANGESET bytes and the input's last bytes), and encoding what was decoded
 * gives the input back byte for byte: the formats have one encoding per value. A caption
 * that parses names seq >= 0 and at > 0, and chain_caption of those values, inside a
 * caption as stripe_send.c writes it, parses back to them.
 *
 * The seeds in corpus/chaindoc/ are written by `test_chain_doc --seeds DIR`
 * (tests/unit/test_chain_doc.c): manifests, journal documents, refs and captions.
 */
#include <stdio.h>

#include "gateway/safety/chain.h"
#include "tests/fuzz/fuzz.h"

static void check_ref(const struct chain_ref *r)
{
    const struct store_stripe *sp = &r->sp;
    FUZZ_CHECK(r->kind == BLK_KIND_SNAPSHOT || r->kind == BLK_KIND_JOURNAL);
    FUZZ_CHECK(r->plain_len >= 0 && r->plain_len <= sp->sealed_size);
    FUZZ_CHECK(sp->k >= 1 && sp->m >= 0 && sp->k + sp->m <= STORE_MAX_SHARDS);
    FUZZ_CHECK(sp->n >= 1 && sp->n <= sp->k + sp->m);
    for (int i = 0; i < sp->n; i++) {
        FUZZ_CHECK(sp->sh[i].idx >= 0 && sp->sh[i].idx < sp->k + sp->m);
        FUZZ_CHECK(memchr(sp->sh[i].file_id, '\0', sizeof(sp->sh[i].file_id)) != NULL);
    }
}

/* enc (len bytes, malloc'd) is exactly the input; frees it. */
static void check_same(unsigned char *enc, size_t len, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(enc != NULL || len == 0);
    FUZZ_CHECK(len == size && memcmp(enc, data, size) == 0);
    free(enc);
}

static void check_manifest(const uint8_t *data, size_t size)
{
    struct chain_manifest mf;
    size_t len = 0;
    if (chain_manifest_decode(data, size, &mf) != 0) {
        FUZZ_CHECK(mf.blocks == NULL && mf.n_blocks == 0);
        return;
    }
    FUZZ_CHECK(mf.n_blocks <= CHAIN_MAX_BLOCKS && mf.blocks != NULL);
    for (uint32_t i = 0; i < mf.n_blocks; i++) {
        check_ref(&mf.blocks[i]);
        FUZZ_CHECK(mf.blocks[i].kind == BLK_KIND_SNAPSHOT);
    }
    unsigned char *enc = chain_manifest_encode(&mf, &len);
    check_same(enc, len, data, size);
    chain_manifest_release(&mf);
    FUZZ_CHECK(mf.blocks == NULL && mf.n_blocks == 0);
}

/* About 470 KB, memset by every decode: static, so its pages stay mapped between runs. */
static struct chain_journal jbuf;

static void check_journal(const uint8_t *data, size_t size)
{
    struct chain_journal *j = &jbuf;
    size_t len = 0;
    if (chain_journal_decode(data, size, j) != 0)
        return;
    FUZZ_CHECK(j->seq >= 1);
    FUZZ_CHECK(j->n_refs >= 0 && j->n_refs <= CHAIN_MAX_REFS);
    for (int i = 0; i < j->n_refs; i++) {
        check_ref(&j->refs[i]);
        FUZZ_CHECK(j->refs[i].seq >= 0 && j->refs[i].seq < j->seq);
    }
    FUZZ_CHECK(j->changes_len <= CHAIN_MAX_CHANGESET);
    if (j->changes_len == 0)
        FUZZ_CHECK(j->changes == NULL);
    else /* the changes are the document's last bytes */
        FUZZ_CHECK(j->changes >= data && j->changes_len <= size && j->changes == data + size - j->changes_len);
    unsigned char *enc = chain_journal_encode(j, &len);
    check_same(enc, len, data, size);
}

static void check_ref_doc(const uint8_t *data, size_t size)
{
    struct chain_ref r;
    size_t len = 0;
    if (chain_ref_decode(data, size, &r) != 0)
        return;
    check_ref(&r);
    unsigned char *enc = chain_ref_encode(&r, &len);
    check_same(enc, len, data, size);
}

static void check_caption(const uint8_t *data, size_t size)
{
    char *s = xmalloc(size + 1), name[128], cap[256];
    unsigned char chain[CHAIN_ID_LEN], chain2[CHAIN_ID_LEN];
    int64_t at = 0, seq = 0, at2 = 0, seq2 = 0;
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    int rc = chain_caption_parse(s, chain, &at, &seq);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(at > 0 && seq >= 0);
        chain_caption(name, sizeof(name), chain, at, seq);
        snprintf(cap, sizeof(cap), "tgs3 v1 %s shard=0/1+2 len=123 id=00ff", name);
        FUZZ_CHECK(chain_caption_parse(cap, chain2, &at2, &seq2) == 0);
        FUZZ_CHECK(memcmp(chain, chain2, CHAIN_ID_LEN) == 0 && at == at2 && seq == seq2);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_manifest(data, size);
    check_journal(data, size);
    check_ref_doc(data, size);
    check_caption(data, size);
    return 0;
}

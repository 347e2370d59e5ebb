/* chaindoc.c — the bytes of the index's chain documents: manifests, journal documents, refs, captions.
 *
 * Formats in chain.h. Encoding writes into a growing buffer; decoding reads
 * through a cursor that refuses to go past the end, so a truncated or
 * garbled document is an error, never a read out of bounds (fuzz_chaindoc).
 * No I/O, no logging.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "gateway/safety/chain.h"

static const char MAGIC_MANIFEST[8] = {'T', 'G', 'S', '3', 'M', 'A', 'N', '1'};
static const char MAGIC_JOURNAL[8] = {'T', 'G', 'S', '3', 'J', 'R', 'N', '1'};
/* bytes of the shortest ref: its fixed fields (44) and one shard with an empty file_id (35) */
#define REF_MIN_LEN (44 + 35)

/* ---- writing ---- */

struct out {
    unsigned char *p;
    size_t len, cap;
};

static void put(struct out *o, const void *v, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n)
            cap *= 2;
        o->p = xrealloc(o->p, cap);
        o->cap = cap;
    }
    memcpy(o->p + o->len, v, n);
    o->len += n;
}

static void put_u(struct out *o, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(o, b, (size_t)bytes);
}

static void put_ref(struct out *o, const struct chain_ref *r)
{
    put_u(o, (uint64_t)r->seq, 8);
    put(o, r->uuid, sizeof(r->uuid));
    put_u(o, (uint64_t)r->kind, 1);
    put_u(o, (uint64_t)r->plain_len, 8);
    put_u(o, (uint64_t)r->sp.k, 1);
    put_u(o, (uint64_t)r->sp.m, 1);
    put_u(o, (uint64_t)r->sp.sealed_size, 8);
    put_u(o, (uint64_t)r->sp.n, 1);
    for (int i = 0; i < r->sp.n; i++) {
        const struct store_shard *sh = &r->sp.sh[i];
        size_t fl = strnlen(sh->file_id, sizeof(sh->file_id) - 1);
        put_u(o, (uint64_t)sh->idx, 1);
        put_u(o, (uint64_t)sh->chat_id, 8);
        put_u(o, (uint64_t)sh->message_id, 8);
        put_u(o, (uint64_t)sh->bot_id, 8);
        put_u(o, (uint64_t)sh->size, 8);
        put_u(o, fl, 2);
        put(o, sh->file_id, fl);
    }
}

unsigned char *chain_ref_encode(const struct chain_ref *r, size_t *len)
{
    struct out o = {0};
    put_ref(&o, r);
    *len = o.len;
    return o.p;
}

unsigned char *chain_manifest_encode(const struct chain_manifest *mf, size_t *len)
{
    struct out o = {0};
    put(&o, MAGIC_MANIFEST, sizeof(MAGIC_MANIFEST));
    put(&o, mf->chain, CHAIN_ID_LEN);
    put_u(&o, (uint64_t)mf->chain_at, 8);
    put_u(&o, (uint64_t)mf->created_ms, 8);
    put_u(&o, mf->index_size, 8);
    put_u(&o, mf->n_blocks, 4);
    for (uint32_t i = 0; i < mf->n_blocks; i++)
        put_ref(&o, &mf->blocks[i]);
    *len = o.len;
    return o.p;
}

unsigned char *chain_journal_encode(const struct chain_journal *j, size_t *len)
{
    struct out o = {0};
    put(&o, MAGIC_JOURNAL, sizeof(MAGIC_JOURNAL));
    put(&o, j->chain, CHAIN_ID_LEN);
    put_u(&o, (uint64_t)j->chain_at, 8);
    put_u(&o, (uint64_t)j->seq, 8);
    put_u(&o, (uint64_t)j->created_ms, 8);
    put_u(&o, (uint64_t)j->n_refs, 1);
    for (int i = 0; i < j->n_refs; i++)
        put_ref(&o, &j->refs[i]);
    put_u(&o, j->changes_len, 4);
    if (j->changes_len > 0)
        put(&o, j->changes, j->changes_len);
    *len = o.len;
    return o.p;
}

/* ---- reading ---- */

struct in {
    const unsigned char *p;
    size_t len, off;
    int bad;
};

static const unsigned char *take(struct in *c, size_t n)
{
    if (c->bad || n > c->len - c->off) {
        c->bad = 1;
        return NULL;
    }
    const unsigned char *p = c->p + c->off;
    c->off += n;
    return p;
}

static uint64_t get_u(struct in *c, int bytes)
{
    const unsigned char *b = take(c, (size_t)bytes);
    uint64_t v = 0;
    for (int i = 0; b != NULL && i < bytes; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static int get_ref(struct in *c, struct chain_ref *r)
{
    memset(r, 0, sizeof(*r));
    r->seq = (int64_t)get_u(c, 8);
    const unsigned char *u = take(c, sizeof(r->uuid));
    if (u != NULL)
        memcpy(r->uuid, u, sizeof(r->uuid));
    r->kind = (int)get_u(c, 1);
    r->plain_len = (int64_t)get_u(c, 8);
    r->sp.k = (int)get_u(c, 1);
    r->sp.m = (int)get_u(c, 1);
    r->sp.sealed_size = (int64_t)get_u(c, 8);
    r->sp.n = (int)get_u(c, 1);
    if (c->bad || r->sp.k < 1 || r->sp.k + r->sp.m > STORE_MAX_SHARDS || r->sp.n < 1 || r->sp.n > r->sp.k + r->sp.m ||
        r->plain_len < 0 || r->sp.sealed_size < r->plain_len || (r->kind != BLK_KIND_SNAPSHOT && r->kind != BLK_KIND_JOURNAL))
        return -1;
    for (int i = 0; i < r->sp.n; i++) {
        struct store_shard *sh = &r->sp.sh[i];
        sh->idx = (int)get_u(c, 1);
        sh->chat_id = (int64_t)get_u(c, 8);
        sh->message_id = (int64_t)get_u(c, 8);
        sh->bot_id = (int64_t)get_u(c, 8);
        sh->size = (int64_t)get_u(c, 8);
        size_t fl = (size_t)get_u(c, 2);
        const unsigned char *f = fl < sizeof(sh->file_id) ? take(c, fl) : NULL;
        /* A file_id is text: with a NUL inside, the ref would encode shorter than it was read. */
        if (f == NULL || sh->idx >= r->sp.k + r->sp.m || memchr(f, '\0', fl) != NULL)
            return -1;
        memcpy(sh->file_id, f, fl);
        sh->file_id[fl] = '\0';
    }
    return c->bad ? -1 : 0;
}

int chain_ref_decode(const unsigned char *buf, size_t len, struct chain_ref *out)
{
    struct in c = {buf, len, 0, 0};
    return get_ref(&c, out) == 0 && c.off == len ? 0 : -1;
}

/* The header both documents share after their magic. */
static int get_head(struct in *c, const char *magic, unsigned char *chain, int64_t *chain_at)
{
    const unsigned char *m = take(c, 8);
    const unsigned char *ch = take(c, CHAIN_ID_LEN);
    if (m == NULL || ch == NULL || memcmp(m, magic, 8) != 0)
        return -1;
    memcpy(chain, ch, CHAIN_ID_LEN);
    *chain_at = (int64_t)get_u(c, 8);
    return c->bad ? -1 : 0;
}

int chain_manifest_decode(const unsigned char *buf, size_t len, struct chain_manifest *out)
{
    struct in c = {buf, len, 0, 0};
    memset(out, 0, sizeof(*out));
    if (get_head(&c, MAGIC_MANIFEST, out->chain, &out->chain_at) != 0)
        return -1;
    out->created_ms = (int64_t)get_u(&c, 8);
    out->index_size = get_u(&c, 8);
    uint32_t n = (uint32_t)get_u(&c, 4);
    /* A count the rest cannot hold is refused before the blocks are allocated: 65536 refs of
     * about 12 KB each would be 776 MB for a 52-byte input. */
    if (c.bad || n > CHAIN_MAX_BLOCKS || n > (len - c.off) / REF_MIN_LEN)
        return -1;
    out->blocks = xcalloc(n ? n : 1, sizeof(*out->blocks));
    for (out->n_blocks = 0; out->n_blocks < n; out->n_blocks++)
        if (get_ref(&c, &out->blocks[out->n_blocks]) != 0 || out->blocks[out->n_blocks].kind != BLK_KIND_SNAPSHOT) {
            chain_manifest_release(out);
            return -1;
        }
    if (c.off != len) {
        chain_manifest_release(out);
        return -1;
    }
    return 0;
}

void chain_manifest_release(struct chain_manifest *mf)
{
    free(mf->blocks);
    mf->blocks = NULL;
    mf->n_blocks = 0;
}

int chain_journal_decode(const unsigned char *buf, size_t len, struct chain_journal *out)
{
    struct in c = {buf, len, 0, 0};
    memset(out, 0, sizeof(*out));
    if (get_head(&c, MAGIC_JOURNAL, out->chain, &out->chain_at) != 0)
        return -1;
    out->seq = (int64_t)get_u(&c, 8);
    out->created_ms = (int64_t)get_u(&c, 8);
    out->n_refs = (int)get_u(&c, 1);
    if (c.bad || out->seq < 1 || out->n_refs > CHAIN_MAX_REFS)
        return -1;
    for (int i = 0; i < out->n_refs; i++)
        if (get_ref(&c, &out->refs[i]) != 0 || out->refs[i].seq < 0 || out->refs[i].seq >= out->seq)
            return -1;
    out->changes_len = (size_t)get_u(&c, 4);
    if (out->changes_len > CHAIN_MAX_CHANGESET)
        return -1;
    out->changes = out->changes_len ? take(&c, out->changes_len) : NULL;
    return c.bad || c.off != len ? -1 : 0;
}

int chain_back_seqs(int64_t seq, int64_t *out)
{
    int n = 0;
    if (seq < 1)
        return 0;
    out[n++] = 0;
    int64_t at[CHAIN_MAX_REFS];
    int m = 0;
    for (int64_t d = 1; d <= seq && m < CHAIN_MAX_REFS - 1; d *= 2)
        if (seq - d > 0)
            at[m++] = seq - d;
    for (int i = m - 1; i >= 0; i--) /* ascending */
        out[n++] = at[i];
    return n;
}

/* ---- identities and captions ---- */

void chain_uuid(const unsigned char *chain, int64_t seq, unsigned char *uuid)
{
    unsigned char in[CHAIN_ID_LEN + 8], md[SHA256_DIGEST_LENGTH];
    memcpy(in, chain, CHAIN_ID_LEN);
    for (int i = 0; i < 8; i++)
        in[CHAIN_ID_LEN + i] = (unsigned char)((uint64_t)seq >> (8 * i));
    SHA256(in, sizeof(in), md);
    memcpy(uuid, md, 16);
}

void chain_caption(char *out, size_t cap, const unsigned char *chain, int64_t chain_at, int64_t seq)
{
    char ch[2 * CHAIN_ID_LEN + 1];
    hex_encode(chain, CHAIN_ID_LEN, ch);
    snprintf(out, cap, "chain=%s at=%" PRId64 " seq=%" PRId64, ch, chain_at, seq);
}

int chain_caption_parse(const char *caption, unsigned char *chain, int64_t *chain_at, int64_t *seq)
{
    char ch[2 * CHAIN_ID_LEN + 1];
    long long at, sq;
    const char *p = strstr(caption, " chain=");
    if (p == NULL || strncmp(caption, "tgs3 v1 ", 8) != 0 ||
        sscanf(p, " chain=%32[0-9a-f] at=%lld seq=%lld", ch, &at, &sq) != 3 || strlen(ch) != 2 * CHAIN_ID_LEN ||
        sq < 0 || at <= 0)
        return -1;
    for (size_t i = 0; i < CHAIN_ID_LEN; i++)
        chain[i] = (unsigned char)(hex_digit((unsigned char)ch[2 * i]) << 4 | hex_digit((unsigned char)ch[2 * i + 1]));
    *chain_at = at;
    *seq = sq;
    return 0;
}

/* shard.h — stripes (prefix blk_): a sealed block cut into k data + m parity shards,
 * each posted as its own authenticated document, any k good shards rebuild the block.
 *
 * A stripe protects a sealed buffer (blk.h) against lost or damaged
 * documents: the sealed buffer is cut into k data shards of blk_shard_len
 * bytes (the last one zero-padded), m parity shards are computed from them
 * with a systematic Reed–Solomon code (ISA-L, Cauchy matrix: any k of the
 * k + m shards determine the others), and each shard is posted into a
 * different channel as one document:
 *
 *   header (BLK_SHARD_HEADER_LEN = 48 bytes)
 *     0..3   magic "TGS3"
 *     4      format version (1)
 *     5      kind BLK_KIND_SHARD
 *     6      key id (1..255; 0 = sealed without a keyring: unkeyed tag)
 *     7      shard index (0..k+m-1; data shards first)
 *     8..23  block id (BLK_ID_LEN bytes, the stripe's block)
 *     24..35 nonce (BLK_NONCE_LEN random bytes, fresh per shard document)
 *     36     k
 *     37     m
 *     38..39 reserved, 0
 *     40..47 sealed length of the whole block, 8 bytes big-endian
 *   body (blk_shard_len(sealed_len, k) bytes)
 *   tag (BLK_SHARD_TAG_LEN = 16 bytes)
 *
 * Tag: GMAC, i.e. AES-256-GCM with an empty plaintext and header || body as
 * associated data, under the "shard" HKDF subkey of the header's key id, with
 * the header's nonce. Every header field is covered, so a shard presented as
 * another index, another block or another geometry fails, and a damaged
 * shard is told apart from the good ones before decoding (the block's own
 * GCM tag would only say that the rebuilt whole is wrong). Without a keyring
 * (kr == NULL) the tag is the first 16 bytes of SHA-256(header || body) and
 * the key id is 0: that detects damage, not forgery. A keyring never accepts
 * an unkeyed shard, nor the reverse.
 *
 * The shard bodies carry the sealed buffer as it is: confidentiality comes
 * from the block's own sealing, and the block's GCM tag still checks the
 * rebuilt whole.
 *
 * Threads: struct blk_ec is immutable after blk_ec_new; every function here
 * may run on any thread at once. No network, no logging.
 */
#ifndef TGS3_BLK_SHARD_H
#define TGS3_BLK_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/blocks/blk.h"

#define BLK_SHARD_HEADER_LEN 48
#define BLK_SHARD_TAG_LEN 16
#define BLK_SHARD_OVERHEAD (BLK_SHARD_HEADER_LEN + BLK_SHARD_TAG_LEN) /* bytes a shard document adds to its body */
#define BLK_MAX_SHARDS 32                                             /* k + m at most */
#define BLK_SHARD_ALIGN 64                                            /* bytes: body lengths are multiples */

/* Bytes of each shard's body for a sealed buffer of sealed_len bytes cut
 * into k (>= 1) data shards: ceil(sealed_len / k) rounded up to a multiple of
 * BLK_SHARD_ALIGN (what ISA-L's SIMD loops like). Data shard i holds sealed
 * bytes [i * len, (i + 1) * len); the caller zero-pads past sealed_len.
 * SIZE_MAX (never a body length) when k < 1 or the length would not fit in
 * a size_t. */
size_t blk_shard_len(uint64_t sealed_len, int k);

/* ---- erasure code ---- */

struct blk_ec;

/* Encoding tables for k data + m parity shards (1 <= k, 0 <= m, k + m <=
 * BLK_MAX_SHARDS; m == 0 means no parity, and a rebuild needs all k). The
 * code is a Cauchy matrix under the identity, so ANY k of the k + m shards
 * decode for every k and m in range. *out is NULL on failure (BLK_ERR_FORMAT:
 * k or m out of range). The object is immutable: share it across threads and
 * free it with blk_ec_free (NULL: no-op) once nobody uses it. */
enum blk_status blk_ec_new(int k, int m, struct blk_ec **out) WARN_UNUSED;
void blk_ec_free(struct blk_ec *ec);

/* Computes the m parity shards parity[0..m) from the k data shards
 * data[0..k), each len bytes (any len; blk_shard_len is what stripes use).
 * The caller owns every buffer; parity must not overlap data. m == 0: no-op. */
void blk_ec_encode(const struct blk_ec *ec, size_t len, unsigned char *const *data, unsigned char *const *parity);

/* Rebuilds shards from any k others. have[0..k+m) points at each available
 * shard (len bytes) or is NULL; the first k available ones are used (lowest
 * indexes first, so data shards are preferred to parity). For each j <
 * n_want, shard want[j] (a data or parity index; normally a missing one, but
 * an available one is recomputed the same way, which a scrub may use) is
 * written to out[j] (len bytes, not overlapping any have[]). BLK_ERR_FORMAT,
 * with nothing written, if fewer than k shards are available, an index is
 * out of range or n_want is not in 0..BLK_MAX_SHARDS. Any thread (per-call
 * scratch). */
enum blk_status blk_ec_rebuild(const struct blk_ec *ec, size_t len, unsigned char *const *have, const int *want,
                               int n_want, unsigned char *const *out) WARN_UNUSED;

/* ---- shard documents ---- */

/* Fills header (BLK_SHARD_HEADER_LEN bytes) and tag (BLK_SHARD_TAG_LEN bytes)
 * for shard index of block id (BLK_ID_LEN bytes) in a stripe of k + m shards
 * protecting sealed_len bytes, whose body is body[0..len). The document to
 * post is header || body || tag. Uses the current key of kr, or the unkeyed
 * tag when kr is NULL. BLK_ERR_FORMAT if the geometry is out of range
 * (index, k, m as for blk_ec_new, sealed_len 0) or len is not
 * blk_shard_len(sealed_len, k); BLK_ERR_CRYPTO if OpenSSL fails. On failure
 * header and tag are unspecified. */
enum blk_status blk_shard_seal(const struct blk_keyring *kr, const unsigned char *id, int index, int k, int m,
                               uint64_t sealed_len, const void *body, size_t len, unsigned char *header,
                               unsigned char *tag) WARN_UNUSED;

/* Verifies doc[0..doc_len) as shard index of block id with geometry k, m,
 * sealed_len (what the index records). BLK_ERR_FORMAT: not a shard document,
 * doc_len is not blk_shard_len(sealed_len, k) + BLK_SHARD_OVERHEAD, or k, m,
 * sealed_len or a reserved byte differ; BLK_ERR_KEY: the key id is unknown
 * to kr (or nonzero without a keyring, zero with one); BLK_ERR_AUTH: another
 * block id or index than expected, or the tag does not verify; BLK_ERR_CRYPTO:
 * OpenSSL failed. On BLK_OK the body is doc + BLK_SHARD_HEADER_LEN
 * (blk_shard_len bytes). doc is only read. Any thread. */
enum blk_status blk_shard_open(const struct blk_keyring *kr, const unsigned char *id, int index, int k, int m,
                               uint64_t sealed_len, const unsigned char *doc, size_t doc_len) WARN_UNUSED;

/* Reads a shard header's fields without authenticating them (recovery tools,
 * strays): index, k, m, block id (BLK_ID_LEN bytes into id), sealed_len. Needs
 * only the first BLK_SHARD_HEADER_LEN bytes. BLK_ERR_FORMAT, outputs
 * unchanged, if it is not a shard header of this format with a geometry in
 * range. */
enum blk_status blk_shard_peek(const unsigned char *doc, size_t len, int *index, int *k, int *m, unsigned char *id,
                               uint64_t *sealed_len) WARN_UNUSED;

/* ---- layouts ---- */

/* The layout `--redundancy auto` picks for n_channels channels: survive f
 * lost channels (f = 1 for 2..5 channels, 2 for 6 or more), keeping f more
 * channels spare when that still leaves k >= 1 (so a repair after a loss can
 * put the rebuilt shards in channels the stripe does not use yet), k at most
 * 8. n <= 1: 1+0 (unprotected). 2 → 1+1, 3 → 1+1, 4 → 2+1, 5 → 3+1, 6 → 2+2,
 * 8 → 4+2, 12 → 8+2, 40 → 8+2. */
void blk_layout_auto(int n_channels, int *k, int *m);

/* Parses a --redundancy value for n_channels channels: "none" (1+0), "mirror"
 * (a full copy in every channel: 1 + (n-1), at most BLK_MAX_SHARDS copies;
 * with n >= 2 that is at least 1+1, with one channel there is no second
 * channel for a copy and it is 1+0), "rs:K+M" (1 <= K, 0 <= M, K + M <=
 * BLK_MAX_SHARDS and K + M <= n_channels, since every shard needs its own
 * channel), "auto" (blk_layout_auto). 0, or -1 with *k and *m unchanged. */
int blk_layout_parse(const char *s, int n_channels, int *k, int *m);

#endif

/* blk.h — sealing of blocks and index snapshots (prefix blk_): AES-256-GCM, keys, keyed hashes.
 *
 * Every block of object data leaves the gateway sealed: a fresh random
 * 96-bit nonce per block, the block's identity bound as associated data, a
 * key id so keys can rotate. Format of a sealed buffer:
 *
 *   header (BLK_HEADER_LEN = 36 bytes)
 *     0..3   magic "TGS3"
 *     4      format version (1)
 *     5      kind (BLK_KIND_DATA or BLK_KIND_SNAPSHOT; BLK_KIND_SHARD has
 *            its own header, shard.h)
 *     6      key id (1..255)
 *     7      reserved, 0
 *     8..23  block id (16 random bytes chosen before upload, kept in the index)
 *     24..35 nonce
 *   ciphertext (as long as the plaintext)
 *   GCM tag (16 bytes)
 *
 * Associated data = the whole header followed by the plaintext length as
 * 8 bytes big-endian, so a document cannot be swapped for another block,
 * another kind, another key id or a truncated copy without failing
 * authentication.
 *
 * Keys: the key file holds one or more 32-byte master keys (raw bytes; key
 * id i is bytes [32(i-1), 32i)); the last one seals new data, all of them
 * open. From each master key HKDF-SHA256 derives separate subkeys: sealing,
 * dedup HMAC, snapshot sealing and stripe shard tags (shard.h). A struct blk_keyring owns the only copies
 * of the key material and cleanses it on free; nothing here logs, and key
 * bytes never appear in an error text.
 *
 * Threads: a keyring is immutable after loading, so blk_seal, blk_open and
 * blk_hash may run concurrently on any threads (the gateway runs them on
 * libuv's pool). Only libc and OpenSSL are used; no network.
 */
#ifndef TGS3_BLK_H
#define TGS3_BLK_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define BLK_KEY_LEN 32
#define BLK_ID_LEN 16
#define BLK_NONCE_LEN 12
#define BLK_TAG_LEN 16
#define BLK_HASH_LEN 32
#define BLK_HEADER_LEN 36
#define BLK_OVERHEAD (BLK_HEADER_LEN + BLK_TAG_LEN) /* bytes a sealed buffer adds to its plaintext */
#define BLK_MAX_KEYS 255

/* The kind byte of every document tgs3 posts. blk_seal and blk_open take DATA,
 * SNAPSHOT (a snapshot's blocks and its manifest) and JOURNAL (the index's journal
 * documents, under the snapshot subkey too); a SHARD is one piece of a stripe
 * (shard.h), never sealed whole. */
enum blk_kind { BLK_KIND_DATA = 1, BLK_KIND_SNAPSHOT = 2, BLK_KIND_SHARD = 3, BLK_KIND_JOURNAL = 4 };

enum blk_status {
    BLK_OK = 0,
    BLK_ERR_FORMAT, /* not a sealed buffer of this format/kind, or sizes disagree */
    BLK_ERR_KEY,    /* key id unknown to this keyring, or not the one expected */
    BLK_ERR_AUTH,   /* authentication failed: tampered, wrong identity or wrong key */
    BLK_ERR_CRYPTO, /* OpenSSL failure (random source, cipher setup) */
    BLK_ERR_IO,     /* key file missing, unreadable, malformed or not creatable */
};
const char *blk_status_name(enum blk_status s);

struct blk_keyring;

/* Builds a keyring from n_keys master keys of BLK_KEY_LEN bytes each (key
 * ids 1..n_keys; the last seals). The caller keeps (and cleanses) its copy.
 * *out is NULL on failure. */
enum blk_status blk_keyring_new(const unsigned char *keys, size_t n_keys, struct blk_keyring **out) WARN_UNUSED;
/* Loads the key file at path; when it is missing and create is set, creates
 * it (mode 0600, O_EXCL) with one fresh random key and fsyncs it and its
 * directory. *created tells which happened; *loose_mode is set when the
 * file is readable by group or others (the caller warns). On failure err
 * (errlen bytes) says why without any key material; *out is NULL. */
enum blk_status blk_keyring_load(const char *path, int create, struct blk_keyring **out, int *created,
                                 int *loose_mode, char *err, size_t errlen) WARN_UNUSED;
/* Cleanses and frees; NULL is a no-op. */
void blk_keyring_free(struct blk_keyring *kr);
/* The key id new seals use (1..BLK_MAX_KEYS). */
int blk_keyring_current(const struct blk_keyring *kr);

/* Fills out with n bytes from OpenSSL's CSPRNG. */
enum blk_status blk_random(void *out, size_t n) WARN_UNUSED;

/* Seals plain[0..len) of the given kind (DATA or SNAPSHOT; any other kind
 * is BLK_ERR_KEY: it has no sealing key) under the current key into out,
 * which must hold len + BLK_OVERHEAD bytes (plain may be out +
 * BLK_HEADER_LEN, sealing in place; it must not overlap out otherwise).
 * id is the block's identity (BLK_ID_LEN bytes). On success *key_id and
 * nonce (BLK_NONCE_LEN bytes) report what was used; on failure out's
 * contents are unspecified. */
enum blk_status blk_seal(const struct blk_keyring *kr, enum blk_kind kind, const unsigned char *id,
                         const void *plain, size_t len, unsigned char *out, int *key_id, unsigned char *nonce)
    WARN_UNUSED;
/* Authenticates and decrypts buf[0..sealed_len) in place. The caller states
 * what it expects: kind, identity id (BLK_ID_LEN bytes), key id (0 = any
 * known) and plaintext length (plain_len; SIZE_MAX = whatever the size
 * implies). On BLK_OK the plaintext is buf[BLK_HEADER_LEN ..
 * BLK_HEADER_LEN + *plain_len_out); on failure no plaintext is left in buf
 * (the decrypted region is wiped). */
enum blk_status blk_open(const struct blk_keyring *kr, enum blk_kind kind, const unsigned char *id, int key_id,
                         size_t plain_len, unsigned char *buf, size_t sealed_len, size_t *plain_len_out)
    WARN_UNUSED;
/* blk_open from a buffer it leaves as it is (a document others read too):
 * the plaintext into out (room for sealed_len - BLK_OVERHEAD bytes) at
 * out[0 .. *plain_len_out); on failure out holds no plaintext. */
enum blk_status blk_open_copy(const struct blk_keyring *kr, enum blk_kind kind, const unsigned char *id, int key_id,
                              size_t plain_len, const unsigned char *buf, size_t sealed_len, unsigned char *out,
                              size_t *plain_len_out) WARN_UNUSED;
/* Reads the identity fields of a sealed header without authenticating them
 * (for recovery tools): kind, key id, block id (BLK_ID_LEN bytes). */
enum blk_status blk_peek(const unsigned char *buf, size_t len, int *kind, int *key_id, unsigned char *id)
    WARN_UNUSED;

/* Keyed content hash for dedup: HMAC-SHA256 under the dedup subkey of key
 * 1 (stable across rotations), BLK_HASH_LEN bytes into out. Never a bare hash. */
enum blk_status blk_hash(const struct blk_keyring *kr, const void *data, size_t len, unsigned char *out)
    WARN_UNUSED;

#endif

/* blk_int.h — what the files of gateway/blocks/ share and nothing outside the directory includes.
 *
 * The keyring's key material stays in blk.c; shard.c asks it for the one
 * subkey it needs, by key id, and never copies it.
 */
#ifndef TGS3_BLK_INT_H
#define TGS3_BLK_INT_H

#include "gateway/blocks/blk.h"

/* The shard-tag subkey (BLK_KEY_LEN bytes, owned by kr, valid while kr lives)
 * of master key key_id, or NULL when kr has no such key. Any thread. */
const unsigned char *blk_keyring_shard_key(const struct blk_keyring *kr, int key_id);

#endif

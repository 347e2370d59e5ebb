/* fuzz_shard.c — stripe shard documents read back from Telegram: blk_shard_peek and
 * blk_shard_open (gateway/blocks/shard.c), and the --redundancy value blk_layout_parse.
 *
 * Input: the bytes of a shard document as downloaded (header || body || tag).
 * Checked: blk_shard_peek either reads a header whose geometry is in range or
 * says BLK_ERR_FORMAT; blk_shard_open, expecting what the header itself
 * claims (so mutations get past the field checks to the tag), with the
 * fuzzer's keyring and without one, answers one of its documented statuses and
 * accepts only a document whose length adds up; expecting another index or
 * block id it refuses. When the length adds up, the body is sealed afresh
 * both ways and must open, and must not once a bit of it is flipped. The
 * first line of the input (up to 31 bytes) is also a --redundancy value for
 * 1 + (first byte % 40) channels: a layout that parses fits BLK_MAX_SHARDS
 * and the channels.
 *
 * The seeds in corpus/shard/ were sealed with the key below (keyed-*) or
 * without one (unkeyed-*).
 */
#include "gateway/blocks/blk.h"
#include "gateway/blocks/shard.h"
#include "tests/fuzz/fuzz.h"

static struct blk_keyring *kr; /* lives as long as the process */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsigned char master[BLK_KEY_LEN];
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof(master); i++)
        master[i] = (unsigned char)(i * 7 + 3);
    if (blk_keyring_new(master, 1, &kr) != BLK_OK)
        abort();
    return 0;
}

static void check_open(const struct blk_keyring *keys, const unsigned char *id, int index, int k, int m,
                       uint64_t sealed_len, const unsigned char *doc, size_t len)
{
    enum blk_status s = blk_shard_open(keys, id, index, k, m, sealed_len, doc, len);
    FUZZ_CHECK(s == BLK_OK || s == BLK_ERR_FORMAT || s == BLK_ERR_KEY || s == BLK_ERR_AUTH);
    if (s == BLK_OK)
        FUZZ_CHECK(len == blk_shard_len(sealed_len, k) + BLK_SHARD_OVERHEAD);
    /* Never under another identity. */
    unsigned char other[BLK_ID_LEN];
    memcpy(other, id, BLK_ID_LEN);
    other[0] ^= 0x80;
    FUZZ_CHECK(blk_shard_open(keys, other, index, k, m, sealed_len, doc, len) != BLK_OK);
    FUZZ_CHECK(blk_shard_open(keys, id, (index + 1) % (k + m), k, m, sealed_len, doc, len) != BLK_OK || k + m == 1);
}

/* The body sealed afresh opens; with one bit flipped it does not. */
static void check_reseal(const struct blk_keyring *keys, const unsigned char *id, int index, int k, int m,
                         uint64_t sealed_len, const unsigned char *body, size_t len)
{
    unsigned char *doc = xmalloc(len + BLK_SHARD_OVERHEAD);
    memcpy(doc + BLK_SHARD_HEADER_LEN, body, len);
    FUZZ_CHECK(blk_shard_seal(keys, id, index, k, m, sealed_len, body, len, doc, doc + BLK_SHARD_HEADER_LEN + len) ==
               BLK_OK);
    FUZZ_CHECK(blk_shard_open(keys, id, index, k, m, sealed_len, doc, len + BLK_SHARD_OVERHEAD) == BLK_OK);
    size_t at = (len + BLK_SHARD_OVERHEAD) / 2;
    doc[at] ^= 1;
    FUZZ_CHECK(blk_shard_open(keys, id, index, k, m, sealed_len, doc, len + BLK_SHARD_OVERHEAD) != BLK_OK);
    free(doc);
}

static void check_layout(const uint8_t *data, size_t size)
{
    char s[32];
    size_t n = 0;
    while (n < size && n < sizeof(s) - 1 && data[n] != '\n') {
        s[n] = (char)data[n];
        n++;
    }
    s[n] = '\0';
    int channels = size > 0 ? 1 + data[0] % 40 : 1, k = -1, m = -1;
    int rc = blk_layout_parse(s, channels, &k, &m);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0)
        FUZZ_CHECK(k >= 1 && m >= 0 && k + m <= BLK_MAX_SHARDS && k + m <= (channels > 1 ? channels : 1));
    else
        FUZZ_CHECK(k == -1 && m == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int index = -1, k = -1, m = -1;
    uint64_t sealed_len = 0;
    unsigned char id[BLK_ID_LEN];

    check_layout(data, size);
    enum blk_status s = blk_shard_peek(data, size, &index, &k, &m, id, &sealed_len);
    FUZZ_CHECK(s == BLK_OK || s == BLK_ERR_FORMAT);
    if (s != BLK_OK) {
        FUZZ_CHECK(index == -1 && k == -1 && m == -1);
        memset(id, 0, sizeof(id));
        FUZZ_CHECK(blk_shard_open(kr, id, 0, 1, 0, 1, data, size) == BLK_ERR_FORMAT);
        FUZZ_CHECK(blk_shard_open(NULL, id, 0, 1, 0, 1, data, size) == BLK_ERR_FORMAT);
        return 0;
    }
    FUZZ_CHECK(k >= 1 && m >= 0 && k + m <= BLK_MAX_SHARDS && index >= 0 && index < k + m && sealed_len > 0);

    check_open(kr, id, index, k, m, sealed_len, data, size);
    check_open(NULL, id, index, k, m, sealed_len, data, size);
    size_t len = blk_shard_len(sealed_len, k);
    if (len != SIZE_MAX && size == len + BLK_SHARD_OVERHEAD) {
        check_reseal(kr, id, index, k, m, sealed_len, data + BLK_SHARD_HEADER_LEN, len);
        check_reseal(NULL, id, index, k, m, sealed_len, data + BLK_SHARD_HEADER_LEN, len);
    }
    return 0;
}

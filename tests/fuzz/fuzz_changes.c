/* fuzz_changes.c — index journal changesets as read back from Telegram: store_changes_apply
 * (gateway/store/changes.c) onto a fresh index.
 *
 * Input: the bytes of a changeset, as store_changes_take wrote them into a journal document.
 * Checked: store_changes_apply answers STORE_OK or STORE_CONFLICT (never fails as if the index
 * itself had, never crashes or hangs), and a refused changeset leaves the index as it was. Each
 * input meets the same index, in memory: the one fuzz_index makes (a bucket, a block, an object);
 * what an input applied is rolled back after it.
 *
 * The seeds in corpus/changes/ were taken with store_changes_take from that index after one kind
 * of change each (object put, metadata, delete, multipart upload, bucket, stripe, retired chat,
 * journal row); cut-header is the first byte of one (SQLite's own reader loops for ever on it),
 * patchset a patchset of SQLite's own (refused).
 */
#include <stdio.h>

#include "gateway/store/store.h"
#include "tests/fuzz/fuzz.h"

static struct store *st; /* lives as long as the process */

/* The base every input meets: bucket "bk", block 1 (message 10 of chat -100), object "k" in it. */
static void fuzz_index(struct store *s)
{
    struct store_block b = {.chat_id = -100, .message_id = 10, .bot_id = 7, .plain_size = 1000,
                            .stored_size = 1028, .key_id = 1, .created_ms = 5};
    struct store_extent ext = {.length = 100};
    struct store_object o = {.bucket = "bk", .key = (char *)"k", .size = 100, .mtime_ms = 1,
                             .meta_json = (char *)"{}", .extents = &ext, .n_extents = 1};

    snprintf(b.file_id, sizeof b.file_id, "file-10");
    snprintf(o.etag, sizeof o.etag, "d41d8cd98f00b204e9800998ecf8427e");
    if (store_bucket_create(s, "bk", "ak", 1) != STORE_OK || store_block_insert(s, &b) != STORE_OK)
        abort();
    ext.block_id = b.id;
    if (store_object_put(s, &o) != STORE_OK)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (store_open(":memory:", &st) != STORE_OK)
        abort();
    fuzz_index(st);
    return 0;
}

/* What the index holds, in figures and the one object's metadata. */
static void figures(struct store_stats *out, char meta[64])
{
    struct store_object *o = NULL;

    FUZZ_CHECK(store_stats_get(st, out) == STORE_OK);
    meta[0] = '\0';
    if (store_object_head(st, "bk", "k", &o) == STORE_OK)
        snprintf(meta, 64, "%s|%lld", o->meta_json, (long long)o->size);
    store_object_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct store_stats before, after;
    char meta_before[64], meta_after[64];

    FUZZ_CHECK(store_tx_begin(st) == STORE_OK);
    figures(&before, meta_before);
    enum store_status s = store_changes_apply(st, data, size);
    FUZZ_CHECK(s == STORE_OK || s == STORE_CONFLICT);
    if (s == STORE_CONFLICT) {
        figures(&after, meta_after);
        FUZZ_CHECK(memcmp(&before, &after, sizeof before) == 0 && strcmp(meta_before, meta_after) == 0);
    }
    store_tx_rollback(st);
    return 0;
}

/* check_store.h — what the store's unit tests share: a status check that names both statuses,
 * and a fresh index file. Include after gateway/store/store.h and tests/unit/check.h.
 */
#ifndef TGS3_TEST_CHECK_STORE_H
#define TGS3_TEST_CHECK_STORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_ST(expr, want)                                                                           \
    do {                                                                                               \
        enum store_status got_ = (expr);                                                               \
        if (got_ == (want)) {                                                                          \
            passed++;                                                                                  \
        } else {                                                                                       \
            failed++;                                                                                  \
            printf("FAIL %s:%d: %s = %s, want %s\n", __FILE__, __LINE__, #expr, store_status_name(got_), \
                   store_status_name(want));                                                           \
        }                                                                                              \
    } while (0)

/* Removes the database file at path with its -wal and -shm companions. */
static inline void check_db_remove(const char *path)
{
    char p[4200];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* An empty index at path (whatever was there removed first); exits when it cannot be opened. */
static inline struct store *check_store_fresh(const char *path)
{
    struct store *st = NULL;
    check_db_remove(path);
    if (store_open(path, &st) != STORE_OK) {
        printf("FAIL cannot open %s\n", path);
        fflush(stdout);
        exit(1);
    }
    return st;
}

/* Inserts a posted block: message msg in chat -100 by bot 7 (file_id "file-MSG",
 * file_unique_id "u-MSG"), 1000 bytes of plaintext in stored bytes, keyed hash
 * starting hash0, key 1, nonce ending 0x42, identity starting msg, posted at
 * created_ms. Its id. */
static inline int64_t check_block_add_at(struct store *st, int64_t msg, unsigned char hash0, int64_t stored,
                                         int64_t created_ms)
{
    struct store_block b;
    memset(&b, 0, sizeof b);
    b.chat_id = -100;
    b.message_id = msg;
    b.bot_id = 7;
    snprintf(b.file_id, sizeof b.file_id, "file-%lld", (long long)msg);
    snprintf(b.file_unique_id, sizeof b.file_unique_id, "u-%lld", (long long)msg);
    b.plain_size = 1000;
    b.stored_size = stored;
    b.hash[0] = hash0;
    b.key_id = 1;
    b.nonce[11] = 0x42;
    b.uuid[0] = (unsigned char)msg;
    b.created_ms = created_ms;
    CHECK_ST(store_block_insert(st, &b), STORE_OK);
    return b.id;
}

/* The same, posted at 5 ms. */
static inline int64_t check_block_add(struct store *st, int64_t msg, unsigned char hash0, int64_t stored)
{
    return check_block_add_at(st, msg, hash0, stored, 5);
}

/* Writes object bucket/key as length bytes at offset of block_id (one extent). */
static inline enum store_status check_object_put_at(struct store *st, const char *bucket, const char *key,
                                                    int64_t block_id, int64_t offset, int64_t length)
{
    struct store_extent ext;
    struct store_object o;
    memset(&o, 0, sizeof o);
    memset(&ext, 0, sizeof ext);
    snprintf(o.bucket, sizeof o.bucket, "%s", bucket);
    o.key = (char *)key;
    o.size = length;
    snprintf(o.etag, sizeof o.etag, "d41d8cd98f00b204e9800998ecf8427e");
    o.mtime_ms = 1;
    o.meta_json = (char *)"{}";
    ext.block_id = block_id;
    ext.offset = offset;
    ext.length = length;
    o.extents = &ext;
    o.n_extents = 1;
    return store_object_put(st, &o);
}

/* Writes object bucket/key as length bytes at the start of block_id (one extent). */
static inline enum store_status check_object_put(struct store *st, const char *bucket, const char *key,
                                                 int64_t block_id, int64_t length)
{
    return check_object_put_at(st, bucket, key, block_id, 0, length);
}

/* Messages on the delete queue (any due time), at most 64; 9999 when it cannot be read. */
static inline size_t check_gc_count(struct store *st)
{
    struct store_gc_item items[64];
    size_t n = 0;
    if (store_gc_due(st, INT64_MAX / 2, 64, items, &n) != STORE_OK)
        return 9999;
    return n;
}

#endif

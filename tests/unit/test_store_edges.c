/* test_store_edges.c — unit tests of the store's S3 edge cases: DeleteBucket
 * of a bucket holding only unfinished multipart uploads (they are aborted, their
 * blocks queued for deletion), and the record of completed uploads that lets
 * a retried CompleteMultipartUpload answer as the first one did.
 *
 * Each test works on a fresh database file under /tmp. One line per failed
 * check, then the summary line `N passed, N failed`.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char db_path[64];

static int64_t refcount(struct store *st, int64_t id)
{
    struct store_block b;

    if (store_block_get(st, id, &b) != STORE_OK)
        return -1;
    return b.refcount;
}

/* Messages on the delete queue due by now, with their message ids in msgs. */
static size_t gc_msgs(struct store *st, int64_t now, int64_t *msgs, size_t max)
{
    struct store_gc_item items[64];
    size_t n = 0;

    if (store_gc_due(st, now, 64, items, &n) != STORE_OK)
        return (size_t)-1;
    for (size_t i = 0; i < n && i < max; i++)
        msgs[i] = items[i].message_id;
    return n;
}

static int has(const int64_t *v, size_t n, int64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/* DeleteBucket: objects keep it (BucketNotEmpty); unfinished uploads alone do
 * not: they are aborted in the same transaction, as AbortMultipartUpload would. */
static void test_delete_bucket_with_uploads(void)
{
    struct store *st = check_store_fresh(db_path);
    struct store_extent ext;
    struct store_upload u;
    int64_t b[4], msgs[64];

    store_set_gc_grace(st, 0);
    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    CHECK_ST(store_bucket_create(st, "other", "AK", 1), STORE_OK);
    for (int i = 0; i < 4; i++)
        b[i] = check_block_add(st, 200 + i, (unsigned char)(0x10 + i), 1028);
    memset(&ext, 0, sizeof ext);
    ext.length = 5;

    CHECK_ST(store_upload_create(st, "u1", "bk", "k1", "{}", 10), STORE_OK);
    CHECK_ST(store_upload_create(st, "u2", "bk", "k2", "{}", 10), STORE_OK);
    CHECK_ST(store_upload_create(st, "u3", "other", "k", "{}", 10), STORE_OK);
    ext.block_id = b[0];
    CHECK_ST(store_part_put(st, "u1", 1, "e", 5, &ext, 1, 11), STORE_OK);
    CHECK_ST(store_part_put(st, "u1", 2, "e", 5, &ext, 1, 11), STORE_OK);
    ext.block_id = b[1];
    CHECK_ST(store_part_put(st, "u2", 1, "e", 5, &ext, 1, 11), STORE_OK);
    /* b2 is shared by an upload of the bucket and one of another bucket. */
    ext.block_id = b[2];
    CHECK_ST(store_part_put(st, "u2", 2, "e", 5, &ext, 1, 11), STORE_OK);
    CHECK_ST(store_part_put(st, "u3", 1, "e", 5, &ext, 1, 11), STORE_OK);
    CHECK(refcount(st, b[0]) == 2 && refcount(st, b[1]) == 1 && refcount(st, b[2]) == 2);

    /* An object keeps the bucket, uploads and all. */
    CHECK_ST(check_object_put(st, "bk", "obj", b[3], 5), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "bk"), STORE_NOT_EMPTY);
    CHECK_ST(store_upload_get(st, "u1", &u), STORE_OK);
    store_upload_release(&u);
    CHECK(refcount(st, b[0]) == 2);
    CHECK(gc_msgs(st, INT64_MAX / 2, msgs, 64) == 0);

    CHECK_ST(store_object_delete(st, "bk", "obj"), STORE_OK);
    CHECK(gc_msgs(st, INT64_MAX / 2, msgs, 64) == 1 && msgs[0] == 203);
    CHECK_ST(store_bucket_delete(st, "bk"), STORE_OK);
    CHECK_ST(store_bucket_get(st, "bk", NULL), STORE_NOT_FOUND);
    CHECK_ST(store_upload_get(st, "u1", &u), STORE_NOT_FOUND);
    CHECK_ST(store_upload_get(st, "u2", &u), STORE_NOT_FOUND);
    CHECK_ST(store_upload_get(st, "u3", &u), STORE_OK);
    store_upload_release(&u);
    /* b0, b1 had no other reference: gone and queued; b2 keeps u3's. */
    CHECK(refcount(st, b[0]) == -1 && refcount(st, b[1]) == -1 && refcount(st, b[2]) == 1);
    size_t n = gc_msgs(st, INT64_MAX / 2, msgs, 64);
    CHECK(n == 3 && has(msgs, n, 200) && has(msgs, n, 201) && !has(msgs, n, 202));
    {
        struct store_part *parts = NULL;
        size_t np = 0;
        int trunc = 0;
        CHECK_ST(store_part_list(st, "u1", 0, 10, &parts, &np, &trunc), STORE_OK);
        CHECK(np == 0);
        store_parts_free(parts, np);
    }
    CHECK_ST(store_bucket_delete(st, "bk"), STORE_NOT_FOUND);
    CHECK_ST(store_bucket_delete(st, "other"), STORE_OK);
    CHECK(refcount(st, b[2]) == -1);
    store_close(st);
}

static void complete(struct store *st, const char *id, const char *key, const char *etag, int64_t ms, int64_t blk,
                     enum store_status want)
{
    struct store_extent ext;
    struct store_object obj;
    int one = 1;

    memset(&ext, 0, sizeof ext);
    ext.block_id = blk;
    ext.length = 5;
    CHECK_ST(store_upload_create(st, id, "bk", key, "{}", ms - 2), STORE_OK);
    CHECK_ST(store_part_put(st, id, 1, "p", 5, &ext, 1, ms - 1), STORE_OK);
    memset(&obj, 0, sizeof obj);
    snprintf(obj.bucket, sizeof obj.bucket, "bk");
    obj.key = (char *)key;
    obj.size = 5;
    snprintf(obj.etag, sizeof obj.etag, "%s", etag);
    obj.mtime_ms = ms;
    obj.meta_json = (char *)"{}";
    CHECK_ST(store_upload_complete(st, id, &one, 1, &obj), want);
}

/* Rows of completed_uploads, read through a connection of its own. */
static int64_t count_completed(void)
{
    int64_t n = -1;
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM completed_uploads", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* A completed upload is answered again while its object is the one it made. */
static void test_completed_record(void)
{
    struct store *st = check_store_fresh(db_path);
    char etag[80];
    int64_t b = 0, t = 1000000;

    store_set_gc_grace(st, 0);
    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    b = check_block_add(st, 300, 0x30, 1028);

    CHECK_ST(store_upload_completed(st, "never", "bk", "k", t, etag), STORE_NOT_FOUND);
    complete(st, "c1", "k", "aaaa-1", t, b, STORE_OK);
    CHECK_ST(store_upload_completed(st, "c1", "bk", "k", t + 5, etag), STORE_OK);
    CHECK(strcmp(etag, "aaaa-1") == 0);
    /* Only for its own bucket and key. */
    CHECK_ST(store_upload_completed(st, "c1", "bk", "other", t + 5, etag), STORE_NOT_FOUND);
    CHECK_ST(store_upload_completed(st, "c1", "bx", "k", t + 5, etag), STORE_NOT_FOUND);
    /* Kept one day, not longer. */
    CHECK_ST(store_upload_completed(st, "c1", "bk", "k", t + STORE_COMPLETED_KEEP_MS, etag), STORE_OK);
    CHECK_ST(store_upload_completed(st, "c1", "bk", "k", t + STORE_COMPLETED_KEEP_MS + 1, etag), STORE_NOT_FOUND);

    /* Overwritten by a PutObject: the object is no longer the upload's. */
    CHECK_ST(check_object_put(st, "bk", "k", b, 5), STORE_OK);
    CHECK_ST(store_upload_completed(st, "c1", "bk", "k", t + 5, etag), STORE_NOT_FOUND);

    /* Overwritten by another upload: the first one's record no longer answers, the new one's does. */
    complete(st, "c2", "k2", "bbbb-1", t + 10, b, STORE_OK);
    complete(st, "c3", "k2", "cccc-1", t + 20, b, STORE_OK);
    CHECK_ST(store_upload_completed(st, "c2", "bk", "k2", t + 30, etag), STORE_NOT_FOUND);
    CHECK_ST(store_upload_completed(st, "c3", "bk", "k2", t + 30, etag), STORE_OK);
    /* Deleted: gone, and so is the answer, even once re-created with the same ETag. */
    CHECK_ST(store_object_delete(st, "bk", "k2"), STORE_OK);
    CHECK_ST(store_upload_completed(st, "c3", "bk", "k2", t + 30, etag), STORE_NOT_FOUND);

    /* A completion a day later prunes the records past their time. */
    complete(st, "c4", "k4", "dddd-1", t + STORE_COMPLETED_KEEP_MS + 100, b, STORE_OK);
    CHECK(count_completed() == 1);
    /* A deleted bucket takes its records along. */
    CHECK_ST(store_object_delete(st, "bk", "k4"), STORE_OK);
    CHECK_ST(store_object_delete(st, "bk", "k"), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "bk"), STORE_OK);
    CHECK(count_completed() == 0);
    /* Completing an upload that is gone is still NOT_FOUND for the store. */
    {
        struct store_object obj;
        int one = 1;
        memset(&obj, 0, sizeof obj);
        snprintf(obj.bucket, sizeof obj.bucket, "bk");
        obj.key = (char *)"k4";
        obj.meta_json = (char *)"{}";
        CHECK_ST(store_upload_complete(st, "c4", &one, 1, &obj), STORE_NOT_FOUND);
    }
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/test_store_edges_%ld.db", (long)getpid());
    test_delete_bucket_with_uploads();
    test_completed_record();
    check_db_remove(db_path);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

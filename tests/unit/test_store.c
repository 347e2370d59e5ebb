/* test_store.c — unit tests of gateway/store: buckets, objects and reference
 * counts, the GC queue, listings, multipart uploads, schema checks, reopening.
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

#define fresh() check_store_fresh(db_path)

/* Inserts a block for message msg and returns its id. */
static int64_t add_block(struct store *st, int64_t msg)
{
    return check_block_add(st, msg, 0xab, 1028);
}

static int64_t refcount(struct store *st, int64_t id)
{
    struct store_block b;

    if (store_block_get(st, id, &b) != STORE_OK)
        return -1;
    return b.refcount;
}

static enum store_status put(struct store *st, const char *bucket, const char *key, const int64_t *blocks,
                             size_t n, int64_t mtime)
{
    struct store_extent ext[8];
    struct store_object o;

    memset(&o, 0, sizeof o);
    memset(ext, 0, sizeof ext);
    snprintf(o.bucket, sizeof o.bucket, "%s", bucket);
    o.key = (char *)key;
    o.size = (int64_t)n * 10;
    snprintf(o.etag, sizeof o.etag, "d41d8cd98f00b204e9800998ecf8427e");
    o.mtime_ms = mtime;
    o.meta_json = (char *)"{\"content-type\":\"text/plain\"}";
    for (size_t i = 0; i < n; i++) {
        ext[i].block_id = blocks[i];
        ext[i].offset = (int64_t)i;
        ext[i].length = 10;
    }
    o.extents = ext;
    o.n_extents = n;
    return store_object_put(st, &o);
}

static size_t gc_count(struct store *st, int64_t now)
{
    struct store_gc_item items[64];
    size_t n = 0;

    if (store_gc_due(st, now, 64, items, &n) != STORE_OK)
        return (size_t)-1;
    return n;
}

static void test_buckets(void)
{
    struct store *st = fresh();
    struct store_bucket b, *list = NULL;
    size_t n = 0;

    CHECK_ST(store_bucket_create(st, "photos", "AK1", 100), STORE_OK);
    CHECK_ST(store_bucket_create(st, "docs", "AK2", 200), STORE_OK);
    CHECK_ST(store_bucket_create(st, "photos", "AK3", 300), STORE_EXISTS);
    CHECK_ST(store_bucket_get(st, "photos", &b), STORE_OK);
    CHECK(strcmp(b.owner, "AK1") == 0 && b.created_ms == 100);
    CHECK_ST(store_bucket_get(st, "nope", &b), STORE_NOT_FOUND);
    CHECK_ST(store_bucket_list(st, &list, &n), STORE_OK);
    CHECK(n == 2 && strcmp(list[0].name, "docs") == 0 && strcmp(list[1].name, "photos") == 0);
    free(list);

    int64_t blk = add_block(st, 1);
    CHECK_ST(put(st, "photos", "a.jpg", &blk, 1, 10), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "photos"), STORE_NOT_EMPTY);
    CHECK_ST(store_object_delete(st, "photos", "a.jpg"), STORE_OK);
    CHECK_ST(store_upload_create(st, "up1", "photos", "big", "{}", 10), STORE_OK);
    CHECK_ST(store_upload_abort(st, "up1"), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "photos"), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "photos"), STORE_NOT_FOUND);
    CHECK_ST(store_bucket_list(st, &list, &n), STORE_OK);
    CHECK(n == 1);
    free(list);
    store_close(st);
}

/* A writer that found a bucket at its start commits into that bucket or
 * nowhere: the same name created again (by another user) is another bucket. */
static void test_bucket_identity(void)
{
    struct store *st = fresh();
    struct store_bucket b;
    struct store_bucket_id first;
    struct store_extent ext = {0};
    struct store_object o;

    CHECK_ST(store_bucket_create(st, "race", "AKB", 100), STORE_OK);
    CHECK_ST(store_bucket_get(st, "race", &b), STORE_OK);
    store_bucket_id_of(&b, &first);
    CHECK(strcmp(first.owner, "AKB") == 0 && first.created_ms == 100);
    CHECK_ST(store_bucket_delete(st, "race"), STORE_OK);
    CHECK_ST(store_bucket_create(st, "race", "AKA", 200), STORE_OK);

    ext.block_id = add_block(st, 1);
    ext.length = 10;
    memset(&o, 0, sizeof o);
    snprintf(o.bucket, sizeof o.bucket, "race");
    o.key = (char *)"obj";
    o.size = 10;
    o.meta_json = (char *)"{}";
    o.extents = &ext;
    o.n_extents = 1;
    o.bucket_id = first;
    CHECK_ST(store_object_put(st, &o), STORE_NOT_FOUND);
    struct store_object *got = NULL;
    CHECK_ST(store_object_head(st, "race", "obj", &got), STORE_NOT_FOUND);
    store_object_free(got);
    CHECK(refcount(st, ext.block_id) == 0);
    /* The same owner's bucket created again at another time is another bucket too. */
    o.bucket_id.created_ms = 200;
    CHECK_ST(store_object_put(st, &o), STORE_NOT_FOUND);
    /* The bucket it found: committed. No identity: any bucket of the name. */
    snprintf(o.bucket_id.owner, sizeof o.bucket_id.owner, "AKA");
    CHECK_ST(store_object_put(st, &o), STORE_OK);
    o.bucket_id.owner[0] = '\0';
    o.key = (char *)"obj2";
    CHECK_ST(store_object_put(st, &o), STORE_OK);
    store_close(st);
}

static void test_blocks(void)
{
    struct store *st = fresh();
    struct store_block b, dup;
    char fid[256];
    int64_t id = add_block(st, 10);

    CHECK_ST(store_block_get(st, id, &b), STORE_OK);
    CHECK(b.chat_id == -100 && b.message_id == 10 && b.bot_id == 7 && b.plain_size == 1000);
    CHECK(b.stored_size == 1028 && b.hash[0] == 0xab && b.key_id == 1 && b.nonce[11] == 0x42);
    CHECK(strcmp(b.file_id, "file-10") == 0 && strcmp(b.file_unique_id, "u-10") == 0 && b.refcount == 0);
    dup = b;
    CHECK_ST(store_block_insert(st, &dup), STORE_EXISTS);
    CHECK_ST(store_block_get(st, id + 100, &b), STORE_NOT_FOUND);

    CHECK_ST(store_block_file_for(st, id, 7, fid), STORE_OK);
    CHECK(strcmp(fid, "file-10") == 0);
    CHECK_ST(store_block_file_for(st, id, 8, fid), STORE_NOT_FOUND);
    CHECK_ST(store_block_set_file(st, id, 8, "other-bot-file"), STORE_OK);
    CHECK_ST(store_block_file_for(st, id, 8, fid), STORE_OK);
    CHECK(strcmp(fid, "other-bot-file") == 0);
    CHECK_ST(store_block_get(st, id, &b), STORE_OK);
    CHECK(strcmp(b.file_id, "file-10") == 0);
    CHECK_ST(store_block_set_file(st, id, 7, "file-10b"), STORE_OK);
    CHECK_ST(store_block_get(st, id, &b), STORE_OK);
    CHECK(strcmp(b.file_id, "file-10b") == 0);
    CHECK_ST(store_block_set_file(st, id + 100, 8, "x"), STORE_NOT_FOUND);
    store_close(st);
}

static void test_objects(void)
{
    struct store *st = fresh();
    struct store_object *o = NULL;
    struct store_stats stats;
    int64_t b1, b2, b3, two[2];

    store_set_gc_grace(st, 1000);
    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    b1 = add_block(st, 1);
    b2 = add_block(st, 2);
    b3 = add_block(st, 3);
    two[0] = b1;
    two[1] = b2;

    CHECK_ST(put(st, "nobucket", "k", &b1, 1, 10), STORE_NOT_FOUND);
    CHECK(refcount(st, b1) == 0);
    int64_t missing = b3 + 50;
    CHECK_ST(put(st, "bk", "k", &missing, 1, 10), STORE_CONFLICT);

    CHECK_ST(put(st, "bk", "k", two, 2, 10), STORE_OK);
    CHECK(refcount(st, b1) == 1 && refcount(st, b2) == 1);
    CHECK_ST(store_object_get(st, "bk", "k", &o), STORE_OK);
    CHECK(o && o->n_extents == 2 && o->size == 20 && o->mtime_ms == 10);
    if (o && o->n_extents == 2) {
        CHECK(o->extents[0].block_id == b1 && o->extents[1].block_id == b2);
        CHECK(o->extents[1].offset == 1 && o->extents[1].length == 10);
        CHECK(o->extents[0].block.message_id == 1 && o->extents[1].block.message_id == 2);
        CHECK(strcmp(o->extents[1].block.file_id, "file-2") == 0);
        CHECK(strcmp(o->meta_json, "{\"content-type\":\"text/plain\"}") == 0);
        CHECK(strcmp(o->etag, "d41d8cd98f00b204e9800998ecf8427e") == 0 && strcmp(o->key, "k") == 0);
    }
    store_object_free(o);
    o = NULL;
    CHECK_ST(store_object_head(st, "bk", "k", &o), STORE_OK);
    CHECK(o && o->extents == NULL && o->n_extents == 0 && o->size == 20);
    store_object_free(o);
    o = NULL;
    CHECK_ST(store_object_get(st, "bk", "nokey", &o), STORE_NOT_FOUND);
    CHECK(o == NULL);

    /* Re-putting the same blocks keeps them alive. */
    CHECK_ST(put(st, "bk", "k", two, 2, 20), STORE_OK);
    CHECK(refcount(st, b1) == 1 && refcount(st, b2) == 1);
    CHECK(gc_count(st, 1000000) == 0);

    /* Replacing with b1 + b3 frees b2: queued at mtime + grace. */
    two[1] = b3;
    CHECK_ST(put(st, "bk", "k", two, 2, 30), STORE_OK);
    CHECK(refcount(st, b1) == 1 && refcount(st, b2) == -1 && refcount(st, b3) == 1);
    CHECK(gc_count(st, 30 + 999) == 0);
    {
        struct store_gc_item items[4];
        size_t n = 0;
        CHECK_ST(store_gc_due(st, 30 + 1000, 4, items, &n), STORE_OK);
        CHECK(n == 1 && items[0].message_id == 2 && items[0].chat_id == -100 && items[0].bot_id == 7);
        CHECK(n == 1 && items[0].due_ms == 1030 && items[0].attempts == 0);
    }

    /* Two objects sharing a block: deleting one frees nothing. */
    CHECK_ST(put(st, "bk", "k2", &b1, 1, 40), STORE_OK);
    CHECK(refcount(st, b1) == 2);
    CHECK_ST(store_object_delete(st, "bk", "k2"), STORE_OK);
    CHECK(refcount(st, b1) == 1);
    CHECK(gc_count(st, INT64_MAX / 2) == 1);
    CHECK_ST(store_object_delete(st, "bk", "k2"), STORE_NOT_FOUND);

    /* Metadata only. */
    CHECK_ST(store_object_set_meta(st, "bk", "k", "{\"x\":1}", 77), STORE_OK);
    CHECK_ST(store_object_head(st, "bk", "k", &o), STORE_OK);
    CHECK(o && strcmp(o->meta_json, "{\"x\":1}") == 0 && o->mtime_ms == 77);
    store_object_free(o);
    o = NULL;
    CHECK_ST(store_object_set_meta(st, "bk", "zz", "{}", 77), STORE_NOT_FOUND);

    /* Empty object: no extents at all. */
    CHECK_ST(put(st, "bk", "empty", NULL, 0, 50), STORE_OK);
    CHECK_ST(store_object_get(st, "bk", "empty", &o), STORE_OK);
    CHECK(o && o->n_extents == 0 && o->extents == NULL);
    store_object_free(o);
    o = NULL;

    CHECK_ST(store_stats_get(st, &stats), STORE_OK);
    CHECK(stats.buckets == 1 && stats.objects == 2 && stats.blocks == 2 && stats.gc_pending == 1);
    CHECK(stats.bytes == 20 && stats.block_bytes == 2 * 1028 && stats.uploads == 0);

    /* Deleting the last object frees both remaining blocks. */
    CHECK_ST(store_object_delete(st, "bk", "k"), STORE_OK);
    CHECK(refcount(st, b1) == -1 && refcount(st, b3) == -1);
    CHECK(gc_count(st, INT64_MAX / 2) == 3);
    store_close(st);
}

static void test_transactions(void)
{
    struct store *st = fresh();
    struct store_object *o = NULL;
    int64_t b1, missing;

    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    b1 = add_block(st, 1);
    missing = b1 + 10;

    /* A failed call inside a transaction leaves the rest of it intact. */
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(put(st, "bk", "a", &b1, 1, 10), STORE_OK);
    CHECK_ST(put(st, "bk", "b", &missing, 1, 10), STORE_CONFLICT);
    CHECK_ST(store_tx_commit(st), STORE_OK);
    CHECK_ST(store_object_head(st, "bk", "a", &o), STORE_OK);
    store_object_free(o);
    o = NULL;
    CHECK_ST(store_object_head(st, "bk", "b", &o), STORE_NOT_FOUND);
    CHECK(refcount(st, b1) == 1);

    /* Rolled back: nothing changed. */
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_object_delete(st, "bk", "a"), STORE_OK);
    CHECK(refcount(st, b1) == -1);
    store_tx_rollback(st);
    store_tx_rollback(st); /* no transaction open: nothing happens */
    CHECK(refcount(st, b1) == 1);
    CHECK(gc_count(st, INT64_MAX / 2) == 0);

    /* A failed call on its own changes nothing: two extents, the second missing. */
    {
        int64_t ext[2] = {b1, missing};
        CHECK_ST(put(st, "bk", "a", ext, 2, 20), STORE_CONFLICT);
        CHECK(refcount(st, b1) == 1);
        CHECK_ST(store_object_get(st, "bk", "a", &o), STORE_OK);
        CHECK(o && o->n_extents == 1 && o->mtime_ms == 10);
        store_object_free(o);
    }
    store_close(st);
}

/* Checks one listing page: expected entries and prefixes as "k:" / "p:" items. */
static void check_list(struct store *st, const char *prefix, const char *delim, const char *after, size_t max,
                       const char *const *want, size_t n_want, int want_trunc, const char *want_next, int line)
{
    struct store_list l;
    size_t ie = 0, ip = 0, i;
    int ok = 1;

    if (store_object_list(st, "bk", prefix, delim, after, max, &l) != STORE_OK) {
        failed++;
        printf("FAIL line %d: list error %s\n", line, store_errmsg(st));
        return;
    }
    if (l.n_entries + l.n_prefixes != n_want)
        ok = 0;
    /* Items come in key order, merging entries and prefixes. */
    for (i = 0; ok && i < n_want; i++) {
        const char *k = ie < l.n_entries ? l.entries[ie].key : NULL;
        const char *p = ip < l.n_prefixes ? l.prefixes[ip] : NULL;
        int take_k = k && (!p || strcmp(k, p) < 0);
        char got[1100];
        snprintf(got, sizeof got, "%s%s", take_k ? "k:" : "p:", take_k ? k : p ? p : "(none)");
        if (take_k)
            ie++;
        else
            ip++;
        if (strcmp(got, want[i]) != 0) {
            printf("FAIL line %d: item %zu is %s, want %s\n", line, i, got, want[i]);
            ok = 0;
        }
    }
    if (l.truncated != want_trunc)
        ok = 0;
    if ((want_next == NULL) != (l.next_marker == NULL) ||
        (want_next && l.next_marker && strcmp(want_next, l.next_marker) != 0))
        ok = 0;
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL line %d: list(prefix=\"%s\", delim=\"%s\", after=\"%s\", max=%zu): %zu entries, %zu prefixes,"
               " truncated %d, next %s\n",
               line, prefix, delim, after, max, l.n_entries, l.n_prefixes, l.truncated,
               l.next_marker ? l.next_marker : "(null)");
    }
    store_list_release(&l);
}
#define LIST(prefix, delim, after, max, trunc, next, ...)                                              \
    do {                                                                                               \
        static const char *const want_[] = {__VA_ARGS__};                                              \
        check_list(st, prefix, delim, after, max, want_, ARRAY_SIZE(want_), trunc, next, __LINE__);    \
    } while (0)
#define LIST0(prefix, delim, after, max)                                                               \
    check_list(st, prefix, delim, after, max, NULL, 0, 0, NULL, __LINE__)

/* Lists bucket bk page by page (max per page, delimiter delim) until the
 * end: *total entries and prefixes, *pages pages. With strict, keys must
 * ascend and every object be 10 bytes from mtime 10. 0 when that failed. */
static int page_through(struct store *st, const char *delim, size_t max, int strict, size_t *total, size_t *pages)
{
    struct store_list l;
    char *after = xstrdup("");
    char prev[64] = "";
    int ok = 1;
    for (;;) {
        if (store_object_list(st, "bk", "", delim, after, max, &l) != STORE_OK) {
            ok = 0;
            break;
        }
        for (size_t i = 0; strict && i < l.n_entries; i++) {
            if (strcmp(prev, l.entries[i].key) >= 0 || l.entries[i].size != 10 || l.entries[i].mtime_ms != 10)
                ok = 0;
            snprintf(prev, sizeof prev, "%s", l.entries[i].key);
        }
        *total += l.n_entries + l.n_prefixes;
        (*pages)++;
        free(after);
        after = l.truncated ? xstrdup(l.next_marker) : NULL;
        store_list_release(&l);
        if (after == NULL || *pages > 20)
            break;
    }
    free(after);
    return ok;
}

static void test_list(void)
{
    static const char *const keys[] = {
        "a/b//c", "a/b/c", "a/b/d", "a/c", "a/", "a", "b", "b c", "b/x y", "c/1", "c/2", "c/3/z",
        "d::e", "d::f", "d:g", "z/", "\xc3\xa9", "\xc3\xa9/x", "0", "1/", "1/1",
    };
    struct store *st = fresh();
    int64_t blk;
    char key[32];

    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    CHECK_ST(store_bucket_create(st, "empty", "AK", 1), STORE_OK);
    blk = add_block(st, 1);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        CHECK_ST(put(st, "bk", keys[i], &blk, 1, 10), STORE_OK);
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "m/%02d", i);
        CHECK_ST(put(st, "bk", key, &blk, 1, 10), STORE_OK);
    }
    CHECK(refcount(st, blk) == (int64_t)ARRAY_SIZE(keys) + 30);

    /* Byte order, no delimiter. */
    LIST("a", "", "", 100, 0, NULL, "k:a", "k:a/", "k:a/b//c", "k:a/b/c", "k:a/b/d", "k:a/c");
    LIST("b", "", "", 100, 0, NULL, "k:b", "k:b c", "k:b/x y");
    LIST("\xc3", "", "", 100, 0, NULL, "k:\xc3\xa9", "k:\xc3\xa9/x");
    /* Top level with "/". */
    LIST("", "/", "", 100, 0, NULL, "k:0", "p:1/", "k:a", "p:a/", "k:b", "k:b c", "p:b/", "p:c/", "k:d::e",
         "k:d::f", "k:d:g", "p:m/", "p:z/", "k:\xc3\xa9", "p:\xc3\xa9/");
    LIST("a/", "/", "", 100, 0, NULL, "k:a/", "p:a/b/", "k:a/c");
    LIST("a/b/", "/", "", 100, 0, NULL, "p:a/b//", "k:a/b/c", "k:a/b/d");
    LIST("a/b//", "/", "", 100, 0, NULL, "k:a/b//c");
    LIST("c/", "/", "", 100, 0, NULL, "k:c/1", "k:c/2", "p:c/3/");
    /* Multi-character delimiter. */
    LIST("d", "::", "", 100, 0, NULL, "p:d::", "k:d:g");
    LIST("", "::", "", 3, 1, "1/1", "k:0", "k:1/", "k:1/1");
    /* Pagination with prefixes, marker both as key and as returned prefix. */
    LIST("", "/", "", 3, 1, "a", "k:0", "p:1/", "k:a");
    LIST("", "/", "a", 3, 1, "b c", "p:a/", "k:b", "k:b c");
    LIST("", "/", "b c", 3, 1, "d::e", "p:b/", "p:c/", "k:d::e");
    LIST("", "/", "c/", 2, 1, "d::f", "k:d::e", "k:d::f");
    LIST("", "/", "d::f", 3, 1, "z/", "k:d:g", "p:m/", "p:z/");
    LIST("", "/", "z/", 3, 0, NULL, "k:\xc3\xa9", "p:\xc3\xa9/");
    LIST0("", "/", "\xc3\xa9/", 3);
    /* A key marker inside a prefix: later keys under it still roll up. */
    LIST("", "/", "c/2", 2, 1, "d::e", "p:c/", "k:d::e");
    LIST("", "/", "m/05", 1, 1, "m/", "p:m/");
    LIST("", "/", "m/29", 1, 1, "z/", "p:z/");
    LIST("", "/", "m/", 1, 1, "z/", "p:z/");
    LIST0("c/", "/", "c/3/", 5);
    LIST("c", "/", "c/3/", 5, 0, NULL, "p:c/");
    LIST("d", "::", "d::", 5, 0, NULL, "k:d:g");
    /* Markers before / after the prefix. */
    LIST("c/", "", "a", 10, 0, NULL, "k:c/1", "k:c/2", "k:c/3/z");
    LIST0("c/", "", "d", 10);
    LIST("c/", "", "c/1", 10, 0, NULL, "k:c/2", "k:c/3/z");
    /* Exactly max items left: not truncated. */
    LIST("c/", "", "", 3, 0, NULL, "k:c/1", "k:c/2", "k:c/3/z");
    LIST("c/", "", "", 2, 1, "c/2", "k:c/1", "k:c/2");
    LIST0("nothing", "/", "", 10);
    LIST0("", "", "", 0);

    /* Paging through everything without a delimiter: 51 keys in pages of 7. */
    {
        size_t total = 0, pages = 0;
        int ok = page_through(st, "", 7, 1, &total, &pages);
        CHECK(ok && total == ARRAY_SIZE(keys) + 30 && pages == 8);
    }
    /* Paging with "/" visits each top-level item exactly once. */
    {
        size_t total = 0, pages = 0;
        page_through(st, "/", 2, 0, &total, &pages);
        CHECK(total == 15 && pages == 8);
    }
    {
        struct store_list l;
        CHECK_ST(store_object_list(st, "missing", "", "", "", 10, &l), STORE_NOT_FOUND);
        CHECK_ST(store_object_list(st, "empty", "", "/", "", 10, &l), STORE_OK);
        CHECK(l.n_entries == 0 && l.n_prefixes == 0 && !l.truncated && l.next_marker == NULL);
        store_list_release(&l);
    }
    store_close(st);
}

static void test_multipart(void)
{
    struct store *st = fresh();
    struct store_extent ext[2];
    struct store_part *parts = NULL, one;
    struct store_upload u, *ups = NULL;
    struct store_object obj, *o = NULL;
    size_t n = 0;
    int trunc = 0;
    int64_t b[6];

    store_set_gc_grace(st, 0);
    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    for (int i = 0; i < 6; i++)
        b[i] = add_block(st, 100 + i);
    memset(ext, 0, sizeof ext);

    CHECK_ST(store_upload_create(st, "u1", "nobucket", "big", "{}", 10), STORE_NOT_FOUND);
    CHECK_ST(store_upload_create(st, "u1", "bk", "big", "{\"ct\":\"x\"}", 10), STORE_OK);
    CHECK_ST(store_upload_create(st, "u1", "bk", "big", "{}", 10), STORE_EXISTS);
    CHECK_ST(store_upload_get(st, "u1", &u), STORE_OK);
    CHECK(strcmp(u.bucket, "bk") == 0 && strcmp(u.key, "big") == 0 && strcmp(u.meta_json, "{\"ct\":\"x\"}") == 0);
    store_upload_release(&u);
    CHECK_ST(store_upload_get(st, "nope", &u), STORE_NOT_FOUND);

    ext[0].block_id = b[0];
    ext[0].length = 5;
    CHECK_ST(store_part_put(st, "nope", 1, "e1", 5, ext, 1, 20), STORE_NOT_FOUND);
    CHECK_ST(store_part_put(st, "u1", 1, "e1", 5, ext, 1, 20), STORE_OK);
    /* Part 1 replaced: b0 freed, b1 referenced. */
    ext[0].block_id = b[1];
    CHECK_ST(store_part_put(st, "u1", 1, "e1b", 5, ext, 1, 21), STORE_OK);
    CHECK(refcount(st, b[0]) == -1 && refcount(st, b[1]) == 1);
    CHECK(gc_count(st, 21) == 1);
    /* Part 2 has two extents, part 3 one, part 4 is dropped at completion. */
    ext[0].block_id = b[2];
    ext[1].block_id = b[3];
    ext[1].offset = 3;
    ext[1].length = 7;
    CHECK_ST(store_part_put(st, "u1", 2, "e2", 12, ext, 2, 22), STORE_OK);
    ext[0].block_id = b[4];
    CHECK_ST(store_part_put(st, "u1", 3, "e3", 5, ext, 1, 23), STORE_OK);
    ext[0].block_id = b[5];
    CHECK_ST(store_part_put(st, "u1", 4, "e4", 5, ext, 1, 24), STORE_OK);
    ext[0].block_id = b[5] + 99;
    CHECK_ST(store_part_put(st, "u1", 5, "e5", 5, ext, 1, 24), STORE_CONFLICT);

    CHECK_ST(store_part_list(st, "u1", 0, 2, &parts, &n, &trunc), STORE_OK);
    CHECK(n == 2 && trunc && parts[0].part_number == 1 && parts[1].part_number == 2);
    CHECK(n == 2 && strcmp(parts[0].etag, "e1b") == 0 && parts[1].size == 12 && parts[0].extents == NULL);
    store_parts_free(parts, n);
    CHECK_ST(store_part_list(st, "u1", 2, 10, &parts, &n, &trunc), STORE_OK);
    CHECK(n == 2 && !trunc && parts[0].part_number == 3 && parts[1].part_number == 4);
    store_parts_free(parts, n);
    CHECK_ST(store_part_get(st, "u1", 2, &one), STORE_OK);
    CHECK(one.n_extents == 2 && one.extents[1].block_id == b[3] && one.extents[1].offset == 3);
    CHECK(one.n_extents == 2 && one.extents[1].block.message_id == 103);
    free(one.extents);
    CHECK_ST(store_part_get(st, "u1", 9, &one), STORE_NOT_FOUND);

    CHECK_ST(store_upload_list(st, "bk", "", NULL, NULL, 10, &ups, &n, &trunc), STORE_OK);
    CHECK(n == 1 && !trunc && strcmp(ups[0].id, "u1") == 0);
    for (size_t i = 0; i < n; i++)
        store_upload_release(&ups[i]);
    free(ups);

    memset(&obj, 0, sizeof obj);
    snprintf(obj.bucket, sizeof obj.bucket, "bk");
    obj.key = (char *)"big";
    obj.size = 22;
    snprintf(obj.etag, sizeof obj.etag, "0123456789abcdef0123456789abcdef-3");
    obj.mtime_ms = 30;
    obj.meta_json = (char *)"{}";
    {
        int missing[] = {1, 7};
        CHECK_ST(store_upload_complete(st, "u1", missing, 2, &obj), STORE_CONFLICT);
        CHECK_ST(store_upload_get(st, "u1", NULL), STORE_OK);
        CHECK(refcount(st, b[1]) == 1);
    }
    {
        int order[] = {3, 1, 2};
        CHECK_ST(store_upload_complete(st, "nope", order, 3, &obj), STORE_NOT_FOUND);
        CHECK_ST(store_upload_complete(st, "u1", order, 3, &obj), STORE_OK);
    }
    CHECK_ST(store_object_get(st, "bk", "big", &o), STORE_OK);
    CHECK(o && o->n_extents == 4);
    if (o && o->n_extents == 4) {
        CHECK(o->extents[0].block_id == b[4] && o->extents[1].block_id == b[1]);
        CHECK(o->extents[2].block_id == b[2] && o->extents[3].block_id == b[3] && o->extents[3].length == 7);
        CHECK(strcmp(o->etag, "0123456789abcdef0123456789abcdef-3") == 0 && o->size == 22);
    }
    store_object_free(o);
    o = NULL;
    /* Listed parts moved to the object; the unlisted part 4 freed its block. */
    CHECK(refcount(st, b[1]) == 1 && refcount(st, b[2]) == 1 && refcount(st, b[3]) == 1 && refcount(st, b[4]) == 1);
    CHECK(refcount(st, b[5]) == -1);
    CHECK(gc_count(st, 30) == 2);
    CHECK_ST(store_upload_get(st, "u1", NULL), STORE_NOT_FOUND);
    CHECK_ST(store_part_list(st, "u1", 0, 10, &parts, &n, &trunc), STORE_OK);
    CHECK(n == 0);
    store_parts_free(parts, n);

    /* Completing over an existing object replaces it; abort frees the parts' blocks. */
    {
        int64_t c = add_block(st, 200), d = add_block(st, 201);
        int order[] = {1};
        CHECK_ST(store_upload_create(st, "u2", "bk", "big", "{}", 40), STORE_OK);
        memset(ext, 0, sizeof ext);
        ext[0].block_id = c;
        ext[0].length = 1;
        CHECK_ST(store_part_put(st, "u2", 1, "x", 1, ext, 1, 41), STORE_OK);
        obj.mtime_ms = 42;
        obj.size = 1;
        CHECK_ST(store_upload_complete(st, "u2", order, 1, &obj), STORE_OK);
        CHECK(refcount(st, c) == 1 && refcount(st, b[1]) == -1 && refcount(st, b[4]) == -1);
        CHECK(gc_count(st, 42) == 6);

        CHECK_ST(store_upload_create(st, "u3", "bk", "k3", "{}", 50), STORE_OK);
        CHECK_ST(store_upload_create(st, "u4", "bk", "k3", "{}", 60), STORE_OK);
        CHECK_ST(store_upload_create(st, "u5", "bk", "a3", "{}", 70), STORE_OK);
        ext[0].block_id = d;
        CHECK_ST(store_part_put(st, "u3", 1, "y", 1, ext, 1, 51), STORE_OK);
        CHECK_ST(store_part_put(st, "u3", 2, "y", 1, ext, 1, 51), STORE_OK);
        CHECK(refcount(st, d) == 2);

        CHECK_ST(store_upload_list(st, "bk", "", NULL, NULL, 10, &ups, &n, &trunc), STORE_OK);
        CHECK(n == 3 && strcmp(ups[0].id, "u5") == 0 && strcmp(ups[1].id, "u3") == 0 && strcmp(ups[2].id, "u4") == 0);
        for (size_t i = 0; i < n; i++)
            store_upload_release(&ups[i]);
        free(ups);
        CHECK_ST(store_upload_list(st, "bk", "k", "k3", "u3", 1, &ups, &n, &trunc), STORE_OK);
        CHECK(n == 1 && !trunc && strcmp(ups[0].id, "u4") == 0);
        for (size_t i = 0; i < n; i++)
            store_upload_release(&ups[i]);
        free(ups);
        CHECK_ST(store_upload_list(st, "bk", "", "a3", NULL, 1, &ups, &n, &trunc), STORE_OK);
        CHECK(n == 1 && trunc && strcmp(ups[0].id, "u3") == 0);
        for (size_t i = 0; i < n; i++)
            store_upload_release(&ups[i]);
        free(ups);
        CHECK_ST(store_upload_list(st, "bk", "", "k3", NULL, 10, &ups, &n, &trunc), STORE_OK);
        CHECK(n == 0 && !trunc);
        free(ups);
        {
            char(*ids)[64] = NULL;
            CHECK_ST(store_upload_expired(st, 65, 10, &ids, &n), STORE_OK);
            CHECK(n == 2 && strcmp(ids[0], "u3") == 0 && strcmp(ids[1], "u4") == 0);
            free(ids);
        }

        CHECK_ST(store_upload_abort(st, "u3"), STORE_OK);
        CHECK_ST(store_upload_abort(st, "u3"), STORE_NOT_FOUND);
        CHECK(refcount(st, d) == -1);
        CHECK(gc_count(st, INT64_MAX / 2) == 7);
    }
    store_close(st);
}

static void test_gc(void)
{
    struct store *st = fresh();
    struct store_gc_item items[8];
    int64_t ids[8];
    size_t n = 0;

    CHECK_ST(store_gc_enqueue(st, -100, 5, 2, 100), STORE_OK);
    CHECK_ST(store_gc_enqueue(st, -100, 5, 2, 50), STORE_OK); /* already queued */
    CHECK_ST(store_gc_enqueue(st, -100, 3, 2, 100), STORE_OK);
    CHECK_ST(store_gc_enqueue(st, -100, 4, 1, 100), STORE_OK);
    CHECK_ST(store_gc_enqueue(st, -100, 9, 1, 500), STORE_OK);
    CHECK_ST(store_gc_due(st, 99, 8, items, &n), STORE_OK);
    CHECK(n == 0);
    CHECK_ST(store_gc_due(st, 100, 8, items, &n), STORE_OK);
    CHECK(n == 3 && items[0].bot_id == 1 && items[0].message_id == 4);
    CHECK(n == 3 && items[1].message_id == 3 && items[2].message_id == 5 && items[2].due_ms == 100);
    CHECK_ST(store_gc_due(st, 100, 2, items, &n), STORE_OK);
    CHECK(n == 2);
    CHECK_ST(store_gc_retry(st, items[0].id, 300), STORE_OK);
    CHECK_ST(store_gc_retry(st, 12345, 300), STORE_NOT_FOUND);
    ids[0] = items[1].id;
    CHECK_ST(store_gc_done(st, ids, 1), STORE_OK);
    CHECK_ST(store_gc_due(st, 100, 8, items, &n), STORE_OK);
    CHECK(n == 1 && items[0].message_id == 5);
    CHECK_ST(store_gc_due(st, 1000, 8, items, &n), STORE_OK);
    CHECK(n == 3 && items[0].message_id == 4 && items[0].attempts == 1 && items[0].due_ms == 300);
    for (size_t i = 0; i < n; i++)
        ids[i] = items[i].id;
    CHECK_ST(store_gc_done(st, ids, n), STORE_OK);
    CHECK_ST(store_gc_due(st, 1000, 8, items, &n), STORE_OK);
    CHECK(n == 0);
    store_close(st);
}

static void test_reopen_and_schema(void)
{
    struct store *st = fresh();
    struct store_object *o = NULL;
    sqlite3 *db = NULL;
    int64_t blk;

    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    blk = add_block(st, 1);
    CHECK_ST(put(st, "bk", "kept", &blk, 1, 10), STORE_OK);
    store_close(st);
    st = NULL;

    CHECK_ST(store_open(db_path, &st), STORE_OK);
    if (st) {
        CHECK_ST(store_object_get(st, "bk", "kept", &o), STORE_OK);
        CHECK(o && o->n_extents == 1 && o->extents[0].block_id == blk && o->extents[0].block.refcount == 1);
        store_object_free(o);
        store_close(st);
        st = NULL;
    }

    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE meta SET v = 999 WHERE k = 'schema_version'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_ST(store_open(db_path, &st), STORE_SCHEMA);
    CHECK(st == NULL);
    store_close(st);

    CHECK_ST(store_open("/nonexistent-dir/x/y.db", &st), STORE_IO);
    CHECK(st == NULL);
}

/* An upload's checksum algorithm and type, and each part's checksum: kept, listed, cleared
 * when the part is replaced, refused for an upload or part that is not there. */
static void test_multipart_checksums(void)
{
    struct store *st = fresh();
    struct store_extent ext;
    struct store_upload u;
    struct store_part *parts = NULL, one;
    size_t n = 0;
    int trunc = 0;

    CHECK_ST(store_bucket_create(st, "bk", "AK", 1), STORE_OK);
    memset(&ext, 0, sizeof ext);
    ext.block_id = add_block(st, 300);
    ext.length = 5;
    CHECK_ST(store_upload_create(st, "uc", "bk", "k", "{}", 10), STORE_OK);
    CHECK_ST(store_upload_get(st, "uc", &u), STORE_OK);
    CHECK(u.ck_alg[0] == '\0' && u.ck_type[0] == '\0');
    store_upload_release(&u);
    CHECK_ST(store_upload_checksum_set(st, "uc", "crc32c", "FULL_OBJECT"), STORE_OK);
    CHECK_ST(store_upload_checksum_set(st, "nope", "crc32c", "FULL_OBJECT"), STORE_NOT_FOUND);
    CHECK_ST(store_upload_get(st, "uc", &u), STORE_OK);
    CHECK(strcmp(u.ck_alg, "crc32c") == 0 && strcmp(u.ck_type, "FULL_OBJECT") == 0);
    store_upload_release(&u);

    CHECK_ST(store_part_put(st, "uc", 1, "e1", 5, &ext, 1, 20), STORE_OK);
    CHECK_ST(store_part_put(st, "uc", 2, "e2", 5, &ext, 1, 20), STORE_OK);
    CHECK_ST(store_part_checksum_set(st, "uc", 1, "crc32c", "yZRlqg=="), STORE_OK);
    CHECK_ST(store_part_checksum_set(st, "uc", 9, "crc32c", "yZRlqg=="), STORE_NOT_FOUND);
    CHECK_ST(store_part_list(st, "uc", 0, 10, &parts, &n, &trunc), STORE_OK);
    CHECK(n == 2 && strcmp(parts[0].ck_alg, "crc32c") == 0 && strcmp(parts[0].ck_value, "yZRlqg==") == 0);
    CHECK(n == 2 && parts[1].ck_alg[0] == '\0' && parts[1].ck_value[0] == '\0');
    store_parts_free(parts, n);
    CHECK_ST(store_part_get(st, "uc", 1, &one), STORE_OK);
    CHECK(strcmp(one.ck_value, "yZRlqg==") == 0);
    free(one.extents);
    /* A part uploaded again starts without a checksum until its own is recorded. */
    CHECK_ST(store_part_put(st, "uc", 1, "e1b", 5, &ext, 1, 21), STORE_OK);
    CHECK_ST(store_part_get(st, "uc", 1, &one), STORE_OK);
    CHECK(one.ck_alg[0] == '\0' && strcmp(one.etag, "e1b") == 0);
    free(one.extents);
    CHECK_ST(store_upload_abort(st, "uc"), STORE_OK);
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/test_store_%ld.db", (long)getpid());
    test_buckets();
    test_bucket_identity();
    test_blocks();
    test_objects();
    test_transactions();
    test_list();
    test_multipart();
    test_multipart_checksums();
    test_gc();
    test_reopen_and_schema();
    check_db_remove(db_path);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

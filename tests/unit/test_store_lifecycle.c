/* test_store_lifecycle.c — buckets' lifecycle configurations and the lifecycle runner's batches
 * (gateway/store/lifecycle.c). Versions are written as rows through a second connection, so the
 * batches are tested apart from the code that makes versions. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char db_path[256];

static void test_config(void)
{
    struct store *st = check_store_fresh(db_path);
    char *xml = NULL;
    struct store_lc_bucket *bs = NULL;
    size_t n = 0;

    CHECK_ST(store_lifecycle_put(st, "b", "<x/>"), STORE_NOT_FOUND); /* no such bucket */
    CHECK_ST(store_bucket_create(st, "b", "AK", 1), STORE_OK);
    CHECK_ST(store_bucket_create(st, "c", "AK", 1), STORE_OK);
    CHECK_ST(store_lifecycle_get(st, "b", &xml), STORE_NOT_FOUND);
    CHECK(xml == NULL);
    CHECK_ST(store_lifecycle_put(st, "b", "<one/>"), STORE_OK);
    CHECK_ST(store_lifecycle_put(st, "b", "<two/>"), STORE_OK); /* replaces */
    CHECK_ST(store_lifecycle_get(st, "b", &xml), STORE_OK);
    CHECK_STR(xml, "<two/>");
    free(xml);
    CHECK_ST(store_lifecycle_put(st, "c", "<three/>"), STORE_OK);
    CHECK_ST(store_lc_buckets(st, "", 10, &bs, &n), STORE_OK);
    CHECK(n == 2 && strcmp(bs[0].name, "b") == 0 && strcmp(bs[1].config, "<three/>") == 0 && bs[0].versioning == 0);
    store_lc_buckets_free(bs, n);
    CHECK_ST(store_lc_buckets(st, "b", 10, &bs, &n), STORE_OK); /* after b */
    CHECK(n == 1 && strcmp(bs[0].name, "c") == 0);
    store_lc_buckets_free(bs, n);
    CHECK_ST(store_lc_buckets(st, "", 1, &bs, &n), STORE_OK); /* at most max */
    CHECK(n == 1);
    store_lc_buckets_free(bs, n);

    CHECK_ST(store_lifecycle_delete(st, "b"), STORE_OK);
    CHECK_ST(store_lifecycle_get(st, "b", &xml), STORE_NOT_FOUND);
    CHECK_ST(store_lifecycle_delete(st, "b"), STORE_OK); /* none: still fine */
    /* The rules go with their bucket. */
    CHECK_ST(store_bucket_delete(st, "c"), STORE_OK);
    CHECK_ST(store_bucket_create(st, "c", "AK", 2), STORE_OK);
    CHECK_ST(store_lifecycle_get(st, "c", &xml), STORE_NOT_FOUND);
    CHECK_ST(store_lc_buckets(st, "", 10, &bs, &n), STORE_OK);
    CHECK(n == 0);
    store_lc_buckets_free(bs, n);

    /* The schedule. */
    int64_t ms = -1;
    CHECK_ST(store_lc_last_run(st, &ms), STORE_OK);
    CHECK(ms == 0);
    CHECK_ST(store_lc_last_run_set(st, 1234), STORE_OK);
    CHECK_ST(store_lc_last_run(st, &ms), STORE_OK);
    CHECK(ms == 1234);
    store_close(st);
}

/* Adds a version row: id, key, version, size, mtime, latest, marker, noncurrent_ms, meta. */
static void row(sqlite3 *db, int id, const char *key, const char *version, int size, int mtime, int latest,
                int marker, int nc, const char *meta)
{
    char *sql = sqlite3_mprintf("INSERT INTO objects(id, bucket, key, size, etag, mtime_ms, meta_json, version, latest,"
                                " marker, noncurrent_ms) VALUES (%d, 'b', %Q, %d, 'e', %d, %Q, %Q, %d, %d, %d)",
                                id, key, size, mtime, meta, version, latest, marker, nc);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    CHECK(rc == SQLITE_OK);
    if (rc != SQLITE_OK)
        printf("  %s\n", err ? err : "?");
    sqlite3_free(err);
    sqlite3_free(sql);
}

/* The keys (and versions) of rows, joined with ' '. */
static const char *names(const struct store_lc_row *v, size_t n, int with_version)
{
    static char buf[1024];
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < sizeof(buf); i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s%s%s", i ? " " : "", v[i].key,
                               with_version ? "@" : "", with_version ? v[i].version : "");
    return buf;
}

static void test_batches(void)
{
    struct store *st = check_store_fresh(db_path);
    sqlite3 *db = NULL;
    struct store_lc_row *v = NULL;
    size_t n = 0;

    CHECK_ST(store_bucket_create(st, "b", "AK", 1), STORE_OK);
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    row(db, 1, "new/c", "null", 5, 100, 1, 0, 0, "{}");
    row(db, 2, "old/a", "null", 5, 100, 1, 0, 0, "{\"tags\":[[\"t\",\"x\"]]}");
    row(db, 3, "old/b", "null", 5, 300, 1, 0, 0, "{}");
    /* k: four versions, the newest (v4) current, the others noncurrent since 100, 200, 300. */
    row(db, 10, "k", "v1", 1, 10, 0, 0, 100, "{}");
    row(db, 11, "k", "v2", 2, 20, 0, 0, 200, "{}");
    row(db, 12, "k", "v3", 3, 30, 0, 1, 300, "{}"); /* a noncurrent delete marker */
    row(db, 13, "k", "v4", 4, 40, 1, 0, 0, "{}");
    /* m: a lone marker; m2: a marker over a noncurrent version. */
    row(db, 20, "m", "mm", 0, 50, 1, 1, 0, "{}");
    row(db, 21, "m2", "x1", 1, 10, 0, 0, 60, "{}");
    row(db, 22, "m2", "x2", 0, 60, 1, 1, 0, "{}");
    sqlite3_close(db);

    /* Current objects under a prefix, created at or before the cutoff. */
    CHECK_ST(store_lc_current(st, "b", "old/", 200, "", 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 0), "old/a");
    if (n == 1) {
        CHECK(v[0].id == 2 && v[0].size == 5 && !v[0].marker && strcmp(v[0].version, "null") == 0);
        CHECK(strstr(v[0].meta_json, "tags") != NULL);
    }
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_current(st, "b", "", 1000, "", 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 0), "k new/c old/a old/b"); /* markers are not current objects */
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_current(st, "b", "", 1000, "k", 2, &v, &n), STORE_OK); /* the cursor, at most max */
    CHECK_STR(names(v, n, 0), "new/c old/a");
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_current(st, "other", "", 1000, "", 10, &v, &n), STORE_OK);
    CHECK(n == 0 && v == NULL);
    store_lc_rows_free(v, n);

    /* Noncurrent versions: by age, and keeping the `newer` newest noncurrent ones. */
    CHECK_ST(store_lc_noncurrent(st, "b", "", 1000, 0, "", 0, 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 1), "k@v1 k@v2 k@v3 m2@x1");
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_noncurrent(st, "b", "", 1000, 1, "", 0, 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 1), "k@v1 k@v2");
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_noncurrent(st, "b", "", 1000, 2, "", 0, 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 1), "k@v1");
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_noncurrent(st, "b", "", 150, 0, "", 0, 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 1), "k@v1 m2@x1");
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_noncurrent(st, "b", "", 1000, 0, "k", 10, 10, &v, &n), STORE_OK); /* after (k, 10) */
    CHECK_STR(names(v, n, 1), "k@v2 k@v3 m2@x1");
    if (n == 3)
        CHECK(v[1].marker == 1);
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_noncurrent(st, "b", "m", 1000, 0, "", 0, 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 1), "m2@x1");
    store_lc_rows_free(v, n);

    /* Lone delete markers. */
    CHECK_ST(store_lc_lone_markers(st, "b", "", 1000, "", 10, &v, &n), STORE_OK);
    CHECK_STR(names(v, n, 1), "m@mm");
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_lone_markers(st, "b", "", 1000, "m", 10, &v, &n), STORE_OK);
    CHECK(n == 0);
    store_lc_rows_free(v, n);
    CHECK_ST(store_lc_lone_markers(st, "b", "", 49, "", 10, &v, &n), STORE_OK); /* made at 50: too young */
    CHECK(n == 0);
    store_lc_rows_free(v, n);

    /* Uploads begun at or before the cutoff, under the prefix. */
    char(*ids)[64] = NULL;
    CHECK_ST(store_upload_create(st, "u1", "b", "old/x", "{}", 100), STORE_OK);
    CHECK_ST(store_upload_create(st, "u2", "b", "old/y", "{}", 300), STORE_OK);
    CHECK_ST(store_upload_create(st, "u3", "b", "new/z", "{}", 100), STORE_OK);
    CHECK_ST(store_lc_uploads(st, "b", "old/", 200, "", 10, &ids, &n), STORE_OK);
    CHECK(n == 1 && strcmp(ids[0], "u1") == 0);
    free(ids);
    CHECK_ST(store_lc_uploads(st, "b", "", 1000, "u1", 10, &ids, &n), STORE_OK);
    CHECK(n == 2 && strcmp(ids[0], "u2") == 0 && strcmp(ids[1], "u3") == 0);
    free(ids);
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof(db_path), "%s/tgs3-test-store-lc-%d.db", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
    test_config();
    test_batches();
    check_db_remove(db_path);
    return check_summary();
}

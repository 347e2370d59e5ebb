/* test_store_compare.c — unit tests of gateway/store/compare.c: two index files compared table by
 * table, row by row.
 *
 * Two fresh indexes are equal; then rows added, removed or changed on one side (single and
 * composite keys, a rowid table), a skipped table, a table on one side only, a column added on one
 * side, the bound on reported differences, and a file that does not open. Neither file is changed.
 *
 * Files under /dev/shm (or /tmp). One line per failed check, then the summary line `N passed, N failed`.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char path_a[64], path_b[64];
static const char *const SKIP[] = {"meta", "chain_docs", "chain_msgs", "inflight", NULL};

/* The differences reported, one line each: "table|key|side". */
struct seen {
    char text[4096];
    int calls;
};

static void on_diff(void *ud, const char *table, const char *key, enum store_compare_side side)
{
    struct seen *s = ud;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s|%s|%s\n", table, key ? key : "-", store_compare_side_name(side));
    s->calls++;
}

/* Runs sql on the index at path (outside the store: the test changes a file behind its back). */
static void sql_on(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        printf("FAIL sql on %s: %s (%s)\n", path, sql, err ? err : sqlite3_errmsg(db));
        failed++;
    }
    sqlite3_free(err);
    sqlite3_close(db);
}

/* Fresh a and b with the same content (meta too: the migrations' unjournaled mark, a time, goes). */
static void fresh_pair(const char *sql)
{
    store_close(check_store_fresh(path_a));
    store_close(check_store_fresh(path_b));
    sql_on(path_a, "DELETE FROM meta WHERE k = 'journal_unjournaled'");
    sql_on(path_b, "DELETE FROM meta WHERE k = 'journal_unjournaled'");
    if (sql != NULL) {
        sql_on(path_a, sql);
        sql_on(path_b, sql);
    }
}

/* Compares first with second: the number of differences (-1 on failure), their text in s. */
static int64_t compare_files(const char *first, const char *second, const char *const *skip, size_t max,
                             struct seen *s)
{
    int64_t n = -1;
    char err[256];
    memset(s, 0, sizeof *s);
    if (store_compare(first, second, skip, max, on_diff, s, &n, err, sizeof err) != STORE_OK) {
        printf("# compare failed: %s\n", err);
        return -1;
    }
    return n;
}

static int64_t compare(const char *const *skip, size_t max, struct seen *s)
{
    return compare_files(path_a, path_b, skip, max, s);
}

static const char BASE[] =
    "INSERT INTO buckets(name, owner, created_ms) VALUES ('b1', 'o', 1), ('b2', 'o', 2);"
    "INSERT INTO objects(id, bucket, key, size, etag, mtime_ms, meta_json) VALUES"
    " (1, 'b1', 'k1', 3, 'e1', 10, '{}'), (2, 'b1', 'k2', 4, 'e2', 11, '{}'), (3, 'b2', 'k''q', 0, 'e3', 12, '{}');"
    "INSERT INTO extents VALUES (1, 0, 7, 0, 3), (2, 0, 7, 3, 2), (2, 1, 8, 0, 2);";

static void test_equal(void)
{
    struct seen s;
    fresh_pair(NULL);
    CHECK(compare(SKIP, 10, &s) == 0);
    CHECK(s.calls == 0);
    fresh_pair(BASE);
    CHECK(compare(SKIP, 10, &s) == 0);
    CHECK(compare(NULL, 10, &s) == 0); /* meta is the same too: both fresh at the same version */
    CHECK_STR(s.text, "");
}

static void test_rows(void)
{
    struct seen s;
    fresh_pair(BASE);
    sql_on(path_a, "UPDATE objects SET etag = 'x' WHERE id = 2;"
                   "DELETE FROM extents WHERE object_id = 2 AND seq = 1;"
                   "INSERT INTO buckets(name, owner, created_ms) VALUES ('a0', 'o', 3);");
    sql_on(path_b, "DELETE FROM objects WHERE id = 3; INSERT INTO buckets(name, owner, created_ms) VALUES ('b3', 'o', 4);"
                   "UPDATE extents SET length = 9 WHERE object_id = 1 AND seq = 0;");
    CHECK(compare(SKIP, 10, &s) == 6);
    CHECK_STR(s.text, "buckets|name='a0'|only in the first\n"
                      "buckets|name='b3'|only in the second\n"
                      "extents|object_id=1, seq=0|differs\n"
                      "extents|object_id=2, seq=1|only in the second\n"
                      "objects|id=2|differs\n"
                      "objects|id=3|only in the first\n");
    /* The other way round, each side swaps. */
    CHECK(compare_files(path_b, path_a, SKIP, 10, &s) == 6);
    CHECK(strstr(s.text, "buckets|name='a0'|only in the second\n") != NULL);
    CHECK(strstr(s.text, "objects|id=3|only in the second\n") != NULL);
    CHECK(strstr(s.text, "objects|id=2|differs\n") != NULL);
}

static void test_values(void)
{
    struct seen s;
    /* NULL equals NULL; NULL against a value, a blob against another, a real against an integer differ. */
    fresh_pair("INSERT INTO gc_queue(id, chat_id, message_id, bot_id, due_ms) VALUES (1, -1, 5, 7, 0), (2, -1, 6, 7, 0);"
               "INSERT INTO stripes VALUES (4, 2, 1, 100);"
               "INSERT INTO blocks(id, chat_id, message_id, bot_id, file_id, file_unique_id, plain_size, stored_size,"
               " hash, key_id, nonce, created_ms) VALUES (9, -1, 1, 7, 'f', 'u', 1, 1, NULL, 1, X'00', 1);");
    CHECK(compare(SKIP, 10, &s) == 0);
    sql_on(path_b, "UPDATE blocks SET hash = X'01', nonce = X'02' WHERE id = 9; UPDATE gc_queue SET due_ms = 0.5 WHERE id = 2;");
    CHECK(compare(SKIP, 10, &s) == 2);
    CHECK_STR(s.text, "blocks|id=9|differs\ngc_queue|id=2|differs\n");
}

static void test_skip_and_tables(void)
{
    struct seen s;
    fresh_pair(BASE);
    sql_on(path_a, "INSERT INTO meta VALUES ('chain_seq', 5);"
                   "INSERT INTO chain_docs VALUES (X'00', 1, X'00', 1);"
                   "INSERT INTO inflight(uuid, put, chat_id, bot_id, started_ms) VALUES (X'01', 'p', 1, 1, 1);"
                   "ANALYZE;"); /* sqlite_stat1, on one side only */
    CHECK(compare(SKIP, 10, &s) == 0);
    CHECK(compare(NULL, 10, &s) == 3);
    CHECK_STR(s.text, "chain_docs|chain=X'00', seq=1|only in the first\n"
                      "inflight|uuid=X'01'|only in the first\n"
                      "meta|k='chain_seq'|only in the first\n");
    /* A table on one side only; a column added on one side. */
    sql_on(path_b, "CREATE TABLE extra(id INTEGER PRIMARY KEY); ALTER TABLE parts ADD COLUMN x INTEGER;");
    CHECK(compare(SKIP, 10, &s) == 2);
    CHECK_STR(s.text, "extra|-|only in the second\nparts|-|columns differ\n");
    /* A table without a declared key is compared by rowid. */
    sql_on(path_a, "DROP TABLE IF EXISTS extra; CREATE TABLE extra(v); INSERT INTO extra VALUES ('a'), ('b');");
    sql_on(path_b, "DROP TABLE extra; CREATE TABLE extra(v); INSERT INTO extra VALUES ('a'), ('c');");
    CHECK(compare(SKIP, 10, &s) == 2);
    CHECK_STR(s.text, "extra|rowid=2|differs\nparts|-|columns differ\n");
}

static void test_bound_and_errors(void)
{
    struct seen s;
    int64_t n = 7;
    char err[256];
    fresh_pair(BASE);
    sql_on(path_a, "DELETE FROM objects; DELETE FROM extents;");
    CHECK(compare(SKIP, 2, &s) == 6);
    CHECK(s.calls == 2);
    CHECK_STR(s.text, "extents|object_id=1, seq=0|only in the second\nextents|object_id=2, seq=0|only in the second\n");
    CHECK(compare(SKIP, 0, &s) == 6);
    CHECK(s.calls == 0);
    CHECK(store_compare(path_a, path_b, SKIP, 10, NULL, NULL, &n, err, sizeof err) == STORE_OK && n == 6);
    /* A second file that does not exist: a failure with its reason, nothing created. */
    char gone[80];
    snprintf(gone, sizeof gone, "%s.gone", path_b);
    CHECK(store_compare(path_a, gone, SKIP, 10, on_diff, &s, &n, err, sizeof err) != STORE_OK);
    CHECK(n == 0 && err[0] != '\0');
    CHECK(access(gone, F_OK) != 0);
    CHECK(store_compare(gone, path_a, SKIP, 10, on_diff, &s, &n, err, sizeof err) != STORE_OK);
    CHECK(access(gone, F_OK) != 0);
}

int main(void)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path_a, sizeof path_a, "%s/test_store_compare_a_%ld.db", dir, (long)getpid());
    snprintf(path_b, sizeof path_b, "%s/test_store_compare_b_%ld.db", dir, (long)getpid());
    test_equal();
    test_rows();
    test_values();
    test_skip_and_tables();
    test_bound_and_errors();
    check_db_remove(path_a);
    check_db_remove(path_b);
    return check_summary();
}

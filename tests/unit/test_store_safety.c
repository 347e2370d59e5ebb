/* test_store_safety.c — unit tests of gateway/store/safety.c: dedup lookups and holds, the
 * journal of blocks in flight and its start-up sweep, unreclaimable messages, fsck, snapshots.
 *
 * Each test works on a fresh database file under /tmp. One line per failed check, then the
 * summary line `N passed, N failed`.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char db_path[64], snap_path[80];

#define remove_db check_db_remove

static struct store *fresh(void)
{
    struct store *st = check_store_fresh(db_path);
    CHECK_ST(store_bucket_create(st, "bk", "ak", 1), STORE_OK);
    return st;
}

static int64_t add_block(struct store *st, int64_t msg, unsigned char hash0)
{
    return check_block_add(st, msg, hash0, 1052);
}

static enum store_status put(struct store *st, const char *key, int64_t block)
{
    return check_object_put(st, "bk", key, block, 1000);
}

static int64_t refcount(struct store *st, int64_t id)
{
    struct store_block b;
    if (store_block_get(st, id, &b) != STORE_OK)
        return -1;
    return b.refcount;
}

static void test_dedup_hold(void)
{
    struct store *st = fresh();
    unsigned char h[32] = {0xab}, other[32] = {0xcd}, u1[16] = {1}, u2[16] = {2};
    struct store_block found;
    int64_t id = add_block(st, 10, 0xab);
    /* A block nobody references is not a dedup candidate. */
    CHECK_ST(store_block_find_by_hash(st, h, 1, 1000, &found), STORE_NOT_FOUND);
    CHECK_ST(put(st, "a", id), STORE_OK);
    CHECK_ST(store_block_find_by_hash(st, h, 1, 1000, &found), STORE_OK);
    CHECK(found.id == id && found.uuid[0] == 10);
    CHECK_ST(store_block_find_by_hash(st, h, 2, 1000, &found), STORE_NOT_FOUND);  /* other key id */
    CHECK_ST(store_block_find_by_hash(st, h, 1, 999, &found), STORE_NOT_FOUND);   /* other size */
    CHECK_ST(store_block_find_by_hash(st, other, 1, 1000, &found), STORE_NOT_FOUND);
    /* A hold keeps the block alive while its only object is deleted. */
    CHECK_ST(store_inflight_hold(st, u1, "put1", h, 1, 1000, 100, &found), STORE_OK);
    CHECK(refcount(st, id) == 2);
    CHECK_ST(store_object_delete(st, "bk", "a"), STORE_OK);
    CHECK(refcount(st, id) == 1);
    CHECK(check_gc_count(st) == 0);
    /* The put commits its object, then the hold is released. */
    CHECK_ST(put(st, "b", id), STORE_OK);
    CHECK_ST(store_inflight_end(st, u1, 1, 200), STORE_OK);
    CHECK(refcount(st, id) == 1);
    /* A failed put releases its hold: the block goes when its last reference does. */
    CHECK_ST(store_inflight_hold(st, u2, "put2", h, 1, 1000, 100, &found), STORE_OK);
    CHECK_ST(store_object_delete(st, "bk", "b"), STORE_OK);
    CHECK(refcount(st, id) == 1);
    CHECK_ST(store_inflight_end(st, u2, 0, 300), STORE_OK);
    CHECK(refcount(st, id) == -1);
    CHECK(check_gc_count(st) == 1);
    CHECK_ST(store_inflight_end(st, u2, 0, 300), STORE_OK); /* ending twice is harmless */
    store_close(st);
}

static void test_journal_sweep(void)
{
    struct store *st = fresh();
    unsigned char u1[16] = {1}, u2[16] = {2}, u3[16] = {3}, u4[16] = {4}, h[32] = {0x11};
    struct store_block found;
    int64_t held = add_block(st, 50, 0x11);
    CHECK_ST(put(st, "kept", held), STORE_OK);
    /* u1: posted and confirmed, never committed; u2: never confirmed; u3: a dedup hold;
     * u4: committed (its row removed in the commit). */
    CHECK_ST(store_inflight_begin(st, u1, "p", 0, 0, 10), STORE_OK);
    CHECK_ST(store_inflight_posted(st, u1, -100, 7, 77), STORE_OK);
    CHECK_ST(store_inflight_begin(st, u2, "p", 0, 0, 10), STORE_OK);
    CHECK_ST(store_inflight_hold(st, u3, "p", h, 1, 1000, 10, &found), STORE_OK);
    CHECK(refcount(st, held) == 2);
    CHECK_ST(store_inflight_begin(st, u4, "p", 0, 0, 10), STORE_OK);
    CHECK_ST(store_inflight_end(st, u4, 1, 20), STORE_OK);
    int64_t problems = 0, repaired = 0;
    CHECK_ST(store_fsck_index(st, 0, 30, NULL, NULL, &problems, &repaired), STORE_OK);
    CHECK(problems == 0); /* holds count as references */
    struct store_inflight *unknown = NULL;
    size_t n = 0, swept = 0;
    CHECK_ST(store_inflight_sweep(st, 1000, &unknown, &n, &swept), STORE_OK);
    CHECK(swept == 2);
    CHECK(n == 1 && unknown && memcmp(unknown[0].uuid, u2, 16) == 0 && !strcmp(unknown[0].put, "p"));
    CHECK(unknown && unknown[0].started_ms == 10);
    free(unknown);
    CHECK(refcount(st, held) == 1);
    struct store_gc_item items[8];
    size_t gn = 0;
    CHECK_ST(store_gc_due(st, 1000, 8, items, &gn), STORE_OK);
    CHECK(gn == 1 && items[0].message_id == 77 && items[0].bot_id == 7 && items[0].posted_ms == 10);
    /* The unconfirmed post stays journaled until the stray probe settles it. */
    CHECK_ST(store_inflight_sweep(st, 2000, &unknown, &n, &swept), STORE_OK);
    CHECK(n == 1 && unknown != NULL && swept == 0);
    free(unknown);
    CHECK_ST(store_inflight_forget(st, (const unsigned char(*)[16])&u2, 1), STORE_OK);
    CHECK_ST(store_inflight_sweep(st, 3000, &unknown, &n, &swept), STORE_OK);
    CHECK(n == 0 && unknown == NULL && swept == 0);
    store_close(st);
}

static void test_strays(void)
{
    struct store *st = fresh();
    unsigned char u1[16] = {0x21}, u2[16] = {0x22};
    int64_t b10 = add_block(st, 10, 0x31); /* created_ms 5 */
    CHECK_ST(put(st, "a", b10), STORE_OK);
    struct store_block b;
    memset(&b, 0, sizeof b);
    b.chat_id = -100;
    b.message_id = 20;
    b.bot_id = 7;
    snprintf(b.file_id, sizeof b.file_id, "file-20");
    b.plain_size = 1000;
    b.stored_size = 1052;
    b.key_id = 1;
    b.created_ms = 500;
    CHECK_ST(store_block_insert(st, &b), STORE_OK);
    CHECK_ST(put(st, "b", b.id), STORE_OK);
    CHECK_ST(store_gc_enqueue(st, -100, 15, 7, 0), STORE_OK);
    CHECK_ST(store_gc_enqueue(st, -200, 16, 7, 0), STORE_OK); /* another chat */
    CHECK_ST(store_snapshot_record(st, -100, 30, 7, 600), STORE_OK);

    /* floor: the newest block created before the post started */
    int64_t floor = 0;
    CHECK_ST(store_strays_floor(st, -100, 100, &floor), STORE_OK);
    CHECK(floor == 10);
    CHECK_ST(store_strays_floor(st, -100, 5, &floor), STORE_OK);
    CHECK(floor == 1);
    CHECK_ST(store_strays_floor(st, -100, 1000, &floor), STORE_OK);
    CHECK(floor == 20);

    /* referenced ids above the floor, ascending, the snapshot included */
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK_ST(store_strays_referenced(st, -100, 10, 100, &ids, &n), STORE_OK);
    CHECK(n == 3 && ids && ids[0] == 15 && ids[1] == 20 && ids[2] == 30);
    free(ids);
    CHECK_ST(store_strays_referenced(st, -100, 1, 100, &ids, &n), STORE_OK);
    CHECK(n == 4 && ids && ids[0] == 10 && ids[3] == 30);
    free(ids);
    CHECK_ST(store_strays_referenced(st, -300, 1, 100, &ids, &n), STORE_OK);
    CHECK(n == 0 && ids == NULL);

    /* unposted packs */
    struct store_block pk;
    memset(&pk, 0, sizeof pk);
    pk.chat_id = 0;
    pk.message_id = -77;
    pk.uuid[0] = 0x44;
    pk.created_ms = 700;
    CHECK_ST(store_block_insert_held(st, &pk), STORE_OK);
    struct store_stray_pack *packs = NULL;
    CHECK_ST(store_strays_unposted(st, 10, &packs, &n), STORE_OK);
    CHECK(n == 0 && packs == NULL); /* never posted: nothing to look for */
    CHECK_ST(store_pack_posting(st, pk.id), STORE_OK);
    CHECK_ST(store_pack_posting(st, b10), STORE_OK); /* a posted block is left alone */
    CHECK_ST(store_strays_unposted(st, 10, &packs, &n), STORE_OK);
    CHECK(n == 1 && packs && packs[0].block_id == pk.id && packs[0].uuid[0] == 0x44 && packs[0].created_ms == 700);
    free(packs);

    /* an object packed into the unposted pack: its size is not known before the
     * seal, so fsck does not hold the extent against it; the extent end is known */
    CHECK_ST(put(st, "packed", pk.id), STORE_OK);
    int64_t problems = 0, repaired = 0, end = 0;
    CHECK_ST(store_fsck_index(st, 0, 800, NULL, NULL, &problems, &repaired), STORE_OK);
    CHECK(problems == 0);
    CHECK_ST(store_block_extent_end(st, pk.id, &end), STORE_OK);
    CHECK(end > 0);
    CHECK_ST(store_block_extent_end(st, 999999, &end), STORE_OK);
    CHECK(end == 0);

    /* collecting: a referenced message is refused and nothing changes */
    size_t before = check_gc_count(st);
    CHECK_ST(store_inflight_begin(st, u1, "p", 0, 0, 50), STORE_OK);
    CHECK_ST(store_inflight_begin(st, u2, "p", 0, 0, 50), STORE_OK);
    CHECK_ST(store_stray_collect(st, -100, 20, 7, 50, u1, 900), STORE_EXISTS);
    CHECK(check_gc_count(st) == before);
    CHECK_ST(store_stray_collect(st, -100, 21, 7, 50, u1, 900), STORE_OK);
    CHECK(check_gc_count(st) == before + 1);
    CHECK_ST(store_stray_collect(st, -100, 22, 7, 900, NULL, 900), STORE_OK); /* a probe's copy */
    CHECK(check_gc_count(st) == before + 2);
    struct store_inflight *unknown = NULL;
    size_t swept = 0;
    CHECK_ST(store_inflight_sweep(st, 1000, &unknown, &n, &swept), STORE_OK);
    CHECK(n == 1 && unknown && memcmp(unknown[0].uuid, u2, 16) == 0); /* u1 ended with its stray */
    free(unknown);
    struct store_gc_item items[8];
    size_t gn = 0;
    CHECK_ST(store_gc_due(st, 900, 8, items, &gn), STORE_OK);
    int seen = 0;
    for (size_t i = 0; i < gn; i++)
        if (items[i].message_id == 21 && items[i].posted_ms == 50)
            seen = 1;
    CHECK(seen);
    store_close(st);
}

static void test_unreclaimable(void)
{
    struct store *st = fresh();
    CHECK_ST(store_gc_enqueue_posted(st, -100, 5, 7, 123, 0), STORE_OK);
    struct store_gc_item items[4];
    size_t n = 0;
    CHECK_ST(store_gc_due(st, 1, 4, items, &n), STORE_OK);
    CHECK(n == 1 && items[0].posted_ms == 123);
    CHECK_ST(store_gc_unreclaimable(st, items, n, 99, "too old"), STORE_OK);
    int64_t count = 0;
    CHECK_ST(store_unreclaimable_count(st, &count), STORE_OK);
    CHECK(count == 1);
    CHECK(check_gc_count(st) == 0);
    /* Unref of a block carries its posting time into the queue. */
    int64_t id = add_block(st, 9, 1);
    CHECK_ST(put(st, "x", id), STORE_OK);
    CHECK_ST(store_object_delete(st, "bk", "x"), STORE_OK);
    CHECK_ST(store_gc_due(st, INT64_MAX / 2, 4, items, &n), STORE_OK);
    CHECK(n == 1 && items[0].message_id == 9 && items[0].posted_ms == 5);
    store_close(st);
}

static void count_line(void *ud, const char *line)
{
    (void)line;
    (*(int *)ud)++;
}

static void test_fsck(void)
{
    struct store *st = fresh();
    int64_t a = add_block(st, 1, 1), b = add_block(st, 2, 2), orphan = add_block(st, 3, 3);
    CHECK_ST(put(st, "a", a), STORE_OK);
    CHECK_ST(put(st, "b", b), STORE_OK);
    int64_t problems = 0, repaired = 0;
    int lines = 0;
    /* orphan: refcount 0 and no reference → reported, and removed with --repair */
    CHECK_ST(store_fsck_index(st, 0, 1, count_line, &lines, &problems, &repaired), STORE_OK);
    CHECK(problems == 0 && lines == 0); /* refcount 0 = references 0: consistent */
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE blocks SET refcount = 5 WHERE message_id = 1;"
                           "UPDATE blocks SET refcount = 2 WHERE message_id = 3;"
                           "UPDATE objects SET size = 7 WHERE key = 'b';",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_ST(store_fsck_index(st, 0, 1, count_line, &lines, &problems, &repaired), STORE_OK);
    CHECK(problems == 3 && repaired == 0 && lines == 3);
    CHECK(refcount(st, a) == 5);
    CHECK_ST(store_fsck_index(st, 1, 1, NULL, NULL, &problems, &repaired), STORE_OK);
    CHECK(repaired == 2);
    CHECK(refcount(st, a) == 1 && refcount(st, b) == 1 && refcount(st, orphan) == -1);
    CHECK(check_gc_count(st) == 1); /* the orphan's message is queued */
    CHECK_ST(store_fsck_index(st, 1, 1, NULL, NULL, &problems, &repaired), STORE_OK);
    CHECK(problems == 1 && repaired == 0); /* the size mismatch is reported, not repairable */
    struct store_block *page = NULL;
    size_t n = 0;
    CHECK_ST(store_block_page(st, 0, 10, &page, &n), STORE_OK);
    CHECK(n == 2 && page && page[0].id == a && page[1].id == b);
    free(page);
    CHECK_ST(store_block_page(st, b, 10, &page, &n), STORE_OK);
    CHECK(n == 0 && page == NULL);
    store_close(st);
}

static void test_snapshot(void)
{
    struct store *st = fresh();
    int64_t a = add_block(st, 1, 1);
    CHECK_ST(put(st, "a", a), STORE_OK);
    remove_db(snap_path);
    CHECK_ST(store_snapshot_write(st, snap_path), STORE_OK);
    CHECK(store_snapshot_write(st, snap_path) != STORE_OK); /* VACUUM INTO refuses an existing file */
    CHECK_ST(store_snapshot_record(st, -100, 40, 7, 1000), STORE_OK);
    CHECK(check_gc_count(st) == 0);
    CHECK_ST(store_snapshot_record(st, -100, 41, 7, 2000), STORE_OK);
    struct store_gc_item items[4];
    size_t n = 0;
    CHECK_ST(store_gc_due(st, INT64_MAX / 2, 4, items, &n), STORE_OK);
    CHECK(n == 1 && items[0].message_id == 40 && items[0].posted_ms == 1000);
    store_close(st);
    struct store *copy = NULL;
    CHECK_ST(store_open(snap_path, &copy), STORE_OK);
    struct store_object *o = NULL;
    CHECK(copy && store_object_get(copy, "bk", "a", &o) == STORE_OK && o && o->n_extents == 1 &&
          o->extents[0].block.message_id == 1 && o->extents[0].block.uuid[0] == 1);
    store_object_free(o);
    store_close(copy);
    remove_db(snap_path);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/test_store_safety_%ld.db", (long)getpid());
    snprintf(snap_path, sizeof snap_path, "/tmp/test_store_safety_%ld.snap", (long)getpid());
    test_dedup_hold();
    test_journal_sweep();
    test_strays();
    test_unreclaimable();
    test_fsck();
    test_snapshot();
    remove_db(db_path);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

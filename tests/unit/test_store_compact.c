/* test_store_compact.c — unit tests of gateway/store/compact.c: compaction's copies are recorded
 * (each a reference on the new pack) and used only once that pack is posted; an object changed
 * meanwhile keeps its state and its copy's reference goes; the old pack is queued for deletion
 * when its last object moves; a recovered index drops copies into a pack that never reached
 * Telegram and keeps the objects where they were. fsck agrees with the counts at every step.
 *
 * One line per failed check, then the summary line `N passed, N failed`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char db_path[64];

/* An open pack: an unposted block row holding itself (engine/pack.c). */
static int64_t open_pack(struct store *st, int64_t n)
{
    struct store_block b;
    memset(&b, 0, sizeof b);
    b.message_id = -n;
    snprintf(b.file_id, sizeof b.file_id, "pack-%lld", (long long)n);
    snprintf(b.file_unique_id, sizeof b.file_unique_id, "pack-%lld", (long long)n);
    b.plain_size = 300;
    b.key_id = 1;
    b.uuid[0] = (unsigned char)(100 + n);
    b.created_ms = 5;
    CHECK_ST(store_block_insert_held(st, &b), STORE_OK);
    return b.id;
}

static int64_t refcount(struct store *st, int64_t id)
{
    struct store_block b;
    if (store_block_get(st, id, &b) != STORE_OK)
        return -1; /* gone */
    return b.refcount;
}

/* Where key's one extent is: its block id and offset (-1 when it cannot be read). */
static int64_t where(struct store *st, const char *key, int64_t *offset)
{
    struct store_object *o = NULL;
    int64_t id = -1;
    if (store_object_get(st, "bkt", key, &o) == STORE_OK && o->n_extents == 1) {
        id = o->extents[0].block_id;
        *offset = o->extents[0].offset;
    }
    store_object_free(o);
    return id;
}

static void on_line(void *ud, const char *line)
{
    (void)ud;
    printf("  fsck: %s\n", line);
}

static int64_t fsck_problems(struct store *st)
{
    int64_t problems = -1, repaired = 0;
    if (store_fsck_index(st, 0, 10, on_line, NULL, &problems, &repaired) != STORE_OK)
        return -1;
    return problems;
}

static void test_moved_once_posted(void)
{
    struct store *st = check_store_fresh(db_path);
    CHECK_ST(store_bucket_create(st, "bkt", "ak", 1), STORE_OK);
    int64_t old = check_block_add(st, 1, 1, 1052), off = 0;
    CHECK_ST(check_object_put_at(st, "bkt", "a", old, 0, 100), STORE_OK);
    CHECK_ST(check_object_put_at(st, "bkt", "b", old, 100, 100), STORE_OK);
    CHECK_ST(check_object_put_at(st, "bkt", "c", old, 200, 100), STORE_OK);
    int64_t pack = open_pack(st, 1);
    struct store_pack_move m[3];
    for (int i = 0; i < 3; i++) /* a, b, c are objects 1, 2, 3 of a fresh index; copied in reverse order */
        m[i] = (struct store_pack_move){.object_id = i + 1, .old_offset = 100 * i, .length = 100, .new_block = pack,
                                        .new_offset = 100 * (2 - i)};
    CHECK_ST(store_pack_move_hold(st, old, m, 3), STORE_OK);
    CHECK(refcount(st, pack) == 4);
    CHECK(refcount(st, old) == 3);
    CHECK(fsck_problems(st) == 0);

    size_t moved = 9, stale = 9;
    CHECK_ST(store_pack_moves_apply(st, 10, &moved, &stale), STORE_OK);
    CHECK(moved == 0 && stale == 0); /* the pack is not posted: nothing moves */
    CHECK(where(st, "a", &off) == old && off == 0);

    /* the old pack is no candidate while its copies wait */
    struct store_block cand;
    struct store_pack_live *live = NULL;
    size_t n = 0;
    CHECK_ST(store_object_delete(st, "bkt", "c"), STORE_OK);
    CHECK_ST(store_pack_candidate(st, 10, 1000, 16, &cand, &live, &n), STORE_NOT_FOUND);
    free(live);

    struct store_block posted;
    CHECK_ST(store_block_get(st, pack, &posted), STORE_OK);
    posted.chat_id = -100;
    posted.message_id = 2;
    posted.stored_size = 352;
    CHECK_ST(store_block_set_posted(st, &posted), STORE_OK);
    CHECK(refcount(st, pack) == 3); /* its own hold went; the three copies hold it */
    CHECK(fsck_problems(st) == 0);

    CHECK_ST(store_pack_moves_apply(st, 10, &moved, &stale), STORE_OK);
    CHECK(moved == 2 && stale == 1);
    CHECK(where(st, "a", &off) == pack && off == 200);
    CHECK(where(st, "b", &off) == pack && off == 100);
    CHECK(refcount(st, pack) == 2);
    CHECK(refcount(st, old) == -1); /* its last object moved: gone, its message queued for deletion */
    CHECK(check_gc_count(st) == 1);
    CHECK(fsck_problems(st) == 0);
    CHECK_ST(store_pack_moves_apply(st, 10, &moved, &stale), STORE_OK);
    CHECK(moved == 0 && stale == 0); /* each copy is used once */
    store_close(st);
}

static void test_recovered_drops_copies(void)
{
    struct store *st = check_store_fresh(db_path);
    CHECK_ST(store_bucket_create(st, "bkt", "ak", 1), STORE_OK);
    int64_t old = check_block_add(st, 1, 1, 1052), off = 0;
    CHECK_ST(check_object_put_at(st, "bkt", "a", old, 0, 100), STORE_OK);
    int64_t pack = open_pack(st, 1);
    struct store_pack_move m = {.object_id = 1, .old_offset = 0, .length = 100, .new_block = pack, .new_offset = 0};
    CHECK_ST(store_pack_move_hold(st, old, &m, 1), STORE_OK);
    /* An index recovered from Telegram naming the pack that never got there. */
    int64_t objects = -1, parts = -1, blocks = -1;
    CHECK_ST(store_drop_unposted(st, 10, &objects, &parts, &blocks), STORE_OK);
    CHECK(objects == 0 && parts == 0 && blocks == 1);
    CHECK(where(st, "a", &off) == old && off == 0);
    CHECK(refcount(st, old) == 1);
    CHECK(fsck_problems(st) == 0);
    size_t moved = 9, stale = 9;
    CHECK_ST(store_pack_moves_apply(st, 10, &moved, &stale), STORE_OK);
    CHECK(moved == 0 && stale == 0);
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/tgs3-test-compact-%d.db", (int)getpid());
    test_moved_once_posted();
    test_recovered_drops_copies();
    check_db_remove(db_path);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

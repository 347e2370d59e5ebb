/* test_store_sweep.c — unit tests of gateway/store/sweep.c: the sweep windows a recovery leaves for the
 * stray probe: their floor, recording and widening, collecting inside them (never what the index
 * references), reading them to the end, and their absence from the journal.
 *
 * Each test works on a fresh database file under /tmp. One line per failed check, then the
 * summary line `N passed, N failed`.
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

/* A posted block: message msg in chat -100, created at created_ms. */
static int64_t block_at(struct store *st, int64_t msg, int64_t created_ms)
{
    return check_block_add_at(st, msg, 0, 1052, created_ms);
}

static void test_floor(void)
{
    struct store *st = check_store_fresh(db_path);
    int64_t floor = 0;
    unsigned char u1[16] = {1}, u2[16] = {2};

    CHECK_ST(store_sweep_floor(st, -100, 0, &floor), STORE_OK);
    CHECK(floor == 1); /* nothing referenced: the whole chat */
    CHECK(block_at(st, 10, 100) > 0);
    CHECK(block_at(st, 20, 200) > 0);
    CHECK_ST(store_gc_enqueue(st, -100, 25, 7, 0), STORE_OK);
    CHECK_ST(store_gc_enqueue(st, -200, 90, 7, 0), STORE_OK); /* another chat */
    CHECK_ST(store_sweep_floor(st, -100, 0, &floor), STORE_OK);
    CHECK(floor == 25);
    /* a confirmed journal row counts; a chain document does not (it is posted after its cut) */
    CHECK_ST(store_inflight_begin(st, u1, "p", -100, 7, 250), STORE_OK);
    CHECK_ST(store_inflight_posted(st, u1, -100, 7, 30), STORE_OK);
    unsigned char chain[16] = {0xc1};
    struct store_chain_msg m = {-100, 40, 7};
    struct store_chain_doc d = {.chain = chain, .seq = 1, .ref = "r", .ref_len = 1, .bytes = 1, .msgs = &m,
                                .n_msgs = 1};
    CHECK_ST(store_chain_add(st, &d, 300), STORE_OK);
    CHECK_ST(store_sweep_floor(st, -100, 0, &floor), STORE_OK);
    CHECK(floor == 30);
    /* a post started and never answered lowers it to the newest block created before (less the slack) */
    CHECK_ST(store_inflight_begin(st, u2, "p", -100, 7, 210), STORE_OK);
    CHECK_ST(store_sweep_floor(st, -100, 0, &floor), STORE_OK);
    CHECK(floor == 20);
    CHECK_ST(store_sweep_floor(st, -100, 50, &floor), STORE_OK);
    CHECK(floor == 10);
    CHECK_ST(store_sweep_floor(st, -100, 150, &floor), STORE_OK);
    CHECK(floor == 1);
    store_close(st);
}

static void test_windows(void)
{
    struct store *st = check_store_fresh(db_path);
    struct store_sweep *w = NULL;
    size_t n = 0;

    CHECK_ST(store_sweeps_list(st, 10, &w, &n), STORE_OK);
    CHECK(n == 0 && w == NULL);
    CHECK_ST(store_sweep_set(st, -100, 20, 50), STORE_OK);
    CHECK_ST(store_sweep_set(st, -200, 5, 9), STORE_OK);
    /* a window left by an earlier recovery is widened, never narrowed */
    CHECK_ST(store_sweep_set(st, -100, 30, 80), STORE_OK);
    CHECK_ST(store_sweeps_list(st, 10, &w, &n), STORE_OK);
    CHECK(n == 2 && w && w[0].chat_id == -200 && w[0].floor == 5 && w[0].top == 9 && w[1].chat_id == -100 &&
          w[1].floor == 20 && w[1].top == 80);
    free(w);

    /* reading moves the floor forward only; the window goes when read to its top */
    CHECK_ST(store_sweep_advance(st, -100, 40), STORE_OK);
    CHECK_ST(store_sweep_advance(st, -100, 35), STORE_OK);
    CHECK_ST(store_sweeps_list(st, 10, &w, &n), STORE_OK);
    CHECK(n == 2 && w && w[1].floor == 40 && w[1].top == 80);
    free(w);
    CHECK_ST(store_sweep_advance(st, -100, 79), STORE_OK);
    CHECK_ST(store_sweep_advance(st, -200, INT64_MAX), STORE_OK);
    CHECK_ST(store_sweep_advance(st, -300, 5), STORE_OK); /* no window: nothing to do */
    CHECK_ST(store_sweeps_list(st, 10, &w, &n), STORE_OK);
    CHECK(n == 0 && w == NULL);
    store_close(st);
}

static void test_collect(void)
{
    struct store *st = check_store_fresh(db_path);
    unsigned char u1[16] = {1}, chain[16] = {0xc2};
    int64_t b = block_at(st, 10, 100);
    CHECK(b > 0);
    CHECK_ST(store_gc_enqueue(st, -100, 11, 7, 0), STORE_OK);
    CHECK_ST(store_gc_enqueue_posted(st, -100, 12, 7, 0, 0), STORE_OK);
    struct store_gc_item items[8];
    size_t gn = 0, at = 0;
    CHECK_ST(store_gc_due(st, INT64_MAX / 2, 8, items, &gn), STORE_OK);
    for (size_t i = 0; i < gn; i++)
        if (items[i].message_id == 12)
            at = i;
    CHECK(gn == 2 && items[at].message_id == 12);
    CHECK_ST(store_gc_unreclaimable(st, &items[at], 1, 99, "too old"), STORE_OK);
    CHECK_ST(store_inflight_begin(st, u1, "p", -100, 7, 50), STORE_OK);
    CHECK_ST(store_inflight_posted(st, u1, -100, 7, 13), STORE_OK);
    struct store_chain_msg m = {-100, 14, 7};
    struct store_chain_doc d = {.chain = chain, .seq = 1, .ref = "r", .ref_len = 1, .bytes = 1, .msgs = &m,
                                .n_msgs = 1};
    CHECK_ST(store_chain_add(st, &d, 300), STORE_OK);
    CHECK_ST(store_snapshot_record(st, -100, 15, 7, 600), STORE_OK);

    /* whatever references a message keeps it: block, queue, unreclaimable, journal, chain, snapshot */
    size_t before = check_gc_count(st);
    for (int64_t id = 10; id <= 15; id++)
        CHECK_ST(store_sweep_collect(st, -100, id, 7, 900), STORE_EXISTS);
    CHECK(check_gc_count(st) == before);
    CHECK_ST(store_sweep_collect(st, -200, 10, 7, 900), STORE_OK); /* another chat's message 10 */
    CHECK_ST(store_sweep_collect(st, -100, 16, 7, 900), STORE_OK);
    CHECK(check_gc_count(st) == before + 2);
    CHECK_ST(store_sweep_collect(st, -100, 16, 7, 900), STORE_EXISTS); /* queued once */
    store_close(st);
}

/* The windows are the recovery's bookkeeping: no journal document carries them. */
static void test_not_journaled(void)
{
    struct store *st = check_store_fresh(db_path);
    void *buf = NULL;
    size_t len = 1;

    CHECK_ST(store_changes_start(st), STORE_OK);
    CHECK_ST(store_sweep_set(st, -100, 1, 9), STORE_OK);
    CHECK_ST(store_sweep_advance(st, -100, 4), STORE_OK);
    CHECK_ST(store_changes_take(st, &buf, &len), STORE_OK);
    CHECK(buf == NULL && len == 0);
    store_changes_free(buf);
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/test_store_sweep_%ld.db", (long)getpid());
    test_floor();
    test_windows();
    test_collect();
    test_not_journaled();
    check_db_remove(db_path);
    return check_summary();
}

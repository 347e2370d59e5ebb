/* test_store_stripes.c — unit tests of gateway/store/shards.c and repair.c: stripes recorded with their
 * block, every shard's message queued for deletion when the block goes, health counts, the repair
 * queue (what is due, what a stripe lacks), the swap of a rebuilt shard, a block stored as one
 * document upgraded to a stripe, and the scrub's walk.
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

static char db_path[64];

#define remove_db check_db_remove

static struct store *fresh(void)
{
    struct store *st = check_store_fresh(db_path);
    CHECK_ST(store_bucket_create(st, "bk", "ak", 1), STORE_OK);
    return st;
}

static int64_t count(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t n = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static void shard(struct store_shard *sh, int idx, int64_t chat, int64_t msg)
{
    memset(sh, 0, sizeof(*sh));
    sh->idx = idx;
    sh->chat_id = chat;
    sh->message_id = msg;
    sh->bot_id = 7;
    snprintf(sh->file_id, sizeof sh->file_id, "f-%lld-%lld", (long long)chat, (long long)msg);
    snprintf(sh->file_unique_id, sizeof sh->file_unique_id, "u-%lld", (long long)msg);
    sh->size = 1064;
    sh->created_ms = 9;
}

/* A block of k + m shards in chats -101.., message ids base + idx, all but those in `missing`,
 * referenced by object `key`. */
static int64_t add_stripe(struct store *st, const char *key, int k, int m, int64_t base, unsigned missing)
{
    struct store_block b;
    struct store_stripe *sp = calloc(1, sizeof(*sp));
    memset(&b, 0, sizeof b);
    sp->k = k;
    sp->m = m;
    sp->sealed_size = 4000;
    for (int i = 0; i < k + m; i++)
        if (!(missing & (1u << i)))
            shard(&sp->sh[sp->n++], i, -101 - i, base + i);
    b.chat_id = sp->sh[0].chat_id;
    b.message_id = sp->sh[0].message_id;
    b.bot_id = 7;
    snprintf(b.file_id, sizeof b.file_id, "%s", sp->sh[0].file_id);
    b.plain_size = 3948;
    b.stored_size = 4000;
    b.key_id = 1;
    b.uuid[0] = (unsigned char)base;
    b.created_ms = 5;
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_block_insert(st, &b), STORE_OK);
    CHECK_ST(store_stripe_insert(st, b.id, sp), STORE_OK);
    CHECK_ST(store_tx_commit(st), STORE_OK);
    free(sp);

    CHECK_ST(check_object_put(st, "bk", key, b.id, 3948), STORE_OK);
    return b.id;
}

static void test_stripe_roundtrip(void)
{
    struct store *st = fresh();
    struct store_stripe *sp = calloc(1, sizeof(*sp));
    int64_t id = add_stripe(st, "a", 4, 2, 100, 0);
    CHECK_ST(store_stripe_get(st, id, sp), STORE_OK);
    CHECK(sp->k == 4 && sp->m == 2 && sp->n == 6 && sp->sealed_size == 4000);
    for (int i = 0; i < sp->n; i++)
        CHECK(sp->sh[i].idx == i && sp->sh[i].chat_id == -101 - i && sp->sh[i].message_id == 100 + i &&
              sp->sh[i].size == 1064 && strcmp(sp->sh[i].file_id, "") != 0);
    CHECK_ST(store_stripe_get(st, id + 1000, sp), STORE_NOT_FOUND);

    struct store_stripe_counts c;
    add_stripe(st, "b", 4, 2, 200, 1u << 5);          /* degraded: parity shard 5 missing */
    add_stripe(st, "c", 2, 1, 300, (1u << 0) | (1u << 1)); /* lost: 1 of 2 needed */
    CHECK_ST(store_stripe_counts(st, &c), STORE_OK);
    CHECK(c.healthy == 1 && c.degraded == 1 && c.lost == 1 && c.unprotected == 0);

    /* The last reference goes: every shard's message is queued, the rows go. */
    CHECK_ST(store_object_delete(st, "bk", "a"), STORE_OK);
    CHECK(count("SELECT COUNT(*) FROM gc_queue WHERE message_id BETWEEN 100 AND 105") == 6);
    CHECK(count("SELECT COUNT(*) FROM shards WHERE message_id BETWEEN 100 AND 105") == 0);
    CHECK_ST(store_stripe_get(st, id, sp), STORE_NOT_FOUND);
    /* A bad layout is refused. */
    sp->k = 0;
    sp->m = 1;
    CHECK_ST(store_stripe_insert(st, 999, sp), STORE_CONFLICT);
    free(sp);
    store_close(st);
}

static void test_repair_queue(void)
{
    struct store *st = fresh();
    struct store_block b;
    struct store_stripe *sp = calloc(1, sizeof(*sp));
    int want[STORE_MAX_SHARDS], n = 0;
    int64_t whole = add_stripe(st, "w", 4, 2, 100, 0);
    int64_t degraded = add_stripe(st, "d", 4, 2, 200, 1u << 3);
    int64_t backlog, blocks;

    /* Nothing queued: a degraded stripe is found only through a row (the upload adds one). */
    CHECK_ST(store_repair_next(st, 1000, &b, sp, want, &n), STORE_NOT_FOUND);
    CHECK_ST(store_repair_add(st, degraded, 3, "stored degraded", 10), STORE_OK);
    CHECK_ST(store_repair_add(st, degraded, 3, "again", 10), STORE_OK); /* once per shard */
    CHECK_ST(store_repair_add(st, whole, 1, "failed verification", 20), STORE_OK);
    CHECK_ST(store_repair_add(st, 12345, 0, "no such block", 5), STORE_OK); /* not a stripe: ignored */
    CHECK_ST(store_repair_backlog(st, &backlog, &blocks), STORE_OK);
    CHECK(backlog == 2 && blocks == 2);
    CHECK_ST(store_repair_next(st, 5, &b, sp, want, &n), STORE_NOT_FOUND); /* not due yet */
    CHECK_ST(store_repair_next(st, 1000, &b, sp, want, &n), STORE_OK);
    CHECK(b.id == degraded && n == 1 && want[0] == 3 && sp->n == 5);

    /* The rebuilt shard is swapped in: recorded, the row gone, its journal row ended. */
    struct store_shard sh;
    unsigned char key[16] = {42};
    shard(&sh, 3, -109, 900);
    CHECK_ST(store_inflight_begin(st, key, "repair", 0, 0, 50), STORE_OK);
    CHECK_ST(store_inflight_posted(st, key, -109, 7, 900), STORE_OK);
    CHECK_ST(store_repair_swap(st, degraded, &sh, key, 60), STORE_OK);
    CHECK_ST(store_stripe_get(st, degraded, sp), STORE_OK);
    CHECK(sp->n == 6 && sp->sh[3].chat_id == -109 && sp->sh[3].message_id == 900);
    CHECK(count("SELECT COUNT(*) FROM inflight") == 0);
    CHECK(count("SELECT COUNT(*) FROM gc_queue WHERE message_id = 900") == 0);

    /* Replacing a held shard queues the old message; the block row follows shard 0. */
    CHECK_ST(store_repair_next(st, 1000, &b, sp, want, &n), STORE_OK);
    CHECK(b.id == whole && n == 1 && want[0] == 1);
    shard(&sh, 1, -110, 901);
    CHECK_ST(store_repair_swap(st, whole, &sh, key, 70), STORE_OK);
    CHECK(count("SELECT COUNT(*) FROM gc_queue WHERE message_id = 101") == 1);
    shard(&sh, 0, -111, 902);
    CHECK_ST(store_repair_add(st, whole, 0, "cannot be read", 80), STORE_OK);
    CHECK_ST(store_repair_swap(st, whole, &sh, key, 80), STORE_OK);
    CHECK(count("SELECT message_id FROM blocks WHERE message_id = 902") == 902);
    CHECK_ST(store_repair_next(st, 1000, &b, sp, want, &n), STORE_NOT_FOUND);

    /* A lost chat queues every shard it holds; a later attempt waits. */
    int64_t added = 0;
    CHECK_ST(store_repair_add_chat(st, -102, "chat lost", 100, &added), STORE_OK);
    CHECK(added == 1);
    CHECK_ST(store_repair_next(st, 1000, &b, sp, want, &n), STORE_OK);
    CHECK(b.id == degraded && n == 1 && want[0] == 1);
    CHECK_ST(store_repair_later(st, degraded, 5000), STORE_OK);
    CHECK_ST(store_repair_next(st, 1000, &b, sp, want, &n), STORE_NOT_FOUND);
    /* The block goes: its rows go; a swap then finds nothing. */
    CHECK_ST(store_object_delete(st, "bk", "d"), STORE_OK);
    CHECK(count("SELECT COUNT(*) FROM repairs") == 0);
    CHECK_ST(store_repair_swap(st, degraded, &sh, key, 90), STORE_NOT_FOUND);
    free(sp);
    store_close(st);
}

/* A block stored as one document becomes a stripe: in one transaction, or not at all. */
static void test_upgrade(void)
{
    struct store *st = fresh();
    struct store_block b;
    struct store_stripe *sp = calloc(1, sizeof(*sp));
    unsigned char keys[STORE_MAX_SHARDS][16];
    int64_t id = check_block_add(st, 50, 1, 4000), refs_before;
    struct store_stripe_counts c;
    CHECK_ST(check_object_put(st, "bk", "one", id, 1000), STORE_OK);
    CHECK_ST(store_block_set_file(st, id, 8, "other-bot-file"), STORE_OK);
    CHECK_ST(store_stripe_counts(st, &c), STORE_OK);
    CHECK(c.unprotected == 1 && c.healthy == 0);
    refs_before = count("SELECT refcount FROM blocks");
    sp->k = 2;
    sp->m = 1;
    sp->sealed_size = 4000;
    for (int i = 0; i < 3; i++) {
        shard(&sp->sh[sp->n++], i, -201 - i, 700 + i);
        memset(keys[i], 0, sizeof keys[i]);
        keys[i][0] = (unsigned char)(60 + i);
        CHECK_ST(store_inflight_begin(st, keys[i], "upgrade", 0, 0, 10), STORE_OK);
        CHECK_ST(store_inflight_posted(st, keys[i], -201 - i, 7, 700 + i), STORE_OK);
    }
    /* Not the document the index names any more: nothing changes. */
    CHECK_ST(store_stripe_upgrade(st, id, -100, 51, sp, (const unsigned char (*)[16])keys, 20), STORE_NOT_FOUND);
    CHECK_ST(store_stripe_upgrade(st, id + 1, -100, 50, sp, (const unsigned char (*)[16])keys, 20), STORE_NOT_FOUND);
    CHECK(count("SELECT COUNT(*) FROM inflight") == 3 && count("SELECT COUNT(*) FROM gc_queue") == 0);

    CHECK_ST(store_stripe_upgrade(st, id, -100, 50, sp, (const unsigned char (*)[16])keys, 20), STORE_OK);
    CHECK_ST(store_block_get(st, id, &b), STORE_OK);
    CHECK(b.chat_id == -201 && b.message_id == 700 && b.created_ms == 9 && strcmp(b.file_id, sp->sh[0].file_id) == 0);
    CHECK(b.uuid[0] == 50 && b.stored_size == 4000 && b.plain_size == 1000 && b.refcount == refs_before);
    CHECK_ST(store_stripe_get(st, id, sp), STORE_OK);
    CHECK(sp->k == 2 && sp->m == 1 && sp->n == 3 && sp->sh[2].message_id == 702);
    CHECK(count("SELECT COUNT(*) FROM gc_queue WHERE chat_id = -100 AND message_id = 50") == 1);
    CHECK(count("SELECT COUNT(*) FROM gc_queue") == 1);   /* the new shards are not queued */
    CHECK(count("SELECT COUNT(*) FROM inflight") == 0);   /* their journal rows ended, committed */
    CHECK(count("SELECT COUNT(*) FROM block_files") == 0); /* the old document's other file ids */
    CHECK_ST(store_stripe_counts(st, &c), STORE_OK);
    CHECK(c.unprotected == 0 && c.healthy == 1);
    /* A stripe already: refused. */
    CHECK_ST(store_stripe_upgrade(st, id, -201, 700, sp, (const unsigned char (*)[16])keys, 30), STORE_NOT_FOUND);
    /* The last reference goes: every shard is queued, the old message stays queued once. */
    CHECK_ST(store_object_delete(st, "bk", "one"), STORE_OK);
    CHECK(count("SELECT COUNT(*) FROM gc_queue") == 4);
    free(sp);
    store_close(st);
}

static void test_scrub_walk(void)
{
    struct store *st = fresh();
    struct store_block b;
    struct store_stripe *sp = calloc(1, sizeof(*sp));
    int is_stripe = -1;
    int64_t total = 0, cursor = -1;
    int64_t a = add_stripe(st, "a", 2, 1, 100, 0);
    int64_t c = add_stripe(st, "c", 2, 1, 200, 0);
    CHECK_ST(store_scrub_next(st, 0, &b, sp, &is_stripe, &total), STORE_OK);
    CHECK(b.id == a && is_stripe == 1 && total == 2 && sp->n == 3);
    CHECK_ST(store_scrub_next(st, a, &b, sp, &is_stripe, &total), STORE_OK);
    CHECK(b.id == c);
    CHECK_ST(store_scrub_next(st, c, &b, sp, &is_stripe, &total), STORE_NOT_FOUND);
    CHECK_ST(store_scrub_cursor_get(st, &cursor), STORE_OK);
    CHECK(cursor == 0);
    CHECK_ST(store_scrub_cursor_set(st, a), STORE_OK);
    CHECK_ST(store_scrub_cursor_get(st, &cursor), STORE_OK);
    CHECK(cursor == a);
    free(sp);
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/test_store_stripes_%ld.db", (long)getpid());
    test_stripe_roundtrip();
    test_repair_queue();
    test_upgrade();
    test_scrub_walk();
    remove_db(db_path);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed != 0;
}

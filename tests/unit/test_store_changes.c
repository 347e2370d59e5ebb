/* test_store_changes.c — unit tests of gateway/store/changes.c: the index journal's changesets and the
 * unjournaled mark.
 *
 * The main test drives an index A through random calls of the store's API (buckets, blocks, packs,
 * stripes, objects, multipart uploads, the delete queue, the journal of uploads in flight, repairs,
 * retired chats, compaction, fsck, explicit transactions committed or rolled back), takes changesets
 * at random points and applies them in order to B, a copy written right after recording started; B
 * must then hold what A holds in every table but meta. The others: a changeset refused whole on the
 * wrong base, takes refused inside a transaction, empty takes, the unjournaled mark, and truncated or
 * garbled changesets refused without harm.
 *
 * Each test works on fresh database files under /dev/shm (or /tmp). One line per failed check, then
 * the summary line `N passed, N failed`.
 */
#define SQLITE_ENABLE_SESSION
#define SQLITE_ENABLE_PREUPDATE_HOOK
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char path_a[64], path_b[64], path_c[64];

/* ---- the content of an index, as text ---- */

struct text {
    char *p;
    size_t n, cap;
};

static void PRINTF_LIKE(2, 3) text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->n + (size_t)n + 1 > t->cap) {
        t->cap = 2 * (t->n + (size_t)n + 1);
        t->p = xrealloc(t->p, t->cap);
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)n;
}

static void text_value(struct text *t, sqlite3_stmt *s, int col)
{
    const unsigned char *b;
    int n;

    switch (sqlite3_column_type(s, col)) {
    case SQLITE_INTEGER: text_add(t, "%lld", (long long)sqlite3_column_int64(s, col)); break;
    case SQLITE_FLOAT: text_add(t, "%.17g", sqlite3_column_double(s, col)); break;
    case SQLITE_TEXT: text_add(t, "'%s'", (const char *)sqlite3_column_text(s, col)); break;
    case SQLITE_BLOB:
        b = sqlite3_column_blob(s, col);
        n = sqlite3_column_bytes(s, col);
        text_add(t, "x'");
        for (int i = 0; i < n; i++)
            text_add(t, "%02x", b[i]);
        text_add(t, "'");
        break;
    default: text_add(t, "NULL");
    }
}

/* The primary key of table as an ORDER BY list ("" when it has none). */
static void order_by(sqlite3 *db, const char *table, struct text *t)
{
    sqlite3_stmt *s = NULL;

    sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk", -1, &s, NULL);
    sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW)
        text_add(t, "%s\"%s\"", t->n ? ", " : "", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* Every row of every table of the index at path but meta, in primary key order (malloc'd). *tables
 * counts the tables that hold rows. A table without a primary key fails a check: sessions skip it. */
static char *dump(const char *path, int *tables)
{
    struct text t = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *names = NULL;

    *tables = 0;
    text_add(&t, "%s", "");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return t.p;
    }
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name <> 'meta' ORDER BY name",
                       -1, &names, NULL);
    while (sqlite3_step(names) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(names, 0);
        struct text sql = {0}, key = {0};
        sqlite3_stmt *s = NULL;
        int rows = 0;

        order_by(db, table, &key);
        CHECK(key.n > 0);
        text_add(&sql, "SELECT * FROM \"%s\" ORDER BY %s", table, key.n ? key.p : "1");
        text_add(&t, "[%s]\n", table);
        sqlite3_prepare_v2(db, sql.p, -1, &s, NULL);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                text_add(&t, c ? "|" : "");
                text_value(&t, s, c);
            }
            text_add(&t, "\n");
            rows++;
        }
        *tables += rows > 0;
        sqlite3_finalize(s);
        free(sql.p);
        free(key.p);
    }
    sqlite3_finalize(names);
    sqlite3_close(db);
    return t.p;
}

/* Whether the indexes at a and b hold the same rows (every table but meta); prints the two when not. */
static int same_content(const char *a, const char *b)
{
    int ta, tb;
    char *da = dump(a, &ta), *db = dump(b, &tb);
    int same = strcmp(da, db) == 0;

    if (!same)
        printf("---- %s ----\n%s---- %s ----\n%s", a, da, b, db);
    free(da);
    free(db);
    return same;
}

/* An empty index at path. Commits do not wait for the disk: the tests are about content. */
static struct store *fresh(const char *path)
{
    struct store *st = check_store_fresh(path);

    CHECK_ST(store_defer_sync(st), STORE_OK);
    return st;
}

/* A copy of st's index at path (VACUUM INTO, as the gateway's snapshot), opened as fresh does. */
static struct store *copy_of(struct store *st, const char *path)
{
    struct store *c = NULL;

    check_db_remove(path);
    CHECK_ST(store_snapshot_write(st, path), STORE_OK);
    CHECK_ST(store_open(path, &c), STORE_OK);
    if (c == NULL)
        exit(1);
    CHECK_ST(store_defer_sync(c), STORE_OK);
    return c;
}

/* Applies buf to dst expecting want; prints the store's message when the status differs. */
static void apply_expect(struct store *dst, const void *buf, size_t len, enum store_status want)
{
    enum store_status got = store_changes_apply(dst, buf, len);

    CHECK_ST(got, want);
    if (got != want)
        printf("  (%s)\n", store_errmsg(dst));
}

/* Takes a changeset from src and applies it to dst. */
static void ship(struct store *src, struct store *dst)
{
    void *buf = NULL;
    size_t len = 0;

    CHECK_ST(store_changes_take(src, &buf, &len), STORE_OK);
    apply_expect(dst, buf, len, STORE_OK);
    store_changes_free(buf);
}

/* ---- (a) random calls on A, changesets shipped to B ---- */

/* The calls made at random; those from OP_PACK_OPEN on open a transaction of their own
 * (store_tx_begin), so op_tx leaves them out. */
enum op {
    OP_BUCKET_CREATE, OP_BUCKET_DELETE, OP_BLOCK, OP_BLOCK_FILE, OP_PACK_POSTED, OP_PUT, OP_SET_META,
    OP_DELETE, OP_UPLOAD, OP_PART, OP_COMPLETE, OP_ABORT, OP_GC_ENQUEUE, OP_GC_DONE, OP_GC_RETRY,
    OP_UNRECLAIMABLE, OP_INFLIGHT, OP_INFLIGHT_POSTED, OP_INFLIGHT_END, OP_HOLD, OP_SWEEP, OP_STRAY,
    OP_REPAIR_ADD, OP_REPAIR_LATER, OP_REPAIR_CHAT, OP_SNAPSHOT_PIN, OP_SCRUB_CURSOR, OP_PACK_MOVE, OP_FSCK,
    OP_PACK_OPEN, OP_STRIPE, OP_REPAIR_SWAP, OP_RETIRE, OP_TX_COMMIT, OP_TX_ROLLBACK,
    OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
    [OP_BUCKET_CREATE] = "bucket create", [OP_BUCKET_DELETE] = "bucket delete", [OP_BLOCK] = "block",
    [OP_BLOCK_FILE] = "block file", [OP_PACK_POSTED] = "pack posted", [OP_PUT] = "put",
    [OP_SET_META] = "set meta", [OP_DELETE] = "delete", [OP_UPLOAD] = "upload", [OP_PART] = "part",
    [OP_COMPLETE] = "complete", [OP_ABORT] = "abort", [OP_GC_ENQUEUE] = "gc enqueue", [OP_GC_DONE] = "gc done",
    [OP_GC_RETRY] = "gc retry", [OP_UNRECLAIMABLE] = "unreclaimable", [OP_INFLIGHT] = "inflight",
    [OP_INFLIGHT_POSTED] = "inflight posted", [OP_INFLIGHT_END] = "inflight end", [OP_HOLD] = "hold",
    [OP_SWEEP] = "sweep", [OP_STRAY] = "stray", [OP_REPAIR_ADD] = "repair add",
    [OP_REPAIR_LATER] = "repair later", [OP_REPAIR_CHAT] = "repair chat", [OP_SNAPSHOT_PIN] = "snapshot pin",
    [OP_SCRUB_CURSOR] = "scrub cursor", [OP_PACK_MOVE] = "pack move", [OP_FSCK] = "fsck",
    [OP_PACK_OPEN] = "pack open", [OP_STRIPE] = "stripe", [OP_REPAIR_SWAP] = "repair swap",
    [OP_RETIRE] = "retire", [OP_TX_COMMIT] = "tx commit", [OP_TX_ROLLBACK] = "tx rollback",
};

#define SIM_MAX 512

struct sim {
    struct store *st;
    uint64_t rng;
    int64_t now;      /* ms */
    int64_t next_msg; /* message ids handed out */
    int64_t blocks[SIM_MAX]; size_t n_blocks;  /* every block id made (some gone since) */
    int64_t stripes[SIM_MAX]; size_t n_stripes;
    int64_t packs[SIM_MAX]; size_t n_packs;    /* held packs, posted or not */
    int n_uploads;                              /* upload ids u0 .. */
    int n_uuids;                                /* journal identities 0 .. */
    int ok[OP_COUNT];
};

static uint64_t rnd(struct sim *s, uint64_t n)
{
    return check_rand(&s->rng) % n;
}

static const char *const bucket_names[] = {"b0", "b1", "b2"};
static const char *const key_names[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "dir/k8", "dir/k9"};

static const char *any_bucket(struct sim *s)
{
    return bucket_names[rnd(s, ARRAY_SIZE(bucket_names))];
}

static const char *any_key(struct sim *s)
{
    return key_names[rnd(s, ARRAY_SIZE(key_names))];
}

static int64_t any_of(struct sim *s, const int64_t *v, size_t n)
{
    return n ? v[rnd(s, n)] : 1;
}

static void remember(int64_t *v, size_t *n, int64_t id)
{
    if (*n < SIM_MAX)
        v[(*n)++] = id;
}

static void uuid_of(int i, unsigned char out[16])
{
    memset(out, 0, 16);
    memcpy(out, &i, sizeof i);
    out[15] = 0x5a;
}

/* A posted block in chat -100 with a new message id (or, now and then, one used before: a block
 * gone meanwhile leaves its (chat, message) free), keyed hash h. */
static void fill_block(struct sim *s, struct store_block *b, unsigned char h)
{
    memset(b, 0, sizeof *b);
    b->chat_id = -100;
    if (rnd(s, 8) == 0 && s->next_msg > 1)
        b->message_id = 1 + (int64_t)rnd(s, (uint64_t)s->next_msg - 1);
    else
        b->message_id = s->next_msg++;
    b->bot_id = 7;
    snprintf(b->file_id, sizeof b->file_id, "file-%lld", (long long)b->message_id);
    snprintf(b->file_unique_id, sizeof b->file_unique_id, "u-%lld", (long long)b->message_id);
    b->plain_size = 1000;
    b->stored_size = 1028;
    b->hash[0] = h;
    b->key_id = 1;
    b->nonce[3] = (unsigned char)rnd(s, 256);
    b->uuid[0] = (unsigned char)b->message_id;
    b->created_ms = s->now;
}

/* Up to 3 extents of known blocks (some gone: the call then fails). */
static size_t fill_extents(struct sim *s, struct store_extent *ext)
{
    size_t n = 1 + rnd(s, 3);

    memset(ext, 0, 3 * sizeof *ext);
    for (size_t i = 0; i < n; i++) {
        int r = (int)rnd(s, 4);
        ext[i].block_id = r == 0 ? any_of(s, s->packs, s->n_packs)
                          : r == 1 ? any_of(s, s->stripes, s->n_stripes)
                                   : any_of(s, s->blocks, s->n_blocks);
        ext[i].offset = (int64_t)rnd(s, 10) * 100;
        ext[i].length = 1 + (int64_t)rnd(s, 100);
    }
    return n;
}

static void fill_object(struct sim *s, struct store_object *o, const char *bucket, const char *key, char *meta,
                        size_t meta_len)
{
    memset(o, 0, sizeof *o);
    snprintf(o->bucket, sizeof o->bucket, "%s", bucket);
    o->key = (char *)key;
    o->size = (int64_t)rnd(s, 5000);
    snprintf(o->etag, sizeof o->etag, "%032llx", (unsigned long long)rnd(s, 1u << 30));
    o->mtime_ms = s->now;
    snprintf(meta, meta_len, "{\"n\":%llu}", (unsigned long long)rnd(s, 100));
    o->meta_json = meta;
}

static void shard_of(struct sim *s, struct store_shard *sh, int idx, int64_t chat)
{
    memset(sh, 0, sizeof *sh);
    sh->idx = idx;
    sh->chat_id = chat;
    sh->message_id = s->next_msg++;
    sh->bot_id = 7;
    snprintf(sh->file_id, sizeof sh->file_id, "f-%lld", (long long)sh->message_id);
    snprintf(sh->file_unique_id, sizeof sh->file_unique_id, "u-%lld", (long long)sh->message_id);
    sh->size = 400;
    sh->created_ms = s->now;
}

static enum store_status op_stripe(struct sim *s)
{
    struct store_stripe *sp = xcalloc(1, sizeof *sp);
    struct store_block b;
    enum store_status ret;

    sp->k = 2;
    sp->m = 1;
    sp->sealed_size = 1028;
    for (int i = 0; i < 3; i++)
        if (rnd(s, 6) != 0) /* now and then degraded */
            shard_of(s, &sp->sh[sp->n++], i, -101 - i);
    fill_block(s, &b, 0);
    b.chat_id = sp->n ? sp->sh[0].chat_id : -101;
    b.message_id = sp->n ? sp->sh[0].message_id : s->next_msg++;
    ret = store_tx_begin(s->st);
    if (ret == STORE_OK)
        ret = store_block_insert(s->st, &b);
    if (ret == STORE_OK)
        ret = store_stripe_insert(s->st, b.id, sp);
    if (ret == STORE_OK)
        ret = store_tx_commit(s->st);
    else
        store_tx_rollback(s->st);
    if (ret == STORE_OK)
        remember(s->stripes, &s->n_stripes, b.id);
    free(sp);
    return ret;
}

static enum store_status op_complete(struct sim *s)
{
    char id[16], meta[64];
    struct store_upload u;
    struct store_part *parts = NULL;
    struct store_object o;
    int numbers[8], truncated = 0;
    size_t n = 0, k = 0;
    enum store_status ret;

    snprintf(id, sizeof id, "u%d", (int)rnd(s, (uint64_t)s->n_uploads + 1));
    ret = store_upload_get(s->st, id, &u);
    if (ret != STORE_OK)
        return ret;
    ret = store_part_list(s->st, id, 0, 8, &parts, &n, &truncated);
    for (size_t i = 0; ret == STORE_OK && i < n; i++)
        if (rnd(s, 4) != 0) /* a part left out is dropped */
            numbers[k++] = parts[i].part_number;
    if (ret == STORE_OK && rnd(s, 8) == 0)
        numbers[k++] = 7; /* a part that does not exist: STORE_CONFLICT */
    fill_object(s, &o, u.bucket, u.key, meta, sizeof meta);
    if (ret == STORE_OK)
        ret = store_upload_complete(s->st, id, numbers, k, &o);
    store_parts_free(parts, n);
    store_upload_release(&u);
    return ret;
}

static enum store_status op_gc(struct sim *s, enum op op)
{
    struct store_gc_item items[8];
    int64_t ids[8];
    size_t n = 0;
    enum store_status ret = store_gc_due(s->st, s->now + 1000, 8, items, &n);

    if (ret != STORE_OK || n == 0)
        return ret == STORE_OK ? STORE_NOT_FOUND : ret;
    n = 1 + rnd(s, n);
    for (size_t i = 0; i < n; i++)
        ids[i] = items[i].id;
    if (op == OP_GC_DONE)
        return store_gc_done(s->st, ids, n);
    if (op == OP_GC_RETRY)
        return store_gc_retry(s->st, ids[0], s->now + 500);
    return store_gc_unreclaimable(s->st, items, n, s->now, "past the window");
}

static enum store_status op_pack_move(struct sim *s)
{
    struct store_block old, dst;
    struct store_pack_live *live = NULL;
    struct store_pack_move moves[16];
    size_t n = 0, moved = 0, stale = 0;
    int64_t at = 0;
    enum store_status ret = store_pack_candidate(s->st, 50, 1000, 16, &old, &live, &n);

    if (ret != STORE_OK)
        return ret;
    fill_block(s, &dst, 0);
    dst.message_id = s->next_msg++;
    ret = store_block_insert(s->st, &dst);
    for (size_t i = 0; ret == STORE_OK && i < n; i++) {
        moves[i] = (struct store_pack_move){.object_id = live[i].object_id, .old_offset = live[i].offset,
                                            .length = live[i].length, .new_block = dst.id, .new_offset = at};
        at += live[i].length;
    }
    if (ret == STORE_OK)
        ret = store_pack_move_hold(s->st, old.id, moves, n);
    if (ret == STORE_OK) /* dst is posted: the copies are used at once */
        ret = store_pack_moves_apply(s->st, s->now, &moved, &stale);
    if (ret == STORE_OK)
        remember(s->blocks, &s->n_blocks, dst.id);
    free(live);
    return ret;
}

static void on_fsck_line(void *ud, const char *line)
{
    (void)ud;
    (void)line;
}

static enum store_status run_op(struct sim *s, enum op op);

/* An explicit transaction around a few calls, committed or rolled back. */
static enum store_status op_tx(struct sim *s, int commit)
{
    enum store_status ret = store_tx_begin(s->st);
    int n = 1 + (int)rnd(s, 4);

    if (ret != STORE_OK)
        return ret;
    for (int i = 0; i < n; i++) {
        enum op op = (enum op)rnd(s, OP_PACK_OPEN);
        if (run_op(s, op) == STORE_OK)
            s->ok[op]++;
    }
    if (commit)
        return store_tx_commit(s->st);
    store_tx_rollback(s->st);
    return STORE_OK;
}

static enum store_status run_op(struct sim *s, enum op op)
{
    struct store *st = s->st;
    struct store_extent ext[3];
    struct store_object o;
    struct store_block b;
    struct store_shard sh;
    unsigned char uuid[16];
    char id[16], meta[64];
    int64_t n64 = 0, problems = 0, repaired = 0;
    size_t n = 0;
    enum store_status ret;

    s->now += 10;
    snprintf(id, sizeof id, "u%d", (int)rnd(s, (uint64_t)s->n_uploads + 1));
    uuid_of((int)rnd(s, (uint64_t)s->n_uuids + 1), uuid);
    switch (op) {
    case OP_BUCKET_CREATE: return store_bucket_create(st, any_bucket(s), "ak", s->now);
    case OP_BUCKET_DELETE: return store_bucket_delete(st, any_bucket(s));
    case OP_BLOCK:
        fill_block(s, &b, (unsigned char)rnd(s, 4));
        ret = store_block_insert(st, &b);
        if (ret == STORE_OK)
            remember(s->blocks, &s->n_blocks, b.id);
        return ret;
    case OP_BLOCK_FILE:
        snprintf(meta, sizeof meta, "other-%llu", (unsigned long long)rnd(s, 1000));
        return store_block_set_file(st, any_of(s, s->blocks, s->n_blocks), rnd(s, 2) ? 7 : 8, meta);
    case OP_PACK_OPEN:
        fill_block(s, &b, 0);
        b.chat_id = 0;
        b.message_id = -(s->next_msg++);
        b.file_id[0] = '\0';
        ret = store_block_insert_held(st, &b);
        if (ret == STORE_OK)
            remember(s->packs, &s->n_packs, b.id);
        return ret;
    case OP_PACK_POSTED:
        fill_block(s, &b, 0);
        b.message_id = s->next_msg++;
        b.id = any_of(s, s->packs, s->n_packs);
        return store_block_set_posted(st, &b);
    case OP_STRIPE: return op_stripe(s);
    case OP_PUT:
        n = fill_extents(s, ext);
        fill_object(s, &o, any_bucket(s), any_key(s), meta, sizeof meta);
        if (rnd(s, 2)) { /* a small object in one extent: what compaction moves */
            n = 1;
            o.size = ext[0].length;
        }
        o.extents = ext;
        o.n_extents = n;
        return store_object_put(st, &o);
    case OP_SET_META:
        snprintf(meta, sizeof meta, "{\"tag\":%llu}", (unsigned long long)rnd(s, 100));
        return store_object_set_meta(st, any_bucket(s), any_key(s), meta, s->now);
    case OP_DELETE: return store_object_delete(st, any_bucket(s), any_key(s));
    case OP_UPLOAD:
        snprintf(id, sizeof id, "u%d", s->n_uploads);
        ret = store_upload_create(st, id, any_bucket(s), any_key(s), "{\"ct\":\"x\"}", s->now);
        s->n_uploads += ret == STORE_OK;
        return ret;
    case OP_PART:
        n = fill_extents(s, ext);
        return store_part_put(st, id, 1 + (int)rnd(s, 4), "0123456789abcdef0123456789abcdef",
                              (int64_t)rnd(s, 999), ext, n, s->now);
    case OP_COMPLETE: return op_complete(s);
    case OP_ABORT: return store_upload_abort(st, id);
    case OP_GC_ENQUEUE: return store_gc_enqueue(st, -100, (int64_t)rnd(s, 50), 7, s->now + (int64_t)rnd(s, 100));
    case OP_GC_DONE:
    case OP_GC_RETRY:
    case OP_UNRECLAIMABLE: return op_gc(s, op);
    case OP_INFLIGHT:
        uuid_of(s->n_uuids, uuid);
        ret = store_inflight_begin(st, uuid, "put-1", -100, 7, s->now);
        s->n_uuids += ret == STORE_OK;
        return ret;
    case OP_INFLIGHT_POSTED: return store_inflight_posted(st, uuid, -100, 7, s->next_msg++);
    case OP_INFLIGHT_END: return store_inflight_end(st, uuid, (int)rnd(s, 2), s->now);
    case OP_HOLD:
        memset(meta, 0, 32);
        meta[0] = (char)rnd(s, 4);
        uuid_of(s->n_uuids, uuid);
        ret = store_inflight_hold(st, uuid, "put-2", (const unsigned char *)meta, 1, 1000, s->now, &b);
        s->n_uuids += ret == STORE_OK;
        return ret;
    case OP_SWEEP: {
        struct store_inflight *left = NULL;
        size_t swept = 0;
        ret = store_inflight_sweep(st, s->now, &left, &n, &swept);
        free(left);
        return ret;
    }
    case OP_STRAY:
        return store_stray_collect(st, -100, (int64_t)rnd(s, (uint64_t)s->next_msg + 1), 7, s->now,
                                   rnd(s, 2) ? uuid : NULL, s->now);
    case OP_REPAIR_ADD:
        return store_repair_add(st, any_of(s, s->stripes, s->n_stripes), (int)rnd(s, 3), "scrub", s->now);
    case OP_REPAIR_LATER: return store_repair_later(st, any_of(s, s->stripes, s->n_stripes), s->now + 100);
    case OP_REPAIR_SWAP:
        shard_of(s, &sh, (int)rnd(s, 3), -110);
        return store_repair_swap(st, any_of(s, s->stripes, s->n_stripes), &sh, uuid, s->now);
    case OP_REPAIR_CHAT: return store_repair_add_chat(st, -101 - (int64_t)rnd(s, 3), "chat lost", s->now, &n64);
    case OP_RETIRE: return store_chat_retire(st, -101 - (int64_t)rnd(s, 3), s->now, &n64);
    case OP_SNAPSHOT_PIN: return store_snapshot_record(st, -100, s->next_msg++, 7, s->now);
    case OP_SCRUB_CURSOR: return store_scrub_cursor_set(st, (int64_t)rnd(s, 100));
    case OP_PACK_MOVE: return op_pack_move(s);
    case OP_FSCK: return store_fsck_index(st, 1, s->now, on_fsck_line, NULL, &problems, &repaired);
    case OP_TX_COMMIT: return op_tx(s, 1);
    case OP_TX_ROLLBACK: return op_tx(s, 0);
    case OP_COUNT: break;
    }
    return STORE_IO;
}

static void test_random_chain(uint64_t seed, int ops)
{
    struct sim *s = xcalloc(1, sizeof *s);
    struct store *a = fresh(path_a), *b;
    int tables = 0, takes = 0;

    s->st = a;
    s->rng = seed;
    s->next_msg = 1;
    store_set_gc_grace(a, 0);
    CHECK_ST(store_bucket_create(a, "b0", "ak", 1), STORE_OK);
    /* Recording starts, then the snapshot is written with no write between. */
    CHECK_ST(store_changes_start(a), STORE_OK);
    CHECK_ST(store_changes_start(a), STORE_OK); /* idempotent */
    b = copy_of(a, path_b);

    for (int i = 0; i < ops; i++) {
        enum op op = (enum op)rnd(s, OP_COUNT);
        if (run_op(s, op) == STORE_OK)
            s->ok[op]++;
        if (rnd(s, 25) == 0) {
            ship(a, b);
            if (++takes % 8 == 0)
                CHECK(same_content(path_a, path_b));
        }
    }
    ship(a, b);
    CHECK(same_content(path_a, path_b));
    free(dump(path_a, &tables));
    CHECK(tables >= 8); /* the chain carried rows of most tables */
    for (int op = 0; op < OP_COUNT; op++) {
        CHECK(s->ok[op] > 0);
        if (s->ok[op] == 0)
            printf("  no successful %s\n", op_names[op]);
    }
    store_close(b);
    store_close(a);
    free(s);
}

/* ---- (b) the wrong base ---- */

/* Applies buf to st (the index at path), which must refuse it with STORE_CONFLICT and stay as it was. */
static void refused_whole(struct store *st, const char *path, const void *buf, size_t len)
{
    int tables;
    char *before = dump(path, &tables), *after;

    apply_expect(st, buf, len, STORE_CONFLICT);
    after = dump(path, &tables);
    CHECK_STR(after, before);
    free(after);
    free(before);
}

/* A copy of st's index at path_c whose schema sql then changed, opened. */
static struct store *altered_copy(struct store *st, const char *sql)
{
    struct store *c = copy_of(st, path_c);
    sqlite3 *db = NULL;

    store_close(c);
    CHECK(sqlite3_open(path_c, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_ST(store_open(path_c, &c), STORE_OK);
    return c;
}

static void test_wrong_base(void)
{
    struct store *a = fresh(path_a), *b, *c;
    void *buf = NULL;
    size_t len = 0;
    int64_t blk, n = 0;

    CHECK_ST(store_bucket_create(a, "bk", "ak", 1), STORE_OK);
    blk = check_block_add(a, 10, 0xab, 1028);
    CHECK_ST(check_object_put(a, "bk", "x", blk, 100), STORE_OK);
    CHECK_ST(check_object_put(a, "bk", "y", blk, 200), STORE_OK);
    CHECK_ST(store_changes_start(a), STORE_OK);
    b = copy_of(a, path_b);
    /* Several tables: objects and extents updated and deleted, a bucket and a retired chat inserted. */
    CHECK_ST(store_object_set_meta(a, "bk", "x", "{\"v\":1}", 50), STORE_OK);
    CHECK_ST(store_object_delete(a, "bk", "y"), STORE_OK);
    CHECK_ST(store_bucket_create(a, "new", "ak", 60), STORE_OK);
    CHECK_ST(store_chat_retire(a, -300, 70, &n), STORE_OK);
    CHECK_ST(store_changes_take(a, &buf, &len), STORE_OK);
    CHECK(len > 0 && buf != NULL);

    /* The row to update holds other values. */
    c = copy_of(b, path_c);
    CHECK_ST(store_object_set_meta(c, "bk", "x", "{\"v\":2}", 55), STORE_OK);
    refused_whole(c, path_c, buf, len);
    CHECK(strstr(store_errmsg(c), "objects") != NULL);
    store_close(c);
    /* The row to delete is missing. */
    c = copy_of(b, path_c);
    CHECK_ST(store_object_delete(c, "bk", "y"), STORE_OK);
    refused_whole(c, path_c, buf, len);
    store_close(c);
    /* The row to insert exists. */
    c = copy_of(b, path_c);
    CHECK_ST(store_bucket_create(c, "new", "ak", 60), STORE_OK);
    refused_whole(c, path_c, buf, len);
    store_close(c);

    /* A table the changeset names is missing, another has more columns: refused, where SQLite alone
     * would skip the one and fill in the other. */
    c = altered_copy(b, "DROP TABLE retired_chats");
    refused_whole(c, path_c, buf, len);
    CHECK(strstr(store_errmsg(c), "retired_chats") != NULL);
    store_close(c);
    c = altered_copy(b, "ALTER TABLE buckets ADD COLUMN extra DEFAULT 0");
    refused_whole(c, path_c, buf, len);
    CHECK(strstr(store_errmsg(c), "buckets") != NULL);
    store_close(c);

    /* The right base takes it; a second time it is refused and changes nothing. */
    apply_expect(b, buf, len, STORE_OK);
    CHECK(same_content(path_a, path_b));
    refused_whole(b, path_b, buf, len);

    store_changes_free(buf);
    store_close(b);
    store_close(a);
}

/* A changeset of table meta, made by a session of SQLite's own: never applied. */
static void test_meta_refused(void)
{
    struct store *st = fresh(path_a);
    sqlite3 *db = NULL;
    sqlite3_session *ses = NULL;
    void *buf = NULL;
    int len = 0;
    int64_t v = 0;

    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE meta(k TEXT PRIMARY KEY NOT NULL, v)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3session_create(db, "main", &ses) == SQLITE_OK);
    CHECK(sqlite3session_attach(ses, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "INSERT INTO meta VALUES ('scrub_cursor', 99)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3session_changeset(ses, &len, &buf) == SQLITE_OK && len > 0);
    apply_expect(st, buf, (size_t)len, STORE_CONFLICT);
    CHECK_ST(store_scrub_cursor_get(st, &v), STORE_OK);
    CHECK(v == 0);
    sqlite3_free(buf);
    sqlite3session_delete(ses);
    sqlite3_close(db);
    store_close(st);
}

/* ---- (c), (d) when a take is refused, when it is empty ---- */

static void test_take_rules(void)
{
    struct store *st = fresh(path_a);
    struct store_bucket bk;
    struct store_stats stats;
    void *buf = (void *)&stats;
    size_t len = 99;

    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_changes_start(st), STORE_BUSY); /* changes made before it in the transaction would be lost */
    store_tx_rollback(st);
    CHECK_ST(store_changes_start(st), STORE_OK);

    /* Nothing changed: nothing to take. */
    CHECK_ST(store_changes_take(st, &buf, &len), STORE_OK);
    CHECK(buf == NULL && len == 0);
    /* Reads, a failed call, a write undone, a rolled back transaction, meta alone: still nothing. */
    CHECK_ST(store_bucket_get(st, "nope", &bk), STORE_NOT_FOUND);
    CHECK_ST(store_stats_get(st, &stats), STORE_OK);
    CHECK_ST(check_object_put(st, "nope", "k", 1, 10), STORE_NOT_FOUND);
    CHECK_ST(store_bucket_create(st, "gone", "ak", 1), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "gone"), STORE_OK);
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_bucket_create(st, "rolled", "ak", 1), STORE_OK);
    store_tx_rollback(st);
    CHECK_ST(store_scrub_cursor_set(st, 42), STORE_OK);
    CHECK_ST(store_changes_take(st, &buf, &len), STORE_OK);
    CHECK(buf == NULL && len == 0);

    /* Inside a transaction a take is refused and takes nothing; after it, the change is there. */
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_bucket_create(st, "kept", "ak", 1), STORE_OK);
    CHECK_ST(store_changes_take(st, &buf, &len), STORE_BUSY);
    CHECK(buf == NULL && len == 0);
    CHECK(store_changes_waiting(st) == 0); /* not committed yet */
    int64_t before = mono_ms();
    CHECK_ST(store_tx_commit(st), STORE_OK);
    int64_t w = store_changes_waiting(st);
    CHECK(w >= before && w <= mono_ms()); /* the commit is the oldest change waiting */
    CHECK_ST(store_bucket_create(st, "later", "ak", 1), STORE_OK);
    CHECK(store_changes_waiting(st) == w); /* a later one does not make it younger */
    CHECK_ST(store_changes_take(st, &buf, &len), STORE_OK);
    CHECK(buf != NULL && len > 0);
    CHECK(store_changes_waiting(st) == 0);
    store_changes_free(buf);
    /* Taken: the next take starts empty. */
    CHECK_ST(store_changes_take(st, &buf, &len), STORE_OK);
    CHECK(buf == NULL && len == 0);
    CHECK(store_changes_waiting(st) == 0);
    store_changes_free(NULL);

    /* Stopped, then closed while recording (store_close frees the session: the leak checker says so). */
    store_changes_stop(st);
    store_changes_stop(st);
    CHECK_ST(store_changes_start(st), STORE_OK);
    CHECK_ST(store_bucket_create(st, "left", "ak", 1), STORE_OK);
    store_close(st);
}

/* ---- (e) the unjournaled mark ---- */

static int64_t mark(struct store *st)
{
    int64_t since = -1;

    CHECK_ST(store_changes_unjournaled(st, &since), STORE_OK);
    return since;
}

static void test_unjournaled(void)
{
    int64_t t0 = now_ms(), t1, since, n = 0;
    struct store *st = fresh(path_a);
    struct store_bucket *list = NULL;
    size_t nb = 0;

    /* A new index: the migrations wrote it, no journal did. */
    since = mark(st);
    CHECK(since >= t0 && since <= now_ms());
    CHECK_ST(store_changes_clear_unjournaled(st), STORE_OK);
    CHECK(mark(st) == 0);

    /* Reads, failed calls and calls that change no row leave it unset. */
    CHECK_ST(store_bucket_list(st, &list, &nb), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "nope"), STORE_NOT_FOUND);
    CHECK_ST(store_repair_add(st, 12345, 0, "not a stripe", 5), STORE_OK);
    CHECK(mark(st) == 0);

    /* Writes on a recording store leave it unset. */
    CHECK_ST(store_changes_start(st), STORE_OK);
    CHECK_ST(store_bucket_create(st, "bk", "ak", 1), STORE_OK);
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_bucket_create(st, "bk2", "ak", 1), STORE_OK);
    CHECK_ST(store_tx_commit(st), STORE_OK);
    CHECK(mark(st) == 0);
    store_changes_stop(st);

    /* A write with no session sets it to when it committed; a later one keeps that time. */
    t0 = now_ms();
    CHECK_ST(store_bucket_create(st, "off", "ak", 1), STORE_OK);
    t1 = now_ms();
    since = mark(st);
    CHECK(since >= t0 && since <= t1);
    CHECK_ST(store_chat_retire(st, -5, 9, &n), STORE_OK);
    CHECK(mark(st) == since);

    /* Cleared; a rolled back transaction leaves it unset, a committed one sets it. */
    CHECK_ST(store_changes_clear_unjournaled(st), STORE_OK);
    CHECK(mark(st) == 0);
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_bucket_create(st, "tx", "ak", 1), STORE_OK);
    store_tx_rollback(st);
    CHECK(mark(st) == 0);
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_bucket_create(st, "tx", "ak", 1), STORE_OK);
    CHECK(mark(st) == 0); /* not before the commit */
    CHECK_ST(store_tx_commit(st), STORE_OK);
    CHECK(mark(st) > 0);

    /* Cleared inside a transaction that changes nothing else: stays clear. */
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_changes_clear_unjournaled(st), STORE_OK);
    CHECK_ST(store_tx_commit(st), STORE_OK);
    CHECK(mark(st) == 0);

    /* Opening an index that needs no migration writes nothing. */
    store_close(st);
    CHECK_ST(store_open(path_a, &st), STORE_OK);
    CHECK(mark(st) == 0);
    free(list);
    store_close(st);
}

/* ---- (f) truncated and garbled changesets ---- */

static void test_garbled(void)
{
    struct store *a = fresh(path_a), *base, *b;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    int refused_cut = 0, refused_garbled = 0, tables;
    void *buf = NULL;
    size_t len = 0;
    unsigned char *bad;
    int64_t blk, n = 0;
    char *content;

    CHECK_ST(store_bucket_create(a, "bk", "ak", 1), STORE_OK);
    blk = check_block_add(a, 10, 0xab, 1028);
    CHECK_ST(check_object_put(a, "bk", "x", blk, 100), STORE_OK);
    CHECK_ST(store_changes_start(a), STORE_OK);
    base = copy_of(a, path_c); /* kept as it is: b is written anew from it after an apply */
    b = copy_of(base, path_b);
    content = dump(path_b, &tables);
    CHECK_ST(check_object_put(a, "bk", "y", check_block_add(a, 11, 0xac, 1028), 50), STORE_OK);
    CHECK_ST(store_object_set_meta(a, "bk", "x", "{\"v\":1}", 50), STORE_OK);
    CHECK_ST(store_object_delete(a, "bk", "x"), STORE_OK);
    CHECK_ST(store_chat_retire(a, -300, 70, &n), STORE_OK);
    CHECK_ST(store_changes_take(a, &buf, &len), STORE_OK);
    CHECK(len > 40);
    bad = xmalloc(len);

    /* Every truncation, then 200 copies with a few bytes changed: each is refused, leaving b as it
     * was, or is a changeset after all (a prefix that ends between two changes, a changed value of a
     * row inserted) and applies. */
    for (size_t i = 0; i < len + 200; i++) {
        size_t n_bad = i < len ? i : len;
        enum store_status got;
        char *now;

        memcpy(bad, buf, len);
        for (int k = i < len ? 0 : 1 + (int)(check_rand(&rng) % 3); k > 0; k--)
            bad[check_rand(&rng) % len] = (unsigned char)check_rand(&rng);
        got = store_changes_apply(b, bad, n_bad);
        CHECK(got == STORE_OK || got == STORE_CONFLICT);
        if (got == STORE_OK) {
            store_close(b);
            b = copy_of(base, path_b);
            continue;
        }
        if (i < len)
            refused_cut++;
        else
            refused_garbled++;
        now = dump(path_b, &tables);
        CHECK_STR(now, content);
        free(now);
    }
    /* A cut ends mid-change but for a few lengths; bytes changed in a key or an old value or a header
     * are refused. */
    CHECK(refused_cut > (int)len * 3 / 4);
    CHECK(refused_garbled > 50);
    apply_expect(b, buf, len, STORE_OK);
    CHECK(same_content(path_a, path_b));

    free(bad);
    free(content);
    store_changes_free(buf);
    store_close(b);
    store_close(base);
    store_close(a);
}

int main(void)
{
    /* In memory where there is /dev/shm: the copies written (VACUUM INTO) sync their files. */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path_a, sizeof path_a, "%s/test_store_changes_a_%ld.db", dir, (long)getpid());
    snprintf(path_b, sizeof path_b, "%s/test_store_changes_b_%ld.db", dir, (long)getpid());
    snprintf(path_c, sizeof path_c, "%s/test_store_changes_c_%ld.db", dir, (long)getpid());
    test_random_chain(0x1234567u, 1500);
    test_random_chain(0xfeedbeefu, 1500);
    test_wrong_base();
    test_meta_refused();
    test_take_rules();
    test_unjournaled();
    test_garbled();
    check_db_remove(path_a);
    check_db_remove(path_b);
    check_db_remove(path_c);
    return check_summary();
}

/* test_store_versions.c — a key's stack of versions in the index (gateway/store/versions.c,
 * list_versions.c): never versioned, Enabled and Suspended writes and deletes, delete markers,
 * blocks shared by versions until the last goes, Object Lock retention and legal hold refusing
 * removal in the store itself, and ListObjectVersions paging. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char db_path[64];

/* Writes bucket/key as 10 bytes of block at mtime; its version id into vid (may be NULL). */
static enum store_status put(struct store *st, const char *key, int64_t block, int64_t mtime, char *vid)
{
    struct store_extent ext = {.block_id = block, .offset = 0, .length = 10};
    struct store_object o;
    memset(&o, 0, sizeof o);
    snprintf(o.bucket, sizeof o.bucket, "b");
    o.key = (char *)key;
    o.size = 10;
    snprintf(o.etag, sizeof o.etag, "e%lld", (long long)block);
    o.mtime_ms = mtime;
    o.meta_json = (char *)"{}";
    o.extents = &ext;
    o.n_extents = 1;
    enum store_status s = store_object_put(st, &o);
    if (vid)
        snprintf(vid, STORE_VERSION_LEN, "%s", o.version_id);
    return s;
}

static struct store_version_list list(struct store *st, const char *prefix, const char *delim, const char *km,
                                      const char *vm, size_t max)
{
    struct store_version_list l;
    CHECK_ST(store_object_versions(st, "b", prefix, delim, km, vm, max, &l), STORE_OK);
    return l;
}

static int64_t refcount(struct store *st, int64_t id)
{
    struct store_block b;
    return store_block_get(st, id, &b) == STORE_OK ? b.refcount : -1;
}

static void test_states(struct store *st)
{
    char v1[STORE_VERSION_LEN], v2[STORE_VERSION_LEN], v3[STORE_VERSION_LEN];
    struct store_object *o = NULL;
    struct store_deleted d;
    int64_t b1 = check_block_add(st, 1, 1, 100), b2 = check_block_add(st, 2, 2, 100);
    int64_t b3 = check_block_add(st, 3, 3, 100);

    /* Never versioned: one row per key, replaced in place, no version named. */
    CHECK_ST(put(st, "k", b1, 10, v1), STORE_OK);
    CHECK(strcmp(v1, "") == 0);
    CHECK_ST(put(st, "k", b2, 11, v1), STORE_OK);
    CHECK(refcount(st, b1) == -1 && refcount(st, b2) == 1);
    struct store_version_list l = list(st, "", "", "", "", 1000);
    CHECK(l.n_entries == 1 && strcmp(l.entries[0].version_id, "null") == 0 && l.entries[0].is_latest);
    store_version_list_release(&l);

    /* Enabled: every write a new version; the null one stays, noncurrent. */
    CHECK_ST(store_bucket_versioning_set(st, "b", STORE_VERSIONING_ENABLED), STORE_OK);
    CHECK_ST(put(st, "k", b3, 12, v2), STORE_OK);
    CHECK(strlen(v2) == 32);
    CHECK_ST(put(st, "k", b3, 13, v3), STORE_OK);
    CHECK(strlen(v3) == 32 && strcmp(v2, v3) != 0);
    CHECK(refcount(st, b2) == 1 && refcount(st, b3) == 2);
    l = list(st, "", "", "", "", 1000);
    CHECK(l.n_entries == 3);
    if (l.n_entries == 3) {
        CHECK(strcmp(l.entries[0].version_id, v3) == 0 && l.entries[0].is_latest);
        CHECK(strcmp(l.entries[1].version_id, v2) == 0 && !l.entries[1].is_latest);
        CHECK(strcmp(l.entries[2].version_id, "null") == 0 && !l.entries[2].is_latest);
    }
    store_version_list_release(&l);
    CHECK_ST(store_object_head_v(st, "b", "k", "null", &o), STORE_OK);
    CHECK(o && strcmp(o->etag, "e2") == 0 && o->noncurrent_ms == 12);
    store_object_free(o);

    /* A delete without a version: a marker on top; the key is gone, its versions are not. */
    CHECK_ST(store_object_delete_v(st, "b", "k", NULL, 0, 20, &d), STORE_OK);
    CHECK(d.delete_marker && strlen(d.version_id) == 32);
    CHECK_ST(store_object_head(st, "b", "k", &o), STORE_NOT_FOUND);
    CHECK_ST(store_object_head_v(st, "b", "k", NULL, &o), STORE_OK);
    CHECK(o && o->delete_marker && o->is_latest);
    store_object_free(o);
    struct store_list ll;
    CHECK_ST(store_object_list(st, "b", "", "", "", 1000, &ll), STORE_OK);
    CHECK(ll.n_entries == 0);
    store_list_release(&ll);
    /* Removing the marker brings the newest version back. */
    char marker[STORE_VERSION_LEN];
    snprintf(marker, sizeof marker, "%s", d.version_id);
    CHECK_ST(store_object_delete_v(st, "b", "k", marker, 0, 21, &d), STORE_OK);
    CHECK(d.delete_marker && strcmp(d.version_id, marker) == 0);
    CHECK_ST(store_object_get(st, "b", "k", &o), STORE_OK);
    CHECK(o && strcmp(o->version_id, v3) == 0 && o->n_extents == 1);
    store_object_free(o);
    /* Blocks go with the last version holding them. */
    CHECK_ST(store_object_delete_v(st, "b", "k", v3, 0, 22, &d), STORE_OK);
    CHECK(refcount(st, b3) == 1);
    CHECK_ST(store_object_delete_v(st, "b", "k", v2, 0, 22, &d), STORE_OK);
    CHECK(refcount(st, b3) == -1);
    CHECK_ST(store_object_head(st, "b", "k", &o), STORE_OK); /* the null version is the latest again */
    CHECK(o && strcmp(o->version_id, "null") == 0 && o->is_latest && o->noncurrent_ms == 0);
    store_object_free(o);
    CHECK_ST(store_object_delete_v(st, "b", "k", v2, 0, 22, &d), STORE_NOT_FOUND);

    /* Suspended: a write is the null version, replacing the old null one; enabled-era versions stay. */
    CHECK_ST(put(st, "k", b1 = check_block_add(st, 4, 4, 100), 30, v1), STORE_OK);
    CHECK_ST(store_bucket_versioning_set(st, "b", STORE_VERSIONING_SUSPENDED), STORE_OK);
    CHECK_ST(put(st, "k", b3 = check_block_add(st, 5, 5, 100), 31, v2), STORE_OK);
    CHECK(strcmp(v2, "null") == 0);
    CHECK(refcount(st, b2) == -1 && refcount(st, b1) == 1);
    CHECK_ST(store_object_delete_v(st, "b", "k", NULL, 0, 32, &d), STORE_OK);
    CHECK(d.delete_marker && strcmp(d.version_id, "null") == 0 && refcount(st, b3) == -1);
    l = list(st, "", "", "", "", 1000);
    CHECK(l.n_entries == 2 && l.entries[0].delete_marker && strcmp(l.entries[1].version_id, v1) == 0);
    store_version_list_release(&l);
    CHECK_ST(store_bucket_delete(st, "b"), STORE_NOT_EMPTY);
}

static void test_lock(struct store *st)
{
    char v[STORE_VERSION_LEN], out[STORE_VERSION_LEN];
    struct store_deleted d;
    int64_t b = check_block_add(st, 10, 10, 100);

    CHECK_ST(store_bucket_create(st, "l", "o", 1), STORE_OK);
    CHECK_ST(store_bucket_lock_set(st, "l", "", 0, 0), STORE_CONFLICT); /* versioning first */
    CHECK_ST(store_bucket_versioning_set(st, "l", STORE_VERSIONING_ENABLED), STORE_OK);
    CHECK_ST(store_bucket_lock_set(st, "l", "COMPLIANCE", 1, 0), STORE_OK);
    CHECK_ST(store_bucket_versioning_set(st, "l", STORE_VERSIONING_SUSPENDED), STORE_CONFLICT);
    struct store_bucket bk;
    CHECK_ST(store_bucket_get(st, "l", &bk), STORE_OK);
    CHECK(bk.lock_enabled && strcmp(bk.lock_mode, "COMPLIANCE") == 0 && bk.lock_days == 1);

    struct store_extent ext = {.block_id = b, .offset = 0, .length = 10};
    struct store_object o;
    memset(&o, 0, sizeof o);
    snprintf(o.bucket, sizeof o.bucket, "l");
    o.key = (char *)"x";
    o.size = 10;
    o.mtime_ms = 100;
    o.extents = &ext;
    o.n_extents = 1;
    snprintf(o.lock_mode, sizeof o.lock_mode, "COMPLIANCE");
    o.lock_until_ms = 1000;
    CHECK_ST(store_object_put(st, &o), STORE_OK);
    snprintf(v, sizeof v, "%s", o.version_id);
    /* COMPLIANCE: nobody removes it before its date, bypass or not. */
    CHECK_ST(store_object_delete_v(st, "l", "x", v, 1, 500, &d), STORE_LOCKED);
    CHECK_ST(store_object_retention_set(st, "l", "x", v, "COMPLIANCE", 900, 1, 500, out), STORE_LOCKED);
    CHECK_ST(store_object_retention_set(st, "l", "x", v, "GOVERNANCE", 2000, 1, 500, out), STORE_LOCKED);
    CHECK_ST(store_object_retention_set(st, "l", "x", v, "", 0, 1, 500, out), STORE_LOCKED);
    CHECK_ST(store_object_retention_set(st, "l", "x", v, "COMPLIANCE", 1500, 0, 500, out), STORE_OK);
    CHECK(strcmp(out, v) == 0);
    CHECK_ST(store_object_delete_v(st, "l", "x", v, 0, 1200, &d), STORE_LOCKED);
    /* A delete without a version is a marker: allowed, the version stays. */
    CHECK_ST(store_object_delete_v(st, "l", "x", NULL, 0, 1200, &d), STORE_OK);
    CHECK(d.delete_marker);
    /* Legal hold outlives the retention. */
    CHECK_ST(store_object_legal_hold_set(st, "l", "x", v, 1, out), STORE_OK);
    CHECK_ST(store_object_delete_v(st, "l", "x", v, 1, 5000, &d), STORE_LOCKED);
    CHECK_ST(store_object_legal_hold_set(st, "l", "x", v, 0, out), STORE_OK);
    CHECK_ST(store_object_legal_hold_set(st, "l", "x", d.version_id, 1, out), STORE_NOT_FOUND); /* a marker */
    /* GOVERNANCE yields to bypass only. */
    CHECK_ST(store_object_retention_set(st, "l", "x", v, "GOVERNANCE", 9000, 0, 5000, out), STORE_OK);
    CHECK_ST(store_object_retention_set(st, "l", "x", v, "GOVERNANCE", 8000, 0, 5000, out), STORE_LOCKED);
    CHECK_ST(store_object_delete_v(st, "l", "x", v, 0, 5000, &d), STORE_LOCKED);
    CHECK(refcount(st, b) == 1);
    CHECK_ST(store_object_delete_v(st, "l", "x", v, 1, 5000, &d), STORE_OK);
    CHECK(refcount(st, b) == -1);
}

static void test_paging(struct store *st)
{
    char key[16];
    CHECK_ST(store_bucket_create(st, "b", "o", 1), STORE_OK);
    CHECK_ST(store_bucket_versioning_set(st, "b", STORE_VERSIONING_ENABLED), STORE_OK);
    int64_t blk = check_block_add(st, 20, 20, 100);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) {
            snprintf(key, sizeof key, "%c/k%d", i < 3 ? 'a' : 'b', i);
            CHECK_ST(put(st, key, blk, 100 + j, NULL), STORE_OK);
        }
    struct store_version_list all = list(st, "", "", "", "", 1000);
    CHECK(all.n_entries == 15 && !all.truncated);
    for (size_t max = 1; max <= 7; max += 3) {
        char km[64] = "", vm[STORE_VERSION_LEN] = "";
        size_t seen = 0, pages = 0;
        int ok = 1;
        for (;;) {
            struct store_version_list p = list(st, "", "", km, vm, max);
            for (size_t i = 0; i < p.n_entries && seen < all.n_entries; i++, seen++)
                ok &= strcmp(p.entries[i].key, all.entries[seen].key) == 0 &&
                      strcmp(p.entries[i].version_id, all.entries[seen].version_id) == 0;
            pages++;
            int more = p.truncated;
            if (more) {
                snprintf(km, sizeof km, "%s", p.next_key);
                snprintf(vm, sizeof vm, "%s", p.next_version);
            }
            store_version_list_release(&p);
            if (!more || pages > 20)
                break;
        }
        CHECK(ok && seen == 15 && pages == (15 + max - 1) / max);
    }
    /* A delimiter rolls keys up; a prefix that is a page's end is skipped past on the next. */
    struct store_version_list p = list(st, "", "/", "", "", 1);
    CHECK(p.n_prefixes == 1 && strcmp(p.prefixes[0], "a/") == 0 && p.truncated && strcmp(p.next_key, "a/") == 0 &&
          p.next_version[0] == '\0');
    store_version_list_release(&p);
    p = list(st, "", "/", "a/", "", 10);
    CHECK(p.n_prefixes == 1 && strcmp(p.prefixes[0], "b/") == 0 && !p.truncated && p.n_entries == 0);
    store_version_list_release(&p);
    p = list(st, "a/", "", "a/k1", "", 100);
    CHECK(p.n_entries == 3 && strcmp(p.entries[0].key, "a/k2") == 0);
    store_version_list_release(&p);
    p = list(st, "", "", "a/k1", all.entries[4].version_id, 2); /* after the second version of a/k1 */
    CHECK(p.n_entries == 2 && strcmp(p.entries[0].version_id, all.entries[5].version_id) == 0 &&
          strcmp(p.entries[1].key, "a/k2") == 0);
    store_version_list_release(&p);
    store_version_list_release(&all);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/dev/shm/test_store_versions_%d.db", (int)getpid());
    struct store *st = check_store_fresh(db_path);
    CHECK_ST(store_bucket_create(st, "b", "o", 1), STORE_OK);
    test_states(st);
    test_lock(st);
    store_close(st);
    st = check_store_fresh(db_path);
    test_paging(st);
    store_close(st);
    check_db_remove(db_path);
    return check_summary();
}

/* list_versions.c — ListObjectVersions: every version of the keys, by key then newest first.
 *
 * The walk reads the (bucket, key, id DESC) index from a bound (lo, lo_id): first the versions
 * of key lo older than lo_id (none when lo_id is 0, all when INT64_MAX), then the keys after lo.
 * Keys that roll up into a common prefix are skipped as in list.c: the walk restarts past
 * every key starting with it, so a prefix costs one seek whatever it hides.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define BATCH 256

struct vwalk {
    const char *prefix, *delimiter;
    size_t plen, dlen, max_keys, count;
    size_t cap_e, cap_p;
    char *lo;  /* malloc'd */
    size_t lo_len;
    int64_t lo_id;
    size_t rows;   /* rows of the current batch */
    int restarted, done, last_prefix;
    struct store_version_list *out;
};

void store_version_list_release(struct store_version_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n_entries; i++)
        free(l->entries[i].key);
    free(l->entries);
    for (size_t i = 0; i < l->n_prefixes; i++)
        free(l->prefixes[i]);
    free(l->prefixes);
    free(l->next_key);
    memset(l, 0, sizeof *l);
}

static void set_lo(struct vwalk *w, const char *key, size_t len, int64_t id)
{
    free(w->lo);
    w->lo = xstrndup(key, len);
    w->lo_len = len;
    w->lo_id = id;
}

/* Columns: key, version, latest, marker, size, etag, mtime_ms, id. */
static enum store_row on_row(sqlite3_stmt *s, void *ud)
{
    struct vwalk *w = ud;
    struct store_version_list *out = w->out;
    const char *key = (const char *)sqlite3_column_text(s, 0);
    size_t klen = (size_t)sqlite3_column_bytes(s, 0), r;

    w->rows++;
    if (key == NULL || !store_key_starts_with(key, klen, w->prefix, w->plen)) {
        w->done = 1;
        return STORE_ROW_STOP;
    }
    if (w->count == w->max_keys) {
        out->truncated = w->max_keys > 0;
        w->done = 1;
        return STORE_ROW_STOP;
    }
    r = store_key_rolled_len(key, klen, w->plen, w->delimiter, w->dlen);
    if (r) {
        if (out->n_prefixes == w->cap_p) {
            w->cap_p = w->cap_p ? 2 * w->cap_p : 16;
            out->prefixes = xrealloc(out->prefixes, w->cap_p * sizeof *out->prefixes);
        }
        out->prefixes[out->n_prefixes++] = xstrndup(key, r);
        w->count++;
        w->last_prefix = 1;
        set_lo(w, key, r, INT64_MAX);
        if (!store_key_successor(w->lo, &w->lo_len))
            w->done = 1;
        w->restarted = 1;
        return STORE_ROW_STOP;
    }
    if (out->n_entries == w->cap_e) {
        w->cap_e = w->cap_e ? 2 * w->cap_e : 16;
        out->entries = xrealloc(out->entries, w->cap_e * sizeof *out->entries);
    }
    struct store_version_entry *e = &out->entries[out->n_entries++];
    memset(e, 0, sizeof *e);
    e->key = xstrndup(key, klen);
    store_col_text(s, 1, e->version_id, sizeof e->version_id);
    e->is_latest = sqlite3_column_int(s, 2);
    e->delete_marker = sqlite3_column_int(s, 3);
    e->size = sqlite3_column_int64(s, 4);
    store_col_text(s, 5, e->etag, sizeof e->etag);
    e->mtime_ms = sqlite3_column_int64(s, 6);
    w->count++;
    w->last_prefix = 0;
    set_lo(w, key, klen, sqlite3_column_int64(s, 7));
    return STORE_ROW_NEXT;
}

/* One batch: the versions of key lo older than lo_id, else the keys after lo. */
static enum store_status vbatch(struct store *st, const char *bucket, struct vwalk *w)
{
    static const char sql_key[] =
        "SELECT key, version, latest, marker, size, etag, mtime_ms, id FROM objects"
        " WHERE bucket = ?1 AND key = ?2 AND id < ?3 ORDER BY key, id DESC LIMIT ?4";
    static const char sql_after[] =
        "SELECT key, version, latest, marker, size, etag, mtime_ms, id FROM objects"
        " WHERE bucket = ?1 AND key > ?2 ORDER BY key, id DESC LIMIT ?4";
    int same_key = w->lo_id > 0;
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, same_key ? sql_key : sql_after, "tTII", bucket, w->lo,
                                       (int)w->lo_len, w->lo_id, (int64_t)BATCH);

    if (ret != STORE_OK)
        return ret;
    w->restarted = 0;
    w->rows = 0;
    ret = store_rows_each(st, s, on_row, w);
    if (ret != STORE_OK || w->done || w->restarted)
        return ret;
    if (w->rows < BATCH) {
        if (same_key)
            w->lo_id = 0; /* the key's versions are done: the keys after it */
        else
            w->done = 1;
    }
    return STORE_OK;
}

/* The first bound: after the markers when they lie at or beyond the prefix, else the prefix. */
static int vstart(struct store *st, const char *bucket, struct vwalk *w, const char *key_marker,
                  const char *version_marker, enum store_status *ret)
{
    static const char sql_id[] = "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2 AND version = ?3";
    size_t klen, r;

    *ret = STORE_OK;
    if (!(key_marker && *key_marker && strcmp(key_marker, w->prefix) >= 0)) {
        set_lo(w, w->prefix, w->plen, INT64_MAX);
        return 1;
    }
    klen = strlen(key_marker);
    if (!store_key_starts_with(key_marker, klen, w->prefix, w->plen))
        return 0;
    set_lo(w, key_marker, klen, 0);
    if (version_marker && *version_marker) {
        sqlite3_stmt *s = NULL;
        *ret = store_query(st, &s, sql_id, "ttt", bucket, key_marker, version_marker);
        if (*ret == STORE_OK)
            w->lo_id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (*ret == STORE_NOT_FOUND)
            *ret = STORE_OK; /* a version since removed: the listing goes on after its key */
        if (*ret != STORE_OK)
            return 0;
    }
    /* A marker that is itself a common prefix (NextKeyMarker of a page that ended on one). */
    r = store_key_rolled_len(key_marker, klen, w->plen, w->delimiter, w->dlen);
    if (r == klen) {
        if (!store_key_successor(w->lo, &w->lo_len))
            return 0;
        w->lo_id = INT64_MAX;
    }
    return 1;
}

enum store_status store_object_versions(struct store *st, const char *bucket, const char *prefix,
                                        const char *delimiter, const char *key_marker, const char *version_marker,
                                        size_t max_keys, struct store_version_list *out)
{
    struct vwalk w = {.out = out};
    enum store_status ret;

    memset(out, 0, sizeof *out);
    w.prefix = prefix ? prefix : "";
    w.plen = strlen(w.prefix);
    w.delimiter = delimiter;
    w.dlen = delimiter ? strlen(delimiter) : 0;
    w.max_keys = max_keys > STORE_MAX_LIST ? STORE_MAX_LIST : max_keys;
    ret = store_read_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, NULL);
    if (ret != STORE_OK || !vstart(st, bucket, &w, key_marker, version_marker, &ret))
        goto out;
    while (!w.done && ret == STORE_OK)
        ret = vbatch(st, bucket, &w);
    if (ret == STORE_OK && out->truncated) {
        if (w.last_prefix) {
            out->next_key = xstrdup(out->prefixes[out->n_prefixes - 1]);
        } else {
            const struct store_version_entry *e = &out->entries[out->n_entries - 1];
            out->next_key = xstrdup(e->key);
            snprintf(out->next_version, sizeof out->next_version, "%s", e->version_id);
        }
    }
out:
    store_read_end(st);
    free(w.lo);
    if (ret != STORE_OK)
        store_version_list_release(out);
    return ret;
}

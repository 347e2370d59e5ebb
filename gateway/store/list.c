/* list.c — ListObjects: keys in byte order, with prefix, delimiter and markers.
 *
 * The walk reads the (bucket, key) index forward from a lower bound, in
 * batches. When a key rolls up into a common prefix P, the walk does not
 * step through the keys under P: it restarts at the smallest string greater
 * than every key beginning with P (P with its last byte incremented, after
 * dropping trailing 0xFF bytes). A listing therefore costs one index seek per
 * returned entry or prefix, however many keys a prefix hides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

void store_list_release(struct store_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n_entries; i++)
        free(l->entries[i].key);
    free(l->entries);
    for (size_t i = 0; i < l->n_prefixes; i++)
        free(l->prefixes[i]);
    free(l->prefixes);
    free(l->next_marker);
    memset(l, 0, sizeof *l);
}

int store_key_starts_with(const char *s, size_t slen, const char *p, size_t plen)
{
    return slen >= plen && memcmp(s, p, plen) == 0;
}

/* Replaces s (len bytes, in a buffer of len + 1) by the smallest string greater
 * than every string that starts with s. Returns 0 if there is none. */
int store_key_successor(char *s, size_t *len)
{
    while (*len > 0 && (unsigned char)s[*len - 1] == 0xFF)
        (*len)--;
    if (*len == 0)
        return 0;
    s[*len - 1] = (char)((unsigned char)s[*len - 1] + 1);
    s[*len] = '\0';
    return 1;
}

/* Where the keys rolled into the common prefix that key (klen bytes, which
 * starts with the prefix of plen bytes) belongs to end: the length of that
 * common prefix, or 0 if key rolls into none. */
size_t store_key_rolled_len(const char *key, size_t klen, size_t plen, const char *delim, size_t dlen)
{
    if (dlen == 0 || klen < plen + dlen)
        return 0;
    for (size_t i = plen; i + dlen <= klen; i++)
        if (memcmp(key + i, delim, dlen) == 0)
            return i + dlen;
    return 0;
}

/* A listing in progress: where the next batch of rows starts, and what is gathered. */
struct list_walk {
    const char *prefix, *delimiter;
    size_t plen, dlen;
    size_t max_keys;
    size_t count;        /* entries + prefixes gathered */
    size_t cap_e, cap_p; /* room in out->entries, out->prefixes */
    char *lo;            /* lower bound of the next batch; malloc'd */
    size_t lo_len;
    int lo_incl;         /* the bound itself is included */
    int restarted;       /* the batch ended at a common prefix: the next starts past its keys */
    int done;
    struct store_list *out;
};

/* Sets the walk's first lower bound: after `after` if it lies at or beyond
 * the prefix, else the prefix. Returns 0 if no key can follow. */
static int list_start(struct list_walk *w, const char *after)
{
    size_t alen, r;

    if (!(after && *after && strcmp(after, w->prefix) >= 0)) {
        w->lo = xstrdup(w->prefix);
        w->lo_len = w->plen;
        w->lo_incl = 1;
        return 1;
    }
    alen = strlen(after);
    /* Greater than the prefix without starting with it: past every key that does. */
    if (!store_key_starts_with(after, alen, w->prefix, w->plen))
        return 0;
    w->lo = xstrdup(after);
    w->lo_len = alen;
    w->lo_incl = 0;
    /* A marker that is itself a common prefix (NextMarker of a previous
     * page): that prefix has been returned, so resume past all its keys. */
    r = store_key_rolled_len(after, alen, w->plen, w->delimiter, w->dlen);
    if (r == alen) {
        w->lo_len = r;
        w->lo[r] = '\0';
        if (!store_key_successor(w->lo, &w->lo_len))
            return 0;
        w->lo_incl = 1;
    }
    return 1;
}

/* Adds the common prefix key[0, r) and moves the bound past all its keys. */
static void add_prefix(struct list_walk *w, const char *key, size_t r)
{
    struct store_list *out = w->out;

    if (out->n_prefixes == w->cap_p) {
        w->cap_p = w->cap_p ? 2 * w->cap_p : 16;
        out->prefixes = xrealloc(out->prefixes, w->cap_p * sizeof *out->prefixes);
    }
    out->prefixes[out->n_prefixes++] = xstrndup(key, r);
    w->count++;
    free(w->lo);
    w->lo = xstrndup(key, r);
    w->lo_len = r;
    w->lo_incl = 1;
    if (!store_key_successor(w->lo, &w->lo_len))
        w->done = 1;
}

static void add_entry(struct list_walk *w, sqlite3_stmt *s, const char *key, size_t klen)
{
    struct store_list *out = w->out;
    struct store_list_entry *e;

    if (out->n_entries == w->cap_e) {
        w->cap_e = w->cap_e ? 2 * w->cap_e : 16;
        out->entries = xrealloc(out->entries, w->cap_e * sizeof *out->entries);
    }
    e = &out->entries[out->n_entries++];
    memset(e, 0, sizeof *e);
    e->key = xstrndup(key, klen);
    e->size = sqlite3_column_int64(s, 1);
    store_col_text(s, 2, e->etag, sizeof e->etag);
    e->mtime_ms = sqlite3_column_int64(s, 3);
    w->count++;
}

/* One row (key, size, etag, mtime_ms) of a batch. */
static enum store_row on_list_row(sqlite3_stmt *s, void *ud)
{
    struct list_walk *w = ud;
    const char *key = (const char *)sqlite3_column_text(s, 0);
    size_t klen = (size_t)sqlite3_column_bytes(s, 0), r;

    if (key == NULL || !store_key_starts_with(key, klen, w->prefix, w->plen))
        return STORE_ROW_STOP;
    if (w->count == w->max_keys) {
        w->out->truncated = w->max_keys > 0;
        return STORE_ROW_STOP;
    }
    r = store_key_rolled_len(key, klen, w->plen, w->delimiter, w->dlen);
    if (r) {
        add_prefix(w, key, r);
        w->restarted = 1;
        return STORE_ROW_STOP;
    }
    add_entry(w, s, key, klen);
    return STORE_ROW_NEXT;
}

/* Reads keys from the walk's bound on, until a common prefix restarts the
 * walk past its keys or the listing is complete. */
static enum store_status list_batch(struct store *st, const char *bucket, struct list_walk *w)
{
    static const char sql_ge[] = "SELECT key, size, etag, mtime_ms FROM objects"
                                 " WHERE bucket = ?1 AND latest = 1 AND marker = 0 AND key >= ?2 ORDER BY key LIMIT ?3";
    static const char sql_gt[] = "SELECT key, size, etag, mtime_ms FROM objects"
                                 " WHERE bucket = ?1 AND latest = 1 AND marker = 0 AND key > ?2 ORDER BY key LIMIT ?3";
    sqlite3_stmt *s = NULL;
    /* The bound is copied: a common prefix met during the walk replaces it. */
    enum store_status ret = store_prep(st, &s, w->lo_incl ? sql_ge : sql_gt, "tTI", bucket, w->lo, (int)w->lo_len,
                                       (int64_t)(w->max_keys - w->count + 1));

    if (ret != STORE_OK)
        return ret;
    w->restarted = 0;
    ret = store_rows_each(st, s, on_list_row, w);
    if (!w->restarted)
        w->done = 1;
    return ret;
}

/* The last thing a listing returned, key or prefix, whichever sorts later; malloc'd or NULL. */
static char *last_returned(const struct store_list *l)
{
    const char *k = l->n_entries ? l->entries[l->n_entries - 1].key : NULL;
    const char *p = l->n_prefixes ? l->prefixes[l->n_prefixes - 1] : NULL;
    const char *last = k == NULL ? p : p == NULL ? k : strcmp(k, p) > 0 ? k : p;

    return last ? xstrdup(last) : NULL;
}

enum store_status store_object_list(struct store *st, const char *bucket, const char *prefix,
                                    const char *delimiter, const char *after, size_t max_keys,
                                    struct store_list *out)
{
    struct list_walk w = {.out = out};
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
    if (ret != STORE_OK || !list_start(&w, after))
        goto out;
    while (!w.done && w.count <= w.max_keys) {
        ret = list_batch(st, bucket, &w);
        if (ret != STORE_OK)
            goto out;
    }
    if (out->truncated)
        out->next_marker = last_returned(out);
out:
    store_read_end(st);
    free(w.lo);
    if (ret != STORE_OK)
        store_list_release(out);
    return ret;
}

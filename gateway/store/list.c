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

static int starts_with(const char *s, size_t slen, const char *p, size_t plen)
{
    return slen >= plen && memcmp(s, p, plen) == 0;
}

/* Replaces s (len bytes, in a buffer of len + 1) by the smallest string greater
 * than every string that starts with s. Returns 0 if there is none. */
static int successor(char *s, size_t *len)
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
static size_t rolled_len(const char *key, size_t klen, size_t plen, const char *delim, size_t dlen)
{
    if (dlen == 0 || klen < plen + dlen)
        return 0;
    for (size_t i = plen; i + dlen <= klen; i++)
        if (memcmp(key + i, delim, dlen) == 0)
            return i + dlen;
    return 0;
}

enum store_status store_object_list(struct store *st, const char *bucket, const char *prefix,
                                    const char *delimiter, const char *after, size_t max_keys,
                                    struct store_list *out)
{
    static const char sql_ge[] = "SELECT key, size, etag, mtime_ms FROM objects"
                                 " WHERE bucket = ?1 AND key >= ?2 ORDER BY key LIMIT ?3";
    static const char sql_gt[] = "SELECT key, size, etag, mtime_ms FROM objects"
                                 " WHERE bucket = ?1 AND key > ?2 ORDER BY key LIMIT ?3";
    const size_t plen = prefix ? strlen(prefix) : 0;
    const size_t dlen = delimiter ? strlen(delimiter) : 0;
    size_t cap_e = 0, cap_p = 0, count = 0;
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    char *lo = NULL;   /* lower bound of the next batch */
    size_t lo_len;
    int lo_incl;       /* the bound itself is included */
    int done = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (prefix == NULL)
        prefix = "";
    if (max_keys > STORE_MAX_LIST)
        max_keys = STORE_MAX_LIST;
    ret = store_read_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, NULL);
    if (ret != STORE_OK)
        goto out;

    /* Start after `after` if it lies at or beyond the prefix, else at the prefix. */
    if (after && *after && strcmp(after, prefix) >= 0) {
        size_t alen = strlen(after), r;
        /* Greater than the prefix without starting with it: past every key that does. */
        if (!starts_with(after, alen, prefix, plen))
            goto out;
        lo = xstrdup(after);
        lo_len = alen;
        lo_incl = 0;
        /* A marker that is itself a common prefix (NextMarker of a previous
         * page): that prefix has been returned, so resume past all its keys. */
        r = rolled_len(after, alen, plen, delimiter, dlen);
        if (r == alen) {
            lo_len = r;
            lo[r] = '\0';
            if (!successor(lo, &lo_len))
                goto out;
            lo_incl = 1;
        }
    } else {
        lo = xstrdup(prefix);
        lo_len = plen;
        lo_incl = 1;
    }

    while (!done && count <= max_keys) {
        int restarted = 0;

        ret = store_stmt(st, lo_incl ? sql_ge : sql_gt, &s);
        if (ret != STORE_OK)
            goto out;
        sqlite3_bind_text(s, 1, bucket, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, lo, (int)lo_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)(max_keys - count + 1));
        for (;;) {
            const char *key;
            size_t klen, r;

            rc = sqlite3_step(s);
            if (rc == SQLITE_DONE) {
                done = 1;
                break;
            }
            if (rc != SQLITE_ROW) {
                ret = store_fail(st, rc);
                goto out;
            }
            key = (const char *)sqlite3_column_text(s, 0);
            klen = (size_t)sqlite3_column_bytes(s, 0);
            if (key == NULL || !starts_with(key, klen, prefix, plen)) {
                done = 1;
                break;
            }
            if (count == max_keys) {
                out->truncated = max_keys > 0;
                done = 1;
                break;
            }
            r = rolled_len(key, klen, plen, delimiter, dlen);
            if (r) {
                if (out->n_prefixes == cap_p) {
                    cap_p = cap_p ? 2 * cap_p : 16;
                    out->prefixes = xrealloc(out->prefixes, cap_p * sizeof *out->prefixes);
                }
                out->prefixes[out->n_prefixes++] = xstrndup(key, r);
                count++;
                free(lo);
                lo = xstrndup(key, r);
                lo_len = r;
                lo_incl = 1;
                if (!successor(lo, &lo_len))
                    done = 1;
                restarted = 1;
                break;
            }
            if (out->n_entries == cap_e) {
                cap_e = cap_e ? 2 * cap_e : 16;
                out->entries = xrealloc(out->entries, cap_e * sizeof *out->entries);
            }
            {
                struct store_list_entry *e = &out->entries[out->n_entries++];
                memset(e, 0, sizeof *e);
                e->key = xstrndup(key, klen);
                e->size = sqlite3_column_int64(s, 1);
                store_col_text(s, 2, e->etag, sizeof e->etag);
                e->mtime_ms = sqlite3_column_int64(s, 3);
            }
            count++;
        }
        sqlite3_reset(s);
        if (!restarted)
            done = 1;
    }
    if (out->truncated) {
        /* The last thing returned, key or prefix, whichever sorts later. */
        const char *k = out->n_entries ? out->entries[out->n_entries - 1].key : NULL;
        const char *p = out->n_prefixes ? out->prefixes[out->n_prefixes - 1] : NULL;
        const char *last = k == NULL ? p : p == NULL ? k : strcmp(k, p) > 0 ? k : p;
        out->next_marker = last ? xstrdup(last) : NULL;
    }
    ret = STORE_OK;
out:
    sqlite3_reset(s);
    store_read_end(st);
    free(lo);
    if (ret != STORE_OK)
        store_list_release(out);
    return ret;
}

/* multipart.c — multipart uploads: uploads, parts and their extents, completion.
 *
 * A part's extents hold references just as an object's do. Completion copies
 * the listed parts' extents, in the order given, into the object (taking new
 * references), then removes every part of the upload (dropping theirs), so
 * blocks shared by the object and its parts stay alive throughout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define PART_EXTENT_COLS "e.block_id, e.offset, e.length, " STORE_BLOCK_COLS

void store_upload_release(struct store_upload *u)
{
    if (u == NULL)
        return;
    free(u->key);
    free(u->meta_json);
    memset(u, 0, sizeof *u);
}

void store_parts_free(struct store_part *p, size_t n)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(p[i].extents);
    free(p);
}

static void read_upload(sqlite3_stmt *s, struct store_upload *u)
{
    memset(u, 0, sizeof *u);
    store_col_text(s, 0, u->id, sizeof u->id);
    store_col_text(s, 1, u->bucket, sizeof u->bucket);
    u->key = store_col_strdup(s, 2);
    u->meta_json = store_col_strdup(s, 3);
    u->created_ms = sqlite3_column_int64(s, 4);
    store_col_text(s, 5, u->ck_alg, sizeof u->ck_alg);
    store_col_text(s, 6, u->ck_type, sizeof u->ck_type);
}

enum store_status store_upload_create(struct store *st, const char *id, const char *bucket, const char *key,
                                      const char *meta_json, int64_t now_ms)
{
    static const char sql[] =
        "INSERT INTO uploads(id, bucket, key, meta_json, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, NULL);
    if (ret == STORE_OK)
        ret = store_insert(st, sql, "ttttI", id, bucket, key, meta_json ? meta_json : "{}", now_ms);
    return store_op_end(st, ret);
}

enum store_status store_upload_get(struct store *st, const char *id, struct store_upload *out)
{
    static const char sql[] =
        "SELECT id, bucket, key, meta_json, created_ms, ck_alg, ck_type FROM uploads WHERE id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    if (out)
        memset(out, 0, sizeof *out);
    ret = store_query(st, &s, sql, "t", id);
    if (ret == STORE_OK && out)
        read_upload(s, out);
    sqlite3_reset(s);
    return ret;
}

/* Opens an operation (store_op_begin) on upload_id, which must exist; when
 * it does not (STORE_NOT_FOUND) or the lookup fails, the operation is
 * already ended. */
static enum store_status upload_op_begin(struct store *st, const char *upload_id)
{
    enum store_status ret = store_op_begin(st);

    if (ret == STORE_OK) {
        ret = store_upload_get(st, upload_id, NULL);
        if (ret != STORE_OK)
            ret = store_op_end(st, ret);
    }
    return ret;
}

/* Gathers the references of part part_number of upload (all parts if part_number < 0)
 * and deletes their extents. */
static enum store_status part_extents_remove(struct store *st, const char *upload_id, int part_number,
                                             struct store_refs *refs)
{
    static const char sql_refs_one[] = "SELECT block_id, count(*) FROM part_extents"
                                       " WHERE upload_id = ?1 AND part_number = ?2 GROUP BY block_id";
    static const char sql_refs_all[] =
        "SELECT block_id, count(*) FROM part_extents WHERE upload_id = ?1 GROUP BY block_id";
    static const char sql_del_one[] = "DELETE FROM part_extents WHERE upload_id = ?1 AND part_number = ?2";
    static const char sql_del_all[] = "DELETE FROM part_extents WHERE upload_id = ?1";
    /* All parts: the statements take the upload id alone. */
    const char *fmt = part_number < 0 ? "t" : "ti";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    ret = store_prep(st, &s, part_number < 0 ? sql_refs_all : sql_refs_one, fmt, upload_id, part_number);
    if (ret == STORE_OK)
        ret = store_refs_collect(st, s, refs);
    if (ret == STORE_OK)
        ret = store_exec(st, part_number < 0 ? sql_del_all : sql_del_one, fmt, upload_id, part_number);
    return ret;
}

enum store_status store_part_put(struct store *st, const char *upload_id, int part_number, const char *etag,
                                 int64_t size, const struct store_extent *ext, size_t n, int64_t now_ms)
{
    static const char sql_part[] = "INSERT OR REPLACE INTO parts(upload_id, part_number, etag, size, mtime_ms)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5)";
    static const char sql_extent[] = "INSERT INTO part_extents(upload_id, part_number, seq, block_id, offset, length)"
                                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    struct store_refs old = {0};
    enum store_status ret;

    ASSERT(part_number >= 0);
    ret = upload_op_begin(st, upload_id);
    if (ret != STORE_OK)
        return ret;
    ret = store_extents_ref(st, ext, n);
    if (ret == STORE_OK)
        ret = part_extents_remove(st, upload_id, part_number, &old);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_part, "titII", upload_id, part_number, etag, size, now_ms);
    for (size_t i = 0; i < n && ret == STORE_OK; i++)
        ret = store_exec(st, sql_extent, "tiIIII", upload_id, part_number, (int64_t)i, ext[i].block_id,
                         ext[i].offset, ext[i].length);
    if (ret == STORE_OK)
        ret = store_refs_drop(st, &old, now_ms);
    store_refs_release(&old);
    return store_op_end(st, ret);
}

static void read_part(sqlite3_stmt *s, struct store_part *p)
{
    memset(p, 0, sizeof *p);
    p->part_number = sqlite3_column_int(s, 0);
    store_col_text(s, 1, p->etag, sizeof p->etag);
    p->size = sqlite3_column_int64(s, 2);
    p->mtime_ms = sqlite3_column_int64(s, 3);
    store_col_text(s, 4, p->ck_alg, sizeof p->ck_alg);
    store_col_text(s, 5, p->ck_value, sizeof p->ck_value);
}

/* Reads the extents of one part, with their blocks. */
static enum store_status part_extents_read(struct store *st, const char *upload_id, int part_number,
                                           struct store_extent **out, size_t *n)
{
    static const char sql[] = "SELECT " PART_EXTENT_COLS " FROM part_extents e JOIN blocks b ON b.id = e.block_id"
                              " WHERE e.upload_id = ?1 AND e.part_number = ?2 ORDER BY e.seq";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, sql, "ti", upload_id, part_number);

    if (ret != STORE_OK)
        return ret;
    return store_extents_read(st, s, out, n);
}

enum store_status store_part_get(struct store *st, const char *upload_id, int part_number, struct store_part *out)
{
    static const char sql[] = "SELECT part_number, etag, size, mtime_ms, ck_alg, ck_value FROM parts"
                              " WHERE upload_id = ?1 AND part_number = ?2";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    memset(out, 0, sizeof *out);
    ret = store_read_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = store_query(st, &s, sql, "ti", upload_id, part_number);
    if (ret == STORE_OK) {
        read_part(s, out);
        sqlite3_reset(s);
        ret = part_extents_read(st, upload_id, part_number, &out->extents, &out->n_extents);
    }
    store_read_end(st);
    return ret;
}

static enum store_row read_part_row(sqlite3_stmt *s, void *row, void *ud)
{
    (void)ud;
    read_part(s, row);
    return STORE_ROW_NEXT;
}

enum store_status store_part_list(struct store *st, const char *upload_id, int after, size_t max,
                                  struct store_part **out, size_t *n, int *truncated)
{
    static const char sql[] = "SELECT part_number, etag, size, mtime_ms, ck_alg, ck_value FROM parts"
                              " WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3";
    struct store_rows rows;
    enum store_status ret;

    max = (size_t)store_limit(max);
    ret = store_rows_select(st, &rows, sizeof **out, max, read_part_row, sql, "tiI", upload_id, after,
                            (int64_t)max + 1);
    *out = rows.v;
    *n = rows.n;
    *truncated = rows.more;
    return ret;
}

/* Removes upload id with all its parts, dropping their references at now_ms. */
static enum store_status upload_remove(struct store *st, const char *upload_id, int64_t now_ms)
{
    static const char sql_parts[] = "DELETE FROM parts WHERE upload_id = ?1";
    static const char sql_upload[] = "DELETE FROM uploads WHERE id = ?1";
    struct store_refs old = {0};
    enum store_status ret;

    ret = part_extents_remove(st, upload_id, -1, &old);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_parts, "t", upload_id);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_upload, "t", upload_id);
    if (ret == STORE_OK)
        ret = store_refs_drop(st, &old, now_ms);
    store_refs_release(&old);
    return ret;
}

enum store_status store_bucket_uploads_remove(struct store *st, const char *bucket, int64_t now_ms)
{
    static const char sql[] = "SELECT id FROM uploads WHERE bucket = ?1 ORDER BY id LIMIT 1";
    char id[64];
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    /* One at a time: each removal changes what the next query sees, and no
     * list of ids has to be held (a bucket may have many uploads). */
    for (;;) {
        ret = store_query(st, &s, sql, "t", bucket);
        if (ret == STORE_OK)
            store_col_text(s, 0, id, sizeof id);
        sqlite3_reset(s);
        if (ret != STORE_OK)
            break;
        ret = upload_remove(st, id, now_ms);
        if (ret != STORE_OK)
            return ret;
    }
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

enum store_status store_upload_complete(struct store *st, const char *upload_id, const int *part_numbers,
                                        size_t n, struct store_object *obj)
{
    static const char sql_part[] = "SELECT 1 FROM parts WHERE upload_id = ?1 AND part_number = ?2";
    struct store_extent *all = NULL, *ext = NULL;
    size_t n_all = 0, n_ext = 0;
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    ret = upload_op_begin(st, upload_id);
    if (ret != STORE_OK)
        return ret;
    for (size_t i = 0; i < n; i++) {
        ret = store_query(st, &s, sql_part, "ti", upload_id, part_numbers[i]);
        sqlite3_reset(s);
        if (ret == STORE_NOT_FOUND) {
            snprintf(st->err, sizeof st->err, "upload %s has no part %d", upload_id, part_numbers[i]);
            ret = STORE_CONFLICT;
        }
        if (ret != STORE_OK)
            goto out;
        ret = part_extents_read(st, upload_id, part_numbers[i], &ext, &n_ext);
        if (ret != STORE_OK)
            goto out;
        if (n_ext) {
            all = xrealloc(all, (n_all + n_ext) * sizeof *all);
            memcpy(all + n_all, ext, n_ext * sizeof *ext);
            n_all += n_ext;
        }
        free(ext);
        ext = NULL;
    }
    ret = store_object_write(st, obj, all, n_all);
    if (ret != STORE_OK)
        goto out;
    ret = store_completed_record(st, upload_id, obj);
    if (ret != STORE_OK)
        goto out;
    ret = upload_remove(st, upload_id, obj->mtime_ms);
out:
    free(ext);
    free(all);
    return store_op_end(st, ret);
}

enum store_status store_upload_abort(struct store *st, const char *upload_id)
{
    enum store_status ret = upload_op_begin(st, upload_id);

    if (ret != STORE_OK)
        return ret;
    ret = upload_remove(st, upload_id, now_ms());
    return store_op_end(st, ret);
}

struct upload_walk {
    const char *prefix;
    size_t plen;
};

/* Reads an upload whose key starts with the walk's prefix; ends the walk at the first that does not. */
static enum store_row read_upload_in_prefix(sqlite3_stmt *s, void *row, void *ud)
{
    const struct upload_walk *w = ud;
    const char *key = (const char *)sqlite3_column_text(s, 2);

    if (key == NULL || strncmp(key, w->prefix, w->plen) != 0)
        return STORE_ROW_STOP;
    read_upload(s, row);
    return STORE_ROW_NEXT;
}

static void release_upload(void *row)
{
    store_upload_release(row);
}

enum store_status store_upload_list(struct store *st, const char *bucket, const char *prefix,
                                    const char *key_marker, const char *id_marker, size_t max,
                                    struct store_upload **out, size_t *n, int *truncated)
{
    /* S3: with a key marker alone, uploads of that key are skipped; with an id
     * marker too, those of that key with a greater id are included. */
    static const char sql[] = "SELECT id, bucket, key, meta_json, created_ms, ck_alg, ck_type FROM uploads"
                              " WHERE bucket = ?1 AND key >= ?5 AND (key > ?2 OR (key = ?2 AND id > ?3))"
                              " ORDER BY key, id LIMIT ?4";
    struct store_upload *v;
    struct store_rows rows;
    struct upload_walk w;
    const char *id_after = NULL;
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    *out = NULL;
    *n = 0;
    *truncated = 0;
    w.prefix = prefix ? prefix : "";
    w.plen = strlen(w.prefix);
    if (key_marker && *key_marker && id_marker && *id_marker)
        id_after = id_marker;
    else if (!(key_marker && *key_marker))
        id_after = "";
    /* else ?3 stays NULL: nothing of key_marker itself */
    max = (size_t)store_limit(max);
    ret = store_prep(st, &s, sql, "tttIt", bucket, key_marker ? key_marker : "", id_after, (int64_t)max + 1,
                     w.prefix);
    if (ret != STORE_OK)
        return ret;
    ret = store_rows_read(st, s, sizeof *v, max + 1, read_upload_in_prefix, release_upload, &w, &rows);
    if (ret != STORE_OK)
        return ret;
    v = rows.v;
    if (rows.n > max) { /* a row past max still under the prefix: the listing goes on */
        *truncated = 1;
        store_upload_release(&v[--rows.n]);
        if (rows.n == 0) {
            free(v);
            v = NULL;
        }
    }
    *out = v;
    *n = rows.n;
    return STORE_OK;
}

static enum store_row read_upload_id(sqlite3_stmt *s, void *row, void *ud)
{
    char *id = row;

    (void)ud;
    store_col_text(s, 0, id, 64);
    return STORE_ROW_NEXT;
}

enum store_status store_upload_expired(struct store *st, int64_t older_than_ms, size_t max, char (**out)[64],
                                       size_t *n)
{
    static const char sql[] = "SELECT id FROM uploads WHERE created_ms < ?1 ORDER BY created_ms, id LIMIT ?2";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, SIZE_MAX, read_upload_id, sql, "II",
                                              older_than_ms, store_limit(max));

    *out = rows.v;
    *n = rows.n;
    return ret;
}

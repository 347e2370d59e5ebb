/* objects.c — object rows and their extents: put, get, head, metadata, delete.
 *
 * An object keeps its row id when replaced; its extents are rewritten. New
 * references are always taken before old ones are dropped, so putting an
 * object over itself with the same blocks never frees them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

void store_object_free(struct store_object *o)
{
    if (o == NULL)
        return;
    free(o->key);
    free(o->meta_json);
    free(o->extents);
    free(o);
}

/* The object's bucket exists and, when obj names one, is still that one:
 * a writer that found the bucket at its start never commits into another
 * bucket created since under the same name (by another user, say). */
static enum store_status bucket_exists(struct store *st, const struct store_object *obj)
{
    struct store_bucket b;
    enum store_status ret = store_bucket_get(st, obj->bucket, &b);

    if (ret == STORE_OK && obj->bucket_id.owner[0] != '\0' &&
        (strcmp(b.owner, obj->bucket_id.owner) != 0 || b.created_ms != obj->bucket_id.created_ms))
        ret = STORE_NOT_FOUND;
    if (ret == STORE_NOT_FOUND)
        snprintf(st->err, sizeof st->err, "no bucket %s", obj->bucket);
    return ret;
}

/* Finds the id of bucket/key; STORE_NOT_FOUND if absent. */
static enum store_status object_id(struct store *st, const char *bucket, const char *key, int64_t *id)
{
    static const char sql[] = "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2";
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    *id = 0;
    ret = store_query(st, &s, sql, "tt", bucket, key);
    if (ret == STORE_OK)
        *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return ret;
}

/* Gathers the references held by object id's extents and deletes the extents. */
static enum store_status extents_remove(struct store *st, int64_t id, struct store_refs *refs)
{
    static const char sql_refs[] = "SELECT block_id, count(*) FROM extents WHERE object_id = ?1 GROUP BY block_id";
    static const char sql_del[] = "DELETE FROM extents WHERE object_id = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, sql_refs, "I", id);

    if (ret == STORE_OK)
        ret = store_refs_collect(st, s, refs);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_del, "I", id);
    return ret;
}

enum store_status store_object_write(struct store *st, const struct store_object *obj,
                                     const struct store_extent *ext, size_t n)
{
    static const char sql_update[] =
        "UPDATE objects SET size = ?2, etag = ?3, mtime_ms = ?4, meta_json = ?5 WHERE id = ?1";
    static const char sql_insert[] =
        "INSERT INTO objects(bucket, key, size, etag, mtime_ms, meta_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    static const char sql_extent[] =
        "INSERT INTO extents(object_id, seq, block_id, offset, length) VALUES (?1, ?2, ?3, ?4, ?5)";
    const char *meta = obj->meta_json ? obj->meta_json : "{}";
    struct store_refs old = {0};
    enum store_status ret;
    int64_t id;

    ret = bucket_exists(st, obj);
    if (ret != STORE_OK)
        goto out;
    ret = store_extents_ref(st, ext, n);
    if (ret != STORE_OK)
        goto out;
    ret = object_id(st, obj->bucket, obj->key, &id);
    if (ret == STORE_OK) {
        ret = extents_remove(st, id, &old);
        if (ret == STORE_OK)
            ret = store_exec(st, sql_update, "IItIt", id, obj->size, obj->etag, obj->mtime_ms, meta);
    } else if (ret == STORE_NOT_FOUND) {
        ret = store_exec(st, sql_insert, "ttItIt", obj->bucket, obj->key, obj->size, obj->etag, obj->mtime_ms,
                         meta);
        id = sqlite3_last_insert_rowid(st->db);
    }
    for (size_t i = 0; i < n && ret == STORE_OK; i++)
        ret = store_exec(st, sql_extent, "IIIII", id, (int64_t)i, ext[i].block_id, ext[i].offset, ext[i].length);
    if (ret == STORE_OK)
        ret = store_object_acl_write(st, id, obj->acl);
    if (ret == STORE_OK)
        ret = store_refs_drop(st, &old, obj->mtime_ms);
out:
    store_refs_release(&old);
    return ret;
}

enum store_status store_object_put(struct store *st, struct store_object *obj)
{
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_object_write(st, obj, obj->extents, obj->n_extents);
    return store_op_end(st, ret);
}

/* Reads the row of bucket/key into a new object; *id_out its row id. */
static enum store_status object_read(struct store *st, const char *bucket, const char *key,
                                     struct store_object **out, int64_t *id_out)
{
    static const char sql[] =
        "SELECT id, size, etag, mtime_ms, meta_json FROM objects WHERE bucket = ?1 AND key = ?2";
    struct store_object *o = NULL;
    sqlite3_stmt *s = NULL;
    enum store_status ret;

    *out = NULL;
    ret = store_query(st, &s, sql, "tt", bucket, key);
    if (ret != STORE_OK)
        goto out;
    o = xcalloc(1, sizeof *o);
    snprintf(o->bucket, sizeof o->bucket, "%s", bucket);
    o->key = xstrdup(key);
    *id_out = sqlite3_column_int64(s, 0);
    o->size = sqlite3_column_int64(s, 1);
    store_col_text(s, 2, o->etag, sizeof o->etag);
    o->mtime_ms = sqlite3_column_int64(s, 3);
    o->meta_json = store_col_strdup(s, 4);
    *out = o;
out:
    sqlite3_reset(s);
    return ret;
}

enum store_status store_object_get(struct store *st, const char *bucket, const char *key,
                                   struct store_object **out)
{
    static const char sql[] = "SELECT e.block_id, e.offset, e.length, " STORE_BLOCK_COLS
                              " FROM extents e JOIN blocks b ON b.id = e.block_id"
                              " WHERE e.object_id = ?1 ORDER BY e.seq";
    struct store_object *o = NULL;
    sqlite3_stmt *s = NULL;
    enum store_status ret;
    int64_t id = 0;

    *out = NULL;
    ret = store_read_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = object_read(st, bucket, key, &o, &id);
    if (ret != STORE_OK)
        goto out;
    ret = store_prep(st, &s, sql, "I", id);
    if (ret != STORE_OK)
        goto out;
    ret = store_extents_read(st, s, &o->extents, &o->n_extents);
    if (ret != STORE_OK)
        goto out;
    *out = o;
    o = NULL;
out:
    sqlite3_reset(s);
    store_read_end(st);
    store_object_free(o);
    return ret;
}

enum store_status store_object_head(struct store *st, const char *bucket, const char *key,
                                    struct store_object **out)
{
    int64_t id;

    return object_read(st, bucket, key, out, &id);
}

enum store_status store_object_set_meta(struct store *st, const char *bucket, const char *key,
                                        const char *meta_json, int64_t mtime_ms)
{
    static const char sql[] = "UPDATE objects SET meta_json = ?3, mtime_ms = ?4 WHERE bucket = ?1 AND key = ?2";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec_found(st, sql, "tttI", bucket, key, meta_json ? meta_json : "{}", mtime_ms);
    return store_op_end(st, ret);
}

enum store_status store_object_delete(struct store *st, const char *bucket, const char *key)
{
    static const char sql[] = "DELETE FROM objects WHERE id = ?1";
    struct store_refs old = {0};
    enum store_status ret;
    int64_t id;

    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = object_id(st, bucket, key, &id);
    if (ret == STORE_OK)
        ret = extents_remove(st, id, &old);
    if (ret == STORE_OK)
        ret = store_exec(st, sql, "I", id);
    if (ret == STORE_OK)
        ret = store_object_acl_write(st, id, NULL);
    if (ret == STORE_OK)
        ret = store_refs_drop(st, &old, now_ms());
    store_refs_release(&old);
    return store_op_end(st, ret);
}

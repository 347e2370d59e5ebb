/* objects.c — writing an object with its extents; the current object's reads, metadata and delete.
 *
 * Where the written object goes in its key's stack of versions is versions.c's
 * (store_version_place). New references are always taken before old ones are
 * dropped, so putting an object over itself with the same blocks never frees them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"


/* The object's bucket exists and, when obj names one, is still that one:
 * a writer that found the bucket at its start never commits into another
 * bucket created since under the same name (by another user, say). */
static enum store_status bucket_exists(struct store *st, const struct store_object *obj, struct store_bucket *b)
{
    enum store_status ret = store_bucket_get(st, obj->bucket, b);

    if (ret == STORE_OK && obj->bucket_id.owner[0] != '\0' &&
        (strcmp(b->owner, obj->bucket_id.owner) != 0 || b->created_ms != obj->bucket_id.created_ms))
        ret = STORE_NOT_FOUND;
    if (ret == STORE_NOT_FOUND)
        snprintf(st->err, sizeof st->err, "no bucket %s", obj->bucket);
    return ret;
}

enum store_status store_object_write(struct store *st, struct store_object *obj, const struct store_extent *ext,
                                     size_t n)
{
    static const char sql_extent[] =
        "INSERT INTO extents(object_id, seq, block_id, offset, length) VALUES (?1, ?2, ?3, ?4, ?5)";
    struct store_bucket b;
    enum store_status ret;
    int64_t id = 0;

    ret = bucket_exists(st, obj, &b);
    if (ret == STORE_OK)
        ret = store_extents_ref(st, ext, n);
    if (ret == STORE_OK)
        ret = store_version_place(st, &b, obj, 0, &id);
    for (size_t i = 0; i < n && ret == STORE_OK; i++)
        ret = store_exec(st, sql_extent, "IIIII", id, (int64_t)i, ext[i].block_id, ext[i].offset, ext[i].length);
    if (ret == STORE_OK)
        ret = store_object_acl_write(st, id, obj->acl);
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

/* The current object only: a delete marker as the latest version is no object. */
static enum store_status current_only(struct store_object **out, enum store_status ret)
{
    if (ret == STORE_OK && (*out)->delete_marker) {
        store_object_free(*out);
        *out = NULL;
        ret = STORE_NOT_FOUND;
    }
    return ret;
}

enum store_status store_object_get(struct store *st, const char *bucket, const char *key,
                                   struct store_object **out)
{
    return current_only(out, store_object_get_v(st, bucket, key, NULL, out));
}

enum store_status store_object_head(struct store *st, const char *bucket, const char *key,
                                    struct store_object **out)
{
    return current_only(out, store_object_head_v(st, bucket, key, NULL, out));
}

enum store_status store_object_set_meta(struct store *st, const char *bucket, const char *key,
                                        const char *meta_json, int64_t mtime_ms)
{
    return store_object_set_meta_v(st, bucket, key, NULL, meta_json, mtime_ms);
}

enum store_status store_object_delete(struct store *st, const char *bucket, const char *key)
{
    struct store_deleted res;

    return store_object_delete_v(st, bucket, key, NULL, 0, now_ms(), &res);
}

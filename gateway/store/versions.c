/* versions.c — a key's stack of versions: writing one, delete markers, removing a version, Object
 * Lock's retention and legal hold, a bucket's versioning state and default retention.
 *
 * A key's versions are rows of objects; the newest has the highest id and exactly one row of
 * the key is latest (the partial unique index objects_latest). What a write or a delete does
 * depends on the bucket's versioning state, as S3 defines it:
 *   never enabled — one row per key, version "null", replaced in place (it keeps its id);
 *   Enabled       — every write and every delete without a version adds a row with a new id;
 *   Suspended     — a write or a delete marker is the "null" version, which replaces the key's
 *                   null version wherever it is in the stack.
 * Removing a version (a delete by id, or a null version being replaced) is refused with
 * STORE_LOCKED while its retention or legal hold is in force, in the same transaction that
 * would remove it: no path around the lock exists above this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define COLS "id, size, etag, mtime_ms, meta_json, version, latest, marker, noncurrent_ms, " \
             "lock_mode, lock_until_ms, legal_hold"

void store_object_free(struct store_object *o)
{
    if (o == NULL)
        return;
    free(o->key);
    free(o->meta_json);
    free(o->extents);
    free(o);
}

/* A new version id: 12 hex digits of the time, then 20 random ones (unique within a key). */
static void version_new(int64_t now, char out[STORE_VERSION_LEN])
{
    unsigned char r[10];

    sqlite3_randomness(sizeof r, r);
    snprintf(out, STORE_VERSION_LEN, "%012llx", (unsigned long long)now & 0xffffffffffffull);
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 12 + 2 * i, 3, "%02x", r[i]);
}

/* The row of bucket/key: its version (NULL: the latest). *id and, when o is not NULL, its
 * fields into o (key, bucket and extents left alone). */
static enum store_status version_row(struct store *st, const char *bucket, const char *key, const char *version,
                                     int64_t *id, struct store_object *o)
{
    static const char sql_latest[] = "SELECT " COLS " FROM objects WHERE bucket = ?1 AND key = ?2 AND latest = 1";
    static const char sql_version[] = "SELECT " COLS " FROM objects WHERE bucket = ?1 AND key = ?2 AND version = ?3";
    sqlite3_stmt *s = NULL;
    enum store_status ret = version ? store_query(st, &s, sql_version, "ttt", bucket, key, version)
                                    : store_query(st, &s, sql_latest, "tt", bucket, key);

    if (ret != STORE_OK)
        return ret;
    *id = sqlite3_column_int64(s, 0);
    if (o != NULL) {
        o->size = sqlite3_column_int64(s, 1);
        store_col_text(s, 2, o->etag, sizeof o->etag);
        o->mtime_ms = sqlite3_column_int64(s, 3);
        free(o->meta_json);
        o->meta_json = store_col_strdup(s, 4);
        store_col_text(s, 5, o->version_id, sizeof o->version_id);
        o->is_latest = sqlite3_column_int(s, 6);
        o->delete_marker = sqlite3_column_int(s, 7);
        o->noncurrent_ms = sqlite3_column_int64(s, 8);
        store_col_text(s, 9, o->lock_mode, sizeof o->lock_mode);
        o->lock_until_ms = sqlite3_column_int64(s, 10);
        o->legal_hold = sqlite3_column_int(s, 11);
    }
    sqlite3_reset(s);
    return STORE_OK;
}

/* Whether row o may be removed at now_ms: not under a legal hold, nor a retention in force
 * (GOVERNANCE yields to bypass). */
static int version_locked(const struct store_object *o, int bypass, int64_t now_ms)
{
    if (o->legal_hold)
        return 1;
    if (o->lock_mode[0] == '\0' || o->lock_until_ms <= now_ms)
        return 0;
    return strcmp(o->lock_mode, "GOVERNANCE") != 0 || !bypass;
}

static enum store_status refuse_locked(struct store *st, const char *bucket, const char *key, const char *version)
{
    snprintf(st->err, sizeof st->err, "%s/%s version %s is locked", bucket, key, version);
    return STORE_LOCKED;
}

/* Removes row id with its extents and ACL; the references go at now_ms. */
static enum store_status row_remove(struct store *st, int64_t id, int64_t now_ms)
{
    static const char sql_refs[] = "SELECT block_id, count(*) FROM extents WHERE object_id = ?1 GROUP BY block_id";
    static const char sql_ext[] = "DELETE FROM extents WHERE object_id = ?1";
    static const char sql_row[] = "DELETE FROM objects WHERE id = ?1";
    struct store_refs refs = {0};
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, sql_refs, "I", id);

    if (ret == STORE_OK)
        ret = store_refs_collect(st, s, &refs);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_ext, "I", id);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_row, "I", id);
    if (ret == STORE_OK)
        ret = store_object_acl_write(st, id, NULL);
    if (ret == STORE_OK)
        ret = store_refs_drop(st, &refs, now_ms);
    store_refs_release(&refs);
    return ret;
}

enum store_status store_versions_relatest(struct store *st, const char *bucket, const char *key)
{
    static const char sql_one[] =
        "UPDATE objects SET latest = 1, noncurrent_ms = 0 WHERE id = (SELECT max(id) FROM objects"
        " WHERE bucket = ?1 AND key = ?2) AND NOT EXISTS (SELECT 1 FROM objects WHERE bucket = ?1 AND key = ?2"
        " AND latest = 1)";
    static const char sql_all[] =
        "UPDATE objects SET latest = 1, noncurrent_ms = 0 WHERE id IN (SELECT max(id) FROM objects"
        " GROUP BY bucket, key HAVING max(latest) = 0)";

    return bucket ? store_exec(st, sql_one, "tt", bucket, key) : store_exec(st, sql_all, "");
}

/* The key's latest row stops being latest (it becomes noncurrent at *now_ms). A new version is
 * never older than the one it follows: writes timed on the loop commit here in their own order,
 * and Last-Modified must not disagree with the order of the versions (rclone --s3-version-at). */
static enum store_status latest_retire(struct store *st, const char *bucket, const char *key, int64_t *now_ms)
{
    static const char sql_time[] =
        "SELECT coalesce((SELECT mtime_ms FROM objects WHERE bucket = ?1 AND key = ?2 AND latest = 1), 0)";
    static const char sql[] =
        "UPDATE objects SET latest = 0, noncurrent_ms = ?3 WHERE bucket = ?1 AND key = ?2 AND latest = 1";
    int64_t newest = 0;
    enum store_status ret = store_scalars(st, &newest, 1, sql_time, "tt", bucket, key);

    if (ret == STORE_OK && newest > *now_ms)
        *now_ms = newest;
    return ret == STORE_OK ? store_exec(st, sql, "ttI", bucket, key, *now_ms) : ret;
}

/* Removes the key's null version, if it has one that is not locked. */
static enum store_status null_remove(struct store *st, const char *bucket, const char *key, int64_t now_ms)
{
    struct store_object o = {0};
    int64_t id;
    enum store_status ret = version_row(st, bucket, key, "null", &id, &o);

    if (ret == STORE_OK)
        ret = version_locked(&o, 0, now_ms) ? refuse_locked(st, bucket, key, "null") : row_remove(st, id, now_ms);
    else if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    free(o.meta_json);
    return ret;
}

static enum store_status insert_row(struct store *st, const struct store_object *obj, int marker, int64_t *id)
{
    static const char sql[] =
        "INSERT INTO objects(bucket, key, size, etag, mtime_ms, meta_json, version, latest, marker,"
        " lock_mode, lock_until_ms, legal_hold) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)";
    enum store_status ret = store_exec(st, sql, "ttItIttItII", obj->bucket, obj->key, obj->size, obj->etag,
                                       obj->mtime_ms, obj->meta_json ? obj->meta_json : "{}", obj->version_id,
                                       (int64_t)marker, obj->lock_mode, obj->lock_until_ms, (int64_t)obj->legal_hold);

    *id = sqlite3_last_insert_rowid(st->db);
    return ret;
}

enum store_status store_version_place(struct store *st, const struct store_bucket *b, struct store_object *obj,
                                      int marker, int64_t *id)
{
    static const char sql_update[] =
        "UPDATE objects SET size = ?2, etag = ?3, mtime_ms = ?4, meta_json = ?5, marker = ?6, lock_mode = ?7,"
        " lock_until_ms = ?8, legal_hold = ?9 WHERE id = ?1";
    static const char sql_refs[] = "SELECT block_id, count(*) FROM extents WHERE object_id = ?1 GROUP BY block_id";
    static const char sql_ext[] = "DELETE FROM extents WHERE object_id = ?1";
    enum store_status ret;

    if (b->versioning == STORE_VERSIONING_ENABLED) {
        ret = latest_retire(st, obj->bucket, obj->key, &obj->mtime_ms);
        version_new(obj->mtime_ms, obj->version_id);
        return ret == STORE_OK ? insert_row(st, obj, marker, id) : ret;
    }
    snprintf(obj->version_id, sizeof obj->version_id, "null");
    if (b->versioning == STORE_VERSIONING_SUSPENDED) {
        ret = null_remove(st, obj->bucket, obj->key, obj->mtime_ms);
        if (ret == STORE_OK)
            ret = latest_retire(st, obj->bucket, obj->key, &obj->mtime_ms);
        return ret == STORE_OK ? insert_row(st, obj, marker, id) : ret;
    }
    /* Never versioned: the one row is rewritten in place (it keeps its id); S3 names no version. */
    struct store_object cur = {0};
    ret = version_row(st, obj->bucket, obj->key, NULL, id, &cur);
    if (ret == STORE_NOT_FOUND) {
        ret = insert_row(st, obj, marker, id);
    } else if (ret == STORE_OK && version_locked(&cur, 0, obj->mtime_ms)) {
        ret = refuse_locked(st, obj->bucket, obj->key, "null");
    } else if (ret == STORE_OK) {
        struct store_refs old = {0};
        sqlite3_stmt *s = NULL;
        ret = store_prep(st, &s, sql_refs, "I", *id);
        if (ret == STORE_OK)
            ret = store_refs_collect(st, s, &old);
        if (ret == STORE_OK)
            ret = store_exec(st, sql_ext, "I", *id);
        if (ret == STORE_OK)
            ret = store_exec(st, sql_update, "IItItItII", *id, obj->size, obj->etag, obj->mtime_ms,
                             obj->meta_json ? obj->meta_json : "{}", (int64_t)marker, obj->lock_mode,
                             obj->lock_until_ms, (int64_t)obj->legal_hold);
        if (ret == STORE_OK)
            ret = store_refs_drop(st, &old, obj->mtime_ms);
        store_refs_release(&old);
    }
    free(cur.meta_json);
    obj->version_id[0] = '\0';
    return ret;
}

/* ---- reads ---------------------------------------------------------------------- */

static enum store_status object_read_v(struct store *st, const char *bucket, const char *key, const char *version,
                                       struct store_object **out, int64_t *id)
{
    struct store_object *o = xcalloc(1, sizeof *o);
    enum store_status ret = version_row(st, bucket, key, version, id, o);

    if (ret != STORE_OK) {
        store_object_free(o);
        *out = NULL;
        return ret;
    }
    snprintf(o->bucket, sizeof o->bucket, "%s", bucket);
    o->key = xstrdup(key);
    *out = o;
    return STORE_OK;
}

enum store_status store_object_head_v(struct store *st, const char *bucket, const char *key, const char *version,
                                      struct store_object **out)
{
    int64_t id;

    return object_read_v(st, bucket, key, version, out, &id);
}

enum store_status store_object_get_v(struct store *st, const char *bucket, const char *key, const char *version,
                                     struct store_object **out)
{
    static const char sql[] = "SELECT e.block_id, e.offset, e.length, " STORE_BLOCK_COLS
                              " FROM extents e JOIN blocks b ON b.id = e.block_id"
                              " WHERE e.object_id = ?1 ORDER BY e.seq";
    sqlite3_stmt *s = NULL;
    int64_t id = 0;
    enum store_status ret = store_read_begin(st);

    *out = NULL;
    if (ret != STORE_OK)
        return ret;
    ret = object_read_v(st, bucket, key, version, out, &id);
    if (ret == STORE_OK && !(*out)->delete_marker) {
        ret = store_prep(st, &s, sql, "I", id);
        if (ret == STORE_OK)
            ret = store_extents_read(st, s, &(*out)->extents, &(*out)->n_extents);
        sqlite3_reset(s);
        if (ret != STORE_OK) {
            store_object_free(*out);
            *out = NULL;
        }
    }
    store_read_end(st);
    return ret;
}

enum store_status store_object_set_meta_v(struct store *st, const char *bucket, const char *key, const char *version,
                                          const char *meta_json, int64_t mtime_ms)
{
    static const char sql[] = "UPDATE objects SET meta_json = ?2, mtime_ms = ?3 WHERE id = ?1 AND marker = 0";
    int64_t id;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = version_row(st, bucket, key, version, &id, NULL);
    if (ret == STORE_OK)
        ret = store_exec_found(st, sql, "ItI", id, meta_json ? meta_json : "{}", mtime_ms);
    return store_op_end(st, ret);
}

/* ---- deletes -------------------------------------------------------------------- */

enum store_status store_object_delete_v(struct store *st, const char *bucket, const char *key, const char *version,
                                        int bypass_governance, int64_t now_ms, struct store_deleted *res)
{
    struct store_object o = {0};
    struct store_bucket b;
    int64_t id;
    enum store_status ret = store_op_begin(st);

    memset(res, 0, sizeof *res);
    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, &b);
    if (ret != STORE_OK)
        goto out;
    if (version == NULL && b.versioning != STORE_VERSIONING_OFF) {
        /* A delete marker becomes the latest version. */
        struct store_object m = {.size = 0, .mtime_ms = now_ms, .meta_json = NULL};
        snprintf(m.bucket, sizeof m.bucket, "%s", bucket);
        m.key = (char *)key;
        ret = store_version_place(st, &b, &m, 1, &id);
        if (ret == STORE_OK) {
            snprintf(res->version_id, sizeof res->version_id, "%s", m.version_id);
            res->delete_marker = 1;
        }
        goto out;
    }
    ret = version_row(st, bucket, key, version, &id, &o);
    if (ret != STORE_OK)
        goto out;
    if (version_locked(&o, bypass_governance, now_ms)) {
        ret = refuse_locked(st, bucket, key, o.version_id);
        goto out;
    }
    ret = row_remove(st, id, now_ms);
    if (ret == STORE_OK && o.is_latest)
        ret = store_versions_relatest(st, bucket, key);
    if (ret == STORE_OK && version != NULL) {
        snprintf(res->version_id, sizeof res->version_id, "%s", o.version_id);
        res->delete_marker = o.delete_marker;
    }
out:
    free(o.meta_json);
    return store_op_end(st, ret);
}

/* ---- Object Lock ---------------------------------------------------------------- */

/* The version a lock call is about (not a delete marker: NOT_FOUND), its id named in version_out. */
static enum store_status lock_target(struct store *st, const char *bucket, const char *key, const char *version,
                                     int64_t *id, struct store_object *o, char version_out[STORE_VERSION_LEN])
{
    enum store_status ret = version_row(st, bucket, key, version, id, o);

    if (ret == STORE_OK && o->delete_marker)
        ret = STORE_NOT_FOUND;
    if (ret == STORE_OK && version_out)
        snprintf(version_out, STORE_VERSION_LEN, "%s", o->version_id);
    return ret;
}

enum store_status store_object_retention_set(struct store *st, const char *bucket, const char *key,
                                             const char *version, const char *mode, int64_t until_ms,
                                             int bypass_governance, int64_t now_ms,
                                             char version_out[STORE_VERSION_LEN])
{
    static const char sql[] = "UPDATE objects SET lock_mode = ?2, lock_until_ms = ?3 WHERE id = ?1";
    struct store_object o = {0};
    int64_t id;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = lock_target(st, bucket, key, version, &id, &o, version_out);
    if (ret != STORE_OK)
        goto out;
    if (o.lock_mode[0] != '\0' && o.lock_until_ms > now_ms) {
        /* In force: it may only grow stronger, unless GOVERNANCE is bypassed. */
        int keeps = mode[0] != '\0' && until_ms >= o.lock_until_ms &&
                    (strcmp(mode, "COMPLIANCE") == 0 || strcmp(o.lock_mode, "GOVERNANCE") == 0);
        int bypassed = strcmp(o.lock_mode, "GOVERNANCE") == 0 && bypass_governance;
        if (!keeps && !bypassed) {
            ret = refuse_locked(st, bucket, key, o.version_id);
            goto out;
        }
    }
    ret = store_exec(st, sql, "ItI", id, mode, mode[0] ? until_ms : 0);
out:
    free(o.meta_json);
    return store_op_end(st, ret);
}

enum store_status store_object_legal_hold_set(struct store *st, const char *bucket, const char *key,
                                              const char *version, int on, char version_out[STORE_VERSION_LEN])
{
    static const char sql[] = "UPDATE objects SET legal_hold = ?2 WHERE id = ?1";
    struct store_object o = {0};
    int64_t id;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = lock_target(st, bucket, key, version, &id, &o, version_out);
    if (ret == STORE_OK)
        ret = store_exec(st, sql, "II", id, (int64_t)(on != 0));
    free(o.meta_json);
    return store_op_end(st, ret);
}

/* ---- a bucket's state ----------------------------------------------------------- */

enum store_status store_bucket_versioning_set(struct store *st, const char *bucket, int state)
{
    static const char sql[] = "UPDATE buckets SET versioning = ?2 WHERE name = ?1";
    struct store_bucket b;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, &b);
    if (ret == STORE_OK && b.lock_enabled && state != STORE_VERSIONING_ENABLED) {
        snprintf(st->err, sizeof st->err, "bucket %s has Object Lock: versioning stays enabled", bucket);
        ret = STORE_CONFLICT;
    }
    if (ret == STORE_OK)
        ret = store_exec(st, sql, "tI", bucket, (int64_t)state);
    return store_op_end(st, ret);
}

enum store_status store_bucket_lock_set(struct store *st, const char *bucket, const char *mode, int days, int years)
{
    static const char sql[] =
        "UPDATE buckets SET lock_enabled = 1, lock_mode = ?2, lock_days = ?3, lock_years = ?4 WHERE name = ?1";
    struct store_bucket b;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, &b);
    if (ret == STORE_OK && b.versioning != STORE_VERSIONING_ENABLED) {
        snprintf(st->err, sizeof st->err, "bucket %s: Object Lock needs versioning enabled", bucket);
        ret = STORE_CONFLICT;
    }
    if (ret == STORE_OK)
        ret = store_exec(st, sql, "ttII", bucket, mode ? mode : "", (int64_t)days, (int64_t)years);
    return store_op_end(st, ret);
}

/* lifecycle.c — each bucket's lifecycle configuration (table bucket_lifecycle), and the batches the lifecycle
 * runner reads: what a rule may expire, delete or abort.
 *
 * The configuration is kept as the XML GetBucketLifecycleConfiguration
 * answers; the gateway parses it (s3_lifecycle_parse). The row goes with its
 * bucket (store_bucket_delete). The runner's batches are bounded reads in
 * (key, id) order after a cursor, so a run walks a bucket in pieces and never
 * holds the writer long; the runner itself removes what they name through
 * store_object_delete_v and store_upload_abort, which keep the references
 * and the delete queue right. The time of the last finished run lives in
 * meta ('lifecycle_last_run') so a restart keeps the schedule.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_lifecycle_get(struct store *st, const char *bucket, char **xml)
{
    return store_bucket_doc_get(st, STORE_DOC_LIFECYCLE, bucket, xml);
}

enum store_status store_lifecycle_put(struct store *st, const char *bucket, const char *xml)
{
    return store_bucket_doc_put(st, STORE_DOC_LIFECYCLE, bucket, xml);
}

enum store_status store_lifecycle_delete(struct store *st, const char *bucket)
{
    return store_bucket_doc_delete(st, STORE_DOC_LIFECYCLE, bucket);
}

/* ---- buckets with rules ---------------------------------------------------------------- */

static enum store_row read_bucket(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_lc_bucket *b = row;
    (void)ud;
    store_col_text(s, 0, b->name, sizeof(b->name));
    b->config = store_col_strdup(s, 1);
    b->versioning = sqlite3_column_int(s, 2);
    return STORE_ROW_NEXT;
}

static void release_bucket(void *row)
{
    free(((struct store_lc_bucket *)row)->config);
}

enum store_status store_lc_buckets(struct store *st, const char *after, size_t max, struct store_lc_bucket **out,
                                   size_t *n)
{
    static const char sql[] = "SELECT l.bucket, l.config, b.versioning FROM bucket_lifecycle l"
                              " JOIN buckets b ON b.name = l.bucket WHERE l.bucket > ?1 ORDER BY l.bucket LIMIT ?2";
    struct store_rows rows = {0};
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, sql, "tI", after, store_limit(max));

    if (ret == STORE_OK)
        ret = store_rows_read(st, s, sizeof(**out), max, read_bucket, release_bucket, NULL, &rows);
    *out = rows.v;
    *n = rows.n;
    return ret;
}

void store_lc_buckets_free(struct store_lc_bucket *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].config);
    free(v);
}

/* ---- versions --------------------------------------------------------------------------- */

/* Columns: id, key, version, size, marker, meta_json. */
static enum store_row read_row(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_lc_row *r = row;
    (void)ud;
    r->id = sqlite3_column_int64(s, 0);
    r->key = store_col_strdup(s, 1);
    store_col_text(s, 2, r->version, sizeof(r->version));
    r->size = sqlite3_column_int64(s, 3);
    r->marker = sqlite3_column_int(s, 4);
    r->meta_json = store_col_strdup(s, 5);
    return STORE_ROW_NEXT;
}

static void release_row(void *row)
{
    struct store_lc_row *r = row;
    free(r->key);
    free(r->meta_json);
}

void store_lc_rows_free(struct store_lc_row *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        release_row(&v[i]);
    free(v);
}

static enum store_status rows_of(struct store *st, sqlite3_stmt *s, enum store_status ret, size_t max,
                                 struct store_lc_row **out, size_t *n)
{
    struct store_rows rows = {0};
    if (ret == STORE_OK)
        ret = store_rows_read(st, s, sizeof(**out), max, read_row, release_row, NULL, &rows);
    *out = rows.v;
    *n = rows.n;
    return ret;
}

/* A key under prefix ?2 (an empty prefix takes every key); the range keeps the index in use. */
#define UNDER_PREFIX "key >= ?2 AND (?2 = '' OR substr(key, 1, length(?2)) = ?2)"

enum store_status store_lc_current(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                   const char *after_key, size_t max, struct store_lc_row **out, size_t *n)
{
    static const char sql[] = "SELECT id, key, version, size, marker, meta_json FROM objects"
                              " WHERE bucket = ?1 AND " UNDER_PREFIX " AND latest = 1 AND marker = 0"
                              " AND mtime_ms <= ?3 AND key > ?4 ORDER BY key LIMIT ?5";
    sqlite3_stmt *s = NULL;
    enum store_status ret =
        store_prep(st, &s, sql, "ttItI", bucket, prefix, cutoff_ms, after_key, store_limit(max));
    return rows_of(st, s, ret, max, out, n);
}

enum store_status store_lc_noncurrent(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                      int newer, const char *after_key, int64_t after_id, size_t max,
                                      struct store_lc_row **out, size_t *n)
{
    /* newer: how many noncurrent versions of the key are newer (a higher id) than the row. */
    static const char sql[] =
        "SELECT id, key, version, size, marker, meta_json FROM ("
        "  SELECT id, key, version, size, marker, meta_json, noncurrent_ms,"
        "    row_number() OVER (PARTITION BY key ORDER BY id DESC) - 1 AS newer"
        "  FROM objects WHERE bucket = ?1 AND " UNDER_PREFIX " AND latest = 0 AND key >= ?5)"
        " WHERE noncurrent_ms <= ?3 AND newer >= ?4 AND (key > ?5 OR (key = ?5 AND id > ?6))"
        " ORDER BY key, id LIMIT ?7";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, sql, "ttIItII", bucket, prefix, cutoff_ms, (int64_t)newer, after_key,
                                       after_id, store_limit(max));
    return rows_of(st, s, ret, max, out, n);
}

enum store_status store_lc_lone_markers(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                        const char *after_key, size_t max, struct store_lc_row **out, size_t *n)
{
    static const char sql[] = "SELECT id, key, version, size, marker, meta_json FROM objects o"
                              " WHERE bucket = ?1 AND " UNDER_PREFIX " AND latest = 1 AND marker = 1 AND key > ?3"
                              " AND mtime_ms <= ?5"
                              " AND NOT EXISTS(SELECT 1 FROM objects p WHERE p.bucket = o.bucket AND p.key = o.key"
                              "   AND p.id <> o.id)"
                              " ORDER BY key LIMIT ?4";
    sqlite3_stmt *s = NULL;
    enum store_status ret =
        store_prep(st, &s, sql, "tttII", bucket, prefix, after_key, store_limit(max), cutoff_ms);
    return rows_of(st, s, ret, max, out, n);
}

/* ---- uploads and the schedule -------------------------------------------------------------- */

static enum store_row read_upload_id(sqlite3_stmt *s, void *row, void *ud)
{
    (void)ud;
    store_col_text(s, 0, row, 64);
    return STORE_ROW_NEXT;
}

enum store_status store_lc_uploads(struct store *st, const char *bucket, const char *prefix, int64_t cutoff_ms,
                                   const char *after_id, size_t max, char (**out)[64], size_t *n)
{
    static const char sql[] = "SELECT id FROM uploads WHERE bucket = ?1 AND " UNDER_PREFIX
                              " AND created_ms <= ?3 AND id > ?4 ORDER BY id LIMIT ?5";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, max, read_upload_id, sql, "ttItI", bucket,
                                              prefix, cutoff_ms, after_id, store_limit(max));
    *out = rows.v;
    *n = rows.n;
    return ret;
}

enum store_status store_lc_last_run(struct store *st, int64_t *ms)
{
    static const char sql[] = "SELECT ifnull((SELECT v FROM meta WHERE k = 'lifecycle_last_run'), 0)";
    return store_scalars(st, ms, 1, sql, "");
}

enum store_status store_lc_last_run_set(struct store *st, int64_t ms)
{
    static const char sql[] = "INSERT OR REPLACE INTO meta(k, v) VALUES ('lifecycle_last_run', ?1)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "I", ms);
    return store_op_end(st, ret);
}

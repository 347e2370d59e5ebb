/* completed.c — the record of completed multipart uploads, for retried completions.
 *
 * A client whose CompleteMultipartUpload answer was lost retries it; the
 * upload is gone by then, and S3 still answers 200 with the same ETag while
 * the object the upload produced is the one under its key. Completion
 * (multipart.c) records (upload id, bucket, key, object row id, etag); a
 * retry finds the record and checks that the object row under bucket/key is
 * still that row with that ETag (an overwrite by another upload or a
 * PutObject changes the ETag, a delete and re-create the row id). Bounded:
 * records older than STORE_COMPLETED_KEEP_MS are removed whenever a new one
 * is written, so the table holds one day of completions at most.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_completed_record(struct store *st, const char *upload_id, const struct store_object *obj)
{
    static const char sql_id[] = "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2 AND latest = 1";
    static const char sql_prune[] = "DELETE FROM completed_uploads WHERE completed_ms < ?1";
    static const char sql_put[] = "INSERT OR REPLACE INTO completed_uploads(id, bucket, key, object_id, etag,"
                                  " completed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    sqlite3_stmt *s = NULL;
    int64_t object_id;
    enum store_status ret = store_query(st, &s, sql_id, "tt", obj->bucket, obj->key);

    if (ret == STORE_OK)
        object_id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql_prune, "I", obj->mtime_ms - STORE_COMPLETED_KEEP_MS);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_put, "tttItI", upload_id, obj->bucket, obj->key, object_id, obj->etag,
                         obj->mtime_ms);
    return ret;
}

enum store_status store_upload_completed(struct store *st, const char *upload_id, const char *bucket,
                                         const char *key, int64_t now_ms, char etag[80])
{
    static const char sql[] = "SELECT c.etag FROM completed_uploads c JOIN objects o ON o.id = c.object_id"
                              " WHERE c.id = ?1 AND c.bucket = ?2 AND c.key = ?3 AND c.completed_ms >= ?4"
                              " AND o.bucket = c.bucket AND o.key = c.key AND o.etag = c.etag AND o.latest = 1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql, "tttI", upload_id, bucket, key, now_ms - STORE_COMPLETED_KEEP_MS);

    etag[0] = '\0';
    if (ret == STORE_OK)
        store_col_text(s, 0, etag, 80);
    sqlite3_reset(s);
    return ret;
}

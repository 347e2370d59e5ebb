/* cors.c — each bucket's CORS configuration (table bucket_cors), kept as the XML GetBucketCors answers.
 *
 * The gateway parses it (s3_cors_parse) when it needs the rules; the row goes
 * with its bucket (store_bucket_delete).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_cors_get(struct store *st, const char *bucket, char **xml)
{
    static const char sql[] = "SELECT config FROM bucket_cors WHERE bucket = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql, "t", bucket);

    *xml = NULL;
    if (ret == STORE_OK) {
        *xml = store_col_strdup(s, 0);
        sqlite3_reset(s);
    }
    return ret;
}

enum store_status store_cors_put(struct store *st, const char *bucket, const char *xml)
{
    static const char sql[] = "INSERT INTO bucket_cors(bucket, config) SELECT ?1, ?2"
                              " WHERE EXISTS(SELECT 1 FROM buckets WHERE name = ?1)"
                              " ON CONFLICT(bucket) DO UPDATE SET config = excluded.config";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec_found(st, sql, "tt", bucket, xml);
    return store_op_end(st, ret);
}

enum store_status store_cors_delete(struct store *st, const char *bucket)
{
    static const char sql[] = "DELETE FROM bucket_cors WHERE bucket = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "t", bucket);
    return store_op_end(st, ret);
}

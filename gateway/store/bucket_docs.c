/* bucket_docs.c — a bucket's configuration documents kept as the text the gateway renders (CORS
 * rules, lifecycle rules): one row per bucket in the document's table, gone with the bucket. */
#include <stdlib.h>

#include "gateway/store/store_int.h"

/* Per document: read, write (only for an existing bucket), remove. Indexed by enum store_bucket_doc. */
static const char *const sql_get[] = {
    "SELECT config FROM bucket_cors WHERE bucket = ?1",
    "SELECT config FROM bucket_lifecycle WHERE bucket = ?1",
};
static const char *const sql_put[] = {
    "INSERT INTO bucket_cors(bucket, config) SELECT ?1, ?2 WHERE EXISTS(SELECT 1 FROM buckets WHERE name = ?1)"
    " ON CONFLICT(bucket) DO UPDATE SET config = excluded.config",
    "INSERT INTO bucket_lifecycle(bucket, config) SELECT ?1, ?2 WHERE EXISTS(SELECT 1 FROM buckets WHERE name = ?1)"
    " ON CONFLICT(bucket) DO UPDATE SET config = excluded.config",
};
static const char *const sql_delete[] = {
    "DELETE FROM bucket_cors WHERE bucket = ?1",
    "DELETE FROM bucket_lifecycle WHERE bucket = ?1",
};

enum store_status store_bucket_doc_get(struct store *st, enum store_bucket_doc d, const char *bucket, char **text)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql_get[d], "t", bucket);

    *text = NULL;
    if (ret == STORE_OK) {
        *text = store_col_strdup(s, 0);
        sqlite3_reset(s);
    }
    return ret;
}

enum store_status store_bucket_doc_put(struct store *st, enum store_bucket_doc d, const char *bucket, const char *text)
{
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec_found(st, sql_put[d], "tt", bucket, text);
    return store_op_end(st, ret);
}

enum store_status store_bucket_doc_delete(struct store *st, enum store_bucket_doc d, const char *bucket)
{
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql_delete[d], "t", bucket);
    return store_op_end(st, ret);
}

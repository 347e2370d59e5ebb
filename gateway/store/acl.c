/* acl.c — buckets' and objects' ACLs and buckets' PublicAccessBlock flags.
 *
 * ACLs are kept as text (s3_acl_encode's form, chosen by the gateway) in
 * bucket_acls (by bucket name) and object_acls (by object row id). No row
 * means private: the bucket's owner (buckets.owner) holds FULL_CONTROL and
 * nobody else anything. A bucket's rows go with the bucket
 * (store_bucket_delete); an object's with the object (objects.c,
 * recovered.c) and an overwrite rewrites or removes it (store_object_write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_bucket_create_acl(struct store *st, const char *name, const char *owner, int64_t now_ms,
                                          const char *acl)
{
    static const char sql_bucket[] = "INSERT INTO buckets(name, owner, created_ms) VALUES (?1, ?2, ?3)";
    static const char sql_acl[] = "INSERT OR REPLACE INTO bucket_acls(bucket, acl) VALUES (?1, ?2)";
    static const char sql_drop[] = "DELETE FROM bucket_acls WHERE bucket = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_insert(st, sql_bucket, "ttI", name, owner, now_ms);
    /* A bucket row left by an older build (before deletion removed its ACL) must not inherit one. */
    if (ret == STORE_OK)
        ret = acl != NULL ? store_exec(st, sql_acl, "tt", name, acl) : store_exec(st, sql_drop, "t", name);
    return store_op_end(st, ret);
}

enum store_status store_bucket_acl_get(struct store *st, const char *bucket, char **acl)
{
    static const char sql[] = "SELECT acl FROM bucket_acls WHERE bucket = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql, "t", bucket);

    *acl = NULL;
    if (ret == STORE_OK) {
        *acl = store_col_strdup(s, 0);
        sqlite3_reset(s);
    }
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

enum store_status store_bucket_acl_set(struct store *st, const char *bucket, const char *acl)
{
    static const char sql_set[] = "INSERT OR REPLACE INTO bucket_acls(bucket, acl) VALUES (?1, ?2)";
    static const char sql_drop[] = "DELETE FROM bucket_acls WHERE bucket = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, NULL);
    if (ret == STORE_OK)
        ret = acl != NULL ? store_exec(st, sql_set, "tt", bucket, acl) : store_exec(st, sql_drop, "t", bucket);
    return store_op_end(st, ret);
}

enum store_status store_pab_get(struct store *st, const char *bucket, int64_t *flags)
{
    static const char sql[] = "SELECT flags FROM public_access_blocks WHERE bucket = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql, "t", bucket);

    *flags = -1;
    if (ret == STORE_OK) {
        *flags = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    return ret;
}

enum store_status store_pab_set(struct store *st, const char *bucket, int64_t flags)
{
    static const char sql_set[] = "INSERT OR REPLACE INTO public_access_blocks(bucket, flags) VALUES (?1, ?2)";
    static const char sql_drop[] = "DELETE FROM public_access_blocks WHERE bucket = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_bucket_get(st, bucket, NULL);
    if (ret == STORE_OK)
        ret = flags >= 0 ? store_exec(st, sql_set, "tI", bucket, flags) : store_exec(st, sql_drop, "t", bucket);
    return store_op_end(st, ret);
}

enum store_status store_bucket_acls_drop(struct store *st, const char *bucket)
{
    static const char sql_acl[] = "DELETE FROM bucket_acls WHERE bucket = ?1";
    static const char sql_pab[] = "DELETE FROM public_access_blocks WHERE bucket = ?1";
    enum store_status ret = store_exec(st, sql_acl, "t", bucket);

    if (ret == STORE_OK)
        ret = store_exec(st, sql_pab, "t", bucket);
    return ret;
}

enum store_status store_object_acl_get(struct store *st, const char *bucket, const char *key, const char *version,
                                       char **acl)
{
    static const char sql[] = "SELECT a.acl FROM objects o LEFT JOIN object_acls a ON a.object_id = o.id"
                              " WHERE o.bucket = ?1 AND o.key = ?2 AND o.latest = 1 AND o.marker = 0";
    static const char sql_v[] = "SELECT a.acl FROM objects o LEFT JOIN object_acls a ON a.object_id = o.id"
                                " WHERE o.bucket = ?1 AND o.key = ?2 AND o.version = ?3 AND o.marker = 0";
    sqlite3_stmt *s = NULL;
    enum store_status ret = version ? store_query(st, &s, sql_v, "ttt", bucket, key, version)
                                    : store_query(st, &s, sql, "tt", bucket, key);

    *acl = NULL;
    if (ret == STORE_OK) {
        if (sqlite3_column_type(s, 0) != SQLITE_NULL)
            *acl = store_col_strdup(s, 0);
        sqlite3_reset(s);
    }
    return ret;
}

enum store_status store_object_acl_write(struct store *st, int64_t object_id, const char *acl)
{
    static const char sql_set[] = "INSERT OR REPLACE INTO object_acls(object_id, acl) VALUES (?1, ?2)";
    static const char sql_drop[] = "DELETE FROM object_acls WHERE object_id = ?1";

    return acl != NULL ? store_exec(st, sql_set, "It", object_id, acl) : store_exec(st, sql_drop, "I", object_id);
}

enum store_status store_object_acl_set(struct store *st, const char *bucket, const char *key, const char *version,
                                       const char *acl)
{
    static const char sql[] = "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2 AND latest = 1 AND marker = 0";
    static const char sql_v[] = "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2 AND version = ?3 AND marker = 0";
    int64_t id = 0;
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = version ? store_query(st, &s, sql_v, "ttt", bucket, key, version) : store_query(st, &s, sql, "tt", bucket, key);
    if (ret == STORE_OK) {
        id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        ret = store_object_acl_write(st, id, acl);
    }
    return store_op_end(st, ret);
}

static enum store_row read_bucket_acl(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_bucket_acl *b = row;
    (void)ud;
    b->bucket = store_col_strdup(s, 0);
    b->acl = store_col_strdup(s, 1);
    return STORE_ROW_NEXT;
}

enum store_status store_bucket_acls_list(struct store *st, int64_t skip_flags, size_t max,
                                         struct store_bucket_acl **out, size_t *n)
{
    static const char sql[] = "SELECT a.bucket, a.acl FROM bucket_acls a"
                              " LEFT JOIN public_access_blocks p ON p.bucket = a.bucket"
                              " WHERE coalesce(p.flags, 0) & ?1 = 0 ORDER BY a.bucket";
    struct store_rows r;
    enum store_status ret = store_rows_select(st, &r, sizeof(**out), max, read_bucket_acl, sql, "I", skip_flags);

    *out = r.v;
    *n = r.n;
    return ret;
}

void store_bucket_acls_free(struct store_bucket_acl *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].bucket);
        free(v[i].acl);
    }
    free(v);
}

/* buckets.c — creating, reading and listing buckets (deleting one, with what hangs off it: bucket_delete.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define BUCKET_COLS "name, owner, created_ms, versioning, lock_enabled, lock_mode, lock_days, lock_years"

enum store_status store_bucket_create(struct store *st, const char *name, const char *owner, int64_t now_ms)
{
    static const char sql[] = "INSERT INTO buckets(name, owner, created_ms) VALUES (?1, ?2, ?3)";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_insert(st, sql, "ttI", name, owner, now_ms);
    return store_op_end(st, ret);
}

static void read_bucket(sqlite3_stmt *s, struct store_bucket *b)
{
    memset(b, 0, sizeof *b);
    store_col_text(s, 0, b->name, sizeof b->name);
    store_col_text(s, 1, b->owner, sizeof b->owner);
    b->created_ms = sqlite3_column_int64(s, 2);
    b->versioning = sqlite3_column_int(s, 3);
    b->lock_enabled = sqlite3_column_int(s, 4);
    store_col_text(s, 5, b->lock_mode, sizeof b->lock_mode);
    b->lock_days = sqlite3_column_int(s, 6);
    b->lock_years = sqlite3_column_int(s, 7);
}

void store_bucket_id_of(const struct store_bucket *b, struct store_bucket_id *out)
{
    snprintf(out->owner, sizeof(out->owner), "%s", b->owner);
    out->created_ms = b->created_ms;
}

enum store_status store_bucket_get(struct store *st, const char *name, struct store_bucket *out)
{
    static const char sql[] = "SELECT " BUCKET_COLS " FROM buckets WHERE name = ?1";
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, sql, "t", name);

    if (ret == STORE_OK && out)
        read_bucket(s, out);
    sqlite3_reset(s);
    return ret;
}

static enum store_row read_bucket_row(sqlite3_stmt *s, void *row, void *ud)
{
    (void)ud;
    read_bucket(s, row);
    return STORE_ROW_NEXT;
}

enum store_status store_bucket_list(struct store *st, struct store_bucket **out, size_t *n)
{
    static const char sql[] = "SELECT " BUCKET_COLS " FROM buckets ORDER BY name";
    struct store_rows rows;
    enum store_status ret = store_rows_select(st, &rows, sizeof **out, SIZE_MAX, read_bucket_row, sql, "");

    *out = rows.v;
    *n = rows.n;
    return ret;
}

/* compare.c — two index files compared table by table, row by row (tgs3 fsck's check of the chain).
 *
 * One read-only connection opens a, the other file is attached to it as "other" (read-only too:
 * an attached database takes its connection's flags), and each table of either side but sqlite_*
 * and the ones the caller skips is compared by its primary key (rowid where it declares none):
 * a row whose key is on one side only, or whose values differ, is one difference. The rows are
 * compared by SQL (EXCEPT, which takes NULLs as equal), in key order, so memory stays bounded
 * whatever the size of the tables. A table on one side only, or whose columns differ, is one
 * difference of its own and its rows are not compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define MAX_COLS 64 /* columns of one table */

struct cols {
    int n, n_key;
    char *name[MAX_COLS]; /* sqlite3_mprintf'd */
    int key[MAX_COLS];    /* indexes into name, in primary-key order */
};

static void cols_release(struct cols *c)
{
    for (int i = 0; i < c->n; i++)
        sqlite3_free(c->name[i]);
    memset(c, 0, sizeof(*c));
}

/* table's columns in schema db ("main" or "other"): 0 with c filled (n 0: no such table), or an SQLite code. */
static int cols_read(sqlite3 *db, const char *schema, const char *table, struct cols *c)
{
    static const char sql[] = "SELECT name, pk FROM pragma_table_info(?1, ?2) ORDER BY cid";
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    int pk_of[MAX_COLS] = {0};

    memset(c, 0, sizeof(*c));
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 2, schema, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (c->n == MAX_COLS) {
            rc = SQLITE_TOOBIG;
            break;
        }
        c->name[c->n] = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(s, 0));
        pk_of[c->n] = sqlite3_column_int(s, 1);
        c->n++;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(s);
    /* The key in primary-key order (pk is the column's 1-based position in it). */
    for (int p = 1; rc == SQLITE_OK && p <= c->n; p++)
        for (int i = 0; i < c->n; i++)
            if (pk_of[i] == p)
                c->key[c->n_key++] = i;
    return rc;
}

static int cols_same(const struct cols *a, const struct cols *b)
{
    if (a->n != b->n || a->n_key != b->n_key)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], b->name[i]) != 0)
            return 0;
    for (int i = 0; i < a->n_key; i++)
        if (a->key[i] != b->key[i])
            return 0;
    return 1;
}

/* The key's i-th column as written in SQL ("rowid" for a table that declares no key). */
static const char *key_col(const struct cols *c, int i)
{
    return c->n_key == 0 ? "rowid" : c->name[c->key[i]];
}

static int key_len(const struct cols *c)
{
    return c->n_key == 0 ? 1 : c->n_key;
}

/* The query giving, in key order, each differing row's key as text and its side (0 a, 1 b, 2 both):
 *   SELECT <key text>, side FROM (
 *     SELECT d.k0 AS c0, …, CASE WHEN EXISTS (row of other with that key) THEN 2 ELSE 0 END
 *       FROM (SELECT <k, cols> FROM main.t EXCEPT SELECT <k, cols> FROM other.t) d
 *     UNION ALL
 *     SELECT d.k0, …, 1 FROM (SELECT … FROM other.t EXCEPT SELECT … FROM main.t) d
 *       WHERE NOT EXISTS (row of main with that key)) ORDER BY c0, …  */
static char *diff_sql(const char *table, const struct cols *c)
{
    sqlite3_str *q = sqlite3_str_new(NULL);
    sqlite3_str *sel = sqlite3_str_new(NULL); /* "k0", …, then every column */
    sqlite3_str *match = sqlite3_str_new(NULL); /* x.k0 IS d.k0 AND … */
    int nk = key_len(c);
    char *sel_s, *match_s;

    for (int i = 0; i < nk; i++) {
        sqlite3_str_appendf(sel, "%s\"%w\" AS k%d", i ? ", " : "", key_col(c, i), i);
        sqlite3_str_appendf(match, "%sx.\"%w\" IS d.k%d", i ? " AND " : "", key_col(c, i), i);
    }
    for (int i = 0; i < c->n; i++)
        sqlite3_str_appendf(sel, ", \"%w\"", c->name[i]);
    sel_s = sqlite3_str_finish(sel);
    match_s = sqlite3_str_finish(match);

    sqlite3_str_appendall(q, "SELECT ");
    for (int i = 0; i < nk; i++)
        sqlite3_str_appendf(q, "%s'%q=' || quote(c%d)", i ? " || ', ' || " : "", key_col(c, i), i);
    sqlite3_str_appendall(q, ", side FROM (SELECT ");
    for (int i = 0; i < nk; i++)
        sqlite3_str_appendf(q, "d.k%d AS c%d, ", i, i);
    sqlite3_str_appendf(q,
                        "CASE WHEN EXISTS (SELECT 1 FROM other.\"%w\" AS x WHERE %s) THEN 2 ELSE 0 END AS side"
                        " FROM (SELECT %s FROM main.\"%w\" EXCEPT SELECT %s FROM other.\"%w\") AS d UNION ALL SELECT ",
                        table, match_s, sel_s, table, sel_s, table);
    for (int i = 0; i < nk; i++)
        sqlite3_str_appendf(q, "d.k%d, ", i);
    sqlite3_str_appendf(q,
                        "1 FROM (SELECT %s FROM other.\"%w\" EXCEPT SELECT %s FROM main.\"%w\") AS d"
                        " WHERE NOT EXISTS (SELECT 1 FROM main.\"%w\" AS x WHERE %s)) ORDER BY ",
                        sel_s, table, sel_s, table, table, match_s);
    for (int i = 0; i < nk; i++)
        sqlite3_str_appendf(q, "%sc%d", i ? ", " : "", i);
    sqlite3_free(sel_s);
    sqlite3_free(match_s);
    return sqlite3_str_finish(q);
}

struct cmp {
    sqlite3 *db;
    size_t max;
    store_compare_cb cb;
    void *ud;
    int64_t n;  /* differences found */
};

static void found(struct cmp *x, const char *table, const char *key, enum store_compare_side side)
{
    if ((uint64_t)x->n < (uint64_t)x->max && x->cb != NULL)
        x->cb(x->ud, table, key, side);
    x->n++;
}

/* Compares one table: 0, or an SQLite code. */
static int table_compare(struct cmp *x, const char *table)
{
    struct cols ca, cb;
    sqlite3_stmt *s = NULL;
    char *sql = NULL;
    int rc = cols_read(x->db, "main", table, &ca);

    memset(&cb, 0, sizeof(cb));
    if (rc == SQLITE_OK)
        rc = cols_read(x->db, "other", table, &cb);
    if (rc != SQLITE_OK)
        goto out;
    if (ca.n == 0 || cb.n == 0) {
        found(x, table, NULL, ca.n == 0 ? STORE_CMP_ONLY_B : STORE_CMP_ONLY_A);
        goto out;
    }
    if (!cols_same(&ca, &cb)) {
        found(x, table, NULL, STORE_CMP_SCHEMA);
        goto out;
    }
    sql = diff_sql(table, &ca);
    rc = sqlite3_prepare_v2(x->db, sql, -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int side = sqlite3_column_int(s, 1);
        rc = SQLITE_OK;
        found(x, table, (const char *)sqlite3_column_text(s, 0),
              side == 0 ? STORE_CMP_ONLY_A : side == 1 ? STORE_CMP_ONLY_B : STORE_CMP_DIFFERS);
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:
    sqlite3_finalize(s);
    sqlite3_free(sql);
    cols_release(&ca);
    cols_release(&cb);
    return rc;
}

static int skipped(const char *table, const char *const *skip)
{
    if (sqlite3_strnicmp(table, "sqlite_", 7) == 0)
        return 1;
    for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
        if (sqlite3_stricmp(table, skip[i]) == 0)
            return 1;
    return 0;
}

enum store_status store_compare(const char *a, const char *b, const char *const *skip, size_t max,
                                 store_compare_cb cb, void *ud, int64_t *n_diff, char *err, size_t errcap)
{
    static const char tables[] = "SELECT name FROM main.sqlite_master WHERE type = 'table' UNION"
                                 " SELECT name FROM other.sqlite_master WHERE type = 'table' ORDER BY 1";
    struct store *st = xcalloc(1, sizeof(*st));
    struct cmp x = {.max = max, .cb = cb, .ud = ud};
    sqlite3_stmt *s = NULL, *att = NULL;
    char **names = NULL;
    size_t n_names = 0;
    enum store_status ret = store_connect(st, a, SQLITE_OPEN_READONLY);
    int rc = SQLITE_OK;

    *n_diff = 0;
    if (errcap > 0)
        err[0] = '\0';
    if (ret != STORE_OK)
        goto out;
    x.db = st->db;
    rc = sqlite3_prepare_v2(st->db, "ATTACH DATABASE ?1 AS other", -1, &att, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(att, 1, b, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(att)) == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(att);
    /* Read both sides in one read transaction each: a consistent view, whatever else touches the files. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db, tables, -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        rc = SQLITE_OK;
        if (t == NULL || skipped(t, skip))
            continue;
        names = xrealloc(names, (n_names + 1) * sizeof(*names));
        names[n_names++] = xstrdup(t);
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(s);
    for (size_t i = 0; rc == SQLITE_OK && i < n_names; i++)
        rc = table_compare(&x, names[i]);
    if (rc != SQLITE_OK)
        ret = store_fail(st, rc);
    else
        *n_diff = x.n;
out:
    if (ret != STORE_OK && errcap > 0)
        snprintf(err, errcap, "%s", st->err[0] != '\0' ? st->err : store_status_name(ret));
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    if (st->db != NULL)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    store_close(st);
    return ret;
}

const char *store_compare_side_name(enum store_compare_side side)
{
    switch (side) {
    case STORE_CMP_ONLY_A: return "only in the first";
    case STORE_CMP_ONLY_B: return "only in the second";
    case STORE_CMP_DIFFERS: return "differs";
    case STORE_CMP_SCHEMA: return "columns differ";
    }
    return "?";
}

/* changes.c — the index journal's capture: a session recording the index's changes, changesets taken
 * and applied, and the unjournaled mark.
 *
 * A session (SQLite's session extension) watches every table but meta on the store's connection. It
 * keeps, for each row a write touches, the row's key and its values before the first change, and builds
 * the changeset when taken from those and the row as it is then: a row changed and changed back is no
 * change, and writes rolled back leave nothing. Taking swaps in a fresh session. Applying is strict: the
 * first change that does not fit the target aborts the whole changeset.
 *
 * Writes made through a connection that has no session are invisible to the journal. commit_write
 * (store.c), the one place a write transaction commits, calls store_changes_note, which then records in
 * meta ('journal_unjournaled', ms) when the first of them committed, in the same transaction, so the
 * gateway knows a chain that spans them would not rebuild the index. With a session it notes instead
 * when the first change since the last take committed (an atomic, so the loop can tell how old the
 * oldest change not yet in Telegram is without a store job).
 */
#define SQLITE_ENABLE_SESSION
#define SQLITE_ENABLE_PREUPDATE_HOOK

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

/* meta holds the store's and the journal's own bookkeeping, chain_docs and chain_msgs where the
 * journal itself lives in Telegram (chain.c), sweeps what a recovery left for the stray probe to
 * read (sweep.c); sqlite_* are SQLite's. None is recorded nor applied. */
static int journaled(const char *table)
{
    return sqlite3_stricmp(table, "meta") != 0 && sqlite3_stricmp(table, "chain_docs") != 0 &&
           sqlite3_stricmp(table, "chain_msgs") != 0 && sqlite3_stricmp(table, "sweeps") != 0 &&
           sqlite3_strnicmp(table, "sqlite_", 7) != 0;
}

static int on_session_table(void *ud, const char *table)
{
    (void)ud;
    return journaled(table);
}

/* A session call failed with rc (its text is not always in the connection's error). */
static enum store_status session_fail(struct store *st, int rc, const char *what)
{
    enum store_status ret = store_fail(st, rc);

    snprintf(st->err, sizeof st->err, "%s: %s", what, sqlite3_errstr(rc));
    return ret;
}

/* A new session recording every journaled table of st's main database, into *out. */
static enum store_status session_new(struct store *st, sqlite3_session **out)
{
    int rc = sqlite3session_create(st->db, "main", out);

    if (rc != SQLITE_OK) {
        *out = NULL;
        return session_fail(st, rc, "session");
    }
    sqlite3session_table_filter(*out, on_session_table, NULL);
    rc = sqlite3session_attach(*out, NULL); /* NULL: each table as it is first written */
    if (rc != SQLITE_OK) {
        sqlite3session_delete(*out);
        *out = NULL;
        return session_fail(st, rc, "session");
    }
    return STORE_OK;
}

/* A transaction is open on st: the session must not start or be read now. */
static enum store_status refuse_in_tx(struct store *st, const char *what)
{
    snprintf(st->err, sizeof st->err, "%s inside a transaction", what);
    return STORE_BUSY;
}

enum store_status store_changes_start(struct store *st)
{
    if (st->session != NULL)
        return STORE_OK;
    if (!sqlite3_get_autocommit(st->db))
        return refuse_in_tx(st, "journal started");
    return session_new(st, &st->session);
}

void store_changes_stop(struct store *st)
{
    if (st->session != NULL)
        sqlite3session_delete(st->session);
    st->session = NULL;
}

enum store_status store_changes_take(struct store *st, void **buf, size_t *len)
{
    sqlite3_session *fresh = NULL;
    enum store_status ret;
    void *p = NULL;
    int n = 0, rc;

    *buf = NULL;
    *len = 0;
    ASSERT(st->session != NULL);
    if (!sqlite3_get_autocommit(st->db))
        return refuse_in_tx(st, "changes taken");
    rc = sqlite3session_changeset(st->session, &n, &p);
    if (rc != SQLITE_OK)
        return session_fail(st, rc, "changeset");
    ret = session_new(st, &fresh);
    if (ret != STORE_OK) { /* the running session keeps every change for the next take */
        sqlite3_free(p);
        return ret;
    }
    sqlite3session_delete(st->session);
    st->session = fresh;
    atomic_store(&st->waiting_ms, 0);
    if (n > 0) {
        *buf = p;
        *len = (size_t)n;
    } else {
        sqlite3_free(p);
    }
    return STORE_OK;
}

void store_changes_free(void *buf)
{
    sqlite3_free(buf);
}

/* Failures of the index itself (disk, lock, memory), as opposed to a changeset that does not fit it. */
static int local_failure(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
        return 1;
    default:
        return 0;
    }
}

/* A table of the target, compared column by column with a changeset's table header. */
struct shape {
    const unsigned char *pk; /* the header's primary key flags, one per column */
    int ncol;                /* the header's column count */
    int i;                   /* columns of the target seen */
    int fits, keyed;
};

static enum store_row on_shape_column(sqlite3_stmt *s, void *ud)
{
    struct shape *sh = ud;
    int pk = sqlite3_column_int(s, 0); /* 1-based place in the primary key, 0 when not in it */

    sh->fits = sh->fits && sh->i < sh->ncol && pk == sh->pk[sh->i];
    sh->keyed |= pk != 0;
    sh->i++;
    return STORE_ROW_NEXT;
}

/* STORE_OK when table is one of the index's own journaled tables with ncol columns and primary key pk,
 * as a changeset's header says (SQLite compares the same bytes); else STORE_CONFLICT.
 * sqlite3changeset_apply would skip the changes of any other table without a word. */
static enum store_status table_fits(struct store *st, const char *table, int ncol, const unsigned char *pk)
{
    static const char sql[] = "SELECT pk FROM pragma_table_info(?1, 'main')";
    struct shape sh = {.pk = pk, .ncol = ncol, .fits = journaled(table)};
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, sql, "t", table);

    if (ret == STORE_OK)
        ret = store_rows_each(st, s, on_shape_column, &sh);
    if (ret != STORE_OK || (sh.fits && sh.keyed && sh.i == ncol))
        return ret;
    snprintf(st->err, sizeof st->err, "changeset names table '%.100s' with %d columns, which the index has not",
             table, ncol);
    return STORE_CONFLICT;
}

/* Reads a varint (SQLite's: 7 bits a byte, big end first, the 9th byte whole) at *at of p[0 .. len). */
static int read_varint(const unsigned char *p, size_t len, size_t *at, uint64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < 9 && *at < len; i++) {
        unsigned char c = p[(*at)++];
        if (i == 8) {
            *out = v << 8 | c;
            return 1;
        }
        v = v << 7 | (c & 0x7f);
        if (!(c & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Steps over one value of a record (a type byte, then 8 bytes or a length and that many bytes): its
 * type (0: not in the record), or -1 when it is bad or cut short. */
static int skip_value(const unsigned char *p, size_t len, size_t *at)
{
    uint64_t n = 0;
    int type;

    if (*at >= len)
        return -1;
    type = p[(*at)++];
    switch (type) {
    case 0:
    case SQLITE_NULL:
        return type;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        n = 8;
        break;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
        if (!read_varint(p, len, at, &n))
            return -1;
        break;
    default:
        return -1;
    }
    if (n > len - *at)
        return -1;
    *at += n;
    return type;
}

/* Steps over the records of one change (at its first value) if they hold what a session writes: an
 * insert every new value, a delete every old one, an update the old key and no new key, and old and
 * new values of the same other columns, at least one. (SQLite 3.40 reads a key value that is absent
 * through a NULL pointer.) */
static int skip_change(const unsigned char *p, size_t len, size_t *at, int op, const unsigned char *pk,
                       uint64_t ncol)
{
    size_t old = *at;
    int changed = 0;

    for (uint64_t i = 0; i < ncol; i++) {
        int type = skip_value(p, len, at);
        if (type < 0 || (type == 0 && (op != SQLITE_UPDATE || pk[i])))
            return 0;
    }
    for (uint64_t i = 0; op == SQLITE_UPDATE && i < ncol; i++) {
        int was = skip_value(p, len, &old), now = skip_value(p, len, at);
        if (now < 0 || (now != 0) != (!pk[i] && was != 0))
            return 0;
        changed |= now != 0;
    }
    return op != SQLITE_UPDATE || changed;
}

/* Walks the changeset's bytes before SQLite reads them or anything is written: every table header
 * ('T', column count, a primary key byte per column, a NUL-terminated name) whole and naming a table
 * that fits (table_fits), every change (operation, indirect flag, one record or, for an update, two)
 * whole and as skip_change wants it. SQLite 3.40's reader trusts the framing: a header cut before its
 * name's NUL makes sqlite3changeset_next loop for ever, and it reads varints past the end. Patchsets
 * are refused. */
static enum store_status check_changeset(struct store *st, const unsigned char *p, size_t len)
{
    const unsigned char *pk = NULL;
    const char *why = NULL;
    size_t at = 0;
    uint64_t ncol = 0, n;

    while (at < len && why == NULL) {
        unsigned char op = p[at++];
        const unsigned char *nul;
        if (op == 'T') {
            if (!read_varint(p, len, &at, &n) || n < 1 || n > 65536 || n >= len - at) {
                why = "a bad or cut table header";
                break;
            }
            ncol = n;
            pk = p + at;
            at += ncol;
            nul = memchr(p + at, 0, len - at);
            if (nul == NULL) {
                why = "a table name cut short";
                break;
            }
            enum store_status ret = table_fits(st, (const char *)(p + at), (int)ncol, pk);
            if (ret != STORE_OK)
                return ret;
            at = (size_t)(nul - p) + 1;
            continue;
        }
        if (ncol == 0 || (op != SQLITE_INSERT && op != SQLITE_DELETE && op != SQLITE_UPDATE)) {
            why = op == 'P' ? "a patchset" : "a bad change";
            break;
        }
        if (at == len) {
            why = "a change cut short";
            break;
        }
        at++; /* the indirect flag */
        if (!skip_change(p, len, &at, op, pk, ncol))
            why = "a bad or cut change";
    }
    if (why == NULL)
        return STORE_OK;
    snprintf(st->err, sizeof st->err, "not a changeset: %s at byte %zu", why, at);
    return STORE_CONFLICT;
}

/* What the conflict handler saw: the first change that did not fit ends the apply. */
struct apply {
    struct store *st;
    int conflict;
};

static const char *conflict_name(int type)
{
    switch (type) {
    case SQLITE_CHANGESET_DATA: return "the row differs from the changeset's old values";
    case SQLITE_CHANGESET_NOTFOUND: return "no such row";
    case SQLITE_CHANGESET_CONFLICT: return "the row exists";
    case SQLITE_CHANGESET_CONSTRAINT: return "a constraint fails";
    case SQLITE_CHANGESET_FOREIGN_KEY: return "foreign keys fail";
    }
    return "conflict";
}

static int on_conflict(void *ud, int type, sqlite3_changeset_iter *it)
{
    struct apply *a = ud;
    const char *table = NULL;
    int ncol = 0, op = 0;

    if (type != SQLITE_CHANGESET_FOREIGN_KEY) /* that one's iterator holds no change */
        (void)sqlite3changeset_op(it, &table, &ncol, &op, NULL);
    snprintf(a->st->err, sizeof a->st->err, "changeset does not apply: %s in table '%.100s': %s",
             op == SQLITE_INSERT ? "insert" : op == SQLITE_DELETE ? "delete" : "update", table ? table : "?",
             conflict_name(type));
    a->conflict = 1;
    return SQLITE_CHANGESET_ABORT;
}

enum store_status store_changes_apply(struct store *st, const void *buf, size_t len)
{
    struct apply a = {.st = st};
    enum store_status ret;
    int rc;

    if (len == 0)
        return STORE_OK;
    if (len > INT_MAX) {
        snprintf(st->err, sizeof st->err, "changeset of %zu bytes: too large", len);
        return STORE_CONFLICT;
    }
    ret = store_op_begin(st);
    if (ret != STORE_OK)
        return ret;
    ret = check_changeset(st, buf, len);
    if (ret == STORE_OK) {
        rc = sqlite3changeset_apply(st->db, (int)len, (void *)buf, NULL, on_conflict, &a);
        if (a.conflict) {
            ret = STORE_CONFLICT; /* the handler said which change */
        } else if (rc != SQLITE_OK && local_failure(rc)) {
            ret = session_fail(st, rc, "changeset apply");
        } else if (rc != SQLITE_OK) {
            snprintf(st->err, sizeof st->err, "changeset does not apply: %s", sqlite3_errstr(rc));
            ret = STORE_CONFLICT;
        }
    }
    return store_op_end(st, ret);
}

enum store_status store_changes_note(struct store *st)
{
    static const char sql[] = "INSERT OR IGNORE INTO meta(k, v) VALUES ('journal_unjournaled', ?1)";

    if (st->session != NULL) {
        if (atomic_load(&st->waiting_ms) == 0 && !sqlite3session_isempty(st->session))
            atomic_store(&st->waiting_ms, mono_ms());
        return STORE_OK;
    }
    if ((int64_t)sqlite3_total_changes64(st->db) == st->tx_changes)
        return STORE_OK;
    return store_exec(st, sql, "I", now_ms());
}

int64_t store_changes_waiting(struct store *st)
{
    return atomic_load(&st->waiting_ms);
}

enum store_status store_changes_unjournaled(struct store *st, int64_t *since_ms)
{
    static const char sql[] = "SELECT coalesce((SELECT v FROM meta WHERE k = 'journal_unjournaled'), 0)";

    *since_ms = 0;
    return store_scalars(st, since_ms, 1, sql, "");
}

enum store_status store_changes_clear_unjournaled(struct store *st)
{
    static const char sql[] = "DELETE FROM meta WHERE k = 'journal_unjournaled'";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "");
    if (ret == STORE_OK) /* not a change the mark is about: the commit must not set it again */
        st->tx_changes += (int64_t)sqlite3_changes64(st->db);
    return store_op_end(st, ret);
}

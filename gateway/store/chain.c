/* chain.c — the index's own chain in Telegram (gateway/safety/chain.h): which documents it holds, where.
 *
 * chain_docs has one row per document of a chain (seq 0 the manifest, < 0 the
 * snapshot's blocks, > 0 journal documents) with its encoded ref;
 * chain_msgs one row per message those documents occupy, so the stray probe
 * knows them and a new chain can queue the old one's for deletion. Neither
 * table, nor meta, is in the journal (store/changes.c leaves them out): the
 * chain describes the journal, it is not part of it. The chain's position
 * lives in meta: chain_id, chain_at, chain_seq, chain_bytes (journal bytes
 * since its snapshot) and chain_clean (1 after a clean shutdown).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

static enum store_status meta_set(struct store *st, const char *k, int64_t v)
{
    return store_exec(st, "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)", "tI", k, v);
}

static int64_t meta_int(struct store *st, const char *k, int64_t dflt)
{
    sqlite3_stmt *s = NULL;
    int64_t v = dflt;
    if (store_query(st, &s, "SELECT v FROM meta WHERE k = ?1", "t", k) == STORE_OK) {
        v = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    return v;
}

/* A transaction of several store calls (theirs become savepoints): the caller's, or one begun here. */
static enum store_status tx_begin(struct store *st, int *own)
{
    *own = !st->explicit_tx;
    return *own ? store_tx_begin(st) : STORE_OK;
}

static enum store_status tx_end(struct store *st, int own, enum store_status ret)
{
    if (!own)
        return ret;
    if (ret == STORE_OK)
        return store_tx_commit(st);
    store_tx_rollback(st);
    return ret;
}

enum store_status store_chain_get(struct store *st, struct store_chain *out)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_query(st, &s, "SELECT v FROM meta WHERE k = 'chain_id'", "");

    memset(out, 0, sizeof(*out));
    if (ret == STORE_NOT_FOUND)
        return STORE_OK;
    if (ret != STORE_OK)
        return ret;
    if (sqlite3_column_bytes(s, 0) == STORE_CHAIN_ID_LEN) {
        memcpy(out->chain, sqlite3_column_blob(s, 0), STORE_CHAIN_ID_LEN);
        out->have = 1;
    }
    sqlite3_reset(s);
    out->chain_at = meta_int(st, "chain_at", 0);
    out->seq = meta_int(st, "chain_seq", 0);
    out->bytes = meta_int(st, "chain_bytes", 0);
    out->clean = (int)meta_int(st, "chain_clean", 0);
    return STORE_OK;
}

enum store_status store_chain_set_clean(struct store *st, int clean)
{
    enum store_status ret = store_op_begin(st);
    if (ret == STORE_OK)
        ret = meta_set(st, "chain_clean", clean);
    return store_op_end(st, ret);
}

enum store_status store_chain_add(struct store *st, const struct store_chain_doc *d, int64_t now_ms)
{
    static const char sql_doc[] = "INSERT OR REPLACE INTO chain_docs(chain, seq, ref, posted_ms) VALUES (?1, ?2, ?3, ?4)";
    static const char sql_msg[] = "INSERT OR REPLACE INTO chain_msgs(chat_id, message_id, bot_id, chain, seq, posted_ms)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    int own;
    enum store_status ret = tx_begin(st, &own);

    if (ret == STORE_OK)
        ret = store_exec(st, sql_doc, "bIbI", d->chain, STORE_CHAIN_ID_LEN, d->seq, d->ref, (int)d->ref_len, now_ms);
    for (int i = 0; ret == STORE_OK && i < d->n_msgs; i++)
        ret = store_exec(st, sql_msg, "IIIbII", d->msgs[i].chat_id, d->msgs[i].message_id, d->msgs[i].bot_id, d->chain,
                         STORE_CHAIN_ID_LEN, d->seq, now_ms);
    for (int i = 0; ret == STORE_OK && i < d->n_keys; i++)
        ret = store_inflight_end(st, d->keys[i], 1, now_ms);
    if (ret == STORE_OK && d->seq > 0) {
        ret = meta_set(st, "chain_seq", d->seq);
        if (ret == STORE_OK)
            ret = meta_set(st, "chain_bytes", meta_int(st, "chain_bytes", 0) + (int64_t)d->bytes);
    }
    return tx_end(st, own, ret);
}

enum store_status store_chain_begin(struct store *st, const unsigned char *chain, int64_t chain_at, int64_t now_ms)
{
    static const char sql_old[] = "SELECT chat_id, message_id, bot_id, posted_ms FROM chain_msgs WHERE chain != ?1";
    sqlite3_stmt *s = NULL;
    struct store_pin legacy;
    int own;
    enum store_status ret = tx_begin(st, &own);

    if (ret == STORE_OK)
        ret = store_prep(st, &s, sql_old, "b", chain, STORE_CHAIN_ID_LEN);
    while (ret == STORE_OK) { /* the old chains: every message goes to the delete queue */
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = store_fail(st, rc);
            break;
        }
        ret = store_gc_add(st, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
                           sqlite3_column_int64(s, 3), now_ms + st->gc_grace_ms);
    }
    if (s != NULL)
        sqlite3_reset(s);
    if (ret == STORE_OK)
        ret = store_exec(st, "DELETE FROM chain_msgs WHERE chain != ?1", "b", chain, STORE_CHAIN_ID_LEN);
    if (ret == STORE_OK)
        ret = store_exec(st, "DELETE FROM chain_docs WHERE chain != ?1", "b", chain, STORE_CHAIN_ID_LEN);
    /* The single pinned snapshot of earlier versions. */
    if (ret == STORE_OK && store_query(st, &s, "SELECT v FROM meta WHERE k = 'last_snapshot'", "") == STORE_OK) {
        store_pin_read(s, 0, &legacy);
        sqlite3_reset(s);
        if (legacy.message_id != 0)
            ret = store_gc_add(st, legacy.chat_id, legacy.message_id, legacy.bot_id, legacy.posted_ms,
                               now_ms + st->gc_grace_ms);
        if (ret == STORE_OK)
            ret = store_exec(st, "DELETE FROM meta WHERE k = 'last_snapshot'", "");
    }
    if (ret == STORE_OK)
        ret = store_exec(st, "INSERT OR REPLACE INTO meta(k, v) VALUES ('chain_id', ?1)", "b", chain,
                         STORE_CHAIN_ID_LEN);
    if (ret == STORE_OK)
        ret = meta_set(st, "chain_at", chain_at);
    if (ret == STORE_OK)
        ret = meta_set(st, "chain_seq", 0);
    if (ret == STORE_OK)
        ret = meta_set(st, "chain_bytes", 0);
    if (ret == STORE_OK)
        ret = store_changes_clear_unjournaled(st);
    return tx_end(st, own, ret);
}

static enum store_row read_ref(sqlite3_stmt *s, void *row, void *ud)
{
    struct store_chain_ref *r = row;
    (void)ud;
    r->seq = sqlite3_column_int64(s, 0);
    r->len = (size_t)sqlite3_column_bytes(s, 1);
    r->ref = xmalloc(r->len ? r->len : 1);
    if (r->len)
        memcpy(r->ref, sqlite3_column_blob(s, 1), r->len);
    return STORE_ROW_NEXT;
}

static void release_ref(void *row)
{
    free(((struct store_chain_ref *)row)->ref);
}

enum store_status store_chain_refs(struct store *st, const unsigned char *chain, int64_t lo, int64_t hi, size_t max,
                                   struct store_chain_ref **out, size_t *n)
{
    static const char sql[] = "SELECT seq, ref FROM chain_docs WHERE chain = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq"
                              " LIMIT ?4";
    sqlite3_stmt *s = NULL;
    struct store_rows rows = {0};
    enum store_status ret = store_prep(st, &s, sql, "bIII", chain, STORE_CHAIN_ID_LEN, lo, hi, store_limit(max));

    if (ret == STORE_OK)
        ret = store_rows_read(st, s, sizeof(struct store_chain_ref), max, read_ref, release_ref, NULL, &rows);
    *out = rows.v;
    *n = rows.n;
    return ret;
}

void store_chain_refs_free(struct store_chain_ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].ref);
    free(v);
}

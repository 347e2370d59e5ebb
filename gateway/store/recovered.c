/* recovered.c — an index rebuilt from Telegram (tgs3 recover) loses what only the lost disk held.
 *
 * A pack of small objects is a block row with chat_id 0 until it is posted
 * (store/strays.c, engine/pack.c): its bytes were in DATA_DIR/spool. An index
 * recovered from its chain may name such packs; the objects and multipart
 * parts with an extent in one cannot be read, so they go, whole: every
 * extent, the references they held on posted blocks (a block left with none
 * goes to the delete queue as usual), and the unposted block rows with what
 * hangs off them (compaction's copies into them too: their objects were
 * never repointed and stay in the posted pack). One transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

#define UNPOSTED "SELECT id FROM blocks WHERE chat_id = 0"
#define DOOMED_OBJECTS "SELECT object_id FROM extents WHERE block_id IN (" UNPOSTED ")"
#define DOOMED_PARTS "SELECT upload_id, part_number FROM part_extents WHERE block_id IN (" UNPOSTED ")"

/* Gathers the references the rows of sql (block_id, count) hold on posted blocks. */
static enum store_status refs_of(struct store *st, const char *sql, struct store_refs *out)
{
    sqlite3_stmt *s = NULL;
    enum store_status ret = store_prep(st, &s, sql, "");

    if (ret == STORE_OK)
        ret = store_refs_collect(st, s, out);
    return ret;
}

enum store_status store_drop_unposted(struct store *st, int64_t now_ms, int64_t *objects, int64_t *parts,
                                      int64_t *blocks)
{
    static const char sql_obj_refs[] = "SELECT block_id, count(*) FROM extents WHERE object_id IN (" DOOMED_OBJECTS
                                       ") AND block_id NOT IN (" UNPOSTED ") GROUP BY block_id";
    static const char sql_obj_del[] = "DELETE FROM objects WHERE id IN (" DOOMED_OBJECTS ")";
    static const char sql_acl_del[] = "DELETE FROM object_acls WHERE object_id IN (" DOOMED_OBJECTS ")";
    static const char sql_ext_del[] = "DELETE FROM extents WHERE object_id IN (" DOOMED_OBJECTS ")";
    static const char sql_part_refs[] = "SELECT block_id, count(*) FROM part_extents"
                                        " WHERE (upload_id, part_number) IN (" DOOMED_PARTS ")"
                                        " AND block_id NOT IN (" UNPOSTED ") GROUP BY block_id";
    static const char sql_part_del[] = "DELETE FROM parts WHERE (upload_id, part_number) IN (" DOOMED_PARTS ")";
    static const char sql_pext_del[] = "DELETE FROM part_extents WHERE (upload_id, part_number) IN (" DOOMED_PARTS ")";
    static const char sql_files_del[] = "DELETE FROM block_files WHERE block_id IN (" UNPOSTED ")";
    static const char sql_shards_del[] = "DELETE FROM shards WHERE block_id IN (" UNPOSTED ")";
    static const char sql_stripes_del[] = "DELETE FROM stripes WHERE block_id IN (" UNPOSTED ")";
    static const char sql_repairs_del[] = "DELETE FROM repairs WHERE block_id IN (" UNPOSTED ")";
    static const char sql_moves_del[] = "DELETE FROM pack_moves WHERE new_block IN (" UNPOSTED ")";
    static const char sql_blocks_del[] = "DELETE FROM blocks WHERE chat_id = 0";
    struct store_refs orefs = {0}, prefs = {0};
    int64_t n_obj = 0, n_part = 0, n_blk = 0;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    /* The references first: the deletions below remove the rows that say which. */
    ret = refs_of(st, sql_obj_refs, &orefs);
    if (ret == STORE_OK)
        ret = refs_of(st, sql_part_refs, &prefs);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_acl_del, "");
    if (ret == STORE_OK)
        ret = store_exec(st, sql_obj_del, "");
    if (ret == STORE_OK) {
        n_obj = (int64_t)sqlite3_changes64(st->db);
        ret = store_exec(st, sql_ext_del, "");
    }
    if (ret == STORE_OK && n_obj > 0) /* a key whose latest version went: the next newest is */
        ret = store_versions_relatest(st, NULL, NULL);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_part_del, "");
    if (ret == STORE_OK) {
        n_part = (int64_t)sqlite3_changes64(st->db);
        ret = store_exec(st, sql_pext_del, "");
    }
    if (ret == STORE_OK)
        ret = store_refs_drop(st, &orefs, now_ms);
    if (ret == STORE_OK)
        ret = store_refs_drop(st, &prefs, now_ms);
    if (ret == STORE_OK)
        ret = store_exec(st, sql_files_del, "");
    if (ret == STORE_OK)
        ret = store_exec(st, sql_shards_del, "");
    if (ret == STORE_OK)
        ret = store_exec(st, sql_stripes_del, "");
    if (ret == STORE_OK)
        ret = store_exec(st, sql_repairs_del, "");
    if (ret == STORE_OK) /* compaction's copies into a lost pack: the objects stay where they were */
        ret = store_exec(st, sql_moves_del, "");
    if (ret == STORE_OK) {
        ret = store_exec(st, sql_blocks_del, "");
        n_blk = (int64_t)sqlite3_changes64(st->db);
    }
    store_refs_release(&orefs);
    store_refs_release(&prefs);
    ret = store_op_end(st, ret);
    *objects = ret == STORE_OK ? n_obj : 0;
    *parts = ret == STORE_OK ? n_part : 0;
    *blocks = ret == STORE_OK ? n_blk : 0;
    return ret;
}

/* checksums.c — the checksums of multipart uploads: an upload's algorithm and
 * type (x-amz-checksum-algorithm, x-amz-checksum-type), each part's verified
 * checksum. A completed object keeps its own in its meta_json. */
#include "gateway/store/store_int.h"

enum store_status store_upload_checksum_set(struct store *st, const char *id, const char *alg, const char *type)
{
    static const char sql[] = "UPDATE uploads SET ck_alg = ?2, ck_type = ?3 WHERE id = ?1";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "ttt", id, alg, type);
    if (ret == STORE_OK && sqlite3_changes(st->db) == 0)
        ret = STORE_NOT_FOUND;
    return store_op_end(st, ret);
}

enum store_status store_part_checksum_set(struct store *st, const char *upload_id, int part_number,
                                          const char *alg, const char *value)
{
    static const char sql[] = "UPDATE parts SET ck_alg = ?3, ck_value = ?4 WHERE upload_id = ?1 AND part_number = ?2";
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_exec(st, sql, "titt", upload_id, part_number, alg, value);
    if (ret == STORE_OK && sqlite3_changes(st->db) == 0)
        ret = STORE_NOT_FOUND;
    return store_op_end(st, ret);
}

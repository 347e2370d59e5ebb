/* bucket_delete.c — deleting a bucket and everything that hangs off it, in one transaction: its
 * unfinished multipart uploads (aborted, their blocks to the delete queue), its completed-upload
 * records, its ACL and public access block, its CORS rules. A bucket holding objects is not empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_bucket_delete(struct store *st, const char *name)
{
    static const char sql_used[] = "SELECT EXISTS(SELECT 1 FROM objects WHERE bucket = ?1)";
    static const char sql_del[] = "DELETE FROM buckets WHERE name = ?1";
    static const char sql_completed[] = "DELETE FROM completed_uploads WHERE bucket = ?1";
    int64_t used = 0;
    enum store_status ret = store_op_begin(st);

    if (ret != STORE_OK)
        return ret;
    ret = store_scalars(st, &used, 1, sql_used, "t", name);
    if (ret == STORE_OK && used)
        ret = STORE_NOT_EMPTY;
    /* S3 deletes a bucket that holds only unfinished multipart uploads,
     * aborting them: their parts' blocks go to the delete queue. */
    if (ret == STORE_OK)
        ret = store_bucket_uploads_remove(st, name, now_ms());
    /* Its completed uploads can no longer be retried (completed.c). */
    if (ret == STORE_OK)
        ret = store_exec(st, sql_completed, "t", name);
    if (ret == STORE_OK)
        ret = store_exec_found(st, sql_del, "t", name);
    if (ret == STORE_OK)
        ret = store_bucket_acls_drop(st, name);
    if (ret == STORE_OK) /* its CORS rules (cors.c) */
        ret = store_exec(st, "DELETE FROM bucket_cors WHERE bucket = ?1", "t", name);
    if (ret == STORE_OK) /* its lifecycle rules (lifecycle.c) */
        ret = store_exec(st, "DELETE FROM bucket_lifecycle WHERE bucket = ?1", "t", name);
    return store_op_end(st, ret);
}

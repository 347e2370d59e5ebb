/* test_store_cors.c — buckets' CORS configurations in the index (gateway/store/cors.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char db_path[256];

static void test_cors(void)
{
    struct store *st = check_store_fresh(db_path);
    char *xml = NULL;

    CHECK_ST(store_cors_put(st, "b", "<CORSConfiguration/>"), STORE_NOT_FOUND); /* no such bucket */
    CHECK_ST(store_bucket_create(st, "b", "AK", 1), STORE_OK);
    CHECK_ST(store_cors_get(st, "b", &xml), STORE_NOT_FOUND);
    CHECK(xml == NULL);
    CHECK_ST(store_cors_put(st, "b", "<one/>"), STORE_OK);
    CHECK_ST(store_cors_get(st, "b", &xml), STORE_OK);
    CHECK_STR(xml, "<one/>");
    free(xml);
    CHECK_ST(store_cors_put(st, "b", "<two/>"), STORE_OK); /* replaces */
    CHECK_ST(store_cors_get(st, "b", &xml), STORE_OK);
    CHECK_STR(xml, "<two/>");
    free(xml);
    CHECK_ST(store_cors_delete(st, "b"), STORE_OK);
    CHECK_ST(store_cors_get(st, "b", &xml), STORE_NOT_FOUND);
    CHECK_ST(store_cors_delete(st, "b"), STORE_OK); /* none: still fine */

    /* The rules go with their bucket: one created again under the name has none. */
    CHECK_ST(store_cors_put(st, "b", "<three/>"), STORE_OK);
    CHECK_ST(store_bucket_delete(st, "b"), STORE_OK);
    CHECK_ST(store_bucket_create(st, "b", "AK", 2), STORE_OK);
    CHECK_ST(store_cors_get(st, "b", &xml), STORE_NOT_FOUND);

    /* Inside a caller's transaction, undone with it. */
    CHECK_ST(store_tx_begin(st), STORE_OK);
    CHECK_ST(store_cors_put(st, "b", "<four/>"), STORE_OK);
    store_tx_rollback(st);
    CHECK_ST(store_cors_get(st, "b", &xml), STORE_NOT_FOUND);
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/test_store_cors_%ld.db", (long)getpid());
    test_cors();
    check_db_remove(db_path);
    return check_summary();
}

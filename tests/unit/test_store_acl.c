/* test_store_acl.c — buckets' and objects' ACLs and public access blocks in the index
 * (gateway/store/acl.c): an object's ACL is replaced by an overwrite and goes with the object,
 * a bucket's ACL and block go with the bucket, the public-write listing skips blocked buckets. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/store/store.h"
#include "tests/unit/check.h"
#include "tests/unit/check_store.h"

static char db_path[64];

/* The object's ACL text, "-" when it has none, "?" when the object is missing. */
static const char *object_acl(struct store *st, const char *bucket, const char *key)
{
    static char out[256];
    char *acl = NULL;
    enum store_status s = store_object_acl_get(st, bucket, key, NULL, &acl);
    snprintf(out, sizeof out, "%s", s == STORE_NOT_FOUND ? "?" : acl ? acl : "-");
    free(acl);
    return out;
}

static enum store_status put_with_acl(struct store *st, const char *bucket, const char *key, int64_t block,
                                      const char *acl)
{
    struct store_extent ext;
    struct store_object o;
    memset(&o, 0, sizeof o);
    memset(&ext, 0, sizeof ext);
    snprintf(o.bucket, sizeof o.bucket, "%s", bucket);
    o.key = (char *)key;
    o.size = 10;
    snprintf(o.etag, sizeof o.etag, "d41d8cd98f00b204e9800998ecf8427e");
    o.mtime_ms = 1;
    o.meta_json = (char *)"{}";
    o.acl = acl;
    ext.block_id = block;
    ext.length = 10;
    o.extents = &ext;
    o.n_extents = 1;
    return store_object_put(st, &o);
}

static void test_objects(void)
{
    struct store *st = check_store_fresh(db_path);
    int64_t blk = check_block_add(st, 1, 1, 1000);
    CHECK_ST(store_bucket_create(st, "b", "AKA", 1), STORE_OK);
    CHECK_ST(put_with_acl(st, "b", "k", blk, "owner AKA\nREAD AllUsers\n"), STORE_OK);
    CHECK_STR(object_acl(st, "b", "k"), "owner AKA\nREAD AllUsers\n");
    CHECK_ST(put_with_acl(st, "b", "k", blk, NULL), STORE_OK); /* overwrite: the request's ACL, none */
    CHECK_STR(object_acl(st, "b", "k"), "-");
    CHECK_ST(store_object_acl_set(st, "b", "k", NULL, "owner AKB\n"), STORE_OK);
    CHECK_STR(object_acl(st, "b", "k"), "owner AKB\n");
    CHECK_ST(store_object_acl_set(st, "b", "nope", NULL, "owner AKB\n"), STORE_NOT_FOUND);
    CHECK_STR(object_acl(st, "b", "nope"), "?");
    CHECK_ST(store_object_delete(st, "b", "k"), STORE_OK);
    CHECK_STR(object_acl(st, "b", "k"), "?");
    /* A new object (which may get the old row id) starts without the old ACL. */
    CHECK_ST(put_with_acl(st, "b", "k2", check_block_add(st, 2, 2, 1000), NULL), STORE_OK);
    CHECK_STR(object_acl(st, "b", "k2"), "-");
    store_close(st);
}

static void test_buckets(void)
{
    struct store *st = check_store_fresh(db_path);
    char *acl = NULL;
    int64_t flags = 0;
    CHECK_ST(store_bucket_create_acl(st, "pub", "AKA", 1, "owner AKA\nWRITE AllUsers\n"), STORE_OK);
    CHECK_ST(store_bucket_create_acl(st, "pub", "AKB", 1, NULL), STORE_EXISTS);
    CHECK_ST(store_bucket_create_acl(st, "blocked", "AKA", 1, "owner AKA\nWRITE AllUsers\n"), STORE_OK);
    CHECK_ST(store_bucket_create(st, "plain", "AKA", 1), STORE_OK);
    CHECK_ST(store_bucket_acl_get(st, "pub", &acl), STORE_OK);
    CHECK(acl != NULL && !strcmp(acl, "owner AKA\nWRITE AllUsers\n"));
    free(acl);
    CHECK_ST(store_bucket_acl_get(st, "plain", &acl), STORE_OK);
    CHECK(acl == NULL);
    CHECK_ST(store_bucket_acl_set(st, "nope", "owner X\n"), STORE_NOT_FOUND);
    CHECK_ST(store_pab_get(st, "pub", &flags), STORE_NOT_FOUND);
    CHECK(flags == -1);
    CHECK_ST(store_pab_set(st, "blocked", 3), STORE_OK);
    CHECK_ST(store_pab_get(st, "blocked", &flags), STORE_OK);
    CHECK(flags == 3);
    CHECK_ST(store_pab_set(st, "nope", 1), STORE_NOT_FOUND);
    struct store_bucket_acl *v = NULL;
    size_t n = 0;
    CHECK_ST(store_bucket_acls_list(st, 2, 100, &v, &n), STORE_OK); /* skips IgnorePublicAcls (2) */
    CHECK(n == 1 && !strcmp(v[0].bucket, "pub"));
    store_bucket_acls_free(v, n);
    CHECK_ST(store_bucket_acls_list(st, 0, 100, &v, &n), STORE_OK);
    CHECK(n == 2 && !strcmp(v[0].bucket, "blocked") && !strcmp(v[1].bucket, "pub"));
    store_bucket_acls_free(v, n);
    /* Deleted with its bucket: the name comes back private and unblocked. */
    CHECK_ST(store_bucket_delete(st, "blocked"), STORE_OK);
    CHECK_ST(store_bucket_create(st, "blocked", "AKB", 2), STORE_OK);
    CHECK_ST(store_bucket_acl_get(st, "blocked", &acl), STORE_OK);
    CHECK(acl == NULL);
    CHECK_ST(store_pab_get(st, "blocked", &flags), STORE_NOT_FOUND);
    CHECK_ST(store_pab_set(st, "pub", -1), STORE_OK);
    CHECK_ST(store_bucket_acl_set(st, "pub", NULL), STORE_OK);
    CHECK_ST(store_bucket_acls_list(st, 0, 100, &v, &n), STORE_OK);
    CHECK(n == 0);
    store_bucket_acls_free(v, n);
    store_close(st);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/test_store_acl_%ld.db", (long)getpid());
    test_objects();
    test_buckets();
    check_db_remove(db_path);
    return check_summary();
}

/* test_gw_meta.c — meta_json edits behind CopyObject, tagging and checksums (gateway/meta.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

static int passed, failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                                     \
        }                                                                                                              \
    } while (0)

static int has(const char *json, const char *needle)
{
    return json != NULL && strstr(json, needle) != NULL;
}

static void test_copy(void)
{
    const char *src = "{\"ct\":\"text/plain\",\"h\":{\"cache-control\":\"no-cache\"},\"m\":{\"a\":\"1\"},"
                      "\"parts\":[5,1],\"tags\":[[\"k\",\"v\"]],\"ck\":{\"alg\":\"crc32\",\"v\":\"AAAAAA==\"}}";
    const char *req = "{\"ct\":\"image/png\",\"h\":{},\"m\":{\"b\":\"2\"},\"tags\":[[\"n\",\"m\"]]}";
    char *c = gw_meta_copy(src, req, 0, 0);
    CHECK(has(c, "text/plain") && has(c, "\"a\":\"1\"") && has(c, "[\"k\",\"v\"]") && has(c, "\"parts\":[5,1]") &&
          has(c, "crc32"));
    free(c);
    c = gw_meta_copy(src, req, 1, 0);
    CHECK(has(c, "image/png") && has(c, "\"b\":\"2\"") && !has(c, "\"a\":\"1\"") && !has(c, "no-cache"));
    CHECK(has(c, "[\"k\",\"v\"]") && has(c, "\"parts\":[5,1]") && has(c, "crc32"));
    free(c);
    c = gw_meta_copy(src, req, 0, 1);
    CHECK(has(c, "text/plain") && has(c, "[\"n\",\"m\"]") && !has(c, "[\"k\",\"v\"]"));
    free(c);
    c = gw_meta_copy(src, "{\"ct\":\"x/y\"}", 1, 1);
    CHECK(has(c, "x/y") && !has(c, "tags") && !has(c, "\"m\"") && has(c, "parts"));
    free(c);
    c = gw_meta_copy(NULL, NULL, 1, 1);
    CHECK(c != NULL && !strcmp(c, "{}"));
    free(c);
    c = gw_meta_copy("not json", "[1]", 0, 0);
    CHECK(c != NULL && !strcmp(c, "{}"));
    free(c);
}

static void test_tags(void)
{
    struct s3_tag t[3] = {{"a", "1"}, {"b c", "d\"e"}, {"é", ""}};
    struct s3_tag got[S3_MAX_TAGS];
    char *m = gw_meta_set_tags("{\"ct\":\"a/b\"}", t, 3);
    CHECK(has(m, "a/b"));
    CHECK(gw_meta_get_tags(m, got, S3_MAX_TAGS) == 3);
    CHECK(!strcmp(got[0].key, "a") && !strcmp(got[1].key, "b c") && !strcmp(got[1].value, "d\"e"));
    CHECK(!strcmp(got[2].key, "é") && got[2].value[0] == '\0');
    CHECK(gw_meta_get_tags(m, got, 2) == 2);
    char *m2 = gw_meta_set_tags(m, NULL, 0);
    CHECK(!has(m2, "tags") && has(m2, "a/b") && gw_meta_get_tags(m2, got, S3_MAX_TAGS) == 0);
    free(m);
    free(m2);
    CHECK(gw_meta_get_tags(NULL, got, S3_MAX_TAGS) == 0);
    CHECK(gw_meta_get_tags("{\"tags\":[[1,2],\"x\",[\"k\"]]}", got, S3_MAX_TAGS) == 0);
}

static void test_checksum(void)
{
    char *m = gw_meta_set_checksum("{\"ct\":\"a/b\"}", "sha256", "abc=");
    CHECK(has(m, "\"ck\":{\"alg\":\"sha256\",\"v\":\"abc=\"}") && has(m, "a/b"));
    char *m2 = gw_meta_set_checksum(m, "crc32", "x");
    CHECK(has(m2, "crc32") && !has(m2, "sha256"));
    free(m);
    free(m2);
}

int main(void)
{
    test_copy();
    test_tags();
    test_checksum();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

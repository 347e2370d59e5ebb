/* test_s3_copy.c — x-amz-copy-source, copy ranges, copy-source conditions, conditional writes,
 * the x-amz-tagging header (s3/copy.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"
#include "tests/unit/check.h"

static enum s3_err source(const char *v, char *bucket, char **key)
{
    return s3_copy_source_parse(v, strlen(v), bucket, key);
}

static void test_source(void)
{
    char b[S3_MAX_BUCKET_LEN + 1];
    char *k = NULL;
    CHECK(source("bucket/dir%20x/big%2Bfile.bin", b, &k) == S3E_OK && !strcmp(b, "bucket") &&
          !strcmp(k, "dir x/big+file.bin"));
    free(k);
    CHECK(source("/bucket/a+b", b, &k) == S3E_OK && !strcmp(b, "bucket") && !strcmp(k, "a+b"));
    free(k);
    CHECK(source("bucket/key?versionId=null", b, &k) == S3E_OK && !strcmp(k, "key"));
    free(k);
    CHECK(source("bucket/what%3F/x", b, &k) == S3E_OK && !strcmp(k, "what?/x"));
    free(k);
    CHECK(source("bucket/caf%C3%A9//trailing/", b, &k) == S3E_OK && !strcmp(k, "caf\xc3\xa9//trailing/"));
    free(k);
    CHECK(source("bucket", b, &k) == S3E_INVALID_ARGUMENT && k == NULL);
    CHECK(source("bucket/", b, &k) == S3E_INVALID_ARGUMENT && k == NULL);
    CHECK(source("/key-without-bucket", b, &k) == S3E_INVALID_ARGUMENT);
    CHECK(source("", b, &k) == S3E_INVALID_ARGUMENT);
    CHECK(source("b/%zz", b, &k) == S3E_INVALID_ARGUMENT);
    CHECK(source("b/%00", b, &k) == S3E_INVALID_ARGUMENT);
    /* A key that is not UTF-8 cannot exist (routing refuses it). */
    CHECK(source("b/a%FF%FEb", b, &k) == S3E_INVALID_ARGUMENT && k == NULL);
    CHECK(source("b/caf%E9", b, &k) == S3E_INVALID_ARGUMENT && k == NULL);
    char *longk = malloc(1100);
    memcpy(longk, "b/", 2);
    memset(longk + 2, 'k', 1025);
    longk[1027] = '\0';
    CHECK(source(longk, b, &k) == S3E_KEY_TOO_LONG && k == NULL);
    longk[1026] = '\0';
    CHECK(source(longk, b, &k) == S3E_OK && strlen(k) == 1024);
    free(k);
    free(longk);
}

static void test_range(void)
{
    uint64_t f = 0, l = 0;
    CHECK(s3_copy_range_parse("bytes=0-9", 9, 10, &f, &l) == S3E_OK && f == 0 && l == 9);
    CHECK(s3_copy_range_parse("bytes=5-5", 9, 10, &f, &l) == S3E_OK && f == 5 && l == 5);
    CHECK(s3_copy_range_parse("bytes=0-10", 10, 10, &f, &l) == S3E_INVALID_ARGUMENT);
    CHECK(s3_copy_range_parse("bytes=5-4", 9, 10, &f, &l) == S3E_INVALID_ARGUMENT);
    CHECK(s3_copy_range_parse("bytes=5-", 8, 10, &f, &l) == S3E_INVALID_ARGUMENT);
    CHECK(s3_copy_range_parse("bytes=-5", 8, 10, &f, &l) == S3E_INVALID_ARGUMENT);
    CHECK(s3_copy_range_parse("0-5", 3, 10, &f, &l) == S3E_INVALID_ARGUMENT);
    CHECK(s3_copy_range_parse("bytes=a-5", 9, 10, &f, &l) == S3E_INVALID_ARGUMENT);
    CHECK(s3_copy_range_parse("bytes=0-0", 9, 0, &f, &l) == S3E_INVALID_ARGUMENT);
}

static struct s3_request req_with(const char *method, struct s3_header *h, size_t n)
{
    struct s3_request r = {method, strlen(method), "/b/k", 4, NULL, 0, h, n};
    return r;
}

static struct s3_header hdr(const char *n, const char *v)
{
    struct s3_header h = {n, strlen(n), v, strlen(v)};
    return h;
}

static void test_copy_conditions(void)
{
    const char *e = "0cc175b9c0f1b6a831c399e269772661";
    int64_t m = 784111777000; /* Sun, 06 Nov 1994 08:49:37 GMT */
    struct s3_header h[2];
    struct s3_request r;
    r = req_with("PUT", h, 0);
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_OK);
    h[0] = hdr("x-amz-copy-source-if-match", "\"0cc175b9c0f1b6a831c399e269772661\"");
    r = req_with("PUT", h, 1);
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_OK);
    h[0] = hdr("x-amz-copy-source-if-match", "\"other\"");
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_PRECONDITION_FAILED);
    h[0] = hdr("x-amz-copy-source-if-none-match", e);
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_PRECONDITION_FAILED);
    h[0] = hdr("x-amz-copy-source-if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_PRECONDITION_FAILED);
    h[0] = hdr("x-amz-copy-source-if-modified-since", "Sun, 06 Nov 1994 08:49:36 GMT");
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_OK);
    h[0] = hdr("x-amz-copy-source-if-unmodified-since", "Sun, 06 Nov 1994 08:49:36 GMT");
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_PRECONDITION_FAILED);
    /* AWS: if-match true + if-unmodified-since false → copy. */
    h[0] = hdr("x-amz-copy-source-if-match", e);
    h[1] = hdr("x-amz-copy-source-if-unmodified-since", "Sun, 06 Nov 1994 08:49:36 GMT");
    r = req_with("PUT", h, 2);
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_OK);
    /* AWS: if-none-match false + if-modified-since true → 412. */
    h[0] = hdr("x-amz-copy-source-if-none-match", e);
    h[1] = hdr("x-amz-copy-source-if-modified-since", "Sun, 06 Nov 1994 08:49:36 GMT");
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_PRECONDITION_FAILED);
    /* Plain If-* headers belong to the destination, not the source. */
    h[0] = hdr("if-match", "\"other\"");
    r = req_with("PUT", h, 1);
    CHECK(s3_copy_conditions_check(&r, e, m) == S3E_OK);
}

static void test_write_conditions(void)
{
    const char *e = "0cc175b9c0f1b6a831c399e269772661";
    struct s3_header h[2];
    struct s3_request r = req_with("PUT", h, 0);
    CHECK(s3_write_conditions_check(&r, 1, e) == S3E_OK);
    h[0] = hdr("if-none-match", "*");
    r = req_with("PUT", h, 1);
    CHECK(s3_write_conditions_check(&r, 0, NULL) == S3E_OK);
    CHECK(s3_write_conditions_check(&r, 1, e) == S3E_PRECONDITION_FAILED);
    h[0] = hdr("if-none-match", " * ");
    CHECK(s3_write_conditions_check(&r, 1, e) == S3E_PRECONDITION_FAILED);
    h[0] = hdr("if-none-match", "\"abc\"");
    CHECK(s3_write_conditions_check(&r, 0, NULL) == S3E_NOT_IMPLEMENTED);
    h[0] = hdr("if-match", "\"0cc175b9c0f1b6a831c399e269772661\"");
    CHECK(s3_write_conditions_check(&r, 1, e) == S3E_OK);
    CHECK(s3_write_conditions_check(&r, 0, NULL) == S3E_NO_SUCH_KEY);
    h[0] = hdr("if-match", "\"x\", \"0cc175b9c0f1b6a831c399e269772661\"");
    CHECK(s3_write_conditions_check(&r, 1, e) == S3E_OK);
    h[0] = hdr("if-match", "\"x\"");
    CHECK(s3_write_conditions_check(&r, 1, e) == S3E_PRECONDITION_FAILED);
}

static void test_tagging(void)
{
    struct s3_tag t[S3_MAX_TAGS];
    size_t n = 99;
    CHECK(s3_tagging_parse_query("", 0, t, S3_MAX_TAGS, &n) == S3E_OK && n == 0);
    const char *q = "a=1&b=two+words&c%2Fd=e%26f&empty=&bare";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_OK && n == 5);
    CHECK(!strcmp(t[0].key, "a") && !strcmp(t[0].value, "1"));
    CHECK(!strcmp(t[1].value, "two words"));
    CHECK(!strcmp(t[2].key, "c/d") && !strcmp(t[2].value, "e&f"));
    CHECK(!strcmp(t[3].key, "empty") && t[3].value[0] == '\0');
    CHECK(!strcmp(t[4].key, "bare") && t[4].value[0] == '\0');
    q = "a=1&a=2";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    q = "=v";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    q = "k=%zz";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    q = "k=%4";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    /* Tags come back in XML: not UTF-8, or not XML 1.0 characters, is refused. */
    q = "k=caf%E9";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    q = "%FF=v";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    q = "k=a%01b";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    q = "k=caf%C3%A9";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_OK && !strcmp(t[0].value, "caf\xc3\xa9"));
    q = "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11";
    CHECK(s3_tagging_parse_query(q, strlen(q), t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    char big[400];
    memset(big, 'v', sizeof(big));
    memcpy(big, "k=", 2);
    CHECK(s3_tagging_parse_query(big, 2 + 256, t, S3_MAX_TAGS, &n) == S3E_OK && strlen(t[0].value) == 256);
    CHECK(s3_tagging_parse_query(big, 2 + 257, t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
    memset(big, 'k', 129);
    big[129] = '=';
    CHECK(s3_tagging_parse_query(big, 128, t, S3_MAX_TAGS, &n) == S3E_OK && strlen(t[0].key) == 128);
    CHECK(s3_tagging_parse_query(big, 129, t, S3_MAX_TAGS, &n) == S3E_INVALID_TAG);
}

static void test_errors(void)
{
    CHECK(s3_err_status(S3E_INVALID_TAG) == 400 && !strcmp(s3_err_code(S3E_INVALID_TAG), "InvalidTag"));
    CHECK(s3_err_status(S3E_COPY_TO_ITSELF) == 400 && !strcmp(s3_err_code(S3E_COPY_TO_ITSELF), "InvalidRequest"));
}

int main(void)
{
    test_source();
    test_range();
    test_copy_conditions();
    test_write_conditions();
    test_tagging();
    test_errors();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

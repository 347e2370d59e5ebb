/* test_gw_meta.c — meta_json from request headers and back to response headers, and the edits
 * behind CopyObject, tagging and checksums (gateway/http/meta.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "tests/unit/check.h"

static int has(const char *json, const char *needle)
{
    return json != NULL && strstr(json, needle) != NULL;
}

/* The value of response header name, or NULL. */
static const char *resp_header(h2o_req_t *req, const char *name, size_t *len)
{
    for (size_t i = 0; i < req->res.headers.size; i++) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        if (h->name->len == strlen(name) && memcmp(h->name->base, name, h->name->len) == 0) {
            *len = h->value.len;
            return h->value.base;
        }
    }
    return NULL;
}

static int resp_is(h2o_req_t *req, const char *name, const char *want)
{
    size_t len = 0;
    const char *v = resp_header(req, name, &len);
    int ok = v != NULL && len == strlen(want) && memcmp(v, want, len) == 0;
    if (!ok)
        printf("  %s: got '%.*s', want '%s'\n", name, (int)len, v ? v : "", want);
    return ok;
}

/* Values that are not ASCII, or not UTF-8, are stored and come back RFC 2047-encoded (S3,
 * "User-defined object metadata"); nothing is dropped. */
static void test_request_round_trip(void)
{
    char long_name[11 + 300 + 1] = "x-amz-meta-";
    memset(long_name + 11, 'n', 300);
    long_name[311] = '\0';
    struct s3_header hdrs[] = {
        {"x-amz-meta-city", 15, "caf\xe9", 4}, /* ISO-8859-1 byte */
        {"X-Amz-Meta-Utf8", 15, "caf\xc3\xa9", 5},
        {"x-amz-meta-ascii", 16, "plain\tvalue", 11},
        {"x-amz-meta-dup", 14, "a", 1},
        {"X-Amz-Meta-Dup", 14, "b", 1},
        {long_name, 311, "v", 1},
        {"Content-Type", 12, "text/plain; x=caf\xe9", 0},
        {"content-disposition", 19, "attachment; filename=\"\xe9t\xe9.txt\"", 0},
        {"cache-control", 13, "no-cache", 8},
    };
    for (size_t i = 0; i < ARRAY_SIZE(hdrs); i++)
        hdrs[i].value_len = strlen(hdrs[i].value);
    struct gw_req r;
    memset(&r, 0, sizeof(r));
    r.s3.headers = hdrs;
    r.s3.n_headers = ARRAY_SIZE(hdrs);
    char *m = gw_meta_from_request(&r);
    CHECK(has(m, "\"city\":\"caf\xc3\xa9\"")); /* stored as UTF-8 */
    CHECK(has(m, "\"utf8\":\"caf\xc3\xa9\""));
    CHECK(has(m, "\"ct\":\"text/plain; x=caf\xc3\xa9\""));
    CHECK(has(m, "\"content-disposition\":\"attachment; filename=\\\"\xc3\xa9t\xc3\xa9.txt\\\"\""));
    CHECK(has(m, "\"dup\":\"a,b\""));

    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    r.req = &req;
    gw_meta_to_response(&r, m);
    CHECK(resp_is(&req, "x-amz-meta-city", "=?UTF-8?B?Y2Fmw6k=?="));
    CHECK(resp_is(&req, "x-amz-meta-utf8", "=?UTF-8?B?Y2Fmw6k=?="));
    CHECK(resp_is(&req, "x-amz-meta-ascii", "plain\tvalue"));
    CHECK(resp_is(&req, "x-amz-meta-dup", "a,b"));
    char long_resp[311 + 1];
    memcpy(long_resp, long_name, sizeof(long_resp));
    CHECK(resp_is(&req, long_resp, "v"));
    CHECK(resp_is(&req, "content-type", "=?UTF-8?B?dGV4dC9wbGFpbjsgeD1jYWbDqQ==?="));
    CHECK(resp_is(&req, "content-disposition", "=?UTF-8?B?YXR0YWNobWVudDsgZmlsZW5hbWU9IsOpdMOpLnR4dCI=?="));
    CHECK(resp_is(&req, "cache-control", "no-cache"));
    int all_ok = 1;
    for (size_t i = 0; i < req.res.headers.size; i++)
        all_ok &= s3_header_value_ok(req.res.headers.entries[i].value.base, req.res.headers.entries[i].value.len);
    CHECK(all_ok && req.res.headers.size == 8);
    h2o_mem_clear_pool(&req.pool);
    free(m);

    /* A value stored with a control byte (by an older version) still goes out safely. */
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    gw_meta_to_response(&r, "{\"ct\":\"a\\r\\nSet-Cookie: x\",\"m\":{\"k\":\"v\\n\"}}");
    CHECK(resp_is(&req, "content-type", "=?UTF-8?B?YQ0KU2V0LUNvb2tpZTogeA==?="));
    CHECK(resp_is(&req, "x-amz-meta-k", "=?UTF-8?B?dgo=?="));
    h2o_mem_clear_pool(&req.pool);
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    gw_meta_to_response(&r, NULL);
    CHECK(resp_is(&req, "content-type", "binary/octet-stream"));
    h2o_mem_clear_pool(&req.pool);
}

/* aws-chunked is framing, never the stored Content-Encoding. */
static int stored_encoding_is(const char *sent, const char *want)
{
    struct s3_header h = {"Content-Encoding", 16, sent, strlen(sent)};
    struct gw_req r;
    memset(&r, 0, sizeof(r));
    r.s3.headers = &h;
    r.s3.n_headers = 1;
    char *m = gw_meta_from_request(&r);
    char exp[128];
    int ok;
    if (want == NULL) {
        ok = !has(m, "content-encoding");
    } else {
        snprintf(exp, sizeof(exp), "\"content-encoding\":\"%s\"", want);
        ok = has(m, exp);
    }
    if (!ok)
        printf("stored %s for Content-Encoding \"%s\"\n", m, sent);
    free(m);
    return ok;
}

static void test_aws_chunked_encoding(void)
{
    CHECK(stored_encoding_is("aws-chunked", NULL));
    CHECK(stored_encoding_is("AWS-Chunked", NULL));
    CHECK(stored_encoding_is(" aws-chunked ,", NULL));
    CHECK(stored_encoding_is("gzip, aws-chunked", "gzip"));
    CHECK(stored_encoding_is("gzip,aws-chunked", "gzip"));
    CHECK(stored_encoding_is("aws-chunked,gzip", "gzip"));
    CHECK(stored_encoding_is("aws-chunked, gzip, br", "gzip, br"));
    CHECK(stored_encoding_is("gzip,br", "gzip,br"));
    CHECK(stored_encoding_is("gzip", "gzip"));
    CHECK(stored_encoding_is("x-aws-chunked", "x-aws-chunked"));
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
    test_request_round_trip();
    test_aws_chunked_encoding();
    test_copy();
    test_tags();
    test_checksum();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

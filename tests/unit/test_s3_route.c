/* test_s3_route.c — method + path + query + headers → operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"
#include "tests/unit/check.h"

/* Routes one request; checks op, error, bucket and key (NULL = no key). */
static void rt(int line, const char *method, const char *path, const char *query, const char *copy_src,
               enum s3_err want_err, enum s3_op want_op, const char *bucket, const char *key)
{
    struct s3_header h[2] = {{"Host", 4, "localhost:9000", 14}, {"X-Amz-Copy-Source", 17, copy_src, 0}};
    if (copy_src)
        h[1].value_len = strlen(copy_src);
    struct s3_request r = {method, strlen(method), path, strlen(path), query, query ? strlen(query) : 0, h,
                           copy_src ? 2u : 1u};
    struct s3_route rt_;
    enum s3_err e = s3_route_parse(&r, NULL, &rt_);
    int ok = e == want_err && rt_.op == want_op;
    if (ok && want_err == S3E_OK) {
        ok = strcmp(rt_.bucket, bucket) == 0 && ((key == NULL && rt_.key == NULL) ||
                                                 (key && rt_.key && strcmp(key, rt_.key) == 0));
    }
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL line %d: %s %s?%s -> err %s op %s bucket '%s' key '%s'\n", line, method, path,
               query ? query : "", s3_err_code(e), s3_op_name(rt_.op), rt_.bucket, rt_.key ? rt_.key : "(null)");
    }
    s3_route_release(&rt_);
}

#define OK(m, p, q, op, b, k) rt(__LINE__, m, p, q, NULL, S3E_OK, op, b, k)
#define OKC(m, p, q, op, b, k) rt(__LINE__, m, p, q, "src/key", S3E_OK, op, b, k)
#define ERR(m, p, q, e) rt(__LINE__, m, p, q, NULL, e, S3_OP_UNKNOWN, NULL, NULL)

static void test_table(void)
{
    OK("GET", "/", NULL, S3_OP_LIST_BUCKETS, "", NULL);
    OK("GET", "", NULL, S3_OP_LIST_BUCKETS, "", NULL);
    ERR("PUT", "/", NULL, S3E_METHOD_NOT_ALLOWED);
    ERR("PATCH", "/b/k", NULL, S3E_METHOD_NOT_ALLOWED);
    ERR("OPTIONS", "/", NULL, S3E_METHOD_NOT_ALLOWED);
    OK("OPTIONS", "/b", NULL, S3_OP_CORS_PREFLIGHT, "b", NULL);
    OK("OPTIONS", "/b/k/x", "uploads", S3_OP_CORS_PREFLIGHT, "b", "k/x");
    ERR("TRACE", "/b", NULL, S3E_METHOD_NOT_ALLOWED);

    OK("PUT", "/bucket", NULL, S3_OP_CREATE_BUCKET, "bucket", NULL);
    OK("PUT", "/bucket/", NULL, S3_OP_CREATE_BUCKET, "bucket", NULL);
    ERR("PUT", "/Bucket", NULL, S3E_INVALID_BUCKET_NAME);
    ERR("PUT", "/ab", NULL, S3E_INVALID_BUCKET_NAME);
    ERR("PUT", "/192.168.1.1", NULL, S3E_INVALID_BUCKET_NAME);
    OK("HEAD", "/Bucket", NULL, S3_OP_HEAD_BUCKET, "Bucket", NULL);
    OK("DELETE", "/bucket", NULL, S3_OP_DELETE_BUCKET, "bucket", NULL);
    OK("HEAD", "/bucket", NULL, S3_OP_HEAD_BUCKET, "bucket", NULL);
    OK("GET", "/bucket/", "location=", S3_OP_GET_BUCKET_LOCATION, "bucket", NULL);
    OK("GET", "/bucket/", "location", S3_OP_GET_BUCKET_LOCATION, "bucket", NULL);
    OK("GET", "/bucket", "versioning=", S3_OP_GET_BUCKET_VERSIONING, "bucket", NULL);
    OK("GET", "/bucket", "acl", S3_OP_GET_BUCKET_ACL, "bucket", NULL);
    OK("GET", "/bucket", "tagging", S3_OP_GET_BUCKET_TAGGING, "bucket", NULL);
    OK("GET", "/bucket", "uploads", S3_OP_LIST_MULTIPART_UPLOADS, "bucket", NULL);
    OK("GET", "/bucket", "versions", S3_OP_LIST_OBJECT_VERSIONS, "bucket", NULL);
    OK("GET", "/bucket", "delimiter=&max-keys=1000&prefix=", S3_OP_LIST_OBJECTS, "bucket", NULL);
    OK("GET", "/bucket/",
       "delimiter=%2F&encoding-type=url&fetch-owner=true&list-type=2&prefix=repo%2Fkeys%2F",
       S3_OP_LIST_OBJECTS_V2, "bucket", NULL);
    OK("GET", "/bucket", "list-type=1", S3_OP_LIST_OBJECTS, "bucket", NULL);
    OK("POST", "/bucket", "delete", S3_OP_DELETE_OBJECTS, "bucket", NULL);
    OK("POST", "/bucket", "delete=", S3_OP_DELETE_OBJECTS, "bucket", NULL);
    OK("POST", "/bucket", NULL, S3_OP_POST_OBJECT, "bucket", NULL); /* a browser form upload */
    /* s3cmd info probes: never a listing. */
    OK("GET", "/bucket/", "requestPayment", S3_OP_NOT_IMPLEMENTED, "bucket", NULL);
    OK("GET", "/bucket/", "lifecycle", S3_OP_GET_BUCKET_LIFECYCLE, "bucket", NULL);
    OK("GET", "/bucket/", "policy", S3_OP_NOT_IMPLEMENTED, "bucket", NULL);
    OK("GET", "/bucket/", "cors", S3_OP_GET_BUCKET_CORS, "bucket", NULL);
    OK("PUT", "/bucket", "cors", S3_OP_PUT_BUCKET_CORS, "bucket", NULL);
    OK("GET", "/bucket/key", "cors", S3_OP_NOT_IMPLEMENTED, "bucket", "key");
    OK("PUT", "/bucket", "versioning", S3_OP_PUT_BUCKET_VERSIONING, "bucket", NULL);
    OK("DELETE", "/bucket", "cors", S3_OP_DELETE_BUCKET_CORS, "bucket", NULL);
    OK("GET", "/bucket", "object-lock", S3_OP_GET_OBJECT_LOCK_CONFIGURATION, "bucket", NULL);

    OK("PUT", "/b/k", NULL, S3_OP_PUT_OBJECT, "b", "k");
    OK("PUT", "/b/k", "x-id=PutObject", S3_OP_PUT_OBJECT, "b", "k");
    OKC("PUT", "/b/k", NULL, S3_OP_COPY_OBJECT, "b", "k");
    OK("PUT", "/b/k", "partNumber=1&uploadId=abc", S3_OP_UPLOAD_PART, "b", "k");
    OKC("PUT", "/b/k", "partNumber=1&uploadId=abc", S3_OP_UPLOAD_PART_COPY, "b", "k");
    OK("PUT", "/b/k", "tagging", S3_OP_PUT_OBJECT_TAGGING, "b", "k");
    OK("PUT", "/b/k", "acl", S3_OP_PUT_OBJECT_ACL, "b", "k");
    OK("PUT", "/b/k", "retention", S3_OP_PUT_OBJECT_RETENTION, "b", "k");
    OK("GET", "/b/k", NULL, S3_OP_GET_OBJECT, "b", "k");
    OK("GET", "/b/k", "response-content-type=text%2Fplain", S3_OP_GET_OBJECT, "b", "k");
    OK("GET", "/b/k", "tagging", S3_OP_GET_OBJECT_TAGGING, "b", "k");
    OK("GET", "/b/k", "acl", S3_OP_GET_OBJECT_ACL, "b", "k");
    OK("GET", "/b/k", "uploadId=abc", S3_OP_LIST_PARTS, "b", "k");
    OK("GET", "/b/k", "torrent", S3_OP_NOT_IMPLEMENTED, "b", "k");
    OK("GET", "/b/k", "attributes", S3_OP_GET_OBJECT_ATTRIBUTES, "b", "k");
    OK("GET", "/b/k", "attributes=", S3_OP_GET_OBJECT_ATTRIBUTES, "b", "k");
    OK("HEAD", "/b/k", NULL, S3_OP_HEAD_OBJECT, "b", "k");
    OK("DELETE", "/b/k", NULL, S3_OP_DELETE_OBJECT, "b", "k");
    OK("DELETE", "/b/k", "uploadId=abc", S3_OP_ABORT_MULTIPART_UPLOAD, "b", "k");
    OK("DELETE", "/b/k", "tagging", S3_OP_DELETE_OBJECT_TAGGING, "b", "k");
    OK("POST", "/b/k", "uploads", S3_OP_CREATE_MULTIPART_UPLOAD, "b", "k");
    OK("POST", "/b/k", "uploads=", S3_OP_CREATE_MULTIPART_UPLOAD, "b", "k");
    OK("POST", "/b/k", "uploadId=abc", S3_OP_COMPLETE_MULTIPART_UPLOAD, "b", "k");
    OK("POST", "/b/k", "restore", S3_OP_NOT_IMPLEMENTED, "b", "k");
    OK("POST", "/b/k", "select&select-type=2", S3_OP_NOT_IMPLEMENTED, "b", "k");

    /* A sub-resource the router does not know is 501, never the object or a listing. */
    OK("GET", "/b/k", "renameObject", S3_OP_NOT_IMPLEMENTED, "b", "k");
    OK("GET", "/b/k", "no-such-thing", S3_OP_NOT_IMPLEMENTED, "b", "k");
    OK("HEAD", "/b/k", "frobnicate=1", S3_OP_NOT_IMPLEMENTED, "b", "k");
    OK("GET", "/b", "renameObject", S3_OP_NOT_IMPLEMENTED, "b", NULL);
    OK("GET", "/b", "prefix=a&metadataTable", S3_OP_NOT_IMPLEMENTED, "b", NULL);
    OK("PUT", "/b/k", "unknownThing", S3_OP_NOT_IMPLEMENTED, "b", "k");
    OK("DELETE", "/b/k", "session", S3_OP_NOT_IMPLEMENTED, "b", "k");
    OK("GET", "/", "policyStatus", S3_OP_NOT_IMPLEMENTED, "", NULL);
    /* What operations read, and what clients add, still route as before. */
    OK("GET", "/b/k", "x-id=GetObject&response-content-disposition=a&versionId=null&partNumber=1",
       S3_OP_GET_OBJECT, "b", "k");
    OK("HEAD", "/b/k", "partNumber=2&versionId=null", S3_OP_HEAD_OBJECT, "b", "k");
    OK("GET", "/b/k",
       "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=b&X-Amz-Expires=60&"
       "X-Amz-SignedHeaders=host&X-Amz-Signature=c&x-amz-security-token=t",
       S3_OP_GET_OBJECT, "b", "k");
    OK("GET", "/b/k", "AWSAccessKeyId=a&Expires=1&Signature=s", S3_OP_GET_OBJECT, "b", "k");
    OK("GET", "/b",
       "prefix=a&delimiter=%2F&marker=m&max-keys=5&encoding-type=url", S3_OP_LIST_OBJECTS, "b", NULL);
    OK("GET", "/b",
       "list-type=2&continuation-token=x&start-after=a&fetch-owner=true&x-id=ListObjectsV2",
       S3_OP_LIST_OBJECTS_V2, "b", NULL);
    OK("GET", "/b", "uploads&key-marker=a&upload-id-marker=b&max-uploads=3&prefix=p&delimiter=%2F",
       S3_OP_LIST_MULTIPART_UPLOADS, "b", NULL);
    OK("GET", "/b", "versions&key-marker=a&version-id-marker=b&max-keys=3", S3_OP_LIST_OBJECT_VERSIONS, "b",
       NULL);
    OK("GET", "/b/k", "uploadId=u&part-number-marker=2&max-parts=3", S3_OP_LIST_PARTS, "b", "k");
    OK("GET", "/", "max-buckets=5&continuation-token=t&prefix=p&bucket-region=us-east-1&x-id=ListBuckets",
       S3_OP_LIST_BUCKETS, "", NULL);
    OK("DELETE", "/b/k", "x-id=DeleteObject&versionId=null", S3_OP_DELETE_OBJECT, "b", "k");
    OK("POST", "/b", "delete&x-id=DeleteObjects", S3_OP_DELETE_OBJECTS, "b", NULL);
    OK("PUT", "/b/k", "partNumber=1&uploadId=abc&x-id=UploadPart", S3_OP_UPLOAD_PART, "b", "k");
    OK("POST", "/b/k", "uploads&x-id=CreateMultipartUpload", S3_OP_CREATE_MULTIPART_UPLOAD, "b", "k");
}

static void test_keys(void)
{
    OK("GET", "/b/dir%20x/big%2Bfile.bin", NULL, S3_OP_GET_OBJECT, "b", "dir x/big+file.bin");
    OK("GET", "/b/a+b", NULL, S3_OP_GET_OBJECT, "b", "a+b");
    OK("GET", "/b/a//b/", NULL, S3_OP_GET_OBJECT, "b", "a//b/");
    OK("GET", "/b//", NULL, S3_OP_GET_OBJECT, "b", "/");
    OK("GET", "/b/%C3%A9%26%22", NULL, S3_OP_GET_OBJECT, "b", "\xc3\xa9&\"");
    ERR("GET", "/b/a%zz", NULL, S3E_INVALID_ARGUMENT);
    ERR("GET", "/b/a%00b", NULL, S3E_INVALID_ARGUMENT);
    ERR("GET", "//k", NULL, S3E_INVALID_BUCKET_NAME);

    char path[4000];
    strcpy(path, "/b/");
    memset(path + 3, 'k', 1024);
    path[3 + 1024] = '\0';
    struct s3_header h = {"Host", 4, "x", 1};
    struct s3_request r = {"GET", 3, path, strlen(path), NULL, 0, &h, 1};
    struct s3_route rt_;
    CHECK(s3_route_parse(&r, NULL, &rt_) == S3E_OK && rt_.key && strlen(rt_.key) == 1024);
    s3_route_release(&rt_);
    path[3 + 1024] = 'k';
    path[3 + 1025] = '\0';
    r.path_len = strlen(path);
    CHECK(s3_route_parse(&r, NULL, &rt_) == S3E_KEY_TOO_LONG && rt_.op == S3_OP_UNKNOWN);
    s3_route_release(&rt_);
    /* 1024 decoded bytes from a longer raw form are fine. */
    strcpy(path, "/b/");
    for (int i = 0; i < 1024; i++)
        memcpy(path + 3 + 3 * i, "%41", 3);
    path[3 + 3 * 1024] = '\0';
    r.path_len = strlen(path);
    CHECK(s3_route_parse(&r, NULL, &rt_) == S3E_OK);
    s3_route_release(&rt_);
    /* Bucket name too long. */
    char lb[80] = "/";
    memset(lb + 1, 'a', 64);
    lb[65] = '\0';
    r.path = lb;
    r.path_len = strlen(lb);
    CHECK(s3_route_parse(&r, NULL, &rt_) == S3E_INVALID_BUCKET_NAME);
    s3_route_release(&rt_);
}

static void test_params(void)
{
    struct s3_header h = {"Host", 4, "x", 1};
    const char *q = "prefix=a%20b%2Bc+d&delimiter=&uploads&max-keys=10";
    struct s3_request r = {"GET", 3, "/b", 2, q, strlen(q), &h, 1};
    struct s3_route rt_;
    CHECK(s3_route_parse(&r, NULL, &rt_) == S3E_OK);
    CHECK(rt_.op == S3_OP_LIST_MULTIPART_UPLOADS);
    CHECK(s3_route_param(&rt_, "prefix") && strcmp(s3_route_param(&rt_, "prefix"), "a b+c+d") == 0);
    CHECK(s3_route_param(&rt_, "delimiter") && strcmp(s3_route_param(&rt_, "delimiter"), "") == 0);
    CHECK(s3_route_param(&rt_, "uploads") && strcmp(s3_route_param(&rt_, "uploads"), "") == 0);
    CHECK(s3_route_param(&rt_, "marker") == NULL);
    s3_route_release(&rt_);

    /* Too many parameters. */
    char big[2048] = "";
    for (int i = 0; i < 70; i++) {
        char one[16];
        snprintf(one, sizeof(one), "p%d=1&", i);
        strcat(big, one);
    }
    r.query = big;
    r.query_len = strlen(big);
    CHECK(s3_route_parse(&r, NULL, &rt_) == S3E_INVALID_ARGUMENT);
    s3_route_release(&rt_);
    r.query = "a=%G1";
    r.query_len = 5;
    CHECK(s3_route_parse(&r, NULL, &rt_) == S3E_INVALID_ARGUMENT);
    s3_route_release(&rt_);
}

/* Keys and query values that are not UTF-8: 400 InvalidURI, as S3 answers. */
static void test_utf8(void)
{
    ERR("PUT", "/bkt/a%FF%FEb", NULL, S3E_INVALID_URI);
    ERR("GET", "/bkt/a%FF%FEb", NULL, S3E_INVALID_URI);
    ERR("HEAD", "/bkt/caf%E9", NULL, S3E_INVALID_URI);
    ERR("POST", "/bkt/caf%E9", "uploads", S3E_INVALID_URI);
    ERR("PUT", "/bkt/%ED%A0%80", NULL, S3E_INVALID_URI); /* a UTF-16 surrogate */
    ERR("PUT", "/bkt/%C0%AF", NULL, S3E_INVALID_URI);    /* overlong */
    /* A key stored before the rule can still be deleted. */
    OK("DELETE", "/bkt/a%FF%FEb", NULL, S3_OP_DELETE_OBJECT, "bkt", "a\xff\xfe" "b");
    OK("PUT", "/bkt/caf%C3%A9", NULL, S3_OP_PUT_OBJECT, "bkt", "caf\xc3\xa9");
    ERR("GET", "/bkt", "prefix=%FF", S3E_INVALID_URI);
    ERR("GET", "/bkt", "list-type=2&start-after=a%E9", S3E_INVALID_URI);
    ERR("GET", "/bkt", "marker=%FE", S3E_INVALID_URI);
    ERR("GET", "/bkt", "versions&key-marker=%C3", S3E_INVALID_URI);
    ERR("GET", "/bkt", "delimiter=%80", S3E_INVALID_URI);
    ERR("GET", "/bkt", "%FF=1", S3E_INVALID_URI);
    OK("GET", "/bkt", "prefix=caf%C3%A9&delimiter=%2F", S3_OP_LIST_OBJECTS, "bkt", NULL);

    /* Keys XML 1.0 cannot carry are not created; existing ones stay readable. */
    ERR("PUT", "/bkt/a%01b", NULL, S3E_INVALID_ARGUMENT);
    ERR("PUT", "/bkt/a%1Fb", NULL, S3E_INVALID_ARGUMENT);
    ERR("POST", "/bkt/a%08", "uploads", S3E_INVALID_ARGUMENT);
    ERR("PUT", "/bkt/%EF%BF%BF", NULL, S3E_INVALID_ARGUMENT); /* U+FFFF */
    rt(__LINE__, "PUT", "/bkt/a%0B", NULL, "src/key", S3E_INVALID_ARGUMENT, S3_OP_UNKNOWN, NULL, NULL);
    OK("GET", "/bkt/a%01b", NULL, S3_OP_GET_OBJECT, "bkt", "a\x01" "b");
    OK("PUT", "/bkt/tab%09cr%0Dlf%0Adel%7F", NULL, S3_OP_PUT_OBJECT, "bkt", "tab\tcr\rlf\ndel\x7f");
}

/* Metadata a PUT would store must be returnable as a header value. */
static enum s3_err put_with(const char *method, const char *query, const char *name, const char *value)
{
    struct s3_header h[2] = {{"Host", 4, "x", 1}, {name, strlen(name), value, strlen(value)}};
    struct s3_request r = {method, strlen(method), "/b/k", 4, query, query ? strlen(query) : 0, h, 2};
    struct s3_route rt_;
    enum s3_err e = s3_route_parse(&r, NULL, &rt_);
    s3_route_release(&rt_);
    return e;
}

static void test_metadata(void)
{
    CHECK_ERR(put_with("PUT", NULL, "x-amz-meta-city", "caf\xe9"), S3E_OK);
    CHECK_ERR(put_with("PUT", NULL, "X-Amz-Meta-City", "a\tb"), S3E_OK);
    CHECK_ERR(put_with("PUT", NULL, "x-amz-meta-a", "x\r\nSet-Cookie: y"), S3E_INVALID_ARGUMENT);
    CHECK_ERR(put_with("PUT", NULL, "X-Amz-Meta-A", "x\ny"), S3E_INVALID_ARGUMENT);
    CHECK_ERR(put_with("PUT", NULL, "Content-Type", "text/html\x01"), S3E_INVALID_ARGUMENT);
    CHECK_ERR(put_with("PUT", NULL, "content-disposition", "a\x7f"), S3E_INVALID_ARGUMENT);
    CHECK_ERR(put_with("PUT", NULL, "cache-control", "a\rb"), S3E_INVALID_ARGUMENT);
    CHECK_ERR(put_with("POST", "uploads", "x-amz-meta-a", "x\ny"), S3E_INVALID_ARGUMENT);
    /* Headers that are not stored are not this rule's business. */
    CHECK_ERR(put_with("PUT", NULL, "x-other", "x\ny"), S3E_OK);
    CHECK_ERR(put_with("GET", NULL, "x-amz-meta-a", "x\ny"), S3E_OK);
}

static void test_vhost(void)
{
    struct s3_header h = {"Host", 4, "mybucket.s3.example.com:9000", 28};
    struct s3_request r = {"GET", 3, "/dir/key", 8, NULL, 0, &h, 1};
    struct s3_route rt_;
    CHECK(s3_route_parse(&r, "s3.example.com", &rt_) == S3E_OK);
    CHECK(strcmp(rt_.bucket, "mybucket") == 0 && rt_.key && strcmp(rt_.key, "dir/key") == 0);
    CHECK(rt_.op == S3_OP_GET_OBJECT);
    s3_route_release(&rt_);
    r.path = "/";
    r.path_len = 1;
    CHECK(s3_route_parse(&r, "s3.example.com", &rt_) == S3E_OK);
    CHECK(strcmp(rt_.bucket, "mybucket") == 0 && rt_.key == NULL && rt_.op == S3_OP_LIST_OBJECTS);
    s3_route_release(&rt_);
    /* A browser form posted to the bucket's own host (PostObject). */
    r.method = "POST";
    r.method_len = 4;
    CHECK(s3_route_parse(&r, "s3.example.com", &rt_) == S3E_OK);
    CHECK(strcmp(rt_.bucket, "mybucket") == 0 && rt_.key == NULL && rt_.op == S3_OP_POST_OBJECT);
    s3_route_release(&rt_);
    r.method = "GET";
    r.method_len = 3;
    /* The bare domain is path-style. */
    struct s3_header h2 = {"host", 4, "s3.example.com", 14};
    r.headers = &h2;
    r.path = "/b/k";
    r.path_len = 4;
    CHECK(s3_route_parse(&r, "s3.example.com", &rt_) == S3E_OK);
    CHECK(strcmp(rt_.bucket, "b") == 0 && rt_.key && strcmp(rt_.key, "k") == 0);
    s3_route_release(&rt_);
}

static void test_names(void)
{
    CHECK(strcmp(s3_op_name(S3_OP_GET_OBJECT), "GetObject") == 0);
    CHECK(strcmp(s3_op_name(S3_OP__COUNT), "Unknown") == 0);
    for (int i = 0; i < S3_OP__COUNT; i++)
        CHECK(s3_op_name((enum s3_op)i) != NULL);
    CHECK(s3_bucket_name_valid("my-bucket.1"));
    CHECK(!s3_bucket_name_valid("my..bucket"));
    CHECK(!s3_bucket_name_valid("-bucket"));
    CHECK(!s3_bucket_name_valid("bucket-"));
    CHECK(!s3_bucket_name_valid("my_bucket"));
    CHECK(!s3_bucket_name_valid("xn--bucket"));
    CHECK(s3_bucket_name_valid("abc"));
    CHECK(!s3_bucket_name_valid("ab"));
}

static uint64_t rng = 0x853c49e6748fea9bull;

static uint64_t next(void)
{
    return check_rand(&rng);
}

/* Random paths and queries: either an error with op UNKNOWN, or a route whose
 * bucket and key respect the limits. */
static void test_random(void)
{
    static const char alphabet[] = "/%?&=+ab.-_2F0x%";
    static const char *const methods[] = {"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"};
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        char path[64], query[64];
        size_t pl = 1 + (size_t)(next() % 40), ql = (size_t)(next() % 40);
        path[0] = '/';
        for (size_t k = 1; k < pl; k++)
            path[k] = alphabet[next() % (sizeof(alphabet) - 1)];
        for (size_t k = 0; k < ql; k++)
            query[k] = alphabet[next() % (sizeof(alphabet) - 1)];
        const char *m = methods[next() % 6];
        struct s3_header h = {"Host", 4, "x", 1};
        struct s3_request r = {m, strlen(m), path, pl, ql ? query : NULL, ql, &h, 1};
        struct s3_route rt_;
        enum s3_err e = s3_route_parse(&r, "example.com", &rt_);
        if (e != S3E_OK && rt_.op != S3_OP_UNKNOWN)
            bad++;
        if (e == S3E_OK && (rt_.op == S3_OP_UNKNOWN || strlen(rt_.bucket) > S3_MAX_BUCKET_LEN ||
                            (rt_.key && strlen(rt_.key) > S3_MAX_KEY_LEN)))
            bad++;
        s3_route_release(&rt_);
    }
    CHECK(bad == 0);
}

int main(void)
{
    test_table();
    test_keys();
    test_params();
    test_vhost();
    test_utf8();
    test_metadata();
    test_names();
    test_random();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

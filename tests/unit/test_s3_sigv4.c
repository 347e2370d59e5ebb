/* test_s3_sigv4.c — SigV4 against AWS's published vectors, plus tamper checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_int.h"
#include "tests/unit/check.h"

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static const char *SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static const char *S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const char *EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static struct s3_request mkreq(const char *method, const char *path, const char *query, const struct s3_header *h,
                               size_t n)
{
    struct s3_request r = {method, strlen(method), path, strlen(path), query, query ? strlen(query) : 0, h, n};
    return r;
}

/* ---- AWS SigV4 test suite (service "service", us-east-1, 20150830T123600Z) ---- */

struct suite_case {
    const char *name, *method, *path, *query;
    struct s3_header headers[4];
    size_t n;
    const char *signed_headers;
    const char *creq; /* NULL: not checked */
    const char *sig;
};

static void test_suite(void)
{
    static const struct suite_case cases[] = {
        {"get-vanilla",
         "GET",
         "/",
         NULL,
         {H("Host", "example.amazonaws.com"), H("X-Amz-Date", "20150830T123600Z")},
         2,
         "host;x-amz-date",
         "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {"get-vanilla-query-order-key-case",
         "GET",
         "/",
         "Param2=value2&Param1=value1",
         {H("Host", "example.amazonaws.com"), H("X-Amz-Date", "20150830T123600Z")},
         2,
         "host;x-amz-date",
         "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
         "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        {"post-vanilla",
         "POST",
         "/",
         NULL,
         {H("Host", "example.amazonaws.com"), H("X-Amz-Date", "20150830T123600Z")},
         2,
         "host;x-amz-date",
         NULL,
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
        {"post-header-value-case",
         "POST",
         "/",
         NULL,
         {H("Host", "example.amazonaws.com"), H("My-Header1", "VALUE1"), H("X-Amz-Date", "20150830T123600Z")},
         3,
         "host;my-header1;x-amz-date",
         NULL,
         "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
        {"get-header-value-trim",
         "GET",
         "/",
         NULL,
         {H("Host", "example.amazonaws.com"), H("My-Header1", " value1"), H("My-Header2", " \"a   b   c\""),
          H("X-Amz-Date", "20150830T123600Z")},
         4,
         "host;my-header1;my-header2;x-amz-date",
         "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
         "host;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
        {"get-header-key-duplicate",
         "GET",
         "/",
         NULL,
         {H("Host", "example.amazonaws.com"), H("My-Header1", "value2"), H("My-Header1", "value2"),
          H("My-Header1", "value1")},
         4,
         "host;my-header1;x-amz-date",
         NULL,
         NULL}, /* needs x-amz-date too: see below */
        {"get-unreserved",
         "GET",
         "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         NULL,
         {H("Host", "example.amazonaws.com"), H("X-Amz-Date", "20150830T123600Z")},
         2,
         "host;x-amz-date",
         NULL,
         "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct suite_case *c = &cases[i];
        if (c->sig == NULL)
            continue;
        struct s3_request r = mkreq(c->method, c->path, c->query, c->headers, c->n);
        struct dbuf creq, sts, auth;
        dbuf_init(&creq, 1 << 16);
        dbuf_init(&sts, 1 << 16);
        dbuf_init(&auth, 1 << 16);
        int rc = s3_sigv4_sign_ex(&r, "AKIDEXAMPLE", SUITE_SECRET, "us-east-1", "service", "20150830T123600Z",
                                  EMPTY_SHA, c->signed_headers, &creq, &sts, &auth);
        CHECK(rc == 0);
        if (c->creq)
            CHECK_STR(creq.ptr, c->creq);
        char want[512];
        snprintf(want, sizeof(want),
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                 "SignedHeaders=%s, Signature=%s",
                 c->signed_headers, c->sig);
        if (rc == 0 && strcmp(auth.ptr, want) != 0)
            printf("  case %s\n", c->name);
        CHECK_STR(auth.ptr, want);
        dbuf_release(&creq);
        dbuf_release(&sts);
        dbuf_release(&auth);
    }

    /* get-header-key-duplicate: repeated headers joined with ',' in order. */
    struct s3_header hd[] = {H("Host", "example.amazonaws.com"), H("My-Header1", "value2"),
                             H("My-Header1", "value2"), H("My-Header1", "value1"),
                             H("X-Amz-Date", "20150830T123600Z")};
    struct s3_request r = mkreq("GET", "/", NULL, hd, 5);
    struct dbuf auth;
    dbuf_init(&auth, 4096);
    CHECK(s3_sigv4_sign_ex(&r, "AKIDEXAMPLE", SUITE_SECRET, "us-east-1", "service", "20150830T123600Z", EMPTY_SHA,
                           "host;my-header1;x-amz-date", NULL, NULL, &auth) == 0);
    CHECK(strstr(auth.ptr, "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea") != NULL);
    dbuf_release(&auth);

    /* Signing key for the suite's credentials (AWS "Deriving the signing key" example uses iam/20120215). */
    unsigned char key[32];
    char hex[65];
    s3_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam", key);
    hex_encode(key, 32, hex);
    CHECK_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

/* ---- canonical query -------------------------------------------------------- */

static void cq(const char *in, const char *want)
{
    struct dbuf d;
    dbuf_init(&d, 1 << 16);
    int rc = s3_sigv4_canonical_query(in, in ? strlen(in) : 0, &d);
    CHECK(rc == 0);
    CHECK_STR(d.ptr ? d.ptr : "", want);
    dbuf_release(&d);
}

static void test_canonical_query(void)
{
    cq(NULL, "");
    cq("", "");
    cq("uploads", "uploads=");
    cq("uploads=", "uploads=");
    cq("location", "location=");
    cq("delimiter=&max-keys=1000&prefix=", "delimiter=&max-keys=1000&prefix=");
    cq("prefix=a%20b&delimiter=%2F&list-type=2", "delimiter=%2F&list-type=2&prefix=a%20b");
    cq("prefix=a+b", "prefix=a%2Bb");
    cq("prefix=a%2bb", "prefix=a%2Bb");
    cq("b=2&a=2&a=1", "a=1&a=2&b=2");
    cq("x=%E1%88%B4", "x=%E1%88%B4");
    cq("k=-._~", "k=-._~");
    cq("k=a/b", "k=a%2Fb");
    cq("a&&b", "a=&b=");
    cq("partNumber=2&uploadId=abc", "partNumber=2&uploadId=abc");
    struct dbuf d;
    dbuf_init(&d, 1024);
    CHECK(s3_sigv4_canonical_query("a=%zz", 5, &d) == -1);
    dbuf_reset(&d);
    CHECK(s3_sigv4_canonical_query_ex("X-Amz-Signature=abc&X-Amz-Date=1", 32, 1, &d) == 0);
    CHECK_STR(d.ptr, "X-Amz-Date=1");
    dbuf_release(&d);
}

/* ---- S3 docs examples --------------------------------------------------------- */

static const char *lookup(void *ud, const char *ak)
{
    (void)ud;
    if (strcmp(ak, "AKIAIOSFODNN7EXAMPLE") == 0)
        return S3_SECRET;
    return NULL;
}

static const int64_t T_2013 = 1369353600; /* 20130524T000000Z */

static void test_s3_get_object(void)
{
    /* "Example: GET Object" from the S3 docs. */
    const char *authz = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    struct s3_header h[] = {
        H("Host", "examplebucket.s3.amazonaws.com"),
        H("Range", "bytes=0-9"),
        H("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        H("x-amz-date", "20130524T000000Z"),
        {"Authorization", 13, authz, strlen(authz)},
    };
    struct s3_request r = mkreq("GET", "/test.txt", NULL, h, 5);
    struct dbuf auth;
    dbuf_init(&auth, 4096);
    CHECK(s3_sigv4_sign(&r, "AKIAIOSFODNN7EXAMPLE", S3_SECRET, "us-east-1", "20130524T000000Z", EMPTY_SHA,
                        "host;range;x-amz-content-sha256;x-amz-date", &auth) == 0);
    CHECK(strstr(auth.ptr, "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") != NULL);
    dbuf_release(&auth);

    struct s3_auth a;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 + 60, &a), S3E_OK);
    CHECK(a.payload == S3_PAYLOAD_HEX_SHA256);
    CHECK(a.presigned == 0);
    CHECK(a.payload_sha256[0] == 0xe3 && a.payload_sha256[31] == 0x55);
    CHECK_STR(a.access_key, "AKIAIOSFODNN7EXAMPLE");
    CHECK_STR(a.region, "us-east-1");
    CHECK_STR(a.scope, "20130524/us-east-1/s3/aws4_request");
    CHECK_STR(a.amz_date, "20130524T000000Z");
    CHECK_STR(a.seed_signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    CHECK(a.decoded_content_length == -1);

    /* Skew, unknown key, tampering. */
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 + 901, &a), S3E_REQUEST_TIME_TOO_SKEWED);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 - 901, &a), S3E_REQUEST_TIME_TOO_SKEWED);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 + 900, &a), S3E_OK);
    struct s3_header h2[5];
    memcpy(h2, h, sizeof(h));
    h2[1].value = "bytes=0-8";
    r.headers = h2;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    h2[1] = h[1];
    r.path = "/test.txT";
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    r.path = "/test.txt";
    r.query = "x=1";
    r.query_len = 3;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    r.query = NULL;
    r.query_len = 0;
    const char *bad_ak = "AWS4-HMAC-SHA256 Credential=AKIAXXXXXXXXXXXXXXXX/20130524/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                         "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    h2[4].value = bad_ak;
    h2[4].value_len = strlen(bad_ak);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_INVALID_ACCESS_KEY_ID);
    const char *no_host = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                          "SignedHeaders=range;x-amz-content-sha256;x-amz-date, "
                          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    h2[4].value = no_host;
    h2[4].value_len = strlen(no_host);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_AUTH_HEADER_MALFORMED);
    const char *garbage = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE";
    h2[4].value = garbage;
    h2[4].value_len = strlen(garbage);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_AUTH_HEADER_MALFORMED);
    const char *v2 = "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=";
    h2[4].value = v2;
    h2[4].value_len = strlen(v2);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_AUTH_HEADER_MALFORMED);
    /* Missing x-amz-content-sha256 with header auth. */
    r.headers = h;
    r.n_headers = 5;
    struct s3_header h3[] = {h[0], h[1], h[3], h[4]};
    r.headers = h3;
    r.n_headers = 4;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_MISSING_CONTENT_SHA256);
    CHECK_STR(s3_err_code(S3E_MISSING_CONTENT_SHA256), "InvalidRequest");
    /* No auth at all. */
    r.n_headers = 2;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_ACCESS_DENIED);
}

static void test_s3_presigned(void)
{
    /* "Example: Presigned URL" from the S3 docs (query-string auth). */
    const char *q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                    "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&"
                    "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    struct s3_header h[] = {H("Host", "examplebucket.s3.amazonaws.com")};
    struct s3_request r = mkreq("GET", "/test.txt", q, h, 1);
    struct s3_auth a;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 + 3600, &a), S3E_OK);
    CHECK(a.presigned == 1);
    CHECK(a.payload == S3_PAYLOAD_UNSIGNED);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 + 86400, &a), S3E_OK);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 + 86401, &a), S3E_REQUEST_EXPIRED);
    CHECK_STR(s3_err_code(S3E_REQUEST_EXPIRED), "AccessDenied");
    CHECK_STR(s3_err_message(S3E_REQUEST_EXPIRED), "Request has expired");
    CHECK(s3_err_status(S3E_REQUEST_EXPIRED) == 403);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 - 901, &a), S3E_REQUEST_TIME_TOO_SKEWED);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013 - 100, &a), S3E_OK);

    /* Tampered host / path / extra query parameter. */
    struct s3_header h2[] = {H("Host", "otherbucket.s3.amazonaws.com")};
    r.headers = h2;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    r.headers = h;
    char q2[1024];
    snprintf(q2, sizeof(q2), "%s&response-content-type=text", q);
    r.query = q2;
    r.query_len = strlen(q2);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_SIGNATURE_DOES_NOT_MATCH);

    /* Expires beyond a week. */
    const char *q3 = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                     "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&"
                     "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    r.query = q3;
    r.query_len = strlen(q3);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_EXPIRES_TOO_LARGE);
    CHECK_STR(s3_err_code(S3E_EXPIRES_TOO_LARGE), "AuthorizationQueryParametersError");
    CHECK(s3_err_status(S3E_EXPIRES_TOO_LARGE) == 400);
    /* X-Amz-Expires 0, negative, not a number: AWS's answers. */
    static const struct {
        const char *exp;
        enum s3_err want;
    } ex[] = {{"0", S3E_REQUEST_EXPIRED},       {"-1", S3E_EXPIRES_NEGATIVE},   {"-604801", S3E_EXPIRES_NEGATIVE},
              {"abc", S3E_EXPIRES_NOT_NUMBER},   {"", S3E_EXPIRES_NOT_NUMBER},  {"1e3", S3E_EXPIRES_NOT_NUMBER},
              {"99999999999999999999", S3E_EXPIRES_TOO_LARGE}, {"604800", S3E_SIGNATURE_DOES_NOT_MATCH}};
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        char qx[1024];
        snprintf(qx, sizeof(qx),
                 "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%%2F20130524%%2Fus-east-1%%2Fs3%%2F"
                 "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=%s&X-Amz-SignedHeaders=host&"
                 "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
                 ex[i].exp);
        r.query = qx;
        r.query_len = strlen(qx);
        CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), ex[i].want);
    }
    /* Missing signature. */
    const char *q4 = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                     "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host";
    r.query = q4;
    r.query_len = strlen(q4);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T_2013, &a), S3E_AUTH_HEADER_MALFORMED);
}

/* Round trip: sign with s3_sigv4_sign, verify with s3_sigv4_verify, any region. */
static void test_roundtrip(void)
{
    const char *date = "20260101T101010Z";
    int64_t now = 1767262210; /* 2026-01-01T10:10:10Z */
    char authz[512];
    struct s3_header h[] = {
        H("Host", "127.0.0.1:9000"),
        H("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        H("X-Amz-Date", "20260101T101010Z"),
        H("x-amz-meta-mtime", "  1795557572.911362933  "),
        {"Authorization", 13, authz, 0},
    };
    struct s3_request r = mkreq("PUT", "/b/dir%20x/big%2Bfile+1.bin", "x-id=PutObject&uploads", h, 5);
    struct dbuf auth;
    dbuf_init(&auth, 4096);
    CHECK(s3_sigv4_sign(&r, "AKIAIOSFODNN7EXAMPLE", S3_SECRET, "garage-eu", date, "UNSIGNED-PAYLOAD",
                        "host;x-amz-content-sha256;x-amz-date;x-amz-meta-mtime", &auth) == 0);
    snprintf(authz, sizeof(authz), "%s", auth.ptr);
    h[4].value_len = strlen(authz);
    struct s3_auth a;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, now, &a), S3E_OK);
    CHECK(a.payload == S3_PAYLOAD_UNSIGNED);
    CHECK_STR(a.region, "garage-eu");
    /* The comma-only form (no spaces) verifies too. */
    char *p = authz;
    char squeezed[512];
    size_t k = 0;
    for (; *p; p++)
        if (!(*p == ' ' && p > authz && p[-1] == ','))
            squeezed[k++] = *p;
    squeezed[k] = '\0';
    h[4].value = squeezed;
    h[4].value_len = k;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, now, &a), S3E_OK);
    /* Tamper the signed metadata. */
    h[3].value = "1795557572.911362934";
    h[3].value_len = strlen(h[3].value);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, now, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    h[3].value = "1795557572.911362933"; /* trimmed value equals the signed one */
    h[3].value_len = strlen(h[3].value);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, now, &a), S3E_OK);
    /* Bad payload hash value. */
    h[1].value = "NOT-A-HASH";
    h[1].value_len = strlen(h[1].value);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, now, &a), S3E_INVALID_ARGUMENT);
    dbuf_release(&auth);

    /* Date header instead of x-amz-date. */
    struct s3_header hd[] = {
        H("Host", "h"),
        H("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        H("Date", "Thu, 01 Jan 2026 10:10:10 GMT"),
        H("x-amz-decoded-content-length", "12345"),
        {"Authorization", 13, authz, 0},
    };
    struct s3_request rd = mkreq("PUT", "/b/k", NULL, hd, 5);
    dbuf_init(&auth, 4096);
    CHECK(s3_sigv4_sign(&rd, "AKIAIOSFODNN7EXAMPLE", S3_SECRET, "us-east-1", date,
                        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                        "date;host;x-amz-content-sha256;x-amz-decoded-content-length", &auth) == 0);
    snprintf(authz, sizeof(authz), "%s", auth.ptr);
    hd[4].value = authz;
    hd[4].value_len = strlen(authz);
    CHECK_ERR(s3_sigv4_verify(&rd, lookup, NULL, now, &a), S3E_OK);
    CHECK(a.payload == S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER);
    CHECK(a.decoded_content_length == 12345);
    dbuf_release(&auth);
}

/* ---- every x-amz-* header signed, service "s3", declared trailer ------------- */

static const char *T26_DATE = "20260101T101010Z";
static const int64_t T26 = 1767262210; /* 2026-01-01T10:10:10Z */

/* Signs r for service with the given SignedHeaders and payload hash and puts
 * the Authorization value into slot (which must be one of r's headers). */
static void sign_into(const struct s3_request *r, struct s3_header *slot, char *buf, size_t bufsz,
                      const char *service, const char *payload, const char *signed_headers)
{
    struct dbuf auth;
    dbuf_init(&auth, 4096);
    CHECK(s3_sigv4_sign_ex(r, "AKIAIOSFODNN7EXAMPLE", S3_SECRET, "us-east-1", service, T26_DATE, payload,
                           signed_headers, NULL, NULL, &auth) == 0);
    snprintf(buf, bufsz, "%s", auth.ptr ? auth.ptr : "");
    slot->name = "Authorization";
    slot->name_len = 13;
    slot->value = buf;
    slot->value_len = strlen(buf);
    dbuf_release(&auth);
}

static void test_unsigned_amz_headers(void)
{
    char authz[1024];
    struct s3_auth a;
    /* The last slot is the Authorization header; the one before it is swapped
     * for the header under test. */
    struct s3_header h[] = {
        H("Host", "127.0.0.1:9000"),
        H("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        H("X-Amz-Date", "20260101T101010Z"),
        H("Content-Type", "text/plain"),
        H("x-amz-meta-a", "1"),
        {"Authorization", 13, "", 0},
    };
    struct s3_request r = mkreq("PUT", "/b/k", NULL, h, 6);

    /* Everything x-amz-* signed (content-type need not be): accepted. */
    sign_into(&r, &h[5], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD",
              "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));

    /* Metadata added in transit, outside SignedHeaders: the signature still
     * matches, but S3 refuses the request. */
    sign_into(&r, &h[5], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD",
              "host;x-amz-content-sha256;x-amz-date");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    CHECK(a.access_key[0] == '\0' && a.signing_key[0] == 0 && a.trailer[0] == '\0');
    CHECK_STR(s3_err_code(S3E_HEADERS_NOT_SIGNED), "AccessDenied");
    CHECK(s3_err_status(S3E_HEADERS_NOT_SIGNED) == 403);
    CHECK_STR(s3_err_message(S3E_HEADERS_NOT_SIGNED),
              "There were headers present in the request which were not signed");
    /* Any case of the name, any x-amz-* header. */
    h[4] = (struct s3_header)H("X-AMZ-ACL", "public-read");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    h[4] = (struct s3_header)H("x-amz-copy-source", "/other/secret");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    h[4] = (struct s3_header)H("x-amz-trailer", "x-amz-checksum-crc32");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    /* Not x-amz-*: x-amzn-trace-id (left unsigned by botocore), other headers. */
    h[4] = (struct s3_header)H("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));
    h[4] = (struct s3_header)H("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));

    /* A signed name matches its header in any case. */
    h[4] = (struct s3_header)H("X-Amz-Meta-A", "1");
    sign_into(&r, &h[5], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD",
              "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));
    /* A signed name that only prefixes the header's name does not cover it. */
    h[4] = (struct s3_header)H("x-amz-meta-ab", "1");
    sign_into(&r, &h[5], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD",
              "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);

    /* x-amz-content-sha256 and x-amz-date are x-amz-* headers too. */
    h[4] = (struct s3_header)H("Content-Type", "text/plain");
    sign_into(&r, &h[5], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD", "host;x-amz-date");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    sign_into(&r, &h[5], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD", "host;x-amz-content-sha256");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    /* A repeated x-amz-* header is covered by its one name. */
    struct s3_header hr[] = {
        H("Host", "127.0.0.1:9000"),          H("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        H("X-Amz-Date", "20260101T101010Z"), H("x-amz-meta-a", "1"),
        H("x-amz-meta-a", "2"),               {"Authorization", 13, "", 0},
    };
    struct s3_request rr = mkreq("PUT", "/b/k", NULL, hr, 6);
    sign_into(&rr, &hr[5], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD",
              "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a");
    CHECK_ERR(s3_sigv4_verify(&rr, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

/* Builds a presigned query (service, signed headers) for r's method, path and
 * headers into q, with the signature computed as a client would. */
static void presign(struct s3_request *r, char *q, size_t qsz, const char *service, const char *signed_headers)
{
    char base[768], sh_enc[256];
    size_t k = 0;
    for (const char *p = signed_headers; *p && k + 4 < sizeof(sh_enc); p++) {
        if (*p == ';') {
            memcpy(sh_enc + k, "%3B", 3);
            k += 3;
        } else {
            sh_enc[k++] = *p;
        }
    }
    sh_enc[k] = '\0';
    snprintf(base, sizeof(base),
             "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%%2F20260101%%2Fus-east-1%%2F%s"
             "%%2Faws4_request&X-Amz-Date=%s&X-Amz-Expires=3600&X-Amz-SignedHeaders=%s",
             service, T26_DATE, sh_enc);
    r->query = base;
    r->query_len = strlen(base);
    struct dbuf auth;
    dbuf_init(&auth, 4096);
    CHECK(s3_sigv4_sign_ex(r, "AKIAIOSFODNN7EXAMPLE", S3_SECRET, "us-east-1", service, T26_DATE, "UNSIGNED-PAYLOAD",
                           signed_headers, NULL, NULL, &auth) == 0);
    const char *sig = auth.ptr ? strstr(auth.ptr, "Signature=") : NULL;
    snprintf(q, qsz, "%s&X-Amz-Signature=%s", base, sig ? sig + 10 : "");
    r->query = q;
    r->query_len = strlen(q);
    dbuf_release(&auth);
}

static void test_unsigned_amz_headers_presigned(void)
{
    char q[1024];
    struct s3_auth a;
    struct s3_header h[] = {
        H("Host", "127.0.0.1:9000"),
        H("x-amz-acl", "public-read"),
    };
    struct s3_request r = mkreq("PUT", "/b/k", NULL, h, 2);

    presign(&r, q, sizeof(q), "s3", "host;x-amz-acl");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    CHECK(a.presigned == 1);
    secure_zero(a.signing_key, sizeof(a.signing_key));
    /* The URL signs only host: an x-amz-* header sent with it is refused. */
    presign(&r, q, sizeof(q), "s3", "host");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    CHECK(a.presigned == 1);
    h[1] = (struct s3_header)H("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_HEADERS_NOT_SIGNED);
    /* Without the header the same URL is fine; x-amz-* query parameters are
     * covered by the query signature itself. */
    r.n_headers = 1;
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

static void test_wrong_service(void)
{
    char authz[1024], q[1024];
    struct s3_auth a;
    struct s3_header h[] = {
        H("Host", "127.0.0.1:9000"),
        H("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        H("X-Amz-Date", "20260101T101010Z"),
        {"Authorization", 13, "", 0},
    };
    struct s3_request r = mkreq("GET", "/b/k", NULL, h, 4);

    /* A correct signature for another service's scope is still refused. */
    sign_into(&r, &h[3], authz, sizeof(authz), "iam", "UNSIGNED-PAYLOAD", "host;x-amz-content-sha256;x-amz-date");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_AUTH_HEADER_WRONG_SERVICE);
    CHECK_STR(s3_err_code(S3E_AUTH_HEADER_WRONG_SERVICE), "AuthorizationHeaderMalformed");
    CHECK(s3_err_status(S3E_AUTH_HEADER_WRONG_SERVICE) == 400);
    sign_into(&r, &h[3], authz, sizeof(authz), "S3", "UNSIGNED-PAYLOAD", "host;x-amz-content-sha256;x-amz-date");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_AUTH_HEADER_WRONG_SERVICE);
    sign_into(&r, &h[3], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD", "host;x-amz-content-sha256;x-amz-date");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));

    r.n_headers = 1;
    presign(&r, q, sizeof(q), "iam", "host");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_AUTH_QUERY_WRONG_SERVICE);
    CHECK_STR(s3_err_code(S3E_AUTH_QUERY_WRONG_SERVICE), "AuthorizationQueryParametersError");
    CHECK(s3_err_status(S3E_AUTH_QUERY_WRONG_SERVICE) == 400);
    presign(&r, q, sizeof(q), "s3", "host");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

static void test_declared_trailer(void)
{
    char authz[1024];
    struct s3_auth a;
    struct s3_header h[] = {
        H("Host", "127.0.0.1:9000"),
        H("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        H("X-Amz-Date", "20260101T101010Z"),
        H("x-amz-trailer", " X-Amz-Checksum-CRC32 "),
        {"Authorization", 13, "", 0},
    };
    struct s3_request r = mkreq("PUT", "/b/k", NULL, h, 5);
    const char *sh = "host;x-amz-content-sha256;x-amz-date;x-amz-trailer";

    /* The declaration reaches s3_chunked_decode through the auth, lower case. */
    sign_into(&r, &h[4], authz, sizeof(authz), "s3", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", sh);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    CHECK_STR(a.trailer, "x-amz-checksum-crc32");
    secure_zero(a.signing_key, sizeof(a.signing_key));
    /* None declared. */
    h[3] = (struct s3_header)H("Content-Type", "text/plain");
    sign_into(&r, &h[4], authz, sizeof(authz), "s3", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
              "host;x-amz-content-sha256;x-amz-date");
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_OK);
    CHECK_STR(a.trailer, "");
    secure_zero(a.signing_key, sizeof(a.signing_key));
    /* A trailer declared on a payload that has none (AWS: MalformedTrailerError). */
    h[1] = (struct s3_header)H("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    h[3] = (struct s3_header)H("x-amz-trailer", "x-amz-checksum-crc32");
    sign_into(&r, &h[4], authz, sizeof(authz), "s3", "UNSIGNED-PAYLOAD", sh);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_MALFORMED_TRAILER);
    CHECK_STR(s3_err_code(S3E_MALFORMED_TRAILER), "MalformedTrailerError");
    CHECK(s3_err_status(S3E_MALFORMED_TRAILER) == 400);
    /* More than one declared (AWS: InvalidRequest), or an empty declaration. */
    h[1] = (struct s3_header)H("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    h[3] = (struct s3_header)H("x-amz-trailer", "x-amz-checksum-crc32, x-amz-checksum-crc32c");
    sign_into(&r, &h[4], authz, sizeof(authz), "s3", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", sh);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_INVALID_REQUEST);
    h[3] = (struct s3_header)H("x-amz-trailer", " ");
    sign_into(&r, &h[4], authz, sizeof(authz), "s3", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", sh);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, T26, &a), S3E_MALFORMED_TRAILER);
}

static uint64_t rng = 0xda942042e4dd58b5ull;

static uint64_t next(void)
{
    return check_rand(&rng);
}

/* Mutated Authorization headers and presigned queries never verify unless the
 * mutation is semantically neutral, and never crash. */
static void test_mutations(void)
{
    const char *authz = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    const char *q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                    "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&"
                    "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    static const char alphabet[] = "=,; /%&0aA-_\t";
    char buf[512];
    int oks = 0;
    for (int i = 0; i < 4000; i++) {
        int presigned = (int)(next() % 2);
        const char *src = presigned ? q : authz;
        size_t n = strlen(src);
        memcpy(buf, src, n);
        buf[next() % n] = alphabet[next() % (sizeof(alphabet) - 1)];
        if (next() % 4 == 0)
            n = (size_t)(next() % n);
        buf[n] = '\0';
        struct s3_header h[] = {
            H("Host", "examplebucket.s3.amazonaws.com"),
            H("Range", "bytes=0-9"),
            H("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            H("x-amz-date", "20130524T000000Z"),
            {"Authorization", 13, buf, n},
        };
        struct s3_request r = mkreq("GET", "/test.txt", presigned ? buf : NULL, h, presigned ? 1 : 5);
        struct s3_auth a;
        if (s3_sigv4_verify(&r, lookup, NULL, T_2013, &a) == S3E_OK) {
            oks++;
            secure_zero(a.signing_key, sizeof(a.signing_key));
        }
    }
    /* A few mutations are neutral (separators, the same character); most must fail. */
    CHECK(oks < 400);
}

int main(void)
{
    test_suite();
    test_canonical_query();
    test_s3_get_object();
    test_s3_presigned();
    test_roundtrip();
    test_unsigned_amz_headers();
    test_unsigned_amz_headers_presigned();
    test_wrong_service();
    test_declared_trailer();
    test_mutations();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

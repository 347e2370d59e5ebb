/* test_s3_sigv2.c — SigV2 against the worked examples of AWS's RESTAuthentication page, plus tamper checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_int.h"
#include "tests/unit/check.h"

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const char *DOMAIN = "s3.amazonaws.com";

static const char *lookup(void *ud, const char *ak)
{
    (void)ud;
    return strcmp(ak, "AKIAIOSFODNN7EXAMPLE") == 0 ? SECRET : NULL;
}

static struct s3_request mkreq(const char *method, const char *path, const char *query, const struct s3_header *h,
                               size_t n)
{
    struct s3_request r = {method, strlen(method), path, strlen(path), query, query ? strlen(query) : 0, h, n};
    return r;
}

static int64_t when(const char *http_date)
{
    return s3_time_parse_http(http_date, strlen(http_date));
}

/* The string to sign of r, or "" when it cannot be built; static storage. */
static const char *sts_of(const struct s3_request *r, const char *domain)
{
    static char buf[4096];
    struct dbuf d;
    dbuf_init(&d, sizeof(buf) - 1);
    buf[0] = '\0';
    if (s3_sigv2_string_to_sign(r, domain, &d) == 0)
        snprintf(buf, sizeof(buf), "%.*s", (int)d.len, d.ptr);
    dbuf_release(&d);
    return buf;
}

/* ---- the page's examples -------------------------------------------------------- */

struct example {
    const char *name, *method, *path, *query, *domain;
    struct s3_header headers[6];
    size_t n;
    const char *sts, *sig, *date;
};

static void test_examples(void)
{
    static const struct example ex[] = {
        {"Object GET", "GET", "/photos/puppy.jpg", NULL, "s3.amazonaws.com",
         {H("Host", "johnsmith.s3.amazonaws.com"), H("Date", "Tue, 27 Mar 2007 19:36:42 +0000")}, 2,
         "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg", "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
         "Tue, 27 Mar 2007 19:36:42 +0000"},
        {"Object PUT", "PUT", "/photos/puppy.jpg", NULL, "s3.amazonaws.com",
         {H("Content-Type", "image/jpeg"), H("Content-Length", "94328"), H("Host", "johnsmith.s3.amazonaws.com"),
          H("Date", "Tue, 27 Mar 2007 21:15:45 +0000")},
         4, "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg",
         "MyyxeRY7whkBe+bq8fHCL/2kKUg=", "Tue, 27 Mar 2007 21:15:45 +0000"},
        {"Fetch", "GET", "/", "acl", "s3.amazonaws.com",
         {H("host", "johnsmith.s3.amazonaws.com"), H("Date", "Tue, 27 Mar 2007 19:44:46 +0000")}, 2,
         "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl", "c2WLPFtWHVgbEmeEG93a4cG37dM=",
         "Tue, 27 Mar 2007 19:44:46 +0000"},
        {"Delete (path style, x-amz-date)", "DELETE", "/johnsmith/photos/puppy.jpg", NULL, "s3.amazonaws.com",
         {H("User-Agent", "dotnet"), H("Host", "s3.amazonaws.com"), H("Date", "Tue, 27 Mar 2007 21:20:27 +0000"),
          H("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000")},
         4, "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg",
         "R4dJ53KECjStyBO5iTBJZ4XVOaI=", "Tue, 27 Mar 2007 21:20:26 +0000"},
        {"List all my buckets", "GET", "/", NULL, "s3.amazonaws.com",
         {H("Host", "s3.amazonaws.com"), H("Date", "Wed, 28 Mar 2007 01:29:59 +0000")}, 2,
         "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/", "qGdzdERIC03wnaRNKh6OqZehG9s=",
         "Wed, 28 Mar 2007 01:29:59 +0000"},
        {"Unicode keys", "GET", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", NULL, "s3.amazonaws.com",
         {H("Host", "s3.amazonaws.com"), H("Date", "Wed, 28 Mar 2007 01:49:49 +0000")}, 2,
         "GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
         "DNEZGsoieTZ92F3bUfSPQcbGmlM=", "Wed, 28 Mar 2007 01:49:49 +0000"},
        /* The page's current introduction (regional virtual-hosted endpoint). */
        {"Regional host", "GET", "/photos/puppy.jpg", NULL, "us-west-1.s3.amazonaws.com",
         {H("Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"), H("Date", "Tue, 27 Mar 2007 19:36:42 +0000")},
         2, "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg",
         "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=", "Tue, 27 Mar 2007 19:36:42 +0000"},
    };
    for (size_t i = 0; i < N(ex); i++) {
        const struct example *e = &ex[i];
        struct s3_header h[8];
        memcpy(h, e->headers, e->n * sizeof(h[0]));
        char auth[128];
        snprintf(auth, sizeof(auth), "AWS AKIAIOSFODNN7EXAMPLE:%s", e->sig);
        struct s3_header a = {"Authorization", 13, auth, strlen(auth)};
        h[e->n] = a;
        struct s3_request r = mkreq(e->method, e->path, e->query, h, e->n + 1);
        CHECK(s3_sigv2_form(&r) == S3_SIGV2_HEADER);
        const char *sts = sts_of(&r, e->domain);
        CHECK_STR(sts, e->sts);
        char sig[29];
        s3_sigv2_signature(SECRET, sts, strlen(sts), sig);
        CHECK_STR(sig, e->sig);
        struct s3_auth out;
        int64_t t = when(e->date);
        CHECK(t > 0);
        CHECK_ERR(s3_sigv2_verify(&r, e->domain, lookup, NULL, t + 60, &out), S3E_OK);
        CHECK_STR(out.access_key, "AKIAIOSFODNN7EXAMPLE");
        CHECK(out.payload == S3_PAYLOAD_UNSIGNED && out.presigned == 0);
        /* 15 minutes of skew either way, not one second more. */
        CHECK_ERR(s3_sigv2_verify(&r, e->domain, lookup, NULL, t + 900, &out), S3E_OK);
        CHECK_ERR(s3_sigv2_verify(&r, e->domain, lookup, NULL, t - 900, &out), S3E_OK);
        CHECK_ERR(s3_sigv2_verify(&r, e->domain, lookup, NULL, t + 901, &out), S3E_REQUEST_TIME_TOO_SKEWED);
        CHECK_ERR(s3_sigv2_verify(&r, e->domain, lookup, NULL, t - 901, &out), S3E_REQUEST_TIME_TOO_SKEWED);
        /* Another method is another signature. */
        r.method = "HEAD";
        r.method_len = 4;
        CHECK_ERR(s3_sigv2_verify(&r, e->domain, lookup, NULL, t, &out), S3E_SIGNATURE_DOES_NOT_MATCH);
    }
}

/* "Query string request authentication alternative": the page's example URL. */
static void test_query_example(void)
{
    struct s3_header h[] = {H("Host", "johnsmith.s3.amazonaws.com")};
    const char *q = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    struct s3_request r = mkreq("GET", "/photos/puppy.jpg", q, h, 1);
    struct s3_auth a;
    CHECK(s3_sigv2_form(&r) == S3_SIGV2_QUERY);
    CHECK_STR(sts_of(&r, DOMAIN), "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg");
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 1175139620 - 3600, &a), S3E_OK);
    CHECK(a.presigned == 1 && a.payload == S3_PAYLOAD_UNSIGNED);
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 1175139620, &a), S3E_OK);
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 1175139621, &a), S3E_REQUEST_EXPIRED);
    CHECK_STR(s3_err_code(S3E_REQUEST_EXPIRED), "AccessDenied");
    /* No skew limit on a query: it is valid until Expires, however far. */
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 1000000000, &a), S3E_OK);

    /* Tampered: the expiry, the key, the signature, the host, one more sub-resource. */
    const char *bad[] = {
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139621&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn9%3D",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&acl",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&"
        "response-content-type=text%2Fhtml",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&"
        "x-amz-meta-a=b",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8",
    };
    for (size_t i = 0; i < N(bad); i++) {
        r.query = bad[i];
        r.query_len = strlen(bad[i]);
        CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 1175139620 - 60, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    }
    /* A parameter that is not a sub-resource is not signed (AWS signs none of them). */
    const char *ok = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
                     "&foo=bar";
    r.query = ok;
    r.query_len = strlen(ok);
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 1175139620 - 60, &a), S3E_OK);
    /* Another host is another bucket. */
    struct s3_header h2[] = {H("Host", "janesmith.s3.amazonaws.com")};
    r.query = q;
    r.query_len = strlen(q);
    r.headers = h2;
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 1175139620 - 60, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    r.headers = h;

    /* Missing parts, an unknown key, a bad Expires. */
    const char *partial[] = {"AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620",
                             "Signature=abc&Expires=1175139620", "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=abc",
                             "AWSAccessKeyId=&Expires=1&Signature=abc"};
    for (size_t i = 0; i < N(partial); i++) {
        r.query = partial[i];
        r.query_len = strlen(partial[i]);
        CHECK(s3_sigv2_form(&r) == S3_SIGV2_QUERY);
        CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 0, &a), S3E_SIGV2_QUERY_INCOMPLETE);
    }
    CHECK(s3_err_status(S3E_SIGV2_QUERY_INCOMPLETE) == 403);
    const char *q5 = "AWSAccessKeyId=AKIDNOTHERE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    r.query = q5;
    r.query_len = strlen(q5);
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 0, &a), S3E_INVALID_ACCESS_KEY_ID);
    const char *q6 = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=11751x9620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";
    r.query = q6;
    r.query_len = strlen(q6);
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 0, &a), S3E_ACCESS_DENIED);
}

/* ---- signing helpers for the rules beyond the examples ------------------------------ */

/* Signs r (which has a free last header slot) with an Authorization header, verifies it at now. */
static enum s3_err sign_verify(struct s3_request *r, struct s3_header *slot, const char *domain, int64_t now,
                               struct s3_auth *a)
{
    static char auth[128];
    r->n_headers--; /* sign without the slot */
    const char *sts = sts_of(r, domain);
    char sig[29];
    s3_sigv2_signature(SECRET, sts, strlen(sts), sig);
    snprintf(auth, sizeof(auth), "AWS AKIAIOSFODNN7EXAMPLE:%s", sig);
    slot->name = "Authorization";
    slot->name_len = 13;
    slot->value = auth;
    slot->value_len = strlen(auth);
    r->n_headers++;
    return s3_sigv2_verify(r, domain, lookup, NULL, now, a);
}

static void test_canonicalization(void)
{
    const char *date = "Tue, 24 Nov 2026 21:59:32 GMT";
    int64_t t = when(date);
    struct s3_auth a;

    /* The page's upload example's rules: amz headers in lower case, sorted,
     * repeated names joined with ',', values trimmed; Content-MD5 and
     * Content-Type in their places. */
    struct s3_header h[] = {
        H("Host", "static.example.com.s3.amazonaws.com"), H("Date", "Tue, 24 Nov 2026 21:59:32 GMT"),
        H("x-amz-acl", "public-read"), H("content-type", "application/x-download"),
        H("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="), H("X-Amz-Meta-ReviewedBy", "joe@example.com"),
        H("X-Amz-Meta-ReviewedBy", "  jane@example.com "), H("X-Amz-Meta-FileChecksum", "0x02661779"),
        H("X-Amz-Meta-ChecksumAlgorithm", "crc32"), {0},
    };
    struct s3_request r = mkreq("PUT", "/db-backup.dat.gz", NULL, h, N(h));
    r.n_headers--;
    CHECK_STR(sts_of(&r, DOMAIN), "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 24 Nov 2026 21:59:32 GMT\n"
                                  "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\n"
                                  "x-amz-meta-filechecksum:0x02661779\n"
                                  "x-amz-meta-reviewedby:joe@example.com,jane@example.com\n"
                                  "/static.example.com/db-backup.dat.gz");
    r.n_headers++;
    CHECK_ERR(sign_verify(&r, &h[N(h) - 1], DOMAIN, t, &a), S3E_OK);
    /* Any amz header changed or added after signing breaks it. */
    h[2].value = "private";
    h[2].value_len = 7;
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, t, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    h[2].value = "public-read";
    h[2].value_len = 11;
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, t, &a), S3E_OK);
    h[4].value = "5gJE4saaMU4BqNR0kLY+lw==";
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, t, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    h[4].value = "4gJE4saaMU4BqNR0kLY+lw==";

    /* Sub-resources sorted, values decoded, bare names stay bare; other
     * parameters are left out. */
    struct s3_header h2[] = {H("Host", "s3.amazonaws.com"), H("Date", "Tue, 24 Nov 2026 21:59:32 GMT"), {0}};
    struct s3_request r2 = mkreq("PUT", "/b/k", "uploadId=a%2Fb&partNumber=3&foo=1", h2, N(h2));
    r2.n_headers--;
    CHECK_STR(sts_of(&r2, DOMAIN), "PUT\n\n\nTue, 24 Nov 2026 21:59:32 GMT\n/b/k?partNumber=3&uploadId=a/b");
    r2.query = "uploads&prefix=x";
    r2.query_len = strlen(r2.query);
    CHECK_STR(sts_of(&r2, DOMAIN), "PUT\n\n\nTue, 24 Nov 2026 21:59:32 GMT\n/b/k?uploads");
    r2.query = "versioning=&response-content-type=text%2Fplain&delete";
    r2.query_len = strlen(r2.query);
    CHECK_STR(sts_of(&r2, DOMAIN),
              "PUT\n\n\nTue, 24 Nov 2026 21:59:32 GMT\n/b/k?delete&response-content-type=text/plain&versioning=");
    r2.n_headers++;
    CHECK_ERR(sign_verify(&r2, &h2[2], DOMAIN, t, &a), S3E_OK);
    /* Path style without a domain; the empty path is "/". */
    r2.query = NULL;
    r2.query_len = 0;
    r2.path = "";
    r2.path_len = 0;
    CHECK_ERR(sign_verify(&r2, &h2[2], NULL, t, &a), S3E_OK);
    r2.n_headers--;
    CHECK_STR(sts_of(&r2, NULL), "PUT\n\n\nTue, 24 Nov 2026 21:59:32 GMT\n/");
    r2.n_headers++;

    /* A bare path-style bucket is signed as "/b/" (botocore), or as sent. */
    r2.path = "/b";
    r2.path_len = 2;
    r2.n_headers--;
    CHECK_STR(sts_of(&r2, NULL), "PUT\n\n\nTue, 24 Nov 2026 21:59:32 GMT\n/b/");
    r2.n_headers++;
    CHECK_ERR(sign_verify(&r2, &h2[2], NULL, t, &a), S3E_OK);
    {
        const char *sts = "PUT\n\n\nTue, 24 Nov 2026 21:59:32 GMT\n/b";
        char sig[29], auth[80];
        s3_sigv2_signature(SECRET, sts, strlen(sts), sig);
        snprintf(auth, sizeof(auth), "AWS AKIAIOSFODNN7EXAMPLE:%s", sig);
        h2[2].value = auth;
        h2[2].value_len = strlen(auth);
        CHECK_ERR(s3_sigv2_verify(&r2, NULL, lookup, NULL, t, &a), S3E_OK);
        const char *sts2 = "PUT\n\n\nTue, 24 Nov 2026 21:59:32 GMT\n/c/";
        s3_sigv2_signature(SECRET, sts2, strlen(sts2), sig);
        snprintf(auth, sizeof(auth), "AWS AKIAIOSFODNN7EXAMPLE:%s", sig);
        h2[2].value_len = strlen(auth);
        CHECK_ERR(s3_sigv2_verify(&r2, NULL, lookup, NULL, t, &a), S3E_SIGNATURE_DOES_NOT_MATCH);
    }

    /* Virtual-hosted with a port; the bucket's root. */
    struct s3_header h3[] = {H("Host", "bkt.s3.example.test:9000"), H("x-amz-date", "Tue, 24 Nov 2026 21:59:32 GMT"),
                             {0}};
    struct s3_request r3 = mkreq("GET", "/", NULL, h3, N(h3));
    r3.n_headers--;
    CHECK_STR(sts_of(&r3, "s3.example.test"), "GET\n\n\n\nx-amz-date:Tue, 24 Nov 2026 21:59:32 GMT\n/bkt/");
    r3.n_headers++;
    CHECK_ERR(sign_verify(&r3, &h3[2], "s3.example.test", t, &a), S3E_OK);

    /* x-amz-content-sha256 signed along: 64 hex digits are the body's hash; a
     * streaming form is refused (it needs a SigV4 key). */
    struct s3_header h4[] = {H("Host", "s3.amazonaws.com"), H("Date", "Tue, 24 Nov 2026 21:59:32 GMT"),
                             H("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                             {0}};
    struct s3_request r4 = mkreq("PUT", "/b/k", NULL, h4, N(h4));
    CHECK_ERR(sign_verify(&r4, &h4[3], DOMAIN, t, &a), S3E_OK);
    CHECK(a.payload == S3_PAYLOAD_HEX_SHA256 && a.payload_sha256[0] == 0xe3 && a.payload_sha256[31] == 0x55);
    h4[2].value = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    h4[2].value_len = strlen(h4[2].value);
    CHECK_ERR(sign_verify(&r4, &h4[3], DOMAIN, t, &a), S3E_INVALID_ARGUMENT);
    h4[2].value = "UNSIGNED-PAYLOAD";
    h4[2].value_len = strlen(h4[2].value);
    CHECK_ERR(sign_verify(&r4, &h4[3], DOMAIN, t, &a), S3E_OK);
    CHECK(a.payload == S3_PAYLOAD_UNSIGNED);
}

/* Dates: every form RFC 9110 allows, and the numeric zones; none at all. */
static void test_dates(void)
{
    const char *forms[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                           "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 +0000",
                           "Sun, 06 Nov 1994 08:49:37 -0000", "Sunday, 06-Nov-94 08:49:37 +0000"};
    struct s3_auth a;
    for (size_t i = 0; i < N(forms); i++) {
        CHECK(when(forms[i]) == 784111777);
        struct s3_header h[] = {H("Host", "s3.amazonaws.com"), {"Date", 4, forms[i], strlen(forms[i])}, {0}};
        struct s3_request r = mkreq("GET", "/b/k", NULL, h, N(h));
        CHECK_ERR(sign_verify(&r, &h[2], DOMAIN, 784111777 + 10, &a), S3E_OK);
        struct s3_header hx[] = {H("Host", "s3.amazonaws.com"), {"x-amz-date", 10, forms[i], strlen(forms[i])}, {0}};
        struct s3_request rx = mkreq("GET", "/b/k", NULL, hx, N(hx));
        CHECK_ERR(sign_verify(&rx, &hx[2], DOMAIN, 784111777 - 10, &a), S3E_OK);
    }
    CHECK(when("Sun, 06 Nov 1994 08:49:37 +0100") == -1);
    struct s3_header h[] = {H("Host", "s3.amazonaws.com"), {0}};
    struct s3_request r = mkreq("GET", "/b/k", NULL, h, N(h));
    CHECK_ERR(sign_verify(&r, &h[1], DOMAIN, 784111777, &a), S3E_MISSING_DATE);
    CHECK(s3_err_status(S3E_MISSING_DATE) == 403);
    CHECK_STR(s3_err_code(S3E_MISSING_DATE), "AccessDenied");
    struct s3_header h2[] = {H("Host", "s3.amazonaws.com"), H("Date", "yesterday"), {0}};
    struct s3_request r2 = mkreq("GET", "/b/k", NULL, h2, N(h2));
    CHECK_ERR(sign_verify(&r2, &h2[2], DOMAIN, 784111777, &a), S3E_MISSING_DATE);
}

static void test_malformed(void)
{
    static const char *bad[] = {"AWS ", "AWS AKIAIOSFODNN7EXAMPLE", "AWS :abc", "AWS AKIAIOSFODNN7EXAMPLE:",
                                "AWS AKIA IOSFODNN7EXAMPLE:abc"};
    struct s3_auth a;
    for (size_t i = 0; i < N(bad); i++) {
        struct s3_header h[] = {H("Host", "s3.amazonaws.com"), H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                {"Authorization", 13, bad[i], strlen(bad[i])}};
        struct s3_request r = mkreq("GET", "/", NULL, h, N(h));
        CHECK(s3_sigv2_form(&r) == S3_SIGV2_HEADER);
        CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 784111777, &a), S3E_SIGV2_HEADER_MALFORMED);
    }
    CHECK_STR(s3_err_code(S3E_SIGV2_HEADER_MALFORMED), "InvalidArgument");
    struct s3_header h[] = {H("Host", "s3.amazonaws.com"), H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                            H("Authorization", "AWS AKIDNOTHERE:qGdzdERIC03wnaRNKh6OqZehG9s=")};
    struct s3_request r = mkreq("GET", "/", NULL, h, N(h));
    CHECK_ERR(s3_sigv2_verify(&r, DOMAIN, lookup, NULL, 784111777, &a), S3E_INVALID_ACCESS_KEY_ID);
    /* The SigV4 forms are not SigV2. */
    struct s3_header h4[] = {H("Authorization", "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=0")};
    struct s3_request r4 = mkreq("GET", "/", "AWSAccessKeyId=x", h4, 1);
    CHECK(s3_sigv2_form(&r4) == S3_SIGV2_NONE);
    struct s3_request r5 = mkreq("GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&Signature=x", NULL, 0);
    CHECK(s3_sigv2_form(&r5) == S3_SIGV2_NONE);
    struct s3_request r6 = mkreq("GET", "/", "list-type=2", NULL, 0);
    CHECK(s3_sigv2_form(&r6) == S3_SIGV2_NONE);
    CHECK_ERR(s3_sigv2_verify(&r6, DOMAIN, lookup, NULL, 0, &a), S3E_ACCESS_DENIED);
    /* Disabled: AWS's answer where SigV2 is not supported. */
    CHECK_STR(s3_err_code(S3E_SIGV2_DISABLED), "InvalidRequest");
    CHECK(s3_err_status(S3E_SIGV2_DISABLED) == 400);
    CHECK_STR(s3_err_message(S3E_SIGV2_DISABLED),
              "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.");
}

int main(void)
{
    test_examples();
    test_query_example();
    test_canonicalization();
    test_dates();
    test_malformed();
    return check_summary();
}

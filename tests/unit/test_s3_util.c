/* test_s3_util.c — ranges, dates, URI coding, base64, multipart ETags, conditions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "s3/s3_int.h"
#include "tests/unit/check.h"

/* want_err, has, first, last */
static void range(int line, const char *h, uint64_t size, enum s3_err we, int wh, uint64_t wf, uint64_t wl)
{
    int has = -1;
    uint64_t f = 99, l = 99;
    enum s3_err e = s3_range_parse(h, h ? strlen(h) : 0, size, &has, &f, &l);
    int ok = e == we && (we != S3E_OK || (has == wh && (!wh || (f == wf && l == wl))));
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL line %d: range '%s' size %llu -> %s has=%d %llu-%llu\n", line, h ? h : "(null)",
               (unsigned long long)size, s3_err_code(e), has, (unsigned long long)f, (unsigned long long)l);
    }
}
#define RANGE(h, s, e, has, f, l) range(__LINE__, h, s, e, has, f, l)

static void test_range(void)
{
    RANGE(NULL, 100, S3E_OK, 0, 0, 0);
    RANGE("bytes=0-9", 100, S3E_OK, 1, 0, 9);
    RANGE("bytes=10-", 100, S3E_OK, 1, 10, 99);
    RANGE("bytes=-10", 100, S3E_OK, 1, 90, 99);
    RANGE("bytes=-1000", 100, S3E_OK, 1, 0, 99);
    RANGE("bytes=50-1000", 100, S3E_OK, 1, 50, 99);
    RANGE("bytes=99-99", 100, S3E_OK, 1, 99, 99);
    RANGE("bytes=100-", 100, S3E_INVALID_RANGE, 0, 0, 0);
    RANGE("bytes=100-200", 100, S3E_INVALID_RANGE, 0, 0, 0);
    RANGE("bytes=-0", 100, S3E_INVALID_RANGE, 0, 0, 0);
    RANGE("bytes=0-0", 0, S3E_INVALID_RANGE, 0, 0, 0);
    RANGE("bytes=-5", 0, S3E_INVALID_RANGE, 0, 0, 0);
    RANGE("bytes=9-0", 100, S3E_OK, 0, 0, 0);
    RANGE("bytes=0-1,5-6", 100, S3E_OK, 0, 0, 0);
    RANGE("bytes=a-b", 100, S3E_OK, 0, 0, 0);
    RANGE("items=0-1", 100, S3E_OK, 0, 0, 0);
    RANGE("bytes=", 100, S3E_OK, 0, 0, 0);
    RANGE("bytes=-", 100, S3E_OK, 0, 0, 0);
    RANGE("bytes=5", 100, S3E_OK, 0, 0, 0);
    RANGE(" bytes = 1-2 ", 100, S3E_OK, 1, 1, 2);
    RANGE("bytes=99999999999999999999999-", 100, S3E_INVALID_RANGE, 0, 0, 0);
    RANGE("bytes=0-99999999999999999999999", 100, S3E_OK, 1, 0, 99);
    RANGE("bytes=8388608-16777215", 20000000, S3E_OK, 1, 8388608, 16777215);
}

static void test_time(void)
{
    char b[32];
    s3_time_http(1795557572911, b);
    CHECK_STR(b, "Tue, 24 Nov 2026 21:59:32 GMT");
    s3_time_iso(1795557572911, b);
    CHECK_STR(b, "2026-11-24T21:59:32.911Z");
    s3_time_http(0, b);
    CHECK_STR(b, "Thu, 01 Jan 1970 00:00:00 GMT");
    s3_time_iso(951782400000, b); /* leap day */
    CHECK_STR(b, "2000-02-29T00:00:00.000Z");
    char a[17];
    s3_time_amz(1369353600, a);
    CHECK_STR(a, "20130524T000000Z");
    CHECK(s3_time_parse_amz("20130524T000000Z", 16) == 1369353600);
    CHECK(s3_time_parse_amz("20130532T000000Z", 16) == -1);
    CHECK(s3_time_parse_amz("2013-05-24T00:00", 16) == -1);
    const char *d1 = "Sun, 06 Nov 1994 08:49:37 GMT";
    CHECK(s3_time_parse_http(d1, strlen(d1)) == 784111777);
    const char *d2 = "Sunday, 06-Nov-94 08:49:37 GMT";
    CHECK(s3_time_parse_http(d2, strlen(d2)) == 784111777);
    const char *d3 = "Sun Nov  6 08:49:37 1994";
    CHECK(s3_time_parse_http(d3, strlen(d3)) == 784111777);
    const char *d4 = "Tue, 24 Nov 2026 21:59:32 GMT";
    CHECK(s3_time_parse_http(d4, strlen(d4)) == 1795557572);
    /* The numeric zones clients write (RFC 5322's +0000; -0000 means the same), in both comma forms. */
    static const char *const zones[] = {"Sun, 06 Nov 1994 08:49:37 +0000", "Sun, 06 Nov 1994 08:49:37 -0000",
                                        "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 +0000",
                                        "Sunday, 06-Nov-94 08:49:37 -0000"};
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
        CHECK(s3_time_parse_http(zones[i], strlen(zones[i])) == 784111777);
    CHECK(s3_time_parse_http("Sun, 06 Nov 1994 08:49:37 +0100", 31) == -1);
    CHECK(s3_time_parse_http("Sun, 06 Nov 1994 08:49:37 EST", 29) == -1);
    CHECK(s3_time_parse_http("garbage", 7) == -1);
    CHECK(s3_time_parse_http("", 0) == -1);
    const char *d5 = "Sun, 06 Foo 1994 08:49:37 GMT";
    CHECK(s3_time_parse_http(d5, strlen(d5)) == -1);
    const char *d6 = "Sun, 06 Nov 1994 25:49:37 GMT";
    CHECK(s3_time_parse_http(d6, strlen(d6)) == -1);
}

static void test_uri(void)
{
    struct dbuf d;
    dbuf_init(&d, 4096);
    const char *s = "a b/c+d~e_f.g-h\xc3\xa9*";
    s3_uri_encode(&d, s, strlen(s), 1);
    CHECK_STR(d.ptr, "a%20b%2Fc%2Bd~e_f.g-h%C3%A9%2A");
    dbuf_reset(&d);
    s3_uri_encode(&d, s, strlen(s), 0);
    CHECK_STR(d.ptr, "a%20b/c%2Bd~e_f.g-h%C3%A9%2A");
    dbuf_release(&d);

    char out[64];
    size_t n;
    CHECK(s3_uri_decode("a%20b+c%2F%c3%A9", 16, out, sizeof(out), &n) == 0);
    CHECK_STR(out, "a b+c/\xc3\xa9");
    CHECK(n == 8);
    CHECK(s3_uri_decode("%", 1, out, sizeof(out), &n) == -1);
    CHECK(s3_uri_decode("%4", 2, out, sizeof(out), &n) == -1);
    CHECK(s3_uri_decode("%4g", 3, out, sizeof(out), &n) == -1);
    CHECK(s3_uri_decode("a%00", 4, out, sizeof(out), &n) == -1);
    CHECK(s3_uri_decode("abcd", 4, out, 4, &n) == -1);
    CHECK(s3_uri_decode("abc", 3, out, 4, &n) == 0);
}

static void test_base64(void)
{
    char b[64];
    unsigned char o[64];
    size_t n;
    CHECK(s3_base64_encode((const unsigned char *)"", 0, b, sizeof(b)) == 0 && b[0] == '\0');
    CHECK(s3_base64_encode((const unsigned char *)"f", 1, b, sizeof(b)) == 4);
    CHECK_STR(b, "Zg==");
    s3_base64_encode((const unsigned char *)"foobar", 6, b, sizeof(b));
    CHECK_STR(b, "Zm9vYmFy");
    s3_base64_encode((const unsigned char *)"fooba", 5, b, sizeof(b));
    CHECK_STR(b, "Zm9vYmE=");
    CHECK(s3_base64_encode((const unsigned char *)"foobar", 6, b, 8) == 0);
    CHECK(s3_base64_decode("Zm9vYmE=", 8, o, sizeof(o), &n) == 0 && n == 5 && memcmp(o, "fooba", 5) == 0);
    CHECK(s3_base64_decode("Zm9vYmFy", 8, o, sizeof(o), &n) == 0 && n == 6);
    CHECK(s3_base64_decode("Zg==", 4, o, sizeof(o), &n) == 0 && n == 1 && o[0] == 'f');
    CHECK(s3_base64_decode("Zg", 2, o, sizeof(o), &n) == 0 && n == 1);
    CHECK(s3_base64_decode("Zh==", 4, o, sizeof(o), &n) == -1);
    CHECK(s3_base64_decode("Z===", 4, o, sizeof(o), &n) == -1);
    CHECK(s3_base64_decode("Zg=a", 4, o, sizeof(o), &n) == -1);
    CHECK(s3_base64_decode("Z!==", 4, o, sizeof(o), &n) == -1);
    CHECK(s3_base64_decode("Zm9vYmFy", 8, o, 5, &n) == -1);
    /* Content-MD5 of "" */
    CHECK(s3_base64_decode("1B2M2Y8AsgTpgAmY7PhCfg==", 24, o, sizeof(o), &n) == 0 && n == 16 && o[0] == 0xd4 &&
          o[15] == 0x7e);
}

static void test_etag(void)
{
    /* md5("") and md5("a"): md5(d41d…||0cc1…) computed independently. */
    const char parts[2][33] = {"d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661"};
    char out[48];
    s3_etag_multipart(parts, 2, out);
    unsigned char bin[32], d[16];
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(&parts[i / 16][2 * (i % 16)], "%2x", &v);
        bin[i] = (unsigned char)v;
    }
    char want[48];
    /* Recompute through OpenSSL's one-shot digest for the reference. */
    unsigned int dl = 0;
    CHECK(EVP_Digest(bin, 32, d, &dl, EVP_md5(), NULL) == 1 && dl == 16);
    hex_encode(d, 16, want);
    strcat(want, "-2");
    CHECK_STR(out, want);
    CHECK(strlen(out) == 34);
    s3_etag_multipart(parts, 1, out);
    CHECK(strcmp(out + 32, "-1") == 0);
}

static enum s3_err cond(const char *method, const char *n1, const char *v1, const char *n2, const char *v2,
                        const char *etag, int64_t mtime_ms)
{
    struct s3_header h[2];
    size_t n = 0;
    if (n1) {
        h[n].name = n1;
        h[n].name_len = strlen(n1);
        h[n].value = v1;
        h[n].value_len = strlen(v1);
        n++;
    }
    if (n2) {
        h[n].name = n2;
        h[n].name_len = strlen(n2);
        h[n].value = v2;
        h[n].value_len = strlen(v2);
        n++;
    }
    struct s3_request r = {method, strlen(method), "/b/k", 4, NULL, 0, h, n};
    return s3_conditions_check(&r, etag, mtime_ms);
}

static void test_conditions(void)
{
    const char *e = "0cc175b9c0f1b6a831c399e269772661";
    int64_t m = 784111777000 + 500; /* Sun, 06 Nov 1994 08:49:37.500 GMT */
    const char *at = "Sun, 06 Nov 1994 08:49:37 GMT";
    const char *before = "Sun, 06 Nov 1994 08:49:36 GMT";
    const char *after = "Sun, 06 Nov 1994 08:49:38 GMT";

    CHECK(cond("GET", NULL, NULL, NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Match", "\"0cc175b9c0f1b6a831c399e269772661\"", NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Match", "0cc175b9c0f1b6a831c399e269772661", NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Match", "\"x\", \"0cc175b9c0f1b6a831c399e269772661\"", NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Match", "*", NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Match", "\"x\"", NULL, NULL, e, m) == S3E_PRECONDITION_FAILED);
    CHECK(cond("GET", "If-None-Match", "W/\"0cc175b9c0f1b6a831c399e269772661\"", NULL, NULL, e, m) ==
          S3E_NOT_MODIFIED);
    CHECK(cond("HEAD", "If-None-Match", "*", NULL, NULL, e, m) == S3E_NOT_MODIFIED);
    CHECK(cond("GET", "If-None-Match", "\"x\"", NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("PUT", "If-None-Match", "*", NULL, NULL, e, m) == S3E_PRECONDITION_FAILED);
    CHECK(cond("GET", "If-Modified-Since", at, NULL, NULL, e, m) == S3E_NOT_MODIFIED);
    CHECK(cond("GET", "If-Modified-Since", after, NULL, NULL, e, m) == S3E_NOT_MODIFIED);
    CHECK(cond("GET", "If-Modified-Since", before, NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Modified-Since", "junk", NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Unmodified-Since", at, NULL, NULL, e, m) == S3E_OK);
    CHECK(cond("GET", "If-Unmodified-Since", before, NULL, NULL, e, m) == S3E_PRECONDITION_FAILED);
    /* If-Match true wins over If-Unmodified-Since false. */
    CHECK(cond("GET", "If-Match", e, "If-Unmodified-Since", before, e, m) == S3E_OK);
    /* If-None-Match false (does not match) wins over If-Modified-Since true. */
    CHECK(cond("GET", "If-None-Match", "\"x\"", "If-Modified-Since", after, e, m) == S3E_OK);
    CHECK(cond("GET", "If-None-Match", e, "If-Modified-Since", before, e, m) == S3E_NOT_MODIFIED);
    /* If-Match fails first even if If-None-Match would 304. */
    CHECK(cond("GET", "If-Match", "\"x\"", "If-None-Match", e, e, m) == S3E_PRECONDITION_FAILED);
}

static void test_headers(void)
{
    struct s3_header h[] = {{"Content-Type", 12, "text/plain", 10}, {"x-a", 3, "  one  two ", 11}, {"X-A", 3, "3", 1}};
    struct s3_request r = {"GET", 3, "/", 1, NULL, 0, h, 3};
    size_t l;
    const char *v = s3_header_get(&r, "content-type", &l);
    CHECK(v && l == 10 && memcmp(v, "text/plain", 10) == 0);
    CHECK(s3_header_get(&r, "content-length", &l) == NULL);
    struct dbuf d;
    dbuf_init(&d, 256);
    CHECK(s3_header_canonical_value(&r, "x-a", 3, &d) == 2);
    CHECK_STR(d.ptr, "one two,3");
    dbuf_release(&d);
}

/* Response splitting: what may go out as a header value. */
static void test_header_value_ok(void)
{
    CHECK(s3_header_value_ok("", 0));
    CHECK(s3_header_value_ok("text/html; charset=utf-8", 24));
    CHECK(s3_header_value_ok("a\tb", 3));             /* HT is allowed */
    CHECK(s3_header_value_ok("caf\xc3\xa9 \xe9", 7)); /* bytes >= 0x80 are not control bytes */
    CHECK(s3_header_value_ok("~ !", 3));
    CHECK(!s3_header_value_ok("text/html\r\nSet-Cookie: a=b", 26));
    CHECK(!s3_header_value_ok("a\rb", 3));
    CHECK(!s3_header_value_ok("a\nb", 3));
    CHECK(!s3_header_value_ok("a\0b", 3)); /* the length counts, not the NUL */
    CHECK(!s3_header_value_ok("\x01", 1));
    CHECK(!s3_header_value_ok("\x1f", 1));
    CHECK(!s3_header_value_ok("a\x7f", 2));
    CHECK(s3_header_value_ok("a\r", 1)); /* only len bytes are looked at */
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        int ok;
    } v[] = {
        {"", 1},
        {"plain ascii", 1},
        {"caf\xc3\xa9", 1},
        {"\xe2\x82\xac", 1},             /* U+20AC */
        {"\xf0\x9f\x98\x80", 1},         /* U+1F600 */
        {"\xef\xbf\xbf", 1},             /* U+FFFF is UTF-8 (XML refuses it, not UTF-8) */
        {"\xf4\x8f\xbf\xbf", 1},         /* U+10FFFF */
        {"a\xff\xfe" "b", 0},
        {"caf\xe9", 0},                   /* ISO-8859-1 */
        {"\xc3", 0},                       /* truncated */
        {"\xe2\x82", 0},
        {"\xc0\xaf", 0},                   /* overlong '/' */
        {"\xe0\x80\xaf", 0},
        {"\xf0\x80\x80\xaf", 0},
        {"\xed\xa0\x80", 0},               /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 0},           /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"\x80", 0},                       /* lone continuation */
        {"\xc3\x28", 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (s3_utf8_valid(v[i].s, strlen(v[i].s)) != v[i].ok) {
            failed++;
            printf("FAIL utf8 case %zu\n", i);
        } else {
            passed++;
        }
    }
    CHECK(s3_utf8_valid("\xc3\xa9", 1) == 0); /* cut inside a sequence */
}

int main(void)
{
    test_range();
    test_time();
    test_uri();
    test_base64();
    test_etag();
    test_conditions();
    test_headers();
    test_header_value_ok();
    test_utf8();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

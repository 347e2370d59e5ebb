/* test_s3_form.c — POST Object forms: the boundary, the head parser, the
 * policy conditions and the form signatures (s3/form.c, gateway/ops/policy.c, s3/policy.c). */
#include <stdlib.h>

#include "s3/s3.h"
#include "s3/s3_int.h"
#include "gateway/ops/ops.h"
#include "tests/unit/check.h"

#define PART(name, value) "--B\r\nContent-Disposition: form-data; name=\"" name "\"\r\n\r\n" value "\r\n"
#define FILEPART "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pic.png\"\r\nContent-Type: image/png\r\n\r\n"

static void test_boundary(void)
{
    char b[S3_FORM_MAX_BOUNDARY + 1];
    size_t n = 0;
    const char *ct = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
    CHECK(s3_form_boundary(ct, strlen(ct), b, &n) == 0);
    CHECK_STR(b, "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    CHECK(n == 37);
    ct = "Multipart/Form-Data;charset=utf-8; boundary=\"a b:c\"";
    CHECK(s3_form_boundary(ct, strlen(ct), b, &n) == 0);
    CHECK_STR(b, "a b:c");
    ct = "multipart/mixed; boundary=x";
    CHECK(s3_form_boundary(ct, strlen(ct), b, &n) == -1);
    ct = "multipart/form-data";
    CHECK(s3_form_boundary(ct, strlen(ct), b, &n) == -1);
    ct = "multipart/form-data; boundary=";
    CHECK(s3_form_boundary(ct, strlen(ct), b, &n) == -1);
    ct = "multipart/form-data; boundary=a\x01z";
    CHECK(s3_form_boundary(ct, strlen(ct), b, &n) == -1);
    static const char nul[] = "multipart/form-data; boundary=a\0z";
    CHECK(s3_form_boundary(nul, sizeof(nul) - 1, b, &n) == -1); /* found by fuzz_form */
    char longb[128] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    CHECK(s3_form_boundary(longb, strlen(longb), b, &n) == -1);
}

static void test_head(void)
{
    static const char form[] = PART("key", "user/${filename}") PART("Policy", "eyJ9") PART("x-amz-meta-a", "")
        FILEPART "\x89PNG\r\n--B--\r\n";
    size_t len = sizeof(form) - 1;
    struct s3_form_head h;
    CHECK(s3_form_parse_head(form, len, 1, "B", 1, &h) == S3_FORM_OK);
    CHECK(h.n_fields == 3);
    CHECK(s3_form_get(&h, "KEY") != NULL && s3_form_get(&h, "key")->value_len == 16);
    CHECK(s3_form_get(&h, "policy") != NULL && memcmp(s3_form_get(&h, "policy")->value, "eyJ9", 4) == 0);
    CHECK(s3_form_get(&h, "x-amz-meta-a") != NULL && s3_form_get(&h, "x-amz-meta-a")->value_len == 0);
    CHECK(h.filename_len == 7 && memcmp(h.filename, "pic.png", 7) == 0);
    CHECK(h.file_type_len == 9 && memcmp(h.file_type, "image/png", 9) == 0);
    CHECK(memcmp(form + h.file_start, "\x89PNG", 4) == 0);
    /* Every cut before the file's first byte wants more; from there on the head is whole. */
    int ok = 1;
    size_t start = h.file_start;
    for (size_t cut = 0; cut < len; cut++) {
        enum s3_form_status st = s3_form_parse_head(form, cut, 0, "B", 1, &h);
        if (cut < start ? st != S3_FORM_MORE : st != S3_FORM_OK)
            ok = 0;
        if (cut < 20 && s3_form_parse_head(form, cut, 1, "B", 1, &h) != S3_FORM_MALFORMED)
            ok = 0;
    }
    CHECK(ok);
    /* A preamble before the first boundary is skipped. */
    static const char pre[] = "ignored\r\n" PART("key", "k") FILEPART "x";
    CHECK(s3_form_parse_head(pre, sizeof(pre) - 1, 1, "B", 1, &h) == S3_FORM_OK && h.n_fields == 1);
    static const char dup[] = PART("key", "a") PART("Key", "b") FILEPART "x";
    CHECK(s3_form_parse_head(dup, sizeof(dup) - 1, 1, "B", 1, &h) == S3_FORM_DUPLICATE);
    static const char nofile[] = PART("key", "a") "--B--\r\n";
    CHECK(s3_form_parse_head(nofile, sizeof(nofile) - 1, 1, "B", 1, &h) == S3_FORM_NO_FILE);
    static const char nodisp[] = "--B\r\nContent-Type: text/plain\r\n\r\nv\r\n--B--\r\n";
    CHECK(s3_form_parse_head(nodisp, sizeof(nodisp) - 1, 1, "B", 1, &h) == S3_FORM_MALFORMED);
    static const char other[] = "--C\r\n";
    CHECK(s3_form_parse_head(other, sizeof(other) - 1, 1, "B", 1, &h) == S3_FORM_MALFORMED);
    static const char unterminated[] = PART("key", "a") "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nval";
    CHECK(s3_form_parse_head(unterminated, sizeof(unterminated) - 1, 1, "B", 1, &h) == S3_FORM_MALFORMED);
    CHECK(s3_form_parse_head(unterminated, sizeof(unterminated) - 1, 0, "B", 1, &h) == S3_FORM_MORE);
    /* More fields than S3_FORM_MAX_FIELDS. */
    char *many = malloc(100 * 64);
    size_t n = 0;
    for (int i = 0; i <= S3_FORM_MAX_FIELDS; i++)
        n += (size_t)sprintf(many + n, "--B\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", i);
    n += (size_t)sprintf(many + n, FILEPART "x");
    CHECK(s3_form_parse_head(many, n, 1, "B", 1, &h) == S3_FORM_TOO_MANY);
    free(many);
}

static enum s3_err policy(const char *json, const char *form_fields, const char *key, char *msg, int64_t *lo,
                          int64_t *hi)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s" FILEPART "x", form_fields);
    struct s3_form_head h;
    if (s3_form_parse_head(buf, strlen(buf), 1, "B", 1, &h) != S3_FORM_OK)
        return S3E_INTERNAL_ERROR;
    return gw_post_policy_check(json, strlen(json), &h, "bkt", key, 1800000000, lo, hi, msg, 512);
}

#define EXP "\"expiration\": \"2030-01-01T00:00:00.000Z\""

static void test_policy(void)
{
    char msg[512];
    int64_t lo, hi;
    const char *f = PART("key", "user/a.png") PART("Content-Type", "image/png, image/gif") PART("acl", "public-read")
        PART("x-ignore-x", "1") PART("policy", "p") PART("x-amz-signature", "s");
    CHECK_ERR(policy("{" EXP ", \"conditions\": [{\"bucket\": \"bkt\"}, [\"starts-with\", \"$key\", \"user/\"], "
                     "[\"starts-with\", \"$Content-Type\", \"image/\"], [\"eq\", \"$acl\", \"public-read\"], "
                     "[\"content-length-range\", 1, 1000]]}",
                     f, "user/a.png", msg, &lo, &hi),
              S3E_OK);
    CHECK(lo == 1 && hi == 1000);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"starts-with\", \"$key\", \"\"], {\"content-type\": \"image/png, image/gif\"}, "
                     "{\"acl\": \"public-read\"}]}",
                     f, "user/a.png", msg, &lo, &hi),
              S3E_OK);
    CHECK(lo == 0 && hi == INT64_MAX);
    /* each kind failing, with AWS's words */
    CHECK_ERR(policy("{" EXP ", \"conditions\": [{\"acl\": \"private\"}]}", f, "user/a.png", msg, &lo, &hi),
              S3E_ACCESS_DENIED);
    CHECK_STR(msg, "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$acl\", \"private\"]");
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"starts-with\", \"$key\", \"admin/\"]]}", f, "user/a.png", msg, &lo, &hi),
              S3E_ACCESS_DENIED);
    CHECK_STR(msg, "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"admin/\"]");
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"starts-with\", \"$Content-Type\", \"image/p\"]]}", f, "k", msg, &lo, &hi),
              S3E_ACCESS_DENIED);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [{\"bucket\": \"other\"}]}", f, "k", msg, &lo, &hi), S3E_ACCESS_DENIED);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"eq\", \"$x-amz-meta-missing\", \"v\"]]}", f, "k", msg, &lo, &hi),
              S3E_ACCESS_DENIED);
    /* fields no condition names */
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"starts-with\", \"$key\", \"\"]]}", f, "k", msg, &lo, &hi),
              S3E_ACCESS_DENIED);
    CHECK_STR(msg, "Invalid according to Policy: Extra input fields: Content-Type, acl");
    /* expiry */
    CHECK_ERR(policy("{\"expiration\": \"2020-01-01T00:00:00Z\", \"conditions\": []}", PART("key", "k"), "k", msg, &lo, &hi),
              S3E_ACCESS_DENIED);
    CHECK_STR(msg, "Invalid according to Policy: Policy expired.");
    /* policies that cannot be read */
    CHECK_ERR(policy("not json", PART("key", "k"), "k", msg, &lo, &hi), S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{\"conditions\": []}", PART("key", "k"), "k", msg, &lo, &hi), S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{\"expiration\": \"tomorrow\", \"conditions\": []}", "", "k", msg, &lo, &hi), S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{" EXP "}", "", "k", msg, &lo, &hi), S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"content-length-range\", 10, 5]]}", "", "k", msg, &lo, &hi),
              S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"in\", \"$key\", \"k\"]]}", "", "k", msg, &lo, &hi),
              S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"eq\", \"key\", \"k\"]]}", "", "k", msg, &lo, &hi),
              S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [{\"a\": \"1\", \"b\": \"2\"}]}", "", "k", msg, &lo, &hi),
              S3E_INVALID_POLICY_DOCUMENT);
    CHECK_ERR(policy("{" EXP ", \"conditions\": [[\"content-length-range\", \"5\", \"10\"]]}", "", "k", msg, &lo, &hi),
              S3E_OK);
    CHECK(lo == 5 && hi == 10);
}

static void test_signatures(void)
{
    /* SigV2: AWS's own HTML-form example (policy for bucket johnsmith, 2007). */
    const char *p2 = "eyAiZXhwaXJhdGlvbiI6ICIyMDA3LTEyLTAxVDEyOjAwOjAwLjAwMFoiLAogICJjb25kaXRpb25zIjogWwogICAgeyJidWNrZXQiOiAi"
                     "am9obnNtaXRoIiB9LAogICAgWyJzdGFydHMtd2l0aCIsICIka2V5IiwgInVzZXIvZXJpYy8iXSwKICAgIHsiYWNsIjogInB1YmxpYy1y"
                     "ZWFkIiB9LAogICAgeyJyZWRpcmVjdCI6ICJodHRwOi8vam9obnNtaXRoLnMzLmFtYXpvbmF3cy5jb20vc3VjY2Vzc2Z1bF91cGxvYWQu"
                     "aHRtbCIgfSwKICAgIFsic3RhcnRzLXdpdGgiLCAiJENvbnRlbnQtVHlwZSIsICJpbWFnZS8iXSwKICAgIHsieC1hbXotbWV0YS11dWlk"
                     "IjogIjE0MzY1MTIzNjUxMjc0In0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiR4LWFtei1tZXRhLXRhZyIsICIiXSwKICBdCn0K";
    const char *sk2 = "uV3F3YluFJax1cknvbcGwgjvx4QpvB+leU8dUj2o";
    CHECK(s3_post_sig_v2_ok(sk2, p2, strlen(p2), "2qCp0odXe7A9IYyUVqn0w2adtCA=", 28));
    CHECK(!s3_post_sig_v2_ok(sk2, p2, strlen(p2), "2qCp0odXe7A9IYyUVqn0w2adtCB=", 28));
    CHECK(!s3_post_sig_v2_ok("other", p2, strlen(p2), "2qCp0odXe7A9IYyUVqn0w2adtCA=", 28));
    /* SigV4: hex HMAC-SHA256 of the base64 policy under the signing key (computed apart, with Python's hmac). */
    const char *want = "c5b5667a2e42edae093290433a303cc05517e1b1754493a1ee4258a16180028a";
    CHECK(s3_post_sig_v4_ok("beta", "charlie", "delta", "YWxwaGE=", 8, want, 64));
    CHECK(!s3_post_sig_v4_ok("beta", "charlie", "delta", "YWxwaGE=", 8, want, 63));
    CHECK(!s3_post_sig_v4_ok("beta", "charlie", "other", "YWxwaGE=", 8, want, 64));
}

/* A checksum fed in pieces equals the one computed whole (chunked.c), for each algorithm. */
static void test_checksum_pieces(void)
{
    static const char *const algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (size_t a = 0; a < 5; a++) {
        struct s3_checksum_ctx c;
        unsigned char whole[32], pieces[32];
        size_t wl = s3_checksum_compute(algs[a], strlen(algs[a]), data, sizeof(data), whole);
        CHECK(s3_checksum_init(&c, algs[a]) == 0);
        CHECK(s3_checksum_update(&c, data, 1) == 0);
        CHECK(s3_checksum_update(&c, data + 1, 0) == 0);
        CHECK(s3_checksum_update(&c, data + 1, 600) == 0);
        CHECK(s3_checksum_update(&c, data + 601, sizeof(data) - 601) == 0);
        CHECK(s3_checksum_final(&c, pieces) == wl && wl > 0 && memcmp(whole, pieces, wl) == 0);
        s3_checksum_release(&c);
    }
    struct s3_checksum_ctx c;
    unsigned char d[32];
    char b64[16];
    CHECK(s3_checksum_init(&c, "crc32") == 0 && s3_checksum_update(&c, "abc", 3) == 0);
    CHECK(s3_checksum_final(&c, d) == 4);
    s3_base64_encode(d, 4, b64, sizeof(b64));
    CHECK_STR(b64, "NSRBwg=="); /* zlib.crc32(b"abc") */
    s3_checksum_release(&c);
    CHECK(s3_checksum_init(&c, "md5") == -1);
    s3_checksum_release(&c);
}

int main(void)
{
    test_checksum_pieces();
    test_boundary();
    test_head();
    test_policy();
    test_signatures();
    return check_summary();
}

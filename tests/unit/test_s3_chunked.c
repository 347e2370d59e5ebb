/* test_s3_chunked.c — aws-chunked decoding: the AWS S3 streaming example,
 * trailers, checksums and every way a body can be wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_int.h"
#include "tests/unit/check.h"

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static const char *S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

static const char *lookup(void *ud, const char *ak)
{
    (void)ud;
    return strcmp(ak, "AKIAIOSFODNN7EXAMPLE") == 0 ? S3_SECRET : NULL;
}

#define SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

/* The body of the S3 docs' "Signature Calculation: Transfer Payload in Multiple Chunks" example. */
static char *example_body(size_t *len, const char *s1, const char *s2, const char *s3)
{
    struct dbuf d;
    char *a = malloc(65536);
    memset(a, 'a', 65536);
    dbuf_init(&d, 1 << 20);
    int rc = dbuf_printf(&d, "10000;chunk-signature=%s\r\n", s1);
    rc |= dbuf_add(&d, a, 65536);
    rc |= dbuf_printf(&d, "\r\n400;chunk-signature=%s\r\n", s2);
    rc |= dbuf_add(&d, a, 1024);
    rc |= dbuf_printf(&d, "\r\n0;chunk-signature=%s\r\n\r\n", s3);
    CHECK(rc == 0);
    free(a);
    return dbuf_take(&d, len);
}

static int all_a(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 'a')
            return 0;
    return 1;
}

static void example_auth(struct s3_auth *a)
{
    const char *authz = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                        "x-amz-decoded-content-length;x-amz-storage-class,"
                        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    struct s3_header h[] = {
        H("Host", "s3.amazonaws.com"),
        H("x-amz-date", "20130524T000000Z"),
        H("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        {"Authorization", 13, authz, strlen(authz)},
        H("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        H("Content-Encoding", "aws-chunked"),
        H("x-amz-decoded-content-length", "66560"),
        H("Content-Length", "66824"),
    };
    struct s3_request r = {"PUT", 3, "/examplebucket/chunkObject.txt", 30, NULL, 0, h, 8};
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, 1369353600, a), S3E_OK);
    CHECK(a->payload == S3_PAYLOAD_STREAMING_SIGNED);
    CHECK(a->decoded_content_length == 66560);
    CHECK(strcmp(a->seed_signature, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9") == 0);
}

static void test_signed_example(void)
{
    struct s3_auth a;
    size_t len, out;
    char *body;

    example_auth(&a);
    body = example_body(&len, SIG1, SIG2, SIG3);
    CHECK(len == 66824);
    CHECK_ERR(s3_chunked_decode(&a, body, len, &out, NULL), S3E_OK);
    CHECK(out == 66560 && all_a(body, out));
    free(body);

    /* Tampered data byte. */
    body = example_body(&len, SIG1, SIG2, SIG3);
    body[100] = 'b';
    CHECK_ERR(s3_chunked_decode(&a, body, len, &out, NULL), S3E_SIGNATURE_DOES_NOT_MATCH);
    free(body);
    /* Tampered byte in the second chunk. */
    body = example_body(&len, SIG1, SIG2, SIG3);
    body[len - 100] = 'b';
    CHECK_ERR(s3_chunked_decode(&a, body, len, &out, NULL), S3E_SIGNATURE_DOES_NOT_MATCH);
    free(body);
    /* Tampered signatures; swapped chunk order of signatures. */
    body = example_body(&len, SIG1, SIG2, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df8");
    CHECK_ERR(s3_chunked_decode(&a, body, len, &out, NULL), S3E_SIGNATURE_DOES_NOT_MATCH);
    free(body);
    body = example_body(&len, SIG2, SIG1, SIG3);
    CHECK_ERR(s3_chunked_decode(&a, body, len, &out, NULL), S3E_SIGNATURE_DOES_NOT_MATCH);
    free(body);
    /* Upper-case hex signatures are tolerated. */
    body = example_body(&len, "AD80C730A21E5B8D04586A2213DD63B9A0E99E0E2307B0ADE35A65485A288648", SIG2, SIG3);
    CHECK_ERR(s3_chunked_decode(&a, body, len, &out, NULL), S3E_OK);
    free(body);

    /* Truncated bodies at many points. */
    static const size_t cuts[] = {0, 5, 80, 86, 1000, 65619, 65621, 65625, 66700, 66750, 66821};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        body = example_body(&len, SIG1, SIG2, SIG3);
        enum s3_err e = s3_chunked_decode(&a, body, cuts[i], &out, NULL);
        if (e != S3E_INCOMPLETE_BODY)
            printf("  cut at %zu -> %s\n", cuts[i], s3_err_code(e));
        CHECK(e == S3E_INCOMPLETE_BODY);
        free(body);
    }
    /* Missing final CRLF is tolerated. */
    body = example_body(&len, SIG1, SIG2, SIG3);
    CHECK_ERR(s3_chunked_decode(&a, body, len - 2, &out, NULL), S3E_OK);
    free(body);
    /* Trailing garbage. */
    body = example_body(&len, SIG1, SIG2, SIG3);
    body = realloc(body, len + 3);
    memcpy(body + len, "xyz", 3);
    CHECK_ERR(s3_chunked_decode(&a, body, len + 3, &out, NULL), S3E_INVALID_REQUEST);
    free(body);

    /* Wrong decoded length. */
    struct s3_auth b = a;
    b.decoded_content_length = 66561;
    body = example_body(&len, SIG1, SIG2, SIG3);
    CHECK_ERR(s3_chunked_decode(&b, body, len, &out, NULL), S3E_INCOMPLETE_BODY);
    free(body);

    /* Chunk framing errors. */
    char bad1[] = "zz;chunk-signature=" SIG1 "\r\n";
    CHECK_ERR(s3_chunked_decode(&a, bad1, strlen(bad1), &out, NULL), S3E_INVALID_REQUEST);
    char bad2[] = "10000\r\n";
    CHECK_ERR(s3_chunked_decode(&a, bad2, strlen(bad2), &out, NULL), S3E_INVALID_REQUEST);
    char *longline = malloc(1000);
    memset(longline, '1', 1000);
    CHECK_ERR(s3_chunked_decode(&a, longline, 1000, &out, NULL), S3E_INVALID_REQUEST);
    memset(longline, '0', 1000);
    memcpy(longline + 990, "1\r\n", 3);
    CHECK_ERR(s3_chunked_decode(&a, longline, 1000, &out, NULL), S3E_INVALID_REQUEST);
    free(longline);
    char huge[] = "ffffffffffffffffff;chunk-signature=" SIG1 "\r\n";
    CHECK_ERR(s3_chunked_decode(&a, huge, strlen(huge), &out, NULL), S3E_INVALID_REQUEST);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

/* Signs chunks like a client would (for the trailer forms, which have no
 * published vector): string to sign per the AWS streaming docs. */
static void sign_chunk(const struct s3_auth *a, const char *prev, const char *data, size_t n, char out[65])
{
    char h[65], sts[512];
    unsigned char mac[32];
    s3_sha256_hex(data, n, h);
    snprintf(sts, sizeof(sts),
             "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n%s",
             a->amz_date, a->scope, prev, h);
    s3_hmac_sha256(a->signing_key, 32, sts, strlen(sts), mac);
    hex_encode(mac, 32, out);
}

static void test_signed_trailer(void)
{
    struct s3_auth a;
    example_auth(&a);
    a.payload = S3_PAYLOAD_STREAMING_SIGNED_TRAILER;
    a.decoded_content_length = 9;
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-crc32");
    char s1[65], s2[65], ts[65], h[65], sts[512];
    unsigned char mac[32];
    sign_chunk(&a, a.seed_signature, "123456789", 9, s1);
    sign_chunk(&a, s1, "", 0, s2);
    const char *trailer_line = "x-amz-checksum-crc32:y/Q5Jg==\n";
    s3_sha256_hex(trailer_line, strlen(trailer_line), h);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", a.amz_date, a.scope, s2, h);
    s3_hmac_sha256(a.signing_key, 32, sts, strlen(sts), mac);
    hex_encode(mac, 32, ts);

    char body[1024];
    snprintf(body, sizeof(body),
             "9;chunk-signature=%s\r\n123456789\r\n0;chunk-signature=%s\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n"
             "x-amz-trailer-signature:%s\r\n\r\n",
             s1, s2, ts);
    size_t out;
    struct dbuf tr;
    dbuf_init(&tr, 4096);
    char copy[1024];
    memcpy(copy, body, sizeof(body));
    CHECK_ERR(s3_chunked_decode(&a, copy, strlen(body), &out, &tr), S3E_OK);
    CHECK(out == 9 && memcmp(copy, "123456789", 9) == 0);
    CHECK(tr.ptr && strcmp(tr.ptr, "x-amz-checksum-crc32:y/Q5Jg==\n") == 0);
    dbuf_release(&tr);

    /* Bad trailer signature. */
    memcpy(copy, body, sizeof(body));
    char *p = strstr(copy, "x-amz-trailer-signature:") + 24;
    *p = *p == '0' ? '1' : '0';
    CHECK_ERR(s3_chunked_decode(&a, copy, strlen(body), &out, NULL), S3E_SIGNATURE_DOES_NOT_MATCH);
    /* Missing trailer signature. */
    snprintf(copy, sizeof(copy),
             "9;chunk-signature=%s\r\n123456789\r\n0;chunk-signature=%s\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n", s1,
             s2);
    CHECK_ERR(s3_chunked_decode(&a, copy, strlen(copy), &out, NULL), S3E_SIGNATURE_DOES_NOT_MATCH);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

static void test_unsigned_trailer(void)
{
    struct s3_auth a;
    memset(&a, 0, sizeof(a));
    a.payload = S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    a.decoded_content_length = -1;
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-crc32");
    size_t out;
    struct dbuf tr;

    /* The form newer AWS SDKs send: final "0\r\n<trailer>\r\n\r\n". */
    char b1[] = "4\r\n1234\r\n5\r\n56789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n";
    dbuf_init(&tr, 4096);
    CHECK_ERR(s3_chunked_decode(&a, b1, strlen(b1), &out, &tr), S3E_OK);
    CHECK(out == 9 && memcmp(b1, "123456789", 9) == 0);
    CHECK(tr.ptr && strcmp(tr.ptr, "x-amz-checksum-crc32:y/Q5Jg==\n") == 0);
    dbuf_release(&tr);

    /* Bare \n line ends, and no final empty line. */
    char b2[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32c:4waSgw==\n";
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-crc32c");
    CHECK_ERR(s3_chunked_decode(&a, b2, strlen(b2), &out, NULL), S3E_OK);
    /* Wrong checksum. */
    char b3[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jw==\r\n\r\n";
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-crc32");
    CHECK_ERR(s3_chunked_decode(&a, b3, strlen(b3), &out, NULL), S3E_BAD_DIGEST);
    /* sha256 and crc64nvme trailers. */
    char b4[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-sha256:FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=\r\n\r\n";
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-sha256");
    CHECK_ERR(s3_chunked_decode(&a, b4, strlen(b4), &out, NULL), S3E_OK);
    char b5[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc64nvme:rosUhgp5mIg=\r\n\r\n";
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-crc64nvme");
    CHECK_ERR(s3_chunked_decode(&a, b5, strlen(b5), &out, NULL), S3E_OK);
    /* No trailer at all, none declared. */
    a.trailer[0] = '\0';
    char b6[] = "9\r\n123456789\r\n0\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, b6, strlen(b6), &out, NULL), S3E_OK);
    CHECK(out == 9);
    /* Truncated data. */
    char b7[] = "9\r\n1234";
    CHECK_ERR(s3_chunked_decode(&a, b7, strlen(b7), &out, NULL), S3E_INCOMPLETE_BODY);
    /* Missing CRLF after data. */
    char b8[] = "9\r\n123456789XX0\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, b8, strlen(b8), &out, NULL), S3E_INVALID_REQUEST);
}

/* The body must end with the trailer x-amz-trailer declared: dropping it, or
 * sending another, would let a body through with its checksum unchecked. */
static void test_declared_trailer(void)
{
    struct s3_auth a;
    size_t out;
    memset(&a, 0, sizeof(a));
    a.payload = S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    a.decoded_content_length = -1;
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-crc32");

    char ok[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, ok, strlen(ok), &out, NULL), S3E_OK);
    /* The name in any case. */
    char upper[] = "9\r\n123456789\r\n0\r\nX-Amz-Checksum-CRC32:y/Q5Jg==\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, upper, strlen(upper), &out, NULL), S3E_OK);
    /* Declared, never sent: with and without the final empty line. */
    char none[] = "9\r\n123456789\r\n0\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, none, strlen(none), &out, NULL), S3E_MALFORMED_TRAILER);
    char none2[] = "9\r\n123456789\r\n0\r\n";
    CHECK_ERR(s3_chunked_decode(&a, none2, strlen(none2), &out, NULL), S3E_MALFORMED_TRAILER);
    CHECK_STR(s3_err_code(S3E_MALFORMED_TRAILER), "MalformedTrailerError");
    CHECK(s3_err_status(S3E_MALFORMED_TRAILER) == 400);
    CHECK_STR(s3_err_message(S3E_MALFORMED_TRAILER), "The request contained trailing data that was not well-formed "
                                                      "or did not conform to our published schema.");
    /* Another checksum than the declared one, even a correct one. */
    char other[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32c:4waSgw==\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, other, strlen(other), &out, NULL), S3E_MALFORMED_TRAILER);
    /* A name that only starts like the declared one. */
    char longer[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32c:y/Q5Jg==\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, longer, strlen(longer), &out, NULL), S3E_MALFORMED_TRAILER);
    /* The declared one plus an undeclared one, or the declared one twice. */
    char extra[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\nx-amz-meta-a:1\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, extra, strlen(extra), &out, NULL), S3E_MALFORMED_TRAILER);
    char twice[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, twice, strlen(twice), &out, NULL), S3E_MALFORMED_TRAILER);
    /* None declared: a trailer is not expected. */
    a.trailer[0] = '\0';
    char undeclared[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, undeclared, strlen(undeclared), &out, NULL), S3E_MALFORMED_TRAILER);
}

/* The signed form: a trailer signature over an empty trailer does not make up
 * for the missing checksum. */
static void test_declared_trailer_signed(void)
{
    struct s3_auth a;
    char s1[65], s2[65], ts[65], h[65], sts[512], body[1024];
    unsigned char mac[32];
    size_t out;
    example_auth(&a);
    a.payload = S3_PAYLOAD_STREAMING_SIGNED_TRAILER;
    a.decoded_content_length = 9;
    snprintf(a.trailer, sizeof(a.trailer), "x-amz-checksum-crc32");
    sign_chunk(&a, a.seed_signature, "123456789", 9, s1);
    sign_chunk(&a, s1, "", 0, s2);
    s3_sha256_hex("", 0, h);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", a.amz_date, a.scope, s2, h);
    s3_hmac_sha256(a.signing_key, 32, sts, strlen(sts), mac);
    hex_encode(mac, 32, ts);

    snprintf(body, sizeof(body),
             "9;chunk-signature=%s\r\n123456789\r\n0;chunk-signature=%s\r\nx-amz-trailer-signature:%s\r\n\r\n", s1, s2,
             ts);
    CHECK_ERR(s3_chunked_decode(&a, body, strlen(body), &out, NULL), S3E_MALFORMED_TRAILER);
    /* Nothing after the final chunk at all. */
    snprintf(body, sizeof(body), "9;chunk-signature=%s\r\n123456789\r\n0;chunk-signature=%s\r\n\r\n", s1, s2);
    CHECK_ERR(s3_chunked_decode(&a, body, strlen(body), &out, NULL), S3E_MALFORMED_TRAILER);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

/* From the request's headers to the body: x-amz-trailer, signed, reaches the
 * decoder through the s3_auth that s3_sigv4_verify fills. */
static void test_declared_trailer_end_to_end(void)
{
    const char *date = "20260101T101010Z";
    int64_t now = 1767262210; /* 2026-01-01T10:10:10Z */
    char authz[512];
    struct s3_header h[] = {
        H("Host", "127.0.0.1:9000"),
        H("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        H("x-amz-date", "20260101T101010Z"),
        H("x-amz-decoded-content-length", "9"),
        H("x-amz-trailer", "x-amz-checksum-crc32"),
        {"Authorization", 13, authz, 0},
    };
    struct s3_request r = {"PUT", 3, "/b/k", 4, NULL, 0, h, 6};
    struct dbuf auth;
    struct s3_auth a;
    size_t out;
    dbuf_init(&auth, 4096);
    CHECK(s3_sigv4_sign(&r, "AKIAIOSFODNN7EXAMPLE", S3_SECRET, "us-east-1", date,
                        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                        "host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-trailer",
                        &auth) == 0);
    snprintf(authz, sizeof(authz), "%s", auth.ptr ? auth.ptr : "");
    h[5].value_len = strlen(authz);
    dbuf_release(&auth);
    CHECK_ERR(s3_sigv4_verify(&r, lookup, NULL, now, &a), S3E_OK);

    char good[] = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, good, strlen(good), &out, NULL), S3E_OK);
    CHECK(out == 9);
    /* The checksum stripped in transit; before, this stored the body unchecked. */
    char stripped[] = "9\r\n123456789\r\n0\r\n\r\n";
    CHECK_ERR(s3_chunked_decode(&a, stripped, strlen(stripped), &out, NULL), S3E_MALFORMED_TRAILER);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

static void test_checksums(void)
{
    unsigned char d[32];
    char b64[64];
    CHECK(s3_checksum_compute("crc32", 5, "123456789", 9, d) == 4);
    CHECK(d[0] == 0xcb && d[1] == 0xf4 && d[2] == 0x39 && d[3] == 0x26);
    CHECK(s3_checksum_compute("CRC32C", 6, "123456789", 9, d) == 4);
    CHECK(d[0] == 0xe3 && d[1] == 0x06 && d[2] == 0x92 && d[3] == 0x83);
    CHECK(s3_checksum_compute("crc64nvme", 9, "123456789", 9, d) == 8);
    CHECK(d[0] == 0xae && d[1] == 0x8b && d[2] == 0x14 && d[3] == 0x86 && d[4] == 0x0a && d[5] == 0x79 &&
          d[6] == 0x98 && d[7] == 0x88);
    CHECK(s3_checksum_compute("sha1", 4, "abc", 3, d) == 20);
    s3_base64_encode(d, 20, b64, sizeof(b64));
    CHECK(strcmp(b64, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=") == 0);
    CHECK(s3_checksum_compute("md5", 3, "abc", 3, d) == 0);
    CHECK_ERR(s3_checksum_check("crc32", 5, "y/Q5Jg==", 8, "123456789", 9), S3E_OK);
    CHECK_ERR(s3_checksum_check("crc32", 5, "y/Q5Jw==", 8, "123456789", 9), S3E_BAD_DIGEST);
    CHECK_ERR(s3_checksum_check("crc32", 5, "y/Q5", 4, "123456789", 9), S3E_INVALID_DIGEST);
    CHECK_ERR(s3_checksum_check("crc32", 5, "!!!!", 4, "123456789", 9), S3E_INVALID_DIGEST);
    CHECK_ERR(s3_checksum_check("xxh3", 4, "y/Q5Jg==", 8, "123456789", 9), S3E_INVALID_ARGUMENT);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    return check_rand(&rng);
}

/* Random flips and truncations: never a crash (the sanitizers watch), never
 * more output than input, and a flipped data byte never verifies. */
static void test_mutations(void)
{
    struct s3_auth a;
    size_t len, out;
    char *orig;
    int bad = 0;
    example_auth(&a);
    orig = example_body(&len, SIG1, SIG2, SIG3);
    char *body = malloc(len);
    for (int i = 0; i < 300; i++) {
        memcpy(body, orig, len);
        size_t n = len;
        int flips = (int)(next() % 4);
        for (int k = 0; k < flips; k++)
            body[next() % len] = (char)next();
        if (next() % 2)
            n = (size_t)(next() % len);
        enum s3_err e = s3_chunked_decode(&a, body, n, &out, NULL);
        if (e == S3E_OK && (out > n || memcmp(body, orig + 88, 100) != 0))
            bad++;
    }
    CHECK(bad == 0);
    free(body);
    free(orig);

    struct s3_auth u;
    memset(&u, 0, sizeof(u));
    u.payload = S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    u.decoded_content_length = -1;
    snprintf(u.trailer, sizeof(u.trailer), "x-amz-checksum-crc32");
    const char *t = "4\r\n1234\r\n5\r\n56789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n";
    size_t tl = strlen(t);
    char buf[128];
    for (int i = 0; i < 3000; i++) {
        memcpy(buf, t, tl);
        size_t n = tl;
        int flips = 1 + (int)(next() % 3);
        for (int k = 0; k < flips; k++)
            buf[next() % tl] = "0123456789abcdef\r\n;:=x"[next() % 22];
        if (next() % 3 == 0)
            n = (size_t)(next() % tl);
        struct dbuf tr;
        dbuf_init(&tr, 4096);
        enum s3_err e = s3_chunked_decode(&u, buf, n, &out, &tr);
        if (e == S3E_OK && out > n)
            bad++;
        dbuf_release(&tr);
    }
    CHECK(bad == 0);
    secure_zero(a.signing_key, sizeof(a.signing_key));
}

int main(void)
{
    test_signed_example();
    test_signed_trailer();
    test_unsigned_trailer();
    test_declared_trailer();
    test_declared_trailer_signed();
    test_declared_trailer_end_to_end();
    test_checksums();
    test_mutations();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

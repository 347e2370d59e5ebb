/* fuzz_http.c — header-value parsers: Range, HTTP dates, conditional headers,
 * x-amz-copy-source, x-amz-copy-source-range and x-amz-tagging (s3/util.c, s3/copy.c).
 *
 * Input: one selector byte, then the value. selector % 8 ('0'..'7' in ASCII):
 *   0 Range                    s3_range_parse, against several object sizes
 *   1 HTTP date                s3_time_parse_http (and back: s3_time_http), s3_time_parse_amz
 *   2 x-amz-copy-source        s3_copy_source_parse
 *   3 x-amz-copy-source-range  s3_copy_range_parse, against several sizes
 *   4 x-amz-tagging            s3_tagging_parse_query
 *   5 conditional headers      the rest is a request in the text form of fuzz.h
 *                              (If-Match, If-None-Match, If-Modified-Since,
 *                              If-Unmodified-Since, x-amz-copy-source-if-*):
 *                              s3_conditions_check, s3_copy_conditions_check,
 *                              s3_write_conditions_check
 *   6 ETag lists               s3_etag_list_matches
 *   7 escapes                  s3_uri_decode, s3_base64_decode (and back through the encoders)
 */
#include "s3/s3_int.h"
#include "tests/fuzz/fuzz.h"

static const uint64_t sizes[] = {0, 1, 10, 1000, 5368709120ull, UINT64_MAX};

static void range(const char *v, size_t n)
{
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        int has;
        uint64_t first, last;
        enum s3_err e = s3_range_parse(v, n, sizes[i], &has, &first, &last);
        FUZZ_CHECK(e == S3E_OK || e == S3E_INVALID_RANGE);
        if (e == S3E_OK && has)
            FUZZ_CHECK(first <= last && last < sizes[i]);
    }
}

static void date(const char *v, size_t n)
{
    int64_t t = s3_time_parse_http(v, n); /* before 1970: negative, which callers take as no date */
    if (t >= 0 && t < 253402300800LL) { /* up to 9999-12-31: four-digit years */
        char out[32];
        s3_time_http(t * 1000, out);
        FUZZ_CHECK(s3_time_parse_http(out, strlen(out)) == t);
    }
    (void)s3_time_parse_amz(v, n);
}

static void copy_source(const char *v, size_t n)
{
    char bucket[S3_MAX_BUCKET_LEN + 1];
    char *key = NULL;
    enum s3_err e = s3_copy_source_parse(v, n, bucket, &key);
    if (e == S3E_OK) {
        FUZZ_CHECK(key != NULL && key[0] != '\0' && strlen(key) <= S3_MAX_KEY_LEN);
        FUZZ_CHECK(bucket[0] != '\0' && strlen(bucket) <= S3_MAX_BUCKET_LEN);
    } else {
        FUZZ_CHECK(key == NULL);
    }
    free(key);
}

static void copy_range(const char *v, size_t n)
{
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        uint64_t first, last;
        if (s3_copy_range_parse(v, n, sizes[i], &first, &last) == S3E_OK)
            FUZZ_CHECK(first <= last && last < sizes[i]);
    }
}

static void tagging(const char *v, size_t n)
{
    struct s3_tag tags[S3_MAX_TAGS];
    size_t nt = 0;
    enum s3_err e = s3_tagging_parse_query(v, n, tags, S3_MAX_TAGS, &nt);
    FUZZ_CHECK(e == S3E_OK || e == S3E_INVALID_TAG);
    if (e != S3E_OK)
        return;
    FUZZ_CHECK(nt <= S3_MAX_TAGS);
    for (size_t i = 0; i < nt; i++) {
        size_t kl = strnlen(tags[i].key, sizeof(tags[i].key));
        FUZZ_CHECK(kl >= 1 && kl <= 128);
        FUZZ_CHECK(strnlen(tags[i].value, sizeof(tags[i].value)) <= 256);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(tags[i].key, tags[j].key) != 0);
    }
}

static void conditions(const uint8_t *data, size_t size)
{
    static const char *etags[] = {"", "d41d8cd98f00b204e9800998ecf8427e", "abc-2"};
    static const int64_t mtimes[] = {0, 1369353600123, -1500};
    struct fuzz_req fr;
    fuzz_req_parse(&fr, data, size);
    for (size_t i = 0; i < ARRAY_SIZE(etags); i++) {
        enum s3_err e = s3_conditions_check(&fr.req, etags[i], mtimes[i]);
        FUZZ_CHECK(e == S3E_OK || e == S3E_NOT_MODIFIED || e == S3E_PRECONDITION_FAILED);
        e = s3_copy_conditions_check(&fr.req, etags[i], mtimes[i]);
        FUZZ_CHECK(e == S3E_OK || e == S3E_PRECONDITION_FAILED);
        e = s3_write_conditions_check(&fr.req, (int)i & 1, etags[i]);
        FUZZ_CHECK(e == S3E_OK || e == S3E_PRECONDITION_FAILED || e == S3E_NOT_IMPLEMENTED || e == S3E_NO_SUCH_KEY);
    }
    /* No etag at all. */
    enum s3_err e = s3_conditions_check(&fr.req, NULL, 0);
    FUZZ_CHECK(e == S3E_OK || e == S3E_NOT_MODIFIED || e == S3E_PRECONDITION_FAILED);
    e = s3_copy_conditions_check(&fr.req, NULL, 0);
    FUZZ_CHECK(e == S3E_OK || e == S3E_PRECONDITION_FAILED);
    e = s3_write_conditions_check(&fr.req, 1, NULL);
    FUZZ_CHECK(e == S3E_OK || e == S3E_PRECONDITION_FAILED || e == S3E_NOT_IMPLEMENTED);
    fuzz_req_release(&fr);
}

static void etag_list(const char *v, size_t n)
{
    (void)s3_etag_list_matches(v, n, "");
    (void)s3_etag_list_matches(v, n, "d41d8cd98f00b204e9800998ecf8427e");
    (void)s3_etag_list_matches(v, n, "\"x\"");
}

static void escapes(const char *v, size_t n)
{
    char *dec = xmalloc(n + 1);
    unsigned char *bin = xmalloc(n + 1);
    size_t dl = 0, bl = 0;
    struct dbuf enc;

    dbuf_init(&enc, 3 * n + 16);
    if (s3_uri_decode(v, n, dec, n + 1, &dl) == 0) {
        FUZZ_CHECK(dl <= n && memchr(dec, '\0', dl) == NULL);
        s3_uri_encode(&enc, dec, dl, 1);
        char *back = xmalloc(enc.len + 1);
        size_t l2 = 0;
        FUZZ_CHECK(s3_uri_decode(enc.ptr ? enc.ptr : "", enc.len, back, enc.len + 1, &l2) == 0);
        FUZZ_CHECK(l2 == dl && memcmp(back, dec, dl) == 0);
        free(back);
    }
    if (s3_base64_decode(v, n, bin, n + 1, &bl) == 0) {
        FUZZ_CHECK(bl <= n);
        char *b64 = xmalloc(4 * bl / 3 + 8);
        size_t el = s3_base64_encode(bin, bl, b64, 4 * bl / 3 + 8);
        unsigned char *bin2 = xmalloc(bl + 1);
        size_t bl2 = 0;
        FUZZ_CHECK(s3_base64_decode(b64, el, bin2, bl + 1, &bl2) == 0 && bl2 == bl && memcmp(bin, bin2, bl) == 0);
        free(bin2);
        free(b64);
    }
    dbuf_release(&enc);
    free(bin);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n = size - 1;
    char *v = xmalloc(n ? n : 1);
    memcpy(v, data + 1, n);
    switch (data[0] % 8) {
    case 0:
        range(v, n);
        break;
    case 1:
        date(v, n);
        break;
    case 2:
        copy_source(v, n);
        break;
    case 3:
        copy_range(v, n);
        break;
    case 4:
        tagging(v, n);
        break;
    case 5:
        conditions(data + 1, n);
        break;
    case 6:
        etag_list(v, n);
        break;
    default:
        escapes(v, n);
        break;
    }
    free(v);
    return 0;
}

/* fuzz_xml.c — the XML body parsers of s3/xml.c.
 *
 * Input: one selector byte, then the body. selector % 4 ('0'..'3' in ASCII):
 *   0 CompleteMultipartUpload (s3_xml_parse_complete)
 *   1 Delete                  (s3_xml_parse_delete)
 *   2 CreateBucketConfiguration (s3_xml_parse_create_bucket)
 *   3 Tagging                 (s3_xml_parse_tagging)
 * Checked: results stay within their documented bounds, whatever a parser
 * returns can be written back through the escaping writer, and a Delete key
 * escaped with s3_xml_escape into a new Delete body parses back unchanged.
 */
#include "tests/fuzz/fuzz.h"

static void echo(const char *name, const char *text)
{
    struct dbuf d;
    struct s3_xml x;
    dbuf_init(&d, 1 << 20);
    s3_xml_begin(&x, &d, "R");
    s3_xml_elem(&x, name, text);
    FUZZ_CHECK(s3_xml_end(&x, "R") == 0);
    dbuf_release(&d);
}

/* key → <Delete><Object><Key>escaped</Key></Object></Delete> → the same key. */
static void roundtrip(const char *key)
{
    struct dbuf d;
    struct s3_delete_key *keys = NULL;
    size_t n = 0;
    int quiet;
    dbuf_init(&d, 1 << 20);
    FUZZ_CHECK(dbuf_adds(&d, "<Delete><Object><Key>") == 0);
    s3_xml_escape(&d, key, strlen(key));
    FUZZ_CHECK(dbuf_adds(&d, "</Key></Object></Delete>") == 0);
    enum s3_err e = s3_xml_parse_delete(d.ptr, d.len, &keys, &n, &quiet);
    FUZZ_CHECK(e == S3E_OK && n == 1 && strcmp(keys[0].key, key) == 0);
    s3_delete_keys_free(keys, n);
    dbuf_release(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t len = size - 1;
    char *body = xmalloc(len ? len : 1);
    memcpy(body, data + 1, len);

    switch (data[0] % 4) {
    case 0: {
        struct s3_complete_part *parts = NULL;
        size_t n = 0;
        enum s3_err e = s3_xml_parse_complete(body, len, &parts, &n);
        if (e == S3E_OK) {
            FUZZ_CHECK(n >= 1 && n <= S3_MAX_PARTS);
            for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(parts[i].part_number >= 1 && parts[i].part_number <= S3_MAX_PARTS);
                FUZZ_CHECK(memchr(parts[i].etag, '\0', sizeof(parts[i].etag)) != NULL);
                FUZZ_CHECK(memchr(parts[i].ck_value, '\0', sizeof(parts[i].ck_value)) != NULL);
                FUZZ_CHECK(parts[i].ck_alg[0] == '\0' || s3_checksum_xml_name(parts[i].ck_alg) != NULL);
                echo("ETag", parts[i].etag);
            }
        }
        free(parts);
        break;
    }
    case 1: {
        struct s3_delete_key *keys = NULL;
        size_t n = 0;
        int quiet = 0;
        enum s3_err e = s3_xml_parse_delete(body, len, &keys, &n, &quiet);
        if (e == S3E_OK) {
            FUZZ_CHECK(n <= S3_MAX_DELETE_KEYS);
            for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(keys[i].key != NULL);
                echo("Key", keys[i].key);
                roundtrip(keys[i].key);
            }
        }
        s3_delete_keys_free(keys, n);
        break;
    }
    case 2: {
        char loc[64];
        enum s3_err e = s3_xml_parse_create_bucket(body, len, loc, sizeof(loc));
        if (e == S3E_OK) {
            FUZZ_CHECK(memchr(loc, '\0', sizeof(loc)) != NULL);
            echo("LocationConstraint", loc);
        }
        break;
    }
    default: {
        struct s3_tag tags[S3_MAX_TAGS];
        size_t n = 0;
        enum s3_err e = s3_xml_parse_tagging(body, len, tags, S3_MAX_TAGS, &n);
        if (e == S3E_OK) {
            FUZZ_CHECK(n <= S3_MAX_TAGS);
            for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(memchr(tags[i].key, '\0', sizeof(tags[i].key)) != NULL);
                FUZZ_CHECK(memchr(tags[i].value, '\0', sizeof(tags[i].value)) != NULL);
                echo("Key", tags[i].key);
                echo("Value", tags[i].value);
            }
        }
        break;
    }
    }
    free(body);
    return 0;
}

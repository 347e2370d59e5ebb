/* copy.c — rules of CopyObject, UploadPartCopy, conditional writes and the x-amz-tagging header.
 *
 * x-amz-copy-source names the source as "[/]bucket/key[?versionId=v]",
 * percent-encoded (AWS CLI, rclone and boto3 all encode; '+' is a literal
 * plus). x-amz-copy-source-range is "bytes=first-last", both required. The
 * copy-source conditions follow the GET rules of RFC 7232 except that every
 * failure is 412 (AWS "CopyObject": if-match true + if-unmodified-since false
 * copies; if-none-match false + if-modified-since true fails). Conditional
 * writes follow AWS "Conditional writes": If-None-Match accepts only "*".
 */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_int.h"

int s3_copy_source_version(const char *v, size_t len, char *out, size_t outsz)
{
    const char *q = memchr(v, '?', len);
    size_t dl = 0;

    out[0] = '\0';
    if (q == NULL)
        return 0;
    q++;
    len -= (size_t)(q - v);
    if (len < 10 || memcmp(q, "versionId=", 10) != 0 || memchr(q, '&', len) != NULL)
        return -1;
    if (len - 10 >= outsz || s3_uri_decode(q + 10, len - 10, out, outsz, &dl) != 0) {
        out[0] = '\0';
        return -1;
    }
    out[dl] = '\0';
    return 1;
}

enum s3_err s3_copy_source_parse(const char *v, size_t len, char bucket[S3_MAX_BUCKET_LEN + 1], char **key)
{
    *key = NULL;
    bucket[0] = '\0';
    /* The version query is not part of the key (a '?' in a key is sent as %3F). */
    const char *q = memchr(v, '?', len);
    if (q != NULL)
        len = (size_t)(q - v);
    if (len > 0 && v[0] == '/') {
        v++;
        len--;
    }
    char *dec = xmalloc(len + 1);
    size_t dl = 0;
    enum s3_err err = S3E_OK;
    if (s3_uri_decode(v, len, dec, len + 1, &dl) != 0) {
        err = S3E_INVALID_ARGUMENT;
        goto out;
    }
    const char *slash = memchr(dec, '/', dl);
    if (slash == NULL || slash == dec || (size_t)(slash - dec) > S3_MAX_BUCKET_LEN || slash + 1 == dec + dl) {
        err = S3E_INVALID_ARGUMENT;
        goto out;
    }
    size_t bl = (size_t)(slash - dec), kl = dl - bl - 1;
    if (kl > S3_MAX_KEY_LEN) {
        err = S3E_KEY_TOO_LONG;
        goto out;
    }
    if (!s3_utf8_valid(slash + 1, kl)) { /* no such key can exist (route.c) */
        err = S3E_INVALID_ARGUMENT;
        goto out;
    }
    memcpy(bucket, dec, bl);
    bucket[bl] = '\0';
    *key = xmalloc(kl + 1);
    memcpy(*key, slash + 1, kl);
    (*key)[kl] = '\0';
out:
    free(dec);
    return err;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

enum s3_err s3_copy_range_parse(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (len < 6 || memcmp(v, "bytes=", 6) != 0)
        return S3E_INVALID_ARGUMENT;
    v += 6;
    len -= 6;
    const char *dash = memchr(v, '-', len);
    if (dash == NULL)
        return S3E_INVALID_ARGUMENT;
    size_t fl = (size_t)(dash - v);
    if (parse_u64(v, fl, first) != 0 || parse_u64(dash + 1, len - fl - 1, last) != 0)
        return S3E_INVALID_ARGUMENT;
    if (*first > *last || *last >= size)
        return S3E_INVALID_ARGUMENT;
    return S3E_OK;
}

enum s3_err s3_copy_conditions_check(const struct s3_request *req, const char *etag, int64_t mtime_ms)
{
    size_t l;
    const char *v;
    int64_t mtime = mtime_ms >= 0 ? mtime_ms / 1000 : -((-mtime_ms + 999) / 1000);
    if (etag == NULL)
        etag = "";
    v = s3_header_get(req, "x-amz-copy-source-if-match", &l);
    if (v != NULL) {
        if (!s3_etag_list_matches(v, l, etag))
            return S3E_PRECONDITION_FAILED;
    } else {
        v = s3_header_get(req, "x-amz-copy-source-if-unmodified-since", &l);
        int64_t t = v ? s3_time_parse_http(v, l) : -1;
        if (t >= 0 && mtime > t)
            return S3E_PRECONDITION_FAILED;
    }
    v = s3_header_get(req, "x-amz-copy-source-if-none-match", &l);
    if (v != NULL) {
        if (s3_etag_list_matches(v, l, etag))
            return S3E_PRECONDITION_FAILED;
    } else {
        v = s3_header_get(req, "x-amz-copy-source-if-modified-since", &l);
        int64_t t = v ? s3_time_parse_http(v, l) : -1;
        if (t >= 0 && mtime <= t)
            return S3E_PRECONDITION_FAILED;
    }
    return S3E_OK;
}

enum s3_err s3_write_conditions_check(const struct s3_request *req, int exists, const char *etag)
{
    size_t l;
    const char *none = s3_header_get(req, "if-none-match", &l);
    if (none != NULL) {
        while (l && (*none == ' ' || *none == '\t')) {
            none++;
            l--;
        }
        while (l && (none[l - 1] == ' ' || none[l - 1] == '\t'))
            l--;
        if (l != 1 || none[0] != '*')
            return S3E_NOT_IMPLEMENTED;
        if (exists)
            return S3E_PRECONDITION_FAILED;
    }
    const char *match = s3_header_get(req, "if-match", &l);
    if (match != NULL) {
        if (!exists)
            return S3E_NO_SUCH_KEY;
        if (!s3_etag_list_matches(match, l, etag ? etag : ""))
            return S3E_PRECONDITION_FAILED;
    }
    return S3E_OK;
}

/* Form decoding of one query component into out (cap bytes + NUL): '+' is a space. */
static int form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || o >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

enum s3_err s3_tagging_parse_query(const char *v, size_t len, struct s3_tag *tags, size_t max, size_t *n)
{
    size_t i = 0;
    *n = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && v[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(v + i, '=', j - i);
            size_t kl = eq ? (size_t)(eq - (v + i)) : j - i;
            if (*n >= max)
                return S3E_INVALID_TAG;
            struct s3_tag *t = &tags[*n];
            if (kl == 0 || form_decode(v + i, kl, t->key, sizeof(t->key) - 1) != 0)
                return S3E_INVALID_TAG;
            t->value[0] = '\0';
            if (eq && form_decode(eq + 1, (size_t)(v + j - eq - 1), t->value, sizeof(t->value) - 1) != 0)
                return S3E_INVALID_TAG;
            /* Tags are returned in XML (GetObjectTagging): UTF-8 only. */
            if (!s3_xml_text_ok(t->key, strlen(t->key)) || !s3_xml_text_ok(t->value, strlen(t->value)))
                return S3E_INVALID_TAG;
            for (size_t k = 0; k < *n; k++)
                if (strcmp(tags[k].key, t->key) == 0)
                    return S3E_INVALID_TAG;
            (*n)++;
        }
        i = j + 1;
    }
    return S3E_OK;
}

/* util.c — the small S3 rules: headers, UTF-8, ranges, dates, URI coding,
 * base64, multipart ETags, conditional requests, hashes.
 *
 * All pure functions over caller buffers. Dates use our own civil-calendar
 * arithmetic (no timezone database, no locale).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "s3/s3_int.h"

/* ---- hashes ---------------------------------------------------------------- */

static void digest(const EVP_MD *md, const void *p, size_t n, unsigned char *out)
{
    unsigned int len = 0;
    int ok = EVP_Digest(p, n, out, &len, md, NULL);
    ASSERT(ok == 1);
}

void s3_sha256(const void *p, size_t n, unsigned char out[32])
{
    digest(EVP_sha256(), p, n, out);
}

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    s3_sha256(p, n, d);
    hex_encode(d, 32, out);
}

void s3_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, unsigned char out[32])
{
    unsigned int len = 32;
    unsigned char *r = HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &len);
    ASSERT(r != NULL && len == 32);
}

/* ---- headers --------------------------------------------------------------- */

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

int s3_memieq(const char *a, size_t alen, const char *b)
{
    return name_eq(a, alen, b, strlen(b));
}

const char *s3_header_get(const struct s3_request *req, const char *name, size_t *value_len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct s3_header *h = &req->headers[i];
        if (name_eq(h->name, h->name_len, name, nl)) {
            if (value_len)
                *value_len = h->value_len;
            return h->value ? h->value : "";
        }
    }
    if (value_len)
        *value_len = 0;
    return NULL;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int s3_header_value_ok(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

int s3_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xbf; /* RFC 3629 §4: the second byte's range */
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (len - i < n || p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return 0;
        i += n;
    }
    return 1;
}

int s3_header_canonical_value(const struct s3_request *req, const char *name, size_t name_len, struct dbuf *out)
{
    int found = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct s3_header *h = &req->headers[i];
        if (!name_eq(h->name, h->name_len, name, name_len))
            continue;
        if (found && dbuf_add(out, ",", 1) != 0)
            return -1;
        found++;
        /* SigV4: trim, and collapse sequential spaces to one. */
        const char *v = h->value ? h->value : "";
        size_t b = 0, e = h->value_len;
        while (b < e && is_ws(v[b]))
            b++;
        while (e > b && is_ws(v[e - 1]))
            e--;
        int in_ws = 0;
        for (size_t k = b; k < e; k++) {
            if (is_ws(v[k])) {
                in_ws = 1;
                continue;
            }
            if (in_ws && dbuf_add(out, " ", 1) != 0)
                return -1;
            in_ws = 0;
            if (dbuf_add(out, &v[k], 1) != 0)
                return -1;
        }
    }
    return found;
}

/* ---- range ----------------------------------------------------------------- */

/* Parses decimal digits, saturating at UINT64_MAX; returns chars consumed. */
static size_t parse_u64(const char *s, size_t len, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            x = UINT64_MAX;
        else
            x = x * 10 + d;
        i++;
    }
    *v = x;
    return i;
}

enum s3_err s3_range_parse(const char *hdr, size_t len, uint64_t size, int *has_range, uint64_t *first,
                           uint64_t *last)
{
    *has_range = 0;
    *first = *last = 0;
    if (hdr == NULL)
        return S3E_OK;
    while (len && is_ws(*hdr)) {
        hdr++;
        len--;
    }
    while (len && is_ws(hdr[len - 1]))
        len--;
    if (len < 6 || !s3_memieq(hdr, 5, "bytes"))
        return S3E_OK;
    size_t i = 5;
    while (i < len && hdr[i] == ' ')
        i++;
    if (i >= len || hdr[i] != '=')
        return S3E_OK;
    i++;
    while (i < len && hdr[i] == ' ')
        i++;
    const char *s = hdr + i;
    size_t n = len - i;
    if (memchr(s, ',', n) != NULL) /* multiple ranges: serve the whole object */
        return S3E_OK;
    uint64_t a = 0, b = 0;
    if (n > 0 && s[0] == '-') {
        size_t k = parse_u64(s + 1, n - 1, &b);
        if (k == 0 || k != n - 1)
            return S3E_OK;
        if (b == 0 || size == 0)
            return S3E_INVALID_RANGE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        *has_range = 1;
        return S3E_OK;
    }
    size_t k = parse_u64(s, n, &a);
    if (k == 0 || k >= n || s[k] != '-')
        return S3E_OK;
    size_t rest = n - k - 1;
    if (rest > 0) {
        size_t k2 = parse_u64(s + k + 1, rest, &b);
        if (k2 != rest)
            return S3E_OK;
        if (b < a) /* syntactically invalid: ignored (RFC 7233 §2.1) */
            return S3E_OK;
    } else {
        b = UINT64_MAX;
    }
    if (size == 0 || a >= size)
        return S3E_INVALID_RANGE;
    *first = a;
    *last = b >= size ? size - 1 : b;
    *has_range = 1;
    return S3E_OK;
}

/* ---- time ------------------------------------------------------------------ */

/* Howard Hinnant's days_from_civil. */
int64_t s3_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

struct civil {
    int64_t y;
    unsigned m, d, hh, mm, ss, wday;
};

static void civil_from_unix(int64_t t, struct civil *c)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t secs = t - days * 86400;
    c->hh = (unsigned)(secs / 3600);
    c->mm = (unsigned)(secs % 3600 / 60);
    c->ss = (unsigned)(secs % 60);
    c->wday = (unsigned)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c->d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c->m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c->y = yoe + era * 400 + (c->m <= 2);
}

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

void s3_time_http(int64_t unix_ms, char out[32])
{
    struct civil c;
    civil_from_unix(floor_div(unix_ms, 1000), &c);
    snprintf(out, 32, "%s, %02u %s %04lld %02u:%02u:%02u GMT", wdays[c.wday], c.d, months[c.m - 1],
             (long long)c.y, c.hh, c.mm, c.ss);
}

void s3_time_iso(int64_t unix_ms, char out[32])
{
    struct civil c;
    int64_t s = floor_div(unix_ms, 1000);
    civil_from_unix(s, &c);
    snprintf(out, 32, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)c.y, c.m, c.d, c.hh, c.mm, c.ss,
             (unsigned)(unix_ms - s * 1000));
}

void s3_time_amz(int64_t unix_s, char out[17])
{
    struct civil c;
    civil_from_unix(unix_s, &c);
    snprintf(out, 17, "%04u%02u%02uT%02u%02u%02uZ", (unsigned)(c.y % 10000), c.m, c.d, c.hh, c.mm, c.ss);
}

static int digits(const char *s, size_t n, unsigned *v)
{
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    *v = x;
    return 0;
}

static int64_t make_time(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s)
{
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
        return -1;
    return s3_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

int64_t s3_time_parse_amz(const char *s, size_t len)
{
    unsigned y, mo, d, h, mi, se;
    if (len != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    if (digits(s, 4, &y) || digits(s + 4, 2, &mo) || digits(s + 6, 2, &d) || digits(s + 9, 2, &h) ||
        digits(s + 11, 2, &mi) || digits(s + 13, 2, &se))
        return -1;
    return make_time(y, mo, d, h, mi, se);
}

static int month_of(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (s3_memieq(s, 3, months[i]))
            return i + 1;
    return 0;
}

/* "hh:mm:ss" at s. */
static int parse_hms(const char *s, size_t n, unsigned *h, unsigned *mi, unsigned *se)
{
    if (n < 8 || s[2] != ':' || s[5] != ':')
        return -1;
    if (digits(s, 2, h) || digits(s + 3, 2, mi) || digits(s + 6, 2, se))
        return -1;
    return 0;
}

/* The zone after the time: RFC 9110 writes GMT; clients signing SigV2 write
 * "+0000" (s3cmd, RFC 5322's numeric form), and "-0000" and UTC mean the same. */
static int zone_ok(const char *z)
{
    return !strcmp(z, " GMT") || !strcmp(z, " UTC") || !strcmp(z, " +0000") || !strcmp(z, " -0000");
}

int64_t s3_time_parse_http(const char *s, size_t len)
{
    char buf[64];
    unsigned d, y, h, mi, se;
    int mo;

    if (s == NULL || len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    while (len && is_ws(buf[len - 1]))
        buf[--len] = '\0';
    const char *comma = strchr(buf, ',');
    if (comma) {
        const char *p = comma + 1;
        while (*p == ' ')
            p++;
        size_t n = strlen(p);
        if (n >= 24 && p[2] == ' ' && p[6] == ' ' && p[11] == ' ') {
            /* RFC 1123: "06 Nov 1994 08:49:37 GMT" */
            mo = month_of(p + 3);
            if (digits(p, 2, &d) || !mo || digits(p + 7, 4, &y) || parse_hms(p + 12, n - 12, &h, &mi, &se))
                return -1;
            if (!zone_ok(p + 20))
                return -1;
            return make_time(y, (unsigned)mo, d, h, mi, se);
        }
        if (n >= 22 && p[2] == '-' && p[6] == '-' && p[9] == ' ') {
            /* RFC 850: "06-Nov-94 08:49:37 GMT" */
            mo = month_of(p + 3);
            if (digits(p, 2, &d) || !mo || digits(p + 7, 2, &y) || parse_hms(p + 10, n - 10, &h, &mi, &se))
                return -1;
            if (!zone_ok(p + 18))
                return -1;
            y += y < 70 ? 2000 : 1900;
            return make_time(y, (unsigned)mo, d, h, mi, se);
        }
        return -1;
    }
    /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (len == 24 && buf[3] == ' ' && buf[7] == ' ' && buf[10] == ' ' && buf[19] == ' ') {
        mo = month_of(buf + 4);
        char dd[2] = {buf[8] == ' ' ? '0' : buf[8], buf[9]};
        if (!mo || digits(dd, 2, &d) || parse_hms(buf + 11, 8, &h, &mi, &se) || digits(buf + 20, 4, &y))
            return -1;
        return make_time(y, (unsigned)mo, d, h, mi, se);
    }
    return -1;
}

/* ---- URI coding ------------------------------------------------------------ */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

void s3_uri_encode(struct dbuf *out, const char *s, size_t len, int encode_slash)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && (unreserved((unsigned char)s[j]) || (!encode_slash && s[j] == '/')))
            j++;
        if (j > i && dbuf_add(out, s + i, j - i) != 0)
            return;
        if (j >= len)
            break;
        unsigned char c = (unsigned char)s[j];
        char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
        if (dbuf_add(out, e, 3) != 0)
            return;
        i = j + 1;
    }
}

int s3_uri_decode(const char *s, size_t len, char *out, size_t outsz, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return -1;
        if (o + 1 >= outsz)
            return -1;
        out[o++] = c;
    }
    if (o >= outsz)
        return -1;
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return 0;
}

/* ---- base64 ---------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t s3_base64_encode(const unsigned char *in, size_t n, char *out, size_t outsz)
{
    size_t need = (n + 2) / 3 * 4;
    if (outsz < need + 1) {
        if (outsz)
            out[0] = '\0';
        return 0;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int s3_base64_decode(const char *in, size_t n, unsigned char *out, size_t outsz, size_t *out_len)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '=') {
            pad++;
            continue;
        }
        if (pad) /* data after padding */
            return -1;
        int v = b64val(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsz)
                return -1;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* Padding, when present, must complete the last quantum. */
    size_t data = n - pad;
    if (pad > 2 || (pad && (data + pad) % 4 != 0) || data % 4 == 1)
        return -1;
    if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0) /* leftover non-zero bits */
        return -1;
    if (out_len)
        *out_len = o;
    return 0;
}

/* ---- ETag ------------------------------------------------------------------ */

void s3_etag_multipart(const char (*part_md5_hex)[33], size_t n, char out[48])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char d[16];
    unsigned int dl = 0;
    ASSERT(ctx != NULL);
    ASSERT(EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char bin[16] = {0};
        for (size_t k = 0; k < 16; k++) {
            int hi = hex_digit(part_md5_hex[i][2 * k]), lo = hex_digit(part_md5_hex[i][2 * k + 1]);
            if (hi < 0 || lo < 0)
                break;
            bin[k] = (unsigned char)(hi << 4 | lo);
        }
        ASSERT(EVP_DigestUpdate(ctx, bin, 16) == 1);
    }
    ASSERT(EVP_DigestFinal_ex(ctx, d, &dl) == 1);
    EVP_MD_CTX_free(ctx);
    hex_encode(d, 16, out);
    snprintf(out + 32, 16, "-%zu", n);
}

/* ---- conditional requests ------------------------------------------------- */

/* Does the If-Match / If-None-Match list (comma separated, quotes optional,
 * W/ tolerated, '*' for any) contain etag? */
int s3_etag_list_matches(const char *v, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && v[j] != ',')
            j++;
        size_t b = i, e = j;
        while (b < e && is_ws(v[b]))
            b++;
        while (e > b && is_ws(v[e - 1]))
            e--;
        if (e - b >= 2 && (v[b] == 'W' || v[b] == 'w') && v[b + 1] == '/')
            b += 2;
        if (e - b >= 2 && v[b] == '"' && v[e - 1] == '"') {
            b++;
            e--;
        }
        if (e - b == 1 && v[b] == '*')
            return 1;
        if (e - b == elen && memcmp(v + b, etag, elen) == 0)
            return 1;
        i = j + 1;
    }
    return 0;
}

enum s3_err s3_conditions_check(const struct s3_request *req, const char *etag, int64_t mtime_ms)
{
    size_t l;
    const char *v;
    int64_t mtime = floor_div(mtime_ms, 1000);
    int get_or_head = s3_memieq(req->method, req->method_len, "GET") || s3_memieq(req->method, req->method_len, "HEAD");
    const char *if_match = s3_header_get(req, "if-match", &l);
    size_t if_match_len = l;
    const char *if_none = s3_header_get(req, "if-none-match", &l);
    size_t if_none_len = l;

    if (etag == NULL)
        etag = "";
    /* RFC 7232 §6 order, as S3 applies it. */
    if (if_match) {
        if (!s3_etag_list_matches(if_match, if_match_len, etag))
            return S3E_PRECONDITION_FAILED;
    } else {
        v = s3_header_get(req, "if-unmodified-since", &l);
        int64_t t = v ? s3_time_parse_http(v, l) : -1;
        if (t >= 0 && mtime > t)
            return S3E_PRECONDITION_FAILED;
    }
    if (if_none) {
        if (s3_etag_list_matches(if_none, if_none_len, etag))
            return get_or_head ? S3E_NOT_MODIFIED : S3E_PRECONDITION_FAILED;
    } else if (get_or_head) {
        v = s3_header_get(req, "if-modified-since", &l);
        int64_t t = v ? s3_time_parse_http(v, l) : -1;
        if (t >= 0 && mtime <= t)
            return S3E_NOT_MODIFIED;
    }
    return S3E_OK;
}

int s3_query_next(const char *q, size_t len, size_t *pos, struct s3_query_pair *p)
{
    size_t i = *pos;
    while (q != NULL && i < len) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(q + i, '=', j - i);
            p->k = q + i;
            p->kl = eq ? (size_t)(eq - (q + i)) : j - i;
            p->v = eq ? eq + 1 : NULL;
            p->vl = eq ? (size_t)(q + j - eq - 1) : 0;
            *pos = j + 1;
            return 1;
        }
        i = j + 1;
    }
    *pos = len;
    return 0;
}

size_t s3_query_cap(const char *q, size_t len)
{
    size_t cap = 1;
    for (size_t i = 0; q != NULL && i < len; i++)
        if (q[i] == '&')
            cap++;
    return cap;
}

/* chunked.c — aws-chunked body decoding with chunk and trailer signatures,
 * plus the x-amz-checksum-* family (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256).
 *
 * Wire format (AWS "Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks"):
 *   signed:    hex-size;chunk-signature=<64 hex>\r\n <data> \r\n … 0;chunk-signature=<sig>\r\n \r\n
 *   unsigned:  hex-size\r\n <data> \r\n … 0\r\n
 *   trailers:  name:value\r\n … [x-amz-trailer-signature:<sig>\r\n] \r\n
 * Decoding is in place: the write cursor never overtakes the read cursor
 * because every chunk's data is preceded by its header.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "s3/s3_int.h"

#define MAX_CHUNK_LINE 256 /* bytes, including CRLF */
#define MAX_TRAILER 4096   /* bytes of trailer section */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- checksums ------------------------------------------------------------- */

size_t s3_checksum_compute(const char *alg, size_t alg_len, const void *data, size_t len, unsigned char out[32])
{
    const unsigned char *p = data;
    unsigned int dl = 0;
    if (s3_memieq(alg, alg_len, "crc32") || s3_memieq(alg, alg_len, "crc32c")) {
        uint32_t c = alg_len == 5 ? s3_crc32(0, p, len) : s3_crc32c(0, p, len);
        for (int i = 0; i < 4; i++)
            out[i] = (unsigned char)(c >> (24 - 8 * i));
        return 4;
    }
    if (s3_memieq(alg, alg_len, "crc64nvme")) {
        uint64_t c = s3_crc64nvme(0, p, len);
        for (int i = 0; i < 8; i++)
            out[i] = (unsigned char)(c >> (56 - 8 * i));
        return 8;
    }
    if (s3_memieq(alg, alg_len, "sha1")) {
        ASSERT(EVP_Digest(p, len, out, &dl, EVP_sha1(), NULL) == 1);
        return 20;
    }
    if (s3_memieq(alg, alg_len, "sha256")) {
        ASSERT(EVP_Digest(p, len, out, &dl, EVP_sha256(), NULL) == 1);
        return 32;
    }
    return 0;
}

enum s3_err s3_checksum_check(const char *alg, size_t alg_len, const char *b64, size_t b64_len, const void *data,
                              size_t len)
{
    unsigned char want[32], got[32];
    size_t wl = 0;
    size_t gl = s3_checksum_compute(alg, alg_len, data, len, got);
    if (gl == 0)
        return S3E_INVALID_ARGUMENT;
    while (b64_len && (b64[b64_len - 1] == ' ' || b64[b64_len - 1] == '\t'))
        b64_len--;
    while (b64_len && (*b64 == ' ' || *b64 == '\t')) {
        b64++;
        b64_len--;
    }
    if (s3_base64_decode(b64, b64_len, want, sizeof(want), &wl) != 0 || wl != gl)
        return S3E_INVALID_DIGEST;
    return CRYPTO_memcmp(want, got, gl) == 0 ? S3E_OK : S3E_BAD_DIGEST;
}

/* ---- framing ----------------------------------------------------------------- */

/* Finds the end of a line starting at p (at most max bytes). Returns the
 * length of the line without its terminator and sets *term to 1 (\n) or 2
 * (\r\n); -1 when no terminator is within reach. */
static long find_eol(const char *p, size_t avail, size_t max, size_t *term)
{
    size_t lim = avail < max ? avail : max;
    for (size_t i = 0; i < lim; i++) {
        if (p[i] == '\n') {
            *term = 1;
            if (i > 0 && p[i - 1] == '\r') {
                *term = 2;
                return (long)(i - 1);
            }
            return (long)i;
        }
    }
    return -1;
}

/* Chunk signature: AWS4-HMAC-SHA256-PAYLOAD string to sign. */
static void chunk_signature(const struct s3_auth *auth, const char *prev, const void *data, size_t n, char out[65])
{
    char sts[512], h[65];
    unsigned char mac[32];
    s3_sha256_hex(data, n, h);
    int l = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", auth->amz_date, auth->scope,
                     prev, EMPTY_SHA256, h);
    ASSERT(l > 0 && (size_t)l < sizeof(sts));
    s3_hmac_sha256(auth->signing_key, 32, sts, (size_t)l, mac);
    hex_encode(mac, 32, out);
}

static int sig_eq(const char *given, size_t n, const char *want)
{
    char g[64];
    if (n != 64)
        return 0;
    for (size_t i = 0; i < 64; i++)
        g[i] = (given[i] >= 'A' && given[i] <= 'Z') ? (char)(given[i] + 32) : given[i];
    return CRYPTO_memcmp(g, want, 64) == 0;
}

static int trim_view(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
    return 0;
}

/* Parses the trailer section at buf[r..len). Collects "name:value\n" lines
 * (lower-case names) into lines, and the trailer signature if any. */
static enum s3_err parse_trailer(const char *buf, size_t len, size_t r, struct dbuf *lines, char sig[65], int *has_sig)
{
    *has_sig = 0;
    while (r < len) {
        size_t term;
        long ll = find_eol(buf + r, len - r, MAX_TRAILER, &term);
        if (ll < 0) {
            /* The last trailer line may come without a terminator. */
            if (len - r > MAX_TRAILER)
                return S3E_INVALID_REQUEST;
            ll = (long)(len - r);
            term = 0;
        }
        const char *line = buf + r;
        size_t n = (size_t)ll;
        r += n + term;
        if (n == 0)
            break; /* the empty line ends the trailer */
        const char *colon = memchr(line, ':', n);
        if (colon == NULL || colon == line)
            return S3E_INVALID_REQUEST;
        const char *name = line, *val = colon + 1;
        size_t nl = (size_t)(colon - line), vl = n - nl - 1;
        trim_view(&name, &nl);
        trim_view(&val, &vl);
        if (s3_memieq(name, nl, "x-amz-trailer-signature")) {
            if (vl != 64)
                return S3E_SIGNATURE_DOES_NOT_MATCH;
            memcpy(sig, val, 64);
            sig[64] = '\0';
            *has_sig = 1;
            continue;
        }
        for (size_t i = 0; i < nl; i++) {
            char c = name[i];
            c = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            if (dbuf_add(lines, &c, 1) != 0)
                return S3E_INVALID_REQUEST;
        }
        if (dbuf_add(lines, ":", 1) != 0 || dbuf_add(lines, val, vl) != 0 || dbuf_add(lines, "\n", 1) != 0)
            return S3E_INVALID_REQUEST;
    }
    /* Anything after the terminating empty line is not allowed. */
    if (r < len)
        return S3E_INVALID_REQUEST;
    return S3E_OK;
}

/* One "name:value" line of the collected trailer lines. */
struct trailer_line {
    const char *name;
    size_t name_len;   /* bytes up to the colon, or the whole line without one */
    const char *value; /* after the colon; NULL when the line has none */
    size_t value_len;  /* bytes */
};

/* Steps through lines (lower-case "name:value\n" lines, as parse_trailer
 * collects them) from *pos: fills tl with the line there and moves *pos past
 * its newline. Returns 0 when no line is left. */
static int trailer_line_next(const struct dbuf *lines, size_t *pos, struct trailer_line *tl)
{
    if (*pos >= lines->len)
        return 0;
    const char *line = lines->ptr + *pos;
    const char *nl = memchr(line, '\n', lines->len - *pos);
    size_t ll = nl ? (size_t)(nl - line) : lines->len - *pos;
    const char *colon = memchr(line, ':', ll);
    tl->name = line;
    tl->name_len = colon ? (size_t)(colon - line) : ll;
    tl->value = colon ? colon + 1 : NULL;
    tl->value_len = colon ? ll - tl->name_len - 1 : 0;
    *pos += ll + 1;
    return 1;
}

/* The trailer must be exactly the one x-amz-trailer declared (a single name,
 * as S3 allows one checksum): with the declared line missing, a checksum the
 * client asked for would silently go unchecked, since the trailer of
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER is covered by no signature. A missing,
 * repeated or undeclared trailer is AWS's MalformedTrailerError. lines holds
 * lower-case "name:value\n" lines without the trailer signature. */
static enum s3_err check_trailer_declared(const struct dbuf *lines, const struct s3_auth *auth)
{
    const char *declared = auth->trailer;
    size_t dl = strnlen(declared, sizeof(auth->trailer)), pos = 0;
    struct trailer_line tl;
    int seen = 0;
    while (trailer_line_next(lines, &pos, &tl)) {
        if (dl == 0 || tl.name_len != dl || memcmp(tl.name, declared, dl) != 0 || seen)
            return S3E_MALFORMED_TRAILER;
        seen = 1;
    }
    return dl && !seen ? S3E_MALFORMED_TRAILER : S3E_OK;
}

/* Verifies every x-amz-checksum-* line against the decoded data. */
static enum s3_err check_trailer_checksums(const struct dbuf *lines, const char *data, size_t n)
{
    size_t pos = 0;
    struct trailer_line tl;
    while (trailer_line_next(lines, &pos, &tl)) {
        if (tl.value && tl.name_len > 15 && memcmp(tl.name, "x-amz-checksum-", 15) == 0) {
            enum s3_err e = s3_checksum_check(tl.name + 15, tl.name_len - 15, tl.value, tl.value_len, data, n);
            if (e == S3E_INVALID_ARGUMENT) /* unknown algorithm */
                return S3E_INVALID_REQUEST;
            if (e != S3E_OK)
                return e == S3E_INVALID_DIGEST ? S3E_INVALID_REQUEST : e;
        }
    }
    return S3E_OK;
}

/* Parses a chunk header line (without its terminator): the hex size and,
 * when present, the view of its chunk-signature extension (*csig NULL when
 * there is none). */
static enum s3_err parse_chunk_header(const char *line, size_t n, uint64_t *size, const char **csig, size_t *csl)
{
    size_t i = 0;
    *size = 0;
    *csig = NULL;
    *csl = 0;
    while (i < n && hex_digit(line[i]) >= 0) {
        if (*size >> 56)
            return S3E_INVALID_REQUEST;
        *size = *size << 4 | (uint64_t)hex_digit(line[i]);
        i++;
    }
    if (i == 0)
        return S3E_INVALID_REQUEST;
    if (i < n) {
        static const char ext[] = ";chunk-signature=";
        if (line[i] != ';')
            return S3E_INVALID_REQUEST;
        if (n - i >= sizeof(ext) - 1 && memcmp(line + i, ext, sizeof(ext) - 1) == 0) {
            *csig = line + i + sizeof(ext) - 1;
            *csl = n - i - (sizeof(ext) - 1);
        }
    }
    return S3E_OK;
}

/* Decodes the chunks of buf[0..len) up to and including the final empty
 * one, moving their data to the front: *r ends past the final chunk's
 * header, *w is the decoded length. For signed chunks each signature is
 * checked, chained from prev, which ends as the final chunk's signature
 * (sig is scratch space for the caller to wipe). */
static enum s3_err decode_chunks(const struct s3_auth *auth, int signed_chunks, char *buf, size_t len, size_t *r,
                                 size_t *w, char prev[65], char sig[65])
{
    for (;;) {
        size_t term;
        if (*r >= len)
            return S3E_INCOMPLETE_BODY;
        long ll = find_eol(buf + *r, len - *r, MAX_CHUNK_LINE, &term);
        if (ll < 0)
            return len - *r < MAX_CHUNK_LINE ? S3E_INCOMPLETE_BODY : S3E_INVALID_REQUEST;
        size_t n = (size_t)ll;
        uint64_t size;
        const char *csig;
        size_t csl;
        enum s3_err err = parse_chunk_header(buf + *r, n, &size, &csig, &csl);
        if (err != S3E_OK)
            return err;
        *r += n + term;
        if (signed_chunks && csig == NULL)
            return S3E_INVALID_REQUEST;
        if (size > len - *r)
            return S3E_INCOMPLETE_BODY;
        if (signed_chunks) {
            chunk_signature(auth, prev, buf + *r, (size_t)size, sig);
            if (!sig_eq(csig, csl, sig))
                return S3E_SIGNATURE_DOES_NOT_MATCH;
            memcpy(prev, sig, 65);
        }
        if (size == 0)
            return S3E_OK;
        memmove(buf + *w, buf + *r, (size_t)size);
        *w += (size_t)size;
        *r += (size_t)size;
        /* Each chunk's data ends with CRLF. */
        if (len - *r < 2)
            return S3E_INCOMPLETE_BODY;
        if (buf[*r] == '\r' && buf[*r + 1] == '\n')
            *r += 2;
        else if (buf[*r] == '\n')
            *r += 1;
        else
            return S3E_INVALID_REQUEST;
    }
}

/* The trailer signature (AWS4-HMAC-SHA256-TRAILER string to sign, chained
 * from the final chunk's signature prev) over the collected lines. */
static enum s3_err check_trailer_signature(const struct s3_auth *auth, const struct dbuf *lines, const char *prev,
                                           const char *tsig, int has_sig, char sig[65])
{
    char sts[512], h[65];
    unsigned char mac[32];
    if (!has_sig)
        return S3E_SIGNATURE_DOES_NOT_MATCH;
    s3_sha256_hex(lines->ptr ? lines->ptr : "", lines->len, h);
    int sl = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", auth->amz_date, auth->scope,
                      prev, h);
    ASSERT(sl > 0 && (size_t)sl < sizeof(sts));
    s3_hmac_sha256(auth->signing_key, 32, sts, (size_t)sl, mac);
    hex_encode(mac, 32, sig);
    return sig_eq(tsig, 64, sig) ? S3E_OK : S3E_SIGNATURE_DOES_NOT_MATCH;
}

/* The trailer section at buf[r..len) of a trailer payload: parsed into
 * lines, held to the declared trailer, its signature checked (signed form)
 * and its checksums verified against the decoded data buf[0..w). */
static enum s3_err check_trailer(const struct s3_auth *auth, const char *buf, size_t len, size_t r, size_t w,
                                 const char *prev, char sig[65], struct dbuf *lines)
{
    int has_sig = 0;
    char tsig[65];
    enum s3_err err = parse_trailer(buf, len, r, lines, tsig, &has_sig);
    if (err != S3E_OK)
        return err;
    err = check_trailer_declared(lines, auth);
    if (err != S3E_OK)
        return err;
    if (auth->payload == S3_PAYLOAD_STREAMING_SIGNED_TRAILER) {
        err = check_trailer_signature(auth, lines, prev, tsig, has_sig, sig);
        if (err != S3E_OK)
            return err;
    }
    return check_trailer_checksums(lines, buf, w);
}

/* What may follow the final chunk of a payload without trailer: nothing or
 * one empty line. */
static int body_end_ok(const char *buf, size_t len, size_t r)
{
    /* Signed chunks end with an empty line; tolerate its absence. */
    size_t rest = len - r;
    return rest == 0 || (rest == 2 && buf[r] == '\r' && buf[r + 1] == '\n') || (rest == 1 && buf[r] == '\n');
}

enum s3_err s3_chunked_decode(const struct s3_auth *auth, char *buf, size_t len, size_t *out_len,
                              struct dbuf *trailer)
{
    int signed_chunks = auth->payload == S3_PAYLOAD_STREAMING_SIGNED ||
                        auth->payload == S3_PAYLOAD_STREAMING_SIGNED_TRAILER;
    int has_trailer = auth->payload == S3_PAYLOAD_STREAMING_SIGNED_TRAILER ||
                      auth->payload == S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    char prev[65], sig[65];
    size_t r = 0, w = 0;
    struct dbuf lines;
    enum s3_err err = S3E_OK;

    dbuf_init(&lines, MAX_TRAILER);
    memcpy(prev, auth->seed_signature, 65);
    prev[64] = '\0';
    *out_len = 0;

    err = decode_chunks(auth, signed_chunks, buf, len, &r, &w, prev, sig);
    if (err != S3E_OK)
        goto out;
    if (has_trailer) {
        err = check_trailer(auth, buf, len, r, w, prev, sig, &lines);
        if (err != S3E_OK)
            goto out;
    } else if (!body_end_ok(buf, len, r)) {
        err = S3E_INVALID_REQUEST;
        goto out;
    }
    if (auth->decoded_content_length >= 0 && (uint64_t)auth->decoded_content_length != w) {
        err = S3E_INCOMPLETE_BODY;
        goto out;
    }
    if (trailer && lines.len && dbuf_add(trailer, lines.ptr, lines.len) != 0) {
        err = S3E_INVALID_REQUEST;
        goto out;
    }
    *out_len = w;
out:
    secure_zero(sig, sizeof(sig));
    dbuf_release(&lines);
    return err;
}

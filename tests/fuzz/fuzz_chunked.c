/* fuzz_chunked.c — aws-chunked body decoding with chunk signatures and trailers: s3_chunked_decode.
 *
 * Input: one mode byte, then the body as it comes off the wire.
 *   mode & 3:  0 STREAMING-UNSIGNED-PAYLOAD-TRAILER, 1 STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
 *              2 STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, 3 the first again
 *   mode & 4:  re-sign: before decoding, every "chunk-signature=" and the
 *              "x-amz-trailer-signature:" value are overwritten with the right
 *              signature, so that mutated bodies get past the signature checks
 *   mode & 8:  x-amz-decoded-content-length is known: the length of the data
 *              as the re-signing walk saw it (else -1, not checked)
 *   mode & 16: no trailer declared; else the trailer forms declare (x-amz-trailer)
 *              the name of the first trailer line the walk saw
 * ASCII '0'..'9' are the modes 0..9 ('8' and '9': 0 and 1 with the length).
 * The signing material is that of AWS's "Transfer Payload in Multiple
 * Chunks" example (seed signature 4f232c43…), so its body verifies as it is.
 * Checked: a success never yields more bytes than came in, and the trailer
 * handed back is "name:value\n" lines.
 */
#include <stdio.h>

#include "s3/s3_int.h"
#include "tests/fuzz/fuzz.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define SEED_SIG "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void make_auth(struct s3_auth *a, enum s3_payload payload)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->access_key, sizeof(a->access_key), "AKIAIOSFODNN7EXAMPLE");
    a->payload = payload;
    s3_sigv4_signing_key(SECRET, "20130524", "us-east-1", "s3", a->signing_key);
    snprintf(a->seed_signature, sizeof(a->seed_signature), "%s", SEED_SIG);
    snprintf(a->amz_date, sizeof(a->amz_date), "20130524T000000Z");
    snprintf(a->scope, sizeof(a->scope), "20130524/us-east-1/s3/aws4_request");
    snprintf(a->region, sizeof(a->region), "us-east-1");
    a->decoded_content_length = -1;
}

static void hmac_hex(const struct s3_auth *a, const char *sts, size_t n, char out[65])
{
    unsigned char mac[32];
    s3_hmac_sha256(a->signing_key, 32, sts, n, mac);
    hex_encode(mac, 32, out);
}

/* Lower-cased, trimmed "name:value\n" of one trailer line, as the signature covers it. */
static void trailer_line(struct dbuf *d, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    if (colon == NULL)
        return;
    const char *name = line, *val = colon + 1;
    size_t nl = (size_t)(colon - line), vl = n - nl - 1;
    while (nl && (*name == ' ' || *name == '\t'))
        name++, nl--;
    while (nl && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
        nl--;
    while (vl && (*val == ' ' || *val == '\t'))
        val++, vl--;
    while (vl && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
        vl--;
    if (s3_memieq(name, nl, "x-amz-trailer-signature"))
        return;
    for (size_t i = 0; i < nl; i++) {
        char c = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
        if (dbuf_add(d, &c, 1) != 0)
            return;
    }
    if (dbuf_add(d, ":", 1) != 0 || dbuf_add(d, val, vl) != 0 || dbuf_add(d, "\n", 1) != 0)
        return;
}

/* Walks the framing leniently and writes the right signatures in place.
 * Returns the number of data bytes the walk saw; the name of the first
 * trailer line goes to first_trailer (lower case, "" if none). */
static size_t resign(const struct s3_auth *a, char *buf, size_t len, char first_trailer[64])
{
    static const char ext[] = "chunk-signature=";
    char prev[65], sig[65], h[65], sts[512];
    size_t r = 0, total = 0;
    memcpy(prev, a->seed_signature, 65);
    while (r < len) {
        char *lf = memchr(buf + r, '\n', len - r);
        size_t ll = lf ? (size_t)(lf - (buf + r)) : len - r;
        uint64_t size = 0;
        size_t i = 0;
        while (i < ll && i < 15 && ((buf[r + i] >= '0' && buf[r + i] <= '9') || ((buf[r + i] | 0x20) >= 'a' &&
                                                                              (buf[r + i] | 0x20) <= 'f'))) {
            char c = buf[r + i];
            size = size << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            i++;
        }
        char *s = NULL;
        for (size_t k = i; k + sizeof(ext) - 1 <= ll; k++)
            if (memcmp(buf + r + k, ext, sizeof(ext) - 1) == 0) {
                s = buf + r + k + sizeof(ext) - 1;
                break;
            }
        size_t data = r + ll + (lf ? 1 : 0);
        if (size > len - data)
            size = len - data;
        if (s != NULL && (size_t)(buf + r + ll - s) >= 64) {
            s3_sha256_hex(buf + data, (size_t)size, h);
            int n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", a->amz_date,
                             a->scope, prev, EMPTY_SHA256, h);
            hmac_hex(a, sts, (size_t)n, sig);
            memcpy(s, sig, 64);
            memcpy(prev, sig, 65);
        }
        r = data + (size_t)size;
        total += (size_t)size;
        if (i == 0 || size == 0)
            break;
        if (r < len && buf[r] == '\r')
            r++;
        if (r < len && buf[r] == '\n')
            r++;
    }
    /* The trailer: its lines, then the signature line's value. */
    struct dbuf lines;
    char *sigval = NULL;
    dbuf_init(&lines, 8192);
    first_trailer[0] = '\0';
    while (r < len) {
        char *lf = memchr(buf + r, '\n', len - r);
        size_t ll = lf ? (size_t)(lf - (buf + r)) : len - r;
        size_t n = ll && buf[r + ll - 1] == '\r' ? ll - 1 : ll;
        if (n == 0)
            break;
        static const char tsig[] = "x-amz-trailer-signature:";
        if (n >= sizeof(tsig) - 1 + 64 && memcmp(buf + r, tsig, sizeof(tsig) - 1) == 0)
            sigval = buf + r + sizeof(tsig) - 1;
        else
            trailer_line(&lines, buf + r, n);
        if (first_trailer[0] == '\0' && lines.len > 0) {
            size_t nl = strcspn(lines.ptr, ":");
            snprintf(first_trailer, 64, "%.*s", (int)(nl < 63 ? nl : 63), lines.ptr);
        }
        r += ll + (lf ? 1 : 0);
    }
    if (sigval != NULL) {
        s3_sha256_hex(lines.ptr ? lines.ptr : "", lines.len, h);
        int n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", a->amz_date, a->scope, prev,
                         h);
        hmac_hex(a, sts, (size_t)n, sig);
        memcpy(sigval, sig, 64);
    }
    dbuf_release(&lines);
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum s3_payload modes[4] = {S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER, S3_PAYLOAD_STREAMING_SIGNED,
                                             S3_PAYLOAD_STREAMING_SIGNED_TRAILER,
                                             S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    struct s3_auth a;
    struct dbuf trailer;
    size_t out = 0;
    if (size == 0)
        return 0;
    unsigned mode = data[0] >= '0' && data[0] <= '9' ? (unsigned)(data[0] - '0') : data[0];
    size_t len = size - 1;
    char *buf = xmalloc(len ? len : 1);
    memcpy(buf, data + 1, len);

    make_auth(&a, modes[mode & 3]);
    char first_trailer[64];
    size_t seen = resign(&a, buf, len, first_trailer);
    if (!(mode & 4))
        memcpy(buf, data + 1, len);
    if (mode & 8)
        a.decoded_content_length = (int64_t)seen;
    if (!(mode & 16) && a.payload != S3_PAYLOAD_STREAMING_SIGNED)
        snprintf(a.trailer, sizeof(a.trailer), "%s", first_trailer);
    dbuf_init(&trailer, 8192);
    enum s3_err e = s3_chunked_decode(&a, buf, len, &out, &trailer);
    FUZZ_CHECK(e >= S3E_OK && e < S3E__COUNT);
    if (e == S3E_OK) {
        FUZZ_CHECK(out <= len);
        FUZZ_CHECK(a.decoded_content_length < 0 || (uint64_t)a.decoded_content_length == out);
        FUZZ_CHECK(trailer.len == 0 || trailer.ptr[trailer.len - 1] == '\n');
        FUZZ_CHECK(a.payload != S3_PAYLOAD_STREAMING_SIGNED || trailer.len == 0);
    }
    dbuf_release(&trailer);
    secure_zero(a.signing_key, sizeof(a.signing_key));
    free(buf);
    return 0;
}

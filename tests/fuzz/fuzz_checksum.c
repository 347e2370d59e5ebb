/* fuzz_checksum.c — x-amz-checksum-* values: s3_checksum_check and s3_checksum_compute.
 *
 * Input: "ALG:VALUE\nDATA" — the algorithm name (x-amz-checksum-ALG), the
 * header's base64 value (spaces around it allowed, as in a header or a
 * trailer line) and the bytes it claims to sum; without a LF, DATA is empty,
 * without a ':' the whole first line is the algorithm.
 * Checked: the answer is one of the four documented ones, and a value made
 * by s3_checksum_compute and s3_base64_encode always verifies.
 */
#include "s3/s3_int.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *next;
    size_t n = fuzz_line(data, end, &next);
    const uint8_t *colon = memchr(data, ':', n);
    size_t al = colon ? (size_t)(colon - data) : n;
    const uint8_t *val = colon ? colon + 1 : data + n;
    size_t vl = (size_t)(data + n - val);
    size_t dl = (size_t)(end - next);
    char *alg = xmalloc(al ? al : 1), *b64 = xmalloc(vl ? vl : 1);
    unsigned char *body = xmalloc(dl ? dl : 1);
    memcpy(alg, data, al);
    memcpy(b64, val, vl);
    memcpy(body, next, dl);

    enum s3_err e = s3_checksum_check(alg, al, b64, vl, body, dl);
    FUZZ_CHECK(e == S3E_OK || e == S3E_BAD_DIGEST || e == S3E_INVALID_DIGEST || e == S3E_INVALID_ARGUMENT);

    unsigned char digest[32];
    size_t len = s3_checksum_compute(alg, al, body, dl, digest);
    FUZZ_CHECK(len == 0 || len == 4 || len == 8 || len == 20 || len == 32);
    FUZZ_CHECK((len == 0) == (e == S3E_INVALID_ARGUMENT));
    if (len > 0) {
        char good[48];
        size_t gl = s3_base64_encode(digest, len, good, sizeof(good));
        FUZZ_CHECK(gl > 0 && s3_checksum_check(alg, al, good, gl, body, dl) == S3E_OK);
    }
    free(body);
    free(b64);
    free(alg);
    return 0;
}

/* fuzz_attributes.c — GetObjectAttributes' x-amz-object-attributes header
 * (s3_object_attributes_parse) and the multipart checksum of parts' values
 * (s3_checksum_multipart).
 *
 * Input: the header value on the first line; then optional lines
 * "ALG TYPE" and "SIZE VALUE" per part (the stored part checksums a Complete
 * combines). Checked: a parse sets only the five bits, or fails with none;
 * the checksum answers one of its documented statuses and, on success, a
 * NUL-terminated value that fits S3_CHECKSUM_MAX.
 */
#include <stdio.h>

#include "tests/fuzz/fuzz.h"

#define MAX_FUZZ_PARTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *next;
    size_t n = fuzz_line(data, end, &next);
    char *hv = xmalloc(n ? n : 1);
    memcpy(hv, data, n);
    unsigned want = 0;
    int rc = s3_object_attributes_parse(hv, n, &want);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((want & ~31u) == 0);
    FUZZ_CHECK(rc == 0 || want == 0);
    free(hv);

    char alg[16] = "", type[16] = "";
    const uint8_t *p = next;
    n = fuzz_line(p, end, &next);
    if (n == 0 || n >= 40)
        return 0;
    char line[40];
    memcpy(line, p, n);
    line[n] = '\0';
    if (sscanf(line, "%15s %15s", alg, type) != 2)
        return 0;
    const char *vals[MAX_FUZZ_PARTS];
    char *copies[MAX_FUZZ_PARTS];
    int64_t sizes[MAX_FUZZ_PARTS];
    size_t parts = 0;
    for (p = next; p < end && parts < MAX_FUZZ_PARTS; p = next) {
        n = fuzz_line(p, end, &next);
        const uint8_t *sp = memchr(p, ' ', n);
        if (sp == NULL)
            break;
        long long sz = 0;
        for (const uint8_t *q = p; q < sp && sz < (1ll << 40); q++)
            sz = sz * 10 + (*q >= '0' && *q <= '9' ? *q - '0' : 0);
        size_t vl = (size_t)(p + n - sp - 1);
        copies[parts] = xmalloc(vl + 1);
        memcpy(copies[parts], sp + 1, vl);
        copies[parts][vl] = '\0';
        vals[parts] = copies[parts];
        sizes[parts] = sz;
        parts++;
    }
    char out[S3_CHECKSUM_MAX];
    enum s3_err e = s3_checksum_multipart(alg, strcmp(type, "FULL_OBJECT") == 0, vals, sizes, parts, out,
                                          sizeof(out));
    FUZZ_CHECK(e == S3E_OK || e == S3E_INVALID_ARGUMENT || e == S3E_INVALID_DIGEST);
    if (e == S3E_OK)
        FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL && out[0] != '\0');
    for (size_t i = 0; i < parts; i++)
        free(copies[i]);
    return 0;
}

/* fuzz_policy.c — a POST Object policy against a form: gw_post_policy_check.
 *
 * Input: the policy JSON. It is checked against a fixed form (key, a
 * Content-Type list, user metadata, an x-ignore- field) at a fixed time, and
 * the outcome's invariants hold: a known error, a message that is a string
 * within its buffer, and on success a content-length-range with min <= max.
 */
#include "gateway/ops/ops.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char form[] = "--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuser/${filename}\r\n"
                               "--B\r\nContent-Disposition: form-data; name=\"Content-Type\"\r\n\r\nimage/png, image/gif\r\n"
                               "--B\r\nContent-Disposition: form-data; name=\"x-amz-meta-a\"\r\n\r\nb\r\n"
                               "--B\r\nContent-Disposition: form-data; name=\"x-ignore-z\"\r\n\r\n1\r\n"
                               "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\r\nx";
    struct s3_form_head h;
    FUZZ_CHECK(s3_form_parse_head(form, sizeof(form) - 1, 1, "B", 1, &h) == S3_FORM_OK);
    char *json = malloc(size ? size : 1);
    memcpy(json, data, size);
    char msg[256];
    int64_t lo = -1, hi = -1;
    enum s3_err e = gw_post_policy_check(json, size, &h, "bucket", "user/f.txt", 1700000000, &lo, &hi, msg, sizeof(msg));
    FUZZ_CHECK(e == S3E_OK || e == S3E_ACCESS_DENIED || e == S3E_INVALID_POLICY_DOCUMENT);
    FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
    if (e == S3E_OK)
        FUZZ_CHECK(lo >= 0 && lo <= hi);
    free(json);
    return 0;
}

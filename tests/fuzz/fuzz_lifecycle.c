/* fuzz_lifecycle.c — lifecycle configurations (s3/lifecycle.c).
 *
 * Input: the body of a PutBucketLifecycleConfiguration. Checked: a refused
 * document leaves nothing allocated behind and says why when the error is a
 * value's (InvalidArgument, InvalidRequest, NotImplemented); an accepted one
 * keeps its bounds (rules, ID length, tags, positive days, midnight dates),
 * renders into a document that parses to the same rendering, and every rule
 * can be matched against keys taken from the input without reading out of
 * bounds; expiry times never precede the base time.
 */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s3_lifecycle lc;
    char msg[512];
    char *body = xmalloc(size ? size : 1);
    memcpy(body, data, size);

    enum s3_err e = s3_lifecycle_parse(body, size, &lc, msg, sizeof(msg));
    FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
    if (e != S3E_OK) {
        FUZZ_CHECK(lc.n == 0 && lc.rules == NULL);
        FUZZ_CHECK(e == S3E_MALFORMED_XML ||
                   ((e == S3E_INVALID_ARGUMENT || e == S3E_INVALID_REQUEST || e == S3E_NOT_IMPLEMENTED) &&
                    msg[0] != '\0'));
        free(body);
        return 0;
    }
    FUZZ_CHECK(lc.n >= 1 && lc.n <= S3_LC_MAX_RULES);
    struct s3_tag tags[2];
    memset(tags, 0, sizeof(tags));
    if (size > 0)
        tags[0].key[0] = (char)data[0];
    for (size_t i = 0; i < lc.n; i++) {
        const struct s3_lc_rule *r = &lc.rules[i];
        FUZZ_CHECK(r->id == NULL || strlen(r->id) <= S3_LC_MAX_ID);
        FUZZ_CHECK(r->n_tags <= S3_LC_MAX_TAGS);
        FUZZ_CHECK(r->exp_days >= 0 && r->nc_days >= 0 && r->abort_days >= 0);
        FUZZ_CHECK(r->nc_newer >= 0 && r->nc_newer <= S3_LC_MAX_NEWER);
        FUZZ_CHECK(r->exp_date_ms == -1 || r->exp_date_ms % S3_LC_DAY_MS == 0);
        FUZZ_CHECK(r->exp_days > 0 || r->exp_date_ms >= 0 || r->exp_marker >= 0 || r->nc_days > 0 ||
                   r->abort_days > 0);
        FUZZ_CHECK(!(r->abort_days > 0 && r->n_tags > 0));
        for (size_t k = 0; k <= size && k < 64; k++)
            (void)s3_lc_rule_matches(r, body, k, tags, 2, (int64_t)k);
        if (r->exp_days > 0 && r->exp_days < 100000)
            FUZZ_CHECK(s3_lc_due_ms(1700000000123LL, r->exp_days) >= 1700000000123LL + r->exp_days * S3_LC_DAY_MS);
    }
    struct dbuf d1, d2;
    struct s3_lifecycle lc2;
    dbuf_init(&d1, 16u << 20);
    dbuf_init(&d2, 16u << 20);
    FUZZ_CHECK(s3_lifecycle_render(&lc, &d1) == 0);
    if (d1.len <= S3_MAX_XML_BODY) {
        FUZZ_CHECK(s3_lifecycle_parse(d1.ptr, d1.len, &lc2, msg, sizeof(msg)) == S3E_OK);
        FUZZ_CHECK(s3_lifecycle_render(&lc2, &d2) == 0);
        FUZZ_CHECK(d1.len == d2.len && memcmp(d1.ptr, d2.ptr, d1.len) == 0);
        s3_lifecycle_release(&lc2);
    }
    dbuf_release(&d1);
    dbuf_release(&d2);
    s3_lifecycle_release(&lc);
    free(body);
    return 0;
}

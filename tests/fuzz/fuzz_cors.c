/* fuzz_cors.c — CORS configurations and the answers to browsers' requests (s3/cors.c).
 *
 * Input: a request in the text form of fuzz.h whose body is a
 * <CORSConfiguration> (PutBucketCors). Checked: a configuration that parses
 * renders (s3_cors_render) into a document that parses to the same
 * rendering, and within its bounds; the request, as a preflight and as an
 * actual request, gets either an error with a message or a set of headers
 * whose values lie inside the answer's buffer; an answer names at most the
 * headers S3 sends, Vary last.
 */
#include "tests/fuzz/fuzz.h"

static void check_answer(const struct s3_cors_answer *a)
{
    FUZZ_CHECK(a->n <= S3_CORS_MAX_HEADERS);
    for (size_t i = 0; i < a->n; i++) {
        FUZZ_CHECK(a->names[i] != NULL);
        FUZZ_CHECK(a->off[i] + a->len[i] <= a->buf.len);
        if (strcmp(a->names[i], "Vary") == 0 || strcmp(a->names[i], "Access-Control-Allow-Methods") == 0)
            FUZZ_CHECK(s3_header_value_ok(a->buf.ptr + a->off[i], a->len[i])); /* values of ours */
    }
    if (a->n > 0) {
        FUZZ_CHECK(strcmp(a->names[0], "Access-Control-Allow-Origin") == 0);
        FUZZ_CHECK(strcmp(a->names[a->n - 1], "Vary") == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_req fr;
    struct s3_cors c;
    struct s3_cors_answer a;
    char msg[512];
    fuzz_req_parse(&fr, data, size);
    char *body = xmalloc(fr.body_len ? fr.body_len : 1);
    memcpy(body, fr.body, fr.body_len);

    enum s3_err e = s3_cors_parse(body, fr.body_len, &c, msg, sizeof(msg));
    FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
    if (e == S3E_OK) {
        FUZZ_CHECK(c.n >= 1 && c.n <= S3_CORS_MAX_RULES);
        for (size_t i = 0; i < c.n; i++)
            FUZZ_CHECK(c.rules[i].n_origins >= 1 && c.rules[i].n_methods >= 1 &&
                       c.rules[i].max_age <= 2147483647);
        struct dbuf d1, d2;
        struct s3_cors c2;
        dbuf_init(&d1, 1 << 20);
        dbuf_init(&d2, 1 << 20);
        FUZZ_CHECK(s3_cors_render(&c, &d1) == 0);
        /* The rendering of a document near the size bound may be over it (entities); check what fits. */
        if (d1.len <= S3_CORS_MAX_BODY) {
            FUZZ_CHECK(s3_cors_parse(d1.ptr, d1.len, &c2, msg, sizeof(msg)) == S3E_OK);
            FUZZ_CHECK(s3_cors_render(&c2, &d2) == 0);
            FUZZ_CHECK(d1.len == d2.len && memcmp(d1.ptr, d2.ptr, d1.len) == 0);
            s3_cors_release(&c2);
        }
        dbuf_release(&d1);
        dbuf_release(&d2);
    } else {
        FUZZ_CHECK(c.n == 0 && c.rules == NULL);
        FUZZ_CHECK(e == S3E_MALFORMED_XML || (e == S3E_INVALID_REQUEST && msg[0] != '\0'));
    }

    for (int exists = 0; exists <= 1; exists++) {
        enum s3_err pe = s3_cors_preflight(e == S3E_OK ? &c : NULL, exists, &fr.req, &a, msg, sizeof(msg));
        FUZZ_CHECK(pe == S3E_OK || pe == S3E_BAD_REQUEST || pe == S3E_CORS_FORBIDDEN);
        FUZZ_CHECK(pe == S3E_OK ? a.n >= 3 : a.n == 0 && msg[0] != '\0');
        check_answer(&a);
        s3_cors_answer_release(&a);
    }
    size_t n = s3_cors_actual(e == S3E_OK ? &c : NULL, &fr.req, &a);
    FUZZ_CHECK(n == a.n);
    check_answer(&a);
    s3_cors_answer_release(&a);

    s3_cors_release(&c);
    free(body);
    fuzz_req_release(&fr);
    return 0;
}

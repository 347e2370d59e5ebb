/* fuzz_route.c — request routing and query parsing: s3_route_parse.
 *
 * Input: a request in the text form of fuzz.h (method, path, query, headers;
 * the body is ignored). Each request is routed path-style and with a
 * virtual-host domain, and the result's invariants are checked: on success a
 * known operation, a bounded key, a bucket that passes the bucket rules when
 * it is created; on failure no operation.
 */
#include "tests/fuzz/fuzz.h"

static void route(const struct s3_request *req, const char *vhost_domain)
{
    struct s3_route rt;
    enum s3_err e = s3_route_parse(req, vhost_domain, &rt);
    FUZZ_CHECK(e >= S3E_OK && e < S3E__COUNT);
    if (e == S3E_OK) {
        FUZZ_CHECK(rt.op != S3_OP_UNKNOWN && rt.op < S3_OP__COUNT);
        FUZZ_CHECK(s3_op_name(rt.op) != NULL);
        FUZZ_CHECK(strlen(rt.bucket) <= S3_MAX_BUCKET_LEN);
        FUZZ_CHECK(rt.key == NULL || strlen(rt.key) <= S3_MAX_KEY_LEN);
        FUZZ_CHECK(rt.n_params <= S3_MAX_QUERY_PARAMS);
        if (rt.op == S3_OP_CREATE_BUCKET)
            FUZZ_CHECK(s3_bucket_name_valid(rt.bucket));
        for (size_t i = 0; i < rt.n_params; i++) {
            FUZZ_CHECK(rt.params[i].name != NULL && rt.params[i].value != NULL);
            FUZZ_CHECK(s3_route_param(&rt, rt.params[i].name) != NULL);
        }
        (void)s3_route_param(&rt, "uploadId");
        (void)s3_route_param(&rt, "partNumber");
    } else {
        FUZZ_CHECK(rt.op == S3_OP_UNKNOWN);
    }
    s3_route_release(&rt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_req fr;
    fuzz_req_parse(&fr, data, size);
    route(&fr.req, NULL);
    route(&fr.req, "s3.example.com");
    fuzz_req_release(&fr);
    return 0;
}

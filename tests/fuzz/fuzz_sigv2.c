/* fuzz_sigv2.c — SigV2 verification, Authorization header and query-string forms: s3_sigv2_verify.
 *
 * Input: a request in the text form of fuzz.h; its "Authorization: AWS
 * AccessKeyId:Signature" header (or its AWSAccessKeyId, Expires and Signature
 * query parameters), the amz headers, the Host (virtual-hosted under
 * s3.amazonaws.com) and the sub-resources of the query drive the verifier.
 * One access key is known (AWS's documented example) and the clock stands at
 * 2007-03-27T19:36:42Z, the date of the RESTAuthentication page's examples.
 *
 * A fuzzed signature never matches, so after verifying the request as given
 * the target builds its string to sign with s3_sigv2_string_to_sign, signs it
 * and verifies the request again with that signature in place (header form):
 * mutated requests then reach the code past the signature compare. A request
 * signed right must verify (or fail only for a reason the verifier gives after
 * the compare: the time, the payload header).
 */
#include <stdio.h>

#include "s3/s3_int.h"
#include "tests/fuzz/fuzz.h"

#define NOW 1175024202 /* Tue, 27 Mar 2007 19:36:42 GMT */
#define DOMAIN "s3.amazonaws.com"
#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static const char *lookup(void *ud, const char *ak)
{
    (void)ud;
    return strcmp(ak, AKID) == 0 ? SECRET : NULL;
}

static enum s3_err verify(const struct s3_request *req)
{
    struct s3_auth a;
    enum s3_err e = s3_sigv2_verify(req, DOMAIN, lookup, NULL, NOW, &a);
    FUZZ_CHECK(e >= S3E_OK && e < S3E__COUNT);
    if (e == S3E_OK) {
        FUZZ_CHECK(s3_sigv2_form(req) != S3_SIGV2_NONE);
        FUZZ_CHECK(strcmp(a.access_key, AKID) == 0);
        FUZZ_CHECK(a.payload == S3_PAYLOAD_UNSIGNED || a.payload == S3_PAYLOAD_HEX_SHA256);
        FUZZ_CHECK(a.presigned == (s3_sigv2_form(req) == S3_SIGV2_QUERY));
    } else {
        FUZZ_CHECK(a.access_key[0] == '\0');
    }
    return e;
}

/* Signs the header form (replacing or adding Authorization) and verifies it. */
static void resign_header(struct fuzz_req *fr)
{
    struct s3_request *req = &fr->req;
    struct dbuf sts;
    char sig[29], auth[64];
    size_t idx = SIZE_MAX;

    for (size_t i = 0; i < req->n_headers && idx == SIZE_MAX; i++)
        if (s3_memieq(req->headers[i].name, req->headers[i].name_len, "authorization"))
            idx = i;
    if (idx == SIZE_MAX)
        return;
    struct s3_header saved = fr->headers[idx];
    fr->headers[idx].value = "AWS " AKID ":x";
    fr->headers[idx].value_len = strlen(fr->headers[idx].value);
    dbuf_init(&sts, 1u << 20);
    if (s3_sigv2_string_to_sign(req, DOMAIN, &sts) == 0) {
        s3_sigv2_signature(SECRET, sts.ptr ? sts.ptr : "", sts.len, sig);
        FUZZ_CHECK(strlen(sig) == 28);
        snprintf(auth, sizeof(auth), "AWS %s:%s", AKID, sig);
        fr->headers[idx].value = auth;
        fr->headers[idx].value_len = strlen(auth);
        enum s3_err e = verify(req);
        FUZZ_CHECK(e != S3E_SIGNATURE_DOES_NOT_MATCH && e != S3E_SIGV2_HEADER_MALFORMED &&
                   e != S3E_INVALID_ACCESS_KEY_ID);
    }
    fr->headers[idx] = saved;
    dbuf_release(&sts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_req fr;
    fuzz_req_parse(&fr, data, size);
    enum s3_sigv2_form form = s3_sigv2_form(&fr.req);
    enum s3_err e = verify(&fr.req);
    if (form == S3_SIGV2_NONE)
        FUZZ_CHECK(e == S3E_ACCESS_DENIED || e == S3E_INVALID_ARGUMENT);
    if (e != S3E_OK && form == S3_SIGV2_HEADER)
        resign_header(&fr);
    fuzz_req_release(&fr);
    return 0;
}

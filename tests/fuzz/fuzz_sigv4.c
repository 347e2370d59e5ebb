/* fuzz_sigv4.c — SigV4 verification, header form and presigned query form: s3_sigv4_verify.
 *
 * Input: a request in the text form of fuzz.h; its Authorization header (or
 * its X-Amz-* query parameters) and the other headers drive the verifier.
 * Two access keys are known (the AWS documentation's examples) and the clock
 * stands at 2013-05-24T00:01:00Z, the date of AWS's S3 examples.
 *
 * A fuzzed signature never matches, so after verifying the request as given
 * the target signs it again with s3_sigv4_sign_ex from the credential, date,
 * signed-header list and payload hash it names (a presigned query gets a new
 * X-Amz-Signature) and verifies that too: mutated requests then reach the
 * code past the signature compare (payload kinds, decoded length).
 */
#include <stdio.h>

#include "s3/s3_int.h"
#include "tests/fuzz/fuzz.h"

#define NOW 1369353660 /* 2013-05-24T00:01:00Z */

static const char *lookup(void *ud, const char *ak)
{
    (void)ud;
    if (strcmp(ak, "AKIAIOSFODNN7EXAMPLE") == 0)
        return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    if (strcmp(ak, "AKIDEXAMPLE") == 0)
        return "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    return NULL;
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static enum s3_err verify(const struct s3_request *req)
{
    struct s3_auth a;
    enum s3_err e = s3_sigv4_verify(req, lookup, NULL, NOW, &a);
    FUZZ_CHECK(e >= S3E_OK && e < S3E__COUNT);
    if (e == S3E_OK) {
        FUZZ_CHECK(lookup(NULL, a.access_key) != NULL);
        FUZZ_CHECK(strlen(a.amz_date) == 16 && strlen(a.seed_signature) == 64 && is_hex(a.seed_signature, 64));
        FUZZ_CHECK(memchr(a.scope, '\0', sizeof(a.scope)) != NULL && memchr(a.region, '\0', sizeof(a.region)));
        FUZZ_CHECK(a.payload <= S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER);
        FUZZ_CHECK(a.decoded_content_length >= -1);
    }
    secure_zero(a.signing_key, sizeof(a.signing_key));
    return e;
}

/* A NUL-terminated copy of a view, or NULL when it holds a NUL or is too long. */
static char *cstr(const char *p, size_t n, size_t max)
{
    if (n > max || memchr(p, '\0', n) != NULL)
        return NULL;
    return xstrndup(p, n);
}

/* "Name=value" inside an Authorization header: the value up to ',', ' ' or the end. */
static char *auth_field(const char *v, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl <= len; i++) {
        if (memcmp(v + i, name, nl) != 0)
            continue;
        size_t j = i + nl;
        while (j < len && v[j] != ',' && v[j] != ' ')
            j++;
        return cstr(v + i + nl, j - i - nl, 2048);
    }
    return NULL;
}

/* The decoded value of query parameter name (exact, decoded name), or NULL. */
static char *query_field(const char *q, size_t len, const char *name)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
        char k[64];
        size_t dl;
        if (kl < sizeof(k) && s3_uri_decode(q + i, kl, k, sizeof(k), &dl) == 0 && strcmp(k, name) == 0) {
            const char *v = eq ? eq + 1 : q + j;
            size_t vl = (size_t)(q + j - v);
            char *out = xmalloc(vl + 1);
            if (s3_uri_decode(v, vl, out, vl + 1, &dl) != 0) {
                free(out);
                return NULL;
            }
            return out;
        }
        i = j + 1;
    }
    return NULL;
}

/* Splits "AK/yyyymmdd/region/service/aws4_request" from the right, in place. */
static int split_cred(char *cred, char **ak, char **region, char **service)
{
    char *p[4];
    for (int k = 3; k >= 0; k--) {
        char *s = strrchr(cred, '/');
        if (s == NULL)
            return -1;
        *s = '\0';
        p[k] = s + 1;
    }
    *ak = cred;
    *region = p[1];
    *service = p[2];
    return 0;
}

/* Signs req as the header form and verifies it with the new Authorization value. */
static void resign_header(struct fuzz_req *fr)
{
    struct s3_request *req = &fr->req;
    struct dbuf authz;
    char *cred = NULL, *sh = NULL, *date = NULL, *ph = NULL;
    char *ak, *region, *service;
    size_t l, idx = SIZE_MAX;
    const char *v;

    dbuf_init(&authz, 8192);
    for (size_t i = 0; i < req->n_headers && idx == SIZE_MAX; i++)
        if (s3_memieq(req->headers[i].name, req->headers[i].name_len, "authorization"))
            idx = i;
    if (idx == SIZE_MAX)
        goto out;
    cred = auth_field(req->headers[idx].value, req->headers[idx].value_len, "Credential=");
    sh = auth_field(req->headers[idx].value, req->headers[idx].value_len, "SignedHeaders=");
    if (cred == NULL || sh == NULL || split_cred(cred, &ak, &region, &service) != 0)
        goto out;
    v = s3_header_get(req, "x-amz-date", &l);
    if (v != NULL) {
        date = cstr(v, l, 16);
    } else if ((v = s3_header_get(req, "date", &l)) != NULL) {
        int64_t t = s3_time_parse_http(v, l);
        if (t >= 0) {
            date = xmalloc(17);
            s3_time_amz(t, date);
        }
    }
    v = s3_header_get(req, "x-amz-content-sha256", &l);
    ph = v ? cstr(v, l, 256) : NULL;
    if (date == NULL || strlen(date) != 16 || ph == NULL)
        goto out;
    const char *secret = lookup(NULL, ak);
    if (s3_sigv4_sign_ex(req, ak, secret ? secret : "x", region, service, date, ph, sh, NULL, NULL, &authz) != 0)
        goto out;
    struct s3_header saved = fr->headers[idx];
    fr->headers[idx].value = authz.ptr;
    fr->headers[idx].value_len = authz.len;
    (void)verify(req);
    fr->headers[idx] = saved;
out:
    free(cred);
    free(sh);
    free(date);
    free(ph);
    dbuf_release(&authz);
}

/* Signs req as a presigned URL (its X-Amz-Signature replaced) and verifies it. */
static void resign_query(struct fuzz_req *fr)
{
    struct s3_request req = fr->req;
    const char *q = fr->req.query;
    size_t len = fr->req.query_len;
    struct dbuf rest, authz;
    char *cred = query_field(q, len, "X-Amz-Credential");
    char *date = query_field(q, len, "X-Amz-Date");
    char *sh = query_field(q, len, "X-Amz-SignedHeaders");
    char *ph = query_field(q, len, "X-Amz-Content-Sha256");
    char *ak, *region, *service;

    dbuf_init(&rest, len + 128);
    dbuf_init(&authz, 8192);
    if (cred == NULL || date == NULL || sh == NULL || strlen(date) != 16 ||
        split_cred(cred, &ak, &region, &service) != 0)
        goto out;
    /* The query without its X-Amz-Signature parameters: what the signature covers. */
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
        char k[64];
        size_t dl;
        int sig = kl < sizeof(k) && s3_uri_decode(q + i, kl, k, sizeof(k), &dl) == 0 &&
                  strcmp(k, "X-Amz-Signature") == 0;
        if (!sig && j > i &&
            ((rest.len && dbuf_add(&rest, "&", 1) != 0) || dbuf_add(&rest, q + i, j - i) != 0))
            goto out;
        i = j + 1;
    }
    req.query = rest.ptr ? rest.ptr : "";
    req.query_len = rest.len;
    const char *secret = lookup(NULL, ak);
    if (s3_sigv4_sign_ex(&req, ak, secret ? secret : "x", region, service, date, ph ? ph : "UNSIGNED-PAYLOAD", sh,
                         NULL, NULL, &authz) != 0)
        goto out;
    const char *s = strstr(authz.ptr, "Signature=");
    if (s == NULL || dbuf_printf(&rest, "%sX-Amz-Signature=%s", rest.len ? "&" : "", s + 10) != 0)
        goto out;
    req.query = rest.ptr;
    req.query_len = rest.len;
    (void)verify(&req);
out:
    free(cred);
    free(date);
    free(sh);
    free(ph);
    dbuf_release(&rest);
    dbuf_release(&authz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_req fr;
    fuzz_req_parse(&fr, data, size);
    enum s3_err e = verify(&fr.req);
    if (e != S3E_OK) {
        char *alg = fr.req.query ? query_field(fr.req.query, fr.req.query_len, "X-Amz-Algorithm") : NULL;
        if (alg != NULL)
            resign_query(&fr);
        else
            resign_header(&fr);
        free(alg);
    }
    fuzz_req_release(&fr);
    return 0;
}

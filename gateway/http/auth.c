/* auth.c — who sent a request: SigV4 or SigV2 against the configured users, and request ids.
 *
 * One check for every place that authenticates: the handler (server.c) on
 * each request, and the intake (intake.c) on a head whose body h2o would
 * otherwise buffer before the handler runs. Both must agree, so both call
 * this. A request with no signature at all is anonymous (gw_auth_identify):
 * what it may do is for the ACLs to say (acl.c). Runs on the loop thread;
 * touches only the configuration.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/http/acl.h"

static const char *lookup_secret(void *ud, const char *access_key)
{
    struct gw *gw = ud;
    for (size_t i = 0; i < gw->cfg.n_users; i++)
        if (gw->cfg.users[i].access_key && !strcmp(gw->cfg.users[i].access_key, access_key))
            return gw->cfg.users[i].secret_key;
    return NULL;
}

enum s3_err gw_auth_verify(struct gw *gw, const struct s3_request *s3, struct s3_auth *out)
{
    struct s3_auth scratch;
    struct s3_auth *a = out != NULL ? out : &scratch;
    enum s3_err e;
    /* SigV2 where the request is signed that way (its Authorization header
     * or its query says so), unless --sigv2 off; SigV4 otherwise. */
    if (s3_sigv2_form(s3) != S3_SIGV2_NONE)
        e = gw->cfg.sigv2 ? s3_sigv2_verify(s3, gw->cfg.domain, lookup_secret, gw, wall_ms() / 1000, a)
                          : S3E_SIGV2_DISABLED;
    else
        e = s3_sigv4_verify(s3, lookup_secret, gw, wall_ms() / 1000, a);
    if (out == NULL)
        secure_zero(&scratch, sizeof(scratch)); /* it holds the signing key */
    return e;
}

enum s3_err gw_auth_identify(struct gw *gw, const struct s3_request *s3, struct s3_auth *out, int *user)
{
    *user = 0;
    if (s3_request_anonymous(s3)) {
        memset(out, 0, sizeof(*out));
        out->payload = S3_PAYLOAD_UNSIGNED; /* no signature covers its body */
        out->decoded_content_length = -1;
        return S3E_OK;
    }
    enum s3_err e = gw_auth_verify(gw, s3, out);
    *user = e == S3E_OK;
    return e;
}

enum s3_err gw_auth_head(struct gw *gw, const char *method, size_t method_len, const char *target,
                         size_t target_len, const struct s3_header *hs, size_t n)
{
    struct s3_request s3 = {.method = method, .method_len = method_len, .path = target, .path_len = target_len,
                            .headers = hs, .n_headers = n};
    const char *q = memchr(target, '?', target_len);
    if (q != NULL) {
        s3.path_len = (size_t)(q - target);
        s3.query = q + 1;
        s3.query_len = target_len - s3.path_len - 1;
    }
    if (s3_request_anonymous(&s3)) /* an anonymous body only into a bucket open to anonymous writes */
        return gw_acl_anonymous_write(gw, &s3) ? S3E_OK : S3E_ACCESS_DENIED;
    return gw_auth_verify(gw, &s3, NULL);
}

void gw_request_id_new(struct gw *gw, char out[17])
{
    snprintf(out, 17, "%08llX%08llX", (unsigned long long)(now_ms() & 0xffffffff),
             (unsigned long long)(++gw->req_seq & 0xffffffff));
}

/* sigv2.c — AWS Signature Version 2: the Authorization header and query-string forms.
 *
 * Follows AWS's "Signing and authenticating REST requests" (RESTAuthentication):
 *
 *   StringToSign = Verb "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
 *                  CanonicalizedAmzHeaders CanonicalizedResource
 *   Signature    = Base64(HMAC-SHA1(secret, UTF-8(StringToSign)))
 *
 * Header form: "Authorization: AWS AccessKeyId:Signature"; Date is the Date
 * header, or "" when x-amz-date is sent (x-amz-date then dates the request,
 * and it is in the amz headers anyway). Query form: AWSAccessKeyId, Expires
 * (unix seconds, in the Date position) and Signature; x-amz-* query
 * parameters count as amz headers and Content-MD5/Content-Type may come as
 * query parameters, as botocore's HmacV1QueryAuth sends them.
 * CanonicalizedAmzHeaders: every x-amz-* header, name in lower case, value
 * trimmed, repeated names joined with ',', sorted by name, each "name:value\n".
 * CanonicalizedResource: "/bucket" for a virtual-hosted request (the bucket
 * from Host, as the router takes it), then the raw path as sent, then the
 * sub-resources among the query parameters (botocore's list, a superset of
 * s3cmd's and of the page's), sorted by name, values decoded, "name" or
 * "name=value" joined with '&' after a '?'.
 *
 * There is no payload hash in SigV2: a verified request's body is unsigned
 * (Content-MD5, which is signed, still holds it); a signed
 * x-amz-content-sha256 of 64 hex digits is honoured like SigV4's. Every
 * x-amz-* header is in the string to sign, so none can be added unsigned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "s3/s3_int.h"

#define STS_MAX (64u << 10) /* bytes: string-to-sign bound (request heads are smaller) */
#define MAX_PARAMS 1024     /* query parameters looked at */
#define SIG_B64_LEN 28      /* base64 of a 20-byte HMAC-SHA1 */

/* botocore's HmacV1Auth.QSAOfInterest: what AWS signs of the query. */
static const char *const subresources[] = {
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "lifecycle", "location",
    "logging", "metrics", "notification", "object-lock", "partNumber", "policy", "replication", "requestPayment",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore", "select", "select-type",
    "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
};

/* ---- small helpers ------------------------------------------------------------ */

struct kv {
    char *k;   /* decoded (amz names in lower case) */
    char *v;   /* decoded; NULL when the parameter had no '=' */
    size_t at; /* input order, for a stable sort */
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    if (c != 0)
        return c;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void kv_free(struct kv *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].k);
        free(p[i].v);
    }
    free(p);
}

/* A decoded, NUL-terminated copy of s; NULL when it is badly escaped or holds a NUL. */
static char *decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    if (s3_uri_decode(s, n, out, n + 1, NULL) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Splits the raw query into decoded pairs. Returns the count, -1 when it is
 * malformed or has more than MAX_PARAMS parameters. *out is malloc'd. */
static int split_query(const struct s3_request *req, struct kv **out)
{
    const char *q = req->query;
    size_t len = q ? req->query_len : 0, n = 0, cap = s3_query_cap(q, len), pos = 0;
    struct s3_query_pair qp;
    *out = NULL;
    if (cap > MAX_PARAMS)
        return -1;
    struct kv *p = xcalloc(cap, sizeof(*p));
    while (s3_query_next(q, len, &pos, &qp)) {
        p[n].k = decode(qp.k, qp.kl);
        p[n].v = qp.v ? decode(qp.v, qp.vl) : NULL;
        p[n].at = n;
        n++;
        if (p[n - 1].k == NULL || (qp.v && p[n - 1].v == NULL)) {
            kv_free(p, n);
            return -1;
        }
    }
    *out = p;
    return (int)n;
}

static const struct kv *kv_find(const struct kv *p, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].k, name) == 0)
            return &p[i];
    return NULL;
}

static int is_subresource(const char *k)
{
    for (size_t i = 0; i < ARRAY_SIZE(subresources); i++)
        if (strcmp(k, subresources[i]) == 0)
            return 1;
    return 0;
}

static int ws(char c)
{
    return c == ' ' || c == '\t';
}

/* A trimmed, NUL-terminated copy of (v, n). */
static char *trimmed(const char *v, size_t n)
{
    while (n && ws(*v)) {
        v++;
        n--;
    }
    while (n && ws(v[n - 1]))
        n--;
    return xstrndup(v ? v : "", n);
}

/* ---- form ------------------------------------------------------------------ */

enum s3_sigv2_form s3_sigv2_form(const struct s3_request *req)
{
    size_t l;
    const char *v = s3_header_get(req, "authorization", &l);
    if (v != NULL)
        return l >= 4 && memcmp(v, "AWS ", 4) == 0 ? S3_SIGV2_HEADER : S3_SIGV2_NONE;
    struct kv *p;
    int n = split_query(req, &p);
    enum s3_sigv2_form f = S3_SIGV2_NONE;
    if (n > 0 && kv_find(p, n, "X-Amz-Algorithm") == NULL &&
        (kv_find(p, n, "AWSAccessKeyId") != NULL || kv_find(p, n, "Signature") != NULL))
        f = S3_SIGV2_QUERY;
    if (n >= 0)
        kv_free(p, (size_t)n);
    return f;
}

/* ---- string to sign ------------------------------------------------------------ */

/* The first value of header name, or (query form) of the query parameter
 * qname; "" when neither. */
static const char *standard(const struct s3_request *req, const char *name, const struct kv *q, int nq,
                            const char *qname, size_t *len)
{
    const char *v = s3_header_get(req, name, len);
    if (v != NULL)
        return v;
    const struct kv *p = q ? kv_find(q, nq, qname) : NULL;
    if (p == NULL)
        p = q ? kv_find(q, nq, name) : NULL;
    if (p != NULL && p->v != NULL) {
        *len = strlen(p->v);
        return p->v;
    }
    *len = 0;
    return "";
}

/* CanonicalizedAmzHeaders: headers, and for the query form x-amz-* parameters. */
static int amz_headers(const struct s3_request *req, const struct kv *q, int nq, struct dbuf *out)
{
    size_t n = 0, cap = req->n_headers + (size_t)(q ? nq : 0);
    struct kv *h = xcalloc(cap ? cap : 1, sizeof(*h));
    int rc = -1;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct s3_header *x = &req->headers[i];
        if (x->name_len < 6 || !s3_memieq(x->name, 6, "x-amz-"))
            continue;
        h[n].k = xstrndup(x->name, x->name_len);
        for (char *c = h[n].k; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        h[n].v = trimmed(x->value, x->value_len);
        h[n].at = n;
        n++;
    }
    for (int i = 0; q != NULL && i < nq; i++) {
        size_t kl = strlen(q[i].k);
        if (kl < 6 || !s3_memieq(q[i].k, 6, "x-amz-"))
            continue;
        h[n].k = xstrdup(q[i].k);
        for (char *c = h[n].k; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        h[n].v = trimmed(q[i].v ? q[i].v : "", q[i].v ? strlen(q[i].v) : 0);
        h[n].at = n;
        n++;
    }
    qsort(h, n, sizeof(*h), kv_cmp);
    for (size_t i = 0; i < n; i++) {
        int same = i > 0 && strcmp(h[i].k, h[i - 1].k) == 0;
        if (same ? dbuf_add(out, ",", 1) != 0
                 : (i > 0 && dbuf_add(out, "\n", 1) != 0) || dbuf_printf(out, "%s:", h[i].k) != 0)
            goto out;
        if (dbuf_adds(out, h[i].v) != 0)
            goto out;
    }
    if (n > 0 && dbuf_add(out, "\n", 1) != 0)
        goto out;
    rc = 0;
out:
    kv_free(h, n);
    return rc;
}

/* Is the path "/bucket", a path-style request for a bucket without the slash? */
static int bare_bucket(const struct s3_request *req)
{
    return req->path_len > 1 && req->path[0] == '/' && memchr(req->path + 1, '/', req->path_len - 1) == NULL;
}

/* CanonicalizedResource. A bare path-style bucket is signed as "/bucket/"
 * (botocore's HmacV1Auth does that, and S3 takes it) unless literal. */
static int resource(const struct s3_request *req, const char *domain, const struct kv *q, int nq, int literal,
                    struct dbuf *out)
{
    const char *bucket;
    size_t bl;
    int vhost = s3_vhost_bucket(req, domain, &bucket, &bl);
    if (vhost && (dbuf_add(out, "/", 1) != 0 || dbuf_add(out, bucket, bl) != 0))
        return -1;
    if (req->path_len ? dbuf_add(out, req->path, req->path_len) != 0 : dbuf_add(out, "/", 1) != 0)
        return -1;
    if (!vhost && !literal && bare_bucket(req) && dbuf_add(out, "/", 1) != 0)
        return -1;
    struct kv *sub = xcalloc((size_t)nq + 1, sizeof(*sub));
    size_t ns = 0;
    for (int i = 0; i < nq; i++)
        if (is_subresource(q[i].k))
            sub[ns++] = q[i]; /* borrowed */
    qsort(sub, ns, sizeof(*sub), kv_cmp);
    int rc = 0;
    for (size_t i = 0; i < ns && rc == 0; i++) {
        rc = dbuf_add(out, i == 0 ? "?" : "&", 1);
        if (rc == 0)
            rc = dbuf_adds(out, sub[i].k);
        if (rc == 0 && sub[i].v != NULL)
            rc = dbuf_printf(out, "=%s", sub[i].v);
    }
    free(sub);
    return rc;
}

static int string_to_sign(const struct s3_request *req, const char *domain, enum s3_sigv2_form form,
                          const struct kv *q, int nq, int literal, struct dbuf *out)
{
    size_t ml, tl, dl;
    const struct kv *qf = form == S3_SIGV2_QUERY ? q : NULL;
    const char *md5 = standard(req, "content-md5", qf, nq, "Content-MD5", &ml);
    const char *type = standard(req, "content-type", qf, nq, "Content-Type", &tl);
    const char *date;
    if (form == S3_SIGV2_QUERY) {
        const struct kv *e = kv_find(q, nq, "Expires");
        date = e && e->v ? e->v : "";
        dl = strlen(date);
    } else if (s3_header_get(req, "x-amz-date", NULL) != NULL) {
        date = "";
        dl = 0;
    } else {
        date = s3_header_get(req, "date", &dl);
        if (date == NULL) {
            date = "";
            dl = 0;
        }
    }
    if (dbuf_add(out, req->method, req->method_len) != 0 || dbuf_add(out, "\n", 1) != 0 ||
        dbuf_add(out, md5, ml) != 0 || dbuf_add(out, "\n", 1) != 0 || dbuf_add(out, type, tl) != 0 ||
        dbuf_add(out, "\n", 1) != 0 || dbuf_add(out, date, dl) != 0 || dbuf_add(out, "\n", 1) != 0)
        return -1;
    if (amz_headers(req, qf, nq, out) != 0 || resource(req, domain, q, nq, literal, out) != 0)
        return -1;
    return dbuf_add(out, "", 0);
}

int s3_sigv2_string_to_sign(const struct s3_request *req, const char *vhost_domain, struct dbuf *out)
{
    struct kv *q;
    int nq = split_query(req, &q);
    if (nq < 0)
        return -1;
    int rc = string_to_sign(req, vhost_domain, s3_sigv2_form(req), q, nq, 0, out);
    kv_free(q, (size_t)nq);
    return rc;
}

void s3_sigv2_signature(const char *secret, const char *sts, size_t len, char out[29])
{
    unsigned char mac[20];
    unsigned int ml = sizeof(mac);
    unsigned char *r = HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)sts, len, mac, &ml);
    ASSERT(r != NULL && ml == 20);
    size_t n = s3_base64_encode(mac, 20, out, 29);
    ASSERT(n == SIG_B64_LEN);
    secure_zero(mac, sizeof(mac));
}

/* ---- verification -------------------------------------------------------------- */

/* "AWS AccessKeyId:Signature" → out->access_key and sig. */
static enum s3_err parse_header(const char *v, size_t len, struct s3_auth *out, char *sig, size_t sigsz)
{
    if (len < 4 || memcmp(v, "AWS ", 4) != 0)
        return S3E_SIGV2_HEADER_MALFORMED;
    v += 4;
    len -= 4;
    const char *colon = memchr(v, ':', len);
    if (colon == NULL)
        return S3E_SIGV2_HEADER_MALFORMED;
    size_t al = (size_t)(colon - v), sl = len - al - 1;
    if (al == 0 || al >= sizeof(out->access_key) || sl == 0 || sl >= sigsz)
        return S3E_SIGV2_HEADER_MALFORMED;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] <= ' ' || v[i] == 0x7f)
            return S3E_SIGV2_HEADER_MALFORMED;
    memcpy(out->access_key, v, al);
    out->access_key[al] = '\0';
    memcpy(sig, colon + 1, sl);
    sig[sl] = '\0';
    return S3E_OK;
}

/* AWSAccessKeyId, Signature and Expires → out->access_key, sig, *expires. */
static enum s3_err parse_query(const struct kv *q, int nq, struct s3_auth *out, char *sig, size_t sigsz,
                               int64_t *expires)
{
    const struct kv *ak = kv_find(q, nq, "AWSAccessKeyId"), *sg = kv_find(q, nq, "Signature"),
                    *ex = kv_find(q, nq, "Expires");
    if (ak == NULL || sg == NULL || ex == NULL || ak->v == NULL || sg->v == NULL || ex->v == NULL ||
        ak->v[0] == '\0' || sg->v[0] == '\0')
        return S3E_SIGV2_QUERY_INCOMPLETE;
    if (strlen(ak->v) >= sizeof(out->access_key) || strlen(sg->v) >= sigsz)
        return S3E_SIGNATURE_DOES_NOT_MATCH;
    int64_t e = 0;
    if (ex->v[0] == '\0' || strlen(ex->v) > 15)
        return S3E_ACCESS_DENIED;
    for (const char *p = ex->v; *p; p++) {
        if (*p < '0' || *p > '9')
            return S3E_ACCESS_DENIED;
        e = e * 10 + (*p - '0');
    }
    snprintf(out->access_key, sizeof(out->access_key), "%s", ak->v);
    snprintf(sig, sigsz, "%s", sg->v);
    *expires = e;
    return S3E_OK;
}

/* The header form's request time: x-amz-date, else Date. -1 when neither parses. */
static int64_t header_time(const struct s3_request *req)
{
    size_t l;
    const char *v = s3_header_get(req, "x-amz-date", &l);
    if (v == NULL)
        v = s3_header_get(req, "date", &l);
    return v ? s3_time_parse_http(v, l) : -1;
}

/* A signed x-amz-content-sha256 (in the amz headers): 64 hex digits are
 * verified against the body like SigV4's; anything else but UNSIGNED-PAYLOAD
 * (the aws-chunked forms need a SigV4 signing key) is refused. */
static enum s3_err payload(const struct s3_request *req, struct s3_auth *out)
{
    size_t l;
    const char *v = s3_header_get(req, "x-amz-content-sha256", &l);
    out->payload = S3_PAYLOAD_UNSIGNED;
    if (v == NULL || (l == 16 && memcmp(v, "UNSIGNED-PAYLOAD", 16) == 0))
        return S3E_OK;
    if (l != 64)
        return S3E_INVALID_ARGUMENT;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_digit(v[2 * i]), lo = hex_digit(v[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return S3E_INVALID_ARGUMENT;
        out->payload_sha256[i] = (unsigned char)(hi << 4 | lo);
    }
    out->payload = S3_PAYLOAD_HEX_SHA256;
    return S3E_OK;
}

enum s3_err s3_sigv2_verify(const struct s3_request *req, const char *vhost_domain, s3_secret_lookup_fn lookup,
                            void *ud, int64_t now, struct s3_auth *out)
{
    struct kv *q = NULL;
    struct dbuf sts;
    char given[64], sig[29];
    int64_t expires = 0;
    enum s3_err err;
    size_t l;

    dbuf_init(&sts, STS_MAX);
    memset(out, 0, sizeof(*out));
    out->decoded_content_length = -1;
    enum s3_sigv2_form form = s3_sigv2_form(req);
    int nq = split_query(req, &q);
    if (nq < 0) {
        q = NULL;
        nq = 0;
        err = form == S3_SIGV2_QUERY ? S3E_SIGV2_QUERY_INCOMPLETE : S3E_INVALID_ARGUMENT;
        goto out;
    }
    if (form == S3_SIGV2_HEADER) {
        const char *v = s3_header_get(req, "authorization", &l);
        err = parse_header(v, l, out, given, sizeof(given));
    } else if (form == S3_SIGV2_QUERY) {
        out->presigned = 1;
        err = parse_query(q, nq, out, given, sizeof(given), &expires);
    } else {
        err = S3E_ACCESS_DENIED;
    }
    if (err != S3E_OK)
        goto out;

    const char *secret = lookup(ud, out->access_key);
    if (secret == NULL) {
        err = S3E_INVALID_ACCESS_KEY_ID;
        goto out;
    }
    if (form == S3_SIGV2_QUERY) {
        if (expires < now) {
            err = S3E_REQUEST_EXPIRED;
            goto out;
        }
    } else {
        int64_t t = header_time(req);
        if (t < 0) {
            err = S3E_MISSING_DATE;
            goto out;
        }
        if (t > now + S3_MAX_CLOCK_SKEW || t < now - S3_MAX_CLOCK_SKEW) {
            err = S3E_REQUEST_TIME_TOO_SKEWED;
            goto out;
        }
    }
    /* A bare bucket's resource is tried as "/bucket/", then as sent. */
    int match = 0;
    for (int literal = 0; literal <= 1 && !match; literal++) {
        if (literal && !bare_bucket(req))
            break;
        dbuf_reset(&sts);
        if (string_to_sign(req, vhost_domain, form, q, nq, literal, &sts) != 0)
            break;
        s3_sigv2_signature(secret, sts.ptr, sts.len, sig);
        match = strlen(given) == SIG_B64_LEN && CRYPTO_memcmp(given, sig, SIG_B64_LEN) == 0;
    }
    if (!match) {
        err = S3E_SIGNATURE_DOES_NOT_MATCH;
        goto out;
    }
    err = payload(req, out);
out:
    if (err != S3E_OK) {
        int presigned = out->presigned;
        memset(out, 0, sizeof(*out));
        out->presigned = presigned;
        out->decoded_content_length = -1;
    }
    if (q != NULL)
        kv_free(q, (size_t)nq);
    dbuf_release(&sts);
    return err;
}

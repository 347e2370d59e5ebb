/* sigv4.c — AWS Signature Version 4: header and presigned-URL verification.
 *
 * The canonical request follows AWS's "Create a canonical request" page with
 * S3's exceptions: the canonical URI is the raw path exactly as the client
 * sent it (S3 does not normalise or double-encode), the query is decoded,
 * re-encoded with the unreserved set A-Za-z0-9-_.~ and sorted, header values
 * are trimmed with inner whitespace runs collapsed, and repeated headers are
 * joined with ','. Any region in the credential scope is accepted: the signing
 * key is derived from the scope the client chose. The service must be "s3",
 * and every x-amz-* header must be signed: an unsigned one could otherwise be
 * added or changed in transit and still be acted on (metadata, ACLs, copy
 * sources, the declared trailer).
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "s3/s3_int.h"

#define ALGO "AWS4-HMAC-SHA256"
#define CANON_MAX (1u << 20) /* bytes: canonical request bound */
#define MAX_QUERY_PAIRS 1024

/* ---- canonical query ------------------------------------------------------ */

struct qpair {
    char *k, *v; /* encoded, NUL-terminated */
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static char *encode_part(const char *s, size_t len, int *bad)
{
    struct dbuf d;
    char *tmp = xmalloc(len + 1);
    char *res = NULL;
    size_t n;

    dbuf_init(&d, 3 * len + 1);
    if (s3_uri_decode(s, len, tmp, len + 1, &n) != 0) {
        *bad = 1;
        goto out;
    }
    s3_uri_encode(&d, tmp, n, 1);
    if (dbuf_add(&d, "", 0) != 0) { /* makes sure d.ptr exists, NUL-terminated */
        *bad = 1;
        goto out;
    }
    res = dbuf_take(&d, NULL);
out:
    free(tmp);
    dbuf_release(&d);
    return res;
}

int s3_sigv4_canonical_query_ex(const char *query, size_t len, int drop_signature, struct dbuf *out)
{
    struct qpair *pairs = NULL;
    struct s3_query_pair qp;
    size_t n = 0, cap, pos = 0;
    int bad = 0, rc = -1;

    if (query == NULL)
        len = 0;
    cap = s3_query_cap(query, len);
    if (cap > MAX_QUERY_PAIRS)
        return -1;
    pairs = xcalloc(cap, sizeof(*pairs));
    while (s3_query_next(query, len, &pos, &qp)) {
        struct qpair *p = &pairs[n];
        p->k = encode_part(qp.k, qp.kl, &bad);
        p->v = qp.v ? encode_part(qp.v, qp.vl, &bad) : xstrdup("");
        n++;
        if (bad)
            goto out;
        if (drop_signature && strcmp(p->k, "X-Amz-Signature") == 0) {
            free(p->k);
            free(p->v);
            n--;
        }
    }
    qsort(pairs, n, sizeof(*pairs), qpair_cmp);
    for (size_t k = 0; k < n; k++) {
        if (k && dbuf_add(out, "&", 1) != 0)
            goto out;
        if (dbuf_adds(out, pairs[k].k) != 0 || dbuf_add(out, "=", 1) != 0 || dbuf_adds(out, pairs[k].v) != 0)
            goto out;
    }
    if (dbuf_add(out, "", 0) != 0)
        goto out;
    rc = 0;
out:
    for (size_t k = 0; k < n; k++) {
        free(pairs[k].k);
        free(pairs[k].v);
    }
    free(pairs);
    return rc;
}

int s3_sigv4_canonical_query(const char *query, size_t len, struct dbuf *out)
{
    return s3_sigv4_canonical_query_ex(query, len, 0, out);
}

/* ---- signing key, canonical request, signature ---------------------------- */

void s3_sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                          unsigned char out[32])
{
    size_t sl = strlen(secret);
    char *k = xmalloc(sl + 5);
    unsigned char a[32], b[32];

    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, sl + 1);
    s3_hmac_sha256(k, sl + 4, date8, strlen(date8), a);
    s3_hmac_sha256(a, 32, region, strlen(region), b);
    s3_hmac_sha256(b, 32, service, strlen(service), a);
    s3_hmac_sha256(a, 32, "aws4_request", 12, out);
    secure_zero(k, sl + 4);
    secure_zero(a, sizeof(a));
    secure_zero(b, sizeof(b));
    free(k);
}

/* Builds the canonical request and string to sign, and the hex signature.
 * cq is the canonical query. Returns 0, -1 if something overflowed. */
static int compute(const struct s3_request *req, const char *cq, const char *signed_headers, size_t shl,
                   const char *payload_hash, size_t phl, const char *amz_date, const char *scope,
                   const unsigned char key[32], struct dbuf *creq_out, struct dbuf *sts_out, char sig[65])
{
    struct dbuf creq_local, sts_local;
    struct dbuf *creq = creq_out, *sts = sts_out;
    char h[65];
    unsigned char mac[32];
    int rc = -1;

    dbuf_init(&creq_local, CANON_MAX);
    dbuf_init(&sts_local, 4096);
    if (creq == NULL)
        creq = &creq_local;
    if (sts == NULL)
        sts = &sts_local;

    /* SigV4: canonical request, steps 1–6. */
    if (dbuf_add(creq, req->method, req->method_len) != 0 || dbuf_add(creq, "\n", 1) != 0)
        goto out;
    if (req->path_len ? dbuf_add(creq, req->path, req->path_len) != 0 : dbuf_add(creq, "/", 1) != 0)
        goto out;
    if (dbuf_add(creq, "\n", 1) != 0 || dbuf_adds(creq, cq) != 0 || dbuf_add(creq, "\n", 1) != 0)
        goto out;
    size_t i = 0;
    while (i < shl) {
        size_t j = i;
        while (j < shl && signed_headers[j] != ';')
            j++;
        if (j > i) {
            if (dbuf_add(creq, signed_headers + i, j - i) != 0 || dbuf_add(creq, ":", 1) != 0)
                goto out;
            if (s3_header_canonical_value(req, signed_headers + i, j - i, creq) < 0)
                goto out;
            if (dbuf_add(creq, "\n", 1) != 0)
                goto out;
        }
        i = j + 1;
    }
    if (dbuf_add(creq, "\n", 1) != 0 || dbuf_add(creq, signed_headers, shl) != 0 || dbuf_add(creq, "\n", 1) != 0 ||
        dbuf_add(creq, payload_hash, phl) != 0)
        goto out;

    /* SigV4: string to sign. */
    s3_sha256_hex(creq->ptr, creq->len, h);
    if (dbuf_printf(sts, ALGO "\n%s\n%s\n%s", amz_date, scope, h) != 0)
        goto out;
    s3_hmac_sha256(key, 32, sts->ptr, sts->len, mac);
    hex_encode(mac, 32, sig);
    rc = 0;
out:
    dbuf_release(&creq_local);
    dbuf_release(&sts_local);
    return rc;
}

int s3_sigv4_sign_ex(const struct s3_request *req, const char *access_key, const char *secret, const char *region,
                     const char *service, const char *amz_date, const char *payload_hash,
                     const char *signed_headers, struct dbuf *creq, struct dbuf *sts,
                     struct dbuf *authorization_out)
{
    char date8[9], scope[256], sig[65];
    unsigned char key[32];
    struct dbuf cq;
    int rc = -1;

    dbuf_init(&cq, CANON_MAX);
    if (strlen(amz_date) != 16)
        goto out;
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    if ((size_t)snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date8, region, service) >= sizeof(scope))
        goto out;
    if (s3_sigv4_canonical_query(req->query, req->query ? req->query_len : 0, &cq) != 0)
        goto out;
    s3_sigv4_signing_key(secret, date8, region, service, key);
    if (compute(req, cq.ptr, signed_headers, strlen(signed_headers), payload_hash, strlen(payload_hash), amz_date,
                scope, key, creq, sts, sig) != 0)
        goto out;
    if (dbuf_printf(authorization_out, ALGO " Credential=%s/%s, SignedHeaders=%s, Signature=%s", access_key, scope,
                    signed_headers, sig) != 0)
        goto out;
    rc = 0;
out:
    secure_zero(key, sizeof(key));
    dbuf_release(&cq);
    return rc;
}

int s3_sigv4_sign(const struct s3_request *req, const char *access_key, const char *secret, const char *region,
                  const char *amz_date, const char *payload_hash, const char *signed_headers,
                  struct dbuf *authorization_out)
{
    return s3_sigv4_sign_ex(req, access_key, secret, region, "s3", amz_date, payload_hash, signed_headers, NULL,
                            NULL, authorization_out);
}

/* ---- verification ---------------------------------------------------------- */

/* The parsed signature material, from either form. */
struct sigparts {
    char cred[512];
    char signed_headers[2048];
    char signature[72];
    char date[40];
    int64_t expires; /* presigned only */
};

/* Finds a query parameter by exact (decoded) name and decodes its value into
 * out. Returns 1 found, 0 absent, -1 malformed or too long. */
static int query_get(const struct s3_request *req, const char *name, char *out, size_t outsz)
{
    const char *q = req->query;
    size_t len = q ? req->query_len : 0, i = 0;
    char nbuf[64];
    while (i < len) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
        size_t dl;
        if (kl < sizeof(nbuf) && s3_uri_decode(q + i, kl, nbuf, sizeof(nbuf), &dl) == 0 && strcmp(nbuf, name) == 0) {
            if (!eq) {
                out[0] = '\0';
                return 1;
            }
            return s3_uri_decode(eq + 1, (size_t)(q + j - eq - 1), out, outsz, &dl) == 0 ? 1 : -1;
        }
        i = j + 1;
    }
    return 0;
}

static int copy_view(char *dst, size_t dstsz, const char *s, size_t n)
{
    if (n >= dstsz)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…" */
static enum s3_err parse_authorization(const char *v, size_t len, struct sigparts *sp)
{
    size_t al = strlen(ALGO);
    int have = 0;
    if (len < al || memcmp(v, ALGO, al) != 0 || (len > al && v[al] != ' ' && v[al] != '\t'))
        return S3E_AUTH_HEADER_MALFORMED;
    size_t i = al;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == ',' || v[i] == '\t'))
            i++;
        size_t j = i;
        while (j < len && v[j] != ',' && v[j] != ' ' && v[j] != '\t')
            j++;
        if (j == i)
            break;
        const char *eq = memchr(v + i, '=', j - i);
        if (eq == NULL)
            return S3E_AUTH_HEADER_MALFORMED;
        size_t kl = (size_t)(eq - (v + i)), vl = (size_t)(v + j - eq - 1);
        int r = 0;
        if (kl == 10 && memcmp(v + i, "Credential", 10) == 0) {
            r = copy_view(sp->cred, sizeof(sp->cred), eq + 1, vl);
            have |= 1;
        } else if (kl == 13 && memcmp(v + i, "SignedHeaders", 13) == 0) {
            r = copy_view(sp->signed_headers, sizeof(sp->signed_headers), eq + 1, vl);
            have |= 2;
        } else if (kl == 9 && memcmp(v + i, "Signature", 9) == 0) {
            r = copy_view(sp->signature, sizeof(sp->signature), eq + 1, vl);
            have |= 4;
        }
        if (r != 0)
            return S3E_AUTH_HEADER_MALFORMED;
        i = j;
    }
    return have == 7 ? S3E_OK : S3E_AUTH_HEADER_MALFORMED;
}

static enum s3_err parse_presigned(const struct s3_request *req, struct sigparts *sp)
{
    char alg[32], exp[24];
    if (query_get(req, "X-Amz-Algorithm", alg, sizeof(alg)) != 1 || strcmp(alg, ALGO) != 0)
        return S3E_AUTH_HEADER_MALFORMED;
    if (query_get(req, "X-Amz-Credential", sp->cred, sizeof(sp->cred)) != 1 ||
        query_get(req, "X-Amz-Date", sp->date, sizeof(sp->date)) != 1 ||
        query_get(req, "X-Amz-Expires", exp, sizeof(exp)) != 1 ||
        query_get(req, "X-Amz-SignedHeaders", sp->signed_headers, sizeof(sp->signed_headers)) != 1 ||
        query_get(req, "X-Amz-Signature", sp->signature, sizeof(sp->signature)) != 1)
        return S3E_AUTH_HEADER_MALFORMED;
    /* AWS: a number (AuthorizationQueryParametersError otherwise), not
     * negative, at most a week; 0 is a URL that has already expired. */
    int64_t e = 0;
    const char *p = exp[0] == '-' ? exp + 1 : exp;
    if (*p == '\0')
        return S3E_EXPIRES_NOT_NUMBER;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return S3E_EXPIRES_NOT_NUMBER;
        if (e <= S3_MAX_PRESIGN_EXPIRES)
            e = e * 10 + (*p - '0');
    }
    if (exp[0] == '-' && e > 0)
        return S3E_EXPIRES_NEGATIVE;
    if (e > S3_MAX_PRESIGN_EXPIRES)
        return S3E_EXPIRES_TOO_LARGE;
    sp->expires = e;
    return S3E_OK;
}

static int is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

static int view_eq(const char *v, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(v, lit, n) == 0;
}

/* Classifies the payload-hash line (x-amz-content-sha256). */
static enum s3_err classify_payload(const char *v, size_t n, struct s3_auth *out)
{
    if (is_hex64(v, n)) {
        for (size_t i = 0; i < 32; i++)
            out->payload_sha256[i] = (unsigned char)(hex_digit(v[2 * i]) << 4 | hex_digit(v[2 * i + 1]));
        out->payload = S3_PAYLOAD_HEX_SHA256;
    } else if (view_eq(v, n, "UNSIGNED-PAYLOAD")) {
        out->payload = S3_PAYLOAD_UNSIGNED;
    } else if (view_eq(v, n, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")) {
        out->payload = S3_PAYLOAD_STREAMING_SIGNED;
    } else if (view_eq(v, n, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")) {
        out->payload = S3_PAYLOAD_STREAMING_SIGNED_TRAILER;
    } else if (view_eq(v, n, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")) {
        out->payload = S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    } else {
        return S3E_INVALID_ARGUMENT;
    }
    return S3E_OK;
}

/* Credential "AK/yyyymmdd/region/service/aws4_request" → parts. */
static enum s3_err split_credential(const char *cred, struct s3_auth *out, char date8[9], char service[32])
{
    const char *p[5];
    size_t l[5];
    const char *s = cred;
    const char *end = cred + strlen(cred);
    /* The access key may not contain '/', so split from the right: the last
     * four fields are fixed. */
    const char *cut = end;
    for (int k = 4; k >= 1; k--) {
        const char *q = cut;
        while (q > s && q[-1] != '/')
            q--;
        if (q == s)
            return S3E_AUTH_HEADER_MALFORMED;
        p[k] = q;
        l[k] = (size_t)(cut - q);
        cut = q - 1;
    }
    p[0] = s;
    l[0] = (size_t)(cut - s);
    if (l[0] == 0 || l[0] >= sizeof(out->access_key) || l[1] != 8 || l[2] == 0 || l[2] >= sizeof(out->region) ||
        l[3] == 0 || l[3] >= 32 || l[4] != 12 || memcmp(p[4], "aws4_request", 12) != 0)
        return S3E_AUTH_HEADER_MALFORMED;
    memcpy(out->access_key, p[0], l[0]);
    out->access_key[l[0]] = '\0';
    memcpy(date8, p[1], 8);
    date8[8] = '\0';
    memcpy(out->region, p[2], l[2]);
    out->region[l[2]] = '\0';
    memcpy(service, p[3], l[3]);
    service[l[3]] = '\0';
    if ((size_t)snprintf(out->scope, sizeof(out->scope), "%s/%s/%s/aws4_request", date8, out->region, service) >=
        sizeof(out->scope))
        return S3E_AUTH_HEADER_MALFORMED;
    return S3E_OK;
}

/* Is the header name (any case) one of the lower-case, ';'-separated names in sh? */
static int signed_list_has(const char *sh, const char *name, size_t nl)
{
    size_t n = strlen(sh), i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && sh[j] != ';')
            j++;
        if (j - i == nl) {
            size_t k = 0;
            while (k < nl) {
                char c = name[k];
                if (c >= 'A' && c <= 'Z')
                    c = (char)(c + 32);
                if (c != sh[i + k])
                    break;
                k++;
            }
            if (k == nl)
                return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* S3 refuses a request carrying an x-amz-* header that the signature does not
 * cover ("There were headers present in the request which were not signed"):
 * those headers carry meaning (x-amz-meta-*, x-amz-acl, x-amz-copy-source,
 * x-amz-trailer…), so an unsigned one could be injected in transit. Only
 * headers count here; x-amz-* query parameters are part of the canonical
 * query and so already signed. */
static int amz_headers_signed(const struct s3_request *req, const char *sh)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct s3_header *h = &req->headers[i];
        if (h->name_len < 6 || !s3_memieq(h->name, 6, "x-amz-"))
            continue;
        if (!signed_list_has(sh, h->name, h->name_len))
            return 0;
    }
    return 1;
}

/* x-amz-trailer → out->trailer (lower case), for s3_chunked_decode to hold the
 * body to. AWS answers a declared trailer on a payload that carries none with
 * MalformedTrailerError, and more than one declared trailer with
 * InvalidRequest ("Expecting a single x-amz-checksum- header"). */
static enum s3_err declared_trailer(const struct s3_request *req, struct s3_auth *out)
{
    size_t l;
    const char *v = s3_header_get(req, "x-amz-trailer", &l);
    if (v == NULL)
        return S3E_OK;
    while (l && (*v == ' ' || *v == '\t')) {
        v++;
        l--;
    }
    while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
        l--;
    if (memchr(v, ',', l) != NULL)
        return S3E_INVALID_REQUEST;
    if (l == 0 || l >= sizeof(out->trailer) ||
        (out->payload != S3_PAYLOAD_STREAMING_SIGNED_TRAILER && out->payload != S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER))
        return S3E_MALFORMED_TRAILER;
    for (size_t i = 0; i < l; i++) {
        char c = v[i];
        if ((unsigned char)c <= ' ' || c == ':' || c == 0x7f)
            return S3E_MALFORMED_TRAILER;
        out->trailer[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    out->trailer[l] = '\0';
    return S3E_OK;
}

static int signed_headers_ok(const char *sh)
{
    size_t n = strlen(sh), i = 0;
    int host = 0;
    if (n == 0)
        return 0;
    while (i < n) {
        size_t j = i;
        while (j < n && sh[j] != ';')
            j++;
        if (j == i)
            return 0;
        for (size_t k = i; k < j; k++)
            if ((unsigned char)sh[k] <= ' ' || sh[k] == ':' || (sh[k] >= 'A' && sh[k] <= 'Z'))
                return 0;
        if (j - i == 4 && memcmp(sh + i, "host", 4) == 0)
            host = 1;
        i = j + 1;
    }
    return host;
}

/* Reads the signature material from the query (presigned) or from the
 * Authorization header with its x-amz-date (or Date) header. */
static enum s3_err read_sigparts(const struct s3_request *req, struct sigparts *sp, struct s3_auth *out)
{
    char alg[32];
    size_t l;
    const char *v;

    int q = query_get(req, "X-Amz-Algorithm", alg, sizeof(alg));
    if (q != 0) {
        out->presigned = 1;
        return q < 0 ? S3E_AUTH_HEADER_MALFORMED : parse_presigned(req, sp);
    }
    v = s3_header_get(req, "authorization", &l);
    if (v == NULL)
        return S3E_ACCESS_DENIED;
    enum s3_err err = parse_authorization(v, l, sp);
    if (err != S3E_OK)
        return err;
    v = s3_header_get(req, "x-amz-date", &l);
    if (v != NULL)
        return copy_view(sp->date, sizeof(sp->date), v, l) != 0 ? S3E_ACCESS_DENIED : S3E_OK;
    v = s3_header_get(req, "date", &l);
    int64_t t = v ? s3_time_parse_http(v, l) : -1;
    if (t < 0)
        return S3E_MISSING_DATE;
    s3_time_amz(t, sp->date);
    return S3E_OK;
}

/* Checks the credential scope, the signed-header list and the request date
 * against each other; fills out's key, region, scope and amz_date, and the
 * request time into *t. */
static enum s3_err check_scope(const struct s3_request *req, const struct sigparts *sp, struct s3_auth *out,
                               char date8[9], char service[32], int64_t *t)
{
    enum s3_err err = split_credential(sp->cred, out, date8, service);
    if (err != S3E_OK)
        return err;
    /* A scope for another service is malformed to S3, whose error names the
     * form the credential came in. */
    if (strcmp(service, "s3") != 0)
        return out->presigned ? S3E_AUTH_QUERY_WRONG_SERVICE : S3E_AUTH_HEADER_WRONG_SERVICE;
    if (!signed_headers_ok(sp->signed_headers))
        return S3E_AUTH_HEADER_MALFORMED;
    if (!amz_headers_signed(req, sp->signed_headers))
        return S3E_HEADERS_NOT_SIGNED;
    *t = s3_time_parse_amz(sp->date, strlen(sp->date));
    if (*t < 0)
        return S3E_ACCESS_DENIED;
    if (memcmp(sp->date, date8, 8) != 0)
        return S3E_AUTH_HEADER_MALFORMED;
    memcpy(out->amz_date, sp->date, 17);
    return S3E_OK;
}

/* The request time t (seconds) against now: within the clock skew, and for a
 * presigned URL not past its expiry. */
static enum s3_err check_time(int presigned, int64_t t, int64_t expires, int64_t now)
{
    if (presigned) {
        if (t > now + S3_MAX_CLOCK_SKEW)
            return S3E_REQUEST_TIME_TOO_SKEWED;
        if (expires == 0 || t + expires < now)
            return S3E_REQUEST_EXPIRED;
        return S3E_OK;
    }
    if (t > now + S3_MAX_CLOCK_SKEW || t < now - S3_MAX_CLOCK_SKEW)
        return S3E_REQUEST_TIME_TOO_SKEWED;
    return S3E_OK;
}

/* The payload-hash line of the canonical request: X-Amz-Content-Sha256 of a
 * presigned URL (UNSIGNED-PAYLOAD when absent, decoded into ph) or the
 * x-amz-content-sha256 header; classified into out. */
static enum s3_err read_payload_hash(const struct s3_request *req, struct s3_auth *out, char *ph, size_t phsz,
                                     const char **payload_hash, size_t *phl)
{
    if (out->presigned) {
        int r = query_get(req, "X-Amz-Content-Sha256", ph, phsz);
        if (r < 0)
            return S3E_INVALID_ARGUMENT;
        *payload_hash = r ? ph : "UNSIGNED-PAYLOAD";
        *phl = strlen(*payload_hash);
    } else {
        *payload_hash = s3_header_get(req, "x-amz-content-sha256", phl);
        if (*payload_hash == NULL)
            return S3E_MISSING_CONTENT_SHA256;
    }
    return classify_payload(*payload_hash, *phl, out);
}

/* The signature the client gave against the one computed (lower-case hex). */
static int signature_matches(const char *given_sig, const char sig[65])
{
    /* Clients send lower-case hex; tolerate upper case. */
    char given[65];
    size_t gl = strlen(given_sig);
    if (gl != 64)
        return 0;
    for (size_t i = 0; i < 64; i++) {
        char c = given_sig[i];
        given[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    given[64] = '\0';
    return CRYPTO_memcmp(given, sig, 64) == 0;
}

/* x-amz-decoded-content-length, when sent, into out (-1 stays when absent). */
static enum s3_err read_decoded_length(const struct s3_request *req, struct s3_auth *out)
{
    size_t l;
    const char *v = s3_header_get(req, "x-amz-decoded-content-length", &l);
    if (v == NULL)
        return S3E_OK;
    int64_t n = 0;
    if (l == 0 || l > 18)
        return S3E_INVALID_ARGUMENT;
    for (size_t i = 0; i < l; i++) {
        if (v[i] < '0' || v[i] > '9')
            return S3E_INVALID_ARGUMENT;
        n = n * 10 + (v[i] - '0');
    }
    out->decoded_content_length = n;
    return S3E_OK;
}

enum s3_err s3_sigv4_verify(const struct s3_request *req, s3_secret_lookup_fn lookup, void *ud, int64_t now,
                            struct s3_auth *out)
{
    struct sigparts *sp = xcalloc(1, sizeof(*sp));
    struct dbuf cq;
    enum s3_err err;
    char date8[9], service[32], sig[65];
    int64_t t = 0;

    dbuf_init(&cq, CANON_MAX);
    memset(out, 0, sizeof(*out));
    out->decoded_content_length = -1;

    err = read_sigparts(req, sp, out);
    if (err != S3E_OK)
        goto out;
    err = check_scope(req, sp, out, date8, service, &t);
    if (err != S3E_OK)
        goto out;

    const char *secret = lookup(ud, out->access_key);
    if (secret == NULL) {
        err = S3E_INVALID_ACCESS_KEY_ID;
        goto out;
    }
    err = check_time(out->presigned, t, sp->expires, now);
    if (err != S3E_OK)
        goto out;

    char ph[80];
    const char *payload_hash;
    size_t phl;
    err = read_payload_hash(req, out, ph, sizeof(ph), &payload_hash, &phl);
    if (err != S3E_OK)
        goto out;

    if (s3_sigv4_canonical_query_ex(req->query, req->query ? req->query_len : 0, out->presigned, &cq) != 0) {
        err = out->presigned ? S3E_AUTH_HEADER_MALFORMED : S3E_INVALID_ARGUMENT;
        goto out;
    }
    s3_sigv4_signing_key(secret, date8, out->region, service, out->signing_key);
    if (compute(req, cq.ptr, sp->signed_headers, strlen(sp->signed_headers), payload_hash, phl, out->amz_date,
                out->scope, out->signing_key, NULL, NULL, sig) != 0) {
        err = S3E_SIGNATURE_DOES_NOT_MATCH;
        goto out;
    }
    if (!signature_matches(sp->signature, sig)) {
        err = S3E_SIGNATURE_DOES_NOT_MATCH;
        goto out;
    }
    memcpy(out->seed_signature, sig, 65);

    err = read_decoded_length(req, out);
    if (err != S3E_OK)
        goto out;
    err = declared_trailer(req, out);
    if (err != S3E_OK)
        goto out;
out:
    if (err != S3E_OK) {
        /* Leave nothing secret behind on failure. */
        secure_zero(out->signing_key, sizeof(out->signing_key));
        int presigned = out->presigned;
        memset(out, 0, sizeof(*out));
        out->presigned = presigned;
        out->decoded_content_length = -1;
    }
    dbuf_release(&cq);
    free(sp);
    return err;
}

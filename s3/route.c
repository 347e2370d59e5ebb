/* route.c — request → S3 operation, table-driven (after Garage's router).
 *
 * The bucket comes from the first path segment (or the Host header for
 * virtual-hosted style), the key is the rest of the path, percent-decoded.
 * Keyword sub-resources (?acl, ?uploads, …) are recognised once into a bit
 * set; the operation is then the first row of the table whose method,
 * key-presence, keyword and header conditions all hold. Keywords we know but
 * do not serve route to S3_OP_NOT_IMPLEMENTED so they never fall through to
 * a listing, and so does any parameter no operation reads (params.c). Keys and query values must be UTF-8 (InvalidURI otherwise); a
 * request that creates an object must name a key XML can carry and send
 * metadata that can be returned as headers (InvalidArgument otherwise).
 *
 * DESIGN (the s3/ module): every function is a pure transformation of
 * caller-provided views and buffers; there is no global mutable state, no
 * clock (callers pass "now"), no I/O and no logging, so any thread may call
 * anything. Per request the order is route (this file) → SigV4 (sigv4.c) →
 * body decoding (chunked.c) → handler, which renders through xml.c and
 * error.c. Limits: keys ≤ S3_MAX_KEY_LEN bytes decoded, ≤ S3_MAX_QUERY_PARAMS
 * query parameters, XML bodies ≤ S3_MAX_XML_BODY, aws-chunked header lines
 * ≤ 256 bytes; every output buffer is a bounded dbuf.
 */
#include <stdlib.h>
#include <string.h>

#include "s3/s3_int.h"

/* Sub-resource keywords (the query parameter names S3 treats as resources). */
enum kw {
    KW_ACL,
    KW_CORS,
    KW_DELETE,
    KW_LIFECYCLE,
    KW_LOCATION,
    KW_POLICY,
    KW_TAGGING,
    KW_UPLOADS,
    KW_UPLOAD_ID,
    KW_PART_NUMBER,
    KW_VERSIONING,
    KW_VERSIONS,
    KW_WEBSITE,
    KW_LOGGING,
    KW_NOTIFICATION,
    KW_REPLICATION,
    KW_ENCRYPTION,
    KW_REQUEST_PAYMENT,
    KW_ACCELERATE,
    KW_ANALYTICS,
    KW_INVENTORY,
    KW_METRICS,
    KW_OWNERSHIP_CONTROLS,
    KW_PUBLIC_ACCESS_BLOCK,
    KW_OBJECT_LOCK,
    KW_RETENTION,
    KW_LEGAL_HOLD,
    KW_RESTORE,
    KW_SELECT,
    KW_TORRENT,
    KW_INTELLIGENT_TIERING,
    KW_ATTRIBUTES,
    KW__COUNT
};

static const char *const kw_names[KW__COUNT] = {
    [KW_ACL] = "acl",
    [KW_CORS] = "cors",
    [KW_DELETE] = "delete",
    [KW_LIFECYCLE] = "lifecycle",
    [KW_LOCATION] = "location",
    [KW_POLICY] = "policy",
    [KW_TAGGING] = "tagging",
    [KW_UPLOADS] = "uploads",
    [KW_UPLOAD_ID] = "uploadId",
    [KW_PART_NUMBER] = "partNumber",
    [KW_VERSIONING] = "versioning",
    [KW_VERSIONS] = "versions",
    [KW_WEBSITE] = "website",
    [KW_LOGGING] = "logging",
    [KW_NOTIFICATION] = "notification",
    [KW_REPLICATION] = "replication",
    [KW_ENCRYPTION] = "encryption",
    [KW_REQUEST_PAYMENT] = "requestPayment",
    [KW_ACCELERATE] = "accelerate",
    [KW_ANALYTICS] = "analytics",
    [KW_INVENTORY] = "inventory",
    [KW_METRICS] = "metrics",
    [KW_OWNERSHIP_CONTROLS] = "ownershipControls",
    [KW_PUBLIC_ACCESS_BLOCK] = "publicAccessBlock",
    [KW_OBJECT_LOCK] = "object-lock",
    [KW_RETENTION] = "retention",
    [KW_LEGAL_HOLD] = "legal-hold",
    [KW_RESTORE] = "restore",
    [KW_SELECT] = "select",
    [KW_TORRENT] = "torrent",
    [KW_INTELLIGENT_TIERING] = "intelligent-tiering",
    [KW_ATTRIBUTES] = "attributes",
};

#define BIT(k) (1ull << (k))

enum meth { M_GET = 1, M_HEAD = 2, M_PUT = 4, M_POST = 8, M_DELETE = 16, M_OPTIONS = 32 };
enum target { T_SERVICE = 1, T_BUCKET = 2, T_OBJECT = 4 };
enum hdr { H_NONE = 0, H_COPY_SOURCE = 1, H_NO_COPY_SOURCE = 2 };
enum extra { X_NONE = 0, X_LIST_TYPE_2 = 1 };

/* One routing rule. `need` keywords must all be present; when `exact` is set
 * no other keyword may be present. Rows are tried in order. */
struct rule {
    unsigned methods;
    unsigned target;
    uint64_t need;
    int exact;
    enum hdr hdr;
    enum extra extra;
    enum s3_op op;
};

static const struct rule rules[] = {
    {M_GET, T_SERVICE, 0, 1, H_NONE, X_NONE, S3_OP_LIST_BUCKETS},

    {M_PUT, T_BUCKET, 0, 1, H_NONE, X_NONE, S3_OP_CREATE_BUCKET},
    {M_DELETE, T_BUCKET, 0, 1, H_NONE, X_NONE, S3_OP_DELETE_BUCKET},
    {M_HEAD, T_BUCKET, 0, 1, H_NONE, X_NONE, S3_OP_HEAD_BUCKET},
    {M_GET, T_BUCKET, BIT(KW_LOCATION), 1, H_NONE, X_NONE, S3_OP_GET_BUCKET_LOCATION},
    {M_GET, T_BUCKET, BIT(KW_VERSIONING), 1, H_NONE, X_NONE, S3_OP_GET_BUCKET_VERSIONING},
    {M_PUT, T_BUCKET, BIT(KW_VERSIONING), 1, H_NONE, X_NONE, S3_OP_PUT_BUCKET_VERSIONING},
    {M_GET, T_BUCKET, BIT(KW_OBJECT_LOCK), 1, H_NONE, X_NONE, S3_OP_GET_OBJECT_LOCK_CONFIGURATION},
    {M_PUT, T_BUCKET, BIT(KW_OBJECT_LOCK), 1, H_NONE, X_NONE, S3_OP_PUT_OBJECT_LOCK_CONFIGURATION},
    {M_GET, T_BUCKET, BIT(KW_LIFECYCLE), 1, H_NONE, X_NONE, S3_OP_GET_BUCKET_LIFECYCLE},
    {M_PUT, T_BUCKET, BIT(KW_LIFECYCLE), 1, H_NONE, X_NONE, S3_OP_PUT_BUCKET_LIFECYCLE},
    {M_DELETE, T_BUCKET, BIT(KW_LIFECYCLE), 1, H_NONE, X_NONE, S3_OP_DELETE_BUCKET_LIFECYCLE},
    {M_GET, T_BUCKET, BIT(KW_ACL), 1, H_NONE, X_NONE, S3_OP_GET_BUCKET_ACL},
    {M_PUT, T_BUCKET, BIT(KW_ACL), 1, H_NONE, X_NONE, S3_OP_PUT_BUCKET_ACL},
    {M_GET, T_BUCKET, BIT(KW_PUBLIC_ACCESS_BLOCK), 1, H_NONE, X_NONE, S3_OP_GET_PUBLIC_ACCESS_BLOCK},
    {M_PUT, T_BUCKET, BIT(KW_PUBLIC_ACCESS_BLOCK), 1, H_NONE, X_NONE, S3_OP_PUT_PUBLIC_ACCESS_BLOCK},
    {M_DELETE, T_BUCKET, BIT(KW_PUBLIC_ACCESS_BLOCK), 1, H_NONE, X_NONE, S3_OP_DELETE_PUBLIC_ACCESS_BLOCK},
    {M_GET, T_BUCKET, BIT(KW_TAGGING), 1, H_NONE, X_NONE, S3_OP_GET_BUCKET_TAGGING},
    {M_GET, T_BUCKET, BIT(KW_UPLOADS), 1, H_NONE, X_NONE, S3_OP_LIST_MULTIPART_UPLOADS},
    {M_GET, T_BUCKET, BIT(KW_VERSIONS), 1, H_NONE, X_NONE, S3_OP_LIST_OBJECT_VERSIONS},
    {M_GET, T_BUCKET, 0, 1, H_NONE, X_LIST_TYPE_2, S3_OP_LIST_OBJECTS_V2},
    {M_GET, T_BUCKET, 0, 1, H_NONE, X_NONE, S3_OP_LIST_OBJECTS},
    {M_POST, T_BUCKET, BIT(KW_DELETE), 1, H_NONE, X_NONE, S3_OP_DELETE_OBJECTS},
    {M_POST, T_BUCKET, 0, 1, H_NONE, X_NONE, S3_OP_POST_OBJECT}, /* a browser form upload (PostObject) */
    {M_GET, T_BUCKET, BIT(KW_CORS), 1, H_NONE, X_NONE, S3_OP_GET_BUCKET_CORS},
    {M_PUT, T_BUCKET, BIT(KW_CORS), 1, H_NONE, X_NONE, S3_OP_PUT_BUCKET_CORS},
    {M_DELETE, T_BUCKET, BIT(KW_CORS), 1, H_NONE, X_NONE, S3_OP_DELETE_BUCKET_CORS},
    /* A browser's preflight, whatever the query: the URL it is about to send to. */
    {M_OPTIONS, T_BUCKET | T_OBJECT, 0, 0, H_NONE, X_NONE, S3_OP_CORS_PREFLIGHT},

    {M_PUT, T_OBJECT, BIT(KW_PART_NUMBER) | BIT(KW_UPLOAD_ID), 1, H_COPY_SOURCE, X_NONE, S3_OP_UPLOAD_PART_COPY},
    {M_PUT, T_OBJECT, BIT(KW_PART_NUMBER) | BIT(KW_UPLOAD_ID), 1, H_NONE, X_NONE, S3_OP_UPLOAD_PART},
    {M_PUT, T_OBJECT, BIT(KW_TAGGING), 1, H_NONE, X_NONE, S3_OP_PUT_OBJECT_TAGGING},
    {M_PUT, T_OBJECT, BIT(KW_ACL), 1, H_NONE, X_NONE, S3_OP_PUT_OBJECT_ACL},
    {M_PUT, T_OBJECT, 0, 1, H_COPY_SOURCE, X_NONE, S3_OP_COPY_OBJECT},
    {M_PUT, T_OBJECT, 0, 1, H_NONE, X_NONE, S3_OP_PUT_OBJECT},
    {M_GET, T_OBJECT, BIT(KW_TAGGING), 1, H_NONE, X_NONE, S3_OP_GET_OBJECT_TAGGING},
    {M_GET, T_OBJECT, BIT(KW_ACL), 1, H_NONE, X_NONE, S3_OP_GET_OBJECT_ACL},
    {M_GET, T_OBJECT, BIT(KW_RETENTION), 1, H_NONE, X_NONE, S3_OP_GET_OBJECT_RETENTION},
    {M_PUT, T_OBJECT, BIT(KW_RETENTION), 1, H_NONE, X_NONE, S3_OP_PUT_OBJECT_RETENTION},
    {M_GET, T_OBJECT, BIT(KW_LEGAL_HOLD), 1, H_NONE, X_NONE, S3_OP_GET_OBJECT_LEGAL_HOLD},
    {M_PUT, T_OBJECT, BIT(KW_LEGAL_HOLD), 1, H_NONE, X_NONE, S3_OP_PUT_OBJECT_LEGAL_HOLD},
    {M_GET, T_OBJECT, BIT(KW_UPLOAD_ID), 1, H_NONE, X_NONE, S3_OP_LIST_PARTS},
    {M_GET, T_OBJECT, BIT(KW_ATTRIBUTES), 1, H_NONE, X_NONE, S3_OP_GET_OBJECT_ATTRIBUTES},
    {M_GET, T_OBJECT, 0, 1, H_NONE, X_NONE, S3_OP_GET_OBJECT},
    {M_GET, T_OBJECT, BIT(KW_PART_NUMBER), 1, H_NONE, X_NONE, S3_OP_GET_OBJECT},
    {M_HEAD, T_OBJECT, 0, 1, H_NONE, X_NONE, S3_OP_HEAD_OBJECT},
    {M_HEAD, T_OBJECT, BIT(KW_PART_NUMBER), 1, H_NONE, X_NONE, S3_OP_HEAD_OBJECT},
    {M_DELETE, T_OBJECT, BIT(KW_UPLOAD_ID), 1, H_NONE, X_NONE, S3_OP_ABORT_MULTIPART_UPLOAD},
    {M_DELETE, T_OBJECT, BIT(KW_TAGGING), 1, H_NONE, X_NONE, S3_OP_DELETE_OBJECT_TAGGING},
    {M_DELETE, T_OBJECT, 0, 1, H_NONE, X_NONE, S3_OP_DELETE_OBJECT},
    {M_POST, T_OBJECT, BIT(KW_UPLOADS), 1, H_NONE, X_NONE, S3_OP_CREATE_MULTIPART_UPLOAD},
    {M_POST, T_OBJECT, BIT(KW_UPLOAD_ID), 1, H_NONE, X_NONE, S3_OP_COMPLETE_MULTIPART_UPLOAD},
};

static const char *const op_names[S3_OP__COUNT] = {
    [S3_OP_UNKNOWN] = "Unknown",
    [S3_OP_LIST_BUCKETS] = "ListBuckets",
    [S3_OP_CREATE_BUCKET] = "CreateBucket",
    [S3_OP_DELETE_BUCKET] = "DeleteBucket",
    [S3_OP_HEAD_BUCKET] = "HeadBucket",
    [S3_OP_GET_BUCKET_LOCATION] = "GetBucketLocation",
    [S3_OP_GET_BUCKET_VERSIONING] = "GetBucketVersioning",
    [S3_OP_GET_BUCKET_ACL] = "GetBucketAcl",
    [S3_OP_GET_BUCKET_TAGGING] = "GetBucketTagging",
    [S3_OP_LIST_OBJECTS] = "ListObjects",
    [S3_OP_LIST_OBJECTS_V2] = "ListObjectsV2",
    [S3_OP_LIST_OBJECT_VERSIONS] = "ListObjectVersions",
    [S3_OP_LIST_MULTIPART_UPLOADS] = "ListMultipartUploads",
    [S3_OP_DELETE_OBJECTS] = "DeleteObjects",
    [S3_OP_PUT_OBJECT] = "PutObject",
    [S3_OP_COPY_OBJECT] = "CopyObject",
    [S3_OP_GET_OBJECT] = "GetObject",
    [S3_OP_HEAD_OBJECT] = "HeadObject",
    [S3_OP_DELETE_OBJECT] = "DeleteObject",
    [S3_OP_GET_OBJECT_ACL] = "GetObjectAcl",
    [S3_OP_PUT_OBJECT_ACL] = "PutObjectAcl",
    [S3_OP_GET_OBJECT_TAGGING] = "GetObjectTagging",
    [S3_OP_PUT_OBJECT_TAGGING] = "PutObjectTagging",
    [S3_OP_DELETE_OBJECT_TAGGING] = "DeleteObjectTagging",
    [S3_OP_CREATE_MULTIPART_UPLOAD] = "CreateMultipartUpload",
    [S3_OP_UPLOAD_PART] = "UploadPart",
    [S3_OP_UPLOAD_PART_COPY] = "UploadPartCopy",
    [S3_OP_COMPLETE_MULTIPART_UPLOAD] = "CompleteMultipartUpload",
    [S3_OP_ABORT_MULTIPART_UPLOAD] = "AbortMultipartUpload",
    [S3_OP_LIST_PARTS] = "ListParts",
    [S3_OP_POST_OBJECT] = "PostObject",
    [S3_OP_PUT_BUCKET_ACL] = "PutBucketAcl",
    [S3_OP_GET_PUBLIC_ACCESS_BLOCK] = "GetPublicAccessBlock",
    [S3_OP_PUT_PUBLIC_ACCESS_BLOCK] = "PutPublicAccessBlock",
    [S3_OP_DELETE_PUBLIC_ACCESS_BLOCK] = "DeletePublicAccessBlock",
    [S3_OP_NOT_IMPLEMENTED] = "NotImplemented",
    [S3_OP_GET_BUCKET_CORS] = "GetBucketCors",
    [S3_OP_PUT_BUCKET_CORS] = "PutBucketCors",
    [S3_OP_DELETE_BUCKET_CORS] = "DeleteBucketCors",
    [S3_OP_CORS_PREFLIGHT] = "CorsPreflight",
    [S3_OP_GET_OBJECT_ATTRIBUTES] = "GetObjectAttributes",
    [S3_OP_PUT_BUCKET_VERSIONING] = "PutBucketVersioning",
    [S3_OP_GET_OBJECT_LOCK_CONFIGURATION] = "GetObjectLockConfiguration",
    [S3_OP_PUT_OBJECT_LOCK_CONFIGURATION] = "PutObjectLockConfiguration",
    [S3_OP_GET_OBJECT_RETENTION] = "GetObjectRetention",
    [S3_OP_PUT_OBJECT_RETENTION] = "PutObjectRetention",
    [S3_OP_GET_OBJECT_LEGAL_HOLD] = "GetObjectLegalHold",
    [S3_OP_PUT_OBJECT_LEGAL_HOLD] = "PutObjectLegalHold",
    [S3_OP_GET_BUCKET_LIFECYCLE] = "GetBucketLifecycleConfiguration",
    [S3_OP_PUT_BUCKET_LIFECYCLE] = "PutBucketLifecycleConfiguration",
    [S3_OP_DELETE_BUCKET_LIFECYCLE] = "DeleteBucketLifecycle",
};

const char *s3_op_name(enum s3_op op)
{
    if ((unsigned)op >= S3_OP__COUNT || op_names[op] == NULL)
        return "Unknown";
    return op_names[op];
}

int s3_bucket_name_valid(const char *name)
{
    size_t n = strlen(name);
    int all_digits_dots = 1;
    if (n < 3 || n > S3_MAX_BUCKET_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-')
            return 0;
        if ((i == 0 || i == n - 1) && !alnum)
            return 0;
        if (c == '.' && (name[i + 1] == '.' || name[i + 1] == '-' || (i > 0 && name[i - 1] == '-')))
            return 0;
        if (c >= 'a' && c <= 'z')
            all_digits_dots = 0;
        if (c == '-')
            all_digits_dots = 0;
    }
    if (all_digits_dots) /* looks like an IP address */
        return 0;
    if (strncmp(name, "xn--", 4) == 0)
        return 0;
    return 1;
}

/* Lenient check for every operation except CreateBucket: an unusual name of
 * a bucket that does not exist should answer NoSuchBucket, not 400. */
static int bucket_name_plausible(const char *name, size_t n)
{
    if (n < 1 || n > S3_MAX_BUCKET_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x21 || c == 0x7f || c == '/' || c == '\\')
            return 0;
    }
    return 1;
}

static unsigned method_bit(const struct s3_request *req)
{
    static const struct {
        const char *name;
        unsigned bit;
    } m[] = {{"GET", M_GET},       {"HEAD", M_HEAD},     {"PUT", M_PUT},
             {"POST", M_POST},     {"DELETE", M_DELETE}, {"OPTIONS", M_OPTIONS}};
    for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
        size_t l = strlen(m[i].name);
        if (req->method_len == l && memcmp(req->method, m[i].name, l) == 0)
            return m[i].bit;
    }
    return 0;
}

static char *decode_dup(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t n;
    if (s3_uri_decode(s, len, out, len + 1, &n) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static enum s3_err parse_query(const struct s3_request *req, struct s3_route *out, uint64_t *kw, int *unknown)
{
    const char *q = req->query;
    size_t len = req->query ? req->query_len : 0, pos = 0;
    struct s3_query_pair qp;
    while (s3_query_next(q, len, &pos, &qp)) {
        if (out->n_params >= S3_MAX_QUERY_PARAMS)
            return S3E_INVALID_ARGUMENT;
        char *name = decode_dup(qp.k, qp.kl);
        char *value = qp.v ? decode_dup(qp.v, qp.vl) : xstrdup("");
        if (name == NULL || value == NULL) {
            free(name);
            free(value);
            return S3E_INVALID_ARGUMENT;
        }
        out->params[out->n_params].name = name;
        out->params[out->n_params].value = value;
        out->n_params++;
        /* prefix, marker, delimiter… are echoed in listings, which are UTF-8. */
        if (!s3_utf8_valid(name, strlen(name)) || !s3_utf8_valid(value, strlen(value)))
            return S3E_INVALID_URI;
        int is_kw = 0;
        for (size_t k = 0; k < KW__COUNT; k++)
            if (strcmp(name, kw_names[k]) == 0) {
                *kw |= BIT(k);
                is_kw = 1;
            }
        if (!is_kw && !s3_query_param_known(name))
            *unknown = 1;
    }
    return S3E_OK;
}

const char *s3_route_param(const struct s3_route *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

void s3_route_release(struct s3_route *r)
{
    if (r == NULL)
        return;
    free(r->key);
    r->key = NULL;
    for (size_t i = 0; i < r->n_params; i++) {
        free(r->params[i].name);
        free(r->params[i].value);
    }
    r->n_params = 0;
}

/* Headers an object keeps and returns (gateway/http/meta.c), besides x-amz-meta-*. */
static const char *const stored_headers[] = {
    "content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires",
};

/* Operations that create a key and store the request's metadata with it. */
static int creates_object(enum s3_op op)
{
    return op == S3_OP_PUT_OBJECT || op == S3_OP_COPY_OBJECT || op == S3_OP_CREATE_MULTIPART_UPLOAD;
}

/* A stored value is returned as a response header later: refuse now what
 * could not be (control bytes), rather than store it and lose it. */
static int metadata_returnable(const struct s3_request *req)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct s3_header *h = &req->headers[i];
        int stored = h->name_len > 11 && s3_memieq(h->name, 11, "x-amz-meta-");
        for (size_t k = 0; !stored && k < ARRAY_SIZE(stored_headers); k++)
            stored = s3_memieq(h->name, h->name_len, stored_headers[k]);
        if (stored && !s3_header_value_ok(h->value ? h->value : "", h->value_len))
            return 0;
    }
    return 1;
}

/* Bucket from a virtual-hosted Host header ("bucket.s3.example.com[:port]"). */
static int vhost_bucket(const struct s3_request *req, const char *domain, const char **b, size_t *blen)
{
    size_t hl, dl = strlen(domain);
    const char *h = s3_header_get(req, "host", &hl);
    if (h == NULL || dl == 0)
        return 0;
    /* Strip the port (but not inside an IPv6 literal). */
    for (size_t i = hl; i > 0; i--) {
        if (h[i - 1] == ':') {
            hl = i - 1;
            break;
        }
        if (h[i - 1] < '0' || h[i - 1] > '9')
            break;
    }
    if (hl && h[hl - 1] == '.')
        hl--;
    if (hl <= dl + 1 || h[hl - dl - 1] != '.' || !s3_memieq(h + hl - dl, dl, domain))
        return 0;
    *b = h;
    *blen = hl - dl - 1;
    return 1;
}

enum s3_err s3_route_parse(const struct s3_request *req, const char *vhost_domain, struct s3_route *out)
{
    enum s3_err err = S3E_OK;
    uint64_t kw = 0;
    int unknown = 0; /* a parameter that is neither a keyword nor one operations read (params.c) */
    const char *path = req->path ? req->path : "";
    size_t plen = req->path ? req->path_len : 0;
    const char *bucket = NULL, *rest = NULL;
    size_t blen = 0, rlen = 0;
    unsigned meth;

    memset(out, 0, sizeof(*out));
    out->op = S3_OP_UNKNOWN;

    meth = method_bit(req);
    if (meth == 0) {
        err = S3E_METHOD_NOT_ALLOWED;
        goto out;
    }
    if (plen > 0 && path[0] == '/') {
        path++;
        plen--;
    }
    if (vhost_domain && vhost_bucket(req, vhost_domain, &bucket, &blen)) {
        rest = path;
        rlen = plen;
    } else {
        const char *slash = memchr(path, '/', plen);
        bucket = path;
        blen = slash ? (size_t)(slash - path) : plen;
        rest = slash ? slash + 1 : path + plen;
        rlen = slash ? plen - blen - 1 : 0;
    }
    if (blen > 0) {
        char tmp[3 * S3_MAX_BUCKET_LEN + 1];
        size_t dl;
        if (blen >= sizeof(tmp)) {
            err = S3E_INVALID_BUCKET_NAME;
            goto out;
        }
        if (s3_uri_decode(bucket, blen, tmp, sizeof(tmp), &dl) != 0 || !bucket_name_plausible(tmp, dl)) {
            err = S3E_INVALID_BUCKET_NAME;
            goto out;
        }
        memcpy(out->bucket, tmp, dl + 1);
    } else if (rlen > 0) {
        err = S3E_INVALID_BUCKET_NAME; /* "//key" */
        goto out;
    }
    if (rlen > 0) {
        /* Decoded keys are never longer than the raw form; only check the cap after decoding. */
        out->key = decode_dup(rest, rlen);
        if (out->key == NULL) {
            err = S3E_INVALID_ARGUMENT;
            goto out;
        }
        if (strlen(out->key) > S3_MAX_KEY_LEN) {
            err = S3E_KEY_TOO_LONG;
            goto out;
        }
    }
    err = parse_query(req, out, &kw, &unknown);
    if (err != S3E_OK)
        goto out;

    unsigned target = out->bucket[0] == '\0' ? T_SERVICE : out->key ? T_OBJECT : T_BUCKET;
    int copy = s3_header_get(req, "x-amz-copy-source", NULL) != NULL;
    const char *lt = s3_route_param(out, "list-type");
    int list2 = lt != NULL && strcmp(lt, "2") == 0;

    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct rule *r = &rules[i];
        if (!(r->methods & meth) || !(r->target & target))
            continue;
        if ((kw & r->need) != r->need || (r->exact && (kw & ~r->need) != 0))
            continue;
        if (r->hdr == H_COPY_SOURCE && !copy)
            continue;
        if (r->extra == X_LIST_TYPE_2 && !list2)
            continue;
        out->op = r->op;
        break;
    }
    if (unknown && out->op != S3_OP_UNKNOWN)
        out->op = S3_OP_NOT_IMPLEMENTED; /* a sub-resource we do not know: never the object or a listing */
    if (out->op == S3_OP_UNKNOWN) {
        if (target == T_SERVICE && meth != M_GET) {
            err = S3E_METHOD_NOT_ALLOWED;
            goto out;
        }
        out->op = S3_OP_NOT_IMPLEMENTED;
    }
    if (out->op == S3_OP_CREATE_BUCKET && !s3_bucket_name_valid(out->bucket)) {
        err = S3E_INVALID_BUCKET_NAME;
        goto out;
    }
    if (out->key != NULL) {
        size_t kl = strlen(out->key);
        /* S3 answers 400 InvalidURI to a key that is not UTF-8: such a key
         * could never be listed. Deleting one stays possible, so that a key
         * stored before this rule can be removed. */
        if (!s3_utf8_valid(out->key, kl) && out->op != S3_OP_DELETE_OBJECT &&
            out->op != S3_OP_ABORT_MULTIPART_UPLOAD) {
            err = S3E_INVALID_URI;
            goto out;
        }
        /* S3 stores keys holding U+0001..U+0008 and the like, then lists them
         * as references no XML 1.0 parser accepts. We refuse to create them. */
        if (creates_object(out->op) && !s3_xml_text_ok(out->key, kl)) {
            err = S3E_INVALID_ARGUMENT;
            goto out;
        }
    }
    if (creates_object(out->op) && !metadata_returnable(req)) {
        err = S3E_INVALID_ARGUMENT;
        goto out;
    }
out:
    if (err != S3E_OK)
        out->op = S3_OP_UNKNOWN;
    return err;
}

int s3_vhost_bucket(const struct s3_request *req, const char *domain, const char **b, size_t *blen)
{
    return domain != NULL && vhost_bucket(req, domain, b, blen);
}

/* s3.h — the S3 protocol library: routing, SigV4, aws-chunked, XML, errors.
 *
 * Pure functions over strings and buffers: no sockets, no files, no clocks
 * (callers pass "now"), no logging. Everything here can be tested from
 * strings and fuzzed. Thread-safe: there is no global mutable state.
 *
 * Inputs are (ptr, len) views into the caller's request; outputs that outlive
 * the call are written into caller-provided structs or dbufs (common.h).
 */
#ifndef TGS3_S3_H
#define TGS3_S3_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define S3_MAX_KEY_LEN 1024
#define S3_MAX_BUCKET_LEN 63
#define S3_MAX_QUERY_PARAMS 64
#define S3_MAX_XML_BODY (4u << 20)    /* bytes: Complete/Delete bodies */
#define S3_MAX_DELETE_KEYS 1000
#define S3_MAX_PARTS 10000
#define S3_MAX_PRESIGN_EXPIRES 604800 /* seconds */
#define S3_MAX_CLOCK_SKEW 900         /* seconds */
#define S3_MAX_TAGS 10                /* object tags */

/* ---- errors: the one table ------------------------------------------------ */

enum s3_err {
    S3E_OK = 0,
    S3E_ACCESS_DENIED,
    S3E_AUTH_HEADER_MALFORMED, /* AuthorizationHeaderMalformed 400 */
    S3E_BAD_DIGEST,            /* Content-MD5 mismatch 400 */
    S3E_BUCKET_ALREADY_EXISTS,
    S3E_BUCKET_ALREADY_OWNED_BY_YOU,
    S3E_BUCKET_NOT_EMPTY,
    S3E_ENTITY_TOO_LARGE,
    S3E_ENTITY_TOO_SMALL,
    S3E_INCOMPLETE_BODY,
    S3E_INTERNAL_ERROR,
    S3E_INVALID_ACCESS_KEY_ID,
    S3E_INVALID_ARGUMENT,
    S3E_INVALID_BUCKET_NAME,
    S3E_INVALID_DIGEST,
    S3E_INVALID_PART,
    S3E_INVALID_PART_ORDER,
    S3E_INVALID_RANGE, /* 416; the renderer's caller adds the header Content-Range: "bytes *\/<size>" */
    S3E_INVALID_REQUEST,
    S3E_KEY_TOO_LONG,
    S3E_MALFORMED_XML,
    S3E_METHOD_NOT_ALLOWED,
    S3E_MISSING_CONTENT_LENGTH,
    S3E_MISSING_SECURITY_HEADER,
    S3E_NO_SUCH_BUCKET,
    S3E_NO_SUCH_KEY,
    S3E_NO_SUCH_UPLOAD,
    S3E_NOT_IMPLEMENTED,
    S3E_NOT_MODIFIED, /* 304, no body */
    S3E_PRECONDITION_FAILED,
    S3E_REQUEST_TIME_TOO_SKEWED,
    S3E_SERVICE_UNAVAILABLE,
    S3E_SIGNATURE_DOES_NOT_MATCH,
    S3E_SLOW_DOWN,
    S3E_X_AMZ_CONTENT_SHA256_MISMATCH,
    S3E_BAD_REQUEST, /* generic 400 "BadRequest" */
    S3E_INVALID_OBJECT_STATE,
    S3E_NO_SUCH_TAG_SET,
    S3E_REQUEST_EXPIRED,        /* AccessDenied 403 "Request has expired" (presigned URLs) */
    S3E_MISSING_CONTENT_SHA256, /* InvalidRequest 400 "Missing required header …: x-amz-content-sha256" */
    S3E_INVALID_TAG,            /* InvalidTag 400 (x-amz-tagging, PutObjectTagging) */
    S3E_COPY_TO_ITSELF,         /* InvalidRequest 400: self-copy without REPLACE */
    S3E_REQUEST_TIMEOUT,        /* RequestTimeout 400: a streamed body stopped arriving */
    S3E_HEADERS_NOT_SIGNED,     /* AccessDenied 403: an x-amz-* header outside SignedHeaders */
    S3E_AUTH_HEADER_WRONG_SERVICE, /* AuthorizationHeaderMalformed 400: scope service is not "s3" */
    S3E_AUTH_QUERY_WRONG_SERVICE,  /* AuthorizationQueryParametersError 400: the same, presigned */
    S3E_MALFORMED_TRAILER,      /* MalformedTrailerError 400: declared trailer missing or another sent */
    S3E_INVALID_URI,            /* InvalidURI 400: a key or query value that is not UTF-8 */
    S3E_INVALID_PART_NUMBER,    /* InvalidPartNumber 416: GET/HEAD partNumber beyond the object's parts */
    S3E_MALFORMED_POST_REQUEST, /* MalformedPOSTRequest 400: a POST form that is not multipart/form-data */
    S3E_MAX_POST_PRE_DATA,      /* MaxPostPreDataLengthExceededError 400: fields before the file past 20 KB */
    S3E_INVALID_POLICY_DOCUMENT, /* InvalidPolicyDocument 400: a POST policy that cannot be read */
    S3E_SIGV2_DISABLED,         /* InvalidRequest 400: SigV2 with --sigv2 off ("Please use AWS4-HMAC-SHA256.") */
    S3E_SIGV2_HEADER_MALFORMED, /* InvalidArgument 400: "AWS" Authorization not "AWS AccessKeyId:Signature" */
    S3E_SIGV2_QUERY_INCOMPLETE, /* AccessDenied 403: SigV2 query without Signature, Expires and AWSAccessKeyId */
    S3E_MISSING_DATE,           /* AccessDenied 403: no valid Date or x-amz-date header */
    S3E_EXPIRES_NOT_NUMBER,     /* AuthorizationQueryParametersError 400: X-Amz-Expires not a number */
    S3E_EXPIRES_NEGATIVE,       /* AuthorizationQueryParametersError 400: X-Amz-Expires below 0 */
    S3E_EXPIRES_TOO_LARGE,      /* AuthorizationQueryParametersError 400: X-Amz-Expires above 604800 */
    S3E_EXPECTATION_FAILED,     /* 417: an Expect other than 100-continue */
    S3E_MALFORMED_ACL,          /* MalformedACLError 400: an <AccessControlPolicy> body that does not parse */
    S3E_NO_SUCH_PUBLIC_ACCESS_BLOCK, /* NoSuchPublicAccessBlockConfiguration 404 */
    S3E_NO_SUCH_CORS_CONFIGURATION, /* NoSuchCORSConfiguration 404 */
    S3E_CORS_FORBIDDEN,         /* AccessForbidden 403: a CORS preflight refused (message: why) */
    S3E_NO_SUCH_VERSION,        /* NoSuchVersion 404: a versionId the key does not have */
    S3E_INVALID_BUCKET_STATE,   /* InvalidBucketState 409 (versioning vs Object Lock) */
    S3E_NO_SUCH_OBJECT_LOCK_CONFIGURATION, /* ObjectLockConfigurationNotFoundError 404 */
    S3E_NO_SUCH_OBJECT_LOCK,    /* NoSuchObjectLockConfiguration 404: a version without retention/legal hold */
    S3E_NO_SUCH_LIFECYCLE_CONFIGURATION, /* NoSuchLifecycleConfiguration 404 */
    S3E_MISSING_CONTENT_MD5,    /* InvalidRequest 400: Content-MD5 or a checksum required (Object Lock, lifecycle) */
    S3E_MISSING_LOCK_CONFIG,    /* InvalidRequest 400: "Bucket is missing Object Lock Configuration" */
    S3E__COUNT
};

int s3_err_status(enum s3_err e);           /* HTTP status */
const char *s3_err_code(enum s3_err e);     /* "NoSuchKey" */
const char *s3_err_message(enum s3_err e);  /* default human message */
/* Renders <?xml…?><Error><Code/><Message/><Resource/><RequestId/></Error> into out.
 * message NULL → the table's message; resource may be NULL. Returns 0, -1 if out is full. */
int s3_err_render(struct dbuf *out, enum s3_err e, const char *message, const char *resource,
                  const char *request_id) WARN_UNUSED;

/* ---- the request as the library sees it --------------------------------- */

struct s3_header {
    const char *name; /* any case; matched case-insensitively */
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct s3_request {
    const char *method;
    size_t method_len;
    const char *path; /* raw path as sent, without the query: "/bucket/a%20b" */
    size_t path_len;
    const char *query; /* raw query without '?', may be NULL */
    size_t query_len;
    const struct s3_header *headers;
    size_t n_headers;
};

/* Finds a header (case-insensitive); returns the first value or NULL. */
const char *s3_header_get(const struct s3_request *req, const char *name, size_t *value_len);
/* May v be sent as an HTTP header value? 1 when it holds no CR, LF, NUL or
 * other control byte (0x00-0x1f except HT, and 0x7f); bytes >= 0x80 are
 * allowed. Every value the gateway emits passes through this (RFC 9110 §5.5). */
int s3_header_value_ok(const char *v, size_t len);
/* Is s well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF)? 1 or 0. */
int s3_utf8_valid(const char *s, size_t len);

/* ---- routing -------------------------------------------------------------- */

enum s3_op {
    S3_OP_UNKNOWN = 0,
    S3_OP_LIST_BUCKETS,
    S3_OP_CREATE_BUCKET,
    S3_OP_DELETE_BUCKET,
    S3_OP_HEAD_BUCKET,
    S3_OP_GET_BUCKET_LOCATION,
    S3_OP_GET_BUCKET_VERSIONING,
    S3_OP_GET_BUCKET_ACL,
    S3_OP_GET_BUCKET_TAGGING,
    S3_OP_LIST_OBJECTS,
    S3_OP_LIST_OBJECTS_V2,
    S3_OP_LIST_OBJECT_VERSIONS,
    S3_OP_LIST_MULTIPART_UPLOADS,
    S3_OP_DELETE_OBJECTS,
    S3_OP_PUT_OBJECT,
    S3_OP_COPY_OBJECT,
    S3_OP_GET_OBJECT,
    S3_OP_HEAD_OBJECT,
    S3_OP_DELETE_OBJECT,
    S3_OP_GET_OBJECT_ACL,
    S3_OP_PUT_OBJECT_ACL,
    S3_OP_GET_OBJECT_TAGGING,
    S3_OP_PUT_OBJECT_TAGGING,
    S3_OP_DELETE_OBJECT_TAGGING,
    S3_OP_CREATE_MULTIPART_UPLOAD,
    S3_OP_UPLOAD_PART,
    S3_OP_UPLOAD_PART_COPY,
    S3_OP_COMPLETE_MULTIPART_UPLOAD,
    S3_OP_ABORT_MULTIPART_UPLOAD,
    S3_OP_LIST_PARTS,
    S3_OP_POST_OBJECT, /* POST /bucket with an HTML form (multipart/form-data) */
    S3_OP_PUT_BUCKET_ACL,
    S3_OP_GET_PUBLIC_ACCESS_BLOCK,
    S3_OP_PUT_PUBLIC_ACCESS_BLOCK,
    S3_OP_DELETE_PUBLIC_ACCESS_BLOCK,
    S3_OP_NOT_IMPLEMENTED, /* a known sub-resource we do not serve: 501 */
    S3_OP_GET_BUCKET_CORS,
    S3_OP_PUT_BUCKET_CORS,
    S3_OP_DELETE_BUCKET_CORS,
    S3_OP_CORS_PREFLIGHT, /* OPTIONS on a bucket or an object: answered without authentication */
    S3_OP_GET_OBJECT_ATTRIBUTES,
    S3_OP_PUT_BUCKET_VERSIONING,
    S3_OP_GET_OBJECT_LOCK_CONFIGURATION,
    S3_OP_PUT_OBJECT_LOCK_CONFIGURATION,
    S3_OP_GET_OBJECT_RETENTION,
    S3_OP_PUT_OBJECT_RETENTION,
    S3_OP_GET_OBJECT_LEGAL_HOLD,
    S3_OP_PUT_OBJECT_LEGAL_HOLD,
    S3_OP_GET_BUCKET_LIFECYCLE,
    S3_OP_PUT_BUCKET_LIFECYCLE,
    S3_OP_DELETE_BUCKET_LIFECYCLE,
    S3_OP__COUNT
};

const char *s3_op_name(enum s3_op op); /* "GetObject" */

struct s3_param {
    char *name;  /* decoded, owned by the route */
    char *value; /* decoded, "" when absent, owned by the route */
};

struct s3_route {
    enum s3_op op;
    char bucket[S3_MAX_BUCKET_LEN + 1]; /* "" for the service */
    char *key;                          /* decoded; NULL when the request names no key; owned */
    struct s3_param params[S3_MAX_QUERY_PARAMS];
    size_t n_params;
};

/* Decides the operation from method, path, query keywords and headers
 * (x-amz-copy-source). vhost_domain: when non-NULL and the Host header ends in
 * ".<vhost_domain>", the bucket comes from the host. On error out->op is
 * S3_OP_UNKNOWN and the s3_err says why (InvalidBucketName, KeyTooLong,
 * MethodNotAllowed, InvalidArgument…). Always call s3_route_release. */
enum s3_err s3_route_parse(const struct s3_request *req, const char *vhost_domain, struct s3_route *out)
    WARN_UNUSED;
void s3_route_release(struct s3_route *r);
/* Decoded query parameter value or NULL if absent. */
const char *s3_route_param(const struct s3_route *r, const char *name);

/* Checks a bucket name against S3's rules (3–63, lower case, digits, '.', '-'). */
int s3_bucket_name_valid(const char *name);

/* ---- SigV4 ---------------------------------------------------------------- */

enum s3_payload {
    S3_PAYLOAD_HEX_SHA256 = 0,     /* x-amz-content-sha256 is 64 hex: verify the body */
    S3_PAYLOAD_UNSIGNED,           /* UNSIGNED-PAYLOAD (also presigned URLs) */
    S3_PAYLOAD_STREAMING_SIGNED,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    S3_PAYLOAD_STREAMING_SIGNED_TRAILER,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/* Looks up the secret for an access key; returns NULL if unknown. */
typedef const char *(*s3_secret_lookup_fn)(void *ud, const char *access_key);

struct s3_auth {
    char access_key[129];
    enum s3_payload payload;
    unsigned char payload_sha256[32]; /* when payload == S3_PAYLOAD_HEX_SHA256 */
    int presigned;
    /* For aws-chunked verification: */
    unsigned char signing_key[32];
    char seed_signature[65];  /* hex signature of the request */
    char amz_date[17];        /* yyyymmddThhmmssZ */
    char scope[128];          /* yyyymmdd/region/s3/aws4_request */
    char region[64];
    int64_t decoded_content_length; /* x-amz-decoded-content-length or -1 */
    char trailer[64]; /* x-amz-trailer, lower case: the one trailer the body must end with; "" if none */
};

/* Verifies the request's SigV4 signature, in the Authorization header or as a
 * presigned query. now: unix seconds. Any region in the scope is accepted;
 * the service must be "s3". Every x-amz-* request header must be named in
 * SignedHeaders (X-Amz-SignedHeaders when presigned; x-amz-* query
 * parameters are covered by the query signature), x-amz-content-sha256 and
 * x-amz-date included. Requests with neither form → S3E_ACCESS_DENIED.
 * Other errors: S3E_AUTH_HEADER_MALFORMED (unparsable Authorization/
 * credential/query, host not signed), S3E_EXPIRES_NOT_NUMBER /
 * S3E_EXPIRES_NEGATIVE / S3E_EXPIRES_TOO_LARGE (X-Amz-Expires not a number,
 * below 0, above 604800), S3E_MISSING_DATE (header form: neither x-amz-date
 * nor a Date that parses),
 * S3E_AUTH_HEADER_WRONG_SERVICE / S3E_AUTH_QUERY_WRONG_SERVICE (scope
 * service not "s3", header / presigned form), S3E_HEADERS_NOT_SIGNED (an
 * x-amz-* header not signed), S3E_INVALID_ACCESS_KEY_ID,
 * S3E_REQUEST_TIME_TOO_SKEWED, S3E_REQUEST_EXPIRED (presigned),
 * S3E_MISSING_CONTENT_SHA256 (header form without x-amz-content-sha256),
 * S3E_INVALID_ARGUMENT (unknown x-amz-content-sha256 value),
 * S3E_SIGNATURE_DOES_NOT_MATCH; after the signature matched,
 * S3E_INVALID_REQUEST (x-amz-trailer naming more than one trailer) and
 * S3E_MALFORMED_TRAILER (x-amz-trailer empty, too long, or with a payload
 * that carries no trailer). out is filled on success (zeroed on failure),
 * out->trailer with the declared trailer for s3_chunked_decode;
 * out->signing_key is a secret: secure_zero it when done. */
enum s3_err s3_sigv4_verify(const struct s3_request *req, s3_secret_lookup_fn lookup, void *ud, int64_t now,
                            struct s3_auth *out) WARN_UNUSED;

/* Building blocks, exposed for tests and for the benchmark client that signs
 * requests: canonical query (sorted, AWS-encoded), the signing key, and a
 * full Authorization header for a request (header-signed, given payload hash). */
int s3_sigv4_canonical_query(const char *query, size_t len, struct dbuf *out) WARN_UNUSED;
void s3_sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                          unsigned char out[32]);
int s3_sigv4_sign(const struct s3_request *req, const char *access_key, const char *secret,
                  const char *region, const char *amz_date, const char *payload_hash,
                  const char *signed_headers, struct dbuf *authorization_out) WARN_UNUSED;

/* ---- SigV2 (sigv2.c) ------------------------------------------------------ */

enum s3_sigv2_form {
    S3_SIGV2_NONE = 0, /* not SigV2: SigV4 or anonymous */
    S3_SIGV2_HEADER,   /* Authorization: AWS AccessKeyId:Signature */
    S3_SIGV2_QUERY,    /* ?AWSAccessKeyId=…&Expires=…&Signature=… */
};

/* Which SigV2 form the request carries, if any. An Authorization header
 * decides alone (SigV2 when it starts "AWS "); without one, AWSAccessKeyId
 * or Signature in the query, and no X-Amz-Algorithm, mean the query form. */
enum s3_sigv2_form s3_sigv2_form(const struct s3_request *req);

/* Verifies the request's SigV2 signature (either form) as AWS's
 * RESTAuthentication page defines it. vhost_domain: as for s3_route_parse; a
 * virtual-hosted bucket goes into the signed resource. now: unix seconds.
 * Errors: S3E_SIGV2_HEADER_MALFORMED, S3E_SIGV2_QUERY_INCOMPLETE,
 * S3E_ACCESS_DENIED (no SigV2 form, or an Expires that is not a number),
 * S3E_INVALID_ACCESS_KEY_ID, S3E_MISSING_DATE (header form: neither
 * x-amz-date nor Date parses), S3E_REQUEST_TIME_TOO_SKEWED (more than
 * S3_MAX_CLOCK_SKEW away), S3E_REQUEST_EXPIRED (query form: Expires in the
 * past), S3E_SIGNATURE_DOES_NOT_MATCH, and after a match S3E_INVALID_ARGUMENT
 * (x-amz-content-sha256 neither 64 hex digits nor UNSIGNED-PAYLOAD). On
 * success out->access_key, out->presigned (query form) and out->payload
 * (S3_PAYLOAD_UNSIGNED, or S3_PAYLOAD_HEX_SHA256 from a signed
 * x-amz-content-sha256) are set, the rest zero; zeroed on failure. */
enum s3_err s3_sigv2_verify(const struct s3_request *req, const char *vhost_domain, s3_secret_lookup_fn lookup,
                            void *ud, int64_t now, struct s3_auth *out) WARN_UNUSED;
/* The StringToSign of the request's form into out (NUL-terminated; out->len
 * leaves the NUL out), and its signature: base64 of HMAC-SHA1, 28 characters
 * and a NUL. For tests and clients. Returns 0, -1 if out is full or the query
 * is malformed. */
int s3_sigv2_string_to_sign(const struct s3_request *req, const char *vhost_domain, struct dbuf *out) WARN_UNUSED;
void s3_sigv2_signature(const char *secret, const char *sts, size_t len, char out[29]);

/* ---- aws-chunked ---------------------------------------------------------- */

/* Decodes an aws-chunked body IN PLACE (decoded bytes are moved to the front of
 * buf), verifying every chunk signature for the signed forms and the trailer
 * checksum/signature for the trailer forms. Chunk framing errors →
 * S3E_INCOMPLETE_BODY or S3E_INVALID_REQUEST; a bad chunk signature →
 * S3E_SIGNATURE_DOES_NOT_MATCH; length differing from
 * auth->decoded_content_length (when ≥ 0) → S3E_INCOMPLETE_BODY. For the
 * trailer forms the trailer must be exactly the one auth->trailer declares:
 * missing, repeated, or any other (or any at all when none was declared) →
 * S3E_MALFORMED_TRAILER, so a checksum cannot be dropped in transit. On success
 * *out_len is the decoded length and trailer (if non-NULL) receives the
 * trailer header lines ("x-amz-checksum-crc32:<b64>\n"). Runs on any thread. */
enum s3_err s3_chunked_decode(const struct s3_auth *auth, char *buf, size_t len, size_t *out_len,
                              struct dbuf *trailer) WARN_UNUSED;

/* Verifies a flexible checksum (x-amz-checksum-<alg> header or trailer value,
 * base64 of the big-endian digest) over data. alg: "crc32", "crc32c",
 * "crc64nvme", "sha1", "sha256" (any case). Returns S3E_OK, S3E_BAD_DIGEST on
 * mismatch, S3E_INVALID_DIGEST for a malformed value, S3E_INVALID_ARGUMENT for
 * an unknown algorithm. */
enum s3_err s3_checksum_check(const char *alg, size_t alg_len, const char *b64, size_t b64_len, const void *data,
                              size_t len) WARN_UNUSED;

/* ---- multipart checksums (mpchecksum.c) ---------------------------------- */

#define S3_CHECKSUM_MAX 64 /* bytes: a base64 value with "-N" and its NUL */
/* The canonical (lower-case) name of an algorithm given in any case ("CRC32"
 * → "crc32"), or NULL when it is none of crc32, crc32c, crc64nvme, sha1, sha256. */
const char *s3_checksum_alg(const char *v, size_t len);
/* "CRC32"… for a canonical name; "ChecksumCRC32"… its XML element; the
 * canonical name of such an element. NULL when unknown. */
const char *s3_checksum_alg_upper(const char *alg);
const char *s3_checksum_xml_name(const char *alg);
const char *s3_checksum_alg_of_xml(const char *elem);
/* AWS's combinations: FULL_OBJECT only for the CRCs, COMPOSITE for all but crc64nvme. */
int s3_checksum_type_ok(const char *alg, int full_object);
/* The CRC (crc32, crc32c, crc64nvme) of A || B from crc1 = crc(A), crc2 =
 * crc(B) and len2 = |B| in bytes. Returns -1 for another alg. */
int s3_crc_combine(const char *alg, uint64_t crc1, uint64_t crc2, uint64_t len2, uint64_t *out);
/* The checksum of a multipart object from its n parts' base64 checksums
 * (and their sizes in bytes, used by FULL_OBJECT): COMPOSITE "b64-N" or the
 * FULL_OBJECT CRC, into out (out_len ≥ S3_CHECKSUM_MAX). S3E_INVALID_ARGUMENT
 * for a combination AWS does not allow, S3E_INVALID_DIGEST for a malformed part value. */
enum s3_err s3_checksum_multipart(const char *alg, int full_object, const char *const *part_b64,
                                  const int64_t *sizes, size_t n, char *out, size_t out_len) WARN_UNUSED;

/* ---- GetObjectAttributes (attributes.c) ------------------------------------ */

enum {
    S3_ATTR_ETAG = 1,
    S3_ATTR_CHECKSUM = 2,
    S3_ATTR_OBJECT_PARTS = 4,
    S3_ATTR_STORAGE_CLASS = 8,
    S3_ATTR_OBJECT_SIZE = 16,
};
/* Parses x-amz-object-attributes ("ETag, ObjectSize"…) into *want (S3_ATTR_*
 * bits; 0 for an empty list). Returns -1 (and *want 0) on an unknown name. */
int s3_object_attributes_parse(const char *v, size_t len, unsigned *want) WARN_UNUSED;

/* ---- copies, conditional writes, tags (copy.c) -------------------------- */

/* Parses x-amz-copy-source ("[/]bucket/key[?versionId=…]", percent-encoded;
 * the version is ignored: objects have only the "null" version). bucket gets
 * the decoded name, *key a malloc'd decoded key (NULL on failure). Errors:
 * S3E_INVALID_ARGUMENT (no bucket or key, bad escape, key not UTF-8),
 * S3E_KEY_TOO_LONG. */
/* The versionId of an x-amz-copy-source ("…?versionId=v", percent-decoded) into out: 1 when
 * there is one, 0 when none, -1 when the query is something else or too long for out. */
int s3_copy_source_version(const char *v, size_t len, char *out, size_t outsz);
enum s3_err s3_copy_source_parse(const char *v, size_t len, char bucket[S3_MAX_BUCKET_LEN + 1], char **key)
    WARN_UNUSED;
/* x-amz-copy-source-range "bytes=first-last" within a source of size bytes;
 * S3E_INVALID_ARGUMENT when malformed or outside the source. */
enum s3_err s3_copy_range_parse(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last)
    WARN_UNUSED;
/* x-amz-copy-source-if-{match,none-match,modified-since,unmodified-since}
 * against the source's etag (unquoted) and mtime: S3E_OK or
 * S3E_PRECONDITION_FAILED. */
enum s3_err s3_copy_conditions_check(const struct s3_request *req, const char *etag, int64_t mtime_ms) WARN_UNUSED;
/* Conditional writes: If-None-Match: * → 412 when the key exists (any other
 * If-None-Match value → S3E_NOT_IMPLEMENTED); If-Match → S3E_NO_SUCH_KEY when
 * it does not exist, 412 when its etag is not listed. */
enum s3_err s3_write_conditions_check(const struct s3_request *req, int exists, const char *etag) WARN_UNUSED;

/* ---- XML ------------------------------------------------------------------ */

/* The one escaping writer: elements nest, text is escaped, the output is bounded by the dbuf. */
struct s3_xml {
    struct dbuf *out;
    int failed; /* set once an append hit the dbuf's maximum */
};
void s3_xml_begin(struct s3_xml *x, struct dbuf *out, const char *root); /* writes the prolog + <root xmlns=…> */
void s3_xml_open(struct s3_xml *x, const char *name);
void s3_xml_close(struct s3_xml *x, const char *name);
void s3_xml_elem(struct s3_xml *x, const char *name, const char *text);     /* <name>escaped</name> */
void s3_xml_elemn(struct s3_xml *x, const char *name, const char *text, size_t len);
void s3_xml_elem_i64(struct s3_xml *x, const char *name, int64_t v);
int s3_xml_end(struct s3_xml *x, const char *root) WARN_UNUSED; /* 0, or -1 if anything overflowed */
/* Escapes text for XML 1.0 element content: & < > " ' as entities, TAB, LF,
 * CR and DEL as references (&#9; &#10; &#13; &#127;, as S3 writes CR and LF).
 * What XML 1.0 cannot carry even as a reference (other C0 controls, U+FFFE,
 * U+FFFF) and bytes that are not UTF-8 become U+FFFD, so the document always
 * parses. */
void s3_xml_escape(struct dbuf *out, const char *s, size_t len);
/* 1 when s is UTF-8 made only of characters XML 1.0 can carry, so that
 * s3_xml_escape writes it without loss (keys must be, to be listed). */
int s3_xml_text_ok(const char *s, size_t len);

struct s3_complete_part {
    int part_number;
    char etag[80]; /* without quotes */
    char ck_alg[12];   /* the part's <ChecksumCRC32>…: canonical algorithm ("" = none) */
    char ck_value[64]; /* and its base64 value */
};
/* Parses <CompleteMultipartUpload>; *parts is malloc'd (free()). Namespace-agnostic. */
enum s3_err s3_xml_parse_complete(const char *body, size_t len, struct s3_complete_part **parts, size_t *n)
    WARN_UNUSED;

struct s3_delete_key {
    char *key;  /* malloc'd */
    char *etag; /* <ETag> (a conditional delete), malloc'd; NULL when absent */
    char *version; /* <VersionId>, malloc'd; NULL when absent */
};
/* Parses <Delete><Quiet/><Object><Key/><ETag/><VersionId/>…; keys malloc'd; s3_delete_keys_free frees them. */
enum s3_err s3_xml_parse_delete(const char *body, size_t len, struct s3_delete_key **keys, size_t *n,
                                int *quiet) WARN_UNUSED;
void s3_delete_keys_free(struct s3_delete_key *keys, size_t n);

/* Parses an optional <CreateBucketConfiguration><LocationConstraint>; empty body is OK. */
enum s3_err s3_xml_parse_create_bucket(const char *body, size_t len, char *location, size_t location_size)
    WARN_UNUSED;

struct s3_tag {
    char key[129];
    char value[257];
};
/* Parses <Tagging><TagSet><Tag><Key/><Value/>… (≤ 10 tags). */
enum s3_err s3_xml_parse_tagging(const char *body, size_t len, struct s3_tag *tags, size_t max, size_t *n)
    WARN_UNUSED;
/* Parses the x-amz-tagging header ("k1=v1&k2=v2", URL-encoded, '+' = space):
 * at most max tags, keys 1..128 and values ≤ 256 bytes, keys unique, both
 * UTF-8 that XML can carry (s3_xml_text_ok); S3E_INVALID_TAG otherwise (copy.c). */
enum s3_err s3_tagging_parse_query(const char *v, size_t len, struct s3_tag *tags, size_t max, size_t *n)
    WARN_UNUSED;

/* ---- small rules ---------------------------------------------------------- */

/* Range header → [first, last] inclusive for an object of size `size`.
 * Returns S3E_OK with *has_range=1, S3E_OK with *has_range=0 when the header
 * is absent or syntactically invalid (S3 ignores those), or S3E_INVALID_RANGE
 * when unsatisfiable. Forms: a-b, a-, -n. */
enum s3_err s3_range_parse(const char *hdr, size_t len, uint64_t size, int *has_range, uint64_t *first,
                           uint64_t *last) WARN_UNUSED;

/* RFC 7231 date "Tue, 24 Nov 2026 22:01:00 GMT" and ISO 8601 "2026-11-24T22:01:00.000Z". */
void s3_time_http(int64_t unix_ms, char out[32]);
void s3_time_iso(int64_t unix_ms, char out[32]);
/* Parses RFC 7231 / RFC 850 / asctime dates; returns unix seconds or -1. */
int64_t s3_time_parse_http(const char *s, size_t len);

/* AWS URI encoding (unreserved A-Za-z0-9-_.~ kept; encode_slash=0 keeps '/'). */
void s3_uri_encode(struct dbuf *out, const char *s, size_t len, int encode_slash);
/* Percent-decoding ('+' stays '+'); returns -1 on a bad escape or embedded NUL. */
int s3_uri_decode(const char *s, size_t len, char *out, size_t outsz, size_t *out_len) WARN_UNUSED;

/* Base64 (standard alphabet). decode returns -1 on bad input. */
size_t s3_base64_encode(const unsigned char *in, size_t n, char *out, size_t outsz);
int s3_base64_decode(const char *in, size_t n, unsigned char *out, size_t outsz, size_t *out_len) WARN_UNUSED;

/* Multipart ETag: hex(md5(concat(binary part md5s))) + "-N" from the parts' hex md5s. */
void s3_etag_multipart(const char (*part_md5_hex)[33], size_t n, char out[48]);

/* Conditional request evaluation (If-Match, If-None-Match, If-Modified-Since,
 * If-Unmodified-Since) for GET/HEAD against the object's etag (unquoted hex)
 * and mtime (unix ms). Returns S3E_OK, S3E_NOT_MODIFIED or S3E_PRECONDITION_FAILED. */
enum s3_err s3_conditions_check(const struct s3_request *req, const char *etag, int64_t mtime_ms) WARN_UNUSED;

/* ---- x-amz-checksum a piece at a time (checksum.c) --------------------------- */

struct evp_md_ctx_st;
struct s3_checksum_ctx {
    int kind;
    uint64_t crc;             /* the CRCs: finished value so far */
    struct evp_md_ctx_st *md; /* SHA-1, SHA-256 */
};
/* alg: "crc32", "crc32c", "crc64nvme", "sha1" or "sha256"; -1 for another.
 * final writes the big-endian digest (the bytes x-amz-checksum-* base64s)
 * and returns its length (0 on failure). Always release. */
int s3_checksum_init(struct s3_checksum_ctx *c, const char *alg) WARN_UNUSED;
int s3_checksum_update(struct s3_checksum_ctx *c, const void *data, size_t n) WARN_UNUSED;
size_t s3_checksum_final(struct s3_checksum_ctx *c, unsigned char out[32]);
void s3_checksum_release(struct s3_checksum_ctx *c);

/* ---- POST Object: HTML form uploads (form.c; signatures: policy.c) ------------------------ */

#define S3_FORM_MAX_PRE (20u << 10) /* bytes of a form before its file's first byte (AWS: 20 KB) */
#define S3_FORM_MAX_FIELDS 64       /* form fields before the file */
#define S3_FORM_MAX_BOUNDARY 70     /* RFC 2046 §5.1.1 */

struct s3_form_field {
    const char *name; /* views into the caller's buffer; names compare case-insensitively */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* What comes before a form's file: its fields, and the file part's own
 * headers. Views into the buffer parsed. */
struct s3_form_head {
    struct s3_form_field fields[S3_FORM_MAX_FIELDS];
    size_t n_fields;
    const char *filename; /* the file part's filename parameter ("" when absent) */
    size_t filename_len;
    const char *file_type; /* the file part's Content-Type header, NULL when absent */
    size_t file_type_len;
    size_t file_start; /* offset of the file's first byte */
};

enum s3_form_status {
    S3_FORM_OK = 0,    /* the file part begins at out->file_start */
    S3_FORM_MORE,      /* the bytes end before the file part's headers do */
    S3_FORM_MALFORMED, /* not multipart/form-data as RFC 7578 writes it */
    S3_FORM_TOO_MANY,  /* more than S3_FORM_MAX_FIELDS fields */
    S3_FORM_DUPLICATE, /* a field given twice */
    S3_FORM_NO_FILE,   /* the form ended without a part named "file" */
};

/* The boundary parameter of a "multipart/form-data; boundary=…" Content-Type
 * (quoted or not, 1..70 bytes) into out (NUL-terminated). 0, or -1 when the
 * type is another one or the boundary is missing or malformed. */
int s3_form_boundary(const char *ct, size_t len, char out[S3_FORM_MAX_BOUNDARY + 1], size_t *out_len) WARN_UNUSED;
/* Parses buf[0..len), the start of a form body with the given boundary, up
 * to the first byte of its part named "file" (a preamble before the first
 * boundary is skipped). at_end: len is the whole body. Never reads past len. */
enum s3_form_status s3_form_parse_head(const char *buf, size_t len, int at_end, const char *boundary, size_t blen,
                                       struct s3_form_head *out) WARN_UNUSED;
/* The value of field name (case-insensitive), or NULL. */
const struct s3_form_field *s3_form_get(const struct s3_form_head *h, const char *name);

/* Form signatures over the base64 policy text: SigV4 (hex HMAC-SHA256 under
 * the signing key of date8/region/s3) and SigV2 (base64 HMAC-SHA1 under the
 * secret). Each returns 1 when sig matches, in constant time. */
int s3_post_sig_v4_ok(const char *secret, const char *date8, const char *region, const char *policy, size_t plen,
                      const char *sig, size_t sig_len);
int s3_post_sig_v2_ok(const char *secret, const char *policy, size_t plen, const char *sig, size_t sig_len);
/* ---- ACLs (acl.c; the XML body in xml.c) ------------------------------------ */

/* One grant's permission, as the XML and the x-amz-grant-* headers name it. */
enum s3_perm {
    S3_PERM_READ = 1,
    S3_PERM_WRITE = 2,
    S3_PERM_READ_ACP = 4,
    S3_PERM_WRITE_ACP = 8,
    S3_PERM_FULL_CONTROL = 15, /* all four */
};
enum s3_grantee {
    S3_GRANTEE_USER,       /* a canonical user id: here a configured user's access key */
    S3_GRANTEE_ALL_USERS,  /* http://acs.amazonaws.com/groups/global/AllUsers: anyone, signed or not */
    S3_GRANTEE_AUTH_USERS, /* http://acs.amazonaws.com/groups/global/AuthenticatedUsers: any signed request */
};
struct s3_grant {
    enum s3_grantee type;
    enum s3_perm perm;
    char id[129]; /* S3_GRANTEE_USER: the access key; else "" */
};
#define S3_MAX_GRANTS 100 /* AWS: an ACL holds at most 100 grants */
#define S3_ACL_URI_ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"
#define S3_ACL_URI_AUTH_USERS "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
/* An access control list: its owner ("" = the bucket's owner, for objects)
 * and its grants in order. The owner always has every permission, whatever
 * the grants say. */
struct s3_acl {
    char owner[129];
    size_t n;
    struct s3_grant g[S3_MAX_GRANTS];
};

/* Is there no signature at all (no Authorization header, no presigned or
 * SigV2 query parameters)? Such a request is anonymous; one with a bad
 * signature is not. */
int s3_request_anonymous(const struct s3_request *req);
/* Expands canned ACL name (x-amz-acl) for a resource owned by owner in a
 * bucket owned by bucket_owner into out (owner set, FULL_CONTROL first).
 * for_object 0: bucket-owner-read and -full-control are as private (AWS
 * ignores them on buckets). Unknown names → S3E_INVALID_ARGUMENT;
 * aws-exec-read and log-delivery-write → S3E_NOT_IMPLEMENTED. */
enum s3_err s3_acl_canned(const char *name, size_t len, const char *owner, const char *bucket_owner,
                          int for_object, struct s3_acl *out) WARN_UNUSED;
/* Appends the grants of one x-amz-grant-<perm> header value
 * ('id="…", uri="…"', comma separated) to out. Malformed → S3E_INVALID_ARGUMENT;
 * an unknown group URI → S3E_INVALID_ARGUMENT; emailAddress → S3E_NOT_IMPLEMENTED;
 * more than S3_MAX_GRANTS grants → S3E_MALFORMED_ACL. Ids are not checked
 * against the users here (the caller knows them). */
enum s3_err s3_acl_grant_header(enum s3_perm perm, const char *v, size_t len, struct s3_acl *out) WARN_UNUSED;
/* The header name of a permission: "x-amz-grant-read" … "x-amz-grant-full-control". */
const char *s3_acl_grant_header_name(enum s3_perm perm);
/* The XML name of a permission: "READ" … "FULL_CONTROL". */
const char *s3_perm_name(enum s3_perm perm);
/* Permissions (S3_PERM_* bits) acl gives who ("" = anonymous); the owner has
 * them all. ignore_public: grants to AllUsers and AuthenticatedUsers count
 * for nothing (PublicAccessBlock IgnorePublicAcls). */
unsigned s3_acl_perms(const struct s3_acl *acl, const char *who, int ignore_public);
/* Does acl grant anything to AllUsers or AuthenticatedUsers? (AWS's "public") */
int s3_acl_is_public(const struct s3_acl *acl);
/* The stored form: "owner ID\n" then one "PERM TYPE [ID]\n" line per grant.
 * encode returns -1 if out is full; decode returns -1 on anything else than
 * what encode writes (out then holds no grant). */
int s3_acl_encode(const struct s3_acl *acl, struct dbuf *out) WARN_UNUSED;
int s3_acl_decode(const char *s, size_t len, struct s3_acl *out) WARN_UNUSED;
/* Parses an <AccessControlPolicy> body (PutBucketAcl / PutObjectAcl): its
 * <Owner><ID> into out->owner ("" when absent) and every <Grant> (grantee by
 * <ID>, <URI> or, refused, <EmailAddress>; <Permission>). Not well formed, a
 * wrong root, a grant without grantee or permission, an unknown permission →
 * S3E_MALFORMED_ACL; an unknown group URI → S3E_INVALID_ARGUMENT; an email
 * grantee → S3E_NOT_IMPLEMENTED; more than S3_MAX_GRANTS → S3E_MALFORMED_ACL. */
enum s3_err s3_xml_parse_acl(const char *body, size_t len, struct s3_acl *out) WARN_UNUSED;

/* PublicAccessBlock flags (bits) and its XML body. */
enum s3_pab {
    S3_PAB_BLOCK_PUBLIC_ACLS = 1,
    S3_PAB_IGNORE_PUBLIC_ACLS = 2,
    S3_PAB_BLOCK_PUBLIC_POLICY = 4,
    S3_PAB_RESTRICT_PUBLIC_BUCKETS = 8,
};
/* Parses <PublicAccessBlockConfiguration> (each flag "true"/"false",
 * absent = false) into *flags; S3E_MALFORMED_XML otherwise. */
enum s3_err s3_xml_parse_pab(const char *body, size_t len, unsigned *flags) WARN_UNUSED;
/* ---- CORS (cors.c) ------------------------------------------------------- */

#define S3_CORS_MAX_BODY (64u << 10) /* bytes of a PutBucketCors document */
#define S3_CORS_MAX_RULES 100
#define S3_CORS_MAX_ID 255

struct s3_cors_rule {
    char *id;                   /* NULL when absent */
    char **origins;             /* AllowedOrigin, each with at most one '*' */
    size_t n_origins;
    char **methods;             /* AllowedMethod: GET PUT POST DELETE HEAD */
    size_t n_methods;
    char **headers;             /* AllowedHeader, each with at most one '*' */
    size_t n_headers;
    char **expose;              /* ExposeHeader, no '*' */
    size_t n_expose;
    int64_t max_age;            /* MaxAgeSeconds, -1 when absent */
};

struct s3_cors {
    struct s3_cors_rule *rules; /* in the document's order: the first that matches wins */
    size_t n;
};

/* Parses a <CORSConfiguration> (PutBucketCors; also the stored form) into
 * out, malloc'd (s3_cors_release). Namespace-agnostic; values are kept as
 * sent. Errors, as S3 answers them: S3E_MALFORMED_XML (not XML, a DOCTYPE,
 * another root, an unknown element, no rule or more than
 * S3_CORS_MAX_RULES, a rule without AllowedOrigin or AllowedMethod, ID over
 * S3_CORS_MAX_ID bytes or repeated, MaxAgeSeconds not a 32-bit count or
 * repeated, a body over S3_CORS_MAX_BODY); then, rule by rule,
 * S3E_INVALID_REQUEST with msg set: a method outside the five, an
 * AllowedOrigin or AllowedHeader with two wildcards, an ExposeHeader with
 * one. msg (msgsz ≥ 1) is "" unless set. out is empty on failure. */
enum s3_err s3_cors_parse(const char *body, size_t len, struct s3_cors *out, char *msg, size_t msgsz) WARN_UNUSED;
void s3_cors_release(struct s3_cors *c); /* frees what s3_cors_parse allocated; c is left empty */
/* Writes c as GetBucketCors answers it (ID, AllowedMethod, AllowedOrigin,
 * AllowedHeader, MaxAgeSeconds, ExposeHeader per rule); 0, or -1 when out is full. */
int s3_cors_render(const struct s3_cors *c, struct dbuf *out) WARN_UNUSED;

/* The CORS headers of an answer: names static, values in buf (offsets). */
#define S3_CORS_MAX_HEADERS 7
struct s3_cors_answer {
    size_t n;
    const char *names[S3_CORS_MAX_HEADERS];
    size_t off[S3_CORS_MAX_HEADERS], len[S3_CORS_MAX_HEADERS];
    struct dbuf buf; /* s3_cors_answer_release */
};
void s3_cors_answer_release(struct s3_cors_answer *a);

/* Answers a preflight (OPTIONS) from the request's Origin,
 * Access-Control-Request-Method and Access-Control-Request-Headers against
 * c (NULL: the bucket has no configuration; bucket_exists 0: there is no
 * such bucket). S3E_OK: out holds Access-Control-Allow-Origin (the origin,
 * or "*" when the rule allows the literal "*"), -Allow-Methods (the rule's),
 * -Allow-Headers (the requested ones, lower case), -Expose-Headers,
 * -Max-Age, -Allow-Credentials (unless "*") and Vary, as S3 sends them. Else
 * S3E_BAD_REQUEST (no Origin, a method that is not one of the five) or
 * S3E_CORS_FORBIDDEN (no bucket, no configuration, no rule matches), with
 * AWS's message in msg. out is initialised either way: release it. */
enum s3_err s3_cors_preflight(const struct s3_cors *c, int bucket_exists, const struct s3_request *req,
                              struct s3_cors_answer *out, char *msg, size_t msgsz) WARN_UNUSED;
/* An actual request carrying Origin: the first rule matching its origin
 * and method (request headers are not checked) gives the same headers,
 * without -Allow-Headers. Returns out->n (0: none, no Origin or no rule).
 * out is initialised either way: release it. */
size_t s3_cors_actual(const struct s3_cors *c, const struct s3_request *req, struct s3_cors_answer *out);

/* ---- versioning and Object Lock documents and headers (objlock.c) ---------------------- */

enum s3_lock_mode { S3_LOCK_NONE = 0, S3_LOCK_GOVERNANCE, S3_LOCK_COMPLIANCE };
#define S3_LOCK_MAX_DAYS 36500 /* a default retention of at most 100 years */
#define S3_LOCK_MAX_YEARS 100

/* "" / "GOVERNANCE" / "COMPLIANCE" */
const char *s3_lock_mode_name(enum s3_lock_mode m);
/* A mode's name (exact case) or -1. */
int s3_lock_mode_parse(const char *s, size_t len);
/* ISO 8601 "yyyy-mm-ddThh:mm:ss[.fff…](Z|±hh:mm)": unix ms, or INT64_MIN when not that form. */
int64_t s3_time_parse_iso(const char *s, size_t len);

/* <VersioningConfiguration>: *status 1 Enabled, 2 Suspended (Status is
 * required); *mfa_delete 1 when <MfaDelete>Enabled</MfaDelete> (the caller
 * refuses it), 0 absent or Disabled. Anything else: S3E_MALFORMED_XML. */
enum s3_err s3_versioning_parse(const char *body, size_t len, int *status, int *mfa_delete) WARN_UNUSED;
/* GetBucketVersioning: status 0 (never set) renders no <Status>. -1 when out is full. */
int s3_versioning_render(int status, struct dbuf *out) WARN_UNUSED;

struct s3_lock_config {
    enum s3_lock_mode mode; /* default retention: S3_LOCK_NONE when there is no <Rule> */
    int days, years;        /* exactly one is > 0 when mode is set */
};
/* <ObjectLockConfiguration>: ObjectLockEnabled "Enabled" required; an
 * optional Rule/DefaultRetention with Mode and exactly one of Days and Years.
 * Structure, unknown names or values, both or neither of Days and Years:
 * S3E_MALFORMED_XML; a period not a positive number, or over 100 years:
 * S3E_INVALID_ARGUMENT with AWS's message in msg. */
enum s3_err s3_lock_config_parse(const char *body, size_t len, struct s3_lock_config *out, char *msg,
                                 size_t msgsz) WARN_UNUSED;
int s3_lock_config_render(const struct s3_lock_config *c, struct dbuf *out) WARN_UNUSED;

struct s3_retention {
    enum s3_lock_mode mode; /* S3_LOCK_NONE: <Retention/> without both, which removes one */
    int64_t until_ms;
};
/* <Retention>: Mode and RetainUntilDate together (or neither); a date in
 * the past of now_ms: S3E_INVALID_ARGUMENT "The retain until date must be in
 * the future!" (msg); the rest S3E_MALFORMED_XML. */
enum s3_err s3_retention_parse(const char *body, size_t len, int64_t now_ms, struct s3_retention *out, char *msg,
                               size_t msgsz) WARN_UNUSED;
int s3_retention_render(const struct s3_retention *r, struct dbuf *out) WARN_UNUSED;
/* <LegalHold><Status>ON|OFF</Status></LegalHold>; else S3E_MALFORMED_XML. */
enum s3_err s3_legal_hold_parse(const char *body, size_t len, int *on) WARN_UNUSED;
int s3_legal_hold_render(int on, struct dbuf *out) WARN_UNUSED;

/* The x-amz-object-lock-* headers of a write (PutObject, CopyObject,
 * CreateMultipartUpload, POST forms). */
struct s3_lock_headers {
    int retention;          /* mode and date were given */
    enum s3_lock_mode mode;
    int64_t until_ms;
    int legal_hold;         /* -1 absent, 0 OFF, 1 ON */
};
/* Reads them against now_ms. Errors (S3E_INVALID_ARGUMENT, AWS's message in
 * msg): only one of mode and date, an unknown mode, a date not ISO 8601 or
 * not in the future, a legal hold other than ON/OFF. */
enum s3_err s3_lock_headers_parse(const struct s3_request *req, int64_t now_ms, struct s3_lock_headers *out,
                                  char *msg, size_t msgsz) WARN_UNUSED;
/* Any x-amz-object-lock-* header present? */
int s3_lock_headers_given(const struct s3_lock_headers *h);

/* ---- bucket lifecycle (lifecycle.c) ---------------------------------------- */

#define S3_LC_MAX_RULES 1000
#define S3_LC_MAX_ID 255
#define S3_LC_MAX_TAGS 50      /* tags of one rule's filter */
#define S3_LC_MAX_NEWER 100    /* NewerNoncurrentVersions */
#define S3_LC_DAY_MS 86400000LL

struct s3_lc_rule {
    char *id;              /* NULL: none given */
    int enabled;           /* Status Enabled (else Disabled) */
    int legacy_prefix;     /* a top-level <Prefix> instead of <Filter> */
    int filter_and;        /* the filter was an <And> */
    char *prefix;          /* NULL: none (every key) */
    struct s3_tag *tags;   /* all must be on the object */
    size_t n_tags;
    int64_t size_gt, size_lt; /* bytes; -1: none */
    int64_t exp_days;      /* Expiration Days; 0: none */
    int64_t exp_date_ms;   /* Expiration Date (midnight UTC); -1: none */
    int exp_marker;        /* ExpiredObjectDeleteMarker: -1 absent, 0 false, 1 true */
    int64_t nc_days;       /* NoncurrentVersionExpiration NoncurrentDays; 0: none */
    int nc_newer;          /* NewerNoncurrentVersions; 0: none */
    int64_t abort_days;    /* AbortIncompleteMultipartUpload DaysAfterInitiation; 0: none */
};
struct s3_lifecycle {
    struct s3_lc_rule *rules; /* in the document's order */
    size_t n;
};
/* Parses a <LifecycleConfiguration> (PutBucketLifecycleConfiguration; also
 * the stored form) into out, malloc'd (s3_lifecycle_release). Namespace-
 * agnostic. S3E_MALFORMED_XML for a document S3's schema refuses (unknown or
 * repeated elements, a rule without Status or without Filter/Prefix or with
 * both, Status other than Enabled/Disabled, a number that is not one, more
 * than S3_LC_MAX_RULES rules, a body over S3_MAX_XML_BODY);
 * S3E_NOT_IMPLEMENTED for Transition and NoncurrentVersionTransition (one
 * storage class); then S3E_INVALID_ARGUMENT / S3E_INVALID_REQUEST with AWS's
 * message in msg for values S3 refuses. out is empty on failure. */
enum s3_err s3_lifecycle_parse(const char *body, size_t len, struct s3_lifecycle *out, char *msg, size_t msgsz)
    WARN_UNUSED;
void s3_lifecycle_release(struct s3_lifecycle *lc); /* lc is left empty */
/* GetBucketLifecycleConfiguration's answer. 0, or -1 when out overflowed. */
int s3_lifecycle_render(const struct s3_lifecycle *lc, struct dbuf *out) WARN_UNUSED;
/* Does rule r's filter take an object of this key, tags and size (bytes)?
 * Status is not looked at. */
int s3_lc_rule_matches(const struct s3_lc_rule *r, const char *key, size_t key_len, const struct s3_tag *tags,
                       size_t n_tags, int64_t size);
/* When something created (or made noncurrent) at base_ms expires after days:
 * base + days, rounded up to the next midnight UTC (S3's rule). */
int64_t s3_lc_due_ms(int64_t base_ms, int64_t days);
/* The latest base time that is due at now_ms after days: base <= this. */
int64_t s3_lc_cutoff_ms(int64_t now_ms, int64_t days);

#endif

/* s3_int.h — helpers shared inside the s3/ module (and its unit tests).
 *
 * Nothing here is part of the public contract in s3.h; the gateway must not
 * include this file.
 */
#ifndef TGS3_S3_INT_H
#define TGS3_S3_INT_H

#include <stddef.h>
#include <stdint.h>

#include "s3/s3.h"

/* Hashes (OpenSSL EVP). out sizes: sha256 32, md5 16, sha1 20. */
void s3_sha256(const void *p, size_t n, unsigned char out[32]);
void s3_sha256_hex(const void *p, size_t n, char out[65]);
void s3_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, unsigned char out[32]);

/* Case-insensitive comparison of a (ptr,len) view with a NUL-terminated string. */
int s3_memieq(const char *a, size_t alen, const char *b);

/* Joins every value of header `name` (trimmed, inner whitespace runs
 * collapsed to one space) with ',' into out, as SigV4 canonical headers want.
 * Returns the number of headers found, -1 if out is full. */
int s3_header_canonical_value(const struct s3_request *req, const char *name, size_t name_len, struct dbuf *out);

/* civil date ↔ unix seconds (proleptic Gregorian, UTC). */
int64_t s3_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Parses "yyyymmddThhmmssZ"; returns unix seconds or -1. */
int64_t s3_time_parse_amz(const char *s, size_t len);
/* unix seconds → "yyyymmddThhmmssZ". */
void s3_time_amz(int64_t unix_s, char out[17]);

/* Canonical query with an option to drop X-Amz-Signature (presigned). */
int s3_sigv4_canonical_query_ex(const char *query, size_t len, int drop_signature, struct dbuf *out);

/* The full signer, with an explicit service (the AWS test suite uses
 * "service"). creq and sts (may be NULL) receive the canonical request and
 * the string to sign; authorization_out receives the Authorization value. */
int s3_sigv4_sign_ex(const struct s3_request *req, const char *access_key, const char *secret, const char *region,
                     const char *service, const char *amz_date, const char *payload_hash,
                     const char *signed_headers, struct dbuf *creq, struct dbuf *sts,
                     struct dbuf *authorization_out);

/* Checksums of the x-amz-checksum-* family: fills out (big-endian digest)
 * for algorithm name ("crc32", "crc32c", "crc64nvme", "sha1", "sha256") and
 * returns the digest length, or 0 for an unknown name. */
size_t s3_checksum_compute(const char *alg, size_t alg_len, const void *data, size_t len, unsigned char out[32]);

/* The finished CRC of the bytes before (0 for none) with buf[0..len) appended,
 * as zlib's crc32() (crc.c: ISA-L for CRC32 and CRC32C, slice-by-8 for
 * CRC64NVME). Any thread. */
uint32_t s3_crc32(uint32_t crc, const void *buf, size_t len);
uint32_t s3_crc32c(uint32_t crc, const void *buf, size_t len);
uint64_t s3_crc64nvme(uint64_t crc, const void *buf, size_t len);

/* Does an If-Match / If-None-Match list (comma separated, quotes optional,
 * W/ tolerated, '*' for any) contain etag (unquoted)? */
int s3_etag_list_matches(const char *v, size_t len, const char *etag);

/* Is name a query parameter some operation reads, or one clients add without
 * meaning (x-id, presigned X-Amz-*)? 0 for anything else: an unknown
 * sub-resource (params.c). */
int s3_query_param_known(const char *name);

/* One key[=value] pair of a raw query string, as views into it (v NULL when
 * there is no '='; nothing is decoded). */
struct s3_query_pair {
    const char *k, *v;
    size_t kl, vl;
};
/* The next non-empty pair of q (len bytes) from *pos on (start at 0):
 * 1 with *p filled and *pos past it, 0 at the end (util.c). */
int s3_query_next(const char *q, size_t len, size_t *pos, struct s3_query_pair *p);
/* Pairs q can hold at most: 1 + the number of '&' (a bound to allocate by). */
size_t s3_query_cap(const char *q, size_t len);
/* The bucket of a virtual-hosted request: Host is "<bucket>.<domain>[:port]"
 * (route.c). 1 with *b, *blen pointing into the Host value; 0 when domain is
 * NULL or the host is not under it. */
int s3_vhost_bucket(const struct s3_request *req, const char *domain, const char **b, size_t *blen);

#endif

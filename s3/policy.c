/* policy.c — a POST Object form's signature over its policy text, SigV4 or SigV2 (the policy's
 * conditions are checked in gateway/ops/policy.c, which reads its JSON).
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "s3/s3.h"
#include "s3/s3_int.h"

int s3_post_sig_v4_ok(const char *secret, const char *date8, const char *region, const char *policy, size_t plen,
                      const char *sig, size_t sig_len)
{
    unsigned char key[32], mac[32];
    char hex[65];
    s3_sigv4_signing_key(secret, date8, region, "s3", key);
    s3_hmac_sha256(key, 32, policy, plen, mac);
    hex_encode(mac, 32, hex);
    int ok = sig_len == 64 && CRYPTO_memcmp(hex, sig, 64) == 0;
    secure_zero(key, sizeof(key));
    return ok;
}

int s3_post_sig_v2_ok(const char *secret, const char *policy, size_t plen, const char *sig, size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    char b64[64];
    if (HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)policy, plen, mac, &ml) == NULL)
        return 0;
    size_t n = s3_base64_encode(mac, ml, b64, sizeof(b64));
    return n == sig_len && CRYPTO_memcmp(b64, sig, n) == 0;
}

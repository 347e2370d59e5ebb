/* params.c — the query parameters S3 operations take besides sub-resources.
 *
 * The router (route.c) recognises sub-resource keywords (?acl, ?uploads…) and
 * serves or refuses them. Any other parameter must be one an operation reads
 * (listing bounds, versionId, response-* overrides…) or one a client adds
 * without meaning (x-id=GetObject from the AWS SDKs, presigned X-Amz-*
 * parameters); a parameter outside both lists names a sub-resource we do not
 * know, and answering it with the object or a listing would be a wrong answer
 * to a question we did not understand: the router answers 501 instead.
 */
#include <string.h>

#include "s3/s3_int.h"

static const char *const known[] = {
    /* ListObjects, ListObjectsV2, ListObjectVersions */
    "prefix", "delimiter", "marker", "max-keys", "encoding-type", "list-type", "continuation-token",
    "start-after", "fetch-owner", "key-marker", "version-id-marker",
    /* ListBuckets */
    "max-buckets", "bucket-region",
    /* multipart */
    "uploadId", "part-number-marker", "max-parts", "upload-id-marker", "max-uploads",
    /* objects */
    "versionId", "partNumber",
    /* the AWS SDKs' operation hint (x-id=GetObject) */
    "x-id",
    /* configuration ids of the analytics/inventory/metrics/intelligent-tiering sub-resources */
    "id",
    /* SelectObjectContent */
    "select-type",
    /* presigned SigV2 (SigV4 presigns are X-Amz-*, matched below) */
    "AWSAccessKeyId", "Signature", "Expires",
};

int s3_query_param_known(const char *name)
{
    /* response-content-type… (GetObject overrides) and X-Amz-Credential…
     * (presigned SigV4, any case, as SDKs differ). */
    if (strncmp(name, "response-", 9) == 0 || (strlen(name) >= 6 && s3_memieq(name, 6, "x-amz-")))
        return 1;
    if (name[0] == '\0')
        return 1; /* "?=x" or a stray "&&": no name, nothing asked */
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strcmp(name, known[i]) == 0)
            return 1;
    return 0;
}

/* cors.c — each bucket's CORS configuration (table bucket_cors), kept as the XML GetBucketCors answers.
 *
 * The gateway parses it (s3_cors_parse) when it needs the rules; the row goes
 * with its bucket (store_bucket_delete).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/store/store_int.h"

enum store_status store_cors_get(struct store *st, const char *bucket, char **xml)
{
    return store_bucket_doc_get(st, STORE_DOC_CORS, bucket, xml);
}

enum store_status store_cors_put(struct store *st, const char *bucket, const char *xml)
{
    return store_bucket_doc_put(st, STORE_DOC_CORS, bucket, xml);
}

enum store_status store_cors_delete(struct store *st, const char *bucket)
{
    return store_bucket_doc_delete(st, STORE_DOC_CORS, bucket);
}

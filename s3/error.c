/* error.c — the one S3 error table and the one renderer.
 *
 * Every S3 error the server can answer is a row here: the code string the
 * clients match on, the HTTP status and AWS's default message. Handlers only
 * ever pass an enum s3_err; the XML body is produced by s3_err_render.
 */
#include <string.h>

#include "s3/s3.h"

struct err_row {
    const char *code;
    int status;
    const char *message;
};

/* Codes, statuses and messages follow the AWS S3 "Error Responses" page. */
static const struct err_row errors[S3E__COUNT] = {
    [S3E_OK] = {"OK", 200, "OK"},
    [S3E_ACCESS_DENIED] = {"AccessDenied", 403, "Access Denied"},
    [S3E_AUTH_HEADER_MALFORMED] = {"AuthorizationHeaderMalformed", 400, "The authorization header is malformed."},
    [S3E_BAD_DIGEST] = {"BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received."},
    [S3E_BUCKET_ALREADY_EXISTS] = {"BucketAlreadyExists", 409,
                                   "The requested bucket name is not available. The bucket namespace is shared by "
                                   "all users of the system. Please select a different name and try again."},
    [S3E_BUCKET_ALREADY_OWNED_BY_YOU] = {"BucketAlreadyOwnedByYou", 409,
                                         "Your previous request to create the named bucket succeeded and you "
                                         "already own it."},
    [S3E_BUCKET_NOT_EMPTY] = {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty"},
    [S3E_ENTITY_TOO_LARGE] = {"EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."},
    [S3E_ENTITY_TOO_SMALL] = {"EntityTooSmall", 400,
                              "Your proposed upload is smaller than the minimum allowed object size."},
    [S3E_INCOMPLETE_BODY] = {"IncompleteBody", 400,
                             "You did not provide the number of bytes specified by the Content-Length HTTP header."},
    [S3E_INTERNAL_ERROR] = {"InternalError", 500, "We encountered an internal error. Please try again."},
    [S3E_INVALID_ACCESS_KEY_ID] = {"InvalidAccessKeyId", 403,
                                   "The AWS Access Key Id you provided does not exist in our records."},
    [S3E_INVALID_ARGUMENT] = {"InvalidArgument", 400, "Invalid Argument"},
    [S3E_INVALID_BUCKET_NAME] = {"InvalidBucketName", 400, "The specified bucket is not valid."},
    [S3E_INVALID_DIGEST] = {"InvalidDigest", 400, "The Content-MD5 you specified is not valid."},
    [S3E_INVALID_PART] = {"InvalidPart", 400,
                          "One or more of the specified parts could not be found. The part may not have been "
                          "uploaded, or the specified entity tag may not match the part's entity tag."},
    [S3E_INVALID_PART_ORDER] = {"InvalidPartOrder", 400,
                                "The list of parts was not in ascending order. Parts must be ordered by part "
                                "number."},
    [S3E_INVALID_RANGE] = {"InvalidRange", 416, "The requested range is not satisfiable"},
    [S3E_INVALID_REQUEST] = {"InvalidRequest", 400, "Invalid Request"},
    [S3E_INVALID_URI] = {"InvalidURI", 400, "Couldn't parse the specified URI."},
    [S3E_INVALID_PART_NUMBER] = {"InvalidPartNumber", 416, "The requested partnumber is not satisfiable"},
    [S3E_MALFORMED_ACL] = {"MalformedACLError", 400,
                           "The XML you provided was not well-formed or did not validate against our published "
                           "schema"},
    [S3E_NO_SUCH_PUBLIC_ACCESS_BLOCK] = {"NoSuchPublicAccessBlockConfiguration", 404,
                                         "The public access block configuration was not found"},
    [S3E_NO_SUCH_CORS_CONFIGURATION] = {"NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"},
    [S3E_CORS_FORBIDDEN] = {"AccessForbidden", 403, "CORSResponse: This CORS request is not allowed."},
    [S3E_NO_SUCH_VERSION] = {"NoSuchVersion", 404,
                             "The specified version does not exist."},
    [S3E_INVALID_BUCKET_STATE] = {"InvalidBucketState", 409,
                                  "The request is not valid with the current state of the bucket."},
    [S3E_NO_SUCH_OBJECT_LOCK_CONFIGURATION] = {"ObjectLockConfigurationNotFoundError", 404,
                                               "Object Lock configuration does not exist for this bucket"},
    [S3E_NO_SUCH_OBJECT_LOCK] = {"NoSuchObjectLockConfiguration", 404,
                                 "The specified object does not have a ObjectLock configuration"},
    [S3E_NO_SUCH_LIFECYCLE_CONFIGURATION] = {"NoSuchLifecycleConfiguration", 404,
                                             "The lifecycle configuration does not exist"},
    [S3E_MISSING_CONTENT_MD5] = {"InvalidRequest", 400,
                                 "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"},
    [S3E_MISSING_LOCK_CONFIG] = {"InvalidRequest", 400, "Bucket is missing Object Lock Configuration"},
    [S3E_KEY_TOO_LONG] = {"KeyTooLongError", 400, "Your key is too long"},
    [S3E_MALFORMED_XML] = {"MalformedXML", 400,
                           "The XML you provided was not well-formed or did not validate against our published "
                           "schema."},
    [S3E_METHOD_NOT_ALLOWED] = {"MethodNotAllowed", 405, "The specified method is not allowed against this resource."},
    [S3E_MISSING_CONTENT_LENGTH] = {"MissingContentLength", 411, "You must provide the Content-Length HTTP header."},
    [S3E_MISSING_SECURITY_HEADER] = {"MissingSecurityHeader", 400, "Your request is missing a required header."},
    [S3E_NO_SUCH_BUCKET] = {"NoSuchBucket", 404, "The specified bucket does not exist"},
    [S3E_NO_SUCH_KEY] = {"NoSuchKey", 404, "The specified key does not exist."},
    [S3E_NO_SUCH_UPLOAD] = {"NoSuchUpload", 404,
                            "The specified multipart upload does not exist. The upload ID might not be valid, or "
                            "the multipart upload might have been aborted or completed."},
    [S3E_NOT_IMPLEMENTED] = {"NotImplemented", 501,
                             "A header you provided implies functionality that is not implemented."},
    [S3E_NOT_MODIFIED] = {"NotModified", 304, "Not Modified"},
    [S3E_PRECONDITION_FAILED] = {"PreconditionFailed", 412,
                                 "At least one of the pre-conditions you specified did not hold"},
    [S3E_REQUEST_TIME_TOO_SKEWED] = {"RequestTimeTooSkewed", 403,
                                     "The difference between the request time and the current time is too large."},
    [S3E_REQUEST_TIMEOUT] = {"RequestTimeout", 400,
                             "Your socket connection to the server was not read from or written to within the "
                             "timeout period."},
    [S3E_SERVICE_UNAVAILABLE] = {"ServiceUnavailable", 503, "Please reduce your request rate."},
    [S3E_SIGNATURE_DOES_NOT_MATCH] = {"SignatureDoesNotMatch", 403,
                                      "The request signature we calculated does not match the signature you "
                                      "provided. Check your key and signing method."},
    [S3E_SLOW_DOWN] = {"SlowDown", 503, "Please reduce your request rate."},
    [S3E_X_AMZ_CONTENT_SHA256_MISMATCH] = {"XAmzContentSHA256Mismatch", 400,
                                           "The provided 'x-amz-content-sha256' header does not match what was "
                                           "computed."},
    [S3E_BAD_REQUEST] = {"BadRequest", 400, "Bad Request"},
    [S3E_INVALID_OBJECT_STATE] = {"InvalidObjectState", 403, "The operation is not valid for the current state of the object."},
    [S3E_NO_SUCH_TAG_SET] = {"NoSuchTagSet", 404, "The TagSet does not exist"},
    [S3E_REQUEST_EXPIRED] = {"AccessDenied", 403, "Request has expired"},
    [S3E_MISSING_CONTENT_SHA256] = {"InvalidRequest", 400,
                                    "Missing required header for this request: x-amz-content-sha256"},
    [S3E_INVALID_TAG] = {"InvalidTag", 400, "The tag provided was not a valid tag."},
    [S3E_COPY_TO_ITSELF] = {"InvalidRequest", 400,
                            "This copy request is illegal because it is trying to copy an object to itself "
                            "without changing the object's metadata, storage class, website redirect location or "
                            "encryption attributes."},
    /* AWS's wording for these four, as S3 answers them (the service messages
     * leave out the client's service name: the table holds fixed text). */
    [S3E_HEADERS_NOT_SIGNED] = {"AccessDenied", 403,
                                "There were headers present in the request which were not signed"},
    [S3E_AUTH_HEADER_WRONG_SERVICE] = {"AuthorizationHeaderMalformed", 400,
                                       "The authorization header is malformed; incorrect service. This endpoint "
                                       "belongs to \"s3\"."},
    [S3E_AUTH_QUERY_WRONG_SERVICE] = {"AuthorizationQueryParametersError", 400,
                                      "Error parsing the X-Amz-Credential parameter; incorrect service. This "
                                      "endpoint belongs to \"s3\"."},
    [S3E_MALFORMED_TRAILER] = {"MalformedTrailerError", 400,
                               "The request contained trailing data that was not well-formed or did not conform "
                               "to our published schema."},
    [S3E_MALFORMED_POST_REQUEST] = {"MalformedPOSTRequest", 400,
                                    "The body of your POST request is not well-formed multipart/form-data."},
    [S3E_MAX_POST_PRE_DATA] = {"MaxPostPreDataLengthExceededError", 400,
                               "Your POST request fields preceding the upload file were too large."},
    [S3E_INVALID_POLICY_DOCUMENT] = {"InvalidPolicyDocument", 400,
                                     "The content of the form does not meet the conditions specified in the policy "
                                     "document."},
    /* SigV2 and the presigned-URL expiry, in AWS's words. */
    [S3E_SIGV2_DISABLED] = {"InvalidRequest", 400,
                            "The authorization mechanism you have provided is not supported. Please use "
                            "AWS4-HMAC-SHA256."},
    [S3E_SIGV2_HEADER_MALFORMED] = {"InvalidArgument", 400,
                                    "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"},
    [S3E_SIGV2_QUERY_INCOMPLETE] = {"AccessDenied", 403,
                                    "Query-string authentication requires the Signature, Expires and "
                                    "AWSAccessKeyId parameters"},
    [S3E_MISSING_DATE] = {"AccessDenied", 403, "AWS authorization requires a valid Date or x-amz-date header"},
    [S3E_EXPIRES_NOT_NUMBER] = {"AuthorizationQueryParametersError", 400, "X-Amz-Expires should be a number"},
    [S3E_EXPIRES_NEGATIVE] = {"AuthorizationQueryParametersError", 400, "X-Amz-Expires must be non-negative"},
    [S3E_EXPIRES_TOO_LARGE] = {"AuthorizationQueryParametersError", 400,
                               "X-Amz-Expires must be less than a week (in seconds); that is, the given "
                               "X-Amz-Expires must be less than 604800 seconds"},
    [S3E_EXPECTATION_FAILED] = {"ExpectationFailed", 417,
                                "The server cannot meet the expectation the Expect header states; only "
                                "100-continue is supported."},
};

static const struct err_row *row(enum s3_err e)
{
    if ((unsigned)e >= S3E__COUNT || errors[e].code == NULL)
        return &errors[S3E_INTERNAL_ERROR];
    return &errors[e];
}

int s3_err_status(enum s3_err e)
{
    return row(e)->status;
}

const char *s3_err_code(enum s3_err e)
{
    return row(e)->code;
}

const char *s3_err_message(enum s3_err e)
{
    return row(e)->message;
}

static int elem(struct dbuf *out, const char *name, const char *text)
{
    struct dbuf tmp;
    int rc = -1;

    dbuf_init(&tmp, out->max);
    s3_xml_escape(&tmp, text, strlen(text));
    if (dbuf_printf(out, "<%s>", name) != 0)
        goto out;
    if (tmp.len && dbuf_add(out, tmp.ptr, tmp.len) != 0)
        goto out;
    if (dbuf_printf(out, "</%s>", name) != 0)
        goto out;
    rc = 0;
out:
    dbuf_release(&tmp);
    return rc;
}

int s3_err_render(struct dbuf *out, enum s3_err e, const char *message, const char *resource,
                  const char *request_id)
{
    const struct err_row *r = row(e);
    size_t start = out->len;

    if (dbuf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>") != 0)
        goto fail;
    if (elem(out, "Code", r->code) != 0 || elem(out, "Message", message ? message : r->message) != 0)
        goto fail;
    if (resource && elem(out, "Resource", resource) != 0)
        goto fail;
    if (request_id && elem(out, "RequestId", request_id) != 0)
        goto fail;
    if (dbuf_adds(out, "</Error>") != 0)
        goto fail;
    return 0;
fail:
    /* Leave out as it was, so a caller can retry with a bigger buffer. */
    out->len = start;
    if (out->ptr)
        out->ptr[start] = '\0';
    return -1;
}

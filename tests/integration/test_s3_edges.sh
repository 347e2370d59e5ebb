#!/bin/bash
# test_s3_edges.sh — S3 edge cases answered as AWS S3 answers them: DeleteBucket of a bucket
# holding only unfinished uploads, a retried CompleteMultipartUpload, unknown sub-resources,
# listing encodings, aws-chunked in Content-Encoding, partNumber past the parts, malformed
# checksum headers, UploadPartCopy ranges, part order, ListBuckets paging, conditional writes
# and deletes. The requests and their assertions are in tests/integration/s3edges.py.
set -u
. "$(dirname "$0")/lib.sh"

E() { "$PY" "$TGS3_ROOT/tests/integration/s3edges.py" "$@"; }

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway --no-packing || finish
export GW_DIR

check "DeleteBucket: 409 BucketNotEmpty with an object; 204 with only unfinished uploads, which are aborted (parts, extents, blocks gone, messages on the delete queue)" E delete_bucket
check "CompleteMultipartUpload retried: 200 with the same Location/Bucket/Key/ETag; 404 NoSuchUpload for an id never seen, another key, or once the object was overwritten or deleted" E complete_retry
check "unknown sub-resources (?lineage, ?frobnicate…) -> 501 NotImplemented; x-id, response-*, versionId, listing and paging parameters, presigned URLs still work" E subresource
check "ListObjects V1/V2: Prefix, Marker, Delimiter, NextMarker, StartAfter, Key URL-encoded only with encoding-type=url" E listing_encoding
check "Content-Encoding: aws-chunked is never stored ('gzip, aws-chunked' -> gzip, alone -> none), also for a real aws-chunked upload" E content_encoding
check "GET/HEAD partNumber past the parts -> 416 InvalidPartNumber; 0 or 10001 -> 400 InvalidArgument" E part_number
check "malformed x-amz-checksum-* -> 400 InvalidRequest 'Value for x-amz-checksum-<alg> header is invalid.' (PutObject, UploadPart); wrong -> 400 BadDigest" E checksum
check "UploadPartCopy: malformed x-amz-copy-source-range -> 400 InvalidArgument; past the source -> 400 InvalidArgument naming its size" E part_copy_range
check "CompleteMultipartUpload with parts out of order or repeated -> 400 InvalidPartOrder" E part_order
check "ListBuckets: max-buckets 1..10000 else 400 InvalidArgument; 30 buckets in pages of 7 by continuation-token; prefix echoed; bucket-region filter" E list_buckets
check "conditional writes and deletes (raw): If-None-Match */If-Match on PutObject and Complete, If-Match on DeleteObject, <ETag> in DeleteObjects; 412 PreconditionFailed, 404 NoSuchKey, 501 for directory-bucket conditions" E conditional

# The same through boto3's own parameters, with a botocore that has them (Debian's 1.29 has not;
# the raw case above covers the wire either way).
MODERN_PY=
for p in "$(command -v python3)" /usr/local/bin/python3 "$PY"; do
    [ -n "$p" ] && [ -x "$p" ] || continue
    if "$p" -c 'import botocore.session as s; m = s.get_session().get_service_model("s3"); assert "IfNoneMatch" in m.operation_model("PutObject").input_shape.members and "MaxBuckets" in m.operation_model("ListBuckets").input_shape.members' 2>/dev/null; then
        MODERN_PY=$p
        break
    fi
done
if [ -n "$MODERN_PY" ]; then
    check "boto3 ($("$MODERN_PY" -c 'import botocore; print(botocore.__version__)')): put_object(IfNoneMatch), delete_object(IfMatch), delete_objects ETag, list_buckets(MaxBuckets, ContinuationToken, Prefix) pages through 30 buckets" \
        "$MODERN_PY" "$TGS3_ROOT/tests/integration/s3edges.py" modern
else
    say "no python3 with a botocore that knows IfNoneMatch/MaxBuckets: the raw cases cover the wire"
fi
finish

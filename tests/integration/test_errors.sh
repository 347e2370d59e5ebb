#!/bin/bash
# test_errors.sh — the gateway's answers to bad requests: status, S3 error code in XML,
# x-amz-request-id on every error, and nothing stored in Telegram by any of them.
set -u
. "$(dirname "$0")/lib.sh"

B=err-bucket
E() { "$PY" "$TGS3_ROOT/tests/integration/s3err.py" "$1" "$B"; }

check "emulator starts" start_emulator --local || finish
# Small objects would be packed and posted after --pack-delay, in the middle of the count below.
check "gateway starts" start_gateway --no-packing --req-timeout 3 || finish
check "setup: bucket with one object" E setup || finish
check "a correct Content-MD5 is accepted" E good_md5
check "a signed content-length header is accepted" E signed_content_length
docs_before=$(emu_docs)
say "documents before the bad requests: $docs_before"

check "wrong secret -> 403 SignatureDoesNotMatch" E wrong_secret
check "unknown access key -> 403 InvalidAccessKeyId" E unknown_key_id
check "anonymous request -> 403 AccessDenied" E anonymous
check "tampered body -> 400 XAmzContentSHA256Mismatch" E tampered_body
check "wrong Content-MD5 -> 400 BadDigest" E bad_md5
check "missing bucket -> 404 NoSuchBucket (GET, list, HEAD, PUT)" E missing_bucket
check "missing key -> 404 NoSuchKey (GET, HEAD)" E missing_key
check "GetBucketLocation of a missing bucket -> 404 NoSuchBucket" E location_missing
check "GetBucketLocation of an existing bucket" E location
check "DeleteBucket of a non-empty bucket -> 409 BucketNotEmpty" E bucket_not_empty
check "?policy -> 501 NotImplemented, not a listing" E not_implemented

# The same kinds of requests through curl's own SigV4 signer.
curl_code() { # WANT_STATUS WANT_CODE CURL-ARGS...
    local want=$1 code=$2 hdr=$TEST_TMP/curl.hdr body=$TEST_TMP/curl.body st
    shift 2
    st=$(s3curl -D "$hdr" -o "$body" -w '%{http_code}' "$@") || return 1
    cat "$hdr" "$body"
    echo
    [ "$st" = "$want" ] || { echo "status $st, want $want"; return 1; }
    grep -qi '^x-amz-request-id: .' "$hdr" || { echo "no x-amz-request-id"; return 1; }
    grep -q "<Code>$code</Code>" "$body"
}
check "curl: missing key -> 404 NoSuchKey" curl_code 404 NoSuchKey "$S3_URL/$B/nope"
check "curl: missing bucket listing -> 404 NoSuchBucket" curl_code 404 NoSuchBucket "$S3_URL/$B-missing?list-type=2"
check "curl: unsigned garbage Authorization -> 4xx with XML" bash -c "
    st=\$(curl -sS -o '$TEST_TMP/garbage.body' -w '%{http_code}' -H 'Authorization: AWS4-HMAC-SHA256 nonsense' '$S3_URL/$B')
    cat '$TEST_TMP/garbage.body'; echo
    case \$st in 400|403) grep -q '<Code>' '$TEST_TMP/garbage.body' ;; *) echo status \$st; exit 1 ;; esac"

docs_after=$(emu_docs)
check "no document was stored by the bad requests ($docs_before -> $docs_after)" test "$docs_after" = "$docs_before"
check "gateway still serves after the bad requests" bash -c "aws s3 ls s3://$B/ | grep -q ' keep\$'"

# ---- streamed bodies: PUTs over 4 MiB are read from the socket as they arrive ----
streamed() { curl -sS "$GW_ADMIN_URL/metrics" | awk '$1 == "tgs3_streamed_bodies_total" {print $2}'; }
check "streamed PUT: 100 Continue first, Content-MD5 checked, bytes round-trip" E stream_good
check "streamed PUTs and a GET share one keep-alive connection" E stream_keepalive
check "streamed tampered body -> 400 XAmzContentSHA256Mismatch, nothing stored" E stream_tampered
check "streamed wrong Content-MD5 -> 400 BadDigest, nothing stored" E stream_bad_md5
check "streamed body with both digests wrong -> 400 BadDigest; a wrong x-amz-checksum -> 400 BadDigest" E stream_both_bad
check "streamed body cut by the client: nothing stored" E stream_cut
check "streamed body that stops arriving -> 400 RequestTimeout, connection closed" E stream_stall
check "large body on PutObjectTagging -> 400 EntityTooLarge, connection closed" E stream_wrong_op
n=$(streamed)
say "bodies streamed: $n"
check "those bodies took the streamed path (10 claimed)" test "$n" = 10
check "every upload slot the failed bodies held is given back" wait_until 20 bash -c "[ \"\$(curl -sS '$GW_ADMIN_URL/metrics' | awk '\$1 == \"tgs3_inflight_upload_blocks\" {print \$2}')\" = 0 ]"
check "aws cp of 20 MiB (multipart parts and a single PUT) round-trips" bash -c "
    head -c 20971520 /dev/urandom >'$TEST_TMP/a20' &&
    aws s3 cp --only-show-errors '$TEST_TMP/a20' s3://$B/a20 &&
    aws s3api put-object --bucket $B --key a20s --body '$TEST_TMP/a20' >/dev/null &&
    aws s3 cp --only-show-errors s3://$B/a20 '$TEST_TMP/a20.back' && cmp '$TEST_TMP/a20' '$TEST_TMP/a20.back' &&
    aws s3 cp --only-show-errors s3://$B/a20s '$TEST_TMP/a20s.back' && cmp '$TEST_TMP/a20' '$TEST_TMP/a20s.back'"
check "aws went through the streamed path too" test "$(streamed)" -gt "$n"

# What the failed streamed puts posted is queued for deletion: after GC the chat holds
# exactly the blocks the index references.
stop_gateway
gc_all() { "$BUILD/tgs3" gc --all --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID"; }
check "tgs3 gc --all runs the delete queue" gc_all
msgs=$(emu_docs)
blocks=$(index "SELECT COUNT(*) FROM blocks")
say "after GC: the emulator holds $msgs documents, the index names $blocks blocks"
check "no stray document from the failed streamed puts: documents = blocks" test "$msgs" = "$blocks"

finish

#!/bin/bash
# test_cors.sh — CORS: Put/Get/DeleteBucketCors with awscli and boto3, browsers' preflights
# (OPTIONS, no credentials) answered from the bucket's rules, and the matching rule's headers
# on actual requests, errors included (tests/integration/cors.py). The browser itself:
# test_browser.sh.
set -u
. "$(dirname "$0")/lib.sh"

B=cors-site
B2=cors-plain
C() { "$PY" "$TGS3_ROOT/tests/integration/cors.py" "$@"; }

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway --no-packing || finish
check "buckets" aws s3 mb "s3://$B" && aws s3 mb "s3://$B2" >/dev/null

section "configuration"
cat >"$TEST_TMP/cors.json" <<'JSON'
{"CORSRules": [{"AllowedOrigins": ["http://a.example"], "AllowedMethods": ["GET", "PUT"],
                "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]}
JSON
check "aws s3api put-bucket-cors" aws s3api put-bucket-cors --bucket "$B" --cors-configuration "file://$TEST_TMP/cors.json"
check "aws s3api get-bucket-cors answers it" bash -c '
    out=$(/usr/bin/aws --endpoint-url "$S3_URL" s3api get-bucket-cors --bucket '"$B"' --output json) || exit 1
    echo "$out"
    "$PY" -c "import json,sys; r=json.loads(sys.argv[1])[\"CORSRules\"]; sys.exit(0 if r == [{\"AllowedHeaders\": [\"*\"], \"AllowedMethods\": [\"GET\", \"PUT\"], \"AllowedOrigins\": [\"http://a.example\"], \"ExposeHeaders\": [\"ETag\"], \"MaxAgeSeconds\": 3000}] else 1)" "$out"'
check "the rules are in the index" test "$(index "SELECT count(*) FROM bucket_cors WHERE bucket = '$B'")" = 1
check "aws s3api delete-bucket-cors, then get-bucket-cors fails with NoSuchCORSConfiguration" bash -c '
    /usr/bin/aws --endpoint-url "$S3_URL" s3api delete-bucket-cors --bucket '"$B"' || exit 1
    out=$(/usr/bin/aws --endpoint-url "$S3_URL" s3api get-bucket-cors --bucket '"$B"' 2>&1) && exit 1
    echo "$out"; echo "$out" | grep -q NoSuchCORSConfiguration'
check "boto3: errors of PutBucketCors (InvalidRequest, MalformedXML, NoSuchBucket), Get and Delete" C config "$B" "$B2"

section "preflight"
check "OPTIONS without credentials: 200 with the rule's headers, 400 and 403 as S3 answers" C preflight "$B" "$B2"
check "curl: a preflight with no credentials at all" bash -c '
    curl -sS -o /dev/null -D - -X OPTIONS -H "Origin: http://site.example" \
        -H "Access-Control-Request-Method: PUT" "$S3_URL/'"$B"'/some/key" | tee /dev/stderr |
        grep -qi "^access-control-allow-origin: http://site.example"'

section "actual requests"
check "presigned PUT/GET with Origin, errors with Origin, changes applied at once" C actual "$B" "$B2"
check "a bucket deleted and created again has no rules" C recreate "$B" "$B2"
check "70 buckets (more than the 64 whose rules are kept in memory): each answers with its own" C many "$B" "$B2"
check "no rules left behind in the index" test "$(index "SELECT count(*) FROM bucket_cors WHERE bucket = '$B2'")" = 0

finish

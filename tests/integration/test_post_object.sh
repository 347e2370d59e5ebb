#!/bin/bash
# test_post_object.sh — PostObject: browser-style form uploads (tests/integration/postform.py
# builds and sends each form by hand; boto3's generate_presigned_post is the real client).
# Round trips byte for byte (small, and 64 MiB with the gateway's memory checked), every
# policy condition kind passing and failing with AWS's status and code, expiry, signatures
# (SigV4, SigV2, wrong, absent), missing fields, ${filename}, the answers (204, 200, 201 XML,
# 303 redirect), the metadata the form gives the object, and ACLs: the acl field as
# PutObject's x-amz-acl (share links, BlockPublicAcls), WRITE grants to another user, to
# AuthenticatedUsers and to AllUsers (an anonymous form).
set -u
. "$(dirname "$0")/lib.sh"

P() { "$PY" "$TGS3_ROOT/tests/integration/postform.py" --bucket pform "$@"; }
B=pform

check "emulator starts" start_emulator --local || finish
USER_B_AK=TGS3TESTACCESSKEYB02
USER_B_SK=tgs3SecondUserSecret0123456789abcdefghij
check "gateway starts (two users)" start_gateway --block-size 8M --user "$USER_B_AK:$USER_B_SK" || finish
check "bucket" aws s3api create-bucket --bucket $B || finish

section "round trips"
printf 'hello from a form\n' >"$TEST_TMP/small.txt"
check "small file: 204 with its ETag" P --key small.txt --file "$TEST_TMP/small.txt" --etag-of "$TEST_TMP/small.txt"
check "small file reads back byte for byte" \
    bash -c "aws s3 cp s3://$B/small.txt '$TEST_TMP/small.back' && cmp '$TEST_TMP/small.txt' '$TEST_TMP/small.back'"
rand_file "$TEST_TMP/mid.bin" 300000
check "300 KB file (streamed body, whole file past the head): stored" P --key mid.bin --file "$TEST_TMP/mid.bin" \
    --etag-of "$TEST_TMP/mid.bin"
check "300 KB file reads back byte for byte" \
    bash -c "aws s3 cp s3://$B/mid.bin '$TEST_TMP/mid.back' && cmp '$TEST_TMP/mid.bin' '$TEST_TMP/mid.back'"
rand_file "$TEST_TMP/big.bin" $((64 << 20))
rss_start "$GW_PID"
check "64 MiB file: stored" P --key big.bin --file "$TEST_TMP/big.bin" --etag-of "$TEST_TMP/big.bin"
peak=$(rss_stop)
say "gateway peak during the 64 MiB form: $(rss_report)"
check "64 MiB form: the gateway's memory stayed bounded (peak ${peak} MiB < 200 MiB)" test "$peak" -lt 200
check "64 MiB file reads back byte for byte" \
    bash -c "aws s3 cp s3://$B/big.bin '$TEST_TMP/big.back' && cmp '$TEST_TMP/big.bin' '$TEST_TMP/big.back'"
check "64 MiB object's size is the file's (no boundary bytes stored)" \
    bash -c "aws s3api head-object --bucket $B --key big.bin | grep -q '\"ContentLength\": 67108864'"
rand_file "$TEST_TMP/exact.bin" $((8 << 20))
check "a file of exactly one block (8 MiB): stored" P --key exact.bin --file "$TEST_TMP/exact.bin" \
    --etag-of "$TEST_TMP/exact.bin"
check "one-block file reads back byte for byte" \
    bash -c "aws s3 cp s3://$B/exact.bin '$TEST_TMP/exact.back' && cmp '$TEST_TMP/exact.bin' '$TEST_TMP/exact.back'"
: >"$TEST_TMP/empty"
check "an empty file: stored" P --key empty --file "$TEST_TMP/empty" --etag-of "$TEST_TMP/empty"
check "fields after the file are ignored" P --key after.txt --data abc --after x-amz-meta-late=1 --after junk=2
check "a small file followed by 66 KB of ignored fields (streamed body, file whole in the head)" \
    P --key tail.txt --file "$TEST_TMP/small.txt" --after "x-ignore-pad=$(head -c 66000 /dev/zero | tr '\0' b)" \
    --etag-of "$TEST_TMP/small.txt"
check "... reads back byte for byte" \
    bash -c "aws s3 cp s3://$B/tail.txt '$TEST_TMP/tail.back' && cmp '$TEST_TMP/small.txt' '$TEST_TMP/tail.back'"
check "... and the object has none of them" \
    bash -c "! aws s3api head-object --bucket $B --key after.txt | grep -q late"

section "boto3 generate_presigned_post"
check "boto3's fields and policy: stored" P --boto3 --key boto.txt --file "$TEST_TMP/small.txt" \
    --etag-of "$TEST_TMP/small.txt"
check "boto3 with \${filename} and a content-type condition" P --boto3 --key 'up/${filename}' --filename b3.txt \
    --data zz --field Content-Type=text/plain
check "... stored under up/b3.txt with its type" \
    bash -c "aws s3api head-object --bucket $B --key up/b3.txt | grep -q '\"ContentType\": \"text/plain\"'"

section "answers"
check "success_action_status 201: <PostResponse> naming the key" P --key s201 --data x \
    --field success_action_status=201 --expect 201 --expect-xml-key s201
check "success_action_status 200: empty 200" P --key s200 --data x --field success_action_status=200 --expect 200
check "success_action_status 404 (not one AWS knows): 204" P --key s404 --data x --field success_action_status=404 \
    --expect 204
check "success_action_redirect: 303 to it with bucket, key and etag" P --key red.txt --data x \
    --field success_action_redirect=http://example.com/done --expect 303 \
    --expect-location 'http://example.com/done?bucket=pform&key=red.txt&etag=%22'
check "redirect (the old name) with a query: & appended" P --key red2 --data x \
    --field 'redirect=http://example.com/d?a=1' --expect 303 --expect-location 'http://example.com/d?a=1&bucket=pform&key=red2'

section "metadata"
check "Content-Type, Cache-Control, Content-Disposition, x-amz-meta-*: stored" P --key meta.txt --data m \
    --field Content-Type=text/x-form --field Cache-Control=max-age=60 --field 'Content-Disposition=attachment' \
    --field x-amz-meta-color=blue --field X-Amz-Meta-Shape=round
check "... and read back as PutObject's would be" bash -c "aws s3api head-object --bucket $B --key meta.txt >'$TEST_TMP/h.json' &&
    grep -q '\"ContentType\": \"text/x-form\"' '$TEST_TMP/h.json' && grep -q '\"CacheControl\": \"max-age=60\"' '$TEST_TMP/h.json' &&
    grep -q '\"ContentDisposition\": \"attachment\"' '$TEST_TMP/h.json' && grep -q '\"color\": \"blue\"' '$TEST_TMP/h.json' &&
    grep -q '\"shape\": \"round\"' '$TEST_TMP/h.json'"
check "tagging field (<Tagging> XML): tags stored" P --key tagged --data t \
    --field 'tagging=<Tagging><TagSet><Tag><Key>k1</Key><Value>v1</Value></Tag></TagSet></Tagging>'
check "... GetObjectTagging shows them" bash -c "aws s3api get-object-tagging --bucket $B --key tagged | grep -q v1"
check "acl=public-read: accepted" P --key acl1 --data a --field acl=public-read
check "acl=everyone (not a canned ACL): 400 InvalidArgument" P --key acl2 --data a --field acl=everyone \
    --expect 400:InvalidArgument
check "x-amz-checksum-crc32 right: stored" P --key ck1 --data abc --field x-amz-checksum-crc32=NSRBwg==
check "x-amz-checksum-crc32 wrong: 400 BadDigest" P --key ck2 --data abc --field x-amz-checksum-crc32=AAAAAA== \
    --expect 400:BadDigest
ck_sha=$(openssl dgst -sha256 -binary "$TEST_TMP/mid.bin" | base64)
ck_crc=$("$PY" -c 'import zlib,sys,base64; print(base64.b64encode(zlib.crc32(open(sys.argv[1],"rb").read()).to_bytes(4,"big")).decode())' "$TEST_TMP/mid.bin")
check "x-amz-checksum-sha256 of a streamed 300 KB file: verified block by block, stored" P --key ck3 \
    --file "$TEST_TMP/mid.bin" --field "x-amz-checksum-sha256=$ck_sha" --etag-of "$TEST_TMP/mid.bin"
check "... and returned with x-amz-checksum-mode" bash -c "aws s3api head-object --bucket $B --key ck3 --checksum-mode ENABLED | grep -q '$ck_sha'"
check "x-amz-checksum-crc32 of a streamed file: stored" P --key ck4 --file "$TEST_TMP/mid.bin" \
    --field "x-amz-checksum-crc32=$ck_crc"
check "a wrong x-amz-checksum-crc32 on a streamed file: 400 BadDigest, nothing stored" P --key ck5 \
    --file "$TEST_TMP/mid.bin" --field x-amz-checksum-crc32=AAAAAA== --expect 400:BadDigest
check "... no object ck5" bash -c "! aws s3api head-object --bucket $B --key ck5 >/dev/null 2>&1"
check "Content-MD5 wrong: 400 BadDigest" P --key md5 --data abc --field Content-MD5=AAAAAAAAAAAAAAAAAAAAAA== \
    --expect 400:BadDigest

section "\${filename}"
check "key user/\${filename}: stored under the file's name" P --key 'user/${filename}' --filename photo.jpg --data p
check "... user/photo.jpg exists" aws s3api head-object --bucket $B --key user/photo.jpg

section "policy conditions"
check "exact match {field: value} passing" P --key c1 --data 1 --field x-amz-meta-a=yes
check "exact match failing: 403 AccessDenied Policy Condition failed" P --key c2 --data 1 --field x-amz-meta-a=no \
    --cond '{"x-amz-meta-a": "yes"}' --expect 403:AccessDenied \
    --expect-msg 'Invalid according to Policy: Policy Condition failed: ["eq", "$x-amz-meta-a", "yes"]'
check "[eq, \$key, v] passing" P --key exact --no-key-cond --cond '["eq", "$key", "exact"]' --data 1
check "[eq, \$key, v] failing: 403 AccessDenied" P --key other --no-key-cond --cond '["eq", "$key", "exact"]' \
    --data 1 --expect 403:AccessDenied --expect-msg 'Policy Condition failed: ["eq", "$key", "exact"]'
check "[starts-with, \$key, user/] passing" P --key user/a --no-key-cond --cond '["starts-with", "$key", "user/"]' --data 1
check "[starts-with, \$key, user/] failing: 403 AccessDenied" P --key admin/a --no-key-cond \
    --cond '["starts-with", "$key", "user/"]' --data 1 --expect 403:AccessDenied \
    --expect-msg 'Policy Condition failed: ["starts-with", "$key", "user/"]'
check "[starts-with, \$Content-Type, image/] with a comma list, each matching" P --key ct1 --data 1 \
    --uncovered 'Content-Type=image/png, image/jpeg' --cond '["starts-with", "$Content-Type", "image/"]'
check "... one item not matching: 403 AccessDenied" P --key ct2 --data 1 \
    --uncovered 'Content-Type=image/png, text/plain' --cond '["starts-with", "$Content-Type", "image/"]' \
    --expect 403:AccessDenied
check "[starts-with, \$x, \"\"] accepts anything" P --key any --data 1 --uncovered x-amz-meta-free=whatever \
    --cond '["starts-with", "$x-amz-meta-free", ""]'
check "a bucket condition for another bucket: 403 AccessDenied" P --key wb --data 1 --cond '{"bucket": "elsewhere"}' \
    --expect 403:AccessDenied
check "content-length-range met" P --key r1 --data 12345 --cond '["content-length-range", 5, 10]'
check "content-length-range: file too large: 400 EntityTooLarge" P --key r2 --data 12345678901 \
    --cond '["content-length-range", 5, 10]' --expect 400:EntityTooLarge
check "content-length-range: file too small: 400 EntityTooSmall" P --key r3 --data 1234 \
    --cond '["content-length-range", 5, 10]' --expect 400:EntityTooSmall
check "content-length-range on a streamed 300 KB file over the maximum: 400 EntityTooLarge" P --key r4 \
    --file "$TEST_TMP/mid.bin" --cond '["content-length-range", 0, 100000]' --expect 400:EntityTooLarge
check "... none of the refused objects exists" bash -c "for k in r2 r3 r4 c2 other admin/a ct2 wb; do
    aws s3api head-object --bucket $B --key \$k >/dev/null 2>&1 && exit 1; done; exit 0"
check "a field the policy does not name: 403 AccessDenied Extra input fields" P --key x1 --data 1 \
    --uncovered x-amz-meta-sneaky=1 --expect 403:AccessDenied \
    --expect-msg 'Invalid according to Policy: Extra input fields: x-amz-meta-sneaky'
check "x-ignore-* fields need no condition" P --key x2 --data 1 --uncovered x-ignore-me=1
check "an unreadable condition: 400 InvalidPolicyDocument" P --key x3 --data 1 --cond '["between", "$key", 1]' \
    --expect 400:InvalidPolicyDocument
check "expired policy: 403 AccessDenied Policy expired" P --key e1 --data 1 --expires -60 --expect 403:AccessDenied \
    --expect-msg 'Invalid according to Policy: Policy expired.'

section "signatures and required fields"
check "SigV2 form (AWSAccessKeyId, signature): stored" P --sig v2 --key v2.txt --data v2
check "a wrong SigV4 signature: 403 SignatureDoesNotMatch" P --sig bad --key bad --data 1 \
    --expect 403:SignatureDoesNotMatch
check "no signature at all (anonymous): 403 AccessDenied" P --sig none --key anon --data 1 --expect 403:AccessDenied
check "x-amz-security-token: refused (403 AccessDenied)" P --key tok --data 1 --field x-amz-security-token=abc \
    --expect 403:AccessDenied
check "no key field: 400 InvalidArgument" P --data 1 --expect 400:InvalidArgument \
    --expect-msg "Bucket POST must contain a field named 'key'."
check "no file part: 400 InvalidArgument" P --key nofile --no-file --expect 400:InvalidArgument \
    --expect-msg 'POST requires exactly one file upload per request.'
check "another user's form into this bucket: 403 AccessDenied, nothing stored" \
    env AWS_ACCESS_KEY_ID=$USER_B_AK AWS_SECRET_ACCESS_KEY=$USER_B_SK "$PY" "$TGS3_ROOT/tests/integration/postform.py" \
    --bucket $B --key intruder --data 1 --expect 403:AccessDenied
check "... no object intruder" bash -c "! aws s3api head-object --bucket $B --key intruder >/dev/null 2>&1"
check "an unknown access key: 403 InvalidAccessKeyId" env AWS_ACCESS_KEY_ID=NOSUCHKEY0000000000 \
    "$PY" "$TGS3_ROOT/tests/integration/postform.py" --bucket $B --key k --data 1 --expect 403:InvalidAccessKeyId
check "a missing bucket: 404 NoSuchBucket" "$PY" "$TGS3_ROOT/tests/integration/postform.py" --bucket nobucket \
    --key k --data 1 --expect 404:NoSuchBucket
check "not multipart/form-data: 412 PreconditionFailed" bash -c "curl -sS -X POST -H 'Content-Type: text/plain' \
    --data-binary abc '$S3_URL/$B' | grep -q PreconditionFailed"
check "fields before the file past 20 KB: 400 MaxPostPreDataLengthExceededError" P --key big-fields --data 1 \
    --uncovered "x-ignore-pad=$(head -c 30000 /dev/zero | tr '\0' a)" --expect 400:MaxPostPreDataLengthExceededError

section "ACLs: the acl field is PutObject's x-amz-acl; WRITE on the bucket as PutObject"
# anon URL → the HTTP status of an unsigned GET (a share link), the body into $TEST_TMP/anon.out
anon() { curl -s -o "$TEST_TMP/anon.out" -w '%{http_code}' "$S3_URL/$1"; }
PB() { env AWS_ACCESS_KEY_ID=$USER_B_AK AWS_SECRET_ACCESS_KEY=$USER_B_SK "$PY" "$TGS3_ROOT/tests/integration/postform.py" "$@"; }
export TGS3_ROOT USER_B_AK USER_B_SK
export -f P PB
check "acl=public-read form: 204" P --key shared.txt --file "$TEST_TMP/small.txt" --field acl=public-read
check "... its share link (plain URL, anonymous curl): 200, the same bytes" \
    bash -c "[ \"\$(curl -s -o '$TEST_TMP/sh.out' -w '%{http_code}' '$S3_URL/$B/shared.txt')\" = 200 ] && cmp '$TEST_TMP/sh.out' '$TEST_TMP/small.txt'"
check "... GetObjectAcl: owner FULL_CONTROL and AllUsers READ" bash -c "aws s3api get-object-acl --bucket $B --key shared.txt |
    tr -d ' \n' | grep -q '\"URI\":\"http://acs.amazonaws.com/groups/global/AllUsers\"},\"Permission\":\"READ\"'"
check "acl=private form: 204" P --key private.txt --data p --field acl=private
check "... anonymous GET: 403" test "$(anon $B/private.txt)" = 403
check "no acl field: 204, private (anonymous GET 403)" bash -c "P --key noacl.txt --data n &&
    [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$S3_URL/$B/noacl.txt')\" = 403 ]"
check "acl=public-read over an existing private object: anonymous GET now 200" bash -c "
    P --key private.txt --data p2 --field acl=public-read &&
    [ \"\$(curl -s -w '%{http_code}' '$S3_URL/$B/private.txt')\" = p2200 ]"
check "acl=aws-exec-read: 501 NotImplemented, as PutObject's x-amz-acl" P --key exec --data e \
    --field acl=aws-exec-read --expect 501:NotImplemented
check "bucket with BlockPublicAcls" bash -c "aws s3api create-bucket --bucket pform-pab &&
    aws s3api put-public-access-block --bucket pform-pab --public-access-block-configuration BlockPublicAcls=true"
check "... PutObject x-amz-acl public-read there: 403 AccessDenied" bash -c "! aws s3api put-object --bucket pform-pab \
    --key put.txt --acl public-read --body '$TEST_TMP/small.txt' 2>'$TEST_TMP/pab.err'; cat '$TEST_TMP/pab.err';
    grep -q 'AccessDenied' '$TEST_TMP/pab.err'"
check "... a form with acl=public-read: the same 403 AccessDenied" P --bucket pform-pab --key pub.txt --data x \
    --field acl=public-read --expect 403:AccessDenied
check "... nothing stored" bash -c "! aws s3api head-object --bucket pform-pab --key pub.txt >/dev/null 2>&1"
check "... acl=private there: 204" P --bucket pform-pab --key priv.txt --data x --field acl=private
check "bucket granting WRITE to user B (PutBucketAcl)" aws s3api put-bucket-acl --bucket $B \
    --grant-write "id=\"$USER_B_AK\"" --grant-full-control "id=\"$AWS_ACCESS_KEY_ID\""
check "... B's form into it: 204" PB --bucket $B --key from-b.txt --data fromb --field acl=public-read
check "... B's object, public-read: anonymous GET 200 with its bytes" \
    bash -c "[ \"\$(curl -s -w '%{http_code}' '$S3_URL/$B/from-b.txt')\" = fromb200 ]"
check "... B's object's owner is B (GetObjectAcl as B)" bash -c "AWS_ACCESS_KEY_ID=$USER_B_AK AWS_SECRET_ACCESS_KEY=$USER_B_SK \
    aws s3api get-object-acl --bucket $B --key from-b.txt | grep -q '\"ID\": \"$USER_B_AK\"'"
check "a bucket of A's without grants: B's form 403 AccessDenied" bash -c "aws s3api create-bucket --bucket pform-closed &&
    PB --bucket pform-closed --key b.txt --data b --expect 403:AccessDenied"
check "... a grant of WRITE to AuthenticatedUsers: B's form 204" bash -c "aws s3api put-bucket-acl --bucket pform-closed \
    --grant-write 'uri=\"http://acs.amazonaws.com/groups/global/AuthenticatedUsers\"' &&
    PB --bucket pform-closed --key b.txt --data b"
check "... an anonymous form (no policy, no signature) there: 403 AccessDenied" P --bucket pform-closed --sig none \
    --key anon.txt --data a --expect 403:AccessDenied
check "bucket granting WRITE to AllUsers (public-read-write)" bash -c "aws s3api create-bucket --bucket pform-open &&
    aws s3api put-bucket-acl --bucket pform-open --acl public-read-write"
check "... an anonymous form (no policy, no signature): 204" P --bucket pform-open --sig none --key anon.txt \
    --file "$TEST_TMP/small.txt" --field acl=public-read --etag-of "$TEST_TMP/small.txt"
check "... its bytes, and its share link works" bash -c "aws s3 cp s3://pform-open/anon.txt '$TEST_TMP/anon.back' &&
    cmp '$TEST_TMP/anon.back' '$TEST_TMP/small.txt' &&
    [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$S3_URL/pform-open/anon.txt')\" = 200 ]"
check "... an anonymous 300 KB form (streamed): 204, byte for byte" bash -c "
    P --bucket pform-open --sig none --key anon-mid.bin --file '$TEST_TMP/mid.bin' &&
    aws s3 cp s3://pform-open/anon-mid.bin '$TEST_TMP/anon-mid.back' && cmp '$TEST_TMP/anon-mid.back' '$TEST_TMP/mid.bin'"
check "... a policy without a signature: 403 AccessDenied" P --bucket pform-open --sig nosig --key ns.txt --data a \
    --expect 403:AccessDenied
check "the gateway still answers" aws s3api head-bucket --bucket $B
finish

#!/bin/bash
# test_compat_aws.sh — awscli 2.9 (/usr/bin/aws) with its defaults: cp, sync, mv,
# rm --recursive, ls --recursive, a 200 MiB multipart cp (8 MiB parts), an s3→s3 copy of
# 50 MiB (UploadPartCopy after GetObjectTagging; nothing uploaded again), presign + curl.
set -u
. "$(dirname "$0")/lib.sh"

B=aws-compat
B2=aws-compat-2
D=$TEST_TMP/data
mkdir -p "$D/tree/sub dir" "$D/down"

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

rand_file "$D/big200" 200M
rand_file "$D/f50" 50M
for i in 1 2 3 4 5; do rand_file "$D/tree/file$i" 10K; done
rand_file "$D/tree/sub dir/inner+1" 20K
printf 'x\n' >"$D/tree/sub dir/é.txt"

check "mb" aws s3 mb "s3://$B"
check "mb second bucket" aws s3 mb "s3://$B2"

check "cp 200 MiB (multipart, 8 MiB parts)" aws s3 cp "$D/big200" "s3://$B/big200"
# The multipart ETag is md5 of the parts' MD5s, which the gateway computed from the bytes it
# received: equal to the one computed here, it proves all 25 parts arrived intact without a
# 200 MiB download (test_aws.sh reads large objects back).
want_etag=$("$PY" -c '
import hashlib, sys
ms = b""; n = 0
with open(sys.argv[1], "rb") as f:
    while True:
        c = f.read(8 << 20)
        if not c:
            break
        ms += hashlib.md5(c).digest(); n += 1
print("%s-%d" % (hashlib.md5(ms).hexdigest(), n))' "$D/big200")
check "200 MiB ETag is md5 of its 25 part MD5s ($want_etag)" bash -c \
    "aws s3api head-object --bucket $B --key big200 --query ETag --output text | grep -qx '\"*$want_etag\"*'"
check "a range of the 200 MiB object reads back identical" bash -c \
    "aws s3api get-object --bucket $B --key big200 --range bytes=104857000-104858999 '$D/down/r' >/dev/null &&
     tail -c +104857001 '$D/big200' | head -c 2000 | cmp - '$D/down/r'"

check "cp 50 MiB" aws s3 cp "$D/f50" "s3://$B/f50"
check "tag the 50 MiB object" aws s3api put-object-tagging --bucket $B --key f50 \
    --tagging 'TagSet=[{Key=project,Value=tgs3 compat},{Key=n,Value=1}]'
docs_before=$(emu_docs)
check "s3->s3 cp of 50 MiB (UploadPartCopy)" aws s3 cp "s3://$B/f50" "s3://$B2/copied/f50"
docs_after=$(emu_docs)
check "the copy uploaded no block ($docs_before -> $docs_after documents)" test "$docs_before" -eq "$docs_after"
check "the copy carries the source's tags (GetObjectTagging → x-amz-tagging)" bash -c \
    "aws s3api get-object-tagging --bucket $B2 --key copied/f50 --output json | tr -d ' \n' |
     grep -q '{\"Key\":\"project\",\"Value\":\"tgs3compat\"}'"
check "copied 50 MiB reads back identical" bash -c "aws s3 cp s3://$B2/copied/f50 - | cmp - '$D/f50'"
check "copy survives removal of its source" bash -c \
    "aws s3 rm s3://$B/f50 && aws s3 cp s3://$B2/copied/f50 - | cmp - '$D/f50'"
check "small s3->s3 cp (CopyObject) keeps content type" bash -c "
    aws s3 cp --content-type text/x-mine '$D/tree/file1' s3://$B/small &&
    aws s3 cp s3://$B/small s3://$B2/small &&
    aws s3api head-object --bucket $B2 --key small --query ContentType --output text | grep -qx text/x-mine"

check "sync a tree up" aws s3 sync "$D/tree" "s3://$B/tree"
check "ls --recursive lists the tree" bash -c "[ \$(aws s3 ls --recursive s3://$B/tree/ | wc -l) -eq 7 ]"
check "sync again uploads nothing" bash -c "[ -z \"\$(aws s3 sync '$D/tree' s3://$B/tree)\" ]"
check "sync down is identical" bash -c "aws s3 sync s3://$B/tree '$D/down/tree' && diff -r '$D/tree' '$D/down/tree'"
printf 'changed\n' >"$D/tree/file1"
check "sync uploads a changed file" bash -c "aws s3 sync '$D/tree' s3://$B/tree | grep -q 'upload:.*file1'"

check "mv within the store" bash -c "aws s3 mv s3://$B/tree/file2 s3://$B/moved/file2 &&
    ! aws s3api head-object --bucket $B --key tree/file2 >/dev/null 2>&1 &&
    aws s3 cp s3://$B/moved/file2 - | cmp - '$D/tree/file2'"
check "mv a local file up" bash -c "cp '$D/tree/file3' '$D/mvme' && aws s3 mv '$D/mvme' s3://$B/mvme && [ ! -e '$D/mvme' ]"

url=$(aws s3 presign "s3://$B/tree/file4" --expires-in 600)
check "presign + curl GET" bash -c "curl -sSf '$url' | cmp - '$D/tree/file4'"
# The last hex digit of the signature changed (to 1 when it is 0: never the same URL).
last=${url: -1}
if [ "$last" = 0 ]; then bad=1; else bad=0; fi
check "presigned URL with a bad signature is refused" bash -c \
    "curl -s '${url%?}$bad' | grep -q SignatureDoesNotMatch"

check "rm --recursive" aws s3 rm --recursive --only-show-errors "s3://$B"
check "ls --recursive is empty" bash -c "[ -z \"\$(aws s3 ls --recursive s3://$B)\" ]"
check "rb --force" aws s3 rb --force "s3://$B2"
check "rb" aws s3 rb "s3://$B"
finish

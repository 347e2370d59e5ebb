#!/bin/bash
# test_compat_keys.sh — awkward keys (space, +, &, %, é, //, trailing /, 1024 bytes) written,
# listed, read and deleted by each client: aws (s3 and s3api), rclone, s3cmd, boto3. The listing
# must show exactly the key the client meant (checked through boto3, byte for byte).
#
# Client limits, not server ones, and so skipped with a note: rclone's paths cannot hold an
# empty segment or a trailing '/' (it rewrites "a//b" to "a/b" and takes "x/" for a directory);
# s3cmd and `aws s3 cp` treat a destination ending in '/' as a directory (s3api is used instead).
set -u
. "$(dirname "$0")/lib.sh"

B=keys-bucket
F=$TEST_TMP/payload
printf 'payload of an awkward key\n' >"$F"
seg=$(printf 'd%.0s' {1..99})
LONG="$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$(printf 'x%.0s' {1..24})" # 1024 bytes
KEYS=("with space.txt" "plus+sign.bin" "a&b=c.txt" "100% sure.txt" $'caf\xc3\xa9/r\xc3\xa9sum\xc3\xa9.txt' "double//slash.txt" "trailing/" "$LONG")

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish
check "mb" aws s3 mb "s3://$B"

# listed PREFIX KEY... — the bucket holds exactly these keys under PREFIX.
listed() {
    local prefix=$1
    shift
    "$PY" - "$S3_URL" "$B" "$prefix" "$@" <<'PY'
import sys, boto3
url, bucket, prefix, want = sys.argv[1], sys.argv[2], sys.argv[3], sorted(sys.argv[4:])
import os
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id=os.environ["TGS3_AK"], aws_secret_access_key=os.environ["TGS3_SK"])
got = sorted(o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix=prefix)
             for o in p.get("Contents", []))
if got != want:
    print("listed:", got, "\nwanted:", want)
    sys.exit(1)
PY
}

# client_round_trip CLIENT PREFIX — each key under PREFIX: put, listed exactly, read back, deleted.
client_round_trip() {
    local c=$1 p=$2 k key out=$TEST_TMP/back keys=()
    for k in "${KEYS[@]}"; do
        key=$p$k
        [ "$k" = "$LONG" ] && key=$p${LONG:${#p}} # still 1024 bytes with the prefix
        case $c:$k in
        rclone:*//* | rclone:*/) echo "skip rclone '$k' (rclone paths cannot express it)"; continue ;;
        s3cmd:*/) echo "skip s3cmd '$k' (s3cmd takes a trailing / for a directory)"; continue ;;
        esac
        keys+=("$key")
        case $c in
        aws) if [ "${k: -1}" = / ]; then aws s3api put-object --bucket $B --key "$key" --body "$F" >/dev/null
             else aws s3 cp --only-show-errors "$F" "s3://$B/$key"; fi ;;
        rclone) rclone copyto "$F" "tgs3:$B/$key" ;;
        s3cmd) s3cmd put -q "$F" "s3://$B/$key" ;;
        esac || { echo "put '$key' failed"; return 1; }
    done
    listed "$p" "${keys[@]}" || return 1
    for key in "${keys[@]}"; do
        rm -f "$out"
        case $c in
        aws) aws s3api get-object --bucket $B --key "$key" "$out" >/dev/null ;;
        rclone) rclone cat "tgs3:$B/$key" >"$out" ;;
        s3cmd) s3cmd get -q --force "s3://$B/$key" "$out" ;;
        esac && cmp "$F" "$out" || { echo "read of '$key' failed"; return 1; }
    done
    # One recursive delete per client (each deletes key by key, s3cmd through DeleteObjects).
    case $c in
    aws) aws s3 rm --recursive --only-show-errors "s3://$B/$p" ;;
    rclone) rclone delete "tgs3:$B/${p%/}" ;;
    s3cmd) s3cmd del -q --recursive --force "s3://$B/$p" ;;
    esac || { echo "delete under '$p' failed"; return 1; }
    listed "$p"
}

for c in aws rclone s3cmd; do
    check "$c: awkward keys round-trip" client_round_trip "$c" "$c/"
done

boto3_round_trip() {
    "$PY" - "$S3_URL" "$B" "${KEYS[@]}" "$(printf 'k%.0s' {1..1024})" <<'PY'
import os, sys, boto3
url, bucket = sys.argv[1], sys.argv[2]
keys = ["boto3/" + k[6:] if len(k.encode()) == 1024 else "boto3/" + k for k in sys.argv[3:-1]] + [sys.argv[-1]]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id=os.environ["TGS3_AK"], aws_secret_access_key=os.environ["TGS3_SK"])
for k in keys:
    assert len(k.encode()) <= 1024
    s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
got = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
assert got == sorted(keys), (got, keys)
for k in keys:
    assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k
    s3.head_object(Bucket=bucket, Key=k)
    s3.delete_object(Bucket=bucket, Key=k)
assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
PY
}
check "boto3: awkward keys and a flat 1024-byte key round-trip" boto3_round_trip
check "a 1025-byte key is refused (KeyTooLongError)" bash -c \
    "aws s3api put-object --bucket $B --key \"\$(printf 'k%.0s' {1..1025})\" --body '$F' 2>&1 | grep -q KeyTooLongError"
check "rb" aws s3 rb "s3://$B"
finish

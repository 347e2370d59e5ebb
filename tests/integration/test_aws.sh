#!/bin/bash
# test_aws.sh — awscli 2 end to end: buckets, objects from 0 B to 100 MiB (single and
# multipart), one block per part, a restart of both processes, awkward keys, prefixes with
# a delimiter, removal.
set -u
. "$(dirname "$0")/lib.sh"

B=aws-bucket
D=$TEST_TMP/data
mkdir -p "$D/down"

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

rand_file "$D/f0" 0
rand_file "$D/f1" 1
rand_file "$D/f5m" 5M
rand_file "$D/f40m" 40M
rand_file "$D/f100m" 100M
printf 'small object with an awkward key\n' >"$D/odd"

check "mb" aws s3 mb "s3://$B"
check "ls shows the bucket" bash -c 'aws s3 ls | grep -q " aws-bucket$"'

# round_trip NAME — cp up, ls shows the exact size, cp down, byte-identical.
up_down() {
    local n=$1 size got
    aws s3 cp "$D/$n" "s3://$B/$n" || return 1
    size=$(stat -c %s "$D/$n")
    got=$(aws s3 ls "s3://$B/$n" | awk '{ print $3 }')
    [ "$got" = "$size" ] || { echo "ls size '$got', want $size"; return 1; }
    rm -f "$D/down/$n"
    aws s3 cp "s3://$B/$n" "$D/down/$n" || return 1
    cmp "$D/$n" "$D/down/$n"
}
for n in f0 f1 f5m; do
    check "cp up/down $n" up_down "$n"
done

# 100 MiB in 16 MiB parts: 7 parts, each exactly one block, so 7 new documents.
cat >"$TEST_TMP/aws-config-16m" <<CONF
[default]
region = us-east-1
s3 =
  multipart_chunksize = 16MB
  multipart_threshold = 16MB
CONF
docs_before=$(emu_docs)
AWS_CONFIG_DEFAULT=$AWS_CONFIG_FILE
export AWS_CONFIG_FILE=$TEST_TMP/aws-config-16m
check "cp up/down f100m in 16 MiB parts" up_down f100m
export AWS_CONFIG_FILE=$AWS_CONFIG_DEFAULT
docs_after=$(emu_docs)
check "f100m became 7 documents ($docs_before -> $docs_after)" test "$((docs_after - docs_before))" -eq 7

check "cp up/down f40m in default 8 MiB parts" up_down f40m
check "f40m has a multipart ETag" bash -c "aws s3api head-object --bucket $B --key f40m --query ETag --output text | grep -q -- '-5\"*\$'"
check "f5m has the MD5 as ETag" bash -c "aws s3api head-object --bucket $B --key f5m --query ETag --output text | tr -d '\"' | grep -qx \$(md5sum <'$D/f5m' | cut -d' ' -f1)"

# Awkward keys: spaces, plus, ampersand, percent, non-ASCII.
KEYS=("dir one/with space.txt" "plus+sign.txt" "a&b=c.txt" "100%25 %.txt" $'caf\xc3\xa9/r\xc3\xa9sum\xc3\xa9.txt' "tilde~star*(x) 'q'.txt")
odd_key() {
    local k=$1
    aws s3 cp "$D/odd" "s3://$B/$k" || return 1
    aws s3api list-objects-v2 --bucket "$B" --prefix "$k" --query 'Contents[].Key' --output json >"$TEST_TMP/keys.json" || return 1
    "$PY" -c 'import json,sys; ks=json.load(open(sys.argv[1])); assert ks == [sys.argv[2]], ks' "$TEST_TMP/keys.json" "$k" || return 1
    rm -f "$D/down/odd"
    aws s3 cp "s3://$B/$k" "$D/down/odd" || return 1
    cmp "$D/odd" "$D/down/odd" || return 1
    aws s3api head-object --bucket "$B" --key "$k" >/dev/null
}
for k in "${KEYS[@]}"; do
    check "awkward key '$k' round-trips" odd_key "$k"
done

# Prefixes with a delimiter.
for k in tree/a/1 tree/a/2 tree/b/c/3 tree/top; do
    aws s3 cp "$D/f1" "s3://$B/$k" >/dev/null 2>&1
done
check "ls with delimiter shows PRE a/ and PRE b/" bash -c "
    out=\$(aws s3 ls s3://$B/tree/) || exit 1
    echo \"\$out\"
    echo \"\$out\" | grep -qE '^ +PRE a/\$' && echo \"\$out\" | grep -qE '^ +PRE b/\$' &&
    echo \"\$out\" | grep -qE ' 1 top\$' && [ \$(echo \"\$out\" | wc -l) -eq 3 ]"
check "recursive ls of the prefix lists 4 keys" bash -c "[ \$(aws s3 ls --recursive s3://$B/tree/ | wc -l) -eq 4 ]"

# Restart both processes on the same state; everything must read back identical.
verify_all() {
    local n k bad=0
    for n in f0 f1 f5m f40m f100m; do
        rm -f "$D/down/$n"
        aws s3 cp "s3://$B/$n" "$D/down/$n" && cmp "$D/$n" "$D/down/$n" || { echo "object $n differs"; bad=1; }
    done
    for k in "${KEYS[@]}"; do
            rm -f "$D/down/odd"
        aws s3 cp "s3://$B/$k" "$D/down/odd" && cmp "$D/odd" "$D/down/odd" || { echo "object '$k' differs"; bad=1; }
    done
    return $bad
}
stop_gateway
stop_emulator
check "emulator restarts on the same dir" start_emulator --local || finish
check "gateway restarts on the same dir" start_gateway || finish
check "every object reads back identical after the restart" verify_all
check "ls after the restart" bash -c "aws s3 ls s3://$B/ | grep -q ' f100m\$'"

# Removal.
check "rm one object" aws s3 rm "s3://$B/f5m"
check "removed object is gone" bash -c "! aws s3api head-object --bucket $B --key f5m 2>/dev/null"
check "rb of a non-empty bucket fails" bash -c "! aws s3 rb s3://$B"
check "rm --recursive" aws s3 rm --recursive --only-show-errors "s3://$B"
check "bucket is empty" bash -c "[ -z \"\$(aws s3 ls --recursive s3://$B/)\" ]"
check "rb" aws s3 rb "s3://$B"
check "bucket is gone" bash -c "! aws s3 ls | grep -q ' $B\$'"

finish

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

# Awkward keys: spaces, plus, ampersand, percent, non-ASCII, quotes; each file's content
# differs, so a key mix-up shows. One object goes up on its own, the rest recursively.
KEYS=("dir one/with space.txt" "plus+sign.txt" "a&b=c.txt" "100%25 %.txt" $'caf\xc3\xa9/r\xc3\xa9sum\xc3\xa9.txt' "tilde~star*(x) 'q'.txt")
for k in "${KEYS[@]}"; do
    mkdir -p "$(dirname "$D/odd/$k")"
    printf 'object under the key %s\n' "$k" >"$D/odd/$k"
done
odd_listing() {
    aws s3api list-objects-v2 --bucket "$B" --prefix odd/ --query 'Contents[].Key' --output json >"$TEST_TMP/keys.json" || return 1
    "$PY" -c '
import json, sys
got = sorted(json.load(open(sys.argv[1])))
want = sorted("odd/" + k for k in sys.argv[2:])
print("listed:", got)
assert got == want, "want %r" % want' "$TEST_TMP/keys.json" "${KEYS[@]}"
}
k1=${KEYS[1]}
check "single cp of the key '$k1' round-trips" bash -c "
    aws s3 cp '$D/odd/$k1' 's3://$B/odd/$k1' && aws s3api head-object --bucket $B --key 'odd/$k1' &&
    aws s3 cp 's3://$B/odd/$k1' '$D/down/one' && cmp '$D/odd/$k1' '$D/down/one'"
check "cp --recursive of awkward keys" aws s3 cp --recursive "$D/odd" "s3://$B/odd"
check "listing shows every awkward key exactly" odd_listing
check "awkward keys read back identical" bash -c "aws s3 cp --recursive s3://$B/odd '$D/down/odd' && diff -r '$D/odd' '$D/down/odd'"

# Prefixes with a delimiter.
for k in tree/a/1 tree/a/2 tree/b/c/3 tree/top; do
    mkdir -p "$(dirname "$D/$k")"
    cp "$D/f1" "$D/$k"
done
check "cp --recursive of a tree" aws s3 cp --recursive "$D/tree" "s3://$B/tree"
check "ls with delimiter shows PRE a/ and PRE b/" bash -c "
    out=\$(aws s3 ls s3://$B/tree/) || exit 1
    echo \"\$out\"
    echo \"\$out\" | grep -qE '^ +PRE a/\$' && echo \"\$out\" | grep -qE '^ +PRE b/\$' &&
    echo \"\$out\" | grep -qE ' 1 top\$' && [ \$(echo \"\$out\" | wc -l) -eq 3 ]"
check "recursive ls of the prefix lists 4 keys" bash -c "[ \$(aws s3 ls --recursive s3://$B/tree/ | wc -l) -eq 4 ]"

# Restart both processes on the same state; everything must read back identical.
verify_all() {
    local n bad=0
    rm -rf "$D/after"
    aws s3 cp --recursive "s3://$B" "$D/after" || return 1
    for n in f0 f1 f5m f40m f100m; do
        cmp "$D/$n" "$D/after/$n" || bad=1
    done
    diff -r "$D/odd" "$D/after/odd" || bad=1
    [ "$(find "$D/after" -type f | wc -l)" -eq $((5 + ${#KEYS[@]} + 4)) ] || { echo "object count differs"; bad=1; }
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

#!/bin/bash
# test_versioning.sh — S3 versioning against a model of every version (tests/integration/versioning.py):
# 100 keys overwritten and deleted through boto3, the aws CLI and rclone (sizes from 0 B to several
# blocks, multipart, CopyObject), every version read back by its id; each key restored to an earlier
# version (CopyObject ?versionId); ListObjectVersions exactly (order, IsLatest, markers, ETag, Size),
# paged by 1, 7 and 1000, with prefix and delimiter; delete markers (404/405 with x-amz-delete-marker,
# NoSuchVersion); a suspended bucket's null versions; tagging and ACLs of a version; rclone
# --s3-versions / --s3-version-at; blocks freed only when no version holds them; fsck clean.
set -u
. "$(dirname "$0")/lib.sh"

B=vbucket
G=vgc
MB=1048576
export GW_BLOCK_SIZE=$MB # 1 MiB blocks: objects of a few MiB span blocks
GW_ARGS=(--gc-grace 1 --gc-interval 1 --pack-delay 300)
SEED=${VERSIONING_SEED:-$RANDOM}
say "seed $SEED (VERSIONING_SEED)"

# vpy PHASE ARGS — a phase of the model (its checks print their own ok/not ok lines; the status counts once).
vpy() { "$PY" "$TGS3_ROOT/tests/integration/versioning.py" "$@"; }
# phase NAME PHASE ARGS — one check per phase, with every line it printed.
phase() {
    local name=$1 out=$TEST_TMP/phase.out
    shift
    vpy "$@" >"$out" 2>&1
    local rc=$?
    grep -E '^(ok|not ok|#)' "$out" | sed 's/^/#   /'
    [ $rc = 0 ] || tail -n 5 "$out" | grep -vE '^(ok|not ok|#)' | sed 's/^/#   /'
    check "$name" test $rc = 0
}

tool() {
    local cmd=$1
    shift
    "$BUILD/tgs3" "$cmd" --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --chat-id "$CHAT_ID" --mode local --admin-listen off "$@"
}

# settled — waits until the emulator's message count stays the same for 2 s (packs posted, GC done).
settled() {
    local a b same=0 i=0
    b=$(emu_docs)
    while [ $i -lt 60 ] && [ $same -lt 2 ]; do
        sleep 1
        a=$(emu_docs)
        if [ "$a" = "$b" ]; then same=$((same + 1)); else same=0; fi
        b=$a
        i=$((i + 1))
    done
    [ $same -ge 2 ]
}

# wait_docs N SECONDS — waits until the emulator holds N messages.
wait_docs() {
    local want=$1 i=0 got
    while [ $i -lt $(($2 * 5)) ]; do
        got=$(emu_docs)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    echo "messages: $got, expected $want"
    return 1
}

# vids BUCKET KEY — the key's version ids (delete markers too) as listed, newest first.
vids() { vpy lsv "$1" "$2"; }
export TGS3_ROOT
export -f vids vpy

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway "${GW_ARGS[@]}" || finish
check "create-bucket" aws s3api create-bucket --bucket "$B"

section "before versioning"
check "GetBucketVersioning of a bucket never versioned has no Status" bash -c \
    "[ -z \"\$(aws s3api get-bucket-versioning --bucket $B --output text)\" ]"
phase "objects written before versioning (model: version null)" setup "$B"

section "enabled: 100 keys through boto3, the aws CLI and rclone"
check "put-bucket-versioning Enabled" aws s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Enabled
check "get-bucket-versioning: Enabled" bash -c \
    "[ \"\$(aws s3api get-bucket-versioning --bucket $B --query Status --output text)\" = Enabled ]"
phase "100 keys: histories of PUT, CopyObject, DELETE, DELETE ?versionId" workload "$B" "$SEED"
phase "8 clients at once on one key" race "$B"
rand_file "$TEST_TMP/big20.bin" 20M
phase "aws s3 cp of 20 MiB (multipart) makes a version" multipart "$B" "$TEST_TMP/big20.bin" big/mp.bin
docs=$(emu_docs)
phase "the same 20 MiB again: a second version" multipart "$B" "$TEST_TMP/big20.bin" big/mp.bin
check "the second upload of the same bytes posted no new block ($docs -> $(emu_docs) messages)" \
    test "$(emu_docs)" -le $((docs + 1))
for n in 1 2 3; do
    phase "rclone round $n (copyto; deletefile in round 3)" rclone "$B" "round$n"
    [ $n = 3 ] || sleep 2 # versions a second apart: rclone names them by time
done
phase "rclone --s3-versions and --s3-version-at" rclone "$B" check

section "the model: listing, every version, restores"
phase "ListObjectVersions = the model (whole, paged, prefix, delimiter, markers)" list "$B"
phase "every version reads back by its id" readall "$B"
phase "every key restored to an earlier version (CopyObject ?versionId, aws CLI and boto3)" restore "$B" "$SEED"
phase "ListObjectVersions = the model after the restores" list "$B" quick

section "delete markers"
phase "GET/HEAD/DELETE around delete markers" markers "$B"

section "suspended"
check "put-bucket-versioning Suspended" aws s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Suspended
phase "null versions in a suspended bucket" suspended "$B"
phase "ListObjectVersions = the model while suspended" list "$B" quick
check "put-bucket-versioning Enabled again" aws s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Enabled
phase "enabled again: the null version stays noncurrent" reenabled "$B"

section "tagging and ACLs of a version"
phase "tagging (aws CLI) and ACL (boto3) by versionId" tagging "$B"
phase "the final listing = the model" list "$B"
phase "every version reads back by its id at the end" readall "$B"

section "blocks: freed when no version holds them"
check "create-bucket $G" aws s3api create-bucket --bucket "$G"
check "enable versioning on $G" aws s3api put-bucket-versioning --bucket "$G" --versioning-configuration Status=Enabled
for i in 1 2 3 4; do rand_file "$TEST_TMP/x$i.bin" 2M; done # two blocks each
settled
base=$(emu_docs)
for i in 1 2 3; do aws s3 cp --only-show-errors "$TEST_TMP/x$i.bin" "s3://$G/gc/a"; done
aws s3 cp --only-show-errors "$TEST_TMP/x1.bin" "s3://$G/gc/b" # the bytes of gc/a's first version
check "three versions of 2 MiB and a copy of the first: 6 new blocks" wait_docs $((base + 6)) 20
check "a delete marker frees nothing" aws s3 rm --only-show-errors "s3://$G/gc/a"
sleep 3
check "… 3 s later (grace 1 s) the 6 blocks are still there" test "$(emu_docs)" = $((base + 6))
A_VIDS=$(vids "$G" gc/a)
check "gc/a has 4 versions (3 and the marker): $A_VIDS" test "$(echo "$A_VIDS" | wc -w)" = 4
for v in $A_VIDS; do aws s3api delete-object --bucket "$G" --key gc/a --version-id "$v" >/dev/null; done
check "gc/a has no version left" test -z "$(vids "$G" gc/a)"
check "deleting every version of gc/a frees its blocks but the 2 gc/b shares" wait_docs $((base + 2)) 20
check "gc/b still reads back identical" bash -c "aws s3 cp --only-show-errors s3://$G/gc/b '$TEST_TMP/gcb.bin' && cmp '$TEST_TMP/x1.bin' '$TEST_TMP/gcb.bin'"
check "deleting gc/b's only version frees the rest" bash -c "aws s3api delete-object --bucket $G --key gc/b --version-id \$(vids $G gc/b) >/dev/null"
check "… back to the messages before" wait_docs "$base" 20
aws s3 cp --only-show-errors "$TEST_TMP/x4.bin" "s3://$G/gc/c"
aws s3 cp --only-show-errors "$TEST_TMP/x4.bin" "s3://$G/gc/c"
C_VIDS=$(vids "$G" gc/c)
check "the same bytes twice in one key: two versions ($C_VIDS)" test "$(echo "$C_VIDS" | wc -w)" = 2
check "… sharing one set of blocks" wait_docs $((base + 2)) 10
aws s3api delete-object --bucket "$G" --key gc/c --version-id "${C_VIDS#* }" >/dev/null
sleep 3
check "deleting the older one frees nothing" test "$(emu_docs)" = $((base + 2))
check "the newer one reads back identical" bash -c "aws s3api get-object --bucket $G --key gc/c --version-id ${C_VIDS%% *} '$TEST_TMP/gcc.bin' >/dev/null && cmp '$TEST_TMP/x4.bin' '$TEST_TMP/gcc.bin'"
aws s3api delete-object --bucket "$G" --key gc/c --version-id "${C_VIDS%% *}" >/dev/null
check "deleting the last version frees the blocks" wait_docs "$base" 20

section "fsck"
stop_gateway
tool fsck >"$TEST_TMP/fsck.out" 2>&1
rc=$?
tail -n 2 "$TEST_TMP/fsck.out" | sed 's/^/# /'
check "tgs3 fsck is clean after all of it" test "$rc" = 0
finish

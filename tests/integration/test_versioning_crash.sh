#!/bin/bash
# test_versioning_crash.sh — kill -9 during versioned writes and deletes. Each round a writer
# (versioning.py crash-writer: 3 threads of PUTs, deletes making markers, deletes of a version and
# CopyObjects of a version, each logged before it is sent and after its answer) runs in a versioned
# bucket while the gateway is killed at a random moment; then fsck must be clean and, after a
# restart, every acknowledged version is listed and byte-identical, nothing is half-visible (a
# version lists and reads, or neither), each key has exactly one IsLatest (versioning.py crash-check).
set -u
. "$(dirname "$0")/lib.sh"

B=vcrash
ROUNDS=${VCRASH_ROUNDS:-10}
SEED=${VCRASH_SEED:-$RANDOM}
export GW_BLOCK_SIZE=262144 # the writer's larger objects (300-700 KB) span blocks
GW_ARGS=(--gc-grace 2 --gc-interval 1 --pack-delay 300 --stray-probe-delay 200)
LOG=$TEST_TMP/ops.jsonl
say "seed $SEED (VCRASH_SEED), $ROUNDS rounds (VCRASH_ROUNDS)"

vcr() { "$PY" "$TGS3_ROOT/tests/integration/versioning_crash.py" "$@"; }
tool() {
    local cmd=$1
    shift
    "$BUILD/tgs3" "$cmd" --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --chat-id "$CHAT_ID" --mode local --admin-listen off "$@"
}
acks() { grep -c '"t": "ack"' "$LOG" 2>/dev/null; }

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway "${GW_ARGS[@]}" || finish
check "create-bucket" aws s3api create-bucket --bucket "$B"
check "put-bucket-versioning Enabled" aws s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Enabled

for round in $(seq 1 "$ROUNDS"); do
    section "round $round"
    : >"$LOG"
    vcr writer "$B" "$LOG" "$SEED$round" 3 >"$TEST_TMP/writer.out" 2>&1 &
    WPID=$!
    # the kill: once some ops are acknowledged, at a random moment within the next 1.5 s
    for _ in $(seq 1 100); do [ "$(acks)" -ge $((3 + RANDOM % 20)) ] && break; sleep 0.1; done
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
    kill -9 "$GW_PID" 2>/dev/null
    wait "$GW_PID" 2>/dev/null
    GW_PID=
    for _ in $(seq 1 100); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
    kill "$WPID" 2>/dev/null # the writer stops by itself on a refused connection; never left behind
    wait "$WPID" 2>/dev/null
    tool fsck >"$TEST_TMP/fsck.out" 2>&1
    frc=$?
    check "round $round: fsck clean after the kill" test "$frc" = 0 || tail -n 3 "$TEST_TMP/fsck.out" | sed 's/^/#   /'
    check "round $round: gateway restarts" start_gateway "${GW_ARGS[@]}" || finish
    vcr check "$B" "$LOG" "$round" >"$TEST_TMP/cc.out" 2>&1
    rc=$?
    grep -E '^#' "$TEST_TMP/cc.out"
    check "round $round: acknowledged versions present and identical, none half-visible, one IsLatest per key" test $rc = 0 ||
        grep -vE '^# round' "$TEST_TMP/cc.out" | head -n 14 | sed 's/^/#   /'
done

stop_gateway
tool fsck >"$TEST_TMP/fsck.out" 2>&1
rc=$?
tail -n 1 "$TEST_TMP/fsck.out" | sed 's/^/# /'
check "fsck is clean after $ROUNDS rounds and a clean stop" test "$rc" = 0
finish

#!/usr/bin/env bash
# test_upgrade.sh — blocks stored as one document (--redundancy none) upgraded to stripes by the scrub.
#
# 4 channels, 64 KiB blocks, packing on. Under --redundancy none aws uploads objects from 0 B to
# multipart sizes and 50 small ones (in packs): every block is one document. tgs3 scrub with
# --redundancy none changes nothing; beside a running gateway it only verifies. Then with the
# default layout (auto: 2 data + 1 parity with 4 channels):
# 1. tgs3 scrub is killed with SIGKILL in the middle of the upgrade: no stripe is left half
#    recorded; a second tgs3 scrub upgrades every block left and says how many; every block is a
#    whole stripe in 3 channels, the old messages are queued for deletion. The gateway starts
#    (its sweep and stray probe settle the killed run's posts), GC deletes the old messages: the
#    emulator then holds exactly the shards the index names. Every object reads back identical
#    (cache off); fsck is clean.
# 2. More objects under --redundancy none, then the gateway's background scrub upgrades them; the
#    gateway is killed with SIGKILL during the upgrade and started again: it resumes, /metrics
#    counts the upgraded blocks and no unprotected one is left, nothing is lost, fsck is clean.
# 3. One channel banned: everything still reads back identical.
set -u
. "$(dirname "$0")/lib.sh"

# 4 channels (auto: 2 + 1, one spare), 2 bots; every run kills at random moments (seed).
SEED=${TGS3_UPGRADE_SEED:-$RANDOM}
RANDOM=$SEED
TOKEN2=223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
MORE=(-1001000000002 -1001000000003 -1001000000004)
C3=${MORE[1]}
CHATS=(--chat-id "$CHAT_ID")
for c in "${MORE[@]}"; do CHATS+=(--chat-id "$c"); done
GW_ARGS=(--block-size 64K --cache-size 0 --pack-threshold 32K --pack-delay 200 --snapshot-interval 0
    --bot-token "$TOKEN2" "${CHATS[@]:2}" --gc-grace 0 --gc-interval 1 --stray-probe-delay 300)
NONE=(--redundancy none)
cat >>"$AWS_CONFIG_FILE" <<CONF
s3 =
  multipart_threshold = 5MB
  multipart_chunksize = 5MB
CONF

# tool CMD [ARGS] — a tgs3 sub-command on the gateway's data dir, emulator and channels (TOOL_OPTS,
# set once both run).
tool() { "$BUILD/tgs3" "$1" "${TOOL_OPTS[@]}" "${@:2}"; }
blocks() { index "SELECT COUNT(*) FROM blocks WHERE chat_id != 0"; }
unstriped() { index "SELECT COUNT(*) FROM blocks b WHERE chat_id != 0 AND NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id)"; }
# not_whole — stripes that are not 2 + 1 in 3 different channels.
not_whole() { index "SELECT COUNT(*) FROM stripes p WHERE k != 2 OR m != 1 OR (SELECT COUNT(DISTINCT chat_id) FROM shards s WHERE s.block_id = p.block_id) != 3"; }
# half — stripes recorded with fewer shards than K + M (an upgrade swaps in whole stripes only).
half() { index "SELECT COUNT(*) FROM stripes p WHERE (SELECT COUNT(*) FROM shards s WHERE s.block_id = p.block_id) != p.k + p.m"; }
messages() { emu_stats | "$PY" -c 'import json,sys; print(sum(c["messages"] for c in json.load(sys.stdin)["chats"].values()))'; }
# settled — the journal empty, the delete queue run, and the emulator holding exactly the shards the index names.
settled() {
    local j q m n
    j=$(index 'SELECT COUNT(*) FROM inflight')
    q=$(index 'SELECT COUNT(*) FROM gc_queue')
    m=$(messages)
    n=$(index 'SELECT COUNT(*) FROM shards')
    [ "$j $q $m" = "0 0 $n" ] || { echo "journal $j, delete queue $q, $m messages in the emulator, $n shards in the index"; false; }
}
# reads_back DIR PREFIX — every object under s3://upg/PREFIX read into a new directory, identical to DIR.
reads_back() {
    local to
    to=$(mktemp -d "$TEST_TMP/back.XXXXXX")
    aws s3 cp --recursive --only-show-errors "s3://upg/$2" "$to" && diff -r "$1" "$to"
}
# mkset DIR SEED — objects of mixed sizes (empty to multipart) and 50 small ones for the packs.
mkset() {
    "$PY" - "$1" "$2" <<'PY'
import os, random, sys
d, seed = sys.argv[1], int(sys.argv[2])
r = random.Random(seed)
os.makedirs(os.path.join(d, "small"), exist_ok=True)
for i, n in enumerate([0, 1, 40000, 65535, 65536, 65537, 300000, 1100000, 6 * 1048576 + 5]):
    with open(os.path.join(d, "o%02d" % i), "wb") as f:
        f.write(r.randbytes(n))
for i in range(50):
    with open(os.path.join(d, "small", "s%02d" % i), "wb") as f:
        f.write(r.randbytes(1 + (i * 7919) % 20000))
PY
}
unposted() { [ "$(index 'SELECT COUNT(*) FROM blocks WHERE chat_id = 0')" = 0 ]; }

section "4 channels, 2 bots, --redundancy none; seed $SEED"
start_emulator --local $(printf -- '--chat %s ' "${MORE[@]}") --latency-ms 5
start_gateway "${GW_ARGS[@]}" "${NONE[@]}"
TOOL_OPTS=(--data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" --bot-token "$TOKEN2" "${CHATS[@]}"
    --mode local --admin-listen off --gc-grace 0 --rate-pair-per-min 60000 --rate-bot-per-sec 1000)
mkset "$TEST_TMP/a" 1
check "create the bucket" aws s3 mb s3://upg
check "aws uploads a mixed set and 50 small objects" aws s3 cp --recursive --only-show-errors "$TEST_TMP/a" s3://upg/a/
check "every pack is posted" wait_until 30 unposted
check "the small objects went into packs" test "$(index "SELECT COUNT(DISTINCT e.block_id) FROM extents e JOIN objects o ON o.id = e.object_id WHERE o.key LIKE 'a/small/%'")" -lt 20
n_a=$(blocks)
check "they fill $n_a blocks" test "$n_a" -gt 20
check "every one of the $n_a blocks is one document, one message each" test "$(unstriped) $(index 'SELECT COUNT(*) FROM stripes') $(messages)" = "$n_a 0 $n_a"
# scrubbed OUT RC PATTERN — tgs3 scrub exited RC and its summary line in OUT matches PATTERN (grep).
scrubbed() { [ "$2" = "$(cat "$1.rc")" ] && grep -q "$3" "$1" || { echo "exit $(cat "$1.rc")"; tail -3 "$1"; false; }; }
tool scrub >"$TEST_TMP/beside.out" 2>&1
echo $? >"$TEST_TMP/beside.out.rc"
check "tgs3 scrub beside the running gateway verifies every block, upgrades none" scrubbed "$TEST_TMP/beside.out" 0 "$n_a documents verified.* 0 block(s) upgraded; clean"
check "and leaves them one document each" test "$(unstriped)" = "$n_a"
stop_gateway
tool scrub "${NONE[@]}" >"$TEST_TMP/none.out" 2>&1
echo $? >"$TEST_TMP/none.out.rc"
check "tgs3 scrub --redundancy none upgrades nothing" scrubbed "$TEST_TMP/none.out" 0 "$n_a blocks checked, $n_a documents verified.* 0 block(s) upgraded; clean"
check "every block is still one document" test "$(unstriped)" = "$n_a"

section "tgs3 scrub upgrades to 2 + 1; killed in the middle"
"$BUILD/tgs3" scrub "${TOOL_OPTS[@]}" >"$TEST_TMP/scrub0.out" 2>&1 &
scrub_pid=$!
started() { [ "$(index 'SELECT COUNT(*) FROM stripes')" -gt 0 ]; }
wait_until 60 started
sleep "0.$((RANDOM % 4))"
kill -KILL "$scrub_pid" 2>/dev/null
wait "$scrub_pid" 2>/dev/null
left=$(unstriped)
section "killed with $left of $n_a blocks left to upgrade"
check "no stripe is recorded with fewer than its 3 shards" test "$(half)" = 0
check "the killed scrub upgraded some blocks, not all" test "$left" -gt 0 -a "$left" -lt "$n_a"
tool scrub >"$TEST_TMP/scrub1.out" 2>&1
echo $? >"$TEST_TMP/scrub1.out.rc"
check "tgs3 scrub again: exit 0, says it upgraded the $left blocks left" scrubbed "$TEST_TMP/scrub1.out" 0 "$n_a blocks checked, .* $left block(s) upgraded to stripes of 2+1; clean"
check "every block is a stripe" test "$(unstriped)" = 0
check "every stripe is 2 + 1 in 3 different channels" test "$(not_whole)" = 0
check "the $n_a old messages are queued for deletion" test "$(index 'SELECT COUNT(*) FROM gc_queue')" -ge "$n_a"
check "refcounts, extents and sizes: tgs3 fsck is clean" tool fsck

section "the gateway settles the killed run's posts; GC deletes the old messages"
start_gateway "${GW_ARGS[@]}"
check "the stray probe and GC leave exactly the shards the index names in Telegram" wait_until 90 settled
unprotected() { [ "$(metric 'tgs3_stripes{state="unprotected"}')" = 0 ]; }
check "/metrics: no unprotected block" wait_until 20 unprotected
check "every object reads back identical through aws (cache off)" reads_back "$TEST_TMP/a" a/
stop_gateway
check "tgs3 fsck: every stripe reads and verifies" tool fsck

section "more blocks as one document; the background scrub upgrades them, killed once"
start_gateway "${GW_ARGS[@]}" "${NONE[@]}"
mkset "$TEST_TMP/b" 2
check "aws uploads a second set under --redundancy none" aws s3 cp --recursive --only-show-errors "$TEST_TMP/b" s3://upg/b/
check "every pack is posted" wait_until 30 unposted
n_b=$(unstriped)
check "its blocks are one document each" test "$n_b" -gt 10
stop_gateway
start_gateway "${GW_ARGS[@]}" --scrub-interval 4
before=$(unstriped)
upgrading() { [ "$(unstriped)" -lt "$before" ]; }
check "the background scrub starts upgrading" wait_until 60 upgrading
sleep "0.$((RANDOM % 4))"
kill -KILL "$GW_PID" 2>/dev/null
wait "$GW_PID" 2>/dev/null
GW_PID=
left=$(unstriped)
section "killed with $left of $n_b blocks left to upgrade"
check "no stripe is recorded with fewer than its 3 shards" test "$(half)" = 0
check "the gateway upgraded some blocks, not all" test "$left" -gt 0 -a "$left" -lt "$n_b"
start_gateway "${GW_ARGS[@]}" --scrub-interval 4
none_left() { [ "$(unstriped)" = 0 ] || { echo "$(unstriped) blocks left"; false; }; }
check "after the restart the background scrub upgrades every block left" wait_until 120 none_left
upgraded() { [ "$(metric tgs3_upgraded_blocks_total)" -gt 0 ] && [ "$(metric 'tgs3_stripes{state="unprotected"}')" = 0 ]; }
check "/metrics: tgs3_upgraded_blocks_total counts them, no unprotected block left" wait_until 20 upgraded
check "every stripe is 2 + 1 in 3 different channels" test "$(not_whole)" = 0
check "Telegram holds exactly the shards the index names" wait_until 90 settled
check "the first set reads back identical" reads_back "$TEST_TMP/a" a/
check "the second set too" reads_back "$TEST_TMP/b" b/
stop_gateway
check "tgs3 fsck: clean" tool fsck

section "a channel banned"
check "ban channel $C3" emu_post "ban?chat=$C3"
start_gateway "${GW_ARGS[@]}"
check "the first set reads back identical from the other channels" reads_back "$TEST_TMP/a" a/
check "the second set too" reads_back "$TEST_TMP/b" b/
finish

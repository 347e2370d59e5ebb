#!/usr/bin/env bash
# test_redundancy.sh — blocks as Reed–Solomon stripes across channels; channels banned, messages deleted, documents corrupted.
#
# 1. 8 channels x 3 bots, the default redundancy (auto: 4 data + 2 parity, two spare channels):
#    objects from 0 B to multipart sizes through aws and rclone; every block is a whole stripe
#    in 6 different channels; fsck is clean. Two channels are banned while an upload runs: the
#    upload succeeds, with new stripes only in live channels; a restart with the cache off
#    reads everything back byte-identical from the other shards; /metrics shows the refusing
#    channels. A data shard of one object deleted and one corrupted: the object still reads
#    back identical (the bad shard is named in the log, never served).
# 2. 2 channels (auto: mirrored, 1 + 1): one banned, nothing lost; a later upload is stored
#    degraded (one shard) and said so in /metrics; tgs3 repair asks for a channel; a third channel
#    added by configuration and a restart: repair makes every stripe whole again.
# 3. --redundancy rs:K+M is validated against the channels configured.
set -u
. "$(dirname "$0")/lib.sh"

stat() { emu_stats | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
export -f emu_post

TOKENS=(123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw 223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
    323456789:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw)
CHATS=()
for i in 1 2 3 4 5 6 7 8; do CHATS+=("-100100000000$i"); done
emu_chats() { for c in "$@"; do printf -- '--chat %s ' "$c"; done; }
gw_chats() { for c in "$@"; do printf -- '--chat-id %s ' "$c"; done; }
gw_bots() { printf -- '--bot-token %s --bot-token %s' "${TOKENS[1]}" "${TOKENS[2]}"; }

# mkset DIR — objects of mixed sizes: empty, small, several 256 KiB blocks, multipart.
mkset() {
    "$PY" - "$1" <<'PY'
import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
sizes = [0, 1, 1000, 65535, 262143, 262144, 262145, 1000000, 3 * 1048576 + 17, 7 * 1048576 + 3]
for i, n in enumerate(sizes):
    with open(os.path.join(d, "o%02d" % i), "wb") as f:
        f.write(os.urandom(n))
PY
}
cat >>"$AWS_CONFIG_FILE" <<CONF
s3 =
  multipart_threshold = 5MB
  multipart_chunksize = 5MB
CONF

whole() { index "SELECT COUNT(*) FROM stripes p WHERE (SELECT COUNT(DISTINCT chat_id) FROM shards s WHERE s.block_id = p.block_id) != p.k + p.m"; }
unstriped() { index "SELECT COUNT(*) FROM blocks b WHERE chat_id != 0 AND NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id)"; }

# restart [ARGS] — the 8-channel gateway again (new arguments after the usual ones).
restart() {
    stop_gateway
    start_gateway --block-size 256K --no-packing --cache-size 0 $(gw_bots) $(gw_chats "${CHATS[@]:1}") "$@"
}
# reads_back PREFIX DIR — every object under s3://red/PREFIX/ read into a new directory, identical to DIR.
reads_back() {
    local to
    to=$(mktemp -d "$TEST_TMP/back.XXXXXX")
    aws s3 cp --recursive --only-show-errors "s3://red/$1/" "$to" && diff -r "$2" "$to"
}

section "8 channels x 3 bots, default redundancy"
start_emulator --local $(emu_chats "${CHATS[@]:1}")
start_gateway --block-size 256K --no-packing --cache-size 0 $(gw_bots) $(gw_chats "${CHATS[@]:1}")
check "the layout is 4 data + 2 parity" test "$(metric 'tgs3_redundancy_shards{kind="data"}') $(metric 'tgs3_redundancy_shards{kind="parity"}')" = "4 2"
check "and it is not unprotected" test "$(metric tgs3_unprotected)" = 0
mkset "$TEST_TMP/a"
mkset "$TEST_TMP/r"
check "create the bucket" aws s3 mb s3://red
check "aws uploads its set (one multipart)" aws s3 cp --recursive --only-show-errors "$TEST_TMP/a" s3://red/a/
check "rclone uploads its set" rclone copy --no-check-dest --s3-no-check-bucket --s3-upload-cutoff 5M \
    --s3-chunk-size 5M "$TEST_TMP/r" tgs3:red/r
check "every block is a stripe of 4 + 2" test "$(unstriped) $(index "SELECT COUNT(*) FROM stripes WHERE k != 4 OR m != 2")" = "0 0"
check "every stripe is whole, its 6 shards in 6 different channels" test "$(whole)" = 0
check "each shard is one document in the emulator" test "$(stat 'sum(c["messages"] for c in d["chats"].values())')" = "$(index "SELECT COUNT(*) FROM shards")"
shard_bots=$(index "SELECT COUNT(DISTINCT bot_id) FROM shards")
check "all three bots posted shards" test "$shard_bots" = 3
check "every shard was staged for the Bot API server (none sent as a request body)" bash -c "! grep -q 'cannot stage a block' '$LOG_DIR/gateway.log'"
fsck() {
    "$BUILD/tgs3" fsck --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" $(gw_bots) \
        $(gw_chats "${CHATS[@]:1}") --mode local
}
stop_gateway
check "tgs3 fsck: every stripe reads and verifies" fsck
restart

section "two channels banned while an upload runs"
rand_file "$TEST_TMP/big" 12M
aws s3 cp --only-show-errors "$TEST_TMP/big" s3://red/during >"$TEST_TMP/during.out" 2>&1 &
up=$!
sleep 0.3
check "ban channel ${CHATS[2]}" emu_post "ban?chat=${CHATS[2]}"
check "ban channel ${CHATS[5]}" emu_post "ban?chat=${CHATS[5]}"
check "the upload during the bans succeeded" wait "$up"
check "it reads back identical" bash -c "aws s3 cp --only-show-errors s3://red/during '$TEST_TMP/during.back' && cmp '$TEST_TMP/big' '$TEST_TMP/during.back'"
check "an upload after the bans succeeds" aws s3 cp --only-show-errors "$TEST_TMP/big" s3://red/after
check "its stripes avoid the banned channels" test "$(index "SELECT COUNT(*) FROM shards s JOIN extents e ON e.block_id = s.block_id JOIN objects o ON o.id = e.object_id WHERE o.key = 'after' AND s.chat_id IN (${CHATS[2]}, ${CHATS[5]})")" = 0
check "and are whole in the 6 live channels" test "$(index "SELECT COUNT(*) FROM stripes p JOIN extents e ON e.block_id = p.block_id JOIN objects o ON o.id = e.object_id WHERE o.key = 'after' AND (SELECT COUNT(*) FROM shards s WHERE s.block_id = p.block_id) != 6")" = 0
check "/metrics shows the two channels refusing" test "$(metric 'tgs3_chats{state="refusing"}')" = 2
restart
check "after a restart, aws reads every object back identical" reads_back a "$TEST_TMP/a"
check "rclone check --download: its set identical" rclone check --download --one-way "$TEST_TMP/r" tgs3:red/r
check "the big object too" bash -c "aws s3 cp --only-show-errors s3://red/after '$TEST_TMP/after.back' && cmp '$TEST_TMP/big' '$TEST_TMP/after.back'"

section "the banned channels are lost: repair makes every stripe whole in the live ones"
restart --chat-lost-after 2 --health-interval 1
# A write finds the banned channels refusing; two seconds later they are lost and their shards queued.
check "an upload marks the banned channels" aws s3 cp --only-show-errors "$TEST_TMP/a/o07" s3://red/mark
banned="${CHATS[2]}, ${CHATS[5]}"
in_banned() { index "SELECT COUNT(*) FROM shards WHERE chat_id IN ($banned)"; }
repaired() {
    [ "$(in_banned)" = 0 ] && [ "$(whole)" = 0 ] && return 0
    echo "still $(in_banned) shards in banned channels, $(whole) stripes not whole; repair backlog $(metric tgs3_repair_backlog)"
    return 1
}
check "repair moves every shard out of the banned channels, every stripe whole" wait_until 120 repaired
check "/metrics: the two channels lost, stripes all healthy" test "$(metric 'tgs3_chats{state="lost"}') $(metric 'tgs3_stripes{state="degraded"}')" = "2 0"
check "/metrics counts the rebuilt shards" test "$(metric tgs3_repaired_shards_total)" -gt 0
check "ban two more channels: ${CHATS[3]} ${CHATS[6]}" bash -c "emu_post 'ban?chat=${CHATS[3]}' && emu_post 'ban?chat=${CHATS[6]}'"
restart
check "still everything reads back identical" reads_back a "$TEST_TMP/a"
check "rclone too" rclone check --download --one-way "$TEST_TMP/r" tgs3:red/r
check "emulator: unban the last two" bash -c "emu_post 'unban?chat=${CHATS[3]}' && emu_post 'unban?chat=${CHATS[6]}'"

section "a deleted message and a corrupted document"
# o08 is 3 MiB + 17: 13 blocks; its first block's data shards 0 and 1.
sh0=$(index "SELECT s.chat_id || ' ' || s.message_id FROM shards s JOIN extents e ON e.block_id = s.block_id JOIN objects o ON o.id = e.object_id WHERE o.key = 'a/o08' AND e.seq = 0 AND s.idx = 0")
sh1=$(index "SELECT s.chat_id || ' ' || s.message_id FROM shards s JOIN extents e ON e.block_id = s.block_id JOIN objects o ON o.id = e.object_id WHERE o.key = 'a/o08' AND e.seq = 1 AND s.idx = 1")
set -- $sh0
check "delete message $2 in chat $1" emu_post "delete?chat=$1&message=$2"
set -- $sh1
check "corrupt message $2 in chat $1" emu_post "corrupt?chat=$1&message=$2"
stop_gateway
scrub() {
    "$BUILD/tgs3" scrub --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" $(gw_bots) \
        $(gw_chats "${CHATS[@]:1}") --mode local --admin-listen off
}
scrub >"$TEST_TMP/scrub1.out" 2>&1
rc=$?
check "tgs3 scrub finds both bad shards (exit 1)" bash -c "[ $rc = 1 ] && grep -q 'documents verified, 2 bad shard(s) queued for repair, 0 bad block' '$TEST_TMP/scrub1.out' || { tail -3 '$TEST_TMP/scrub1.out'; false; }"
start_gateway --block-size 256K --no-packing --cache-size 0 $(gw_bots) $(gw_chats "${CHATS[@]:1}")
check "the object reads back identical" bash -c "aws s3 cp --only-show-errors s3://red/a/o08 '$TEST_TMP/o08.back' && cmp '$TEST_TMP/a/o08' '$TEST_TMP/o08.back'"
drained() { [ "$(index 'SELECT COUNT(*) FROM repairs')" = 0 ]; }
check "the gateway rebuilds both shards" wait_until 60 drained
stop_gateway
check "tgs3 scrub: clean now" scrub

section "2 channels: mirrored"
stop_emulator
EMU_DIR=$TEST_TMP/botapi2
GW_DIR=$TEST_TMP/gateway2
start_emulator --local --chat "${CHATS[1]}"
start_gateway --block-size 256K --no-packing --cache-size 0 --chat-id "${CHATS[1]}"
check "the layout is 1 + 1" test "$(metric 'tgs3_redundancy_shards{kind="data"}') $(metric 'tgs3_redundancy_shards{kind="parity"}')" = "1 1"
check "create the bucket" aws s3 mb s3://two
check "aws uploads its set" aws s3 cp --recursive --only-show-errors "$TEST_TMP/a" s3://two/a/
check "every stripe is whole in the 2 channels" test "$(whole) $(unstriped)" = "0 0"
check "ban channel ${CHATS[1]}" emu_post "ban?chat=${CHATS[1]}"
stop_gateway
start_gateway --block-size 256K --no-packing --cache-size 0 --chat-id "${CHATS[1]}"
check "everything reads back identical from the other channel" bash -c "aws s3 cp --recursive --only-show-errors s3://two/a/ '$TEST_TMP/two.back' && diff -r '$TEST_TMP/a' '$TEST_TMP/two.back'"
rand_file "$TEST_TMP/late" 1M # new bytes: not a dedup hit on blocks stored whole
check "an upload still succeeds, stored degraded" aws s3 cp --only-show-errors "$TEST_TMP/late" s3://two/late
check "the late object reads back" bash -c "aws s3 cp --only-show-errors s3://two/late '$TEST_TMP/late.back' && cmp '$TEST_TMP/late' '$TEST_TMP/late.back'"
check "its stripes hold one shard each, none in the banned channel" test "$(index "SELECT COUNT(*) FROM shards s JOIN extents e ON e.block_id = s.block_id JOIN objects o ON o.id = e.object_id WHERE o.key = 'late' AND s.chat_id = ${CHATS[1]}") $(index "SELECT COUNT(*) FROM repairs")" = "0 4"
degraded() { [ "$(metric 'tgs3_stripes{state="degraded"}')" -gt 0 ] 2>/dev/null; }
check "/metrics: degraded stripes" wait_until 20 degraded
stop_gateway
out=$("$BUILD/tgs3" repair --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID" \
    --chat-id "${CHATS[1]}" --mode local --admin-listen off --rate-pair-per-min 60000 --rate-bot-per-sec 1000 2>&1)
rc=$?
check "tgs3 repair with no channel to spare: exit 1, asks for a channel" bash -c "[ $rc = 1 ] && grep -q 'add a channel' <<<'$out'"
# A third channel, added by configuration and a restart: repair completes into it.
stop_emulator
start_emulator --local --chat "${CHATS[1]}" --chat "${CHATS[2]}"
start_gateway --block-size 256K --no-packing --cache-size 0 --chat-id "${CHATS[1]}" --chat-id "${CHATS[2]}" \
    --chat-lost-after 2 --health-interval 1
in_banned2() { index "SELECT COUNT(*) FROM shards WHERE chat_id = ${CHATS[1]}"; }
whole_again() {
    [ "$(index 'SELECT COUNT(*) FROM repairs')" = 0 ] && [ "$(in_banned2)" = 0 ] && [ "$(whole)" = 0 ] && return 0
    echo "repairs $(index 'SELECT COUNT(*) FROM repairs'), $(in_banned2) shards in the banned channel, $(whole) stripes not whole"
    false
}
check "a third channel added and a restart: repair makes every stripe whole again" wait_until 120 whole_again
check "and everything reads back identical" bash -c "aws s3 cp --recursive --only-show-errors s3://two/ '$TEST_TMP/two.back2' && diff -r '$TEST_TMP/a' '$TEST_TMP/two.back2/a' && cmp '$TEST_TMP/late' '$TEST_TMP/two.back2/late'"
stop_gateway

section "small objects in packs: striped too"
stop_emulator
EMU_DIR=$TEST_TMP/botapi3
GW_DIR=$TEST_TMP/gateway3
PACK_ARGS=(--block-size 256K --cache-size 0 --pack-delay 200 --chat-id "${CHATS[1]}" --chat-id "${CHATS[2]}" --chat-id "${CHATS[3]}")
start_emulator --local --chat "${CHATS[1]}" --chat "${CHATS[2]}" --chat "${CHATS[3]}"
start_gateway "${PACK_ARGS[@]}"
"$PY" - "$TEST_TMP/small" <<'PY'
import os, sys
os.makedirs(sys.argv[1], exist_ok=True)
for i in range(120):
    with open(os.path.join(sys.argv[1], "s%03d" % i), "wb") as f:
        f.write(os.urandom(1 + (i * 7919) % 20000))
PY
check "create the bucket" aws s3 mb s3://packs
check "aws uploads 120 small objects" aws s3 cp --recursive --only-show-errors "$TEST_TMP/small" s3://packs/
unposted() { [ "$(index 'SELECT COUNT(*) FROM blocks WHERE chat_id = 0')" = 0 ]; }
check "every pack is posted" wait_until 30 unposted
check "the objects went into packs" test "$(index 'SELECT COUNT(*) FROM blocks')" -lt 20
check "every pack is a whole stripe of 2 + 1 in 3 channels" test "$(unstriped) $(whole) $(index 'SELECT COUNT(*) FROM stripes WHERE k != 2 OR m != 1')" = "0 0 0"
check "ban channel ${CHATS[2]}" emu_post "ban?chat=${CHATS[2]}"
stop_gateway
start_gateway "${PACK_ARGS[@]}"
check "every small object reads back identical" bash -c "aws s3 cp --recursive --only-show-errors s3://packs/ '$TEST_TMP/small.back' && diff -r '$TEST_TMP/small' '$TEST_TMP/small.back'"
stop_gateway

section "tgs3 chat retire: a channel given up by the operator is emptied into the others"
stop_emulator
EMU_DIR=$TEST_TMP/botapi4
GW_DIR=$TEST_TMP/gateway4
RET_ARGS=(--block-size 256K --no-packing --cache-size 0 --chat-id "${CHATS[1]}" --chat-id "${CHATS[2]}" --chat-id "${CHATS[3]}")
start_emulator --local --chat "${CHATS[1]}" --chat "${CHATS[2]}" --chat "${CHATS[3]}"
start_gateway "${RET_ARGS[@]}"
check "create the bucket" aws s3 mb s3://ret
check "aws uploads its set" aws s3 cp --recursive --only-show-errors "$TEST_TMP/a" s3://ret/a/
held() { index "SELECT COUNT(*) FROM shards WHERE chat_id = ${CHATS[2]}"; }
check "the chat holds shards" test "$(held)" -gt 0
held_before=$(held) # the running gateway starts rebuilding them elsewhere at once
retired=$("$BUILD/tgs3" chat retire "${CHATS[2]}" --data-dir "$GW_DIR" 2>&1)
queued() { grep -q "retired: $held_before shards queued for repair" <<<"$retired" || { echo "$retired (the chat held $held_before)"; false; }; }
check "tgs3 chat retire queues every shard it holds" queued
check "retiring it again changes nothing" bash -c "'$BUILD/tgs3' chat retire '${CHATS[2]}' --data-dir '$GW_DIR' 2>&1 | tee /dev/stderr | grep -q 'retired: 0 shards'"
check "a bad chat id is refused (exit 2)" bash -c "'$BUILD/tgs3' chat retire nope --data-dir '$GW_DIR'; [ \$? = 2 ]"
stop_gateway
repair() { # its output's end when it fails: what was left and why
    local out
    out=$("$BUILD/tgs3" repair --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID" \
        --chat-id "${CHATS[1]}" --chat-id "${CHATS[2]}" --chat-id "${CHATS[3]}" --mode local --admin-listen off \
        --rate-pair-per-min 60000 --rate-bot-per-sec 1000 2>&1) || { tr '\r' '\n' <<<"$out" | grep -v ' info ' | tail -n 15; false; }
}
check "tgs3 repair rebuilds the queue in the foreground (exit 0)" repair
emptied() { [ "$(held) $(whole)" = "0 0" ] || { echo "$(held) shards still in the retired chat, $(whole) stripes not whole"; false; }; }
check "the retired chat is empty; every stripe whole in the other three" emptied
start_gateway "${RET_ARGS[@]}"
check "/metrics counts it lost" test "$(metric 'tgs3_chats{state="lost"}')" = 1
check "a new upload succeeds" aws s3 cp --only-show-errors "$TEST_TMP/late" s3://ret/new
check "and avoids the retired chat" test "$(held)" = 0
check "everything reads back identical" bash -c "aws s3 cp --recursive --only-show-errors s3://ret/a/ '$TEST_TMP/ret.back' && diff -r '$TEST_TMP/a' '$TEST_TMP/ret.back'"
stop_gateway

section "--redundancy is checked against the channels"
# refused LAYOUT CHATS... — tgs3 serve exits 2 naming --redundancy, before it listens.
refused() {
    local layout=$1 out rc
    shift
    out=$("$BUILD/tgs3" serve --listen "127.0.0.1:$(free_port)" --data-dir "$TEST_TMP/x" --botapi-url "$EMU_URL" \
        --bot-token "$BOT_TOKEN" $(gw_chats "$@") --redundancy "$layout" --access-key a --secret-key b 2>&1)
    rc=$?
    [ $rc != 0 ] && grep -q -- '--redundancy' <<<"$out" || { echo "rc $rc: $out"; return 1; }
}
check "rs:2+1 with 2 channels is refused" refused rs:2+1 "${CHATS[1]}" "${CHATS[2]}"
check "rs:0+1 is refused" refused rs:0+1 "${CHATS[1]}" "${CHATS[2]}"
check "an unknown layout is refused" refused bogus "${CHATS[1]}"
finish

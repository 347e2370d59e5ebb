#!/usr/bin/env bash
# test_telegram.sh — Telegram at scale: many bots and chats, rate limits, faults, both Bot API modes.
#
#   1. 4 bots x 2 chats against an emulator enforcing per-bot limits: uploads spread over all
#      8 pairs, the emulator's 429s are honoured (the client never sees one).
#   1b. Flood waits up to --flood-wait-max come back as latency: the upload just takes longer.
#   2. (faults: tests/integration/test_faults.sh)
#   3. A bot removed from the configuration: its blocks read through another bot, which
#      re-derives a file_id once (forwardMessage) and records it in the index.
#   4. Local mode with --staging-dir: blocks posted by file:// and the staged files removed.
#   5. Cloud mode: an object over 20 MB as several 16 MiB blocks through /file/; 32M blocks
#      refused at start-up.
#   6. Rollover: --chat-max-messages 3 fills one chat, the other takes over, then 503.
#   7. Start-up checks: a refused token and an unknown chat stop start-up with messages naming
#      them (the token by its bot id only).
set -u
. "$(dirname "$0")/lib.sh"

CHAT2=-1001000000002
TOKENS=(123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw 223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
    323456789:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw 423456789:DDHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw)
# Every gateway here gets its own admin port, and stores each object in blocks of its own
# (no packing of small objects), so block counts follow from the object sizes.
admin() { echo --admin-listen "127.0.0.1:$(free_port)" --no-packing; }
section() { say "[${SECONDS}s] $*"; }

# jq-like helper over the emulator's stats: EXPR is Python over d.
stat() { emu_stats | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# index BLOCK-SQL — a number from the gateway's index (read-only, WAL allows it while running).

# Plain requests go through curl (SigV4): the aws CLI takes seconds to start.
mkb() { s3curl -f -X PUT "$S3_URL/$1" -o /dev/null; }
put() { s3curl -f -X PUT -T "$1" "$S3_URL/$2" -o /dev/null; }
get() { s3curl -f "$S3_URL/$1" -o "$2"; }
export -f mkb put get

# roundtrip DIR BUCKET — uploads DIR recursively, downloads it again, compares.
roundtrip() {
    aws s3 cp --recursive --quiet "$1" "s3://$2/" || return 1
    rm -rf "$1.back"
    aws s3 cp --recursive --quiet "s3://$2/" "$1.back" || return 1
    diff -r "$1" "$1.back"
}

mkfiles() { # DIR COUNT MAXKIB
    mkdir -p "$1"
    local i
    for i in $(seq 1 "$2"); do rand_file "$1/obj$i" "$(((i * 7919) % ($3 * 1024) + 1))"; done
}

# ---- 1. 4 bots x 2 chats, 429s honoured -------------------------------------------------

section "4 bots x 2 chats; the emulator allows 2 posts/s per bot, the gateway is told 30/s"
# --flood-wait-max 0: every wait comes back as a 429 (the gateway must honour them).
start_emulator --local --chat "$CHAT2" --rate-chat 20 --rate-bot 2 --flood-wait-max 0
start_gateway $(admin) --block-size 64K --bot-token "${TOKENS[1]}" --bot-token "${TOKENS[2]}" \
    --bot-token "${TOKENS[3]}" --chat-id "$CHAT2" --rate-pair-per-min 600 --rate-bot-per-sec 30 \
    --max-upload-blocks 16
check "create bucket" mkb spread
rand_file "$TEST_TMP/spread.bin" 3M # 48 blocks of 64 KiB
check "48 blocks upload without an error to the client" put "$TEST_TMP/spread.bin" spread/a
check "and read back identical" bash -c 'get spread/a "$TEST_TMP/spread.back" && cmp "$TEST_TMP/spread.bin" "$TEST_TMP/spread.back"'
check "every one of the 8 pairs posted" test "$(stat 'sum(1 for p in d["pairs"] if p["posts"] > 0)')" = 8
check "the emulator sent 429s and they were honoured" test "$(stat 'd["rate_limited"]')" -gt 0
section "emulator: $(stat '[(p["bot"] // 100000000, p["chat"] % 10, p["posts"], p["rate_limited"]) for p in d["pairs"]]')"
check "both chats hold blocks" test "$(stat 'min(c["messages"] for c in d["chats"].values())')" -gt 10
stop_gateway
stop_emulator

# ---- 1b. flood waits served as latency ----------------------------------------------------

section "flood waits: the emulator allows 2 posts/s per bot and delays the rest; the gateway is told 30/s"
EMU_DIR=$TEST_TMP/botapi-flood GW_DIR=$TEST_TMP/gw-flood
start_emulator --local --rate-chat 20 --rate-bot 2
start_gateway $(admin) --block-size 64K --rate-pair-per-min 600 --rate-bot-per-sec 30
rand_file "$TEST_TMP/flood.bin" 640K # 10 blocks
check "10 blocks upload through flood waits" bash -c 'mkb flood && put "$TEST_TMP/flood.bin" flood/a'
check "and read back identical" bash -c 'get flood/a "$TEST_TMP/flood.back" && cmp "$TEST_TMP/flood.bin" "$TEST_TMP/flood.back"'
check "the waits came back as latency, never as 429" test "$(stat '(d["flood_waits"] > 0, d["too_many"])')" = "(True, 0)"
stop_gateway
stop_emulator
unset EMU_DIR GW_DIR

# ---- 3. reading through another bot --------------------------------------------------------

section "upload with bot A, restart with only bot B"
EMU_DIR=$TEST_TMP/botapi-rederive GW_DIR=$TEST_TMP/gw-rederive
start_emulator --local
start_gateway $(admin) --block-size 64K
mkfiles "$TEST_TMP/rederive" 4 200
check "upload with bot A" bash -c 'mkb rederive && for i in 1 2 3 4; do put "$TEST_TMP/rederive/obj$i" rederive/obj$i || exit 1; done'
stop_gateway
A_TOKEN=$BOT_TOKEN
BOT_TOKEN=${TOKENS[1]}
start_gateway $(admin) --block-size 64K --gc-grace 0
rm -rf "$TEST_TMP/rederive.back"
mkdir -p "$TEST_TMP/rederive.back" "$TEST_TMP/rederive.back2"
check "bot B reads every object back identical" bash -c 'for i in 1 2 3 4; do get rederive/obj$i "$TEST_TMP/rederive.back/obj$i" || exit 1; done; diff -r "$TEST_TMP/rederive" "$TEST_TMP/rederive.back"'
nblk=$(index "SELECT COUNT(*) FROM blocks")
check "the index records bot B's file_id for every block ($nblk)" test "$(index "SELECT COUNT(*) FROM block_files WHERE bot_id = 223456789")" = "$nblk"
fwd=$(stat 'd["methods"].get("forwardMessage", {}).get("calls", 0)')
check "one forward per block re-derived it" test "$fwd" = "$nblk"
check "a second read uses the recorded file_id" bash -c 'for i in 1 2 3 4; do get rederive/obj$i "$TEST_TMP/rederive.back2/obj$i" || exit 1; done; diff -r "$TEST_TMP/rederive" "$TEST_TMP/rederive.back2"'
check "no further forwards" test "$(stat 'd["methods"]["forwardMessage"]["calls"]')" = "$fwd"
sleep 6 # one GC interval: the forwarded copies are deleted
check "the forwarded copies were deleted again" test "$(stat 'd["chats"]["'"$CHAT_ID"'"]["messages"]')" = "$nblk"
check "delete an object whose blocks bot A posted" s3curl -f -X DELETE "$S3_URL/rederive/obj1" -o /dev/null
# The next GC run (grace 0) deletes them: waited for, up to 30 s.
for _ in $(seq 1 150); do [ -z "$(ls -A "$EMU_DIR/cloud")" ] && break; sleep 0.2; done
check "bot B deleted its message" test "$(stat 'd["chats"]["'"$CHAT_ID"'"]["messages"]')" = "$((nblk - 1))"
stop_gateway
BOT_TOKEN=$A_TOKEN
stop_emulator
unset EMU_DIR GW_DIR

# ---- 4. local mode with a staging directory --------------------------------------------

section "local mode, --staging-dir: blocks by file://"
EMU_DIR=$TEST_TMP/botapi-staging GW_DIR=$TEST_TMP/gw-staging
mkdir -p "$TEST_TMP/staging"
# The emulator's RAM store has two places of 2 MiB + 64 KiB: two of the three whole
# 2 MiB blocks go there, the third and the last, short one (less than half a place)
# to the disk with O_DIRECT (the last partial page buffered); the gateway reads the
# downloaded copies of those, not in the page cache, with O_DIRECT.
start_emulator --local --store-ram 4224K --store-ram-doc 2112K
start_gateway $(admin) --block-size 2M --gc-grace 0 --staging-dir "$TEST_TMP/staging"
rand_file "$TEST_TMP/staged.bin" 7345678
rand_file "$TEST_TMP/staged2.bin" 7345678
check "the RAM store made its two places" test "$(ls "$EMU_DIR/ram" | wc -l)" = 2
check "upload through the staging dir" bash -c 'mkb staged && put "$TEST_TMP/staged.bin" staged/x'
check "the emulator stores 4 documents, every byte of them" \
    test "$(find "$EMU_DIR/cloud" -type f | wc -l) $(find "$EMU_DIR/cloud" -type f -printf '%s\n' | awk '{s += $1} END {print s}')" = "4 $((7345678 + 4 * 52))"
check "two of them in the RAM store's places" test "$(ls "$EMU_DIR/ram" | wc -l)" = 0
check "and back identical" bash -c 'get staged/x "$TEST_TMP/staged.back" && cmp "$TEST_TMP/staged.bin" "$TEST_TMP/staged.back"'
check "the staged files were removed" test -z "$(ls -A "$TEST_TMP/staging")"
check "delete the object" s3curl -f -X DELETE "$S3_URL/staged/x" -o /dev/null
# The next GC run (grace 0) deletes them: waited for, up to 30 s.
for _ in $(seq 1 150); do [ -z "$(ls -A "$EMU_DIR/cloud")" ] && break; sleep 0.2; done
check "its documents are gone" test -z "$(ls -A "$EMU_DIR/cloud")"
check "and the places are free again" test "$(ls "$EMU_DIR/ram" | wc -l)" = 2
check "other data takes them again, and reads back identical" bash -c 'put "$TEST_TMP/staged2.bin" staged/y &&
    test "$(ls "$EMU_DIR/ram" | wc -l)" = 0 && get staged/y "$TEST_TMP/staged.back2" && cmp "$TEST_TMP/staged2.bin" "$TEST_TMP/staged.back2"'
stop_gateway
stop_emulator
unset EMU_DIR GW_DIR

# ---- 5. cloud mode ---------------------------------------------------------------------

section "cloud mode: multipart upload, /file/ download, 20 MB rule"
EMU_DIR=$TEST_TMP/botapi-cloud GW_DIR=$TEST_TMP/gw-cloud
start_emulator
GW_BLOCK_SIZE=16M start_gateway $(admin)
rand_file "$TEST_TMP/cloud.bin" 41M
check "a 41 MiB object uploads in cloud mode" bash -c 'mkb cloud && put "$TEST_TMP/cloud.bin" cloud/big'
check "and downloads identical through /file/" bash -c 'get cloud/big "$TEST_TMP/cloud.back" && cmp "$TEST_TMP/cloud.bin" "$TEST_TMP/cloud.back"'
check "every block is at most 20 MiB" test "$(index "SELECT MAX(stored_size) FROM blocks")" -le 20971520
stop_gateway
out=$("$BUILD/tgs3" serve --listen 127.0.0.1:1 --data-dir "$TEST_TMP/gw-cloud32" --botapi-url "$EMU_URL" \
    --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID" --mode cloud --block-size 32M --access-key a --secret-key b 2>&1)
rc=$?
check "32M blocks are refused at start-up in cloud mode" test "$rc" -ne 0
check "with a message about the 20 MiB download limit" grep -q "20 MiB" <<<"$out"
stop_emulator
unset EMU_DIR GW_DIR

# ---- 6. rollover ----------------------------------------------------------------------

section "rollover: --chat-max-messages 3 over 2 chats"
# One document per block (--redundancy none): a block is then one of the chat's messages.
EMU_DIR=$TEST_TMP/botapi-roll GW_DIR=$TEST_TMP/gw-roll
start_emulator --local --chat "$CHAT2"
start_gateway $(admin) --block-size 64K --chat-id "$CHAT2" --chat-max-messages 3 --redundancy none
mkb roll
rand_file "$TEST_TMP/roll1" 192K
rand_file "$TEST_TMP/roll2" 192K
rand_file "$TEST_TMP/roll3" 64K
check "6 blocks fit in 2 chats of 3" bash -c 'put "$TEST_TMP/roll1" roll/1 && put "$TEST_TMP/roll2" roll/2'
check "each chat holds exactly 3" test "$(stat 'sorted(c["messages"] for c in d["chats"].values())')" = "[3, 3]"
check "a 7th block is refused with 503" test "$(s3curl -X PUT -T "$TEST_TMP/roll3" "$S3_URL/roll/3" -o /dev/null -w '%{http_code}')" = 503
stop_gateway
start_gateway $(admin) --block-size 64K --chat-id "$CHAT2" --chat-max-messages 3 --redundancy none
check "full chats still serve reads" bash -c 'get roll/1 "$TEST_TMP/roll1.back" && cmp "$TEST_TMP/roll1" "$TEST_TMP/roll1.back"'
check "the index counts are where the rollover starts from" grep -q "already holds 3 blocks" "$LOG_DIR/gateway.log"
stop_gateway
stop_emulator
unset EMU_DIR GW_DIR

# ---- 7. start-up checks ------------------------------------------------------------------

section "start-up checks"
EMU_DIR=$TEST_TMP/botapi-checks
start_emulator --local --revoked-bot 223456789
out=$("$BUILD/tgs3" serve --listen 127.0.0.1:1 --data-dir "$TEST_TMP/gw-checks" --botapi-url "$EMU_URL" \
    --bot-token "$BOT_TOKEN" --bot-token "${TOKENS[1]}" --chat-id "$CHAT_ID" --access-key a --secret-key b \
    $(admin) 2>&1)
rc=$?
check "a token the server refuses stops start-up" test "$rc" -ne 0
check "naming the bot by its id only" grep -q "bot token 223456789:… (--bot-token #2)" <<<"$out"
check "and never its secret" bash -c '! grep -q "${0#*:}" <<<"$1"' "${TOKENS[1]}" "$out"
out=$("$BUILD/tgs3" serve --listen 127.0.0.1:1 --data-dir "$TEST_TMP/gw-checks" --botapi-url "$EMU_URL" \
    --bot-token "$BOT_TOKEN" --chat-id -1009999999999 --access-key a --secret-key b $(admin) 2>&1)
rc=$?
check "an unknown chat stops start-up" test "$rc" -ne 0
check "naming the chat" grep -q "storage chat -1009999999999" <<<"$out"
check "and no token in the output" bash -c '! grep -q "${0#*:}" <<<"$1"' "$BOT_TOKEN" "$out"
out=$("$BUILD/tgs3" serve --listen 127.0.0.1:1 --data-dir "$TEST_TMP/gw-checks" --botapi-url "$EMU_URL" \
    --bot-token "0bad:token" --chat-id "$CHAT_ID" --access-key a --secret-key b 2>&1)
check "a malformed token stops start-up" test $? -ne 0
check "with a message about the token" grep -q "bot-token" <<<"$out"
stop_emulator

finish

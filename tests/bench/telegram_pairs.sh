#!/usr/bin/env bash
# telegram_pairs.sh — upload throughput against Telegram-like limits, 1 pair vs 2 x 2 pairs.
#
# Starts tgs3-botapi with its default limits (20 posts/min per (bot, chat), 30/s per bot) and tgs3 with
# BOTS x CHATS pairs for each of CONFIGS, PUTs one SIZE object in BLOCK blocks and prints the
# time, the throughput and what the rate model predicts: Telegram's sliding window lets every pair
# post 20 at once, then 20 more each 60 s, so N blocks over P pairs take
# ceil((ceil(N/P) - 20) / 20) x 60 s (0 when each pair's share fits one window) plus the time to
# send the blocks; the ratio is the time over that model when it is above 0 s. LIMITS=0 turns the
# emulator's and the gateway's limits off: the transfer time alone, to compare with. Prints numbers;
# never fails on a time.
#
#   BUILD=build bash tests/bench/telegram_pairs.sh [SIZE_MIB] [BLOCK_MIB]
#   CONFIGS=4x2 BUILD=build bash tests/bench/telegram_pairs.sh 1024 16   (the 1 GiB figure)
set -u
. "$(dirname "$0")/../integration/lib.sh"
SIZE_MIB=${1:-64}
BLOCK_MIB=${2:-1}
TOKENS=(123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw 223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
    323456789:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw 423456789:DDHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw)
CONFIGS=${CONFIGS:-1x1 2x2} # BOTSxCHATS, at most 4x2
CHAT2=-1001000000002
if [ "${LIMITS:-1}" = 0 ]; then EMU_RATES=(--rate-chat 0 --rate-bot 0) GW_RATES=(--rate-pair-per-min 1000000 --rate-bot-per-sec 1000000)
else EMU_RATES=(--rate-chat 20 --rate-bot 30) GW_RATES=(--rate-pair-per-min 20 --rate-bot-per-sec 30); fi

rand_file "$TEST_TMP/obj" "${SIZE_MIB}M"
run() { # BOTS CHATS
    local bots=$1 chats=$2 extra=() t0 t1
    for ((b = 1; b < bots; b++)); do extra+=(--bot-token "${TOKENS[$b]}"); done
    [ "$chats" -gt 1 ] && extra+=(--chat-id "$CHAT2")
    EMU_DIR=$TEST_TMP/emu-$bots-$chats GW_DIR=$TEST_TMP/gw-$bots-$chats
    start_emulator --local --chat "$CHAT2" "${EMU_RATES[@]}" >/dev/null || return 1
    # --redundancy none: with two chats the default (auto) would mirror every block, which the model does not count.
    start_gateway --admin-listen "127.0.0.1:$(free_port)" --block-size "${BLOCK_MIB}M" --max-schedule-wait 600 "${GW_RATES[@]}" \
        --max-upload-blocks 16 --redundancy none "${extra[@]}" >/dev/null || return 1
    s3curl -X PUT "$S3_URL/bench" -o /dev/null
    t0=$(date +%s.%N)
    s3curl -X PUT -T "$TEST_TMP/obj" "$S3_URL/bench/obj" -o /dev/null -w '%{http_code}\n' >"$TEST_TMP/code"
    t1=$(date +%s.%N)
    local n=$(((SIZE_MIB + BLOCK_MIB - 1) / BLOCK_MIB)) p=$((bots * chats))
    "$PY" - "$bots" "$chats" "$t0" "$t1" "$n" "$p" "$SIZE_MIB" "$(cat "$TEST_TMP/code")" \
        "$(emu_stats)" <<'PY' | tee -a "$TEST_TMP/results"
import json, math, sys
bots, chats, t0, t1, n, p, size, code, stats = sys.argv[1:]
t = float(t1) - float(t0); n = int(n); p = int(p)
per_pair = math.ceil(n / p)
model = max(0, math.ceil((per_pair - 20) / 20)) * 60.0
d = json.loads(stats)
ratio = f"{t / model:.2f}x of the model" if model > 0 else "the model is one burst: upload time only"
print(f"{bots}x{chats} pairs: {size} MiB in {n} blocks, HTTP {code}, {t:.1f} s = {int(size)/t:.2f} MiB/s; "
      f"model {model:.0f} s + transfer ({ratio}); 429s {d['rate_limited']}; posts per pair "
      f"{[q['posts'] for q in d['pairs']]}")
PY
    stop_gateway
    stop_emulator
    unset EMU_DIR GW_DIR
}
for c in $CONFIGS; do run "${c%x*}" "${c#*x}"; done
[ "$(wc -l <"$TEST_TMP/results")" -ge 2 ] && "$PY" - "$TEST_TMP/results" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
t = [float(re.search(r", ([0-9.]+) s = ", l).group(1)) for l in lines]
m = [float(re.search(r"model ([0-9.]+) s", l).group(1)) for l in lines]
print(f"speed-up 2x2 over 1x1: {t[0] / t[1]:.2f}; the rate model: 4 pairs / 1 pair = 4 in the long run, "
      f"{m[0] / m[1] if m[1] > 0 else float('inf'):.2f} counting each pair's first window")
PY
finish

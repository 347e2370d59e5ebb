#!/bin/bash
# test_window.sh — the scheduler spends Telegram's sliding window and learns from 429s.
#
# 1. One (bot, chat) pair with the emulator's Telegram limits (20 posts per pair in any 60 s):
#    20 blocks go out as one burst, far sooner than an even pace (19 x 3 s = 57 s) allows,
#    with no 429 and no flood wait; the 21st..30th wait for the window (the emulator's busiest
#    60 s never holds more than 20); tgs3_pair_allowance stays at 20.
# 2. The emulator answers a fifth of all calls 429 (--fail-429 0.2): the uploads still complete
#    and read back, tgs3_rate_limited_total counts the 429s, the pairs' allowance drops below
#    the configured sum, and a quiet window later it has grown back by at least one.
set -u
. "$(dirname "$0")/lib.sh"

B=win
stat() { emu_stats | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- 1. a burst of the whole window, then as it frees ---------------------------------------
section "one pair, the emulator's Telegram limits"
check "emulator starts" start_emulator --local --rate-chat 20 --rate-bot 30 || finish
check "gateway starts" start_gateway --block-size 1M --rate-pair-per-min 20 --rate-bot-per-sec 30 \
    --max-upload-blocks 16 --max-schedule-wait 120 --redundancy none || finish
check "mb" s3curl -f -X PUT "$S3_URL/$B"
rand_file "$TEST_TMP/o20" 20M
t0=$SECONDS
check "PUT 20 MiB in 20 blocks" s3curl -f -T "$TEST_TMP/o20" "$S3_URL/$B/o20"
t=$((SECONDS - t0))
check "the 20 posts went as one burst: ${t} s, under the even pace's 57 s" test "$t" -lt 40
check "no 429 and no flood wait" test "$(stat '(d["too_many"], d["flood_waits"])')" = "(0, 0)"
check "allowance 20" test "$(metric 'tgs3_pair_allowance_sum')" = 20
rand_file "$TEST_TMP/o10" 10M
t0=$SECONDS
check "PUT 10 MiB more: they wait for the window" s3curl -f -T "$TEST_TMP/o10" "$S3_URL/$B/o10"
t=$((SECONDS - t0))
check "the 21st post waited for the first to leave the window (${t} s)" test "$t" -ge 20
check "the busiest 60 s of the pair held 20 posts" test "$(stat 'max(p["peak_60s"] for p in d["pairs"])')" = 20
check "still no 429" test "$(stat 'd["too_many"]')" = 0
check "GET identical" bash -c "s3curl -f -o '$TEST_TMP/g' '$S3_URL/$B/o20' && cmp '$TEST_TMP/o20' '$TEST_TMP/g'"
stop_gateway
stop_emulator

# ---- 2. 429s shrink the allowance, quiet windows grow it back -------------------------------
section "2 bots x 2 chats, a fifth of the calls answered 429"
CHAT2=-1001000000002
EMU_DIR=$TEST_TMP/emu2 GW_DIR=$TEST_TMP/gw2
check "emulator starts" start_emulator --local --chat "$CHAT2" --rate-chat 20 --rate-bot 30 --fail-429 0.2 || finish
check "gateway starts" start_gateway --block-size 1M --rate-pair-per-min 20 --rate-bot-per-sec 30 \
    --bot-token 223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw --chat-id "$CHAT2" --max-upload-blocks 16 \
    --max-schedule-wait 300 --redundancy none || finish
check "mb" s3curl -f -X PUT "$S3_URL/$B"
check "allowance 4 x 20 before" test "$(metric 'tgs3_pair_allowance_sum')" = 80
rand_file "$TEST_TMP/f" 24M
check "PUT 24 MiB in 24 blocks completes" s3curl -f -T "$TEST_TMP/f" "$S3_URL/$B/f"
check "GET identical" bash -c "s3curl -f -o '$TEST_TMP/g' '$S3_URL/$B/f' && cmp '$TEST_TMP/f' '$TEST_TMP/g'"
n429=$(metric tgs3_rate_limited_total)
low=$(metric tgs3_pair_allowance_sum)
section "429s to posts: $n429; allowance: $low; $(curl -sS "$GW_ADMIN_URL/metrics" | grep '^tgs3_pair_allowance{' | tr '\n' ' ')"
check "the scheduler saw 429s" test "${n429:-0}" -gt 0
check "the allowance dropped ($low < 80)" test "${low:-80}" -lt 80
sleep 62
high=$(metric tgs3_pair_allowance_sum)
section "a window later: $high"
check "a quiet window grew it back ($low -> $high)" test "${high:-0}" -gt "$low"
finish

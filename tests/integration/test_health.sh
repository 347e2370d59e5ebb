#!/usr/bin/env bash
# test_health.sh — /readyz and tgs3_botapi_up notice a hung Bot API server, and its return.
#
# A stopped server (SIGSTOP) still accepts connections in the kernel but never answers, so
# only a deadline on the periodic getMe can tell it from a slow one. With --health-interval 1
# the gateway must answer 503 on /readyz and show tgs3_botapi_up 0 within two intervals of
# the stop, and 200 / 1 within two intervals of SIGCONT (each bound checked with 3 s of slack
# for a loaded machine). Meanwhile /healthz keeps answering, probes do not pile up (at most
# about one getMe per interval), an upload started during the hang completes once the
# server runs again and reads back intact, and the bot token never reaches the log.
set -u
. "$(dirname "$0")/lib.sh"

INTERVAL=1                      # seconds: --health-interval
LIMIT_MS=$(((2 * INTERVAL + 3) * 1000)) # two intervals plus slack
B=health-bucket
D=$TEST_TMP/data
mkdir -p "$D"

# A stopped emulator ignores SIGTERM until continued: continue it before stopping it, so a
# test that ends early still tears down cleanly.
stop_emulator() {
    [ -n "$EMU_PID" ] && kill -CONT "$EMU_PID" 2>/dev/null
    stop_pid "$EMU_PID" botapi
    EMU_PID=
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }
# metric SAMPLE — the value of one sample of /metrics (empty if absent).
metric() { curl -sS --max-time 5 "$GW_ADMIN_URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
GETME_FAILED='tgs3_telegram_calls_total{method="getMe",result="transport-error"}'

# wait_state CODE UP SINCE_MS — polls until /readyz answers CODE and tgs3_botapi_up is UP;
# sets TOOK_MS to the time since SINCE_MS. Fails when that takes longer than LIMIT_MS.
wait_state() {
    local code up
    while :; do
        code=$(http_code "$GW_ADMIN_URL/readyz")
        up=$(metric tgs3_botapi_up)
        TOOK_MS=$(($(now_ms) - $3))
        if [ "$code" = "$1" ] && [ "$up" = "$2" ]; then
            echo "/readyz $code, tgs3_botapi_up $up after $TOOK_MS ms"
            return 0
        fi
        if [ "$TOOK_MS" -gt "$LIMIT_MS" ]; then
            echo "after $TOOK_MS ms (limit $LIMIT_MS): /readyz $code, tgs3_botapi_up '$up'; want $1 and $2"
            return 1
        fi
        sleep 0.1
    done
}

check "emulator starts" start_emulator --local || finish
check "gateway starts with --health-interval $INTERVAL" start_gateway --health-interval "$INTERVAL" || finish
T0=$(now_ms)
check "ready at start (/readyz 200, tgs3_botapi_up 1)" wait_state 200 1 "$T0"
rand_file "$D/f5m" 5M
check "a bucket and an object before the hang" bash -c "aws s3 mb 's3://$B' && aws s3 cp '$D/f5m' 's3://$B/before'"
sleep "$INTERVAL" # a probe has succeeded since: the hang starts from a ready state

# ---- the server hangs ----
FAILED_BEFORE=$(metric "$GETME_FAILED")
FAILED_BEFORE=${FAILED_BEFORE:-0}
kill -STOP "$EMU_PID"
T_STOP=$(now_ms)
aws s3 cp "$D/f5m" "s3://$B/during" >"$TEST_TMP/put-during.out" 2>&1 &
PUT_PID=$!
check "hung server: /readyz 503 and tgs3_botapi_up 0 within 2 intervals (+3 s)" wait_state 503 0 "$T_STOP" &&
    say "hung server noticed after $TOOK_MS ms (--health-interval ${INTERVAL}s)"
check "/readyz says why" bash -c "curl -s --max-time 5 '$GW_ADMIN_URL/readyz' | grep -q 'not answering getMe'"
check "/healthz still answers 200" test "$(http_code "$GW_ADMIN_URL/healthz")" = 200
sleep $((3 * INTERVAL))
# no pile-up: one probe per interval at most, each ending at its deadline
probes_bounded() {
    local n elapsed_s
    n=$(metric "$GETME_FAILED")
    elapsed_s=$((($(now_ms) - T_STOP) / 1000 + 1))
    echo "getMe timeouts during the hang: $((${n:-0} - FAILED_BEFORE)) in about $elapsed_s s"
    [ -n "$n" ] && [ $((n - FAILED_BEFORE)) -ge 1 ] && [ $((n - FAILED_BEFORE)) -le $((elapsed_s / INTERVAL + 1)) ]
}
check "probes time out one at a time (at most one per interval)" probes_bounded
check "still not ready while hung" test "$(http_code "$GW_ADMIN_URL/readyz")" = 503

# ---- the server runs again ----
kill -CONT "$EMU_PID"
T_CONT=$(now_ms)
check "continued server: /readyz 200 and tgs3_botapi_up 1 within 2 intervals (+3 s)" wait_state 200 1 "$T_CONT" &&
    say "continued server noticed after $TOOK_MS ms (--health-interval ${INTERVAL}s)"
put_done() {
    wait "$PUT_PID"
    local rc=$?
    cat "$TEST_TMP/put-during.out"
    [ $rc = 0 ]
}
check "an upload started during the hang completes" put_done
check "both objects read back intact" bash -c "aws s3 cp 's3://$B/before' '$D/b' && cmp '$D/f5m' '$D/b' &&
    aws s3 cp 's3://$B/during' '$D/d' && cmp '$D/f5m' '$D/d'"
check "the bot token is not in the gateway's log" bash -c "! grep -qF '${BOT_TOKEN#*:}' '$LOG_DIR/gateway.log'"
finish

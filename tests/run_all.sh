#!/bin/bash
# run_all.sh — runs every unit test binary and every integration test script.
#
# Each program's output goes to build/test-logs/<name>.log (printed when it fails); its last
# "N passed, N failed" line is its result, and a program that crashes or times out without
# one counts as one failure. The last line printed is the total; the exit status is 1 if
# anything failed. BUILD names the build directory (default build/san).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BUILD=${BUILD:-build/san}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
LOGS=$ROOT/build/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS" "$ROOT/build/test-tmp"
# Temporary dirs kept by earlier failed runs; recent ones may belong to a test running now.
find "$ROOT/build/test-tmp" -mindepth 1 -maxdepth 1 -mmin +60 -exec rm -rf {} + 2>/dev/null

UNIT_TIMEOUT=${UNIT_TIMEOUT:-120}
INTEGRATION_TIMEOUT=${INTEGRATION_TIMEOUT:-1500}
UNIT_ASAN=detect_leaks=1:abort_on_error=0:quarantine_size_mb=16:malloc_context_size=10
TOTAL_P=0
TOTAL_F=0
SUMMARY=()

# result NAME LOG STATUS SECONDS [EXTRA_FAILURES] — parses, counts and reports one program.
result() {
    local name=$1 log=$2 rc=$3 secs=$4 extra=${5:-0} line p f verdict note=""
    line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
    else
        p=0
        f=1
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then note=" (timed out)"; else note=" (no summary line, status $rc)"; fi
    fi
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1
        note=" (exit status $rc)"
    fi
    f=$((f + extra))
    [ "$extra" -gt 0 ] && note="$note (sanitizer errors)"
    TOTAL_P=$((TOTAL_P + p))
    TOTAL_F=$((TOTAL_F + f))
    if [ "$f" -eq 0 ]; then verdict=PASS; else verdict=FAIL; fi
    if [ "$verdict" = FAIL ]; then
        echo "---- $name output (last 300 lines of $log) ----"
        tail -n 300 "$log"
        echo "---- end of $name output ----"
    fi
    SUMMARY+=("$(printf '%s %-28s %4d passed, %3d failed  %5ds%s' "$verdict" "$name" "$p" "$f" "$secs" "$note")")
    echo "${SUMMARY[-1]}"
}

# ---- unit tests ----
for bin in "$BUILD"/tests/test_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=$(basename "$bin")
    log=$LOGS/$name.log
    echo "== $name"
    start=$SECONDS
    ASAN_OPTIONS=$UNIT_ASAN UBSAN_OPTIONS=print_stacktrace=1 \
        timeout --kill-after=10 "$UNIT_TIMEOUT" "$bin" >"$log" 2>&1
    rc=$?
    result "$name" "$log" "$rc" $((SECONDS - start))
done

# ---- integration tests ----
# Up to JOBS scripts run at once (each starts its own daemons on free ports and waits on
# them and on client start-up much of the time), the longest first so the tail stays short.
JOBS=${JOBS:-3}
ORDER="test_big_redundancy test_redundancy_scale test_big test_faults test_safety test_compat_rclone test_compat_aws test_aws test_ops test_telegram
test_compat_keys test_perf_features test_restic test_compat_s3fs test_compat_s3cmd test_compat_boto3"

# run_one NAME — runs tests/integration/NAME.sh; writes "rc secs extra" to $LOGS/NAME.result
# and the daemons' sanitizer reports to $LOGS/NAME.san.
run_one() {
    local name=$1 log=$LOGS/$1.log logdir=$LOGS/$1.d start=$SECONDS rc extra=0 f
    mkdir -p "$logdir"
    TGS3_TEST_LOGDIR=$logdir \
        ASAN_OPTIONS="$UNIT_ASAN:log_path=$logdir/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:log_path=$logdir/asan" \
        TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1}:log_path=$logdir/asan" \
        timeout --kill-after=15 "$INTEGRATION_TIMEOUT" bash "tests/integration/$name.sh" >"$log" 2>&1
    rc=$?
    # Sanitizer reports of the daemons: errors fail the test, leaks are only shown.
    : >"$LOGS/$name.san"
    for f in "$logdir"/asan.*; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer' "$f"; then
            extra=$((extra + 1))
            { echo "---- sanitizer error report $f ----"; cat "$f"; } >>"$LOGS/$name.san"
        elif grep -q 'LeakSanitizer' "$f"; then
            { echo "---- leak report (not counted) $f ----"; head -n 200 "$f"; } >>"$LOGS/$name.san"
        fi
    done
    echo "$rc $((SECONDS - start)) $extra" >"$LOGS/$name.result"
}

NAMES=()
for n in $ORDER; do [ -f "tests/integration/$n.sh" ] && NAMES+=("$n"); done
for script in tests/integration/test_*.sh; do
    n=$(basename "$script" .sh)
    case " ${NAMES[*]} " in *" $n "*) ;; *) NAMES+=("$n") ;; esac
done
running=0
for name in "${NAMES[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
    echo "== $name (started)"
    run_one "$name" &
    running=$((running + 1))
done
wait
for name in "${NAMES[@]}"; do
    read -r rc secs extra <"$LOGS/$name.result" 2>/dev/null || { rc=1; secs=0; extra=0; }
    cat "$LOGS/$name.san" 2>/dev/null
    result "$name" "$LOGS/$name.log" "$rc" "$secs" "$extra"
done

echo
echo "== summary"
for s in "${SUMMARY[@]}"; do echo "$s"; done
echo "$TOTAL_P passed, $TOTAL_F failed"
[ "$TOTAL_F" -eq 0 ]

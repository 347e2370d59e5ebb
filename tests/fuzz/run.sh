#!/bin/bash
# run.sh — runs libFuzzer targets built by make fuzz, one after the other.
#
#   tests/fuzz/run.sh BUILD_DIR NAME...      (make fuzz calls it; FUZZ_SECONDS per target, default 60)
#
# Each target BUILD_DIR/fuzz_NAME starts from a copy of tests/fuzz/corpus/NAME in
# BUILD_DIR/corpus/NAME (new inputs stay there, never in the tree), with
# tests/fuzz/NAME.dict when there is one. Its output goes to BUILD_DIR/logs/NAME.log and a
# crashing input to BUILD_DIR/artifacts/NAME/. One line per target gives the executions and
# the crashes; the exit status is 1 if any target crashed. FUZZ_FLAGS adds libFuzzer flags.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${1:?usage: run.sh BUILD_DIR NAME...}
shift
SECS=${FUZZ_SECONDS:-60}
status=0
for name in "$@"; do
    bin=$B/fuzz_$name
    corpus=$B/corpus/$name
    art=$B/artifacts/$name
    log=$B/logs/$name.log
    mkdir -p "$corpus" "$art" "$B/logs"
    cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=("-dict=tests/fuzz/$name.dict")
    before=$(ls "$art" | wc -l)
    start=$SECONDS
    # -close_fd_mask=3: the targets' own output (config errors, thousands a second) is noise; libFuzzer
    # keeps a copy of stderr for its own lines and the sanitizers' reports.
    "$bin" -max_total_time="$SECS" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=3 \
        -artifact_prefix="$art/" "${dict[@]}" ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
    [ -n "$execs" ] || execs=$(grep -aoE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
    crashes=$(($(ls "$art" | wc -l) - before))
    [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
    printf '%-10s %12s execs  %d crashes  %4ds  corpus %d files\n' "$name" "${execs:-0}" "$crashes" \
        $((SECONDS - start)) "$(ls "$corpus" | wc -l)"
    if [ "$crashes" -gt 0 ]; then
        status=1
        echo "---- $name: last 60 lines of $log ----"
        tail -n 60 "$log"
        echo "---- crashing inputs in $art ----"
        ls -t "$art" | head -n 5
    fi
done
exit $status

#!/bin/bash
# test_perf_features.sh — the block cache and small-object packing.
#
# Cache: a second GET of a multi-block object makes no getFile call, nor does a GET after a
# gateway restart (the cache directory is scanned at start); concurrent GETs of a fresh
# object fetch each block once. Packing (when built in): many small objects become a
# handful of documents, all read back identical, also after a restart before the pack delay.
set -u
. "$(dirname "$0")/lib.sh"

B=perf-bucket
getfile_calls() {
    emu_stats | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("methods",{}).get("getFile",{}).get("calls",0))'
}

check "emulator starts" start_emulator --local || finish
GW_BLOCK_SIZE=4M check "gateway starts" start_gateway || finish
check "mb" aws s3 mb "s3://$B"

# ---- cache ----
rand_file "$TEST_TMP/big.bin" 10M
check "PUT 10 MiB (3 blocks)" aws s3 cp "$TEST_TMP/big.bin" "s3://$B/big.bin"
check "first GET identical" bash -c "aws s3 cp s3://$B/big.bin '$TEST_TMP/d1' && cmp '$TEST_TMP/big.bin' '$TEST_TMP/d1'"
before=$(getfile_calls)
check "second GET identical" bash -c "aws s3 cp s3://$B/big.bin '$TEST_TMP/d2' && cmp '$TEST_TMP/big.bin' '$TEST_TMP/d2'"
after=$(getfile_calls)
check "second GET made no getFile call ($before -> $after)" test "$after" -eq "$before"

stop_gateway
GW_BLOCK_SIZE=4M check "gateway restarts" start_gateway || finish
before=$(getfile_calls)
check "GET after restart identical" bash -c "aws s3 cp s3://$B/big.bin '$TEST_TMP/d3' && cmp '$TEST_TMP/big.bin' '$TEST_TMP/d3'"
after=$(getfile_calls)
check "GET after restart made no getFile call ($before -> $after)" test "$after" -eq "$before"

rand_file "$TEST_TMP/fresh.bin" 10M
check "PUT another 10 MiB" aws s3 cp "$TEST_TMP/fresh.bin" "s3://$B/fresh.bin"
before=$(getfile_calls)
check "four concurrent GETs identical" bash -c "
    for i in 1 2 3 4; do s3curl -o '$TEST_TMP/c\$i' '$S3_URL/$B/fresh.bin' & done; wait
    for i in 1 2 3 4; do cmp '$TEST_TMP/fresh.bin' '$TEST_TMP/c\$i' || exit 1; done"
after=$(getfile_calls)
check "concurrent GETs fetched each of the 3 blocks once ($before -> $after)" test "$((after - before))" -eq 3
rm -f "$TEST_TMP"/d? "$TEST_TMP"/c?

finish

#!/bin/bash
# test_perf_features.sh — the block cache and small-object packing.
#
# Cache: a second GET of a multi-block object makes no getFile call, nor does a GET after a
# gateway restart (the cache directory is scanned at start); concurrent GETs of a fresh
# object fetch each block once; a GET longer than a quarter of --cache-size writes none of
# its blocks to the cache, so it evicts nothing. Packing (when built in): many small objects become a
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

# Admission: with a 24 MiB cache, a 3 MiB object is cached; a 24 MiB one (more than 6 MiB)
# reads through (its second GET may come from the verified blocks kept in memory) and the
# small object's block stays.
cache_files() { find "$GW_DIR/cache" -type f ! -name '.tmp-*' -printf '%f\n' | sort | tr '\n' ' '; }
stop_gateway
GW_BLOCK_SIZE=4M check "gateway restarts with a 24 MiB cache" start_gateway --cache-size 24M || finish
rand_file "$TEST_TMP/small3.bin" 3M
rand_file "$TEST_TMP/large.bin" 24M
check "PUT 3 MiB and 24 MiB" bash -c "s3curl -fT '$TEST_TMP/small3.bin' '$S3_URL/$B/small3.bin' &&
    s3curl -fT '$TEST_TMP/large.bin' '$S3_URL/$B/large.bin'"
check "GET 3 MiB identical" bash -c "s3curl -f -o '$TEST_TMP/s1' '$S3_URL/$B/small3.bin' && cmp '$TEST_TMP/small3.bin' '$TEST_TMP/s1'"
before=$(getfile_calls)
check "GET 3 MiB again identical" bash -c "s3curl -f -o '$TEST_TMP/s1' '$S3_URL/$B/small3.bin' && cmp '$TEST_TMP/small3.bin' '$TEST_TMP/s1'"
check "the 3 MiB object is cached ($before -> $(getfile_calls))" test "$(getfile_calls)" -eq "$before"
files=$(cache_files)
before=$(getfile_calls)
check "GET 24 MiB identical" bash -c "s3curl -f -o '$TEST_TMP/l1' '$S3_URL/$B/large.bin' && cmp '$TEST_TMP/large.bin' '$TEST_TMP/l1'"
after=$(getfile_calls)
check "the 24 MiB GET read its 6 blocks from Telegram ($before -> $after)" test "$((after - before))" -eq 6
check "GET 24 MiB again identical" bash -c "s3curl -f -o '$TEST_TMP/l1' '$S3_URL/$B/large.bin' && cmp '$TEST_TMP/large.bin' '$TEST_TMP/l1'"
check "no block of the 24 MiB object was written to the cache" test "$(cache_files)" = "$files"
stop_gateway # the verified blocks kept in memory go; the cache directory stays
GW_BLOCK_SIZE=4M check "gateway restarts with a 24 MiB cache" start_gateway --cache-size 24M || finish
# In ranges of 4 MiB, as aws s3 cp downloads large objects, it reads through all the same:
# admission goes by the object's size, not the response's.
before=$(getfile_calls)
check "GET 24 MiB in six ranges identical" bash -c "for i in 0 1 2 3 4 5; do
    s3curl -f -H \"Range: bytes=\$((i * 4194304))-\$((i * 4194304 + 4194303))\" '$S3_URL/$B/large.bin' || exit 1
    done >'$TEST_TMP/l2' && cmp '$TEST_TMP/large.bin' '$TEST_TMP/l2'"
check "the ranges read the 6 blocks from Telegram ($before -> $(getfile_calls))" test "$(($(getfile_calls) - before))" -eq 6
check "and wrote none of them to the cache" test "$(cache_files)" = "$files"
before=$(getfile_calls)
check "GET 3 MiB after the large reads identical" bash -c "s3curl -f -o '$TEST_TMP/s1' '$S3_URL/$B/small3.bin' &&
    cmp '$TEST_TMP/small3.bin' '$TEST_TMP/s1'"
check "the 3 MiB object's block is still cached ($before -> $(getfile_calls))" test "$(getfile_calls)" -eq "$before"
rm -f "$TEST_TMP"/s1 "$TEST_TMP"/l1 "$TEST_TMP"/l2

# Verified blocks kept in memory (at most 64 MiB) give way to uploads: a PUT that takes an
# upload buffer of 4 MiB leaves them at most 60 MiB, so a PUT right after a large GET does
# not hold both.
kept() { curl -sS --max-time 10 "$GW_ADMIN_URL/metrics" | awk '$1 == "tgs3_verified_block_bytes" { print $2 }'; }
rand_file "$TEST_TMP/large64.bin" 64M
check "PUT 64 MiB" s3curl -fT "$TEST_TMP/large64.bin" "$S3_URL/$B/large64.bin"
check "GET 64 MiB identical" bash -c "s3curl -f -o '$TEST_TMP/l1' '$S3_URL/$B/large64.bin' && cmp '$TEST_TMP/large64.bin' '$TEST_TMP/l1'"
k=$(kept)
check "its 16 verified blocks are kept in memory ($k bytes)" test "$k" -eq $((64 << 20))
rand_file "$TEST_TMP/two.bin" 2M
check "PUT 2 MiB (one upload buffer)" s3curl -fT "$TEST_TMP/two.bin" "$S3_URL/$B/two.bin"
k=$(kept)
check "the verified blocks kept gave way to it ($k bytes <= 60 MiB)" test "$k" -le $((60 << 20))
rm -f "$TEST_TMP"/l1 "$TEST_TMP"/large64.bin "$TEST_TMP"/two.bin

# ---- packing ----
cat >"$TEST_TMP/small.py" <<'PY'
import boto3, hashlib, sys
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
mode, url, bucket, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s3 = boto3.client("s3", endpoint_url=url, config=Config(max_pool_connections=16, retries={"max_attempts": 1}))
def body(i):
    return hashlib.sha256(b"%s-%d" % (prefix.encode(), i)).digest() * (1 + i % 97)
def put(i):
    s3.put_object(Bucket=bucket, Key="%s/%04d" % (prefix, i), Body=body(i))
def get(i):
    got = s3.get_object(Bucket=bucket, Key="%s/%04d" % (prefix, i))["Body"].read()
    if got != body(i):
        raise SystemExit("object %d differs" % i)
with ThreadPoolExecutor(16) as ex:
    list(ex.map(put if mode == "put" else get, range(n)))
print(mode, n, "ok")
PY
docs_before=$(emu_docs)
check "500 small PUTs (boto3, packing on)" "$PY" "$TEST_TMP/small.py" put "$S3_URL" "$B" small 500
check "500 small GETs identical (from the spool or the pack)" "$PY" "$TEST_TMP/small.py" get "$S3_URL" "$B" small 500
sleep 4 # --pack-delay 2 s by default, then the post
docs_after=$(emu_docs)
check "500 small objects are a handful of documents ($docs_before -> $docs_after)" test $((docs_after - docs_before)) -le 5
check "500 small GETs identical after the post" "$PY" "$TEST_TMP/small.py" get "$S3_URL" "$B" small 500

# A restart before the pack is posted: the spool is resumed.
stop_gateway
GW_BLOCK_SIZE=4M check "gateway starts with a long pack delay" start_gateway --pack-delay 600000 || finish
docs_before=$(emu_docs)
check "100 small PUTs" "$PY" "$TEST_TMP/small.py" put "$S3_URL" "$B" late 100
check "nothing posted yet ($docs_before -> $(emu_docs))" test "$(emu_docs)" -eq "$docs_before"
check "100 small GETs identical from the spool" "$PY" "$TEST_TMP/small.py" get "$S3_URL" "$B" late 100
# A reader of a packed object in the spool reads that object's bytes only: a range
# of one, and the whole of it, come back as they went in.
check "a range of an object in the spool" bash -c "s3curl -fsS '$S3_URL/$B/late/0050' -o '$TEST_TMP/late50' &&
    s3curl -fsS -H 'Range: bytes=10-1000' '$S3_URL/$B/late/0050' -o '$TEST_TMP/late50.r' &&
    tail -c +11 '$TEST_TMP/late50' | head -c 991 | cmp - '$TEST_TMP/late50.r' && test \$(wc -c <'$TEST_TMP/late50') = 1632"
kill -TERM "$GW_PID"
stop_gateway
GW_BLOCK_SIZE=4M check "gateway restarts" start_gateway || finish
sleep 3
check "the unposted pack was posted after the restart ($docs_before -> $(emu_docs))" test "$(emu_docs)" -gt "$docs_before"
check "100 small GETs identical after the restart" "$PY" "$TEST_TMP/small.py" get "$S3_URL" "$B" late 100
check "delete a packed object" aws s3 rm "s3://$B/late/0001"
check "the others still read back" bash -c "aws s3 cp s3://$B/late/0002 - | wc -c"

# ---- compaction ----
# 40 small objects share one pack; 30 are deleted (57 % of its bytes dead): GC copies the other
# 10 into a new pack, repoints them, and the old pack's message leaves the channel.
stop_gateway
GW_BLOCK_SIZE=4M check "gateway starts with compaction at 50 % dead" \
    start_gateway --gc-interval 1 --gc-grace 1 --pack-compact 50 --pack-delay 5000 || finish
cat >"$TEST_TMP/compact.py" <<'PY'
import boto3, hashlib, sys
mode, url, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=url)
def body(i):  # as small.py makes them
    return hashlib.sha256(b"cmp-%d" % i).digest() * (1 + i % 97)
if mode == "delete":
    for i in range(30):
        s3.delete_object(Bucket=bucket, Key="cmp/%04d" % i)
else:
    for i in range(30, 40):
        if s3.get_object(Bucket=bucket, Key="cmp/%04d" % i)["Body"].read() != body(i):
            raise SystemExit("object %d differs" % i)
print(mode, "ok")
PY
check "40 small PUTs" "$PY" "$TEST_TMP/small.py" put "$S3_URL" "$B" cmp 40
sleep 7 # all 40 in the pack opened by the first, posted 5 s later
check "30 of them deleted" "$PY" "$TEST_TMP/compact.py" delete "$S3_URL" "$B"
moved=""
for _ in $(seq 1 30); do
    moved=$(grep -o 'compact: pack [-0-9]*/[0-9]* ([0-9]* bytes): 10 of 10 live objects' "$LOG_DIR/gateway.log" | tail -1)
    [ -n "$moved" ] && break
    sleep 1
done
check "GC moved the 10 live objects to a new pack ($moved)" test -n "$moved"
old_msg=$(printf '%s' "$moved" | sed -n 's|compact: pack [-0-9]*/\([0-9]*\) .*|\1|p')
gone=""
for _ in $(seq 1 30); do
    if curl -s "$EMU_URL/bot$BOT_TOKEN/forwardMessage?chat_id=$CHAT_ID&from_chat_id=$CHAT_ID&message_id=$old_msg" |
        grep -q 'message to forward not found'; then gone=1; break; fi
    sleep 1
done
check "the old pack's message $old_msg is deleted from the channel" test -n "$gone"
check "the 10 moved objects read back identical" "$PY" "$TEST_TMP/compact.py" verify "$S3_URL" "$B"
check "the deleted ones stay deleted" bash -c "! aws s3api head-object --bucket $B --key cmp/0000 >/dev/null 2>&1"

finish

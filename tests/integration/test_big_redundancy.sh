#!/usr/bin/env bash
# test_big_redundancy.sh — four 1 GiB PUTs at once in 4 + 2 stripes, in bounded memory.
#
# 8 channels x 3 bots, the default redundancy (auto: 4 data + 2 parity) and block size, cache
# off, shards posted by file:// from a staging directory (as docker-compose runs it). Four
# single PUTs of 1 GiB each (curl, UNSIGNED-PAYLOAD) run at the same time: the gateway's peak
# RssAnon while they run (without the sanitizer's shadow in a sanitized build) stays under
# RSS_LIMIT_MIB (256); every object is stored as whole stripes, has its MD5 as ETag, and reads
# back identical (MD5 of the GET against the MD5 of the file), two GETs at a time (their peak
# is printed). The data comes from AES-CTR keystreams keyed by a seed printed below
# (TGS3_SEED=N repeats it).
set -u
. "$(dirname "$0")/lib.sh"

LIMIT_MIB=${RSS_LIMIT_MIB:-256}
SEED=${TGS3_SEED:-$(((RANDOM << 15) | RANDOM))}
N=4
section() { say "[${SECONDS}s] $*"; }

TOKENS=(123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw 223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
    323456789:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw)
CHATS=()
for i in 1 2 3 4 5 6 7 8; do CHATS+=("-100100000000$i"); done
CHAT_ID=${CHATS[0]}
EMU_CHATS=()
STAGING=$TEST_TMP/staging
mkdir -p "$STAGING"
GW_ARGS=(--bot-token "${TOKENS[1]}" --bot-token "${TOKENS[2]}" --cache-size 0 --staging-dir "$STAGING")
for c in "${CHATS[@]:1}"; do
    EMU_CHATS+=(--chat "$c")
    GW_ARGS+=(--chat-id "$c")
done

# mkbig I — file I of 1 GiB, its MD5 in big$I.md5.
mkbig() {
    local key
    key=$(printf 'tgs3 big %s %s' "$SEED" "$1" | sha256sum | cut -c1-32)
    openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 -nosalt </dev/zero 2>/dev/null |
        head -c 1G | tee "$TEST_TMP/big$1" | md5sum | cut -d' ' -f1 >"$TEST_TMP/big$1.md5"
}
# put I — a single PUT of file I (streamed by the gateway: over 4 MiB), 200 expected.
put() {
    local st
    st=$(s3curl -o "$TEST_TMP/put$1.out" -w '%{http_code}' -T "$TEST_TMP/big$1" "$S3_URL/big/o$1") || return 1
    [ "$st" = 200 ] || { echo "status $st"; cat "$TEST_TMP/put$1.out"; return 1; }
}
# get_md5 I — GET of object I, its body's MD5 into get$I.md5; 200 expected.
get_md5() {
    s3curl -w '%{stderr}%{http_code}' "$S3_URL/big/o$1" 2>"$TEST_TMP/get$1.st" | md5sum | cut -d' ' -f1 >"$TEST_TMP/get$1.md5"
    [ "$(tail -c 3 "$TEST_TMP/get$1.st")" = 200 ] || { cat "$TEST_TMP/get$1.st"; return 1; }
}
same_md5() {
    [ "$(cat "$TEST_TMP/get$1.md5")" = "$(cat "$TEST_TMP/big$1.md5")" ] ||
        { echo "GET: $(cat "$TEST_TMP/get$1.md5"), file: $(cat "$TEST_TMP/big$1.md5")"; return 1; }
}

section "seed $SEED (TGS3_SEED=$SEED repeats this run): $N files of 1 GiB"
for i in $(seq $N); do mkbig "$i" & done
wait
check "$N files of 1 GiB" test "$(cat "$TEST_TMP"/big?.md5 | sort -u | wc -l)" = $N || finish

section "8 channels x 3 bots, default redundancy"
check "emulator starts" start_emulator --local "${EMU_CHATS[@]}" || finish
check "gateway starts" start_gateway "${GW_ARGS[@]}" || finish
check "create the bucket" aws s3 mb s3://big

section "$N single PUTs of 1 GiB at once"
rss_start "$GW_PID"
pids=()
for i in $(seq $N); do
    (put "$i" >"$TEST_TMP/put$i.log" 2>&1; echo $? >"$TEST_TMP/put$i.rc") &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
peak=$(rss_stop)
put_report=$(rss_report)
for i in $(seq $N); do
    check "PUT $i of 1 GiB: 200" bash -c "cat '$TEST_TMP/put$i.log'; [ \"\$(cat '$TEST_TMP/put$i.rc')\" = 0 ]"
done
say "peak RssAnon during the PUTs: $put_report"
check "gateway peak RssAnon during the PUTs $peak MiB < $LIMIT_MIB MiB" test "$peak" -lt "$LIMIT_MIB"
rm -f "$TEST_TMP"/put?.out
check "every block is a stripe of 4 + 2, whole in 6 channels" test "$(index "SELECT COUNT(*) FROM blocks b
    WHERE NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id AND p.k = 4 AND p.m = 2
    AND (SELECT COUNT(DISTINCT chat_id) FROM shards s WHERE s.block_id = b.id) = 6)")" = 0
check "$((N * 64)) stripes of 16 MiB" test "$(index "SELECT COUNT(*) FROM stripes")" = $((N * 64))
etags() {
    for i in $(seq $N); do
        e=$(aws s3api head-object --bucket big --key "o$i" --query ETag --output text | tr -d '"')
        [ "$e" = "$(cat "$TEST_TMP/big$i.md5")" ] || { echo "o$i: ETag $e"; return 1; }
    done
}
check "each object has its MD5 as ETag" etags
check "every shard was posted by file:// (none in a request body), the staging directory is empty" \
    test "$(grep -c 'cannot stage' "$LOG_DIR/gateway.log") $(ls -A "$STAGING" | wc -l)" = "0 0"

section "read back, two GETs at a time"
rss_start "$GW_PID"
for i in $(seq 1 2 $N); do
    (get_md5 "$i" >"$TEST_TMP/get$i.log" 2>&1; echo $? >"$TEST_TMP/get$i.rc") &
    a=$!
    (get_md5 $((i + 1)) >"$TEST_TMP/get$((i + 1)).log" 2>&1; echo $? >"$TEST_TMP/get$((i + 1)).rc") &
    b=$!
    wait "$a" "$b"
done
get_peak=$(rss_stop)
for i in $(seq $N); do
    check "GET $i: 200, identical (MD5)" bash -c "cat '$TEST_TMP/get$i.log'; [ \"\$(cat '$TEST_TMP/get$i.rc')\" = 0 ]" &&
        check "GET $i: the same MD5 as the file" same_md5 "$i"
done
say "peak RssAnon during the GETs: $(rss_report)"

check "rm --recursive" aws s3 rm --recursive --only-show-errors s3://big
stop_gateway
stop_emulator
rm -rf "$TEST_TMP"/big? "$EMU_DIR" # 10 GiB: not kept even when a check failed
section "done"
finish

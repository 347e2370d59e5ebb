#!/bin/bash
# test_safety.sh — data safety end to end: no plaintext in Telegram, tampered blocks never
# served, dedup with reference counts and GC after a grace period, kill -9 during uploads
# and deletes (nothing acknowledged lost, no half object, fsck clean, strays collected),
# index snapshot → data dir wiped → recover → every object back, byte-identical; messages
# past Telegram's 48-hour window recorded as unreclaimable.
set -u
. "$(dirname "$0")/lib.sh"

B=safety-bucket
BS=4194304 # block size: 4 MiB keeps the objects small and the block counts readable
export GW_BLOCK_SIZE=$BS
GW_ARGS=(--gc-grace 2 --gc-interval 1 --admin-listen off)

# tool CMD ARGS — a tgs3 sub-command with the gateway's Bot API flags.
tool() {
    local cmd=$1
    shift
    "$BUILD/tgs3" "$cmd" --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --chat-id "$CHAT_ID" --mode local --admin-listen off "$@"
}

# index_blocks — blocks the index holds (read-only look at the database).
index_blocks() {
    "$PY" -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True); print(c.execute("select count(*) from blocks where chat_id != 0").fetchone()[0])' "$GW_DIR/index.db"
}

# emu_sends — sendDocument calls the emulator has answered so far.
emu_sends() {
    emu_stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["methods"].get("sendDocument", {}).get("calls", 0))'
}

# wait_docs N SECONDS — waits until the emulator holds N documents.
wait_docs() {
    local want=$1 i=0 got
    while [ $i -lt $(($2 * 5)) ]; do
        got=$(emu_docs)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    echo "documents: $got, expected $want"
    return 1
}

# same_object KEY FILE — the object reads back identical to FILE.
same_object() {
    aws s3 cp --only-show-errors "s3://$B/$1" "$TEST_TMP/readback.bin" && cmp "$2" "$TEST_TMP/readback.bin"
}

restart_gateway() {
    check "gateway restarts" start_gateway "${GW_ARGS[@]}" "$@" || finish
}

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway "${GW_ARGS[@]}" || finish
check "master.key created with mode 0600" bash -c "[ \"\$(stat -c %a '$GW_DIR/master.key')\" = 600 ] && [ \"\$(stat -c %s '$GW_DIR/master.key')\" = 32 ]"
check "mb" aws s3 mb "s3://$B"

# ---- (a) no plaintext in Telegram -------------------------------------------------
say "(a) sealed blocks"
PAT=$TEST_TMP/pattern.txt
for i in $(seq 1 60000); do printf 'TGS3-PLAINTEXT-CANARY-%06d\n' "$i"; done >"$PAT" # ~1.8 MiB
check "pattern file uploaded" aws s3 cp "$PAT" "s3://$B/pattern.txt"
check "pattern file reads back identical" same_object pattern.txt "$PAT"
check "no document in the emulator contains the pattern" bash -c "! grep -rqa 'TGS3-PLAINTEXT-CANARY' '$EMU_DIR/cloud'"
check "every document carries the sealed header" bash -c "
    for f in '$EMU_DIR'/cloud/*; do [ \"\$(head -c 4 \"\$f\")\" = TGS3 ] || { echo \"\$f\"; exit 1; }; done"

# ---- (b) tampered blocks are never served ------------------------------------------
say "(b) verified reads"
V2=$TEST_TMP/victim2.bin                 # two blocks: 4 MiB + 1 MiB + 1234 bytes
rand_file "$V2" $((BS + 1048576 + 1234))
V1=$TEST_TMP/victim1.bin                 # one block of 1500001 bytes (above the packing threshold)
rand_file "$V1" 1500001
check "two-block object stored (single PUT)" bash -c "[ \"\$(s3curl -o /dev/null -w '%{http_code}' -T '$V2' '$S3_URL/$B/victim2.bin')\" = 200 ]"
check "one-block object stored (single PUT)" bash -c "[ \"\$(s3curl -o /dev/null -w '%{http_code}' -T '$V1' '$S3_URL/$B/victim1.bin')\" = 200 ]"
# (not read before tampering: a read would put the documents in the gateway's block cache)
# The documents are found by their sealed sizes (plaintext + 52 bytes).
D2=$(find "$EMU_DIR/cloud" -type f -size $((1048576 + 1234 + 52))c | head -n 1)
D1=$(find "$EMU_DIR/cloud" -type f -size $((1500001 + 52))c | head -n 1)
check "found the documents to tamper with" test -n "$D2" -a -n "$D1"
flip() { # flip FILE OFFSET — inverts one byte in place (the emulator's hard links see it)
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
flip "$D2" 500000
flip "$D1" 100
: >"$TEST_TMP/cut.bin"
st=$(s3curl -o "$TEST_TMP/cut.bin" -w '%{http_code}' "$S3_URL/$B/victim2.bin" 2>"$TEST_TMP/cut.err")
crc=$?
got=$(stat -c %s "$TEST_TMP/cut.bin")
say "tampered second block: curl status $crc, http $st, $got of $(stat -c %s "$V2") bytes received"
check "GET with a tampered second block is cut short" test "$crc" -ne 0 -a "$got" -lt "$(stat -c %s "$V2")"
check "what was received is an exact prefix of the object" cmp -n "$got" "$TEST_TMP/cut.bin" "$V2"
check "aws cp of the tampered object fails" bash -c "! aws s3 cp --only-show-errors s3://$B/victim2.bin '$TEST_TMP/x.bin'"
st=$(s3curl -o "$TEST_TMP/err.xml" -w '%{http_code}' "$S3_URL/$B/victim1.bin")
check "GET with a tampered only block answers 500 InternalError" bash -c "[ '$st' = 500 ] && grep -q InternalError '$TEST_TMP/err.xml' && ! cmp -s '$TEST_TMP/err.xml' '$V1'"
check "the log names the failed block (chat/message)" grep -qE "block -?[0-9]+/[0-9]+ \(id [0-9a-f]{32}.*failed verification" "$LOG_DIR/gateway.log"
check "ranged GET inside the good first block still works" bash -c "
    s3curl -o '$TEST_TMP/r.bin' -H 'Range: bytes=1000-1999' '$S3_URL/$B/victim2.bin' && cmp '$TEST_TMP/r.bin' <(tail -c +1001 '$V2' | head -c 1000)"
check "tampered objects deleted" aws s3 rm --only-show-errors "s3://$B/victim1.bin"
check "tampered objects deleted (2)" aws s3 rm --only-show-errors "s3://$B/victim2.bin"

# ---- (c) dedup, reference counts, grace period --------------------------------------
say "(c) dedup and GC"
sleep 4 # the tampered blocks' grace period passes
base=$(emu_docs)
BIG=$TEST_TMP/big64.bin
rand_file "$BIG" 64M
t0=$SECONDS
# Two copies through aws (multipart, 8 MiB parts), eight through single PUTs: the block
# boundaries agree (parts are whole blocks), so every copy after the first is all reused.
for k in 0 1 2 3 4 5 6 7 8 9; do
    if [ "$k" -lt 2 ]; then
        aws s3 cp "$BIG" "s3://$B/dup/$k.bin" >/dev/null || fail "upload dup/$k.bin"
    else
        [ "$(s3curl -o /dev/null -w '%{http_code}' -T "$BIG" "$S3_URL/$B/dup/$k.bin")" = 200 ] || fail "upload dup/$k.bin"
    fi
done
say "10 × 64 MiB uploaded in $((SECONDS - t0)) s"
after=$(emu_docs)
say "documents: $base before, $after after 10 uploads of the same 64 MiB"
check "10 copies of 64 MiB occupy one set of blocks (16 of 4 MiB)" test $((after - base)) -eq 16
check "a copy reads back identical" same_object dup/7.bin "$BIG"
for k in 0 1 2 3 4 5 6 7 8; do aws s3 rm --only-show-errors "s3://$B/dup/$k.bin"; done
sleep 5 # well past grace (2 s) + interval (1 s)
check "deleting 9 of the 10 keys frees nothing" test "$(emu_docs)" -eq "$after"
check "the 10th still reads back identical" same_object dup/9.bin "$BIG"
check "delete the 10th" aws s3 rm --only-show-errors "s3://$B/dup/9.bin"
check "deleting the 10th frees all 16 blocks after the grace period" wait_docs "$base" 20

# ---- (d) kill -9 during uploads and deletes -----------------------------------------
say "(d) crash consistency"
ACK=$TEST_TMP/acked.txt # key <tab> local file, for every upload a client saw succeed
: >"$ACK"
printf 'pattern.txt\t%s\n' "$PAT" >>"$ACK"
mkdir -p "$TEST_TMP/src"
ROUNDS=${SAFETY_ROUNDS:-4}
# client PIDFILE CMD... — runs one client in the background, its pid in PIDFILE (so it can be
# stopped by its id once the gateway is gone), no retries against a dead gateway.
client() {
    local pf=$1
    shift
    AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard "$@" >/dev/null 2>&1 &
    echo $! >"$pf"
    wait $!
}
for round in $(seq 1 "$ROUNDS"); do
    pids=()
    rm -f "$TEST_TMP"/client.*
    # fresh data every round (dedup would otherwise reuse the first round's blocks); each
    # source file is named like its key
    for n in 1 2 3 6; do rand_file "$TEST_TMP/src/r$round-aws-$n.bin" $((n * 1536 * 1024 + n * 1000)); done
    for n in 4 5; do rand_file "$TEST_TMP/src/r$round-rclone-$n.bin" $((n * 1536 * 1024 + n * 1000)); done
    # one upload acknowledged before the storm
    k="crash/r$round-aws-6.bin"
    aws s3 cp --only-show-errors "$TEST_TMP/src/r$round-aws-6.bin" "s3://$B/$k" && printf '%s\t%s\n' "$k" "$TEST_TMP/src/r$round-aws-6.bin" >>"$ACK"
    # concurrent aws and rclone uploads, and deletes of earlier acknowledged objects
    for n in 1 2 3; do
        k="crash/r$round-aws-$n.bin"
        (client "$TEST_TMP/client.a$n" aws s3 cp --only-show-errors "$TEST_TMP/src/${k#crash/}" "s3://$B/$k" && printf '%s\t%s\n' "$k" "$TEST_TMP/src/${k#crash/}" >>"$ACK") &
        pids+=($!)
    done
    for n in 4 5; do
        k="crash/r$round-rclone-$n.bin"
        (client "$TEST_TMP/client.r$n" rclone copyto --retries 1 --low-level-retries 1 --s3-upload-cutoff 4M --s3-chunk-size 5M "$TEST_TMP/src/${k#crash/}" "tgs3:$B/$k" && printf '%s\t%s\n' "$k" "$TEST_TMP/src/${k#crash/}" >>"$ACK") &
        pids+=($!)
    done
    if [ "$round" -gt 1 ]; then
        victim=$(grep "^crash/r$((round - 1))-aws-1.bin" "$ACK" | head -n 1 | cut -f1)
        if [ -n "$victim" ]; then
            # Once a delete starts the object may or may not survive the crash; if it is
            # still listed afterwards it must be whole (checked with the listing below).
            sed -i "\#^$victim\t#d" "$ACK"
            (client "$TEST_TMP/client.d" aws s3 rm --only-show-errors "s3://$B/$victim") &
            pids+=($!)
        fi
    fi
    # a random moment while blocks are being posted: once the emulator has taken a new
    # document (or after 8 s), within the next half second
    sends0=$(emu_sends)
    for _ in $(seq 1 80); do [ "$(emu_sends)" -gt "$sends0" ] && break; sleep 0.1; done
    sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
    kill -9 "$GW_PID" 2>/dev/null
    wait "$GW_PID" 2>/dev/null
    GW_PID=
    sleep 1
    for pf in "$TEST_TMP"/client.*; do [ -f "$pf" ] && kill "$(cat "$pf")" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    restart_gateway
    # every acknowledged object reads back identical; nothing listed is half-written
    # (one download of everything listed, then local comparisons)
    rm -rf "$TEST_TMP/dl"
    aws s3 sync --only-show-errors "s3://$B/" "$TEST_TMP/dl/" >/dev/null 2>&1 || say "round $round: sync reported errors"
    bad=0
    while IFS=$'\t' read -r k f; do
        cmp -s "$f" "$TEST_TMP/dl/$k" || { echo "# round $round: acknowledged $k does not read back"; bad=1; }
    done <"$ACK"
    for got in "$TEST_TMP"/dl/crash/*; do
        [ -f "$got" ] || continue
        cmp -s "$got" "$TEST_TMP/src/${got##*/}" || { echo "# round $round: listed object ${got##*/} is not the whole source"; bad=1; }
    done
    check "round $round: acknowledged objects identical, no half object listed" test "$bad" = 0
done
check "acknowledged objects survived ($(wc -l <"$ACK") of them)" test "$(wc -l <"$ACK")" -gt 1
stop_gateway
tool fsck >"$TEST_TMP/fsck.out" 2>&1
rc=$?
tail -n 3 "$TEST_TMP/fsck.out" | sed 's/^/# /'
check "fsck is clean after the crashes" test "$rc" = 0
restart_gateway
unknown=$(grep -c "was being posted when the gateway stopped" "$LOG_DIR/gateway.log")
say "unconfirmed posts reported by the start-up sweeps: $unknown"
sleep 5 # grace + interval: strays queued by the sweeps are deleted
docs=$(emu_docs)
blocks=$(index_blocks)
say "documents $docs, blocks in the index $blocks"
check "strays were collected (documents - indexed blocks ≤ unconfirmed posts)" test $((docs - blocks)) -ge 0 -a $((docs - blocks)) -le "$unknown"

# fsck finds what is wrong, and --repair fixes reference counts
"$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update blocks set refcount = refcount + 5 where id = (select min(id) from blocks)"); c.commit()' "$GW_DIR/index.db"
stop_gateway
tool fsck >"$TEST_TMP/f1" 2>&1
rc=$?
check "fsck reports a wrong reference count" bash -c "[ $rc = 1 ] && grep -q 'refcount' '$TEST_TMP/f1'"
check "fsck --repair fixes it" tool fsck --repair
check "fsck is clean again" tool fsck

# ---- (e) snapshot → data dir lost → recover -------------------------------------------
say "(e) index recovery"
restart_gateway
aws s3 cp --only-show-errors "$BIG" "s3://$B/after/big.bin" && printf 'after/big.bin\t%s\n' "$BIG" >>"$ACK"
aws s3api list-objects-v2 --bucket "$B" --query 'Contents[].[Key,Size,ETag]' --output text | sort >"$TEST_TMP/before.txt"
stop_gateway
check "tgs3 snapshot posts and pins a sealed copy of the index" tool snapshot
check "the snapshot is sealed (no object key in clear in any document)" bash -c "! grep -rqa 'after/big.bin' '$EMU_DIR/cloud'"
cp "$GW_DIR/master.key" "$TEST_TMP/kept.key"
chmod 600 "$TEST_TMP/kept.key"
check "recover refuses to overwrite an existing index" bash -c "! '$BUILD/tgs3' recover --data-dir '$GW_DIR' --key-file '$TEST_TMP/kept.key' --botapi-url '$EMU_URL' --bot-token '$BOT_TOKEN' --chat-id '$CHAT_ID' --admin-listen off"
rm -rf "$GW_DIR"
check "tgs3 recover rebuilds the data dir from the pinned snapshot" tool recover --key-file "$TEST_TMP/kept.key"
check "recovery without the right key fails" bash -c "head -c 32 /dev/urandom >'$TEST_TMP/wrong.key'; chmod 600 '$TEST_TMP/wrong.key'; ! '$BUILD/tgs3' recover --force --data-dir '$TEST_TMP/elsewhere' --key-file '$TEST_TMP/wrong.key' --botapi-url '$EMU_URL' --bot-token '$BOT_TOKEN' --chat-id '$CHAT_ID' --admin-listen off"
restart_gateway --key-file "$TEST_TMP/kept.key"
aws s3api list-objects-v2 --bucket "$B" --query 'Contents[].[Key,Size,ETag]' --output text | sort >"$TEST_TMP/after.txt"
check "the recovered index lists the same objects" cmp "$TEST_TMP/before.txt" "$TEST_TMP/after.txt"
rm -rf "$TEST_TMP/dl"
aws s3 sync --only-show-errors "s3://$B/" "$TEST_TMP/dl/" >/dev/null 2>&1
bad=0
while IFS=$'\t' read -r k f; do
    cmp -s "$f" "$TEST_TMP/dl/$k" || { echo "# recovered $k does not read back"; bad=1; }
done <"$ACK"
check "every object reads back byte-identical after recovery ($(wc -l <"$ACK"))" test "$bad" = 0

# ---- --no-encryption: plaintext posted, reads still verified ------------------------------
say "--no-encryption"
stop_gateway
restart_gateway --key-file "$TEST_TMP/kept.key" --no-encryption
PLAIN=$TEST_TMP/plain.txt
for i in $(seq 1 60000); do printf "TGS3-UNSEALED-%06d\n" "$i"; done >"$PLAIN" # 1.2 MiB, above the packing threshold
check "unsealed object stored" aws s3 cp --only-show-errors "$PLAIN" "s3://$B/plain.txt"
DP=$(grep -rla 'TGS3-UNSEALED-000001' "$EMU_DIR/cloud" | head -n 1)
check "with --no-encryption the document is the plaintext" test -n "$DP"
check "sealed objects still read back" same_object pattern.txt "$PAT"
flip "$DP" 1000
st=$(s3curl -o "$TEST_TMP/err2.xml" -w '%{http_code}' "$S3_URL/$B/plain.txt")
check "a tampered unsealed block fails its keyed hash: 500, not served" bash -c "[ '$st' = 500 ] && grep -q InternalError '$TEST_TMP/err2.xml'"
check "delete it" aws s3 rm --only-show-errors "s3://$B/plain.txt"

# ---- unreclaimable: messages past the 48-hour window ------------------------------------
say "unreclaimable messages"
stop_gateway
stop_emulator
check "emulator restarts 55 h later" start_emulator --local --clock-offset 198000 || finish
restart_gateway --key-file "$TEST_TMP/kept.key"
check "delete an old object" aws s3 rm --only-show-errors "s3://$B/after/big.bin"
sleep 5
check "old messages recorded as unreclaimable, not retried" bash -c "
    n=\$('$PY' -c 'import sqlite3,sys; c=sqlite3.connect(\"file:\"+sys.argv[1]+\"?mode=ro\", uri=True); print(c.execute(\"select count(*) from unreclaimable\").fetchone()[0], c.execute(\"select count(*) from gc_queue\").fetchone()[0])' '$GW_DIR/index.db')
    echo \$n; [ \"\${n% *}\" -ge 16 ] && [ \"\${n#* }\" = 0 ]"
check "the log says so" grep -q "recorded as unreclaimable" "$LOG_DIR/gateway.log"

finish

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
GW_ARGS=(--gc-grace 2 --gc-interval 1 --admin-listen off --stray-probe-delay 200)

# tool CMD ARGS — a tgs3 sub-command with the gateway's Bot API flags.
tool() {
    local cmd=$1
    shift
    "$BUILD/tgs3" "$cmd" --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --chat-id "$CHAT_ID" --mode local --admin-listen off "$@"
}

# emu_sends — sendDocument calls the emulator has answered so far.
emu_sends() {
    local n
    n=$(emu_stats | grep -o '"sendDocument":{[^}]*}' | grep -o '"calls":[0-9]*' | cut -d: -f2)
    echo "${n:-0}"
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

# strays — documents in the storage chat (replayed from the emulator's own journal) that
# the index does not reference as a block, a queued deletion, an unreclaimable message or
# the pinned snapshot. Writes the count to $TEST_TMP/strays.n and one line per stray
# (message id and caption) to $TEST_TMP/strays.err; prints the count.
strays() {
    "$PY" - "$EMU_DIR/state.jsonl" "$GW_DIR/index.db" "$CHAT_ID" "$1" >"$TEST_TMP/strays.n" 2>"$TEST_TMP/strays.err" <<'PY'
import json, sqlite3, sys
journal, db, chat, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
live = {}
for line in open(journal):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("chat") != chat:
        continue
    if r.get("t") == "msg" and "doc" in r:
        live[r["id"]] = r.get("caption", "")
    elif r.get("t") == "del":
        live.pop(r["id"], None)
c = sqlite3.connect("file:" + db + "?mode=ro", uri=True)
ref = set(x[0] for x in c.execute("select message_id from blocks where chat_id = ?", (chat,)))
if mode == "pending":  # queued deletions and unreclaimable messages count as known
    for q in ("select message_id from gc_queue where chat_id = ?", "select message_id from unreclaimable where chat_id = ?"):
        ref.update(x[0] for x in c.execute(q, (chat,)))
for (v,) in c.execute("select v from meta where k = 'last_snapshot'"):
    p = str(v).split(":")
    if len(p) == 4 and int(p[0]) == chat:
        ref.add(int(p[1]))
if c.execute("select count(*) from sqlite_master where name = 'chain_msgs'").fetchone()[0]:
    ref.update(x[0] for x in c.execute("select message_id from chain_msgs where chat_id = ?", (chat,)))
s = sorted(set(live) - ref)
print(len(s))
for i in s:
    print("stray %d: %s" % (i, live[i]), file=sys.stderr)
PY
    cat "$TEST_TMP/strays.n"
}

# wait_strays N SECONDS — waits until N documents are strays (queued deletions count as known).
wait_strays() {
    local i=0
    while [ $i -lt $(($2 * 5)) ]; do
        [ "$(strays pending)" = "$1" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# wait_clean SECONDS — waits until every document in the chat is a block of the index (or
# the snapshot): the delete queue has run and nothing unknown is left.
wait_clean() {
    local i=0
    while [ $i -lt $(($1 * 5)) ]; do
        [ "$(strays blocks)" = 0 ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    echo "documents not referenced: $(cat "$TEST_TMP/strays.n")"
    head -n 5 "$TEST_TMP/strays.err"
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

# ---- (b2) a damaged block-cache file is dropped and the block read again ------------
say "(b2) damaged cache file"
V3=$TEST_TMP/victim3.bin
rand_file "$V3" 1400003
check "object stored" bash -c "[ \"\$(s3curl -o /dev/null -w '%{http_code}' -T '$V3' '$S3_URL/$B/victim3.bin')\" = 200 ]"
check "first read fills the cache" same_object victim3.bin "$V3"
CF=
for _ in $(seq 1 50); do
    CF=$(find "$GW_DIR/cache" -type f -size $((1400003 + 52))c 2>/dev/null | head -n 1)
    [ -n "$CF" ] && break
    sleep 0.1
done
check "the sealed document is in the block cache" test -n "$CF"
stop_gateway # no verified copy left in memory
flip "$CF" 4000
restart_gateway
check "a damaged cache file: the read still returns the right bytes" same_object victim3.bin "$V3"
check "the log says the cached copy was dropped and Telegram's read" grep -q "the cached copy failed verification" "$LOG_DIR/gateway.log"
check "delete it" aws s3 rm --only-show-errors "s3://$B/victim3.bin"

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
# Small blocks keep a round to seconds while objects still span many blocks: 256 KiB
# blocks, 5 MiB multipart parts, packs posted 300 ms after their first object.
export GW_BLOCK_SIZE=262144
stop_gateway # one gateway on the data dir at a time
restart_gateway --pack-delay 300
ACK=$TEST_TMP/acked.txt # key <tab> local file, for every upload a client saw succeed
: >"$ACK"
printf 'pattern.txt\t%s\n' "$PAT" >>"$ACK"

# Lost answers, deterministically: the emulator answers 3 s after it has posted, and
# the gateway dies in between, so every post in flight (a pack of a small acknowledged
# object and the blocks of a larger upload) becomes a message the index does not know.
stop_gateway
stop_emulator
check "emulator restarts answering 3 s late" start_emulator --local --latency-ms 3000 || finish
restart_gateway --pack-delay 300
SMALL=$TEST_TMP/small.bin
rand_file "$SMALL" 5000
LARGE=$TEST_TMP/large.bin
rand_file "$LARGE" 1200000
sends0=$(emu_sends)
packs0=$(grep -c "tgs3 v1 pack=" "$EMU_DIR/state.jsonl")
check "small object acknowledged (packed, not posted yet)" bash -c "[ \"\$(s3curl -o /dev/null -w '%{http_code}' -T '$SMALL' '$S3_URL/$B/lost/small.bin')\" = 200 ]"
s3curl -o /dev/null -T "$LARGE" "$S3_URL/$B/lost/large.bin" >/dev/null 2>&1 &
LPID=$!
# The kill comes once the emulator has taken the pack's post and some of the large object's
# (it answers each 3 s later): those answers are the ones the kill swallows.
for _ in $(seq 1 150); do
    [ "$(emu_sends)" -ge $((sends0 + 3)) ] && [ "$(grep -c "tgs3 v1 pack=" "$EMU_DIR/state.jsonl")" -gt "$packs0" ] && break
    sleep 0.1
done
posted=$(($(emu_sends) - sends0))
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null
GW_PID=
wait "$LPID" 2>/dev/null
sleep 3.2 # the emulator has answered into the void
say "$posted posts taken by the emulator when the gateway was killed; unknown to the index: $(strays pending)"
check "the posts in flight are strays (the kill swallowed their answers)" test "$(cat "$TEST_TMP/strays.n")" -ge 2
stop_emulator
check "emulator restarts" start_emulator --local || finish
restart_gateway --pack-delay 300
check "the start-up probe finds every stray: none left" wait_strays 0 20
check "the pack's lost post was one of them" grep -q "is a stray of the last run (caption 'tgs3 v1 pack=" "$LOG_DIR/gateway.log"
check "the packed object, acknowledged before the crash, reads back identical" same_object lost/small.bin "$SMALL"
check "the resumed pack is posted again after the probe" wait_clean 20
printf 'lost/small.bin\t%s\n' "$SMALL" >>"$ACK"
SRC=$TEST_TMP/src
mkdir -p "$SRC"
MP_CONFIG=$TEST_TMP/aws-config-mp # aws: multipart from 5 MiB on, 5 MiB parts
printf '[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n' >"$MP_CONFIG"
ROUNDS=${SAFETY_ROUNDS:-20}
# client PIDFILE LOG CMD... — runs one client in the background, its pid in PIDFILE (so it
# can be stopped by its id once the gateway is gone), its output in LOG, no retries
# against a dead gateway.
client() {
    local pf=$1 log=$2
    shift 2
    AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard "$@" >"$log" 2>&1 &
    echo $! >"$pf"
    wait $!
}
rounds_bad=0
for round in $(seq 1 "$ROUNDS"); do
    pids=()
    rm -f "$TEST_TMP"/client.*
    # Fresh data every round (dedup would otherwise reuse earlier blocks), named like
    # its key: a multipart object, a multi-block single PUT and small packed objects
    # through aws; a multipart object and small packed ones through rclone.
    A=$SRC/a$round R=$SRC/r$round
    mkdir -p "$A" "$R"
    for f in "$A/r$round-a-big.bin:$((5 * 1048576 + RANDOM * 8))" "$A/r$round-a-mid.bin:$((1100000 + RANDOM * 8))" \
        "$A/r$round-a-s1.bin:$((1000 + RANDOM * 4))" "$A/r$round-a-s2.bin:$((1000 + RANDOM * 8))" \
        "$R/r$round-r-big.bin:$((5 * 1048576 + RANDOM * 8))" "$R/r$round-r-s1.bin:$((1000 + RANDOM * 4))" \
        "$R/r$round-r-s2.bin:$((1000 + RANDOM * 8))"; do
        head -c "${f##*:}" /dev/urandom >"${f%:*}"
    done
    (export AWS_CONFIG_FILE=$MP_CONFIG
        client "$TEST_TMP/client.a" "$TEST_TMP/out.a" aws s3 cp --recursive "$A/" "s3://$B/crash/") &
    pids+=($!)
    (client "$TEST_TMP/client.r" "$TEST_TMP/out.r" rclone copy -v --retries 1 --low-level-retries 1 \
        --s3-upload-cutoff 5M --s3-chunk-size 5M --transfers 4 "$R/" "tgs3:$B/crash/") &
    pids+=($!)
    if [ "$round" -gt 1 ]; then
        # Deletes of earlier rounds' large objects meanwhile: once a delete starts the
        # object may or may not survive; if it is still listed it must be whole (checked
        # with the listing below).
        sed -i '/-big\.bin\t/d; /-mid\.bin\t/d' "$ACK"
        (client "$TEST_TMP/client.d" "$TEST_TMP/out.d" rclone delete --retries 1 --low-level-retries 1 \
            --filter "- r$round-*" --filter "+ *-big.bin" --filter "+ *-mid.bin" --filter "- *" "tgs3:$B/crash") &
        pids+=($!)
    fi
    # a random moment while blocks are being posted: once the emulator has taken a new
    # document (or after 8 s), within the next second, or one round in four later (so
    # that multipart uploads complete too)
    sends0=$(emu_sends)
    for _ in $(seq 1 80); do [ "$(emu_sends)" -gt "$sends0" ] && break; sleep 0.1; done
    if [ $((RANDOM % 4)) = 0 ]; then
        sleep "$((1 + RANDOM % 2)).$((RANDOM % 10))"
    else
        sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
    fi
    kill -9 "$GW_PID" 2>/dev/null
    wait "$GW_PID" 2>/dev/null
    GW_PID=
    sleep 0.1
    for pf in "$TEST_TMP"/client.*; do [ -f "$pf" ] && kill "$(cat "$pf")" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    # What the clients saw acknowledged: aws prints "upload: SRC to s3://...", rclone -v
    # "INFO  : NAME: Copied (new)", each only after the gateway answered.
    sed -n "s#^upload: .* to s3://$B/crash/\(r$round-[a-z0-9-]*\.bin\)\$#\1#p" "$TEST_TMP/out.a" |
        while read -r k; do printf 'crash/%s\t%s\n' "$k" "$A/$k"; done >>"$ACK"
    sed -n "s#^.*INFO  : \(r$round-[a-z0-9-]*\.bin\): Copied (new)\$#\1#p" "$TEST_TMP/out.r" |
        while read -r k; do printf 'crash/%s\t%s\n' "$k" "$R/$k"; done >>"$ACK"
    # the index the crash left is consistent, in itself and with Telegram
    tool fsck >"$TEST_TMP/fsck.out" 2>&1
    frc=$?
    found0=$(grep -c "is a stray of the last run" "$LOG_DIR/gateway.log")
    restart_gateway --pack-delay 300
    # every acknowledged object reads back identical; nothing listed is half-written
    # (one download of everything listed, then local comparisons)
    rm -rf "$TEST_TMP/dl"
    rclone copy --retries 1 "tgs3:$B" "$TEST_TMP/dl" >"$TEST_TMP/dl.out" 2>&1 || say "round $round: the download reported errors"
    bad=0
    while IFS=$'\t' read -r k f; do
        cmp -s "$f" "$TEST_TMP/dl/$k" || { echo "# round $round: acknowledged $k does not read back"; bad=1; }
    done <"$ACK"
    for got in "$TEST_TMP"/dl/crash/*; do
        [ -f "$got" ] || continue
        n=${got##*/} r=${got##*/r}
        r=${r%%-*}
        src=$SRC/a$r/$n
        [ -f "$src" ] || src=$SRC/r$r/$n
        cmp -s "$got" "$src" || { echo "# round $round: listed object $n is not the whole source"; bad=1; }
    done
    # strays of the crash found and queued for deletion
    wait_strays 0 20
    st=$?
    found=$(($(grep -c "is a stray of the last run" "$LOG_DIR/gateway.log") - found0))
    say "round $round: $(grep -c "^crash/r$round-" "$ACK") of 7 uploads acknowledged, $found strays found and queued for deletion"
    if [ "$frc" != 0 ] || [ "$bad" != 0 ] || [ "$st" != 0 ]; then
        rounds_bad=$((rounds_bad + 1))
        fail "round $round: fsck exit $frc, objects $([ "$bad" = 0 ] && echo identical || echo DIFFER), strays $(cat "$TEST_TMP/strays.n")" "$(tail -n 3 "$TEST_TMP/fsck.out" | tr '\n' ' ')"
        sed 's/^/#   /' "$TEST_TMP/strays.err" | head -n 5
    fi
done
check "$ROUNDS rounds of kill -9: every acknowledged object identical, fsck clean, strays back to zero (bad rounds: $rounds_bad)" test "$rounds_bad" = 0
check "acknowledged objects survived ($(wc -l <"$ACK") of them)" test "$(wc -l <"$ACK")" -gt $((ROUNDS * 2))
collected=$(grep -c "is a stray of the last run" "$LOG_DIR/gateway.log")
say "strays found and deleted by the start-up probes: $collected"
stop_gateway
tool fsck >"$TEST_TMP/fsck.out" 2>&1
rc=$?
tail -n 1 "$TEST_TMP/fsck.out" | sed 's/^/# /'
check "fsck is clean after the crashes" test "$rc" = 0
export GW_BLOCK_SIZE=$BS
restart_gateway
check "the delete queue drains: every document in the chat is a block the index references" wait_clean 20

# fsck finds what is wrong, and --repair fixes reference counts
"$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update blocks set refcount = refcount + 5 where id = (select min(id) from blocks)"); c.commit()' "$GW_DIR/index.db"
stop_gateway
tool fsck >"$TEST_TMP/f1" 2>&1
rc=$?
check "fsck reports a wrong reference count" bash -c "[ $rc = 1 ] && grep -q 'refcount' '$TEST_TMP/f1'"
check "fsck --repair fixes it" tool fsck --repair
check "fsck is clean again" tool fsck

# ---- (e) the index in Telegram → data dir lost → recover ----------------------------------
say "(e) index recovery"
ADMIN_E=$(free_port) # GW_ARGS turns the admin listener off: this section reads the journal's metrics
restart_gateway --journal-interval 1 --admin-listen "127.0.0.1:$ADMIN_E"
GW_ADMIN_URL=http://127.0.0.1:$ADMIN_E
aws s3 cp --only-show-errors "$BIG" "s3://$B/after/big.bin" && printf 'after/big.bin\t%s\n' "$BIG" >>"$ACK"
# A small object acknowledged from the spool (its pack waits a minute): the journal may name it
# before its pack is posted; recovery keeps it only if the pack reached Telegram.
SMALLE=$TEST_TMP/small-e.bin
rand_file "$SMALLE" 3000
check "small object acknowledged (packed)" bash -c "[ \"\$(s3curl -o /dev/null -w '%{http_code}' -T '$SMALLE' '$S3_URL/$B/after/small.bin')\" = 200 ]"
check "the journal has posted every change (lag 0, nothing pending)" wait_until 60 bash -c "[ \"\$(curl -sS '$GW_ADMIN_URL/metrics' | awk '\$1 == \"tgs3_journal_pending\" {print \$2}')\" = 0 ] && [ \"\$(curl -sS '$GW_ADMIN_URL/metrics' | awk '\$1 == \"tgs3_journal_lag_seconds\" {print \$2}')\" = 0.000 ]"
aws s3api list-objects-v2 --bucket "$B" --query 'Contents[].[Key,Size,ETag]' --output text | grep -v 'after/small.bin' | sort >"$TEST_TMP/before.txt"
kill -9 "$GW_PID" # no shutdown work: what is recoverable is what Telegram holds
wait "$GW_PID" 2>/dev/null
GW_PID=
check "the index is sealed (no object key in clear in any document)" bash -c "! grep -rqa 'after/big.bin' '$EMU_DIR/cloud'"
cp "$GW_DIR/master.key" "$TEST_TMP/kept.key"
chmod 600 "$TEST_TMP/kept.key"
check "recover refuses to overwrite an existing index" bash -c "! '$BUILD/tgs3' recover --data-dir '$GW_DIR' --key-file '$TEST_TMP/kept.key' --botapi-url '$EMU_URL' --bot-token '$BOT_TOKEN' --chat-id '$CHAT_ID' --admin-listen off"
rm -rf "$GW_DIR"
check "tgs3 recover rebuilds the data dir from the chain pinned in the chat" tool recover --key-file "$TEST_TMP/kept.key"
check "recovery without the right key fails" bash -c "head -c 32 /dev/urandom >'$TEST_TMP/wrong.key'; chmod 600 '$TEST_TMP/wrong.key'; ! '$BUILD/tgs3' recover --force --data-dir '$TEST_TMP/elsewhere' --key-file '$TEST_TMP/wrong.key' --botapi-url '$EMU_URL' --bot-token '$BOT_TOKEN' --chat-id '$CHAT_ID' --admin-listen off"
restart_gateway --key-file "$TEST_TMP/kept.key" --journal-interval 1
aws s3api list-objects-v2 --bucket "$B" --query 'Contents[].[Key,Size,ETag]' --output text | grep -v 'after/small.bin' | sort >"$TEST_TMP/after.txt"
check "the recovered index lists the same objects" cmp "$TEST_TMP/before.txt" "$TEST_TMP/after.txt"
rm -rf "$TEST_TMP/dl"
aws s3 sync --only-show-errors "s3://$B/" "$TEST_TMP/dl/" >/dev/null 2>&1
bad=0
while IFS=$'\t' read -r k f; do
    cmp -s "$f" "$TEST_TMP/dl/$k" || { echo "# recovered $k does not read back"; bad=1; }
done <"$ACK"
check "every object reads back byte-identical after recovery ($(wc -l <"$ACK"))" test "$bad" = 0
check "the small object is back whole or not at all (its pack was in the spool)" bash -c "[ ! -e '$TEST_TMP/dl/after/small.bin' ] || cmp '$SMALLE' '$TEST_TMP/dl/after/small.bin'"
stop_gateway
snapshot_by_hand() { tool snapshot --key-file "$TEST_TMP/kept.key" --gc-grace 2 | grep -q 'snapshot posted: chain'; }
check "tgs3 snapshot begins a new chain by hand" snapshot_by_hand

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
# Its message leaves the channel before the clock jumps below (an attempt cut by the restart
# would be retried a minute later, after the unreclaimable check has looked).
gc_empty() {
    "$PY" -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True); sys.exit(c.execute("select count(*) from gc_queue").fetchone()[0] != 0)' "$GW_DIR/index.db"
}
for _ in $(seq 1 100); do gc_empty && break; sleep 0.3; done
check "the delete queue is empty before the clock jumps" gc_empty

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

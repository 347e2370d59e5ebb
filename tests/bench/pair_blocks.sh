#!/usr/bin/env bash
# pair_blocks.sh — which block size and in-flight budgets move the most MiB/s through ONE (bot,
# chat) pair of a local Bot API server, at the same 256 MiB of block buffers.
#
# For each BLOCK:UPLOADS:FETCHES of CONFIGS (--block-size, --max-upload-blocks, --max-fetch-blocks)
# starts a fresh tgs3-botapi (--local, Telegram's 20 posts/min per pair and 30/s per bot, --bandwidth
# BW bytes per connection per second: a stand-in for the server's own upload to and download from
# Telegram; BW=0: no cap) and a fresh tgs3 with 1 bot, 1 chat, --redundancy none, the journal on
# (5 s) and no block cache, then:
#   - times ONE single-stream PUT of SIZE MiB (curl -T) and samples the gateway's peak RssAnon;
#   - times 4 concurrent GETs of it (all from the emulator: no cache), checks each got SIZE bytes
#     and one of them the file's sha256;
#   - times a ranged GET of 1 MiB from the middle (a read fetches a whole block).
# The model: N = ceil(SIZE / BLOCK) posts; Telegram's sliding window lets the pair post 20 at once,
# then 20 more each 60 s, so the PUT needs ceil((N - 20) / 20) x 60 s when N > 20 (0 otherwise;
# modelP counts the pair's posts instead of N: the journal's and snapshot's documents share it);
# the bandwidth alone needs ceil(N / UPLOADS) x BLOCK / BW for the PUT, ceil(F / FETCHES) x
# BLOCK / BW for the 4 GETs (F: the getFile calls they made; readers of one block share it when it
# is kept in memory, blocks up to 32 MiB) and BLOCK / BW per getFile of the ranged GET. A PUT that
# fails skips its config's GETs ("-" in the table). Prints numbers; never fails on a time (a wrong
# status, size or digest is a failed check). Not part of make test.
#
#   BUILD=build/o bash tests/bench/pair_blocks.sh
#   BW=0 SIZE=640 CONFIGS="16M:8:8 64M:2:2" BUILD=build/o bash tests/bench/pair_blocks.sh
#   GW_EXTRA="--body-min-rate 0" ...   (more gateway options, appended to every config's)
set -u
. "$(dirname "$0")/../integration/lib.sh"
SIZE_MIB=${SIZE:-1280}
BW=${BW:-32M}
CONFIGS=${CONFIGS:-16M:8:8 32M:4:4 64M:2:2}
read -r -a GW_EXTRA <<<"${GW_EXTRA:-}"
MIB=1048576
ROWS=$TEST_TMP/rows

# bytes SIZE — K/M/G (powers of 1024) to bytes, as both daemons parse them.
bytes() {
    "$PY" -c 'import re,sys; m=re.fullmatch(r"(\d+)([KkMmGg]?)(i?B?)", sys.argv[1]); print(int(m.group(1)) << {"":0,"k":10,"m":20,"g":30}[m.group(2).lower()])' "$1"
}
BW_BYTES=$(bytes "$BW") || exit 1

# since_start LOG — the lines of LOG after its last "=== start" line.
since_start() { awk '/^=== start /{n=NR} {l[NR]=$0} END{for(i=n+1;i<=NR;i++) print l[i]}' "$1"; }

# gw_flags — the values the running gateway was given (from ps) of the options this bench sets.
gw_flags() {
    ps -ww -o args= -p "$GW_PID" | "$PY" -c '
import sys
a = sys.stdin.read().split()
want = ["--block-size", "--max-upload-blocks", "--max-fetch-blocks", "--redundancy", "--journal-interval",
        "--max-schedule-wait", "--rate-pair-per-min", "--rate-bot-per-sec", "--cache-size", "--admin-listen", "--mode",
        "--body-min-rate"]
seen = {}
for i, x in enumerate(a[:-1]):
    if x in want:
        seen.setdefault(x, []).append(a[i + 1])
print(" ".join(f"{k} {seen[k][-1]}" + (f" (given {len(seen[k])} times)" if len(seen[k]) > 1 else "")
               for k in want if k in seen))'
}

# timeline FILE — every 2 s until killed: seconds, the emulator's sendDocument calls, the gateway's
# upload slots in use, requests waiting for one and blocks waiting for the pair, and the bytes the
# gateway's socket received (from ss): where a PUT stalls.
timeline() {
    local t0=$SECONDS
    while sleep 2; do
        printf '%4ds sendDocument %s upload_slots %s waiting_upload %s waiting_post %s socket_received %s\n' \
            $((SECONDS - t0)) \
            "$(emu_stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["methods"].get("sendDocument",{}).get("calls",0))' 2>/dev/null)" \
            "$(metric tgs3_inflight_upload_blocks)" "$(metric 'tgs3_queue_waiting{kind="upload"}')" \
            "$(metric 'tgs3_queue_waiting{kind="post"}')" \
            "$(ss -tniH state established "( sport = :$GW_PORT )" 2>/dev/null | grep -o 'bytes_received:[0-9]*' | cut -d: -f2 | sort -n | tail -n1)"
    done >"$1"
}

# longest_pause TIMELINE — the longest run of samples in which the socket received no byte.
longest_pause() {
    awk '{ r = $NF; t = $1 + 0; if (r == last) { if (t - since > best) { best = t - since; from = since } } else { since = t; last = r } }
         END { printf "%d s (from %d s)\n", best, from }' "$1"
}

# gw_metrics — the gateway's counters that tell where an upload waited or why it ended.
gw_metrics() {
    curl -sS --max-time 10 "$GW_ADMIN_URL/metrics" |
        grep -E '^tgs3_(bodies_too_slow|schedule_wait_seconds|telegram_wait_seconds|rate_limited|telegram_429|journal_documents|snapshots|header_timeouts)_total' |
        tr '\n' ' '
}

# tcp_drops — the kernel's counters (system-wide) of segments a full receive queue dropped: a
# sender whose segments were dropped resumes only when its backed-off retransmission timer fires.
tcp_drops() { nstat -az TcpExtTCPRcvQDrop TcpExtRcvPruned 2>/dev/null | awk '/^TcpExt/ {printf "%s %s ", $1, $2}'; }

# getfiles — getFile calls the emulator has answered.
getfiles() { emu_stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["methods"].get("getFile",{}).get("calls",0))'; }

section "BW=$BW ($BW_BYTES bytes/s per connection), SIZE=$SIZE_MIB MiB, CONFIGS=$CONFIGS"
rand_file "$TEST_TMP/obj" "${SIZE_MIB}M"
OBJ_SHA=$(sha256sum "$TEST_TMP/obj" | cut -d' ' -f1)
: >"$ROWS"

run() { # BLOCK:UPLOADS:FETCHES INDEX
    local cfg=$1 idx=$2 blk up fe rest t0 t1 code put_rss get_rss gets_s range_s range_code n_log stats
    local gf0=0 gf1=0 gf2=0 pids=() k ok=0 sched sha_ok=- off
    blk=${cfg%%:*} rest=${cfg#*:}
    up=${rest%%:*} fe=${rest#*:}
    EMU_DIR=$TEST_TMP/emu-$idx GW_DIR=$TEST_TMP/gw-$idx
    start_emulator --local --rate-chat 20 --rate-bot 30 --bandwidth "$BW" >/dev/null || {
        fail "$cfg: the emulator starts"
        return 1
    }
    # lib.sh's start_gateway passes --block-size, --journal-interval and the two rates from these
    # variables (and an --admin-listen on a free port): given here, each option appears once.
    GW_BLOCK_SIZE=$blk GW_JOURNAL_INTERVAL=5 GW_RATE_PAIR_PER_MIN=20 GW_RATE_BOT_PER_SEC=30 \
        start_gateway --redundancy none --max-schedule-wait 600 --cache-size 0 \
        --max-upload-blocks "$up" --max-fetch-blocks "$fe" "${GW_EXTRA[@]}" >/dev/null || {
        fail "$cfg: the gateway starts"
        stop_emulator
        return 1
    }
    wait_until 10 eval 'since_start "$LOG_DIR/gateway.log" | grep -q "scheduler: "' >/dev/null
    sched=$(since_start "$LOG_DIR/gateway.log" | grep -m1 "scheduler: ")
    say "$cfg: gateway $GW_PID runs with: $(gw_flags)"
    say "$cfg: ${sched:-no scheduler line in the log}"
    n_log=$(wc -l <"$LOG_DIR/gateway.log")

    code=$(s3curl -X PUT "$S3_URL/bench" -o /dev/null -w '%{http_code}')
    [ "$code" = 200 ] || fail "$cfg: CreateBucket answers 200" "HTTP $code"

    local drops0
    drops0=$(tcp_drops)
    rss_start "$GW_PID"
    timeline "$TEST_TMP/timeline-$idx" &
    local tl=$!
    t0=$(date +%s.%N)
    code=$(s3curl -X PUT -T "$TEST_TMP/obj" "$S3_URL/bench/obj" -o "$TEST_TMP/put.out" -w '%{http_code}')
    t1=$(date +%s.%N)
    kill "$tl" 2>/dev/null
    wait "$tl" 2>/dev/null
    put_rss=$(rss_stop)
    stats=$(emu_stats)
    local put_s
    put_s=$("$PY" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t0" "$t1")
    say "$cfg: PUT HTTP $code in $put_s s, peak RssAnon $put_rss MiB, the body's longest pause $(longest_pause "$TEST_TMP/timeline-$idx"); $(gw_metrics)"
    if [ "$code" != 200 ]; then
        fail "$cfg: the PUT answers 200" "HTTP $code: $(head -c 300 "$TEST_TMP/put.out")"
        say "$cfg: the kernel's receive-queue drops (system-wide) before: $drops0, after: $(tcp_drops)"
        say "$cfg: the PUT's timeline:"
        sed 's/^/#   /' "$TEST_TMP/timeline-$idx"
    fi

    get_rss=- gets_s=- range_s=- range_code=-
    if [ "$code" = 200 ]; then
        # 4 concurrent GETs; the first one's body is hashed, the others' counted.
        gf0=$(getfiles)
        rss_start "$GW_PID"
        t0=$(date +%s.%N)
        for k in 1 2 3 4; do
            if [ $k = 1 ]; then
                (s3curl "$S3_URL/bench/obj" -o - -w '%{stderr}%{http_code} %{size_download} %{time_total}\n' \
                    2>"$TEST_TMP/get$k.w" | sha256sum | cut -d' ' -f1 >"$TEST_TMP/get$k.sha") &
            else
                s3curl "$S3_URL/bench/obj" -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' \
                    >"$TEST_TMP/get$k.w" 2>&1 &
            fi
            pids+=($!)
        done
        wait "${pids[@]}"
        t1=$(date +%s.%N)
        get_rss=$(rss_stop)
        gf1=$(getfiles)
        gets_s=$("$PY" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t0" "$t1")
        for k in 1 2 3 4; do
            if [ "$(tail -n1 "$TEST_TMP/get$k.w" | cut -d' ' -f1-2)" = "200 $((SIZE_MIB * MIB))" ]; then
                ok=$((ok + 1))
            else
                fail "$cfg: GET $k answers 200 with $SIZE_MIB MiB" "$(tail -n3 "$TEST_TMP/get$k.w")"
            fi
        done
        sha_ok=no
        [ "$(cat "$TEST_TMP/get1.sha")" = "$OBJ_SHA" ] && sha_ok=yes
        [ $sha_ok = yes ] || fail "$cfg: GET 1's body has the file's sha256"
        say "$cfg: 4 GETs in $gets_s s (each: $(for k in 1 2 3 4; do printf '%ss ' "$(tail -n1 "$TEST_TMP/get$k.w" | cut -d' ' -f3)"; done)), $((gf1 - gf0)) getFile calls, peak RssAnon $get_rss MiB"

        # One ranged GET of 1 MiB from the middle, inside one block.
        off=$((SIZE_MIB * MIB / 2 + 262144))
        t0=$(date +%s.%N)
        range_code=$(s3curl -H "Range: bytes=$off-$((off + MIB - 1))" "$S3_URL/bench/obj" -o "$TEST_TMP/range" -w '%{http_code}')
        t1=$(date +%s.%N)
        gf2=$(getfiles)
        range_s=$("$PY" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$t0" "$t1")
        if [ "$range_code" != 206 ] || ! tail -c +$((off + 1)) "$TEST_TMP/obj" | head -c $MIB | cmp -s - "$TEST_TMP/range"; then
            fail "$cfg: the ranged GET answers 206 with the file's 1 MiB" "HTTP $range_code, $(stat -c %s "$TEST_TMP/range") bytes"
        fi
        say "$cfg: ranged GET HTTP $range_code in $range_s s, $((gf2 - gf1)) getFile call(s)"
    fi

    "$PY" - "$cfg" "$SIZE_MIB" "$BW_BYTES" "$code" "$put_s" "$stats" "$put_rss" "$gets_s" "$ok" "$sha_ok" \
        "$get_rss" "$range_code" "$range_s" "$(bytes "$blk")" "$up" "$fe" $((gf1 - gf0)) $((gf2 - gf1)) >>"$ROWS" <<'PY'
import json, math, sys
cfg, size, bw, code, put_s, stats, put_rss, gets_s, ok, sha, get_rss, rcode, range_s, blk, up, fe, gf, rgf = sys.argv[1:]
size = int(size); bw = int(bw); blk = int(blk); up = int(up); fe = int(fe); gf = int(gf); rgf = int(rgf)
put_s = float(put_s)
n = math.ceil(size * 1048576 / blk)
model = math.ceil((n - 20) / 20) * 60 if n > 20 else 0
posts_n = sum(p["posts"] for p in json.loads(stats)["pairs"])
model_p = math.ceil((posts_n - 20) / 20) * 60 if posts_n > 20 else 0
bw_put = math.ceil(n / up) * blk / bw if bw else 0
bw_get = math.ceil(gf / fe) * blk / bw if bw else 0
bw_rng = rgf * blk / bw if bw else 0
d = json.loads(stats)
posts = "+".join(str(p["posts"]) for p in d["pairs"]) or "0"
put = (f"{cfg:<10} {n:>4} {code:>4} {put_s:>7.1f} {size / put_s:>7.2f} {posts:>5} {d['too_many']:>4} "
       f"{model:>6} {model_p:>6} {bw_put:>6.1f} {put_rss:>7}")
if gets_s == "-":  # the PUT failed: no GETs
    print(f"{put} | {'-':>6} {'-':>7} {'-':>4} {'-':>4} {'-':>4} {'-':>6} {'-':>7} | {'-':>4} {'-':>7} {'-':>4} {'-':>6}")
else:
    gets_s = float(gets_s); range_s = float(range_s)
    print(f"{put} | {gets_s:>6.1f} {4 * size / gets_s:>7.1f} {ok + '/4':>4} {sha:>4} {gf:>4} {bw_get:>6.1f} "
          f"{get_rss:>7} | {rcode:>4} {range_s:>7.3f} {rgf:>4} {bw_rng:>6.2f}")
PY
    tail -n1 "$ROWS"
    # Anything the gateway or the emulator had to say beyond routine lines.
    local odd
    odd=$(tail -n +$((n_log + 1)) "$LOG_DIR/gateway.log" | grep -E ' (warn|error) | [45][0-9][0-9] in=|SlowDown|retry_after|too slow')
    if [ -n "$odd" ]; then
        say "$cfg: $(printf '%s\n' "$odd" | wc -l) warn/error line(s) in the gateway's log, first 8:"
        printf '%s\n' "$odd" | head -n 8 | sed 's/^/#   /'
    fi
    say "$cfg: emulator: rate_limited $(printf '%s' "$stats" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["rate_limited"], "flood_waits", d["flood_waits"], "flood_wait_ms", d["flood_wait_ms"], "peak_60s", [p["peak_60s"] for p in d["pairs"]])')"
    stop_gateway
    stop_emulator
    rm -rf "$EMU_DIR" "$GW_DIR"
    unset EMU_DIR GW_DIR
}

i=0
for c in $CONFIGS; do
    i=$((i + 1))
    run "$c" "$i"
done

echo
echo "# one (bot, chat) pair, local Bot API emulator: BW=$BW per connection ($BW_BYTES B/s; 0 = no cap), SIZE=$SIZE_MIB MiB${GW_EXTRA[*]:+, gateway also ${GW_EXTRA[*]}}"
echo "# model = ceil((N-20)/20)*60 s when N = ceil(SIZE/block) > 20, else 0 (20 posts per 60 s window);"
echo "# modelP = the same with N = posts (the journal's and the snapshot's documents share the pair's window)"
echo "# bw = what the bandwidth alone needs: PUT ceil(N/uploads)*block/BW, GETs ceil(getFile/fetches)*block/BW, range getFile*block/BW"
echo "# posts = the emulator's count for the pair (blocks + journal and snapshot documents); 429 = too-many answers; RSS = peak RssAnon MiB;"
echo "# gF = getFile calls the emulator answered (4 concurrent GETs share a block being fetched or kept: up to 32 MiB blocks)"
printf '%-10s %4s %4s %7s %7s %5s %4s %6s %6s %6s %7s | %6s %7s %4s %4s %4s %6s %7s | %4s %7s %4s %6s\n' \
    "block:u:f" N HTTP "PUT s" MiB/s posts 429 model modelP bw RSS "4GET s" MiB/s ok sha gF bw RSS HTTP "range s" gF bw
cat "$ROWS"
finish

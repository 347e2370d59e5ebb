#!/bin/bash
# test_ops.sh — operations: the admin listener (/metrics after an aws session, /healthz,
# /readyz following the Bot API server down and up), the access log and SIGHUP, option
# precedence (file < environment < flag) and errors naming FILE:LINE, SIGTERM during
# uploads (the upload completes, the index passes fsck), tgs3 stats and tgs3 gc.
set -u
. "$(dirname "$0")/lib.sh"

B=ops-bucket
D=$TEST_TMP/data
mkdir -p "$D"
ADMIN_PORT=$(free_port)
ADMIN=http://127.0.0.1:$ADMIN_PORT
GW_LOG=$TEST_TMP/gateway-access.log

check "emulator starts" start_emulator --local || finish
check "gateway starts with an admin listener" start_gateway --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --health-interval 1 --log-file "$GW_LOG" --gc-grace 0 --gc-interval 3600 || finish

# metric NAME_WITH_LABELS — prints the value of one sample of /metrics (empty if absent).
metric() {
    curl -sS --max-time 10 "$ADMIN/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
# metric_ge SAMPLE MIN — the sample exists and is at least MIN.
metric_ge() {
    local v
    v=$(metric "$1")
    echo "$1 = '$v' (want >= $2)"
    [ -n "$v" ] && awk -v v="$v" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }'
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
# wait_code URL CODE SECONDS — polls until URL answers CODE.
wait_code() {
    local i=0 c
    while [ $i -lt $(($3 * 5)) ]; do
        c=$(http_code "$1")
        [ "$c" = "$2" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    echo "$1 answered $c, want $2"
    return 1
}

# ---- an aws session, then /metrics ----
rand_file "$D/f5m" 5M
rand_file "$D/f40m" 40M
session() {
    aws s3 mb "s3://$B" &&
        aws s3 cp "$D/f5m" "s3://$B/f5m" &&
        aws s3 cp "$D/f40m" "s3://$B/f40m" &&
        aws s3 ls "s3://$B/" &&
        aws s3 cp "s3://$B/f5m" "$D/f5m.down" &&
        cmp "$D/f5m" "$D/f5m.down" &&
        aws s3api head-object --bucket "$B" --key f5m >/dev/null &&
        aws s3 cp "$D/f5m" "s3://$B/gone" && aws s3 rm "s3://$B/gone" &&
        { aws s3api head-object --bucket "$B" --key missing >/dev/null 2>&1; true; }
}
check "aws session (mb, cp up 5 MiB and 40 MiB multipart, ls, cp down, head, rm)" session

check "/healthz answers 200" test "$(http_code "$ADMIN/healthz")" = 200
check "/readyz answers 200" test "$(http_code "$ADMIN/readyz")" = 200
check "/metrics is Prometheus text" bash -c "curl -sSi '$ADMIN/metrics' | grep -qi '^content-type: text/plain; version=0.0.4'"
for s in 'CreateBucket",status="200' 'PutObject",status="200' 'CreateMultipartUpload",status="200' \
    'UploadPart",status="200' 'CompleteMultipartUpload",status="200' 'ListObjectsV2",status="200' \
    'GetObject",status="200' 'HeadObject",status="200' 'HeadObject",status="404' 'DeleteObject",status="204'; do
    check "metrics: requests {op=\"$s\"} counted" metric_ge "tgs3_requests_total{op=\"$s\"}" 1
done
check "metrics: PutObject durations summed" metric_ge 'tgs3_request_duration_seconds_count{op="PutObject"}' 2
check "metrics: bytes in >= 50 MiB" metric_ge tgs3_bytes_in_total $((50 * 1024 * 1024))
check "metrics: bytes out >= 5 MiB" metric_ge tgs3_bytes_out_total $((5 * 1024 * 1024))
check "metrics: sendDocument calls ok" metric_ge 'tgs3_telegram_calls_total{method="sendDocument",result="ok"}' 4
check "metrics: getFile calls ok" metric_ge 'tgs3_telegram_calls_total{method="getFile",result="ok"}' 1
check "metrics: getMe calls ok" metric_ge 'tgs3_telegram_calls_total{method="getMe",result="ok"}' 1
for m in tgs3_telegram_429_total tgs3_telegram_wait_seconds_total tgs3_inflight_upload_blocks \
    tgs3_inflight_fetch_blocks 'tgs3_queue_waiting{kind="upload"}' 'tgs3_queue_waiting{kind="fetch"}' \
    tgs3_cache_hits_total tgs3_cache_misses_total tgs3_cache_joined_total 'tgs3_queue_waiting{kind="post"}' tgs3_gc_deleted_total \
    tgs3_gc_failed_total tgs3_gc_unreclaimable_total tgs3_schedule_wait_seconds_total; do
    check "metrics: $m present" metric_ge "$m" 0
done
check "metrics: posts per (bot, chat) pair" metric_ge "tgs3_telegram_posts_total{bot=\"${BOT_TOKEN%%:*}\",chat=\"$CHAT_ID\"}" 4
check "metrics: the chat is open" test "$(metric "tgs3_chat_open{chat=\"$CHAT_ID\"}")" = 1
sleep 1.5 # one --health-interval: the index figures are read on the store thread
check "metrics: index objects = 2" test "$(metric tgs3_index_objects)" = 2
check "metrics: index bytes = 45 MiB" test "$(metric tgs3_index_bytes)" = $((45 * 1024 * 1024))
check "metrics: index blocks >= 4" metric_ge tgs3_index_blocks 4
check "metrics: gc backlog present" metric_ge tgs3_gc_backlog 0
check "/metrics is not served on the S3 port" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $S3_URL/metrics)\" != 200 ]"
check "unknown admin path answers 404" test "$(http_code "$ADMIN/nope")" = 404

# ---- access log and SIGHUP ----
access_log() {
    local id
    id=$(s3curl -sS -D - -o /dev/null "$S3_URL/$B/f5m" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-amz-request-id" { print $2 }')
    [ -n "$id" ] || { echo "no request id"; return 1; }
    sleep 0.2
    grep -E "info access $id GetObject 200 in=0 out=5242880 [0-9]+ms user=$TGS3_AK GET /$B/f5m" "$GW_LOG"
}
check "access log: one line per request with its request id, op, status, bytes, duration" access_log
sighup() {
    mv "$GW_LOG" "$GW_LOG.1"
    kill -HUP "$GW_PID"
    sleep 0.3
    aws s3 ls "s3://$B/" >/dev/null || return 1
    sleep 0.2
    [ -s "$GW_LOG" ] && grep -q 'access .* ListObjectsV2 200' "$GW_LOG"
}
check "SIGHUP reopens the log file" sighup
check "--log-level warn drops the access log (serve --print-config shows it)" bash -c \
    "'$BUILD/tgs3' serve --log-level warn --print-config | grep -q '^log-level *= warn *# command line'"

# ---- /readyz follows the Bot API server ----
check "emulator stops" stop_emulator
check "/readyz answers 503 while the Bot API server is down" wait_code "$ADMIN/readyz" 503 30
check "/healthz still answers 200" test "$(http_code "$ADMIN/healthz")" = 200
check "metrics: tgs3_botapi_up 0" test "$(metric tgs3_botapi_up)" = 0
restart_emulator() {
    "$BUILD/tgs3-botapi" --listen "127.0.0.1:$EMU_PORT" --dir "$EMU_DIR" --chat "$CHAT_ID" --local --rate-chat 0 --rate-bot 0 \
        >>"$LOG_DIR/botapi.log" 2>&1 &
    EMU_PID=$!
    wait_ready "$EMU_PID" "$LOG_DIR/botapi.log" "listening on 127.0.0.1:$EMU_PORT" "$EMU_PORT" 30
}
check "emulator restarts on the same port" restart_emulator
check "/readyz answers 200 again" wait_code "$ADMIN/readyz" 200 30

# ---- tgs3 stats and tgs3 gc beside the running gateway ----
stats() {
    "$BUILD/tgs3" stats --data-dir "$GW_DIR" >"$TEST_TMP/stats.out" || return 1
    cat "$TEST_TMP/stats.out"
    grep -Eq '^buckets +1$' "$TEST_TMP/stats.out" &&
        grep -Eq '^objects +2$' "$TEST_TMP/stats.out" &&
        grep -Eq "^bytes +$((45 * 1024 * 1024)) " "$TEST_TMP/stats.out" &&
        grep -Eq "^bucket $B +2 objects, $((45 * 1024 * 1024)) bytes" "$TEST_TMP/stats.out" &&
        grep -Eq "^chat $CHAT_ID: [0-9]+ blocks \(messages\)" "$TEST_TMP/stats.out" &&
        grep -Eq '^gc backlog +[0-9]+ messages' "$TEST_TMP/stats.out" &&
        grep -Eq "^cache +([0-9]+ blocks, [0-9]+ bytes .* in|none at) $GW_DIR/cache\$" "$TEST_TMP/stats.out"
}
check "tgs3 stats (read-only, gateway running)" stats
stats_missing() {
    local out
    out=$("$BUILD/tgs3" stats --data-dir "$TEST_TMP/nowhere" 2>&1) && { echo "succeeded: $out"; return 1; }
    echo "$out"
    echo "$out" | grep -q "cannot open the index $TEST_TMP/nowhere/index.db"
}
check "tgs3 stats on a missing index fails clearly" stats_missing
gc_once() {
    local before after
    before=$(emu_docs)
    "$BUILD/tgs3" gc --all --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --chat-id "$CHAT_ID" >"$TEST_TMP/gc.out" 2>&1 || { cat "$TEST_TMP/gc.out"; return 1; }
    cat "$TEST_TMP/gc.out"
    after=$(emu_docs)
    echo "messages before $before, after $after"
    "$BUILD/tgs3" stats --data-dir "$GW_DIR" | grep -Eq '^gc backlog +0 messages'
}
check "tgs3 gc --all empties the delete queue" gc_once
# What must have the data dir alone is refused while the gateway holds it (DATA_DIR/tgs3.lock).
refused() { # WHAT ARGS... — fails, naming the data dir in use
    local out
    out=$("$BUILD/tgs3" "$@" --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --chat-id "$CHAT_ID" 2>&1) && { echo "succeeded: $out"; return 1; }
    echo "$out" | tail -n 3
    echo "$out" | grep -q "the data dir $GW_DIR is in use by another tgs3"
}
check "a second tgs3 serve on the same data dir is refused" refused serve --access-key a --secret-key b \
    --listen "127.0.0.1:$(free_port)" --admin-listen "127.0.0.1:$(free_port)"
check "tgs3 fsck --repair beside the running gateway is refused" refused fsck --repair

# ---- configuration: file < environment < flag ----
CONF=$TEST_TMP/tgs3.conf
cat >"$CONF" <<CONF
# a comment, then the options by their flag names
region = file-region
block-size = 8M
chat-id = -1001
chat-id = -1002
log-level = "debug"
CONF
precedence() {
    local out
    out=$(TGS3_REGION=env-region TGS3_BLOCK_SIZE=4M "$BUILD/tgs3" serve --config "$CONF" --block-size 2M --print-config) || return 1
    echo "$out"
    echo "$out" | grep -Eq '^region +\= env-region +# TGS3_REGION$' &&
        echo "$out" | grep -Eq '^block-size +\= 2M +# command line$' &&
        echo "$out" | grep -Eq "^chat-id +\= -1001, -1002 +# $CONF:5$" &&
        echo "$out" | grep -Eq "^log-level +\= debug +# $CONF:6$" &&
        echo "$out" | grep -Eq '^listen +\= 127.0.0.1:9000 +# default$'
}
check "precedence: flag > TGS3_* > --config file > default" precedence
# bad_start EXPECTED-MESSAGE ARGS... — serve refuses to start with status 2 and the message.
bad_start() {
    local want=$1 out rc
    shift
    out=$(env "$@" 2>&1)
    rc=$?
    echo "status $rc: $out"
    [ $rc = 2 ] && echo "$out" | grep -qF -- "$want"
}
printf 'region = x\nbogus-option = 1\n' >"$TEST_TMP/unknown.conf"
printf '# ok\n\nmax-body = lots\n' >"$TEST_TMP/badval.conf"
printf 'region\n' >"$TEST_TMP/noeq.conf"
check "config file: unknown option names FILE:LINE" bad_start "$TEST_TMP/unknown.conf:2: unknown option 'bogus-option'" \
    "$BUILD/tgs3" serve --config "$TEST_TMP/unknown.conf"
check "config file: bad value names FILE:LINE" bad_start "$TEST_TMP/badval.conf:3: --max-body: bad value 'lots'" \
    "$BUILD/tgs3" serve --config "$TEST_TMP/badval.conf"
check "config file: a line without '=' is refused" bad_start "$TEST_TMP/noeq.conf:1: expected 'name = value'" \
    "$BUILD/tgs3" serve --config "$TEST_TMP/noeq.conf"
check "config file: missing file is refused" bad_start "--config $TEST_TMP/absent.conf: No such file" \
    "$BUILD/tgs3" serve --config "$TEST_TMP/absent.conf"
check "environment: bad value is refused" bad_start "TGS3_BLOCK_SIZE: --block-size: bad value '12Q'" \
    TGS3_BLOCK_SIZE=12Q "$BUILD/tgs3" serve
check "flag: unknown option is refused" bad_start "unknown option '--no-such-flag'" "$BUILD/tgs3" serve --no-such-flag 1
check "flag over a bad file value is still an error (the file is read)" bad_start "badval.conf:3" \
    "$BUILD/tgs3" serve --config "$TEST_TMP/badval.conf" --max-body 1G
check "--admin-listen equal to --listen is refused" bad_start "--admin-listen must differ from --listen" \
    "$BUILD/tgs3" serve --listen 127.0.0.1:9000 --admin-listen 127.0.0.1:9000 --access-key a --secret-key b \
    --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID"
help_lists_all() {
    local h opt rc=0
    h=$("$BUILD/tgs3" serve --help) || return 1
    for opt in $("$BUILD/tgs3" serve --print-config | awk '{ print $1 }'); do
        echo "$h" | grep -q -- "--$opt " || { echo "--$opt missing from serve --help"; rc=1; }
    done
    # Every option with a default shows it.
    "$BUILD/tgs3" serve --print-config | awk '$NF == "default" { print $1 }' | while read -r opt; do
        echo "$h" | grep -- "--$opt " | grep -q '(default ' || { echo "--$opt shows no default"; exit 1; }
    done || rc=1
    "$BUILD/tgs3" --help | grep -q 'serve' || rc=1
    return $rc
}
check "tgs3 serve --help lists every option with its default" help_lists_all

# ---- SIGTERM during uploads ----
# 1. while the body arrives (curl sends 50 MiB at 25 MiB/s; the emulator answers each call after
# 150 ms; 4 MiB blocks) and 2. while its blocks are posted (all 13 held by a stopped emulator).
check "gateway stops" stop_gateway
check "emulator stops" stop_emulator
check "emulator starts with 150 ms latency" start_emulator --local --latency-ms 150
GW_BLOCK_SIZE=4M
check "gateway starts (4 MiB blocks, grace 60 s)" start_gateway --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --shutdown-grace 60
rand_file "$D/f50m" 50M
rand_file "$D/f50p" 50M # its own bytes: the same as f50m, its blocks would all be deduplicated, nothing posted
term_during() {
    local phase=$1 key=$2 pid rc i=0 active
    if [ "$phase" = body ]; then
        s3curl -f -T "$D/f50m" --limit-rate 25M "$S3_URL/$B/$key" -o "$TEST_TMP/put.$key.out" &
        pid=$!
        sleep 0.8
    else
        # The Bot API server stops answering (SIGSTOP) before the PUT: its 13 blocks (16 upload
        # slots) wait for their posts until the server goes on, after the SIGTERM.
        kill -STOP "$EMU_PID"
        s3curl -f -T "$D/f50p" "$S3_URL/$B/$key" -o "$TEST_TMP/put.$key.out" &
        pid=$!
        while [ $i -lt 100 ]; do
            active=$(metric tgs3_inflight_upload_blocks)
            [ "${active:-0}" -ge 13 ] && break
            sleep 0.1
            i=$((i + 1))
        done
        echo "blocks in flight: $active"
    fi
    kill -0 "$pid" 2>/dev/null || { echo "the upload finished before SIGTERM"; kill -CONT "$EMU_PID"; return 1; }
    kill -TERM "$GW_PID"
    [ "$phase" = body ] || { sleep 1; kill -CONT "$EMU_PID"; }
    wait "$pid"
    rc=$?
    echo "curl status $rc"
    i=0
    while kill -0 "$GW_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$GW_PID" 2>/dev/null && { echo "gateway still running"; return 1; }
    wait "$GW_PID"
    echo "gateway exit status $?"
    grep -a 'signal 15' "$LOG_DIR/gateway.log" | tail -n 1
    # A buffered body is not a request yet while it arrives; a streamed one (over 4 MiB) is.
    if [ "$phase" = body ] && ! grep -a 'signal 15' "$LOG_DIR/gateway.log" | tail -n 1 |
        grep -qE 'finishing 0 requests|\(1 still receiving their body\)'; then
        echo "the body had fully arrived before SIGTERM: this run did not test the body phase"
        rc=1
    fi
    GW_PID=
    [ $rc = 0 ]
}
check "SIGTERM while a 50 MiB body arrives: the upload completes" term_during body big-body
check "gateway restarts (16 upload slots: the whole body in flight)" start_gateway --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --shutdown-grace 60 --max-upload-blocks 16
check "SIGTERM while a 50 MiB upload posts its blocks: the upload completes" term_during post big-post
check "gateway restarts" start_gateway --admin-listen "127.0.0.1:$ADMIN_PORT"
round() {
    rm -f "$D/down.$1"
    aws s3 cp "s3://$B/$1" "$D/down.$1" && cmp "$2" "$D/down.$1"
}
check "the object uploaded across SIGTERM (body phase) reads back identical" round big-body "$D/f50m"
check "the object uploaded across SIGTERM (post phase) reads back identical" round big-post "$D/f50p"
# A prompt SIGTERM (nothing in flight) exits 0 and cleanly.
stop_clean() {
    kill -TERM "$GW_PID"
    wait "$GW_PID"
    local rc=$?
    GW_PID=
    echo "exit status $rc"
    tail -n 3 "$LOG_DIR/gateway.log"
    [ $rc = 0 ] && ! tail -n 5 "$LOG_DIR/gateway.log" | grep -q 'Assertion'
}
check "gateway stops at once on SIGTERM with exit status 0" stop_clean
# Connections left open at the end (one idle after a response, one with half a body) are
# closed, not left for h2o's context disposal to abort on.
check "gateway restarts" start_gateway --admin-listen "127.0.0.1:$ADMIN_PORT" --shutdown-grace 1
"$PY" - "$GW_PORT" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
idle = socket.create_connection(("127.0.0.1", port))
idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
idle.recv(4096)
half = socket.create_connection(("127.0.0.1", port))
half.sendall(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
time.sleep(15)
PY
HOLDER=$!
sleep 2
check "SIGTERM with an idle and a half-sent connection open: exit status 0, no abort" stop_clean
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
fsck() {
    "$BUILD/tgs3" fsck --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --chat-id "$CHAT_ID" --mode local
}
check "the index passes tgs3 fsck" fsck
finish

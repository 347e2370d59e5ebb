# lib.sh — shared helpers for the integration tests (sourced, never run).
#
# Each test script sources this file, starts its own tgs3-botapi and tgs3 on free loopback
# ports, drives them with real S3 clients and ends with `finish`. Everything a test writes
# lives in one temporary directory under build/test-tmp/, removed when every check passed.
#
# Environment read: BUILD (binaries, default build/san or build), TGS3_TEST_LOGDIR (where
# sanitizer reports and daemon logs go), TGS3_KEEP_TMP=1 (keep the temporary directory).
# Set EMU_DIR / GW_DIR before start_emulator / start_gateway to reuse a previous state.

TGS3_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$TGS3_ROOT" || exit 1
if [ -z "${BUILD:-}" ]; then
    if [ -x build/san/tgs3 ]; then BUILD=build/san; else BUILD=build; fi
fi
case $BUILD in /*) ;; *) BUILD=$TGS3_ROOT/$BUILD ;; esac
export BUILD

TEST_NAME=$(basename "$0" .sh)
mkdir -p "$TGS3_ROOT/build/test-tmp"
TEST_TMP=$(mktemp -d "$TGS3_ROOT/build/test-tmp/$TEST_NAME.XXXXXX")
LOG_DIR=${TGS3_TEST_LOGDIR:-$TEST_TMP/logs}
mkdir -p "$LOG_DIR"
export TEST_TMP LOG_DIR

# Sanitizer reports of the daemons go to files the runner inspects after the test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:quarantine_size_mb=16:malloc_context_size=10:log_path=$LOG_DIR/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:log_path=$LOG_DIR/asan}

# Clients: the Debian builds, never what pyenv puts first on PATH; loopback only.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export PY
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$TEST_TMP/aws-config AWS_SHARED_CREDENTIALS_FILE=$TEST_TMP/aws-credentials
printf '[default]\nregion = us-east-1\n' >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export no_proxy='*' NO_PROXY='*'
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

TGS3_AK=TGS3TESTACCESSKEY001
TGS3_SK=tgs3TestSecretKey0123456789abcdefghijklm
BOT_TOKEN=${BOT_TOKEN:-123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw}
CHAT_ID=${CHAT_ID:--1001000000001}
export BOT_TOKEN CHAT_ID

PASSED=0
FAILED=0
FINISHED=0
EMU_PID=
GW_PID=
RSS_SAMPLER_PID=

# ---- output ----

say() { printf '# %s\n' "$*"; }
# section TEXT — a heading with the seconds the test has run.
section() { say "[${SECONDS}s] $*"; }

# check NAME CMD... — runs CMD in this shell, prints "ok - NAME" or "not ok - NAME" with
# the tail of its output, and counts the result.
check() {
    local name=$1 out=$TEST_TMP/check.out rc t0=$SECONDS took=""
    shift
    "$@" >"$out" 2>&1
    rc=$?
    [ $((SECONDS - t0)) -ge 5 ] && took=" # $((SECONDS - t0)) s"
    if [ $rc -eq 0 ]; then
        PASSED=$((PASSED + 1))
        echo "ok - $name$took"
    else
        FAILED=$((FAILED + 1))
        echo "not ok - $name (status $rc)$took"
        tail -n 25 "$out" | sed 's/^/#   /'
    fi
    return $rc
}

# fail NAME REASON — records a failed check without running anything.
fail() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    [ $# -gt 1 ] && echo "#   $2"
    return 1
}

# finish — prints the summary line and exits 0 if every check passed.
finish() {
    FINISHED=1
    stop_all
    if [ "$FAILED" -eq 0 ] && [ "${TGS3_KEEP_TMP:-0}" != 1 ]; then
        rm -rf "$TEST_TMP"
    else
        keep_tmp
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}

# keep_tmp — keeps the temporary directory for a look, minus the large data files.
keep_tmp() {
    find "$TEST_TMP" -type f -size +64M -delete 2>/dev/null
    say "temporary files kept in $TEST_TMP (files over 64 MiB removed)"
}

on_exit() {
    local rc=$?
    [ "$FINISHED" = 1 ] && return
    stop_all
    echo "not ok - $TEST_NAME stopped before finishing (status $rc)"
    keep_tmp
    echo "$PASSED passed, $((FAILED + 1)) failed"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- processes ----

# free_port — prints a loopback TCP port nobody listens on right now.
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PID LOG PATTERN PORT SECONDS — waits for PATTERN in LOG (or the port to accept).
wait_ready() {
    local pid=$1 log=$2 pat=$3 port=$4 secs=$5 i=0
    while [ $i -lt $((secs * 10)) ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "# process $pid exited during start-up; log:" >&2
            tail -n 40 "$log" | sed 's/^/#   /' >&2
            return 1
        fi
        if grep -q "$pat" "$log" 2>/dev/null; then
            port_open "$port" && return 0
        elif [ $i -gt 50 ] && port_open "$port"; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "# process $pid not ready after ${secs}s; log:" >&2
    tail -n 40 "$log" | sed 's/^/#   /' >&2
    return 1
}

# wait_until SECS CMD... — runs CMD every half second until it succeeds (0) or SECS pass (1;
# CMD's last output is printed then).
wait_until() {
    local secs=$1 i=0 out
    shift
    while [ $i -lt $((secs * 2)) ]; do
        out=$("$@" 2>&1) && return 0
        sleep 0.5
        i=$((i + 1))
    done
    printf '%s\n' "$out"
    return 1
}

# stop_pid PID NAME — SIGTERM, wait up to 10 s, then SIGKILL. A daemon that was already
# gone, or that exits with anything but 0 (or the plain SIGTERM status), is a failed check.
stop_pid() {
    local pid=$1 name=$2 i=0 rc killed=0 alive=1
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || alive=0
    if [ $alive = 1 ]; then
        kill -TERM "$pid" 2>/dev/null
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
            killed=1
        fi
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    if [ $alive = 0 ]; then
        fail "$name was still running when stopped" "it had exited with status $rc; log: $LOG_DIR"
    elif [ $killed = 1 ]; then
        fail "$name stops within 10 s of SIGTERM" "killed with SIGKILL; log: $LOG_DIR"
    elif [ $rc != 0 ] && [ $rc != 143 ]; then
        fail "$name exits cleanly on SIGTERM" "exit status $rc; last lines of its log:"
        tail -n 5 "$LOG_DIR/$name.log" 2>/dev/null | sed 's/^/#     /'
    fi
    return 0
}

# start_emulator [--local] [extra args] — exports EMU_URL EMU_PID EMU_DIR EMU_PORT CHAT_ID.
# The emulator enforces Telegram's limits by default; they are turned off here unless the
# caller passes a --rate-* flag of its own, so tests not about limits stay fast.
start_emulator() {
    local log rates=(--rate-chat 0 --rate-bot 0)
    case " $* " in *" --rate-"*) rates=() ;; esac
    EMU_LOCAL=0
    case " $* " in *" --local "*) EMU_LOCAL=1 ;; esac
    [ -n "${EMU_DIR:-}" ] || EMU_DIR=$TEST_TMP/botapi
    mkdir -p "$EMU_DIR"
    EMU_PORT=$(free_port)
    log=$LOG_DIR/botapi.log
    echo "=== start $(date +%T) port $EMU_PORT" >>"$log"
    "$BUILD/tgs3-botapi" --listen "127.0.0.1:$EMU_PORT" --dir "$EMU_DIR" --chat "$CHAT_ID" "${rates[@]}" "$@" \
        >>"$log" 2>&1 &
    EMU_PID=$!
    EMU_URL=http://127.0.0.1:$EMU_PORT
    export EMU_URL EMU_PID EMU_DIR EMU_PORT EMU_LOCAL CHAT_ID
    wait_ready "$EMU_PID" "$log" "tgs3-botapi listening on" "$EMU_PORT" 30
}

# start_gateway [extra args] — exports S3_URL GW_PID GW_DIR GW_PORT GW_ADMIN_URL and the
# client settings. The emulator enforces no rate limits unless asked, so neither does the
# gateway here (GW_RATE_PAIR_PER_MIN / GW_RATE_BOT_PER_SEC override). The index's journal
# is off unless asked (--journal-interval N or GW_JOURNAL_INTERVAL): its documents and pins
# would change the document counts most tests check; test_journal.sh and test_safety.sh's
# recovery run with it.
start_gateway() {
    local log mode=local
    [ "${EMU_LOCAL:-1}" = 1 ] || mode=cloud
    [ -n "${GW_DIR:-}" ] || GW_DIR=$TEST_TMP/gateway
    mkdir -p "$GW_DIR"
    GW_PORT=$(free_port)
    GW_ADMIN_PORT=$(free_port)
    log=$LOG_DIR/gateway.log
    echo "=== start $(date +%T) port $GW_PORT" >>"$log"
    "$BUILD/tgs3" serve --listen "127.0.0.1:$GW_PORT" --data-dir "$GW_DIR" \
        --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID" \
        --mode "${GW_MODE:-$mode}" --block-size "${GW_BLOCK_SIZE:-16M}" \
        --access-key "$TGS3_AK" --secret-key "$TGS3_SK" --region us-east-1 \
        --admin-listen "127.0.0.1:$GW_ADMIN_PORT" \
        --rate-pair-per-min "${GW_RATE_PAIR_PER_MIN:-60000}" --rate-bot-per-sec "${GW_RATE_BOT_PER_SEC:-1000}" \
        --journal-interval "${GW_JOURNAL_INTERVAL:-0}" "$@" >>"$log" 2>&1 &
    GW_PID=$!
    S3_URL=http://127.0.0.1:$GW_PORT
    GW_ADMIN_URL=http://127.0.0.1:$GW_ADMIN_PORT
    AWS_ACCESS_KEY_ID=$TGS3_AK
    AWS_SECRET_ACCESS_KEY=$TGS3_SK
    export S3_URL GW_PID GW_DIR GW_PORT GW_ADMIN_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    write_client_configs
    wait_ready "$GW_PID" "$log" "listening on" "$GW_PORT" 60
}

write_client_configs() {
    RCLONE_CONF=$TEST_TMP/rclone.conf
    S3CMD_CONF=$TEST_TMP/s3cmd.cfg
    export RCLONE_CONF S3CMD_CONF
    cat >"$RCLONE_CONF" <<CONF
[tgs3]
type = s3
provider = Other
access_key_id = $TGS3_AK
secret_access_key = $TGS3_SK
endpoint = $S3_URL
region = us-east-1
CONF
    cat >"$S3CMD_CONF" <<CONF
[default]
access_key = $TGS3_AK
secret_key = $TGS3_SK
host_base = 127.0.0.1:$GW_PORT
host_bucket = 127.0.0.1:$GW_PORT
bucket_location = us-east-1
use_https = False
check_ssl_certificate = False
signature_v2 = False
progress_meter = False
CONF
}

stop_gateway() { stop_pid "$GW_PID" gateway; GW_PID=; }
stop_emulator() { stop_pid "$EMU_PID" botapi; EMU_PID=; }

# stop_all — stops the samplers and both daemons (registered on EXIT through finish/on_exit).
stop_all() {
    rss_stop >/dev/null 2>&1
    stop_gateway
    stop_emulator
}

# ---- clients ----

# aws ARGS — awscli 2 against the gateway; transfer commands run without a progress meter.
aws() {
    local extra=()
    if [ "${1:-}" = s3 ]; then
        case ${2:-} in cp | mv | sync) extra=(--no-progress) ;; esac
    fi
    env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" "$@" "${extra[@]}"
}
rclone() { env -u AWS_CA_BUNDLE /usr/bin/rclone --config "$RCLONE_CONF" "$@"; }
s3cmd() { env -u AWS_CA_BUNDLE /usr/bin/s3cmd -c "$S3CMD_CONF" "$@"; }
restic() { env -u AWS_CA_BUNDLE /usr/bin/restic "$@"; }

# s3curl CURL-ARGS — curl signing with SigV4 (queries must be written canonical already).
s3curl() {
    env -u AWS_CA_BUNDLE curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$TGS3_AK:$TGS3_SK" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

export TGS3_AK TGS3_SK
export -f aws rclone s3cmd restic s3curl

# emu_stats — the emulator's statistics as JSON.
emu_stats() { curl -sS --max-time 10 "$EMU_URL/_emulator/stats"; }

# emu_post KNOB — POSTs a fault knob to the emulator (ban?chat=ID, delete?chat=ID&message=MID…).
emu_post() { curl -fsS --max-time 10 -X POST "$EMU_URL/_emulator/$1"; }

# metric NAME — the value of one /metrics line of the gateway (NAME with its labels, as printed).
metric() { curl -sS --max-time 10 "$GW_ADMIN_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# emu_docs [CHAT] — number of messages the chat holds according to the emulator.
emu_docs() {
    emu_stats | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["chats"][sys.argv[1]]["messages"])' "${1:-$CHAT_ID}"
}

# index SQL — first column of the first row of a read-only query on the gateway's index.
index() { "$PY" -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro",uri=True); print(c.execute(sys.argv[2]).fetchone()[0])' "$GW_DIR/index.db" "$1"; }

# ---- data ----

# rand_file PATH BYTES — incompressible data (BYTES accepts K/M/G suffixes of head -c).
rand_file() {
    if [ "$2" = 0 ]; then
        : >"$1"
    else
        openssl enc -aes-128-ctr -K "$(openssl rand -hex 16)" -iv "$(openssl rand -hex 16)" -nosalt \
            </dev/zero 2>/dev/null | head -c "$2" >"$1"
    fi
}

# ---- memory ----

# rss_start PID — samples the process's anonymous resident memory every 0.2 s in the
# background (tests/integration/rss.py). In a sanitized build the figure that counts leaves
# out the sanitizer's shadow (ASan's grows by 1/8 of every byte the program touches, mmapped
# files too; TSan's by several times it).
rss_start() {
    RSS_FILE=$TEST_TMP/rss.$1
    local san=asan
    RSS_SAN=0
    grep -q __asan_init "/proc/$1/exe" 2>/dev/null && RSS_SAN=1
    grep -q __tsan_init "/proc/$1/exe" 2>/dev/null && RSS_SAN=1 san=tsan
    "$PY" "$TGS3_ROOT/tests/integration/rss.py" "$1" "$RSS_FILE" 0.2 $san &
    RSS_SAMPLER_PID=$!
}

# rss_stop — stops the sampler and prints the peak (rss_peak).
rss_stop() {
    [ -n "$RSS_SAMPLER_PID" ] || return 1
    kill -TERM "$RSS_SAMPLER_PID" 2>/dev/null
    wait "$RSS_SAMPLER_PID" 2>/dev/null
    RSS_SAMPLER_PID=
    rss_peak
}

# rss_peak — the peak so far in MiB: RssAnon, or without the shadow in a sanitized build.
rss_peak() {
    local anon noshadow n
    read -r anon noshadow n <"$RSS_FILE" || return 1
    if [ "$RSS_SAN" = 1 ]; then echo $((noshadow / 1024)); else echo $((anon / 1024)); fi
}

# rss_report — one line describing the peaks seen.
rss_report() {
    local anon noshadow n
    read -r anon noshadow n <"$RSS_FILE" || return 1
    if [ "$RSS_SAN" = 1 ]; then
        echo "$((noshadow / 1024)) MiB without the sanitizer's shadow ($((anon / 1024)) MiB RssAnon with it; $n samples)"
    else
        echo "$((anon / 1024)) MiB ($n samples)"
    fi
}

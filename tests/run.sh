#!/bin/bash
# run.sh — starts tgs3 for a local try-out (make run).
#
# With no TGS3_BOT_TOKEN in the environment it first starts tgs3-botapi on a free loopback
# port as the embedded Telegram (state under $TGS3_DATA_DIR/botapi), then the gateway in the
# foreground on $TGS3_LISTEN (default 127.0.0.1:9000) with fixed demo keys. With a token
# configured, the gateway alone runs, every other setting read from TGS3_* variables.
# Ctrl-C stops both.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
DATA=${TGS3_DATA_DIR:-build/run}
LISTEN=${TGS3_LISTEN:-127.0.0.1:9000}
AK=${TGS3_ACCESS_KEY:-tgs3demoaccesskey}
SK=${TGS3_SECRET_KEY:-tgs3demosecretkey/changeme}
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)

for b in tgs3 tgs3-botapi; do
    [ -x "$BUILD/$b" ] || { echo "run.sh: $BUILD/$b is missing; run make first" >&2; exit 1; }
done

EMU_PID=
GW_PID=
cleanup() {
    trap - EXIT INT TERM
    for pid in $GW_PID $EMU_PID; do kill -TERM "$pid" 2>/dev/null; done
    for pid in $GW_PID $EMU_PID; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ARGS=(serve --listen "$LISTEN" --data-dir "$DATA/gateway" --access-key "$AK" --secret-key "$SK")
mkdir -p "$DATA/gateway"
if [ -z "${TGS3_BOT_TOKEN:-}" ]; then
    CHAT=-1001000000001
    TOKEN=123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$DATA/botapi"
    echo "starting the embedded Telegram (tgs3-botapi) on 127.0.0.1:$PORT, log $DATA/botapi.log"
    "$BUILD/tgs3-botapi" --listen "127.0.0.1:$PORT" --dir "$DATA/botapi" --local --chat "$CHAT" \
        >>"$DATA/botapi.log" 2>&1 &
    EMU_PID=$!
    for _ in $(seq 100); do
        grep -q "listening on 127.0.0.1:$PORT" "$DATA/botapi.log" 2>/dev/null && break
        kill -0 "$EMU_PID" 2>/dev/null || { tail -n 20 "$DATA/botapi.log"; exit 1; }
        sleep 0.1
    done
    ARGS+=(--botapi-url "http://127.0.0.1:$PORT" --bot-token "$TOKEN" --chat-id "$CHAT" --mode local --block-size 16M)
fi

cat <<INFO

  endpoint    http://$LISTEN
  access key  $AK
  secret key  $SK
  region      us-east-1
  admin       http://${TGS3_ADMIN_LISTEN:-127.0.0.1:9001}/metrics  /healthz  /readyz

  try:
    export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
    aws --endpoint-url http://$LISTEN s3 mb s3://demo
    aws --endpoint-url http://$LISTEN s3 cp README.md s3://demo/
    aws --endpoint-url http://$LISTEN s3 ls s3://demo/

  Ctrl-C stops it.

INFO
"$BUILD/tgs3" "${ARGS[@]}" &
GW_PID=$!
wait "$GW_PID"
rc=$?
GW_PID=
exit $rc

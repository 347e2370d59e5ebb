#!/bin/bash
# test_browser.sh — a real browser against the gateway: headless Chromium loads a page from a
# second origin (python3's http.server on another loopback port) whose JavaScript does the
# S3 flow with fetch() (tests/integration/browser/harness.js, one function per step) and writes
# one line per step into <pre id=out>; Chromium dumps the DOM and the checks grep it. What
# the browser claims is checked on the server too (aws s3 cp, head-object).
#
# Steps now: a presigned PUT of a Blob with a Content-Type (preflight, then PUT; the ETag read
# through ExposeHeader), the object back by a presigned GET, and a bucket without CORS rules
# where the browser's fetch fails. Adding a step: a function in harness.js, its name in STEPS
# below, the URLs it needs in browser.py, and a check on its line.
set -u
. "$(dirname "$0")/lib.sh"

B=web-site
B2=web-plain
KEY=uploads/from-browser.bin
STEPS="put_presigned get_presigned put_no_cors get_no_cors"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    fail "chromium is installed (tests/deps.sh installs it)" "no chromium on PATH"
    finish
fi

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish
PAGE_PORT=$(free_port)
ORIGIN=http://127.0.0.1:$PAGE_PORT
PAGE_DIR=$TEST_TMP/page
mkdir -p "$PAGE_DIR"

check "buckets, one with a CORS rule for the page's origin" bash -c '
    aws() { env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" "$@"; }
    aws s3 mb s3://'"$B"' && aws s3 mb s3://'"$B2"' || exit 1
    echo "not for the page" | aws s3 cp - s3://'"$B2"'/there || exit 1
    aws s3api put-bucket-cors --bucket '"$B"' --cors-configuration "{\"CORSRules\": [{
        \"AllowedOrigins\": [\"'"$ORIGIN"'\"], \"AllowedMethods\": [\"GET\", \"PUT\"],
        \"AllowedHeaders\": [\"*\"], \"ExposeHeaders\": [\"ETag\"], \"MaxAgeSeconds\": 60}]}"'

"$PY" -c 'import os,sys; sys.stdout.buffer.write(os.urandom(300000))' >"$TEST_TMP/payload.bin"
MD5=$(md5sum "$TEST_TMP/payload.bin" | cut -d' ' -f1)
# shellcheck disable=SC2086
check "the page, with presigned URLs from boto3" "$PY" "$TGS3_ROOT/tests/integration/browser.py" \
    "$PAGE_DIR" "$B" "$B2" "$KEY" "$TEST_TMP/payload.bin" $STEPS || finish

"$PY" -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$PAGE_DIR" >"$LOG_DIR/page-server.log" 2>&1 &
PAGE_PID=$!
trap 'kill $PAGE_PID 2>/dev/null; on_exit' EXIT
check "the page's server answers on its own origin" wait_until 10 port_open "$PAGE_PORT"

section "chromium"
# --virtual-time-budget lets the page's fetches finish before --dump-dom (virtual time stops
# while requests are in flight); a fresh profile so nothing is cached between runs.
run_browser() {
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$TEST_TMP/chromium-profile" --virtual-time-budget=60000 \
        --dump-dom "$ORIGIN/index.html" >"$TEST_TMP/dom.html" 2>"$LOG_DIR/chromium.log"
    # The lines of <pre id="out">, as text.
    "$PY" -c 'import html,re,sys; m=re.search(r"<pre id=\"out\">(.*?)</pre>", open(sys.argv[1]).read(), re.S)
print(html.unescape(m.group(1)) if m else "", end="")' "$TEST_TMP/dom.html" >"$TEST_TMP/out.txt"
    cat "$TEST_TMP/out.txt"
    grep -qx DONE "$TEST_TMP/out.txt"
}
check "chromium runs the page to the end" run_browser
dom() { grep -xE "$1" "$TEST_TMP/out.txt"; }
check "presigned PUT from the page: 200, ETag readable (ExposeHeader)" dom "PUT 200 etag=\"$MD5\""
check "presigned GET from the page: 200, the same bytes" \
    dom "GET 200 bytes=300000 same=true type=application/x-tgs3-test"
check "bucket without CORS rules: the browser's PUT fails (preflight refused)" dom "NOCORS-PUT blocked TypeError"
check "bucket without CORS rules: a simple GET cannot be read" dom "NOCORS-GET blocked TypeError"

section "server side"
check "the object the browser PUT holds its bytes (aws s3 cp)" bash -c '
    env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" s3 cp s3://'"$B/$KEY"' "$TEST_TMP/back.bin" --no-progress &&
    cmp "$TEST_TMP/back.bin" "$TEST_TMP/payload.bin"'
check "the refused PUT never reached the bucket without rules" bash -c '
    out=$(env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" s3api head-object --bucket '"$B2"' --key '"$KEY"' 2>&1)
    echo "$out"; echo "$out" | grep -q "Not Found"'

check "the browser sent real preflights: 200 for the bucket with rules, 403 for the other (access log)" bash -c '
    grep -E "access [0-9A-F]+ CorsPreflight 200 .* OPTIONS /'"$B/$KEY"'$" "$LOG_DIR/gateway.log" &&
    grep -E "access [0-9A-F]+ CorsPreflight 403 .* OPTIONS /'"$B2/$KEY"'$" "$LOG_DIR/gateway.log"'

kill "$PAGE_PID" 2>/dev/null
wait "$PAGE_PID" 2>/dev/null
finish

#!/bin/bash
# test_browser.sh — a real browser against the gateway: headless Chromium loads a page from a
# second origin (python3's http.server on another loopback port) whose JavaScript does the
# S3 flow with fetch() (tests/integration/browser/harness.js, one function per step) and writes
# one line per step into <pre id=out>; Chromium dumps the DOM and the checks grep it. What
# the browser claims is checked on the server too (aws s3 cp, head-object).
#
# Steps now: a presigned PUT of a Blob with a Content-Type (preflight, then PUT; the ETag read
# through ExposeHeader), the object back by a presigned GET, a bucket without CORS rules
# where the browser's fetch fails, a PNG uploaded through a POST form (boto3's
# generate_presigned_post, acl=public-read) and by a presigned PUT with x-amz-acl public-read
# (a signed header: preflight), both displayed from their share links (the plain URLs:
# fetched and compared, and decoded in <img> elements), and the private object's plain URL
# refused (403) in the browser too. Adding a step: a function in harness.js, its name in STEPS
# below, the URLs it needs in browser.py, and a check on its line.
set -u
. "$(dirname "$0")/lib.sh"

B=web-site
B2=web-plain
KEY=uploads/from-browser.bin
PNG_KEY=shared/from-form.png
STEPS="put_presigned get_presigned put_no_cors get_no_cors post_form put_public share_get share_img private_get"
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
        \"AllowedOrigins\": [\"'"$ORIGIN"'\"], \"AllowedMethods\": [\"GET\", \"PUT\", \"POST\"],
        \"AllowedHeaders\": [\"*\"], \"ExposeHeaders\": [\"ETag\"], \"MaxAgeSeconds\": 60}]}"'

"$PY" -c 'import os,sys; sys.stdout.buffer.write(os.urandom(300000))' >"$TEST_TMP/payload.bin"
MD5=$(md5sum "$TEST_TMP/payload.bin" | cut -d' ' -f1)
# A 7x5 RGB PNG, written here (zlib + struct) so the browser has a real image to decode.
"$PY" -c '
import struct, sys, zlib
w, h = 7, 5
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
raw = b"".join(b"\0" + b"".join(bytes((x * 36, y * 50, 200)) for x in range(w)) for y in range(h))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))' >"$TEST_TMP/pic.png"
PNG_MD5=$(md5sum "$TEST_TMP/pic.png" | cut -d' ' -f1)
PNG_SIZE=$(stat -c %s "$TEST_TMP/pic.png")
# shellcheck disable=SC2086
check "the page, with presigned URLs from boto3" "$PY" "$TGS3_ROOT/tests/integration/browser.py" \
    "$PAGE_DIR" "$B" "$B2" "$KEY" "$TEST_TMP/payload.bin" "$TEST_TMP/pic.png" "$PNG_KEY" $STEPS || finish

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
check "POST form from the page (acl=public-read): 201 <PostResponse>, its Key and ETag" \
    dom "POST 201 root=PostResponse key=$PNG_KEY etag=\"$PNG_MD5\""
check "presigned PUT with x-amz-acl public-read from the page (preflight asks for it): 200" \
    dom "PUT-PUBLIC 200 etag=\"$PNG_MD5\""
for how in form put; do
    check "share link of the $how upload (plain URL, no signature) from the page: 200, the same bytes" \
        dom "SHARE-GET $how 200 bytes=$PNG_SIZE same=true type=image/png"
    check "share link of the $how upload shown in an <img>: loaded, naturalWidth 7" dom "SHARE-IMG $how load 7x5"
done
check "the private object's plain URL from the page: 403 AccessDenied" dom "PRIVATE-GET 403 code=AccessDenied"

section "server side"
check "the object the browser PUT holds its bytes (aws s3 cp)" bash -c '
    env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" s3 cp s3://'"$B/$KEY"' "$TEST_TMP/back.bin" --no-progress &&
    cmp "$TEST_TMP/back.bin" "$TEST_TMP/payload.bin"'
check "the PNG the browser POSTed holds its bytes (aws s3 cp)" bash -c '
    env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" s3 cp s3://'"$B/$PNG_KEY"' "$TEST_TMP/pic.back" --no-progress &&
    cmp "$TEST_TMP/pic.back" "$TEST_TMP/pic.png"'
check "its ACL is public-read (AllUsers READ) as the form's acl field said" bash -c '
    out=$(env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" s3api get-object-acl --bucket '"$B"' --key '"$PNG_KEY"')
    echo "$out"; echo "$out" | "$PY" -c "import json,sys; g=json.load(sys.stdin)[\"Grants\"]
sys.exit(0 if any(x[\"Grantee\"].get(\"URI\",\"\").endswith(\"/global/AllUsers\") and x[\"Permission\"]==\"READ\" for x in g) else 1)"'
for k in "$PNG_KEY" "$PNG_KEY.put"; do
    check "the share link of $k works for anyone: anonymous curl 200, the same bytes" bash -c '
        code=$(curl -s -o "$TEST_TMP/pic.curl" -w "%{http_code}" "$S3_URL/'"$B/$k"'")
        echo "$code"; [ "$code" = 200 ] && cmp "$TEST_TMP/pic.curl" "$TEST_TMP/pic.png"'
done
check "the private object: anonymous curl 403" bash -c '
    code=$(curl -s -o /dev/null -w "%{http_code}" "$S3_URL/'"$B/$KEY"'"); echo "$code"; [ "$code" = 403 ]'
check "the refused PUT never reached the bucket without rules" bash -c '
    out=$(env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$S3_URL" s3api head-object --bucket '"$B2"' --key '"$KEY"' 2>&1)
    echo "$out"; echo "$out" | grep -q "Not Found"'

check "the browser sent real preflights: 200 for the bucket with rules, 403 for the other (access log)" bash -c '
    grep -E "access [0-9A-F]+ CorsPreflight 200 .* OPTIONS /'"$B/$KEY"'$" "$LOG_DIR/gateway.log" &&
    grep -E "access [0-9A-F]+ CorsPreflight 200 .* OPTIONS /'"$B/$PNG_KEY.put"'$" "$LOG_DIR/gateway.log" &&
    grep -E "access [0-9A-F]+ CorsPreflight 403 .* OPTIONS /'"$B2/$KEY"'$" "$LOG_DIR/gateway.log"'

kill "$PAGE_PID" 2>/dev/null
wait "$PAGE_PID" 2>/dev/null
finish

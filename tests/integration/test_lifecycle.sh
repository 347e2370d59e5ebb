#!/bin/bash
# test_lifecycle.sh — bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration through awscli
# (AWS's errors for bad documents: lifecycle.py), then the rules run after time travel. Objects,
# versions and uploads are made at the real time; the emulator and the gateway then restart with
# the same --clock-offset, just past the expiry (creation + 1 day, rounded up to the next midnight
# UTC) and, most of the day, still inside Telegram's 48 hours since the posts. Checked: what each
# rule removes and what it leaves (prefix, tag and size filters, NoncurrentVersionExpiration with
# NewerNoncurrentVersions, ExpiredObjectDeleteMarker, Days in a versioned bucket,
# AbortIncompleteMultipartUpload), a version under Object Lock retention left in place, the
# runner's metrics, and the freed blocks' messages deleted in the emulator.
set -u
. "$(dirname "$0")/lib.sh"

B=lc-plain
V=lc-ver
K=lc-lock
L() { "$PY" "$TGS3_ROOT/tests/integration/lifecycle.py" "$@"; }
A() { /usr/bin/aws --endpoint-url "$S3_URL" "$@"; }
export -f A

GW_ARGS=(--no-packing --gc-grace 0 --gc-interval 1 --lifecycle-interval 2)
check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway "${GW_ARGS[@]}" || finish
check "buckets" bash -c "A s3 mb s3://$B && A s3 mb s3://$V && A s3api put-bucket-versioning --bucket $V \
    --versioning-configuration Status=Enabled && A s3api create-bucket --bucket $K --object-lock-enabled-for-bucket >/dev/null"

section "configuration"
check "GetBucketLifecycleConfiguration before any: NoSuchLifecycleConfiguration" bash -c '
    out=$(A s3api get-bucket-lifecycle-configuration --bucket '"$B"' 2>&1) && exit 1
    echo "$out"; echo "$out" | grep -q NoSuchLifecycleConfiguration'
check "refused documents: AWS's status, code and message; Content-MD5 or a checksum required" L errors "$B"
cat >"$TEST_TMP/plain.json" <<'JSON'
{"Rules": [
  {"ID": "old", "Filter": {"Prefix": "old/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
  {"ID": "tagged", "Filter": {"Tag": {"Key": "exp", "Value": "yes"}}, "Status": "Enabled", "Expiration": {"Days": 1}},
  {"ID": "big", "Filter": {"And": {"Prefix": "size/", "ObjectSizeGreaterThan": 2000}}, "Status": "Enabled",
   "Expiration": {"Days": 1}},
  {"ID": "off", "Filter": {"Prefix": "new/"}, "Status": "Disabled", "Expiration": {"Days": 1}},
  {"ID": "mp", "Filter": {"Prefix": "mp/"}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
]}
JSON
cat >"$TEST_TMP/ver.json" <<'JSON'
{"Rules": [
  {"ID": "keep-one", "Filter": {"Prefix": "k/"}, "Status": "Enabled",
   "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}},
  {"ID": "markers", "Filter": {"Prefix": "m/"}, "Status": "Enabled",
   "NoncurrentVersionExpiration": {"NoncurrentDays": 1}, "Expiration": {"ExpiredObjectDeleteMarker": true}},
  {"ID": "days", "Filter": {"Prefix": "d/"}, "Status": "Enabled", "Expiration": {"Days": 1}}
]}
JSON
check "put-bucket-lifecycle-configuration, then get answers the same rules" bash -c '
    A s3api put-bucket-lifecycle-configuration --bucket '"$B"' --lifecycle-configuration file://'"$TEST_TMP"'/plain.json || exit 1
    out=$(A s3api get-bucket-lifecycle-configuration --bucket '"$B"' --output json) || exit 1
    echo "$out"
    "$PY" - "$out" "'"$TEST_TMP"'/plain.json" <<"PY"
import json, sys
got = json.loads(sys.argv[1])["Rules"]
want = json.load(open(sys.argv[2]))["Rules"]
sys.exit(0 if got == want else 1)
PY'
check "delete-bucket-lifecycle, then NoSuchLifecycleConfiguration; put again" bash -c '
    A s3api delete-bucket-lifecycle --bucket '"$B"' || exit 1
    out=$(A s3api get-bucket-lifecycle-configuration --bucket '"$B"' 2>&1) && exit 1
    echo "$out" | grep -q NoSuchLifecycleConfiguration || exit 1
    A s3api put-bucket-lifecycle-configuration --bucket '"$B"' --lifecycle-configuration file://'"$TEST_TMP"'/plain.json'
check "the versioned bucket's rules" A s3api put-bucket-lifecycle-configuration --bucket "$V" \
    --lifecycle-configuration "file://$TEST_TMP/ver.json"
cat >"$TEST_TMP/lock.json" <<'JSON'
{"Rules": [{"ID": "nc", "Filter": {}, "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]}
JSON
check "the Object Lock bucket's rule" A s3api put-bucket-lifecycle-configuration --bucket "$K" \
    --lifecycle-configuration "file://$TEST_TMP/lock.json"

section "objects, versions, an upload (real time)"
put() { # BUCKET KEY BYTES [TAGGING]
    rand_file "$TEST_TMP/obj" "$3" &&
        A s3api put-object --bucket "$1" --key "$2" --body "$TEST_TMP/obj" ${4:+--tagging "$4"} >/dev/null
}
keys() { A s3api list-objects-v2 --bucket "$1" --query 'Contents[].Key' --output text | tr '\t' ' '; }
keys_are() { # BUCKET KEYS...
    local k
    k=$(keys "$1")
    shift
    echo "keys: $k"
    test "$k" = "$*"
}
versions() { # BUCKET KEY: its versions newest first ("v:ID"), then its delete markers ("m:ID")
    A s3api list-object-versions --bucket "$1" --prefix "$2" --output json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(["v:" + v["VersionId"] for v in d.get("Versions", [])] +
               ["m:" + m["VersionId"] for m in d.get("DeleteMarkers", [])]))'
}
objects_plain() {
    put $B old/a 1000 && put $B old/b 1000 && put $B new/c 1000 &&
        put $B tag/yes 1000 exp=yes && put $B tag/no 1000 exp=no && put $B tag/none 1000 &&
        put $B size/big 5000 && put $B size/small 100
}
upload_one_part() {
    local id
    id=$(A s3api create-multipart-upload --bucket $B --key mp/x --query UploadId --output text) || return 1
    head -c 100000 /dev/urandom >"$TEST_TMP/part"
    A s3api upload-part --bucket $B --key mp/x --upload-id "$id" --part-number 1 --body "$TEST_TMP/part" >/dev/null
}
objects_versioned() {
    put $V k/x 1000 && put $V k/x 1001 && put $V k/x 1002 && put $V k/x 1003 &&
        put $V m/x 1000 && A s3api delete-object --bucket $V --key m/x >/dev/null &&
        put $V d/x 1000 && put $V d/y 1000 && A s3api delete-object --bucket $V --key d/y >/dev/null &&
        A s3api delete-object --bucket $V --key d/y --version-id "$(versions $V d/y | tr ' ' '\n' | grep ^v: | cut -c3-)" >/dev/null
}
objects_locked() { # l/x: a version under COMPLIANCE retention for 10 days, then a newer one; f/x: the same unlocked
    rand_file "$TEST_TMP/obj" 1000 &&
        A s3api put-object --bucket $K --key l/x --body "$TEST_TMP/obj" --object-lock-mode COMPLIANCE \
            --object-lock-retain-until-date "$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" >/dev/null &&
        put $K l/x 1000 && put $K f/x 1000 && put $K f/x 1000
}
ran_once() { test "$(metric tgs3_lifecycle_runs_total)" -ge 1; }
nothing_yet() {
    sleep 3
    ran_once || return 1
    keys_are $B new/c old/a old/b size/big size/small tag/no tag/none tag/yes
}
check "unversioned: old/, new/, tagged, sized objects" objects_plain
check "an unfinished multipart upload with one part" upload_one_part
check "versioned: four versions of k/x; m/x under a delete marker; d/x; d/y only a delete marker" objects_versioned
check "Object Lock: l/x's old version under retention, f/x's not, each under a newer one" objects_locked
check "the runner ran and removed nothing yet" nothing_yet
K_VERSIONS=$(versions "$V" k/x)
say "k/x: $K_VERSIONS"
check "k/x has four versions" test "$(echo "$K_VERSIONS" | wc -w)" = 4
DOCS0=$(emu_docs)
say "the chat holds $DOCS0 messages"

section "time travel"
# Every creation above happened before now: one day later, rounded up to midnight UTC, plus a minute.
NOW=$(date +%s)
DUE=$(( (NOW + 86400 + 86399) / 86400 * 86400 ))
OFF=$(( DUE - NOW + 60 ))
# Telegram lets a bot delete a post for 48 hours; the gateway gives up at 47 (gc.c). Runs started
# in the two hours after midnight UTC need an offset near or past that: the blocks' age at the
# check is the offset plus the minutes since they were posted, so an offset within 10 minutes of
# 47 h is moved past it (a larger offset keeps the rules due) and the blocks are then too old.
LATE=0
if [ "$OFF" -gt $((47 * 3600 - 600)) ]; then
    LATE=1
    [ "$OFF" -lt $((47 * 3600 + 600)) ] && OFF=$((47 * 3600 + 600))
fi
say "clock offset ${OFF} s ($((OFF / 3600)) h; past the gateway's 47 h delete limit: $LATE)"
stop_gateway
stop_emulator
check "emulator restarts with the offset" start_emulator --local --clock-offset "$OFF" || finish
check "gateway restarts with the same offset" start_gateway "${GW_ARGS[@]}" --clock-offset "$OFF" || finish
check "a lifecycle run after the restart (it was due during the downtime)" wait_until 30 ran_once

section "what the rules removed"
uploads_none() {
    local out
    out=$(A s3api list-multipart-uploads --bucket $B --output json) || return 1
    echo "$out"
    ! echo "$out" | grep -q UploadId
}
k_kept() {
    local got want
    got=$(versions $V k/x)
    want=$(echo "$K_VERSIONS" | cut -d' ' -f1-2)
    echo "got: $got"
    echo "want: $want"
    test "$got" = "$want"
}
m_gone() {
    local got
    got=$(versions $V m/x)
    echo "got: '$got'"
    test -z "$got"
}
counted() {
    curl -sS "$GW_ADMIN_URL/metrics" | grep ^tgs3_lifecycle
    test "$(metric 'tgs3_lifecycle_expired_total{kind="current"}')" = 5 &&
        test "$(metric 'tgs3_lifecycle_expired_total{kind="noncurrent"}')" = 4 &&
        test "$(metric 'tgs3_lifecycle_expired_total{kind="delete_marker"}')" = 2 &&
        test "$(metric 'tgs3_lifecycle_expired_total{kind="upload"}')" = 1 &&
        test "$(metric tgs3_lifecycle_locked_skipped_total)" -ge 1 # each run meets it again
}
docs_left() {
    local d
    d=$(emu_docs)
    echo "messages: $d, want $1"
    test "$d" = "$1"
}
unreclaimable() { test "$(metric tgs3_gc_unreclaimable_total)" = "$1"; }
rows_follow_bucket() {
    test "$(index "SELECT count(*) FROM bucket_lifecycle")" = 3 || return 1
    A s3 rm --recursive s3://$B >/dev/null && A s3 rb s3://$B || return 1
    test "$(index "SELECT count(*) FROM bucket_lifecycle WHERE bucket = '$B'")" = 0
}
check "unversioned: old/*, the tagged exp=yes and the big size/ object are gone; the rest stay" \
    keys_are $B new/c size/small tag/no tag/none
check "the multipart upload was aborted" uploads_none
check "k/x keeps its current version and the newest noncurrent one" k_kept
check "m/x: its noncurrent version and then its lone delete marker are gone" m_gone
d_done() {
    local x y
    x=$(versions $V d/x)
    y=$(versions $V d/y)
    echo "d/x: $x; d/y: '$y'"
    [[ $x == v:*" m:"* ]] && [ "$(echo "$x" | wc -w)" = 2 ] && [ -z "$y" ]
}
check "Days in a versioned bucket: d/x hidden under a delete marker, d/y's old lone marker removed" d_done
locked_kept() {
    local l f
    l=$(versions $K l/x)
    f=$(versions $K f/x)
    echo "l/x: $l; f/x: $f"
    [ "$(echo "$l" | wc -w)" = 2 ] && [ "$(echo "$f" | wc -w)" = 1 ]
}
check "a noncurrent version under retention stays; the unlocked one goes" locked_kept
check "metrics: 5 current, 4 noncurrent, 2 delete markers, 1 upload, locked versions skipped" counted
# Freed: old/a, old/b, tag/yes, size/big, the upload's part, k/x's two oldest, m/x's version, f/x's old one.
if [ "$LATE" = 0 ]; then
    check "the 9 freed blocks' messages are deleted in Telegram" wait_until 30 docs_left $((DOCS0 - 9))
else
    check "past Telegram's delete window: the 9 freed blocks are recorded unreclaimable" wait_until 30 unreclaimable 9
fi
check "the index keeps the rules; a deleted bucket's go with it" rows_follow_bucket

finish

#!/bin/bash
# test_object_lock.sh — S3 Object Lock and bucket versioning through awscli 2 (and curl for raw
# requests): a bucket created with Object Lock, its configuration, COMPLIANCE and GOVERNANCE
# retention, legal holds, the exact error codes of every refusal (deletes of locked versions
# alone and in DeleteObjects, shortening or weakening COMPLIANCE, another user's bypass, calls
# without Content-MD5, on buckets without Object Lock); delete markers and overwrites leave
# locked versions readable; `tgs3 gc --all` leaves them readable; restic on a bucket with a
# default retention (its prune only adds delete markers); then gateway and emulator restart
# with --clock-offset past the retain-until dates and the versions delete.
set -u
. "$(dirname "$0")/lib.sh"

AK2=TGS3LOCKSECONDUSER02
SK2=tgs3LockSecondUserSecret0123456789abcdef
L=lock-bucket
P=plain-bucket
F=$TEST_TMP/payload
head -c 70000 /dev/urandom >"$F"
printf 'second version\n' >"$TEST_TMP/v2"

awsb() { AWS_ACCESS_KEY_ID=$AK2 AWS_SECRET_ACCESS_KEY=$SK2 aws "$@"; }
iso() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
DAY1=$(iso '+1 day')
DAY2=$(iso '+2 days')
HOUR=$(iso '+1 hour')

# fails_with CODE CMD... — CMD fails and awscli names the S3 error CODE.
fails_with() {
    local code=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "succeeded, wanted $code: $out"
        return 1
    fi
    echo "$out"
    case $out in *"($code)"*) return 0 ;; esac
    return 1
}
# same_bytes KEY VERSION FILE — that version of KEY reads back as FILE.
same_bytes() {
    rm -f "$TEST_TMP/got"
    aws s3api get-object --bucket "$L" --key "$1" --version-id "$2" "$TEST_TMP/got" >/dev/null && cmp "$3" "$TEST_TMP/got"
}
# json_is JSON EXPR WANT — python expression over the parsed JSON d equals WANT.
json_is() {
    local got
    got=$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2") || return 1
    echo "$2 = $got"
    [ "$got" = "$3" ]
}
versions_of() { aws s3api list-object-versions --bucket "$1" --prefix "$2" --output json; }
# raw_put BUCKET/KEY?QUERY BODY — a signed PUT without Content-MD5 or any checksum: the HTTP code.
raw_put() { s3curl -o "$TEST_TMP/raw.out" -w '%{http_code}' -X PUT --data-binary "$2" "$S3_URL/$1"; }
export -f raw_put
# gone KEY VERSION — GetObject of that version answers NoSuchVersion.
gone() { fails_with NoSuchVersion aws s3api get-object --bucket "$L" --key "$1" --version-id "$2" "$TEST_TMP/gone"; }

check "emulator starts" start_emulator --local || finish
check "gateway starts with a second user" start_gateway --user "$AK2:$SK2" || finish

section "a bucket with Object Lock"
check "create-bucket --object-lock-enabled-for-bucket" aws s3api create-bucket --bucket $L --object-lock-enabled-for-bucket
check "its versioning is Enabled" json_is "$(aws s3api get-bucket-versioning --bucket $L)" 'd["Status"]' Enabled
check "get-object-lock-configuration: Enabled, no rule" json_is "$(aws s3api get-object-lock-configuration --bucket $L)" \
    'd["ObjectLockConfiguration"]' "{'ObjectLockEnabled': 'Enabled'}"
check "suspending its versioning -> 409 InvalidBucketState" fails_with InvalidBucketState \
    aws s3api put-bucket-versioning --bucket $L --versioning-configuration Status=Suspended
check "a default retention of 0 days -> InvalidArgument" fails_with InvalidArgument aws s3api put-object-lock-configuration \
    --bucket $L --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":0}}}'
check "Days and Years together -> MalformedXML" fails_with MalformedXML aws s3api put-object-lock-configuration --bucket $L \
    --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1,"Years":1}}}'
check "an unknown mode -> MalformedXML" fails_with MalformedXML aws s3api put-object-lock-configuration --bucket $L \
    --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"FOREVER","Days":1}}}'
check "put-object-lock-configuration GOVERNANCE 5 days" aws s3api put-object-lock-configuration --bucket $L \
    --object-lock-configuration '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":5}}}'
check "get-object-lock-configuration shows it" json_is "$(aws s3api get-object-lock-configuration --bucket $L)" \
    'd["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]' "{'Mode': 'GOVERNANCE', 'Days': 5}"
dflt() {
    local out
    out=$(aws s3api put-object --bucket $L --key default.txt --body "$TEST_TMP/v2") || return 1
    out=$(aws s3api head-object --bucket $L --key default.txt) || return 1
    echo "$out"
    json_is "$out" 'd["ObjectLockMode"]' GOVERNANCE &&
        json_is "$out" 'd["ObjectLockRetainUntilDate"][:10]' "$(date -u -d '+5 days' +%Y-%m-%d)"
}
check "a put without lock headers gets the default retention (GOVERNANCE, now + 5 days)" dflt
dflt_mp() {
    local out
    rand_file "$TEST_TMP/big" 9M
    aws s3 cp "$TEST_TMP/big" s3://$L/big.bin >/dev/null || return 1
    out=$(aws s3api head-object --bucket $L --key big.bin) || return 1
    echo "$out"
    json_is "$out" 'd["ObjectLockMode"]' GOVERNANCE && json_is "$out" '"-" in d["ETag"]' True &&
        json_is "$out" 'd["ObjectLockRetainUntilDate"][:10]' "$(date -u -d '+5 days' +%Y-%m-%d)"
}
check "a multipart upload (aws s3 cp, 9 MiB) gets the default retention too" dflt_mp
check "the rule removed again (ObjectLockEnabled alone)" aws s3api put-object-lock-configuration --bucket $L \
    --object-lock-configuration '{"ObjectLockEnabled":"Enabled"}'
check "get-object-lock-configuration: no rule any more" json_is "$(aws s3api get-object-lock-configuration --bucket $L)" \
    '"Rule" in d["ObjectLockConfiguration"]' False

section "COMPLIANCE"
put_c() {
    local out
    out=$(aws s3api put-object --bucket $L --key comp.bin --body "$F" --object-lock-mode COMPLIANCE \
        --object-lock-retain-until-date "$DAY1") || return 1
    echo "$out"
    VC=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["VersionId"])' "$out")
    [ -n "$VC" ] && [ "$VC" != null ]
}
check "put-object with COMPLIANCE until a day ahead (a version id)" put_c
head_c() {
    local out
    out=$(aws s3api head-object --bucket $L --key comp.bin) || return 1
    json_is "$out" 'd["ObjectLockMode"]' COMPLIANCE && json_is "$out" 'd["ObjectLockRetainUntilDate"][:19]' "${DAY1%Z}"
}
check "head-object shows the mode and the retain-until date" head_c
check "get-object-retention: COMPLIANCE, that date" json_is "$(aws s3api get-object-retention --bucket $L --key comp.bin)" \
    '(d["Retention"]["Mode"], d["Retention"]["RetainUntilDate"][:19])' "('COMPLIANCE', '${DAY1%Z}')"
check "delete-object --version-id -> AccessDenied" fails_with AccessDenied \
    aws s3api delete-object --bucket $L --key comp.bin --version-id "$VC"
check "delete-object --version-id --bypass-governance-retention -> AccessDenied (COMPLIANCE)" fails_with AccessDenied \
    aws s3api delete-object --bucket $L --key comp.bin --version-id "$VC" --bypass-governance-retention
multi() {
    local out
    out=$(aws s3api delete-objects --bucket $L --delete "{\"Objects\":[{\"Key\":\"comp.bin\",\"VersionId\":\"$VC\"}]}") || return 1
    echo "$out"
    json_is "$out" '[(e["Key"], e["Code"]) for e in d["Errors"]]' "[('comp.bin', 'AccessDenied')]" &&
        json_is "$out" '"Deleted" in d' False
}
check "delete-objects with the version id -> a per-key AccessDenied error" multi
marker() {
    local out
    out=$(aws s3api delete-object --bucket $L --key comp.bin) || return 1
    json_is "$out" 'd["DeleteMarker"]' True
}
check "delete-object without a version id: a delete marker (allowed)" marker
check "the current object is gone (head-object 404)" fails_with 404 aws s3api head-object --bucket $L --key comp.bin
check "the locked version still reads back identical" same_bytes comp.bin "$VC" "$F"
overwrite() {
    local out
    out=$(aws s3api put-object --bucket $L --key comp.bin --body "$TEST_TMP/v2") || return 1
    VC2=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["VersionId"])' "$out")
    [ "$VC2" != "$VC" ] && same_bytes comp.bin "$VC2" "$TEST_TMP/v2" && same_bytes comp.bin "$VC" "$F"
}
check "an overwrite is a new version; the locked one is intact" overwrite
copy_lock() {
    aws s3api copy-object --bucket $L --key copy.bin --copy-source "$L/comp.bin?versionId=$VC" \
        --object-lock-mode GOVERNANCE --object-lock-retain-until-date "$DAY1" >/dev/null || return 1
    json_is "$(aws s3api get-object-retention --bucket $L --key copy.bin)" \
        '(d["Retention"]["Mode"], d["Retention"]["RetainUntilDate"][:19])' "('GOVERNANCE', '${DAY1%Z}')" &&
        json_is "$(aws s3api head-object --bucket $L --key copy.bin)" 'd["ContentLength"]' "$(stat -c %s "$F")"
}
check "copy-object of the locked version with GOVERNANCE headers: the copy has its own retention" copy_lock
check "shortening COMPLIANCE -> AccessDenied" fails_with AccessDenied aws s3api put-object-retention --bucket $L \
    --key comp.bin --version-id "$VC" --retention "{\"Mode\":\"COMPLIANCE\",\"RetainUntilDate\":\"$HOUR\"}"
check "shortening COMPLIANCE with bypass -> AccessDenied" fails_with AccessDenied aws s3api put-object-retention \
    --bucket $L --key comp.bin --version-id "$VC" --bypass-governance-retention \
    --retention "{\"Mode\":\"COMPLIANCE\",\"RetainUntilDate\":\"$HOUR\"}"
check "COMPLIANCE changed to GOVERNANCE -> AccessDenied" fails_with AccessDenied aws s3api put-object-retention --bucket $L \
    --key comp.bin --version-id "$VC" --retention "{\"Mode\":\"GOVERNANCE\",\"RetainUntilDate\":\"$DAY2\"}"
check "COMPLIANCE extended to two days" aws s3api put-object-retention --bucket $L --key comp.bin --version-id "$VC" \
    --retention "{\"Mode\":\"COMPLIANCE\",\"RetainUntilDate\":\"$DAY2\"}"
check "get-object-retention --version-id shows the new date" json_is \
    "$(aws s3api get-object-retention --bucket $L --key comp.bin --version-id "$VC")" 'd["Retention"]["RetainUntilDate"][:19]' "${DAY2%Z}"
check "get-object-retention of a version without one -> NoSuchObjectLockConfiguration" fails_with \
    NoSuchObjectLockConfiguration aws s3api get-object-retention --bucket $L --key comp.bin --version-id "$VC2"
check "a retain-until date in the past -> InvalidArgument" fails_with InvalidArgument aws s3api put-object --bucket $L \
    --key past.bin --body "$TEST_TMP/v2" --object-lock-mode COMPLIANCE --object-lock-retain-until-date 2020-01-01T00:00:00Z
mp_lock() {
    local up etag out
    up=$(aws s3api create-multipart-upload --bucket $L --key mp.bin --object-lock-mode COMPLIANCE \
        --object-lock-retain-until-date "$DAY1" --object-lock-legal-hold-status ON --query UploadId --output text) || return 1
    etag=$(aws s3api upload-part --bucket $L --key mp.bin --upload-id "$up" --part-number 1 --body "$F" \
        --query ETag --output text) || return 1
    aws s3api complete-multipart-upload --bucket $L --key mp.bin --upload-id "$up" \
        --multipart-upload "{\"Parts\":[{\"PartNumber\":1,\"ETag\":$etag}]}" >/dev/null || return 1
    out=$(aws s3api head-object --bucket $L --key mp.bin) || return 1
    echo "$out"
    json_is "$out" '(d["ObjectLockMode"], d["ObjectLockRetainUntilDate"][:19], d["ObjectLockLegalHoldStatus"])' \
        "('COMPLIANCE', '${DAY1%Z}', 'ON')"
}
check "create-multipart-upload with COMPLIANCE and a legal hold: the completed object has them" mp_lock
check "a mode without a date -> InvalidArgument" fails_with InvalidArgument aws s3api put-object --bucket $L \
    --key past.bin --body "$TEST_TMP/v2" --object-lock-mode COMPLIANCE

section "GOVERNANCE and who may bypass it"
check "B gets WRITE on the bucket through its ACL" aws s3api put-bucket-acl --bucket $L \
    --grant-write "id=\"$AK2\"" --grant-full-control "id=\"$TGS3_AK\""
put_g() {
    local out
    out=$(aws s3api put-object --bucket $L --key gov.bin --body "$F" --object-lock-mode GOVERNANCE \
        --object-lock-retain-until-date "$DAY1") || return 1
    VG=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["VersionId"])' "$out")
}
check "put-object with GOVERNANCE until a day ahead" put_g
check "B may write the bucket (its own object)" awsb s3api put-object --bucket $L --key b-own.txt --body "$TEST_TMP/v2"
check "owner, delete-object --version-id without bypass -> AccessDenied" fails_with AccessDenied \
    aws s3api delete-object --bucket $L --key gov.bin --version-id "$VG"
check "B, delete-object --version-id --bypass-governance-retention -> AccessDenied" fails_with AccessDenied \
    awsb s3api delete-object --bucket $L --key gov.bin --version-id "$VG" --bypass-governance-retention
check "B, put-object-retention -> AccessDenied" fails_with AccessDenied awsb s3api put-object-retention --bucket $L \
    --key gov.bin --version-id "$VG" --bypass-governance-retention --retention "{\"Mode\":\"GOVERNANCE\",\"RetainUntilDate\":\"$HOUR\"}"
check "owner, GOVERNANCE shortened without bypass -> AccessDenied" fails_with AccessDenied aws s3api put-object-retention \
    --bucket $L --key gov.bin --version-id "$VG" --retention "{\"Mode\":\"GOVERNANCE\",\"RetainUntilDate\":\"$HOUR\"}"
check "owner, GOVERNANCE shortened with bypass" aws s3api put-object-retention --bucket $L --key gov.bin --version-id "$VG" \
    --bypass-governance-retention --retention "{\"Mode\":\"GOVERNANCE\",\"RetainUntilDate\":\"$HOUR\"}"
check "the GOVERNANCE version still reads back identical" same_bytes gov.bin "$VG" "$F"
check "owner, delete-object --version-id --bypass-governance-retention" \
    aws s3api delete-object --bucket $L --key gov.bin --version-id "$VG" --bypass-governance-retention
check "that version is gone (NoSuchVersion)" gone gov.bin "$VG"

section "legal hold"
put_h() {
    local out
    out=$(aws s3api put-object --bucket $L --key hold.bin --body "$F") || return 1
    VH=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["VersionId"])' "$out")
}
check "put-object without retention" put_h
check "put-object-legal-hold ON" aws s3api put-object-legal-hold --bucket $L --key hold.bin --legal-hold Status=ON
check "get-object-legal-hold: ON" json_is "$(aws s3api get-object-legal-hold --bucket $L --key hold.bin)" 'd["LegalHold"]["Status"]' ON
check "head-object shows the legal hold" json_is "$(aws s3api head-object --bucket $L --key hold.bin)" 'd["ObjectLockLegalHoldStatus"]' ON
check "delete-object --version-id under a legal hold -> AccessDenied" fails_with AccessDenied \
    aws s3api delete-object --bucket $L --key hold.bin --version-id "$VH"
check "... with bypass too -> AccessDenied" fails_with AccessDenied \
    aws s3api delete-object --bucket $L --key hold.bin --version-id "$VH" --bypass-governance-retention
check "put-object-legal-hold OFF" aws s3api put-object-legal-hold --bucket $L --key hold.bin --version-id "$VH" --legal-hold Status=OFF
check "get-object-legal-hold: OFF" json_is "$(aws s3api get-object-legal-hold --bucket $L --key hold.bin)" 'd["LegalHold"]["Status"]' OFF
check "then the version deletes" aws s3api delete-object --bucket $L --key hold.bin --version-id "$VH"
check "a put with x-amz-object-lock-legal-hold ON" aws s3api put-object --bucket $L --key hold2.bin --body "$F" \
    --object-lock-legal-hold-status ON
check "its legal hold is ON" json_is "$(aws s3api get-object-legal-hold --bucket $L --key hold2.bin)" 'd["LegalHold"]["Status"]' ON

section "refusals"
check "plain bucket" aws s3api create-bucket --bucket $P
never() {
    local out
    out=$(aws s3api get-bucket-versioning --bucket $P --output json) || return 1
    [ -n "$out" ] || out='{}'
    json_is "$out" '"Status" in d' False
}
check "get-bucket-versioning of a bucket never versioned: no Status" never
check "get-object-lock-configuration of a plain bucket -> ObjectLockConfigurationNotFoundError" fails_with \
    ObjectLockConfigurationNotFoundError aws s3api get-object-lock-configuration --bucket $P
check "put-object-lock-configuration on a bucket without versioning -> InvalidBucketState" fails_with InvalidBucketState \
    aws s3api put-object-lock-configuration --bucket $P --object-lock-configuration '{"ObjectLockEnabled":"Enabled"}'
check "put-object with lock headers in a plain bucket -> InvalidRequest" fails_with InvalidRequest aws s3api put-object \
    --bucket $P --key x --body "$TEST_TMP/v2" --object-lock-mode GOVERNANCE --object-lock-retain-until-date "$DAY1"
check "create-multipart-upload with lock headers in a plain bucket -> InvalidRequest" fails_with InvalidRequest \
    aws s3api create-multipart-upload --bucket $P --key x --object-lock-mode GOVERNANCE --object-lock-retain-until-date "$DAY1"
check "copy-object with lock headers into a plain bucket -> InvalidRequest" fails_with InvalidRequest \
    aws s3api copy-object --bucket $P --key c --copy-source "$L/copy.bin" --object-lock-mode GOVERNANCE \
    --object-lock-retain-until-date "$DAY1"
check "put-object in the plain bucket" aws s3api put-object --bucket $P --key x --body "$TEST_TMP/v2"
check "put-object-retention in a plain bucket -> InvalidRequest" fails_with InvalidRequest aws s3api put-object-retention \
    --bucket $P --key x --retention "{\"Mode\":\"GOVERNANCE\",\"RetainUntilDate\":\"$DAY1\"}"
check "get-object-legal-hold in a plain bucket -> InvalidRequest" fails_with InvalidRequest \
    aws s3api get-object-legal-hold --bucket $P --key x
check "put-bucket-versioning Suspended, then Enabled on the plain bucket" bash -c "
    aws s3api put-bucket-versioning --bucket $P --versioning-configuration Status=Suspended &&
    aws s3api get-bucket-versioning --bucket $P | grep -q Suspended &&
    aws s3api put-bucket-versioning --bucket $P --versioning-configuration Status=Enabled &&
    aws s3api get-bucket-versioning --bucket $P | grep -q Enabled"
check "MfaDelete Enabled -> refused" fails_with AccessDenied aws s3api put-bucket-versioning --bucket $P \
    --versioning-configuration MFADelete=Enabled,Status=Enabled
check "a versioning body that is not XML -> MalformedXML (400)" bash -c "
    [ \"\$(raw_put '$P?versioning=' 'nonsense')\" = 400 ] && grep -q MalformedXML '$TEST_TMP/raw.out'"
check "PutObjectRetention without Content-MD5 or a checksum -> 400 InvalidRequest" bash -c "
    [ \"\$(raw_put '$L/comp.bin?retention=' '<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>$DAY2</RetainUntilDate></Retention>')\" = 400 ] &&
    grep -q 'Content-MD5 OR x-amz-checksum' '$TEST_TMP/raw.out'"
check "PutObjectLegalHold without Content-MD5 -> 400 InvalidRequest" bash -c "
    [ \"\$(raw_put '$L/comp.bin?legal-hold=' '<LegalHold><Status>ON</Status></LegalHold>')\" = 400 ] &&
    grep -q 'Content-MD5 OR x-amz-checksum' '$TEST_TMP/raw.out'"
check "PutObjectLockConfiguration without Content-MD5 -> 400 InvalidRequest" bash -c "
    [ \"\$(raw_put '$L?object-lock=' '<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>')\" = 400 ] &&
    grep -q 'Content-MD5 OR x-amz-checksum' '$TEST_TMP/raw.out'"

section "restic on a bucket with a default retention"
R=restic-lock
restic_env() { export RESTIC_REPOSITORY=s3:$S3_URL/$R/repo RESTIC_PASSWORD=tgs3-lock-test RESTIC_CACHE_DIR=$TEST_TMP/restic-cache; }
restic_env
SRC=$TEST_TMP/src
mkdir -p "$SRC/tree" "$RESTIC_CACHE_DIR"
for i in 1 2 3 4 5; do rand_file "$SRC/tree/f$i.bin" 200K; done
check "restic bucket with Object Lock and COMPLIANCE 1 day by default" bash -c "
    aws s3api create-bucket --bucket $R --object-lock-enabled-for-bucket &&
    aws s3api put-object-lock-configuration --bucket $R --object-lock-configuration \
        '{\"ObjectLockEnabled\":\"Enabled\",\"Rule\":{\"DefaultRetention\":{\"Mode\":\"COMPLIANCE\",\"Days\":1}}}'"
check "restic init" restic init
check "restic backup" bash -c "cd '$SRC' && restic backup tree"
rand_file "$SRC/tree/f6.bin" 300K
rm -f "$SRC/tree/f1.bin"
check "restic backup (second)" bash -c "cd '$SRC' && restic backup tree"
count_versions() { versions_of $R repo | "$PY" -c 'import json,sys; t=sys.stdin.read(); print(len(json.loads(t or "{}").get("Versions", [])))'; }
before=$(count_versions)
say "versions before forget: $before"
forget() {
    restic forget --keep-last 1 --prune >"$TEST_TMP/forget.out" 2>&1
    local rc=$?
    sed 's/^/#   restic: /' "$TEST_TMP/forget.out" | tail -n 15
    return $rc
}
forget
say "restic forget --keep-last 1 --prune exited $?"
after=$(count_versions)
say "versions after forget: $after"
check "no version was removed by restic's prune (only delete markers added)" test "$after" -ge "$before" -a "$before" -gt 0
kinds() {
    versions_of $R repo | "$PY" -c '
import json, sys
d = json.loads(sys.stdin.read() or "{}")
print(len(d.get("Versions", [])), "versions,", len(d.get("DeleteMarkers", [])), "delete markers")'
}
say "list-object-versions after forget: $(kinds)"
check "restic check passes" restic check

section "GC leaves locked versions alone"
check "gateway stops" stop_gateway
gc_all() { "$BUILD/tgs3" gc --all --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID"; }
check "tgs3 gc --all" gc_all
check "gateway starts again, with one user" start_gateway || finish
restic_env
check "the COMPLIANCE version reads back identical after GC" same_bytes comp.bin "$VC" "$F"
check "restic check after GC" restic check --read-data
single_bypass() {
    local v
    v=$(aws s3api put-object --bucket $L --key gov1.bin --body "$TEST_TMP/v2" --object-lock-mode GOVERNANCE \
        --object-lock-retain-until-date "$DAY1" --query VersionId --output text) || return 1
    fails_with AccessDenied aws s3api delete-object --bucket $L --key gov1.bin --version-id "$v" || return 1
    aws s3api delete-object --bucket $L --key gov1.bin --version-id "$v" --bypass-governance-retention || return 1
    gone gov1.bin "$v"
}
check "a single-user gateway: its user bypasses GOVERNANCE (and only with the header)" single_bypass

section "past the retain-until dates (--clock-offset 3 days)"
OFFSET=259200
check "gateway stops" stop_gateway
check "emulator stops" stop_emulator
check "emulator starts with --clock-offset $OFFSET" start_emulator --local --clock-offset $OFFSET || finish
check "gateway starts with --clock-offset $OFFSET" start_gateway --clock-offset $OFFSET || finish
check "the COMPLIANCE version deletes now" aws s3api delete-object --bucket $L --key comp.bin --version-id "$VC"
check "and is gone (NoSuchVersion)" gone comp.bin "$VC"
check "a version under a legal hold still does not" fails_with AccessDenied aws s3api delete-object --bucket $L \
    --key hold2.bin --version-id "$(aws s3api head-object --bucket $L --key hold2.bin --query VersionId --output text)"
restic_versions_delete() {
    local objs out
    objs=$(versions_of $R repo | "$PY" -c '
import json, sys
d = json.loads(sys.stdin.read() or "{}")
print(json.dumps({"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]}
                              for v in d.get("Versions", []) + d.get("DeleteMarkers", [])]}))') || return 1
    out=$(aws s3api delete-objects --bucket $R --delete "$objs") || return 1
    json_is "$out" 'len(d.get("Errors", []))' 0 && json_is "$out" 'len(d["Deleted"]) > 0' True &&
        [ "$(count_versions)" = 0 ]
}
check "every restic version (COMPLIANCE 1 day) deletes now" restic_versions_delete

finish

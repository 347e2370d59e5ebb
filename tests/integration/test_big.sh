#!/bin/bash
# test_big.sh — a 1 GiB object through awscli (multipart) and through one single PUT
# (curl, UNSIGNED-PAYLOAD), read back identical, while the gateway's anonymous RSS stays
# bounded: the body is spilled to disk and streamed block by block, never held whole.
set -u
. "$(dirname "$0")/lib.sh"

LIMIT_MIB=${RSS_LIMIT_MIB:-256}
BIG=$TEST_TMP/big.bin
B=big-bucket

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 0f0e0d0c0b0a09080706050403020100 \
    -nosalt </dev/zero 2>/dev/null | head -c 1G >"$BIG"
check "1 GiB test file" test "$(stat -c %s "$BIG")" -eq 1073741824 || finish

rss_start "$GW_PID"
check "mb" aws s3 mb "s3://$B"

t0=$SECONDS
check "aws cp up 1 GiB (multipart)" aws s3 cp "$BIG" "s3://$B/multipart.bin"
say "multipart upload: $((SECONDS - t0)) s, peak RssAnon so far $(rss_peak) MiB"
t0=$SECONDS
check "aws cp down 1 GiB identical" bash -c "aws s3 cp s3://$B/multipart.bin '$TEST_TMP/down.bin' && cmp '$BIG' '$TEST_TMP/down.bin'"
say "multipart download: $((SECONDS - t0)) s, peak RssAnon so far $(rss_peak) MiB"
rm -f "$TEST_TMP/down.bin"

t0=$SECONDS
check "single PUT of 1 GiB (curl, UNSIGNED-PAYLOAD)" bash -c "
    st=\$(s3curl -o '$TEST_TMP/put.out' -w '%{http_code}' -T '$BIG' '$S3_URL/$B/single.bin') || exit 1
    cat '$TEST_TMP/put.out'; [ \"\$st\" = 200 ] || { echo status \$st; exit 1; }"
say "single PUT: $((SECONDS - t0)) s, peak RssAnon so far $(rss_peak) MiB"
check "single PUT object has the MD5 as ETag" bash -c "
    e=\$(aws s3api head-object --bucket $B --key single.bin --query ETag --output text | tr -d '\"')
    [ \"\$e\" = \"\$(md5sum <'$BIG' | cut -d' ' -f1)\" ] || { echo etag \$e; exit 1; }"
t0=$SECONDS
check "GET of the single PUT object identical" bash -c "
    st=\$(s3curl -o '$TEST_TMP/down.bin' -w '%{http_code}' '$S3_URL/$B/single.bin') || exit 1
    [ \"\$st\" = 200 ] || { echo status \$st; exit 1; }; cmp '$BIG' '$TEST_TMP/down.bin'"
say "single GET: $((SECONDS - t0)) s"
rm -f "$TEST_TMP/down.bin"
check "ranged GET in the middle of the object" bash -c "
    s3curl -o '$TEST_TMP/range.bin' -H 'Range: bytes=536870000-536880000' '$S3_URL/$B/single.bin' &&
    cmp '$TEST_TMP/range.bin' <(tail -c +536870001 '$BIG' | head -c 10001)"

peak=$(rss_stop)
echo "peak RssAnon: $(rss_report)"
check "gateway peak RssAnon $peak MiB < $LIMIT_MIB MiB" test "$peak" -lt "$LIMIT_MIB"

check "rm --recursive" aws s3 rm --recursive --only-show-errors "s3://$B"
check "rb" aws s3 rb "s3://$B"
rm -f "$BIG"

finish

#!/bin/bash
# test_sigv2.sh — AWS Signature Version 2 with real v2 clients (aws-cli 1's presign, s3cmd with
# signature_v2, boto3 with signature_version='s3'), its errors, --sigv2 off, and the
# authentication edge cases: X-Amz-Expires bounds, every HTTP date form, a signed
# Transfer-Encoding, Expect. Raw requests are built in tests/integration/sigv2req.py.
set -u
. "$(dirname "$0")/lib.sh"

R() { "$PY" "$TGS3_ROOT/tests/integration/sigv2req.py" "$@"; }
D=$TEST_TMP/data
mkdir -p "$D/down"
rand_file "$D/small" 100K
rand_file "$D/big" 17M
DOMAIN=s3.tgs3.test

# aws-cli 1 (first on PATH) is asked to presign with SigV2 (its s3 signature_version "s3").
# aws-cli 1.45's botocore lets the endpoint rules' SigV4 win over that config-file setting,
# so when its URL is not SigV2 (or it is not version 1), botocore's own SigV2 presigner
# (HmacV1QueryAuth, through boto3 with signature_version='s3') makes the URL instead.
AWS1=$(type -P aws)
V1_CONF=$TEST_TMP/aws-v1-config
printf '[default]\nregion = us-east-1\ns3 =\n    signature_version = s3\n    addressing_style = path\n' >"$V1_CONF"
PRESIGNER=
presign() { # presign S3URI SECONDS
    local url p=${1#s3://}
    if "$AWS1" --version 2>&1 | grep -q '^aws-cli/1\.'; then
        url=$(env -u AWS_CA_BUNDLE AWS_CONFIG_FILE="$V1_CONF" "$AWS1" --endpoint-url "$S3_URL" s3 presign "$1" \
            --expires-in "$2" 2>/dev/null)
        if is_v2_url "$url"; then
            PRESIGNER="aws-cli 1"
            echo "$url"
            return
        fi
    fi
    PRESIGNER="botocore HmacV1QueryAuth"
    R presign "${p%%/*}" "${p#*/}" "$2"
}
is_v2_url() { case $1 in *AWSAccessKeyId=*Signature=* | *Signature=*AWSAccessKeyId=*) ! grep -q X-Amz- <<<"$1" ;; *) false ;; esac; }

S3CMD2_CONF=$TEST_TMP/s3cmd-v2.cfg
s3cmd2() { env -u AWS_CA_BUNDLE /usr/bin/s3cmd -c "$S3CMD2_CONF" "$@"; }
export S3CMD2_CONF
export -f s3cmd2 R

# boto3 runs under the Python whose botocore signs SigV2 right: Debian's botocore 1.29
# puts a sub-resource in the signed resource twice ("/b/k?uploads?uploads"), which AWS
# would refuse as well; pyenv's newer botocore does not.
BOTO_PY=
for p in "$(type -P python3)" "$PY"; do
    [ -n "$p" ] && "$p" - <<'PYEOF' 2>/dev/null && { BOTO_PY=$p; break; }
import boto3, botocore.config
from botocore.auth import HmacV1Auth
seen = []
orig = HmacV1Auth.canonical_string
HmacV1Auth.canonical_string = lambda self, *a, **k: seen.append(orig(self, *a, **k)) or seen[-1]
c = boto3.client("s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="a", aws_secret_access_key="b",
                 region_name="us-east-1", config=botocore.config.Config(signature_version="s3",
                 s3={"addressing_style": "path"}, retries={"max_attempts": 0}, connect_timeout=1))
try:
    c.create_multipart_upload(Bucket="bkt", Key="k")
except Exception:
    pass
assert seen and seen[-1].endswith("/bkt/k?uploads"), seen
PYEOF
done
RB() { "${BOTO_PY:-$PY}" "$TGS3_ROOT/tests/integration/sigv2req.py" "$@"; }

check "emulator starts" start_emulator --local || finish
check "gateway starts (--domain $DOMAIN)" start_gateway --domain "$DOMAIN" || finish
sed 's/^signature_v2 = False/signature_v2 = True/' "$S3CMD_CONF" >"$S3CMD2_CONF"
check "s3cmd config says signature_v2 = True" grep -qx 'signature_v2 = True' "$S3CMD2_CONF"
check "TGS3_SIGV2=off reaches the configuration" \
    bash -c "TGS3_SIGV2=off '$BUILD/tgs3' serve --print-config | grep -Eq '^sigv2 += off +# TGS3_SIGV2'"
check "--sigv2 takes only on or off" bash -c "! '$BUILD/tgs3' serve --sigv2 maybe --print-config 2>/dev/null"

section "SigV2 presigned URLs (query string) + curl"
check "bucket (SigV4)" aws s3 mb s3://sigv2
check "fixtures (SigV4)" bash -c "aws s3 cp '$D/small' s3://sigv2/dir/small >/dev/null &&
    aws s3 cp '$D/small' 's3://sigv2/dir/odd key+é&=.bin' >/dev/null"
presign s3://sigv2/dir/small 300 >/dev/null
say "SigV2 URLs from: $PRESIGNER ($("$AWS1" --version 2>&1 | cut -d' ' -f1))"
URL=$(presign s3://sigv2/dir/small 300)
say "$URL"
check "the presigned URL is SigV2" is_v2_url "$URL"
check "curl downloads it byte-identical" bash -c "curl -sSf -o '$D/down/small' '$URL' && cmp '$D/small' '$D/down/small'"
URL2=$(presign 's3://sigv2/dir/odd key+é&=.bin' 300)
check "a key with space, +, é, &, = downloads byte-identical" \
    bash -c "curl -sSf -o '$D/down/odd' '$URL2' && cmp '$D/small' '$D/down/odd'"
check "tampered Expires -> 403 SignatureDoesNotMatch" \
    R url "$(sed -E 's/Expires=([0-9]+)/Expires=\11/' <<<"$URL")" 403 SignatureDoesNotMatch
check "tampered key -> 403 SignatureDoesNotMatch" R url "${URL/dir\/small/dir\/smalL}" 403 SignatureDoesNotMatch
check "tampered signature -> 403 SignatureDoesNotMatch" \
    R url "$(sed -E 's/Signature=[^&]*/Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D/' <<<"$URL")" 403 SignatureDoesNotMatch
check "added sub-resource -> 403 SignatureDoesNotMatch" R url "$URL&acl" 403 SignatureDoesNotMatch
check "missing Signature -> 403 AccessDenied" R url "$(sed -E 's/[&?]Signature=[^&]*//' <<<"$URL")" 403 AccessDenied \
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
UNK=$(AWS_ACCESS_KEY_ID=TGS3NOSUCHACCESSKEY0 presign s3://sigv2/dir/small 300)
check "unknown access key -> 403 InvalidAccessKeyId" R url "$UNK" 403 InvalidAccessKeyId
EXP=$(presign s3://sigv2/dir/small 1)
sleep 2
check "expired URL -> 403 AccessDenied 'Request has expired'" R url "$EXP" 403 AccessDenied "Request has expired"

section "s3cmd with signature_v2 = True"
check "put" s3cmd2 put --add-header=x-amz-meta-color:blue "$D/small" s3://sigv2/s3cmd/one
check "put 17 MiB (multipart: uploads, partNumber, uploadId sub-resources)" s3cmd2 put "$D/big" s3://sigv2/s3cmd/big
check "get" bash -c "s3cmd2 get --force s3://sigv2/s3cmd/one '$D/down/one' && cmp '$D/small' '$D/down/one'"
check "get 17 MiB" bash -c "s3cmd2 get --force s3://sigv2/s3cmd/big '$D/down/big' && cmp '$D/big' '$D/down/big'"
check "ls" bash -c "[ \$(s3cmd2 ls s3://sigv2/s3cmd/ | grep -c 's3://sigv2/s3cmd/') -eq 2 ]"
check "info (metadata kept; ?acl ?policy probes)" bash -c "s3cmd2 info s3://sigv2/s3cmd/one | grep -qi 'color.*blue'"
check "del" bash -c "s3cmd2 del s3://sigv2/s3cmd/one s3://sigv2/s3cmd/big && [ -z \"\$(s3cmd2 ls s3://sigv2/s3cmd/)\" ]"

section "boto3 with signature_version='s3' (header form)"
say "boto3 runs under ${BOTO_PY:-none whose botocore signs SigV2 sub-resources once}"
check "a Python whose botocore signs SigV2 right" test -n "$BOTO_PY"
check "PUT, GET, HEAD, ranges, multipart, copy, list, deletes; Content-MD5 still checked" RB boto3
check "header form: skew, unknown key, wrong secret, replay, injected x-amz-*, malformed, dates" R header_errors
check "virtual-hosted bucket goes into the signed resource" R vhost "$DOMAIN"

section "authentication edge cases (SigV4 and SigV2)"
check "X-Amz-Expires 0 / -1 / 604801 / not a number: AWS's statuses, codes and messages" R expires
check "IMF-fixdate, RFC 850, asctime, +0000, -0000: in Date, x-amz-date, If-(Un)Modified-Since" R dates
check "Transfer-Encoding: chunked signed (SigV4 SignedHeaders; SigV2) verifies and stores" R te
check "Expect: 100 Continue only after authentication; any other expectation 417" R expect

section "--sigv2 off"
stop_gateway
check "gateway starts (--sigv2 off)" start_gateway --domain "$DOMAIN" --sigv2 off || finish
sed 's/^signature_v2 = False/signature_v2 = True/' "$S3CMD_CONF" >"$S3CMD2_CONF"
URL=$(presign s3://sigv2/dir/small 300)
check "a SigV2 presigned URL -> 400 InvalidRequest 'Please use AWS4-HMAC-SHA256.'" R url "$URL" 400 InvalidRequest \
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
# s3cmd knows AWS's answer word for word: it switches to SigV4 and goes on.
check "s3cmd signature_v2 gets AWS's InvalidRequest, recognises it and retries with SigV4" \
    bash -c "s3cmd2 --debug ls s3://sigv2/dir/ >'$TEST_TMP/s3cmd2.out' 2>&1;
        grep -q 'Endpoint requires signature v4' '$TEST_TMP/s3cmd2.out' && grep -q 's3://sigv2/dir/small' '$TEST_TMP/s3cmd2.out'"
check "boto3 signature_version='s3' and raw SigV2 (both forms) -> 400 InvalidRequest; SigV4 served" \
    RB refused InvalidRequest 400
check "SigV4 clients unaffected" bash -c "aws s3 cp s3://sigv2/dir/small '$D/down/v4' && cmp '$D/small' '$D/down/v4'"
check "s3cmd with SigV4 unaffected" bash -c "s3cmd ls s3://sigv2/dir/ | grep -q 's3://sigv2/dir/small'"
finish

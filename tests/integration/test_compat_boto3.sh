#!/bin/bash
# test_compat_boto3.sh — runs test_boto3.py (Debian's python3-boto3) against a gateway with two
# users and virtual-hosted-style addressing under the domain s3.test; each Python test is one
# check here.
set -u
. "$(dirname "$0")/lib.sh"

TGS3_AK2=TGS3SECONDUSERKEY002
TGS3_SK2=tgs3SecondUserSecret0123456789abcdefgh
TGS3_DOMAIN=s3.test
export TGS3_AK2 TGS3_SK2 TGS3_DOMAIN

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway --user "$TGS3_AK2:$TGS3_SK2" --domain "$TGS3_DOMAIN" || finish

env -u AWS_CA_BUNDLE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY /usr/bin/python3 \
    "$TGS3_ROOT/tests/integration/test_boto3.py" >"$TEST_TMP/boto3.out" 2>&1
cat "$TEST_TMP/boto3.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$TEST_TMP/boto3.out" | tail -n 1)
if [ -z "$line" ]; then
    fail "test_boto3.py ran to its summary line"
else
    PASSED=$((PASSED + ${line%% passed*}))
    f=${line#*passed, }
    FAILED=$((FAILED + ${f%% failed*}))
fi
finish

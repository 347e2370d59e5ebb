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

# awscli with addressing_style = virtual: the Debian aws program, run with *.s3.test resolving to
# loopback (no DNS here), so every request names its bucket in the Host header.
aws_vhost() {
    local cfg=$TEST_TMP/aws-vhost
    printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = virtual\n' >"$cfg"
    env -u AWS_CA_BUNDLE AWS_CONFIG_FILE="$cfg" /usr/bin/python3 -c '
import socket, sys
real = socket.getaddrinfo
def fake(host, *a, **kw):
    if isinstance(host, str) and host.endswith(".s3.test"):
        host = "127.0.0.1"
    return real(host, *a, **kw)
socket.getaddrinfo = fake
import awscli.clidriver
sys.exit(awscli.clidriver.main())' --endpoint-url "http://$TGS3_DOMAIN:$GW_PORT" --debug "$@" 2>"$TEST_TMP/aws-vhost.debug"
}
printf 'virtual host\n' >"$TEST_TMP/vh.txt"
check "aws (virtual-hosted style): mb, cp, ls, cp back, rm, rb" bash -c "
    set -e
    $(declare -f aws_vhost)
    aws_vhost s3 mb s3://vhost-bucket
    aws_vhost s3 cp --no-progress '$TEST_TMP/vh.txt' 's3://vhost-bucket/dir/a b+c.txt'
    aws_vhost s3 ls --recursive s3://vhost-bucket | grep -q 'dir/a b+c.txt'
    aws_vhost s3 cp --no-progress 's3://vhost-bucket/dir/a b+c.txt' - | cmp - '$TEST_TMP/vh.txt'
    grep -q \"Host: vhost-bucket.$TGS3_DOMAIN\\|'Host': b'vhost-bucket.$TGS3_DOMAIN\" '$TEST_TMP/aws-vhost.debug' ||
        grep -q 'vhost-bucket.$TGS3_DOMAIN:$GW_PORT' '$TEST_TMP/aws-vhost.debug'
    aws_vhost s3 rm 's3://vhost-bucket/dir/a b+c.txt'
    aws_vhost s3 rb s3://vhost-bucket"
finish

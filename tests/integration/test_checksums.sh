#!/bin/bash
# test_checksums.sh — multipart checksums (x-amz-checksum-algorithm / -type, per-part checksums,
# COMPOSITE and FULL_OBJECT object checksums, checksum mode on HEAD/GET) and GetObjectAttributes,
# driven by test_checksums.py with the pyenv boto3 (a botocore that knows ChecksumType and
# CRC64NVME); each Python test is one check here.
set -u
. "$(dirname "$0")/lib.sh"

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

py=python3
if ! $py -c 'import botocore, sys; v = tuple(map(int, botocore.__version__.split(".")[:2])); sys.exit(v < (1, 36))' \
    2>/dev/null; then
    fail "a python3 with botocore >= 1.36 (ChecksumType, CRC64NVME)" "$($py -c 'import botocore; print(botocore.__version__)' 2>&1)"
    finish
fi
env -u AWS_CA_BUNDLE $py "$TGS3_ROOT/tests/integration/test_checksums.py" >"$TEST_TMP/checksums.out" 2>&1
cat "$TEST_TMP/checksums.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$TEST_TMP/checksums.out" | tail -n 1)
if [ -z "$line" ]; then
    fail "test_checksums.py ran to its summary line"
else
    PASSED=$((PASSED + ${line%% passed*}))
    f=${line#*passed, }
    FAILED=$((FAILED + ${f%% failed*}))
fi
finish

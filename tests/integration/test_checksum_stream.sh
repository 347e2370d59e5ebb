#!/bin/bash
# test_checksum_stream.sh — x-amz-checksum-* headers on PUT and UploadPart bodies over 4 MiB:
# those bodies are streamed (read from the socket block by block) with the checksum computed
# on the engine's hash lane; each algorithm verified and echoed, a wrong value refused with
# BadDigest and nothing stored, a malformed one refused before the body (ckstream.py).
set -u
. "$(dirname "$0")/lib.sh"

B=ck-stream
C() { "$PY" "$TGS3_ROOT/tests/integration/ckstream.py" "$1" "$B"; }
streamed() { curl -sS "$GW_ADMIN_URL/metrics" | awk '$1 == "tgs3_streamed_bodies_total" {print $2}'; }

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway --no-packing || finish
check "setup: a bucket" "$PY" "$TGS3_ROOT/tests/integration/s3err.py" setup "$B" || finish

n0=$(streamed)
check "PUT with each x-amz-checksum (crc32, crc32c, crc64nvme, sha1, sha256): 200, echoed, read back" C good
n1=$(streamed)
say "bodies streamed: $n0 -> $n1"
check "those five bodies took the streamed path" test "$((n1 - n0))" = 5
check "a wrong crc32c / crc64nvme value -> 400 BadDigest, nothing stored" C bad
check "a malformed value or two checksums -> 400 InvalidRequest before 100 Continue" C refused_head
check "UploadPart with x-amz-checksum-crc32c: verified and echoed; a wrong one -> BadDigest" C part
n2=$(streamed)
say "bodies streamed: $n1 -> $n2"
check "the bad PUTs, the two refused heads and the parts were claimed as streamed bodies too (6 more)" test "$((n2 - n1))" = 6
finish

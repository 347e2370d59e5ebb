#!/bin/bash
# test_clients.sh — rclone 1.60 (ListObjects V1, UNSIGNED-PAYLOAD PUTs, multipart in 5 MiB
# parts, MD5 checks) and s3cmd 2.3 (path style, its own signer): basic coverage.
set -u
. "$(dirname "$0")/lib.sh"

SRC=$TEST_TMP/src
"$PY" "$TGS3_ROOT/tests/integration/mktree.py" "$SRC" 200 16 0 0 0 3 || exit 1
rand_file "$SRC/big-30m.bin" 30M
say "source: $(find "$SRC" -type f | wc -l) files, $(du -sh "$SRC" | cut -f1)"

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

# ---- rclone ----
check "rclone mkdir" rclone mkdir tgs3:rclone-bucket
check "rclone copy a tree" rclone copy "$SRC" tgs3:rclone-bucket/tree
check "rclone check is clean" rclone check "$SRC" tgs3:rclone-bucket/tree
check "rclone lsf lists every file" bash -c "[ \$(rclone lsf -R --files-only tgs3:rclone-bucket/tree | wc -l) -eq \$(find '$SRC' -type f | wc -l) ]"
check "rclone size" rclone size tgs3:rclone-bucket
check "rclone copy back is identical" bash -c "rclone copy tgs3:rclone-bucket/tree '$TEST_TMP/rclone-back' && diff -r '$SRC' '$TEST_TMP/rclone-back'"
check "rclone copyto with an awkward name" bash -c "rclone copyto '$SRC/big-30m.bin' 'tgs3:rclone-bucket/odd dir/a+b&c é.bin' && rclone cat 'tgs3:rclone-bucket/odd dir/a+b&c é.bin' | cmp - '$SRC/big-30m.bin'"
check "rclone delete" rclone delete tgs3:rclone-bucket
check "rclone lsf is empty after delete" bash -c "[ -z \"\$(rclone lsf -R tgs3:rclone-bucket)\" ]"
check "rclone rmdir" rclone rmdir tgs3:rclone-bucket

# ---- s3cmd ----
printf 'hello from s3cmd\n' >"$TEST_TMP/s3cmd-small.txt"
check "s3cmd mb" s3cmd mb s3://s3cmd-bucket
check "s3cmd ls shows the bucket" bash -c "s3cmd ls | grep -q 's3://s3cmd-bucket\$'"
check "s3cmd put small" s3cmd put "$TEST_TMP/s3cmd-small.txt" s3://s3cmd-bucket/dir/small.txt
check "s3cmd put 30 MiB (multipart)" s3cmd put "$SRC/big-30m.bin" s3://s3cmd-bucket/big.bin
check "s3cmd ls" bash -c "s3cmd ls -r s3://s3cmd-bucket | grep -c 's3://s3cmd-bucket/' | grep -qx 2"
check "s3cmd get small" bash -c "s3cmd get --force s3://s3cmd-bucket/dir/small.txt '$TEST_TMP/s3cmd-small.back' && cmp '$TEST_TMP/s3cmd-small.txt' '$TEST_TMP/s3cmd-small.back'"
check "s3cmd get big" bash -c "s3cmd get --force s3://s3cmd-bucket/big.bin '$TEST_TMP/s3cmd-big.back' && cmp '$SRC/big-30m.bin' '$TEST_TMP/s3cmd-big.back'"
check "s3cmd info" s3cmd info s3://s3cmd-bucket/big.bin
check "s3cmd del" s3cmd del s3://s3cmd-bucket/dir/small.txt s3://s3cmd-bucket/big.bin
check "s3cmd ls is empty" bash -c "[ -z \"\$(s3cmd ls -r s3://s3cmd-bucket)\" ]"
check "s3cmd rb" s3cmd rb s3://s3cmd-bucket

finish

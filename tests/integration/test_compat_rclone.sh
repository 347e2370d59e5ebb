#!/bin/bash
# test_compat_rclone.sh — rclone 1.60 with provider Other and its defaults: sync of a tree of
# 1,000 small files plus three files of 260 MiB (multipart, 5 MiB parts), check clean,
# server-side move and copyto (CopyObject: no new blocks), delete, purge.
set -u
. "$(dirname "$0")/lib.sh"

SRC=$TEST_TMP/src
mkdir -p "$SRC/big"
"$PY" "$TGS3_ROOT/tests/integration/mktree.py" "$SRC/small" 1000 16 0 0 0 7 || exit 1
for i in 1 2 3; do
    # AES-CTR of zeros: incompressible and fast to make.
    openssl enc -aes-128-ctr -K "0$i" -iv 00 -nosalt </dev/zero 2>/dev/null | head -c 260M >"$SRC/big/big$i.bin"
done
say "source: $(find "$SRC" -type f | wc -l) files, $(du -sh "$SRC" | cut -f1)"

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

R="--transfers 8 --checkers 16"
check "rclone sync of the tree" rclone sync $R "$SRC" tgs3:rclone-compat/tree
check "rclone check is clean" rclone check $R "$SRC" tgs3:rclone-compat/tree
check "every file is listed" bash -c \
    "[ \$(rclone lsf -R --files-only tgs3:rclone-compat/tree | wc -l) -eq \$(find '$SRC' -type f | wc -l) ]"
check "a 260 MiB file has a multipart ETag and rclone's md5 metadata" bash -c "
    aws s3api head-object --bucket rclone-compat --key tree/big/big1.bin --output json >'$TEST_TMP/h.json' &&
    grep -q '\"ETag\": \"\\\\\"[0-9a-f]*-[0-9]*\\\\\"\"' '$TEST_TMP/h.json' && grep -qi md5chksum '$TEST_TMP/h.json'"
check "a second sync transfers nothing" bash -c \
    "rclone sync $R -v '$SRC' tgs3:rclone-compat/tree >'$TEST_TMP/sync2.log' 2>&1 && ! grep -E 'Copied|Updated' '$TEST_TMP/sync2.log'"

docs_before=$(emu_docs)
check "server-side copyto of a 260 MiB file" rclone copyto tgs3:rclone-compat/tree/big/big2.bin tgs3:rclone-compat/copies/big2.bin
check "server-side move of a directory" rclone move $R tgs3:rclone-compat/tree/small tgs3:rclone-compat/moved
docs_after=$(emu_docs)
check "copyto and move uploaded no block ($docs_before -> $docs_after documents)" test "$docs_before" -eq "$docs_after"
check "moved tree is gone from its source" bash -c "[ -z \"\$(rclone lsf tgs3:rclone-compat/tree/small)\" ]"
check "moved tree checks clean" rclone check $R "$SRC/small" tgs3:rclone-compat/moved
check "copied 260 MiB file reads back identical" bash -c "rclone cat tgs3:rclone-compat/copies/big2.bin | cmp - '$SRC/big/big2.bin'"
check "touch (self-copy with REPLACE) keeps the content" bash -c "
    rclone touch -t 2020-01-02T03:04:05 tgs3:rclone-compat/copies/big2.bin &&
    rclone lsl tgs3:rclone-compat/copies/big2.bin | grep -q '2020-01-02 03:04:05' &&
    rclone md5sum tgs3:rclone-compat/copies/big2.bin | grep -q \$(md5sum <'$SRC/big/big2.bin' | cut -d' ' -f1)"
check "rclone delete" rclone delete $R tgs3:rclone-compat/moved
check "deleted files are gone" bash -c "[ -z \"\$(rclone lsf -R tgs3:rclone-compat/moved)\" ]"
check "rclone purge" rclone purge tgs3:rclone-compat
check "the bucket is gone" bash -c "! rclone lsd tgs3: | grep -q rclone-compat"
finish

#!/bin/bash
# test_restic.sh — restic 0.14 (minio-go, aws-chunked signed uploads, ranged reads):
# init, backup, a second incremental backup, check --read-data, restore, diff clean.
set -u
. "$(dirname "$0")/lib.sh"

SRC=$TEST_TMP/src
mkdir -p "$SRC"
"$PY" "$TGS3_ROOT/tests/integration/mktree.py" "$SRC/tree" 300 200 4 2 5 7 || exit 1
say "source: $(find "$SRC" -type f | wc -l) files, $(du -sh "$SRC" | cut -f1)"

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

export RESTIC_REPOSITORY=s3:$S3_URL/restic-bucket/repo
export RESTIC_PASSWORD=tgs3-restic-test-password
export RESTIC_CACHE_DIR=$TEST_TMP/restic-cache
mkdir -p "$RESTIC_CACHE_DIR"

# restored_dir TARGET — where restic put the tree (it keeps absolute paths in 0.14).
restored_dir() {
    if [ -d "$1$SRC/tree" ]; then echo "$1$SRC/tree"; else echo "$1/tree"; fi
}
restore_and_diff() {
    local target=$TEST_TMP/$1
    rm -rf "$target"
    restic restore latest --target "$target" || return 1
    diff -r "$SRC/tree" "$(restored_dir "$target")"
}

check "restic init" restic init
check "restic backup" bash -c "cd '$SRC' && restic backup tree"
check "restic snapshots lists one snapshot" bash -c "[ \$(restic snapshots --json | '$PY' -c 'import json,sys; print(len(json.load(sys.stdin)))') = 1 ]"
check "restic check" restic check
check "restore is identical" restore_and_diff restore1

# Change a few files and back up again.
rand_file "$SRC/tree/new-file.bin" 300K
rm -f "$(find "$SRC/tree" -name 'f0003.bin')"
find "$SRC/tree" -name 'f00[4-6]*.bin' -exec sh -c 'printf changed >>"$1"' _ {} \;
check "restic backup (incremental)" bash -c "cd '$SRC' && restic backup tree"
check "restic check --read-data" restic check --read-data
check "restore of the second snapshot is identical" restore_and_diff restore2
check "restic forget --prune" restic forget --keep-last 1 --prune
check "restic check after prune" restic check
check "restore after prune is identical" restore_and_diff restore3

finish

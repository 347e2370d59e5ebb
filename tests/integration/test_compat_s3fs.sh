#!/bin/bash
# test_compat_s3fs.sh — s3fs-fuse (Debian 1.90) mounts a bucket (path-style requests): copy
# files in, list, read back, rename, remove. Skipped, with the reason printed, only when FUSE
# cannot mount here (no /dev/fuse, or the mount itself is refused).
set -u
. "$(dirname "$0")/lib.sh"

B=s3fs-compat
MNT=$TEST_TMP/mnt
D=$TEST_TMP/data
mkdir -p "$MNT" "$D"
S3FS_PID=

umount_s3fs() {
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
    fi
    [ -n "$S3FS_PID" ] && wait "$S3FS_PID" 2>/dev/null
    S3FS_PID=
}
trap 'umount_s3fs; on_exit' EXIT

if [ ! -c /dev/fuse ] || ! command -v s3fs >/dev/null; then
    say "skipped: /dev/fuse or s3fs is missing"
    finish
fi

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish
check "mb" aws s3 mb "s3://$B"

printf '%s:%s\n' "$TGS3_AK" "$TGS3_SK" >"$TEST_TMP/passwd"
chmod 600 "$TEST_TMP/passwd"
env -u AWS_CA_BUNDLE s3fs "$B" "$MNT" -f -o "url=$S3_URL,use_path_request_style,passwd_file=$TEST_TMP/passwd" \
    -o "endpoint=us-east-1,sigv4,nomixupload,stat_cache_expire=1" >"$LOG_DIR/s3fs.log" 2>&1 &
S3FS_PID=$!
for _ in $(seq 1 100); do
    mountpoint -q "$MNT" && break
    kill -0 "$S3FS_PID" 2>/dev/null || break
    sleep 0.1
done
if ! mountpoint -q "$MNT"; then
    say "skipped: s3fs could not mount here:"
    tail -n 5 "$LOG_DIR/s3fs.log" | sed 's/^/#   /'
    finish
fi
check "s3fs mounted the bucket" mountpoint -q "$MNT"

rand_file "$D/small" 10K
rand_file "$D/big" 30M
printf 'hello from s3fs\n' >"$D/hello.txt"
check "copy files in" bash -c "cp '$D/small' '$D/big' '$D/hello.txt' '$MNT/' && mkdir '$MNT/dir one' && cp '$D/small' '$MNT/dir one/inner+1'"
check "ls of the mount" bash -c "ls '$MNT' | sort | tr '\n' ' ' | grep -qx 'big dir one hello.txt small '"
check "sizes through stat" bash -c "[ \$(stat -c %s '$MNT/big') -eq 31457280 ]"
# s3fs also writes a "dir one/" marker object for the directory.
check "the objects are in the bucket" bash -c "aws s3 ls --recursive s3://$B | grep -c . | grep -qx 5 &&
    aws s3 ls --recursive s3://$B | grep -q ' dir one/inner+1\$'"
check "read back through the mount" bash -c "cmp '$D/big' '$MNT/big' && cmp '$D/small' '$MNT/dir one/inner+1' && cmp '$D/hello.txt' '$MNT/hello.txt'"
check "read back through S3" bash -c "aws s3 cp s3://$B/big - | cmp - '$D/big'"
check "append to a file" bash -c "printf 'more\n' >>'$MNT/hello.txt' && aws s3 cp s3://$B/hello.txt - | grep -q more"
check "rename (server-side copy + delete)" bash -c "mv '$MNT/small' '$MNT/renamed' && cmp '$D/small' '$MNT/renamed' && [ ! -e '$MNT/small' ]"
check "remove files and a directory" bash -c "rm '$MNT/big' '$MNT/renamed' '$MNT/hello.txt' && rm -r '$MNT/dir one' && [ -z \"\$(ls -A '$MNT')\" ]"
check "the bucket is empty" bash -c "[ -z \"\$(aws s3 ls --recursive s3://$B)\" ]"
umount_s3fs
check "rb" aws s3 rb "s3://$B"
finish

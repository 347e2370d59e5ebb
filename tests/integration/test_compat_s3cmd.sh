#!/bin/bash
# test_compat_s3cmd.sh — s3cmd 2.3 (path style, SigV4, its own signer; GetObjectAcl before cp and
# mv; POST ?delete for recursive deletes; info probes sub-resources): mb, put, get, ls, cp, mv,
# del, sync, info.
set -u
. "$(dirname "$0")/lib.sh"

D=$TEST_TMP/data
mkdir -p "$D/tree/sub" "$D/down"
rand_file "$D/big" 20M
for i in 1 2 3; do rand_file "$D/tree/f$i" 3K; done
rand_file "$D/tree/sub/inner file+é" 5K

check "emulator starts" start_emulator --local || finish
check "gateway starts" start_gateway || finish

S=s3://s3cmd-compat
check "mb" s3cmd mb $S
check "mb of an owned bucket fails cleanly" bash -c "! s3cmd mb $S 2>&1 | grep -q Traceback"
check "put small with metadata" s3cmd put --add-header=x-amz-meta-color:blue "$D/tree/f1" $S/one
check "put 20 MiB (multipart, 15 MiB parts)" s3cmd put "$D/big" $S/big
check "get small" bash -c "s3cmd get --force $S/one '$D/down/one' && cmp '$D/tree/f1' '$D/down/one'"
check "get 20 MiB" bash -c "s3cmd get --force $S/big '$D/down/big' && cmp '$D/big' '$D/down/big'"
check "ls" bash -c "s3cmd ls $S | grep -c '$S/' | grep -qx 2"
check "cp (GetObjectAcl then CopyObject)" s3cmd cp $S/one $S/copy-of-one
check "cp keeps metadata" bash -c "s3cmd info $S/copy-of-one | grep -qi 'color.*blue'"
check "mv" bash -c "s3cmd mv $S/copy-of-one $S/moved && ! s3cmd info $S/copy-of-one >/dev/null 2>&1 &&
    s3cmd get --force $S/moved '$D/down/moved' && cmp '$D/tree/f1' '$D/down/moved'"
check "info on a bucket (probes ?acl ?policy ?cors ?lifecycle …)" s3cmd info $S
check "info on an object" bash -c "s3cmd info $S/big | grep -q 'File size: 20971520'"
check "sync up" s3cmd sync "$D/tree/" $S/tree/
check "ls --recursive after sync" bash -c "[ \$(s3cmd ls --recursive $S/tree/ | wc -l) -eq 4 ]"
check "sync down is identical" bash -c "s3cmd sync $S/tree/ '$D/down/tree/' && diff -r '$D/tree' '$D/down/tree'"
printf 'changed\n' >"$D/tree/f2"
rm "$D/tree/f3"
check "sync --delete-removed" bash -c "s3cmd sync --delete-removed '$D/tree/' $S/tree/ &&
    [ \$(s3cmd ls --recursive $S/tree/ | wc -l) -eq 3 ] &&
    s3cmd get --force $S/tree/f2 '$D/down/f2' && cmp '$D/tree/f2' '$D/down/f2'"
check "del" bash -c "s3cmd del $S/one && ! s3cmd ls $S/one | grep -q ."
check "del --recursive (POST ?delete)" s3cmd del --recursive --force $S
check "rb" s3cmd rb $S
check "bucket is gone" bash -c "! s3cmd ls | grep -q s3cmd-compat"
finish

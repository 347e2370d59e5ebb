#!/bin/bash
# test_acl.sh — ACLs and PublicAccessBlock against a gateway with two users: what user A (the
# buckets' owner), user B (boto3) and anonymous requests (no signature; raw HTTP and curl) may
# do under every canned ACL, grants by id and group, the XML body, Get*Acl's answers, the public
# access block's flags, and the exact error codes. The cases are in tests/integration/acl.py.
set -u
. "$(dirname "$0")/lib.sh"

TGS3_AK2=TGS3ACLSECONDUSER002
TGS3_SK2=tgs3AclSecondUserSecret0123456789abcdef
export TGS3_AK TGS3_SK TGS3_AK2 TGS3_SK2
C() { env -u AWS_CA_BUNDLE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$PY" "$TGS3_ROOT/tests/integration/acl.py" "$@"; }

check "emulator starts" start_emulator --local || finish
check "gateway starts with a second user" start_gateway --user "$TGS3_AK2:$TGS3_SK2" || finish

section "private by default"
check "setup: A's bucket and a private object" C setup || finish
check "private: anonymous and B get 403 AccessDenied for list, get, head, put, delete, ACLs, uploads, PAB" C private
check "a bad signature is refused, not taken for anonymous" C bad_signature

section "share links"
check "share link: PutObject public-read, anonymous GET of the plain URL byte-identical (and ranges)" C share_link
share_curl() {
    head -c 300000 /dev/urandom >"$TEST_TMP/share.bin"
    aws s3 cp "$TEST_TMP/share.bin" s3://acl-a/share/curl.bin --acl public-read >/dev/null || return 1
    curl -sS -f -o "$TEST_TMP/share.got" "http://127.0.0.1:$GW_PORT/acl-a/share/curl.bin" || return 1
    cmp "$TEST_TMP/share.bin" "$TEST_TMP/share.got" || return 1
    code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/acl-a/private.txt")
    echo "private object: $code"
    [ "$code" = 403 ]
}
check "share link with aws s3 cp --acl public-read and plain curl; a private object answers curl 403" share_curl

section "canned ACLs, grants, XML"
check "every canned ACL on an object: anonymous, B, GetObjectAcl" C object_canned
check "overwrite and delete reset an object's ACL to the request's (private)" C overwrite_resets
check "CopyObject and CreateMultipartUpload ACLs; B copies only what it may read" C copy_multipart
check "canned ACLs on buckets: public-read, public-read-write (anonymous puts of every size), authenticated-read" C bucket_canned
check "grants by id and uri, bucket WRITE to B, bucket-owner-read / -full-control on B's objects" C grants
check "errors: canned+grants InvalidRequest, unknown id/canned InvalidArgument, MalformedACLError, NoSuchKey" C errors
check "AccessControlPolicy XML bodies for objects and buckets" C xml_body

section "PublicAccessBlock"
check "Put/Get/DeletePublicAccessBlock; BlockPublicAcls refuses public ACLs, IgnorePublicAcls ignores them" C pab
check "a deleted bucket's ACL and block do not come back with its name" C deleted_bucket

section "one user"
stop_gateway
check "gateway restarts with user A alone" start_gateway || finish
check "ACLs kept; share links, anonymous writes and the public access block as before; A may do anything" C single_user

finish

#!/bin/bash
# test_security.sh — the security negative matrix: hostile requests get the exact status and
# S3 error code, and leave nothing behind (no object, no bytes in another user's bucket, no
# spill file under the data dir, no injected response header, no second request parsed out
# of a body). The requests are built in tests/integration/secreq.py.
set -u
. "$(dirname "$0")/lib.sh"

SEC_B_AK=TGS3TESTACCESSKEYB02
SEC_B_SK=tgs3SecondUserSecret0123456789abcdefghij
export SEC_B_AK SEC_B_SK
S() { "$PY" "$TGS3_ROOT/tests/integration/secreq.py" "$@"; }

# gw_up ARGS — starts a gateway with the shared flags plus ARGS; a start that fails (a flag
# this build does not know) leaves no process behind to be reported when stopped.
gw_up() {
    start_gateway --no-packing --req-timeout 15 --user "$SEC_B_AK:$SEC_B_SK" "$@" && return 0
    kill "$GW_PID" 2>/dev/null
    wait "$GW_PID" 2>/dev/null
    GW_PID=
    return 1
}
gw_env() { export GW_DIR GW_PID; }

check "emulator starts" start_emulator --local || finish
check "gateway starts with a second user" gw_up || finish
gw_env
check "setup: buckets of users A and B" S setup || finish

# 11: authentication and ownership
check "auth: no auth, garbled, unknown key, wrong secret, expired, skewed, replayed, tampered; B against A's bucket, objects, upload, copy sources" S auth

# 1: response splitting
check "response-content-type / -disposition with CR/LF -> 400 InvalidArgument, no injected header" S resp_split

# 2: x-amz-* headers outside the signature; a scope for another service
check "unsigned x-amz-copy-source/-tagging/-acl/-meta beside a signature -> 403 AccessDenied, nothing written" S unsigned_amz
check "credential scope with service iam -> refused (400 AuthorizationHeaderMalformed; presigned 400/403)" S scope_service

# 3: a bucket deleted and re-created by the other user while a request into it runs
check "streamed PUT: B's bucket re-created by A mid-body -> 404 NoSuchBucket, A's bucket empty" S race B A
check "streamed PUT: A's bucket re-created by B mid-body -> 404 NoSuchBucket, B's bucket empty" S race A B
check "multipart: B's upload aborted, bucket re-created by A mid-part -> part and Complete land nowhere" S race_mpu B A
check "multipart: A's upload aborted, bucket re-created by B mid-part -> part and Complete land nowhere" S race_mpu A B

# 6: ambiguous framing
check "two Content-Length / Content-Length with chunked -> 400, closed, one response only" S framing

# 7-9: keys, metadata, trailers
check "key not UTF-8 -> 400 InvalidURI/InvalidArgument, nothing stored; control-character key round-trips in listings" S keys
check "x-amz-meta value with a raw 0xE9 byte -> RFC 2047 on HEAD, or 400; never dropped" S meta
check "declared x-amz-trailer never sent -> 400, no object" S trailer

# 4: stalled bodies may not hold the upload slots (default --max-upload-blocks 8)
check "8 stalled 64 MiB PUTs: an 8 MiB PUT and a GET within 2x unloaded; stalls end in 400 RequestTimeout" S starve

# 5: bodies of requests that fail authentication never reach the disk
check "unauthenticated / bad-signature 256 MiB bodies (length and chunked) -> 403, 0 bytes spilled" S fill_unauth
metric() { curl -sS --max-time 10 "$GW_ADMIN_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
metrics_say() {
    local refused spill slow
    refused=$(metric tgs3_heads_refused_total) spill=$(metric tgs3_spill_bytes) slow=$(metric tgs3_bodies_too_slow_total)
    echo "heads refused $refused, spill bytes $spill, bodies too slow $slow"
    [ "${refused:-0}" -ge 3 ] && [ "$spill" = 0 ] && [ "${slow:-0}" -ge 1 ]
}
check "metrics: refused heads and slow bodies counted, no spill left held" metrics_say
stop_gateway

if check "gateway starts with --max-spill 8M" gw_up --max-spill 8M; then
    gw_env
    check "--max-spill 8M: a 24 MiB chunked PUT -> 503 SlowDown, a 3 MiB one succeeds" S max_spill
    stop_gateway
else
    fail "--max-spill 8M: a 24 MiB chunked PUT -> 503 SlowDown, a 3 MiB one succeeds" "gateway did not start"
fi

# 10: a slow request head is cut; idle sockets give way at the connection cap
if check "gateway starts with --header-timeout 3 --max-connections 64" gw_up --header-timeout 3 --max-connections 64; then
    gw_env
    check "half a request head -> closed within header-timeout + 2 s" S half_head 5
else
    fail "half a request head -> closed within header-timeout + 2 s" "gateway did not start"
    check "gateway starts with --max-connections 64" gw_up --max-connections 64 || finish
    gw_env
fi
check "64 idle sockets at --max-connections 64: a GET still succeeds" S idle 64

# 12: a body the gateway paused (its upload waited for a slot) gets as long as the pause before
# the rate floor applies: the client's TCP may have backed off meanwhile
stop_gateway
GW_BLOCK_SIZE=4M
if check "gateway starts with 4 MiB blocks and one upload slot" gw_up --max-upload-blocks 1; then
    gw_env
    check "a body paused 10 s by a stopped Bot API server, its client silent 7 s after the read resumed: 200, whole" \
        S paused "$EMU_PID" $((4 << 20))
fi
unset GW_BLOCK_SIZE

finish

#!/usr/bin/env bash
# test_emulator.sh — drives tgs3-botapi (the local Bot API emulator) with curl.
#
# Starts the emulator on free loopback ports in a temp dir, in --local and non-local mode,
# and checks the observable Bot API behaviour the client library relies on. Prints one
# "ok - name" / "not ok - name" line per check and a final "N passed, N failed" line.
set -u

BIN="${BUILD:-build}/tgs3-botapi"
if [ ! -x "$BIN" ]; then
    echo "not ok - binary $BIN missing"
    echo "0 passed, 1 failed"
    exit 1
fi

WORK=$(mktemp -d /tmp/tgs3-emu-test.XXXXXX)
PASS=0
FAIL=0
PID=""
CHAT=-1001234567890
CHAT2=-1009876543210
TA="123456:AAtokenA"
TB="654321:BBtokenB"

cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

check() { # name, condition result (0 = pass)
    if [ "$2" -eq 0 ]; then
        echo "ok - $1"
        PASS=$((PASS + 1))
    else
        echo "not ok - $1"
        FAIL=$((FAIL + 1))
    fi
}

# jget FILE EXPR: evaluates a Python expression over the JSON in FILE as d.
jget() {
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
v=eval(sys.argv[2])
print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$1" "$2" 2>/dev/null
}

free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

start() { # dir, extra args...
    local dir=$1
    shift
    PORT=$(free_port)
    B="http://127.0.0.1:$PORT"
    "$BIN" --listen "127.0.0.1:$PORT" --dir "$dir" --chat "$CHAT" --chat "$CHAT2" "$@" \
        >"$WORK/emu.out" 2>>"$WORK/emu.err" &
    PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$WORK/emu.out" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "# emulator did not start"
    cat "$WORK/emu.err"
    return 1
}

stop() { # returns the emulator's exit status
    local rc=0
    kill -TERM "$PID"
    wait "$PID" || rc=$?
    PID=""
    return $rc
}

# api NAME TOKEN METHOD curl-args... → body in $WORK/NAME.json, status in $WORK/NAME.code
api() {
    local name=$1 tok=$2 method=$3
    shift 3
    curl -s -o "$WORK/$name.json" -w '%{http_code}' -D "$WORK/$name.hdr" "$@" "$B/bot$tok/$method" >"$WORK/$name.code"
}
code() { cat "$WORK/$1.code"; }
is() { [ "$1" = "$2" ]; echo $?; }

head -c 300000 /dev/urandom >"$WORK/a.bin"
head -c 70000 /dev/urandom >"$WORK/b.bin"
: >"$WORK/empty.bin"

# ---------------- local mode ----------------
start "$WORK/local" --local || exit 1

api me "$TA" getMe
check "getMe works" "$(is "$(code me):$(jget "$WORK/me.json" 'd["ok"] and d["result"]["id"]==123456 and d["result"]["is_bot"]')" "200:true")"

api badtok "0123:abc" getMe
check "bad token is 401" "$(is "$(code badtok):$(jget "$WORK/badtok.json" 'd["description"]')" "401:Unauthorized: invalid token specified")"

api nometh "$TA" noSuchMethod
check "unknown method is 404" "$(is "$(code nometh):$(jget "$WORK/nometh.json" 'd["description"]')" "404:Not Found: method not found")"

api nochat "$TA" sendDocument -F chat_id=-100555 -F "document=@$WORK/a.bin"
check "unknown chat is chat not found" "$(is "$(code nochat):$(jget "$WORK/nochat.json" 'd["description"]')" "400:Bad Request: chat not found")"

api send1 "$TA" SENDDOCUMENT -F chat_id=$CHAT -F "document=@$WORK/a.bin;filename=blk-1.bin" -F caption='{"k":"b/key"}'
FID_A=$(jget "$WORK/send1.json" 'd["result"]["document"]["file_id"]')
UID_A=$(jget "$WORK/send1.json" 'd["result"]["document"]["file_unique_id"]')
MID1=$(jget "$WORK/send1.json" 'd["result"]["message_id"]')
check "sendDocument multipart answers a Message" "$(is "$(code send1):$MID1:$(jget "$WORK/send1.json" 'd["result"]["document"]["file_size"]'):$(jget "$WORK/send1.json" 'd["result"]["caption"]')" '200:2:300000:{"k":"b/key"}')"

api get1 "$TA" getFile -d "file_id=$FID_A"
P1=$(jget "$WORK/get1.json" 'd["result"]["file_path"]')
case "$P1" in /*) abs=0 ;; *) abs=1 ;; esac
check "local getFile gives an absolute path" "$abs"
cmp -s "$P1" "$WORK/a.bin"
check "local getFile bytes identical" $?

curl -s -o "$WORK/dll.json" -w '%{http_code}' "$B/file/bot$TA/documents/file_0" >"$WORK/dll.code"
check "local mode has no /file/ download" "$(is "$(code dll)" 404)"

api empty "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/empty.bin"
check "0-byte document refused" "$(is "$(jget "$WORK/empty.json" 'd["description"]')" "Bad Request: file must be non-empty")"

api other "$TB" getFile -d "file_id=$FID_A"
check "another bot's file_id refused by getFile" "$(is "$(code other):$(jget "$WORK/other.json" 'd["description"]')" "400:Bad Request: invalid file_id")"

api other2 "$TB" sendDocument -d chat_id=$CHAT -d "document=$FID_A"
check "another bot's file_id refused by sendDocument" "$(is "$(jget "$WORK/other2.json" 'd["description"]')" "Bad Request: wrong remote file identifier specified: can't unserialize it")"

api garbage "$TA" getFile -d "file_id=garbage"
check "garbage file_id refused" "$(is "$(jget "$WORK/garbage.json" 'd["description"]')" "Bad Request: invalid file_id")"

api fwd "$TB" forwardMessage -d chat_id=$CHAT2 -d from_chat_id=$CHAT -d message_id=$MID1
FID_B=$(jget "$WORK/fwd.json" 'd["result"]["document"]["file_id"]')
check "forwardMessage answers a forwarded Message" "$(is "$(code fwd):$(jget "$WORK/fwd.json" 'd["result"]["forward_origin"]["message_id"]'):$(jget "$WORK/fwd.json" 'd["result"]["document"]["file_unique_id"]')" "200:$MID1:$UID_A")"
api getb "$TB" getFile -d "file_id=$FID_B"
cmp -s "$(jget "$WORK/getb.json" 'd["result"]["file_path"]')" "$WORK/a.bin"
check "forwarded file_id works for the forwarding bot" $?

api copy "$TA" copyMessage -d chat_id=$CHAT2 -d from_chat_id=$CHAT -d message_id=$MID1
check "copyMessage answers a message_id" "$(is "$(code copy):$(jget "$WORK/copy.json" 'list(d["result"].keys())')" '200:["message_id"]')"

api furi "$TA" sendDocument -d chat_id=$CHAT -d "document=file://$WORK/b.bin"
api furig "$TA" getFile -d "file_id=$(jget "$WORK/furi.json" 'd["result"]["document"]["file_id"]')"
cmp -s "$(jget "$WORK/furig.json" 'd["result"]["file_path"]')" "$WORK/b.bin"
check "file:// upload in local mode" $?

api s2 "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/b.bin"
api s3 "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/b.bin"
M2=$(jget "$WORK/s2.json" 'd["result"]["message_id"]')
M3=$(jget "$WORK/s3.json" 'd["result"]["message_id"]')
api dels "$TA" deleteMessages -d chat_id=$CHAT --data-urlencode "message_ids=[$M2,$M3,99999]"
api del_again "$TA" deleteMessage -d chat_id=$CHAT -d message_id=$M2
check "deleteMessages deletes and skips missing ids" "$(is "$(code dels):$(jget "$WORK/del_again.json" 'd["description"]')" "200:Bad Request: message to delete not found")"

api del1 "$TA" deleteMessage -d chat_id=$CHAT -d message_id=1
check "message 1 can't be deleted" "$(is "$(jget "$WORK/del1.json" 'd["description"]')" "Bad Request: message can't be deleted")"

api pin "$TA" pinChatMessage -d chat_id=$CHAT -d message_id=$MID1
api chat "$TA" getChat -d chat_id=$CHAT
check "pin then getChat pinned_message" "$(is "$(code pin):$(jget "$WORK/chat.json" 'd["result"]["pinned_message"]["message_id"]'):$(jget "$WORK/chat.json" 'd["result"]["pinned_message"]["document"]["file_id"]'):$(jget "$WORK/chat.json" 'd["result"]["max_reaction_count"]')" "200:$MID1:$FID_A:11")"

curl -s "$B/_emulator/stats" >"$WORK/stats.json"
# chat 1: a.bin (300000) + file:// b.bin (70000); chat 2: forward + copy of a.bin.
check "stats counts live document messages and bytes" "$(is "$(jget "$WORK/stats.json" '[d["chats"]["'$CHAT'"]["messages"],d["chats"]["'$CHAT'"]["bytes"],d["chats"]["'$CHAT2'"]["messages"],d["methods"]["sendDocument"]["calls"]]')" "[2, 370000, 2, 7]")"
check "stats counts errors per method" "$(is "$(jget "$WORK/stats.json" 'd["methods"]["getFile"]["errors"]')" 2)"

stop
check "SIGTERM exits cleanly (local)" $?

start "$WORK/local" --local || exit 1
api get_after "$TA" getFile -d "file_id=$FID_A"
cmp -s "$(jget "$WORK/get_after.json" 'd["result"]["file_path"]')" "$WORK/a.bin"
check "restart keeps state (old file_id still works)" $?
api chat_after "$TA" getChat -d chat_id=$CHAT
check "restart keeps pins" "$(is "$(jget "$WORK/chat_after.json" 'd["result"]["pinned_message"]["message_id"]')" "$MID1")"
api s4 "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/b.bin"
check "restart keeps message ids sequential" "$(is "$(jget "$WORK/s4.json" 'd["result"]["message_id"]')" "$((M3 + 2))")"
stop
check "SIGTERM exits cleanly (restart)" $?

start "$WORK/local" --local --clock-offset 200000 || exit 1
api old "$TA" deleteMessage -d chat_id=$CHAT -d message_id=$MID1
check "48 h rule: old message can't be deleted" "$(is "$(code old):$(jget "$WORK/old.json" 'd["description"]')" "400:Bad Request: message can't be deleted")"
stop

# ---------------- non-local mode ----------------
start "$WORK/cloud" || exit 1
api c1 "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/a.bin"
api cg "$TA" getFile -d "file_id=$(jget "$WORK/c1.json" 'd["result"]["document"]["file_id"]')"
CP=$(jget "$WORK/cg.json" 'd["result"]["file_path"]')
case "$CP" in documents/file_*) rel=0 ;; *) rel=1 ;; esac
check "non-local getFile gives a relative path" "$rel"
curl -s -o "$WORK/down.bin" "$B/file/bot$TA/$CP"
cmp -s "$WORK/down.bin" "$WORK/a.bin"
check "non-local /file/ download identical" $?
api cfuri "$TA" sendDocument -d chat_id=$CHAT -d "document=file://$WORK/b.bin"
check "file:// refused in non-local mode" "$(is "$(code cfuri)" 400)"
stop
check "SIGTERM exits cleanly (non-local)" $?

# ---------------- rate limit ----------------
start "$WORK/rate" --local --rate-chat 2 || exit 1
api r1 "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/b.bin"
api r2 "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/b.bin"
api r3 "$TA" sendDocument -F chat_id=$CHAT -F "document=@$WORK/b.bin"
RA=$(jget "$WORK/r3.json" 'd["parameters"]["retry_after"]')
HDR=$(tr -d '\r' <"$WORK/r3.hdr" | awk -F': ' 'tolower($1)=="retry-after"{print $2}')
DESC=$(jget "$WORK/r3.json" 'd["description"]')
check "429 with Retry-After under --rate-chat 2" "$(is "$(code r1)$(code r2)$(code r3):$HDR:$DESC" "200200429:$RA:Too Many Requests: retry after $RA")"
api r4 "$TA" sendDocument -F chat_id=$CHAT2 -F "document=@$WORK/b.bin"
check "rate limit is per chat" "$(is "$(code r4)" 200)"
stop

# ---------------- fault knobs ----------------
start "$WORK/faults" --local --fault-5xx 100 || exit 1
api f5 "$TA" getMe
check "--fault-5xx answers 500 restart" "$(is "$(code f5):$(jget "$WORK/f5.json" 'd["description"]')" "500:Internal Server Error: restart")"
stop

start "$WORK/drops" --local --fault-drop 100 || exit 1
curl -s -o /dev/null -F chat_id=$CHAT -F "document=@$WORK/b.bin" "$B/bot$TA/sendDocument"
DROP_RC=$?
curl -s "$B/_emulator/stats" >"$WORK/dstats.json"
check "--fault-drop closes the connection after storing" "$(is "$DROP_RC:$(jget "$WORK/dstats.json" 'd["chats"]["'$CHAT'"]["messages"]')" "52:1")"
stop

start "$WORK/latency" --local --latency-ms 300 || exit 1
T0=$(date +%s%N)
api lat "$TA" getMe
T1=$(date +%s%N)
check "--latency-ms delays answers" "$(is "$(code lat):$(( (T1 - T0) >= 300000000 ))" "200:1")"
NC=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "$B/bot$TA/getMe" "$B/bot$TA/getMe")
check "keep-alive reuses the connection" "$(is "$NC" "1 0 ")"
stop
check "SIGTERM exits cleanly (latency)" $?

if [ -s "$WORK/emu.err" ]; then
    echo "# emulator stderr:"
    sed 's/^/# /' "$WORK/emu.err" | head -40
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

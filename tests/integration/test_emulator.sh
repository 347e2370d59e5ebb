#!/usr/bin/env bash
# test_emulator.sh — drives tgs3-botapi (the local Bot API emulator) with curl.
#
# Starts the emulator on free loopback ports in a temp dir, in --local and non-local mode,
# and checks the observable Bot API behaviour the client library relies on, Telegram's limits,
# the fault knobs and the run-time faults of /_emulator/ (ban, kick, delete, corrupt). Prints one
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

# start DIR ARGS... — Telegram's limits are on by default; checks not about them turn them off
# (unless ARGS name a --rate flag, or DEFAULT_RATES=1).
start() {
    local dir=$1 rates=(--rate-chat 0 --rate-bot 0)
    shift
    case " $* " in *" --rate-"*) rates=() ;; esac
    [ "${DEFAULT_RATES:-0}" = 1 ] && rates=()
    PORT=$(free_port)
    B="http://127.0.0.1:$PORT"
    rm -f "$WORK/emu.out" # the background child truncates it only once it runs: the last start's line would do
    "$BIN" --listen "127.0.0.1:$PORT" --dir "$dir" --chat "$CHAT" --chat "$CHAT2" "${rates[@]}" "$@" \
        >"$WORK/emu.out" 2>>"$WORK/emu.err" &
    PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening on 127.0.0.1:$PORT" "$WORK/emu.out" 2>/dev/null && return 0
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

P2=$(free_port)
"$BIN" --listen "127.0.0.1:$P2" --dir "$WORK/local" --local --chat "$CHAT" >"$WORK/second.out" 2>&1
rc=$?
check "a second server on the same --dir is refused (its lock is held)" "$( [ $rc -ne 0 ] && grep -q "already in use; check for another program instance running" "$WORK/second.out"; echo $?)"
check "and the first one's documents are all still there" "$(is "$(curl -s "$B/_emulator/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["chats"]["'$CHAT'"]["bytes"])')" 370000)"

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

# ---------------- rate limits: sliding windows, flood waits ----------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }
send() { # NAME TOKEN CHAT [FILE] — sendDocument
    api "$1" "$2" sendDocument -F chat_id="$3" -F "document=@${4:-$WORK/b.bin}"
}
stat_of() { curl -s "$B/_emulator/stats" >"$WORK/st.json"; jget "$WORK/st.json" "$1"; }

DEFAULT_RATES=1 start "$WORK/rdef" --local --flood-wait-max 0 || exit 1
codes=""
for i in $(seq 1 21); do send "d$i" "$TA" $CHAT; codes="$codes$(code "d$i") "; done
check "default --rate-chat 20: the 21st post within a minute is refused" "$(is "$codes" "$(printf '200 %.0s' $(seq 1 20))429 ")"
check "defaults shown in the stats (20/min per bot and chat, 30/s per bot, flood waits to 60 s)" "$(is "$(stat_of '[d["limits"]["rate_chat"],d["limits"]["rate_bot"]]')" "[20, 30]")"
check "every 429 counted per (bot, chat)" "$(is "$(stat_of '[(p["posts"],p["too_many"],p["rate_limited"],p["peak_60s"]) for p in d["pairs"] if p["chat"]=='$CHAT']')" "[[20, 1, 1, 20]]")"
stop

start "$WORK/rate" --local --rate-chat 2 --flood-wait-max 0 || exit 1
send r1 "$TA" $CHAT
send r2 "$TA" $CHAT
send r3 "$TA" $CHAT
RA=$(jget "$WORK/r3.json" 'd["parameters"]["retry_after"]')
HDR=$(tr -d '\r' <"$WORK/r3.hdr" | awk -F': ' 'tolower($1)=="retry-after"{print $2}')
DESC=$(jget "$WORK/r3.json" 'd["description"]')
check "429 with Retry-After under --rate-chat 2" "$(is "$(code r1)$(code r2)$(code r3):$HDR:$DESC" "200200429:$RA:Too Many Requests: retry after $RA")"
check "retry_after is when the 60 s window frees a slot" "$( [ "$RA" -ge 55 ] && [ "$RA" -le 60 ]; echo $?)"
send r4 "$TA" $CHAT2
check "the window is per chat" "$(is "$(code r4)" 200)"
send r5 "$TB" $CHAT
check "and per bot" "$(is "$(code r5)" 200)"
stop

start "$WORK/ratebot" --local --rate-chat 0 --rate-bot 2 --flood-wait-max 0 || exit 1
send b1 "$TA" $CHAT
send b2 "$TA" $CHAT2
send b3 "$TA" $CHAT
check "--rate-bot 2: a third post in the same second is refused (retry after 1)" "$(is "$(code b1)$(code b2)$(code b3):$(jget "$WORK/b3.json" 'd["parameters"]["retry_after"]')" "200200429:1")"
sleep 1.1
send b4 "$TA" $CHAT
check "and goes through a second later" "$(is "$(code b4)" 200)"
stop

start "$WORK/flood" --local --rate-chat 0 --rate-bot 2 || exit 1
T0=$(now_ms)
send f1 "$TA" $CHAT
send f2 "$TA" $CHAT
send f3 "$TA" $CHAT
T1=$(now_ms)
check "a flood wait within --flood-wait-max comes back as latency, not 429" "$(is "$(code f1)$(code f2)$(code f3):$(( T1 - T0 >= 950 ))" "200200200:1")"
check "the stats count the flood wait" "$(is "$(stat_of '[p["flood_waits"] for p in d["pairs"]]'):$(stat_of 'd["too_many"]')" "[1]:0")"
# Four at once: two fit this second, two wait for the next (never a 429).
T0=$(now_ms)
SENDERS=()
for i in 1 2 3 4; do
    send "g$i" "$TA" $CHAT2 &
    SENDERS+=($!)
done
wait "${SENDERS[@]}"
T1=$(now_ms)
check "concurrent posts queue for their slots" "$(is "$(code g1)$(code g2)$(code g3)$(code g4):$(stat_of 'd["too_many"]')" "200200200200:0")"
stop

start "$WORK/floodmax" --local --rate-chat 2 --flood-wait-max 5 || exit 1
send m1 "$TA" $CHAT
send m2 "$TA" $CHAT
T0=$(now_ms)
send m3 "$TA" $CHAT
T1=$(now_ms)
check "a wait past --flood-wait-max is a 429 at once" "$(is "$(code m3):$(( T1 - T0 < 2000 )):$(jget "$WORK/m3.json" 'd["parameters"]["retry_after"] > 5')" "429:1:true")"
stop

# ---------------- fault knobs ----------------
"$BIN" --listen 127.0.0.1:0 --dir "$WORK/bad" --chat $CHAT --fail-429 20 2>"$WORK/bad.err"
check "fault rates are fractions in [0,1]" "$(is "$?:$(grep -c 'fraction in \[0,1\]' "$WORK/bad.err")" "1:1")"
"$BIN" --listen 127.0.0.1:0 --dir "$WORK/bad" --chat $CHAT --fault-5xx 1 2>"$WORK/bad.err"
check "the old --fault-* names are gone" "$(is "$?:$(grep -c 'unknown option --fault-5xx' "$WORK/bad.err")" "1:1")"

start "$WORK/f5xx" --local --fail-5xx 1 || exit 1
api f5 "$TA" getMe
check "--fail-5xx answers 500 restart" "$(is "$(code f5):$(jget "$WORK/f5.json" 'd["description"]'):$(stat_of 'd["faults"]["5xx"]')" "500:Internal Server Error: restart:1")"
stop

start "$WORK/f429" --local --fail-429 1 || exit 1
send q1 "$TA" $CHAT
HDR=$(tr -d '\r' <"$WORK/q1.hdr" | awk -F': ' 'tolower($1)=="retry-after"{print $2}')
check "--fail-429 answers 429 retry after 1" "$(is "$(code q1):$HDR:$(jget "$WORK/q1.json" 'd["parameters"]["retry_after"]')" "429:1:1")"
check "and counts it for the (bot, chat)" "$(is "$(stat_of '[(p["chat"],p["injected_429"],p["too_many"],p["posts"]) for p in d["pairs"]]'):$(stat_of 'd["faults"]["429"]')" "[[$CHAT, 1, 1, 0]]:1")"
stop

start "$WORK/drops" --local --fail-drop 1 || exit 1
curl -s -o /dev/null -F chat_id=$CHAT -F "document=@$WORK/b.bin" "$B/bot$TA/sendDocument"
DROP_RC=$?
check "--fail-drop closes the connection and the method does not run" "$(is "$DROP_RC:$(stat_of '[d["chats"]["'$CHAT'"]["messages"],d["faults"]["dropped"]]')" "52:[0, 1]")"
stop

start "$WORK/lost" --local --fail-lost 1 || exit 1
curl -s -o /dev/null -F chat_id=$CHAT -F "document=@$WORK/b.bin" -F caption=lost-one "$B/bot$TA/sendDocument"
LOST_RC=$?
check "--fail-lost posts the document but no answer comes" "$(is "$LOST_RC:$(stat_of '[d["chats"]["'$CHAT'"]["messages"],d["faults"]["lost"]]')" "52:[1, 1]")"
api lostme "$TA" getMe
check "other methods still answer" "$(is "$(code lostme)" 200)"
stop

start "$WORK/gf" --local --fail-getfile 1 || exit 1
send gf1 "$TA" $CHAT
api gf2 "$TA" getFile -d "file_id=$(jget "$WORK/gf1.json" 'd["result"]["document"]["file_id"]')"
check "--fail-getfile: the real server's transient getFile error" "$(is "$(code gf1):$(code gf2):$(jget "$WORK/gf2.json" 'd["description"]'):$(stat_of 'd["faults"]["getfile"]')" "200:400:Bad Request: wrong file_id or the file is temporarily unavailable:1")"
stop

# --seed: the same seed rolls the same dice.
pattern() {
    start "$WORK/seed$1" --local --fail-getfile 0.5 --seed "$2" || return 1
    local fid p="" i
    # The post rolls no getFile dice: on a loaded machine it is tried again until
    # it lands, so that the pattern is the dice's and not a missing file_id's.
    for i in 1 2 3; do
        send s0 "$TA" $CHAT
        [ "$(code s0)" = 200 ] && break
        sleep 1
    done
    [ "$(code s0)" = 200 ] || p="(sendDocument $(code s0)) "
    fid=$(jget "$WORK/s0.json" 'd["result"]["document"]["file_id"]')
    for i in $(seq 1 16); do api sx "$TA" getFile -d "file_id=$fid"; p="$p$(code sx | cut -c1)"; done
    stop
    echo "$p"
}
P1=$(pattern 1 42)
P2=$(pattern 2 42)
P3=$(pattern 3 43)
check "--seed repeats the faults ($P1), another seed differs ($P3)" "$( [ "$P1" = "$P2" ] && [ "$P1" != "$P3" ] && [[ $P1 == *2* ]] && [[ $P1 == *4* ]]; echo $?)"

start "$WORK/bw" --local --bandwidth 1M || exit 1
T0=$(now_ms)
send bw1 "$TA" $CHAT "$WORK/a.bin"
T1=$(now_ms)
api bw2 "$TA" getFile -d "file_id=$(jget "$WORK/bw1.json" 'd["result"]["document"]["file_id"]')"
T2=$(now_ms)
# 300000 bytes at 1 MiB/s: about 286 ms each way.
check "--bandwidth: the upload answers after the body would have arrived" "$(is "$(code bw1):$(( T1 - T0 >= 270 ))" "200:1")"
check "--bandwidth: a local getFile answers after the download" "$(is "$(code bw2):$(( T2 - T1 >= 270 ))" "200:1")"
stop
start "$WORK/bwc" --bandwidth 1M || exit 1
send bwc1 "$TA" $CHAT "$WORK/a.bin"
api bwc2 "$TA" getFile -d "file_id=$(jget "$WORK/bwc1.json" 'd["result"]["document"]["file_id"]')"
T0=$(now_ms)
curl -s -o "$WORK/bwc.bin" "$B/file/bot$TA/$(jget "$WORK/bwc2.json" 'd["result"]["file_path"]')"
T1=$(now_ms)
cmp -s "$WORK/bwc.bin" "$WORK/a.bin"
check "--bandwidth paces /file/ downloads (identical bytes, $((T1 - T0)) ms)" "$(is "$?:$(( T1 - T0 >= 250 ))" "0:1")"
stop

start "$WORK/ttl" --local --file-ttl 2 || exit 1
send t1 "$TA" $CHAT "$WORK/a.bin"
FID_T=$(jget "$WORK/t1.json" 'd["result"]["document"]["file_id"]')
# file_path without python in between: the file lives 2 to 3 s.
fpath() { sed -n 's/.*"file_path":"\([^"]*\)".*/\1/p' "$WORK/$1.json"; }
api t2 "$TA" getFile -d "file_id=$FID_T"
PT=$(fpath t2)
test -f "$PT"
HAD=$?
sleep 4
test -e "$PT"
check "--file-ttl 2 removes a downloaded file after 2 to 3 s" "$(is "$HAD:$?" "0:1")"
api t3 "$TA" getFile -d "file_id=$FID_T"
cmp -s "$(fpath t3)" "$WORK/a.bin"
check "getFile downloads it again" $?
stop

# ---------------- run-time faults: /_emulator/ ----------------
# fault NAME ENDPOINT curl-args... — POST /_emulator/ENDPOINT: body in $WORK/NAME.json, status in $WORK/NAME.code
fault() {
    local name=$1 ep=$2
    shift 2
    curl -s -o "$WORK/$name.json" -w '%{http_code}' -X POST "$@" "$B/_emulator/$ep" >"$WORK/$name.code"
}
said() { echo "$(code "$1"):$(jget "$WORK/$1.json" 'd["description"]')"; } # "400:Bad Request: ..."
# every_call_says EXPECT TOKEN CALL... — each CALL is "method curl-args" (no spaces inside an
# argument); prints each call that answered other than EXPECT ("code:description"), else nothing.
every_call_says() {
    local want=$1 tok=$2 call words
    shift 2
    for call in "$@"; do
        read -r -a words <<<"$call"
        api every "$tok" "${words[@]}"
        [ "$(said every)" = "$want" ] || echo "[${words[0]} $(said every)]"
    done
}
# on_chat C OTHER MID OTHER_MID USER — CALLS: one of every method that names chat C (MID is a
# message of C with a document, OTHER_MID one of OTHER).
on_chat() {
    CALLS=("sendDocument -F chat_id=$1 -F document=@$WORK/b.bin"
        "copyMessage -d chat_id=$2 -d from_chat_id=$1 -d message_id=$3"
        "copyMessage -d chat_id=$1 -d from_chat_id=$2 -d message_id=$4"
        "forwardMessage -d chat_id=$2 -d from_chat_id=$1 -d message_id=$3"
        "forwardMessage -d chat_id=$1 -d from_chat_id=$2 -d message_id=$4"
        "deleteMessage -d chat_id=$1 -d message_id=$3"
        "deleteMessages -d chat_id=$1 -d message_ids=[$3]"
        "editMessageCaption -d chat_id=$1 -d message_id=$3 -d caption=new"
        "pinChatMessage -d chat_id=$1 -d message_id=$3"
        "unpinChatMessage -d chat_id=$1"
        "unpinAllChatMessages -d chat_id=$1"
        "getChat -d chat_id=$1"
        "getChatMember -d chat_id=$1 -d user_id=$5")
}
got_file() { # NAME TOKEN FILE_ID SAME_AS — getFile, then "code:bytes identical (0) or not (1)"
    api "$1" "$2" getFile -d "file_id=$3"
    cmp -s "$(jget "$WORK/$1.json" 'd["result"]["file_path"]')" "$4"
    echo "$(code "$1"):$?"
}
GONE="400:Bad Request: wrong file_id or the file is temporarily unavailable"
KICKED="403:Forbidden: bot was kicked from the channel chat"

start "$WORK/faults" --local || exit 1
send fx "$TA" $CHAT "$WORK/a.bin"
send fy "$TA" $CHAT2 "$WORK/b.bin"
send fz "$TA" $CHAT "$WORK/b.bin"
send fb "$TB" $CHAT "$WORK/b.bin"
send fb2 "$TB" $CHAT2 "$WORK/a.bin"
M_X=$(jget "$WORK/fx.json" 'd["result"]["message_id"]')
M_Y=$(jget "$WORK/fy.json" 'd["result"]["message_id"]')
M_Z=$(jget "$WORK/fz.json" 'd["result"]["message_id"]')
F_X=$(jget "$WORK/fx.json" 'd["result"]["document"]["file_id"]')
F_Y=$(jget "$WORK/fy.json" 'd["result"]["document"]["file_id"]')
F_Z=$(jget "$WORK/fz.json" 'd["result"]["document"]["file_id"]')
F_B=$(jget "$WORK/fb.json" 'd["result"]["document"]["file_id"]')
F_B2=$(jget "$WORK/fb2.json" 'd["result"]["document"]["file_id"]')
check "fault setup: five documents posted" "$(is "$(code fx)$(code fy)$(code fz)$(code fb)$(code fb2)" 200200200200200)"

api gm "$TA" getChatMember -d chat_id=$CHAT -d user_id=123456
check "getChatMember of the bot itself: an administrator that may post" "$(is "$(code gm):$(jget "$WORK/gm.json" '[d["result"]["status"],d["result"]["user"]["id"],d["result"]["user"]["is_bot"],d["result"]["can_post_messages"],d["result"]["can_edit_messages"],d["result"]["can_delete_messages"]]')" '200:["administrator", 123456, true, true, true, true]')"
api gc "$TA" getChat -d chat_id=$CHAT
check "getChat of a normal channel: id, title, type channel" "$(is "$(code gc):$(jget "$WORK/gc.json" '[d["result"]["id"],d["result"]["type"],d["result"]["title"]!=""]')" "200:[$CHAT, \"channel\", true]")"

curl -s -o "$WORK/fget.json" -w '%{http_code}' "$B/_emulator/ban?chat=$CHAT" >"$WORK/fget.code"
check "a fault endpoint wants POST (405)" "$(is "$(said fget)" "405:Method Not Allowed: use POST")"
fault fe1 ban
fault fe2 ban -d chat=abc
fault fe3 ban -d chat=-100555
fault fe4 ban -d chat=$CHAT -d bogus=1
fault fe5 kick -d chat=$CHAT
fault fe6 kick -d chat=$CHAT -d bot=0
fault fe7 delete -d chat=$CHAT -d message=99999
fault fe8 corrupt -d chat=$CHAT -d message=1
fault fe9 nosuch -d chat=$CHAT
check "bad fault parameters are 400 JSON errors" "$(is "$(said fe1)|$(said fe2)|$(said fe3)|$(said fe4)|$(said fe5)|$(said fe6)|$(said fe7)|$(said fe8)|$(jget "$WORK/fe1.json" 'd["ok"]')" \
    '400:Bad Request: parameter "chat" is required|400:Bad Request: parameter "chat" is not an integer|400:Bad Request: chat -100555 is not one of the emulator'"'"'s chats (--chat)|400:Bad Request: unknown parameter "bogus"|400:Bad Request: parameter "bot" is required|400:Bad Request: parameter "bot" is not a bot id|400:Bad Request: no such message in the chat|400:Bad Request: no such message in the chat|false')"
check "an unknown /_emulator/ endpoint is 404" "$(is "$(said fe9)" "404:Not Found")"
check "and none of them changed anything" "$(is "$(stat_of '[d["banned"],d["kicked"],d["faults"]["deleted"]]')" "[[], [], 0]")"

# delete: one message gone, as if an admin deleted it.
got_file fz0 "$TA" "$F_Z" "$WORK/b.bin" >/dev/null
fault fdel delete -d chat=$CHAT -d message=$M_Z
check "/_emulator/delete answers {\"ok\":true}" "$(is "$(code fdel):$(cat "$WORK/fdel.json")" '200:{"ok":true}')"
got_file fz1 "$TA" "$F_Z" "$WORK/b.bin" >/dev/null
check "getFile of its document: temporarily unavailable" "$(is "$(said fz1)" "$GONE")"
api fzc "$TA" copyMessage -d chat_id=$CHAT2 -d from_chat_id=$CHAT -d message_id=$M_Z
api fzf "$TA" forwardMessage -d chat_id=$CHAT2 -d from_chat_id=$CHAT -d message_id=$M_Z
api fzd "$TA" deleteMessage -d chat_id=$CHAT -d message_id=$M_Z
api fze "$TA" editMessageCaption -d chat_id=$CHAT -d message_id=$M_Z -d caption=x
api fzp "$TA" pinChatMessage -d chat_id=$CHAT -d message_id=$M_Z
check "the deleted message: copy, forward, delete, edit and pin find nothing" "$(is "$(said fzc)|$(said fzf)|$(said fzd)|$(said fze)|$(said fzp)" \
    "400:Bad Request: message to copy not found|400:Bad Request: message to forward not found|400:Bad Request: message to delete not found|400:Bad Request: message to edit not found|400:Bad Request: message to pin not found")"
fault fdel2 delete -d chat=$CHAT -d message=$M_Z
check "deleting it again is a 400" "$(is "$(said fdel2)" "400:Bad Request: no such message in the chat")"
check "the chat's other documents are still served" "$(is "$(got_file fx0 "$TA" "$F_X" "$WORK/a.bin")" "200:0")"
check "stats count the deletion and the chat's live documents" "$(is "$(stat_of '[d["faults"]["deleted"],d["chats"]["'$CHAT'"]["messages"]]')" "[1, 2]")"

# ban: the channel is gone for every bot.
fault fban ban -d chat=$CHAT
check "/_emulator/ban answers {\"ok\":true}" "$(is "$(code fban):$(cat "$WORK/fban.json")" '200:{"ok":true}')"
on_chat $CHAT $CHAT2 $M_X $M_Y 123456
OUT=$(every_call_says "400:Bad Request: chat not found" "$TA" "${CALLS[@]}")
check "banned: every method naming the chat is chat not found${OUT:+ $OUT}" "$(is "$OUT" "")"
on_chat $CHAT $CHAT2 $M_X $M_Y 654321
OUT=$(every_call_says "400:Bad Request: chat not found" "$TB" "${CALLS[@]}")
check "for every bot${OUT:+ $OUT}" "$(is "$OUT" "")"
got_file fbx "$TA" "$F_X" "$WORK/a.bin" >/dev/null
got_file fbb "$TB" "$F_B" "$WORK/b.bin" >/dev/null
check "banned: getFile of its documents is temporarily unavailable" "$(is "$(said fbx)|$(said fbb)" "$GONE|$GONE")"
api fbr "$TA" sendDocument -d chat_id=$CHAT2 -d "document=$F_X"
check "and their file_ids can't be sent again" "$(is "$(said fbr)" "400:Bad Request: wrong file identifier/HTTP URL specified")"
send fbo "$TA" $CHAT2
api fbc "$TA" getChat -d chat_id=$CHAT2
check "banned: the other chat is unaffected" "$(is "$(got_file fby "$TA" "$F_Y" "$WORK/b.bin"):$(got_file fbb2 "$TB" "$F_B2" "$WORK/a.bin"):$(code fbo):$(code fbc)" "200:0:200:0:200:200")"
check "stats list the banned chat" "$(is "$(stat_of '[d["banned"],d["kicked"]]')" "[[$CHAT], []]")"

stop
check "SIGTERM exits cleanly (faults)" $?
start "$WORK/faults" --local || exit 1
api frc "$TB" getChat -d chat_id=$CHAT
check "a ban survives a restart" "$(is "$(said frc):$(stat_of 'd["banned"]')" "400:Bad Request: chat not found:[$CHAT]")"
fault funban unban -d chat=$CHAT
check "/_emulator/unban answers {\"ok\":true}" "$(is "$(code funban):$(cat "$WORK/funban.json")" '200:{"ok":true}')"
check "unbanned: getFile serves the same bytes again" "$(is "$(got_file fux "$TA" "$F_X" "$WORK/a.bin"):$(got_file fub "$TB" "$F_B" "$WORK/b.bin")" "200:0:200:0")"
send fus "$TA" $CHAT
api fuc "$TB" getChat -d chat_id=$CHAT
check "unbanned: posts and getChat work again" "$(is "$(code fus):$(code fuc):$(stat_of 'd["banned"]')" "200:200:[]")"
got_file fz2 "$TA" "$F_Z" "$WORK/b.bin" >/dev/null
check "an admin's deletion survives a restart (its file_id stays unavailable)" "$(is "$(said fz2)" "$GONE")"

# kick: one bot is out of one chat.
fault fkick kick -d chat=$CHAT -d bot=123456
check "/_emulator/kick answers {\"ok\":true}" "$(is "$(code fkick):$(cat "$WORK/fkick.json")" '200:{"ok":true}')"
on_chat $CHAT $CHAT2 $M_X $M_Y 123456
OUT=$(every_call_says "$KICKED" "$TA" "${CALLS[@]}")
check "kicked: every method of that bot naming the chat is 403${OUT:+ $OUT}" "$(is "$OUT" "")"
got_file fkx "$TA" "$F_X" "$WORK/a.bin" >/dev/null
check "kicked: that bot's getFile of the chat's documents is temporarily unavailable" "$(is "$(said fkx)" "$GONE")"
send fko "$TA" $CHAT2
check "kicked: the bot's other chat is unaffected" "$(is "$(got_file fky "$TA" "$F_Y" "$WORK/b.bin"):$(code fko)" "200:0:200")"
api fkb "$TB" getChatMember -d chat_id=$CHAT -d user_id=654321
send fks "$TB" $CHAT
check "kicked: other bots are unaffected in that chat" "$(is "$(got_file fkbb "$TB" "$F_B" "$WORK/b.bin"):$(code fks):$(code fkb):$(jget "$WORK/fkb.json" 'd["result"]["status"]')" "200:0:200:200:administrator")"
check "stats list the kicked (chat, bot)" "$(is "$(stat_of 'd["kicked"]')" "[{\"chat\": $CHAT, \"bot\": 123456}]")"
stop
start "$WORK/faults" --local || exit 1
api fkr "$TA" getChat -d chat_id=$CHAT
check "a kick survives a restart" "$(is "$(said fkr)" "$KICKED")"
fault funkick unkick -d chat=$CHAT -d bot=123456
api fku "$TA" getChat -d chat_id=$CHAT
check "/_emulator/unkick lets the bot back in" "$(is "$(cat "$WORK/funkick.json"):$(code fku):$(got_file fkux "$TA" "$F_X" "$WORK/a.bin"):$(stat_of 'd["kicked"]')" '{"ok":true}:200:200:0:[]')"

# corrupt: the bytes change in place, the size does not.
fault fcor corrupt -d chat=$CHAT -d message=$M_X
check "/_emulator/corrupt answers {\"ok\":true}" "$(is "$(code fcor):$(cat "$WORK/fcor.json")" '200:{"ok":true}')"
got_file fcx "$TA" "$F_X" "$WORK/a.bin" >/dev/null
P_C=$(jget "$WORK/fcx.json" 'd["result"]["file_path"]')
DIFF=$(cmp -l "$P_C" "$WORK/a.bin" 2>/dev/null | awk 'NR==1{first=$1} END{print NR":"first}')
check "corrupt: getFile succeeds, same size, 16 bytes flipped in the middle" "$(is "$(code fcx):$(jget "$WORK/fcx.json" 'd["result"]["file_size"]'):$(stat -c %s "$P_C"):$DIFF" "200:300000:300000:16:149993")"
send fcm "$TA" $CHAT2
M_P=$(jget "$WORK/fcm.json" 'd["result"]["message_id"]')
api fcp "$TA" pinChatMessage -d chat_id=$CHAT2 -d message_id=$M_P
fault fcs corrupt -d chat=$CHAT2 -d message=$((M_P + 1)) # the pin's service message
check "corrupt: a message without a document is a 400" "$(is "$(said fcs)" "400:Bad Request: the message holds no document")"
check "stats count the corruption" "$(is "$(stat_of 'd["faults"]["corrupted"]')" 1)"
stop
check "SIGTERM exits cleanly (faults, restarted)" $?

# non-local mode: /file/ downloads of a lost channel's documents are 404.
start "$WORK/faultsc" || exit 1
send nc1 "$TA" $CHAT "$WORK/a.bin"
M_C=$(jget "$WORK/nc1.json" 'd["result"]["message_id"]')
api ncg "$TA" getFile -d "file_id=$(jget "$WORK/nc1.json" 'd["result"]["document"]["file_id"]')"
CP=$(jget "$WORK/ncg.json" 'd["result"]["file_path"]')
dl() { curl -s -o "$WORK/$1.bin" -w '%{http_code}' "$B/file/bot$TA/$CP"; }
D1=$(dl ncd1)
fault ncban ban -d chat=$CHAT
D2=$(dl ncd2)
fault ncunban unban -d chat=$CHAT
D3=$(dl ncd3)
cmp -s "$WORK/ncd3.bin" "$WORK/a.bin"
check "non-local: a banned chat's downloads are 404, back after unban" "$(is "$D1:$D2:$D3:$?" "200:404:200:0")"
fault nckick kick -d chat=$CHAT -d bot=123456
D4=$(dl ncd4)
fault ncunkick unkick -d chat=$CHAT -d bot=123456
check "non-local: a kicked bot's downloads are 404" "$(is "$D4" "404")"
fault nccor corrupt -d chat=$CHAT -d message=$M_C
D5=$(dl ncd5)
check "non-local: a corrupt document downloads whole with other bytes" "$(is "$D5:$(stat -c %s "$WORK/ncd5.bin"):$(cmp -l "$WORK/ncd5.bin" "$WORK/a.bin" 2>/dev/null | wc -l)" "200:300000:16")"
stop

start "$WORK/latency" --local --latency-ms 300 || exit 1
# curl's time to the first byte of the answer, not counting its own start.
TTFB=$(curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}' -X POST -d chat=$CHAT "$B/_emulator/ban")
curl -s -o /dev/null -X POST -d chat=$CHAT "$B/_emulator/unban"
check "fault endpoints answer without --latency-ms ($TTFB s)" "$(is "$(awk '{print $1":"($2 < 0.25)}' <<<"$TTFB")" "200:1")"
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

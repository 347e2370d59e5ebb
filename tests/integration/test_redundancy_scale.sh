#!/usr/bin/env bash
# test_redundancy_scale.sh — 1,300 objects in 4 + 2 stripes over 8 channels; four channels banned.
#
# 8 channels x 3 bots, the default redundancy (auto: 4 data + 2 parity), packing on, cache off,
# shards posted by file:// from a staging directory (as docker-compose runs it).
# 300 objects from 0 B to 200 MiB (most small or medium, three of 50-200 MiB, multipart
# through both clients) and 1,000 small ones that go into packs, about 560 MiB in all,
# generated from a seed printed below (TGS3_SEED=N repeats a run). Half of them are uploaded
# first, through aws and rclone. Then, while aws and rclone upload the other half and a
# reader reads the first half back again and again (background jobs), two channels are
# banned. Checks: the clients only ever saw 2xx or 503 SlowDown (the gateway's access log);
# an upload that failed anyway is retried, and said so; every object reads back
# byte-identical; the banned channels are lost and repair rebuilds their shards until every
# stripe has its K + M shards in K + M different live channels; tgs3 fsck is clean. Then two
# more channels are banned: after a restart with the cache off everything still reads back
# byte-identical from the four channels left.
set -u
. "$(dirname "$0")/lib.sh"

SEED=${TGS3_SEED:-$(((RANDOM << 15) | RANDOM))}
section() { say "[${SECONDS}s] $*"; }
metric() { curl -sS --max-time 10 "$GW_ADMIN_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
emu_post() { curl -fsS --max-time 10 -X POST "$EMU_URL/_emulator/$1"; }

TOKENS=(123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw 223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
    323456789:CCHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw)
CHATS=()
for i in 1 2 3 4 5 6 7 8; do CHATS+=("-100100000000$i"); done
CHAT_ID=${CHATS[0]}
EMU_CHATS=()
GW_ARGS=(--bot-token "${TOKENS[1]}" --bot-token "${TOKENS[2]}")
for c in "${CHATS[@]:1}"; do
    EMU_CHATS+=(--chat "$c")
    GW_ARGS+=(--chat-id "$c")
done
# Cache off: every read goes to the channels. A banned channel is lost 5 s after it first
# refuses, so its shards are rebuilt while the uploads still run.
STAGING=$TEST_TMP/staging
mkdir -p "$STAGING"
SERVE_ARGS=(--cache-size 0 --chat-lost-after 5 --health-interval 1 --staging-dir "$STAGING" "${GW_ARGS[@]}")
BANNED1=("${CHATS[2]}" "${CHATS[5]}")
BANNED2=("${CHATS[3]}" "${CHATS[7]}")
D=$TEST_TMP/data

# mkdata DIR SEED — the objects, under DIR/{one,two}/{a,r}/ (first or second half; aws or
# rclone), names carrying their sizes. Sizes from Python's generator seeded with SEED, bytes
# from one AES-CTR keystream keyed by it (one openssl process: hundreds of pipelines are slow
# on a loaded machine). Prints the counts and the volume.
mkdata() {
    "$PY" - "$1" "$2" <<'PY'
import hashlib, math, os, random, subprocess, sys
d, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
MiB = 1 << 20
def logu(lo, hi):
    return int(math.exp(rnd.uniform(math.log(lo), math.log(hi))))
sizes = [0] * 6 + [logu(1, 64 << 10) for _ in range(171)] + [logu(64 << 10, MiB) for _ in range(80)]
sizes += [logu(MiB, 16 * MiB) for _ in range(40)]
rnd.shuffle(sizes)
objs = [("o%03d-%d" % (i, n), n) for i, n in enumerate(sizes)]
packed = [("p/p%04d-%d" % (i, n), n) for i, n in enumerate(logu(16, 32 << 10) for _ in range(1000))]
# The big ones: uploaded before the bans through aws; during them through aws and rclone.
big = {"one/a": ("big-50M", 50 * MiB + rnd.randrange(MiB)), "two/a": ("big-200M", 200 * MiB + rnd.randrange(MiB)),
       "two/r": ("big-80M", 80 * MiB + rnd.randrange(MiB))}
dirs = ["one/a", "one/r", "two/a", "two/r"]
plan = {x: [] for x in dirs}
for i, o in enumerate(objs):
    plan[dirs[i % 4]].append(o)
for i, o in enumerate(packed):
    plan[dirs[i % 4]].append(o)
for x, o in big.items():
    plan[x].append(o)
key = hashlib.sha256(b"tgs3 scale %d" % seed).hexdigest()[:32]
ks = subprocess.Popen(["openssl", "enc", "-aes-128-ctr", "-K", key, "-iv", "0" * 32, "-nosalt"],
                      stdin=open("/dev/zero", "rb"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
total = n = 0
for x in dirs:
    for name, size in plan[x]:
        path = os.path.join(d, x, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                b = ks.stdout.read(min(left, 4 * MiB))
                f.write(b)
                left -= len(b)
        total += size
        n += 1
ks.kill()
print("%d objects (%d of them packed, %d over 8 MiB: multipart), %.1f MiB" %
      (n, len(packed), sum(1 for x in plan.values() for _, s in x if s >= 8 * MiB), total / MiB))
PY
}

cat >>"$AWS_CONFIG_FILE" <<CONF
s3 =
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
CONF
# up_aws SET / up_rclone SET — one client's share of a half.
up_aws() { aws s3 cp --recursive --only-show-errors "$D/$1/a" "s3://scale/$1/a/"; }
up_rclone() {
    rclone copy --no-check-dest --s3-no-check-bucket --s3-upload-cutoff 8M --s3-chunk-size 8M --transfers 4 \
        "$D/$1/r" "tgs3:scale/$1/r"
}

# retried NAME CMD... — CMD ran in the background with its output in $TEST_TMP/NAME.out and
# its status in $TEST_TMP/NAME.rc: a failure is shown and CMD runs again, up to twice more.
RETRIES=0
retried() {
    local name=$1 try=1
    shift
    while [ "$(cat "$TEST_TMP/$name.rc")" != 0 ]; do
        [ $try -ge 3 ] && return 1
        say "$name failed (status $(cat "$TEST_TMP/$name.rc")), trying again; it said:"
        tail -n 5 "$TEST_TMP/$name.out" | sed 's/^/#   /'
        RETRIES=$((RETRIES + 1))
        try=$((try + 1))
        "$@" >"$TEST_TMP/$name.out" 2>&1
        echo $? >"$TEST_TMP/$name.rc"
    done
}
# bg NAME CMD... — CMD in the background, as retried expects it; wait_bg NAME... waits for them
# (never a bare wait: the daemons are children of this shell too).
declare -A BG_PIDS
bg() {
    local name=$1
    shift
    rm -f "$TEST_TMP/$name.rc"
    ("$@" >"$TEST_TMP/$name.out" 2>&1; echo $? >"$TEST_TMP/$name.rc") &
    BG_PIDS[$name]=$!
}
wait_bg() { for n in "$@"; do wait "${BG_PIDS[$n]}"; done; }

# answers — the statuses the gateway answered with so far, counted.
answers() { grep -oE 'access [^ ]+ [A-Za-z]+ [0-9]{3} ' "$LOG_DIR/gateway.log" | awk '{print $3 " " $4}' | sort | uniq -c | tr -s ' \n' ' '; }
# bad_answers — answers other than 2xx and 503 SlowDown, apart from rclone asking whether its
# destination is an object before it lists it (HEAD, 404).
bad_answers() {
    grep -E 'access [^ ]+ [A-Za-z]+ [0-9]{3} ' "$LOG_DIR/gateway.log" | grep -vE 'access [^ ]+ [A-Za-z]+ (2[0-9][0-9]|503) ' |
        grep -vE 'access [^ ]+ HeadObject 404 .* HEAD /scale/(one|two)/r$'
}
# reads_back DIR PREFIX — everything under s3://scale/PREFIX read into a new directory: identical to DIR.
reads_back() {
    local to
    to=$(mktemp -d "$TEST_TMP/back.XXXXXX")
    aws s3 cp --recursive --only-show-errors "s3://scale/$2" "$to" && diff -r "$1" "$to"
    local rc=$?
    rm -rf "$to"
    return $rc
}

# reader — reads the first half back (aws, then rclone check --download, in turn) until
# $TEST_TMP/uploaded appears, then once more; stops at the first difference or error.
reader() {
    local pass=0 t0
    while :; do
        local last=0
        [ -e "$TEST_TMP/uploaded" ] && last=1
        pass=$((pass + 1))
        t0=$(date +%s.%N)
        if [ $((pass % 2)) = 1 ]; then
            reads_back "$D/one" one/ || { echo "pass $pass (aws): not identical"; return 1; }
        else
            rclone check --download --one-way "$D/one/r" tgs3:scale/one/r || { echo "pass $pass (rclone): not identical"; return 1; }
        fi
        echo "pass $pass from $t0 to $(date +%s.%N)"
        [ $last = 1 ] && return 0
    done
}

# ---- the index ----
# not_whole CHAT... — stripes without exactly K + M shards in K + M different chats, none of them one of CHAT.
not_whole() {
    index "SELECT COUNT(*) FROM stripes p WHERE (SELECT COUNT(*) FROM shards s WHERE s.block_id = p.block_id) != p.k + p.m
        OR (SELECT COUNT(DISTINCT chat_id) FROM shards s WHERE s.block_id = p.block_id) != p.k + p.m
        OR EXISTS(SELECT 1 FROM shards s WHERE s.block_id = p.block_id AND s.chat_id IN ($(IFS=,; echo "$*")))"
}
unstriped() { index "SELECT COUNT(*) FROM blocks b WHERE NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id)"; }
in_chats() { index "SELECT COUNT(*) FROM shards WHERE chat_id IN ($(IFS=,; echo "$*"))"; }

section "seed $SEED (TGS3_SEED=$SEED repeats this run)"
out=$(mkdata "$D" "$SEED")
n_files=$(find "$D" -type f | wc -l)
check "generate the objects: $out" test "$n_files" = 1300

section "8 channels x 3 bots, default redundancy, packing on, cache off"
start_emulator --local "${EMU_CHATS[@]}"
start_gateway "${SERVE_ARGS[@]}"
check "the layout is 4 data + 2 parity" test "$(metric 'tgs3_redundancy_shards{kind="data"}') $(metric 'tgs3_redundancy_shards{kind="parity"}')" = "4 2"
check "create the bucket" aws s3 mb s3://scale

section "the first half: aws and rclone at once"
bg up1a up_aws one
bg up1r up_rclone one
wait_bg up1a up1r
check "aws uploads its share of the first half" retried up1a up_aws one
check "rclone uploads its share of the first half" retried up1r up_rclone one

section "the second half uploaded while the first is read; channels ${BANNED1[*]} banned meanwhile"
n_two=$(find "$D/two" -type f | wc -l)
bg reader reader
bg up2a up_aws two
bg up2r up_rclone two
# The bans come once the big multipart uploads are under way (6 parts of 8 MiB stored), or a
# third of the half is stored (they were quick).
begun() {
    [ "$(index "SELECT COUNT(*) FROM parts p JOIN uploads u ON u.id = p.upload_id WHERE u.key LIKE 'two/%'")" -ge 6 ] ||
        [ "$(index "SELECT COUNT(*) FROM objects WHERE key LIKE 'two/%'")" -ge $((n_two / 3)) ]
}
check "the big uploads of the second half are under way" wait_until 600 begun
section "banning ${BANNED1[*]}"
t_ban=$(date +%s.%N)
check "ban channel ${BANNED1[0]}" emu_post "ban?chat=${BANNED1[0]}"
sleep 1
check "ban channel ${BANNED1[1]}" emu_post "ban?chat=${BANNED1[1]}"
before_ban=$(index "SELECT COUNT(*) FROM objects WHERE key LIKE 'two/%'")
# The uploads end; the reader makes one more pass after that.
while [ ! -e "$TEST_TMP/up2a.rc" ] || [ ! -e "$TEST_TMP/up2r.rc" ]; do sleep 1; done
section "uploads done ($before_ban of the $n_two of the second half were stored when the bans began)"
touch "$TEST_TMP/uploaded"
wait_bg up2a up2r reader
check "aws uploads its share of the second half" retried up2a up_aws two
check "rclone uploads its share of the second half" retried up2r up_rclone two
check "the reader read the first half back identical all along ($(grep -c '^pass' "$TEST_TMP/reader.out") passes)" \
    bash -c "cat '$TEST_TMP/reader.out'; [ \"\$(cat '$TEST_TMP/reader.rc')\" = 0 ]"
# overlapped — a pass of the reader ran while the channels were banned.
overlapped() { awk -v t="$t_ban" '$1 == "pass" && $4 < t + 1 && $6 > t {n++} END {exit !n}' "$TEST_TMP/reader.out"; }
check "a pass of the reader ran across the bans" overlapped
say "uploads retried after a failure: $RETRIES"
say "answers so far: $(answers)"
check "every answer to the clients was 2xx or 503 SlowDown" test -z "$(bad_answers)"
check "the bucket lists all $n_files objects" test "$(aws s3 ls --recursive s3://scale/ | wc -l)" = "$n_files"

section "the second half read back (the reader's last pass read the first after the uploads)"
check "aws reads the $n_two of the second half back identical" reads_back "$D/two" two/
check "every shard was posted by file:// (none in a request body)" test "$(grep -c 'cannot stage' "$LOG_DIR/gateway.log")" = 0

section "repair: every stripe whole again, in live channels"
unposted() { index "SELECT COUNT(*) FROM blocks WHERE chat_id = 0"; }
repaired() {
    local nw ib up q
    nw=$(not_whole "${BANNED1[@]}") ib=$(in_chats "${BANNED1[@]}") up=$(unposted) q=$(index "SELECT COUNT(*) FROM repairs")
    [ "$nw $ib $up $q" = "0 0 0 0" ] && return 0
    echo "$nw stripes not whole in live channels, $ib shards in banned channels, $up packs unposted, $q shards queued for repair"
    return 1
}
check "repair leaves no shard in the banned channels, every stripe whole" wait_until 600 repaired
check "/metrics: the two channels lost, no stripe degraded" \
    test "$(metric 'tgs3_chats{state="lost"}') $(metric 'tgs3_stripes{state="degraded"}')" = "2 0"
check "every block is a stripe of 4 + 2" test "$(unstriped) $(index "SELECT COUNT(*) FROM stripes WHERE k != 4 OR m != 2")" = "0 0"
stripes=$(index "SELECT COUNT(*) FROM stripes")
packs=$(index "SELECT COUNT(DISTINCT e.block_id) FROM extents e JOIN objects o ON o.id = e.object_id WHERE o.key LIKE '%/p/%'")
section "$stripes stripes ($packs of them packs), $(metric tgs3_repaired_shards_total) shards rebuilt"
check "the 1000 small objects went into packs" test "$packs" -lt 200
check "every answer to the clients was still 2xx or 503 SlowDown" test -z "$(bad_answers)"
stop_gateway
fsck() {
    "$BUILD/tgs3" fsck --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" --chat-id "$CHAT_ID" \
        "${GW_ARGS[@]}" --mode local
}
fsck_clean() {
    fsck >"$TEST_TMP/fsck.out" 2>&1
    local rc=$?
    tail -n 3 "$TEST_TMP/fsck.out"
    [ $rc = 0 ] && grep -q '; clean$' "$TEST_TMP/fsck.out"
}
check "tgs3 fsck: clean" fsck_clean

section "two more channels banned: ${BANNED2[*]}"
check "ban channel ${BANNED2[0]}" emu_post "ban?chat=${BANNED2[0]}"
check "ban channel ${BANNED2[1]}" emu_post "ban?chat=${BANNED2[1]}"
start_gateway "${SERVE_ARGS[@]}"
check "after a restart, aws reads all $n_files back identical from the 4 channels left" reads_back "$D" ""
check "rclone check --download: the rclone shares identical too" rclone check --download --one-way "$D/two/r" tgs3:scale/two/r
say "answers: $(answers)"
check "every answer to the clients was 2xx or 503 SlowDown" test -z "$(bad_answers)"
rm -rf "$D"
section "done"
finish

#!/usr/bin/env bash
# test_faults.sh — 300 objects through aws and rclone while Telegram misbehaves.
#
# The emulator answers 20% of calls with 429, 5% with 500, closes 2% of connections before
# the method runs, loses the answer of 1% of its posts (the document is posted, no answer
# comes) and fails 5% of getFile calls as the real server does while its download fails; its rate limits are off, so the test is about faults. 2 bots x 2 chats, 256 KiB
# blocks: most objects are small (the smallest packed together), some span several blocks, a
# few go up as multipart uploads. Checks: both clients exit 0 and only ever got 2xx or 503 SlowDown;
# every object reads back byte-identical; the faults really happened; the orphans of lost
# answers were recognised by their captions and deleted; after GC the emulator holds exactly
# the blocks the index names and tgs3 fsck finds nothing missing.
set -u
. "$(dirname "$0")/lib.sh"

CHAT2=-1001000000002
TOKEN2=223456789:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
SEED=${TGS3_FAULT_SEED:-20260}
section() { say "[${SECONDS}s] $*"; }
stat() { emu_stats | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# mkset DIR N_SMALL N_MULTIBLOCK N_MULTIPART — objects of mixed sizes (sizes fixed, bytes random),
# written by one process: hundreds of small pipelines are slow on a loaded machine.
mkset() {
    "$PY" - "$@" <<'PY'
import os, sys
d, ns, nb, nm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sets = [("small", "s", ns, lambda i: (i * 7919) % 200000 + 1),
        ("blocks", "b", nb, lambda i: (i * 104729) % 2500000 + 1100000),
        ("parts", "p", nm, lambda i: 6 * 1048576 + i * 777777)]
for sub, prefix, n, size in sets:
    os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i in range(1, n + 1):
        with open(os.path.join(d, sub, "%s%d" % (prefix, i)), "wb") as f:
            f.write(os.urandom(size(i)))
PY
}

section "emulator: 20% 429, 5% 5xx, 2% dropped connections, 1% lost answers, 5% getFile failures (seed $SEED)"
FAULTS=(--fail-429 0.2 --fail-5xx 0.05 --fail-drop 0.02 --fail-lost 0.01 --fail-getfile 0.05 --seed "$SEED")
start_emulator --local --chat "$CHAT2" "${FAULTS[@]}"
# 256 KiB blocks and packing only below 64 KiB: about 700 posts, so 1% of them is several.
start_gateway --admin-listen "127.0.0.1:$(free_port)" --block-size 256K --pack-threshold 64K --bot-token "$TOKEN2" \
    --chat-id "$CHAT2" --max-upload-blocks 16 --gc-grace 0 --gc-interval 2

mkset "$TEST_TMP/aws" 170 25 5    # 200 objects through aws
mkset "$TEST_TMP/rclone" 90 8 2   # 100 through rclone
cat >>"$AWS_CONFIG_FILE" <<CONF
s3 =
  multipart_threshold = 5MB
  multipart_chunksize = 5MB
CONF

section "upload"
check "create the bucket" aws s3 mb s3://faults
check "aws uploads 200 objects (5 of them multipart)" aws s3 cp --recursive --only-show-errors "$TEST_TMP/aws" s3://faults/aws/
check "rclone uploads 100 objects (2 of them multipart)" rclone copy --no-check-dest --s3-no-check-bucket --transfers 8 \
    --s3-upload-cutoff 5M --s3-chunk-size 5M "$TEST_TMP/rclone" tgs3:faults/rclone
check "the bucket lists all 300" test "$(aws s3 ls --recursive s3://faults/ | wc -l)" = 300

section "read back"
check "aws reads its 200 back byte-identical" bash -c 'aws s3 cp --recursive --only-show-errors s3://faults/aws/ "$TEST_TMP/aws.back" && diff -r "$TEST_TMP/aws" "$TEST_TMP/aws.back"'
check "rclone check --download: its 100 byte-identical" rclone check --download --one-way "$TEST_TMP/rclone" tgs3:faults/rclone

# Clients saw 2xx or 503 SlowDown only (the gateway's access log has every answer), apart from
# rclone asking whether its destination is an object before it lists it (HEAD, 404).
others() {
    grep -E 'access [^ ]+ [A-Za-z]+ [0-9]{3} ' "$LOG_DIR/gateway.log" | grep -vE 'access [^ ]+ [A-Za-z]+ (2[0-9][0-9]|503) ' |
        grep -vE 'access [^ ]+ HeadObject 404 .* HEAD /faults/rclone$'
}
check "every answer to the clients was 2xx or 503 SlowDown" test -z "$(others)"
section "answers: $(grep -oE 'access [^ ]+ [A-Za-z]+ [0-9]{3} ' "$LOG_DIR/gateway.log" | awk '{print $4}' | sort | uniq -c | tr '\n' ' ')"

section "emulator faults: $(stat 'd["faults"]')"
check "429s were injected" test "$(stat 'd["faults"]["429"]')" -gt 0
check "5xx were injected" test "$(stat 'd["faults"]["5xx"]')" -gt 0
check "connections were dropped" test "$(stat 'd["faults"]["dropped"]')" -gt 0
check "answers were lost" test "$(stat 'd["faults"]["lost"]')" -gt 0
check "getFile failed for a while" test "$(stat 'd["faults"]["getfile"]')" -gt 0
# one reading of the emulator's statistics: posts still going on (journal, GC) may add a 429 between two
check "each 429 is counted per (bot, chat)" test "$(stat 'sum(p["injected_429"] for p in d["pairs"]) == d["faults"]["429"]')" = True

lost=$(stat 'd["faults"]["lost"]')
found=$(grep -oE "chat -?[0-9]+: message [0-9]+ is an orphan of a lost answer" "$LOG_DIR/gateway.log" | sort -u | wc -l)
section "$lost lost answers, $found orphans found by caption"
check "every lost answer's orphan was found by its caption" test "$found" = "$lost"
stop_gateway

# GC and fsck against the same state, faults off: what remains is what the index names.
stop_emulator
start_emulator --local --chat "$CHAT2"
gc_all() {
    "$BUILD/tgs3" gc --all --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --bot-token "$TOKEN2" --chat-id "$CHAT_ID" --chat-id "$CHAT2"
}
check "tgs3 gc --all runs the delete queue" gc_all
msgs=$(stat 'sum(c["messages"] for c in d["chats"].values())')
# A block is one document, or (2 chats: mirrored, 1 + 1) one document per shard of its stripe.
blocks=$(index "SELECT (SELECT COUNT(*) FROM blocks b WHERE NOT EXISTS(SELECT 1 FROM stripes p WHERE p.block_id = b.id))
                     + (SELECT COUNT(*) FROM shards)")
section "after GC: the emulator holds $msgs documents, the index names $blocks"
check "no orphan and no missing document: documents = blocks' documents and shards" test "$msgs" = "$blocks"
check "every stripe is whole, its shards in different chats" test "$(index "SELECT COUNT(*) FROM stripes p WHERE
    (SELECT COUNT(DISTINCT chat_id) FROM shards s WHERE s.block_id = p.block_id) != p.k + p.m")" = 0
fsck() {
    "$BUILD/tgs3" fsck --data-dir "$GW_DIR" --botapi-url "$EMU_URL" --bot-token "$BOT_TOKEN" \
        --bot-token "$TOKEN2" --chat-id "$CHAT_ID" --chat-id "$CHAT2" --mode local
}
check "tgs3 fsck: every referenced block is there and intact" fsck
finish

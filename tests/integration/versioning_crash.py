#!/usr/bin/python3
"""versioning_crash.py — the writer and the checker of test_versioning_crash.sh (kill -9 of the gateway
during versioned writes and deletes).

Usage: versioning_crash.py writer BUCKET LOG SEED THREADS | check BUCKET LOG ROUND. The writer logs each
op before it is sent (intent) and after its answer (ack / err) in LOG (JSON lines), until the gateway is
gone. The checker compares the listing with what the previous round verified (TEST_TMP/crash-base.json)
and this round's log, and writes the new base. Environment as for versioning.py.
"""
import hashlib
import json
import os
import random
import sys
import threading
import traceback

from botocore.exceptions import ClientError

sys.dont_write_bytecode = True  # no __pycache__ left in the tree by the import below
from versioning import FAILED, TMP, keep, list_all, ok, raw, rnd, s3  # noqa: E402


def crash_writer(bucket, log, seed, nthreads):
    """Versioned writes and deletes until the gateway dies; each op is logged before it is sent
    (intent) and after its answer (ack), flushed, so a kill leaves the in-flight ops marked."""
    fh = open(log, "a", buffering=1)
    lk = threading.Lock()
    r0 = random.Random(int(seed))
    bp = os.path.join(TMP, "crash-base.json")
    base = json.load(open(bp)) if os.path.exists(bp) else {}

    def rec(**kw):
        with lk:
            fh.write(json.dumps(kw) + "\n")
            fh.flush()

    def worker(t, seed):
        r = random.Random(seed)
        keys = ["c%d/k%02d" % (t, i) for i in range(6)]
        mine = {k: list(base.get(k, [])) for k in keys}  # versions and markers known to exist
        n = 0
        while True:
            n += 1
            k = r.choice(keys)
            op = r.choices(["put", "del", "vdel", "copy"], [5, 2, 2, 1])[0]
            if len(mine[k]) > 6 and r.random() < 0.7:
                op = "vdel"  # keeps each key's stack short, so the checks stay quick
            if op == "copy" and not [x for x in mine[k] if not x["m"]]:
                op = "put"
            if op == "vdel" and not mine[k]:
                op = "put"
            opid = "%s-%d-%d-%d" % (seed, t, n, r.randint(0, 1 << 30))
            try:
                if op == "put":
                    size = r.choice([0] + [r.randint(1, 3000)] * 6 + [r.randint(300000, 700000)])
                    d = ("%s\n" % opid).encode() + rnd(size)
                    h = keep(d)
                    rec(t="intent", op="put", k=k, id=opid, h=h, n=len(d))
                    res = s3.put_object(Bucket=bucket, Key=k, Body=d)
                    rec(t="ack", op="put", k=k, id=opid, v=res.get("VersionId"), h=h, n=len(d))
                    if res.get("VersionId"):
                        mine[k].append({"v": res["VersionId"], "h": h, "m": 0})
                elif op == "copy":
                    src = r.choice([x for x in mine[k] if not x["m"]])
                    rec(t="intent", op="copy", k=k, id=opid, src=src["v"], h=src["h"])
                    res = s3.copy_object(Bucket=bucket, Key=k, CopySource={"Bucket": bucket, "Key": k, "VersionId": src["v"]})
                    rec(t="ack", op="copy", k=k, id=opid, v=res.get("VersionId"), h=src["h"])
                    if res.get("VersionId"):
                        mine[k].append({"v": res["VersionId"], "h": src["h"], "m": 0})
                elif op == "del":
                    rec(t="intent", op="del", k=k, id=opid)
                    res = s3.delete_object(Bucket=bucket, Key=k)
                    rec(t="ack", op="del", k=k, id=opid, v=res.get("VersionId"), dm=bool(res.get("DeleteMarker")))
                    if res.get("VersionId"):
                        mine[k].append({"v": res["VersionId"], "m": 1})
                else:
                    v = r.choice(mine[k])
                    rec(t="intent", op="vdel", k=k, id=opid, v=v["v"])
                    s3.delete_object(Bucket=bucket, Key=k, VersionId=v["v"])
                    rec(t="ack", op="vdel", k=k, id=opid, v=v["v"])
                    mine[k].remove(v)
            except ClientError as e:
                # an answer: the op did not happen (a copy/vdel of a version gone is still an error to note)
                rec(t="err", op=op, k=k, id=opid, code=e.response["Error"].get("Code"),
                    status=e.response["ResponseMetadata"]["HTTPStatusCode"])
                if e.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
                    return
                if op == "vdel":
                    mine[k].remove(v)
            except Exception:  # noqa: BLE001 — the gateway is gone: stop, the op stays in flight
                return

    ths = [threading.Thread(target=worker, args=(t, r0.random())) for t in range(int(nthreads))]
    for th in ths:
        th.start()
    for th in ths:
        th.join()


def crash_check(bucket, log, rnd_no):
    """After a kill: the listing against the base (what the previous round verified) and this log."""
    basep = os.path.join(TMP, "crash-base.json")
    base = json.load(open(basep)) if os.path.exists(basep) else {}
    recs = [json.loads(x) for x in open(log) if x.strip()]
    acked = {x["id"]: x for x in recs if x["t"] == "ack"}
    errd = {x["id"] for x in recs if x["t"] == "err"}
    inflight = [x for x in recs if x["t"] == "intent" and x["id"] not in acked and x["id"] not in errd]
    listed = list_all(bucket, prefix="c")
    bykey = {}
    for e in listed:
        bykey.setdefault(e["k"], []).append(e)
    bad = []
    # expected presence
    must = {}  # (key, vid) -> sha or None for a marker
    gone = set()
    for k, vs in base.items():
        for v in vs:
            must[(k, v["v"])] = v.get("h")
    for x in recs:
        if x["t"] != "ack":
            continue
        if x["op"] in ("put", "copy"):
            must[(x["k"], x["v"])] = x["h"]
        elif x["op"] == "del":
            must[(x["k"], x["v"])] = None
        elif x["op"] == "vdel":
            gone.add((x["k"], x["v"]))
    maybe_gone = {(x["k"], x["v"]) for x in inflight if x["op"] == "vdel"}
    listed_ids = {(e["k"], e["v"]): e for e in listed}
    for kv, h in must.items():
        if kv in gone or kv in maybe_gone:
            continue
        if kv not in listed_ids:
            bad.append("acknowledged version %s %s is not listed" % kv)
    for kv in gone:
        if kv in listed_ids:
            bad.append("version %s %s, deleted (acknowledged), is still listed" % kv)
        elif kv[1]:
            st = raw("HEAD", "/%s/%s" % (bucket, kv[0]), [("versionId", kv[1])])[0]
            if st != 404:
                bad.append("version %s %s, deleted (acknowledged) and not listed, answers HEAD %d" % (kv[0], kv[1], st))
    # every listed version reads (or is a marker: 405), with bytes some write of this key sent
    shas = {}
    for x in recs:
        if x.get("h"):
            shas.setdefault(x["k"], set()).add(x["h"])
    for k, vs in base.items():
        for v in vs:
            if v.get("h"):
                shas.setdefault(k, set()).add(v["h"])
    unknown_markers = {}
    for e in listed:
        kv = (e["k"], e["v"])
        st, hd, data = raw("GET", "/%s/%s" % (bucket, e["k"]), [("versionId", e["v"])])
        if e["m"]:
            if st != 405:
                bad.append("listed marker %s %s: GET answered %d" % (e["k"], e["v"], st))
            if kv not in must:
                unknown_markers[e["k"]] = unknown_markers.get(e["k"], 0) + 1
            continue
        if st != 200:
            bad.append("listed version %s %s does not read: %d %s" % (e["k"], e["v"], st, data[:200]))
            continue
        h = hashlib.sha256(data).hexdigest()
        if kv in must and must[kv] != h:
            bad.append("acknowledged version %s %s reads %d bytes that differ" % (e["k"], e["v"], len(data)))
        elif h not in shas.get(e["k"], ()):
            bad.append("listed version %s %s has bytes no write of this key sent" % kv)
        if e["n"] != str(len(data)):
            bad.append("listed version %s %s: Size %s, %d bytes read" % (e["k"], e["v"], e["n"], len(data)))
    for k, n in unknown_markers.items():
        if n > sum(1 for x in inflight if x["k"] == k and x["op"] == "del"):
            bad.append("%s: %d delete markers nobody asked for" % (k, n))
    # versions deleted while in flight: listed and readable, or neither
    for kv in maybe_gone:
        if kv in listed_ids or not kv[1]:
            continue
        st, _, _ = raw("HEAD", "/%s/%s" % (bucket, kv[0]), [("versionId", kv[1])])
        if st not in (404,):
            bad.append("version %s %s is not listed but HEAD answers %d" % (kv[0], kv[1], st))
    # exactly one IsLatest per key; it is the last acknowledged write when nothing was in flight on the key
    for k, es in bykey.items():
        lat = [e for e in es if e["L"] == "true"]
        if len(lat) != 1 or es[0]["L"] != "true":
            bad.append("%s: %d entries IsLatest (must be exactly the first)" % (k, len(lat)))
    last = {}
    for x in recs:
        if x["t"] in ("ack", "intent"):
            last[x["k"]] = x
    for k, x in last.items():
        if x["t"] == "ack" and x["op"] in ("put", "copy", "del") and k in bykey:
            if bykey[k][0]["v"] != x["v"]:
                bad.append("%s: the latest is %s, the last acknowledged write made %s" % (k, bykey[k][0]["v"], x["v"]))
    acks = sum(1 for x in recs if x["t"] == "ack")
    if acks < 3:
        bad.append("only %d ops acknowledged before the kill (a writer that cannot write tests nothing)" % acks)
    if any(x["t"] == "ack" and x["op"] in ("put", "copy", "del") and not x.get("v") for x in recs):
        bad.append("a versioned write was answered without x-amz-version-id")
    print("# round %s: %d ops acknowledged, %d in flight at the kill, %d versions listed"
          % (rnd_no, acks, len(inflight), len(listed)))
    ok(not bad, "round %s: every acknowledged version listed and byte-identical, nothing half-visible, one "
       "IsLatest per key" % rnd_no, "\n".join(bad[:10]))
    # what was verified is the next round's base
    nb = {}
    for e in listed:
        nb.setdefault(e["k"], []).append({"v": e["v"], "m": e["m"],
                                          "h": None if e["m"] else must.get((e["k"], e["v"]))})
    for k, vs in nb.items():
        for v in vs:
            if not v["m"] and v["h"] is None:
                d = raw("GET", "/%s/%s" % (bucket, k), [("versionId", v["v"])])[2]
                v["h"] = keep(d)
    json.dump(nb, open(basep, "w"))
    os.replace(log, log + ".%s" % rnd_no)


if __name__ == "__main__":
    fn = {"writer": crash_writer, "check": crash_check}[sys.argv[1]]
    try:
        fn(*sys.argv[2:])
    except Exception:  # noqa: BLE001
        ok(False, "versioning_crash.py %s ran to its end" % sys.argv[1], traceback.format_exc()[-3000:])
    sys.exit(1 if FAILED[0] else 0)

#!/usr/bin/python3
"""versioning.py — S3 versioning against a model: every version's bytes and id, kept in a JSON file.

Usage: versioning.py PHASE [ARGS]; run by test_versioning.sh and test_versioning_crash.sh with S3_URL,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, TEST_TMP and RCLONE_CONF in the environment. Each phase
prints "ok - NAME" / "not ok - NAME" lines (with what was seen) and exits 1 when one failed.

The model (TEST_TMP/model.json): key -> its versions, newest first, each {v: id, m: 1 if a delete
marker, h: sha256 of the bytes, n: size, e: ETag}. The bytes themselves are kept in TEST_TMP/vdata/<sha>.
The expected listing is the model's keys in byte order, each key's versions newest first, the first
IsLatest (AWS: ListObjectVersions, "Working with delete markers", "versioning-suspended buckets").
"""
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

URL = os.environ["S3_URL"]
U = urllib.parse.urlparse(URL)
AK, SK = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
TMP = os.environ["TEST_TMP"]
MODEL = os.path.join(TMP, "model.json")
DATA = os.path.join(TMP, "vdata")
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
s3 = boto3.client("s3", endpoint_url=URL, aws_access_key_id=AK, aws_secret_access_key=SK, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                signature_version="s3v4", max_pool_connections=16, read_timeout=120))
FAILED = [0]
os.makedirs(DATA, exist_ok=True)


def ok(cond, name, detail=""):
    if cond:
        print("ok - " + name, flush=True)
    else:
        FAILED[0] += 1
        print("not ok - " + name, flush=True)
        for line in str(detail).splitlines()[:30]:
            print("#   " + line, flush=True)
    return cond


# ---- the model ---------------------------------------------------------------------------

def load():
    with open(MODEL) as f:
        return json.load(f)


def save(m):
    with open(MODEL + ".tmp", "w") as f:
        json.dump(m, f)
    os.replace(MODEL + ".tmp", MODEL)


def keep(data):
    h = hashlib.sha256(data).hexdigest()
    p = os.path.join(DATA, h)
    if not os.path.exists(p):
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.replace(p + ".tmp", p)
    return h


def blob(h):
    with open(os.path.join(DATA, h), "rb") as f:
        return f.read()


def rnd(n):
    return os.urandom(n)


def size_pick(r):
    x = r.random()
    if x < 0.10:
        return 0
    if x < 0.70:
        return r.randint(1, 4000)
    if x < 0.95:
        return r.randint(20000, 200000)
    return r.randint(1100000, 2300000)  # more than a 1 MiB block: two or three blocks


def push(m, key, v, suspended=False):
    """Records a new current version; in a suspended bucket it replaces the key's null version."""
    st = m.setdefault(key, [])
    if suspended or v["v"] == "null":
        st[:] = [x for x in st if x["v"] != "null"]
    st.insert(0, v)


# ---- raw signed requests (headers and the XML's order are what is asserted) --------------

def raw(method, path, query=(), body=b"", headers=None):
    qs = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                  for k, v in query)
    rel = urllib.parse.quote(path, safe="/-_.~") + ("?" + qs if qs else "")
    req = AWSRequest(method=method, url=URL + rel, data=body, headers=dict(headers or {}))
    req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=120)
    c.request(method, rel, body=body, headers=dict(req.headers.items()))
    r = c.getresponse()
    data = r.read()
    hd = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hd, data


def err_code(data):
    try:
        return ET.fromstring(data).findtext("Code")
    except ET.ParseError:
        return None


def list_raw(bucket, **params):
    """One ListObjectVersions page: (entries in document order, the page's fields)."""
    q = [("versions", "")] + [(k.replace("_", "-"), str(v)) for k, v in params.items()]
    st, hd, data = raw("GET", "/" + bucket, q)
    if st != 200:
        raise AssertionError("ListObjectVersions %s: %d %s" % (params, st, data[:300]))
    root = ET.fromstring(data)
    out = []
    for el in root:
        tag = el.tag.replace(NS, "")
        if tag in ("Version", "DeleteMarker"):
            out.append({"k": el.findtext(NS + "Key"), "v": el.findtext(NS + "VersionId"),
                        "m": 1 if tag == "DeleteMarker" else 0, "L": el.findtext(NS + "IsLatest"),
                        "e": el.findtext(NS + "ETag"), "n": el.findtext(NS + "Size"),
                        "t": el.findtext(NS + "LastModified")})
        elif tag == "CommonPrefixes":
            out.append({"p": el.findtext(NS + "Prefix")})
    page = {t: root.findtext(NS + t) for t in ("IsTruncated", "NextKeyMarker", "NextVersionIdMarker", "KeyMarker",
                                                 "VersionIdMarker", "MaxKeys", "Prefix", "Delimiter", "Name")}
    return out, page


def merged(es):
    """A page in listing order: S3 writes CommonPrefixes after the versions; a prefix sorts where its keys
    would (before every key it rolls up)."""
    vs = [e for e in es if "p" not in e]
    cps = [e for e in es if "p" in e]
    out = []
    while vs or cps:
        if cps and (not vs or cps[0]["p"].encode() <= vs[0]["k"].encode()):
            out.append(cps.pop(0))
        else:
            out.append(vs.pop(0))
    return out


def expected(m, prefix="", delimiter=""):
    """The model's listing: versions in order, common prefixes once where their first key sorts."""
    out, seen = [], set()
    for k in sorted(m, key=lambda s: s.encode()):
        if not k.startswith(prefix) or not m[k]:
            continue
        rest = k[len(prefix):]
        if delimiter and delimiter in rest:
            p = prefix + rest[:rest.index(delimiter) + len(delimiter)]
            if p not in seen:
                seen.add(p)
                out.append({"p": p})
            continue
        for i, v in enumerate(m[k]):
            out.append({"k": k, "v": v["v"], "m": v["m"], "L": "true" if i == 0 else "false",
                        "e": None if v["m"] else v["e"], "n": None if v["m"] else str(v["n"])})
    return out


def strip(e):
    return ("CommonPrefix", e["p"]) if "p" in e else (e["k"], e["v"], e["m"], e["L"], e["e"], e["n"])


def list_all(bucket, prefix=""):
    """Every entry under prefix, through pages of 1000."""
    out, params = [], {"prefix": prefix, "max_keys": 1000}
    while True:
        es, pg = list_raw(bucket, **params)
        out += es
        if pg["IsTruncated"] != "true":
            return out
        params.update(key_marker=pg["NextKeyMarker"], version_id_marker=pg["NextVersionIdMarker"])


def same(got, want):
    g = [strip(x) for x in got]
    w = [strip(x) for x in want]
    if g == w:
        return True, ""
    lines = ["got %d entries, want %d" % (len(g), len(w))]
    for i in range(max(len(g), len(w))):
        a = g[i] if i < len(g) else None
        b = w[i] if i < len(w) else None
        if a != b:
            lines.append("first difference at %d:\n  got  %s\n  want %s" % (i, a, b))
            break
    return False, "\n".join(lines)


# ---- clients other than boto3 ------------------------------------------------------------

def aws(*args):
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    r = subprocess.run(["/usr/bin/aws", "--endpoint-url", URL, "--output", "json"] + list(args),
                       capture_output=True, env=env, timeout=300)
    if r.returncode != 0:
        raise AssertionError("aws %s: %s" % (" ".join(args), r.stderr.decode()[-600:]))
    out = r.stdout.decode()
    if not out.strip():
        return {}
    return json.loads(out) if out.strip().startswith("{") else out


def rclone(*args):
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    r = subprocess.run(["/usr/bin/rclone", "--config", os.environ["RCLONE_CONF"]] + list(args),
                       capture_output=True, env=env, timeout=300)
    if r.returncode != 0:
        raise AssertionError("rclone %s: %s" % (" ".join(args), r.stderr.decode()[-600:]))
    return r.stdout


def latest(bucket, key):
    """The key's latest entry as listed (used after a client that does not print version ids)."""
    got, _ = list_raw(bucket, prefix=key)
    lat = [e for e in got if e.get("k") == key and e["L"] == "true"]
    if len(lat) != 1:
        raise AssertionError("%s: %d entries with IsLatest true: %s" % (key, len(lat), got))
    return lat[0]


# ---- phases --------------------------------------------------------------------------------

def ph_setup(bucket):
    """The model starts with what the bucket holds before versioning: null versions."""
    m = {}
    for k in ("pre/never-versioned", "pre/also"):
        d = rnd(777)
        r = s3.put_object(Bucket=bucket, Key=k, Body=d)
        ok("x-amz-version-id" not in r["ResponseMetadata"]["HTTPHeaders"],
           "PUT in a bucket never versioned answers no x-amz-version-id (%s)" % k,
           r["ResponseMetadata"]["HTTPHeaders"])
        push(m, k, {"v": "null", "m": 0, "h": keep(d), "n": len(d), "e": r["ETag"]})
    save(m)


def ph_workload(bucket, seed):
    """100 keys, each a random history of PUTs, CopyObjects, deletes (markers) and deletes of a version."""
    m = load()
    r0 = random.Random(int(seed))
    keys = ["a/k%03d" % i for i in range(40)] + ["b/c/k%03d" % i for i in range(25)] + \
        ["b/k%03d" % i for i in range(20)] + ["top%03d" % i for i in range(13)] + ["u/é-1", "u/ z"]
    lock = threading.Lock()
    mk = {k: [] for k in keys}
    errors, soft = [], []
    cli_keys = set(r0.sample(keys, 16))  # a PUT or a delete through the aws CLI
    rc_keys = set(r0.sample(sorted(set(keys) - cli_keys), 8))  # through rclone

    def one(key, seed):
        r = random.Random(seed)
        st = mk[key]
        nput = r.randint(2, 4)
        steps = ["put"] * nput
        if r.random() < 0.3:
            steps.insert(r.randint(1, len(steps)), "del")
        if r.random() < 0.25:
            steps.insert(r.randint(1, len(steps)), "copy")
        if r.random() < 0.2:
            steps.insert(r.randint(2, len(steps)), "vdel")
        if r.random() < 0.25:
            steps.append("del")
        if key in cli_keys:
            steps.append(r.choice(["cliput", "cliput", "clidel"]))
        if key in rc_keys:
            steps.append(r.choice(["rcput", "rcput", "rcdel"]))
        for s in steps:
            if s == "put":
                d = rnd(size_pick(r))
                res = s3.put_object(Bucket=bucket, Key=key, Body=d)
                st.insert(0, {"v": res["VersionId"], "m": 0, "h": keep(d), "n": len(d), "e": res["ETag"]})
            elif s == "del":
                res = s3.delete_object(Bucket=bucket, Key=key)
                if not res.get("DeleteMarker"):
                    soft.append("%s: DELETE answered without x-amz-delete-marker: %s" % (key, res))
                st.insert(0, {"v": res["VersionId"], "m": 1})
            elif s == "copy":
                old = [v for v in st[1:] if not v["m"]]  # AWS: copying an older version onto its key restores it
                if not old:
                    continue
                src = r.choice(old)
                res = s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key,
                                                                          "VersionId": src["v"]})
                if res.get("CopySourceVersionId") != src["v"]:
                    soft.append("%s: x-amz-copy-source-version-id %s, want %s"
                                         % (key, res.get("CopySourceVersionId"), src["v"]))
                st.insert(0, {"v": res["VersionId"], "m": 0, "h": src["h"], "n": src["n"],
                              "e": res["CopyObjectResult"]["ETag"]})
            elif s == "vdel":
                if len(st) < 2:
                    continue
                v = r.choice(st[1:])
                res = s3.delete_object(Bucket=bucket, Key=key, VersionId=v["v"])
                if res.get("VersionId") != v["v"] or bool(res.get("DeleteMarker")) != bool(v["m"]):
                    soft.append("%s: DELETE ?versionId=%s of a %s answered %s" % (
                        key, v["v"], "marker" if v["m"] else "version", res["ResponseMetadata"]["HTTPHeaders"]))
                st.remove(v)
            elif s in ("cliput", "rcput"):
                d = rnd(r.choice([0, r.randint(1, 3000)]))
                f = os.path.join(TMP, "up-%s.bin" % hashlib.md5(key.encode()).hexdigest())
                with open(f, "wb") as fh:
                    fh.write(d)
                if s == "cliput":
                    res = aws("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", f)
                    vid = res["VersionId"]
                else:
                    rclone("copyto", f, "tgs3:%s/%s" % (bucket, key))
                    vid = latest(bucket, key)["v"]
                if any(v["v"] == vid for v in st):
                    raise AssertionError("%s: a PUT through %s reused version id %s" % (key, s, vid))
                st.insert(0, {"v": vid, "m": 0, "h": keep(d), "n": len(d),
                              "e": '"%s"' % hashlib.md5(d).hexdigest()})
            elif s in ("clidel", "rcdel"):
                if st and st[0]["m"]:
                    continue  # rclone and aws s3 rm only delete what exists
                if s == "clidel":
                    res = aws("s3api", "delete-object", "--bucket", bucket, "--key", key)
                    if res.get("DeleteMarker") is not True:
                        raise AssertionError("%s: aws delete-object printed %s" % (key, res))
                    vid = res["VersionId"]
                else:
                    rclone("deletefile", "tgs3:%s/%s" % (bucket, key))
                    e = latest(bucket, key)
                    if not e["m"]:
                        raise AssertionError("%s: after rclone deletefile the latest is no marker: %s" % (key, e))
                    vid = e["v"]
                st.insert(0, {"v": vid, "m": 1})

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futs = {ex.submit(one, k, r0.random()): k for k in keys}
        for f in concurrent.futures.as_completed(futs):
            try:
                f.result()
            except Exception:  # noqa: BLE001
                with lock:
                    errors.append("%s: %s" % (futs[f], traceback.format_exc()[-1200:]))
    ok(not errors, "every PUT/COPY/DELETE of the 100 keys' histories succeeded (%d keys failed)"
       % len(errors), "\n".join(errors[:3]))
    ok(not soft, "their answers carry the headers S3 sends (x-amz-delete-marker, x-amz-version-id, "
       "x-amz-copy-source-version-id): %d wrong" % len(soft), "\n".join(soft[:4]))
    ids = [v["v"] for k in keys for v in mk[k]]
    ok(len(ids) == len(set(ids)), "every version id is new (%d versions)" % len(ids))
    ok(all(len(i) <= 1024 and i != "null" for i in ids), "enabled-era version ids are never 'null'")
    for k in keys:
        if mk[k]:
            m[k] = mk[k]
    save(m)
    print("# model: %d keys, %d versions, %d delete markers" % (len(m), sum(len(v) for v in m.values()),
                                                             sum(x["m"] for v in m.values() for x in v)))


def ph_race(bucket):
    """8 clients at once on one key (PUTs and deletes): every answered version listed once, one IsLatest
    (the first), newest first by LastModified, and a plain GET answers that latest."""
    m = load()
    k = "race/k"
    acked, errs = {}, []
    lk = threading.Lock()

    def one(t):
        r = random.Random(t)
        for i in range(8):
            try:
                if r.random() < 0.25:
                    res = s3.delete_object(Bucket=bucket, Key=k)
                    with lk:
                        acked[res["VersionId"]] = {"v": res["VersionId"], "m": 1}
                else:
                    d = rnd(r.randint(0, 3000))
                    res = s3.put_object(Bucket=bucket, Key=k, Body=d)
                    with lk:
                        acked[res["VersionId"]] = {"v": res["VersionId"], "m": 0, "h": keep(d), "n": len(d),
                                                   "e": res["ETag"]}
            except Exception as e:  # noqa: BLE001
                with lk:
                    errs.append("%d/%d: %s" % (t, i, e))

    ths = [threading.Thread(target=one, args=(t,)) for t in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    es = [e for e in list_all(bucket, k) if e["k"] == k]
    ok(not errs, "64 concurrent PUTs and deletes of one key all answered", "\n".join(errs[:3]))
    ok(sorted(e["v"] for e in es) == sorted(acked) and len(es) == len(acked),
       "every answered version listed exactly once (%d)" % len(acked), "listed %d, answered %d" % (len(es), len(acked)))
    ok([e["L"] for e in es] == ["true"] + ["false"] * (len(es) - 1), "exactly one IsLatest, the first entry",
       [e["L"] for e in es])
    # Overlapping PUTs: the list is in commit order; AWS does not say whether LastModified (the request's
    # time) must agree, so an inversion is reported, not failed (rclone --s3-version-at reads LastModified).
    inv = [(es[i]["v"], es[i]["t"], es[i + 1]["v"], es[i + 1]["t"]) for i in range(len(es) - 1)
           if es[i]["t"] < es[i + 1]["t"]]
    print("# concurrent writes of one key: %d of %d neighbours in the list have LastModified rising (newer entry "
          "older time)%s" % (len(inv), max(len(es) - 1, 0), (": e.g. %s %s above %s %s" % inv[0]) if inv else ""))
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k))
    want = (404, es[0]["v"]) if es and es[0]["m"] else (200, es[0]["v"] if es else None)
    ok((st, hd.get("x-amz-version-id")) == want, "a plain GET answers the listed latest", (st, hd, want))
    m[k] = [acked[e["v"]] for e in es if e["v"] in acked]
    save(m)


def ph_multipart(bucket, path, key):
    """aws s3 cp of a large file (multipart) makes a new version."""
    m = load()
    aws("s3", "cp", "--no-progress", path, "s3://%s/%s" % (bucket, key))
    h = aws("s3api", "head-object", "--bucket", bucket, "--key", key)
    with open(path, "rb") as f:
        d = f.read()
    ok("-" in h["ETag"], "multipart upload of %s has a multipart ETag (%s)" % (key, h["ETag"]))
    ok(h.get("VersionId") not in (None, "null") and all(v["v"] != h["VersionId"] for v in m.get(key, [])),
       "multipart upload of %s made a new version (%s)" % (key, h.get("VersionId")))
    push(m, key, {"v": h["VersionId"], "m": 0, "h": keep(d), "n": len(d), "e": h["ETag"]})
    save(m)


def ph_list(bucket, quick=""):
    """The whole listing, page sizes 1, 7, 1000, prefixes and a delimiter, the boto3 paginator
    (quick: the whole listing, pages of 7 and the prefix/delimiter paging only)."""
    m = load()
    want = expected(m)
    got, page = list_raw(bucket)
    good, why = same(got, want)
    ok(good, "ListObjectVersions: every version and delete marker in order (keys in byte order, newest first; "
       "IsLatest, VersionId, ETag, Size) — %d entries" % len(want), why)
    ok(page["IsTruncated"] == "false" and page["NextKeyMarker"] is None,
       "one page of %d: IsTruncated false, no NextKeyMarker" % len(want), page)
    ok(all(e.get("t") and e["t"].endswith("Z") for e in got), "every entry has a LastModified")

    def paged(mk, prefix="", delimiter="", name=""):
        out, kmark, vmark, n, bad = [], None, None, 0, []
        while True:
            params = {"max_keys": mk}
            if prefix:
                params["prefix"] = prefix
            if delimiter:
                params["delimiter"] = delimiter
            if kmark is not None:
                params["key_marker"] = kmark
            if vmark is not None:
                params["version_id_marker"] = vmark
            es, pg = list_raw(bucket, **params)
            es = merged(es)
            n += 1
            out += es
            if len(es) > mk:
                bad.append("page %d has %d entries, max-keys %d" % (n, len(es), mk))
            if pg["IsTruncated"] != "true":
                if pg["NextKeyMarker"] or pg["NextVersionIdMarker"]:
                    bad.append("last page has NextKeyMarker %s" % pg["NextKeyMarker"])
                break
            if len(es) != mk:
                bad.append("truncated page %d has %d entries, max-keys %d" % (n, len(es), mk))
            last = es[-1]
            # AWS: NextKeyMarker/NextVersionIdMarker name the last entry returned (a common prefix: itself)
            wk = last.get("p") or last.get("k")
            if pg["NextKeyMarker"] != wk:
                bad.append("page %d: NextKeyMarker %r, last entry %r" % (n, pg["NextKeyMarker"], wk))
            if "k" in last and pg["NextVersionIdMarker"] != last["v"]:
                bad.append("page %d: NextVersionIdMarker %r, last version %r" % (n, pg["NextVersionIdMarker"],
                                                                                    last["v"]))
            kmark, vmark = pg["NextKeyMarker"], pg["NextVersionIdMarker"]
            if n > 5000:
                bad.append("more than 5000 pages")
                break
        w = expected(m, prefix, delimiter)
        good, why = same(out, w)
        ok(good and not bad, "paging with max-keys %d%s: %d pages, concatenated = the model, markers as AWS "
           "defines them" % (mk, name, n), "\n".join(bad[:5]) + "\n" + why)

    for mk in ((7,) if quick else (1, 7, 1000)):
        paged(mk)
    paged(3, prefix="b/", delimiter="/", name=" prefix b/ delimiter / (CommonPrefixes count against max-keys)")
    if quick:
        return
    paged(1, delimiter="/", name=" delimiter / at the root")
    paged(2, prefix="a/k01", name=" prefix a/k01")
    es, pg = list_raw(bucket, delimiter="/")
    cps = [e["p"] for e in es if "p" in e]
    wcp = [e["p"] for e in expected(m, "", "/") if "p" in e]
    ok(cps == wcp, "delimiter / at the root: CommonPrefixes %s" % " ".join(wcp), cps)

    # key-marker alone: the listing resumes after every version of that key
    k = sorted(m, key=lambda s: s.encode())[10]
    es, _ = list_raw(bucket, key_marker=k)
    w = [e for e in want if e["k"].encode() > k.encode()]
    good, why = same(es, w)
    ok(good, "key-marker alone skips every version of the key-marker", why)
    # key-marker + version-id-marker: after that version of that key
    kk = next(x for x in sorted(m) if len(m[x]) >= 2)
    vm = m[kk][0]["v"]
    es, _ = list_raw(bucket, key_marker=kk, version_id_marker=vm)
    i = next(j for j, e in enumerate(want) if e["k"] == kk and e["v"] == vm)
    good, why = same(es, want[i + 1:])
    ok(good, "key-marker + version-id-marker resume right after that version", why)
    st, _, data = raw("GET", "/" + bucket, [("versions", ""), ("version-id-marker", vm)])
    ok(st == 400 and err_code(data) == "InvalidArgument",
       "version-id-marker without key-marker: 400 InvalidArgument", "%d %s" % (st, data[:300]))

    # boto3: its paginator (encoding-type url, separate lists) agrees with the model
    pg = s3.get_paginator("list_object_versions")
    vs, dms, pages = [], [], 0
    for p in pg.paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}):
        pages += 1
        vs += [(x["Key"], x["VersionId"], x["IsLatest"], x["ETag"], x["Size"]) for x in p.get("Versions", [])]
        dms += [(x["Key"], x["VersionId"], x["IsLatest"]) for x in p.get("DeleteMarkers", [])]
    wv = [(e["k"], e["v"], e["L"] == "true", e["e"], int(e["n"])) for e in want if not e["m"]]
    wd = [(e["k"], e["v"], e["L"] == "true") for e in want if e["m"]]
    ok(vs == wv and dms == wd, "boto3 paginator (page size 7, %d pages): Versions and DeleteMarkers as the model"
       % pages, "versions %d/%d markers %d/%d" % (len(vs), len(wv), len(dms), len(wd)))
    # ListObjectsV2 shows exactly the current objects
    cur = sorted((k for k in m if m[k] and not m[k][0]["m"]), key=lambda s: s.encode())
    got = []
    for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        got += [x["Key"] for x in p.get("Contents", [])]
    ok(got == cur, "ListObjectsV2 lists exactly the keys whose latest is not a delete marker (%d)" % len(cur),
       "got %d want %d; extra %s missing %s" % (len(got), len(cur), sorted(set(got) - set(cur))[:5],
                                                sorted(set(cur) - set(got))[:5]))


def ph_readall(bucket):
    """GET and HEAD of every version by its id: the bytes, the ETag, x-amz-version-id."""
    m = load()
    bad = []
    jobs = [(k, v) for k in m for v in m[k] if not v["m"]]

    def one(kv):
        k, v = kv
        r = s3.get_object(Bucket=bucket, Key=k, VersionId=v["v"])
        d = r["Body"].read()
        if hashlib.sha256(d).hexdigest() != v["h"]:
            return "%s %s: %d bytes differ from the %d written" % (k, v["v"], len(d), v["n"])
        if r.get("VersionId", "null") != v["v"] or r["ETag"] != v["e"]:
            return "%s %s: x-amz-version-id %s ETag %s (want %s)" % (k, v["v"], r.get("VersionId"), r["ETag"], v["e"])
        h = s3.head_object(Bucket=bucket, Key=k, VersionId=v["v"])
        if h["ContentLength"] != v["n"] or h.get("VersionId", "null") != v["v"]:
            return "%s %s: HEAD %s" % (k, v["v"], h)
        return None

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for res in ex.map(one, jobs):
            if res:
                bad.append(res)
    ok(not bad, "GET/HEAD ?versionId of every version (%d): byte-identical, its ETag and x-amz-version-id"
       % len(jobs), "\n".join(bad[:5]))
    # the current object of each key, by plain GET
    bad = []
    for k in m:
        if not m[k]:
            continue
        try:
            r = s3.get_object(Bucket=bucket, Key=k)
            d = r["Body"].read()
            if m[k][0]["m"] or hashlib.sha256(d).hexdigest() != m[k][0]["h"] or \
                    r.get("VersionId", "null") != m[k][0]["v"]:
                bad.append("%s: GET without versionId returned version %s" % (k, r.get("VersionId")))
        except ClientError as e:
            if not m[k][0]["m"] or e.response["Error"]["Code"] != "NoSuchKey":
                bad.append("%s: %s" % (k, e.response["Error"]))
    ok(not bad, "plain GET of every key: its latest version, or NoSuchKey under a delete marker", "\n".join(bad[:5]))


def ph_restore(bucket, seed):
    """Each key back to an arbitrary earlier version: CopyObject with ?versionId (aws CLI and boto3)."""
    m = load()
    r = random.Random(int(seed))
    keys = [k for k in sorted(m) if not k.startswith("pre/") and [v for v in m[k][1:] if not v["m"]]]
    cli = set(r.sample(keys, min(8, len(keys)))) | ({"u/é-1"} & set(keys))  # a key to percent-encode, too
    ok(len(keys) >= 50, "at least 50 keys have an earlier version to restore (%d)" % len(keys))
    bad = []
    for k in keys:
        src = r.choice([v for v in m[k][1:] if not v["m"]])
        try:
            if k in cli:
                res = aws("s3api", "copy-object", "--bucket", bucket, "--key", k, "--copy-source",
                          "%s/%s?versionId=%s" % (bucket, k, src["v"]))  # botocore percent-encodes it
                vid, csv, etag = res.get("VersionId"), res.get("CopySourceVersionId"), res["CopyObjectResult"]["ETag"]
            else:
                res = s3.copy_object(Bucket=bucket, Key=k, CopySource={"Bucket": bucket, "Key": k, "VersionId": src["v"]})
                vid, csv, etag = res.get("VersionId"), res.get("CopySourceVersionId"), res["CopyObjectResult"]["ETag"]
        except Exception as e:  # noqa: BLE001
            bad.append("%s: copy of version %s failed: %s" % (k, src["v"], e))
            continue
        if csv != src["v"]:
            bad.append("%s: x-amz-copy-source-version-id %s, want %s" % (k, csv, src["v"]))
        push(m, k, {"v": vid, "m": 0, "h": src["h"], "n": src["n"], "e": etag})
    save(m)
    ok(not bad, "%d keys restored to an earlier version by CopyObject ?versionId (%d through the aws CLI)"
       % (len(keys), len(cli)), "\n".join(bad[:5]))
    bad = []
    for k in keys:
        d = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        if hashlib.sha256(d).hexdigest() != m[k][0]["h"]:
            bad.append("%s: the restored current version differs" % k)
    ok(not bad, "every restored key reads back byte-identical to the version it was restored from", "\n".join(bad[:5]))
    bad = []
    for k in sorted(cli):
        v = r.choice([x for x in m[k] if not x["m"]])
        out = os.path.join(TMP, "cliget.bin")
        res = aws("s3api", "get-object", "--bucket", bucket, "--key", k, "--version-id", v["v"], out)
        if blob(v["h"]) != open(out, "rb").read() or res.get("VersionId") != v["v"]:
            bad.append("%s: aws get-object --version-id %s" % (k, v["v"]))
    ok(not bad, "aws s3api get-object --version-id: byte-identical (%d keys)" % len(cli), "\n".join(bad[:5]))


def ph_markers(bucket):
    """GET/HEAD/DELETE around delete markers, exactly as AWS answers them."""
    m = load()
    k = "markers/x"
    d1, d2 = rnd(1000), rnd(2000)
    v1 = s3.put_object(Bucket=bucket, Key=k, Body=d1)
    v2 = s3.put_object(Bucket=bucket, Key=k, Body=d2)
    st, hd, data = raw("DELETE", "/%s/%s" % (bucket, k))
    mid = hd.get("x-amz-version-id")
    ok(st == 204 and hd.get("x-amz-delete-marker") == "true" and mid not in (None, "null"),
       "DELETE without versionId: 204, x-amz-delete-marker: true, the marker's x-amz-version-id", (st, hd))
    push(m, k, {"v": v1["VersionId"], "m": 0, "h": keep(d1), "n": 1000, "e": v1["ETag"]})
    push(m, k, {"v": v2["VersionId"], "m": 0, "h": keep(d2), "n": 2000, "e": v2["ETag"]})
    push(m, k, {"v": mid, "m": 1})
    save(m)
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k))
    ok(st == 404 and err_code(data) == "NoSuchKey" and hd.get("x-amz-delete-marker") == "true",
       "GET of a key whose latest is a delete marker: 404 NoSuchKey, x-amz-delete-marker: true", (st, hd, data[:300]))
    ok(hd.get("x-amz-version-id") == mid, "… and x-amz-version-id names the marker", hd)
    st, hd, data = raw("HEAD", "/%s/%s" % (bucket, k))
    ok(st == 404 and hd.get("x-amz-delete-marker") == "true" and data == b"",
       "HEAD of a key whose latest is a delete marker: 404, x-amz-delete-marker: true, no body", (st, hd))
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k), [("versionId", mid)])
    ok(st == 405 and err_code(data) == "MethodNotAllowed" and hd.get("x-amz-delete-marker") == "true",
       "GET ?versionId=<marker>: 405 MethodNotAllowed, x-amz-delete-marker: true", (st, hd, data[:300]))
    ok("last-modified" in hd, "… with Last-Modified (AWS: the marker's time)", hd)
    st, hd, data = raw("HEAD", "/%s/%s" % (bucket, k), [("versionId", mid)])
    ok(st == 405 and hd.get("x-amz-delete-marker") == "true" and data == b"",
       "HEAD ?versionId=<marker>: 405, x-amz-delete-marker: true, no body", (st, hd, data))
    # an id of the gateway's own form that nobody has: the marker's with its last character changed
    bogus = mid[:-1] + ("1" if mid[-1] != "1" else "2")
    for meth in ("GET", "HEAD"):
        st, hd, data = raw(meth, "/%s/%s" % (bucket, k), [("versionId", bogus)])
        ok(st == 404 and (meth == "HEAD" or err_code(data) == "NoSuchVersion"),
           "%s ?versionId=<a well-formed id nobody has>: 404%s" % (meth, "" if meth == "HEAD" else " NoSuchVersion"),
           (st, hd, data[:300]))
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k), [("versionId", "not a version id")])
    ok(st == 400 and err_code(data) == "InvalidArgument", "GET ?versionId=<malformed>: 400 InvalidArgument",
       (st, data[:300]))
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k), [("versionId", v1["VersionId"])])
    ok(st == 200 and data == d1 and hd.get("x-amz-version-id") == v1["VersionId"],
       "GET ?versionId of an older version under a marker: its bytes", (st, hd))
    st, hd, data = raw("PUT", "/%s/markers/copy" % bucket,
                       headers={"x-amz-copy-source": "/%s/%s?versionId=%s" % (bucket, k, mid)})
    ok(st == 400 and err_code(data) == "InvalidRequest",
       "CopyObject whose source names a delete marker by versionId: 400 InvalidRequest", (st, data[:300]))
    st, hd, data = raw("PUT", "/%s/markers/copy" % bucket, headers={"x-amz-copy-source": "/%s/%s" % (bucket, k)})
    ok(st == 404 and err_code(data) == "NoSuchKey",
       "CopyObject from a key whose latest is a delete marker: 404 NoSuchKey", (st, data[:300]))
    st, hd, data = raw("HEAD", "/%s/%s" % (bucket, k), [("versionId", "null")])
    ok(st == 404, "HEAD ?versionId=null of a key without a null version: 404", (st, hd))
    st, hd, data = raw("PUT", "/%s/%s" % (bucket, k), [("tagging", ""), ("versionId", bogus)],
                       body=b'<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>')
    ok(st == 404 and err_code(data) == "NoSuchVersion", "PutObjectTagging ?versionId=<nobody's>: 404 NoSuchVersion",
       (st, data[:300]))
    st, hd, data = raw("DELETE", "/%s/%s" % (bucket, k), [("versionId", mid)])
    ok(st == 204 and hd.get("x-amz-delete-marker") == "true" and hd.get("x-amz-version-id") == mid,
       "DELETE ?versionId=<marker>: 204, x-amz-delete-marker: true, x-amz-version-id the marker's", (st, hd))
    m[k] = [v for v in m[k] if v["v"] != mid]
    save(m)
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k))
    ok(st == 200 and data == d2 and hd.get("x-amz-version-id") == v2["VersionId"],
       "removing the marker makes the previous version current again", (st, hd))
    # removing the current version by id: the one below becomes current
    st, hd, data = raw("DELETE", "/%s/%s" % (bucket, k), [("versionId", v2["VersionId"])])
    ok(st == 204 and "x-amz-delete-marker" not in hd and hd.get("x-amz-version-id") == v2["VersionId"],
       "DELETE ?versionId=<current>: 204, x-amz-version-id, no x-amz-delete-marker", (st, hd))
    m[k] = [v for v in m[k] if v["v"] != v2["VersionId"]]
    save(m)
    e = latest(bucket, k)
    ok(e["v"] == v1["VersionId"] and not e["m"], "… and the version below it is now IsLatest", e)
    # DeleteObjects with and without versions
    d3 = rnd(10)
    v3 = s3.put_object(Bucket=bucket, Key="markers/y", Body=d3)
    push(m, "markers/y", {"v": v3["VersionId"], "m": 0, "h": keep(d3), "n": 10, "e": v3["ETag"]})
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "markers/y"}, {"Key": k, "VersionId": v1["VersionId"]}]})
    dl = {x["Key"]: x for x in res.get("Deleted", [])}
    y, x = dl.get("markers/y", {}), dl.get(k, {})
    ok(y.get("DeleteMarker") is True and y.get("DeleteMarkerVersionId") not in (None, "null") and
       x.get("VersionId") == v1["VersionId"] and not res.get("Errors"),
       "DeleteObjects: a key alone gets a marker (DeleteMarker, DeleteMarkerVersionId), a key+VersionId "
       "removes that version", res)
    if y.get("DeleteMarkerVersionId"):
        push(m, "markers/y", {"v": y["DeleteMarkerVersionId"], "m": 1})
    m[k] = [v for v in m[k] if v["v"] != v1["VersionId"]]
    if not m[k]:
        del m[k]
    save(m)
    st, _, _ = raw("HEAD", "/%s/%s" % (bucket, k))
    ok(st == 404 and not any(e.get("k") == k for e in list_raw(bucket, prefix=k)[0]),
       "a key whose every version was deleted neither reads nor lists", st)


def ph_suspended(bucket):
    """Suspended versioning: null versions replace each other; enabled-era versions stay."""
    m = load()
    r = s3.get_bucket_versioning(Bucket=bucket)
    ok(r.get("Status") == "Suspended", "GetBucketVersioning: Suspended", r)
    k = next(x for x in sorted(m) if x.startswith("a/") and len(m[x]) >= 2)
    before = [v["v"] for v in m[k]]
    d = rnd(1234)
    st, hd, _ = raw("PUT", "/%s/%s" % (bucket, k), body=d)
    ok(st == 200 and hd.get("x-amz-version-id") == "null", "PUT in a suspended bucket: x-amz-version-id: null", hd)
    push(m, k, {"v": "null", "m": 0, "h": keep(d), "n": len(d), "e": hd.get("etag")}, suspended=True)
    d2 = rnd(4321)
    st, hd, _ = raw("PUT", "/%s/%s" % (bucket, k), body=d2)
    push(m, k, {"v": "null", "m": 0, "h": keep(d2), "n": len(d2), "e": hd.get("etag")}, suspended=True)
    save(m)
    es = [e for e in list_raw(bucket, prefix=k)[0] if e["k"] == k]
    ok([e["v"] for e in es] == ["null"] + before and es[0]["n"] == "4321",
       "a second PUT replaces the null version; the enabled-era versions stay below it",
       "listed %s\nwant   %s" % ([e["v"] for e in es], ["null"] + before))
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k), [("versionId", "null")])
    ok(st == 200 and data == d2 and hd.get("x-amz-version-id") == "null", "GET ?versionId=null: the newest null", (st, hd))
    st, hd, _ = raw("DELETE", "/%s/%s" % (bucket, k))
    ok(st == 204 and hd.get("x-amz-delete-marker") == "true" and hd.get("x-amz-version-id") == "null",
       "DELETE in a suspended bucket: a marker whose version id is null", (st, hd))
    push(m, k, {"v": "null", "m": 1}, suspended=True)
    save(m)
    es = [e for e in list_raw(bucket, prefix=k)[0] if e["k"] == k]
    ok([(e["v"], e["m"]) for e in es] == [(v["v"], v["m"]) for v in m[k]] and [e["v"] for e in es][1:] == before,
       "the null marker replaced the null version; the enabled-era versions stay", es)
    st, hd, data = raw("GET", "/%s/%s" % (bucket, k), [("versionId", "null")])
    ok(st == 405 and hd.get("x-amz-delete-marker") == "true", "GET ?versionId=null of the null marker: 405", (st, hd))
    d4 = rnd(321)
    st, hd, _ = raw("PUT", "/%s/%s" % (bucket, k), body=d4)
    push(m, k, {"v": "null", "m": 0, "h": keep(d4), "n": len(d4), "e": hd.get("etag")}, suspended=True)
    save(m)
    es = [e for e in list_raw(bucket, prefix=k)[0] if e["k"] == k]
    ok(st == 200 and [(e["v"], e["m"]) for e in es] == [(v["v"], v["m"]) for v in m[k]] and
       (es[0]["v"], es[0]["m"]) == ("null", 0) and [e["v"] for e in es][1:] == before,
       "a PUT over the null marker replaces it with a null version", es)
    # a key written before versioning was ever enabled: its version is "null"
    es = [e for e in list_raw(bucket, prefix="pre/never-versioned")[0]]
    ok(len(es) >= 1 and es[-1]["v"] == "null", "an object written before versioning was enabled lists as VersionId null", es)
    st, hd, data = raw("GET", "/%s/pre/never-versioned" % bucket, [("versionId", "null")])
    ok(st == 200 and hashlib.sha256(data).hexdigest() == m["pre/never-versioned"][-1]["h"],
       "… and reads by ?versionId=null", (st, hd))
    # a key only ever written suspended
    d3 = rnd(50)
    st, hd, _ = raw("PUT", "/%s/susp/only" % bucket, body=d3)
    push(m, "susp/only", {"v": "null", "m": 0, "h": keep(d3), "n": 50, "e": hd.get("etag")}, suspended=True)
    save(m)
    ok(hd.get("x-amz-version-id") == "null", "a new key in a suspended bucket: version null", hd)


def ph_reenabled(bucket):
    """Enabled again: a PUT over a null version keeps it as a noncurrent version."""
    m = load()
    d = rnd(99)
    r = s3.put_object(Bucket=bucket, Key="susp/only", Body=d)
    ok(r.get("VersionId") not in (None, "null"), "PUT after re-enabling: a real version id", r.get("VersionId"))
    push(m, "susp/only", {"v": r["VersionId"], "m": 0, "h": keep(d), "n": 99, "e": r["ETag"]})
    save(m)
    es = list_raw(bucket, prefix="susp/only")[0]
    ok([(e["v"], e["L"]) for e in es] == [(r["VersionId"], "true"), ("null", "false")],
       "the null version stays, noncurrent, below the new one", es)


def ph_tagging(bucket):
    """Tagging (aws CLI) and ACLs (boto3) of one version by its id."""
    m = load()
    k = next(x for x in sorted(m) if x.startswith("b/k") and len([v for v in m[x] if not v["m"]]) >= 2
             and not m[x][0]["m"])
    cur = m[k][0]
    old = next(v for v in m[k][1:] if not v["m"])
    res = aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", k, "--version-id", old["v"],
              "--tagging", "TagSet=[{Key=era,Value=old}]")
    ok(res.get("VersionId") == old["v"], "put-object-tagging --version-id answers that version id", res)
    aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", k, "--tagging", "TagSet=[{Key=era,Value=new}]")
    t_old = aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", k, "--version-id", old["v"])
    t_cur = aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", k)
    ok(t_old.get("TagSet") == [{"Key": "era", "Value": "old"}] and t_old.get("VersionId") == old["v"],
       "get-object-tagging --version-id: the old version's tags", t_old)
    ok(t_cur.get("TagSet") == [{"Key": "era", "Value": "new"}] and t_cur.get("VersionId") == cur["v"],
       "get-object-tagging without a version: the current version's tags", t_cur)
    s3.put_object_acl(Bucket=bucket, Key=k, VersionId=old["v"], ACL="public-read")
    a_old = s3.get_object_acl(Bucket=bucket, Key=k, VersionId=old["v"])
    a_cur = s3.get_object_acl(Bucket=bucket, Key=k)
    pub = lambda a: any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in a["Grants"])  # noqa: E731
    ok(pub(a_old) and not pub(a_cur), "PutObjectAcl ?versionId sets that version's ACL only",
       {"old": a_old["Grants"], "cur": a_cur["Grants"]})
    # tagging of a delete marker: 405 MethodNotAllowed (AWS: no operation but DELETE on a marker)
    mk = next((x, v) for x in sorted(m) for v in m[x] if v["m"] and v["v"] != "null")
    st, hd, data = raw("GET", "/%s/%s" % (bucket, mk[0]), [("tagging", ""), ("versionId", mk[1]["v"])])
    ok(st == 405 and err_code(data) == "MethodNotAllowed", "GET ?tagging&versionId=<marker>: 405 MethodNotAllowed",
       (st, data[:300]))


def ph_rclone(bucket, phase):
    """rclone --s3-versions and --s3-version-at on rv/: three rounds of versions, a second apart."""
    path = os.path.join(TMP, "rv-times.json")
    m = load()
    if phase.startswith("round"):
        n = int(phase[5:])
        times = json.load(open(path)) if os.path.exists(path) else {}
        times["start%d" % n] = time.time()
        for name in ("one.txt", "two.bin", "three"):
            k = "rv/" + name
            if n == 3 and name == "three":
                rclone("deletefile", "tgs3:%s/%s" % (bucket, k))
                push(m, k, {"v": latest(bucket, k)["v"], "m": 1})
                continue
            d = ("%s round %d\n" % (name, n)).encode() + rnd(100 * n)
            f = os.path.join(TMP, "rv.bin")
            open(f, "wb").write(d)
            rclone("copyto", f, "tgs3:%s/%s" % (bucket, k))
            e = latest(bucket, k)
            push(m, k, {"v": e["v"], "m": 0, "h": keep(d), "n": len(d), "e": '"%s"' % hashlib.md5(d).hexdigest()})
        times[str(n)] = time.time()
        json.dump(times, open(path, "w"))
        save(m)
        return
    times = json.load(open(path))
    # --s3-versions: each old version is NAME-vYYYY-MM-DD-HHMMSS-mmm[.ext], from its LastModified
    es = [e for e in list_raw(bucket, prefix="rv/")[0] if not e["m"]]
    want = {}
    for e in es:
        name = e["k"][3:]
        h = next(v["h"] for v in m[e["k"]] if v["v"] == e["v"])
        if e["L"] == "true":
            want[name] = h
            continue
        t = e["t"]
        ts = time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")
        ms = int((t[20:23] + "000")[:3]) if len(t) > 20 and t[19] == "." else 0
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        suffix = "-v%s-%03d" % (time.strftime("%Y-%m-%d-%H%M%S", ts), ms)
        want[stem + suffix + dot + ext] = h
    got = set(rclone("lsf", "--s3-versions", "tgs3:%s/rv/" % bucket).decode().split())
    ok(got == set(want), "rclone lsf --s3-versions lists the current and every old version by its time",
       "got  %s\nwant %s" % (sorted(got), sorted(want)))
    dl = os.path.join(TMP, "rv-all")
    rclone("copy", "--s3-versions", "tgs3:%s/rv/" % bucket, dl)
    bad = []
    for name in sorted(want):
        p = os.path.join(dl, name)
        if not os.path.exists(p):
            bad.append("%s: not downloaded" % name)
        elif hashlib.sha256(open(p, "rb").read()).hexdigest() != want[name]:
            bad.append("%s: not the version's bytes" % name)
    ok(not bad, "rclone copy --s3-versions: every version downloaded byte-identical under its name", "\n".join(bad))
    # --s3-version-at: the tree as of between round 2 and round 3
    t = (times["2"] + times["start3"]) / 2
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)
    dl = os.path.join(TMP, "rv-at")
    rclone("copy", "--s3-version-at", at, "tgs3:%s/rv/" % bucket, dl)
    bad = []
    for name in ("one.txt", "two.bin", "three"):
        p = os.path.join(dl, name)
        d = open(p, "rb").read() if os.path.exists(p) else b"(missing)"
        if not d.startswith(("%s round 2\n" % name).encode()):
            bad.append("%s: %r" % (name, d[:30]))
    ok(not bad, "rclone copy --s3-version-at %s: each file as of round 2 (three is deleted now)" % at, "\n".join(bad))
    ls = rclone("lsf", "--s3-version-at", at, "tgs3:%s/rv/" % bucket).decode().split()
    ok(sorted(ls) == ["one.txt", "three", "two.bin"], "rclone lsf --s3-version-at: the tree of round 2", ls)
    ls = rclone("lsf", "tgs3:%s/rv/" % bucket).decode().split()
    ok(sorted(ls) == ["one.txt", "two.bin"], "rclone lsf: today's tree without the deleted file", ls)


def ph_lsv(bucket, key):
    """Prints the key's version ids as listed, newest first (for the shell's block accounting)."""
    print(" ".join(e["v"] for e in list_all(bucket, key) if e["k"] == key))


PHASES = {"setup": ph_setup, "workload": ph_workload, "race": ph_race, "multipart": ph_multipart, "list": ph_list,
          "readall": ph_readall, "restore": ph_restore, "markers": ph_markers, "suspended": ph_suspended,
          "reenabled": ph_reenabled, "tagging": ph_tagging, "rclone": ph_rclone, "lsv": ph_lsv}

if __name__ == "__main__":
    fn = PHASES[sys.argv[1]]
    try:
        fn(*sys.argv[2:])
    except Exception:  # noqa: BLE001
        ok(False, "phase %s ran to its end" % sys.argv[1], traceback.format_exc()[-3000:])
    sys.exit(1 if FAILED[0] else 0)

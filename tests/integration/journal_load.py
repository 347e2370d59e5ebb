#!/usr/bin/env python3
"""journal_load.py — a mixed S3 load whose every acknowledgement is logged, and the check of a recovered store.

  journal_load.py run URL BUCKET LOG SEED WORKDIR   until killed: PUT small (packed) and large, multipart,
                                                    copy, delete, tagging; through boto3, aws and rclone
  journal_load.py check URL BUCKET LOG CUTOFF       the store against the log: every key in a state its
                                                    operations allow, given that everything acknowledged
                                                    before CUTOFF (epoch seconds) must have survived; then
                                                    the state found is logged as the new baseline

A key's states follow its operations in order (one operation at a time): a PUT or a copy gives it new
bytes and no tags (a copy: the source's bytes and tags), tagging changes its tags, a delete removes it.
After a recovery the key must be in the state of its last operation acknowledged before CUTOFF, or in
the state of any later one (acknowledged or only started: its changes may have reached Telegram).
"""
import hashlib
import json
import os
import random
import subprocess
import sys
import time

import boto3
from botocore.config import Config


def client(url):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 8, "mode": "standard"},
                                      s3={"addressing_style": "path"}))


def log_line(f, **kw):
    f.write(json.dumps(kw) + "\n")
    f.flush()
    os.fsync(f.fileno())


def load_states(path):
    """key -> list of (ack time or None, state) in order; state is None (absent) or [md5, tags]."""
    keys = {}
    current = {}
    if not os.path.exists(path):
        return keys, current
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line cut by the kill
            k = e["key"]
            if e["ev"] == "baseline":
                keys[k] = [(0.0, e["state"])]
                current[k] = e["state"]
            elif e["ev"] == "start":
                keys.setdefault(k, [(0.0, None)]).append((None, e["state"]))
            elif e["ev"] == "ack":
                hist = keys[k]
                hist[-1] = (e["t"], hist[-1][1])
                current[k] = hist[-1][1]
    return keys, current


def run(url, bucket, log, seed, work):
    rnd = random.Random(seed)
    s3 = client(url)
    _, current = load_states(log)
    live = [k for k, st in current.items() if st is not None]
    f = open(log, "a")
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    n = 0
    while True:
        n += 1
        op = rnd.choices(["small", "large", "multipart", "copy", "delete", "tag", "aws", "rclone"],
                         [30, 12, 3, 8, 10, 10, 4, 3])[0]
        key = "k%d-%d" % (seed, n)
        if op in ("copy", "delete", "tag") and not live:
            op = "small"
        if op == "delete" or op == "tag":
            key = rnd.choice(live)
        if op in ("small", "large", "multipart", "aws", "rclone"):
            size = {"small": rnd.randint(0, 60000), "large": rnd.randint(300000, 1500000),
                    "multipart": 6 * 1048576 + rnd.randint(0, 100000), "aws": rnd.randint(1, 400000),
                    "rclone": rnd.randint(1, 400000)}[op]
            data = rnd.randbytes(size)
            state = [hashlib.md5(data).hexdigest(), {}]
            log_line(f, ev="start", key=key, op=op, state=state)
            if op == "small" or op == "large":
                s3.put_object(Bucket=bucket, Key=key, Body=data)
            elif op == "multipart":
                up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                parts = []
                for i, off in enumerate(range(0, size, 5 * 1048576)):
                    r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i + 1,
                                       Body=data[off:off + 5 * 1048576])
                    parts.append({"PartNumber": i + 1, "ETag": r["ETag"]})
                s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up,
                                             MultipartUpload={"Parts": parts})
            else:
                path = os.path.join(work, "up.bin")
                with open(path, "wb") as g:
                    g.write(data)
                if op == "aws":
                    cmd = ["/usr/bin/aws", "--endpoint-url", url, "s3", "cp", "--only-show-errors", "--no-progress",
                           path, "s3://%s/%s" % (bucket, key)]
                else:
                    cmd = ["/usr/bin/rclone", "--config", os.environ["RCLONE_CONF"], "copyto", "--s3-no-check-bucket",
                           path, "tgs3:%s/%s" % (bucket, key)]
                if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
                    continue  # not acknowledged: the started state stays possible, nothing is required
            live.append(key)
        elif op == "copy":
            src = rnd.choice(live)
            state = current[src]
            log_line(f, ev="start", key=key, op=op, state=state)
            s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": src})
            live.append(key)
        elif op == "delete":
            state = None
            log_line(f, ev="start", key=key, op=op, state=state)
            s3.delete_object(Bucket=bucket, Key=key)
            live.remove(key)
        else:
            tags = {"v": str(n)}
            state = [current[key][0], tags]
            log_line(f, ev="start", key=key, op=op, state=state)
            s3.put_object_tagging(Bucket=bucket, Key=key,
                                  Tagging={"TagSet": [{"Key": "v", "Value": str(n)}]})
        current[key] = state
        log_line(f, ev="ack", key=key, t=time.time())


def found_state(s3, bucket, key):
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    return [hashlib.md5(body).hexdigest(), tags]


def check(url, bucket, log, cutoff):
    s3 = client(url)
    keys, _ = load_states(log)
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed.update(o["Key"] for o in page.get("Contents", []))
    bad = []
    required = 0
    found = {}
    for k, hist in sorted(keys.items()):
        last = 0
        for i, (t, _) in enumerate(hist):
            if t is not None and t <= cutoff:
                last = i
        allowed = [st for _, st in hist[last:]]
        required += hist[last][0] is not None and hist[last][0] > 0
        st = found_state(s3, bucket, k) if k in listed else None
        found[k] = st
        if st not in allowed:
            bad.append("%s: found %s, allowed %s" % (k, json.dumps(st), json.dumps(allowed)))
    strange = listed - set(keys)
    for k in sorted(strange):
        bad.append("%s: listed but never written" % k)
    with open(log, "a") as f:
        for k, st in found.items():
            log_line(f, ev="baseline", key=k, state=st)
    print("%d keys, %d with an operation acknowledged before the cutoff, %d live" %
          (len(keys), required, sum(1 for s in found.values() if s is not None)))
    for b in bad[:20]:
        print("BAD " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))

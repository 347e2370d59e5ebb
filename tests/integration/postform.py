#!/usr/bin/env python3
"""postform.py — sends one browser-style POST Object form to tgs3 and checks the answer.

The form is built by hand (multipart/form-data, as browsers write it) and sent with
http.client; a file given by path is streamed from disk in 1 MiB pieces. The policy is
signed with SigV4 (default) or SigV2, or comes from boto3's generate_presigned_post (--boto3).

  postform.py --bucket B --key K (--data TEXT | --file PATH) [options]
    --field NAME=VALUE      a field before the file (repeatable; also covered by the policy)
    --uncovered NAME=VALUE  a field before the file that the policy does not name
    --after NAME=VALUE      a field after the file (AWS ignores it)
    --cond JSON             one more policy condition (repeatable)
    --no-key-cond           no condition for the key
    --expires SECONDS       policy expiration from now (negative: expired)
    --sig v4|v2|bad|none|nosig  the signature (bad: a wrong one; none: no signature fields and no
                            policy (anonymous); nosig: a policy without a signature)
    --filename NAME         the file part's filename
    --no-file               no file part
    --expect STATUS[:CODE]  the answer expected (status, and S3 error code for an error)
    --expect-msg TEXT       the error message contains TEXT
    --expect-location TEXT  the Location header contains TEXT
    --expect-xml-key KEY    a 201 answer's <Key>
    --etag-of PATH          the answer's ETag must be the MD5 of this file
Env: S3_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET

BOUNDARY = "----WebKitFormBoundaryTgs3x7MA4YWxkTrZu0gW"


def part(name, value, filename=None, ctype=None):
    head = '--%s\r\nContent-Disposition: form-data; name="%s"' % (BOUNDARY, name)
    if filename is not None:
        head += '; filename="%s"' % filename
    head += "\r\n"
    if ctype:
        head += "Content-Type: %s\r\n" % ctype
    head += "\r\n"
    return head.encode() + (value if isinstance(value, bytes) else value.encode()) + b"\r\n"


def sign_v4(secret, date8, region, policy_b64):
    def h(k, m):
        return hmac.new(k, m.encode(), hashlib.sha256).digest()
    k = h(("AWS4" + secret).encode(), date8)
    k = h(k, region)
    k = h(k, "s3")
    k = h(k, "aws4_request")
    return hmac.new(k, policy_b64.encode(), hashlib.sha256).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--key")
    ap.add_argument("--data")
    ap.add_argument("--file")
    ap.add_argument("--field", action="append", default=[])
    ap.add_argument("--uncovered", action="append", default=[])
    ap.add_argument("--after", action="append", default=[])
    ap.add_argument("--cond", action="append", default=[])
    ap.add_argument("--no-key-cond", action="store_true")
    ap.add_argument("--expires", type=int, default=3600)
    ap.add_argument("--sig", default="v4")
    ap.add_argument("--filename", default="upload.bin")
    ap.add_argument("--no-file", action="store_true")
    ap.add_argument("--boto3", action="store_true")
    ap.add_argument("--expect", default="204")
    ap.add_argument("--expect-msg")
    ap.add_argument("--expect-location")
    ap.add_argument("--expect-xml-key")
    ap.add_argument("--etag-of")
    a = ap.parse_args()

    url = urllib.parse.urlparse(os.environ["S3_URL"])
    ak, sk = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    fields = []  # (name, value) before the file, in order
    extra = [tuple(f.split("=", 1)) for f in a.field]
    uncovered = [tuple(f.split("=", 1)) for f in a.uncovered]

    if a.boto3:
        import boto3
        s3 = boto3.client("s3", endpoint_url=os.environ["S3_URL"], region_name="us-east-1",
                          aws_access_key_id=ak, aws_secret_access_key=sk)
        conds = [json.loads(c) for c in a.cond]
        flds = dict(extra)
        post = s3.generate_presigned_post(a.bucket, a.key, Fields=flds or None,
                                          Conditions=(conds + [{k: v} for k, v in extra]) or None,
                                          ExpiresIn=a.expires)
        fields = list(post["fields"].items())
    else:
        now = datetime.datetime.now(datetime.timezone.utc)
        exp = (now + datetime.timedelta(seconds=a.expires)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        conds = [{"bucket": a.bucket}]
        if a.key is not None:
            fields.append(("key", a.key))
            if not a.no_key_cond:
                conds.append(["starts-with", "$key", ""])
        for k, v in extra:
            fields.append((k, v))
            conds.append({k: v})
        conds += [json.loads(c) for c in a.cond]
        if a.sig in ("v4", "bad"):
            date8 = now.strftime("%Y%m%d")
            cred = "%s/%s/us-east-1/s3/aws4_request" % (ak, date8)
            amzdate = now.strftime("%Y%m%dT%H%M%SZ")
            conds += [{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": cred}, {"x-amz-date": amzdate}]
            policy = base64.b64encode(json.dumps({"expiration": exp, "conditions": conds}).encode()).decode()
            sig = sign_v4(sk, date8, "us-east-1", policy)
            if a.sig == "bad":
                sig = sign_v4(sk + "x", date8, "us-east-1", policy)
            fields += [("x-amz-algorithm", "AWS4-HMAC-SHA256"), ("x-amz-credential", cred), ("x-amz-date", amzdate),
                       ("policy", policy), ("x-amz-signature", sig)]
        elif a.sig == "nosig":  # a policy, and no signature fields
            fields.append(("policy", base64.b64encode(json.dumps({"expiration": exp, "conditions": conds}).encode()).decode()))
        elif a.sig == "v2":
            policy = base64.b64encode(json.dumps({"expiration": exp, "conditions": conds}).encode()).decode()
            sig = base64.b64encode(hmac.new(sk.encode(), policy.encode(), hashlib.sha1).digest()).decode()
            fields += [("AWSAccessKeyId", ak), ("policy", policy), ("signature", sig)]
    fields += uncovered

    head = b"".join(part(k, v) for k, v in fields)
    size = 0
    if a.no_file:
        file_head, file_tail = b"", b""
    else:
        file_head = part("file", b"", a.filename, "application/octet-stream")[:-2]
        file_tail = b"\r\n"
        size = os.path.getsize(a.file) if a.file else len(a.data.encode())
    tail = file_tail + b"".join(part(*f.split("=", 1)) for f in a.after) + ("--%s--\r\n" % BOUNDARY).encode()
    total = len(head) + len(file_head) + size + len(tail)

    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    conn.putrequest("POST", "/" + a.bucket)
    conn.putheader("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
    conn.putheader("Content-Length", str(total))
    conn.endheaders()
    try:
        conn.send(head + file_head)
        if not a.no_file:
            if a.file:
                with open(a.file, "rb") as f:
                    while True:
                        b = f.read(1 << 20)
                        if not b:
                            break
                        conn.send(b)
            else:
                conn.send(a.data.encode())
        conn.send(tail)
    except (BrokenPipeError, ConnectionResetError) as e:
        print("send stopped early:", e)  # the gateway may answer before the whole body
    resp = conn.getresponse()
    body = resp.read()
    print(resp.status, dict(resp.getheaders()))
    print(body.decode(errors="replace"))
    want = a.expect.split(":")
    ok = str(resp.status) == want[0]
    if len(want) > 1:
        try:
            code = ET.fromstring(body).findtext("Code")
        except ET.ParseError:
            code = None
        ok = ok and code == want[1]
    if a.expect_msg:
        try:
            msg = ET.fromstring(body).findtext("Message") or ""
        except ET.ParseError:
            msg = ""
        ok = ok and a.expect_msg in msg
    if a.expect_location:
        ok = ok and a.expect_location in (resp.getheader("Location") or "")
    if a.expect_xml_key:
        ok = ok and ET.fromstring(body).findtext("{http://s3.amazonaws.com/doc/2006-03-01/}Key") == a.expect_xml_key
    if a.etag_of:
        md5 = hashlib.md5()
        with open(a.etag_of, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                md5.update(b)
        ok = ok and resp.getheader("ETag") == '"%s"' % md5.hexdigest()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

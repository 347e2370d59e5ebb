"""s3err.py — raw, SigV4-signed S3 requests for the error tests.

Usage: s3err.py CASE [BUCKET]. Each case sends one or more requests built and signed with
botocore (so a body can be altered after signing), checks the status, the S3 error code in
the XML body and the x-amz-request-id header, prints what it saw, and exits 1 on a mismatch.
Reads S3_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment.
"""
import base64
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore.config
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

URL = os.environ["S3_URL"]
AK = os.environ["AWS_ACCESS_KEY_ID"]
SK = os.environ["AWS_SECRET_ACCESS_KEY"]
HOST = urllib.parse.urlparse(URL).netloc
ADDR = (urllib.parse.urlparse(URL).hostname, urllib.parse.urlparse(URL).port)


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def code(self):
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return None
        el = root.find("Code")
        if el is None:
            el = root.find("{*}Code")
        return None if el is None else el.text

    def __str__(self):
        return "%d %s %r" % (self.status, self.headers, self.body[:600])


def send(method, path, query="", body=b"", headers=None, secret=SK, sign=True, sent_body=None):
    """Signs METHOD path?query with SigV4 over BODY, then sends SENT_BODY (default BODY)."""
    headers = dict(headers or {})
    url = URL + path + ("?" + query if query else "")
    if sign:
        req = AWSRequest(method=method, url=url, data=body, headers=headers)
        S3SigV4Auth(Credentials(AK, secret), "s3", "us-east-1").add_auth(req)
        headers = dict(req.headers.items())
    data = body if sent_body is None else sent_body
    conn = http.client.HTTPConnection(HOST, timeout=60)
    conn.request(method, path + ("?" + query if query else ""), body=data, headers=headers)
    r = conn.getresponse()
    out = Reply(r.status, r.getheaders(), r.read())
    conn.close()
    print(method, path, query, "->", out)
    return out


def expect(reply, status, code=None):
    ok = True
    if reply.status != status:
        print("FAIL: status %d, want %d" % (reply.status, status))
        ok = False
    if not reply.headers.get("x-amz-request-id"):
        print("FAIL: no x-amz-request-id header")
        ok = False
    if code is not None:
        got = reply.code()
        if got != code:
            print("FAIL: code %r, want %r" % (got, code))
            ok = False
    return ok


def client(secret=SK):
    return boto3.client(
        "s3", endpoint_url=URL, aws_access_key_id=AK, aws_secret_access_key=secret,
        region_name="us-east-1",
        config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def case_setup(b):
    s3 = client()
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="keep", Body=b"this bucket is not empty\n")
    return True


def case_wrong_secret(b):
    try:
        client(SK[:-1] + ("x" if SK[-1] != "x" else "y")).list_objects_v2(Bucket=b)
    except ClientError as e:
        r = e.response
        print(r)
        status = r["ResponseMetadata"]["HTTPStatusCode"]
        ok = status == 403 and r["Error"]["Code"] == "SignatureDoesNotMatch"
        ok = ok and bool(r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id"))
        # The same through a raw request, for the XML and headers.
        return expect(send("GET", "/" + b, "list-type=2", secret=SK + "x"), 403, "SignatureDoesNotMatch") and ok
    print("FAIL: a wrong secret was accepted")
    return False


def case_tampered_body(b):
    body = os.urandom(100 * 1024)
    bad = bytearray(body)
    bad[5000] ^= 0xFF
    ok = expect(send("PUT", "/%s/tampered" % b, body=body, sent_body=bytes(bad)), 400,
                "XAmzContentSHA256Mismatch")
    return expect(send("HEAD", "/%s/tampered" % b), 404) and ok


def case_bad_md5(b):
    body = os.urandom(100 * 1024)
    md5 = base64.b64encode(hashlib.md5(body + b"x").digest()).decode()
    ok = expect(send("PUT", "/%s/badmd5" % b, body=body, headers={"Content-MD5": md5}), 400, "BadDigest")
    return expect(send("HEAD", "/%s/badmd5" % b), 404) and ok


def case_good_md5(b):
    body = os.urandom(1000)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = send("PUT", "/%s/goodmd5" % b, body=body, headers={"Content-MD5": md5})
    ok = r.status == 200 and r.headers.get("etag", "").strip('"') == hashlib.md5(body).hexdigest()
    g = send("GET", "/%s/goodmd5" % b)
    return ok and g.status == 200 and g.body == body


def case_signed_content_length(b):
    # rclone and s3cmd sign content-length (h2o keeps it out of the header list).
    body = os.urandom(1000)
    r = send("PUT", "/%s/signed-length" % b, body=body, headers={"Content-Length": str(len(body))})
    ok = r.status == 200
    g = send("GET", "/%s/signed-length" % b)
    return ok and g.status == 200 and g.body == body


def case_missing_bucket(b):
    nb = b + "-missing"
    ok = expect(send("GET", "/%s/some-key" % nb), 404, "NoSuchBucket")
    ok = expect(send("GET", "/" + nb), 404, "NoSuchBucket") and ok
    ok = expect(send("GET", "/" + nb, "list-type=2"), 404, "NoSuchBucket") and ok
    ok = expect(send("HEAD", "/" + nb), 404) and ok
    ok = expect(send("PUT", "/%s/k" % nb, body=b"abc"), 404, "NoSuchBucket") and ok
    return ok


def case_missing_key(b):
    ok = expect(send("GET", "/%s/no-such-key" % b), 404, "NoSuchKey")
    ok = expect(send("HEAD", "/%s/no-such-key" % b), 404) and ok
    return ok


def case_location_missing(b):
    return expect(send("GET", "/%s-missing" % b, "location="), 404, "NoSuchBucket")


def case_location(b):
    r = send("GET", "/" + b, "location=")
    return r.status == 200 and b"LocationConstraint" in r.body


def case_bucket_not_empty(b):
    ok = expect(send("DELETE", "/" + b), 409, "BucketNotEmpty")
    return expect(send("HEAD", "/" + b), 200) and ok


def case_not_implemented(b):
    r = send("GET", "/" + b, "policy=")
    ok = expect(r, 501, "NotImplemented")
    if b"ListBucketResult" in r.body:
        print("FAIL: ?policy fell through to a listing")
        ok = False
    return ok


def case_anonymous(b):
    return expect(send("GET", "/%s/keep" % b, sign=False), 403, "AccessDenied")


def case_unknown_key_id(b):
    global AK
    real, AK = AK, "TGS3NOSUCHACCESSKEY0"
    try:
        return expect(send("GET", "/" + b), 403, "InvalidAccessKeyId")
    finally:
        AK = real


# ---- streamed bodies (PUT or part over 4 MiB: read from the socket as they arrive) ----

BIG = 6 * 1024 * 1024 + 123


def signed_headers(method, path, query="", body=b"", headers=None):
    url = URL + path + ("?" + query if query else "")
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def raw_reply(sock, limit=60):
    """Reads one HTTP/1.1 response (Content-Length framed) from sock."""
    sock.settimeout(limit)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = [tuple(x.split(": ", 1)) for x in lines[1:] if ": " in x]
    n = int(dict((k.lower(), v) for k, v in hdrs).get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    out = Reply(status, hdrs, rest[:n])
    print("raw ->", out)
    return out


def raw_head(method, path, query, headers, length):
    lines = ["%s %s%s HTTP/1.1" % (method, path, "?" + query if query else ""), "Host: " + HOST]
    lines += ["%s: %s" % (k, v) for k, v in headers.items() if k.lower() != "content-length"]
    lines.append("Content-Length: %d" % length)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def case_stream_good(b):
    """Expect: 100-continue and Content-MD5: the body is sent only after 100 Continue."""
    body = os.urandom(BIG)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    h = signed_headers("PUT", "/%s/streamed" % b, body=body, headers={"Content-MD5": md5})
    h["Expect"] = "100-continue"
    s = socket.create_connection(ADDR)
    s.sendall(raw_head("PUT", "/%s/streamed" % b, "", h, len(body)))
    s.settimeout(30)
    cont = s.recv(4096)
    print("after the head:", cont)
    ok = cont.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    if not ok:
        print("FAIL: no 100 Continue before the body")
    s.sendall(body)
    r = raw_reply(s)
    s.close()
    ok = ok and expect(r, 200) and r.headers.get("etag", "").strip('"') == hashlib.md5(body).hexdigest()
    g = send("GET", "/%s/streamed" % b)
    return ok and g.status == 200 and g.body == body


def case_stream_keepalive(b):
    """Two streamed PUTs and a GET on one connection: keep-alive survives a streamed body."""
    conn = http.client.HTTPConnection(HOST, timeout=60)
    bodies = [os.urandom(BIG), os.urandom(BIG + 1)]
    ok = True
    for i, body in enumerate(bodies):
        path = "/%s/ka%d" % (b, i)
        conn.request("PUT", path, body=body, headers=signed_headers("PUT", path, body=body))
        r = conn.getresponse()
        r.read()
        print("PUT", path, "->", r.status, r.getheaders())
        ok = ok and r.status == 200 and r.getheader("etag", "").strip('"') == hashlib.md5(body).hexdigest()
    path = "/%s/ka1" % b
    conn.request("GET", path, headers=signed_headers("GET", path))
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return ok and r.status == 200 and data == bodies[1]


def case_stream_tampered(b):
    body = os.urandom(BIG)
    bad = bytearray(body)
    bad[BIG - 5] ^= 0xFF
    ok = expect(send("PUT", "/%s/stampered" % b, body=body, sent_body=bytes(bad)), 400,
                "XAmzContentSHA256Mismatch")
    return expect(send("HEAD", "/%s/stampered" % b), 404) and ok


def case_stream_bad_md5(b):
    body = os.urandom(BIG)
    md5 = base64.b64encode(hashlib.md5(body + b"x").digest()).decode()
    ok = expect(send("PUT", "/%s/sbadmd5" % b, body=body, headers={"Content-MD5": md5}), 400, "BadDigest")
    return expect(send("HEAD", "/%s/sbadmd5" % b), 404) and ok


def case_stream_both_bad(b):
    """Both digests wrong: the two hashing lanes finish in either order; Content-MD5's error is the one
    answered, as AWS does. Then a signed checksum that is wrong: its own error."""
    body = os.urandom(BIG)
    bad = bytearray(body)
    bad[7] ^= 0xFF
    md5 = base64.b64encode(hashlib.md5(body + b"x").digest()).decode()
    ok = expect(send("PUT", "/%s/sboth" % b, body=body, sent_body=bytes(bad), headers={"Content-MD5": md5}), 400,
                "BadDigest")
    crc = base64.b64encode(hashlib.sha256(b"not the body").digest()).decode()
    ok = expect(send("PUT", "/%s/sbadsha" % b, body=body, headers={"x-amz-checksum-sha256": crc}), 400,
                "BadDigest") and ok
    return expect(send("HEAD", "/%s/sboth" % b), 404) and expect(send("HEAD", "/%s/sbadsha" % b), 404) and ok


def start_partial_put(path):
    """Sends the head of an 8 MiB PUT and its first MiB; returns the socket."""
    body = os.urandom(8 << 20)
    s = socket.create_connection(ADDR)
    s.sendall(raw_head("PUT", path, "", signed_headers("PUT", path, body=body), len(body)) + body[: 1 << 20])
    return s


def case_stream_cut(b):
    """The client goes away after 1 MiB of an 8 MiB body: nothing is stored."""
    path = "/%s/scut" % b
    s = start_partial_put(path)
    time.sleep(0.5)
    s.close()
    time.sleep(1)
    return expect(send("HEAD", path), 404) and expect(send("HEAD", "/%s/keep" % b), 200)


def case_stream_stall(b):
    """The body stops arriving: RequestTimeout after --req-timeout, nothing stored."""
    path = "/%s/sstall" % b
    s = start_partial_put(path)
    r = raw_reply(s, limit=60)
    s.close()
    ok = expect(r, 400, "RequestTimeout") and r.headers.get("connection", "").lower() == "close"
    return expect(send("HEAD", path), 404) and ok


def case_stream_wrong_op(b):
    """A body this large on an operation that takes none of that size: EntityTooLarge before
    any 100 Continue, and the connection closes (the body was never read)."""
    body = os.urandom(5 << 20)
    path = "/%s/keep" % b
    h = signed_headers("PUT", path, "tagging", body=body)
    h["Expect"] = "100-continue"
    s = socket.create_connection(ADDR)
    s.sendall(raw_head("PUT", path, "tagging", h, len(body)))
    r = raw_reply(s)
    s.close()
    return expect(r, 400, "EntityTooLarge") and r.headers.get("connection", "").lower() == "close"


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CASES:
        sys.exit("usage: s3err.py {%s} [bucket]" % "|".join(CASES))
    bucket = sys.argv[2] if len(sys.argv) > 2 else "err-bucket"
    sys.exit(0 if CASES[sys.argv[1]](bucket) else 1)

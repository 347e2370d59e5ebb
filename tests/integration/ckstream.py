"""ckstream.py — x-amz-checksum-* headers on bodies over 4 MiB, which the gateway streams.

Usage: ckstream.py CASE BUCKET. Requests are built and signed as in s3err.py (its helpers);
the checksums are computed independently of the gateway (crcref.py). Each case prints
what it saw and exits 1 on any mismatch.
"""
import base64
import os
import socket
import sys
import xml.etree.ElementTree as ET

from crcref import Crc
from s3err import ADDR, expect, raw_head, raw_reply, send, signed_headers

BIG = (4 << 20) + 4097  # over the intake's 4 MiB: streamed
ALGS = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]


def digest(alg, data):
    return Crc(alg).update(data).digest()


def b64(raw):
    return base64.b64encode(raw).decode()


def case_good(b):
    """Each algorithm: 200, the checksum echoed, the bytes and the checksum read back."""
    ok = True
    for alg in ALGS:
        body = os.urandom(BIG)
        want = b64(digest(alg, body))
        path = "/%s/ck-%s" % (b, alg)
        r = send("PUT", path, body=body, headers={"x-amz-checksum-" + alg: want})
        ok = expect(r, 200) and r.headers.get("x-amz-checksum-" + alg) == want and ok
        g = send("GET", path, headers={"x-amz-checksum-mode": "ENABLED"})
        ok = g.status == 200 and g.body == body and g.headers.get("x-amz-checksum-" + alg) == want and ok
    return ok


def case_bad(b):
    """A well-formed value that is not the body's: 400 BadDigest, nothing stored."""
    ok = True
    for alg in ["crc32c", "crc64nvme"]:
        body = os.urandom(BIG)
        raw = bytearray(digest(alg, body))
        raw[-1] ^= 1
        path = "/%s/ck-bad-%s" % (b, alg)
        ok = expect(send("PUT", path, body=body, headers={"x-amz-checksum-" + alg: b64(bytes(raw))}), 400,
                    "BadDigest") and ok
        ok = expect(send("HEAD", path), 404) and ok
    return ok


def head_only(path, extra):
    """The head of a streamed PUT with Expect: 100-continue and its answer, no body sent."""
    body = os.urandom(BIG)
    h = signed_headers("PUT", path, body=body, headers=extra)
    h["Expect"] = "100-continue"
    s = socket.create_connection(ADDR)
    s.sendall(raw_head("PUT", path, "", h, len(body)))
    r = raw_reply(s)
    s.close()
    return r


def case_refused_head(b):
    """A malformed value, or two checksums: 400 InvalidRequest before any 100 Continue."""
    path = "/%s/ck-refused" % b
    r = head_only(path, {"x-amz-checksum-crc64nvme": "AAAA"})
    ok = expect(r, 400, "InvalidRequest") and b"x-amz-checksum-crc64nvme" in r.body
    ok = expect(head_only(path, {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-crc32c": "AAAAAA=="}), 400,
                "InvalidRequest") and ok
    return expect(send("HEAD", path), 404) and ok


def case_part(b):
    """UploadPart streamed with x-amz-checksum-crc32c: verified, echoed, and a wrong one refused."""
    key = "/%s/ck-mp" % b
    r = send("POST", key, "uploads", headers={"x-amz-checksum-algorithm": "CRC32C"})
    if not expect(r, 200):
        return False
    uid = ET.fromstring(r.body).find("{*}UploadId").text
    body = os.urandom(BIG)
    want = b64(digest("crc32c", body))
    q = "partNumber=1&uploadId=%s" % uid
    p = send("PUT", key, q, body=body, headers={"x-amz-checksum-crc32c": want})
    ok = expect(p, 200) and p.headers.get("x-amz-checksum-crc32c") == want
    q2 = "partNumber=2&uploadId=%s" % uid
    ok = expect(send("PUT", key, q2, body=body + b"x", headers={"x-amz-checksum-crc32c": want}), 400,
                "BadDigest") and ok
    send("DELETE", key, "uploadId=%s" % uid)
    return ok


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in CASES:
        sys.exit("usage: ckstream.py {%s} bucket" % "|".join(CASES))
    sys.exit(0 if CASES[sys.argv[1]](sys.argv[2]) else 1)

"""lifecycle.py — PutBucketLifecycleConfiguration's refusals, sent as raw SigV4-signed requests.

Usage: lifecycle.py errors BUCKET. Each bad document is sent with a correct Content-MD5 and
the exact status, S3 error code and message are checked; then the integrity headers (none,
a wrong Content-MD5, a wrong x-amz-checksum-crc32, a right one) and a missing bucket.
Prints what it saw and exits 1 on a mismatch.
Reads S3_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment.
"""
import base64
import hashlib
import http.client
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

URL = os.environ["S3_URL"]
AK = os.environ["AWS_ACCESS_KEY_ID"]
SK = os.environ["AWS_SECRET_ACCESS_KEY"]
HOST = urllib.parse.urlparse(URL).netloc


def send(method, path, query, body, headers):
    req = AWSRequest(method=method, url=URL + path + "?" + query, data=body, headers=headers)
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(HOST, timeout=60)
    conn.request(method, path + "?" + query, body=body, headers=dict(req.headers.items()))
    r = conn.getresponse()
    status, data = r.status, r.read()
    conn.close()
    code = msg = None
    if data:
        root = ET.fromstring(data)
        code = root.findtext("Code")
        msg = root.findtext("Message")
    return status, code, msg, data


def md5(body):
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def put(bucket, doc, headers=None):
    body = doc.encode()
    h = {"Content-MD5": md5(body)} if headers is None else headers
    return send("PUT", "/" + bucket, "lifecycle", body, h)


def conf(rule):
    return "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>%s</Rule>" \
           "</LifecycleConfiguration>" % rule


EN = "<Status>Enabled</Status>"
EXP = "<Expiration><Days>1</Days></Expiration>"
TAG = "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"

# (rule body, status, code, message or None)
CASES = [
    (EN + EXP, 400, "MalformedXML", None),  # neither Filter nor Prefix
    (EN + EXP + "<Filter/><Prefix>a</Prefix>", 400, "MalformedXML", None),
    ("<Status>Maybe</Status>" + EXP + "<Filter/>", 400, "MalformedXML", None),
    (EN + EXP + "<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>", 400, "MalformedXML",
     None),
    (EN + "<Filter/>", 400, "InvalidRequest", "At least one action needs to be specified in a rule"),
    (EN + "<Expiration><Days>0</Days></Expiration><Filter/>", 400, "InvalidArgument",
     "'Days' for Expiration action must be a positive integer"),
    (EN + "<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration><Filter/>", 400, "InvalidArgument",
     "'Date' must be at midnight GMT"),
    (EN + "<Expiration><Days>3</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
          "<Filter/>", 400, "InvalidArgument",
     "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy."),
    (EN + "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration><Filter/>",
     400, "InvalidArgument", "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"),
    (EN + "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
          "</AbortIncompleteMultipartUpload>" + TAG, 400, "InvalidRequest",
     "AbortIncompleteMultipartUpload cannot be specified with Tags."),
    ("<ID>" + "x" * 256 + "</ID>" + EN + EXP + "<Filter/>", 400, "InvalidArgument",
     "ID length should not exceed allowed limit of 255"),
    (EN + "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Filter/>", 501,
     "NotImplemented", None),
]


def case_errors(bucket):
    ok = True
    for rule, status, code, msg in CASES:
        got = put(bucket, conf(rule))
        print(rule[:90], "->", got[:3])
        if got[0] != status or got[1] != code or (msg is not None and got[2] != msg):
            print("FAIL: want", status, code, msg)
            ok = False
    dup = "<LifecycleConfiguration><Rule><ID>a</ID>%s%s<Filter/></Rule><Rule><ID>a</ID>%s%s<Filter/></Rule>" \
          "</LifecycleConfiguration>" % (EN, EXP, EN, EXP)
    got = put(bucket, dup)
    print("two rules, one ID ->", got[:3])
    if got[:3] != (400, "InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule"):
        print("FAIL: duplicate IDs")
        ok = False

    good = conf("<ID>ok</ID>" + EN + EXP + "<Filter><Prefix>p/</Prefix></Filter>")
    got = put(bucket, good, headers={})
    print("no Content-MD5 ->", got[:3])
    if got[:3] != (400, "InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"):
        print("FAIL: no integrity header")
        ok = False
    got = put(bucket, good, headers={"Content-MD5": md5(b"other")})
    print("wrong Content-MD5 ->", got[:3])
    if got[0] != 400 or got[1] != "BadDigest":
        print("FAIL: wrong Content-MD5")
        ok = False
    crc = base64.b64encode(zlib.crc32(good.encode()).to_bytes(4, "big")).decode()
    bad_crc = base64.b64encode((zlib.crc32(good.encode()) ^ 1).to_bytes(4, "big")).decode()
    got = put(bucket, good, headers={"x-amz-checksum-crc32": bad_crc})
    print("wrong x-amz-checksum-crc32 ->", got[:3])
    if got[0] != 400 or got[1] != "BadDigest":
        print("FAIL: wrong checksum")
        ok = False
    got = put(bucket, good, headers={"x-amz-checksum-crc32": crc})
    print("right x-amz-checksum-crc32 ->", got[:3])
    if got[0] != 200:
        print("FAIL: a right checksum was refused")
        ok = False
    got = put(bucket, conf(EN + EXP + "<Filter/>"))
    status, code, msg, data = send("GET", "/" + bucket, "lifecycle", b"", {})
    ids = [e.text for e in ET.fromstring(data).iter("{http://s3.amazonaws.com/doc/2006-03-01/}ID")] if data else []
    print("a rule without an ID ->", got[:3], "then", status, ids)
    if got[0] != 200 or status != 200 or len(ids) != 1 or len(ids[0] or "") != 48:
        print("FAIL: S3 gives a rule without an ID one")
        ok = False
    got = put(bucket + "-none", good)
    print("no such bucket ->", got[:3])
    if got[0] != 404 or got[1] != "NoSuchBucket":
        print("FAIL: missing bucket")
        ok = False
    return ok


if __name__ == "__main__":
    sys.exit(0 if globals()["case_" + sys.argv[1]](*sys.argv[2:]) else 1)

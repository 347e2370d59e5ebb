"""s3edges.py — S3 edge cases where tgs3 must answer exactly as AWS S3 does.

Usage: s3edges.py CASE. Requests are raw and SigV4-signed (secreq.py) where the exact bytes,
status and error code matter, boto3 where a client's behaviour is the point. Each case prints
what it saw and exits 1 on any mismatch. The "modern" case needs a botocore that knows the
conditional-write and ListBuckets-paging parameters (2024+); the others run on any boto3.

Environment: S3_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, GW_DIR (the gateway's data
dir: the index is read, read-only, to check reference counts and the delete queue).
"""
import base64
import hashlib
import os
import re
import sqlite3
import sys
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import secreq  # noqa: E402
from secreq import bad, expect, request  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

URL = os.environ["S3_URL"]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MIB = 1024 * 1024


def s3():
    return boto3.client("s3", endpoint_url=URL, region_name="us-east-1",
                        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      signature_version="s3v4"))


def index(sql, *args):
    c = sqlite3.connect("file:%s/index.db?mode=ro" % os.environ["GW_DIR"], uri=True)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def client_err(fn, *a, **kw):
    """Runs a boto3 call expected to fail; returns (status, code)."""
    try:
        fn(*a, **kw)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    return 200, None


def want(got, status, code, what):
    print(what, "->", got)
    if got != (status, code):
        bad("%s: got %r, want %r" % (what, got, (status, code)))


def text(r, name):
    """Text of the first top-level element name of an XML reply (None when absent)."""
    el = ET.fromstring(r.body).find(NS + name)
    return None if el is None else (el.text or "")


def mpu(c, bucket, key, parts):
    """Creates an upload of key with the given part bodies; returns (upload id, [{PartNumber, ETag}])."""
    u = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for i, body in enumerate(parts, 1):
        e = c.upload_part(Bucket=bucket, Key=key, UploadId=u, PartNumber=i, Body=body)["ETag"]
        done.append({"PartNumber": i, "ETag": e})
    return u, done


def complete_xml(parts):
    return ("<CompleteMultipartUpload>" + "".join(
        "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (p["PartNumber"], p["ETag"]) for p in parts) +
        "</CompleteMultipartUpload>").encode()


# ---- DeleteBucket with only unfinished uploads ----

def case_delete_bucket():
    c = s3()
    c.create_bucket(Bucket="edges-db")
    u1, _ = mpu(c, "edges-db", "big1", [b"a" * 1000, b"b" * 2000])
    u2, _ = mpu(c, "edges-db", "big2", [b"c" * 3000])
    blocks = [r[0] for r in index("SELECT DISTINCT block_id FROM part_extents WHERE upload_id IN (?, ?)", u1, u2)]
    msgs = index("SELECT chat_id, message_id FROM blocks WHERE id IN (%s)" % ",".join("?" * len(blocks)), *blocks)
    refs = index("SELECT refcount FROM blocks WHERE id IN (%s)" % ",".join("?" * len(blocks)), *blocks)
    print("part blocks", blocks, "messages", msgs, "refcounts", refs)
    if len(blocks) < 3 or len(msgs) != len(blocks) or any(r[0] != 1 for r in refs):
        bad("each part should hold one block with one reference, got %r %r" % (blocks, refs))
    # An object keeps the bucket: 409 BucketNotEmpty, uploads untouched.
    c.put_object(Bucket="edges-db", Key="obj", Body=b"x")
    expect(request("DELETE", "/edges-db"), 409, "BucketNotEmpty", "DeleteBucket with an object")
    if index("SELECT count(*) FROM uploads WHERE bucket = 'edges-db'")[0][0] != 2:
        bad("a refused DeleteBucket touched the uploads")
    c.delete_object(Bucket="edges-db", Key="obj")
    # Only unfinished uploads: 204, and they are aborted as AbortMultipartUpload would.
    expect(request("DELETE", "/edges-db"), 204, None, "DeleteBucket with only unfinished uploads")
    want(client_err(c.head_bucket, Bucket="edges-db"), 404, "404", "HeadBucket after")
    left = index("SELECT (SELECT count(*) FROM uploads WHERE id IN (?1, ?2)),"
                 " (SELECT count(*) FROM parts WHERE upload_id IN (?1, ?2)),"
                 " (SELECT count(*) FROM part_extents WHERE upload_id IN (?1, ?2))", u1, u2)[0]
    print("uploads, parts, part_extents left", left)
    if left != (0, 0, 0):
        bad("uploads/parts/part_extents left behind: %r" % (left,))
    gone = index("SELECT count(*) FROM blocks WHERE id IN (%s)" % ",".join("?" * len(blocks)), *blocks)[0][0]
    if gone != 0:
        bad("%d part blocks still in the index" % gone)
    queued = index("SELECT chat_id, message_id FROM gc_queue")
    missing = [m for m in msgs if m not in queued]
    print("delete queue", queued)
    if missing:
        bad("part messages not on the delete queue: %r" % missing)
    want(client_err(c.list_parts, Bucket="edges-db", Key="big1", UploadId=u1), 404, "NoSuchUpload",
         "ListParts of an aborted upload")


# ---- CompleteMultipartUpload retried ----

def case_complete_retry():
    c = s3()
    c.create_bucket(Bucket="edges-cr")
    u, parts = mpu(c, "edges-cr", "obj", [b"p" * (5 * MIB), b"q" * 100])
    body = complete_xml(parts)
    path = "/edges-cr/obj"
    r1 = request("POST", path, [("uploadId", u)], body=body)
    expect(r1, 200, None, "Complete")
    r2 = request("POST", path, [("uploadId", u)], body=body)
    expect(r2, 200, None, "Complete again (a retry after a lost answer)")
    if r1 and r2:
        for el in ("Location", "Bucket", "Key", "ETag"):
            a, b = text(r1, el), text(r2, el)
            print(el, a, b)
            if a != b or a is None:
                bad("retried Complete: %s %r, first answer %r" % (el, b, a))
        etag = text(r1, "ETag")
        if not re.fullmatch(r'"[0-9a-f]{32}-2"', etag or ""):
            bad("multipart ETag %r" % etag)
    # boto3 retrying the same way gets the same answer.
    got = c.complete_multipart_upload(Bucket="edges-cr", Key="obj", UploadId=u, MultipartUpload={"Parts": parts})
    if r1 and got["ETag"] != text(r1, "ETag"):
        bad("boto3 retry ETag %r" % got["ETag"])
    # Not for another key, nor an id never seen.
    expect(request("POST", "/edges-cr/other", [("uploadId", u)], body=body), 404, "NoSuchUpload",
           "Complete of the upload under another key")
    expect(request("POST", path, [("uploadId", "0123456789abcdef0123456789abcdef")], body=body), 404,
           "NoSuchUpload", "Complete of an upload id never seen")
    # Once the object is no longer the upload's (overwritten), the retry is NoSuchUpload.
    c.put_object(Bucket="edges-cr", Key="obj", Body=b"new")
    expect(request("POST", path, [("uploadId", u)], body=body), 404, "NoSuchUpload",
           "Complete retried after the object was overwritten")
    # A second upload completed, then deleted: its retry is NoSuchUpload too.
    u2, parts2 = mpu(c, "edges-cr", "obj2", [b"z" * 10])
    expect(request("POST", "/edges-cr/obj2", [("uploadId", u2)], body=complete_xml(parts2)), 200, None,
           "Complete of a one-part upload")
    c.delete_object(Bucket="edges-cr", Key="obj2")
    expect(request("POST", "/edges-cr/obj2", [("uploadId", u2)], body=complete_xml(parts2)), 404,
           "NoSuchUpload", "Complete retried after the object was deleted")
    # Abort of a completed upload stays NoSuchUpload.
    expect(request("DELETE", path, [("uploadId", u)]), 404, "NoSuchUpload", "Abort of a completed upload")


# ---- sub-resources the router does not know ----

def case_subresource():
    c = s3()
    c.create_bucket(Bucket="edges-sr")
    c.put_object(Bucket="edges-sr", Key="k", Body=b"hello")
    for method, path, q in [("GET", "/edges-sr/k", "lineage"), ("GET", "/edges-sr/k", "frobnicate"),
                            ("GET", "/edges-sr/k", "renameObject"), ("PUT", "/edges-sr/k", "unknownThing"),
                            ("DELETE", "/edges-sr/k", "session"), ("GET", "/edges-sr", "metadataTable"),
                            ("GET", "/edges-sr", "foo=bar&prefix=k"), ("POST", "/edges-sr/k", "whatever")]:
        expect(request(method, path, [(kv.split("=")[0], kv.partition("=")[2]) for kv in q.split("&")]), 501,
               "NotImplemented", "%s %s?%s" % (method, path, q))
    r = request("HEAD", "/edges-sr/k", [("frobnicate", "1")])
    expect(r, 501, None, "HEAD with an unknown sub-resource")
    # Nothing was changed by those: the object is as it was.
    if c.get_object(Bucket="edges-sr", Key="k")["Body"].read() != b"hello":
        bad("the object changed")
    # Parameters operations read, and those clients add, still work.
    r = request("GET", "/edges-sr/k", [("x-id", "GetObject"), ("response-content-type", "text/x-edge"),
                                       ("versionId", "null")])
    if expect(r, 200, None, "GetObject with x-id, response-*, versionId") and \
            (r.body != b"hello" or r.headers.get("content-type") != "text/x-edge"):
        bad("GetObject with known parameters: %r" % r)
    r = request("GET", "/edges-sr", [("list-type", "2"), ("prefix", "k"), ("delimiter", "/"), ("max-keys", "5"),
                                     ("encoding-type", "url"), ("fetch-owner", "true"), ("start-after", ""),
                                     ("x-id", "ListObjectsV2")])
    if expect(r, 200, None, "ListObjectsV2 with every parameter") and b"<Key>k</Key>" not in r.body:
        bad("listing misses k")
    expect(request("GET", "/", [("max-buckets", "5"), ("prefix", "edges"), ("bucket-region", "us-east-1"),
                                ("x-id", "ListBuckets")]), 200, None, "ListBuckets with its parameters")
    url = c.generate_presigned_url("get_object", Params={"Bucket": "edges-sr", "Key": "k"}, ExpiresIn=300)
    with urllib.request.urlopen(url, timeout=30) as resp:
        if resp.read() != b"hello":
            bad("presigned GET")
    u = c.create_multipart_upload(Bucket="edges-sr", Key="m")["UploadId"]
    c.list_parts(Bucket="edges-sr", Key="m", UploadId=u, MaxParts=2, PartNumberMarker=0)
    c.list_multipart_uploads(Bucket="edges-sr", MaxUploads=2, KeyMarker="a", Prefix="m")
    c.abort_multipart_upload(Bucket="edges-sr", Key="m", UploadId=u)


# ---- listings: encoding-type=url encodes the echoed parameters, raw otherwise ----

def case_listing_encoding():
    c = s3()
    c.create_bucket(Bucket="edges-le")
    for k in ("a b/c d", "a b/e", "a b/sub dir/x", "z"):
        c.put_object(Bucket="edges-le", Key=k, Body=b"1")
    base = [("prefix", "a b/"), ("delimiter", " d"), ("max-keys", "1")]
    # V1: Prefix, Marker, Delimiter, NextMarker, Key.
    r = request("GET", "/edges-le", base + [("marker", "a b/")])
    if expect(r, 200, None, "ListObjects raw"):
        got = (text(r, "Prefix"), text(r, "Marker"), text(r, "Delimiter"), text(r, "NextMarker"),
               text(r, "EncodingType"))
        print("V1 raw", got)
        if got != ("a b/", "a b/", " d", "a b/c d", None):
            bad("V1 without encoding-type: %r" % (got,))
        if b"<Prefix>a b/c d</Prefix>" not in r.body:
            bad("V1 common prefix not raw")
    r = request("GET", "/edges-le", base + [("marker", "a b/"), ("encoding-type", "url")])
    if expect(r, 200, None, "ListObjects encoding-type=url"):
        got = (text(r, "Prefix"), text(r, "Marker"), text(r, "Delimiter"), text(r, "NextMarker"),
               text(r, "EncodingType"))
        print("V1 url", got)
        if got != ("a%20b/", "a%20b/", "%20d", "a%20b/c%20d", "url"):
            bad("V1 with encoding-type=url: %r" % (got,))
    # V2: Prefix, Delimiter, StartAfter, Key (ContinuationToken is opaque, never encoded).
    v2 = [("list-type", "2"), ("prefix", "a b/"), ("delimiter", "/"), ("start-after", "a b/c d")]
    r = request("GET", "/edges-le", v2)
    if expect(r, 200, None, "ListObjectsV2 raw"):
        got = (text(r, "Prefix"), text(r, "Delimiter"), text(r, "StartAfter"))
        print("V2 raw", got)
        if got != ("a b/", "/", "a b/c d") or b"<Key>a b/e</Key>" not in r.body:
            bad("V2 without encoding-type: %r %r" % (got, r.body))
    r = request("GET", "/edges-le", v2 + [("encoding-type", "url")])
    if expect(r, 200, None, "ListObjectsV2 encoding-type=url"):
        got = (text(r, "Prefix"), text(r, "Delimiter"), text(r, "StartAfter"))
        print("V2 url", got)
        if got != ("a%20b/", "/", "a%20b/c%20d") or b"<Key>a%20b/e</Key>" not in r.body or \
                b"<Prefix>a%20b/sub%20dir/</Prefix>" not in r.body:
            bad("V2 with encoding-type=url: %r %r" % (got, r.body))
    # boto3 decodes what it asked to be encoded: the keys come back as stored.
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="edges-le", Prefix="a b/")["Contents"]]
    if keys != ["a b/c d", "a b/e", "a b/sub dir/x"]:
        bad("boto3 listing %r" % keys)


# ---- aws-chunked is never the stored Content-Encoding ----

def case_content_encoding():
    c = s3()
    c.create_bucket(Bucket="edges-ce")
    for sent, stored in [("gzip, aws-chunked", "gzip"), ("aws-chunked", None), ("aws-chunked,br", "br"),
                         ("gzip", "gzip")]:
        k = "k-" + hashlib.md5(sent.encode()).hexdigest()[:8]
        expect(request("PUT", "/edges-ce/" + k, body=b"data", headers={"content-encoding": sent}), 200, None,
               "PUT Content-Encoding %r" % sent)
        got = c.head_object(Bucket="edges-ce", Key=k).get("ContentEncoding")
        print(repr(sent), "stored as", repr(got))
        if got != stored:
            bad("Content-Encoding %r stored as %r, want %r" % (sent, got, stored))
    # A real aws-chunked upload (signed chunks) with gzip: the same.
    body = b"x" * 1000
    secreq_chunked_put("/edges-ce/chunked", body, "gzip")
    got = c.head_object(Bucket="edges-ce", Key="chunked")
    print("aws-chunked upload:", got.get("ContentEncoding"), got["ContentLength"])
    if got.get("ContentEncoding") != "gzip" or got["ContentLength"] != len(body):
        bad("aws-chunked upload stored Content-Encoding %r" % got.get("ContentEncoding"))


def secreq_chunked_put(path, body, encoding):
    """One STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT, Content-Encoding "<encoding>, aws-chunked"."""
    import hmac
    t = time.time()
    d = secreq.amz_date(t)
    scope = "%s/us-east-1/s3/aws4_request" % d[:8]
    hdr = {"content-encoding": encoding + ", aws-chunked", "x-amz-decoded-content-length": str(len(body))}
    chunks = [body, b""]
    framed_len = sum(len("%x;chunk-signature=%s\r\n" % (len(ch), "0" * 64)) + len(ch) + 2 for ch in chunks)
    hdr["content-length"] = str(framed_len)
    _, h = secreq.sign("PUT", path, (), hdr, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", t=t)
    prev = h["authorization"].rsplit("Signature=", 1)[1]
    key = secreq.signing_key(secreq.A[1], d[:8], "us-east-1", "s3")
    out = b""
    for ch in chunks:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", d, scope, prev, hashlib.sha256(b"").hexdigest(),
                         hashlib.sha256(ch).hexdigest()])
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += b"%x;chunk-signature=%s\r\n" % (len(ch), prev.encode()) + ch + b"\r\n"
    conn = secreq.Conn()
    conn.send(secreq.head_bytes("PUT", path, "", h) + out)
    r = conn.reply()
    conn.close()
    expect(r, 200, None, "aws-chunked PUT")


# ---- partNumber, checksum headers, UploadPartCopy ranges, part order ----

def case_part_number():
    c = s3()
    c.create_bucket(Bucket="edges-pn")
    u, parts = mpu(c, "edges-pn", "mp", [b"a" * (5 * MIB), b"b" * 10])
    c.complete_multipart_upload(Bucket="edges-pn", Key="mp", UploadId=u, MultipartUpload={"Parts": parts})
    c.put_object(Bucket="edges-pn", Key="single", Body=b"one")
    # AWS: GetObject/HeadObject with a partNumber past the object's parts answers
    # 416 InvalidPartNumber "The requested partnumber is not satisfiable" (what S3 answers;
    # MinIO's error table copies it as ErrInvalidPartNumber).
    r = request("GET", "/edges-pn/mp", [("partNumber", "3")])
    if expect(r, 416, "InvalidPartNumber", "GET partNumber=3 of a 2-part object") and \
            r.message() != "The requested partnumber is not satisfiable":
        bad("message %r" % r.message())
    expect(request("HEAD", "/edges-pn/mp", [("partNumber", "3")]), 416, None, "HEAD partNumber=3")
    expect(request("GET", "/edges-pn/single", [("partNumber", "2")]), 416, "InvalidPartNumber",
           "GET partNumber=2 of a simple object")
    r = request("GET", "/edges-pn/single", [("partNumber", "1")])
    if r is None or r.status not in (200, 206) or r.body != b"one":
        bad("GET partNumber=1 of a simple object: %s" % r)
    r = request("GET", "/edges-pn/mp", [("partNumber", "2")])
    if expect(r, 206, None, "GET partNumber=2") and (r.body != b"b" * 10 or r.headers.get("x-amz-mp-parts-count") != "2"):
        bad("part 2: %r" % r)
    expect(request("GET", "/edges-pn/mp", [("partNumber", "0")]), 400, "InvalidArgument", "partNumber=0")
    expect(request("GET", "/edges-pn/mp", [("partNumber", "10001")]), 400, "InvalidArgument", "partNumber=10001")
    want(client_err(c.head_object, Bucket="edges-pn", Key="mp", PartNumber=3), 416, "416", "boto3 HEAD PartNumber=3")
    want(client_err(c.get_object, Bucket="edges-pn", Key="mp", PartNumber=3), 416, "InvalidPartNumber",
         "boto3 GET PartNumber=3")


def case_checksum():
    c = s3()
    c.create_bucket(Bucket="edges-ck")
    body = b"checksummed"
    good = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    for alg, val in [("crc32", "!!!!"), ("crc32", "AAAA"), ("crc32", "AAAAAAAA"), ("crc32c", "not base64"),
                     ("sha256", base64.b64encode(b"\0" * 20).decode()), ("sha1", "")]:
        r = request("PUT", "/edges-ck/k", body=body, headers={"x-amz-checksum-" + alg: val})
        if expect(r, 400, "InvalidRequest", "PUT x-amz-checksum-%s: %r" % (alg, val)) and \
                r.message() != "Value for x-amz-checksum-%s header is invalid." % alg:
            bad("message %r" % r.message())
    if c.list_objects_v2(Bucket="edges-ck").get("KeyCount") != 0:
        bad("a refused PUT stored an object")
    # Well formed but wrong: 400 BadDigest; right: stored.
    expect(request("PUT", "/edges-ck/k", body=body, headers={"x-amz-checksum-crc32": "AAAAAA=="}), 400, "BadDigest",
           "PUT with a wrong crc32")
    expect(request("PUT", "/edges-ck/k", body=body, headers={"x-amz-checksum-crc32": good}), 200, None,
           "PUT with the right crc32")
    u = c.create_multipart_upload(Bucket="edges-ck", Key="mp")["UploadId"]
    r = request("PUT", "/edges-ck/mp", [("partNumber", "1"), ("uploadId", u)], body=body,
                headers={"x-amz-checksum-sha1": "xyz"})
    if expect(r, 400, "InvalidRequest", "UploadPart with a malformed sha1") and \
            r.message() != "Value for x-amz-checksum-sha1 header is invalid.":
        bad("message %r" % r.message())
    c.abort_multipart_upload(Bucket="edges-ck", Key="mp", UploadId=u)


def case_part_copy_range():
    c = s3()
    c.create_bucket(Bucket="edges-pc")
    c.put_object(Bucket="edges-pc", Key="src", Body=b"0123456789")
    u = c.create_multipart_upload(Bucket="edges-pc", Key="dst")["UploadId"]
    q = [("partNumber", "1"), ("uploadId", u)]
    # Observed on AWS (versitygw#610, s3proxy#304, ceph s3-tests test_multipart_copy_improper_range):
    # a malformed range is 400 InvalidArgument "The x-amz-copy-source-range value must be of the
    # form bytes=first-last…"; one past the source's end is 400 InvalidArgument "Range specified is
    # not valid for source object of size: N".
    for rg in ["0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=hello-", "bytes=0-2,3-5", "bytes=5-2"]:
        r = request("PUT", "/edges-pc/dst", q, headers={"x-amz-copy-source": "/edges-pc/src",
                                                        "x-amz-copy-source-range": rg})
        if expect(r, 400, "InvalidArgument", "UploadPartCopy range %r" % rg) and \
                not (r.message() or "").startswith("The x-amz-copy-source-range value must be of the form"):
            bad("message %r" % r.message())
    for rg in ["bytes=0-10", "bytes=0-21", "bytes=10-10"]:
        r = request("PUT", "/edges-pc/dst", q, headers={"x-amz-copy-source": "/edges-pc/src",
                                                        "x-amz-copy-source-range": rg})
        if expect(r, 400, "InvalidArgument", "UploadPartCopy range %r of a 10-byte source" % rg) and \
                r.message() != "Range specified is not valid for source object of size: 10":
            bad("message %r" % r.message())
    if c.list_parts(Bucket="edges-pc", Key="dst", UploadId=u).get("Parts"):
        bad("a refused UploadPartCopy stored a part")
    r = c.upload_part_copy(Bucket="edges-pc", Key="dst", UploadId=u, PartNumber=1,
                           CopySource={"Bucket": "edges-pc", "Key": "src"}, CopySourceRange="bytes=2-5")
    c.complete_multipart_upload(Bucket="edges-pc", Key="dst", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    if c.get_object(Bucket="edges-pc", Key="dst")["Body"].read() != b"2345":
        bad("copied range")


def case_part_order():
    c = s3()
    c.create_bucket(Bucket="edges-po")
    u, parts = mpu(c, "edges-po", "mp", [b"a" * (5 * MIB), b"b" * 10])
    for what, lst in [("out of order", [parts[1], parts[0]]), ("duplicate", [parts[0], parts[0], parts[1]]),
                      ("duplicate last", [parts[0], parts[1], parts[1]])]:
        r = request("POST", "/edges-po/mp", [("uploadId", u)], body=complete_xml(lst))
        expect(r, 400, "InvalidPartOrder", "Complete with parts %s" % what)
    want(client_err(c.complete_multipart_upload, Bucket="edges-po", Key="mp", UploadId=u,
                    MultipartUpload={"Parts": [parts[1], parts[0]]}), 400, "InvalidPartOrder", "boto3 Complete 2,1")
    # The upload survives those and completes.
    c.complete_multipart_upload(Bucket="edges-po", Key="mp", UploadId=u, MultipartUpload={"Parts": parts})


# ---- ListBuckets paging ----

PAGED = ["pg-%02d" % i for i in range(30)]


def case_list_buckets():
    c = s3()
    for b in PAGED:
        c.create_bucket(Bucket=b)
    c.create_bucket(Bucket="zz-other")
    for v in ["0", "10001", "-1", "x", ""]:
        expect(request("GET", "/", [("max-buckets", v)]), 400, "InvalidArgument", "max-buckets=%r" % v)
    expect(request("GET", "/", [("continuation-token", "!!notbase64")]), 400, "InvalidArgument",
           "a garbled continuation-token")
    seen, token, pages = [], None, 0
    while True:
        q = [("max-buckets", "7"), ("prefix", "pg-")] + ([("continuation-token", token)] if token else [])
        r = request("GET", "/", q)
        if not expect(r, 200, None, "ListBuckets page %d" % pages):
            return
        names = [e.text for e in ET.fromstring(r.body).iter(NS + "Name")]
        token = text(r, "ContinuationToken")
        if text(r, "Prefix") != "pg-":
            bad("Prefix not echoed: %r" % text(r, "Prefix"))
        print("page", pages, names, "token", token)
        seen += names
        pages += 1
        if len(names) > 7 or (token is None) != (len(seen) == 30) or pages > 6:
            bad("page %d: %d names, token %r" % (pages, len(names), token))
            break
        if token is None:
            break
    if seen != PAGED or pages != 5:
        bad("paged listing %r in %d pages" % (seen, pages))
    r = request("GET", "/", [("max-buckets", "30"), ("prefix", "pg-")])
    if expect(r, 200, None, "all 30 in one page") and text(r, "ContinuationToken") is not None:
        bad("a complete page carries a ContinuationToken")
    r = request("GET", "/", [("bucket-region", "eu-west-3")])
    if expect(r, 200, None, "bucket-region of another region") and b"<Bucket>" in r.body:
        bad("buckets listed for another region")
    r = request("GET", "/", [("bucket-region", "us-east-1"), ("prefix", "zz-")])
    if expect(r, 200, None, "bucket-region us-east-1") and \
            [e.text for e in ET.fromstring(r.body).iter(NS + "Name")] != ["zz-other"]:
        bad("bucket-region us-east-1 with prefix zz-: %r" % r.body)
    # Without paging parameters: every bucket, no token (what older clients expect).
    r = request("GET", "/")
    if expect(r, 200, None, "ListBuckets plain") and (text(r, "ContinuationToken") is not None or
                                                      len(list(ET.fromstring(r.body).iter(NS + "Name"))) < 31):
        bad("plain ListBuckets")


# ---- conditional writes and deletes, raw ----

def case_conditional():
    c = s3()
    c.create_bucket(Bucket="edges-cw")
    B = "/edges-cw/"
    # PutObject If-None-Match: * creates once; AWS accepts only "*" there (an ETag: 501).
    expect(request("PUT", B + "k", body=b"v1", headers={"if-none-match": "*"}), 200, None, "PUT If-None-Match * (new)")
    expect(request("PUT", B + "k", body=b"v2", headers={"if-none-match": "*"}), 412, "PreconditionFailed",
           "PUT If-None-Match * (exists)")
    expect(request("PUT", B + "k", body=b"v2", headers={"if-none-match": '"abc"'}), 501, "NotImplemented",
           "PUT If-None-Match with an ETag")
    etag = c.head_object(Bucket="edges-cw", Key="k")["ETag"]
    if etag != '"%s"' % hashlib.md5(b"v1").hexdigest():
        bad("v1 was overwritten: %s" % etag)
    # PutObject If-Match: the current ETag writes; another 412; no object 404 NoSuchKey.
    expect(request("PUT", B + "k", body=b"v2", headers={"if-match": '"0123"'}), 412, "PreconditionFailed",
           "PUT If-Match (other ETag)")
    expect(request("PUT", B + "k", body=b"v2", headers={"if-match": etag}), 200, None, "PUT If-Match (current)")
    expect(request("PUT", B + "nokey", body=b"v", headers={"if-match": etag}), 404, "NoSuchKey",
           "PUT If-Match (no object)")
    # CompleteMultipartUpload: the same conditions, decided when it commits.
    u, parts = mpu(c, "edges-cw", "k", [b"m" * 10])
    expect(request("POST", B + "k", [("uploadId", u)], body=complete_xml(parts), headers={"if-none-match": "*"}),
           412, "PreconditionFailed", "Complete If-None-Match * (exists)")
    expect(request("POST", B + "k", [("uploadId", u)], body=complete_xml(parts), headers={"if-match": '"0123"'}),
           412, "PreconditionFailed", "Complete If-Match (other ETag)")
    e2 = c.head_object(Bucket="edges-cw", Key="k")["ETag"]
    expect(request("POST", B + "k", [("uploadId", u)], body=complete_xml(parts), headers={"if-match": e2}), 200,
           None, "Complete If-Match (current)")
    u, parts = mpu(c, "edges-cw", "fresh", [b"f" * 10])
    expect(request("POST", B + "fresh", [("uploadId", u)], body=complete_xml(parts), headers={"if-none-match": "*"}),
           200, None, "Complete If-None-Match * (new)")
    # DeleteObject If-Match (general purpose buckets accept it): 412 on another ETag, the
    # object stays; the current ETag or "*" deletes; no object: 404 NoSuchKey.
    e3 = c.head_object(Bucket="edges-cw", Key="k")["ETag"]
    expect(request("DELETE", B + "k", headers={"if-match": '"0123"'}), 412, "PreconditionFailed",
           "DELETE If-Match (other ETag)")
    if c.head_object(Bucket="edges-cw", Key="k")["ETag"] != e3:
        bad("a failed conditional delete removed the object")
    expect(request("DELETE", B + "k", headers={"if-match": e3}), 204, None, "DELETE If-Match (current)")
    want(client_err(c.head_object, Bucket="edges-cw", Key="k"), 404, "404", "HEAD after the conditional delete")
    expect(request("DELETE", B + "k", headers={"if-match": "*"}), 404, "NoSuchKey", "DELETE If-Match * (no object)")
    expect(request("DELETE", B + "fresh", headers={"if-match": "*"}), 204, None, "DELETE If-Match * (exists)")
    # Directory-bucket-only conditions: not evaluated by general purpose buckets, never ignored.
    c.put_object(Bucket="edges-cw", Key="d", Body=b"d")
    expect(request("DELETE", B + "d", headers={"x-amz-if-match-size": "1"}), 501, "NotImplemented",
           "DELETE x-amz-if-match-size")
    expect(request("DELETE", B + "d", headers={"x-amz-if-match-last-modified-time": "Tue, 01 Dec 2026 00:00:00 GMT"}),
           501, "NotImplemented", "DELETE x-amz-if-match-last-modified-time")
    c.head_object(Bucket="edges-cw", Key="d")
    # DeleteObjects: a per-key <ETag>; a mismatch is that key's <Error> PreconditionFailed.
    for k in ("m1", "m2", "m3"):
        c.put_object(Bucket="edges-cw", Key=k, Body=k.encode())
    e1 = c.head_object(Bucket="edges-cw", Key="m1")["ETag"]
    body = ("<Delete><Object><Key>m1</Key><ETag>%s</ETag></Object>"
            "<Object><Key>m2</Key><ETag>\"0123\"</ETag></Object>"
            "<Object><Key>m3</Key></Object>"
            "<Object><Key>gone</Key><ETag>*</ETag></Object></Delete>" % e1).encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = request("POST", "/edges-cw", [("delete", "")], body=body, headers={"content-md5": md5})
    if expect(r, 200, None, "DeleteObjects with ETags"):
        root = ET.fromstring(r.body)
        deleted = sorted(e.find(NS + "Key").text for e in root.iter(NS + "Deleted"))
        errors = sorted((e.find(NS + "Key").text, e.find(NS + "Code").text) for e in root.iter(NS + "Error"))
        print("deleted", deleted, "errors", errors)
        if deleted != ["m1", "m3"] or errors != [("gone", "NoSuchKey"), ("m2", "PreconditionFailed")]:
            bad("DeleteObjects outcome %r %r" % (deleted, errors))
    left = sorted(o["Key"] for o in c.list_objects_v2(Bucket="edges-cw").get("Contents", []))
    if left != ["d", "m2"]:
        bad("left after DeleteObjects: %r" % left)


# ---- the same with a botocore that knows the parameters ----

def case_modern():
    c = s3()
    c.create_bucket(Bucket="edges-mo")
    c.put_object(Bucket="edges-mo", Key="k", Body=b"1", IfNoneMatch="*")
    want(client_err(c.put_object, Bucket="edges-mo", Key="k", Body=b"2", IfNoneMatch="*"), 412,
         "PreconditionFailed", "put_object(IfNoneMatch='*') of an existing key")
    etag = c.head_object(Bucket="edges-mo", Key="k")["ETag"]
    want(client_err(c.delete_object, Bucket="edges-mo", Key="k", IfMatch='"0123"'), 412, "PreconditionFailed",
         "delete_object(IfMatch=other)")
    c.delete_object(Bucket="edges-mo", Key="k", IfMatch=etag)
    want(client_err(c.head_object, Bucket="edges-mo", Key="k"), 404, "404", "deleted")
    u = c.create_multipart_upload(Bucket="edges-mo", Key="mp")["UploadId"]
    e = c.upload_part(Bucket="edges-mo", Key="mp", UploadId=u, PartNumber=1, Body=b"p")["ETag"]
    c.complete_multipart_upload(Bucket="edges-mo", Key="mp", UploadId=u, IfNoneMatch="*",
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    c.put_object(Bucket="edges-mo", Key="x", Body=b"x")
    got = c.delete_objects(Bucket="edges-mo", Delete={"Objects": [{"Key": "x", "ETag": '"0123"'}]})
    print(got.get("Errors"))
    if [(x["Key"], x["Code"]) for x in got.get("Errors", [])] != [("x", "PreconditionFailed")]:
        bad("delete_objects with a wrong ETag: %r" % got)
    # list_buckets paging through the 30 buckets of the list_buckets case.
    seen, kw = [], {"MaxBuckets": 4, "Prefix": "pg-"}
    while True:
        page = c.list_buckets(**kw)
        seen += [b["Name"] for b in page["Buckets"]]
        if page.get("Prefix") != "pg-":
            bad("Prefix %r" % page.get("Prefix"))
        if "ContinuationToken" not in page:
            break
        kw["ContinuationToken"] = page["ContinuationToken"]
    print("boto3 paged", len(seen))
    if seen != PAGED:
        bad("boto3 list_buckets paging: %r" % seen)
    seen = [b["Name"] for p in c.get_paginator("list_buckets").paginate(Prefix="pg-", PaginationConfig={"PageSize": 8})
            for b in p["Buckets"]]
    if seen != PAGED:
        bad("boto3 list_buckets paginator: %r" % seen)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: s3edges.py {%s}" % "|".join(CASES))
    CASES[sys.argv[1]]()
    print("ok" if secreq.OK[0] else "FAILED")
    sys.exit(0 if secreq.OK[0] else 1)

#!/usr/bin/env python3
"""test_checksums.py — multipart checksums and GetObjectAttributes against tgs3, with boto3.

Needs a botocore that knows ChecksumType and CRC64NVME (1.36+; the pyenv python3 has one).
Every expected value is computed here independently: zlib.crc32, and table-driven CRC32C and
CRC64NVME in crcref.py, hashlib for SHA-1/SHA-256. Run by test_checksums.sh with S3_URL,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; prints "ok - NAME" / "not ok - NAME" per test
and a last line "N passed, N failed".
"""
import base64
import hashlib
import os
import struct
import sys
import traceback
import zlib

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from crcref import Crc

URL = os.environ["S3_URL"]
PASSED = FAILED = 0
B = "cks"
MIB = 1024 * 1024


def client(calc="when_supported"):
    return boto3.client(
        "s3", endpoint_url=URL, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4",
                      request_checksum_calculation=calc, response_checksum_validation="when_supported"))


s3 = client()
s3_plain = client("when_required")  # sends a checksum only when told to


def test(fn):
    global PASSED, FAILED
    try:
        fn()
        PASSED += 1
        print(f"ok - {fn.__name__}", flush=True)
    except Exception:  # noqa: BLE001 — every failure is reported, the run goes on
        FAILED += 1
        print(f"not ok - {fn.__name__}", flush=True)
        for line in traceback.format_exc().splitlines()[-12:]:
            print(f"#   {line}", flush=True)
    return fn


def err(code, status, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except ClientError as e:
        got = (e.response["Error"].get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, status), f"want {(code, status)}, got {got}: {e.response['Error']}"
        return e
    raise AssertionError(f"expected {code} {status}, call succeeded")


# ---- independent checksums (crcref.py) ----------------------------------------------------

def b64(raw):
    return base64.b64encode(raw).decode()


ALGS = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]
KEY = {a: "Checksum" + a.upper() for a in ALGS}
P1 = bytes((i * 7 + (i >> 11)) & 0xFF for i in range(5 * MIB))  # a full-size first part
P2 = os.urandom(100 * 1024 + 7)
# The checksum of P1 per algorithm (state kept, so P1 || P2 continues from it).
P1_STATE = {a: Crc(a).update(P1) for a in ALGS}


def part_kw(alg, data, state=None):
    """UploadPart's checksum arguments: botocore computes CRC32, SHA-1 and SHA-256 itself (header or
    aws-chunked trailer); CRC32C and CRC64NVME need awscrt there, so their value is given, computed here."""
    if alg in ("crc32", "sha1", "sha256"):
        return {"ChecksumAlgorithm": alg.upper()}
    return {KEY[alg]: (state or Crc(alg).update(data)).b64()}


def expected(alg, full):
    """(part checksums, object checksum) of P1, P2 for alg and type, computed here."""
    c1 = P1_STATE[alg]
    c2 = Crc(alg).update(P2)
    if full:
        whole = c1.copy().update(P2).b64()
    else:
        whole = b64(Crc(alg).update(c1.digest() + c2.digest()).digest()) + "-2"
    return [c1.b64(), c2.b64()], whole


# ---- tests -----------------------------------------------------------------------------------

@test
def setup_bucket():
    s3.create_bucket(Bucket=B)


def round_trip(alg, ctype):
    key = f"mp-{alg}-{ctype}"
    full = ctype == "FULL_OBJECT"
    parts_want, whole = expected(alg, full)
    up = s3.create_multipart_upload(Bucket=B, Key=key, ChecksumAlgorithm=alg.upper(), ChecksumType=ctype)
    assert up["ChecksumAlgorithm"] == alg.upper() and up["ChecksumType"] == ctype, up
    uid = up["UploadId"]
    got = []
    for n, data in ((1, P1), (2, P2)):
        r = s3.upload_part(Bucket=B, Key=key, UploadId=uid, PartNumber=n, Body=data,
                           **part_kw(alg, data, P1_STATE[alg] if n == 1 else None))
        assert r[KEY[alg]] == parts_want[n - 1], (r.get(KEY[alg]), parts_want[n - 1])
        got.append({"PartNumber": n, "ETag": r["ETag"], KEY[alg]: r[KEY[alg]]})
    lp = s3.list_parts(Bucket=B, Key=key, UploadId=uid)
    assert lp["ChecksumAlgorithm"] == alg.upper() and lp["ChecksumType"] == ctype, lp
    assert [p[KEY[alg]] for p in lp["Parts"]] == parts_want, lp["Parts"]
    kw = {KEY[alg]: whole, "ChecksumType": ctype} if full else {}
    c = s3.complete_multipart_upload(Bucket=B, Key=key, UploadId=uid, MultipartUpload={"Parts": got}, **kw)
    assert c[KEY[alg]] == whole and c["ChecksumType"] == ctype, (c.get(KEY[alg]), whole, c.get("ChecksumType"))
    h = s3.head_object(Bucket=B, Key=key, ChecksumMode="ENABLED")
    assert h[KEY[alg]] == whole and h["ChecksumType"] == ctype, h
    assert KEY[alg] not in s3.head_object(Bucket=B, Key=key), "checksum without checksum mode"
    g = s3.get_object(Bucket=B, Key=key, ChecksumMode="ENABLED")
    assert g[KEY[alg]] == whole and g["ChecksumType"] == ctype
    assert g["Body"].read() == P1 + P2
    rg = s3.get_object(Bucket=B, Key=key, ChecksumMode="ENABLED", Range="bytes=0-9")
    assert KEY[alg] not in rg and rg["Body"].read() == P1[:10], "a ranged GET has no whole-object checksum"
    pg = s3.head_object(Bucket=B, Key=key, ChecksumMode="ENABLED", PartNumber=2)
    assert KEY[alg] not in pg and pg["ContentLength"] == len(P2)


COMBOS = [("crc32", "COMPOSITE"), ("crc32", "FULL_OBJECT"), ("crc32c", "COMPOSITE"), ("crc32c", "FULL_OBJECT"),
          ("crc64nvme", "FULL_OBJECT"), ("sha1", "COMPOSITE"), ("sha256", "COMPOSITE")]
for _alg, _ctype in COMBOS:
    def _rt(a=_alg, t=_ctype):
        round_trip(a, t)
    _rt.__name__ = f"round_trip_{_alg}_{_ctype.lower()}"
    test(_rt)


@test
def default_type_of_crc64nvme_is_full_object():
    up = s3.create_multipart_upload(Bucket=B, Key="dflt", ChecksumAlgorithm="CRC64NVME")
    assert up["ChecksumType"] == "FULL_OBJECT", up
    up2 = s3.create_multipart_upload(Bucket=B, Key="dflt", ChecksumAlgorithm="SHA1")
    assert up2["ChecksumType"] == "COMPOSITE", up2
    for u in (up, up2):
        s3.abort_multipart_upload(Bucket=B, Key="dflt", UploadId=u["UploadId"])


@test
def combinations_aws_refuses():
    e = err("InvalidRequest", 400, s3.create_multipart_upload, Bucket=B, Key="x", ChecksumAlgorithm="SHA256",
            ChecksumType="FULL_OBJECT")
    assert "FULL_OBJECT" in e.response["Error"]["Message"]
    err("InvalidRequest", 400, s3.create_multipart_upload, Bucket=B, Key="x", ChecksumAlgorithm="CRC64NVME",
        ChecksumType="COMPOSITE")
    err("InvalidRequest", 400, s3.create_multipart_upload, Bucket=B, Key="x", ChecksumType="COMPOSITE")
    assert s3.list_multipart_uploads(Bucket=B, Prefix="x").get("Uploads", []) == []


@test
def part_without_the_uploads_checksum():
    uid = s3.create_multipart_upload(Bucket=B, Key="nock", ChecksumAlgorithm="CRC32C")["UploadId"]
    e = err("InvalidRequest", 400, s3_plain.upload_part, Bucket=B, Key="nock", UploadId=uid, PartNumber=1,
            Body=b"abc")
    assert "expected checksum Type: crc32c" in e.response["Error"]["Message"], e.response["Error"]
    err("InvalidRequest", 400, s3.upload_part, Bucket=B, Key="nock", UploadId=uid, PartNumber=1, Body=b"abc",
        ChecksumAlgorithm="SHA1")
    assert s3.list_parts(Bucket=B, Key="nock", UploadId=uid).get("Parts", []) == []
    r = s3.upload_part(Bucket=B, Key="nock", UploadId=uid, PartNumber=1, Body=b"abc", **part_kw("crc32c", b"abc"))
    assert r["ChecksumCRC32C"] == Crc("crc32c").update(b"abc").b64()
    s3.abort_multipart_upload(Bucket=B, Key="nock", UploadId=uid)


@test
def part_checksum_header_value_is_verified():
    uid = s3.create_multipart_upload(Bucket=B, Key="badpart", ChecksumAlgorithm="CRC32")["UploadId"]
    err("BadDigest", 400, s3_plain.upload_part, Bucket=B, Key="badpart", UploadId=uid, PartNumber=1, Body=b"abc",
        ChecksumCRC32=b64(struct.pack(">I", zlib.crc32(b"abd"))))
    s3.abort_multipart_upload(Bucket=B, Key="badpart", UploadId=uid)


def two_part_upload(key, alg, ctype):
    uid = s3.create_multipart_upload(Bucket=B, Key=key, ChecksumAlgorithm=alg.upper(),
                                     ChecksumType=ctype)["UploadId"]
    parts = []
    for n, data in ((1, P1), (2, P2)):
        r = s3.upload_part(Bucket=B, Key=key, UploadId=uid, PartNumber=n, Body=data,
                           **part_kw(alg, data, P1_STATE[alg] if n == 1 else None))
        parts.append({"PartNumber": n, "ETag": r["ETag"], KEY[alg]: r[KEY[alg]]})
    return uid, parts


@test
def complete_mismatches():
    uid, parts = two_part_upload("mm", "sha256", "COMPOSITE")
    wrong = [dict(parts[0]), dict(parts[1])]
    wrong[1]["ChecksumSHA256"] = b64(hashlib.sha256(b"other").digest())
    err("InvalidPart", 400, s3.complete_multipart_upload, Bucket=B, Key="mm", UploadId=uid,
        MultipartUpload={"Parts": wrong})
    missing = [dict(parts[0]), {"PartNumber": 2, "ETag": parts[1]["ETag"]}]
    e = err("InvalidRequest", 400, s3.complete_multipart_upload, Bucket=B, Key="mm", UploadId=uid,
            MultipartUpload={"Parts": missing})
    assert "missing for part 2" in e.response["Error"]["Message"], e.response["Error"]
    err("InvalidRequest", 400, s3.complete_multipart_upload, Bucket=B, Key="mm", UploadId=uid,
        MultipartUpload={"Parts": parts}, ChecksumType="FULL_OBJECT")
    err("404", 404, s3.head_object, Bucket=B, Key="mm")  # HEAD: no body, so no code but the status
    # The upload is intact after the refusals: the right list completes it.
    c = s3.complete_multipart_upload(Bucket=B, Key="mm", UploadId=uid, MultipartUpload={"Parts": parts})
    assert c["ChecksumSHA256"] == expected("sha256", False)[1]

    uid, parts = two_part_upload("mmf", "crc32", "FULL_OBJECT")
    e = err("BadDigest", 400, s3.complete_multipart_upload, Bucket=B, Key="mmf", UploadId=uid,
            MultipartUpload={"Parts": parts}, ChecksumCRC32=b64(b"\0\0\0\1"), ChecksumType="FULL_OBJECT")
    # FULL_OBJECT parts may be listed without their checksums.
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    c = s3.complete_multipart_upload(Bucket=B, Key="mmf", UploadId=uid, MultipartUpload={"Parts": bare})
    assert c["ChecksumCRC32"] == Crc("crc32").update(P1 + P2).b64()


@test
def part_copy_into_a_checksum_upload():
    """A copied part has no checksum here (no bytes pass through): Complete says so, with InvalidPart."""
    s3.put_object(Bucket=B, Key="src", Body=P2)
    uid = s3.create_multipart_upload(Bucket=B, Key="cp", ChecksumAlgorithm="CRC32")["UploadId"]
    r = s3.upload_part_copy(Bucket=B, Key="cp", UploadId=uid, PartNumber=1, CopySource={"Bucket": B, "Key": "src"})
    parts = [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"], "ChecksumCRC32": Crc("crc32").update(P2).b64()}]
    e = err("InvalidPart", 400, s3.complete_multipart_upload, Bucket=B, Key="cp", UploadId=uid,
            MultipartUpload={"Parts": parts})
    assert "UploadPartCopy" in e.response["Error"]["Message"], e.response["Error"]
    s3.abort_multipart_upload(Bucket=B, Key="cp", UploadId=uid)


@test
def put_object_checksum_mode():
    r = s3.put_object(Bucket=B, Key="single", Body=b"hello world", **part_kw("crc32c", b"hello world"))
    want = Crc("crc32c").update(b"hello world").b64()
    assert r["ChecksumCRC32C"] == want
    h = s3.head_object(Bucket=B, Key="single", ChecksumMode="ENABLED")
    assert h["ChecksumCRC32C"] == want and h["ChecksumType"] == "FULL_OBJECT", h


@test
def transfer_manager_default_checksum():
    """s3transfer's multipart upload asks for CRC32 by default and lists the parts' CRC32s on Complete."""
    import io
    data = P1 + P2 + P2
    s3.upload_fileobj(io.BytesIO(data), B, "xfer", Config=TransferConfig(multipart_threshold=5 * MIB,
                                                                        multipart_chunksize=5 * MIB))
    h = s3.head_object(Bucket=B, Key="xfer", ChecksumMode="ENABLED")
    assert h["ContentLength"] == len(data) and h["ETag"].endswith('-2"'), h
    p1 = Crc("crc32").update(data[:5 * MIB]).digest()
    p2 = Crc("crc32").update(data[5 * MIB:]).digest()
    assert h["ChecksumCRC32"] == b64(Crc("crc32").update(p1 + p2).digest()) + "-2", h
    assert h["ChecksumType"] == "COMPOSITE", h
    out = io.BytesIO()
    s3.download_fileobj(B, "xfer", out)
    assert out.getvalue() == data


def attrs(key, names, **kw):
    return s3.get_object_attributes(Bucket=B, Key=key, ObjectAttributes=names, **kw)


@test
def attributes_of_a_simple_object():
    body = b"attributes of a simple object"
    s3.put_object(Bucket=B, Key="plain", Body=body, ChecksumAlgorithm="SHA256")
    a = attrs("plain", ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"])
    assert a["ETag"] == hashlib.md5(body).hexdigest(), a["ETag"]
    assert a["Checksum"]["ChecksumSHA256"] == b64(hashlib.sha256(body).digest()), a
    assert a["ObjectSize"] == len(body) and a["StorageClass"] == "STANDARD", a
    assert "ObjectParts" not in a and "VersionId" not in a and a["LastModified"], a
    only = attrs("plain", ["ObjectSize"])
    assert only["ObjectSize"] == len(body) and "ETag" not in only and "Checksum" not in only, only


@test
def attributes_of_a_multipart_object_paged():
    key = "mp-attrs"
    uid = s3.create_multipart_upload(Bucket=B, Key=key, ChecksumAlgorithm="CRC32C")["UploadId"]
    datas = [P1, P1[::-1], P2]
    states = [P1_STATE["crc32c"], Crc("crc32c").update(datas[1]), Crc("crc32c").update(P2)]
    parts = []
    for n, d in enumerate(datas, 1):
        r = s3.upload_part(Bucket=B, Key=key, UploadId=uid, PartNumber=n, Body=d, **part_kw("crc32c", d, states[n - 1]))
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32C": r["ChecksumCRC32C"]})
    s3.complete_multipart_upload(Bucket=B, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
    raws = [st.digest() for st in states]
    a = attrs(key, ["ObjectParts", "Checksum", "ETag"], MaxParts=2)
    assert a["Checksum"]["ChecksumCRC32C"] == b64(Crc("crc32c").update(b"".join(raws)).digest()), a["Checksum"]
    assert a["Checksum"]["ChecksumType"] == "COMPOSITE" and a["ETag"].endswith("-3"), a
    op = a["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["IsTruncated"] and op["MaxParts"] == 2, op
    assert int(op["NextPartNumberMarker"]) == 2 and [p["PartNumber"] for p in op["Parts"]] == [1, 2], op
    assert [p["Size"] for p in op["Parts"]] == [len(P1), len(P1)], op
    assert [p["ChecksumCRC32C"] for p in op["Parts"]] == [b64(x) for x in raws[:2]], op
    b = attrs(key, ["ObjectParts"], MaxParts=2, PartNumberMarker=2)["ObjectParts"]
    assert not b["IsTruncated"] and [p["PartNumber"] for p in b["Parts"]] == [3], b
    assert b["Parts"][0]["Size"] == len(P2) and b["Parts"][0]["ChecksumCRC32C"] == b64(raws[2]), b
    assert "ObjectSize" not in a and "StorageClass" not in a


@test
def attributes_errors():
    err("NoSuchKey", 404, attrs, "nope", ["ETag"])
    err("NoSuchBucket", 404, s3.get_object_attributes, Bucket="no-such-bucket-x", Key="k", ObjectAttributes=["ETag"])
    cli = client()

    def drop(request, **_):
        del request.headers["x-amz-object-attributes"]
    cli.meta.events.register("before-sign.s3.GetObjectAttributes", drop)
    err("InvalidArgument", 400, cli.get_object_attributes, Bucket=B, Key="plain", ObjectAttributes=["ETag"])
    cli2 = client()

    def bogus(request, **_):
        request.headers.replace_header("x-amz-object-attributes", "ETag,Colour")
    cli2.meta.events.register("before-sign.s3.GetObjectAttributes", bogus)
    err("InvalidArgument", 400, cli2.get_object_attributes, Bucket=B, Key="plain", ObjectAttributes=["ETag"])


print(f"{PASSED} passed, {FAILED} failed", flush=True)
sys.exit(1 if FAILED else 0)

#!/usr/bin/python3
"""test_boto3.py — Debian's boto3 against tgs3: one test per operation and per error code.

Run by test_compat_boto3.sh with S3_URL, TGS3_AK/TGS3_SK (first user), TGS3_AK2/TGS3_SK2
(second user), TGS3_DOMAIN (virtual-hosted base domain) and GW_PORT in the environment.
Prints "ok - NAME" / "not ok - NAME" per test and a last line "N passed, N failed".
"""
import base64
import datetime
import hashlib
import os
import socket
import sys
import time
import traceback
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from crcref import Crc

URL = os.environ["S3_URL"]
AK, SK = os.environ["TGS3_AK"], os.environ["TGS3_SK"]
AK2, SK2 = os.environ["TGS3_AK2"], os.environ["TGS3_SK2"]
DOMAIN = os.environ.get("TGS3_DOMAIN", "s3.test")
PORT = int(os.environ["GW_PORT"])


def client(ak=AK, sk=SK, endpoint=URL, style="path"):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk, region_name="us-east-1",
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 1}, signature_version="s3v4"))


s3 = client()
PASSED = FAILED = 0
B = "boto-bucket"


def test(fn):
    global PASSED, FAILED
    name = fn.__name__[2:] if fn.__name__.startswith("t_") else fn.__name__
    try:
        fn()
        PASSED += 1
        print(f"ok - {name}", flush=True)
    except Exception:  # noqa: BLE001 — every failure is reported, the run goes on
        FAILED += 1
        print(f"not ok - {name}", flush=True)
        for line in traceback.format_exc().splitlines()[-12:]:
            print(f"#   {line}", flush=True)
    return fn


def err(code, status, fn, *a, **kw):
    """Calls fn and asserts it fails with this S3 error code and HTTP status."""
    try:
        fn(*a, **kw)
    except ClientError as e:
        got = (e.response["Error"].get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, status), f"want {(code, status)}, got {got}: {e.response['Error']}"
        return e
    raise AssertionError(f"expected {code} {status}, call succeeded")


def with_headers(cli, event, headers):
    """Adds raw headers to every request of one operation before it is signed."""
    def add(request, **_):
        for k, v in headers.items():
            request.headers[k] = v
    cli.meta.events.register(f"before-sign.s3.{event}", add)
    return add


def without_headers(cli, event, fn):
    cli.meta.events.unregister(f"before-sign.s3.{event}", fn)


def put(key, body=b"hello", **kw):
    return s3.put_object(Bucket=B, Key=key, Body=body, **kw)


def get(key, **kw):
    return s3.get_object(Bucket=B, Key=key, **kw)["Body"].read()


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def crc64nvme(data):
    return Crc("crc64nvme").update(data).b64()


def b64crc32(data):
    return Crc("crc32").update(data).b64()


# ---- buckets ----------------------------------------------------------------------------

@test
def t_create_bucket():
    s3.create_bucket(Bucket=B)
    s3.create_bucket(Bucket="boto-other")


@test
def t_create_bucket_already_owned():
    err("BucketAlreadyOwnedByYou", 409, s3.create_bucket, Bucket=B)


@test
def t_create_bucket_invalid_name():
    err("InvalidBucketName", 400, s3.create_bucket, Bucket="Bad_Name")


@test
def t_head_bucket():
    s3.head_bucket(Bucket=B)
    err("404", 404, s3.head_bucket, Bucket="no-such-bucket-x")


@test
def t_list_buckets():
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert B in names and "boto-other" in names, names


@test
def t_get_bucket_location():
    r = s3.get_bucket_location(Bucket=B)
    assert r.get("LocationConstraint") in (None, ""), r
    err("NoSuchBucket", 404, s3.get_bucket_location, Bucket="no-such-bucket-x")


@test
def t_get_bucket_versioning():
    r = s3.get_bucket_versioning(Bucket=B)
    assert "Status" not in r, r


@test
def t_get_bucket_acl():
    r = s3.get_bucket_acl(Bucket=B)
    assert r["Grants"][0]["Permission"] == "FULL_CONTROL" and r["Owner"]["ID"] == AK, r


@test
def t_get_bucket_tagging():
    err("NoSuchTagSet", 404, s3.get_bucket_tagging, Bucket=B)


@test
def t_unknown_subresources_not_implemented():
    err("NoSuchLifecycleConfiguration", 404, s3.get_bucket_lifecycle_configuration, Bucket=B)  # served: test_lifecycle.sh
    err("NotImplemented", 501, s3.get_bucket_policy, Bucket=B)
    err("NoSuchCORSConfiguration", 404, s3.get_bucket_cors, Bucket=B)  # served: test_cors.sh
    err("NotImplemented", 501, s3.get_bucket_website, Bucket=B)
    err("NotImplemented", 501, s3.get_bucket_logging, Bucket=B)


@test
def t_no_such_bucket():
    err("NoSuchBucket", 404, s3.put_object, Bucket="no-such-bucket-x", Key="k", Body=b"x")
    err("NoSuchBucket", 404, s3.list_objects_v2, Bucket="no-such-bucket-x")


# ---- objects ----------------------------------------------------------------------------

@test
def t_put_get_object():
    r = put("a/one.txt", b"hello world", ContentType="text/plain", ACL="private")
    assert r["ETag"] == '"%s"' % hashlib.md5(b"hello world").hexdigest(), r["ETag"]
    assert get("a/one.txt") == b"hello world"


@test
def t_stored_headers_and_metadata():
    put("hdrs", b"x", ContentType="text/x-test", ContentEncoding="identity", ContentDisposition="attachment",
        ContentLanguage="de", CacheControl="no-cache", Expires=datetime.datetime(2030, 1, 1),
        Metadata={"mtime": "1795557572.9", "md5chksum": "abc"})
    h = s3.head_object(Bucket=B, Key="hdrs")
    assert h["ContentType"] == "text/x-test" and h["ContentDisposition"] == "attachment", h
    assert h["ContentLanguage"] == "de" and h["CacheControl"] == "no-cache" and h["ContentEncoding"] == "identity"
    assert h["Metadata"] == {"mtime": "1795557572.9", "md5chksum": "abc"}, h["Metadata"]
    assert h["Expires"].year == 2030


@test
def t_head_object():
    h = s3.head_object(Bucket=B, Key="a/one.txt")
    assert h["ContentLength"] == 11 and "LastModified" in h
    err("404", 404, s3.head_object, Bucket=B, Key="missing")


@test
def t_no_such_key():
    err("NoSuchKey", 404, s3.get_object, Bucket=B, Key="missing")


@test
def t_delete_object():
    put("del-me")
    assert s3.delete_object(Bucket=B, Key="del-me")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=B, Key="del-me")["ResponseMetadata"]["HTTPStatusCode"] == 204


@test
def t_ranges():
    put("range", b"0123456789")
    assert get("range", Range="bytes=2-4") == b"234"
    assert get("range", Range="bytes=7-") == b"789"
    assert get("range", Range="bytes=-3") == b"789"
    e = err("InvalidRange", 416, s3.get_object, Bucket=B, Key="range", Range="bytes=20-30")
    assert e.response["ResponseMetadata"]["HTTPHeaders"].get("content-range") == "bytes */10"


@test
def t_get_conditions():
    etag = s3.head_object(Bucket=B, Key="range")["ETag"]
    assert get("range", IfMatch=etag) == b"0123456789"
    err("PreconditionFailed", 412, s3.get_object, Bucket=B, Key="range", IfMatch='"0000"')
    err("304", 304, s3.get_object, Bucket=B, Key="range", IfNoneMatch=etag)
    err("304", 304, s3.head_object, Bucket=B, Key="range", IfModifiedSince=datetime.datetime(2100, 1, 1))
    err("PreconditionFailed", 412, s3.get_object, Bucket=B, Key="range",
        IfUnmodifiedSince=datetime.datetime(2000, 1, 1))


@test
def t_response_overrides():
    r = s3.get_object(Bucket=B, Key="range", ResponseContentType="image/png", ResponseContentDisposition="inline",
                      ResponseCacheControl="max-age=1")
    assert r["ContentType"] == "image/png" and r["ContentDisposition"] == "inline", r
    assert r["CacheControl"] == "max-age=1"


@test
def t_key_too_long():
    err("KeyTooLongError", 400, s3.put_object, Bucket=B, Key="k" * 1025, Body=b"x")


@test
def t_bad_digest():
    err("BadDigest", 400, s3.put_object, Bucket=B, Key="bd", Body=b"abc",
        ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode())
    err("InvalidDigest", 400, s3.put_object, Bucket=B, Key="bd", Body=b"abc", ContentMD5="notbase64!")


@test
def t_awkward_keys():
    for k in ["sp ace", "plus+sign", "amp&er=sand", "per%cent", "caf\u00e9", "double//slash", "trailing/",
              "q?uestion#hash", "k" * 1024]:
        put(k, k.encode())
        assert get(k) == k.encode(), k
        ks = [o["Key"] for o in s3.list_objects_v2(Bucket=B, Prefix=k)["Contents"]]
        assert ks == [k], (k, ks)
        s3.delete_object(Bucket=B, Key=k)


# ---- listings ---------------------------------------------------------------------------

@test
def t_list_objects_v1_v2():
    for i in range(5):
        put(f"list/k{i}")
    put("list/sub/x")
    r = s3.list_objects(Bucket=B, Prefix="list/", MaxKeys=2)
    assert r["IsTruncated"] and r["NextMarker"] == "list/k1", r
    r = s3.list_objects_v2(Bucket=B, Prefix="list/", Delimiter="/")
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["list/sub/"] and r["KeyCount"] == 6, r
    r = s3.list_objects_v2(Bucket=B, Prefix="list/", MaxKeys=3, FetchOwner=True)
    assert r["IsTruncated"] and r["Contents"][0]["Owner"]["ID"] == AK
    r2 = s3.list_objects_v2(Bucket=B, Prefix="list/", ContinuationToken=r["NextContinuationToken"])
    assert len(r["Contents"]) + len(r2["Contents"]) == 6


@test
def t_list_object_versions():
    r = s3.list_object_versions(Bucket=B, Prefix="list/")
    vs = r["Versions"]
    assert len(vs) == 6 and all(v["VersionId"] == "null" and v["IsLatest"] for v in vs), r
    r = s3.list_object_versions(Bucket=B, Prefix="list/", MaxKeys=2)
    assert r["IsTruncated"] and r["NextKeyMarker"] == "list/k1", r
    r = s3.list_object_versions(Bucket=B, Prefix="list/", KeyMarker="list/k1", Delimiter="/")
    assert [v["Key"] for v in r["Versions"]] == ["list/k2", "list/k3", "list/k4"], r
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["list/sub/"]


@test
def t_delete_objects():
    for i in range(3):
        put(f"md/{i}")
    r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": f"md/{i}"} for i in range(4)]})
    assert sorted(d["Key"] for d in r["Deleted"]) == [f"md/{i}" for i in range(4)], r
    put("md/q")
    r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "md/q"}], "Quiet": True})
    assert "Deleted" not in r and "Errors" not in r, r
    assert s3.list_objects_v2(Bucket=B, Prefix="md/")["KeyCount"] == 0


@test
def t_malformed_xml():
    err("MalformedXML", 400, s3.delete_objects, Bucket=B, Delete={"Objects": []})


# ---- copies -----------------------------------------------------------------------------

@test
def t_copy_object_copy_directive():
    put("src obj+1", b"copy me", Metadata={"k": "v"}, ContentType="text/plain")
    r = s3.copy_object(Bucket="boto-other", Key="dst", CopySource={"Bucket": B, "Key": "src obj+1"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"copy me").hexdigest(), r
    h = s3.head_object(Bucket="boto-other", Key="dst")
    assert h["Metadata"] == {"k": "v"} and h["ContentType"] == "text/plain", h
    assert s3.get_object(Bucket="boto-other", Key="dst")["Body"].read() == b"copy me"


@test
def t_copy_object_replace_directive():
    s3.copy_object(Bucket=B, Key="dst2", CopySource=f"{B}/src obj+1", MetadataDirective="REPLACE",
                   Metadata={"new": "1"}, ContentType="application/json")
    h = s3.head_object(Bucket=B, Key="dst2")
    assert h["Metadata"] == {"new": "1"} and h["ContentType"] == "application/json", h


@test
def t_copy_object_self():
    err("InvalidRequest", 400, s3.copy_object, Bucket=B, Key="dst2", CopySource=f"{B}/dst2")
    before = s3.head_object(Bucket=B, Key="dst2")["LastModified"]
    time.sleep(1.1)
    s3.copy_object(Bucket=B, Key="dst2", CopySource=f"{B}/dst2", MetadataDirective="REPLACE",
                   Metadata={"mtime": "2"})
    h = s3.head_object(Bucket=B, Key="dst2")
    assert h["Metadata"] == {"mtime": "2"} and h["LastModified"] > before, h
    assert get("dst2") == b"copy me"


@test
def t_copy_source_conditions():
    etag = s3.head_object(Bucket=B, Key="src obj+1")["ETag"]
    s3.copy_object(Bucket=B, Key="c1", CopySource=f"{B}/src obj+1", CopySourceIfMatch=etag)
    err("PreconditionFailed", 412, s3.copy_object, Bucket=B, Key="c1", CopySource=f"{B}/src obj+1",
        CopySourceIfMatch='"nope"')
    err("PreconditionFailed", 412, s3.copy_object, Bucket=B, Key="c1", CopySource=f"{B}/src obj+1",
        CopySourceIfNoneMatch=etag)
    err("PreconditionFailed", 412, s3.copy_object, Bucket=B, Key="c1", CopySource=f"{B}/src obj+1",
        CopySourceIfUnmodifiedSince=datetime.datetime(2000, 1, 1))
    err("PreconditionFailed", 412, s3.copy_object, Bucket=B, Key="c1", CopySource=f"{B}/src obj+1",
        CopySourceIfModifiedSince=datetime.datetime(2100, 1, 1))


@test
def t_copy_errors():
    err("NoSuchKey", 404, s3.copy_object, Bucket=B, Key="c2", CopySource=f"{B}/missing")
    err("NoSuchBucket", 404, s3.copy_object, Bucket=B, Key="c2", CopySource="no-such-bucket-x/k")


@test
def t_copy_source_version_null():
    s3.copy_object(Bucket=B, Key="c3", CopySource={"Bucket": B, "Key": "src obj+1", "VersionId": "null"})
    assert get("c3") == b"copy me"


@test
def t_copy_survives_source_delete():
    put("ephemeral", b"still here")
    s3.copy_object(Bucket=B, Key="kept", CopySource=f"{B}/ephemeral")
    s3.delete_object(Bucket=B, Key="ephemeral")
    assert get("kept") == b"still here"


# ---- multipart --------------------------------------------------------------------------

MB = 1024 * 1024
P1, P2 = os.urandom(5 * MB), os.urandom(1 * MB + 7)


@test
def t_multipart_upload():
    u = s3.create_multipart_upload(Bucket=B, Key="mp", Metadata={"m": "1"})["UploadId"]
    e1 = s3.upload_part(Bucket=B, Key="mp", UploadId=u, PartNumber=1, Body=P1)["ETag"]
    e2 = s3.upload_part(Bucket=B, Key="mp", UploadId=u, PartNumber=2, Body=P2)["ETag"]
    parts = s3.list_parts(Bucket=B, Key="mp", UploadId=u)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2] and parts[1]["Size"] == len(P2)
    ups = s3.list_multipart_uploads(Bucket=B)["Uploads"]
    assert any(x["UploadId"] == u for x in ups), ups
    r = s3.complete_multipart_upload(Bucket=B, Key="mp", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    md5s = hashlib.md5(bytes.fromhex(e1.strip('"')) + bytes.fromhex(e2.strip('"'))).hexdigest()
    assert r["ETag"] == f'"{md5s}-2"', r
    assert get("mp") == P1 + P2
    assert get("mp", PartNumber=2) == P2
    assert s3.head_object(Bucket=B, Key="mp", PartNumber=1)["PartsCount"] == 2


@test
def t_multipart_errors():
    u = s3.create_multipart_upload(Bucket=B, Key="mpe")["UploadId"]
    e1 = s3.upload_part(Bucket=B, Key="mpe", UploadId=u, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=B, Key="mpe", UploadId=u, PartNumber=2, Body=b"small")["ETag"]
    err("InvalidPart", 400, s3.complete_multipart_upload, Bucket=B, Key="mpe", UploadId=u,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]})
    err("InvalidPartOrder", 400, s3.complete_multipart_upload, Bucket=B, Key="mpe", UploadId=u,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    err("EntityTooSmall", 400, s3.complete_multipart_upload, Bucket=B, Key="mpe", UploadId=u,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    s3.abort_multipart_upload(Bucket=B, Key="mpe", UploadId=u)
    err("NoSuchUpload", 404, s3.upload_part, Bucket=B, Key="mpe", UploadId=u, PartNumber=1, Body=b"x")
    err("NoSuchUpload", 404, s3.list_parts, Bucket=B, Key="mpe", UploadId=u)
    err("InvalidArgument", 400, s3.upload_part, Bucket=B, Key="mpe", UploadId=u, PartNumber=10001, Body=b"x")


@test
def t_upload_part_copy():
    u = s3.create_multipart_upload(Bucket="boto-other", Key="upc")["UploadId"]
    r1 = s3.upload_part_copy(Bucket="boto-other", Key="upc", UploadId=u, PartNumber=1,
                             CopySource={"Bucket": B, "Key": "mp"}, CopySourceRange=f"bytes=0-{5 * MB - 1}")
    r2 = s3.upload_part_copy(Bucket="boto-other", Key="upc", UploadId=u, PartNumber=2,
                             CopySource={"Bucket": B, "Key": "mp"}, CopySourceRange=f"bytes={5 * MB}-{6 * MB + 6}")
    err("InvalidArgument", 400, s3.upload_part_copy, Bucket="boto-other", Key="upc", UploadId=u, PartNumber=3,
        CopySource={"Bucket": B, "Key": "mp"}, CopySourceRange=f"bytes=0-{7 * MB}")
    s3.complete_multipart_upload(Bucket="boto-other", Key="upc", UploadId=u, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket="boto-other", Key="upc")["Body"].read() == P1 + P2
    u = s3.create_multipart_upload(Bucket=B, Key="upc-whole")["UploadId"]
    r = s3.upload_part_copy(Bucket=B, Key="upc-whole", UploadId=u, PartNumber=1, CopySource=f"{B}/range")
    s3.complete_multipart_upload(Bucket=B, Key="upc-whole", UploadId=u, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert get("upc-whole") == b"0123456789"


# ---- tagging ----------------------------------------------------------------------------

@test
def t_object_tagging():
    put("tagged", b"t", Tagging="a=1&b=two%20words")
    r = s3.get_object_tagging(Bucket=B, Key="tagged")
    assert {t["Key"]: t["Value"] for t in r["TagSet"]} == {"a": "1", "b": "two words"}, r
    assert s3.get_object(Bucket=B, Key="tagged")["TagCount"] == 2
    lm = s3.head_object(Bucket=B, Key="tagged")["LastModified"]
    s3.put_object_tagging(Bucket=B, Key="tagged", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    r = s3.get_object_tagging(Bucket=B, Key="tagged")
    assert r["TagSet"] == [{"Key": "x", "Value": "y"}], r
    assert s3.head_object(Bucket=B, Key="tagged")["LastModified"] == lm
    s3.delete_object_tagging(Bucket=B, Key="tagged")
    assert s3.get_object_tagging(Bucket=B, Key="tagged")["TagSet"] == []
    err("NoSuchKey", 404, s3.get_object_tagging, Bucket=B, Key="missing")


@test
def t_tagging_copy_and_multipart():
    put("tsrc", b"t", Tagging="k=v")
    s3.copy_object(Bucket=B, Key="tcopy", CopySource=f"{B}/tsrc")
    assert s3.get_object_tagging(Bucket=B, Key="tcopy")["TagSet"] == [{"Key": "k", "Value": "v"}]
    s3.copy_object(Bucket=B, Key="tcopy2", CopySource=f"{B}/tsrc", TaggingDirective="REPLACE", Tagging="n=m")
    assert s3.get_object_tagging(Bucket=B, Key="tcopy2")["TagSet"] == [{"Key": "n", "Value": "m"}]
    u = s3.create_multipart_upload(Bucket=B, Key="tmp", Tagging="p=q")["UploadId"]
    e = s3.upload_part(Bucket=B, Key="tmp", UploadId=u, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(Bucket=B, Key="tmp", UploadId=u,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert s3.get_object_tagging(Bucket=B, Key="tmp")["TagSet"] == [{"Key": "p", "Value": "q"}]


@test
def t_invalid_tag():
    err("InvalidTag", 400, s3.put_object, Bucket=B, Key="badtag", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11)))
    err("InvalidTag", 400, s3.put_object, Bucket=B, Key="badtag", Body=b"x", Tagging="k=1&k=2")


# ---- conditional writes -----------------------------------------------------------------

@test
def t_conditional_put_if_none_match():
    s3.delete_object(Bucket=B, Key="cond")
    h = with_headers(s3, "PutObject", {"If-None-Match": "*"})
    try:
        put("cond", b"first")
        err("PreconditionFailed", 412, put, "cond", b"second")
    finally:
        without_headers(s3, "PutObject", h)
    assert get("cond") == b"first"


@test
def t_conditional_put_if_match():
    etag = s3.head_object(Bucket=B, Key="cond")["ETag"]
    h = with_headers(s3, "PutObject", {"If-Match": '"0123"'})
    try:
        err("PreconditionFailed", 412, put, "cond", b"third")
    finally:
        without_headers(s3, "PutObject", h)
    h = with_headers(s3, "PutObject", {"If-Match": etag})
    try:
        put("cond", b"third")
        err("NoSuchKey", 404, put, "cond-missing", b"x")
    finally:
        without_headers(s3, "PutObject", h)
    assert get("cond") == b"third"


@test
def t_conditional_complete_multipart():
    u = s3.create_multipart_upload(Bucket=B, Key="cond")["UploadId"]
    e = s3.upload_part(Bucket=B, Key="cond", UploadId=u, PartNumber=1, Body=b"mp")["ETag"]
    h = with_headers(s3, "CompleteMultipartUpload", {"If-None-Match": "*"})
    try:
        err("PreconditionFailed", 412, s3.complete_multipart_upload, Bucket=B, Key="cond", UploadId=u,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    finally:
        without_headers(s3, "CompleteMultipartUpload", h)
    assert get("cond") == b"third"
    s3.complete_multipart_upload(Bucket=B, Key="cond", UploadId=u,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert get("cond") == b"mp"


# ---- checksums --------------------------------------------------------------------------

@test
def t_checksums_sdk():
    data = b"checksum me" * 1000
    for alg in ["CRC32", "CRC32C", "SHA1", "SHA256"]:
        r = put(f"ck-{alg}", data, ChecksumAlgorithm=alg)
        h = s3.head_object(Bucket=B, Key=f"ck-{alg}", ChecksumMode="ENABLED")
        assert h.get(f"Checksum{alg}") and h[f"Checksum{alg}"] == r.get(f"Checksum{alg}"), (alg, h, r)
        g = s3.get_object(Bucket=B, Key=f"ck-{alg}", ChecksumMode="ENABLED")
        assert g["Body"].read() == data
    assert b64crc32(data) == s3.head_object(Bucket=B, Key="ck-CRC32", ChecksumMode="ENABLED")["ChecksumCRC32"]
    assert "ChecksumCRC32" not in s3.head_object(Bucket=B, Key="ck-CRC32")


@test
def t_checksum_crc64nvme_header():
    data = b"nvme" * 999
    h = with_headers(s3, "PutObject", {"x-amz-checksum-crc64nvme": crc64nvme(data)})
    try:
        put("ck-nvme", data)
    finally:
        without_headers(s3, "PutObject", h)
    r = s3.head_object(Bucket=B, Key="ck-nvme", ChecksumMode="ENABLED")
    assert r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-checksum-crc64nvme") == crc64nvme(data), r


@test
def t_checksum_mismatch():
    h = with_headers(s3, "PutObject", {"x-amz-checksum-crc32": b64crc32(b"other")})
    try:
        err("BadDigest", 400, put, "ck-bad", b"data")
    finally:
        without_headers(s3, "PutObject", h)
    err("NoSuchKey", 404, s3.get_object, Bucket=B, Key="ck-bad")


def signed_raw(method, path, body, headers):
    """A request signed by hand (SigV4Auth keeps the given x-amz-content-sha256)."""
    req = AWSRequest(method=method, url=URL + path, data=body, headers=headers)
    SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    return http(method, URL + path, body, dict(req.headers.items()))


@test
def t_trailer_checksum_unsigned_payload():
    data = os.urandom(300000)
    chunks, i = b"", 0
    while i < len(data):
        c = data[i:i + 65536]
        chunks += b"%x\r\n" % len(c) + c + b"\r\n"
        i += len(c)
    body = chunks + b"0\r\nx-amz-checksum-crc32:" + b64crc32(data).encode() + b"\r\n\r\n"
    hdrs = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
            "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": str(len(data))}
    st, resp, _ = signed_raw("PUT", f"/{B}/trailer", body, hdrs)
    assert st == 200, (st, resp)
    assert get("trailer") == data
    h = s3.head_object(Bucket=B, Key="trailer", ChecksumMode="ENABLED")
    assert h.get("ChecksumCRC32") == b64crc32(data), h
    bad = chunks + b"0\r\nx-amz-checksum-crc32:" + b64crc32(b"x").encode() + b"\r\n\r\n"
    st, resp, _ = signed_raw("PUT", f"/{B}/trailer-bad", bad, hdrs)
    assert st == 400 and b"BadDigest" in resp, (st, resp)


# ---- presigned URLs ---------------------------------------------------------------------

@test
def t_presigned_every_method():
    url = s3.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "pre"}, ExpiresIn=600)
    st, _, _ = http("PUT", url, b"presigned body")
    assert st == 200, st
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "pre"}, ExpiresIn=604800)
    st, body, _ = http("GET", url)
    assert st == 200 and body == b"presigned body", (st, body)
    url = s3.generate_presigned_url("head_object", Params={"Bucket": B, "Key": "pre"})
    st, _, hd = http("HEAD", url)
    assert st == 200 and hd.get("Content-Length") == "14", (st, hd)
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": B, "Prefix": "pre"})
    st, body, _ = http("GET", url)
    assert st == 200 and b"<Key>pre</Key>" in body, (st, body)
    url = s3.generate_presigned_url("create_multipart_upload", Params={"Bucket": B, "Key": "pre-mp"})
    st, body, _ = http("POST", url)
    assert st == 200 and b"<UploadId>" in body, (st, body)
    url = s3.generate_presigned_url("delete_object", Params={"Bucket": B, "Key": "pre"})
    st, _, _ = http("DELETE", url)
    assert st == 204, st
    err("NoSuchKey", 404, s3.get_object, Bucket=B, Key="pre")


@test
def t_presigned_expired():
    put("pre-exp", b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "pre-exp"}, ExpiresIn=1)
    time.sleep(2.2)
    st, body, _ = http("GET", url)
    assert st == 403 and b"<Code>AccessDenied</Code>" in body and b"expired" in body, (st, body)


@test
def t_presigned_tampered():
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "pre-exp"})
    st, body, _ = http("GET", url.replace("pre-exp", "pre-exq"))
    assert st == 403 and b"SignatureDoesNotMatch" in body, (st, body)


# ---- auth errors ------------------------------------------------------------------------

@test
def t_bad_credentials():
    err("InvalidAccessKeyId", 403, client(ak="NOSUCHKEY", sk="x").list_buckets)
    err("SignatureDoesNotMatch", 403, client(sk="wrong-secret").list_buckets)
    st, body, _ = http("GET", URL + "/")
    assert st == 403 and b"AccessDenied" in body, (st, body)


# ---- several users ----------------------------------------------------------------------

@test
def t_second_user_isolated():
    s3b = client(AK2, SK2)
    s3b.create_bucket(Bucket="boto-user2")
    names = [b["Name"] for b in s3b.list_buckets()["Buckets"]]
    assert names == ["boto-user2"], names
    assert "boto-user2" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    err("AccessDenied", 403, s3b.list_objects_v2, Bucket=B)
    err("AccessDenied", 403, s3b.get_object, Bucket=B, Key="a/one.txt")
    err("AccessDenied", 403, s3b.put_object, Bucket=B, Key="intruder", Body=b"x")
    err("AccessDenied", 403, s3b.delete_bucket, Bucket=B)
    err("AccessDenied", 403, s3b.copy_object, Bucket="boto-user2", Key="stolen", CopySource=f"{B}/a/one.txt")
    err("BucketAlreadyExists", 409, s3b.create_bucket, Bucket=B)
    err("AccessDenied", 403, s3.list_objects_v2, Bucket="boto-user2")
    s3b.put_object(Bucket="boto-user2", Key="mine", Body=b"2")
    assert s3b.get_object(Bucket="boto-user2", Key="mine")["Body"].read() == b"2"
    s3b.delete_object(Bucket="boto-user2", Key="mine")
    s3b.delete_bucket(Bucket="boto-user2")


# ---- virtual-hosted style ---------------------------------------------------------------

@test
def t_virtual_hosted_style():
    real = socket.getaddrinfo

    def fake(host, *a, **kw):
        if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
            host = "127.0.0.1"
        return real(host, *a, **kw)
    socket.getaddrinfo = fake
    try:
        v = client(endpoint=f"http://{DOMAIN}:{PORT}", style="virtual")
        v.put_object(Bucket=B, Key="vhost key+1", Body=b"virtual")
        assert v.get_object(Bucket=B, Key="vhost key+1")["Body"].read() == b"virtual"
        assert any(o["Key"] == "vhost key+1" for o in v.list_objects_v2(Bucket=B, Prefix="vhost")["Contents"])
        assert get("vhost key+1") == b"virtual"
        v.delete_object(Bucket=B, Key="vhost key+1")
        err("NoSuchKey", 404, s3.get_object, Bucket=B, Key="vhost key+1")
    finally:
        socket.getaddrinfo = real


# ---- clean-up ---------------------------------------------------------------------------

@test
def t_delete_bucket():
    err("BucketNotEmpty", 409, s3.delete_bucket, Bucket=B)
    for bucket in (B, "boto-other"):
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        while True:
            r = s3.list_objects_v2(Bucket=bucket)
            keys = [{"Key": o["Key"]} for o in r.get("Contents", [])]
            if not keys:
                break
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    err("NoSuchBucket", 404, s3.delete_bucket, Bucket=B)


print(f"{PASSED} passed, {FAILED} failed")
sys.exit(1 if FAILED else 0)

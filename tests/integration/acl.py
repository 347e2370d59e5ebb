#!/usr/bin/python3
"""acl.py — ACLs and PublicAccessBlock: what users A and B (boto3) and anonymous (raw HTTP, no
signature) may do, the exact error codes, and what Get*Acl answers.

Usage: acl.py CASE. Environment: S3_URL, TGS3_AK/TGS3_SK (user A, owner of the buckets),
TGS3_AK2/TGS3_SK2 (user B). Each case prints what it saw and exits 1 on any mismatch.
"""
import http.client
import os
import sys
import urllib.parse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["S3_URL"]
HOST = urllib.parse.urlparse(URL).hostname
PORT = urllib.parse.urlparse(URL).port
AK, SK = os.environ["TGS3_AK"], os.environ["TGS3_SK"]
AK2, SK2 = os.environ["TGS3_AK2"], os.environ["TGS3_SK2"]
ALL = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
OK = [True]


def client(ak, sk):
    return boto3.client("s3", endpoint_url=URL, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      signature_version="s3v4"))


A = client(AK, SK)
B = client(AK2, SK2)


def bad(msg):
    print("FAIL:", msg)
    OK[0] = False


def anon(method, path, body=None, headers=None):
    """One request with no signature at all: (status, body bytes)."""
    c = http.client.HTTPConnection(HOST, PORT, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def code_of(data):
    s = data.decode("utf-8", "replace")
    i = s.find("<Code>")
    return s[i + 6:s.find("</Code>")] if i >= 0 else ""


def expect_anon(method, path, status, code=None, what="", body=None, headers=None):
    st, data = anon(method, path, body, headers)
    got = code_of(data) if code else None
    print("anonymous %s %s -> %d %s" % (method, path, st, got or ""))
    if st != status or (code and got != code):
        bad("%s: anonymous %s %s: want %d %s, got %d %s" % (what, method, path, status, code or "", st, got))
    return data


def expect_err(fn, status, code, what):
    try:
        fn()
    except ClientError as e:
        got = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
        print("%s -> %d %s" % (what, got[0], got[1]))
        if got != (status, code):
            bad("%s: want %d %s, got %d %s" % (what, status, code, got[0], got[1]))
        return
    bad("%s: want %d %s, it succeeded" % (what, status, code))


def expect_ok(fn, what):
    try:
        r = fn()
        print("%s -> ok" % what)
        return r
    except ClientError as e:
        bad("%s: want success, got %s %s" % (what, e.response["ResponseMetadata"]["HTTPStatusCode"],
                                            e.response["Error"]["Code"]))
    return None


def grants_of(acl):
    """Get*Acl answer → sorted [(grantee id or group URI, permission)]."""
    out = []
    for g in acl["Grants"]:
        gr = g["Grantee"]
        out.append((gr.get("ID") or gr.get("URI"), g["Permission"]))
    return sorted(out)


def expect_grants(acl, want, what):
    got = grants_of(acl)
    print("%s: owner %s grants %s" % (what, acl["Owner"]["ID"], got))
    if got != sorted(want):
        bad("%s: want grants %s, got %s" % (what, sorted(want), got))


# ---- cases ----

BKT = "acl-a"


def case_setup():
    A.create_bucket(Bucket=BKT)
    A.put_object(Bucket=BKT, Key="private.txt", Body=b"private bytes")


def case_private():
    """Nothing of a private bucket or object for anonymous or B."""
    expect_anon("GET", "/", 403, "AccessDenied", "list buckets")
    expect_anon("PUT", "/anon-made", 403, "AccessDenied", "create bucket")
    expect_anon("GET", "/" + BKT, 403, "AccessDenied", "list objects")
    expect_anon("GET", "/%s?list-type=2" % BKT, 403, "AccessDenied", "list objects v2")
    expect_anon("GET", "/%s?versions" % BKT, 403, "AccessDenied", "list versions")
    expect_anon("GET", "/%s?uploads" % BKT, 403, "AccessDenied", "list uploads")
    expect_anon("HEAD", "/" + BKT, 403, None, "head bucket")
    expect_anon("GET", "/%s/private.txt" % BKT, 403, "AccessDenied", "get object")
    expect_anon("HEAD", "/%s/private.txt" % BKT, 403, None, "head object")
    expect_anon("GET", "/%s/missing.txt" % BKT, 403, "AccessDenied", "get a missing object")
    expect_anon("PUT", "/%s/anon.txt" % BKT, 403, "AccessDenied", "put object", body=b"x")
    expect_anon("DELETE", "/%s/private.txt" % BKT, 403, "AccessDenied", "delete object")
    expect_anon("GET", "/%s?acl" % BKT, 403, "AccessDenied", "get bucket acl")
    expect_anon("GET", "/%s/private.txt?acl" % BKT, 403, "AccessDenied", "get object acl")
    expect_anon("PUT", "/%s?acl" % BKT, 403, "AccessDenied", "put bucket acl",
                headers={"x-amz-acl": "public-read"})
    expect_anon("PUT", "/%s/private.txt?acl" % BKT, 403, "AccessDenied", "put object acl",
                headers={"x-amz-acl": "public-read"})
    expect_anon("GET", "/%s?publicAccessBlock" % BKT, 403, "AccessDenied", "get public access block")
    expect_anon("DELETE", "/" + BKT, 403, "AccessDenied", "delete bucket")
    expect_anon("POST", "/%s/mp.bin?uploads" % BKT, 403, "AccessDenied", "create multipart upload")
    expect_err(lambda: B.list_objects_v2(Bucket=BKT), 403, "AccessDenied", "B lists A's bucket")
    expect_err(lambda: B.get_object(Bucket=BKT, Key="private.txt"), 403, "AccessDenied", "B reads")
    expect_err(lambda: B.put_object(Bucket=BKT, Key="b.txt", Body=b"b"), 403, "AccessDenied", "B writes")
    expect_err(lambda: B.get_bucket_acl(Bucket=BKT), 403, "AccessDenied", "B reads the bucket ACL")
    expect_err(lambda: B.get_object_acl(Bucket=BKT, Key="private.txt"), 403, "AccessDenied",
               "B reads the object ACL")
    # Still there, untouched.
    if A.get_object(Bucket=BKT, Key="private.txt")["Body"].read() != b"private bytes":
        bad("private.txt changed")
    expect_grants(A.get_bucket_acl(Bucket=BKT), [(AK, "FULL_CONTROL")], "private bucket ACL")
    expect_grants(A.get_object_acl(Bucket=BKT, Key="private.txt"), [(AK, "FULL_CONTROL")], "private object ACL")
    acl = A.get_object_acl(Bucket=BKT, Key="private.txt")
    if acl["Owner"]["ID"] != AK:
        bad("owner %s, want %s" % (acl["Owner"]["ID"], AK))


def case_bad_signature():
    """A signature that does not verify is refused, never taken for anonymous."""
    st, data = anon("GET", "/%s/private.txt" % BKT, headers={"Authorization": "AWS4-HMAC-SHA256 garbage"})
    if st not in (400, 403) or code_of(data) == "":
        bad("garbled Authorization: %d %s" % (st, data[:200]))
    st, data = anon("GET", "/%s/private.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00" % BKT)
    if st not in (400, 403):
        bad("broken presigned query: %d" % st)


OBJ_CANNED = {
    # canned: (anonymous may read, B may read, grants in force (A's object in A's bucket))
    "private": (False, False, [(AK, "FULL_CONTROL")]),
    "public-read": (True, True, [(AK, "FULL_CONTROL"), (ALL, "READ")]),
    "public-read-write": (True, True, [(AK, "FULL_CONTROL"), (ALL, "READ"), (ALL, "WRITE")]),
    "authenticated-read": (False, True, [(AK, "FULL_CONTROL"), (AUTH, "READ")]),
    "bucket-owner-read": (False, False, [(AK, "FULL_CONTROL")]),
    "bucket-owner-full-control": (False, False, [(AK, "FULL_CONTROL")]),
}


def case_object_canned():
    for canned, (anon_reads, b_reads, grants) in OBJ_CANNED.items():
        key = "canned-%s.txt" % canned
        body = ("bytes of %s" % canned).encode()
        A.put_object(Bucket=BKT, Key=key, Body=body, ACL=canned)
        if anon_reads:
            data = expect_anon("GET", "/%s/%s" % (BKT, key), 200, None, canned)
            if data != body:
                bad("%s: anonymous read other bytes" % canned)
            expect_anon("HEAD", "/%s/%s" % (BKT, key), 200, None, canned)
        else:
            expect_anon("GET", "/%s/%s" % (BKT, key), 403, "AccessDenied", canned)
        if b_reads:
            r = expect_ok(lambda: B.get_object(Bucket=BKT, Key=key), "B reads %s" % canned)
            if r is not None and r["Body"].read() != body:
                bad("%s: B read other bytes" % canned)
        else:
            expect_err(lambda: B.get_object(Bucket=BKT, Key=key), 403, "AccessDenied", "B reads %s" % canned)
        expect_grants(A.get_object_acl(Bucket=BKT, Key=key), grants, "object ACL " + canned)
        # An object's grants give nothing on the bucket, nor the object's ACL.
        expect_anon("GET", "/%s/%s?acl" % (BKT, key), 403, "AccessDenied", canned + " acl")
        expect_anon("DELETE", "/%s/%s" % (BKT, key), 403, "AccessDenied", canned + " delete")
    expect_anon("GET", "/" + BKT, 403, "AccessDenied", "list after public objects")


def case_share_link():
    """PutObject with ACL public-read: the plain URL serves the same bytes to anyone."""
    body = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, every byte value
    A.put_object(Bucket=BKT, Key="share/photo.bin", Body=body, ACL="public-read")
    data = expect_anon("GET", "/%s/share/photo.bin" % BKT, 200, None, "share link")
    if data != body:
        bad("share link: %d bytes, want %d identical" % (len(data), len(body)))
    st, part = anon("GET", "/%s/share/photo.bin" % BKT, headers={"Range": "bytes=10-19"})
    if st != 206 or part != body[10:20]:
        bad("share link range: %d %r" % (st, part))


def case_overwrite_resets():
    A.put_object(Bucket=BKT, Key="over.txt", Body=b"one", ACL="public-read")
    expect_anon("GET", "/%s/over.txt" % BKT, 200, None, "public before overwrite")
    A.put_object(Bucket=BKT, Key="over.txt", Body=b"two")
    expect_anon("GET", "/%s/over.txt" % BKT, 403, "AccessDenied", "overwritten without ACL: private again")
    expect_grants(A.get_object_acl(Bucket=BKT, Key="over.txt"), [(AK, "FULL_CONTROL")], "overwritten ACL")
    A.delete_object(Bucket=BKT, Key="over.txt")
    A.put_object(Bucket=BKT, Key="over.txt", Body=b"three")
    expect_anon("GET", "/%s/over.txt" % BKT, 403, "AccessDenied", "deleted and put again: private")


def case_copy_multipart():
    A.put_object(Bucket=BKT, Key="src.txt", Body=b"source", ACL="public-read")
    A.copy_object(Bucket=BKT, Key="copy-pub.txt", CopySource={"Bucket": BKT, "Key": "src.txt"}, ACL="public-read")
    if expect_anon("GET", "/%s/copy-pub.txt" % BKT, 200, None, "copy with public-read") != b"source":
        bad("copy bytes")
    A.copy_object(Bucket=BKT, Key="copy-priv.txt", CopySource={"Bucket": BKT, "Key": "src.txt"})
    expect_anon("GET", "/%s/copy-priv.txt" % BKT, 403, "AccessDenied", "copy without ACL: private")
    # B may read the public source but not write into A's bucket.
    B.create_bucket(Bucket="acl-b")
    expect_ok(lambda: B.copy_object(Bucket="acl-b", Key="from-a.txt", CopySource={"Bucket": BKT, "Key": "src.txt"}),
              "B copies A's public-read object into its bucket")
    expect_err(lambda: B.copy_object(Bucket="acl-b", Key="x.txt", CopySource={"Bucket": BKT, "Key": "private.txt"}),
               403, "AccessDenied", "B copies A's private object")
    # Multipart: the ACL given at CreateMultipartUpload is the object's at Complete.
    mp = A.create_multipart_upload(Bucket=BKT, Key="mp.bin", ACL="public-read")
    p1 = A.upload_part(Bucket=BKT, Key="mp.bin", UploadId=mp["UploadId"], PartNumber=1, Body=b"m" * (5 << 20))
    p2 = A.upload_part(Bucket=BKT, Key="mp.bin", UploadId=mp["UploadId"], PartNumber=2, Body=b"end")
    A.complete_multipart_upload(Bucket=BKT, Key="mp.bin", UploadId=mp["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    data = expect_anon("GET", "/%s/mp.bin" % BKT, 200, None, "multipart with public-read")
    if data != b"m" * (5 << 20) + b"end":
        bad("multipart bytes")
    h = A.head_object(Bucket=BKT, Key="mp.bin")
    if any("acl" in k for k in h.get("Metadata", {})):
        bad("the upload's ACL leaked into metadata: %s" % h["Metadata"])
    expect_grants(A.get_object_acl(Bucket=BKT, Key="mp.bin"), [(AK, "FULL_CONTROL"), (ALL, "READ")], "multipart ACL")


def case_bucket_canned():
    # public-read bucket: anyone lists, nobody else writes.
    A.create_bucket(Bucket="acl-pr", ACL="public-read")
    A.put_object(Bucket="acl-pr", Key="k.txt", Body=b"k")
    data = expect_anon("GET", "/acl-pr?list-type=2", 200, None, "public-read bucket list")
    if b"<Key>k.txt</Key>" not in data:
        bad("public-read bucket listing lacks k.txt")
    expect_anon("GET", "/acl-pr", 200, None, "public-read bucket list v1")
    expect_anon("HEAD", "/acl-pr", 200, None, "public-read bucket head")
    expect_anon("GET", "/acl-pr/k.txt", 403, "AccessDenied", "object in a public-read bucket stays private")
    expect_anon("GET", "/acl-pr/none.txt", 404, "NoSuchKey", "a missing key to one who may list")
    expect_anon("PUT", "/acl-pr/anon.txt", 403, "AccessDenied", "anonymous put into public-read", body=b"a")
    expect_anon("GET", "/acl-pr?acl", 403, "AccessDenied", "public-read bucket's ACL")
    expect_ok(lambda: B.list_objects_v2(Bucket="acl-pr"), "B lists public-read bucket")
    expect_err(lambda: B.put_object(Bucket="acl-pr", Key="b.txt", Body=b"b"), 403, "AccessDenied",
               "B writes into public-read")
    expect_grants(A.get_bucket_acl(Bucket="acl-pr"), [(AK, "FULL_CONTROL"), (ALL, "READ")], "public-read bucket ACL")

    # public-read-write: anyone writes (small, buffered and streamed bodies) and deletes.
    A.create_bucket(Bucket="acl-prw")
    A.put_bucket_acl(Bucket="acl-prw", ACL="public-read-write")
    for name, size in (("small", 100), ("buffered", 300 << 10), ("streamed", 5 << 20)):
        body = (name.encode() * (size // len(name) + 1))[:size]
        expect_anon("PUT", "/acl-prw/%s.bin" % name, 200, None, "anonymous put " + name, body=body)
        got = A.get_object(Bucket="acl-prw", Key=name + ".bin")["Body"].read()
        if got != body:
            bad("anonymous %s put: stored %d bytes, want %d" % (name, len(got), size))
        acl = A.get_object_acl(Bucket="acl-prw", Key=name + ".bin")
        if acl["Owner"]["ID"] != AK:
            bad("an anonymous write is owned by the bucket's owner, got %s" % acl["Owner"]["ID"])
    expect_anon("DELETE", "/acl-prw/small.bin", 204, None, "anonymous delete")
    expect_ok(lambda: B.put_object(Bucket="acl-prw", Key="by-b.txt", Body=b"b"), "B writes into public-read-write")
    expect_err(lambda: A.get_object(Bucket="acl-prw", Key="by-b.txt"), 403, "AccessDenied",
               "A reads B's private object in A's bucket")
    expect_ok(lambda: A.delete_object(Bucket="acl-prw", Key="by-b.txt"), "A deletes B's object in A's bucket")
    expect_anon("PUT", "/acl-prw/pub.txt", 200, None, "anonymous put with public-read", body=b"p",
                headers={"x-amz-acl": "public-read"})
    expect_anon("GET", "/acl-prw/pub.txt", 200, None, "anonymous reads its public-read put")

    # authenticated-read: any user lists, anonymous nothing.
    A.create_bucket(Bucket="acl-ar", ACL="authenticated-read")
    expect_anon("GET", "/acl-ar", 403, "AccessDenied", "authenticated-read bucket, anonymous")
    expect_ok(lambda: B.list_objects_v2(Bucket="acl-ar"), "B lists authenticated-read bucket")
    expect_err(lambda: B.put_object(Bucket="acl-ar", Key="b.txt", Body=b"b"), 403, "AccessDenied",
               "B writes into authenticated-read")

    # private again: closed.
    A.put_bucket_acl(Bucket="acl-prw", ACL="private")
    expect_anon("PUT", "/acl-prw/late.bin", 403, "AccessDenied", "put after private (buffered body)",
                body=b"z" * (300 << 10))
    expect_anon("PUT", "/acl-prw/late2.txt", 403, "AccessDenied", "put after private", body=b"z")
    expect_anon("GET", "/acl-prw", 403, "AccessDenied", "list after private")
    # bucket-owner-* on a bucket: as private (AWS ignores them there).
    A.put_bucket_acl(Bucket="acl-ar", ACL="bucket-owner-full-control")
    expect_grants(A.get_bucket_acl(Bucket="acl-ar"), [(AK, "FULL_CONTROL")], "bucket-owner-full-control on a bucket")


def case_grants():
    # By id: B may read, anonymous not.
    A.put_object(Bucket=BKT, Key="for-b.txt", Body=b"for b", GrantRead='id="%s"' % AK2)
    if B.get_object(Bucket=BKT, Key="for-b.txt")["Body"].read() != b"for b":
        bad("B reads for-b.txt")
    expect_anon("GET", "/%s/for-b.txt" % BKT, 403, "AccessDenied", "grant to B, anonymous")
    expect_grants(A.get_object_acl(Bucket=BKT, Key="for-b.txt"), [(AK2, "READ")], "grant-read id")
    expect_err(lambda: B.get_object_acl(Bucket=BKT, Key="for-b.txt"), 403, "AccessDenied", "READ is not READ_ACP")
    # Several grants in one header, several headers; group by uri.
    A.put_object(Bucket=BKT, Key="multi.txt", Body=b"multi",
                 GrantRead='uri="%s", id="%s"' % (ALL, AK2), GrantReadACP='id="%s"' % AK2)
    expect_anon("GET", "/%s/multi.txt" % BKT, 200, None, "grant-read uri AllUsers")
    expect_ok(lambda: B.get_object_acl(Bucket=BKT, Key="multi.txt"), "B reads the ACL with READ_ACP")
    expect_err(lambda: B.put_object_acl(Bucket=BKT, Key="multi.txt", ACL="private"), 403, "AccessDenied",
               "B writes the ACL without WRITE_ACP")
    # A bucket WRITE grant to B: B writes into A's bucket, owns what it writes.
    A.put_bucket_acl(Bucket=BKT, GrantWrite='id="%s"' % AK2, GrantFullControl='id="%s"' % AK)
    expect_grants(A.get_bucket_acl(Bucket=BKT), [(AK, "FULL_CONTROL"), (AK2, "WRITE")], "bucket grants")
    B.put_object(Bucket=BKT, Key="by-b-private.txt", Body=b"b1")
    B.put_object(Bucket=BKT, Key="by-b-read.txt", Body=b"b2", ACL="bucket-owner-read")
    B.put_object(Bucket=BKT, Key="by-b-full.txt", Body=b"b3", ACL="bucket-owner-full-control")
    expect_err(lambda: A.get_object(Bucket=BKT, Key="by-b-private.txt"), 403, "AccessDenied",
               "A reads B's private object")
    if A.get_object(Bucket=BKT, Key="by-b-read.txt")["Body"].read() != b"b2":
        bad("bucket-owner-read: A reads")
    expect_err(lambda: A.get_object_acl(Bucket=BKT, Key="by-b-read.txt"), 403, "AccessDenied",
               "bucket-owner-read gives no READ_ACP")
    acl = A.get_object_acl(Bucket=BKT, Key="by-b-full.txt")
    expect_grants(acl, [(AK2, "FULL_CONTROL"), (AK, "FULL_CONTROL")], "bucket-owner-full-control")
    if acl["Owner"]["ID"] != AK2:
        bad("B's object owned by %s" % acl["Owner"]["ID"])
    expect_grants(B.get_object_acl(Bucket=BKT, Key="by-b-read.txt"), [(AK2, "FULL_CONTROL"), (AK, "READ")],
                  "bucket-owner-read")
    expect_ok(lambda: A.put_object_acl(Bucket=BKT, Key="by-b-full.txt", ACL="public-read"),
              "A changes the ACL of B's object with FULL_CONTROL")
    # A canned ACL replaces every grant (A's too, as AWS); the owner stays B.
    acl = B.get_object_acl(Bucket=BKT, Key="by-b-full.txt")
    if acl["Owner"]["ID"] != AK2:
        bad("PutObjectAcl changed the owner to %s" % acl["Owner"]["ID"])
    expect_grants(acl, [(AK2, "FULL_CONTROL"), (ALL, "READ")], "public-read set by A on B's object")
    expect_anon("GET", "/%s/by-b-full.txt" % BKT, 200, None, "B's object made public-read by A")
    expect_err(lambda: A.get_object_acl(Bucket=BKT, Key="by-b-full.txt"), 403, "AccessDenied",
               "A's grant went with the canned ACL")
    expect_err(lambda: B.list_objects_v2(Bucket=BKT), 403, "AccessDenied", "WRITE is not READ")
    A.put_bucket_acl(Bucket=BKT, ACL="private")
    expect_err(lambda: B.put_object(Bucket=BKT, Key="late.txt", Body=b"x"), 403, "AccessDenied",
               "B writes after the grant is gone")


def case_errors():
    expect_err(lambda: A.put_object(Bucket=BKT, Key="e.txt", Body=b"e", ACL="public-read",
                                    GrantRead='id="%s"' % AK2), 400, "InvalidRequest", "canned and grants")
    expect_err(lambda: A.put_object(Bucket=BKT, Key="e.txt", Body=b"e", GrantRead='id="NOSUCHUSERKEY"'),
               400, "InvalidArgument", "grant to an unknown id")
    expect_err(lambda: A.put_bucket_acl(Bucket=BKT, GrantRead='id="NOSUCHUSERKEY"'), 400, "InvalidArgument",
               "bucket grant to an unknown id")
    expect_err(lambda: A.put_object_acl(Bucket=BKT, Key="private.txt", GrantRead='uri="http://example.com/x"'),
               400, "InvalidArgument", "grant to an unknown group")
    st, data = anon_signed_acl("PUT", "/%s/e.txt" % BKT, {"x-amz-acl": "no-such-acl"}, b"e")
    if (st, code_of(data)) != (400, "InvalidArgument"):
        bad("unknown canned ACL: %d %s" % (st, code_of(data)))
    st, data = anon_signed_acl("PUT", "/%s?acl" % BKT, {}, b"<AccessControlPolicy><Oops")
    if (st, code_of(data)) != (400, "MalformedACLError"):
        bad("malformed ACL XML: %d %s" % (st, code_of(data)))
    st, data = anon_signed_acl("PUT", "/%s?acl" % BKT, {}, b"<Other/>")
    if (st, code_of(data)) != (400, "MalformedACLError"):
        bad("wrong root: %d %s" % (st, code_of(data)))
    st, data = anon_signed_acl("PUT", "/%s?acl" % BKT, {}, policy([("id", AK, "SOMETHING")]))
    if (st, code_of(data)) != (400, "MalformedACLError"):
        bad("unknown permission: %d %s" % (st, code_of(data)))
    st, data = anon_signed_acl("PUT", "/%s?acl" % BKT, {}, policy([("id", "NOSUCHUSERKEY", "READ")]))
    if (st, code_of(data)) != (400, "InvalidArgument"):
        bad("unknown id in XML: %d %s" % (st, code_of(data)))
    expect_grants(A.get_bucket_acl(Bucket=BKT), [(AK, "FULL_CONTROL")], "after refused changes")
    expect_err(lambda: A.get_object_acl(Bucket=BKT, Key="nope.txt"), 404, "NoSuchKey", "ACL of a missing key")
    expect_err(lambda: A.get_bucket_acl(Bucket="acl-nope"), 404, "NoSuchBucket", "ACL of a missing bucket")


def policy(grants, owner=None):
    x = ['<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
         "<Owner><ID>%s</ID></Owner>" % (owner or AK), "<AccessControlList>"]
    for kind, who, perm in grants:
        t = "CanonicalUser" if kind == "id" else "Group"
        el = "ID" if kind == "id" else "URI"
        x.append('<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="%s">'
                 "<%s>%s</%s></Grantee><Permission>%s</Permission></Grant>" % (t, el, who, el, perm))
    x.append("</AccessControlList></AccessControlPolicy>")
    return "".join(x).encode()


def anon_signed_acl(method, path, headers, body):
    """A request signed by A with botocore's signer, for bodies boto3 would validate itself."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method=method, url=URL + path, data=body, headers=dict(headers))
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    return anon(method, path, body, dict(req.headers.items()))


def case_xml_body():
    A.put_object(Bucket=BKT, Key="xml.txt", Body=b"xml body")
    A.put_object_acl(Bucket=BKT, Key="xml.txt", AccessControlPolicy={
        "Owner": {"ID": AK},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": AK}, "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "CanonicalUser", "ID": AK2}, "Permission": "READ"},
                   {"Grantee": {"Type": "Group", "URI": AUTH}, "Permission": "READ_ACP"}]})
    expect_grants(A.get_object_acl(Bucket=BKT, Key="xml.txt"),
                  [(AK, "FULL_CONTROL"), (AK2, "READ"), (AUTH, "READ_ACP")], "ACL from XML")
    if B.get_object(Bucket=BKT, Key="xml.txt")["Body"].read() != b"xml body":
        bad("B reads after the XML grant")
    expect_anon("GET", "/%s/xml.txt" % BKT, 403, "AccessDenied", "XML grants nothing to anonymous")
    st, data = anon_signed_acl("PUT", "/%s?acl" % BKT, {}, policy([("id", AK, "FULL_CONTROL"), ("uri", ALL, "READ")]))
    if st != 200:
        bad("PutBucketAcl XML: %d %s" % (st, data[:300]))
    expect_anon("GET", "/" + BKT, 200, None, "list after XML public-read bucket ACL")
    A.put_bucket_acl(Bucket=BKT, ACL="private")
    expect_anon("GET", "/" + BKT, 403, "AccessDenied", "list after private again")


def case_pab():
    A.create_bucket(Bucket="acl-pab")
    expect_err(lambda: A.get_public_access_block(Bucket="acl-pab"), 404, "NoSuchPublicAccessBlockConfiguration",
               "no public access block yet")
    A.put_object(Bucket="acl-pab", Key="pub.txt", Body=b"pub", ACL="public-read")
    expect_anon("GET", "/acl-pab/pub.txt", 200, None, "public before any block")
    cfg = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
           "RestrictPublicBuckets": True}
    A.put_public_access_block(Bucket="acl-pab", PublicAccessBlockConfiguration=cfg)
    got = A.get_public_access_block(Bucket="acl-pab")["PublicAccessBlockConfiguration"]
    if got != cfg:
        bad("GetPublicAccessBlock %s, want %s" % (got, cfg))
    expect_err(lambda: A.put_object(Bucket="acl-pab", Key="p2.txt", Body=b"x", ACL="public-read"), 403,
               "AccessDenied", "BlockPublicAcls: PutObject public-read")
    expect_err(lambda: A.put_object(Bucket="acl-pab", Key="p3.txt", Body=b"x", GrantRead='uri="%s"' % AUTH), 403,
               "AccessDenied", "BlockPublicAcls: PutObject grant to AuthenticatedUsers")
    expect_err(lambda: A.put_bucket_acl(Bucket="acl-pab", ACL="public-read"), 403, "AccessDenied",
               "BlockPublicAcls: PutBucketAcl public-read")
    expect_err(lambda: A.put_object_acl(Bucket="acl-pab", Key="pub.txt", ACL="public-read-write"), 403,
               "AccessDenied", "BlockPublicAcls: PutObjectAcl")
    st, data = anon_signed_acl("PUT", "/acl-pab?acl", {}, policy([("uri", ALL, "READ")]))
    if (st, code_of(data)) != (403, "AccessDenied"):
        bad("BlockPublicAcls: XML body %d %s" % (st, code_of(data)))
    expect_err(lambda: A.copy_object(Bucket="acl-pab", Key="c.txt", CopySource={"Bucket": "acl-pab", "Key": "pub.txt"},
                                     ACL="public-read"), 403, "AccessDenied", "BlockPublicAcls: CopyObject")
    expect_err(lambda: A.create_multipart_upload(Bucket="acl-pab", Key="m.bin", ACL="public-read"), 403,
               "AccessDenied", "BlockPublicAcls: CreateMultipartUpload")
    expect_ok(lambda: A.put_object(Bucket="acl-pab", Key="p4.txt", Body=b"x", ACL="private"),
              "BlockPublicAcls: a private ACL is fine")
    expect_ok(lambda: A.put_object(Bucket="acl-pab", Key="p5.txt", Body=b"x", GrantRead='id="%s"' % AK2),
              "BlockPublicAcls: a grant to a user is fine")
    expect_anon("GET", "/acl-pab/pub.txt", 200, None, "BlockPublicAcls leaves existing public ACLs in force")
    # IgnorePublicAcls: the existing public grant counts for nothing.
    cfg = dict(cfg, IgnorePublicAcls=True)
    A.put_public_access_block(Bucket="acl-pab", PublicAccessBlockConfiguration=cfg)
    expect_anon("GET", "/acl-pab/pub.txt", 403, "AccessDenied", "IgnorePublicAcls: public-read object")
    expect_err(lambda: B.get_object(Bucket="acl-pab", Key="pub.txt"), 403, "AccessDenied",
               "IgnorePublicAcls: B through AllUsers")
    if B.get_object(Bucket="acl-pab", Key="p5.txt")["Body"].read() != b"x":
        bad("IgnorePublicAcls keeps grants to users")
    expect_grants(A.get_object_acl(Bucket="acl-pab", Key="pub.txt"), [(AK, "FULL_CONTROL"), (ALL, "READ")],
                  "IgnorePublicAcls does not change the stored ACL")
    # IgnorePublicAcls on a public-read-write bucket closes anonymous writes too (the intake's list).
    A.create_bucket(Bucket="acl-pab2", ACL="public-read-write")
    expect_anon("PUT", "/acl-pab2/w.bin", 200, None, "public-read-write before the block", body=b"w" * (200 << 10))
    A.put_public_access_block(Bucket="acl-pab2", PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    expect_anon("PUT", "/acl-pab2/w2.bin", 403, "AccessDenied", "IgnorePublicAcls: buffered anonymous put",
                body=b"w" * (200 << 10))
    expect_anon("PUT", "/acl-pab2/w3.txt", 403, "AccessDenied", "IgnorePublicAcls: small anonymous put", body=b"w")
    A.delete_public_access_block(Bucket="acl-pab2")
    expect_anon("PUT", "/acl-pab2/w4.txt", 200, None, "after DeletePublicAccessBlock", body=b"w")
    # Delete: public again.
    A.delete_public_access_block(Bucket="acl-pab")
    expect_err(lambda: A.get_public_access_block(Bucket="acl-pab"), 404, "NoSuchPublicAccessBlockConfiguration",
               "after DeletePublicAccessBlock")
    expect_anon("GET", "/acl-pab/pub.txt", 200, None, "public again after DeletePublicAccessBlock")
    expect_err(lambda: B.put_public_access_block(Bucket="acl-pab", PublicAccessBlockConfiguration=cfg), 403,
               "AccessDenied", "B sets A's public access block")
    expect_err(lambda: A.get_public_access_block(Bucket="acl-nope"), 404, "NoSuchBucket", "no such bucket")
    st, data = anon_signed_acl("PUT", "/acl-pab?publicAccessBlock", {}, b"<PublicAccessBlockConfiguration>"
                               b"<BlockPublicAcls>maybe</BlockPublicAcls></PublicAccessBlockConfiguration>")
    if (st, code_of(data)) != (400, "MalformedXML"):
        bad("PAB with a bad flag: %d %s" % (st, code_of(data)))


def case_deleted_bucket():
    """A bucket deleted and created again starts private, without the old ACL or block."""
    A.create_bucket(Bucket="acl-again", ACL="public-read")
    A.put_public_access_block(Bucket="acl-again", PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    A.delete_bucket(Bucket="acl-again")
    A.create_bucket(Bucket="acl-again")
    expect_anon("GET", "/acl-again", 403, "AccessDenied", "re-created bucket is private")
    expect_err(lambda: A.get_public_access_block(Bucket="acl-again"), 404, "NoSuchPublicAccessBlockConfiguration",
               "re-created bucket has no block")


def case_single_user():
    """After a restart with user A alone: ACLs kept, share links and anonymous writes as before,
    A (the one user) may do anything, as before ACLs existed."""
    expect_anon("GET", "/%s/share/photo.bin" % BKT, 200, None, "share link after the restart")
    expect_anon("GET", "/%s/private.txt" % BKT, 403, "AccessDenied", "private after the restart")
    # The intake's list of buckets open to anonymous writes is read at start-up.
    expect_anon("PUT", "/acl-pab2/after.bin", 200, None, "anonymous buffered put after the restart",
                body=b"r" * (200 << 10))
    expect_anon("GET", "/acl-prw?list-type=2", 403, "AccessDenied", "a bucket made private stays private")
    # The one user reads even B's objects and bucket (every bucket is its own, as before ACLs).
    if A.get_object(Bucket=BKT, Key="by-b-private.txt")["Body"].read() != b"b1":
        bad("the one user reads B's object")
    expect_ok(lambda: A.list_objects_v2(Bucket="acl-b"), "the one user lists B's bucket")
    A.put_object(Bucket=BKT, Key="single-pub.txt", Body=b"single", ACL="public-read")
    if expect_anon("GET", "/%s/single-pub.txt" % BKT, 200, None, "public-read with one user") != b"single":
        bad("single-user share link bytes")
    A.put_public_access_block(Bucket=BKT, PublicAccessBlockConfiguration={"BlockPublicAcls": True,
                                                                         "IgnorePublicAcls": True})
    expect_err(lambda: A.put_object(Bucket=BKT, Key="single-pub2.txt", Body=b"x", ACL="public-read"), 403,
               "AccessDenied", "BlockPublicAcls with one user")
    expect_anon("GET", "/%s/single-pub.txt" % BKT, 403, "AccessDenied", "IgnorePublicAcls with one user")


def main():
    fn = globals().get("case_" + sys.argv[1])
    if fn is None:
        print("unknown case", sys.argv[1])
        return 2
    fn()
    return 0 if OK[0] else 1


if __name__ == "__main__":
    sys.exit(main())

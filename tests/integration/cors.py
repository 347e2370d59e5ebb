"""cors.py — CORS cases for test_cors.sh: bucket configurations through boto3, preflights and
actual requests as a browser sends them (raw HTTP, no credentials, or presigned URLs).

Usage: cors.py CASE BUCKET [BUCKET2]. Prints what it saw; exits 1 on a mismatch.
Reads S3_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment.
"""
import http.client
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore.config
from botocore.exceptions import ClientError

URL = os.environ["S3_URL"]
U = urllib.parse.urlparse(URL)
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
SITE = "http://site.example"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
               "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
               "are not whitelisted by the resource's CORS spec.")

s3 = boto3.client("s3", endpoint_url=URL, region_name="us-east-1",
                  config=botocore.config.Config(signature_version="s3v4", retries={"max_attempts": 1},
                                                s3={"addressing_style": "path"}))
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


class Reply:
    def __init__(self, r):
        self.status = r.status
        self.headers = {}
        for k, v in r.getheaders():
            k = k.lower()
            self.headers[k] = self.headers[k] + ", " + v if k in self.headers else v
        self.body = r.read()

    def h(self, name):
        return self.headers.get(name.lower())

    def error(self):
        try:
            root = ET.fromstring(self.body)
            return root.findtext("Code"), root.findtext("Message")
        except ET.ParseError:
            return None, None


def raw(method, path, headers=None, body=None):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = Reply(c.getresponse())
    c.close()
    print(f"  {method} {path[:80]} -> {r.status} {r.error() if r.status >= 300 else ''}")
    return r


def client_err(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], \
            e.response["Error"].get("Message", "")
    return 200, None, None


RULES = [
    {"ID": "site", "AllowedOrigins": [SITE, "http://*.site.example"], "AllowedMethods": ["GET", "PUT", "HEAD"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-request-id"],
     "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


def case_config(b, other):
    st, code, _ = client_err(s3.get_bucket_cors, Bucket=b)
    expect((st, code) == (404, "NoSuchCORSConfiguration"), f"GetBucketCors with none -> 404 NoSuchCORSConfiguration ({st} {code})")
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": RULES})
    got = s3.get_bucket_cors(Bucket=b)["CORSRules"]
    expect(got == RULES, f"GetBucketCors answers the rules put: {got}")
    st, code, msg = client_err(s3.put_bucket_cors, Bucket=b, CORSConfiguration={
        "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PATCH"]}]})
    expect((st, code, msg) == (400, "InvalidRequest",
                               "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
           f"unsupported method -> 400 InvalidRequest ({st} {code} {msg})")
    st, code, msg = client_err(s3.put_bucket_cors, Bucket=b, CORSConfiguration={
        "CORSRules": [{"AllowedOrigins": ["http://*.*"], "AllowedMethods": ["GET"]}]})
    expect((st, code, msg) == (400, "InvalidRequest", 'AllowedOrigin "http://*.*" can not have more than one wildcard.'),
           f"two wildcards in an origin -> 400 InvalidRequest ({st} {code} {msg})")
    st, code, msg = client_err(s3.put_bucket_cors, Bucket=b, CORSConfiguration={
        "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["*"]}]})
    expect((st, code) == (400, "InvalidRequest") and "ExposeHeader" in msg, f"wildcard ExposeHeader -> 400 InvalidRequest ({st} {code} {msg})")
    st, code, _ = client_err(s3.put_bucket_cors, Bucket=b, CORSConfiguration={
        "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101})
    expect((st, code) == (400, "MalformedXML"), f"101 rules -> 400 MalformedXML ({st} {code})")
    st, code, _ = client_err(s3.put_bucket_cors, Bucket=b, CORSConfiguration={"CORSRules": []})
    expect((st, code) == (400, "MalformedXML"), f"no rule -> 400 MalformedXML ({st} {code})")
    st, code, _ = client_err(s3.put_bucket_cors, Bucket="no-such-bucket-cors", CORSConfiguration={"CORSRules": RULES})
    expect((st, code) == (404, "NoSuchBucket"), f"PutBucketCors on a missing bucket -> 404 NoSuchBucket ({st} {code})")
    got = s3.get_bucket_cors(Bucket=b)["CORSRules"]
    expect(got == RULES, "refused configurations left the rules alone")
    st, code, _ = client_err(s3.get_bucket_cors, Bucket=other)
    expect((st, code) == (404, "NoSuchCORSConfiguration"), "the other bucket has none")
    r = s3.delete_bucket_cors(Bucket=b)
    expect(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "DeleteBucketCors -> 204")
    st, code, _ = client_err(s3.get_bucket_cors, Bucket=b)
    expect((st, code) == (404, "NoSuchCORSConfiguration"), "after DeleteBucketCors: 404 NoSuchCORSConfiguration")
    r = s3.delete_bucket_cors(Bucket=b)
    expect(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "DeleteBucketCors with none -> 204")
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": RULES})


def preflight(path, origin=None, method=None, headers=None):
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return raw("OPTIONS", path, h)


def case_preflight(b, other):
    r = preflight(f"/{b}/dir/obj.txt", SITE, "PUT", "Content-Type,X-Amz-Date")
    expect(r.status == 200, "preflight PUT with allowed headers -> 200")
    want = {"access-control-allow-origin": SITE, "access-control-allow-methods": "GET, PUT, HEAD",
            "access-control-allow-headers": "content-type, x-amz-date",
            "access-control-expose-headers": "ETag, x-amz-request-id", "access-control-max-age": "600",
            "access-control-allow-credentials": "true", "vary": VARY}
    for k, v in want.items():
        expect(r.h(k) == v, f"  {k}: {r.h(k)!r} == {v!r}")
    expect(r.body == b"", "preflight answer has no body")
    r = preflight(f"/{b}", "http://app.site.example", "HEAD")
    expect(r.status == 200 and r.h("access-control-allow-origin") == "http://app.site.example",
           "preflight on the bucket, pattern origin -> 200 with that origin")
    r = preflight(f"/{b}/k", "http://elsewhere.example", "GET")
    expect(r.status == 200 and r.h("access-control-allow-origin") == "*" and
           r.h("access-control-allow-credentials") is None and r.h("access-control-allow-methods") == "GET",
           f"origin only the '*' rule allows -> Allow-Origin * without credentials ({r.headers})")
    r = preflight(f"/{b}/k", "http://elsewhere.example", "PUT")
    expect((r.status, r.error()) == (403, ("AccessForbidden", NOT_ALLOWED)), "no rule for the method -> 403 AccessForbidden")
    expect(r.h("access-control-allow-origin") is None, "  and no Allow-Origin")
    r = preflight(f"/{b}/k", SITE, "PUT", "content-type, authorization")
    expect((r.status, r.error()[0]) == (403, "AccessForbidden"), "a header no rule allows -> 403 AccessForbidden")
    r = preflight(f"/{b}/k", None, "GET")
    expect((r.status, r.error()) == (400, ("BadRequest", "Insufficient information. Origin request header needed.")),
           "no Origin -> 400 BadRequest")
    r = preflight(f"/{b}/k", SITE, None)
    expect((r.status, r.error()) == (400, ("BadRequest", "Invalid Access-Control-Request-Method: null")),
           "no Access-Control-Request-Method -> 400 BadRequest")
    r = preflight(f"/{b}/k", SITE, "PATCH")
    expect((r.status, r.error()) == (400, ("BadRequest", "Invalid Access-Control-Request-Method: PATCH")),
           "method PATCH -> 400 BadRequest")
    r = preflight(f"/{other}/k", SITE, "GET")
    expect((r.status, r.error()) == (403, ("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")),
           "bucket without rules -> 403 AccessForbidden, CORS is not enabled")
    r = preflight("/no-such-bucket-cors/k", SITE, "GET")
    expect((r.status, r.error()[0]) == (403, "AccessForbidden"), "missing bucket -> 403 AccessForbidden")
    expect(r.h("x-amz-request-id") is not None, "errors carry x-amz-request-id")


def case_actual(b, other):
    body = b"hello from another origin\n"
    url = s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "p.txt", "ContentType": "text/plain"},
                                    ExpiresIn=600)
    pu = urllib.parse.urlparse(url)
    r = raw("PUT", pu.path + "?" + pu.query, {"Origin": SITE, "Content-Type": "text/plain"}, body)
    expect(r.status == 200 and r.h("etag"), "presigned PUT with Origin -> 200")
    expect(r.h("access-control-allow-origin") == SITE and r.h("access-control-expose-headers") == "ETag, x-amz-request-id"
           and r.h("vary") == VARY and r.h("access-control-allow-headers") is None,
           f"  with Allow-Origin, Expose-Headers, Vary ({r.headers})")
    # A body the gateway streams (over 4 MiB): its head waits for the rules, then for authentication.
    big = os.urandom(6 << 20)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "big.bin"}, ExpiresIn=600)
    pu = urllib.parse.urlparse(url)
    r = raw("PUT", pu.path + "?" + pu.query, {"Origin": SITE}, big)
    expect(r.status == 200 and r.h("access-control-allow-origin") == SITE, "presigned 6 MiB PUT with Origin -> 200 with Allow-Origin")
    got = s3.get_object(Bucket=b, Key="big.bin")["Body"].read()
    expect(got == big, "  and the object holds its bytes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "p.txt"}, ExpiresIn=600)
    pu = urllib.parse.urlparse(url)
    r = raw("GET", pu.path + "?" + pu.query, {"Origin": "http://x.site.example"})
    expect(r.status == 200 and r.body == body and r.h("access-control-allow-origin") == "http://x.site.example",
           "presigned GET with a pattern Origin -> 200, the bytes, Allow-Origin")
    r = raw("GET", pu.path + "?" + pu.query)
    expect(r.status == 200 and r.h("access-control-allow-origin") is None and r.h("vary") is None,
           "no Origin -> no CORS headers")
    r = raw("GET", pu.path + "?" + pu.query, {"Origin": "http://elsewhere.example"})
    expect(r.h("access-control-allow-origin") == "*", "an origin the '*' rule allows for GET -> Allow-Origin *")
    r = raw("DELETE", f"/{b}/p.txt", {"Origin": SITE})
    expect(r.status == 403 and r.h("access-control-allow-origin") is None,
           "DELETE (not allowed by any rule), unauthenticated -> 403 without Allow-Origin")
    # Errors carry the headers too: unauthenticated and missing keys.
    r = raw("GET", f"/{b}/p.txt", {"Origin": SITE})
    expect(r.status == 403 and r.error()[0] == "AccessDenied" and r.h("access-control-allow-origin") == SITE,
           "unauthenticated GET with Origin -> 403 AccessDenied with Allow-Origin")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "missing"}, ExpiresIn=600)
    pu = urllib.parse.urlparse(url)
    r = raw("GET", pu.path + "?" + pu.query, {"Origin": SITE})
    expect(r.status == 404 and r.error()[0] == "NoSuchKey" and r.h("access-control-allow-origin") == SITE,
           "presigned GET of a missing key -> 404 NoSuchKey with Allow-Origin")
    r = raw("HEAD", f"/{b}/p.txt", {"Origin": SITE})
    expect(r.status == 403 and r.h("access-control-allow-origin") == SITE, "unauthenticated HEAD with Origin -> 403 with Allow-Origin")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": other, "Key": "k"}, ExpiresIn=600)
    pu = urllib.parse.urlparse(url)
    r = raw("GET", pu.path + "?" + pu.query, {"Origin": SITE})
    expect(r.h("access-control-allow-origin") is None, "bucket without rules -> no Allow-Origin")
    # Changes apply at once: the cached rules are dropped.
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["http://new.example"],
                                                                    "AllowedMethods": ["GET"]}]})
    r = preflight(f"/{b}/p.txt", SITE, "GET")
    expect(r.status == 403, "after PutBucketCors with other rules: the old origin is refused")
    r = preflight(f"/{b}/p.txt", "http://new.example", "GET")
    expect(r.status == 200 and r.h("access-control-allow-origin") == "http://new.example", "  and the new one allowed")
    s3.delete_bucket_cors(Bucket=b)
    r = preflight(f"/{b}/p.txt", "http://new.example", "GET")
    expect((r.status, r.error()[1]) == (403, "CORSResponse: CORS is not enabled for this bucket."),
           "after DeleteBucketCors: CORS is not enabled")
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": RULES})


def case_recreate(b, other):
    """A bucket deleted and created again has no rules."""
    s3.put_bucket_cors(Bucket=other, CORSConfiguration={"CORSRules": RULES})
    r = preflight(f"/{other}/k", SITE, "GET")
    expect(r.status == 200, "rules on the second bucket answer")
    s3.delete_bucket(Bucket=other)
    r = preflight(f"/{other}/k", SITE, "GET")
    expect(r.status == 403, "deleted bucket -> 403")
    s3.create_bucket(Bucket=other)
    st, code, _ = client_err(s3.get_bucket_cors, Bucket=other)
    expect((st, code) == (404, "NoSuchCORSConfiguration"), "created again: no rules")
    r = preflight(f"/{other}/k", SITE, "GET")
    expect((r.status, r.error()[1]) == (403, "CORSResponse: CORS is not enabled for this bucket."),
           "created again: CORS is not enabled")


def case_many(b, other):
    """More buckets than the gateway keeps rules for (64): each still answers with its own."""
    names = [f"cors-many-{i:02d}" for i in range(70)]
    for i, n in enumerate(names):
        s3.create_bucket(Bucket=n)
        if i % 7 != 0:
            s3.put_bucket_cors(Bucket=n, CORSConfiguration={"CORSRules": [
                {"AllowedOrigins": [f"http://b{i}.example"], "AllowedMethods": ["GET"]}]})
    for rnd in range(2):
        for i, n in enumerate(names):
            r = preflight(f"/{n}/k", f"http://b{i}.example", "GET")
            if i % 7 == 0:
                expect(r.status == 403 and r.error()[1] == "CORSResponse: CORS is not enabled for this bucket.",
                       f"round {rnd}: {n} without rules -> 403")
            else:
                expect(r.status == 200 and r.h("access-control-allow-origin") == f"http://b{i}.example",
                       f"round {rnd}: {n} answers its own origin")
            r = preflight(f"/{n}/k", f"http://b{(i + 1) % 70}.example", "GET")
            expect(r.status == 403, f"round {rnd}: {n} refuses its neighbour's origin")
    for n in names:
        s3.delete_bucket(Bucket=n)


if __name__ == "__main__":
    globals()["case_" + sys.argv[1]](sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    if failures:
        print(f"{len(failures)} mismatches")
        sys.exit(1)

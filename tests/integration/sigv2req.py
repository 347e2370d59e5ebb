"""sigv2req.py — SigV2 clients and the authentication edge cases, for test_sigv2.sh.

Usage: sigv2req.py CASE [ARGS]. The real SigV2 clients here are botocore's: boto3 with
Config(signature_version="s3") (HmacV1Auth, header form) and its presigner
(HmacV1QueryAuth, query form). Requests whose bytes matter (a virtual-hosted Host, a Date in
each HTTP form, chunked framing, Expect) are written on raw sockets with secreq.py's
connection and SigV4 signer, and SigV2-signed here by the RESTAuthentication rules. Each
case asserts the exact status and S3 error code, prints what it saw and exits 1 on a
mismatch.

Environment: S3_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
"""
import base64
import hashlib
import hmac
import os
import socket
import sys
import time
import urllib.parse
import urllib.request
import urllib.error
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import secreq  # noqa: E402
from secreq import A, HOST, Conn, amz_date, bad, expect, head_bytes, presign, request, sign  # noqa: E402

import boto3  # noqa: E402
import botocore.config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

URL = os.environ["S3_URL"]
OK = secreq.OK
BKT = "sigv2"


def v2_client(**kw):
    cfg = botocore.config.Config(signature_version="s3", s3={"addressing_style": "path"},
                                 retries={"max_attempts": 1}, **kw)
    c = boto3.client("s3", endpoint_url=URL, aws_access_key_id=A[0], aws_secret_access_key=A[1],
                     region_name="us-east-1", config=cfg)
    seen = []

    def check_v2(request, **_):
        a = request.headers.get("Authorization", b"")
        a = a.decode() if isinstance(a, bytes) else a
        seen.append(a)
        if not a.startswith("AWS ") or a.startswith("AWS4"):
            bad("boto3 did not sign with SigV2: %r" % a[:40])

    c.meta.events.register("before-send.s3", check_v2)
    return c, seen


# ---- SigV2 by the page's rules (for the raw cases) ----

def v2_sign(method, path, headers, query="", user=A, domain_bucket=None):
    """Adds Authorization: AWS to headers (a dict, lower-case names)."""
    sub = []
    for part in filter(None, query.split("&")):
        k, eq, v = part.partition("=")
        if k in ("acl", "uploads", "uploadId", "partNumber", "delete", "tagging", "versionId") or \
                k.startswith("response-"):
            sub.append((k, urllib.parse.unquote(v) if eq else None))
    sub.sort(key=lambda x: x[0])
    res = ("/" + domain_bucket if domain_bucket else "") + path
    if sub:
        res += "?" + "&".join(k if v is None else k + "=" + v for k, v in sub)
    amz = sorted((k, v.strip()) for k, v in headers.items() if k.startswith("x-amz-"))
    date = "" if "x-amz-date" in headers else headers.get("date", "")
    sts = "%s\n%s\n%s\n%s\n%s%s" % (method, headers.get("content-md5", ""), headers.get("content-type", ""), date,
                                    "".join("%s:%s\n" % kv for kv in amz), res)
    sig = base64.b64encode(hmac.new(user[1].encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers["authorization"] = "AWS %s:%s" % (user[0], sig)
    return headers


def raw(method, path, headers, query="", body=b""):
    headers = dict(headers)
    headers.setdefault("host", HOST)
    if body or method in ("PUT", "POST"):
        headers["content-length"] = str(len(body))
    c = Conn()
    c.send(head_bytes(method, path, query, headers) + body)
    r = c.reply(head_only=method == "HEAD")
    c.close()
    print(method, path, query[:80], {k: v for k, v in headers.items() if k != "authorization"}, "->",
          r.status if r else None, r.code() if r else None)
    return r


def http_date(t, form):
    g = time.gmtime(t)
    if form == "imf":
        return time.strftime("%a, %d %b %Y %H:%M:%S GMT", g)
    if form == "rfc850":
        return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", g)
    if form == "asctime":
        s = time.strftime("%a %b %d %H:%M:%S %Y", g)
        return s[:8] + (" " + s[9] if s[8] == "0" else s[8:10]) + s[10:]
    if form == "plus0000":
        return time.strftime("%a, %d %b %Y %H:%M:%S +0000", g)
    if form == "minus0000":
        return time.strftime("%a, %d %b %Y %H:%M:%S -0000", g)
    raise ValueError(form)


FORMS = ("imf", "rfc850", "asctime", "plus0000", "minus0000")


# ---- cases ----

def case_url(url, status, code="", message=""):
    """GETs a (presigned) URL; status, and for an error its code and message."""
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            st, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        st, body = e.code, e.read()
    got_code = got_msg = None
    try:
        root = ET.fromstring(body)
        got_code, got_msg = root.findtext("Code"), root.findtext("Message")
    except ET.ParseError:
        pass
    print("GET", url[:160], "->", st, got_code, got_msg)
    if st != int(status):
        bad("status %d, want %s" % (st, status))
    if code and got_code != code:
        bad("code %r, want %r" % (got_code, code))
    if message and got_msg != message:
        bad("message %r, want %r" % (got_msg, message))


def case_presign(bucket, key, expires, user="A"):
    """Prints a SigV2 query-string URL from botocore's presigner (HmacV1QueryAuth)."""
    c, _ = v2_client()
    if user != "A":
        c = boto3.client("s3", endpoint_url=URL, aws_access_key_id=user, aws_secret_access_key=A[1],
                         region_name="us-east-1",
                         config=botocore.config.Config(signature_version="s3", s3={"addressing_style": "path"}))
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(expires))
    if "AWSAccessKeyId=" not in url or "Signature=" not in url or "X-Amz-" in url:
        bad("not a SigV2 URL: %s" % url)
    print(url)


def case_boto3():
    """boto3 with signature_version='s3': PUT, GET, HEAD, list, multipart, copy, delete."""
    c, seen = v2_client()
    body = os.urandom(300 << 10)
    c.put_object(Bucket=BKT, Key="boto/one", Body=body, ContentType="application/x-test",
                 Metadata={"color": "blue"})
    got = c.get_object(Bucket=BKT, Key="boto/one")
    if got["Body"].read() != body or got["Metadata"].get("color") != "blue":
        bad("GET after a SigV2 PUT differs")
    h = c.head_object(Bucket=BKT, Key="boto/one")
    if h["ContentLength"] != len(body) or h["ContentType"] != "application/x-test":
        bad("HEAD: %r" % h)
    r = c.get_object(Bucket=BKT, Key="boto/one", Range="bytes=10-19", ResponseContentType="text/x-override")
    if r["Body"].read() != body[10:20] or r["ContentType"] != "text/x-override":
        bad("ranged GET with response-content-type")
    p1, p2 = os.urandom(5 << 20), os.urandom(123457)
    up = c.create_multipart_upload(Bucket=BKT, Key="boto/mp")
    e1 = c.upload_part(Bucket=BKT, Key="boto/mp", UploadId=up["UploadId"], PartNumber=1, Body=p1)["ETag"]
    e2 = c.upload_part(Bucket=BKT, Key="boto/mp", UploadId=up["UploadId"], PartNumber=2, Body=p2)["ETag"]
    parts = c.list_parts(Bucket=BKT, Key="boto/mp", UploadId=up["UploadId"])["Parts"]
    if [p["PartNumber"] for p in parts] != [1, 2]:
        bad("ListParts: %r" % parts)
    c.complete_multipart_upload(Bucket=BKT, Key="boto/mp", UploadId=up["UploadId"],
                                MultipartUpload={"Parts": [{"ETag": e1, "PartNumber": 1},
                                                           {"ETag": e2, "PartNumber": 2}]})
    if c.get_object(Bucket=BKT, Key="boto/mp")["Body"].read() != p1 + p2:
        bad("multipart object differs")
    c.copy_object(Bucket=BKT, Key="boto/copy", CopySource={"Bucket": BKT, "Key": "boto/one"})
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=BKT, Prefix="boto/")["Contents"]]
    if keys != ["boto/copy", "boto/mp", "boto/one"]:
        bad("list: %r" % keys)
    c.delete_objects(Bucket=BKT, Delete={"Objects": [{"Key": "boto/copy"}, {"Key": "boto/mp"}]})
    c.delete_object(Bucket=BKT, Key="boto/one")
    if c.list_objects_v2(Bucket=BKT, Prefix="boto/").get("KeyCount") != 0:
        bad("objects left after the deletes")
    # A Content-MD5 that does not match the body: the body check still holds for SigV2.
    try:
        c.put_object(Bucket=BKT, Key="boto/md5", Body=b"abc",
                     ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode())
        bad("a wrong Content-MD5 was accepted")
    except ClientError as e:
        if e.response["Error"]["Code"] != "BadDigest":
            bad("wrong Content-MD5: %r" % e.response["Error"])
    print("%d requests signed with SigV2" % len(seen))
    if len(seen) < 15:
        bad("too few requests seen")


def case_refused(code, status):
    """boto3 SigV2 against a gateway that refuses SigV2: every call answers code/status."""
    c, _ = v2_client()
    for call in (lambda: c.list_objects_v2(Bucket=BKT), lambda: c.put_object(Bucket=BKT, Key="no", Body=b"x"),
                 lambda: c.get_object(Bucket=BKT, Key="dir/small")):
        try:
            call()
            bad("a SigV2 request was served")
        except ClientError as e:
            err = e.response["Error"]
            st = e.response["ResponseMetadata"]["HTTPStatusCode"]
            print("refused:", st, err)
            if err.get("Code") != code or st != int(status):
                bad("got %s %r, want %s %s" % (st, err.get("Code"), status, code))
            if err.get("Message") != ("The authorization mechanism you have provided is not supported. "
                                      "Please use AWS4-HMAC-SHA256."):
                bad("message %r" % err.get("Message"))
    # The header form on a raw request, and the query form.
    h = v2_sign("GET", "/" + BKT, {"date": http_date(time.time(), "imf")})
    expect(raw("GET", "/" + BKT, h), int(status), code, "SigV2 header form refused")
    exp = str(int(time.time()) + 300)
    sts = "GET\n\n\n%s\n/%s/dir/small" % (exp, BKT)
    sig = base64.b64encode(hmac.new(A[1].encode(), sts.encode(), hashlib.sha1).digest()).decode()
    qs = "AWSAccessKeyId=%s&Expires=%s&Signature=%s" % (A[0], exp, urllib.parse.quote(sig, safe=""))
    expect(raw("GET", "/%s/dir/small" % BKT, {}, qs), int(status), code, "SigV2 query form refused")
    # SigV4 is unaffected.
    expect(request("GET", "/%s/dir/small" % BKT), 200, what="SigV4 still served")


def case_header_errors():
    """SigV2 header form: skew, unknown key, wrong secret, tampering, malformed, missing date."""
    path = "/%s/dir/small" % BKT
    now = time.time()
    expect(raw("GET", path, v2_sign("GET", path, {"date": http_date(now, "imf")})), 200, what="control")
    for d in (1200, -1200):
        expect(raw("GET", path, v2_sign("GET", path, {"date": http_date(now + d, "imf")})), 403,
               "RequestTimeTooSkewed", "Date %+d s" % d)
    expect(raw("GET", path, v2_sign("GET", path, {"date": http_date(now + 600, "imf")})), 200,
           what="Date +600 s (within 15 minutes)")
    expect(raw("GET", path, v2_sign("GET", path, {"date": http_date(now, "imf")}, user=("TGS3NOSUCHKEY", A[1]))),
           403, "InvalidAccessKeyId", "unknown access key")
    expect(raw("GET", path, v2_sign("GET", path, {"date": http_date(now, "imf")}, user=(A[0], A[1] + "x"))),
           403, "SignatureDoesNotMatch", "wrong secret")
    h = v2_sign("GET", path, {"date": http_date(now, "imf")})
    expect(raw("DELETE", path, h), 403, "SignatureDoesNotMatch", "signed GET replayed as DELETE")
    h = v2_sign("PUT", path, {"date": http_date(now, "imf")})
    h["x-amz-meta-injected"] = "yes"
    expect(raw("PUT", path, h, body=b"evil"), 403, "SignatureDoesNotMatch", "x-amz-meta added after signing")
    h = v2_sign("GET", path, {"date": http_date(now, "imf")}, query="acl")
    expect(raw("GET", path, h, "tagging"), 403, "SignatureDoesNotMatch", "sub-resource swapped")
    expect(raw("GET", path, {"authorization": "AWS %s" % A[0], "date": http_date(now, "imf")}), 400,
           "InvalidArgument", "Authorization without a signature")
    h = v2_sign("GET", path, {})
    expect(raw("GET", path, h), 403, "AccessDenied", "no Date nor x-amz-date")
    r = raw("GET", path, h)
    if r is not None and r.message() != "AWS authorization requires a valid Date or x-amz-date header":
        bad("missing date: message %r" % r.message())
    # x-amz-date dates the request and blanks Date in the string to sign.
    h = v2_sign("GET", path, {"date": "Thu, 01 Jan 2004 00:00:00 GMT", "x-amz-date": http_date(now, "plus0000")})
    expect(raw("GET", path, h), 200, what="x-amz-date with an old Date")
    # Sub-resources and response overrides are signed; other parameters are not.
    h = v2_sign("GET", path, {"date": http_date(now, "imf")}, query="response-content-type=text%2Fx-v2")
    r = raw("GET", path, h, "response-content-type=text%2Fx-v2&x-id=GetObject")
    if expect(r, 200, what="response-content-type signed") and r.headers.get("content-type") != "text/x-v2":
        bad("response-content-type not applied: %r" % r.headers.get("content-type"))


def case_vhost(domain):
    """Virtual-hosted style: the bucket from Host goes into the signed resource."""
    host = "%s.%s:%s" % (BKT, domain, HOST.rsplit(":", 1)[1])
    now = time.time()
    h = v2_sign("GET", "/dir/small", {"host": host, "date": http_date(now, "imf")}, domain_bucket=BKT)
    expect(raw("GET", "/dir/small", h), 200, what="vhost GET signed /v2/dir/small")
    h = v2_sign("GET", "/dir/small", {"host": host, "date": http_date(now, "imf")})
    expect(raw("GET", "/dir/small", h), 403, "SignatureDoesNotMatch", "vhost GET signed without the bucket")
    h = v2_sign("GET", "/", {"host": host, "date": http_date(now, "imf")}, domain_bucket=BKT)
    r = raw("GET", "/", h, "list-type=2&prefix=dir%2F")
    if expect(r, 200, what="vhost ListObjectsV2") and b"<Key>dir/small</Key>" not in r.body:
        bad("vhost list lacks dir/small: %r" % r.body[:300])


def v4_date_request(method, path, date, extra=None, body=b""):
    """SigV4 with a Date header (no x-amz-date): the request time comes from Date."""
    t = secreq_parse(date)
    d = amz_date(t)
    h = {"host": HOST, "date": date, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    h.update(extra or {})
    names = sorted(h)
    ch = "".join("%s:%s\n" % (n, " ".join(h[n].split())) for n in names)
    sh = ";".join(names)
    creq = "\n".join([method, path, "", ch, sh, "UNSIGNED-PAYLOAD"])
    scope = "%s/us-east-1/s3/aws4_request" % d[:8]
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (d, scope, hashlib.sha256(creq.encode()).hexdigest())
    sig = hmac.new(secreq.signing_key(A[1], d[:8], "us-east-1", "s3"), sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (A[0], scope, sh, sig)
    return raw(method, path, h, body=body)


def secreq_parse(date):
    import email.utils
    if date.count(" ") == 4 and "," not in date:  # asctime
        return time.mktime(time.strptime(date, "%a %b %d %H:%M:%S %Y")) - time.timezone
    return email.utils.parsedate_to_datetime(date).timestamp()


def case_dates():
    """Every HTTP date form, in SigV4's Date, SigV2's Date and x-amz-date, and If-Unmodified-Since."""
    path = "/%s/dir/small" % BKT
    now = int(time.time())
    for f in FORMS:
        d = http_date(now, f)
        expect(v4_date_request("GET", path, d), 200, what="SigV4 with Date %r" % d)
        expect(raw("GET", path, v2_sign("GET", path, {"date": d})), 200, what="SigV2 with Date %r" % d)
        expect(raw("GET", path, v2_sign("GET", path, {"x-amz-date": d})), 200, what="SigV2 with x-amz-date %r" % d)
        old = http_date(784111777, f)  # RFC 9110's example instant, 1994
        cq, h = sign("GET", path, (), {"if-unmodified-since": old}, "UNSIGNED-PAYLOAD")
        expect(raw("GET", path, h), 412, "PreconditionFailed", "If-Unmodified-Since %r" % old)
        cq, h = sign("GET", path, (), {"if-modified-since": http_date(now + 3600, f)}, "UNSIGNED-PAYLOAD")
        r = raw("GET", path, h)
        expect(r, 304, what="If-Modified-Since an hour ahead, %s" % f)


def case_expires():
    """Presigned SigV4 X-Amz-Expires outside 1..604800, as AWS answers it."""
    path = "/%s/dir/small" % BKT
    cases = [
        ("0", 403, "AccessDenied", "Request has expired"),
        ("-1", 400, "AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative"),
        ("604801", 400, "AuthorizationQueryParametersError",
         "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less "
         "than 604800 seconds"),
        ("soon", 400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number"),
    ]
    for e, st, code, msg in cases:
        r = raw("GET", path, {}, presign("GET", path, expires=e))
        if expect(r, st, code, "X-Amz-Expires=%s" % e) and r.message() != msg:
            bad("X-Amz-Expires=%s: message %r" % (e, r.message()))
    expect(raw("GET", path, {}, presign("GET", path, expires=604800)), 200, what="X-Amz-Expires=604800")
    expect(raw("GET", path, {}, presign("GET", path, expires=1)), 200, what="X-Amz-Expires=1")


def chunked_put(path, headers, chunks):
    headers = dict(headers)
    headers["transfer-encoding"] = "chunked"
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    c = Conn()
    c.send(head_bytes("PUT", path, "", headers) + body)
    r = c.reply()
    c.close()
    print("PUT chunked", path, sorted(headers), "->", r.status if r else None, r.code() if r else None)
    return r


def case_te():
    """Transfer-Encoding: chunked, signed (SigV4 SignedHeaders, SigV2), verifies and stores."""
    data = [os.urandom(1000), os.urandom(70000), os.urandom(3)]
    path = "/%s/te/v4" % BKT
    cq, h = sign("PUT", path, (), {"transfer-encoding": "chunked"}, "UNSIGNED-PAYLOAD")
    if "transfer-encoding" not in h["authorization"]:
        bad("transfer-encoding not signed")
    expect(chunked_put(path, h, data), 200, what="SigV4 PUT with Transfer-Encoding signed")
    r = request("GET", path)
    if not expect(r, 200, what="GET te/v4") or r.body != b"".join(data):
        bad("te/v4 differs")
    cq, h = sign("PUT", path, (), {"transfer-encoding": "chunked"}, "UNSIGNED-PAYLOAD")
    h["authorization"] = h["authorization"].replace("transfer-encoding;", "")
    expect(chunked_put(path, h, data), 403, "SignatureDoesNotMatch", "Transfer-Encoding dropped from SignedHeaders")
    path = "/%s/te/v2" % BKT
    h = v2_sign("PUT", path, {"date": http_date(time.time(), "imf"), "content-type": "application/x-chunked"})
    expect(chunked_put(path, h, data), 200, what="SigV2 PUT chunked")
    r = request("GET", path)
    if not expect(r, 200, what="GET te/v2") or r.body != b"".join(data):
        bad("te/v2 differs")


def head_then(head, body, wait=5.0):
    """Sends head, then body only if "100 Continue" came first. Returns (final reply, 100 seen)."""
    c = Conn()
    c.send(head)
    try:
        while b"\r\n\r\n" not in c.buf and c._more(wait):
            pass
    except socket.timeout:
        pass
    cont = c.buf.startswith(b"HTTP/1.1 100")
    if cont:
        c.buf = c.buf.partition(b"\r\n\r\n")[2]
        c.send(body)
    r = c.reply()
    c.close()
    return r, cont


def case_expect():
    """Expect: 100 Continue only after authentication; another expectation is 417."""
    path = "/%s/expect/one" % BKT
    body = b"x" * 1000
    cq, h = sign("PUT", path, (), {"expect": "100-continue", "content-length": str(len(body))},
                 hashlib.sha256(body).hexdigest())
    r, cont = head_then(head_bytes("PUT", path, "", h), body)
    print("valid, 100-continue:", r and r.status, cont)
    if not cont or r is None or r.status != 200:
        bad("a signed PUT with Expect: 100-continue: 100 seen %s, then %s" % (cont, r))
    cq, h = sign("PUT", path, (), {"expect": "100-Continue", "content-length": str(len(body))},
                 hashlib.sha256(body).hexdigest(), user=(A[0], A[1] + "x"))
    r, cont = head_then(head_bytes("PUT", path, "", h), body)
    print("bad signature, 100-Continue:", r and r.status, cont)
    if cont or not expect(r, 403, "SignatureDoesNotMatch", "bad signature behind Expect: 100-continue"):
        bad("100 Continue sent before authentication failed (or wrong answer): %s" % r)
    h = v2_sign("PUT", path, {"date": http_date(time.time(), "imf"), "expect": "100-continue",
                              "content-length": str(len(body))}, user=("TGS3NOSUCHKEY", A[1]))
    r, cont = head_then(head_bytes("PUT", path, "", h), body)
    if cont or not expect(r, 403, "InvalidAccessKeyId", "SigV2 unknown key behind Expect: 100-continue"):
        bad("100 Continue sent to an unknown key: %s" % r)
    for v in ("200-ok", "100-continue-please", "x"):
        cq, h = sign("PUT", path, (), {"expect": v}, hashlib.sha256(body).hexdigest())
        r = raw("PUT", path, h, body=body)
        expect(r, 417, "ExpectationFailed", "Expect: %s" % v)
        cq, h = sign("GET", path, (), {"expect": v}, "UNSIGNED-PAYLOAD")
        expect(raw("GET", path, h), 417, "ExpectationFailed", "GET with Expect: %s" % v)
    r = request("GET", path)
    if not expect(r, 200, what="the PUT that went through") or r.body != body:
        bad("expect/one differs")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CASES:
        sys.exit("usage: sigv2req.py {%s} [args]" % "|".join(CASES))
    try:
        CASES[sys.argv[1]](*sys.argv[2:])
    except Exception as e:  # noqa: BLE001 — an unexpected exception is a failed case
        import traceback
        traceback.print_exc()
        bad("exception: %r" % e)
    if sys.argv[1] != "presign":
        print("PASS" if OK[0] else "FAILED")
    sys.exit(0 if OK[0] else 1)

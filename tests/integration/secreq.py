"""secreq.py — the security negative matrix: hostile requests built byte by byte.

Usage: secreq.py CASE [ARGS]. Requests are signed here with SigV4 (our own signer, so a
request can be signed for one thing and sent as another: a header added after signing, a
scope with another service, a date in the past), written on raw sockets where the framing
matters, and the outcome asserted: exact status, the S3 error code of the XML body, whether
bytes were stored (HEAD, ListObjects) and, for the disk-fill cases, the gateway's spill files.
Each case prints what it saw and exits 1 on any mismatch.

Environment: S3_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (user A), SEC_B_AK / SEC_B_SK
(user B), GW_DIR and GW_PID (the gateway's data dir and process, for the spill samples).
"""
import base64
import hashlib
import hmac
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

URL = os.environ["S3_URL"]
HOST = urllib.parse.urlparse(URL).netloc
ADDR = (urllib.parse.urlparse(URL).hostname, urllib.parse.urlparse(URL).port)
A = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
B = (os.environ.get("SEC_B_AK", ""), os.environ.get("SEC_B_SK", ""))
USERS = {"A": A, "B": B}
BKT = "sec"  # user A's bucket, made by the setup case
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
OK = [True]


def bad(msg):
    print("FAIL:", msg)
    OK[0] = False


# ---- signing ----

def q(s):
    return urllib.parse.quote(s, safe="-_.~")


def canon_query(pairs):
    return "&".join("%s=%s" % kv for kv in sorted((q(k), q(v)) for k, v in pairs))


def amz_date(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def signing_key(sk, date8, region, service):
    k = ("AWS4" + sk).encode()
    for part in (date8, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _b(v):
    return v if isinstance(v, bytes) else str(v).encode("latin-1")


def sign(method, path, pairs=(), headers=None, payload="UNSIGNED-PAYLOAD", user=A, service="s3", t=None):
    """Returns (query, headers) of a header-signed request; every header given is signed."""
    t = time.time() if t is None else t
    d = amz_date(t)
    h = {"host": HOST, "x-amz-date": d, "x-amz-content-sha256": payload}
    h.update({k.lower(): v for k, v in (headers or {}).items()})
    names = sorted(h)
    ch = b"".join(n.encode() + b":" + b" ".join(_b(h[n]).split()) + b"\n" for n in names)
    sh = ";".join(names)
    cq = canon_query(pairs)
    creq = b"\n".join([method.encode(), path.encode(), cq.encode(), ch, sh.encode(), payload.encode()])
    scope = "%s/us-east-1/%s/aws4_request" % (d[:8], service)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (d, scope, hashlib.sha256(creq).hexdigest())
    sig = hmac.new(signing_key(user[1], d[:8], "us-east-1", service), sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (user[0], scope, sh, sig)
    return cq, h


def presign(method, path, pairs=(), user=A, expires=300, service="s3", t=None):
    """Returns the query of a presigned URL signed for host alone."""
    t = time.time() if t is None else t
    d = amz_date(t)
    scope = "%s/us-east-1/%s/aws4_request" % (d[:8], service)
    allp = list(pairs) + [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", user[0] + "/" + scope),
                          ("X-Amz-Date", d), ("X-Amz-Expires", str(expires)), ("X-Amz-SignedHeaders", "host")]
    cq = canon_query(allp)
    creq = "\n".join([method, path, cq, "host:" + HOST + "\n", "host", "UNSIGNED-PAYLOAD"])
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (d, scope, hashlib.sha256(creq.encode()).hexdigest())
    sig = hmac.new(signing_key(user[1], d[:8], "us-east-1", service), sts.encode(), hashlib.sha256).hexdigest()
    return cq + "&X-Amz-Signature=" + sig


# ---- raw HTTP/1.1 ----

class Reply:
    def __init__(self, status, headers, body, raw):
        self.status, self.body, self.raw = status, body, raw
        self.hlist = headers
        self.headers = {k.lower(): v for k, v in headers}

    def code(self):
        try:
            el = ET.fromstring(self.body).find("Code")
        except ET.ParseError:
            return None
        return None if el is None else el.text

    def message(self):
        try:
            el = ET.fromstring(self.body).find("Message")
        except ET.ParseError:
            return None
        return None if el is None else el.text

    def __str__(self):
        return "%d %r %r" % (self.status, self.hlist, self.body[:400])


class Conn:
    def __init__(self, timeout=30):
        self.s = socket.create_connection(ADDR, timeout=timeout)
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.s.sendall(data)

    def _more(self, limit):
        self.s.settimeout(limit)
        try:
            c = self.s.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            c = b""
        if not c:
            self.closed = True
        self.buf += c
        return bool(c)

    def reply(self, limit=30, head_only=False):
        """Reads one response (not 1xx); None if the connection closed first."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                if not self._more(limit):
                    print("connection closed with %r unread" % self.buf[:200])
                    return None
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            hl = [tuple(x.split(":", 1)) for x in lines[1:] if ":" in x]
            hl = [(k.strip(), v.strip()) for k, v in hl]
            if 100 <= status < 200:
                self.buf = rest
                continue
            n = 0 if head_only or status in (204, 304) else int(dict((k.lower(), v) for k, v in hl).get("content-length", "0"))
            while len(rest) < n:
                if not self._more(limit):
                    break
                rest = self.buf.partition(b"\r\n\r\n")[2]
            self.buf = rest[n:]
            r = Reply(status, hl, rest[:n], head + b"\r\n\r\n" + rest[:n])
            print("  ->", r)
            return r

    def wait_closed(self, limit):
        """True if the peer closes within LIMIT seconds; the bytes read meanwhile stay in buf."""
        end = time.time() + limit
        while time.time() < end:
            try:
                if not self._more(max(0.05, end - time.time())):
                    return True
            except socket.timeout:
                return False
        return False

    def close(self):
        self.s.close()


def head_bytes(method, path, query, headers, extra=b""):
    lines = [("%s %s%s HTTP/1.1" % (method, path, "?" + query if query else "")).encode()]
    for k, v in headers.items():
        lines.append(k.encode() + b": " + _b(v))
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


def request(method, path, pairs=(), body=b"", headers=None, user=A, query=None, sign_it=True, extra=None,
            payload=None, head_only=None, t=None, service="s3"):
    """Signs (unless told not to) and sends one request; EXTRA headers are added unsigned."""
    headers = dict(headers or {})
    if sign_it:
        if payload is None:
            payload = hashlib.sha256(body).hexdigest()
        cq, headers = sign(method, path, pairs, headers, payload, user, service=service, t=t)
    else:
        cq = canon_query(pairs)
        headers.setdefault("host", HOST)
    if query is not None:
        cq = query
    headers.update(extra or {})
    if body or method in ("PUT", "POST"):
        headers["content-length"] = str(len(body))
    print(method, path, cq[:200], {k: v for k, v in headers.items() if k != "authorization"})
    c = Conn()
    c.send(head_bytes(method, path, cq, headers) + body)
    r = c.reply(head_only=method == "HEAD" if head_only is None else head_only)
    c.close()
    return r


def expect(r, status, code=None, what=""):
    if r is None:
        bad("%s: no response" % what)
        return False
    ok = True
    if r.status != status:
        bad("%s: status %d, want %d" % (what, r.status, status))
        ok = False
    if code is not None and r.code() != code:
        bad("%s: code %r, want %r" % (what, r.code(), code))
        ok = False
    return ok


def exists(bucket, key, user=A):
    r = request("HEAD", "/%s/%s" % (bucket, key), user=user)
    return r is not None and r.status == 200


def absent(bucket, key, what, user=A):
    r = request("HEAD", "/%s/%s" % (bucket, key), user=user)
    if r is None or r.status != 404:
        bad("%s: /%s/%s should not exist (HEAD %s)" % (what, bucket, key, r and r.status))


def keys(bucket, user=A, prefix=""):
    r = request("GET", "/" + bucket, [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url")], user=user)
    if r is None or r.status != 200:
        bad("listing %s: %s" % (bucket, r and r.status))
        return None
    root = ET.fromstring(r.body)
    return [urllib.parse.unquote(e.text or "") for e in root.findall(".//{*}Key")]


def put(bucket, key, body, user=A):
    return request("PUT", "/%s/%s" % (bucket, key), body=body, user=user)


def mpu_create(bucket, key, user=A):
    r = request("POST", "/%s/%s" % (bucket, key), [("uploads", "")], user=user)
    if r is None or r.status != 200:
        bad("CreateMultipartUpload: %s" % r)
        return ""
    return ET.fromstring(r.body).find("{*}UploadId").text


def complete_xml(parts):
    return ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
        "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % p for p in parts)).encode()


# ---- 0: setup ----

def case_setup():
    expect(request("PUT", "/" + BKT), 200, what="A creates sec")
    expect(put(BKT, "keep", b"keep me\n"), 200, what="A puts sec/keep")
    expect(request("PUT", "/sec-other"), 200, what="A creates sec-other")
    expect(put("sec-other", "secret", b"top secret\n"), 200, what="A puts sec-other/secret")
    expect(request("PUT", "/bsec", user=B), 200, what="B creates bsec")
    expect(put("bsec", "mine", b"B's object\n", user=B), 200, what="B puts bsec/mine")
    r = request("GET", "/%s/keep" % BKT)
    if r is None or r.body != b"keep me\n":
        bad("control: signed GET of sec/keep")


# ---- 1: response splitting ----

def no_injection(r, what):
    if r is not None and re.search(rb"\r?\n\s*set-cookie", r.raw, re.I):
        bad("%s: injected header in the raw response %r" % (what, r.raw[:300]))


def case_resp_split():
    path = "/%s/keep" % BKT
    r = request("GET", path, [("response-content-type", "text/plain")])
    if not (r and r.status == 200 and r.headers.get("content-type") == "text/plain"):
        bad("control: response-content-type=text/plain is honoured")
    for v in ("text/html\r\nSet-Cookie: s=x; Path=/", "text/html\nSet-Cookie: s=x", "text/html\rSet-Cookie: s=x"):
        r = request("GET", path, [("response-content-type", v)])
        expect(r, 400, "InvalidArgument", "signed response-content-type %r" % v)
        no_injection(r, "signed response-content-type")
    qs = presign("GET", path, [("response-content-disposition", "attachment\r\nSet-Cookie: s=x")])
    r = request("GET", path, query=qs, sign_it=False)
    expect(r, 400, "InvalidArgument", "presigned response-content-disposition with CR/LF")
    no_injection(r, "presigned response-content-disposition")


# ---- 2: x-amz-* headers outside the signature ----

def case_unsigned_amz():
    path = "/%s/pre-put" % BKT
    qs = presign("PUT", path)
    r = request("PUT", path, query=qs, sign_it=False, body=b"",
                headers={"x-amz-copy-source": "/sec-other/secret"})
    expect(r, 403, "AccessDenied", "presigned PUT (host signed) + unsigned x-amz-copy-source")
    absent(BKT, "pre-put", "presigned PUT with an unsigned copy source")
    r = request("PUT", path, query=qs, sign_it=False, body=b"presigned body")
    expect(r, 200, what="control: the same presigned PUT without the extra header")

    body = b"replayed body\n"
    for name, val in (("x-amz-copy-source", "/sec-other/secret"), ("x-amz-tagging", "a=b"),
                      ("x-amz-acl", "public-read"), ("x-amz-meta-x", "y")):
        key = "replay-" + name
        r = request("PUT", "/%s/%s" % (BKT, key), body=body, extra={name: val})
        expect(r, 403, "AccessDenied", "header-signed PUT replayed with unsigned %s" % name)
        absent(BKT, key, "replay with unsigned " + name)
    expect(request("PUT", "/%s/replay-ok" % BKT, body=body, headers={"x-amz-meta-x": "y"}), 200,
           what="control: x-amz-meta-x signed")


def case_scope_service():
    # Header form: AuthorizationHeaderMalformed (400), as AWS answers a scope naming another service.
    r = request("PUT", "/%s/iam-put" % BKT, body=b"x", service="iam")
    expect(r, 400, "AuthorizationHeaderMalformed", "header-signed scope with service iam")
    absent(BKT, "iam-put", "scope iam (header)")
    # Presigned form: status 400 (AuthorizationQueryParametersError or AuthorizationHeaderMalformed,
    # AWS's answers) or 403 (AccessDenied or SignatureDoesNotMatch) are all a refusal.
    path = "/%s/iam-pre" % BKT
    r = request("PUT", path, query=presign("PUT", path, service="iam"), sign_it=False, body=b"x")
    if r is None or (r.status, r.code()) not in (
            (400, "AuthorizationQueryParametersError"), (400, "AuthorizationHeaderMalformed"),
            (403, "AccessDenied"), (403, "SignatureDoesNotMatch")):
        bad("presigned scope with service iam: %s" % r)
    absent(BKT, "iam-pre", "scope iam (presigned)")


# ---- 3: bucket deleted and re-created by the other user mid-request ----

STREAM = 6 << 20


def stream_start(path, user, pairs=(), length=STREAM, first=1 << 20):
    cq, h = sign("PUT", path, pairs, {}, "UNSIGNED-PAYLOAD", user)
    h["content-length"] = str(length)
    c = Conn(timeout=60)
    c.send(head_bytes("PUT", path, cq, h) + b"\0" * first)
    return c


def wipe(bucket):
    """Leaves no bucket BUCKET behind, whoever owns it (clean-up of a failed run; not asserted)."""
    for u in (A, B):
        r = request("GET", "/" + bucket, [("uploads", "")], user=u)
        if r is None or r.status != 200:
            continue
        root = ET.fromstring(r.body)
        for up in root.findall(".//{*}Upload"):
            request("DELETE", "/%s/%s" % (bucket, up.find("{*}Key").text),
                    [("uploadId", up.find("{*}UploadId").text)], user=u)
        for k in keys(bucket, u) or []:
            request("DELETE", "/%s/%s" % (bucket, q(k).replace("%2F", "/")), user=u)
        request("DELETE", "/" + bucket, user=u)


def case_race(x, y):
    """X owns 'race' and streams a PUT into it; X deletes it, Y re-creates it, X's body ends."""
    ux, uy = USERS[x], USERS[y]
    wipe("race")
    expect(request("PUT", "/race", user=ux), 200, what="%s creates race" % x)
    c = stream_start("/race/obj", ux)
    time.sleep(0.7)
    expect(request("DELETE", "/race", user=ux), 204, what="%s deletes race during its PUT" % x)
    expect(request("PUT", "/race", user=uy), 200, what="%s creates race" % y)
    c.send(b"\0" * (STREAM - (1 << 20)))
    r = c.reply(60)
    c.close()
    expect(r, 404, "NoSuchBucket", "%s's streamed PUT after the bucket changed hands" % x)
    ks = keys("race", uy)
    if ks != []:
        bad("%s's bucket race is not empty: %r" % (y, ks))
    # CopyObject runs in one store transaction, so it cannot be cut in two from outside: what
    # can be tested is that X's copy into the re-created bucket is refused and lands nowhere.
    r = request("PUT", "/race/copied", user=ux, headers={"x-amz-copy-source": "/%s/%s" % (
        "bsec" if x == "B" else BKT, "mine" if x == "B" else "keep")})
    expect(r, 403, "AccessDenied", "%s's CopyObject into %s's race" % (x, y))
    ks = keys("race", uy)
    if ks != []:
        bad("%s's bucket race is not empty after the copy: %r" % (y, ks))
    wipe("race")


def case_race_mpu(x, y):
    """A multipart upload in X's bucket: DeleteBucket refuses a bucket holding an unfinished
    upload (409 BucketNotEmpty), so the bucket can change hands only once the upload is gone.
    What is tested: a streamed UploadPart in flight while X aborts the upload, deletes the
    bucket and Y re-creates it; the part and a later Complete land nowhere."""
    ux, uy = USERS[x], USERS[y]
    wipe("race2")
    expect(request("PUT", "/race2", user=ux), 200, what="%s creates race2" % x)
    uid = mpu_create("race2", "mp", ux)
    part1 = os.urandom(5 << 20)
    r = request("PUT", "/race2/mp", [("partNumber", "1"), ("uploadId", uid)], body=part1, user=ux)
    expect(r, 200, what="part 1")
    etag1 = r.headers.get("etag", "") if r else ""
    c = stream_start("/race2/mp", ux, [("partNumber", "2"), ("uploadId", uid)])
    time.sleep(0.7)
    expect(request("DELETE", "/race2/mp", [("uploadId", uid)], user=ux), 204, what="%s aborts the upload" % x)
    expect(request("DELETE", "/race2", user=ux), 204, what="%s deletes race2" % x)
    expect(request("PUT", "/race2", user=uy), 200, what="%s creates race2" % y)
    c.send(b"\0" * (STREAM - (1 << 20)))
    r = c.reply(60)
    c.close()
    if r is None or (r.status, r.code()) not in ((404, "NoSuchUpload"), (404, "NoSuchBucket"), (403, "AccessDenied")):
        bad("part 2 after the upload was aborted and the bucket changed hands: %s" % r)
    r = request("POST", "/race2/mp", [("uploadId", uid)], body=complete_xml([(1, etag1)]), user=ux)
    if r is None or r.status not in (403, 404):
        bad("Complete of the aborted upload in %s's race2: %s" % (y, r))
    if keys("race2", uy) != []:
        bad("%s's race2 is not empty" % y)
    r = request("GET", "/race2", [("uploads", "")], user=uy)
    if r is None or r.status != 200 or list(ET.fromstring(r.body).findall(".//{*}Upload")):
        bad("%s's race2 lists uploads: %s" % (y, r))
    wipe("race2")


# ---- 4: upload slots held by stalled bodies ----

def timed(fn):
    t = time.time()
    fn()
    return time.time() - t


def case_starve():
    body = os.urandom(8 << 20)

    def put8(key):
        r = request("PUT", "/%s/%s" % (BKT, key), body=body)
        if r is None or r.status != 200:
            bad("8 MiB PUT %s: %s" % (key, r))

    def get8(key):
        r = request("GET", "/%s/%s" % (BKT, key))
        if r is None or r.status != 200 or r.body != body:
            bad("GET %s" % key)

    put8("warm")
    tp0 = timed(lambda: put8("unloaded"))
    tg0 = timed(lambda: get8("unloaded"))
    print("unloaded: PUT %.2f s, GET %.2f s" % (tp0, tg0))
    stalls = [stream_start("/%s/stall%d" % (BKT, i), A, length=64 << 20, first=1000) for i in range(8)]
    time.sleep(1.0)
    tp = timed(lambda: put8("loaded"))
    tg = timed(lambda: get8("loaded"))
    print("with 8 stalled bodies: PUT %.2f s, GET %.2f s" % (tp, tg))
    if tp > max(2 * tp0, 1.0):
        bad("PUT took %.2f s with 8 stalled bodies (unloaded %.2f s)" % (tp, tp0))
    if tg > max(2 * tg0, 1.0):
        bad("GET took %.2f s with 8 stalled bodies (unloaded %.2f s)" % (tg, tg0))
    t = time.time()
    for i, c in enumerate(stalls):
        r = c.reply(max(1, 60 - (time.time() - t)))
        expect(r, 400, "RequestTimeout", "stalled body %d" % i)
        c.close()
    print("stalled bodies answered within %.1f s" % (time.time() - t))
    for i in range(8):
        absent(BKT, "stall%d" % i, "stalled body")
    tp1 = timed(lambda: put8("after"))
    if tp1 > max(2 * tp0, 1.0):
        bad("PUT took %.2f s after the stalled bodies ended (unloaded %.2f s): slots not freed" % (tp1, tp0))


# ---- 5: bodies of unauthenticated requests never reach the disk ----

def spill_bytes(gw_dir, pid):
    tmp = os.path.join(gw_dir, "tmp")
    n = 0
    for root, _, files in os.walk(tmp):
        for f in files:
            try:
                n += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    fds = 0
    try:
        for fd in os.listdir("/proc/%s/fd" % pid):
            p = "/proc/%s/fd/%s" % (pid, fd)
            try:
                if os.readlink(p).startswith(tmp + "/h2o.b."):
                    fds += 1
                    n += os.stat(p).st_size
            except OSError:
                pass
    except OSError:
        pass
    return n, fds


class Sampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.files, self.stop, self.n = 0, 0, False, 0

    def run(self):
        while not self.stop:
            b, f = spill_bytes(os.environ["GW_DIR"], os.environ["GW_PID"])
            self.peak, self.files, self.n = max(self.peak, b), max(self.files, f), self.n + 1
            time.sleep(0.02)


def fill(head, chunked, status, code, what, total=256 << 20):
    s = Sampler()
    s.start()
    c = Conn(timeout=60)
    c.send(head)
    sent = [0]

    def writer():
        blk = b"\0" * (1 << 20)
        try:
            while sent[0] < total:
                if chunked:
                    c.s.sendall(b"100000\r\n" + blk + b"\r\n")
                else:
                    c.s.sendall(blk)
                sent[0] += len(blk)
            if chunked:
                c.s.sendall(b"0\r\n\r\n")
        except OSError as e:
            print("writer stopped after %d MiB: %s" % (sent[0] >> 20, e))

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    r = c.reply(120)
    w.join(120)
    time.sleep(0.3)
    s.stop = True
    s.join()
    after, files_after = spill_bytes(os.environ["GW_DIR"], os.environ["GW_PID"])
    c.close()
    print("%s: %d MiB sent; spill peak %d bytes in %d file(s) over %d samples, %d bytes after" % (
        what, sent[0] >> 20, s.peak, s.files, s.n, after))
    expect(r, status, code, what)
    if s.peak != 0 or after != 0 or files_after != 0:
        bad("%s: %d bytes spilled under the data dir (peak), %d after" % (what, s.peak, after))


def case_fill_unauth():
    total = 256 << 20
    h = {"host": HOST, "content-length": str(total)}
    fill(head_bytes("POST", "/%s/fill" % BKT, "uploads=", h), False, 403, "AccessDenied",
         "unauthenticated POST, Content-Length 256 MiB")
    cq, h = sign("PUT", "/%s/fill2" % BKT, (), {}, "UNSIGNED-PAYLOAD", (A[0], A[1] + "x"))
    h["transfer-encoding"] = "chunked"
    fill(head_bytes("PUT", "/%s/fill2" % BKT, cq, h), True, 403, "SignatureDoesNotMatch",
         "chunked PUT of 256 MiB with a bad signature")
    h = {"host": HOST, "transfer-encoding": "chunked"}
    fill(head_bytes("PUT", "/%s/fill3" % BKT, "", h), True, 403, "AccessDenied",
         "unauthenticated chunked PUT of 256 MiB")
    absent(BKT, "fill2", "bad-signature chunked PUT")
    absent(BKT, "fill3", "unauthenticated chunked PUT")


def chunked_put(key, size):
    """An authenticated chunked PUT; the body goes out from a background writer while the
    answer is read, so an answer given (and the connection closed) mid-body is still seen."""
    data = os.urandom(size)
    path = "/%s/%s" % (BKT, key)
    cq, h = sign("PUT", path, (), {}, "UNSIGNED-PAYLOAD", A)
    h["transfer-encoding"] = "chunked"
    c = Conn(timeout=60)
    c.send(head_bytes("PUT", path, cq, h))

    def writer():
        try:
            for i in range(0, size, 1 << 20):
                piece = data[i:i + (1 << 20)]
                c.s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            c.s.sendall(b"0\r\n\r\n")
        except OSError as e:
            print("send stopped: %s" % e)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    r = c.reply(60)
    w.join(60)
    c.close()
    return r, data


def case_max_spill():
    r, _ = chunked_put("over-spill", 24 << 20)
    expect(r, 503, "SlowDown", "authenticated chunked PUT of 24 MiB over --max-spill 8M")
    absent(BKT, "over-spill", "PUT over --max-spill")
    r, data = chunked_put("under-spill", 3 << 20)
    expect(r, 200, what="authenticated chunked PUT of 3 MiB under --max-spill 8M")
    g = request("GET", "/%s/under-spill" % BKT)
    if g is None or g.body != data:
        bad("the 3 MiB chunked PUT does not read back")


# ---- 6: ambiguous framing ----

def smuggle(extra_headers, body, what):
    path = "/%s/smuggled" % BKT
    cq, h = sign("PUT", path, (), {}, "UNSIGNED-PAYLOAD", A)
    inner_cq, inner = sign("DELETE", "/%s/keep" % BKT, (), {}, EMPTY_SHA, A)
    second = head_bytes("DELETE", "/%s/keep" % BKT, inner_cq, inner)
    c = Conn(timeout=10)
    c.send(head_bytes("PUT", path, cq, h, extra_headers) + body + second)
    r = c.reply(10)
    closed = c.wait_closed(5)
    n = 1 + len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] \d\d\d ", c.buf)) if r is not None else 0
    c.close()
    expect(r, 400, None, what)
    if not closed:
        bad("%s: the connection stays open" % what)
    if n != 1:
        bad("%s: %d responses, the body was parsed as a request: %r" % (what, n, c.buf[:300]))
    absent(BKT, "smuggled", what)
    if not exists(BKT, "keep"):
        bad("%s: the smuggled DELETE removed sec/keep" % what)
        put(BKT, "keep", b"keep me\n")


def case_framing():
    smuggle(b"Content-Length: 5\r\nContent-Length: 120\r\n", b"hello", "two Content-Length headers that disagree")
    smuggle(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", "Content-Length with chunked")


# ---- 7: keys that are not UTF-8, keys with control characters ----

def case_keys():
    r = request("PUT", "/%s/nu-a%%FF%%FEb" % BKT, body=b"latin")
    if r is None or r.status != 400 or r.code() not in ("InvalidURI", "InvalidArgument"):
        bad("PUT of a key that is not UTF-8: %s (want 400 InvalidURI or InvalidArgument)" % r)
    r = request("GET", "/" + BKT, [("list-type", "2"), ("prefix", "nu-"), ("encoding-type", "url")])
    if r is None or r.status != 200 or list(ET.fromstring(r.body).findall(".//{*}Key")):
        bad("a key under prefix 'nu-' is listed: %s" % r)
    import boto3
    import botocore.config
    s3 = boto3.client("s3", endpoint_url=URL, aws_access_key_id=A[0], aws_secret_access_key=A[1],
                      region_name="us-east-1",
                      config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    key = "ctl-\x01-\x1f-\x7f-\t-end"
    try:
        s3.put_object(Bucket=BKT, Key=key, Body=b"ctl")
    except Exception as e:  # noqa: BLE001 — any refusal: then it must not be listed
        print("PUT refused:", e)
        got = [o["Key"] for o in s3.list_objects(Bucket=BKT, Prefix="ctl-").get("Contents", [])]
        if got:
            bad("a refused control-character key is listed: %r" % got)
        return
    for name, fn in (("list_objects", s3.list_objects), ("list_objects_v2", s3.list_objects_v2)):
        got = [o["Key"] for o in fn(Bucket=BKT, Prefix="ctl-").get("Contents", [])]
        print(name, got)
        if got != [key]:
            bad("%s: key %r does not round-trip: %r" % (name, key, got))
    if s3.get_object(Bucket=BKT, Key=key)["Body"].read() != b"ctl":
        bad("GET of the control-character key")


# ---- 8: metadata bytes outside ASCII ----

def case_meta():
    r = request("PUT", "/%s/meta" % BKT, body=b"m", headers={"x-amz-meta-city": b"caf\xe9"})
    if r is None or r.status not in (200, 400):
        bad("PUT with x-amz-meta-city: caf\\xe9: %s" % r)
        return
    h = request("HEAD", "/%s/meta" % BKT)
    if r.status == 400:
        if h.status != 404:
            bad("refused PUT stored the object")
        return
    got = h.headers.get("x-amz-meta-city") if h else None
    if got != "=?UTF-8?B?Y2Fmw6k=?=":
        bad("HEAD x-amz-meta-city is %r, want '=?UTF-8?B?Y2Fmw6k=?=' (RFC 2047)" % got)


# ---- 9: a declared trailer that never comes ----

def trailer_put(key, trailer):
    data = b"t" * 1000
    body = b"%x\r\n" % len(data) + data + b"\r\n0\r\n" + trailer + b"\r\n"
    return request("PUT", "/%s/%s" % (BKT, key), body=body, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                   headers={"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                            "x-amz-trailer": "x-amz-checksum-crc32"})


def case_trailer():
    crc = base64.b64encode(zlib.crc32(b"t" * 1000).to_bytes(4, "big"))
    expect(trailer_put("trailer-ok", b"x-amz-checksum-crc32:" + crc + b"\r\n"), 200,
           what="control: the trailer sent")
    expect(trailer_put("trailer-missing", b""), 400, what="x-amz-trailer declared, no trailer sent")
    absent(BKT, "trailer-missing", "missing trailer")


# ---- 10: header timeout, idle sockets at the connection cap ----

def case_half_head(limit):
    c = Conn(timeout=30)
    c.send(b"GET /%s/keep HTTP/1.1\r\nHost: %s\r\nx-amz-date: 2" % (BKT.encode(), HOST.encode()))
    t = time.time()
    closed = c.wait_closed(float(limit) + 1)
    took = time.time() - t
    c.close()
    print("half a head: closed=%s after %.1f s" % (closed, took))
    if not closed or took > float(limit):
        bad("a connection with half a request head is not closed within %s s" % limit)


def case_paused(emu_pid, block):
    """A body the gateway left unread is not cut off while its client recovers: the Bot API
    server stops (SIGSTOP) before the first block's post, so that post holds the only upload
    slot for 10 s and the body's next read waits; the client, silent like a sender whose TCP
    backed off meanwhile, sends the rest 7 s after the read resumed (beyond the rate floor's
    5 s window, within the pause). The PUT must succeed and read back whole."""
    import signal
    emu_pid, block = int(emu_pid), int(block)
    body = os.urandom(3 * block)
    path = "/%s/paused" % BKT
    cq, h = sign("PUT", path, (), {}, "UNSIGNED-PAYLOAD", A)
    h["content-length"] = str(len(body))
    os.kill(emu_pid, signal.SIGSTOP)
    try:
        t = time.time()
        c = Conn(timeout=120)
        c.send(head_bytes("PUT", path, cq, h) + body[:block])
        time.sleep(max(0, 10 - (time.time() - t)))
    finally:
        os.kill(emu_pid, signal.SIGCONT)
    time.sleep(max(0, 17 - (time.time() - t)))
    try:
        c.send(body[block:])
    except OSError as e:
        print("sending the rest: %s" % e)
    r = c.reply(120)
    print("answered %.1f s after the first byte" % (time.time() - t))
    expect(r, 200, None, "the paused body")
    c.close()
    got = request("GET", path)
    if got is None or got.status != 200 or got.body != body:
        bad("the paused body does not read back whole")


def case_idle(n):
    socks = [socket.create_connection(ADDR) for _ in range(int(n))]
    time.sleep(0.3)
    import boto3
    import botocore.config
    s3 = boto3.client("s3", endpoint_url=URL, aws_access_key_id=A[0], aws_secret_access_key=A[1],
                      region_name="us-east-1",
                      config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10,
                                                    s3={"addressing_style": "path"}))
    try:
        body = s3.get_object(Bucket=BKT, Key="keep")["Body"].read()
        if body != b"keep me\n":
            bad("GET with %s idle sockets open: wrong body" % n)
    except Exception as e:  # noqa: BLE001
        bad("GET with %s idle sockets open: %s" % (n, e))
    for s in socks:
        s.close()


# ---- 11: the auth matrix ----

def case_auth():
    path = "/%s/keep" % BKT
    expect(request("GET", path, sign_it=False), 403, "AccessDenied", "no Authorization")
    for v in ("AWS4-HMAC-SHA256 nonsense", "AWS4-HMAC-SHA256 Credential=%s/20240101/us-east-1/s3" % A[0]):
        expect(request("GET", path, sign_it=False, extra={"authorization": v, "x-amz-date": amz_date(time.time()),
                                                         "x-amz-content-sha256": EMPTY_SHA}),
               400, "AuthorizationHeaderMalformed", "garbled Authorization %r" % v)
    expect(request("GET", path, user=("TGS3NOSUCHACCESSKEY0", A[1])), 403, "InvalidAccessKeyId", "unknown access key")
    expect(request("GET", path, user=(A[0], A[1][:-1] + "x")), 403, "SignatureDoesNotMatch", "wrong secret")
    r = request("GET", path, query=presign("GET", path, expires=60, t=time.time() - 3600), sign_it=False)
    if expect(r, 403, "AccessDenied", "expired presigned URL") and r.message() != "Request has expired":
        bad("expired presigned URL: message %r" % r.message())
    for d in (1200, -1200):
        expect(request("GET", path, t=time.time() + d), 403, "RequestTimeTooSkewed", "X-Amz-Date %+d s" % d)
    cq, h = sign("GET", path, (), {}, EMPTY_SHA, A)
    hb = dict(h)
    hb["authorization"] = h["authorization"].replace("Credential=" + A[0], "Credential=" + B[0])
    expect(request("GET", path, sign_it=False, headers=hb), 403, "SignatureDoesNotMatch", "replayed with B's key")
    cq, h = sign("DELETE", path, (), {}, EMPTY_SHA, A)
    expect(request("DELETE", path, sign_it=False, headers=h), 204, what="control: a signed DELETE")
    put(BKT, "keep", b"keep me\n")
    cq, h = sign("GET", path, (), {}, EMPTY_SHA, A)
    expect(request("DELETE", path, sign_it=False, headers=h), 403, "SignatureDoesNotMatch",
           "signed GET replayed as DELETE")
    if not exists(BKT, "keep"):
        bad("the replayed DELETE removed sec/keep")
        put(BKT, "keep", b"keep me\n")
    qs = presign("GET", path, [("response-content-type", "text/plain")])
    expect(request("GET", path, query=qs, sign_it=False), 200, what="control: presigned GET")
    expect(request("GET", path, query=qs.replace("text%2Fplain", "text%2Fhtml"), sign_it=False), 403,
           "SignatureDoesNotMatch", "presigned URL with a tampered parameter")
    expect(request("GET", path, query=qs.replace("X-Amz-Expires=300", "X-Amz-Expires=600"), sign_it=False), 403,
           "SignatureDoesNotMatch", "presigned URL with a tampered X-Amz-Expires")

    # User B against user A's bucket, objects and multipart upload.
    expect(request("GET", "/" + BKT, [("list-type", "2")], user=B), 403, "AccessDenied", "B lists A's bucket")
    expect(request("GET", path, user=B), 403, "AccessDenied", "B reads A's object")
    expect(request("PUT", "/%s/by-b" % BKT, body=b"b", user=B), 403, "AccessDenied", "B writes into A's bucket")
    absent(BKT, "by-b", "B's PUT into A's bucket")
    expect(request("DELETE", path, user=B), 403, "AccessDenied", "B deletes A's object")
    expect(request("DELETE", "/" + BKT, user=B), 403, "AccessDenied", "B deletes A's bucket")
    if not exists(BKT, "keep"):
        bad("B's DELETE removed sec/keep")
    uid = mpu_create(BKT, "amp", A)
    p1 = os.urandom(5 << 20)
    r = request("PUT", "/%s/amp" % BKT, [("partNumber", "1"), ("uploadId", uid)], body=p1)
    etag = r.headers.get("etag", "") if r else ""
    mp = [("uploadId", uid)]
    expect(request("GET", "/%s/amp" % BKT, mp, user=B), 403, "AccessDenied", "B lists the parts of A's upload")
    expect(request("PUT", "/%s/amp" % BKT, [("partNumber", "2"), ("uploadId", uid)], body=b"z" * 100, user=B), 403,
           "AccessDenied", "B uploads a part to A's upload")
    expect(request("POST", "/%s/amp" % BKT, mp, body=complete_xml([(1, etag)]), user=B), 403, "AccessDenied",
           "B completes A's upload")
    expect(request("DELETE", "/%s/amp" % BKT, mp, user=B), 403, "AccessDenied", "B aborts A's upload")
    r = request("GET", "/%s/amp" % BKT, mp)
    if r is None or r.status != 200 or len(list(ET.fromstring(r.body).findall(".//{*}Part"))) != 1:
        bad("A's upload should hold exactly its one part: %s" % r)
    absent(BKT, "amp", "A's upload after B's attempts")
    expect(request("PUT", "/bsec/stolen", user=B, headers={"x-amz-copy-source": "/%s/keep" % BKT}), 403,
           "AccessDenied", "B copies A's object (CopyObject source)")
    absent("bsec", "stolen", "B's CopyObject of A's object", user=B)
    buid = mpu_create("bsec", "bmp", B)
    expect(request("PUT", "/bsec/bmp", [("partNumber", "1"), ("uploadId", buid)], user=B,
                   headers={"x-amz-copy-source": "/%s/keep" % BKT}), 403, "AccessDenied",
           "B copies A's object into a part (UploadPartCopy source)")
    r = request("GET", "/bsec/bmp", [("uploadId", buid)], user=B)
    if r is None or r.status != 200 or list(ET.fromstring(r.body).findall(".//{*}Part")):
        bad("B's upload holds a part after the refused UploadPartCopy: %s" % r)
    request("DELETE", "/bsec/bmp", [("uploadId", buid)], user=B)
    expect(request("POST", "/%s/amp" % BKT, mp, body=complete_xml([(1, etag)])), 200, what="A completes its upload")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CASES:
        sys.exit("usage: secreq.py {%s} [args]" % "|".join(CASES))
    try:
        CASES[sys.argv[1]](*sys.argv[2:])
    except Exception as e:  # noqa: BLE001 — an unexpected exception is a failed case
        import traceback
        traceback.print_exc()
        bad("exception: %r" % e)
    print("PASS" if OK[0] else "FAILED")
    sys.exit(0 if OK[0] else 1)

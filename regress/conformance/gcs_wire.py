#!/usr/bin/env python3
"""Wire-level conformance of the luxe emulator's GCS JSON API, checked against Google's
documented behaviour (the JSON API reference) with nothing but the standard library.

Usage: LUXE_EMULATOR_URL=http://127.0.0.1:PORT [LUXE_EMULATOR_ROOT=DIR] regress/conformance/gcs_wire.py

The emulator must already be running (LUXE_EMULATOR_ROOT, its --root, enables the tests of
files changed on disk). The authentication test starts a second, private emulator. Prints
"ok N - name" / "not ok N - name" per test, then "gcs-wire: N passed, M failed"; exits 1
on failure.
"""

import base64
import gzip
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from urllib.parse import quote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tests, summary  # noqa: E402

BASE = os.environ.get("LUXE_EMULATOR_URL", "")
ROOT = os.environ.get("LUXE_EMULATOR_ROOT")
if not BASE:
    sys.exit("LUXE_EMULATOR_URL is not set")
HOST, PORT = urlsplit(BASE).hostname, urlsplit(BASE).port


# ---- an independent CRC32C (bitwise, RFC 4960 Appendix B) --------------------------------

def crc32c_b64(data):
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return base64.b64encode((crc ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


def _make_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_table()


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# ---- HTTP helpers --------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)


def request(method, path, body=None, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, PORT, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        if own:
            conn.close()


def jrequest(method, path, obj=None, headers=None, conn=None):
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    return request(method, path, json.dumps(obj).encode() if obj is not None else None, hdrs, conn)


def enc(name):
    return quote(name, safe="")


def new_bucket():
    name = "wire-" + uuid.uuid4().hex[:10]
    r = jrequest("POST", "/storage/v1/b?project=p", {"name": name})
    assert r.status == 200, (r.status, r.body)
    return name


def upload(bucket, name, data, content_type="application/octet-stream", conn=None, **params):
    q = urlencode({"uploadType": "media", "name": name, **params})
    r = request("POST", "/upload/storage/v1/b/%s/o?%s" % (bucket, q), data, {"Content-Type": content_type}, conn)
    assert r.status == 200, (r.status, r.body)
    return r.json()


def multipart_body(metadata, data, boundary, newline=b"\r\n", media_type=b"application/octet-stream"):
    nl, b = newline, boundary.encode()
    return (b"--" + b + nl + b"Content-Type: application/json; charset=UTF-8" + nl + nl
            + json.dumps(metadata).encode() + nl + b"--" + b + nl + b"Content-Type: " + media_type + nl + nl
            + data + nl + b"--" + b + b"--" + nl)


def list_all(bucket, **params):
    r = request("GET", "/storage/v1/b/%s/o?%s" % (bucket, urlencode(params)))
    assert r.status == 200, (r.status, r.body)
    return r.json()


def names(listing):
    return [i["name"] for i in listing.get("items", [])]


def assert_error(r, code, reason):
    assert r.status == code, (r.status, r.body[:300])
    body = r.json()
    err = body["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"], body
    assert err["errors"][0]["domain"] == "global", body
    assert err["errors"][0]["reason"] == reason, body
    assert isinstance(err["errors"][0]["message"], str), body


def raw_get(path, extra_headers=""):
    """Send a GET on a raw socket; return (head bytes, [(time, chunk), ...], clean EOF?)."""
    sock = socket.create_connection((HOST, PORT), timeout=20)
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n" % (path, HOST, PORT, extra_headers)).encode())
        chunks, eof = [], True
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                eof = False
                break
            if not data:
                break
            chunks.append((time.monotonic(), data))
        head = b"".join(c for _, c in chunks).partition(b"\r\n\r\n")[0]
        body_chunks, skipped = [], len(head) + 4
        for t, c in chunks:  # re-split the timed chunks into body-only chunks
            if skipped >= len(c):
                skipped -= len(c)
                continue
            body_chunks.append((t, c[skipped:]))
            skipped = 0
        return head, body_chunks, eof
    finally:
        sock.close()


def install_faults(instructions):
    r = jrequest("POST", "/_emulator/faults", {"instructions": instructions})
    assert r.status == 200, (r.status, r.body)


# ---- fixtures shared by the tests ------------------------------------------------------------

BUCKET = new_bucket()
DATA_1000 = bytes(i % 251 for i in range(1000))
upload(BUCKET, "range.bin", DATA_1000)
MEGABYTE = os.urandom(1 << 20)
upload(BUCKET, "mega.bin", MEGABYTE)

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---- path forms, errors -----------------------------------------------------------------------

@test
def path_forms_are_equivalent():
    """/b/... and /storage/v1/b/... (and /download/..., raw '/' in names) are the same API"""
    a = request("GET", "/b/%s" % BUCKET).json()
    b = request("GET", "/storage/v1/b/%s" % BUCKET).json()
    assert a == b and a["kind"] == "storage#bucket" and a["name"] == BUCKET
    upload(BUCKET, "dir/a b.txt", b"hello")
    l1 = list_all(BUCKET, prefix="dir/")
    l2 = request("GET", "/b/%s/o?prefix=dir/" % BUCKET).json()
    assert names(l1) == names(l2) == ["dir/a b.txt"]
    m1 = request("GET", "/storage/v1/b/%s/o/%s" % (BUCKET, enc("dir/a b.txt"))).json()
    m2 = request("GET", "/b/%s/o/dir/a%%20b.txt" % BUCKET).json()
    assert m1 == m2 and m1["name"] == "dir/a b.txt"
    for path in ("/storage/v1/b/%s/o/%s?alt=media" % (BUCKET, enc("dir/a b.txt")),
                 "/b/%s/o/%s?alt=media" % (BUCKET, enc("dir/a b.txt")),
                 "/download/storage/v1/b/%s/o/%s" % (BUCKET, enc("dir/a b.txt")),
                 "/download/storage/v1/b/%s/o/%s?alt=media" % (BUCKET, enc("dir/a b.txt"))):
        r = request("GET", path)
        assert r.status == 200 and r.body == b"hello", (path, r.status)
    r = request("POST", "/upload/b/%s/o?uploadType=media&name=short-form" % BUCKET, b"x")
    assert r.status == 200 and r.json()["name"] == "short-form"


@test
def missing_bucket_and_object_give_google_404():
    assert_error(request("GET", "/storage/v1/b/no-such-bucket-xyz"), 404, "notFound")
    assert_error(request("GET", "/storage/v1/b/no-such-bucket-xyz/o"), 404, "notFound")
    assert_error(request("GET", "/storage/v1/b/%s/o/nope" % BUCKET), 404, "notFound")
    assert_error(request("GET", "/storage/v1/b/%s/o/nope?alt=media" % BUCKET), 404, "notFound")
    assert_error(request("GET", "/download/storage/v1/b/%s/o/nope" % BUCKET), 404, "notFound")


@test
def error_bodies_have_google_shape():
    assert_error(request("POST", "/upload/storage/v1/b/%s/o?name=x" % BUCKET, b"x"), 400, "badRequest")
    assert_error(request("GET", "/storage/v1/b?maxResults=1"), 400, "required")  # no project
    assert_error(request("GET", "/storage/v1/b/%s/o/range.bin?ifGenerationMatch=1" % BUCKET), 412, "conditionNotMet")
    r = request("GET", "/storage/v1/b/%s/o/range.bin?alt=media" % BUCKET, headers={"Range": "bytes=5000-"})
    assert_error(r, 416, "requestedRangeNotSatisfiable")
    assert r.headers["content-type"].startswith("application/json")


@test
def buckets_list_and_get():
    r = request("GET", "/storage/v1/b?project=p")
    assert r.status == 200 and BUCKET in [b["name"] for b in r.json()["items"]]
    r = request("GET", "/storage/v1/b/%s?fields=name" % BUCKET)
    assert r.json() == {"name": BUCKET}


# ---- objects.get ----------------------------------------------------------------------------

@test
def object_metadata_fields():
    m = request("GET", "/storage/v1/b/%s/o/range.bin" % BUCKET).json()
    assert m["kind"] == "storage#object" and m["name"] == "range.bin" and m["bucket"] == BUCKET
    for key in ("size", "generation", "metageneration"):
        assert isinstance(m[key], str) and m[key].isdigit(), (key, m[key])
    assert m["size"] == "1000" and m["metageneration"] == "1"
    assert m["md5Hash"] == md5_b64(DATA_1000) and m["crc32c"] == crc32c_b64(DATA_1000)
    assert m["id"] == "%s/range.bin/%s" % (BUCKET, m["generation"])
    assert m["mediaLink"] == "%s/download/storage/v1/b/%s/o/range.bin?generation=%s&alt=media" % (
        BASE, BUCKET, m["generation"]), m["mediaLink"]
    assert m["selfLink"] == "%s/storage/v1/b/%s/o/range.bin" % (BASE, BUCKET)
    assert m["storageClass"] == "STANDARD" and m["etag"]
    import re
    for key in ("timeCreated", "updated"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", m[key]), m[key]
    r = request("GET", urlsplit(m["mediaLink"]).path + "?" + urlsplit(m["mediaLink"]).query)
    assert r.status == 200 and r.body == DATA_1000
    partial = request("GET", "/storage/v1/b/%s/o/range.bin?fields=name,size" % BUCKET).json()
    assert partial == {"name": "range.bin", "size": "1000"}


@test
def media_headers():
    m = request("GET", "/storage/v1/b/%s/o/range.bin" % BUCKET).json()
    r = request("GET", "/storage/v1/b/%s/o/range.bin?alt=media" % BUCKET)
    h = r.headers
    assert r.status == 200 and r.body == DATA_1000
    assert h["x-goog-hash"] == "crc32c=%s,md5=%s" % (crc32c_b64(DATA_1000), md5_b64(DATA_1000)), h["x-goog-hash"]
    assert h["x-goog-generation"] == m["generation"] and h["x-goog-metageneration"] == "1"
    assert h["x-goog-stored-content-encoding"] == "identity"
    assert h["x-goog-stored-content-length"] == "1000" and h["content-length"] == "1000"
    assert h["accept-ranges"] == "bytes" and h["etag"] and h["last-modified"].endswith("GMT")
    assert h["content-type"] == "application/octet-stream"


@test
def range_requests():
    def get(rng):
        return request("GET", "/storage/v1/b/%s/o/range.bin?alt=media" % BUCKET, headers={"Range": rng})

    cases = {"bytes=0-9": (0, 9), "bytes=990-": (990, 999), "bytes=-10": (990, 999),
             "bytes=995-2000": (995, 999), "bytes=0-0": (0, 0), "bytes=-5000": (0, 999)}
    for rng, (a, b) in cases.items():
        r = get(rng)
        assert r.status == 206, (rng, r.status)
        assert r.headers["content-range"] == "bytes %d-%d/1000" % (a, b), (rng, r.headers["content-range"])
        assert r.headers["content-length"] == str(b - a + 1) and r.body == DATA_1000[a:b + 1], rng
    for rng in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        r = get(rng)
        assert r.status == 416, (rng, r.status)
        assert r.headers["content-range"] == "bytes */1000", (rng, r.headers.get("content-range"))
    for rng in ("bytes=5-2", "bytes=abc", "items=0-5", "bytes=0-1,5-6"):
        r = get(rng)
        assert r.status == 200 and r.body == DATA_1000 and "content-range" not in r.headers, rng


@test
def generation_and_conditions():
    gen = int(request("GET", "/storage/v1/b/%s/o/range.bin" % BUCKET).json()["generation"])
    base = "/storage/v1/b/%s/o/range.bin?" % BUCKET
    assert request("GET", base + "alt=media&generation=%d" % gen).status == 200
    assert_error(request("GET", base + "alt=media&generation=%d" % (gen + 1)), 404, "notFound")
    assert_error(request("GET", base + "generation=%d" % (gen - 1)), 404, "notFound")
    assert request("GET", base + "alt=media&ifGenerationMatch=%d" % gen).status == 200
    assert_error(request("GET", base + "alt=media&ifGenerationMatch=%d" % (gen + 1)), 412, "conditionNotMet")
    assert_error(request("GET", base + "alt=media&ifGenerationMatch=0"), 412, "conditionNotMet")
    assert_error(request("GET", base + "alt=media&ifMetagenerationMatch=2"), 412, "conditionNotMet")
    r = request("GET", base + "alt=media&ifGenerationNotMatch=%d" % gen)
    assert r.status == 304 and r.body == b"", r.status
    assert request("GET", base + "alt=media&ifGenerationNotMatch=%d" % (gen + 1)).status == 200
    assert request("GET", base + "ifMetagenerationNotMatch=1").status == 304


@test
def gzip_transcoding():
    text = b"a,b,c\n" * 20000
    stored = gzip.compress(text)
    body = multipart_body({"name": "gz.csv", "contentType": "text/csv", "contentEncoding": "gzip"}, stored, "BOUND")
    r = request("POST", "/upload/storage/v1/b/%s/o?uploadType=multipart" % BUCKET, body,
                {"Content-Type": "multipart/related; boundary=BOUND"})
    assert r.status == 200 and r.json()["contentEncoding"] == "gzip", r.body
    path = "/storage/v1/b/%s/o/gz.csv?alt=media" % BUCKET
    # Without Accept-Encoding: gzip the object is decompressed, with no Content-Length or
    # Content-Encoding, and a Range header is ignored.
    for headers in ({}, {"Range": "bytes=0-9"}, {"Accept-Encoding": "identity"}):
        r = request("GET", path, headers=headers)
        assert r.status == 200 and r.body == text, (headers, r.status, len(r.body))
        assert "content-length" not in r.headers and "content-encoding" not in r.headers, r.headers
        assert r.headers["x-goog-stored-content-encoding"] == "gzip"
        assert r.headers["x-goog-hash"] == "crc32c=%s,md5=%s" % (crc32c_b64(stored), md5_b64(stored))
    # With Accept-Encoding: gzip the stored bytes come back as they are.
    r = request("GET", path, headers={"Accept-Encoding": "gzip, deflate"})
    assert r.status == 200 and r.body == stored and r.headers["content-encoding"] == "gzip"
    assert r.headers["content-length"] == str(len(stored))
    # Cache-Control: no-transform on the object forces the stored form for everyone.
    r = jrequest("PATCH", "/storage/v1/b/%s/o/gz.csv" % BUCKET, {"cacheControl": "no-transform"})
    assert r.status == 200, r.body
    r = request("GET", path)
    assert r.body == stored and r.headers["content-encoding"] == "gzip"


# ---- objects.list ---------------------------------------------------------------------------

@test
def delimiter_documented_example():
    bucket = new_bucket()
    for n in ("a/b", "a/c", "d", "e", "e/f", "e/g/h"):
        upload(bucket, n, n.encode())
    top = list_all(bucket, delimiter="/")
    assert names(top) == ["d", "e"] and top["prefixes"] == ["a/", "e/"], top
    sub = list_all(bucket, delimiter="/", prefix="e/")
    assert names(sub) == ["e/f"] and sub["prefixes"] == ["e/g/"], sub
    assert "nextPageToken" not in top and top["kind"] == "storage#objects"
    assert names(list_all(bucket, startOffset="a/c", endOffset="e/f")) == ["a/c", "d", "e"]
    upload(bucket, "e/", b"")  # an object whose name ends in the delimiter
    plain = list_all(bucket, delimiter="/")
    assert names(plain) == ["d", "e"] and plain["prefixes"] == ["a/", "e/"]
    trailing = list_all(bucket, delimiter="/", includeTrailingDelimiter="true")
    assert names(trailing) == ["d", "e", "e/"] and trailing["prefixes"] == ["a/", "e/"], trailing
    empty = list_all(bucket, prefix="zzz")
    assert "items" not in empty and "prefixes" not in empty and "nextPageToken" not in empty


@test
def match_glob():
    bucket = new_bucket()
    objs = ["a.csv", "b.txt", "dir/c.csv", "dir/sub/d.csv", "e.json", "x1.csv", "x2.csv", "xa.csv"]
    for n in objs:
        upload(bucket, n, b"1")
    cases = {
        "*.csv": ["a.csv", "x1.csv", "x2.csv", "xa.csv"],           # * stays within a segment
        "**.csv": ["a.csv", "dir/c.csv", "dir/sub/d.csv", "x1.csv", "x2.csv", "xa.csv"],
        "dir/**": ["dir/c.csv", "dir/sub/d.csv"],
        "dir/*": ["dir/c.csv"],
        "*/*.csv": ["dir/c.csv"],
        "x?.csv": ["x1.csv", "x2.csv", "xa.csv"],
        "x[12].csv": ["x1.csv", "x2.csv"],
        "x[0-9].csv": ["x1.csv", "x2.csv"],
        "x[!12].csv": ["xa.csv"],
        "*.{csv,json}": ["a.csv", "e.json", "x1.csv", "x2.csv", "xa.csv"],
        "{a,b}.*": ["a.csv", "b.txt"],
        "*": ["a.csv", "b.txt", "e.json", "x1.csv", "x2.csv", "xa.csv"],
        "?.csv": ["a.csv"],
    }
    for glob, expected in cases.items():
        got = names(list_all(bucket, matchGlob=glob))
        assert got == expected, (glob, got)
    with_delim = list_all(bucket, matchGlob="**.csv", delimiter="/")
    assert names(with_delim) == ["a.csv", "x1.csv", "x2.csv", "xa.csv"] and with_delim["prefixes"] == ["dir/"]


@test
def max_results_capped_at_1000_with_page_tokens():
    bucket = new_bucket()
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    expected = ["obj-%04d" % i for i in range(1205)]
    for n in expected:
        upload(bucket, n, b"", conn=conn)
    conn.close()
    first = list_all(bucket, maxResults=5000)
    assert len(first["items"]) == 1000 and first["nextPageToken"], len(first.get("items", []))
    second = list_all(bucket, maxResults=5000, pageToken=first["nextPageToken"])
    assert len(second["items"]) == 205 and "nextPageToken" not in second
    assert names(first) + names(second) == expected
    default = list_all(bucket)
    assert len(default["items"]) == 1000 and "nextPageToken" in default
    seen, token, pages = [], None, 0
    while True:
        params = {"maxResults": 300}
        if token:
            params["pageToken"] = token
        page = list_all(bucket, **params)
        pages += 1
        seen += names(page)
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 5 and seen == expected
    assert_error(request("GET", "/storage/v1/b/%s/o?pageToken=%%21bogus" % bucket), 400, "invalid")


@test
def prefixes_count_towards_max_results():
    bucket = new_bucket()
    for n in ("p/1", "p/2", "p/3", "q/1", "r", "s"):
        upload(bucket, n, b"1")
    page1 = list_all(bucket, delimiter="/", maxResults=2)
    assert page1.get("prefixes") == ["p/", "q/"] and "items" not in page1, page1
    page2 = list_all(bucket, delimiter="/", maxResults=2, pageToken=page1["nextPageToken"])
    assert names(page2) == ["r", "s"] and "prefixes" not in page2 and "nextPageToken" not in page2, page2


@test
def listing_order_is_utf8_byte_order():
    bucket = new_bucket()
    for n in ("z", "é", "a", "B", "~", "a/b", "a b", "日本"):
        upload(bucket, n, b"1")
    expected = sorted(["z", "é", "a", "B", "~", "a/b", "a b", "日本"], key=lambda s: s.encode())
    assert names(list_all(bucket)) == expected


# ---- uploads --------------------------------------------------------------------------------

@test
def media_upload_and_hashes():
    data = os.urandom(300000)
    m = upload(BUCKET, "up/media.bin", data, "application/x-thing")
    assert m["md5Hash"] == md5_b64(data) and m["crc32c"] == crc32c_b64(data) and m["size"] == "300000"
    assert m["contentType"] == "application/x-thing"
    assert request("GET", "/b/%s/o/up%%2Fmedia.bin?alt=media" % BUCKET).body == data


@test
def multipart_crlf_lf_and_quoted_boundary():
    for newline, ctype, name in (
            (b"\r\n", "multipart/related; boundary=abc123", "up/crlf.txt"),
            (b"\n", "multipart/related; boundary='===============123456=='", "up/lf.txt"),
            (b"\r\n", 'multipart/related; boundary="q u o t e d"', "up/dq.txt")):
        boundary = ctype.split("boundary=")[1].strip("'\"")
        data = b"line one\r\nline two\n" + newline
        body = multipart_body({"name": name, "metadata": {"k": "v"}}, data, boundary, newline, b"text/plain")
        r = request("POST", "/upload/storage/v1/b/%s/o?uploadType=multipart" % BUCKET, body, {"Content-Type": ctype})
        assert r.status == 200, (name, r.status, r.body)
        m = r.json()
        assert m["name"] == name and m["metadata"] == {"k": "v"} and m["contentType"] == "text/plain", m
        got = request("GET", "/b/%s/o/%s?alt=media" % (BUCKET, enc(name))).body
        assert got == data and m["md5Hash"] == md5_b64(data), (name, got)


@test
def chunked_request_body():
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    conn.request("POST", "/upload/storage/v1/b/%s/o?uploadType=media&name=up%%2Fchunked" % BUCKET,
                 body=iter([b"abc", b"defgh", b"i" * 70000]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200 and json.loads(body)["size"] == str(8 + 70000), body


@test
def resumable_upload_protocol():
    data = os.urandom(2 * 262144 + 1234)
    r = jrequest("POST", "/upload/storage/v1/b/%s/o?uploadType=resumable&name=up%%2Fres.bin" % BUCKET,
                 {"metadata": {"a": "b"}}, {"X-Upload-Content-Type": "text/csv"})
    assert r.status == 200 and r.headers["location"], (r.status, r.body)
    loc = urlsplit(r.headers["location"])
    session = loc.path + "?" + loc.query
    r = request("PUT", session, b"", {"Content-Range": "bytes */*"})
    assert r.status == 308 and "range" not in r.headers, (r.status, r.headers)
    r = request("PUT", session, data[:1000], {"Content-Range": "bytes 0-999/*"})
    assert_error(r, 400, "invalid")  # non-final chunks are at least 256 KiB
    r = request("PUT", session, data[:262144], {"Content-Range": "bytes 0-262143/*"})
    assert r.status == 308 and r.headers["range"] == "bytes=0-262143", (r.status, r.headers)
    r = request("PUT", session, b"", {"Content-Range": "bytes */%d" % len(data)})
    assert r.status == 308 and r.headers["range"] == "bytes=0-262143"
    # Resend an overlapping chunk: the already persisted bytes are skipped.
    r = request("PUT", session, data[:524288], {"Content-Range": "bytes 0-524287/*"})
    assert r.status == 308 and r.headers["range"] == "bytes=0-524287", r.headers
    r = request("PUT", session, data[524288:], {"Content-Range": "bytes 524288-%d/%d" % (len(data) - 1, len(data))})
    assert r.status == 200, (r.status, r.body)
    m = r.json()
    assert m["name"] == "up/res.bin" and m["size"] == str(len(data)) and m["contentType"] == "text/csv"
    assert m["md5Hash"] == md5_b64(data) and m["crc32c"] == crc32c_b64(data) and m["metadata"] == {"a": "b"}
    assert request("PUT", session, b"", {"Content-Range": "bytes */%d" % len(data)}).status == 200
    assert request("GET", "/b/%s/o/up%%2Fres.bin?alt=media" % BUCKET).body == data
    # Cancel a fresh session.
    r = jrequest("POST", "/upload/storage/v1/b/%s/o?uploadType=resumable&name=up%%2Fcancel" % BUCKET, {})
    loc = urlsplit(r.headers["location"])
    assert request("DELETE", loc.path + "?" + loc.query).status == 499
    assert request("PUT", loc.path + "?" + loc.query, b"x", {"Content-Range": "bytes 0-0/1"}).status == 404


@test
def upload_preconditions_and_hash_checks():
    first = upload(BUCKET, "up/pre.txt", b"one")
    gen = int(first["generation"])
    path = "/upload/storage/v1/b/%s/o?uploadType=media&name=up%%2Fpre.txt&ifGenerationMatch=" % BUCKET
    assert_error(request("POST", path + "0", b"two"), 412, "conditionNotMet")
    assert_error(request("POST", path + str(gen + 7), b"two"), 412, "conditionNotMet")
    second = upload(BUCKET, "up/pre.txt", b"two", ifGenerationMatch=gen)
    assert int(second["generation"]) > gen
    assert upload(BUCKET, "up/new.txt", b"n", ifGenerationMatch=0)["size"] == "1"
    r = request("POST", "/upload/storage/v1/b/%s/o?uploadType=media&name=up%%2Fbad" % BUCKET, b"data",
                {"X-Goog-Hash": "crc32c=AAAAAA=="})
    assert_error(r, 400, "invalid")
    body = multipart_body({"name": "up/bad2", "md5Hash": md5_b64(b"other")}, b"data", "B")
    r = request("POST", "/upload/storage/v1/b/%s/o?uploadType=multipart" % BUCKET, body,
                {"Content-Type": "multipart/related; boundary=B"})
    assert_error(r, 400, "invalid")
    assert request("GET", "/b/%s/o/up%%2Fbad" % BUCKET).status == 404


@test
def awkward_object_names():
    for name in ("folder/", "a//b", "dot/./x", "naïve ☃/日本.csv", "col", "col/inner", "pct%2Fliteral"):
        data = name.encode() * 3
        upload(BUCKET, "aw/" + name, data)
        r = request("GET", "/b/%s/o/%s?alt=media" % (BUCKET, enc("aw/" + name)))
        assert r.status == 200 and r.body == data, (name, r.status)
    listed = names(list_all(BUCKET, prefix="aw/"))
    assert listed == sorted(("aw/" + n for n in ("folder/", "a//b", "dot/./x", "naïve ☃/日本.csv", "col",
                                                 "col/inner", "pct%2Fliteral")), key=str.encode), listed
    assert request("DELETE", "/b/%s/o/%s" % (BUCKET, enc("aw/folder/"))).status == 204
    assert request("GET", "/b/%s/o/%s" % (BUCKET, enc("aw/folder/"))).status == 404


# ---- other object operations --------------------------------------------------------------------

@test
def patch_delete_compose():
    upload(BUCKET, "ops/p.txt", b"patch me", "text/plain")
    r = jrequest("PATCH", "/storage/v1/b/%s/o/ops%%2Fp.txt" % BUCKET,
                 {"contentType": "text/csv", "metadata": {"x": "1", "y": "2"}})
    m = r.json()
    assert r.status == 200 and m["contentType"] == "text/csv" and m["metageneration"] == "2", r.body
    m = jrequest("PATCH", "/storage/v1/b/%s/o/ops%%2Fp.txt" % BUCKET, {"metadata": {"x": None}}).json()
    assert m["metadata"] == {"y": "2"} and m["metageneration"] == "3"
    assert_error(request("DELETE", "/b/%s/o/ops%%2Fp.txt?ifGenerationMatch=1" % BUCKET), 412, "conditionNotMet")
    assert request("DELETE", "/b/%s/o/ops%%2Fp.txt" % BUCKET).status == 204
    assert_error(request("DELETE", "/b/%s/o/ops%%2Fp.txt" % BUCKET), 404, "notFound")
    upload(BUCKET, "ops/c1", b"hello ")
    upload(BUCKET, "ops/c2", b"world")
    r = jrequest("POST", "/storage/v1/b/%s/o/ops%%2Fcomposed/compose" % BUCKET,
                 {"sourceObjects": [{"name": "ops/c1"}, {"name": "ops/c2"}],
                  "destination": {"contentType": "text/plain"}})
    m = r.json()
    assert r.status == 200 and m["componentCount"] == 2 and "md5Hash" not in m, r.body
    assert m["crc32c"] == crc32c_b64(b"hello world")
    r = request("GET", "/b/%s/o/ops%%2Fcomposed?alt=media" % BUCKET)
    assert r.body == b"hello world" and r.headers["x-goog-hash"] == "crc32c=" + crc32c_b64(b"hello world")


@test
def filesystem_is_the_source_of_truth():
    if not ROOT:
        raise AssertionError("LUXE_EMULATOR_ROOT not set (run.sh sets it)")
    path = os.path.join(ROOT, BUCKET, "disk", "seeded.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"a,b\n")
    m1 = request("GET", "/b/%s/o/disk%%2Fseeded.csv" % BUCKET).json()
    assert m1["size"] == "4" and m1["contentType"] == "text/csv" and m1["crc32c"] == crc32c_b64(b"a,b\n")
    time.sleep(0.01)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"a,b\n1,2\n")
    os.replace(tmp, path)
    m2 = request("GET", "/b/%s/o/disk%%2Fseeded.csv" % BUCKET).json()
    assert m2["size"] == "8" and int(m2["generation"]) > int(m1["generation"]), (m1["generation"], m2["generation"])
    assert m2["md5Hash"] == md5_b64(b"a,b\n1,2\n")
    assert_error(request("GET", "/b/%s/o/disk%%2Fseeded.csv?alt=media&generation=%s" % (BUCKET, m1["generation"])),
                 404, "notFound")
    os.unlink(path)
    assert request("GET", "/b/%s/o/disk%%2Fseeded.csv" % BUCKET).status == 404
    os.makedirs(os.path.join(ROOT, ".hidden-not-a-bucket"), exist_ok=True)
    listed = [b["name"] for b in request("GET", "/storage/v1/b?project=p").json()["items"]]
    assert ".hidden-not-a-bucket" not in listed and ".emulator" not in listed


@test
def keep_alive_survives_errors_and_unread_bodies():
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    assert request("GET", "/b/%s/o/range.bin" % BUCKET, conn=conn).status == 200
    assert request("GET", "/b/%s/o/missing" % BUCKET, conn=conn).status == 404
    # an error answered before the body was read: the body must still be consumed
    assert request("POST", "/upload/storage/v1/b/%s/o?name=x" % BUCKET, os.urandom(200000), conn=conn).status == 400
    assert request("GET", "/b/%s/o/range.bin?alt=media" % BUCKET, conn=conn).body == DATA_1000
    conn.close()


# ---- fault injection ------------------------------------------------------------------------

@test
def retry_test_api_with_header():
    r = jrequest("POST", "/retry_test", {"instructions": {"storage.objects.get": ["return-503", "return-429"]},
                                         "transport": "HTTP"})
    test_id = r.json()["id"]
    path = "/storage/v1/b/%s/o/range.bin?alt=media" % BUCKET
    assert request("GET", path).status == 200  # no header: not affected
    assert_error(request("GET", path, headers={"x-retry-test-id": test_id}), 503, "backendError")
    assert_error(request("GET", path, headers={"x-retry-test-id": test_id}), 429, "rateLimitExceeded")
    assert request("GET", path, headers={"x-retry-test-id": test_id}).body == DATA_1000
    state = request("GET", "/retry_test/%s" % test_id).json()
    assert state["completed"] is True and state["instructions"] == {"storage.objects.get": []}, state
    assert request("DELETE", "/retry_test/%s" % test_id).status == 200
    assert request("GET", "/retry_test/%s" % test_id).status == 404
    r = jrequest("POST", "/retry_test", {"instructions": {"storage.objects.list": ["return-418-teapot"]}})
    assert_error(r, 400, "invalid")


@test
def global_faults_and_stats():
    jrequest("DELETE", "/_emulator/faults")
    install_faults({"storage.objects.list": ["return-500"], "storage.buckets.get": ["return-408"]})
    left = request("GET", "/_emulator/faults").json()["instructions"]
    assert left == {"storage.objects.list": ["return-500"], "storage.buckets.get": ["return-408"]}, left
    request("POST", "/_emulator/stats/reset")
    assert_error(request("GET", "/storage/v1/b/%s/o" % BUCKET), 500, "internalError")
    assert request("GET", "/storage/v1/b/%s/o" % BUCKET).status == 200
    assert request("GET", "/storage/v1/b/%s" % BUCKET).status == 408
    install_faults({"storage.objects.get": ["return-429-retry-after-7"]})
    r = request("GET", "/storage/v1/b/%s/o/range.bin" % BUCKET)
    assert r.status == 429 and r.headers["retry-after"] == "7"
    install_faults({"storage.objects.get": ["return-503"]})
    assert jrequest("DELETE", "/_emulator/faults").status == 200
    assert request("GET", "/_emulator/faults").json()["instructions"] == {}
    assert request("GET", "/storage/v1/b/%s/o/range.bin?alt=media" % BUCKET).status == 200
    stats = request("GET", "/_emulator/stats").json()
    assert stats["requests"] == {"storage.objects.list": 2, "storage.buckets.get": 1, "storage.objects.get": 2}, stats
    assert stats["totalRequests"] == 5 and stats["bytesSent"] >= 1000, stats
    r = request("GET", "/storage/v1/b/%s/o/range.bin" % BUCKET, headers={"x-goog-emulator-instructions": "return-500"})
    assert r.status == 500
    assert_error(jrequest("POST", "/_emulator/faults", {"instructions": {"x": ["stall-forever"]}}), 400, "invalid")


@test
def broken_stream_delivers_exactly_y_kib():
    path = "/storage/v1/b/%s/o/mega.bin?alt=media" % BUCKET
    for instruction, kib in (("return-broken-stream-after-64K", 64), ("return-503-after-32K", 32)):
        install_faults({"storage.objects.get": [instruction]})
        head, chunks, _ = raw_get(path)
        body = b"".join(c for _, c in chunks)
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 1048576" in head, head[:200]
        assert len(body) == kib * 1024 and body == MEGABYTE[:kib * 1024], (instruction, len(body))


@test
def stall_delays_the_body():
    install_faults({"storage.objects.get": ["stall-for-1.5s-after-16K"]})
    start = time.monotonic()
    head, chunks, eof = raw_get("/storage/v1/b/%s/o/mega.bin?alt=media" % BUCKET, "Connection: close\r\n")
    body = b"".join(c for _, c in chunks)
    assert body == MEGABYTE, len(body)
    received, before = 0, None
    for t, c in chunks:  # when did the first byte after 16 KiB arrive?
        if received >= 16 * 1024:
            before = t
            break
        received += len(c)
    assert before is not None and before - start >= 1.4, before and before - start
    assert chunks[0][0] - start < 1.0


@test
def reset_connection_sends_no_response():
    install_faults({"storage.objects.get": ["return-reset-connection"]})
    head, chunks, _ = raw_get("/storage/v1/b/%s/o/range.bin" % BUCKET)
    assert head == b"" and not chunks, head[:100]
    assert request("GET", "/storage/v1/b/%s/o/range.bin" % BUCKET).status == 200


@test
def upload_fault_after_y_kib_keeps_the_bytes_of_a_resumable_session():
    data = os.urandom(4 * 262144)
    r = jrequest("POST", "/upload/storage/v1/b/%s/o?uploadType=resumable&name=up%%2Ffault.bin" % BUCKET, {})
    loc = urlsplit(r.headers["location"])
    session = loc.path + "?" + loc.query
    install_faults({"storage.objects.insert": ["return-503-after-256K"]})
    r = request("PUT", session, data, {"Content-Range": "bytes 0-%d/%d" % (len(data) - 1, len(data))})
    assert_error(r, 503, "backendError")
    r = request("PUT", session, b"", {"Content-Range": "bytes */%d" % len(data)})
    assert r.status == 308 and r.headers["range"] == "bytes=0-262143", (r.status, r.headers)
    r = request("PUT", session, data[262144:], {"Content-Range": "bytes 262144-%d/%d" % (len(data) - 1, len(data))})
    assert r.status == 200 and r.json()["md5Hash"] == md5_b64(data), r.body


# ---- authentication (a private emulator with --require-token) -----------------------------------

@test
def require_token():
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator")
    with tempfile.TemporaryDirectory() as root:
        os.mkdir(os.path.join(root, "bkt"))
        proc = subprocess.Popen([sys.executable, script, "--root", root, "--port", "0", "--require-token", "s3cret"],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("luxe emulator listening on http://127.0.0.1:"), line
            port = int(line.rsplit(":", 1)[1])

            def get(path, headers=None):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path, headers=headers or {})
                resp = conn.getresponse()
                out = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
                conn.close()
                return out

            assert_error(get("/storage/v1/b/bkt"), 401, "required")
            assert_error(get("/storage/v1/b/bkt", {"Authorization": "Bearer wrong"}), 401, "authError")
            assert get("/storage/v1/b/bkt", {"Authorization": "Bearer s3cret"}).status == 200
            assert get("/_emulator/health").status == 200
        finally:
            proc.terminate()
            proc.wait(10)


# ---- run ----------------------------------------------------------------------------------



def main():
    passed, failed, skipped = run_tests(TESTS)
    jrequest("DELETE", "/_emulator/faults")
    summary("gcs-wire", passed, failed, skipped)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

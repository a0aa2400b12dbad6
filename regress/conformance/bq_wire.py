#!/usr/bin/env python3
"""Wire-level conformance of the luxe emulator's BigQuery REST v2 service, checked against
Google's documented behaviour (the BigQuery REST reference, GoogleSQL reference, pricing and
loading documentation) with nothing but the standard library. Expected values are computed
independently in the tests (percentiles by linear interpolation, bytes by BigQuery's
data-size table, ...), never read back from the emulator.

Usage: LUXE_EMULATOR_URL=http://127.0.0.1:PORT regress/conformance/bq_wire.py

The emulator must already be running (test_latency_option also starts one of its own with
--latency 200). Prints "ok N - name" / "not ok N - name" per test, then
"bq-wire: N passed, M failed, K skipped"; exits 1 on failure.
"""

import base64
import http.client
import json
import math
import os
import sys
import time
import uuid
from decimal import Decimal
from fractions import Fraction
from urllib.parse import quote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tests, summary  # noqa: E402

BASE = os.environ.get("LUXE_EMULATOR_URL", "")
if not BASE:
    sys.exit("LUXE_EMULATOR_URL is not set")
HOST, PORT = urlsplit(BASE).hostname, urlsplit(BASE).port
P = "proj-%s" % uuid.uuid4().hex[:6]
DS = "wire_%s" % uuid.uuid4().hex[:6]
BUCKET = "bqwire-%s" % uuid.uuid4().hex[:8]


def call(method, path, body=None, query=None, headers=None, raw=None):
    if not path.startswith("/_") and not path.startswith("/storage") and not path.startswith("/upload") \
            and not path.startswith("/$") and not path.startswith("/discovery") and not path.startswith("/projects"):
        path = "/bigquery/v2/projects/%s%s" % (P, path)
    if query:
        path += "?" + urlencode(query)
    conn = http.client.HTTPConnection(HOST, PORT, timeout=120)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        return r.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def ok(method, path, body=None, query=None, headers=None):
    st, j = call(method, path, body, query, headers)
    assert st in (200, 204), "%s %s -> %s %s" % (method, path, st, j)
    return j


def err(status, reason, method, path, body=None, query=None, headers=None):
    st, j = call(method, path, body, query, headers)
    assert st == status, "expected %s, got %s %s" % (status, st, j)
    e = j["error"]
    assert e["code"] == status and e["errors"][0]["reason"] == reason, j
    assert e["errors"][0]["domain"] == "global" and e["message"] and "status" in e, j
    return e


def mk_table(name, fields, ds=DS):
    return ok("POST", "/datasets/%s/tables" % ds, {"tableReference": {"projectId": P, "datasetId": ds,
                                                                       "tableId": name},
                                                    "schema": {"fields": fields}})


def insert(table, rows, **kw):
    body = {"rows": [{"insertId": uuid.uuid4().hex, "json": r} for r in rows]}
    body.update(kw)
    return ok("POST", "/datasets/%s/tables/%s/insertAll" % (DS, table), body)


def query(sql, params=None, **kw):
    body = {"query": sql, "useLegacySql": False}
    if params is not None:
        body["parameterMode"] = "NAMED"
        body["queryParameters"] = params
    body.update(kw)
    return ok("POST", "/queries", body)


def qerr(sql, params=None, status=400, reason="invalidQuery"):
    body = {"query": sql, "useLegacySql": False, "parameterMode": "NAMED", "queryParameters": params or []}
    e = err(status, reason, "POST", "/queries", body)
    if reason == "invalidQuery":
        assert e["errors"][0].get("location") == "query", e
    return e["message"]


def prm(name, typ, value):
    if isinstance(value, list):
        return {"name": name, "parameterType": {"type": "ARRAY", "arrayType": {"type": typ}},
                "parameterValue": {"arrayValues": [{"value": v} for v in value]}}
    return {"name": name, "parameterType": {"type": typ},
            "parameterValue": {"value": value} if value is not None else {}}


def vals(resp):
    return [[c["v"] for c in r["f"]] for r in resp.get("rows", [])]


def col(resp, i=0):
    return [r[i] for r in vals(resp)]


def types(resp):
    return [(f["name"], f["type"]) for f in resp["schema"]["fields"]]


def one(sql, params=None, **kw):
    r = query(sql, params, **kw)
    rows = vals(r)
    assert len(rows) == 1, r
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


def upload(name, data):
    st, j = call("POST", "/upload/storage/v1/b/%s/o" % BUCKET, raw=data,
                 query={"uploadType": "media", "name": name},
                 headers={"Content-Type": "application/octet-stream"})
    assert st == 200, (st, j)


def wait_job(job_id, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = ok("GET", "/jobs/%s" % job_id)
        if j["status"]["state"] == "DONE":
            return j
        time.sleep(0.05)
    raise AssertionError("job %s did not finish" % job_id)


def load(table, uris, **conf):
    job_id = "load_%s" % uuid.uuid4().hex
    c = {"destinationTable": {"projectId": P, "datasetId": DS, "tableId": table},
         "sourceUris": uris if isinstance(uris, list) else [uris]}
    c.update(conf)
    j = ok("POST", "/jobs", {"jobReference": {"projectId": P, "jobId": job_id},
                             "configuration": {"load": c}})
    assert j["status"]["state"] in ("PENDING", "RUNNING", "DONE"), j
    assert j["jobReference"]["jobId"] == job_id
    return wait_job(job_id)


def rows_of(table, **q):
    out, token = [], None
    while True:
        qq = dict(q)
        if token:
            qq["pageToken"] = token
        r = ok("GET", "/datasets/%s/tables/%s/data" % (DS, table), query=qq)
        out.extend(vals(r))
        token = r.get("pageToken")
        if not token:
            return out, r


def jobs_ctl():
    return ok("GET", "/_emulator/bigquery/jobs")["jobs"]


# =============================================================================================
# setup
# =============================================================================================

def test_setup():
    """datasets: insert, duplicate 409, get, list omits datasets when empty"""
    st, j = call("GET", "/datasets")
    assert st == 200 and "datasets" not in j, j
    d = ok("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": DS}})
    assert d["id"] == "%s:%s" % (P, DS) and d["datasetReference"]["datasetId"] == DS and d["location"] == "US"
    err(409, "duplicate", "POST", "/datasets", {"datasetReference": {"datasetId": DS}})
    g = ok("GET", "/datasets/%s" % DS)
    assert g["kind"] == "bigquery#dataset" and g["creationTime"].isdigit()
    e = err(404, "notFound", "GET", "/datasets/nope")
    assert e["message"] == "Not found: Dataset %s:nope" % P and e["status"] == "NOT_FOUND"
    ok("POST", "/storage/v1/b", {"name": BUCKET}, query={"project": P})


def test_dataset_paging_and_delete():
    """datasets.list pages with maxResults/nextPageToken; delete needs deleteContents"""
    for i in range(3):
        ok("POST", "/datasets", {"datasetReference": {"datasetId": "pg%d" % i}})
    seen, token = [], None
    while True:
        q = {"maxResults": 2}
        if token:
            q["pageToken"] = token
        r = ok("GET", "/datasets", query=q)
        assert len(r["datasets"]) <= 2
        seen += [d["datasetReference"]["datasetId"] for d in r["datasets"]]
        token = r.get("nextPageToken")
        if not token:
            break
    assert seen == sorted([DS, "pg0", "pg1", "pg2"]), seen
    mk_table("t", [{"name": "a", "type": "INT64"}], ds="pg0")
    err(400, "resourceInUse", "DELETE", "/datasets/pg0")
    ok("DELETE", "/datasets/pg0", query={"deleteContents": "true"})
    ok("DELETE", "/datasets/pg1")
    ok("DELETE", "/datasets/pg2")
    err(404, "notFound", "GET", "/datasets/pg0/tables/t")


ALL_FIELDS = [
    {"name": "i", "type": "INTEGER"}, {"name": "f", "type": "FLOAT64"}, {"name": "b", "type": "BOOLEAN"},
    {"name": "s", "type": "STRING"}, {"name": "y", "type": "BYTES"}, {"name": "n", "type": "NUMERIC"},
    {"name": "bn", "type": "BIGNUMERIC"}, {"name": "d", "type": "DATE"}, {"name": "dt", "type": "DATETIME"},
    {"name": "tm", "type": "TIME"}, {"name": "ts", "type": "TIMESTAMP"}, {"name": "g", "type": "GEOGRAPHY"},
    {"name": "j", "type": "JSON"},
    {"name": "rec", "type": "RECORD", "fields": [{"name": "k", "type": "STRING"}, {"name": "v", "type": "FLOAT"},
                                                 {"name": "tags", "type": "STRING", "mode": "REPEATED"}]},
    {"name": "arr", "type": "INT64", "mode": "REPEATED"},
    {"name": "req", "type": "STRING", "mode": "REQUIRED"},
]


def test_tables():
    """tables.insert/get/list: legacy type names, numRows/numBytes strings, type TABLE, paging"""
    t = mk_table("types", ALL_FIELDS)
    assert t["type"] == "TABLE" and t["numRows"] == "0" and t["numBytes"] == "0"
    names = [(f["name"], f["type"], f["mode"]) for f in t["schema"]["fields"]]
    assert names[:3] == [("i", "INTEGER", "NULLABLE"), ("f", "FLOAT", "NULLABLE"), ("b", "BOOLEAN", "NULLABLE")]
    assert names[13] == ("rec", "RECORD", "NULLABLE") and names[14] == ("arr", "INTEGER", "REPEATED")
    assert names[15][2] == "REQUIRED"
    assert t["schema"]["fields"][13]["fields"][2] == {"name": "tags", "type": "STRING", "mode": "REPEATED"}
    err(409, "duplicate", "POST", "/datasets/%s/tables" % DS, {"tableReference": {"tableId": "types"}})
    err(400, "invalid", "POST", "/datasets/%s/tables" % DS,
        {"tableReference": {"tableId": "bad"}, "schema": {"fields": [{"name": "x", "type": "NOPE"}]}})
    e = err(404, "notFound", "GET", "/datasets/%s/tables/nope" % DS)
    assert e["message"] == "Not found: Table %s:%s.nope" % (P, DS), e
    for i in range(3):
        mk_table("lst%d" % i, [{"name": "a", "type": "INT64"}])
    r = ok("GET", "/datasets/%s/tables" % DS, query={"maxResults": 2})
    assert len(r["tables"]) == 2 and r["nextPageToken"] and r["totalItems"] == 4, r
    r2 = ok("GET", "/datasets/%s/tables" % DS, query={"maxResults": 2, "pageToken": r["nextPageToken"]})
    ids = [x["tableReference"]["tableId"] for x in r["tables"] + r2["tables"]]
    assert ids == ["lst0", "lst1", "lst2", "types"] and "nextPageToken" not in r2, ids
    ok("DELETE", "/datasets/%s/tables/lst2" % DS)
    err(404, "notFound", "DELETE", "/datasets/%s/tables/lst2" % DS)
    p = ok("PATCH", "/datasets/%s/tables/lst1" % DS, {"schema": {"fields": [
        {"name": "a", "type": "INT64"}, {"name": "b2", "type": "STRING"}]}})
    assert [f["name"] for f in p["schema"]["fields"]] == ["a", "b2"]
    st, _ = call("GET", "/projects/%s/datasets/%s/tables/types" % (P, DS))  # no /bigquery/v2 prefix
    assert st == 200


ROW = {"i": "9007199254740993", "f": "NaN", "b": True, "s": "h\u00e9llo \U0001F600", "y": base64.b64encode(b"\x00\xff").decode(),
       "n": "12345678901234567890123456789.123456789", "bn": "1.00000000000000000000000000000000000001",
       "d": "2024-03-15", "dt": "2024-03-15T12:34:56.123456", "tm": "12:34:56.5",
       "ts": "2024-01-01 00:00:00.123456+00:00", "g": "POINT(1 2)", "j": {"a": [1, 2]},
       "rec": {"k": "x", "v": 1.5, "tags": ["p", "q"]}, "arr": [1, 2, 3], "req": "r"}


def test_type_round_trip():
    """every type round-trips through insertAll and tabledata.list in Google's JSON encoding"""
    insert("types", [ROW, {"i": -1, "f": "Infinity", "b": False, "req": "r2", "arr": []},
                     {"f": "-Infinity", "req": "r3"}, {"f": 0.1, "req": "r4"}])
    rows, r = rows_of("types", **{"formatOptions.useInt64Timestamp": "true"})
    assert r["totalRows"] == "4"
    a = rows[0]
    assert a[:4] == ["9007199254740993", "NaN", "true", "h\u00e9llo \U0001F600"], a
    assert a[4] == "AP8=" and a[5] == ROW["n"] and a[6] == ROW["bn"], a
    assert a[7:11] == ["2024-03-15", "2024-03-15T12:34:56.123456", "12:34:56.500000", "1704067200123456"], a
    assert a[11] == "POINT(1 2)" and json.loads(a[12]) == {"a": [1, 2]}, a
    assert a[13] == {"f": [{"v": "x"}, {"v": "1.5"}, {"v": [{"v": "p"}, {"v": "q"}]}]}, a[13]
    assert a[14] == [{"v": "1"}, {"v": "2"}, {"v": "3"}] and a[15] == "r"
    assert rows[1][:3] == ["-1", "Infinity", "false"] and rows[1][14] == [] and rows[1][13] is None
    assert rows[2][1] == "-Infinity" and rows[2][0] is None and rows[3][1] == "0.1"
    t = ok("GET", "/datasets/%s/tables/types" % DS)
    assert t["numRows"] == "4" and int(t["numBytes"]) > 0
    # the same values through a query
    q = query("SELECT * FROM `%s.%s.types` ORDER BY req" % (P, DS), formatOptions={"useInt64Timestamp": True})
    assert vals(q)[0] == a, vals(q)[0]
    assert types(q)[:3] == [("i", "INTEGER"), ("f", "FLOAT"), ("b", "BOOLEAN")]


def test_timestamp_forms():
    """TIMESTAMP: float seconds in E notation by default, int64 µs, ISO8601_STRING"""
    mk_table("tsf", [{"name": "ts", "type": "TIMESTAMP"}])
    insert("tsf", [{"ts": "2024-01-01T00:00:00Z"}, {"ts": "2019-06-20 08:01:37.269367 UTC"}])
    r, _ = rows_of("tsf")
    assert [x[0] for x in r] == ["1.7040672E9", "1.561017697269367E9"], r
    r, _ = rows_of("tsf", **{"formatOptions.useInt64Timestamp": "true"})
    assert [x[0] for x in r] == ["1704067200000000", "1561017697269367"], r
    r, _ = rows_of("tsf", **{"formatOptions.timestampOutputFormat": "ISO8601_STRING"})
    assert [x[0] for x in r] == ["2024-01-01T00:00:00.000000Z", "2019-06-20T08:01:37.269367Z"], r
    sql = "SELECT ts FROM `%s.%s.tsf` ORDER BY ts" % (P, DS)
    assert col(query(sql)) == ["1.561017697269367E9", "1.7040672E9"]
    assert col(query(sql, formatOptions={"useInt64Timestamp": True})) == ["1561017697269367", "1704067200000000"]
    q = query(sql, maxResults=1)
    g = ok("GET", "/queries/%s" % q["jobReference"]["jobId"],
           query={"pageToken": q["pageToken"], "formatOptions.timestampOutputFormat": "ISO8601_STRING"})
    assert col(g) == ["2024-01-01T00:00:00.000000Z"], g


def test_insert_all_errors():
    """insertAll: per-row insertErrors, healthy rows `stopped` and nothing inserted; skipInvalidRows"""
    mk_table("ins", [{"name": "a", "type": "INT64", "mode": "REQUIRED"}, {"name": "s", "type": "STRING"}])
    r = insert("ins", [{"a": 1}, {"a": "x"}, {"s": "no a"}, {"a": 4, "zzz": 1}])
    errs = {e["index"]: e["errors"] for e in r["insertErrors"]}
    assert errs[0][0]["reason"] == "stopped", errs
    assert errs[1][0]["reason"] == "invalid" and errs[1][0]["location"] == "a", errs
    assert errs[2][0]["reason"] == "invalid" and errs[2][0]["location"] == "a", errs
    assert errs[3][0]["reason"] == "invalid" and errs[3][0]["location"] == "zzz", errs
    rows, t = rows_of("ins")
    assert rows == [] and t["totalRows"] == "0"
    r = insert("ins", [{"a": 1}, {"a": "x"}, {"a": 4, "zzz": 1}], skipInvalidRows=True)
    assert sorted(e["index"] for e in r["insertErrors"]) == [1, 2]
    r = insert("ins", [{"a": 5, "zzz": 1}], ignoreUnknownValues=True)
    assert "insertErrors" not in r
    rows, _ = rows_of("ins")
    assert rows == [["1", None], ["5", None]], rows
    err(400, "invalid", "POST", "/datasets/%s/tables/ins/insertAll" % DS, {"rows": []})


def test_insert_id_dedup():
    """insertAll: a retried request with the same insertIds does not duplicate rows"""
    mk_table("dedup", [{"name": "a", "type": "INT64"}])
    body = {"rows": [{"insertId": "id-1", "json": {"a": 1}}, {"insertId": "id-2", "json": {"a": 2}}]}
    ok("POST", "/datasets/%s/tables/dedup/insertAll" % DS, body)
    ok("POST", "/datasets/%s/tables/dedup/insertAll" % DS, body)
    ok("POST", "/datasets/%s/tables/dedup/insertAll" % DS, {"rows": [{"json": {"a": 3}}, {"json": {"a": 3}}]})
    rows, _ = rows_of("dedup")
    assert rows == [["1"], ["2"], ["3"], ["3"]], rows


def test_tabledata_paging():
    """tabledata.list: maxResults, pageToken, startIndex, selectedFields, totalRows"""
    mk_table("pg", [{"name": "a", "type": "INT64"}, {"name": "b", "type": "STRING"},
                    {"name": "r", "type": "RECORD", "fields": [{"name": "x", "type": "INT64"},
                                                               {"name": "y", "type": "STRING"}]}])
    insert("pg", [{"a": i, "b": "s%d" % i, "r": {"x": i, "y": "y%d" % i}} for i in range(25)])
    got, token, pages = [], None, 0
    while True:
        q = {"maxResults": 7}
        if token:
            q["pageToken"] = token
        r = ok("GET", "/datasets/%s/tables/pg/data" % DS, query=q)
        assert r["totalRows"] == "25" and len(r["rows"]) <= 7
        pages += 1
        got += [x[0] for x in vals(r)]
        token = r.get("pageToken")
        if not token:
            break
    assert got == [str(i) for i in range(25)] and pages == 4, (got, pages)
    r = ok("GET", "/datasets/%s/tables/pg/data" % DS, query={"startIndex": 23, "maxResults": 5})
    assert vals(r) == [["23", "s23", {"f": [{"v": "23"}, {"v": "y23"}]}],
                       ["24", "s24", {"f": [{"v": "24"}, {"v": "y24"}]}]] and "pageToken" not in r
    r = ok("GET", "/datasets/%s/tables/pg/data" % DS, query={"startIndex": 30})
    assert "rows" not in r and r["totalRows"] == "25"
    r = ok("GET", "/datasets/%s/tables/pg/data" % DS, query={"selectedFields": "b,a", "maxResults": 1})
    assert vals(r) == [["0", "s0"]], r
    r = ok("GET", "/datasets/%s/tables/pg/data" % DS, query={"selectedFields": "r.y", "maxResults": 1})
    assert vals(r) == [[{"f": [{"v": "y0"}]}]], r
    t = ok("GET", "/datasets/%s/tables/pg" % DS, query={"selectedFields": "b"})
    assert [f["name"] for f in t["schema"]["fields"]] == ["b"]
    err(400, "invalid", "GET", "/datasets/%s/tables/pg/data" % DS, query={"pageToken": "garbage!"})


def test_ten_mb_cap():
    """responses stop at ~10 MB and hand back a pageToken (tabledata.list and getQueryResults)"""
    mk_table("big", [{"name": "i", "type": "INT64"}, {"name": "s", "type": "STRING"}])
    blob = "x" * (1024 * 1024)
    for i in range(0, 14, 2):
        insert("big", [{"i": i, "s": blob}, {"i": i + 1, "s": blob}])
    r = ok("GET", "/datasets/%s/tables/big/data" % DS)
    n1 = len(r["rows"])
    assert 5 <= n1 < 14 and r["pageToken"], n1
    size = len(json.dumps(r))
    assert size <= 10.5 * 1024 * 1024, size
    rows, _ = rows_of("big")
    assert [x[0] for x in rows] == [str(i) for i in range(14)]
    q = query("SELECT i, s FROM `%s.%s.big` ORDER BY i" % (P, DS))
    assert q["totalRows"] == "14" and len(q["rows"]) < 14 and q["pageToken"]
    got = col(q)
    token = q["pageToken"]
    while token:
        g = ok("GET", "/queries/%s" % q["jobReference"]["jobId"], query={"pageToken": token})
        got += col(g)
        token = g.get("pageToken")
    assert got == [str(i) for i in range(14)]
    ok("DELETE", "/datasets/%s/tables/big" % DS)


def test_query_paging():
    """jobs.query maxResults + getQueryResults pageToken/startIndex/maxResults are exact"""
    q = query("SELECT a FROM `%s.%s.pg` WHERE a >= @lo ORDER BY a DESC" % (P, DS), [prm("lo", "INT64", "5")],
              maxResults=6)
    assert q["jobComplete"] is True and q["totalRows"] == "20" and col(q) == [str(i) for i in range(24, 18, -1)]
    assert q["kind"] == "bigquery#queryResponse" and q["cacheHit"] is False
    job = q["jobReference"]["jobId"]
    assert q["jobReference"]["projectId"] == P and q["jobReference"]["location"] == "US"
    got, token = col(q), q["pageToken"]
    while token:
        g = ok("GET", "/queries/%s" % job, query={"pageToken": token, "maxResults": 6, "location": "US"})
        assert g["kind"] == "bigquery#getQueryResultsResponse" and g["jobComplete"] is True
        got += col(g)
        token = g.get("pageToken")
    assert got == [str(i) for i in range(24, 4, -1)], got
    g = ok("GET", "/queries/%s" % job, query={"startIndex": 18, "maxResults": 100})
    assert col(g) == ["6", "5"] and "pageToken" not in g
    g = ok("GET", "/queries/%s" % job, query={"startIndex": 0, "maxResults": 100, "timeoutMs": 0})
    assert len(g["rows"]) == 20 and g["schema"]["fields"][0]["type"] == "INTEGER"
    err(404, "notFound", "GET", "/queries/nope")
    j = ok("GET", "/jobs/%s" % job)
    assert j["status"]["state"] == "DONE" and "errorResult" not in j["status"]
    assert j["statistics"]["query"]["statementType"] == "SELECT"
    assert j["configuration"]["query"]["query"].startswith("SELECT a")


def test_request_id_idempotent():
    """jobs.query: a repeated requestId returns the same job and does not run it twice"""
    rid = str(uuid.uuid4())
    body = {"query": "SELECT 7 AS x", "useLegacySql": False, "requestId": rid}
    a = ok("POST", "/queries", body)
    b = ok("POST", "/queries", body)
    assert a["jobReference"]["jobId"] == b["jobReference"]["jobId"] and col(b) == ["7"]
    assert sum(1 for j in jobs_ctl() if j["requestId"] == rid) == 1


def test_job_ids():
    """jobs.insert: client jobId, duplicate -> 409 duplicate, bad id -> 400; jobs.list"""
    jid = "my_job-%s" % uuid.uuid4().hex
    body = {"jobReference": {"projectId": P, "jobId": jid},
            "configuration": {"query": {"query": "SELECT 1 AS one", "useLegacySql": False}}}
    j = ok("POST", "/jobs", body)
    assert j["jobReference"]["jobId"] == jid and j["kind"] == "bigquery#job"
    assert j["id"] == "%s:US.%s" % (P, jid) and j["configuration"]["jobType"] == "QUERY"
    err(409, "duplicate", "POST", "/jobs", body)
    bad = dict(body, jobReference={"projectId": P, "jobId": "bad id!"})
    err(400, "invalid", "POST", "/jobs", bad)
    assert col(ok("GET", "/queries/%s" % jid)) == ["1"]
    g = wait_job(jid)
    assert g["statistics"]["query"]["schema"]["fields"] == [{"name": "one", "type": "INTEGER", "mode": "NULLABLE"}]
    lst = ok("GET", "/jobs", query={"maxResults": 1000})
    assert any(x["jobReference"]["jobId"] == jid for x in lst["jobs"])
    # a failing query job is DONE with an errorResult, HTTP 200
    fid = "fail_%s" % uuid.uuid4().hex
    ok("POST", "/jobs", {"jobReference": {"jobId": fid}, "configuration": {"query": {
        "query": "SELECT nope FROM `%s.%s.pg`" % (P, DS), "useLegacySql": False}}})
    f = wait_job(fid)
    assert f["status"]["errorResult"]["reason"] == "invalidQuery", f
    assert "Unrecognized name: nope" in f["status"]["errorResult"]["message"]
    err(400, "invalidQuery", "GET", "/queries/%s" % fid)


def test_reset_after_processing():
    """return-reset-after-processing: the job is created, the answer is lost; a retry gets 409 duplicate"""
    jid = "lost_answer_%s" % uuid.uuid4().hex
    body = {"jobReference": {"projectId": P, "jobId": jid},
            "configuration": {"query": {"query": "SELECT 2 AS two", "useLegacySql": False}}}
    ok("POST", "/_emulator/faults", {"instructions": {"bigquery.jobs.insert": ["return-reset-after-processing"]}})
    try:
        call("POST", "/jobs", body)
        raise AssertionError("the answer was not dropped")
    except (ConnectionError, http.client.HTTPException, OSError):
        pass
    left = ok("GET", "/_emulator/faults")["instructions"]
    ok("DELETE", "/_emulator/faults")
    assert not any(left.values()), left
    err(409, "duplicate", "POST", "/jobs", body)
    assert col(ok("GET", "/queries/%s" % jid)) == ["2"]


def test_job_incomplete():
    """job-incomplete-N: jobComplete:false in the response and the first N polls, then rows"""
    ok("POST", "/_emulator/faults", {"instructions": {"bigquery.jobs.query": ["job-incomplete-2"]}})
    q = query("SELECT 42 AS x")
    assert q["jobComplete"] is False and "rows" not in q and "schema" not in q, q
    job = q["jobReference"]["jobId"]
    g1 = ok("GET", "/queries/%s" % job, query={"timeoutMs": 100})
    j2 = ok("GET", "/jobs/%s" % job)
    assert g1["jobComplete"] is False and j2["status"]["state"] == "RUNNING", (g1, j2)
    g3 = ok("GET", "/queries/%s" % job)
    assert g3["jobComplete"] is True and col(g3) == ["42"], g3
    # the per-request header form, on jobs.insert
    jid = "inc_%s" % uuid.uuid4().hex
    j = ok("POST", "/jobs", {"jobReference": {"jobId": jid}, "configuration": {"query": {
        "query": "SELECT 1", "useLegacySql": False}}}, headers={"x-goog-emulator-instructions": "job-incomplete-1"})
    assert j["status"]["state"] == "RUNNING"
    assert ok("GET", "/jobs/%s" % jid)["status"]["state"] == "RUNNING"
    assert ok("GET", "/jobs/%s" % jid)["status"]["state"] == "DONE"


def test_job_slow_and_cancel():
    """job-slow-Ts: getQueryResults waits timeoutMs then jobComplete:false; cancel -> stopped"""
    ok("POST", "/_emulator/faults", {"instructions": {"bigquery.jobs.query": ["job-slow-30s"]}})
    t0 = time.time()
    q = query("SELECT 1 AS x", timeoutMs=300)
    assert q["jobComplete"] is False and 0.25 <= time.time() - t0 < 5, q
    job = q["jobReference"]["jobId"]
    t0 = time.time()
    g = ok("GET", "/queries/%s" % job, query={"timeoutMs": 400})
    assert g["jobComplete"] is False and time.time() - t0 >= 0.35
    c = ok("POST", "/jobs/%s/cancel" % job)
    assert c["kind"] == "bigquery#jobCancelResponse" and c["job"]["status"]["state"] == "DONE"
    assert c["job"]["status"]["errorResult"]["reason"] == "stopped"
    j = ok("GET", "/jobs/%s" % job)
    assert j["status"]["errorResult"]["reason"] == "stopped"
    ctl = [x for x in jobs_ctl() if x["jobId"] == job][0]
    assert ctl["cancelled"] is True and ctl["state"] == "DONE" and ctl["kind"] == "query"
    err(400, "stopped", "GET", "/queries/%s" % job)
    # a short slow job completes within the jobs.query timeout
    ok("POST", "/_emulator/faults", {"instructions": {"bigquery.jobs.query": ["job-slow-0.5s"]}})
    q = query("SELECT 2 AS x", timeoutMs=5000)
    assert q["jobComplete"] is True and col(q) == ["2"]


def test_error_faults():
    """return-403-rateLimitExceeded / quotaExceeded / 500-backendError bodies; plain 503"""
    ok("POST", "/_emulator/faults", {"instructions": {
        "bigquery.jobs.query": ["return-403-rateLimitExceeded", "return-403-quotaExceeded"],
        "bigquery.tabledata.list": ["return-500-backendError", "return-503"]}})
    e = err(403, "rateLimitExceeded", "POST", "/queries", {"query": "SELECT 1", "useLegacySql": False})
    assert e["status"] == "PERMISSION_DENIED"
    err(403, "quotaExceeded", "POST", "/queries", {"query": "SELECT 1", "useLegacySql": False})
    assert col(query("SELECT 1")) == ["1"]
    err(500, "backendError", "GET", "/datasets/%s/tables/pg/data" % DS)
    err(503, "backendError", "GET", "/datasets/%s/tables/pg/data" % DS)
    ok("GET", "/datasets/%s/tables/pg/data" % DS)
    n = len(jobs_ctl())
    ok("POST", "/_emulator/faults", {"instructions": {"bigquery.jobs.insert": ["return-500-backendError"]}})
    jid = "retry_%s" % uuid.uuid4().hex
    body = {"jobReference": {"jobId": jid}, "configuration": {"query": {"query": "SELECT 1", "useLegacySql": False}}}
    err(500, "backendError", "POST", "/jobs", body)
    ok("POST", "/jobs", body)
    err(409, "duplicate", "POST", "/jobs", body)
    assert len(jobs_ctl()) == n + 1


def test_invalid_queries():
    """legacy SQL, syntax errors, unknown tables/columns, unsupported constructs -> 400 invalidQuery"""
    st, j = call("POST", "/queries", {"query": "SELECT 1"})
    assert st == 400 and j["error"]["errors"][0]["reason"] == "invalidQuery" and "egacy" in j["error"]["message"]
    st, j = call("POST", "/queries", {"query": "SELECT 1", "useLegacySql": True})
    assert st == 400
    assert "Syntax error" in qerr("SELEC 1")
    assert "Unrecognized name: zz" in qerr("SELECT zz FROM `%s.%s.pg`" % (P, DS))
    m = qerr("SELECT a FROM `%s.%s.pg` UNION ALL SELECT 1" % (P, DS))
    assert "UNION" in m, m
    assert "named windows" in qerr("SELECT ROW_NUMBER() OVER w FROM `%s.%s.pg`" % (P, DS))
    assert "WITH RECURSIVE" in qerr("WITH RECURSIVE x AS (SELECT 1) SELECT * FROM x")
    assert "function FOO" in qerr("SELECT FOO(1)")
    assert "division by zero" in qerr("SELECT 1 / 0")
    assert "Query parameter 'q' not found" in qerr("SELECT @q")
    e = err(404, "notFound", "POST", "/queries", {"query": "SELECT * FROM `%s.%s.nope`" % (P, DS),
                                                  "useLegacySql": False})
    assert "Not found: Table %s:%s.nope" % (P, DS) in e["message"]


def test_dry_run_and_bytes():
    """dryRun returns statistics only; totalBytesProcessed counts the referenced columns"""
    mk_table("bytes", [{"name": "a", "type": "INT64"}, {"name": "s", "type": "STRING"}])
    insert("bytes", [{"a": 1, "s": "abc"}, {"a": 2, "s": "de"}])
    d = query("SELECT a FROM `%s.%s.bytes`" % (P, DS), dryRun=True)
    assert d["totalBytesProcessed"] == "16" and "rows" not in d, d
    d = query("SELECT s FROM `%s.%s.bytes`" % (P, DS), dryRun=True)
    assert d["totalBytesProcessed"] == str(2 + 3 + 2 + 2), d
    r = query("SELECT a, s FROM `%s.%s.bytes`" % (P, DS))
    assert r["totalBytesProcessed"] == "25"
    t = ok("GET", "/datasets/%s/tables/bytes" % DS)
    assert t["numBytes"] == "25" and t["numRows"] == "2"


def test_dml():
    """INSERT/DELETE/UPDATE/TRUNCATE report numDmlAffectedRows"""
    mk_table("dml", [{"name": "a", "type": "INT64"}, {"name": "n", "type": "NUMERIC"}, {"name": "s", "type": "STRING"}])
    t = "`%s.%s.dml`" % (P, DS)
    r = query("INSERT INTO %s (a, n, s) VALUES (1, 1, 'x'), (@a, @n, NULL), (3, 2.5, 'z')" % t,
              [prm("a", "INT64", "2"), prm("n", "NUMERIC", "0.1")])
    assert r["numDmlAffectedRows"] == "3" and r["jobComplete"] is True, r
    r = query("DELETE FROM %s WHERE a = 3" % t)
    assert r["numDmlAffectedRows"] == "1"
    r = query("UPDATE %s SET s = 'u' WHERE s IS NULL" % t)
    assert r["numDmlAffectedRows"] == "1"
    assert vals(query("SELECT a, n, s FROM %s ORDER BY a" % t)) == [["1", "1", "x"], ["2", "0.1", "u"]]
    r = query("TRUNCATE TABLE %s" % t)
    assert r["numDmlAffectedRows"] == "2"
    assert query("SELECT COUNT(*) FROM %s" % t)["rows"][0]["f"][0]["v"] == "0"
    m = qerr("DELETE FROM %s" % t)
    assert "WHERE" in m


# ---- SQL semantics (the FDW contract) ------------------------------------------------------

def test_sql_setup():
    """fixture table for the SQL tests"""
    mk_table("sq", [{"name": "id", "type": "INT64"}, {"name": "name", "type": "STRING"},
                    {"name": "x", "type": "FLOAT64"}, {"name": "n", "type": "NUMERIC"},
                    {"name": "flag", "type": "BOOL"}, {"name": "d", "type": "DATE"},
                    {"name": "ts", "type": "TIMESTAMP"}, {"name": "weird name", "type": "STRING"},
                    {"name": "tags", "type": "STRING", "mode": "REPEATED"}])
    insert("sq", [
        {"id": 1, "name": "apple", "x": 1.5, "n": "0.1", "flag": True, "d": "2024-01-01", "ts": "2024-01-01 00:00:00", "weird name": "w1", "tags": ["a"]},
        {"id": 2, "name": "Banana", "x": "NaN", "n": "0.2", "flag": False, "d": "2024-02-01", "ts": "2024-02-01 00:00:00", "weird name": "w2", "tags": []},
        {"id": 3, "name": "cherry", "x": None, "n": None, "flag": None, "d": None, "ts": None},
        {"id": 4, "name": "\u00e9clair", "x": -2.0, "n": "0.3", "flag": True, "d": "2024-03-01", "ts": "2024-03-01 12:00:00"},
        {"id": 5, "name": None, "x": "Infinity", "n": "-5", "flag": True, "d": "2023-12-31", "ts": "2023-12-31 23:59:59.5"},
        {"id": 6, "name": "a%b_c", "x": 0.0, "n": "100", "flag": False, "d": "2024-01-01", "ts": "2024-01-01 00:00:00"},
    ])


SQ = "`%s.%s.sq`" % (P, DS)


def ids(sql, params=None):
    return [int(v) for v in col(query(sql, params))]


def test_sql_fdw_shape():
    """the FDW's own shape: r1 aliases, backticks, named params, NULLS ordering, LIMIT/OFFSET"""
    sql = ("SELECT r1.`id`, r1.`name` FROM %s AS r1 WHERE ((r1.`id` > @p1)) "
           "ORDER BY r1.`name` ASC NULLS LAST, r1.`id` DESC NULLS FIRST LIMIT @p2 OFFSET @p3" % SQ)
    r = query(sql, [prm("p1", "INT64", "1"), prm("p2", "INT64", "10"), prm("p3", "INT64", "0")],
              formatOptions={"useInt64Timestamp": True})
    assert col(r, 1) == ["Banana", "a%b_c", "cherry", "\u00e9clair", None], col(r, 1)  # code-point order
    assert ids("SELECT id FROM %s AS r1 ORDER BY name" % SQ) == [5, 2, 6, 1, 3, 4]  # NULL first ASC
    assert ids("SELECT id FROM %s AS r1 ORDER BY name DESC" % SQ) == [4, 3, 1, 6, 2, 5]  # NULL last DESC
    assert ids("SELECT id FROM %s ORDER BY name DESC NULLS FIRST" % SQ) == [5, 4, 3, 1, 6, 2]
    assert ids("SELECT id FROM %s ORDER BY x" % SQ) == [3, 2, 4, 6, 1, 5]  # NULL, NaN, -2, 0, 1.5, inf
    assert ids("SELECT id FROM %s ORDER BY x DESC" % SQ) == [5, 1, 6, 4, 2, 3]
    assert ids("SELECT id FROM %s ORDER BY n NULLS LAST, id" % SQ) == [5, 1, 2, 4, 6, 3]
    assert ids("SELECT id FROM %s ORDER BY id LIMIT @l OFFSET @o" % SQ,
               [prm("l", "INT64", "2"), prm("o", "INT64", "3")]) == [4, 5]
    assert ids("SELECT r1.`id` FROM %s AS r1 WHERE r1.`weird name` = @w" % SQ, [prm("w", "STRING", "w2")]) == [2]
    r = query("SELECT NULL FROM %s AS r1 WHERE r1.id = 1" % SQ)
    assert vals(r) == [[None]] and types(r) == [("f0_", "INTEGER")]


def test_sql_operators():
    """/ is FLOAT64, DIV/MOD, CONCAT, unary minus, comparisons, IS [NOT] TRUE/FALSE/NULL, NOT"""
    assert one("SELECT @a / @b", [prm("a", "FLOAT64", "1"), prm("b", "FLOAT64", "4")]) == "0.25"
    assert one("SELECT 7 / 2") == "3.5"
    assert one("SELECT DIV(-7, 2)") == "-3" and one("SELECT MOD(-7, 2)") == "-1"
    assert one("SELECT CONCAT('a', @s, 'c')", [prm("s", "STRING", "b")]) == "abc"
    assert one("SELECT CONCAT('a', NULL)") is None
    assert one("SELECT -@x", [prm("x", "FLOAT64", "1.5")]) == "-1.5"
    assert ids("SELECT id FROM %s WHERE flag IS TRUE ORDER BY id" % SQ) == [1, 4, 5]
    assert ids("SELECT id FROM %s WHERE flag IS NOT TRUE ORDER BY id" % SQ) == [2, 3, 6]
    assert ids("SELECT id FROM %s WHERE flag IS FALSE ORDER BY id" % SQ) == [2, 6]
    assert ids("SELECT id FROM %s WHERE flag IS NOT FALSE ORDER BY id" % SQ) == [1, 3, 4, 5]
    assert ids("SELECT id FROM %s WHERE NOT (flag) ORDER BY id" % SQ) == [2, 6]
    assert ids("SELECT id FROM %s WHERE name IS NULL" % SQ) == [5]
    assert ids("SELECT id FROM %s WHERE x > @z ORDER BY id" % SQ, [prm("z", "FLOAT64", "0")]) == [1, 5]
    assert ids("SELECT id FROM %s WHERE x != @z ORDER BY id" % SQ, [prm("z", "FLOAT64", "0")]) == [1, 2, 4, 5]
    assert ids("SELECT id FROM %s WHERE x = @z" % SQ, [prm("z", "FLOAT64", "NaN")]) == []
    assert ids("SELECT id FROM %s WHERE (id + 1) * 2 - 3 = 9" % SQ) == [5]
    assert ids("SELECT id FROM %s WHERE d >= @d ORDER BY id" % SQ, [prm("d", "DATE", "2024-02-01")]) == [2, 4]
    assert ids("SELECT id FROM %s WHERE ts < @t ORDER BY id" % SQ,
               [prm("t", "TIMESTAMP", "2024-01-01 00:00:00.000001+00:00")]) == [1, 5, 6]
    assert ids("SELECT id FROM %s WHERE id BETWEEN 2 AND 3 ORDER BY id" % SQ) == [2, 3]
    assert ids("SELECT id FROM %s WHERE n > @n ORDER BY id" % SQ, [prm("n", "NUMERIC", "0.15")]) == [2, 4, 6]


def test_sql_like_in():
    """LIKE is case-sensitive with backslash escapes; IN lists and IN UNNEST(@array)"""
    assert ids("SELECT id FROM %s WHERE name LIKE @p" % SQ, [prm("p", "STRING", "a%")]) == [1, 6]
    assert ids("SELECT id FROM %s WHERE name LIKE @p" % SQ, [prm("p", "STRING", "b%")]) == []
    assert ids("SELECT id FROM %s WHERE name LIKE @p" % SQ, [prm("p", "STRING", "B_nana")]) == [2]
    assert ids("SELECT id FROM %s WHERE name LIKE @p" % SQ, [prm("p", "STRING", "a\\%b\\_c")]) == [6]
    assert ids("SELECT id FROM %s WHERE name NOT LIKE @p ORDER BY id" % SQ, [prm("p", "STRING", "%a%")]) == [3]
    assert ids("SELECT id FROM %s WHERE id IN UNNEST(@a) ORDER BY id" % SQ, [prm("a", "INT64", ["2", "4", "9"])]) == [2, 4]
    assert ids("SELECT id FROM %s WHERE NOT (id IN UNNEST(@a)) ORDER BY id" % SQ, [prm("a", "INT64", ["1", "2", "3"])]) == [4, 5, 6]
    assert ids("SELECT id FROM %s WHERE id IN UNNEST(@a)" % SQ, [prm("a", "INT64", [])]) == []
    assert ids("SELECT id FROM %s WHERE name IN UNNEST(@a) ORDER BY id" % SQ, [prm("a", "STRING", ["apple", "cherry"])]) == [1, 3]
    assert ids("SELECT id FROM %s WHERE x IN UNNEST(@a) ORDER BY id" % SQ, [prm("a", "FLOAT64", ["1.5", "Infinity"])]) == [1, 5]
    assert ids("SELECT id FROM %s WHERE n IN UNNEST(@a) ORDER BY id" % SQ, [prm("a", "NUMERIC", ["0.10", "100"])]) == [1, 6]
    assert ids("SELECT id FROM %s WHERE d IN UNNEST(@a) ORDER BY id" % SQ, [prm("a", "DATE", ["2024-01-01"])]) == [1, 6]
    assert ids("SELECT id FROM %s WHERE id IN (1, @b, 3) ORDER BY id" % SQ, [prm("b", "INT64", "5")]) == [1, 3, 5]


def test_sql_functions():
    """LOWER/UPPER/TRIM/LTRIM/RTRIM/LENGTH/ABS/COALESCE/IF/IS_NAN/SUBSTR/ROUND/CASE/RAND"""
    assert one("SELECT UPPER(@s)", [prm("s", "STRING", "\u00e9a")]) == "\u00c9A"
    assert one("SELECT LOWER('ABC')") == "abc"
    assert one("SELECT TRIM(@s, @c)", [prm("s", "STRING", "xxhixy"), prm("c", "STRING", "xy")]) == "hi"
    assert one("SELECT LTRIM('xxhix', 'x')") == "hix" and one("SELECT RTRIM('xxhix', 'x')") == "xxhi"
    assert one("SELECT LENGTH(@s)", [prm("s", "STRING", "\u00e9\U0001F600")]) == "2"
    assert one("SELECT ABS(-3)") == "3" and one("SELECT ABS(@x)", [prm("x", "FLOAT64", "-2.5")]) == "2.5"
    assert one("SELECT COALESCE(NULL, @a, 3)", [prm("a", "INT64", None)]) == "3"
    assert one("SELECT IF(@c, 'y', 'n')", [prm("c", "BOOL", "true")]) == "y"
    assert ids("SELECT id FROM %s WHERE IS_NAN(x)" % SQ) == [2]
    assert one("SELECT SUBSTR('abcdef', 2, 3)") == "bcd" and one("SELECT SUBSTR('abcdef', -2)") == "ef"
    assert one("SELECT ROUND(2.5)") == "3.0" and one("SELECT ROUND(-2.5)") == "-3.0"
    assert one("SELECT ROUND(@x, 2)", [prm("x", "FLOAT64", "1.005")]) in ("1.0", "1.01")
    assert one("SELECT ROUND(@n, 1)", [prm("n", "NUMERIC", "2.25")]) == "2.3"
    assert one("SELECT CASE WHEN 1 > 2 THEN 'a' WHEN 2 > 1 THEN 'b' ELSE 'c' END") == "b"
    r = float(one("SELECT RAND()"))
    assert 0 <= r < 1


def test_sql_casts():
    """CAST to every target type, with BigQuery's string forms"""
    cases = [("CAST('42' AS INT64)", "42"), ("CAST(2.5 AS INT64)", "3"), ("CAST(-2.5 AS INT64)", "-3"),
             ("CAST('1.25' AS NUMERIC)", "1.25"), ("CAST('1.5' AS BIGNUMERIC)", "1.5"),
             ("CAST('1e3' AS FLOAT64)", "1000.0"), ("CAST('true' AS BOOL)", "true"),
             ("CAST(1.5 AS STRING)", "1.5"), ("CAST(TRUE AS STRING)", "true"),
             ("CAST('ab' AS BYTES)", "YWI="), ("CAST('2024-03-15' AS DATE)", "2024-03-15"),
             ("CAST('2024-03-15 12:34:56' AS DATETIME)", "2024-03-15T12:34:56"),
             ("CAST('12:34:56' AS TIME)", "12:34:56"),
             ("CAST('2024-01-01 00:00:00+01' AS TIMESTAMP)", "1704063600000000"),
             ("CAST(CAST('2024-01-01 10:00:00' AS TIMESTAMP) AS STRING)", "2024-01-01 10:00:00+00"),
             ("CAST(CAST('2024-01-01' AS DATE) AS TIMESTAMP)", "1704067200000000")]
    for expr, want in cases:
        got = one("SELECT " + expr, formatOptions={"useInt64Timestamp": True})
        assert got == want, (expr, got, want)
    assert "Bad int64 value" in qerr("SELECT CAST('x' AS INT64)")


def test_sql_aggregates():
    """COUNT/COUNT(DISTINCT)/SUM/AVG/MIN/MAX/COUNTIF/LOGICAL_AND/OR with BigQuery types and NaN rules"""
    r = query("SELECT COUNT(*), COUNT(name), COUNT(DISTINCT d), SUM(id), AVG(id), MIN(name), MAX(d), "
              "COUNTIF(flag), LOGICAL_AND(flag), LOGICAL_OR(flag), SUM(n), AVG(n), MIN(n), MAX(n) FROM %s" % SQ)
    assert vals(r) == [["6", "5", "4", "21", "3.5", "Banana", "2024-03-01", "3", "false", "true",
                        "95.6", "19.12", "-5", "100"]], vals(r)
    assert types(r) == [("f0_", "INTEGER"), ("f1_", "INTEGER"), ("f2_", "INTEGER"), ("f3_", "INTEGER"),
                        ("f4_", "FLOAT"), ("f5_", "STRING"), ("f6_", "DATE"), ("f7_", "INTEGER"),
                        ("f8_", "BOOLEAN"), ("f9_", "BOOLEAN"), ("f10_", "NUMERIC"), ("f11_", "NUMERIC"),
                        ("f12_", "NUMERIC"), ("f13_", "NUMERIC")], types(r)
    r = query("SELECT MAX(x), MIN(x), SUM(x) FROM %s" % SQ)
    assert vals(r) == [["NaN", "NaN", "NaN"]], vals(r)
    r = query("SELECT MAX(x), MIN(x), SUM(x), AVG(x) FROM %s WHERE NOT IS_NAN(x)" % SQ)
    assert vals(r) == [["Infinity", "-2.0", "Infinity", "Infinity"]], vals(r)
    r = query("SELECT COUNT(*), SUM(id), MAX(name), COUNTIF(flag) FROM %s WHERE id > 100" % SQ)
    assert vals(r) == [["0", None, None, "0"]]
    r = query("SELECT flag, COUNT(*) AS c FROM %s GROUP BY flag HAVING COUNT(*) > 1 ORDER BY c DESC, flag" % SQ)
    assert vals(r) == [["true", "3"], ["false", "2"]], vals(r)
    r = query("SELECT d, COUNT(*) AS c FROM %s GROUP BY 1 ORDER BY 1 DESC NULLS LAST" % SQ)
    assert col(r) == ["2024-03-01", "2024-02-01", "2024-01-01", "2023-12-31", None]
    r = query("SELECT SUM(@a) + 0.5 AS s, SUM(@a) + 1 AS t FROM %s" % SQ, [prm("a", "NUMERIC", "0.1")])
    assert vals(r) == [["1.1", "1.6"]] and types(r) == [("s", "FLOAT"), ("t", "NUMERIC")], (vals(r), types(r))


def test_sql_numeric_exact():
    """NUMERIC/BIGNUMERIC arithmetic and comparisons are exact decimals"""
    assert one("SELECT @a + @b", [prm("a", "NUMERIC", "0.1"), prm("b", "NUMERIC", "0.2")]) == "0.3"
    assert one("SELECT @a = @b", [prm("a", "NUMERIC", "0.30"), prm("b", "NUMERIC", "0.3")]) == "true"
    big = "99999999999999999999999999999.999999999"
    assert one("SELECT @a", [prm("a", "NUMERIC", big)]) == big
    assert one("SELECT @a - @b", [prm("a", "BIGNUMERIC", "1e-38"), prm("b", "BIGNUMERIC", "1")]) \
        == "-0.99999999999999999999999999999999999999"
    assert one("SELECT @a / 3", [prm("a", "NUMERIC", "1")]) == "0.333333333"


def test_sql_result_types():
    """result schema types: columns keep their type, CAST -> target, params -> their type, BOOL"""
    r = query("SELECT id, x, n, name, d, ts, tags, CAST(id AS STRING) AS c, @t AS pt, @arr AS pa, "
              "id > 1 AS cmp, id + 1 AS ia, x + 1 AS fa, n * 2 AS na, 1.5 AS fl, 'z' AS st "
              "FROM %s WHERE id = 1" % SQ,
              [prm("t", "DATETIME", "2024-03-15 12:34:56.123456"), prm("arr", "INT64", ["1", "2"])])
    assert [(f["name"], f["type"], f["mode"]) for f in r["schema"]["fields"]] == [
        ("id", "INTEGER", "NULLABLE"), ("x", "FLOAT", "NULLABLE"), ("n", "NUMERIC", "NULLABLE"),
        ("name", "STRING", "NULLABLE"), ("d", "DATE", "NULLABLE"), ("ts", "TIMESTAMP", "NULLABLE"),
        ("tags", "STRING", "REPEATED"), ("c", "STRING", "NULLABLE"), ("pt", "DATETIME", "NULLABLE"),
        ("pa", "INTEGER", "REPEATED"), ("cmp", "BOOLEAN", "NULLABLE"), ("ia", "INTEGER", "NULLABLE"),
        ("fa", "FLOAT", "NULLABLE"), ("na", "NUMERIC", "NULLABLE"), ("fl", "FLOAT", "NULLABLE"),
        ("st", "STRING", "NULLABLE")], r["schema"]
    v = vals(r)[0]
    assert v[6] == [{"v": "a"}] and v[8] == "2024-03-15T12:34:56.123456" and v[9] == [{"v": "1"}, {"v": "2"}], v
    assert v[10:] == ["false", "2", "2.5", "0.2", "1.5", "z"], v


def test_sql_joins_subqueries():
    """INNER/LEFT/RIGHT/FULL joins with parenthesised operands, and subqueries in FROM"""
    mk_table("sq2", [{"name": "id", "type": "INT64"}, {"name": "v", "type": "STRING"}])
    insert("sq2", [{"id": 1, "v": "one"}, {"id": 4, "v": "four"}, {"id": 9, "v": "nine"}])
    T2 = "`%s.%s.sq2`" % (P, DS)
    r = query("SELECT r1.`id`, r2.`v` FROM %s AS r1 INNER JOIN %s AS r2 ON ((r1.`id` = r2.`id`)) ORDER BY r1.`id`"
              % (SQ, T2))
    assert vals(r) == [["1", "one"], ["4", "four"]]
    r = query("SELECT r1.id, r2.v FROM %s AS r1 LEFT OUTER JOIN %s AS r2 ON (r1.id = r2.id) ORDER BY r1.id" % (SQ, T2))
    assert col(r, 1) == ["one", None, None, "four", None, None]
    r = query("SELECT r1.id, r2.id FROM %s AS r1 RIGHT OUTER JOIN %s AS r2 ON (r1.id = r2.id) ORDER BY r2.id" % (SQ, T2))
    assert vals(r) == [["1", "1"], ["4", "4"], [None, "9"]]
    r = query("SELECT r1.id, r2.id FROM %s AS r1 FULL OUTER JOIN %s AS r2 ON (r1.id = r2.id) "
              "ORDER BY r1.id NULLS LAST" % (SQ, T2))
    assert len(vals(r)) == 7 and vals(r)[-1] == [None, "9"]
    r = query("SELECT r1.id, r3.v FROM (%s AS r1 INNER JOIN %s AS r2 ON (r1.id = r2.id)) "
              "LEFT OUTER JOIN %s AS r3 ON (r2.id = r3.id) ORDER BY 1" % (SQ, T2, T2))
    assert vals(r) == [["1", "one"], ["4", "four"]]
    r = query("SELECT r1.`brand`, r1.`n` FROM (SELECT name AS brand, COUNT(*) AS n FROM %s GROUP BY name) AS r1 "
              "WHERE r1.`n` >= @p1 ORDER BY r1.`brand` NULLS FIRST LIMIT @p2" % SQ,
              [prm("p1", "INT64", "1"), prm("p2", "INT64", "2")])
    assert vals(r) == [[None, "1"], ["Banana", "1"]] and types(r) == [("brand", "STRING"), ("n", "INTEGER")]
    r = query("SELECT name, COUNT(*) AS n FROM %s.sq GROUP BY name ORDER BY n DESC, name LIMIT 1" % DS)
    assert vals(r) == [[None, "1"]]
    r = query("SELECT COUNT(*) FROM sq", defaultDataset={"projectId": P, "datasetId": DS})
    assert col(r) == ["6"]


def test_positional_params():
    """parameterMode POSITIONAL with ? markers; values as JSON numbers"""
    body = {"query": "SELECT ? + ?, ?", "useLegacySql": False, "parameterMode": "positional",
            "queryParameters": [{"parameterType": {"type": "INT64"}, "parameterValue": {"value": 2}},
                                {"parameterType": {"type": "INT64"}, "parameterValue": {"value": "3"}},
                                {"parameterType": {"type": "BOOL"}, "parameterValue": {"value": True}}]}
    assert vals(ok("POST", "/queries", body)) == [["5", "true"]]


# ---- load jobs -------------------------------------------------------------------------------

CSV_SCHEMA = {"fields": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "STRING"},
                         {"name": "price", "type": "FLOAT"}]}


def load_rows(table):
    return [r for r in rows_of(table)[0]]


def test_load_csv_basic():
    """load CSV with skipLeadingRows + explicit schema; WRITE_APPEND default, TRUNCATE, EMPTY"""
    upload("a.csv", b"id,name,price\n1,apple,1.5\n2,\"b, c\",2\n3,,\n")
    j = load("ld", "gs://%s/a.csv" % BUCKET, schema=CSV_SCHEMA, skipLeadingRows=1,
             decimalTargetTypes=None, projectionFields=[], nullMarkers=[])
    assert "errorResult" not in j["status"], j["status"]
    assert j["statistics"]["load"]["outputRows"] == "3" and j["configuration"]["jobType"] == "LOAD"
    assert load_rows("ld") == [["1", "apple", "1.5"], ["2", "b, c", "2.0"], ["3", None, None]]
    load("ld", "gs://%s/a.csv" % BUCKET, skipLeadingRows=1)  # append, uses the table schema
    assert len(load_rows("ld")) == 6
    load("ld", "gs://%s/a.csv" % BUCKET, skipLeadingRows=1, writeDisposition="WRITE_TRUNCATE")
    assert len(load_rows("ld")) == 3
    j = load("ld", "gs://%s/a.csv" % BUCKET, skipLeadingRows=1, writeDisposition="WRITE_EMPTY")
    assert j["status"]["errorResult"]["reason"] == "duplicate", j["status"]
    assert len(load_rows("ld")) == 3
    j = load("nope", "gs://%s/a.csv" % BUCKET, skipLeadingRows=1, createDisposition="CREATE_NEVER", schema=CSV_SCHEMA)
    assert j["status"]["errorResult"]["reason"] == "notFound"
    j = load("ld2", "gs://%s/missing.csv" % BUCKET, schema=CSV_SCHEMA)
    assert j["status"]["errorResult"]["reason"] == "notFound" and "missing.csv" in j["status"]["errorResult"]["message"]
    ctl = [x for x in jobs_ctl() if x["kind"] == "load"]
    assert ctl and ctl[-1]["errorResult"]["reason"] == "notFound"


def test_load_csv_options():
    """fieldDelimiter tab, quote, allowQuotedNewlines, allowJaggedRows, nullMarker, encoding, wildcard"""
    upload("t.tsv", b"1\tx y\t1.0\n2\t'q\tq'\t2.0\n")
    j = load("tsv", "gs://%s/t.tsv" % BUCKET, schema=CSV_SCHEMA, fieldDelimiter="\\t", quote="'")
    assert "errorResult" not in j["status"], j
    assert load_rows("tsv") == [["1", "x y", "1.0"], ["2", "q\tq", "2.0"]]
    upload("nl.csv", b'1,"multi\nline",1\n2,plain,2\n')
    j = load("nl", "gs://%s/nl.csv" % BUCKET, schema=CSV_SCHEMA)
    assert j["status"]["errorResult"]["reason"] == "invalid" and "line 1" in json.dumps(j["status"]), j["status"]
    j = load("nl", "gs://%s/nl.csv" % BUCKET, schema=CSV_SCHEMA, allowQuotedNewlines=True)
    assert "errorResult" not in j["status"] and load_rows("nl")[0] == ["1", "multi\nline", "1.0"]
    upload("jag.csv", b"1,a\n2,b,3\n")
    j = load("jag", "gs://%s/jag.csv" % BUCKET, schema=CSV_SCHEMA)
    assert j["status"]["errorResult"]["reason"] == "invalid"
    j = load("jag", "gs://%s/jag.csv" % BUCKET, schema=CSV_SCHEMA, allowJaggedRows=True)
    assert load_rows("jag") == [["1", "a", None], ["2", "b", "3.0"]]
    upload("extra.csv", b"1,a,1,EXTRA\n")
    j = load("extra", "gs://%s/extra.csv" % BUCKET, schema=CSV_SCHEMA)
    assert j["status"]["errorResult"]["reason"] == "invalid"
    j = load("extra", "gs://%s/extra.csv" % BUCKET, schema=CSV_SCHEMA, ignoreUnknownValues=True)
    assert load_rows("extra") == [["1", "a", "1.0"]]
    upload("null.csv", b"1,\\N,\\N\n2,,3\n")
    j = load("nullm", "gs://%s/null.csv" % BUCKET, schema=CSV_SCHEMA, nullMarker="\\N")
    assert "errorResult" not in j["status"], j
    assert load_rows("nullm") == [["1", None, None], ["2", "", "3.0"]]
    upload("latin.csv", "1,caf\u00e9,1\n".encode("latin-1"))
    j = load("latin", "gs://%s/latin.csv" % BUCKET, schema=CSV_SCHEMA, encoding="ISO-8859-1")
    assert load_rows("latin") == [["1", "caf\u00e9", "1.0"]]
    upload("part/x-1.csv", b"1,a,1\n")
    upload("part/x-2.csv", b"2,b,2\n")
    upload("part/y-3.csv", b"3,c,3\n")
    j = load("wild", "gs://%s/part/x-*.csv" % BUCKET, schema=CSV_SCHEMA)
    assert j["statistics"]["load"]["inputFiles"] == "2" and sorted(load_rows("wild")) == [["1", "a", "1.0"], ["2", "b", "2.0"]]


def test_load_bad_records():
    """bad rows: the job fails (reason invalid, line in the message) unless within maxBadRecords"""
    upload("bad.csv", b"1,a,1\nx,b,2\n3,c,zz\n4,d,4\n")
    j = load("bad", "gs://%s/bad.csv" % BUCKET, schema=CSV_SCHEMA)
    er = j["status"]["errorResult"]
    assert er["reason"] == "invalid" and "too many errors" in er["message"], er
    assert any("line 2" in e["message"] for e in j["status"]["errors"]), j["status"]["errors"]
    st, _ = call("GET", "/datasets/%s/tables/bad" % DS)
    assert st == 404
    j = load("bad", "gs://%s/bad.csv" % BUCKET, schema=CSV_SCHEMA, maxBadRecords=1)
    assert j["status"]["errorResult"]["reason"] == "invalid"
    j = load("bad", "gs://%s/bad.csv" % BUCKET, schema=CSV_SCHEMA, maxBadRecords=2)
    assert "errorResult" not in j["status"] and j["statistics"]["load"]["badRecords"] == "2"
    assert load_rows("bad") == [["1", "a", "1.0"], ["4", "d", "4.0"]]


def test_load_autodetect():
    """autodetect: header detection, INT64/FLOAT64/BOOL/DATE/TIMESTAMP/STRING, True/False as BOOL"""
    upload("auto.csv", b"id,price,ok,day,at,label\n1,1.5,True,2024-01-01,2024-01-01 10:00:00,x\n"
                       b"2,2,False,2024-01-02,2024-01-02 11:00:00 UTC,y\n")
    j = load("auto", "gs://%s/auto.csv" % BUCKET, autodetect=True)
    assert "errorResult" not in j["status"], j
    t = ok("GET", "/datasets/%s/tables/auto" % DS)
    assert [(f["name"], f["type"]) for f in t["schema"]["fields"]] == [
        ("id", "INTEGER"), ("price", "FLOAT"), ("ok", "BOOLEAN"), ("day", "DATE"), ("at", "TIMESTAMP"),
        ("label", "STRING")], t["schema"]
    assert load_rows("auto")[1] == ["2", "2.0", "false", "2024-01-02", "1.7041932E9", "y"]
    upload("noh.csv", b"1,x\n2,y\n")
    load("noh", "gs://%s/noh.csv" % BUCKET, autodetect=True, skipLeadingRows=0)
    t = ok("GET", "/datasets/%s/tables/noh" % DS)
    assert [(f["name"], f["type"]) for f in t["schema"]["fields"]] == [("int64_field_0", "INTEGER"),
                                                                       ("string_field_1", "STRING")]
    assert len(load_rows("noh")) == 2
    upload("skip2.csv", b"junk line\nid,v\n1,2\n")
    load("skip2", "gs://%s/skip2.csv" % BUCKET, autodetect=True, skipLeadingRows=2, allowJaggedRows=True)
    t = ok("GET", "/datasets/%s/tables/skip2" % DS)
    assert [f["name"] for f in t["schema"]["fields"]] == ["id", "v"] and load_rows("skip2") == [["1", "2"]]


def test_load_ndjson():
    """NEWLINE_DELIMITED_JSON with an explicit schema (REPEATED/RECORD) and with autodetect"""
    upload("a.json", b'{"id": 1, "tags": ["a", "b"], "r": {"k": "x"}}\n\n{"id": "2", "tags": [], "r": null}\n')
    j = load("nd", "gs://%s/a.json" % BUCKET, sourceFormat="NEWLINE_DELIMITED_JSON", schema={"fields": [
        {"name": "id", "type": "INT64"}, {"name": "tags", "type": "STRING", "mode": "REPEATED"},
        {"name": "r", "type": "RECORD", "fields": [{"name": "k", "type": "STRING"}]}]})
    assert "errorResult" not in j["status"], j
    assert load_rows("nd") == [["1", [{"v": "a"}, {"v": "b"}], {"f": [{"v": "x"}]}], ["2", [], None]]
    j = load("nda", "gs://%s/a.json" % BUCKET, sourceFormat="NEWLINE_DELIMITED_JSON", autodetect=True)
    t = ok("GET", "/datasets/%s/tables/nda" % DS)
    assert [(f["name"], f["type"], f["mode"]) for f in t["schema"]["fields"]] == [
        ("id", "INTEGER", "NULLABLE"), ("tags", "STRING", "REPEATED"), ("r", "RECORD", "NULLABLE")], t
    upload("bad.json", b'{"id": 1}\n{"id": "x"}\n')
    j = load("ndb", "gs://%s/bad.json" % BUCKET, sourceFormat="NEWLINE_DELIMITED_JSON",
             schema={"fields": [{"name": "id", "type": "INT64"}]})
    assert j["status"]["errorResult"]["reason"] == "invalid"


def test_load_large():
    """a 200k-row, 36-column CSV loads quickly (the Vestiaire-sized path, scaled down)"""
    cols = 36
    line = ",".join(["12345", "some text value", "3.25"] * (cols // 3)) + "\n"
    data = line.encode() * 200000
    upload("large.csv", data)
    fields = [{"name": "c%d" % i, "type": ["INT64", "STRING", "FLOAT64"][i % 3]} for i in range(cols)]
    t0 = time.time()
    j = load("large", "gs://%s/large.csv" % BUCKET, schema={"fields": fields})
    took = time.time() - t0
    assert "errorResult" not in j["status"], j["status"]
    assert j["statistics"]["load"]["outputRows"] == "200000"
    assert took < 30, took
    assert one("SELECT COUNT(*) FROM `%s.%s.large`" % (P, DS)) == "200000"


# ---- analytics pipeline: loads, query jobs, DDL, scripts, GoogleSQL --------------------------

MiB = 1 << 20


def sbytes(s):
    """BigQuery's size of a STRING value: 2 + its UTF-8 length; NULL is 0."""
    return 0 if s is None else 2 + len(s.encode("utf-8"))


def fixed(v, n):
    return 0 if v is None else n


def billed_for(per_table):
    """On-demand bytes billed: at least 10 MB per table read, the total rounded up to a MB."""
    total = sum(max(b, 10 * MiB) for b in per_table if b > 0)
    return 0 if total == 0 else -(-max(total, 10 * MiB) // MiB) * MiB


def query_job(sql, job_id=None, **conf):
    """jobs.insert a query job and poll it to DONE; the job resource."""
    job_id = job_id or "q_%s" % uuid.uuid4().hex
    c = {"query": sql, "useLegacySql": False}
    c.update(conf)
    ok("POST", "/jobs", {"jobReference": {"projectId": P, "jobId": job_id}, "configuration": {"query": c}})
    return wait_job(job_id)


def job_error(job):
    return job["status"].get("errorResult")


def tref(t, ds=DS):
    return {"projectId": P, "datasetId": ds, "tableId": t}


def T_(t):
    return "`%s.%s.%s`" % (P, DS, t)


def ts_micros(text):
    """µs since the epoch of an ISO timestamp with an explicit offset (datetime, independently)."""
    import datetime as dt
    d = dt.datetime.fromisoformat(text)
    return (d - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def test_dataset_table_lifecycle():
    """datasets.insert (409 duplicate), get, delete ?deleteContents=true with tables and views; tables.delete 404"""
    ds = "life_%s" % uuid.uuid4().hex[:6]
    d = ok("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": ds}, "location": "US"})
    assert d["datasetReference"] == {"projectId": P, "datasetId": ds} and d["kind"] == "bigquery#dataset"
    e = err(409, "duplicate", "POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": ds}})
    assert e["message"] == "Already Exists: Dataset %s:%s" % (P, ds), e
    assert ok("GET", "/datasets/%s" % ds)["id"] == "%s:%s" % (P, ds)
    mk_table("t", [{"name": "a", "type": "INT64"}], ds=ds)
    query("CREATE VIEW `%s.%s.v` AS SELECT a FROM `%s.%s.t`" % (P, ds, P, ds))
    lst = ok("GET", "/datasets/%s/tables" % ds)
    assert [(x["tableReference"]["tableId"], x["type"]) for x in lst["tables"]] == [("t", "TABLE"), ("v", "VIEW")]
    e = err(400, "resourceInUse", "DELETE", "/datasets/%s" % ds)
    ok("DELETE", "/datasets/%s" % ds, query={"deleteContents": "true"})
    err(404, "notFound", "GET", "/datasets/%s" % ds)
    err(404, "notFound", "GET", "/datasets/%s/tables/t" % ds)
    e = err(404, "notFound", "DELETE", "/datasets/%s/tables/nope" % DS)
    assert e["message"] == "Not found: Table %s:%s.nope" % (P, DS), e


LOAD_SCHEMA = {"fields": [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"}, {"name": "name", "type": "STRING"},
    {"name": "price", "type": "FLOAT"}, {"name": "amount", "type": "NUMERIC"},
    {"name": "big", "type": "BIGNUMERIC"}, {"name": "ok", "type": "BOOLEAN"}, {"name": "day", "type": "DATE"},
    {"name": "at", "type": "TIMESTAMP"}, {"name": "dt", "type": "DATETIME"}]}
LOAD_ROWS = [  # (csv fields, expected values), one per good line
    (["1", "apple", "1.5", "10.25", "1.00000000000000000000000000000000000001", "true", "2024-01-02",
      "2024-01-02 03:04:05 UTC", "2024-01-02 03:04:05"],
     ["1", "apple", "1.5", "10.25", "1.00000000000000000000000000000000000001", "true", "2024-01-02",
      str(ts_micros("2024-01-02T03:04:05+00:00")), "2024-01-02T03:04:05"]),
    (["2", '"pear, green"', "-2.25", "0.1", "-5", "FALSE", "2024-02-29", "2024/03/01 00:00:00",
      "2024-03-01T12:00:00.5"],
     ["2", "pear, green", "-2.25", "0.1", "-5", "false", "2024-02-29",
      str(ts_micros("2024-03-01T00:00:00+00:00")), "2024-03-01T12:00:00.500000"]),
    (["3", "", "", "", "", "T", "", "", ""], ["3", None, None, None, None, "true", None, None, None]),
    (["4", "caf\u00e9", "1e3", "99999999999999999999999999999.999999999", "5.5", "yes", "2023-12-31",
      "2023-12-31T23:59:59.999999+01:00", "2023-12-31 23:59:59"],
     ["4", "caf\u00e9", "1000.0", "99999999999999999999999999999.999999999", "5.5", "true", "2023-12-31",
      str(ts_micros("2023-12-31T23:59:59.999999+01:00")), "2023-12-31T23:59:59"]),
    (["5", "n", "0", "0", "0", "n", "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00"],
     ["5", "n", "0.0", "0", "0", "false", "2024-01-01", str(ts_micros("2024-01-01T00:00:00+00:00")),
      "2024-01-01T00:00:00"]),
]


def test_load_explicit_schema():
    """load: explicit schema of every type, BigQuery's CSV value rules, a bad row within maxBadRecords, statistics"""
    lines = ["id,name,price,amount,big,ok,day,at,dt"] + [",".join(f) for f, _ in LOAD_ROWS[:3]] + \
        ["34.0,bad int,1,1,1,true,2024-01-01,2024-01-01 00:00:00,2024-01-01 00:00:00"] + \
        [",".join(f) for f, _ in LOAD_ROWS[3:]]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    upload("exp/types.csv", data)
    j = load("typed", "gs://%s/exp/types.csv" % BUCKET, schema=LOAD_SCHEMA, skipLeadingRows=1, maxBadRecords=1,
             sourceFormat="CSV", writeDisposition="WRITE_TRUNCATE", createDisposition="CREATE_IF_NEEDED")
    assert "errorResult" not in j["status"], j["status"]
    errs = j["status"]["errors"]  # the bad row is reported although the job succeeded
    assert len(errs) == 1 and errs[0]["reason"] == "invalid", errs
    assert errs[0]["location"] == "gs://%s/exp/types.csv" % BUCKET and "34.0" in errs[0]["message"], errs
    rows, _ = rows_of("typed", **{"formatOptions.useInt64Timestamp": "true"})
    assert rows == [want for _, want in LOAD_ROWS], rows
    st = j["statistics"]["load"]
    good = [want for _, want in LOAD_ROWS]
    size = sum(8 + sbytes(r[1]) + fixed(r[2], 8) + fixed(r[3], 16) + fixed(r[4], 32) + fixed(r[5], 1) +
               fixed(r[6], 8) + fixed(r[7], 8) + fixed(r[8], 8) for r in good)
    assert st == {"inputFiles": "1", "inputFileBytes": str(len(data)), "outputRows": "5",
                  "outputBytes": str(size), "badRecords": "1"}, (st, size)
    t = ok("GET", "/datasets/%s/tables/typed" % DS)
    assert [f["type"] for f in t["schema"]["fields"]] == ["INTEGER", "STRING", "FLOAT", "NUMERIC", "BIGNUMERIC",
                                                          "BOOLEAN", "DATE", "TIMESTAMP", "DATETIME"]
    assert t["numBytes"] == str(size) and t["numRows"] == "5"
    # INT64 takes integers only, BOOL the documented words only
    for bad in ("34.0", "1e3", "x"):
        upload("exp/bad.csv", ("%s,a\n" % bad).encode())
        j = load("typed_bad", "gs://%s/exp/bad.csv" % BUCKET, schema={"fields": LOAD_SCHEMA["fields"][:2]})
        assert job_error(j)["reason"] == "invalid", (bad, j["status"])
    for word, want in (("TRUE", "true"), ("f", "false"), ("Y", "true"), ("No", "false"), ("1", "true"), ("0", "false")):
        upload("exp/bool.csv", ("1,%s\n" % word).encode())
        load("bools", "gs://%s/exp/bool.csv" % BUCKET, schema={"fields": [LOAD_SCHEMA["fields"][0],
                                                                         LOAD_SCHEMA["fields"][5]]},
             writeDisposition="WRITE_TRUNCATE")
        assert rows_of("bools")[0] == [["1", want]], (word, rows_of("bools")[0])
    upload("exp/bool.csv", b"1,maybe\n")
    j = load("bools", "gs://%s/exp/bool.csv" % BUCKET, writeDisposition="WRITE_TRUNCATE")
    assert job_error(j)["reason"] == "invalid" and rows_of("bools")[0] == [["1", "false"]]


def test_load_csv_dialect_options():
    """load: several sourceUris with a wildcard, skipLeadingRows per file, tab, quote "", nullMarker, encodings"""
    sch = {"fields": [{"name": "id", "type": "INT64"}, {"name": "s", "type": "STRING"}]}
    upload("dia/a1.tsv", b"id\ts\n1\tone\n2\ttwo\n")
    upload("dia/a2.tsv", b"id\ts\n3\tthree\n")
    upload("dia/b.tsv", b"id\ts\n4\tfour\n")
    j = load("dia", ["gs://%s/dia/a*.tsv" % BUCKET, "gs://%s/dia/b.tsv" % BUCKET], schema=sch,
             fieldDelimiter="\t", skipLeadingRows=1)
    assert "errorResult" not in j["status"], j["status"]
    assert j["statistics"]["load"]["inputFiles"] == "3" and j["statistics"]["load"]["outputRows"] == "4"
    assert sorted(rows_of("dia")[0]) == [["1", "one"], ["2", "two"], ["3", "three"], ["4", "four"]]
    j = load("dia", "gs://%s/dia/b.tsv" % BUCKET, schema=sch, fieldDelimiter="tab", skipLeadingRows=1,
             writeDisposition="WRITE_TRUNCATE")
    assert rows_of("dia")[0] == [["4", "four"]], j["status"]
    upload("dia/q.csv", b'1,"quoted, not"\n')
    j = load("noquote", "gs://%s/dia/q.csv" % BUCKET, schema=sch, quote="", allowJaggedRows=False,
             ignoreUnknownValues=True)
    assert rows_of("noquote")[0] == [["1", '"quoted']], rows_of("noquote")  # quotes are data, the comma splits
    upload("dia/nulls.csv", b"1,NA\n2,\nNA,x\n")
    j = load("nulls", "gs://%s/dia/nulls.csv" % BUCKET, schema=sch, nullMarker="NA")
    assert "errorResult" not in j["status"], j["status"]
    assert rows_of("nulls")[0] == [["1", None], ["2", ""], [None, "x"]]
    upload("dia/nullint.csv", b"1,a\n,b\n")
    j = load("nullint", "gs://%s/dia/nullint.csv" % BUCKET, schema=sch, nullMarker="NA")
    assert job_error(j)["reason"] == "invalid", j["status"]  # "" is not NULL for INT64 with a custom marker
    upload("dia/latin.csv", b"1,caf\xe9\n")
    load("latin1", "gs://%s/dia/latin.csv" % BUCKET, schema=sch, encoding="ISO-8859-1")
    assert rows_of("latin1")[0] == [["1", "caf\u00e9"]]
    load("badutf8", "gs://%s/dia/latin.csv" % BUCKET, schema=sch, encoding="UTF-8")
    assert rows_of("badutf8")[0] == [["1", "caf\ufffd"]]  # documented: the replacement character
    upload("dia/nl.csv", b'1,"a\nb"\n2,c\n')
    j = load("qnl", "gs://%s/dia/nl.csv" % BUCKET, schema=sch, allowQuotedNewlines=True)
    assert rows_of("qnl")[0] == [["1", "a\nb"], ["2", "c"]]
    upload("dia/jag.csv", b"1\n2,b,extra\n")
    j = load("jag2", "gs://%s/dia/jag.csv" % BUCKET, schema=sch, allowJaggedRows=True, ignoreUnknownValues=True)
    assert rows_of("jag2")[0] == [["1", None], ["2", "b"]], j["status"]


def test_load_bad_record_budget_and_atomicity():
    """maxBadRecords: N bad rows pass with N, fail with N-1 (reason invalid); a failed load changes nothing"""
    sch = {"fields": [{"name": "id", "type": "INT64"}, {"name": "s", "type": "STRING"}]}
    upload("budget/ok.csv", b"1,a\n2,b\n")
    load("budget", "gs://%s/budget/ok.csv" % BUCKET, schema=sch)
    upload("budget/bad.csv", b"10,x\nx,y\n11,z\n2.5,w\nq,v\n12,u\n")
    j = load("budget", "gs://%s/budget/bad.csv" % BUCKET, schema=sch, maxBadRecords=2,
             writeDisposition="WRITE_TRUNCATE")
    er = job_error(j)
    assert er["reason"] == "invalid" and "too many errors" in er["message"] and "errors: 3" in er["message"], er
    assert j["status"]["errors"][0] == er and len(j["status"]["errors"]) == 4, j["status"]
    assert rows_of("budget")[0] == [["1", "a"], ["2", "b"]]  # WRITE_TRUNCATE did not happen
    j = load("budget", "gs://%s/budget/bad.csv" % BUCKET, schema=sch, maxBadRecords=3,
             writeDisposition="WRITE_APPEND")
    assert "errorResult" not in j["status"] and j["statistics"]["load"]["badRecords"] == "3", j["status"]
    assert len(j["status"]["errors"]) == 3
    assert rows_of("budget")[0] == [["1", "a"], ["2", "b"], ["10", "x"], ["11", "z"], ["12", "u"]]
    j = load("budget", "gs://%s/budget/ok.csv" % BUCKET, schema=sch, writeDisposition="WRITE_EMPTY")
    assert job_error(j)["reason"] == "duplicate"
    j = load("budget_new", "gs://%s/budget/ok.csv" % BUCKET, schema=sch, createDisposition="CREATE_NEVER")
    assert job_error(j)["reason"] == "notFound"
    err(404, "notFound", "GET", "/datasets/%s/tables/budget_new" % DS)


def setup_src():
    mk_table("src", [{"name": "a", "type": "INT64"}, {"name": "s", "type": "STRING"}])
    insert("src", [{"a": 1, "s": "x"}, {"a": 2, "s": "yy"}, {"a": 3}])


def test_query_destination_table():
    """query jobs: destinationTable with WRITE_TRUNCATE/APPEND/EMPTY, CREATE_NEVER, atomic failures, statistics"""
    setup_src()
    src_a, src_s = 3 * 8, sbytes("x") + sbytes("yy")
    j = query_job("SELECT a, s FROM %s WHERE a >= 2" % T_("src"), destinationTable=tref("dst"),
                  writeDisposition="WRITE_TRUNCATE", priority="BATCH", labels={"team": "luxe"},
                  allowLargeResults=True)
    assert job_error(j) is None, j["status"]
    q = j["statistics"]["query"]
    assert q["totalBytesProcessed"] == str(src_a + src_s) == j["statistics"]["totalBytesProcessed"], q
    assert q["totalBytesBilled"] == str(10 * MiB) and q["statementType"] == "SELECT", q
    assert q["referencedTables"] == [tref("src")], q
    assert rows_of("dst")[0] == [["2", "yy"], ["3", None]]
    g = ok("GET", "/queries/%s" % j["jobReference"]["jobId"])
    assert vals(g) == [["2", "yy"], ["3", None]] and g["totalBytesProcessed"] == str(src_a + src_s)
    j = query_job("SELECT a, s FROM %s WHERE a = 1" % T_("src"), destinationTable=tref("dst"),
                  writeDisposition="WRITE_APPEND")
    assert rows_of("dst")[0] == [["2", "yy"], ["3", None], ["1", "x"]], j["status"]
    j = query_job("SELECT a, s FROM %s" % T_("src"), destinationTable=tref("dst"))  # WRITE_EMPTY by default
    assert job_error(j)["reason"] == "duplicate" and len(rows_of("dst")[0]) == 3
    j = query_job("SELECT a, s FROM %s" % T_("src"), destinationTable=tref("dst_never"),
                  createDisposition="CREATE_NEVER")
    assert job_error(j)["reason"] == "notFound"
    err(404, "notFound", "GET", "/datasets/%s/tables/dst_never" % DS)
    j = query_job("SELECT a, CAST(DIV(a, a - 2) AS STRING) AS s FROM %s" % T_("src"), destinationTable=tref("dst"),
                  writeDisposition="WRITE_TRUNCATE")
    assert job_error(j)["reason"] == "invalidQuery" and "division by zero" in job_error(j)["message"]
    assert len(rows_of("dst")[0]) == 3  # the failed job left the destination as it was
    j = query_job("SELECT s, a FROM %s" % T_("src"), destinationTable=tref("dst"), writeDisposition="WRITE_APPEND")
    assert job_error(j)["reason"] == "invalid" and len(rows_of("dst")[0]) == 3, j["status"]
    j = query_job("SELECT a * 10 AS b FROM %s ORDER BY b" % T_("src"), destinationTable=tref("dst"),
                  writeDisposition="WRITE_TRUNCATE")
    t = ok("GET", "/datasets/%s/tables/dst" % DS)
    assert [f["name"] for f in t["schema"]["fields"]] == ["b"] and rows_of("dst")[0] == [["10"], ["20"], ["30"]]
    j = query_job("DELETE FROM %s WHERE a = 0" % T_("src"), destinationTable=tref("dst"))
    assert job_error(j)["reason"] == "invalid"


def test_maximum_bytes_billed():
    """maximumBytesBilled: bytesBilledLimitExceeded with BigQuery's wording, nothing written; billing rounds up"""
    st, j = call("POST", "/queries", {"query": "SELECT a FROM %s" % T_("src"), "useLegacySql": False,
                                      "maximumBytesBilled": "1000"})
    assert st == 400, (st, j)
    e = j["error"]
    assert e["errors"][0]["reason"] == "bytesBilledLimitExceeded", e
    assert e["message"] == "Query exceeded limit for bytes billed: 1000. %d or higher required." % (10 * MiB), e
    r = query("SELECT a FROM %s" % T_("src"), maximumBytesBilled=str(10 * MiB))
    assert col(r) == ["1", "2", "3"]
    assert one("SELECT 1", maximumBytesBilled="1") == "1"  # reads nothing, bills nothing
    j = query_job("SELECT a FROM %s" % T_("src"), destinationTable=tref("capped"), maximumBytesBilled="10485759")
    assert job_error(j)["reason"] == "bytesBilledLimitExceeded", j["status"]
    err(404, "notFound", "GET", "/datasets/%s/tables/capped" % DS)
    # one table over 10 MB: its size rounded up to whole MB; a second small table adds 10 MB
    mk_table("wide", [{"name": "w", "type": "STRING"}])
    blob = "w" * 11000000
    insert("wide", [{"w": blob}])
    j = query_job("SELECT LENGTH(w) FROM %s" % T_("wide"))
    size = sbytes(blob)
    assert j["statistics"]["query"]["totalBytesProcessed"] == str(size)
    assert j["statistics"]["query"]["totalBytesBilled"] == str(billed_for([size])) == str(11 * MiB)
    j = query_job("SELECT COUNT(*) FROM %s CROSS JOIN %s WHERE a > 0 AND LENGTH(w) > 0" % (T_("wide"), T_("src")))
    want = billed_for([size, 3 * 8])
    assert j["statistics"]["query"]["totalBytesBilled"] == str(want) == str(21 * MiB), j["statistics"]
    e = qerr_status("SELECT w FROM %s" % T_("wide"), maximumBytesBilled=str(11 * MiB - 1))
    assert e["message"] == "Query exceeded limit for bytes billed: %d. %d or higher required." % (
        11 * MiB - 1, 11 * MiB), e
    ok("DELETE", "/datasets/%s/tables/wide" % DS)


def qerr_status(sql, **kw):
    body = {"query": sql, "useLegacySql": False}
    body.update(kw)
    st, j = call("POST", "/queries", body)
    assert st == 400, (st, j)
    return j["error"]


SIZES = [
    {"i": 1, "f": 1.5, "b": True, "s": "h\u00e9", "n": "1.5", "bn": "2", "d": "2024-01-01",
     "ts": "2024-01-01 00:00:00", "dt": "2024-01-01T00:00:00"},
    {"i": 2, "f": None, "b": False, "s": "", "n": None, "bn": "3", "d": None, "ts": None, "dt": None},
    {"i": None, "f": 2.0, "b": None, "s": None, "n": "2", "bn": None, "d": "2024-01-02",
     "ts": "2024-01-02 00:00:00", "dt": "2024-01-02T00:00:00"},
]


def col_bytes(name):
    n = {"i": 8, "f": 8, "b": 1, "n": 16, "bn": 32, "d": 8, "ts": 8, "dt": 8}
    if name == "s":
        return sum(sbytes(r["s"]) for r in SIZES)
    return sum(fixed(r[name], n[name]) for r in SIZES)


def processed(sql, **kw):
    r = query(sql, **kw)
    j = ok("GET", "/jobs/%s" % r["jobReference"]["jobId"])
    assert j["statistics"]["query"]["totalBytesProcessed"] == r["totalBytesProcessed"], (r, j["statistics"])
    return int(r["totalBytesProcessed"]), j["statistics"]["query"]


def test_bytes_processed_formula():
    """totalBytesProcessed: only the columns read, sized by BigQuery's table (INT64 8, BOOL 1, STRING 2+UTF-8...)"""
    mk_table("sizes", [{"name": k, "type": t} for k, t in (("i", "INT64"), ("f", "FLOAT64"), ("b", "BOOL"),
                                                           ("s", "STRING"), ("n", "NUMERIC"), ("bn", "BIGNUMERIC"),
                                                           ("d", "DATE"), ("ts", "TIMESTAMP"), ("dt", "DATETIME"))])
    insert("sizes", SIZES)
    S_ = T_("sizes")
    total = sum(col_bytes(c) for c in "i f b s n bn d ts dt".split())
    assert ok("GET", "/datasets/%s/tables/sizes" % DS)["numBytes"] == str(total)
    assert processed("SELECT i FROM %s" % S_)[0] == col_bytes("i") == 16
    assert processed("SELECT s, b FROM %s WHERE n IS NOT NULL" % S_)[0] == col_bytes("s") + col_bytes("b") + 32
    assert processed("SELECT * FROM %s" % S_)[0] == total
    b, q = processed("SELECT COUNT(*) FROM %s" % S_)
    assert b == 0 and q["totalBytesBilled"] == "0", q
    assert processed("WITH c AS (SELECT i, s, bn FROM %s) SELECT i FROM c" % S_)[0] == col_bytes("i")
    assert processed("SELECT x FROM (SELECT i AS x, dt FROM %s)" % S_)[0] == col_bytes("i")
    assert processed("SELECT DISTINCT x FROM (SELECT i AS x, bn FROM %s)" % S_)[0] == col_bytes("i")
    assert processed("SELECT bn, SUM(f) OVER (PARTITION BY d) FROM %s" % S_)[0] == \
        col_bytes("bn") + col_bytes("f") + col_bytes("d")
    query("CREATE OR REPLACE VIEW %s AS SELECT i, s, ts FROM %s" % (T_("sizes_v"), S_))
    b, q = processed("SELECT ts FROM %s" % T_("sizes_v"))
    assert b == col_bytes("ts") and q["referencedTables"] == [tref("sizes")], q
    d = query("SELECT s, dt FROM %s" % S_, dryRun=True)
    assert d["totalBytesProcessed"] == str(col_bytes("s") + col_bytes("dt"))
    # DML: referenced columns, plus the whole table for UPDATE and DELETE
    r = query("DELETE FROM %s WHERE i = -1" % S_)
    assert r["totalBytesProcessed"] == str(col_bytes("i") + total) and r["numDmlAffectedRows"] == "0", r
    r = query("UPDATE %s SET b = b WHERE d IS NULL" % S_)
    assert r["totalBytesProcessed"] == str(col_bytes("b") + col_bytes("d") + total), r
    r = query("INSERT INTO %s (i) SELECT i FROM %s WHERE FALSE" % (S_, S_))
    assert r["totalBytesProcessed"] == str(col_bytes("i")), r
    j = query_job("INSERT INTO %s (i) VALUES (9)" % S_)
    assert j["statistics"]["query"]["totalBytesProcessed"] == "0"
    assert j["statistics"]["query"]["numDmlAffectedRows"] == "1", j["statistics"]


def test_ddl_statements():
    """DDL: CREATE [OR REPLACE] TABLE [IF NOT EXISTS] (columns | AS SELECT), CREATE [OR REPLACE] VIEW, DROP"""
    r = query("CREATE TABLE %s (id INT64 NOT NULL, name STRING, price NUMERIC, tags ARRAY<STRING>)" % T_("ddl_t"))
    assert r["jobComplete"] and "rows" not in r
    t = ok("GET", "/datasets/%s/tables/ddl_t" % DS)
    assert [(f["name"], f["type"], f["mode"]) for f in t["schema"]["fields"]] == [
        ("id", "INTEGER", "REQUIRED"), ("name", "STRING", "NULLABLE"), ("price", "NUMERIC", "NULLABLE"),
        ("tags", "STRING", "REPEATED")], t["schema"]
    j = query_job("CREATE TABLE IF NOT EXISTS %s (x INT64)" % T_("ddl_t"))
    q = j["statistics"]["query"]
    assert q["statementType"] == "CREATE_TABLE" and q["ddlOperationPerformed"] == "SKIP", q
    assert q["ddlTargetTable"] == tref("ddl_t")
    st, e = call("POST", "/queries", {"query": "CREATE TABLE %s (x INT64)" % T_("ddl_t"), "useLegacySql": False})
    assert st == 409 and e["error"]["errors"][0]["reason"] == "duplicate", e
    query("INSERT INTO %s (id, name, price) VALUES (1, 'a', 1.5), (2, 'b', NULL)" % T_("ddl_t"))
    j = query_job("CREATE TABLE %s AS SELECT id, UPPER(name) AS up FROM %s" % (T_("ddl_ctas"), T_("ddl_t")))
    q = j["statistics"]["query"]
    assert q["statementType"] == "CREATE_TABLE_AS_SELECT" and q["ddlOperationPerformed"] == "CREATE", q
    assert q["totalBytesProcessed"] == str(16 + sbytes("a") + sbytes("b")), q
    assert rows_of("ddl_ctas")[0] == [["1", "A"], ["2", "B"]]
    j = query_job("CREATE OR REPLACE TABLE %s AS SELECT 7 AS seven" % T_("ddl_ctas"))
    assert j["statistics"]["query"]["ddlOperationPerformed"] == "REPLACE" and rows_of("ddl_ctas")[0] == [["7"]]
    assert "must be named" in qerr("CREATE TABLE %s AS SELECT 1" % T_("ddl_anon"))
    j = query_job("CREATE VIEW %s AS SELECT id, name FROM %s WHERE price IS NOT NULL" % (T_("ddl_v"), T_("ddl_t")))
    assert j["statistics"]["query"]["statementType"] == "CREATE_VIEW", j["statistics"]
    v = ok("GET", "/datasets/%s/tables/ddl_v" % DS)
    assert v["type"] == "VIEW" and v["view"]["useLegacySql"] is False, v
    assert v["view"]["query"] == "SELECT id, name FROM %s WHERE price IS NOT NULL" % T_("ddl_t"), v["view"]
    assert [(f["name"], f["type"]) for f in v["schema"]["fields"]] == [("id", "INTEGER"), ("name", "STRING")]
    assert vals(query("SELECT name FROM %s.ddl_v" % DS)) == [["a"]]
    err(400, "invalid", "GET", "/datasets/%s/tables/ddl_v/data" % DS)
    st, e = call("POST", "/queries", {"query": "CREATE VIEW %s AS SELECT 1 AS x" % T_("ddl_v"), "useLegacySql": False})
    assert st == 409, e
    query("CREATE OR REPLACE VIEW %s AS SELECT COUNT(*) AS n FROM %s" % (T_("ddl_v"), T_("ddl_t")))
    assert one("SELECT n FROM %s" % T_("ddl_v")) == "2"
    # a view through tables.insert (useLegacySql false, as the API defaults to legacy SQL)
    t = ok("POST", "/datasets/%s/tables" % DS, {"tableReference": {"tableId": "ddl_v2"},
                                                "view": {"query": "SELECT id FROM %s" % T_("ddl_t"),
                                                         "useLegacySql": False}})
    assert t["type"] == "VIEW" and one("SELECT SUM(id) FROM %s" % T_("ddl_v2")) == "3"
    j = query_job("DROP VIEW %s" % T_("ddl_v"))
    assert j["statistics"]["query"]["statementType"] == "DROP_VIEW", j["statistics"]
    assert j["statistics"]["query"]["ddlOperationPerformed"] == "DROP"
    err(404, "notFound", "GET", "/datasets/%s/tables/ddl_v" % DS)
    j = query_job("DROP VIEW IF EXISTS %s" % T_("ddl_v"))
    assert j["statistics"]["query"]["ddlOperationPerformed"] == "SKIP"
    st, e = call("POST", "/queries", {"query": "DROP TABLE %s" % T_("ddl_nope"), "useLegacySql": False})
    assert st == 404 and e["error"]["errors"][0]["reason"] == "notFound", e
    query("DROP TABLE IF EXISTS %s" % T_("ddl_nope"))
    query("DROP TABLE %s" % T_("ddl_ctas"))
    err(404, "notFound", "GET", "/datasets/%s/tables/ddl_ctas" % DS)


def setup_sales():
    mk_table("sales", [{"name": "brand", "type": "STRING"}, {"name": "kind", "type": "STRING"},
                       {"name": "price", "type": "FLOAT64"}, {"name": "qty", "type": "INT64"},
                       {"name": "amt", "type": "NUMERIC"}, {"name": "bamt", "type": "BIGNUMERIC"},
                       {"name": "sold", "type": "BOOL"}])
    insert("sales", SALES)


SALES = [
    {"brand": "chanel", "kind": "bag", "price": 100.0, "qty": 1, "amt": "10.5", "bamt": "1.5", "sold": True},
    {"brand": "chanel", "kind": "bag", "price": 300.0, "qty": 2, "amt": "20.25", "bamt": "2.25", "sold": False},
    {"brand": "chanel", "kind": "shoe", "price": 50.5, "qty": 3, "amt": "0.1", "bamt": "0.000000000000000000000000000000000001", "sold": True},
    {"brand": "chanel", "kind": "shoe", "price": None, "qty": None, "amt": None, "bamt": None, "sold": None},
    {"brand": "dior", "kind": "bag", "price": 80.0, "qty": 5, "amt": "3", "bamt": "3", "sold": True},
    {"brand": "dior", "kind": "coat", "price": 1000.25, "qty": 1, "amt": "99.99", "bamt": "99.99", "sold": True},
    {"brand": "dior", "kind": "coat", "price": 20.0, "qty": 7, "amt": "0.01", "bamt": "0.01", "sold": False},
    {"brand": "gucci", "kind": "belt", "price": 42.0, "qty": 2, "amt": "4.2", "bamt": "4.2", "sold": True},
]


def test_sql_cte_subqueries_grouping():
    """WITH, subqueries in FROM, GROUP BY position/alias, HAVING, scalar/IN/EXISTS subqueries, grouping rules"""
    setup_sales()
    SA = T_("sales")
    r = query("WITH b AS (SELECT brand, kind, price FROM %s WHERE price IS NOT NULL), "
              "c AS (SELECT brand AS br, COUNT(*) AS n FROM b GROUP BY br) "
              "SELECT br, n FROM c WHERE n > 1 ORDER BY 1" % SA)
    assert vals(r) == [["chanel", "3"], ["dior", "3"]], vals(r)
    r = query("SELECT x.brand, x.total FROM (SELECT brand, SUM(qty) AS total FROM %s GROUP BY 1) AS x "
              "ORDER BY x.total DESC" % SA)
    assert vals(r) == [["dior", "13"], ["chanel", "6"], ["gucci", "2"]]
    r = query("SELECT brand AS b, COUNT(*) AS n FROM %s GROUP BY b HAVING COUNT(*) >= 2 ORDER BY n DESC, b" % SA)
    assert vals(r) == [["chanel", "4"], ["dior", "3"]]
    r = query("SELECT brand, kind FROM %s WHERE price > (SELECT AVG(price) FROM %s) ORDER BY price" % (SA, SA))
    prices = [x["price"] for x in SALES if x["price"] is not None]
    avg = sum(prices) / len(prices)
    assert vals(r) == [[x["brand"], x["kind"]] for x in sorted(SALES, key=lambda x: x["price"] or 0)
                       if x["price"] is not None and x["price"] > avg], vals(r)
    r = query("SELECT DISTINCT brand FROM %s WHERE brand IN (SELECT brand FROM %s WHERE kind = 'coat') "
              "OR brand NOT IN (SELECT brand FROM %s WHERE sold) ORDER BY brand" % (SA, SA, SA))
    assert col(r) == ["dior"], col(r)
    r = query("SELECT brand FROM %s AS o WHERE EXISTS (SELECT 1 FROM %s AS i WHERE i.brand = o.brand "
              "AND i.kind = 'belt') " % (SA, SA))
    assert col(r) == ["gucci"]
    r = query("SELECT brand, (SELECT COUNT(*) FROM %s AS i WHERE i.brand = o.brand) AS n FROM %s AS o "
              "WHERE kind = 'bag' ORDER BY brand, n" % (SA, SA))
    assert vals(r) == [["chanel", "4"], ["chanel", "4"], ["dior", "3"]]
    assert "more than one element" in qerr("SELECT (SELECT brand FROM %s)" % SA)
    assert "neither grouped nor aggregated" in qerr("SELECT brand, kind, COUNT(*) FROM %s GROUP BY brand" % SA)
    assert "neither grouped nor aggregated" in qerr("SELECT brand FROM %s GROUP BY kind" % SA)
    assert "neither grouped nor aggregated" in qerr("SELECT COUNT(*) FROM %s ORDER BY price" % SA)
    assert "Aggregate function SUM not allowed in WHERE clause" in qerr("SELECT 1 FROM %s WHERE SUM(qty) > 1" % SA)
    r = query("SELECT UPPER(brand), COUNT(*) FROM %s GROUP BY UPPER(brand) ORDER BY 1" % SA)
    assert vals(r) == [["CHANEL", "4"], ["DIOR", "3"], ["GUCCI", "1"]]


def dec(s):
    return Decimal(s)


def fmt_dec(d, scale):
    """Canonical NUMERIC/BIGNUMERIC text: rounded half away from zero to `scale` digits."""
    from decimal import ROUND_HALF_UP, localcontext
    with localcontext() as ctx:
        ctx.prec = 200
        q = Decimal(d).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    s = format(q, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def test_sql_aggregates_numeric_kinds():
    """COUNT(DISTINCT), COUNTIF, ANY_VALUE, SUM/AVG/MIN/MAX over INT64/FLOAT64/NUMERIC/BIGNUMERIC, LOGICAL_AND/OR"""
    SA = T_("sales")
    r = query("SELECT COUNT(DISTINCT brand), COUNT(DISTINCT kind), COUNTIF(sold), COUNTIF(NOT sold), "
              "LOGICAL_AND(sold), LOGICAL_OR(sold), ANY_VALUE(brand) FROM %s WHERE brand = 'gucci'" % SA)
    assert vals(r) == [["1", "1", "1", "0", "true", "true", "gucci"]], vals(r)
    r = query("SELECT SUM(qty), AVG(qty), MIN(qty), MAX(qty), SUM(price), AVG(price), MIN(price), MAX(price), "
              "SUM(amt), AVG(amt), MIN(amt), MAX(amt), SUM(bamt), AVG(bamt), MIN(bamt), MAX(bamt) FROM %s" % SA)
    qs = [x["qty"] for x in SALES if x["qty"] is not None]
    ps = [x["price"] for x in SALES if x["price"] is not None]
    ams = [dec(x["amt"]) for x in SALES if x["amt"] is not None]
    bs = [dec(x["bamt"]) for x in SALES if x["bamt"] is not None]
    got = vals(r)[0]
    assert got[:4] == [str(sum(qs)), repr(sum(qs) / len(qs)), str(min(qs)), str(max(qs))], got
    assert float(got[4]) == math.fsum(ps) and float(got[5]) == math.fsum(ps) / len(ps), got
    assert float(got[6]) == min(ps) and float(got[7]) == max(ps)
    assert got[8:12] == [fmt_dec(sum(ams), 9), fmt_dec(sum(ams) / len(ams), 9), fmt_dec(min(ams), 9),
                         fmt_dec(max(ams), 9)], got
    with __import__("decimal").localcontext() as ctx:
        ctx.prec = 100
        assert got[12:16] == [fmt_dec(sum(bs), 38), fmt_dec(sum(bs) / len(bs), 38), fmt_dec(min(bs), 38),
                              fmt_dec(max(bs), 38)], got
    assert [t for _, t in types(r)] == ["INTEGER", "FLOAT", "INTEGER", "INTEGER"] + ["FLOAT"] * 4 + \
        ["NUMERIC"] * 4 + ["BIGNUMERIC"] * 4, types(r)


def test_sql_analytic_functions():
    """analytic functions: OVER (), PARTITION BY, ORDER BY frames, ROW_NUMBER/RANK, LAG, aggregates of aggregates"""
    SA = T_("sales")
    r = query("SELECT brand, kind, COUNT(*) AS n, SUM(COUNT(*)) OVER (PARTITION BY brand) AS brand_n, "
              "ROUND(100 * COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY brand), 2) AS pct "
              "FROM %s GROUP BY brand, kind ORDER BY brand, kind" % SA)
    groups = {}
    for x in SALES:
        groups[(x["brand"], x["kind"])] = groups.get((x["brand"], x["kind"]), 0) + 1
    per_brand = {}
    for (b, k), n in groups.items():
        per_brand[b] = per_brand.get(b, 0) + n
    want = [[b, k, str(n), str(per_brand[b]), round(100 * n / per_brand[b], 2)] for (b, k), n in sorted(groups.items())]
    got = vals(r)
    assert [g[:4] for g in got] == [w[:4] for w in want], got
    assert [float(g[4]) for g in got] == [w[4] for w in want], got
    r = query("SELECT qty, SUM(qty) OVER () AS total, COUNT(qty) OVER () AS c, AVG(price) OVER () AS a, "
              "MIN(amt) OVER (PARTITION BY brand) AS mn, MAX(price) OVER (PARTITION BY brand) AS mx "
              "FROM %s WHERE brand = 'dior' ORDER BY qty" % SA)
    assert vals(r) == [["1", "13", "3", repr((1000.25 + 80.0 + 20.0) / 3), "0.01", "1000.25"],
                       ["5", "13", "3", repr((1000.25 + 80.0 + 20.0) / 3), "0.01", "1000.25"],
                       ["7", "13", "3", repr((1000.25 + 80.0 + 20.0) / 3), "0.01", "1000.25"]], vals(r)
    r = query("SELECT qty, SUM(qty) OVER (ORDER BY qty ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s2, "
              "SUM(qty) OVER (ORDER BY qty) AS running, ROW_NUMBER() OVER (ORDER BY qty, price) AS rn, "
              "RANK() OVER (ORDER BY qty) AS rk, DENSE_RANK() OVER (ORDER BY qty) AS dr, "
              "LAG(qty) OVER (ORDER BY qty, price) AS prev FROM %s WHERE qty IS NOT NULL ORDER BY qty, price" % SA)
    qs = sorted((x["qty"], x["price"]) for x in SALES if x["qty"] is not None)
    q = [a for a, _ in qs]
    want = []
    for i, v in enumerate(q):
        want.append([str(v), str(v + (q[i - 1] if i else 0)), str(sum(x for x in q if x <= v)), str(i + 1),
                     str(1 + sum(1 for x in q if x < v)), str(1 + len({x for x in q if x < v})),
                     None if i == 0 else str(q[i - 1])])
    assert vals(r) == want, (vals(r), want)
    r = query("SELECT brand, price, FIRST_VALUE(price) OVER (PARTITION BY brand ORDER BY price DESC) AS top "
              "FROM %s WHERE price IS NOT NULL ORDER BY brand, price" % SA)
    tops = {}
    for x in SALES:
        if x["price"] is not None:
            tops[x["brand"]] = max(tops.get(x["brand"], x["price"]), x["price"])
    assert [float(v[2]) for v in vals(r)] == [tops[v[0]] for v in vals(r)]
    assert "Analytic function not allowed in WHERE clause" in qerr(
        "SELECT 1 FROM %s WHERE ROW_NUMBER() OVER () = 1" % SA)
    r = query("SELECT kind, COUNT(DISTINCT brand) OVER (PARTITION BY kind) AS nb, COUNT(DISTINCT brand) OVER () "
              "AS all_b FROM %s ORDER BY kind LIMIT 1" % SA)
    assert vals(r) == [["bag", str(len({x["brand"] for x in SALES if x["kind"] == "bag"})),
                        str(len({x["brand"] for x in SALES}))]], vals(r)


def pct_cont(values, p):
    """PERCENTILE_CONT by hand: NULLs ignored, linear interpolation at rank p * (n - 1), exact."""
    xs = sorted(Fraction(v) for v in values if v is not None)
    if not xs:
        return None
    r = Fraction(p) * (len(xs) - 1)
    i = math.floor(r)
    f = r - i
    return xs[i] if f == 0 else xs[i] + (xs[i + 1] - xs[i]) * f


def pct_disc(values, p):
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    i = max(0, math.ceil(Fraction(p) * len(xs)) - 1)
    return xs[i]


def test_sql_percentiles():
    """PERCENTILE_CONT/DISC OVER (PARTITION BY ...): linear interpolation, NULLs ignored, FLOAT64/NUMERIC results"""
    SA = T_("sales")
    brands = sorted({x["brand"] for x in SALES})
    for p in (0, 0.25, 0.5, 0.9, 1):
        r = query("SELECT DISTINCT brand, PERCENTILE_CONT(price, %r) OVER (PARTITION BY brand) AS pc, "
                  "PERCENTILE_CONT(qty, %r) OVER (PARTITION BY brand) AS pq, "
                  "PERCENTILE_CONT(amt, %r) OVER (PARTITION BY brand) AS pa, "
                  "PERCENTILE_DISC(price, %r) OVER (PARTITION BY brand) AS pd "
                  "FROM %s ORDER BY brand" % (p, p, p, p, SA))
        if p == 0:
            assert [t for _, t in types(r)] == ["STRING", "FLOAT", "FLOAT", "NUMERIC", "FLOAT"], types(r)
        for b, row in zip(brands, vals(r)):
            rows = [x for x in SALES if x["brand"] == b]
            pc = pct_cont([x["price"] for x in rows], p)
            pq = pct_cont([x["qty"] for x in rows], p)
            # a FLOAT64 literal percentile coerces to NUMERIC like any literal: its decimal value
            pa = pct_cont([dec(x["amt"]) if x["amt"] else None for x in rows], Fraction(repr(p)))
            pd = pct_disc([x["price"] for x in rows], p)
            assert row[0] == b and float(row[1]) == float(pc) and float(row[2]) == float(pq), (p, row, pc, pq)
            assert row[3] == fmt_dec(Decimal(pa.numerator) / Decimal(pa.denominator), 9), (p, row, pa)
            assert float(row[4]) == pd, (p, row, pd)
    r = query("SELECT PERCENTILE_CONT(bamt, 0.5) OVER () FROM %s LIMIT 1" % SA)
    bs = [dec(x["bamt"]) for x in SALES if x["bamt"] is not None]
    med = pct_cont(bs, 0.5)
    with __import__("decimal").localcontext() as ctx:
        ctx.prec = 200
        want = fmt_dec(Decimal(med.numerator) / Decimal(med.denominator), 38)
    assert types(r) == [("f0_", "BIGNUMERIC")] and col(r) == [want], (col(r), want)
    assert "must be in [0, 1]" in qerr("SELECT PERCENTILE_CONT(price, 1.5) OVER () FROM %s" % SA)
    assert "ORDER BY is not allowed" in qerr("SELECT PERCENTILE_CONT(price, 0.5) OVER (ORDER BY qty) FROM %s" % SA)
    assert "without an OVER clause" in qerr("SELECT PERCENTILE_CONT(price, 0.5) FROM %s" % SA)


def test_sql_casts_numeric_bignumeric():
    """SAFE_CAST, CAST to/from NUMERIC (9 digits) and BIGNUMERIC (38 digits): rounding and overflow errors"""
    cases = [("CAST('1.0000000005' AS NUMERIC)", "1.000000001"), ("CAST('-1.0000000005' AS NUMERIC)", "-1.000000001"),
             ("CAST('1.123456789012345678901234567890123456789' AS BIGNUMERIC)",
              "1.12345678901234567890123456789012345679"),
             ("CAST(CAST('2.5' AS BIGNUMERIC) AS INT64)", "3"), ("CAST(CAST('-2.5' AS NUMERIC) AS INT64)", "-3"),
             ("CAST(CAST('0.125' AS BIGNUMERIC) AS FLOAT64)", "0.125"), ("CAST(1.25 AS NUMERIC)", "1.25"),
             ("CAST(CAST('12.5' AS NUMERIC) AS STRING)", "12.5"), ("CAST(CAST('3' AS NUMERIC) AS BIGNUMERIC)", "3"),
             ("CAST('578960446186580977117854925043439539266.34992332820282019728792003956564819967' AS BIGNUMERIC)",
              "578960446186580977117854925043439539266.34992332820282019728792003956564819967"),
             ("SAFE_CAST('1e40' AS NUMERIC)", None), ("SAFE_CAST('abc' AS INT64)", None),
             ("SAFE_CAST('34.0' AS INT64)", None), ("SAFE_CAST('1e39' AS BIGNUMERIC)", None),
             ("SAFE_CAST(CAST('1e30' AS BIGNUMERIC) AS NUMERIC)", None), ("SAFE_CAST('7' AS INT64)", "7")]
    for expr, want in cases:
        got = one("SELECT " + expr)
        assert got == want, (expr, got, want)
    assert "Invalid NUMERIC value" in qerr("SELECT CAST('1e30' AS NUMERIC)")
    assert "Invalid BIGNUMERIC value" in qerr(
        "SELECT CAST('578960446186580977117854925043439539266.34992332820282019728792003956564819968' AS BIGNUMERIC)")
    # parameterized types round to their scale (halves away from zero) and bound the digits
    assert one("SELECT CAST('1.005' AS NUMERIC(10, 2))") == "1.01"
    assert one("SELECT CAST('-2.5' AS BIGNUMERIC(5))") == "-3"
    assert one("SELECT SAFE_CAST('123.45' AS NUMERIC(4, 2))") is None
    assert one("SELECT SAFE_CAST('abcd' AS STRING(3))") is None and one("SELECT CAST('abc' AS STRING(3))") == "abc"
    assert "NUMERIC(4, 2)" in qerr("SELECT CAST('123.45' AS NUMERIC(4, 2))")


def test_sql_math_functions():
    """SAFE_DIVIDE, IEEE_DIVIDE, ROUND with rounding modes, TRUNC"""
    cases = [("SAFE_DIVIDE(1, 0)", None), ("SAFE_DIVIDE(7, 2)", "3.5"), ("SAFE_DIVIDE(CAST(1 AS NUMERIC), 3)", "0.333333333"),
             ("SAFE_DIVIDE(CAST(1 AS NUMERIC), 0)", None), ("SAFE_DIVIDE(1e308, 1e-308)", None),
             ("IEEE_DIVIDE(1, 0)", "Infinity"), ("IEEE_DIVIDE(-1, 0)", "-Infinity"), ("IEEE_DIVIDE(0, 0)", "NaN"),
             ("IEEE_DIVIDE(6, 4)", "1.5"),
             ("ROUND(2.5)", "3.0"), ("ROUND(-2.5)", "-3.0"), ("ROUND(1.005, 2)", "1.0"), ("ROUND(123.456, -1)", "120.0"),
             ("ROUND(CAST('2.5' AS NUMERIC), 0, 'ROUND_HALF_EVEN')", "2"),
             ("ROUND(CAST('3.5' AS NUMERIC), 0, 'ROUND_HALF_EVEN')", "4"),
             ("ROUND(CAST('2.5' AS NUMERIC), 0, 'ROUND_HALF_AWAY_FROM_ZERO')", "3"),
             ("ROUND(CAST('-0.125' AS BIGNUMERIC), 2, 'ROUND_HALF_EVEN')", "-0.12"),
             ("ROUND(CAST('-0.125' AS BIGNUMERIC), 2)", "-0.13"), ("ROUND(CAST('1.25' AS NUMERIC), 1)", "1.3"),
             ("TRUNC(2.79)", "2.0"), ("TRUNC(-2.79, 1)", "-2.7"), ("TRUNC(CAST('9.999' AS NUMERIC), 2)", "9.99"),
             ("TRUNC(15)", "15.0")]
    for expr, want in cases:
        got = one("SELECT " + expr)
        assert got == want, (expr, got, want)
    assert "No matching signature for function ROUND" in qerr("SELECT ROUND(2.5, 0, 'ROUND_HALF_EVEN')")
    assert "Invalid rounding mode" in qerr("SELECT ROUND(CAST(1 AS NUMERIC), 0, 'ROUND_UP')")


def test_sql_regexp_re2():
    """REGEXP_REPLACE/CONTAINS/EXTRACT with RE2 semantics: ASCII classes, $, \\v, raw strings, invalid patterns"""
    cases = [
        (r"REGEXP_REPLACE('  a \t b\n', r'\s+', ' ')", " a b "),
        (r"REGEXP_REPLACE('a\x0Bb', r'\s', '_')", "a\x0bb"),         # RE2's \s has no \v
        (r"REGEXP_REPLACE('a\vb', r'[\v]', '_')", "a_b"),
        (r"REGEXP_REPLACE('a\x0Bb', r'\x0B', '_')", "a_b"),
        (r"REGEXP_REPLACE('a\fb', r'\f', '_')", "a_b"),
        (r"REGEXP_CONTAINS('\f', r'^\s$')", "true"),                 # \s does have \f
        (r"REGEXP_REPLACE('tab\there', '\\t', ' ')", "tab here"),   # a non-raw pattern: \\t is \t
        (r"REGEXP_CONTAINS('\u0663', r'\d')", "false"),               # \d is ASCII only
        (r"REGEXP_CONTAINS('abc\n', r'abc$')", "false"),              # $ is the end of the text
        (r"REGEXP_CONTAINS('abc\n', r'(?m)abc$')", "true"),
        (r"REGEXP_REPLACE('abc', 'b*', '-')", "-a-c-"),               # no empty match right after a match
        (r"REGEXP_REPLACE('me@host', r'(\w+)@(\w+)', r'\2 at \1 \\ \0')", "host at me \\ me@host"),
        (r"REGEXP_EXTRACT('foo=bar; x=y', r'(\w+)=')", "foo"),
        (r"REGEXP_EXTRACT('foo=bar; x=y', r'\w+=\w+', 1, 2)", "x=y"),
        (r"REGEXP_EXTRACT('abc', r'z')", None),
        (r"REGEXP_EXTRACT('ab', r'a(x)?')", None),
        (r"REGEXP_CONTAINS('ABC', r'(?i)abc')", "true"),
        (r"REGEXP_REPLACE('Hello World', r'[[:upper:]]', '*')", "*ello *orld"),
        (r"REGEXP_CONTAINS('a{,3}', r'a{,3}')", "true"),              # not a repetition in RE2
        (r"REGEXP_REPLACE('x.y', r'\Q.\E', '!')", "x!y"),
    ]
    for expr, want in cases:
        got = one("SELECT " + expr)
        assert got == want, (expr, got, want)
    for pat, what in ((r"(a)\1", r"invalid escape sequence: \1"), (r"a(?=b)", "invalid or unsupported Perl syntax"),
                      (r"(?<!a)b", "invalid or unsupported Perl syntax"), (r"a\Z", r"invalid escape sequence: \Z"),
                      (r"a**", "bad repetition operator: **"), (r"(a", "missing )")):
        m = qerr("SELECT REGEXP_CONTAINS('a', r'%s')" % pat)
        assert "Cannot parse regular expression" in m and what in m, (pat, m)
    m = qerr("SELECT REGEXP_REPLACE('a', 'a', r'\\1')")
    assert "Invalid REGEXP_REPLACE pattern" in m, m
    m = qerr("SELECT REGEXP_EXTRACT('ab', r'(a)(b)')")
    assert "more than 1 capturing group" in m, m
    m = qerr("SELECT REGEXP_CONTAINS('a', @p)", [prm("p", "STRING", "(?<=x)")])
    assert "invalid or unsupported Perl syntax" in m, m


def test_sql_string_functions():
    """TRIM/LTRIM/RTRIM (Unicode White_Space), LOWER/UPPER, COALESCE/IFNULL/NULLIF/IF/CASE, CONCAT, LENGTH, STARTS_WITH"""
    ws = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
    cases = [
        ("TRIM(@s)", [prm("s", "STRING", ws + "x y" + ws)], "x y"),
        ("TRIM(@s)", [prm("s", "STRING", "\x1cx\u200b")], "\x1cx\u200b"),   # not White_Space
        ("LTRIM(@s)", [prm("s", "STRING", "\u3000 x ")], "x "), ("RTRIM(@s)", [prm("s", "STRING", " x\xa0")], " x"),
        ("TRIM('xxhixyx', 'xy')", None, "hi"), ("LTRIM('aabca', 'a')", None, "bca"),
        ("RTRIM('aabca', 'ab')", None, "aabc"), ("TRIM(b'xxhix', b'x')", None, "aGk="),
        ("UPPER('stra\u00dfe \u00e9')", None, "STRASSE \u00c9"), ("LOWER('\u0130STANBUL \u00c9')", None,
                                                                  "i\u0307stanbul \u00e9"),
        ("COALESCE(NULL, 1, 2.5)", None, "1.0"), ("IFNULL(CAST(NULL AS NUMERIC), 2)", None, "2"),
        ("NULLIF(5, 5)", None, None), ("NULLIF('a', 'b')", None, "a"), ("IF(1 > 2, 1, 2.5)", None, "2.5"),
        ("CASE 2 WHEN 1 THEN 'one' WHEN 2 THEN 'two' END", None, "two"),
        ("CASE WHEN FALSE THEN 1 ELSE CAST('1.5' AS NUMERIC) END", None, "1.5"),
        ("CONCAT('a', 'b', 'c')", None, "abc"), ("'a' || 'b'", None, "ab"), ("LENGTH('\u00e9t\u00e9')", None, "3"),
        ("STARTS_WITH('luxe_fdw', 'luxe')", None, "true"), ("STARTS_WITH('luxe', 'fdw')", None, "false"),
        ("ENDS_WITH('luxe_fdw', 'fdw')", None, "true"), ("REPLACE('a-b-c', '-', '+')", None, "a+b+c"),
    ]
    for expr, params, want in cases:
        got = one("SELECT " + expr, params)
        assert got == want, (expr, got, want)
    assert "No matching signature" in qerr("SELECT TRIM(b'abc')")
    r = query("SELECT COALESCE(qty, 0) AS q, COALESCE(amt, 0) AS a FROM %s WHERE brand = 'chanel' AND kind = 'shoe' "
              "ORDER BY q" % T_("sales"))
    assert vals(r) == [["0", "0"], ["3", "0.1"]] and [t for _, t in types(r)] == ["INTEGER", "NUMERIC"], vals(r)


def test_scripts_and_transactions():
    """multi-statement queries: child jobs, BEGIN/COMMIT/ROLLBACK TRANSACTION, all or nothing, DML with subqueries"""
    mk_table("inv", [{"name": "id", "type": "INT64"}, {"name": "v", "type": "STRING"}])
    mk_table("arch", [{"name": "id", "type": "INT64"}, {"name": "v", "type": "STRING"}])
    insert("inv", [{"id": i, "v": "v%d" % i} for i in range(1, 6)])
    INV, ARCH = T_("inv"), T_("arch")
    script = ("BEGIN TRANSACTION;\n"
              "INSERT INTO %s (id, v) SELECT id, v FROM %s WHERE id > 3;\n"
              "DELETE FROM %s WHERE id IN (SELECT id FROM %s);\n"
              "COMMIT TRANSACTION;\n"
              "SELECT COUNT(*) AS n FROM %s;" % (ARCH, INV, INV, ARCH, INV))
    j = query_job(script)
    assert job_error(j) is None, j["status"]
    # every statement is a child job, BEGIN and COMMIT included
    assert j["statistics"]["query"]["statementType"] == "SCRIPT" and j["statistics"]["numChildJobs"] == "5", j
    inv_bytes = 5 * 8 + sum(sbytes("v%d" % i) for i in range(1, 6))
    want_bytes = inv_bytes + (5 * 8 + 2 * 8 + inv_bytes) + 0  # INSERT, DELETE (+ whole table), COUNT(*)
    assert j["statistics"]["query"]["totalBytesProcessed"] == str(want_bytes), (j["statistics"], want_bytes)
    assert col(ok("GET", "/queries/%s" % j["jobReference"]["jobId"])) == ["3"]
    kids = ok("GET", "/jobs", query={"parentJobId": j["jobReference"]["jobId"], "maxResults": 100})["jobs"]
    assert sorted(k["statistics"]["query"]["statementType"] for k in kids) == [
        "BEGIN_TRANSACTION", "COMMIT_TRANSACTION", "DELETE", "INSERT", "SELECT"], kids
    assert all(k["statistics"]["parentJobId"] == j["jobReference"]["jobId"] for k in kids)
    in_tx = {k["statistics"]["query"]["statementType"]: k["statistics"].get("transactionInfo") for k in kids}
    assert in_tx["SELECT"] is None and in_tx["INSERT"]["transactionId"] == in_tx["DELETE"]["transactionId"], in_tx
    top = ok("GET", "/jobs", query={"maxResults": 1000})["jobs"]
    assert not any(x["jobReference"]["jobId"] in {k["jobReference"]["jobId"] for k in kids} for x in top)
    assert vals(query("SELECT id FROM %s ORDER BY id" % INV)) == [["1"], ["2"], ["3"]]
    assert vals(query("SELECT id, v FROM %s ORDER BY id" % ARCH)) == [["4", "v4"], ["5", "v5"]]
    # ROLLBACK undoes; the script goes on
    r = query("BEGIN TRANSACTION; DELETE FROM %s WHERE TRUE; TRUNCATE TABLE %s; ROLLBACK TRANSACTION; "
              "SELECT COUNT(*) FROM %s" % (INV, ARCH, INV))
    assert col(r) == ["3"] and one("SELECT COUNT(*) FROM %s" % ARCH) == "2"
    # a failure inside a transaction undoes the whole transaction
    j = query_job("BEGIN; DELETE FROM %s WHERE id = 1; INSERT INTO %s (id) SELECT DIV(id, 0) FROM %s; COMMIT;"
                  % (INV, INV, INV))
    assert job_error(j)["reason"] == "invalidQuery" and "division by zero" in job_error(j)["message"], j["status"]
    assert vals(query("SELECT id FROM %s ORDER BY id" % INV)) == [["1"], ["2"], ["3"]]
    # without a transaction, statements before the failure stay done
    j = query_job("DELETE FROM %s WHERE id = 3; SELECT DIV(1, 0)" % INV)
    assert job_error(j)["reason"] == "invalidQuery"
    assert vals(query("SELECT id FROM %s ORDER BY id" % INV)) == [["1"], ["2"]]
    # a transaction left open is rolled back and fails the script
    j = query_job("BEGIN TRANSACTION; DELETE FROM %s WHERE TRUE" % INV)
    assert "neither committed nor rolled back" in job_error(j)["message"], j["status"]
    assert one("SELECT COUNT(*) FROM %s" % INV) == "2"
    assert "COMMIT TRANSACTION without an active transaction" in qerr("SELECT 1; COMMIT TRANSACTION")
    assert "not supported inside a multi-statement transaction" in qerr(
        "BEGIN; CREATE TABLE %s (x INT64); COMMIT" % T_("in_tx"))
    # jobs.query answers with the last statement's result
    r = query("INSERT INTO %s (id) VALUES (8), (9); SELECT id FROM %s WHERE id > 7 ORDER BY id" % (INV, INV))
    assert col(r) == ["8", "9"]


def test_unsupported_is_a_clear_error():
    """constructs the emulator does not implement fail with 400 invalidQuery naming them, never a different answer"""
    SA = T_("sales")
    for sql, what in (
            ("SELECT brand FROM %s QUALIFY ROW_NUMBER() OVER () = 1" % SA, "QUALIFY"),
            ("MERGE %s t USING %s s ON t.brand = s.brand WHEN MATCHED THEN DELETE" % (SA, SA), "MERGE"),
            ("SELECT brand FROM %s UNION ALL SELECT 'x'" % SA, "UNION"),
            ("DECLARE x INT64", "DECLARE"),
            ("SELECT SUM(price) OVER (ORDER BY price RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM %s" % SA,
             "RANGE frame"),
            ("SELECT FIRST_VALUE(price IGNORE NULLS) OVER (ORDER BY qty) FROM %s" % SA, "IGNORE NULLS"),
            ("SELECT ARRAY_AGG(brand) FROM %s" % SA, "ARRAY_AGG"),
            ("CREATE TEMP TABLE x (a INT64)", "TEMP"),
            ("SELECT * FROM %s, UNNEST([1])" % SA, "UNNEST"),
            ("SELECT FORMAT('%%d', 1)", "FORMAT"),
    ):
        m = qerr(sql)
        assert what in m, (sql, m)


def test_latency_option():
    """--latency 200: every response waits 200 ms, concurrent requests wait in parallel; /_emulator/latency"""
    import subprocess
    import tempfile
    import threading
    root = tempfile.mkdtemp()
    emulator = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emulator")
    proc = subprocess.Popen([sys.executable, emulator, "--root", root, "--port", "0", "--latency", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1])

        def get(path, out, i):
            t0 = time.time()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            out[i] = (resp.status, time.time() - t0)

        out = [None]
        get("/bigquery/v2/projects/lat/datasets", out, 0)
        assert out[0][0] == 200 and out[0][1] >= 0.2, out  # one request: at least the latency
        paths = ["/bigquery/v2/projects/lat/datasets", "/storage/v1/b?project=lat"] * 5
        out = [None] * 10
        threads = [threading.Thread(target=get, args=(p, out, i)) for i, p in enumerate(paths)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = time.time() - t0
        assert all(o[0] == 200 and o[1] >= 0.2 for o in out), out
        assert total < 1.0, total  # well under 10 x 200 ms: the waits overlap
        out = [None]
        get("/_emulator/health", out, 0)
        assert out[0][1] < 0.15, out  # control endpoints are not delayed
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    # at run time, on the shared emulator
    assert ok("GET", "/_emulator/latency") == {"ms": 0}
    assert ok("POST", "/_emulator/latency", {"ms": 150}) == {"ms": 150}
    try:
        t0 = time.time()
        ok("GET", "/datasets")
        assert time.time() - t0 >= 0.15
        assert ok("GET", "/_emulator/latency") == {"ms": 150}
        st, _ = call("POST", "/_emulator/latency", {"ms": -1})
        assert st == 400
    finally:
        ok("POST", "/_emulator/latency", {"ms": 0})
    t0 = time.time()
    ok("GET", "/datasets")
    assert time.time() - t0 < 0.15


def test_discovery_and_control():
    """discovery document points at the emulator; DELETE /_emulator/bigquery drops the state"""
    for path in ("/$discovery/rest?version=v2", "/discovery/v1/apis/bigquery/v2/rest"):
        conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
        conn.request("GET", path)
        r = conn.getresponse()
        doc = json.loads(r.read())
        conn.close()
        assert r.status == 200 and doc["rootUrl"] == BASE + "/" and doc["baseUrl"] == BASE + "/bigquery/v2/"
        assert doc["servicePath"] == "bigquery/v2/" and "jobs" in doc["resources"]


def test_zz_reset():
    """DELETE /_emulator/bigquery drops every dataset and job"""
    ok("DELETE", "/_emulator/bigquery")
    st, j = call("GET", "/datasets")
    assert st == 200 and "datasets" not in j
    assert jobs_ctl() == []


if __name__ == "__main__":
    call("DELETE", "/_emulator/faults")
    tests = [v for k, v in list(globals().items()) if k.startswith("test_")]
    passed, failed, skipped = run_tests(tests)
    call("DELETE", "/_emulator/faults")
    summary("bq-wire", passed, failed, skipped)
    sys.exit(1 if failed else 0)

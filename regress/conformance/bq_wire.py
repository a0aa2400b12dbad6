#!/usr/bin/env python3
"""Wire-level conformance of the luxe emulator's BigQuery REST v2 service, checked against
Google's documented behaviour (PROTOCOL.md section 2, notes/bq_sql_contract.md) with nothing
but the standard library.

Usage: LUXE_EMULATOR_URL=http://127.0.0.1:PORT regress/conformance/bq_wire.py

The emulator must already be running. Prints "ok N - name" / "not ok N - name" per test,
then "bq-wire: N passed, M failed"; exits 1 on failure.
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
from urllib.parse import quote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tests  # noqa: E402

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
    assert "window" in qerr("SELECT ROW_NUMBER() OVER () FROM `%s.%s.pg`" % (P, DS))
    assert "WITH" in qerr("WITH x AS (SELECT 1) SELECT * FROM x")
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
    print("bq-wire: %d passed, %d failed" % (passed + skipped, failed))
    sys.exit(1 if failed else 0)

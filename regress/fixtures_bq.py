#!/usr/bin/env python3
"""Seed the BigQuery side of the emulator for the pg_regress suite.

    regress/fixtures_bq.py URL

Creates, through the public REST API (as any client would), project
`luxe-regress` with dataset `regress`:
  items     40 rows of every common scalar type, with NULLs: the pushdown
            comparisons run every query remotely and locally on these rows
  sellers   a join partner of items (by seller_id)
  types     one row per interesting value of every BigQuery type, REPEATED
            and RECORD included, NaN and infinities
  types_copy  empty, with the schema of types (writes of every type)
  big       25,000 rows, to page through
  target    empty, for INSERT tests (same columns as items)
and dataset `other` with two tables for IMPORT FOREIGN SCHEMA ... EXCEPT.
"""
import json
import sys
import urllib.request

URL = sys.argv[1].rstrip("/")
P = "luxe-regress"


def api(method, path, body=None):
    req = urllib.request.Request(URL + "/bigquery/v2/projects/%s/%s" % (P, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        data = r.read()
        return json.loads(data) if data else {}


def table(dataset, name, fields, rows=()):
    api("POST", "datasets/%s/tables" % dataset,
        {"tableReference": {"projectId": P, "datasetId": dataset, "tableId": name},
         "schema": {"fields": fields}})
    rows = list(rows)
    for i in range(0, len(rows), 5000):
        resp = api("POST", "datasets/%s/tables/%s/insertAll" % (dataset, name),
                   {"rows": [{"insertId": "%s-%d" % (name, i + k), "json": r}
                             for k, r in enumerate(rows[i:i + 5000])]})
        assert not resp.get("insertErrors"), resp


def f(name, type_, mode="NULLABLE", fields=None):
    d = {"name": name, "type": type_, "mode": mode}
    if fields:
        d["fields"] = fields
    return d


ITEM_FIELDS = [f("id", "INT64", "REQUIRED"), f("name", "STRING"), f("category", "STRING"),
               f("price", "FLOAT64"), f("qty", "INT64"), f("amount", "NUMERIC"), f("sold", "BOOL"),
               f("day", "DATE"), f("at", "TIMESTAMP"), f("seller_id", "INT64")]
CATEGORIES = ["Bags", "bags", "Shoes", "Watches", "Jewellery", None]
NAMES = ["Kelly", "Birkin", "Speedy 30", "Neverfull", "Jackie", "Oyster", "Ballerina",
         "Tank", "Love bracelet", "Alhambra", "Café crème", "50% off", "under_score", "Ölfarbe"]


def items():
    rows = []
    for i in range(1, 41):
        rows.append({
            "id": i,
            "name": None if i % 13 == 0 else NAMES[i % len(NAMES)],
            "category": CATEGORIES[i % len(CATEGORIES)],
            "price": None if i % 11 == 0 else round(50 + (i * 37.25) % 900, 2),
            "qty": None if i % 7 == 0 else (i * 3) % 10,
            "amount": None if i % 9 == 0 else "%d.%02d" % (i * 101 % 1000, i * 7 % 100),
            "sold": None if i % 10 == 0 else i % 3 == 0,
            "day": "2024-%02d-%02d" % (1 + i % 12, 1 + i % 28),
            "at": None if i % 8 == 0 else "2024-03-%02d %02d:%02d:%02d.%06d+00:00" % (1 + i % 28, i % 24, i % 60, (i * 7) % 60, i * 12345),
            "seller_id": None if i % 17 == 0 else 100 + i % 6,
        })
    return rows


def main():
    api("POST", "datasets", {"datasetReference": {"projectId": P, "datasetId": "regress"}})
    api("POST", "datasets", {"datasetReference": {"projectId": P, "datasetId": "other"}})
    table("regress", "items", ITEM_FIELDS, items())
    table("regress", "target", ITEM_FIELDS)
    table("regress", "sellers", [f("seller_id", "INT64"), f("seller_name", "STRING"), f("country", "STRING")],
          [{"seller_id": 100 + k, "seller_name": "seller %d" % k,
            "country": ["France", "Italy", "United States", None, "France"][k % 5]} for k in range(5)]
          + [{"seller_id": 999, "seller_name": "nobody's", "country": "Japan"}])
    types_fields = [
        f("label", "STRING"), f("i", "INT64"), f("x", "FLOAT64"), f("n", "NUMERIC"), f("bn", "BIGNUMERIC"),
        f("b", "BOOL"), f("s", "STRING"), f("by", "BYTES"), f("d", "DATE"), f("dt", "DATETIME"),
        f("t", "TIME"), f("ts", "TIMESTAMP"), f("j", "JSON"), f("g", "GEOGRAPHY"),
        f("tags", "STRING", "REPEATED"), f("nums", "INT64", "REPEATED"),
        f("rec", "RECORD", fields=[f("k", "STRING"), f("v", "FLOAT64")]),
        f("recs", "RECORD", "REPEATED", fields=[f("k", "STRING"), f("v", "INT64")]),
    ]
    table("regress", "types_copy", types_fields)
    table("regress", "types", types_fields, [
        {"label": "a: ordinary", "i": 9007199254740993, "x": 1.5, "n": "12345678901234567890.123456789",
         "bn": "123456789012345678901234567890.12345678901234567890", "b": True, "s": "Hermès \"Kelly\", 28 cm",
         "by": "3q2+7w==", "d": "2024-03-15", "dt": "2024-03-15T12:34:56.789012", "t": "12:34:56.5",
         "ts": "2024-03-15 12:34:56.123456+00:00", "j": json.dumps({"a": [1, 2], "b": None}),
         "g": "POINT(2.35 48.85)", "tags": ["vintage", "rare, \"mint\""], "nums": [1, 2, 3],
         "rec": {"k": "x", "v": 2.5}, "recs": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]},
        {"label": "b: extremes", "i": -9223372036854775808, "x": "NaN", "n": "-0.000000001",
         "bn": "0", "b": False, "s": "", "by": "", "d": "0001-01-01", "dt": "9999-12-31T23:59:59.999999",
         "t": "00:00:00", "ts": "1970-01-01 00:00:00+00:00", "j": "null", "g": "LINESTRING(0 0, 1 1)",
         "tags": [], "nums": [], "rec": {"k": None, "v": None}, "recs": []},
        {"label": "c: infinities", "x": "Infinity", "ts": "1969-12-31 23:59:59.999999+00:00"},
        {"label": "d: minus infinity", "x": "-Infinity", "ts": "2262-04-11 23:47:16.854775+00:00"},
        {"label": "e: nulls"},
    ])
    table("regress", "big", [f("k", "INT64"), f("v", "STRING")],
          [{"k": k, "v": "value %d" % k} for k in range(1, 25001)])
    table("other", "keep_me", [f("a", "INT64")], [{"a": 1}])
    table("other", "skip_me", [f("b", "STRING")], [{"b": "x"}])
    print("BigQuery fixtures in project %s" % P)


if __name__ == "__main__":
    main()

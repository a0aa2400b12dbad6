#!/usr/bin/env python3
"""
pipeline_reference.py -- an independent computation of the luxe pipeline.

Reads a Vestiaire-shaped CSV with the csv module, loads it into an
in-memory sqlite3 database, applies the cleaning rules of
the README ("The pipeline") and computes the four dashboard insights with sqlite SQL
(percentiles in Python).  The result is compared with what PostgreSQL
produced for the same file.

Usage
  pipeline_reference.py compute CSV --out REF.json
  pipeline_reference.py compare REF.json --psql-json GOT.json
  pipeline_reference.py sql [--view NAME]

"sql" prints one PostgreSQL statement that builds the whole GOT.json
document from luxe.listings and the four views:
  pipeline_reference.py sql > /tmp/got.sql
  psql -X -A -t -q -v ON_ERROR_STOP=1 -f /tmp/got.sql > GOT.json
"sql --view NAME" prints the inner SELECT for one view only (NAME is
cleaned_checks or a view name), to run as
  psql -X -A -t -c "SELECT json_agg(t) FROM (<that SELECT>) t"

"compare" prints "ok N - ..." / "not ok N - ... (first differences)" per
check and a final "pipeline: P passed, F failed"; it exits 1 on failure.

JSON document (REF.json and GOT.json have the same shape)
  {
    "rows": <int, rows of luxe.listings>,
    "cleaned_checks": {<name>: <number>, ...},     see CHECKS below
    "sellers_by_country": [
      {"seller_country": <text|null>, "sellers": <int>, "listings": <int>,
       "share_pct": <num>}, ...],
    "brand_prices": [
      {"brand_name": <text|null>, "listings": <int>, "avg_price": <num>,
       "p25": <num>, "median": <num>, "p75": <num>,
       "min_price": <num>, "max_price": <num>}, ...],
    "product_types_by_brand": [
      {"brand_name": <text|null>, "product_type": <text|null>,
       "listings": <int>, "pct": <num>}, ...],
    "sales_by_ship_interval": [
      {"usually_ships_within": <text>, "sold": <int>, "share_pct": <num|null>,
       "sell_through_pct": <num>, "listings": <int>}, ...]
  }
Numbers may be JSON numbers or strings holding numbers.  Rows of a view
are matched by their group key (order does not matter), except that
sales_by_ship_interval must come in the order 1-2 days, 3-5 days,
6-7 days, More than 7 days, unknown (buckets with no rows are absent).
Counts must be equal; other numbers equal to 1e-9 relative (1e-9
absolute near zero).  Each row must have exactly the columns above.

Definitions (the README's, as implemented here)
  * missing = empty unquoted CSV field; the csv module also reads a
    quoted "" as empty, which the generated data never contain.
  * share_pct = 100 * sellers / sum(sellers over all countries);
    pct = 100 * listings / listings of the brand;
    share_pct (ship interval) = 100 * sold / all sold rows (null if none
    sold); sell_through_pct = 100 * sold / listings of the bucket.
    All unrounded.
  * p25/median/p75 as percentile_cont: over the n sorted prices, position
    q*(n-1), linear interpolation between the two neighbours.
  * brand_id after cleaning is text: the decimal spelling of the integer
    (as bigint::text gives), or 'unknown'.

Standard library only.

Copyright (c) 2026, luxe_fdw authors

IDENTIFICATION regress/tools/pipeline_reference.py
"""

import argparse
import csv
import decimal
import fractions
import json
import math
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vestiaire_schema import (ASCII_WS, BOOL_COLS, BRAND_COLS, FLOAT_COLS,  # noqa: E402
                              LOWER_TRIM_COLS, SHIP_ORDER)
from vestiaire_schema import COLUMN_NAMES as COLUMNS  # noqa: E402
INT_COLS = {"product_id", "seller_id"}
WS_RUN = re.compile(r"[ \t\n\r\f\v]+")

# The four views: name, key columns, count columns, other numeric columns
# (compared to 1e-9), in the column order of the view.
VIEWS = [
    ("sellers_by_country", ["seller_country"], ["sellers", "listings"],
     ["share_pct"]),
    ("brand_prices", ["brand_name"], ["listings"],
     ["avg_price", "p25", "median", "p75", "min_price", "max_price"]),
    ("product_types_by_brand", ["brand_name", "product_type"], ["listings"],
     ["pct"]),
    ("sales_by_ship_interval", ["usually_ships_within"], ["sold", "listings"],
     ["share_pct", "sell_through_pct"]),
]
VIEW_COLUMNS = {
    "sellers_by_country": ["seller_country", "sellers", "listings",
                           "share_pct"],
    "brand_prices": ["brand_name", "listings", "avg_price", "p25", "median",
                     "p75", "min_price", "max_price"],
    "product_types_by_brand": ["brand_name", "product_type", "listings",
                               "pct"],
    "sales_by_ship_interval": ["usually_ships_within", "sold", "share_pct",
                               "sell_through_pct", "listings"],
}
# Percentage columns whose sum must be 100: (view, column, partition keys).
PCT_SUMS = [
    ("sellers_by_country", "share_pct", []),
    ("product_types_by_brand", "pct", ["brand_name"]),
    ("sales_by_ship_interval", "share_pct", []),
]


# Percentage columns and how to compute them exactly from the reference's
# integer columns: (view, column, part column, partition keys of the whole,
# whole column).  The published percentages are rounded half away from zero
# to 12 decimals, and must equal that rounding of the exact fraction.
PCT_EXACT = [
    ("sellers_by_country", "share_pct", "sellers", [], "sellers"),
    ("product_types_by_brand", "pct", "listings", ["brand_name"], "listings"),
    ("sales_by_ship_interval", "share_pct", "sold", [], "sold"),
    ("sales_by_ship_interval", "sell_through_pct", "sold", ["usually_ships_within"], "listings"),
]


def round_pct(part, whole):
    """100 * part / whole, exactly, rounded half away from zero to 12
    decimals, as a Decimal; None for a zero whole."""
    if whole == 0:
        return None
    q = fractions.Fraction(100 * part, whole)
    scaled = q * 10 ** 12
    n = abs(scaled.numerator) * 2 + abs(scaled.denominator)
    rounded = n // (2 * abs(scaled.denominator))      # floor(|x| + 1/2)
    if scaled < 0:
        rounded = -rounded
    return decimal.Decimal(rounded).scaleb(-12)


def exact_pct_problems(ref, got):
    """Each published percentage against the exact rounding of the reference's
    counts (independent of luxe.pct)."""
    out = []
    for view, col, part, keys, whole_col in PCT_EXACT:
        rows = ref.get(view, [])
        wholes = {}
        for r in rows:
            k = tuple(r[c] for c in keys)
            wholes[k] = wholes.get(k, 0) + int(r[whole_col])
        _, vkeys, _, _ = [v for v in VIEWS if v[0] == view][0]
        gmap = {tuple(g[c] for c in vkeys): g for g in got.get(view, []) if isinstance(g, dict)}
        bad = 0
        for r in rows:
            want = round_pct(int(r[part]), wholes[tuple(r[c] for c in keys)])
            g = gmap.get(tuple(r[c] for c in vkeys))
            if g is None:
                continue
            try:
                have = None if g[col] is None else decimal.Decimal(str(g[col]))
            except decimal.InvalidOperation:
                have = "bad"
            if have != want:
                bad += 1
                if bad <= 3:
                    out.append("%s.%s %s: want %s got %s" % (view, col, key_repr(
                        tuple(r[c] for c in vkeys)), want, g[col]))
        if bad > 3:
            out.append("%s.%s: %d more" % (view, col, bad - 3))
    return out


def _checks():
    """
    Aggregates of the cleaned table, as (name, is_float, expression).  The
    expressions are valid in both PostgreSQL and sqlite (booleans are 0/1
    in sqlite, so "FILTER (WHERE sold)" works in both).  Together they touch
    every column the cleaning changes and a few it must leave alone.
    """
    c = [("rows", False, "count(*)"),
         ("description_nulls", False,
          "count(*) FILTER (WHERE product_description IS NULL)"),
         ("description_chars", False, "sum(length(product_description))")]
    for col in LOWER_TRIM_COLS:
        c.append((col + "_distinct", False, "count(DISTINCT %s)" % col))
        c.append((col + "_chars", False, "sum(length(%s))" % col))
        c.append((col + "_nulls", False,
                  "count(*) FILTER (WHERE %s IS NULL)" % col))
    for col in BRAND_COLS:
        c.append((col + "_unknown", False,
                  "count(*) FILTER (WHERE %s = 'unknown')" % col))
    c.append(("brand_id_distinct", False, "count(DISTINCT brand_id)"))
    c.append(("brand_url_chars", False, "sum(length(brand_url))"))
    c.append(("filled_nulls", False, "count(*) FILTER (WHERE %s)" %
              " OR ".join("%s IS NULL" % x for x in FLOAT_COLS + BOOL_COLS)))
    for col in FLOAT_COLS:
        c.append(("sum_" + col, True, "sum(%s)" % col))
    for col in BOOL_COLS:
        c.append(("true_" + col, False, "count(*) FILTER (WHERE %s)" % col))
    c += [("product_name_chars", False, "sum(length(product_name))"),
          ("product_keywords_chars", False, "sum(length(product_keywords))"),
          ("seller_username_chars", False, "sum(length(seller_username))"),
          ("product_type_distinct", False, "count(DISTINCT product_type)"),
          ("product_season_distinct", False, "count(DISTINCT product_season)"),
          ("seller_badge_distinct", False, "count(DISTINCT seller_badge)"),
          ("warehouse_name_distinct", False, "count(DISTINCT warehouse_name)"),
          ("usually_ships_within_nulls", False,
           "count(*) FILTER (WHERE usually_ships_within IS NULL)"),
          ("seller_id_distinct", False, "count(DISTINCT seller_id)"),
          ("sum_product_id", False, "sum(product_id)"),
          ("sum_seller_id", False, "sum(seller_id)")]
    return c


CHECKS = _checks()
FLOAT_CHECKS = {name for name, is_float, _ in CHECKS if is_float}


# ---------------------------------------------------------------------------
# sql: the PostgreSQL side

def pg_view_select(name, schema="luxe"):
    """The SELECT that produces one section of GOT.json, without json_agg."""
    if name == "cleaned_checks":
        return "SELECT %s FROM %s.listings" % (", ".join(
            '%s AS "%s"' % (expr, n) for n, _, expr in CHECKS), schema)
    cols = ", ".join(VIEW_COLUMNS[name])
    if name == "sales_by_ship_interval":
        # the documented order of the buckets is the bucket_order column
        return "SELECT %s FROM %s.%s ORDER BY bucket_order, usually_ships_within" % (cols, schema, name)
    keys = [k for v, k, _, _ in VIEWS if v == name][0]
    return "SELECT %s FROM %s.%s ORDER BY %s" % (cols, schema, name, ", ".join(keys))


def pg_document_sql(schema="luxe"):
    parts = ["'rows', (SELECT count(*) FROM %s.listings)" % schema,
             "'cleaned_checks', (SELECT row_to_json(c) FROM (%s) c)"
             % pg_view_select("cleaned_checks", schema)]
    for name, _, _, _ in VIEWS:
        parts.append("'%s', (SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t)"
                     % (name, pg_view_select(name, schema)))
    return "SELECT json_build_object(\n  %s\n);" % ",\n  ".join(parts)


# ---------------------------------------------------------------------------
# compute: the reference

def collapse_ws(s):
    if s is None:
        return None
    return WS_RUN.sub(" ", s.strip(ASCII_WS))


def lower_trim(s):
    if s is None:
        return None
    return s.strip(" ").lower()


def percentile_cont(sorted_vals, q):
    """percentile_cont over an ascending list: position q*(n-1), linear."""
    pos = q * (len(sorted_vals) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return sorted_vals[lo]
    return sorted_vals[lo] + (pos - lo) * (sorted_vals[hi] - sorted_vals[lo])


_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"\r\n]*)')


def csv_records(text):
    """RFC 4180 records of text as lists of fields, like luxe_fdw reads them:
    an unquoted empty field is None (missing), a quoted empty field "" is the
    empty string (Python's csv module cannot tell the two apart).  Blank lines
    hold no record.  Yields (line number, fields)."""
    pos, n, line = 0, len(text), 1
    while pos < n:
        if text[pos] in "\r\n":                        # a blank line
            pos += 2 if text.startswith("\r\n", pos) else 1
            line += 1
            continue
        start_line, fields = line, []
        while True:
            m = _FIELD.match(text, pos)
            if m.group(1) is not None:
                fields.append(m.group(1).replace('""', '"'))
                line += m.group(1).count("\n")
            else:
                fields.append(m.group(2) if m.group(2) else None)
            pos = m.end()
            if pos < n and text[pos] == ",":
                pos += 1
                continue
            if pos < n and text[pos] not in "\r\n":
                raise ValueError("line %d: malformed field" % line)
            if text.startswith("\r\n", pos):
                pos += 2
            elif pos < n:
                pos += 1
            line += 1
            break
        yield start_line, fields


def read_rows(path):
    """Yield the CSV's records as tuples of typed values (None = missing)."""
    conv = []
    for col in COLUMNS:
        if col in INT_COLS:
            conv.append(int)
        elif col == "brand_id":
            conv.append(lambda v: str(int(v)))
        elif col in FLOAT_COLS:
            conv.append(float)
        elif col in BOOL_COLS:
            conv.append(parse_bool)
        else:
            conv.append(str)
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    if text.startswith("\ufeff"):
        text = text[1:]
    records = csv_records(text)
    try:
        _, header = next(records)
    except StopIteration:
        header = None
    if header != COLUMNS:
        raise SystemExit("%s: header is not the 36 Vestiaire columns" % path)
    try:
        for line, rec in records:
            if len(rec) != len(COLUMNS):
                raise SystemExit("%s: line %d: %d fields, expected %d"
                                 % (path, line, len(rec), len(COLUMNS)))
            yield tuple(None if v is None else fn(v) for fn, v in zip(conv, rec))
    except ValueError as e:
        raise SystemExit("%s: %s" % (path, e))


def parse_bool(v):
    if v == "True":
        return 1
    if v == "False":
        return 0
    raise ValueError("bad boolean %r" % v)


def cleaning_sql():
    sel = []
    for col in COLUMNS:
        if col in FLOAT_COLS:
            e = "coalesce(%s, 0.0)" % col
        elif col in BOOL_COLS:
            e = "coalesce(%s, 0)" % col
        elif col in BRAND_COLS:
            inner = "lower_trim(%s)" % col if col in LOWER_TRIM_COLS else col
            e = "coalesce(%s, 'unknown')" % inner
        elif col in LOWER_TRIM_COLS:
            e = "lower_trim(%s)" % col
        elif col == "product_description":
            e = "collapse_ws(%s)" % col
        else:
            e = col
        sel.append("%s AS %s" % (e, col))
    return "CREATE TABLE listings AS SELECT %s FROM raw" % ", ".join(sel)


INSIGHT_SQL = {
    "sellers_by_country": """
        SELECT seller_country,
               count(DISTINCT seller_id) AS sellers,
               count(*) AS listings,
               100.0 * count(DISTINCT seller_id)
                   / sum(count(DISTINCT seller_id)) OVER () AS share_pct
        FROM listings GROUP BY seller_country ORDER BY seller_country""",
    "brand_prices": """
        SELECT brand_name, count(*) AS listings, avg(price_usd) AS avg_price,
               min(price_usd) AS min_price, max(price_usd) AS max_price
        FROM listings GROUP BY brand_name ORDER BY brand_name""",
    "product_types_by_brand": """
        SELECT brand_name, product_type, count(*) AS listings,
               100.0 * count(*)
                   / sum(count(*)) OVER (PARTITION BY brand_name) AS pct
        FROM listings GROUP BY brand_name, product_type
        ORDER BY brand_name, product_type""",
    "sales_by_ship_interval": """
        SELECT coalesce(usually_ships_within, 'unknown') AS usually_ships_within,
               sum(sold) AS sold,
               100.0 * sum(sold) / nullif(sum(sum(sold)) OVER (), 0) AS share_pct,
               100.0 * sum(sold) / count(*) AS sell_through_pct,
               count(*) AS listings
        FROM listings GROUP BY 1
        ORDER BY CASE coalesce(usually_ships_within, 'unknown') %s
                   ELSE %d END, 1""" % (
        " ".join("WHEN '%s' THEN %d" % (b, i) for i, b in enumerate(SHIP_ORDER)),
        len(SHIP_ORDER)),
}


def query_dicts(db, sql):
    cur = db.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur]


def compute(path):
    t0 = time.perf_counter()
    db = sqlite3.connect(":memory:")
    db.create_function("lower_trim", 1, lower_trim, deterministic=True)
    db.create_function("collapse_ws", 1, collapse_ws, deterministic=True)
    db.execute("CREATE TABLE raw (%s)" % ", ".join(COLUMNS))
    db.executemany("INSERT INTO raw VALUES (%s)" % ",".join("?" * len(COLUMNS)),
                   read_rows(path))
    t_load = time.perf_counter()
    db.execute(cleaning_sql())
    db.execute("DROP TABLE raw")
    t_clean = time.perf_counter()

    doc = {"rows": db.execute("SELECT count(*) FROM listings").fetchone()[0]}
    row = db.execute("SELECT %s FROM listings"
                     % ", ".join(expr for _, _, expr in CHECKS)).fetchone()
    doc["cleaned_checks"] = {n: v for (n, _, _), v in zip(CHECKS, row)}

    doc["sellers_by_country"] = query_dicts(db, INSIGHT_SQL["sellers_by_country"])

    prices = {}
    cur = db.execute("SELECT brand_name, price_usd FROM listings "
                     "ORDER BY brand_name, price_usd")
    for brand, price in cur:
        prices.setdefault(brand, []).append(price)
    bp = []
    for r in query_dicts(db, INSIGHT_SQL["brand_prices"]):
        vals = prices[r["brand_name"]]
        bp.append({"brand_name": r["brand_name"], "listings": r["listings"],
                   "avg_price": r["avg_price"],
                   "p25": percentile_cont(vals, 0.25),
                   "median": percentile_cont(vals, 0.5),
                   "p75": percentile_cont(vals, 0.75),
                   "min_price": r["min_price"], "max_price": r["max_price"]})
    doc["brand_prices"] = bp

    doc["product_types_by_brand"] = query_dicts(db, INSIGHT_SQL["product_types_by_brand"])
    doc["sales_by_ship_interval"] = query_dicts(db, INSIGHT_SQL["sales_by_ship_interval"])
    t_end = time.perf_counter()
    timing = (t_load - t0, t_clean - t_load, t_end - t_clean)
    return doc, timing


# ---------------------------------------------------------------------------
# compare

def num(v):
    """A JSON number or numeric string as Decimal (None stays None)."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("boolean %r where a number was expected" % v)
    try:
        return decimal.Decimal(str(v).strip())
    except decimal.InvalidOperation:
        raise ValueError("not a number: %r" % v)


def count_equal(a, b):
    a, b = num(a), num(b)
    return a == b


def close(a, b, tol=1e-9):
    a, b = num(a), num(b)
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= max(tol, tol * max(abs(a), abs(b)))


def key_repr(k):
    return "(" + ", ".join(json.dumps(x, ensure_ascii=False) for x in k) + ")"


def compare_view(name, ref_rows, got_rows):
    """Return a list of difference strings (empty = match)."""
    _, keys, counts, floats = [v for v in VIEWS if v[0] == name][0]
    cols = VIEW_COLUMNS[name]
    diffs = []
    if not isinstance(got_rows, list):
        return ["not a JSON list: %s" % type(got_rows).__name__]
    got = {}
    for r in got_rows:
        if not isinstance(r, dict):
            diffs.append("row is not an object: %r" % (r,))
            continue
        if set(r) != set(cols):
            diffs.append("columns %s, expected %s" % (sorted(r), sorted(cols)))
            continue
        k = tuple(r[c] for c in keys)
        if k in got:
            diffs.append("duplicate key %s" % key_repr(k))
        got[k] = r
    ref = {tuple(r[c] for c in keys): r for r in ref_rows}
    missing = [k for k in ref if k not in got]
    extra = [k for k in got if k not in ref]
    if missing:
        diffs.append("%d key(s) missing, e.g. %s" % (len(missing), key_repr(missing[0])))
    if extra:
        diffs.append("%d unexpected key(s), e.g. %s" % (len(extra), key_repr(extra[0])))
    for k, r in ref.items():
        g = got.get(k)
        if g is None:
            continue
        for c in counts + floats:
            try:
                same = count_equal(r[c], g[c]) if c in counts else close(r[c], g[c])
            except ValueError as e:
                same, g = False, dict(g, **{c: str(e)})
            if not same:
                diffs.append("%s %s: ref %s got %s" % (key_repr(k), c, r[c], g[c]))
    return diffs


def pct_sum_problems(doc, label):
    out = []
    for view, col, part in PCT_SUMS:
        # exact sums; each percentage rounded to 12 decimals is off by at
        # most 0.5e-12, so a group of n sums to 100 within n x 0.5e-12 (a
        # brand with thousands of product types exceeds 1e-9 legitimately)
        sums, counts = {}, {}
        rows = doc.get(view)
        if not isinstance(rows, list):
            continue
        try:
            for r in rows:
                v = num(r.get(col))
                if v is None:
                    continue
                k = tuple(r.get(c) for c in part)
                sums[k] = sums.get(k, decimal.Decimal(0)) + decimal.Decimal(str(v))
                counts[k] = counts.get(k, 0) + 1
        except (ValueError, AttributeError, decimal.InvalidOperation) as e:
            out.append("%s %s.%s: %s" % (label, view, col, e))
            continue
        for k, s in sums.items():
            if abs(s - 100) > max(decimal.Decimal("1e-9"), counts[k] * decimal.Decimal("0.5e-12")):
                where = " for %s" % key_repr(k) if part else ""
                out.append("%s %s.%s sums to %r%s" % (label, view, col, s, where))
    return out


class Tap:
    def __init__(self):
        self.n = self.failed = 0

    def check(self, ok, name, diffs=()):
        self.n += 1
        if ok:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            shown = list(diffs)[:5]
            more = " ..." if len(diffs) > 5 else ""
            print("not ok %d - %s (%s%s)" % (self.n, name, "; ".join(shown), more))


def compare(ref, got, exact_pct=True):
    tap = Tap()
    try:
        same = count_equal(ref["rows"], got.get("rows"))
        diffs = [] if same else ["ref %s got %s" % (ref["rows"], got.get("rows"))]
    except ValueError as e:
        diffs = [str(e)]
    tap.check(not diffs, "rows: %d" % ref["rows"], diffs)

    rc, gc = ref["cleaned_checks"], got.get("cleaned_checks")
    diffs = []
    if not isinstance(gc, dict):
        diffs.append("cleaned_checks missing or not an object")
    else:
        for name in rc:
            if name not in gc:
                diffs.append("%s missing" % name)
                continue
            try:
                same = close(rc[name], gc[name]) if name in FLOAT_CHECKS \
                    else count_equal(rc[name], gc[name])
            except ValueError:
                same = False
            if not same:
                diffs.append("%s: ref %s got %s" % (name, rc[name], gc[name]))
        diffs += ["unexpected %s" % n for n in gc if n not in rc]
    tap.check(not diffs, "cleaned_checks: %d aggregates of luxe.listings" % len(rc), diffs)

    for name, _, _, _ in VIEWS:
        if name not in got:
            tap.check(False, name, ["missing from the psql JSON"])
            continue
        diffs = compare_view(name, ref[name], got[name])
        tap.check(not diffs, "%s: %d rows" % (name, len(ref[name])), diffs)

    rows = got.get("sales_by_ship_interval")
    if isinstance(rows, list):
        order = [r.get("usually_ships_within") for r in rows if isinstance(r, dict)]
        want = [r["usually_ships_within"] for r in ref["sales_by_ship_interval"]]
        tap.check(order == want, "sales_by_ship_interval order: %s" % ", ".join(want),
                  ["got %s" % order])
    else:
        tap.check(False, "sales_by_ship_interval order", ["no rows"])

    diffs = pct_sum_problems(ref, "ref") + pct_sum_problems(got, "got")
    tap.check(not diffs, "percentages sum to 100 within 1e-9 (ref and got)", diffs)

    if exact_pct:
        diffs = exact_pct_problems(ref, got)
        tap.check(not diffs, "percentages are the exact shares rounded half away from zero to 12 decimals",
                  diffs)

    print("pipeline: %d passed, %d failed" % (tap.n - tap.failed, tap.failed))
    return tap.failed == 0


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("compute", help="compute REF.json from a CSV")
    p.add_argument("csv")
    p.add_argument("--out", required=True)
    p = sub.add_parser("compare", help="compare REF.json with PostgreSQL's JSON")
    p.add_argument("ref")
    p.add_argument("--psql-json", required=True)
    p.add_argument("--unrounded-pct", action="store_true",
                   help="the percentages are not rounded (a peer such as pandas): compare them to 1e-9 only")
    p = sub.add_parser("sql", help="print the PostgreSQL statement producing GOT.json")
    p.add_argument("--view", choices=["cleaned_checks"] + [v[0] for v in VIEWS])
    p.add_argument("--schema", default="luxe",
                   help="schema of listings and the four insight relations (default luxe)")
    a = ap.parse_args()

    if a.cmd == "sql":
        print(pg_view_select(a.view, a.schema) if a.view else pg_document_sql(a.schema))
        return 0
    if a.cmd == "compute":
        doc, (t_load, t_clean, t_ins) = compute(a.csv)
        problems = pct_sum_problems(doc, "ref")
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print("reference: %d rows; load %.3f s, clean %.3f s, insights %.3f s; wrote %s"
              % (doc["rows"], t_load, t_clean, t_ins, a.out))
        for p in problems:
            print("self-check failed: %s" % p, file=sys.stderr)
        return 1 if problems else 0
    with open(a.ref, encoding="utf-8") as f:
        ref = json.load(f)
    with open(a.psql_json, encoding="utf-8") as f:
        # exact decimals: percentages are compared digit for digit
        got = json.load(f, parse_float=decimal.Decimal)
    if not isinstance(got, dict):
        print("not ok 1 - %s is not a JSON object" % a.psql_json)
        print("pipeline: 0 passed, 1 failed")
        return 1
    return 0 if compare(ref, got, exact_pct=not a.unrounded_pct) else 1


if __name__ == "__main__":
    sys.exit(main())

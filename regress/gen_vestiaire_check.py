#!/usr/bin/env python3
"""
gen_vestiaire_check.py -- self-test of regress/gen_vestiaire.

Generates a file with the given --rows/--seed into a temporary directory,
parses it with the csv module and checks the format contract documented in
`gen_vestiaire --help` (and docs/PROTOCOL.md section 5): header, 36 fields
on every record, row count, booleans, float/int spelling, value sets, null
placement, quoting (re-serialising with csv.writer must give the same
bytes), seller/brand consistency, and determinism (same seed twice, a
different seed, --jobs 1 vs --jobs 2).  If pandas is importable it also
checks pd.read_csv dtypes and that DataFrame.to_csv(index=False) reproduces
the file byte for byte.

Prints one "ok N - ..." / "not ok N - ..." line per check and a final
"gen: P passed, F failed"; exits 1 if anything failed.

Standard library only (pandas is optional).

Copyright (c) 2026, luxe_fdw authors

IDENTIFICATION regress/gen_vestiaire_check.py
"""

import argparse
import csv
import io
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen_vestiaire")

sys.path.insert(0, HERE)
from vestiaire_schema import COLUMN_NAMES as COLUMNS  # noqa: E402
BOOL_COLS = ["sold", "reserved", "available", "in_stock", "should_be_gone"]
INT_COLS = ["product_id", "brand_id", "seller_id"]
FLOAT_COLS = ["product_like_count", "price_usd", "seller_price",
              "seller_earning", "buyers_fees", "seller_products_sold",
              "seller_num_products_listed", "seller_community_rank",
              "seller_num_followers", "seller_pass_rate"]
NULLABLE = ["product_description", "product_keywords", "product_category",
            "product_season", "product_material", "product_color",
            "has_cross_border_fees", "buyers_fees", "seller_username",
            "usually_ships_within"]
VALUE_SETS = {
    "usually_ships_within": {"1-2 days", "3-5 days", "6-7 days",
                             "More than 7 days", ""},
    "seller_badge": {"Common", "Expert", "Trusted"},
    "product_condition": {"Very good condition", "Never worn",
                          "Good condition", "Never worn, with tag",
                          "Fair condition"},
    "product_gender_target": {"Women", "Men"},
    "product_category": {"Men Clothing", "Women Clothing",
                         "Women Accessories", "Women Shoes", "Men Shoes",
                         "Men Accessories", ""},
    "product_season": {"All seasons", "Autumn / Winter", "Spring / Summer", ""},
    "warehouse_name": {"Tourcoing", "Brooklyn", "Crawley", "Hong Kong",
                       "Paris", "New York"},
    "has_cross_border_fees": {"True", ""},
}
PANDAS_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN",
             "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN",
             "None", "n/a", "nan", "null"}

FLOAT_RE = re.compile(r"^[0-9]+\.[0-9]+$")
INT_RE = re.compile(r"^[0-9]+$")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, name, detail=""):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s%s" % (self.n, name,
                                         (": " + detail) if detail else ""))
        sys.stdout.flush()
        return cond


def generate(path, rows, seed, jobs=None):
    cmd = [sys.executable, GEN, "--rows", str(rows), "--seed", str(seed),
           "--out", path]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    subprocess.run(cmd, check=True)


def norm(s):
    """lower(trim(s)) as PostgreSQL does in the C locale: spaces only,
    ASCII letters only (the generator's variants are built to match)."""
    s = s.strip(" ")
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in s)


def first_bad(values, pred):
    for i, v in enumerate(values):
        if not pred(v):
            return "row %d: %r" % (i + 1, v)
    return None


def check_file(t, path, rows):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")      # raises on invalid UTF-8
    t.check(not raw.startswith(b"\xef\xbb\xbf"), "no BOM")
    t.check(raw.endswith(b"\n"), "file ends with a newline")

    records = list(csv.reader(io.StringIO(text, newline="")))
    header, data = records[0], records[1:]
    t.check(header == COLUMNS, "header is the 36 columns in order",
            repr(header))
    widths = {}
    for r in data:
        widths[len(r)] = widths.get(len(r), 0) + 1
    t.check(list(widths) in ([36], []), "every record has 36 fields",
            repr(widths))
    t.check(len(data) == rows, "row count = %d" % rows, "got %d" % len(data))
    if list(widths) not in ([36], []):
        return

    # pandas to_csv quoting: re-serialising must reproduce the bytes
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerows(records)
    t.check(buf.getvalue() == text,
            "csv.writer(lineterminator='\\n') reproduces the file byte for byte")

    cols = {name: [r[i] for r in data] for i, name in enumerate(COLUMNS)}

    for c in BOOL_COLS:
        bad = first_bad(cols[c], lambda v: v in ("True", "False"))
        t.check(bad is None, "%s is only True/False" % c, bad or "")
    for c in INT_COLS:
        bad = first_bad(cols[c], INT_RE.match)
        t.check(bad is None, "%s is an integer" % c, bad or "")
    for c in FLOAT_COLS:
        bad = first_bad(cols[c], lambda v: v == "" or (
            FLOAT_RE.match(v) and repr(float(v)) == v))
        t.check(bad is None, "%s is written as a float repr ('34.0')" % c,
                bad or "")
    for c, allowed in VALUE_SETS.items():
        bad = first_bad(cols[c], lambda v: v in allowed)
        t.check(bad is None, "%s values in the documented set" % c, bad or "")

    for c in COLUMNS:
        if c not in NULLABLE:
            n = cols[c].count("")
            t.check(n == 0, "%s has no empty fields" % c, "%d empty" % n)
    if rows >= 1000:
        for c in NULLABLE:
            n = cols[c].count("")
            t.check(n > 0, "%s has nulls (%d)" % (c, n))
    t.check(all((a == "") == (b == "") for a, b in
                zip(cols["has_cross_border_fees"], cols["buyers_fees"])),
            "buyers_fees empty exactly where has_cross_border_fees is")
    t.check(all((a == "") == (b == "") for a, b in
                zip(cols["product_keywords"], cols["product_category"])),
            "product_keywords empty exactly where product_category is")
    na_like = [(c, v) for c in COLUMNS for v in cols[c]
               if v != "" and v in PANDAS_NA]
    t.check(not na_like, "no non-null value is a pandas NA token",
            repr(na_like[:3]))

    ids = [int(v) for v in cols["product_id"]]
    t.check(all(a > b for a, b in zip(ids, ids[1:])) and
            (not ids or ids[0] <= 43247626) and (not ids or ids[-1] > 0),
            "product_id strictly descending from <= 43247626, unique")

    prices_ok = True
    for p, sp, se, bf in zip(cols["price_usd"], cols["seller_price"],
                             cols["seller_earning"], cols["buyers_fees"]):
        p, sp, se = round(float(p) * 100), round(float(sp) * 100), \
            round(float(se) * 100)
        if not (2000 <= p <= 2000000 and 0.79 * p <= sp <= 0.91 * p
                and se == (sp * 85 + 50) // 100
                and (bf == "" or round(float(bf) * 100) == p - sp)):
            prices_ok = False
            break
    t.check(prices_ok, "prices: 20..20000, seller_price 0.8-0.9 of price, "
            "earning = 0.85*seller_price, fees = price - seller_price")

    # seller attributes are fixed per seller (country after lower(trim()))
    seller = {}
    consistent = True
    for sid, user, country, badge, *stats in zip(
            cols["seller_id"], cols["seller_username"], cols["seller_country"],
            cols["seller_badge"], cols["seller_products_sold"],
            cols["seller_num_products_listed"], cols["seller_community_rank"],
            cols["seller_num_followers"], cols["seller_pass_rate"]):
        key = (norm(country), badge, tuple(stats))
        old = seller.setdefault(sid, [key, set()])
        if old[0] != key:
            consistent = False
            break
        if user:
            old[1].add(user)
    consistent = consistent and all(len(v[1]) <= 1 for v in seller.values())
    t.check(consistent, "seller_id determines username, country, badge, stats")
    if rows >= 10000:
        t.check(len(seller) > rows // 20,
                "distinct sellers is meaningful (%d)" % len(seller))

    brand = {}
    ok = True
    for bid, bname, burl in zip(cols["brand_id"], cols["brand_name"],
                                cols["brand_url"]):
        key = (norm(bname), burl)
        if brand.setdefault(bid, key) != key:
            ok = False
            break
    t.check(ok, "brand_id determines lower(trim(brand_name)) and brand_url")
    t.check(all(re.match(r"^/brand/[a-z0-9-]+/$", u) for u in cols["brand_url"]),
            "brand_url looks like /brand/miu-miu/")
    if rows >= 10000:
        t.check(len(brand) >= 60, "at least 60 brands (%d)" % len(brand))
        t.check(any(v != v.strip(" ") for v in cols["brand_name"]) and
                any(v != v.strip(" ") for v in cols["seller_country"]),
                "whitespace variants present (brand_name, seller_country)")

    desc = cols["product_description"]
    if rows >= 1000:
        t.check(any("\n" in v for v in desc), "a quoted LF exists")
        t.check(any("\r\n" in v for v in desc), "a quoted CRLF exists")
        t.check(b'"Never worn, with tag"' in raw, "a quoted comma exists")
        t.check(any('"' in v for v in desc), "a doubled quote exists")
        t.check(any(ord(ch) > 127 for v in desc[:1000] + cols["brand_name"]
                    for ch in v), "non-ASCII text exists")
        t.check(any("\t" in v for v in desc) and any("  " in v for v in desc),
                "tabs and runs of spaces in descriptions")
    n_sold = cols["sold"].count("True")
    if rows >= 100000:
        t.check(100 <= n_sold <= rows // 50,
                "sold rate gives a few hundred per 100k (%d)" % n_sold)
        avg = len(raw) / max(1, rows)
        t.check(540 <= avg <= 640, "average row size ~590 bytes (%.1f)" % avg)
    return raw


def check_pandas(t, path, rows):
    try:
        import pandas as pd
    except ImportError:
        t.check(True, "pandas checks # skip pandas not importable")
        return
    df = pd.read_csv(path)
    t.check(df.shape == (rows, 36), "pandas shape (%d, 36)" % rows,
            repr(df.shape))
    want = {}
    for c in BOOL_COLS:
        want[c] = "bool"
    for c in FLOAT_COLS:
        want[c] = "float64"
    for c in INT_COLS:
        want[c] = "int64"
    want["has_cross_border_fees"] = "object"
    bad = {c: str(df[c].dtype) for c, d in want.items()
           if str(df[c].dtype) != d}
    t.check(not bad, "pandas dtypes: bool(5) float64(10) int64(3), "
            "has_cross_border_fees object", repr(bad))
    counts = df.dtypes.astype(str).value_counts().to_dict()
    t.check(counts == {"object": 18, "float64": 10, "bool": 5, "int64": 3},
            "pandas dtype totals as the real file", repr(counts))
    df2 = pd.read_csv(path, float_precision="round_trip")
    out = df2.to_csv(index=False)
    with open(path, encoding="utf-8", newline="") as f:
        same = f.read() == out
    t.check(same, "pandas to_csv(index=False) round trip is byte-identical")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-pandas", action="store_true",
                    help="skip the optional pandas checks")
    args = ap.parse_args()

    t = Tap()
    with tempfile.TemporaryDirectory(prefix="gen_vestiaire.") as tmp:
        a = os.path.join(tmp, "a.csv")
        generate(a, args.rows, args.seed)
        raw = check_file(t, a, args.rows)

        b = os.path.join(tmp, "b.csv")
        generate(b, args.rows, args.seed)
        with open(b, "rb") as f:
            t.check(f.read() == raw, "same --rows/--seed gives identical bytes")
        generate(b, args.rows, args.seed, jobs=1)
        with open(b, "rb") as f:
            t.check(f.read() == raw, "--jobs 1 and the default give identical "
                    "bytes")
        generate(b, args.rows, args.seed + 1)
        with open(b, "rb") as f:
            other = f.read()
        if args.rows > 0:
            t.check(other != raw, "a different seed gives different bytes")
        os.unlink(b)

        if not args.no_pandas:
            check_pandas(t, a, args.rows)

    print("gen: %d passed, %d failed" % (t.n - t.failed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""DuckDB as the speed peer of the luxe_fdw benchmarks (read_csv + SQL on
the same CSV file), through bench/duckdb/pipeline.mjs.

  from duckdb_peer import run
  seconds, result = run("pipeline", "/tmp/v.csv", "/tmp/v.duckdb")

run(step, csv, db, threads=2) runs one step -- count, brand_avg, pipeline or
insights (see bench/duckdb/README) -- in a fresh node process and returns
(seconds, result): seconds is the wall-clock time the script measured
around its statements (total_seconds: read+clean+persist and the four
insights for pipeline; opening the database and starting node are not in
it), result the script's JSON line as a dict, whose "result" key holds what
it wrote to --out (for pipeline and insights a GOT.json-shaped document that
regress/tools/pipeline_reference.py compare accepts) and "wall_seconds" the whole
process.  A driver can interleave these calls with luxe_fdw runs.  The node
modules are installed (npm ci, else npm install) in bench/duckdb on first
use.

Command line
  duckdb_peer.py run STEP CSV [--db FILE.duckdb] [--threads N]
      print the JSON line of one step
  duckdb_peer.py verify CSV [--db FILE.duckdb] [--threads N]
      check DuckDB against the independent reference: edge cases of the
      CSV reading and cleaning rules (a small file of its own), then
      pipeline_reference.py compute on CSV vs --step pipeline (counts
      exactly, other numbers to 1e-9 relative, 57 aggregates of the
      cleaned table), the percentages exactly as luxe.pct from the
      reference's counts, and --step insights agreeing with it.
      Prints "ok N - ..." lines and "duckdb: P passed, F failed"; exits 1
      on failure.

Standard library only.
"""
import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_DIR = os.path.join(HERE, "duckdb")
SCRIPT = os.path.join(PEER_DIR, "pipeline.mjs")
REGRESS = os.path.join(HERE, "..", "regress")
sys.path.insert(0, os.path.join(REGRESS, "tools"))
from vestiaire_schema import COLUMN_NAMES  # noqa: E402

STEPS = ("count", "brand_avg", "pipeline", "insights")
PCT_SCALE = 10 ** 12


def ensure_modules():
    """Install bench/duckdb's node modules if they are missing."""
    if os.path.isdir(os.path.join(PEER_DIR, "node_modules", "@duckdb", "node-api")):
        return
    quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
    for cmd in (["npm", "ci"] + quiet, ["npm", "install"] + quiet):
        if subprocess.run(cmd, cwd=PEER_DIR, stdout=subprocess.DEVNULL).returncode == 0:
            return
    raise RuntimeError("could not install the node modules of %s" % PEER_DIR)


def run(step, csv, db, threads=2, checks=None, db_mode="fresh"):
    """Run one step of bench/duckdb/pipeline.mjs: (seconds, result).
    checks is an optional list of (name, SQL expression) aggregates of the
    cleaned table to add to the document as "cleaned_checks"; db_mode
    "replace" keeps an existing database and replaces its tables."""
    if step not in STEPS:
        raise ValueError("step must be one of %s" % ", ".join(STEPS))
    ensure_modules()
    with tempfile.TemporaryDirectory(prefix="duckdb_peer.") as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = ["node", SCRIPT, "--step", step, "--threads", str(threads), "--out", out, "--db-mode", db_mode]
        if csv is not None:
            cmd += ["--csv", csv]
        if db is not None:
            cmd += ["--db", db]
        if checks:
            path = os.path.join(tmp, "checks.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump([list(c) for c in checks], f)
            cmd += ["--checks", path]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), p.returncode,
                                                           p.stderr.strip()))
        result = json.loads(p.stdout.strip().splitlines()[-1])
        with open(out, encoding="utf-8") as f:
            result["result"] = json.load(f)
    result["wall_seconds"] = wall
    return result["total_seconds"], result


# ---------------------------------------------------------------------------
# verify

def pct(part, whole):
    """luxe.pct: 100 * part / whole, half away from zero, 12 decimals."""
    if whole == 0:
        return None
    q, r = divmod(abs(part) * 100 * PCT_SCALE, abs(whole))
    if 2 * r >= abs(whole):
        q += 1
    sign = "-" if (part < 0) != (whole < 0) and q else ""
    return "%s%d.%012d" % ((sign,) + divmod(q, PCT_SCALE))


def expected_pcts(ref):
    """{(view, key...): {column: luxe.pct string}} from the reference's counts."""
    out = {}
    total = sum(r["sellers"] for r in ref["sellers_by_country"])
    for r in ref["sellers_by_country"]:
        out[("sellers_by_country", r["seller_country"])] = {"share_pct": pct(r["sellers"], total)}
    per_brand = {}
    for r in ref["product_types_by_brand"]:
        per_brand[r["brand_name"]] = per_brand.get(r["brand_name"], 0) + r["listings"]
    for r in ref["product_types_by_brand"]:
        out[("product_types_by_brand", r["brand_name"], r["product_type"])] = {
            "pct": pct(r["listings"], per_brand[r["brand_name"]])}
    sold = sum(r["sold"] for r in ref["sales_by_ship_interval"])
    for r in ref["sales_by_ship_interval"]:
        out[("sales_by_ship_interval", r["usually_ships_within"])] = {
            "share_pct": pct(r["sold"], sold),
            "sell_through_pct": pct(r["sold"], r["listings"])}
    return out


def exact_pct_diffs(ref, got):
    want = expected_pcts(ref)
    keys = {"sellers_by_country": ["seller_country"],
            "product_types_by_brand": ["brand_name", "product_type"],
            "sales_by_ship_interval": ["usually_ships_within"]}
    diffs = []
    seen = 0
    for view, cols in keys.items():
        for r in got.get(view, []):
            k = (view,) + tuple(r[c] for c in cols)
            for col, w in want.get(k, {}).items():
                seen += 1
                if r.get(col) != w:
                    diffs.append("%s %s: want %s got %r" % (k, col, w, r.get(col)))
    if seen != sum(len(v) for v in want.values()):
        diffs.append("%d of %d percentages found" % (seen, sum(len(v) for v in want.values())))
    return diffs


def squish(s):
    """luxe.squish over the UTF-8 bytes: trim [\\t\\n\\v\\f\\r ], collapse
    each inner run of them to one space."""
    if s is None:
        return None
    b = s.encode("utf-8").strip(b" \t\n\r\f\v")
    return re.sub(rb"[ \t\n\r\f\v]+", b" ", b).decode("utf-8")


# Edge cases of reading and cleaning: (field name, raw CSV field, expected
# cleaned value).  Each case is one row; other fields come from BASE.
BASE = {
    "product_id": "1", "product_type": "Leather handbag", "product_name": "x",
    "product_description": "d", "product_keywords": "k",
    "product_gender_target": "Women", "product_category": "Women Accessories",
    "product_season": "All seasons", "product_condition": "Never worn",
    "product_like_count": "3.0", "sold": "False", "reserved": "False",
    "available": "True", "in_stock": "False", "should_be_gone": "False",
    "brand_id": "7", "brand_name": "Chanel", "brand_url": "/brand/chanel/",
    "product_material": "Leather", "product_color": "Black",
    "price_usd": "100.5", "seller_price": "90.0", "seller_earning": "76.5",
    "seller_badge": "Common", "has_cross_border_fees": "True",
    "buyers_fees": "10.5", "warehouse_name": "Tourcoing", "seller_id": "5",
    "seller_username": "u", "usually_ships_within": "1-2 days",
    "seller_country": "France", "seller_products_sold": "1.0",
    "seller_num_products_listed": "2.0", "seller_community_rank": "0.0",
    "seller_num_followers": "4.0", "seller_pass_rate": "100.0",
}
DESCS = ["  a\tb  c \r\n", "\x0bx\x0cy\x0b", "no-op", "a\u00a0 b\u3000c",
         " \t\r\n ", "Zoë – “quoted” 日本", "tab\t\tand  spaces   end "]
EDGE = (
    [("product_description", '"%s"' % d.replace('"', '""'), squish(d)) for d in DESCS]
    + [("product_description", "", None), ("product_description", '""', ""),
       ("brand_name", "", "unknown"), ("brand_name", '""', ""),
       ("brand_name", "   ", ""), ("brand_name", " LOUIS Vuitton  ", "louis vuitton"),
       ("brand_name", "\tTab kept\t", "\ttab kept\t"), ("brand_name", "HERMÈS", "hermès"),
       ("brand_name", "Sézane ", "sézane"), ("brand_id", "", "unknown"),
       ("brand_url", "", "unknown"), ("seller_country", " ÉCOLE  ", "école"),
       ("product_color", "", None), ("product_condition", '"Never worn, with tag"',
                                      "never worn, with tag"),
       ("product_like_count", "2.5", 2), ("product_like_count", "3.5", 4),
       ("product_like_count", "", 0), ("seller_num_followers", "1e3", 1000),
       ("price_usd", "", 0.0), ("price_usd", "34.0", 34.0),
       ("has_cross_border_fees", "", False), ("sold", "True", True),
       ("usually_ships_within", "", None), ("product_name", '"a ""b"", c\nd"', 'a "b", c\nd'),
       ("seller_username", '""', "")])


def edge_case_diffs(tmp, threads):
    """Run --step pipeline on the EDGE rows; differences from expectations."""
    path = os.path.join(tmp, "edge.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(COLUMN_NAMES) + "\n")
        for i, (col, raw, _) in enumerate(EDGE):
            row = dict(BASE, product_id=str(i + 1))
            row[col] = raw
            f.write(",".join(row[c] for c in COLUMN_NAMES) + "\n")
    cols = sorted({c for c, _, _ in EDGE})
    checks = [("c_" + c, "to_json(list(%s ORDER BY product_id))" % c) for c in cols]
    _, res = run("pipeline", path, os.path.join(tmp, "edge.duckdb"), threads, checks)
    got = {c: json.loads(res["result"]["cleaned_checks"]["c_" + c]) for c in cols}
    diffs = []
    for i, (col, raw, want) in enumerate(EDGE):
        g = got[col][i]
        if g != want or type(g) is not type(want):
            diffs.append("%s from %r: want %r got %r" % (col, raw, want, g))
    return diffs


def verify(csv, db, threads):
    import pipeline_reference as ref_mod

    tap = ref_mod.Tap()
    with tempfile.TemporaryDirectory(prefix="duckdb_peer.") as tmp:
        diffs = edge_case_diffs(tmp, threads)
        tap.check(not diffs, "reading and cleaning edge cases (%d rows)" % len(EDGE), diffs)
        db = db or os.path.join(tmp, "verify.duckdb")
        ref, _ = ref_mod.compute(csv)
        checks = [(n, e) for n, _, e in ref_mod.CHECKS]
        _, res = run("pipeline", csv, db, threads, checks)
        got = res["result"]
        print("# duckdb pipeline: %s" % json.dumps(res["seconds"]))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            ok = ref_mod.compare(ref, got)
        for line in buf.getvalue().splitlines():
            print("#   " + line)
        tap.check(ok, "pipeline_reference.py compare with the reference (%d rows)"
                  % ref["rows"])
        diffs = exact_pct_diffs(ref, got)
        tap.check(not diffs, "percentages equal luxe.pct of the reference's counts, "
                  "as 12-decimal strings", diffs)
        # avg() sums in parallel, in no fixed order: the last bits may differ
        _, res2 = run("insights", None, db, threads, checks)
        with contextlib.redirect_stdout(io.StringIO()):
            same = ref_mod.compare(got, res2["result"])
        tap.check(same and not exact_pct_diffs(ref, res2["result"]),
                  "--step insights agrees with --step pipeline (floats to 1e-9)")
    print("duckdb: %d passed, %d failed" % (tap.n - tap.failed, tap.failed))
    return tap.failed == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="run one step and print its JSON line")
    p.add_argument("step", choices=STEPS)
    p.add_argument("csv")
    p.add_argument("--db")
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("verify", help="compare DuckDB with pipeline_reference.py")
    p.add_argument("csv")
    p.add_argument("--db")
    p.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.cmd == "run":
        _, res = run(a.step, a.csv if a.step != "insights" else None, a.db, a.threads)
        res.pop("result")
        print(json.dumps(res))
        return 0
    return 0 if verify(a.csv, a.db, a.threads) else 1


if __name__ == "__main__":
    sys.exit(main())

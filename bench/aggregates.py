#!/usr/bin/env python3
"""Benchmark: each C function and aggregate against its plain-SQL equivalent.

Runs on the cleaned luxe.listings of a refreshed pipeline (900k rows by
default: run bench/pipeline.py first in the same cluster, which run.sh
does), serial plans, ROUNDS interleaved rounds, medians and ratios.  Each
pair's two queries must give the same answer (the C aggregate's mean to
1e-12 relative, everything else exactly) or the benchmark fails.  Bar: every
C version faster (ratio < 1).
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Bars  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))
WS = "E' \\t\\n\\r\\f' || chr(11)"
# (name, C query, SQL query): both return the same columns, in the same order
PAIRS = [
    ("squish(description)",
     "SELECT sum(length(luxe.squish(product_description))) FROM luxe.listings",
     "SELECT sum(length(regexp_replace(btrim(product_description, %s), '[' || %s || ']+', ' ', 'g'))) "
     "FROM luxe.listings" % (WS, WS)),
    ("lower_trim(brand_name)",
     "SELECT sum(length(luxe.lower_trim(brand_name))) FROM luxe.listings",
     "SELECT sum(length(lower(btrim(brand_name)))) FROM luxe.listings"),
    ("distinct_count(seller_id)",
     "SELECT seller_country, luxe.distinct_count(seller_id) FROM luxe.listings GROUP BY 1 ORDER BY 1",
     "SELECT seller_country, count(DISTINCT seller_id) FROM luxe.listings GROUP BY 1 ORDER BY 1"),
    ("price_summary(price_usd)",
     "SELECT brand_name, (s).listings, (s).mean, (s).min, (s).p25, (s).median, (s).p75, (s).max "
     "FROM (SELECT brand_name, luxe.price_summary(price_usd) AS s FROM luxe.listings GROUP BY 1) t ORDER BY 1",
     "SELECT brand_name, n, mean, mn, q[1], q[2], q[3], mx FROM (SELECT brand_name, count(price_usd) AS n, "
     "avg(price_usd) AS mean, min(price_usd) AS mn, max(price_usd) AS mx, "
     "percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY price_usd) AS q "
     "FROM luxe.listings GROUP BY 1) t ORDER BY 1"),
    ("pct(part, whole)",
     "SELECT sum(luxe.pct(seller_id % 1000, 1000 + product_like_count)) FROM luxe.listings",
     "SELECT sum(round(100.0 * (seller_id % 1000) / (1000 + product_like_count), 12)) FROM luxe.listings"),
]

def timed(sql):
    """(seconds, output rows) of one serial run."""
    t0 = time.perf_counter()
    out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
                          "-c", "SET max_parallel_workers_per_gather = 0", "-c", sql],
                         capture_output=True, text=True, check=True, timeout=3600).stdout
    return time.perf_counter() - t0, [r.split("|") for r in out.strip().splitlines()]


def same_answer(name, a, b):
    """Exact equality, except the mean of price_summary (column 3) to 1e-12."""
    if len(a) != len(b):
        return "%d rows vs %d" % (len(a), len(b))
    for ra, rb in zip(a, b):
        for i, (x, y) in enumerate(zip(ra, rb)):
            if x == y:
                continue
            if name.startswith("price_summary") and i == 2:
                fx, fy = float(x), float(y)
                if abs(fx - fy) <= 1e-12 * max(abs(fx), abs(fy)):
                    continue
            try:
                if float(x) == float(y):   # the same number printed differently
                    continue
            except ValueError:
                pass
            return "row %s column %d: %r vs %r" % (ra[0], i + 1, x, y)
    return None


def main():
    rows = subprocess.run(["psql", "-X", "-At", "-d", "postgres", "-c", "SELECT count(*) FROM luxe.listings"],
                          capture_output=True, text=True, check=True).stdout.strip()
    print("luxe.listings: %s rows; %d interleaved rounds, medians, serial plans" % (rows, ROUNDS))
    worst = 0.0
    wrong = []
    for name, c_sql, sql in PAIRS:
        _, out_c = timed(c_sql)
        _, out_s = timed(sql)
        why = same_answer(name, out_c, out_s)
        if why:
            wrong.append("%s: %s" % (name, why))
        tc, ts = [], []
        for _ in range(ROUNDS):
            tc.append(timed(c_sql)[0])
            ts.append(timed(sql)[0])
        mc, ms = statistics.median(tc), statistics.median(ts)
        worst = max(worst, mc / ms)
        print("%-26s C %.3f s   SQL %.3f s   ratio %.2f   same answer: %s"
              % (name, mc, ms, mc / ms, "no (%s)" % why if why else "yes"), flush=True)
    bars = Bars()
    bars.check("every pair gives the same answer", len(wrong), "0 differences", not wrong, "%d")
    bars.check("worst ratio C/SQL", worst, "< 1.00", worst < 1)
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

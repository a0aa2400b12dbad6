#!/usr/bin/env python3
"""Benchmark: each C function and aggregate against its plain-SQL equivalent.

Runs on the cleaned luxe.listings of a refreshed pipeline (900k rows by
default: run bench/pipeline.py first in the same cluster, which run.sh
does), serial plans, ROUNDS interleaved rounds, medians and ratios.  Bar:
every C version faster (ratio < 1).
"""
import os
import statistics
import subprocess
import time

ROUNDS = int(os.environ.get("ROUNDS", "5"))
WS = "E' \\t\\n\\r\\f' || chr(11)"
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
     "SELECT brand_name, count(price_usd), avg(price_usd), min(price_usd), "
     "percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY price_usd), max(price_usd) "
     "FROM luxe.listings GROUP BY 1 ORDER BY 1"),
    ("pct(part, whole)",
     "SELECT sum(luxe.pct(seller_id % 1000, 1000 + product_like_count)) FROM luxe.listings",
     "SELECT sum(round(100.0 * (seller_id % 1000) / (1000 + product_like_count), 12)) FROM luxe.listings"),
]


def timed(sql):
    t0 = time.perf_counter()
    subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
                    "-c", "SET max_parallel_workers_per_gather = 0", "-c", sql],
                   capture_output=True, check=True)
    return time.perf_counter() - t0


def main():
    rows = subprocess.run(["psql", "-X", "-At", "-d", "postgres", "-c", "SELECT count(*) FROM luxe.listings"],
                          capture_output=True, text=True, check=True).stdout.strip()
    print("luxe.listings: %s rows; %d interleaved rounds, medians, serial plans" % (rows, ROUNDS))
    worst = 0.0
    for name, c_sql, sql in PAIRS:
        timed(c_sql), timed(sql)
        tc, ts = [], []
        for _ in range(ROUNDS):
            tc.append(timed(c_sql))
            ts.append(timed(sql))
        mc, ms = statistics.median(tc), statistics.median(ts)
        worst = max(worst, mc / ms)
        print("%-26s C %.3f s   SQL %.3f s   ratio %.2f" % (name, mc, ms, mc / ms))
    print("worst ratio C/SQL: %.2f (bar < 1.00): %s" % (worst, "met" if worst < 1 else "NOT met"))


if __name__ == "__main__":
    main()

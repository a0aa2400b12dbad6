#!/usr/bin/env python3
"""Benchmark: luxe_fdw over the emulator vs file_fdw on local disk.

The same generated Vestiaire-shaped file is read by both, interleaved, in
one run; the script prints each query's median time and the ratio
luxe_fdw / file_fdw (bar: <= 1.0).  Needs the environment run.sh sets up.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import COLDEFS, URL, Bars, generate, psql, timed_psql as timed  # noqa: E402

ROWS = int(os.environ.get("ROWS", "900000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def same(a, b):
    """The same rows: fields equal, or floats within 1e-12 of each other
    relatively (a parallel scan adds a group's values in another order
    than a serial one, which may move the last digit of an average)."""
    ra, rb = a.strip().splitlines(), b.strip().splitlines()
    if len(ra) != len(rb):
        return False
    for la, lb in zip(ra, rb):
        fa, fb = la.split("|"), lb.split("|")
        if len(fa) != len(fb):
            return False
        for x, y in zip(fa, fb):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return False
            if abs(fx - fy) > 1e-12 * max(1.0, abs(fx), abs(fy)):
                return False
    return True


def main():
    path = generate(ROWS, 1, "data/bench.csv")
    size = os.path.getsize(path)
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; CREATE EXTENSION IF NOT EXISTS file_fdw;"
         "DROP SERVER IF EXISTS bench_gcs CASCADE; DROP SERVER IF EXISTS bench_file CASCADE;"
         "CREATE SERVER bench_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s');"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER bench_gcs OPTIONS (auth 'none');"
         "CREATE SERVER bench_file FOREIGN DATA WRAPPER file_fdw;"
         "CREATE FOREIGN TABLE b_luxe (%s) SERVER bench_gcs OPTIONS (uri 'gs://vestiaire/data/bench.csv', skip_leading_rows '1');"
         "CREATE FOREIGN TABLE b_file (%s) SERVER bench_file OPTIONS (filename '%s', format 'csv', header 'true');"
         % (URL, COLDEFS, COLDEFS, path))
    queries = [
        ("count(*)", "SELECT count(*) FROM %s"),
        ("avg price by brand", "SELECT brand_name, avg(price_usd) FROM %s GROUP BY 1 ORDER BY 1"),
    ]
    print("file: %d rows, %.0f MB; %d interleaved rounds, medians" % (ROWS, size / 1e6, ROUNDS))
    worst = 0.0
    for label, q in queries:
        t_luxe, t_file = [], []
        timed(q % "b_luxe")
        timed(q % "b_file")           # warm the page cache for both
        for _ in range(ROUNDS):
            a, out_a = timed(q % "b_luxe")
            b, out_b = timed(q % "b_file")
            if not same(out_a, out_b):
                sys.exit("results differ for %s" % label)
            t_luxe.append(a)
            t_file.append(b)
        ml, mf = statistics.median(t_luxe), statistics.median(t_file)
        worst = max(worst, ml / mf)
        print("%-20s luxe_fdw %.3f s   file_fdw %.3f s   ratio %.2f   (%.0f MB/s through luxe_fdw)"
              % (label, ml, mf, ml / mf, size / ml / 1e6))
    # What a bad-record budget costs: every column of every row converted,
    # each row in a subtransaction so that a bad value can be skipped.  A
    # table with a budget is read by one process (see Limitations), so both
    # sides are read serially here: the ratio is the budget's own cost,
    # not that of the parallelism it forgoes.
    psql("CREATE FOREIGN TABLE b_budget (%s) SERVER bench_gcs OPTIONS (uri 'gs://vestiaire/data/bench.csv', "
         "skip_leading_rows '1', max_bad_records '10');"
         "CREATE FOREIGN TABLE b_strict (%s) SERVER bench_gcs OPTIONS (uri 'gs://vestiaire/data/bench.csv', "
         "skip_leading_rows '1', validate_all_columns 'true');" % (COLDEFS, COLDEFS))
    q = "SET max_parallel_workers_per_gather = 0; " + queries[1][1]
    costs = {}
    for name in ("b_budget", "b_strict"):
        t_plain, t_opt = [], []
        timed(q % name)
        for _ in range(ROUNDS):
            a, out_a = timed(q % "b_luxe")
            b, out_b = timed(q % name)
            if not same(out_a, out_b):
                sys.exit("results differ for %s" % name)
            t_plain.append(a)
            t_opt.append(b)
        costs[name] = statistics.median(t_opt) / statistics.median(t_plain)
    print("avg price by brand, serially   max_bad_records '10' / no budget: ratio %.2f;"
          "   validate_all_columns / default: ratio %.2f" % (costs["b_budget"], costs["b_strict"]))
    bars = Bars()
    bars.check("worst ratio luxe_fdw/file_fdw", worst, "<= 1.00", worst <= 1.0)
    bars.check("budget cost (all columns, per-row subtransaction)", costs["b_budget"], "<= 3.00",
               costs["b_budget"] <= 3.0)
    psql("DROP SERVER bench_gcs CASCADE; DROP SERVER bench_file CASCADE")
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

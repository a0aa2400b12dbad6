#!/usr/bin/env python3
"""Benchmark: luxe_fdw over the emulator vs file_fdw on local disk.

The same generated Vestiaire-shaped file is read by both, interleaved, in
one run; the script prints each query's median time and the ratio
luxe_fdw / file_fdw (bar: <= 1.0).  Needs the environment run.sh sets up.
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "regress"))
from vestiaire_schema import COLDEFS  # noqa: E402

ROOT = os.environ["LUXE_ROOT"]
URL = os.environ["LUXE_EMULATOR_URL"]
ROWS = int(os.environ.get("ROWS", "900000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def psql(sql):
    return subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
                           "-c", sql], capture_output=True, text=True, check=True).stdout


def timed(sql):
    t0 = time.perf_counter()
    out = psql(sql)
    return time.perf_counter() - t0, out


def main():
    path = os.path.join(ROOT, "vestiaire", "data", "bench.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print("generating %d rows..." % ROWS, flush=True)
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "regress", "gen_vestiaire"),
                    "--rows", str(ROWS), "--seed", "1", "--out", path], check=True)
    os.chmod(os.path.dirname(path), 0o755)
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
            if out_a != out_b:
                sys.exit("results differ for %s" % label)
            t_luxe.append(a)
            t_file.append(b)
        ml, mf = statistics.median(t_luxe), statistics.median(t_file)
        worst = max(worst, ml / mf)
        print("%-20s luxe_fdw %.3f s   file_fdw %.3f s   ratio %.2f   (%.0f MB/s through luxe_fdw)"
              % (label, ml, mf, ml / mf, size / ml / 1e6))
    print("worst ratio luxe_fdw/file_fdw: %.2f (bar <= 1.00): %s" % (worst, "met" if worst <= 1.0 else "NOT met"))
    psql("DROP SERVER bench_gcs CASCADE; DROP SERVER bench_file CASCADE")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Many small part objects at cloud latency (issue 12, item 5).

A Spark-style output: COUNTS (default "400 4000") part objects of about 30
generated Vestiaire rows each (~17 KB, 7 MB for 400), one wildcard foreign
table over them.  The emulator delays the first byte of every response by
LATENCIES ms (default "0 25 50", POST /_emulator/latency), as a real bucket
answers after tens of milliseconds.  For each count and latency,
SELECT count(*) and sum(price_usd) are timed (median of ROUNDS, default 3,
after one warm-up) and checked against the rows written.  Prints every
time; bar (issue 12): 400 objects at 25 ms in <= 2 s.  Needs the
environment bench/run.sh sets up.
"""
import csv
import io
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import COLDEFS, ROOT, URL, Bars, emulator, psql  # noqa: E402

ROWS_PER_OBJECT = 30
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def write_parts(n):
    """n part objects of ROWS_PER_OBJECT generated rows each, put straight in
    the emulator's root; the total of price_usd (as the scan sums it)."""
    d = os.path.join(ROOT, "vestiaire", "many", str(n))
    os.makedirs(d, exist_ok=True)
    p = subprocess.run([sys.executable, os.path.join(HERE, "..", "regress", "gen_vestiaire"), "--rows",
                        str(n * ROWS_PER_OBJECT), "--seed", "11"],
                       check=True, capture_output=True)
    text = p.stdout.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, rows = rows[0], rows[1:]
    for i in range(n):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows[i * ROWS_PER_OBJECT:(i + 1) * ROWS_PER_OBJECT])
        with open(os.path.join(d, "part-%05d.csv" % i), "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
    # the emulator hashes a file put on its disk at its first listing (GCS
    # does at upload): list once now, outside the timings
    emulator("GET", "/storage/v1/b/vestiaire/o?prefix=many/%d/&maxResults=1000" % n)
    return len(rows)


def timed(sql):
    t0 = time.perf_counter()
    out = psql(sql).strip()
    return time.perf_counter() - t0, out


def main():
    bars = Bars()
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; DROP SERVER IF EXISTS many_gcs CASCADE; "
         "CREATE SERVER many_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s'); "
         "CREATE USER MAPPING FOR CURRENT_USER SERVER many_gcs OPTIONS (auth 'none')" % URL)
    try:
        for n in [int(x) for x in os.environ.get("COUNTS", "400 4000").split()]:
            print("-- %d objects: writing %d rows..." % (n, n * ROWS_PER_OBJECT), flush=True)
            rows = write_parts(n)
            psql("DROP FOREIGN TABLE IF EXISTS many_%d; CREATE FOREIGN TABLE many_%d (%s) SERVER many_gcs "
                 "OPTIONS (uri 'gs://vestiaire/many/%d/*.csv', skip_leading_rows '1')" % (n, n, COLDEFS, n))
            for ms in [float(x) for x in os.environ.get("LATENCIES", "0 25 50").split()]:
                emulator("POST", "/_emulator/latency", {"ms": ms})
                sql = "SELECT count(*) FROM many_%d" % n
                times = []
                for r in range(ROUNDS + 1):
                    s, out = timed(sql)
                    assert int(out) == rows, (out, rows)
                    if r:
                        times.append(s)
                med = statistics.median(times)
                print("%d objects (%.1f MB), %g ms per request: SELECT count(*) %.2f s (%d rows)"
                      % (n, sum(os.path.getsize(os.path.join(ROOT, "vestiaire", "many", str(n), f))
                                for f in os.listdir(os.path.join(ROOT, "vestiaire", "many", str(n)))) / 1e6,
                         ms, med, rows), flush=True)
                if n == 400 and ms == 25:
                    bars.check("400 objects at 25 ms: SELECT count(*) seconds", med, "<= 2.0", med <= 2.0)
    finally:
        emulator("POST", "/_emulator/latency", {"ms": 0})
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

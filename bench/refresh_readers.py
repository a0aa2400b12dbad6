#!/usr/bin/env python3
"""Load: readers of the insight views while the pipeline refreshes.

pgbench with 8 clients runs the four insight queries a dashboard runs (each
view read in full, in 5-second pgbench runs) for as long as CALL
luxe.refresh_pipeline() takes to reload ROWS (default 900000) generated
Vestiaire rows from the GCS emulator and refresh the views, then as long
again with nothing else going on.
Prints the readers' throughput and latency idle and during the refresh,
their ratio, the longest one-second gap with no finished transaction, and
the count of failed transactions.  Bars: no failed transaction, no second
without progress (nothing blocks the readers), and the refresh finishes.
Needs the environment bench/run.sh sets up (default durability).
"""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import COLDEFS, URL, Bars, generate, psql  # noqa: E402

ROWS = int(os.environ.get("ROWS", "900000"))
CLIENTS = int(os.environ.get("CLIENTS", "8"))
PGBENCH = os.path.join(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"), "pgbench")

READERS = """
SELECT count(*), sum(sellers) FROM luxe.sellers_by_country;
SELECT count(*), sum(listings) FROM luxe.brand_prices;
SELECT count(*), sum(listings) FROM luxe.product_types_by_brand;
SELECT count(*), sum(share_pct) FROM luxe.sales_by_ship_interval;
"""


def pgbench(script, seconds):
    """Run pgbench; (transactions, seconds, mean latency ms, failed, per-second tps list)."""
    t0 = time.time()
    p = subprocess.run([PGBENCH, "-n", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), "-P", "1",
                        "-f", script, "postgres"], capture_output=True, text=True)
    took = time.time() - t0
    out = p.stdout + p.stderr
    if p.returncode not in (0, 2):
        sys.exit("pgbench failed:\n" + out[-3000:])
    n = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    lat = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))
    m = re.search(r"number of failed transactions: (\d+)", out)
    failed = int(m.group(1)) if m else 0
    errors = len(re.findall(r"(?m)^pgbench: error", out))
    per_sec = [float(x) for x in re.findall(r"progress: [0-9.]+ s, ([0-9.]+) tps", out)]
    return n, took, lat, failed + errors, per_sec


def readers(script, until=None, seconds=None):
    """pgbench in 5-second runs, for `seconds` or until until() is false;
    (tps, mean latency ms, failed, per-second tps list, seconds)."""
    n = failed = 0
    took = lat_sum = 0.0
    per_sec = []
    while (seconds is not None and took < seconds) or (until is not None and until()):
        r = pgbench(script, 5)
        n += r[0]
        took += r[1]
        lat_sum += r[2] * r[0]
        failed += r[3]
        per_sec += r[4]
    return n / took, lat_sum / max(n, 1), failed, per_sec, took


def main():
    generate(ROWS, 7, "refresh/source.csv")
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; SET client_min_messages = warning;"
         "SELECT luxe.drop_pipeline(); DROP SERVER IF EXISTS rr_gcs CASCADE;"
         "CREATE SERVER rr_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s');"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER rr_gcs OPTIONS (auth 'none');"
         "CREATE FOREIGN TABLE rr_source (%s) SERVER rr_gcs OPTIONS "
         "(uri 'gs://vestiaire/refresh/source.csv', skip_leading_rows '1');"
         "SELECT luxe.setup_pipeline('rr_source')" % (URL, COLDEFS))
    print("first refresh of %d rows..." % ROWS, flush=True)
    psql("CALL luxe.refresh_pipeline()")

    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(READERS)
        script = f.name
    os.chmod(script, 0o644)

    result = {}

    def refresh():
        t = time.time()
        try:
            # (full: with nothing changed the refresh would be skipped)
            psql("CALL luxe.refresh_pipeline(full => true)")
            result["ok"] = True
        except subprocess.CalledProcessError as e:
            result["ok"] = False
            result["error"] = e.stderr
        result["seconds"] = time.time() - t

    th = threading.Thread(target=refresh)
    th.start()
    time.sleep(0.5)
    # the readers run for as long as the refresh does
    busy = readers(script, until=th.is_alive)
    th.join()
    idle = readers(script, seconds=busy[4])

    print("readers idle:             %8.1f tps, mean latency %6.2f ms, %d failed"
          % (idle[0], idle[1], idle[2]))
    print("readers during refresh:   %8.1f tps, mean latency %6.2f ms, %d failed"
          % (busy[0], busy[1], busy[2]))
    print("throughput during / idle: %.2f; slowest second during the refresh: %.0f tps "
          "(idle: %.0f); the refresh took %.1f s under load"
          % (busy[0] / idle[0], min(busy[3]) if busy[3] else 0, min(idle[3]) if idle[3] else 0,
             result.get("seconds", 0)))
    runs = psql("SELECT status, rows_read FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 1").strip()
    bars = Bars()
    bars.check("refresh under load succeeded", 1 if result.get("ok") else 0, "1", bool(result.get("ok")),
               fmt="%d")
    bars.check("failed reader transactions", busy[2], "0", busy[2] == 0, fmt="%d")
    bars.check("seconds without a finished reader transaction", sum(1 for x in busy[3] if x == 0), "0",
               all(x > 0 for x in busy[3]), fmt="%d")
    print("last run: %s" % runs)
    psql("SET client_min_messages = warning; SELECT luxe.drop_pipeline(); DROP SERVER rr_gcs CASCADE")
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""One large GCS object scanned serially and split among parallel workers
(issue 12, items 1 and 6).

Generates one object of ROWS (default 3,400,000: about 2 GB) high-shape
Vestiaire rows and runs, ROUNDS times (default 1), interleaved:

  serial    SELECT count(*) with max_parallel_workers_per_gather = 0
  parallel  the same with 2 workers (the object in ranges of
            luxe_fdw.parallel_range_size, default 8 MB)
  brand     SELECT brand_name, avg(price_usd) ... GROUP BY 1, 2 workers

checks the three agree with the rows written, and prints the medians, the
ratio parallel / serial and, sampled every 50 ms from /proc, the peak
RssAnon (the process's own memory, not the shared buffers it touched) of
each process of the scan: the backend and its parallel workers.  Bar
(issue 12, item 6): every process under 256 MB.  Needs the environment
bench/run.sh sets up (default durability).
"""
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import COLDEFS, ROOT, URL, Bars, psql  # noqa: E402

ROWS = int(os.environ.get("ROWS", "3400000"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
SETTINGS = {
    "serial": "SET max_parallel_workers_per_gather = 0;",
    "parallel": "SET max_parallel_workers_per_gather = 2;",
    "brand": "SET max_parallel_workers_per_gather = 2;",
}
QUERIES = {
    "serial": "SELECT count(*) FROM big_src",
    "parallel": "SELECT count(*) FROM big_src",
    "brand": "SELECT count(*), sum(n) FROM (SELECT brand_name, count(*) AS n, avg(price_usd) "
             "FROM big_src GROUP BY 1) s",
}


class RssSampler(threading.Thread):
    """Peak RssAnon (kB) of every process running a query that contains
    text (a backend and its parallel workers)."""

    def __init__(self, text):
        super().__init__(daemon=True)
        self.prefix, self.peaks, self.done = text, {}, threading.Event()

    def run(self):
        while not self.done.is_set():
            # (psql sends the SET and the query as one string)
            out = psql("SELECT pid, backend_type FROM pg_stat_activity WHERE query LIKE '%%%s%%' "
                       "AND pid <> pg_backend_pid() AND backend_type IN ('client backend', 'parallel worker')"
                       % self.prefix.replace("'", "''"))
            for line in out.splitlines():
                pid, kind = line.split("|", 1)
                try:
                    with open("/proc/%s/status" % pid) as f:
                        for row in f:
                            if row.startswith("RssAnon:"):
                                key = (int(pid), kind)
                                self.peaks[key] = max(self.peaks.get(key, 0), int(row.split()[1]))
                except OSError:
                    pass
            time.sleep(0.05)


def run(name):
    sampler = RssSampler(QUERIES[name])
    sampler.start()
    t0 = time.perf_counter()
    out = psql(SETTINGS[name] + " " + QUERIES[name]).strip().splitlines()[-1]
    seconds = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    return seconds, out, sampler.peaks


def main():
    path = os.path.join(ROOT, "vestiaire", "big", "listings.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print("generating %d rows (high shape)..." % ROWS, flush=True)
    import subprocess
    subprocess.run([sys.executable, os.path.join(HERE, "..", "regress", "gen_vestiaire"), "--rows", str(ROWS),
                    "--seed", "11", "--shape", "high", "--out", path], check=True)
    size = os.path.getsize(path)
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw")
    psql("DROP SERVER IF EXISTS big_gcs CASCADE")
    psql("CREATE SERVER big_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s')" % URL)
    psql("CREATE USER MAPPING FOR CURRENT_USER SERVER big_gcs OPTIONS (auth 'none')")
    psql("CREATE FOREIGN TABLE big_src (%s) SERVER big_gcs OPTIONS "
         "(uri 'gs://vestiaire/big/listings.csv', skip_leading_rows '1')" % COLDEFS)
    plan = psql(SETTINGS["parallel"] + " EXPLAIN (COSTS OFF) " + QUERIES["parallel"])
    split = [line.strip() for line in plan.splitlines() if "GCS Split" in line]
    print("object: %.0f MB; %s" % (size / 1e6, split[0] if split else "no split"), flush=True)
    psql("SELECT count(*) FROM big_src WHERE false")     # the emulator hashes the object at its first listing

    times = {name: [] for name in QUERIES}
    peaks = {name: {} for name in QUERIES}
    answers = {}
    for r in range(ROUNDS):
        for name in QUERIES:
            seconds, out, pk = run(name)
            times[name].append(seconds)
            answers.setdefault(name, out)
            for key, kb in pk.items():
                peaks[name][key[1]] = max(peaks[name].get(key[1], 0), kb)
        print("round %d: serial %.2f s, parallel %.2f s, brand average %.2f s"
              % (r + 1, times["serial"][-1], times["parallel"][-1], times["brand"][-1]), flush=True)

    if not (answers["serial"] == answers["parallel"] == str(ROWS)
            and answers["brand"].split("|")[1] == str(ROWS)):
        raise SystemExit("answers differ: %r" % answers)
    med = {name: statistics.median(t) for name, t in times.items()}
    print("%.0f MB, %d rows: count(*) serial %.2f s, parallel (2 workers) %.2f s (%.2f x serial); "
          "brand average (2 workers) %.2f s"
          % (size / 1e6, ROWS, med["serial"], med["parallel"], med["parallel"] / med["serial"], med["brand"]))
    bars = Bars()
    for name in QUERIES:
        for kind, kb in sorted(peaks[name].items()):
            print("  %s: %s RssAnon peak %d MB" % (name, kind, kb // 1024))
        worst = max(peaks[name].values()) // 1024 if peaks[name] else 0
        bars.check("%s scan of a %.1f GB object, largest process RssAnon (MB)" % (name, size / 1e9),
                   worst, "< 256", worst < 256, fmt="%d")
    psql("DROP SERVER big_gcs CASCADE")
    os.remove(path)
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

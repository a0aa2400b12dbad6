#!/usr/bin/env python3
"""luxe_fdw beside DuckDB, its speed peer, interleaved in one run (issue 12).

For each generator shape (SHAPES, default "default high"), one file of ROWS
(default 900000) generated Vestiaire rows, served by the GCS emulator to
luxe_fdw and read from local disk by DuckDB (read_csv, 2 threads, through
bench/duckdb/pipeline.mjs, see bench/duckdb_peer.py).  After WARMUP
(default 2) runs of both pipelines after setup, reported apart, ROUNDS
times (default 3), interleaved:

  count      SELECT count(*) over the raw file
  brand_avg  SELECT brand_name, avg(price_usd) ... GROUP BY 1 over the raw file
  pipeline   reading, cleaning, the cleaned table persisted and the four
             insights persisted: CALL luxe.refresh_pipeline(full => true)
             against pipeline.mjs --step pipeline, replacing its tables in
             a DuckDB file kept across rounds (CREATE OR REPLACE TABLE)

Before each timed pipeline the machine's dirty pages are written out
(sync), so that neither peer pays for the kernel's writeback of the
other's files or of its own previous round.

Both pipelines' insights are compared with the independent reference
(regress/tools/pipeline_reference.py: counts exactly, floats to 1e-9,
percentages to the digit), and the two queries' answers with each other; a
difference fails the run.  Prints the medians, every ratio luxe_fdw /
DuckDB, luxe_fdw's per-phase breakdown from luxe.pipeline_runs, and the
peak RssAnon (/proc) of the backend running the refresh, sampled every
50 ms.  Bars (issue 12, high shape): count and brand_avg <= 1.5 x DuckDB,
pipeline <= 0.6 x DuckDB, backend RssAnon < 256 MB.  Needs the environment
bench/run.sh sets up (default durability).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import COLDEFS, ROOT, URL, Bars, psql  # noqa: E402
import duckdb_peer  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "regress", "tools"))
import pipeline_reference  # noqa: E402

REFERENCE = os.path.join(HERE, "..", "regress", "tools", "pipeline_reference.py")
ROWS = int(os.environ.get("ROWS", "900000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
WARMUP = int(os.environ.get("WARMUP", "2"))
COUNT = "SELECT count(*) FROM vs_src"
BRAND_AVG = "SELECT count(*), sum(a) FROM (SELECT brand_name, avg(price_usd) AS a FROM vs_src GROUP BY 1) s"


def reference(*args):
    p = subprocess.run([sys.executable, REFERENCE] + list(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("reference %s failed:\n%s%s" % (args[0], p.stdout[-3000:], p.stderr[-1000:]))
    return p.stdout


def timed(sql):
    t0 = time.perf_counter()
    out = psql("SET max_parallel_workers_per_gather = 2; " + sql)
    return time.perf_counter() - t0, out.strip()


class RssSampler(threading.Thread):
    """Peak RssAnon (kB) of the backend whose query starts with prefix."""

    def __init__(self, prefix):
        super().__init__(daemon=True)
        self.prefix, self.peak, self.done = prefix, 0, threading.Event()

    def run(self):
        pid = None
        while not self.done.is_set():
            if pid is None:
                out = psql("SELECT pid FROM pg_stat_activity WHERE query LIKE '%s%%' "
                           "AND pid <> pg_backend_pid() LIMIT 1" % self.prefix).strip()
                pid = int(out) if out else None
            if pid is not None:
                try:
                    with open("/proc/%d/status" % pid) as f:
                        for line in f:
                            if line.startswith("RssAnon:"):
                                self.peak = max(self.peak, int(line.split()[1]))
                except OSError:
                    pid = None
            time.sleep(0.05)


def luxe_pipeline(tmp):
    sampler = RssSampler("CALL luxe.refresh_pipeline")
    sampler.start()
    t0 = time.perf_counter()
    psql("CALL luxe.refresh_pipeline(full => true)")
    took = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    phases = psql("SELECT round(list_seconds::numeric, 2) || ' s listing, ' || round(load_seconds::numeric, 2) "
                  "|| ' s load [' || (SELECT string_agg(replace(key, '_seconds', '') || ' ' || value || ' s', ', ') "
                  "FROM jsonb_each_text(load_phases)) || '], ' || round(refresh_seconds::numeric, 2) "
                  "|| ' s insights' FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 1").strip()
    got = os.path.join(tmp, "luxe.json")
    with open(got, "w", encoding="utf-8") as f:
        f.write(psql(reference("sql")))
    return took, phases, sampler.peak, got


def main():
    bars = Bars()
    for shape in os.environ.get("SHAPES", "default high").split():
        path = os.path.join(ROOT, "vestiaire", "vs", "%s.csv" % shape)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        print("-- shape %s: generating %d rows..." % (shape, ROWS), flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "..", "regress", "gen_vestiaire"), "--rows", str(ROWS),
                        "--seed", "7", "--shape", shape, "--out", path], check=True)
        # (the emulator hashes a fresh file at its first listing; GCS at upload)
        with urllib.request.urlopen("%s/storage/v1/b/vestiaire/o?prefix=vs/" % URL, timeout=600) as r:
            r.read()
        tmp = tempfile.mkdtemp(prefix="vs_duckdb.")
        ref = os.path.join(tmp, "ref.json")
        print("computing the reference insights...", flush=True)
        reference("compute", path, "--out", ref)
        psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; SET client_min_messages = warning; "
             "SELECT luxe.drop_pipeline(); DROP SERVER IF EXISTS vs_gcs CASCADE; "
             "CREATE SERVER vs_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s'); "
             "CREATE USER MAPPING FOR CURRENT_USER SERVER vs_gcs OPTIONS (auth 'none'); "
             "CREATE FOREIGN TABLE vs_src (%s) SERVER vs_gcs OPTIONS "
             "(uri 'gs://vestiaire/vs/%s.csv', skip_leading_rows '1'); "
             "SELECT luxe.setup_pipeline('vs_src')" % (URL, COLDEFS, shape))
        t = {k: [] for k in ("duck_count", "luxe_count", "duck_avg", "luxe_avg", "duck_pipe", "luxe_pipe")}
        phases, rss, duck_phases = [], [], []
        # DuckDB's pipeline replaces its tables in one database file kept
        # across rounds, as luxe_fdw's replaces its tables
        pipe_db = os.path.join(tmp, "pipeline.duckdb")

        def pipelines(label):
            """Both pipelines, interleaved; their seconds, checked."""
            # (before each timed pipeline, the dirty pages of the steps
            # before it are written out: neither peer pays for the kernel's
            # writeback of the other's files, or of its own previous round)
            os.sync()
            ds, res = duckdb_peer.run("pipeline", path, pipe_db,
                                      checks=[(n, e) for n, _, e in pipeline_reference.CHECKS], db_mode="replace")
            duck_json = os.path.join(tmp, "duck.json")
            with open(duck_json, "w", encoding="utf-8") as f:
                json.dump(res["result"], f)
            reference("compare", ref, "--psql-json", duck_json)
            os.sync()
            ls, ph, peak, got = luxe_pipeline(tmp)
            reference("compare", ref, "--psql-json", got)
            print("%s: both pipelines gave the reference's insights; pipeline DuckDB %.2f s, "
                  "luxe_fdw %.2f s (%s)" % (label, ds, ls, ph), flush=True)
            return ds, res, ls, ph, peak

        # The first runs after setup allocate the storage the next ones
        # write over (luxe_fdw keeps the file a full reload drops for the
        # next one, so it alternates between two; DuckDB reuses the blocks
        # of the tables it replaces): reported, not the steady state the
        # bars are about, which a scheduled pipeline runs in.
        first = []
        for w in range(WARMUP):
            ds, _, ls, _, peak = pipelines("run %d after setup" % (w + 1))
            first.append("%d: DuckDB %.2f s, luxe_fdw %.2f s (%.2f)" % (w + 1, ds, ls, ls / ds))
            rss.append(peak)
        for rnd in range(ROUNDS):
            db = os.path.join(tmp, "vs.duckdb")
            s, res = duckdb_peer.run("count", path, db)
            t["duck_count"].append(s)
            s, out = timed(COUNT)
            t["luxe_count"].append(s)
            assert int(out) == ROWS == int(res["result"]["count"]), (out, res["result"])
            s, res = duckdb_peer.run("brand_avg", path, db)
            t["duck_avg"].append(s)
            s, out = timed(BRAND_AVG)
            t["luxe_avg"].append(s)
            assert int(out.split("|")[0]) == len(res["result"]["brand_avg"]), (out, len(res["result"]["brand_avg"]))
            for f in (db, db + ".wal"):
                if os.path.exists(f):
                    os.unlink(f)
            # (the cleaned table's 57 check aggregates are computed after
            # the timed statements)
            ds, res, ls, ph, peak = pipelines("round %d" % (rnd + 1))
            t["duck_pipe"].append(ds)
            duck_phases.append(res)
            t["luxe_pipe"].append(ls)
            phases.append(ph)
            rss.append(peak)
        m = {k: statistics.median(v) for k, v in t.items()}
        d = duck_phases[-1]
        print("%s shape, %d rows, %.0f MB: count: DuckDB %.2f s, luxe_fdw %.2f s; brand avg: DuckDB %.2f s, "
              "luxe_fdw %.2f s; pipeline: DuckDB %.2f s (%s), luxe_fdw %.2f s (%s); luxe_fdw backend RssAnon "
              "peak %.0f MB"
              % (shape, ROWS, os.path.getsize(path) / 1e6, m["duck_count"], m["luxe_count"], m["duck_avg"],
                 m["luxe_avg"], m["duck_pipe"],
                 ", ".join("%s %.2f s" % (k, v) for k, v in d["seconds"].items() if k != "read_clean_persist"),
                 m["luxe_pipe"], phases[-1], max(rss) / 1024), flush=True)
        if first:
            print("%s shape, runs after setup (not in the bars): %s" % (shape, "; ".join(first)), flush=True)
        strict = shape == "high"
        for label, a, b, limit in (("count(*)", "luxe_count", "duck_count", 1.5),
                                   ("brand average", "luxe_avg", "duck_avg", 1.5),
                                   ("pipeline end to end", "luxe_pipe", "duck_pipe", 0.6)):
            ratio = m[a] / m[b]
            if strict:
                bars.check("%s shape: %s, luxe_fdw / DuckDB" % (shape, label), ratio, "<= %.1f" % limit,
                           ratio <= limit)
            else:
                print("%s shape: %s, luxe_fdw / DuckDB %.2f" % (shape, label, ratio), flush=True)
        bars.check("%s shape: refresh backend RssAnon (MB)" % shape, max(rss) / 1024, "< 256", max(rss) < 256 * 1024,
                   fmt="%.0f")
        psql("SET client_min_messages = warning; SELECT luxe.drop_pipeline(); DROP SERVER vs_gcs CASCADE")
        os.unlink(path)
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Incremental refresh: cost grows with the new data, not with the total.

A source of ROWS (default 900000) generated Vestiaire rows split into 9 part
objects behind a wildcard; a full refresh (full => true), then one more
object holding 10 % of the rows is added and the (incremental) refresh
that picks it up is timed; then a run with nothing changed (skipped).
Both shapes of the generator: default (88 brands) and high (thousands of
brands, ~100 countries, hundreds of thousands of sellers and brand x type
pairs).  Each refresh is checked: the incremental one loaded only the new
object, and the listings hold every row once.  Prints both times and their
ratio; bar (issue 11): incremental <= 0.3 x full.  Needs the environment
bench/run.sh sets up (default durability).
"""
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import COLDEFS, ROOT, URL, Bars, psql  # noqa: E402

ROWS = int(os.environ.get("ROWS", "900000"))
PARTS = 9


def part(shape, i, rows, seed):
    path = os.path.join(ROOT, "vestiaire", "incr", shape, "part-%02d.csv" % i)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "regress", "gen_vestiaire"), "--rows", str(rows),
                    "--seed", str(seed), "--shape", shape, "--out", path], check=True)
    return path


def list_objects(shape):
    """List the shape's objects once before timing: the emulator computes
    the hashes of files put straight on its disk at their first listing,
    which Cloud Storage does at upload; it would flatter the ratio."""
    url = "%s/storage/v1/b/vestiaire/o?prefix=incr/%s/" % (URL, shape)
    with urllib.request.urlopen(url, timeout=600) as r:
        r.read()


def refresh(full):
    t0 = time.perf_counter()
    psql("CALL luxe.refresh_pipeline(%s)" % ("full => true" if full else ""))
    took = time.perf_counter() - t0
    r = psql("SELECT status, objects_added, rows_inserted, rows_read, round(load_seconds::numeric, 2), "
             "round(refresh_seconds::numeric, 2) FROM luxe.pipeline_runs "
             "ORDER BY run_id DESC LIMIT 1").strip().split("|")
    return took, r


def main():
    bars = Bars()
    for shape in os.environ.get("SHAPES", "default high").split():
        print("-- shape %s: generating %d rows in %d parts, then one part of %d..."
              % (shape, ROWS, PARTS, ROWS // 10), flush=True)
        for i in range(PARTS):
            part(shape, i, ROWS // PARTS, 100 + i)
        psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; SET client_min_messages = warning; "
             "SELECT luxe.drop_pipeline(); DROP SERVER IF EXISTS incr_gcs CASCADE; "
             "CREATE SERVER incr_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s'); "
             "CREATE USER MAPPING FOR CURRENT_USER SERVER incr_gcs OPTIONS (auth 'none'); "
             "CREATE FOREIGN TABLE incr_src (%s) SERVER incr_gcs OPTIONS "
             "(uri 'gs://vestiaire/incr/%s/*.csv', skip_leading_rows '1'); "
             "SELECT luxe.setup_pipeline('incr_src')" % (URL, COLDEFS, shape))
        list_objects(shape)
        full, r = refresh(True)
        phases = "load %s s, insights %s s" % (r[4], r[5])
        assert r[0] == "succeeded" and int(r[3]) == ROWS // PARTS * PARTS, r
        part(shape, PARTS, ROWS // 10, 200)
        list_objects(shape)
        incr, r = refresh(False)
        assert r[0] == "succeeded" and r[1] == "1" and int(r[2]) == ROWS // 10, r
        phases_incr = "load %s s, insights %s s" % (r[4], r[5])
        assert int(r[3]) == ROWS // PARTS * PARTS + ROWS // 10, r
        skip, r = refresh(False)
        assert r[0] == "skipped", r
        print("%s shape: full refresh of %d rows %.2f s (%s); adding one object of %d rows: incremental "
              "refresh %.2f s (%s); nothing changed: %.3f s"
              % (shape, ROWS // PARTS * PARTS, full, phases, ROWS // 10, incr, phases_incr, skip))
        bars.check("%s shape: incremental / full refresh" % shape, incr / full, "<= 0.30", incr / full <= 0.30)
        psql("SET client_min_messages = warning; SELECT luxe.drop_pipeline(); DROP SERVER incr_gcs CASCADE")
        for n in os.listdir(os.path.join(ROOT, "vestiaire", "incr", shape)):
            os.unlink(os.path.join(ROOT, "vestiaire", "incr", shape, n))
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

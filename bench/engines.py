#!/usr/bin/env python3
"""The two pipeline engines side by side: what enters Postgres.

One generated file of ROWS (default 900000) Vestiaire rows in the GCS
emulator, refreshed by the local engine (every row comes into Postgres) and
by the BigQuery engine (load, clean and the four insights run as jobs in the
emulator's BigQuery; only the four results come back).  For each engine:
the bytes that entered Postgres (the run history's bytes_into_postgres:
every HTTP body the refreshing backend read), the bytes BigQuery processed (the jobs'
totalBytesProcessed), and the wall time.  The emulator is one Python
process on this machine: its time says nothing about BigQuery's.  Checks
that both engines computed the same insights (counts, 12-decimal
percentages exactly; floats to 1e-9).  Bar (issue 10): with engine
'bigquery' the bytes entering Postgres are at most 1 % of the local
engine's.  SHAPE=high uses the generator's high-cardinality shape.  Needs
the environment bench/run.sh sets up.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import COLDEFS, URL, Bars, psql  # noqa: E402
import insight_results  # noqa: E402  (regress/tools, on the path benchlib sets)
from insight_results import same_results  # noqa: E402
import subprocess  # noqa: E402

ROWS = int(os.environ.get("ROWS", "900000"))
SHAPE = os.environ.get("SHAPE", "default")
PROJECT = "luxe-bench"



def snapshot():
    return insight_results.snapshot(lambda sql: psql(sql).strip())


def refresh():
    """(seconds, run row, bytes into Postgres: the run's own count of the
    HTTP bodies its backend read)."""
    t0 = time.perf_counter()
    psql("CALL luxe.refresh_pipeline(full => true)")
    took = time.perf_counter() - t0
    r = json.loads(psql("SELECT row_to_json(r) FROM luxe.pipeline_runs r ORDER BY run_id DESC LIMIT 1"))
    assert r["status"] == "succeeded", r
    return took, r, r["bytes_into_postgres"]


def main():
    bars = Bars()
    path = os.path.join(os.environ["LUXE_ROOT"], "vestiaire", "engines", "source.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print("generating %d rows (shape %s)..." % (ROWS, SHAPE), flush=True)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "regress", "gen_vestiaire"), "--rows", str(ROWS),
                    "--seed", "5", "--shape", SHAPE, "--out", path], check=True)
    size = os.path.getsize(path)
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; SET client_min_messages = warning; "
         "SELECT luxe.drop_pipeline(); DROP SERVER IF EXISTS eng_gcs CASCADE; DROP SERVER IF EXISTS eng_bq CASCADE; "
         "CREATE SERVER eng_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s'); "
         "CREATE USER MAPPING FOR CURRENT_USER SERVER eng_gcs OPTIONS (auth 'none'); "
         "CREATE SERVER eng_bq FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'bigquery', endpoint '%s', "
         "project '%s'); CREATE USER MAPPING FOR CURRENT_USER SERVER eng_bq OPTIONS (auth 'none'); "
         "CREATE FOREIGN TABLE eng_src (%s) SERVER eng_gcs OPTIONS "
         "(uri 'gs://vestiaire/engines/source.csv', skip_leading_rows '1')" % (URL, URL, PROJECT, COLDEFS))

    psql("SELECT luxe.setup_pipeline('eng_src')")
    local_s, local_r, local_in = refresh()
    local = snapshot()
    print("local engine:    %6.1f s; into Postgres %12d bytes; BigQuery processed %12d bytes"
          % (local_s, local_in, 0), flush=True)

    psql("SELECT luxe.setup_pipeline('eng_src', engine => 'bigquery', bigquery_server => 'eng_bq', "
         "bigquery_dataset => 'luxe_bench')")
    bq_s, bq_r, bq_in = refresh()
    print("bigquery engine: %6.1f s; into Postgres %12d bytes; BigQuery processed %12d bytes in %d jobs "
          "(the emulator's time, not BigQuery's)"
          % (bq_s, bq_in, bq_r["bytes_processed"], len(bq_r["bigquery_jobs"])), flush=True)
    for j in bq_r["bigquery_jobs"]:
        print("    %-28s %14s bytes processed%s" % (j["step"], j.get("total_bytes_processed", "-"),
                                                    ", %d rows" % j["output_rows"] if "output_rows" in j else ""))
    same_results(local, snapshot())
    print("source object: %d bytes; the four results: %s rows" % (
        size, psql("SELECT (SELECT count(*) FROM luxe.sellers_by_country) + (SELECT count(*) FROM luxe.brand_prices)"
                   " + (SELECT count(*) FROM luxe.product_types_by_brand)"
                   " + (SELECT count(*) FROM luxe.sales_by_ship_interval)").strip()))
    print("both engines computed the same four insights")
    bars.check("bytes into Postgres, bigquery / local engine", 100.0 * bq_in / local_in, "<= 1 %",
               bq_in <= 0.01 * local_in, fmt="%.3f %%")
    psql("SET client_min_messages = warning; SELECT luxe.drop_pipeline(drop_bigquery => true); "
         "DROP SERVER eng_gcs CASCADE; DROP SERVER eng_bq CASCADE")
    os.unlink(path)
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

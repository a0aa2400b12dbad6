#!/usr/bin/env python3
"""The pipeline's BigQuery engine against the emulator: the cleaning and the
four insights run as BigQuery jobs straight from GCS, and only the four
results come back to Postgres.

Runs against the cluster and emulator run-tests.sh started (PGHOST, PGPORT,
PGUSER, LUXE_EMULATOR_URL, LUXE_ROOT, LUXE_TMP).  The same part objects are
refreshed by the local engine first; the BigQuery engine's results must
equal both those and an independent computation (pipeline_reference.py):
counts and percentages exactly, averages and percentiles to 1e-9
relative.  Then: the run history (job ids that exist in the emulator,
bytes processed, rows loaded and rejected, bytes that came into
Postgres), a failure injected into each job in turn leaving the previous
BigQuery tables and local results intact, the cost guard, cancellation,
skips, and drop_pipeline(drop_bigquery).  Prints "ok N - name" lines and
"engine-bq: N passed, M failed, 0 skipped".
"""
import csv
import io
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import pipeline_ops as po  # noqa: E402  (shared helpers; its main() does not run)
import insight_results  # noqa: E402
from insight_results import same_results  # noqa: E402
from vestiaire_schema import COLDEFS  # noqa: E402

PROJECT = "luxe-engine"
DATASET = "luxe_engine"
po.PREFIX = "engine/parts/"
po.PARTS = os.path.join(po.ROOT, "vestiaire", "engine", "parts")
psql, one, test, api, results = po.psql, po.one, po.test, po.api, po.results
faults, faults_left = po.faults, po.faults_left



def snapshot():
    """The four views as text, exactly as a BI tool reads them, keyed."""
    return insight_results.snapshot(one)


def emulator_jobs():
    return {j["jobId"]: j for j in api("GET", "/_emulator/bigquery/jobs")["jobs"]}


def emulator_tables():
    r = api("GET", "/bigquery/v2/projects/%s/datasets/%s/tables" % (PROJECT, DATASET))
    return sorted(t["tableReference"]["tableId"] for t in r.get("tables", []))


class Row(dict):
    """A run row; printed without its (long) job resources."""
    def __repr__(self):
        return repr({k: ([j["step"] + ":" + j["job_id"] for j in v] if k == "bigquery_jobs" and v else v)
                     for k, v in self.items()})


def run_row():
    return Row(json.loads(one("SELECT row_to_json(r) FROM luxe.pipeline_runs r ORDER BY run_id DESC LIMIT 1")))


def main():
    os.makedirs(po.PARTS, exist_ok=True)
    for name in os.listdir(po.PARTS):      # (a rerun against the same emulator)
        po.remove_part(name)
    for i in range(3):
        po.put_part("part-%d.csv" % i, 2500, 70 + i)
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; SET client_min_messages = warning; "
         "SELECT luxe.drop_pipeline(); "
         "DROP SERVER IF EXISTS eng_gcs CASCADE; DROP SERVER IF EXISTS eng_bq CASCADE; "
         "CREATE SERVER eng_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s', "
         "max_retries '2', retry_initial_delay '20ms', retry_max_delay '100ms'); "
         "CREATE USER MAPPING FOR CURRENT_USER SERVER eng_gcs OPTIONS (auth 'none'); "
         "CREATE SERVER eng_bq FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'bigquery', endpoint '%s', "
         "project '%s', max_retries '2', retry_initial_delay '20ms', retry_max_delay '100ms'); "
         "CREATE USER MAPPING FOR CURRENT_USER SERVER eng_bq OPTIONS (auth 'none'); "
         "CREATE FOREIGN TABLE eng_src (%s) SERVER eng_gcs OPTIONS "
         "(uri 'gs://vestiaire/engine/parts/*.csv', skip_leading_rows '1', max_bad_records '5')"
         % (po.URL, po.URL, PROJECT, COLDEFS))
    setup_bq = ("SELECT luxe.setup_pipeline('eng_src', engine => 'bigquery', bigquery_server => 'eng_bq', "
                "bigquery_dataset => '%s'%%s)" % DATASET)
    state = {}

    @test("the local engine's results over the parts (the yardstick)")
    def _():
        psql("SELECT luxe.setup_pipeline('eng_src')")
        psql("CALL luxe.refresh_pipeline()")
        assert run_row()["status"] == "succeeded"
        po.views_match_reference("engine-local.json")
        state["local"] = snapshot()

    @test("setup with engine => 'bigquery' creates the dataset; luxe.listings reads BigQuery")
    def _():
        psql(setup_bq % "")
        assert DATASET in [d["datasetReference"]["datasetId"] for d in
                           api("GET", "/bigquery/v2/projects/%s/datasets" % PROJECT).get("datasets", [])]
        assert one("SELECT count(*) FROM luxe.listings") == "0"     # the empty table, until the first run

    @test("a BigQuery-engine refresh: every job recorded, results equal to the local engine's and the reference")
    def _():
        before = set(emulator_jobs())
        received = int(one("SELECT luxe.bytes_received()"))
        psql("CALL luxe.refresh_pipeline()")
        r = run_row()
        assert (r["status"], r["engine"], r["rows_read"], r["rows_rejected"]) == \
            ("succeeded", "bigquery", 7500, 0), r
        steps = [j["step"] for j in r["bigquery_jobs"]]
        state["steps"] = steps
        assert steps[:6] == ["load", "clean", "sellers_by_country", "brand_prices", "product_types_by_brand",
                             "sales_by_ship_interval"] and steps[-1] == "replace", steps
        made = emulator_jobs()
        for j in r["bigquery_jobs"]:
            assert j["job_id"] in made and j["job_id"] not in before, j["job_id"]
            assert made[j["job_id"]]["state"] == "DONE" and not made[j["job_id"]].get("errorResult"), j
        assert made[r["bigquery_jobs"][0]["job_id"]]["kind"] == "load"
        assert r["bigquery_jobs"][0]["output_rows"] == 7500 and r["bigquery_jobs"][0]["bad_records"] == 0
        assert all(j["total_bytes_processed"] > 0 for j in r["bigquery_jobs"][1:6]), r["bigquery_jobs"]
        assert "configuration" not in json.dumps(r["bigquery_jobs"])      # a summary, not the resources
        assert r["bytes_processed"] > 0, r["bytes_processed"]
        # the rows never came to Postgres: only the four results did
        source = sum(os.path.getsize(os.path.join(po.PARTS, n)) for n in os.listdir(po.PARTS))
        assert 0 < r["bytes_into_postgres"] < source / 4, (r["bytes_into_postgres"], source)
        state["received"] = received
        po.views_match_reference("engine-bq.json", per_object=False)
        state["bq"] = snapshot()
        same_results(state["local"], state["bq"])
        assert set(emulator_tables()) >= {"listings", "listings_raw", "sellers_by_country", "brand_prices",
                                          "product_types_by_brand", "sales_by_ship_interval"}
        # ad-hoc queries on luxe.listings push down to BigQuery
        plan = one("EXPLAIN (VERBOSE) SELECT brand_name, count(*) FROM luxe.listings GROUP BY 1")
        assert "Foreign Scan" in plan and "GROUP BY" in plan and DATASET + ".listings" in plan, plan

    @test("nothing changed: the run is skipped and runs no BigQuery job")
    def _():
        n = len(emulator_jobs())
        psql("CALL luxe.refresh_pipeline()")
        r = run_row()
        assert r["status"] == "skipped" and not r["bigquery_jobs"], r
        assert len(emulator_jobs()) == n

    @test("a bad record is rejected by the load job within max_bad_records and counted in the run")
    def _():
        with open(os.path.join(po.PARTS, "part-0.csv"), encoding="utf-8", newline="") as f:
            header, first = next(zip(*[csv.reader(f)] * 2))
        good, bad = io.StringIO(), io.StringIO()
        for buf, rows in ((good, [header, first]), (bad, [header, first, first + ["extra"]])):
            csv.writer(buf, lineterminator="\n").writerows(rows)
        # a row with one field too many: rejected by bq load, by luxe_fdw likewise
        api("POST", "/upload/storage/v1/b/vestiaire/o?uploadType=media&name=engine/parts/part-9.csv",
            data=bad.getvalue().encode(), content_type="text/csv")
        po.EXPECTED["part-9.csv"] = good.getvalue()     # what the reference must see
        psql("CALL luxe.refresh_pipeline()")
        r = run_row()
        assert (r["status"], r["rows_read"], r["rows_rejected"], r["objects_added"]) == \
            ("succeeded", 7501, 1, 1), r
        po.views_match_reference("engine-bq.json", per_object=False)
        state["bq"] = snapshot()

    def failing_at(k, instruction):
        """Fail the k-th job of a refresh; the run fails, nothing changes."""
        lst = one("SELECT count(*) FROM luxe.listings")
        tables = emulator_tables()
        faults({"bigquery.jobs.insert": ["pass"] * k + [instruction]})
        try:
            p = psql("CALL luxe.refresh_pipeline(retries => 0, full => true)", check=False)
        finally:
            left = faults_left()
        assert p.returncode != 0, "the refresh did not fail"
        assert not left, left
        r = run_row()
        assert r["status"] == "failed" and r["error"], r
        assert snapshot() == state["bq"], "the local results changed"
        assert one("SELECT count(*) FROM luxe.listings") == lst, "BigQuery's listings changed"
        assert emulator_tables() == tables, (emulator_tables(), tables)
        return p, r

    @test("a job refused at each step in turn fails the run and leaves BigQuery and the local results intact")
    def _():
        njobs = len(state.get("steps", [])) or 8
        for k in range(njobs):
            p, r = failing_at(k, "return-400-invalid")
            assert "400" in r["error"] or "invalid" in r["error"].lower(), r["error"]
        # the failures left the manifest as it was: nothing to do, then a
        # forced run succeeds with the same results
        psql("CALL luxe.refresh_pipeline()")
        assert run_row()["status"] == "skipped"
        psql("CALL luxe.refresh_pipeline(full => true)")
        assert run_row()["status"] == "succeeded"
        same_results(snapshot(), state["bq"])

    def loaded_and_steps():
        """The objects the last run's load job named (sorted part names), and its steps."""
        r = run_row()
        uris = [u for j in r["bigquery_jobs"] if j["step"] == "load"
                for u in api("GET", "/bigquery/v2/projects/%s/jobs/%s?location=%s"
                             % (PROJECT, j["job_id"], j.get("location") or "US"))
                ["configuration"]["load"]["sourceUris"]]
        return r, sorted(u.rsplit("/", 1)[1] for u in uris), [j["step"] for j in r["bigquery_jobs"]]

    @test("incremental inside BigQuery: an added object alone is loaded, the other batches kept")
    def _():
        total = int(one("SELECT count(*) FROM luxe.listings"))
        po.put_part("part-5.csv", 300, 90)
        psql("CALL luxe.refresh_pipeline()")
        r, loaded, steps = loaded_and_steps()
        assert (r["status"], r["full_reload"], loaded) == ("succeeded", False, ["part-5.csv"]), (r, loaded)
        assert steps[:3] == ["load", "clean", "keep"], steps
        assert (r["rows_inserted"], r["rows_deleted"], r["rows_read"]) == (300, 0, total + 300), r
        assert int(one("SELECT count(*) FROM luxe.listings")) == total + 300
        po.views_match_reference("engine-bq.json", per_object=False)

    @test("incremental inside BigQuery: a replaced object's batch is loaded again, its old rows deleted")
    def _():
        total = int(one("SELECT count(*) FROM luxe.listings"))
        po.put_part("part-5.csv", 200, 91)          # alone in its batch
        psql("CALL luxe.refresh_pipeline()")
        r, loaded, _ = loaded_and_steps()
        assert (r["objects_replaced"], loaded, r["rows_deleted"], r["rows_inserted"], r["rows_read"]) == \
            (1, ["part-5.csv"], 300, 200, total - 100), (r, loaded)
        po.views_match_reference("engine-bq.json", per_object=False)
        # part-1 was loaded with parts 0, 2 and 9 (the last full run): all four again
        po.put_part("part-1.csv", 1000, 92)
        psql("CALL luxe.refresh_pipeline()")
        r, loaded, _ = loaded_and_steps()
        assert loaded == ["part-0.csv", "part-1.csv", "part-2.csv", "part-9.csv"], loaded
        assert (r["rows_deleted"], r["rows_inserted"], r["rows_read"]) == (7501, 6001, 6201), r
        po.views_match_reference("engine-bq.json", per_object=False)

    @test("incremental inside BigQuery: a removed object's rows go without any load")
    def _():
        po.remove_part("part-5.csv")
        psql("CALL luxe.refresh_pipeline()")
        r, loaded, steps = loaded_and_steps()
        assert (r["objects_removed"], loaded, r["rows_deleted"], r["rows_read"]) == (1, [], 200, 6001), (r, loaded)
        assert "load" not in steps and "clean" not in steps and steps[0] == "keep", steps
        po.views_match_reference("engine-bq.json", per_object=False)
        assert int(one("SELECT count(*) FROM luxe.listings")) == 6001

    @test("an object replaced while BigQuery loads it fails the attempt; the retry loads the new generation")
    def _():
        po.put_part("part-6.csv", 400, 93)
        faults({"bigquery.jobs.insert": ["job-slow-3s"]})          # the load job
        done = {}

        def refresh():
            done["p"] = psql("CALL luxe.refresh_pipeline(retries => 1, retry_delay => '0s')", check=False)
        th = threading.Thread(target=refresh)
        th.start()
        time.sleep(1.5)
        po.put_part("part-6.csv", 500, 94)
        th.join(120)
        faults_left()
        assert done["p"].returncode == 0, done["p"].stderr
        rows = json.loads(one("SELECT json_agg(json_build_array(status, error, rows_inserted) ORDER BY run_id) "
                              "FROM (SELECT * FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 2) r"))
        assert rows[0][0] == "failed" and 'source object "gs://vestiaire/engine/parts/part-6.csv" changed ' \
            "while BigQuery loaded it" in rows[0][1], rows
        assert rows[1][0] == "succeeded" and rows[1][2] == 500, rows
        po.views_match_reference("engine-bq.json", per_object=False)
        state["bq"] = snapshot()

    @test("the cost guard: maximumBytesBilled on every job; a job over it fails the run naming the limit")
    def _():
        psql(setup_bq % ", maximum_bytes_billed => 1000")
        n = len(emulator_jobs())
        p = psql("CALL luxe.refresh_pipeline(retries => 0, full => true)", check=False)
        assert p.returncode != 0 and "1000" in p.stderr, p.stderr
        r = run_row()
        assert r["status"] == "failed" and "maximum_bytes_billed is 1000" in r["error"], r["error"]
        # BigQuery's reason is in the run row and in the raised error
        assert "bytesBilledLimitExceeded" in r["error"] and "bytesBilledLimitExceeded" in p.stderr, p.stderr
        new = [j for j in api("GET", "/_emulator/bigquery/jobs")["jobs"]][n:]
        queries = [j for j in new if j["kind"] == "query"]
        assert queries and queries[-1].get("errorResult", {}).get("reason") == "bytesBilledLimitExceeded", new
        assert snapshot() == state["bq"]
        psql(setup_bq % "")

    @test("statement_timeout during a BigQuery job cancels the job and fails the run")
    def _():
        faults({"bigquery.jobs.insert": ["pass", "job-slow-30s"]})
        n = len(api("GET", "/_emulator/bigquery/jobs")["jobs"])
        t0 = time.time()
        try:
            os.environ["PGOPTIONS"] = "-c statement_timeout=3s"
            p = psql("CALL luxe.refresh_pipeline(retries => 0, full => true)", check=False)
        finally:
            del os.environ["PGOPTIONS"]
            faults_left()
        assert p.returncode != 0 and "statement timeout" in p.stderr, p.stderr
        assert time.time() - t0 < 15
        new = api("GET", "/_emulator/bigquery/jobs")["jobs"][n:]
        # the job running at the timeout (the slow one, or an earlier one on a
        # slow machine) is cancelled, and none runs after it
        assert new and new[-1].get("cancelled") and not any(j.get("cancelled") for j in new[:-1]), new
        assert snapshot() == state["bq"]

    @test("the refresh's timeout cancels the running job; the attempt is failed and retried")
    def _():
        faults({"bigquery.jobs.insert": ["job-slow-30s"]})
        n = len(api("GET", "/_emulator/bigquery/jobs")["jobs"])
        try:
            psql("CALL luxe.refresh_pipeline(retries => 1, retry_delay => '0s', full => true, timeout => '2s')")
        finally:
            faults_left()
        new = api("GET", "/_emulator/bigquery/jobs")["jobs"][n:]
        assert new[0].get("cancelled"), new[0]
        rows = json.loads(one("SELECT json_agg(json_build_array(attempt, status, error) ORDER BY run_id) "
                              "FROM (SELECT * FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 2) r"))
        assert rows[0][1] == "failed" and "timed out" in rows[0][2] and rows[-1][1] == "succeeded", rows

    @test("drop_pipeline(drop_bigquery => true) drops the tables the engine made in BigQuery")
    def _():
        psql("SELECT luxe.drop_pipeline(drop_bigquery => true)")
        assert emulator_tables() == [], emulator_tables()
        assert one("SELECT count(*) FROM pg_class WHERE relname LIKE 'bq\\_%' "
                   "AND relnamespace = 'luxe_store'::regnamespace") in ("0", "")

    return po.report("engine-bq")


if __name__ == "__main__":
    sys.exit(main())

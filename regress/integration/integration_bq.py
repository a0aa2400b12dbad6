#!/usr/bin/env python3
"""Integration tests of luxe_fdw's BigQuery side against the emulator.

Runs against the cluster and emulator that run-tests.sh started (PGHOST,
PGPORT, PGUSER, LUXE_EMULATOR_URL, LUXE_ROOT in the environment).  Generated
Vestiaire rows are written into a BigQuery table through the FDW (a staged
load job), read back and compared with Python's own reading of the CSV;
then the retry, polling and cancellation paths run under the emulator's
injected faults.  Prints "ok N - name" lines and
"integration-bq: N passed, M failed".
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import integration as it  # noqa: E402  (shared helpers; its main() does not run)
from vestiaire_schema import COLDEFS, COLUMNS  # noqa: E402

URL = it.URL
PROJECT = "luxe-itest"
psql = it.psql
test = it.test

BQ_TYPES = {"bigint": "INT64", "text": "STRING", "float8": "FLOAT64", "boolean": "BOOL"}


def api(method, path, body=None):
    """An emulator call (REST or control endpoint); its JSON answer."""
    data = it.emulator(method, path, body)
    return json.loads(data) if data else {}


def faults(instructions):
    api("POST", "/_emulator/faults", {"instructions": instructions})


def faults_left():
    left = api("GET", "/_emulator/faults")["instructions"]
    api("DELETE", "/_emulator/faults")
    return {k: v for k, v in left.items() if v}


def jobs():
    return api("GET", "/_emulator/bigquery/jobs")["jobs"]


def main():
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw")
    psql("DROP SERVER IF EXISTS ibq_gcs CASCADE; DROP SERVER IF EXISTS ibq CASCADE")
    psql("CREATE SERVER ibq_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s');"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER ibq_gcs OPTIONS (auth 'none')" % URL)
    psql("CREATE SERVER ibq FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'bigquery', endpoint '%s', "
         "project '%s', staging_uri 'gs://vestiaire/ibq-staging/', retry_initial_delay '20ms', "
         "retry_max_delay '200ms');"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER ibq OPTIONS (auth 'none')" % (URL, PROJECT))

    path = it.generate(60000, 11, "ibq/source.csv")
    expect = it.python_summary(path)
    digests = it.python_digests(path)
    psql("CREATE FOREIGN TABLE ibq_src (%s) SERVER ibq_gcs OPTIONS "
         "(uri 'gs://vestiaire/ibq/source.csv', skip_leading_rows '1')" % COLDEFS)
    api("POST", "/bigquery/v2/projects/%s/datasets" % PROJECT,
        {"datasetReference": {"projectId": PROJECT, "datasetId": "itest"}})
    api("POST", "/bigquery/v2/projects/%s/datasets/itest/tables" % PROJECT,
        {"tableReference": {"projectId": PROJECT, "datasetId": "itest", "tableId": "listings"},
         "schema": {"fields": [{"name": n, "type": BQ_TYPES[t]} for n, t in COLUMNS]}})
    psql("CREATE FOREIGN TABLE ibq_listings (%s) SERVER ibq OPTIONS (dataset 'itest', table 'listings')"
         % COLDEFS)

    @test("INSERT ... SELECT of 60k rows loads through a staged job and reads back, value for value, like Python's csv")
    def _():
        before = len(jobs())
        psql("INSERT INTO ibq_listings SELECT * FROM ibq_src")
        it.same_summary(it.sql_summary("ibq_listings"), expect)
        # with pushdown off every row comes back and is decoded by luxe_fdw,
        # so this compares the FDW's reading, value for value, with Python's
        psql("ALTER SERVER ibq OPTIONS (ADD pushdown 'false')")
        try:
            it.same_digests(it.sql_digests("ibq_listings"), digests)
        finally:
            psql("ALTER SERVER ibq OPTIONS (DROP pushdown)")
        loads = [j for j in jobs()[before:] if j.get("kind") == "load"]
        assert len(loads) == 1 and loads[0]["state"] == "DONE" and not loads[0].get("errorResult"), loads
        staged = api("GET", "/storage/v1/b/vestiaire/o?prefix=ibq-staging/").get("items", [])
        assert staged == [], "staging objects left: %r" % staged

    checksum = ("SELECT count(*), md5(string_agg(product_id::text || brand_name || price_usd::text, ',' "
                "ORDER BY product_id)) FROM ibq_listings")
    clean = psql(checksum).stdout.strip()

    @test("pages of 997 rows return exactly the rows of one page")
    def _():
        got = psql("SET luxe_fdw.bigquery_page_size = 997; " + checksum).stdout.strip().splitlines()[-1]
        assert got == clean, (got, clean)
        out = psql("SET luxe_fdw.bigquery_page_size = 997; EXPLAIN (ANALYZE, FORMAT JSON) "
                   "SELECT product_id FROM ibq_listings").stdout
        plan = json.loads(out[out.index("["):])[0]["Plan"]
        assert plan["Rows Fetched"] == 60000, plan
        # one jobs.query and ceil(60000 / 997) - 1 getQueryResults pages
        assert plan["Requests"] >= 60000 // 997, plan

    def faulted(instr, sql=checksum):
        faults(instr)
        t0 = time.time()
        try:
            p = psql(sql, check=False)
        finally:
            left = faults_left()
        return p, time.time() - t0, left

    @test("403 rateLimitExceeded is retried with backoff; the rows are the same")
    def _():
        p, _, left = faulted({"bigquery.jobs.insert": ["return-403-rateLimitExceeded"] * 2})
        assert p.returncode == 0 and p.stdout.strip() == clean, p.stderr
        assert not left, left

    @test("403 quotaExceeded is not retried: a clear error with the reason")
    def _():
        p, elapsed, left = faulted({"bigquery.jobs.insert": ["return-403-quotaExceeded"]})
        assert p.returncode != 0 and "quotaExceeded" in p.stderr, p.stderr
        assert "10 minutes" in p.stderr, p.stderr

    @test("503 and 500 backendError on result pages are retried")
    def _():
        p, _, left = faulted({"bigquery.jobs.getQueryResults": ["return-503", "return-500-backendError"]},
                             "SET luxe_fdw.bigquery_page_size = 5000; " + checksum)
        assert p.returncode == 0 and p.stdout.strip().splitlines()[-1] == clean, p.stderr
        assert not left, left

    @test("a jobs.insert whose answer is lost is retried with the same job id: 409 duplicate, one job")
    def _():
        before = len(jobs())
        api("POST", "/_emulator/stats/reset")
        # the emulator creates the job, then drops the answer: the retry must
        # name the same job (BigQuery answers 409 duplicate), not start another
        p, _, left = faulted({"bigquery.jobs.insert": ["return-reset-after-processing"]})
        assert p.returncode == 0 and p.stdout.strip() == clean, p.stderr
        assert not left, left
        new = jobs()[before:]
        assert len(new) == 1, new
        assert new[0]["jobId"].startswith("luxe_query_"), new
        inserts = api("GET", "/_emulator/stats")["requests"].get("bigquery.jobs.insert")
        assert inserts == 2, "jobs.insert requests: %r (the first, and its retry)" % inserts

    @test("an incomplete job (jobComplete false) is polled until done, never truncated")
    def _():
        p, _, left = faulted({"bigquery.jobs.insert": ["job-incomplete-3"]})
        assert p.returncode == 0 and p.stdout.strip() == clean, p.stderr
        assert not left, left

    @test("statement_timeout cancels the BigQuery job of a slow query")
    def _():
        faults({"bigquery.jobs.insert": ["job-slow-30s"]})
        before = len(jobs())
        t0 = time.time()
        try:
            p = psql("SET statement_timeout = '1s'; SELECT count(*) FROM ibq_listings", check=False)
        finally:
            faults_left()
        elapsed = time.time() - t0
        assert "canceling statement due to statement timeout" in p.stderr, p.stderr
        assert elapsed < 3, "took %.1f s" % elapsed
        new = jobs()[before:]
        assert len(new) == 1 and new[0].get("cancelled"), new

    @test("a load job interrupted by statement_timeout is cancelled in BigQuery, and nothing is loaded")
    def _():
        faults({"bigquery.jobs.insert": ["job-slow-30s"]})
        before = len(jobs())
        t0 = time.time()
        try:
            p = psql("BEGIN; ALTER FOREIGN TABLE ibq_listings OPTIONS (ADD write_method 'load'); "
                     "INSERT INTO ibq_listings SELECT * FROM ibq_src LIMIT 5000; "
                     "SET LOCAL statement_timeout = '2s'; SELECT luxe.bigquery_flush(); COMMIT",
                     check=False)
        finally:
            faults_left()
        assert "canceling statement due to statement timeout" in p.stderr, (p.stdout, p.stderr)
        assert time.time() - t0 < 15, "took %.1f s" % (time.time() - t0)
        loads = [j for j in jobs()[before:] if j.get("kind") == "load"]
        assert len(loads) == 1 and loads[0].get("cancelled"), loads
        assert psql(checksum).stdout.strip() == clean, "the table changed"
        staged = api("GET", "/storage/v1/b/vestiaire/o?prefix=ibq-staging/").get("items", [])
        assert staged == [], "staging objects left: %r" % staged

    @test("pushdown ships the aggregate: bytes transferred < 1% of the plain scan, same result")
    def _():
        q = ("SELECT brand_name, count(*), count(DISTINCT seller_id), sum(price_usd)::numeric(20,2) "
             "FROM ibq_listings GROUP BY brand_name ORDER BY brand_name")
        sent = {}
        out = {}
        for pushdown in ("true", "false"):
            psql("ALTER SERVER ibq OPTIONS (ADD pushdown '%s')" % pushdown)
            api("POST", "/_emulator/stats/reset")
            out[pushdown] = psql(q).stdout
            sent[pushdown] = api("GET", "/_emulator/stats")["bytesSent"]
            psql("ALTER SERVER ibq OPTIONS (DROP pushdown)")
        assert out["true"] == out["false"], "different results"
        assert sent["true"] < 0.01 * sent["false"], sent

    @test("the pipeline publishes the cleaned table and the insights to BigQuery, replacing them")
    def _():
        pg_to_bq = {"text": "STRING", "bigint": "INT64", "integer": "INT64", "double precision": "FLOAT64",
                    "boolean": "BOOL", "numeric": "BIGNUMERIC", "date": "DATE",
                    "timestamp with time zone": "TIMESTAMP"}
        psql("SELECT luxe.drop_pipeline(); SELECT luxe.setup_pipeline('ibq_src')")
        api("POST", "/bigquery/v2/projects/%s/datasets" % PROJECT,
            {"datasetReference": {"projectId": PROJECT, "datasetId": "published"}})
        objects = psql("SELECT array_to_string(luxe.published_objects(), ',')").stdout.strip().split(",")
        for obj in objects:
            cols = psql("SELECT string_agg(a.attname || '|' || format_type(a.atttypid, NULL), ',' "
                        "ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = 'luxe.%s'::regclass "
                        "AND a.attnum > 0 AND NOT a.attisdropped" % obj).stdout.strip().split(",")
            api("POST", "/bigquery/v2/projects/%s/datasets/published/tables" % PROJECT,
                {"tableReference": {"projectId": PROJECT, "datasetId": "published", "tableId": obj},
                 "schema": {"fields": [{"name": c.split("|")[0], "type": pg_to_bq[c.split("|")[1]]}
                                       for c in cols]}})
        psql("DROP SCHEMA IF EXISTS pub CASCADE; CREATE SCHEMA pub; "
             "IMPORT FOREIGN SCHEMA published FROM SERVER ibq INTO pub")
        bad = psql("SELECT luxe.setup_pipeline('ibq_src', publish_to => 'public')", check=False)
        assert "lacks foreign tables to publish to" in bad.stderr, bad.stderr
        psql("SELECT luxe.setup_pipeline('ibq_src', publish_to => 'pub')")
        for run in (1, 2):      # the second run replaces, never appends
            # (the first is a full reload: the publishing target is new)
            psql("CALL luxe.refresh_pipeline(%s)" % ("" if run == 1 else "full => true"))
            assert psql("SELECT status, full_reload FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 1"
                        ).stdout.strip() == "succeeded|t", run
            for obj in objects:
                diff = psql("SELECT (SELECT count(*) FROM (SELECT * FROM luxe.%s EXCEPT ALL SELECT * FROM pub.%s) a), "
                            "(SELECT count(*) FROM (SELECT * FROM pub.%s EXCEPT ALL SELECT * FROM luxe.%s) b), "
                            "(SELECT count(*) FROM pub.%s)" % ((obj,) * 5)).stdout.strip()
                a, b, n = diff.split("|")
                assert a == "0" and b == "0" and int(n) > 0, (run, obj, diff)
        status = psql("SELECT status, publish_seconds IS NOT NULL FROM luxe.pipeline_runs "
                      "ORDER BY run_id DESC LIMIT 1").stdout.strip()
        assert status == "succeeded|t", status
        # a failing publish fails the run and leaves the previous local data
        before = psql("SELECT count(*) FROM luxe.listings").stdout.strip()
        faults({"bigquery.jobs.insert": ["return-400-invalid"]})
        p = psql("CALL luxe.refresh_pipeline(full => true)", check=False)
        faults_left()
        assert p.returncode != 0 and "refresh failed" in p.stderr, p.stderr
        err = psql("SELECT status || ': ' || error FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 1").stdout
        assert err.startswith("failed") and "BigQuery" in err, err
        assert psql("SELECT count(*) FROM luxe.listings").stdout.strip() == before
        psql("SELECT luxe.drop_pipeline(); DROP SCHEMA pub CASCADE")

    psql("DROP SERVER ibq CASCADE; DROP SERVER ibq_gcs CASCADE")
    return it.report("integration-bq")


if __name__ == "__main__":
    sys.exit(main())

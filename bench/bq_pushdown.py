#!/usr/bin/env python3
"""Benchmark: the four insights of the pipeline against a BigQuery
foreign table of 900k cleaned listings, with pushdown on and off, one run.

Setup: the generated CSV is cleaned by the pipeline (luxe.listings), a
BigQuery table is created in the emulator with the same columns, filled by
`INSERT INTO <bigquery foreign table> SELECT * FROM luxe.listings` (the
staged load-job path), and imported with IMPORT FOREIGN SCHEMA.

Each insight is asked in the form a BI tool would send it: the grouping is
on the foreign table, the percentages are windows over the groups.  With
pushdown on, the GROUP BY (count, count(DISTINCT), sum, avg, min, max,
FILTER) runs in BigQuery and only the groups travel; with pushdown off
nothing is shipped (the issue counts column projection as pushdown too):
every row travels whole and PostgreSQL aggregates.  Bytes are the
emulator's own count of response bytes sent, compact JSON (prettyPrint=false)
on both sides.  Insight 2's quartiles
(percentile_cont) are an ordered-set aggregate that is not pushed down, so
this benchmark asks BigQuery for count, avg, min and max per brand.

Bar: with pushdown, bytes transferred <= 1 % of the no-pushdown case, and
the same results.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import COLDEFS, URL, Bars, generate, psql  # noqa: E402
from benchlib import emulator as api  # noqa: E402

ROWS = int(os.environ.get("ROWS", "900000"))
PROJECT = "luxe-bench"
DATASET = "vestiaire"

INSIGHTS = {
    "1 sellers by country": """
        SELECT seller_country, sellers, listings,
               luxe.pct(sellers, (sum(sellers) OVER ())::bigint) AS share_pct
          FROM (SELECT seller_country, count(DISTINCT seller_id) AS sellers, count(*) AS listings
                  FROM bq.listings GROUP BY seller_country) s
         ORDER BY seller_country""",
    "2 average brand price": """
        SELECT brand_name, count(*) AS listings, round(avg(price_usd)::numeric, 6) AS avg_price,
               min(price_usd) AS min_price, max(price_usd) AS max_price
          FROM bq.listings GROUP BY brand_name ORDER BY brand_name""",
    "3 product type % by brand": """
        SELECT brand_name, product_type, listings,
               luxe.pct(listings, (sum(listings) OVER (PARTITION BY brand_name))::bigint) AS pct
          FROM (SELECT brand_name, product_type, count(*) AS listings
                  FROM bq.listings GROUP BY brand_name, product_type) s
         ORDER BY brand_name, product_type""",
    "4 sales % by shipping interval": """
        SELECT bucket, sold, luxe.pct(sold, (sum(sold) OVER ())::bigint) AS share_pct,
               luxe.pct(sold, listings) AS sell_through_pct, listings
          FROM (SELECT coalesce(usually_ships_within, 'unknown') AS bucket,
                       count(*) FILTER (WHERE sold) AS sold, count(*) AS listings
                  FROM bq.listings GROUP BY 1) s
         ORDER BY bucket""",
}

BQ_TYPES = {"text": "STRING", "bigint": "INT64", "integer": "INT64", "double precision": "FLOAT64",
            "boolean": "BOOL", "numeric": "NUMERIC", "date": "DATE",
            "timestamp with time zone": "TIMESTAMP"}



def bytes_sent():
    return api("GET", "/_emulator/stats")["bytesSent"]


def rows_fetched(sql):
    """Rows the foreign scans fetched from BigQuery (EXPLAIN ANALYZE's Rows
    Fetched, summed over the plan), not the rows of the result."""
    plan = json.loads(psql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql))

    def walk(node):
        return node.get("Rows Fetched", 0) + sum(walk(c) for c in node.get("Plans", []))
    return walk(plan[0]["Plan"])


def run(name, sql):
    api("POST", "/_emulator/stats/reset")
    t0 = time.perf_counter()
    out = psql(sql)
    seconds = time.perf_counter() - t0
    return seconds, bytes_sent(), out


def main():
    path = generate(ROWS, 42, "bench/bq/vestiaire.csv")
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw")
    psql("DROP SERVER IF EXISTS bench_gcs CASCADE; DROP SERVER IF EXISTS bench_bq CASCADE; "
         "DROP SCHEMA IF EXISTS bq CASCADE; CREATE SCHEMA bq")
    psql("CREATE SERVER bench_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s');"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER bench_gcs OPTIONS (auth 'none');"
         "CREATE FOREIGN TABLE b_raw (%s) SERVER bench_gcs OPTIONS "
         "(uri 'gs://vestiaire/bench/bq/vestiaire.csv', skip_leading_rows '1')" % (URL, COLDEFS))
    print("cleaning %d rows with the pipeline..." % ROWS, flush=True)
    psql("SELECT luxe.drop_pipeline(); SELECT luxe.setup_pipeline('b_raw')")
    psql("CALL luxe.refresh_pipeline()")

    # the BigQuery table, with the cleaned table's columns
    cols = psql("SELECT string_agg(column_name || '|' || data_type, ',' ORDER BY ordinal_position) "
                "FROM information_schema.columns WHERE table_schema = 'luxe' AND table_name = 'listings'"
                ).strip().split(",")
    fields = [{"name": c.split("|")[0], "type": BQ_TYPES[c.split("|")[1]]} for c in cols]
    api("DELETE", "/_emulator/bigquery")
    api("POST", "/bigquery/v2/projects/%s/datasets" % PROJECT,
        {"datasetReference": {"projectId": PROJECT, "datasetId": DATASET}})
    api("POST", "/bigquery/v2/projects/%s/datasets/%s/tables" % (PROJECT, DATASET),
        {"tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": "listings"},
         "schema": {"fields": fields}})
    psql("CREATE SERVER bench_bq FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'bigquery', "
         "endpoint '%s', project '%s', staging_uri 'gs://vestiaire/bench/staging/', pushdown 'true');"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER bench_bq OPTIONS (auth 'none');"
         "IMPORT FOREIGN SCHEMA %s FROM SERVER bench_bq INTO bq" % (URL, PROJECT, DATASET))
    t0 = time.perf_counter()
    psql("INSERT INTO bq.listings SELECT * FROM luxe.listings")
    n = int(psql("SELECT count(*) FROM bq.listings").strip())
    print("loaded %d rows into BigQuery through a staged load job in %.1f s" % (n, time.perf_counter() - t0))
    assert n == int(psql("SELECT count(*) FROM luxe.listings").strip())

    total = {True: 0, False: 0}
    all_ok = True
    print("%-32s %12s %14s %14s %9s %8s" % ("insight", "pushdown", "bytes", "rows fetched", "seconds", "same"))
    for name, sql in INSIGHTS.items():
        results = {}
        for pushdown in (True, False):
            psql("ALTER SERVER bench_bq OPTIONS (SET pushdown '%s')" % ("true" if pushdown else "false"))
            plan = psql("EXPLAIN (VERBOSE, COSTS OFF) " + sql)
            seconds, sent, out = run(name, sql)
            results[pushdown] = out
            total[pushdown] += sent
            rows = rows_fetched(sql)
            if pushdown:
                assert "GROUP BY" in plan, plan
            print("%-32s %12s %14d %14d %9.2f" % (name, "on" if pushdown else "off", sent, rows, seconds),
                  flush=True)
        same = results[True] == results[False]
        all_ok &= same
        print("%-32s %12s %14s %14s %9s %8s" % ("", "", "", "", "", "yes" if same else "NO"))
    ratio = total[True] / total[False]
    print("bytes transferred, all four insights: pushdown %d, no pushdown %d, ratio %.5f (%.3f %%)"
          % (total[True], total[False], ratio, 100 * ratio))
    bars = Bars()
    bars.check("every insight gives the same result with and without pushdown", int(all_ok), "1", all_ok, "%d")
    bars.check("bytes with pushdown / without", ratio, "<= 0.01", ratio <= 0.01, "%.5f")
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

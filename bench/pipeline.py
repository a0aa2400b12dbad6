#!/usr/bin/env python3
"""Benchmark: the luxe_fdw pipeline vs pandas vs COPY + plain SQL.

One run on the same generated Vestiaire-shaped file (ROWS, default 900000):
  (a) luxe_fdw: the object in the GCS emulator -> luxe.listings -> the four
      insight views (CALL luxe.refresh_pipeline()), timed end to end;
  (b) pandas: read_csv, the cleaning rules, the four insights
      (bench/pandas_pipeline.py, Debian python3-pandas);
  (c) COPY into a table, CREATE TABLE AS with regexp_replace / lower(btrim())
      for the cleaning, then the four insights as plain GROUP BY queries.
Like with like: (c)'s tables are UNLOGGED, as luxe.listings is by default
(both write the same cleaned table and insights), and the cluster keeps
PostgreSQL's default durability (bench/run.sh).  Every variant's insights are
compared with the independent reference (regress/tools/pipeline_reference.py:
counts exactly, averages and percentiles to 1e-9, percentages digit for digit
except pandas', which are unrounded floats); a difference fails the run.
Prints each time, the ratios (bars: a <= 0.5 b and a <= 0.5 c) and the peak
RSS of (a)'s backend beside pandas' peak RSS; exits non-zero if a bar is
missed.  ROUNDS repeats the three, interleaved, and reports medians.
"""
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import COLDEFS, Bars, generate, psql  # noqa: E402

REFERENCE = os.path.join(HERE, "..", "regress", "tools", "pipeline_reference.py")

ROOT = os.environ["LUXE_ROOT"]
URL = os.environ["LUXE_EMULATOR_URL"]
ROWS = int(os.environ.get("ROWS", "900000"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
WS = "' \\t\\n\\r\\f' || chr(11)"

SQL_CLEAN = """
CREATE UNLOGGED TABLE cpipe.listings AS SELECT
  product_id, product_type, product_name,
  regexp_replace(btrim(product_description, E""" + WS + """), '[' || E""" + WS + """ || ']+', ' ', 'g') AS product_description,
  product_keywords, lower(btrim(product_gender_target)) AS product_gender_target,
  lower(btrim(product_category)) AS product_category, product_season,
  lower(btrim(product_condition)) AS product_condition,
  coalesce(product_like_count, 0)::bigint AS product_like_count,
  coalesce(sold, false) AS sold, coalesce(reserved, false) AS reserved,
  coalesce(available, false) AS available, coalesce(in_stock, false) AS in_stock,
  coalesce(should_be_gone, false) AS should_be_gone,
  coalesce(brand_id::text, 'unknown') AS brand_id,
  coalesce(lower(btrim(brand_name)), 'unknown') AS brand_name,
  coalesce(brand_url, 'unknown') AS brand_url,
  lower(btrim(product_material)) AS product_material, lower(btrim(product_color)) AS product_color,
  coalesce(price_usd, 0.0) AS price_usd, coalesce(seller_price, 0.0) AS seller_price,
  coalesce(seller_earning, 0.0) AS seller_earning, seller_badge,
  coalesce(has_cross_border_fees, false) AS has_cross_border_fees,
  coalesce(buyers_fees, 0.0) AS buyers_fees, warehouse_name, seller_id, seller_username,
  usually_ships_within, lower(btrim(seller_country)) AS seller_country,
  coalesce(seller_products_sold, 0)::bigint AS seller_products_sold,
  coalesce(seller_num_products_listed, 0)::bigint AS seller_num_products_listed,
  coalesce(seller_community_rank, 0)::bigint AS seller_community_rank,
  coalesce(seller_num_followers, 0)::bigint AS seller_num_followers,
  coalesce(seller_pass_rate, 0.0) AS seller_pass_rate
FROM cpipe.raw;
"""
SQL_INSIGHTS = """
CREATE TABLE cpipe.sellers_by_country AS
  SELECT seller_country, sellers, listings, round(100.0 * sellers / sum(sellers) OVER (), 12) AS share_pct
    FROM (SELECT seller_country, count(DISTINCT seller_id) AS sellers, count(*) AS listings
            FROM cpipe.listings GROUP BY seller_country) s;
CREATE TABLE cpipe.brand_prices AS
  SELECT brand_name, listings, avg_price, q[1] AS p25, q[2] AS median, q[3] AS p75, min_price, max_price
    FROM (SELECT brand_name, count(*) AS listings, avg(price_usd) AS avg_price,
                 percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY price_usd) AS q,
                 min(price_usd) AS min_price, max(price_usd) AS max_price
            FROM cpipe.listings GROUP BY brand_name) s;
CREATE TABLE cpipe.product_types_by_brand AS
  SELECT brand_name, product_type, count(*) AS listings,
         round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY brand_name), 12) AS pct
    FROM cpipe.listings GROUP BY brand_name, product_type;
CREATE TABLE cpipe.sales_by_ship_interval AS
  SELECT bucket AS usually_ships_within, sold, round(100.0 * sold / nullif(sum(sold) OVER (), 0), 12) AS share_pct,
         round(100.0 * sold / listings, 12) AS sell_through_pct, listings,
         CASE bucket WHEN '1-2 days' THEN 1 WHEN '3-5 days' THEN 2 WHEN '6-7 days' THEN 3
                     WHEN 'More than 7 days' THEN 4 WHEN 'unknown' THEN 5 ELSE 6 END AS bucket_order
    FROM (SELECT coalesce(usually_ships_within, 'unknown') AS bucket, count(*) FILTER (WHERE sold) AS sold,
                 count(*) AS listings FROM cpipe.listings GROUP BY 1) s;
"""


def reference(cmd, *args):
    """Run the independent reference; its stdout (raises on a failed comparison)."""
    p = subprocess.run([sys.executable, REFERENCE, cmd, *args], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise SystemExit("reference %s failed:\n%s%s" % (cmd, p.stdout[-3000:], p.stderr[-1000:]))
    return p.stdout


def results_of(schema, tmp):
    """The insights of a schema (luxe or cpipe) as the reference's JSON, in a file."""
    out = os.path.join(tmp, "got_%s.json" % schema)
    with open(out, "w") as f:
        f.write(psql(reference("sql", "--schema", schema)))
    return out


def run_a():
    """luxe_fdw end to end; returns (seconds, backend peak RSS in MB)."""
    t0 = time.perf_counter()
    out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres",
                          "-c", "CALL luxe.refresh_pipeline()",
                          "-c", "SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\\s+(\\d+)')"],
                         capture_output=True, text=True, check=True, timeout=7200).stdout
    secs = time.perf_counter() - t0
    return secs, int(out.split()[-1]) / 1024


def run_b(path, json_out):
    out = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "pandas_pipeline.py"), path, "--json", json_out],
                         capture_output=True, text=True, check=True, timeout=7200).stdout
    m = re.search(r"total ([\d.]+) s, peak RSS (\d+) MB", out)
    return float(m.group(1)), int(m.group(2)), out.strip().splitlines()[0]


def run_c(path):
    psql("DROP SCHEMA IF EXISTS cpipe CASCADE; CREATE SCHEMA cpipe")
    t0 = time.perf_counter()
    psql("CREATE UNLOGGED TABLE cpipe.raw (%s); COPY cpipe.raw FROM '%s' (FORMAT csv, HEADER)" % (COLDEFS, path))
    t1 = time.perf_counter()
    psql(SQL_CLEAN)
    t2 = time.perf_counter()
    psql(SQL_INSIGHTS)
    t3 = time.perf_counter()
    return t3 - t0, (t1 - t0, t2 - t1, t3 - t2)


def main():
    path = generate(ROWS, 1, "data/vestiaire.csv")
    size = os.path.getsize(path)
    tmp = os.environ.get("LUXE_TMP", "/tmp")
    ref = os.path.join(tmp, "pipeline_ref.json")
    print("computing the reference insights...", flush=True)
    reference("compute", path, "--out", ref)
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw")
    psql("DROP SERVER IF EXISTS bench_gcs CASCADE")
    psql("CREATE SERVER bench_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s');"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER bench_gcs OPTIONS (auth 'none');"
         "CREATE FOREIGN TABLE b_raw (%s) SERVER bench_gcs OPTIONS "
         "(uri 'gs://vestiaire/data/vestiaire.csv', skip_leading_rows '1');" % (URL, COLDEFS))
    psql("SELECT luxe.drop_pipeline(); SELECT luxe.setup_pipeline('b_raw')")
    psql("SELECT count(*) FROM b_raw")        # the emulator hashes a new object once
    print("file: %d rows, %.0f MB; %d round(s)" % (ROWS, size / 1e6, ROUNDS), flush=True)
    ta, tb, tc, rss_a, rss_b = [], [], [], [], []
    pandas_json = os.path.join(tmp, "got_pandas.json")
    for r in range(ROUNDS):
        a, ra = run_a()
        b, rb, line = run_b(path, pandas_json)
        c, parts = run_c(path)
        ta.append(a); tb.append(b); tc.append(c); rss_a.append(ra); rss_b.append(rb)
        print("round %d: (a) luxe_fdw %.2f s   (b) %s   (c) COPY %.2f + clean %.2f + insights %.2f = %.2f s"
              % (r + 1, a, line, parts[0], parts[1], parts[2], c), flush=True)
    # the three computed the same insights as the independent reference
    reference("compare", ref, "--psql-json", results_of("luxe", tmp))
    reference("compare", ref, "--psql-json", results_of("cpipe", tmp))
    reference("compare", ref, "--psql-json", pandas_json, "--unrounded-pct")
    print("same insights as the reference: (a) luxe_fdw, (b) pandas (percentages unrounded), (c) COPY + SQL")
    a, b, c = statistics.median(ta), statistics.median(tb), statistics.median(tc)
    print("(a) luxe_fdw pipeline       %6.2f s   backend peak RSS %5.0f MB" % (a, max(rss_a)))
    print("(b) pandas                  %6.2f s   peak RSS %5.0f MB" % (b, max(rss_b)))
    print("(c) COPY + plain SQL        %6.2f s" % c)
    bars = Bars()
    bars.check("ratio a/b", a / b, "<= 0.50", a / b <= 0.5)
    bars.check("ratio a/c", a / c, "<= 0.50", a / c <= 0.5)
    psql("DROP SCHEMA IF EXISTS cpipe CASCADE")
    return bars.exit_status()


if __name__ == "__main__":
    sys.exit(main())

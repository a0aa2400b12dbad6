--
-- The insights pipeline over a GCS foreign table: setup, refresh, views,
-- failure handling, scheduling without pg_cron, dashboard.
--
\getenv emulator_url LUXE_EMULATOR_URL
\set SHOW_CONTEXT never
CREATE SERVER regress_luxe_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_gcs OPTIONS (auth 'none');
CREATE FOREIGN TABLE raw_listings (
  product_id bigint, product_type text, product_name text, product_description text,
  product_keywords text, product_gender_target text, product_category text,
  product_season text, product_condition text, product_like_count float8,
  sold boolean, reserved boolean, available boolean, in_stock boolean,
  should_be_gone boolean, brand_id bigint, brand_name text, brand_url text,
  product_material text, product_color text, price_usd float8, seller_price float8,
  seller_earning float8, seller_badge text, has_cross_border_fees boolean,
  buyers_fees float8, warehouse_name text, seller_id bigint, seller_username text,
  usually_ships_within text, seller_country text, seller_products_sold float8,
  seller_num_products_listed float8, seller_community_rank float8,
  seller_num_followers float8, seller_pass_rate float8
) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://vestiaire/data/vestiaire.csv', skip_leading_rows '1');

-- refresh before setup, and a source without the columns
CALL luxe.refresh_pipeline();                          -- ERROR
CREATE TABLE not_listings (product_id bigint, brand_name text);
SELECT luxe.setup_pipeline('not_listings');            -- ERROR

-- what the BigQuery engine needs (regress/integration/engine_bigquery.py
-- runs it against the emulator)
CREATE SERVER regress_luxe_bq FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'bigquery', endpoint :'emulator_url', project 'regress-project');
SELECT luxe.setup_pipeline('raw_listings', engine => 'spark');                     -- ERROR
SELECT luxe.setup_pipeline('raw_listings', engine => 'bigquery');                   -- ERROR
SELECT luxe.setup_pipeline('raw_listings', engine => 'bigquery', bigquery_server => 'regress_luxe_gcs',
                           bigquery_dataset => 'luxe');                             -- ERROR
SELECT luxe.setup_pipeline('raw_listings', engine => 'bigquery', bigquery_server => 'regress_luxe_bq',
                           bigquery_dataset => 'not-a-dataset');                    -- ERROR
SELECT luxe.setup_pipeline('raw_listings', engine => 'bigquery', bigquery_server => 'regress_luxe_bq',
                           bigquery_dataset => 'luxe', publish_to => 'public');     -- ERROR
SELECT count(*) AS configured FROM luxe.pipeline_config;
-- the load job: the foreign table's options and columns, mapped
SELECT jsonb_pretty(luxe.bigquery_load_configuration('raw_listings', 'regress_luxe_bq', 'luxe')
                    #- '{load,schema}') AS load_job,
       jsonb_array_length(luxe.bigquery_load_configuration('raw_listings', 'regress_luxe_bq', 'luxe')
                          #> '{load,schema,fields}') AS schema_fields;
-- each cleaning rule in both dialects, from one spelling
SELECT rule, luxe.cleaning_expression('x', rule, 'bigint', 'postgres') AS postgres,
       luxe.cleaning_expression('x', rule, 'bigint', 'bigquery') AS googlesql
  FROM (SELECT DISTINCT rule FROM luxe.listing_columns()) r ORDER BY rule;
DROP SERVER regress_luxe_bq;

SELECT luxe.setup_pipeline('raw_listings');
SELECT relnamespace::regnamespace, relname, relkind, relpersistence FROM pg_class
 WHERE relnamespace IN ('luxe'::regnamespace, 'luxe_store'::regnamespace) AND relkind IN ('r', 'v', 'm', 'f')
 ORDER BY 1, 2;
-- (the cleaned rows: no insert-only autovacuum, not throttled)
SELECT relname, reloptions FROM pg_class
 WHERE relnamespace = 'luxe_store'::regnamespace AND relname IN ('listings', 'insight_rows') ORDER BY 1;
CALL luxe.refresh_pipeline();
SELECT run_id, trigger, attempt, status, full_reload, rows_read, rows_rejected, rows_inserted,
       rows_deleted, objects_added, objects_unchanged, error, finished_at >= started_at AS timed
  FROM luxe.pipeline_runs ORDER BY run_id;
SELECT uri, rows FROM luxe.pipeline_manifest;
-- the same object again: nothing to do, nothing touched
CALL luxe.refresh_pipeline();
SELECT run_id, status, rows_read, rows_inserted, objects_unchanged FROM luxe.pipeline_runs ORDER BY run_id;
-- readers see one buffer of each insight; the other is never scanned
EXPLAIN (COSTS OFF) SELECT * FROM luxe.sales_by_ship_interval;
SELECT count(*) AS refreshes_in_flight FROM luxe.pipeline_progress;

-- the cleaned table follows the rules
SELECT count(*) AS listings,
       count(*) FILTER (WHERE price_usd IS NULL OR buyers_fees IS NULL OR sold IS NULL
                              OR has_cross_border_fees IS NULL OR product_like_count IS NULL) AS unfilled,
       count(*) FILTER (WHERE brand_name <> lower(btrim(brand_name))
                              OR seller_country <> lower(btrim(seller_country))) AS unnormalised,
       count(*) FILTER (WHERE product_description ~ E'[\\t\\n\\r]|  |^ | $') AS unsquished,
       count(*) FILTER (WHERE NOT has_cross_border_fees) AS filled_false
  FROM luxe.listings;
SELECT l.product_id, r.brand_name AS raw_brand, l.brand_name, r.product_like_count AS raw_likes, l.product_like_count
  FROM luxe.listings l JOIN raw_listings r USING (product_id)
 WHERE r.brand_name <> l.brand_name ORDER BY l.product_id LIMIT 3;

-- each view agrees with plain SQL over the cleaned table
SELECT count(*) AS countries, sum(listings) AS listings, round(sum(share_pct), 6) AS share_sum,
       bool_and(sellers = (SELECT count(DISTINCT seller_id) FROM luxe.listings l
                            WHERE l.seller_country IS NOT DISTINCT FROM s.seller_country)) AS sellers_ok
  FROM luxe.sellers_by_country s;
SELECT bool_and(b.listings = q.n AND b.min_price = q.mn AND b.max_price = q.mx
                AND b.median = q.med AND b.p25 = q.p25 AND b.p75 = q.p75
                AND abs(b.avg_price - q.mean) <= 1e-9 * abs(q.mean)) AS brand_prices_ok,
       count(*) AS brands
  FROM luxe.brand_prices b
  JOIN (SELECT brand_name, count(*) AS n, min(price_usd) AS mn, max(price_usd) AS mx, avg(price_usd) AS mean,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY price_usd) AS med,
               percentile_cont(0.25) WITHIN GROUP (ORDER BY price_usd) AS p25,
               percentile_cont(0.75) WITHIN GROUP (ORDER BY price_usd) AS p75
          FROM luxe.listings GROUP BY brand_name) q USING (brand_name);
SELECT count(DISTINCT brand_name) AS brands, sum(listings) AS listings,
       max(abs(s - 100)) < 1e-9 AS sums_to_100
  FROM (SELECT brand_name, listings, sum(pct) OVER (PARTITION BY brand_name) AS s
          FROM luxe.product_types_by_brand) t;
SELECT usually_ships_within, sold, listings,
       sold = (SELECT count(*) FROM luxe.listings l
                WHERE coalesce(l.usually_ships_within, 'unknown') = v.usually_ships_within AND l.sold) AS sold_ok,
       sell_through_pct = round(100.0 * sold / listings, 12) AS through_ok
  FROM luxe.sales_by_ship_interval v ORDER BY bucket_order;
SELECT round(sum(share_pct), 9) AS share_sum FROM luxe.sales_by_ship_interval;

-- the brand x type counts are packed, one row per brand with its types'
-- counts; an incremental run adds and subtracts rows by difference, and
-- only the brands they have are written
SELECT count(*) AS brands, sum(cardinality(listings)) AS pairs,
       bool_and(cardinality(product_type) = cardinality(listings)) AS aligned
  FROM luxe_store.product_types_by_brand_counts;
BEGIN;
CREATE TEMP TABLE counts_before AS SELECT *, ctid AS at FROM luxe_store.product_types_by_brand_counts;
CREATE TEMP TABLE delta (source_object_id integer, brand_name text, product_type text, n bigint);
INSERT INTO delta
  SELECT 1, 'zz new brand', 'Bags', 3 UNION ALL SELECT 1, 'zz new brand', NULL, 2
  UNION ALL SELECT 2, min(brand_name), 'a type of its own', 4 FROM luxe_store.product_types_by_brand_counts;
SELECT luxe.count_difference('pg_temp.delta', 'n', NULL, 1);
SELECT c.brand_name, u.product_type, u.listings
  FROM luxe_store.product_types_by_brand_counts c, unnest(c.product_type, c.listings) u(product_type, listings)
 WHERE c.brand_name IN (SELECT brand_name FROM delta)
   AND (u.product_type IS NULL OR u.product_type IN ('Bags', 'a type of its own'))
 ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE c.ctid = b.at) AS rows_kept, count(*) FILTER (WHERE c.ctid <> b.at) AS rows_rewritten
  FROM luxe_store.product_types_by_brand_counts c JOIN counts_before b USING (brand_name);
-- the readers' lookup by brand can use the key
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT product_type, listings FROM luxe.product_types_by_brand WHERE brand_name = 'zz new brand';
RESET enable_seqscan;
-- subtracted again (object 1 only, then all): the counts are those before
SELECT luxe.count_difference('pg_temp.delta', 'n', ARRAY[1], -1);
SELECT count(*) AS brands FROM luxe_store.product_types_by_brand_counts WHERE brand_name = 'zz new brand';
SELECT luxe.count_difference('pg_temp.delta', 'n', ARRAY[2], -1);
SELECT count(*) AS differences
  FROM (SELECT brand_name, product_type::text, listings::text FROM luxe_store.product_types_by_brand_counts
        EXCEPT ALL SELECT brand_name, product_type::text, listings::text FROM counts_before) d;
-- rows subtracted that were never counted: the run would fail, not publish
SAVEPOINT s;
SELECT luxe.count_difference('pg_temp.delta', 'n', ARRAY[2], -1);   -- ERROR
ROLLBACK TO s;
ROLLBACK;

-- a failed run leaves the previous data readable and is recorded
ALTER FOREIGN TABLE raw_listings OPTIONS (SET uri 'gs://vestiaire/data/missing.csv');
CALL luxe.refresh_pipeline();                          -- ERROR
SELECT run_id, status, rows_read, error FROM luxe.pipeline_runs ORDER BY run_id;
SELECT count(*) FROM luxe.listings;
SELECT sum(listings) FROM luxe.sellers_by_country;
-- with retries: every attempt is a run
CALL luxe.refresh_pipeline(retries => 1, retry_delay => '10ms');   -- ERROR
SELECT run_id, attempt, status FROM luxe.pipeline_runs ORDER BY run_id;
ALTER FOREIGN TABLE raw_listings OPTIONS (SET uri 'gs://vestiaire/data/vestiaire.csv');
CALL luxe.refresh_pipeline();
SELECT run_id, status FROM luxe.last_refresh;

-- scheduling needs pg_cron in this database
SELECT luxe.schedule_pipeline();                       -- ERROR
SELECT luxe.unschedule_pipeline();                     -- ERROR

-- the dashboard: one self-contained page with the four charts and their
-- numbers; the figures it prints are shown beside the raw numbers of the
-- views (the expected output holds both, so neither is computed by the
-- formatting functions under test)
SELECT length(h) > 5000 AS sized,
       (SELECT count(*) FROM regexp_matches(h, '<svg ', 'g')) AS charts,
       h !~ '(src|href)=|https?:|@import|<script' AS self_contained
  FROM (SELECT luxe.dashboard_html() AS h) d;
SELECT seller_country, sellers, listings, share_pct,
       substring((SELECT luxe.dashboard_html()) FROM '[0-9,]+ sellers · [0-9.]+% · [0-9,]+ listings') AS shown
  FROM luxe.sellers_by_country ORDER BY sellers DESC, seller_country LIMIT 1;
SELECT brand_name, avg_price, median, listings,
       substring((SELECT luxe.dashboard_html()) FROM 'avg \$[0-9,.]+ · median \$[0-9,.]+ · [0-9,]+ listings') AS shown
  FROM luxe.brand_prices ORDER BY listings DESC, brand_name LIMIT 1;
SELECT usually_ships_within, share_pct,
       substring((SELECT luxe.dashboard_html()) FROM '[0-9.]+% of sales') AS shown
  FROM luxe.sales_by_ship_interval ORDER BY bucket_order LIMIT 1;
-- the read-only BI role of the README draws the same dashboard, and
-- cannot read the cleaned rows
CREATE ROLE regress_bi_reader;
GRANT USAGE ON SCHEMA luxe TO regress_bi_reader;
GRANT SELECT ON luxe.sellers_by_country, luxe.brand_prices,
                luxe.product_types_by_brand, luxe.sales_by_ship_interval,
                luxe.last_refresh TO regress_bi_reader;
CREATE TEMP TABLE dashboard_as_owner AS SELECT luxe.dashboard_html() AS h;
GRANT SELECT ON dashboard_as_owner TO regress_bi_reader;
SET ROLE regress_bi_reader;
SELECT luxe.dashboard_html() = (SELECT h FROM dashboard_as_owner) AS same_dashboard;
SELECT count(*) FROM luxe.listings;                    -- ERROR
RESET ROLE;
DROP TABLE dashboard_as_owner;
REVOKE ALL ON luxe.sellers_by_country, luxe.brand_prices, luxe.product_types_by_brand,
              luxe.sales_by_ship_interval, luxe.last_refresh FROM regress_bi_reader;
REVOKE USAGE ON SCHEMA luxe FROM regress_bi_reader;
DROP ROLE regress_bi_reader;
SELECT luxe.fmt_count(1234567), luxe.fmt_pct(12.345), luxe.fmt_pct(12.35), luxe.fmt_pct(0),
       luxe.fmt_usd(1234.5), luxe.fmt_usd(0.005), luxe.html_escape('<a href="x">Tom & Jerry''s</a>');
-- a full reload keeps the files of the cleaned rows it replaced (unlogged)
-- for the next one to write over; drop_pipeline removes them
CALL luxe.refresh_pipeline(full => true);
CREATE FUNCTION kept_files() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM pg_ls_dir('base/pgsql_tmp', true, false) f
   WHERE f LIKE format('pgsql_tmp\_luxe\_spare\_%s\_%%', (SELECT oid FROM pg_database WHERE datname = current_database()))
$$;
SELECT kept_files();
SELECT luxe.drop_pipeline();
SELECT kept_files();
DROP FUNCTION kept_files();
SELECT relname FROM pg_class
 WHERE relnamespace IN ('luxe'::regnamespace, 'luxe_store'::regnamespace) AND relkind IN ('r', 'v', 'm', 'f')
   AND relname NOT LIKE 'pipeline%' AND relname NOT IN ('last_refresh', 'insight_state')
 ORDER BY 1;
DROP TABLE not_listings;
SET client_min_messages = warning;
DROP SERVER regress_luxe_gcs CASCADE;

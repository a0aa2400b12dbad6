
--
-- The insights pipeline: cleaned listings, four materialized views, runs.
--

-- One row: the source the pipeline reads and its settings.
CREATE TABLE luxe.pipeline_config (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  source regclass NOT NULL,
  keep_runs interval NOT NULL DEFAULT '1 year',
  publish_to name,              -- schema of BigQuery foreign tables to replace, or NULL
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE luxe.pipeline_config IS 'the source relation of the pipeline and its settings (one row)';
SELECT pg_catalog.pg_extension_config_dump('luxe.pipeline_config', '');

CREATE TABLE luxe.pipeline_runs (
  run_id bigserial PRIMARY KEY,
  trigger text NOT NULL DEFAULT 'manual',
  attempt integer NOT NULL DEFAULT 1,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  rows_read bigint,
  rows_rejected bigint,
  load_seconds double precision,
  refresh_seconds double precision,
  publish_seconds double precision,
  error text
);
COMMENT ON TABLE luxe.pipeline_runs IS 'history of pipeline refreshes: one row per attempt';
CREATE INDEX ON luxe.pipeline_runs (started_at);
SELECT pg_catalog.pg_extension_config_dump('luxe.pipeline_runs', '');
SELECT pg_catalog.pg_extension_config_dump('luxe.pipeline_runs_run_id_seq', '');

-- The 36 columns a source must have, with the cleaned table's types.
CREATE FUNCTION luxe.listing_columns()
RETURNS TABLE (ord integer, name text, cleaned_type text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT * FROM (VALUES
    (1, 'product_id', 'bigint'),
    (2, 'product_type', 'text'),
    (3, 'product_name', 'text'),
    (4, 'product_description', 'text'),
    (5, 'product_keywords', 'text'),
    (6, 'product_gender_target', 'text'),
    (7, 'product_category', 'text'),
    (8, 'product_season', 'text'),
    (9, 'product_condition', 'text'),
    (10, 'product_like_count', 'bigint'),
    (11, 'sold', 'boolean'),
    (12, 'reserved', 'boolean'),
    (13, 'available', 'boolean'),
    (14, 'in_stock', 'boolean'),
    (15, 'should_be_gone', 'boolean'),
    (16, 'brand_id', 'text'),
    (17, 'brand_name', 'text'),
    (18, 'brand_url', 'text'),
    (19, 'product_material', 'text'),
    (20, 'product_color', 'text'),
    (21, 'price_usd', 'double precision'),
    (22, 'seller_price', 'double precision'),
    (23, 'seller_earning', 'double precision'),
    (24, 'seller_badge', 'text'),
    (25, 'has_cross_border_fees', 'boolean'),
    (26, 'buyers_fees', 'double precision'),
    (27, 'warehouse_name', 'text'),
    (28, 'seller_id', 'bigint'),
    (29, 'seller_username', 'text'),
    (30, 'usually_ships_within', 'text'),
    (31, 'seller_country', 'text'),
    (32, 'seller_products_sold', 'bigint'),
    (33, 'seller_num_products_listed', 'bigint'),
    (34, 'seller_community_rank', 'bigint'),
    (35, 'seller_num_followers', 'bigint'),
    (36, 'seller_pass_rate', 'double precision')
  ) AS v(ord, name, cleaned_type)
$$;
COMMENT ON FUNCTION luxe.listing_columns() IS 'the 36 Vestiaire columns in file order, with their types after cleaning';

-- The cleaning rules (README, "The pipeline") as one SELECT list over a source.
CREATE FUNCTION luxe.cleaning_select(source regclass)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT 'SELECT ' || string_agg(
    CASE
      WHEN name IN ('price_usd', 'seller_price', 'seller_earning', 'buyers_fees', 'seller_pass_rate')
        THEN format('coalesce(%I::double precision, 0.0)', name)
      WHEN name IN ('product_like_count', 'seller_products_sold', 'seller_num_products_listed',
                    'seller_community_rank', 'seller_num_followers')
        THEN format('coalesce(%I::bigint, 0)', name)
      WHEN name IN ('sold', 'reserved', 'available', 'in_stock', 'should_be_gone', 'has_cross_border_fees')
        THEN format('coalesce(%I::boolean, false)', name)
      WHEN name IN ('product_condition', 'product_gender_target', 'seller_country',
                    'product_material', 'product_color', 'product_category')
        THEN format('luxe.lower_trim(%I::text)', name)
      WHEN name = 'brand_name' THEN 'coalesce(luxe.lower_trim(brand_name::text), ''unknown'')'
      WHEN name IN ('brand_id', 'brand_url') THEN format('coalesce(%I::text, ''unknown'')', name)
      WHEN name = 'product_description' THEN 'luxe.squish(product_description::text)'
      ELSE format('%I::%s', name, cleaned_type)
    END || ' AS ' || quote_ident(name), ', ' ORDER BY ord) || ' FROM ' || source::text
  FROM luxe.listing_columns()
$$;
COMMENT ON FUNCTION luxe.cleaning_select(regclass) IS 'the SELECT that applies the cleaning rules to a source';

/*
 * setup_pipeline: (re)point the pipeline at a source and create the cleaned
 * table and the insight views if they do not exist yet.
 */
CREATE FUNCTION luxe.setup_pipeline(source regclass, keep_runs interval DEFAULT '1 year',
                                    durable boolean DEFAULT false, publish_to name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  missing text;
BEGIN
  SELECT string_agg(quote_ident(c.name), ', ' ORDER BY c.ord) INTO missing
    FROM luxe.listing_columns() c
   WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = source AND a.attname = c.name
                        AND a.attnum > 0 AND NOT a.attisdropped);
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'relation % lacks columns of the Vestiaire listings', source
      USING ERRCODE = 'undefined_column',
            DETAIL = format('Missing: %s.', missing),
            HINT = 'The source needs the 36 columns of the listings file, by name.';
  END IF;

  IF publish_to IS NOT NULL THEN
    SELECT string_agg(t, ', ') INTO missing
      FROM unnest(luxe.published_objects()) t
     WHERE NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = publish_to AND c.relname = t AND c.relkind = 'f');
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'schema "%" lacks foreign tables to publish to', publish_to
        USING ERRCODE = 'undefined_table',
              DETAIL = format('Missing: %s.', missing),
              HINT = 'Create the BigQuery tables (columns named like the local ones) and IMPORT FOREIGN SCHEMA their dataset into that schema.';
    END IF;
  END IF;

  INSERT INTO luxe.pipeline_config (source, keep_runs, publish_to) VALUES (source, keep_runs, publish_to)
  ON CONFLICT (singleton) DO UPDATE SET source = EXCLUDED.source, keep_runs = EXCLUDED.keep_runs,
                                        publish_to = EXCLUDED.publish_to;

  IF to_regclass('luxe.listings') IS NULL THEN
    -- Unlogged by default: the table is rebuilt from the source by every
    -- refresh, and skipping WAL for ~0.5 GB saves seconds per run.  After a
    -- crash it is empty until the next refresh; the views keep their data.
    EXECUTE (SELECT 'CREATE ' || CASE WHEN durable THEN '' ELSE 'UNLOGGED ' END || 'TABLE luxe.listings (' ||
                    string_agg(format('%I %s', name, cleaned_type), ', ' ORDER BY ord) || ')'
               FROM luxe.listing_columns());
    COMMENT ON TABLE luxe.listings IS 'the cleaned listings, reloaded by luxe.refresh_pipeline()';
  END IF;

  IF to_regclass('luxe.sellers_by_country') IS NULL THEN
    CREATE MATERIALIZED VIEW luxe.sellers_by_country AS
      SELECT seller_country, sellers, listings,
             luxe.pct(sellers, (sum(sellers) OVER ())::bigint) AS share_pct
        FROM (SELECT seller_country, luxe.distinct_count(seller_id) AS sellers,
                     count(*) AS listings
                FROM luxe.listings GROUP BY seller_country) s;
    CREATE UNIQUE INDEX sellers_by_country_key ON luxe.sellers_by_country (seller_country) NULLS NOT DISTINCT;
    COMMENT ON MATERIALIZED VIEW luxe.sellers_by_country
      IS 'insight 1: distinct sellers and listings per seller country, with the country''s share (%) of all sellers';
  END IF;

  IF to_regclass('luxe.brand_prices') IS NULL THEN
    CREATE MATERIALIZED VIEW luxe.brand_prices AS
      SELECT brand_name, (s).listings, (s).mean AS avg_price, (s).p25, (s).median, (s).p75,
             (s).min AS min_price, (s).max AS max_price
        FROM (SELECT brand_name, luxe.price_summary(price_usd) AS s
                FROM luxe.listings GROUP BY brand_name) b;
    CREATE UNIQUE INDEX brand_prices_key ON luxe.brand_prices (brand_name) NULLS NOT DISTINCT;
    COMMENT ON MATERIALIZED VIEW luxe.brand_prices
      IS 'insight 2: listings and price_usd mean, min, quartiles (percentile_cont) and max per brand';
  END IF;

  IF to_regclass('luxe.product_types_by_brand') IS NULL THEN
    CREATE MATERIALIZED VIEW luxe.product_types_by_brand AS
      SELECT brand_name, product_type, count(*) AS listings,
             luxe.pct(count(*), (sum(count(*)) OVER (PARTITION BY brand_name))::bigint) AS pct
        FROM luxe.listings GROUP BY brand_name, product_type;
    CREATE UNIQUE INDEX product_types_by_brand_key
      ON luxe.product_types_by_brand (brand_name, product_type) NULLS NOT DISTINCT;
    COMMENT ON MATERIALIZED VIEW luxe.product_types_by_brand
      IS 'insight 3: listings per brand and product type, and the type''s share (%) of the brand''s listings';
  END IF;

  IF to_regclass('luxe.sales_by_ship_interval') IS NULL THEN
    CREATE MATERIALIZED VIEW luxe.sales_by_ship_interval AS
      SELECT bucket AS usually_ships_within, sold,
             luxe.pct(sold, (sum(sold) OVER ())::bigint) AS share_pct,
             sell_through_pct, listings,
             CASE bucket WHEN '1-2 days' THEN 1 WHEN '3-5 days' THEN 2 WHEN '6-7 days' THEN 3
                         WHEN 'More than 7 days' THEN 4 WHEN 'unknown' THEN 5 ELSE 6 END AS bucket_order
        FROM (SELECT coalesce(usually_ships_within, 'unknown') AS bucket,
                     count(*) FILTER (WHERE sold) AS sold,
                     luxe.pct(count(*) FILTER (WHERE sold), count(*)) AS sell_through_pct,
                     count(*) AS listings
                FROM luxe.listings GROUP BY 1) s;
    CREATE UNIQUE INDEX sales_by_ship_interval_key ON luxe.sales_by_ship_interval (usually_ships_within);
    COMMENT ON MATERIALIZED VIEW luxe.sales_by_ship_interval
      IS 'insight 4: sold listings per shipping interval, share (%) of all sales and sell-through (%); order by bucket_order';
  END IF;
END
$$;
COMMENT ON FUNCTION luxe.setup_pipeline(regclass, interval, boolean, name)
IS 'point the pipeline at a source relation; create luxe.listings (unlogged unless durable) and the insight views if missing';
REVOKE ALL ON FUNCTION luxe.setup_pipeline(regclass, interval, boolean, name) FROM PUBLIC;   -- changes the pipeline: an administrator grants it

/*
 * One attempt of a refresh, in a subtransaction: reload the cleaned table
 * and refresh the views concurrently.  On failure the subtransaction rolls
 * back, so the previous data stays, and the run is marked failed.  Never
 * raises for a data or source error; returns whether it succeeded.
 */
/* The pipeline objects that publishing replaces in BigQuery, in order. */
CREATE FUNCTION luxe.published_objects()
RETURNS name[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['listings', 'sellers_by_country', 'brand_prices',
                   'product_types_by_brand', 'sales_by_ship_interval']::name[] $$;
COMMENT ON FUNCTION luxe.published_objects() IS 'the cleaned table and the four insight views, as publishing names them';

/*
 * Replace the contents of the BigQuery foreign tables in schema target with
 * the cleaned table and the insight views: for each, TRUNCATE then INSERT of
 * the columns both have, which luxe_fdw turns into one WRITE_TRUNCATE load
 * job; the loads run at once (luxe.bigquery_flush), so a failure is an
 * error here.  Returns the rows published.
 */
CREATE FUNCTION luxe.publish_pipeline(target name)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  obj name;
  dest regclass;
  cols text;
  n bigint;
  total bigint := 0;
BEGIN
  FOREACH obj IN ARRAY luxe.published_objects() LOOP
    dest := format('%I.%I', target, obj)::regclass;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = dest AND a.attnum > 0 AND NOT a.attisdropped
       AND EXISTS (SELECT 1 FROM pg_attribute l
                    WHERE l.attrelid = format('luxe.%I', obj)::regclass
                      AND l.attname = a.attname AND l.attnum > 0 AND NOT l.attisdropped);
    IF cols IS NULL THEN
      RAISE EXCEPTION 'foreign table % has no column of luxe.%', dest, obj
        USING ERRCODE = 'undefined_column';
    END IF;
    EXECUTE format('TRUNCATE %s', dest);
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM luxe.%I', dest, cols, cols, obj);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
  END LOOP;
  PERFORM luxe.bigquery_flush();
  RETURN total;
END
$$;
COMMENT ON FUNCTION luxe.publish_pipeline(name)
IS 'replace the BigQuery foreign tables in a schema with the cleaned table and the insight views (WRITE_TRUNCATE load jobs)';
REVOKE ALL ON FUNCTION luxe.publish_pipeline(name) FROM PUBLIC;   -- changes the pipeline: an administrator grants it

CREATE FUNCTION luxe.run_refresh(run bigint)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  src regclass;
  n bigint;
  rejected bigint;
  t0 timestamptz := clock_timestamp();
  t1 timestamptz;
  t2 timestamptz;
  target name;
  msg text;
  detail text;
  state text;
BEGIN
  SELECT source, publish_to INTO src, target FROM luxe.pipeline_config;
  BEGIN
    -- one refresh at a time; a second waits
    PERFORM pg_advisory_xact_lock(hashtext('luxe.refresh_pipeline'));
    TRUNCATE luxe.listings;
    EXECUTE 'INSERT INTO luxe.listings ' || luxe.cleaning_select(src);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- rows a max_bad_records budget on a luxe_fdw source let the scan skip
    SELECT count(*) INTO rejected FROM luxe.last_scan_rejects();
    t1 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY luxe.sellers_by_country;
    REFRESH MATERIALIZED VIEW CONCURRENTLY luxe.brand_prices;
    REFRESH MATERIALIZED VIEW CONCURRENTLY luxe.product_types_by_brand;
    REFRESH MATERIALIZED VIEW CONCURRENTLY luxe.sales_by_ship_interval;
    t2 := clock_timestamp();
    -- publishing to BigQuery is part of the run: if it fails, so does the run
    IF target IS NOT NULL THEN
      PERFORM luxe.publish_pipeline(target);
    END IF;
    UPDATE luxe.pipeline_runs
       SET status = 'succeeded', finished_at = clock_timestamp(), rows_read = n,
           rows_rejected = rejected,
           load_seconds = extract(epoch FROM t1 - t0),
           refresh_seconds = extract(epoch FROM t2 - t1),
           publish_seconds = CASE WHEN target IS NOT NULL THEN extract(epoch FROM clock_timestamp() - t2) END
     WHERE run_id = run;
    RETURN true;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
    UPDATE luxe.pipeline_runs
       SET status = 'failed', finished_at = clock_timestamp(),
           error = format('%s: %s%s', state, msg, CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END)
     WHERE run_id = run;
    RETURN false;
  END;
END
$$;
COMMENT ON FUNCTION luxe.run_refresh(bigint) IS 'one attempt of a pipeline refresh for a run row; internal';
REVOKE ALL ON FUNCTION luxe.run_refresh(bigint) FROM PUBLIC;   -- changes the pipeline: an administrator grants it

/*
 * Drop history older than keep_runs: our runs, and pg_cron's log lines of
 * the pipeline job (pg_cron never prunes job_run_details itself).
 */
CREATE FUNCTION luxe.prune_history()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  keep interval;
BEGIN
  SELECT keep_runs INTO keep FROM luxe.pipeline_config;
  IF keep IS NULL THEN
    RETURN;
  END IF;
  DELETE FROM luxe.pipeline_runs WHERE started_at < now() - keep;
  IF to_regclass('cron.job_run_details') IS NOT NULL THEN
    EXECUTE 'DELETE FROM cron.job_run_details WHERE end_time < now() - $1
               AND jobid IN (SELECT jobid FROM cron.job WHERE jobname = $2)'
      USING keep, luxe.pipeline_job_name();
  END IF;
END
$$;
COMMENT ON FUNCTION luxe.prune_history() IS 'delete pipeline and pg_cron run history older than the keep_runs setting';
REVOKE ALL ON FUNCTION luxe.prune_history() FROM PUBLIC;   -- changes the pipeline: an administrator grants it

/*
 * refresh_pipeline: the procedure users and pg_cron call.  Each attempt is
 * committed with its run row, so the history survives a failure; after the
 * last failed attempt it raises the error.
 *
 * NB: no SET search_path here: a procedure with a SET clause cannot COMMIT
 * ("invalid transaction termination"), and this one commits each attempt.
 * Its body therefore qualifies every name (luxe.*, pg_catalog.*); the
 * functions it calls have their own SET search_path.
 */
CREATE PROCEDURE luxe.refresh_pipeline(retries integer DEFAULT 0,
                                       retry_delay interval DEFAULT '1 minute',
                                       trigger text DEFAULT 'manual')
LANGUAGE plpgsql
AS $$
DECLARE
  run bigint;
  attempt integer := 1;
  ok boolean;
  err text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM luxe.pipeline_config) THEN
    RAISE EXCEPTION 'the luxe pipeline is not set up'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call luxe.setup_pipeline(''your_source''::regclass) first.';
  END IF;
  LOOP
    INSERT INTO luxe.pipeline_runs (trigger, attempt) VALUES (trigger, attempt)
    RETURNING run_id INTO run;
    COMMIT;                       -- the run is visible while it runs
    ok := luxe.run_refresh(run);
    PERFORM luxe.prune_history();
    COMMIT;
    EXIT WHEN ok OR attempt > retries;
    attempt := attempt + 1;
    PERFORM pg_catalog.pg_sleep(extract(epoch FROM retry_delay));
  END LOOP;
  IF NOT ok THEN
    SELECT error INTO err FROM luxe.pipeline_runs WHERE run_id = run;
    RAISE EXCEPTION 'luxe pipeline refresh failed after % attempt(s)', attempt
      USING ERRCODE = 'external_routine_exception',
            DETAIL = err,
            HINT = pg_catalog.format('See SELECT * FROM luxe.pipeline_runs WHERE run_id = %s.', run);
  END IF;
END
$$;
COMMENT ON PROCEDURE luxe.refresh_pipeline(integer, interval, text)
IS 'reload luxe.listings from the source and refresh the insight views concurrently, with retries; records every attempt in luxe.pipeline_runs';
REVOKE ALL ON PROCEDURE luxe.refresh_pipeline(integer, interval, text) FROM PUBLIC;   -- rewrites the pipeline: an administrator grants it

CREATE VIEW luxe.last_refresh AS
  SELECT * FROM luxe.pipeline_runs
   WHERE status = 'succeeded'
   ORDER BY run_id DESC LIMIT 1;
COMMENT ON VIEW luxe.last_refresh IS 'the last successful pipeline run';

CREATE FUNCTION luxe.drop_pipeline()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  DROP MATERIALIZED VIEW IF EXISTS luxe.sellers_by_country, luxe.brand_prices,
    luxe.product_types_by_brand, luxe.sales_by_ship_interval;
  DROP TABLE IF EXISTS luxe.listings;
  DELETE FROM luxe.pipeline_config;
  DELETE FROM luxe.pipeline_runs;
END
$$;
COMMENT ON FUNCTION luxe.drop_pipeline()
IS 'drop the cleaned table and the insight views, and forget the source and the run history';
REVOKE ALL ON FUNCTION luxe.drop_pipeline() FROM PUBLIC;   -- changes the pipeline: an administrator grants it

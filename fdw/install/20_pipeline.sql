
--
-- The insights pipeline: cleaned listings, four insight relations, runs.
--
-- Storage: luxe_store holds what the pipeline builds (the cleaned rows
-- with the object each came from, two tables per insight -- or, for a
-- counted insight, its counts updated in place and two views over them --
-- and the scan of the source); schema luxe shows it to users and BI tools
-- as plain views: luxe.listings and the four insights.  Each insight is
-- double-buffered:
-- a refresh rebuilds the buffer readers do not read and then flips
-- luxe_store.insight_state, in the transaction that commits the new rows.
-- No DDL, no lock stronger than a row lock on what readers read: a reader
-- never waits for a refresh, a refresh never waits for a reader (not even
-- one idle in an open transaction), and a reader's snapshot sees one
-- consistent set of the four.  Every tool that lists views lists them.
--
CREATE SCHEMA luxe_store;
COMMENT ON SCHEMA luxe_store IS 'luxe_fdw pipeline storage behind the views of schema luxe; not for direct use';

-- Which buffer ('a' or 'b') of the insights readers see.
CREATE TABLE luxe_store.insight_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  active "char" NOT NULL CHECK (active IN ('a', 'b'))
);
INSERT INTO luxe_store.insight_state VALUES (true, 'a');

-- One row: the source the pipeline reads and its settings.
CREATE TABLE luxe.pipeline_config (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  source regclass NOT NULL,
  keep_runs interval NOT NULL DEFAULT '1 year',
  publish_to name,              -- schema of BigQuery foreign tables to replace, or NULL
  incremental boolean NOT NULL DEFAULT true,  -- GCS sources: load only new and changed objects
  alert_url text,               -- webhook for finished attempts, or NULL
  alert_on_success boolean NOT NULL DEFAULT false,
  source_signature text,        -- the source's definition the manifest was built from
  engine text NOT NULL DEFAULT 'local' CHECK (engine IN ('local', 'bigquery')),
  bigquery_server name,         -- engine bigquery: a luxe_fdw BigQuery server
  bigquery_dataset text,        -- ... and the dataset its tables go to
  maximum_bytes_billed bigint,  -- cost guard on every BigQuery query job
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
  status text NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'succeeded', 'skipped', 'failed')),
  full_reload boolean,          -- every object (re)loaded, not only the changes
  rows_read bigint,             -- rows in luxe.listings after the run
  rows_rejected bigint,         -- rows a max_bad_records budget let the scans skip
  rows_inserted bigint,
  rows_deleted bigint,
  objects_added integer,
  objects_replaced integer,     -- a new generation: rows deleted, then reloaded
  objects_removed integer,
  objects_unchanged integer,
  list_seconds double precision,
  load_seconds double precision,
  refresh_seconds double precision,   -- building the insights
  publish_seconds double precision,
  error text,
  alert text,                   -- what became of the webhook call, if any
  engine text,
  bigquery_jobs jsonb,          -- engine bigquery: each job's step, id, bytes
  bytes_processed bigint,       -- engine bigquery: totalBytesProcessed, summed
  bytes_into_postgres bigint,   -- response bytes the run brought into PostgreSQL
  load_phases jsonb             -- local engine, GCS source: where the load's time went
);
COMMENT ON TABLE luxe.pipeline_runs IS 'history of pipeline refreshes: one row per attempt';
CREATE INDEX ON luxe.pipeline_runs (started_at);
SELECT pg_catalog.pg_extension_config_dump('luxe.pipeline_runs', '');
SELECT pg_catalog.pg_extension_config_dump('luxe.pipeline_runs_run_id_seq', '');

-- The objects whose rows luxe_store.listings holds: committed with the rows.
CREATE TABLE luxe.pipeline_manifest (
  object_id serial PRIMARY KEY,
  uri text NOT NULL UNIQUE,     -- gs://bucket/object
  generation bigint NOT NULL,
  size bigint NOT NULL,
  rows bigint,
  run_id bigint,
  load_batch bigint             -- BigQuery engine: the run whose load job loaded it
);
COMMENT ON TABLE luxe.pipeline_manifest IS 'the source objects (and generations) the cleaned rows come from, as of the last successful run';
SELECT pg_catalog.pg_extension_config_dump('luxe.pipeline_manifest', '');
SELECT pg_catalog.pg_extension_config_dump('luxe.pipeline_manifest_object_id_seq', '');

-- What each run planned: the loads in load order, then the removals.
CREATE TABLE luxe.pipeline_run_objects (
  run_id bigint NOT NULL REFERENCES luxe.pipeline_runs ON DELETE CASCADE,
  ord integer NOT NULL,
  uri text NOT NULL,
  generation bigint NOT NULL,
  size bigint NOT NULL,
  action text NOT NULL CHECK (action IN ('add', 'replace', 'remove')),
  PRIMARY KEY (run_id, ord)
);
COMMENT ON TABLE luxe.pipeline_run_objects IS 'the objects a run planned to load or remove, in order';

-- The 36 columns a source must have, with the cleaned table's types and
-- the cleaning rule of each (README, "The pipeline"), spelt once: both
-- engines' SQL is generated from it (luxe.cleaning_expression).
CREATE FUNCTION luxe.listing_columns()
RETURNS TABLE (ord integer, name text, cleaned_type text, rule text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT * FROM (VALUES
    (1, 'product_id', 'bigint', 'cast'),
    (2, 'product_type', 'text', 'cast'),
    (3, 'product_name', 'text', 'cast'),
    (4, 'product_description', 'text', 'squish'),
    (5, 'product_keywords', 'text', 'cast'),
    (6, 'product_gender_target', 'text', 'lower_trim'),
    (7, 'product_category', 'text', 'lower_trim'),
    (8, 'product_season', 'text', 'cast'),
    (9, 'product_condition', 'text', 'lower_trim'),
    (10, 'product_like_count', 'bigint', 'zero_int'),
    (11, 'sold', 'boolean', 'false'),
    (12, 'reserved', 'boolean', 'false'),
    (13, 'available', 'boolean', 'false'),
    (14, 'in_stock', 'boolean', 'false'),
    (15, 'should_be_gone', 'boolean', 'false'),
    (16, 'brand_id', 'text', 'unknown'),
    (17, 'brand_name', 'text', 'lower_trim_unknown'),
    (18, 'brand_url', 'text', 'unknown'),
    (19, 'product_material', 'text', 'lower_trim'),
    (20, 'product_color', 'text', 'lower_trim'),
    (21, 'price_usd', 'double precision', 'zero_float'),
    (22, 'seller_price', 'double precision', 'zero_float'),
    (23, 'seller_earning', 'double precision', 'zero_float'),
    (24, 'seller_badge', 'text', 'cast'),
    (25, 'has_cross_border_fees', 'boolean', 'false'),
    (26, 'buyers_fees', 'double precision', 'zero_float'),
    (27, 'warehouse_name', 'text', 'cast'),
    (28, 'seller_id', 'bigint', 'cast'),
    (29, 'seller_username', 'text', 'cast'),
    (30, 'usually_ships_within', 'text', 'cast'),
    (31, 'seller_country', 'text', 'lower_trim'),
    (32, 'seller_products_sold', 'bigint', 'zero_int'),
    (33, 'seller_num_products_listed', 'bigint', 'zero_int'),
    (34, 'seller_community_rank', 'bigint', 'zero_int'),
    (35, 'seller_num_followers', 'bigint', 'zero_int'),
    (36, 'seller_pass_rate', 'double precision', 'zero_float')
  ) AS v(ord, name, cleaned_type, rule)
$$;
COMMENT ON FUNCTION luxe.listing_columns() IS 'the 36 Vestiaire columns in file order, with their types after cleaning and their cleaning rules';

-- The GoogleSQL type that holds a PostgreSQL type's values.
CREATE FUNCTION luxe.bigquery_type(pg_type text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE pg_type
    WHEN 'bigint' THEN 'INT64' WHEN 'integer' THEN 'INT64' WHEN 'smallint' THEN 'INT64'
    WHEN 'double precision' THEN 'FLOAT64' WHEN 'real' THEN 'FLOAT64'
    WHEN 'boolean' THEN 'BOOL' WHEN 'numeric' THEN 'BIGNUMERIC' WHEN 'date' THEN 'DATE'
    WHEN 'timestamp with time zone' THEN 'TIMESTAMP'
    ELSE 'STRING' END
$$;
COMMENT ON FUNCTION luxe.bigquery_type(text) IS 'the BigQuery type for a PostgreSQL type name';

/*
 * One column's cleaning rule as an expression over column x of the raw
 * rows, in PostgreSQL or in BigQuery's GoogleSQL.  Each pair computes the
 * same value: float8 to bigint rounds half to even in PostgreSQL (rint),
 * so GoogleSQL rounds that way too; btrim() trims spaces only; squish is
 * luxe.squish ([ \t\n\r\f\v] runs to one space, trimmed).
 */
CREATE FUNCTION luxe.cleaning_expression(x text, rule text, cleaned_type text, dialect text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE dialect
    WHEN 'postgres' THEN CASE rule
      WHEN 'zero_float' THEN format('coalesce(%s::double precision, 0.0)', x)
      WHEN 'zero_int' THEN format('coalesce(%s::bigint, 0)', x)
      WHEN 'false' THEN format('coalesce(%s::boolean, false)', x)
      WHEN 'lower_trim' THEN format('luxe.lower_trim(%s::text)', x)
      WHEN 'lower_trim_unknown' THEN format('coalesce(luxe.lower_trim(%s::text), ''unknown'')', x)
      WHEN 'unknown' THEN format('coalesce(%s::text, ''unknown'')', x)
      WHEN 'squish' THEN format('luxe.squish(%s::text)', x)
      ELSE format('%s::%s', x, cleaned_type) END
    WHEN 'bigquery' THEN CASE rule
      WHEN 'zero_float' THEN format('COALESCE(CAST(%s AS FLOAT64), 0.0)', x)
      WHEN 'zero_int' THEN format('COALESCE(CAST(ROUND(CAST(%s AS BIGNUMERIC), 0, ''ROUND_HALF_EVEN'') AS INT64), 0)', x)
      WHEN 'false' THEN format('COALESCE(CAST(%s AS BOOL), FALSE)', x)
      WHEN 'lower_trim' THEN format('LOWER(TRIM(CAST(%s AS STRING), '' ''))', x)
      WHEN 'lower_trim_unknown' THEN format('COALESCE(LOWER(TRIM(CAST(%s AS STRING), '' '')), ''unknown'')', x)
      WHEN 'unknown' THEN format('COALESCE(CAST(%s AS STRING), ''unknown'')', x)
      WHEN 'squish' THEN format('REGEXP_REPLACE(TRIM(CAST(%s AS STRING), '' \t\n\r\f\v''), r''[ \t\n\r\f\v]+'', '' '')', x)
      ELSE format('CAST(%s AS %s)', x, luxe.bigquery_type(cleaned_type)) END
  END
$$;
COMMENT ON FUNCTION luxe.cleaning_expression(text, text, text, text) IS 'one cleaning rule as a PostgreSQL or GoogleSQL expression';

-- The cleaning rules as one SELECT over a source relation (PostgreSQL).
CREATE FUNCTION luxe.cleaning_select(source regclass)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT 'SELECT ' || string_agg(luxe.cleaning_expression(quote_ident(name), rule, cleaned_type, 'postgres')
                                 || ' AS ' || quote_ident(name), ', ' ORDER BY ord)
         || ' FROM ' || source::text
    FROM luxe.listing_columns()
$$;
COMMENT ON FUNCTION luxe.cleaning_select(regclass) IS 'the SELECT that applies the cleaning rules to a source';

-- The same rules as one GoogleSQL SELECT over a BigQuery table path.
CREATE FUNCTION luxe.cleaning_select_bigquery(raw_table text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT 'SELECT ' || string_agg(luxe.cleaning_expression('`' || name || '`', rule, cleaned_type, 'bigquery')
                                 || ' AS `' || name || '`', ', ' ORDER BY ord)
         || ' FROM `' || raw_table || '`'
    FROM luxe.listing_columns()
$$;
COMMENT ON FUNCTION luxe.cleaning_select_bigquery(text) IS 'the GoogleSQL SELECT that applies the cleaning rules to a BigQuery table';


/*
 * The four insights, in one place: the PostgreSQL query over the cleaned
 * rows (columns as listed), the columns BI tools read, the key a reader
 * would look rows up by, and the same insight in GoogleSQL for the
 * BigQuery engine ({listings}: the cleaned table), which must give the
 * same rows (counts exactly, floats to 1e-9, percentages to the digit:
 * luxe.pct rounds half away from zero to 12 decimals, as ROUND on
 * BIGNUMERIC does).  The test suite compares both engines row by row.
 *
 * An insight with counted_by is not stored as its query's rows: only the
 * count of listings per counted_by group is, in luxe_store.<name>_counts,
 * maintained by difference on an incremental run (the rows of the objects
 * added minus those of the objects replaced or removed), and the rest is
 * computed when read, by buffer_query ({buffer}: the buffer letter of the
 * other insights it joins).  A 10 % object touches most of the 400k brand x
 * type pairs of a real marketplace, and each pair's percentage depends on
 * its brand's total: stored, every one would be rewritten on each run.
 * counted_by names two columns, the second text.  The counts are packed:
 * one row per value of the first (its primary key, so never NULL:
 * brand_name is 'unknown' when missing), with an array of the second's
 * values and one of their counts -- on a real marketplace 12,000 rows to
 * write and index rather than 429,000.
 */
CREATE FUNCTION luxe.insight_definitions()
RETURNS TABLE (ord integer, name text, query text, columns text, key text, bigquery_query text,
               counted_by text, buffer_query text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT * FROM (VALUES
    (1, 'sellers_by_country',
     $q$SELECT seller_country, sellers, listings,
               luxe.pct(sellers, (sum(sellers) OVER ())::bigint) AS share_pct
          FROM (SELECT seller_country, luxe.distinct_count(seller_id) AS sellers, count(*) AS listings
                  FROM luxe_store.insight_rows GROUP BY seller_country) s$q$,
     'seller_country, sellers, listings, share_pct', 'seller_country',
     $q$SELECT seller_country, sellers, listings,
               ROUND(SAFE_DIVIDE(CAST(sellers AS BIGNUMERIC) * 100, SUM(sellers) OVER ()), 12) AS share_pct
          FROM (SELECT seller_country, COUNT(DISTINCT seller_id) AS sellers, COUNT(*) AS listings
                  FROM {listings} GROUP BY seller_country)$q$,
     NULL, NULL),
    (2, 'brand_prices',
     $q$SELECT brand_name, (s).listings, (s).mean AS avg_price, (s).p25, (s).median, (s).p75,
               (s).min AS min_price, (s).max AS max_price
          FROM (SELECT brand_name, luxe.price_summary(price_usd) AS s
                  FROM luxe_store.insight_rows GROUP BY brand_name) b$q$,
     'brand_name, listings, avg_price, p25, median, p75, min_price, max_price', 'brand_name',
     $q$SELECT DISTINCT brand_name,
               COUNT(*) OVER (PARTITION BY brand_name) AS listings,
               AVG(price_usd) OVER (PARTITION BY brand_name) AS avg_price,
               PERCENTILE_CONT(price_usd, 0.25) OVER (PARTITION BY brand_name) AS p25,
               PERCENTILE_CONT(price_usd, 0.5) OVER (PARTITION BY brand_name) AS median,
               PERCENTILE_CONT(price_usd, 0.75) OVER (PARTITION BY brand_name) AS p75,
               MIN(price_usd) OVER (PARTITION BY brand_name) AS min_price,
               MAX(price_usd) OVER (PARTITION BY brand_name) AS max_price
          FROM {listings}$q$,
     NULL, NULL),
    (3, 'product_types_by_brand',
     $q$SELECT brand_name, product_type, count(*) AS listings,
               luxe.pct(count(*), (sum(count(*)) OVER (PARTITION BY brand_name))::bigint) AS pct
          FROM luxe_store.insight_rows GROUP BY brand_name, product_type$q$,
     'brand_name, product_type, listings, pct', 'brand_name',
     $q$SELECT brand_name, product_type, COUNT(*) AS listings,
               ROUND(SAFE_DIVIDE(CAST(COUNT(*) AS BIGNUMERIC) * 100,
                                 SUM(COUNT(*)) OVER (PARTITION BY brand_name)), 12) AS pct
          FROM {listings} GROUP BY brand_name, product_type$q$,
     -- the brand's listings are those of brand_prices, in the same buffer
     'brand_name, product_type',
     -- (unnested in the select list, streamed: a LATERAL unnest would
     -- fill a tuplestore per brand, and a full scan took 2.5 times as long)
     $q$SELECT c.brand_name, c.product_type, c.listings, luxe.pct(c.listings, b.listings) AS pct
          FROM (SELECT brand_name, unnest(product_type) AS product_type, unnest(listings) AS listings
                  FROM luxe_store.product_types_by_brand_counts) c
          JOIN luxe_store.brand_prices_{buffer} b ON b.brand_name = c.brand_name$q$),
    (4, 'sales_by_ship_interval',
     $q$SELECT bucket AS usually_ships_within, sold,
               luxe.pct(sold, (sum(sold) OVER ())::bigint) AS share_pct,
               sell_through_pct, listings,
               CASE bucket WHEN '1-2 days' THEN 1 WHEN '3-5 days' THEN 2 WHEN '6-7 days' THEN 3
                           WHEN 'More than 7 days' THEN 4 WHEN 'unknown' THEN 5 ELSE 6 END AS bucket_order
          FROM (SELECT coalesce(usually_ships_within, 'unknown') AS bucket,
                       count(*) FILTER (WHERE sold) AS sold,
                       luxe.pct(count(*) FILTER (WHERE sold), count(*)) AS sell_through_pct,
                       count(*) AS listings
                  FROM luxe_store.insight_rows GROUP BY 1) s$q$,
     'usually_ships_within, sold, share_pct, sell_through_pct, listings, bucket_order',
     'usually_ships_within',
     $q$SELECT bucket AS usually_ships_within, sold,
               ROUND(SAFE_DIVIDE(CAST(sold AS BIGNUMERIC) * 100, SUM(sold) OVER ()), 12) AS share_pct,
               sell_through_pct, listings,
               CASE bucket WHEN '1-2 days' THEN 1 WHEN '3-5 days' THEN 2 WHEN '6-7 days' THEN 3
                           WHEN 'More than 7 days' THEN 4 WHEN 'unknown' THEN 5 ELSE 6 END AS bucket_order
          FROM (SELECT COALESCE(usually_ships_within, 'unknown') AS bucket,
                       COUNTIF(sold) AS sold,
                       ROUND(SAFE_DIVIDE(CAST(COUNTIF(sold) AS BIGNUMERIC) * 100, COUNT(*)), 12) AS sell_through_pct,
                       COUNT(*) AS listings
                  FROM {listings} GROUP BY 1)$q$,
     NULL, NULL)
  ) AS v(ord, name, query, columns, key, bigquery_query, counted_by, buffer_query)
$$;
COMMENT ON FUNCTION luxe.insight_definitions() IS 'the four insights: query over the cleaned rows, columns, key, and how the counted one is kept';

/*
 * INSERT INTO target the rows of query, which may run with parallel
 * workers where INSERT ... SELECT never does (PostgreSQL 15 plans no
 * parallel query for a statement that writes): the load's reading,
 * parsing and cleaning, and the aggregates over all the listings, take
 * about half the time on two cores.  The leader writes the rows in
 * batches (fdw/bulk_insert.c).  Returns the rows inserted; with counts (a
 * table whose columns name target columns, then a bigint), adds to it the
 * rows inserted per group of those columns; with projection (a table whose
 * columns name target columns), writes those columns of every row into it.
 */
CREATE FUNCTION luxe.insert_select(target regclass, query text, counts regclass DEFAULT NULL,
                                    projection regclass DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'luxe_insert_select'
LANGUAGE C VOLATILE PARALLEL UNSAFE   -- (the query names what the caller's search_path finds)
-- The leader writes every row: when it also reads, the workers' tuple
-- queues fill while it parses and they wait (the pipeline's load is ~5 %
-- faster without; with no worker to be had, the leader still reads).
SET parallel_leader_participation = off
-- Each process would load the JIT provider and compile the plan: on the
-- pipeline's queries that costs more than it saves.
SET jit = off;
COMMENT ON FUNCTION luxe.insert_select(regclass, text, regclass, regclass) IS 'insert the rows of a query, which may run with parallel workers, into a table in batches, counting them per group and writing a projection of them; internal';
REVOKE ALL ON FUNCTION luxe.insert_select(regclass, text, regclass, regclass) FROM PUBLIC;

/*
 * With keep, the storage of an unlogged table is kept when this
 * transaction's TRUNCATE drops it, to be written over by the next full
 * reload instead of freed and allocated again (fdw/recycle.c); without, the
 * storage kept for the table is removed now.  Other tables are never kept.
 */
CREATE FUNCTION luxe.recycle_storage(rel regclass, keep boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'luxe_recycle_storage'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION luxe.recycle_storage(regclass, boolean) IS 'keep the storage of an unlogged table dropped by TRUNCATE for the next full reload, or remove it; internal';
REVOKE ALL ON FUNCTION luxe.recycle_storage(regclass, boolean) FROM PUBLIC;

-- A relation's columns as a column definition list: "name type, ...".
CREATE FUNCTION luxe.column_definitions(rel regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
    FROM pg_attribute a
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;
COMMENT ON FUNCTION luxe.column_definitions(regclass) IS 'a relation''s columns as a column definition list; internal';

/*
 * Build the four insights from luxe_store.insight_rows into the buffer readers
 * do not see, and return its letter; luxe.flip_insights shows it.  The
 * counts of a counted insight are recounted, unless counted is true: the
 * caller has kept them up to date with luxe.count_difference.
 */
CREATE FUNCTION luxe.build_insights(counted boolean DEFAULT false)
RETURNS "char"
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d record;
  target "char";
BEGIN
  SELECT CASE active WHEN 'a' THEN 'b' ELSE 'a' END INTO target FROM luxe_store.insight_state;
  FOR d IN SELECT * FROM luxe.insight_definitions() ORDER BY ord LOOP
    IF d.counted_by IS NOT NULL THEN
      -- (kept by difference, a few % of the counts change: autovacuum
      -- analyzes them when enough have)
      IF NOT counted THEN
        EXECUTE format('DELETE FROM luxe_store.%I', d.name || '_counts');
        PERFORM luxe.insert_select(format('luxe_store.%I', d.name || '_counts')::regclass,
                                   luxe.packed_counts(d.counted_by,
                                     format('SELECT %s, 1::bigint AS n FROM luxe_store.insight_rows', d.counted_by)));
        EXECUTE format('ANALYZE luxe_store.%I', d.name || '_counts');
      END IF;
      CONTINUE;
    END IF;
    -- DELETE, not TRUNCATE: no lock a reader of the other buffer waits on
    EXECUTE format('DELETE FROM luxe_store.%I', d.name || '_' || target::text);
    PERFORM luxe.insert_select(format('luxe_store.%I', d.name || '_' || target::text)::regclass, d.query);
    EXECUTE format('ANALYZE luxe_store.%I', d.name || '_' || target::text);
  END LOOP;
  RETURN target;
END
$$;
COMMENT ON FUNCTION luxe.build_insights(boolean) IS 'build the insights into the buffer readers do not see; internal';
REVOKE ALL ON FUNCTION luxe.build_insights(boolean) FROM PUBLIC;

/*
 * The rows of a counted insight's counts table from weighed (a query with
 * the two counted_by columns and n, a weight): one per value of the first
 * column that has a count, with the other's values and their counts (the
 * sums of their weights), zeros left out.
 */
CREATE FUNCTION luxe.packed_counts(counted_by text, weighed text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format('SELECT g.%1$I, (g.t).items, (g.t).counts '
                'FROM (SELECT w.%1$I, luxe.value_counts(w.%2$I, w.n) AS t FROM (%3$s) w GROUP BY w.%1$I) g '
                'WHERE cardinality((g.t).counts) > 0', k[1], k[2], weighed)
    FROM regexp_split_to_array(counted_by, ',\s*') k
$$;
COMMENT ON FUNCTION luxe.packed_counts(text, text) IS 'the packed rows of a counted insight''s counts from weighed rows; internal';

/*
 * Add rows to the counts of each counted insight, times sign: +1 for rows
 * just loaded, -1 for rows about to be deleted.  The rows are those of
 * source (with a column source_object_id and the counted_by columns) from
 * the manifest objects ids (all if NULL), each weighing weight (an
 * expression: 1 for listings, n for an aggregate of them).  The packed
 * rows of the first counted_by column's values that the rows have are
 * replaced by their counts plus the rows' (NULL values counted as one): a
 * count that reaches zero goes, a new one is added, a row left with none
 * goes.  A count below zero (rows subtracted that were never counted)
 * violates the table's check: the run fails rather than publish wrong
 * percentages.  The other rows are not written.
 */
CREATE FUNCTION luxe.count_difference(source text, weight text, ids integer[], sign integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off                   -- (compiling costs more than these statements)
AS $$
DECLARE
  d record;
  keys text[];
BEGIN
  FOR d IN SELECT * FROM luxe.insight_definitions() WHERE counted_by IS NOT NULL LOOP
    keys := regexp_split_to_array(d.counted_by, ',\s*');
    EXECUTE format('WITH d AS (SELECT %1$I, %2$I, (%3$s)::bigint * %4$s AS n FROM %5$s '
                                'WHERE %6$L IS NULL OR source_object_id = ANY (%6$L)), '
                   'o AS (DELETE FROM luxe_store.%7$I c WHERE c.%1$I IN (SELECT d.%1$I FROM d) RETURNING c.*) '
                   'INSERT INTO luxe_store.%7$I %8$s',
                   keys[1], keys[2], weight, sign, source, ids, d.name || '_counts',
                   luxe.packed_counts(d.counted_by,
                     format('SELECT * FROM d UNION ALL '
                            'SELECT o.%1$I, u.* FROM o CROSS JOIN LATERAL unnest(o.%2$I, o.listings) AS u',
                            keys[1], keys[2])));
  END LOOP;
END
$$;
COMMENT ON FUNCTION luxe.count_difference(text, text, integer[], integer) IS 'add (or subtract) the rows of manifest objects to the counts of the counted insights; internal';
REVOKE ALL ON FUNCTION luxe.count_difference(text, text, integer[], integer) FROM PUBLIC;

-- Show the buffer built by luxe.build_insights (at commit).
CREATE FUNCTION luxe.flip_insights(target "char")
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ UPDATE luxe_store.insight_state SET active = target $$;
COMMENT ON FUNCTION luxe.flip_insights("char") IS 'make readers see the other insight buffer from the commit on; internal';
REVOKE ALL ON FUNCTION luxe.flip_insights("char") FROM PUBLIC;

/*
 * setup_pipeline: (re)point the pipeline at a source and create the cleaned
 * table and the insight views if they do not exist yet.
 */
CREATE FUNCTION luxe.setup_pipeline(source regclass, keep_runs interval DEFAULT '1 year',
                                    durable boolean DEFAULT false, publish_to name DEFAULT NULL,
                                    incremental boolean DEFAULT true, alert_url text DEFAULT NULL,
                                    alert_on_success boolean DEFAULT false,
                                    engine text DEFAULT 'local', bigquery_server name DEFAULT NULL,
                                    bigquery_dataset text DEFAULT NULL,
                                    maximum_bytes_billed bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  missing text;
  d record;
  listings_view text;
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

  IF engine = 'bigquery' AND publish_to IS NOT NULL THEN
    RAISE EXCEPTION 'publish_to has no use with the bigquery engine: its tables are in BigQuery already'
      USING ERRCODE = 'invalid_parameter_value';
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
  IF alert_url IS NOT NULL AND alert_url !~ '^https?://' THEN
    RAISE EXCEPTION 'invalid alert URL "%"', alert_url
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Give an https:// URL (plain http only to a loopback address).';
  END IF;

  IF engine NOT IN ('local', 'bigquery') THEN
    RAISE EXCEPTION 'unknown pipeline engine "%"', engine
      USING ERRCODE = 'invalid_parameter_value', HINT = 'The engines are ''local'' and ''bigquery''.';
  END IF;
  IF engine = 'bigquery' THEN
    PERFORM luxe.check_bigquery_engine(source, bigquery_server, bigquery_dataset);
  END IF;

  -- a new source, engine, BigQuery dataset or publishing target: the next
  -- run reloads all (and so builds and publishes everything where it goes)
  IF EXISTS (SELECT 1 FROM luxe.pipeline_config c
              WHERE c.source <> setup_pipeline.source OR c.engine <> setup_pipeline.engine
                 OR c.bigquery_server IS DISTINCT FROM setup_pipeline.bigquery_server
                 OR c.bigquery_dataset IS DISTINCT FROM setup_pipeline.bigquery_dataset
                 OR c.publish_to IS DISTINCT FROM setup_pipeline.publish_to) THEN
    DELETE FROM luxe.pipeline_manifest;
  END IF;
  INSERT INTO luxe.pipeline_config (source, keep_runs, publish_to, incremental, alert_url, alert_on_success,
                                    engine, bigquery_server, bigquery_dataset, maximum_bytes_billed)
  VALUES (source, keep_runs, publish_to, incremental, alert_url, alert_on_success,
          engine, bigquery_server, bigquery_dataset, maximum_bytes_billed)
  ON CONFLICT (singleton) DO UPDATE
    SET source = EXCLUDED.source, keep_runs = EXCLUDED.keep_runs, publish_to = EXCLUDED.publish_to,
        incremental = EXCLUDED.incremental, alert_url = EXCLUDED.alert_url,
        alert_on_success = EXCLUDED.alert_on_success, engine = EXCLUDED.engine,
        bigquery_server = EXCLUDED.bigquery_server, bigquery_dataset = EXCLUDED.bigquery_dataset,
        maximum_bytes_billed = EXCLUDED.maximum_bytes_billed;

  IF to_regclass('luxe_store.listings') IS NULL THEN
    -- Unlogged by default: the table is rebuilt from the source, and
    -- skipping WAL for ~0.5 GB saves seconds per run.  After a crash it is
    -- empty, and the manifest with it, so the next run reloads everything;
    -- the insights keep their data.  Autovacuum: none for inserts alone
    -- (it spent ~20 s setting hint bits and the visibility map of rows the
    -- next full reload truncates, and a full reload in that time waited
    -- deadlock_timeout for it to be canceled); deleted rows (incremental
    -- runs) and the wraparound age still start it, and ANALYZE runs; not
    -- throttled, so that neither holds the table for long (ANALYZE of
    -- the 900k rows took 7 s throttled, dirtying every page it read).
    EXECUTE (SELECT 'CREATE ' || CASE WHEN durable THEN '' ELSE 'UNLOGGED ' END ||
                    'TABLE luxe_store.listings (' ||
                    string_agg(format('%I %s', name, cleaned_type), ', ' ORDER BY ord) ||
                    ', source_object_id integer) WITH (autovacuum_vacuum_insert_threshold = -1, autovacuum_vacuum_cost_delay = 0)'
               FROM luxe.listing_columns());
    COMMENT ON TABLE luxe_store.listings IS 'the cleaned listings, each with the manifest object it came from';
    DELETE FROM luxe.pipeline_manifest;
  END IF;
  IF to_regclass('luxe_store.insight_rows') IS NULL THEN
    -- The columns of the cleaned rows the insights read (and the object
    -- each came from), written with them: the insights scan ~60 MB, not
    -- the ~0.6 GB of all 36 columns.  Same durability as the rows.
    EXECUTE (SELECT 'CREATE ' || CASE WHEN c.relpersistence = 'p' THEN '' ELSE 'UNLOGGED ' END ||
                    'TABLE luxe_store.insight_rows (' ||
                    string_agg(format('%I %s', name, cleaned_type), ', ' ORDER BY ord) ||
                    ', source_object_id integer) WITH (autovacuum_vacuum_insert_threshold = -1, autovacuum_vacuum_cost_delay = 0)'
               FROM luxe.listing_columns(), pg_class c
              WHERE c.oid = 'luxe_store.listings'::regclass
                AND name IN ('seller_country', 'seller_id', 'brand_name', 'price_usd', 'product_type',
                             'usually_ships_within', 'sold')
              GROUP BY c.relpersistence);
    COMMENT ON TABLE luxe_store.insight_rows IS 'the columns of the cleaned listings the insights read, written with them';
    DELETE FROM luxe.pipeline_manifest;
  END IF;
  FOR d IN SELECT * FROM luxe.insight_definitions() ORDER BY ord LOOP
    IF to_regclass('luxe.' || d.name) IS NULL AND d.counted_by IS NOT NULL THEN
      -- one row per value of the first counted_by column (its primary
      -- key, for readers' lookups), the second's values and their counts
      -- element by element (luxe.packed_counts)
      EXECUTE (SELECT format('CREATE TABLE luxe_store.%1$I (%2$I %3$s PRIMARY KEY, %4$I text[] NOT NULL, '
                             'listings bigint[] NOT NULL, CHECK (0 < ALL (listings)), '
                             'CHECK (cardinality(%4$I) = cardinality(listings)))',
                             d.name || '_counts', k[1], format_type(a.atttypid, a.atttypmod), k[2])
                 FROM regexp_split_to_array(d.counted_by, ',\s*') k
                 JOIN pg_attribute a ON a.attrelid = 'luxe_store.insight_rows'::regclass AND a.attname = k[1]);
      -- (no plan uses statistics of the arrays, and ANALYZE would read
      -- them all: ~0.1 s of every full refresh on a real marketplace; the
      -- arrays are rewritten whole on every change, and compressing them
      -- cost a fifth of that)
      EXECUTE format('ALTER TABLE luxe_store.%1$I ALTER %2$I SET STATISTICS 0, ALTER listings SET STATISTICS 0, '
                     'ALTER %2$I SET STORAGE EXTERNAL, ALTER listings SET STORAGE EXTERNAL',
                     d.name || '_counts', (regexp_split_to_array(d.counted_by, ',\s*'))[2]);
      EXECUTE format('CREATE VIEW luxe_store.%I AS %s', d.name || '_a', replace(d.buffer_query, '{buffer}', 'a'));
      EXECUTE format('CREATE VIEW luxe_store.%I AS %s', d.name || '_b', replace(d.buffer_query, '{buffer}', 'b'));
    ELSIF to_regclass('luxe.' || d.name) IS NULL THEN
      EXECUTE format('CREATE TABLE luxe_store.%I AS %s WITH NO DATA', d.name || '_a', d.query);
      EXECUTE format('CREATE TABLE luxe_store.%I AS %s WITH NO DATA', d.name || '_b', d.query);
      EXECUTE format('CREATE INDEX ON luxe_store.%I (%s)', d.name || '_a', d.key);
      EXECUTE format('CREATE INDEX ON luxe_store.%I (%s)', d.name || '_b', d.key);
    END IF;
    IF to_regclass('luxe.' || d.name) IS NULL THEN
      -- the buffer not shown is skipped by a one-time filter, never scanned
      EXECUTE format('CREATE VIEW luxe.%I AS '
                     'SELECT %s FROM luxe_store.%I WHERE (SELECT active FROM luxe_store.insight_state) = ''a'' '
                     'UNION ALL '
                     'SELECT %s FROM luxe_store.%I WHERE (SELECT active FROM luxe_store.insight_state) = ''b''',
                     d.name, d.columns, d.name || '_a', d.columns, d.name || '_b');
    END IF;
  END LOOP;
  -- luxe.listings: the local cleaned rows, or the BigQuery table of them
  -- (a foreign table, so queries on it push down to BigQuery)
  SELECT 'CREATE OR REPLACE VIEW luxe.listings AS SELECT ' || string_agg(quote_ident(name), ', ' ORDER BY ord)
         || ' FROM '
    INTO listings_view
    FROM luxe.listing_columns();
  IF engine = 'bigquery' THEN
    -- (the view leaves the engine's foreign tables while they are made again)
    EXECUTE listings_view || 'luxe_store.listings';
    PERFORM luxe.setup_bigquery_engine(bigquery_server, bigquery_dataset);
  END IF;
  EXECUTE listings_view || CASE WHEN engine = 'bigquery' THEN 'luxe_store.bq_listings' ELSE 'luxe_store.listings' END;
  COMMENT ON VIEW luxe.listings IS 'the cleaned listings, kept up to date by luxe.refresh_pipeline()';

  COMMENT ON VIEW luxe.sellers_by_country
    IS 'insight 1: distinct sellers and listings per seller country, with the country''s share (%) of all sellers';
  COMMENT ON VIEW luxe.brand_prices
    IS 'insight 2: listings and price_usd mean, min, quartiles (percentile_cont) and max per brand';
  COMMENT ON VIEW luxe.product_types_by_brand
    IS 'insight 3: listings per brand and product type, and the type''s share (%) of the brand''s listings';
  COMMENT ON VIEW luxe.sales_by_ship_interval
    IS 'insight 4: sold listings per shipping interval, share (%) of all sales and sell-through (%); order by bucket_order';
END
$$;
COMMENT ON FUNCTION luxe.setup_pipeline(regclass, interval, boolean, name, boolean, text, boolean, text, name, text, bigint)
IS 'point the pipeline at a source relation; create the cleaned listings and the insight views if missing';
REVOKE ALL ON FUNCTION luxe.setup_pipeline(regclass, interval, boolean, name, boolean, text, boolean, text, name, text, bigint) FROM PUBLIC;   -- changes the pipeline: an administrator grants it

/*
 * What a refresh needs to know of its source: when it is a luxe_fdw GCS
 * foreign table, its server and uri, and a signature of its definition
 * (columns, options, server) so that a changed definition reloads all.
 */
CREATE FUNCTION luxe.source_info(src regclass, OUT is_gcs boolean, OUT server name,
                                 OUT uri text, OUT signature text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(w.fdwname = 'luxe_fdw' AND 'service=gcs' = ANY (s.srvoptions)
                  AND (SELECT option_value FROM pg_options_to_table(ft.ftoptions)
                        WHERE option_name = 'uri') IS NOT NULL, false),
         s.srvname,
         (SELECT option_value FROM pg_options_to_table(ft.ftoptions) WHERE option_name = 'uri'),
         md5(concat_ws('|', src::oid::text, s.srvname, s.srvoptions::text, ft.ftoptions::text,
                       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                          || coalesce(a.attfdwoptions::text, ''), ',' ORDER BY a.attnum)
                          FROM pg_attribute a
                         WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped)))
    FROM pg_class c
    LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
    LEFT JOIN pg_foreign_server s ON s.oid = ft.ftserver
    LEFT JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
   WHERE c.oid = src
$$;
COMMENT ON FUNCTION luxe.source_info(regclass) IS 'is the source a luxe_fdw GCS table, its server, uri and definition signature; internal';

/*
 * (Re)create luxe_store.source_scan: the source's columns and options,
 * with the uri given (a list of pinned objects) and two metadata columns
 * saying which object and generation each row came from.
 */
CREATE FUNCTION luxe.prepare_source_scan(src regclass, uri text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cols text;
  opts text;
  srv name;
BEGIN
  SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                           CASE WHEN a.attfdwoptions IS NULL THEN ''
                                ELSE ' OPTIONS (' || (SELECT string_agg(format('%I %L', option_name, option_value), ', ')
                                                        FROM pg_options_to_table(a.attfdwoptions)) || ')' END),
                    ', ' ORDER BY a.attnum)
    INTO cols
    FROM pg_attribute a
   WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped;
  SELECT s.srvname, string_agg(format('%I %L', o.option_name, o.option_value), ', ')
           FILTER (WHERE o.option_name <> 'uri')
    INTO srv, opts
    FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver
    LEFT JOIN LATERAL pg_options_to_table(ft.ftoptions) o ON true
   WHERE ft.ftrelid = src
   GROUP BY s.srvname;
  IF to_regclass('luxe_store.source_scan') IS NOT NULL THEN
    DROP FOREIGN TABLE luxe_store.source_scan;
  END IF;
  EXECUTE format('CREATE FOREIGN TABLE luxe_store.source_scan (%s, '
                 'source_object text OPTIONS (metadata %L), source_generation bigint OPTIONS (metadata %L)) '
                 'SERVER %I OPTIONS (uri %L%s)',
                 cols, 'object', 'generation', srv, uri, coalesce(', ' || opts, ''));
END
$$;
COMMENT ON FUNCTION luxe.prepare_source_scan(regclass, text) IS 'the scan of a GCS source over given objects, with object metadata; internal';
REVOKE ALL ON FUNCTION luxe.prepare_source_scan(regclass, text) FROM PUBLIC;

/*
 * Plan a run: list the source's objects and compare them with the manifest.
 * Records the counts in the run row and the objects to load in
 * luxe.pipeline_run_objects; returns whether there is anything to do.
 * Called (and committed) before the attempt that does the work, so that
 * another session sees what is planned.  A source that is not a luxe_fdw
 * GCS table, a changed source definition, an empty manifest or full =>
 * true plan a full reload.
 */
CREATE FUNCTION luxe.plan_refresh(run bigint, full_reload boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cfg record;
  src record;
  t0 timestamptz := clock_timestamp();
  n_load integer;
  n_add integer;
  n_replace integer;
  n_remove integer;
  n_same integer;
BEGIN
  SELECT * INTO cfg FROM luxe.pipeline_config;
  SELECT * INTO src FROM luxe.source_info(cfg.source);
  PERFORM luxe.progress_phase(1, NULL, NULL);
  IF NOT src.is_gcs THEN
    UPDATE luxe.pipeline_runs SET full_reload = true, list_seconds = 0 WHERE run_id = run;
    RETURN true;
  END IF;
  -- (an unlogged luxe_store.listings is empty after a crash: the manifest
  -- no longer describes it)
  IF full_reload OR NOT cfg.incremental OR cfg.source_signature IS DISTINCT FROM src.signature
     OR NOT EXISTS (SELECT 1 FROM luxe.pipeline_manifest)
     OR (cfg.engine = 'local' AND NOT EXISTS (SELECT 1 FROM luxe_store.listings)
         AND EXISTS (SELECT 1 FROM luxe.pipeline_manifest WHERE rows > 0)) THEN
    full_reload := true;
  END IF;

  CREATE TEMP TABLE luxe_listed ON COMMIT DROP AS
    SELECT 'gs://' || o.bucket || '/' || o.name AS uri, o.generation, o.size
      FROM luxe.gcs_objects(src.uri, src.server) o;
  -- as a scan would: a source that names nothing is an error, never an
  -- order to delete every row
  IF NOT EXISTS (SELECT 1 FROM luxe_listed) THEN
    RAISE EXCEPTION 'GCS source % names no object', cfg.source
      USING ERRCODE = 'fdw_table_not_found',
            DETAIL = format('Its uri is "%s".', src.uri);
  END IF;
  -- the loads, in the order the scan reads them (by URI)
  INSERT INTO luxe.pipeline_run_objects (run_id, ord, uri, generation, size, action)
    SELECT run, row_number() OVER (ORDER BY l.uri), l.uri, l.generation, l.size,
           CASE WHEN m.uri IS NULL OR full_reload THEN 'add' ELSE 'replace' END
      FROM luxe_listed l LEFT JOIN luxe.pipeline_manifest m ON m.uri = l.uri
     WHERE full_reload OR m.uri IS NULL OR m.generation <> l.generation;
  GET DIAGNOSTICS n_load = ROW_COUNT;
  -- objects gone from the source: their rows go (a full_reload reload drops all)
  INSERT INTO luxe.pipeline_run_objects (run_id, ord, uri, generation, size, action)
    SELECT run, n_load + row_number() OVER (ORDER BY m.uri), m.uri, m.generation, m.size, 'remove'
      FROM luxe.pipeline_manifest m
     WHERE NOT full_reload AND NOT EXISTS (SELECT 1 FROM luxe_listed l WHERE l.uri = m.uri);
  SELECT count(*) FILTER (WHERE action = 'add'), count(*) FILTER (WHERE action = 'replace'),
         count(*) FILTER (WHERE action = 'remove')
    INTO n_add, n_replace, n_remove
    FROM luxe.pipeline_run_objects WHERE run_id = run;
  SELECT count(*) INTO n_same
    FROM luxe.pipeline_manifest m JOIN luxe_listed l ON l.uri = m.uri AND l.generation = m.generation
   WHERE NOT full_reload;
  DROP TABLE luxe_listed;
  UPDATE luxe.pipeline_runs
     SET full_reload = plan_refresh.full_reload, objects_added = n_add, objects_replaced = n_replace,
         objects_removed = n_remove, objects_unchanged = n_same,
         list_seconds = extract(epoch FROM clock_timestamp() - t0)
   WHERE run_id = run;
  RETURN full_reload OR n_add + n_replace + n_remove > 0;
END
$$;
COMMENT ON FUNCTION luxe.plan_refresh(bigint, boolean) IS 'list the source, compare with the manifest, plan the loads; internal';
REVOKE ALL ON FUNCTION luxe.plan_refresh(bigint, boolean) FROM PUBLIC;

/*
 * What the run history keeps of each BigQuery job an attempt ran (from
 * luxe.bigquery_jobs_take()): its step, id and location, state, and the
 * statistics a reader needs -- bytes processed and billed, rows loaded and
 * rejected -- without the job's configuration.
 */
CREATE FUNCTION luxe.job_summaries(jobs jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
           'step', j->>'step', 'job_id', j->>'job_id', 'location', j#>>'{job,jobReference,location}',
           'state', j->>'state',
           'total_bytes_processed', (j#>>'{job,statistics,totalBytesProcessed}')::bigint,
           'total_bytes_billed', (j#>>'{job,statistics,query,totalBytesBilled}')::bigint,
           'output_rows', (j#>>'{job,statistics,load,outputRows}')::bigint,
           'bad_records', (j#>>'{job,statistics,load,badRecords}')::bigint,
           'statement_type', j#>>'{job,statistics,query,statementType}'))
         ORDER BY n), '[]')
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(j, n)
$$;
COMMENT ON FUNCTION luxe.job_summaries(jsonb) IS 'the run history''s summary of BigQuery job resources; internal';

/*
 * One attempt of a refresh, in a subtransaction: bring the cleaned rows up
 * to date with the planned objects (or reload them all), rebuild the
 * insights into the hidden buffer, publish, and flip the buffers.  On failure the
 * subtransaction rolls back -- rows, manifest and insights stay as they
 * were -- and the run is marked failed.  A deadline (luxe.attempt_deadline)
 * that cancels the attempt is a failure like any other; a user's cancel
 * is recorded and NULL returned, for the caller to raise it.  Returns
 * whether the attempt succeeded.
 */
CREATE FUNCTION luxe.run_refresh(run bigint)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cfg record;
  src record;
  r record;
  n bigint;
  total bigint;
  inserted bigint := 0;
  deleted bigint := 0;
  rejected bigint := 0;
  t0 timestamptz := clock_timestamp();
  t1 timestamptz;
  t2 timestamptz;
  t3 timestamptz;
  uris text;
  nobj integer;
  bytes bigint;
  buffer "char";
  counted boolean := false;     -- the counted insights kept by difference
  t_ins timestamptz;
  t_ins_end timestamptz;
  phases jsonb;
  keys text;
  ids integer[];
  bq record;
  jobs jsonb;
  received0 bigint := luxe.bytes_received();
  msg text;
  detail text;
  state text;
BEGIN
  SELECT * INTO cfg FROM luxe.pipeline_config;
  SELECT * INTO src FROM luxe.source_info(cfg.source);
  SELECT * INTO r FROM luxe.pipeline_runs WHERE run_id = run;
  PERFORM luxe.bigquery_jobs_take();         -- this attempt's jobs only
  BEGIN
    -- one refresh at a time; a second waits
    PERFORM pg_advisory_xact_lock(hashtext('luxe.refresh_pipeline'));
    SELECT string_agg(uri || '#' || generation, ',' ORDER BY ord), count(*), coalesce(sum(size), 0)
      INTO uris, nobj, bytes
      FROM luxe.pipeline_run_objects WHERE run_id = run AND action IN ('add', 'replace');
    PERFORM luxe.progress_phase(2, nobj, bytes);

    IF cfg.engine = 'bigquery' THEN
      -- the whole pipeline in BigQuery; the manifest follows the listing
      SELECT * INTO bq FROM luxe.refresh_in_bigquery(run);
      buffer := bq.buffer;
      inserted := bq.rows;
      rejected := bq.rejected;
      deleted := bq.deleted;
      DELETE FROM luxe.pipeline_manifest m USING luxe.pipeline_run_objects o
       WHERE o.run_id = run AND o.uri = m.uri AND o.action IN ('replace', 'remove');
      IF r.full_reload THEN
        DELETE FROM luxe.pipeline_manifest;
      END IF;
      -- the objects loaded again with a replaced or removed one (or all,
      -- after a local engine's run) are in this run's batch now
      UPDATE luxe.pipeline_manifest SET load_batch = run
       WHERE load_batch IS NULL OR load_batch <> ALL (bq.kept);
      INSERT INTO luxe.pipeline_manifest (uri, generation, size, run_id, load_batch)
        SELECT uri, generation, size, run, run FROM luxe.pipeline_run_objects
         WHERE run_id = run AND action IN ('add', 'replace');
    ELSIF NOT src.is_gcs THEN
      PERFORM luxe.recycle_storage('luxe_store.listings'), luxe.recycle_storage('luxe_store.insight_rows');
      TRUNCATE luxe_store.listings, luxe_store.insight_rows;
      DELETE FROM luxe.pipeline_manifest;
      inserted := luxe.insert_select('luxe_store.listings',
                    'SELECT c.*, NULL::integer FROM (' || luxe.cleaning_select(cfg.source) || ') c',
                    NULL, 'luxe_store.insight_rows');
      SELECT count(*) INTO rejected FROM luxe.last_scan_rejects();
    ELSE
      IF r.full_reload THEN
        -- (their files are written over by the load, not freed at the
        -- commit and allocated again by the next full reload)
        PERFORM luxe.recycle_storage('luxe_store.listings'), luxe.recycle_storage('luxe_store.insight_rows');
        TRUNCATE luxe_store.listings, luxe_store.insight_rows;
        DELETE FROM luxe.pipeline_manifest;
      ELSE
        -- the rows of replaced and removed objects go, and their counts
        counted := true;
        ids := ARRAY(SELECT m.object_id FROM luxe.pipeline_manifest m JOIN luxe.pipeline_run_objects o ON o.uri = m.uri
                      WHERE o.run_id = run AND o.action IN ('replace', 'remove'));
        IF cardinality(ids) > 0 THEN
          PERFORM luxe.count_difference('luxe_store.insight_rows', '1', ids, -1);
        END IF;
        DELETE FROM luxe_store.listings l
         USING luxe.pipeline_manifest m, luxe.pipeline_run_objects o
         WHERE l.source_object_id = m.object_id AND o.run_id = run AND o.uri = m.uri
           AND o.action IN ('replace', 'remove');
        GET DIAGNOSTICS deleted = ROW_COUNT;
        IF cardinality(ids) > 0 THEN
          DELETE FROM luxe_store.insight_rows l WHERE l.source_object_id = ANY (ids);
        END IF;
        DELETE FROM luxe.pipeline_manifest m
         USING luxe.pipeline_run_objects o
         WHERE o.run_id = run AND o.uri = m.uri AND o.action IN ('replace', 'remove');
      END IF;
      IF nobj > 0 THEN
        INSERT INTO luxe.pipeline_manifest (uri, generation, size, run_id)
          SELECT uri, generation, size, run FROM luxe.pipeline_run_objects
           WHERE run_id = run AND action IN ('add', 'replace');
        PERFORM luxe.prepare_source_scan(cfg.source, uris);
        -- the rows loaded, counted per object (and, when the counted
        -- insights are kept by difference, per group of theirs) as they
        -- are written: cheaper than a scan of all the rows
        SELECT string_agg(DISTINCT quote_ident(k), ', ') INTO keys
          FROM luxe.insight_definitions(), regexp_split_to_table(counted_by, ',\s*') k
         WHERE counted;
        keys := coalesce(', ' || keys, '');
        EXECUTE format('CREATE TEMP TABLE luxe_loaded ON COMMIT DROP AS '
                       'SELECT source_object_id%s, 0::bigint AS n FROM luxe_store.listings WITH NO DATA', keys);
        -- parallel workers read, parse and clean; this backend writes
        t_ins := clock_timestamp();
        inserted := luxe.insert_select('luxe_store.listings',
                 'SELECT '
                 || (SELECT string_agg('c.' || quote_ident(name), ', ' ORDER BY ord) FROM luxe.listing_columns())
                 || ', m.object_id FROM ('
                 || replace(luxe.cleaning_select('luxe_store.source_scan'::regclass),
                            ' FROM luxe_store.source_scan',
                            ', source_object FROM luxe_store.source_scan')
                 || ') c JOIN luxe.pipeline_manifest m ON m.uri = c.source_object',
                 'pg_temp.luxe_loaded', 'luxe_store.insight_rows');
        t_ins_end := clock_timestamp();
        -- where the INSERT's time went: the scan's timers, summed over
        -- the processes that read (so they may add up to more than the
        -- INSERT's own time), and the INSERT's time
        SELECT jsonb_build_object(
                 'fetch_seconds', round(t.fetch_seconds::numeric, 3),
                 'parse_seconds', round(t.parse_seconds::numeric, 3),
                 'convert_seconds', round(t.convert_seconds::numeric, 3),
                 'insert_seconds', round(extract(epoch FROM t_ins_end - t_ins)::numeric, 3))
          INTO phases
          FROM luxe.last_scan_timings() t;
        SELECT count(*) INTO rejected FROM luxe.last_scan_rejects();
        UPDATE luxe.pipeline_manifest m SET rows = c.n
          FROM (SELECT source_object_id, sum(l.n) AS n FROM pg_temp.luxe_loaded l GROUP BY 1) c
         WHERE m.object_id = c.source_object_id;
        IF counted THEN
          PERFORM luxe.count_difference('pg_temp.luxe_loaded', 'n', NULL, 1);
        END IF;
        DROP TABLE pg_temp.luxe_loaded;
      END IF;
    END IF;
    t1 := clock_timestamp();

    IF cfg.engine <> 'bigquery' THEN
      PERFORM luxe.progress_phase(3, 4, NULL);
      buffer := luxe.build_insights(counted);
    END IF;
    t2 := clock_timestamp();
    -- publishing to BigQuery is part of the run: if it fails, so does the run
    IF cfg.publish_to IS NOT NULL THEN
      PERFORM luxe.progress_phase(4, NULL, NULL);
      PERFORM luxe.publish_pipeline(cfg.publish_to, buffer);
    END IF;
    t3 := clock_timestamp();
    PERFORM luxe.flip_insights(buffer);
    UPDATE luxe.pipeline_config SET source_signature = src.signature;
    IF cfg.engine = 'bigquery' THEN
      total := bq.total;
    ELSIF src.is_gcs THEN
      -- the rows of each object, counted as they were written: no scan
      SELECT coalesce(sum(rows), 0) INTO total FROM luxe.pipeline_manifest;
    ELSE
      total := inserted;
    END IF;
    jobs := luxe.bigquery_jobs_take();
    UPDATE luxe.pipeline_runs
       SET engine = cfg.engine, bigquery_jobs = luxe.job_summaries(jobs),
           bytes_processed = (SELECT sum((j #>> '{job,statistics,totalBytesProcessed}')::bigint)
                                FROM jsonb_array_elements(jobs) j),
           bytes_into_postgres = luxe.bytes_received() - received0
     WHERE run_id = run;
    UPDATE luxe.pipeline_runs
       SET status = 'succeeded', finished_at = clock_timestamp(), rows_read = total,
           rows_rejected = rejected, rows_inserted = inserted, rows_deleted = deleted,
           load_seconds = extract(epoch FROM t1 - t0),
           -- (other: deleting replaced rows, the counts, the manifest)
           load_phases = phases || jsonb_build_object('other_seconds',
             round((extract(epoch FROM t1 - t0) - extract(epoch FROM t_ins_end - t_ins))::numeric, 3)),
           refresh_seconds = extract(epoch FROM (t2 - t1) + (clock_timestamp() - t3)),
           publish_seconds = CASE WHEN cfg.publish_to IS NOT NULL THEN extract(epoch FROM t3 - t2) END
     WHERE run_id = run;
    RETURN true;
  EXCEPTION
    WHEN query_canceled THEN
      -- a deadline is a failed attempt; a user's cancel or a statement
      -- timeout ends the refresh (NULL: the caller raises it again)
      GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
      jobs := luxe.bigquery_jobs_take();
      UPDATE luxe.pipeline_runs
         SET status = 'failed', finished_at = clock_timestamp(), engine = cfg.engine,
             bigquery_jobs = CASE WHEN jobs <> '[]' THEN luxe.job_summaries(jobs) END,
             error = CASE WHEN luxe.attempt_timed_out()
                          THEN '57014: the attempt timed out (timeout of luxe.refresh_pipeline)'
                          WHEN msg ~ 'statement timeout' THEN '57014: ' || msg
                          ELSE '57014: canceled by user' END
       WHERE run_id = run;
      RETURN CASE WHEN luxe.attempt_timed_out() THEN false END;
    WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
      jobs := luxe.bigquery_jobs_take();        -- kept across the rollback
      UPDATE luxe.pipeline_runs
         SET status = 'failed', finished_at = clock_timestamp(), engine = cfg.engine,
             bigquery_jobs = CASE WHEN jobs <> '[]' THEN luxe.job_summaries(jobs) END,
             bytes_into_postgres = luxe.bytes_received() - received0,
             error = format('%s: %s%s%s', state, msg, CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END,
                            CASE WHEN msg ~ 'bytes billed|bytesBilledLimitExceeded'
                                 THEN format(' [maximum_bytes_billed is %s]', cfg.maximum_bytes_billed) ELSE '' END)
       WHERE run_id = run;
      RETURN false;
  END;
END
$$;
COMMENT ON FUNCTION luxe.run_refresh(bigint) IS 'one attempt of a pipeline refresh for a run row; internal';
REVOKE ALL ON FUNCTION luxe.run_refresh(bigint) FROM PUBLIC;   -- changes the pipeline: an administrator grants it

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
 * error here.  With buffer, the insights come from the buffer a refresh has
 * built but not shown yet.  Returns the rows published.
 */
CREATE FUNCTION luxe.publish_pipeline(target name, buffer "char" DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  obj name;
  dest regclass;
  src regclass;
  cols text;
  n bigint;
  total bigint := 0;
BEGIN
  FOREACH obj IN ARRAY luxe.published_objects() LOOP
    dest := format('%I.%I', target, obj)::regclass;
    src := CASE WHEN buffer IS NULL OR obj = 'listings' THEN format('luxe.%I', obj)
                ELSE format('luxe_store.%I', obj || '_' || buffer::text) END::regclass;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = dest AND a.attnum > 0 AND NOT a.attisdropped
       AND EXISTS (SELECT 1 FROM pg_attribute l
                    WHERE l.attrelid = src
                      AND l.attname = a.attname AND l.attnum > 0 AND NOT l.attisdropped);
    IF cols IS NULL THEN
      RAISE EXCEPTION 'foreign table % has no column of luxe.%', dest, obj
        USING ERRCODE = 'undefined_column';
    END IF;
    EXECUTE format('TRUNCATE %s', dest);
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', dest, cols, cols, src);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
  END LOOP;
  PERFORM luxe.bigquery_flush();
  RETURN total;
END
$$;
COMMENT ON FUNCTION luxe.publish_pipeline(name, "char")
IS 'replace the BigQuery foreign tables in a schema with the cleaned table and the insight views (WRITE_TRUNCATE load jobs)';
REVOKE ALL ON FUNCTION luxe.publish_pipeline(name, "char") FROM PUBLIC;   -- changes the pipeline: an administrator grants it


/*
 * Refresh in flight, as another session sees it (see fdw/pipeline.c): the
 * backend's progress slots, with the planned objects named.  Empty when no
 * refresh runs.  Other roles' refreshes show only to members of
 * pg_read_all_stats.
 */
CREATE VIEW luxe.pipeline_progress AS
  SELECT p.pid, p.param12 AS run_id, p.param13::integer AS attempt,
         (ARRAY['listing', 'loading', 'updating views', 'publishing', 'loading into BigQuery',
                'BigQuery jobs', 'fetching results'])[p.param14] AS phase,
         o.uri AS current_object,
         p.param15 AS objects_done, p.param16 AS objects_total,
         p.param1 AS bytes_done, p.param2 AS bytes_total, p.param3 AS rows_done,
         clock_timestamp() - r.started_at AS elapsed
    FROM pg_stat_get_progress_info('COPY') p
    LEFT JOIN luxe.pipeline_runs r ON r.run_id = p.param12
    LEFT JOIN luxe.pipeline_run_objects o ON o.run_id = p.param12 AND o.ord = p.param17
   WHERE p.param11 = 1280661573;   -- 'LUXE'
COMMENT ON VIEW luxe.pipeline_progress IS 'the pipeline refresh in flight: phase, object, bytes and rows done';

CREATE FUNCTION luxe.progress_begin(run bigint, attempt integer) RETURNS void
AS 'MODULE_PATHNAME', 'luxe_progress_begin' LANGUAGE C STRICT;
CREATE FUNCTION luxe.progress_phase(phase integer, objects_total bigint, bytes_total bigint) RETURNS void
AS 'MODULE_PATHNAME', 'luxe_progress_phase' LANGUAGE C;
CREATE FUNCTION luxe.progress_end() RETURNS void
AS 'MODULE_PATHNAME', 'luxe_progress_end' LANGUAGE C;
CREATE FUNCTION luxe.attempt_deadline(timeout interval) RETURNS void
AS 'MODULE_PATHNAME', 'luxe_attempt_deadline' LANGUAGE C;
CREATE FUNCTION luxe.attempt_timed_out() RETURNS boolean
AS 'MODULE_PATHNAME', 'luxe_attempt_timed_out' LANGUAGE C;
CREATE FUNCTION luxe.post_alert(url text, payload text) RETURNS text
AS 'MODULE_PATHNAME', 'luxe_post_alert' LANGUAGE C STRICT;
COMMENT ON FUNCTION luxe.post_alert(text, text) IS 'POST a JSON alert to a webhook; returns what became of it, never raises for the webhook';
REVOKE ALL ON FUNCTION luxe.progress_begin(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION luxe.progress_phase(integer, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION luxe.progress_end() FROM PUBLIC;
REVOKE ALL ON FUNCTION luxe.attempt_deadline(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION luxe.post_alert(text, text) FROM PUBLIC;    -- sends requests: an administrator grants it

/*
 * After each attempt: NOTIFY luxe_pipeline with the attempt as JSON, and
 * the webhook, if set, on failure (and on success when asked).  The
 * webhook's fate is recorded; it never fails the run.
 */
CREATE FUNCTION luxe.alert_attempt(run bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cfg record;
  payload text;
  st text;
BEGIN
  SELECT * INTO cfg FROM luxe.pipeline_config;
  SELECT json_build_object('run_id', r.run_id, 'attempt', r.attempt, 'trigger', r.trigger,
                           'status', r.status, 'rows', r.rows_read,
                           'rows_inserted', r.rows_inserted, 'rows_deleted', r.rows_deleted,
                           'rows_rejected', r.rows_rejected, 'error', r.error,
                           'started_at', r.started_at, 'finished_at', r.finished_at,
                           'database', current_database())::text, r.status
    INTO payload, st
    FROM luxe.pipeline_runs r WHERE r.run_id = run;
  PERFORM pg_notify('luxe_pipeline', payload);
  IF cfg.alert_url IS NOT NULL AND (st = 'failed' OR cfg.alert_on_success) THEN
    UPDATE luxe.pipeline_runs SET alert = luxe.post_alert(cfg.alert_url, payload) WHERE run_id = run;
  END IF;
END
$$;
COMMENT ON FUNCTION luxe.alert_attempt(bigint) IS 'NOTIFY luxe_pipeline and call the webhook for a finished attempt; internal';
REVOKE ALL ON FUNCTION luxe.alert_attempt(bigint) FROM PUBLIC;

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
 * planned and committed (so that luxe.pipeline_progress can name what it
 * loads), then run and committed with its run row, so the history
 * survives a failure; after the last failed attempt it raises the error.
 * Nothing changed since the last successful run (the same objects at the
 * same generations): the run is recorded as skipped and nothing else is
 * touched.  timeout bounds each attempt; a timed-out attempt is a failed
 * attempt, retried like the others.
 *
 * NB: no SET search_path here: a procedure with a SET clause cannot COMMIT
 * ("invalid transaction termination"), and this one commits each attempt.
 * Its body therefore qualifies every name (luxe.*, pg_catalog.*); the
 * functions it calls have their own SET search_path.
 */
CREATE PROCEDURE luxe.refresh_pipeline(retries integer DEFAULT 0,
                                       retry_delay interval DEFAULT '1 minute',
                                       trigger text DEFAULT 'manual',
                                       full boolean DEFAULT false,
                                       timeout interval DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
  run bigint;
  attempt integer := 1;
  ok boolean;
  todo boolean;
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
    PERFORM luxe.progress_begin(run, attempt);
    PERFORM luxe.attempt_deadline(timeout);
    BEGIN
      todo := luxe.plan_refresh(run, $4);         -- $4: full (a keyword)
    EXCEPTION
      WHEN query_canceled THEN
        IF NOT luxe.attempt_timed_out() THEN
          RAISE;
        END IF;
        todo := NULL;
        err := '57014: the attempt timed out (timeout of luxe.refresh_pipeline)';
      WHEN OTHERS THEN
        todo := NULL;
        err := pg_catalog.format('%s: %s', SQLSTATE, SQLERRM);
    END;
    IF todo IS NULL THEN
      UPDATE luxe.pipeline_runs SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), error = err
       WHERE run_id = run;
      ok := false;
    ELSIF NOT todo THEN
      UPDATE luxe.pipeline_runs
         SET status = 'skipped', finished_at = pg_catalog.clock_timestamp(),
             rows_read = (SELECT pg_catalog.sum(rows)::bigint FROM luxe.pipeline_manifest),
             rows_inserted = 0, rows_deleted = 0
       WHERE run_id = run;
      ok := true;
    ELSE
      COMMIT;                     -- the plan is visible while it runs
      ok := luxe.run_refresh(run);
    END IF;
    PERFORM luxe.attempt_deadline(NULL);
    PERFORM luxe.progress_end();
    COMMIT;
    IF ok IS NULL THEN            -- a user's cancel or statement timeout: recorded, then raised
      PERFORM luxe.alert_attempt(run);
      COMMIT;
      IF (SELECT error FROM luxe.pipeline_runs WHERE run_id = run) ~ 'statement timeout' THEN
        RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = 'query_canceled';
      END IF;
      RAISE EXCEPTION 'canceling statement due to user request'
        USING ERRCODE = 'query_canceled';
    END IF;
    PERFORM luxe.alert_attempt(run);
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
COMMENT ON PROCEDURE luxe.refresh_pipeline(integer, interval, text, boolean, interval)
IS 'bring luxe.listings and the insights up to date with the source (only new and changed GCS objects, unless full), with retries and a per-attempt timeout; records every attempt in luxe.pipeline_runs';
REVOKE ALL ON PROCEDURE luxe.refresh_pipeline(integer, interval, text, boolean, interval) FROM PUBLIC;   -- rewrites the pipeline: an administrator grants it

CREATE VIEW luxe.last_refresh AS
  SELECT * FROM luxe.pipeline_runs
   WHERE status = 'succeeded'
   ORDER BY run_id DESC LIMIT 1;
COMMENT ON VIEW luxe.last_refresh IS 'the last successful pipeline run';

CREATE FUNCTION luxe.drop_pipeline(drop_bigquery boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t regclass;
  kind "char";
  cfg record;
BEGIN
  SELECT * INTO cfg FROM luxe.pipeline_config;
  IF drop_bigquery AND cfg.engine = 'bigquery' THEN
    PERFORM luxe.drop_bigquery_tables(cfg.bigquery_server, cfg.bigquery_dataset);
  END IF;
  DROP VIEW IF EXISTS luxe.sellers_by_country, luxe.brand_prices,
    luxe.product_types_by_brand, luxe.sales_by_ship_interval, luxe.listings;
  -- the buffers of a counted insight are views over its counts
  FOR t IN SELECT c.oid::regclass FROM pg_class c
            WHERE c.relnamespace = 'luxe_store'::regnamespace AND c.relkind = 'v'
  LOOP
    EXECUTE format('DROP VIEW %s', t);
  END LOOP;
  FOR t, kind IN SELECT c.oid::regclass, c.relkind FROM pg_class c
                  WHERE c.relnamespace = 'luxe_store'::regnamespace AND c.relkind IN ('r', 'f')
                    AND c.relname <> 'insight_state'          -- the extension's own
  LOOP
    IF kind = 'r' THEN
      PERFORM luxe.recycle_storage(t, keep => false);
    END IF;
    EXECUTE format('DROP %s %s', CASE WHEN kind = 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, t);
  END LOOP;
  DELETE FROM luxe.pipeline_manifest;
  DELETE FROM luxe.pipeline_config;
  DELETE FROM luxe.pipeline_runs;
  UPDATE luxe_store.insight_state SET active = 'a';
END
$$;
COMMENT ON FUNCTION luxe.drop_pipeline(boolean)
IS 'drop the cleaned listings and the insight views, and forget the source, the manifest and the run history; with drop_bigquery, also the BigQuery engine''s tables';
REVOKE ALL ON FUNCTION luxe.drop_pipeline(boolean) FROM PUBLIC;   -- changes the pipeline: an administrator grants it

--
-- ANALYZE samples a GCS foreign table so the planner has real statistics.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_luxe_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_gcs OPTIONS (auth 'none');
CREATE FOREIGN TABLE parts (n int, part int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/parts/out.csv/*.csv', skip_leading_rows '1');
CREATE FOREIGN TABLE many (v int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/many/obj-*.csv');

CREATE FUNCTION estimated_rows(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN ' || q LOOP
    RETURN (regexp_match(line, 'rows=(\d+)'))[1]::int;
  END LOOP;
END $$;

SELECT relpages, reltuples FROM pg_class WHERE relname = 'parts';
ANALYZE parts;
SELECT relpages, reltuples FROM pg_class WHERE relname = 'parts';
SELECT attname, null_frac, n_distinct FROM pg_stats WHERE tablename = 'parts' ORDER BY attname;
-- the estimates now follow the measured rows and value distribution
SELECT estimated_rows('SELECT * FROM parts') AS all_rows,
       estimated_rows('SELECT * FROM parts WHERE part = 1') AS one_part;

-- a sample of many objects, and VERBOSE progress
ANALYZE VERBOSE many;
SELECT reltuples FROM pg_class WHERE relname = 'many';
SELECT estimated_rows('SELECT * FROM many');

-- ANALYZE of a table whose object is missing reports the error
CREATE FOREIGN TABLE gone (v int) SERVER regress_luxe_gcs OPTIONS (uri 'gs://luxe-test/nope.csv');
ANALYZE gone;                                          -- ERROR

DROP FUNCTION estimated_rows(text);
SET client_min_messages = warning;
DROP SERVER regress_luxe_gcs CASCADE;

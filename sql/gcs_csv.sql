--
-- Scanning GCS CSV objects served by the local emulator.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_luxe_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_gcs OPTIONS (auth 'none');

-- types through their input functions; pandas-style "34.0" into integer;
-- True/False booleans; unquoted empty is NULL, quoted empty is ''.
CREATE FOREIGN TABLE people (
  id int, name text, city text, score float8, visits int, active boolean, born date
) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/types/people.csv', skip_leading_rows '1');
SELECT id, name, city, city IS NULL AS city_null, score, visits, active, born
  FROM people ORDER BY id;
SELECT count(*), count(city), sum(visits), bool_or(active) FROM people;
-- padding is data: whitespace around unquoted fields is kept
SELECT id, '[' || name || ']' AS name, '[' || city || ']' AS city FROM people WHERE id = 6;
-- quoted line breaks are kept as they are
SELECT id, name = E'multi\nline' AS kept FROM people WHERE id = 4;

-- positional mapping without a header; a subset of columns
CREATE FOREIGN TABLE noheader (id int, name text, city text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/types/noheader.csv');
SELECT * FROM noheader;
SELECT city FROM noheader WHERE id >= 2;

-- header mapping: column_name matches the header, order and extras do not matter
CREATE FOREIGN TABLE mapped (
  id int, name text OPTIONS (column_name 'Full Name'),
  city text OPTIONS (column_name 'City Name')
) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/mapped/reordered.csv', skip_leading_rows '1');
SELECT * FROM mapped ORDER BY id;
-- header_mapping on without column_name: names are the column names
CREATE FOREIGN TABLE mapped2 (id int, extra text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/mapped/reordered.csv', skip_leading_rows '1',
           header_mapping 'true');
SELECT * FROM mapped2 ORDER BY id;
-- a column missing from the header
CREATE FOREIGN TABLE mapped3 (id int, nope text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/mapped/reordered.csv', skip_leading_rows '1',
           header_mapping 'true');
SELECT * FROM mapped3;                                 -- ERROR

-- wildcard: every matching object in name order; skip_leading_rows per object
CREATE FOREIGN TABLE parts (n int, part int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/parts/out.csv/*.csv', skip_leading_rows '1');
SELECT part, count(*), min(n), max(n) FROM parts GROUP BY part ORDER BY part;
SELECT n FROM parts LIMIT 3;
-- a wildcard that needs several listing pages
CREATE FOREIGN TABLE many (v int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/many/obj-*.csv');
SELECT count(*), count(DISTINCT v), min(v), max(v) FROM many;

-- object names that need percent-encoding
CREATE FOREIGN TABLE spaced (v text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/names/dir with space/ünïcode file.csv', skip_leading_rows '1');
SELECT * FROM spaced;
CREATE FOREIGN TABLE reserved (v text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/names/a+b&c=d?.csv', skip_leading_rows '1');
SELECT * FROM reserved;
CREATE FOREIGN TABLE spaced_glob (v text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/names/*.csv', skip_leading_rows '1');
SELECT * FROM spaced_glob ORDER BY v;

-- EXPLAIN shows the URI, object count and bytes; ANALYZE adds transfer counters
EXPLAIN (COSTS OFF) SELECT * FROM parts;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM parts;
-- row estimates come from the object sizes
CREATE FUNCTION estimated_rows(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN ' || q LOOP
    RETURN (regexp_match(line, 'rows=(\d+)'))[1]::int;
  END LOOP;
END $$;
SELECT estimated_rows('SELECT * FROM parts') BETWEEN 5 AND 200 AS plausible;
SELECT estimated_rows('SELECT * FROM many') BETWEEN 500 AND 5000 AS plausible;

-- listing objects for operators: a prefix, a wildcard, a missing object
SELECT name, size, crc32c, generation > 0 AS has_generation, updated IS NOT NULL AS has_updated
  FROM luxe.gcs_objects('gs://luxe-test/parts/out.csv/');
SELECT count(*), sum(size) FROM luxe.gcs_objects('gs://luxe-test/many/obj-*.csv', 'regress_luxe_gcs');
SELECT count(*) FROM luxe.gcs_objects('gs://luxe-test/no/such.csv');
SELECT * FROM luxe.gcs_objects('gs://no-such-bucket/');         -- ERROR
SELECT * FROM luxe.gcs_objects('luxe-test/parts');               -- ERROR
SELECT * FROM luxe.gcs_objects('gs://luxe-test/x', 'no_server'); -- ERROR
SELECT * FROM luxe.gcs_objects(NULL);                             -- ERROR
CREATE FOREIGN DATA WRAPPER regress_other_fdw;
CREATE SERVER regress_not_luxe FOREIGN DATA WRAPPER regress_other_fdw OPTIONS (service 'gcs');
SELECT * FROM luxe.gcs_objects('gs://luxe-test/x', 'regress_not_luxe');  -- ERROR
DROP FOREIGN DATA WRAPPER regress_other_fdw CASCADE;

-- a list of URIs (as bq load takes them), pinned generations, and metadata
-- columns that carry each row's object, generation and line
CREATE FOREIGN TABLE meta (id int, word text,
                           obj text OPTIONS (metadata 'object'),
                           gen bigint OPTIONS (metadata 'generation'),
                           line int OPTIONS (metadata 'line'))
  SERVER regress_luxe_gcs OPTIONS (uri 'gs://luxe-test/meta/c.csv, gs://luxe-test/meta/a.csv');
SELECT id, word, obj, line FROM meta ORDER BY id;
SELECT count(*) AS generations_match
  FROM meta m JOIN luxe.gcs_objects('gs://luxe-test/meta/') o ON m.obj = 'gs://luxe-test/' || o.name
 WHERE m.gen = o.generation;
SELECT count(*), count(DISTINCT obj) FROM meta WHERE line = 1;
-- a pinned generation is read as listed; one that no longer exists is an error
DO $$
DECLARE g bigint;
BEGIN
  SELECT generation INTO g FROM luxe.gcs_objects('gs://luxe-test/meta/b.csv');
  EXECUTE format('ALTER FOREIGN TABLE meta OPTIONS (SET uri %L)',
                 'gs://luxe-test/meta/b.csv#' || g || ',gs://luxe-test/meta/a*.csv');
END $$;
SELECT id, word, obj FROM meta ORDER BY id;
ALTER FOREIGN TABLE meta OPTIONS (SET uri 'gs://luxe-test/meta/b.csv#1');
SELECT * FROM meta;                                     -- ERROR
ALTER FOREIGN TABLE meta OPTIONS (SET uri 'gs://luxe-test/meta/*.csv#1');  -- ERROR
-- metadata columns are not written, and a list cannot be written to
ALTER FOREIGN TABLE meta OPTIONS (SET uri 'gs://luxe-test/meta/a.csv, gs://luxe-test/meta/b.csv');
INSERT INTO meta (id, word) VALUES (7, 'eta');          -- ERROR
ALTER FOREIGN TABLE meta ALTER COLUMN word OPTIONS (ADD metadata 'size');  -- ERROR
DROP FOREIGN TABLE meta;

-- joins and rescans (a nested loop rescans the inner foreign scan)
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
SELECT p.id, n.name FROM people p JOIN noheader n ON p.id = n.id ORDER BY 1;
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;

-- a scan inside a transaction, a cursor, a prepared statement
BEGIN;
DECLARE c CURSOR FOR SELECT n FROM parts ORDER BY n;
FETCH 2 FROM c;
FETCH 1 FROM c;
CLOSE c;
COMMIT;
PREPARE q(int) AS SELECT count(*) FROM parts WHERE part = $1;
EXECUTE q(1);
EXECUTE q(2);
DEALLOCATE q;

DROP FUNCTION estimated_rows(text);
SET client_min_messages = warning;
DROP SERVER regress_luxe_gcs CASCADE;

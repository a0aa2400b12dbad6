--
-- INSERT into GCS foreign tables: one new CSV object per statement, made
-- visible only when the transaction commits.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_luxe_w FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url', retry_initial_delay '10ms');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_w OPTIONS (auth 'none');

CREATE FOREIGN TABLE sales (id int, item text, price float8, sold boolean, at timestamptz)
  SERVER regress_luxe_w
  OPTIONS (uri 'gs://luxe-test/writes/sales/part-*.csv', skip_leading_rows '1');
-- the object names are unique; show them without their time-based token
CREATE FUNCTION written(pattern text) RETURNS TABLE (name text, size bigint)
  LANGUAGE sql AS $$
    SELECT regexp_replace(name, '\d{8}T\d{6}Z-[0-9a-f]{8}-\d+', 'TOKEN'), size
      FROM luxe.gcs_objects(pattern, 'regress_luxe_w') ORDER BY 1, 2 $$;

EXPLAIN (COSTS OFF) INSERT INTO sales VALUES (1, 'bag', 10, true, now());
-- quoting per RFC 4180: delimiters, quotes, line breaks, empty strings;
-- NULL as an empty unquoted field; values read back identically
SET TimeZone = 'America/New_York';
SET DateStyle = 'SQL, DMY';
INSERT INTO sales VALUES
  (1, 'bag, "vintage"', 10.25, true, '2024-01-02 03:04:05.123456+00'),
  (2, '', NULL, false, NULL),
  (3, E'two\nlines', 0.1, NULL, '2024-06-01 12:00:00+02'),
  (4, NULL, 1e-7, true, 'infinity');
RESET DateStyle;
SELECT id, item, item IS NULL AS item_null, price, sold, at FROM sales ORDER BY id;
RESET TimeZone;
SELECT * FROM written('gs://luxe-test/writes/sales/*');

-- a statement that inserts nothing writes nothing
INSERT INTO sales SELECT 9, 'none', 1, true, now() WHERE false;
-- a failing statement leaves nothing behind
INSERT INTO sales SELECT g, 'x', 1.0 / (g - 3), true, now() FROM generate_series(1, 5) g;
-- neither does a rolled back transaction, nor a rolled back savepoint
BEGIN;
INSERT INTO sales VALUES (5, 'rolled back', 1, true, now());
SELECT count(*) AS still_invisible FROM sales;
ROLLBACK;
BEGIN;
INSERT INTO sales VALUES (6, 'kept', 1, true, '2024-01-01');
SAVEPOINT s;
INSERT INTO sales VALUES (7, 'rolled back to savepoint', 1, true, now());
ROLLBACK TO s;
INSERT INTO sales VALUES (8, 'kept too', 2, false, '2024-01-01');
COMMIT;
SELECT id, item FROM sales ORDER BY id;
SELECT count(*) AS objects FROM written('gs://luxe-test/writes/sales/*');
-- two-phase commit cannot cover an object upload
BEGIN;
INSERT INTO sales VALUES (9, 'prepared', 1, true, now());
PREPARE TRANSACTION 'regress_luxe_x';
SELECT count(*) AS after_prepare_failed FROM sales;

-- RETURNING, COPY FROM, and a dialect without header
CREATE FOREIGN TABLE pipes (a int, b text) SERVER regress_luxe_w
  OPTIONS (uri 'gs://luxe-test/writes/pipes/*.psv', field_delimiter '|', null_marker 'NA');
INSERT INTO pipes VALUES (1, 'x|y'), (2, NULL), (3, '') RETURNING *;
-- a value equal to the null marker could not be read back
INSERT INTO pipes VALUES (5, 'NA');
COPY pipes FROM STDIN;
4	copied
\.
SELECT a, b, b IS NULL AS b_null FROM pipes ORDER BY a;

-- a single-object uri is created once and never overwritten
CREATE FOREIGN TABLE single (a int) SERVER regress_luxe_w
  OPTIONS (uri 'gs://luxe-test/writes/single.csv');
INSERT INTO single VALUES (1);
INSERT INTO single VALUES (2);
SELECT * FROM single;

-- what cannot be written is refused before anything is sent
CREATE FOREIGN TABLE noquote (a text) SERVER regress_luxe_w
  OPTIONS (uri 'gs://luxe-test/writes/nq/*.csv', quote '');
INSERT INTO noquote VALUES ('a,b');
CREATE FOREIGN TABLE gz (a text) SERVER regress_luxe_w
  OPTIONS (uri 'gs://luxe-test/writes/gz/*.csv.gz');
INSERT INTO gz VALUES ('a');
CREATE FOREIGN TABLE nobucket (a text) SERVER regress_luxe_w
  OPTIONS (uri 'gs://no-such-bucket/x/*.csv');
INSERT INTO nobucket VALUES ('a');
UPDATE sales SET item = 'x';
DELETE FROM sales;

-- float8 columns read plain decimals without float8in (an exact fast
-- path): every value, bit for bit (float8send, so -0 counts), as text::float8
-- gives it, across lengths of integer and fraction, signs, leading and
-- trailing zeros, and what the fast path leaves to float8in
CREATE FOREIGN TABLE floats_text (id int, v text) SERVER regress_luxe_w
  OPTIONS (uri 'gs://luxe-test/writes/floats/*.csv');
CREATE FOREIGN TABLE floats (id int, v float8) SERVER regress_luxe_w
  OPTIONS (uri 'gs://luxe-test/writes/floats/*.csv');
INSERT INTO floats_text
  SELECT i, (ARRAY['', '-', '+'])[1 + i % 3]
            || left(d, (i / 3) % 19) || CASE WHEN i % 7 = 0 THEN '' ELSE '.' END
            || substr(d, 5, (i / 57) % 26)
    FROM generate_series(1, 4000) i,
         LATERAL (SELECT translate(md5(i::text) || md5((i * 7)::text), 'abcdef', '907531') AS d) x
   WHERE (i / 3) % 19 + (i / 57) % 26 > 0;
INSERT INTO floats_text VALUES
  (-1, '0'), (-2, '-0'), (-3, '-0.0'), (-4, '.5'), (-5, '5.'), (-6, '000123.4500'),
  (-7, '1e5'), (-8, ' 2.5'), (-9, 'NaN'), (-10, '-Infinity'), (-11, '9007199254740993'),
  (-12, '0.1000000000000000055511151231257827'), (-13, '123456789012345.6'),
  (-14, '1234567890123456'), (-15, '0.0000000000000000000001'), (-16, '0.00000000000000000000001'),
  (-17, '4.9e-324'), (-18, '1.7976931348623157e308');
SELECT count(*) AS values, count(*) FILTER (WHERE float8send(f.v) IS DISTINCT FROM float8send(t.v::float8)) AS differences
  FROM floats_text t JOIN floats f USING (id);
SELECT v::text FROM floats WHERE id < 0 ORDER BY id DESC;
-- what is not a number is float8in's error, with its line and column
CREATE FOREIGN TABLE bad1_text (v text) SERVER regress_luxe_w OPTIONS (uri 'gs://luxe-test/writes/bad1/*.csv');
CREATE FOREIGN TABLE bad1 (v float8) SERVER regress_luxe_w OPTIONS (uri 'gs://luxe-test/writes/bad1/*.csv');
CREATE FOREIGN TABLE bad2_text (v text) SERVER regress_luxe_w OPTIONS (uri 'gs://luxe-test/writes/bad2/*.csv');
CREATE FOREIGN TABLE bad2 (v float8) SERVER regress_luxe_w OPTIONS (uri 'gs://luxe-test/writes/bad2/*.csv');
INSERT INTO bad1_text VALUES ('1.5'), ('1.2.3');
INSERT INTO bad2_text VALUES ('-');
CREATE FUNCTION read_error(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  m text;
  c text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, c = PG_EXCEPTION_CONTEXT;
  RETURN m || ' / ' || regexp_replace(split_part(c, E'\n', 1), '\d{8}T\d{6}Z-[0-9a-f]{8}-\d+', 'TOKEN');
END $$;
SELECT read_error('SELECT sum(v) FROM bad1');
SELECT read_error('SELECT sum(v) FROM bad2');
DROP FUNCTION read_error(text);

DROP FUNCTION written(text);
DROP SERVER regress_luxe_w CASCADE;

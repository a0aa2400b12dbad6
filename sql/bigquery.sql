--
-- BigQuery foreign tables: scans, types, IMPORT FOREIGN SCHEMA, paging,
-- EXPLAIN, ANALYZE.  The emulator was seeded by regress/fixtures/fixtures_bq.py.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_bq FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'bigquery', endpoint :'emulator_url', project 'luxe-regress',
           retry_initial_delay '10ms');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_bq OPTIONS (auth 'none');

-- options are checked
CREATE FOREIGN TABLE bad1 (a int) SERVER regress_bq OPTIONS (dataset 'regress');
SELECT * FROM bad1;
CREATE FOREIGN TABLE bad2 (a int) SERVER regress_bq
  OPTIONS (dataset 'regress', table 'items', query 'SELECT 1 AS a');
SELECT * FROM bad2;
-- an option of the other service: the validator sees it beside a BigQuery
-- option; alone, the event trigger sees that the server is BigQuery's
CREATE FOREIGN TABLE bad3 (a int) SERVER regress_bq
  OPTIONS (dataset 'regress', table 'items', uri 'gs://b/o');   -- ERROR
CREATE FOREIGN TABLE bad3 (a int) SERVER regress_bq
  OPTIONS (uri 'gs://b/o');                                      -- ERROR
CREATE FOREIGN TABLE bad3 (a int) SERVER regress_bq
  OPTIONS (dataset 'regress', table 'items');
ALTER FOREIGN TABLE bad3 OPTIONS (ADD skip_leading_rows '1');   -- ERROR
ALTER SERVER regress_bq OPTIONS (ADD field_delimiter ';');      -- ERROR
CREATE FOREIGN TABLE missing (a int) SERVER regress_bq
  OPTIONS (dataset 'regress', table 'no_such_table');
SELECT * FROM missing;
ALTER SERVER regress_bq OPTIONS (ADD write_method 'sometimes');
DROP FOREIGN TABLE bad1, bad2, bad3, missing;

-- IMPORT FOREIGN SCHEMA from a dataset: every type mapped
CREATE SCHEMA bq;
IMPORT FOREIGN SCHEMA regress FROM SERVER regress_bq INTO bq;
\det+ bq.*
\d bq.types
CREATE SCHEMA bq_other;
IMPORT FOREIGN SCHEMA other EXCEPT (skip_me) FROM SERVER regress_bq INTO bq_other;
IMPORT FOREIGN SCHEMA other LIMIT TO (skip_me) FROM SERVER regress_bq INTO bq_other;
\det bq_other.*
IMPORT FOREIGN SCHEMA no_such_dataset FROM SERVER regress_bq INTO bq_other;
IMPORT FOREIGN SCHEMA other FROM SERVER regress_bq INTO bq_other OPTIONS (prefix 'x');

-- type mapping, BigQuery -> PostgreSQL
SET TimeZone = 'UTC';
SELECT label, i, x, n, bn, b, s, encode(by, 'hex') AS by, d, dt, t, ts
  FROM bq.types ORDER BY label;
SELECT label, j, g, tags, nums, rec, recs FROM bq.types ORDER BY label;
SELECT label, tags[2], nums[3], rec->>'k' AS k, jsonb_array_length(recs) AS nrecs
  FROM bq.types WHERE label < 'c' ORDER BY label;
-- a column may be declared with any type that accepts the value
CREATE FOREIGN TABLE types_as_text (label text, i text, ts text, d text, x numeric)
  SERVER regress_bq OPTIONS (dataset 'regress', table 'types');
SELECT * FROM types_as_text WHERE label IN ('a: ordinary', 'c: infinities') ORDER BY label;
-- a value the declared type cannot take is a clear error with context
CREATE FOREIGN TABLE types_wrong (label text, i int) SERVER regress_bq
  OPTIONS (dataset 'regress', table 'types');
SELECT * FROM types_wrong;
RESET TimeZone;

-- paging: pages of 7 rows over 25,000 rows; memory holds one page
SET luxe_fdw.bigquery_page_size = 7;
SELECT count(*), sum(k), min(v), max(v) FROM (SELECT k, v FROM bq.big) s;
SET luxe_fdw.bigquery_page_size = 5000;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT k FROM bq.big WHERE v <> '';
RESET luxe_fdw.bigquery_page_size;

-- a table defined by a query
CREATE FOREIGN TABLE by_category (category text, n bigint) SERVER regress_bq
  OPTIONS (query 'SELECT category, COUNT(*) AS n FROM `luxe-regress.regress.items` GROUP BY category');
SELECT * FROM by_category ORDER BY category;
SELECT n FROM by_category WHERE category = 'Bags';
-- a query ending in a comment, or a semicolon, still composes
CREATE FOREIGN TABLE commented (category text, n bigint) SERVER regress_bq
  OPTIONS (query E'SELECT category, COUNT(*) AS n\nFROM `luxe-regress.regress.items`\nGROUP BY category -- per category\n;  ');
SELECT * FROM commented WHERE n = 6 ORDER BY category;

-- row estimates come from tables.get (numRows)
EXPLAIN SELECT * FROM bq.big;
EXPLAIN SELECT * FROM bq.items;
ANALYZE bq.items;
SELECT attname, null_frac > 0 AS has_nulls, n_distinct FROM pg_stats
 WHERE tablename = 'items' AND schemaname = 'bq' AND attname IN ('id', 'category', 'sold')
 ORDER BY attname;

-- no secret in EXPLAIN
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_bq OPTIONS (SET auth 'token', ADD token 'regress-bq-secret');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM bq.items WHERE id = 1;
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_bq OPTIONS (SET auth 'none', DROP token);

DROP SCHEMA bq_other CASCADE;
DROP SCHEMA bq CASCADE;
DROP SERVER regress_bq CASCADE;

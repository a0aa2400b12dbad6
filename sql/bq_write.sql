--
-- Writes to BigQuery: INSERT through insertAll batches or a staged load
-- job, TRUNCATE, and replacing a table's contents in one transaction.
-- The emulator was seeded by regress/fixtures/fixtures_bq.py (dataset regress,
-- table target, empty).
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_bqw FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'bigquery', endpoint :'emulator_url', project 'luxe-regress',
           batch_size '3');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_bqw OPTIONS (auth 'none');
CREATE SERVER regress_bqw_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_bqw_gcs OPTIONS (auth 'none');
CREATE FOREIGN TABLE target (id bigint, name text, category text, price float8, qty bigint,
                             amount numeric, sold boolean, day date, at timestamptz, seller_id bigint)
  SERVER regress_bqw OPTIONS (dataset 'regress', table 'target');
SET TimeZone = 'Europe/Paris';

-- insertAll, in batches of 3; values round-trip exactly
EXPLAIN (COSTS OFF) INSERT INTO target (id) VALUES (1);
INSERT INTO target VALUES
  (1, 'Kelly', 'Bags', 9500.5, 1, 12345678901234567890.123456789, true, '2024-01-02', '2024-01-02 03:04:05.123456+01', 7),
  (2, E'quote " and \\ and\nnewline', '', 'NaN', NULL, -0.5, false, NULL, NULL, NULL),
  (3, NULL, NULL, '-Infinity', 9223372036854775807, NULL, NULL, '0001-01-01', '1970-01-01 00:00:00+00', 1),
  (4, 'Café', 'Bags', 0.1, 4, 4, true, '2024-12-31', '2024-06-30 23:59:59.999999+00', 2)
  RETURNING id;
SELECT * FROM target ORDER BY id;

-- a row BigQuery rejects fails the statement with the row and reason;
-- the batch it was in is not inserted
INSERT INTO target (id, name) VALUES (5, 'ok'), (NULL, 'no id'), (6, 'ok too');
SELECT count(*) FROM target;
-- arrays and records go as JSON; infinite timestamps cannot
INSERT INTO target (id, at) VALUES (7, 'infinity');

-- every type written back: a copy of the types table reads back equal
CREATE SCHEMA bqw;
IMPORT FOREIGN SCHEMA regress LIMIT TO (types, types_copy) FROM SERVER regress_bqw INTO bqw;
INSERT INTO bqw.types_copy SELECT * FROM bqw.types;
SELECT count(*) AS copied FROM bqw.types_copy;
(SELECT * FROM bqw.types EXCEPT SELECT * FROM bqw.types_copy)
UNION ALL
(SELECT * FROM bqw.types_copy EXCEPT SELECT * FROM bqw.types);
DROP SCHEMA bqw CASCADE;

-- the load path: rows staged in GCS, one load job at commit, all or none
ALTER SERVER regress_bqw OPTIONS (ADD staging_uri 'gs://luxe-test/bq-staging/');
ALTER FOREIGN TABLE target OPTIONS (ADD write_method 'load');
EXPLAIN (COSTS OFF) INSERT INTO target (id) VALUES (1);
BEGIN;
INSERT INTO target (id, name) SELECT g, 'loaded ' || g FROM generate_series(10, 19) g;
SELECT count(*) AS before_commit FROM target;
COMMIT;
SELECT count(*) AS after_commit, min(id), max(id) FROM target WHERE name LIKE 'loaded%';
BEGIN;
INSERT INTO target (id, name) SELECT g, 'rolled back' FROM generate_series(20, 29) g;
ROLLBACK;
SELECT count(*) AS rolled_back FROM target WHERE id >= 20;
-- a load that BigQuery refuses fails the commit, and nothing is loaded
INSERT INTO target (id, name) VALUES (30, 'fine'), (NULL, 'no id');
SELECT count(*) AS refused FROM target WHERE id = 30;
-- staging objects are removed after the load
SELECT count(*) AS staged_left FROM luxe.gcs_objects('gs://luxe-test/bq-staging/', 'regress_bqw_gcs');

-- replace the contents: TRUNCATE then INSERT in one transaction is one
-- WRITE_TRUNCATE load at commit
BEGIN;
TRUNCATE target;
INSERT INTO target (id, name) VALUES (100, 'replaced'), (101, 'replaced');
SELECT count(*) AS old_rows_still_visible FROM target;
COMMIT;
SELECT id, name FROM target ORDER BY id;
-- TRUNCATE alone, deferred to commit
BEGIN;
TRUNCATE target;
ROLLBACK;
SELECT count(*) AS kept FROM target;
TRUNCATE target;
SELECT count(*) AS truncated FROM target;

-- savepoints: each keeps its own writes, the pieces run in order
INSERT INTO target (id, name) VALUES (200, 'kept');
BEGIN;
INSERT INTO target (id, name) VALUES (201, 'staged before');
SAVEPOINT s1;
TRUNCATE target;                       -- rolled back: must not drop 201
INSERT INTO target (id, name) VALUES (202, 'rolled back');
ROLLBACK TO s1;
INSERT INTO target (id, name) VALUES (203, 'staged after');
COMMIT;
SELECT id, name FROM target ORDER BY id;
BEGIN;
INSERT INTO target (id, name) VALUES (204, 'truncated away');
SAVEPOINT s2;
TRUNCATE target;                       -- released: runs after 204's load
INSERT INTO target (id, name) VALUES (205, 'after truncate');
RELEASE s2;
COMMIT;
SELECT id, name FROM target ORDER BY id;
-- a load that failed under luxe.bigquery_flush() is never run again: the
-- commit fails and nothing changes
BEGIN;
INSERT INTO target (id, name) VALUES (206, 'fine'), (NULL, 'no id');
SAVEPOINT s3;
SELECT luxe.bigquery_flush();          -- ERROR
ROLLBACK TO s3;
COMMIT;                                -- ERROR
SELECT id, name FROM target ORDER BY id;
TRUNCATE target;
-- without a staging area a load cannot run
ALTER SERVER regress_bqw OPTIONS (DROP staging_uri);
INSERT INTO target (id) VALUES (1);
-- query tables cannot be written
CREATE FOREIGN TABLE q (a bigint) SERVER regress_bqw OPTIONS (query 'SELECT 1 AS a');
INSERT INTO q VALUES (1);
TRUNCATE q;
UPDATE target SET name = 'x';
RESET TimeZone;
DROP SERVER regress_bqw CASCADE;
DROP SERVER regress_bqw_gcs CASCADE;

--
-- Parallel foreign scans: the objects of a wildcard are shared among workers.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_luxe_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_gcs OPTIONS (auth 'none');
CREATE FOREIGN TABLE parts (n int, part int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/parts/out.csv/*.csv', skip_leading_rows '1');
CREATE FOREIGN TABLE newlines (id int, txt text, dbl int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/big/newlines.csv', skip_leading_rows '1');

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT part, count(*), sum(n) FROM parts GROUP BY part;
-- the workers really launch and share the objects: the leader reads none
SET parallel_leader_participation = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT count(*), sum(n) FROM parts;
RESET parallel_leader_participation;
SELECT part, count(*), sum(n) FROM parts GROUP BY part ORDER BY part;
SELECT count(*), count(DISTINCT n), sum(n) FROM parts;
-- one read at a time gives the same rows as the default 16 in flight
ALTER SERVER regress_luxe_gcs OPTIONS (ADD requests_in_flight '1');
SELECT part, count(*), sum(n) FROM parts GROUP BY part ORDER BY part;
ALTER SERVER regress_luxe_gcs OPTIONS (SET requests_in_flight '0');    -- ERROR
ALTER SERVER regress_luxe_gcs OPTIONS (SET requests_in_flight '65');   -- ERROR
ALTER SERVER regress_luxe_gcs OPTIONS (DROP requests_in_flight);
-- one object has nothing to share: no parallel scan
EXPLAIN (COSTS OFF) SELECT count(*) FROM newlines;
-- a correlated subquery rescans the foreign scan for every outer row
SELECT p, (SELECT count(*) FROM parts WHERE part = p) FROM generate_series(0, 2) p;
-- a bad-record budget keeps the scan out of workers
ALTER FOREIGN TABLE parts OPTIONS (ADD max_bad_records '1');
EXPLAIN (COSTS OFF) SELECT part, count(*) FROM parts GROUP BY part;
RESET ALL;

SET client_min_messages = warning;
DROP SERVER regress_luxe_gcs CASCADE;

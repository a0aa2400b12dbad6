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

--
-- One object split into byte ranges among the workers.  Tiny ranges put
-- a range boundary on (nearly) every byte of the hostile fixtures: the rows,
-- NULLs and error lines must be those of a serial scan (csv_dialect,
-- csv_errors).  The leader takes no part, so errors come from a worker.
--
CREATE FOREIGN TABLE crlf (id int, txt text, ln int OPTIONS (metadata 'line'))
  SERVER regress_luxe_gcs OPTIONS (uri 'gs://luxe-test/lines/crlf.csv', skip_leading_rows '1');
CREATE FOREIGN TABLE pipe (a int, b text, c text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/dialect/pipe.csv', field_delimiter '|', quote '''');
CREATE FOREIGN TABLE na (id int, v text, t text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/dialect/na.csv', skip_leading_rows '1', null_marker 'NA');
CREATE FOREIGN TABLE bom (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/enc/bom_noheader.csv');
CREATE FOREIGN TABLE bom_mapped (name text, id int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/enc/bom.csv', skip_leading_rows '1', header_mapping 'true');
CREATE FOREIGN TABLE gz (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/gz/data.csv.gz', skip_leading_rows '1');
CREATE FOREIGN TABLE nl_err (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/nl_badvalue.csv', skip_leading_rows '1');
CREATE FOREIGN TABLE malformed (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/malformed.csv', skip_leading_rows '1');
CREATE FOREIGN TABLE unterminated (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/unterminated.csv', skip_leading_rows '1');
CREATE FOREIGN TABLE qnl (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/quoted_nl.csv', skip_leading_rows '1',
           allow_quoted_newlines 'false');
CREATE FOREIGN TABLE extra (a int, b int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/extra.csv', skip_leading_rows '1');
CREATE VIEW newlines_digest AS
  SELECT count(*), sum(id) AS ids, sum(dbl) AS dbls, count(*) FILTER (WHERE dbl <> 2 * id) AS bad,
         count(DISTINCT txt ~ E'^line one of \\d+\nline two, with comma\r\nline "three"$') AS shapes
    FROM newlines;
-- serially first
SELECT id, replace(replace(txt, E'\r', '\r'), E'\n', '\n') AS txt, ln FROM crlf ORDER BY id;
SELECT * FROM bom_mapped ORDER BY id;
SELECT * FROM newlines_digest;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET luxe_fdw.parallel_range_size = 3;
EXPLAIN (COSTS OFF) SELECT * FROM crlf;
SELECT id, replace(replace(txt, E'\r', '\r'), E'\n', '\n') AS txt, ln FROM crlf ORDER BY id;
SELECT a, b, c, c IS NULL AS c_null FROM pipe ORDER BY a;
SELECT id, v, v IS NULL AS v_null, t, t IS NULL AS t_null FROM na ORDER BY id;
SELECT * FROM bom ORDER BY id;
SELECT * FROM bom_mapped ORDER BY id;
SELECT sum(a) FROM nl_err;                             -- ERROR (line 6)
SELECT * FROM malformed;                               -- ERROR (line 3)
SELECT * FROM unterminated;                            -- ERROR
SELECT * FROM qnl;                                     -- ERROR
SELECT * FROM extra;                                   -- ERROR (line 3)
-- (with several bad rows, whichever process meets one first reports it)
-- gzip is inflated from its start: never split
EXPLAIN (COSTS OFF) SELECT * FROM gz;
SELECT count(*), sum(a), min(b), max(b) FROM gz;
SET luxe_fdw.parallel_range_size = 1;
SELECT id, replace(replace(txt, E'\r', '\r'), E'\n', '\n') AS txt, ln FROM crlf ORDER BY id;
SELECT * FROM bom ORDER BY id;
SELECT * FROM bom_mapped ORDER BY id;
SELECT sum(a) FROM nl_err;                             -- ERROR (line 6)
-- 1.3 MB of quoted line breaks in ranges of 1000 bytes and of 64 kB
SET luxe_fdw.parallel_range_size = 1000;
SELECT * FROM newlines_digest;
SET luxe_fdw.parallel_range_size = '64kB';
EXPLAIN (COSTS OFF) SELECT * FROM newlines;
SELECT * FROM newlines_digest;
-- the bytes the workers received count as the leader's, which read none
-- (luxe.bytes_received, and so a refresh's bytes_into_postgres)
SELECT size AS newlines_bytes FROM luxe.gcs_objects('gs://luxe-test/big/newlines.csv', 'regress_luxe_gcs') \gset
SELECT luxe.bytes_received() AS received0 \gset
SELECT * FROM newlines_digest;
SELECT luxe.bytes_received() - :received0 >= :newlines_bytes AS workers_bytes_counted;
SET luxe_fdw.parallel_range_size = 0;                  -- ERROR
RESET ALL;

--
-- luxe.insert_select: INSERT ... SELECT whose SELECT runs with parallel
-- workers (the pipeline's load), the leader writing in batches.
--
CREATE TABLE ins_parts (n int NOT NULL, part int CHECK (part >= 0), note text);
CREATE INDEX ON ins_parts (n);
CREATE TABLE ins_lines (id int, txt text, dbl int);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET luxe_fdw.parallel_range_size = '64kB';
-- the rows, counted per group of the columns a counts table names
CREATE TEMP TABLE ins_counts (part int, note text, n bigint);
SELECT luxe.insert_select('ins_parts',
  $$SELECT n, part, CASE WHEN n % 3 = 0 THEN NULL ELSE 'n mod 2 = ' || n % 2 END FROM parts$$, 'ins_counts');
SELECT * FROM ins_counts ORDER BY 1, 2;
SELECT count(*) AS differences FROM (
  (SELECT part, note, count(*) FROM ins_parts GROUP BY 1, 2 EXCEPT ALL SELECT * FROM ins_counts)
  UNION ALL
  (SELECT * FROM ins_counts EXCEPT ALL SELECT part, note, count(*) FROM ins_parts GROUP BY 1, 2)) d;
-- ... and a projection of every row, in any column order
CREATE TEMP TABLE ins_proj (dbl int, id int);
SELECT luxe.insert_select('ins_lines', 'SELECT * FROM newlines', NULL, 'ins_proj');
SELECT count(*) AS differences FROM (
  (SELECT dbl, id FROM ins_lines EXCEPT ALL SELECT * FROM ins_proj)
  UNION ALL
  (SELECT * FROM ins_proj EXCEPT ALL SELECT dbl, id FROM ins_lines)) d;
-- a table with a dropped column: the workers' rows are laid out anew
CREATE TABLE ins_dropped (id int, gone int, txt text, dbl int);
ALTER TABLE ins_dropped DROP COLUMN gone;
SELECT luxe.insert_select('ins_dropped', 'SELECT * FROM newlines');
SELECT count(*) AS differences FROM (
  (SELECT * FROM ins_dropped EXCEPT ALL SELECT * FROM newlines)
  UNION ALL
  (SELECT * FROM newlines EXCEPT ALL SELECT * FROM ins_dropped)) d;
DROP TABLE ins_dropped;
SELECT (SELECT count(*) FROM parts) = count(*) AS all_rows,
       (SELECT sum(n) FROM parts) = sum(n) AS same_rows FROM ins_parts;
SELECT count(*), sum(id) AS ids, sum(dbl) AS dbls, count(*) FILTER (WHERE dbl <> 2 * id) AS bad
  FROM ins_lines;
-- the index has every row
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ins_parts WHERE n BETWEEN 100 AND 200;
SELECT count(*) = (SELECT count(*) FROM parts WHERE n BETWEEN 100 AND 200) AS indexed
  FROM ins_parts WHERE n BETWEEN 100 AND 200;
RESET enable_seqscan;
-- values too large for a page are moved out of line (TOAST) by the leader
TRUNCATE ins_parts;
SELECT luxe.insert_select('ins_parts',
  $$SELECT n, part, (SELECT string_agg(md5((i + n)::text), '') FROM generate_series(1, 400) i) FROM parts$$);
SELECT count(*), min(length(note)), bool_and(note = (SELECT string_agg(md5((i + n)::text), '') FROM generate_series(1, 400) i))
  FROM ins_parts;
SELECT pg_relation_size(reltoastrelid) > 0 AS toasted FROM pg_class WHERE oid = 'ins_parts'::regclass;
-- a query that reads the table does not see the rows it inserts
TRUNCATE ins_parts;
INSERT INTO ins_parts VALUES (1, 1), (2, 2);
SELECT luxe.insert_select('ins_parts', 'SELECT n + 10, part, note FROM ins_parts');
SELECT n, part FROM ins_parts ORDER BY n;
-- a row that breaks a constraint fails the whole statement: nothing written
SELECT luxe.insert_select('ins_parts', 'SELECT n, CASE WHEN part = 1 THEN -1 ELSE part END, NULL FROM parts');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT CASE WHEN part = 2 THEN NULL ELSE n END, part, NULL FROM parts');  -- ERROR
SELECT count(*) FROM ins_parts;
-- an error in a worker reaches the caller with its line
SET luxe_fdw.parallel_range_size = 3;
SELECT luxe.insert_select('ins_parts', 'SELECT a, a, b FROM nl_err');  -- ERROR
SET luxe_fdw.parallel_range_size = '64kB';
BEGIN;
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts');
ROLLBACK;
SELECT count(*) FROM ins_parts;
-- A table whose file is new in the transaction, empty, without index and
-- not WAL-logged (the pipeline's cleaned rows after TRUNCATE) is written
-- in pages of its own, around shared buffers: the rows an INSERT makes,
-- TOAST included, pages filled up to the fillfactor (an INSERT also goes
-- back to earlier pages for rows that fit there), sound to amcheck,
-- counted in the statistics
CREATE EXTENSION amcheck;
CREATE EXTENSION pageinspect;
CREATE EXTENSION pg_buffercache;
CREATE UNLOGGED TABLE ins_heap (n int NOT NULL, part int, note text) WITH (fillfactor = 70);
CREATE UNLOGGED TABLE ins_pages (LIKE ins_heap) WITH (fillfactor = 70);
CREATE VIEW ins_rows AS
  SELECT n, n % 10 AS part,
         CASE WHEN n % 50 = 0 THEN (SELECT string_agg(md5((i + n)::text), '') FROM generate_series(1, 400) i)
              WHEN n % 7 <> 0 THEN repeat('x', n % 300) END AS note
    FROM generate_series(1, 20000) n ORDER BY n;
CREATE FUNCTION ins_buffers(rel regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM pg_buffercache
   WHERE relfilenode = pg_relation_filenode(rel) AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
$$;
INSERT INTO ins_heap SELECT * FROM ins_rows;
BEGIN;
TRUNCATE ins_pages;
SELECT luxe.insert_select('ins_pages', 'SELECT * FROM ins_rows');
SELECT ins_buffers('ins_pages') AS buffers, pg_stat_get_xact_tuples_inserted('ins_pages'::regclass) AS counted;
COMMIT;
SELECT count(*) AS differences FROM (
  (SELECT * FROM ins_pages EXCEPT ALL SELECT * FROM ins_heap)
  UNION ALL
  (SELECT * FROM ins_heap EXCEPT ALL SELECT * FROM ins_pages)) d;
SELECT pg_relation_size('ins_pages') / 8192 AS pages, pg_relation_size('ins_heap') / 8192 AS insert_pages,
       pg_relation_size((SELECT reltoastrelid FROM pg_class WHERE oid = 'ins_pages'::regclass)) > 0 AS toasted;
-- (30 % of 8192 bytes kept free, and the next row would not have fitted)
WITH p AS (
  SELECT b, h.upper - h.lower AS free,
         CASE WHEN b + 1 < n THEN (SELECT lp_len FROM heap_page_items(get_raw_page('ins_pages', b + 1)) WHERE lp = 1) END
           AS next_len
    FROM (SELECT pg_relation_size('ins_pages') / 8192 AS n) r, generate_series(0, n - 1) b,
         page_header(get_raw_page('ins_pages', b)) h)
SELECT count(*) FILTER (WHERE free < 2457) AS pages_too_full,
       count(*) FILTER (WHERE free - 4 >= (next_len + 7) / 8 * 8 + 2457) AS pages_left_room
  FROM p;
SELECT * FROM verify_heapam('ins_pages');
-- rows written by a subtransaction that rolls back are not seen; the file
-- has pages then, so the next rows go through shared buffers
BEGIN;
TRUNCATE ins_pages;
SAVEPOINT s;
SELECT luxe.insert_select('ins_pages', 'SELECT n, part, NULL FROM parts');
ROLLBACK TO s;
SELECT count(*) FROM ins_pages;
SELECT luxe.insert_select('ins_pages', 'SELECT * FROM ins_heap');
SELECT ins_buffers('ins_pages') > 0 AS buffers;
COMMIT;
SELECT count(*), sum(n) = (SELECT sum(n) FROM ins_heap) AS same_rows FROM ins_pages;
SELECT * FROM verify_heapam('ins_pages');
-- a rolled back TRUNCATE brings the old file back, untouched
BEGIN;
TRUNCATE ins_pages;
SELECT luxe.insert_select('ins_pages', 'SELECT n, part, NULL FROM parts');
ROLLBACK;
SELECT count(*), count(note) AS notes FROM ins_pages;
-- Recycled storage: luxe.recycle_storage before a TRUNCATE keeps the
-- dropped file at the commit (among the temporary files), and the next
-- load into the emptied table writes over it.  Its rows are exactly those
-- inserted whether the file held more or fewer pages (the rest is cut off:
-- the old rows were committed, they must not come back), amcheck finds it
-- sound; a rollback loses only the recycling
CREATE FUNCTION ins_spare(rel regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT (pg_stat_file('base/pgsql_tmp/' || f)).size FROM pg_ls_dir('base/pgsql_tmp', true, false) f
   WHERE f = format('pgsql_tmp_luxe_spare_%s_%s', (SELECT oid FROM pg_database WHERE datname = current_database()), rel::oid)
$$;
SELECT pg_relation_size('ins_pages') AS old_size \gset
BEGIN;
SELECT luxe.recycle_storage('ins_pages');
TRUNCATE ins_pages;
SELECT luxe.insert_select('ins_pages', 'SELECT * FROM ins_rows WHERE n <= 5000');
SELECT ins_spare('ins_pages') IS NULL AS no_spare_before_commit;
COMMIT;
SELECT ins_spare('ins_pages') = :old_size AS kept;
SELECT pg_relation_size('ins_pages') AS small_size \gset
-- (more rows than the kept file held pages for: written over, then extended)
BEGIN;
SELECT luxe.recycle_storage('ins_pages');
TRUNCATE ins_pages;
SELECT luxe.insert_select('ins_pages', 'SELECT * FROM ins_rows');
SELECT ins_spare('ins_pages') IS NULL AS taken_over, ins_buffers('ins_pages') AS buffers;
COMMIT;
SELECT count(*) AS differences FROM (
  (SELECT * FROM ins_pages EXCEPT ALL SELECT * FROM ins_heap)
  UNION ALL
  (SELECT * FROM ins_heap EXCEPT ALL SELECT * FROM ins_pages)) d;
SELECT pg_relation_size('ins_pages') > :small_size AS extended, ins_spare('ins_pages') = :small_size AS kept;
SELECT * FROM verify_heapam('ins_pages');
SELECT pg_relation_size('ins_pages') AS loaded_size \gset
-- (fewer: the rest is cut off)
BEGIN;
SELECT luxe.recycle_storage('ins_pages');
TRUNCATE ins_pages;
SELECT luxe.insert_select('ins_pages', 'SELECT * FROM ins_rows WHERE n <= 100');
COMMIT;
SELECT count(*), sum(n) AS sum_n, pg_relation_size('ins_pages') < :loaded_size / 10 AS cut_off,
       ins_spare('ins_pages') = :loaded_size AS kept
  FROM ins_pages;
SELECT * FROM verify_heapam('ins_pages');
-- a rollback deletes the new file, and the kept one it took over
BEGIN;
SELECT luxe.recycle_storage('ins_pages');
TRUNCATE ins_pages;
SELECT luxe.insert_select('ins_pages', 'SELECT * FROM ins_rows');
ROLLBACK;
SELECT count(*), ins_spare('ins_pages') IS NULL AS no_spare FROM ins_pages;
-- only a file the commit drops is kept; without keep, what is kept goes;
-- a logged table is never kept
BEGIN;
SELECT luxe.recycle_storage('ins_pages'), luxe.recycle_storage('ins_heap');
TRUNCATE ins_pages;
COMMIT;
SELECT ins_spare('ins_pages') > 0 AS kept, ins_spare('ins_heap') IS NULL AS not_dropped_not_kept;
SELECT luxe.recycle_storage('ins_pages', keep => false);
SELECT ins_spare('ins_pages') IS NULL AS removed;
-- (a table made logged since keeps what was kept until told)
CREATE UNLOGGED TABLE ins_logged AS SELECT * FROM ins_heap;
BEGIN;
SELECT luxe.recycle_storage('ins_logged');
TRUNCATE ins_logged;
COMMIT;
SELECT ins_spare('ins_logged') AS unlogged_kept \gset
ALTER TABLE ins_logged SET LOGGED;
INSERT INTO ins_logged SELECT * FROM ins_rows WHERE n <= 100;
BEGIN;
SELECT luxe.recycle_storage('ins_logged');
TRUNCATE ins_logged;
COMMIT;
SELECT :unlogged_kept > 0 AS kept_unlogged, ins_spare('ins_logged') = :unlogged_kept AS logged_not_kept;
SELECT luxe.recycle_storage('ins_logged', keep => false);
SELECT ins_spare('ins_logged') IS NULL AS removed;
DROP TABLE ins_logged;
-- an index, or a table of old, goes through shared buffers
BEGIN;
TRUNCATE ins_heap;
CREATE INDEX ON ins_heap (n);
SELECT luxe.insert_select('ins_heap', 'SELECT n, part, NULL FROM parts');
SELECT ins_buffers('ins_heap') > 0 AS buffers;
ROLLBACK;
SELECT luxe.insert_select('ins_pages', 'SELECT n, part, NULL FROM parts');
SELECT ins_buffers('ins_pages') > 0 AS buffers;
DROP VIEW ins_rows;
DROP TABLE ins_heap, ins_pages;
DROP FUNCTION ins_buffers(regclass);
DROP FUNCTION ins_spare(regclass);
DROP EXTENSION amcheck;
DROP EXTENSION pageinspect;
DROP EXTENSION pg_buffercache;
-- what it refuses
SELECT luxe.insert_select('ins_parts', 'SELECT n, part FROM parts');               -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL, 1 FROM parts');      -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n::bigint, part, NULL FROM parts');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'DELETE FROM ins_parts RETURNING *');        -- ERROR
CREATE TEMP TABLE bad_counts1 (part int, n int);
CREATE TEMP TABLE bad_counts2 (nope int, n bigint);
CREATE TEMP TABLE bad_counts3 (part bigint, n bigint);
CREATE TEMP TABLE bad_counts4 (n bigint);
CREATE TEMP TABLE bad_counts5 (part int, n bigint);
CREATE TEMP TABLE bad_counts6 (note varchar, n bigint);
CREATE INDEX ON bad_counts5 (part);
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', 'bad_counts1');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', 'bad_counts2');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', 'bad_counts3');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', 'bad_counts4');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', 'bad_counts5');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', 'bad_counts6');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', NULL, 'bad_counts2');  -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', NULL, 'bad_counts5');  -- ERROR
CREATE TEMP TABLE side_twice (part int, n bigint);
SELECT luxe.insert_select('side_twice', 'SELECT part, 1::bigint FROM parts', NULL, 'side_twice');       -- ERROR
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts', 'side_twice', 'side_twice');  -- ERROR
DROP TABLE side_twice;
CREATE VIEW ins_view AS SELECT * FROM ins_parts;
SELECT luxe.insert_select('ins_view', 'SELECT n, part, NULL FROM parts');           -- ERROR
CREATE FUNCTION ins_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER ins_parts_trigger BEFORE INSERT ON ins_parts FOR EACH ROW EXECUTE FUNCTION ins_trigger();
SELECT luxe.insert_select('ins_parts', 'SELECT n, part, NULL FROM parts');          -- ERROR
DROP TABLE ins_parts CASCADE;
DROP TABLE ins_lines, ins_counts, ins_proj, bad_counts1, bad_counts2, bad_counts3, bad_counts4, bad_counts5, bad_counts6;
DROP FUNCTION ins_trigger();
RESET ALL;

SET client_min_messages = warning;
DROP SERVER regress_luxe_gcs CASCADE;

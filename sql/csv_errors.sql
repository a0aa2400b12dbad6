--
-- Errors: each names the object, the physical line and the column.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_luxe_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url', max_retries '1', retry_max_delay '10ms');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_gcs OPTIONS (auth 'none');
\set SHOW_CONTEXT always

CREATE FOREIGN TABLE noheader_ok (id int, name text, city text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/types/noheader.csv');

-- a value that does not convert (line 4, column b)
CREATE FOREIGN TABLE badvalue (a int, b int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/badvalue.csv', skip_leading_rows '1');
SELECT * FROM badvalue;                                -- ERROR
-- only referenced columns are converted: the bad column is not read here
SELECT a FROM badvalue;
SELECT count(*) FROM badvalue;
-- a fractional value is not an integer
CREATE FOREIGN TABLE fraction (id int, name text, city text, score int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/types/people.csv', skip_leading_rows '1', ignore_unknown_values 'true');
SELECT id, score FROM fraction;                        -- ERROR

-- jagged rows: an error unless allowed, then NULL
CREATE FOREIGN TABLE jagged (a int, b int, c int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/jagged.csv', skip_leading_rows '1');
SELECT * FROM jagged;                                  -- ERROR
ALTER FOREIGN TABLE jagged OPTIONS (ADD allow_jagged_rows 'true');
SELECT * FROM jagged;

-- too many fields
CREATE FOREIGN TABLE extra (a int, b int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/extra.csv', skip_leading_rows '1');
SELECT * FROM extra;                                   -- ERROR
ALTER FOREIGN TABLE extra OPTIONS (ADD ignore_unknown_values 'true');
SELECT * FROM extra;

-- malformed quoting (line 3); the rows before it are not an error by themselves
CREATE FOREIGN TABLE malformed (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/malformed.csv', skip_leading_rows '1');
SELECT * FROM malformed;                               -- ERROR
SELECT * FROM malformed LIMIT 1;
CREATE FOREIGN TABLE unterminated (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/unterminated.csv', skip_leading_rows '1');
SELECT * FROM unterminated;                            -- ERROR

-- quoted line breaks refused when allow_quoted_newlines is false
CREATE FOREIGN TABLE qnl (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/quoted_nl.csv', skip_leading_rows '1',
           allow_quoted_newlines 'false');
SELECT * FROM qnl;                                     -- ERROR

-- invalid UTF-8 (line 3)
CREATE FOREIGN TABLE bad_utf8 (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/enc/bad_utf8.csv', skip_leading_rows '1');
SELECT * FROM bad_utf8;                                -- ERROR

-- an empty object has no rows
CREATE FOREIGN TABLE empty (a int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/empty.csv', skip_leading_rows '1');
SELECT count(*) FROM empty;

\set VERBOSITY default
-- a missing object, a missing bucket, a wildcard that matches nothing
CREATE FOREIGN TABLE missing (a int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/no/such.csv');
SELECT * FROM missing;                                 -- ERROR
ALTER FOREIGN TABLE missing OPTIONS (SET uri 'gs://no-such-bucket/x.csv');
SELECT * FROM missing;                                 -- ERROR
ALTER FOREIGN TABLE missing OPTIONS (SET uri 'gs://no-such-bucket/*.csv');
SELECT * FROM missing;                                 -- ERROR
ALTER FOREIGN TABLE missing OPTIONS (SET uri 'gs://luxe-test/nothing-here/*.csv');
SELECT * FROM missing;                                 -- ERROR

-- an unreachable endpoint (nothing listens on port 1)
CREATE SERVER regress_luxe_down FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://127.0.0.1:1', max_retries '1', retry_max_delay '10ms');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_down;
CREATE FOREIGN TABLE down (a int) SERVER regress_luxe_down OPTIONS (uri 'gs://b/o.csv');
\set VERBOSITY terse
SELECT * FROM down;                                    -- ERROR
\set VERBOSITY default

-- a bad-record budget, like bq load's max_bad_records: skip and report
CREATE FOREIGN TABLE budget (a int, b int, c int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/jagged.csv', skip_leading_rows '1', max_bad_records '2');
SELECT * FROM budget;
SELECT table_name, object, line, column_name, reason FROM luxe.last_scan_rejects();
ALTER FOREIGN TABLE budget OPTIONS (SET max_bad_records '1');
SELECT * FROM budget;                                  -- ERROR
ALTER FOREIGN TABLE badvalue OPTIONS (ADD max_bad_records '5');
SELECT * FROM badvalue;
SELECT line, column_name, reason FROM luxe.last_scan_rejects();
-- an invalid byte ending a field of any length is found, a valid
-- character is kept
CREATE FOREIGN TABLE utf8_lengths (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/enc/utf8_lengths.csv', skip_leading_rows '1', max_bad_records '100');
SELECT count(*), count(*) FILTER (WHERE name = repeat('x', id / 2 - 1) || 'é') AS kept FROM utf8_lengths;
SELECT count(*) AS rejected, min(line), max(line), count(*) FILTER (WHERE reason ~ '^invalid byte sequence') AS invalid
  FROM luxe.last_scan_rejects();
DROP FOREIGN TABLE utf8_lengths;
-- a clean scan has no rejects
SELECT count(*) FROM noheader_ok;
SELECT count(*) FROM luxe.last_scan_rejects();
-- under a budget every column is checked, read or not: the same row is bad
-- whatever the query reads, so counts agree with SELECT *
SELECT count(*) FROM badvalue;
SELECT count(b) FROM badvalue;
SELECT a FROM badvalue;
SELECT line, column_name FROM luxe.last_scan_rejects();
ALTER FOREIGN TABLE badvalue OPTIONS (DROP max_bad_records);
-- without a budget an unread column is not converted ...
SELECT count(*) FROM badvalue;
-- ... unless validate_all_columns asks for whole-row validation
ALTER FOREIGN TABLE badvalue OPTIONS (ADD validate_all_columns 'true');
SELECT count(*) FROM badvalue;                         -- ERROR
ALTER FOREIGN TABLE badvalue OPTIONS (DROP validate_all_columns);

-- malformed quoting under a budget: the bad record is counted with its
-- line, the reader starts again at the next line it can trust, goes on
CREATE FOREIGN TABLE hostile (a int, b text, c int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/hostile.csv', skip_leading_rows '1', max_bad_records '6');
SELECT * FROM hostile ORDER BY a;
SELECT line, column_name, reason FROM luxe.last_scan_rejects() ORDER BY line;
SELECT count(*) FROM hostile;
SELECT count(b), sum(a) FROM hostile;
-- the same rows however the bytes are cut into parser chunks, and gzip'd
SET luxe_fdw.parse_chunk_size = 7;
SELECT array_agg(a ORDER BY a) FROM hostile;
ALTER FOREIGN TABLE hostile OPTIONS (SET uri 'gs://luxe-test/errors/hostile.csv.gz');
SELECT array_agg(a ORDER BY a) FROM hostile;
SELECT array_agg(line ORDER BY line) FROM luxe.last_scan_rejects();
RESET luxe_fdw.parse_chunk_size;
SELECT array_agg(a ORDER BY a) FROM hostile;
-- one over the budget fails, naming the last bad row
ALTER FOREIGN TABLE hostile OPTIONS (SET max_bad_records '5');
SELECT count(*) FROM hostile;                          -- ERROR
-- without a budget the first malformed row stops the scan
ALTER FOREIGN TABLE hostile OPTIONS (DROP max_bad_records);
SELECT count(*) FROM hostile;                          -- ERROR

-- the SQLSTATE of each kind of error
CREATE FUNCTION sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
SELECT q, sqlstate_of(q) FROM (VALUES
  ('SELECT * FROM badvalue'), ('SELECT * FROM fraction'), ('SELECT * FROM malformed'),
  ('SELECT * FROM unterminated'), ('SELECT * FROM qnl'), ('SELECT * FROM bad_utf8'),
  ('SELECT * FROM missing'), ('SELECT * FROM down')) v(q);
ALTER FOREIGN TABLE jagged OPTIONS (SET allow_jagged_rows 'false');
SELECT sqlstate_of('SELECT * FROM jagged');

-- no user mapping
CREATE SERVER regress_luxe_nomap FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE FOREIGN TABLE nomap (a int) SERVER regress_luxe_nomap OPTIONS (uri 'gs://luxe-test/types/noheader.csv');
SELECT * FROM nomap;                                   -- ERROR

DROP FUNCTION sqlstate_of(text);
SET client_min_messages = warning;
DROP SERVER regress_luxe_gcs, regress_luxe_down, regress_luxe_nomap CASCADE;

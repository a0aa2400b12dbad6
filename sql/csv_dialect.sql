--
-- CSV dialect options, encodings and chunk boundaries.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_luxe_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_gcs OPTIONS (auth 'none');

-- CRLF line ends, a blank line, a quoted CRLF, no final line break
CREATE FOREIGN TABLE crlf (id int, txt text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/lines/crlf.csv', skip_leading_rows '1');
SELECT id, replace(replace(txt, E'\r', '\r'), E'\n', '\n') AS txt FROM crlf;

-- tab delimiter
CREATE FOREIGN TABLE tsv (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/dialect/data.tsv', skip_leading_rows '1', field_delimiter '\t');
SELECT a, b, b IS NULL AS b_null FROM tsv;

-- custom delimiter and quote
CREATE FOREIGN TABLE pipe (a int, b text, c text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/dialect/pipe.csv', field_delimiter '|', quote '''');
SELECT a, b, c, c IS NULL AS c_null FROM pipe;
-- quoting disabled: quote characters are data
ALTER FOREIGN TABLE pipe OPTIONS (SET quote '');
SELECT a, b FROM pipe WHERE a = 2;                     -- ERROR
ALTER FOREIGN TABLE pipe OPTIONS (ADD ignore_unknown_values 'true');
SELECT a, b, c FROM pipe;

-- null marker: the marker is NULL; empty fields are empty strings
CREATE FOREIGN TABLE na (id int, v text, t text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/dialect/na.csv', skip_leading_rows '1', null_marker 'NA');
SELECT id, v, v IS NULL AS v_null, t, t IS NULL AS t_null FROM na;
-- like bq load, an empty field is then not a valid integer
CREATE FOREIGN TABLE na_int (id int, v int, t text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/dialect/na.csv', skip_leading_rows '1', null_marker 'NA');
SELECT * FROM na_int;                                  -- ERROR

-- a UTF-8 byte order mark is skipped
CREATE FOREIGN TABLE bom (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/enc/bom_noheader.csv');
SELECT * FROM bom;
CREATE FOREIGN TABLE bom_mapped (name text, id int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/enc/bom.csv', skip_leading_rows '1', header_mapping 'true');
SELECT * FROM bom_mapped;

-- ISO-8859-1 is converted to the database encoding
CREATE FOREIGN TABLE latin1 (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/enc/latin1.csv', skip_leading_rows '1', encoding 'ISO-8859-1');
SELECT id, name, length(name), octet_length(name) FROM latin1;
-- read as UTF-8 the same bytes are invalid
ALTER FOREIGN TABLE latin1 OPTIONS (SET encoding 'UTF-8');
SELECT * FROM latin1;                                  -- ERROR

-- gzip objects (named *.gz) are inflated as they stream in
CREATE FOREIGN TABLE gz (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/gz/data.csv.gz', skip_leading_rows '1');
SELECT count(*), sum(id), min(name), max(name) FROM gz;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM gz;
CREATE FOREIGN TABLE gz_multi (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/gz/multi.csv.gz', skip_leading_rows '1');
SELECT * FROM gz_multi;
CREATE FOREIGN TABLE gz_broken (id int, name text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/gz/broken.csv.gz', skip_leading_rows '1');
SELECT count(*) FROM gz_broken;                        -- ERROR

-- a 1 MB field
CREATE FOREIGN TABLE bigfield (id int, blob text, tail text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/big/field.csv', skip_leading_rows '1');
SELECT id, length(blob), tail FROM bigfield;
SELECT count(*) FROM bigfield;

-- quoted line breaks split across chunks: feed the parser 7 bytes at a time
CREATE FOREIGN TABLE newlines (id int, txt text, dbl int) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/big/newlines.csv', skip_leading_rows '1');
SELECT count(*), sum(id), sum(dbl), count(*) FILTER (WHERE dbl <> 2 * id) AS bad,
       count(DISTINCT txt ~ E'^line one of \\d+\nline two, with comma\r\nline "three"$') AS shapes
  FROM newlines;
SET luxe_fdw.parse_chunk_size = 7;
SELECT count(*), sum(id), sum(dbl), count(*) FILTER (WHERE dbl <> 2 * id) AS bad,
       count(DISTINCT txt ~ E'^line one of \\d+\nline two, with comma\r\nline "three"$') AS shapes
  FROM newlines;
SELECT id, length(blob), tail FROM bigfield;
SET luxe_fdw.parse_chunk_size = 1;
SELECT id, replace(replace(txt, E'\r', '\r'), E'\n', '\n') AS txt FROM crlf;
SELECT * FROM bom;
CREATE FOREIGN TABLE people_1 (id int, name text, city text, score float8, visits int)
  SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/types/people.csv', skip_leading_rows '1', ignore_unknown_values 'true');
SELECT id, name, city, visits FROM people_1;
RESET luxe_fdw.parse_chunk_size;

-- line numbers in errors count quoted line breaks (the bad value is on line 6)
CREATE FOREIGN TABLE nl_err (a int, b text) SERVER regress_luxe_gcs
  OPTIONS (uri 'gs://luxe-test/errors/nl_badvalue.csv', skip_leading_rows '1');
SELECT sum(a) FROM nl_err;                             -- ERROR
SET luxe_fdw.parse_chunk_size = 3;
SELECT sum(a) FROM nl_err;                             -- ERROR
RESET luxe_fdw.parse_chunk_size;

SET client_min_messages = warning;
DROP SERVER regress_luxe_gcs CASCADE;

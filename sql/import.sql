--
-- IMPORT FOREIGN SCHEMA from a GCS prefix: tables, header names, detected types.
--
\getenv emulator_url LUXE_EMULATOR_URL
CREATE SERVER regress_luxe_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'emulator_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_gcs OPTIONS (auth 'none');
CREATE SCHEMA imported;

IMPORT FOREIGN SCHEMA "gs://luxe-test/import/" FROM SERVER regress_luxe_gcs INTO imported;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       (SELECT string_agg(o, ', ') FROM unnest(a.attfdwoptions) o) AS column_options
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'imported'::regnamespace AND a.attnum > 0
 ORDER BY c.relname, a.attnum;
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imported'::regnamespace ORDER BY 1;
SELECT * FROM imported.listings ORDER BY product_id;
SELECT * FROM imported.sales;
SELECT * FROM imported.out ORDER BY n;
SELECT * FROM imported.t_2024_report;

-- LIMIT TO, EXCEPT, and options passed through to every table
CREATE SCHEMA imported2;
IMPORT FOREIGN SCHEMA "gs://luxe-test/import/" LIMIT TO (sales, out)
  FROM SERVER regress_luxe_gcs INTO imported2 OPTIONS (null_marker 'NA', sample_rows '10');
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imported2'::regnamespace ORDER BY 1;
CREATE SCHEMA imported3;
IMPORT FOREIGN SCHEMA "gs://luxe-test/import/" EXCEPT (listings, out)
  FROM SERVER regress_luxe_gcs INTO imported3;
SELECT relname FROM pg_class WHERE relnamespace = 'imported3'::regnamespace ORDER BY 1;

-- an object a table cannot hold is skipped with a WARNING, the rest imported;
-- a repeated header name is mapped by position
CREATE SCHEMA imported4;
IMPORT FOREIGN SCHEMA "gs://luxe-test/import2/" FROM SERVER regress_luxe_gcs INTO imported4;
SELECT c.relname, array_agg(a.attname ORDER BY a.attnum)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relnamespace = 'imported4'::regnamespace GROUP BY 1 ORDER BY 1;
SELECT * FROM imported4.dupes;
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'imported4.dupes'::regclass;
DROP SCHEMA imported4 CASCADE;
CREATE SCHEMA imported4;
-- LIMIT TO another object: no warning; header_mapping may be given
IMPORT FOREIGN SCHEMA "gs://luxe-test/import2/" LIMIT TO (ok) FROM SERVER regress_luxe_gcs INTO imported4
  OPTIONS (header_mapping 'false');
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'imported4.ok'::regclass;
SELECT * FROM imported4.ok;
DROP SCHEMA imported4 CASCADE;

-- errors
IMPORT FOREIGN SCHEMA "luxe-test/import" FROM SERVER regress_luxe_gcs INTO imported3;            -- ERROR
IMPORT FOREIGN SCHEMA "gs://no-such-bucket/x/" FROM SERVER regress_luxe_gcs INTO imported3;      -- ERROR
IMPORT FOREIGN SCHEMA "gs://luxe-test/import/" FROM SERVER regress_luxe_gcs INTO imported3
  OPTIONS (uri 'gs://x/y');                                                                     -- ERROR
IMPORT FOREIGN SCHEMA "gs://luxe-test/nothing-here/" FROM SERVER regress_luxe_gcs INTO imported3;

SET client_min_messages = warning;
DROP SCHEMA imported, imported2, imported3 CASCADE;
DROP SERVER regress_luxe_gcs CASCADE;

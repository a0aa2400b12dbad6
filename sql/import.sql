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

-- errors
IMPORT FOREIGN SCHEMA "luxe-test/import" FROM SERVER regress_luxe_gcs INTO imported3;            -- ERROR
IMPORT FOREIGN SCHEMA "gs://no-such-bucket/x/" FROM SERVER regress_luxe_gcs INTO imported3;      -- ERROR
IMPORT FOREIGN SCHEMA "gs://luxe-test/import/" FROM SERVER regress_luxe_gcs INTO imported3
  OPTIONS (uri 'gs://x/y');                                                                     -- ERROR
IMPORT FOREIGN SCHEMA "gs://luxe-test/nothing-here/" FROM SERVER regress_luxe_gcs INTO imported3;

SET client_min_messages = warning;
DROP SCHEMA imported, imported2, imported3 CASCADE;
DROP SERVER regress_luxe_gcs CASCADE;

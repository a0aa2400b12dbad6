--
-- Option validation: every option, bad values, wrong catalog, secrets.
--
\set VERBOSITY default

-- server options
CREATE SERVER regress_luxe_ok FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://127.0.0.1:1', max_retries '3',
           retry_initial_delay '250ms', retry_max_delay '2s', connect_timeout '5s',
           request_timeout '1min');
CREATE SERVER regress_luxe_bq FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'bigquery', project 'p', location 'EU');
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 's3');      -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (servise 'gcs');     -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (endpoint 'ftp://x'); -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (max_retries '-1');  -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (max_retries 'many'); -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (retry_max_delay '2 parsecs'); -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (token 'x');         -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw OPTIONS (uri 'gs://b/o');    -- ERROR
ALTER SERVER regress_luxe_ok OPTIONS (SET max_retries '101');                             -- ERROR

-- user mapping options
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_ok OPTIONS (auth 'token', token 'sekrit');
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_ok OPTIONS (SET auth 'none');
CREATE USER MAPPING FOR PUBLIC SERVER regress_luxe_ok OPTIONS (auth 'password');          -- ERROR
CREATE USER MAPPING FOR PUBLIC SERVER regress_luxe_ok OPTIONS (tokn 'x');                 -- ERROR
CREATE USER MAPPING FOR PUBLIC SERVER regress_luxe_ok OPTIONS (token '');                 -- ERROR
CREATE USER MAPPING FOR PUBLIC SERVER regress_luxe_ok OPTIONS (token E'x\r\nX-Evil: 1'); -- ERROR
CREATE USER MAPPING FOR PUBLIC SERVER regress_luxe_ok OPTIONS (endpoint 'http://x');      -- ERROR

-- foreign table options
CREATE FOREIGN TABLE regress_luxe_t (a int, b text) SERVER regress_luxe_ok
  OPTIONS (uri 'gs://bucket/dir/file.csv', skip_leading_rows '1', field_delimiter '\t',
           quote '''', allow_quoted_newlines 'false', allow_jagged_rows 'true',
           ignore_unknown_values 'on', null_marker 'NA', encoding 'ISO-8859-1',
           header_mapping 'false');
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET uri 'gs://bucket/dir/*.csv');
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET quote '');
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET uri 'http://bucket/file.csv');     -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET uri 'gs://bucket');                -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET uri 'gs:///file.csv');             -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET uri 'gs://b*/file.csv');           -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET uri 'gs://b/a*/*.csv');            -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET skip_leading_rows '-1');           -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET field_delimiter ';;');             -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET field_delimiter '§');              -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET field_delimiter '');               -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET allow_jagged_rows 'maybe');        -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (SET encoding 'UTF-16');                -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (ADD skip_leading_row '1');             -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (ADD token 'x');                        -- ERROR
ALTER FOREIGN TABLE regress_luxe_t OPTIONS (ADD service 'gcs');                    -- ERROR

-- column options
ALTER FOREIGN TABLE regress_luxe_t ALTER COLUMN a OPTIONS (column_name 'A col');
ALTER FOREIGN TABLE regress_luxe_t ALTER COLUMN b OPTIONS (column_name '');        -- ERROR
ALTER FOREIGN TABLE regress_luxe_t ALTER COLUMN b OPTIONS (colum_name 'x');        -- ERROR

-- options of the other service
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', pushdown 'false');                                      -- ERROR
ALTER SERVER regress_luxe_ok OPTIONS (ADD project 'p');                            -- ERROR
ALTER SERVER regress_luxe_bq OPTIONS (ADD skip_leading_rows '1');                  -- ERROR
CREATE FOREIGN TABLE regress_luxe_bad (a int) SERVER regress_luxe_ok
  OPTIONS (uri 'gs://b/o', dataset 'd');                                           -- ERROR
CREATE FOREIGN TABLE regress_luxe_bad (a int) SERVER regress_luxe_ok
  OPTIONS (dataset 'd', table 't');                                                -- ERROR
CREATE FOREIGN TABLE regress_luxe_bq_t (a int) SERVER regress_luxe_bq
  OPTIONS (dataset 'd', table 't');
ALTER SERVER regress_luxe_bq OPTIONS (SET service 'gcs');                          -- ERROR
CREATE SERVER regress_luxe_bq2 FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'bigquery');
CREATE FOREIGN TABLE regress_luxe_bq2_t (a int) SERVER regress_luxe_bq2
  OPTIONS (dataset 'd', table 't');
ALTER SERVER regress_luxe_bq2 OPTIONS (SET service 'gcs');                         -- ERROR
IMPORT FOREIGN SCHEMA "gs://b/p/" FROM SERVER regress_luxe_ok INTO public
  OPTIONS (sample_rows '0');                                                       -- ERROR
IMPORT FOREIGN SCHEMA "gs://b/p/" FROM SERVER regress_luxe_ok INTO public
  OPTIONS (dataset 'd');                                                           -- ERROR
IMPORT FOREIGN SCHEMA "gs://b/p/" FROM SERVER regress_luxe_ok INTO public
  OPTIONS (uri 'gs://b/o');                                                        -- ERROR
IMPORT FOREIGN SCHEMA d FROM SERVER regress_luxe_bq INTO public
  OPTIONS (sample_rows '10');                                                      -- ERROR

-- the option table, as users can list it
SELECT object, option_name, services, required, secret, privileged, default_value
  FROM luxe.fdw_options() ORDER BY object, option_name, services;

-- the wrapper itself takes no options
ALTER FOREIGN DATA WRAPPER luxe_fdw OPTIONS (ADD service 'gcs');                   -- ERROR

-- options checked when the table is used
CREATE SERVER regress_luxe_noservice FOREIGN DATA WRAPPER luxe_fdw;
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_noservice;
CREATE FOREIGN TABLE regress_luxe_ns (a int) SERVER regress_luxe_noservice OPTIONS (uri 'gs://b/o');
SELECT * FROM regress_luxe_ns;                                                     -- ERROR
CREATE FOREIGN TABLE regress_luxe_nouri (a int) SERVER regress_luxe_ok;
SELECT * FROM regress_luxe_nouri;                                                  -- ERROR
CREATE FOREIGN TABLE regress_luxe_hm (a int OPTIONS (column_name 'x')) SERVER regress_luxe_ok
  OPTIONS (uri 'gs://b/o');
SELECT * FROM regress_luxe_hm;                                                     -- ERROR
CREATE FOREIGN TABLE regress_luxe_q (a int) SERVER regress_luxe_ok
  OPTIONS (uri 'gs://b/o', quote '|', field_delimiter '|');
SELECT * FROM regress_luxe_q;                                                      -- ERROR

SELECT luxe_fdw_version();

SET client_min_messages = warning;
DROP SERVER regress_luxe_ok, regress_luxe_bq, regress_luxe_bq2, regress_luxe_noservice CASCADE;

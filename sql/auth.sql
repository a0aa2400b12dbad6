--
-- Service-account keys and the metadata server, against the emulator's
-- token endpoint (which verifies the RS256 signature, iss, aud, exp and
-- scope) and its metadata endpoint.
--
\getenv auth_url LUXE_EMULATOR_AUTH_URL
\getenv key_file LUXE_SA_KEY_FILE
\getenv bad_key_file LUXE_SA_BAD_KEY_FILE
\getenv metadata_host LUXE_METADATA_HOST
SELECT pg_read_file(:'key_file') AS key_json \gset
CREATE SERVER regress_luxe_auth FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'auth_url', max_retries '0');
CREATE FOREIGN TABLE secured (id int, name text, city text) SERVER regress_luxe_auth
  OPTIONS (uri 'gs://luxe-test/types/noheader.csv');
\set VERBOSITY terse

-- a key file (superuser may name one)
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth
  OPTIONS (auth 'service_account', key_file :'key_file');
SELECT * FROM secured;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM secured;

-- the key itself, with explicit scopes
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth
  OPTIONS (DROP key_file, ADD key_json :'key_json',
           ADD scopes 'https://www.googleapis.com/auth/devstorage.read_only https://www.googleapis.com/auth/cloud-platform');
SELECT count(*) FROM secured;

-- a key the token endpoint does not know: the signature is refused
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth
  OPTIONS (DROP key_json, ADD key_file :'bad_key_file');
SELECT count(*) FROM secured;                          -- ERROR

-- malformed or incomplete credentials
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth
  OPTIONS (DROP key_file, ADD key_json '{"type": "authorized_user"}');
SELECT count(*) FROM secured;                          -- ERROR
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth OPTIONS (SET key_json 'not json');
SELECT count(*) FROM secured;                          -- ERROR
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth
  OPTIONS (SET key_json '{"type": "service_account", "client_email": "x@y", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}');
SELECT count(*) FROM secured;                          -- ERROR
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth OPTIONS (DROP key_json);
SELECT count(*) FROM secured;                          -- ERROR
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth
  OPTIONS (ADD key_file '/nonexistent/key.json');
SELECT count(*) FROM secured;                          -- ERROR

-- the metadata server (the emulator's, as luxe_fdw.metadata_host says;
-- GCE_METADATA_HOST in the server's environment would do the same)
SET luxe_fdw.metadata_host = :'metadata_host';
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_auth
  OPTIONS (SET auth 'metadata', DROP key_file);
SELECT count(*) FROM secured;

-- only roles with pg_read_server_files may name a key file
CREATE ROLE regress_luxe_plain;
GRANT USAGE ON FOREIGN SERVER regress_luxe_auth TO regress_luxe_plain;
SET ROLE regress_luxe_plain;
CREATE USER MAPPING FOR regress_luxe_plain SERVER regress_luxe_auth
  OPTIONS (auth 'service_account', key_file '/etc/passwd');   -- ERROR
CREATE USER MAPPING FOR regress_luxe_plain SERVER regress_luxe_auth
  OPTIONS (auth 'service_account', key_json '{}');
RESET ROLE;
GRANT pg_read_server_files TO regress_luxe_plain;
SET ROLE regress_luxe_plain;
ALTER USER MAPPING FOR regress_luxe_plain SERVER regress_luxe_auth
  OPTIONS (DROP key_json, ADD key_file :'key_file');
RESET ROLE;

\set VERBOSITY default
SET client_min_messages = warning;
DROP SERVER regress_luxe_auth CASCADE;
DROP ROLE regress_luxe_plain;

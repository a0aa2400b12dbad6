--
-- Credentials: where they may be set, who can see them, where they never go.
--
\getenv auth_url LUXE_EMULATOR_AUTH_URL
CREATE ROLE regress_luxe_owner;
CREATE ROLE regress_luxe_user;
GRANT USAGE ON FOREIGN DATA WRAPPER luxe_fdw TO regress_luxe_owner;
CREATE SCHEMA regress_luxe AUTHORIZATION regress_luxe_owner;
GRANT USAGE ON SCHEMA regress_luxe TO regress_luxe_user;
SET search_path = regress_luxe;
SET ROLE regress_luxe_owner;
CREATE SERVER regress_luxe_auth FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint :'auth_url', max_retries '0');
CREATE USER MAPPING FOR regress_luxe_owner SERVER regress_luxe_auth
  OPTIONS (auth 'token', token 'regress-secret-token');
CREATE USER MAPPING FOR regress_luxe_user SERVER regress_luxe_auth
  OPTIONS (auth 'token', token 'regress-wrong-token');
CREATE FOREIGN TABLE secured (id int, name text, city text) SERVER regress_luxe_auth
  OPTIONS (uri 'gs://luxe-test/types/noheader.csv');
GRANT SELECT ON secured TO regress_luxe_user;
GRANT USAGE ON FOREIGN SERVER regress_luxe_auth TO regress_luxe_user;

-- the right token reads; the plan and EXPLAIN never show it
SELECT * FROM secured;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM secured;
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM secured;
RESET ROLE;

-- a refused token is an error that does not echo the token
SET ROLE regress_luxe_user;
SELECT * FROM secured;                                 -- ERROR
-- the user sees only its own mapping's options
SELECT srvname, usename, umoptions FROM pg_user_mappings WHERE srvname = 'regress_luxe_auth' ORDER BY usename;
RESET ROLE;

-- no mapping token is ever sent to a non-loopback host in clear text
SET ROLE regress_luxe_owner;
CREATE SERVER regress_luxe_clear FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://storage.example.com');
CREATE USER MAPPING FOR regress_luxe_owner SERVER regress_luxe_clear
  OPTIONS (auth 'token', token 'regress-secret-token');
CREATE FOREIGN TABLE clear (a int) SERVER regress_luxe_clear OPTIONS (uri 'gs://b/o.csv');
SELECT * FROM clear;                                   -- ERROR
-- anonymous mode sends nothing
ALTER USER MAPPING FOR regress_luxe_owner SERVER regress_luxe_auth OPTIONS (SET auth 'none');
SELECT * FROM secured;                                 -- ERROR
RESET ROLE;

-- the token appears in no server log line either (checked by the harness)
SET client_min_messages = warning;
DROP SERVER regress_luxe_auth, regress_luxe_clear CASCADE;
DROP SCHEMA regress_luxe CASCADE;
RESET search_path;
DROP OWNED BY regress_luxe_owner, regress_luxe_user;
DROP ROLE regress_luxe_owner, regress_luxe_user;

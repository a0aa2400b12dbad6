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

-- where a non-superuser's server may send requests: Google's API hosts ...
SET ROLE regress_luxe_owner;
CREATE SERVER regress_luxe_google FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'https://storage.googleapis.com');
CREATE SERVER regress_luxe_google2 FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'bigquery', endpoint 'https://bigquery.googleapis.com/', project 'p');
-- ... not an internal host, loopback included (the emulator here) ...
CREATE SERVER regress_luxe_internal FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://127.0.0.1:1');              -- ERROR
CREATE SERVER regress_luxe_internal FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'https://metadata.example.com');     -- ERROR
-- ... unless a superuser allows it; a non-superuser cannot
SET luxe_fdw.allowed_endpoints = '127.0.0.1';                         -- ERROR
RESET ROLE;
SET luxe_fdw.allowed_endpoints = '*.example.com, 127.0.0.1';
SET ROLE regress_luxe_owner;
CREATE SERVER regress_luxe_internal FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'https://metadata.example.com');
ALTER SERVER regress_luxe_internal OPTIONS (SET endpoint 'https://example.com');  -- ERROR
ALTER SERVER regress_luxe_internal OPTIONS (SET endpoint 'https://a.b.example.com:8443');
-- a key's token_uri is judged for the role whose mapping holds the key
CREATE USER MAPPING FOR regress_luxe_owner SERVER regress_luxe_internal
  OPTIONS (auth 'service_account',
           key_json '{"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                      "private_key": "not used", "token_uri": "https://token.internal.test/token"}');
CREATE FOREIGN TABLE internal (a int) SERVER regress_luxe_internal OPTIONS (uri 'gs://b/o.csv');
SELECT * FROM internal;                                -- ERROR
RESET ROLE;
-- the check is made where requests are sent too: a server handed to a
-- non-superuser, or a list narrowed since
CREATE SERVER regress_luxe_handed FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://127.0.0.1:1', max_retries '0');
ALTER SERVER regress_luxe_handed OWNER TO regress_luxe_owner;
CREATE USER MAPPING FOR regress_luxe_owner SERVER regress_luxe_handed OPTIONS (auth 'none');
CREATE FOREIGN TABLE handed (a int) SERVER regress_luxe_handed OPTIONS (uri 'gs://b/o.csv');
ALTER FOREIGN TABLE handed OWNER TO regress_luxe_owner;
SET luxe_fdw.allowed_endpoints = '*.example.com';
SET ROLE regress_luxe_owner;
SELECT * FROM handed;                                  -- ERROR
RESET ROLE;
SET luxe_fdw.allowed_endpoints = '127.0.0.1:2';
SET ROLE regress_luxe_owner;
SELECT * FROM handed;                                  -- ERROR
-- the database host's own cloud identity is for superusers to hand out
ALTER USER MAPPING FOR regress_luxe_owner SERVER regress_luxe_handed
  OPTIONS (SET auth 'metadata');                       -- ERROR
RESET ROLE;
DROP SERVER regress_luxe_google, regress_luxe_google2, regress_luxe_internal,
  regress_luxe_handed CASCADE;

-- URLs are judged as libcurl will connect: no user name or password (the
-- host would be what follows the @), no query or fragment
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://127.0.0.1@other-host:4612');  -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://localhost:pass@other-host');  -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://127.0.0.1:1/internal/admin?cmd=x&x=');  -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://127.0.0.1:1#frag');           -- ERROR
CREATE SERVER regress_luxe_bad FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://');                           -- ERROR
-- credentials never go over plain http to a host that only looks local
CREATE SERVER regress_luxe_lookalike FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint 'http://localhost.example.com/', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_luxe_lookalike
  OPTIONS (auth 'token', token 'regress-secret-token');
CREATE FOREIGN TABLE lookalike (a int) SERVER regress_luxe_lookalike OPTIONS (uri 'gs://b/o.csv');
SELECT * FROM lookalike;                               -- ERROR
ALTER SERVER regress_luxe_lookalike OPTIONS (SET endpoint 'http://127.0.0.1.example.com');
SELECT * FROM lookalike;                               -- ERROR
-- nor a signed assertion to a key's token_uri that hides its host
ALTER SERVER regress_luxe_lookalike OPTIONS (SET endpoint 'http://127.0.0.1:1');
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_lookalike OPTIONS (
  SET auth 'service_account', DROP token,
  ADD key_json '{"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                 "private_key": "not used", "token_uri": "http://127.0.0.1@other-host/token"}');
SELECT * FROM lookalike;                               -- ERROR
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_luxe_lookalike OPTIONS (
  SET key_json '{"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                 "private_key": "not used", "token_uri": "http://oauth2.example.com/token"}');
SELECT * FROM lookalike;                               -- ERROR
DROP SERVER regress_luxe_lookalike CASCADE;
RESET luxe_fdw.allowed_endpoints;

-- the emulator below is on loopback: allowed for this test's roles
SET luxe_fdw.allowed_endpoints = '127.0.0.1, storage.example.com';
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

/* fdw/luxe_fdw--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION luxe_fdw" to load this file. \quit

CREATE FUNCTION luxe_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

COMMENT ON FUNCTION luxe_fdw_handler()
IS 'luxe_fdw foreign-data wrapper handler';

CREATE FUNCTION luxe_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

COMMENT ON FUNCTION luxe_fdw_validator(text[], oid)
IS 'luxe_fdw foreign-data wrapper options validator';

CREATE FOREIGN DATA WRAPPER luxe_fdw
  HANDLER luxe_fdw_handler
  VALIDATOR luxe_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER luxe_fdw
IS 'foreign-data wrapper for CSV objects in Google Cloud Storage and tables in BigQuery';

CREATE FUNCTION luxe_fdw_version()
RETURNS text
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION luxe_fdw_version()
IS 'version of the luxe_fdw shared library';

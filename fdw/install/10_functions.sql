
--
-- Schema luxe: C functions and aggregates of the insights pipeline.
--
CREATE SCHEMA luxe;
COMMENT ON SCHEMA luxe IS 'luxe_fdw pipeline: cleaned listings, insight views, run history';

--
-- Privilege policy.
--
-- PUBLIC may use schema luxe and execute what only computes, or reads what
-- the caller may already read: the C functions and aggregates, the option
-- table, luxe.gcs_objects (it checks USAGE on the server and uses the
-- caller's own user mapping, as a foreign table would), the rows the
-- caller's own last scan skipped, the dashboard (which reads the insight
-- views with the caller's privileges).  Nothing in the schema is readable
-- or writable without a grant: its tables and views have no PUBLIC
-- privileges.
--
-- What changes the pipeline -- setting it up, refreshing, publishing,
-- scheduling, dropping -- creates and drops objects in schema luxe,
-- rewrites its tables and the run history, and can schedule pg_cron jobs,
-- so PUBLIC may not execute it: each such function is REVOKEd from PUBLIC
-- where it is created, and an administrator GRANTs EXECUTE to the role
-- that owns the pipeline (see the README).
--
GRANT USAGE ON SCHEMA luxe TO PUBLIC;

CREATE FUNCTION luxe.gcs_objects(uri text, server name DEFAULT NULL,
                                 OUT name text, OUT size bigint, OUT generation bigint,
                                 OUT updated timestamptz, OUT crc32c text, OUT bucket text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'luxe_gcs_objects'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION luxe.gcs_objects(text, name)
IS 'list the GCS objects a gs:// URI names (object, prefix/ or * wildcard) through a luxe_fdw server';

CREATE FUNCTION luxe.last_scan_rejects(OUT table_name text, OUT object text, OUT line bigint,
                                       OUT column_name text, OUT reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'luxe_last_scan_rejects'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION luxe.last_scan_rejects()
IS 'the rows the last luxe_fdw scan in this session skipped under max_bad_records (up to 10,000)';

CREATE FUNCTION luxe.last_scan_timings(OUT fetch_seconds double precision, OUT parse_seconds double precision,
                                       OUT convert_seconds double precision, OUT rows bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'luxe_last_scan_timings'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION luxe.last_scan_timings()
IS 'where the last GCS scan this session finished spent its time: fetching, parsing, converting fields (seconds; a parallel scan''s leader share), and its rows';

CREATE FUNCTION luxe.squish(text)
RETURNS text
AS 'MODULE_PATHNAME', 'luxe_squish'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.squish(text)
IS 'trim ASCII whitespace and collapse each inner run of it to one space';

CREATE FUNCTION luxe.lower_trim(text)
RETURNS text
AS 'MODULE_PATHNAME', 'luxe_lower_trim'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.lower_trim(text)
IS 'lower(btrim(x)), with a byte-wise fast path for ASCII values';

CREATE FUNCTION luxe.pct(part bigint, whole bigint)
RETURNS numeric
AS 'MODULE_PATHNAME', 'luxe_pct'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.pct(bigint, bigint)
IS 'percentage part is of whole, numeric rounded to 12 decimals; NULL when whole is 0';

-- distinct_count: exact count of distinct bigint values, hash based
CREATE FUNCTION luxe.distinct_count_transfn(internal, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_distinct_count_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.distinct_count_transfn(internal, bigint) IS 'transition function of luxe.distinct_count';
CREATE FUNCTION luxe.distinct_count_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_distinct_count_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.distinct_count_combinefn(internal, internal) IS 'combine function of luxe.distinct_count';
CREATE FUNCTION luxe.distinct_count_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'luxe_distinct_count_serialfn'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.distinct_count_serialfn(internal) IS 'serial function of luxe.distinct_count';
CREATE FUNCTION luxe.distinct_count_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_distinct_count_deserialfn'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.distinct_count_deserialfn(bytea, internal) IS 'deserial function of luxe.distinct_count';
CREATE FUNCTION luxe.distinct_count_finalfn(internal)
RETURNS bigint
AS 'MODULE_PATHNAME', 'luxe_distinct_count_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.distinct_count_finalfn(internal) IS 'final function of luxe.distinct_count';
CREATE AGGREGATE luxe.distinct_count(bigint) (
  SFUNC = luxe.distinct_count_transfn,
  STYPE = internal,
  FINALFUNC = luxe.distinct_count_finalfn,
  COMBINEFUNC = luxe.distinct_count_combinefn,
  SERIALFUNC = luxe.distinct_count_serialfn,
  DESERIALFUNC = luxe.distinct_count_deserialfn,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE luxe.distinct_count(bigint)
IS 'exact number of distinct non-NULL values, like count(DISTINCT x), by hashing';

-- price_summary: count, mean, min, percentiles and max in one pass
CREATE TYPE luxe.price_stats AS (
  listings bigint, mean double precision, min double precision,
  p25 double precision, median double precision, p75 double precision,
  max double precision
);
COMMENT ON TYPE luxe.price_stats IS 'result of luxe.price_summary';
CREATE FUNCTION luxe.price_summary_transfn(internal, double precision)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_price_summary_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.price_summary_transfn(internal, double precision) IS 'transition function of luxe.price_summary';
CREATE FUNCTION luxe.price_summary_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_price_summary_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.price_summary_combinefn(internal, internal) IS 'combine function of luxe.price_summary';
CREATE FUNCTION luxe.price_summary_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'luxe_price_summary_serialfn'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.price_summary_serialfn(internal) IS 'serial function of luxe.price_summary';
CREATE FUNCTION luxe.price_summary_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_price_summary_deserialfn'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.price_summary_deserialfn(bytea, internal) IS 'deserial function of luxe.price_summary';
CREATE FUNCTION luxe.price_summary_finalfn(internal)
RETURNS luxe.price_stats
AS 'MODULE_PATHNAME', 'luxe_price_summary_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.price_summary_finalfn(internal) IS 'final function of luxe.price_summary';
CREATE AGGREGATE luxe.price_summary(double precision) (
  SFUNC = luxe.price_summary_transfn,
  STYPE = internal,
  FINALFUNC = luxe.price_summary_finalfn,
  FINALFUNC_MODIFY = READ_WRITE,
  COMBINEFUNC = luxe.price_summary_combinefn,
  SERIALFUNC = luxe.price_summary_serialfn,
  DESERIALFUNC = luxe.price_summary_deserialfn,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE luxe.price_summary(double precision)
IS 'count, mean, min, p25, median, p75 and max (percentiles as percentile_cont) of the non-NULL inputs';

-- value_counts: the sum of the weights per value, as two arrays
CREATE TYPE luxe.value_counts_result AS (items text[], counts bigint[]);
COMMENT ON TYPE luxe.value_counts_result IS 'result of luxe.value_counts';
CREATE FUNCTION luxe.value_counts_transfn(internal, text, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_value_counts_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.value_counts_transfn(internal, text, bigint) IS 'transition function of luxe.value_counts';
CREATE FUNCTION luxe.value_counts_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_value_counts_combinefn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.value_counts_combinefn(internal, internal) IS 'combine function of luxe.value_counts';
CREATE FUNCTION luxe.value_counts_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'luxe_value_counts_serialfn'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.value_counts_serialfn(internal) IS 'serial function of luxe.value_counts';
CREATE FUNCTION luxe.value_counts_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'luxe_value_counts_deserialfn'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.value_counts_deserialfn(bytea, internal) IS 'deserial function of luxe.value_counts';
CREATE FUNCTION luxe.value_counts_finalfn(internal)
RETURNS luxe.value_counts_result
AS 'MODULE_PATHNAME', 'luxe_value_counts_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.value_counts_finalfn(internal) IS 'final function of luxe.value_counts';
CREATE AGGREGATE luxe.value_counts(value text, weight bigint) (
  SFUNC = luxe.value_counts_transfn,
  STYPE = internal,
  FINALFUNC = luxe.value_counts_finalfn,
  COMBINEFUNC = luxe.value_counts_combinefn,
  SERIALFUNC = luxe.value_counts_serialfn,
  DESERIALFUNC = luxe.value_counts_deserialfn,
  PARALLEL = SAFE
);
COMMENT ON AGGREGATE luxe.value_counts(text, bigint)
IS 'the distinct values (NULL included) whose weights do not sum to zero, in the order first seen, and the sums';

CREATE FUNCTION luxe.bigquery_flush()
RETURNS integer
AS 'MODULE_PATHNAME', 'luxe_bigquery_flush'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION luxe.bigquery_flush()
IS 'run the BigQuery loads and TRUNCATEs this transaction has pending now instead of at commit (so errors can be caught); returns how many tables were written';

CREATE FUNCTION luxe.bigquery_job(server name, configuration jsonb, step text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'luxe_bigquery_job'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION luxe.bigquery_job(name, jsonb, text)
IS 'run one BigQuery job (load, query, DDL) through a luxe_fdw BigQuery server and wait for it; returns the finished job resource';
REVOKE ALL ON FUNCTION luxe.bigquery_job(name, jsonb, text) FROM PUBLIC;   -- runs billed jobs: an administrator grants it

CREATE FUNCTION luxe.bigquery_jobs_take()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'luxe_bigquery_jobs_take'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION luxe.bigquery_jobs_take()
IS 'the jobs luxe.bigquery_job ran in this session since the last call (done or failed), then forget them';
REVOKE ALL ON FUNCTION luxe.bigquery_jobs_take() FROM PUBLIC;

CREATE FUNCTION luxe.bytes_received()
RETURNS bigint
AS 'MODULE_PATHNAME', 'luxe_bytes_received'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION luxe.bytes_received()
IS 'response body bytes this backend (with the parallel workers of its GCS scans) has received from Google''s APIs since it started';

CREATE FUNCTION luxe.fdw_options(OUT option_name text, OUT object text, OUT services text,
                                 OUT required boolean, OUT secret boolean, OUT privileged boolean,
                                 OUT default_value text, OUT description text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'luxe_fdw_options'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION luxe.fdw_options()
IS 'every luxe_fdw option: the object it is set on, the services it applies to, whether it is required or a secret, its default';

-- The validator cannot see a foreign table's server, so whether the
-- table's options fit its server's service is checked at the end of the
-- DDL command by this event trigger (and again when the table is used).
CREATE FUNCTION luxe.check_foreign_table(regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'luxe_check_foreign_table'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION luxe.check_foreign_table(regclass)
IS 'raise an error if a luxe_fdw foreign table''s options do not fit its server''s service';

CREATE FUNCTION luxe.check_options_trigger()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.objid, c.classid
             FROM pg_event_trigger_ddl_commands() c
            WHERE c.classid IN ('pg_class'::regclass, 'pg_foreign_server'::regclass)
  LOOP
    IF r.classid = 'pg_class'::regclass THEN
      PERFORM luxe.check_foreign_table(r.objid::regclass);
    ELSE
      -- a server's service may have changed: check its tables
      PERFORM luxe.check_foreign_table(ft.ftrelid::regclass)
         FROM pg_foreign_table ft WHERE ft.ftserver = r.objid;
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION luxe.check_options_trigger()
IS 'event trigger function: check the options of luxe_fdw foreign tables created or altered by the command';

CREATE EVENT TRIGGER luxe_fdw_check_options ON ddl_command_end
  WHEN TAG IN ('CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE', 'IMPORT FOREIGN SCHEMA', 'ALTER SERVER')
  EXECUTE FUNCTION luxe.check_options_trigger();
COMMENT ON EVENT TRIGGER luxe_fdw_check_options
IS 'reject luxe_fdw foreign-table options that do not apply to the table''s server''s service';


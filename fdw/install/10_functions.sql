
--
-- Schema luxe: C functions and aggregates of the insights pipeline.
--
CREATE SCHEMA luxe;
COMMENT ON SCHEMA luxe IS 'luxe_fdw pipeline: cleaned listings, insight views, run history';

CREATE FUNCTION luxe.gcs_objects(uri text, server name DEFAULT NULL,
                                 OUT name text, OUT size bigint, OUT generation bigint,
                                 OUT updated timestamptz, OUT crc32c text)
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

CREATE FUNCTION luxe.bigquery_flush()
RETURNS integer
AS 'MODULE_PATHNAME', 'luxe_bigquery_flush'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION luxe.bigquery_flush()
IS 'run the BigQuery loads and TRUNCATEs this transaction has pending now instead of at commit (so errors can be caught); returns how many tables were written';

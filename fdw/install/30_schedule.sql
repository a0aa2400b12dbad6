
--
-- Scheduling through pg_cron, a soft dependency: checked at call time.
--

CREATE FUNCTION luxe.require_pg_cron()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
      USING ERRCODE = 'feature_not_supported',
            HINT = format('Install it (Debian: apt-get install postgresql-15-cron), add pg_cron to shared_preload_libraries, set cron.database_name = %L, restart, and run CREATE EXTENSION pg_cron.',
                          current_database());
  END IF;
END
$$;
COMMENT ON FUNCTION luxe.require_pg_cron() IS 'raise a clear error with an install hint when pg_cron is missing';

CREATE FUNCTION luxe.pipeline_job_name()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'luxe_pipeline_' || current_database() $$;
COMMENT ON FUNCTION luxe.pipeline_job_name() IS 'name of the pg_cron job of this database''s pipeline';

/*
 * schedule_pipeline: run the refresh on a cron schedule, with retries (pg_cron
 * has none) and pruning of old history, ours and pg_cron's.  pg_cron 1.4
 * takes five-field cron expressions and @hourly/@daily/@weekly/@monthly/
 * @yearly, in GMT by default (cron.timezone).  Returns the job id.
 */
CREATE FUNCTION luxe.schedule_pipeline(schedule text DEFAULT '@monthly',
                                       retries integer DEFAULT 1,
                                       retry_delay interval DEFAULT '5 minutes',
                                       keep_runs interval DEFAULT '1 year',
                                       timeout interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  job bigint;
  command text;
BEGIN
  PERFORM luxe.require_pg_cron();
  IF NOT EXISTS (SELECT 1 FROM luxe.pipeline_config) THEN
    RAISE EXCEPTION 'the luxe pipeline is not set up'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call luxe.setup_pipeline(''your_source''::regclass) first.';
  END IF;
  IF retries < 0 THEN
    RAISE EXCEPTION 'retries must not be negative' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE luxe.pipeline_config SET keep_runs = schedule_pipeline.keep_runs;
  -- One statement only: pg_cron runs a multi-statement command as one
  -- transaction, in which the procedure could not commit its run rows.
  IF timeout IS NOT NULL AND timeout <= interval '0' THEN
    RAISE EXCEPTION 'timeout must be positive' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  command := format('CALL luxe.refresh_pipeline(retries => %s, retry_delay => %L, trigger => %L%s)',
                    retries, retry_delay, 'cron',
                    CASE WHEN timeout IS NOT NULL THEN format(', timeout => %L', timeout) ELSE '' END);
  BEGIN
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
      USING luxe.pipeline_job_name(), schedule, command;
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid cron schedule "%"', schedule
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = SQLERRM,
            HINT = 'pg_cron 1.4 takes five fields (minute hour day month weekday, e.g. ''0 3 1 * *'') or @hourly, @daily, @weekly, @monthly, @yearly.';
  END;
  RETURN job;
END
$$;
COMMENT ON FUNCTION luxe.schedule_pipeline(text, integer, interval, interval, interval)
IS 'schedule the pipeline refresh with pg_cron (default monthly, one retry, optional per-attempt timeout); replaces an earlier schedule; returns the job id';
REVOKE ALL ON FUNCTION luxe.schedule_pipeline(text, integer, interval, interval, interval) FROM PUBLIC;   -- schedules pg_cron jobs: an administrator grants it

CREATE FUNCTION luxe.unschedule_pipeline()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  found boolean;
BEGIN
  PERFORM luxe.require_pg_cron();
  EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO found
    USING luxe.pipeline_job_name();
  IF found THEN
    EXECUTE 'SELECT cron.unschedule($1)' USING luxe.pipeline_job_name();
  END IF;
  RETURN found;
END
$$;
COMMENT ON FUNCTION luxe.unschedule_pipeline()
IS 'remove the pipeline''s pg_cron job; returns false when there was none';
REVOKE ALL ON FUNCTION luxe.unschedule_pipeline() FROM PUBLIC;   -- schedules pg_cron jobs: an administrator grants it


--
-- The BigQuery engine of the pipeline: the source objects are loaded from
-- GCS into BigQuery, cleaned and summarised there by jobs; only the four
-- small results come back into the local insight buffers.  The cleaning
-- and the insights are the ones of luxe.listing_columns() and
-- luxe.insight_definitions(), in GoogleSQL.
--
-- Tables in the dataset: listings_raw (the load's staging table),
-- listings__next and <insight>__next (built by each run), listings and
-- <insight> (what the last successful run left).  A run builds every
-- __next table first; only when all are built does one multi-statement
-- transaction replace the five final tables' contents, so a failed job
-- leaves the previous BigQuery tables, and the local results, intact.
--
-- Incremental: every cleaned row carries load_batch, the run that loaded
-- it, and the manifest says which batch each object went into.  A run
-- loads only the objects added or replaced, plus the other objects of a
-- batch that held a replaced or removed object (a load job cannot say
-- which object a row came from, so a batch is the unit a row is deleted
-- by); listings__next is the batches kept plus the new one.  The load job
-- names the objects, and their generations are listed again after it: a
-- load job cannot pin a generation, so an object that changed meanwhile
-- fails the attempt (the retry plans again) instead of loading rows the
-- manifest does not describe.
--

-- A luxe_fdw BigQuery server's project option.
CREATE FUNCTION luxe.bigquery_project(server name)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT option_value
    FROM pg_foreign_server s, pg_options_to_table(s.srvoptions)
   WHERE s.srvname = server AND option_name = 'project'
$$;
COMMENT ON FUNCTION luxe.bigquery_project(name) IS 'the project option of a BigQuery server; internal';

-- `project.dataset.table`, quoted for GoogleSQL.
CREATE FUNCTION luxe.bigquery_path(server name, dataset text, tbl text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '`' || luxe.bigquery_project(server) || '.' || dataset || '.' || tbl || '`' $$;
COMMENT ON FUNCTION luxe.bigquery_path(name, text, text) IS 'a BigQuery table path for GoogleSQL; internal';

/*
 * What the BigQuery engine needs of a setup: a luxe_fdw BigQuery server, a
 * dataset name, and a source it can load straight from GCS (a luxe_fdw GCS
 * table read by position: a load job cannot map columns by header name).
 */
CREATE FUNCTION luxe.check_bigquery_engine(source regclass, server name, dataset text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  src record;
BEGIN
  IF server IS NULL OR dataset IS NULL THEN
    RAISE EXCEPTION 'the bigquery engine needs bigquery_server and bigquery_dataset'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                  WHERE s.srvname = server AND w.fdwname = 'luxe_fdw'
                    AND 'service=bigquery' = ANY (s.srvoptions)) THEN
    RAISE EXCEPTION 'server "%" is not a BigQuery server of luxe_fdw', server
      USING ERRCODE = 'wrong_object_type',
            HINT = 'CREATE SERVER bq FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service ''bigquery'', project ''…'').';
  END IF;
  IF luxe.bigquery_project(server) IS NULL THEN
    RAISE EXCEPTION 'BigQuery server "%" has no project option', server USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- it is spliced into the jobs' GoogleSQL, between backquotes
  IF luxe.bigquery_project(server) !~ '^[a-z0-9][a-z0-9.:-]*$' THEN
    RAISE EXCEPTION 'invalid BigQuery project id "%" on server "%"', luxe.bigquery_project(server), server
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Project ids are lower-case letters, digits and hyphens (domain-scoped ones: example.com:project).';
  END IF;
  IF dataset !~ '^[A-Za-z0-9_]+$' OR length(dataset) > 1024 THEN
    RAISE EXCEPTION 'invalid BigQuery dataset name "%"', dataset
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Letters, digits and underscores only.';
  END IF;
  SELECT * INTO src FROM luxe.source_info(source);
  IF NOT src.is_gcs THEN
    RAISE EXCEPTION 'the bigquery engine loads straight from GCS: % is not a luxe_fdw GCS foreign table', source
      USING ERRCODE = 'wrong_object_type';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_foreign_table ft, pg_options_to_table(ft.ftoptions)
              WHERE ft.ftrelid = source AND option_name = 'header_mapping' AND option_value = 'true')
     OR EXISTS (SELECT 1 FROM pg_attribute a, pg_options_to_table(a.attfdwoptions)
                 WHERE a.attrelid = source AND a.attnum > 0 AND option_name = 'column_name') THEN
    RAISE EXCEPTION 'the bigquery engine loads CSV by position: % maps columns by header name', source
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Declare the columns in file order, without column_name and header_mapping.';
  END IF;
END
$$;
COMMENT ON FUNCTION luxe.check_bigquery_engine(regclass, name, text) IS 'what the BigQuery engine needs of a setup; internal';
REVOKE ALL ON FUNCTION luxe.check_bigquery_engine(regclass, name, text) FROM PUBLIC;

/*
 * Create the dataset if missing, and the foreign tables the engine reads
 * BigQuery through: luxe_store.bq_listings (what luxe.listings shows) and
 * luxe_store.bq_<insight>_next (what a run fetches).
 */
CREATE FUNCTION luxe.setup_bigquery_engine(server name, dataset text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d record;
BEGIN
  PERFORM luxe.bigquery_job(server,
    luxe.bigquery_query_configuration(
      format('CREATE SCHEMA IF NOT EXISTS `%s.%s`', luxe.bigquery_project(server), dataset),
      server, dataset, NULL, NULL), 'setup');
  -- the cleaned table exists from the start (empty until the first run),
  -- so luxe.listings can be queried, and planned, at once
  PERFORM luxe.bigquery_job(server,
    luxe.bigquery_query_configuration(
      (SELECT format('CREATE TABLE IF NOT EXISTS %s (%s, load_batch INT64)',
                     luxe.bigquery_path(server, dataset, 'listings'),
                     string_agg(format('`%s` %s', name, luxe.bigquery_type(cleaned_type)), ', ' ORDER BY ord))
         FROM luxe.listing_columns()),
      server, dataset, NULL, NULL), 'setup');
  IF to_regclass('luxe_store.bq_listings') IS NOT NULL THEN
    DROP FOREIGN TABLE luxe_store.bq_listings;
  END IF;
  EXECUTE (SELECT format('CREATE FOREIGN TABLE luxe_store.bq_listings (%s) SERVER %I OPTIONS (dataset %L, table %L)',
                         string_agg(format('%I %s', name, cleaned_type), ', ' ORDER BY ord), server, dataset, 'listings')
             FROM luxe.listing_columns());
  FOR d IN SELECT * FROM luxe.insight_definitions() ORDER BY ord LOOP
    IF to_regclass(format('luxe_store.%I', 'bq_' || d.name || '_next')) IS NOT NULL THEN
      EXECUTE format('DROP FOREIGN TABLE luxe_store.%I', 'bq_' || d.name || '_next');
    END IF;
    EXECUTE format('CREATE FOREIGN TABLE luxe_store.%I (%s) SERVER %I OPTIONS (dataset %L, table %L)',
                   'bq_' || d.name || '_next',
                   luxe.column_definitions(format('luxe_store.%I', d.name || '_a')::regclass),
                   server, dataset, d.name || '__next');
  END LOOP;
END
$$;
COMMENT ON FUNCTION luxe.setup_bigquery_engine(name, text) IS 'create the dataset and the foreign tables of the BigQuery engine; internal';
REVOKE ALL ON FUNCTION luxe.setup_bigquery_engine(name, text) FROM PUBLIC;

/*
 * The load job's configuration: the objects (gs:// URIs, or the source's
 * uri option if NULL), the source's CSV options mapped to bq load's, and
 * the explicit schema of its columns (no autodetect), into listings_raw
 * (WRITE_TRUNCATE unless write_disposition says otherwise).
 */
CREATE FUNCTION luxe.bigquery_load_configuration(source regclass, server name, dataset text,
                                                 objects text[] DEFAULT NULL,
                                                 write_disposition text DEFAULT 'WRITE_TRUNCATE')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  opts jsonb;
  conf jsonb;
  uris jsonb;
  fields jsonb;
BEGIN
  SELECT jsonb_object_agg(option_name, option_value) INTO opts
    FROM pg_foreign_table ft, pg_options_to_table(ft.ftoptions) WHERE ft.ftrelid = source;
  -- a load job takes URIs and wildcards, but no #generation
  SELECT jsonb_agg(regexp_replace(btrim(u), '#[0-9]+$', '')) INTO uris
    FROM unnest(coalesce(objects, string_to_array(opts->>'uri', ','))) u;
  SELECT jsonb_agg(jsonb_build_object('name', a.attname,
                                      'type', luxe.bigquery_type(format_type(a.atttypid, NULL)))
                   ORDER BY a.attnum)
    INTO fields
    FROM pg_attribute a
   WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
     AND NOT EXISTS (SELECT 1 FROM pg_options_to_table(a.attfdwoptions) WHERE option_name = 'metadata');
  conf := jsonb_build_object(
    'sourceUris', uris, 'sourceFormat', 'CSV',
    'schema', jsonb_build_object('fields', fields),
    'destinationTable', jsonb_build_object('projectId', luxe.bigquery_project(server),
                                           'datasetId', dataset, 'tableId', 'listings_raw'),
    'writeDisposition', write_disposition, 'createDisposition', 'CREATE_IF_NEEDED',
    'skipLeadingRows', coalesce((opts->>'skip_leading_rows')::integer, 0),
    'allowQuotedNewlines', coalesce((opts->>'allow_quoted_newlines')::boolean, true),
    'allowJaggedRows', coalesce((opts->>'allow_jagged_rows')::boolean, false),
    'ignoreUnknownValues', coalesce((opts->>'ignore_unknown_values')::boolean, false),
    'maxBadRecords', coalesce((opts->>'max_bad_records')::integer, 0),
    'encoding', CASE upper(coalesce(opts->>'encoding', 'UTF-8'))
                  WHEN 'LATIN1' THEN 'ISO-8859-1' WHEN 'ISO-8859-1' THEN 'ISO-8859-1' ELSE 'UTF-8' END,
    'fieldDelimiter', CASE coalesce(opts->>'field_delimiter', ',') WHEN 'tab' THEN E'\t' WHEN '\t' THEN E'\t'
                        ELSE coalesce(opts->>'field_delimiter', ',') END,
    'quote', coalesce(opts->>'quote', '"'));
  IF coalesce(opts->>'null_marker', '') <> '' THEN
    conf := conf || jsonb_build_object('nullMarker', opts->>'null_marker');
  END IF;
  RETURN jsonb_build_object('load', conf);
END
$$;
COMMENT ON FUNCTION luxe.bigquery_load_configuration(regclass, name, text, text[], text) IS 'the load job of the BigQuery engine; internal';

-- A query job's configuration, into a destination table or none (a script).
CREATE FUNCTION luxe.bigquery_query_configuration(sql text, server name, dataset text, destination text,
                                                  maximum_bytes_billed bigint,
                                                  write_disposition text DEFAULT 'WRITE_TRUNCATE')
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT jsonb_build_object('query',
    jsonb_build_object('query', sql, 'useLegacySql', false)
    || CASE WHEN destination IS NULL THEN '{}'::jsonb ELSE
         jsonb_build_object('destinationTable',
                            jsonb_build_object('projectId', luxe.bigquery_project(server),
                                               'datasetId', dataset, 'tableId', destination),
                            'writeDisposition', write_disposition, 'createDisposition', 'CREATE_IF_NEEDED') END
    || CASE WHEN maximum_bytes_billed IS NULL THEN '{}'::jsonb ELSE
         jsonb_build_object('maximumBytesBilled', maximum_bytes_billed::text) END)
$$;
COMMENT ON FUNCTION luxe.bigquery_query_configuration(text, name, text, text, bigint, text) IS 'a query job of the BigQuery engine; internal';

/*
 * One attempt's work with the BigQuery engine: load the objects to load
 * (see the top of this file), clean them into listings__next with the
 * batches kept, the four insights (into __next tables), fetch the four
 * results into the hidden local buffer, then replace the final BigQuery
 * tables in one transaction.  Returns the buffer letter, for the caller
 * to flip; rows and rejected from the load job, total the cleaned rows
 * after the run, deleted those of the batches not kept, kept the batches
 * kept.
 */
CREATE FUNCTION luxe.refresh_in_bigquery(run bigint, OUT buffer "char", OUT rows bigint, OUT rejected bigint,
                                         OUT total bigint, OUT deleted bigint, OUT kept bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cfg record;
  src record;
  full_reload boolean;
  d record;
  job jsonb;
  cols text;
  dest text;
  script text := 'BEGIN TRANSACTION;';
  create_script text := '';
  t text;
  affected bigint[];
  chunk text[];
  changed record;
  before bigint;
BEGIN
  SELECT * INTO cfg FROM luxe.pipeline_config;
  SELECT * INTO src FROM luxe.source_info(cfg.source);
  SELECT r.full_reload INTO full_reload FROM luxe.pipeline_runs r WHERE r.run_id = run;
  kept := '{}';
  -- the batches that held a replaced or removed object are loaded again
  -- (their other objects with them); the others are kept as they are
  affected := ARRAY(SELECT DISTINCT m.load_batch FROM luxe.pipeline_manifest m
                      JOIN luxe.pipeline_run_objects o ON o.uri = m.uri
                     WHERE o.run_id = run AND o.action IN ('replace', 'remove'));
  IF NOT full_reload AND NOT EXISTS (SELECT 1 FROM luxe.pipeline_manifest WHERE load_batch IS NULL) THEN
    kept := ARRAY(SELECT DISTINCT load_batch FROM luxe.pipeline_manifest
                   WHERE load_batch <> ALL (affected) ORDER BY 1);
  END IF;
  CREATE TEMP TABLE luxe_bq_loads ON COMMIT DROP AS
    SELECT uri, generation FROM luxe.pipeline_run_objects WHERE run_id = run AND action IN ('add', 'replace')
    UNION ALL
    SELECT m.uri, m.generation FROM luxe.pipeline_manifest m
     WHERE NOT full_reload AND (m.load_batch IS NULL OR m.load_batch <> ALL (kept))
       AND NOT EXISTS (SELECT 1 FROM luxe.pipeline_run_objects o WHERE o.run_id = run AND o.uri = m.uri);
  IF NOT EXISTS (SELECT 1 FROM luxe_bq_loads) AND cardinality(kept) = 0 THEN
    RAISE EXCEPTION 'nothing to load into BigQuery for run %', run USING ERRCODE = 'internal_error';
  END IF;

  PERFORM luxe.progress_phase(5, (SELECT count(*) FROM luxe_bq_loads), NULL);
  rows := 0;
  rejected := 0;
  -- named objects, 10,000 per load job (BigQuery's limit of source URIs)
  FOR chunk IN SELECT array_agg(uri ORDER BY uri)
                 FROM (SELECT uri, (row_number() OVER (ORDER BY uri) - 1) / 10000 AS k FROM luxe_bq_loads) l
                GROUP BY k ORDER BY k LOOP
    job := luxe.bigquery_job(cfg.bigquery_server,
                             luxe.bigquery_load_configuration(cfg.source, cfg.bigquery_server, cfg.bigquery_dataset,
                                                              chunk, CASE WHEN job IS NULL THEN 'WRITE_TRUNCATE'
                                                                          ELSE 'WRITE_APPEND' END),
                             'load');
    rows := rows + coalesce((job #>> '{statistics,load,outputRows}')::bigint, 0);
    rejected := rejected + coalesce((job #>> '{statistics,load,badRecords}')::bigint, 0);
  END LOOP;
  -- a load job reads the live object: it must still be the listed one
  SELECT l.uri, l.generation AS planned, o.generation AS now INTO changed
    FROM luxe_bq_loads l
    LEFT JOIN luxe.gcs_objects(src.uri, src.server) o ON 'gs://' || o.bucket || '/' || o.name = l.uri
   WHERE o.generation IS DISTINCT FROM l.generation
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'source object "%" changed while BigQuery loaded it', changed.uri
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('Listed at generation %s, now %s.', changed.planned,
                            coalesce(changed.now::text, 'gone')),
            HINT = 'The next attempt plans the refresh again.';
  END IF;

  PERFORM luxe.progress_phase(6, 5, NULL);
  IF job IS NOT NULL THEN
    PERFORM luxe.bigquery_job(cfg.bigquery_server,
      luxe.bigquery_query_configuration(
        format('SELECT *, %s AS load_batch FROM (%s)', run,
               luxe.cleaning_select_bigquery(luxe.bigquery_project(cfg.bigquery_server) || '.'
                                             || cfg.bigquery_dataset || '.listings_raw')),
        cfg.bigquery_server, cfg.bigquery_dataset, 'listings__next', cfg.maximum_bytes_billed), 'clean');
  END IF;
  IF cardinality(kept) > 0 THEN
    PERFORM luxe.bigquery_job(cfg.bigquery_server,
      luxe.bigquery_query_configuration(
        format('SELECT * FROM %s WHERE load_batch IN (%s)',
               luxe.bigquery_path(cfg.bigquery_server, cfg.bigquery_dataset, 'listings'),
               array_to_string(kept, ', ')),
        cfg.bigquery_server, cfg.bigquery_dataset, 'listings__next', cfg.maximum_bytes_billed,
        CASE WHEN job IS NOT NULL THEN 'WRITE_APPEND' ELSE 'WRITE_TRUNCATE' END), 'keep');
  END IF;
  DROP TABLE luxe_bq_loads;
  FOR d IN SELECT * FROM luxe.insight_definitions() ORDER BY ord LOOP
    PERFORM luxe.bigquery_job(cfg.bigquery_server,
      luxe.bigquery_query_configuration(
        replace(d.bigquery_query, '{listings}',
                luxe.bigquery_path(cfg.bigquery_server, cfg.bigquery_dataset, 'listings__next')),
        cfg.bigquery_server, cfg.bigquery_dataset, d.name || '__next', cfg.maximum_bytes_billed), d.name);
  END LOOP;

  -- the four results into the buffer readers do not see
  PERFORM luxe.progress_phase(7, 4, NULL);
  SELECT CASE active WHEN 'a' THEN 'b' ELSE 'a' END INTO buffer FROM luxe_store.insight_state;
  FOR d IN SELECT * FROM luxe.insight_definitions() ORDER BY ord LOOP
    -- (a counted insight: only its counts come back; the rest is
    -- computed when read, as with the local engine)
    dest := d.name || CASE WHEN d.counted_by IS NOT NULL THEN '_counts' ELSE '_' || buffer::text END;
    SELECT string_agg(CASE WHEN a.atttypid = 'numeric'::regtype THEN format('round(%I, 12)', a.attname)
                           ELSE quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
      INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = format('luxe_store.%I', dest)::regclass
       AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('DELETE FROM luxe_store.%I', dest);
    IF d.counted_by IS NOT NULL THEN
      EXECUTE format('INSERT INTO luxe_store.%I %s', dest,
                     luxe.packed_counts(d.counted_by, format('SELECT %s, listings::bigint AS n FROM luxe_store.%I',
                                                             d.counted_by, 'bq_' || d.name || '_next')));
    ELSE
      EXECUTE format('INSERT INTO luxe_store.%I SELECT %s FROM luxe_store.%I', dest, cols, 'bq_' || d.name || '_next');
    END IF;
    EXECUTE format('ANALYZE luxe_store.%I', dest);
  END LOOP;
  -- the cleaned rows in BigQuery now and before: each is counted in one
  -- shipping bucket of insight 4 (its own 'unknown' when missing)
  EXECUTE format('SELECT coalesce(sum(listings), 0) FROM luxe_store.%I', 'sales_by_ship_interval_' || buffer::text)
    INTO total;
  EXECUTE format('SELECT coalesce(sum(listings), 0) FROM luxe_store.%I',
                 'sales_by_ship_interval_' || CASE buffer WHEN 'a' THEN 'b' ELSE 'a' END)
    INTO before;
  deleted := CASE WHEN full_reload THEN 0 ELSE before + rows - total END;

  -- all built: replace the final tables' contents at once
  -- (the final tables first exist, empty, from one DDL script: a
  -- transaction may hold DML only)
  FOREACH t IN ARRAY ARRAY['listings'] || ARRAY(SELECT name FROM luxe.insight_definitions() ORDER BY ord) LOOP
    create_script := create_script || format('CREATE TABLE IF NOT EXISTS %s AS SELECT * FROM %s WHERE FALSE; ',
               luxe.bigquery_path(cfg.bigquery_server, cfg.bigquery_dataset, t),
               luxe.bigquery_path(cfg.bigquery_server, cfg.bigquery_dataset, t || '__next'));
    script := script || format(' DELETE FROM %s WHERE TRUE; INSERT INTO %s SELECT * FROM %s;',
                               luxe.bigquery_path(cfg.bigquery_server, cfg.bigquery_dataset, t),
                               luxe.bigquery_path(cfg.bigquery_server, cfg.bigquery_dataset, t),
                               luxe.bigquery_path(cfg.bigquery_server, cfg.bigquery_dataset, t || '__next'));
  END LOOP;
  PERFORM luxe.bigquery_job(cfg.bigquery_server,
    luxe.bigquery_query_configuration(create_script, cfg.bigquery_server, cfg.bigquery_dataset, NULL, NULL),
    'create');
  PERFORM luxe.bigquery_job(cfg.bigquery_server,
    luxe.bigquery_query_configuration(script || ' COMMIT TRANSACTION;', cfg.bigquery_server,
                                      cfg.bigquery_dataset, NULL, cfg.maximum_bytes_billed), 'replace');
END
$$;
COMMENT ON FUNCTION luxe.refresh_in_bigquery(bigint) IS 'one attempt''s jobs with the BigQuery engine; internal';
REVOKE ALL ON FUNCTION luxe.refresh_in_bigquery(bigint) FROM PUBLIC;

-- The BigQuery tables the engine made, dropped (luxe.drop_pipeline(drop_bigquery => true)).
CREATE FUNCTION luxe.drop_bigquery_tables(server name, dataset text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t text;
  script text := '';
BEGIN
  FOREACH t IN ARRAY ARRAY['listings_raw', 'listings', 'listings__next']
                     || ARRAY(SELECT name FROM luxe.insight_definitions())
                     || ARRAY(SELECT name || '__next' FROM luxe.insight_definitions()) LOOP
    script := script || format('DROP TABLE IF EXISTS %s; ', luxe.bigquery_path(server, dataset, t));
  END LOOP;
  PERFORM luxe.bigquery_job(server, luxe.bigquery_query_configuration(script, server, dataset, NULL, NULL), 'drop');
END
$$;
COMMENT ON FUNCTION luxe.drop_bigquery_tables(name, text) IS 'drop the BigQuery tables of the BigQuery engine; internal';
REVOKE ALL ON FUNCTION luxe.drop_bigquery_tables(name, text) FROM PUBLIC;

/*-------------------------------------------------------------------------
 *
 * functions.c
 *		  The SQL-callable functions of luxe_fdw other than the handler, the
 *		  validator and the aggregates: listing GCS objects, the rows the
 *		  last scan skipped, running pending BigQuery writes, the option
 *		  table, and the option check of the extension's event trigger.
 *
 * Design assumptions: these functions only present what the modules own
 * (gcs.c's listing, gcs_scan.c's reject store, bq_modify.c's pending
 * writes, option.c's table) as SQL; the privilege policy of each is in the
 * install script (fdw/install/10_functions.sql).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/functions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_foreign_server.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "bigquery.h"
#include "bq_fdw.h"
#include "gcs.h"
#include "gcs_fdw.h"
#include "option.h"

#define LUXE_FDW_VERSION "0.1.0"

PG_FUNCTION_INFO_V1(luxe_fdw_version);
PG_FUNCTION_INFO_V1(luxe_gcs_objects);
PG_FUNCTION_INFO_V1(luxe_last_scan_rejects);
PG_FUNCTION_INFO_V1(luxe_last_scan_timings);
PG_FUNCTION_INFO_V1(luxe_bigquery_flush);
PG_FUNCTION_INFO_V1(luxe_bigquery_job);
PG_FUNCTION_INFO_V1(luxe_bigquery_jobs_take);
PG_FUNCTION_INFO_V1(luxe_fdw_options);
PG_FUNCTION_INFO_V1(luxe_check_foreign_table);

/*
 * luxe_fdw_version
 *		luxe_fdw_version(): the version of the shared library.
 */
Datum
luxe_fdw_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(LUXE_FDW_VERSION));
}

/*
 * luxe_gcs_objects
 *		luxe.gcs_objects(uri text, server name DEFAULT NULL): the objects a
 *		gs:// URI names (one object, a '*' wildcard, or a prefix ending in
 *		'/'), with size, generation, update time and crc32c, listed with the
 *		server's endpoint and the caller's user mapping.  Without a server
 *		name the database's only GCS server of luxe_fdw is used.
 */
static Oid
only_gcs_server(void)
{
	Oid			fdwid = get_foreign_data_wrapper_oid("luxe_fdw", false);
	Oid			found = InvalidOid;
	int			count = 0;
	Relation	rel = table_open(ForeignServerRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_foreign_server srv = (Form_pg_foreign_server) GETSTRUCT(tup);
		LuxeService service;

		/* servers without a service are not GCS servers (nor an error here) */
		if (srv->srvfdw != fdwid || !luxe_option_find_service(srv->oid, &service) ||
			service != LUXE_SERVICE_GCS)
			continue;
		found = srv->oid;
		count++;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	if (count != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 count == 0 ? errmsg("there is no GCS server of luxe_fdw") :
				 errmsg("there are %d GCS servers of luxe_fdw", count),
				 count == 0 ? errhint("Create one: CREATE SERVER gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs').") :
				 errhint("Name the server: luxe.gcs_objects(uri, 'server_name').")));
	return found;
}

Datum
luxe_gcs_objects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *uri;
	Oid			serverid;
	LuxeServerOptions *server = palloc(sizeof(LuxeServerOptions));
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;
	List	   *objects;
	ListCell   *lc;
	AclResult	aclresult;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the GCS URI must not be null")));
	uri = text_to_cstring(PG_GETARG_TEXT_PP(0));
	serverid = PG_ARGISNULL(1) ? only_gcs_server() :
		get_foreign_server_oid(NameStr(*PG_GETARG_NAME(1)), false);
	if (GetForeignServer(serverid)->fdwid != get_foreign_data_wrapper_oid("luxe_fdw", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a server of luxe_fdw",
						GetForeignServer(serverid)->servername)));
	aclresult = pg_foreign_server_aclcheck(serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, GetForeignServer(serverid)->servername);
	luxe_option_server(serverid, server);
	if (server->service != LUXE_SERVICE_GCS)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a GCS server", server->servername),
				 errdetail("Its service is \"%s\".", luxe_option_service_name(server->service))));
	if (strncmp(uri, "gs://", 5) != 0 || strchr(uri + 5, '/') == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid GCS URI \"%s\"", uri),
				 errhint("Use gs://bucket/object, gs://bucket/prefix/ or a \"*\" wildcard.")));
	if (uri[strlen(uri) - 1] == '/')
		uri = psprintf("%s*", uri);

	InitMaterializedSRF(fcinfo, 0);
	luxe_gcs_client_init(&client, &stats, server, serverid, GetUserId());
	objects = luxe_gcs_list_uri(&client, uri, true);
	foreach(lc, objects)
	{
		LuxeGcsObject *o = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = CStringGetTextDatum(o->name);
		values[5] = CStringGetTextDatum(o->bucket);
		values[1] = Int64GetDatum(o->size);
		values[2] = Int64GetDatum(o->generation);
		if (o->updated)
			values[3] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(o->updated),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		else
			nulls[3] = true;
		if (o->crc32c)
			values[4] = CStringGetTextDatum(o->crc32c);
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * luxe_last_scan_rejects
 *		luxe.last_scan_rejects(): the rows the last scan with a bad-record
 *		budget in this session skipped (up to 10,000).
 */
Datum
luxe_last_scan_rejects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const LuxeGcsReject *rejects;
	int			n = luxe_gcs_scan_rejects(&rejects);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false};

		values[0] = CStringGetTextDatum(rejects[i].table_name);
		values[1] = CStringGetTextDatum(rejects[i].object);
		values[2] = Int64GetDatum(rejects[i].line);
		if (rejects[i].column)
			values[3] = CStringGetTextDatum(rejects[i].column);
		else
			nulls[3] = true;
		values[4] = CStringGetTextDatum(rejects[i].reason);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * luxe_last_scan_timings
 *		luxe.last_scan_timings(): where the last GCS scan this session
 *		finished spent its time (seconds): fetching, parsing, converting;
 *		no row if there was none.
 */
Datum
luxe_last_scan_timings(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false};
	int64		fetch_us,
				parse_us,
				convert_us,
				rows;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!luxe_gcs_last_scan_timings(&fetch_us, &parse_us, &convert_us, &rows))
		PG_RETURN_NULL();
	values[0] = Float8GetDatum(fetch_us / 1e6);
	values[1] = Float8GetDatum(parse_us / 1e6);
	values[2] = Float8GetDatum(convert_us / 1e6);
	values[3] = Int64GetDatum(rows);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * luxe_bigquery_flush
 *		luxe.bigquery_flush(): run the loads and TRUNCATEs this transaction
 *		has pending now, instead of at commit, so that their errors can be
 *		caught; returns the number of tables written.
 */
Datum
luxe_bigquery_flush(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(luxe_bq_modify_flush());
}

/* The jobs luxe.bigquery_job ran, for luxe.bigquery_jobs_take(). */
static StringInfo job_log = NULL;

static void
log_job(const char *step, const char *job_id, const char *job_json)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (job_log == NULL)
		job_log = makeStringInfo();
	if (job_log->len > 0)
		appendStringInfoChar(job_log, ',');
	appendStringInfoString(job_log, "{\"step\":");
	escape_json(job_log, step);
	appendStringInfoString(job_log, ",\"job_id\":");
	escape_json(job_log, job_id);
	if (job_json)
		appendStringInfo(job_log, ",\"state\":\"DONE\",\"job\":%s}", job_json);
	else
		appendStringInfoString(job_log, ",\"state\":\"failed\"}");
	MemoryContextSwitchTo(old);
}

/*
 * luxe_bigquery_job
 *		luxe.bigquery_job(server name, configuration jsonb, step text): run one
 *		BigQuery job (load, query with a destination table, DDL...) through
 *		a luxe_fdw BigQuery server, with the caller's user mapping, and
 *		wait for it; returns the finished job resource (job id, statistics
 *		such as totalBytesProcessed).  A failed job is an error with
 *		BigQuery's reason, location and message; a cancel cancels the job.
 */
Datum
luxe_bigquery_job(PG_FUNCTION_ARGS)
{
	Oid			serverid = get_foreign_server_oid(NameStr(*PG_GETARG_NAME(0)), false);
	char	   *conf = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(1)));
	LuxeServerOptions server;
	LuxeHttpStats stats = {0};
	LuxeBqClient client;
	AclResult	aclresult;
	char	   *volatile job = NULL;
	char	   *volatile job_id = NULL;
	const char *step = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Datum		result;

	if (GetForeignServer(serverid)->fdwid != get_foreign_data_wrapper_oid("luxe_fdw", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a server of luxe_fdw", NameStr(*PG_GETARG_NAME(0)))));
	aclresult = pg_foreign_server_aclcheck(serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, NameStr(*PG_GETARG_NAME(0)));
	luxe_option_server(serverid, &server);
	if (server.service != LUXE_SERVICE_BIGQUERY)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a BigQuery server", server.servername)));
	luxe_bq_client_init(&client, &stats, &server, serverid, GetUserId());
	PG_TRY();
	{
		char	   *id = NULL;

		/* the job id is known before anything is sent; kept for the log */
		PG_TRY();
		{
			job = luxe_bq_run_job_text(&client, conf, "job", &id);
		}
		PG_FINALLY();
		{
			job_id = id;
		}
		PG_END_TRY();
	}
	PG_CATCH();
	{
		/* the log keeps failed jobs too (it outlives the transaction) */
		if (job_id)
			log_job(step, job_id, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(job));
	log_job(step, job_id, job);
	PG_RETURN_DATUM(result);
}

/*
 * luxe.bigquery_jobs_take(): the jobs luxe.bigquery_job ran in this session
 * since the last call, as a JSON array of {step, job_id, state} (state
 * "DONE" or "failed"; the job resource's statistics for done ones), and
 * forget them.  Not transactional: a pipeline run records the jobs of an
 * attempt that failed and rolled back.
 */
Datum
luxe_bigquery_jobs_take(PG_FUNCTION_ARGS)
{
	char	   *text = psprintf("[%s]", job_log ? job_log->data : "");
	Datum		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(text));

	if (job_log)
		resetStringInfo(job_log);
	PG_RETURN_DATUM(result);
}

/*
 * luxe_fdw_options
 *		luxe.fdw_options(): the option table itself -- every option, the
 *		object it is set on, the services it applies to, whether it is
 *		required or a secret, its default and what it does.
 */
Datum
luxe_fdw_options(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LuxeOptionInfo info;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; luxe_option_describe(i, &info); i++)
	{
		Datum		values[8];
		bool		nulls[8] = {false};

		values[0] = CStringGetTextDatum(info.name);
		values[1] = CStringGetTextDatum(info.object);
		values[2] = CStringGetTextDatum(info.services);
		values[3] = BoolGetDatum(info.required);
		values[4] = BoolGetDatum(info.secret);
		values[5] = BoolGetDatum(info.privileged);
		if (info.defval)
			values[6] = CStringGetTextDatum(info.defval);
		else
			nulls[6] = true;
		values[7] = CStringGetTextDatum(info.description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * luxe_check_foreign_table
 *		luxe.check_foreign_table(regclass): raise an error if a luxe_fdw
 *		foreign table's options do not fit its server's service; does
 *		nothing for other relations.  The extension's event trigger calls it
 *		at the end of CREATE/ALTER FOREIGN TABLE and IMPORT FOREIGN SCHEMA,
 *		because the validator cannot see a table's server.
 */
Datum
luxe_check_foreign_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			fdwid = get_foreign_data_wrapper_oid("luxe_fdw", true);
	ForeignTable *table;

	if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE)
		PG_RETURN_VOID();
	table = GetForeignTable(relid);
	if (GetForeignServer(table->serverid)->fdwid != fdwid)
		PG_RETURN_VOID();
	luxe_option_check_table(relid);
	PG_RETURN_VOID();
}

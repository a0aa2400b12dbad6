/*-------------------------------------------------------------------------
 *
 * bq_fdw.c
 *		  Executor side of BigQuery foreign tables: scans of the remote SQL
 *		  the planner built, value conversion both ways, INSERT (insertAll
 *		  batches, or a staged load job committed with the transaction),
 *		  TRUNCATE, ANALYZE and IMPORT FOREIGN SCHEMA.
 *
 * Type mapping (BigQuery -> PostgreSQL), see also IMPORT below:
 *	 INT64 -> bigint, FLOAT64 -> double precision (NaN, Infinity kept),
 *	 NUMERIC/BIGNUMERIC -> numeric, BOOL -> boolean, STRING -> text,
 *	 BYTES -> bytea (base64 on the wire), DATE -> date, DATETIME ->
 *	 timestamp, TIME -> time, TIMESTAMP -> timestamptz (int64 microseconds
 *	 on the wire, converted exactly), JSON -> jsonb, GEOGRAPHY -> text
 *	 (WKT), REPEATED x -> x[], RECORD and REPEATED RECORD -> jsonb.
 *	 A column may be declared with any type whose input function accepts
 *	 the value's text form.
 *
 * Writes are not row-by-row transactional in BigQuery, so INSERT offers
 * two methods: insertAll batches (batch_size rows per request, with
 * insertIds so retries do not duplicate, per-row errors reported), which
 * are visible at once; and load (write_method 'load', or 'auto' for a
 * large INSERT ... SELECT, with a staging_uri), which stages
 * newline-delimited JSON in GCS and runs one load job at commit: all rows
 * or none, visible only if the transaction commits.  TRUNCATE is deferred
 * to commit as well, and TRUNCATE followed by INSERT in one transaction
 * becomes a single WRITE_TRUNCATE load: the contents are replaced
 * atomically, like the original pipeline's bq load --replace.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "common/base64.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"
#include "utils/timestamp.h"

#include "bigquery.h"
#include "bq_fdw.h"
#include "bq_plan.h"
#include "gcs.h"
#include "option.h"
#include "xact.h"

/* GUC luxe_fdw.bigquery_page_size: rows per page of query results */
int			luxe_bq_page_size = 50000;
#define LUXE_BQ_LOAD_THRESHOLD	10000	/* estimated rows for write_method auto */

/* microseconds between the Unix and the PostgreSQL epochs */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

typedef struct BqScanState
{
	LuxeService service;		/* first: LUXE_SERVICE_BIGQUERY */
	MemoryContext cxt;			/* the query lives here; reset cancels a job */
	char	   *sql;
	List	   *retrieved_attrs;
	List	   *param_types;
	List	   *param_exprs;	/* ExprState */
	char	   *relname;
	TupleDesc	tupdesc;
	FmgrInfo   *in_functions;	/* by attribute index */
	Oid		   *typioparams;
	LuxeServerOptions server;
	LuxeHttpStats stats;
	LuxeBqClient client;
	LuxeBqQuery *query;
	const char **values;
	int64		rows;
	char	   *job_id;
	/* error context */
	const char *cur_column;
	const char *cur_value;
} BqScanState;

/* ---------------------------------------------------------------------
 * Values: BigQuery -> PostgreSQL
 * ---------------------------------------------------------------------
 */

static Datum
bq_value_to_datum(const char *value, const LuxeBqField *field, Oid typid,
				  FmgrInfo *in, Oid typioparam, int32 typmod)
{
	if (field && field->type == LUXE_BQ_TIMESTAMP && !field->repeated)
	{
		char	   *end;
		int64		micros;
		TimestampTz ts;

		errno = 0;
		micros = strtoi64(value, &end, 10);
		if (errno != 0 || *end != '\0')
		{
			/* not the int64 form: seconds as a float, or ISO text */
			double		secs = strtod(value, &end);

			if (*end != '\0')
				return InputFunctionCall(in, (char *) value, typioparam, typmod);
			micros = (int64) llround(secs * 1000000.0);
		}
		ts = micros - UNIX_TO_PG_USECS;
		if (typid == TIMESTAMPTZOID)
			return TimestampTzGetDatum(ts);
		if (typid == TIMESTAMPOID)
			return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(ts));
		if (typid == DATEOID)
			return DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(ts));
		return InputFunctionCall(in, DatumGetCString(DirectFunctionCall1(timestamptz_out,
																		 TimestampTzGetDatum(ts))),
								 typioparam, typmod);
	}
	if (field && field->type == LUXE_BQ_BYTES && !field->repeated && typid == BYTEAOID)
	{
		int			len = strlen(value);
		int			maxlen = pg_b64_dec_len(len);
		bytea	   *result = palloc(VARHDRSZ + maxlen);
		int			n = pg_b64_decode(value, len, VARDATA(result), maxlen);

		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid base64 BYTES value from BigQuery")));
		SET_VARSIZE(result, VARHDRSZ + n);
		return PointerGetDatum(result);
	}
	return InputFunctionCall(in, (char *) value, typioparam, typmod);
}

static void
bq_scan_error_callback(void *arg)
{
	BqScanState *st = (BqScanState *) arg;

	if (st->cur_column)
		errcontext("column \"%s\" of BigQuery result of %s, remote value \"%.100s\"",
				   st->cur_column, st->relname, st->cur_value ? st->cur_value : "NULL");
}

/* ---------------------------------------------------------------------
 * Values: PostgreSQL -> BigQuery (parameters and inserted rows)
 * ---------------------------------------------------------------------
 */

static char *
timestamptz_to_bq(TimestampTz ts, bool with_zone)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("BigQuery has no infinite timestamps")));
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return psprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d%s",
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					(int) fsec, with_zone ? "+00:00" : "");
}

/* One scalar in BigQuery's string form, by the PostgreSQL type. */
static char *
datum_to_bq_string(Datum value, Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
			return DatumGetBool(value) ? "true" : "false";
		case TIMESTAMPTZOID:
			return timestamptz_to_bq(DatumGetTimestampTz(value), true);
		case TIMESTAMPOID:
			return timestamptz_to_bq(DatumGetTimestamp(value), false);
		case DATEOID:
			{
				DateADT		d = DatumGetDateADT(value);
				int			y,
							m,
							dd;

				if (DATE_NOT_FINITE(d))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("BigQuery has no infinite dates")));
				j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
				return psprintf("%04d-%02d-%02d", y, m, dd);
			}
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				char	   *out = palloc(pg_b64_enc_len(len) + 1);
				int			n = pg_b64_encode(VARDATA_ANY(b), len, out, pg_b64_enc_len(len));

				out[Max(n, 0)] = '\0';
				return out;
			}
		default:
			{
				Oid			func;
				bool		varlena;
				char	   *s;
				int			nestlevel = NewGUCNestLevel();

				/* output independent of the session's settings */
				(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_SAVE, true, 0, false);
				(void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_SAVE, true, 0, false);
				getTypeOutputInfo(typid, &func, &varlena);
				s = OidOutputFunctionCall(func, value);
				AtEOXact_GUC(true, nestlevel);
				return s;
			}
	}
}

/*
 * Does a numeric literal fit BigQuery's NUMERIC (29 integer and 9
 * fractional digits)?  Those that do not are sent as BIGNUMERIC, which
 * compares with NUMERIC columns exactly.
 */
static bool
numeric_fits_bq(const char *v)
{
	const char *dot = strchr(v, '.');
	const char *c = (*v == '-') ? v + 1 : v;
	int			intdigits = dot ? (int) (dot - c) : (int) strlen(c);
	int			fracdigits = 0;

	if (dot)
	{
		const char *end = dot + strlen(dot) - 1;

		while (end > dot && *end == '0')
			end--;
		fracdigits = (int) (end - dot);
	}
	if (strcmp(c, "NaN") == 0 || strcmp(c, "Infinity") == 0)
		return true;			/* BigQuery rejects these either way */
	return intdigits <= 29 && fracdigits <= 9;
}

static void
evaluate_params(BqScanState *st, ExprContext *econtext, LuxeBqParam **params_out)
{
	int			n = list_length(st->param_exprs);
	LuxeBqParam *params = palloc0(sizeof(LuxeBqParam) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, st->param_exprs)
	{
		ExprState  *es = (ExprState *) lfirst(lc);
		bool		isnull;
		Datum		value = ExecEvalExpr(es, econtext, &isnull);
		Oid			typid = exprType((Node *) es->expr);
		LuxeBqParam *p = &params[i];

		p->type = strVal(list_nth(st->param_types, i));
		p->isnull = isnull;
		if (!isnull && type_is_array(typid))
		{
			ArrayType  *arr = DatumGetArrayTypeP(value);
			Oid			elemtype = ARR_ELEMTYPE(arr);
			int16		typlen;
			bool		typbyval;
			char		typalign;
			Datum	   *elems;
			bool	   *nulls;
			int			k;

			get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
			deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &elems, &nulls, &p->nvalues);
			p->values = palloc(sizeof(char *) * Max(p->nvalues, 1));
			for (k = 0; k < p->nvalues; k++)
			{
				if (nulls[k])
					ereport(ERROR,
							(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							 errmsg("BigQuery array parameters cannot contain NULL")));
				p->values[k] = datum_to_bq_string(elems[k], elemtype);
			}
		}
		else if (!isnull)
		{
			p->nvalues = 1;
			p->values = palloc(sizeof(char *));
			p->values[0] = datum_to_bq_string(value, typid);
			if (strcmp(p->type, "NUMERIC") == 0 && !numeric_fits_bq(p->values[0]))
				p->type = "BIGNUMERIC";
		}
		i++;
	}
	*params_out = params;
}

/* ---------------------------------------------------------------------
 * Scans
 * ---------------------------------------------------------------------
 */

void
luxe_bq_begin_scan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	BqScanState *st = palloc0(sizeof(BqScanState));
	Oid			serverid = fsplan->fs_server;
	Oid			userid;
	int			natts;
	int			i;

	node->fdw_state = st;
	st->service = LUXE_SERVICE_BIGQUERY;
	st->sql = strVal(list_nth(fsplan->fdw_private, BQ_PRIV_SQL));
	st->retrieved_attrs = (List *) list_nth(fsplan->fdw_private, BQ_PRIV_ATTRS);
	st->param_types = (List *) list_nth(fsplan->fdw_private, BQ_PRIV_PARAMTYPES);
	st->relname = strVal(list_nth(fsplan->fdw_private, BQ_PRIV_RELNAME));
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	{
		/* the user whose mapping is used: the relation's checkAsUser */
		int			rtindex = fsplan->scan.scanrelid > 0 ? fsplan->scan.scanrelid :
			bms_next_member(fsplan->fs_relids, -1);
		RangeTblEntry *rte = exec_rt_fetch(rtindex, estate);

		userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
	luxe_option_server(serverid, &st->server);
	luxe_bq_client_init(&st->client, &st->stats, &st->server, serverid, userid);
	st->param_exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);

	if (fsplan->scan.scanrelid > 0)
		st->tupdesc = RelationGetDescr(node->ss.ss_currentRelation);
	else
		st->tupdesc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	natts = st->tupdesc->natts;
	st->in_functions = palloc0(sizeof(FmgrInfo) * natts);
	st->typioparams = palloc0(sizeof(Oid) * natts);
	for (i = 0; i < natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(st->tupdesc, i);
		Oid			func;

		if (attr->attisdropped)
			continue;
		getTypeInputInfo(attr->atttypid, &func, &st->typioparams[i]);
		fmgr_info(func, &st->in_functions[i]);
	}
	st->cxt = AllocSetContextCreate(estate->es_query_cxt, "luxe_fdw BigQuery scan",
									ALLOCSET_DEFAULT_SIZES);
	st->values = palloc0(sizeof(char *) * Max(list_length(st->retrieved_attrs), 1));
}

static void
start_query(ForeignScanState *node, BqScanState *st)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	LuxeBqParam *params;
	MemoryContext old;

	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	evaluate_params(st, econtext, &params);
	MemoryContextSwitchTo(st->cxt);
	st->query = luxe_bq_query_start(&st->client, st->sql, list_length(st->param_exprs),
									params, luxe_bq_page_size);
	if (luxe_bq_query_job_id(st->query))
		st->job_id = MemoryContextStrdup(GetMemoryChunkContext(st), luxe_bq_query_job_id(st->query));
	MemoryContextSwitchTo(old);
	if (luxe_bq_query_ncolumns(st->query) < list_length(st->retrieved_attrs))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_COLUMN_NUMBER),
				 errmsg("BigQuery returned %d columns for %s, expected %d",
						luxe_bq_query_ncolumns(st->query), st->relname,
						list_length(st->retrieved_attrs)),
				 errcontext("remote SQL: %s", st->sql)));
}

TupleTableSlot *
luxe_bq_iterate_scan(ForeignScanState *node)
{
	BqScanState *st = (BqScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ErrorContextCallback errcb;
	const LuxeBqField *fields;
	ListCell   *lc;
	int			i;

	if (st->query == NULL)
		start_query(node, st);

	ExecClearTuple(slot);
	if (!luxe_bq_query_next(st->query, st->values))
		return slot;

	fields = luxe_bq_query_fields(st->query);
	memset(slot->tts_isnull, true, sizeof(bool) * st->tupdesc->natts);
	errcb.callback = bq_scan_error_callback;
	errcb.arg = st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	i = 0;
	foreach(lc, st->retrieved_attrs)
	{
		int			attnum = lfirst_int(lc);
		Form_pg_attribute attr = TupleDescAttr(st->tupdesc, attnum - 1);
		const char *value = st->values[i];

		if (value != NULL)
		{
			st->cur_column = NameStr(attr->attname);
			st->cur_value = value;
			slot->tts_values[attnum - 1] =
				bq_value_to_datum(value, &fields[i], attr->atttypid,
								  &st->in_functions[attnum - 1],
								  st->typioparams[attnum - 1], attr->atttypmod);
			slot->tts_isnull[attnum - 1] = false;
		}
		i++;
	}
	st->cur_column = NULL;
	error_context_stack = errcb.previous;
	st->rows++;
	return ExecStoreVirtualTuple(slot);
}

void
luxe_bq_rescan(ForeignScanState *node)
{
	BqScanState *st = (BqScanState *) node->fdw_state;

	/* parameters may have changed: run the query again */
	if (st->query)
		luxe_bq_query_close(st->query);
	st->query = NULL;
	MemoryContextReset(st->cxt);
}

void
luxe_bq_end_scan(ForeignScanState *node)
{
	BqScanState *st = (BqScanState *) node->fdw_state;

	if (st && st->query)
	{
		luxe_bq_query_close(st->query);
		st->query = NULL;
	}
}

void
luxe_bq_explain_scan(ForeignScanState *node, ExplainState *es)
{
	BqScanState *st = (BqScanState *) node->fdw_state;

	ExplainPropertyText("BigQuery", st->relname, es);
	if (es->verbose)
		ExplainPropertyText("Remote SQL", st->sql, es);
	if (es->analyze && st->cxt)
	{
		ExplainPropertyInteger("Rows Fetched", NULL, st->rows, es);
		ExplainPropertyInteger("Bytes Transferred", NULL, st->stats.bytes, es);
		ExplainPropertyInteger("Requests", NULL, st->stats.requests, es);
		ExplainPropertyInteger("Retries", NULL, st->stats.retries, es);
	}
}

/* ---------------------------------------------------------------------
 * Deferred work of the transaction: staged loads and TRUNCATEs
 * ---------------------------------------------------------------------
 */

typedef struct BqPending
{
	char	   *project;
	char	   *dataset;
	char	   *table;
	bool		truncate;
	LuxeServerOptions server;
	LuxeHttpStats stats;
	LuxeBqClient bq;
	LuxeGcsClient gcs;
	LuxeGcsUpload *upload;		/* staged rows, or NULL */
	char	   *staged_uri;
	int64		staged_rows;
	LuxeDeferred *deferred;		/* its entry in xact.c */
} BqPending;

static uint32 bq_stage_counter = 0;

static void pending_run(void *arg);
static void pending_cancel(void *arg);

/* The pending (not yet run) work of this transaction for a table, or NULL. */
static BqPending *
find_pending(const char *project, const char *dataset, const char *table)
{
	ListCell   *lc;

	foreach(lc, luxe_xact_deferred())
	{
		LuxeDeferred *d = lfirst(lc);
		BqPending  *p = (BqPending *) d->arg;

		if (d->run == pending_run && !d->done && strcmp(p->project, project) == 0 &&
			strcmp(p->dataset, dataset) == 0 && strcmp(p->table, table) == 0)
			return p;
	}
	return NULL;
}

/* The pending work for a table, created on first use. */
static BqPending *
pending_for(Relation rel, const LuxeBqTableOptions *topts)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	BqPending  *p = find_pending(topts->project, topts->dataset, topts->table);
	MemoryContext old;

	if (p)
		return p;
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc0(sizeof(BqPending));
	p->project = pstrdup(topts->project);
	p->dataset = pstrdup(topts->dataset);
	p->table = pstrdup(topts->table);
	luxe_option_server(table->serverid, &p->server);
	luxe_bq_client_init(&p->bq, &p->stats, &p->server, table->serverid, GetUserId());
	p->deferred = luxe_xact_defer(pending_run, pending_cancel, NULL, p,
								  "with a pending BigQuery load or TRUNCATE");
	MemoryContextSwitchTo(old);
	return p;
}

/* Open the staging upload of a pending load. */
static void
pending_stage(BqPending *p, Relation rel)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	char	   *bucket;
	char	   *prefix;
	LuxeServerOptions *gcs_server;
	const char *env = getenv("STORAGE_EMULATOR_HOST");

	if (p->server.staging_uri == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a load into BigQuery table \"%s\" needs a staging area", RelationGetRelationName(rel)),
				 errhint("Set the server option \"%s\" to a gs:// prefix the account may write to, e.g. ALTER SERVER %s OPTIONS (ADD staging_uri 'gs://bucket/luxe-staging/').",
						 OPT_STAGING_URI, p->server.servername)));
	luxe_gcs_parse_uri(p->server.staging_uri, &bucket, &prefix);

	/*
	 * Staging objects go to GCS: STORAGE_EMULATOR_HOST if set, else the
	 * server's endpoint when it is not Google's (one emulator serves both
	 * APIs), else Google's GCS endpoint.
	 */
	gcs_server = palloc(sizeof(LuxeServerOptions));
	*gcs_server = p->server;
	if (env && env[0])
		gcs_server->endpoint = strstr(env, "://") ? pstrdup(env) : psprintf("http://%s", env);
	else if (strcmp(p->server.endpoint, "https://bigquery.googleapis.com") == 0)
		gcs_server->endpoint = "https://storage.googleapis.com";
	luxe_gcs_client_init(&p->gcs, &p->stats, gcs_server, GetForeignTable(RelationGetRelid(rel))->serverid,
						 GetUserId());
	p->staged_uri = psprintf("gs://%s/%s%sluxe-%s-%08x-%u.json", bucket, prefix,
							 prefix[strlen(prefix) - 1] == '/' ? "" : "/",
							 p->table, (unsigned) MyProcPid, ++bq_stage_counter);
	{
		char	   *b;
		char	   *name;

		luxe_gcs_parse_uri(p->staged_uri, &b, &name);
		p->upload = luxe_gcs_upload_begin(&p->gcs, b, name, "application/x-ndjson", true);
	}
	MemoryContextSwitchTo(old);
}

/* At commit (or luxe.bigquery_flush): the load job, or the TRUNCATE. */
static void
pending_run(void *arg)
{
	BqPending  *p = (BqPending *) arg;

	if (p->upload)
	{
		LuxeGcsObject *staged = luxe_gcs_upload_finish(p->upload);

		p->upload = NULL;
		PG_TRY();
		{
			luxe_bq_load(&p->bq, p->project, p->dataset, p->table, p->staged_uri, p->truncate);
		}
		PG_FINALLY();
		{
			luxe_gcs_delete_object(&p->gcs, staged);
		}
		PG_END_TRY();
	}
	else if (p->truncate)
		luxe_bq_run_statement(&p->bq,
							  psprintf("TRUNCATE TABLE %s",
									   luxe_bq_quote_ident(psprintf("%s.%s.%s", p->project,
																	p->dataset, p->table))));
}

/* At abort: nothing is loaded; the staging upload is abandoned. */
static void
pending_cancel(void *arg)
{
	BqPending  *p = (BqPending *) arg;

	if (p->upload)
		luxe_gcs_upload_cancel(p->upload);
	p->upload = NULL;
}

/*
 * luxe_bigquery_flush
 *		SQL function luxe.bigquery_flush(): run the loads and TRUNCATEs this
 *		transaction has pending now, instead of at commit, so that their
 *		errors can be caught (the pipeline's publish step does).  Returns
 *		the number of tables written.
 */
PG_FUNCTION_INFO_V1(luxe_bigquery_flush);

Datum
luxe_bigquery_flush(PG_FUNCTION_ARGS)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, luxe_xact_deferred())
	{
		LuxeDeferred *d = lfirst(lc);

		if (d->run == pending_run && !d->done)
		{
			luxe_xact_run_now(d);
			n++;
		}
	}
	PG_RETURN_INT32(n);
}

/*
 * luxe_bq_truncate
 *		TRUNCATE of BigQuery foreign tables, deferred to commit (see the
 *		file header); rows staged earlier in the transaction are dropped.
 */
void
luxe_bq_truncate(List *rels)
{
	ListCell   *lc;

	foreach(lc, rels)
	{
		Relation	rel = (Relation) lfirst(lc);
		ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
		LuxeServerOptions server;
		LuxeBqTableOptions topts;
		BqPending  *p;

		luxe_option_server(table->serverid, &server);
		luxe_option_bq_table(RelationGetRelid(rel), &server, &topts);
		if (topts.query)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("cannot truncate foreign table \"%s\"", RelationGetRelationName(rel)),
					 errdetail("It reads a BigQuery query, not a table.")));
		p = pending_for(rel, &topts);
		if (p->upload)
			luxe_gcs_upload_cancel(p->upload);
		p->upload = NULL;
		p->truncate = true;
	}
}

/* ---------------------------------------------------------------------
 * INSERT
 * ---------------------------------------------------------------------
 */

typedef struct BqModifyState
{
	Relation	rel;
	LuxeServerOptions server;
	LuxeBqTableOptions topts;
	LuxeHttpStats stats;
	LuxeBqClient client;
	bool		use_load;
	BqPending  *pending;
	int			ncols;
	int		   *attnums;		/* attribute of each remote column */
	const char **names;
	LuxeBqType *types;			/* remote types, by column */
	bool	   *repeated;
	LuxeBqRows *batch;
	int64		rows;
	MemoryContext row_cxt;
} BqModifyState;

void *
luxe_bq_begin_insert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	Relation	rel = rinfo->ri_RelationDesc;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	BqModifyState *st = palloc0(sizeof(BqModifyState));
	LuxeBqTableInfo *info;
	double		estimate = 0;
	int			i;

	st->rel = rel;
	luxe_option_server(table->serverid, &st->server);
	luxe_option_bq_table(RelationGetRelid(rel), &st->server, &st->topts);
	if (st->topts.query)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot insert into foreign table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("It reads a BigQuery query, not a table.")));
	luxe_bq_client_init(&st->client, &st->stats, &st->server, table->serverid, GetUserId());

	/* the remote schema says how each value must be encoded */
	info = luxe_bq_table_get(&st->client, st->topts.project, st->topts.dataset, st->topts.table, false);
	st->attnums = palloc(sizeof(int) * tupdesc->natts);
	st->names = palloc(sizeof(char *) * tupdesc->natts);
	st->types = palloc(sizeof(LuxeBqType) * tupdesc->natts);
	st->repeated = palloc(sizeof(bool) * tupdesc->natts);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		char	   *name;
		int			k;

		if (attr->attisdropped)
			continue;
		name = luxe_option_remote_column(RelationGetRelid(rel), i + 1);
		for (k = 0; k < info->nfields; k++)
			if (strcmp(info->fields[k].name, name) == 0)
				break;
		if (k == info->nfields)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of foreign table \"%s\" does not exist in BigQuery table %s.%s.%s",
							name, RelationGetRelationName(rel), st->topts.project,
							st->topts.dataset, st->topts.table)));
		st->attnums[st->ncols] = i;
		st->names[st->ncols] = name;
		st->types[st->ncols] = info->fields[k].type;
		st->repeated[st->ncols] = info->fields[k].repeated;
		st->ncols++;
	}

	if (mtstate && outerPlanState(mtstate))
		estimate = outerPlanState(mtstate)->plan->plan_rows;
	st->pending = find_pending(st->topts.project, st->topts.dataset, st->topts.table);
	if (st->pending && st->pending->truncate)
		st->use_load = true;	/* replace: must go with the TRUNCATE */
	if (strcmp(st->topts.write_method, "load") == 0 ||
		(strcmp(st->topts.write_method, "auto") == 0 && st->server.staging_uri &&
		 estimate >= LUXE_BQ_LOAD_THRESHOLD))
		st->use_load = true;
	if (st->use_load && strcmp(st->topts.write_method, "insert_all") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot INSERT into \"%s\" with write_method 'insert_all' after TRUNCATE in the same transaction",
						RelationGetRelationName(rel)),
				 errhint("A TRUNCATE followed by INSERT is one WRITE_TRUNCATE load job at commit; use write_method 'auto' or 'load'.")));
	st->batch = luxe_bq_rows_create();
	st->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "luxe_fdw BigQuery insert row",
										ALLOCSET_DEFAULT_SIZES);
	return st;
}

static void
flush_batch(BqModifyState *st)
{
	int			n = luxe_bq_rows_count(st->batch);

	if (n == 0)
		return;
	if (st->use_load)
	{
		size_t		len;
		char	   *data;

		if (st->pending == NULL)
			st->pending = pending_for(st->rel, &st->topts);
		if (st->pending->upload == NULL)
			pending_stage(st->pending, st->rel);
		data = luxe_bq_rows_ndjson(st->batch, &len);
		luxe_gcs_upload_write(st->pending->upload, data, len);
		st->pending->staged_rows += n;
		pfree(data);
	}
	else
		luxe_bq_insert_all(&st->client, st->topts.project, st->topts.dataset, st->topts.table,
						   st->batch, st->rows - n + 1);
	luxe_bq_rows_free(st->batch);
}

TupleTableSlot *
luxe_bq_exec_insert(void *state, TupleTableSlot *slot)
{
	BqModifyState *st = (BqModifyState *) state;
	MemoryContext old;
	LuxeBqValueKind *kinds;
	const char **values;
	int			i;

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(st->row_cxt);
	kinds = palloc(sizeof(LuxeBqValueKind) * Max(st->ncols, 1));
	values = palloc(sizeof(char *) * Max(st->ncols, 1));
	for (i = 0; i < st->ncols; i++)
	{
		int			a = st->attnums[i];
		Oid			typid = TupleDescAttr(slot->tts_tupleDescriptor, a)->atttypid;
		Datum		value = slot->tts_values[a];

		values[i] = NULL;
		if (slot->tts_isnull[a])
		{
			kinds[i] = LUXE_BQV_NULL;
			continue;
		}
		if (st->repeated[i] || st->types[i] == LUXE_BQ_RECORD)
		{
			/* arrays and records travel as JSON */
			kinds[i] = LUXE_BQV_RAW;
			if (type_is_array(typid))
				values[i] = text_to_cstring(DatumGetTextPP(DirectFunctionCall1(array_to_json, value)));
			else
			{
				Oid			func;
				bool		varlena;

				getTypeOutputInfo(typid, &func, &varlena);
				values[i] = OidOutputFunctionCall(func, value);
			}
			continue;
		}
		kinds[i] = LUXE_BQV_STRING;
		if (typid == BOOLOID)
		{
			kinds[i] = LUXE_BQV_RAW;
			values[i] = DatumGetBool(value) ? "true" : "false";
		}
		else
			values[i] = datum_to_bq_string(value, typid);
	}
	st->rows++;
	MemoryContextSwitchTo(old);
	luxe_bq_rows_add(st->batch, st->ncols, st->names, kinds, values);
	MemoryContextReset(st->row_cxt);
	if (luxe_bq_rows_count(st->batch) >= st->topts.batch_size)
		flush_batch(st);
	return slot;
}

void
luxe_bq_end_insert(void *state)
{
	BqModifyState *st = (BqModifyState *) state;

	flush_batch(st);
}

/* ---------------------------------------------------------------------
 * ANALYZE: a random sample drawn remotely
 * ---------------------------------------------------------------------
 */

int
luxe_bq_acquire_sample_rows(Relation rel, int elevel, HeapTuple *rows, int targrows,
							double *totalrows, double *totaldeadrows)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	TupleDesc	tupdesc = RelationGetDescr(rel);
	LuxeServerOptions server;
	LuxeBqTableOptions topts;
	LuxeHttpStats stats = {0};
	LuxeBqClient client;
	LuxeBqTableInfo *info;
	StringInfoData sql;
	LuxeBqParam param;
	const char *fraction_text;
	double		fraction;
	LuxeBqQuery *q;
	const char **values;
	Datum	   *datums;
	bool	   *nulls;
	FmgrInfo   *in;
	Oid		   *ioparams;
	int			ncols = 0;
	int		   *attnums;
	int			numrows = 0;
	double		seen = 0;
	ReservoirStateData rstate;
	double		rowstoskip = -1;
	int			i;

	luxe_option_server(table->serverid, &server);
	luxe_option_bq_table(RelationGetRelid(rel), &server, &topts);
	luxe_bq_client_init(&client, &stats, &server, table->serverid, GetUserId());

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	attnums = palloc(sizeof(int) * tupdesc->natts);
	in = palloc0(sizeof(FmgrInfo) * tupdesc->natts);
	ioparams = palloc0(sizeof(Oid) * tupdesc->natts);
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		char	   *name;
		Oid			func;

		if (attr->attisdropped)
			continue;
		name = luxe_option_remote_column(RelationGetRelid(rel), i + 1);
		appendStringInfo(&sql, "%s%s", ncols ? ", " : "", luxe_bq_quote_ident(name));
		getTypeInputInfo(attr->atttypid, &func, &ioparams[i]);
		fmgr_info(func, &in[i]);
		attnums[ncols++] = i;
	}
	if (ncols == 0)
		appendStringInfoString(&sql, "NULL");
	if (topts.query)
	{
		appendStringInfo(&sql, " FROM (%s)", topts.query);
		*totalrows = 0;
		fraction = 1.0;
	}
	else
	{
		info = luxe_bq_table_get(&client, topts.project, topts.dataset, topts.table, false);
		*totalrows = Max(info->num_rows, 0);
		fraction = *totalrows > 0 ? Min(1.0, 1.2 * targrows / *totalrows) : 1.0;
		appendStringInfo(&sql, " FROM %s",
						 luxe_bq_quote_ident(psprintf("%s.%s.%s", topts.project, topts.dataset, topts.table)));
	}
	fraction_text = psprintf("%.17g", fraction);
	param.type = "FLOAT64";
	param.isnull = false;
	param.nvalues = 1;
	param.values = &fraction_text;
	if (fraction < 1.0)
		appendStringInfoString(&sql, " WHERE RAND() < @p1");

	q = luxe_bq_query_start(&client, sql.data, fraction < 1.0 ? 1 : 0, &param, luxe_bq_page_size);
	values = palloc0(sizeof(char *) * Max(ncols, 1));
	datums = palloc0(sizeof(Datum) * tupdesc->natts);
	nulls = palloc0(sizeof(bool) * tupdesc->natts);
	reservoir_init_selection_state(&rstate, targrows);
	while (luxe_bq_query_next(q, values))
	{
		const LuxeBqField *fields = luxe_bq_query_fields(q);
		int			slotno;

		CHECK_FOR_INTERRUPTS();
		seen++;
		if (numrows < targrows)
			slotno = numrows++;
		else
		{
			if (rowstoskip < 0)
				rowstoskip = reservoir_get_next_S(&rstate, seen, targrows);
			if (rowstoskip > 0)
			{
				rowstoskip--;
				continue;
			}
			slotno = (int) (targrows * sampler_random_fract(&rstate.randstate));
			heap_freetuple(rows[slotno]);
			rowstoskip = -1;
		}
		memset(nulls, true, sizeof(bool) * tupdesc->natts);
		for (i = 0; i < ncols; i++)
		{
			int			a = attnums[i];
			Form_pg_attribute attr = TupleDescAttr(tupdesc, a);

			if (values[i] == NULL)
				continue;
			datums[a] = bq_value_to_datum(values[i], &fields[i], attr->atttypid, &in[a],
										  ioparams[a], attr->atttypmod);
			nulls[a] = false;
		}
		rows[slotno] = heap_form_tuple(tupdesc, datums, nulls);
	}
	luxe_bq_query_close(q);
	if (topts.query)
		*totalrows = seen;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": BigQuery sampled %.0f of %.0f rows, keeping %d",
					RelationGetRelationName(rel), seen, *totalrows, numrows)));
	return numrows;
}

/* ---------------------------------------------------------------------
 * IMPORT FOREIGN SCHEMA from a dataset
 * ---------------------------------------------------------------------
 */

static bool
table_wanted(ImportForeignSchemaStmt *stmt, const char *name)
{
	ListCell   *lc;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);

		if (strcmp(rv->relname, name) == 0)
			return stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO;
	}
	return stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT;
}

List *
luxe_bq_import_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	LuxeServerOptions *server = palloc(sizeof(LuxeServerOptions));
	LuxeHttpStats stats = {0};
	LuxeBqClient client;
	List	   *tables;
	List	   *result = NIL;
	const char *project;
	ListCell   *lc;

	luxe_option_server(serverOid, server);
	luxe_bq_client_init(&client, &stats, server, serverOid, GetUserId());
	project = server->project;
	foreach(lc, stmt->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, OPT_PROJECT) == 0)
			project = defGetString(def);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid IMPORT FOREIGN SCHEMA option \"%s\" for a BigQuery server", def->defname),
					 errhint("The only option is \"project\" (the dataset's project).")));
	}
	tables = luxe_bq_list_tables(&client, project, stmt->remote_schema);
	foreach(lc, tables)
	{
		char	   *name = (char *) lfirst(lc);
		LuxeBqTableInfo *info;
		StringInfoData buf;
		int			i;

		if (!table_wanted(stmt, name))
			continue;
		info = luxe_bq_table_get(&client, project, stmt->remote_schema, name, true);
		if (info == NULL)
			continue;			/* dropped meanwhile */
		initStringInfo(&buf);
		appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (", quote_identifier(name));
		for (i = 0; i < info->nfields; i++)
			appendStringInfo(&buf, "%s%s %s%s", i ? ", " : "", quote_identifier(info->fields[i].name),
							 info->fields[i].pg_type, info->fields[i].required ? " NOT NULL" : "");
		appendStringInfo(&buf, ") SERVER %s OPTIONS (", quote_identifier(server->servername));
		if (strcmp(project, server->project) != 0)
			appendStringInfo(&buf, "project %s, ", quote_literal_cstr(project));
		appendStringInfo(&buf, "dataset %s, table %s)", quote_literal_cstr(stmt->remote_schema),
						 quote_literal_cstr(name));
		result = lappend(result, buf.data);
	}
	return result;
}

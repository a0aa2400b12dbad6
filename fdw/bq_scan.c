/*-------------------------------------------------------------------------
 *
 * bq_scan.c
 *		  Execution of BigQuery foreign scans: the remote SQL the planner
 *		  built runs as a job whose pages become rows; ANALYZE samples
 *		  remotely.
 *
 * Design assumptions and invariants:
 * - The plan carries the remote SQL, the column each result column fills
 *   and the BigQuery types of the parameters (bq_plan.h); parameters are
 *   evaluated at the first row and sent as typed query parameters, never
 *   spliced into the SQL.
 * - The query (and its job) lives in the scan's context: resetting or
 *   deleting it -- a rescan, the end of the scan, an error, a cancel --
 *   cancels a job that is still running (bigquery.c).
 * - Credentials are resolved in BeginForeignScan for the user the scan
 *   checks permissions as (for a join, its first relation's).
 * - ANALYZE draws a random sample in BigQuery (WHERE RAND() < fraction)
 *   and keeps a reservoir of it, so the whole table is never fetched.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"

#include "bigquery.h"
#include "http.h"
#include "bq_fdw.h"
#include "bq_plan.h"
#include "bq_values.h"
#include "luxe_fdw.h"

/* GUC luxe_fdw.bigquery_page_size: rows per page of query results */
int			luxe_bq_page_size = 50000;

static int	acquire_sample_rows(Relation rel, int elevel, HeapTuple *rows,
								int targrows, double *totalrows,
								double *totaldeadrows);

/* Executor state of a BigQuery scan. */
typedef struct BqScanState
{
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

static void
bq_scan_error_callback(void *arg)
{
	BqScanState *st = (BqScanState *) arg;

	if (st->cur_column)
		errcontext("column \"%s\" of BigQuery result of %s, remote value \"%s\"",
				   st->cur_column, st->relname,
				   st->cur_value ? luxe_http_excerpt(st->cur_value, strlen(st->cur_value)) : "NULL");
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
				p->values[k] = luxe_bq_datum_to_string(elems[k], elemtype);
			}
		}
		else if (!isnull)
		{
			p->nvalues = 1;
			p->values = palloc(sizeof(char *));
			p->values[0] = luxe_bq_datum_to_string(value, typid);
			if (strcmp(p->type, "NUMERIC") == 0 && !luxe_bq_numeric_fits(p->values[0]))
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

/*
 * luxe_bq_scan_begin
 *		BeginForeignScan: the client, the parameter expressions and the
 *		input functions; returns the scan state (NULL for EXPLAIN without
 *		ANALYZE).  The query starts with the first row.
 */
void *
luxe_bq_scan_begin(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	List	   *fdw_private = luxe_plan_private(fsplan);
	EState	   *estate = node->ss.ps.state;
	BqScanState *st;
	Oid			serverid = fsplan->fs_server;
	Oid			userid;
	int			natts;
	int			i;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return NULL;
	st = palloc0(sizeof(BqScanState));
	st->sql = strVal(list_nth(fdw_private, BQ_PRIV_SQL));
	st->retrieved_attrs = (List *) list_nth(fdw_private, BQ_PRIV_ATTRS);
	st->param_types = (List *) list_nth(fdw_private, BQ_PRIV_PARAMTYPES);
	st->relname = strVal(list_nth(fdw_private, BQ_PRIV_RELNAME));

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
	return st;
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

/*
 * luxe_bq_scan_iterate
 *		IterateForeignScan: the next row of the job's results, a page at a
 *		time.
 */
TupleTableSlot *
luxe_bq_scan_iterate(ForeignScanState *node, void *state)
{
	BqScanState *st = (BqScanState *) state;
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
				luxe_bq_value_to_datum(value, &fields[i], attr->atttypid,
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

/*
 * luxe_bq_scan_rescan
 *		ReScanForeignScan: the parameters may have changed, so the query
 *		runs again (the running job, if any, is cancelled).
 */
void
luxe_bq_scan_rescan(ForeignScanState *node, void *state)
{
	BqScanState *st = (BqScanState *) state;

	if (st->query)
		luxe_bq_query_close(st->query);
	st->query = NULL;
	MemoryContextReset(st->cxt);
}

/*
 * luxe_bq_scan_end
 *		EndForeignScan: close the query, cancelling a job still running.
 */
void
luxe_bq_scan_end(ForeignScanState *node, void *state)
{
	BqScanState *st = (BqScanState *) state;

	if (st && st->query)
	{
		luxe_bq_query_close(st->query);
		st->query = NULL;
	}
}

/*
 * luxe_bq_scan_explain
 *		ExplainForeignScan: the remote relation and, with VERBOSE, the
 *		remote SQL; with ANALYZE, the transfer counters.
 */
void
luxe_bq_scan_explain(ForeignScanState *node, void *state, ExplainState *es)
{
	BqScanState *st = (BqScanState *) state;
	List	   *fdw_private = luxe_plan_private((ForeignScan *) node->ss.ps.plan);

	ExplainPropertyText("BigQuery", strVal(list_nth(fdw_private, BQ_PRIV_RELNAME)), es);
	if (es->verbose)
		ExplainPropertyText("Remote SQL", strVal(list_nth(fdw_private, BQ_PRIV_SQL)), es);
	if (es->analyze && st)
	{
		ExplainPropertyInteger("Rows Fetched", NULL, st->rows, es);
		ExplainPropertyInteger("Bytes Transferred", NULL, st->stats.bytes, es);
		ExplainPropertyInteger("Requests", NULL, st->stats.requests, es);
		ExplainPropertyInteger("Retries", NULL, st->stats.retries, es);
	}
}

/* ---------------------------------------------------------------------
 * ANALYZE: a random sample drawn remotely
 * ---------------------------------------------------------------------
 */

static int
acquire_sample_rows(Relation rel, int elevel, HeapTuple *rows, int targrows,
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
	/* ANALYZE reads with the table owner's mapping, as postgres_fdw does */
	luxe_bq_client_init(&client, &stats, &server, table->serverid, rel->rd_rel->relowner);

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
			datums[a] = luxe_bq_value_to_datum(values[i], &fields[i], attr->atttypid, &in[a],
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

/*
 * luxe_bq_scan_analyze
 *		AnalyzeForeignTable: sample in BigQuery; the table's size in pages
 *		comes from tables.get (numBytes).
 */
bool
luxe_bq_scan_analyze(Relation relation, AcquireSampleRowsFunc *func,
					 BlockNumber *totalpages)
{
	double		rows;
	double		bytes;

	*func = acquire_sample_rows;
	*totalpages = luxe_bq_table_rows(RelationGetRelid(relation), relation->rd_rel->relowner,
									 &rows, &bytes) && bytes > 0 ?
		(BlockNumber) Min(ceil(bytes / BLCKSZ), (double) MaxBlockNumber) : 1;
	return true;
}

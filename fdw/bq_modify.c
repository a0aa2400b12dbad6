/*-------------------------------------------------------------------------
 *
 * bq_modify.c
 *		  Writes to BigQuery foreign tables: INSERT (insertAll batches, or a
 *		  staged load job committed with the transaction) and TRUNCATE.
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
 * Design assumptions and invariants:
 * - The pending work of a table (a staging upload, a TRUNCATE) is a
 *   BqPending registered with xact.c, in TopTransactionContext.  Writes
 *   join the table's last pending work only if the same subtransaction,
 *   user and server registered it; otherwise they start a new one.  So a
 *   savepoint's rollback cancels exactly the writes made under it, the
 *   pieces run at commit in the order they were asked for (a TRUNCATE in a
 *   savepoint after staged rows runs after their load), and each runs with
 *   the credentials of the user who asked for it.
 * - While a TRUNCATE of a table is pending, INSERTs into it are staged for
 *   a load as well (insertAll rows would be visible at once, then
 *   truncated away at commit).
 * - Values are encoded by the remote column's type (bq_values.c); arrays
 *   and records travel as JSON.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_modify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "bigquery.h"
#include "bq_fdw.h"
#include "bq_values.h"
#include "gcs.h"
#include "luxe_fdw.h"
#include "option.h"
#include "xact.h"

#define LUXE_BQ_LOAD_THRESHOLD	10000	/* estimated rows for write_method auto */

typedef struct BqPending
{
	Oid			serverid;
	Oid			userid;			/* whose user mapping */
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

/* The table's last pending (not yet run) work in this transaction, or NULL. */
static BqPending *
last_pending(const char *project, const char *dataset, const char *table)
{
	ListCell   *lc;
	BqPending  *last = NULL;

	foreach(lc, luxe_xact_deferred())
	{
		LuxeDeferred *d = lfirst(lc);
		BqPending  *p = (BqPending *) d->arg;

		if (d->run == pending_run && !d->done && strcmp(p->project, project) == 0 &&
			strcmp(p->dataset, dataset) == 0 && strcmp(p->table, table) == 0)
			last = p;
	}
	return last;
}

/* Is a TRUNCATE of the table pending in this transaction? */
static bool
truncate_pending(const char *project, const char *dataset, const char *table)
{
	ListCell   *lc;

	foreach(lc, luxe_xact_deferred())
	{
		LuxeDeferred *d = lfirst(lc);
		BqPending  *p = (BqPending *) d->arg;

		if (d->run == pending_run && !d->done && p->truncate &&
			strcmp(p->project, project) == 0 && strcmp(p->dataset, dataset) == 0 &&
			strcmp(p->table, table) == 0)
			return true;
	}
	return false;
}

/*
 * The pending work that a write of userid joins: the table's last, if this
 * subtransaction registered it for the same user and server, else a new
 * one (see the file header).
 */
static BqPending *
pending_for(Relation rel, const LuxeBqTableOptions *topts, Oid userid)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	BqPending  *p = last_pending(topts->project, topts->dataset, topts->table);
	MemoryContext old;

	if (p && p->deferred->subid == GetCurrentSubTransactionId() &&
		p->userid == userid && p->serverid == table->serverid)
		return p;
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc0(sizeof(BqPending));
	p->serverid = table->serverid;
	p->userid = userid;
	p->project = pstrdup(topts->project);
	p->dataset = pstrdup(topts->dataset);
	p->table = pstrdup(topts->table);
	luxe_option_server(table->serverid, &p->server);
	luxe_bq_client_init(&p->bq, &p->stats, &p->server, table->serverid, userid);
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

	if (p->server.staging_uri == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a load into BigQuery table \"%s\" needs a staging area", RelationGetRelationName(rel)),
				 errhint("Set the server option \"%s\" to a gs:// prefix the account may write to, e.g. ALTER SERVER %s OPTIONS (ADD staging_uri 'gs://bucket/luxe-staging/').",
						 OPT_STAGING_URI, p->server.servername)));
	luxe_gcs_parse_uri(p->server.staging_uri, &bucket, &prefix);
	/* staging objects go to the server's GCS endpoint (luxe_option_gcs_endpoint) */
	luxe_gcs_client_init(&p->gcs, &p->stats, &p->server, p->serverid, p->userid);
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
 * luxe_bq_modify_flush
 *		Run the loads and TRUNCATEs this transaction has pending now,
 *		instead of at commit, so that their errors can be caught (for
 *		luxe.bigquery_flush(), which the pipeline's publish step calls).
 *		Returns the number of tables written.  Can throw.
 */
int
luxe_bq_modify_flush(void)
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
	return n;
}

/*
 * luxe_bq_modify_truncate
 *		ExecForeignTruncate: TRUNCATE of BigQuery foreign tables, deferred
 *		to commit (see the file header); rows staged earlier in the
 *		transaction are dropped.
 */
void
luxe_bq_modify_truncate(List *rels)
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
		p = pending_for(rel, &topts, GetUserId());
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
	Oid			userid;			/* whose user mapping */
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

/*
 * luxe_bq_modify_begin
 *		BeginForeignModify / BeginForeignInsert: read the remote schema (it
 *		says how each value is encoded) and choose the write method;
 *		returns the state.
 */
void *
luxe_bq_modify_begin(ModifyTableState *mtstate, ResultRelInfo *rinfo)
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
	st->userid = luxe_modify_user(mtstate, rinfo);
	luxe_bq_client_init(&st->client, &st->stats, &st->server, table->serverid, st->userid);

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
	if (truncate_pending(st->topts.project, st->topts.dataset, st->topts.table))
		st->use_load = true;	/* must follow the TRUNCATE at commit */
	if (st->topts.write_method == LUXE_WRITE_LOAD ||
		(st->topts.write_method == LUXE_WRITE_AUTO && st->server.staging_uri &&
		 estimate >= LUXE_BQ_LOAD_THRESHOLD))
		st->use_load = true;
	if (st->use_load && st->topts.write_method == LUXE_WRITE_INSERT_ALL)
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
			st->pending = pending_for(st->rel, &st->topts, st->userid);
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
	luxe_bq_rows_clear(st->batch);
}

/*
 * luxe_bq_modify_insert
 *		ExecForeignInsert: add the row to the batch; a full batch goes out
 *		(insertAll) or to the staging upload (load).
 */
TupleTableSlot *
luxe_bq_modify_insert(void *state, TupleTableSlot *slot)
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
			values[i] = luxe_bq_datum_to_string(value, typid);
	}
	st->rows++;
	MemoryContextSwitchTo(old);
	luxe_bq_rows_add(st->batch, st->ncols, st->names, kinds, values);
	MemoryContextReset(st->row_cxt);
	if (luxe_bq_rows_count(st->batch) >= st->topts.batch_size)
		flush_batch(st);
	return slot;
}

/*
 * luxe_bq_modify_end
 *		EndForeignModify: send the last batch; a load runs at commit.
 */
void
luxe_bq_modify_end(void *state)
{
	BqModifyState *st = (BqModifyState *) state;

	flush_batch(st);
}

/*
 * luxe_bq_modify_explain
 *		ExplainForeignModify: the BigQuery table and the write method.
 */
void
luxe_bq_modify_explain(Relation rel, ExplainState *es)
{
	Oid			relid = RelationGetRelid(rel);
	LuxeServerOptions server;
	LuxeBqTableOptions topts;

	luxe_option_server(GetForeignServerIdByRelId(relid), &server);
	luxe_option_bq_table(relid, &server, &topts);
	ExplainPropertyText("BigQuery Table",
						psprintf("%s.%s.%s", topts.project, topts.dataset ? topts.dataset : "",
								 topts.table ? topts.table : ""), es);
	ExplainPropertyText("Write Method", luxe_option_write_method_name(topts.write_method), es);
}

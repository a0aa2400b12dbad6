/*-------------------------------------------------------------------------
 *
 * gcs_modify.c
 *		  INSERT into GCS foreign tables: each statement writes one new CSV
 *		  object through a resumable upload that is committed with the
 *		  transaction.
 *
 * Design assumptions and invariants:
 * - Objects are immutable in practice: an INSERT never rewrites an object.
 *   With a wildcard uri ("gs://b/dir/part-*.csv") each statement writes a
 *   new object whose name replaces the '*' with a unique, time-ordered
 *   token; with a single-object uri the object is created only if it does
 *   not exist (ifGenerationMatch=0).
 * - Nothing becomes visible unless the transaction commits: rows stream
 *   into a resumable upload session during the statement, and the last
 *   chunk, which makes the object appear, is sent at pre-commit.  Abort
 *   (of the transaction, or of the subtransaction that wrote) deletes the
 *   session.  If one of several uploads fails at pre-commit, the objects
 *   already committed by this transaction are deleted again.
 * - The object is written in the table's dialect: header rows when
 *   skip_leading_rows > 0 (the column names, repeated on every skipped
 *   row, so the last skipped row is the header bq load expects), the
 *   delimiter and quote of the table, NULL as the null marker (or an
 *   empty unquoted field), booleans as true/false, and other values with
 *   their output functions under DateStyle ISO and extra_float_digits 3,
 *   like postgres_fdw sends them, so they read back identically.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs_modify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "csv.h"
#include "gcs.h"
#include "gcs_fdw.h"
#include "luxe_fdw.h"
#include "option.h"
#include "xact.h"

/* One object being written by this transaction. */
typedef struct PendingUpload
{
	LuxeServerOptions server;
	LuxeHttpStats stats;
	LuxeGcsClient client;
	LuxeGcsUpload *upload;
	LuxeGcsObject *object;		/* once committed */
} PendingUpload;

/* Executor state of one INSERT. */
typedef struct LuxeGcsModifyState
{
	Relation	rel;
	Oid			userid;			/* whose user mapping */
	MemoryContext row_cxt;
	LuxeCsvOptions csv;
	char	   *bucket;
	char	   *object_name;
	bool		if_absent;
	PendingUpload *pending;		/* NULL until the first row */
	int			natts;
	FmgrInfo   *out_functions;
	char	  **colnames;
	StringInfoData line;
	int64		rows;
} LuxeGcsModifyState;

static uint32 object_counter = 0;

static void upload_commit(void *arg);
static void upload_cancel(void *arg);
static void upload_undo(void *arg);

/*
 * The object name an INSERT writes: the uri's object with its '*' replaced
 * by a token that is unique (time, process, counter) and sorts by time.
 */
static char *
new_object_name(const char *pattern, bool *if_absent)
{
	const char *star = strchr(pattern, '*');
	pg_time_t	now = timestamptz_to_time_t(GetCurrentTimestamp());
	struct pg_tm *tm = pg_gmtime(&now);
	char		stamp[32];

	/* either way an existing object is never overwritten */
	*if_absent = true;
	if (star == NULL)
		return pstrdup(pattern);
	pg_strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", tm);
	return psprintf("%.*s%s-%08x-%u%s", (int) (star - pattern), pattern, stamp,
					(unsigned) MyProcPid, ++object_counter, star + 1);
}

/*
 * luxe_gcs_modify_begin
 *		BeginForeignModify / BeginForeignInsert: prepare an INSERT into a
 *		GCS foreign table and return its state.  The upload session is
 *		opened with the first row, so an INSERT of no rows writes nothing.
 */
void *
luxe_gcs_modify_begin(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	Relation	rel = rinfo->ri_RelationDesc;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	LuxeGcsModifyState *st = palloc0(sizeof(LuxeGcsModifyState));
	char	   *pattern;
	int			i;

	st->rel = rel;
	st->userid = luxe_modify_user(mtstate, rinfo);
	luxe_option_csv(RelationGetRelid(rel), tupdesc->natts, &st->csv);
	if (strchr(st->csv.uri, ',') || strchr(st->csv.uri, '#'))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot insert into foreign table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("Its uri names a list of objects or a pinned generation; an INSERT writes one new object.")));
	luxe_gcs_parse_uri(st->csv.uri, &st->bucket, &pattern);
	if (st->csv.encoding != PG_UTF8 && st->csv.encoding != GetDatabaseEncoding() &&
		st->csv.encoding != PG_LATIN1)
		elog(ERROR, "luxe_fdw: unexpected encoding %d", st->csv.encoding);
	{
		size_t		n = strlen(pattern);

		if (n > 3 && strcmp(pattern + n - 3, ".gz") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot insert into foreign table \"%s\"", RelationGetRelationName(rel)),
					 errdetail("Its uri \"%s\" names gzip objects, and writing gzip objects is not supported.",
							   st->csv.uri)));
	}
	st->object_name = new_object_name(pattern, &st->if_absent);

	st->natts = tupdesc->natts;
	st->out_functions = palloc0(sizeof(FmgrInfo) * st->natts);
	st->colnames = palloc0(sizeof(char *) * st->natts);
	for (i = 0; i < st->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		Oid			func;
		bool		varlena;

		/* dropped and metadata columns are not written (colnames NULL) */
		if (attr->attisdropped ||
			luxe_option_column_metadata(RelationGetRelid(rel), i + 1) != LUXE_META_NONE)
			continue;
		getTypeOutputInfo(attr->atttypid, &func, &varlena);
		fmgr_info(func, &st->out_functions[i]);
		st->colnames[i] = luxe_option_remote_column(RelationGetRelid(rel), i + 1);
	}
	st->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "luxe_fdw insert row",
										ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&st->line);
	(void) mtstate;
	return st;
}

/* Convert the line to the object's encoding, then hand it to the upload. */
static void
write_line(LuxeGcsModifyState *st)
{
	char	   *data = st->line.data;
	int			len = st->line.len;

	if (st->csv.encoding != GetDatabaseEncoding())
	{
		data = pg_server_to_any(data, len, st->csv.encoding);
		len = strlen(data);
	}
	luxe_gcs_upload_write(st->pending->upload, data, len);
}

/*
 * Open the upload in a context that lives until the end of the
 * transaction, and write the header rows.
 */
static void
start_upload(LuxeGcsModifyState *st)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	ForeignTable *table = GetForeignTable(RelationGetRelid(st->rel));
	PendingUpload *p = palloc0(sizeof(PendingUpload));
	int			i;

	luxe_option_server(table->serverid, &p->server);
	luxe_gcs_client_init(&p->client, &p->stats, &p->server, table->serverid, st->userid);
	p->upload = luxe_gcs_upload_begin(&p->client, st->bucket, st->object_name,
									  "text/csv", st->if_absent);
	(void) luxe_xact_defer(upload_commit, upload_cancel, upload_undo, p,
						   "that has written to a GCS foreign table");
	MemoryContextSwitchTo(old);
	st->pending = p;

	for (i = 0; i < st->csv.skip_leading_rows; i++)
	{
		int			a;
		bool		first = true;

		resetStringInfo(&st->line);
		for (a = 0; a < st->natts; a++)
		{
			if (st->colnames[a] == NULL)
				continue;
			if (!first)
				appendStringInfoChar(&st->line, st->csv.delimiter);
			first = false;
			luxe_csv_append_field(&st->line, st->colnames[a], &st->csv, st->colnames[a]);
		}
		appendStringInfoChar(&st->line, '\n');
		write_line(st);
	}
}

/*
 * luxe_gcs_modify_insert
 *		ExecForeignInsert: append one row to the object.
 */
TupleTableSlot *
luxe_gcs_modify_insert(void *state, TupleTableSlot *slot)
{
	LuxeGcsModifyState *st = (LuxeGcsModifyState *) state;
	MemoryContext old;
	int			nestlevel;
	int			a;
	bool		first = true;

	if (st->pending == NULL)
		start_upload(st);

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(st->row_cxt);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	resetStringInfo(&st->line);
	for (a = 0; a < st->natts; a++)
	{
		Form_pg_attribute attr = TupleDescAttr(slot->tts_tupleDescriptor, a);
		const char *value = NULL;

		if (attr->attisdropped || st->colnames[a] == NULL)
			continue;
		if (!first)
			appendStringInfoChar(&st->line, st->csv.delimiter);
		first = false;
		if (!slot->tts_isnull[a])
		{
			if (attr->atttypid == BOOLOID)
				value = DatumGetBool(slot->tts_values[a]) ? "true" : "false";
			else
				value = OutputFunctionCall(&st->out_functions[a], slot->tts_values[a]);
		}
		luxe_csv_append_field(&st->line, value, &st->csv, st->colnames[a]);
	}
	/* an empty line is skipped by readers: that row would be lost */
	if (st->line.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("cannot write a row whose only field is NULL to foreign table \"%s\"",
						RelationGetRelationName(st->rel)),
				 errdetail("It would be an empty line, which CSV readers (this one and bq load) skip."),
				 errhint("Set the table's \"%s\" option to a string that marks NULL.", OPT_NULL_MARKER)));
	appendStringInfoChar(&st->line, '\n');
	AtEOXact_GUC(true, nestlevel);
	write_line(st);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->row_cxt);
	st->rows++;
	return slot;
}

/*
 * luxe_gcs_modify_end
 *		EndForeignModify: nothing to send yet, the upload is committed with
 *		the transaction.
 */
void
luxe_gcs_modify_end(void *state)
{
	LuxeGcsModifyState *st = (LuxeGcsModifyState *) state;

	if (st->pending)
		elog(DEBUG1, "luxe_fdw: " INT64_FORMAT " rows staged for \"%s\", committed at transaction end",
			 st->rows, luxe_gcs_upload_uri(st->pending->upload));
}

/*
 * luxe_gcs_modify_explain
 *		ExplainForeignModify: the uri whose pattern an INSERT's object
 *		follows.
 */
void
luxe_gcs_modify_explain(Relation rel, ExplainState *es)
{
	LuxeCsvOptions csv;

	luxe_option_csv(RelationGetRelid(rel), RelationGetDescr(rel)->natts, &csv);
	ExplainPropertyText("GCS Object Pattern", csv.uri, es);
}

/* At commit: send the last chunk, which makes the object visible. */
static void
upload_commit(void *arg)
{
	PendingUpload *p = (PendingUpload *) arg;

	p->object = luxe_gcs_upload_finish(p->upload);
}

/* At abort: delete the upload session, so the object never appears. */
static void
upload_cancel(void *arg)
{
	luxe_gcs_upload_cancel(((PendingUpload *) arg)->upload);
}

/*
 * A later upload of the same commit failed: take this object back.  Best
 * effort and silent, as the commit's own error is the one to report.
 */
static void
delete_object(void *arg)
{
	PendingUpload *p = (PendingUpload *) arg;

	luxe_gcs_delete_object(&p->client, p->object);
}

static void
upload_undo(void *arg)
{
	(void) luxe_http_quietly(delete_object, arg);
}

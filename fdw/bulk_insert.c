/*-------------------------------------------------------------------------
 *
 * bulk_insert.c
 *		  luxe.insert_select(): INSERT INTO a table the rows of a SELECT that
 *		  may run with parallel workers, written in batches.
 *
 * PostgreSQL 15 plans no parallel query for a statement that writes, so
 * INSERT ... SELECT reads, parses and cleans a GCS object in one backend,
 * the pipeline's load.  CREATE TABLE AS may run its SELECT in parallel
 * (its leader alone writes), but a new table swapped in under luxe.listings
 * would take a lock that readers wait on.  This function does what CREATE
 * TABLE AS does, into an existing table: it runs the SELECT through SPI,
 * which lets the planner use parallel workers, with a DestReceiver of its
 * own that writes the rows in the leader, batched through
 * table_multi_insert (as COPY FROM does: one WAL record per page, not per
 * row), maintaining the table's indexes and checking its NOT NULL and
 * CHECK constraints.
 *
 * Design assumptions and invariants:
 * - The leader writes while the query is in parallel mode.  PostgreSQL
 *   allows that to a leader (CREATE TABLE AS relies on it), provided the
 *   transaction has its XID before the workers start (a parallel operation
 *   cannot assign one): it is assigned first.  Workers never write.
 * - The rows are inserted with the current command id, which the query's
 *   snapshot does not see: a SELECT that reads the target never reads its
 *   own new rows.
 * - Only plain tables without triggers, rules for INSERT or row security
 *   are accepted: what the function writes is exactly what an INSERT
 *   without them would write.  The query's columns must have the types of
 *   the table's, in order (no implicit cast happens here).
 * - A row that breaks a constraint raises the error INSERT raises, and the
 *   transaction (or subtransaction) fails with nothing written.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bulk_insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"

/* a batch: as COPY FROM's, at most this many rows or bytes */
#define BATCH_ROWS		1000
#define BATCH_BYTES		65535

PG_FUNCTION_INFO_V1(luxe_insert_select);

typedef struct CountEntry
{
	int64		key;
	int64		rows;
} CountEntry;

typedef struct BulkReceiver
{
	DestReceiver pub;
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate;
	BulkInsertState bistate;
	CommandId	cid;
	int		   *map;			/* target column i <- query column map[i] */
	int			count_att;		/* target column counted by (0-based), or -1 */
	bool		count_is_int4;
	HTAB	   *counts;			/* rows per value of count_att */
	int64		null_rows;		/* rows whose count_att is NULL */
	int64		rows;
	TupleTableSlot *slots[BATCH_ROWS];
	int			nbuffered;
	Size		buffered_bytes;
	MemoryContext batch_cxt;	/* what writing a batch allocates */
} BulkReceiver;

/* Write the buffered rows and their index entries. */
static void
flush_batch(BulkReceiver *r)
{
	MemoryContext old;
	int			i;

	if (r->nbuffered == 0)
		return;
	old = MemoryContextSwitchTo(r->batch_cxt);
	table_multi_insert(r->rel, r->slots, r->nbuffered, r->cid, 0, r->bistate);
	MemoryContextSwitchTo(old);
	if (r->rri->ri_NumIndices > 0)
	{
		for (i = 0; i < r->nbuffered; i++)
		{
			List	   *recheck;

			ResetPerTupleExprContext(r->estate);
			recheck = ExecInsertIndexTuples(r->rri, r->slots[i], r->estate,
											false, false, NULL, NIL);
			list_free(recheck);
		}
	}
	for (i = 0; i < r->nbuffered; i++)
		ExecClearTuple(r->slots[i]);
	r->nbuffered = 0;
	r->buffered_bytes = 0;
	MemoryContextReset(r->batch_cxt);
}

static void
bulk_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	BulkReceiver *r = (BulkReceiver *) self;
	TupleDesc	target = RelationGetDescr(r->rel);
	int			q = 0;
	int			i;

	r->map = palloc(sizeof(int) * target->natts);
	for (i = 0; i < target->natts; i++)
	{
		Form_pg_attribute ta = TupleDescAttr(target, i);

		r->map[i] = -1;
		if (ta->attisdropped)
			continue;
		if (q >= typeinfo->natts)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("query has too few columns for table \"%s\"", RelationGetRelationName(r->rel))));
		if (TupleDescAttr(typeinfo, q)->atttypid != ta->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the query is of type %s, but column \"%s\" of table \"%s\" is of type %s",
							q + 1, format_type_be(TupleDescAttr(typeinfo, q)->atttypid),
							NameStr(ta->attname), RelationGetRelationName(r->rel),
							format_type_be(ta->atttypid))));
		r->map[i] = q++;
	}
	if (q != typeinfo->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("query has more columns than table \"%s\"", RelationGetRelationName(r->rel))));
}

static bool
bulk_receive(TupleTableSlot *src, DestReceiver *self)
{
	BulkReceiver *r = (BulkReceiver *) self;
	TupleDesc	target = RelationGetDescr(r->rel);
	TupleTableSlot *dst = r->slots[r->nbuffered];
	int			i;

	slot_getallattrs(src);
	ExecClearTuple(dst);
	for (i = 0; i < target->natts; i++)
	{
		if (r->map[i] < 0)
		{
			dst->tts_values[i] = (Datum) 0;
			dst->tts_isnull[i] = true;
			continue;
		}
		dst->tts_values[i] = src->tts_values[r->map[i]];
		dst->tts_isnull[i] = src->tts_isnull[r->map[i]];
	}
	ExecStoreVirtualTuple(dst);
	/* a copy of the row in the slot's memory: src's is gone at the next row */
	ExecMaterializeSlot(dst);

	if (r->rel->rd_att->constr)
	{
		ResetPerTupleExprContext(r->estate);
		ExecConstraints(r->rri, dst, r->estate);
	}
	if (r->count_att >= 0)
	{
		if (dst->tts_isnull[r->count_att])
			r->null_rows++;
		else
		{
			int64		key = r->count_is_int4 ? DatumGetInt32(dst->tts_values[r->count_att]) :
				DatumGetInt64(dst->tts_values[r->count_att]);
			bool		found;
			CountEntry *e = hash_search(r->counts, &key, HASH_ENTER, &found);

			if (!found)
				e->rows = 0;
			e->rows++;
		}
	}
	r->rows++;
	r->buffered_bytes += ExecFetchSlotHeapTuple(dst, false, NULL)->t_len;
	if (++r->nbuffered == BATCH_ROWS || r->buffered_bytes >= BATCH_BYTES)
		flush_batch(r);
	return true;
}

static void
bulk_shutdown(DestReceiver *self)
{
	flush_batch((BulkReceiver *) self);
}

static void
bulk_destroy(DestReceiver *self)
{
}

/* The SELECT of query, planned so that it may run with parallel workers. */
static SPIPlanPtr
prepare_select(const char *query)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(query, 0, NULL, CURSOR_OPT_PARALLEL_OK);
	List	   *sources;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1 ||
		((CachedPlanSource *) linitial(sources))->commandTag != CMDTAG_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("luxe.insert_select runs one SELECT statement")));
	return plan;
}

/* Check that rel is a table this function may write as INSERT would. */
static void
check_target(Relation rel)
{
	AclResult	aclresult;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("luxe.insert_select writes only into plain tables.")));
	aclresult = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, RelationGetRelationName(rel));
	if (rel->trigdesc != NULL || rel->rd_rules != NULL || rel->rd_rel->relrowsecurity)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" has triggers, rules or row security", RelationGetRelationName(rel)),
				 errdetail("luxe.insert_select writes rows directly, as an INSERT without them would.")));
}

/*
 * luxe_insert_select
 *		luxe.insert_select(target regclass, query text, count_by name):
 *		insert the rows of query into target; return the rows inserted per
 *		value of target's bigint or integer column count_by (one row with a
 *		NULL key for those whose value is NULL), or, without count_by, one
 *		row: NULL and every row inserted.
 */
Datum
luxe_insert_select(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BulkReceiver *r;
	SPIPlanPtr	plan;
	SPIExecuteOptions opts;
	HASHCTL		ctl;
	HASH_SEQ_STATUS seq;
	CountEntry *e;
	RangeTblEntry *rte;
	int			ret;
	int			i;

	InitMaterializedSRF(fcinfo, 0);

	r = palloc0(sizeof(BulkReceiver));
	r->pub.receiveSlot = bulk_receive;
	r->pub.rStartup = bulk_startup;
	r->pub.rShutdown = bulk_shutdown;
	r->pub.rDestroy = bulk_destroy;
	r->pub.mydest = DestNone;
	r->rel = table_open(relid, RowExclusiveLock);
	check_target(r->rel);

	r->count_att = -1;
	if (!PG_ARGISNULL(2))
	{
		char	   *name = NameStr(*PG_GETARG_NAME(2));
		AttrNumber	att = get_attnum(relid, name);
		Oid			typid = att > 0 ? get_atttype(relid, att) : InvalidOid;

		if (att <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							name, RelationGetRelationName(r->rel))));
		if (typid != INT8OID && typid != INT4OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" is of type %s, not bigint or integer",
							name, format_type_be(typid))));
		r->count_att = att - 1;
		r->count_is_int4 = (typid == INT4OID);
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(CountEntry);
	ctl.hcxt = CurrentMemoryContext;
	r->counts = hash_create("luxe.insert_select counts", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/*
	 * The executor state index maintenance and constraint checks need; the
	 * table is the range table's only entry, as in an INSERT.
	 */
	r->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = r->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	ExecInitRangeTable(r->estate, list_make1(rte));
	r->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(r->rri, r->rel, 1, NULL, 0);
	ExecOpenIndices(r->rri, false);
	r->bistate = GetBulkInsertState();
	r->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "luxe.insert_select batch",
										 ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < BATCH_ROWS; i++)
		r->slots[i] = table_slot_create(r->rel, NULL);

	/* a parallel query cannot assign the XID: take it now */
	(void) GetCurrentTransactionId();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = prepare_select(query);
	/* the command id the rows get, after SPI's own increment for the query */
	CommandCounterIncrement();
	r->cid = GetCurrentCommandId(true);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;		/* no further increment: the snapshot's command id is r->cid */
	opts.dest = (DestReceiver *) r;
	ret = SPI_execute_plan_extended(plan, &opts);
	/* (a SELECT whose rows go elsewhere than to SPI reports "utility") */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute_plan_extended returned %s", SPI_result_code_string(ret));
	SPI_finish();

	for (i = 0; i < BATCH_ROWS; i++)
		ExecDropSingleTupleTableSlot(r->slots[i]);
	FreeBulkInsertState(r->bistate);
	ExecCloseIndices(r->rri);
	ExecCloseRangeTableRelations(r->estate);
	FreeExecutorState(r->estate);
	table_close(r->rel, NoLock);

	if (r->count_att < 0)
	{
		Datum		values[2] = {(Datum) 0, Int64GetDatum(r->rows)};
		bool		nulls[2] = {true, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		PG_RETURN_NULL();
	}
	hash_seq_init(&seq, r->counts);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[2] = {Int64GetDatum(e->key), Int64GetDatum(e->rows)};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (r->null_rows > 0)
	{
		Datum		values[2] = {(Datum) 0, Int64GetDatum(r->null_rows)};
		bool		nulls[2] = {true, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

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
 * CHECK constraints.  As it writes, it can also count the rows per group of
 * some columns into a counts table (the rows loaded per object and per
 * brand x product type, which a RETURNING clause gave before), and write
 * some columns of every row into a projection table (the narrow rows the
 * insights scan).
 *
 * Design assumptions and invariants:
 * - The leader writes while the query is in parallel mode.  PostgreSQL
 *   allows that to a leader (CREATE TABLE AS relies on it), provided the
 *   transaction has its XID before the workers start (a parallel operation
 *   cannot assign one): it is assigned first.  Workers never write.
 * - The rows are inserted with a command id of their own, later than the
 *   query's snapshot: a SELECT that reads the target never reads its own
 *   new rows.
 * - Only plain tables without triggers, rules for INSERT or row security
 *   are accepted: what the function writes is exactly what an INSERT
 *   without them would write.  The query's columns must have the types of
 *   the table's, in order (no implicit cast happens here).
 * - A row that breaks a constraint raises the error INSERT raises, and the
 *   transaction (or subtransaction) fails with nothing written.
 * - A table whose file is new in this transaction, empty, without index
 *   and not WAL-logged is written in pages built here and handed to
 *   smgrextend (see PageWriter); its tuples are exactly heap_insert's.
 *   Every other table goes through table_multi_insert.
 * - The counts and projection tables are written directly too, so they
 *   must have no index or constraint (temporary or internal tables).
 *   Groups are told apart by the binary images of their values, which is
 *   equality only for the types the counts accept (integers, booleans,
 *   text of a deterministic collation).
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
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"

#include "pipeline.h"
#include "recycle.h"

/* a batch: as COPY FROM's, at most this many rows or bytes */
#define BATCH_ROWS		1000
#define BATCH_BYTES		65535

PG_FUNCTION_INFO_V1(luxe_insert_select);

/*
 * A group of the counts: the values of the grouping columns (copies, in
 * the hash table's memory) and its rows.  The hash table's key is the
 * pointer to the values; hashing and matching look through it.
 */
typedef struct GroupKey
{
	Datum	   *values;
	bool	   *nulls;
	uint32		hash;
	const struct GroupSpec *spec;
} GroupKey;

/* the grouping columns' types */
typedef struct GroupSpec
{
	int			ncols;
	int16	   *typlen;
	bool	   *typbyval;
} GroupSpec;

typedef struct GroupEntry
{
	GroupKey   *key;
	int64		rows;
} GroupEntry;

typedef struct BulkReceiver
{
	DestReceiver pub;
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate;
	BulkInsertState bistate;
	CommandId	cid;
	int		   *map;			/* target column i <- query column map[i] */
	Relation	counts_rel;		/* where the rows per group go, or NULL */
	int			ngroup;			/* its columns but the last: the grouping */
	int		   *group_att;		/* target column (0-based) of each */
	GroupSpec	spec;
	HTAB	   *groups;			/* rows per group */
	struct GroupEntry *last;	/* the last row's group (entries never move) */
	MemoryContext groups_cxt;	/* the groups' keys */
	Relation	proj_rel;		/* where each row's projection goes, or NULL */
	int		   *proj_att;		/* target column (0-based) of each of its columns */
	BulkInsertState proj_bistate;
	struct PageWriter *pages;	/* target written in pages of its own, or NULL */
	struct PageWriter *proj_pages;	/* the same for the projection */
	bool		same_layout;	/* query rows have the target's layout */
	int64		rows;
	TupleTableSlot *slots[BATCH_ROWS];
	TupleTableSlot *proj_slots[BATCH_ROWS];
	int			nbuffered;
	Size		buffered_bytes;
	MemoryContext batch_cxt;	/* what writing a batch allocates */
} BulkReceiver;

/*
 * Pages of its own: a table whose file is new in this transaction (created
 * or truncated in it, so no other session can read or extend it), is
 * still empty, has no index and is not WAL-logged (unlogged, as the
 * pipeline's cleaned rows are by default) is written a page at a time with
 * smgrextend, as a heap rewrite (CLUSTER) or a btree build writes theirs,
 * instead of through shared buffers: each page is written once, not
 * extended with zeros first and written again when the buffer is evicted,
 * and without the buffer mapping and locking per page -- a quarter of the
 * writing process's time in a parallel load.  The tuples are what
 * heap_insert would store (xmin this (sub)transaction, the function's
 * command id, TOASTed the same way), so visibility, rollback and later
 * inserts into the table work as usual.  The file is fsynced by the next
 * checkpoint, as the pages evicted from shared buffers would have been.
 */
typedef struct PageWriter
{
	Relation	rel;
	PGAlignedBlock page;		/* the page being filled */
	BlockNumber blkno;			/* its block number */
	bool		started;		/* it has been initialized */
	Size		save_free;		/* room fillfactor keeps free */
	int64		tuples;
	BlockNumber recycled;		/* blocks of a recycled file, written over */
} PageWriter;

/* A page writer for rel if it qualifies (see above), else NULL. */
static PageWriter *
page_writer_for(Relation rel)
{
	PageWriter *pw;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_tableam != GetHeapamTableAmRoutine() ||
		RelationNeedsWAL(rel) || RelationUsesLocalBuffers(rel) ||
		(rel->rd_createSubid == InvalidSubTransactionId &&
		 rel->rd_firstRelfilenodeSubid == InvalidSubTransactionId) ||
		RelationGetIndexList(rel) != NIL ||
		RelationGetNumberOfBlocks(rel) != 0)
		return NULL;
	pw = palloc0(sizeof(PageWriter));
	pw->rel = rel;
	pw->blkno = 0;
	pw->save_free = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);
	/* the file of its previous storage, if kept (fdw/recycle.c) */
	pw->recycled = luxe_recycle_adopt(rel);
	return pw;
}

static void
page_writer_flush(PageWriter *pw)
{
	if (!pw->started)
		return;
	PageSetChecksumInplace(pw->page.data, pw->blkno);
	if (pw->blkno < pw->recycled)
		smgrwrite(RelationGetSmgr(pw->rel), MAIN_FORKNUM, pw->blkno, pw->page.data, false);
	else
		smgrextend(RelationGetSmgr(pw->rel), MAIN_FORKNUM, pw->blkno, pw->page.data, false);
	pw->blkno++;
	pw->started = false;
}

/* Add the tuple of each slot, as heap_multi_insert would store it. */
static void
page_writer_add(PageWriter *pw, TupleTableSlot **slots, int n, CommandId cid)
{
	TransactionId xid = GetCurrentTransactionId();
	int			i;

	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = ExecFetchSlotHeapTuple(slots[i], true, NULL);
		Page		page = pw->page.data;
		OffsetNumber off;
		HeapTupleHeader item;

		tup->t_data->t_infomask &= ~HEAP_XACT_MASK;
		tup->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
		tup->t_data->t_infomask |= HEAP_XMAX_INVALID;
		HeapTupleHeaderSetXmin(tup->t_data, xid);
		HeapTupleHeaderSetCmin(tup->t_data, cid);
		HeapTupleHeaderSetXmax(tup->t_data, 0);
		tup->t_tableOid = RelationGetRelid(pw->rel);
		if (HeapTupleHasExternal(tup) || tup->t_len > TOAST_TUPLE_THRESHOLD)
			tup = heap_toast_insert_or_update(pw->rel, tup, NULL, 0);
		if (tup->t_len > MaxHeapTupleSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("row is too big: size %zu, maximum size %zu",
							(size_t) tup->t_len, (size_t) MaxHeapTupleSize)));

		/* a new page when this one is full (an empty one takes any row) */
		if (pw->started && PageGetMaxOffsetNumber(page) > 0 &&
			PageGetHeapFreeSpace(page) < MAXALIGN(tup->t_len) + pw->save_free)
			page_writer_flush(pw);
		if (!pw->started)
		{
			PageInit(page, BLCKSZ, 0);
			pw->started = true;
		}
		off = PageAddItem(page, (Item) tup->t_data, tup->t_len, InvalidOffsetNumber, false, true);
		if (off == InvalidOffsetNumber)
			elog(ERROR, "failed to add tuple to page of relation \"%s\"", RelationGetRelationName(pw->rel));
		ItemPointerSet(&tup->t_self, pw->blkno, off);
		item = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
		item->t_ctid = tup->t_self;
		slots[i]->tts_tid = tup->t_self;
	}
	pw->tuples += n;
}

/*
 * Write the last page and cut off the recycled blocks not written over;
 * count the inserts as heap_insert does.
 */
static void
page_writer_finish(PageWriter *pw)
{
	page_writer_flush(pw);
	if (pw->blkno < pw->recycled)
	{
		ForkNumber	fork = MAIN_FORKNUM;
		BlockNumber nblocks = pw->blkno;

		smgrtruncate(RelationGetSmgr(pw->rel), &fork, 1, &nblocks);
	}
	pgstat_count_heap_insert(pw->rel, pw->tuples);
}

/* Write the buffered rows and their index entries. */
static void
flush_batch(BulkReceiver *r)
{
	MemoryContext old;
	int			i;

	if (r->nbuffered == 0)
		return;
	old = MemoryContextSwitchTo(r->batch_cxt);
	if (r->pages)
		page_writer_add(r->pages, r->slots, r->nbuffered, r->cid);
	else
		table_multi_insert(r->rel, r->slots, r->nbuffered, r->cid, 0, r->bistate);
	if (r->proj_pages)
		page_writer_add(r->proj_pages, r->proj_slots, r->nbuffered, r->cid);
	else if (r->proj_rel)
		table_multi_insert(r->proj_rel, r->proj_slots, r->nbuffered, r->cid, 0, r->proj_bistate);
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
	{
		ExecClearTuple(r->slots[i]);
		if (r->proj_rel)
			ExecClearTuple(r->proj_slots[i]);
	}
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
	/* column i from column i, of the same type: the same tuple layout */
	r->same_layout = q == target->natts;
}

static uint32
group_hash(const void *key, Size keysize)
{
	return (*(GroupKey *const *) key)->hash;
}

/* Whether two groups' values are the same (their hashes aside). */
static bool
group_values_equal(const GroupKey *a, const GroupKey *b)
{
	int			i;

	for (i = 0; i < a->spec->ncols; i++)
	{
		if (a->nulls[i] != b->nulls[i])
			return false;
		if (!a->nulls[i] &&
			!datum_image_eq(a->values[i], b->values[i], a->spec->typbyval[i], a->spec->typlen[i]))
			return false;
	}
	return true;
}

static int
group_match(const void *key1, const void *key2, Size keysize)
{
	const GroupKey *a = *(GroupKey *const *) key1;
	const GroupKey *b = *(GroupKey *const *) key2;

	return (a->hash == b->hash && group_values_equal(a, b)) ? 0 : 1;
}

/* Add the row in src (the query's, deformed) to its group. */
static void
count_row(BulkReceiver *r, TupleTableSlot *src)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];
	GroupKey	probe = {values, nulls, 0, &r->spec};
	GroupKey   *probe_ptr = &probe;
	GroupEntry *e;
	bool		found;
	int			i;

	for (i = 0; i < r->ngroup; i++)
	{
		values[i] = src->tts_values[r->map[r->group_att[i]]];
		nulls[i] = src->tts_isnull[r->map[r->group_att[i]]];
	}
	/* rows come object by object: most are in the last row's group */
	if (r->last && group_values_equal(&probe, r->last->key))
	{
		r->last->rows++;
		return;
	}
	for (i = 0; i < r->ngroup; i++)
	{
		uint32		h = 0x9e3779b9;

		if (!nulls[i])
			h = datum_image_hash(values[i], r->spec.typbyval[i], r->spec.typlen[i]);
		probe.hash = hash_combine(probe.hash, h);
	}
	e = hash_search(r->groups, &probe_ptr, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(r->groups_cxt);
		GroupKey   *k = palloc(sizeof(GroupKey));

		k->values = palloc(sizeof(Datum) * r->ngroup);
		k->nulls = palloc(sizeof(bool) * r->ngroup);
		k->hash = probe.hash;
		k->spec = &r->spec;
		for (i = 0; i < r->ngroup; i++)
		{
			k->nulls[i] = nulls[i];
			k->values[i] = nulls[i] ? (Datum) 0 :
				datumCopy(values[i], r->spec.typbyval[i], r->spec.typlen[i]);
		}
		MemoryContextSwitchTo(old);
		e->key = k;
		e->rows = 0;
	}
	e->rows++;
	r->last = e;
}

static bool
bulk_receive(TupleTableSlot *src, DestReceiver *self)
{
	BulkReceiver *r = (BulkReceiver *) self;
	TupleDesc	target = RelationGetDescr(r->rel);
	TupleTableSlot *dst = r->slots[r->nbuffered];
	int			i;

	ExecClearTuple(dst);
	if (r->same_layout && TTS_IS_MINIMALTUPLE(src))
	{
		/*
		 * A row from a parallel worker, laid out as the table's: the heap
		 * tuple is the minimal tuple with a header, no need to take the
		 * values apart and put them together again.
		 */
		bool		should_free;
		MinimalTuple mt = ExecFetchSlotMinimalTuple(src, &should_free);

		ExecStoreHeapTuple(heap_tuple_from_minimal_tuple(mt), dst, true);
		if (should_free)
			pfree(mt);
	}
	else
	{
		slot_getallattrs(src);
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
	}
	if (r->counts_rel || r->proj_rel)
		slot_getallattrs(src);

	if (r->rel->rd_att->constr)
	{
		ResetPerTupleExprContext(r->estate);
		ExecConstraints(r->rri, dst, r->estate);
	}
	/* (dst's values are to be read again from its tuple: src's are at hand) */
	if (r->counts_rel)
		count_row(r, src);
	if (r->proj_rel)
	{
		TupleTableSlot *p = r->proj_slots[r->nbuffered];
		int			n = RelationGetDescr(r->proj_rel)->natts;

		ExecClearTuple(p);
		for (i = 0; i < n; i++)
		{
			p->tts_values[i] = src->tts_values[r->map[r->proj_att[i]]];
			p->tts_isnull[i] = src->tts_isnull[r->map[r->proj_att[i]]];
		}
		ExecStoreVirtualTuple(p);
		ExecMaterializeSlot(p);
	}
	r->rows++;
	luxe_progress_tick();
	r->buffered_bytes += ExecFetchSlotHeapTuple(dst, false, NULL)->t_len;
	if (++r->nbuffered == BATCH_ROWS || r->buffered_bytes >= BATCH_BYTES)
		flush_batch(r);
	return true;
}

static void
bulk_shutdown(DestReceiver *self)
{
	BulkReceiver *r = (BulkReceiver *) self;

	flush_batch(r);
	if (r->pages)
		page_writer_finish(r->pages);
	if (r->proj_pages)
		page_writer_finish(r->proj_pages);
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
 * Open a table that gets what the rows written into target give (counts,
 * projections): written directly, it must have no index or constraint.
 */
static Relation
open_side_table(BulkReceiver *r, Oid relid, const char *what)
{
	Relation	rel;

	/* (each table is written by one writer: pages built here are not shared) */
	if (relid == RelationGetRelid(r->rel) ||
		(r->counts_rel && relid == RelationGetRelid(r->counts_rel)) ||
		(r->proj_rel && relid == RelationGetRelid(r->proj_rel)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" for the %s is written already by this call", get_rel_name(relid), what)));
	rel = table_open(relid, RowExclusiveLock);
	check_target(rel);
	if (RelationGetIndexList(rel) != NIL || rel->rd_att->constr != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" for the %s has indexes or constraints",
						RelationGetRelationName(rel), what)));
	return rel;
}

/*
 * The target column (0-based) that side table column ca names, of the
 * same type.
 */
static int
side_column(BulkReceiver *r, Relation side, Form_pg_attribute ca)
{
	AttrNumber	att;
	Form_pg_attribute ta;

	if (ca->attisdropped)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" has dropped columns", RelationGetRelationName(side))));
	att = get_attnum(RelationGetRelid(r->rel), NameStr(ca->attname));
	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						NameStr(ca->attname), RelationGetRelationName(r->rel))));
	ta = TupleDescAttr(RelationGetDescr(r->rel), att - 1);
	if (ta->atttypid != ca->atttypid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is of type %s in table \"%s\" but of type %s in table \"%s\"",
						NameStr(ca->attname), format_type_be(ca->atttypid),
						RelationGetRelationName(side), format_type_be(ta->atttypid),
						RelationGetRelationName(r->rel))));
	return att - 1;
}

/* Set up the writing of each row's projection into projection. */
static void
setup_projection(BulkReceiver *r, Oid relid)
{
	TupleDesc	pdesc;
	int			i;

	r->proj_rel = open_side_table(r, relid, "projection");
	pdesc = RelationGetDescr(r->proj_rel);
	r->proj_att = palloc(sizeof(int) * Max(pdesc->natts, 1));
	for (i = 0; i < pdesc->natts; i++)
		r->proj_att[i] = side_column(r, r->proj_rel, TupleDescAttr(pdesc, i));
	r->proj_bistate = GetBulkInsertState();
	for (i = 0; i < BATCH_ROWS; i++)
		r->proj_slots[i] = table_slot_create(r->proj_rel, NULL);
}

/*
 * Set up the counting of the inserted rows into counts: its columns but
 * the last name columns of the target, of types whose equality is that of
 * their binary images (integers, booleans, text of a deterministic
 * collation), and its last is the bigint count.
 */
static void
setup_counts(BulkReceiver *r, Oid counts_relid)
{
	TupleDesc	cdesc;
	HASHCTL		ctl;
	int			ncols = 0;
	int			i;

	r->counts_rel = open_side_table(r, counts_relid, "counts");
	cdesc = RelationGetDescr(r->counts_rel);
	r->group_att = palloc(sizeof(int) * cdesc->natts);
	r->spec.typlen = palloc(sizeof(int16) * cdesc->natts);
	r->spec.typbyval = palloc(sizeof(bool) * cdesc->natts);
	for (i = 0; i < cdesc->natts; i++)
	{
		Form_pg_attribute ca = TupleDescAttr(cdesc, i);
		Form_pg_attribute ta;
		int			att;

		if (i == cdesc->natts - 1 && !ca->attisdropped)
		{
			if (ca->atttypid != INT8OID)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("the last column of table \"%s\" for the counts must be bigint",
								RelationGetRelationName(r->counts_rel))));
			break;
		}
		if (ncols >= INDEX_MAX_KEYS)
			ereport(ERROR,
					(errcode(ERRCODE_TOO_MANY_COLUMNS),
					 errmsg("cannot count by more than %d columns", INDEX_MAX_KEYS)));
		att = side_column(r, r->counts_rel, ca);
		ta = TupleDescAttr(RelationGetDescr(r->rel), att);
		if (!(ta->atttypid == INT2OID || ta->atttypid == INT4OID || ta->atttypid == INT8OID ||
			  ta->atttypid == BOOLOID ||
			  ((ta->atttypid == TEXTOID || ta->atttypid == VARCHAROID) &&
			   get_collation_isdeterministic(ta->attcollation))))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("cannot count by column \"%s\" of type %s",
							NameStr(ca->attname), format_type_be(ta->atttypid)),
					 errhint("Count by integer, boolean or text columns (of a deterministic collation).")));
		r->group_att[ncols] = att;
		r->spec.typlen[ncols] = ta->attlen;
		r->spec.typbyval[ncols] = ta->attbyval;
		ncols++;
	}
	if (ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("table \"%s\" for the counts needs the columns to count by, then a bigint",
						RelationGetRelationName(r->counts_rel))));
	r->ngroup = r->spec.ncols = ncols;
	r->groups_cxt = AllocSetContextCreate(CurrentMemoryContext, "luxe.insert_select groups",
										  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(GroupKey *);
	ctl.entrysize = sizeof(GroupEntry);
	ctl.hash = group_hash;
	ctl.match = group_match;
	ctl.hcxt = r->groups_cxt;
	r->groups = hash_create("luxe.insert_select groups", 1024, &ctl,
							HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/* Write the groups and their rows into the counts table. */
static void
write_counts(BulkReceiver *r)
{
	TupleTableSlot *slot = table_slot_create(r->counts_rel, NULL);
	HASH_SEQ_STATUS seq;
	GroupEntry *e;
	int			i;

	hash_seq_init(&seq, r->groups);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		ExecClearTuple(slot);
		for (i = 0; i < r->ngroup; i++)
		{
			slot->tts_values[i] = e->key->values[i];
			slot->tts_isnull[i] = e->key->nulls[i];
		}
		slot->tts_values[r->ngroup] = Int64GetDatum(e->rows);
		slot->tts_isnull[r->ngroup] = false;
		ExecStoreVirtualTuple(slot);
		table_tuple_insert(r->counts_rel, slot, r->cid, 0, NULL);
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * luxe_insert_select
 *		luxe.insert_select(target regclass, query text, counts regclass,
 *		projection regclass): insert the rows of query into target and
 *		return how many.  With counts, also add to that table the rows
 *		inserted per group of the target columns its columns name (but the
 *		last, the count); with projection, also write into that table every
 *		row's values of the target columns its columns name.
 */
Datum
luxe_insert_select(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	BulkReceiver *r;
	SPIPlanPtr	plan;
	SPIExecuteOptions opts;
	RangeTblEntry *rte;
	int			ret;
	int			i;

	r = palloc0(sizeof(BulkReceiver));
	r->pub.receiveSlot = bulk_receive;
	r->pub.rStartup = bulk_startup;
	r->pub.rShutdown = bulk_shutdown;
	r->pub.rDestroy = bulk_destroy;
	r->pub.mydest = DestNone;
	r->rel = table_open(relid, RowExclusiveLock);
	check_target(r->rel);
	if (!PG_ARGISNULL(2))
		setup_counts(r, PG_GETARG_OID(2));
	if (!PG_ARGISNULL(3))
		setup_projection(r, PG_GETARG_OID(3));
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
		r->slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(r->rel), &TTSOpsHeapTuple);
	r->pages = page_writer_for(r->rel);
	if (r->proj_rel)
		r->proj_pages = page_writer_for(r->proj_rel);

	/* a parallel query cannot assign the XID: take it now */
	(void) GetCurrentTransactionId();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = prepare_select(query);

	/*
	 * The rows get a command id of their own, later than that of the
	 * caller's snapshot, which the query runs with (read_only: SPI takes no
	 * new snapshot): the query never sees them.
	 */
	CommandCounterIncrement();
	r->cid = GetCurrentCommandId(true);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
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

	if (r->proj_rel)
	{
		for (i = 0; i < BATCH_ROWS; i++)
			ExecDropSingleTupleTableSlot(r->proj_slots[i]);
		FreeBulkInsertState(r->proj_bistate);
		table_close(r->proj_rel, NoLock);
	}
	if (r->counts_rel)
	{
		write_counts(r);
		table_close(r->counts_rel, NoLock);
	}
	PG_RETURN_INT64(r->rows);
}

/*-------------------------------------------------------------------------
 *
 * luxe_fdw.c
 *		  Foreign-data wrapper for CSV objects in Google Cloud Storage.
 *
 * Design assumptions and invariants:
 * - Planning lists the objects a table's URI names (one object or a
 *   bq-load style wildcard) to estimate rows from their sizes, as file_fdw
 *   does with stat().  Execution lists them again and pins each object's
 *   generation for the whole scan, rescans included: a cached plan never
 *   reads a stale object and a scan never mixes two versions.
 * - Objects are streamed chunk by chunk into the CSV reader; memory does
 *   not grow with object size.
 * - Only the columns a query references (target list and local quals) are
 *   copied out of the CSV and run through their type input functions.
 * - fdw_private holds copyable nodes only, indexed by LuxeScanPrivateIndex,
 *   and never a credential.  Credentials are resolved in BeginForeignScan
 *   for the user the scan checks permissions as.
 * - IterateForeignScan runs in the per-tuple memory context: network and
 *   parser work switches to the scan context explicitly.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/luxe_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/parallel.h"
#include "port/atomics.h"
#include "access/xact.h"
#include "utils/resowner.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/pg_foreign_server.h"
#include "utils/acl.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/plancat.h"
#include "optimizer/restrictinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"
#include "commands/vacuum.h"

#include "auth.h"
#include "csv.h"
#include "gcs.h"
#include "gcs_modify.h"
#include "bigquery.h"
#include "bq_fdw.h"
#include "bq_plan.h"
#include "http.h"
#include "import.h"
#include "option.h"

PG_MODULE_MAGIC;

#define LUXE_FDW_VERSION "0.1.0"

/* Cost of one HTTP round trip, in units of seq_page_cost. */
#define LUXE_REQUEST_COST		10.0

/* Indexes into ForeignScan.fdw_private. */
typedef enum LuxeScanPrivateIndex
{
	LUXE_PRIV_URI,				/* String */
	LUXE_PRIV_NOBJECTS,			/* Integer */
	LUXE_PRIV_TOTAL_BYTES,		/* String (int64) */
	LUXE_PRIV_ATTNUMS			/* List of Integer: columns to convert */
} LuxeScanPrivateIndex;

/* Planner state, in baserel->fdw_private. */
typedef struct LuxeFdwPlanState
{
	LuxeServerOptions server;
	LuxeCsvOptions csv;
	int			nobjects;
	int64		total_bytes;
	List	   *attnums;		/* columns the query needs */
} LuxeFdwPlanState;

/*
 * Shared state of a parallel scan: the leader's listing (so every process
 * reads the same objects at the same generations), the next object to
 * claim, and the workers' transfer counters, which the leader adds to its
 * own for EXPLAIN ANALYZE.
 */
typedef struct LuxeParallelShared
{
	pg_atomic_uint32 next_object;
	pg_atomic_uint64 worker_bytes;
	pg_atomic_uint64 worker_requests;
	pg_atomic_uint64 worker_retries;
	pg_atomic_uint64 worker_rows;
	Size		len;
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* serialized objects */
} LuxeParallelShared;

/* Executor state of a GCS CSV scan. */
typedef struct LuxeFdwScanState
{
	LuxeService service;		/* first, like BigQuery's scan state */
	Relation	rel;
	MemoryContext scan_cxt;		/* child of es_query_cxt */
	LuxeServerOptions server;
	LuxeCsvOptions csv;
	LuxeHttpStats stats;
	LuxeGcsClient client;

	/* columns to convert: slot i is attribute attnums[i] */
	int			nslots;
	AttrNumber *attnums;
	FmgrInfo   *in_functions;
	Oid		   *typioparams;
	int32	   *typmods;
	bool	   *integral;		/* int2/int4/int8: accept "34.0" */
	char	  **colnames;		/* remote names of all columns, by attnum */
	int			ncolumns;		/* non-dropped columns */
	int		   *positional_map; /* field index -> slot, positional mode */
	int		   *header_map;		/* field index -> slot, header mode */
	int			expected_fields;

	/* objects, listed once per scan; generations pinned */
	struct LuxeParallelShared *shared;	/* parallel scan: objects claimed here */
	char	   *serialized;		/* the listing, as the leader shares it */
	Size		serialized_len;
	List	   *objects;
	bool		listed;
	int			cur_object;		/* index into objects, -1 before start */
	bool		object_done;
	LuxeGcsReader *reader;
	LuxeCsvReader *csvr;
	const char *pending;		/* network bytes not yet parsed */
	size_t		pending_len;

	/* error context */
	const char *cur_uri;
	int64		cur_line;
	int			cur_slot;
	const char *cur_value;

	/* bad records skipped under max_bad_records */
	int64		rejected;

	/* EXPLAIN ANALYZE */
	int64		rows_produced;
	int64		bytes_listed;
} LuxeFdwScanState;

PG_FUNCTION_INFO_V1(luxe_fdw_handler);
PG_FUNCTION_INFO_V1(luxe_fdw_version);

void		_PG_init(void);

/* GUC: feed the parser at most this many bytes at a time (0: no limit) */
static int	luxe_parse_chunk_size = 0;

/*
 * FDW callback routines
 */
static void luxeGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								  Oid foreigntableid);
static void luxeGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								Oid foreigntableid);
static ForeignScan *luxeGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
									   Oid foreigntableid, ForeignPath *best_path,
									   List *tlist, List *scan_clauses,
									   Plan *outer_plan);
static void luxeExplainForeignScan(ForeignScanState *node, ExplainState *es);
static void luxeBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *luxeIterateForeignScan(ForeignScanState *node);
static void luxeReScanForeignScan(ForeignScanState *node);
static void luxeEndForeignScan(ForeignScanState *node);
static bool luxeIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
										  RangeTblEntry *rte);

/*
 * Helper functions
 */
static bool is_bigquery_server(Oid serverid);
static void gcsGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								 Oid foreigntableid);
static void gcsGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
							   Oid foreigntableid);
static ForeignScan *gcsGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
									  Oid foreigntableid, ForeignPath *best_path,
									  List *tlist, List *scan_clauses, Plan *outer_plan);
static void gcsExplainForeignScan(ForeignScanState *node, ExplainState *es);
static void gcsBeginForeignScan(ForeignScanState *node, int eflags);
static bool gcsAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
								   BlockNumber *totalpages);
static void luxeGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel,
									RelOptInfo *outerrel, RelOptInfo *innerrel,
									JoinType jointype, JoinPathExtraData *extra);
static void luxeGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
									 RelOptInfo *input_rel, RelOptInfo *output_rel,
									 void *extra);
static void luxeExecForeignTruncate(List *rels, DropBehavior behavior, bool restart_seqs);
static void luxeShutdownForeignScan(ForeignScanState *node);

/* A scan state is BigQuery's when its first field says so. */
#define IS_BQ_STATE(st) ((st) != NULL && *(LuxeService *) (st) == LUXE_SERVICE_BIGQUERY)
static List *needed_attnums(RelOptInfo *baserel, TupleDesc tupdesc);
static void scan_error_callback(void *arg);
static void ensure_listed(LuxeFdwScanState *st);
static bool next_object(LuxeFdwScanState *st);
static void header_callback(void *arg, int nfields, char **names);
static bool store_record(LuxeFdwScanState *st, LuxeCsvRecord *rec,
						 TupleTableSlot *slot);
static void check_record_shape(LuxeFdwScanState *st, LuxeCsvRecord *rec);
static void convert_record(LuxeFdwScanState *st, LuxeCsvRecord *rec,
						   TupleTableSlot *slot);
static void record_reject(LuxeFdwScanState *st, int64 line, const char *column,
						  const char *reason);
static void report_rejects(LuxeFdwScanState *st);
static void reset_rejects(void);
static LuxeFdwScanState *scan_state_create(Relation rel, Oid serverid, Oid userid,
										   List *attnums, MemoryContext parent);
static TupleTableSlot *scan_next(LuxeFdwScanState *st, TupleTableSlot *slot);
static void scan_state_end(LuxeFdwScanState *st);
static int	luxeIsForeignRelUpdatable(Relation rel);
static void luxeBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								   List *fdw_private, int subplan_index, int eflags);
static TupleTableSlot *luxeExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
											 TupleTableSlot *slot, TupleTableSlot *planSlot);
static void luxeEndForeignModify(EState *estate, ResultRelInfo *rinfo);
static void luxeBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo);
static void luxeEndForeignInsert(EState *estate, ResultRelInfo *rinfo);
static void luxeExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
									 List *fdw_private, int subplan_index,
									 ExplainState *es);
static List *luxeImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);
static Size luxeEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt);
static void luxeInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
										 void *coordinate);
static void luxeReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
										   void *coordinate);
static void luxeInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc,
											void *coordinate);
static bool luxeAnalyzeForeignTable(Relation relation,
									AcquireSampleRowsFunc *func,
									BlockNumber *totalpages);
static int	luxe_acquire_sample_rows(Relation onerel, int elevel,
									 HeapTuple *rows, int targrows,
									 double *totalrows,
									 double *totaldeadrows);

void
_PG_init(void)
{
	DefineCustomIntVariable("luxe_fdw.parse_chunk_size",
							"Largest piece of network data handed to the CSV parser at once.",
							"Zero feeds whatever arrived.  Small values exercise records and fields that straddle chunk boundaries; for testing.",
							&luxe_parse_chunk_size,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("luxe_fdw.bigquery_page_size",
							"Rows asked for per page of BigQuery query results.",
							"BigQuery also caps a page at about 10 MB.  Memory holds one page at a time.",
							&luxe_bq_page_size,
							50000, 1, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("luxe_fdw");
	luxe_http_init();
}

Datum
luxe_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = luxeGetForeignRelSize;
	routine->GetForeignPaths = luxeGetForeignPaths;
	routine->GetForeignPlan = luxeGetForeignPlan;
	routine->ExplainForeignScan = luxeExplainForeignScan;
	routine->BeginForeignScan = luxeBeginForeignScan;
	routine->IterateForeignScan = luxeIterateForeignScan;
	routine->ReScanForeignScan = luxeReScanForeignScan;
	routine->EndForeignScan = luxeEndForeignScan;
	routine->IsForeignScanParallelSafe = luxeIsForeignScanParallelSafe;
	routine->AnalyzeForeignTable = luxeAnalyzeForeignTable;
	routine->EstimateDSMForeignScan = luxeEstimateDSMForeignScan;
	routine->InitializeDSMForeignScan = luxeInitializeDSMForeignScan;
	routine->ReInitializeDSMForeignScan = luxeReInitializeDSMForeignScan;
	routine->InitializeWorkerForeignScan = luxeInitializeWorkerForeignScan;
	routine->ImportForeignSchema = luxeImportForeignSchema;
	routine->IsForeignRelUpdatable = luxeIsForeignRelUpdatable;
	routine->BeginForeignModify = luxeBeginForeignModify;
	routine->ExecForeignInsert = luxeExecForeignInsert;
	routine->EndForeignModify = luxeEndForeignModify;
	routine->BeginForeignInsert = luxeBeginForeignInsert;
	routine->EndForeignInsert = luxeEndForeignInsert;
	routine->ExplainForeignModify = luxeExplainForeignModify;
	routine->GetForeignJoinPaths = luxeGetForeignJoinPaths;
	routine->GetForeignUpperPaths = luxeGetForeignUpperPaths;
	routine->ExecForeignTruncate = luxeExecForeignTruncate;
	routine->ShutdownForeignScan = luxeShutdownForeignScan;

	PG_RETURN_POINTER(routine);
}

Datum
luxe_fdw_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(LUXE_FDW_VERSION));
}

static void
require_gcs(const LuxeServerOptions *server)
{
	if (server->service != LUXE_SERVICE_GCS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("foreign tables on server \"%s\" with service \"%s\" are not supported yet",
						server->servername, luxe_option_service_name(server->service))));
}

/*
 * The columns a scan must convert: those in the target list and in
 * restriction clauses.  A whole-row reference needs all of them.
 */
static List *
needed_attnums(RelOptInfo *baserel, TupleDesc tupdesc)
{
	Bitmapset  *attrs = NULL;
	ListCell   *lc;
	List	   *result = NIL;
	int			i;
	bool		whole_row;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = (RestrictInfo *) lfirst(lc);

		pull_varattnos((Node *) rinfo->clause, baserel->relid, &attrs);
	}
	whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);

	for (i = 1; i <= tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i - 1);

		if (attr->attisdropped)
			continue;
		if (whole_row ||
			bms_is_member(i - FirstLowInvalidHeapAttributeNumber, attrs))
			result = lappend(result, makeInteger(i));
	}
	return result;
}

/*
 * luxeGetForeignRelSize
 *		List the table's objects and estimate its rows from their sizes.
 */
static void
luxeGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid)
{
	if (is_bigquery_server(GetForeignServerIdByRelId(foreigntableid)))
	{
		luxe_bq_get_rel_size(root, baserel, foreigntableid);
		return;
	}
	gcsGetForeignRelSize(root, baserel, foreigntableid);
}

static void
gcsGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
					 Oid foreigntableid)
{
	LuxeFdwPlanState *ps = palloc0(sizeof(LuxeFdwPlanState));
	ForeignTable *table = GetForeignTable(foreigntableid);
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;
	List	   *objects;
	ListCell   *lc;
	double		row_bytes;
	Oid			userid = OidIsValid(baserel->userid) ? baserel->userid : GetUserId();
	Relation	rel;
	int			natts;

	rel = table_open(foreigntableid, AccessShareLock);
	natts = RelationGetDescr(rel)->natts;
	ps->attnums = needed_attnums(baserel, RelationGetDescr(rel));
	table_close(rel, AccessShareLock);

	baserel->fdw_private = ps;
	luxe_option_server(table->serverid, &ps->server);
	require_gcs(&ps->server);
	luxe_option_csv(foreigntableid, natts, &ps->csv);

	luxe_gcs_client_init(&client, &stats, &ps->server, table->serverid, userid);
	objects = luxe_gcs_list_uri(&client, ps->csv.uri, false);
	foreach(lc, objects)
	{
		LuxeGcsObject *o = lfirst(lc);

		ps->total_bytes += o->size;
	}
	ps->nobjects = list_length(objects);

	if (baserel->pages > 0 && baserel->tuples > 0)
	{
		/* ANALYZE measured rows per page of object bytes: scale it */
		double		density = baserel->tuples / baserel->pages;

		baserel->tuples = clamp_row_est(density *
										Max(1.0, ceil((double) ps->total_bytes / BLCKSZ)));
	}
	else
	{
		/* a CSV row spells each column out, plus a delimiter */
		row_bytes = get_relation_data_width(foreigntableid, NULL) + natts;
		row_bytes = Max(row_bytes, 2.0);
		baserel->tuples = clamp_row_est(ps->total_bytes / row_bytes);
	}
	baserel->rows = clamp_row_est(baserel->tuples *
								  clauselist_selectivity(root,
														 baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
}

/*
 * luxeGetForeignPaths
 *		One path: read every object sequentially.  Cost is the bytes as
 *		sequential pages, a round trip per object, and per-tuple parsing
 *		that grows with the number of converted columns.
 */
static void
luxeGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	if (is_bigquery_server(baserel->serverid))
	{
		luxe_bq_get_paths(root, baserel, foreigntableid);
		return;
	}
	gcsGetForeignPaths(root, baserel, foreigntableid);
}

static void
gcsGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	LuxeFdwPlanState *ps = (LuxeFdwPlanState *) baserel->fdw_private;
	Cost		startup_cost;
	Cost		run_cost;
	Cost		cpu_per_tuple;
	double		pages = ceil((double) ps->total_bytes / BLCKSZ);

	startup_cost = baserel->baserestrictcost.startup +
		LUXE_REQUEST_COST * seq_page_cost * (1 + ps->nobjects);
	cpu_per_tuple = cpu_tuple_cost * (1 + list_length(ps->attnums) / 4.0) +
		baserel->baserestrictcost.per_tuple;
	run_cost = seq_page_cost * pages + cpu_per_tuple * baserel->tuples;

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 startup_cost, startup_cost + run_cost,
									 NIL, NULL, NULL, NIL));

	/*
	 * Several objects can be shared among parallel workers, each reading
	 * whole objects it claims from a shared counter.
	 */
	if (baserel->consider_parallel && ps->nobjects > 1)
	{
		int			workers = Min(ps->nobjects - 1, max_parallel_workers_per_gather);

		if (workers > 0)
		{
			double		share = workers + 1;
			ForeignPath *pp = create_foreignscan_path(root, baserel, NULL,
													  clamp_row_est(baserel->rows / share),
													  startup_cost,
													  startup_cost + run_cost / share,
													  NIL, NULL, NULL, NIL);

			pp->path.parallel_aware = true;
			pp->path.parallel_safe = true;
			pp->path.parallel_workers = workers;
			add_partial_path(baserel, (Path *) pp);
		}
	}
}

static ForeignScan *
luxeGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				   ForeignPath *best_path, List *tlist, List *scan_clauses,
				   Plan *outer_plan)
{
	if (is_bigquery_server(baserel->serverid))
		return luxe_bq_get_plan(root, baserel, foreigntableid, best_path, tlist,
								scan_clauses, outer_plan);
	return gcsGetForeignPlan(root, baserel, foreigntableid, best_path, tlist,
							 scan_clauses, outer_plan);
}

static ForeignScan *
gcsGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				  ForeignPath *best_path, List *tlist, List *scan_clauses,
				  Plan *outer_plan)
{
	LuxeFdwPlanState *ps = (LuxeFdwPlanState *) baserel->fdw_private;
	List	   *fdw_private;

	scan_clauses = extract_actual_clauses(scan_clauses, false);
	fdw_private = list_make4(makeString(ps->csv.uri),
							 makeInteger(ps->nobjects),
							 makeString(psprintf(INT64_FORMAT, ps->total_bytes)),
							 ps->attnums);
	return make_foreignscan(tlist, scan_clauses, baserel->relid, NIL,
							fdw_private, NIL, NIL, outer_plan);
}

static void
luxeExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	if (is_bigquery_server(((ForeignScan *) node->ss.ps.plan)->fs_server))
	{
		luxe_bq_explain_scan(node, es);
		return;
	}
	gcsExplainForeignScan(node, es);
}

static void
gcsExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	List	   *fdw_private = ((ForeignScan *) node->ss.ps.plan)->fdw_private;
	LuxeFdwScanState *st = (LuxeFdwScanState *) node->fdw_state;

	ExplainPropertyText("GCS URI", strVal(list_nth(fdw_private, LUXE_PRIV_URI)), es);
	ExplainPropertyInteger("GCS Objects", NULL,
						   intVal(list_nth(fdw_private, LUXE_PRIV_NOBJECTS)), es);
	ExplainPropertyInteger("GCS Bytes", NULL,
						   strtoll(strVal(list_nth(fdw_private, LUXE_PRIV_TOTAL_BYTES)), NULL, 10),
						   es);
	if (es->analyze && st)
	{
		ExplainPropertyInteger("Bytes Fetched", NULL, st->stats.bytes, es);
		ExplainPropertyInteger("Requests", NULL, st->stats.requests, es);
		ExplainPropertyInteger("Retries", NULL, st->stats.retries, es);
		ExplainPropertyInteger("Rows Produced", NULL, st->rows_produced, es);
	}
}

static bool
type_is_integral(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID;
}

/*
 * luxeBeginForeignScan
 *		Set up conversion for the needed columns.  Nothing touches the
 *		network before the first row is asked for.
 */
static void
luxeBeginForeignScan(ForeignScanState *node, int eflags)
{
	if (is_bigquery_server(((ForeignScan *) node->ss.ps.plan)->fs_server))
	{
		luxe_bq_begin_scan(node, eflags);
		return;
	}
	gcsBeginForeignScan(node, eflags);
}

static void
gcsBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	Relation	rel = node->ss.ss_currentRelation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	RangeTblEntry *rte = exec_rt_fetch(plan->scan.scanrelid, estate);
	Oid			userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	List	   *attnums = (List *) list_nth(plan->fdw_private, LUXE_PRIV_ATTNUMS);

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	(void) tupdesc;
	node->fdw_state = scan_state_create(rel, table->serverid, userid, attnums,
										estate->es_query_cxt);
}

/*
 * Set up a scan of a GCS foreign table converting the given attributes:
 * options, credentials, input functions and the field-to-column maps.
 * The state lives in parent; its "luxe_fdw scan" child context holds the
 * network and parser resources.  Nothing touches the network yet.
 */
static LuxeFdwScanState *
scan_state_create(Relation rel, Oid serverid, Oid userid, List *attnums,
				  MemoryContext parent)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	LuxeFdwScanState *st;
	MemoryContext old;
	ListCell   *lc;
	int			i;
	int			field;

	st = MemoryContextAllocZero(parent, sizeof(LuxeFdwScanState));
	st->rel = rel;
	st->scan_cxt = AllocSetContextCreate(parent, "luxe_fdw scan",
										 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(st->scan_cxt);

	luxe_option_server(serverid, &st->server);
	require_gcs(&st->server);
	luxe_option_csv(RelationGetRelid(rel), tupdesc->natts, &st->csv);
	luxe_gcs_client_init(&st->client, &st->stats, &st->server, serverid, userid);

	st->nslots = list_length(attnums);
	st->attnums = palloc(sizeof(AttrNumber) * Max(st->nslots, 1));
	st->in_functions = palloc(sizeof(FmgrInfo) * Max(st->nslots, 1));
	st->typioparams = palloc(sizeof(Oid) * Max(st->nslots, 1));
	st->typmods = palloc(sizeof(int32) * Max(st->nslots, 1));
	st->integral = palloc(sizeof(bool) * Max(st->nslots, 1));
	i = 0;
	foreach(lc, attnums)
	{
		AttrNumber	attnum = intVal(lfirst(lc));
		Form_pg_attribute attr = TupleDescAttr(tupdesc, attnum - 1);
		Oid			infunc;

		st->attnums[i] = attnum;
		getTypeInputInfo(attr->atttypid, &infunc, &st->typioparams[i]);
		fmgr_info(infunc, &st->in_functions[i]);
		st->typmods[i] = attr->atttypmod;
		st->integral[i] = type_is_integral(attr->atttypid);
		i++;
	}

	/* remote names, and the positional field -> slot map */
	st->colnames = palloc0(sizeof(char *) * (tupdesc->natts + 1));
	st->positional_map = palloc(sizeof(int) * Max(tupdesc->natts, 1));
	field = 0;
	for (i = 1; i <= tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i - 1);
		int			s;

		if (attr->attisdropped)
			continue;
		st->colnames[i] = luxe_option_remote_column(RelationGetRelid(rel), i);
		st->positional_map[field] = -1;
		for (s = 0; s < st->nslots; s++)
			if (st->attnums[s] == i)
				st->positional_map[field] = s;
		field++;
	}
	st->ncolumns = field;
	st->expected_fields = field;

	st->csvr = luxe_csv_create(&st->csv, st->nslots);
	reset_rejects();			/* luxe.last_scan_rejects() is per scan */
	st->cur_object = -1;
	st->object_done = true;
	MemoryContextSwitchTo(old);
	return st;
}

/*
 * Header row of an object in header-mapping mode: map each field to the
 * column of that name.  Every column must be present; extra header fields
 * are ignored.  Called from inside the CSV parser; may throw.
 */
static void
header_callback(void *arg, int nfields, char **names)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) arg;
	TupleDesc	tupdesc = RelationGetDescr(st->rel);
	MemoryContext old = MemoryContextSwitchTo(st->scan_cxt);
	int			i;
	int			f;

	st->header_map = palloc(sizeof(int) * Max(nfields, 1));
	for (f = 0; f < nfields; f++)
		st->header_map[f] = -1;
	for (i = 1; i <= tupdesc->natts; i++)
	{
		int			s;
		int			found = -1;

		if (TupleDescAttr(tupdesc, i - 1)->attisdropped)
			continue;
		for (f = 0; f < nfields; f++)
		{
			if (strcmp(names[f], st->colnames[i]) == 0 ||
				/* a UTF-8 BOM the writer put before the first name */
				(f == 0 && strncmp(names[f], "\xEF\xBB\xBF", 3) == 0 &&
				 strcmp(names[f] + 3, st->colnames[i]) == 0))
			{
				found = f;
				break;
			}
		}
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
					 errmsg("column \"%s\" of foreign table \"%s\" is not in the header of GCS object \"%s\"",
							st->colnames[i], RelationGetRelationName(st->rel), st->cur_uri),
					 errdetail("The header (line %d) has %d fields.",
							   st->csv.skip_leading_rows, nfields),
					 errhint("Set the column's \"column_name\" option to its name in the header.")));
		for (s = 0; s < st->nslots; s++)
			if (st->attnums[s] == i)
				st->header_map[found] = s;
	}
	st->expected_fields = nfields;
	luxe_csv_set_slots(st->csvr, st->header_map, nfields);
	MemoryContextSwitchTo(old);
}

/*
 * List the scan's objects once, pinning their generations for every later
 * read and rescan.  Runs in the scan context; can throw.
 */
static void
ensure_listed(LuxeFdwScanState *st)
{
	ListCell   *lc;

	if (st->listed)
		return;
	st->objects = luxe_gcs_list_uri(&st->client, st->csv.uri, false);
	foreach(lc, st->objects)
		st->bytes_listed += ((LuxeGcsObject *) lfirst(lc))->size;
	st->listed = true;
}

/*
 * Move to the next object (the next one claimed, in a parallel scan) and
 * open a stream.  Returns false when there are no more objects.  Runs in
 * the scan context; can throw.
 */
static bool
next_object(LuxeFdwScanState *st)
{
	LuxeGcsObject *o;

	ensure_listed(st);
	if (st->reader)
	{
		luxe_gcs_close_stream(st->reader);
		st->reader = NULL;
	}
	if (st->shared)
		st->cur_object = (int) pg_atomic_fetch_add_u32(&st->shared->next_object, 1);
	else
		st->cur_object++;
	if (st->cur_object >= list_length(st->objects))
		return false;

	o = list_nth(st->objects, st->cur_object);
	st->cur_uri = luxe_gcs_object_uri(o);
	st->expected_fields = st->ncolumns;
	luxe_csv_begin_object(st->csvr, st->csv.header_mapping, header_callback, st);
	if (st->csv.header_mapping)
		luxe_csv_set_slots(st->csvr, NULL, 0);
	else
		luxe_csv_set_slots(st->csvr, st->positional_map, st->ncolumns);
	st->reader = luxe_gcs_open_stream(&st->client, o);
	st->pending_len = 0;
	st->object_done = false;
	return true;
}

/*
 * Rows rejected by the last scan (of any luxe_fdw table), for
 * luxe.last_scan_rejects(): backend-local, in TopMemoryContext, capped.
 */
#define LUXE_MAX_STORED_REJECTS 10000

typedef struct LuxeReject
{
	char	   *table_name;
	char	   *object;
	int64		line;
	char	   *column;
	char	   *reason;
} LuxeReject;

static LuxeReject *rejects = NULL;
static int	nrejects = 0;

static void
reset_rejects(void)
{
	int			i;

	for (i = 0; i < nrejects; i++)
	{
		pfree(rejects[i].table_name);
		pfree(rejects[i].object);
		if (rejects[i].column)
			pfree(rejects[i].column);
		pfree(rejects[i].reason);
	}
	nrejects = 0;
}

/*
 * Count a rejected row and keep it for luxe.last_scan_rejects(); past the
 * budget, fail like bq load does.
 */
static void
record_reject(LuxeFdwScanState *st, int64 line, const char *column, const char *reason)
{
	st->rejected++;
	if (rejects == NULL)
		rejects = MemoryContextAlloc(TopMemoryContext, sizeof(LuxeReject) * LUXE_MAX_STORED_REJECTS);
	if (nrejects < LUXE_MAX_STORED_REJECTS)
	{
		LuxeReject *r = &rejects[nrejects++];

		r->table_name = MemoryContextStrdup(TopMemoryContext, RelationGetRelationName(st->rel));
		r->object = MemoryContextStrdup(TopMemoryContext, st->cur_uri);
		r->line = line;
		r->column = column ? MemoryContextStrdup(TopMemoryContext, column) : NULL;
		r->reason = MemoryContextStrdup(TopMemoryContext, reason);
	}
	if (st->rejected > st->csv.max_bad_records)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("too many bad rows in foreign table \"%s\"",
						RelationGetRelationName(st->rel)),
				 errdetail("%lld rows were rejected and \"%s\" is %d; the last, line %lld%s%s: %s.",
						   (long long) st->rejected, OPT_MAX_BAD_RECORDS, st->csv.max_bad_records,
						   (long long) line, column ? ", column " : "", column ? column : "", reason),
				 errhint("SELECT * FROM luxe.last_scan_rejects() lists the rejected rows.")));
}

/* At the end of a scan: a NOTICE with the count and the first rejects. */
static void
report_rejects(LuxeFdwScanState *st)
{
	StringInfoData buf;
	int			i;
	int			shown = 0;

	if (st->rejected == 0)
		return;
	initStringInfo(&buf);
	for (i = 0; i < nrejects && shown < 5; i++)
	{
		if (strcmp(rejects[i].table_name, RelationGetRelationName(st->rel)) != 0)
			continue;
		appendStringInfo(&buf, "%s%s, line %lld%s%s: %s", shown ? "\n" : "",
						 rejects[i].object, (long long) rejects[i].line,
						 rejects[i].column ? ", column " : "",
						 rejects[i].column ? rejects[i].column : "", rejects[i].reason);
		shown++;
	}
	ereport(NOTICE,
			(errmsg_plural("skipped %lld bad row of foreign table \"%s\"",
						   "skipped %lld bad rows of foreign table \"%s\"",
						   st->rejected,
						   (long long) st->rejected, RelationGetRelationName(st->rel)),
			 errdetail_internal("%s", buf.data),
			 errhint("SELECT * FROM luxe.last_scan_rejects() lists them all.")));
	st->rejected = 0;			/* a rescan reports its own */
}

PG_FUNCTION_INFO_V1(luxe_last_scan_rejects);

/*
 * luxe_last_scan_rejects
 *		luxe.last_scan_rejects(): the rows the last scan with a bad-record
 *		budget in this session skipped (up to 10,000).
 */
Datum
luxe_last_scan_rejects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < nrejects; i++)
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

static void
scan_error_callback(void *arg)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) arg;

	if (st->cur_uri == NULL)
		return;
	if (st->cur_slot >= 0 && st->cur_line > 0)
	{
		const char *col = st->colnames[st->attnums[st->cur_slot]];

		if (st->cur_value)
		{
			char	   *v = pnstrdup(st->cur_value, 64);

			errcontext("foreign table \"%s\", GCS object \"%s\", line %lld, column %s: \"%s%s\"",
					   RelationGetRelationName(st->rel), st->cur_uri,
					   (long long) st->cur_line, col, v,
					   strlen(st->cur_value) > 64 ? "..." : "");
		}
		else
			errcontext("foreign table \"%s\", GCS object \"%s\", line %lld, column %s",
					   RelationGetRelationName(st->rel), st->cur_uri,
					   (long long) st->cur_line, col);
	}
	else if (st->cur_line > 0)
		errcontext("foreign table \"%s\", GCS object \"%s\", line %lld",
				   RelationGetRelationName(st->rel), st->cur_uri,
				   (long long) st->cur_line);
	else
		errcontext("foreign table \"%s\", GCS object \"%s\"",
				   RelationGetRelationName(st->rel), st->cur_uri);
}

/*
 * Check a record's shape and convert its needed fields into the slot.
 * Runs in the per-tuple context; throws on a bad record (the error context
 * names object, line and column), unless the table has a bad-record budget:
 * then the row is recorded as rejected and false is returned.
 */
static bool
store_record(LuxeFdwScanState *st, LuxeCsvRecord *rec, TupleTableSlot *slot)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	st->cur_line = rec->line;
	if (st->csv.max_bad_records == 0)
	{
		check_record_shape(st, rec);
		convert_record(st, rec, slot);
		return true;
	}

	/*
	 * With a bad-record budget, a data error in this row is caught in a
	 * subtransaction (input functions may leave state behind that only an
	 * abort cleans up), recorded, and the row skipped.  Other errors, such
	 * as a cancel or out of memory, propagate.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		check_record_shape(st, rec);
		convert_record(st, rec, slot);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(oldcxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (ERRCODE_TO_CATEGORY(ed->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			ReThrowError(ed);
		record_reject(st, rec->line,
					  st->cur_slot >= 0 ? st->colnames[st->attnums[st->cur_slot]] : NULL,
					  ed->message);
		st->cur_slot = -1;
		st->cur_value = NULL;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Raise the error for a record whose shape is wrong (field count, quoted
 * line break); return quietly for a good one.
 */
static void
check_record_shape(LuxeFdwScanState *st, LuxeCsvRecord *rec)
{
	if (rec->status == LUXE_CSV_RECORD_QUOTED_NEWLINE)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("quoted line break in CSV row"),
				 errhint("Set the table option \"%s\" to true to accept line breaks inside quoted fields.",
						 OPT_ALLOW_QUOTED_NEWLINES)));
	if (rec->nfields < st->expected_fields && !st->csv.allow_jagged_rows)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("CSV row has too few fields"),
				 errdetail("Expected %d fields, found %d.", st->expected_fields, rec->nfields),
				 errhint("Set the table option \"%s\" to true to read missing trailing fields as NULL.",
						 OPT_ALLOW_JAGGED_ROWS)));
	if (rec->nfields > st->expected_fields && !st->csv.ignore_unknown_values)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("CSV row has too many fields"),
				 errdetail("Expected %d fields, found %d.", st->expected_fields, rec->nfields),
				 errhint("Set the table option \"%s\" to true to ignore extra trailing fields.",
						 OPT_IGNORE_UNKNOWN_VALUES)));
}

/* Convert a record's needed fields into the slot; throws on a bad value. */
static void
convert_record(LuxeFdwScanState *st, LuxeCsvRecord *rec, TupleTableSlot *slot)
{
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;
	const char *data = luxe_csv_data(st->csvr);
	int			i;

	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	for (i = 0; i < st->nslots; i++)
	{
		LuxeCsvField *f = &rec->fields[i];
		int			attidx = st->attnums[i] - 1;
		char	   *str;

		if (f->flags & LUXE_CSV_FIELD_NULL)
			continue;
		str = (char *) data + f->off;
		st->cur_slot = i;
		/* the raw value may be invalid in the server encoding: not shown */
		st->cur_value = NULL;
		if (st->csv.encoding != GetDatabaseEncoding() || GetDatabaseEncoding() == PG_UTF8)
			str = pg_any_to_server(str, f->len, st->csv.encoding);
		st->cur_value = str;
		if (st->integral[i])
		{
			/* pandas writes integral floats: accept "34.0" as 34 */
			char	   *dot = memchr(str, '.', f->len);

			if (dot)
			{
				char	   *p = dot + 1;

				while (*p == '0')
					p++;
				if (*p == '\0' && dot > str && isdigit((unsigned char) dot[-1]))
				{
					if (str == data + f->off)
						*dot = '\0';
					else
						str = pnstrdup(str, dot - str);
				}
			}
		}
		values[attidx] = InputFunctionCall(&st->in_functions[i], str,
										   st->typioparams[i], st->typmods[i]);
		nulls[attidx] = false;
	}
	st->cur_slot = -1;
	st->cur_value = NULL;
}

/*
 * luxeIterateForeignScan
 *		Return the next row: from the current batch of parsed records, else
 *		by feeding the next network chunk to the parser, else by moving to
 *		the next object.
 */
static TupleTableSlot *
luxeIterateForeignScan(ForeignScanState *node)
{
	if (IS_BQ_STATE(node->fdw_state))
		return luxe_bq_iterate_scan(node);
	return scan_next((LuxeFdwScanState *) node->fdw_state,
					 node->ss.ss_ScanTupleSlot);
}

/*
 * The next row of a scan into slot (left empty at the end).  Runs in the
 * caller's per-row context; network and parsing work happens in the scan
 * context.  Can throw, with object, line and column in the error context.
 */
static TupleTableSlot *
scan_next(LuxeFdwScanState *st, TupleTableSlot *slot)
{
	ErrorContextCallback errcb;

	errcb.callback = scan_error_callback;
	errcb.arg = st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	st->cur_slot = -1;

	ExecClearTuple(slot);
	for (;;)
	{
		LuxeCsvRecord *rec = luxe_csv_next(st->csvr);
		MemoryContext old;

		if (rec)
		{
			if (!store_record(st, rec, slot))
				continue;
			ExecStoreVirtualTuple(slot);
			st->rows_produced++;
			break;
		}

		st->cur_line = 0;
		old = MemoryContextSwitchTo(st->scan_cxt);
		{
			int64		line;
			const char *reason;

			if (luxe_csv_error(st->csvr, &line, &reason))
			{
				st->cur_line = line;
				ereport(ERROR,
						(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
						 errmsg("malformed CSV row"),
						 errdetail("At or after the start of the row, %s.", reason)));
			}
		}
		if (!st->object_done)
		{
			size_t		take;

			if (st->pending_len == 0)
			{
				ssize_t		n = luxe_gcs_read(st->reader, &st->pending);

				if (n <= 0)
				{
					luxe_csv_finish(st->csvr);
					st->object_done = true;
					MemoryContextSwitchTo(old);
					continue;
				}
				st->pending_len = (size_t) n;
			}
			take = st->pending_len;
			if (luxe_parse_chunk_size > 0 && take > (size_t) luxe_parse_chunk_size)
				take = luxe_parse_chunk_size;
			luxe_csv_feed(st->csvr, st->pending, take);
			st->pending += take;
			st->pending_len -= take;
			MemoryContextSwitchTo(old);
			continue;
		}
		if (!next_object(st))
		{
			MemoryContextSwitchTo(old);
			error_context_stack = errcb.previous;
			report_rejects(st);
			return slot;
		}
		MemoryContextSwitchTo(old);
	}

	error_context_stack = errcb.previous;
	return slot;
}

/*
 * luxeReScanForeignScan
 *		Start again from the first object, with the same pinned generations.
 */
static void
luxeReScanForeignScan(ForeignScanState *node)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) node->fdw_state;

	if (IS_BQ_STATE(st))
	{
		luxe_bq_rescan(node);
		return;
	}

	if (st->reader)
		luxe_gcs_close_stream(st->reader);
	st->reader = NULL;
	st->pending_len = 0;
	st->cur_object = -1;
	st->object_done = true;
	luxe_csv_begin_object(st->csvr, false, NULL, NULL);
}

static void
luxeEndForeignScan(ForeignScanState *node)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) node->fdw_state;

	if (IS_BQ_STATE(st))
	{
		luxe_bq_end_scan(node);
		return;
	}

	if (st)
	{
		/* a worker hands its counters to the leader's EXPLAIN ANALYZE */
		if (st->shared && IsParallelWorker())
		{
			pg_atomic_fetch_add_u64(&st->shared->worker_bytes, (uint64) st->stats.bytes);
			pg_atomic_fetch_add_u64(&st->shared->worker_requests, (uint64) st->stats.requests);
			pg_atomic_fetch_add_u64(&st->shared->worker_retries, (uint64) st->stats.retries);
			pg_atomic_fetch_add_u64(&st->shared->worker_rows, (uint64) st->rows_produced);
		}
		scan_state_end(st);
	}
}

/*
 * luxeShutdownForeignScan
 *		Before the parallel scan's shared memory goes away (the workers have
 *		finished by then), take the workers' counters into the leader's.
 */
static void
luxeShutdownForeignScan(ForeignScanState *node)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) node->fdw_state;

	if (st == NULL || IS_BQ_STATE(st) || st->shared == NULL || IsParallelWorker())
		return;
	st->stats.bytes += (int64) pg_atomic_exchange_u64(&st->shared->worker_bytes, 0);
	st->stats.requests += (int64) pg_atomic_exchange_u64(&st->shared->worker_requests, 0);
	st->stats.retries += (int64) pg_atomic_exchange_u64(&st->shared->worker_retries, 0);
	st->rows_produced += (int64) pg_atomic_exchange_u64(&st->shared->worker_rows, 0);
	st->shared = NULL;
}

static void
scan_state_end(LuxeFdwScanState *st)
{
	if (st->reader)
		luxe_gcs_close_stream(st->reader);
	st->reader = NULL;
	/* csv reader and stream resources go with the scan context */
	MemoryContextDelete(st->scan_cxt);
}

static bool
luxeIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
							  RangeTblEntry *rte)
{
	ListCell   *lc;

	/* a BigQuery scan is one remote job: nothing to share out */
	if (is_bigquery_server(rel->serverid))
		return false;

	/* a bad-record budget needs subtransactions, which workers cannot start */
	foreach(lc, GetForeignTable(rte->relid)->options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, OPT_MAX_BAD_RECORDS) == 0 && atoi(defGetString(d)) > 0)
			return false;
	}
	return true;
}

/*
 * luxeAnalyzeForeignTable
 *		ANALYZE support: sample rows with a full scan (as file_fdw does) and
 *		report the objects' size in pages, so the planner's row estimate
 *		becomes bytes divided by the measured bytes per row.
 */
static bool
luxeAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
						BlockNumber *totalpages)
{
	if (is_bigquery_server(GetForeignServerIdByRelId(RelationGetRelid(relation))))
	{
		double		rows;
		double		bytes;

		*func = luxe_bq_acquire_sample_rows;
		*totalpages = luxe_bq_table_rows(RelationGetRelid(relation), &rows, &bytes) && bytes > 0 ?
			(BlockNumber) Min(ceil(bytes / BLCKSZ), (double) MaxBlockNumber) : 1;
		return true;
	}
	return gcsAnalyzeForeignTable(relation, func, totalpages);
}

static bool
gcsAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
					   BlockNumber *totalpages)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(relation));
	LuxeServerOptions server;
	LuxeCsvOptions csv;
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;
	List	   *objects;
	ListCell   *lc;
	int64		bytes = 0;

	luxe_option_server(table->serverid, &server);
	if (server.service != LUXE_SERVICE_GCS)
		return false;
	luxe_option_csv(RelationGetRelid(relation), RelationGetDescr(relation)->natts, &csv);
	luxe_gcs_client_init(&client, &stats, &server, table->serverid, GetUserId());
	objects = luxe_gcs_list_uri(&client, csv.uri, false);
	foreach(lc, objects)
		bytes += ((LuxeGcsObject *) lfirst(lc))->size;
	*totalpages = (BlockNumber) Max(1, (bytes + BLCKSZ - 1) / BLCKSZ);
	*func = luxe_acquire_sample_rows;
	return true;
}

/*
 * Read every row, keeping a reservoir sample of targrows (Vitter's
 * algorithm, as analyze.c and file_fdw).  Rows are heap tuples palloc'd in
 * the caller's context; everything else goes with a temporary context.
 */
static int
luxe_acquire_sample_rows(Relation onerel, int elevel, HeapTuple *rows,
						 int targrows, double *totalrows, double *totaldeadrows)
{
	TupleDesc	tupdesc = RelationGetDescr(onerel);
	ForeignTable *table = GetForeignTable(RelationGetRelid(onerel));
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext,
											  "luxe_fdw analyze",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext row_cxt = AllocSetContextCreate(tmp, "luxe_fdw analyze row",
												  ALLOCSET_SMALL_SIZES);
	List	   *attnums = NIL;
	LuxeFdwScanState *st;
	TupleTableSlot *slot;
	ReservoirStateData rstate;
	double		rowstoskip = -1;
	int			numrows = 0;
	int			i;

	for (i = 1; i <= tupdesc->natts; i++)
		if (!TupleDescAttr(tupdesc, i - 1)->attisdropped)
			attnums = lappend(attnums, makeInteger(i));
	st = scan_state_create(onerel, table->serverid, GetUserId(), attnums, tmp);
	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsVirtual);
	reservoir_init_selection_state(&rstate, targrows);
	*totalrows = 0;
	*totaldeadrows = 0;

	for (;;)
	{
		MemoryContext old;

		vacuum_delay_point();
		MemoryContextReset(row_cxt);
		old = MemoryContextSwitchTo(row_cxt);
		scan_next(st, slot);
		MemoryContextSwitchTo(old);
		if (TupIsNull(slot))
			break;

		if (numrows < targrows)
		{
			old = MemoryContextSwitchTo(caller);
			rows[numrows++] = heap_form_tuple(tupdesc, slot->tts_values, slot->tts_isnull);
			MemoryContextSwitchTo(old);
		}
		else
		{
			if (rowstoskip < 0)
				rowstoskip = reservoir_get_next_S(&rstate, *totalrows, targrows);
			if (rowstoskip <= 0)
			{
				int			k = (int) (targrows * sampler_random_fract(&rstate.randstate));

				heap_freetuple(rows[k]);
				old = MemoryContextSwitchTo(caller);
				rows[k] = heap_form_tuple(tupdesc, slot->tts_values, slot->tts_isnull);
				MemoryContextSwitchTo(old);
			}
			rowstoskip -= 1;
		}
		*totalrows += 1;
	}

	ExecDropSingleTupleTableSlot(slot);
	scan_state_end(st);
	MemoryContextDelete(tmp);
	ereport(elevel,
			(errmsg("\"%s\": read %.0f rows from GCS, kept a sample of %d",
					RelationGetRelationName(onerel), *totalrows, numrows)));
	return numrows;
}

/*
 * luxe_gcs_objects
 *		luxe.gcs_objects(uri text, server name DEFAULT NULL): the objects a
 *		gs:// URI names (one object, a '*' wildcard, or a prefix ending in
 *		'/'), with size, generation, update time and crc32c, listed with the
 *		server's endpoint and the caller's user mapping.  Without a server
 *		name the caller's only GCS server of luxe_fdw is used.
 */
PG_FUNCTION_INFO_V1(luxe_gcs_objects);

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
		LuxeServerOptions opts;

		if (srv->srvfdw != fdwid)
			continue;
		luxe_option_server(srv->oid, &opts);
		if (opts.service != LUXE_SERVICE_GCS)
			continue;
		found = srv->oid;
		count++;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	if (count != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("there are %d GCS servers of luxe_fdw", count),
				 errhint("Name the server: luxe.gcs_objects(uri, 'server_name').")));
	return found;
}

Datum
luxe_gcs_objects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *uri = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			serverid = PG_ARGISNULL(1) ? only_gcs_server() :
		get_foreign_server_oid(NameStr(*PG_GETARG_NAME(1)), false);
	LuxeServerOptions *server = palloc(sizeof(LuxeServerOptions));
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;
	List	   *objects;
	ListCell   *lc;
	AclResult	aclresult;

	aclresult = pg_foreign_server_aclcheck(serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, GetForeignServer(serverid)->servername);
	luxe_option_server(serverid, server);
	require_gcs(server);
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
		Datum		values[5];
		bool		nulls[5] = {false};

		values[0] = CStringGetTextDatum(o->name);
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
 * luxeImportForeignSchema
 *		IMPORT FOREIGN SCHEMA "gs://bucket/prefix/" FROM SERVER ... INTO ...:
 *		see import.c.
 */
static List *
luxeImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	LuxeServerOptions *server = palloc(sizeof(LuxeServerOptions));
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;

	luxe_option_server(serverOid, server);
	if (server->service == LUXE_SERVICE_BIGQUERY)
		return luxe_bq_import_schema(stmt, serverOid);
	luxe_gcs_client_init(&client, &stats, server, serverOid, GetUserId());
	return luxe_import_gcs_schema(stmt, &client, server->servername);
}

/*
 * Parallel scans.  Objects, not byte ranges, are the unit of work: a CSV
 * record boundary cannot be found safely from the middle of an object when
 * quoted line breaks are allowed.  The leader lists once and shares the
 * listing, so workers never list again and all read the pinned generations.
 */

/* object fields, NUL-separated: bucket, name, size, generation, encoding, crc32c */
static void
serialize_objects(LuxeFdwScanState *st)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, st->objects)
	{
		LuxeGcsObject *o = lfirst(lc);

		appendStringInfo(&buf, "%s%c%s%c" INT64_FORMAT "%c" INT64_FORMAT "%c%s%c%s%c",
						 o->bucket, 0, o->name, 0, o->size, 0, o->generation, 0,
						 o->content_encoding ? o->content_encoding : "", 0,
						 o->crc32c ? o->crc32c : "", 0);
	}
	st->serialized = buf.data;
	st->serialized_len = buf.len;
}

static List *
deserialize_objects(const char *p, Size len)
{
	const char *end = p + len;
	List	   *result = NIL;

	while (p < end)
	{
		LuxeGcsObject *o = palloc0(sizeof(LuxeGcsObject));
		const char *f[6];
		int			i;

		for (i = 0; i < 6; i++)
		{
			f[i] = p;
			p += strlen(p) + 1;
		}
		o->bucket = pstrdup(f[0]);
		o->name = pstrdup(f[1]);
		o->size = strtoll(f[2], NULL, 10);
		o->generation = strtoll(f[3], NULL, 10);
		o->content_encoding = f[4][0] ? pstrdup(f[4]) : NULL;
		o->crc32c = f[5][0] ? pstrdup(f[5]) : NULL;
		result = lappend(result, o);
	}
	return result;
}

static Size
luxeEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) node->fdw_state;
	MemoryContext old = MemoryContextSwitchTo(st->scan_cxt);

	ensure_listed(st);
	serialize_objects(st);
	MemoryContextSwitchTo(old);
	return offsetof(LuxeParallelShared, data) + st->serialized_len;
}

static void
luxeInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
							 void *coordinate)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) node->fdw_state;
	LuxeParallelShared *shared = (LuxeParallelShared *) coordinate;

	pg_atomic_init_u32(&shared->next_object, 0);
	pg_atomic_init_u64(&shared->worker_bytes, 0);
	pg_atomic_init_u64(&shared->worker_requests, 0);
	pg_atomic_init_u64(&shared->worker_retries, 0);
	pg_atomic_init_u64(&shared->worker_rows, 0);
	shared->len = st->serialized_len;
	memcpy(shared->data, st->serialized, st->serialized_len);
	st->shared = shared;
}

static void
luxeReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
							   void *coordinate)
{
	LuxeParallelShared *shared = (LuxeParallelShared *) coordinate;

	pg_atomic_write_u32(&shared->next_object, 0);
}

static void
luxeInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc,
								void *coordinate)
{
	LuxeFdwScanState *st = (LuxeFdwScanState *) node->fdw_state;
	LuxeParallelShared *shared = (LuxeParallelShared *) coordinate;
	MemoryContext old = MemoryContextSwitchTo(st->scan_cxt);

	st->objects = deserialize_objects(shared->data, shared->len);
	st->listed = true;
	st->shared = shared;
	MemoryContextSwitchTo(old);
}

/* ---------------------------------------------------------------------
 * INSERT (and COPY FROM, and tuple routing into foreign partitions)
 * ---------------------------------------------------------------------
 */

/* ri_FdwState of a luxe_fdw result relation. */
typedef struct LuxeModifyState
{
	LuxeService service;
	void	   *state;			/* gcs_modify.c's */
} LuxeModifyState;

/*
 * luxeIsForeignRelUpdatable
 *		Both services take INSERT; rows in GCS objects and BigQuery tables
 *		have no identity luxe_fdw could UPDATE or DELETE by.
 */
static int
luxeIsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT);
}

static void
modify_begin(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	Relation	rel = rinfo->ri_RelationDesc;
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	LuxeServerOptions *server = palloc(sizeof(LuxeServerOptions));
	LuxeModifyState *ms = palloc0(sizeof(LuxeModifyState));

	luxe_option_server(table->serverid, server);
	ms->service = server->service;
	if (server->service == LUXE_SERVICE_BIGQUERY)
		ms->state = luxe_bq_begin_insert(mtstate, rinfo);
	else
		ms->state = luxe_gcs_begin_insert(mtstate, rinfo, server);
	rinfo->ri_FdwState = ms;
}

static void
luxeBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					   List *fdw_private, int subplan_index, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	modify_begin(mtstate, rinfo);
}

static void
luxeBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	modify_begin(mtstate, rinfo);
}

static TupleTableSlot *
luxeExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					  TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	LuxeModifyState *ms = (LuxeModifyState *) rinfo->ri_FdwState;

	if (ms->service == LUXE_SERVICE_BIGQUERY)
		return luxe_bq_exec_insert(ms->state, slot);
	return luxe_gcs_exec_insert(ms->state, slot);
}

static void
luxeEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	LuxeModifyState *ms = (LuxeModifyState *) rinfo->ri_FdwState;

	if (ms && ms->service == LUXE_SERVICE_BIGQUERY)
		luxe_bq_end_insert(ms->state);
	else if (ms)
		luxe_gcs_end_insert(ms->state);
}

static void
luxeEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	luxeEndForeignModify(estate, rinfo);
}

static void
luxeExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						 List *fdw_private, int subplan_index, ExplainState *es)
{
	Oid			relid = RelationGetRelid(rinfo->ri_RelationDesc);

	if (is_bigquery_server(GetForeignServerIdByRelId(relid)))
	{
		LuxeServerOptions server;
		LuxeBqTableOptions topts;

		luxe_option_server(GetForeignServerIdByRelId(relid), &server);
		luxe_option_bq_table(relid, &server, &topts);
		ExplainPropertyText("BigQuery Table",
							psprintf("%s.%s.%s", topts.project, topts.dataset ? topts.dataset : "",
									 topts.table ? topts.table : ""), es);
		ExplainPropertyText("Write Method", topts.write_method, es);
		return;
	}
	ExplainPropertyText("GCS Object Pattern",
						luxe_gcs_insert_target(rinfo->ri_RelationDesc), es);
}

/* ---------------------------------------------------------------------
 * BigQuery only: join and upper-relation pushdown, TRUNCATE
 * ---------------------------------------------------------------------
 */

static bool
is_bigquery_server(Oid serverid)
{
	ForeignServer *server;
	ListCell   *lc;

	if (!OidIsValid(serverid))
		return false;
	server = GetForeignServer(serverid);
	foreach(lc, server->options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, OPT_SERVICE) == 0)
			return strcmp(defGetString(d), "bigquery") == 0;
	}
	return false;
}

static void
luxeGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel,
						RelOptInfo *outerrel, RelOptInfo *innerrel,
						JoinType jointype, JoinPathExtraData *extra)
{
	if (is_bigquery_server(joinrel->serverid))
		luxe_bq_get_join_paths(root, joinrel, outerrel, innerrel, jointype, extra);
}

static void
luxeGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
						 RelOptInfo *input_rel, RelOptInfo *output_rel,
						 void *extra)
{
	if (is_bigquery_server(input_rel->serverid))
		luxe_bq_get_upper_paths(root, stage, input_rel, output_rel, extra);
}

static void
luxeExecForeignTruncate(List *rels, DropBehavior behavior, bool restart_seqs)
{
	ListCell   *lc;

	foreach(lc, rels)
	{
		Relation	rel = (Relation) lfirst(lc);

		if (!is_bigquery_server(GetForeignServerIdByRelId(RelationGetRelid(rel))))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot truncate foreign table \"%s\"", RelationGetRelationName(rel)),
					 errdetail("GCS foreign tables are read and appended to, never rewritten.")));
	}
	luxe_bq_truncate(rels);
}

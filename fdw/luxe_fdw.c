/*-------------------------------------------------------------------------
 *
 * luxe_fdw.c
 *		  Foreign-data wrapper for CSV objects in Google Cloud Storage and
 *		  tables in BigQuery: the handler, and the dispatch of every
 *		  callback to the service a relation belongs to.
 *
 * Design assumptions and invariants:
 * - A relation's service is its server's "service" option.  It is
 *   resolved once, by resolve_service() below (through option.c), when the
 *   planner first asks about the relation, and recorded where every later
 *   callback finds it: in the relation's LuxeRelInfo (RelOptInfo
 *   fdw_private; join and upper relations inherit it from their inputs),
 *   at the head of the ForeignScan's fdw_private, and in the LuxeExecState
 *   of a scan or a modification (luxe_fdw.h).  No other code decides it.
 * - Each service implements its callbacks in its own files (gcs_*.c,
 *   bq_*.c) and is described by a LuxeServiceRoutine below; a NULL entry
 *   means the service does not do that (GCS pushes nothing down, so it has
 *   no join or upper paths; BigQuery scans are one remote job, so they are
 *   not parallel).
 * - Executor callbacks hand the service the state its begin function
 *   returned; the service never sees the LuxeExecState.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/luxe_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "nodes/makefuncs.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "auth.h"
#include "bq_fdw.h"
#include "gcs_fdw.h"
#include "http.h"
#include "luxe_fdw.h"
#include "option.h"

PG_MODULE_MAGIC;

/* A service's implementation of the callbacks. */
typedef struct LuxeServiceRoutine
{
	/* planning: the service keeps its state in the relation's LuxeRelInfo */
	void		(*rel_size) (PlannerInfo *root, RelOptInfo *baserel, Oid relid);
	void		(*paths) (PlannerInfo *root, RelOptInfo *baserel, Oid relid);
	ForeignScan *(*plan) (PlannerInfo *root, RelOptInfo *rel, Oid relid,
						  ForeignPath *best_path, List *tlist,
						  List *scan_clauses, Plan *outer_plan);
	GetForeignJoinPaths_function join_paths;
	GetForeignUpperPaths_function upper_paths;
	IsForeignScanParallelSafe_function parallel_safe;

	/* scans: state is what scan_begin returned (NULL for EXPLAIN only) */
	void	   *(*scan_begin) (ForeignScanState *node, int eflags);
	TupleTableSlot *(*scan_iterate) (ForeignScanState *node, void *state);
	void		(*scan_rescan) (ForeignScanState *node, void *state);
	void		(*scan_end) (ForeignScanState *node, void *state);
	void		(*scan_explain) (ForeignScanState *node, void *state, ExplainState *es);

	/* parallel scans */
	Size		(*estimate_dsm) (ForeignScanState *node, void *state);
	void		(*initialize_dsm) (ForeignScanState *node, void *state, void *coordinate);
	void		(*reinitialize_dsm) (ForeignScanState *node, void *state, void *coordinate);
	void		(*initialize_worker) (ForeignScanState *node, void *state, void *coordinate);
	void		(*shutdown) (ForeignScanState *node, void *state);

	/* INSERT (and COPY FROM, and tuple routing), TRUNCATE */
	void	   *(*modify_begin) (ModifyTableState *mtstate, ResultRelInfo *rinfo);
	TupleTableSlot *(*modify_insert) (void *state, TupleTableSlot *slot);
	void		(*modify_end) (void *state);
	void		(*modify_explain) (Relation rel, ExplainState *es);
	void		(*truncate) (List *rels);

	/* ANALYZE, IMPORT FOREIGN SCHEMA */
	AnalyzeForeignTable_function analyze;
	List	   *(*import_schema) (ImportForeignSchemaStmt *stmt, Oid serverid);
} LuxeServiceRoutine;

static const LuxeServiceRoutine gcs_routine = {
	.rel_size = luxe_gcs_plan_rel_size,
	.paths = luxe_gcs_plan_paths,
	.plan = luxe_gcs_plan_plan,
	.join_paths = NULL,
	.upper_paths = NULL,
	.parallel_safe = luxe_gcs_plan_parallel_safe,
	.scan_begin = luxe_gcs_scan_begin,
	.scan_iterate = luxe_gcs_scan_iterate,
	.scan_rescan = luxe_gcs_scan_rescan,
	.scan_end = luxe_gcs_scan_end,
	.scan_explain = luxe_gcs_scan_explain,
	.estimate_dsm = luxe_gcs_scan_estimate_dsm,
	.initialize_dsm = luxe_gcs_scan_initialize_dsm,
	.reinitialize_dsm = luxe_gcs_scan_reinitialize_dsm,
	.initialize_worker = luxe_gcs_scan_initialize_worker,
	.shutdown = luxe_gcs_scan_shutdown,
	.modify_begin = luxe_gcs_modify_begin,
	.modify_insert = luxe_gcs_modify_insert,
	.modify_end = luxe_gcs_modify_end,
	.modify_explain = luxe_gcs_modify_explain,
	.truncate = NULL,
	.analyze = luxe_gcs_scan_analyze,
	.import_schema = luxe_gcs_import_schema,
};

static const LuxeServiceRoutine bq_routine = {
	.rel_size = luxe_bq_plan_rel_size,
	.paths = luxe_bq_plan_paths,
	.plan = luxe_bq_plan_plan,
	.join_paths = luxe_bq_plan_join_paths,
	.upper_paths = luxe_bq_plan_upper_paths,
	.parallel_safe = NULL,
	.scan_begin = luxe_bq_scan_begin,
	.scan_iterate = luxe_bq_scan_iterate,
	.scan_rescan = luxe_bq_scan_rescan,
	.scan_end = luxe_bq_scan_end,
	.scan_explain = luxe_bq_scan_explain,
	.estimate_dsm = NULL,
	.initialize_dsm = NULL,
	.reinitialize_dsm = NULL,
	.initialize_worker = NULL,
	.shutdown = NULL,
	.modify_begin = luxe_bq_modify_begin,
	.modify_insert = luxe_bq_modify_insert,
	.modify_end = luxe_bq_modify_end,
	.modify_explain = luxe_bq_modify_explain,
	.truncate = luxe_bq_modify_truncate,
	.analyze = luxe_bq_scan_analyze,
	.import_schema = luxe_bq_import_schema,
};

/* ri_FdwState and fdw_state: the service and its executor state. */
typedef struct LuxeExecState
{
	LuxeService service;
	void	   *state;
} LuxeExecState;

PG_FUNCTION_INFO_V1(luxe_fdw_handler);

void		_PG_init(void);

/*
 * FDW callback routines
 */
static void luxeGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								  Oid foreigntableid);
static void luxeGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								Oid foreigntableid);
static ForeignScan *luxeGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel,
									   Oid foreigntableid, ForeignPath *best_path,
									   List *tlist, List *scan_clauses,
									   Plan *outer_plan);
static void luxeBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *luxeIterateForeignScan(ForeignScanState *node);
static void luxeReScanForeignScan(ForeignScanState *node);
static void luxeEndForeignScan(ForeignScanState *node);
static int	luxeIsForeignRelUpdatable(Relation rel);
static void luxeBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								   List *fdw_private, int subplan_index, int eflags);
static TupleTableSlot *luxeExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
											 TupleTableSlot *slot,
											 TupleTableSlot *planSlot);
static void luxeEndForeignModify(EState *estate, ResultRelInfo *rinfo);
static void luxeBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo);
static void luxeEndForeignInsert(EState *estate, ResultRelInfo *rinfo);
static void luxeExecForeignTruncate(List *rels, DropBehavior behavior,
									bool restart_seqs);
static void luxeExplainForeignScan(ForeignScanState *node, ExplainState *es);
static void luxeExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
									 List *fdw_private, int subplan_index,
									 ExplainState *es);
static bool luxeAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
									BlockNumber *totalpages);
static List *luxeImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);
static void luxeGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel,
									RelOptInfo *outerrel, RelOptInfo *innerrel,
									JoinType jointype, JoinPathExtraData *extra);
static void luxeGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
									 RelOptInfo *input_rel, RelOptInfo *output_rel,
									 void *extra);
static bool luxeIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
										  RangeTblEntry *rte);
static Size luxeEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt);
static void luxeInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
										 void *coordinate);
static void luxeReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
										   void *coordinate);
static void luxeInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc,
											void *coordinate);
static void luxeShutdownForeignScan(ForeignScanState *node);

/*
 * Helper functions
 */
static LuxeService resolve_service(Oid serverid);
static const LuxeServiceRoutine *routine_of(LuxeService service);
static LuxeRelInfo *base_relinfo(RelOptInfo *baserel);
static LuxeRelInfo *derived_relinfo(RelOptInfo *rel, RelOptInfo *from);
static LuxeExecState *scan_exec_state(ForeignScanState *node);
static LuxeExecState *modify_exec_state(ResultRelInfo *rinfo);

void
_PG_init(void)
{
	DefineCustomIntVariable("luxe_fdw.parse_chunk_size",
							"Largest piece of network data handed to the CSV parser at once.",
							"Zero feeds whatever arrived.  Small values exercise records and fields that straddle chunk boundaries; for testing.",
							&luxe_gcs_parse_chunk_size,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("luxe_fdw.parallel_range_size",
							"Size of the byte ranges a parallel scan splits a large GCS object into.",
							"Each parallel worker parses the ranges it claims; record boundaries are agreed exactly, quoted line breaks included.  Small values exercise range boundaries; for testing.",
							&luxe_gcs_parallel_range_size,
							8 * 1024 * 1024, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("luxe_fdw.bigquery_page_size",
							"Rows asked for per page of BigQuery query results.",
							"BigQuery also caps a page at about 10 MB.  Memory holds one page at a time.",
							&luxe_bq_page_size,
							50000, 1, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("luxe_fdw.metadata_host",
							   "Host (and port) of the GCE metadata server for auth 'metadata'.",
							   "Empty: GCE_METADATA_HOST in the server's environment, else metadata.google.internal.  Only superusers may set it: it says where credentials come from.",
							   &luxe_auth_metadata_host,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("luxe_fdw.allowed_endpoints",
							   "Hosts besides Google's that servers owned by roles other than superusers may send requests to.",
							   "Comma-separated: host, host:port, [IPv6]:port or *.domain.  Google's API hosts (https://*.googleapis.com) are always allowed.  Only superusers may set it.",
							   &luxe_http_allowed_endpoints,
							   "",
							   PGC_SUSET, GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("luxe_fdw");
	luxe_http_init();
}

/*
 * Foreign-data wrapper handler function: return a struct with pointers
 * to the callback routines, grouped as postgres_fdw groups them.
 */
Datum
luxe_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	/* Functions for scanning foreign tables */
	routine->GetForeignRelSize = luxeGetForeignRelSize;
	routine->GetForeignPaths = luxeGetForeignPaths;
	routine->GetForeignPlan = luxeGetForeignPlan;
	routine->BeginForeignScan = luxeBeginForeignScan;
	routine->IterateForeignScan = luxeIterateForeignScan;
	routine->ReScanForeignScan = luxeReScanForeignScan;
	routine->EndForeignScan = luxeEndForeignScan;

	/* Functions for updating foreign tables */
	routine->IsForeignRelUpdatable = luxeIsForeignRelUpdatable;
	routine->BeginForeignModify = luxeBeginForeignModify;
	routine->ExecForeignInsert = luxeExecForeignInsert;
	routine->EndForeignModify = luxeEndForeignModify;
	routine->BeginForeignInsert = luxeBeginForeignInsert;
	routine->EndForeignInsert = luxeEndForeignInsert;
	routine->ExecForeignTruncate = luxeExecForeignTruncate;

	/* Support functions for EXPLAIN */
	routine->ExplainForeignScan = luxeExplainForeignScan;
	routine->ExplainForeignModify = luxeExplainForeignModify;

	/* Support functions for ANALYZE */
	routine->AnalyzeForeignTable = luxeAnalyzeForeignTable;

	/* Support functions for IMPORT FOREIGN SCHEMA */
	routine->ImportForeignSchema = luxeImportForeignSchema;

	/* Support functions for join push-down */
	routine->GetForeignJoinPaths = luxeGetForeignJoinPaths;

	/* Support functions for upper relation push-down */
	routine->GetForeignUpperPaths = luxeGetForeignUpperPaths;

	/* Support functions for parallel scans */
	routine->IsForeignScanParallelSafe = luxeIsForeignScanParallelSafe;
	routine->EstimateDSMForeignScan = luxeEstimateDSMForeignScan;
	routine->InitializeDSMForeignScan = luxeInitializeDSMForeignScan;
	routine->ReInitializeDSMForeignScan = luxeReInitializeDSMForeignScan;
	routine->InitializeWorkerForeignScan = luxeInitializeWorkerForeignScan;
	routine->ShutdownForeignScan = luxeShutdownForeignScan;

	PG_RETURN_POINTER(routine);
}

/* ---------------------------------------------------------------------
 * The service of a relation
 * ---------------------------------------------------------------------
 */

/*
 * resolve_service
 *		The service of a server: the one decision, made through option.c.
 *		Throws if the server has no "service" option.
 */
static LuxeService
resolve_service(Oid serverid)
{
	return luxe_option_service(serverid);
}

static const LuxeServiceRoutine *
routine_of(LuxeService service)
{
	switch (service)
	{
		case LUXE_SERVICE_GCS:
			return &gcs_routine;
		case LUXE_SERVICE_BIGQUERY:
			return &bq_routine;
	}
	elog(ERROR, "luxe_fdw: unrecognized service %d", (int) service);
	return NULL;				/* keep compiler quiet */
}

/*
 * The LuxeRelInfo of a base relation, made (and its service resolved) by
 * the first callback that asks; IsForeignScanParallelSafe comes before
 * GetForeignRelSize.
 */
static LuxeRelInfo *
base_relinfo(RelOptInfo *baserel)
{
	if (baserel->fdw_private == NULL)
	{
		LuxeRelInfo *info = palloc0(sizeof(LuxeRelInfo));

		info->service = resolve_service(baserel->serverid);
		baserel->fdw_private = info;
	}
	return (LuxeRelInfo *) baserel->fdw_private;
}

/*
 * The LuxeRelInfo of a join or upper relation: the service of the input
 * relation from, which the planner only combines with relations of the
 * same server.  NULL when from was never planned by us.
 */
static LuxeRelInfo *
derived_relinfo(RelOptInfo *rel, RelOptInfo *from)
{
	LuxeRelInfo *input = (LuxeRelInfo *) from->fdw_private;

	if (input == NULL)
		return NULL;
	if (rel->fdw_private == NULL)
	{
		LuxeRelInfo *info = palloc0(sizeof(LuxeRelInfo));

		info->service = input->service;
		rel->fdw_private = info;
	}
	return (LuxeRelInfo *) rel->fdw_private;
}

static LuxeExecState *
scan_exec_state(ForeignScanState *node)
{
	return (LuxeExecState *) node->fdw_state;
}

static LuxeExecState *
modify_exec_state(ResultRelInfo *rinfo)
{
	return (LuxeExecState *) rinfo->ri_FdwState;
}

/* ---------------------------------------------------------------------
 * Scans
 * ---------------------------------------------------------------------
 */

/*
 * luxeGetForeignRelSize
 *		Resolve the relation's service, then let the service size it.
 */
static void
luxeGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	routine_of(base_relinfo(baserel)->service)->rel_size(root, baserel, foreigntableid);
}

static void
luxeGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	routine_of(base_relinfo(baserel)->service)->paths(root, baserel, foreigntableid);
}

/*
 * luxeGetForeignPlan
 *		The service builds the ForeignScan; its fdw_private becomes the
 *		second item of ours, after the service (luxe_fdw.h).
 */
static ForeignScan *
luxeGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel, Oid foreigntableid,
				   ForeignPath *best_path, List *tlist, List *scan_clauses,
				   Plan *outer_plan)
{
	LuxeRelInfo *info = (LuxeRelInfo *) foreignrel->fdw_private;
	ForeignScan *plan;

	plan = routine_of(info->service)->plan(root, foreignrel, foreigntableid, best_path,
										   tlist, scan_clauses, outer_plan);
	plan->fdw_private = list_make2(makeInteger(info->service), plan->fdw_private);
	return plan;
}

/*
 * luxeBeginForeignScan
 *		Record the plan's service and the service's state.  Nothing touches
 *		the network before the first row is asked for.
 */
static void
luxeBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	LuxeExecState *es = palloc0(sizeof(LuxeExecState));

	es->service = (LuxeService) intVal(list_nth(plan->fdw_private, LUXE_PLAN_SERVICE));
	node->fdw_state = es;
	es->state = routine_of(es->service)->scan_begin(node, eflags);
}

static TupleTableSlot *
luxeIterateForeignScan(ForeignScanState *node)
{
	LuxeExecState *es = scan_exec_state(node);

	return routine_of(es->service)->scan_iterate(node, es->state);
}

static void
luxeReScanForeignScan(ForeignScanState *node)
{
	LuxeExecState *es = scan_exec_state(node);

	routine_of(es->service)->scan_rescan(node, es->state);
}

static void
luxeEndForeignScan(ForeignScanState *node)
{
	LuxeExecState *es = scan_exec_state(node);

	if (es)
		routine_of(es->service)->scan_end(node, es->state);
}

/* ---------------------------------------------------------------------
 * Writes
 * ---------------------------------------------------------------------
 */

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

/*
 * Record the service of a result relation; begin the service's INSERT
 * unless this is EXPLAIN without ANALYZE.
 */
static void
modify_begin(ModifyTableState *mtstate, ResultRelInfo *rinfo, bool explain_only)
{
	LuxeExecState *es = palloc0(sizeof(LuxeExecState));
	Relation	rel = rinfo->ri_RelationDesc;

	es->service = resolve_service(GetForeignServerIdByRelId(RelationGetRelid(rel)));
	rinfo->ri_FdwState = es;
	if (!explain_only)
		es->state = routine_of(es->service)->modify_begin(mtstate, rinfo);
}

static void
luxeBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					   List *fdw_private, int subplan_index, int eflags)
{
	modify_begin(mtstate, rinfo, (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0);
}

static TupleTableSlot *
luxeExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					  TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	LuxeExecState *es = modify_exec_state(rinfo);

	return routine_of(es->service)->modify_insert(es->state, slot);
}

static void
luxeEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	LuxeExecState *es = modify_exec_state(rinfo);

	if (es && es->state)
		routine_of(es->service)->modify_end(es->state);
}

/* COPY FROM and tuple routing into foreign partitions */
static void
luxeBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	modify_begin(mtstate, rinfo, false);
}

static void
luxeEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	luxeEndForeignModify(estate, rinfo);
}

/*
 * luxeExecForeignTruncate
 *		TRUNCATE of foreign tables of one server: BigQuery tables only; a
 *		GCS object is read and appended to, never rewritten.
 */
static void
luxeExecForeignTruncate(List *rels, DropBehavior behavior, bool restart_seqs)
{
	Relation	first = (Relation) linitial(rels);
	LuxeService service = resolve_service(GetForeignServerIdByRelId(RelationGetRelid(first)));
	const LuxeServiceRoutine *routine = routine_of(service);

	if (routine->truncate == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot truncate foreign table \"%s\"", RelationGetRelationName(first)),
				 errdetail("GCS foreign tables are read and appended to, never rewritten.")));
	routine->truncate(rels);
}

/* ---------------------------------------------------------------------
 * EXPLAIN
 * ---------------------------------------------------------------------
 */

static void
luxeExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	LuxeExecState *st = scan_exec_state(node);

	routine_of(st->service)->scan_explain(node, st->state, es);
}

static void
luxeExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						 List *fdw_private, int subplan_index, ExplainState *es)
{
	LuxeExecState *st = modify_exec_state(rinfo);

	routine_of(st->service)->modify_explain(rinfo->ri_RelationDesc, es);
}

/* ---------------------------------------------------------------------
 * ANALYZE and IMPORT FOREIGN SCHEMA
 * ---------------------------------------------------------------------
 */

static bool
luxeAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
						BlockNumber *totalpages)
{
	LuxeService service = resolve_service(GetForeignServerIdByRelId(RelationGetRelid(relation)));

	return routine_of(service)->analyze(relation, func, totalpages);
}

static List *
luxeImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	return routine_of(resolve_service(serverOid))->import_schema(stmt, serverOid);
}

/* ---------------------------------------------------------------------
 * Join and upper-relation push-down
 * ---------------------------------------------------------------------
 */

static void
luxeGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel,
						RelOptInfo *outerrel, RelOptInfo *innerrel,
						JoinType jointype, JoinPathExtraData *extra)
{
	LuxeRelInfo *info;
	const LuxeServiceRoutine *routine;

	if (outerrel->fdw_private == NULL)
		return;
	routine = routine_of(((LuxeRelInfo *) outerrel->fdw_private)->service);
	if (routine->join_paths == NULL)
		return;
	info = derived_relinfo(joinrel, outerrel);
	if (info)
		routine->join_paths(root, joinrel, outerrel, innerrel, jointype, extra);
}

static void
luxeGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
						 RelOptInfo *input_rel, RelOptInfo *output_rel,
						 void *extra)
{
	const LuxeServiceRoutine *routine;

	if (input_rel->fdw_private == NULL)
		return;
	routine = routine_of(((LuxeRelInfo *) input_rel->fdw_private)->service);
	if (routine->upper_paths == NULL)
		return;
	if (derived_relinfo(output_rel, input_rel))
		routine->upper_paths(root, stage, input_rel, output_rel, extra);
}

/* ---------------------------------------------------------------------
 * Parallel scans
 * ---------------------------------------------------------------------
 */

/*
 * luxeIsForeignScanParallelSafe
 *		Called before GetForeignRelSize, so the service is resolved here.
 */
static bool
luxeIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel,
							  RangeTblEntry *rte)
{
	const LuxeServiceRoutine *routine = routine_of(base_relinfo(rel)->service);

	return routine->parallel_safe != NULL && routine->parallel_safe(root, rel, rte);
}

static Size
luxeEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt)
{
	LuxeExecState *es = scan_exec_state(node);

	return routine_of(es->service)->estimate_dsm(node, es->state);
}

static void
luxeInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
							 void *coordinate)
{
	LuxeExecState *es = scan_exec_state(node);

	routine_of(es->service)->initialize_dsm(node, es->state, coordinate);
}

static void
luxeReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt,
							   void *coordinate)
{
	LuxeExecState *es = scan_exec_state(node);

	routine_of(es->service)->reinitialize_dsm(node, es->state, coordinate);
}

static void
luxeInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc,
								void *coordinate)
{
	LuxeExecState *es = scan_exec_state(node);

	routine_of(es->service)->initialize_worker(node, es->state, coordinate);
}

static void
luxeShutdownForeignScan(ForeignScanState *node)
{
	LuxeExecState *es = scan_exec_state(node);

	if (es && routine_of(es->service)->shutdown)
		routine_of(es->service)->shutdown(node, es->state);
}

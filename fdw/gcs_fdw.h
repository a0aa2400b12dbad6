/*-------------------------------------------------------------------------
 *
 * gcs_fdw.h
 *		  The GCS side of luxe_fdw's callbacks: what luxe_fdw.c dispatches
 *		  to for foreign tables of servers with service 'gcs'.
 *
 * The executor callbacks take the state their begin function returned;
 * planner state lives in the relation's LuxeRelInfo (luxe_fdw.h).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs_fdw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_GCS_FDW_H
#define LUXE_GCS_FDW_H

#include "commands/explain.h"
#include "foreign/fdwapi.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"

/* A row skipped under max_bad_records, for luxe.last_scan_rejects(). */
typedef struct LuxeGcsReject
{
	char	   *table_name;
	char	   *object;
	int64		line;
	char	   *column;			/* NULL for a row-level problem */
	char	   *reason;
} LuxeGcsReject;

/* in gcs_plan.c */
extern void luxe_gcs_plan_rel_size(PlannerInfo *root, RelOptInfo *baserel,
								   Oid relid);
extern void luxe_gcs_plan_paths(PlannerInfo *root, RelOptInfo *baserel,
								Oid relid);
extern ForeignScan *luxe_gcs_plan_plan(PlannerInfo *root, RelOptInfo *baserel,
									   Oid relid, ForeignPath *best_path,
									   List *tlist, List *scan_clauses,
									   Plan *outer_plan);
extern bool luxe_gcs_plan_parallel_safe(PlannerInfo *root, RelOptInfo *rel,
										RangeTblEntry *rte);

/* in gcs_scan.c */
extern int	luxe_gcs_parse_chunk_size;
extern int	luxe_gcs_parallel_range_size;
extern bool luxe_gcs_last_scan_timings(int64 *fetch_us, int64 *parse_us, int64 *convert_us,
									   int64 *rows);
extern void *luxe_gcs_scan_begin(ForeignScanState *node, int eflags);
extern TupleTableSlot *luxe_gcs_scan_iterate(ForeignScanState *node, void *state);
extern void luxe_gcs_scan_rescan(ForeignScanState *node, void *state);
extern void luxe_gcs_scan_end(ForeignScanState *node, void *state);
extern void luxe_gcs_scan_explain(ForeignScanState *node, void *state,
								  ExplainState *es);
extern Size luxe_gcs_scan_estimate_dsm(ForeignScanState *node, void *state);
extern void luxe_gcs_scan_initialize_dsm(ForeignScanState *node, void *state,
										 void *coordinate);
extern void luxe_gcs_scan_reinitialize_dsm(ForeignScanState *node, void *state,
										   void *coordinate);
extern void luxe_gcs_scan_initialize_worker(ForeignScanState *node, void *state,
											void *coordinate);
extern void luxe_gcs_scan_shutdown(ForeignScanState *node, void *state);
extern bool luxe_gcs_scan_analyze(Relation relation, AcquireSampleRowsFunc *func,
								  BlockNumber *totalpages);
extern int	luxe_gcs_scan_rejects(const LuxeGcsReject **rejects);

/* in gcs_modify.c */
extern void *luxe_gcs_modify_begin(ModifyTableState *mtstate, ResultRelInfo *rinfo);
extern TupleTableSlot *luxe_gcs_modify_insert(void *state, TupleTableSlot *slot);
extern void luxe_gcs_modify_end(void *state);
extern void luxe_gcs_modify_explain(Relation rel, ExplainState *es);

/* in gcs_import.c */
extern List *luxe_gcs_import_schema(ImportForeignSchemaStmt *stmt, Oid serverid);

#endif							/* LUXE_GCS_FDW_H */

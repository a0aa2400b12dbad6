/*-------------------------------------------------------------------------
 *
 * bq_fdw.h
 *		  The BigQuery side of luxe_fdw's callbacks: what luxe_fdw.c
 *		  dispatches to for foreign tables of servers with service
 *		  'bigquery'.
 *
 * The executor callbacks take the state their begin function returned;
 * planner state lives in the relation's LuxeRelInfo (luxe_fdw.h).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_fdw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_BQ_FDW_H
#define LUXE_BQ_FDW_H

#include "commands/explain.h"
#include "foreign/fdwapi.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"

/* in bq_plan.c */
extern void luxe_bq_plan_rel_size(PlannerInfo *root, RelOptInfo *baserel,
								  Oid relid);
extern void luxe_bq_plan_paths(PlannerInfo *root, RelOptInfo *baserel,
							   Oid relid);
extern ForeignScan *luxe_bq_plan_plan(PlannerInfo *root, RelOptInfo *foreignrel,
									  Oid relid, ForeignPath *best_path,
									  List *tlist, List *scan_clauses,
									  Plan *outer_plan);
extern void luxe_bq_plan_join_paths(PlannerInfo *root, RelOptInfo *joinrel,
									RelOptInfo *outerrel, RelOptInfo *innerrel,
									JoinType jointype, JoinPathExtraData *extra);
extern void luxe_bq_plan_upper_paths(PlannerInfo *root, UpperRelationKind stage,
									 RelOptInfo *input_rel, RelOptInfo *output_rel,
									 void *extra);

/* in bq_scan.c */
extern int	luxe_bq_page_size;
extern void *luxe_bq_scan_begin(ForeignScanState *node, int eflags);
extern TupleTableSlot *luxe_bq_scan_iterate(ForeignScanState *node, void *state);
extern void luxe_bq_scan_rescan(ForeignScanState *node, void *state);
extern void luxe_bq_scan_end(ForeignScanState *node, void *state);
extern void luxe_bq_scan_explain(ForeignScanState *node, void *state,
								 ExplainState *es);
extern bool luxe_bq_scan_analyze(Relation relation, AcquireSampleRowsFunc *func,
								 BlockNumber *totalpages);

/* in bq_modify.c */
extern void *luxe_bq_modify_begin(ModifyTableState *mtstate, ResultRelInfo *rinfo);
extern TupleTableSlot *luxe_bq_modify_insert(void *state, TupleTableSlot *slot);
extern void luxe_bq_modify_end(void *state);
extern void luxe_bq_modify_explain(Relation rel, ExplainState *es);
extern void luxe_bq_modify_truncate(List *rels);
extern int	luxe_bq_modify_flush(void);

/* in bq_import.c */
extern List *luxe_bq_import_schema(ImportForeignSchemaStmt *stmt, Oid serverid);

#endif							/* LUXE_BQ_FDW_H */

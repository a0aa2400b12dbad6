/*-------------------------------------------------------------------------
 *
 * bq_plan.h
 *		  Planning of BigQuery foreign scans: paths, costs, and the
 *		  pushdown of WHERE, ORDER BY, LIMIT, aggregates and joins.
 *
 * Contract between the planner side (bq_plan.c, deparse.c) and the
 * executor side (bq_fdw.c) -- the ForeignScan the planner builds carries:
 *
 *	fdw_private, a List:
 *	  [BQ_PRIV_SQL]		   String: the remote Standard SQL, parameters
 *						   written @p1, @p2, ... (never inlined values)
 *	  [BQ_PRIV_ATTRS]	   IntList: for each column of the remote result, in
 *						   order, the attribute number it fills in the scan
 *						   tuple (a relation attnum for a base-table scan;
 *						   a 1-based fdw_scan_tlist position for a join or
 *						   an upper relation)
 *	  [BQ_PRIV_PARAMTYPES] List of String: the BigQuery type of each
 *						   parameter, in order ("INT64", "FLOAT64",
 *						   "NUMERIC", "BOOL", "STRING", "BYTES", "DATE",
 *						   "DATETIME", "TIME", "TIMESTAMP", "JSON", or
 *						   "ARRAY<T>" for one of those)
 *	  [BQ_PRIV_RELNAME]	   String: a description of the remote relation(s)
 *						   for messages, e.g. "proj.ds.t"
 *	fdw_exprs: the expression of each parameter, in order (@p1 first),
 *	  evaluated by the executor and sent as a typed query parameter.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_BQ_PLAN_H
#define LUXE_BQ_PLAN_H

#include "foreign/fdwapi.h"
#include "nodes/pathnodes.h"

enum LuxeBqPrivateIndex
{
	BQ_PRIV_SQL,
	BQ_PRIV_ATTRS,
	BQ_PRIV_PARAMTYPES,
	BQ_PRIV_RELNAME
};

/* in bq_plan.c */
extern void luxe_bq_get_rel_size(PlannerInfo *root, RelOptInfo *baserel,
								 Oid foreigntableid);
extern void luxe_bq_get_paths(PlannerInfo *root, RelOptInfo *baserel,
							  Oid foreigntableid);
extern ForeignScan *luxe_bq_get_plan(PlannerInfo *root, RelOptInfo *foreignrel,
									 Oid foreigntableid, ForeignPath *best_path,
									 List *tlist, List *scan_clauses,
									 Plan *outer_plan);
extern void luxe_bq_get_join_paths(PlannerInfo *root, RelOptInfo *joinrel,
								   RelOptInfo *outerrel, RelOptInfo *innerrel,
								   JoinType jointype, JoinPathExtraData *extra);
extern void luxe_bq_get_upper_paths(PlannerInfo *root, UpperRelationKind stage,
									RelOptInfo *input_rel, RelOptInfo *output_rel,
									void *extra);

#endif							/* LUXE_BQ_PLAN_H */

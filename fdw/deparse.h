/*-------------------------------------------------------------------------
 *
 * deparse.h
 *		  Shippability checks and BigQuery Standard SQL generation for the
 *		  planner side of BigQuery foreign scans.
 *
 * The per-relation planner state they share, LuxeBqRelInfo, is declared
 * in bq_plan.h.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/deparse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_DEPARSE_H
#define LUXE_DEPARSE_H

#include "lib/stringinfo.h"
#include "nodes/pathnodes.h"

#include "bq_plan.h"


/* in deparse.c */
extern bool luxe_deparse_is_shippable(PlannerInfo *root, RelOptInfo *rel,
									  Expr *expr);
extern bool luxe_deparse_is_groupable(PlannerInfo *root, RelOptInfo *rel,
									  Expr *expr);
extern void luxe_deparse_classify_conds(PlannerInfo *root, RelOptInfo *rel,
										List *conds, List **remote_conds,
										List **local_conds);
extern Expr *luxe_deparse_pathkey_expr(PlannerInfo *root, RelOptInfo *rel,
									   PathKey *pathkey);
extern const char *luxe_deparse_bq_type(Oid typid);
extern List *luxe_deparse_param_types(List *params);
extern List *luxe_deparse_build_tlist(RelOptInfo *rel);
extern void luxe_deparse_select(StringInfo buf, PlannerInfo *root,
								RelOptInfo *rel, List *tlist,
								List *remote_conds, List *pathkeys,
								bool has_limit, List **retrieved_attrs,
								List **params);

#endif							/* LUXE_DEPARSE_H */

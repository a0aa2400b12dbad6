/*-------------------------------------------------------------------------
 *
 * deparse.h
 *		  Shippability checks and BigQuery Standard SQL generation for the
 *		  planner side of BigQuery foreign scans.
 *
 * LuxeBqRelInfo is the per-relation planner state kept in
 * RelOptInfo->fdw_private of base, join and upper relations that belong to
 * a BigQuery server.  Only bq_plan.c and deparse.c see it; it never reaches
 * the plan (fdw_private of the ForeignScan is the List described in
 * bq_plan.h).
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

/* first field of every LuxeBqRelInfo, so foreign state is never misread */
#define LUXE_BQ_RELINFO_MAGIC	0x4c424951	/* "LBIQ" */

typedef struct LuxeBqRelInfo
{
	uint32		magic;			/* LUXE_BQ_RELINFO_MAGIC */

	/* true when the whole relation can be computed by BigQuery */
	bool		pushdown_safe;
	/* the pushdown option (table, else server); false ships only columns */
	bool		pushdown;

	/*
	 * RestrictInfos: remote_conds go into WHERE (or HAVING for a grouped
	 * rel), local_conds are checked by PostgreSQL.  For a join, joinclauses
	 * go into ON.
	 */
	List	   *remote_conds;
	List	   *local_conds;
	List	   *joinclauses;

	/* base rel: attributes needed from the remote table */
	Bitmapset  *attrs_used;

	/* are all query_pathkeys shippable on this rel? */
	bool		qp_is_pushdown_safe;

	/* estimates */
	QualCost	local_conds_cost;
	Selectivity local_conds_sel;
	double		scanned_rows;	/* rows BigQuery reads to compute the rel */
	double		retrieved_rows; /* rows shipped back, before local quals */
	double		rows;			/* rows after local quals */
	int			width;
	Cost		remote_cost;	/* BigQuery work, excluding the transfer */

	/* where the data lives; copied up into join and upper rels */
	Oid			serverid;
	Oid			userid;

	/* base rel only */
	Oid			relid;			/* foreign table OID */
	char	   *project;
	char	   *dataset;
	char	   *table;
	char	   *query;			/* the query option, or NULL */

	/* "proj.ds.t" or a list of them; for messages */
	char	   *relname;

	/* join rel */
	RelOptInfo *outerrel;		/* also the input rel of an upper rel */
	RelOptInfo *innerrel;
	JoinType	jointype;

	/* upper rel */
	UpperRelationKind stage;
	List	   *grouped_tlist;
} LuxeBqRelInfo;

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

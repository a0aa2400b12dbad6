/*-------------------------------------------------------------------------
 *
 * bq_plan.h
 *		  Planning of BigQuery foreign scans: paths, costs, and the
 *		  pushdown of WHERE, ORDER BY, LIMIT, aggregates and joins.
 *
 * Contract between the planner side (bq_plan.c, deparse.c) and the
 * executor side (bq_scan.c) -- the ForeignScan the planner builds carries:
 *
 *	the service's items of fdw_private (see luxe_fdw.h), a List:
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

/*
 * LuxeBqRelInfo is the planner state of a base, join or upper relation of
 * a BigQuery server, kept in its LuxeRelInfo (luxe_fdw.h).  Only
 * bq_plan.c and deparse.c see it; it never reaches the plan.
 */
typedef struct LuxeBqRelInfo
{
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

enum LuxeBqPrivateIndex
{
	BQ_PRIV_SQL,
	BQ_PRIV_ATTRS,
	BQ_PRIV_PARAMTYPES,
	BQ_PRIV_RELNAME
};


#endif							/* LUXE_BQ_PLAN_H */

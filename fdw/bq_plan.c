/*-------------------------------------------------------------------------
 *
 * bq_plan.c
 *		  Planning of BigQuery foreign scans: relation sizes, paths and
 *		  costs, and the ForeignScan that carries the remote SQL.
 *
 * Design assumptions: a BigQuery query is a job, so every remote scan pays
 * a fixed round trip (LUXE_BQ_STARTUP_COST) before its first row, and
 * BigQuery reads rows far more cheaply than we can fetch them over HTTP
 * and convert them.  The cost model therefore charges little per row
 * BigQuery reads and much more per row shipped back, which is what makes
 * pushed-down aggregates, joins, filters and limits win whenever they
 * shrink the result.  Nothing here talks to the network except
 * luxe_bq_table_rows() (tables.get, cached), which gives the row count.
 *
 * Per-relation state is a LuxeBqRelInfo (bq_plan.h) in the relation's
 * LuxeRelInfo (luxe_fdw.h).  The plan only carries the List of bq_plan.h.
 *
 * We do not support EvalPlanQual rechecks of pushed-down joins: BigQuery
 * rows cannot be locked, so when a query locks rows or is an UPDATE or
 * DELETE, joins are simply not pushed down and base scans recheck their
 * remote conditions locally (fdw_recheck_quals).
 *
 * All functions run in the planner's memory context and may ereport
 * (catalog lookups, option parsing, the tables.get call).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/sysattr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"

#include "bigquery.h"
#include "bq_fdw.h"
#include "bq_plan.h"
#include "deparse.h"
#include "luxe_fdw.h"
#include "option.h"

/* a job round trip: submit, wait, first page */
#define LUXE_BQ_STARTUP_COST		100.0
/* BigQuery's work per row it reads, joins, groups or sorts */
#define LUXE_BQ_SCAN_ROW_COST		(0.01 * cpu_tuple_cost)
/* BigQuery writes each result row before we can page through it */
#define LUXE_BQ_RESULT_ROW_COST		(0.1 * cpu_tuple_cost)
/* shipping a row back as JSON and converting it */
#define LUXE_BQ_TRANSFER_ROW_COST	0.1
#define LUXE_BQ_TRANSFER_BYTE_COST	0.001
/* rows of a table whose size BigQuery does not tell (query tables) */
#define LUXE_BQ_DEFAULT_ROWS		1000.0

/* ForeignPath->fdw_private of ordered and final paths */
enum LuxeBqPathPrivateIndex
{
	BQ_PATH_HAS_LIMIT
};

/* Helper functions */
static LuxeBqRelInfo *bq_relinfo(RelOptInfo *rel);
static LuxeBqRelInfo *new_relinfo(RelOptInfo *rel, LuxeBqRelInfo *from);
static void estimate_cost(PlannerInfo *root, RelOptInfo *rel,
						  PathTarget *target, List *pathkeys,
						  double limit_rows, double *rows,
						  Cost *startup_cost, Cost *total_cost);
static void add_sorted_paths(PlannerInfo *root, RelOptInfo *rel);
static bool join_ok(PlannerInfo *root, RelOptInfo *joinrel,
					JoinType jointype, RelOptInfo *outerrel,
					RelOptInfo *innerrel, JoinPathExtraData *extra,
					LuxeBqRelInfo *fpinfo);
static bool grouping_ok(PlannerInfo *root, RelOptInfo *grouped_rel,
						Node *havingQual, LuxeBqRelInfo *fpinfo);
static void add_grouping_paths(PlannerInfo *root, RelOptInfo *input_rel,
							   RelOptInfo *grouped_rel,
							   GroupPathExtraData *extra);
static void add_ordered_paths(PlannerInfo *root, RelOptInfo *input_rel,
							  RelOptInfo *ordered_rel);
static void add_final_paths(PlannerInfo *root, RelOptInfo *input_rel,
							RelOptInfo *final_rel,
							FinalPathExtraData *extra);
static bool limit_expr_ok(Node *node);


/* our state of rel, or NULL if it has none yet */
static LuxeBqRelInfo *
bq_relinfo(RelOptInfo *rel)
{
	return (LuxeBqRelInfo *) luxe_rel_state(rel);
}

/*
 * new_relinfo
 *		Attach fresh state to a join or upper rel, not yet pushdown-safe,
 *		so a second call for the same rel knows it has been considered.
 */
static LuxeBqRelInfo *
new_relinfo(RelOptInfo *rel, LuxeBqRelInfo *from)
{
	LuxeBqRelInfo *fpinfo = palloc0(sizeof(LuxeBqRelInfo));

	fpinfo->pushdown_safe = false;
	if (from)
	{
		fpinfo->pushdown = from->pushdown;
		fpinfo->serverid = from->serverid;
		fpinfo->userid = from->userid;
		fpinfo->relname = from->relname;
	}
	luxe_rel_set_state(rel, fpinfo);
	return fpinfo;
}

/*
 * luxe_bq_plan_rel_size
 *		GetForeignRelSize for a BigQuery table: split the restriction
 *		clauses into remote and local ones and estimate the rows.
 *
 * The row count comes from tables.get (numRows); query tables and tables
 * without statistics count as LUXE_BQ_DEFAULT_ROWS.
 */
void
luxe_bq_plan_rel_size(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid)
{
	LuxeBqRelInfo *fpinfo;
	LuxeServerOptions server;
	LuxeBqTableOptions topts;
	double		tuples;
	double		bytes;
	Selectivity sel;
	ListCell   *lc;

	fpinfo = new_relinfo(baserel, NULL);
	luxe_option_server(baserel->serverid, &server);
	luxe_option_bq_table(foreigntableid, &server, &topts);

	fpinfo->pushdown = topts.pushdown;
	fpinfo->pushdown_safe = topts.pushdown;
	fpinfo->serverid = baserel->serverid;
	fpinfo->userid = baserel->userid;
	fpinfo->relid = foreigntableid;
	fpinfo->project = topts.project;
	fpinfo->dataset = topts.dataset;
	fpinfo->table = topts.table;
	fpinfo->query = topts.query;
	if (topts.query != NULL)
		fpinfo->relname = psprintf("query of foreign table \"%s\"",
								   get_rel_name(foreigntableid));
	else
		fpinfo->relname = psprintf("%s.%s.%s", topts.project, topts.dataset,
								   topts.table);

	/*
	 * With pushdown 'false' nothing is shipped, column projection included
	 * (the and postgres_fdw's sense of pushdown): the table is read
	 * whole and everything is evaluated here.
	 */
	if (fpinfo->pushdown)
		luxe_deparse_classify_conds(root, baserel, baserel->baserestrictinfo,
									&fpinfo->remote_conds,
									&fpinfo->local_conds);
	else
		fpinfo->local_conds = baserel->baserestrictinfo;

	/* columns needed by the target list and by the local conditions */
	fpinfo->attrs_used = NULL;
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid,
				   &fpinfo->attrs_used);
	foreach(lc, fpinfo->local_conds)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		pull_varattnos((Node *) ri->clause, baserel->relid,
					   &fpinfo->attrs_used);
	}
	if (!fpinfo->pushdown)		/* every column, as a whole-row reference */
		fpinfo->attrs_used = bms_add_member(fpinfo->attrs_used,
											0 - FirstLowInvalidHeapAttributeNumber);

	if (!luxe_bq_table_rows(foreigntableid,
							OidIsValid(baserel->userid) ? baserel->userid : GetUserId(),
							&tuples, &bytes) || tuples < 0)
		tuples = LUXE_BQ_DEFAULT_ROWS;
	baserel->tuples = tuples;

	sel = clauselist_selectivity(root, fpinfo->remote_conds, baserel->relid,
								 JOIN_INNER, NULL);
	fpinfo->retrieved_rows = clamp_row_est(tuples * sel);
	fpinfo->local_conds_sel = clauselist_selectivity(root, fpinfo->local_conds,
													 baserel->relid,
													 JOIN_INNER, NULL);
	cost_qual_eval(&fpinfo->local_conds_cost, fpinfo->local_conds, root);
	fpinfo->rows = clamp_row_est(fpinfo->retrieved_rows *
								 fpinfo->local_conds_sel);
	fpinfo->scanned_rows = tuples;
	fpinfo->remote_cost = tuples * LUXE_BQ_SCAN_ROW_COST;
	fpinfo->width = baserel->reltarget->width;
	baserel->rows = fpinfo->rows;

	elog(DEBUG2, "luxe_fdw: %s: %.0f rows, %.0f after remote and %.0f after local conditions",
		 fpinfo->relname, tuples, fpinfo->retrieved_rows, fpinfo->rows);
}

/*
 * estimate_cost
 *		Rows and costs of a path over rel producing target, sorted by
 *		pathkeys (remotely) and limited to limit_rows (< 0: no LIMIT).
 *
 * The job's own work, sorting included, is startup cost: BigQuery
 * returns nothing before the job is done.  Rows then cost their transfer
 * and conversion plus the local quals.
 */
static void
estimate_cost(PlannerInfo *root, RelOptInfo *rel, PathTarget *target,
			  List *pathkeys, double limit_rows, double *rows,
			  Cost *startup_cost, Cost *total_cost)
{
	LuxeBqRelInfo *fpinfo = bq_relinfo(rel);
	double		retrieved = fpinfo->retrieved_rows;
	double		out = fpinfo->rows;
	Cost		remote = fpinfo->remote_cost;
	Cost		per_row;

	if (target == NULL)
		target = rel->reltarget;

	if (limit_rows >= 0)
	{
		retrieved = Min(retrieved, limit_rows);
		out = Min(out, limit_rows);
	}
	if (pathkeys != NIL)		/* a top-N sort when limited */
		remote += fpinfo->retrieved_rows * LUXE_BQ_SCAN_ROW_COST *
			(log(retrieved + 2.0) / log(2.0));

	per_row = LUXE_BQ_TRANSFER_ROW_COST +
		target->width * LUXE_BQ_TRANSFER_BYTE_COST +
		cpu_tuple_cost + fpinfo->local_conds_cost.per_tuple;

	*startup_cost = LUXE_BQ_STARTUP_COST + remote +
		retrieved * LUXE_BQ_RESULT_ROW_COST +
		fpinfo->local_conds_cost.startup + target->cost.startup;
	*total_cost = *startup_cost + retrieved * per_row +
		out * target->cost.per_tuple;
	*rows = out;
}

/*
 * add_sorted_paths
 *		A path of rel (base or join) sorted by BigQuery in the query's
 *		pathkeys, when all of them can be shipped.  Also records in
 *		qp_is_pushdown_safe whether they can, for the ORDERED stage.
 */
static void
add_sorted_paths(PlannerInfo *root, RelOptInfo *rel)
{
	LuxeBqRelInfo *fpinfo = bq_relinfo(rel);
	ListCell   *lc;
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;
	Path	   *path;

	fpinfo->qp_is_pushdown_safe = false;
	if (!fpinfo->pushdown_safe || root->query_pathkeys == NIL)
		return;
	foreach(lc, root->query_pathkeys)
	{
		if (luxe_deparse_pathkey_expr(root, rel,
									  lfirst_node(PathKey, lc)) == NULL)
			return;
	}
	fpinfo->qp_is_pushdown_safe = true;

	estimate_cost(root, rel, NULL, root->query_pathkeys, -1, &rows,
				  &startup_cost, &total_cost);
	if (IS_SIMPLE_REL(rel))
		path = (Path *) create_foreignscan_path(root, rel, NULL, rows,
												startup_cost, total_cost,
												root->query_pathkeys,
												rel->lateral_relids,
												NULL, NIL);
	else
		path = (Path *) create_foreign_join_path(root, rel, NULL, rows,
												 startup_cost, total_cost,
												 root->query_pathkeys,
												 rel->lateral_relids,
												 NULL, NIL);
	add_path(rel, path);
}

/*
 * luxe_bq_plan_paths
 *		GetForeignPaths for a BigQuery table: an unsorted scan, and one
 *		sorted remotely for the query's pathkeys.  No parameterized paths:
 *		each would be one more BigQuery job per outer row.
 */
void
luxe_bq_plan_paths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;

	estimate_cost(root, baserel, NULL, NIL, -1, &rows, &startup_cost,
				  &total_cost);
	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL,
													   rows, startup_cost,
													   total_cost, NIL,
													   baserel->lateral_relids,
													   NULL, NIL));
	add_sorted_paths(root, baserel);
}

/*
 * luxe_bq_plan_plan
 *		GetForeignPlan: deparse the chosen path into the remote SQL and
 *		build the ForeignScan described in bq_plan.h.
 */
ForeignScan *
luxe_bq_plan_plan(PlannerInfo *root, RelOptInfo *foreignrel,
				  Oid foreigntableid, ForeignPath *best_path, List *tlist,
				  List *scan_clauses, Plan *outer_plan)
{
	LuxeBqRelInfo *fpinfo = bq_relinfo(foreignrel);
	Index		scan_relid;
	List	   *remote_conds = NIL;
	List	   *remote_exprs = NIL;
	List	   *local_exprs = NIL;
	List	   *fdw_scan_tlist = NIL;
	List	   *fdw_recheck_quals = NIL;
	List	   *retrieved_attrs = NIL;
	List	   *params = NIL;
	List	   *fdw_private;
	bool		has_limit = false;
	StringInfoData sql;
	ListCell   *lc;

	if (best_path->fdw_private != NIL)
		has_limit = boolVal(list_nth(best_path->fdw_private,
									 BQ_PATH_HAS_LIMIT));

	if (IS_SIMPLE_REL(foreignrel))
	{
		scan_relid = foreignrel->relid;
		foreach(lc, scan_clauses)
		{
			RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

			if (ri->pseudoconstant)
				continue;		/* handled by a gating Result node */
			if (list_member_ptr(fpinfo->remote_conds, ri) ||
				(!list_member_ptr(fpinfo->local_conds, ri) &&
				 fpinfo->pushdown &&
				 luxe_deparse_is_shippable(root, foreignrel, ri->clause)))
			{
				remote_conds = lappend(remote_conds, ri);
				remote_exprs = lappend(remote_exprs, ri->clause);
			}
			else
				local_exprs = lappend(local_exprs, ri->clause);
		}
		/* EPQ rechecks a locked base row against the remote conditions */
		fdw_recheck_quals = remote_exprs;
	}
	else
	{
		/* join or upper rel: no EPQ support, see the file header */
		scan_relid = 0;
		remote_conds = fpinfo->remote_conds;
		local_exprs = extract_actual_clauses(fpinfo->local_conds, false);
		fdw_scan_tlist = luxe_deparse_build_tlist(foreignrel);
	}

	initStringInfo(&sql);
	luxe_deparse_select(&sql, root, foreignrel, fdw_scan_tlist, remote_conds,
						best_path->path.pathkeys, has_limit,
						&retrieved_attrs, &params);
	elog(DEBUG1, "luxe_fdw: remote SQL for %s: %s", fpinfo->relname, sql.data);

	fdw_private = list_make4(makeString(sql.data),
							 retrieved_attrs,
							 luxe_deparse_param_types(params),
							 makeString(pstrdup(fpinfo->relname)));

	return make_foreignscan(tlist, local_exprs, scan_relid, params,
							fdw_private, fdw_scan_tlist, fdw_recheck_quals,
							outer_plan);
}

/*
 * join_ok
 *		Can BigQuery compute this join, and under which conditions?  Fills
 *		in fpinfo's join fields on success.
 */
static bool
join_ok(PlannerInfo *root, RelOptInfo *joinrel, JoinType jointype,
		RelOptInfo *outerrel, RelOptInfo *innerrel,
		JoinPathExtraData *extra, LuxeBqRelInfo *fpinfo)
{
	LuxeBqRelInfo *fpinfo_o = bq_relinfo(outerrel);
	LuxeBqRelInfo *fpinfo_i = bq_relinfo(innerrel);
	Relids		relids;
	List	   *vars;
	ListCell   *lc;

	if (jointype != JOIN_INNER && jointype != JOIN_LEFT &&
		jointype != JOIN_RIGHT && jointype != JOIN_FULL)
		return false;
	if (fpinfo_o == NULL || fpinfo_i == NULL ||
		!fpinfo_o->pushdown_safe || !fpinfo_i->pushdown_safe)
		return false;

	/* rows filtered locally on either side would be joined remotely */
	if (fpinfo_o->local_conds != NIL || fpinfo_i->local_conds != NIL)
		return false;

	/* the same server and the same user mapping, hence the same job */
	if (fpinfo_o->serverid != fpinfo_i->serverid ||
		fpinfo_o->userid != fpinfo_i->userid)
		return false;
	if (!bms_is_empty(joinrel->lateral_relids))
		return false;

	/* a PlaceHolderVar to be evaluated inside this join cannot be shipped */
	relids = IS_OTHER_REL(joinrel) ? joinrel->top_parent_relids :
		joinrel->relids;
	foreach(lc, root->placeholder_list)
	{
		PlaceHolderInfo *phinfo = lfirst_node(PlaceHolderInfo, lc);

		if (bms_is_subset(phinfo->ph_eval_at, relids) &&
			bms_nonempty_difference(relids, phinfo->ph_eval_at))
			return false;
	}

	/* only plain user columns come back: no whole-row or system columns */
	vars = pull_var_clause((Node *) joinrel->reltarget->exprs,
						   PVC_INCLUDE_PLACEHOLDERS);
	foreach(lc, vars)
	{
		Var		   *var = (Var *) lfirst(lc);

		if (!IsA(var, Var) || var->varattno <= 0)
			return false;
	}

	fpinfo->outerrel = outerrel;
	fpinfo->innerrel = innerrel;
	fpinfo->jointype = jointype;
	fpinfo->serverid = fpinfo_o->serverid;
	fpinfo->userid = fpinfo_o->userid;
	fpinfo->pushdown = true;

	foreach(lc, extra->restrictlist)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		bool		remote = luxe_deparse_is_shippable(root, joinrel,
													   ri->clause);

		if (IS_OUTER_JOIN(jointype) &&
			!RINFO_IS_PUSHED_DOWN(ri, joinrel->relids))
		{
			/* an outer join's ON clause must be evaluated by the join */
			if (!remote)
				return false;
			fpinfo->joinclauses = lappend(fpinfo->joinclauses, ri);
		}
		else if (remote)
			fpinfo->remote_conds = lappend(fpinfo->remote_conds, ri);
		else
			fpinfo->local_conds = lappend(fpinfo->local_conds, ri);
	}

	/*
	 * The sides' own WHERE conditions: for an inner join anywhere, for an
	 * outer join the outer side's after the join (WHERE) and the inner
	 * side's inside it (ON).  A full join would need subqueries, which we
	 * do not generate.
	 */
	switch (jointype)
	{
		case JOIN_INNER:
			fpinfo->remote_conds = list_concat(fpinfo->remote_conds,
											   fpinfo_i->remote_conds);
			fpinfo->remote_conds = list_concat(fpinfo->remote_conds,
											   fpinfo_o->remote_conds);
			/* all alike for an inner join; ON keeps nesting simple */
			fpinfo->joinclauses = fpinfo->remote_conds;
			fpinfo->remote_conds = NIL;
			break;
		case JOIN_LEFT:
			fpinfo->joinclauses = list_concat(fpinfo->joinclauses,
											  fpinfo_i->remote_conds);
			fpinfo->remote_conds = list_concat(fpinfo->remote_conds,
											   fpinfo_o->remote_conds);
			break;
		case JOIN_RIGHT:
			fpinfo->joinclauses = list_concat(fpinfo->joinclauses,
											  fpinfo_o->remote_conds);
			fpinfo->remote_conds = list_concat(fpinfo->remote_conds,
											   fpinfo_i->remote_conds);
			break;
		case JOIN_FULL:
			if (fpinfo_o->remote_conds != NIL ||
				fpinfo_i->remote_conds != NIL)
				return false;
			break;
		default:
			return false;
	}

	fpinfo->relname = psprintf("%s, %s", fpinfo_o->relname,
							   fpinfo_i->relname);
	return true;
}

/*
 * luxe_bq_plan_join_paths
 *		GetForeignJoinPaths: one path computing the whole join in BigQuery,
 *		plus a sorted one, when join_ok says it can be shipped.
 */
void
luxe_bq_plan_join_paths(PlannerInfo *root, RelOptInfo *joinrel,
						RelOptInfo *outerrel, RelOptInfo *innerrel,
						JoinType jointype, JoinPathExtraData *extra)
{
	LuxeBqRelInfo *fpinfo;
	LuxeBqRelInfo *fpinfo_o;
	LuxeBqRelInfo *fpinfo_i;
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;

	/* considered already, for another pair of inputs */
	if (bq_relinfo(joinrel) != NULL)
		return;

	/* EPQ would need a local join path; see the file header */
	if (root->parse->commandType == CMD_UPDATE ||
		root->parse->commandType == CMD_DELETE ||
		root->rowMarks != NIL)
		return;

	fpinfo = new_relinfo(joinrel, NULL);
	if (!join_ok(root, joinrel, jointype, outerrel, innerrel, extra, fpinfo))
		return;
	fpinfo->pushdown_safe = true;
	fpinfo_o = bq_relinfo(outerrel);
	fpinfo_i = bq_relinfo(innerrel);

	/* the planner's estimate of the join covers all its clauses */
	fpinfo->local_conds_sel = clauselist_selectivity(root, fpinfo->local_conds,
													 0, JOIN_INNER, NULL);
	cost_qual_eval(&fpinfo->local_conds_cost, fpinfo->local_conds, root);
	fpinfo->rows = clamp_row_est(joinrel->rows);
	fpinfo->retrieved_rows = clamp_row_est(joinrel->rows /
										   Max(fpinfo->local_conds_sel, 1e-10));
	fpinfo->scanned_rows = fpinfo_o->scanned_rows + fpinfo_i->scanned_rows;
	fpinfo->remote_cost = fpinfo_o->remote_cost + fpinfo_i->remote_cost +
		(fpinfo_o->retrieved_rows + fpinfo_i->retrieved_rows +
		 fpinfo->retrieved_rows) * LUXE_BQ_SCAN_ROW_COST;
	fpinfo->width = joinrel->reltarget->width;

	estimate_cost(root, joinrel, NULL, NIL, -1, &rows, &startup_cost,
				  &total_cost);
	add_path(joinrel, (Path *) create_foreign_join_path(root, joinrel, NULL,
														rows, startup_cost,
														total_cost, NIL,
														joinrel->lateral_relids,
														NULL, NIL));
	add_sorted_paths(root, joinrel);
}

/*
 * grouping_ok
 *		Can BigQuery compute this grouping?  Builds the grouped tlist
 *		(grouping expressions and aggregates, like postgres_fdw's) and
 *		splits HAVING into remote and local conditions.
 */
static bool
grouping_ok(PlannerInfo *root, RelOptInfo *grouped_rel, Node *havingQual,
			LuxeBqRelInfo *fpinfo)
{
	Query	   *parse = root->parse;
	PathTarget *target = grouped_rel->reltarget;
	List	   *tlist = NIL;
	List	   *group_exprs = NIL;
	ListCell   *lc;
	int			i = 0;

	/* grouping expressions first, each with its own sortgroupref */
	foreach(lc, target->exprs)
	{
		Expr	   *expr = (Expr *) lfirst(lc);
		Index		sgref = get_pathtarget_sortgroupref(target, i++);
		TargetEntry *tle;

		if (sgref == 0 ||
			get_sortgroupref_clause_noerr(sgref, parse->groupClause) == NULL)
			continue;
		if (!luxe_deparse_is_groupable(root, grouped_rel, expr))
			return false;
		tle = makeTargetEntry(expr, list_length(tlist) + 1, NULL, false);
		tle->ressortgroupref = sgref;
		tlist = lappend(tlist, tle);
		group_exprs = lappend(group_exprs, expr);
	}

	/*
	 * Other outputs: shipped whole when they refer to columns only inside
	 * aggregates (BigQuery matches a grouped column in SELECT against GROUP
	 * BY by its text, so a column inside some other expression is not safe);
	 * otherwise we ship their aggregates and compute the rest locally.
	 */
	i = 0;
	foreach(lc, target->exprs)
	{
		Expr	   *expr = (Expr *) lfirst(lc);
		Index		sgref = get_pathtarget_sortgroupref(target, i++);
		List	   *pieces;
		ListCell   *lp;
		bool		bare_vars = false;

		if (sgref != 0 &&
			get_sortgroupref_clause_noerr(sgref, parse->groupClause) != NULL)
			continue;

		pieces = pull_var_clause((Node *) expr, PVC_INCLUDE_AGGREGATES |
								 PVC_INCLUDE_PLACEHOLDERS);
		foreach(lp, pieces)
		{
			if (!IsA(lfirst(lp), Aggref))
				bare_vars = true;
		}
		if (!bare_vars && luxe_deparse_is_shippable(root, grouped_rel, expr))
		{
			tlist = add_to_flat_tlist(tlist, list_make1(expr));
			continue;
		}
		foreach(lp, pieces)
		{
			Node	   *piece = (Node *) lfirst(lp);

			if (IsA(piece, Aggref))
			{
				if (!luxe_deparse_is_shippable(root, grouped_rel,
											   (Expr *) piece))
					return false;
				tlist = add_to_flat_tlist(tlist, list_make1(piece));
			}
			else if (!list_member(group_exprs, piece))
				return false;	/* a column inside a grouping expression */
		}
	}

	/* HAVING: the shippable conditions remotely, the rest locally */
	if (havingQual != NULL)
	{
		foreach(lc, (List *) havingQual)
		{
			Expr	   *expr = (Expr *) lfirst(lc);
			RestrictInfo *ri;

			ri = make_restrictinfo(root, expr, true, false, false,
								   root->qual_security_level,
								   grouped_rel->relids, NULL, NULL);
			if (luxe_deparse_is_shippable(root, grouped_rel, expr))
				fpinfo->remote_conds = lappend(fpinfo->remote_conds, ri);
			else
				fpinfo->local_conds = lappend(fpinfo->local_conds, ri);
		}
	}

	/* aggregates needed by local HAVING conditions come from BigQuery too */
	foreach(lc, fpinfo->local_conds)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		List	   *pieces = pull_var_clause((Node *) ri->clause,
											 PVC_INCLUDE_AGGREGATES |
											 PVC_INCLUDE_PLACEHOLDERS);
		ListCell   *lp;

		foreach(lp, pieces)
		{
			Node	   *piece = (Node *) lfirst(lp);

			if (IsA(piece, Aggref))
			{
				if (!luxe_deparse_is_shippable(root, grouped_rel,
											   (Expr *) piece))
					return false;
				tlist = add_to_flat_tlist(tlist, list_make1(piece));
			}
			else if (!list_member(group_exprs, piece))
				return false;
		}
	}

	fpinfo->grouped_tlist = tlist;
	return true;
}

/*
 * add_grouping_paths
 *		A path computing GROUP BY, the aggregates and the shippable part of
 *		HAVING in BigQuery.
 */
static void
add_grouping_paths(PlannerInfo *root, RelOptInfo *input_rel,
				   RelOptInfo *grouped_rel, GroupPathExtraData *extra)
{
	Query	   *parse = root->parse;
	LuxeBqRelInfo *ifpinfo = bq_relinfo(input_rel);
	LuxeBqRelInfo *fpinfo = bq_relinfo(grouped_rel);
	List	   *group_exprs;
	double		num_groups;
	double		input_rows;
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;
	Selectivity sel;

	if (!parse->groupClause && !parse->hasAggs && !root->hasHavingQual)
		return;
	if (parse->groupingSets || parse->hasTargetSRFs)
		return;
	if (extra->patype != PARTITIONWISE_AGGREGATE_NONE &&
		extra->patype != PARTITIONWISE_AGGREGATE_FULL)
		return;
	/* rows that BigQuery would group are filtered locally */
	if (ifpinfo->local_conds != NIL)
		return;
	if (!grouping_ok(root, grouped_rel, extra->havingQual, fpinfo))
		return;
	fpinfo->pushdown_safe = true;

	input_rows = ifpinfo->retrieved_rows;
	group_exprs = get_sortgrouplist_exprs(parse->groupClause,
										  fpinfo->grouped_tlist);
	num_groups = group_exprs != NIL ?
		estimate_num_groups(root, group_exprs, input_rows, NULL, NULL) : 1;
	sel = clauselist_selectivity(root, fpinfo->remote_conds, 0, JOIN_INNER,
								 NULL);
	fpinfo->retrieved_rows = clamp_row_est(num_groups * sel);
	fpinfo->local_conds_sel = clauselist_selectivity(root, fpinfo->local_conds,
													 0, JOIN_INNER, NULL);
	cost_qual_eval(&fpinfo->local_conds_cost, fpinfo->local_conds, root);
	fpinfo->rows = clamp_row_est(fpinfo->retrieved_rows *
								 fpinfo->local_conds_sel);
	fpinfo->scanned_rows = ifpinfo->scanned_rows;
	fpinfo->remote_cost = ifpinfo->remote_cost +
		input_rows * LUXE_BQ_SCAN_ROW_COST;
	fpinfo->width = grouped_rel->reltarget->width;

	estimate_cost(root, grouped_rel, NULL, NIL, -1, &rows, &startup_cost,
				  &total_cost);
	add_path(grouped_rel,
			 (Path *) create_foreign_upper_path(root, grouped_rel,
												grouped_rel->reltarget,
												rows, startup_cost,
												total_cost, NIL, NULL, NIL));
}

/*
 * add_ordered_paths
 *		ORDER BY in BigQuery.  Over a base or join rel the sorted paths of
 *		add_sorted_paths already do it (query_pathkeys are the sort
 *		pathkeys then), so we only record whether the FINAL stage may use
 *		them; over a grouped rel we add a sorted path.
 */
static void
add_ordered_paths(PlannerInfo *root, RelOptInfo *input_rel,
				  RelOptInfo *ordered_rel)
{
	LuxeBqRelInfo *ifpinfo = bq_relinfo(input_rel);
	LuxeBqRelInfo *fpinfo = bq_relinfo(ordered_rel);
	ListCell   *lc;
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;
	PathTarget *target = root->upper_targets[UPPERREL_ORDERED];

	if (root->parse->hasTargetSRFs)
		return;

	if (!IS_UPPER_REL(input_rel))
	{
		fpinfo->pushdown_safe = ifpinfo->qp_is_pushdown_safe &&
			compare_pathkeys(root->query_pathkeys,
							 root->sort_pathkeys) == PATHKEYS_EQUAL;
		return;
	}
	if (ifpinfo->stage != UPPERREL_GROUP_AGG)
		return;

	foreach(lc, root->sort_pathkeys)
	{
		if (luxe_deparse_pathkey_expr(root, input_rel,
									  lfirst_node(PathKey, lc)) == NULL)
			return;
	}
	fpinfo->pushdown_safe = true;

	estimate_cost(root, input_rel, target, root->sort_pathkeys, -1, &rows,
				  &startup_cost, &total_cost);
	add_path(ordered_rel,
			 (Path *) create_foreign_upper_path(root, input_rel, target, rows,
												startup_cost, total_cost,
												root->sort_pathkeys, NULL,
												list_make1(makeBoolean(false))));
}

/* LIMIT and OFFSET values we can send as INT64 parameters */
static bool
limit_expr_ok(Node *node)
{
	if (node == NULL)
		return false;
	if (IsA(node, Const))
		return !((Const *) node)->constisnull &&
			((Const *) node)->consttype == INT8OID;
	if (IsA(node, Param))
		return ((Param *) node)->paramkind == PARAM_EXTERN &&
			((Param *) node)->paramtype == INT8OID;
	return false;
}

/*
 * add_final_paths
 *		LIMIT/OFFSET in BigQuery, on top of a shipped base rel, join or
 *		grouping, with the ORDER BY if there is one.  Like the paths of the
 *		ORDERED stage, the path belongs to the underlying rel, and its
 *		fdw_private says it has a LIMIT.
 */
static void
add_final_paths(PlannerInfo *root, RelOptInfo *input_rel,
				RelOptInfo *final_rel, FinalPathExtraData *extra)
{
	Query	   *parse = root->parse;
	LuxeBqRelInfo *ifpinfo = bq_relinfo(input_rel);
	LuxeBqRelInfo *fpinfo = bq_relinfo(final_rel);
	RelOptInfo *rel = input_rel;
	List	   *pathkeys = NIL;
	PathTarget *target = root->upper_targets[UPPERREL_FINAL];
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;

	/* FOR UPDATE/SHARE: nothing to lock remotely; leave it all local */
	if (!extra->limit_needed || parse->rowMarks != NIL ||
		parse->hasTargetSRFs || parse->limitOption == LIMIT_OPTION_WITH_TIES)
		return;

	if (IS_UPPER_REL(input_rel) && ifpinfo->stage == UPPERREL_ORDERED)
	{
		rel = ifpinfo->outerrel;
		ifpinfo = bq_relinfo(rel);
		pathkeys = root->sort_pathkeys;
	}
	else if (root->sort_pathkeys != NIL)
		return;
	if (ifpinfo == NULL || !ifpinfo->pushdown_safe ||
		(IS_UPPER_REL(rel) && ifpinfo->stage != UPPERREL_GROUP_AGG))
		return;

	/* a local filter would have to run before the LIMIT */
	if (ifpinfo->local_conds != NIL)
		return;
	if (!limit_expr_ok(parse->limitCount) ||
		(parse->limitOffset != NULL && !limit_expr_ok(parse->limitOffset)))
		return;
	fpinfo->pushdown_safe = true;

	estimate_cost(root, rel, target, pathkeys,
				  extra->limit_tuples > 0 ? extra->limit_tuples : -1,
				  &rows, &startup_cost, &total_cost);
	add_path(final_rel,
			 (Path *) create_foreign_upper_path(root, rel, target, rows,
												startup_cost, total_cost,
												pathkeys, NULL,
												list_make1(makeBoolean(true))));
}

/*
 * luxe_bq_plan_upper_paths
 *		GetForeignUpperPaths: aggregation, ORDER BY and LIMIT in BigQuery.
 */
void
luxe_bq_plan_upper_paths(PlannerInfo *root, UpperRelationKind stage,
						 RelOptInfo *input_rel, RelOptInfo *output_rel,
						 void *extra)
{
	LuxeBqRelInfo *ifpinfo = bq_relinfo(input_rel);
	LuxeBqRelInfo *fpinfo;

	if (ifpinfo == NULL || !ifpinfo->pushdown_safe ||
		bq_relinfo(output_rel) != NULL)
		return;
	if (stage != UPPERREL_GROUP_AGG && stage != UPPERREL_ORDERED &&
		stage != UPPERREL_FINAL)
		return;

	fpinfo = new_relinfo(output_rel, ifpinfo);
	fpinfo->stage = stage;
	fpinfo->outerrel = input_rel;

	switch (stage)
	{
		case UPPERREL_GROUP_AGG:
			add_grouping_paths(root, input_rel, output_rel,
							   (GroupPathExtraData *) extra);
			break;
		case UPPERREL_ORDERED:
			add_ordered_paths(root, input_rel, output_rel);
			break;
		case UPPERREL_FINAL:
			add_final_paths(root, input_rel, output_rel,
							(FinalPathExtraData *) extra);
			break;
		default:
			break;
	}
}

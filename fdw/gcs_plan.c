/*-------------------------------------------------------------------------
 *
 * gcs_plan.c
 *		  Planning of GCS foreign scans: relation sizes, paths and costs,
 *		  and the ForeignScan described in gcs_plan.h.
 *
 * Design assumptions and invariants:
 * - Planning lists the objects a table's uri names (one object or a
 *   bq-load style wildcard) to estimate rows from their sizes, as file_fdw
 *   does with stat(); after ANALYZE the measured rows per page of object
 *   bytes scale the estimate.  Execution lists them again (gcs_scan.c).
 * - Nothing is pushed down: a CSV object has no query engine.  Only the
 *   columns the query references (target list and restriction clauses) are
 *   converted by the scan, so the cost per tuple grows with their number.
 * - Parallel workers share the objects, and split the large ones into
 *   byte ranges of luxe_fdw.parallel_range_size (not gzip ones, which can
 *   only be inflated from their start; gcs_scan.c says how record
 *   boundaries are agreed): a parallel path exists when there are two
 *   ranges or more.
 * - All functions run in the planner's memory context and may ereport
 *   (catalog lookups, option parsing, the listing).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/sysattr.h"
#include "access/table.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/plancat.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "gcs.h"
#include "gcs_fdw.h"
#include "gcs_plan.h"
#include "luxe_fdw.h"

/* Cost of one HTTP round trip, in units of seq_page_cost. */
#define LUXE_GCS_REQUEST_COST	10.0

/* Planner state of a GCS base relation, in its LuxeRelInfo. */
typedef struct LuxeGcsPlanState
{
	LuxeServerOptions server;
	LuxeCsvOptions csv;
	int			nobjects;
	int64		total_bytes;
	int64		range_size;		/* luxe_fdw.parallel_range_size, bytes */
	int			nranges;		/* objects and ranges a parallel scan shares */
	int			nsplit;			/* objects split into ranges */
	int			ngzip_large;	/* gzip objects too large for one range */
	List	   *attnums;		/* columns the query needs */
} LuxeGcsPlanState;

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
 * luxe_gcs_plan_rel_size
 *		GetForeignRelSize: list the table's objects and estimate its rows
 *		from their sizes.
 */
void
luxe_gcs_plan_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	LuxeGcsPlanState *ps = palloc0(sizeof(LuxeGcsPlanState));
	ForeignTable *table = GetForeignTable(relid);
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;
	List	   *objects;
	ListCell   *lc;
	double		row_bytes;
	Oid			userid = OidIsValid(baserel->userid) ? baserel->userid : GetUserId();
	Relation	rel;
	int			natts;

	rel = table_open(relid, AccessShareLock);
	natts = RelationGetDescr(rel)->natts;
	ps->attnums = needed_attnums(baserel, RelationGetDescr(rel));
	table_close(rel, AccessShareLock);

	luxe_rel_set_state(baserel, ps);
	luxe_option_server(table->serverid, &ps->server);
	luxe_option_csv(relid, natts, &ps->csv);

	luxe_gcs_client_init(&client, &stats, &ps->server, table->serverid, userid);
	objects = luxe_gcs_list_uri(&client, ps->csv.uri, false);
	ps->range_size = luxe_gcs_parallel_range_size;
	foreach(lc, objects)
	{
		LuxeGcsObject *o = lfirst(lc);
		int			n = luxe_gcs_object_ranges(o, ps->range_size);

		ps->total_bytes += o->size;
		ps->nranges += n;
		if (n > 1)
			ps->nsplit++;
		else if (o->size > ps->range_size && luxe_gcs_object_gzip(o))
			ps->ngzip_large++;
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
		row_bytes = get_relation_data_width(relid, NULL) + natts;
		row_bytes = Max(row_bytes, 2.0);
		baserel->tuples = clamp_row_est(ps->total_bytes / row_bytes);
	}
	baserel->rows = clamp_row_est(baserel->tuples *
								  clauselist_selectivity(root,
														 baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
}

/*
 * luxe_gcs_plan_paths
 *		GetForeignPaths: one path reading every object sequentially, and a
 *		partial one when several objects can be shared among workers.  Cost
 *		is the bytes as sequential pages, a round trip per object, and
 *		per-tuple parsing that grows with the number of converted columns.
 */
void
luxe_gcs_plan_paths(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	LuxeGcsPlanState *ps = (LuxeGcsPlanState *) luxe_rel_state(baserel);
	Cost		startup_cost;
	Cost		run_cost;
	Cost		cpu_per_tuple;
	double		pages = ceil((double) ps->total_bytes / BLCKSZ);

	startup_cost = baserel->baserestrictcost.startup +
		LUXE_GCS_REQUEST_COST * seq_page_cost * (1 + ps->nobjects);
	cpu_per_tuple = cpu_tuple_cost * (1 + list_length(ps->attnums) / 4.0) +
		baserel->baserestrictcost.per_tuple;
	run_cost = seq_page_cost * pages + cpu_per_tuple * baserel->tuples;

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 startup_cost, startup_cost + run_cost,
									 NIL, NULL, NULL, NIL));

	/*
	 * Objects and ranges of large objects can be shared among parallel
	 * workers, which claim them from a shared counter.
	 */
	if (baserel->consider_parallel && ps->nranges > 1)
	{
		int			workers = Min(ps->nranges - 1, max_parallel_workers_per_gather);

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

/*
 * luxe_gcs_plan_plan
 *		GetForeignPlan: every clause is checked locally; fdw_private is the
 *		List of gcs_plan.h.
 */
ForeignScan *
luxe_gcs_plan_plan(PlannerInfo *root, RelOptInfo *baserel, Oid relid,
				   ForeignPath *best_path, List *tlist, List *scan_clauses,
				   Plan *outer_plan)
{
	LuxeGcsPlanState *ps = (LuxeGcsPlanState *) luxe_rel_state(baserel);
	List	   *fdw_private;

	scan_clauses = extract_actual_clauses(scan_clauses, false);
	fdw_private = list_make4(makeString(ps->csv.uri),
							 makeInteger(ps->nobjects),
							 makeString(psprintf(INT64_FORMAT, ps->total_bytes)),
							 ps->attnums);
	fdw_private = lappend(fdw_private, makeString(psprintf(INT64_FORMAT, ps->range_size)));
	fdw_private = lappend(fdw_private, list_make3(makeInteger(ps->nranges),
												  makeInteger(ps->nsplit),
												  makeInteger(ps->ngzip_large)));
	return make_foreignscan(tlist, scan_clauses, baserel->relid, NIL,
							fdw_private, NIL, NIL, outer_plan);
}

/*
 * luxe_gcs_plan_parallel_safe
 *		IsForeignScanParallelSafe (called before the relation is sized): a
 *		table with a bad-record budget converts each row in a
 *		subtransaction, which a parallel worker cannot start.
 */
bool
luxe_gcs_plan_parallel_safe(PlannerInfo *root, RelOptInfo *rel,
							RangeTblEntry *rte)
{
	LuxeCsvOptions csv;
	Relation	relation = table_open(rte->relid, NoLock);	/* locked by the planner */
	int			natts = RelationGetNumberOfAttributes(relation);

	table_close(relation, NoLock);
	luxe_option_csv(rte->relid, natts, &csv);
	return csv.max_bad_records == 0;
}

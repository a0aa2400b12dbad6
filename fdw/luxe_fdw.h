/*-------------------------------------------------------------------------
 *
 * luxe_fdw.h
 *		  What the FDW glue (luxe_fdw.c) records for the services: the
 *		  service of each relation, in the planner's RelOptInfo and in the
 *		  plan, and the service's own state beside it.
 *
 * luxe_fdw.c resolves a relation's service once, through option.c, and
 * dispatches every callback to the GCS or BigQuery implementation; the
 * services keep their own state in the places below and reach it only
 * through these accessors.
 *
 *	RelOptInfo->fdw_private of every relation luxe_fdw plans (base, join
 *	  and upper) is a LuxeRelInfo, made by luxe_fdw.c before the service's
 *	  first callback for the relation; the service keeps its planner state
 *	  in LuxeRelInfo.state.
 *	ForeignScan->fdw_private is a List:
 *	  [LUXE_PLAN_SERVICE]  Integer: the LuxeService
 *	  [LUXE_PLAN_PRIVATE]  List: the service's own items (gcs_plan.h and
 *						   bq_plan.h say what they are)
 *	ForeignScanState->fdw_state and ResultRelInfo->ri_FdwState are
 *	  LuxeExecStates, private to luxe_fdw.c: the service's executor state
 *	  is handed to its callbacks as an argument.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/luxe_fdw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_FDW_H
#define LUXE_FDW_H

#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"

#include "option.h"

typedef struct LuxeRelInfo
{
	LuxeService service;		/* resolved once, by luxe_fdw.c */
	void	   *state;			/* the service's planner state, or NULL */
} LuxeRelInfo;

enum LuxePlanPrivateIndex
{
	LUXE_PLAN_SERVICE,
	LUXE_PLAN_PRIVATE
};

/* The service's planner state of a relation (NULL if it has none yet). */
static inline void *
luxe_rel_state(RelOptInfo *rel)
{
	if (rel == NULL || rel->fdw_private == NULL)
		return NULL;
	return ((LuxeRelInfo *) rel->fdw_private)->state;
}

static inline void
luxe_rel_set_state(RelOptInfo *rel, void *state)
{
	Assert(rel->fdw_private != NULL);
	((LuxeRelInfo *) rel->fdw_private)->state = state;
}

/* The service's items of a ForeignScan's fdw_private. */
static inline List *
luxe_plan_private(ForeignScan *plan)
{
	return (List *) list_nth(plan->fdw_private, LUXE_PLAN_PRIVATE);
}

/*
 * Whose user mapping a write uses: the result relation's checkAsUser (the
 * owner of a view it is written through), else the current user, as
 * postgres_fdw does.  Scans use their RTE's checkAsUser, planning
 * RelOptInfo.userid, ANALYZE the table's owner, TRUNCATE the current user.
 */
static inline Oid
luxe_modify_user(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	Index		rti = rinfo->ri_RangeTableIndex;

	if (rti == 0 && rinfo->ri_RootResultRelInfo)
		rti = rinfo->ri_RootResultRelInfo->ri_RangeTableIndex;
	if (mtstate && rti > 0)
	{
		RangeTblEntry *rte = exec_rt_fetch(rti, mtstate->ps.state);

		if (OidIsValid(rte->checkAsUser))
			return rte->checkAsUser;
	}
	return GetUserId();
}

#endif							/* LUXE_FDW_H */

/*-------------------------------------------------------------------------
 *
 * gcs_plan.h
 *		  Planning of GCS foreign scans: row estimates from object sizes,
 *		  costs, serial and parallel paths.
 *
 * Contract between the planner side (gcs_plan.c) and the executor side
 * (gcs_scan.c) -- the service's items of the ForeignScan's fdw_private
 * (see luxe_fdw.h) are a List:
 *
 *	  [GCS_PRIV_URI]		 String: the table's uri, for EXPLAIN
 *	  [GCS_PRIV_NOBJECTS]	 Integer: objects listed at planning
 *	  [GCS_PRIV_TOTAL_BYTES] String (int64): their bytes, for EXPLAIN
 *	  [GCS_PRIV_ATTNUMS]	 List of Integer: the columns the scan converts
 *	  [GCS_PRIV_RANGE_SIZE]	 String (int64): bytes per range of a split object
 *	  [GCS_PRIV_SPLIT]		 List of 3 Integer, for EXPLAIN: objects and
 *							 ranges a parallel scan shares, objects split,
 *							 gzip objects larger than a range (not split)
 *
 * The objects themselves are listed again when the scan starts, and their
 * generations pinned then: a cached plan never reads a stale listing.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs_plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_GCS_PLAN_H
#define LUXE_GCS_PLAN_H

enum LuxeGcsPrivateIndex
{
	GCS_PRIV_URI,
	GCS_PRIV_NOBJECTS,
	GCS_PRIV_TOTAL_BYTES,
	GCS_PRIV_ATTNUMS,
	GCS_PRIV_RANGE_SIZE,
	GCS_PRIV_SPLIT
};

#endif							/* LUXE_GCS_PLAN_H */

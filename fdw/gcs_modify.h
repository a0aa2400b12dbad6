/*-------------------------------------------------------------------------
 *
 * gcs_modify.h
 *		  INSERT into GCS foreign tables through resumable uploads that are
 *		  committed with the transaction.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs_modify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_GCS_MODIFY_H
#define LUXE_GCS_MODIFY_H

#include "nodes/execnodes.h"
#include "option.h"

/* in gcs_modify.c */
extern void *luxe_gcs_begin_insert(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								   const LuxeServerOptions *server);
extern TupleTableSlot *luxe_gcs_exec_insert(void *state, TupleTableSlot *slot);
extern void luxe_gcs_end_insert(void *state);
extern char *luxe_gcs_insert_target(Relation rel);

#endif							/* LUXE_GCS_MODIFY_H */

/*-------------------------------------------------------------------------
 *
 * bq_fdw.h
 *		  Executor side of BigQuery foreign tables.
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

#include "access/htup.h"
#include "commands/explain.h"
#include "nodes/execnodes.h"
#include "nodes/parsenodes.h"
#include "utils/relcache.h"

/* in bq_fdw.c */
extern int	luxe_bq_page_size;
extern void luxe_bq_begin_scan(ForeignScanState *node, int eflags);
extern TupleTableSlot *luxe_bq_iterate_scan(ForeignScanState *node);
extern void luxe_bq_rescan(ForeignScanState *node);
extern void luxe_bq_end_scan(ForeignScanState *node);
extern void luxe_bq_explain_scan(ForeignScanState *node, ExplainState *es);
extern void luxe_bq_truncate(List *rels);
extern void *luxe_bq_begin_insert(ModifyTableState *mtstate, ResultRelInfo *rinfo);
extern TupleTableSlot *luxe_bq_exec_insert(void *state, TupleTableSlot *slot);
extern void luxe_bq_end_insert(void *state);
extern int	luxe_bq_acquire_sample_rows(Relation rel, int elevel, HeapTuple *rows,
										int targrows, double *totalrows,
										double *totaldeadrows);
extern List *luxe_bq_import_schema(ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif							/* LUXE_BQ_FDW_H */

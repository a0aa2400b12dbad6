/*-------------------------------------------------------------------------
 *
 * pipeline.h
 *		  Progress reporting of a pipeline refresh, for the scans that do
 *		  its work (see pipeline.c).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/pipeline.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_PIPELINE_H
#define LUXE_PIPELINE_H

#include "port/atomics.h"

/* in pipeline.c: no-ops unless a refresh in this backend is reporting */
extern void luxe_progress_scan_object(int ordinal);
extern void luxe_progress_scan_bytes(int64 n);
extern void luxe_progress_scan_row(void);
extern void luxe_progress_scan_done(int nobjects);
extern void luxe_progress_watch(pg_atomic_uint64 *bytes, pg_atomic_uint64 *rows);
extern void luxe_progress_unwatch(void);
extern void luxe_progress_forget(void);
extern void luxe_progress_tick(void);

#endif							/* LUXE_PIPELINE_H */

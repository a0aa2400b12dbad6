/*-------------------------------------------------------------------------
 *
 * xact.h
 *		  Remote work deferred to the commit of the transaction: GCS
 *		  uploads that must not become visible before it, BigQuery loads and
 *		  TRUNCATEs.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/xact.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_XACT_H
#define LUXE_XACT_H

#include "nodes/pg_list.h"

typedef struct LuxeDeferred LuxeDeferred;

/*
 * run does the work (may throw); cancel abandons it (must not throw: it
 * runs during abort); undo takes back work run at this commit when a later
 * one fails (may be NULL; must not throw).  arg is theirs.
 */
typedef void (*LuxeDeferredFn) (void *arg);

struct LuxeDeferred
{
	LuxeDeferredFn run;
	LuxeDeferredFn cancel;
	LuxeDeferredFn undo;
	void	   *arg;
	const char *what;			/* "cannot PREPARE a transaction " + what */
	SubTransactionId subid;		/* subtransaction that registered it */
	bool		started;		/* run was attempted */
	bool		done;			/* run or cancelled */
};

/* in xact.c */
extern LuxeDeferred *luxe_xact_defer(LuxeDeferredFn run, LuxeDeferredFn cancel,
									 LuxeDeferredFn undo, void *arg,
									 const char *what);
extern void luxe_xact_run_now(LuxeDeferred *d);
extern void luxe_xact_cancel(LuxeDeferred *d);
extern List *luxe_xact_deferred(void);

#endif							/* LUXE_XACT_H */

/*-------------------------------------------------------------------------
 *
 * xact.c
 *		  Remote work deferred to the commit of the transaction.
 *
 * Design assumptions and invariants:
 * - Work is registered with the subtransaction that asked for it.  At
 *   pre-commit every piece not yet done runs, in registration order; if
 *   one fails, the pieces run at this commit are undone where they can be
 *   and the commit fails with the first error.  Abort cancels what is not
 *   done; the abort of a subtransaction cancels what it (or its committed
 *   children) registered.  PREPARE TRANSACTION is refused while anything
 *   is pending: remote work cannot wait for a second phase.  A piece whose
 *   run failed (say under luxe.bigquery_flush, caught by a savepoint) is
 *   never run again: the commit fails instead.
 * - Entries live in TopTransactionContext and are forgotten at the end of
 *   the transaction.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/xact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"

#include "xact.h"

static List *deferred = NIL;
static bool callbacks_registered = false;

static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);

/*
 * luxe_xact_defer
 *		Register work to run at commit; arg must live in
 *		TopTransactionContext.
 */
LuxeDeferred *
luxe_xact_defer(LuxeDeferredFn run, LuxeDeferredFn cancel, LuxeDeferredFn undo,
				void *arg, const char *what)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	LuxeDeferred *d = palloc0(sizeof(LuxeDeferred));

	d->run = run;
	d->cancel = cancel;
	d->undo = undo;
	d->arg = arg;
	d->what = what;
	d->subid = GetCurrentSubTransactionId();
	if (!callbacks_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		RegisterSubXactCallback(subxact_callback, NULL);
		callbacks_registered = true;
	}
	deferred = lappend(deferred, d);
	MemoryContextSwitchTo(old);
	return d;
}

/* The work registered in this transaction, done or not. */
List *
luxe_xact_deferred(void)
{
	return deferred;
}

/*
 * Run one piece now rather than at commit (so its error can be caught).
 * A piece whose run failed is not run again (its first attempt may have
 * done part of its work, as a load that consumed its staged rows): the
 * transaction cannot commit.
 */
void
luxe_xact_run_now(LuxeDeferred *d)
{
	if (d->done)
		return;
	if (d->started)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot commit a transaction %s that failed earlier", d->what),
				 errhint("Roll back the transaction, or the savepoint before the write, and write again.")));
	d->started = true;
	d->run(d->arg);
	d->done = true;
}

/* Abandon one piece; never throws. */
void
luxe_xact_cancel(LuxeDeferred *d)
{
	if (d->done)
		return;
	d->done = true;
	d->cancel(d->arg);
}

static void
run_all(void)
{
	List	   *volatile ran = NIL;	/* set in PG_TRY, read in PG_CATCH */
	ListCell   *lc;

	PG_TRY();
	{
		foreach(lc, deferred)
		{
			LuxeDeferred *d = lfirst(lc);

			if (d->done)
				continue;
			luxe_xact_run_now(d);
			ran = lappend(ran, d);
		}
	}
	PG_CATCH();
	{
		/* keep the first error; take back what this commit already did */
		MemoryContext cxt = MemoryContextSwitchTo(TopTransactionContext);
		ErrorData  *edata = CopyErrorData();

		FlushErrorState();
		MemoryContextSwitchTo(cxt);
		foreach(lc, ran)
		{
			LuxeDeferred *d = lfirst(lc);

			if (d->undo)
				d->undo(d->arg);
		}
		ReThrowError(edata);
	}
	PG_END_TRY();
}

static void
xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (deferred == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			run_all();
			break;
		case XACT_EVENT_PRE_PREPARE:
			foreach(lc, deferred)
			{
				LuxeDeferred *d = lfirst(lc);

				if (!d->done)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("cannot PREPARE a transaction %s", d->what)));
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			foreach(lc, deferred)
				luxe_xact_cancel(lfirst(lc));
			deferred = NIL;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			deferred = NIL;		/* freed with TopTransactionContext */
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	foreach(lc, deferred)
	{
		LuxeDeferred *d = lfirst(lc);

		if (d->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			luxe_xact_cancel(d);
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			d->subid = parentSubid;
	}
}

/*-------------------------------------------------------------------------
 *
 * pipeline.c
 *		  What the pipeline procedure (fdw/install/20_pipeline.sql) needs
 *		  from C: progress another session can watch, a deadline per
 *		  attempt, and the alert webhook.
 *
 * Design assumptions and invariants:
 * - Progress: PostgreSQL gives extensions no progress command of their
 *   own, and a refresh's work is uncommitted until it ends, so a table
 *   cannot show it.  A refresh therefore reports through the backend's
 *   progress slots of the COPY command (it loads data, and runs no COPY of
 *   its own): bytes and rows done and the bytes to do in COPY's own slots
 *   (pg_stat_progress_copy shows them as a COPY with no command), and in
 *   slots COPY leaves unused a marker, the run, the attempt, the phase and
 *   the objects done, to do and in hand.  luxe.pipeline_progress reads
 *   them back.  GCS scans add their bytes and rows as they go
 *   (luxe_progress_scan_*), only in a backend whose refresh is reporting.
 * - The deadline of an attempt is a timeout of our own (RegisterTimeout),
 *   not statement_timeout, which covers the whole CALL: when it fires it
 *   cancels the running statement as statement_timeout would, and
 *   luxe.attempt_timed_out() tells the procedure that the cancel was its
 *   deadline, not a user's.
 * - The webhook is best effort: any failure is returned as text for the
 *   run history and never raised.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/pipeline.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/parallel.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/backend_progress.h"
#include "utils/builtins.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "http.h"
#include "pipeline.h"

/*
 * Progress slots (0-based; SQL's param1 is slot 0).  0-2 are COPY's own:
 * bytes processed, bytes total, tuples processed.
 */
#define SLOT_BYTES_DONE		0
#define SLOT_BYTES_TOTAL	1
#define SLOT_ROWS_DONE		2
#define SLOT_MARKER			10
#define SLOT_RUN			11
#define SLOT_ATTEMPT		12
#define SLOT_PHASE			13
#define SLOT_OBJECTS_DONE	14
#define SLOT_OBJECTS_TOTAL	15
#define SLOT_OBJECT			16	/* 1-based ordinal of the object in hand */

#define LUXE_PROGRESS_MARKER	INT64CONST(0x4C555845)	/* "LUXE" */

static bool progress_active = false;

/*
 * What the refresh reports, kept here and written whole at every update:
 * PostgreSQL's own commands (an index build, say) write some of the same
 * slots whatever command the backend reports, so a partial update could
 * leave another command's numbers in ours.
 */
static struct
{
	int64		run;
	int64		attempt;
	int64		phase;
	int64		objects_done;
	int64		objects_total;
	int64		object;
	int64		bytes_done;
	int64		bytes_total;
	int64		rows_done;
} prog;
static int64 rows_reported = 0;

/*
 * The counters a parallel GCS scan's workers add their bytes and rows to
 * (in the scan's dynamic shared memory), while the leader watches them;
 * NULL otherwise.
 */
static pg_atomic_uint64 *watched_bytes = NULL;
static pg_atomic_uint64 *watched_rows = NULL;
static int64 ticks = 0;

static void
report_all(void)
{
	const int	index[] = {SLOT_MARKER, SLOT_RUN, SLOT_ATTEMPT, SLOT_PHASE,
		SLOT_OBJECTS_DONE, SLOT_OBJECTS_TOTAL, SLOT_OBJECT,
	SLOT_BYTES_DONE, SLOT_BYTES_TOTAL, SLOT_ROWS_DONE};
	int64		val[10];

	val[0] = LUXE_PROGRESS_MARKER;
	val[1] = prog.run;
	val[2] = prog.attempt;
	val[3] = prog.phase;
	val[4] = prog.objects_done;
	val[5] = prog.objects_total;
	val[6] = prog.object;
	val[7] = prog.bytes_done + (watched_bytes ? (int64) pg_atomic_read_u64(watched_bytes) : 0);
	/* (a split object's ranges are read a little past their ends) */
	if (prog.bytes_total > 0 && val[7] > prog.bytes_total)
		val[7] = prog.bytes_total;
	val[8] = prog.bytes_total;
	val[9] = prog.rows_done + (watched_rows ? (int64) pg_atomic_read_u64(watched_rows) : 0);
	pgstat_progress_update_multi_param(10, index, val);
}

static TimeoutId attempt_timeout = MAX_TIMEOUTS;
static volatile sig_atomic_t attempt_expired = false;

PG_FUNCTION_INFO_V1(luxe_progress_begin);
PG_FUNCTION_INFO_V1(luxe_progress_phase);
PG_FUNCTION_INFO_V1(luxe_progress_end);
PG_FUNCTION_INFO_V1(luxe_attempt_deadline);
PG_FUNCTION_INFO_V1(luxe_attempt_timed_out);
PG_FUNCTION_INFO_V1(luxe_post_alert);
PG_FUNCTION_INFO_V1(luxe_bytes_received);

/*
 * luxe.progress_begin(run bigint, attempt integer): start reporting.
 */
Datum
luxe_progress_begin(PG_FUNCTION_ARGS)
{
	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, InvalidOid);
	memset(&prog, 0, sizeof(prog));
	prog.run = PG_GETARG_INT64(0);
	prog.attempt = PG_GETARG_INT32(1);
	rows_reported = 0;
	watched_bytes = watched_rows = NULL;
	progress_active = true;
	report_all();
	PG_RETURN_VOID();
}

/*
 * luxe.progress_phase(phase integer, objects_total bigint, bytes_total
 * bigint): a new phase; its counters start at zero.  The COPY command is
 * (re)started if something ended it.
 */
Datum
luxe_progress_phase(PG_FUNCTION_ARGS)
{
	if (!progress_active)
		PG_RETURN_VOID();
	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, InvalidOid);
	prog.phase = PG_GETARG_INT32(0);
	prog.objects_total = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	prog.bytes_total = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	prog.objects_done = prog.object = prog.bytes_done = prog.rows_done = 0;
	rows_reported = 0;
	report_all();
	PG_RETURN_VOID();
}

/* luxe.progress_end(): stop reporting. */
Datum
luxe_progress_end(PG_FUNCTION_ARGS)
{
	watched_bytes = watched_rows = NULL;
	if (progress_active)
		pgstat_progress_end_command();
	progress_active = false;
	PG_RETURN_VOID();
}

/* A GCS scan starts object ordinal (1-based) of its listing. */
void
luxe_progress_scan_object(int ordinal)
{
	if (!progress_active || IsParallelWorker())
		return;
	prog.object = ordinal;
	prog.objects_done = ordinal - 1;
	report_all();
}

/* A GCS scan read bytes of content. */
void
luxe_progress_scan_bytes(int64 n)
{
	if (!progress_active || IsParallelWorker())
		return;
	prog.bytes_done += n;
	report_all();
}

/* A GCS scan produced a row (reported every 1,000 rows). */
void
luxe_progress_scan_row(void)
{
	if (!progress_active)
		return;
	prog.rows_done++;
	if (prog.rows_done - rows_reported >= 1000)
	{
		report_all();
		rows_reported = prog.rows_done;
	}
}

/*
 * The leader of a parallel GCS scan shows what its workers add to bytes
 * and rows too, until luxe_progress_unwatch (or luxe_progress_forget, when
 * the shared memory may be gone already).
 */
void
luxe_progress_watch(pg_atomic_uint64 *bytes, pg_atomic_uint64 *rows)
{
	if (!progress_active || IsParallelWorker())
		return;
	watched_bytes = bytes;
	watched_rows = rows;
	/* (and what a TRUNCATE's index rebuild wrote into the slots goes) */
	report_all();
}

/* The parallel scan ends: keep what its workers did, stop watching. */
void
luxe_progress_unwatch(void)
{
	if (watched_bytes == NULL)
		return;
	prog.bytes_done += (int64) pg_atomic_read_u64(watched_bytes);
	prog.rows_done += (int64) pg_atomic_read_u64(watched_rows);
	watched_bytes = watched_rows = NULL;
	if (progress_active)
		report_all();
}

/* The parallel scan is gone (an error, say): stop watching, read nothing. */
void
luxe_progress_forget(void)
{
	watched_bytes = watched_rows = NULL;
}

/*
 * The leader wrote a row (luxe.insert_select): while its workers read, the
 * leader may read nothing itself, so the display is refreshed from here
 * too, every 1,000 rows.
 */
void
luxe_progress_tick(void)
{
	if (!progress_active)
		return;
	if (++ticks % 1000 == 0)
		report_all();
}

/* A GCS scan finished its objects. */
void
luxe_progress_scan_done(int nobjects)
{
	if (!progress_active || IsParallelWorker())
		return;
	prog.objects_done = nobjects;
	report_all();
}

/* The deadline passed: cancel what runs, as statement_timeout does. */
static void
attempt_timeout_handler(void)
{
	attempt_expired = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/*
 * luxe.attempt_deadline(interval): from now, cancel the running statement
 * after that long; NULL (or zero) clears the deadline.
 */
Datum
luxe_attempt_deadline(PG_FUNCTION_ARGS)
{
	if (attempt_timeout == MAX_TIMEOUTS)
		attempt_timeout = RegisterTimeout(USER_TIMEOUT, attempt_timeout_handler);
	disable_timeout(attempt_timeout, false);
	attempt_expired = false;
	if (!PG_ARGISNULL(0))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(0);
		int64		ms = (iv->time + ((int64) iv->day + (int64) iv->month * DAYS_PER_MONTH) * USECS_PER_DAY) / 1000;

		if (ms > 0)
			enable_timeout_after(attempt_timeout, (int) Min(ms, INT_MAX));
	}
	PG_RETURN_VOID();
}

/* luxe.attempt_timed_out(): did the deadline cancel the last statement? */
Datum
luxe_attempt_timed_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(attempt_expired);
}

/*
 * luxe.post_alert(url text, payload text): POST the JSON payload to the
 * webhook, with the usual retries; returns "delivered (HTTP n)" or why it
 * was not.  Never raises for the webhook's sake: a down webhook must not
 * fail a run.  The URL is judged like every destination (plain http only
 * to loopback, no user name or password).
 */
Datum
luxe_post_alert(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *payload = text_to_cstring(PG_GETARG_TEXT_PP(1));
	MemoryContext cxt = CurrentMemoryContext;
	LuxeHttpConfig cfg = {0};
	LuxeHttpStats stats = {0};
	char	   *volatile result = NULL;

	cfg.max_retries = 3;
	cfg.retry_initial_delay_ms = 500;
	cfg.retry_max_delay_ms = 4000;
	cfg.connect_timeout_ms = 5000;
	cfg.request_timeout_ms = 15000;
	cfg.service_name = "the alert webhook";
	PG_TRY();
	{
		LuxeHttpResponse *resp;

		luxe_http_check_destination(url, "the alert URL", InvalidOid, true);
		resp = luxe_http_request(&cfg, &stats, "POST", url,
								 list_make1("Content-Type: application/json; charset=UTF-8"),
								 payload, strlen(payload), true);
		result = psprintf("%s (HTTP %ld)", resp->status >= 200 && resp->status < 300 ?
						  "delivered" : "refused", resp->status);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		result = psprintf("not delivered: %s", edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * luxe.bytes_received(): response body bytes this backend has received
 * from Google's APIs (and the emulator) since it started -- downloads,
 * listings, BigQuery pages, and what the parallel workers of its GCS scans
 * received (handed over when the scan shuts down); what a refresh brought
 * into PostgreSQL is the difference across it.
 */
Datum
luxe_bytes_received(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(luxe_http_bytes_received);
}

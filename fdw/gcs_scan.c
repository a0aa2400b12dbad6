/*-------------------------------------------------------------------------
 *
 * gcs_scan.c
 *		  Execution of GCS foreign scans: objects streamed into the CSV
 *		  reader, rows converted, bad rows skipped under a budget, parallel
 *		  scans over the objects of a wildcard, and ANALYZE.
 *
 * Design assumptions and invariants:
 * - Execution lists the table's objects (planning listed them only for
 *   the estimate) and pins each object's generation for the whole scan,
 *   rescans included: a cached plan never reads a stale object and a scan
 *   never mixes two versions.
 * - Objects are streamed chunk by chunk into the CSV reader; memory does
 *   not grow with object size.
 * - Only the columns a query references (gcs_plan.h's attnums) are copied
 *   out of the CSV and run through their type input functions.
 * - Credentials are resolved in BeginForeignScan for the user the scan
 *   checks permissions as; they never reach the plan.
 * - IterateForeignScan runs in the per-tuple memory context: network and
 *   parser work switches to the scan context explicitly.
 * - Parallel scans share units: whole objects, and the byte ranges a large
 *   object (not gzip) is split into.  The leader lists once and shares the
 *   listing, so workers never list again and all read the pinned
 *   generations.  Record boundaries between ranges are agreed exactly (see
 *   "Parallel scans" below).
 * - The rows skipped under max_bad_records are kept per backend for
 *   luxe.last_scan_rejects(), reset when a scan starts, capped.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "portability/instr_time.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/sampling.h"

#include "csv.h"
#include "gcs.h"
#include "gcs_fdw.h"
#include "gcs_plan.h"
#include "luxe_fdw.h"
#include "pipeline.h"

/* GUC luxe_fdw.parse_chunk_size: feed the parser at most this many bytes */
int			luxe_gcs_parse_chunk_size = 0;

/* GUC luxe_fdw.parallel_range_size (bytes): ranges of a split object */
int			luxe_gcs_parallel_range_size = 8 * 1024 * 1024;

/*
 * Where a scan's time goes, measured around the calls: waiting for and
 * receiving bytes (including opening each object), parsing them into
 * records, and converting fields to column values.  What a query does with
 * the rows (an INSERT's cleaning and heap writes) is the rest of its time.
 */
#define LUXE_SCAN_FETCH		0
#define LUXE_SCAN_PARSE		1
#define LUXE_SCAN_CONVERT	2
#define LUXE_SCAN_NTIMERS	3

static const char *const scan_timer_names[LUXE_SCAN_NTIMERS] = {"Fetch", "Parse", "Convert"};

/* the last finished scan's, for luxe.last_scan_timings() */
static int64 last_scan_us[LUXE_SCAN_NTIMERS];
static int64 last_scan_rows = -1;

/*
 * Shared state of a parallel scan: the leader's listing (so every process
 * reads the same objects at the same generations), the next object to
 * claim, and the workers' transfer counters, which the leader adds to its
 * own for EXPLAIN ANALYZE.
 */
typedef struct LuxeGcsRangeSlot
{
	pg_atomic_uint32 done;		/* the summary below is published */
	int64		start;			/* first byte: a line start (or the end) */
	int64		end;			/* the next range's start */
	LuxeCsvRangeSummary summary;
} LuxeGcsRangeSlot;

typedef struct LuxeGcsParallelShared
{
	pg_atomic_uint32 next_unit;
	ConditionVariable range_cv; /* a range slot was published */
	int64		range_size;
	int			nunits;
	Size		slots_offset;	/* LuxeGcsRangeSlot[nunits], one per unit */
	pg_atomic_uint64 worker_bytes;
	pg_atomic_uint64 worker_http_bytes;	/* every body the workers received */
	pg_atomic_uint64 worker_requests;
	pg_atomic_uint64 worker_retries;
	pg_atomic_uint64 worker_rows;
	pg_atomic_uint64 worker_us[LUXE_SCAN_NTIMERS];
	pg_atomic_uint64 progress_bytes;	/* the workers' so far, for the leader's */
	pg_atomic_uint64 progress_rows; /* pipeline progress (pipeline.c) */
	pg_atomic_uint32 workers_started;	/* workers that joined the scan */
	pg_atomic_uint32 workers_finished;	/* ... and read to its end */
	Size		len;
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* serialized objects */
} LuxeGcsParallelShared;

#define range_slots(shared) \
	((LuxeGcsRangeSlot *) ((char *) (shared) + (shared)->slots_offset))

/* What a scan claims: a whole object, or range chunk of nchunks of one */
typedef struct LuxeGcsUnit
{
	int			object;
	int			chunk;
	int			nchunks;
} LuxeGcsUnit;

/* most requests_in_flight allows (option.c) */
#define LUXE_MAX_IN_FLIGHT	64

/* Executor state of a GCS CSV scan. */
typedef struct LuxeGcsScanState
{
	Relation	rel;
	MemoryContext scan_cxt;		/* child of es_query_cxt */
	MemoryContext object_cxt;	/* child of scan_cxt: the current object's
								 * stream and decompressor, reset per object */
	LuxeServerOptions server;
	LuxeCsvOptions csv;
	LuxeHttpStats stats;
	LuxeGcsClient client;

	/* columns to convert: slot i is attribute attnums[i] */
	int			nslots;
	AttrNumber *attnums;
	FmgrInfo   *in_functions;
	Oid		   *typioparams;
	int32	   *typmods;
	bool	   *integral;		/* int2/int4/int8: accept "34.0" */
	bool	   *is_text;		/* text: the datum is built from the field */
	bool	   *is_float8;		/* float8: plain decimals parsed here */
	LuxeColumnMetadata *meta;	/* per slot: a metadata column, or NONE */
	char	  **colnames;		/* remote names of all columns, by attnum */
	int			ncolumns;		/* non-dropped columns */
	int		   *positional_map; /* field index -> slot, positional mode */
	int		   *header_map;		/* field index -> slot, header mode */
	int			expected_fields;

	/* objects, listed once per scan; generations pinned */
	struct LuxeGcsParallelShared *shared;	/* parallel scan: objects claimed here */
	char	   *serialized;		/* the listing, as the leader shares it */
	Size		serialized_len;
	List	   *objects;
	bool		listed;
	int64		range_size;		/* parallel scans split objects larger */
	LuxeGcsUnit *units;			/* claimed in order */
	int			nunits;
	int			cur_unit;
	int			cur_object;		/* index into objects, -1 before start */
	int			next_claim;		/* serial scan: the next unit to claim */
	bool		claims_done;	/* every object is claimed */

	/*
	 * Objects claimed ahead of the current one, in reading order, with
	 * their first request started if they are small (requests_in_flight);
	 * each in a context of its own, deleted once its object is read.
	 */
	int			nahead;
	int			ahead_unit[LUXE_MAX_IN_FLIGHT];
	LuxeHttpStream *ahead_stream[LUXE_MAX_IN_FLIGHT];
	MemoryContext ahead_cxt[LUXE_MAX_IN_FLIGHT];
	MemoryContext cur_ahead_cxt;	/* the current object's, or NULL */
	bool		object_done;
	LuxeGcsReader *reader;
	LuxeCsvReader *csvr;
	const char *pending;		/* network bytes not yet parsed */
	size_t		pending_len;

	/*
	 * The range being parsed, of a split object: its bytes as read to
	 * agree on boundaries (then the stream goes on after them), where the
	 * reader must stop, and whether exactly there.
	 */
	char	   *range_buf;		/* object bytes from range_start */
	size_t		range_len;
	size_t		range_pos;		/* next byte to feed */
	int64		range_start;
	int64		range_end;
	bool		range_stop_exact;
	int			header_object;	/* the object header_map belongs to, or -1 */
	int			header_nfields;

	/* error context */
	const char *cur_uri;
	int64		cur_line;
	int			cur_slot;
	const char *cur_value;

	/* bad records skipped under max_bad_records */
	int64		rejected;

	/* EXPLAIN ANALYZE */
	int64		scan_us[LUXE_SCAN_NTIMERS];
	int64		rows_produced;
	bool		finished;		/* read to its end: its timers are the last scan's */
	bool		began;			/* asked for a row */
	int64		progress_rows;	/* a worker's rows not yet added to the leader's */
	MemoryContextCallback progress_forget;	/* the leader stops watching */
	int64		bytes_listed;
	int64		http_bytes0;	/* luxe_http_bytes_received when it began */
} LuxeGcsScanState;


static LuxeGcsScanState *scan_state_create(Relation rel, Oid serverid, Oid userid,
										   List *attnums, MemoryContext parent);
static void scan_state_end(LuxeGcsScanState *st);
static TupleTableSlot *scan_next(LuxeGcsScanState *st, TupleTableSlot *slot);
static void scan_error_callback(void *arg);
static void ensure_listed(LuxeGcsScanState *st);
static void build_units(LuxeGcsScanState *st, bool split);
static bool open_range(LuxeGcsScanState *st, int unit);
static void raise_csv_error(LuxeGcsScanState *st);
static bool next_object(LuxeGcsScanState *st);
static bool resume_object(LuxeGcsScanState *st);
static void header_callback(void *arg, int nfields, char **names);
static bool store_record(LuxeGcsScanState *st, LuxeCsvRecord *rec,
						 TupleTableSlot *slot);
static void check_record_shape(LuxeGcsScanState *st, LuxeCsvRecord *rec);
static void convert_record(LuxeGcsScanState *st, LuxeCsvRecord *rec,
						   TupleTableSlot *slot);
static void record_reject(LuxeGcsScanState *st, int64 line, const char *column,
						  const char *reason);
static void report_rejects(LuxeGcsScanState *st);
static void reset_rejects(void);
static int	acquire_sample_rows(Relation onerel, int elevel, HeapTuple *rows,
								int targrows, double *totalrows,
								double *totaldeadrows);

/* A range size as EXPLAIN shows it: in MB or kB when it is whole ones. */
static char *
range_size_text(int64 bytes)
{
	if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
		return psprintf(INT64_FORMAT " MB", bytes / (1024 * 1024));
	if (bytes >= 1024 && bytes % 1024 == 0)
		return psprintf(INT64_FORMAT " kB", bytes / 1024);
	return psprintf(INT64_FORMAT " bytes", bytes);
}

/*
 * luxe_gcs_scan_explain
 *		ExplainForeignScan: the uri and what planning listed; with ANALYZE,
 *		the transfer counters (a parallel leader's include its workers').
 */
void
luxe_gcs_scan_explain(ForeignScanState *node, void *state, ExplainState *es)
{
	List	   *fdw_private = luxe_plan_private((ForeignScan *) node->ss.ps.plan);
	LuxeGcsScanState *st = (LuxeGcsScanState *) state;

	ExplainPropertyText("GCS URI", strVal(list_nth(fdw_private, GCS_PRIV_URI)), es);
	ExplainPropertyInteger("GCS Objects", NULL,
						   intVal(list_nth(fdw_private, GCS_PRIV_NOBJECTS)), es);
	ExplainPropertyInteger("GCS Bytes", NULL,
						   strtoll(strVal(list_nth(fdw_private, GCS_PRIV_TOTAL_BYTES)), NULL, 10),
						   es);
	if (node->ss.ps.plan->parallel_aware ||
		intVal(list_nth((List *) list_nth(fdw_private, GCS_PRIV_SPLIT), 2)) > 0)
	{
		/* a parallel scan splits objects; any scan says why gzip is not */
		List	   *split = (List *) list_nth(fdw_private, GCS_PRIV_SPLIT);
		int64		range_size = strtoll(strVal(list_nth(fdw_private, GCS_PRIV_RANGE_SIZE)), NULL, 10);
		int			nsplit = node->ss.ps.plan->parallel_aware ? intVal(list_nth(split, 1)) : 0;
		int			ngzip = intVal(list_nth(split, 2));
		StringInfoData buf;

		initStringInfo(&buf);
		if (nsplit == 0)
			appendStringInfoString(&buf, "none");
		else
			appendStringInfo(&buf, "%d of %d objects in ranges of %s, %d units",
							 nsplit, intVal(list_nth(fdw_private, GCS_PRIV_NOBJECTS)),
							 range_size_text(range_size), intVal(list_nth(split, 0)));
		if (ngzip > 0)
			appendStringInfo(&buf, "; %d gzip object%s read whole (not splittable)",
							 ngzip, ngzip > 1 ? "s" : "");
		ExplainPropertyText("GCS Split", buf.data, es);
	}
	if (es->analyze && st)
	{
		ExplainPropertyInteger("Bytes Fetched", NULL, st->stats.bytes, es);
		ExplainPropertyInteger("Requests", NULL, st->stats.requests, es);
		ExplainPropertyInteger("Retries", NULL, st->stats.retries, es);
		ExplainPropertyInteger("Rows Produced", NULL, st->rows_produced, es);
		if (es->timing)
		{
			int			i;

			/* (summed over the processes of a parallel scan) */
			for (i = 0; i < LUXE_SCAN_NTIMERS; i++)
				ExplainPropertyFloat(psprintf("%s Time", scan_timer_names[i]), "ms",
									 (double) st->scan_us[i] / 1000.0, 3, es);
		}
	}
}

static bool
type_is_integral(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID;
}



/*
 * luxe_gcs_scan_begin
 *		BeginForeignScan: set up conversion for the needed columns and
 *		return the scan state (NULL for EXPLAIN without ANALYZE).  Nothing
 *		touches the network before the first row is asked for.
 */
void *
luxe_gcs_scan_begin(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	Relation	rel = node->ss.ss_currentRelation;
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	RangeTblEntry *rte = exec_rt_fetch(plan->scan.scanrelid, estate);
	Oid			userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	List	   *attnums = (List *) list_nth(luxe_plan_private(plan), GCS_PRIV_ATTNUMS);

	LuxeGcsScanState *st;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return NULL;
	st = scan_state_create(rel, table->serverid, userid, attnums,
						   estate->es_query_cxt);
	/* used by a parallel scan only */
	st->range_size = strtoll(strVal(list_nth(luxe_plan_private(plan), GCS_PRIV_RANGE_SIZE)),
							 NULL, 10);
	return st;
}

/*
 * Set up a scan of a GCS foreign table converting the given attributes:
 * options, credentials, input functions and the field-to-column maps.
 * The state lives in parent; its "luxe_fdw scan" child context holds the
 * network and parser resources.  Nothing touches the network yet.
 */
static LuxeGcsScanState *
scan_state_create(Relation rel, Oid serverid, Oid userid, List *attnums,
				  MemoryContext parent)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	LuxeGcsScanState *st;
	MemoryContext old;
	ListCell   *lc;
	int			i;
	int			field;

	st = MemoryContextAllocZero(parent, sizeof(LuxeGcsScanState));
	st->http_bytes0 = luxe_http_bytes_received;
	st->rel = rel;
	st->scan_cxt = AllocSetContextCreate(parent, "luxe_fdw scan",
										 ALLOCSET_DEFAULT_SIZES);
	st->object_cxt = AllocSetContextCreate(st->scan_cxt, "luxe_fdw scan object",
										   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(st->scan_cxt);

	luxe_option_server(serverid, &st->server);
	luxe_option_csv(RelationGetRelid(rel), tupdesc->natts, &st->csv);
	luxe_gcs_client_init(&st->client, &st->stats, &st->server, serverid, userid);

	/*
	 * Whether a row is bad must not depend on the columns a query reads:
	 * with a bad-record budget (or validate_all_columns) every column is
	 * converted.
	 */
	if (st->csv.max_bad_records > 0 || st->csv.validate_all_columns)
	{
		attnums = NIL;
		for (i = 1; i <= tupdesc->natts; i++)
			if (!TupleDescAttr(tupdesc, i - 1)->attisdropped)
				attnums = lappend(attnums, makeInteger(i));
	}

	st->nslots = list_length(attnums);
	st->attnums = palloc(sizeof(AttrNumber) * Max(st->nslots, 1));
	st->in_functions = palloc(sizeof(FmgrInfo) * Max(st->nslots, 1));
	st->typioparams = palloc(sizeof(Oid) * Max(st->nslots, 1));
	st->typmods = palloc(sizeof(int32) * Max(st->nslots, 1));
	st->integral = palloc(sizeof(bool) * Max(st->nslots, 1));
	st->is_text = palloc(sizeof(bool) * Max(st->nslots, 1));
	st->is_float8 = palloc(sizeof(bool) * Max(st->nslots, 1));
	st->meta = palloc(sizeof(LuxeColumnMetadata) * Max(st->nslots, 1));
	i = 0;
	foreach(lc, attnums)
	{
		AttrNumber	attnum = intVal(lfirst(lc));
		Form_pg_attribute attr = TupleDescAttr(tupdesc, attnum - 1);
		Oid			infunc;

		st->attnums[i] = attnum;
		getTypeInputInfo(attr->atttypid, &infunc, &st->typioparams[i]);
		fmgr_info(infunc, &st->in_functions[i]);
		st->typmods[i] = attr->atttypmod;
		st->integral[i] = type_is_integral(attr->atttypid);
		st->is_text[i] = attr->atttypid == TEXTOID;
		st->is_float8[i] = attr->atttypid == FLOAT8OID;
		st->meta[i] = luxe_option_column_metadata(RelationGetRelid(rel), attnum);
		i++;
	}

	/* remote names, and the positional field -> slot map */
	st->colnames = palloc0(sizeof(char *) * (tupdesc->natts + 1));
	st->positional_map = palloc(sizeof(int) * Max(tupdesc->natts, 1));
	field = 0;
	for (i = 1; i <= tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i - 1);
		int			s;

		if (attr->attisdropped)
			continue;
		st->colnames[i] = luxe_option_remote_column(RelationGetRelid(rel), i);
		/* a metadata column reads no CSV field */
		if (luxe_option_column_metadata(RelationGetRelid(rel), i) != LUXE_META_NONE)
			continue;
		st->positional_map[field] = -1;
		for (s = 0; s < st->nslots; s++)
			if (st->attnums[s] == i)
				st->positional_map[field] = s;
		field++;
	}
	st->ncolumns = field;
	st->expected_fields = field;

	st->csvr = luxe_csv_create(&st->csv, st->nslots);
	luxe_csv_set_recovery(st->csvr, st->csv.max_bad_records > 0);
	reset_rejects();			/* luxe.last_scan_rejects() is per scan */
	st->cur_object = -1;
	st->cur_unit = -1;
	st->header_object = -1;
	st->object_done = true;
	MemoryContextSwitchTo(old);
	return st;
}

/*
 * Header row of an object in header-mapping mode: map each field to the
 * column of that name.  Every column must be present; extra header fields
 * are ignored.  Called from inside the CSV parser; may throw.
 */
static void
header_callback(void *arg, int nfields, char **names)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) arg;
	TupleDesc	tupdesc = RelationGetDescr(st->rel);
	MemoryContext old = MemoryContextSwitchTo(st->scan_cxt);
	int			i;
	int			f;

	st->header_map = palloc(sizeof(int) * Max(nfields, 1));
	for (f = 0; f < nfields; f++)
		st->header_map[f] = -1;
	for (i = 1; i <= tupdesc->natts; i++)
	{
		int			s;
		int			found = -1;

		if (TupleDescAttr(tupdesc, i - 1)->attisdropped ||
			luxe_option_column_metadata(RelationGetRelid(st->rel), i) != LUXE_META_NONE)
			continue;
		for (f = 0; f < nfields; f++)
		{
			if (strcmp(names[f], st->colnames[i]) == 0 ||
				/* a UTF-8 BOM the writer put before the first name */
				(f == 0 && strncmp(names[f], "\xEF\xBB\xBF", 3) == 0 &&
				 strcmp(names[f] + 3, st->colnames[i]) == 0))
			{
				found = f;
				break;
			}
		}
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
					 errmsg("column \"%s\" of foreign table \"%s\" is not in the header of GCS object \"%s\"",
							st->colnames[i], RelationGetRelationName(st->rel), st->cur_uri),
					 errdetail("The header (line %d) has %d fields.",
							   st->csv.skip_leading_rows, nfields),
					 errhint("Set the column's \"column_name\" option to its name in the header.")));
		for (s = 0; s < st->nslots; s++)
			if (st->attnums[s] == i)
				st->header_map[found] = s;
	}
	st->expected_fields = nfields;
	st->header_object = st->cur_object;
	st->header_nfields = nfields;
	luxe_csv_set_slots(st->csvr, st->header_map, nfields);
	MemoryContextSwitchTo(old);
}

/*
 * List the scan's objects once, pinning their generations for every later
 * read and rescan.  Runs in the scan context; can throw.
 */
static void
ensure_listed(LuxeGcsScanState *st)
{
	ListCell   *lc;

	if (st->listed)
		return;
	st->objects = luxe_gcs_list_uri(&st->client, st->csv.uri, false);
	foreach(lc, st->objects)
		st->bytes_listed += ((LuxeGcsObject *) lfirst(lc))->size;
	st->listed = true;
	build_units(st, false);
}

/*
 * The units the scan claims, in order: each object whole, or with split
 * (a parallel scan) the ranges of the objects larger than range_size.
 * Every process of a parallel scan builds the same list from the same
 * listing.  Runs in the scan context.
 */
static void
build_units(LuxeGcsScanState *st, bool split)
{
	ListCell   *lc;
	int			n = 0;
	int			i = 0;

	foreach(lc, st->objects)
		n += split ? luxe_gcs_object_ranges(lfirst(lc), st->range_size) : 1;
	st->units = palloc(sizeof(LuxeGcsUnit) * Max(n, 1));
	st->nunits = n;
	n = 0;
	foreach(lc, st->objects)
	{
		int			k;
		int			chunks = split ? luxe_gcs_object_ranges(lfirst(lc), st->range_size) : 1;

		for (k = 0; k < chunks; k++)
		{
			st->units[n].object = i;
			st->units[n].chunk = k;
			st->units[n].nchunks = chunks;
			n++;
		}
		i++;
	}
}

/*
 * Claim the next unit: the next in order, or in a parallel scan the next
 * no process has claimed.  Returns its index, or -1 when all are claimed
 * (or, with whole_only, when the next is a range of a split object: a
 * range is claimed only by a process about to read it, see open_range).
 */
static int
claim_unit(LuxeGcsScanState *st, bool whole_only)
{
	uint32		i;

	if (st->claims_done)
		return -1;
	if (st->shared == NULL)
	{
		i = st->next_claim;
		if (i < st->nunits && whole_only && st->units[i].nchunks > 1)
			return -1;
		st->next_claim++;
	}
	else
	{
		i = pg_atomic_read_u32(&st->shared->next_unit);
		for (;;)
		{
			if (i >= st->nunits)
				break;
			if (whole_only && st->units[i].nchunks > 1)
				return -1;
			/* on failure, i is reread */
			if (pg_atomic_compare_exchange_u32(&st->shared->next_unit, &i, i + 1))
				break;
		}
	}
	if (i >= st->nunits)
	{
		st->claims_done = true;
		return -1;
	}
	return (int) i;
}

/*
 * Keep requests_in_flight reads going: claim the objects after the
 * current one and start their first requests now, so that their round
 * trips overlap the parsing of the current one instead of following it.
 * Only small objects (whose body fits the stream buffer, so a request
 * started ahead completes instead of pausing) are read ahead; claiming
 * stops at a large one, which is read in its turn as before.  Memory
 * stays bounded: requests_in_flight x LUXE_HTTP_STREAM_BUFFER.
 */
static void
claim_ahead(LuxeGcsScanState *st)
{
	while (st->nahead < st->server.requests_in_flight - 1)
	{
		int			i;
		LuxeGcsObject *o;
		MemoryContext old;

		if (st->nahead > 0 && st->ahead_stream[st->nahead - 1] == NULL)
			break;				/* a large object waits: claim no further */
		i = claim_unit(st, true);
		if (i < 0)
			break;
		o = list_nth(st->objects, st->units[i].object);
		st->ahead_unit[st->nahead] = i;
		st->ahead_stream[st->nahead] = NULL;
		st->ahead_cxt[st->nahead] = AllocSetContextCreate(st->scan_cxt, "luxe_fdw read ahead",
														  ALLOCSET_SMALL_SIZES);
		st->nahead++;
		if (o->size <= LUXE_HTTP_STREAM_BUFFER)
		{
			old = MemoryContextSwitchTo(st->ahead_cxt[st->nahead - 1]);
			st->ahead_stream[st->nahead - 1] = luxe_gcs_prefetch(&st->client, o);
			MemoryContextSwitchTo(old);
		}
	}
}

/* Forget the objects claimed ahead (a rescan claims from the start). */
static void
drop_ahead(LuxeGcsScanState *st)
{
	int			i;

	for (i = 0; i < st->nahead; i++)
		MemoryContextDelete(st->ahead_cxt[i]);
	st->nahead = 0;
	if (st->cur_ahead_cxt)
		MemoryContextDelete(st->cur_ahead_cxt);
	st->cur_ahead_cxt = NULL;
}

/*
 * Move to the next object (the next one claimed, in a parallel scan) and
 * open a stream.  Returns false when there are no more objects.  Runs in
 * the scan context; can throw.
 */
static bool
next_object(LuxeGcsScanState *st)
{
	LuxeGcsObject *o;
	LuxeHttpStream *ahead = NULL;

	ensure_listed(st);
	if (st->reader)
		luxe_gcs_close_stream(st->reader);
	st->reader = NULL;
	st->cur_uri = NULL;
	/* the last object's stream and decompressor go, whatever the count */
	MemoryContextReset(st->object_cxt);
	st->range_buf = NULL;
	if (st->cur_ahead_cxt)
		MemoryContextDelete(st->cur_ahead_cxt);
	st->cur_ahead_cxt = NULL;
	if (st->nahead > 0)
	{
		st->cur_unit = st->ahead_unit[0];
		ahead = st->ahead_stream[0];
		st->cur_ahead_cxt = st->ahead_cxt[0];
		st->nahead--;
		memmove(st->ahead_unit, st->ahead_unit + 1, st->nahead * sizeof(int));
		memmove(st->ahead_stream, st->ahead_stream + 1, st->nahead * sizeof(LuxeHttpStream *));
		memmove(st->ahead_cxt, st->ahead_cxt + 1, st->nahead * sizeof(MemoryContext));
	}
	else
	{
		st->cur_unit = claim_unit(st, false);
		if (st->cur_unit < 0)
		{
			st->cur_object = list_length(st->objects);
			return false;
		}
	}
	st->cur_object = st->units[st->cur_unit].object;
	/* a range is read at once (others wait for its summary): no read ahead */
	if (st->units[st->cur_unit].nchunks == 1)
		claim_ahead(st);

	o = list_nth(st->objects, st->cur_object);
	MemoryContextSwitchTo(st->object_cxt);
	st->cur_uri = luxe_gcs_object_uri(o);
	st->expected_fields = st->ncolumns;
	luxe_csv_begin_object(st->csvr, st->csv.header_mapping, header_callback, st);
	if (st->csv.header_mapping)
		luxe_csv_set_slots(st->csvr, NULL, 0);
	else
		luxe_csv_set_slots(st->csvr, st->positional_map, st->ncolumns);
	st->pending_len = 0;
	st->object_done = false;
	if (st->units[st->cur_unit].nchunks > 1)
	{
		/* no record may start in the range: then it is done already */
		st->object_done = !open_range(st, st->cur_unit);
	}
	else
		st->reader = luxe_gcs_open_prefetched(&st->client, o, 0, ahead);
	MemoryContextSwitchTo(st->scan_cxt);
	luxe_progress_scan_object(st->cur_object + 1);
	return true;
}

/*
 * After an unterminated quote (recovery mode): read the current object
 * again from the line after the one where the quote opened.  Returns false
 * when there is nothing to resume.  Runs in the scan context; can throw.
 */
static bool
resume_object(LuxeGcsScanState *st)
{
	int64		offset;
	int64		line;

	if (st->cur_object < 0 || !luxe_csv_resume_point(st->csvr, &offset, &line))
		return false;
	if (st->reader)
		luxe_gcs_close_stream(st->reader);
	st->reader = NULL;
	st->range_buf = NULL;
	{
		/* the object's context also holds cur_uri: keep it, drop the reader */
		MemoryContext old = MemoryContextSwitchTo(st->object_cxt);

		st->reader = luxe_gcs_open_stream(&st->client,
										  list_nth(st->objects, st->cur_object),
										  offset);
		MemoryContextSwitchTo(old);
	}
	luxe_csv_restart(st->csvr, offset, line);
	st->pending_len = 0;
	st->object_done = false;
	return true;
}

/*
 * Rows rejected by the last scan (of any luxe_fdw table), for
 * luxe.last_scan_rejects(): backend-local, in TopMemoryContext, capped.
 */
#define LUXE_MAX_STORED_REJECTS 10000

static LuxeGcsReject *rejects = NULL;
static int	nrejects = 0;

static void
reset_rejects(void)
{
	int			i;

	for (i = 0; i < nrejects; i++)
	{
		pfree(rejects[i].table_name);
		pfree(rejects[i].object);
		if (rejects[i].column)
			pfree(rejects[i].column);
		pfree(rejects[i].reason);
	}
	nrejects = 0;
}

/*
 * Count a rejected row and keep it for luxe.last_scan_rejects(); past the
 * budget, fail like bq load does.
 */
static void
record_reject(LuxeGcsScanState *st, int64 line, const char *column, const char *reason)
{
	st->rejected++;
	if (rejects == NULL)
		rejects = MemoryContextAlloc(TopMemoryContext, sizeof(LuxeGcsReject) * LUXE_MAX_STORED_REJECTS);
	if (nrejects < LUXE_MAX_STORED_REJECTS)
	{
		LuxeGcsReject *r = &rejects[nrejects++];

		r->table_name = MemoryContextStrdup(TopMemoryContext, RelationGetRelationName(st->rel));
		r->object = MemoryContextStrdup(TopMemoryContext, st->cur_uri);
		r->line = line;
		r->column = column ? MemoryContextStrdup(TopMemoryContext, column) : NULL;
		r->reason = MemoryContextStrdup(TopMemoryContext, reason);
	}
	if (st->rejected > st->csv.max_bad_records)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("too many bad rows in foreign table \"%s\"",
						RelationGetRelationName(st->rel)),
				 errdetail("%lld rows were rejected and \"%s\" is %d; the last, line %lld%s%s: %s.",
						   (long long) st->rejected, OPT_MAX_BAD_RECORDS, st->csv.max_bad_records,
						   (long long) line, column ? ", column " : "", column ? column : "", reason),
				 errhint("SELECT * FROM luxe.last_scan_rejects() lists the rejected rows.")));
}

/*
 * luxe_gcs_scan_rejects
 *		The rows the last scan with a bad-record budget in this session
 *		skipped (up to LUXE_MAX_STORED_REJECTS), for luxe.last_scan_rejects().
 *		The array lives in TopMemoryContext until the next scan starts.
 */
int
luxe_gcs_scan_rejects(const LuxeGcsReject **result)
{
	*result = rejects;
	return nrejects;
}

/* At the end of a scan: a NOTICE with the count and the first rejects. */
static void
report_rejects(LuxeGcsScanState *st)
{
	StringInfoData buf;
	int			i;
	int			shown = 0;

	if (st->rejected == 0)
		return;
	initStringInfo(&buf);
	for (i = 0; i < nrejects && shown < 5; i++)
	{
		if (strcmp(rejects[i].table_name, RelationGetRelationName(st->rel)) != 0)
			continue;
		appendStringInfo(&buf, "%s%s, line %lld%s%s: %s", shown ? "\n" : "",
						 rejects[i].object, (long long) rejects[i].line,
						 rejects[i].column ? ", column " : "",
						 rejects[i].column ? rejects[i].column : "", rejects[i].reason);
		shown++;
	}
	ereport(NOTICE,
			(errmsg_plural("skipped %lld bad row of foreign table \"%s\"",
						   "skipped %lld bad rows of foreign table \"%s\"",
						   st->rejected,
						   (long long) st->rejected, RelationGetRelationName(st->rel)),
			 errdetail_internal("%s", buf.data),
			 errhint("SELECT * FROM luxe.last_scan_rejects() lists them all.")));
	st->rejected = 0;			/* a rescan reports its own */
}



static void
scan_error_callback(void *arg)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) arg;

	if (st->cur_uri == NULL)
		return;
	if (st->cur_slot >= 0 && st->cur_line > 0)
	{
		const char *col = st->colnames[st->attnums[st->cur_slot]];

		if (st->cur_value)
		{
			/* at most 64 bytes, cut on a character boundary */
			char	   *v = pnstrdup(st->cur_value,
									 pg_mbcliplen(st->cur_value, strlen(st->cur_value), 64));

			errcontext("foreign table \"%s\", GCS object \"%s\", line %lld, column %s: \"%s%s\"",
					   RelationGetRelationName(st->rel), st->cur_uri,
					   (long long) st->cur_line, col, v,
					   strlen(st->cur_value) > 64 ? "..." : "");
		}
		else
			errcontext("foreign table \"%s\", GCS object \"%s\", line %lld, column %s",
					   RelationGetRelationName(st->rel), st->cur_uri,
					   (long long) st->cur_line, col);
	}
	else if (st->cur_line > 0)
		errcontext("foreign table \"%s\", GCS object \"%s\", line %lld",
				   RelationGetRelationName(st->rel), st->cur_uri,
				   (long long) st->cur_line);
	else
		errcontext("foreign table \"%s\", GCS object \"%s\"",
				   RelationGetRelationName(st->rel), st->cur_uri);
}

/*
 * Check a record's shape and convert its needed fields into the slot.
 * Runs in the per-tuple context; throws on a bad record (the error context
 * names object, line and column), unless the table has a bad-record budget:
 * then the row is recorded as rejected and false is returned.
 */
static bool
store_record(LuxeGcsScanState *st, LuxeCsvRecord *rec, TupleTableSlot *slot)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	st->cur_line = rec->line;
	if (rec->status == LUXE_CSV_RECORD_MALFORMED)
	{
		/* only produced in recovery mode, under a budget */
		record_reject(st, rec->line, NULL, rec->reason);
		return false;
	}
	if (st->csv.max_bad_records == 0)
	{
		check_record_shape(st, rec);
		convert_record(st, rec, slot);
		return true;
	}

	/*
	 * With a bad-record budget, a data error in this row is caught in a
	 * subtransaction (input functions may leave state behind that only an
	 * abort cleans up), recorded, and the row skipped.  Other errors, such
	 * as a cancel or out of memory, propagate.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		check_record_shape(st, rec);
		convert_record(st, rec, slot);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(oldcxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (ERRCODE_TO_CATEGORY(ed->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			ReThrowError(ed);
		record_reject(st, rec->line,
					  st->cur_slot >= 0 ? st->colnames[st->attnums[st->cur_slot]] : NULL,
					  ed->message);
		st->cur_slot = -1;
		st->cur_value = NULL;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Raise the error for a record whose shape is wrong (field count, quoted
 * line break); return quietly for a good one.
 */
static void
check_record_shape(LuxeGcsScanState *st, LuxeCsvRecord *rec)
{
	if (rec->status == LUXE_CSV_RECORD_QUOTED_NEWLINE)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("quoted line break in CSV row"),
				 errhint("Set the table option \"%s\" to true to accept line breaks inside quoted fields.",
						 OPT_ALLOW_QUOTED_NEWLINES)));
	if (rec->nfields < st->expected_fields && !st->csv.allow_jagged_rows)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("CSV row has too few fields"),
				 errdetail("Expected %d fields, found %d.", st->expected_fields, rec->nfields),
				 errhint("Set the table option \"%s\" to true to read missing trailing fields as NULL.",
						 OPT_ALLOW_JAGGED_ROWS)));
	if (rec->nfields > st->expected_fields && !st->csv.ignore_unknown_values)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("CSV row has too many fields"),
				 errdetail("Expected %d fields, found %d.", st->expected_fields, rec->nfields),
				 errhint("Set the table option \"%s\" to true to ignore extra trailing fields.",
						 OPT_IGNORE_UNKNOWN_VALUES)));
}

/* Convert a record's needed fields into the slot; throws on a bad value. */
/*
 * Whether the len bytes at s are ASCII without a NUL, which is valid in any
 * server encoding: UTF-8's check (pg_verify_mbstr) then has nothing to do.
 * Eight bytes at a time.
 */
static inline bool
is_plain_ascii(const char *s, int len)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);
	int			i = 0;

	uint64		w;

	for (; i + 8 <= len; i += 8)
	{
		memcpy(&w, s + i, 8);
		/* a high bit set, or a zero byte */
		if ((w & highs) || ((w - ones) & ~w & highs))
			return false;
	}
	if (i == len)
		return true;
	/* the rest: the field's last 8 bytes again, or its bytes padded with spaces */
	if (len >= 8)
		memcpy(&w, s + len - 8, 8);
	else
	{
		w = UINT64CONST(0x2020202020202020);
		memcpy(&w, s, len);
	}
	return !((w & highs) || ((w - ones) & ~w & highs));
}

/*
 * The float8 of a plain decimal ("-123.45", "7", ".5"), as float8in would
 * give it, when the exact fast path applies: at most 15 significant digits
 * (the integer they form is below 2^53, exact in a double) and at most 22
 * decimals (10^22 is the largest power of ten exact in a double), so one
 * IEEE division is correctly rounded, as strtod is.  False for anything
 * else (exponents, spaces, NaN, more digits), which float8in then reads.
 */
static inline bool
plain_float8(const char *s, int len, double *result)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
	};
	uint64		mant = 0;
	int			significant = 0;
	int			ndigits = 0;
	int			decimals = -1;	/* digits after the point, -1 before one */
	bool		neg = false;
	int			i = 0;
	double		v;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
	{
		neg = (s[0] == '-');
		i++;
	}
	for (; i < len; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
		{
			if (mant != 0 || c != '0')
			{
				if (++significant > 15)
					return false;
				mant = mant * 10 + (c - '0');
			}
			ndigits++;
			if (decimals >= 0)
				decimals++;
		}
		else if (c == '.' && decimals < 0)
			decimals = 0;
		else
			return false;
	}
	if (ndigits == 0 || decimals > 22)
		return false;
	v = (double) mant;
	if (decimals > 0)
		v /= pow10[decimals];
	*result = neg ? -v : v;
	return true;
}

static void
convert_record(LuxeGcsScanState *st, LuxeCsvRecord *rec, TupleTableSlot *slot)
{
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;
	const char *data = luxe_csv_data(st->csvr);
	bool		verified;
	int			i;

	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	for (i = 0; i < st->nslots; i++)
	{
		LuxeCsvField *f = &rec->fields[i];
		int			attidx = st->attnums[i] - 1;
		char	   *str;

		if (st->meta[i] != LUXE_META_NONE)
		{
			LuxeGcsObject *o = list_nth(st->objects, st->cur_object);

			str = st->meta[i] == LUXE_META_OBJECT ? (char *) st->cur_uri :
				st->meta[i] == LUXE_META_GENERATION ? psprintf(INT64_FORMAT, o->generation) :
				psprintf(INT64_FORMAT, rec->line);
			st->cur_slot = i;
			st->cur_value = str;
			values[attidx] = InputFunctionCall(&st->in_functions[i], str,
											   st->typioparams[i], st->typmods[i]);
			nulls[attidx] = false;
			continue;
		}
		if (f->flags & LUXE_CSV_FIELD_NULL)
			continue;
		str = (char *) data + f->off;
		st->cur_slot = i;
		/* the raw value may be invalid in the server encoding: not shown */
		st->cur_value = NULL;
		verified = false;
		if (st->csv.encoding == PG_UTF8 && GetDatabaseEncoding() == PG_UTF8 &&
			is_plain_ascii(str, f->len))
			verified = true;
		else if (st->csv.encoding != GetDatabaseEncoding() || GetDatabaseEncoding() == PG_UTF8)
		{
			/* converted, or checked (a NUL is invalid in every encoding) */
			str = pg_any_to_server(str, f->len, st->csv.encoding);
			verified = (str == data + f->off);
		}
		st->cur_value = str;
		if (st->is_float8[i] && verified)
		{
			double		d;

			if (plain_float8(str, f->len, &d))
			{
				values[attidx] = Float8GetDatum(d);
				nulls[attidx] = false;
				continue;
			}
		}
		if (st->is_text[i])
		{
			/*
			 * textin's result, without its strlen when the field is known
			 * to hold no NUL (textin would stop at one)
			 */
			values[attidx] = PointerGetDatum(verified ? cstring_to_text_with_len(str, f->len) :
											 cstring_to_text(str));
			nulls[attidx] = false;
			continue;
		}
		if (st->integral[i])
		{
			/*
			 * pandas writes integral floats: accept "34.0" as 34.  The
			 * length is the converted string's: conversion may shrink it.
			 */
			char	   *dot = strchr(str, '.');

			if (dot)
			{
				char	   *p = dot + 1;

				while (*p == '0')
					p++;
				if (*p == '\0' && dot > str && isdigit((unsigned char) dot[-1]))
				{
					if (str == data + f->off)
						*dot = '\0';
					else
						str = pnstrdup(str, dot - str);
				}
			}
		}
		values[attidx] = InputFunctionCall(&st->in_functions[i], str,
										   st->typioparams[i], st->typmods[i]);
		nulls[attidx] = false;
	}
	st->cur_slot = -1;
	st->cur_value = NULL;
}



/*
 * The next row of a scan into slot (left empty at the end).  Runs in the
 * caller's per-row context; network and parsing work happens in the scan
 * context.  Can throw, with object, line and column in the error context.
 */
/* The scan's shared memory goes with its context: pipeline.c must forget it. */
static void
progress_forget_cb(void *arg)
{
	luxe_progress_forget();
}

/* A refresh's progress: bytes read, by the leader or a worker. */
static inline void
progress_bytes(LuxeGcsScanState *st, int64 n)
{
	if (st->shared && IsParallelWorker())
		pg_atomic_fetch_add_u64(&st->shared->progress_bytes, (uint64) n);
	else
		luxe_progress_scan_bytes(n);
}

/* A refresh's progress: a row, the leader's or a worker's (1,000 at a time). */
static inline void
progress_row(LuxeGcsScanState *st)
{
	if (st->shared && IsParallelWorker())
	{
		if (++st->progress_rows == 1000)
		{
			pg_atomic_fetch_add_u64(&st->shared->progress_rows, 1000);
			st->progress_rows = 0;
		}
	}
	else
		luxe_progress_scan_row();
}

/* Add the time since start to a scan timer. */
static inline void
timer_add(LuxeGcsScanState *st, int timer, instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	st->scan_us[timer] += INSTR_TIME_GET_MICROSEC(now);
}

/*
 * luxe_gcs_last_scan_timings
 *		The timers (microseconds) and rows of the last GCS scan this backend
 *		finished (in a parallel scan, summed over the leader and the
 *		workers); false if none.
 */
bool
luxe_gcs_last_scan_timings(int64 *fetch_us, int64 *parse_us, int64 *convert_us, int64 *rows)
{
	if (last_scan_rows < 0)
		return false;
	*fetch_us = last_scan_us[LUXE_SCAN_FETCH];
	*parse_us = last_scan_us[LUXE_SCAN_PARSE];
	*convert_us = last_scan_us[LUXE_SCAN_CONVERT];
	*rows = last_scan_rows;
	return true;
}

/* Raise the reader's parse error, if it has one (line in the context). */
static void
raise_csv_error(LuxeGcsScanState *st)
{
	int64		line;
	const char *reason;

	if (luxe_csv_error(st->csvr, &line, &reason))
	{
		st->cur_line = line;
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("malformed CSV row"),
				 errdetail("At or after the start of the row, %s.", reason)));
	}
}

static TupleTableSlot *
scan_next(LuxeGcsScanState *st, TupleTableSlot *slot)
{
	ErrorContextCallback errcb;

	errcb.callback = scan_error_callback;
	errcb.arg = st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	st->cur_slot = -1;
	st->began = true;

	ExecClearTuple(slot);
	for (;;)
	{
		LuxeCsvRecord *rec = luxe_csv_next(st->csvr);
		MemoryContext old;

		if (rec)
		{
			instr_time	t0;
			bool		stored;

			INSTR_TIME_SET_CURRENT(t0);
			stored = store_record(st, rec, slot);
			timer_add(st, LUXE_SCAN_CONVERT, t0);
			if (!stored)
				continue;
			ExecStoreVirtualTuple(slot);
			st->rows_produced++;
			progress_row(st);
			break;
		}

		st->cur_line = 0;
		old = MemoryContextSwitchTo(st->scan_cxt);
		raise_csv_error(st);
		if (resume_object(st))
		{
			MemoryContextSwitchTo(old);
			continue;
		}
		if (!st->object_done)
		{
			size_t		take;

			instr_time	t0;

			if (st->pending_len == 0 && st->range_buf && st->range_pos < st->range_len)
			{
				/* a range's bytes, read already */
				st->pending = st->range_buf + st->range_pos;
				st->pending_len = st->range_len - st->range_pos;
				st->range_pos = st->range_len;
			}
			if (st->pending_len == 0)
			{
				ssize_t		n;

				INSTR_TIME_SET_CURRENT(t0);
				n = luxe_gcs_read(st->reader, &st->pending);
				timer_add(st, LUXE_SCAN_FETCH, t0);
				if (n <= 0)
				{
					INSTR_TIME_SET_CURRENT(t0);
					luxe_csv_finish(st->csvr);
					timer_add(st, LUXE_SCAN_PARSE, t0);
					st->object_done = true;
					MemoryContextSwitchTo(old);
					continue;
				}
				st->pending_len = (size_t) n;
				progress_bytes(st, n);
			}
			take = st->pending_len;
			if (luxe_gcs_parse_chunk_size > 0 && take > (size_t) luxe_gcs_parse_chunk_size)
				take = luxe_gcs_parse_chunk_size;
			INSTR_TIME_SET_CURRENT(t0);
			take = luxe_csv_feed(st->csvr, st->pending, take);
			timer_add(st, LUXE_SCAN_PARSE, t0);
			st->pending += take;
			st->pending_len -= take;
			{
				int64		at;

				if (luxe_csv_stopped(st->csvr, &at))
				{
					/* the next range's first record: this range is done */
					if ((at == st->range_end) != st->range_stop_exact)
						ereport(ERROR,
								(errcode(ERRCODE_INTERNAL_ERROR),
								 errmsg("parallel ranges of GCS object \"%s\" disagree on the record boundary after byte " INT64_FORMAT,
										st->cur_uri, st->range_end),
								 errdetail("The range's reader stopped at byte " INT64_FORMAT ".", at)));
					st->object_done = true;
					st->pending_len = 0;
				}
			}
			MemoryContextSwitchTo(old);
			continue;
		}
		{
			instr_time	t0;
			bool		more;

			INSTR_TIME_SET_CURRENT(t0);
			more = next_object(st);
			timer_add(st, LUXE_SCAN_FETCH, t0);
			if (!more)
			{
				MemoryContextSwitchTo(old);
				error_context_stack = errcb.previous;
				luxe_progress_scan_done(list_length(st->objects));
				report_rejects(st);
				memcpy(last_scan_us, st->scan_us, sizeof(last_scan_us));
				last_scan_rows = st->rows_produced;
				if (st->shared && IsParallelWorker() && !st->finished)
					pg_atomic_fetch_add_u32(&st->shared->workers_finished, 1);
				st->finished = true;
				return slot;
			}
		}
		MemoryContextSwitchTo(old);
	}

	error_context_stack = errcb.previous;
	return slot;
}



/*
 * luxe_gcs_scan_iterate
 *		IterateForeignScan: the next row into the scan slot.
 */
TupleTableSlot *
luxe_gcs_scan_iterate(ForeignScanState *node, void *state)
{
	return scan_next((LuxeGcsScanState *) state, node->ss.ss_ScanTupleSlot);
}

/*
 * luxe_gcs_scan_rescan
 *		ReScanForeignScan: start again from the first object, with the same
 *		pinned generations.
 */
void
luxe_gcs_scan_rescan(ForeignScanState *node, void *state)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) state;

	if (st->reader)
		luxe_gcs_close_stream(st->reader);
	st->reader = NULL;
	st->pending_len = 0;
	st->cur_object = -1;
	st->cur_unit = -1;
	st->range_buf = NULL;
	st->next_claim = 0;
	st->claims_done = false;
	drop_ahead(st);
	st->object_done = true;
	luxe_csv_begin_object(st->csvr, false, NULL, NULL);
}

/*
 * luxe_gcs_scan_end
 *		EndForeignScan: release the stream and the parser.
 */
void
luxe_gcs_scan_end(ForeignScanState *node, void *state)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) state;
	int			i;

	if (st)
	{
		/* a worker hands its counters to the leader's EXPLAIN ANALYZE */
		if (st->shared && IsParallelWorker())
		{
			pg_atomic_fetch_add_u64(&st->shared->worker_bytes, (uint64) st->stats.bytes);
			pg_atomic_fetch_add_u64(&st->shared->worker_http_bytes,
									(uint64) (luxe_http_bytes_received - st->http_bytes0));
			pg_atomic_fetch_add_u64(&st->shared->worker_requests, (uint64) st->stats.requests);
			pg_atomic_fetch_add_u64(&st->shared->worker_retries, (uint64) st->stats.retries);
			pg_atomic_fetch_add_u64(&st->shared->worker_rows, (uint64) st->rows_produced);
			for (i = 0; i < LUXE_SCAN_NTIMERS; i++)
				pg_atomic_fetch_add_u64(&st->shared->worker_us[i], (uint64) st->scan_us[i]);
			pg_atomic_fetch_add_u64(&st->shared->progress_rows, (uint64) st->progress_rows);
			st->progress_rows = 0;
		}
		scan_state_end(st);
	}
}

/*
 * luxe_gcs_scan_shutdown
 *		ShutdownForeignScan: before the parallel scan's shared memory goes
 *		away (the workers have finished by then), take the workers' counters
 *		into the leader's.
 */
void
luxe_gcs_scan_shutdown(ForeignScanState *node, void *state)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) state;
	int			i;

	if (st == NULL || st->shared == NULL || IsParallelWorker())
		return;
	st->stats.bytes += (int64) pg_atomic_exchange_u64(&st->shared->worker_bytes, 0);
	/* (luxe.bytes_received: what this backend's workers received is its) */
	luxe_http_bytes_received += (int64) pg_atomic_exchange_u64(&st->shared->worker_http_bytes, 0);
	st->stats.requests += (int64) pg_atomic_exchange_u64(&st->shared->worker_requests, 0);
	st->stats.retries += (int64) pg_atomic_exchange_u64(&st->shared->worker_retries, 0);
	st->rows_produced += (int64) pg_atomic_exchange_u64(&st->shared->worker_rows, 0);
	for (i = 0; i < LUXE_SCAN_NTIMERS; i++)
		st->scan_us[i] += (int64) pg_atomic_exchange_u64(&st->shared->worker_us[i], 0);
	/*
	 * luxe.last_scan_timings: the whole scan's, not only the leader's
	 * share; when the leader read nothing (parallel_leader_participation
	 * off), complete if every worker read to the end
	 */
	if (!st->finished && !st->began)
	{
		uint32		started = pg_atomic_read_u32(&st->shared->workers_started);

		if (started > 0 && pg_atomic_read_u32(&st->shared->workers_finished) == started)
		{
			luxe_progress_scan_done(list_length(st->objects));
			st->finished = true;
		}
	}
	st->shared = NULL;
	luxe_progress_unwatch();
	if (st->finished)
	{
		memcpy(last_scan_us, st->scan_us, sizeof(last_scan_us));
		last_scan_rows = st->rows_produced;
	}
}

static void
scan_state_end(LuxeGcsScanState *st)
{
	if (st->reader)
		luxe_gcs_close_stream(st->reader);
	st->reader = NULL;
	/* csv reader and stream resources go with the scan context */
	MemoryContextDelete(st->scan_cxt);
}



/*
 * luxe_gcs_scan_analyze
 *		AnalyzeForeignTable: sample rows with a full scan (as file_fdw does)
 *		and report the objects' size in pages, so the planner's row estimate
 *		becomes bytes divided by the measured bytes per row.
 */
bool
luxe_gcs_scan_analyze(Relation relation, AcquireSampleRowsFunc *func,
					  BlockNumber *totalpages)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(relation));
	LuxeServerOptions server;
	LuxeCsvOptions csv;
	LuxeHttpStats stats = {0};
	LuxeGcsClient client;
	List	   *objects;
	ListCell   *lc;
	int64		bytes = 0;

	luxe_option_server(table->serverid, &server);
	luxe_option_csv(RelationGetRelid(relation), RelationGetDescr(relation)->natts, &csv);
	/* ANALYZE reads with the table owner's mapping, as postgres_fdw does */
	luxe_gcs_client_init(&client, &stats, &server, table->serverid, relation->rd_rel->relowner);
	objects = luxe_gcs_list_uri(&client, csv.uri, false);
	foreach(lc, objects)
		bytes += ((LuxeGcsObject *) lfirst(lc))->size;
	*totalpages = (BlockNumber) Max(1, (bytes + BLCKSZ - 1) / BLCKSZ);
	*func = acquire_sample_rows;
	return true;
}

/*
 * Read every row, keeping a reservoir sample of targrows (Vitter's
 * algorithm, as analyze.c and file_fdw).  Rows are heap tuples palloc'd in
 * the caller's context; everything else goes with a temporary context.
 */
static int
acquire_sample_rows(Relation onerel, int elevel, HeapTuple *rows,
						 int targrows, double *totalrows, double *totaldeadrows)
{
	TupleDesc	tupdesc = RelationGetDescr(onerel);
	ForeignTable *table = GetForeignTable(RelationGetRelid(onerel));
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext,
											  "luxe_fdw analyze",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext row_cxt = AllocSetContextCreate(tmp, "luxe_fdw analyze row",
												  ALLOCSET_SMALL_SIZES);
	List	   *attnums = NIL;
	LuxeGcsScanState *st;
	TupleTableSlot *slot;
	ReservoirStateData rstate;
	double		rowstoskip = -1;
	int			numrows = 0;
	int			i;

	for (i = 1; i <= tupdesc->natts; i++)
		if (!TupleDescAttr(tupdesc, i - 1)->attisdropped)
			attnums = lappend(attnums, makeInteger(i));
	st = scan_state_create(onerel, table->serverid, onerel->rd_rel->relowner, attnums, tmp);
	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsVirtual);
	reservoir_init_selection_state(&rstate, targrows);
	*totalrows = 0;
	*totaldeadrows = 0;

	for (;;)
	{
		MemoryContext old;

		vacuum_delay_point();
		MemoryContextReset(row_cxt);
		old = MemoryContextSwitchTo(row_cxt);
		scan_next(st, slot);
		MemoryContextSwitchTo(old);
		if (TupIsNull(slot))
			break;

		if (numrows < targrows)
		{
			old = MemoryContextSwitchTo(caller);
			rows[numrows++] = heap_form_tuple(tupdesc, slot->tts_values, slot->tts_isnull);
			MemoryContextSwitchTo(old);
		}
		else
		{
			if (rowstoskip < 0)
				rowstoskip = reservoir_get_next_S(&rstate, *totalrows, targrows);
			if (rowstoskip <= 0)
			{
				int			k = (int) (targrows * sampler_random_fract(&rstate.randstate));

				heap_freetuple(rows[k]);
				old = MemoryContextSwitchTo(caller);
				rows[k] = heap_form_tuple(tupdesc, slot->tts_values, slot->tts_isnull);
				MemoryContextSwitchTo(old);
			}
			rowstoskip -= 1;
		}
		*totalrows += 1;
	}

	ExecDropSingleTupleTableSlot(slot);
	scan_state_end(st);
	MemoryContextDelete(tmp);
	ereport(elevel,
			(errmsg("\"%s\": read %.0f rows from GCS, kept a sample of %d",
					RelationGetRelationName(onerel), *totalrows, numrows)));
	return numrows;
}



/*
 * Parallel scans.  The units are whole objects and the byte ranges of the
 * objects larger than luxe_fdw.parallel_range_size (gzip objects are read
 * whole: they inflate only from their start).  The leader lists once and
 * shares the listing, so workers never list again and all read the pinned
 * generations.
 *
 * A split object's ranges agree on record boundaries exactly, whatever the
 * quoting (no guess from quote parity, no row dropped, doubled or parsed
 * from the middle of a quoted field):
 * - Range k covers [c_k, c_k+1), c_k being the line start after the first
 *   LF at or after byte k * range_size - 1 (c_0 = 0).  The process that
 *   claims it reads those bytes (HTTP Range, pinned generation), finds
 *   both ends itself, and publishes a summary (luxe_csv_summarize_range):
 *   its LF count and the reader's state at c_k+1 if the range starts
 *   between records or inside a quoted field.  A line start can only be
 *   one of the two.
 * - Ranges are claimed in order and summarized before their process waits
 *   for anything, so a process waits only for the summaries of the ranges
 *   before its own, which are on their way: the chain from the object's
 *   start gives the true state at c_k and the LF count before it.
 * - The process then parses from the first record boundary at or after
 *   c_k with a fresh parser and exact line numbers (luxe_csv_restart),
 *   reading on past c_k+1 until the first boundary there, where the next
 *   range's process starts (luxe_csv_set_stop).  Where it stops must be
 *   where the summaries said (an internal error otherwise).
 * - A parse error makes the state after it unknown: the process whose
 *   range holds the error parses on and raises it, and the later ranges
 *   emit nothing.  The same holds for header rows longer than the first
 *   range.
 */

/* Wait for the summary of unit u (a range claimed already, see above). */
static LuxeGcsRangeSlot *
wait_for_range(LuxeGcsScanState *st, int u)
{
	LuxeGcsRangeSlot *slot = &range_slots(st->shared)[u];

	if (pg_atomic_read_u32(&slot->done) == 0)
	{
		ConditionVariablePrepareToSleep(&st->shared->range_cv);
		while (pg_atomic_read_u32(&slot->done) == 0)
			ConditionVariableSleep(&st->shared->range_cv, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
	}
	pg_read_barrier();
	return slot;
}

/*
 * Read the header rows of the current object (header mapping, a range
 * other than the first) to map fields to columns, once per object.
 */
static void
ensure_header(LuxeGcsScanState *st)
{
	LuxeGcsReader *hr;

	if (st->header_object != st->cur_object)
	{
		/* a window: the header is in the first few kB, as a rule */
		hr = luxe_gcs_open_window(&st->client, list_nth(st->objects, st->cur_object), 0,
								  64 * 1024);
		luxe_csv_begin_object(st->csvr, true, header_callback, st);
		luxe_csv_set_slots(st->csvr, NULL, 0);
		while (!luxe_csv_header_done(st->csvr))
		{
			const char *data;
			ssize_t		n = luxe_gcs_read(hr, &data);

			if (n <= 0)
				luxe_csv_finish(st->csvr);
			else
				luxe_csv_feed(st->csvr, data, n);
			raise_csv_error(st);
		}
		luxe_gcs_close_stream(hr);
	}
	st->expected_fields = st->header_nfields;
	luxe_csv_set_slots(st->csvr, st->header_map, st->header_nfields);
}

/*
 * Read range u of the current object, publish its summary, and set the
 * reader up to parse the records that start in it.  Returns false if none
 * does.  Runs in the object's context; can throw.
 */
static bool
open_range(LuxeGcsScanState *st, int u)
{
	LuxeGcsUnit *unit = &st->units[u];
	LuxeGcsObject *o = list_nth(st->objects, unit->object);
	LuxeGcsRangeSlot *slot = &range_slots(st->shared)[u];
	int			k = unit->chunk;
	bool		last = (k == unit->nchunks - 1);
	int64		range_size = luxe_gcs_object_range_size(o, st->range_size);
	int64		next_nominal = (int64) (k + 1) * range_size;
	int64		pos = k == 0 ? 0 : (int64) k * range_size - 1;
	int64		start = k == 0 ? 0 : -1;
	int64		end = -1;
	size_t		cap = range_size + 64 * 1024;
	LuxeCsvRangeSummary sum;
	LuxeCsvSplitState state;
	LuxeCsvSplitState after;
	int64		lfs = 0;
	int64		boundary;
	instr_time	t0;
	int			j;

	/*
	 * [c_k, c_k+1) and whatever else the last read brought.  (The caller
	 * times all of next_object as Fetch: reading and waiting for the other
	 * ranges' summaries are; summarizing is Parse, moved over below.)
	 */
	st->range_buf = MemoryContextAllocHuge(CurrentMemoryContext, cap);
	st->range_len = 0;
	/* ask for the range and a little more, where its last line ends */
	st->reader = luxe_gcs_open_window(&st->client, o, pos,
									  last ? o->size :
									  next_nominal + Max(Min(range_size, 16 * 1024), 256));
	while (end < 0)
	{
		const char *p;
		ssize_t		n = luxe_gcs_read(st->reader, &p);
		size_t		m;

		if (n <= 0)
			break;
		m = (size_t) n;
		progress_bytes(st, n);
		if (start < 0)
		{
			const char *nl = memchr(p, '\n', m);

			if (nl == NULL)
			{
				pos += m;
				continue;
			}
			m -= nl + 1 - p;
			pos += nl + 1 - p;
			p = nl + 1;
			start = pos;
			/* a line reaching past the next range's start ends both */
			if (!last && start - 1 >= next_nominal - 1)
				end = start;
		}
		if (end < 0 && !last && pos + (int64) m > next_nominal - 1)
		{
			size_t		from = (size_t) Max(next_nominal - 1 - pos, 0);
			const char *nl = memchr(p + from, '\n', m - from);

			if (nl)
				end = pos + (nl - p) + 1;
		}
		if (st->range_len + m > cap)
		{
			cap = Max(cap * 2, st->range_len + m);
			st->range_buf = repalloc_huge(st->range_buf, cap);
		}
		memcpy(st->range_buf + st->range_len, p, m);
		st->range_len += m;
		pos += m;
	}
	if (start < 0)
		start = pos;			/* no line starts in it */
	if (end < 0)
		end = pos;				/* it ends the object */

	INSTR_TIME_SET_CURRENT(t0);
	if (end > start)
		luxe_csv_summarize_range(st->csvr, st->range_buf, end - start, k == 0, &sum);
	else
	{
		/* an empty range leaves the state as it found it */
		sum.lfs = 0;
		sum.after_row = LUXE_CSV_SPLIT_ROW;
		sum.after_quoted = LUXE_CSV_SPLIT_QUOTED;
		sum.quoted_first = -1;
		sum.quoted_first_lfs = 0;
	}
	{
		int64		before = st->scan_us[LUXE_SCAN_PARSE];

		timer_add(st, LUXE_SCAN_PARSE, t0);
		st->scan_us[LUXE_SCAN_FETCH] -= st->scan_us[LUXE_SCAN_PARSE] - before;
	}
	slot->start = start;
	slot->end = end;
	slot->summary = sum;
	pg_write_barrier();
	pg_atomic_write_u32(&slot->done, 1);
	ConditionVariableBroadcast(&st->shared->range_cv);

	/* the state at c_k, from the object's start */
	state = LUXE_CSV_SPLIT_ROW;
	for (j = 0; j < k; j++)
	{
		LuxeGcsRangeSlot *prev = wait_for_range(st, u - k + j);

		state = j == 0 ? prev->summary.after_row :
			state == LUXE_CSV_SPLIT_ROW ? prev->summary.after_row :
			state == LUXE_CSV_SPLIT_QUOTED ? prev->summary.after_quoted :
			LUXE_CSV_SPLIT_UNKNOWN;
		lfs += prev->summary.lfs;
		if (j == k - 1 && prev->end != start)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("parallel ranges of GCS object \"%s\" disagree on where a range starts",
							st->cur_uri),
					 errdetail("Byte " INT64_FORMAT " and byte " INT64_FORMAT ".", prev->end, start)));
	}

	/* the first record boundary in the range, and the state at its end */
	if (k == 0)
	{
		boundary = 0;
		after = sum.after_row;
	}
	else if (state == LUXE_CSV_SPLIT_ROW)
	{
		boundary = start;
		after = sum.after_row;
	}
	else if (state == LUXE_CSV_SPLIT_QUOTED && sum.quoted_first >= 0)
	{
		boundary = start + sum.quoted_first;
		lfs += sum.quoted_first_lfs;
		after = sum.after_quoted;
	}
	else
		return false;			/* the record before, or an error, goes on */
	if (boundary >= end && !last)
		return false;			/* the next range starts with it */

	if (k > 0)
	{
		if (st->csv.header_mapping)
			ensure_header(st);
		luxe_csv_restart(st->csvr, boundary, lfs + 1);
	}
	st->range_start = start;
	st->range_end = end;
	st->range_pos = (size_t) (boundary - start);
	if (!last && after != LUXE_CSV_SPLIT_UNKNOWN)
	{
		luxe_csv_set_stop(st->csvr, end);
		st->range_stop_exact = (after == LUXE_CSV_SPLIT_ROW);
	}
	return true;
}

/* object fields, NUL-separated: bucket, name, size, generation, encoding, crc32c */
static void
serialize_objects(LuxeGcsScanState *st)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, st->objects)
	{
		LuxeGcsObject *o = lfirst(lc);

		appendStringInfo(&buf, "%s%c%s%c" INT64_FORMAT "%c" INT64_FORMAT "%c%s%c%s%c",
						 o->bucket, 0, o->name, 0, o->size, 0, o->generation, 0,
						 o->content_encoding ? o->content_encoding : "", 0,
						 o->crc32c ? o->crc32c : "", 0);
	}
	st->serialized = buf.data;
	st->serialized_len = buf.len;
}

static List *
deserialize_objects(const char *p, Size len)
{
	const char *end = p + len;
	List	   *result = NIL;

	while (p < end)
	{
		LuxeGcsObject *o = palloc0(sizeof(LuxeGcsObject));
		const char *f[6];
		int			i;

		for (i = 0; i < 6; i++)
		{
			f[i] = p;
			p += strlen(p) + 1;
		}
		o->bucket = pstrdup(f[0]);
		o->name = pstrdup(f[1]);
		o->size = strtoll(f[2], NULL, 10);
		o->generation = strtoll(f[3], NULL, 10);
		o->content_encoding = f[4][0] ? pstrdup(f[4]) : NULL;
		o->crc32c = f[5][0] ? pstrdup(f[5]) : NULL;
		result = lappend(result, o);
	}
	return result;
}

/*
 * luxe_gcs_scan_estimate_dsm
 *		EstimateDSMForeignScan: the leader lists now, so that it can share
 *		the listing.
 */
Size
luxe_gcs_scan_estimate_dsm(ForeignScanState *node, void *state)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) state;
	MemoryContext old = MemoryContextSwitchTo(st->scan_cxt);

	ensure_listed(st);
	build_units(st, true);
	serialize_objects(st);
	MemoryContextSwitchTo(old);
	return MAXALIGN(offsetof(LuxeGcsParallelShared, data) + st->serialized_len) +
		sizeof(LuxeGcsRangeSlot) * st->nunits;
}

/* Every unit unclaimed and every range unread, for a scan or a rescan. */
static void
reset_shared(LuxeGcsParallelShared *shared)
{
	int			i;

	pg_atomic_write_u32(&shared->next_unit, 0);
	pg_atomic_write_u32(&shared->workers_started, 0);
	pg_atomic_write_u32(&shared->workers_finished, 0);
	for (i = 0; i < shared->nunits; i++)
		pg_atomic_write_u32(&range_slots(shared)[i].done, 0);
}

/*
 * luxe_gcs_scan_initialize_dsm
 *		InitializeDSMForeignScan: the listing and the claim counter.
 */
void
luxe_gcs_scan_initialize_dsm(ForeignScanState *node, void *state, void *coordinate)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) state;
	LuxeGcsParallelShared *shared = (LuxeGcsParallelShared *) coordinate;
	int			i;

	pg_atomic_init_u32(&shared->next_unit, 0);
	ConditionVariableInit(&shared->range_cv);
	shared->range_size = st->range_size;
	shared->nunits = st->nunits;
	shared->slots_offset = MAXALIGN(offsetof(LuxeGcsParallelShared, data) + st->serialized_len);
	for (i = 0; i < st->nunits; i++)
		pg_atomic_init_u32(&range_slots(shared)[i].done, 0);
	pg_atomic_init_u64(&shared->worker_bytes, 0);
	pg_atomic_init_u64(&shared->worker_http_bytes, 0);
	pg_atomic_init_u64(&shared->worker_requests, 0);
	pg_atomic_init_u64(&shared->worker_retries, 0);
	pg_atomic_init_u64(&shared->worker_rows, 0);
	for (i = 0; i < LUXE_SCAN_NTIMERS; i++)
		pg_atomic_init_u64(&shared->worker_us[i], 0);
	pg_atomic_init_u64(&shared->progress_bytes, 0);
	pg_atomic_init_u64(&shared->progress_rows, 0);
	pg_atomic_init_u32(&shared->workers_started, 0);
	pg_atomic_init_u32(&shared->workers_finished, 0);
	shared->len = st->serialized_len;
	memcpy(shared->data, st->serialized, st->serialized_len);
	st->shared = shared;
	/* a refresh's progress shows the workers' bytes and rows as they go */
	luxe_progress_watch(&shared->progress_bytes, &shared->progress_rows);
	st->progress_forget.func = progress_forget_cb;
	st->progress_forget.arg = NULL;
	MemoryContextRegisterResetCallback(st->scan_cxt, &st->progress_forget);
}

/*
 * luxe_gcs_scan_reinitialize_dsm
 *		ReInitializeDSMForeignScan: a rescan claims from the first unit.
 */
void
luxe_gcs_scan_reinitialize_dsm(ForeignScanState *node, void *state, void *coordinate)
{
	reset_shared((LuxeGcsParallelShared *) coordinate);
}

/*
 * luxe_gcs_scan_initialize_worker
 *		InitializeWorkerForeignScan: read the leader's listing, never list.
 */
void
luxe_gcs_scan_initialize_worker(ForeignScanState *node, void *state, void *coordinate)
{
	LuxeGcsScanState *st = (LuxeGcsScanState *) state;
	LuxeGcsParallelShared *shared = (LuxeGcsParallelShared *) coordinate;
	MemoryContext old = MemoryContextSwitchTo(st->scan_cxt);

	st->objects = deserialize_objects(shared->data, shared->len);
	st->listed = true;
	st->range_size = shared->range_size;
	build_units(st, true);
	Assert(st->nunits == shared->nunits);
	st->shared = shared;
	pg_atomic_fetch_add_u32(&shared->workers_started, 1);
	MemoryContextSwitchTo(old);
}

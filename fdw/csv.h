/*-------------------------------------------------------------------------
 *
 * csv.h
 *		  Streaming CSV reader of luxe_fdw over libcsv: bytes in, records out.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/csv.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_CSV_H
#define LUXE_CSV_H

#include <csv.h>

#include "lib/stringinfo.h"
#include "option.h"

#define LUXE_CSV_FIELD_NULL		0x01	/* unquoted empty, or the null marker */
#define LUXE_CSV_FIELD_PRESENT	0x02	/* the record had this field */

typedef struct LuxeCsvField
{
	uint32		off;			/* into the batch data; NUL-terminated */
	uint32		len;
	uint8		flags;
} LuxeCsvField;

typedef enum LuxeCsvRecordStatus
{
	LUXE_CSV_RECORD_OK,
	LUXE_CSV_RECORD_QUOTED_NEWLINE, /* a line break inside a quoted field
									 * with allow_quoted_newlines off */
	LUXE_CSV_RECORD_MALFORMED	/* recovery mode: malformed quoting; the
								 * record has no fields, reason says why */
} LuxeCsvRecordStatus;

typedef struct LuxeCsvRecord
{
	int64		line;			/* physical line where the record starts */
	int			nfields;
	LuxeCsvRecordStatus status;
	const char *reason;			/* LUXE_CSV_RECORD_MALFORMED: what was wrong */
	LuxeCsvField *fields;		/* one per slot */
} LuxeCsvRecord;

/* Called once per object when the header row is complete; may throw. */
typedef void (*LuxeCsvHeaderCallback) (void *arg, int nfields, char **names);

typedef struct LuxeCsvReader LuxeCsvReader;

/* The reader's state at a line start of an object (parallel ranges) */
typedef enum LuxeCsvSplitState
{
	LUXE_CSV_SPLIT_UNKNOWN,		/* a parse error comes first, or still in
								 * the header rows */
	LUXE_CSV_SPLIT_ROW,			/* between records */
	LUXE_CSV_SPLIT_QUOTED		/* inside a quoted field */
} LuxeCsvSplitState;

/* What a range of an object does to the reader, from either start state */
typedef struct LuxeCsvRangeSummary
{
	int64		lfs;			/* LF bytes in the range */
	LuxeCsvSplitState after_row;	/* state at its end, starting between
									 * records (or at the object's start) */
	LuxeCsvSplitState after_quoted; /* ... starting inside a quoted field */
	int64		quoted_first;	/* starting inside a quoted field: offset in
								 * the range of its first record boundary,
								 * -1 if none */
	int64		quoted_first_lfs;	/* LF bytes before that boundary */
} LuxeCsvRangeSummary;

/* in csv.c */
extern bool luxe_csv_fast_lines;
extern LuxeCsvReader *luxe_csv_create(const LuxeCsvOptions *opts, int nslots);
extern void luxe_csv_set_recovery(LuxeCsvReader *r, bool recover);
extern void luxe_csv_begin_object(LuxeCsvReader *r, bool want_header,
								  LuxeCsvHeaderCallback cb, void *cb_arg);
extern void luxe_csv_set_slots(LuxeCsvReader *r, const int *field_slot,
							   int nmapped);
extern size_t luxe_csv_feed(LuxeCsvReader *r, const char *data, size_t len);
extern void luxe_csv_set_stop(LuxeCsvReader *r, int64 offset);
extern bool luxe_csv_stopped(LuxeCsvReader *r, int64 *offset);
extern bool luxe_csv_header_done(LuxeCsvReader *r);
extern void luxe_csv_summarize_range(LuxeCsvReader *r, const char *data, size_t len,
									 bool object_start, LuxeCsvRangeSummary *out);
extern void luxe_csv_finish(LuxeCsvReader *r);
extern LuxeCsvRecord *luxe_csv_next(LuxeCsvReader *r);
extern const char *luxe_csv_data(LuxeCsvReader *r);
extern bool luxe_csv_error(LuxeCsvReader *r, int64 *line, const char **reason);
extern int64 luxe_csv_lines(LuxeCsvReader *r);
extern bool luxe_csv_resume_point(LuxeCsvReader *r, int64 *offset, int64 *line);
extern void luxe_csv_restart(LuxeCsvReader *r, int64 offset, int64 line);
extern void luxe_csv_destroy(LuxeCsvReader *r);
extern void luxe_csv_append_field(StringInfo buf, const char *value,
								  const LuxeCsvOptions *opts, const char *colname);

#endif							/* LUXE_CSV_H */

/*-------------------------------------------------------------------------
 *
 * csv.c
 *		  Streaming CSV reader of luxe_fdw over libcsv.
 *
 * Design assumptions and invariants:
 * - Input arrives in arbitrary chunks (network reads); libcsv's push parser
 *   keeps its state between chunks, so a quoted field, a quoted line break
 *   or a CRLF pair split across two chunks is still parsed as one.  Nothing
 *   ever needs the whole object in memory: the batch holds the records of
 *   one chunk, and only the fields of the columns a query needs are copied.
 * - Line numbers are physical: every LF counts (so CRLF counts once),
 *   including those inside quoted fields and blank lines.  A record's
 *   number is the line it starts on, as an editor would show it.  XXX: a
 *   lone CR (classic Mac line ends) ends records but does not advance the
 *   line number.
 * - Whitespace around unquoted fields is data (as in COPY and bq load), so
 *   libcsv's default trimming of spaces and tabs is switched off.
 * - An unquoted empty field is NULL and a quoted empty field ("") is an
 *   empty string, unless a null marker is set: then fields equal to the
 *   marker are NULL and empty fields are empty strings (bq load).
 * - Blank lines hold no record and are skipped.
 * - Recovery (luxe_csv_set_recovery, for tables with a bad-record budget):
 *   malformed quoting -- a quote inside an unquoted field, text after a
 *   closing quote, a quote still open at the end of the object -- makes
 *   the record in progress a bad record: the batch holds a
 *   LUXE_CSV_RECORD_MALFORMED record in its place, in order, and parsing
 *   starts afresh, in the unquoted state, at the start of a line.  If the
 *   record began on the line where the malformation was found, it is that
 *   whole line and parsing goes on with the next.  If it began on an
 *   earlier line, the lines after its first were read inside a quote that
 *   proved bogus: the bad record is its first line alone, the reader
 *   halts, and the caller reads the object again from the next line
 *   (luxe_csv_resume_point, luxe_csv_restart), so those lines are parsed
 *   as records.  Line starts are the only boundaries trusted after
 *   malformed data, so no row is ever invented from the middle of a line,
 *   and each resume moves forward at least one line.  The header rows are
 *   not recovered: malformed quoting there is an error.
 * - Offsets are counted in bytes of the object's content as fed (after a
 *   BOM is skipped they still count it), so that a caller can read the
 *   object again from a line start.
 * - A line that starts between records and holds one whole record of the
 *   plain kind is split without libcsv (parse_line_fast), with the same
 *   callbacks; libcsv parses every other line.  Both give the same records
 *   (regress/fuzz/fuzz_csv.c compares them on every input).
 * - For parallel scans, luxe_csv_summarize_range models the parser over a
 *   byte range, and luxe_csv_set_stop makes the reader stop at a record
 *   boundary (see "Range summaries" below).
 * - NB: the libcsv callbacks below palloc (batch growth) and the header
 *   callback may ereport; a longjmp out of csv_parse is safe because the
 *   parser is then never used again and owns nothing but its entry buffer,
 *   which luxe_csv_destroy (or the reset callback) frees.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/csv.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "csv.h"

/* single-line records without libcsv (see parse_line_fast); tests turn it off */
bool		luxe_csv_fast_lines = true;

/* a field of a line being parsed by parse_line_fast */
typedef struct LineField
{
	const char *start;
	uint32		len;
	bool		quoted;
	bool		escaped;		/* holds doubled quotes */
} LineField;

struct LuxeCsvReader
{
	struct csv_parser parser;
	bool		parser_live;
	MemoryContext cxt;
	MemoryContextCallback cb;

	/* configuration */
	int			nslots;
	const int  *field_slot;		/* CSV field index -> slot, or -1 */
	int			nmapped;		/* length of field_slot */
	int			skip_rows;
	bool		allow_quoted_newlines;
	const char *null_marker;
	size_t		null_marker_len;
	int			encoding;

	/* per object */
	int64		line;			/* LF line breaks consumed so far */
	int64		next_start_line;	/* line where the next record starts */
	int			cur_field;
	int64		rec_index;		/* non-blank records seen in this object */
	bool		want_header;
	LuxeCsvHeaderCallback header_cb;
	void	   *header_arg;
	char	  **header;
	int			header_n;
	int			header_cap;
	bool		check_bom;
	int			bom_matched;	/* bytes of a UTF-8 BOM seen so far */
	bool		error;
	int64		error_line;
	const char *error_reason;

	/* recovery and offsets, see the file header */
	bool		recover;
	bool		skip_to_lf;		/* discard input up to the next LF */
	int64		offset;			/* content bytes consumed in this object */
	int64		rec_first_lf_end;	/* offset after the first LF of the
									 * current record, -1 if not seen yet */
	int64		rec_first_lf_line;	/* the line that starts there */
	bool		no_quote;		/* quoting disabled: a NUL byte is refused */
	int64		resume_offset;	/* >= 0: read again from here */
	int64		resume_line;
	bool		halted;			/* input ignored until luxe_csv_restart */

	/* stopping at a record boundary (parallel ranges, see luxe_csv_set_stop) */
	bool		at_line_start;	/* the next byte fed starts a line */
	int64		stop_at;		/* >= 0: stop at the first boundary here or later */
	bool		stopped;
	int64		stopped_at;

	/* the batch: records of the last chunk */
	LuxeCsvRecord *recs;
	int			nrecs;
	int			reccap;
	int			next;
	LuxeCsvField *fields;		/* nslots per record */
	char	   *data;
	size_t		data_len;
	size_t		data_cap;

	/* parse_line_fast's fields, and quoted fields' bytes undoubled */
	LineField  *line_fields;
	int			line_cap;
	StringInfoData unquoted;
};

static void
reader_reset_callback(void *arg)
{
	LuxeCsvReader *r = (LuxeCsvReader *) arg;

	if (r->parser_live)
		csv_free(&r->parser);
	r->parser_live = false;
}

/* libcsv must not trim whitespace: it is data */
static int
no_space(unsigned char c)
{
	return 0;
}

/*
 * luxe_csv_create
 *		A reader with its own memory context under the current one.
 */
LuxeCsvReader *
luxe_csv_create(const LuxeCsvOptions *opts, int nslots)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "luxe_fdw csv",
											  ALLOCSET_DEFAULT_SIZES);
	LuxeCsvReader *r = MemoryContextAllocZero(cxt, sizeof(LuxeCsvReader));

	r->cxt = cxt;
	r->nslots = nslots;
	r->skip_rows = opts->skip_leading_rows;
	r->allow_quoted_newlines = opts->allow_quoted_newlines;
	r->null_marker = MemoryContextStrdup(cxt, opts->null_marker);
	r->null_marker_len = strlen(opts->null_marker);
	r->encoding = opts->encoding;
	r->cb.func = reader_reset_callback;
	r->cb.arg = r;
	MemoryContextRegisterResetCallback(cxt, &r->cb);

	r->reccap = 1024;
	r->recs = MemoryContextAlloc(cxt, sizeof(LuxeCsvRecord) * r->reccap);
	r->fields = MemoryContextAlloc(cxt, sizeof(LuxeCsvField) * r->reccap * Max(nslots, 1));
	r->data_cap = 1024 * 1024;
	r->data = MemoryContextAlloc(cxt, r->data_cap);
	r->line_cap = 64;
	r->line_fields = MemoryContextAlloc(cxt, sizeof(LineField) * r->line_cap);
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		initStringInfo(&r->unquoted);
		MemoryContextSwitchTo(old);
	}

	/* options are kept for begin_object */
	r->parser.delim_char = opts->delimiter;
	r->parser.quote_char = opts->quote < 0 ? 0 : opts->quote;
	/* libcsv always has a quote character: with quoting off it is NUL */
	r->no_quote = opts->quote < 0;
	return r;
}

/* libcsv's parser state between records (ROW_NOT_BEGUN in libcsv.c) */
#define LUXE_LIBCSV_ROW_NOT_BEGUN 0

/*
 * luxe_csv_set_recovery
 *		Recover from malformed quoting instead of stopping (see the file
 *		header).
 */
void
luxe_csv_set_recovery(LuxeCsvReader *r, bool recover)
{
	r->recover = recover;
}

/* A fresh libcsv parser with the reader's dialect.  Can throw (OOM). */
static void
reset_parser(LuxeCsvReader *r)
{
	unsigned char delim = r->parser.delim_char;
	unsigned char quote = r->parser.quote_char;

	if (r->parser_live)
		csv_free(&r->parser);
	r->parser_live = false;
	if (csv_init(&r->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL |
				 CSV_EMPTY_IS_NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	r->parser_live = true;
	csv_set_delim(&r->parser, delim);
	csv_set_quote(&r->parser, quote);
	csv_set_space_func(&r->parser, no_space);
	csv_set_blk_size(&r->parser, 64 * 1024);
	r->cur_field = 0;
}

/*
 * luxe_csv_begin_object
 *		Start a new object: fresh parser state and line numbers.  With
 *		want_header the last skipped row is handed to cb as the header.
 */
void
luxe_csv_begin_object(LuxeCsvReader *r, bool want_header,
					  LuxeCsvHeaderCallback cb, void *cb_arg)
{
	reset_parser(r);

	r->line = 0;
	r->next_start_line = 1;
	r->cur_field = 0;
	r->rec_index = 0;
	r->want_header = want_header && r->skip_rows > 0;
	r->header_cb = cb;
	r->header_arg = cb_arg;
	r->header_n = 0;
	r->check_bom = (r->encoding == PG_UTF8);
	r->bom_matched = 0;
	r->error = false;
	r->nrecs = r->next = 0;
	r->data_len = 0;
	r->skip_to_lf = false;
	r->offset = 0;
	r->rec_first_lf_end = -1;
	r->resume_offset = -1;
	r->halted = false;
	r->at_line_start = true;
	r->stop_at = -1;
	r->stopped = false;
}

/*
 * luxe_csv_resume_point
 *		After luxe_csv_finish in recovery mode: true when an unterminated
 *		quote ended the object and the object must be read again from
 *		*offset (content bytes), where line *line starts.
 */
bool
luxe_csv_resume_point(LuxeCsvReader *r, int64 *offset, int64 *line)
{
	if (r->resume_offset < 0)
		return false;
	*offset = r->resume_offset;
	*line = r->resume_line;
	return true;
}

/*
 * luxe_csv_restart
 *		Continue the current object from content offset offset, the start
 *		of line line, past its header rows, with a fresh parser: the
 *		caller feeds the object's bytes from there on.
 */
void
luxe_csv_restart(LuxeCsvReader *r, int64 offset, int64 line)
{
	reset_parser(r);
	r->line = line - 1;
	r->next_start_line = line;
	r->rec_index = r->skip_rows;
	r->want_header = false;
	r->check_bom = false;
	r->error = false;
	r->nrecs = r->next = 0;
	r->data_len = 0;
	r->skip_to_lf = false;
	r->offset = offset;
	r->rec_first_lf_end = -1;
	r->resume_offset = -1;
	r->halted = false;
	r->at_line_start = true;
	r->stop_at = -1;
	r->stopped = false;
}

/*
 * luxe_csv_set_stop
 *		Stop consuming input at the first record boundary at content offset
 *		offset or later (-1: never): a line start with no record open,
 *		past the header rows.  luxe_csv_feed then returns the bytes it
 *		consumed, and luxe_csv_stopped says where it stopped.
 */
void
luxe_csv_set_stop(LuxeCsvReader *r, int64 offset)
{
	r->stop_at = offset;
	r->stopped = false;
}

bool
luxe_csv_stopped(LuxeCsvReader *r, int64 *offset)
{
	if (!r->stopped)
		return false;
	*offset = r->stopped_at;
	return true;
}

/* The header rows are read (or there are none to read). */
bool
luxe_csv_header_done(LuxeCsvReader *r)
{
	return !r->want_header;
}

void
luxe_csv_set_slots(LuxeCsvReader *r, const int *field_slot, int nmapped)
{
	r->field_slot = field_slot;
	r->nmapped = nmapped;
}

static void
append_data(LuxeCsvReader *r, const char *s, size_t len, LuxeCsvField *f)
{
	if (r->data_len + len + 1 > r->data_cap)
	{
		size_t		newcap = r->data_cap;

		while (newcap < r->data_len + len + 1)
			newcap *= 2;
		if (newcap > MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("CSV field is too large")));
		r->data = repalloc(r->data, newcap);
		r->data_cap = newcap;
	}
	if (len)
		memcpy(r->data + r->data_len, s, len);
	r->data[r->data_len + len] = '\0';
	f->off = (uint32) r->data_len;
	f->len = (uint32) len;
	r->data_len += len + 1;
}

static void
start_record(LuxeCsvReader *r)
{
	LuxeCsvField *f;
	int			i;

	if (r->nrecs == r->reccap)
	{
		r->reccap *= 2;
		r->recs = repalloc(r->recs, sizeof(LuxeCsvRecord) * r->reccap);
		r->fields = repalloc(r->fields, sizeof(LuxeCsvField) * r->reccap * Max(r->nslots, 1));
	}
	r->recs[r->nrecs].line = r->next_start_line;
	r->recs[r->nrecs].reason = NULL;
	f = r->fields + (size_t) r->nrecs * r->nslots;
	for (i = 0; i < r->nslots; i++)
		f[i].flags = LUXE_CSV_FIELD_NULL;
	r->nrecs++;
}

static void
capture_header_field(LuxeCsvReader *r, const char *s, size_t len)
{
	MemoryContext old = MemoryContextSwitchTo(r->cxt);

	if (r->header_n == r->header_cap)
	{
		r->header_cap = r->header_cap ? r->header_cap * 2 : 64;
		r->header = r->header ? repalloc(r->header, sizeof(char *) * r->header_cap)
			: palloc(sizeof(char *) * r->header_cap);
	}
	r->header[r->header_n++] = s ? pnstrdup(s, len) : pstrdup("");
	MemoryContextSwitchTo(old);
}

/* libcsv field callback: one call per field, in order */
static void
field_cb(void *s, size_t len, void *arg)
{
	LuxeCsvReader *r = (LuxeCsvReader *) arg;
	int			f = r->cur_field++;
	int			slot;

	if (r->rec_index < r->skip_rows)
	{
		if (r->want_header && r->rec_index == r->skip_rows - 1)
			capture_header_field(r, s, len);
		return;
	}

	if (f == 0)
		start_record(r);
	if (f < r->nmapped && (slot = r->field_slot[f]) >= 0)
	{
		LuxeCsvField *fld = r->fields + (size_t) (r->nrecs - 1) * r->nslots + slot;

		if (s == NULL)
		{
			/* unquoted empty field */
			if (r->null_marker_len == 0)
			{
				fld->flags = LUXE_CSV_FIELD_NULL | LUXE_CSV_FIELD_PRESENT;
				return;
			}
			append_data(r, "", 0, fld);
			fld->flags = LUXE_CSV_FIELD_PRESENT;
			return;
		}
		if (r->null_marker_len > 0 && len == r->null_marker_len &&
			memcmp(s, r->null_marker, len) == 0)
		{
			fld->flags = LUXE_CSV_FIELD_NULL | LUXE_CSV_FIELD_PRESENT;
			return;
		}
		append_data(r, (const char *) s, len, fld);
		fld->flags = LUXE_CSV_FIELD_PRESENT;
	}
}

static void
end_record(LuxeCsvReader *r)
{
	if (r->rec_index < r->skip_rows)
	{
		bool		header = r->want_header && r->rec_index == r->skip_rows - 1;

		r->rec_index++;
		if (header)
		{
			r->want_header = false;
			r->header_cb(r->header_arg, r->header_n, r->header);
		}
		return;
	}
	r->rec_index++;
	{
		LuxeCsvRecord *rec = &r->recs[r->nrecs - 1];

		rec->nfields = r->cur_field;
		/* it ends on a later line than it started: a quoted line break */
		rec->status = (r->line + 1 > rec->line && !r->allow_quoted_newlines) ?
			LUXE_CSV_RECORD_QUOTED_NEWLINE : LUXE_CSV_RECORD_OK;
	}
}

/*
 * libcsv record callback: c is the terminator, or -1 at the end.
 *
 * Input is fed one physical line at a time (see luxe_csv_feed), so during
 * this callback r->line counts the LF line breaks before the current line,
 * and a terminator (LF, or the CR of a CRLF) is the end of the current line:
 * whatever comes next starts on line r->line + 2.
 */
static void
record_cb(int c, void *arg)
{
	LuxeCsvReader *r = (LuxeCsvReader *) arg;

	if (r->cur_field > 0)
		end_record(r);
	r->cur_field = 0;
	if (c >= 0)
		r->next_start_line = r->line + 2;
	/* the record that starts next has seen no LF yet (a lone CR ends one
	 * in the middle of a line) */
	r->rec_first_lf_end = -1;
}

/*
 * Start a new batch.  A record still open at the end of the previous chunk
 * (its line break not seen yet) moves to the front with its field bytes,
 * so the next chunk completes it.
 */
static void
begin_batch(LuxeCsvReader *r)
{
	bool		open = r->cur_field > 0 && r->rec_index >= r->skip_rows &&
		r->nrecs > 0;

	if (open && r->nrecs > 1)
	{
		LuxeCsvField *src = r->fields + (size_t) (r->nrecs - 1) * r->nslots;
		uint32		start = UINT32_MAX;
		int			i;

		for (i = 0; i < r->nslots; i++)
			if ((src[i].flags & LUXE_CSV_FIELD_PRESENT) &&
				!(src[i].flags & LUXE_CSV_FIELD_NULL) && src[i].off < start)
				start = src[i].off;
		if (start == UINT32_MAX)
			start = (uint32) r->data_len;
		memmove(r->data, r->data + start, r->data_len - start);
		r->data_len -= start;
		for (i = 0; i < r->nslots; i++)
		{
			r->fields[i] = src[i];
			if ((src[i].flags & LUXE_CSV_FIELD_PRESENT) &&
				!(src[i].flags & LUXE_CSV_FIELD_NULL))
				r->fields[i].off -= start;
		}
		r->recs[0] = r->recs[r->nrecs - 1];
		r->nrecs = 1;
	}
	else if (!open)
	{
		r->nrecs = 0;
		r->data_len = 0;
	}
	r->next = 0;
}

/*
 * The record in progress is malformed (recovery mode): drop what the batch
 * holds of it and put a LUXE_CSV_RECORD_MALFORMED record in its place, at
 * the line where it started.  Fresh parser state.
 */
static void
replace_by_malformed(LuxeCsvReader *r, const char *reason)
{
	LuxeCsvRecord *rec;

	if (r->cur_field > 0 && r->rec_index >= r->skip_rows && r->nrecs > 0)
		r->nrecs--;				/* started by its first field */
	if (r->nrecs == r->reccap)
	{
		r->reccap *= 2;
		r->recs = repalloc(r->recs, sizeof(LuxeCsvRecord) * r->reccap);
		r->fields = repalloc(r->fields, sizeof(LuxeCsvField) * r->reccap * Max(r->nslots, 1));
	}
	rec = &r->recs[r->nrecs++];
	rec->line = r->next_start_line;
	rec->nfields = 0;
	rec->status = LUXE_CSV_RECORD_MALFORMED;
	rec->reason = reason;
	r->rec_index++;
	reset_parser(r);
}

static const char *
parse_error_reason(LuxeCsvReader *r)
{
	return csv_error(&r->parser) == CSV_EPARSE ?
		"a quote character appears inside an unquoted field, or is not followed by a delimiter or line break" :
		csv_strerror(csv_error(&r->parser));
}

/*
 * Parse one whole line (ending with its LF) that starts between records,
 * without libcsv, when it holds one complete record or none: the fields
 * are handed to field_cb and the end to record_cb exactly as libcsv
 * (strict, CR and LF ending records, empty unquoted fields NULL, no space
 * trimming) would.  Returns false, having done nothing, for a line libcsv
 * must parse: a quoted field that goes on past the line, a CR other than
 * the one before the LF, a quote inside an unquoted field or text after a
 * closing quote (libcsv reports the error).  Most lines of most objects
 * are of the simple kind, and memchr finds their delimiters faster than
 * libcsv's byte-by-byte state machine.
 */
static bool
parse_line_fast(LuxeCsvReader *r, const char *line, size_t n)
{
	const char *end = line + n - 1;		/* the LF */
	unsigned char quote = r->parser.quote_char;
	char		delim = (char) r->parser.delim_char;
	int			term = '\n';
	const char *p = line;
	int			nf = 0;
	int			i;

	if (end > line && end[-1] == '\r')
	{
		end--;
		term = '\r';
	}
	if (memchr(line, '\r', end - line) != NULL)
		return false;
	if (end == line)
	{
		/* a blank line: no record */
		record_cb(term, r);
		if (term == '\r')
			record_cb('\n', r);
		return true;
	}
	if (r->no_quote || memchr(line, quote, end - line) == NULL)
	{
		/* no quotes: the delimiters split the fields */
		for (;;)
		{
			const char *d = memchr(p, delim, end - p);
			const char *fe = d ? d : end;

			field_cb(fe == p ? NULL : (void *) p, fe - p, r);
			if (d == NULL)
				break;
			p = d + 1;
		}
	}
	else
	{
		/* first check the whole line, then hand its fields over */
		for (;;)
		{
			LineField  *f;

			if (nf == r->line_cap)
			{
				r->line_cap *= 2;
				r->line_fields = repalloc(r->line_fields, sizeof(LineField) * r->line_cap);
			}
			f = &r->line_fields[nf++];
			if (p < end && (unsigned char) *p == quote)
			{
				const char *s = p + 1;
				const char *q;

				f->start = s;
				f->quoted = true;
				f->escaped = false;
				for (;;)
				{
					q = memchr(s, quote, end - s);
					if (q == NULL)
						return false;	/* the field goes on past this line */
					if (q + 1 < end && (unsigned char) q[1] == quote)
					{
						f->escaped = true;
						s = q + 2;
						continue;
					}
					break;
				}
				f->len = q - f->start;
				p = q + 1;
				if (p == end)
					break;
				if (*p != delim)
					return false;	/* text after the closing quote */
				p++;
			}
			else
			{
				const char *d = memchr(p, delim, end - p);
				const char *fe = d ? d : end;

				if (memchr(p, quote, fe - p) != NULL)
					return false;	/* a quote inside an unquoted field */
				f->start = p;
				f->len = fe - p;
				f->quoted = false;
				f->escaped = false;
				if (d == NULL)
					break;
				p = d + 1;
			}
		}
		for (i = 0; i < nf; i++)
		{
			LineField  *f = &r->line_fields[i];

			if (!f->quoted)
				field_cb(f->len == 0 ? NULL : (void *) f->start, f->len, r);
			else if (!f->escaped)
				field_cb((void *) f->start, f->len, r);
			else
			{
				const char *c = f->start;
				const char *fend = f->start + f->len;

				/* each pair of quotes is one quote */
				resetStringInfo(&r->unquoted);
				while (c < fend)
				{
					const char *q = memchr(c, quote, fend - c);

					if (q == NULL)
						q = fend - 1;
					appendBinaryStringInfo(&r->unquoted, c, q - c + 1);
					c = q + 2;
				}
				field_cb(r->unquoted.data, r->unquoted.len, r);
			}
		}
	}
	record_cb(term, r);
	if (term == '\r')
		record_cb('\n', r);
	return true;
}

/*
 * luxe_csv_feed
 *		Parse the next chunk of the current object.  The previous batch is
 *		discarded; the records completed by this chunk become the batch.  A
 *		parse error is recorded (see luxe_csv_error) after the records that
 *		precede it, or, in recovery mode, becomes a malformed record.  Can
 *		throw (out of memory, header callback).
 */
size_t
luxe_csv_feed(LuxeCsvReader *r, const char *data, size_t len)
{
	const char *orig = data;
	size_t		orig_len = len;
	size_t		done;

	begin_batch(r);
	if (r->error || r->halted || r->stopped)
		return orig_len;
	if (r->no_quote && memchr(data, '\0', len) != NULL)
	{
		/*
		 * libcsv's quote character is NUL when quoting is off: a NUL would
		 * quote.  PostgreSQL text cannot hold one anyway.
		 */
		const char *nul = memchr(data, '\0', len);

		/* the records before it come first, as they would chunk by chunk */
		if (nul > data)
		{
			size_t		taken = luxe_csv_feed(r, data, nul - data);

			if (r->stopped)
				return taken;
		}
		if (!r->error && !r->halted)
		{
			r->error = true;
			r->error_line = r->line + 1;
			r->error_reason = "the data holds a NUL byte, which a field cannot hold";
		}
		return orig_len;
	}
	if (r->check_bom)
	{
		static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

		/* the mark may arrive split over chunks: match it byte by byte */
		while (len > 0 && r->bom_matched < 3 &&
			   (unsigned char) data[0] == bom[r->bom_matched])
		{
			r->bom_matched++;
			r->offset++;
			data++;
			len--;
		}
		if (r->bom_matched == 3)
			r->check_bom = false;
		else if (len > 0)
		{
			/* not a mark after all: the bytes taken so far are data */
			r->check_bom = false;
			if (r->bom_matched > 0 &&
				csv_parse(&r->parser, bom, r->bom_matched, field_cb, record_cb, r) != r->bom_matched)
			{
				r->error = true;
				r->error_line = r->line + 1;
				r->error_reason = parse_error_reason(r);
				return orig_len;
			}
			if (r->bom_matched > 0)
				r->at_line_start = false;
		}
	}

	/*
	 * Feed one line at a time (up to and including each LF) so that line
	 * numbers are known without scanning every field for line breaks.
	 */
	done = 0;
	while (done < len)
	{
		const char *p = data + done;
		const char *nl = memchr(p, '\n', len - done);
		size_t		n = nl ? (size_t) (nl - p) + 1 : len - done;
		size_t		parsed;

		if (r->stop_at >= 0 && r->at_line_start && r->offset >= r->stop_at &&
			!r->skip_to_lf && r->parser.pstate == LUXE_LIBCSV_ROW_NOT_BEGUN &&
			r->cur_field == 0 && r->rec_index >= r->skip_rows)
		{
			/* a record boundary at or past the stop: consume no further */
			r->stopped = true;
			r->stopped_at = r->offset;
			return (data + done) - orig;
		}
		r->at_line_start = (nl != NULL);
		if (r->skip_to_lf)
		{
			/* the rest of a malformed record's last line */
			done += n;
			r->offset += n;
			if (nl)
			{
				r->skip_to_lf = false;
				r->next_start_line = r->line + 2;
				r->line++;
			}
			continue;
		}
		/* a record starts on this line: note where its first line ends */
		if (r->parser.pstate == LUXE_LIBCSV_ROW_NOT_BEGUN && r->cur_field == 0)
		{
			r->rec_first_lf_end = -1;
			if (nl && luxe_csv_fast_lines && parse_line_fast(r, p, n))
				parsed = n;
			else
				parsed = csv_parse(&r->parser, p, n, field_cb, record_cb, r);
		}
		else
			parsed = csv_parse(&r->parser, p, n, field_cb, record_cb, r);
		if (parsed != n)
		{
			if (!r->recover || r->rec_index < r->skip_rows)
			{
				done += parsed;
				r->error = true;
				r->error_line = r->line + 1;
				r->error_reason = parse_error_reason(r);
				return orig_len;
			}
			if (r->next_start_line <= r->line && r->rec_first_lf_end >= 0)
			{
				/*
				 * The bad record began on an earlier line, inside a quote
				 * that now proves bogus: it is its first line alone, and
				 * the object is read again from the line after it.
				 */
				replace_by_malformed(r, parse_error_reason(r));
				r->resume_offset = r->rec_first_lf_end;
				r->resume_line = r->rec_first_lf_line;
				r->halted = true;
				return orig_len;
			}
			/* a bad record up to the end of this line; a fresh start after */
			replace_by_malformed(r, parse_error_reason(r));
			done += n;
			r->offset += n;
			if (nl)
			{
				r->next_start_line = r->line + 2;
				r->line++;
			}
			else
				r->skip_to_lf = true;
			continue;
		}
		done += n;
		r->offset += n;
		if (nl)
		{
			r->line++;
			if (r->rec_first_lf_end < 0)
			{
				r->rec_first_lf_end = r->offset;
				r->rec_first_lf_line = r->line + 1;
			}
		}
	}
	return orig_len;
}

/*
 * luxe_csv_finish
 *		End of the object: flush a last record without a line break.  An
 *		unterminated quoted field is recorded as a parse error, or, in
 *		recovery mode, becomes a malformed record ending with its first
 *		line, and a resume point is set after that line.
 */
void
luxe_csv_finish(LuxeCsvReader *r)
{
	int64		first_lf_end = r->rec_first_lf_end;
	int64		first_lf_line = r->rec_first_lf_line;

	begin_batch(r);
	if (r->error || r->halted)
		return;
	if (r->skip_to_lf)
	{
		/* the object ended on a malformed record's last line */
		r->skip_to_lf = false;
	}
	else if (csv_fini(&r->parser, field_cb, record_cb, r) != 0)
	{
		if (!r->recover || r->rec_index < r->skip_rows)
		{
			r->error = true;
			r->error_line = r->next_start_line;
			r->error_reason = "the object ends inside a quoted field";
		}
		else
		{
			replace_by_malformed(r, "a quoted field is not closed before the end of the object");
			if (first_lf_end >= 0 && first_lf_end < r->offset)
			{
				r->resume_offset = first_lf_end;
				r->resume_line = first_lf_line;
			}
		}
	}
	if (r->want_header && r->header_cb)
	{
		/* the object had fewer rows than skip_leading_rows: empty header */
		r->want_header = false;
		r->header_cb(r->header_arg, r->header_n, r->header);
	}
}

/*
 * luxe_csv_next
 *		The next record of the batch, or NULL when the batch is exhausted.
 *		The record and its fields are valid until the next feed.
 */
LuxeCsvRecord *
luxe_csv_next(LuxeCsvReader *r)
{
	LuxeCsvRecord *rec;

	if (r->next >= r->nrecs)
		return NULL;
	rec = &r->recs[r->next];
	/* the final record of a batch may still be open (no terminator yet) */
	if (r->next == r->nrecs - 1 && r->cur_field > 0 &&
		r->rec_index >= r->skip_rows)
		return NULL;
	rec->fields = r->fields + (size_t) r->next * r->nslots;
	r->next++;
	return rec;
}

const char *
luxe_csv_data(LuxeCsvReader *r)
{
	return r->data;
}

bool
luxe_csv_error(LuxeCsvReader *r, int64 *line, const char **reason)
{
	if (!r->error)
		return false;
	*line = r->error_line;
	*reason = r->error_reason;
	return true;
}

int64
luxe_csv_lines(LuxeCsvReader *r)
{
	return r->line;
}

void
luxe_csv_destroy(LuxeCsvReader *r)
{
	MemoryContextDelete(r->cxt);
}

/*
 * Range summaries for a parallel scan that splits one object.
 *
 * A range starts at a line start.  There the reader is either between
 * records (libcsv's ROW_NOT_BEGUN: a line break ends a record in every
 * other state) or inside a quoted field, which a line break does not end.
 * Which one depends on everything before the range, so a range is run from
 * both, with a model of the reader's parser: strict libcsv (a quote inside
 * an unquoted field, or anything but a delimiter, a line break or a second
 * quote after a closing quote, is an error), CR and LF both ending a
 * record, no space trimming.  A run that meets an error says UNKNOWN: the
 * reader meets the same error and the scan fails there.  Recovery mode is
 * not modelled: tables with a bad-record budget are never scanned in
 * parallel (their rows are converted in subtransactions).
 *
 * A record boundary is a line start between records, past the header
 * rows.  From a boundary on, the reader's parse does not depend on what
 * came before, so a process may parse from there with a fresh parser
 * (luxe_csv_restart) and stop at the next range's first boundary
 * (luxe_csv_set_stop): every record is parsed once, by the process whose
 * range it starts in, exactly as a serial scan parses it.
 */
#define SPLIT_ROW		0		/* between records */
#define SPLIT_FIELD		1		/* after a delimiter */
#define SPLIT_UNQUOTED	2
#define SPLIT_QUOTED	3
#define SPLIT_MAYBE_END 4		/* a quote inside a quoted field */
#define SPLIT_ERROR		5

#define CLASS_DATA		0
#define CLASS_DELIM		1
#define CLASS_QUOTE		2
#define CLASS_NEWLINE	3
#define CLASS_BAD		4		/* NUL with quoting off: the reader refuses it */

/*
 * Run the parser model over d[from, len) from state, byte by byte, with
 * skip header records still to end.  Returns the state at len (an error
 * while still in the header rows).  For a range that starts the object or
 * has quoting off; split_run_fast does the rest.
 */
static int
split_run(const uint8 *cls, const unsigned char *d, size_t from, size_t len,
		  int state, int skip, unsigned char quote)
{
	size_t		i = from;
	int			records = 0;

	while (i < len)
	{
		int			c;

		if (state == SPLIT_UNQUOTED)
		{
			while (i < len && cls[d[i]] == CLASS_DATA)
				i++;
			if (i == len)
				break;
		}
		else if (state == SPLIT_QUOTED)
		{
			const unsigned char *q = memchr(d + i, quote, len - i);

			if (q == NULL)
				break;
			i = q - d;
		}
		c = cls[d[i]];
		if (c == CLASS_BAD)
			return SPLIT_ERROR;
		switch (state)
		{
			case SPLIT_ROW:
			case SPLIT_FIELD:
				if (c == CLASS_NEWLINE)
				{
					if (state == SPLIT_FIELD)
						records++;
					state = SPLIT_ROW;
				}
				else
					state = c == CLASS_DELIM ? SPLIT_FIELD :
						c == CLASS_QUOTE ? SPLIT_QUOTED : SPLIT_UNQUOTED;
				break;
			case SPLIT_UNQUOTED:
				if (c == CLASS_QUOTE)
					return SPLIT_ERROR;
				if (c == CLASS_NEWLINE)
				{
					records++;
					state = SPLIT_ROW;
				}
				else
					state = SPLIT_FIELD;
				break;
			case SPLIT_QUOTED:
				state = SPLIT_MAYBE_END;
				break;
			case SPLIT_MAYBE_END:
				if (c == CLASS_DATA)
					return SPLIT_ERROR;
				if (c == CLASS_NEWLINE)
				{
					records++;
					state = SPLIT_ROW;
				}
				else
					state = c == CLASS_DELIM ? SPLIT_FIELD : SPLIT_QUOTED;
				break;
		}
		i++;
	}
	if (records < skip)
		return SPLIT_ERROR;		/* still in the header rows */
	return state;
}

/*
 * split_run without header rows and with quoting, faster: between quoted
 * fields only quote characters change the state, so the run jumps from
 * quote to quote (memchr).  A quote opens a field where one starts (at the
 * run's start, or after a delimiter or a line break); anywhere else in an
 * unquoted field it is an error, as are bytes other than a quote, a
 * delimiter or a line break after a closing quote.  Outside quotes, a line
 * start is a record boundary.
 */
static int
split_run_fast(const unsigned char *d, size_t from, size_t len, int state,
			   unsigned char delim, unsigned char quote, bool stop_first,
			   int64 *first, int64 watch, bool *at_watch)
{
	size_t		i = from;

	for (;;)
	{
		if (state == SPLIT_QUOTED)
		{
			const unsigned char *q = memchr(d + i, quote, len - i);
			unsigned char c;

			if (q == NULL)
				return SPLIT_QUOTED;
			i = q - d + 1;
			if (i == len)
				return SPLIT_MAYBE_END;
			c = d[i++];
			if (c == quote)
				continue;		/* a doubled quote */
			if (c != delim && c != '\r' && c != '\n')
				return SPLIT_ERROR;
			state = SPLIT_ROW;	/* outside quotes, at i */
		}
		else
		{
			/* outside quotes from i: up to the next quote */
			const unsigned char *q = memchr(d + i, quote, len - i);
			size_t		qi = q ? (size_t) (q - d) : len;

			if (stop_first)
			{
				/* a line start in [i, qi]: i itself if it follows an LF */
				if (i > from && d[i - 1] == '\n')
				{
					*first = (int64) i;
					return SPLIT_ROW;
				}
				if (qi > i)
				{
					const unsigned char *nl = memchr(d + i, '\n', qi - i);

					if (nl)
					{
						*first = (int64) (nl - d) + 1;
						return SPLIT_ROW;
					}
				}
			}
			if (watch > (int64) from && watch >= (int64) i && watch <= (int64) qi &&
				d[watch - 1] == '\n')
				*at_watch = true;
			if (q == NULL)
				return SPLIT_ROW;
			if (qi > from && d[qi - 1] != delim && d[qi - 1] != '\r' && d[qi - 1] != '\n')
				return SPLIT_ERROR;		/* inside an unquoted field */
			i = qi + 1;
			state = SPLIT_QUOTED;
		}
	}
}

static LuxeCsvSplitState
split_state(int state)
{
	return state == SPLIT_ROW ? LUXE_CSV_SPLIT_ROW :
		state == SPLIT_QUOTED ? LUXE_CSV_SPLIT_QUOTED : LUXE_CSV_SPLIT_UNKNOWN;
}

/*
 * luxe_csv_summarize_range
 *		Summarize the bytes of one range of an object for a parallel scan:
 *		its line breaks, and the reader's state at its end from either state
 *		at its start (from the object's start, with its byte order mark and
 *		header rows, if object_start).  data must end right after an LF,
 *		unless it ends the object.
 */
void
luxe_csv_summarize_range(LuxeCsvReader *r, const char *data, size_t len,
						 bool object_start, LuxeCsvRangeSummary *out)
{
	const unsigned char *d = (const unsigned char *) data;
	uint8		cls[256];
	unsigned char quote = r->parser.quote_char;
	unsigned char delim = r->parser.delim_char;
	const char *p = data;
	const char *end = data + len;
	bool		at_first = false;

	memset(cls, CLASS_DATA, sizeof(cls));
	cls['\r'] = cls['\n'] = CLASS_NEWLINE;
	cls[(unsigned char) r->parser.delim_char] = CLASS_DELIM;
	cls[quote] = r->no_quote ? CLASS_BAD : CLASS_QUOTE;

	out->lfs = 0;
	while (p < end && (p = memchr(p, '\n', end - p)) != NULL)
	{
		out->lfs++;
		p++;
	}
	out->quoted_first = -1;
	out->quoted_first_lfs = 0;
	if (object_start)
	{
		size_t		from = 0;

		if (r->encoding == PG_UTF8 && len >= 3 &&
			memcmp(data, "\xEF\xBB\xBF", 3) == 0)
			from = 3;
		out->after_row = split_state(split_run(cls, d, from, len, SPLIT_ROW,
											   r->skip_rows, quote));
		out->after_quoted = LUXE_CSV_SPLIT_UNKNOWN;
		return;
	}

	if (r->no_quote)
	{
		/* no quoted fields: every line start is a boundary, short of a NUL */
		out->after_row = split_state(split_run(cls, d, 0, len, SPLIT_ROW, 0, quote));
		out->after_quoted = out->after_row;
		out->quoted_first = 0;
		return;
	}

	/* from inside a quoted field: up to the first boundary, if any */
	out->after_quoted = split_state(split_run_fast(d, 0, len, SPLIT_QUOTED, delim, quote,
												   true, &out->quoted_first, -1, &at_first));
	/* from between records, noting whether that first boundary is one too */
	out->after_row = split_state(split_run_fast(d, 0, len, SPLIT_ROW, delim, quote, false,
												NULL, out->quoted_first, &at_first));
	if (out->quoted_first >= 0)
	{
		/* from a boundary on, both runs are the same run */
		if (at_first)
			out->after_quoted = out->after_row;
		else
			out->after_quoted = split_state(split_run_fast(d, out->quoted_first, len,
														   SPLIT_ROW, delim, quote, false,
														   NULL, -1, &at_first));
		for (p = data; p < data + out->quoted_first &&
			 (p = memchr(p, '\n', data + out->quoted_first - p)) != NULL; p++)
			out->quoted_first_lfs++;
	}
}

/*
 * luxe_csv_append_field
 *		Append one field to a record being written, RFC 4180 style: a value
 *		is quoted when it holds the delimiter, the quote character or a line
 *		break, or when it is empty (an unquoted empty field reads back as
 *		NULL); quotes inside are doubled.  NULL is written as the null
 *		marker, or as an empty unquoted field.  A value equal to the null
 *		marker would read back as NULL, so it is an error, as is a value
 *		that needs quotes when quoting is disabled.  colname names the
 *		column for those errors.
 */
void
luxe_csv_append_field(StringInfo buf, const char *value, const LuxeCsvOptions *opts,
					  const char *colname)
{
	const char *c;
	bool		needs_quotes;

	if (value == NULL)
	{
		appendStringInfoString(buf, opts->null_marker ? opts->null_marker : "");
		return;
	}
	if (opts->null_marker && opts->null_marker[0] && strcmp(value, opts->null_marker) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("cannot write the value \"%s\" of column \"%s\"", value, colname),
				 errdetail("The value equals the table's null marker, so it would read back as NULL.")));
	/* empty, or starting with a BOM a reader would skip at an object's start */
	needs_quotes = value[0] == '\0' || strncmp(value, "\xEF\xBB\xBF", 3) == 0;
	for (c = value; *c && !needs_quotes; c++)
	{
		if (*c == opts->delimiter || *c == '\n' || *c == '\r' ||
			(opts->quote >= 0 && (unsigned char) *c == opts->quote))
			needs_quotes = true;
	}
	if (!needs_quotes)
	{
		appendStringInfoString(buf, value);
		return;
	}
	if (opts->quote < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("cannot write the value of column \"%s\" without quoting", colname),
				 errdetail("The value is empty or contains the delimiter or a line break, and the table's \"quote\" option disables quoting.")));
	appendStringInfoChar(buf, (char) opts->quote);
	for (c = value; *c; c++)
	{
		if ((unsigned char) *c == opts->quote)
			appendStringInfoChar(buf, (char) opts->quote);
		appendStringInfoChar(buf, *c);
	}
	appendStringInfoChar(buf, (char) opts->quote);
}

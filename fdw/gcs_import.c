/*-------------------------------------------------------------------------
 *
 * gcs_import.c
 *		  IMPORT FOREIGN SCHEMA for GCS: one foreign table per CSV object or
 *		  per directory of part files, with column types detected from a
 *		  sample of rows, like bq load --autodetect.
 *
 * Design assumptions and invariants:
 * - The remote schema is a gs://bucket/prefix; every object below it whose
 *   name ends in .csv, .tsv (optionally .gz) is considered.  Objects of one
 *   directory named part-* (Spark, bq extract) form one table whose uri is
 *   that directory's part-* wildcard; other objects get a table each.
 * - The first row is the header: it names the columns (as column_name
 *   options when the name is not already a plain identifier).  Types come
 *   from up to sample_rows rows: bigint, double precision, numeric (more
 *   digits than a double keeps), boolean, date, timestamptz, else text.
 *   A column with no non-empty value is text.
 * - Tables excluded by LIMIT TO / EXCEPT are not sampled.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/gcs_import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "commands/defrem.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "csv.h"
#include "gcs.h"
#include "gcs_fdw.h"
#include "option.h"

#define LUXE_IMPORT_SAMPLE_BYTES	(4 * 1024 * 1024)
#define LUXE_IMPORT_MAX_COLUMNS		1600	/* MaxHeapAttributeNumber */

/* Detected type of a column: the widest kind seen so far. */
typedef enum ColKind
{
	KIND_NONE,					/* no value yet */
	KIND_BOOL,
	KIND_BIGINT,
	KIND_FLOAT,
	KIND_NUMERIC,
	KIND_DATE,
	KIND_TIMESTAMP,
	KIND_TEXT
} ColKind;

typedef struct Sampler
{
	LuxeCsvReader *reader;
	int			ncols;
	char	  **names;
	int		   *field_map;
	ColKind    *kinds;
	bool		have_header;
} Sampler;

static bool
is_bool(const char *s)
{
	return pg_strcasecmp(s, "true") == 0 || pg_strcasecmp(s, "false") == 0;
}

/* [+-]digits: returns the digit count, or -1 */
static int
integer_digits(const char *s)
{
	int			n = 0;

	if (*s == '+' || *s == '-')
		s++;
	for (; *s; s++, n++)
		if (!isdigit((unsigned char) *s))
			return -1;
	return n > 0 ? n : -1;
}

/* decimal or scientific notation; *digits gets the significant digits */
static bool
is_decimal(const char *s, int *digits)
{
	bool		seen_digit = false;
	bool		seen_dot = false;
	int			n = 0;

	if (*s == '+' || *s == '-')
		s++;
	for (; *s && *s != 'e' && *s != 'E'; s++)
	{
		if (isdigit((unsigned char) *s))
		{
			seen_digit = true;
			n++;
		}
		else if (*s == '.' && !seen_dot)
			seen_dot = true;
		else
			return false;
	}
	if (!seen_digit)
		return false;
	if (*s)
	{
		s++;
		if (integer_digits(s) < 0)
			return false;
	}
	*digits = n;
	return true;
}

static bool
is_date(const char *s)
{
	return strlen(s) == 10 && isdigit((unsigned char) s[0]) && isdigit((unsigned char) s[3]) &&
		s[4] == '-' && isdigit((unsigned char) s[5]) && s[7] == '-' &&
		isdigit((unsigned char) s[8]) && isdigit((unsigned char) s[9]);
}

static bool
is_timestamp(const char *s)
{
	return strlen(s) >= 19 && is_date(pnstrdup(s, 10)) && (s[10] == ' ' || s[10] == 'T') &&
		s[13] == ':' && s[16] == ':';
}

static ColKind
kind_of(const char *s)
{
	int			digits;

	if (is_bool(s))
		return KIND_BOOL;
	if ((digits = integer_digits(s)) > 0)
		return digits <= 18 ? KIND_BIGINT : KIND_NUMERIC;
	if (is_decimal(s, &digits))
		return digits <= 15 ? KIND_FLOAT : KIND_NUMERIC;
	if (is_date(s))
		return KIND_DATE;
	if (is_timestamp(s))
		return KIND_TIMESTAMP;
	return KIND_TEXT;
}

/* the narrowest kind holding both */
static ColKind
merge_kind(ColKind a, ColKind b)
{
	if (a == KIND_NONE)
		return b;
	if (b == KIND_NONE || a == b)
		return a;
	if ((a == KIND_BIGINT || a == KIND_FLOAT || a == KIND_NUMERIC) &&
		(b == KIND_BIGINT || b == KIND_FLOAT || b == KIND_NUMERIC))
		return (a == KIND_NUMERIC || b == KIND_NUMERIC) ? KIND_NUMERIC : KIND_FLOAT;
	if ((a == KIND_DATE && b == KIND_TIMESTAMP) || (a == KIND_TIMESTAMP && b == KIND_DATE))
		return KIND_TIMESTAMP;
	return KIND_TEXT;
}

static const char *
kind_type(ColKind k)
{
	switch (k)
	{
		case KIND_BOOL:
			return "boolean";
		case KIND_BIGINT:
			return "bigint";
		case KIND_FLOAT:
			return "double precision";
		case KIND_NUMERIC:
			return "numeric";
		case KIND_DATE:
			return "date";
		case KIND_TIMESTAMP:
			return "timestamp with time zone";
		default:
			return "text";
	}
}

static void
sample_header(void *arg, int nfields, char **names)
{
	Sampler    *sm = (Sampler *) arg;
	int			i;

	sm->ncols = nfields;
	sm->names = palloc(sizeof(char *) * Max(nfields, 1));
	sm->kinds = palloc0(sizeof(ColKind) * Max(nfields, 1));
	sm->field_map = palloc(sizeof(int) * Max(nfields, 1));
	for (i = 0; i < nfields; i++)
	{
		sm->names[i] = pstrdup(names[i][0] ? names[i] : psprintf("column%d", i + 1));
		sm->field_map[i] = i;
	}
	sm->have_header = true;
	/* records after the header are parsed with this map */
	if (sm->reader)
		luxe_csv_set_slots(sm->reader, sm->field_map, Min(nfields, LUXE_IMPORT_MAX_COLUMNS));
}

/*
 * Read the header and up to sample_rows rows of one object (its first
 * request maybe started ahead: ahead); fills sm.
 * Returns false, with sm->ncols set, when the object has more columns than
 * a table can have.
 */
static bool
sample_object(LuxeGcsClient *client, LuxeGcsObject *o, LuxeHttpStream *ahead,
			  const LuxeCsvOptions *csv, int sample_rows, Sampler *sm)
{
	LuxeCsvOptions opts = *csv;
	LuxeCsvReader *r;
	LuxeGcsReader *g;
	int			rows = 0;
	int64		bytes = 0;
	int			max_cols = LUXE_IMPORT_MAX_COLUMNS;

	opts.skip_leading_rows = 1;
	/* the reader needs its slot count up front: the column limit */
	r = luxe_csv_create(&opts, max_cols);
	sm->reader = r;
	luxe_csv_begin_object(r, true, sample_header, sm);
	luxe_csv_set_slots(r, NULL, 0);
	g = luxe_gcs_open_prefetched(client, o, 0, ahead);
	for (;;)
	{
		const char *data;
		ssize_t		n = luxe_gcs_read(g, &data);
		LuxeCsvRecord *rec;
		bool		done = false;

		if (n > 0)
			luxe_csv_feed(r, data, n);
		else
			luxe_csv_finish(r);
		if (sm->have_header && sm->ncols > max_cols)
		{
			/* the caller skips this object */
			luxe_gcs_close_stream(g);
			luxe_csv_destroy(r);
			sm->reader = NULL;
			return false;
		}
		while ((rec = luxe_csv_next(r)) != NULL && rows < sample_rows)
		{
			int			i;

			for (i = 0; i < sm->ncols; i++)
			{
				LuxeCsvField *f = &rec->fields[i];

				if (!(f->flags & LUXE_CSV_FIELD_PRESENT) || (f->flags & LUXE_CSV_FIELD_NULL) ||
					f->len == 0)
					continue;
				sm->kinds[i] = merge_kind(sm->kinds[i], kind_of(luxe_csv_data(r) + f->off));
			}
			rows++;
		}
		bytes += Max(n, 0);
		if (n <= 0 || rows >= sample_rows || bytes >= LUXE_IMPORT_SAMPLE_BYTES)
			done = true;
		if (done)
			break;
	}
	luxe_gcs_close_stream(g);
	luxe_csv_destroy(r);
	sm->reader = NULL;
	if (!sm->have_header)
		sample_header(sm, 0, NULL);
	return true;
}

/* a lower-case identifier from an object or header name */
static char *
table_ident(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (isalnum(c))
			appendStringInfoChar(&buf, (char) tolower(c));
		else if (buf.len > 0 && buf.data[buf.len - 1] != '_')
			appendStringInfoChar(&buf, '_');
	}
	while (buf.len > 0 && buf.data[buf.len - 1] == '_')
		buf.data[--buf.len] = '\0';
	if (buf.len == 0 || isdigit((unsigned char) buf.data[0]))
		return psprintf("t_%s", buf.data);
	if (buf.len >= NAMEDATALEN)
		buf.data[NAMEDATALEN - 1] = '\0';
	return buf.data;
}

static bool
has_csv_suffix(const char *name)
{
	size_t		len = strlen(name);
	const char *const suffixes[] = {".csv", ".tsv", ".csv.gz", ".tsv.gz"};
	int			i;

	for (i = 0; i < lengthof(suffixes); i++)
	{
		size_t		sl = strlen(suffixes[i]);

		if (len > sl && pg_strcasecmp(name + len - sl, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static char *
strip_suffixes(const char *name)
{
	char	   *s = pstrdup(name);
	char	   *dot;

	while ((dot = strrchr(s, '.')) != NULL && dot != s)
	{
		if (pg_strcasecmp(dot, ".csv") == 0 || pg_strcasecmp(dot, ".tsv") == 0 ||
			pg_strcasecmp(dot, ".gz") == 0)
			*dot = '\0';
		else
			break;
	}
	return s;
}

/* A table to create: its name, uri and the object sampled for columns. */
typedef struct ImportTable
{
	char	   *name;
	char	   *uri;
	LuxeGcsObject *sample;
	bool		skip;			/* a duplicate name, or excluded */
	LuxeHttpStream *ahead;		/* the sample's read, started ahead */
} ImportTable;

/*
 * luxe_gcs_import_schema
 *		ImportForeignSchema: the CREATE FOREIGN TABLE statements for IMPORT
 *		FOREIGN SCHEMA "gs://bucket/prefix/" FROM SERVER ... INTO ....
 */
List *
luxe_gcs_import_schema(ImportForeignSchemaStmt *stmt, Oid serverid)
{
	const char *prefix_uri = stmt->remote_schema;
	LuxeServerOptions *server = palloc(sizeof(LuxeServerOptions));
	LuxeHttpStats stats = {0};
	LuxeGcsClient client_data;
	LuxeGcsClient *client = &client_data;
	LuxeImportOptions import;
	List	   *objects;
	List	   *tables = NIL;
	List	   *result = NIL;
	ListCell   *lc;
	LuxeCsvOptions csv;
	StringInfoData passthrough;
	bool		user_header_mapping = false;
	char	   *bucket;
	char	   *prefix;

	if (strncmp(prefix_uri, "gs://", 5) != 0 || strchr(prefix_uri + 5, '/') == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("invalid remote schema \"%s\"", prefix_uri),
				 errhint("Import from a GCS prefix such as \"gs://bucket/data/\".")));
	luxe_gcs_parse_uri(prefix_uri, &bucket, &prefix);
	luxe_option_server(serverid, server);
	luxe_gcs_client_init(client, &stats, server, serverid, GetUserId());

	/*
	 * sample_rows is ours; the other options pass through to every table,
	 * and the sample is read with the dialect they describe
	 */
	luxe_option_import(stmt->options, server, &import, &csv);
	initStringInfo(&passthrough);
	foreach(lc, import.table_options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		/* the user's header_mapping replaces IMPORT's choice */
		if (strcmp(d->defname, OPT_HEADER_MAPPING) == 0)
			user_header_mapping = true;
		appendStringInfo(&passthrough, ", %s %s", quote_identifier(d->defname),
						 quote_literal_cstr(defGetString(d)));
	}

	objects = luxe_gcs_list_uri(client, psprintf("gs://%s/%s*", bucket, prefix), true);

	/* group part files by directory; other CSV objects stand alone */
	foreach(lc, objects)
	{
		LuxeGcsObject *o = lfirst(lc);
		const char *slash = strrchr(o->name, '/');
		const char *base = slash ? slash + 1 : o->name;
		ImportTable *t;
		ListCell   *tc;
		bool		grouped = false;

		if (o->size == 0 || !has_csv_suffix(o->name))
			continue;
		if (strncmp(base, "part-", 5) == 0 && slash)
		{
			char	   *dir = pnstrdup(o->name, slash - o->name);
			const char *dbase = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
			char	   *uri = psprintf("gs://%s/%s/part-*", bucket, dir);

			foreach(tc, tables)
			{
				if (strcmp(((ImportTable *) lfirst(tc))->uri, uri) == 0)
					grouped = true;
			}
			if (grouped)
				continue;
			t = palloc0(sizeof(ImportTable));
			t->name = table_ident(strip_suffixes(dbase));
			t->uri = uri;
			t->sample = o;
		}
		else
		{
			t = palloc0(sizeof(ImportTable));
			t->name = table_ident(strip_suffixes(base));
			t->uri = luxe_gcs_object_uri(o);
			t->sample = o;
		}
		tables = lappend(tables, t);
	}

	/* which tables are sampled: not a duplicate name, not excluded */
	foreach(lc, tables)
	{
		ImportTable *t = lfirst(lc);
		ListCell   *prev;

		/* two objects mapping to one name: keep the first */
		foreach(prev, tables)
		{
			if (lfirst(prev) == t)
				break;
			if (strcmp(((ImportTable *) lfirst(prev))->name, t->name) == 0)
			{
				ereport(NOTICE,
						(errmsg("skipping \"%s\": table name \"%s\" is already imported from another object",
								t->uri, t->name)));
				t->skip = true;
				break;
			}
		}
		if (!t->skip && !IsImportableForeignTable(t->name, stmt))
			t->skip = true;
	}

	foreach(lc, tables)
	{
		ImportTable *t = lfirst(lc);
		Sampler		sm;
		StringInfoData sql;
		bool		positional;
		int			i;

		if (t->skip)
			continue;
		/*
		 * the samples' first requests go requests_in_flight at a time: each
		 * reads at most a stream buffer before it pauses
		 */
		{
			int			ahead = 0;
			ListCell   *ahead_lc;

			for_each_cell(ahead_lc, tables, lc)
			{
				ImportTable *u = lfirst(ahead_lc);

				if (u->skip)
					continue;
				if (++ahead > server->requests_in_flight)
					break;
				if (u->ahead == NULL)
					u->ahead = luxe_gcs_prefetch(client, u->sample);
			}
		}

		memset(&sm, 0, sizeof(sm));
		if (!sample_object(client, t->sample, t->ahead, &csv, import.sample_rows, &sm))
		{
			ereport(WARNING,
					(errcode(ERRCODE_TOO_MANY_COLUMNS),
					 errmsg("skipping GCS object \"%s\": it has %d columns", t->uri, sm.ncols),
					 errdetail("A table can have at most %d columns.", LUXE_IMPORT_MAX_COLUMNS)));
			continue;
		}
		/* duplicate header names cannot be mapped by name: by position */
		positional = false;
		for (i = 1; i < sm.ncols && !positional; i++)
		{
			int			j;

			for (j = 0; j < i; j++)
				if (strcmp(sm.names[i], sm.names[j]) == 0)
					positional = true;
		}

		initStringInfo(&sql);
		appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (", quote_identifier(t->name));
		for (i = 0; i < sm.ncols; i++)
		{
			char	   *ident = table_ident(sm.names[i]);

			/* duplicate header names get a numeric suffix */
			{
				int			j;

				for (j = 0; j < i; j++)
					if (strcmp(table_ident(sm.names[j]), ident) == 0)
						ident = psprintf("%s_%d", ident, i + 1);
			}
			appendStringInfo(&sql, "%s%s %s", i ? ", " : "", quote_identifier(ident),
							 kind_type(sm.kinds[i]));
			if (!positional && strcmp(ident, sm.names[i]) != 0)
				appendStringInfo(&sql, " OPTIONS (column_name %s)", quote_literal_cstr(sm.names[i]));
		}
		if (positional)
			ereport(NOTICE,
					(errmsg("columns of \"%s\" are mapped by position: its header repeats a name",
							t->name)));
		appendStringInfo(&sql, ") SERVER %s OPTIONS (uri %s, skip_leading_rows '1'%s%s)",
						 quote_identifier(server->servername), quote_literal_cstr(t->uri),
						 user_header_mapping ? "" :
						 positional ? ", header_mapping 'false'" : ", header_mapping 'true'",
						 passthrough.data);
		result = lappend(result, sql.data);
	}
	return result;
}

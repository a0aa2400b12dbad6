/*-------------------------------------------------------------------------
 *
 * fuzz_bigquery.c
 *		  libFuzzer target: the BigQuery REST client (bigquery.c) on
 *		  scripted responses: query jobs polled and read over result pages
 *		  (nested REPEATED and RECORD values rendered), table schemas,
 *		  tables.list, insertAll's insertErrors, load jobs, statements.
 *
 * Input: a control line, then a response script (see fake_http.c).  The
 * first word picks the call:
 *	  query        luxe_bq_query_start, then luxe_bq_query_next to the end
 *				   (params adds two query parameters; loc sets a location)
 *	  statement    luxe_bq_run_statement
 *	  table        luxe_bq_table_get (missing_ok)
 *	  list         luxe_bq_list_tables
 *	  insert       luxe_bq_insert_all of three rows (first_row=N)
 *	  load         luxe_bq_load (truncate)
 *	  auth=none|token|metadata as in fuzz_gcs.c.
 *
 * Invariants: an ERROR has an errcode (not XX000) and shows no secret;
 * a row has luxe_bq_query_ncolumns values, each NULL or a C string; a
 * REPEATED scalar renders as a well-formed PostgreSQL array literal and a
 * RECORD (or REPEATED RECORD) as JSON that parses; the fields have names
 * and PostgreSQL types; a table's fields too; the job is cancelled (a
 * quiet call that never throws) when the query goes away unfinished;
 * credentials go only to the endpoint over https.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  regress/fuzz/fuzz_bigquery.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "auth.h"
#include "bigquery.h"
#include "fuzz_common.h"

/*
 * Known bug 11 (bigquery.c): a request body built with json_pack leaks
 * when bq_call throws (luxe_bq_query_start, luxe_bq_insert_all,
 * luxe_bq_load); with FUZZ_TOLERATE_KNOWN=1 run.sh suppresses it.
 */

/* the token is a secret unless the input itself holds it (a server echo) */
static const char *secrets[] = {SECRET_TOKEN, NULL};
static const char *no_secrets[] = {NULL};

/*
 * A PostgreSQL array literal as repeated_to_pg_array writes it: {} or
 * {e,e,...} where e is NULL or a double-quoted string with \" and \\
 * escapes.
 */
static bool
valid_array_literal(const char *s)
{
	if (*s++ != '{')
		return false;
	if (*s == '}')
		return s[1] == '\0';
	for (;;)
	{
		if (strncmp(s, "NULL", 4) == 0)
			s += 4;
		else if (*s == '"')
		{
			s++;
			while (*s && *s != '"')
			{
				if (*s == '\\')
				{
					if (s[1] != '"' && s[1] != '\\')
						return false;
					s++;
				}
				s++;
			}
			if (*s++ != '"')
				return false;
		}
		else
			return false;
		if (*s == '}')
			return s[1] == '\0';
		if (*s++ != ',')
			return false;
	}
}

static void
check_fields(const LuxeBqField *fields, int n, const char *what)
{
	int			i;

	if (n > 0 && fields == NULL)
		fuzz_fail("%s: %d fields but no array", what, n);
	for (i = 0; i < n; i++)
	{
		if (fields[i].name == NULL || fields[i].type_name == NULL || fields[i].pg_type == NULL)
			fuzz_fail("%s: field %d lacks a name or a type", what, i);
		(void) strlen(fields[i].name);
		if (fields[i].type < LUXE_BQ_STRING || fields[i].type > LUXE_BQ_OTHER)
			fuzz_fail("%s: field %d has type %d", what, i, (int) fields[i].type);
	}
}

static void
run_query(LuxeBqClient *client, const char *control, bool statement)
{
	LuxeBqQuery *q;
	int			ncols;
	const LuxeBqField *fields;
	const char **values;
	int			rows = 0;
	LuxeBqParam params[2];
	const char *ints[3] = {"1", "2", "3"};
	const char *str[1] = {"Chanel"};

	if (statement)
	{
		luxe_bq_run_statement(client, "TRUNCATE TABLE ds.listings");
		return;
	}
	params[0].type = "ARRAY<INT64>";
	params[0].isnull = false;
	params[0].nvalues = 3;
	params[0].values = ints;
	params[1].type = "STRING";
	params[1].isnull = fuzz_has_word(control, "nullparam");
	params[1].nvalues = 1;
	params[1].values = str;
	q = luxe_bq_query_start(client, "SELECT * FROM ds.listings WHERE id IN UNNEST(@p1) OR brand = @p2",
							fuzz_has_word(control, "params") ? 2 : 0, params, 2);
	ncols = luxe_bq_query_ncolumns(q);
	fields = luxe_bq_query_fields(q);
	if (ncols < 0)
		fuzz_fail("%d columns", ncols);
	check_fields(fields, ncols, "query result");
	(void) luxe_bq_query_job_id(q);
	(void) luxe_bq_query_total_rows(q);
	values = palloc0(sizeof(char *) * Max(ncols, 1));
	while (luxe_bq_query_next(q, values))
	{
		int			i;

		if (++rows > 100000)
			fuzz_fail("more than 100000 rows from one input");
		for (i = 0; i < ncols; i++)
		{
			const char *v = values[i];

			if (v == NULL)
				continue;
			(void) strlen(v);
			if (fields[i].type == LUXE_BQ_RECORD)
			{
				json_error_t jerr;
				json_t	   *j = json_loads(v, JSON_DECODE_ANY, &jerr);

				if (j == NULL)
					fuzz_fail("column %d (RECORD) renders as invalid JSON: %s", i, v);
				if (fields[i].repeated ? !json_is_array(j) : !json_is_object(j))
					fuzz_fail("column %d (%sRECORD) renders as %s", i,
							  fields[i].repeated ? "REPEATED " : "", v);
				json_decref(j);
			}
			else if (fields[i].repeated && !valid_array_literal(v))
				fuzz_fail("column %d (REPEATED %s) renders as a bad array literal: %s",
						  i, fields[i].type_name, v);
		}
	}
	if (luxe_bq_query_next(q, values))
		fuzz_fail("a row after the end");
	luxe_bq_query_close(q);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *control;
	const char *script;
	const char *endpoint = "https://bigquery.googleapis.com";
	LuxeServerOptions server;
	LuxeHttpStats stats = {0};
	LuxeBqClient client;
	MemoryContext cxt;
	const char *const *input_secrets = secrets;
	MemoryContext query_cxt;

	cxt = fuzz_input_begin();
	if (fuzz_memcasemem(data, size, SECRET_TOKEN))
		input_secrets = no_secrets;
	script = fuzz_split_control((const char *) data, size, &control);
	fuzz_http_script(script, size - (script - (const char *) data));
	fuzz_user_mapping(control);
	fuzz_server_options(&server, LUXE_SERVICE_BIGQUERY, endpoint);
	if (fuzz_has_word(control, "loc"))
		server.location = "US";
	fuzz_http_set_endpoint(endpoint);
	/* the scan's context: deleting it cancels a running job */
	query_cxt = AllocSetContextCreate(cxt, "fuzz scan", ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		MemoryContextSwitchTo(query_cxt);
		luxe_bq_client_init(&client, &stats, &server, InvalidOid, InvalidOid);
		if (fuzz_has_word(control, "query") || fuzz_has_word(control, "statement"))
			run_query(&client, control, fuzz_has_word(control, "statement"));
		else if (fuzz_has_word(control, "table"))
		{
			LuxeBqTableInfo *info = luxe_bq_table_get(&client, "fuzz-project", "ds", "listings",
													  fuzz_has_word(control, "missing_ok"));

			if (info)
			{
				if (info->type == NULL)
					fuzz_fail("a table without a type");
				check_fields(info->fields, info->nfields, "table schema");
			}
		}
		else if (fuzz_has_word(control, "list"))
		{
			List	   *tables = luxe_bq_list_tables(&client, "fuzz-project", "ds");
			ListCell   *lc;

			foreach(lc, tables)
				(void) strlen((const char *) lfirst(lc));
		}
		else if (fuzz_has_word(control, "insert"))
		{
			LuxeBqRows *rows = luxe_bq_rows_create();
			const char *names[3] = {"id", "brand", "tags"};
			const LuxeBqValueKind kinds[3] = {LUXE_BQV_RAW, LUXE_BQV_STRING, LUXE_BQV_RAW};
			const char *v1[3] = {"1", "Chanel", "[\"a\",\"b\"]"};
			const LuxeBqValueKind kinds2[3] = {LUXE_BQV_RAW, LUXE_BQV_NULL, LUXE_BQV_RAW};
			const char *v2[3] = {"2", NULL, "[]"};
			const char *first = fuzz_word_value(control, "first_row");
			int64		first_row = first ? strtoll(first, NULL, 10) : 0;

			luxe_bq_rows_add(rows, 3, names, kinds, v1);
			luxe_bq_rows_add(rows, 3, names, kinds2, v2);
			luxe_bq_rows_add(rows, 3, names, kinds, v1);
			if (luxe_bq_rows_count(rows) != 3)
				fuzz_fail("luxe_bq_rows_count is %d", luxe_bq_rows_count(rows));
			/* as flush_batch in bq_modify.c: send, then empty the batch */
			luxe_bq_insert_all(&client, "fuzz-project", "ds", "listings", rows,
							   Min(Max(first_row, 0), (int64) 1 << 40));
			luxe_bq_rows_clear(rows);
		}
		else if (fuzz_has_word(control, "load"))
			luxe_bq_load(&client, "fuzz-project", "ds", "listings",
						 "gs://fuzz-bucket/staging/rows.json", fuzz_has_word(control, "truncate"));
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		const FuzzErrorData *e = fuzz_error_current();

		MemoryContextSwitchTo(cxt);
		fuzz_check_error(e, input_secrets);
		FlushErrorState();
	}
	PG_END_TRY();

	/* the executor deletes the scan context: a job still running is cancelled */
	PG_TRY();
	{
		MemoryContextDelete(query_cxt);
	}
	PG_CATCH();
	{
		fuzz_fail("ending the scan threw: %s", fuzz_error_string(fuzz_error_current()));
	}
	PG_END_TRY();
	fuzz_http_check_credentials(input_secrets);
	fuzz_input_end();
	return 0;
}

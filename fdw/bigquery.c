/*-------------------------------------------------------------------------
 *
 * bigquery.c
 *		  BigQuery REST v2 client of luxe_fdw.
 *
 * Design assumptions and invariants:
 * - Queries run as jobs (jobs.insert) with a job id chosen here, so a
 *   retried request cannot start the query twice (409 duplicate) and a
 *   cancel can always name the job; useLegacySql false; named parameters
 *   (values are never spliced into SQL text); results are read with
 *   jobs.getQueryResults and formatOptions.useInt64Timestamp, so
 *   TIMESTAMPs arrive as exact int64 microseconds.  An incomplete job (jobComplete false) is polled with
 *   jobs.getQueryResults until it completes: never a silent timeout, never
 *   a truncated result.  Rows are read one page at a time (pageToken), so
 *   memory is bounded by one page whatever the result size.
 * - A query job that is still running when its scan goes away -- a query
 *   cancel, statement_timeout, an error, a transaction abort -- is
 *   cancelled with jobs.cancel from a memory-context reset callback.
 * - Retries follow Google's guidance: 408, 429 and 5xx and broken
 *   connections are retried by the transport; a 403 is classified by its
 *   reason: rateLimitExceeded and userRateLimitExceeded are retried with
 *   backoff, quotaExceeded and the rest are errors.  Load jobs carry a
 *   client-chosen jobId, so a retried jobs.insert that already went
 *   through is recognised (409 duplicate) instead of loading twice;
 *   insertAll rows carry insertIds for BigQuery's de-duplication.
 * - This file uses jansson and must not include utils/builtins.h.  It
 *   never calls jansson's json_object(): the postgres executable exports a
 *   SQL function of that name, which the dynamic linker would bind instead
 *   (json_pack("{}") makes an empty object).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bigquery.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>
#include <math.h>

#include "foreign/foreign.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bigquery.h"
#include "google.h"

#define LUXE_BQ_POLL_TIMEOUT_MS		10000
#define LUXE_BQ_ESTIMATE_TTL_SECS	60

struct LuxeBqQuery
{
	LuxeBqClient *client;
	LuxeBqClient cancel_client; /* a copy for query_cancel_callback, which
								 * may run after the caller's client (on its
								 * stack, say) is gone */
	LuxeHttpStats cancel_stats;
	char	   *job_id;
	char	   *location;
	char	   *sql_for_errors;
	bool		complete;		/* the job finished (all rows exist) */
	int			page_rows;
	int			ncolumns;
	LuxeBqField *fields;
	json_t	   *page;			/* current response, owns rows */
	size_t		row;			/* next row of the page */
	size_t		nrows;
	char	   *page_token;
	int64		total_rows;
	char	  **values;			/* rendered values of the current row */
	MemoryContext row_cxt;
	MemoryContextCallback cb;
};

struct LuxeBqRows
{
	json_t	   *rows;			/* insertAll "rows" array (malloc'd) */
	MemoryContextCallback cb;	/* releases it with the memory context */
};

/* ---------------------------------------------------------------------
 * Client and calls
 * ---------------------------------------------------------------------
 */

/*
 * luxe_bq_client_init
 *		Build a BigQuery client for a user of a server; jobs run in the
 *		server's project and location.  Palloc'd in the current memory
 *		context.  Can throw.
 */
void
luxe_bq_client_init(LuxeBqClient *client, LuxeHttpStats *stats,
					const LuxeServerOptions *server, Oid serverid, Oid userid)
{
	memset(client, 0, sizeof(*client));
	luxe_google_client_init(&client->google, stats, server, "BigQuery",
							server->endpoint, serverid, userid);
	client->project = server->project;
	client->location = server->location;
}

/* BigQuery identifiers in backticks, with backtick and backslash escaped. */
char *
luxe_bq_quote_ident(const char *ident)
{
	StringInfoData buf;
	const char *c;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '`');
	for (c = ident; *c; c++)
	{
		if (*c == '`' || *c == '\\')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *c);
	}
	appendStringInfoChar(&buf, '`');
	return buf.data;
}

/* The JSON body of BigQuery's calls. */
static List *
json_headers(void)
{
	return list_make1("Content-Type: application/json; charset=UTF-8");
}

/*
 * Report BigQuery's error: an HTTP error body's "error" object, or a job's
 * errorResult (status 0).  what names the call; sql, when given, goes into
 * the context.  Always throws, with the SQLSTATE luxe_google_sqlstate
 * gives.  The error is copied into palloc'd memory first; then err and
 * owned (either may be NULL), which are the caller's jansson references,
 * are released, so that nothing malloc'd outlives the error.
 */
static void
report_bq_error(long status, json_t *err, json_t *owned, const char *what,
				const char *sql)
{
	LuxeGoogleError e;

	luxe_google_error_from_json(status, err, &e);
	if (owned != err)
		json_decref(owned);
	json_decref(err);
	ereport(ERROR,
			(errcode(luxe_google_sqlstate(status, e.reason)),
			 errmsg_internal("BigQuery %s failed: %s", what, e.message),
			 status ? errdetail_internal("HTTP %ld%s%s%s%s.", status,
										 e.reason ? ", reason " : "", e.reason ? e.reason : "",
										 e.location ? ", location " : "", e.location ? e.location : "") :
			 errdetail_internal("Reason %s%s%s.", e.reason ? e.reason : "unknown",
								e.location ? ", location " : "", e.location ? e.location : ""),
			 sql ? errcontext("remote SQL: %s", sql) : 0,
			 (e.reason && strcmp(e.reason, "quotaExceeded") == 0) ?
			 errhint("BigQuery asks to wait 10 minutes or longer after a quotaExceeded error.") : 0));
}

/*
 * One API call (see luxe_google_call for credentials, the renewal on 401,
 * rate-limit and transport retries).  The request body, if any, is taken
 * over: it is released here on every path.  Returns the parsed body
 * (caller json_decref's) and the status; a non-2xx status is reported
 * unless it is ok_status (e.g. 404 with missing_ok, 409 for a duplicate
 * job).
 */
static json_t *
bq_call(LuxeBqClient *c, const char *method, const char *path, json_t *body,
		const char *what, const char *sql, long ok_status, long *status_out)
{
	/* compact JSON: Google pretty-prints unless told otherwise */
	char	   *url = psprintf("%s/bigquery/v2/%s%sprettyPrint=false", c->google.endpoint, path,
							   strchr(path, '?') ? "&" : "?");
	char	   *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t		text_len = text ? strlen(text) : 0;
	LuxeHttpResponse *resp;
	json_t	   *root;
	json_error_t jerr;
	int			attempt;

	/* the body is ours: released here, whatever happens next */
	json_decref(body);

	/*
	 * Every call is safe to repeat (jobs carry their ids, insertAll rows
	 * their insertIds), so a 2xx whose body does not parse -- cut short on
	 * the way -- is asked again like a broken transfer: a job it created is
	 * then found by its id (409), never started twice.
	 */
	for (attempt = 0;; attempt++)
	{
		PG_TRY();
		{
			resp = luxe_google_call(&c->google, method, url, json_headers(), text, text_len, true);
		}
		PG_CATCH();
		{
			if (text)
				free(text);
			PG_RE_THROW();
		}
		PG_END_TRY();
		c->google.stats->bytes += resp->body_len;
		root = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, &jerr) : json_pack("{}");
		if (root != NULL || resp->status < 200 || resp->status >= 300 ||
			attempt >= c->google.http.max_retries)
			break;
		c->google.stats->retries++;
		luxe_http_sleep(luxe_http_retry_delay_ms(&c->google.http, attempt, NULL));
	}
	if (text)
		free(text);

	if (resp->status >= 200 && resp->status < 300)
	{
		if (root == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_REPLY_HANDLE),
					 errmsg("could not parse the BigQuery response to %s", what),
					 errdetail_internal("%s (line %d, column %d), after %d attempts.",
										jerr.text, jerr.line, jerr.column, attempt + 1)));
		*status_out = resp->status;
		return root;
	}
	if (resp->status == ok_status)
	{
		*status_out = resp->status;
		return root ? root : json_pack("{}");
	}
	if (root == NULL || !json_is_object(json_object_get(root, "error")))
	{
		LuxeGoogleError e;

		if (root)
			json_decref(root);
		luxe_google_parse_error(resp->status, resp->body, resp->body_len, &e);
		ereport(ERROR,
				(errcode(luxe_google_sqlstate(resp->status, e.reason)),
				 errmsg("BigQuery %s failed with HTTP %ld", what, resp->status),
				 errdetail_internal("%s", e.message)));
	}
	report_bq_error(resp->status, json_incref(json_object_get(root, "error")), root, what, sql);
	return NULL;				/* keep compiler quiet */
}

/* ---------------------------------------------------------------------
 * Schemas and values
 * ---------------------------------------------------------------------
 */

static LuxeBqType
type_from_name(const char *t)
{
	if (strcmp(t, "STRING") == 0)
		return LUXE_BQ_STRING;
	if (strcmp(t, "BYTES") == 0)
		return LUXE_BQ_BYTES;
	if (strcmp(t, "INTEGER") == 0 || strcmp(t, "INT64") == 0)
		return LUXE_BQ_INT64;
	if (strcmp(t, "FLOAT") == 0 || strcmp(t, "FLOAT64") == 0)
		return LUXE_BQ_FLOAT64;
	if (strcmp(t, "NUMERIC") == 0)
		return LUXE_BQ_NUMERIC;
	if (strcmp(t, "BIGNUMERIC") == 0)
		return LUXE_BQ_BIGNUMERIC;
	if (strcmp(t, "BOOLEAN") == 0 || strcmp(t, "BOOL") == 0)
		return LUXE_BQ_BOOL;
	if (strcmp(t, "DATE") == 0)
		return LUXE_BQ_DATE;
	if (strcmp(t, "DATETIME") == 0)
		return LUXE_BQ_DATETIME;
	if (strcmp(t, "TIME") == 0)
		return LUXE_BQ_TIME;
	if (strcmp(t, "TIMESTAMP") == 0)
		return LUXE_BQ_TIMESTAMP;
	if (strcmp(t, "JSON") == 0)
		return LUXE_BQ_JSON;
	if (strcmp(t, "GEOGRAPHY") == 0)
		return LUXE_BQ_GEOGRAPHY;
	if (strcmp(t, "RECORD") == 0 || strcmp(t, "STRUCT") == 0)
		return LUXE_BQ_RECORD;
	if (strcmp(t, "RANGE") == 0)
		return LUXE_BQ_RANGE;
	return LUXE_BQ_OTHER;
}

static const char *
pg_type_for(LuxeBqType type, bool repeated)
{
	const char *base;

	switch (type)
	{
		case LUXE_BQ_INT64:
			base = "bigint";
			break;
		case LUXE_BQ_FLOAT64:
			base = "double precision";
			break;
		case LUXE_BQ_NUMERIC:
		case LUXE_BQ_BIGNUMERIC:
			base = "numeric";
			break;
		case LUXE_BQ_BOOL:
			base = "boolean";
			break;
		case LUXE_BQ_BYTES:
			base = "bytea";
			break;
		case LUXE_BQ_DATE:
			base = "date";
			break;
		case LUXE_BQ_DATETIME:
			base = "timestamp";
			break;
		case LUXE_BQ_TIME:
			base = "time";
			break;
		case LUXE_BQ_TIMESTAMP:
			base = "timestamptz";
			break;
		case LUXE_BQ_JSON:
		case LUXE_BQ_RECORD:
			return "jsonb";		/* a REPEATED RECORD is a jsonb array */
		default:
			base = "text";
			break;
	}
	return repeated ? psprintf("%s[]", base) : base;
}

static LuxeBqField *
parse_fields(json_t *schema, int *nfields)
{
	json_t	   *fields = json_object_get(schema, "fields");
	LuxeBqField *result;
	size_t		i;

	*nfields = json_is_array(fields) ? (int) json_array_size(fields) : 0;
	result = palloc0(sizeof(LuxeBqField) * Max(*nfields, 1));
	for (i = 0; i < (size_t) *nfields; i++)
	{
		json_t	   *f = json_array_get(fields, i);
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *mode = json_string_value(json_object_get(f, "mode"));

		result[i].name = pstrdup(name ? name : "");
		result[i].type_name = pstrdup(type ? type : "STRING");
		result[i].type = type_from_name(result[i].type_name);
		result[i].repeated = mode && strcmp(mode, "REPEATED") == 0;
		result[i].required = mode && strcmp(mode, "REQUIRED") == 0;
		result[i].pg_type = pstrdup(pg_type_for(result[i].type, result[i].repeated));
	}
	return result;
}

/* JSON value of a RECORD (f/v form) as a JSON object, by the sub-schema. */
static json_t *record_to_json(json_t *v, json_t *schema);

static json_t *
value_to_json(json_t *v, json_t *field)
{
	const char *type = json_string_value(json_object_get(field, "type"));
	LuxeBqType t = type_from_name(type ? type : "STRING");

	if (v == NULL || json_is_null(v))
		return json_null();
	if (t == LUXE_BQ_RECORD)
		return record_to_json(v, field);
	if (!json_is_string(v))
		return json_incref(v);
	switch (t)
	{
		case LUXE_BQ_INT64:
		case LUXE_BQ_FLOAT64:
			{
				const char *s = json_string_value(v);
				char	   *end;
				double		d = strtod(s, &end);

				if (*end == '\0' && t == LUXE_BQ_INT64)
					return json_integer(strtoll(s, NULL, 10));
				if (*end == '\0' && !isnan(d) && !isinf(d))
					return json_real(d);
				return json_incref(v);
			}
		case LUXE_BQ_BOOL:
			return json_boolean(strcmp(json_string_value(v), "true") == 0);
		case LUXE_BQ_JSON:
			{
				json_error_t jerr;
				json_t	   *parsed = json_loads(json_string_value(v), JSON_DECODE_ANY, &jerr);

				return parsed ? parsed : json_incref(v);
			}
		default:
			return json_incref(v);
	}
}

static json_t *
repeated_to_json(json_t *v, json_t *field)
{
	json_t	   *arr = json_array();
	size_t		i;

	for (i = 0; json_is_array(v) && i < json_array_size(v); i++)
		json_array_append_new(arr, value_to_json(json_object_get(json_array_get(v, i), "v"), field));
	return arr;
}

static json_t *
record_to_json(json_t *v, json_t *schema)
{
	json_t	   *obj = json_pack("{}");
	json_t	   *fields = json_object_get(schema, "fields");
	json_t	   *cells = json_object_get(v, "f");
	size_t		i;

	for (i = 0; json_is_array(fields) && i < json_array_size(fields); i++)
	{
		json_t	   *field = json_array_get(fields, i);
		const char *name = json_string_value(json_object_get(field, "name"));
		const char *mode = json_string_value(json_object_get(field, "mode"));
		json_t	   *cell = json_is_array(cells) ? json_object_get(json_array_get(cells, i), "v") : NULL;

		if (mode && strcmp(mode, "REPEATED") == 0)
			json_object_set_new(obj, name ? name : "", repeated_to_json(cell, field));
		else
			json_object_set_new(obj, name ? name : "", value_to_json(cell, field));
	}
	return obj;
}

/* A PostgreSQL array literal from a REPEATED scalar: {"a","b"}. */
static char *
repeated_to_pg_array(json_t *v)
{
	StringInfoData buf;
	size_t		i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; json_is_array(v) && i < json_array_size(v); i++)
	{
		json_t	   *e = json_object_get(json_array_get(v, i), "v");
		const char *c;

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (e == NULL || json_is_null(e) || !json_is_string(e))
		{
			appendStringInfoString(&buf, "NULL");
			continue;
		}
		appendStringInfoChar(&buf, '"');
		for (c = json_string_value(e); *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *c);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Queries
 * ---------------------------------------------------------------------
 */

static char *
new_request_id(const char *prefix)
{
	uint8		r[16];
	char		hex[33];
	int			i;

	if (!pg_strong_random(r, sizeof(r)))
		elog(ERROR, "luxe_fdw: could not generate a random request id");
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	return psprintf("%s%s", prefix, hex);
}

static json_t *
param_json(int i, const LuxeBqParam *p)
{
	json_t	   *type = json_pack("{}");
	json_t	   *value = json_pack("{}");
	bool		is_array = strncmp(p->type, "ARRAY<", 6) == 0;

	if (is_array)
	{
		json_t	   *values = json_array();
		char	   *elem = pnstrdup(p->type + 6, strlen(p->type) - 7);
		int			k;

		json_object_set_new(type, "type", json_string("ARRAY"));
		json_object_set_new(type, "arrayType", json_pack("{s:s}", "type", elem));
		for (k = 0; k < p->nvalues; k++)
			json_array_append_new(values, json_pack("{s:s}", "value", p->values[k]));
		if (!p->isnull)
			json_object_set_new(value, "arrayValues", values);
		else
			json_decref(values);
	}
	else
	{
		json_object_set_new(type, "type", json_string(p->type));
		if (!p->isnull)
			json_object_set_new(value, "value", json_string(p->values[0]));
	}
	return json_pack("{s:s, s:o, s:o}", "name", psprintf("p%d", i + 1),
					 "parameterType", type, "parameterValue", value);
}

static void
query_cancel_callback(void *arg)
{
	LuxeBqQuery *q = (LuxeBqQuery *) arg;

	if (q->page)
	{
		json_decref(q->page);
		q->page = NULL;
	}
	if (!q->complete && q->job_id)
	{
		/*
		 * The scan went away while the job runs: cancel it, best effort and
		 * briefly (this may run during abort, with interrupts held).
		 */
		LuxeBqClient *c = &q->cancel_client;
		char	   *url = psprintf("%s/bigquery/v2/projects/%s/jobs/%s/cancel%s%s",
								   c->google.endpoint, luxe_http_escape(c->project),
								   luxe_http_escape(q->job_id),
								   q->location ? "?location=" : "",
								   q->location ? luxe_http_escape(q->location) : "");

		q->complete = true;
		luxe_google_call_quietly(&c->google, "POST", url, json_headers());
	}
}

/* Adopt a jobs.query / getQueryResults response as the current page. */
static void
take_page(LuxeBqQuery *q, json_t *root)
{
	json_t	   *rows;
	json_t	   *token;
	json_t	   *errors;

	if (q->page)
		json_decref(q->page);
	q->page = root;
	q->row = 0;
	q->nrows = 0;
	q->page_token = NULL;

	errors = json_object_get(root, "errors");
	if (json_is_array(errors) && json_array_size(errors) > 0 &&
		json_is_true(json_object_get(root, "jobComplete")))
	{
		/* a finished job with errors has failed */
		json_t	   *err = json_pack("{s:O}", "errors", errors);

		q->complete = true;
		report_bq_error(0, err, NULL, "query", q->sql_for_errors);
	}
	if (!json_is_true(json_object_get(root, "jobComplete")))
		return;
	q->complete = true;
	if (q->fields == NULL)
		q->fields = parse_fields(json_object_get(root, "schema"), &q->ncolumns);
	if (json_is_string(json_object_get(root, "totalRows")))
		q->total_rows = strtoll(json_string_value(json_object_get(root, "totalRows")), NULL, 10);
	if (json_is_string(json_object_get(root, "totalBytesProcessed")))
		q->client->bytes_processed = strtoll(json_string_value(json_object_get(root, "totalBytesProcessed")), NULL, 10);
	rows = json_object_get(root, "rows");
	q->nrows = json_is_array(rows) ? json_array_size(rows) : 0;
	token = json_object_get(root, "pageToken");
	if (json_is_string(token) && json_string_length(token) > 0)
		q->page_token = MemoryContextStrdup(GetMemoryChunkContext(q), json_string_value(token));
}

static void
fetch_results(LuxeBqQuery *q)
{
	LuxeBqClient *c = q->client;
	StringInfoData path;
	json_t	   *root;
	long		status;

	initStringInfo(&path);
	appendStringInfo(&path, "projects/%s/queries/%s?formatOptions.useInt64Timestamp=true&maxResults=%d&timeoutMs=%d",
					 luxe_http_escape(c->project), luxe_http_escape(q->job_id),
					 q->page_rows, LUXE_BQ_POLL_TIMEOUT_MS);
	if (q->location)
		appendStringInfo(&path, "&location=%s", luxe_http_escape(q->location));
	if (q->page_token)
		appendStringInfo(&path, "&pageToken=%s", luxe_http_escape(q->page_token));
	root = bq_call(c, "GET", path.data, NULL, "query", q->sql_for_errors, 0, &status);
	take_page(q, root);
}

/*
 * luxe_bq_query_start
 *		Run a query; returns when its first page is in (polling while the
 *		job is incomplete).  The query is palloc'd in the current memory
 *		context; deleting that context cancels a job that is still running.
 */
LuxeBqQuery *
luxe_bq_query_start(LuxeBqClient *client, const char *sql, int nparams,
					const LuxeBqParam *params, int page_rows)
{
	LuxeBqQuery *q = palloc0(sizeof(LuxeBqQuery));
	json_t	   *body;
	json_t	   *jparams = json_array();
	json_t	   *root;
	json_t	   *ref;
	long		status;
	int			i;

	q->client = client;
	q->cancel_client = *client;
	q->cancel_client.google.stats = &q->cancel_stats;
	q->page_rows = page_rows;
	q->sql_for_errors = pstrdup(sql);
	q->total_rows = -1;
	q->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "luxe_fdw BigQuery row",
									   ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < nparams; i++)
		json_array_append_new(jparams, param_json(i, &params[i]));

	/*
	 * The job id is chosen here, before anything is sent, so that a cancel
	 * arriving at any moment can name the job, and a jobs.insert retried
	 * after a lost answer is recognised (409 duplicate) instead of running
	 * the query twice.
	 */
	q->job_id = new_request_id("luxe_query_");
	q->location = client->location;
	body = json_pack("{s:{s:s, s:s}, s:{s:{s:s, s:b, s:s, s:o}}}",
					 "jobReference", "projectId", client->project, "jobId", q->job_id,
					 "configuration", "query",
					 "query", sql, "useLegacySql", 0, "parameterMode", "NAMED",
					 "queryParameters", jparams);
	if (client->location)
		json_object_set_new(json_object_get(body, "jobReference"), "location",
							json_string(client->location));

	q->cb.func = query_cancel_callback;
	q->cb.arg = q;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &q->cb);

	root = bq_call(client, "POST", psprintf("projects/%s/jobs", luxe_http_escape(client->project)),
				   body, "query", sql, 409, &status);
	if (status != 409)
	{
		json_t	   *st = json_object_get(root, "status");
		json_t	   *err = json_object_get(st, "errorResult");

		ref = json_object_get(root, "jobReference");
		if (json_is_string(json_object_get(ref, "location")))
			q->location = pstrdup(json_string_value(json_object_get(ref, "location")));
		if (json_is_object(err))
		{
			/* rejected at once (e.g. a syntax error): the job is done */
			json_t	   *wrapped = json_pack("{s:s, s:[O]}", "message",
											json_string_value(json_object_get(err, "message")) ?
											json_string_value(json_object_get(err, "message")) : "failed",
											"errors", err);

			q->complete = true;
			report_bq_error(0, wrapped, root, "query", sql);
		}
	}
	json_decref(root);

	/* the first page; an incomplete job is polled, each poll waiting up to
	 * timeoutMs server-side */
	do
	{
		CHECK_FOR_INTERRUPTS();
		fetch_results(q);
	} while (!q->complete);
	return q;
}

int
luxe_bq_query_ncolumns(LuxeBqQuery *q)
{
	return q->ncolumns;
}

const LuxeBqField *
luxe_bq_query_fields(LuxeBqQuery *q)
{
	return q->fields;
}

const char *
luxe_bq_query_job_id(LuxeBqQuery *q)
{
	return q->job_id;
}

int64
luxe_bq_query_total_rows(LuxeBqQuery *q)
{
	return q->total_rows;
}

/*
 * luxe_bq_query_next
 *		The next row: values[i] is column i in BigQuery's string form, NULL
 *		for NULL; nested values rendered (see bigquery.h).  The strings live
 *		until the next call.  Returns false at the end.
 */
bool
luxe_bq_query_next(LuxeBqQuery *q, const char **values)
{
	json_t	   *row;
	json_t	   *cells;
	json_t	   *schema_fields;
	MemoryContext old;
	int			i;

	while (q->row >= q->nrows)
	{
		if (q->page_token == NULL)
			return false;
		fetch_results(q);
	}
	MemoryContextReset(q->row_cxt);
	old = MemoryContextSwitchTo(q->row_cxt);
	row = json_array_get(json_object_get(q->page, "rows"), q->row++);
	cells = json_object_get(row, "f");
	schema_fields = json_object_get(json_object_get(q->page, "schema"), "fields");
	for (i = 0; i < q->ncolumns; i++)
	{
		json_t	   *v = json_object_get(json_array_get(cells, i), "v");
		LuxeBqField *f = &q->fields[i];

		if (v == NULL || json_is_null(v))
			values[i] = NULL;
		else if (f->type == LUXE_BQ_RECORD || (f->repeated && f->type == LUXE_BQ_RECORD))
		{
			json_t	   *field = json_array_get(schema_fields, i);
			json_t	   *j = f->repeated ? repeated_to_json(v, field) : record_to_json(v, field);
			char	   *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

			values[i] = pstrdup(text);
			free(text);
			json_decref(j);
		}
		else if (f->repeated)
			values[i] = repeated_to_pg_array(v);
		else if (json_is_string(v))
			values[i] = json_string_value(v);
		else
		{
			char	   *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			values[i] = pstrdup(text);
			free(text);
		}
	}
	MemoryContextSwitchTo(old);
	return true;
}

void
luxe_bq_query_close(LuxeBqQuery *q)
{
	query_cancel_callback(q);
}

/*
 * luxe_bq_run_statement
 *		Run a statement (DDL/DML such as TRUNCATE TABLE) to completion.
 */
void
luxe_bq_run_statement(LuxeBqClient *client, const char *sql)
{
	LuxeBqQuery *q = luxe_bq_query_start(client, sql, 0, NULL, 1);

	luxe_bq_query_close(q);
}

/* ---------------------------------------------------------------------
 * Tables
 * ---------------------------------------------------------------------
 */

LuxeBqTableInfo *
luxe_bq_table_get(LuxeBqClient *client, const char *project, const char *dataset,
				  const char *table, bool missing_ok)
{
	char	   *path = psprintf("projects/%s/datasets/%s/tables/%s",
								luxe_http_escape(project), luxe_http_escape(dataset),
								luxe_http_escape(table));
	long		status;
	json_t	   *root = bq_call(client, "GET", path, NULL,
							   psprintf("tables.get of %s.%s.%s", project, dataset, table),
							   NULL, missing_ok ? 404 : 0, &status);
	LuxeBqTableInfo *info;

	if (status == 404)
	{
		json_decref(root);
		return NULL;
	}
	info = palloc0(sizeof(LuxeBqTableInfo));
	info->type = pstrdup(json_is_string(json_object_get(root, "type")) ?
						 json_string_value(json_object_get(root, "type")) : "TABLE");
	info->num_rows = json_is_string(json_object_get(root, "numRows")) ?
		strtod(json_string_value(json_object_get(root, "numRows")), NULL) : -1;
	info->num_bytes = json_is_string(json_object_get(root, "numBytes")) ?
		strtod(json_string_value(json_object_get(root, "numBytes")), NULL) : -1;
	info->fields = parse_fields(json_object_get(root, "schema"), &info->nfields);
	json_decref(root);
	return info;
}

/*
 * luxe_bq_list_tables
 *		Names of the tables of a dataset (tables.list, every page).
 */
List *
luxe_bq_list_tables(LuxeBqClient *client, const char *project, const char *dataset)
{
	List	   *result = NIL;
	char	   *token = NULL;

	do
	{
		char	   *path = psprintf("projects/%s/datasets/%s/tables?maxResults=1000%s%s",
									luxe_http_escape(project), luxe_http_escape(dataset),
									token ? "&pageToken=" : "", token ? luxe_http_escape(token) : "");
		long		status;
		json_t	   *root = bq_call(client, "GET", path, NULL,
								   psprintf("tables.list of dataset %s.%s", project, dataset),
								   NULL, 0, &status);
		json_t	   *tables = json_object_get(root, "tables");
		json_t	   *next = json_object_get(root, "nextPageToken");
		size_t		i;

		for (i = 0; json_is_array(tables) && i < json_array_size(tables); i++)
		{
			json_t	   *ref = json_object_get(json_array_get(tables, i), "tableReference");

			if (json_is_string(json_object_get(ref, "tableId")))
				result = lappend(result, pstrdup(json_string_value(json_object_get(ref, "tableId"))));
		}
		token = json_is_string(next) && json_string_length(next) ? pstrdup(json_string_value(next)) : NULL;
		json_decref(root);
	} while (token);
	return result;
}

/*
 * luxe_bq_table_rows
 *		The row count and size BigQuery keeps for a foreign table's remote
 *		table (tables.get with userid's mapping), for planning and ANALYZE;
 *		false for a query table or when BigQuery has no count.  Estimates
 *		are cached per backend for a minute, so planning a query does not
 *		call tables.get for every table reference.
 */
typedef struct EstimateEntry
{
	Oid			relid;
	double		rows;
	double		bytes;
	TimestampTz fetched;
} EstimateEntry;

static HTAB *estimates = NULL;

bool
luxe_bq_table_rows(Oid foreigntableid, Oid userid, double *rows, double *bytes)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	LuxeServerOptions server;
	LuxeBqTableOptions topts;
	LuxeHttpStats stats = {0};
	LuxeBqClient client;
	LuxeBqTableInfo *info;
	EstimateEntry *e;
	bool		found;

	luxe_option_server(table->serverid, &server);
	luxe_option_bq_table(foreigntableid, &server, &topts);
	if (topts.query != NULL)
		return false;
	if (estimates == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(EstimateEntry);
		estimates = hash_create("luxe_fdw BigQuery estimates", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	e = hash_search(estimates, &foreigntableid, HASH_FIND, &found);
	if (found && !TimestampDifferenceExceeds(e->fetched, GetCurrentTimestamp(),
											 LUXE_BQ_ESTIMATE_TTL_SECS * 1000))
	{
		*rows = e->rows;
		*bytes = e->bytes;
		return e->rows >= 0;
	}
	luxe_bq_client_init(&client, &stats, &server, table->serverid, userid);
	info = luxe_bq_table_get(&client, topts.project, topts.dataset, topts.table, false);
	e = hash_search(estimates, &foreigntableid, HASH_ENTER, &found);
	e->rows = info->num_rows;
	e->bytes = info->num_bytes;
	e->fetched = GetCurrentTimestamp();
	*rows = e->rows;
	*bytes = e->bytes;
	return e->rows >= 0;
}

/* ---------------------------------------------------------------------
 * Writes
 * ---------------------------------------------------------------------
 */

static void
rows_release(void *arg)
{
	LuxeBqRows *rows = (LuxeBqRows *) arg;

	json_decref(rows->rows);
	rows->rows = NULL;
}

LuxeBqRows *
luxe_bq_rows_create(void)
{
	LuxeBqRows *rows = palloc0(sizeof(LuxeBqRows));

	rows->rows = json_array();
	if (rows->rows == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	/* an error, or the end of the statement, releases the rows */
	rows->cb.func = rows_release;
	rows->cb.arg = rows;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &rows->cb);
	return rows;
}

/*
 * Add one row; kinds[i] says whether values[i] is NULL, a string, or JSON
 * text (numbers, booleans, arrays, objects).
 */
void
luxe_bq_rows_add(LuxeBqRows *rows, int ncols, const char **names,
				 const LuxeBqValueKind *kinds, const char **values)
{
	json_t	   *obj = json_pack("{}");
	int			i;

	for (i = 0; i < ncols; i++)
	{
		json_t	   *v;

		switch (kinds[i])
		{
			case LUXE_BQV_NULL:
				v = json_null();
				break;
			case LUXE_BQV_STRING:
				v = json_string(values[i]);
				if (v == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
							 errmsg("value of column \"%s\" is not valid UTF-8", names[i])));
				break;
			default:
				{
					json_error_t jerr;

					v = json_loads(values[i], JSON_DECODE_ANY, &jerr);
					if (v == NULL)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
								 errmsg("value of column \"%s\" is not the JSON its BigQuery type needs",
										names[i]),
								 errdetail_internal("%s.", jerr.text),
								 errhint("Arrays and records are written as JSON: write to_json(...) of the value.")));
				}
		}
		json_object_set_new(obj, names[i], v);
	}
	json_array_append_new(rows->rows,
						  json_pack("{s:s, s:o}", "insertId", new_request_id(""), "json", obj));
}

int
luxe_bq_rows_count(LuxeBqRows *rows)
{
	return (int) json_array_size(rows->rows);
}

void
luxe_bq_rows_clear(LuxeBqRows *rows)
{
	json_array_clear(rows->rows);
}

/*
 * luxe_bq_insert_all
 *		Stream the rows with tabledata.insertAll.  With skipInvalidRows false
 *		BigQuery inserts none of a request's rows when one is invalid; the
 *		per-row errors are reported (first_row numbers the rows of the
 *		statement) and the statement fails.
 */
void
luxe_bq_insert_all(LuxeBqClient *client, const char *project, const char *dataset,
				   const char *table, LuxeBqRows *rows, int64 first_row)
{
	char	   *path = psprintf("projects/%s/datasets/%s/tables/%s/insertAll",
								luxe_http_escape(project), luxe_http_escape(dataset),
								luxe_http_escape(table));
	json_t	   *body = json_pack("{s:O, s:b, s:b}", "rows", rows->rows,
								 "skipInvalidRows", 0, "ignoreUnknownValues", 0);
	long		status;
	json_t	   *root = bq_call(client, "POST", path, body,
							   psprintf("insertAll into %s.%s.%s", project, dataset, table),
							   NULL, 0, &status);
	json_t	   *errors = json_object_get(root, "insertErrors");

	if (json_is_array(errors) && json_array_size(errors) > 0)
	{
		StringInfoData detail;
		size_t		i;
		int			shown = 0;
		int			bad = 0;

		initStringInfo(&detail);
		for (i = 0; i < json_array_size(errors); i++)
		{
			json_t	   *e = json_array_get(errors, i);
			json_t	   *list = json_object_get(e, "errors");
			json_int_t	index = json_integer_value(json_object_get(e, "index"));
			size_t		k;

			for (k = 0; json_is_array(list) && k < json_array_size(list); k++)
			{
				json_t	   *one = json_array_get(list, k);
				const char *reason = json_string_value(json_object_get(one, "reason"));
				const char *msg = json_string_value(json_object_get(one, "message"));
				const char *loc = json_string_value(json_object_get(one, "location"));

				if (reason && strcmp(reason, "stopped") == 0)
					continue;
				bad++;
				if (shown++ < 5)
					appendStringInfo(&detail, "%srow " INT64_FORMAT "%s%s%s: %s (%s)",
									 detail.len ? "; " : "", (int64) (first_row + index),
									 loc ? ", column \"" : "", loc ? loc : "", loc ? "\"" : "",
									 msg ? msg : "invalid", reason ? reason : "invalid");
			}
		}
		json_decref(root);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("BigQuery rejected %d row%s of the INSERT into %s.%s.%s", bad,
						bad == 1 ? "" : "s", project, dataset, table),
				 errdetail_internal("%s.", detail.data),
				 errhint("No row of the failing batch was inserted; batches sent before it stay (insertAll is not transactional; write_method 'load' is).")));
	}
	json_decref(root);
}

/* The rows as newline-delimited JSON for a load job; malloc-free palloc. */
char *
luxe_bq_rows_ndjson(LuxeBqRows *rows, size_t *len)
{
	StringInfoData buf;
	size_t		i;

	initStringInfo(&buf);
	for (i = 0; i < json_array_size(rows->rows); i++)
	{
		char	   *line = json_dumps(json_object_get(json_array_get(rows->rows, i), "json"),
									  JSON_COMPACT);

		appendStringInfoString(&buf, line);
		appendStringInfoChar(&buf, '\n');
		free(line);
	}
	*len = buf.len;
	return buf.data;
}

/*
 * Cancel a job, briefly and without throwing (jobs.cancel).  Returns
 * "loaded" when the answer shows the job done without an error (too late
 * to cancel), "cancelled" when it shows it stopped or still running, NULL
 * when there was no usable answer.
 */
static const char *
cancel_job_quietly(LuxeBqClient *c, const char *job_id)
{
	char	   *url = psprintf("%s/bigquery/v2/projects/%s/jobs/%s/cancel%s%s",
							   c->google.endpoint, luxe_http_escape(c->project),
							   luxe_http_escape(job_id),
							   c->location ? "?location=" : "",
							   c->location ? luxe_http_escape(c->location) : "");
	LuxeHttpResponse *resp = luxe_google_call_quietly(&c->google, "POST", url, json_headers());
	json_t	   *root;
	json_t	   *st;
	const char *state;
	const char *result = NULL;

	if (resp == NULL || resp->status != 200)
		return NULL;
	root = json_loadb(resp->body, resp->body_len, 0, NULL);
	st = json_object_get(json_object_get(root, "job"), "status");
	state = json_string_value(json_object_get(st, "state"));
	if (state)
		result = (strcmp(state, "DONE") == 0 && json_object_get(st, "errorResult") == NULL) ?
			"loaded" : "cancelled";
	json_decref(root);
	return result;
}

/*
 * luxe_bq_run_job
 *		Run a job with the given "configuration" object (load, query, ...;
 *		borrowed) under a job id chosen here, and wait until it is done.
 *		Returns the final job resource (jobReference, statistics, status:
 *		the caller json_decref's it).  A job that ends with an errorResult
 *		is an error (reason, location and message in it).  A jobs.insert
 *		retried after an unclear failure cannot run the job twice: BigQuery
 *		answers 409 duplicate and the existing job is followed.  A cancel,
 *		a timeout or a failed poll while the job runs cancels it, and the
 *		error says if it had finished anyway.  what names the job in
 *		messages.
 */
json_t *
luxe_bq_run_job(LuxeBqClient *client, json_t *configuration, const char *what,
				char **job_id_out)
{
	char	   *job_id = new_request_id("luxe_job_");
	json_t	   *body;
	json_t	   *volatile root;
	long		status;
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool done = false;

	if (job_id_out)
		*job_id_out = job_id;
	body = json_pack("{s:O, s:{s:s, s:s}}", "configuration", configuration,
					 "jobReference", "projectId", client->project, "jobId", job_id);
	if (client->location)
		json_object_set_new(json_object_get(body, "jobReference"), "location",
							json_string(client->location));
	root = bq_call(client, "POST", psprintf("projects/%s/jobs", luxe_http_escape(client->project)),
				   body, what, NULL, 409, &status);

	PG_TRY();
	{
		for (;;)
		{
			json_t	   *st = json_object_get(root, "status");
			const char *state = json_string_value(json_object_get(st, "state"));

			if (status != 409 && state && strcmp(state, "DONE") == 0)
			{
				json_t	   *err = json_object_get(st, "errorResult");

				done = true;
				if (json_is_object(err))
				{
					json_t	   *wrapped = json_pack("{s:s, s:[O]}", "message",
													json_string_value(json_object_get(err, "message")) ?
													json_string_value(json_object_get(err, "message")) : "failed",
													"errors", err);

					report_bq_error(0, wrapped, root, what, NULL);
				}
				break;
			}
			json_decref(root);
			root = NULL;
			CHECK_FOR_INTERRUPTS();
			luxe_http_sleep(status == 409 ? 0 : 200);
			root = bq_call(client, "GET",
						   psprintf("projects/%s/jobs/%s%s%s", luxe_http_escape(client->project),
									luxe_http_escape(job_id),
									client->location ? "?location=" : "",
									client->location ? luxe_http_escape(client->location) : ""),
						   NULL, what, NULL, 0, &status);
		}
	}
	PG_CATCH();
	{
		/*
		 * A cancel, a timeout or a failed poll while the job runs: the
		 * statement will fail, so cancel the job, and say so if it had
		 * finished anyway (its results then exist).
		 */
		MemoryContext cxt = MemoryContextSwitchTo(oldcxt);
		ErrorData  *edata = CopyErrorData();

		FlushErrorState();
		if (!done)
		{
			const char *final = cancel_job_quietly(client, job_id);

			if (final && strcmp(final, "loaded") == 0)
				edata->detail = psprintf("%s%sThe job %s had finished before it could be cancelled: its results exist.",
										 edata->detail ? edata->detail : "",
										 edata->detail ? " " : "", job_id);
		}
		MemoryContextSwitchTo(cxt);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return root;
}

/*
 * luxe_bq_run_job_text
 *		luxe_bq_run_job for callers without jansson: the configuration and
 *		the final job resource as JSON text (palloc'd).
 */
char *
luxe_bq_run_job_text(LuxeBqClient *client, const char *configuration, const char *what,
					 char **job_id_out)
{
	json_error_t jerr;
	json_t	   *conf = json_loads(configuration, 0, &jerr);
	json_t	   *job = NULL;
	char	   *text;
	char	   *result;

	if (conf == NULL || !json_is_object(conf))
	{
		json_decref(conf);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a BigQuery job configuration must be a JSON object")));
	}
	PG_TRY();
	{
		job = luxe_bq_run_job(client, conf, what, job_id_out);
	}
	PG_FINALLY();
	{
		json_decref(conf);
	}
	PG_END_TRY();
	text = json_dumps(job, JSON_COMPACT);
	json_decref(job);
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(text);
	free(text);
	return result;
}

/*
 * luxe_bq_load
 *		Load a staged newline-delimited JSON object into a table with a load
 *		job (all rows or none), appending or replacing (WRITE_TRUNCATE), and
 *		wait for it (luxe_bq_run_job).
 */
void
luxe_bq_load(LuxeBqClient *client, const char *project, const char *dataset,
			 const char *table, const char *source_uri, bool truncate)
{
	json_t	   *conf = json_pack("{s:{s:{s:s, s:s, s:s}, s:[s], s:s, s:s, s:s}}",
								 "load",
								 "destinationTable", "projectId", project, "datasetId", dataset, "tableId", table,
								 "sourceUris", source_uri,
								 "sourceFormat", "NEWLINE_DELIMITED_JSON",
								 "writeDisposition", truncate ? "WRITE_TRUNCATE" : "WRITE_APPEND",
								 "createDisposition", "CREATE_NEVER");
	json_t	   *job;

	PG_TRY();
	{
		job = luxe_bq_run_job(client, conf,
							  psprintf("load job into %s.%s.%s", project, dataset, table), NULL);
	}
	PG_FINALLY();
	{
		json_decref(conf);
	}
	PG_END_TRY();
	json_decref(job);
}

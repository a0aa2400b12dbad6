/*-------------------------------------------------------------------------
 *
 * bigquery.h
 *		  BigQuery REST v2 client of luxe_fdw: jobs (query, load, get,
 *		  cancel), result paging, tables and datasets, insertAll.
 *
 * Values cross this interface as C strings in BigQuery's JSON row
 * encoding (every scalar a string; TIMESTAMP as int64 microseconds), so
 * the callers that convert them to Datums need no JSON library.  Nested
 * values are rendered here: a REPEATED scalar as a PostgreSQL array
 * literal, a RECORD or REPEATED RECORD as JSON text.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bigquery.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_BIGQUERY_H
#define LUXE_BIGQUERY_H

#include "lib/stringinfo.h"
#include "google.h"

typedef enum LuxeBqType
{
	LUXE_BQ_STRING,
	LUXE_BQ_BYTES,
	LUXE_BQ_INT64,
	LUXE_BQ_FLOAT64,
	LUXE_BQ_NUMERIC,
	LUXE_BQ_BIGNUMERIC,
	LUXE_BQ_BOOL,
	LUXE_BQ_DATE,
	LUXE_BQ_DATETIME,
	LUXE_BQ_TIME,
	LUXE_BQ_TIMESTAMP,
	LUXE_BQ_JSON,
	LUXE_BQ_GEOGRAPHY,
	LUXE_BQ_RECORD,
	LUXE_BQ_RANGE,
	LUXE_BQ_OTHER
} LuxeBqType;

typedef struct LuxeBqField
{
	char	   *name;
	LuxeBqType	type;
	char	   *type_name;		/* as BigQuery spells it */
	bool		repeated;
	bool		required;
	char	   *pg_type;		/* the PostgreSQL type IMPORT maps it to */
} LuxeBqField;

/* A BigQuery client: the Google API client at the BigQuery endpoint. */
typedef struct LuxeBqClient
{
	LuxeGoogleClient google;
	char	   *project;		/* the project jobs run (and are billed) in */
	char	   *location;		/* may be NULL */
	int64		bytes_processed;	/* totalBytesProcessed of the last query */
} LuxeBqClient;

/* A query parameter; values in BigQuery's string form. */
typedef struct LuxeBqParam
{
	const char *type;			/* "INT64", ..., or "ARRAY<INT64>" */
	bool		isnull;
	int			nvalues;		/* 1 for a scalar */
	const char **values;
} LuxeBqParam;

typedef struct LuxeBqTableInfo
{
	char	   *type;			/* TABLE, VIEW, ... */
	double		num_rows;		/* -1 when unknown */
	double		num_bytes;
	int			nfields;
	LuxeBqField *fields;
} LuxeBqTableInfo;

/* A value to insert: kind says how to put it in the row's JSON. */
typedef enum LuxeBqValueKind
{
	LUXE_BQV_NULL,
	LUXE_BQV_STRING,			/* a JSON string */
	LUXE_BQV_RAW				/* JSON text: a number, true/false, array or object */
} LuxeBqValueKind;

typedef struct LuxeBqQuery LuxeBqQuery;
typedef struct LuxeBqRows LuxeBqRows;

/* in bigquery.c */
extern void luxe_bq_client_init(LuxeBqClient *client, LuxeHttpStats *stats,
								const LuxeServerOptions *server, Oid serverid,
								Oid userid);
extern LuxeBqQuery *luxe_bq_query_start(LuxeBqClient *client, const char *sql,
										int nparams, const LuxeBqParam *params,
										int page_rows);
extern bool luxe_bq_query_next(LuxeBqQuery *q, const char **values);
extern int	luxe_bq_query_ncolumns(LuxeBqQuery *q);
extern const LuxeBqField *luxe_bq_query_fields(LuxeBqQuery *q);
extern const char *luxe_bq_query_job_id(LuxeBqQuery *q);
extern int64 luxe_bq_query_total_rows(LuxeBqQuery *q);
extern void luxe_bq_query_close(LuxeBqQuery *q);
extern LuxeBqTableInfo *luxe_bq_table_get(LuxeBqClient *client, const char *project,
										  const char *dataset, const char *table,
										  bool missing_ok);
extern List *luxe_bq_list_tables(LuxeBqClient *client, const char *project,
								 const char *dataset);
extern LuxeBqRows *luxe_bq_rows_create(void);
extern void luxe_bq_rows_add(LuxeBqRows *rows, int ncols, const char **names,
							 const LuxeBqValueKind *kinds, const char **values);
extern int	luxe_bq_rows_count(LuxeBqRows *rows);
extern void luxe_bq_insert_all(LuxeBqClient *client, const char *project,
							   const char *dataset, const char *table,
							   LuxeBqRows *rows, int64 first_row);
extern char *luxe_bq_rows_ndjson(LuxeBqRows *rows, size_t *len);
extern void luxe_bq_rows_clear(LuxeBqRows *rows);
extern struct json_t *luxe_bq_run_job(LuxeBqClient *client, struct json_t *configuration,
									   const char *what, char **job_id_out);
extern char *luxe_bq_run_job_text(LuxeBqClient *client, const char *configuration,
								  const char *what, char **job_id_out);
extern void luxe_bq_load(LuxeBqClient *client, const char *project,
						 const char *dataset, const char *table,
						 const char *source_uri, bool truncate);
extern void luxe_bq_run_statement(LuxeBqClient *client, const char *sql);
extern bool luxe_bq_table_rows(Oid foreigntableid, Oid userid, double *rows,
							   double *bytes);
extern char *luxe_bq_quote_ident(const char *ident);

#endif							/* LUXE_BIGQUERY_H */

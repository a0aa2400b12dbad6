/*-------------------------------------------------------------------------
 *
 * option.h
 *		  The one option table of luxe_fdw and the resolved option structs.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/option.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_OPTION_H
#define LUXE_OPTION_H

#include "nodes/pg_list.h"

/* Option names: referenced only through these, never retyped. */
#define OPT_SERVICE					"service"
#define OPT_ENDPOINT				"endpoint"
#define OPT_PROJECT					"project"
#define OPT_LOCATION				"location"
#define OPT_MAX_RETRIES				"max_retries"
#define OPT_RETRY_MAX_DELAY			"retry_max_delay"
#define OPT_RETRY_INITIAL_DELAY		"retry_initial_delay"
#define OPT_CONNECT_TIMEOUT			"connect_timeout"
#define OPT_REQUEST_TIMEOUT			"request_timeout"
#define OPT_REQUESTS_IN_FLIGHT		"requests_in_flight"
#define OPT_AUTH					"auth"
#define OPT_TOKEN					"token"
#define OPT_KEY_JSON				"key_json"
#define OPT_KEY_FILE				"key_file"
#define OPT_SCOPES					"scopes"
#define OPT_URI						"uri"
#define OPT_SKIP_LEADING_ROWS		"skip_leading_rows"
#define OPT_FIELD_DELIMITER			"field_delimiter"
#define OPT_QUOTE					"quote"
#define OPT_ALLOW_QUOTED_NEWLINES	"allow_quoted_newlines"
#define OPT_ALLOW_JAGGED_ROWS		"allow_jagged_rows"
#define OPT_IGNORE_UNKNOWN_VALUES	"ignore_unknown_values"
#define OPT_NULL_MARKER				"null_marker"
#define OPT_ENCODING				"encoding"
#define OPT_HEADER_MAPPING			"header_mapping"
#define OPT_MAX_BAD_RECORDS			"max_bad_records"
#define OPT_VALIDATE_ALL_COLUMNS	"validate_all_columns"
#define OPT_COLUMN_NAME				"column_name"
#define OPT_METADATA				"metadata"
#define OPT_SAMPLE_ROWS				"sample_rows"
/* BigQuery */
#define OPT_DATASET					"dataset"
#define OPT_TABLE					"table"
#define OPT_QUERY					"query"
#define OPT_PUSHDOWN				"pushdown"
#define OPT_BATCH_SIZE				"batch_size"
#define OPT_WRITE_METHOD			"write_method"
#define OPT_STAGING_URI				"staging_uri"

/* The services a server can speak to; the order of the "service" values. */
typedef enum LuxeService
{
	LUXE_SERVICE_GCS,
	LUXE_SERVICE_BIGQUERY
} LuxeService;

/* The order of the "auth" values. */
typedef enum LuxeAuthMode
{
	LUXE_AUTH_NONE,
	LUXE_AUTH_TOKEN,
	LUXE_AUTH_SERVICE_ACCOUNT,
	LUXE_AUTH_METADATA
} LuxeAuthMode;

/* The order of the "metadata" values of a GCS column. */
typedef enum LuxeColumnMetadata
{
	LUXE_META_NONE = -1,		/* an ordinary column: a CSV field */
	LUXE_META_OBJECT,			/* the gs:// URI of the row's object */
	LUXE_META_GENERATION,		/* the generation read */
	LUXE_META_LINE				/* the physical line the record starts on */
} LuxeColumnMetadata;

/* The order of the "write_method" values. */
typedef enum LuxeWriteMethod
{
	LUXE_WRITE_AUTO,
	LUXE_WRITE_INSERT_ALL,
	LUXE_WRITE_LOAD
} LuxeWriteMethod;

/* Server-level options, with defaults applied. */
typedef struct LuxeServerOptions
{
	char	   *servername;
	LuxeService service;
	Oid			owner;			/* the server's owner */
	char	   *endpoint;		/* base URL without trailing slash */
	bool		endpoint_from_env;	/* set by the administrator's
									 * STORAGE_EMULATOR_HOST, not an option */
	int			max_retries;
	int			retry_max_delay_ms;
	int			retry_initial_delay_ms;
	int			connect_timeout_ms;
	int			request_timeout_ms;
	/* GCS only */
	int			requests_in_flight; /* object reads started ahead, plus one */
	/* BigQuery only */
	char	   *project;
	char	   *location;
	bool		pushdown;		/* ship WHERE/ORDER/LIMIT/aggregates/joins */
	int			batch_size;		/* rows per insertAll request */
	LuxeWriteMethod write_method;
	char	   *staging_uri;	/* gs:// prefix for load-job staging, or NULL */
} LuxeServerOptions;

/*
 * Credentials from the user mapping.  NB: the token is a secret; it never
 * goes into fdw_private, EXPLAIN, a log line or an error message.
 */
typedef struct LuxeAuthOptions
{
	LuxeAuthMode mode;
	char	   *token;			/* auth 'token' */
	char	   *key_json;		/* auth 'service_account': the key itself */
	char	   *key_file;		/* ... or a server path to it */
	char	   *scopes;			/* space-separated OAuth2 scopes */
	Oid			role;			/* whose credentials: the mapping's user, or
								 * the server's owner for a PUBLIC mapping */
} LuxeAuthOptions;

/* GCS CSV table options, with defaults applied. */
typedef struct LuxeCsvOptions
{
	char	   *uri;
	int			skip_leading_rows;
	char		delimiter;
	int			quote;			/* -1: quoting disabled */
	bool		allow_quoted_newlines;
	bool		allow_jagged_rows;
	bool		ignore_unknown_values;
	char	   *null_marker;	/* "" means: unquoted empty field is NULL */
	int			encoding;		/* PG encoding id: PG_UTF8 or PG_LATIN1 */
	bool		header_mapping;
	int			max_bad_records;	/* rows that may be skipped, like bq load */
	bool		validate_all_columns;	/* convert columns a query does not
										 * read too */
} LuxeCsvOptions;

/*
 * BigQuery table options, with the server's defaults applied.  Exactly one
 * of (dataset, table) and query is set.
 */
typedef struct LuxeBqTableOptions
{
	char	   *project;		/* table option, else the server's */
	char	   *dataset;
	char	   *table;
	char	   *query;			/* read-only Standard SQL; NULL for a table */
	bool		pushdown;
	int			batch_size;
	LuxeWriteMethod write_method;
} LuxeBqTableOptions;

/* Options of IMPORT FOREIGN SCHEMA, with defaults applied. */
typedef struct LuxeImportOptions
{
	int			sample_rows;	/* GCS: rows read to detect column types */
	char	   *project;		/* BigQuery: the dataset's project */
	List	   *table_options;	/* GCS: DefElems passed on to every table */
} LuxeImportOptions;

/* One entry of the option table, as luxe.fdw_options() shows it. */
typedef struct LuxeOptionInfo
{
	const char *name;
	const char *object;			/* "foreign server", "user mapping", ... */
	const char *services;		/* "gcs", "bigquery" or "gcs, bigquery" */
	bool		required;
	bool		secret;
	bool		privileged;
	const char *defval;			/* NULL: none */
	const char *description;
} LuxeOptionInfo;

struct LuxeHttpConfig;

/* in option.c */
extern LuxeService luxe_option_service(Oid serverid);
extern bool luxe_option_find_service(Oid serverid, LuxeService *service);
extern void luxe_option_server(Oid serverid, LuxeServerOptions *opts);
extern void luxe_option_auth(const LuxeServerOptions *server, Oid serverid,
							 Oid userid, LuxeAuthOptions *opts);
extern void luxe_option_csv(Oid relid, int natts, LuxeCsvOptions *opts);
extern void luxe_option_bq_table(Oid relid, const LuxeServerOptions *server,
								 LuxeBqTableOptions *opts);
extern void luxe_option_import(List *options, const LuxeServerOptions *server,
							   LuxeImportOptions *opts, LuxeCsvOptions *csv);
extern void luxe_option_check_table(Oid relid);
extern char *luxe_option_column_name(Oid relid, int attnum);
extern char *luxe_option_remote_column(Oid relid, int attnum);
extern LuxeColumnMetadata luxe_option_column_metadata(Oid relid, int attnum);
extern char *luxe_option_gcs_endpoint(const LuxeServerOptions *server);
extern void luxe_option_http_config(const LuxeServerOptions *server,
									struct LuxeHttpConfig *cfg);
extern const char *luxe_option_service_name(LuxeService service);
extern const char *luxe_option_write_method_name(LuxeWriteMethod method);
extern bool luxe_option_describe(int i, LuxeOptionInfo *info);

#endif							/* LUXE_OPTION_H */

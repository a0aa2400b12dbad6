/*-------------------------------------------------------------------------
 *
 * option.c
 *		  The single option table of luxe_fdw: validation and resolution.
 *
 * Every option luxe_fdw accepts is described once, in luxe_options[]: the
 * object it is set on (server, user mapping, foreign table, column, or
 * IMPORT FOREIGN SCHEMA), the services it applies to, how its value is
 * checked, its default, whether it is required, whether it is a secret,
 * and where its resolved value goes.  The validator (CREATE/ALTER ...
 * OPTIONS) and the resolvers used at plan and execution time both read
 * this table and nothing else, so an option can never be accepted by one
 * and ignored by the other, and luxe.fdw_options() shows users the same
 * table.
 *
 * Design assumptions and invariants:
 * - Secrets are accepted only on user mappings, whose options PostgreSQL
 *   already hides from non-owners in pg_user_mappings.
 * - The validator sees one object's options and its catalog, never the
 *   server of a foreign table.  It rejects what it can judge alone: an
 *   unknown name, a bad value, an option of the other service on a server
 *   (the "service" option is in the same list), and a table whose options
 *   belong to both services.  Whether a table's options fit its server's
 *   service is checked when the table is resolved (planning, ANALYZE,
 *   INSERT), and at the end of the DDL command by the extension's event
 *   trigger, which calls luxe_option_check_table.
 * - Required options are enforced when an object is resolved, so a server
 *   can be created before its options are complete.
 * - Defaults are text in the table, parsed by the same code as a value a
 *   user gives; a table option whose default is the server's value
 *   (LUXE_DEFAULT_SERVER) inherits it.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/option.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "http.h"
#include "option.h"

/* The objects an option is set on. */
typedef enum LuxeOptionObject
{
	LUXE_OBJ_SERVER,
	LUXE_OBJ_MAPPING,
	LUXE_OBJ_TABLE,
	LUXE_OBJ_COLUMN,
	LUXE_OBJ_IMPORT				/* IMPORT FOREIGN SCHEMA ... OPTIONS */
} LuxeOptionObject;

/* The services an option applies to (a mask of 1 << LuxeService). */
#define FOR_GCS			(1 << LUXE_SERVICE_GCS)
#define FOR_BIGQUERY	(1 << LUXE_SERVICE_BIGQUERY)
#define FOR_BOTH		(FOR_GCS | FOR_BIGQUERY)

/* How a value is checked, and how it is stored at the entry's offset. */
typedef enum LuxeOptionType
{
	LUXE_OT_STRING,				/* char * */
	LUXE_OT_BOOL,				/* bool */
	LUXE_OT_INT,				/* int */
	LUXE_OT_DURATION,			/* int milliseconds; accepts units ('30s') */
	LUXE_OT_CHAR,				/* char: one single-byte character */
	LUXE_OT_QUOTE,				/* int: one character, or -1 for '' */
	LUXE_OT_ENUM,				/* int: index into values */
	LUXE_OT_URL,				/* char *: http:// or https:// */
	LUXE_OT_GS_URI,				/* char *: gs://bucket/object, one '*' */
	LUXE_OT_ENCODING			/* int: a PostgreSQL encoding id */
} LuxeOptionType;

/* flags */
#define LUXE_OPT_REQUIRED	0x01	/* no default: resolution fails without */
#define LUXE_OPT_SECRET		0x02	/* only on user mappings; never shown */
#define LUXE_OPT_PRIVILEGED 0x04	/* names a server file:
									 * pg_read_server_files */
#define LUXE_OPT_NONEMPTY	0x08
#define LUXE_OPT_NO_CONTROL 0x10	/* becomes an HTTP header */

/* the default of a table option that inherits its server's value */
#define LUXE_DEFAULT_SERVER "(the server's)"

#define NO_FIELD			(-1)

typedef struct LuxeOptionDef
{
	const char *name;
	LuxeOptionObject object;
	int			services;		/* FOR_GCS, FOR_BIGQUERY or FOR_BOTH */
	LuxeOptionType type;
	int			flags;
	const char *defval;			/* default as text; NULL: none */
	const char *defval_bigquery;	/* default on BigQuery, when it differs */
	int			min;			/* for INT and DURATION */
	int			max;
	const char *const *values;	/* for ENUM, NULL-terminated */
	int			offset;			/* into the object's resolved struct, or
								 * NO_FIELD */
	const char *description;
} LuxeOptionDef;

static const char *const service_values[] = {"gcs", "bigquery", NULL};
static const char *const write_method_values[] = {"auto", "insert_all", "load", NULL};
static const char *const auth_values[] = {"none", "token", "service_account", "metadata", NULL};
static const char *const metadata_values[] = {"object", "generation", "line", NULL};

#define SRV(f)	offsetof(LuxeServerOptions, f)
#define MAP(f)	offsetof(LuxeAuthOptions, f)
#define CSV(f)	offsetof(LuxeCsvOptions, f)
#define BQT(f)	offsetof(LuxeBqTableOptions, f)
#define IMP(f)	offsetof(LuxeImportOptions, f)

#define GCS_SCOPES	"https://www.googleapis.com/auth/devstorage.read_write"
#define BQ_SCOPES	"https://www.googleapis.com/auth/bigquery https://www.googleapis.com/auth/devstorage.read_write"

static const LuxeOptionDef luxe_options[] = {
	/* server */
	{OPT_SERVICE, LUXE_OBJ_SERVER, FOR_BOTH, LUXE_OT_ENUM, LUXE_OPT_REQUIRED,
		NULL, NULL, 0, 0, service_values, SRV(service),
	"gcs or bigquery: the Google API the server speaks to"},
	{OPT_ENDPOINT, LUXE_OBJ_SERVER, FOR_BOTH, LUXE_OT_URL, 0,
		"https://storage.googleapis.com", "https://bigquery.googleapis.com", 0, 0, NULL, SRV(endpoint),
	"base URL of the API; for GCS, STORAGE_EMULATOR_HOST in the server's environment wins over the default"},
	{OPT_MAX_RETRIES, LUXE_OBJ_SERVER, FOR_BOTH, LUXE_OT_INT, 0,
		"6", NULL, 0, 100, NULL, SRV(max_retries),
	"retries of a request (0 to 100)"},
	{OPT_RETRY_INITIAL_DELAY, LUXE_OBJ_SERVER, FOR_BOTH, LUXE_OT_DURATION, 0,
		"1s", NULL, 0, 600 * 1000, NULL, SRV(retry_initial_delay_ms),
	"first backoff delay, doubled on each retry, plus jitter"},
	{OPT_RETRY_MAX_DELAY, LUXE_OBJ_SERVER, FOR_BOTH, LUXE_OT_DURATION, 0,
		"32s", NULL, 0, 3600 * 1000, NULL, SRV(retry_max_delay_ms),
	"cap of the backoff delay"},
	{OPT_CONNECT_TIMEOUT, LUXE_OBJ_SERVER, FOR_BOTH, LUXE_OT_DURATION, 0,
		"10s", NULL, 1, 3600 * 1000, NULL, SRV(connect_timeout_ms),
	"TCP and TLS connect timeout"},
	{OPT_REQUEST_TIMEOUT, LUXE_OBJ_SERVER, FOR_BOTH, LUXE_OT_DURATION, 0,
		"300s", NULL, 1, INT_MAX, NULL, SRV(request_timeout_ms),
	"whole-request timeout of metadata and API requests (downloads have a stall detector instead)"},
	{OPT_REQUESTS_IN_FLIGHT, LUXE_OBJ_SERVER, FOR_GCS, LUXE_OT_INT, 0,
		"16", NULL, 1, 64, NULL, SRV(requests_in_flight),
	"object reads a scan keeps in flight (1 to 64): the next small objects are requested while one is parsed"},
	{OPT_PROJECT, LUXE_OBJ_SERVER, FOR_BIGQUERY, LUXE_OT_STRING, LUXE_OPT_REQUIRED | LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, SRV(project),
	"the project BigQuery jobs run (and are billed) in, and tables default to"},
	{OPT_LOCATION, LUXE_OBJ_SERVER, FOR_BIGQUERY, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, SRV(location),
	"BigQuery job location, e.g. EU; needed outside the US and EU multi-regions"},
	{OPT_PUSHDOWN, LUXE_OBJ_SERVER, FOR_BIGQUERY, LUXE_OT_BOOL, 0,
		"true", NULL, 0, 0, NULL, SRV(pushdown),
	"ship projection, WHERE, ORDER BY, LIMIT, aggregates and joins to BigQuery; false ships nothing"},
	{OPT_BATCH_SIZE, LUXE_OBJ_SERVER, FOR_BIGQUERY, LUXE_OT_INT, 0,
		"500", NULL, 1, 50000, NULL, SRV(batch_size),
	"rows per insertAll request"},
	{OPT_WRITE_METHOD, LUXE_OBJ_SERVER, FOR_BIGQUERY, LUXE_OT_ENUM, 0,
		"auto", NULL, 0, 0, write_method_values, SRV(write_method),
	"INSERT through insert_all, load, or auto (a load job for an estimated 10,000 rows or more when staging_uri is set)"},
	{OPT_STAGING_URI, LUXE_OBJ_SERVER, FOR_BIGQUERY, LUXE_OT_GS_URI, 0,
		NULL, NULL, 0, 0, NULL, SRV(staging_uri),
	"a gs://bucket/prefix/ where load jobs stage their rows (removed after the load)"},
	/* user mapping */
	{OPT_AUTH, LUXE_OBJ_MAPPING, FOR_BOTH, LUXE_OT_ENUM, 0,
		"none", NULL, 0, 0, auth_values, MAP(mode),
	"none, token, service_account or metadata"},
	{OPT_TOKEN, LUXE_OBJ_MAPPING, FOR_BOTH, LUXE_OT_STRING, LUXE_OPT_SECRET | LUXE_OPT_NONEMPTY | LUXE_OPT_NO_CONTROL,
		NULL, NULL, 0, 0, NULL, MAP(token),
	"with auth 'token': an OAuth2 access token sent as Authorization: Bearer"},
	{OPT_KEY_JSON, LUXE_OBJ_MAPPING, FOR_BOTH, LUXE_OT_STRING, LUXE_OPT_SECRET | LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, MAP(key_json),
	"with auth 'service_account': the service-account key file's JSON"},
	{OPT_KEY_FILE, LUXE_OBJ_MAPPING, FOR_BOTH, LUXE_OT_STRING, LUXE_OPT_PRIVILEGED | LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, MAP(key_file),
	"with auth 'service_account': a path to the key on the database server (superusers and pg_read_server_files only)"},
	{OPT_SCOPES, LUXE_OBJ_MAPPING, FOR_BOTH, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		GCS_SCOPES, BQ_SCOPES, 0, 0, NULL, MAP(scopes),
	"space-separated OAuth2 scopes requested"},
	/* GCS foreign table */
	{OPT_URI, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_GS_URI, LUXE_OPT_REQUIRED,
		NULL, NULL, 0, 0, NULL, CSV(uri),
	"gs://bucket/object, or one * wildcard after the bucket"},
	{OPT_SKIP_LEADING_ROWS, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_INT, 0,
		"0", NULL, 0, INT_MAX, NULL, CSV(skip_leading_rows),
	"rows skipped at the start of each object"},
	{OPT_FIELD_DELIMITER, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_CHAR, 0,
		",", NULL, 0, 0, NULL, CSV(delimiter),
	"one ASCII character; \\t or tab for a tab"},
	{OPT_QUOTE, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_QUOTE, 0,
		"\"", NULL, 0, 0, NULL, CSV(quote),
	"one ASCII character; '' disables quoting"},
	{OPT_ALLOW_QUOTED_NEWLINES, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_BOOL, 0,
		"true", NULL, 0, 0, NULL, CSV(allow_quoted_newlines),
	"false rejects a line break inside a quoted field"},
	{OPT_ALLOW_JAGGED_ROWS, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_BOOL, 0,
		"false", NULL, 0, 0, NULL, CSV(allow_jagged_rows),
	"true reads missing trailing fields as NULL"},
	{OPT_IGNORE_UNKNOWN_VALUES, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_BOOL, 0,
		"false", NULL, 0, 0, NULL, CSV(ignore_unknown_values),
	"true ignores extra trailing fields"},
	{OPT_NULL_MARKER, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_STRING, 0,
		"", NULL, 0, 0, NULL, CSV(null_marker),
	"the string that means NULL; with the default, an unquoted empty field"},
	{OPT_ENCODING, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_ENCODING, 0,
		"UTF-8", NULL, 0, 0, NULL, CSV(encoding),
	"UTF-8 or ISO-8859-1"},
	{OPT_MAX_BAD_RECORDS, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_INT, 0,
		"0", NULL, 0, INT_MAX, NULL, CSV(max_bad_records),
	"bad rows a scan may skip before it fails, like bq load"},
	{OPT_VALIDATE_ALL_COLUMNS, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_BOOL, 0,
		"false", NULL, 0, 0, NULL, CSV(validate_all_columns),
	"true checks every column of every row, read or not; always so with max_bad_records"},
	{OPT_HEADER_MAPPING, LUXE_OBJ_TABLE, FOR_GCS, LUXE_OT_BOOL, 0,
		"false", NULL, 0, 0, NULL, CSV(header_mapping),
	"match columns to the names in the header row; true by default if a column has column_name"},
	/* BigQuery foreign table */
	{OPT_PROJECT, LUXE_OBJ_TABLE, FOR_BIGQUERY, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		LUXE_DEFAULT_SERVER, NULL, 0, 0, NULL, BQT(project),
	"the table's project, when it is not the server's"},
	{OPT_DATASET, LUXE_OBJ_TABLE, FOR_BIGQUERY, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, BQT(dataset),
	"the table's dataset (with table)"},
	{OPT_TABLE, LUXE_OBJ_TABLE, FOR_BIGQUERY, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, BQT(table),
	"the BigQuery table (with dataset)"},
	{OPT_QUERY, LUXE_OBJ_TABLE, FOR_BIGQUERY, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, BQT(query),
	"a read-only Standard SQL query to read instead of a table"},
	{OPT_PUSHDOWN, LUXE_OBJ_TABLE, FOR_BIGQUERY, LUXE_OT_BOOL, 0,
		LUXE_DEFAULT_SERVER, NULL, 0, 0, NULL, BQT(pushdown),
	"overrides the server's pushdown"},
	{OPT_BATCH_SIZE, LUXE_OBJ_TABLE, FOR_BIGQUERY, LUXE_OT_INT, 0,
		LUXE_DEFAULT_SERVER, NULL, 1, 50000, NULL, BQT(batch_size),
	"overrides the server's batch_size"},
	{OPT_WRITE_METHOD, LUXE_OBJ_TABLE, FOR_BIGQUERY, LUXE_OT_ENUM, 0,
		LUXE_DEFAULT_SERVER, NULL, 0, 0, write_method_values, BQT(write_method),
	"overrides the server's write_method"},
	/* column */
	{OPT_COLUMN_NAME, LUXE_OBJ_COLUMN, FOR_BOTH, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		NULL, NULL, 0, 0, NULL, NO_FIELD,
	"the column's name in the header row (GCS; implies header mapping) or in the BigQuery table"},
	{OPT_METADATA, LUXE_OBJ_COLUMN, FOR_GCS, LUXE_OT_ENUM, 0,
		NULL, NULL, 0, 0, metadata_values, NO_FIELD,
	"fill the column with the row's object (gs:// URI), its generation or the record's line, instead of a CSV field"},
	/* IMPORT FOREIGN SCHEMA */
	{OPT_SAMPLE_ROWS, LUXE_OBJ_IMPORT, FOR_GCS, LUXE_OT_INT, 0,
		"1000", NULL, 1, INT_MAX, NULL, IMP(sample_rows),
	"rows read from each object to detect column types; other foreign-table options pass through to every table"},
	{OPT_PROJECT, LUXE_OBJ_IMPORT, FOR_BIGQUERY, LUXE_OT_STRING, LUXE_OPT_NONEMPTY,
		LUXE_DEFAULT_SERVER, NULL, 0, 0, NULL, IMP(project),
	"the dataset's project, when it is not the server's"},
	{NULL}
};

PG_FUNCTION_INFO_V1(luxe_fdw_validator);

static LuxeOptionObject object_of_catalog(Oid catalog);
static const LuxeOptionDef *find_option(const char *name, LuxeOptionObject object,
										int services);
static void report_unknown_option(const char *name, LuxeOptionObject object);
static void check_option_value(const LuxeOptionDef *def, const char *value);
static void store_value(const LuxeOptionDef *def, const char *value, void *dest);
static int	parse_int_value(const LuxeOptionDef *def, const char *value);
static char parse_char_value(const char *name, const char *value, bool allow_empty);
static int	parse_encoding_value(const char *value);
static bool parse_bool_value(const char *name, const char *value);
static int	parse_enum_value(const LuxeOptionDef *def, const char *value);

static const char *
object_name(LuxeOptionObject object)
{
	switch (object)
	{
		case LUXE_OBJ_SERVER:
			return "foreign server";
		case LUXE_OBJ_MAPPING:
			return "user mapping";
		case LUXE_OBJ_TABLE:
			return "foreign table";
		case LUXE_OBJ_COLUMN:
			return "foreign table column";
		case LUXE_OBJ_IMPORT:
			return "IMPORT FOREIGN SCHEMA";
	}
	return "object";			/* keep compiler quiet */
}

/* "GCS", "BigQuery" or "GCS and BigQuery", for messages */
static const char *
services_label(int services)
{
	if (services == FOR_BOTH)
		return "GCS and BigQuery";
	return services == FOR_GCS ? "GCS" : "BigQuery";
}

/* -1 for catalogs that take no options (the wrapper itself) */
static LuxeOptionObject
object_of_catalog(Oid catalog)
{
	switch (catalog)
	{
		case ForeignServerRelationId:
			return LUXE_OBJ_SERVER;
		case UserMappingRelationId:
			return LUXE_OBJ_MAPPING;
		case ForeignTableRelationId:
			return LUXE_OBJ_TABLE;
		case AttributeRelationId:
			return LUXE_OBJ_COLUMN;
		default:
			return (LuxeOptionObject) -1;
	}
}

static const LuxeOptionDef *
find_option(const char *name, LuxeOptionObject object, int services)
{
	const LuxeOptionDef *def;

	for (def = luxe_options; def->name; def++)
	{
		if (def->object == object && (def->services & services) != 0 &&
			strcmp(def->name, name) == 0)
			return def;
	}
	return NULL;
}

/* ---------------------------------------------------------------------
 * The validator
 * ---------------------------------------------------------------------
 */

/*
 * luxe_fdw_validator
 *		Check the options of a CREATE or ALTER of a luxe_fdw object.
 *
 * Raises an error on the first invalid option; returns void otherwise.
 */
Datum
luxe_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	LuxeOptionObject object = object_of_catalog(catalog);
	const LuxeOptionDef *service_def = NULL;	/* the option that fixed the
												 * service */
	int			services = FOR_BOTH;
	ListCell   *lc;

	/* a server's own "service" option says which options apply */
	if (object == LUXE_OBJ_SERVER)
	{
		foreach(lc, options)
		{
			DefElem    *elem = (DefElem *) lfirst(lc);

			if (strcmp(elem->defname, OPT_SERVICE) == 0)
			{
				const LuxeOptionDef *def = find_option(OPT_SERVICE, object, FOR_BOTH);

				services = 1 << parse_enum_value(def, defGetString(elem));
				service_def = def;
			}
		}
	}

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const char *value = defGetString(elem);
		const LuxeOptionDef *def = find_option(elem->defname, object, FOR_BOTH);

		if (def == NULL)
			report_unknown_option(elem->defname, object);
		if ((def->flags & LUXE_OPT_PRIVILEGED) && !superuser() &&
			!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to set option \"%s\"", def->name),
					 errdetail("Only roles with privileges of the \"%s\" role may set this option.",
							   "pg_read_server_files")));
		check_option_value(def, value);
		/* the metadata server's token is the database host's own identity */
		if (strcmp(def->name, OPT_AUTH) == 0 && strcmp(value, "metadata") == 0 &&
			!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to set \"%s\" to \"metadata\"", OPT_AUTH),
					 errdetail("The metadata server hands out the database host's own service account; only superusers may map a role to it.")));

		/*
		 * An option of one service only: on a server, it must be that
		 * server's service; on a table, the table's other options must not
		 * belong to the other service.
		 */
		if (find_option(elem->defname, object, services) == NULL)
		{
			if (object == LUXE_OBJ_SERVER)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"%s\" does not apply to a server with service \"%s\"",
								elem->defname,
								service_values[services == FOR_GCS ? LUXE_SERVICE_GCS : LUXE_SERVICE_BIGQUERY]),
						 errhint("Option \"%s\" applies to %s servers.",
								 elem->defname, services_label(def->services))));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" does not apply to a %s foreign table",
							elem->defname, services_label(services)),
					 errdetail("Option \"%s\" makes this a %s foreign table; \"%s\" applies to %s foreign tables.",
							   service_def->name, services_label(services),
							   elem->defname, services_label(def->services))));
		}
		if (object == LUXE_OBJ_TABLE && services == FOR_BOTH &&
			!(find_option(elem->defname, object, FOR_GCS) &&
			  find_option(elem->defname, object, FOR_BIGQUERY)))
		{
			services = def->services;
			service_def = def;
		}
	}

	PG_RETURN_VOID();
}

/*
 * Raise the error for an option name that is not valid on this object,
 * with the closest valid name as a hint (like file_fdw), and a pointer to
 * the right object when the option exists elsewhere (secrets on a server).
 */
static void
report_unknown_option(const char *name, LuxeOptionObject object)
{
	const LuxeOptionDef *def;
	const char *closest = NULL;
	int			best = INT_MAX;
	const LuxeOptionDef *elsewhere = NULL;

	for (def = luxe_options; def->name; def++)
	{
		if (def->object == object)
		{
			int			d = varstr_levenshtein(name, strlen(name),
											   def->name, strlen(def->name),
											   1, 1, 1, true);

			if (d < best)
			{
				best = d;
				closest = def->name;
			}
		}
		else if (strcmp(def->name, name) == 0 && def->object != LUXE_OBJ_IMPORT)
			elsewhere = def;
	}

	if (elsewhere && (elsewhere->flags & LUXE_OPT_SECRET))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name),
				 errdetail("Option \"%s\" is a secret and can only be set on a user mapping.", name)));
	if (elsewhere)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name),
				 errhint("Option \"%s\" belongs on a %s, not on a %s.",
						 name, object_name(elsewhere->object),
						 (int) object < 0 ? "foreign-data wrapper" : object_name(object))));
	if (closest && best <= Max(2, (int) strlen(name) / 3))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name),
				 errhint("Perhaps you meant the option \"%s\".", closest)));
	if (closest)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", name),
			 errhint("There are no valid options in this context.")));
}

/* Check one value as the validator does; throws on a bad one. */
static void
check_option_value(const LuxeOptionDef *def, const char *value)
{
	if ((def->flags & LUXE_OPT_NONEMPTY) && value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"%s\" must not be empty", def->name)));
	if (def->flags & LUXE_OPT_NO_CONTROL)
	{
		const char *c;

		for (c = value; *c; c++)
			if ((unsigned char) *c < 0x20 || *c == 0x7f)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" contains a control character", def->name)));
	}

	switch (def->type)
	{
		case LUXE_OT_STRING:
			break;
		case LUXE_OT_URL:
			{
				/*
				 * Judged as libcurl will connect, for the role setting it
				 * (who owns the server); the path appended to it later
				 * must not move it to another host.
				 */
				char	   *what = psprintf("option \"%s\"", def->name);
				LuxeUrl		bare;
				LuxeUrl		full;

				luxe_http_check_destination(value, what, GetUserId(), false);
				(void) luxe_http_parse_url(value, &bare);
				if (luxe_http_parse_url(psprintf("%s/storage/v1/b", value), &full) != NULL ||
					strcmp(bare.host, full.host) != 0 || bare.port != full.port)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid URL in %s", what),
							 errdetail("A request path appended to it changes its host.")));
			}
			break;
		case LUXE_OT_GS_URI:
			{
				/* one URI, or a comma-separated list of them (as bq load) */
				char	   *copy = pstrdup(value);
				char	   *part;
				char	   *save = NULL;

				for (part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save))
				{
					const char *slash;
					const char *star;
					const char *hash;

					while (*part == ' ')
						part++;
					if (strncmp(part, "gs://", 5) != 0 ||
						(slash = strchr(part + 5, '/')) == NULL ||
						slash == part + 5 || slash[1] == '\0')
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"%s\": \"%s\"",
										def->name, value),
								 errhint("Use the form gs://bucket/object, optionally with one \"*\" wildcard in the object name, or a comma-separated list of such URIs.")));
					star = strchr(part, '*');
					if (star && (star < slash || strchr(star + 1, '*')))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"%s\": \"%s\"",
										def->name, value),
								 errdetail("A URI can contain one \"*\" wildcard, after the bucket name.")));
					hash = strrchr(slash, '#');
					if (star && hash && strspn(hash + 1, "0123456789") == strlen(hash + 1))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"%s\": \"%s\"",
										def->name, value),
								 errdetail("A wildcard URI cannot pin a generation.")));
				}
				break;
			}
		default:
			/* the parsers check */
			{
				union
				{
					char	   *s;
					bool		b;
					int			i;
					char		c;
				}			scratch;

				store_value(def, value, &scratch);
			}
			break;
	}
}

/* ---------------------------------------------------------------------
 * Parsing values
 * ---------------------------------------------------------------------
 */

static bool
parse_bool_value(const char *name, const char *value)
{
	bool		result;

	if (!parse_bool(value, &result))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for boolean option \"%s\": \"%s\"",
						name, value)));
	return result;
}

static int
parse_int_value(const LuxeOptionDef *def, const char *value)
{
	int			result;
	const char *hintmsg = NULL;

	if (!parse_int(value, &result,
				   def->type == LUXE_OT_DURATION ? GUC_UNIT_MS : 0, &hintmsg))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for integer option \"%s\": \"%s\"",
						def->name, value),
				 hintmsg ? errhint("%s", _(hintmsg)) : 0));
	if (result < def->min || result > def->max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("value %d for option \"%s\" is out of range", result,
						def->name),
				 errdetail("Valid values are between %d and %d%s.",
						   def->min, def->max,
						   def->type == LUXE_OT_DURATION ? " milliseconds" : "")));
	return result;
}

/*
 * A one-character option: a single byte, or the spelling "\t" / "tab" for a
 * tab, like bq load's --field_delimiter.  Multi-byte characters cannot be
 * delimiters because the CSV parser works on bytes.
 */
static char
parse_char_value(const char *name, const char *value, bool allow_empty)
{
	if (value[0] == '\0' && allow_empty)
		return '\0';
	if (strcmp(value, "\\t") == 0 || pg_strcasecmp(value, "tab") == 0)
		return '\t';
	if (strlen(value) != 1 || IS_HIGHBIT_SET(value[0]) ||
		value[0] == '\n' || value[0] == '\r')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errdetail("The value must be a single ASCII character other than a line break%s.",
						   allow_empty ? ", or an empty string to disable quoting" : "")));
	return value[0];
}

static int
parse_encoding_value(const char *value)
{
	if (pg_strcasecmp(value, "UTF-8") == 0 || pg_strcasecmp(value, "UTF8") == 0)
		return PG_UTF8;
	if (pg_strcasecmp(value, "ISO-8859-1") == 0 ||
		pg_strcasecmp(value, "LATIN1") == 0 ||
		pg_strcasecmp(value, "ISO_8859_1") == 0)
		return PG_LATIN1;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"", OPT_ENCODING, value),
			 errhint("Valid values are \"UTF-8\" and \"ISO-8859-1\".")));
	return PG_UTF8;				/* keep compiler quiet */
}

static int
parse_enum_value(const LuxeOptionDef *def, const char *value)
{
	const char *const *v;
	StringInfoData buf;

	for (v = def->values; *v; v++)
		if (strcmp(*v, value) == 0)
			return (int) (v - def->values);
	initStringInfo(&buf);
	for (v = def->values; *v; v++)
		appendStringInfo(&buf, "%s\"%s\"", buf.len ? ", " : "", *v);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"", def->name, value),
			 errhint("Valid values are %s.", buf.data)));
	return 0;					/* keep compiler quiet */
}

/*
 * Parse a value by its type and store it at dest (the field itself).
 * Strings are palloc'd in the current context.  Throws on a bad value.
 */
static void
store_value(const LuxeOptionDef *def, const char *value, void *dest)
{
	switch (def->type)
	{
		case LUXE_OT_STRING:
		case LUXE_OT_URL:
		case LUXE_OT_GS_URI:
			*(char **) dest = pstrdup(value);
			break;
		case LUXE_OT_BOOL:
			*(bool *) dest = parse_bool_value(def->name, value);
			break;
		case LUXE_OT_INT:
		case LUXE_OT_DURATION:
			*(int *) dest = parse_int_value(def, value);
			break;
		case LUXE_OT_CHAR:
			*(char *) dest = parse_char_value(def->name, value, false);
			break;
		case LUXE_OT_QUOTE:
			{
				char		q = parse_char_value(def->name, value, true);

				*(int *) dest = q == '\0' ? -1 : (unsigned char) q;
				break;
			}
		case LUXE_OT_ENUM:
			*(int *) dest = parse_enum_value(def, value);
			break;
		case LUXE_OT_ENCODING:
			*(int *) dest = parse_encoding_value(value);
			break;
	}
}

/* ---------------------------------------------------------------------
 * Resolution
 * ---------------------------------------------------------------------
 */

static DefElem *
find_elem(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (strcmp(elem->defname, name) == 0)
			return elem;
	}
	return NULL;
}

/*
 * Resolve the options of one object for a service into dest (the
 * object's struct): each option of the table that applies is taken from
 * options, else from its default; a table option that inherits the
 * server's keeps what the caller put in dest.  An option of the object
 * that belongs to the other service is an error naming what (the object,
 * for messages).  Returns the first required option that is missing, or
 * NULL.
 */
static const LuxeOptionDef *
resolve(LuxeOptionObject object, LuxeService service, List *options,
		void *dest, const char *what, const char *server_name)
{
	const LuxeOptionDef *def;
	const LuxeOptionDef *missing = NULL;
	int			mask = 1 << service;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (find_option(elem->defname, object, mask) == NULL &&
			(def = find_option(elem->defname, object, FOR_BOTH)) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" does not apply to %s", elem->defname, what),
					 errdetail("Server \"%s\" has service \"%s\"; the option applies to %s.",
							   server_name, service_values[service],
							   services_label(def->services)),
					 errhint("Remove the option, or use a server with service \"%s\".",
							 service_values[service == LUXE_SERVICE_GCS ?
											LUXE_SERVICE_BIGQUERY : LUXE_SERVICE_GCS])));
	}

	for (def = luxe_options; def->name; def++)
	{
		DefElem    *elem;
		const char *value;

		if (def->object != object || (def->services & mask) == 0 ||
			def->offset == NO_FIELD)
			continue;
		elem = find_elem(options, def->name);
		if (elem)
			value = defGetString(elem);
		else if (service == LUXE_SERVICE_BIGQUERY && def->defval_bigquery)
			value = def->defval_bigquery;
		else
			value = def->defval;
		if (value == NULL)
		{
			if ((def->flags & LUXE_OPT_REQUIRED) && missing == NULL)
				missing = def;
			continue;
		}
		if (strcmp(value, LUXE_DEFAULT_SERVER) == 0 && elem == NULL)
			continue;
		store_value(def, value, (char *) dest + def->offset);
	}
	return missing;
}

/*
 * luxe_option_find_service
 *		The service of a server in *service, or false when it has none yet.
 */
bool
luxe_option_find_service(Oid serverid, LuxeService *service)
{
	DefElem    *elem = find_elem(GetForeignServer(serverid)->options, OPT_SERVICE);

	if (elem == NULL)
		return false;
	*service = (LuxeService) parse_enum_value(find_option(OPT_SERVICE, LUXE_OBJ_SERVER, FOR_BOTH),
											  defGetString(elem));
	return true;
}

/*
 * luxe_option_service
 *		The service of a server: the one place that decides whether a
 *		relation is GCS's or BigQuery's.  Throws if the server has none.
 */
LuxeService
luxe_option_service(Oid serverid)
{
	ForeignServer *server = GetForeignServer(serverid);
	LuxeService service;

	if (!luxe_option_find_service(serverid, &service))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" has no \"%s\" option", server->servername, OPT_SERVICE),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD service 'gcs').",
						 server->servername)));
	return service;
}

/*
 * luxe_option_server
 *		Resolve the options of a server into *opts (palloc'd in the current
 *		memory context).  Raises an error if a required option is missing.
 */
void
luxe_option_server(Oid serverid, LuxeServerOptions *opts)
{
	ForeignServer *server = GetForeignServer(serverid);
	LuxeService service = luxe_option_service(serverid);
	const LuxeOptionDef *missing;
	size_t		len;

	memset(opts, 0, sizeof(*opts));
	opts->servername = pstrdup(server->servername);
	opts->owner = server->owner;
	missing = resolve(LUXE_OBJ_SERVER, service, server->options, opts,
					  psprintf("server \"%s\"", server->servername), server->servername);
	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("%s server \"%s\" has no \"%s\" option",
						service == LUXE_SERVICE_GCS ? "GCS" : "BigQuery",
						server->servername, missing->name),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD %s '...').",
						 server->servername, missing->name)));

	/*
	 * Like Google's Python and Go clients, a GCS server honours
	 * STORAGE_EMULATOR_HOST (host:port or scheme://host:port) when it has
	 * no endpoint of its own.
	 */
	if (service == LUXE_SERVICE_GCS && find_elem(server->options, OPT_ENDPOINT) == NULL)
	{
		const char *env = getenv("STORAGE_EMULATOR_HOST");

		if (env && env[0])
		{
			opts->endpoint = strstr(env, "://") ? pstrdup(env) : psprintf("http://%s", env);
			opts->endpoint_from_env = true;
		}
	}
	len = strlen(opts->endpoint);
	while (len > 0 && opts->endpoint[len - 1] == '/')
		opts->endpoint[--len] = '\0';
}

/*
 * luxe_option_gcs_endpoint
 *		Where a server's GCS requests go: a GCS server's endpoint; for a
 *		BigQuery server (load jobs stage rows in GCS), STORAGE_EMULATOR_HOST
 *		if set, else the server's own endpoint when it is not Google's (one
 *		emulator serves both APIs), else Google's GCS endpoint.  Palloc'd.
 */
char *
luxe_option_gcs_endpoint(const LuxeServerOptions *server)
{
	const char *env = getenv("STORAGE_EMULATOR_HOST");
	const LuxeOptionDef *def = find_option(OPT_ENDPOINT, LUXE_OBJ_SERVER, FOR_BOTH);

	if (server->service == LUXE_SERVICE_GCS)
		return pstrdup(server->endpoint);
	if (env && env[0])
		return strstr(env, "://") ? pstrdup(env) : psprintf("http://%s", env);
	if (strcmp(server->endpoint, def->defval_bigquery) == 0)
		return pstrdup(def->defval);
	return pstrdup(server->endpoint);
}

/*
 * luxe_option_auth
 *		Resolve the credentials of a user's mapping for a server.
 *
 * Without a user mapping for the user (nor for PUBLIC) there is an error,
 * as with postgres_fdw.  The result may hold secrets: never copy it into a
 * plan or a message.
 */
void
luxe_option_auth(const LuxeServerOptions *server, Oid serverid, Oid userid,
				 LuxeAuthOptions *opts)
{
	UserMapping *um = GetUserMapping(userid, serverid);
	HeapTuple	tp;

	memset(opts, 0, sizeof(*opts));
	(void) resolve(LUXE_OBJ_MAPPING, server->service, um->options, opts,
				   "a user mapping", server->servername);

	/* a PUBLIC mapping is its server owner's doing */
	opts->role = server->owner;
	tp = SearchSysCache1(USERMAPPINGOID, ObjectIdGetDatum(um->umid));
	if (HeapTupleIsValid(tp))
	{
		Oid			umuser = ((Form_pg_user_mapping) GETSTRUCT(tp))->umuser;

		if (OidIsValid(umuser))
			opts->role = umuser;
		ReleaseSysCache(tp);
	}

	if (opts->mode == LUXE_AUTH_TOKEN && opts->token == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("user mapping option \"%s\" is required when \"%s\" is \"token\"",
						OPT_TOKEN, OPT_AUTH)));
	if (opts->mode == LUXE_AUTH_SERVICE_ACCOUNT &&
		(opts->key_json == NULL) == (opts->key_file == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("user mapping needs exactly one of \"%s\" and \"%s\" when \"%s\" is \"service_account\"",
						OPT_KEY_JSON, OPT_KEY_FILE, OPT_AUTH)));
}

/* Does any column of the table have a column_name option? */
static bool
has_column_names(Oid relid, int natts)
{
	int			attnum;

	for (attnum = 1; attnum <= natts; attnum++)
	{
		if (luxe_option_column_name(relid, attnum) != NULL)
			return true;
	}
	return false;
}

/* Cross-option rules of a CSV dialect; what names the object. */
static void
check_csv(const LuxeCsvOptions *opts)
{
	if (opts->quote >= 0 && opts->quote == (unsigned char) opts->delimiter)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV quote character must not equal the field delimiter")));
}

/*
 * luxe_option_csv
 *		Resolve the CSV options of a GCS foreign table.
 */
void
luxe_option_csv(Oid relid, int natts, LuxeCsvOptions *opts)
{
	ForeignTable *table = GetForeignTable(relid);
	char	   *relname = get_rel_name(relid);
	const LuxeOptionDef *missing;

	memset(opts, 0, sizeof(*opts));
	missing = resolve(LUXE_OBJ_TABLE, LUXE_SERVICE_GCS, table->options, opts,
					  psprintf("foreign table \"%s\"", relname),
					  GetForeignServer(table->serverid)->servername);
	if (missing)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no \"%s\" option", relname, missing->name),
				 errhint("A GCS foreign table needs OPTIONS (uri 'gs://bucket/object').")));
	check_csv(opts);

	/* A column_name option means "map by header" unless said otherwise. */
	if (find_elem(table->options, OPT_HEADER_MAPPING) == NULL)
		opts->header_mapping = has_column_names(relid, natts);

	if (opts->header_mapping && opts->skip_leading_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("header mapping of foreign table \"%s\" requires \"%s\" of at least 1",
						relname, OPT_SKIP_LEADING_ROWS),
				 errdetail("Columns are matched to the names in the last skipped row.")));
}

/*
 * luxe_option_bq_table
 *		Resolve the options of a BigQuery foreign table; table options
 *		override the server's project, pushdown, batch_size and
 *		write_method.  Exactly one of (dataset and table) or query.
 */
void
luxe_option_bq_table(Oid relid, const LuxeServerOptions *server,
					 LuxeBqTableOptions *opts)
{
	ForeignTable *table = GetForeignTable(relid);
	char	   *relname = get_rel_name(relid);

	memset(opts, 0, sizeof(*opts));
	opts->project = server->project;
	opts->pushdown = server->pushdown;
	opts->batch_size = server->batch_size;
	opts->write_method = server->write_method;
	(void) resolve(LUXE_OBJ_TABLE, LUXE_SERVICE_BIGQUERY, table->options, opts,
				   psprintf("foreign table \"%s\"", relname), server->servername);

	if (opts->query != NULL && (opts->dataset != NULL || opts->table != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("BigQuery foreign table \"%s\" sets both \"%s\" and \"%s\"/\"%s\"",
						relname, OPT_QUERY, OPT_DATASET, OPT_TABLE),
				 errhint("A table reads either a query or a table, not both.")));
	if (opts->query == NULL && (opts->dataset == NULL || opts->table == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("BigQuery foreign table \"%s\" needs \"%s\" and \"%s\", or \"%s\"",
						relname, OPT_DATASET, OPT_TABLE, OPT_QUERY)));
}

/*
 * luxe_option_import
 *		Resolve the options of IMPORT FOREIGN SCHEMA for the server's
 *		service.  For GCS, every option that is not IMPORT's own must be a
 *		foreign-table option (it is passed on to the tables, except uri and
 *		skip_leading_rows, which IMPORT sets itself) and *csv is the dialect
 *		they describe; for BigQuery, only IMPORT's own options are valid.
 */
void
luxe_option_import(List *options, const LuxeServerOptions *server,
				   LuxeImportOptions *opts, LuxeCsvOptions *csv)
{
	int			mask = 1 << server->service;
	List	   *own = NIL;
	ListCell   *lc;

	memset(opts, 0, sizeof(*opts));
	opts->project = server->project;
	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const LuxeOptionDef *def;

		if (find_option(elem->defname, LUXE_OBJ_IMPORT, mask))
		{
			own = lappend(own, elem);
			continue;
		}
		def = find_option(elem->defname, LUXE_OBJ_TABLE, mask);
		if (def == NULL || server->service != LUXE_SERVICE_GCS)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid IMPORT FOREIGN SCHEMA option \"%s\" for a %s server",
							elem->defname, services_label(mask)),
					 server->service == LUXE_SERVICE_GCS ?
					 errhint("IMPORT takes \"%s\" and the options of GCS foreign tables.", OPT_SAMPLE_ROWS) :
					 errhint("The only option is \"%s\" (the dataset's project).", OPT_PROJECT)));
		if (strcmp(elem->defname, OPT_URI) == 0 || strcmp(elem->defname, OPT_SKIP_LEADING_ROWS) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" is set by IMPORT FOREIGN SCHEMA itself", elem->defname)));
		check_option_value(def, defGetString(elem));
		opts->table_options = lappend(opts->table_options, elem);
	}
	foreach(lc, own)
		check_option_value(find_option(((DefElem *) lfirst(lc))->defname, LUXE_OBJ_IMPORT, mask),
						   defGetString((DefElem *) lfirst(lc)));
	(void) resolve(LUXE_OBJ_IMPORT, server->service, own, opts, "IMPORT FOREIGN SCHEMA",
				   server->servername);
	if (csv)
	{
		memset(csv, 0, sizeof(*csv));
		(void) resolve(LUXE_OBJ_TABLE, LUXE_SERVICE_GCS, opts->table_options, csv,
					   "IMPORT FOREIGN SCHEMA", server->servername);
		check_csv(csv);
	}
}

/*
 * luxe_option_check_table
 *		Resolve a foreign table's options against its server's service, so
 *		that an option of the other service, a missing required option or a
 *		conflict is an error now.  Called at the end of CREATE/ALTER FOREIGN
 *		TABLE and IMPORT FOREIGN SCHEMA by the extension's event trigger.
 *		Tables of servers that have no service yet are left alone (they fail
 *		when used).
 */
void
luxe_option_check_table(Oid relid)
{
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	LuxeService service;

	if (!luxe_option_find_service(table->serverid, &service))
		return;
	if (service == LUXE_SERVICE_GCS)
	{
		LuxeCsvOptions csv;
		const LuxeOptionDef *missing;

		memset(&csv, 0, sizeof(csv));
		missing = resolve(LUXE_OBJ_TABLE, LUXE_SERVICE_GCS, table->options, &csv,
						  psprintf("foreign table \"%s\"", get_rel_name(relid)),
						  server->servername);
		(void) missing;			/* reported when the table is used */
	}
	else
	{
		LuxeBqTableOptions bq;

		memset(&bq, 0, sizeof(bq));
		(void) resolve(LUXE_OBJ_TABLE, LUXE_SERVICE_BIGQUERY, table->options, &bq,
					   psprintf("foreign table \"%s\"", get_rel_name(relid)),
					   server->servername);
	}
}

/*
 * luxe_option_column_name
 *		The remote name of a column: its column_name option, or NULL.
 */
char *
luxe_option_column_name(Oid relid, int attnum)
{
	DefElem    *elem = find_elem(GetForeignColumnOptions(relid, attnum), OPT_COLUMN_NAME);

	return elem ? pstrdup(defGetString(elem)) : NULL;
}

/*
 * luxe_option_column_metadata
 *		What a GCS column's metadata option fills it with, or LUXE_META_NONE
 *		for a column read from a CSV field.
 */
LuxeColumnMetadata
luxe_option_column_metadata(Oid relid, int attnum)
{
	DefElem    *elem = find_elem(GetForeignColumnOptions(relid, attnum), OPT_METADATA);
	const char *v;
	int			i;

	if (elem == NULL)
		return LUXE_META_NONE;
	v = defGetString(elem);
	for (i = 0; metadata_values[i]; i++)
		if (strcmp(v, metadata_values[i]) == 0)
			return (LuxeColumnMetadata) i;
	return LUXE_META_NONE;		/* the validator refuses other values */
}

/*
 * luxe_option_remote_column
 *		The name of a column in the remote object or table: its column_name
 *		option, else its attribute name.
 */
char *
luxe_option_remote_column(Oid relid, int attnum)
{
	char	   *name = luxe_option_column_name(relid, attnum);

	return name ? name : get_attname(relid, attnum, false);
}

/*
 * luxe_option_http_config
 *		The transport settings of a server: retries, backoff and timeouts.
 */
void
luxe_option_http_config(const LuxeServerOptions *server, LuxeHttpConfig *cfg)
{
	cfg->max_retries = server->max_retries;
	cfg->retry_max_delay_ms = server->retry_max_delay_ms;
	cfg->retry_initial_delay_ms = server->retry_initial_delay_ms;
	cfg->connect_timeout_ms = server->connect_timeout_ms;
	cfg->request_timeout_ms = server->request_timeout_ms;
	cfg->service_name = server->service == LUXE_SERVICE_BIGQUERY ? "BigQuery" : "GCS";
}

const char *
luxe_option_service_name(LuxeService service)
{
	return service_values[service];
}

const char *
luxe_option_write_method_name(LuxeWriteMethod method)
{
	return write_method_values[method];
}

/*
 * luxe_option_describe
 *		The i-th entry of the option table for luxe.fdw_options(), or false
 *		past the end.  Strings are static or palloc'd.
 */
bool
luxe_option_describe(int i, LuxeOptionInfo *info)
{
	const LuxeOptionDef *def;
	int			n;

	for (n = 0; luxe_options[n].name; n++)
		;
	if (i < 0 || i >= n)
		return false;
	def = &luxe_options[i];
	info->name = def->name;
	info->object = object_name(def->object);
	info->services = def->services == FOR_BOTH ? "gcs, bigquery" :
		service_values[def->services == FOR_GCS ? LUXE_SERVICE_GCS : LUXE_SERVICE_BIGQUERY];
	info->required = (def->flags & LUXE_OPT_REQUIRED) != 0;
	info->secret = (def->flags & LUXE_OPT_SECRET) != 0;
	info->privileged = (def->flags & LUXE_OPT_PRIVILEGED) != 0;
	if (def->defval && def->defval_bigquery)
		info->defval = psprintf("gcs: %s; bigquery: %s", def->defval, def->defval_bigquery);
	else
		info->defval = def->defval;
	info->description = def->description;
	return true;
}

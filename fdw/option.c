/*-------------------------------------------------------------------------
 *
 * option.c
 *		  The single option table of luxe_fdw: validation and resolution.
 *
 * Every option luxe_fdw accepts is described once, in luxe_options[]:
 * which catalog it belongs to, how its value is checked, and whether it is
 * a secret.  The validator (CREATE/ALTER ... OPTIONS) and the resolvers
 * used at plan and execution time both read this table, so an option can
 * never be accepted by one and ignored by the other.  Secrets are accepted
 * only on user mappings, whose options PostgreSQL already hides from
 * non-owners in pg_user_mappings.
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
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

#include "http.h"
#include "option.h"

typedef enum LuxeOptionType
{
	LUXE_OT_STRING,
	LUXE_OT_BOOL,
	LUXE_OT_INT,
	LUXE_OT_DURATION,			/* milliseconds, accepts units ('30s') */
	LUXE_OT_CHAR,				/* one single-byte character */
	LUXE_OT_ENUM,
	LUXE_OT_URL,
	LUXE_OT_GS_URI,
	LUXE_OT_ENCODING
} LuxeOptionType;

typedef struct LuxeOptionDef
{
	const char *name;
	Oid			catalog;
	LuxeOptionType type;
	bool		secret;
	bool		privileged;		/* names a server file: pg_read_server_files */
	int			min;			/* for INT and DURATION */
	int			max;
	const char *const *values;	/* for ENUM, NULL-terminated */
} LuxeOptionDef;

static const char *const service_values[] = {"gcs", "bigquery", NULL};
static const char *const write_method_values[] = {"auto", "insert_all", "load", NULL};
static const char *const auth_values[] = {"none", "token", "service_account", "metadata", NULL};

static const LuxeOptionDef luxe_options[] = {
	/* server */
	{OPT_SERVICE, ForeignServerRelationId, LUXE_OT_ENUM, false, false, 0, 0, service_values},
	{OPT_ENDPOINT, ForeignServerRelationId, LUXE_OT_URL, false, false, 0, 0, NULL},
	{OPT_PROJECT, ForeignServerRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{OPT_LOCATION, ForeignServerRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{OPT_MAX_RETRIES, ForeignServerRelationId, LUXE_OT_INT, false, false, 0, 100, NULL},
	{OPT_RETRY_MAX_DELAY, ForeignServerRelationId, LUXE_OT_DURATION, false, false, 0, 3600 * 1000, NULL},
	{OPT_RETRY_INITIAL_DELAY, ForeignServerRelationId, LUXE_OT_DURATION, false, false, 0, 600 * 1000, NULL},
	{OPT_CONNECT_TIMEOUT, ForeignServerRelationId, LUXE_OT_DURATION, false, false, 1, 3600 * 1000, NULL},
	{OPT_REQUEST_TIMEOUT, ForeignServerRelationId, LUXE_OT_DURATION, false, false, 1, INT_MAX, NULL},
	{OPT_PUSHDOWN, ForeignServerRelationId, LUXE_OT_BOOL, false, false, 0, 0, NULL},
	{OPT_BATCH_SIZE, ForeignServerRelationId, LUXE_OT_INT, false, false, 1, 50000, NULL},
	{OPT_WRITE_METHOD, ForeignServerRelationId, LUXE_OT_ENUM, false, false, 0, 0, write_method_values},
	{OPT_STAGING_URI, ForeignServerRelationId, LUXE_OT_GS_URI, false, false, 0, 0, NULL},
	/* user mapping */
	{OPT_AUTH, UserMappingRelationId, LUXE_OT_ENUM, false, false, 0, 0, auth_values},
	{OPT_TOKEN, UserMappingRelationId, LUXE_OT_STRING, true, false, 0, 0, NULL},
	{OPT_KEY_JSON, UserMappingRelationId, LUXE_OT_STRING, true, false, 0, 0, NULL},
	{OPT_KEY_FILE, UserMappingRelationId, LUXE_OT_STRING, false, true, 0, 0, NULL},
	{OPT_SCOPES, UserMappingRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	/* foreign table */
	{OPT_URI, ForeignTableRelationId, LUXE_OT_GS_URI, false, false, 0, 0, NULL},
	{OPT_SKIP_LEADING_ROWS, ForeignTableRelationId, LUXE_OT_INT, false, false, 0, INT_MAX, NULL},
	{OPT_FIELD_DELIMITER, ForeignTableRelationId, LUXE_OT_CHAR, false, false, 0, 0, NULL},
	{OPT_QUOTE, ForeignTableRelationId, LUXE_OT_CHAR, false, false, 0, 0, NULL},
	{OPT_ALLOW_QUOTED_NEWLINES, ForeignTableRelationId, LUXE_OT_BOOL, false, false, 0, 0, NULL},
	{OPT_ALLOW_JAGGED_ROWS, ForeignTableRelationId, LUXE_OT_BOOL, false, false, 0, 0, NULL},
	{OPT_IGNORE_UNKNOWN_VALUES, ForeignTableRelationId, LUXE_OT_BOOL, false, false, 0, 0, NULL},
	{OPT_NULL_MARKER, ForeignTableRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{OPT_ENCODING, ForeignTableRelationId, LUXE_OT_ENCODING, false, false, 0, 0, NULL},
	{OPT_HEADER_MAPPING, ForeignTableRelationId, LUXE_OT_BOOL, false, false, 0, 0, NULL},
	{OPT_MAX_BAD_RECORDS, ForeignTableRelationId, LUXE_OT_INT, false, false, 0, INT_MAX, NULL},
	{OPT_PROJECT, ForeignTableRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{OPT_DATASET, ForeignTableRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{OPT_TABLE, ForeignTableRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{OPT_QUERY, ForeignTableRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{OPT_PUSHDOWN, ForeignTableRelationId, LUXE_OT_BOOL, false, false, 0, 0, NULL},
	{OPT_BATCH_SIZE, ForeignTableRelationId, LUXE_OT_INT, false, false, 1, 50000, NULL},
	{OPT_WRITE_METHOD, ForeignTableRelationId, LUXE_OT_ENUM, false, false, 0, 0, write_method_values},
	/* column */
	{OPT_COLUMN_NAME, AttributeRelationId, LUXE_OT_STRING, false, false, 0, 0, NULL},
	{NULL}
};

PG_FUNCTION_INFO_V1(luxe_fdw_validator);

static const LuxeOptionDef *find_option(const char *name, Oid catalog);
static void report_unknown_option(const char *name, Oid catalog);
static void check_option_value(const LuxeOptionDef *def, DefElem *elem);
static int	parse_int_value(const LuxeOptionDef *def, const char *value);
static char parse_char_value(const char *name, const char *value, bool allow_empty);
static int	parse_encoding_value(const char *value);
static bool parse_bool_value(const char *name, const char *value);

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
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const LuxeOptionDef *def = find_option(elem->defname, catalog);

		if (def == NULL)
			report_unknown_option(elem->defname, catalog);
		if (def->privileged && !superuser() &&
			!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to set option \"%s\"", def->name),
					 errdetail("Only roles with privileges of the \"%s\" role may set this option.",
							   "pg_read_server_files")));
		check_option_value(def, elem);
	}

	PG_RETURN_VOID();
}

static const LuxeOptionDef *
find_option(const char *name, Oid catalog)
{
	const LuxeOptionDef *def;

	for (def = luxe_options; def->name; def++)
	{
		if (def->catalog == catalog && strcmp(def->name, name) == 0)
			return def;
	}
	return NULL;
}

static const char *
catalog_object_name(Oid catalog)
{
	switch (catalog)
	{
		case ForeignServerRelationId:
			return "foreign server";
		case UserMappingRelationId:
			return "user mapping";
		case ForeignTableRelationId:
			return "foreign table";
		case AttributeRelationId:
			return "foreign table column";
		default:
			return "foreign-data wrapper";
	}
}

/*
 * Raise the error for an option name that is not valid in this catalog,
 * with the closest valid name as a hint (like file_fdw), and a pointer to
 * the right object when the option exists elsewhere (secrets on a server).
 */
static void
report_unknown_option(const char *name, Oid catalog)
{
	const LuxeOptionDef *def;
	const char *closest = NULL;
	int			best = INT_MAX;
	const LuxeOptionDef *elsewhere = NULL;

	for (def = luxe_options; def->name; def++)
	{
		if (def->catalog == catalog)
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
		else if (strcmp(def->name, name) == 0)
			elsewhere = def;
	}

	if (elsewhere && elsewhere->secret)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name),
				 errdetail("Option \"%s\" is a secret and can only be set on a user mapping.", name)));
	if (elsewhere)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name),
				 errhint("Option \"%s\" belongs on a %s, not on a %s.",
						 name, catalog_object_name(elsewhere->catalog),
						 catalog_object_name(catalog))));
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

static void
check_option_value(const LuxeOptionDef *def, DefElem *elem)
{
	const char *value = defGetString(elem);

	switch (def->type)
	{
		case LUXE_OT_STRING:
			if (strcmp(def->name, OPT_COLUMN_NAME) == 0 && value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" must not be empty", def->name)));
			if (def->secret && value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" must not be empty", def->name)));
			if (strcmp(def->name, OPT_TOKEN) == 0)
			{
				const char *c;

				/* it becomes an HTTP header: no line breaks or controls */
				for (c = value; *c; c++)
					if ((unsigned char) *c < 0x20 || *c == 0x7f)
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("option \"%s\" contains a control character", def->name)));
			}
			break;
		case LUXE_OT_BOOL:
			(void) parse_bool_value(def->name, value);
			break;
		case LUXE_OT_INT:
		case LUXE_OT_DURATION:
			(void) parse_int_value(def, value);
			break;
		case LUXE_OT_CHAR:
			(void) parse_char_value(def->name, value,
									strcmp(def->name, OPT_QUOTE) == 0);
			break;
		case LUXE_OT_ENUM:
			{
				const char *const *v;

				for (v = def->values; *v; v++)
					if (strcmp(*v, value) == 0)
						break;
				if (*v == NULL)
				{
					StringInfoData buf;

					initStringInfo(&buf);
					for (v = def->values; *v; v++)
						appendStringInfo(&buf, "%s\"%s\"",
										 buf.len ? ", " : "", *v);
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									def->name, value),
							 errhint("Valid values are %s.", buf.data)));
				}
				break;
			}
		case LUXE_OT_URL:
			if (strncmp(value, "http://", 7) != 0 &&
				strncmp(value, "https://", 8) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"",
								def->name, value),
						 errhint("The endpoint must be an http:// or https:// URL, such as \"https://storage.googleapis.com\".")));
			break;
		case LUXE_OT_GS_URI:
			{
				const char *slash;
				const char *star;

				if (strncmp(value, "gs://", 5) != 0 ||
					(slash = strchr(value + 5, '/')) == NULL ||
					slash == value + 5 || slash[1] == '\0')
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									def->name, value),
							 errhint("Use the form gs://bucket/object, optionally with one \"*\" wildcard in the object name.")));
				star = strchr(value, '*');
				if (star && (star < slash || strchr(star + 1, '*')))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									def->name, value),
							 errdetail("A URI can contain one \"*\" wildcard, after the bucket name.")));
				break;
			}
		case LUXE_OT_ENCODING:
			(void) parse_encoding_value(value);
			break;
	}
}

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

static const LuxeOptionDef *
must_find(const char *name, Oid catalog)
{
	const LuxeOptionDef *def = find_option(name, catalog);

	if (def == NULL)
		elog(ERROR, "luxe_fdw: option \"%s\" missing from the option table", name);
	return def;
}

/*
 * Strip a trailing slash and validate that a base URL is usable.
 */
static char *
normalize_endpoint(const char *url)
{
	char	   *result = pstrdup(url);
	size_t		len = strlen(result);

	while (len > 0 && result[len - 1] == '/')
		result[--len] = '\0';
	return result;
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
	bool		have_service = false;
	ListCell   *lc;

	memset(opts, 0, sizeof(*opts));
	opts->servername = pstrdup(server->servername);
	opts->max_retries = 6;
	opts->retry_max_delay_ms = 32 * 1000;
	opts->retry_initial_delay_ms = 1000;
	opts->connect_timeout_ms = 10 * 1000;
	opts->request_timeout_ms = 300 * 1000;
	opts->pushdown = true;
	opts->batch_size = 500;
	opts->write_method = pstrdup("auto");

	foreach(lc, server->options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const char *value = defGetString(elem);

		if (strcmp(elem->defname, OPT_SERVICE) == 0)
		{
			opts->service = strcmp(value, "bigquery") == 0 ?
				LUXE_SERVICE_BIGQUERY : LUXE_SERVICE_GCS;
			have_service = true;
		}
		else if (strcmp(elem->defname, OPT_ENDPOINT) == 0)
			opts->endpoint = normalize_endpoint(value);
		else if (strcmp(elem->defname, OPT_PROJECT) == 0)
			opts->project = pstrdup(value);
		else if (strcmp(elem->defname, OPT_LOCATION) == 0)
			opts->location = pstrdup(value);
		else if (strcmp(elem->defname, OPT_MAX_RETRIES) == 0)
			opts->max_retries = parse_int_value(must_find(OPT_MAX_RETRIES, ForeignServerRelationId), value);
		else if (strcmp(elem->defname, OPT_RETRY_INITIAL_DELAY) == 0)
			opts->retry_initial_delay_ms = parse_int_value(must_find(OPT_RETRY_INITIAL_DELAY, ForeignServerRelationId), value);
		else if (strcmp(elem->defname, OPT_RETRY_MAX_DELAY) == 0)
			opts->retry_max_delay_ms = parse_int_value(must_find(OPT_RETRY_MAX_DELAY, ForeignServerRelationId), value);
		else if (strcmp(elem->defname, OPT_CONNECT_TIMEOUT) == 0)
			opts->connect_timeout_ms = parse_int_value(must_find(OPT_CONNECT_TIMEOUT, ForeignServerRelationId), value);
		else if (strcmp(elem->defname, OPT_REQUEST_TIMEOUT) == 0)
			opts->request_timeout_ms = parse_int_value(must_find(OPT_REQUEST_TIMEOUT, ForeignServerRelationId), value);
		else if (strcmp(elem->defname, OPT_PUSHDOWN) == 0)
			opts->pushdown = parse_bool_value(OPT_PUSHDOWN, value);
		else if (strcmp(elem->defname, OPT_BATCH_SIZE) == 0)
			opts->batch_size = parse_int_value(must_find(OPT_BATCH_SIZE, ForeignServerRelationId), value);
		else if (strcmp(elem->defname, OPT_WRITE_METHOD) == 0)
			opts->write_method = pstrdup(value);
		else if (strcmp(elem->defname, OPT_STAGING_URI) == 0)
			opts->staging_uri = pstrdup(value);
	}

	if (!have_service)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" has no \"%s\" option", server->servername, OPT_SERVICE),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD service 'gcs').",
						 server->servername)));

	if (opts->endpoint == NULL && opts->service == LUXE_SERVICE_GCS)
	{
		/*
		 * Like Google's Python and Go clients, honour STORAGE_EMULATOR_HOST
		 * (host:port or scheme://host:port) when no endpoint is set.
		 */
		const char *env = getenv("STORAGE_EMULATOR_HOST");

		if (env && env[0])
		{
			if (strstr(env, "://"))
				opts->endpoint = normalize_endpoint(env);
			else
				opts->endpoint = normalize_endpoint(psprintf("http://%s", env));
			opts->endpoint_from_env = true;
		}
		else
			opts->endpoint = pstrdup("https://storage.googleapis.com");
	}
	else if (opts->endpoint == NULL)
		opts->endpoint = pstrdup("https://bigquery.googleapis.com");
}

/*
 * luxe_option_auth
 *		Resolve the credentials of the current user's mapping for a server.
 *
 * Without a user mapping for the user (nor for PUBLIC) there is an error,
 * as with postgres_fdw.  The result may hold secrets: never copy it into a
 * plan or a message.
 */
void
luxe_option_auth(Oid serverid, Oid userid, LuxeAuthOptions *opts)
{
	UserMapping *um = GetUserMapping(userid, serverid);
	ListCell   *lc;

	memset(opts, 0, sizeof(*opts));
	opts->mode = LUXE_AUTH_NONE;

	foreach(lc, um->options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const char *value = defGetString(elem);

		if (strcmp(elem->defname, OPT_AUTH) == 0)
		{
			if (strcmp(value, "token") == 0)
				opts->mode = LUXE_AUTH_TOKEN;
			else if (strcmp(value, "service_account") == 0)
				opts->mode = LUXE_AUTH_SERVICE_ACCOUNT;
			else if (strcmp(value, "metadata") == 0)
				opts->mode = LUXE_AUTH_METADATA;
			else
				opts->mode = LUXE_AUTH_NONE;
		}
		else if (strcmp(elem->defname, OPT_TOKEN) == 0)
			opts->token = pstrdup(value);
		else if (strcmp(elem->defname, OPT_KEY_JSON) == 0)
			opts->key_json = pstrdup(value);
		else if (strcmp(elem->defname, OPT_KEY_FILE) == 0)
			opts->key_file = pstrdup(value);
		else if (strcmp(elem->defname, OPT_SCOPES) == 0)
			opts->scopes = pstrdup(value);
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
	if (opts->scopes == NULL)
	{
		/* what the service needs: reads and INSERTs (and staged loads) */
		ForeignServer *server = GetForeignServer(serverid);
		ListCell   *lc2;
		bool		bigquery = false;

		foreach(lc2, server->options)
		{
			DefElem    *elem = (DefElem *) lfirst(lc2);

			if (strcmp(elem->defname, OPT_SERVICE) == 0)
				bigquery = strcmp(defGetString(elem), "bigquery") == 0;
		}
		opts->scopes = pstrdup(bigquery ?
							   "https://www.googleapis.com/auth/bigquery https://www.googleapis.com/auth/devstorage.read_write" :
							   "https://www.googleapis.com/auth/devstorage.read_write");
	}
}

/*
 * luxe_option_csv_from_list
 *		Defaults, then the CSV options found in a DefElem list (table
 *		options, or the options of IMPORT FOREIGN SCHEMA), parsed and
 *		checked as the validator does; other names are ignored.  Returns
 *		whether header_mapping was given explicitly.
 */
bool
luxe_option_csv_from_list(List *options, LuxeCsvOptions *opts)
{
	bool		header_mapping_set = false;
	ListCell   *lc;

	memset(opts, 0, sizeof(*opts));
	opts->delimiter = ',';
	opts->quote = '"';
	opts->allow_quoted_newlines = true;
	opts->null_marker = "";
	opts->encoding = PG_UTF8;

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const char *name = elem->defname;
		const char *value = defGetString(elem);

		if (strcmp(name, OPT_URI) == 0)
			opts->uri = pstrdup(value);
		else if (strcmp(name, OPT_SKIP_LEADING_ROWS) == 0)
			opts->skip_leading_rows = parse_int_value(must_find(name, ForeignTableRelationId), value);
		else if (strcmp(name, OPT_FIELD_DELIMITER) == 0)
			opts->delimiter = parse_char_value(name, value, false);
		else if (strcmp(name, OPT_QUOTE) == 0)
		{
			char		q = parse_char_value(name, value, true);

			opts->quote = q == '\0' ? -1 : (unsigned char) q;
		}
		else if (strcmp(name, OPT_ALLOW_QUOTED_NEWLINES) == 0)
			opts->allow_quoted_newlines = parse_bool_value(name, value);
		else if (strcmp(name, OPT_ALLOW_JAGGED_ROWS) == 0)
			opts->allow_jagged_rows = parse_bool_value(name, value);
		else if (strcmp(name, OPT_IGNORE_UNKNOWN_VALUES) == 0)
			opts->ignore_unknown_values = parse_bool_value(name, value);
		else if (strcmp(name, OPT_NULL_MARKER) == 0)
			opts->null_marker = pstrdup(value);
		else if (strcmp(name, OPT_ENCODING) == 0)
			opts->encoding = parse_encoding_value(value);
		else if (strcmp(name, OPT_MAX_BAD_RECORDS) == 0)
			opts->max_bad_records = parse_int_value(must_find(name, ForeignTableRelationId), value);
		else if (strcmp(name, OPT_HEADER_MAPPING) == 0)
		{
			opts->header_mapping = parse_bool_value(name, value);
			header_mapping_set = true;
		}
	}

	return header_mapping_set;
}

/*
 * luxe_option_csv
 *		Resolve the CSV options of a GCS foreign table.
 */
void
luxe_option_csv(Oid relid, int natts, LuxeCsvOptions *opts)
{
	ForeignTable *table = GetForeignTable(relid);
	bool		header_mapping_set;

	header_mapping_set = luxe_option_csv_from_list(table->options, opts);

	if (opts->uri == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no \"%s\" option",
						get_rel_name(relid), OPT_URI),
				 errhint("A GCS foreign table needs OPTIONS (uri 'gs://bucket/object').")));

	if (opts->quote >= 0 && opts->quote == (unsigned char) opts->delimiter)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV quote character must not equal the field delimiter")));

	/* A column_name option means "map by header" unless said otherwise. */
	if (!header_mapping_set)
		opts->header_mapping = luxe_option_has_column_names(relid, natts);

	if (opts->header_mapping && opts->skip_leading_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("header mapping of foreign table \"%s\" requires \"%s\" of at least 1",
						get_rel_name(relid), OPT_SKIP_LEADING_ROWS),
				 errdetail("Columns are matched to the names in the last skipped row.")));
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
	ListCell   *lc;

	memset(opts, 0, sizeof(*opts));
	opts->project = server->project;
	opts->pushdown = server->pushdown;
	opts->batch_size = server->batch_size;
	opts->write_method = server->write_method;

	foreach(lc, table->options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const char *value = defGetString(elem);

		if (strcmp(elem->defname, OPT_PROJECT) == 0)
			opts->project = pstrdup(value);
		else if (strcmp(elem->defname, OPT_DATASET) == 0)
			opts->dataset = pstrdup(value);
		else if (strcmp(elem->defname, OPT_TABLE) == 0)
			opts->table = pstrdup(value);
		else if (strcmp(elem->defname, OPT_QUERY) == 0)
			opts->query = pstrdup(value);
		else if (strcmp(elem->defname, OPT_PUSHDOWN) == 0)
			opts->pushdown = parse_bool_value(OPT_PUSHDOWN, value);
		else if (strcmp(elem->defname, OPT_BATCH_SIZE) == 0)
			opts->batch_size = parse_int_value(must_find(OPT_BATCH_SIZE, ForeignTableRelationId), value);
		else if (strcmp(elem->defname, OPT_WRITE_METHOD) == 0)
			opts->write_method = pstrdup(value);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" is not valid for BigQuery foreign table \"%s\"",
							elem->defname, get_rel_name(relid)),
					 errhint("BigQuery tables take dataset and table, or query.")));
	}

	if (opts->project == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("BigQuery foreign table \"%s\" has no project", get_rel_name(relid)),
				 errhint("Set the \"%s\" option on the server \"%s\" or on the table.",
						 OPT_PROJECT, server->servername)));
	if (opts->query != NULL && (opts->dataset != NULL || opts->table != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("BigQuery foreign table \"%s\" sets both \"%s\" and \"%s\"/\"%s\"",
						get_rel_name(relid), OPT_QUERY, OPT_DATASET, OPT_TABLE),
				 errhint("A table reads either a query or a table, not both.")));
	if (opts->query == NULL && (opts->dataset == NULL || opts->table == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("BigQuery foreign table \"%s\" needs \"%s\" and \"%s\", or \"%s\"",
						get_rel_name(relid), OPT_DATASET, OPT_TABLE, OPT_QUERY)));
}

/*
 * luxe_option_column_name
 *		The remote name of a column: its column_name option, or NULL.
 */
char *
luxe_option_column_name(Oid relid, int attnum)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (strcmp(elem->defname, OPT_COLUMN_NAME) == 0)
			return pstrdup(defGetString(elem));
	}
	return NULL;
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

bool
luxe_option_has_column_names(Oid relid, int natts)
{
	int			attnum;

	for (attnum = 1; attnum <= natts; attnum++)
	{
		if (luxe_option_column_name(relid, attnum) != NULL)
			return true;
	}
	return false;
}

const char *
luxe_option_service_name(LuxeService service)
{
	return service == LUXE_SERVICE_BIGQUERY ? "bigquery" : "gcs";
}

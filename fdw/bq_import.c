/*-------------------------------------------------------------------------
 *
 * bq_import.c
 *		  IMPORT FOREIGN SCHEMA for BigQuery: one foreign table per table of
 *		  a dataset.
 *
 * Design assumptions and invariants:
 * - The remote schema is a dataset of the server's project, or of the
 *   project the IMPORT's "project" option names.  Column types follow the
 *   type mapping of bq_values.c; REQUIRED fields become NOT NULL.
 * - Tables excluded by LIMIT TO / EXCEPT are not fetched (tables.get); a
 *   table dropped between tables.list and tables.get is skipped.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "bigquery.h"
#include "bq_fdw.h"
#include "option.h"

static bool
table_wanted(ImportForeignSchemaStmt *stmt, const char *name)
{
	ListCell   *lc;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);

		if (strcmp(rv->relname, name) == 0)
			return stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO;
	}
	return stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT;
}

/*
 * luxe_bq_import_schema
 *		ImportForeignSchema: IMPORT FOREIGN SCHEMA dataset FROM SERVER ...:
 *		one CREATE FOREIGN TABLE per table of the dataset (tables.list, every
 *		page, then tables.get), with the types of bq_values.c.
 */
List *
luxe_bq_import_schema(ImportForeignSchemaStmt *stmt, Oid serverid)
{
	LuxeServerOptions *server = palloc(sizeof(LuxeServerOptions));
	LuxeHttpStats stats = {0};
	LuxeBqClient client;
	LuxeImportOptions import;
	List	   *tables;
	List	   *result = NIL;
	const char *project;
	ListCell   *lc;

	luxe_option_server(serverid, server);
	luxe_option_import(stmt->options, server, &import, NULL);
	luxe_bq_client_init(&client, &stats, server, serverid, GetUserId());
	project = import.project;
	tables = luxe_bq_list_tables(&client, project, stmt->remote_schema);
	foreach(lc, tables)
	{
		char	   *name = (char *) lfirst(lc);
		LuxeBqTableInfo *info;
		StringInfoData buf;
		int			i;

		if (!table_wanted(stmt, name))
			continue;
		info = luxe_bq_table_get(&client, project, stmt->remote_schema, name, true);
		if (info == NULL)
			continue;			/* dropped meanwhile */
		initStringInfo(&buf);
		appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (", quote_identifier(name));
		for (i = 0; i < info->nfields; i++)
			appendStringInfo(&buf, "%s%s %s%s", i ? ", " : "", quote_identifier(info->fields[i].name),
							 info->fields[i].pg_type, info->fields[i].required ? " NOT NULL" : "");
		appendStringInfo(&buf, ") SERVER %s OPTIONS (", quote_identifier(server->servername));
		if (strcmp(project, server->project) != 0)
			appendStringInfo(&buf, "project %s, ", quote_literal_cstr(project));
		appendStringInfo(&buf, "dataset %s, table %s)", quote_literal_cstr(stmt->remote_schema),
						 quote_literal_cstr(name));
		result = lappend(result, buf.data);
	}
	return result;
}

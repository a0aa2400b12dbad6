/*-------------------------------------------------------------------------
 *
 * import.h
 *		  IMPORT FOREIGN SCHEMA for GCS prefixes.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/import.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_IMPORT_H
#define LUXE_IMPORT_H

#include "nodes/parsenodes.h"

#include "gcs.h"

/* in import.c */
extern List *luxe_import_gcs_schema(ImportForeignSchemaStmt *stmt,
									LuxeGcsClient *client,
									const char *servername);

#endif							/* LUXE_IMPORT_H */

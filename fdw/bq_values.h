/*-------------------------------------------------------------------------
 *
 * bq_values.h
 *		  Values between PostgreSQL and BigQuery: rows and parameters.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_values.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LUXE_BQ_VALUES_H
#define LUXE_BQ_VALUES_H

#include "fmgr.h"

#include "bigquery.h"

/* in bq_values.c */
extern Datum luxe_bq_value_to_datum(const char *value, const LuxeBqField *field,
									Oid typid, FmgrInfo *in, Oid typioparam,
									int32 typmod);
extern char *luxe_bq_datum_to_string(Datum value, Oid typid);
extern bool luxe_bq_numeric_fits(const char *value);

#endif							/* LUXE_BQ_VALUES_H */

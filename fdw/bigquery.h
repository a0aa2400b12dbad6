/*-------------------------------------------------------------------------
 *
 * bigquery.h
 *		  BigQuery REST v2 client of luxe_fdw: jobs (query, load, get,
 *		  cancel), result paging, tables and datasets, insertAll.
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

#include "http.h"
#include "option.h"

/*
 * luxe_bq_table_rows
 *		Planner row and byte estimates of a BigQuery table from tables.get
 *		(numRows, numBytes).  Returns false when unknown (a query table,
 *		or metadata without the numbers); raises an error if the table
 *		does not exist.  Cached per backend for a short while.
 */
extern bool luxe_bq_table_rows(Oid foreigntableid, double *rows, double *bytes);

#endif							/* LUXE_BIGQUERY_H */

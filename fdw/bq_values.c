/*-------------------------------------------------------------------------
 *
 * bq_values.c
 *		  Values between PostgreSQL and BigQuery: rows and parameters.
 *
 * Type mapping (BigQuery -> PostgreSQL), as IMPORT FOREIGN SCHEMA
 * declares it:
 *	 INT64 -> bigint, FLOAT64 -> double precision (NaN, Infinity kept),
 *	 NUMERIC/BIGNUMERIC -> numeric, BOOL -> boolean, STRING -> text,
 *	 BYTES -> bytea (base64 on the wire), DATE -> date, DATETIME ->
 *	 timestamp, TIME -> time, TIMESTAMP -> timestamptz (int64 microseconds
 *	 on the wire, converted exactly), JSON -> jsonb, GEOGRAPHY -> text
 *	 (WKT), REPEATED x -> x[], RECORD and REPEATED RECORD -> jsonb.
 *	 A column may be declared with any type whose input function accepts
 *	 the value's text form.
 *
 * Design assumptions and invariants:
 * - Values cross bigquery.c's interface as C strings in BigQuery's JSON
 *   row encoding, so this file needs no JSON library.
 * - Output towards BigQuery is independent of the session's settings
 *   (DateStyle ISO, extra_float_digits 3), so what is sent reads back
 *   identically.
 * - Every function runs in the caller's memory context and may ereport
 *   (bad input, infinite dates and timestamps BigQuery cannot hold).
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/bq_values.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "bq_values.h"

/* microseconds between the Unix and the PostgreSQL epochs */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* ---------------------------------------------------------------------
 * Values: BigQuery -> PostgreSQL
 * ---------------------------------------------------------------------
 */

/*
 * luxe_bq_value_to_datum
 *		A value of a BigQuery result (its JSON string form; field may be
 *		NULL for a value of unknown type) as a Datum of typid, through the
 *		type's input function except where the wire form differs:
 *		TIMESTAMPs are int64 microseconds, BYTES base64.  Palloc'd in the
 *		current context; throws on a value the type cannot take.
 */
Datum
luxe_bq_value_to_datum(const char *value, const LuxeBqField *field, Oid typid,
				  FmgrInfo *in, Oid typioparam, int32 typmod)
{
	if (field && field->type == LUXE_BQ_TIMESTAMP && !field->repeated)
	{
		char	   *end;
		int64		micros;
		TimestampTz ts;

		errno = 0;
		micros = strtoi64(value, &end, 10);
		if (errno != 0 || *end != '\0')
		{
			/* not the int64 form: seconds as a float, or ISO text */
			double		secs = strtod(value, &end);

			if (*end != '\0')
				return InputFunctionCall(in, (char *) value, typioparam, typmod);
			micros = (int64) llround(secs * 1000000.0);
		}
		ts = micros - UNIX_TO_PG_USECS;
		if (typid == TIMESTAMPTZOID)
			return TimestampTzGetDatum(ts);
		if (typid == TIMESTAMPOID)
			return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(ts));
		if (typid == DATEOID)
			return DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(ts));
		return InputFunctionCall(in, DatumGetCString(DirectFunctionCall1(timestamptz_out,
																		 TimestampTzGetDatum(ts))),
								 typioparam, typmod);
	}
	if (field && field->type == LUXE_BQ_BYTES && !field->repeated && typid == BYTEAOID)
	{
		int			len = strlen(value);
		int			maxlen = pg_b64_dec_len(len);
		bytea	   *result = palloc(VARHDRSZ + maxlen);
		int			n = pg_b64_decode(value, len, VARDATA(result), maxlen);

		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid base64 BYTES value from BigQuery")));
		SET_VARSIZE(result, VARHDRSZ + n);
		return PointerGetDatum(result);
	}
	return InputFunctionCall(in, (char *) value, typioparam, typmod);
}

static char *
timestamptz_to_bq(TimestampTz ts, bool with_zone)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("BigQuery has no infinite timestamps")));
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return psprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d%s",
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					(int) fsec, with_zone ? "+00:00" : "");
}

/*
 * luxe_bq_datum_to_string
 *		One scalar in BigQuery's string form, by the PostgreSQL type.
 *		Palloc'd in the current context (or a constant); throws for an
 *		infinite date or timestamp.
 */
char *
luxe_bq_datum_to_string(Datum value, Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
			return DatumGetBool(value) ? "true" : "false";
		case TIMESTAMPTZOID:
			return timestamptz_to_bq(DatumGetTimestampTz(value), true);
		case TIMESTAMPOID:
			return timestamptz_to_bq(DatumGetTimestamp(value), false);
		case DATEOID:
			{
				DateADT		d = DatumGetDateADT(value);
				int			y,
							m,
							dd;

				if (DATE_NOT_FINITE(d))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("BigQuery has no infinite dates")));
				j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
				return psprintf("%04d-%02d-%02d", y, m, dd);
			}
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				char	   *out = palloc(pg_b64_enc_len(len) + 1);
				int			n = pg_b64_encode(VARDATA_ANY(b), len, out, pg_b64_enc_len(len));

				out[Max(n, 0)] = '\0';
				return out;
			}
		default:
			{
				Oid			func;
				bool		varlena;
				char	   *s;
				int			nestlevel = NewGUCNestLevel();

				/* output independent of the session's settings */
				(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_SAVE, true, 0, false);
				(void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_SAVE, true, 0, false);
				getTypeOutputInfo(typid, &func, &varlena);
				s = OidOutputFunctionCall(func, value);
				AtEOXact_GUC(true, nestlevel);
				return s;
			}
	}
}

/*
 * Does a numeric literal fit BigQuery's NUMERIC (29 integer and 9
 * fractional digits)?  Those that do not are sent as BIGNUMERIC, which
 * compares with NUMERIC columns exactly.
 */
bool
luxe_bq_numeric_fits(const char *v)
{
	const char *dot = strchr(v, '.');
	const char *c = (*v == '-') ? v + 1 : v;
	int			intdigits = dot ? (int) (dot - c) : (int) strlen(c);
	int			fracdigits = 0;

	if (dot)
	{
		const char *end = dot + strlen(dot) - 1;

		while (end > dot && *end == '0')
			end--;
		fracdigits = (int) (end - dot);
	}
	if (strcmp(c, "NaN") == 0 || strcmp(c, "Infinity") == 0)
		return true;			/* BigQuery rejects these either way */
	return intdigits <= 29 && fracdigits <= 9;
}

/*-------------------------------------------------------------------------
 *
 * aggregates.c
 *		  C functions and aggregates of the luxe insights pipeline.
 *
 * Design assumptions and invariants:
 * - Every aggregate keeps its state in the aggregate memory context and has
 *   combine, serial and deserial functions, so it is PARALLEL SAFE and its
 *   partial states can travel between workers.
 * - luxe.squish works on bytes: the ASCII whitespace it removes never occurs
 *   inside a multi-byte UTF-8 (or any server-encoding) character.
 * - luxe.value_counts tells values apart by their bytes, which is what
 *   equality is under a deterministic collation (it refuses the others).
 * - luxe.price_summary's percentiles are exactly percentile_cont's: linear
 *   interpolation at position q * (n - 1) of the sorted values, with NaN
 *   sorting after every number as in float8 comparisons.
 * - Percentages are numeric rounded half away from zero to
 *   LUXE_PCT_SCALE decimal places.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/aggregates.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <locale.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/typcache.h"

#define LUXE_PCT_SCALE 12

/* ---------------------------------------------------------------------
 * luxe.squish(text): trim, and collapse runs of whitespace to one space
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(luxe_squish);

static inline bool
is_ascii_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * luxe_squish
 *		Strip leading and trailing whitespace ([ \t\n\r\f\v]) and replace
 *		each inner run of it by one space.  Returns the input unchanged (no
 *		copy) when there is nothing to do.
 */
Datum
luxe_squish(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const unsigned char *s = (const unsigned char *) VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	int			start = 0;
	int			end = len;
	int			i;
	bool		clean = true;
	text	   *out;
	char	   *d;

	while (start < end && is_ascii_space(s[start]))
		start++;
	while (end > start && is_ascii_space(s[end - 1]))
		end--;
	i = start;
#ifndef WORDS_BIGENDIAN

	/*
	 * Skip eight bytes at a time while they hold no byte below 0x0E (which
	 * \t \n \v \f \r are) and no two spaces in a row, also across into
	 * the next byte; a word that might need work is looked at byte by byte
	 * below.
	 */
	while (i + 9 <= end)
	{
		const uint64 ones = UINT64CONST(0x0101010101010101);
		const uint64 highs = UINT64CONST(0x8080808080808080);
		uint64		w;
		uint64		t;
		uint64		sp;

		memcpy(&w, s + i, 8);
		if (((w - ones * 0x0E) & ~w & highs) != 0)
			break;
		/* 0x80 in each byte that is a space, exactly */
		t = w ^ (ones * ' ');
		sp = ~(((t & ~highs) + ~highs) | t | ~highs);
		if ((sp & ((sp >> 8) | ((uint64) (s[i + 8] == ' ') << 63))) != 0)
			break;
		i += 8;
	}
#endif
	for (; i < end; i++)
	{
		if (is_ascii_space(s[i]) && (s[i] != ' ' || is_ascii_space(s[i + 1])))
		{
			clean = false;
			break;
		}
	}
	if (clean && start == 0 && end == len)
		PG_RETURN_TEXT_P(in);

	out = (text *) palloc(VARHDRSZ + (end - start));
	d = VARDATA(out);
	for (i = start; i < end; i++)
	{
		if (is_ascii_space(s[i]))
		{
			*d++ = ' ';
			while (i + 1 < end && is_ascii_space(s[i + 1]))
				i++;
		}
		else
			*d++ = (char) s[i];
	}
	SET_VARSIZE(out, VARHDRSZ + (d - VARDATA(out)));
	PG_RETURN_TEXT_P(out);
}

/* ---------------------------------------------------------------------
 * luxe.lower_trim(text): lower(btrim(x)) with an ASCII fast path
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(luxe_lower_trim);

/*
 * Whether A-Z -> a-z is what lower() does to ASCII in this database's
 * LC_CTYPE: true except in Turkish and Azeri locales (dotted/dotless i).
 */
static bool
ascii_lowering_is_exact(void)
{
	static int	cached = -1;

	if (cached < 0)
	{
		const char *ctype = setlocale(LC_CTYPE, NULL);

		cached = !(ctype && (strncmp(ctype, "tr", 2) == 0 || strncmp(ctype, "az", 2) == 0));
	}
	return cached == 1;
}

/*
 * luxe_lower_trim
 *		lower(btrim(x)): strip leading and trailing spaces, then lower-case.
 *		Pure-ASCII values (nearly all labels) are lowered byte by byte;
 *		anything else goes through lower() with the call's collation, so
 *		the result always equals the SQL expression.
 */
Datum
luxe_lower_trim(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	int			start = 0;
	int			end = len;
	int			i;
	bool		ascii = true;
	text	   *out;
	char	   *d;

	while (start < end && s[start] == ' ')
		start++;
	while (end > start && s[end - 1] == ' ')
		end--;
	for (i = start; i < end; i++)
	{
		if (IS_HIGHBIT_SET(s[i]))
		{
			ascii = false;
			break;
		}
	}
	if (!ascii || !ascii_lowering_is_exact())
		PG_RETURN_DATUM(DirectFunctionCall1Coll(lower, PG_GET_COLLATION(),
												PointerGetDatum(cstring_to_text_with_len(s + start,
																						 end - start))));
	out = (text *) palloc(VARHDRSZ + (end - start));
	SET_VARSIZE(out, VARHDRSZ + (end - start));
	d = VARDATA(out);
	for (i = start; i < end; i++)
	{
		char		c = s[i];

		*d++ = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
	}
	PG_RETURN_TEXT_P(out);
}

/* ---------------------------------------------------------------------
 * luxe.pct(part, whole)
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(luxe_pct);

/*
 * 100 * part / whole as numeric with LUXE_PCT_SCALE decimals, rounded half
 * away from zero, computed exactly in 128-bit integers.  NULL when whole is
 * zero.
 */
static Datum
pct_numeric(int64 part, int64 whole, bool *isnull)
{
	int128		num;
	int128		q;
	int128		r;
	int128		scale = 1;
	int			i;
	bool		neg;

	if (whole == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	for (i = 0; i < LUXE_PCT_SCALE; i++)
		scale *= 10;
	num = (int128) part * 100 * scale;
	neg = (num < 0) != (whole < 0);
	if (num < 0)
		num = -num;
	q = num / (whole < 0 ? -(int128) whole : (int128) whole);
	r = num % (whole < 0 ? -(int128) whole : (int128) whole);
	if (2 * r >= (whole < 0 ? -(int128) whole : (int128) whole))
		q++;
	if (q > PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("percentage out of range")));
	*isnull = false;
	return NumericGetDatum(int64_div_fast_to_numeric(neg ? -(int64) q : (int64) q,
													 LUXE_PCT_SCALE));
}

/*
 * luxe_pct
 *		luxe.pct(part bigint, whole bigint) returns numeric: the percentage
 *		part is of whole.  NULL for a zero whole.
 */
Datum
luxe_pct(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		result = pct_numeric(PG_GETARG_INT64(0), PG_GETARG_INT64(1), &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * Point a StringInfo at the contents of a bytea (no copy), for reading a
 * serialized aggregate state with the pq_getmsg* functions.
 */
static void
init_state_reader(StringInfo buf, bytea *b)
{
	buf->data = VARDATA_ANY(b);
	buf->len = VARSIZE_ANY_EXHDR(b);
	buf->maxlen = buf->len;
	buf->cursor = 0;
}

/* ---------------------------------------------------------------------
 * luxe.distinct_count(bigint): exact count of distinct values, hashed
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(luxe_distinct_count_transfn);
PG_FUNCTION_INFO_V1(luxe_distinct_count_combinefn);
PG_FUNCTION_INFO_V1(luxe_distinct_count_serialfn);
PG_FUNCTION_INFO_V1(luxe_distinct_count_deserialfn);
PG_FUNCTION_INFO_V1(luxe_distinct_count_finalfn);

/*
 * An open-addressing hash set of int64 with linear probing.  PG_INT64_MIN
 * marks an empty slot; whether that value itself was seen is a flag.
 */
typedef struct DistinctSet
{
	int64	   *slots;
	uint64		mask;			/* capacity - 1; capacity is a power of 2 */
	int64		count;			/* values in slots */
	bool		has_min;		/* PG_INT64_MIN was seen */
	bool		flat;			/* deserialized: slots holds the count values
								 * one after another, not hashed */
} DistinctSet;

#define DISTINCT_EMPTY PG_INT64_MIN

static inline uint64
mix64(uint64 x)
{
	/* the splitmix64 finaliser: a cheap, well-distributed bijection */
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

static DistinctSet *
distinct_create(MemoryContext cxt, uint64 capacity)
{
	DistinctSet *set = MemoryContextAlloc(cxt, sizeof(DistinctSet));
	uint64		i;

	set->slots = MemoryContextAllocHuge(cxt, capacity * sizeof(int64));
	for (i = 0; i < capacity; i++)
		set->slots[i] = DISTINCT_EMPTY;
	set->mask = capacity - 1;
	set->count = 0;
	set->has_min = false;
	set->flat = false;
	return set;
}

/* the slots to visit of a set, hashed or flat: values, or DISTINCT_EMPTY */
static inline uint64
distinct_nslots(const DistinctSet *set)
{
	return set->flat ? (uint64) set->count : set->mask + 1;
}

static void distinct_add(DistinctSet *set, int64 v);

static void
distinct_grow(DistinctSet *set)
{
	int64	   *old = set->slots;
	uint64		oldcap = set->mask + 1;
	uint64		newcap = oldcap * 2;
	uint64		i;

	set->slots = MemoryContextAllocHuge(GetMemoryChunkContext(old),
										newcap * sizeof(int64));
	for (i = 0; i < newcap; i++)
		set->slots[i] = DISTINCT_EMPTY;
	set->mask = newcap - 1;
	set->count = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i] != DISTINCT_EMPTY)
			distinct_add(set, old[i]);
	pfree(old);
}

static void
distinct_add(DistinctSet *set, int64 v)
{
	uint64		h;

	if (v == DISTINCT_EMPTY)
	{
		set->has_min = true;
		return;
	}
	h = mix64((uint64) v) & set->mask;
	for (;;)
	{
		int64		cur = set->slots[h];

		if (cur == v)
			return;
		if (cur == DISTINCT_EMPTY)
			break;
		h = (h + 1) & set->mask;
	}
	set->slots[h] = v;
	set->count++;
	if ((uint64) set->count * 2 > set->mask + 1)
		distinct_grow(set);
}

Datum
luxe_distinct_count_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	DistinctSet *set;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "luxe_distinct_count_transfn called in non-aggregate context");
	set = PG_ARGISNULL(0) ? distinct_create(aggcxt, 1024) :
		(DistinctSet *) PG_GETARG_POINTER(0);
	if (!PG_ARGISNULL(1))
		distinct_add(set, PG_GETARG_INT64(1));
	PG_RETURN_POINTER(set);
}

Datum
luxe_distinct_count_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	DistinctSet *a;
	DistinctSet *b;
	uint64		i;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "luxe_distinct_count_combinefn called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = (DistinctSet *) PG_GETARG_POINTER(1);
	if (PG_ARGISNULL(0))
	{
		uint64		cap = 1024;

		while (cap < (uint64) b->count * 2 + 2)
			cap *= 2;
		a = distinct_create(aggcxt, cap);
	}
	else
		a = (DistinctSet *) PG_GETARG_POINTER(0);
	for (i = 0; i < distinct_nslots(b); i++)
		if (b->slots[i] != DISTINCT_EMPTY)
			distinct_add(a, b->slots[i]);
	a->has_min |= b->has_min;
	PG_RETURN_POINTER(a);
}

/* serial form: has_min byte, count, then the values */
Datum
luxe_distinct_count_serialfn(PG_FUNCTION_ARGS)
{
	DistinctSet *set = (DistinctSet *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	uint64		i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "luxe_distinct_count_serialfn called in non-aggregate context");
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, set->has_min ? 1 : 0);
	pq_sendint64(&buf, set->count);
	for (i = 0; i < distinct_nslots(set); i++)
		if (set->slots[i] != DISTINCT_EMPTY)
			pq_sendint64(&buf, set->slots[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * The deserialized state lives in the current (per-input-tuple) context and
 * is flat: the combine function reads it once, so hashing it again would be
 * wasted work (and keeping it in the aggregate context, memory held to the
 * end of the aggregation).
 */
Datum
luxe_distinct_count_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	DistinctSet *set;
	int64		n;
	int64		i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "luxe_distinct_count_deserialfn called in non-aggregate context");
	init_state_reader(&buf, b);
	set = palloc(sizeof(DistinctSet));
	set->has_min = pq_getmsgbyte(&buf) != 0;
	n = pq_getmsgint64(&buf);
	if (n < 0 || n > (buf.len - buf.cursor) / (int) sizeof(int64))
		elog(ERROR, "invalid luxe.distinct_count state");
	set->slots = palloc_extended(Max(n, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	set->count = n;
	set->mask = 0;
	set->flat = true;
	for (i = 0; i < n; i++)
		set->slots[i] = pq_getmsgint64(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(set);
}

Datum
luxe_distinct_count_finalfn(PG_FUNCTION_ARGS)
{
	DistinctSet *set;

	if (PG_ARGISNULL(0))
		PG_RETURN_INT64(0);
	set = (DistinctSet *) PG_GETARG_POINTER(0);
	PG_RETURN_INT64(set->count + (set->has_min ? 1 : 0));
}

/* ---------------------------------------------------------------------
 * luxe.price_summary(float8): count, mean, min, p25, median, p75, max
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(luxe_price_summary_transfn);
PG_FUNCTION_INFO_V1(luxe_price_summary_combinefn);
PG_FUNCTION_INFO_V1(luxe_price_summary_serialfn);
PG_FUNCTION_INFO_V1(luxe_price_summary_deserialfn);
PG_FUNCTION_INFO_V1(luxe_price_summary_finalfn);

typedef struct PriceState
{
	int64		n;
	int64		cap;
	double	   *vals;
} PriceState;

/* float8 order: NaN after everything, as float8_cmp_internal */
static inline int
cmp_float8(double a, double b)
{
	if (isnan(a))
		return isnan(b) ? 0 : 1;
	if (isnan(b))
		return -1;
	return (a > b) - (a < b);
}

#define ST_SORT sort_float8
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) cmp_float8(*(a), *(b))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

static PriceState *
price_create(MemoryContext cxt, int64 cap)
{
	PriceState *st = MemoryContextAlloc(cxt, sizeof(PriceState));

	st->n = 0;
	st->cap = Max(cap, 64);
	st->vals = MemoryContextAllocHuge(cxt, st->cap * sizeof(double));
	return st;
}

static inline void
price_add(PriceState *st, double v)
{
	if (st->n == st->cap)
	{
		st->cap *= 2;
		st->vals = repalloc_huge(st->vals, st->cap * sizeof(double));
	}
	st->vals[st->n++] = v;
}

Datum
luxe_price_summary_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	PriceState *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "luxe_price_summary_transfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? price_create(aggcxt, 64) : (PriceState *) PG_GETARG_POINTER(0);
	if (!PG_ARGISNULL(1))
		price_add(st, PG_GETARG_FLOAT8(1));
	PG_RETURN_POINTER(st);
}

Datum
luxe_price_summary_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	PriceState *a;
	PriceState *b;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "luxe_price_summary_combinefn called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = (PriceState *) PG_GETARG_POINTER(1);
	a = PG_ARGISNULL(0) ? price_create(aggcxt, b->n) : (PriceState *) PG_GETARG_POINTER(0);
	if (a->cap - a->n < b->n)
	{
		while (a->cap - a->n < b->n)
			a->cap *= 2;
		a->vals = repalloc_huge(a->vals, a->cap * sizeof(double));
	}
	memcpy(a->vals + a->n, b->vals, b->n * sizeof(double));
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

Datum
luxe_price_summary_serialfn(PG_FUNCTION_ARGS)
{
	PriceState *st = (PriceState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int64		i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "luxe_price_summary_serialfn called in non-aggregate context");
	pq_begintypsend(&buf);
	pq_sendint64(&buf, st->n);
	for (i = 0; i < st->n; i++)
		pq_sendfloat8(&buf, st->vals[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* (the deserialized state lives in the current, per-input-tuple, context) */
Datum
luxe_price_summary_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	PriceState *st;
	int64		n;
	int64		i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "luxe_price_summary_deserialfn called in non-aggregate context");
	init_state_reader(&buf, b);
	n = pq_getmsgint64(&buf);
	if (n < 0 || n > (buf.len - buf.cursor) / (int) sizeof(double))
		elog(ERROR, "invalid luxe.price_summary state");
	st = price_create(CurrentMemoryContext, n);
	for (i = 0; i < n; i++)
		st->vals[i] = pq_getmsgfloat8(&buf);
	st->n = n;
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(st);
}

/* percentile_cont over sorted values: lo + (hi - lo) * fraction */
static double
percentile_cont_sorted(const double *v, int64 n, double q)
{
	double		pos = q * (n - 1);
	int64		first = (int64) floor(pos);
	int64		second = (int64) ceil(pos);
	double		lo = v[first];
	double		hi = v[second];

	if (first == second)
		return lo;
	return lo + (hi - lo) * (pos - first);
}

/*
 * luxe_price_summary_finalfn
 *		Sorts the collected values in place (the state is not used again)
 *		and returns a luxe.price_stats row; NULL for no non-NULL input.
 */
Datum
luxe_price_summary_finalfn(PG_FUNCTION_ARGS)
{
	PriceState *st;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false};
	double		sum = 0.0;
	int64		i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (PriceState *) PG_GETARG_POINTER(0);
	if (st->n == 0)
		PG_RETURN_NULL();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "luxe_price_summary_finalfn must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	sort_float8(st->vals, st->n);
	for (i = 0; i < st->n; i++)
		sum += st->vals[i];

	values[0] = Int64GetDatum(st->n);
	values[1] = Float8GetDatum(sum / st->n);
	values[2] = Float8GetDatum(st->vals[0]);
	values[3] = Float8GetDatum(percentile_cont_sorted(st->vals, st->n, 0.25));
	values[4] = Float8GetDatum(percentile_cont_sorted(st->vals, st->n, 0.5));
	values[5] = Float8GetDatum(percentile_cont_sorted(st->vals, st->n, 0.75));
	values[6] = Float8GetDatum(st->vals[st->n - 1]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------------------------------------------------------------------
 * luxe.value_counts(text, bigint): the sum of the weights per value
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(luxe_value_counts_transfn);
PG_FUNCTION_INFO_V1(luxe_value_counts_combinefn);
PG_FUNCTION_INFO_V1(luxe_value_counts_serialfn);
PG_FUNCTION_INFO_V1(luxe_value_counts_deserialfn);
PG_FUNCTION_INFO_V1(luxe_value_counts_finalfn);

/*
 * The values seen, in the order first seen (NULL is a value, as in GROUP
 * BY), and an open-addressing index over them by hash.  Values are equal
 * when their bytes are: the input collation must be deterministic.  A
 * deserialized state is flat: no index (slots NULL), its values pointing
 * into the serialized bytes, read once by the combine function.
 */
typedef struct ValueCount
{
	char	   *data;			/* NULL for the NULL value */
	int32		len;
	uint32		hash;
	int64		count;
} ValueCount;

typedef struct ValueCounts
{
	MemoryContext cxt;
	ValueCount *items;
	int32		nitems;
	int32		maxitems;
	int32	   *slots;			/* index into items, -1 for empty */
	uint32		mask;			/* slots - 1; a power of 2 minus 1 */
	int32		null_item;		/* index of the NULL value, or -1 */
} ValueCounts;

static ValueCounts *
value_counts_create(MemoryContext cxt, int32 expected)
{
	ValueCounts *vc = MemoryContextAlloc(cxt, sizeof(ValueCounts));
	uint32		nslots = 8;

	while (nslots < (uint32) expected * 2)
		nslots *= 2;
	vc->cxt = cxt;
	vc->maxitems = nslots / 2;
	vc->items = MemoryContextAlloc(cxt, vc->maxitems * sizeof(ValueCount));
	vc->nitems = 0;
	vc->slots = MemoryContextAlloc(cxt, nslots * sizeof(int32));
	memset(vc->slots, 0xff, nslots * sizeof(int32));
	vc->mask = nslots - 1;
	vc->null_item = -1;
	return vc;
}

/* double the index (and the room for items), keeping at most half full */
static void
value_counts_grow(ValueCounts *vc)
{
	uint32		nslots = (vc->mask + 1) * 2;
	int32		i;

	vc->maxitems = nslots / 2;
	vc->items = repalloc(vc->items, vc->maxitems * sizeof(ValueCount));
	pfree(vc->slots);
	vc->slots = MemoryContextAlloc(vc->cxt, nslots * sizeof(int32));
	memset(vc->slots, 0xff, nslots * sizeof(int32));
	vc->mask = nslots - 1;
	for (i = 0; i < vc->nitems; i++)
	{
		uint32		h;

		if (vc->items[i].data == NULL)
			continue;
		h = vc->items[i].hash & vc->mask;
		while (vc->slots[h] >= 0)
			h = (h + 1) & vc->mask;
		vc->slots[h] = i;
	}
}

/* the entry of a value (data NULL: the NULL value), made if new */
static ValueCount *
value_counts_entry(ValueCounts *vc, const char *data, int32 len)
{
	ValueCount *item;
	uint32		hash = 0;
	uint32		h = 0;

	if (data == NULL && vc->null_item >= 0)
		return &vc->items[vc->null_item];
	if (data != NULL)
	{
		hash = hash_bytes((const unsigned char *) data, len);
		for (h = hash & vc->mask; vc->slots[h] >= 0; h = (h + 1) & vc->mask)
		{
			item = &vc->items[vc->slots[h]];
			if (item->hash == hash && item->len == len && item->data != NULL &&
				memcmp(item->data, data, len) == 0)
				return item;
		}
	}

	if (vc->nitems == vc->maxitems)
	{
		value_counts_grow(vc);
		for (h = hash & vc->mask; data != NULL && vc->slots[h] >= 0; h = (h + 1) & vc->mask)
			;
	}
	item = &vc->items[vc->nitems];
	item->len = len;
	item->hash = hash;
	item->count = 0;
	item->data = NULL;
	if (data == NULL)
		vc->null_item = vc->nitems;
	else
	{
		item->data = MemoryContextAlloc(vc->cxt, Max(len, 1));
		memcpy(item->data, data, len);
		vc->slots[h] = vc->nitems;
	}
	vc->nitems++;
	return item;
}

static void
value_counts_add(ValueCounts *vc, const char *data, int32 len, int64 weight)
{
	ValueCount *item = value_counts_entry(vc, data, len);

	if (pg_add_s64_overflow(item->count, weight, &item->count))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
}

Datum
luxe_value_counts_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ValueCounts *vc;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "luxe_value_counts_transfn called in non-aggregate context");
	if (PG_ARGISNULL(0))
	{
		Oid			collid = PG_GET_COLLATION();

		if (OidIsValid(collid) && !get_collation_isdeterministic(collid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("luxe.value_counts does not support nondeterministic collations")));
		vc = value_counts_create(aggcxt, 4);
	}
	else
		vc = (ValueCounts *) PG_GETARG_POINTER(0);
	/* a NULL weight adds nothing, as sum() skips it */
	if (!PG_ARGISNULL(2))
	{
		int64		weight = PG_GETARG_INT64(2);

		if (PG_ARGISNULL(1))
			value_counts_add(vc, NULL, 0, weight);
		else
		{
			text	   *t = PG_GETARG_TEXT_PP(1);

			value_counts_add(vc, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), weight);
		}
	}
	PG_RETURN_POINTER(vc);
}

Datum
luxe_value_counts_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ValueCounts *a;
	ValueCounts *b;
	int32		i;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "luxe_value_counts_combinefn called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = (ValueCounts *) PG_GETARG_POINTER(1);
	a = PG_ARGISNULL(0) ? value_counts_create(aggcxt, b->nitems) :
		(ValueCounts *) PG_GETARG_POINTER(0);
	for (i = 0; i < b->nitems; i++)
		value_counts_add(a, b->items[i].data, b->items[i].len, b->items[i].count);
	PG_RETURN_POINTER(a);
}

/* serial form: the number of values, then each: length (-1: NULL), bytes, count */
Datum
luxe_value_counts_serialfn(PG_FUNCTION_ARGS)
{
	ValueCounts *vc = (ValueCounts *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int32		i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "luxe_value_counts_serialfn called in non-aggregate context");
	pq_begintypsend(&buf);
	pq_sendint32(&buf, vc->nitems);
	for (i = 0; i < vc->nitems; i++)
	{
		ValueCount *item = &vc->items[i];

		pq_sendint32(&buf, item->data == NULL ? -1 : item->len);
		if (item->data != NULL)
			pq_sendbytes(&buf, item->data, item->len);
		pq_sendint64(&buf, item->count);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* (the deserialized state lives in the current, per-input-tuple, context) */
Datum
luxe_value_counts_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	ValueCounts *vc;
	int32		n;
	int32		i;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "luxe_value_counts_deserialfn called in non-aggregate context");
	init_state_reader(&buf, b);
	n = pq_getmsgint(&buf, 4);
	/* (each value takes at least its length and its count) */
	if (n < 0 || n > (buf.len - buf.cursor) / 12)
		elog(ERROR, "invalid luxe.value_counts state");
	vc = palloc(sizeof(ValueCounts));
	vc->cxt = CurrentMemoryContext;
	vc->items = palloc(Max(n, 1) * sizeof(ValueCount));
	vc->nitems = n;
	vc->maxitems = n;
	vc->slots = NULL;
	vc->mask = 0;
	vc->null_item = -1;
	for (i = 0; i < n; i++)
	{
		ValueCount *item = &vc->items[i];
		int32		len = pq_getmsgint(&buf, 4);

		item->data = len < 0 ? NULL : unconstify(char *, pq_getmsgbytes(&buf, len));
		item->len = Max(len, 0);
		item->hash = 0;
		item->count = pq_getmsgint64(&buf);
	}
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(vc);
}

/*
 * luxe_value_counts_finalfn
 *		A luxe.value_counts_result row: the values whose weights do not sum
 *		to zero, in the order first seen, and their sums, element by element
 *		(both arrays empty when every sum is zero); NULL for no input.
 */
Datum
luxe_value_counts_finalfn(PG_FUNCTION_ARGS)
{
	ValueCounts *vc;
	TupleDesc	tupdesc;
	Datum	   *items;
	bool	   *item_nulls;
	Datum	   *counts;
	int			dims[1];
	int			lbs[1] = {1};
	int			n = 0;
	int32		i;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	vc = (ValueCounts *) PG_GETARG_POINTER(0);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "luxe_value_counts_finalfn must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	items = palloc(Max(vc->nitems, 1) * sizeof(Datum));
	item_nulls = palloc(Max(vc->nitems, 1) * sizeof(bool));
	counts = palloc(Max(vc->nitems, 1) * sizeof(Datum));
	for (i = 0; i < vc->nitems; i++)
	{
		ValueCount *item = &vc->items[i];

		if (item->count == 0)
			continue;
		item_nulls[n] = item->data == NULL;
		items[n] = item->data == NULL ? (Datum) 0 :
			PointerGetDatum(cstring_to_text_with_len(item->data, item->len));
		counts[n] = Int64GetDatum(item->count);
		n++;
	}
	dims[0] = n;
	values[0] = PointerGetDatum(construct_md_array(items, item_nulls, 1, dims, lbs,
												   TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_md_array(counts, NULL, 1, dims, lbs,
												   INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

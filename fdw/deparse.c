/*-------------------------------------------------------------------------
 *
 * deparse.c
 *		  Decide which parts of a PostgreSQL plan BigQuery may compute, and
 *		  write them as BigQuery Standard SQL.
 *
 * The one rule: an expression is shipped only when BigQuery's result is
 * the one PostgreSQL would have computed.  A query that is slower because
 * a clause stayed local is a nuisance; a query whose answer depends on
 * where a clause ran is a bug.  So the shippability walker
 * (ship_expr) and the generator (deparse_expr) accept exactly the same
 * nodes, and both consult the same operator, function and aggregate
 * tables below; anything not in them stays local.
 *
 * What is shipped:
 *	- column projection (with pushdown 'false' nothing at all: every
 *	  column of every row is read);
 *	- WHERE: Vars of the scanned relation(s); Consts and Params as named
 *	  query parameters @pN (values are never inlined, except NULL, TRUE and
 *	  FALSE); AND/OR/NOT; IS [NOT] NULL; IS [NOT] TRUE/FALSE/UNKNOWN;
 *	  CASE; COALESCE; = <> < <= > >= on integers, numeric, text, bool, date,
 *	  timestamp, timestamptz and time; + - on integers, numeric and float8;
 *	  * on integers and float8; integer / and % as DIV() and MOD();
 *	  float8 /; unary -; LIKE and NOT LIKE; text || text as CONCAT();
 *	  x = ANY(array const) as x IN UNNEST(@pN), x = ANY(ARRAY[...]) as
 *	  x IN (...), and the <> ALL forms as NOT (...);
 *	- functions: lower, upper, btrim/ltrim/rtrim (the one-argument form
 *	  as TRIM(x, ' ') since BigQuery's TRIM(x) strips all whitespace),
 *	  length/char_length/character_length, abs, substr/substring with a
 *	  constant start >= 1, widening integer casts, integer to float8,
 *	  numeric or text, date to timestamp and timestamp to date;
 *	- aggregates: count(*), count(x), count(DISTINCT x), sum over integers
 *	  and float8, avg over float8, min and max, bool_and/every and bool_or,
 *	  each with FILTER; GROUP BY and the shippable part of HAVING;
 *	- ORDER BY with NULLS FIRST/LAST always spelled out (BigQuery's
 *	  defaults are the opposite of PostgreSQL's), LIMIT/OFFSET as INT64
 *	  parameters, and INNER/LEFT/RIGHT/FULL joins.
 *
 * What stays local, and why:
 *	- comparisons of float8 (NaN is equal to itself and greater than every
 *	  number in PostgreSQL, unordered in BigQuery), GROUP BY and
 *	  count(DISTINCT) over float8 for the same reason, and anything of type
 *	  float4 (BigQuery computes in FLOAT64, so results would not be rounded
 *	  to float4);
 *	- text ordering (< <= > >=, ORDER BY, min/max) unless the collation
 *	  sorts by code point ("C", "POSIX", or libc "C.UTF-8" in a UTF8
 *	  database), because BigQuery compares strings by code point; text
 *	  equality, LIKE, GROUP BY and DISTINCT unless the collation is
 *	  deterministic; lower/upper under a "C" ctype (PostgreSQL folds ASCII
 *	  only, BigQuery all of Unicode);
 *	- char(n) (PostgreSQL ignores trailing blanks, BigQuery does not) and
 *	  any type without an exact BigQuery counterpart (json, bytea,
 *	  interval, arrays outside = ANY, domains, ...);
 *	- numeric * and / (BigQuery rounds to 9 decimals), avg over integers or
 *	  numeric (PostgreSQL's numeric result has a different scale from
 *	  BigQuery's FLOAT64 or NUMERIC), sum over numeric (same display-scale
 *	  problem), and min/max over numeric or timestamps with a typmod (the
 *	  local column would round, the remote aggregate would not);
 *	- substr with a start below 1 (PostgreSQL counts positions before the
 *	  string, BigQuery counts from its end);
 *	- grouping sets, ordered-set aggregates and aggregates with ORDER BY;
 *	- user-defined operators and functions, volatile functions, and
 *	  anything outside pg_catalog.
 *
 * Special spellings kept exact: ORDER BY a float8 expression x becomes
 * IS_NAN(x) <dir>, x <dir> so NaN sorts above all numbers as in
 * PostgreSQL; min over float8 becomes
 * COALESCE(MIN(IF(IS_NAN(x), NULL, x)), MIN(x)) since PostgreSQL's min
 * ignores NaN unless nothing else is there; sum(int8) becomes
 * SUM(CAST(x AS NUMERIC)), PostgreSQL's sum(int8) being numeric and never
 * overflowing; agg(x) FILTER (WHERE c) becomes agg(IF(c, x, NULL)) and
 * count(*) FILTER (WHERE c) becomes COUNTIF(c); a GROUP BY key with a
 * parameter (GROUP BY coalesce(x, 'unknown')) is written as its position
 * in the select list, since BigQuery matches a SELECT expression to its
 * GROUP BY key by its text and could not tell two spellings with a
 * parameter apart.
 *
 * Design assumptions: the declared type of each column matches the remote
 * column (integers are INT64, float8 is FLOAT64, numeric is NUMERIC, text
 * and varchar are STRING, timestamp is DATETIME, timestamptz is
 * TIMESTAMP); an integer expression that overflows int4 in PostgreSQL
 * raises an error there but not in BigQuery, which we accept as
 * postgres_fdw accepts the analogous remote differences.  Everything here
 * runs in the planner's memory context and may ereport on catalog lookup
 * failures only.
 *
 * Copyright (c) 2026, luxe_fdw developers
 *
 * IDENTIFICATION
 *		  fdw/deparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <locale.h>

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "deparse.h"
#include "luxe_fdw.h"
#include "option.h"

/* BigQuery value classes of the PostgreSQL types we ship */
typedef enum BqTypeClass
{
	BQT_NONE,					/* no exact counterpart: never shipped */
	BQT_BOOL,
	BQT_INT,
	BQT_FLOAT,
	BQT_NUMERIC,
	BQT_STRING,
	BQT_DATE,
	BQT_DATETIME,
	BQT_TIMESTAMP,
	BQT_TIME
} BqTypeClass;

/* How an operator is spelled in BigQuery */
typedef enum BqOpKind
{
	BQOP_NONE,
	BQOP_INFIX,					/* (a op b) */
	BQOP_DIV,					/* DIV(a, b) */
	BQOP_MOD,					/* MOD(a, b) */
	BQOP_NEGATE,				/* (- a) */
	BQOP_LIKE,					/* (a LIKE b) */
	BQOP_NOT_LIKE,				/* (a NOT LIKE b) */
	BQOP_CONCAT					/* CONCAT(a, b) */
} BqOpKind;

/* How a function is spelled in BigQuery */
typedef enum BqFuncKind
{
	BQF_NONE,
	BQF_CALL,					/* NAME(args) */
	BQF_TRIM_SPACE,				/* NAME(x, ' '): one-argument trims */
	BQF_TRANSPARENT,			/* the argument itself: widening casts */
	BQF_CAST					/* CAST(x AS NAME) */
} BqFuncKind;

/* How an aggregate is spelled in BigQuery */
typedef enum BqAggKind
{
	BQA_NONE,
	BQA_COUNT_STAR,				/* COUNT(*), COUNTIF(filter) */
	BQA_PLAIN,					/* NAME([DISTINCT] x) */
	BQA_SUM_NUMERIC,			/* SUM(CAST(x AS NUMERIC)) */
	BQA_MIN_FLOAT				/* COALESCE(MIN(IF(IS_NAN(x), NULL, x)), MIN(x)) */
} BqAggKind;

/* State of the shippability walker */
typedef struct ShipContext
{
	PlannerInfo *root;
	Relids		relids;			/* Vars of these relations are columns */
	bool		allow_aggs;		/* true for a grouped relation */
	bool		in_case_arg;	/* a CaseTestExpr stands for a CASE arg */
} ShipContext;

/* State of the generator */
typedef struct DeparseContext
{
	PlannerInfo *root;
	RelOptInfo *scanrel;		/* base or join rel whose Vars are columns */
	StringInfo	buf;
	List	  **params;			/* expressions of @p1, @p2, ... */
	Expr	   *case_arg;		/* what a CaseTestExpr stands for */
} DeparseContext;

/* Helper functions */
static BqTypeClass type_class(Oid typid);
static bool collation_is_deterministic(Oid collid);
static bool collation_is_codepoint(Oid collid);
static BqOpKind classify_operator(Oid opno, Oid inputcollid,
								  const char **spelling);
static BqFuncKind classify_function(FuncExpr *fe, const char **spelling);
static BqAggKind classify_aggregate(Aggref *agg, const char **spelling);
static bool ship_expr(Node *node, ShipContext *cxt);
static bool ship_list(List *list, ShipContext *cxt);
static bool contains_parameter_walker(Node *node, void *context);
static bool contains_case_test_walker(Node *node, void *context);
static Node *strip_relabel(Node *node);
static void deparse_expr(Expr *node, DeparseContext *cxt);
static void deparse_var(Var *var, DeparseContext *cxt);
static void deparse_param(Expr *expr, DeparseContext *cxt);
static void deparse_op(OpExpr *op, DeparseContext *cxt);
static void deparse_func(FuncExpr *fe, DeparseContext *cxt);
static void deparse_saop(ScalarArrayOpExpr *saop, DeparseContext *cxt);
static void deparse_case(CaseExpr *ce, DeparseContext *cxt);
static void deparse_aggref(Aggref *agg, DeparseContext *cxt);
static void deparse_conds(List *conds, DeparseContext *cxt);
static void deparse_from(RelOptInfo *rel, DeparseContext *cxt);
static void deparse_base_columns(RelOptInfo *rel, DeparseContext *cxt,
								 List **retrieved_attrs);
static void deparse_order_by(List *pathkeys, RelOptInfo *rel, List *tlist,
							 DeparseContext *cxt);
static void append_bq_identifier(StringInfo buf, const char *ident);
static char *column_name(PlannerInfo *root, Index varno, AttrNumber attno);
static RelOptInfo *scan_rel_of(RelOptInfo *rel);


/*
 * type_class
 *		The BigQuery class of a PostgreSQL type, or BQT_NONE.
 *
 * NB: float4 and bpchar are deliberately absent, see the file header.
 */
static BqTypeClass
type_class(Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
			return BQT_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return BQT_INT;
		case FLOAT8OID:
			return BQT_FLOAT;
		case NUMERICOID:
			return BQT_NUMERIC;
		case TEXTOID:
		case VARCHAROID:
			return BQT_STRING;
		case DATEOID:
			return BQT_DATE;
		case TIMESTAMPOID:
			return BQT_DATETIME;
		case TIMESTAMPTZOID:
			return BQT_TIMESTAMP;
		case TIMEOID:
			return BQT_TIME;
		default:
			return BQT_NONE;
	}
}

/*
 * luxe_deparse_bq_type
 *		The BigQuery query-parameter type of a PostgreSQL type: "INT64",
 *		"ARRAY<STRING>", ...; NULL when we do not send that type.
 *
 * The result is a constant string or palloc'd in the current context.
 */
const char *
luxe_deparse_bq_type(Oid typid)
{
	Oid			elemtype;
	const char *elem;

	switch (type_class(typid))
	{
		case BQT_BOOL:
			return "BOOL";
		case BQT_INT:
			return "INT64";
		case BQT_FLOAT:
			return "FLOAT64";
		case BQT_NUMERIC:
			return "NUMERIC";
		case BQT_STRING:
			return "STRING";
		case BQT_DATE:
			return "DATE";
		case BQT_DATETIME:
			return "DATETIME";
		case BQT_TIMESTAMP:
			return "TIMESTAMP";
		case BQT_TIME:
			return "TIME";
		case BQT_NONE:
			break;
	}

	elemtype = get_element_type(typid);
	if (!OidIsValid(elemtype) || type_is_array(elemtype))
		return NULL;
	elem = luxe_deparse_bq_type(elemtype);
	if (elem == NULL)
		return NULL;
	return psprintf("ARRAY<%s>", elem);
}

/*
 * luxe_deparse_param_types
 *		The BQ_PRIV_PARAMTYPES list for a list of parameter expressions.
 */
List *
luxe_deparse_param_types(List *params)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, params)
	{
		Oid			typid = exprType((Node *) lfirst(lc));
		const char *bqtype = luxe_deparse_bq_type(typid);

		if (bqtype == NULL)
			elog(ERROR, "luxe_fdw: no BigQuery parameter type for type %u",
				 typid);
		result = lappend(result, makeString(pstrdup(bqtype)));
	}
	return result;
}

/*
 * collation_is_deterministic
 *		Does equality under this collation mean equal bytes?
 */
static bool
collation_is_deterministic(Oid collid)
{
	if (!OidIsValid(collid))
		return true;
	return get_collation_isdeterministic(collid);
}

/*
 * collation_is_codepoint
 *		Does this collation order strings by Unicode code point, as BigQuery
 *		does?
 *
 * lc_collate_is_c() knows "C" and "POSIX" only; glibc's C.UTF-8 (built in
 * since glibc 2.35, and Debian's older patch) also sorts by code point,
 * which in UTF-8 is byte order, so we accept it too.  Anything else, ICU
 * included, is assumed to be linguistic.
 */
static bool
collation_is_codepoint(Oid collid)
{
	const char *name = NULL;
	char	   *copy = NULL;
	bool		result;

	if (!OidIsValid(collid) || GetDatabaseEncoding() != PG_UTF8)
		return false;
	if (lc_collate_is_c(collid))
		return true;

	if (collid == DEFAULT_COLLATION_OID)
	{
		if (default_locale.provider == COLLPROVIDER_ICU)
			return false;
		name = setlocale(LC_COLLATE, NULL);
	}
	else
	{
		HeapTuple	tp;
		Form_pg_collation coll;
		Datum		datum;
		bool		isnull;

		tp = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));
		if (!HeapTupleIsValid(tp))
			elog(ERROR, "cache lookup failed for collation %u", collid);
		coll = (Form_pg_collation) GETSTRUCT(tp);
		if (coll->collprovider == COLLPROVIDER_LIBC)
		{
			datum = SysCacheGetAttr(COLLOID, tp, Anum_pg_collation_collcollate,
									&isnull);
			if (!isnull)
				name = copy = TextDatumGetCString(datum);
		}
		ReleaseSysCache(tp);
	}

	result = name != NULL &&
		(pg_strcasecmp(name, "C.UTF-8") == 0 ||
		 pg_strcasecmp(name, "C.utf8") == 0);
	if (copy)
		pfree(copy);
	return result;
}

/*
 * classify_operator
 *		The BigQuery spelling of a built-in operator applied under
 *		inputcollid, or BQOP_NONE when it must stay local.
 */
static BqOpKind
classify_operator(Oid opno, Oid inputcollid, const char **spelling)
{
	HeapTuple	tp;
	Form_pg_operator form;
	BqTypeClass left;
	BqTypeClass right;
	const char *name;
	BqOpKind	kind = BQOP_NONE;

	*spelling = NULL;
	if (opno >= FirstGenbkiObjectId)
		return BQOP_NONE;

	tp = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	form = (Form_pg_operator) GETSTRUCT(tp);
	name = NameStr(form->oprname);
	left = type_class(form->oprleft);
	right = type_class(form->oprright);

	if (form->oprnamespace != PG_CATALOG_NAMESPACE ||
		func_volatile(form->oprcode) == PROVOLATILE_VOLATILE)
		kind = BQOP_NONE;
	else if (form->oprkind == 'l')
	{
		if (strcmp(name, "-") == 0 &&
			(right == BQT_INT || right == BQT_NUMERIC || right == BQT_FLOAT))
			kind = BQOP_NEGATE;
	}
	else if (form->oprkind != 'b' || left == BQT_NONE || left != right)
		kind = BQOP_NONE;
	else if (strcmp(name, "=") == 0 || strcmp(name, "<>") == 0)
	{
		/* NaN equals NaN in PostgreSQL only */
		if (left != BQT_FLOAT &&
			(left != BQT_STRING || collation_is_deterministic(inputcollid)))
		{
			kind = BQOP_INFIX;
			*spelling = name[0] == '=' ? "=" : "!=";
		}
	}
	else if (strcmp(name, "<") == 0 || strcmp(name, "<=") == 0 ||
			 strcmp(name, ">") == 0 || strcmp(name, ">=") == 0)
	{
		if (left != BQT_FLOAT &&
			(left != BQT_STRING || collation_is_codepoint(inputcollid)))
		{
			kind = BQOP_INFIX;
			*spelling = name;
		}
	}
	else if (strcmp(name, "+") == 0 || strcmp(name, "-") == 0)
	{
		if (left == BQT_INT || left == BQT_NUMERIC || left == BQT_FLOAT)
		{
			kind = BQOP_INFIX;
			*spelling = name;
		}
	}
	else if (strcmp(name, "*") == 0)
	{
		/* numeric products may need more than NUMERIC's 9 decimals */
		if (left == BQT_INT || left == BQT_FLOAT)
		{
			kind = BQOP_INFIX;
			*spelling = name;
		}
	}
	else if (strcmp(name, "/") == 0)
	{
		if (left == BQT_INT)
			kind = BQOP_DIV;
		else if (left == BQT_FLOAT)
		{
			kind = BQOP_INFIX;
			*spelling = name;
		}
	}
	else if (strcmp(name, "%") == 0)
	{
		if (left == BQT_INT)
			kind = BQOP_MOD;
	}
	else if (strcmp(name, "~~") == 0 || strcmp(name, "!~~") == 0)
	{
		if (left == BQT_STRING && collation_is_deterministic(inputcollid))
			kind = name[0] == '~' ? BQOP_LIKE : BQOP_NOT_LIKE;
	}
	else if (strcmp(name, "||") == 0)
	{
		if (form->oprleft == TEXTOID && form->oprright == TEXTOID)
			kind = BQOP_CONCAT;
	}

	ReleaseSysCache(tp);
	return kind;
}

/* rank of an integer type, for telling widening casts from narrowing ones */
static int
int_rank(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return 2;
		case INT4OID:
			return 4;
		case INT8OID:
			return 8;
		default:
			return 0;
	}
}

/*
 * classify_function
 *		The BigQuery spelling of a built-in function call, or BQF_NONE.
 *
 * Checks argument values where semantics depend on them (the start of
 * substr), so it must see the FuncExpr, not just its OID.
 */
static BqFuncKind
classify_function(FuncExpr *fe, const char **spelling)
{
	HeapTuple	tp;
	Form_pg_proc form;
	const char *name;
	int			nargs;
	Oid			a0 = InvalidOid;
	Oid			a1 = InvalidOid;
	Oid			a2 = InvalidOid;
	Oid			rettype;
	BqFuncKind	kind = BQF_NONE;

	*spelling = NULL;
	if (fe->funcid >= FirstGenbkiObjectId || fe->funcretset ||
		fe->funcvariadic)
		return BQF_NONE;

	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(fe->funcid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", fe->funcid);
	form = (Form_pg_proc) GETSTRUCT(tp);
	name = NameStr(form->proname);
	nargs = form->pronargs;
	rettype = form->prorettype;
	if (nargs >= 1)
		a0 = form->proargtypes.values[0];
	if (nargs >= 2)
		a1 = form->proargtypes.values[1];
	if (nargs >= 3)
		a2 = form->proargtypes.values[2];

	if (form->pronamespace != PG_CATALOG_NAMESPACE ||
		form->provolatile == PROVOLATILE_VOLATILE ||
		form->prokind != PROKIND_FUNCTION ||
		nargs != list_length(fe->args))
		kind = BQF_NONE;
	else if (nargs == 1)
	{
		if ((strcmp(name, "lower") == 0 || strcmp(name, "upper") == 0) &&
			a0 == TEXTOID)
		{
			/* a "C" ctype folds ASCII only; BigQuery folds all of Unicode */
			if (OidIsValid(fe->inputcollid) && !lc_ctype_is_c(fe->inputcollid))
			{
				kind = BQF_CALL;
				*spelling = name[0] == 'l' ? "LOWER" : "UPPER";
			}
		}
		else if (a0 == TEXTOID && strcmp(name, "btrim") == 0)
		{
			kind = BQF_TRIM_SPACE;
			*spelling = "TRIM";
		}
		else if (a0 == TEXTOID && strcmp(name, "ltrim") == 0)
		{
			kind = BQF_TRIM_SPACE;
			*spelling = "LTRIM";
		}
		else if (a0 == TEXTOID && strcmp(name, "rtrim") == 0)
		{
			kind = BQF_TRIM_SPACE;
			*spelling = "RTRIM";
		}
		else if (a0 == TEXTOID &&
				 (strcmp(name, "length") == 0 ||
				  strcmp(name, "char_length") == 0 ||
				  strcmp(name, "character_length") == 0))
		{
			kind = BQF_CALL;
			*spelling = "LENGTH";
		}
		else if (strcmp(name, "abs") == 0 &&
				 (type_class(a0) == BQT_INT || a0 == NUMERICOID ||
				  a0 == FLOAT8OID))
		{
			kind = BQF_CALL;
			*spelling = "ABS";
		}
		else if (int_rank(a0) > 0 && int_rank(rettype) >= int_rank(a0) &&
				 (strcmp(name, "int2") == 0 || strcmp(name, "int4") == 0 ||
				  strcmp(name, "int8") == 0))
		{
			/* every integer is INT64 remotely, so widening is a no-op */
			kind = BQF_TRANSPARENT;
		}
		else if (int_rank(a0) > 0 && rettype == FLOAT8OID &&
				 strcmp(name, "float8") == 0)
		{
			kind = BQF_CAST;
			*spelling = "FLOAT64";
		}
		else if (int_rank(a0) > 0 && rettype == NUMERICOID &&
				 strcmp(name, "numeric") == 0)
		{
			kind = BQF_CAST;
			*spelling = "NUMERIC";
		}
		else if (a0 == DATEOID && rettype == TIMESTAMPOID &&
				 strcmp(name, "timestamp") == 0)
		{
			kind = BQF_CAST;
			*spelling = "DATETIME";
		}
		else if (a0 == TIMESTAMPOID && rettype == DATEOID &&
				 strcmp(name, "date") == 0)
		{
			kind = BQF_CAST;
			*spelling = "DATE";
		}
	}
	else if (nargs == 2 && a0 == TEXTOID && a1 == TEXTOID)
	{
		if (strcmp(name, "btrim") == 0)
		{
			kind = BQF_CALL;
			*spelling = "TRIM";
		}
		else if (strcmp(name, "ltrim") == 0)
		{
			kind = BQF_CALL;
			*spelling = "LTRIM";
		}
		else if (strcmp(name, "rtrim") == 0)
		{
			kind = BQF_CALL;
			*spelling = "RTRIM";
		}
	}
	else if ((nargs == 2 || nargs == 3) && a0 == TEXTOID && a1 == INT4OID &&
			 (nargs == 2 || a2 == INT4OID) &&
			 (strcmp(name, "substr") == 0 || strcmp(name, "substring") == 0))
	{
		Node	   *start = (Node *) lsecond(fe->args);

		/*
		 * PostgreSQL counts a start below 1 as positions before the string,
		 * BigQuery counts a negative start from the end; they agree from 1.
		 */
		if (IsA(start, Const) && !((Const *) start)->constisnull &&
			((Const *) start)->consttype == INT4OID &&
			DatumGetInt32(((Const *) start)->constvalue) >= 1)
		{
			kind = BQF_CALL;
			*spelling = "SUBSTR";
		}
	}

	ReleaseSysCache(tp);
	return kind;
}

/*
 * classify_aggregate
 *		The BigQuery spelling of a built-in aggregate, or BQA_NONE.
 */
static BqAggKind
classify_aggregate(Aggref *agg, const char **spelling)
{
	HeapTuple	tp;
	Form_pg_proc form;
	const char *name;
	Oid			argtype = InvalidOid;
	BqTypeClass cls = BQT_NONE;
	bool		distinct = agg->aggdistinct != NIL;
	BqAggKind	kind = BQA_NONE;

	*spelling = NULL;
	if (agg->aggfnoid >= FirstGenbkiObjectId)
		return BQA_NONE;

	if (list_length(agg->args) == 1)
	{
		TargetEntry *tle = linitial_node(TargetEntry, agg->args);

		argtype = exprType((Node *) tle->expr);
		cls = type_class(argtype);
	}
	else if (agg->args != NIL)
		return BQA_NONE;

	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(agg->aggfnoid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", agg->aggfnoid);
	form = (Form_pg_proc) GETSTRUCT(tp);
	name = NameStr(form->proname);

	if (form->pronamespace != PG_CATALOG_NAMESPACE)
		kind = BQA_NONE;
	else if (strcmp(name, "count") == 0)
	{
		if (agg->aggstar)
			kind = distinct ? BQA_NONE : BQA_COUNT_STAR;
		else if (!distinct ||
				 (cls != BQT_NONE && cls != BQT_FLOAT &&
				  collation_is_deterministic(agg->inputcollid)))
		{
			kind = BQA_PLAIN;
			*spelling = "COUNT";
		}
	}
	else if (strcmp(name, "sum") == 0)
	{
		/* PostgreSQL's sum(int8) is numeric: sum as NUMERIC, no overflow */
		if (argtype == INT8OID)
			kind = BQA_SUM_NUMERIC;
		else if (argtype == INT2OID || argtype == INT4OID ||
				 (argtype == FLOAT8OID && !distinct))
		{
			kind = BQA_PLAIN;
			*spelling = "SUM";
		}
	}
	else if (strcmp(name, "avg") == 0)
	{
		if (argtype == FLOAT8OID && !distinct)
		{
			kind = BQA_PLAIN;
			*spelling = "AVG";
		}
	}
	else if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0)
	{
		bool		ok = !distinct;

		if (cls == BQT_NONE || cls == BQT_BOOL)
			ok = false;
		else if (cls == BQT_STRING)
			ok = ok && collation_is_codepoint(agg->inputcollid);
		else if (cls == BQT_NUMERIC || cls == BQT_DATETIME ||
				 cls == BQT_TIMESTAMP)
			ok = ok && exprTypmod((Node *) linitial_node(TargetEntry,
														 agg->args)->expr) < 0;
		if (ok && cls == BQT_FLOAT && name[1] == 'i')
			kind = BQA_MIN_FLOAT;
		else if (ok)
		{
			kind = BQA_PLAIN;
			*spelling = name[1] == 'i' ? "MIN" : "MAX";
		}
	}
	else if (cls == BQT_BOOL && !distinct &&
			 (strcmp(name, "bool_and") == 0 || strcmp(name, "every") == 0))
	{
		kind = BQA_PLAIN;
		*spelling = "LOGICAL_AND";
	}
	else if (cls == BQT_BOOL && !distinct && strcmp(name, "bool_or") == 0)
	{
		kind = BQA_PLAIN;
		*spelling = "LOGICAL_OR";
	}

	ReleaseSysCache(tp);
	return kind;
}

/*
 * ship_expr
 *		Can BigQuery compute this expression with PostgreSQL's result?
 *
 * NB: every node accepted here must be handled by deparse_expr, and the
 * other way round.
 */
static bool
ship_expr(Node *node, ShipContext *cxt)
{
	if (node == NULL)
		return true;

	switch (nodeTag(node))
	{
		case T_Var:
			{
				Var		   *var = (Var *) node;

				/* no whole-row or system columns, no outer references */
				return var->varlevelsup == 0 && var->varattno > 0 &&
					bms_is_member(var->varno, cxt->relids);
			}
		case T_Const:
			{
				Const	   *c = (Const *) node;

				return c->constisnull || c->consttype == BOOLOID ||
					type_class(c->consttype) != BQT_NONE;
			}
		case T_Param:
			{
				Param	   *p = (Param *) node;

				return (p->paramkind == PARAM_EXTERN ||
						p->paramkind == PARAM_EXEC) &&
					type_class(p->paramtype) != BQT_NONE;
			}
		case T_RelabelType:
			{
				RelabelType *r = (RelabelType *) node;

				/* varchar <-> text and the like; never into a domain */
				return type_class(r->resulttype) != BQT_NONE &&
					type_class(r->resulttype) ==
					type_class(exprType((Node *) r->arg)) &&
					ship_expr((Node *) r->arg, cxt);
			}
		case T_CoerceViaIO:
			{
				CoerceViaIO *c = (CoerceViaIO *) node;

				/* integer to text prints the same digits */
				return int_rank(exprType((Node *) c->arg)) > 0 &&
					c->resulttype == TEXTOID &&
					ship_expr((Node *) c->arg, cxt);
			}
		case T_OpExpr:
			{
				OpExpr	   *op = (OpExpr *) node;
				const char *spelling;

				if (op->opretset ||
					classify_operator(op->opno, op->inputcollid,
									  &spelling) == BQOP_NONE)
					return false;
				return ship_list(op->args, cxt);
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) node;
				const char *spelling;
				Node	   *arr;

				if (list_length(saop->args) != 2 ||
					classify_operator(saop->opno, saop->inputcollid,
									  &spelling) != BQOP_INFIX ||
					!(saop->useOr ? strcmp(spelling, "=") == 0 :
					  strcmp(spelling, "!=") == 0) ||
					!ship_expr(linitial(saop->args), cxt))
					return false;

				arr = strip_relabel(lsecond(saop->args));
				if (IsA(arr, Const))
				{
					Const	   *c = (Const *) arr;
					ArrayType  *a;

					if (c->constisnull ||
						luxe_deparse_bq_type(c->consttype) == NULL)
						return false;
					a = DatumGetArrayTypeP(c->constvalue);
					/* BigQuery array parameters have one level, no NULLs */
					return ARR_NDIM(a) <= 1 && !array_contains_nulls(a);
				}
				if (IsA(arr, ArrayExpr))
				{
					ArrayExpr  *ae = (ArrayExpr *) arr;

					return !ae->multidims && ae->elements != NIL &&
						ship_list(ae->elements, cxt);
				}
				return false;
			}
		case T_FuncExpr:
			{
				FuncExpr   *fe = (FuncExpr *) node;
				const char *spelling;

				if (classify_function(fe, &spelling) == BQF_NONE)
					return false;
				return ship_list(fe->args, cxt);
			}
		case T_BoolExpr:
			return ship_list(((BoolExpr *) node)->args, cxt);
		case T_NullTest:
			{
				NullTest   *nt = (NullTest *) node;

				return !nt->argisrow && ship_expr((Node *) nt->arg, cxt);
			}
		case T_BooleanTest:
			return ship_expr((Node *) ((BooleanTest *) node)->arg, cxt);
		case T_CoalesceExpr:
			{
				CoalesceExpr *ce = (CoalesceExpr *) node;

				return type_class(ce->coalescetype) != BQT_NONE &&
					ship_list(ce->args, cxt);
			}
		case T_CaseExpr:
			{
				CaseExpr   *ce = (CaseExpr *) node;
				bool		saved = cxt->in_case_arg;
				bool		ok;
				ListCell   *lc;

				if (type_class(ce->casetype) == BQT_NONE)
					return false;
				/*
				 * The arg is printed wherever a WHEN refers to it, so it must
				 * not itself refer to an enclosing CASE's arg.
				 */
				if (ce->arg &&
					(contains_case_test_walker((Node *) ce->arg, NULL) ||
					 !ship_expr((Node *) ce->arg, cxt)))
					return false;
				if (ce->arg)
					cxt->in_case_arg = true;
				ok = ship_expr((Node *) ce->defresult, cxt);
				foreach(lc, ce->args)
				{
					CaseWhen   *cw = lfirst_node(CaseWhen, lc);

					ok = ok && ship_expr((Node *) cw->expr, cxt) &&
						ship_expr((Node *) cw->result, cxt);
				}
				cxt->in_case_arg = saved;
				return ok;
			}
		case T_CaseTestExpr:
			return cxt->in_case_arg;
		case T_Aggref:
			{
				Aggref	   *agg = (Aggref *) node;
				const char *spelling;
				ListCell   *lc;

				if (!cxt->allow_aggs || agg->agglevelsup != 0 ||
					agg->aggsplit != AGGSPLIT_SIMPLE ||
					agg->aggkind != AGGKIND_NORMAL ||
					agg->aggorder != NIL || agg->aggdirectargs != NIL ||
					agg->aggvariadic ||
					classify_aggregate(agg, &spelling) == BQA_NONE)
					return false;
				foreach(lc, agg->args)
				{
					TargetEntry *tle = lfirst_node(TargetEntry, lc);

					if (tle->resjunk || !ship_expr((Node *) tle->expr, cxt))
						return false;
				}
				return ship_expr((Node *) agg->aggfilter, cxt);
			}
		case T_List:
			return ship_list((List *) node, cxt);
		default:
			return false;
	}
}

static bool
ship_list(List *list, ShipContext *cxt)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (!ship_expr((Node *) lfirst(lc), cxt))
			return false;
	}
	return true;
}

static bool
contains_case_test_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, CaseTestExpr))
		return true;
	return expression_tree_walker(node, contains_case_test_walker, context);
}

/* only binary-compatible relabelling, never a value-changing coercion */
static Node *
strip_relabel(Node *node)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node;
}

/* the base or join rel under an upper rel; rel itself otherwise */
static RelOptInfo *
scan_rel_of(RelOptInfo *rel)
{
	while (IS_UPPER_REL(rel))
		rel = ((LuxeBqRelInfo *) luxe_rel_state(rel))->outerrel;
	return rel;
}

/*
 * luxe_deparse_is_shippable
 *		Can expr be computed by BigQuery as part of rel (a base, join or
 *		grouped relation), with PostgreSQL's result?
 */
bool
luxe_deparse_is_shippable(PlannerInfo *root, RelOptInfo *rel, Expr *expr)
{
	ShipContext cxt;

	cxt.root = root;
	cxt.relids = scan_rel_of(rel)->relids;
	cxt.allow_aggs = IS_UPPER_REL(rel);
	cxt.in_case_arg = false;
	return ship_expr((Node *) expr, &cxt);
}

static bool
contains_parameter_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param))
		return true;
	if (IsA(node, Const))
	{
		Const	   *c = (Const *) node;

		return !c->constisnull && c->consttype != BOOLOID;
	}
	return expression_tree_walker(node, contains_parameter_walker, context);
}

/*
 * luxe_deparse_is_groupable
 *		Can expr be a remote GROUP BY key with PostgreSQL's grouping?
 *
 * Grouping is equality, so float8 (NaN) and non-deterministic collations
 * are out.  Keys with parameters are written as select-list positions.
 */
bool
luxe_deparse_is_groupable(PlannerInfo *root, RelOptInfo *rel, Expr *expr)
{
	BqTypeClass cls = type_class(exprType((Node *) expr));

	if (cls == BQT_NONE || cls == BQT_FLOAT)
		return false;
	if (cls == BQT_STRING &&
		!collation_is_deterministic(exprCollation((Node *) expr)))
		return false;
	return luxe_deparse_is_shippable(root, rel, expr);
}

/*
 * luxe_deparse_classify_conds
 *		Split RestrictInfos into those BigQuery evaluates and those we do.
 */
void
luxe_deparse_classify_conds(PlannerInfo *root, RelOptInfo *rel, List *conds,
							List **remote_conds, List **local_conds)
{
	ListCell   *lc;

	*remote_conds = NIL;
	*local_conds = NIL;
	foreach(lc, conds)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (luxe_deparse_is_shippable(root, rel, ri->clause))
			*remote_conds = lappend(*remote_conds, ri);
		else
			*local_conds = lappend(*local_conds, ri);
	}
}

/*
 * luxe_deparse_pathkey_expr
 *		The expression BigQuery should sort by to produce this pathkey on
 *		rel, or NULL when the ordering cannot be shipped.
 *
 * For a grouped rel the member must match an output column that the query
 * sorts by (ORDER BY count(*) and the like); for a base or join rel it
 * must be computable from the rel's columns.  The sort operator must be
 * the natural < or > of a type whose order BigQuery shares.
 */
Expr *
luxe_deparse_pathkey_expr(PlannerInfo *root, RelOptInfo *rel, PathKey *pathkey)
{
	EquivalenceClass *ec = pathkey->pk_eclass;
	ListCell   *lc;

	if (ec->ec_has_volatile)
		return NULL;

	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = lfirst_node(EquivalenceMember, lc);
		Expr	   *expr = em->em_expr;
		BqTypeClass cls;
		Oid			sortop;
		char	   *opname;
		bool		natural;

		if (em->em_is_child || em->em_is_const)
			continue;

		if (IS_UPPER_REL(rel))
		{
			PathTarget *target = rel->reltarget;
			ListCell   *lt;
			int			i = 0;
			bool		found = false;
			bool		grouping = false;
			Expr	   *stripped = expr;
			List	   *pieces;
			ListCell   *lp;

			while (IsA(stripped, RelabelType))
				stripped = ((RelabelType *) stripped)->arg;
			foreach(lt, target->exprs)
			{
				Expr	   *texpr = (Expr *) lfirst(lt);
				Index		sgref = get_pathtarget_sortgroupref(target, i++);

				if (sgref == 0 ||
					get_sortgroupref_clause_noerr(sgref,
												  root->parse->sortClause) == NULL)
					continue;
				while (IsA(texpr, RelabelType))
					texpr = ((RelabelType *) texpr)->arg;
				if (equal(texpr, stripped))
				{
					found = true;
					grouping = get_sortgroupref_clause_noerr(sgref,
															 root->parse->groupClause) != NULL;
					break;
				}
			}
			if (!found)
				continue;

			/*
			 * As in the grouped select list: a column outside an aggregate
			 * is safe only as a whole grouping expression.
			 */
			if (!grouping)
			{
				bool		bare = false;

				pieces = pull_var_clause((Node *) expr,
										 PVC_INCLUDE_AGGREGATES |
										 PVC_INCLUDE_PLACEHOLDERS);
				foreach(lp, pieces)
				{
					if (!IsA(lfirst(lp), Aggref))
						bare = true;
				}
				if (bare)
					continue;
			}
		}
		else if (bms_is_empty(em->em_relids) ||
				 !bms_is_subset(em->em_relids, rel->relids))
			continue;

		if (!luxe_deparse_is_shippable(root, rel, expr))
			continue;

		cls = type_class(exprType((Node *) expr));
		if (cls == BQT_NONE)
			continue;
		if (cls == BQT_STRING && !collation_is_codepoint(ec->ec_collation))
			continue;

		sortop = get_opfamily_member(pathkey->pk_opfamily, em->em_datatype,
									 em->em_datatype, pathkey->pk_strategy);
		if (!OidIsValid(sortop) || sortop >= FirstGenbkiObjectId)
			continue;
		opname = get_opname(sortop);
		natural = opname != NULL &&
			(strcmp(opname, "<") == 0 || strcmp(opname, ">") == 0) &&
			get_op_opfamily_strategy(sortop, pathkey->pk_opfamily) ==
			pathkey->pk_strategy;
		if (!natural)
			continue;
		return expr;
	}
	return NULL;
}

/*
 * luxe_deparse_build_tlist
 *		The fdw_scan_tlist of a join or grouped rel: the columns the remote
 *		query returns, in order.
 */
List *
luxe_deparse_build_tlist(RelOptInfo *rel)
{
	LuxeBqRelInfo *fpinfo = (LuxeBqRelInfo *) luxe_rel_state(rel);
	List	   *tlist;
	ListCell   *lc;

	if (IS_UPPER_REL(rel))
		return fpinfo->grouped_tlist;

	tlist = add_to_flat_tlist(NIL,
							  pull_var_clause((Node *) rel->reltarget->exprs,
											  PVC_RECURSE_PLACEHOLDERS));
	foreach(lc, fpinfo->local_conds)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		tlist = add_to_flat_tlist(tlist,
								  pull_var_clause((Node *) ri->clause,
												  PVC_RECURSE_PLACEHOLDERS));
	}
	return tlist;
}

/*
 * append_bq_identifier
 *		A BigQuery quoted identifier: backticks, with backtick and backslash
 *		escaped by a backslash.
 */
static void
append_bq_identifier(StringInfo buf, const char *ident)
{
	const char *p;

	appendStringInfoChar(buf, '`');
	for (p = ident; *p; p++)
	{
		if (*p == '`' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '`');
}

/* the remote name of a column: its column_name option or its attname */
static char *
column_name(PlannerInfo *root, Index varno, AttrNumber attno)
{
	RangeTblEntry *rte = planner_rt_fetch(varno, root);

	return luxe_option_remote_column(rte->relid, attno);
}

/*
 * luxe_deparse_select
 *		Write the remote SELECT for rel into buf.
 *
 * tlist is the fdw_scan_tlist of a join or grouped rel (NIL for a base
 * rel); remote_conds are the WHERE conditions of a base or join rel, or
 * the HAVING conditions of a grouped rel; pathkeys ask for an ORDER BY and
 * has_limit for LIMIT/OFFSET.  Returns in *retrieved_attrs the IntList
 * described in bq_plan.h and appends the parameter expressions to *params.
 * Everything is palloc'd in the current context.
 */
void
luxe_deparse_select(StringInfo buf, PlannerInfo *root, RelOptInfo *rel,
					List *tlist, List *remote_conds, List *pathkeys,
					bool has_limit, List **retrieved_attrs, List **params)
{
	DeparseContext cxt;
	List	   *quals;
	ListCell   *lc;

	cxt.root = root;
	cxt.scanrel = scan_rel_of(rel);
	cxt.buf = buf;
	cxt.params = params;
	cxt.case_arg = NULL;
	*retrieved_attrs = NIL;

	appendStringInfoString(buf, "SELECT ");
	if (IS_SIMPLE_REL(rel))
		deparse_base_columns(rel, &cxt, retrieved_attrs);
	else
	{
		int			i = 0;

		foreach(lc, tlist)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);

			if (i > 0)
				appendStringInfoString(buf, ", ");
			deparse_expr(tle->expr, &cxt);
			*retrieved_attrs = lappend_int(*retrieved_attrs, ++i);
		}
		if (i == 0)
			appendStringInfoString(buf, "NULL");
	}

	appendStringInfoString(buf, " FROM ");
	deparse_from(cxt.scanrel, &cxt);

	if (IS_UPPER_REL(rel))
		quals = ((LuxeBqRelInfo *) luxe_rel_state(cxt.scanrel))->remote_conds;
	else
		quals = remote_conds;
	if (quals != NIL)
	{
		appendStringInfoString(buf, " WHERE ");
		deparse_conds(quals, &cxt);
	}

	if (IS_UPPER_REL(rel))
	{
		List	   *group = root->parse->groupClause;

		if (group != NIL)
		{
			bool		first = true;

			appendStringInfoString(buf, " GROUP BY ");
			foreach(lc, group)
			{
				SortGroupClause *grp = lfirst_node(SortGroupClause, lc);
				TargetEntry *tle = get_sortgroupclause_tle(grp, tlist);

				if (!first)
					appendStringInfoString(buf, ", ");
				first = false;

				/*
				 * A key with a parameter is named by its position in the
				 * select list: BigQuery could not tell that two spellings
				 * with a parameter are the same expression.
				 */
				if (contains_parameter_walker((Node *) tle->expr, NULL))
					appendStringInfo(buf, "%d", tle->resno);
				else
					deparse_expr(tle->expr, &cxt);
			}
		}
		if (remote_conds != NIL)
		{
			appendStringInfoString(buf, " HAVING ");
			deparse_conds(remote_conds, &cxt);
		}
	}

	if (pathkeys != NIL)
		deparse_order_by(pathkeys, rel, tlist, &cxt);

	if (has_limit)
	{
		Query	   *parse = root->parse;

		appendStringInfoString(buf, " LIMIT ");
		deparse_param((Expr *) parse->limitCount, &cxt);
		if (parse->limitOffset != NULL)
		{
			appendStringInfoString(buf, " OFFSET ");
			deparse_param((Expr *) parse->limitOffset, &cxt);
		}
	}
}

/*
 * deparse_base_columns
 *		The select list of a base-rel scan: the needed columns in attnum
 *		order, or NULL when none is needed (count(*) computed locally).
 */
static void
deparse_base_columns(RelOptInfo *rel, DeparseContext *cxt,
					 List **retrieved_attrs)
{
	LuxeBqRelInfo *fpinfo = (LuxeBqRelInfo *) luxe_rel_state(rel);
	Relation	relation = table_open(fpinfo->relid, NoLock);
	TupleDesc	tupdesc = RelationGetDescr(relation);
	bool		wholerow = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber,
										 fpinfo->attrs_used);
	bool		first = true;
	int			i;

	for (i = 1; i <= tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i - 1);

		if (attr->attisdropped)
			continue;
		if (!wholerow &&
			!bms_is_member(i - FirstLowInvalidHeapAttributeNumber,
						   fpinfo->attrs_used))
			continue;
		if (!first)
			appendStringInfoString(cxt->buf, ", ");
		first = false;
		appendStringInfo(cxt->buf, "r%u.", rel->relid);
		append_bq_identifier(cxt->buf, column_name(cxt->root, rel->relid, i));
		*retrieved_attrs = lappend_int(*retrieved_attrs, i);
	}
	if (first)
		appendStringInfoString(cxt->buf, "NULL");
	table_close(relation, NoLock);
}

/*
 * deparse_from
 *		A FROM item: a table, a query table, or a parenthesised join tree.
 */
static void
deparse_from(RelOptInfo *rel, DeparseContext *cxt)
{
	LuxeBqRelInfo *fpinfo = (LuxeBqRelInfo *) luxe_rel_state(rel);
	StringInfo	buf = cxt->buf;

	if (IS_JOIN_REL(rel))
	{
		RelOptInfo *sides[2];
		const char *jointype;
		int			i;

		sides[0] = fpinfo->outerrel;
		sides[1] = fpinfo->innerrel;
		switch (fpinfo->jointype)
		{
			case JOIN_INNER:
				jointype = "INNER";
				break;
			case JOIN_LEFT:
				jointype = "LEFT OUTER";
				break;
			case JOIN_RIGHT:
				jointype = "RIGHT OUTER";
				break;
			case JOIN_FULL:
				jointype = "FULL OUTER";
				break;
			default:
				elog(ERROR, "luxe_fdw: unsupported join type %d",
					 (int) fpinfo->jointype);
				jointype = NULL;	/* keep compiler quiet */
		}

		for (i = 0; i < 2; i++)
		{
			bool		paren = IS_JOIN_REL(sides[i]);

			if (i == 1)
				appendStringInfo(buf, " %s JOIN ", jointype);
			if (paren)
				appendStringInfoChar(buf, '(');
			deparse_from(sides[i], cxt);
			if (paren)
				appendStringInfoChar(buf, ')');
		}
		appendStringInfoString(buf, " ON (");
		if (fpinfo->joinclauses != NIL)
			deparse_conds(fpinfo->joinclauses, cxt);
		else
			appendStringInfoString(buf, "TRUE");
		appendStringInfoChar(buf, ')');
		return;
	}

	if (fpinfo->query != NULL)
	{
		/* a trailing semicolon would end the statement inside the parens */
		int			len = strlen(fpinfo->query);

		while (len > 0 && (fpinfo->query[len - 1] == ';' ||
						   isspace((unsigned char) fpinfo->query[len - 1])))
			len--;
		{
			/* a comment on the last line would swallow the closing paren */
			const char *tail = fpinfo->query;
			const char *nl;
			char	   *last;

			while ((nl = memchr(tail, '\n', len - (tail - fpinfo->query))) != NULL)
				tail = nl + 1;
			last = pnstrdup(tail, len - (tail - fpinfo->query));
			appendStringInfo(buf, "(%.*s%s)", len, fpinfo->query,
							 (strstr(last, "--") || strchr(last, '#')) ? "\n" : "");
		}
	}
	else
	{
		char	   *path = psprintf("%s.%s.%s", fpinfo->project,
									fpinfo->dataset, fpinfo->table);

		append_bq_identifier(buf, path);
	}
	appendStringInfo(buf, " AS r%u", rel->relid);
}

/* conditions joined by AND; each one parenthesised by deparse_expr */
static void
deparse_conds(List *conds, DeparseContext *cxt)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, conds)
	{
		Expr	   *expr = (Expr *) lfirst(lc);

		if (IsA(expr, RestrictInfo))
			expr = ((RestrictInfo *) expr)->clause;
		if (!first)
			appendStringInfoString(cxt->buf, " AND ");
		first = false;
		if (list_length(conds) > 1)
			appendStringInfoChar(cxt->buf, '(');
		deparse_expr(expr, cxt);
		if (list_length(conds) > 1)
			appendStringInfoChar(cxt->buf, ')');
	}
}

/*
 * deparse_order_by
 *		ORDER BY for the pathkeys, with the NULLS position always spelled
 *		out (BigQuery puts NULLs first ascending, PostgreSQL last).
 */
static void
deparse_order_by(List *pathkeys, RelOptInfo *rel, List *tlist, DeparseContext *cxt)
{
	StringInfo	buf = cxt->buf;
	ListCell   *lc;
	const char *sep = " ORDER BY ";

	foreach(lc, pathkeys)
	{
		PathKey    *pk = lfirst_node(PathKey, lc);
		Expr	   *expr = luxe_deparse_pathkey_expr(cxt->root, rel, pk);
		const char *dir = pk->pk_strategy == BTLessStrategyNumber ?
		"ASC" : "DESC";
		const char *nulls = pk->pk_nulls_first ? "NULLS FIRST" : "NULLS LAST";

		if (expr == NULL)
			elog(ERROR, "luxe_fdw: could not find a shippable sort expression");

		appendStringInfoString(buf, sep);
		sep = ", ";
		if (IS_UPPER_REL(rel) && contains_parameter_walker((Node *) expr, NULL))
		{
			/* a grouping key with a parameter: by position, as in GROUP BY */
			TargetEntry *tle = tlist_member(expr, tlist);

			if (tle == NULL)
				elog(ERROR, "luxe_fdw: sort expression not in the remote select list");
			if (type_class(exprType((Node *) expr)) == BQT_FLOAT)
				elog(ERROR, "luxe_fdw: unexpected float grouping key");
			appendStringInfo(buf, "%d %s %s", tle->resno, dir, nulls);
			continue;
		}
		if (type_class(exprType((Node *) expr)) == BQT_FLOAT)
		{
			/* NaN sorts above every number in PostgreSQL */
			appendStringInfoString(buf, "IS_NAN(");
			deparse_expr(expr, cxt);
			appendStringInfo(buf, ") %s %s, ", dir, nulls);
		}
		deparse_expr(expr, cxt);
		appendStringInfo(buf, " %s %s", dir, nulls);
	}
}

/* @pN for expr, reusing the number of an equal expression */
static void
deparse_param(Expr *expr, DeparseContext *cxt)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, *cxt->params)
	{
		n++;
		if (equal(lfirst(lc), expr))
		{
			appendStringInfo(cxt->buf, "@p%d", n);
			return;
		}
	}
	*cxt->params = lappend(*cxt->params, expr);
	appendStringInfo(cxt->buf, "@p%d", list_length(*cxt->params));
}

static void
deparse_var(Var *var, DeparseContext *cxt)
{
	appendStringInfo(cxt->buf, "r%d.", var->varno);
	append_bq_identifier(cxt->buf,
						 column_name(cxt->root, var->varno, var->varattno));
}

/* comma-separated argument list */
static void
deparse_args(List *args, DeparseContext *cxt)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, args)
	{
		if (!first)
			appendStringInfoString(cxt->buf, ", ");
		first = false;
		deparse_expr((Expr *) lfirst(lc), cxt);
	}
}

static void
deparse_op(OpExpr *op, DeparseContext *cxt)
{
	StringInfo	buf = cxt->buf;
	const char *spelling;
	BqOpKind	kind = classify_operator(op->opno, op->inputcollid, &spelling);

	switch (kind)
	{
		case BQOP_INFIX:
		case BQOP_LIKE:
		case BQOP_NOT_LIKE:
			appendStringInfoChar(buf, '(');
			deparse_expr(linitial(op->args), cxt);
			if (kind == BQOP_INFIX)
				appendStringInfo(buf, " %s ", spelling);
			else
				appendStringInfoString(buf, kind == BQOP_LIKE ?
									   " LIKE " : " NOT LIKE ");
			deparse_expr(lsecond(op->args), cxt);
			appendStringInfoChar(buf, ')');
			break;
		case BQOP_DIV:
		case BQOP_MOD:
		case BQOP_CONCAT:
			appendStringInfoString(buf, kind == BQOP_DIV ? "DIV(" :
								   kind == BQOP_MOD ? "MOD(" : "CONCAT(");
			deparse_args(op->args, cxt);
			appendStringInfoChar(buf, ')');
			break;
		case BQOP_NEGATE:
			appendStringInfoString(buf, "(- ");
			deparse_expr(llast(op->args), cxt);
			appendStringInfoChar(buf, ')');
			break;
		case BQOP_NONE:
			elog(ERROR, "luxe_fdw: operator %u cannot be deparsed", op->opno);
	}
}

static void
deparse_func(FuncExpr *fe, DeparseContext *cxt)
{
	StringInfo	buf = cxt->buf;
	const char *spelling;

	switch (classify_function(fe, &spelling))
	{
		case BQF_CALL:
			appendStringInfo(buf, "%s(", spelling);
			deparse_args(fe->args, cxt);
			appendStringInfoChar(buf, ')');
			break;
		case BQF_TRIM_SPACE:
			/* PostgreSQL trims spaces only; BigQuery's TRIM(x) all blanks */
			appendStringInfo(buf, "%s(", spelling);
			deparse_expr(linitial(fe->args), cxt);
			appendStringInfoString(buf, ", ");
			deparse_param((Expr *) makeConst(TEXTOID, -1,
											 DEFAULT_COLLATION_OID, -1,
											 CStringGetTextDatum(" "),
											 false, false), cxt);
			appendStringInfoChar(buf, ')');
			break;
		case BQF_TRANSPARENT:
			deparse_expr(linitial(fe->args), cxt);
			break;
		case BQF_CAST:
			appendStringInfoString(buf, "CAST(");
			deparse_expr(linitial(fe->args), cxt);
			appendStringInfo(buf, " AS %s)", spelling);
			break;
		case BQF_NONE:
			elog(ERROR, "luxe_fdw: function %u cannot be deparsed", fe->funcid);
	}
}

static void
deparse_saop(ScalarArrayOpExpr *saop, DeparseContext *cxt)
{
	StringInfo	buf = cxt->buf;
	Node	   *arr = strip_relabel(lsecond(saop->args));

	appendStringInfoString(buf, saop->useOr ? "(" : "(NOT (");
	deparse_expr(linitial(saop->args), cxt);
	if (IsA(arr, Const))
	{
		appendStringInfoString(buf, " IN UNNEST(");
		deparse_param((Expr *) arr, cxt);
		appendStringInfoChar(buf, ')');
	}
	else
	{
		appendStringInfoString(buf, " IN (");
		deparse_args(((ArrayExpr *) arr)->elements, cxt);
		appendStringInfoChar(buf, ')');
	}
	appendStringInfoString(buf, saop->useOr ? ")" : "))");
}

static void
deparse_case(CaseExpr *ce, DeparseContext *cxt)
{
	StringInfo	buf = cxt->buf;
	Expr	   *saved = cxt->case_arg;
	ListCell   *lc;

	/*
	 * A simple CASE is written as a searched one: each WHEN compares a
	 * CaseTestExpr, which we print as the (immutable) arg itself.
	 */
	if (ce->arg)
		cxt->case_arg = ce->arg;
	appendStringInfoString(buf, "CASE");
	foreach(lc, ce->args)
	{
		CaseWhen   *cw = lfirst_node(CaseWhen, lc);

		appendStringInfoString(buf, " WHEN ");
		deparse_expr(cw->expr, cxt);
		appendStringInfoString(buf, " THEN ");
		deparse_expr(cw->result, cxt);
	}
	if (ce->defresult)
	{
		appendStringInfoString(buf, " ELSE ");
		deparse_expr(ce->defresult, cxt);
	}
	appendStringInfoString(buf, " END");
	cxt->case_arg = saved;
}

static void
deparse_aggref(Aggref *agg, DeparseContext *cxt)
{
	StringInfo	buf = cxt->buf;
	const char *spelling;
	BqAggKind	kind = classify_aggregate(agg, &spelling);
	const char *distinct = agg->aggdistinct != NIL ? "DISTINCT " : "";
	StringInfoData arg;

	if (kind == BQA_NONE)
		elog(ERROR, "luxe_fdw: aggregate %u cannot be deparsed", agg->aggfnoid);

	if (kind == BQA_COUNT_STAR)
	{
		if (agg->aggfilter)
		{
			appendStringInfoString(buf, "COUNTIF(");
			deparse_expr(agg->aggfilter, cxt);
			appendStringInfoChar(buf, ')');
		}
		else
			appendStringInfoString(buf, "COUNT(*)");
		return;
	}

	/* the argument, with FILTER folded in as IF(filter, x, NULL) */
	initStringInfo(&arg);
	{
		StringInfo	saved = cxt->buf;
		Expr	   *x = linitial_node(TargetEntry, agg->args)->expr;

		cxt->buf = &arg;
		if (agg->aggfilter)
		{
			appendStringInfoString(&arg, "IF(");
			deparse_expr(agg->aggfilter, cxt);
			appendStringInfoString(&arg, ", ");
			deparse_expr(x, cxt);
			appendStringInfoString(&arg, ", NULL)");
		}
		else
			deparse_expr(x, cxt);
		cxt->buf = saved;
	}

	switch (kind)
	{
		case BQA_PLAIN:
			appendStringInfo(buf, "%s(%s%s)", spelling, distinct, arg.data);
			break;
		case BQA_SUM_NUMERIC:
			appendStringInfo(buf, "SUM(%sCAST(%s AS NUMERIC))", distinct,
							 arg.data);
			break;
		case BQA_MIN_FLOAT:
			/* PostgreSQL's min skips NaN unless every value is NaN */
			appendStringInfo(buf,
							 "COALESCE(MIN(IF(IS_NAN(%s), NULL, %s)), MIN(%s))",
							 arg.data, arg.data, arg.data);
			break;
		default:
			break;
	}
	pfree(arg.data);
}

/*
 * deparse_expr
 *		Append the BigQuery text of an expression that ship_expr accepted.
 *
 * Can only ereport on an expression ship_expr would have refused, which
 * is a bug.
 */
static void
deparse_expr(Expr *node, DeparseContext *cxt)
{
	StringInfo	buf = cxt->buf;

	if (node == NULL)
		return;

	switch (nodeTag(node))
	{
		case T_Var:
			deparse_var((Var *) node, cxt);
			break;
		case T_Const:
			{
				Const	   *c = (Const *) node;

				if (c->constisnull)
					appendStringInfoString(buf, "NULL");
				else if (c->consttype == BOOLOID)
					appendStringInfoString(buf, DatumGetBool(c->constvalue) ?
										   "TRUE" : "FALSE");
				else
					deparse_param(node, cxt);
				break;
			}
		case T_Param:
			deparse_param(node, cxt);
			break;
		case T_RelabelType:
			deparse_expr(((RelabelType *) node)->arg, cxt);
			break;
		case T_CoerceViaIO:
			appendStringInfoString(buf, "CAST(");
			deparse_expr(((CoerceViaIO *) node)->arg, cxt);
			appendStringInfoString(buf, " AS STRING)");
			break;
		case T_OpExpr:
			deparse_op((OpExpr *) node, cxt);
			break;
		case T_ScalarArrayOpExpr:
			deparse_saop((ScalarArrayOpExpr *) node, cxt);
			break;
		case T_FuncExpr:
			deparse_func((FuncExpr *) node, cxt);
			break;
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) node;
				ListCell   *lc;
				bool		first = true;

				if (b->boolop == NOT_EXPR)
				{
					appendStringInfoString(buf, "(NOT ");
					deparse_expr(linitial(b->args), cxt);
					appendStringInfoChar(buf, ')');
					break;
				}
				appendStringInfoChar(buf, '(');
				foreach(lc, b->args)
				{
					if (!first)
						appendStringInfoString(buf, b->boolop == AND_EXPR ?
											   " AND " : " OR ");
					first = false;
					deparse_expr((Expr *) lfirst(lc), cxt);
				}
				appendStringInfoChar(buf, ')');
				break;
			}
		case T_NullTest:
			{
				NullTest   *nt = (NullTest *) node;

				appendStringInfoChar(buf, '(');
				deparse_expr(nt->arg, cxt);
				appendStringInfoString(buf, nt->nulltesttype == IS_NULL ?
									   " IS NULL)" : " IS NOT NULL)");
				break;
			}
		case T_BooleanTest:
			{
				BooleanTest *bt = (BooleanTest *) node;
				const char *test = NULL;

				switch (bt->booltesttype)
				{
					case IS_TRUE:
						test = " IS TRUE)";
						break;
					case IS_NOT_TRUE:
						test = " IS NOT TRUE)";
						break;
					case IS_FALSE:
						test = " IS FALSE)";
						break;
					case IS_NOT_FALSE:
						test = " IS NOT FALSE)";
						break;
					case IS_UNKNOWN:
						test = " IS NULL)";
						break;
					case IS_NOT_UNKNOWN:
						test = " IS NOT NULL)";
						break;
				}
				appendStringInfoChar(buf, '(');
				deparse_expr(bt->arg, cxt);
				appendStringInfoString(buf, test);
				break;
			}
		case T_CoalesceExpr:
			appendStringInfoString(buf, "COALESCE(");
			deparse_args(((CoalesceExpr *) node)->args, cxt);
			appendStringInfoChar(buf, ')');
			break;
		case T_CaseExpr:
			deparse_case((CaseExpr *) node, cxt);
			break;
		case T_CaseTestExpr:
			if (cxt->case_arg == NULL)
				elog(ERROR, "luxe_fdw: CASE test outside a CASE");
			deparse_expr(cxt->case_arg, cxt);
			break;
		case T_Aggref:
			deparse_aggref((Aggref *) node, cxt);
			break;
		default:
			elog(ERROR, "luxe_fdw: unsupported expression type for deparse: %d",
				 (int) nodeTag(node));
	}
}

"""A GoogleSQL (BigQuery Standard SQL) front end for the emulator: tokenizer, parser and a
translator to SQLite SQL with BigQuery semantics and BigQuery result types.

Supported (anything else raises SqlError naming the construct, answered as 400 invalidQuery):
- Queries: [WITH name AS (query), ...] SELECT [DISTINCT] items FROM tables, views, WITH names,
  subqueries and [INNER|LEFT|RIGHT|FULL|CROSS] joins, WHERE, GROUP BY (expressions, select-list
  aliases, positions), HAVING, ORDER BY ... NULLS FIRST|LAST, LIMIT/OFFSET; scalar subqueries,
  [NOT] IN (subquery) and [NOT] EXISTS (subquery), correlated or not.
- Aggregates: COUNT([DISTINCT] x | *), COUNTIF, SUM, AVG, MIN, MAX, ANY_VALUE, LOGICAL_AND,
  LOGICAL_OR, with BigQuery's rule that every other select-list, HAVING and ORDER BY column is
  grouped ("... neither grouped nor aggregated").
- Analytic functions: fn(...) OVER ([PARTITION BY ...] [ORDER BY ...] [ROWS|RANGE frame]) for
  COUNT, COUNTIF, SUM, AVG, MIN, MAX, ANY_VALUE, LOGICAL_AND/OR, ROW_NUMBER, RANK, DENSE_RANK,
  PERCENT_RANK, CUME_DIST, NTILE, FIRST_VALUE, LAST_VALUE, NTH_VALUE, LAG, LEAD, and
  PERCENTILE_CONT / PERCENTILE_DISC (OVER (PARTITION BY ...) only), including analytic
  functions over aggregates (SUM(COUNT(*)) OVER (PARTITION BY a) ... GROUP BY a, b).
- Scalars: CAST/SAFE_CAST, arithmetic, DIV, MOD, SAFE_DIVIDE, IEEE_DIVIDE, ABS, ROUND (with
  ROUND_HALF_AWAY_FROM_ZERO / ROUND_HALF_EVEN for NUMERIC/BIGNUMERIC), TRUNC, IS_NAN, IS_INF,
  RAND, COALESCE, IFNULL, NULLIF, IF, CASE, CONCAT/||, LENGTH, LOWER, UPPER, TRIM/LTRIM/RTRIM,
  SUBSTR, REPLACE, STARTS_WITH, ENDS_WITH, STRPOS, REGEXP_CONTAINS/REPLACE/EXTRACT (RE2, see
  bq_re2.py), LIKE, IN, BETWEEN, IS [NOT] NULL/TRUE/FALSE.
- Statements: SELECT; INSERT ... VALUES | query; DELETE; UPDATE; TRUNCATE TABLE;
  CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t (columns) | AS query;
  CREATE [OR REPLACE] VIEW [IF NOT EXISTS] v AS query; DROP TABLE|VIEW [IF EXISTS];
  CREATE SCHEMA [IF NOT EXISTS] [project.]dataset; DROP SCHEMA [IF EXISTS] d [CASCADE|RESTRICT];
  scripts of several statements separated by ';' with BEGIN [TRANSACTION], COMMIT
  [TRANSACTION] and ROLLBACK [TRANSACTION] (parse_script()).

How BigQuery semantics are kept on SQLite (values are stored as described in bq_types.py):
- `/` is FLOAT64 (NUMERIC for NUMERIC operands) division through a function; DIV/MOD too;
  errors such as division by zero fail the query as in BigQuery.
- FLOAT64 arithmetic, comparisons, MIN/MAX/SUM/AVG go through Python functions because a
  NaN is stored as the text 'NaN'; NaN compares unequal to everything (IEEE), MIN and MAX
  return NaN if any input is NaN, and ORDER BY puts NaN after NULL and before -inf.
- NUMERIC/BIGNUMERIC are canonical decimal text; arithmetic, comparisons and aggregates use
  Python's Decimal, ORDER BY uses an order-preserving text key.
- LIKE is case-sensitive with backslash escapes; LOWER/UPPER are Unicode-aware; one-argument
  TRIM removes Unicode White_Space characters; strings compare by code point (SQLite's BINARY
  collation on UTF-8).
- NULLs sort first in ASC and last in DESC unless NULLS FIRST/LAST says otherwise.
- Range variables get generated SQLite aliases (a1, a2, ...; the store's tables are t<N>) and
  subquery columns positional names (c0, c1, ...), so user names never collide inside the
  generated SQL.

Bytes processed: the compiler records which base-table columns a statement reads, and only
those (a subquery's, view's or WITH query's columns count only when the outer query uses them,
as BigQuery prunes them); bq_store.py sizes them with BigQuery's data-size rules.
"""

import base64
import collections
import json
import math
import random
import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from fractions import Fraction

from . import bq_re2
from . import bq_types as T
# =============================================================================================
# errors and types
# =============================================================================================


class SqlError(Exception):
    """An invalid or unsupported query (400 invalidQuery); `pos` is (line, column) or None."""

    def __init__(self, message, pos=None):
        if pos:
            message = "%s at [%d:%d]" % (message, pos[0], pos[1])
        super().__init__(message)
        self.message = message


class QueryRuntimeError(Exception):
    """A failure while the query runs (division by zero, a bad cast...)."""


class Ty:
    """The type of an expression: canonical scalar type, mode, STRUCT fields."""

    __slots__ = ("type", "mode", "fields")

    def __init__(self, type_, mode="NULLABLE", fields=None):
        self.type = type_
        self.mode = mode
        self.fields = fields or []

    @property
    def repeated(self):
        return self.mode == "REPEATED"

    def field(self, name):
        return T.Field(name, "INT64" if self.type == "NULL" else self.type,
                       "REPEATED" if self.repeated else "NULLABLE", self.fields)

    @staticmethod
    def of(field):
        return Ty(field.type, "REPEATED" if field.repeated else "NULLABLE", field.fields)

    def __repr__(self):
        return "Ty(%s%s)" % (self.type, ", REPEATED" if self.repeated else "")


NUMERIC_KINDS = ("INT64", "NUMERIC", "BIGNUMERIC", "FLOAT64")


def supertype(types, what="expression"):
    ts = [t for t in types if t.type != "NULL"]
    if not ts:
        return Ty("NULL")
    names = {t.type for t in ts}
    if len(names) == 1:
        return ts[0]
    if names <= set(NUMERIC_KINDS):
        for n in ("FLOAT64", "BIGNUMERIC", "NUMERIC"):
            if n in names:
                return Ty(n)
    if names <= {"DATE", "DATETIME"}:
        return Ty("DATETIME")
    raise SqlError("No matching signature for %s: types %s have no common supertype"
                   % (what, ", ".join(sorted(names))))


# =============================================================================================
# tokenizer
# =============================================================================================

KEYWORDS = {
    "ALL", "AND", "ANY", "ARRAY", "AS", "ASC", "BETWEEN", "BY", "CASE", "CAST", "CROSS",
    "DEFAULT", "DELETE", "DESC", "DISTINCT", "ELSE", "END", "EXCEPT", "EXISTS", "FALSE", "FIRST",
    "FOR", "FROM", "FULL", "GROUP", "HAVING", "IF", "IN", "INNER", "INSERT", "INTERSECT",
    "INTERVAL", "INTO", "IS", "JOIN", "LAST", "LEFT", "LIKE", "LIMIT", "MERGE", "NOT", "NULL",
    "NULLS", "OFFSET", "ON", "OR", "ORDER", "OUTER", "OVER", "QUALIFY", "RIGHT", "SELECT", "SET",
    "STRUCT", "TABLE", "THEN", "TRUE", "TRUNCATE", "UNION", "UNNEST", "UPDATE", "USING",
    "VALUES", "WHEN", "WHERE", "WINDOW", "WITH", "SAFE_CAST",
}
# Words that are keywords only where the grammar expects them (they may name columns).
SOFT = {"FIRST", "LAST", "NULLS", "TABLE", "TRUNCATE", "DELETE", "INSERT", "UPDATE", "VALUES",
        "SET", "INTO", "OFFSET", "IF", "DEFAULT", "MERGE"}

_ESC = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a",
        "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?"}


class Tok:
    __slots__ = ("kind", "value", "pos", "quoted", "off")

    def __init__(self, kind, value, pos, quoted=False, off=0):
        self.kind = kind      # ident kw str bytes int float param qparam op eof
        self.value = value
        self.pos = pos        # (line, column), 1-based
        self.quoted = quoted
        self.off = off        # character offset in the SQL text

    def __repr__(self):
        return "%s:%r" % (self.kind, self.value)


def _unescape(body, raw, pos):
    if raw:
        return body
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise SqlError("Illegal escape sequence", pos)
        e = body[i]
        if e in _ESC:
            out.append(_ESC[e])
            i += 1
        elif e in "xX":
            out.append(chr(int(body[i + 1:i + 3], 16)))
            i += 3
        elif e == "u":
            out.append(chr(int(body[i + 1:i + 5], 16)))
            i += 5
        elif e == "U":
            out.append(chr(int(body[i + 1:i + 9], 16)))
            i += 9
        elif e in "01234567":
            out.append(chr(int(body[i:i + 3], 8)))
            i += 3
        else:
            raise SqlError("Illegal escape sequence: \\%s" % e, pos)
    return "".join(out)


def tokenize(sql):
    toks, i, n = [], 0, len(sql)
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", sql)]

    def pos_of(k):
        ln = 0
        while ln + 1 < len(line_starts) and line_starts[ln + 1] <= k:
            ln += 1
        return (ln + 1, k - line_starts[ln] + 1)

    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
            continue
        if sql.startswith("--", i) or c == "#":
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise SqlError("Syntax error: Unclosed comment", pos_of(i))
            i = j + 2
            continue
        p = pos_of(i)
        m = re.match(r"([rRbB]{0,2})('''|\"\"\"|'|\")", sql[i:])
        if m and (m.group(1) == "" or not (sql[i + len(m.group(1)) - 1:i + len(m.group(1))].isalnum() and False)):
            prefix, q = m.group(1).lower(), m.group(2)
            if prefix and (len(prefix) != len(set(prefix))):
                m = None
        if m:
            start_i = i
            j = i + len(prefix) + len(q)
            start = j
            while True:
                if j >= n:
                    raise SqlError("Syntax error: Unclosed string literal", p)
                if sql[j] == "\\":  # escaped character; in raw strings too a \\ keeps the quote
                    j += 2
                    continue
                if sql.startswith(q, j):
                    break
                if len(q) == 1 and sql[j] == "\n":
                    raise SqlError("Syntax error: Unclosed string literal", p)
                j += 1
            body = _unescape(sql[start:j], "r" in prefix, p)
            i = j + len(q)
            if "b" in prefix:
                toks.append(Tok("bytes", body.encode("latin-1", "replace") if all(ord(ch) < 256 for ch in body)
                                else body.encode("utf-8"), p, off=start_i))
            else:
                toks.append(Tok("str", body, p, off=start_i))
            continue
        if c == "`":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise SqlError("Syntax error: Unclosed identifier literal", p)
                if sql[j] == "\\" and j + 1 < n:
                    buf.append(_ESC.get(sql[j + 1], sql[j + 1]))
                    j += 2
                    continue
                if sql[j] == "`":
                    break
                buf.append(sql[j])
                j += 1
            toks.append(Tok("ident", "".join(buf), p, quoted=True, off=i))
            i = j + 1
            continue
        m = re.match(r"0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", sql[i:])
        if m and (c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit())):
            text = m.group(0)
            if text.lower().startswith("0x"):
                toks.append(Tok("int", int(text, 16), p, off=i))
            elif re.fullmatch(r"\d+", text):
                toks.append(Tok("int", int(text), p, off=i))
            else:
                toks.append(Tok("float", float(text), p, off=i))
            i += len(text)
            continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", sql[i:])
        if m:
            w = m.group(0)
            i += len(w)
            if w.upper() in KEYWORDS:
                toks.append(Tok("kw", w.upper(), p, off=i - len(w)))
            else:
                toks.append(Tok("ident", w, p, off=i - len(w)))
            continue
        if c == "@":
            m = re.match(r"@@?([A-Za-z_][A-Za-z0-9_]*|`[^`]+`)", sql[i:])
            if not m or m.group(0).startswith("@@"):
                raise SqlError("Syntax error: Unexpected \"@\"", p)
            toks.append(Tok("param", m.group(1).strip("`"), p, off=i))
            i += len(m.group(0))
            continue
        if c == "?":
            toks.append(Tok("qparam", None, p, off=i))
            i += 1
            continue
        for op in ("<=", ">=", "!=", "<>", "||", "<<", ">>", "=", "<", ">", "+", "-", "*", "/",
                   "(", ")", ",", ".", ";", "[", "]", "&", "|", "^", "~"):
            if sql.startswith(op, i):
                toks.append(Tok("op", op, p, off=i))
                i += len(op)
                break
        else:
            raise SqlError("Syntax error: Illegal input character \"%s\"" % c, p)
    toks.append(Tok("eof", None, pos_of(n), off=n))
    return toks




# =============================================================================================
# parser -> AST (tuples)
# =============================================================================================


class Select:
    def __init__(self):
        self.distinct = False
        self.items = []        # (expr | ("star", qualifier|None), alias|None)
        self.from_ = None
        self.where = None
        self.group = []
        self.having = None
        self.order = []        # (expr, desc, nulls_first|None)
        self.limit = None
        self.offset = None
        self.pos = None
        self.ctes = []         # WITH: (name, query, pos), visible to the query and later ones


# Statement words that are not GoogleSQL statements the emulator runs; named in the error.
_UNSUPPORTED_STATEMENTS = {
    "DECLARE": "DECLARE (script variables)", "CALL": "CALL (procedures)", "EXECUTE": "EXECUTE IMMEDIATE",
    "WHILE": "WHILE loops", "LOOP": "LOOP", "REPEAT": "REPEAT loops", "FOR": "FOR ... IN loops",
    "ASSERT": "ASSERT", "RAISE": "RAISE", "RETURN": "RETURN", "BREAK": "BREAK", "LEAVE": "LEAVE",
    "CONTINUE": "CONTINUE", "ITERATE": "ITERATE", "ALTER": "ALTER statements", "EXPORT": "EXPORT DATA",
    "LOAD": "LOAD DATA", "GRANT": "GRANT", "REVOKE": "REVOKE", "UNDROP": "UNDROP", "CASE": "CASE statements",
}

_WINDOW_FUNCTIONS = {"ROW_NUMBER", "RANK", "DENSE_RANK", "PERCENT_RANK", "CUME_DIST", "NTILE",
                     "FIRST_VALUE", "LAST_VALUE", "NTH_VALUE", "LAG", "LEAD", "PERCENTILE_CONT",
                     "PERCENTILE_DISC"}


class Parser:
    def __init__(self, sql):
        self.sql = sql
        self.toks = tokenize(sql)
        self.i = 0
        self.qparams = 0

    # -- helpers --
    @property
    def t(self):
        return self.toks[self.i]

    def peek(self, k=1):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_kw(self, *words, tok=None):
        tok = tok or self.t
        if tok.kind == "kw" and tok.value in words:
            return True
        return tok.kind == "ident" and not tok.quoted and tok.value.upper() in words and tok.value.upper() in SOFT

    def accept_kw(self, *words):
        if self.is_kw(*words):
            return self.next().value.upper()
        return None

    def expect_kw(self, word):
        if not self.accept_kw(word):
            self.error("Expected keyword %s" % word)

    def is_word(self, *words, tok=None):
        """An unquoted identifier or keyword spelled as one of `words` (grammar words such as
        PARTITION, ROWS, CREATE that the tokenizer leaves as identifiers)."""
        tok = tok or self.t
        return tok.kind in ("ident", "kw") and not tok.quoted and str(tok.value).upper() in words

    def accept_word(self, *words):
        if self.is_word(*words):
            return self.next().value.upper()
        return None

    def expect_word(self, word):
        if not self.accept_word(word):
            self.error("Expected keyword %s" % word)

    def is_op(self, op, tok=None):
        tok = tok or self.t
        return tok.kind == "op" and tok.value == op

    def accept_op(self, op):
        if self.is_op(op):
            return self.next()
        return None

    def expect_op(self, op):
        if not self.accept_op(op):
            self.error("Expected \"%s\"" % op)

    def error(self, msg=None):
        tok = self.t
        got = "end of input" if tok.kind == "eof" else (
            "keyword %s" % tok.value if tok.kind == "kw" else
            "identifier %s" % tok.value if tok.kind == "ident" else
            "\"%s\"" % (tok.value,))
        raise SqlError("Syntax error: %s but got %s" % (msg or "Unexpected", got) if msg
                       else "Syntax error: Unexpected %s" % got, tok.pos)

    def unsupported(self, what, tok=None):
        raise SqlError("Unsupported in the luxe BigQuery emulator: %s" % what, (tok or self.t).pos)

    def is_ident_word(self, w, tok=None):
        tok = tok or self.t
        return tok.kind == "ident" and not tok.quoted and tok.value.upper() == w

    # -- scripts and statements --
    def script(self):
        """[(statement, text, pos)] for the ';'-separated statements of the SQL text."""
        out = []
        while True:
            if self.t.kind == "eof":
                break
            tok = self.t
            stmt = self.statement()
            out.append((stmt, self.sql[tok.off:self.t.off].strip(), tok.pos))
            if self.accept_op(";"):
                continue
            if self.t.kind != "eof":
                if self.is_kw("UNION", "INTERSECT", "EXCEPT"):
                    self.unsupported("set operation %s" % self.t.value)
                self.error("Expected end of input")
        if not out:
            raise SqlError("Syntax error: Unexpected end of script", self.t.pos)
        return out

    def statement(self):
        tok = self.t
        if self.is_kw("WITH", "SELECT") or self.is_op("("):
            return ("select", self.query())
        if self.is_kw("TRUNCATE"):
            self.next()
            self.expect_kw("TABLE")
            return ("truncate", self.table_path())
        if self.is_kw("DELETE"):
            self.next()
            self.accept_kw("FROM")
            path = self.table_path()
            alias = self.opt_alias()
            if not self.accept_kw("WHERE"):
                self.error("DELETE must have a WHERE clause; expected keyword WHERE")
            return ("delete", path, alias, self.expr())
        if self.is_kw("UPDATE"):
            self.next()
            path = self.table_path()
            alias = self.opt_alias()
            self.expect_kw("SET")
            sets = []
            while True:
                col = self.ident_path()
                self.expect_op("=")
                sets.append((col, self.expr()))
                if not self.accept_op(","):
                    break
            if self.is_kw("FROM"):
                self.unsupported("UPDATE ... FROM")
            if not self.accept_kw("WHERE"):
                self.error("UPDATE must have a WHERE clause; expected keyword WHERE")
            return ("update", path, alias, sets, self.expr())
        if self.is_kw("INSERT"):
            self.next()
            self.accept_kw("INTO")
            path = self.table_path()
            cols = None
            if self.is_op("(") and not self.is_kw("SELECT", "WITH", tok=self.peek()) \
                    and not self.is_op("(", self.peek()):
                self.next()
                cols = [self.ident()]
                while self.accept_op(","):
                    cols.append(self.ident())
                self.expect_op(")")
            if self.accept_kw("VALUES"):
                rows = []
                while True:
                    self.expect_op("(")
                    row = [self.expr()]
                    while self.accept_op(","):
                        row.append(self.expr())
                    self.expect_op(")")
                    rows.append(row)
                    if not self.accept_op(","):
                        break
                return ("insert", path, cols, rows, None)
            return ("insert", path, cols, None, self.query())
        if self.is_word("CREATE"):
            return self.create()
        if self.is_word("DROP"):
            return self.drop()
        if self.is_word("BEGIN", "START"):
            word = self.next().value.upper()
            if word == "START":
                self.expect_word("TRANSACTION")
            elif not self.accept_word("TRANSACTION") and not (self.is_op(";") or self.t.kind == "eof"):
                self.unsupported("BEGIN ... END blocks", tok)
            return ("begin",)
        if self.is_word("COMMIT"):
            self.next()
            self.accept_word("TRANSACTION")
            return ("commit",)
        if self.is_word("ROLLBACK"):
            self.next()
            self.accept_word("TRANSACTION")
            return ("rollback",)
        if self.is_kw("MERGE"):
            self.unsupported("MERGE statement")
        if self.is_kw("SET") or self.is_kw("IF"):
            self.unsupported("%s (scripting)" % self.t.value.upper())
        if tok.kind in ("ident", "kw") and not tok.quoted and str(tok.value).upper() in _UNSUPPORTED_STATEMENTS:
            self.unsupported(_UNSUPPORTED_STATEMENTS[str(tok.value).upper()])
        if tok.kind == "eof":
            raise SqlError("Syntax error: Unexpected end of script", tok.pos)
        raise SqlError("Syntax error: Unexpected %s" % (
            "keyword %s" % tok.value if tok.kind == "kw" else "identifier \"%s\"" % tok.value
            if tok.kind == "ident" else "\"%s\"" % (tok.value,)), tok.pos)

    # -- DDL --
    def create(self):
        start = self.next()  # CREATE
        opts = {"replace": False, "if_not_exists": False}
        if self.accept_kw("OR"):
            self.expect_word("REPLACE")
            opts["replace"] = True
        if self.is_word("TEMP", "TEMPORARY"):
            self.unsupported("CREATE TEMP TABLE")
        if self.accept_word("SCHEMA"):
            if opts["replace"]:
                raise SqlError("Syntax error: Expected keyword FUNCTION or keyword TABLE but got keyword SCHEMA",
                               start.pos)
            if self.accept_kw("IF"):
                self.expect_kw("NOT")
                self.expect_kw("EXISTS")
                opts["if_not_exists"] = True
            path = self.table_path()
            if self.is_word("DEFAULT", "OPTIONS"):
                self.unsupported("CREATE SCHEMA ... %s" % self.t.value.upper())
            return ("create_schema", path, opts)
        if self.is_word("MATERIALIZED", "EXTERNAL", "SNAPSHOT", "FUNCTION", "PROCEDURE",
                        "MODEL", "ROW", "SEARCH", "VECTOR", "AGGREGATE", "CAPACITY", "RESERVATION"):
            self.unsupported("CREATE %s" % self.t.value.upper())
        if self.accept_kw("TABLE"):
            kind = "table"
        elif self.accept_word("VIEW"):
            kind = "view"
        else:
            self.error("Expected TABLE or VIEW")
        if self.accept_kw("IF"):
            self.expect_kw("NOT")
            self.expect_kw("EXISTS")
            opts["if_not_exists"] = True
        if opts["replace"] and opts["if_not_exists"]:
            raise SqlError("CREATE %s cannot have both OR REPLACE and IF NOT EXISTS" % kind.upper(), start.pos)
        path = self.table_path()
        if kind == "table":
            cols = None
            if self.is_kw("LIKE") or self.is_word("COPY", "CLONE"):
                self.unsupported("CREATE TABLE %s" % self.t.value.upper())
            if self.accept_op("("):
                cols = []
                while True:
                    tok = self.t
                    name = self.ident()
                    ftype = self.column_type()
                    mode = ftype.mode
                    if self.accept_kw("NOT"):
                        self.expect_kw("NULL")
                        if mode == "REPEATED":
                            raise SqlError("NOT NULL cannot be applied to ARRAY column %s" % name, tok.pos)
                        mode = "REQUIRED"
                    if self.is_kw("DEFAULT") or self.is_word("OPTIONS", "PRIMARY", "REFERENCES", "COLLATE"):
                        self.unsupported("column %s" % self.t.value.upper())
                    cols.append(T.Field(name, ftype.type, mode, ftype.fields))
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
            for word in ("PARTITION", "CLUSTER", "OPTIONS", "DEFAULT"):
                if self.is_word(word):
                    self.unsupported("CREATE TABLE ... %s" % word)
            query = None
            if self.accept_kw("AS"):
                query = self.query()
            if cols is None and query is None:
                raise SqlError("CREATE TABLE needs a column list or AS query", start.pos)
            return ("create_table", path, opts, cols, query)
        if self.is_op("("):
            self.unsupported("CREATE VIEW with a column list")
        if self.is_word("OPTIONS"):
            self.unsupported("CREATE VIEW ... OPTIONS")
        self.expect_kw("AS")
        qtok = self.t
        query = self.query()
        return ("create_view", path, opts, query, self.sql[qtok.off:self.t.off].strip())

    def column_type(self):
        """A column type of CREATE TABLE as a Ty (ARRAY -> REPEATED, STRUCT -> fields)."""
        tok = self.t
        if self.is_kw("ARRAY"):
            self.next()
            self.expect_op("<")
            inner = self.column_type()
            self.expect_op(">")
            if inner.repeated:
                raise SqlError("Arrays of arrays are not supported", tok.pos)
            return Ty(inner.type, "REPEATED", inner.fields)
        if self.is_kw("STRUCT"):
            self.next()
            self.expect_op("<")
            fields = []
            while True:
                name = self.ident()
                ft = self.column_type()
                fields.append(T.Field(name, ft.type, ft.mode, ft.fields))
                if not self.accept_op(","):
                    break
            self.expect_op(">")
            return Ty("STRUCT", "NULLABLE", fields)
        return Ty(self.type_name(allow_struct=False))

    def drop(self):
        self.next()  # DROP
        if self.accept_word("SCHEMA"):
            if_exists = False
            if self.accept_kw("IF"):
                self.expect_kw("EXISTS")
                if_exists = True
            path = self.table_path()
            cascade = False
            if self.accept_word("CASCADE"):
                cascade = True
            else:
                self.accept_word("RESTRICT")
            return ("drop_schema", path, if_exists, cascade)
        if self.accept_kw("TABLE"):
            kind = "TABLE"
        elif self.accept_word("VIEW"):
            kind = "VIEW"
        else:
            self.unsupported("DROP %s" % (self.t.value if self.t.kind != "eof" else ""))
        if_exists = False
        if self.accept_kw("IF"):
            self.expect_kw("EXISTS")
            if_exists = True
        return ("drop", kind, self.table_path(), if_exists)

    # -- queries --
    def query(self):
        ctes = []
        if self.accept_kw("WITH"):
            if self.is_word("RECURSIVE"):
                self.unsupported("WITH RECURSIVE")
            while True:
                tok = self.t
                name = self.ident()
                self.expect_kw("AS")
                self.expect_op("(")
                ctes.append((name, self.query(), tok.pos))
                self.expect_op(")")
                if not self.accept_op(","):
                    break
        if self.accept_op("("):
            q = self.query()
            self.expect_op(")")
            if q.ctes and ctes:
                q = self._wrap(q)
            if self.is_kw("ORDER", "LIMIT"):
                q = self._wrap(q)
                self.order_limit(q)
        else:
            q = self.select()
        if self.is_kw("UNION", "INTERSECT", "EXCEPT"):
            self.unsupported("set operation %s" % self.t.value)
        if ctes:
            q.ctes = ctes + q.ctes
        return q

    @staticmethod
    def _wrap(q):
        """SELECT * FROM (q): an outer query for a parenthesised one."""
        s = Select()
        s.pos = q.pos
        s.items = [(("star", None), None)]
        s.from_ = ("subq", q, None)
        return s

    def select(self):
        s = Select()
        s.pos = self.t.pos
        self.expect_kw("SELECT")
        if self.accept_kw("DISTINCT"):
            s.distinct = True
        else:
            self.accept_kw("ALL")
        if self.is_kw("AS") and (self.is_kw("STRUCT", tok=self.peek()) or self.is_word("VALUE", tok=self.peek())):
            self.unsupported("SELECT AS STRUCT/VALUE")
        while True:
            if self.is_op("*"):
                self.next()
                if self.is_kw("EXCEPT") or self.is_ident_word("REPLACE"):
                    self.unsupported("SELECT * EXCEPT/REPLACE")
                s.items.append((("star", None), None))
            elif (self.t.kind == "ident" and self.is_op(".", self.peek()) and self.is_op("*", self.peek(2))):
                q = self.next().value
                self.next()
                self.next()
                if self.is_kw("EXCEPT") or self.is_ident_word("REPLACE"):
                    self.unsupported("SELECT * EXCEPT/REPLACE")
                s.items.append((("star", q), None))
            else:
                e = self.expr()
                s.items.append((e, self.opt_alias()))
            if not self.accept_op(","):
                break
        if self.accept_kw("FROM"):
            s.from_ = self.from_clause()
        if self.accept_kw("WHERE"):
            s.where = self.expr()
        if self.accept_kw("GROUP"):
            self.expect_kw("BY")
            if self.is_ident_word("ROLLUP") or self.is_ident_word("CUBE") or self.is_ident_word("GROUPING"):
                self.unsupported("GROUP BY ROLLUP/CUBE/GROUPING SETS")
            s.group = [self.expr()]
            while self.accept_op(","):
                s.group.append(self.expr())
        if self.accept_kw("HAVING"):
            s.having = self.expr()
        if self.is_kw("QUALIFY", "WINDOW"):
            self.unsupported(self.t.value)
        self.order_limit(s)
        return s

    def order_limit(self, s):
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            s.order = self.order_items()
        if self.accept_kw("LIMIT"):
            s.limit = self.primary()
            if self.accept_kw("OFFSET"):
                s.offset = self.primary()

    def order_items(self):
        out = []
        while True:
            e = self.expr()
            desc = False
            if self.accept_kw("DESC"):
                desc = True
            else:
                self.accept_kw("ASC")
            nulls = None
            if self.accept_kw("NULLS"):
                w = self.accept_kw("FIRST", "LAST")
                if not w:
                    self.error("Expected FIRST or LAST")
                nulls = w == "FIRST"
            out.append((e, desc, nulls))
            if not self.accept_op(","):
                return out

    def opt_alias(self):
        if self.accept_kw("AS"):
            return self.ident()
        if self.t.kind == "ident":
            if self.t.value.upper() in SOFT and not self.t.quoted:
                return None
            return self.next().value
        return None

    def ident(self):
        tok = self.t
        if tok.kind == "ident":
            self.next()
            return tok.value
        self.error("Expected an identifier")

    def ident_path(self):
        parts = [self.ident()]
        while self.is_op(".") and self.peek().kind == "ident":
            self.next()
            parts.append(self.next().value)
        return parts

    def table_path(self):
        tok = self.t
        if tok.kind != "ident":
            self.error("Expected a table name")
        parts = [self.ident()]
        # unquoted project ids may contain dashes: my-project.ds.t
        while self.is_op("-") and self.peek().kind in ("ident", "int") and not tok.quoted and len(parts) == 1 \
                and self.peek().off == self.t.off + 1:
            self.next()
            parts[0] += "-" + str(self.next().value)
        while self.is_op(".") and self.peek().kind == "ident":
            self.next()
            parts.append(self.next().value)
        out = []
        for p in parts:
            out.extend(p.split("."))
        return (out, tok.pos)

    def from_clause(self):
        left = self.from_item()
        while True:
            if self.accept_op(","):
                right = self.from_item()
                left = ("join", "CROSS", left, right, None)
                continue
            kind = None
            if self.accept_kw("CROSS"):
                kind = "CROSS"
            elif self.accept_kw("INNER"):
                kind = "INNER"
            elif self.accept_kw("LEFT"):
                self.accept_kw("OUTER")
                kind = "LEFT"
            elif self.accept_kw("RIGHT"):
                self.accept_kw("OUTER")
                kind = "RIGHT"
            elif self.accept_kw("FULL"):
                self.accept_kw("OUTER")
                kind = "FULL"
            elif self.is_kw("JOIN"):
                kind = "INNER"
            if kind is None:
                return left
            self.expect_kw("JOIN")
            right = self.from_item()
            on = None
            if kind != "CROSS":
                if self.accept_kw("USING"):
                    self.unsupported("JOIN ... USING")
                self.expect_kw("ON")
                on = self.expr()
            left = ("join", kind, left, right, on)

    def from_item(self):
        if self.is_op("("):
            # a subquery, or a parenthesised join
            k = 1
            while self.is_op("(", self.peek(k)):
                k += 1
            if self.is_kw("SELECT", "WITH", tok=self.peek(k)):
                save = self.i
                self.next()
                try:
                    q = self.query()
                    self.expect_op(")")
                    return ("subq", q, self.opt_alias())
                except SqlError:
                    self.i = save
            self.next()
            inner = self.from_clause()
            self.expect_op(")")
            if self.is_kw("AS") or (self.t.kind == "ident" and self.t.value.upper() not in SOFT):
                self.unsupported("an alias on a parenthesised join")
            return ("paren", inner)
        if self.is_kw("UNNEST"):
            self.unsupported("UNNEST in FROM")
        path = self.table_path()
        if self.is_op("("):
            self.unsupported("table-valued functions")
        alias = self.opt_alias()
        if self.is_kw("FOR"):
            self.unsupported("FOR SYSTEM_TIME AS OF")
        if self.is_word("TABLESAMPLE"):
            self.unsupported("TABLESAMPLE")
        return ("table", path, alias)

    # -- expressions --
    def expr(self):
        return self.or_expr()

    def or_expr(self):
        e = self.and_expr()
        while self.accept_kw("OR"):
            e = ("or", e, self.and_expr())
        return e

    def and_expr(self):
        e = self.not_expr()
        while self.accept_kw("AND"):
            e = ("and", e, self.not_expr())
        return e

    def not_expr(self):
        if self.accept_kw("NOT"):
            return ("not", self.not_expr())
        return self.cmp_expr()

    def subquery_ahead(self):
        """At "(": does a query start inside?"""
        k = 1
        while self.is_op("(", self.peek(k)):
            k += 1
        return self.is_kw("SELECT", "WITH", tok=self.peek(k))

    def cmp_expr(self):
        e = self.add_expr()
        while True:
            tok = self.t
            if tok.kind == "op" and tok.value in ("=", "!=", "<>", "<", "<=", ">", ">="):
                self.next()
                op = "!=" if tok.value == "<>" else tok.value
                if self.is_kw("ANY", "ALL", "SOME") or self.is_word("SOME"):
                    self.unsupported("quantified comparison %s %s" % (op, self.t.value))
                e = ("cmp", op, e, self.add_expr())
                continue
            neg = False
            save = self.i
            if self.is_kw("NOT"):
                self.next()
                neg = True
            if self.accept_kw("LIKE"):
                if self.is_kw("ANY", "ALL") or self.is_word("SOME"):
                    self.unsupported("LIKE ANY/ALL")
                e = ("like", e, self.add_expr(), neg)
            elif self.accept_kw("BETWEEN"):
                lo = self.add_expr()
                self.expect_kw("AND")
                e = ("between", e, lo, self.add_expr(), neg)
            elif self.accept_kw("IN"):
                if self.accept_kw("UNNEST"):
                    self.expect_op("(")
                    arr = self.expr()
                    self.expect_op(")")
                    e = ("inunnest", e, arr, neg)
                else:
                    if not self.is_op("("):
                        self.error("Expected \"(\"")
                    if self.subquery_ahead():
                        ptok = self.next()
                        q = self.query()
                        self.expect_op(")")
                        e = ("insub", e, q, neg, ptok.pos)
                        continue
                    self.expect_op("(")
                    items = [self.expr()]
                    while self.accept_op(","):
                        items.append(self.expr())
                    self.expect_op(")")
                    e = ("in", e, items, neg)
            elif neg:
                self.i = save
                return e
            elif self.accept_kw("IS"):
                n = bool(self.accept_kw("NOT"))
                w = self.accept_kw("NULL", "TRUE", "FALSE")
                if not w:
                    if self.is_kw("DISTINCT"):
                        self.unsupported("IS DISTINCT FROM")
                    self.error("Expected NULL, TRUE or FALSE")
                e = ("is", e, w, n)
            else:
                return e

    def add_expr(self):
        e = self.mul_expr()
        while self.t.kind == "op" and self.t.value in ("+", "-"):
            op = self.next().value
            e = ("arith", op, e, self.mul_expr())
        return e

    def mul_expr(self):
        e = self.unary()
        while self.t.kind == "op" and self.t.value in ("*", "/", "||"):
            op = self.next().value
            e = ("concat", [e, self.unary()]) if op == "||" else ("arith", op, e, self.unary())
        return e

    def unary(self):
        if self.accept_op("-"):
            return ("neg", self.unary())
        if self.accept_op("+"):
            return self.unary()
        if self.is_op("~"):
            self.unsupported("bitwise operators")
        return self.postfix()

    def postfix(self):
        e = self.primary()
        while True:
            if self.is_op(".") and self.peek().kind == "ident":
                self.next()
                e = ("field", e, self.next().value)
            elif self.is_op("["):
                self.unsupported("array subscripts")
            else:
                return e

    def primary(self):
        tok = self.t
        if tok.kind == "int":
            self.next()
            if tok.value > T.INT64_MAX:
                raise SqlError("Invalid integer literal: %s" % tok.value, tok.pos)
            return ("lit", "INT64", tok.value)
        if tok.kind == "float":
            self.next()
            return ("lit", "FLOAT64", tok.value)
        if tok.kind == "str":
            self.next()
            return ("lit", "STRING", tok.value)
        if tok.kind == "bytes":
            self.next()
            return ("lit", "BYTES", tok.value)
        if tok.kind == "param":
            self.next()
            return ("param", tok.value, tok.pos)
        if tok.kind == "qparam":
            self.next()
            self.qparams += 1
            return ("qparam", self.qparams - 1, tok.pos)
        if tok.kind == "kw":
            w = tok.value
            if w == "NULL":
                self.next()
                return ("lit", "NULL", None)
            if w in ("TRUE", "FALSE"):
                self.next()
                return ("lit", "BOOL", 1 if w == "TRUE" else 0)
            if w == "CASE":
                return self.case()
            if w in ("CAST", "SAFE_CAST"):
                self.next()
                self.expect_op("(")
                e = self.expr()
                self.expect_kw("AS")
                params = []
                tname = self.type_name(params=params)
                if self.is_word("FORMAT"):
                    self.unsupported("CAST ... FORMAT")
                self.expect_op(")")
                return ("cast", e, tname, w == "SAFE_CAST", tok.pos, list(params))
            if w == "IF":
                self.next()
                args = self.call_args()
                return ("func", "IF", args, False, tok.pos)
            if w == "EXISTS":
                self.next()
                if not self.is_op("(") or not self.subquery_ahead():
                    self.error("Expected a subquery after EXISTS")
                self.next()
                q = self.query()
                self.expect_op(")")
                return ("exists", q, tok.pos)
            if w in ("ARRAY", "STRUCT", "INTERVAL"):
                self.unsupported(w)
            if w in SOFT:
                self.next()
                return self.name_or_call(Tok("ident", w.lower(), tok.pos, off=tok.off))
            self.error()
        if tok.kind == "ident":
            self.next()
            return self.name_or_call(tok)
        if tok.kind == "op" and tok.value == "(":
            if self.subquery_ahead():
                self.next()
                q = self.query()
                self.expect_op(")")
                return ("scalarsub", q, tok.pos)
            self.next()
            e = self.expr()
            self.expect_op(")")
            return e
        if tok.kind == "op" and tok.value == "[":
            self.unsupported("array literals")
        self.error()

    def type_name(self, allow_struct=False, params=None):
        """A type name; with a `params` list, parameterized NUMERIC(P[, S]), BIGNUMERIC(P[, S]),
        STRING(L) and BYTES(L) are accepted and their integer parameters appended to it."""
        tok = self.t
        if tok.kind not in ("ident", "kw"):
            self.error("Expected a type name")
        self.next()
        t = T.canon_type(tok.value)
        if t is None or t == "STRUCT":
            if tok.value.upper() in ("ARRAY", "STRUCT", "RANGE", "INTERVAL"):
                self.unsupported("type %s here" % tok.value.upper(), tok)
            raise SqlError("Type not found: %s" % tok.value, tok.pos)
        if self.is_op("("):  # parameterised types: NUMERIC(10, 2), STRING(10)
            if params is None or t not in ("NUMERIC", "BIGNUMERIC", "STRING", "BYTES"):
                self.unsupported("parameterized type %s(...) here" % tok.value.upper(), tok)
            self.next()
            while True:
                if self.t.kind != "int":
                    self.error("Expected an integer type parameter")
                params.append(self.next().value)
                if not self.accept_op(","):
                    break
            self.expect_op(")")
            top = 2 if t in ("NUMERIC", "BIGNUMERIC") else 1
            if len(params) > top:
                raise SqlError("%s takes at most %d type parameter%s" % (t, top, "s" if top > 1 else ""), tok.pos)
            if t in ("NUMERIC", "BIGNUMERIC"):
                prec, scale = params[0], params[1] if len(params) > 1 else 0
                max_scale, max_int = (9, 29) if t == "NUMERIC" else (38, 38)
                if not (0 <= scale <= max_scale and max(1, scale) <= prec <= scale + max_int):
                    raise SqlError("In %s(P, S), S must be between 0 and %d and P between max(S, 1) and S + %d"
                                   % (t, max_scale, max_int), tok.pos)
            elif params[0] <= 0:
                raise SqlError("%s(L) needs a positive length" % t, tok.pos)
        return t

    def call_args(self):
        self.expect_op("(")
        args = []
        if not self.accept_op(")"):
            args.append(self.expr())
            while self.accept_op(","):
                args.append(self.expr())
            self.expect_op(")")
        return args

    def name_or_call(self, tok):
        if self.is_op("("):
            name = tok.value.upper()
            if tok.quoted:
                raise SqlError("Function not found: %s" % tok.value, tok.pos)
            self.next()
            distinct = False
            if name == "COUNT" and self.is_op("*"):
                self.next()
                self.expect_op(")")
                return self.maybe_over(("func", "COUNT", [], False, tok.pos, True))
            if self.accept_kw("DISTINCT"):
                distinct = True
            args = []
            if not self.accept_op(")"):
                args.append(self.expr())
                while self.accept_op(","):
                    args.append(self.expr())
                if self.is_ident_word("IGNORE") or self.is_ident_word("RESPECT"):
                    w = self.next().value.upper()
                    self.expect_kw("NULLS")
                    if not (name in ("PERCENTILE_CONT", "PERCENTILE_DISC") and w == "IGNORE"):
                        self.unsupported("%s NULLS in %s" % (w, name))
                if self.is_kw("ORDER", "LIMIT", "HAVING"):
                    self.unsupported("aggregate ORDER BY/LIMIT/HAVING inside %s(...)" % name)
                self.expect_op(")")
            return self.maybe_over(("func", name, args, distinct, tok.pos))
        parts = [tok.value]
        while self.is_op(".") and self.peek().kind in ("ident",) or (
                self.is_op(".") and self.peek().kind == "kw" and self.peek().value in SOFT):
            self.next()
            parts.append(self.next().value if self.t.kind == "ident" else self.next().value.lower())
        return ("col", parts, tok.pos)

    def maybe_over(self, f):
        if not self.is_kw("OVER"):
            if f[1] in _WINDOW_FUNCTIONS:
                raise SqlError("Analytic function %s cannot be called without an OVER clause" % f[1], f[4])
            return f
        tok = self.next()
        if self.t.kind == "ident":
            self.unsupported("named windows (OVER %s)" % self.t.value)
        self.expect_op("(")
        spec = {"partition": [], "order": [], "frame": None}
        if self.t.kind == "ident" and not self.is_word("PARTITION", "ROWS", "RANGE"):
            self.unsupported("named windows (OVER (%s ...))" % self.t.value)
        if self.accept_word("PARTITION"):
            self.expect_kw("BY")
            spec["partition"].append(self.expr())
            while self.accept_op(","):
                spec["partition"].append(self.expr())
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            spec["order"] = self.order_items()
        unit = self.accept_word("ROWS", "RANGE")
        if unit:
            if self.accept_kw("BETWEEN"):
                lo = self.frame_bound()
                self.expect_kw("AND")
                hi = self.frame_bound()
            else:
                lo, hi = self.frame_bound(), ("CR", None)
            spec["frame"] = (unit, lo, hi)
        self.expect_op(")")
        return ("window", f, spec, tok.pos)

    def frame_bound(self):
        if self.accept_word("UNBOUNDED"):
            w = self.accept_word("PRECEDING", "FOLLOWING")
            if not w:
                self.error("Expected PRECEDING or FOLLOWING")
            return ("UP" if w == "PRECEDING" else "UF", None)
        if self.accept_word("CURRENT"):
            self.expect_word("ROW")
            return ("CR", None)
        e = self.add_expr()
        w = self.accept_word("PRECEDING", "FOLLOWING")
        if not w:
            self.error("Expected PRECEDING or FOLLOWING")
        return ("P" if w == "PRECEDING" else "F", e)

    def case(self):
        self.expect_kw("CASE")
        operand = None
        if not self.is_kw("WHEN"):
            operand = self.expr()
        whens = []
        while self.accept_kw("WHEN"):
            c = self.expr()
            self.expect_kw("THEN")
            whens.append((c, self.expr()))
        if not whens:
            self.error("Expected WHEN")
        other = None
        if self.accept_kw("ELSE"):
            other = self.expr()
        self.expect_kw("END")
        return ("case", operand, whens, other)



# =============================================================================================
# compiler: AST -> SQLite SQL with types
# =============================================================================================


def q(name):
    return '"%s"' % name.replace('"', '""')


class Scope:
    """The range variables visible in one SELECT: alias -> [(name, Ty, sqlite ref, refs)], where
    refs is the frozenset of (table key, column) base-table reads that using the column costs.
    `parent` is the enclosing query's scope (correlated references)."""

    def __init__(self, parent=None):
        self.entries = []  # (alias, [(colname, Ty, sqlref, refs)])
        self.parent = parent

    def add(self, alias, cols):
        for a, _ in self.entries:
            if a.lower() == alias.lower():
                raise SqlError("Duplicate alias %s" % alias)
        self.entries.append((alias, cols))

    def _find(self, parts):
        if len(parts) >= 2:
            for alias, cols in self.entries:
                if alias.lower() == parts[0].lower():
                    for name, ty, ref, refs in cols:
                        if name.lower() == parts[1].lower():
                            return [(ref, ty, parts[2:], refs, name)], alias
                    return [], alias
        hits = []
        for alias, cols in self.entries:
            for name, ty, ref, refs in cols:
                if name.lower() == parts[0].lower():
                    hits.append((ref, ty, parts[1:], refs, name))
        return hits, None

    def resolve(self, parts, pos):
        """(sqlref, Ty, remaining parts, refs, column name, depth); depth 0 is this scope."""
        scope, depth = self, 0
        while scope is not None:
            hits, alias = scope._find(parts)
            if alias is not None and not hits:
                raise SqlError("Name %s not found inside %s" % (parts[1], alias), pos)
            if len(hits) > 1:
                raise SqlError("Column name %s is ambiguous" % parts[0], pos)
            if hits:
                return hits[0] + (depth,)
            if len(parts) == 1:
                for alias, cols in scope.entries:
                    if alias.lower() == parts[0].lower():
                        raise SqlError("Unsupported in the luxe BigQuery emulator: a range variable (%s) "
                                       "used as a value" % parts[0], pos)
            scope, depth = scope.parent, depth + 1
        raise SqlError("Unrecognized name: %s" % parts[0], pos)


class Param:
    def __init__(self, ty, value):
        self.ty = ty          # Ty (REPEATED for arrays)
        self.value = value    # stored value, or a list of them for arrays


class SelectResult:
    """A compiled query: sql, out [(name, Ty)], base (reads needed whatever columns are used),
    cols [refs per output column], anon [True for an unnamed column]."""

    __slots__ = ("sql", "out", "base", "cols", "anon")

    def __init__(self, sql, out, base, cols, anon):
        self.sql, self.out, self.base, self.cols, self.anon = sql, out, base, cols, anon

    def all_refs(self):
        refs = set(self.base)
        for c in self.cols:
            refs |= c
        return refs


AGGREGATES = {"COUNT", "SUM", "AVG", "MIN", "MAX", "COUNTIF", "LOGICAL_AND", "LOGICAL_OR",
              "ANY_VALUE", "ARRAY_AGG", "STRING_AGG"}
_RANKING = {"ROW_NUMBER", "RANK", "DENSE_RANK", "PERCENT_RANK", "CUME_DIST", "NTILE"}
_NAVIGATION = {"FIRST_VALUE", "LAST_VALUE", "NTH_VALUE", "LAG", "LEAD"}
_UNGROUPABLE = ("STRUCT", "JSON", "GEOGRAPHY")


def _has_agg(e):
    """Does the expression contain an aggregate call outside analytic functions and subqueries?"""
    if isinstance(e, tuple) and e:
        if e[0] == "func" and e[1] in AGGREGATES:
            return True
        if e[0] in ("window", "insub", "exists", "scalarsub"):
            return e[0] == "window" and _has_agg_args(e[1]) or e[0] == "insub" and _has_agg(e[1])
        return any(_has_agg(x) for x in e)
    if isinstance(e, list):
        return any(_has_agg(x) for x in e)
    return False


def _has_agg_args(f):
    return any(_has_agg(a) for a in f[2])


def _has_window(e):
    if isinstance(e, tuple) and e:
        if e[0] == "window":
            return True
        if e[0] in ("insub", "exists", "scalarsub"):
            return False
        return any(_has_window(x) for x in e)
    if isinstance(e, list):
        return any(_has_window(x) for x in e)
    return False


def _implicit_alias(e):
    if isinstance(e, tuple) and e and e[0] == "col":
        return e[1][-1]
    if isinstance(e, tuple) and e and e[0] == "field":
        return e[2]
    return None


class Compiler:
    """Translate parsed statements. `catalog.lookup(parts, pos)` returns table metadata (an
    object with .sqlname, .schema [Field], .key, .kind "TABLE"|"VIEW", .view_query) or raises;
    `catalog.for_view(meta)` is the catalog a view's query is compiled with."""

    def __init__(self, catalog, params, positional):
        self.catalog = catalog
        self.params = params            # name(lower) -> Param, or list for positional
        self.positional = positional
        self.binds = {}
        self.nbind = 0
        self.referenced = set()        # (table key, column lower | None for the table itself)
        self.collect = set()           # where column reads go while compiling
        self.in_agg = False
        self.in_window = False
        self.ctes = []                 # stack of {name lower: (sqlite name, SelectResult)}
        self.nalias = 0
        self.view_depth = 0

    def bind(self, value):
        self.nbind += 1
        name = "b%d" % self.nbind
        self.binds[name] = value
        return ":" + name

    def new_alias(self, prefix="a"):
        self.nalias += 1
        return "%s%d" % (prefix, self.nalias)

    @property
    def tables(self):
        return {k for k, _ in self.referenced}

    def use(self, res):
        """Count every column of a top-level query result as read."""
        self.referenced |= res.all_refs()
        return res

    # -- queries --
    def select(self, s, parent=None):
        """Compile one query (its WITH clause, SELECT, FROM ... LIMIT) into a SelectResult."""
        saved = self.collect, self.in_agg, self.in_window
        base = set()
        self.collect = base
        self.in_agg = self.in_window = False  # a subquery starts afresh inside an aggregate's argument
        pushed = False
        try:
            with_sql = ""
            if s.ctes:
                frame = {}
                self.ctes.append(frame)
                pushed = True
                defs = []
                for name, query, pos in s.ctes:
                    if name.lower() in frame:
                        raise SqlError("Duplicate alias %s for WITH subquery" % name, pos)
                    res = self.select(query, None)
                    cname = self.new_alias("w")
                    frame[name.lower()] = (cname, res)
                    defs.append("%s AS (%s)" % (q(cname), res.sql))
                with_sql = "WITH " + ", ".join(defs) + " "
            res = self._select_body(s, parent, base)
            res.sql = with_sql + res.sql
            return res
        finally:
            if pushed:
                self.ctes.pop()
            self.collect, self.in_agg, self.in_window = saved

    def _select_body(self, s, parent, base):
        scope = Scope(parent)
        from_sql = ""
        if s.from_ is not None:
            from_sql = " FROM " + self.from_item(s.from_, scope)
        star = [isinstance(e, tuple) and e[0] == "star" for e, _ in s.items]
        aggregated = bool(s.group) or s.having is not None or any(
            _has_agg(e) for (e, _), st in zip(s.items, star) if not st) or any(_has_agg(e) for e, _, _ in s.order)
        names = [alias or (None if st else _implicit_alias(e)) for (e, alias), st in zip(s.items, star)]
        keys = None
        if aggregated:
            keys = set()
            for g in s.group:
                target = self._group_target(g, s.items, star, names)
                keys.add(self.norm(target, scope))
        items, out, colsets, anon = [], [], [], []
        n_anon = 0
        has_agg, has_win = [], []
        for (e, alias), st in zip(s.items, star):
            if st:
                found = False
                for a, cols in scope.entries:
                    if e[1] is None or a.lower() == e[1].lower():
                        found = True
                        for name, ty, ref, refs in cols:
                            if keys is not None and ("colref", ref, ()) not in keys:
                                raise SqlError("SELECT list expression references column %s which is neither "
                                               "grouped nor aggregated" % name, s.pos)
                            items.append(ref)
                            out.append((name, ty))
                            colsets.append(set(refs))
                            anon.append(False)
                            has_agg.append(False)
                            has_win.append(False)
                if not found:
                    raise SqlError("SELECT * must have a FROM clause" if e[1] is None
                                   else "Unrecognized name: %s" % e[1], s.pos)
                continue
            self.collect = cs = set()
            ctx = {"clause": "SELECT list"}
            if keys is not None:
                ctx["gc"] = keys
            sql, ty = self.expr(e, scope, **ctx)
            self.collect = base
            name = alias or _implicit_alias(e)
            if name is None:
                name = "f%d_" % n_anon
                n_anon += 1
            items.append(sql)
            out.append((name, ty))
            colsets.append(cs)
            anon.append(alias is None and _implicit_alias(e) is None)
            has_agg.append(_has_agg(e))
            has_win.append(_has_window(e))
        aliases = {}
        for i, (name, ty) in enumerate(out):
            if not anon[i]:
                aliases.setdefault(name.lower(), i)
        octx = {"items": items, "out": out, "aliases": aliases, "colsets": colsets}
        sql = "SELECT " + ("DISTINCT " if s.distinct else "") + ", ".join(
            "%s AS %s" % (it, q("c%d" % i)) for i, it in enumerate(items))
        sql += from_sql
        if s.where is not None:
            w, ty = self.expr(s.where, scope, clause="WHERE clause", no_agg=True, no_window=True)
            self.want_bool(ty, "WHERE clause")
            sql += " WHERE " + w
        if s.group:
            gs = []
            for g in s.group:
                if g[0] == "lit" and g[1] == "INT64" or (g[0] == "col" and len(g[1]) == 1
                                                          and g[1][0].lower() in aliases):
                    i = self._item_index(g, items, aliases)
                    if has_agg[i]:
                        raise SqlError("GROUP BY refers to the aggregate expression %s (column %d)"
                                       % (out[i][0], i + 1))
                    if has_win[i]:
                        raise SqlError("GROUP BY refers to the analytic function %s (column %d)"
                                       % (out[i][0], i + 1))
                gsql, gty = self.group_or_order_expr(g, scope, octx, clause="GROUP BY clause",
                                                     no_agg=True, no_window=True)
                if gty.repeated or gty.type in _UNGROUPABLE:
                    raise SqlError("Grouping by expressions of type %s is not allowed"
                                   % ("ARRAY" if gty.repeated else gty.type))
                gs.append(gsql)
            sql += " GROUP BY " + ", ".join(gs)
        if s.having is not None:
            ctx = dict(octx, clause="HAVING clause", no_window=True)
            if keys is not None:
                ctx["gc"] = keys
            h, ty = self.expr(s.having, scope, **ctx)
            self.want_bool(ty, "HAVING clause")
            sql += " HAVING " + h
        if s.order:
            okeys = []
            visible = None
            if s.distinct:  # after SELECT DISTINCT only the select list is left to sort by
                visible = {self.norm(e, scope) for (e, _), st in zip(s.items, star) if not st}
                for (e, _), st in zip(s.items, star):
                    if st:
                        visible |= {("colref", ref, ()) for a, cols in scope.entries
                                    if e[1] is None or a.lower() == e[1].lower() for _, _, ref, _ in cols}
            for e, desc, nulls in s.order:
                ctx = dict(clause="ORDER BY clause")
                if visible is not None:
                    ctx["gc"], ctx["gc_distinct"] = visible, True
                elif keys is not None:
                    ctx["gc"] = keys
                ksql, ty = self.group_or_order_expr(e, scope, octx, **ctx)
                okeys.extend(self.order_keys(ksql, ty, desc, nulls))
            sql += " ORDER BY " + ", ".join(okeys)
        if s.limit is not None:
            sql += " LIMIT " + self.limit_value(s.limit, scope)
            if s.offset is not None:
                sql += " OFFSET " + self.limit_value(s.offset, scope)
        if s.distinct:
            for i, (name, ty) in enumerate(out):
                if ty.repeated or ty.type in _UNGROUPABLE:
                    raise SqlError("Column %s of type %s cannot be used in SELECT DISTINCT"
                                   % (name, "ARRAY" if ty.repeated else ty.type))
                base |= colsets[i]
        return SelectResult(sql, out, base, colsets, anon)

    @staticmethod
    def _item_index(e, items, aliases):
        if e[0] == "lit":
            n = e[2]
            if not 1 <= n <= len(items):
                raise SqlError("ORDER BY/GROUP BY column number %d is out of range" % n)
            return n - 1
        return aliases[e[1][0].lower()]

    @staticmethod
    def _group_target(g, sitems, star, names):
        """The expression a GROUP BY item stands for (positions and aliases resolved)."""
        if g[0] == "lit" and g[1] == "INT64":
            n = g[2]
            if 1 <= n <= len(sitems) and not any(star):
                return sitems[n - 1][0]
            return g
        if g[0] == "col" and len(g[1]) == 1:
            for (e, alias), st, name in zip(sitems, star, names):
                if not st and name is not None and name.lower() == g[1][0].lower():
                    return e
        return g

    def norm(self, e, scope):
        """A hashable, position-free form of an expression, with columns resolved (for
        matching select-list expressions against GROUP BY keys)."""
        if isinstance(e, tuple):
            if e and e[0] == "col":
                try:
                    ref, ty, rest, refs, name, depth = scope.resolve(e[1], None)
                except SqlError:
                    return ("name", tuple(p.lower() for p in e[1]))
                return ("colref", ref, tuple(p.lower() for p in rest))
            if len(e) == 2 and all(type(x) is int for x in e):
                return None  # a source position
            return tuple(self.norm(x, scope) for x in e)
        if isinstance(e, list):
            return tuple(self.norm(x, scope) for x in e)
        if isinstance(e, (Select, dict)):
            return ("obj", id(e))
        return e

    def limit_value(self, e, scope):
        sql, ty = self.expr(e, scope, clause="LIMIT", no_agg=True, no_window=True)
        if ty.type not in ("INT64", "NULL"):
            raise SqlError("LIMIT expects an integer literal or parameter")
        return "bq_limit(%s)" % sql

    def group_or_order_expr(self, e, scope, octx, **ctx):
        if e[0] == "lit" and e[1] == "INT64":
            i = self._item_index(e, octx["items"], octx["aliases"])
            self.collect |= octx["colsets"][i]
            return octx["items"][i], octx["out"][i][1]
        if e[0] == "col" and len(e[1]) == 1 and e[1][0].lower() in octx["aliases"]:
            # a select-list alias; BigQuery prefers it over a column of the same name
            i = octx["aliases"][e[1][0].lower()]
            self.collect |= octx["colsets"][i]
            return octx["items"][i], octx["out"][i][1]
        return self.expr(e, scope, **dict(octx, **ctx))

    def order_keys(self, sql, ty, desc, nulls):
        if ty.repeated or ty.type in ("STRUCT", "JSON", "GEOGRAPHY"):
            raise SqlError("ORDER BY does not support expressions of type %s"
                           % ("ARRAY" if ty.repeated else ty.type))
        d = " DESC" if desc else " ASC"
        if nulls is None:
            nulls = not desc
        if ty.type == "FLOAT64":
            # ASC order: NULL, NaN, -inf .. +inf; DESC the reverse; NULLS FIRST/LAST as asked
            if not desc:
                null_rank = 0 if nulls else 3
            else:
                null_rank = 3 if nulls else 0
            return ["(CASE WHEN (%s) IS NULL THEN %d WHEN typeof(%s) = 'text' THEN 1 ELSE 2 END)%s"
                    % (sql, null_rank, sql, d), "(%s)%s" % (sql, d)]
        if ty.type in ("NUMERIC", "BIGNUMERIC"):
            sql = "bq_nkey(%s)" % sql
        return ["(%s)%s NULLS %s" % (sql, d, "FIRST" if nulls else "LAST")]

    def _cte(self, name):
        for frame in reversed(self.ctes):
            hit = frame.get(name.lower())
            if hit is not None:
                return hit
        return None

    def _derived(self, res, alias, scope, sql_from):
        """Add a subquery / WITH / view result to the scope as range variable `alias`."""
        sqlalias = self.new_alias()
        cols = [(name, ty, "%s.%s" % (q(sqlalias), q("c%d" % i)), frozenset(res.cols[i]))
                for i, (name, ty) in enumerate(res.out)]
        self.collect |= res.base
        scope.add(alias, cols)
        return "%s AS %s" % (sql_from, q(sqlalias))

    def from_item(self, item, scope):
        kind = item[0]
        if kind == "table":
            (parts, pos), alias = item[1], item[2]
            alias = alias or parts[-1]
            if len(parts) == 1:
                cte = self._cte(parts[0])
                if cte is not None:
                    return self._derived(cte[1], alias, scope, q(cte[0]))
            meta = self.catalog.lookup(parts, pos)
            if getattr(meta, "kind", "TABLE") == "VIEW":
                res = self.view_query(meta, pos)
                return self._derived(res, alias, scope, "(%s)" % res.sql)
            sqlalias = self.new_alias()
            self.collect.add((meta.key, None))
            cols = [(f.name, Ty.of(f), "%s.%s" % (q(sqlalias), q(f.name)),
                     frozenset([(meta.key, f.name.lower())])) for f in meta.schema]
            scope.add(alias, cols)
            return "%s AS %s" % (q(meta.sqlname), q(sqlalias))
        if kind == "subq":
            res = self.select(item[1], scope.parent)
            alias = item[2] or "__sub%d" % (len(scope.entries) + 1)
            return self._derived(res, alias, scope, "(%s)" % res.sql)
        if kind == "paren":
            return "(%s)" % self.from_item(item[1], scope)
        if kind == "join":
            _, jk, left, right, on = item
            lsql = self.from_item(left, scope)
            rsql = self.from_item(right, scope)
            if jk == "CROSS":
                return "%s CROSS JOIN %s" % (lsql, rsql)
            osql, ty = self.expr(on, scope, clause="JOIN ON clause", no_agg=True, no_window=True)
            self.want_bool(ty, "JOIN ON")
            return "%s %s JOIN %s ON %s" % (lsql, {"INNER": "INNER", "LEFT": "LEFT OUTER",
                                                    "RIGHT": "RIGHT OUTER", "FULL": "FULL OUTER"}[jk],
                                            rsql, osql)
        raise SqlError("bad FROM item")

    def view_query(self, meta, pos):
        """Compile a view's stored GoogleSQL as a subquery (its own catalog, no outer WITH)."""
        if self.view_depth > 16:
            raise SqlError("View %s:%s.%s references itself too deeply" % meta.key, pos)
        stmts = Parser(meta.view_query).script()
        if len(stmts) != 1 or stmts[0][0][0] != "select":
            raise SqlError("View %s:%s.%s does not hold a query" % meta.key, pos)
        saved = self.catalog, self.ctes
        self.catalog, self.ctes = self.catalog.for_view(meta), []
        self.view_depth += 1
        try:
            res = self.select(stmts[0][0][1], None)
        except SqlError as exc:
            raise SqlError("View %s:%s.%s is invalid: %s" % (meta.key + (exc.message,)), pos) from None
        finally:
            self.catalog, self.ctes = saved
            self.view_depth -= 1
        return res

    def subquery(self, query, scope):
        """A subquery used as an expression (IN, EXISTS, scalar): all its reads count."""
        res = self.select(query, scope)
        self.collect |= res.all_refs()
        return res

    def want_bool(self, ty, where):
        if ty.type not in ("BOOL", "NULL"):
            raise SqlError("%s should return type BOOL, but returns %s" % (where, ty.type))

    # -- expressions --
    def expr(self, e, scope, **ctx):
        gc = ctx.get("gc")
        if gc is not None and not self.in_agg and e[0] not in ("lit", "param", "qparam") \
                and self.norm(e, scope) in gc:
            ctx = dict(ctx)
            del ctx["gc"]  # a grouped expression: its columns are fine as they are
        m = getattr(self, "e_" + e[0])
        return m(e, scope, ctx)

    def sub(self, e, scope, ctx):
        return self.expr(e, scope, **ctx)

    def e_lit(self, e, scope, ctx):
        t, v = e[1], e[2]
        if t == "NULL":
            return "NULL", Ty("NULL")
        if t == "FLOAT64":
            return self.bind(T.store_float(v)), Ty("FLOAT64")
        if t == "INT64" or t == "BOOL":
            return str(int(v)), Ty(t)
        return self.bind(v), Ty(t)

    def e_param(self, e, scope, ctx):
        if self.positional:
            raise SqlError("Named parameters are not allowed with parameterMode POSITIONAL", e[2])
        p = self.params.get(e[1].lower())
        if p is None:
            raise SqlError("Query parameter '%s' not found" % e[1], e[2])
        return self.param_sql(p), p.ty

    def e_qparam(self, e, scope, ctx):
        if not self.positional:
            raise SqlError("Positional parameters are not allowed with parameterMode NAMED", e[2])
        if e[1] >= len(self.params):
            raise SqlError("Query parameter %d not found" % (e[1] + 1), e[2])
        p = self.params[e[1]]
        return self.param_sql(p), p.ty

    def param_sql(self, p):
        if p.ty.repeated:
            if p.value is None:
                return "NULL"
            return self.bind(json.dumps([T.stored_to_jsonable(p.ty.type, v) for v in p.value]))
        if p.ty.type == "STRUCT":
            return self.bind(None if p.value is None else json.dumps(p.value))
        return self.bind(p.value)

    def e_col(self, e, scope, ctx):
        parts, pos = e[1], e[2]
        if ctx.get("aliases") is not None and len(parts) == 1 and parts[0].lower() in ctx["aliases"] \
                and not self._is_column(parts, scope):
            i = ctx["aliases"][parts[0].lower()]
            self.collect |= ctx["colsets"][i]
            return ctx["items"][i], ctx["out"][i][1]
        ref, ty, rest, refs, name, depth = scope.resolve(parts, pos)
        gc = ctx.get("gc")
        if gc is not None and not self.in_agg and depth == 0 and ("colref", ref, ()) not in gc and \
                ("colref", ref, tuple(p.lower() for p in rest)) not in gc:
            if ctx.get("gc_distinct"):
                raise SqlError("ORDER BY clause expression references column %s which is not visible after "
                               "SELECT DISTINCT" % name, pos)
            raise SqlError("%s expression references column %s which is neither grouped nor aggregated"
                           % (ctx.get("clause", "SELECT list"), name), pos)
        self.collect |= refs
        sql = ref
        for p in rest:
            sql, ty = self.field_access(sql, ty, p, pos)
        return sql, ty

    @staticmethod
    def _is_column(parts, scope):
        try:
            scope.resolve(parts, None)
            return True
        except SqlError:
            return False

    # -- subqueries as expressions --
    def e_scalarsub(self, e, scope, ctx):
        res = self.subquery(e[1], scope)
        if len(res.out) != 1:
            raise SqlError("Scalar subquery cannot have more than one column unless using SELECT AS "
                           "STRUCT to build STRUCT values", e[2])
        ty = res.out[0][1]
        return ("(SELECT CASE WHEN COUNT(*) > 1 THEN bq_raise('Scalar subquery produced more than one "
                "element') ELSE MAX(\"c0\") END FROM (%s))" % res.sql), Ty(ty.type, ty.mode, ty.fields)

    def e_exists(self, e, scope, ctx):
        res = self.subquery(e[1], scope)
        return "(EXISTS (%s))" % res.sql, Ty("BOOL")

    def e_insub(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        res = self.subquery(e[2], scope)
        if len(res.out) != 1:
            raise SqlError("Subquery of type IN must have only one output column", e[4])
        ty = res.out[0][1]
        how = self.comparable(tx, ty, "IN")
        if how == "plain":
            s = "(%s IN (SELECT \"c0\" FROM (%s)))" % (x, res.sql)
        elif how in ("coerce", "date"):
            if tx.type == "STRING" or (how == "date" and tx.type == "DATE"):
                x = "bq_cast(%s, '%s', '%s')" % (x, tx.type, ty.type)
                s = "(%s IN (SELECT \"c0\" FROM (%s)))" % (x, res.sql)
            else:
                s = "(%s IN (SELECT bq_cast(\"c0\", '%s', '%s') FROM (%s)))" % (x, ty.type, tx.type, res.sql)
        else:
            # FLOAT64 / NUMERIC comparisons need BigQuery's NaN and decimal rules: SQL's
            # three-valued IN spelled out with EXISTS
            cmp = "bq_cmp%s('=', %s, \"c0\")" % (how, x)
            s = ("(CASE WHEN %s IS NULL THEN (CASE WHEN EXISTS (%s) THEN NULL ELSE 0 END) "
                 "WHEN EXISTS (SELECT 1 FROM (%s) WHERE %s) THEN 1 "
                 "WHEN EXISTS (SELECT 1 FROM (%s) WHERE \"c0\" IS NULL) THEN NULL ELSE 0 END)"
                 % (x, res.sql, res.sql, cmp, res.sql))
        return ("(NOT %s)" % s if e[3] else s), Ty("BOOL")

    # -- analytic functions --
    def e_window(self, e, scope, ctx):
        f, spec, pos = e[1], e[2], e[3]
        name, args, distinct = f[1], f[2], f[3]
        star = len(f) > 5
        if ctx.get("no_window"):
            raise SqlError("Analytic function not allowed in %s" % ctx.get("clause", "this clause"), pos)
        if self.in_window:
            raise SqlError("Analytic function %s cannot be an argument of another analytic function" % name, pos)
        if self.in_agg:
            raise SqlError("Analytic function %s cannot be an argument of an aggregate function" % name, pos)
        if distinct and name != "COUNT":
            raise SqlError("Unsupported in the luxe BigQuery emulator: DISTINCT in analytic function %s" % name, pos)
        if distinct and (spec["order"] or spec["frame"]):
            raise SqlError("DISTINCT is not allowed for analytic functions with an ORDER BY or a window frame", pos)
        wctx = {k: v for k, v in ctx.items() if k in ("gc", "gc_distinct", "clause")}
        self.in_window = True
        try:
            compiled = [self.sub(a, scope, wctx) for a in args]
            parts = []
            for p in spec["partition"]:
                psql, pty = self.sub(p, scope, wctx)
                if pty.repeated or pty.type in _UNGROUPABLE:
                    raise SqlError("Partitioning by expressions of type %s is not allowed"
                                   % ("ARRAY" if pty.repeated else pty.type), pos)
                parts.append(psql)
            okeys, otypes = [], []
            for oe, desc, nulls in spec["order"]:
                osql, oty = self.sub(oe, scope, wctx)
                okeys.extend(self.order_keys(osql, oty, desc, nulls))
                otypes.append(oty)
            frame = self.frame_sql(spec["frame"], otypes, name, pos, scope, wctx)
        finally:
            self.in_window = False
        if distinct:
            self.nargs(name, compiled, 1, 1, pos)
            x, tx = compiled[0]
            if tx.repeated or tx.type in _UNGROUPABLE:
                raise SqlError("COUNT(DISTINCT) does not support arguments of type %s"
                               % ("ARRAY" if tx.repeated else tx.type), pos)
            fsql, ty = "bq_count_distinct(%s)" % x, Ty("INT64")
        else:
            fsql, ty = self.window_function(name, compiled, star, spec, pos)
        over = []
        if parts:
            over.append("PARTITION BY " + ", ".join(parts))
        if okeys:
            over.append("ORDER BY " + ", ".join(okeys))
        if frame:
            over.append(frame)
        return "%s OVER (%s)" % (fsql, " ".join(over)), ty

    def frame_sql(self, frame, otypes, name, pos, scope, ctx):
        if frame is None:
            return ""
        if name in _RANKING or name in ("LAG", "LEAD", "PERCENTILE_CONT", "PERCENTILE_DISC"):
            raise SqlError("Window framing clause is not allowed for analytic function %s" % name.lower(), pos)
        unit, lo, hi = frame
        order = {"UP": 0, "P": 1, "CR": 2, "F": 3, "UF": 4}
        if lo[0] == "UF" or hi[0] == "UP" or order[lo[0]] > order[hi[0]]:
            raise SqlError("Invalid window frame: the start bound is after the end bound", pos)
        offsets = [b for b in (lo, hi) if b[0] in ("P", "F")]
        if unit == "RANGE" and offsets:
            if len(otypes) != 1 or otypes[0].type not in ("INT64",):
                raise SqlError("Unsupported in the luxe BigQuery emulator: a RANGE frame with an offset "
                               "over ORDER BY %s" % (" ".join(t.type for t in otypes) or "nothing"), pos)

        def bound(b):
            kind, e = b
            if kind in ("UP", "UF"):
                return "UNBOUNDED %s" % ("PRECEDING" if kind == "UP" else "FOLLOWING")
            if kind == "CR":
                return "CURRENT ROW"
            if e[0] != "lit" or e[1] != "INT64" or e[2] < 0:
                raise SqlError("Window frame offset must be a non-negative integer literal", pos)
            return "%d %s" % (e[2], "PRECEDING" if kind == "P" else "FOLLOWING")
        return "%s BETWEEN %s AND %s" % (unit, bound(lo), bound(hi))

    def window_function(self, name, compiled, star, spec, pos):
        """(sql, Ty) of the function part of an analytic call."""
        if name in _RANKING:
            want = 1 if name == "NTILE" else 0
            self.nargs(name, compiled, want, want, pos)
            if name in ("RANK", "DENSE_RANK", "PERCENT_RANK", "CUME_DIST", "NTILE") and not spec["order"]:
                raise SqlError("Analytic function %s must have an ORDER BY clause in its window" % name, pos)
            if name == "NTILE" and compiled[0][1].type not in ("INT64", "NULL"):
                raise SqlError("No matching signature for analytic function NTILE", pos)
            rt = "FLOAT64" if name in ("PERCENT_RANK", "CUME_DIST") else "INT64"
            return "%s(%s)" % (name, ", ".join(a for a, _ in compiled)), Ty(rt)
        if name in _NAVIGATION:
            lo, hi = {"FIRST_VALUE": (1, 1), "LAST_VALUE": (1, 1), "NTH_VALUE": (2, 2),
                      "LAG": (1, 3), "LEAD": (1, 3)}[name]
            self.nargs(name, compiled, lo, hi, pos)
            if name in ("LAG", "LEAD") and not spec["order"]:
                raise SqlError("Analytic function %s must have an ORDER BY clause in its window" % name, pos)
            ty = compiled[0][1]
            for a, t in compiled[1:2]:
                if t.type not in ("INT64", "NULL"):
                    raise SqlError("No matching signature for analytic function %s" % name, pos)
            args = [a for a, _ in compiled]
            if len(compiled) == 3:
                dt = compiled[2][1]
                if dt.type not in ("NULL", ty.type) and supertype([ty, dt]).type != ty.type:
                    raise SqlError("No matching signature for analytic function %s: the default value "
                                   "must have type %s" % (name, ty.type), pos)
                args[2] = self.coerce(args[2], dt, ty)
            return "%s(%s)" % (name, ", ".join(args)), Ty("INT64") if ty.type == "NULL" else ty
        if name in ("PERCENTILE_CONT", "PERCENTILE_DISC"):
            self.nargs(name, compiled, 2, 2, pos)
            if spec["order"]:
                raise SqlError("ORDER BY is not allowed in the window of analytic function %s" % name.lower(), pos)
            (x, tx), (p, tp) = compiled
            if not re.fullmatch(r"(bq_[if]neg\()?(:b\d+|\d+|NULL)\)?", p):
                raise SqlError("The percentile argument of %s must be a literal or a query parameter" % name, pos)
            if tp.type not in ("FLOAT64", "INT64", "NUMERIC", "BIGNUMERIC", "NULL"):
                raise SqlError("No matching signature for analytic function %s: the percentile must be "
                               "numeric" % name, pos)
            if name == "PERCENTILE_CONT":
                if tx.type not in NUMERIC_KINDS + ("NULL",) or tx.repeated:
                    raise SqlError("No matching signature for analytic function PERCENTILE_CONT for argument "
                                   "types: %s, %s" % (tx.type, tp.type), pos)
                rt = tx.type if tx.type in ("NUMERIC", "BIGNUMERIC") else "FLOAT64"
                if tp.type == "BIGNUMERIC" and rt == "NUMERIC":
                    rt = "BIGNUMERIC"
                return "bq_pcont(%s, %s, '%s', '%s')" % (x, p, tx.type, rt), Ty(rt)
            if tx.repeated or tx.type in _UNGROUPABLE:
                raise SqlError("No matching signature for analytic function PERCENTILE_DISC", pos)
            return "bq_pdisc(%s, %s, '%s')" % (x, p, tx.type), Ty("INT64") if tx.type == "NULL" else tx
        if name in AGGREGATES:
            return self.aggregate_sql(name, compiled, False, star, pos)
        raise SqlError("Unsupported in the luxe BigQuery emulator: analytic function %s" % name, pos)
    def field_access(self, sql, ty, name, pos):
        if ty.type != "STRUCT" or ty.repeated:
            raise SqlError("Cannot access field %s on a value with type %s"
                           % (name, "ARRAY" if ty.repeated else ty.type), pos)
        for f in ty.fields:
            if f.name.lower() == name.lower():
                path = "$.%s" % json.dumps(f.name)
                if f.repeated or f.type == "STRUCT":
                    return "json_extract(%s, %s)" % (sql, self.bind(path)), Ty.of(f)
                return "bq_fromjson(json_extract(%s, %s), '%s')" % (sql, self.bind(path), f.type), Ty.of(f)
        raise SqlError("Field name %s does not exist in STRUCT" % name, pos)

    def e_field(self, e, scope, ctx):
        sql, ty = self.sub(e[1], scope, ctx)
        return self.field_access(sql, ty, e[2], None)

    def e_and(self, e, scope, ctx):
        return self.logic("AND", e, scope, ctx)

    def e_or(self, e, scope, ctx):
        return self.logic("OR", e, scope, ctx)

    def logic(self, op, e, scope, ctx):
        a, ta = self.sub(e[1], scope, ctx)
        b, tb = self.sub(e[2], scope, ctx)
        self.want_bool(ta, op)
        self.want_bool(tb, op)
        return "(%s %s %s)" % (a, op, b), Ty("BOOL")

    def e_not(self, e, scope, ctx):
        a, ta = self.sub(e[1], scope, ctx)
        self.want_bool(ta, "NOT")
        return "(NOT %s)" % a, Ty("BOOL")

    def comparable(self, ta, tb, what):
        if ta.repeated or tb.repeated or "STRUCT" in (ta.type, tb.type) or "JSON" in (ta.type, tb.type) \
                or "GEOGRAPHY" in (ta.type, tb.type):
            raise SqlError("No matching signature for operator %s for argument types: %s, %s"
                           % (what, "ARRAY" if ta.repeated else ta.type, "ARRAY" if tb.repeated else tb.type))
        if ta.type == "NULL" or tb.type == "NULL":
            return "plain"
        names = {ta.type, tb.type}
        if "FLOAT64" in names:
            if not names <= set(NUMERIC_KINDS):
                self.mismatch(what, ta, tb)
            return "f"
        if names & {"NUMERIC", "BIGNUMERIC"}:
            if not names <= set(NUMERIC_KINDS):
                self.mismatch(what, ta, tb)
            return "n"
        if len(names) == 1:
            return "plain"
        if names == {"DATE", "DATETIME"}:
            return "date"
        if names <= {"STRING", "DATE", "DATETIME", "TIME", "TIMESTAMP"} and "STRING" in names:
            return "coerce"  # string literals/parameters coerce to the temporal type
        self.mismatch(what, ta, tb)

    @staticmethod
    def mismatch(what, ta, tb):
        raise SqlError("No matching signature for operator %s for argument types: %s, %s"
                       % (what, ta.type, tb.type))

    def compare(self, op, a, ta, b, tb):
        how = self.comparable(ta, tb, op)
        if how == "plain":
            return "(%s %s %s)" % (a, "<>" if op == "!=" else op, b)
        if how in ("f", "n"):
            return "bq_cmp%s('%s', %s, %s)" % (how, op, a, b)
        if how == "date":
            if ta.type == "DATE":
                a = "bq_cast(%s, 'DATE', 'DATETIME')" % a
            else:
                b = "bq_cast(%s, 'DATE', 'DATETIME')" % b
            return "(%s %s %s)" % (a, "<>" if op == "!=" else op, b)
        # coerce STRING to the other (temporal) type
        if ta.type == "STRING":
            a = "bq_cast(%s, 'STRING', '%s')" % (a, tb.type)
        else:
            b = "bq_cast(%s, 'STRING', '%s')" % (b, ta.type)
        return "(%s %s %s)" % (a, "<>" if op == "!=" else op, b)

    def e_cmp(self, e, scope, ctx):
        a, ta = self.sub(e[2], scope, ctx)
        b, tb = self.sub(e[3], scope, ctx)
        return self.compare(e[1], a, ta, b, tb), Ty("BOOL")

    def e_between(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        lo, tl = self.sub(e[2], scope, ctx)
        hi, th = self.sub(e[3], scope, ctx)
        s = "(%s AND %s)" % (self.compare(">=", x, tx, lo, tl), self.compare("<=", x, tx, hi, th))
        return ("(NOT %s)" % s if e[4] else s), Ty("BOOL")

    def e_like(self, e, scope, ctx):
        a, ta = self.sub(e[1], scope, ctx)
        b, tb = self.sub(e[2], scope, ctx)
        if ta.type not in ("STRING", "BYTES", "NULL") or tb.type not in ("STRING", "BYTES", "NULL"):
            raise SqlError("No matching signature for operator LIKE for argument types: %s, %s"
                           % (ta.type, tb.type))
        s = "bq_like(%s, %s)" % (a, b)
        return ("(NOT %s)" % s if e[3] else s), Ty("BOOL")

    def e_in(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        parts = [self.sub(it, scope, ctx) for it in e[2]]
        hows = {self.comparable(tx, ti, "IN") for _, ti in parts}
        if hows <= {"plain"}:
            s = "(%s IN (%s))" % (x, ", ".join(p for p, _ in parts))
        else:
            s = "(%s)" % " OR ".join(self.compare("=", x, tx, p, ti) for p, ti in parts)
        return ("(NOT %s)" % s if e[3] else s), Ty("BOOL")

    def e_inunnest(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        arr = e[2]
        if arr[0] in ("param", "qparam"):
            if arr[0] == "param":
                p = self.params.get(arr[1].lower()) if not self.positional else None
                if p is None:
                    raise SqlError("Query parameter '%s' not found" % arr[1], arr[2])
            else:
                if not self.positional or arr[1] >= len(self.params):
                    raise SqlError("Query parameter %d not found" % (arr[1] + 1), arr[2])
                p = self.params[arr[1]]
            if not p.ty.repeated:
                raise SqlError("Second argument of IN UNNEST must be an array but was %s" % p.ty.type, arr[2])
            et = Ty(p.ty.type)
            how = self.comparable(tx, et, "IN UNNEST")
            values = p.value or []
            if how == "plain":
                s = "(%s IN (%s))" % (x, ", ".join(self.bind(v) for v in values))
            elif not values:
                s = "0"
            else:
                s = "(%s)" % " OR ".join(self.compare("=", x, tx, self.bind(v), et) for v in values)
            return ("(NOT %s)" % s if e[3] else s), Ty("BOOL")
        a, ta = self.sub(arr, scope, ctx)
        if not ta.repeated:
            raise SqlError("Second argument of IN UNNEST must be an array but was %s" % ta.type)
        self.comparable(tx, Ty(ta.type), "IN UNNEST")
        s = "bq_in_json(%s, %s, '%s')" % (x, a, ta.type)
        return ("(NOT %s)" % s if e[3] else s), Ty("BOOL")

    def e_is(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        w, neg = e[2], e[3]
        if w != "NULL":
            self.want_bool(tx, "IS %s" % w)
        return "(%s IS %s%s)" % (x, "NOT " if neg else "", w), Ty("BOOL")

    def e_neg(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        if tx.type == "INT64":
            return "bq_ineg(%s)" % x, tx
        if tx.type == "FLOAT64":
            return "bq_fneg(%s)" % x, tx
        if tx.type in ("NUMERIC", "BIGNUMERIC"):
            return "bq_narith('-', '0', %s, '%s')" % (x, tx.type), tx
        if tx.type == "NULL":
            return "NULL", Ty("INT64")
        raise SqlError("No matching signature for operator - for argument type %s" % tx.type)

    def e_arith(self, e, scope, ctx):
        op = e[1]
        a, ta = self.sub(e[2], scope, ctx)
        b, tb = self.sub(e[3], scope, ctx)
        for t_ in (ta, tb):
            if t_.type not in NUMERIC_KINDS + ("NULL",) or t_.repeated:
                raise SqlError("No matching signature for operator %s for argument types: %s, %s"
                               % (op, ta.type, tb.type))
        names = {ta.type, tb.type} - {"NULL"}
        if "FLOAT64" in names:
            return "bq_farith('%s', %s, %s)" % (op, a, b), Ty("FLOAT64")
        for n in ("BIGNUMERIC", "NUMERIC"):
            if n in names:
                return "bq_narith('%s', %s, %s, '%s')" % (op, a, b, n), Ty(n)
        if op == "/":
            return "bq_farith('/', %s, %s)" % (a, b), Ty("FLOAT64")
        return "bq_iarith('%s', %s, %s)" % (op, a, b), Ty("INT64")

    def e_concat(self, e, scope, ctx):
        parts = [self.sub(x, scope, ctx) for x in e[1]]
        return self.concat(parts)

    def concat(self, parts):
        types = {t.type for _, t in parts} - {"NULL"}
        if len(types) > 1 or types - {"STRING", "BYTES"}:
            raise SqlError("No matching signature for function CONCAT for argument types: %s"
                           % ", ".join(t.type for _, t in parts))
        return "(%s)" % " || ".join(p for p, _ in parts), Ty(types.pop() if types else "STRING")

    def e_case(self, e, scope, ctx):
        operand, whens, other = e[1], e[2], e[3]
        conds, results = [], []
        if operand is not None:
            o, to = self.sub(operand, scope, ctx)
            for c, r in whens:
                cs, tc = self.sub(c, scope, ctx)
                conds.append(self.compare("=", o, to, cs, tc))
                results.append(self.sub(r, scope, ctx))
        else:
            for c, r in whens:
                cs, tc = self.sub(c, scope, ctx)
                self.want_bool(tc, "WHEN")
                conds.append(cs)
                results.append(self.sub(r, scope, ctx))
        if other is not None:
            results.append(self.sub(other, scope, ctx))
        sqls, ty = self.common(results, "CASE")
        out = ["CASE"]
        for cond, rs in zip(conds, sqls):
            out.append("WHEN %s THEN %s" % (cond, rs))
        if other is not None:
            out.append("ELSE %s" % sqls[-1])
        out.append("END")
        return "(%s)" % " ".join(out), ty

    def e_cast(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        to = e[2]
        if tx.repeated or tx.type == "STRUCT":
            raise SqlError("Invalid cast from %s to %s" % ("ARRAY" if tx.repeated else "STRUCT", to), e[4])
        frm = "INT64" if tx.type == "NULL" else tx.type
        if not _castable(frm, to):
            raise SqlError("Invalid cast from %s to %s" % (frm, to), e[4])
        sql = x if frm == to else "bq_cast(%s, '%s', '%s'%s)" % (x, frm, to, ", 1" if e[3] else "")
        params = e[5] if len(e) > 5 else ()
        if params:
            p, sc = params[0], (params[1] if len(params) > 1 else 0)
            sql = "bq_typeparam(%s, '%s', %d, %d, %d)" % (sql, to, p, sc, 1 if e[3] else 0)
        return sql, Ty(to)


    def e_func(self, e, scope, ctx):
        name, args, distinct, pos = e[1], e[2], e[3], e[4]
        star = len(e) > 5
        if name in AGGREGATES:
            return self.aggregate(name, args, distinct, star, pos, scope, ctx)
        if distinct:
            raise SqlError("DISTINCT is only allowed in aggregate functions", pos)
        fn = getattr(self, "f_" + name.lower(), None)
        if fn is None:
            raise SqlError("Unsupported in the luxe BigQuery emulator: function %s" % name, pos)
        compiled = [self.sub(a, scope, ctx) for a in args]
        return fn(compiled, pos)

    def nargs(self, name, args, lo, hi, pos):
        if not lo <= len(args) <= hi:
            raise SqlError("No matching signature for function %s with %d argument(s)"
                           % (name, len(args)), pos)

    def aggregate(self, name, args, distinct, star, pos, scope, ctx):
        if ctx.get("no_agg"):
            raise SqlError("Aggregate function %s not allowed in %s" % (name, ctx.get("clause", "this clause")), pos)
        if self.in_agg:
            raise SqlError("Aggregations of aggregations are not allowed", pos)
        self.in_agg = True
        try:
            compiled = [self.sub(a, scope, ctx) for a in args]
        finally:
            self.in_agg = False
        return self.aggregate_sql(name, compiled, distinct, star, pos)

    def aggregate_sql(self, name, compiled, distinct, star, pos):
        """(sql, Ty) of an aggregate over compiled arguments (also the function part of an
        analytic aggregate; every bq_* aggregate is a window function too)."""
        if name in ("ARRAY_AGG", "STRING_AGG"):
            raise SqlError("Unsupported in the luxe BigQuery emulator: function %s" % name, pos)
        d = "DISTINCT " if distinct else ""
        if name == "COUNT":
            if star:
                return "COUNT(*)", Ty("INT64")
            self.nargs(name, compiled, 1, 1, pos)
            x, tx = compiled[0]
            if distinct and (tx.repeated or tx.type in _UNGROUPABLE):
                raise SqlError("COUNT(DISTINCT) does not support arguments of type %s"
                               % ("ARRAY" if tx.repeated else tx.type), pos)
            return "COUNT(%s%s)" % (d, x), Ty("INT64")
        self.nargs(name, compiled, 1, 1, pos)
        x, tx = compiled[0]
        if tx.repeated or tx.type == "STRUCT":
            if name == "ANY_VALUE":
                return "bq_any_value(%s)" % x, tx
            raise SqlError("No matching signature for aggregate function %s for argument type %s"
                           % (name, "ARRAY" if tx.repeated else tx.type), pos)
        if name == "ANY_VALUE":
            if distinct:
                raise SqlError("ANY_VALUE does not support DISTINCT", pos)
            return "bq_any_value(%s)" % x, Ty("INT64") if tx.type == "NULL" else tx
        if name == "COUNTIF":
            self.want_bool(tx, "COUNTIF")
            if distinct:
                raise SqlError("COUNTIF does not support DISTINCT", pos)
            return "COUNT(CASE WHEN %s THEN 1 END)" % x, Ty("INT64")
        if name in ("LOGICAL_AND", "LOGICAL_OR"):
            self.want_bool(tx, name)
            return "%s(%s%s)" % ("MIN" if name == "LOGICAL_AND" else "MAX", d, x), Ty("BOOL")
        t = tx.type
        if name in ("SUM", "AVG"):
            if t not in NUMERIC_KINDS + ("NULL",):
                raise SqlError("No matching signature for aggregate function %s for argument type %s"
                               % (name, t), pos)
            if t == "NULL":
                t = "INT64"
            if name == "SUM":
                if t == "INT64":
                    return "SUM(%s%s)" % (d, x), Ty("INT64")
                if t == "FLOAT64":
                    return "bq_fsum(%s%s)" % (d, x), Ty("FLOAT64")
                return "bq_nsum_%s(%s%s)" % (t.lower(), d, x), Ty(t)
            if t in ("INT64", "FLOAT64"):
                return "bq_favg(%s%s)" % (d, x), Ty("FLOAT64")
            return "bq_navg_%s(%s%s)" % (t.lower(), d, x), Ty(t)
        # MIN / MAX
        if t in ("JSON", "GEOGRAPHY"):
            raise SqlError("No matching signature for aggregate function %s for argument type %s"
                           % (name, t), pos)
        if t == "FLOAT64":
            return "bq_f%s(%s)" % (name.lower(), x), tx
        if t in ("NUMERIC", "BIGNUMERIC"):
            return "bq_n%s(%s)" % (name.lower(), x), tx
        return "%s(%s)" % (name, x), Ty("INT64") if t == "NULL" else tx

    # -- type coercion --
    def coerce(self, sql, frm, to):
        """`sql` of type `frm` as a value of its supertype `to` (canonical stored form)."""
        if frm.type in ("NULL", to.type) or frm.repeated or to.repeated:
            return sql
        if frm.type == "INT64" and to.type in ("NUMERIC", "BIGNUMERIC"):
            return "bq_cast(%s, 'INT64', '%s')" % (sql, to.type)
        if frm.type == "NUMERIC" and to.type == "BIGNUMERIC":
            return sql
        if frm.type in ("INT64", "NUMERIC", "BIGNUMERIC") and to.type == "FLOAT64":
            return "bq_cast(%s, '%s', 'FLOAT64')" % (sql, frm.type)
        if frm.type == "DATE" and to.type == "DATETIME":
            return "bq_cast(%s, 'DATE', 'DATETIME')" % sql
        return sql

    def common(self, args, what, pos=None):
        """Coerce compiled (sql, Ty) pairs to their supertype: ([sql], Ty)."""
        ty = supertype([t for _, t in args], what)
        return [self.coerce(a, t, ty) for a, t in args], ty

    # -- scalar functions (each gets [(sql, Ty)]) --
    def _string_fn(self, name, args, pos, lo=1, hi=1, result=None):
        self.nargs(name, args, lo, hi, pos)
        t = args[0][1].type
        if t not in ("STRING", "BYTES", "NULL"):
            raise SqlError("No matching signature for function %s for argument types: %s"
                           % (name, ", ".join(a[1].type for a in args)), pos)
        return "bq_%s(%s)" % (name.lower(), ", ".join(a[0] for a in args)), Ty(result or
                                                                              ("STRING" if t == "NULL" else t))

    def _same_string_types(self, name, args, pos):
        types = {t.type for _, t in args} - {"NULL"}
        if len(types) > 1 or types - {"STRING", "BYTES"}:
            raise SqlError("No matching signature for function %s for argument types: %s"
                           % (name, ", ".join(t.type for _, t in args)), pos)
        return types.pop() if types else "STRING"

    def f_lower(self, args, pos):
        return self._string_fn("LOWER", args, pos)

    def f_upper(self, args, pos):
        return self._string_fn("UPPER", args, pos)

    def _trim(self, name, args, pos):
        self.nargs(name, args, 1, 2, pos)
        t = self._same_string_types(name, args, pos)
        if t == "BYTES" and len(args) == 1:
            raise SqlError("No matching signature for function %s for argument types: BYTES (BYTES "
                           "needs the bytes to remove as a second argument)" % name, pos)
        return self._string_fn(name, args, pos, 1, 2)

    def f_trim(self, args, pos):
        return self._trim("TRIM", args, pos)

    def f_ltrim(self, args, pos):
        return self._trim("LTRIM", args, pos)

    def f_rtrim(self, args, pos):
        return self._trim("RTRIM", args, pos)

    def f_length(self, args, pos):
        return self._string_fn("LENGTH", args, pos, result="INT64")

    def f_char_length(self, args, pos):
        if args and args[0][1].type == "BYTES":
            raise SqlError("No matching signature for function CHAR_LENGTH for argument types: BYTES", pos)
        return self.f_length(args, pos)

    f_character_length = f_char_length

    def f_substr(self, args, pos):
        self.nargs("SUBSTR", args, 2, 3, pos)
        for _, t in args[1:]:
            if t.type not in ("INT64", "NULL"):
                raise SqlError("No matching signature for function SUBSTR", pos)
        return self._string_fn("SUBSTR", args, pos, 2, 3)

    f_substring = f_substr

    def f_replace(self, args, pos):
        self.nargs("REPLACE", args, 3, 3, pos)
        t = self._same_string_types("REPLACE", args, pos)
        return "bq_replace(%s)" % ", ".join(a for a, _ in args), Ty(t)

    def f_starts_with(self, args, pos):
        self.nargs("STARTS_WITH", args, 2, 2, pos)
        self._same_string_types("STARTS_WITH", args, pos)
        return "bq_starts_with(%s, %s)" % (args[0][0], args[1][0]), Ty("BOOL")

    def f_ends_with(self, args, pos):
        self.nargs("ENDS_WITH", args, 2, 2, pos)
        self._same_string_types("ENDS_WITH", args, pos)
        return "bq_ends_with(%s, %s)" % (args[0][0], args[1][0]), Ty("BOOL")

    def f_strpos(self, args, pos):
        self.nargs("STRPOS", args, 2, 2, pos)
        self._same_string_types("STRPOS", args, pos)
        return "bq_strpos(%s, %s)" % (args[0][0], args[1][0]), Ty("INT64")

    def f_concat(self, args, pos):
        if not args:
            raise SqlError("No matching signature for function CONCAT with no arguments", pos)
        return self.concat(args)

    # -- regular expressions (RE2) --
    def _regexp(self, name, args, pos, lo, hi):
        self.nargs(name, args, lo, hi, pos)
        t = self._same_string_types(name, args[:2], pos)
        for _, ty in (args[2:] if name == "REGEXP_EXTRACT" else ()):
            if ty.type not in ("INT64", "NULL"):
                raise SqlError("No matching signature for function %s" % name, pos)
        return t

    def _check_pattern(self, e, pos):
        """Reject an RE2-invalid literal pattern when the query is compiled, as BigQuery does."""
        v = self.binds.get(e[1:]) if e.startswith(":") else None
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        if isinstance(v, str):
            try:
                return bq_re2.compile_re2(v)
            except bq_re2.Re2Error as exc:
                raise SqlError(exc.message, pos) from None
        return None

    def f_regexp_contains(self, args, pos):
        self._regexp("REGEXP_CONTAINS", args, pos, 2, 2)
        self._check_pattern(args[1][0], pos)
        return "bq_regexp_contains(%s, %s)" % (args[0][0], args[1][0]), Ty("BOOL")

    def f_regexp_replace(self, args, pos):
        t = self._regexp("REGEXP_REPLACE", args, pos, 3, 3)
        if args[2][1].type not in (t, "NULL"):
            raise SqlError("No matching signature for function REGEXP_REPLACE for argument types: %s"
                           % ", ".join(a[1].type for a in args), pos)
        rx = self._check_pattern(args[1][0], pos)
        rw = self.binds.get(args[2][0][1:]) if args[2][0].startswith(":") else None
        if rx is not None and isinstance(rw, (str, bytes)):
            try:
                bq_re2.check_rewrite(rw.decode("latin-1") if isinstance(rw, bytes) else rw, rx.groups)
            except ValueError as exc:
                raise SqlError(str(exc), pos) from None
        return "bq_regexp_replace(%s, %s, %s)" % tuple(a for a, _ in args), Ty(t)

    def f_regexp_extract(self, args, pos):
        t = self._regexp("REGEXP_EXTRACT", args, pos, 2, 4)
        rx = self._check_pattern(args[1][0], pos)
        if rx is not None and rx.groups > 1:
            raise SqlError("Regular expressions passed into extraction functions must not have more than "
                           "1 capturing group", pos)
        extra = [a for a, _ in args[2:]] + ["1"] * (4 - len(args))
        return "bq_regexp_extract(%s, %s, %s, %s)" % (args[0][0], args[1][0], extra[0], extra[1]), Ty(t)

    f_regexp_substr = f_regexp_extract

    # -- numbers --
    def f_abs(self, args, pos):
        self.nargs("ABS", args, 1, 1, pos)
        x, t = args[0]
        if t.type not in NUMERIC_KINDS + ("NULL",):
            raise SqlError("No matching signature for function ABS for argument type %s" % t.type, pos)
        return "bq_abs(%s, '%s')" % (x, t.type), Ty("INT64" if t.type == "NULL" else t.type)

    def f_coalesce(self, args, pos):
        if not args:
            raise SqlError("No matching signature for function COALESCE with no arguments", pos)
        sqls, ty = self.common(args, "COALESCE")
        if len(args) == 1:
            return sqls[0], ty
        return "COALESCE(%s)" % ", ".join(sqls), ty

    def f_ifnull(self, args, pos):
        self.nargs("IFNULL", args, 2, 2, pos)
        return self.f_coalesce(args, pos)

    def f_nullif(self, args, pos):
        self.nargs("NULLIF", args, 2, 2, pos)
        (a, ta), (b, tb) = args
        if ta.repeated or ta.type in _UNGROUPABLE:
            raise SqlError("No matching signature for function NULLIF for argument types: %s, %s"
                           % (ta.type, tb.type), pos)
        cond = self.compare("=", a, ta, b, tb)
        ty = supertype([ta, tb], "NULLIF")
        return "(CASE WHEN %s THEN NULL ELSE %s END)" % (cond, self.coerce(a, ta, ty)), ty

    def f_if(self, args, pos):
        self.nargs("IF", args, 3, 3, pos)
        self.want_bool(args[0][1], "IF condition")
        (a, b), ty = self.common(args[1:], "IF")
        return "(CASE WHEN %s THEN %s ELSE %s END)" % (args[0][0], a, b), ty

    def f_is_nan(self, args, pos):
        self.nargs("IS_NAN", args, 1, 1, pos)
        if args[0][1].type not in NUMERIC_KINDS + ("NULL",):
            raise SqlError("No matching signature for function IS_NAN for argument type %s"
                           % args[0][1].type, pos)
        return "bq_is_nan(%s)" % args[0][0], Ty("BOOL")

    def f_is_inf(self, args, pos):
        self.nargs("IS_INF", args, 1, 1, pos)
        return "bq_is_inf(%s)" % args[0][0], Ty("BOOL")

    def _rounding(self, name, args, pos):
        self.nargs(name, args, 1, 3 if name == "ROUND" else 2, pos)
        t = args[0][1].type
        if t not in NUMERIC_KINDS + ("NULL",) or args[0][1].repeated:
            raise SqlError("No matching signature for function %s for argument type %s" % (name, t), pos)
        if len(args) > 1 and args[1][1].type not in ("INT64", "NULL"):
            raise SqlError("No matching signature for function %s: the digits argument must be INT64" % name, pos)
        rt = "FLOAT64" if t in ("INT64", "FLOAT64", "NULL") else t
        n = args[1][0] if len(args) > 1 else "0"
        return rt, n

    def f_round(self, args, pos):
        rt, n = self._rounding("ROUND", args, pos)
        mode = "'ROUND_HALF_AWAY_FROM_ZERO'"
        if len(args) == 3:
            if rt not in ("NUMERIC", "BIGNUMERIC"):
                raise SqlError("No matching signature for function ROUND for argument types: %s, INT64, STRING "
                               "(a rounding mode needs a NUMERIC or BIGNUMERIC value)" % args[0][1].type, pos)
            m = self.binds.get(args[2][0][1:]) if args[2][0].startswith(":") else None
            if args[2][1].type != "STRING" or not isinstance(m, str):
                raise SqlError("ROUND's rounding mode must be a string literal", pos)
            if m.upper() not in ("ROUND_HALF_AWAY_FROM_ZERO", "ROUND_HALF_EVEN"):
                raise SqlError("Invalid rounding mode: %s (expected ROUND_HALF_AWAY_FROM_ZERO or "
                               "ROUND_HALF_EVEN)" % m, pos)
            mode = "'%s'" % m.upper()
        return "bq_round(%s, %s, '%s', %s)" % (args[0][0], n, rt, mode), Ty(rt)

    def f_trunc(self, args, pos):
        rt, n = self._rounding("TRUNC", args, pos)
        return "bq_round(%s, %s, '%s', 'ROUND_DOWN')" % (args[0][0], n, rt), Ty(rt)

    def f_div(self, args, pos):
        return self._intdiv("DIV", args, pos)

    def f_mod(self, args, pos):
        return self._intdiv("MOD", args, pos)

    def _intdiv(self, name, args, pos):
        self.nargs(name, args, 2, 2, pos)
        names = {t.type for _, t in args} - {"NULL"}
        if not names <= {"INT64", "NUMERIC", "BIGNUMERIC"}:
            raise SqlError("No matching signature for function %s for argument types: %s"
                           % (name, ", ".join(t.type for _, t in args)), pos)
        rt = "BIGNUMERIC" if "BIGNUMERIC" in names else "NUMERIC" if "NUMERIC" in names else "INT64"
        return "bq_%s(%s, %s, '%s')" % (name.lower(), args[0][0], args[1][0], rt), Ty(rt)

    def f_rand(self, args, pos):
        self.nargs("RAND", args, 0, 0, pos)
        return "bq_rand()", Ty("FLOAT64")

    def _numeric_args(self, name, args, pos):
        for _, t in args:
            if t.type not in NUMERIC_KINDS + ("NULL",) or t.repeated:
                raise SqlError("No matching signature for function %s for argument types: %s"
                               % (name, ", ".join(a[1].type for a in args)), pos)
        return {t.type for _, t in args} - {"NULL"}

    def f_safe_divide(self, args, pos):
        self.nargs("SAFE_DIVIDE", args, 2, 2, pos)
        names = self._numeric_args("SAFE_DIVIDE", args, pos)
        if "FLOAT64" in names or names <= {"INT64"}:
            return "bq_safe_divide(%s, %s, 'FLOAT64')" % (args[0][0], args[1][0]), Ty("FLOAT64")
        rt = "BIGNUMERIC" if "BIGNUMERIC" in names else "NUMERIC"
        return "bq_safe_divide(%s, %s, '%s')" % (args[0][0], args[1][0], rt), Ty(rt)

    def f_ieee_divide(self, args, pos):
        self.nargs("IEEE_DIVIDE", args, 2, 2, pos)
        self._numeric_args("IEEE_DIVIDE", args, pos)
        return "bq_ieee_divide(%s, %s)" % (args[0][0], args[1][0]), Ty("FLOAT64")

_CASTS = {
    "INT64": {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "STRING"},
    "FLOAT64": {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "STRING"},
    "NUMERIC": {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "STRING"},
    "BIGNUMERIC": {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "STRING"},
    "BOOL": {"INT64", "BOOL", "STRING"},
    "STRING": {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "STRING", "BYTES", "DATE",
               "DATETIME", "TIME", "TIMESTAMP", "JSON", "GEOGRAPHY"},
    "BYTES": {"STRING", "BYTES"},
    "DATE": {"STRING", "DATE", "DATETIME", "TIMESTAMP"},
    "DATETIME": {"STRING", "DATE", "DATETIME", "TIME", "TIMESTAMP"},
    "TIME": {"STRING", "TIME"},
    "TIMESTAMP": {"STRING", "DATE", "DATETIME", "TIME", "TIMESTAMP"},
    "JSON": {"JSON"},
    "GEOGRAPHY": {"GEOGRAPHY"},
}


def _castable(frm, to):
    return to in _CASTS.get(frm, ())


# =============================================================================================
# runtime functions registered on the SQLite connection
# =============================================================================================

_state = {"error": None}


def _fail(msg):
    _state["error"] = msg
    raise QueryRuntimeError(msg)


def take_runtime_error():
    msg, _state["error"] = _state["error"], None
    return msg


def _dec(v):
    if v is None:
        return None
    if isinstance(v, str):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def _f(v):
    return T.to_float(v)


def _out_f(x):
    return "NaN" if x != x else x


def _nstr(d, kind):
    try:
        return T.canon_decimal(d, kind)
    except T.ValueError_:
        _fail("numeric overflow: result %s out of range for %s" % (d, kind))


def bq_cmpf(op, a, b):
    if a is None or b is None:
        return None
    x, y = _f(a), _f(b)
    return int(_CMP[op](x, y))


def bq_cmpn(op, a, b):
    if a is None or b is None:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return bq_cmpf(op, a, b)
    return int(_CMP[op](_dec(a), _dec(b)))


_CMP = {"=": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}


def bq_farith(op, a, b):
    if a is None or b is None:
        return None
    x, y = _f(a), _f(b)
    if op == "+":
        r = x + y
    elif op == "-":
        r = x - y
    elif op == "*":
        r = x * y
    elif op == "//":  # SAFE_DIVIDE
        if y == 0:
            return None
        r = x / y
    else:
        if y == 0:
            _fail("division by zero: %s / %s" % (T.java_double(x) if False else _num_txt(a),
                                                   _num_txt(b)))
        r = x / y
    if (math.isinf(r) and not (math.isinf(x) or math.isinf(y))):
        _fail("floating point overflow in operation %s" % op)
    return _out_f(r)


def _num_txt(v):
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v))
    return str(v)


def bq_iarith(op, a, b):
    if a is None or b is None:
        return None
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    else:
        r = a * b
    if not T.INT64_MIN <= r <= T.INT64_MAX:
        _fail("int64 overflow: %s %s %s" % (a, op, b))
    return r


def bq_ineg(a):
    if a is None:
        return None
    if a == T.INT64_MIN:
        _fail("int64 overflow: -%s" % a)
    return -a


def bq_fneg(a):
    if a is None:
        return None
    return _out_f(-_f(a))


def bq_narith(op, a, b, kind):
    if a is None or b is None:
        return None
    x, y = _dec(a), _dec(b)
    with localcontext() as ctx:
        ctx.prec = 160
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        else:
            if y == 0:
                _fail("division by zero: %s / %s" % (a, b))
            r = x / y
    return _nstr(r, kind)


def bq_div(a, b, kind):
    if a is None or b is None:
        return None
    if kind == "INT64":
        if b == 0:
            _fail("division by zero: %s / %s" % (a, b))
        qv = abs(a) // abs(b)
        r = qv if (a >= 0) == (b >= 0) else -qv
        if not T.INT64_MIN <= r <= T.INT64_MAX:
            _fail("int64 overflow: DIV(%s, %s)" % (a, b))
        return r
    x, y = _dec(a), _dec(b)
    if y == 0:
        _fail("division by zero: %s / %s" % (a, b))
    with localcontext() as ctx:
        ctx.prec = 160
        return _nstr((x / y).to_integral_value(rounding="ROUND_DOWN"), kind)


def bq_mod(a, b, kind):
    if a is None or b is None:
        return None
    if kind == "INT64":
        if b == 0:
            _fail("division by zero: MOD(%s, %s)" % (a, b))
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    x, y = _dec(a), _dec(b)
    if y == 0:
        _fail("division by zero: MOD(%s, %s)" % (a, b))
    with localcontext() as ctx:
        ctx.prec = 160
        return _nstr(x % y, kind)  # Decimal % keeps the dividend's sign, like BigQuery


def bq_abs(a, t):
    if a is None:
        return None
    if t == "INT64":
        if a == T.INT64_MIN:
            _fail("int64 overflow: ABS(%s)" % a)
        return abs(a)
    if t == "FLOAT64":
        return _out_f(abs(_f(a)))
    return _nstr(abs(_dec(a)), t)


_ROUNDING = {"ROUND_HALF_AWAY_FROM_ZERO": ROUND_HALF_UP, "ROUND_HALF_EVEN": ROUND_HALF_EVEN,
             "ROUND_DOWN": ROUND_DOWN}


def bq_round(a, n, t, mode="ROUND_HALF_AWAY_FROM_ZERO"):
    """ROUND (halves away from zero, or to even) and TRUNC (ROUND_DOWN) to n decimal places."""
    if a is None or n is None:
        return None
    rounding = _ROUNDING[mode]
    if t == "FLOAT64":
        # BigQuery scales the double by 10^n, rounds that to an integer (halves away from zero)
        # or truncates it, and scales back: computed exactly here, then rounded to a double
        x = _f(a)
        if x != x or math.isinf(x) or n > 330:
            return _out_f(x)
        if n < -310:
            return 0.0
        scale = Fraction(10) ** n
        v = Fraction(x) * scale
        if rounding == ROUND_DOWN:
            r = math.trunc(v)
        elif rounding == ROUND_HALF_EVEN:
            r = round(v)
        else:
            r = math.floor(abs(v) + Fraction(1, 2)) * (1 if v >= 0 else -1)
        try:
            out = float(r / scale)
        except OverflowError:
            out = math.inf
        if math.isinf(out):
            _fail("floating point overflow in %s(%s, %s)" % ("TRUNC" if mode == "ROUND_DOWN" else "ROUND",
                                                              T.java_double(x), n))
        return math.copysign(out, x) if out == 0 else out
    d = _dec(a)
    if n > 80:
        return _nstr(d, t)
    with localcontext() as ctx:
        ctx.prec = 200
        d = d.quantize(Decimal(1).scaleb(-max(n, -80)), rounding=rounding) if n > -80 else Decimal(0)
    return _nstr(d, t)


def bq_is_nan(a):
    if a is None:
        return None
    x = _f(a)
    return int(x != x)


def bq_is_inf(a):
    if a is None:
        return None
    return int(math.isinf(_f(a)))


_like_cache = {}


def bq_like(s, pat):
    if s is None or pat is None:
        return None
    if isinstance(s, bytes) or isinstance(pat, bytes):
        s = s.decode("latin-1") if isinstance(s, bytes) else s
        pat = pat.decode("latin-1") if isinstance(pat, bytes) else pat
    rx = _like_cache.get(pat)
    if rx is None:
        out, i = [], 0
        while i < len(pat):
            c = pat[i]
            if c == "\\":
                if i + 1 >= len(pat):
                    _fail("LIKE pattern ends with a backslash")
                out.append(re.escape(pat[i + 1]))
                i += 2
                continue
            out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
            i += 1
        rx = re.compile("".join(out), re.S)
        if len(_like_cache) > 500:
            _like_cache.clear()
        _like_cache[pat] = rx
    return int(rx.fullmatch(s) is not None)


def bq_lower(s):
    if s is None:
        return None
    return bytes(s).lower() if isinstance(s, bytes) else s.lower()


def bq_upper(s):
    if s is None:
        return None
    return bytes(s).upper() if isinstance(s, bytes) else s.upper()


# Unicode's White_Space property, which BigQuery's one-argument TRIM/LTRIM/RTRIM remove
# (Python's str.strip() would also remove U+001C..U+001F, which are not White_Space).
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _trim_n(kind):
    """The one- and two-argument forms of TRIM/LTRIM/RTRIM."""
    def strip(s, chars):
        if isinstance(s, bytes) or isinstance(chars, bytes):
            s, chars = bytes(s), bytes(chars)
        if kind == "both":
            return s.strip(chars)
        return s.lstrip(chars) if kind == "left" else s.rstrip(chars)

    def one(s):
        return None if s is None else strip(s, WHITE_SPACE)

    def two(s, chars):
        return None if s is None or chars is None else strip(s, chars)
    return one, two


def bq_length(s):
    if s is None:
        return None
    return len(s)


def _substr2(s, pos):
    return _substr(s, pos, None)


def _substr3(s, pos, ln):
    if ln is None:
        return None
    return _substr(s, pos, ln)


def _substr(s, pos, ln):
    if s is None or pos is None:
        return None
    if ln is not None and ln < 0:
        _fail("Third argument in SUBSTR() cannot be negative")
    n = len(s)
    if pos > 0:
        start = pos - 1
    elif pos == 0:
        start = 0
    else:
        start = max(n + pos, 0)
    if start > n:
        return s[:0]
    return s[start:] if ln is None else s[start:start + ln]


def bq_rand():
    return random.random()


def bq_limit(n):
    if n is None:
        _fail("LIMIT expects a non-NULL value")
    if n < 0:
        _fail("LIMIT expects a non-negative integer or parameter, got %s" % n)
    return n


def bq_nkey(v):
    """An order-preserving TEXT key for a NUMERIC/BIGNUMERIC value."""
    if v is None:
        return None
    d = _dec(v)
    neg = d < 0
    s = format(abs(d), "f")
    ip, _, fp = s.partition(".")
    ip = ip.rjust(80, "0")
    fp = fp.ljust(80, "0")
    digits = ip + fp
    if neg:
        return "0" + "".join(chr(ord("9") - ord(c) + ord("0")) for c in digits)
    return "1" + digits


def bq_fromjson(v, t):
    """A scalar from json_extract() of REPEATED/RECORD JSON text, as a stored value."""
    if v is None:
        return None
    if t == "FLOAT64":
        return T.parse_float(v)
    if t == "BYTES":
        return base64.b64decode(v)
    return v


def bq_in_json(x, arr, t):
    if x is None:
        return None if arr not in (None, "[]") else 0
    if arr is None:
        return 0
    vals = [T.jsonable_to_stored(t, v) for v in json.loads(arr)]
    if t == "FLOAT64":
        return int(any(bq_cmpf("=", x, v) for v in vals))
    if t in ("NUMERIC", "BIGNUMERIC"):
        return int(any(bq_cmpn("=", x, v) for v in vals))
    return int(x in vals)


# -- CAST --

def _fmt_float_string(x):
    if x != x:
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    r = repr(x)
    return r


def bq_cast(v, frm, to, safe=0):
    if v is None:
        return None
    try:
        return _cast(v, frm, to)
    except (T.ValueError_, ValueError, InvalidOperation, OverflowError, UnicodeDecodeError) as exc:
        if safe:
            return None
        msg = str(exc) if isinstance(exc, T.ValueError_) else "Bad %s value: %s" % (to, v)
        if frm == "STRING" and not isinstance(exc, T.ValueError_):
            msg = "Bad %s value: %s" % (to.lower() if to in ("INT64", "BOOL") else to, v)
        _fail(msg)


def _cast(v, frm, to):
    if to == "STRING":
        if frm == "INT64":
            return str(v)
        if frm == "FLOAT64":
            return _fmt_float_string(_f(v))
        if frm == "BOOL":
            return "true" if v else "false"
        if frm == "BYTES":
            return bytes(v).decode("utf-8")
        if frm in ("DATETIME", "TIME"):
            s = v.replace("T", " ")
            return s[:-7] if s.endswith(".000000") else s.rstrip("0") if "." in s else s
        if frm == "TIMESTAMP":
            d = T.micros_to_dt(v)
            s = d.strftime("%Y-%m-%d %H:%M:%S")
            if d.microsecond:
                s += (".%06d" % d.microsecond).rstrip("0")
            return s + "+00"
        return str(v)
    if to == "INT64":
        if frm == "FLOAT64":
            x = _f(v)
            if x != x or math.isinf(x):
                raise T.ValueError_("Illegal conversion of non-finite floating point number to an integer: %s"
                                    % T.java_double(x))
            r = int(Decimal(repr(x)).to_integral_value(ROUND_HALF_UP))
        elif frm in ("NUMERIC", "BIGNUMERIC"):
            r = int(_dec(v).to_integral_value(ROUND_HALF_UP))
        elif frm == "BOOL":
            r = int(v)
        elif frm == "STRING":
            s = v.strip()
            if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", s):
                r = int(s, 16)
            elif re.fullmatch(r"[+-]?\d+", s):
                r = int(s)
            else:
                raise T.ValueError_("Bad int64 value: %s" % v)
        else:
            r = int(v)
        if not T.INT64_MIN <= r <= T.INT64_MAX:
            raise T.ValueError_("int64 overflow: %s" % v)
        return r
    if to == "FLOAT64":
        if frm == "STRING":
            try:
                return T.parse_float(v)
            except T.ValueError_:
                raise T.ValueError_("Bad double value: %s" % v) from None
        return _out_f(_f(v))
    if to in ("NUMERIC", "BIGNUMERIC"):
        if frm == "FLOAT64":
            x = _f(v)
            if x != x or math.isinf(x):
                raise T.ValueError_("Illegal conversion of non-finite floating point number to %s: %s"
                                    % (to, T.java_double(x)))
            return T.canon_decimal(Decimal(repr(x)), to)
        if frm == "STRING":
            try:
                return T.parse_decimal(v, to)
            except T.ValueError_:
                raise T.ValueError_("Invalid %s value: %s" % (to, v)) from None
        return T.canon_decimal(_dec(v), to)
    if to == "BOOL":
        if frm == "STRING":
            s = v.strip().lower()
            if s not in ("true", "false"):
                raise T.ValueError_("Bad bool value: %s" % v)
            return int(s == "true")
        return int(v != 0)
    if to == "BYTES":
        return v.encode("utf-8") if isinstance(v, str) else bytes(v)
    if to == "DATE":
        if frm == "STRING":
            return T.parse_date(v)
        if frm == "DATETIME":
            return v[:10]
        if frm == "TIMESTAMP":
            return T.micros_to_dt(v).date().isoformat()
    if to == "DATETIME":
        if frm == "STRING":
            return T.parse_datetime(v)
        if frm == "DATE":
            return v + "T00:00:00.000000"
        if frm == "TIMESTAMP":
            d = T.micros_to_dt(v)
            return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d" % d.microsecond
    if to == "TIME":
        if frm == "STRING":
            return T.parse_time(v)
        if frm == "DATETIME":
            return v[11:]
        if frm == "TIMESTAMP":
            d = T.micros_to_dt(v)
            return d.strftime("%H:%M:%S.") + "%06d" % d.microsecond
    if to == "TIMESTAMP":
        if frm == "STRING":
            return T.parse_timestamp(v)
        if frm == "DATE":
            return T.parse_timestamp(v)
        if frm == "DATETIME":
            return T.parse_timestamp(v.replace("T", " "))
    if to == "JSON":
        return T.parse_scalar("JSON", v, csv=True)
    if to == "GEOGRAPHY":
        return T.parse_scalar("GEOGRAPHY", v)
    raise T.ValueError_("Invalid cast from %s to %s" % (frm, to))


# -- aggregates --



# -- more scalar functions --

def bq_raise(msg):
    _fail(msg)


def bq_typeparam(v, t, p, s, safe):
    """A value cast to a parameterized type: NUMERIC/BIGNUMERIC(P, S) round to S decimal places
    (halves away from zero) and allow P - S integer digits; STRING/BYTES(L) allow L characters/bytes."""
    if v is None:
        return None
    if t in ("NUMERIC", "BIGNUMERIC"):
        with localcontext() as ctx:
            ctx.prec = 200
            d = _dec(v).quantize(Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP)
        if abs(d) >= Decimal(10) ** (p - s):
            if safe:
                return None
            _fail("Value %s does not fit in %s(%d, %d)" % (v, t, p, s))
        return T.canon_decimal(d, t)
    if len(v) > p:
        if safe:
            return None
        _fail("Value of type %s exceeds the maximum length %d: %s(%d)" % (t, p, t, p))
    return v


def bq_safe_divide(a, b, t):
    """SAFE_DIVIDE: NULL instead of division by zero or overflow."""
    if a is None or b is None:
        return None
    if t == "FLOAT64":
        x, y = _f(a), _f(b)
        if y == 0:
            return None
        r = x / y
        if math.isinf(r) and not (math.isinf(x) or math.isinf(y)):
            return None
        return _out_f(r)
    x, y = _dec(a), _dec(b)
    if y == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 160
        r = x / y
    try:
        return T.canon_decimal(r, t)
    except T.ValueError_:
        return None


def bq_ieee_divide(a, b):
    """IEEE_DIVIDE: x / y with IEEE 754 results for a zero divisor (+-inf, NaN)."""
    if a is None or b is None:
        return None
    x, y = _f(a), _f(b)
    if y == 0:
        if x == 0 or x != x:
            return "NaN"
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return _out_f(x / y)


def bq_replace(s, old, new):
    if s is None or old is None or new is None:
        return None
    if len(old) == 0:
        return s
    return s.replace(old, new)


def bq_starts_with(s, prefix):
    if s is None or prefix is None:
        return None
    return int(s.startswith(prefix))


def bq_ends_with(s, suffix):
    if s is None or suffix is None:
        return None
    return int(s.endswith(suffix))


def bq_strpos(s, sub):
    if s is None or sub is None:
        return None
    return s.find(sub) + 1


def _re_args(s, pattern):
    """(text, compiled RE2, was_bytes) for a REGEXP_* call; BYTES work on Latin-1 code points."""
    was_bytes = isinstance(s, bytes) or isinstance(pattern, bytes)
    if isinstance(s, bytes):
        s = s.decode("latin-1")
    if isinstance(pattern, bytes):
        pattern = pattern.decode("latin-1")
    try:
        rx = bq_re2.compile_re2(pattern)
    except bq_re2.Re2Error as exc:
        _fail(exc.message)
    return s, rx, was_bytes


def bq_regexp_contains(s, pattern):
    if s is None or pattern is None:
        return None
    s, rx, _ = _re_args(s, pattern)
    return int(rx.rx.search(s) is not None)


def bq_regexp_replace(s, pattern, rewrite):
    if s is None or pattern is None or rewrite is None:
        return None
    s, rx, was_bytes = _re_args(s, pattern)
    if isinstance(rewrite, bytes):
        rewrite = rewrite.decode("latin-1")
    try:
        out = bq_re2.regexp_replace(rx, s, rewrite)
    except ValueError as exc:
        _fail(str(exc))
    return out.encode("latin-1") if was_bytes else out


def bq_regexp_extract(s, pattern, position, occurrence):
    if s is None or pattern is None or position is None or occurrence is None:
        return None
    if position <= 0:
        _fail("Position must be positive")
    if occurrence <= 0:
        _fail("Occurrence must be positive")
    s, rx, was_bytes = _re_args(s, pattern)
    if position > len(s) and not (s == "" and position == 1):
        return None
    try:
        n = 0
        for m in bq_re2.extract_all(rx, s[position - 1:]):
            n += 1
            if n == occurrence:
                if m is None:
                    return None
                return m.encode("latin-1") if was_bytes else m
    except ValueError as exc:
        _fail(str(exc))
    return None


# -- aggregates and analytic functions --
#
# Every bq_* aggregate is registered with create_window_function, so the same class serves
# GROUP BY aggregation (step, finalize) and analytic windows (step, inverse, value): rows leave
# a sliding frame in the order they entered it, hence the deques. value() is cached until the
# frame changes, so a whole-partition frame costs one computation per partition.

def _float_total(vals):
    """The exact sum of finite floats (math.fsum); NaN/infinity rules otherwise."""
    return math.fsum(vals) if all(math.isfinite(x) for x in vals) else sum(vals)


class _Frame:
    """A window frame's rows (None kept, so inverse() stays in step) with a cached result."""

    def __init__(self):
        self.rows = collections.deque()
        self.cache = self
        self.extra = None

    def step(self, v, *extra):
        self.rows.append(v)
        self.extra = extra
        self.cache = self

    def inverse(self, v, *extra):
        self.rows.popleft()
        self.cache = self

    def value(self):
        if self.cache is self:
            self.cache = self.compute([v for v in self.rows if v is not None])
        return self.cache

    def finalize(self):
        return self.value()

    def compute(self, vals):
        raise NotImplementedError


class _FSum(_Frame):
    def compute(self, vals):
        if not vals:
            return None
        return _out_f(_float_total([_f(v) for v in vals]))


class _FAvg(_Frame):
    def compute(self, vals):
        if not vals:
            return None
        return _out_f(_float_total([_f(v) for v in vals]) / len(vals))


class _FMin(_Frame):
    pick = min

    def compute(self, vals):
        if not vals:
            return None
        xs = [_f(v) for v in vals]
        if any(x != x for x in xs):
            return "NaN"
        return type(self).pick(xs)


class _FMax(_FMin):
    pick = max


def _nagg(kind, op):
    class Agg(_Frame):
        def compute(self, vals):
            if not vals:
                return None
            ds = [_dec(v) for v in vals]
            with localcontext() as ctx:
                ctx.prec = 160
                if op == "sum":
                    r = sum(ds, Decimal(0))
                else:
                    r = sum(ds, Decimal(0)) / len(ds)
            return _nstr(r, kind)
    return Agg


def _nminmax(op):
    class Agg(_Frame):
        def compute(self, vals):
            if not vals:
                return None
            pick = min if op == "min" else max
            return pick(vals, key=_dec)
    return Agg


class _CountDistinct(_Frame):
    """COUNT(DISTINCT x) OVER (PARTITION BY ...), which SQLite's own window COUNT cannot do."""

    def compute(self, vals):
        return len(set(vals))


class _AnyValue(_Frame):
    def compute(self, vals):
        return vals[0] if vals else None


def _percentile(p, what):
    """The percentile argument as an exact Fraction in [0, 1] (None for NULL)."""
    if p is None:
        return None
    try:
        fp = Fraction(_dec(p)) if isinstance(p, str) else Fraction(p)
    except (ValueError, TypeError, OverflowError, InvalidOperation):
        _fail("Percentile argument must be in [0, 1]; got %s" % p)
    if not 0 <= fp <= 1:
        _fail("Percentile argument must be in [0, 1]; got %s" % (
            T.java_double(p) if isinstance(p, float) else p))
    return fp


def _sort_key(t):
    if t == "FLOAT64":
        return lambda v: (0, 0.0) if _f(v) != _f(v) else (1, _f(v))  # NaN first
    if t in ("NUMERIC", "BIGNUMERIC"):
        return _dec
    return None


class _PercentileCont(_Frame):
    """PERCENTILE_CONT(x, p): linear interpolation between the sorted non-NULL values at
    rank p * (n - 1); FLOAT64 result for INT64/FLOAT64 input, NUMERIC/BIGNUMERIC otherwise."""

    def compute(self, vals):
        p, t, rt = self.extra
        if isinstance(p, float) and rt != "FLOAT64" and math.isfinite(p):
            p = T.canon_decimal(Decimal(repr(p)), rt)  # a FLOAT64 literal coerces to the NUMERIC type
        fp = _percentile(p, "PERCENTILE_CONT")
        if fp is None or not vals:
            return None
        vals = sorted(vals, key=_sort_key(t) if t != "INT64" else None)
        rank = fp * (len(vals) - 1)
        i = math.floor(rank)
        frac = rank - i
        if rt == "FLOAT64":
            left = _f(vals[i])
            if frac == 0:
                return _out_f(left)
            right = _f(vals[i + 1])
            if not (math.isfinite(left) and math.isfinite(right)):
                return _out_f(left * float(1 - frac) + right * float(frac))
            return float(Fraction(left) * (1 - frac) + Fraction(right) * frac)
        left = Fraction(_dec(vals[i]))
        right = Fraction(_dec(vals[i + 1])) if frac else Fraction(0)
        r = left * (1 - frac) + right * frac
        with localcontext() as ctx:
            ctx.prec = 400
            d = Decimal(r.numerator) / Decimal(r.denominator)
        return _nstr(d, rt)


class _PercentileDisc(_Frame):
    """PERCENTILE_DISC(x, p): the first sorted non-NULL value whose cumulative distribution
    reaches p."""

    def compute(self, vals):
        p, t = self.extra
        fp = _percentile(p, "PERCENTILE_DISC")
        if fp is None or not vals:
            return None
        vals = sorted(vals, key=_sort_key(t))
        pos = fp * len(vals)
        i = math.floor(pos)
        if i > 0 and pos == i:
            i -= 1
        return vals[min(i, len(vals) - 1)]


def register(conn):
    """Register the runtime functions on a sqlite3 connection."""
    det = {"deterministic": True}
    fns = [
        ("bq_cmpf", 3, bq_cmpf), ("bq_cmpn", 3, bq_cmpn), ("bq_farith", 3, bq_farith),
        ("bq_iarith", 3, bq_iarith), ("bq_ineg", 1, bq_ineg), ("bq_fneg", 1, bq_fneg),
        ("bq_narith", 4, bq_narith), ("bq_div", 3, bq_div), ("bq_mod", 3, bq_mod),
        ("bq_abs", 2, bq_abs), ("bq_round", 3, bq_round), ("bq_round", 4, bq_round),
        ("bq_is_nan", 1, bq_is_nan), ("bq_is_inf", 1, bq_is_inf), ("bq_like", 2, bq_like),
        ("bq_lower", 1, bq_lower), ("bq_upper", 1, bq_upper), ("bq_length", 1, bq_length),
        ("bq_substr", 2, _substr2), ("bq_substr", 3, _substr3), ("bq_limit", 1, bq_limit),
        ("bq_nkey", 1, bq_nkey), ("bq_fromjson", 2, bq_fromjson), ("bq_in_json", 3, bq_in_json),
        ("bq_cast", 3, bq_cast), ("bq_cast", 4, bq_cast), ("bq_safe_divide", 3, bq_safe_divide),
        ("bq_typeparam", 5, bq_typeparam),
        ("bq_ieee_divide", 2, bq_ieee_divide), ("bq_replace", 3, bq_replace),
        ("bq_starts_with", 2, bq_starts_with), ("bq_ends_with", 2, bq_ends_with),
        ("bq_strpos", 2, bq_strpos), ("bq_regexp_contains", 2, bq_regexp_contains),
        ("bq_regexp_replace", 3, bq_regexp_replace), ("bq_regexp_extract", 4, bq_regexp_extract),
    ]
    for kind in ("both", "left", "right"):
        one, two = _trim_n(kind)
        name = {"both": "bq_trim", "left": "bq_ltrim", "right": "bq_rtrim"}[kind]
        fns.append((name, 1, one))
        fns.append((name, 2, two))
    for name, n, fn in fns:
        conn.create_function(name, n, fn, **det)
    conn.create_function("bq_rand", 0, bq_rand)
    conn.create_function("bq_raise", 1, bq_raise)
    wins = [("bq_fsum", 1, _FSum), ("bq_favg", 1, _FAvg), ("bq_fmin", 1, _FMin), ("bq_fmax", 1, _FMax),
            ("bq_nmin", 1, _nminmax("min")), ("bq_nmax", 1, _nminmax("max")),
            ("bq_any_value", 1, _AnyValue), ("bq_count_distinct", 1, _CountDistinct), ("bq_pcont", 4, _PercentileCont), ("bq_pdisc", 3, _PercentileDisc)]
    for kind in ("NUMERIC", "BIGNUMERIC"):
        wins.append(("bq_nsum_%s" % kind.lower(), 1, _nagg(kind, "sum")))
        wins.append(("bq_navg_%s" % kind.lower(), 1, _nagg(kind, "avg")))
    for name, n, cls in wins:
        conn.create_window_function(name, n, cls)


# =============================================================================================
# query parameters
# =============================================================================================

def parse_param_type(pt, where):
    if not isinstance(pt, dict):
        raise SqlError("Invalid query parameter type for %s" % where)
    t = str(pt.get("type") or "").upper()
    if t == "ARRAY":
        at = pt.get("arrayType") or {}
        inner = parse_param_type(at, where)
        if inner.repeated:
            raise SqlError("Arrays of arrays are not supported (parameter %s)" % where)
        return Ty(inner.type, "REPEATED", inner.fields)
    if t in ("STRUCT", "RECORD"):
        fields = []
        for st in pt.get("structTypes") or []:
            sub = parse_param_type(st.get("type"), where)
            fields.append(T.Field(st.get("name") or "", sub.type, sub.mode, sub.fields))
        return Ty("STRUCT", "NULLABLE", fields)
    c = T.canon_type(t)
    if c is None or c == "STRUCT":
        raise SqlError("Unsupported query parameter type %s for parameter %s" % (pt.get("type"), where))
    return Ty(c)


def _param_scalar(t, v, where):
    if v is None:
        return None
    try:
        if t == "TIMESTAMP":
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return int(round(v * 1000000))
            return T.parse_timestamp(str(v))
        if t == "BYTES" and not isinstance(v, str):
            raise T.ValueError_("BYTES parameter values must be base64 strings")
        if t == "STRING" and not isinstance(v, str):
            return str(v)
        if t == "BOOL" and isinstance(v, str):
            s = v.strip().lower()
            if s not in ("true", "false"):
                raise T.ValueError_("Invalid BOOL value: %s" % v)
            return int(s == "true")
        return T.parse_scalar(t, v)
    except T.ValueError_ as exc:
        raise SqlError("Invalid value for query parameter %s: %s" % (where, exc)) from None


def parse_params(mode, params):
    """(positional?, {name: Param} or [Param]) from a jobs.query body."""
    mode = (mode or "").upper()
    params = params or []
    if not isinstance(params, list):
        raise SqlError("queryParameters must be a list")
    positional = mode == "POSITIONAL" or (mode == "" and params and not any(p.get("name") for p in params))
    out_named, out_pos = {}, []
    for i, p in enumerate(params):
        if not isinstance(p, dict):
            raise SqlError("Invalid query parameter %d" % (i + 1))
        name = p.get("name")
        where = name or str(i + 1)
        ty = parse_param_type(p.get("parameterType"), where)
        pv = p.get("parameterValue") or {}
        if ty.repeated:
            vals = pv.get("arrayValues")
            if vals is None:
                value = [] if "arrayValues" in pv or not pv else None
                value = [] if value is None and pv == {} else value
            else:
                value = []
                for av in vals:
                    av = av or {}
                    if av.get("value") is None:
                        raise SqlError("Array parameter %s cannot contain NULL values" % where)
                    value.append(_param_scalar(ty.type, av.get("value"), where))
        elif ty.type == "STRUCT":
            sv = pv.get("structValues") or {}
            value = {}
            for f in ty.fields:
                inner = (sv.get(f.name) or {}).get("value")
                value[f.name] = T.stored_to_jsonable(f.type, _param_scalar(f.type, inner, where))
        else:
            value = _param_scalar(ty.type, pv.get("value"), where)
        param = Param(ty, value)
        if positional:
            out_pos.append(param)
        else:
            if not name:
                raise SqlError("Query parameter %d has no name (parameterMode NAMED)" % (i + 1))
            if name.lower() in out_named:
                raise SqlError("Duplicate query parameter name %s" % name)
            out_named[name.lower()] = param
    return positional, (out_pos if positional else out_named)


def parse_script(sql):
    """[(statement AST, statement text, (line, column))] of a query or a script."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlError("Syntax error: Unexpected end of script")
    return Parser(sql).script()


def parse(sql):
    """The AST of a single statement (a trailing ';' is allowed)."""
    stmts = parse_script(sql)
    if len(stmts) != 1:
        raise SqlError("Expected a single statement, got a script of %d statements" % len(stmts))
    return stmts[0][0]

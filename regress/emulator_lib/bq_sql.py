"""A small GoogleSQL (BigQuery Standard SQL) front end for the emulator: tokenizer, parser and a
translator to SQLite SQL with BigQuery semantics and BigQuery result types.

It covers the subset luxe_fdw emits (notes/bq_sql_contract.md) plus simple hand-written
queries: SELECT [DISTINCT] ... FROM tables, subqueries and [INNER|LEFT|RIGHT|FULL|CROSS] joins,
WHERE, GROUP BY, HAVING, ORDER BY ... NULLS FIRST|LAST, LIMIT/OFFSET, and the statements
TRUNCATE TABLE, DELETE, INSERT ... VALUES|SELECT and UPDATE. Anything else raises
SqlError naming the construct (answered as 400 invalidQuery).

How BigQuery semantics are kept on SQLite (values are stored as described in bq_types.py):
- `/` is FLOAT64 (NUMERIC for NUMERIC operands) division through a function; DIV/MOD too;
  errors such as division by zero fail the query as in BigQuery.
- FLOAT64 arithmetic, comparisons, MIN/MAX/SUM/AVG go through Python functions because a
  NaN is stored as the text 'NaN'; NaN compares unequal to everything (IEEE), MIN and MAX
  return NaN if any input is NaN, and ORDER BY puts NaN after NULL and before -inf.
- NUMERIC/BIGNUMERIC are canonical decimal text; arithmetic, comparisons and aggregates use
  Python's Decimal, ORDER BY uses an order-preserving text key.
- LIKE is case-sensitive with backslash escapes; LOWER/UPPER/TRIM are Unicode-aware;
  strings compare by code point (SQLite's BINARY collation on UTF-8).
- NULLs sort first in ASC and last in DESC unless NULLS FIRST/LAST says otherwise.
"""

import base64
import json
import math
import random
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

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
    __slots__ = ("kind", "value", "pos", "quoted")

    def __init__(self, kind, value, pos, quoted=False):
        self.kind = kind      # ident kw str bytes int float param qparam op eof
        self.value = value
        self.pos = pos
        self.quoted = quoted

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
            j = i + len(prefix) + len(q)
            start = j
            while True:
                if j >= n:
                    raise SqlError("Syntax error: Unclosed string literal", p)
                if sql[j] == "\\" and "r" not in prefix:
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
                                else body.encode("utf-8"), p))
            else:
                toks.append(Tok("str", body, p))
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
            toks.append(Tok("ident", "".join(buf), p, quoted=True))
            i = j + 1
            continue
        m = re.match(r"0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", sql[i:])
        if m and (c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit())):
            text = m.group(0)
            if text.lower().startswith("0x"):
                toks.append(Tok("int", int(text, 16), p))
            elif re.fullmatch(r"\d+", text):
                toks.append(Tok("int", int(text), p))
            else:
                toks.append(Tok("float", float(text), p))
            i += len(text)
            continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", sql[i:])
        if m:
            w = m.group(0)
            i += len(w)
            if w.upper() in KEYWORDS:
                toks.append(Tok("kw", w.upper(), p))
            else:
                toks.append(Tok("ident", w, p))
            continue
        if c == "@":
            m = re.match(r"@@?([A-Za-z_][A-Za-z0-9_]*|`[^`]+`)", sql[i:])
            if not m or m.group(0).startswith("@@"):
                raise SqlError("Syntax error: Unexpected \"@\"", p)
            toks.append(Tok("param", m.group(1).strip("`"), p))
            i += len(m.group(0))
            continue
        if c == "?":
            toks.append(Tok("qparam", None, p))
            i += 1
            continue
        for op in ("<=", ">=", "!=", "<>", "||", "<<", ">>", "=", "<", ">", "+", "-", "*", "/",
                   "(", ")", ",", ".", ";", "[", "]", "&", "|", "^", "~"):
            if sql.startswith(op, i):
                toks.append(Tok("op", op, p))
                i += len(op)
                break
        else:
            raise SqlError("Syntax error: Illegal input character \"%s\"" % c, p)
    toks.append(Tok("eof", None, pos_of(n)))
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


class Parser:
    def __init__(self, sql):
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

    # -- statements --
    def statement(self):
        if self.is_kw("WITH"):
            self.unsupported("WITH clause (common table expressions)")
        if self.is_kw("TRUNCATE"):
            self.next()
            self.expect_kw("TABLE")
            stmt = ("truncate", self.table_path())
        elif self.is_kw("DELETE"):
            self.next()
            self.accept_kw("FROM")
            path = self.table_path()
            alias = self.opt_alias()
            if not self.accept_kw("WHERE"):
                self.error("DELETE must have a WHERE clause; expected keyword WHERE")
            stmt = ("delete", path, alias, self.expr())
        elif self.is_kw("UPDATE"):
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
            if not self.accept_kw("WHERE"):
                self.error("UPDATE must have a WHERE clause; expected keyword WHERE")
            stmt = ("update", path, alias, sets, self.expr())
        elif self.is_kw("INSERT"):
            self.next()
            self.accept_kw("INTO")
            path = self.table_path()
            cols = None
            if self.is_op("(") and not self.is_kw("SELECT", tok=self.peek()):
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
                stmt = ("insert", path, cols, rows, None)
            else:
                stmt = ("insert", path, cols, None, self.query())
        elif self.is_kw("SELECT") or self.is_op("("):
            stmt = ("select", self.query())
        elif self.is_kw("MERGE"):
            self.unsupported("MERGE statement")
        elif self.t.kind == "eof":
            raise SqlError("Syntax error: Unexpected end of script", self.t.pos)
        else:
            tok = self.t
            raise SqlError("Syntax error: Unexpected %s" % (
                "keyword %s" % tok.value if tok.kind == "kw" else "identifier \"%s\"" % tok.value
                if tok.kind == "ident" else "\"%s\"" % (tok.value,)), tok.pos)
        self.accept_op(";")
        if self.t.kind != "eof":
            if self.is_kw("UNION", "INTERSECT", "EXCEPT"):
                self.unsupported("set operation %s" % self.t.value)
            self.error("Expected end of input")
        return stmt

    def query(self):
        if self.accept_op("("):
            q = self.query()
            self.expect_op(")")
        else:
            q = self.select()
        if self.is_kw("UNION", "INTERSECT", "EXCEPT"):
            self.unsupported("set operation %s" % self.t.value)
        return q

    def select(self):
        s = Select()
        s.pos = self.t.pos
        self.expect_kw("SELECT")
        if self.accept_kw("DISTINCT"):
            s.distinct = True
        else:
            self.accept_kw("ALL")
        if self.is_kw("AS") and self.is_kw("STRUCT", tok=self.peek()):
            self.unsupported("SELECT AS STRUCT")
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
            if self.is_ident_word("ROLLUP") or self.is_ident_word("CUBE"):
                self.unsupported("GROUP BY ROLLUP/CUBE")
            s.group = [self.expr()]
            while self.accept_op(","):
                s.group.append(self.expr())
        if self.accept_kw("HAVING"):
            s.having = self.expr()
        if self.is_kw("QUALIFY", "WINDOW"):
            self.unsupported(self.t.value)
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
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
                s.order.append((e, desc, nulls))
                if not self.accept_op(","):
                    break
        if self.accept_kw("LIMIT"):
            s.limit = self.primary()
            if self.accept_kw("OFFSET"):
                s.offset = self.primary()
        return s

    def is_ident_word(self, w, tok=None):
        tok = tok or self.t
        return tok.kind == "ident" and not tok.quoted and tok.value.upper() == w

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
        parts = []
        for p in self.ident_path():
            parts.extend(p.split("."))
        # unquoted project ids may contain dashes: my-project.ds.t
        return (parts, tok.pos)

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
            if self.is_kw("SELECT", tok=self.peek(k)):
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

    def cmp_expr(self):
        e = self.add_expr()
        while True:
            tok = self.t
            if tok.kind == "op" and tok.value in ("=", "!=", "<>", "<", "<=", ">", ">="):
                self.next()
                op = "!=" if tok.value == "<>" else tok.value
                e = ("cmp", op, e, self.add_expr())
                continue
            neg = False
            save = self.i
            if self.is_kw("NOT"):
                self.next()
                neg = True
            if self.accept_kw("LIKE"):
                if self.is_kw("ANY", "ALL"):
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
                    self.expect_op("(")
                    if self.is_kw("SELECT"):
                        self.unsupported("IN (subquery)")
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
                tname = self.type_name()
                self.expect_op(")")
                return ("cast", e, tname, w == "SAFE_CAST", tok.pos)
            if w == "IF":
                self.next()
                args = self.call_args()
                return ("func", "IF", args, False, tok.pos)
            if w in ("EXISTS", "ARRAY", "STRUCT", "INTERVAL"):
                self.unsupported(w)
            if w in SOFT:
                self.next()
                return self.name_or_call(Tok("ident", w.lower(), tok.pos))
            self.error()
        if tok.kind == "ident":
            self.next()
            return self.name_or_call(tok)
        if tok.kind == "op" and tok.value == "(":
            self.next()
            if self.is_kw("SELECT"):
                self.unsupported("scalar subqueries")
            e = self.expr()
            self.expect_op(")")
            return e
        if tok.kind == "op" and tok.value == "[":
            self.unsupported("array literals")
        self.error()

    def type_name(self):
        tok = self.t
        if tok.kind not in ("ident", "kw"):
            self.error("Expected a type name")
        self.next()
        t = T.canon_type(tok.value)
        if t is None or t == "STRUCT":
            if tok.value.upper() in ("ARRAY", "STRUCT"):
                self.unsupported("CAST to %s" % tok.value.upper(), tok)
            raise SqlError("Type not found: %s" % tok.value, tok.pos)
        if self.accept_op("("):  # parameterised types: NUMERIC(10, 2), STRING(10)
            while not self.accept_op(")"):
                self.next()
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
                if self.is_kw("ORDER", "LIMIT") or self.is_ident_word("IGNORE") or self.is_ident_word("RESPECT"):
                    self.unsupported("aggregate ORDER BY/LIMIT/IGNORE NULLS")
                self.expect_op(")")
            return self.maybe_over(("func", name, args, distinct, tok.pos))
        parts = [tok.value]
        while self.is_op(".") and self.peek().kind in ("ident",) or (
                self.is_op(".") and self.peek().kind == "kw" and self.peek().value in SOFT):
            self.next()
            parts.append(self.next().value if self.t.kind == "ident" else self.next().value.lower())
        return ("col", parts, tok.pos)

    def maybe_over(self, e):
        if self.is_kw("OVER"):
            self.unsupported("analytic (window) functions")
        return e

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
    """The range variables visible in one SELECT: alias -> [(name, Ty, sqlite ref)]."""

    def __init__(self):
        self.entries = []  # (alias, [(colname, Ty, sqlref, table_key)])

    def add(self, alias, cols):
        for a, _ in self.entries:
            if a.lower() == alias.lower():
                raise SqlError("Duplicate alias %s" % alias)
        self.entries.append((alias, cols))

    def resolve(self, parts, pos):
        """(sqlref, Ty, remaining parts, table_key, column name)."""
        if len(parts) >= 2:
            for alias, cols in self.entries:
                if alias.lower() == parts[0].lower():
                    for name, ty, ref, key in cols:
                        if name.lower() == parts[1].lower():
                            return ref, ty, parts[2:], key, name
                    raise SqlError("Name %s not found inside %s" % (parts[1], alias), pos)
        hits = []
        for alias, cols in self.entries:
            for name, ty, ref, key in cols:
                if name.lower() == parts[0].lower():
                    hits.append((ref, ty, parts[1:], key, name))
        if len(hits) > 1:
            raise SqlError("Column name %s is ambiguous" % parts[0], pos)
        if hits:
            return hits[0]
        if len(parts) == 1:
            for alias, cols in self.entries:
                if alias.lower() == parts[0].lower():
                    raise SqlError("Unsupported in the luxe BigQuery emulator: a range variable (%s) "
                                   "used as a value" % parts[0], pos)
        raise SqlError("Unrecognized name: %s" % parts[0], pos)


class Param:
    def __init__(self, ty, value):
        self.ty = ty          # Ty (REPEATED for arrays)
        self.value = value    # stored value, or a list of them for arrays


AGGREGATES = {"COUNT", "SUM", "AVG", "MIN", "MAX", "COUNTIF", "LOGICAL_AND", "LOGICAL_OR",
              "ANY_VALUE", "ARRAY_AGG", "STRING_AGG"}


class Compiler:
    """Translate one parsed statement. `catalog.lookup(parts, pos)` returns table metadata
    (an object with .sqlname, .schema [Field], .key) or raises SqlError."""

    def __init__(self, catalog, params, positional):
        self.catalog = catalog
        self.params = params            # name(lower) -> Param, or list for positional
        self.positional = positional
        self.binds = {}
        self.nbind = 0
        self.referenced = set()        # (table_key, column name lower)
        self.tables = set()
        self.in_agg = False

    def bind(self, value):
        self.nbind += 1
        name = "b%d" % self.nbind
        self.binds[name] = value
        return ":" + name

    # -- statements --
    def select(self, s, top=False):
        """(sql, [(name, Ty)]) for one SELECT."""
        scope = Scope()
        from_sql = ""
        if s.from_ is not None:
            from_sql = " FROM " + self.from_item(s.from_, scope)
        items, out = [], []
        anon = 0
        for e, alias in s.items:
            if isinstance(e, tuple) and e[0] == "star":
                found = False
                for a, cols in scope.entries:
                    if e[1] is None or a.lower() == e[1].lower():
                        found = True
                        for name, ty, ref, key in cols:
                            items.append(ref)
                            out.append((name, ty))
                            if key:
                                self.referenced.add((key, name.lower()))
                if not found:
                    raise SqlError("SELECT * must have a FROM clause" if e[1] is None
                                   else "Unrecognized name: %s" % e[1], s.pos)
                continue
            sql, ty = self.expr(e, scope)
            if alias is None:
                if e[0] == "col":
                    alias = e[1][-1]
                elif e[0] == "field":
                    alias = e[2]
                else:
                    alias = "f%d_" % anon
                    anon += 1
            items.append(sql)
            out.append((alias, ty))
        aliases = {}
        for i, (name, ty) in enumerate(out):
            aliases.setdefault(name.lower(), i)
        sql = "SELECT " + ("DISTINCT " if s.distinct else "") + ", ".join(
            "%s AS %s" % (it, q(out[i][0] if not top else "c%d" % i)) for i, it in enumerate(items))
        sql += from_sql
        if s.where is not None:
            w, ty = self.expr(s.where, scope)
            self.want_bool(ty, "WHERE clause")
            sql += " WHERE " + w
        if s.group:
            gs = []
            for g in s.group:
                gs.append(self.group_or_order_expr(g, scope, items, out, aliases)[0])
            sql += " GROUP BY " + ", ".join(gs)
        if s.having is not None:
            h, ty = self.expr(s.having, scope, items=items, out=out, aliases=aliases)
            sql += " HAVING " + h
        if s.order:
            keys = []
            for e, desc, nulls in s.order:
                ksql, ty = self.group_or_order_expr(e, scope, items, out, aliases)
                keys.extend(self.order_keys(ksql, ty, desc, nulls))
            sql += " ORDER BY " + ", ".join(keys)
        if s.limit is not None:
            sql += " LIMIT " + self.limit_value(s.limit, scope)
            if s.offset is not None:
                sql += " OFFSET " + self.limit_value(s.offset, scope)
        return sql, out

    def limit_value(self, e, scope):
        sql, ty = self.expr(e, scope)
        if ty.type not in ("INT64", "NULL"):
            raise SqlError("LIMIT expects an integer literal or parameter")
        return "bq_limit(%s)" % sql

    def group_or_order_expr(self, e, scope, items, out, aliases):
        if e[0] == "lit" and e[1] == "INT64":
            n = e[2]
            if not 1 <= n <= len(items):
                raise SqlError("ORDER BY/GROUP BY column number %d is out of range" % n)
            return items[n - 1], out[n - 1][1]
        if e[0] == "col" and len(e[1]) == 1 and e[1][0].lower() in aliases:
            # a select-list alias; BigQuery prefers it over a column of the same name
            i = aliases[e[1][0].lower()]
            return items[i], out[i][1]
        return self.expr(e, scope, items=items, out=out, aliases=aliases)

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

    def from_item(self, item, scope):
        kind = item[0]
        if kind == "table":
            (parts, pos), alias = item[1], item[2]
            meta = self.catalog.lookup(parts, pos)
            alias = alias or parts[-1]
            self.tables.add(meta.key)
            cols = [(f.name, Ty.of(f), "%s.%s" % (q(alias), q(f.name)), meta.key) for f in meta.schema]
            scope.add(alias, cols)
            return "%s AS %s" % (q(meta.sqlname), q(alias))
        if kind == "subq":
            sub = Compiler.__new__(Compiler)
            sub.__dict__ = self.__dict__  # share binds, params and referenced columns
            sql, out = sub.select(item[1])
            alias = item[2] or "__sub%d" % (len(scope.entries) + 1)
            cols = [(name, ty, "%s.%s" % (q(alias), q(name)), None) for name, ty in out]
            scope.add(alias, cols)
            return "(%s) AS %s" % (sql, q(alias))
        if kind == "paren":
            return "(%s)" % self.from_item(item[1], scope)
        if kind == "join":
            _, jk, left, right, on = item
            lsql = self.from_item(left, scope)
            rsql = self.from_item(right, scope)
            if jk == "CROSS":
                return "%s CROSS JOIN %s" % (lsql, rsql)
            osql, ty = self.expr(on, scope)
            self.want_bool(ty, "JOIN ON")
            return "%s %s JOIN %s ON %s" % (lsql, {"INNER": "INNER", "LEFT": "LEFT OUTER",
                                                    "RIGHT": "RIGHT OUTER", "FULL": "FULL OUTER"}[jk],
                                            rsql, osql)
        raise SqlError("bad FROM item")

    def want_bool(self, ty, where):
        if ty.type not in ("BOOL", "NULL"):
            raise SqlError("%s should return type BOOL, but returns %s" % (where, ty.type))

    # -- expressions --
    def expr(self, e, scope, **ctx):
        k = e[0]
        m = getattr(self, "e_" + k)
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
            return ctx["items"][i], ctx["out"][i][1]
        ref, ty, rest, key, name = scope.resolve(parts, pos)
        if key:
            self.referenced.add((key, name.lower()))
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
        out = ["CASE"]
        results = []
        if operand is not None:
            o, to = self.sub(operand, scope, ctx)
            for c, r in whens:
                cs, tc = self.sub(c, scope, ctx)
                out.append("WHEN %s THEN" % self.compare("=", o, to, cs, tc))
                rs, tr = self.sub(r, scope, ctx)
                out.append(rs)
                results.append(tr)
        else:
            for c, r in whens:
                cs, tc = self.sub(c, scope, ctx)
                self.want_bool(tc, "WHEN")
                out.append("WHEN %s THEN" % cs)
                rs, tr = self.sub(r, scope, ctx)
                out.append(rs)
                results.append(tr)
        if other is not None:
            rs, tr = self.sub(other, scope, ctx)
            out.append("ELSE %s" % rs)
            results.append(tr)
        out.append("END")
        return " ".join(out), supertype(results, "CASE")

    def e_cast(self, e, scope, ctx):
        x, tx = self.sub(e[1], scope, ctx)
        to = e[2]
        if tx.repeated or tx.type == "STRUCT":
            raise SqlError("Invalid cast from %s to %s" % ("ARRAY" if tx.repeated else "STRUCT", to), e[4])
        frm = "INT64" if tx.type == "NULL" else tx.type
        if not _castable(frm, to):
            raise SqlError("Invalid cast from %s to %s" % (frm, to), e[4])
        if frm == to:
            return x, Ty(to)
        return "bq_cast(%s, '%s', '%s'%s)" % (x, frm, to, ", 1" if e[3] else ""), Ty(to)

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
        if self.in_agg:
            raise SqlError("Aggregations of aggregations are not allowed", pos)
        if name in ("ANY_VALUE", "ARRAY_AGG", "STRING_AGG"):
            raise SqlError("Unsupported in the luxe BigQuery emulator: function %s" % name, pos)
        self.in_agg = True
        try:
            compiled = [self.sub(a, scope, ctx) for a in args]
        finally:
            self.in_agg = False
        d = "DISTINCT " if distinct else ""
        if name == "COUNT":
            if star:
                return "COUNT(*)", Ty("INT64")
            self.nargs(name, compiled, 1, 1, pos)
            x, tx = compiled[0]
            if distinct and tx.type == "FLOAT64":
                return "COUNT(DISTINCT %s)" % x, Ty("INT64")
            return "COUNT(%s%s)" % (d, x), Ty("INT64")
        self.nargs(name, compiled, 1, 1, pos)
        x, tx = compiled[0]
        if tx.repeated or tx.type == "STRUCT":
            raise SqlError("No matching signature for aggregate function %s for argument type %s"
                           % (name, "ARRAY" if tx.repeated else tx.type), pos)
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

    # -- scalar functions (each gets [(sql, Ty)]) --
    def _string_fn(self, name, args, pos, lo=1, hi=1, result=None):
        self.nargs(name, args, lo, hi, pos)
        t = args[0][1].type
        if t not in ("STRING", "BYTES", "NULL"):
            raise SqlError("No matching signature for function %s for argument types: %s"
                           % (name, ", ".join(a[1].type for a in args)), pos)
        return "bq_%s(%s)" % (name.lower(), ", ".join(a[0] for a in args)), Ty(result or
                                                                              ("STRING" if t == "NULL" else t))

    def f_lower(self, args, pos):
        return self._string_fn("LOWER", args, pos)

    def f_upper(self, args, pos):
        return self._string_fn("UPPER", args, pos)

    def f_trim(self, args, pos):
        return self._string_fn("TRIM", args, pos, 1, 2)

    def f_ltrim(self, args, pos):
        return self._string_fn("LTRIM", args, pos, 1, 2)

    def f_rtrim(self, args, pos):
        return self._string_fn("RTRIM", args, pos, 1, 2)

    def f_length(self, args, pos):
        return self._string_fn("LENGTH", args, pos, result="INT64")

    def f_char_length(self, args, pos):
        return self.f_length(args, pos)

    def f_substr(self, args, pos):
        self.nargs("SUBSTR", args, 2, 3, pos)
        for _, t in args[1:]:
            if t.type not in ("INT64", "NULL"):
                raise SqlError("No matching signature for function SUBSTR", pos)
        return self._string_fn("SUBSTR", args, pos, 2, 3)

    f_substring = f_substr

    def f_concat(self, args, pos):
        if not args:
            raise SqlError("No matching signature for function CONCAT with no arguments", pos)
        return self.concat(args)

    def f_abs(self, args, pos):
        self.nargs("ABS", args, 1, 1, pos)
        x, t = args[0]
        if t.type not in NUMERIC_KINDS + ("NULL",):
            raise SqlError("No matching signature for function ABS for argument type %s" % t.type, pos)
        return "bq_abs(%s, '%s')" % (x, t.type), Ty("INT64" if t.type == "NULL" else t.type)

    def f_coalesce(self, args, pos):
        if not args:
            raise SqlError("No matching signature for function COALESCE with no arguments", pos)
        ty = supertype([t for _, t in args], "COALESCE")
        if len(args) == 1:
            return args[0][0], ty
        return "COALESCE(%s)" % ", ".join(a for a, _ in args), ty

    def f_ifnull(self, args, pos):
        self.nargs("IFNULL", args, 2, 2, pos)
        return self.f_coalesce(args, pos)

    def f_if(self, args, pos):
        self.nargs("IF", args, 3, 3, pos)
        self.want_bool(args[0][1], "IF condition")
        ty = supertype([args[1][1], args[2][1]], "IF")
        return "(CASE WHEN %s THEN %s ELSE %s END)" % (args[0][0], args[1][0], args[2][0]), ty

    def f_is_nan(self, args, pos):
        self.nargs("IS_NAN", args, 1, 1, pos)
        if args[0][1].type not in NUMERIC_KINDS + ("NULL",):
            raise SqlError("No matching signature for function IS_NAN for argument type %s"
                           % args[0][1].type, pos)
        return "bq_is_nan(%s)" % args[0][0], Ty("BOOL")

    def f_is_inf(self, args, pos):
        self.nargs("IS_INF", args, 1, 1, pos)
        return "bq_is_inf(%s)" % args[0][0], Ty("BOOL")

    def f_round(self, args, pos):
        self.nargs("ROUND", args, 1, 2, pos)
        t = args[0][1].type
        if t not in NUMERIC_KINDS + ("NULL",):
            raise SqlError("No matching signature for function ROUND for argument type %s" % t, pos)
        rt = "FLOAT64" if t in ("INT64", "FLOAT64", "NULL") else t
        n = args[1][0] if len(args) > 1 else "0"
        return "bq_round(%s, %s, '%s')" % (args[0][0], n, rt), Ty(rt)

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

    def f_safe_divide(self, args, pos):
        self.nargs("SAFE_DIVIDE", args, 2, 2, pos)
        return "bq_farith('//', %s, %s)" % (args[0][0], args[1][0]), Ty("FLOAT64")


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


def bq_round(a, n, t):
    if a is None or n is None:
        return None
    if t == "FLOAT64":
        x = _f(a)
        if x != x or math.isinf(x):
            return _out_f(x)
        d = Decimal(repr(x)).quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP) \
            if abs(n) < 300 else Decimal(repr(x))
        return float(d)
    with localcontext() as ctx:
        ctx.prec = 160
        d = _dec(a).quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP)
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


def _trim_n(kind):
    """The one- and two-argument forms of TRIM/LTRIM/RTRIM (Unicode whitespace by default)."""
    def strip(s, chars):
        if isinstance(s, bytes) and chars is None:
            chars = b" "
        if kind == "both":
            return s.strip(chars)
        return s.lstrip(chars) if kind == "left" else s.rstrip(chars)

    def one(s):
        return None if s is None else strip(s, None)

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

def _float_total(vals):
    """The exact sum of finite floats (math.fsum); NaN/infinity rules otherwise."""
    return math.fsum(vals) if all(math.isfinite(x) for x in vals) else sum(vals)


class _FSum:
    def __init__(self):
        self.vals = []

    def step(self, v):
        if v is not None:
            self.vals.append(_f(v))

    def finalize(self):
        if not self.vals:
            return None
        return _out_f(_float_total(self.vals))


class _FAvg(_FSum):
    def finalize(self):
        if not self.vals:
            return None
        return _out_f(_float_total(self.vals) / len(self.vals))


class _FMin:
    pick = min

    def __init__(self):
        self.best = None
        self.nan = False

    def step(self, v):
        if v is None:
            return
        x = _f(v)
        if x != x:
            self.nan = True
        elif self.best is None:
            self.best = x
        else:
            self.best = type(self).pick(self.best, x)

    def finalize(self):
        if self.nan:
            return "NaN"
        return self.best


class _FMax(_FMin):
    pick = max


def _nagg(kind, op):
    class Agg:
        def __init__(self):
            self.vals = []

        def step(self, v):
            if v is not None:
                self.vals.append(_dec(v))

        def finalize(self):
            try:
                if not self.vals:
                    return None
                with localcontext() as ctx:
                    ctx.prec = 160
                    if op == "sum":
                        r = sum(self.vals, Decimal(0))
                    elif op == "avg":
                        r = sum(self.vals, Decimal(0)) / len(self.vals)
                    elif op == "min":
                        r = min(self.vals)
                    else:
                        r = max(self.vals)
                return _nstr(r, kind)
            except QueryRuntimeError:
                raise
    return Agg


def _nminmax(op):
    class Agg:
        def __init__(self):
            self.best = None
            self.raw = None

        def step(self, v):
            if v is None:
                return
            d = _dec(v)
            if self.best is None or (d < self.best if op == "min" else d > self.best):
                self.best, self.raw = d, v

        def finalize(self):
            return self.raw
    return Agg


def register(conn):
    """Register the runtime functions on a sqlite3 connection."""
    det = {"deterministic": True}
    fns = [
        ("bq_cmpf", 3, bq_cmpf), ("bq_cmpn", 3, bq_cmpn), ("bq_farith", 3, bq_farith),
        ("bq_iarith", 3, bq_iarith), ("bq_ineg", 1, bq_ineg), ("bq_fneg", 1, bq_fneg),
        ("bq_narith", 4, bq_narith), ("bq_div", 3, bq_div), ("bq_mod", 3, bq_mod),
        ("bq_abs", 2, bq_abs), ("bq_round", 3, bq_round), ("bq_is_nan", 1, bq_is_nan),
        ("bq_is_inf", 1, bq_is_inf), ("bq_like", 2, bq_like), ("bq_lower", 1, bq_lower),
        ("bq_upper", 1, bq_upper), ("bq_length", 1, bq_length),
        ("bq_substr", 2, _substr2), ("bq_substr", 3, _substr3), ("bq_limit", 1, bq_limit),
        ("bq_nkey", 1, bq_nkey), ("bq_fromjson", 2, bq_fromjson), ("bq_in_json", 3, bq_in_json),
        ("bq_cast", 3, bq_cast), ("bq_cast", 4, bq_cast),
    ]
    for kind in ("both", "left", "right"):
        one, two = _trim_n(kind)
        name = {"both": "bq_trim", "left": "bq_ltrim", "right": "bq_rtrim"}[kind]
        fns.append((name, 1, one))
        fns.append((name, 2, two))
    for name, n, fn in fns:
        conn.create_function(name, n, fn, **det)
    conn.create_function("bq_rand", 0, bq_rand)
    conn.create_aggregate("bq_fsum", 1, _FSum)
    conn.create_aggregate("bq_favg", 1, _FAvg)
    conn.create_aggregate("bq_fmin", 1, _FMin)
    conn.create_aggregate("bq_fmax", 1, _FMax)
    for kind in ("NUMERIC", "BIGNUMERIC"):
        conn.create_aggregate("bq_nsum_%s" % kind.lower(), 1, _nagg(kind, "sum"))
        conn.create_aggregate("bq_navg_%s" % kind.lower(), 1, _nagg(kind, "avg"))
    conn.create_aggregate("bq_nmin", 1, _nminmax("min"))
    conn.create_aggregate("bq_nmax", 1, _nminmax("max"))


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


def parse(sql):
    if not isinstance(sql, str) or not sql.strip():
        raise SqlError("Syntax error: Unexpected end of script")
    return Parser(sql).statement()

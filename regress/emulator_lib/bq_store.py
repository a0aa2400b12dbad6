"""The BigQuery emulator's storage: one shared in-memory SQLite database (one connection, used
under a lock) holding every table, plus the metadata of projects' datasets and tables, and
the execution of parsed SQL statements (bq_sql.py) against it.

Each BigQuery table is a SQLite table named t<N> with one column per top-level field (values
stored as described in bq_types.py); its rowid order is the table's row order, which
tabledata.list pages through. Query results are materialised into r<N> tables, whose rowid
order is the result order, so that getQueryResults pages cheaply.
"""

import itertools
import sqlite3
import threading
import time

from . import bq_sql as S
from . import bq_types as T


def now_ms():
    return int(time.time() * 1000)


class NotFound(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class TableMeta:
    def __init__(self, key, sqlname, schema, resource):
        self.key = key                      # (project, dataset, table)
        self.sqlname = sqlname
        self.schema = schema                # [Field]
        self.resource = resource            # extra API fields (description, labels, ...)
        self.created = now_ms()
        self.modified = self.created
        self.insert_ids = {}                # insertId -> time seen
        self._stats = None                  # (numRows, {column lower: bytes})

    @property
    def name(self):
        return "%s:%s.%s" % self.key

    def touch(self):
        self.modified = now_ms()
        self._stats = None


class BqStore:
    def __init__(self):
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        S.register(self.conn)
        self.datasets = {}   # (project, dataset) -> resource dict
        self.tables = {}     # (project, dataset, table) -> TableMeta

    def reset(self):
        with self.lock:
            for name, in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                self.conn.execute("DROP TABLE %s" % S.q(name))
            self.datasets.clear()
            self.tables.clear()

    # -- datasets --
    def dataset(self, project, dataset):
        ds = self.datasets.get((project, dataset))
        if ds is None:
            raise NotFound("Not found: Dataset %s:%s" % (project, dataset))
        return ds

    def dataset_tables(self, project, dataset):
        return sorted((k[2], m) for k, m in self.tables.items() if k[:2] == (project, dataset))

    # -- tables --
    def new_sqlname(self, prefix="t"):
        return "%s%d" % (prefix, next(self._ids))

    def table(self, key):
        meta = self.tables.get(key)
        if meta is None:
            raise NotFound("Not found: Table %s:%s.%s" % key)
        return meta

    def create_sql_table(self, sqlname, schema):
        cols = []
        for f in schema:
            decl = "TEXT" if f.repeated or f.type == "STRUCT" else T.SQLITE_DECL.get(f.type, "TEXT")
            if f.mode == "REQUIRED":
                decl += " NOT NULL"
            cols.append("%s %s" % (S.q(f.name), decl))
        self.conn.execute("CREATE TABLE %s (%s)" % (S.q(sqlname), ", ".join(cols) or "_empty INTEGER"))

    def create_table(self, key, schema, resource=None):
        with self.lock:
            sqlname = self.new_sqlname()
            self.create_sql_table(sqlname, schema)
            meta = TableMeta(key, sqlname, schema, resource or {})
            self.tables[key] = meta
            return meta

    def drop_table(self, key):
        with self.lock:
            meta = self.tables.pop(key)
            self.conn.execute("DROP TABLE IF EXISTS %s" % S.q(meta.sqlname))

    def add_columns(self, meta, new_fields):
        with self.lock:
            for f in new_fields:
                decl = "TEXT" if f.repeated or f.type == "STRUCT" else T.SQLITE_DECL.get(f.type, "TEXT")
                self.conn.execute("ALTER TABLE %s ADD COLUMN %s %s" % (S.q(meta.sqlname), S.q(f.name), decl))
            meta.schema = meta.schema + list(new_fields)
            meta.touch()

    def insert_rows(self, meta, rows, sqlname=None):
        """rows: sequences of stored values in schema order."""
        if not meta.schema:
            return 0
        sql = "INSERT INTO %s (%s) VALUES (%s)" % (
            S.q(sqlname or meta.sqlname), ", ".join(S.q(f.name) for f in meta.schema),
            ", ".join("?" * len(meta.schema)))
        with self.lock:
            self.conn.executemany(sql, rows)
            meta.touch()
        return len(rows)

    def stats(self, meta):
        """(numRows, {column lower: logical bytes})."""
        with self.lock:
            if meta._stats is not None:
                return meta._stats
            exprs = ["COUNT(*)"]
            for f in meta.schema:
                c = S.q(f.name)
                if f.repeated or f.type in ("STRUCT", "STRING", "JSON", "GEOGRAPHY", "BYTES"):
                    extra = "" if f.repeated or f.type == "STRUCT" else " + 2"
                    exprs.append("COALESCE(SUM(length(CAST(%s AS BLOB))%s), 0)" % (c, extra))
                else:
                    exprs.append("COUNT(%s) * %d" % (c, T.FIXED_BYTES.get(f.type, 8)))
            row = self.conn.execute("SELECT %s FROM %s" % (", ".join(exprs), S.q(meta.sqlname))).fetchone()
            meta._stats = (row[0], {f.name.lower(): row[i + 1] for i, f in enumerate(meta.schema)})
            return meta._stats

    def num_rows(self, meta):
        return self.stats(meta)[0]

    def num_bytes(self, meta):
        return sum(self.stats(meta)[1].values())

    def read_rows(self, sqlname, columns, after_rowid, offset, limit):
        """[(rowid, values...)] in rowid order: after `after_rowid` if given, else from `offset`."""
        cols = ", ".join(["rowid"] + [S.q(c) for c in columns])
        with self.lock:
            if after_rowid is not None:
                cur = self.conn.execute("SELECT %s FROM %s WHERE rowid > ? ORDER BY rowid LIMIT ?"
                                        % (cols, S.q(sqlname)), (after_rowid, limit))
            else:
                cur = self.conn.execute("SELECT %s FROM %s ORDER BY rowid LIMIT ? OFFSET ?"
                                        % (cols, S.q(sqlname)), (limit, offset))
            return cur.fetchall()

    def count_before(self, sqlname, rowid):
        with self.lock:
            return self.conn.execute("SELECT COUNT(*) FROM %s WHERE rowid <= ?" % S.q(sqlname),
                                     (rowid,)).fetchone()[0]

    def drop_sql(self, sqlname):
        with self.lock:
            self.conn.execute("DROP TABLE IF EXISTS %s" % S.q(sqlname))

    # -- queries --
    def catalog(self, project, default_dataset):
        store = self

        class Catalog:
            def lookup(self, parts, pos):
                if len(parts) == 3:
                    key = tuple(parts)
                elif len(parts) == 2:
                    key = (project, parts[0], parts[1])
                elif len(parts) == 1 and default_dataset:
                    key = (default_dataset[0], default_dataset[1], parts[0])
                elif len(parts) == 1:
                    raise S.SqlError("Table \"%s\" must be qualified with a dataset (e.g. dataset.table)."
                                     % parts[0], pos)
                else:
                    raise S.SqlError("Invalid table name: %s" % ".".join(parts), pos)
                meta = store.tables.get(key)
                if meta is None:
                    if (key[0], key[1]) not in store.datasets:
                        raise NotFound("Not found: Dataset %s:%s was not found in location US" % key[:2])
                    raise NotFound("Not found: Table %s:%s.%s was not found in location US" % key)
                return meta
        return Catalog()

    def run(self, project, sql, params, default_dataset=None, dry_run=False):
        """Run one statement. Returns a dict:
        statementType, schema [Field] (SELECT), sqlname + numRows (SELECT, materialised),
        affected (DML), bytes (estimate), tables [(p,d,t)].
        Raises SqlError (400 invalidQuery), NotFound (404), S.QueryRuntimeError (400)."""
        stmt = S.parse(sql)
        positional, pmap = params
        with self.lock:
            cat = self.catalog(project, default_dataset)
            comp = S.Compiler(cat, pmap, positional)
            kind = stmt[0]
            if kind == "select":
                body, out = comp.select(stmt[1], top=True)
                schema = [ty.field(name) for name, ty in out]
                res = {"statementType": "SELECT", "schema": schema}
                res["bytes"] = self._bytes(comp)
                res["tables"] = sorted(comp.tables)
                if dry_run:
                    return res
                rname = self.new_sqlname("r")
                self._execute("CREATE TABLE %s AS %s" % (S.q(rname), body), comp.binds)
                res["sqlname"] = rname
                res["columns"] = ["c%d" % i for i in range(len(schema))]
                res["numRows"] = self.conn.execute("SELECT COUNT(*) FROM %s" % S.q(rname)).fetchone()[0]
                return res
            (parts, pos) = stmt[1]
            meta = cat.lookup(parts, pos)
            res = {"tables": [meta.key], "bytes": 0}
            if kind == "truncate":
                res["statementType"] = "TRUNCATE_TABLE"
                if not dry_run:
                    n = self.num_rows(meta)
                    self.conn.execute("DELETE FROM %s" % S.q(meta.sqlname))
                    meta.touch()
                    res["affected"] = n
                    res["deleted"] = n
                return res
            if kind == "delete":
                res["statementType"] = "DELETE"
                scope = S.Scope()
                alias = stmt[2] or parts[-1]
                scope.add(alias, [(f.name, S.Ty.of(f), S.q(f.name), meta.key) for f in meta.schema])
                cond, ty = comp.expr(stmt[3], scope)
                comp.want_bool(ty, "WHERE clause")
                res["bytes"] = self._bytes(comp)
                if not dry_run:
                    cur = self._execute("DELETE FROM %s WHERE %s" % (S.q(meta.sqlname), cond), comp.binds)
                    meta.touch()
                    res["affected"] = res["deleted"] = cur.rowcount
                return res
            if kind == "update":
                res["statementType"] = "UPDATE"
                scope = S.Scope()
                alias = stmt[2] or parts[-1]
                scope.add(alias, [(f.name, S.Ty.of(f), S.q(f.name), meta.key) for f in meta.schema])
                sets = []
                for colparts, e in stmt[3]:
                    f = self._field(meta, colparts[-1])
                    v, ty = comp.expr(e, scope)
                    sets.append("%s = %s" % (S.q(f.name), self._coerce(v, ty, f)))
                cond, ty = comp.expr(stmt[4], scope)
                comp.want_bool(ty, "WHERE clause")
                res["bytes"] = self._bytes(comp)
                if not dry_run:
                    cur = self._execute("UPDATE %s SET %s WHERE %s" % (S.q(meta.sqlname), ", ".join(sets), cond),
                                        comp.binds)
                    meta.touch()
                    res["affected"] = res["updated"] = cur.rowcount
                return res
            if kind == "insert":
                res["statementType"] = "INSERT"
                cols = [self._field(meta, c) for c in stmt[2]] if stmt[2] else list(meta.schema)
                if stmt[3] is not None:
                    scope = S.Scope()
                    rows = []
                    for row in stmt[3]:
                        if len(row) != len(cols):
                            raise S.SqlError("Inserted row has wrong column count; Has %d, expected %d"
                                             % (len(row), len(cols)))
                        vals = []
                        for e, f in zip(row, cols):
                            v, ty = comp.expr(e, scope)
                            vals.append(self._coerce(v, ty, f))
                        rows.append("(%s)" % ", ".join(vals))
                    body = "VALUES %s" % ", ".join(rows)
                else:
                    sel, out = comp.select(stmt[4])
                    if len(out) != len(cols):
                        raise S.SqlError("Inserted row has wrong column count; Has %d, expected %d"
                                         % (len(out), len(cols)))
                    body = "SELECT %s FROM (%s)" % (", ".join(
                        self._coerce(S.q(name), ty, f) for (name, ty), f in zip(out, cols)), sel)
                    res["bytes"] = self._bytes(comp)
                if not dry_run:
                    cur = self._execute("INSERT INTO %s (%s) %s" % (
                        S.q(meta.sqlname), ", ".join(S.q(f.name) for f in cols), body), comp.binds)
                    meta.touch()
                    res["affected"] = res["inserted"] = cur.rowcount
                return res
            raise S.SqlError("Unsupported statement")

    def _field(self, meta, name):
        for f in meta.schema:
            if f.name.lower() == name.lower():
                return f
        raise S.SqlError("Column %s is not present in table %s" % (name, meta.name))

    @staticmethod
    def _coerce(sql, ty, f):
        if f.repeated or f.type == "STRUCT":
            if ty.type == "NULL" or (ty.repeated == f.repeated and ty.type == f.type):
                return sql
            raise S.SqlError("Value of type %s cannot be assigned to %s, which has type %s"
                             % (ty.type, f.name, f.type))
        if ty.type in ("NULL", f.type):
            return sql
        if ty.repeated or not S._castable(ty.type, f.type) or (
                ty.type not in ("INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "STRING", "DATE")):
            raise S.SqlError("Value of type %s cannot be assigned to %s, which has type %s"
                             % (ty.type, f.name, f.type))
        return "bq_cast(%s, '%s', '%s')" % (sql, ty.type, f.type)

    def _execute(self, sql, binds):
        S.take_runtime_error()
        try:
            return self.conn.execute(sql, binds)
        except sqlite3.IntegrityError as exc:
            msg = str(exc)
            if "NOT NULL" in msg:
                col = msg.rsplit(".", 1)[-1]
                raise S.QueryRuntimeError("Required field %s cannot be null" % col) from None
            raise S.QueryRuntimeError(msg) from None
        except (sqlite3.OperationalError, sqlite3.DataError, OverflowError) as exc:
            err = S.take_runtime_error()
            if err:
                raise S.QueryRuntimeError(err) from None
            msg = str(exc)
            if "integer overflow" in msg:
                raise S.QueryRuntimeError("int64 overflow in aggregate or arithmetic") from None
            raise S.SqlError("Unsupported query construct (SQLite: %s)" % msg) from None

    def _bytes(self, comp):
        total = 0
        for key, col in comp.referenced:
            meta = self.tables.get(key)
            if meta is not None:
                total += self.stats(meta)[1].get(col, 0)
        return total

"""The BigQuery emulator's storage: one shared in-memory SQLite database (one connection, used
under a lock) holding every table, plus the metadata of projects' datasets, tables and views,
and the execution of parsed SQL statements (bq_sql.py) against it.

Each BigQuery table is a SQLite table named t<N> with one column per top-level field (values
stored as described in bq_types.py); its rowid order is the table's row order, which
tabledata.list pages through. Query results are materialised into r<N> tables, whose rowid
order is the result order, so that getQueryResults pages cheaply. A view has no SQLite table:
its GoogleSQL text is compiled into every query that reads it.

Sizes follow BigQuery's data-size calculation: INT64, FLOAT64, DATE, DATETIME, TIME and
TIMESTAMP 8 bytes, BOOL 1, NUMERIC 16, BIGNUMERIC 32, STRING and BYTES 2 + their length in
bytes, GEOGRAPHY 16 + 24 per vertex, STRUCT the sum of its fields, ARRAY the sum of its
elements, NULL 0. A statement's bytes processed are the sizes of the base-table columns it
reads (bq_sql.py tracks which), plus the whole target table for UPDATE and DELETE.

Multi-statement transactions (Transaction) copy a table the first time a statement of the
transaction writes it; ROLLBACK puts the copies back.
"""

import itertools
import json
import re
import sqlite3
import threading
import time
import uuid

from . import bq_sql as S
from . import bq_types as T


def now_ms():
    return int(time.time() * 1000)


class NotFound(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Duplicate(Exception):
    """The target of a CREATE already exists (reason duplicate)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class TableMeta:
    def __init__(self, key, sqlname, schema, resource, kind="TABLE", view_query=None):
        self.key = key                      # (project, dataset, table)
        self.sqlname = sqlname              # None for a view
        self.schema = schema                # [Field]
        self.resource = resource            # extra API fields (description, labels, ...)
        self.kind = kind                    # "TABLE" | "VIEW"
        self.view_query = view_query        # GoogleSQL text of a view
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


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _geography_bytes(wkt):
    return 16 + 24 * (len(_NUMBER.findall(wkt)) // 2)


def _json_value_bytes(field, data, repeated):
    """Logical size of a REPEATED/RECORD value in its JSON-stored form."""
    if data is None:
        return 0
    if repeated:
        return sum(_json_value_bytes(field, x, False) for x in data)
    t = field.type
    if t == "STRUCT":
        lower = {k.lower(): v for k, v in data.items()}
        return sum(_json_value_bytes(f, lower.get(f.name.lower()), f.repeated) for f in field.fields)
    if t == "STRING":
        return 2 + len(str(data).encode("utf-8"))
    if t == "JSON":
        return 2 + len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if t == "BYTES":
        return 2 + len(T.jsonable_to_stored("BYTES", data))
    if t == "GEOGRAPHY":
        return _geography_bytes(str(data))
    return T.FIXED_BYTES.get(t, 8)


class BytesBilledLimitExceeded(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Transaction:
    """A BEGIN TRANSACTION ... COMMIT/ROLLBACK of a script (copy on first write)."""

    def __init__(self, store, pos):
        self.store = store
        self.pos = pos
        self.copies = {}    # key -> (meta, copy sqlname)

    def before_write(self, meta):
        if meta.key in self.copies:
            return
        st = self.store
        copy = st.new_sqlname("x")
        st.create_sql_table(copy, meta.schema)
        if meta.schema:
            cols = ", ".join(S.q(f.name) for f in meta.schema)
            st.conn.execute("INSERT INTO %s (%s) SELECT %s FROM %s ORDER BY rowid"
                            % (S.q(copy), cols, cols, S.q(meta.sqlname)))
        self.copies[meta.key] = (meta, copy)

    def commit(self):
        with self.store.lock:
            for meta, copy in self.copies.values():
                self.store.drop_sql(copy)
            self.copies.clear()

    def rollback(self):
        with self.store.lock:
            for meta, copy in self.copies.values():
                self.store.drop_sql(meta.sqlname)
                meta.sqlname = copy
                meta.touch()
            self.copies.clear()


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

    def create_view(self, key, schema, query, resource=None):
        with self.lock:
            meta = TableMeta(key, None, schema, resource or {}, kind="VIEW", view_query=query)
            self.tables[key] = meta
            return meta

    def drop_table(self, key):
        with self.lock:
            meta = self.tables.pop(key)
            if meta.sqlname is not None:
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

    def sql_stats(self, sqlname, schema):
        """(numRows, {column lower: logical bytes}) of a SQLite table holding `schema`."""
        with self.lock:
            exprs = ["COUNT(*)"]
            python_cols = []
            for f in schema:
                c = S.q(f.name)
                if f.repeated or f.type in ("STRUCT", "GEOGRAPHY", "JSON"):
                    python_cols.append(f)
                    exprs.append("0")
                elif f.type in ("STRING", "BYTES"):
                    exprs.append("COALESCE(SUM(length(CAST(%s AS BLOB)) + 2), 0)" % c)
                else:
                    exprs.append("COUNT(%s) * %d" % (c, T.FIXED_BYTES.get(f.type, 8)))
            row = self.conn.execute("SELECT %s FROM %s" % (", ".join(exprs), S.q(sqlname))).fetchone()
            sizes = {f.name.lower(): row[i + 1] for i, f in enumerate(schema)}
            for f in python_cols:
                total = 0
                for v, in self.conn.execute("SELECT %s FROM %s WHERE %s IS NOT NULL"
                                            % (S.q(f.name), S.q(sqlname), S.q(f.name))):
                    if f.type == "GEOGRAPHY" and not f.repeated:
                        total += _geography_bytes(v)
                    elif f.type == "JSON" and not f.repeated:
                        total += 2 + len(v.encode("utf-8"))
                    else:
                        total += _json_value_bytes(f, json.loads(v), f.repeated)
                sizes[f.name.lower()] = total
            return row[0], sizes

    def stats(self, meta):
        """(numRows, {column lower: logical bytes}); (0, {}) for a view."""
        with self.lock:
            if meta._stats is not None:
                return meta._stats
            if meta.kind != "TABLE":
                return 0, {}
            meta._stats = self.sql_stats(meta.sqlname, meta.schema)
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
            def key(self, parts, pos):
                if len(parts) == 3:
                    return tuple(parts)
                if len(parts) == 2:
                    return (project, parts[0], parts[1])
                if len(parts) == 1 and default_dataset:
                    return (default_dataset[0], default_dataset[1], parts[0])
                if len(parts) == 1:
                    raise S.SqlError("Table \"%s\" must be qualified with a dataset (e.g. dataset.table)."
                                     % parts[0], pos)
                raise S.SqlError("Invalid table name: %s" % ".".join(parts), pos)

            def lookup(self, parts, pos):
                key = self.key(parts, pos)
                meta = store.tables.get(key)
                if meta is None:
                    if (key[0], key[1]) not in store.datasets:
                        raise NotFound("Not found: Dataset %s:%s was not found in location US" % key[:2])
                    raise NotFound("Not found: Table %s:%s.%s was not found in location US" % key)
                return meta

            def for_view(self, meta):
                return store.catalog(meta.key[0], None)
        return Catalog()

    def execute(self, project, stmt, params, default_dataset=None, dry_run=False, check=None, tx=None):
        """Run one parsed statement. Returns a dict:
        statementType; schema [Field] (SELECT); sqlname + columns + numRows (SELECT,
        materialised); affected/inserted/deleted/updated (DML); ddl {op, target} (DDL);
        bytes (processed), table_bytes {table key: bytes}, tables [keys read].
        `check(res)` runs once the statement is compiled and sized, before anything is
        executed (maximumBytesBilled). `tx` is the script's open Transaction, if any.
        Raises SqlError (400 invalidQuery), NotFound (404), Duplicate (409),
        S.QueryRuntimeError (400)."""
        positional, pmap = params
        with self.lock:
            cat = self.catalog(project, default_dataset)
            comp = S.Compiler(cat, pmap, positional)
            kind = stmt[0]
            if kind == "select":
                sel = comp.use(comp.select(stmt[1]))
                res = self._result("SELECT", comp)
                res["schema"] = [ty.field(name) for name, ty in sel.out]
                if check:
                    check(res)
                if dry_run:
                    return res
                rname = self.new_sqlname("r")
                self._execute("CREATE TABLE %s AS %s" % (S.q(rname), sel.sql), comp.binds)
                res["sqlname"] = rname
                res["columns"] = ["c%d" % i for i in range(len(sel.out))]
                res["numRows"] = self.conn.execute("SELECT COUNT(*) FROM %s" % S.q(rname)).fetchone()[0]
                return res
            if kind in ("create_table", "create_view", "drop", "create_schema", "drop_schema"):
                if tx is not None:
                    raise S.SqlError("%s is not supported inside a multi-statement transaction"
                                     % {"create_table": "CREATE TABLE", "create_view": "CREATE VIEW",
                                        "create_schema": "CREATE SCHEMA", "drop_schema": "DROP SCHEMA",
                                        "drop": "DROP %s" % (stmt[1] if kind == "drop" else "")}[kind])
                return getattr(self, "_" + kind)(project, stmt, cat, comp, dry_run, check)
            if kind in ("begin", "commit", "rollback"):
                raise S.SqlError("%s TRANSACTION is only valid in a multi-statement query" % kind.upper())
            (parts, pos) = stmt[1]
            meta = cat.lookup(parts, pos)
            if meta.kind != "TABLE":
                raise S.SqlError("%s cannot modify %s, which is a view" % (
                    {"truncate": "TRUNCATE TABLE"}.get(kind, kind.upper()), meta.name), pos)
            comp.collect = comp.referenced
            if kind == "truncate":
                res = self._result("TRUNCATE_TABLE", comp, tables=[meta.key])
                if check:
                    check(res)
                if not dry_run:
                    n = self.num_rows(meta)
                    if tx is not None:
                        tx.before_write(meta)
                    self.conn.execute("DELETE FROM %s" % S.q(meta.sqlname))
                    meta.touch()
                    res["affected"] = res["deleted"] = n
                return res
            if kind in ("delete", "update"):
                scope = S.Scope()
                alias = stmt[2] or parts[-1]
                scope.add(alias, [(f.name, S.Ty.of(f), S.q(f.name), frozenset([(meta.key, f.name.lower())]))
                                  for f in meta.schema])
                sets = []
                if kind == "update":
                    for colparts, e in stmt[3]:
                        if len(colparts) > 1 and colparts[0].lower() == alias.lower():
                            colparts = colparts[1:]
                        if len(colparts) != 1:
                            raise S.SqlError("Unsupported in the luxe BigQuery emulator: UPDATE of a "
                                             "STRUCT field (%s)" % ".".join(colparts))
                        f = self._field(meta, colparts[-1])
                        v, ty = comp.expr(e, scope, clause="UPDATE SET", no_agg=True, no_window=True)
                        sets.append("%s = %s" % (S.q(f.name), self._coerce(v, ty, f)))
                cond, ty = comp.expr(stmt[4] if kind == "update" else stmt[3], scope, clause="WHERE clause",
                                     no_agg=True, no_window=True)
                comp.want_bool(ty, "WHERE clause")
                # BigQuery reads the referenced columns and rewrites the whole table
                res = self._result(kind.upper(), comp, whole=meta)
                if check:
                    check(res)
                if not dry_run:
                    if tx is not None:
                        tx.before_write(meta)
                    if kind == "delete":
                        cur = self._execute("DELETE FROM %s WHERE %s" % (S.q(meta.sqlname), cond), comp.binds)
                        res["affected"] = res["deleted"] = cur.rowcount
                    else:
                        cur = self._execute("UPDATE %s SET %s WHERE %s" % (S.q(meta.sqlname), ", ".join(sets),
                                                                           cond), comp.binds)
                        res["affected"] = res["updated"] = cur.rowcount
                    meta.touch()
                return res
            if kind == "insert":
                cols = [self._field(meta, c) for c in stmt[2]] if stmt[2] else list(meta.schema)
                if len({f.name.lower() for f in cols}) != len(cols):
                    raise S.SqlError("INSERT has columns with duplicate name")
                if stmt[3] is not None:
                    scope = S.Scope()
                    rows = []
                    for row in stmt[3]:
                        if len(row) != len(cols):
                            raise S.SqlError("Inserted row has wrong column count; Has %d, expected %d"
                                             % (len(row), len(cols)))
                        vals = []
                        for e, f in zip(row, cols):
                            v, ty = comp.expr(e, scope, clause="VALUES", no_agg=True, no_window=True)
                            vals.append(self._coerce(v, ty, f))
                        rows.append("(%s)" % ", ".join(vals))
                    body = "VALUES %s" % ", ".join(rows)
                else:
                    sel = comp.use(comp.select(stmt[4]))
                    if len(sel.out) != len(cols):
                        raise S.SqlError("Inserted row has wrong column count; Has %d, expected %d"
                                         % (len(sel.out), len(cols)))
                    body = "SELECT %s FROM (%s)" % (", ".join(
                        self._coerce(S.q("c%d" % i), ty, f) for i, ((name, ty), f) in enumerate(zip(sel.out, cols))),
                        sel.sql)
                res = self._result("INSERT", comp)
                if check:
                    check(res)
                if not dry_run:
                    if tx is not None:
                        tx.before_write(meta)
                    cur = self._execute("INSERT INTO %s (%s) %s" % (
                        S.q(meta.sqlname), ", ".join(S.q(f.name) for f in cols), body), comp.binds)
                    meta.touch()
                    res["affected"] = res["inserted"] = cur.rowcount
                return res
            raise S.SqlError("Unsupported statement")

    # -- DDL --
    def _target(self, path, cat):
        parts, pos = path
        key = cat.key(parts, pos)
        if key[:2] not in self.datasets:
            raise NotFound("Not found: Dataset %s:%s" % key[:2])
        return key

    @staticmethod
    def _named_schema(sel, what):
        seen = set()
        for i, (name, ty) in enumerate(sel.out):
            if sel.anon[i]:
                raise S.SqlError("%s columns must be named, but column %d has no name" % (what, i + 1))
            if name.lower() in seen:
                raise S.SqlError("%s has columns with duplicate name %s" % (what, name))
            seen.add(name.lower())
        return [ty.field(name) for name, ty in sel.out]

    def _create_table(self, project, stmt, cat, comp, dry_run, check):
        _, path, opts, cols, query = stmt
        key = self._target(path, cat)
        existing = self.tables.get(key)
        stype = "CREATE_TABLE_AS_SELECT" if query is not None else "CREATE_TABLE"
        if existing is not None and existing.kind != "TABLE" and opts["replace"]:
            raise S.SqlError("%s is a view; CREATE OR REPLACE TABLE cannot replace it" % existing.name, path[1])
        if existing is not None and opts["if_not_exists"]:
            res = self._result(stype, comp)
            res["ddl"] = {"op": "SKIP", "target": key}
            return res
        if existing is not None and not opts["replace"]:
            raise Duplicate("Already Exists: Table %s:%s.%s" % key)
        if cols is not None and query is not None:
            raise S.SqlError("Unsupported in the luxe BigQuery emulator: CREATE TABLE with both a column "
                             "list and AS query")
        if cols is not None:
            schema = cols
            seen = set()
            for f in schema:
                if f.name.lower() in seen:
                    raise S.SqlError("Duplicate column name %s in CREATE TABLE" % f.name)
                seen.add(f.name.lower())
            sel = None
        else:
            sel = comp.use(comp.select(query))
            schema = self._named_schema(sel, "CREATE TABLE")
        res = self._result(stype, comp)
        res["ddl"] = {"op": "REPLACE" if existing is not None else "CREATE", "target": key}
        if check:
            check(res)
        if dry_run:
            return res
        sqlname = self.new_sqlname()
        self.create_sql_table(sqlname, schema)
        try:
            if sel is not None and schema:
                self._execute("INSERT INTO %s SELECT * FROM (%s)" % (S.q(sqlname), sel.sql), comp.binds)
        except Exception:
            self.drop_sql(sqlname)
            raise
        if existing is not None:
            self.drop_table(key)
        meta = TableMeta(key, sqlname, schema, {})
        self.tables[key] = meta
        return res

    @staticmethod
    def _schema_key(project, path):
        parts, pos = path
        if len(parts) == 1:
            return (project, parts[0])
        if len(parts) == 2:
            return tuple(parts)
        raise S.SqlError("Invalid schema name: %s" % ".".join(parts), pos)

    def _create_schema(self, project, stmt, cat, comp, dry_run, check):
        _, path, opts = stmt
        key = self._schema_key(project, path)
        if not re.match(r"[A-Za-z0-9_]{1,1024}\Z", key[1]):
            raise S.SqlError("Invalid dataset ID \"%s\". Dataset IDs must be alphanumeric (plus underscores) "
                             "and must be at most 1024 characters long." % key[1], path[1])
        res = {"statementType": "CREATE_SCHEMA", "bytes": 0, "table_bytes": {}, "tables": []}
        if key in self.datasets:
            if opts["if_not_exists"]:
                res["ddl"] = {"op": "SKIP", "target": key}
                return res
            raise Duplicate("Already Exists: Dataset %s:%s" % key)
        res["ddl"] = {"op": "CREATE", "target": key}
        if check:
            check(res)
        if dry_run:
            return res
        ds = {"location": "US", "created": int(time.time() * 1000), "extra": {},
              "etag": uuid.uuid4().hex[:22]}
        ds["modified"] = ds["created"]
        self.datasets[key] = ds
        return res

    def _drop_schema(self, project, stmt, cat, comp, dry_run, check):
        _, path, if_exists, cascade = stmt
        key = self._schema_key(project, path)
        res = {"statementType": "DROP_SCHEMA", "bytes": 0, "table_bytes": {}, "tables": []}
        if key not in self.datasets:
            if if_exists:
                res["ddl"] = {"op": "SKIP", "target": key}
                return res
            raise NotFound("Not found: Dataset %s:%s" % key)
        tables = [k for k in self.tables if k[:2] == key]
        if tables and not cascade:
            raise S.SqlError("Dataset %s:%s is still in use; use CASCADE to drop it with its %d tables"
                             % (key[0], key[1], len(tables)), path[1])
        res["ddl"] = {"op": "DROP", "target": key}
        if check:
            check(res)
        if dry_run:
            return res
        for k in tables:
            self.drop_table(k)
        del self.datasets[key]
        return res

    def _create_view(self, project, stmt, cat, comp, dry_run, check):
        _, path, opts, query, text = stmt
        key = self._target(path, cat)
        existing = self.tables.get(key)
        res = {"statementType": "CREATE_VIEW", "bytes": 0, "table_bytes": {}, "tables": []}
        if existing is not None and existing.kind != "VIEW" and opts["replace"]:
            raise S.SqlError("%s is a table; CREATE OR REPLACE VIEW cannot replace it" % existing.name, path[1])
        if existing is not None and opts["if_not_exists"]:
            res["ddl"] = {"op": "SKIP", "target": key}
            return res
        if existing is not None and not opts["replace"]:
            raise Duplicate("Already Exists: Table %s:%s.%s" % key)
        # compiled as queries will compile it: with no default dataset and no query parameters
        vcomp = S.Compiler(cat.for_view(TableMeta(key, None, [], {})), {}, False)
        sel = vcomp.select(query)
        schema = self._named_schema(sel, "CREATE VIEW")
        res["ddl"] = {"op": "REPLACE" if existing is not None else "CREATE", "target": key}
        if check:
            check(res)
        if dry_run:
            return res
        if existing is not None:
            self.drop_table(key)
        self.create_view(key, schema, text)
        return res

    def define_view(self, key, text, resource=None):
        """Create view `key` from its GoogleSQL query text (tables.insert with a view)."""
        with self.lock:
            stmts = S.parse_script(text)
            if len(stmts) != 1 or stmts[0][0][0] != "select":
                raise S.SqlError("A view's query must be a single SELECT statement")
            comp = S.Compiler(self.catalog(key[0], None), {}, False)
            sel = comp.select(stmts[0][0][1])
            return self.create_view(key, self._named_schema(sel, "CREATE VIEW"), text.strip(), resource)

    def _drop(self, project, stmt, cat, comp, dry_run, check):
        _, kind, path, if_exists = stmt
        key = self._target(path, cat)
        res = {"statementType": "DROP_%s" % kind, "bytes": 0, "table_bytes": {}, "tables": []}
        meta = self.tables.get(key)
        if meta is None:
            if if_exists:
                res["ddl"] = {"op": "SKIP", "target": key}
                return res
            raise NotFound("Not found: %s %s:%s.%s" % (("Table" if kind == "TABLE" else "View",) + key))
        if meta.kind != kind:
            raise S.SqlError("%s is a %s; use DROP %s" % (meta.name, meta.kind.lower(), meta.kind), path[1])
        res["ddl"] = {"op": "DROP", "target": key}
        if check:
            check(res)
        if not dry_run:
            self.drop_table(key)
        return res

    # -- helpers --
    def _result(self, stype, comp, whole=None, tables=None):
        """The statistics part of a result: bytes per table read, their sum, tables read."""
        per = {}
        for key, col in comp.referenced:
            meta = self.tables.get(key)
            if meta is None or meta.kind != "TABLE":
                continue
            per.setdefault(key, 0)
            if col is not None:
                per[key] += self.stats(meta)[1].get(col, 0)
        if whole is not None:
            per[whole.key] = per.get(whole.key, 0) + self.num_bytes(whole)
        keys = sorted(set(per) | set(tables or ()))
        return {"statementType": stype, "bytes": sum(per.values()), "table_bytes": per, "tables": keys}

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

"""BigQuery load jobs (configuration.load) reading objects of the GCS emulator's store.

CSV (default) and NEWLINE_DELIMITED_JSON from one or more sourceUris (each may hold one '*'
wildcard after the bucket); options skipLeadingRows (per file), fieldDelimiter (its first
character; "\\t" and "tab" mean a tab), quote ("" turns quoting off), allowQuotedNewlines,
allowJaggedRows, ignoreUnknownValues, maxBadRecords, nullMarker, encoding (UTF-8, whose
undecodable bytes become U+FFFD as BigQuery documents, ISO-8859-1, UTF-16/32),
writeDisposition, createDisposition, an explicit schema or autodetect (sampling the first 500
rows, header detection as documented for skipLeadingRows).

CSV values follow BigQuery's rules: INT64 takes only integer text ("34.0" is a bad record),
BOOL takes true/false, t/f, yes/no, y/n and 1/0 in any case, DATE is YYYY-MM-DD, TIMESTAMP
takes "-" or "/" date separators, an optional T and a zone, NUMERIC/BIGNUMERIC are rounded
to 9/38 decimal places. A row that fails is skipped and counted (statistics.load.badRecords);
one more than maxBadRecords fails the job with reason "invalid". The job's status.errors
lists the first bad rows' errors (up to MAX_ROW_ERRORS, each with the file as location), also
when the job succeeds.

Rows are parsed in batches and written into a staging SQLite table, which then replaces
(WRITE_TRUNCATE, new table) or is appended to the destination, so a failed load leaves the
table untouched. statistics.load reports inputFiles, inputFileBytes, outputRows, outputBytes
(the loaded rows' logical size) and badRecords, as int64 strings.
"""

import csv
import gzip
import io
import json
import math
import re
import sys
import time

from . import bq_sql as S
from . import bq_types as T
from .bq_store import NotFound


class JobCancelled(Exception):
    """The job was cancelled before its load committed: nothing is written."""


BATCH = 20000
SAMPLE = 500
MAX_ROW_ERRORS = 5      # BigQuery reports the first few bad rows, not all of them
csv.field_size_limit(sys.maxsize)


class LoadError(Exception):
    def __init__(self, message, errors=None, stats=None, reason="invalid", location=None):
        super().__init__(message)
        self.error = {"reason": reason, "message": message}
        if location:
            self.error["location"] = location
        self.errors = [self.error] + list(errors or [])
        self.stats = stats


def _objects(gcs, uri):
    m = re.match(r"gs://([^/]+)/(.+)\Z", uri or "")
    if not m:
        raise LoadError("Invalid source URI: %s. URIs must be of the form gs://bucket/object" % uri)
    bucket, name = m.group(1), m.group(2)
    if "*" in bucket:
        raise LoadError("Invalid source URI: %s. A '*' wildcard must come after the bucket name" % uri)
    if name.count("*") > 1:
        raise LoadError("Invalid source URI: %s. Only one '*' wildcard is allowed" % uri)
    if gcs is None:
        raise LoadError("No GCS store is attached to the emulator")
    if "*" not in name:
        if gcs.stat(bucket, name) is None:
            raise NotFound("Not found: URI %s" % uri)
        return [(bucket, name)]
    prefix, suffix = name.split("*")
    try:
        names = sorted(info.name for info in gcs.iter_objects(bucket)
                       if info.name.startswith(prefix) and info.name.endswith(suffix)
                       and len(info.name) >= len(prefix) + len(suffix))
    except Exception:  # noqa: BLE001 - a missing bucket
        names = []
    if not names:
        raise NotFound("Not found: URI %s" % uri)
    return [(bucket, n) for n in names]


def _decode(data, encoding):
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    enc = (encoding or "UTF-8").upper().replace("_", "-")
    py = {"UTF-8": "utf-8", "ISO-8859-1": "latin-1", "UTF-16BE": "utf-16-be", "UTF-16LE": "utf-16-le",
          "UTF-32BE": "utf-32-be", "UTF-32LE": "utf-32-le"}.get(enc)
    if py is None:
        raise LoadError("Unsupported encoding: %s" % encoding)
    if py == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if py == "utf-8":
        # BigQuery: bytes that are not UTF-8 become the replacement character U+FFFD
        return data.decode(py, errors="replace")
    try:
        return data.decode(py)
    except UnicodeDecodeError as exc:
        raise LoadError("Error while reading data, error message: Bad character (%s) at byte %d; the "
                        "data is not valid %s" % (data[exc.start:exc.start + 1].hex(), exc.start, enc)) from None


# -- autodetect ---------------------------------------------------------------------------------

_RX = [
    ("BOOL", re.compile(r"(?i)(true|false)\Z")),
    ("INT64", re.compile(r"[+-]?\d{1,18}\Z")),
    ("FLOAT64", re.compile(r"(?i)[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity)\Z")),
    ("DATE", re.compile(r"\d{4}-\d{1,2}-\d{1,2}\Z")),
    ("TIMESTAMP", re.compile(r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s*"
                             r"(Z|UTC|[+-]\d{2}(:?\d{2})?)?\Z")),
]


def detect_value(v):
    for t, rx in _RX:
        if rx.match(v):
            if t == "DATE":
                try:
                    T.parse_date(v)
                except T.ValueError_:
                    return "STRING"
            return t
    return "STRING"


def combine(types):
    types = set(types)
    if not types:
        return "STRING"
    if len(types) == 1:
        return types.pop()
    if types <= {"INT64", "FLOAT64"}:
        return "FLOAT64"
    if types <= {"DATE", "TIMESTAMP"}:
        return "TIMESTAMP"
    return "STRING"


_GEN = {"INT64": "int64", "FLOAT64": "double", "BOOL": "bool", "DATE": "date",
        "TIMESTAMP": "timestamp", "STRING": "string"}


def _clean_name(name, i, used):
    n = re.sub(r"[^A-Za-z0-9_]", "_", name.strip())
    if not n:
        n = "string_field_%d" % i
    if n[0].isdigit():
        n = "_" + n
    n = n[:300]
    base, k = n, 1
    while n.lower() in used:
        n = "%s_%d" % (base, k)
        k += 1
    used.add(n.lower())
    return n


def autodetect_csv(records, skip):
    """(schema, header_row_used) from the leading records (after skip-1 rows if skip > 0)."""
    if skip is not None and skip > 0:
        cand_idx = skip - 1
    elif skip is None:
        cand_idx = 0
    else:
        cand_idx = None
    data_start = (cand_idx + 1) if cand_idx is not None else 0
    sample = [r for r in records[data_start:data_start + SAMPLE] if r != []]
    width = max([len(r) for r in sample] + ([len(records[cand_idx])] if cand_idx is not None
                                               and cand_idx < len(records) else [0]))
    col_types = []
    for i in range(width):
        col_types.append(combine(detect_value(r[i]) for r in sample if i < len(r) and r[i] != ""))
    header = None
    if cand_idx is not None and cand_idx < len(records):
        cand = records[cand_idx]
        cand_types = [detect_value(v) if v != "" else "STRING" for v in cand]
        if all(t == "STRING" for t in cand_types) and any(t != "STRING" for t in col_types):
            header = cand
        elif skip is None and sample == [] and cand:
            header = None
    used, fields = set(), []
    for i, t in enumerate(col_types):
        if header is not None and i < len(header) and header[i].strip():
            name = _clean_name(header[i], i, used)
        else:
            name = _clean_name("%s_field_%d" % (_GEN[t], i), i, used)
        fields.append(T.Field(name, t))
    return fields, header is not None


def _detect_json_type(values):
    kinds = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            kinds.add("BOOL")
        elif isinstance(v, int):
            kinds.add("INT64")
        elif isinstance(v, float):
            kinds.add("FLOAT64")
        elif isinstance(v, str):
            kinds.add(detect_value(v))
        elif isinstance(v, dict):
            kinds.add("STRUCT")
        else:
            kinds.add("OTHER")
    if kinds == {"STRUCT"}:
        return "STRUCT"
    kinds.discard("OTHER")
    return combine(kinds)


def autodetect_json(objs):
    order, seen = [], {}
    for o in objs:
        for k, v in o.items():
            if k.lower() not in seen:
                seen[k.lower()] = k
                order.append(k)
    fields = []
    for k in order:
        vals = [o.get(k) for o in objs if k in o]
        repeated = any(isinstance(v, list) for v in vals)
        if repeated:
            vals = [x for v in vals if isinstance(v, list) for x in v]
        t = _detect_json_type(vals)
        sub = []
        if t == "STRUCT":
            sub = autodetect_json([v for v in vals if isinstance(v, dict)])
        fields.append(T.Field(re.sub(r"[^A-Za-z0-9_]", "_", k), t, "REPEATED" if repeated else "NULLABLE", sub))
    return fields


# -- CSV conversion -----------------------------------------------------------------------------

def _csv_converter(field, null_marker, custom_null):
    t = field.type
    if field.repeated or t == "STRUCT":
        raise LoadError("CSV files cannot be loaded into a REPEATED or RECORD field (%s)" % field.name)

    def null_or_fail(v):
        if v == null_marker:
            return True
        if v == "":
            if custom_null and t not in ("STRING", "BYTES"):
                raise T.ValueError_("Empty string is not a valid value for %s (nullMarker is %r)"
                                    % (t, null_marker))
            return not custom_null
        return False

    if t == "STRING":
        if not custom_null:
            return lambda v: v if v != "" else None
        return lambda v: None if v == null_marker else v
    if t == "INT64":
        def conv(v):
            if null_or_fail(v):
                return None
            return T.parse_int(v.strip())
        return conv
    if t == "FLOAT64":
        def conv(v):
            if null_or_fail(v):
                return None
            return T.parse_float(v)
        return conv
    if t == "BOOL":
        def conv(v):
            if null_or_fail(v):
                return None
            return T.parse_bool(v, csv=True)
        return conv

    def conv(v):
        if null_or_fail(v):
            return None
        return T.parse_scalar(t, v, csv=True)
    return conv


def _delimiter(d):
    if d is None or d == "":
        return ","
    if d.lower() in ("\\t", "tab", "\t"):
        return "\t"
    if len(d) != 1:
        try:
            d = d.encode("latin-1").decode("unicode_escape")
        except (UnicodeError, ValueError):
            pass
    if len(d) != 1:
        raise LoadError("Field delimiter %r is not supported by the luxe emulator (one character only)" % d)
    return d


class _Loader:
    def __init__(self, db, job, conf, target_meta, schema, sqlname):
        self.db = db
        self.job = job
        self.conf = conf
        self.schema = schema
        self.sqlname = sqlname
        self.meta = target_meta
        self.max_bad = int(conf.get("maxBadRecords") or 0)
        self.uri = None
        self.bad = 0
        self.warnings = []
        self.rows = 0
        self.batch = []
        self.insert_sql = "INSERT INTO %s (%s) VALUES (%s)" % (
            S.q(sqlname), ", ".join(S.q(f.name) for f in schema), ", ".join("?" * len(schema)))

    def bad_row(self, msg):
        self.bad += 1
        err = {"reason": "invalid", "location": self.uri, "message": msg}
        if len(self.warnings) < MAX_ROW_ERRORS:
            self.warnings.append(err)
        if self.bad > self.max_bad:
            raise LoadError("Error while reading data, error message: %s encountered too many errors, "
                            "giving up. Rows: %d; errors: %d; max bad: %d; error percent: 0"
                            % ("CSV processing" if self.csv else "JSON processing",
                               self.rows + self.bad, self.bad, self.max_bad), self.warnings)

    def add(self, values):
        self.batch.append(values)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self):
        if self.job.cancelled:
            raise LoadError("Job execution was cancelled: User requested cancellation", reason="stopped")
        if self.batch:
            with self.db.lock:
                self.db.conn.executemany(self.insert_sql, self.batch)
            self.rows += len(self.batch)
            self.batch = []


def run_load(db, gcs, job, conf):
    dest = conf.get("destinationTable") or {}
    key = (dest.get("projectId") or job.project, dest.get("datasetId"), dest.get("tableId"))
    if not key[1] or not key[2]:
        raise LoadError("Required parameter is missing: destinationTable")
    fmt = (conf.get("sourceFormat") or "CSV").upper()
    if fmt not in ("CSV", "NEWLINE_DELIMITED_JSON"):
        raise LoadError("Source format %s is not supported by the luxe emulator" % fmt)
    write = (conf.get("writeDisposition") or "WRITE_APPEND").upper()
    if write == "WRITE_TRUNCATE_DATA":
        write = "WRITE_TRUNCATE"
    create = (conf.get("createDisposition") or "CREATE_IF_NEEDED").upper()
    if write not in ("WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY"):
        raise LoadError("Invalid writeDisposition: %s" % write)
    uris = conf.get("sourceUris") or []
    if not uris:
        raise LoadError("Required parameter is missing: sourceUris")
    objects = []
    for u in uris:
        objects.extend(_objects(gcs, u))
    with db.lock:
        if key[:2] not in db.datasets:
            raise NotFound("Not found: Dataset %s:%s" % key[:2])
        existing = db.tables.get(key)
        if existing is not None and existing.kind != "TABLE":
            raise LoadError("Cannot load data into %s, which is a %s" % (existing.name, existing.kind.lower()))
        if existing is None and create == "CREATE_NEVER":
            raise NotFound("Not found: Table %s:%s.%s" % key)
        if existing is not None and write == "WRITE_EMPTY" and db.num_rows(existing) > 0:
            raise LoadError("Already Exists: Table %s:%s.%s" % key, reason="duplicate")
    try:
        explicit = T.parse_schema((conf.get("schema") or {}).get("fields")) if conf.get("schema") else None
    except T.ValueError_ as exc:
        raise LoadError(str(exc)) from None
    autodetect = bool(conf.get("autodetect"))
    skip = conf.get("skipLeadingRows")
    skip = None if skip in (None, "") else int(skip)

    total_bytes = 0
    texts = []
    for bucket, name in objects:
        data = gcs.read_object_bytes(bucket, name)
        total_bytes += len(data)
        texts.append(("gs://%s/%s" % (bucket, name), _decode(data, conf.get("encoding"))))
        del data

    csv_opts = None
    if fmt == "CSV":
        quote = conf.get("quote", '"')
        quote = '"' if quote is None else quote
        csv_opts = {"delimiter": _delimiter(conf.get("fieldDelimiter")), "doublequote": True,
                    "strict": False}
        if quote == "":
            csv_opts["quoting"] = csv.QUOTE_NONE
        else:
            csv_opts["quotechar"] = quote[0]
        enc = (conf.get("encoding") or "UTF-8").upper().replace("_", "-")
        for what, ch in (("fieldDelimiter", csv_opts["delimiter"]), ("quote", csv_opts.get("quotechar"))):
            if ch is not None and ord(ch) > 0x7F and enc != "ISO-8859-1":
                # BigQuery splits the raw bytes on the first byte of a UTF-8 multi-byte character
                raise LoadError("A non-ASCII %s (%r) with %s data is not supported by the luxe emulator"
                                % (what, ch, enc))

    # the schema
    header_used = False
    if explicit:
        schema = explicit
        if existing is not None and write != "WRITE_TRUNCATE":
            names = [f.name.lower() for f in existing.schema]
            if [f.name.lower() for f in explicit] != names[:len(explicit)] or len(explicit) != len(names):
                raise LoadError("Provided Schema does not match Table %s:%s.%s." % key)
            schema = existing.schema
    elif existing is not None and existing.schema and (not autodetect or write != "WRITE_TRUNCATE"):
        schema = existing.schema
        if autodetect and fmt == "CSV" and skip is None:
            _, header_used = autodetect_csv(_head_records(texts[0][1], csv_opts), None)
    elif autodetect:
        if fmt == "CSV":
            schema, header_used = autodetect_csv(_head_records(texts[0][1], csv_opts), skip)
        else:
            objs = []
            for line in texts[0][1].splitlines():
                if line.strip():
                    try:
                        o = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(o, dict):
                        objs.append(o)
                    if len(objs) >= SAMPLE:
                        break
            schema = autodetect_json(objs)
        if not schema:
            raise LoadError("Schema autodetection found no columns")
    else:
        raise LoadError("No schema specified on job or table.")

    with db.lock:
        sqlname = db.new_sqlname("t")
        db.create_sql_table(sqlname, schema)
    loader = _Loader(db, job, conf, existing, schema, sqlname)
    loaded_bytes = 0
    loader.csv = fmt == "CSV"
    try:
        for uri, text in texts:
            loader.uri = uri
            if fmt == "CSV":
                _load_csv(loader, uri, text, csv_opts, conf, skip, header_used, autodetect)
            else:
                _load_json(loader, uri, text, conf)
        loader.flush()
        # a job a fault keeps running (job-slow) commits when it ends, and
        # not at all if it is cancelled meanwhile: BigQuery commits a load
        # atomically at its end
        with job.cond:
            while (job.slow_until is not None and time.monotonic() < job.slow_until
                   and not job.cancelled):
                job.cond.wait(0.05)
            if job.cancelled:
                raise JobCancelled()
        with db.lock:
            loaded_bytes = sum(db.sql_stats(sqlname, schema)[1].values())
            meta = db.tables.get(key)
            if meta is not None and write == "WRITE_EMPTY" and db.num_rows(meta) > 0:
                raise LoadError("Already Exists: Table %s:%s.%s" % key, reason="duplicate")
            if key[:2] not in db.datasets:
                raise NotFound("Not found: Dataset %s:%s" % key[:2])
            if meta is None:
                meta = db.create_table(key, [])
                db.drop_sql(meta.sqlname)
                meta.sqlname, meta.schema = sqlname, schema
            elif write == "WRITE_TRUNCATE" or not meta.schema:
                db.drop_sql(meta.sqlname)
                meta.sqlname, meta.schema = sqlname, schema
            else:
                cols = ", ".join(S.q(f.name) for f in schema)
                db.conn.execute("INSERT INTO %s (%s) SELECT %s FROM %s" % (
                    S.q(meta.sqlname), cols, cols, S.q(sqlname)))
                db.drop_sql(sqlname)
            meta.touch()
            sqlname = None
    except LoadError as exc:
        exc.stats = {"inputFiles": str(len(texts)), "inputFileBytes": str(total_bytes),
                     "outputRows": "0", "outputBytes": "0", "badRecords": str(loader.bad)}
        raise
    finally:
        if sqlname is not None:
            db.drop_sql(sqlname)
    stats = {"inputFiles": str(len(texts)), "inputFileBytes": str(total_bytes),
             "outputRows": str(loader.rows), "outputBytes": str(loaded_bytes),
             "badRecords": str(loader.bad)}
    return stats, loader.warnings


def _head_records(text, opts):
    out = []
    reader = csv.reader(io.StringIO(text[:4 * 1024 * 1024], newline=""), **opts)
    try:
        for rec in reader:
            out.append(rec)
            if len(out) > SAMPLE + 10:
                break
    except csv.Error:
        pass
    if len(text) > 4 * 1024 * 1024 and out:
        out.pop()  # may be cut in the middle
    return out


def _load_csv(loader, uri, text, opts, conf, skip, header_used, autodetect):
    schema = loader.schema
    ncols = len(schema)
    null_marker = conf.get("nullMarker")
    markers = conf.get("nullMarkers") or []
    custom = null_marker not in (None, "")
    if not custom and markers:
        null_marker, custom = markers[0], True
    if not custom:
        null_marker = ""
    convs = [_csv_converter(f, null_marker, custom) for f in schema]
    required = [i for i, f in enumerate(schema) if f.mode == "REQUIRED"]
    jagged = bool(conf.get("allowJaggedRows"))
    ignore_unknown = bool(conf.get("ignoreUnknownValues"))
    quoted_newlines = bool(conf.get("allowQuotedNewlines"))
    if skip is None:
        to_skip = 1 if (autodetect and header_used) else 0
    else:
        to_skip = skip
    reader = csv.reader(io.StringIO(text, newline=""), **opts)
    line = 1
    index = 0
    add = loader.add
    while True:
        start_line = line
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            loader.bad_row("Error while reading data, error message: %s; line %d, file %s"
                           % (exc, start_line, uri))
            line = reader.line_num + 1
            continue
        line = reader.line_num + 1
        index += 1
        if index <= to_skip:
            continue
        if not rec:
            continue
        if not quoted_newlines and any(("\n" in v or "\r" in v) for v in rec):
            loader.bad_row("Error while reading data, error message: Error detected while parsing row "
                           "starting at line %d: a quoted field contains a newline but allowQuotedNewlines "
                           "is false (Missing close quote character (\")); file %s" % (start_line, uri))
            continue
        n = len(rec)
        if n != ncols:
            if n < ncols:
                if not jagged:
                    loader.bad_row("Error while reading data, error message: CSV table references column "
                                   "position %d, but line %d contains only %d columns.; file %s"
                                   % (ncols - 1, start_line, n, uri))
                    continue
                rec = rec + [null_marker if custom else ""] * (ncols - n)
            elif not ignore_unknown:
                loader.bad_row("Error while reading data, error message: Too many values in line %d. "
                               "Found %d column(s) while expected %d.; file %s" % (start_line, n, ncols, uri))
                continue
            else:
                rec = rec[:ncols]
        try:
            values = [c(v) for c, v in zip(convs, rec)]
        except T.ValueError_:
            for i, (c, v) in enumerate(zip(convs, rec)):
                try:
                    c(v)
                except T.ValueError_ as exc:
                    loader.bad_row("Error while reading data, error message: Could not parse '%s' as %s for "
                                   "field %s (position %d) starting at line %d with message '%s'; file %s"
                                   % (v, schema[i].type, schema[i].name, i, start_line, exc, uri))
                    break
            continue
        if required and any(values[i] is None for i in required):
            loader.bad_row("Error while reading data, error message: Required field %s cannot be null at "
                           "line %d; file %s" % (schema[[i for i in required if values[i] is None][0]].name,
                                                 start_line, uri))
            continue
        add(values)


def _load_json(loader, uri, text, conf):
    schema = loader.schema
    ignore_unknown = bool(conf.get("ignoreUnknownValues"))
    known = {f.name.lower() for f in schema}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            loader.bad_row("Error while reading data, error message: JSON parsing error in row starting "
                           "at line %d: %s; file %s" % (lineno, exc, uri))
            continue
        if not isinstance(obj, dict):
            loader.bad_row("Error while reading data, error message: JSON object expected at line %d; file %s"
                           % (lineno, uri))
            continue
        if not ignore_unknown:
            unknown = [k for k in obj if k.lower() not in known]
            if unknown:
                loader.bad_row("Error while reading data, error message: JSON parsing error in row starting "
                               "at line %d: No such field: %s.; file %s" % (lineno, unknown[0], uri))
                continue
        lower = {k.lower(): v for k, v in obj.items()}
        try:
            values = [T.parse_field_value(f, lower.get(f.name.lower()), ignore_unknown) for f in schema]
        except T.RowError as exc:
            loader.bad_row("Error while reading data, error message: JSON table encountered too many "
                           "errors; %s at line %d; file %s" % (exc.message, lineno, uri))
            continue
        loader.add(values)
    _ = math

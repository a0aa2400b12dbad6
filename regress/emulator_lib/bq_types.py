"""BigQuery data types for the emulator: schema validation, the stored representation of
every type in SQLite, parsing of incoming values (insertAll JSON, CSV fields, query
parameters) and the JSON encoding of outgoing values (BigQuery's f/v row format: every
scalar a JSON string, INT64 as decimal text, TIMESTAMP as float seconds or int64 µs).

Stored representation (one SQLite value per column):

  INT64      INTEGER                    FLOAT64   REAL; NaN as the TEXT 'NaN' (SQLite turns
  BOOL       INTEGER 0/1                          a NaN REAL into NULL); +-inf as REAL
  NUMERIC,   canonical decimal TEXT     STRING,   TEXT
  BIGNUMERIC ("1.25", "-3", "0")        GEOGRAPHY (WKT), JSON (compact JSON text)
  BYTES      BLOB                       DATE      TEXT YYYY-MM-DD
  DATETIME   TEXT YYYY-MM-DDTHH:MM:SS.ffffff      TIME   TEXT HH:MM:SS.ffffff
  TIMESTAMP  INTEGER microseconds since the Unix epoch (UTC)
  REPEATED / RECORD   JSON text of the "JSON-stored" form of the elements / fields: numbers
             for INT64/TIMESTAMP (µs), numbers or "NaN"/"Infinity"/"-Infinity" for FLOAT64,
             strings for NUMERIC/DATE/..., base64 strings for BYTES, true/false for BOOL.

Fixed-width strings (DATE, DATETIME, TIME) and BINARY-collated TEXT/BLOB compare like
BigQuery (code-point order), so ORDER BY and comparisons need no help for them.
"""

import base64
import binascii
import datetime as _dt
import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

# -- type names -------------------------------------------------------------------------------

_CANON = {
    "INTEGER": "INT64", "INT64": "INT64", "INT": "INT64", "SMALLINT": "INT64", "BIGINT": "INT64",
    "TINYINT": "INT64", "BYTEINT": "INT64",
    "FLOAT": "FLOAT64", "FLOAT64": "FLOAT64",
    "BOOLEAN": "BOOL", "BOOL": "BOOL",
    "STRING": "STRING", "BYTES": "BYTES",
    "NUMERIC": "NUMERIC", "DECIMAL": "NUMERIC", "BIGNUMERIC": "BIGNUMERIC", "BIGDECIMAL": "BIGNUMERIC",
    "DATE": "DATE", "DATETIME": "DATETIME", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP",
    "GEOGRAPHY": "GEOGRAPHY", "JSON": "JSON",
    "RECORD": "STRUCT", "STRUCT": "STRUCT",
}
# What the API reports in schemas: the legacy spellings, as BigQuery does.
_LEGACY = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
SQLITE_DECL = {"INT64": "INTEGER", "FLOAT64": "REAL", "BOOL": "INTEGER", "BYTES": "BLOB",
               "TIMESTAMP": "INTEGER"}
MODES = ("NULLABLE", "REQUIRED", "REPEATED")
# Flexible column names (BigQuery accepts spaces, dashes, non-ASCII letters...): any 1-300
# characters without control characters, quotes of the dot/backtick kind reserved by paths.
_NAME_RE = re.compile(r"[^\x00-\x1f.`\\\[\]{}!\"'@$%^*|;<>?/]{1,300}\Z")


class ValueError_(Exception):
    """A value that does not fit its type (message is BigQuery-like)."""


def canon_type(name):
    """Canonical (standard SQL) type name, or None if unknown."""
    if not isinstance(name, str):
        return None
    return _CANON.get(name.strip().upper())


def api_type(canon):
    return _LEGACY.get(canon, canon)


class Field:
    """One schema field: name, canonical type, mode, sub-fields (STRUCT)."""

    __slots__ = ("name", "type", "mode", "fields", "extra")

    def __init__(self, name, type_, mode="NULLABLE", fields=None, extra=None):
        self.name = name
        self.type = type_
        self.mode = mode
        self.fields = fields or []
        self.extra = extra or {}

    @property
    def repeated(self):
        return self.mode == "REPEATED"

    def to_api(self):
        out = {"name": self.name, "type": api_type(self.type), "mode": self.mode}
        if self.fields:
            out["fields"] = [f.to_api() for f in self.fields]
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    def sub(self, name):
        for f in self.fields:
            if f.name.lower() == name.lower():
                return f
        return None


def parse_schema(fields, where="schema"):
    """[Field] from an API TableSchema.fields list; raises ValueError_ with a message."""
    if fields is None:
        return []
    if not isinstance(fields, list):
        raise ValueError_("Invalid %s: fields must be a list" % where)
    out, seen = [], set()
    for f in fields:
        if not isinstance(f, dict):
            raise ValueError_("Invalid %s: every field must be an object" % where)
        name = f.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError_("Invalid field name \"%s\". Fields must contain the allowed characters, "
                              "and be at most 300 characters long." % (name,))
        if name.lower() in seen:
            raise ValueError_("Field %s already exists in schema" % name)
        seen.add(name.lower())
        t = canon_type(f.get("type") or "STRING") if f.get("type") is not None else None
        if t is None:
            raise ValueError_("Invalid field type %s for field %s" % (f.get("type"), name))
        mode = (f.get("mode") or "NULLABLE").upper()
        if mode not in MODES:
            raise ValueError_("Invalid mode %s for field %s" % (f.get("mode"), name))
        sub = []
        if t == "STRUCT":
            sub = parse_schema(f.get("fields"), where)
            if not sub:
                raise ValueError_("Field %s is type RECORD but has no schema" % name)
        extra = {k: v for k, v in f.items() if k in ("description", "precision", "scale", "maxLength",
                                                       "defaultValueExpression", "policyTags",
                                                       "collation") and v is not None}
        out.append(Field(name, t, mode, sub, extra))
    return out


def schema_to_api(fields):
    return {"fields": [f.to_api() for f in fields]}


# -- dates and times ---------------------------------------------------------------------------

EPOCH = _dt.datetime(1970, 1, 1)
_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\Z")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?\Z")
_DT_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{0,9}))?)?)?"
                    r"\s*(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?)?\Z")


def _micros(frac):
    if not frac:
        return 0
    return int((frac + "000000")[:6])


def parse_date(s):
    m = _DATE_RE.match(s.strip())
    if not m:
        raise ValueError_("Invalid date: '%s'" % s)
    try:
        d = _dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError_("Invalid date: '%s'" % s) from None
    return d.isoformat()


def parse_time(s):
    m = _TIME_RE.match(s.strip())
    if not m:
        raise ValueError_("Invalid time: '%s'" % s)
    h, mi, se = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or se > 59:
        raise ValueError_("Invalid time: '%s'" % s)
    return "%02d:%02d:%02d.%06d" % (h, mi, se, _micros(m[4]))


def _parse_dt(s, allow_zone):
    m = _DT_RE.match(s.strip())
    if not m or (m[8] and not allow_zone):
        return None, None
    try:
        d = _dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0),
                         int(m[6] or 0), _micros(m[7]))
    except ValueError:
        return None, None
    offset = 0
    z = m[8]
    if z and z.upper() not in ("Z", "UTC"):
        sign = -1 if z[0] == "-" else 1
        digits = z[1:].replace(":", "")
        hh = int(digits[:-2] if len(digits) > 2 else digits)
        mm = int(digits[-2:]) if len(digits) > 2 else 0
        offset = sign * (hh * 60 + mm)
    return d, offset


def parse_datetime(s):
    d, _ = _parse_dt(s, False)
    if d is None:
        raise ValueError_("Invalid datetime string \"%s\"" % s)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d" % d.microsecond


def dt_to_micros(d):
    delta = d - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds


def micros_to_dt(us):
    return EPOCH + _dt.timedelta(microseconds=us)


def parse_timestamp(s):
    """Stored TIMESTAMP (µs) from a string with an optional zone (default UTC)."""
    d, offset = _parse_dt(s, True)
    if d is None:
        raise ValueError_("Invalid timestamp: '%s'" % s)
    return dt_to_micros(d) - offset * 60 * 1000000


# -- numbers -----------------------------------------------------------------------------------

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_INT_RE = re.compile(r"\s*[+-]?\d+\s*\Z")
_SCALE = {"NUMERIC": 9, "BIGNUMERIC": 38}
_INT_DIGITS = {"NUMERIC": 29, "BIGNUMERIC": 38}


def canon_decimal(d, kind="NUMERIC"):
    """Round half away from zero to the type's scale and render canonically; range-checked."""
    if not d.is_finite():
        raise ValueError_("Invalid %s value: %s" % (kind, d))
    with localcontext() as ctx:
        ctx.prec = 200
        q = d.quantize(Decimal(1).scaleb(-_SCALE[kind]), rounding=ROUND_HALF_UP)
        if q == 0:
            return "0"
        if kind == "BIGNUMERIC":
            # a 256-bit two's-complement integer scaled by 10^-38
            if not -(1 << 255) <= int(q.scaleb(38)) <= (1 << 255) - 1:
                raise ValueError_("Invalid %s value: %s" % (kind, d))
        elif q.adjusted() >= _INT_DIGITS[kind]:
            raise ValueError_("Invalid %s value: %s" % (kind, d))
        s = format(q, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def parse_decimal(v, kind="NUMERIC"):
    if isinstance(v, bool):
        raise ValueError_("Invalid %s value: %s" % (kind, v))
    try:
        d = Decimal(str(v).strip()) if not isinstance(v, Decimal) else v
    except InvalidOperation:
        raise ValueError_("Invalid %s value: %s" % (kind, v)) from None
    return canon_decimal(d, kind)


def parse_int(v):
    if isinstance(v, bool):
        raise ValueError_("Cannot convert value to integer (bad value): %s" % v)
    if isinstance(v, int):
        n = v
    elif isinstance(v, float):
        if not v.is_integer():
            raise ValueError_("Cannot convert value to integer (bad value): %s" % v)
        n = int(v)
    elif isinstance(v, str) and _INT_RE.match(v):
        n = int(v)
    else:
        raise ValueError_("Cannot convert value to integer (bad value): %s" % (v,))
    if not INT64_MIN <= n <= INT64_MAX:
        raise ValueError_("Cannot convert value to integer (out of range): %s" % v)
    return n


_FLOAT_WORDS = {"nan": "NaN", "+nan": "NaN", "-nan": "NaN", "inf": math.inf, "+inf": math.inf,
                "-inf": -math.inf, "infinity": math.inf, "+infinity": math.inf,
                "-infinity": -math.inf}


def store_float(x):
    """Stored FLOAT64 from a Python float."""
    return "NaN" if x != x else x


def parse_float(v):
    if isinstance(v, bool):
        raise ValueError_("Cannot convert value to floating point (bad value): %s" % v)
    if isinstance(v, (int, float)):
        return store_float(float(v))
    if isinstance(v, str):
        w = _FLOAT_WORDS.get(v.strip().lower())
        if w is not None:
            return w
        try:
            return store_float(float(v))
        except ValueError:
            pass
    raise ValueError_("Cannot convert value to floating point (bad value): %s" % (v,))


def to_float(v):
    """Python float from a stored FLOAT64/INT64/NUMERIC value (None stays None)."""
    if v is None or isinstance(v, float):
        return v
    if isinstance(v, str):
        w = _FLOAT_WORDS.get(v.lower())
        if w is not None:
            return math.nan if w == "NaN" else w
        return float(v)
    return float(v)


_BOOL_WORDS = {"true": 1, "false": 0, "t": 1, "f": 0, "1": 1, "0": 0, "yes": 1, "no": 0,
               "y": 1, "n": 0}


def parse_bool(v, csv=False):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, str):
        b = _BOOL_WORDS.get(v.strip().lower())
        if b is not None and (csv or v.strip().lower() in ("true", "false", "t", "f", "1", "0")):
            return b
    if isinstance(v, int) and v in (0, 1):
        return v
    raise ValueError_("Cannot convert value to boolean: %s" % (v,))


_SLASH_DATE = re.compile(r"\A(\s*\d{4})/(\d{1,2})/(?=\d)")
_GEO_RE = re.compile(r"\s*(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|"
                     r"GEOMETRYCOLLECTION)\s*(EMPTY|\()", re.I)


# -- incoming values ---------------------------------------------------------------------------

def parse_scalar(t, v, csv=False):
    """Stored value of type `t` from a JSON (insertAll, parameters) or CSV (csv=True) value."""
    if t == "STRING":
        if isinstance(v, (dict, list)):
            raise ValueError_("This field: is not a record.")
        if isinstance(v, bool):
            return "true" if v else "false"
        return v if isinstance(v, str) else json.dumps(v)
    if t == "INT64":
        return parse_int(v)
    if t == "FLOAT64":
        return parse_float(v)
    if t in ("NUMERIC", "BIGNUMERIC"):
        if isinstance(v, float):
            v = repr(v)
        return parse_decimal(v, t)
    if t == "BOOL":
        return parse_bool(v, csv)
    if isinstance(v, (dict, list)) and t != "JSON":
        raise ValueError_("Cannot convert a record or array to %s" % t)
    if t == "BYTES":
        if csv:
            return v.encode("utf-8") if isinstance(v, str) else bytes(v)
        if not isinstance(v, str):
            raise ValueError_("Cannot convert value to bytes: %s" % (v,))
        try:
            return base64.b64decode(v.replace("-", "+").replace("_", "/") + "=" * (-len(v) % 4),
                                    validate=True)
        except (binascii.Error, ValueError):
            raise ValueError_("Could not decode base64 string to bytes.") from None
    if t == "DATE":
        return parse_date(str(v))
    if t == "TIME":
        return parse_time(str(v))
    if t == "DATETIME":
        return parse_datetime(str(v))
    if t == "TIMESTAMP":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(round(v * 1000000))  # seconds since the epoch
        if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d*)?([eE][+-]?\d+)?\s*", v) and not csv:
            return int((Decimal(v) * 1000000).to_integral_value(ROUND_HALF_UP))
        if csv and isinstance(v, str):
            v = _SLASH_DATE.sub(r"\1-\2-", v)  # loads also accept YYYY/MM/DD dates
        return parse_timestamp(str(v))
    if t == "GEOGRAPHY":
        if not isinstance(v, str) or not _GEO_RE.match(v):
            raise ValueError_("Invalid geography value: %s" % (v,))
        return v.strip()
    if t == "JSON":
        if isinstance(v, str) and not csv:
            try:
                return json.dumps(json.loads(v), separators=(",", ":"), ensure_ascii=False)
            except ValueError:
                return json.dumps(v)
        if isinstance(v, str):
            try:
                return json.dumps(json.loads(v), separators=(",", ":"), ensure_ascii=False)
            except ValueError:
                raise ValueError_("Invalid JSON value: %s" % v) from None
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    raise ValueError_("Unsupported type %s" % t)


def stored_to_jsonable(t, v):
    """A stored scalar as the JSON-stored form used inside REPEATED/RECORD JSON text."""
    if v is None:
        return None
    if t == "FLOAT64":
        v = to_float(v)
        if v != v:
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if t == "BYTES":
        return base64.b64encode(v).decode()
    return v


def jsonable_to_stored(t, v):
    if v is None:
        return None
    if t == "FLOAT64":
        return parse_float(v)
    if t == "BYTES":
        return base64.b64decode(v)
    return v


class RowError(Exception):
    def __init__(self, location, message):
        super().__init__(message)
        self.location = location
        self.message = message


def parse_field_value(field, v, ignore_unknown=False, path=None):
    """Stored value (JSON text for REPEATED/RECORD) of `field` from an insertAll JSON value.

    Raises RowError(location, message).
    """
    loc = path or field.name
    if v is None:
        if field.mode == "REQUIRED":
            raise RowError(loc, "Missing required field: %s." % loc)
        if field.repeated:
            return "[]"
        return None
    if field.repeated:
        if not isinstance(v, list):
            raise RowError(loc, "Array specified for non-repeated field: %s." % loc
                           if False else "This field: %s is not an array." % loc)
        items = []
        for i, item in enumerate(v):
            if item is None:
                raise RowError("%s[%d]" % (loc, i), "Array cannot have a null element; error in writing field %s" % loc)
            items.append(_jsonable_item(field, item, ignore_unknown, loc))
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    if field.type == "STRUCT":
        return json.dumps(_jsonable_item(field, v, ignore_unknown, loc), separators=(",", ":"),
                          ensure_ascii=False)
    try:
        return parse_scalar(field.type, v)
    except ValueError_ as exc:
        raise RowError(loc, "%s Field: %s; Value: %s" % (exc, loc, v)) from None


def _jsonable_item(field, v, ignore_unknown, loc):
    if field.type != "STRUCT":
        try:
            return stored_to_jsonable(field.type, parse_scalar(field.type, v))
        except ValueError_ as exc:
            raise RowError(loc, "%s Field: %s; Value: %s" % (exc, loc, v)) from None
    if not isinstance(v, dict):
        raise RowError(loc, "This field: %s is not a record." % loc)
    known = {f.name.lower(): f for f in field.fields}
    if not ignore_unknown:
        for k in v:
            if k.lower() not in known:
                raise RowError("%s.%s" % (loc, k), "no such field: %s." % k)
    lower = {k.lower(): val for k, val in v.items()}
    out = {}
    for sub in field.fields:
        subloc = "%s.%s" % (loc, sub.name)
        val = lower.get(sub.name.lower())
        if val is None:
            if sub.mode == "REQUIRED":
                raise RowError(subloc, "Missing required field: %s." % subloc)
            out[sub.name] = [] if sub.repeated else None
        elif sub.repeated:
            if not isinstance(val, list):
                raise RowError(subloc, "This field: %s is not an array." % subloc)
            out[sub.name] = [_jsonable_item(sub, x, ignore_unknown, subloc) for x in val]
        else:
            out[sub.name] = _jsonable_item(sub, val, ignore_unknown, subloc)
    return out


# -- outgoing values ---------------------------------------------------------------------------

def java_double(x):
    """Render a float the way Java's Double.toString does (BigQuery's float strings)."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    digits_t = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digits_t.digits))
    exp10 = len(digits) + digits_t.exponent - 1  # position of the leading digit
    if 1e-3 <= abs(x) < 1e7:
        if exp10 >= 0:
            ip = digits[:exp10 + 1].ljust(exp10 + 1, "0")
            fp = digits[exp10 + 1:] or "0"
        else:
            ip = "0"
            fp = "0" * (-exp10 - 1) + digits
        return "%s%s.%s" % (sign, ip, fp)
    return "%s%s.%sE%d" % (sign, digits[0], digits[1:] or "0", exp10)


def format_timestamp(us, fmt):
    """fmt: 'FLOAT64' (default), 'INT64', or 'ISO8601_STRING'."""
    if fmt == "INT64":
        return str(us)
    if fmt == "ISO8601_STRING":
        return micros_to_dt(us).strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % (us % 1000000)
    return java_double(us / 1e6)


def _trim_fraction(s):
    return s[:-7] if s.endswith(".000000") else s


def scalar_to_v(t, v, ts_fmt):
    """JSON `v` (a string, or None) of one stored scalar value."""
    if v is None:
        return None
    if t == "INT64":
        return str(int(v))
    if t == "FLOAT64":
        return java_double(to_float(v))
    if t == "BOOL":
        return "true" if v else "false"
    if t == "BYTES":
        if isinstance(v, str):
            v = v.encode("utf-8")
        return base64.b64encode(v).decode()
    if t == "TIMESTAMP":
        return format_timestamp(int(v), ts_fmt)
    if t in ("DATETIME", "TIME"):
        return _trim_fraction(str(v))
    if t in ("NUMERIC", "BIGNUMERIC"):
        if isinstance(v, float):
            return canon_decimal(Decimal(repr(v)), t)
        return str(v)
    return v if isinstance(v, str) else str(v)


def value_to_v(field, v, ts_fmt):
    """The f/v encoding of a stored column value (scalar, REPEATED or RECORD JSON text)."""
    if field.repeated or field.type == "STRUCT":
        if v is None:
            return [] if field.repeated else None
        data = json.loads(v) if isinstance(v, (str, bytes)) else v
        return _json_to_v(field, data, ts_fmt, field.repeated)
    return scalar_to_v(field.type, v, ts_fmt)


def _json_to_v(field, data, ts_fmt, repeated):
    if data is None:
        return [] if repeated else None
    if repeated:
        return [{"v": _json_to_v(field, x, ts_fmt, False)} for x in data]
    if field.type == "STRUCT":
        lower = {k.lower(): x for k, x in data.items()}
        return {"f": [{"v": _json_to_v(sub, lower.get(sub.name.lower()), ts_fmt, sub.repeated)}
                      for sub in field.fields]}
    return scalar_to_v(field.type, jsonable_to_stored(field.type, data), ts_fmt)


def value_bytes(field, v):
    """BigQuery's logical size of one value (for numBytes / totalBytesProcessed)."""
    if v is None:
        return 0
    t = field.type
    if field.repeated or t == "STRUCT":
        return len(v.encode("utf-8")) if isinstance(v, str) else len(v)
    if t in ("STRING", "JSON", "GEOGRAPHY"):
        return 2 + len(v.encode("utf-8"))
    if t == "BYTES":
        return 2 + len(v)
    return FIXED_BYTES.get(t, 8)


FIXED_BYTES = {"INT64": 8, "FLOAT64": 8, "BOOL": 1, "DATE": 8, "DATETIME": 8, "TIME": 8,
               "TIMESTAMP": 8, "NUMERIC": 16, "BIGNUMERIC": 32}

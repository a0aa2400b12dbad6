"""BigQuery REST v2 over the in-memory SQLite store (bq_store.py), with the SQL subset of
bq_sql.py. Routes are accepted with and without the /bigquery/v2 prefix.

Implemented: datasets.list/get/insert/patch/update/delete, tables.list/get/insert/patch/
update/delete (tables and views), tabledata.list/insertAll, jobs.query/getQueryResults/insert
(query and load from the GCS emulator's objects)/get/list/cancel/delete, projects.list, and
the discovery document (GET /$discovery/rest?version=v2, /discovery/v1/apis/bigquery/v2/rest)
served from the installed Cloud SDK with its URLs pointing here.

Query jobs run one statement or a script (statements separated by ';', each a child job
with statistics.parentJobId, the parent reporting statementType SCRIPT and numChildJobs;
BEGIN/COMMIT/ROLLBACK TRANSACTION make their DML all or nothing). They honour
destinationTable with writeDisposition/createDisposition (atomically: a failed job leaves the
destination as it was) and maximumBytesBilled. Statistics follow BigQuery's on-demand rules:
totalBytesProcessed is the size of the columns read (bq_store.py); totalBytesBilled counts
each table read at least 10 MB (10,485,760 bytes) and rounds the total up to a whole MB
(1,048,576 bytes), and is 0 when nothing is read. A job whose bytes billed would exceed
maximumBytesBilled fails with reason bytesBilledLimitExceeded before it runs.

Job faults (faults.py): `job-incomplete-N` makes the job created by that jobs.query or
jobs.insert answer jobComplete:false / state RUNNING in that response and in its first N
polls (getQueryResults or jobs.get); `job-slow-Ts` keeps it RUNNING for T seconds
(getQueryResults and jobs.query wait up to their timeoutMs, jobs.cancel ends it early with
reason `stopped`).

Control endpoints (unauthenticated):
  GET    /_emulator/bigquery/jobs   {"jobs": [{jobId, projectId, requestId, state, cancelled,
                                     query, kind: "query"|"load", errorResult, parentJobId}]}
  DELETE /_emulator/bigquery        drop every dataset, table and job
"""

import base64
import json
import os
import re
import sqlite3
import subprocess
import threading
import time
import uuid
from urllib.parse import unquote

from . import bq_sql as S
from . import bq_types as T
from .bq_store import BqStore, BytesBilledLimitExceeded, Duplicate, NotFound, Transaction, now_ms
from .server import ApiError, Route

PAGE_CAP = 10 * 1024 * 1024          # responses are limited to 10 MB, like Google's
DEFAULT_LOCATION = "US"
_ID_RE = re.compile(r"[A-Za-z0-9_]{1,1024}\Z")
_JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,1024}\Z")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_REASON_CODE = {"invalidQuery": 400, "invalid": 400, "notFound": 404, "duplicate": 409,
                "stopped": 400, "backendError": 500, "internalError": 500, "accessDenied": 403,
                "quotaExceeded": 403, "rateLimitExceeded": 403, "responseTooLarge": 403,
                "resourceInUse": 400, "timeout": 400, "bytesBilledLimitExceeded": 400}
MB = 1 << 20
MIN_BILLED = 10 * MB


def status_for(code):
    return _STATUS.get(code, "UNKNOWN")


def bq_error(code, message, reason=None, location=None):
    fields = {"location": location} if location else None
    return ApiError(code, message, reason, error_fields=fields, extra={"status": status_for(code)})


def _bool(v):
    return str(v).lower() in ("true", "1")


def _int_param(query, name, default=None):
    v = query.get(name)
    if v in (None, ""):
        return default
    try:
        n = int(v)
    except ValueError:
        raise bq_error(400, "Invalid value for %s: %s" % (name, v), "invalid") from None
    if n < 0:
        raise bq_error(400, "Invalid value for %s: %s" % (name, v), "invalid")
    return n


def _token(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def _untoken(tok):
    try:
        raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
        return json.loads(raw)
    except (ValueError, TypeError):
        raise bq_error(400, "Invalid page token: %s" % tok, "invalid") from None


def _ts_format(query=None, body_opts=None):
    opts = body_opts or {}
    if query is not None:
        if "formatOptions.useInt64Timestamp" in query:
            opts = dict(opts, useInt64Timestamp=_bool(query["formatOptions.useInt64Timestamp"]))
        if "formatOptions.timestampOutputFormat" in query:
            opts = dict(opts, timestampOutputFormat=query["formatOptions.timestampOutputFormat"])
    fmt = str(opts.get("timestampOutputFormat") or "").upper()
    if fmt in ("ISO8601_STRING", "INT64", "FLOAT64"):
        return fmt
    if opts.get("useInt64Timestamp") in (True, "true", "True"):
        return "INT64"
    return "FLOAT64"


def _selected(fields, selected):
    """The schema restricted to selectedFields ("a,b.c"), in schema order."""
    if not selected:
        return fields
    wanted = {}
    for item in selected.split(","):
        item = item.strip()
        if not item:
            continue
        head, _, rest = item.partition(".")
        wanted.setdefault(head.lower(), []).append(rest)
    out = []
    for f in fields:
        subs = wanted.get(f.name.lower())
        if subs is None:
            continue
        if f.type == "STRUCT" and all(subs):
            sub = _selected(f.fields, ",".join(subs))
            out.append(T.Field(f.name, f.type, f.mode, sub, f.extra))
        else:
            out.append(f)
    return out


# =============================================================================================
# jobs
# =============================================================================================


class Job:
    def __init__(self, project, job_id, location, kind, configuration, request_id=None):
        self.project = project
        self.job_id = job_id
        self.location = location or DEFAULT_LOCATION
        self.kind = kind                    # "query" | "load"
        self.configuration = configuration
        self.request_id = request_id
        self.state = "PENDING"
        self.error_result = None
        self.errors = []
        self.created = now_ms()
        self.started = None
        self.ended = None
        self.result = None                  # bq_store.run() result of a query
        self.load_stats = None
        self.incomplete_polls = 0
        self.slow_until = None
        self.cancelled = False
        self.parent = None                  # the script job of a child job
        self.script = None                  # a script job's {numChildJobs, bytes, billed}
        self.owns_result = True             # a script shares its last child's result table
        self.cond = threading.Condition()
        self.etag = uuid.uuid4().hex[:22]

    @property
    def ref(self):
        return {"projectId": self.project, "jobId": self.job_id, "location": self.location}

    @property
    def query_text(self):
        return (self.configuration.get("query") or {}).get("query")

    def finish(self, error=None, errors=None):
        with self.cond:
            if self.state == "DONE":
                return
            if error is not None:
                self.error_result = error
                self.errors = errors or [error]
            elif errors:
                self.errors = errors
            self.state = "DONE"
            self.ended = now_ms()
            self.cond.notify_all()

    def pending(self):
        """True while the job is (really or by a fault) not finished; does not count polls."""
        if self.cancelled:
            return False
        if self.state != "DONE":
            return True
        return self.slow_until is not None and time.monotonic() < self.slow_until

    def poll(self, timeout_s=0.0):
        """One poll: wait up to timeout_s for completion; True if the job reports DONE."""
        if self.incomplete_polls > 0 and not self.cancelled:
            self.incomplete_polls -= 1
            return False
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self.cond:
            while self.pending():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self.slow_until is not None and self.state == "DONE":
                    left = min(left, self.slow_until - time.monotonic())
                self.cond.wait(max(0.001, min(left, 0.25)))
        return True


# =============================================================================================
# the service
# =============================================================================================


class BigQueryService:
    def __init__(self, gcs_store=None, sdk_root=None):
        self.gcs = gcs_store
        self.db = BqStore()
        self.jobs = {}            # (project, jobId) -> Job
        self.job_order = []
        self.request_ids = {}     # (project, requestId) -> Job
        self.jobs_lock = threading.RLock()
        self._sdk_root = sdk_root
        self._discovery = None

    # -- routing --
    def route(self, method, path, query):
        if path.startswith("/bigquery/v2/"):
            path = path[len("/bigquery/v2"):]
        elif path.startswith("/upload/bigquery/v2/"):
            return Route("bigquery.jobs.insert", self.upload_unsupported, {})
        if path in ("/$discovery/rest", "/discovery/v1/apis/bigquery/v2/rest") and method == "GET":
            return Route("bigquery.discovery", self.discovery, {}, public=True)
        if path == "/projects" and method == "GET":
            return Route("bigquery.projects.list", self.projects_list, {})
        if not path.startswith("/projects/"):
            return None
        segs = [unquote(s) for s in path.split("/")[2:]]
        if segs and segs[-1] == "":
            segs.pop()
        if not segs:
            return None
        p = segs[0]
        rest = segs[1:]
        kw = {"project": p}
        if rest == ["datasets"]:
            return self._r(method, {"GET": ("bigquery.datasets.list", self.datasets_list),
                                    "POST": ("bigquery.datasets.insert", self.datasets_insert)}, kw)
        if len(rest) == 2 and rest[0] == "datasets":
            kw["dataset"] = rest[1]
            return self._r(method, {"GET": ("bigquery.datasets.get", self.datasets_get),
                                    "DELETE": ("bigquery.datasets.delete", self.datasets_delete),
                                    "PATCH": ("bigquery.datasets.patch", self.datasets_patch),
                                    "PUT": ("bigquery.datasets.update", self.datasets_patch)}, kw)
        if len(rest) >= 3 and rest[0] == "datasets" and rest[2] == "tables":
            kw["dataset"] = rest[1]
            if len(rest) == 3:
                return self._r(method, {"GET": ("bigquery.tables.list", self.tables_list),
                                        "POST": ("bigquery.tables.insert", self.tables_insert)}, kw)
            kw["table"] = rest[3]
            if len(rest) == 4:
                return self._r(method, {"GET": ("bigquery.tables.get", self.tables_get),
                                        "DELETE": ("bigquery.tables.delete", self.tables_delete),
                                        "PATCH": ("bigquery.tables.patch", self.tables_patch),
                                        "PUT": ("bigquery.tables.update", self.tables_patch)}, kw)
            if rest[4:] == ["data"]:
                return self._r(method, {"GET": ("bigquery.tabledata.list", self.tabledata_list)}, kw)
            if rest[4:] == ["insertAll"]:
                return self._r(method, {"POST": ("bigquery.tabledata.insertAll", self.insert_all)}, kw)
            return None
        if rest == ["queries"]:
            return self._r(method, {"POST": ("bigquery.jobs.query", self.jobs_query)}, kw)
        if len(rest) == 2 and rest[0] == "queries":
            kw["job_id"] = rest[1]
            return self._r(method, {"GET": ("bigquery.jobs.getQueryResults", self.get_query_results)}, kw)
        if rest == ["jobs"]:
            return self._r(method, {"GET": ("bigquery.jobs.list", self.jobs_list),
                                    "POST": ("bigquery.jobs.insert", self.jobs_insert)}, kw)
        if len(rest) >= 2 and rest[0] == "jobs":
            kw["job_id"] = rest[1]
            if len(rest) == 2:
                return self._r(method, {"GET": ("bigquery.jobs.get", self.jobs_get)}, kw)
            if rest[2:] == ["cancel"]:
                return self._r(method, {"POST": ("bigquery.jobs.cancel", self.jobs_cancel)}, kw)
            if rest[2:] == ["delete"]:
                return self._r(method, {"DELETE": ("bigquery.jobs.delete", self.jobs_delete)}, kw)
        return None

    @staticmethod
    def _r(method, table, kw):
        hit = table.get(method)
        if hit is None:
            return None
        return Route(hit[0], hit[1], kw)

    # -- control endpoints --
    def control(self, ex):
        path, method = ex.raw_path.rstrip("/"), ex.command
        if path == "/_emulator/bigquery/jobs" and method == "GET":
            with self.jobs_lock:
                jobs = list(self.job_order)
            ex.send_json(200, {"jobs": [{
                "jobId": j.job_id, "projectId": j.project, "location": j.location,
                "requestId": j.request_id, "state": "DONE" if not j.pending() else "RUNNING",
                "cancelled": j.cancelled, "query": j.query_text, "kind": j.kind,
                "errorResult": j.error_result,
                "parentJobId": j.parent.job_id if j.parent else None} for j in jobs]})
            return True
        if path == "/_emulator/bigquery" and method == "DELETE":
            with self.jobs_lock:
                for j in self.job_order:
                    j.cancelled = True
                self.jobs.clear()
                self.job_order.clear()
                self.request_ids.clear()
            self.db.reset()
            ex.send_json(200, {"status": "reset"})
            return True
        return False

    # -- helpers --
    def _body(self, ex):
        body = ex.read_json()
        if not isinstance(body, dict):
            raise bq_error(400, "Invalid JSON payload received. Expected an object.", "invalid")
        return body

    def _call(self, fn):
        try:
            return fn()
        except NotFound as exc:
            raise bq_error(404, exc.message, "notFound") from None
        except T.ValueError_ as exc:
            raise bq_error(400, str(exc), "invalid") from None

    def _dataset_resource(self, ex, project, dataset, ds):
        out = dict(ds["extra"])
        out.update({
            "kind": "bigquery#dataset", "etag": ds["etag"], "id": "%s:%s" % (project, dataset),
            "selfLink": "%s/bigquery/v2/projects/%s/datasets/%s" % (ex.base_url, project, dataset),
            "datasetReference": {"projectId": project, "datasetId": dataset},
            "location": ds["location"], "creationTime": str(ds["created"]),
            "lastModifiedTime": str(ds["modified"]), "type": "DEFAULT",
        })
        out.setdefault("access", [])
        return out

    def _table_resource(self, ex, meta, selected=None):
        num_rows, _ = self.db.stats(meta)
        project, dataset, table = meta.key
        ds = self.db.datasets.get((project, dataset), {})
        out = dict(meta.resource)
        out.update({
            "kind": "bigquery#table", "etag": "%x" % (meta.modified * 7 + len(meta.schema)),
            "id": "%s:%s.%s" % meta.key,
            "selfLink": "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s" % (ex.base_url, project, dataset, table),
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": T.schema_to_api(_selected(meta.schema, selected)),
            "numRows": str(num_rows), "numBytes": str(self.db.num_bytes(meta)),
            "numLongTermBytes": "0", "creationTime": str(meta.created),
            "lastModifiedTime": str(meta.modified), "type": meta.kind,
            "location": ds.get("location", DEFAULT_LOCATION),
        })
        if meta.kind == "VIEW":
            out["view"] = {"query": meta.view_query, "useLegacySql": False}
            del out["numLongTermBytes"]
        return out

    # -- discovery --
    def discovery(self, ex):
        if self._discovery is None:
            root = self._sdk_root or os.environ.get("CLOUDSDK_ROOT_DIR")
            candidates = [root] if root else []
            candidates.append("/usr/lib/google-cloud-sdk")
            if not root:
                try:
                    out = subprocess.run(["gcloud", "info", "--format=value(installation.sdk_root)"],
                                         capture_output=True, text=True, timeout=30)
                    if out.stdout.strip():
                        candidates.insert(0, out.stdout.strip())
                except (OSError, subprocess.SubprocessError):
                    pass
            for c in candidates:
                path = os.path.join(c, "platform", "bq", "discovery_next", "bigquery.json")
                if os.path.exists(path):
                    with open(path, encoding="utf-8") as f:
                        self._discovery = f.read()
                    break
            else:
                raise bq_error(404, "The BigQuery discovery document is not installed (Cloud SDK "
                                    "platform/bq/discovery_next/bigquery.json)", "notFound")
        doc = json.loads(self._discovery)
        root = ex.base_url + "/"
        doc["rootUrl"] = root
        doc["mtlsRootUrl"] = root
        doc["baseUrl"] = root + doc.get("servicePath", "bigquery/v2/")
        ex.send_json(200, doc)

    def projects_list(self, ex):
        projects = sorted({k[0] for k in self.db.datasets} | {j.project for j in self.job_order})
        ex.send_json(200, {"kind": "bigquery#projectList", "totalItems": len(projects),
                           "projects": [{"kind": "bigquery#project", "id": p, "numericId": "0",
                                         "projectReference": {"projectId": p}, "friendlyName": p}
                                        for p in projects]})

    def upload_unsupported(self, ex):
        raise bq_error(501, "Media uploads to jobs.insert are not supported by the luxe emulator; "
                            "load from a gs:// URI of the GCS emulator instead", "notImplemented")

    # -- datasets --
    def datasets_list(self, ex, project):
        names = sorted(d for p, d in self.db.datasets if p == project)
        start, max_results = self._list_page(ex.query)
        page = names[start:start + max_results]
        out = {"kind": "bigquery#datasetList", "etag": uuid.uuid4().hex[:16]}
        if page:
            out["datasets"] = [{"kind": "bigquery#dataset", "id": "%s:%s" % (project, d),
                                "datasetReference": {"projectId": project, "datasetId": d},
                                "location": self.db.datasets[(project, d)]["location"],
                                "type": "DEFAULT"} for d in page]
        if start + max_results < len(names):
            out["nextPageToken"] = _token({"o": start + max_results})
        ex.send_json(200, out)

    def _list_page(self, query):
        max_results = _int_param(query, "maxResults", 50) or 50
        start = 0
        if query.get("pageToken"):
            start = int(_untoken(query["pageToken"]).get("o", 0))
        return start, max_results

    def datasets_insert(self, ex, project):
        body = self._body(ex)
        ref = body.get("datasetReference") or {}
        dataset = ref.get("datasetId")
        if not isinstance(dataset, str) or not _ID_RE.match(dataset):
            raise bq_error(400, "Invalid dataset ID \"%s\". Dataset IDs must be alphanumeric (plus "
                                "underscores) and must be at most 1024 characters long." % (dataset,), "invalid")
        if ref.get("projectId") and ref["projectId"] != project:
            raise bq_error(400, "The project %s in the dataset reference does not match the "
                                "project %s in the URL" % (ref["projectId"], project), "invalid")
        with self.db.lock:
            if (project, dataset) in self.db.datasets:
                raise bq_error(409, "Already Exists: Dataset %s:%s" % (project, dataset), "duplicate")
            extra = {k: v for k, v in body.items() if k in ("description", "friendlyName", "labels",
                                                            "defaultTableExpirationMs", "access")}
            ds = {"location": body.get("location") or DEFAULT_LOCATION, "created": now_ms(),
                  "extra": extra, "etag": uuid.uuid4().hex[:22]}
            ds["modified"] = ds["created"]
            self.db.datasets[(project, dataset)] = ds
        ex.send_json(200, self._dataset_resource(ex, project, dataset, ds))

    def datasets_get(self, ex, project, dataset):
        ds = self._call(lambda: self.db.dataset(project, dataset))
        ex.send_json(200, self._dataset_resource(ex, project, dataset, ds))

    def datasets_patch(self, ex, project, dataset):
        body = self._body(ex)
        with self.db.lock:
            ds = self._call(lambda: self.db.dataset(project, dataset))
            for k in ("description", "friendlyName", "labels", "defaultTableExpirationMs", "access"):
                if k in body:
                    ds["extra"][k] = body[k]
            ds["modified"] = now_ms()
            ds["etag"] = uuid.uuid4().hex[:22]
        ex.send_json(200, self._dataset_resource(ex, project, dataset, ds))

    def datasets_delete(self, ex, project, dataset):
        with self.db.lock:
            self._call(lambda: self.db.dataset(project, dataset))
            tables = self.db.dataset_tables(project, dataset)
            if tables and not _bool(ex.query.get("deleteContents", "false")):
                raise bq_error(400, "Dataset %s:%s is still in use" % (project, dataset), "resourceInUse")
            for _, meta in tables:
                self.db.drop_table(meta.key)
            del self.db.datasets[(project, dataset)]
        ex.send_empty(204)

    # -- tables --
    def tables_list(self, ex, project, dataset):
        with self.db.lock:
            self._call(lambda: self.db.dataset(project, dataset))
            tables = self.db.dataset_tables(project, dataset)
        start, max_results = self._list_page(ex.query)
        page = tables[start:start + max_results]
        out = {"kind": "bigquery#tableList", "etag": uuid.uuid4().hex[:16], "totalItems": len(tables)}
        if page:
            out["tables"] = [{"kind": "bigquery#table", "id": "%s:%s.%s" % m.key,
                              "tableReference": {"projectId": project, "datasetId": dataset, "tableId": t},
                              "type": m.kind, "creationTime": str(m.created)} for t, m in page]
        if start + max_results < len(tables):
            out["nextPageToken"] = _token({"o": start + max_results})
        ex.send_json(200, out)

    def tables_insert(self, ex, project, dataset):
        body = self._body(ex)
        ref = body.get("tableReference") or {}
        table = ref.get("tableId")
        if not isinstance(table, str) or not re.match(r"[\w$-]{1,1024}\Z", table):
            raise bq_error(400, "Invalid table ID \"%s\"." % (table,), "invalid")
        if body.get("materializedView") or body.get("externalDataConfiguration"):
            raise bq_error(501, "Materialized views and external tables are not supported by the luxe "
                                "emulator", "notImplemented")
        view = body.get("view")
        if view is not None:
            return self._insert_view(ex, project, dataset, table, body, view)
        schema = self._call(lambda: T.parse_schema((body.get("schema") or {}).get("fields")))
        with self.db.lock:
            self._call(lambda: self.db.dataset(project, dataset))
            key = (project, dataset, table)
            if key in self.db.tables:
                raise bq_error(409, "Already Exists: Table %s:%s.%s" % key, "duplicate")
            extra = {k: v for k, v in body.items() if k in ("description", "friendlyName", "labels",
                                                            "expirationTime", "timePartitioning",
                                                            "clustering", "rangePartitioning")}
            meta = self.db.create_table(key, schema, extra)
            out = self._table_resource(ex, meta)
        ex.send_json(200, out)

    def _insert_view(self, ex, project, dataset, table, body, view):
        query = view.get("query") if isinstance(view, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise bq_error(400, "Invalid view: the query is missing", "invalid")
        if view.get("useLegacySql", True) not in (False, "false", "False"):
            raise bq_error(400, "Legacy SQL views are not supported by the luxe emulator; set "
                                "view.useLegacySql to false (the API's default is true)", "invalid")
        with self.db.lock:
            self._call(lambda: self.db.dataset(project, dataset))
            key = (project, dataset, table)
            if key in self.db.tables:
                raise bq_error(409, "Already Exists: Table %s:%s.%s" % key, "duplicate")
            extra = {k: v for k, v in body.items() if k in ("description", "friendlyName", "labels")}
            try:
                meta = self.db.define_view(key, query, extra)
            except S.SqlError as exc:
                raise bq_error(400, exc.message, "invalid") from None
            except NotFound as exc:
                raise bq_error(404, exc.message, "notFound") from None
            out = self._table_resource(ex, meta)
        ex.send_json(200, out)

    def tables_get(self, ex, project, dataset, table):
        with self.db.lock:
            meta = self._call(lambda: self._table(project, dataset, table))
            out = self._table_resource(ex, meta, ex.query.get("selectedFields"))
        ex.send_json(200, out)

    def _table(self, project, dataset, table):
        if (project, dataset) not in self.db.datasets:
            raise NotFound("Not found: Dataset %s:%s" % (project, dataset))
        return self.db.table((project, dataset, table))

    def tables_patch(self, ex, project, dataset, table):
        body = self._body(ex)
        with self.db.lock:
            meta = self._call(lambda: self._table(project, dataset, table))
            if meta.kind != "TABLE" and (body.get("schema") is not None or body.get("view") is not None):
                raise bq_error(501, "Changing a view's query or schema is not supported by the luxe "
                                    "emulator; use CREATE OR REPLACE VIEW", "notImplemented")
            if "schema" in body and body["schema"] is not None:
                new = self._call(lambda: T.parse_schema(body["schema"].get("fields")))
                old = {f.name.lower(): f for f in meta.schema}
                for f in new:
                    o = old.get(f.name.lower())
                    if o is not None and (o.type != f.type or (o.mode != f.mode and not (
                            o.mode == "REQUIRED" and f.mode == "NULLABLE"))):
                        raise bq_error(400, "Provided Schema does not match Table %s. Field %s has "
                                            "changed type from %s to %s" % (meta.name, f.name,
                                                                           o.type, f.type), "invalid")
                names = {f.name.lower() for f in new}
                missing = [f.name for f in meta.schema if f.name.lower() not in names]
                if missing:
                    raise bq_error(400, "Provided Schema does not match Table %s. Cannot add fields "
                                        "(field: %s) and remove fields at once; field %s is missing "
                                        "in new schema" % (meta.name, new[-1].name if new else "", missing[0]),
                                   "invalid")
                added = [f for f in new if f.name.lower() not in old]
                for f in added:
                    if f.mode == "REQUIRED":
                        raise bq_error(400, "Provided Schema does not match Table %s. Cannot add "
                                            "required fields to an existing schema. (field: %s)"
                                       % (meta.name, f.name), "invalid")
                self.db.add_columns(meta, added)
            for k in ("description", "friendlyName", "labels", "expirationTime"):
                if k in body:
                    meta.resource[k] = body[k]
            meta.touch()
            out = self._table_resource(ex, meta)
        ex.send_json(200, out)

    def tables_delete(self, ex, project, dataset, table):
        with self.db.lock:
            meta = self._call(lambda: self._table(project, dataset, table))
            self.db.drop_table(meta.key)
        ex.send_empty(204)

    # -- tabledata --
    def _page(self, sqlname, columns, fields, ts_fmt, start_index, after_rowid, max_results):
        """Encode rows from `start_index` (or after `after_rowid`); at most max_results rows and
        about PAGE_CAP bytes. Returns (rows, last rowid or None, rows taken)."""
        out, size, last = [], 0, None
        limit = max_results if max_results is not None else None
        offset = start_index
        while limit is None or len(out) < limit:
            chunk = 2000 if limit is None else min(2000, limit - len(out))
            got = self.db.read_rows(sqlname, columns, after_rowid, offset, chunk)
            if not got:
                break
            for row in got:
                enc = {"f": [{"v": T.value_to_v(f, v, ts_fmt)} for f, v in zip(fields, row[1:])]}
                n = len(json.dumps(enc, ensure_ascii=False).encode("utf-8")) + 2
                if out and size + n > PAGE_CAP:
                    return out, last, True
                out.append(enc)
                size += n
                last = row[0]
                if limit is not None and len(out) >= limit:
                    break
            after_rowid = last
            if len(got) < chunk:
                break
        return out, last, False

    def tabledata_list(self, ex, project, dataset, table):
        ts_fmt = _ts_format(ex.query)
        with self.db.lock:
            meta = self._call(lambda: self._table(project, dataset, table))
            if meta.kind != "TABLE":
                raise bq_error(400, "Cannot list a table of type %s." % meta.kind, "invalid")
            fields = _selected(meta.schema, ex.query.get("selectedFields"))
            total = self.db.num_rows(meta)
            max_results = _int_param(ex.query, "maxResults")
            token = ex.query.get("pageToken")
            if token:
                tok = _untoken(token)
                if tok.get("t") != meta.sqlname:
                    raise bq_error(400, "Invalid page token: the table changed", "invalid")
                index, after = int(tok["i"]), int(tok["r"])
            else:
                index, after = _int_param(ex.query, "startIndex", 0), None
            rows, last, capped = self._page(meta.sqlname, [f.name for f in fields], fields, ts_fmt,
                                            index, after, max_results)
            out = {"kind": "bigquery#tableDataList", "etag": "%x" % meta.modified, "totalRows": str(total)}
            if rows:
                out["rows"] = rows
                nxt = index + len(rows)
                if nxt < total and (capped or max_results is not None or True):
                    more = self.db.read_rows(meta.sqlname, [], last, 0, 1)
                    if more:
                        out["pageToken"] = _token({"t": meta.sqlname, "i": nxt, "r": last})
        ex.send_json(200, out)

    def insert_all(self, ex, project, dataset, table):
        body = self._body(ex)
        rows = body.get("rows")
        if not isinstance(rows, list) or not rows:
            raise bq_error(400, "No rows present in the request.", "invalid")
        skip_invalid = bool(body.get("skipInvalidRows"))
        ignore_unknown = bool(body.get("ignoreUnknownValues"))
        if body.get("templateSuffix"):
            raise bq_error(501, "templateSuffix is not supported by the luxe emulator", "notImplemented")
        with self.db.lock:
            meta = self._call(lambda: self._table(project, dataset, table))
            if meta.kind != "TABLE":
                raise bq_error(400, "Cannot add rows to a table of type %s." % meta.kind, "invalid")
            errors, good = [], []
            known = {f.name.lower(): f for f in meta.schema}
            for i, row in enumerate(rows):
                data = row.get("json") if isinstance(row, dict) else None
                if not isinstance(data, dict):
                    errors.append((i, [{"reason": "invalid", "location": "", "debugInfo": "",
                                        "message": "Row %d has no json object" % i}]))
                    continue
                errs = []
                if not ignore_unknown:
                    for k in data:
                        if k.lower() not in known:
                            errs.append({"reason": "invalid", "location": k, "debugInfo": "",
                                         "message": "no such field: %s." % k})
                lower = {k.lower(): v for k, v in data.items()}
                values = []
                for f in meta.schema:
                    try:
                        values.append(T.parse_field_value(f, lower.get(f.name.lower()), ignore_unknown))
                    except T.RowError as exc:
                        errs.append({"reason": "invalid", "location": exc.location, "debugInfo": "",
                                     "message": exc.message})
                if errs:
                    errors.append((i, errs))
                else:
                    good.append((i, row.get("insertId"), values))
            insert_errors = [{"index": i, "errors": e} for i, e in errors]
            if errors and not skip_invalid:
                for i, _, _ in good:
                    insert_errors.append({"index": i, "errors": [{"reason": "stopped", "location": "",
                                                                  "debugInfo": "", "message": ""}]})
                insert_errors.sort(key=lambda x: x["index"])
                good = []
            fresh, now = [], time.time()
            for i, insert_id, values in good:
                if insert_id not in (None, ""):
                    if insert_id in meta.insert_ids:
                        continue  # a retried row: best-effort de-duplication, as in BigQuery
                    meta.insert_ids[insert_id] = now
                fresh.append(values)
            if fresh:
                try:
                    self.db.insert_rows(meta, fresh)
                except Exception as exc:  # noqa: BLE001
                    raise bq_error(400, "Insert failed: %s" % exc, "invalid") from None
        out = {"kind": "bigquery#tableDataInsertAllResponse"}
        if insert_errors:
            out["insertErrors"] = insert_errors
        ex.send_json(200, out)

    # -- jobs --
    def _new_job(self, project, job_id, location, kind, configuration, request_id=None, parent=None):
        with self.jobs_lock:
            if job_id is None:
                job_id = "job_" + base64.urlsafe_b64encode(os.urandom(18)).decode().replace("-", "_")
            if (project, job_id) in self.jobs:
                raise bq_error(409, "Already Exists: Job %s:%s.%s" % (project, location or DEFAULT_LOCATION,
                                                                      job_id), "duplicate")
            job = Job(project, job_id, location, kind, configuration, request_id)
            job.parent = parent
            self.jobs[(project, job_id)] = job
            self.job_order.append(job)
            if request_id:
                self.request_ids[(project, request_id)] = job
            return job

    def _job(self, project, job_id, location=None):
        with self.jobs_lock:
            job = self.jobs.get((project, job_id))
        if job is None or (location and location.upper() != job.location.upper()):
            raise bq_error(404, "Not found: Job %s:%s.%s" % (project, (location or DEFAULT_LOCATION).upper()
                                                            if location else DEFAULT_LOCATION, job_id),
                           "notFound")
        return job

    @staticmethod
    def _apply_fault(ex, job):
        fault = getattr(ex, "job_fault", None)
        if fault is None:
            return
        if fault.polls:
            job.incomplete_polls = fault.polls
            job.force_incomplete = True
        if fault.seconds:
            job.slow_until = time.monotonic() + fault.seconds

    # -- query jobs --
    @staticmethod
    def billed_bytes(table_bytes):
        """BigQuery's on-demand bytes billed for the bytes read per table: at least 10 MB per
        table read, the total rounded up to a whole MB; 0 when nothing is read."""
        total = sum(max(b, MIN_BILLED) for b in table_bytes.values() if b > 0)
        if total == 0:
            return 0
        return -(-max(total, MIN_BILLED) // MB) * MB

    def _billing_check(self, limit):
        def check(res):
            res["billed"] = self.billed_bytes(res.get("table_bytes") or {})
            if limit is not None and res["billed"] > limit:
                raise BytesBilledLimitExceeded("Query exceeded limit for bytes billed: %d. %d or higher required."
                                               % (limit, res["billed"]))
        return check

    @staticmethod
    def _job_error(exc):
        """The errorResult of a failed query statement, or None for an unexpected exception."""
        if isinstance(exc, S.SqlError):
            return {"reason": "invalidQuery", "location": "query", "message": exc.message}
        if isinstance(exc, S.QueryRuntimeError):
            return {"reason": "invalidQuery", "location": "query", "message": "Query error: %s" % exc}
        if isinstance(exc, NotFound):
            return {"reason": "notFound", "message": exc.message}
        if isinstance(exc, Duplicate):
            return {"reason": "duplicate", "message": exc.message}
        if isinstance(exc, BytesBilledLimitExceeded):
            return {"reason": "bytesBilledLimitExceeded", "message": exc.message}
        if isinstance(exc, ApiError):
            return {"reason": exc.reason, "message": exc.message}
        return None

    def _run_query_job(self, job, qconf):
        """Run a query job synchronously; failures end it DONE with an errorResult."""
        job.state = "RUNNING"
        job.started = now_ms()
        try:
            if qconf.get("useLegacySql", True) not in (False, "false", "False"):
                raise S.SqlError("Legacy SQL is not supported by the luxe BigQuery emulator; set "
                                 "useLegacySql to false (GoogleSQL)")
            limit = qconf.get("maximumBytesBilled")
            if limit in (None, ""):
                limit = None
            else:
                try:
                    limit = int(limit)
                except (TypeError, ValueError):
                    raise ApiError(400, "Invalid value for maximumBytesBilled: %s" % (limit,), "invalid") from None
            params = S.parse_params(qconf.get("parameterMode"), qconf.get("queryParameters"))
            dd = qconf.get("defaultDataset") or {}
            default = (dd.get("projectId") or job.project, dd["datasetId"]) if dd.get("datasetId") else None
            stmts = S.parse_script(qconf.get("query"))
            dry = bool(qconf.get("dryRun"))
            dest = qconf.get("destinationTable")
            if len(stmts) > 1:
                if dry:
                    raise S.SqlError("Unsupported in the luxe BigQuery emulator: dry runs of multi-statement "
                                     "queries")
                if dest:
                    raise ApiError(400, "configuration.query.destinationTable cannot be set for scripts", "invalid")
                self._run_script(job, stmts, params, default, limit)
            else:
                stmt = stmts[0][0]
                if dest and stmt[0] != "select":
                    raise ApiError(400, "Cannot set destination table in jobs with %s statements"
                                   % ("DML" if stmt[0] in ("insert", "delete", "update", "truncate") else "DDL"),
                                   "invalid")
                with self.db.lock:  # the query and its destination write, as one
                    res = self.db.execute(job.project, stmt, params, default, dry, self._billing_check(limit))
                    job.result = res
                    if dest and not dry:
                        self._write_destination(job, qconf, res)
            job.finish()
        except Exception as exc:  # noqa: BLE001 - anything expected becomes the job's error
            err = self._job_error(exc)
            if err is None:
                raise
            job.finish(err)

    def _run_script(self, job, stmts, params, default, limit):
        """A multi-statement query: every statement, BEGIN/COMMIT/ROLLBACK TRANSACTION included,
        runs as a child job (statistics.parentJobId; transactionInfo inside a transaction);
        BEGIN ... COMMIT makes the DML in between all or nothing. The script's results are its
        last statement's."""
        children, tx, last = [], None, None
        with self.db.lock:
            try:
                for stmt, text, pos in stmts:
                    kind = stmt[0]
                    child = self._new_job(job.project, "%s_%d" % (job.job_id, len(children)), job.location,
                                          "query", {"jobType": "QUERY", "query": {"query": text,
                                                                                 "useLegacySql": False}},
                                          parent=job)
                    child.state = "RUNNING"
                    child.started = now_ms()
                    children.append(child)
                    try:
                        if kind == "begin":
                            if tx is not None:
                                raise S.SqlError("Nested transactions are not supported; a transaction is "
                                                 "already active", pos)
                            tx = Transaction(self.db, pos)
                            tx.id = uuid.uuid4().hex
                        elif kind in ("commit", "rollback") and tx is None:
                            raise S.SqlError("%s TRANSACTION without an active transaction" % kind.upper(), pos)
                        child.transaction_id = tx.id if tx is not None else None
                        if kind == "commit":
                            tx.commit()
                            tx = None
                        elif kind == "rollback":
                            tx.rollback()
                            tx = None
                        if kind in ("begin", "commit", "rollback"):
                            child.result = {"statementType": "%s_TRANSACTION" % kind.upper(), "bytes": 0,
                                            "billed": 0, "table_bytes": {}, "tables": []}
                        else:
                            child.result = self.db.execute(job.project, stmt, params, default, False,
                                                           self._billing_check(limit), tx)
                    except Exception as exc:
                        err = self._job_error(exc)
                        child.finish(err or {"reason": "internalError", "message": str(exc)})
                        raise
                    child.finish()
                    last = child
            except BaseException:
                if tx is not None:
                    tx.rollback()
                raise
            finally:
                job.script = {"numChildJobs": len(children),
                              "bytes": sum((c.result or {}).get("bytes", 0) for c in children),
                              "billed": sum((c.result or {}).get("billed", 0) for c in children)}
            if tx is not None:
                tx.rollback()
                raise S.SqlError("The transaction begun at [%d:%d] was neither committed nor rolled back at "
                                 "the end of the script; it has been rolled back" % tx.pos)
        if last is not None:
            job.result = last.result
            job.owns_result = False
        else:
            job.result = {"statementType": "SCRIPT", "bytes": 0, "table_bytes": {}, "tables": []}

    def _write_destination(self, job, qconf, res):
        """Store a query result in configuration.query.destinationTable, atomically."""
        d = qconf["destinationTable"]
        key = (d.get("projectId") or job.project, d.get("datasetId"), d.get("tableId"))
        disp = (qconf.get("writeDisposition") or "WRITE_EMPTY").upper()
        create = (qconf.get("createDisposition") or "CREATE_IF_NEEDED").upper()
        if disp not in ("WRITE_EMPTY", "WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_TRUNCATE_DATA"):
            raise ApiError(400, "Invalid value for writeDisposition: %s" % disp, "invalid")
        if create not in ("CREATE_IF_NEEDED", "CREATE_NEVER"):
            raise ApiError(400, "Invalid value for createDisposition: %s" % create, "invalid")
        db = self.db
        schema = res["schema"]
        with db.lock:
            if key[:2] not in db.datasets:
                raise NotFound("Not found: Dataset %s:%s" % key[:2])
            meta = db.tables.get(key)
            if meta is not None and meta.kind != "TABLE":
                raise ApiError(400, "Cannot write query results to %s, which is a %s" % (meta.name, meta.kind.lower()),
                               "invalid")
            if meta is None and create == "CREATE_NEVER":
                raise NotFound("Not found: Table %s:%s.%s" % key)
            if meta is not None and disp == "WRITE_EMPTY" and db.num_rows(meta):
                raise ApiError(409, "Already Exists: Table %s:%s.%s" % key, "duplicate")
            if meta is not None and disp != "WRITE_TRUNCATE":
                self._check_append_schema(meta, schema)
            if meta is None or disp in ("WRITE_TRUNCATE", "WRITE_TRUNCATE_DATA") or \
                    (disp == "WRITE_EMPTY" and not meta.schema):
                target_schema = schema if meta is None or disp == "WRITE_TRUNCATE" else meta.schema
                sqlname = db.new_sqlname()
                db.create_sql_table(sqlname, target_schema)
                try:
                    self._copy_result(sqlname, target_schema, res)
                except Exception:
                    db.drop_sql(sqlname)
                    raise
                if meta is None:
                    meta = db.create_table(key, [])
                db.drop_sql(meta.sqlname)
                meta.sqlname, meta.schema = sqlname, target_schema
            else:
                self._copy_result(meta.sqlname, meta.schema, res)
            meta.touch()

    def _copy_result(self, sqlname, fields, res):
        cols = ", ".join(S.q(f.name) for f in fields)
        try:
            self.db.conn.execute("INSERT INTO %s (%s) SELECT %s FROM %s" % (
                S.q(sqlname), cols, ", ".join(S.q(c) for c in res["columns"]), S.q(res["sqlname"])))
        except sqlite3.IntegrityError as exc:
            raise S.QueryRuntimeError("Required field %s cannot be null" % str(exc).rsplit(".", 1)[-1]) from None

    @staticmethod
    def _check_append_schema(meta, schema):
        """Query results appended to a table must have its fields (BigQuery without
        schemaUpdateOptions): same names in the same order, same types."""
        for i, f in enumerate(schema):
            if i >= len(meta.schema):
                raise ApiError(400, "Provided Schema does not match Table %s. Cannot add fields (field: %s)"
                               % (meta.name, f.name), "invalid")
            o = meta.schema[i]
            if o.name.lower() != f.name.lower():
                raise ApiError(400, "Provided Schema does not match Table %s. Field %s is missing in new schema"
                               % (meta.name, o.name), "invalid")
            if o.type != f.type or o.repeated != f.repeated:
                raise ApiError(400, "Provided Schema does not match Table %s. Field %s has changed type from "
                                    "%s to %s" % (meta.name, f.name, T.api_type(o.type), T.api_type(f.type)),
                               "invalid")
        if len(schema) < len(meta.schema):
            raise ApiError(400, "Provided Schema does not match Table %s. Field %s is missing in new schema"
                           % (meta.name, meta.schema[len(schema)].name), "invalid")

    def jobs_query(self, ex, project):
        body = self._body(ex)
        if body.get("requestId"):
            with self.jobs_lock:
                job = self.request_ids.get((project, body["requestId"]))
            if job is not None:
                return self._send_query_response(ex, job, body, first=True)
        if not isinstance(body.get("query"), str) or not body["query"].strip():
            raise bq_error(400, "Required parameter is missing: query", "invalid")
        qconf = {k: body[k] for k in ("query", "useLegacySql", "parameterMode", "queryParameters",
                                      "defaultDataset", "dryRun", "useQueryCache", "maximumBytesBilled",
                                      "labels") if k in body}
        if "useLegacySql" not in body:
            qconf["useLegacySql"] = True
        if body.get("dryRun"):
            job = Job(project, None, body.get("location"), "query", {"query": qconf})
            self._run_query_job(job, qconf)
            if job.error_result:
                self._raise_job_error(job, http_for_query=True)
            out = {"kind": "bigquery#queryResponse", "jobReference": {"projectId": project,
                                                                       "location": job.location},
                   "jobComplete": True, "cacheHit": False,
                   "totalBytesProcessed": str(job.result.get("bytes", 0))}
            if job.result.get("schema") is not None:
                out["schema"] = T.schema_to_api(job.result["schema"])
            return ex.send_json(200, out)
        job = self._new_job(project, None, body.get("location"), "query", {"query": qconf},
                            body.get("requestId"))
        self._apply_fault(ex, job)
        self._run_query_job(job, qconf)
        if job.error_result and job.error_result.get("reason") != "stopped":
            self._raise_job_error(job, http_for_query=True)
        self._send_query_response(ex, job, body, first=True)

    def _raise_job_error(self, job, http_for_query=False):
        er = job.error_result
        code = _REASON_CODE.get(er.get("reason"), 400)
        err = bq_error(code, er.get("message", ""), er.get("reason"), er.get("location"))
        if len(job.errors) > 1:
            err.extra["errors"] = job.errors
        raise err

    def _send_query_response(self, ex, job, params, first=False):
        is_body = first
        timeout_ms = params.get("timeoutMs") if is_body else _int_param(ex.query, "timeoutMs", 10000)
        try:
            timeout_ms = 10000 if timeout_ms is None else int(timeout_ms)
        except (TypeError, ValueError):
            timeout_ms = 10000
        if first and getattr(job, "force_incomplete", False):
            job.force_incomplete = False
            done = False
        else:
            done = job.poll(timeout_ms / 1000.0)
        kind = "bigquery#queryResponse" if first else "bigquery#getQueryResultsResponse"
        out = {"kind": kind, "jobReference": job.ref}
        if not first:
            out["etag"] = job.etag
        if not done:
            out["jobComplete"] = False
            return ex.send_json(200, out)
        if job.error_result:
            self._raise_job_error(job)
        res = job.result or {}
        if job.kind != "query" or res is None:
            raise bq_error(400, "Job %s:%s.%s is not a query job" % (job.project, job.location, job.job_id),
                           "invalid")
        out["jobComplete"] = True
        out["cacheHit"] = False
        out["totalBytesProcessed"] = str(self._bytes_of(job)[0])
        if res.get("statementType") != "SELECT":
            if res.get("statementType") in ("INSERT", "UPDATE", "DELETE", "TRUNCATE_TABLE", "MERGE"):
                out["numDmlAffectedRows"] = str(res.get("affected", 0))
                out["dmlStats"] = self._dml_stats(res)
            out["totalRows"] = "0"
            out["schema"] = {"fields": []}
            return ex.send_json(200, out)
        fields = res["schema"]
        out["schema"] = T.schema_to_api(fields)
        out["totalRows"] = str(res["numRows"])
        if is_body:
            ts_fmt = _ts_format(None, params.get("formatOptions"))
            max_results = params.get("maxResults")
            max_results = None if max_results in (None, "") else int(max_results)
            index = 0
        else:
            ts_fmt = _ts_format(ex.query)
            max_results = _int_param(ex.query, "maxResults")
            if ex.query.get("pageToken"):
                tok = _untoken(ex.query["pageToken"])
                if tok.get("j") != job.job_id:
                    raise bq_error(400, "Invalid page token for job %s" % job.job_id, "invalid")
                index = int(tok["i"])
            else:
                index = _int_param(ex.query, "startIndex", 0)
        with self.db.lock:
            rows, last, _ = self._page(res["sqlname"], res["columns"], fields, ts_fmt, index, index,
                                       max_results)
        if rows:
            out["rows"] = rows
        nxt = index + len(rows)
        if nxt < res["numRows"]:
            out["pageToken"] = _token({"j": job.job_id, "i": nxt})
        ex.send_json(200, out)

    @staticmethod
    def _bytes_of(job):
        """(totalBytesProcessed, totalBytesBilled) of a query job (a script's: its children's)."""
        if job.script is not None:
            return job.script["bytes"], job.script["billed"]
        res = job.result or {}
        return res.get("bytes", 0), res.get("billed", 0)

    @staticmethod
    def _dml_stats(res):
        st = {}
        for k, name in (("inserted", "insertedRowCount"), ("deleted", "deletedRowCount"),
                        ("updated", "updatedRowCount")):
            if k in res:
                st[name] = str(res[k])
        return st

    def get_query_results(self, ex, project, job_id):
        job = self._job(project, job_id, ex.query.get("location"))
        self._send_query_response(ex, job, ex.query)

    def jobs_insert(self, ex, project):
        body = self._body(ex)
        ref = body.get("jobReference") or {}
        job_id = ref.get("jobId")
        if job_id is not None and (not isinstance(job_id, str) or not _JOB_ID_RE.match(job_id)):
            raise bq_error(400, "Invalid job ID \"%s\". Job IDs must be alphanumeric (plus underscores "
                                "and dashes) and must be at most 1024 characters long." % (job_id,), "invalid")
        config = body.get("configuration") or {}
        location = ref.get("location") or body.get("location")
        if config.get("query") is not None:
            qconf = dict(config["query"])
            if config.get("dryRun"):
                qconf["dryRun"] = True
            if "useLegacySql" not in qconf:
                qconf["useLegacySql"] = True
            conf = dict(config)
            conf["jobType"] = "QUERY"
            if config.get("dryRun"):
                job = Job(project, job_id or "", location, "query", conf)
                self._run_query_job(job, qconf)
                return ex.send_json(200, self._job_resource(ex, job))
            job = self._new_job(project, job_id, location, "query", conf)
            self._apply_fault(ex, job)
            self._run_query_job(job, qconf)
            resource = self._job_resource(ex, job, first=True)
            return ex.send_json(200, resource)
        if config.get("load") is not None:
            conf = dict(config)
            conf["jobType"] = "LOAD"
            job = self._new_job(project, job_id, location, "load", conf)
            self._apply_fault(ex, job)
            resource = self._job_resource(ex, job, first=True)  # PENDING: the load runs after
            threading.Thread(target=self._run_load, args=(job, config["load"]), daemon=True).start()
            return ex.send_json(200, resource)
        for k in ("extract", "copy"):
            if config.get(k) is not None:
                raise bq_error(501, "%s jobs are not supported by the luxe emulator" % k, "notImplemented")
        raise bq_error(400, "Required parameter is missing: configuration", "invalid")

    def _job_resource(self, ex, job, first=False, poll=False):
        if first and getattr(job, "force_incomplete", False):
            job.force_incomplete = False
            state = "RUNNING"
        elif poll:
            state = "DONE" if job.poll(0) else "RUNNING"
        else:
            state = "RUNNING" if job.pending() else "DONE"
        if state == "DONE" and job.state != "DONE":
            state = job.state
        status = {"state": state}
        if state == "DONE":
            if job.error_result:
                status["errorResult"] = job.error_result
            if job.errors:
                status["errors"] = job.errors
        stats = {"creationTime": str(job.created)}
        if job.started:
            stats["startTime"] = str(job.started)
        if state == "DONE" and job.ended:
            stats["endTime"] = str(job.ended)
        res = job.result
        if job.kind == "query":
            if job.parent is not None:
                stats["parentJobId"] = job.parent.job_id
                stats["scriptStatistics"] = {"evaluationKind": "STATEMENT"}
                if getattr(job, "transaction_id", None):
                    stats["transactionInfo"] = {"transactionId": job.transaction_id}
            q = {"cacheHit": False}
            dry = bool((job.configuration.get("query") or {}).get("dryRun") or job.configuration.get("dryRun"))
            if job.script is not None and state == "DONE":
                stats["numChildJobs"] = str(job.script["numChildJobs"])
                q["statementType"] = "SCRIPT"
                q["totalBytesProcessed"] = str(job.script["bytes"])
                q["totalBytesBilled"] = str(job.script["billed"])
                stats["totalBytesProcessed"] = q["totalBytesProcessed"]
                stats["query"] = q
            elif res:
                q["totalBytesProcessed"] = str(res.get("bytes", 0))
                if not dry:
                    q["totalBytesBilled"] = str(res.get("billed", 0))
                    q["billingTier"] = 1
                else:
                    q["totalBytesProcessedAccuracy"] = "PRECISE"
                q["statementType"] = res.get("statementType")
                if res.get("schema") is not None:
                    q["schema"] = T.schema_to_api(res["schema"])
                if res.get("statementType") != "SELECT" and "affected" in res:
                    q["numDmlAffectedRows"] = str(res["affected"])
                    q["dmlStats"] = self._dml_stats(res)
                ddl = res.get("ddl")
                if ddl:
                    q["ddlOperationPerformed"] = ddl["op"]
                    if len(ddl["target"]) == 2:     # CREATE / DROP SCHEMA
                        q["ddlTargetDataset"] = {"projectId": ddl["target"][0], "datasetId": ddl["target"][1]}
                    else:
                        p_, d_, t_ = ddl["target"]
                        q["ddlTargetTable"] = {"projectId": p_, "datasetId": d_, "tableId": t_}
                if res.get("tables"):
                    q["referencedTables"] = [{"projectId": k[0], "datasetId": k[1], "tableId": k[2]}
                                             for k in res["tables"]]
                stats["totalBytesProcessed"] = q["totalBytesProcessed"]
                stats["query"] = q
        elif job.load_stats and state == "DONE":
            stats["load"] = job.load_stats
        return {"kind": "bigquery#job", "etag": job.etag,
                "id": "%s:%s.%s" % (job.project, job.location, job.job_id),
                "selfLink": "%s/bigquery/v2/projects/%s/jobs/%s?location=%s" % (
                    ex.base_url, job.project, job.job_id, job.location),
                "user_email": "emulator@luxe.invalid", "configuration": job.configuration,
                "jobReference": job.ref, "statistics": stats, "status": status,
                "principal_subject": "user:emulator@luxe.invalid", "jobCreationReason": {"code": "REQUESTED"}}

    def jobs_get(self, ex, project, job_id):
        job = self._job(project, job_id, ex.query.get("location"))
        ex.send_json(200, self._job_resource(ex, job, poll=True))

    def jobs_list(self, ex, project):
        with self.jobs_lock:
            jobs = [j for j in reversed(self.job_order) if j.project == project]
        parent = ex.query.get("parentJobId")
        # without parentJobId, only top-level jobs are listed (a script's children are not)
        jobs = [j for j in jobs if (j.parent.job_id if j.parent else None) == (parent or None)]
        wanted = ex.query.get("stateFilter")
        if wanted:
            jobs = [j for j in jobs if ("RUNNING" if j.pending() else "DONE").lower() == wanted.lower()]
        start, max_results = self._list_page(ex.query)
        page = jobs[start:start + max_results]
        out = {"kind": "bigquery#jobList", "etag": uuid.uuid4().hex[:16]}
        if page:
            out["jobs"] = []
            for j in page:
                r = self._job_resource(ex, j)
                out["jobs"].append({k: r[k] for k in ("kind", "id", "jobReference", "configuration",
                                                      "statistics", "status", "user_email")} |
                                   {"state": r["status"]["state"]})
                if "errorResult" in r["status"]:
                    out["jobs"][-1]["errorResult"] = r["status"]["errorResult"]
        if start + max_results < len(jobs):
            out["nextPageToken"] = _token({"o": start + max_results})
        ex.send_json(200, out)

    def jobs_cancel(self, ex, project, job_id):
        job = self._job(project, job_id, ex.query.get("location"))
        with job.cond:
            if job.pending() or job.incomplete_polls > 0:
                job.cancelled = True
                job.incomplete_polls = 0
                job.slow_until = None
                job.error_result = None
                job.state = "RUNNING"
                job.finish({"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"})
                if job.result and job.result.get("sqlname"):
                    if job.owns_result:
                        self.db.drop_sql(job.result["sqlname"])
                    job.result = None
        ex.send_json(200, {"kind": "bigquery#jobCancelResponse", "job": self._job_resource(ex, job)})

    def jobs_delete(self, ex, project, job_id):
        job = self._job(project, job_id, ex.query.get("location"))
        with self.jobs_lock:
            self.jobs.pop((project, job_id), None)
            self.job_order.remove(job)
        if job.result and job.result.get("sqlname") and job.owns_result:
            self.db.drop_sql(job.result["sqlname"])
        ex.send_empty(204)

    # -- load jobs --
    def _run_load(self, job, conf):
        from .bq_load import JobCancelled, LoadError, run_load
        try:
            with job.cond:
                job.state = "RUNNING"
                job.started = now_ms()
            stats, warnings = run_load(self.db, self.gcs, job, conf)
            job.load_stats = stats
            job.finish(None, warnings)
        except JobCancelled:
            pass                # jobs.cancel finished it with reason "stopped"
        except LoadError as exc:
            job.load_stats = exc.stats
            job.finish(exc.error, exc.errors)
        except NotFound as exc:
            job.finish({"reason": "notFound", "message": exc.message})
        except Exception as exc:  # noqa: BLE001 - report, never hang the job
            import traceback
            traceback.print_exc()
            job.finish({"reason": "backendError", "message": "Load failed in the emulator: %s" % exc})

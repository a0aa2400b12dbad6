#!/usr/bin/env python3
"""The fault matrix: every operation of luxe_fdw under every fault Google's
APIs and networks can show, against the emulator.

    fault_matrix.py [--all]       (default: the fast cells; --all adds the
                                   cells that wait out timeouts and stalls)

Rows are operations (GCS scan, parallel GCS scan, BigQuery scan, BigQuery
INSERT by load job, GCS INSERT, pipeline refresh), columns are faults (a
503 burst, 429 with Retry-After, 403 rateLimitExceeded, a connection reset
mid-body, a stall past the timeout, a truncated JSON answer, a wrong
Content-Length, the token endpoint flaky or down, the object replaced
mid-scan).  Each cell runs the operation once under the fault and prints:

  exact   it completed with exactly the unfaulted result (a checksum of
          every row it read or wrote)
  error   it failed with a clear error (a SQLSTATE that is not internal,
          no elog text), and the data it was changing is as it was before
  FAIL    anything else: a different result, an unclear error, changed
          data, a transient fault that was not survived, or a fault that
          was never exercised
  -       the fault does not apply to the operation

Transient faults must give "exact"; the token endpoint down must give
"error"; a replaced object may give either (the scan reads the generation
it listed, or says that it is gone).  Runs against the cluster run-tests.sh
started (PGHOST...), with its own emulator that demands OAuth2 tokens from
a service-account key, so token faults reach every operation.  Ends with
"faults: N passed, M failed".
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REGRESS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REGRESS, "tools"))
from vestiaire_schema import COLDEFS, COLUMNS  # noqa: E402

ROOT = os.environ["LUXE_ROOT"]
TMP = os.environ["LUXE_TMP"]
TOKEN = "fault-matrix-token"
PROJECT = "luxe-faults"
TIMEOUT = 300
BQ_TYPES = {"bigint": "INT64", "text": "STRING", "float8": "FLOAT64", "boolean": "BOOL"}
CHECK = ("SELECT count(*) || ' ' || md5(string_agg(r, ',' ORDER BY r)) FROM (SELECT product_id::text "
         "|| '|' || coalesce(brand_name, '') || '|' || coalesce(price_usd::text, '') || '|' || "
         "coalesce(seller_country, '') || '|' || coalesce(product_name, '') AS r FROM %s) rows")
URL = None


def psql(sql):
    """Run sql; (ok, stdout, first error line with its SQLSTATE)."""
    p = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
                        "-d", "postgres", "-c", sql], capture_output=True, text=True, timeout=TIMEOUT)
    err = next((line for line in p.stderr.splitlines() if line.startswith("ERROR:")), "")
    return p.returncode == 0, p.stdout.strip(), err


def must(sql):
    ok, out, err = psql(sql)
    if not ok:
        raise RuntimeError("%s: %s" % (sql[:80], err))
    return out


def api(method, path, body=None, data=None, content_type="application/json"):
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(URL + path, method=method, data=data,
                                 headers={"Content-Type": content_type,
                                          "Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
    return json.loads(raw) if raw else {}


def faults(instructions):
    api("POST", "/_emulator/faults", {"instructions": instructions})


def faults_left():
    left = api("GET", "/_emulator/faults")["instructions"]
    api("DELETE", "/_emulator/faults")
    return left


def start_emulator():
    """An emulator on the same objects that demands tokens from a key it knows."""
    global URL
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    keys = os.path.join(TMP, "fm-keys")
    os.makedirs(keys, exist_ok=True)
    os.chmod(keys, 0o755)
    key = os.path.join(keys, "key.json")
    subprocess.run([sys.executable, os.path.join(REGRESS, "tools", "make_sa_key.py"), "--token-uri",
                    "http://127.0.0.1:%d/token" % port, "--email", "faults@luxe-test.iam.gserviceaccount.com",
                    "--out", key], check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o644)
    log = open(os.path.join(TMP, "emulator-faults.log"), "w")
    proc = subprocess.Popen([sys.executable, os.path.join(REGRESS, "emulator"), "--root", ROOT, "--port", str(port),
                             "--require-token", TOKEN, "--require-auth", "--service-account", key],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        text = open(log.name).read()
        if "listening on " in text:
            URL = text.split("listening on ", 1)[1].split()[0]
            return proc, key
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("the emulator did not start: " + open(log.name).read()[-2000:])


def generate(rows, seed, name):
    path = os.path.join(ROOT, "vestiaire", *name.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([sys.executable, os.path.join(REGRESS, "gen_vestiaire"), "--rows", str(rows),
                    "--seed", str(seed), "--out", path], check=True, timeout=TIMEOUT)
    return path


# ---------------------------------------------------------------------------
# operations: prepare() runs before the fault is installed, act() under it
# (ok, output, error), verify(output) after it is cleared (the result to
# compare with the unfaulted one), intact() after a failure (is the data it
# was changing as it was?)

class Op:
    name = ""
    targets = {}        # fault column -> Google method id it is injected into

    def prepare(self):
        pass

    def act(self):
        raise NotImplementedError

    def verify(self, out):
        return out

    def intact(self):
        return True


class GcsScan(Op):
    name = "GCS scan"
    table = "fm_one"
    settings = ""
    targets = {"503": "storage.objects.list", "429": "storage.objects.list",
               "403rl": "storage.objects.list", "reset": "storage.objects.get",
               "stall": "storage.objects.get", "trunc": "storage.objects.list",
               "length": "storage.objects.list", "token": "oauth2.token", "tokendown": "oauth2.token",
               "replaced": "storage.objects.get"}
    replaced = "fm/one/listings.csv"

    def act(self):
        ok, out, err = psql(self.settings + CHECK % self.table)
        return ok, out.splitlines()[-1] if out else out, err


class GcsParallel(GcsScan):
    name = "parallel GCS scan"
    table = "fm_parts"
    settings = ("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                "SET max_parallel_workers_per_gather = 2; ")
    replaced = "fm/parts/part-0.csv"


class BqScan(GcsScan):
    name = "BigQuery scan"
    table = "fm_bq_plain"
    settings = "SET luxe_fdw.bigquery_page_size = 700; "
    targets = {"503": "bigquery.jobs.getQueryResults", "429": "bigquery.jobs.getQueryResults",
               "403rl": "bigquery.jobs.getQueryResults", "reset": "bigquery.jobs.getQueryResults",
               "stall": "bigquery.jobs.getQueryResults", "trunc": "bigquery.jobs.getQueryResults",
               "length": "bigquery.jobs.getQueryResults", "token": "oauth2.token",
               "tokendown": "oauth2.token"}


class BqInsert(Op):
    """TRUNCATE + INSERT in one transaction: one WRITE_TRUNCATE load job at
    commit; each run adds a marker row of its own, so that a run that failed
    is told apart from one that replaced the rows with the same rows."""
    name = "BigQuery INSERT (load)"
    targets = {"503": "bigquery.jobs.insert", "429": "bigquery.jobs.insert",
               "403rl": "bigquery.jobs.insert", "reset": "storage.objects.insert",
               "stall": "bigquery.jobs.get", "trunc": "bigquery.jobs.insert",
               "length": "bigquery.jobs.insert", "token": "oauth2.token", "tokendown": "oauth2.token"}
    marker = 0

    def prepare(self):
        BqInsert.marker += 1
        self.before = must(CHECK % "fm_bq_target")
        self.sel = ("SELECT * FROM fm_local UNION ALL (SELECT -%d, %s FROM fm_local LIMIT 1)"
                    % (self.marker, ", ".join(n for n, _ in COLUMNS[1:])))
        self.expect = must(CHECK % ("(%s) t" % self.sel))

    def act(self):
        return psql("BEGIN; TRUNCATE fm_bq_target; INSERT INTO fm_bq_target %s; COMMIT" % self.sel)

    def verify(self, out):
        return "as expected" if must(CHECK % "fm_bq_target") == self.expect else "different"

    def intact(self):
        return must(CHECK % "fm_bq_target") == self.before


class GcsInsert(Op):
    """INSERT into a wildcard uri: one new object per statement, visible at
    commit; read back through the same table."""
    name = "GCS INSERT"
    targets = {"503": "storage.objects.insert", "429": "storage.objects.insert",
               "403rl": "storage.objects.insert", "reset": "storage.objects.insert",
               "stall": "storage.objects.insert", "trunc": "storage.objects.insert",
               "length": "storage.objects.insert", "token": "oauth2.token", "tokendown": "oauth2.token"}
    cell = 0

    def prepare(self):
        GcsInsert.cell += 1
        self.prefix = "fm-out/c%d" % self.cell
        must("DROP FOREIGN TABLE IF EXISTS fm_out; CREATE FOREIGN TABLE fm_out (%s) SERVER fm_gcs "
             "OPTIONS (uri 'gs://vestiaire/%s/*.csv', skip_leading_rows '1')" % (COLDEFS, self.prefix))
        self.expect = must(CHECK % "fm_local")

    def act(self):
        return psql("INSERT INTO fm_out SELECT * FROM fm_local")

    def verify(self, out):
        return "as expected" if must(CHECK % "fm_out") == self.expect else "different"

    def intact(self):
        # nothing of the failed statement is visible
        d = os.path.join(ROOT, "vestiaire", *self.prefix.split("/"))
        return not os.path.isdir(d) or not [f for f in os.listdir(d) if f.endswith(".csv")]


class Refresh(GcsScan):
    name = "pipeline refresh"

    def prepare(self):
        if self.__class__ is Refresh:
            must("SELECT luxe.setup_pipeline('fm_one')")
        self.before = self.insights()

    def act(self):
        return psql("CALL luxe.refresh_pipeline(retries => 0, full => true)")

    def verify(self, out):
        return self.insights()

    def insights(self):
        parts = []
        for v in ("sellers_by_country", "brand_prices", "product_types_by_brand", "sales_by_ship_interval"):
            parts.append(hashlib.md5(must("SELECT string_agg(t::text, ',' ORDER BY t::text) FROM luxe.%s t"
                                          % v).encode()).hexdigest()[:12])
        return " ".join(parts)

    def intact(self):
        return self.insights() == self.before


class RefreshBq(Refresh):
    """The refresh with the BigQuery engine: jobs in the emulator's BigQuery
    reading the GCS object themselves; the backend creates and follows the
    jobs and fetches the four results.  A job request carried out and then
    cut off ("reset") must be followed by its id (409 duplicate), never run
    twice; the object itself never passes through the backend."""
    name = "pipeline refresh, BigQuery engine"
    targets = {"503": "bigquery.jobs.insert", "429": "bigquery.jobs.insert",
               "403rl": "bigquery.jobs.insert", "reset": "bigquery.jobs.insert",
               "stall": "bigquery.jobs.getQueryResults", "trunc": "bigquery.jobs.insert",
               "length": "bigquery.jobs.insert", "token": "oauth2.token", "tokendown": "oauth2.token"}
    instructions = {"reset": ["return-reset-after-processing"], "stall": ["stall-for-5s-after-0K"]}

    def prepare(self):
        must("SELECT luxe.setup_pipeline('fm_one', engine => 'bigquery', bigquery_server => 'fm_bq', "
             "bigquery_dataset => 'fm_engine')")
        Refresh.prepare(self)


# fault columns: label, instructions (a function of the method), kind, fast
FAULTS = [
    ("503", "503 burst", lambda m: ["return-503"] * 3, "transient", True),
    ("429", "429 Retry-After", lambda m: ["return-429-retry-after-1"], "transient", True),
    ("403rl", "403 rateLimit", lambda m: ["return-403-rateLimitExceeded"] * 2, "transient", True),
    ("reset", "reset mid-body", lambda m: (["pass"] if m == "storage.objects.insert" else []) +
     ["return-broken-stream-after-16K"], "transient", True),
    ("stall", "stall > timeout", lambda m: (["pass"] if m == "storage.objects.insert" else []) +
     ["stall-for-5s-after-%dK" % (0 if m.startswith("bigquery.jobs.get") and "Query" not in m else 16)],
     "transient", False),
    ("trunc", "truncated JSON", lambda m: (["pass"] if m == "storage.objects.insert" else []) +
     ["return-truncated-json"], "transient", True),
    ("length", "wrong Content-Length", lambda m: (["pass"] if m == "storage.objects.insert" else []) +
     ["return-wrong-content-length"], "transient", True),
    ("token", "token endpoint 503s", lambda m: ["return-503"] * 3, "transient", True),
    ("tokendown", "token endpoint down", lambda m: ["return-503"] * 40, "down", True),
    ("replaced", "object replaced", lambda m: ["stall-for-2s-after-64K"], "either", False),
]


def clear_error(err):
    """A clear error: a SQLSTATE that is not internal_error, no elog text."""
    return err.startswith("ERROR:  ") and not err.startswith("ERROR:  XX000") and "luxe_fdw:" not in err


def upload(name, data):
    api("POST", "/upload/storage/v1/b/vestiaire/o?uploadType=media&name=%s" % urllib.request.quote(name, ""),
        data=data, content_type="text/csv")


def replace_during(name, delay):
    """Replace object vestiaire/name with other content (its last row gone)
    after delay seconds, in a thread."""
    original = open(os.path.join(ROOT, "vestiaire", *name.split("/")), "rb").read()

    def go():
        time.sleep(delay)
        upload(name, original[:original.rstrip(b"\n").rfind(b"\n") + 1])
    t = threading.Thread(target=go)
    t.start()
    return t, original


def main():
    run_all = "--all" in sys.argv
    emu, key = start_emulator()
    try:
        return matrix(run_all, key)
    finally:
        emu.terminate()
        emu.wait(timeout=30)


def matrix(run_all, key):
    generate(3000, 21, "fm/one/listings.csv")
    for i in range(4):
        generate(800, 30 + i, "fm/parts/part-%d.csv" % i)
    retry = "max_retries '6', retry_initial_delay '20ms', retry_max_delay '300ms', request_timeout '2s'"
    must("CREATE EXTENSION IF NOT EXISTS luxe_fdw; SET client_min_messages = warning; "
         "DROP SERVER IF EXISTS fm_gcs, fm_bq, fm_bq_plain CASCADE; DROP TABLE IF EXISTS fm_local; "
         "SELECT luxe.drop_pipeline()")
    must("CREATE SERVER fm_gcs FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s', %s);"
         "CREATE USER MAPPING FOR CURRENT_USER SERVER fm_gcs OPTIONS (auth 'service_account', key_file '%s');"
         "CREATE FOREIGN TABLE fm_one (%s) SERVER fm_gcs OPTIONS (uri 'gs://vestiaire/fm/one/*.csv', "
         "skip_leading_rows '1');"
         "CREATE FOREIGN TABLE fm_parts (%s) SERVER fm_gcs OPTIONS (uri 'gs://vestiaire/fm/parts/*.csv', "
         "skip_leading_rows '1');"
         "CREATE TABLE fm_local AS SELECT * FROM fm_one WHERE product_id %% 3 = 0"
         % (URL, retry, key, COLDEFS, COLDEFS))
    api("POST", "/bigquery/v2/projects/%s/datasets" % PROJECT,
        {"datasetReference": {"projectId": PROJECT, "datasetId": "fm"}})
    for t in ("listings", "target"):
        api("POST", "/bigquery/v2/projects/%s/datasets/fm/tables" % PROJECT,
            {"tableReference": {"projectId": PROJECT, "datasetId": "fm", "tableId": t},
             "schema": {"fields": [{"name": n, "type": BQ_TYPES[ty]} for n, ty in COLUMNS]}})
    for srv, extra in (("fm_bq", ""), ("fm_bq_plain", ", pushdown 'false'")):
        must("CREATE SERVER %s FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'bigquery', endpoint '%s', "
             "project '%s', staging_uri 'gs://vestiaire/fm-staging/', %s%s);"
             "CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (auth 'service_account', key_file '%s')"
             % (srv, URL, PROJECT, retry, extra, srv, key))
    must("CREATE FOREIGN TABLE fm_bq (%s) SERVER fm_bq OPTIONS (dataset 'fm', table 'listings', "
         "write_method 'load');"
         "CREATE FOREIGN TABLE fm_bq_plain (%s) SERVER fm_bq_plain OPTIONS (dataset 'fm', table 'listings');"
         "CREATE FOREIGN TABLE fm_bq_target (%s) SERVER fm_bq OPTIONS (dataset 'fm', table 'target', "
         "write_method 'load');"
         "INSERT INTO fm_bq SELECT * FROM fm_one" % (COLDEFS, COLDEFS, COLDEFS))
    must("SELECT luxe.setup_pipeline('fm_one')")
    must("CALL luxe.refresh_pipeline(retries => 0)")

    ops = [GcsScan(), GcsParallel(), BqScan(), BqInsert(), GcsInsert(), Refresh(), RefreshBq()]
    baseline = {}
    for op in ops:
        op.prepare()
        ok, out, err = op.act()
        if not ok:
            raise RuntimeError("%s fails without a fault: %s" % (op.name, err))
        baseline[op.name] = op.verify(out)
    if baseline["GCS scan"] != baseline["BigQuery scan"]:
        raise RuntimeError("GCS and BigQuery read different rows: %r %r"
                           % (baseline["GCS scan"], baseline["BigQuery scan"]))
    if baseline["BigQuery INSERT (load)"] != "as expected" or baseline["GCS INSERT"] != "as expected":
        raise RuntimeError("the writes do not read back without a fault: %r" % baseline)

    cols = [f for f in FAULTS if run_all or f[4]]
    passed = failed = 0
    details = []
    grid = []
    for op in ops:
        row = []
        for key_, label, instr, kind, fast in cols:
            method = op.targets.get(key_)
            if method is None:
                row.append("-")
                continue
            op.prepare()
            faults_left()
            faults({method: getattr(op, "instructions", {}).get(key_) or instr(method)})
            replacer = None
            if key_ == "replaced":
                replacer, original = replace_during(op.replaced, 0.7)
            t0 = time.time()
            ok, out, err = op.act()
            took = time.time() - t0
            if replacer:
                replacer.join()
                upload(op.replaced, original)
            left = faults_left()
            if ok:
                out = op.verify(out)
                verdict = "exact" if out == baseline[op.name] else "FAIL"
                why = "" if verdict == "exact" else "result %r, unfaulted %r" % (out, baseline[op.name])
                if verdict == "exact" and left and kind == "transient":
                    verdict, why = "FAIL", "the fault was not exercised: %r left" % left
                if verdict == "exact" and key_ == "429" and took < 1.0:
                    verdict, why = "FAIL", "Retry-After: 1 was not honoured (%.2f s)" % took
            else:
                intact = op.intact()
                verdict = "error" if clear_error(err) and intact else "FAIL"
                why = err + ("" if intact else " (and the data changed)")
            expected = {"transient": ("exact",), "down": ("error",), "either": ("exact", "error")}[kind]
            good = verdict in expected
            if not good and verdict != "FAIL":
                why = "%s where %s was expected: %s" % (verdict, "/".join(expected), why)
            passed += good
            failed += not good
            row.append(verdict if good else "FAIL")
            details.append("%s - %s | %s | %.1f s%s" % ("ok" if good else "not ok", op.name, label, took,
                                                      (" | " + why) if why else ""))
        grid.append((op.name, row))

    width = max(len(name) for name, _ in grid) + 2
    print("%-*s" % (width, "") + " ".join("%-*s" % (max(7, len(f[1])), f[1]) for f in cols))
    for name, row in grid:
        print("%-*s" % (width, name) + " ".join("%-*s" % (max(7, len(f[1])), v) for f, v in zip(cols, row)))
    print()
    for line in details:
        print(line)
    print("faults: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The pipeline run unattended: incremental refresh, skips, progress, alerts,
timeouts, cancellation, and what BI tools list.

Runs against the cluster and emulator run-tests.sh started (PGHOST, PGPORT,
PGUSER, LUXE_EMULATOR_URL, LUXE_ROOT, LUXE_TMP).  The source is a wildcard
over part objects in the GCS emulator; after every change to the parts the
four views are compared, row for row, with an independent computation
(regress/tools/pipeline_reference.py, sqlite3 and Python's csv) over the
objects that exist at that moment.  Prints "ok N - name" lines and
"pipeline-ops: N passed, M failed, 0 skipped".
"""
import csv
import http.server
import io
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REGRESS = os.path.dirname(HERE)
TOOLS = os.path.join(REGRESS, "tools")
sys.path.insert(0, TOOLS)
from vestiaire_schema import COLDEFS  # noqa: E402

ROOT = os.environ["LUXE_ROOT"]
URL = os.environ["LUXE_EMULATOR_URL"]
TMP = os.environ.get("LUXE_TMP", "/tmp")
TIMEOUT = int(os.environ.get("LUXE_CALL_TIMEOUT", "600"))
PREFIX = "ops/parts/"       # the source's objects: gs://vestiaire/<PREFIX>*.csv
PARTS = os.path.join(ROOT, "vestiaire", *PREFIX.strip("/").split("/"))
EXPECTED = {}               # part name -> the rows a reader must see, where they differ from the object's
results = []


def psql(sql, check=True, timeout=TIMEOUT):
    p = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return p


def one(sql):
    return psql(sql).stdout.strip()


def test(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:  # report and go on, with the failing line
            tb = traceback.extract_tb(e.__traceback__)[-1]
            results.append((False, name, "%s: %s (%s line %d)" % (type(e).__name__, e,
                                                                   os.path.basename(tb.filename), tb.lineno)))
    return wrap


def api(method, path, body=None, data=None, content_type="application/json"):
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(URL + path, method=method, data=data, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
    return json.loads(raw) if raw else {}


def faults(instructions):
    api("POST", "/_emulator/faults", {"instructions": instructions})


def faults_left():
    """The instructions no request used up (then cleared), by method."""
    left = api("GET", "/_emulator/faults")["instructions"]
    faults_clear()
    return {k: v for k, v in left.items() if v}


def faults_clear():
    api("DELETE", "/_emulator/faults")


def put_part(name, rows, seed):
    """Write part object <PREFIX><name> through the GCS API (a new generation)."""
    tmp = os.path.join(TMP, "part-" + PREFIX.replace("/", "-") + name)
    subprocess.run([sys.executable, os.path.join(REGRESS, "gen_vestiaire"), "--rows", str(rows), "--seed",
                    str(seed), "--out", tmp], check=True, timeout=TIMEOUT)
    with open(tmp, "rb") as f:
        data = f.read()
    api("POST", "/upload/storage/v1/b/vestiaire/o?uploadType=media&name=" + PREFIX + name,
        data=data, content_type="text/csv")
    os.unlink(tmp)


def remove_part(name):
    api("DELETE", "/storage/v1/b/vestiaire/o/" + urllib.request.quote(PREFIX + name, ""))


def current_csv():
    """The parts that exist now, concatenated under one header."""
    path = os.path.join(TMP, "ops-all.csv")
    names = sorted(n for n in os.listdir(PARTS) if n.endswith(".csv"))
    with open(path, "w", encoding="utf-8", newline="") as out:
        for i, n in enumerate(names):
            with open(os.path.join(PARTS, n), encoding="utf-8", newline="") as f:
                if n in EXPECTED:
                    f = io.StringIO(EXPECTED[n], newline="")
                header = f.readline()
                if i == 0:
                    out.write(header)
                shutil.copyfileobj(f, out)
    return path


def compare_views(ref, got):
    """pipeline_reference.py's row-by-row comparison of two result documents."""
    p = subprocess.run([sys.executable, os.path.join(TOOLS, "pipeline_reference.py"), "compare", ref,
                        "--psql-json", got], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-500:]


def views_match_reference(got_name="ops-got.json", per_object=True):
    """The four views equal an independent computation over the current parts;
    returns the file holding what the views gave."""
    csv_path = current_csv()
    ref = os.path.join(TMP, "ops-ref.json")
    got = os.path.join(TMP, got_name)
    subprocess.run([sys.executable, os.path.join(TOOLS, "pipeline_reference.py"), "compute", csv_path,
                    "--out", ref], check=True, capture_output=True, timeout=TIMEOUT)
    sql = subprocess.run([sys.executable, os.path.join(TOOLS, "pipeline_reference.py"), "sql"],
                         check=True, capture_output=True, text=True, timeout=TIMEOUT).stdout
    with open(got, "w") as f:
        f.write(psql(sql).stdout)
    compare_views(ref, got)
    # and no object's rows are there twice, none missing
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = sum(1 for _ in csv.reader(f)) - 1
    assert int(one("SELECT count(*) FROM luxe.listings")) == rows, "listings: not %d rows" % rows
    # (the run's rows_read adds up the manifest's per-object counts)
    read = one("SELECT rows_read FROM luxe.pipeline_runs WHERE status IN ('succeeded', 'skipped') "
               "ORDER BY run_id DESC LIMIT 1")
    assert int(read) == rows, "rows_read %s, not %d rows" % (read, rows)
    if not per_object:
        return got
    per = one("SELECT bool_and(m.rows = c.n) AND count(*) = (SELECT count(*) FROM luxe.pipeline_manifest) "
              "FROM luxe.pipeline_manifest m JOIN (SELECT source_object_id, count(*) AS n "
              "FROM luxe_store.listings GROUP BY 1) c ON c.source_object_id = m.object_id")
    assert per == "t", "manifest row counts differ from the rows held"
    return got


def last_run():
    cols = ("run_id", "status", "attempt", "full_reload", "objects_added", "objects_replaced",
            "objects_removed", "objects_unchanged", "rows_inserted", "rows_deleted", "rows_read",
            "error", "alert")
    out = one("SELECT %s FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 1"
              % ", ".join("coalesce(%s::text, '')" % c for c in cols))
    return dict(zip(cols, out.split("|")))


def part_rows(name):
    with open(os.path.join(PARTS, name), encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def report(label):
    """Print the "ok N - name" lines and the summary; the exit status."""
    for n, (ok, name, why) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, "" if ok else ": " + why))
    failed = sum(1 for r in results if not r[0])
    print("%s: %d passed, %d failed, 0 skipped" % (label, len(results) - failed, failed))
    return 1 if failed else 0


def main():
    os.makedirs(PARTS, exist_ok=True)
    for i in range(4):
        put_part("part-%d.csv" % i, 3000, 40 + i)
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw; SET client_min_messages = warning; "
         "SELECT luxe.drop_pipeline(); "
         "DROP SERVER IF EXISTS ops CASCADE; "
         "CREATE SERVER ops FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s', "
         "max_retries '2', retry_initial_delay '20ms', retry_max_delay '100ms'); "
         "CREATE USER MAPPING FOR CURRENT_USER SERVER ops OPTIONS (auth 'none'); "
         "CREATE FOREIGN TABLE ops_src (%s) SERVER ops OPTIONS "
         "(uri 'gs://vestiaire/ops/parts/*.csv', skip_leading_rows '1'); "
         "SELECT luxe.setup_pipeline('ops_src')" % (URL, COLDEFS))

    @test("the first refresh loads every object and records them in the manifest")
    def _():
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert (r["status"], r["full_reload"], r["objects_added"]) == ("succeeded", "true", "4"), r
        assert r["rows_inserted"] == str(12000) and r["rows_deleted"] == "0", r
        assert one("SELECT count(*) FROM luxe.pipeline_manifest") == "4"
        views_match_reference()

    @test("the run history says where the load's time went: the INSERT (fetch, parse, convert inside it), other")
    def _():
        ph = json.loads(one("SELECT load_phases || jsonb_build_object('load', load_seconds) "
                            "FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 1"))
        parts = ("fetch_seconds", "parse_seconds", "convert_seconds", "insert_seconds", "other_seconds")
        assert all(k in ph and ph[k] >= 0 for k in parts), ph
        # (12,000 rows: type input may take less than the millisecond shown)
        assert ph["parse_seconds"] > 0 and ph["convert_seconds"] >= 0, ph
        # the wall-clock parts add up to the load; the scan's timers are
        # process time, summed over the processes that read
        assert abs(ph["insert_seconds"] + ph["other_seconds"] - ph["load"]) < 0.01, ph
        # and EXPLAIN ANALYZE shows the scan's three timers
        plan = one("EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM ops_src")
        assert all('"%s Time"' % t in plan for t in ("Fetch", "Parse", "Convert")), plan[:2000]

    @test("nothing changed: the run is 'skipped' and touches no table")
    def _():
        before = one("SELECT active::text FROM luxe_store.insight_state") + one(
            "SELECT n_tup_ins + n_tup_del FROM pg_stat_user_tables WHERE relid = 'luxe_store.listings'::regclass")
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert (r["status"], r["objects_unchanged"], r["rows_inserted"]) == ("skipped", "4", "0"), r
        psql("SELECT pg_stat_clear_snapshot()")
        after = one("SELECT active::text FROM luxe_store.insight_state") + one(
            "SELECT n_tup_ins + n_tup_del FROM pg_stat_user_tables WHERE relid = 'luxe_store.listings'::regclass")
        assert before == after, (before, after)

    @test("an added object: only its rows are loaded (incremental)")
    def _():
        # (a small part: some brands have none of its rows)
        put_part("part-4.csv", 40, 50)
        packed = "SELECT brand_name, ctid::text FROM luxe_store.product_types_by_brand_counts"
        rows_before = dict(line.rsplit("|", 1) for line in psql(packed).stdout.splitlines())
        writes = ("SELECT pg_stat_force_next_flush(); SELECT n_tup_ins + n_tup_upd + n_tup_del "
                  "FROM pg_stat_user_tables WHERE relid = 'luxe_store.product_types_by_brand_counts'::regclass")
        writes_before = int(psql(writes).stdout.split()[-1])
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert (r["status"], r["full_reload"], r["objects_added"], r["objects_unchanged"]) == \
            ("succeeded", "false", "1", "4"), r
        assert (r["rows_inserted"], r["rows_deleted"]) == ("40", "0"), r
        views_match_reference()
        # the brand x type counts were kept by difference: the packed row of
        # each brand the new rows have was replaced (deleted and inserted),
        # no other was written
        brands = set(psql("SELECT DISTINCT brand_name FROM luxe_store.insight_rows i "
                          "JOIN luxe.pipeline_manifest m ON m.object_id = i.source_object_id "
                          "WHERE m.uri LIKE '%part-4.csv'").stdout.splitlines()) - {""}
        rows_after = dict(line.rsplit("|", 1) for line in psql(packed).stdout.splitlines())
        changed = int(psql(writes).stdout.split()[-1]) - writes_before
        new_brands = brands - set(rows_before)
        assert 0 < len(brands) < len(rows_before), (brands, len(rows_before))
        assert changed == 2 * len(brands) - len(new_brands), (changed, brands, new_brands)
        untouched = {b: c for b, c in rows_before.items() if b not in brands}
        assert untouched and all(rows_after[b] == c for b, c in untouched.items()), \
            [b for b, c in untouched.items() if rows_after.get(b) != c]
        assert all(rows_after[b] != rows_before[b] for b in brands - new_brands)

    @test("a replaced object (new generation): its old rows go, its new rows come")
    def _():
        old = part_rows("part-1.csv")
        put_part("part-1.csv", 2000, 51)
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert (r["objects_replaced"], r["objects_added"], r["rows_deleted"], r["rows_inserted"]) == \
            ("1", "0", str(old), "2000"), r
        views_match_reference()

    @test("a removed object: its rows are deleted")
    def _():
        gone = part_rows("part-2.csv")
        remove_part("part-2.csv")
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert (r["objects_removed"], r["rows_deleted"], r["rows_inserted"]) == ("1", str(gone), "0"), r
        views_match_reference()

    @test("after a crash the unlogged cleaned rows are empty: the next run reloads all of them")
    def _():
        # (a full reload first: the files it drops are kept for the next
        # one, among the temporary files, which a restart removes)
        psql("CALL luxe.refresh_pipeline(full => true)")
        kept = ("SELECT count(*) FROM pg_ls_dir('base/pgsql_tmp', true, false) f "
                "WHERE f LIKE 'pgsql\\_tmp\\_luxe\\_spare\\_%'")
        assert one(kept) == "2", one(kept)
        subprocess.run(["bash", "-c", 'source "$1"; LUXE_PGDATA="$LUXE_TMP/pgdata"; '
                        'runuser -u postgres -- "$PGBIN/pg_ctl" -D "$LUXE_PGDATA" -m immediate -w stop >/dev/null '
                        '&& luxe_run_cluster', "-", os.path.join(TOOLS, "lib.sh")],
                       check=True, timeout=TIMEOUT)
        assert one("SELECT count(*) FROM luxe_store.listings") == "0"
        assert one(kept) == "0", one(kept)
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert (r["status"], r["full_reload"]) == ("succeeded", "true"), r
        views_match_reference()

    @test("progress is visible from another session while a load runs, then empty")
    def _():
        put_part("part-5.csv", 3000, 52)
        # the download stalls (metadata requests pass the fault by)
        faults({"storage.objects.get": ["stall-for-4s-after-64K"]})
        proc = subprocess.Popen(["psql", "-X", "-q", "-d", "postgres", "-c", "CALL luxe.refresh_pipeline()"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = ""
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            seen = one("SELECT phase || '|' || coalesce(current_object, '') || '|' || bytes_done || '|' || "
                       "bytes_total || '|' || objects_total || '|' || (elapsed > interval '0') "
                       "FROM luxe.pipeline_progress")
            if seen.startswith("loading|") and seen.split("|")[2] != "0":
                break
            time.sleep(0.1)
        proc.communicate(timeout=120)
        faults_clear()
        f = seen.split("|")
        assert f[0] == "loading" and f[1] == "gs://vestiaire/ops/parts/part-5.csv", seen
        assert 0 < int(f[2]) < int(f[3]) and f[4] == "1" and f[5] == "true", seen
        assert proc.returncode == 0, "the refresh failed"
        assert one("SELECT count(*) FROM luxe.pipeline_progress") == "0"
        views_match_reference()

    @test("progress counts the bytes and rows parallel workers read, not only the leader's")
    def _():
        put_part("part-5b.csv", 6000, 57)
        # one object in 256 kB ranges, read by the workers alone: the first
        # requests pass, the later ones stall while the test looks
        faults({"storage.objects.get": ["pass"] * 8 + ["stall-for-4s-after-1K"] * 4})
        env = dict(os.environ, PGOPTIONS="-c luxe_fdw.parallel_range_size=256kB -c parallel_setup_cost=0 "
                   "-c parallel_tuple_cost=0 -c parallel_leader_participation=off")
        proc = subprocess.Popen(["psql", "-X", "-q", "-d", "postgres", "-c", "CALL luxe.refresh_pipeline()"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        seen, states = "", []
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            seen = one("SELECT phase || '|' || bytes_done || '|' || bytes_total FROM luxe.pipeline_progress")
            states.append(seen)
            if seen.startswith("loading|") and seen.split("|")[1] != "0":
                break
            time.sleep(0.1)
        _, err = proc.communicate(timeout=120)
        left = faults_left()
        assert proc.returncode == 0, err
        f = seen.split("|")
        assert f[0] == "loading" and 0 < int(f[1]) <= int(f[2]), (states[-20:], left, last_run())
        r = last_run()
        assert (r["status"], r["objects_added"], r["rows_inserted"]) == ("succeeded", "1", "6000"), r
        # and where the load's time went is the workers' (the leader read nothing)
        ph = json.loads(one("SELECT load_phases FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 1"))
        assert all((ph.get(k) or 0) > 0 for k in ("fetch_seconds", "parse_seconds", "convert_seconds")), ph
        views_match_reference()

    @test("a cancel in the middle of an incremental run changes nothing; the next run does exactly the rest")
    def _():
        put_part("part-6.csv", 2500, 53)
        before = one("SELECT count(*) || '/' || (SELECT count(*) FROM luxe.pipeline_manifest) "
                     "|| '/' || (SELECT active::text FROM luxe_store.insight_state) FROM luxe.listings")
        faults({"storage.objects.get": ["stall-for-30s-after-64K"]})
        proc = subprocess.Popen(["psql", "-X", "-q", "-d", "postgres", "-c", "CALL luxe.refresh_pipeline()"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        pid = ""
        while time.time() < deadline and not pid:
            pid = one("SELECT pid FROM luxe.pipeline_progress WHERE phase = 'loading' AND bytes_done > 0")
            time.sleep(0.1)
        assert pid, "the load never started"
        one("SELECT pg_cancel_backend(%s)" % pid)
        _, err = proc.communicate(timeout=60)
        faults_clear()
        assert "canceling statement due to user request" in err, err
        r = last_run()
        assert (r["status"], r["error"]) == ("failed", "57014: canceled by user"), r
        after = one("SELECT count(*) || '/' || (SELECT count(*) FROM luxe.pipeline_manifest) "
                    "|| '/' || (SELECT active::text FROM luxe_store.insight_state) FROM luxe.listings")
        assert before == after, (before, after)
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert (r["status"], r["objects_added"], r["rows_inserted"]) == ("succeeded", "1", "2500"), r
        views_match_reference()

    @test("every finished attempt is a NOTIFY luxe_pipeline with the run as JSON")
    def _():
        import psycopg2
        conn = psycopg2.connect(dbname="postgres", host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                                user=os.environ["PGUSER"])
        conn.autocommit = True
        conn.cursor().execute("LISTEN luxe_pipeline")
        psql("CALL luxe.refresh_pipeline()")
        got = None
        deadline = time.time() + 10
        while got is None and time.time() < deadline:
            if select.select([conn], [], [], 1) != ([], [], []):
                conn.poll()
                while conn.notifies:
                    got = json.loads(conn.notifies.pop(0).payload)
        conn.close()
        r = last_run()
        assert got and got["run_id"] == int(r["run_id"]) and got["status"] == "skipped", got

    class Hook(http.server.BaseHTTPRequestHandler):
        received = []

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            Hook.received.append((self.headers.get("Content-Type"), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    @test("the webhook gets failures (and successes when asked); a dead webhook never fails a run")
    def _():
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        port = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d/hook" % port
        psql("SELECT luxe.setup_pipeline('ops_src', alert_url => '%s', alert_on_success => true)" % url)
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert r["alert"] == "delivered (HTTP 200)", r
        assert Hook.received and Hook.received[-1][1]["run_id"] == int(r["run_id"]), Hook.received
        assert Hook.received[-1][0].startswith("application/json"), Hook.received[-1]
        # a failure is sent even without alert_on_success
        psql("SELECT luxe.setup_pipeline('ops_src', alert_url => '%s')" % url)
        faults({"storage.objects.list": ["return-500"] * 3})
        p = psql("CALL luxe.refresh_pipeline()", check=False)
        faults_clear()
        assert p.returncode != 0
        r = last_run()
        assert r["status"] == "failed" and Hook.received[-1][1]["status"] == "failed", (r, Hook.received[-1])
        assert Hook.received[-1][1]["error"] == r["error"], Hook.received[-1]
        srv.shutdown()
        srv.server_close()
        # the webhook is down: the run still succeeds, the failure to alert is recorded
        psql("SELECT luxe.setup_pipeline('ops_src', alert_url => '%s', alert_on_success => true)" % url)
        psql("CALL luxe.refresh_pipeline()")
        r = last_run()
        assert r["status"] == "skipped" and r["alert"].startswith("not delivered"), r
        psql("SELECT luxe.setup_pipeline('ops_src')")

    @test("a timeout bounds each attempt: a timed-out attempt fails and the retry succeeds")
    def _():
        # the first download stalls past the deadline
        faults({"storage.objects.get": ["stall-for-8s-after-64K"]})
        t0 = time.time()
        psql("CALL luxe.refresh_pipeline(full => true, timeout => '2 seconds', retries => 1, "
             "retry_delay => '10ms')")
        took = time.time() - t0
        faults_clear()
        runs = one("SELECT string_agg(attempt || ':' || status || ':' || coalesce(error, ''), ';' "
                   "ORDER BY run_id) FROM (SELECT * FROM luxe.pipeline_runs ORDER BY run_id DESC LIMIT 2) r")
        assert runs == ("1:failed:57014: the attempt timed out (timeout of luxe.refresh_pipeline);"
                        "2:succeeded:"), runs
        assert took < 8, "took %.1f s: the stall was not cut short" % took
        views_match_reference()
        psql("CREATE EXTENSION IF NOT EXISTS pg_cron")
        job = one("SELECT luxe.schedule_pipeline('0 3 * * *', timeout => '2 hours')")
        cmd = one("SELECT command FROM cron.job WHERE jobid = %s" % job)
        psql("SELECT luxe.unschedule_pipeline()")
        assert "timeout => '02:00:00'" in cmd, cmd

    @test("BI tools list and read the insights: pgJDBC getTables(TABLE, VIEW) and psycopg2 over "
          "information_schema, as the read-only role of the README, over TCP")
    def _():
        psql("DROP ROLE IF EXISTS bi_reader; CREATE ROLE bi_reader LOGIN PASSWORD 'bi-reader-pw'; "
             "GRANT USAGE ON SCHEMA luxe TO bi_reader; "
             "GRANT SELECT ON luxe.sellers_by_country, luxe.brand_prices, luxe.product_types_by_brand, "
             "luxe.sales_by_ship_interval, luxe.last_refresh TO bi_reader")
        want = {"sellers_by_country", "brand_prices", "product_types_by_brand", "sales_by_ship_interval"}
        counts = {v: one("SELECT count(*) FROM luxe.%s" % v) for v in want}
        port = os.environ["PGPORT"]
        try:
            p = subprocess.run(["java", "-cp", "/usr/share/java/postgresql.jar",
                                os.path.join(HERE, "BiListing.java"),
                                "jdbc:postgresql://127.0.0.1:%s/postgres" % port, "bi_reader", "bi-reader-pw"],
                               capture_output=True, text=True, timeout=300)
            assert p.returncode == 0, p.stderr[-1500:]
            listed = {l.split()[1]: l.split()[2] for l in p.stdout.splitlines() if l.startswith("listed ")}
            read = {l.split()[1]: l.split()[2] for l in p.stdout.splitlines() if l.startswith("read ")}
            assert want <= set(listed) and all(listed[v] == "VIEW" for v in want), listed
            assert all(read.get(v) == counts[v] for v in want), (read, counts)
            import psycopg2
            conn = psycopg2.connect(dbname="postgres", host="127.0.0.1", port=port, user="bi_reader",
                                    password="bi-reader-pw")
            cur = conn.cursor()
            cur.execute("SELECT table_name, table_type FROM information_schema.tables "
                        "WHERE table_schema = 'luxe'")
            tables = dict(cur.fetchall())
            cur.execute("SELECT table_name FROM information_schema.views WHERE table_schema = 'luxe'")
            views = {r[0] for r in cur.fetchall()}
            assert want <= set(tables) and all(tables[v] == "VIEW" for v in want), tables
            assert want <= views, views
            for v in want:
                cur.execute("SELECT count(*) FROM luxe.%s" % v)
                assert str(cur.fetchone()[0]) == counts[v], v
            conn.close()
        finally:
            psql("DROP OWNED BY bi_reader; DROP ROLE bi_reader")

    @test("a refresh never waits for a reader idle in an open transaction, nor the reader for it")
    def _():
        import psycopg2
        conn = psycopg2.connect(dbname="postgres", host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                                user=os.environ["PGUSER"])
        cur = conn.cursor()
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("SELECT count(*), sum(listings) FROM luxe.brand_prices")
        seen = cur.fetchone()
        t0 = time.time()
        psql("CALL luxe.refresh_pipeline(full => true)", timeout=120)
        took = time.time() - t0
        cur.execute("SELECT count(*), sum(listings) FROM luxe.brand_prices")
        again = cur.fetchone()
        conn.rollback()
        cur.execute("SELECT count(*) FROM luxe.brand_prices")
        conn.close()
        assert last_run()["status"] == "succeeded"
        assert seen == again, "the reader's snapshot changed under it: %r %r" % (seen, again)
        assert took < 60, took

    return report("pipeline-ops")


if __name__ == "__main__":
    sys.exit(main())

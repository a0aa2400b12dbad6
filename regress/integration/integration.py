#!/usr/bin/env python3
"""Integration tests of luxe_fdw against the local emulator.

Runs against the cluster and emulator that run-tests.sh started (PGHOST,
PGPORT, PGUSER, LUXE_EMULATOR_URL, LUXE_ROOT in the environment).  Each test
compares what luxe_fdw returns with an independent reading of the same bytes
by Python's csv module, or checks a property users rely on (bounded memory,
retries that lose no row, cancellation).  Prints "ok N - name" lines and
"integration: N passed, M failed".
"""
import csv
import decimal
import gzip
import hashlib
import io
import json
import math
import re
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# every psql, generator and checker call is bounded: a hang is a failed test
TIMEOUT = int(os.environ.get("LUXE_CALL_TIMEOUT", "600"))
REGRESS = os.path.dirname(HERE)
TOOLS = os.path.join(REGRESS, "tools")
sys.path.insert(0, TOOLS)
ROOT = os.environ["LUXE_ROOT"]
URL = os.environ["LUXE_EMULATOR_URL"]
results = []

from vestiaire_schema import COLDEFS, COLUMNS  # noqa: E402


def psql(sql, check=True):
    p = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                        "-d", "postgres", "-c", sql],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if check and p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return p


def test(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:  # report and go on
            results.append((False, name, str(e)))
    return wrap


def emulator(method, path, body=None):
    req = urllib.request.Request(URL + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def generate(rows, seed, name):
    path = os.path.join(ROOT, "vestiaire", *name.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([sys.executable, os.path.join(REGRESS, "gen_vestiaire"), "--rows", str(rows),
                    "--seed", str(seed), "--out", path], check=True, timeout=TIMEOUT)
    return path


def python_summary(path):
    """Per-column non-null counts and sums, read independently with csv."""
    nonnull = [0] * len(COLUMNS)
    sums = [0.0] * len(COLUMNS)
    rows = 0
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        for rec in r:
            rows += 1
            for i, (name, typ) in enumerate(COLUMNS):
                v = rec[i]
                if v == "":
                    continue
                nonnull[i] += 1
                if typ in ("bigint", "float8"):
                    sums[i] += float(v)
                elif typ == "boolean":
                    sums[i] += 1 if v == "True" else 0
                else:
                    sums[i] += len(v)
    return rows, nonnull, sums


def sql_summary(table):
    parts = ["count(*)"]
    for name, typ in COLUMNS:
        parts.append("count(%s)" % name)
        if typ in ("bigint", "float8"):
            parts.append("coalesce(sum(%s::float8),0)" % name)
        elif typ == "boolean":
            parts.append("count(*) FILTER (WHERE %s)" % name)
        else:
            parts.append("coalesce(sum(length(%s)),0)" % name)
    out = psql("SELECT %s FROM %s" % (", ".join(parts), table)).stdout.strip().split("|")
    rows = int(out[0])
    nonnull = [int(out[1 + 2 * i]) for i in range(len(COLUMNS))]
    sums = [float(out[2 + 2 * i]) for i in range(len(COLUMNS))]
    return rows, nonnull, sums


def _render_python(typ, v):
    """One CSV value as column_digests renders it (NULL: N)."""
    if v == "":
        return "N"
    if typ == "bigint":
        return "V" + str(int(v))
    if typ == "float8":
        return "V" + struct.pack(">d", float(v)).hex()
    if typ == "boolean":
        return "V" + {"True": "t", "False": "f"}[v]
    return "V%d:%s" % (len(v), v)


def python_digests(path):
    """Per column, the md5 of its values in product_id order, read with Python's
    csv module: every value of every row, exactly (floats by their IEEE bits,
    text by length and content)."""
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        rows = sorted(r, key=lambda rec: int(rec[0]))
    out = {}
    for i, (name, typ) in enumerate(COLUMNS):
        out[name] = hashlib.md5("|".join(_render_python(typ, rec[i]) for rec in rows)
                                .encode("utf-8")).hexdigest()
    return len(rows), out


def sql_digests(table, settings=""):
    """The same digests, computed by PostgreSQL over what luxe_fdw returns."""
    render = {"bigint": "%s::text", "float8": "encode(float8send(%s), 'hex')",
              "boolean": "CASE WHEN %s THEN 't' ELSE 'f' END", "text": "length(%s) || ':' || %s"}
    parts = ["count(*)"]
    for name, typ in COLUMNS:
        expr = render[typ].replace("%s", name)
        parts.append("md5(string_agg(CASE WHEN %s IS NULL THEN 'N' ELSE 'V' || %s END, '|' "
                     "ORDER BY product_id))" % (name, expr))
    out = psql("%s SELECT %s FROM %s" % (settings, ", ".join(parts), table)).stdout.strip()
    vals = out.splitlines()[-1].split("|")
    return int(vals[0]), dict(zip([c[0] for c in COLUMNS], vals[1:]))


def same_digests(got, want):
    if got[0] != want[0]:
        raise AssertionError("rows %d != %d" % (got[0], want[0]))
    bad = [c for c in want[1] if got[1][c] != want[1][c]]
    if bad:
        raise AssertionError("columns differ: %s" % ", ".join(bad))


def same_summary(a, b):
    if a[0] != b[0]:
        raise AssertionError("rows %d != %d" % (a[0], b[0]))
    for i, (name, _) in enumerate(COLUMNS):
        if a[1][i] != b[1][i]:
            raise AssertionError("%s: %d non-null != %d" % (name, a[1][i], b[1][i]))
        if not math.isclose(a[2][i], b[2][i], rel_tol=1e-9, abs_tol=1e-6):
            raise AssertionError("%s: sum %r != %r" % (name, a[2][i], b[2][i]))


def main():
    psql("CREATE EXTENSION IF NOT EXISTS luxe_fdw")
    psql("DROP SERVER IF EXISTS itest CASCADE")
    psql("CREATE SERVER itest FOREIGN DATA WRAPPER luxe_fdw "
         "OPTIONS (service 'gcs', endpoint '%s', retry_max_delay '50ms')" % URL)
    psql("CREATE USER MAPPING FOR CURRENT_USER SERVER itest OPTIONS (auth 'none')")

    big = generate(120000, 7, "it/one.csv")
    expect = python_summary(big)
    digests = python_digests(big)
    psql("CREATE FOREIGN TABLE it_one (%s) SERVER itest OPTIONS "
         "(uri 'gs://vestiaire/it/one.csv', skip_leading_rows '1')" % COLDEFS)

    @test("120k generated rows: every value of every column matches Python's csv reading")
    def _():
        same_digests(sql_digests("it_one"), digests)

    @test("parsing 1000 bytes at a time gives the same rows")
    def _():
        psql("ALTER FOREIGN TABLE it_one OPTIONS (ADD header_mapping 'true')")
        try:
            p = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-d", "postgres", "-c",
                                "SET luxe_fdw.parse_chunk_size = 1000; SELECT count(*), "
                                "sum(length(product_description)), count(usually_ships_within) FROM it_one"],
                               capture_output=True, text=True, check=True, timeout=TIMEOUT)
            got = p.stdout.split()[-1].split("|")
            i_desc = [c[0] for c in COLUMNS].index("product_description")
            i_ship = [c[0] for c in COLUMNS].index("usually_ships_within")
            assert int(got[0]) == expect[0], got
            assert int(got[1]) == int(expect[2][i_desc]), got
            assert int(got[2]) == expect[1][i_ship], got
        finally:
            psql("ALTER FOREIGN TABLE it_one OPTIONS (DROP header_mapping)")

    # the same rows split into part files with a header each, read by wildcard
    with open(big, newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    header, body = lines[0], lines[1:]

    def write_parts(folder, nparts, per_part):
        """nparts part objects of per_part rows of body each, with the header."""
        for i in range(nparts):
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(header)
            w.writerows(body[i * per_part:(i + 1) * per_part])
            path = os.path.join(ROOT, "vestiaire", "it", folder, "part-%05d.csv" % i)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as out:
                out.write(buf.getvalue())

    write_parts("parts.csv", 4, len(body) // 4 + 1)
    psql("CREATE FOREIGN TABLE it_parts (%s) SERVER itest OPTIONS "
         "(uri 'gs://vestiaire/it/parts.csv/*.csv', skip_leading_rows '1')" % COLDEFS)

    @test("wildcard over 4 part files equals the single object, value for value")
    def _():
        same_digests(sql_digests("it_parts"), digests)

    @test("a parallel scan of the 4 part files returns the same rows")
    def _():
        plan = psql("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                    "EXPLAIN (COSTS OFF) SELECT count(*) FROM it_parts").stdout
        assert "Parallel Foreign Scan" in plan, plan
        got = psql("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                   "SELECT count(*), sum(price_usd)::numeric(20,2), count(DISTINCT product_id) FROM it_parts").stdout
        want = psql("SET max_parallel_workers_per_gather = 0; "
                    "SELECT count(*), sum(price_usd)::numeric(20,2), count(DISTINCT product_id) FROM it_parts").stdout
        assert got == want and got.split("|")[0].strip() == str(expect[0]), (got, want)

    # the first 2400 rows again, as 80 small part objects (~17 KB each):
    # their reads are started ahead of the parsing (requests_in_flight)
    write_parts("small", 80, 30)
    psql("CREATE FOREIGN TABLE it_small (%s) SERVER itest OPTIONS "
         "(uri 'gs://vestiaire/it/small/*.csv', skip_leading_rows '1')" % COLDEFS)
    small_sum = ("SET max_parallel_workers_per_gather = 0; SELECT count(*), sum(price_usd)::numeric(20,2), "
                 "sum(length(product_description)), count(DISTINCT product_id) FROM it_small")

    def in_flight(n):
        psql("ALTER SERVER itest OPTIONS (%s requests_in_flight '%d')"
             % ("SET" if "requests_in_flight" in psql("SELECT srvoptions::text FROM pg_foreign_server "
                                                       "WHERE srvname = 'itest'").stdout else "ADD", n))

    @test("80 small objects read with 16 requests in flight give the rows of one at a time, under faults too")
    def _():
        in_flight(1)
        one_by_one = psql(small_sum).stdout
        in_flight(16)
        assert psql(small_sum).stdout == one_by_one
        assert one_by_one.split("|")[0].strip().endswith("2400"), one_by_one
        # faults on reads started ahead: a 503, a reset and a body cut
        # short are retried (a read ahead is an ordinary first attempt)
        emulator("POST", "/_emulator/faults", {"instructions": {"storage.objects.get": [
            "pass", "pass", "pass", "return-503", "pass", "return-reset-connection", "pass",
            "return-broken-stream-after-4K", "return-429"]}})
        try:
            got = psql(small_sum).stdout
            left = json.loads(emulator("GET", "/_emulator/faults"))["instructions"]
        finally:
            emulator("DELETE", "/_emulator/faults")
        assert not any(left.values()), left
        assert got == one_by_one, (got, one_by_one)
        # and in a parallel scan, whose processes claim objects ahead
        got = psql("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; " + small_sum.split(";", 1)[1]).stdout
        assert got == one_by_one, (got, one_by_one)

    @test("at 30 ms per request, 80 small objects with 16 requests in flight take under 40 % of one at a time")
    def _():
        emulator("POST", "/_emulator/latency", {"ms": 30})
        try:
            t = {}
            for n in (1, 16, 1, 16):
                in_flight(n)
                t0 = time.perf_counter()
                psql(small_sum)
                t.setdefault(n, []).append(time.perf_counter() - t0)
        finally:
            emulator("POST", "/_emulator/latency", {"ms": 0})
            in_flight(16)
        assert min(t[16]) < 0.4 * min(t[1]), t

    @test("IMPORT FOREIGN SCHEMA samples 40 objects with 16 requests in flight: same tables, under 60 % of the time")
    def _():
        for i in range(40):
            src = os.path.join(ROOT, "vestiaire", "it", "small", "part-%05d.csv" % i)
            dst = os.path.join(ROOT, "vestiaire", "it", "imp", "listing-%02d.csv" % i)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
        emulator("GET", "/storage/v1/b/vestiaire/o?prefix=it/imp/")       # (hashes, outside the timing)
        emulator("POST", "/_emulator/latency", {"ms": 30})
        got, t = {}, {}
        try:
            for n in (1, 16, 1, 16):
                in_flight(n)
                t0 = time.perf_counter()
                psql("DROP SCHEMA IF EXISTS it_imp CASCADE; CREATE SCHEMA it_imp; "
                     "IMPORT FOREIGN SCHEMA \"gs://vestiaire/it/imp/\" FROM SERVER itest INTO it_imp")
                t.setdefault(n, []).append(time.perf_counter() - t0)
                got[n] = psql("SELECT string_agg(c.relname || ':' || a.attname || ':' || format_type(a.atttypid, NULL), "
                              "',' ORDER BY c.relname, a.attnum) FROM pg_class c JOIN pg_attribute a "
                              "ON a.attrelid = c.oid AND a.attnum > 0 "
                              "WHERE c.relnamespace = 'it_imp'::regnamespace").stdout
        finally:
            emulator("POST", "/_emulator/latency", {"ms": 0})
            in_flight(16)
            psql("DROP SCHEMA IF EXISTS it_imp CASCADE")
        assert got[1] == got[16] and got[1].count("listing_") >= 40, (got[1][:300], got[16][:300])
        assert min(t[16]) < 0.6 * min(t[1]), t

    @test("EXPLAIN ANALYZE counts the objects, bytes and requests, serial and parallel")
    def _():
        # serial: in a parallel scan each process counts its own transfers
        out = psql("SET max_parallel_workers_per_gather = 0; "
                   "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM it_parts").stdout
        plan = json.loads(out)[0]["Plan"]["Plans"][0]
        size = sum(os.path.getsize(os.path.join(ROOT, "vestiaire", "it", "parts.csv", n))
                   for n in os.listdir(os.path.join(ROOT, "vestiaire", "it", "parts.csv")))
        assert plan["GCS Objects"] == 4, plan
        assert plan["GCS Bytes"] == size and plan["Bytes Fetched"] == size, plan
        assert plan["Requests"] == 5 and plan["Rows Produced"] == expect[0], plan
        # parallel: the leader adds the workers' counters to its own
        out = psql("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                   "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM it_parts").stdout
        node = json.loads(out)[0]["Plan"]
        while node.get("Node Type") != "Foreign Scan":
            node = node["Plans"][0]
        assert node.get("Parallel Aware"), node
        assert node["Rows Produced"] == expect[0], node
        # parts larger than a range are split: each range's process reads a
        # few kB past its end, to the next record boundary
        assert size <= node["Bytes Fetched"] <= size + 64 * 1024 * node["Requests"], node

    # --- one object split into byte ranges by a parallel scan (issue 12)
    def boundary_csv(seed, nboundaries, rng, eol="\n", bom=False):
        """A CSV whose quoted line breaks, quoted CRLFs, doubled quotes,
        opening and closing quotes, record ends and blank lines fall exactly
        two bytes before, one byte before, at and one byte after byte
        k * rng - 1 (the byte that decides where range k starts) for every
        k, with lines inside quoted fields that read as records if parsed
        from the wrong state, and random records between.  Returns the text
        and the start line of each record, in order."""
        import random
        rnd = random.Random(seed)
        parts = ["\ufeff" if bom else "", "id,txt,n" + eol]
        state = {"bytes": len("".join(parts).encode("utf-8")), "lfs": parts[1].count("\n"),
                 "id": 0}
        starts = []

        def add(text, record=True):
            if record:
                starts.append(state["lfs"] + 1)
            parts.append(text)
            state["bytes"] += len(text.encode("utf-8"))
            state["lfs"] += text.count("\n")

        def next_id():
            state["id"] += 1
            return "%06d" % state["id"]

        # (record with ID for its id, the key bytes; the first of them lands on the target)
        events = [
            ('ID,"a\nb",1' + eol, "\n"),           # a quoted LF
            ('ID,"a\r\nb",2' + eol, "\r"),         # a quoted CRLF
            ('ID,"a""b",3' + eol, '""'),           # a doubled quote
            ('ID,"ab",4' + eol, '",'),             # a closing quote
            ('ID,"ab",5' + eol, '"a'),             # an opening quote
            ('ID,ab,6' + eol, eol),                # a record end
            ('ID,"",7' + eol, '""'),               # a quoted empty string
            ('ID,"z\n9,""w"",3\n1,x,2",8' + eol, "\n"),  # records inside quotes
            ('ID,"x\n""",9' + eol, '\n"'),         # a quote after a quoted LF
            ('ID,"a,\n",10' + eol, ",\n"),         # a quoted delimiter and LF
            (eol, eol),                            # a blank line
        ]
        combos = [(e, d) for e in range(len(events)) for d in (-2, -1, 0, 1)]
        c = 0
        for k in range(1, nboundaries + 1):
            tmpl, key = events[combos[c % len(combos)][0]]
            target = k * rng - 1 + combos[c % len(combos)][1]
            rec = tmpl.replace("ID", "000000")
            need = target - state["bytes"] - (11 + len(eol)) - rec.index(key)
            if need < 0:
                continue                           # the last records reach past it
            add('%s,"%s",0%s' % (next_id(), "x" * need, eol))
            add(tmpl.replace("ID", next_id()), record=tmpl != eol)
            c += 1
            for _ in range(rnd.randrange(0, 3)):
                body = "".join(rnd.choice('ab ,"\n\r') for _ in range(rnd.randrange(0, 40)))
                add('%s,"%s",%d%s' % (next_id(), body.replace('"', '""'), rnd.randrange(100), eol))
        return "".join(parts), starts

    def expected_rows(text, starts):
        """(id, line, txt, n) per record, values by Python's csv module."""
        r = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
        next(r)
        rows = [rec for rec in r if rec]
        assert len(rows) == len(starts), (len(rows), len(starts))
        return [(int(rec[0]), line, rec[1], int(rec[2])) for rec, line in zip(rows, starts)]

    def digest_rows(rows):
        return len(rows), hashlib.md5("|".join("%d:%d:%d:%s:%d" % (i, ln, len(t), t, n)
                                              for i, ln, t, n in sorted(rows)).encode()).hexdigest()

    def scan_digest(table, settings):
        out = psql(settings + " SELECT count(*), md5(string_agg(id || ':' || ln || ':' || length(txt) "
                   "|| ':' || txt || ':' || n, '|' ORDER BY id)) FROM %s" % table).stdout.strip()
        n, h = out.splitlines()[-1].split("|")
        return int(n), h

    PARALLEL = ("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                "SET max_parallel_workers_per_gather = 2; SET luxe_fdw.parallel_range_size = %d;")
    split_files = {
        "lf": boundary_csv(12, 120, 1024),
        "crlf_bom": boundary_csv(13, 120, 1024, eol="\r\n", bom=True),
    }
    for name, (text, _) in split_files.items():
        path = os.path.join(ROOT, "vestiaire", "it", "split", name + ".csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        psql("CREATE FOREIGN TABLE it_split_%s (id int, txt text, n int, ln bigint OPTIONS (metadata 'line')) "
             "SERVER itest OPTIONS (uri 'gs://vestiaire/it/split/%s.csv', skip_leading_rows '1', "
             "allow_quoted_newlines 'true')" % (name, name))

    @test("one object split into ranges of 1 kB: boundaries at, before and after quotes, "
          "quoted line breaks and record ends give Python's rows and lines")
    def _():
        for name, (text, starts) in split_files.items():
            want = digest_rows(expected_rows(text, starts))
            plan = psql(PARALLEL % 1024 + " EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
                        "SELECT * FROM it_split_%s" % name).stdout
            assert "Parallel Foreign Scan" in plan and "Workers Launched: 2" in plan, plan
            assert re.search(r"GCS Split: 1 of 1 objects in ranges of 1 kB, \d+ units", plan), plan
            assert scan_digest("it_split_" + name, "SET max_parallel_workers_per_gather = 0;") == want, name
            for size in (1024, 1023, 1025, 97, 7):
                got = scan_digest("it_split_" + name, PARALLEL % size)
                assert got == want, (name, size, got, want)
            # the workers alone, and with header mapping (each reads the header)
            got = scan_digest("it_split_" + name, PARALLEL % 1024 + " SET parallel_leader_participation = off;")
            assert got == want, (name, "workers only", got)
            psql("ALTER FOREIGN TABLE it_split_%s OPTIONS (ADD header_mapping 'true')" % name)
            try:
                got = scan_digest("it_split_" + name, PARALLEL % 512)
            finally:
                psql("ALTER FOREIGN TABLE it_split_%s OPTIONS (DROP header_mapping)" % name)
            assert got == want, (name, "header mapping", got)

    @test("a wildcard shares whole small objects and the ranges of a large one; gzip is read whole")
    def _():
        folder = os.path.join(ROOT, "vestiaire", "it", "split_mix")
        os.makedirs(folder, exist_ok=True)
        want = []
        for i, seed in enumerate((21, 22, 23)):
            # one large object, two smaller than a range
            text, starts = boundary_csv(seed, 40, 1024) if i == 0 else boundary_csv(seed, 3, 200)
            assert i == 0 or len(text) < 1024
            with open(os.path.join(folder, "part-%d.csv" % i), "w", encoding="utf-8", newline="") as f:
                f.write(text)
            want += [(r[0] + 1000000 * i,) + r[1:] for r in expected_rows(text, starts)]
        with open(os.path.join(folder, "part-3.csv.gz"), "wb") as f:
            text, starts = boundary_csv(24, 40, 1024)
            f.write(gzip.compress(text.encode("utf-8"), mtime=0))
        want += [(r[0] + 3000000,) + r[1:] for r in expected_rows(text, starts)]
        psql("CREATE FOREIGN TABLE it_split_mix (id int, txt text, n int, ln bigint OPTIONS (metadata 'line'), "
             "obj text OPTIONS (metadata 'object')) SERVER itest OPTIONS "
             "(uri 'gs://vestiaire/it/split_mix/part-*', skip_leading_rows '1', allow_quoted_newlines 'true')")
        try:
            view = ("(SELECT id + 1000000 * substring(obj FROM 'part-(\\d)')::int AS id, ln, txt, n "
                    "FROM it_split_mix) s")
            plan = psql(PARALLEL % 1024 + " EXPLAIN (COSTS OFF) SELECT * FROM it_split_mix").stdout
            assert "GCS Split: 1 of 4 objects in ranges of 1 kB" in plan, plan
            assert "1 gzip object read whole (not splittable)" in plan, plan
            assert scan_digest(view, PARALLEL % 1024) == digest_rows(want)
            assert scan_digest(view, "SET max_parallel_workers_per_gather = 0;") == digest_rows(want)
            # a serial plan splits nothing, but says why a gzip object would not be
            plan = psql("SET max_parallel_workers_per_gather = 0; SET luxe_fdw.parallel_range_size = 1024; "
                        "EXPLAIN (COSTS OFF) SELECT * FROM it_split_mix").stdout
            assert "GCS Split: none; 1 gzip object read whole (not splittable)" in plan, plan
        finally:
            psql("DROP FOREIGN TABLE it_split_mix")

    @test("errors in a split object name the same line as a serial scan")
    def _():
        text, starts = boundary_csv(31, 60, 1024)
        lines = text.split("\n")
        # a record with a quote inside an unquoted field, deep in the object
        bad_line = starts[len(starts) * 2 // 3]
        lines.insert(bad_line - 1, '999999,ab"c,1')
        bad = "\n".join(lines)
        cut = bad_line - 1
        with open(os.path.join(ROOT, "vestiaire", "it", "split", "bad.csv"), "w", newline="") as f:
            f.write(bad)
        psql("CREATE FOREIGN TABLE it_split_bad (id int, txt text, n int) SERVER itest OPTIONS "
             "(uri 'gs://vestiaire/it/split/bad.csv', skip_leading_rows '1', allow_quoted_newlines 'true')")
        try:
            serial = psql("SET max_parallel_workers_per_gather = 0; SELECT count(*) FROM it_split_bad",
                          check=False).stderr
            assert "malformed CSV row" in serial and "line %d" % (cut + 1) in serial, serial
            for size in (1024, 300, 5):
                par = psql(PARALLEL % size + " SELECT count(*) FROM it_split_bad", check=False).stderr
                ctx = [l for l in par.splitlines() if "parallel worker" not in l]
                assert "malformed CSV row" in par and "line %d" % (cut + 1) in par, (size, par)
                assert ctx[0] == [l for l in serial.splitlines()][0], (ctx, serial)
        finally:
            psql("DROP FOREIGN TABLE it_split_bad")

    # bounded memory: peak RSS does not grow with the object size
    huge = generate(400000, 8, "it/huge.csv")

    def peak_rss_kb(table):
        out = psql("SELECT count(*) FROM %s; SELECT substring(pg_read_file('/proc/self/status') "
                   "FROM 'VmHWM:\\s+(\\d+)')" % table).stdout.split()
        return int(out[-1])

    psql("CREATE FOREIGN TABLE it_huge (%s) SERVER itest OPTIONS "
         "(uri 'gs://vestiaire/it/huge.csv', skip_leading_rows '1')" % COLDEFS)

    @test("peak backend memory does not grow with object size (70 MB vs 235 MB)")
    def _():
        small = peak_rss_kb("it_one")
        large = peak_rss_kb("it_huge")
        assert large - small < 32 * 1024, "peak RSS %d kB vs %d kB" % (large, small)
        assert os.path.getsize(huge) > 3 * os.path.getsize(big)

    # retries: a faulted scan returns exactly the rows of a clean one
    checksum = "SELECT count(*), md5(string_agg(product_id::text || brand_name || coalesce(usually_ships_within,''), ',' ORDER BY product_id)) FROM it_one"
    clean = psql(checksum).stdout.strip()

    def faulted(instructions):
        """The checksum under injected faults; every fault must be used up."""
        emulator("POST", "/_emulator/faults", {"instructions": instructions})
        try:
            got = psql(checksum).stdout.strip()
            left = json.loads(emulator("GET", "/_emulator/faults"))["instructions"]
            assert not any(left.values()), "faults not consumed: %r" % left
            return got
        finally:
            emulator("DELETE", "/_emulator/faults")

    # NB: storage.objects.get covers metadata requests too (one at planning,
    # one at execution); a fault that needs a body larger than a metadata
    # response is used up harmlessly by them, so such lists are longer.

    @test("503 and 429 on listing and download are retried")
    def _():
        got = faulted({"storage.objects.get": ["return-503", "return-429", "return-503"]})
        assert got == clean, (got, clean)

    @test("503, 429 and 408 on a wildcard listing are retried")
    def _():
        emulator("POST", "/_emulator/faults",
                 {"instructions": {"storage.objects.list": ["return-503", "return-429", "return-408"]}})
        try:
            got = psql("SELECT count(*) FROM it_parts").stdout.strip()
            left = json.loads(emulator("GET", "/_emulator/faults"))["instructions"]
        finally:
            emulator("DELETE", "/_emulator/faults")
        assert int(got) == expect[0], got
        assert not any(left.values()), left

    @test("a transfer cut twice mid-body resumes with Range and loses no row")
    def _():
        got = faulted({"storage.objects.get": ["return-broken-stream-after-256K"] * 2 +
                       ["return-broken-stream-after-256K", "return-broken-stream-after-1024K"]})
        assert got == clean, (got, clean)

    @test("a request that fails after a resume backs off from the first step (the resume is no failed retry)")
    def _():
        emulator("POST", "/_emulator/faults", {"instructions": {"storage.objects.get": (
            ["return-broken-stream-after-256K"] * 3 + ["return-503", "return-503"])}})
        try:
            p = psql("SET client_min_messages = debug1; " + checksum)
            left = json.loads(emulator("GET", "/_emulator/faults"))["instructions"]
        finally:
            emulator("DELETE", "/_emulator/faults")
        assert not any(left.values()), left
        assert p.stdout.strip() == clean, (p.stdout, clean)
        steps = re.findall(r"\(HTTP 503\), backoff step (\d+)", p.stderr)
        assert steps == ["0", "1"], (steps, p.stderr[-2000:])

    @test("statement_timeout interrupts a stalled transfer within a second")
    def _():
        emulator("POST", "/_emulator/faults",
                 {"instructions": {"storage.objects.get": ["stall-for-20s-after-64K"] * 3}})
        try:
            t0 = time.time()
            p = psql("SET statement_timeout = '500ms'; SELECT count(*) FROM it_one", check=False)
            elapsed = time.time() - t0
        finally:
            emulator("DELETE", "/_emulator/faults")
        assert "canceling statement due to statement timeout" in p.stderr, p.stderr
        assert elapsed < 1.5, "took %.2f s" % elapsed

    @test("Retry-After is honoured: a 503 asking for 2 s waits 2 s, a bare 503 does not")
    def _():
        psql("DROP SERVER IF EXISTS itest_ra CASCADE")
        psql("CREATE SERVER itest_ra FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', "
             "endpoint '%s', retry_initial_delay '10ms', retry_max_delay '10s')" % URL)
        psql("CREATE USER MAPPING FOR CURRENT_USER SERVER itest_ra OPTIONS (auth 'none')")
        psql("CREATE FOREIGN TABLE it_ra (%s) SERVER itest_ra OPTIONS "
             "(uri 'gs://vestiaire/it/one.csv', skip_leading_rows '1')" % COLDEFS)
        try:
            timings = []
            for fault in ("return-503-retry-after-2", "return-503"):
                emulator("POST", "/_emulator/faults", {"instructions": {"storage.objects.get": [fault]}})
                t0 = time.time()
                got = psql("SELECT count(*) FROM it_ra").stdout.strip()
                timings.append(time.time() - t0)
                left = json.loads(emulator("GET", "/_emulator/faults"))["instructions"]
                emulator("DELETE", "/_emulator/faults")
                assert int(got) == expect[0] and not any(left.values()), (got, left)
            assert timings[0] >= 2.0, "Retry-After 2 s, waited %.2f s" % timings[0]
            assert timings[0] - timings[1] >= 1.5, timings
        finally:
            psql("DROP SERVER itest_ra CASCADE")

    # --- writes: INSERT streams a new object through a resumable upload
    psql("CREATE FOREIGN TABLE it_out (%s) SERVER itest OPTIONS "
         "(uri 'gs://vestiaire/it/out/part-*.csv', skip_leading_rows '1')" % COLDEFS)
    out_checksum = checksum.replace("FROM it_one", "FROM it_out")

    @test("INSERT ... SELECT of 120k rows writes an object that reads back identically")
    def _():
        n = psql("INSERT INTO it_out SELECT * FROM it_one").stdout
        assert psql(out_checksum).stdout.strip() == clean
        same_digests(sql_digests("it_out"), digests)
        outdir = os.path.join(ROOT, "vestiaire", "it", "out")
        names = os.listdir(outdir)
        assert len(names) == 1 and names[0].startswith("part-") and names[0].endswith(".csv"), names
        with open(os.path.join(outdir, names[0]), newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == [c[0] for c in COLUMNS], rows[0]
        assert len(rows) - 1 == expect[0], len(rows)
        # Python's csv module reads the same product ids in the same order
        i_id = [c[0] for c in COLUMNS].index("product_id")
        ids = psql("SELECT string_agg(product_id::text, ',') FROM it_one").stdout.strip()
        assert ",".join(r[i_id] for r in rows[1:]) == ids

    @test("an INSERT under upload faults (503, broken chunk, reset) writes the same rows")
    def _():
        shutil.rmtree(os.path.join(ROOT, "vestiaire", "it", "out"))
        emulator("POST", "/_emulator/faults", {"instructions": {"storage.objects.insert": [
            "return-503", "return-broken-stream-after-3000K", "return-503-after-1000K",
            "return-reset-connection"]}})
        try:
            psql("INSERT INTO it_out SELECT * FROM it_one")
            left = json.loads(emulator("GET", "/_emulator/faults"))["instructions"]
        finally:
            emulator("DELETE", "/_emulator/faults")
        assert not any(left.values()), "faults not consumed: %r" % left
        assert psql(out_checksum).stdout.strip() == clean
        assert len(os.listdir(os.path.join(ROOT, "vestiaire", "it", "out"))) == 1

    @test("when one upload of a commit fails, the objects it already made visible are taken back")
    def _():
        undo = os.path.join(ROOT, "vestiaire", "it", "undo")
        os.makedirs(undo, exist_ok=True)
        psql("CREATE FOREIGN TABLE it_undo_many (a int) SERVER itest OPTIONS (uri 'gs://vestiaire/it/undo/many-*.csv');"
             "CREATE FOREIGN TABLE it_undo_one (a int) SERVER itest OPTIONS (uri 'gs://vestiaire/it/undo/one.csv')")
        try:
            # another writer creates one.csv before the commit: its upload
            # fails at commit (ifGenerationMatch=0), after many-*.csv went out
            p = subprocess.run(["psql", "-X", "-q", "-d", "postgres"], input=(
                "BEGIN;\nINSERT INTO it_undo_many VALUES (1);\nINSERT INTO it_undo_one VALUES (2);\n"
                "\\! echo 9 > %s\nCOMMIT;\n" % os.path.join(undo, "one.csv")),
                capture_output=True, text=True, timeout=TIMEOUT)
            assert 'GCS object "gs://vestiaire/it/undo/one.csv" already exists' in p.stderr, p.stderr
            assert sorted(os.listdir(undo)) == ["one.csv"], os.listdir(undo)
        finally:
            psql("DROP FOREIGN TABLE it_undo_many, it_undo_one")

    # --- integrity: stored-bytes checksums, gzip transcoding, pinned generations
    def upload(bucket, name, data, metadata):
        boundary = "luxe-integration-boundary"
        body = ("--%s\r\nContent-Type: application/json\r\n\r\n%s\r\n--%s\r\n"
                "Content-Type: text/csv\r\n\r\n" % (boundary, json.dumps(metadata), boundary)).encode()
        body += data + ("\r\n--%s--" % boundary).encode()
        req = urllib.request.Request(
            URL + "/upload/storage/v1/b/%s/o?uploadType=multipart&name=%s" % (bucket, urllib.request.quote(name, safe="")),
            data=body, method="POST",
            headers={"Content-Type": "multipart/related; boundary=%s" % boundary})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    @test("an object stored with Content-Encoding gzip is read and its stored bytes hashed")
    def _():
        raw = open(big, "rb").read()
        meta = upload("vestiaire", "it/encoded.csv", gzip.compress(raw, mtime=0),
                      {"contentType": "text/csv", "contentEncoding": "gzip"})
        assert meta.get("contentEncoding") == "gzip", meta
        psql("CREATE FOREIGN TABLE it_enc (%s) SERVER itest OPTIONS "
             "(uri 'gs://vestiaire/it/encoded.csv', skip_leading_rows '1')" % COLDEFS)
        assert psql(checksum.replace("it_one", "it_enc")).stdout.strip() == clean
        plan = json.loads(psql("EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM it_enc").stdout)[0]["Plan"]["Plans"][0]
        assert plan["Bytes Fetched"] == int(meta["size"]) < len(raw), plan

    @test("a checksum mismatch between listed crc32c and bytes read is an error")
    def _():
        path = os.path.join(ROOT, "vestiaire", "it", "tamper.csv")
        data = b"id,name\n1,original\n2,original\n"
        with open(path, "wb") as f:
            f.write(data)
        psql("CREATE FOREIGN TABLE it_tamper (id int, name text) SERVER itest OPTIONS "
             "(uri 'gs://vestiaire/it/tamper.csv', skip_leading_rows '1')")
        assert psql("SELECT count(*) FROM it_tamper").stdout.strip() == "2"
        st = os.stat(path)
        with open(path, "wb") as f:          # same size and mtime: the listing keeps the old crc32c
            f.write(data.replace(b"original", b"tampered"))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        p = psql("SELECT count(*) FROM it_tamper", check=False)
        assert "checksum mismatch for GCS object" in p.stderr, p.stderr

    @test("a rescan reads the pinned generation; a replaced object is a clear error")
    def _():
        path = os.path.join(ROOT, "vestiaire", "it", "pinned.csv")
        with open(path, "w") as f:
            f.write("n\n" + "".join("%d\n" % i for i in range(1000)))
        psql("CREATE FOREIGN TABLE it_pinned (n int) SERVER itest OPTIONS "
             "(uri 'gs://vestiaire/it/pinned.csv', skip_leading_rows '1')")
        def replace():
            with open(path + ".new", "w") as f:
                f.write("n\n" + "".join("%d\n" % (i * 7) for i in range(1000)))
            os.replace(path + ".new", path)

        # the correlated subquery rescans the foreign scan for the second
        # outer row, which arrives after the object was replaced
        timer = threading.Timer(1.0, replace)
        timer.start()
        p = psql("SELECT g, (SELECT count(*) FROM it_pinned WHERE n >= g - g) FROM "
                 "(SELECT g, pg_sleep(CASE WHEN g = 2 THEN 2.5 ELSE 0 END) FROM generate_series(1, 2) g) s",
                 check=False)
        timer.join()
        assert "generation" in p.stderr and "is no longer available" in p.stderr, (p.stdout, p.stderr)
        assert psql("SELECT sum(n) FROM it_pinned").stdout.strip() == str(7 * 999 * 1000 // 2)

    # --- OAuth2: one token per backend and credential, reused until near expiry
    auth_url = os.environ.get("LUXE_EMULATOR_AUTH_URL")
    key_file = os.environ.get("LUXE_SA_KEY_FILE")

    @test("a service-account token is fetched once per backend and reused")
    def _():
        assert auth_url and key_file, "LUXE_EMULATOR_AUTH_URL / LUXE_SA_KEY_FILE not set"
        psql("DROP SERVER IF EXISTS itest_sa CASCADE")
        psql("CREATE SERVER itest_sa FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs', endpoint '%s');"
             "CREATE USER MAPPING FOR CURRENT_USER SERVER itest_sa "
             "OPTIONS (auth 'service_account', key_file '%s');"
             "CREATE FOREIGN TABLE it_sa (id int, name text, city text) SERVER itest_sa "
             "OPTIONS (uri 'gs://luxe-test/types/noheader.csv')" % (auth_url, key_file))

        def tokens():
            with urllib.request.urlopen(auth_url + "/_emulator/stats", timeout=60) as r:
                return json.loads(r.read())["requests"].get("oauth2.token", 0)

        before = tokens()
        p = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-d", "postgres",
                            "-c", "SELECT count(*) FROM it_sa", "-c", "SELECT count(*) FROM it_sa",
                            "-c", "SELECT count(*) FROM luxe.gcs_objects('gs://luxe-test/types/', 'itest_sa')"],
                           capture_output=True, text=True, check=True, timeout=TIMEOUT)
        assert p.stdout.split() == ["3", "3", "2"], p.stdout
        assert tokens() - before == 1, "token requests: %d" % (tokens() - before)
        psql("SELECT count(*) FROM it_sa")           # a new backend: one more
        assert tokens() - before == 2, "token requests: %d" % (tokens() - before)
        psql("DROP SERVER itest_sa CASCADE")

    # --- the insights pipeline, end to end, against an independent computation
    pipe_csv = generate(100000, 11, "it/pipeline.csv")
    # rows with quoted empty strings (""), which are empty text, not missing
    # values: brand_name "" stays '' (not 'unknown'), usually_ships_within ""
    # is its own bucket; the generator never writes them
    with open(pipe_csv, encoding="utf-8", newline="") as f:
        f.readline()
        sample = next(csv.reader(f))
    names = [c[0] for c in COLUMNS]

    def field(v):
        if v is None:
            return ""
        if v == "":
            return '""'
        return '"%s"' % v.replace('"', '""') if any(c in v for c in ',"\r\n') else v

    extra = []
    for k, blanks in enumerate([("brand_name", "usually_ships_within"),
                                ("seller_country", "product_description", "product_type"),
                                ("brand_name", "product_material", "usually_ships_within")]):
        rec = list(sample)
        rec[names.index("product_id")] = str(1000 + k)
        for b in blanks:
            rec[names.index(b)] = ""
        extra.append(",".join(field(v) if names[i] in blanks else field(v or None)
                              for i, v in enumerate(rec)) + "\n")
    # and rows with missing values (unquoted empty fields, NULL): a missing
    # brand is 'unknown', a missing shipping interval its 'unknown' bucket
    for k, missing in enumerate([("brand_name", "usually_ships_within", "price_usd"),
                                 ("brand_name", "seller_country", "sold")]):
        rec = list(sample)
        rec[names.index("product_id")] = str(2000 + k)
        for m in missing:
            rec[names.index(m)] = None
        extra.append(",".join(field(v) if v is None else field(v or None) for v in rec) + "\n")
    with open(pipe_csv, "a", encoding="utf-8", newline="") as f:
        f.writelines(extra)
    psql("DROP FOREIGN TABLE IF EXISTS it_pipe; SELECT luxe.drop_pipeline()")
    psql("CREATE FOREIGN TABLE it_pipe (%s) SERVER itest OPTIONS "
         "(uri 'gs://vestiaire/it/pipeline.csv', skip_leading_rows '1')" % COLDEFS)
    tmp = os.environ.get("LUXE_TMP", "/tmp")

    @test("pipeline views match an independent sqlite3 computation (100k rows)")
    def _():
        psql("SELECT luxe.setup_pipeline('it_pipe')")
        psql("CALL luxe.refresh_pipeline()")
        ref = os.path.join(tmp, "pipeline_ref.json")
        got = os.path.join(tmp, "pipeline_got.json")
        subprocess.run([sys.executable, os.path.join(TOOLS, "pipeline_reference.py"), "compute",
                        pipe_csv, "--out", ref], check=True, capture_output=True, timeout=TIMEOUT)
        sql = subprocess.run([sys.executable, os.path.join(TOOLS, "pipeline_reference.py"), "sql"],
                             check=True, capture_output=True, text=True, timeout=TIMEOUT).stdout
        with open(got, "w") as f:
            f.write(psql(sql).stdout)
        p = subprocess.run([sys.executable, os.path.join(TOOLS, "pipeline_reference.py"), "compare",
                            ref, "--psql-json", got], capture_output=True, text=True, timeout=TIMEOUT)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-500:]

    @test("dashboard renders in headless Chromium with the views' numbers")
    def _():
        html = os.path.join(tmp, "dashboard.html")
        with open(html, "w", encoding="utf-8") as f:
            f.write(psql("SELECT luxe.dashboard_html()").stdout)
        # the strings the page must show, formatted here from the views' raw
        # numbers (not by the SQL formatting functions the page itself uses)
        def count(n):
            return "{:,}".format(int(n))

        def pct(x):
            return str(decimal.Decimal(x).quantize(decimal.Decimal("0.1"), decimal.ROUND_HALF_UP)) + "%"

        def usd(x):
            # float8 -> numeric keeps 15 significant digits, then rounds half away from zero
            d = decimal.Decimal("%.15g" % float(x)).quantize(decimal.Decimal("0.01"), decimal.ROUND_HALF_UP)
            return "$" + "{:,.2f}".format(d)

        def rows(sql):
            return [r.split("|") for r in psql(sql).stdout.strip().splitlines()]

        want = []
        for sellers, share, listings in rows("SELECT sellers, share_pct, listings FROM luxe.sellers_by_country "
                                             "ORDER BY sellers DESC, seller_country LIMIT 12"):
            want.append("%s sellers · %s · %s listings" % (count(sellers), pct(share), count(listings)))
        for avg, median, listings in rows("SELECT avg_price, median, listings FROM luxe.brand_prices "
                                          "ORDER BY listings DESC, brand_name LIMIT 12"):
            want.append("avg %s · median %s · %s listings" % (usd(avg), usd(median), count(listings)))
        for share, sold, through in rows("SELECT coalesce(share_pct::text, ''), sold, sell_through_pct "
                                         "FROM luxe.sales_by_ship_interval"):
            want.append("%s of sales" % (pct(share) if share else "n/a"))
            want.append("%s sold" % count(sold))
            want.append("sell-through %s" % pct(through))
        want.append("%s listings" % count(psql("SELECT count(*) FROM luxe.listings").stdout.strip()))
        expected = json.dumps(want, ensure_ascii=False)
        exp = os.path.join(tmp, "dashboard_expected.json")
        with open(exp, "w") as f:
            f.write(expected)
        p = subprocess.run([sys.executable, os.path.join(HERE, "dashboard_check.py"), html, exp,
                            "--screenshot", os.path.join(tmp, "dashboard.png")],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-500:]

    @test("pg_cron: schedules are validated and replaced, '@monthly' accepted")
    def _():
        psql("CREATE EXTENSION IF NOT EXISTS pg_cron")
        job = psql("SELECT luxe.schedule_pipeline()").stdout.strip()
        row = psql("SELECT schedule, command FROM cron.job WHERE jobid = %s" % job).stdout
        assert row.startswith("@monthly|CALL luxe.refresh_pipeline(retries => 1"), row
        job2 = psql("SELECT luxe.schedule_pipeline('0 3 1 * *', retries => 2)").stdout.strip()
        n = psql("SELECT count(*) FROM cron.job WHERE jobname = luxe.pipeline_job_name()").stdout.strip()
        assert n == "1" and job2 == job, (n, job, job2)
        bad = psql("SELECT luxe.schedule_pipeline('5 seconds')", check=False)
        assert 'invalid cron schedule "5 seconds"' in bad.stderr, bad.stderr
        assert psql("SELECT luxe.unschedule_pipeline()").stdout.strip() == "t"
        assert psql("SELECT luxe.unschedule_pipeline()").stdout.strip() == "f"

    @test("pg_cron: a scheduled job really runs a refresh (waits up to 2 minutes)")
    def _():
        before = int(psql("SELECT count(*) FROM luxe.pipeline_runs WHERE trigger = 'cron'").stdout)
        psql("SELECT luxe.schedule_pipeline('* * * * *', retries => 0)")
        try:
            deadline = time.time() + 130
            status = ""
            while time.time() < deadline:
                status = psql("SELECT string_agg(status || coalesce(': ' || error, ''), ',') FROM "
                              "(SELECT * FROM luxe.pipeline_runs WHERE trigger = 'cron' "
                              "ORDER BY run_id OFFSET %d) r" % before).stdout.strip()
                if any(w in status for w in ("succeeded", "skipped", "failed")):
                    break
                time.sleep(2)
            detail = psql("SELECT string_agg(status || ' ' || coalesce(return_message, ''), '; ') "
                          "FROM cron.job_run_details").stdout.strip()
            # nothing changed since the last refresh: the cron run may be 'skipped'
            assert status.startswith(("succeeded", "skipped")), "runs: %r; pg_cron: %r" % (status, detail)
        finally:
            psql("SELECT luxe.unschedule_pipeline()")

    @test("no token reaches the server log, even from a mapping that fails with the README's precaution")
    def _():
        log = os.environ.get("LUXE_PGLOG")
        assert log and os.path.exists(log), "no server log at %r" % log
        # a statement that fails is logged with its text (log_min_error_statement);
        # the README's precaution for typing a secret keeps it out
        psql("DROP SERVER IF EXISTS itest_log CASCADE; "
             "CREATE SERVER itest_log FOREIGN DATA WRAPPER luxe_fdw OPTIONS (service 'gcs')")
        p = subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c",
                            "SET log_min_error_statement = panic",
                            "-c", "CREATE USER MAPPING FOR CURRENT_USER SERVER itest_log "
                                  "OPTIONS (auth 'token', tokn 'regress-secret-typo-token')"],
                           capture_output=True, text=True, timeout=60)
        assert 'invalid option "tokn"' in p.stderr, p.stderr
        # without it PostgreSQL logs the failing statement, secret included,
        # as the README warns
        p2 = subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c",
                             "CREATE USER MAPPING FOR CURRENT_USER SERVER itest_log "
                             "OPTIONS (auth 'token', tokn 'regress-logged-typo-token')"],
                            capture_output=True, text=True, timeout=60)
        assert 'invalid option "tokn"' in p2.stderr, p2.stderr
        psql("DROP SERVER itest_log CASCADE")
        # the log is written and read: a canary line must be there
        psql("DO $$BEGIN RAISE WARNING 'luxe-log-canary-%', 4242; END$$")
        deadline = time.time() + 10
        text = ""
        while time.time() < deadline:
            text = open(log, errors="replace").read()
            if "luxe-log-canary-4242" in text:
                break
            time.sleep(0.2)
        assert "luxe-log-canary-4242" in text, "the canary never reached %s" % log
        assert "regress-logged-typo-token" in text, \
            "the README says a failing statement is logged with its text; it was not"
        for secret in ("regress-secret-token", "regress-secret-typo-token"):
            assert secret not in text, "%s found in the server log" % secret

    @test("every option of luxe.fdw_options() is in the README's option tables, with its default")
    def _():
        readme = open(os.path.join(REGRESS, "..", "README.md"), encoding="utf-8").read()
        options = readme[readme.index("\n## Options\n"):]
        options = options[:options.index("\n## ", 5)]
        # the README's part for each object of the table
        parts = {"foreign server": options[options.index("Server ("):options.index("User mapping (")],
                 "user mapping": options[options.index("User mapping ("):options.index("GCS foreign table (")],
                 "foreign table/gcs": options[options.index("GCS foreign table ("):options.index("BigQuery foreign table (")],
                 "foreign table/bigquery": options[options.index("BigQuery foreign table ("):options.index("Column (")],
                 "foreign table column": options[options.index("Column ("):options.index("IMPORT FOREIGN SCHEMA (")],
                 "IMPORT FOREIGN SCHEMA": options[options.index("IMPORT FOREIGN SCHEMA ("):options.index("Settings:")]}
        rows = psql("SELECT option_name, object, services, coalesce(default_value, '') "
                    "FROM luxe.fdw_options()").stdout.strip().splitlines()
        assert len(rows) > 30, rows
        missing = []
        for row in rows:
            name, obj, services, default = row.split("|")
            key = obj if obj != "foreign table" else "foreign table/" + services
            part = parts[key]
            lines = [l for l in part.splitlines() if l.startswith("| `%s` |" % name)]
            if obj in ("foreign table column", "IMPORT FOREIGN SCHEMA"):
                if "`%s`" % name not in part:
                    missing.append("%s %s" % (obj, name))
                continue
            if not lines:
                missing.append("%s %s: no row" % (obj, name))
                continue
            for d in default.replace("gcs: ", "").split("; bigquery: "):
                d = d.replace("(the server's)", "the server's")
                if d and d not in lines[0]:
                    missing.append("%s %s: default %r" % (obj, name, d))
        assert not missing, missing
        # and no option in the README's tables that the table does not have
        names = {r.split("|")[0] for r in rows}
        documented = set(re.findall(r"^\| `([a-z_]+)` \|", options, re.M))
        assert documented <= names, documented - names

    psql("DROP SERVER itest CASCADE")
    return report("integration")


def report(label):
    """Print the results as "ok N - name" lines and "LABEL: N passed, M failed"; the exit status."""
    failed = 0
    for i, (ok, name, why) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", i, name, "" if ok else ": " + why))
        failed += not ok
    print("%s: %d passed, %d failed, 0 skipped" % (label, len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

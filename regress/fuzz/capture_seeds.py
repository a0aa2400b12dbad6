#!/usr/bin/env python3
"""Write the JSON seeds of the fuzz targets from the local emulator's answers.

    regress/fuzz/capture_seeds.py [--out regress/fuzz/seeds]

Starts regress/emulator on a free loopback port with a throw-away bucket and
service account, makes the requests the fdw code makes (GCS metadata, listings
over pages, downloads, a resumable upload; BigQuery query jobs and their result
pages with REPEATED and RECORD columns, tables.get, tables.list, insertAll with
insertErrors, a load job, error bodies; the metadata server's token), and
writes each scenario as a fuzz input: a control line, then the responses in the
order the client asks for them, separated by "\\n###\\n" (fake_http.c).  A few
hand-made variants (retries, cut transfers, gzip, jobComplete false, bad
shapes) are added from the captured bodies.

The generated files are committed under regress/fuzz/seeds/; run this again
when the emulator's answers change.  No key is written: the service-account
seeds carry the placeholder @FUZZ_PEM@, which fuzz_auth.c replaces with a key
it generates when it starts.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import quote

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SEP = b"\n###\n"
# the endpoint the seeds name: every captured URL is rewritten to it
ENDPOINT = "http://127.0.0.1:4443"


def start_emulator(root, key_path):
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "regress", "emulator"),
                             "--root", root, "--port", "0", "--service-account", key_path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        sys.exit("capture_seeds: the emulator did not start: %r" % line)
    return proc, line.strip().rsplit(" ", 1)[-1]


class Client:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, headers=None, raw=False):
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    def response(self, method, path, body=None, headers=None, keep=()):
        """The answer as a fuzz response: status line, kept headers, body."""
        status, hdrs, data = self.call(method, path, body, headers)
        data = data.replace(self.base.encode(), ENDPOINT.encode())
        lines = ["HTTP %d" % status]
        for name, value in hdrs.items():
            if name.lower() in keep:
                lines.append("%s: %s" % (name.lower(), value.replace(self.base, ENDPOINT)))
        return ("\n".join(lines) + "\n\n").encode() + data


def write(out, target, name, control, responses):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(control.encode() + b"\n" + SEP.join(responses))


def capture(base, out):
    c = Client(base)
    meta_fields = "name,size,generation,contentEncoding,crc32c,updated"
    list_fields = quote("items(name,size,generation,contentEncoding,crc32c,updated),nextPageToken", safe="")
    media_keep = ("content-encoding", "x-goog-stored-content-encoding", "x-goog-generation",
                  "x-goog-hash", "content-range", "content-length")

    # ---- GCS ----
    get1 = c.response("GET", "/storage/v1/b/fuzz-bucket/o/%s?fields=%s" % (quote("data/part-1.csv", safe=""), meta_fields))
    write(out, "gcs", "get-object", "uri=gs://fuzz-bucket/data/part-1.csv", [get1])
    missing = c.response("GET", "/storage/v1/b/fuzz-bucket/o/%s?fields=%s" % (quote("data/none.csv", safe=""), meta_fields))
    write(out, "gcs", "get-missing", "uri=gs://fuzz-bucket/data/none.csv", [missing])
    write(out, "gcs", "get-missing-ok", "uri=gs://fuzz-bucket/data/none.csv missing_ok", [missing])
    nobucket = c.response("GET", "/storage/v1/b/no-bucket/o?prettyPrint=false&prefix=x&fields=%s" % list_fields)
    write(out, "gcs", "list-no-bucket", "uri=gs://no-bucket/x*", [nobucket])

    pages = []
    token = None
    while True:
        path = "/storage/v1/b/fuzz-bucket/o?prettyPrint=false&prefix=%s&fields=%s&maxResults=2" % (
            quote("data/part-", safe=""), list_fields)
        if token:
            path += "&pageToken=" + quote(token, safe="")
        status, _, data = c.call("GET", path)
        pages.append(c.response("GET", path))
        token = json.loads(data).get("nextPageToken")
        if not token:
            break
    write(out, "gcs", "list-pages", "uri=gs://fuzz-bucket/data/part-*", pages)
    one_page = c.response("GET", "/storage/v1/b/fuzz-bucket/o?prettyPrint=false&prefix=%s&fields=%s" % (
        quote("data/", safe=""), list_fields))
    write(out, "gcs", "list-suffix", "uri=gs://fuzz-bucket/data/*.csv", [one_page])
    write(out, "gcs", "list-retry", "uri=gs://fuzz-bucket/data/*.csv",
          [b"HTTP 503\nretry-after: 1\n\n{\"error\":{\"code\":503,\"message\":\"Backend Error\",\"errors\":[{\"reason\":\"backendError\"}]}}",
           one_page])

    media = {}
    for name in ("data/part-1.csv", "data/part-2.csv", "data/part-3.csv.gz"):
        meta = json.loads(c.call("GET", "/storage/v1/b/fuzz-bucket/o/%s" % quote(name, safe=""))[2])
        media[name] = c.response("GET", "/storage/v1/b/fuzz-bucket/o/%s?alt=media&generation=%s" % (
            quote(name, safe=""), meta["generation"]), headers={"Accept-Encoding": "gzip"}, keep=media_keep)
    listing_star = c.response("GET", "/storage/v1/b/fuzz-bucket/o?prettyPrint=false&prefix=%s&fields=%s" % (
        quote("data/part-", safe=""), list_fields))
    write(out, "gcs", "read-all", "uri=gs://fuzz-bucket/data/part-* read",
          [listing_star, media["data/part-1.csv"], media["data/part-2.csv"], media["data/part-3.csv.gz"]])
    write(out, "gcs", "read-gzip", "uri=gs://fuzz-bucket/data/part-3.csv.gz read",
          [c.response("GET", "/storage/v1/b/fuzz-bucket/o/%s?fields=%s" % (quote("data/part-3.csv.gz", safe=""), meta_fields)),
           media["data/part-3.csv.gz"].replace(b"\n\n", b"\nx-fuzz-chunk: 7\n\n", 1)])
    # a transfer cut after 10 bytes, resumed with a 206
    status, hdrs, body = c.call("GET", "/storage/v1/b/fuzz-bucket/o/%s?alt=media" % quote("data/part-1.csv", safe=""))
    resumed = ("HTTP 206\ncontent-range: bytes 10-%d/%d\n\n" % (len(body) - 1, len(body))).encode() + body[10:]
    write(out, "gcs", "read-resume", "uri=gs://fuzz-bucket/data/part-1.csv read",
          [get1, media["data/part-1.csv"].replace(b"\n\n", b"\nx-fuzz-cut: 10\n\n", 1), resumed])
    write(out, "gcs", "read-offset", "uri=gs://fuzz-bucket/data/part-1.csv read offset=10", [get1, resumed])
    write(out, "gcs", "read-replaced", "uri=gs://fuzz-bucket/data/part-1.csv read",
          [get1, b"HTTP 404\n\nNo such object: fuzz-bucket/data/part-1.csv"])

    # resumable upload: session, then the final chunk
    status, hdrs, _ = c.call("POST", "/upload/storage/v1/b/fuzz-bucket/o?uploadType=resumable&name=%s&ifGenerationMatch=0"
                             % quote("exports/part-1.csv", safe=""), body={"name": "exports/part-1.csv", "contentType": "text/csv"},
                             headers={"X-Upload-Content-Type": "text/csv"})
    location = hdrs["Location"]
    session = ("HTTP %d\nlocation: %s\n\n" % (status, location.replace(base, ENDPOINT))).encode()
    payload = bytes((ord("a") + i % 26) for i in range(1000))
    final = c.response("PUT", location[len(base):], body=payload,
                       headers={"Content-Range": "bytes 0-999/1000", "Content-Type": "application/octet-stream"})
    write(out, "gcs", "upload", "uri=gs://fuzz-bucket/exports/part-1.csv upload if_absent bytes=1000 endpoint=%s" % ENDPOINT,
          [session, final])
    write(out, "gcs", "upload-resume", "uri=gs://fuzz-bucket/exports/part-1.csv upload bytes=1000 endpoint=%s" % ENDPOINT,
          [session, b"HTTP 503\n\n", b"HTTP 308\nrange: bytes=0-499\n\n", final])
    write(out, "gcs", "upload-exists", "uri=gs://fuzz-bucket/exports/part-1.csv upload if_absent endpoint=%s" % ENDPOINT,
          [b"HTTP 412\n\n{\"error\":{\"code\":412,\"message\":\"Precondition Failed\",\"errors\":[{\"reason\":\"conditionNotMet\"}]}}",
           b"HTTP 204\n\n"])
    meta_token = c.response("GET", "/computeMetadata/v1/instance/service-accounts/default/token?scopes=x",
                            headers={"Metadata-Flavor": "Google"}, keep=("metadata-flavor",))
    write(out, "gcs", "metadata-auth", "uri=gs://fuzz-bucket/data/part-1.csv auth=metadata", [meta_token, get1])
    write(out, "gcs", "metadata-auth-401", "uri=gs://fuzz-bucket/data/part-1.csv auth=metadata",
          [meta_token, b"HTTP 401\n\n{\"error\":{\"code\":401,\"message\":\"Invalid Credentials\",\"errors\":[{\"reason\":\"authError\"}]}}",
           meta_token, get1])

    # ---- auth ----
    write(out, "auth", "metadata", "metadata", [meta_token])
    write(out, "auth", "metadata-no-flavor", "metadata", [meta_token.replace(b"metadata-flavor: Google\n", b"")])
    key = {"type": "service_account", "project_id": "fuzz-project", "private_key_id": "0123456789abcdef",
           "private_key": "@FUZZ_PEM@", "client_email": "fuzz@fuzz-project.iam.gserviceaccount.com",
           "client_id": "1", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
           "token_uri": ENDPOINT + "/token"}
    token_ok = b'HTTP 200\n\n{"access_token": "ya29.luxe-fuzz", "expires_in": 3599, "token_type": "Bearer"}'
    write(out, "auth", "service-account", "sa", [json.dumps(key).encode(), token_ok, token_ok])
    write(out, "auth", "service-account-refused", "sa", [json.dumps(key).encode(),
          b'HTTP 400\n\n{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}'])
    write(out, "auth", "service-account-string-expiry", "sa", [json.dumps(key).encode(),
          b'HTTP 200\n\n{"access_token": "ya29.luxe-fuzz", "expires_in": "120"}', token_ok])
    google_key = dict(key, token_uri="https://oauth2.googleapis.com/token")
    write(out, "auth", "service-account-google", "sa", [json.dumps(google_key).encode(), token_ok])

    # ---- BigQuery ----
    proj = "fuzz-project"
    c.call("POST", "/bigquery/v2/projects/%s/datasets" % proj,
           body={"datasetReference": {"projectId": proj, "datasetId": "ds"}})
    schema = {"fields": [
        {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
        {"name": "brand", "type": "STRING"},
        {"name": "price", "type": "FLOAT"},
        {"name": "sold", "type": "BOOLEAN"},
        {"name": "at", "type": "TIMESTAMP"},
        {"name": "tags", "type": "STRING", "mode": "REPEATED"},
        {"name": "dims", "type": "RECORD", "fields": [
            {"name": "w", "type": "NUMERIC"}, {"name": "h", "type": "INTEGER"},
            {"name": "notes", "type": "STRING", "mode": "REPEATED"}]},
        {"name": "sizes", "type": "RECORD", "mode": "REPEATED", "fields": [
            {"name": "label", "type": "STRING"}, {"name": "n", "type": "INTEGER"}]},
        {"name": "meta", "type": "JSON"},
    ]}
    c.call("POST", "/bigquery/v2/projects/%s/datasets/ds/tables" % proj,
           body={"tableReference": {"projectId": proj, "datasetId": "ds", "tableId": "listings"}, "schema": schema})
    rows = []
    for i in range(5):
        rows.append({"insertId": str(i), "json": {
            "id": i, "brand": ["Chanel", "Hermès", "Dior \"Lady\"", None, "a\\b"][i],
            "price": [12.5, 1e10, None, -0.0, 3][i], "sold": i % 2 == 0,
            "at": "2026-01-0%dT10:00:00Z" % (i + 1),
            "tags": [["a", "b"], [], ["x,y", "q\"uote", "back\\slash"], None, ["NULL"]][i],
            "dims": None if i == 3 else {"w": "1.5", "h": i, "notes": ["n%d" % i]},
            "sizes": [{"label": "S", "n": 1}, {"label": None, "n": 2}] if i % 2 else [],
            "meta": json.dumps({"k": i, "nested": [1, {"z": None}]}) if i != 4 else None}})
    c.call("POST", "/bigquery/v2/projects/%s/datasets/ds/tables/listings/insertAll" % proj, body={"rows": rows})

    def query(name, sql, control="query", page_rows=2):
        job_id = "luxe_query_" + name.replace("-", "_")
        body = {"jobReference": {"projectId": proj, "jobId": job_id},
                "configuration": {"query": {"query": sql, "useLegacySql": False, "parameterMode": "NAMED",
                                            "queryParameters": []}}}
        responses = [c.response("POST", "/bigquery/v2/projects/%s/jobs?prettyPrint=false" % proj, body=body)]
        token = None
        while True:
            path = ("/bigquery/v2/projects/%s/queries/%s?formatOptions.useInt64Timestamp=true&maxResults=%d"
                    "&timeoutMs=10000&location=US&prettyPrint=false" % (proj, job_id, page_rows))
            if token:
                path += "&pageToken=" + quote(token, safe="")
            status, _, data = c.call("GET", path)
            responses.append(c.response("GET", path))
            if status != 200:
                break
            token = json.loads(data).get("pageToken")
            if not token:
                break
        write(out, "bigquery", name, control, responses)
        return responses

    q = query("query-nested", "SELECT * FROM ds.listings ORDER BY id")
    query("query-aggregate", "SELECT brand, count(*) AS n, avg(price) AS p FROM ds.listings GROUP BY brand ORDER BY 1", page_rows=10)
    query("query-error", "SELEC nonsense")
    query("query-unnest", "SELECT id, t FROM ds.listings, UNNEST(tags) AS t ORDER BY 1, 2", page_rows=3)
    write(out, "bigquery", "query-poll", "query loc",
          [q[0], b'{"kind":"bigquery#getQueryResultsResponse","jobComplete":false}'] + q[1:])
    write(out, "bigquery", "query-job-failed", "query",
          [b'{"jobReference":{"projectId":"p","jobId":"j","location":"US"},"status":{"state":"DONE",'
           b'"errorResult":{"reason":"invalidQuery","location":"query","message":"Syntax error: Unexpected identifier"},'
           b'"errors":[{"reason":"invalidQuery","message":"Syntax error"}]}}', b"HTTP 200\n\n{}"])
    write(out, "bigquery", "query-page-errors", "query",
          [q[0], b'{"jobComplete":true,"errors":[{"reason":"stopped","message":"Job cancelled"}],"schema":{"fields":[]}}'])

    tget = c.response("GET", "/bigquery/v2/projects/%s/datasets/ds/tables/listings?prettyPrint=false" % proj)
    write(out, "bigquery", "table-get", "table", [tget])
    write(out, "bigquery", "table-missing", "table missing_ok",
          [c.response("GET", "/bigquery/v2/projects/%s/datasets/ds/tables/nope?prettyPrint=false" % proj)])
    write(out, "bigquery", "table-list", "list",
          [c.response("GET", "/bigquery/v2/projects/%s/datasets/ds/tables?maxResults=1000&prettyPrint=false" % proj)])
    bad = [{"insertId": "b0", "json": {"id": "not a number", "brand": "x"}},
           {"insertId": "b1", "json": {"id": 7, "nope": 1}},
           {"insertId": "b2", "json": {"id": 8}}]
    write(out, "bigquery", "insert-errors", "insert first_row=500",
          [c.response("POST", "/bigquery/v2/projects/%s/datasets/ds/tables/listings/insertAll?prettyPrint=false" % proj,
                      body={"rows": bad, "skipInvalidRows": False, "ignoreUnknownValues": False})])
    write(out, "bigquery", "insert-ok", "insert", [b'{"kind":"bigquery#tableDataInsertAllResponse"}'])
    load_body = {"jobReference": {"projectId": proj, "jobId": "luxe_load_fuzz"},
                 "configuration": {"load": {"destinationTable": {"projectId": proj, "datasetId": "ds", "tableId": "listings"},
                                            "sourceUris": ["gs://fuzz-bucket/staging/rows.json"],
                                            "sourceFormat": "NEWLINE_DELIMITED_JSON",
                                            "writeDisposition": "WRITE_APPEND", "createDisposition": "CREATE_NEVER"}}}
    load = c.response("POST", "/bigquery/v2/projects/%s/jobs?prettyPrint=false" % proj, body=load_body)
    loadget = c.response("GET", "/bigquery/v2/projects/%s/jobs/luxe_load_fuzz?prettyPrint=false" % proj)
    write(out, "bigquery", "load", "load", [load, loadget])
    write(out, "bigquery", "load-duplicate", "load", [b"HTTP 409\n\n" + load.split(b"\n\n", 1)[1], loadget])
    write(out, "bigquery", "statement", "statement",
          query("statement-truncate", "TRUNCATE TABLE ds.listings", control="statement"))

    # ---- Google error bodies ----
    for name, resp in (("gcs-404", missing), ("bucket-404", nobucket), ("query-400", c.response(
            "POST", "/bigquery/v2/projects/%s/queries" % proj, body={"query": "SELEC 1", "useLegacySql": False}))):
        status_line, body = resp.split(b"\n\n", 1)
        os.makedirs(os.path.join(out, "google_error"), exist_ok=True)
        with open(os.path.join(out, "google_error", name), "wb") as f:
            f.write(status_line + b"\n" + body)


def csv_seeds(out):
    """Hand-written CSV inputs for fuzz_csv.c: 8 option bytes, chunk lengths, CSV."""
    def seed(name, csv, flags=0x02, delim=0, quote=0, skip=0, slots=0x3b, mapseed=7, marker=0, chunks=()):
        head = bytes([flags, delim, quote, skip, slots, mapseed, marker, len(chunks)]) + bytes(chunks)
        os.makedirs(os.path.join(out, "csv"), exist_ok=True)
        with open(os.path.join(out, "csv", name), "wb") as f:
            f.write(head + csv)

    vestiaire = (b"product_id,product_name,price_usd,sold,brand_name\n"
                 b"1,\"Sac \"\"Lady\"\", cuir\",1200.0,True,Dior\n"
                 b"2,\"multi\nline\ndescription\",35.5,False,Chanel\n"
                 b"3,,12,,\n")
    seed("vestiaire-header", vestiaire, skip=1, chunks=(17, 5))
    seed("vestiaire-header-mapping", b"id,name,price,brand\n1,a,2.5,x\n2,\"b,c\",3,y\n", flags=0x0a, skip=1, slots=0x24)
    seed("bom-crlf", b"\xef\xbb\xbfid,name\r\n1,\"a\r\nb\"\r\n2,c\r\n", skip=1, chunks=(1, 1, 2, 3))
    seed("bom-split-latin1", b"\xef\xbbx,y\n\xe9t\xe9,1\n", flags=0x06, chunks=(1,))
    seed("doubled-quotes", b"\"\"\"\"\"\",\"a\"\"b\",\"\"\n\"\",x\n", chunks=(3,))
    seed("stray-quote", b"a,b\"c,d\ne,f\n", chunks=(4,))
    seed("stray-quote-recover", b"1,a\"b,2\n2,\"open,3\n3,ok,4\n4,\"x\"y,5\n5,z,6\n", flags=0x82, chunks=(5, 9))
    seed("unterminated-recover", b"1,a\n2,\"never closed\n3,b\n4,c\n", flags=0x82)
    seed("jagged", b"1\n1,2\n1,2,3,4,5,6,7,8,9\n\n\n1,2,3\n", slots=0x4c, chunks=(2,))
    seed("quoted-newline-refused", b"1,\"a\nb\"\n2,c\n", flags=0x00)
    seed("lone-cr", b"a,b\rc,d\re\n", chunks=(3,))
    seed("null-marker", b"NULL,\"NULL\",,\"\",x\n", marker=1, slots=0x2d)
    seed("quoting-disabled", b"a,\"b,c\"\n\"\",,\n", flags=0x03, marker=0)
    seed("tab-delimited", b"a\tb\t\"c\td\"\n1\t2\t3\n", delim=2, chunks=(6,))
    seed("semicolon-single-quote", b"'a;b';c\n'it''s';d\n", delim=1, quote=1)
    seed("spaces-kept", b" a , \"b\" ,c \n", chunks=(2,))
    seed("rescan", b"1,2\n3,4\n5,6\n", flags=0x22)
    seed("bytewise-header", b"h1,h2\n\"x\ny\",z\n", flags=0x12, skip=1)
    seed("skip-more-than-rows", b"only,one\n", skip=3, flags=0x0a)
    seed("roundtrip", b"plain\x1fwith,comma\x1fwith\"quote\x1e\x1d\x1f\x1fmulti\nline\x1e \x1f\x1d", flags=0x40)
    seed("roundtrip-marker", b"NA\x1fx\x1e\x1d\x1f\x1fy", flags=0x40, marker=3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "seeds"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        data = os.path.join(root, "fuzz-bucket", "data")
        os.makedirs(data)
        os.makedirs(os.path.join(root, "fuzz-bucket", "exports"))
        with open(os.path.join(data, "part-1.csv"), "w") as f:
            f.write("product_id,brand_name,price_usd\n1,Chanel,120.5\n2,\"Hermès, Paris\",99\n")
        with open(os.path.join(data, "part-2.csv"), "w") as f:
            f.write("product_id,brand_name,price_usd\r\n3,\"Dior \"\"Lady\"\"\",\r\n4,\"multi\nline\",7.0\r\n")
        with open(os.path.join(data, "part-3.csv.gz"), "wb") as f:
            f.write(gzip.compress(b"product_id,brand_name,price_usd\n5,Prada,1\n"))
        with open(os.path.join(data, "readme.txt"), "w") as f:
            f.write("not csv\n")
        key_path = os.path.join(tmp, "key.json")
        subprocess.run([sys.executable, os.path.join(REPO, "regress", "tools", "make_sa_key.py"),
                        "--token-uri", "http://127.0.0.1:1/token", "--email", "fuzz@fuzz-project.iam.gserviceaccount.com",
                        "--out", key_path], check=True, stdout=subprocess.DEVNULL)
        proc, base = start_emulator(root, key_path)
        try:
            for _ in range(50):
                try:
                    urllib.request.urlopen(base + "/_emulator/health", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.1)
            capture(base, args.out)
            csv_seeds(args.out)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("capture_seeds: seeds written to %s" % args.out)


if __name__ == "__main__":
    main()

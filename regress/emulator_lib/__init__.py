"""The luxe emulator's code, used by the regress/emulator script beside this package.

  server.py     HTTP core shared by every API: dispatch to services, Google error bodies,
                bearer-token auth, fault injection (faults.py), statistics and simulated
                latency (--latency)
  gcs.py        the Cloud Storage JSON API service
  gcs_store.py  the filesystem store behind it; Store.open() and Store.read_object_bytes()
                give other services (e.g. a BigQuery load job) an object's bytes
  crc32c.py     CRC32C in pure Python, fast enough for 500 MB objects
  oauth.py      the OAuth2 JWT-bearer token endpoint and the GCE metadata server, issuing
                access tokens that server.Auth accepts until they expire
  rsa.py        DER/PEM RSA key parsing and RSASSA-PKCS1-v1_5 SHA-256 verification

  bigquery.py   BigQuery REST v2: routes, datasets/tables/tabledata, jobs (query, load), job
                faults and the /_emulator/bigquery control endpoints
  bq_store.py   the shared in-memory SQLite database behind it, statement execution, data
                sizes (bytes processed) and multi-statement transactions
  bq_sql.py     the GoogleSQL subset: tokenizer, parser (queries, DML, DDL, scripts),
                translation to SQLite with BigQuery semantics and result types, and the SQL
                functions (scalar, aggregate and analytic) it relies on
  bq_re2.py     RE2 regular expressions (REGEXP_*) translated to Python's re
  bq_types.py   BigQuery types: schemas, stored representation, value parsing and encoding
  bq_load.py    load jobs from the GCS store (CSV, NDJSON, autodetect)

Each API is a service object with a route() method (see server.py), registered in
regress/emulator with server.add_service().
"""

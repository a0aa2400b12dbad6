#!/usr/bin/env python3
"""Mutation testing of luxe_fdw: do the test suites catch deliberate bugs?

    python3 regress/tools/mutate.py [--list] [--check] [--only ID,...] [--keep]

Each mutant below is one deliberate bug: an exact string ("old") that occurs
exactly once in a file of the repository at HEAD, and its replacement
("new"), with the run-tests.sh suites that should catch it (as few and as
fast as possible).  For each mutant, in a scratch worktree of HEAD
(/tmp/luxe-mutant-ID), the replacement is applied, the extension is built
and installed from there, and "bash regress/tools/run-tests.sh SUITES..."
runs inside the worktree:

  KILLED    run-tests.sh exited non-zero: a test noticed the bug
  SURVIVED  it exited zero: no test noticed it (a missing test)
  INVALID   the mutant did not build or install, or the run could not be
            judged (a setup step of run-tests.sh failed, a suite printed no
            summary, the run outlived its timeout); counts as a failure

Afterwards -- always, also after an error or Ctrl-C -- the unmutated tree of
this checkout is built and installed again ("make clean && make && make
install"), and the worktrees are removed (kept with --keep).  Then a table
(plain, then Markdown for the README) and "mutants: N killed, M survived,
K invalid".  Exits non-zero unless every mutant was killed.

  --list       print the mutants and exit
  --check      check that each mutant's "old" occurs exactly once at HEAD and exit
  --only IDS   run only these mutants (comma-separated ids)
  --keep       keep the worktrees (their build.log and the test logs)

The logs of every run go to /tmp/luxe-mutants-<time>/.  Each suite runs under
run-tests.sh's own timeout (LUXE_SUITE_TIMEOUT, default 1200 s); the whole
run of a mutant under max(1500, LUXE_SUITE_TIMEOUT * suites + 300) seconds.

NB: this installs mutated builds of luxe_fdw into the PostgreSQL of this
machine and uses run-tests.sh's private cluster: nothing else
may run tests or use the installed extension meanwhile.

Python 3 standard library only.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SUITES = ("pg_regress", "conformance", "generator", "integration", "integration-bq", "faults", "pipeline-ops",
          "engine-bq")
WORKTREE_PREFIX = "/tmp/luxe-mutant-"
SUITE_TIMEOUT = int(os.environ.get("LUXE_SUITE_TIMEOUT", "1200"))
BUILD_TIMEOUT = 900

# ---------------------------------------------------------------------------
# The mutants.  "old" must occur exactly once in "file" at HEAD; "new" is
# the smallest change that makes the bug and still builds.

MUTANTS = [
    # --- the CSV reader and GCS scans -------------------------------------
    dict(
        id="csv-last-row-dropped",
        description="the last row of an object that does not end with a line break is silently dropped "
                    "(luxe_csv_finish no longer flushes the parser with csv_fini)",
        file="fdw/csv.c",
        old="\telse if (csv_fini(&r->parser, field_cb, record_cb, r) != 0)\n",
        new="\telse if (false && csv_fini(&r->parser, field_cb, record_cb, r) != 0)\n",
        suites=["pg_regress"],
    ),
    dict(
        id="csv-columns-swapped",
        description="the values of the first two columns a query reads are swapped "
                    "(each takes the other's CSV field)",
        file="fdw/gcs_scan.c",
        old="\t\tLuxeCsvField *f = &rec->fields[i];\n",
        new="\t\tLuxeCsvField *f = &rec->fields[(i < 2 && st->nslots > 1) ? 1 - i : i];\n",
        suites=["pg_regress"],
    ),
    dict(
        id="split-quoted-start-ignored",
        description="a range of a split object that starts inside a quoted field is parsed from its "
                    "first byte, as if it started between records",
        file="fdw/gcs_scan.c",
        old="\telse if (state == LUXE_CSV_SPLIT_ROW)\n\t{\n\t\tboundary = start;\n",
        new="\telse if (state != LUXE_CSV_SPLIT_UNKNOWN)\n\t{\n\t\tboundary = start;\n",
        suites=["integration"],
    ),
    dict(
        id="split-never-stops",
        description="the process of a range of a split object reads on to the end of the object "
                    "instead of stopping at the next range's first record",
        file="fdw/gcs_scan.c",
        old="\tif (!last && after != LUXE_CSV_SPLIT_UNKNOWN)\n",
        new="\tif (false && !last && after != LUXE_CSV_SPLIT_UNKNOWN)\n",
        suites=["pg_regress"],
    ),
    dict(
        id="split-lines-off-by-one",
        description="records of a range other than an object's first get line numbers one too high",
        file="fdw/gcs_scan.c",
        old="\t\tluxe_csv_restart(st->csvr, boundary, lfs + 1);\n",
        new="\t\tluxe_csv_restart(st->csvr, boundary, lfs + 2);\n",
        suites=["pg_regress"],
    ),
    dict(
        id="fast-line-quoted-empty-null",
        description="a quoted empty field (\"\") on a line parsed without libcsv reads as NULL, not as "
                    "an empty string",
        file="fdw/csv.c",
        old="\t\t\telse if (!f->escaped)\n\t\t\t\tfield_cb((void *) f->start, f->len, r);\n",
        new="\t\t\telse if (!f->escaped)\n\t\t\t\tfield_cb(f->len ? (void *) f->start : NULL, f->len, r);\n",
        suites=["pg_regress"],
    ),
    dict(
        id="max-bad-records-off-by-one",
        description="a table with max_bad_records N fails at N bad rows instead of N + 1",
        file="fdw/gcs_scan.c",
        old="\tif (st->rejected > st->csv.max_bad_records)\n",
        new="\tif (st->rejected >= st->csv.max_bad_records)\n",
        suites=["pg_regress"],
    ),
    dict(
        id="csv-recovery-resumes-late",
        description="after a quote that proves bogus, reading resumes after the last line read inside "
                    "the quote instead of after its first line: the rows it swallowed are lost",
        file="fdw/csv.c",
        old="\t\t\tif (r->rec_first_lf_end < 0)\n\t\t\t{\n\t\t\t\tr->rec_first_lf_end = r->offset;\n",
        new="\t\t\t{\n\t\t\t\tr->rec_first_lf_end = r->offset;\n",
        suites=["pg_regress"],
    ),
    dict(
        id="csv-recovery-line-numbers",
        description="after a quote that proves bogus, the rows read again are numbered one line too far "
                    "(bad rows and errors name the wrong line)",
        file="fdw/csv.c",
        old="\t\t\t\tr->resume_offset = r->rec_first_lf_end;\n\t\t\t\tr->resume_line = r->rec_first_lf_line;\n",
        new="\t\t\t\tr->resume_offset = r->rec_first_lf_end;\n\t\t\t\tr->resume_line = r->rec_first_lf_line + 1;\n",
        suites=["pg_regress"],
    ),
    # --- the GCS client ---------------------------------------------------
    dict(
        id="gcs-crc32c-skipped",
        description="the CRC32C of a downloaded object is never compared with the listed one: "
                    "corrupted or tampered bytes are returned as rows",
        file="fdw/gcs.c",
        old="\tif (r->transcoded || r->partial || r->object->crc32c == NULL)\n\t\treturn;\n",
        new="\tif (true || r->transcoded || r->partial || r->object->crc32c == NULL)\n\t\treturn;\n",
        suites=["integration"],
    ),
    dict(
        id="gcs-generation-not-pinned",
        description="downloads no longer name the listed generation: an object replaced during a scan "
                    "or before a rescan is read in its new version, mixed with the old",
        file="fdw/gcs.c",
        old="\tchar\t   *url = psprintf(\"%s/storage/v1/b/%s/o/%s?alt=media&generation=\" INT64_FORMAT,\n"
            "\t\t\t\t\t\t\t   client->google.endpoint, luxe_http_escape(o->bucket),\n"
            "\t\t\t\t\t\t\t   luxe_http_escape(o->name), o->generation);\n",
        new="\tchar\t   *url = psprintf(\"%s/storage/v1/b/%s/o/%s?alt=media\",\n"
            "\t\t\t\t\t\t\t   client->google.endpoint, luxe_http_escape(o->bucket),\n"
            "\t\t\t\t\t\t\t   luxe_http_escape(o->name));\n",
        suites=["integration"],
    ),
    dict(
        id="gcs-range-off-by-one",
        description="a download resumed after a broken transfer (or a CSV read again from a line) "
                    "asks for the bytes from one past the right offset",
        file="fdw/gcs.c",
        old="psprintf(\"Range: bytes=\" INT64_FORMAT \"-\", offset)",
        new="psprintf(\"Range: bytes=\" INT64_FORMAT \"-\", offset + 1)",
        suites=["pg_regress"],
    ),
    # --- HTTP, credentials, destinations ----------------------------------
    dict(
        id="retry-after-ignored",
        description="a Retry-After header is ignored: a 429 or 503 is retried after the short "
                    "backoff, sooner than the server asked",
        file="fdw/http.c",
        old="\t\tif (end != retry_after && secs >= 0)\n",
        new="\t\tif (end != retry_after && secs < 0)\n",
        suites=["faults"],
    ),
    dict(
        id="credentials-over-plain-http",
        description="credentials are sent over plain http to a host that is not loopback",
        file="fdw/http.c",
        old="\tif (credentials && strcmp(u.scheme, \"http\") == 0 &&\n",
        new="\tif (false && credentials && strcmp(u.scheme, \"http\") == 0 &&\n",
        suites=["pg_regress"],
    ),
    dict(
        id="allow-list-check-removed",
        description="a non-superuser's server may send requests anywhere: the endpoint allow-list "
                    "(Google's hosts, luxe_fdw.allowed_endpoints) is not checked",
        file="fdw/http.c",
        old="\tif (OidIsValid(role) && !superuser_arg(role) && !is_google_host(&u) &&\n",
        new="\tif (false && OidIsValid(role) && !superuser_arg(role) && !is_google_host(&u) &&\n",
        suites=["pg_regress"],
    ),
    dict(
        id="allow-list-ignores-port",
        description="an allowed_endpoints entry host:port allows every port of that host",
        file="fdw/http.c",
        old="\t\tif (port != 0 && port != u->port)\n",
        new="\t\tif (false && port != 0 && port != u->port)\n",
        suites=["pg_regress"],
    ),
    dict(
        id="token-in-error-detail",
        description="the Authorization header (the bearer token) of a refused request ends up in the "
                    "error's DETAIL",
        file="fdw/google.c",
        old="\t\tif (!renewed && luxe_google_renew_token(client, resp->status))\n",
        new="\t\tif (resp->status == 401 && all != NIL &&\n"
            "\t\t\tstrncmp((const char *) linitial(all), \"Authorization:\", 14) == 0)\n"
            "\t\t{\n"
            "\t\t\t/* the answer's text becomes what was sent, and goes into the DETAIL */\n"
            "\t\t\tresp->body = pstrdup((const char *) linitial(all));\n"
            "\t\t\tresp->body_len = strlen(resp->body);\n"
            "\t\t}\n"
            "\t\tif (!renewed && luxe_google_renew_token(client, resp->status))\n",
        suites=["pg_regress"],
    ),
    # --- options ----------------------------------------------------------
    dict(
        id="validator-other-service-option",
        description="CREATE/ALTER SERVER accepts an option of the other service "
                    "(e.g. project on a GCS server)",
        file="fdw/option.c",
        old="\t\t\t\tservices = 1 << parse_enum_value(def, defGetString(elem));\n",
        new="\t\t\t\tservices = FOR_BOTH | (1 << parse_enum_value(def, defGetString(elem)));\n",
        suites=["pg_regress"],
    ),
    # --- BigQuery ---------------------------------------------------------
    dict(
        id="bq-query-409-is-error",
        description="a query whose jobs.insert answer was lost, and which is retried under the same job "
                    "id, fails on BigQuery's 409 duplicate instead of following the job it started",
        file="fdw/bigquery.c",
        old="\t\t\t\t   body, \"query\", sql, 409, &status);\n",
        new="\t\t\t\t   body, \"query\", sql, 0, &status);\n",
        suites=["integration-bq"],
    ),
    dict(
        id="bq-load-409-is-error",
        description="a load job whose jobs.insert is retried after a garbled or lost answer fails on "
                    "BigQuery's 409 duplicate instead of following the job it created",
        file="fdw/bigquery.c",
        old="\t\t\t\t   body, what, NULL, 409, &status);\n",
        new="\t\t\t\t   body, what, NULL, 0, &status);\n",
        suites=["faults"],
    ),
    dict(
        id="bq-page-boundary-row-lost",
        description="the last row of every BigQuery result page that has a next page is lost",
        file="fdw/bigquery.c",
        old="\tq->nrows = json_is_array(rows) ? json_array_size(rows) : 0;\n",
        new="\tq->nrows = json_is_array(rows) ? json_array_size(rows) : 0;\n"
            "\tif (q->nrows > 0 && json_is_string(json_object_get(root, \"pageToken\")))\n"
            "\t\tq->nrows--;\n",
        suites=["pg_regress"],
    ),
    dict(
        id="float8-comparison-shipped",
        description="float8 < <= > >= comparisons are shipped to BigQuery, where NaN compares "
                    "differently than in PostgreSQL",
        file="fdw/deparse.c",
        old="\t\tif (left != BQT_FLOAT &&\n\t\t\t(left != BQT_STRING || collation_is_codepoint(inputcollid)))\n",
        new="\t\tif ((left != BQT_STRING || collation_is_codepoint(inputcollid)))\n",
        suites=["pg_regress"],
    ),
    dict(
        id="xact-failed-load-rerun",
        description="a deferred BigQuery load that failed earlier (under luxe.bigquery_flush, caught "
                    "by a savepoint) is run again at COMMIT",
        file="fdw/xact.c",
        old="\tif (d->started)\n",
        new="\tif (false && d->started)\n",
        suites=["pg_regress"],
    ),
    # --- the C functions and aggregates -----------------------------------
    dict(
        id="pct-half-even",
        description="luxe.pct rounds ties at the 13th decimal to even instead of away from zero",
        file="fdw/aggregates.c",
        old="\tif (2 * r >= (whole < 0 ? -(int128) whole : (int128) whole))\n\t\tq++;\n",
        new="\tif (2 * r > (whole < 0 ? -(int128) whole : (int128) whole) ||\n"
            "\t\t(2 * r == (whole < 0 ? -(int128) whole : (int128) whole) && (q & 1)))\n\t\tq++;\n",
        suites=["pg_regress"],
    ),
    dict(
        id="pct-11-decimals",
        description="luxe.pct and the percentage columns have 11 decimals instead of 12",
        file="fdw/aggregates.c",
        old="#define LUXE_PCT_SCALE 12\n",
        new="#define LUXE_PCT_SCALE 11\n",
        suites=["pg_regress"],
    ),
    dict(
        id="price-summary-combine-drops-value",
        description="luxe.price_summary in a parallel plan loses the first value of each worker's "
                    "partial state (its combine function)",
        file="fdw/aggregates.c",
        old="\tmemcpy(a->vals + a->n, b->vals, b->n * sizeof(double));\n\ta->n += b->n;\n",
        new="\tmemcpy(a->vals + a->n, b->vals + 1, (b->n - 1) * sizeof(double));\n\ta->n += b->n - 1;\n",
        suites=["pg_regress"],
    ),
    # --- the pipeline and the dashboard (SQL) -----------------------------
    dict(
        id="cleaning-brand-unknown",
        description="the cleaning rule for a missing brand_name gives 'Unknown' instead of 'unknown'",
        file="fdw/install/20_pipeline.sql",
        old="format('coalesce(luxe.lower_trim(%s::text), ''unknown'')', x)",
        new="format('coalesce(luxe.lower_trim(%s::text), ''Unknown'')', x)",
        suites=["integration"],
    ),
    dict(
        id="cleaning-country-not-lowered",
        description="seller_country, product_color and the other label columns are trimmed but no "
                    "longer lower-cased by the cleaning",
        file="fdw/install/20_pipeline.sql",
        old="      WHEN 'lower_trim' THEN format('luxe.lower_trim(%s::text)', x)\n",
        new="      WHEN 'lower_trim' THEN format('btrim(%s::text)', x)\n",
        suites=["pg_regress"],
    ),
    dict(
        id="engine-bq-pct-9-decimals",
        description="the BigQuery engine rounds product type percentages to 9 decimals (NUMERIC's) "
                    "instead of the local engine's 12",
        file="fdw/install/20_pipeline.sql",
        old="SUM(COUNT(*)) OVER (PARTITION BY brand_name)), 12) AS pct",
        new="SUM(COUNT(*)) OVER (PARTITION BY brand_name)), 9) AS pct",
        suites=["engine-bq"],
    ),
    dict(
        id="value-counts-zeros-kept",
        description="luxe.value_counts keeps values whose weights sum to zero: a brand x type that "
                    "lost all its listings stays, with a count of 0",
        file="fdw/aggregates.c",
        old="\t\tif (item->count == 0)\n\t\t\tcontinue;\n",
        new="",
        suites=["pg_regress"],
    ),
    dict(
        id="page-writer-fillfactor-ignored",
        description="the pages insert_select builds for a new file are filled to the brim, "
                    "whatever the table's fillfactor",
        file="fdw/bulk_insert.c",
        old="\tpw->save_free = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);",
        new="\tpw->save_free = 0;",
        suites=["pg_regress"],
    ),
    dict(
        id="page-writer-subxact-xid-ignored",
        description="the pages insert_select builds carry the top transaction's XID: rows written "
                    "in a subtransaction that rolls back stay visible",
        file="fdw/bulk_insert.c",
        old="\tTransactionId xid = GetCurrentTransactionId();\n\tint\t\t\ti;\n\n\tfor (i = 0; i < n; i++)",
        new="\tTransactionId xid = GetTopTransactionId();\n\tint\t\t\ti;\n\n\tfor (i = 0; i < n; i++)",
        suites=["pg_regress"],
    ),
    dict(
        id="same-layout-despite-dropped-columns",
        description="insert_select copies a worker's row as is into a table with a dropped column: "
                    "the values land in the wrong columns",
        file="fdw/bulk_insert.c",
        old="\tr->same_layout = q == target->natts;",
        new="\tr->same_layout = true;",
        suites=["pg_regress"],
    ),
    dict(
        id="recycled-tail-kept",
        description="a full reload that writes over a kept file of more pages than it needs leaves "
                    "the rest: the previous reload's committed rows come back",
        file="fdw/bulk_insert.c",
        old="\tif (pw->blkno < pw->recycled)\n\t{",
        new="\tif (false)\n\t{",
        suites=["pg_regress"],
    ),
    dict(
        id="recycle-keeps-undropped",
        description="the commit keeps (moves aside) the file of a table asked to be recycled even "
                    "when the transaction did not drop it: the live table loses its file",
        file="fdw/recycle.c",
        old="\t\t\t\t\t\tif (RelFileNodeEquals(dropped[i], k->node))",
        new="\t\t\t\t\t\tif (true)",
        suites=["pg_regress"],
    ),
    dict(
        id="recycled-file-descriptors-kept",
        description="the page writer takes over a kept file but goes on writing through the file "
                    "descriptors of the empty file it replaced: the rows go to a deleted file",
        file="fdw/recycle.c",
        old="\tsmgrclose(RelationGetSmgr(rel));\n",
        new="",
        suites=["pg_regress"],
    ),
    dict(
        id="worker-bytes-not-counted",
        description="the bytes the parallel workers of a GCS scan received are not added to the "
                    "leader's luxe.bytes_received: a refresh's bytes_into_postgres misses the load",
        file="fdw/gcs_scan.c",
        old="\tluxe_http_bytes_received += (int64) pg_atomic_exchange_u64(&st->shared->worker_http_bytes, 0);\n",
        new="\t(void) pg_atomic_exchange_u64(&st->shared->worker_http_bytes, 0);\n",
        suites=["pg_regress"],
    ),
    dict(
        id="resume-counts-as-retry",
        description="a GCS read resumed after progress counts the resume as a failed retry: a 503 on "
                    "the resumed request waits twice the first backoff, and longer each time",
        file="fdw/gcs.c",
        old="\t\tif (r->offset > r->opened_at)\n\t\t\tr->attempt = 0;\n",
        new="\t\tif (r->offset > r->opened_at)\n\t\t\tr->attempt = 1;\n",
        suites=["integration"],
    ),
    dict(
        id="ascii-tail-unchecked",
        description="the ASCII shortcut of text input checks a field 8 bytes at a time and not its "
                    "last bytes: an invalid byte there is stored unverified",
        file="fdw/gcs_scan.c",
        old="\treturn !((w & highs) || ((w - ones) & ~w & highs));\n}",
        new="\treturn true;\n}",
        suites=["pg_regress"],
    ),
    dict(
        id="incremental-replaced-rows-kept",
        description="an incremental refresh loads the new generation of a replaced object but keeps "
                    "the rows of the old one: its rows are counted twice",
        file="fdw/install/20_pipeline.sql",
        old="           AND o.action IN ('replace', 'remove');\n        GET DIAGNOSTICS deleted = ROW_COUNT;",
        new="           AND o.action IN ('remove');\n        GET DIAGNOSTICS deleted = ROW_COUNT;",
        suites=["pipeline-ops"],
    ),
    dict(
        id="counts-deleted-rows-kept",
        description="an incremental refresh deletes a replaced or removed object's rows but not their "
                    "brand x type counts: product_types_by_brand counts them still",
        file="fdw/install/20_pipeline.sql",
        old="          PERFORM luxe.count_difference('luxe_store.insight_rows', '1', ids, -1);",
        new="          NULL;",
        suites=["pipeline-ops"],
    ),
    dict(
        id="counts-recounted-every-run",
        description="the brand x type counts are rebuilt from all the rows on every run instead of by "
                    "difference (right results, the cost issue 11 measured)",
        file="fdw/install/20_pipeline.sql",
        old="      buffer := luxe.build_insights(counted);",
        new="      buffer := luxe.build_insights(false);",
        suites=["pipeline-ops"],
    ),
    dict(
        id="bq-batch-not-kept",
        description="an incremental BigQuery-engine run loads only the new objects and keeps no earlier "
                    "batch: the rows of the unchanged objects vanish from BigQuery",
        file="fdw/install/25_engine_bigquery.sql",
        old="  IF cardinality(kept) > 0 THEN\n    PERFORM luxe.bigquery_job(",
        new="  IF false THEN\n    PERFORM luxe.bigquery_job(",
        suites=["engine-bq"],
    ),
    dict(
        id="bq-generation-unchecked",
        description="the BigQuery engine does not list the loaded objects again: an object replaced during "
                    "the load job is recorded at the generation it was listed at, with other rows",
        file="fdw/install/25_engine_bigquery.sql",
        old="  IF FOUND THEN\n    RAISE EXCEPTION 'source object \"%\" changed while BigQuery loaded it'",
        new="  IF false THEN\n    RAISE EXCEPTION 'source object \"%\" changed while BigQuery loaded it'",
        suites=["engine-bq"],
    ),
    dict(
        id="skip-ignores-generation",
        description="a replaced object (same name, new generation) is taken for unchanged: the run "
                    "is skipped and the insights keep the old data",
        file="fdw/install/20_pipeline.sql",
        old="     WHERE full_reload OR m.uri IS NULL OR m.generation <> l.generation;",
        new="     WHERE full_reload OR m.uri IS NULL;",
        suites=["pipeline-ops"],
    ),
    dict(
        id="dashboard-reads-listings",
        description="the dashboard counts the rows of luxe.listings again, which the read-only BI "
                    "role may not read",
        file="fdw/install/40_dashboard.sql",
        old="  total := coalesce(last.rows_read, 0);     -- the rows the refresh loaded\n",
        new="  SELECT count(*) INTO total FROM luxe.listings;\n",
        suites=["pg_regress"],
    ),
    # --- the parallel load (insert_select) and type input shortcuts --------
    dict(
        id="bulk-insert-index-skipped",
        description="luxe.insert_select writes the rows in batches but leaves the table's indexes "
                    "without their entries",
        file="fdw/bulk_insert.c",
        old="\tif (r->rri->ri_NumIndices > 0)\n",
        new="\tif (r->rri->ri_NumIndices > 1000)\n",
        suites=["pg_regress"],
    ),
    dict(
        id="bulk-insert-last-group-kept",
        description="insert_select's counts credit a row to the last row's group when only the "
                    "first grouping column matches",
        file="fdw/bulk_insert.c",
        old="\tif (r->last && group_values_equal(&probe, r->last->key))\n",
        new="\tif (r->last && datum_image_eq(values[0], r->last->key->values[0], r->spec.typbyval[0], "
            "r->spec.typlen[0]))\n",
        suites=["pg_regress"],
    ),
    dict(
        id="insight-rows-not-deleted",
        description="an incremental refresh deletes a replaced object's listings but not its rows "
                    "in insight_rows: the insights count them twice",
        file="fdw/install/20_pipeline.sql",
        old="          DELETE FROM luxe_store.insight_rows l WHERE l.source_object_id = ANY (ids);\n",
        new="          NULL;\n",
        suites=["pipeline-ops"],
    ),
    dict(
        id="plain-float8-trailing-zeros-dropped",
        description="the float8 fast path stops counting decimals at a zero: 1.05 reads as 10.5",
        file="fdw/gcs_scan.c",
        old="\t\t\tif (decimals >= 0)\n\t\t\t\tdecimals++;\n",
        new="\t\t\tif (decimals >= 0 && c != '0')\n\t\t\t\tdecimals++;\n",
        suites=["pg_regress"],
    ),
    dict(
        id="text-field-length-unconverted",
        description="a text field converted from the object's encoding is made with the length it "
                    "had before (Latin-1 'é' is 1 byte, 2 in UTF-8): the value is cut",
        file="fdw/gcs_scan.c",
        old="\t\t\tvalues[attidx] = PointerGetDatum(verified ? cstring_to_text_with_len(str, f->len) :\n",
        new="\t\t\tvalues[attidx] = PointerGetDatum(true ? cstring_to_text_with_len(str, f->len) :\n",
        suites=["pg_regress"],
    ),
    dict(
        id="progress-workers-unwatched",
        description="a refresh's progress shows only the bytes and rows the leader reads, not its "
                    "parallel workers'",
        file="fdw/gcs_scan.c",
        old="\tluxe_progress_watch(&shared->progress_bytes, &shared->progress_rows);\n",
        new="",
        suites=["pipeline-ops"],
    ),
    # --- the emulator -----------------------------------------------------
    dict(
        id="emulator-list-page-drops-last",
        description="the GCS emulator's object listing drops the last item of every page that has a "
                    "next page (the page token still points past it)",
        file="regress/emulator_lib/gcs.py",
        old="        page_items = [self.object_resource(ex, e[2], want_hashes) for e in page if e[1] == 0]\n",
        new="        page_items = [self.object_resource(ex, e[2], want_hashes)\n"
            "                      for e in (page[:-1] if len(entries) > limit else page) if e[1] == 0]\n",
        suites=["conformance"],
    ),
]


# ---------------------------------------------------------------------------
# helpers

class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop, but clean up first (as for Ctrl-C)."""


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


def git(*args, capture=True, check=True):
    p = subprocess.run(["git", "-C", REPO] + list(args), capture_output=capture, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("git %s failed: %s" % (" ".join(args), (p.stderr or "").strip()))
    return p


def head_text(commit, path):
    p = subprocess.run(["git", "-C", REPO, "show", "%s:%s" % (commit, path)], capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("%s is not in %s: %s" % (path, commit[:12], p.stderr.decode(errors="replace").strip()))
    return p.stdout.decode("utf-8")


def occurrences(text, s):
    """How many times s occurs in text, overlapping occurrences included."""
    n, i = 0, text.find(s)
    while i >= 0:
        n += 1
        i = text.find(s, i + 1)
    return n


def validate_definitions():
    """The mutant list itself: unique ids usable in paths, known suites."""
    seen = set()
    for m in MUTANTS:
        for key in ("id", "description", "file", "old", "new", "suites"):
            if key not in m:
                raise SystemExit("mutant %r lacks %r" % (m.get("id"), key))
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", m["id"]) or m["id"] in seen:
            raise SystemExit("bad or duplicate mutant id %r" % m["id"])
        seen.add(m["id"])
        if not m["old"] or m["old"] == m["new"]:
            raise SystemExit("mutant %s: old must be non-empty and differ from new" % m["id"])
        if not m["suites"] or any(s not in SUITES for s in m["suites"]):
            raise SystemExit("mutant %s: unknown suite in %r (known: %s)" % (m["id"], m["suites"], ", ".join(SUITES)))


def check_at(commit, mutants):
    """Problems of the mutants at commit: 'old' must occur exactly once."""
    problems = []
    for m in mutants:
        try:
            n = occurrences(head_text(commit, m["file"]), m["old"])
        except RuntimeError as e:
            problems.append("%s: %s" % (m["id"], e))
            continue
        if n != 1:
            problems.append("%s: 'old' occurs %d times in %s at %s (must be exactly once)"
                            % (m["id"], n, m["file"], commit[:12]))
    return problems


def apply_mutant(worktree, m):
    path = os.path.join(worktree, m["file"])
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    n = occurrences(text, m["old"])
    if n != 1:
        raise RuntimeError("mutant %s: 'old' occurs %d times in %s (must be exactly once)" % (m["id"], n, m["file"]))
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text.replace(m["old"], m["new"], 1))


current = None      # the process group running now, for Ctrl-C


def kill_group(proc):
    """End a process group we started: TERM, then KILL after 60 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run(cmd, cwd, log, timeout, append=False):
    """Run cmd in its own process group with its output in log; its exit
    status, or None when it outlived timeout (then it is killed)."""
    global current
    with open(log, "a" if append else "w") as out:
        if append:
            out.write("\n$ %s\n" % " ".join(cmd))
            out.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        current = proc
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            return None
        except BaseException:
            kill_group(proc)
            raise
        finally:
            current = None


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def remove_worktree(path):
    if os.path.exists(path) or path in git("worktree", "list", "--porcelain").stdout:
        git("worktree", "remove", "--force", path, check=False)
    git("worktree", "prune", check=False)


# ---------------------------------------------------------------------------
# one mutant

def judge(log, suites, status):
    """(result, detail) of a run-tests.sh run from its exit status and log."""
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    if status is None:
        return "INVALID", "the run outlived its timeout and was killed"
    setup = re.search(r"luxe: setup failed: (\S+)", text)
    if setup:
        return "INVALID", "run-tests.sh setup failed: %s" % setup.group(1)
    closing = re.findall(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", text, re.M)
    if not closing:
        return "INVALID", "run-tests.sh printed no closing line (exit status %d)" % status
    missing = [s for s in suites if not re.search(r"^%s: \d+ passed, \d+ failed" % re.escape(s), text, re.M)]
    if missing:
        return "INVALID", "no summary from %s" % ", ".join(missing)
    passed, failed, skipped = closing[-1]
    summary = "%s passed, %s failed, %s skipped" % (passed, failed, skipped)
    if status != 0:
        first = re.search(r"^(not ok .*|.*\.\.\. (?:FAILED|failed).*)$", text, re.M)
        return "KILLED", summary + ("; first: " + first.group(1).strip()[:200] if first else "")
    return "SURVIVED", summary


def run_mutant(m, commit, logdir, keep):
    wt = WORKTREE_PREFIX + m["id"]
    started = time.time()
    result = {"id": m["id"], "description": m["description"], "suites": m["suites"]}
    remove_worktree(wt)
    if os.path.exists(wt):
        raise RuntimeError("%s exists and is not a worktree of %s: remove it first" % (wt, REPO))
    git("worktree", "add", "--detach", wt, commit)
    try:
        # Google's Node clients for the conformance suite (not in git)
        modules = os.path.join(REPO, "regress", "node_modules")
        if os.path.isdir(modules) and not os.path.exists(os.path.join(wt, "regress", "node_modules")):
            os.symlink(modules, os.path.join(wt, "regress", "node_modules"))
        apply_mutant(wt, m)
        with open(os.path.join(logdir, m["id"] + ".diff"), "w") as f:
            f.write(subprocess.run(["git", "-C", wt, "diff"], capture_output=True, text=True).stdout)

        build_log = os.path.join(wt, "build.log")
        status = run(["make", "--no-print-directory"], wt, build_log, BUILD_TIMEOUT)
        if status == 0:
            status = run(["make", "--no-print-directory", "install"], wt, build_log, BUILD_TIMEOUT, append=True)
            what = "make install"
        else:
            what = "make"
        shutil.copy(build_log, os.path.join(logdir, m["id"] + ".build.log"))
        if status != 0:
            result.update(result="INVALID",
                          detail="%s failed%s; see %s" % (what, "" if status is not None else " (timed out)",
                                                           os.path.join(logdir, m["id"] + ".build.log")))
            print(tail(build_log), file=sys.stderr)
            return result

        tests_log = os.path.join(logdir, m["id"] + ".tests.log")
        timeout = max(1500, SUITE_TIMEOUT * len(m["suites"]) + 300)
        status = run(["bash", "regress/tools/run-tests.sh"] + list(m["suites"]), wt, tests_log, timeout)
        verdict, detail = judge(tests_log, m["suites"], status)
        result.update(result=verdict, detail=detail)
        if verdict == "INVALID":
            print(tail(tests_log), file=sys.stderr)
        return result
    finally:
        result["seconds"] = time.time() - started
        if not keep:
            remove_worktree(wt)


# ---------------------------------------------------------------------------
# restoring the unmutated build, reporting

def restore_main(logdir):
    """make clean && make && make install in this checkout; True on success."""
    log = os.path.join(logdir, "restore.log")
    open(log, "w").close()
    print("restoring the unmutated build from %s (log: %s)" % (REPO, log), flush=True)
    for cmd in (["make", "--no-print-directory", "clean"], ["make", "--no-print-directory"],
                ["make", "--no-print-directory", "install"]):
        status = run(cmd, REPO, log, BUILD_TIMEOUT, append=True)
        if status != 0:
            print(tail(log, 30), file=sys.stderr)
            print("ERROR: %s failed in %s: the installed luxe_fdw may be a MUTANT; rebuild and "
                  "install it by hand" % (" ".join(cmd), REPO), file=sys.stderr)
            return False
    return True


def print_tables(results):
    rows = [(r["id"], r["description"], " ".join(r["suites"]), r["result"], "%.0f" % r["seconds"])
            for r in results]
    head = ("id", "description", "suites", "result", "seconds")
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    widths[1] = min(widths[1], 70)

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            if i == 1 and len(c) > widths[1]:
                c = c[:widths[1] - 3] + "..."
            out.append(c.rjust(widths[i]) if i == 4 else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    print()
    print(line(head))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    details = [r for r in results if r.get("detail")]
    if details:
        print()
        for r in details:
            print("%s: %s" % (r["id"], r["detail"]))

    print()
    print("| id | description | suites | result | seconds |")
    print("|---|---|---|---|---:|")
    for row in rows:
        cells = [c.replace("|", "\\|") for c in row]
        print("| `%s` | %s | %s | %s | %s |" % tuple(cells))
    print()


def main():
    ap = argparse.ArgumentParser(description="Mutation testing of luxe_fdw's test suites.")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--check", action="store_true",
                    help="check that every mutant applies to HEAD (old occurs exactly once) and exit")
    ap.add_argument("--only", metavar="ID,...", help="run only these mutants")
    ap.add_argument("--keep", action="store_true", help="keep the worktrees /tmp/luxe-mutant-ID")
    args = ap.parse_args()

    validate_definitions()
    mutants = MUTANTS
    if args.only:
        wanted = [x.strip() for x in args.only.split(",") if x.strip()]
        known = {m["id"] for m in MUTANTS}
        unknown = [x for x in wanted if x not in known]
        if unknown:
            raise SystemExit("unknown mutant id(s): %s (see --list)" % ", ".join(unknown))
        mutants = [m for m in MUTANTS if m["id"] in wanted]

    if args.list:
        w = max(len(m["id"]) for m in mutants)
        for m in mutants:
            print("%-*s  %-30s %-16s %s" % (w, m["id"], m["file"], ",".join(m["suites"]), m["description"]))
        return 0

    commit = git("rev-parse", "HEAD").stdout.strip()
    problems = check_at(commit, mutants)
    if problems:
        for p in problems:
            print("ERROR: " + p, file=sys.stderr)
        return 2
    if args.check:
        print("%d mutants apply to HEAD %s: each 'old' occurs exactly once" % (len(mutants), commit[:12]))
        return 0

    logdir = time.strftime("/tmp/luxe-mutants-%Y%m%d-%H%M%S")
    os.makedirs(logdir, exist_ok=True)
    print("%d mutants of %s at %s; logs in %s" % (len(mutants), REPO, commit[:12], logdir), flush=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    results = []
    aborted = None
    try:
        for k, m in enumerate(mutants, 1):
            print("[%d/%d] %s: %s (%s)" % (k, len(mutants), m["id"], m["description"], " ".join(m["suites"])),
                  flush=True)
            r = run_mutant(m, commit, logdir, args.keep)
            results.append(r)
            print("    %s in %.0f s%s" % (r["result"], r["seconds"], ": " + r["detail"] if r.get("detail") else ""),
                  flush=True)
    except (KeyboardInterrupt, Interrupted) as e:
        aborted = "interrupted (%s)" % (e or "Ctrl-C")
    except Exception as e:      # report, then restore all the same
        aborted = "error: %s" % e
    finally:
        # nothing may stop the restore of the unmutated build
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if current is not None:
            kill_group(current)
        if aborted:
            print("stopping: %s" % aborted, file=sys.stderr, flush=True)
        if not args.keep:
            for m in mutants:
                remove_worktree(WORKTREE_PREFIX + m["id"])
        restored = restore_main(logdir)

    if results:
        print_tables(results)
    killed = sum(r["result"] == "KILLED" for r in results)
    survived = sum(r["result"] == "SURVIVED" for r in results)
    invalid = sum(r["result"] == "INVALID" for r in results)
    print("mutants: %d killed, %d survived, %d invalid" % (killed, survived, invalid))
    if args.keep:
        print("worktrees kept: %s" % ", ".join(WORKTREE_PREFIX + r["id"] for r in results))
    if aborted:
        print("NOT all mutants ran: %s" % aborted, file=sys.stderr)
    ok = restored and not aborted and killed == len(mutants)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

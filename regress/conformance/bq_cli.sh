#!/usr/bin/env bash
# Conformance of the luxe emulator's BigQuery REST v2 service, judged by Google's `bq` CLI
# (Cloud SDK), which fetches the discovery document, creates datasets and tables, loads from
# gs:// URIs, runs queries through jobs.insert + getQueryResults, inserts with insertAll and
# pages with tabledata.list.
#
# Usage: LUXE_EMULATOR_URL=http://127.0.0.1:PORT bash regress/conformance/bq_cli.sh
# Starts nothing: the emulator must already be running. Prints "ok N - name" or
# "not ok N - name" per test, then "bq-cli: N passed, M failed"; exits 1 on failure.
set -u

: "${LUXE_EMULATOR_URL:?LUXE_EMULATOR_URL is not set}"
if ! command -v bq >/dev/null 2>&1; then
    echo "bq not found (Debian package google-cloud-cli)" >&2
    exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The emulator accepts any bearer token unless started with --require-auth; keep everything
# on loopback and out of the user's gcloud configuration.
export CLOUDSDK_AUTH_ACCESS_TOKEN=emulator
export CLOUDSDK_CONFIG="$WORK/config"
export CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=True
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=True
export METADATA_SERVER_DETECTION=none GCE_METADATA_HOST=127.0.0.1:9 GCE_METADATA_IP=127.0.0.1:9 NO_GCE_CHECK=True
unset GOOGLE_APPLICATION_CREDENTIALS

PROJECT="cli-$RANDOM"
DS="cli_$RANDOM$RANDOM"
BUCKET="bqcli-$RANDOM$RANDOM"
LOG="$WORK/last.log"
TAP_TOOL=bq
source "$(dirname "$0")/tap.sh"

bqc() { bq --api="$LUXE_EMULATOR_URL" --project_id="$PROJECT" --headless --quiet "$@" 2>>"$LOG"; }
bqj() { bqc --format=json "$@"; }
emulator() { curl -sf -X "$1" "$LUXE_EMULATOR_URL$2" "${@:3}"; }
put_object() {  # put_object NAME FILE: create gs://$BUCKET/NAME through the JSON upload API
    emulator POST "/upload/storage/v1/b/$BUCKET/o?uploadType=media&name=$1" \
        -H 'Content-Type: text/csv' --data-binary "@$2" >/dev/null
}


# ---- fixtures ----
printf 'id,brand,price,sold\n1,Chanel,120.5,true\n2,Gucci,80,false\n3,"Dior, Paris",99.99,true\n4,Chanel,10,false\n' >"$WORK/items.csv"
# tab-separated, a header, NA for NULL, BigQuery's boolean words, and one bad INT64 ("x")
printf 'id\tbrand\tprice\tsold\tday\n1\tChanel\t10.5\ttrue\t2024-01-01\n2\tDior\tNA\tFALSE\t2024-01-02\nx\tBad\t1\ttrue\t2024-01-01\n3\tChanel\t30\tyes\tNA\n4\tGucci\t7.25\tn\t2024-01-04\n' >"$WORK/listings.tsv"
printf '{"id": 10, "brand": "Hermes", "price": 1000.25, "sold": true}\n{"id": 11, "brand": null, "price": null, "sold": false}\n' >"$WORK/rows.json"

# ---- tests ----
t_mk_dataset() {
    bqc mk -d "$DS"
    bqj show "$DS" | json_get "j['datasetReference']['datasetId']" | grep -qx "$DS"
    bqc ls | grep -q "$DS"
    ! bqc mk -d "$DS"    # already exists
}

t_mk_table() {
    bqc mk -t "$DS.items" id:INTEGER,brand:STRING,price:FLOAT,sold:BOOLEAN
    [ "$(bqj show "$DS.items" | json_get "[(f['name'], f['type']) for f in j['schema']['fields']]")" = \
      "[('id', 'INTEGER'), ('brand', 'STRING'), ('price', 'FLOAT'), ('sold', 'BOOLEAN')]" ]
    bqc ls "$DS" | grep -q items
}

t_load_csv() {
    emulator POST "/storage/v1/b?project=$PROJECT" -H 'Content-Type: application/json' \
        -d "{\"name\": \"$BUCKET\"}" >/dev/null
    put_object items.csv "$WORK/items.csv"
    bqc load --source_format=CSV --skip_leading_rows=1 "$DS.items" "gs://$BUCKET/items.csv"
    [ "$(bqj show "$DS.items" | json_get "j['numRows']")" = 4 ]
    bqc load --source_format=CSV --skip_leading_rows=1 "$DS.items" "gs://$BUCKET/items.csv"
    [ "$(bqj show "$DS.items" | json_get "j['numRows']")" = 8 ]   # WRITE_APPEND by default
    bqc load --replace --source_format=CSV --skip_leading_rows=1 "$DS.items" "gs://$BUCKET/items.csv"
    [ "$(bqj show "$DS.items" | json_get "j['numRows']")" = 4 ]   # --replace: WRITE_TRUNCATE
}

t_load_autodetect() {
    bqc load --autodetect --replace --source_format=CSV --skip_leading_rows=1 --allow_quoted_newlines \
        "$DS.auto" "gs://$BUCKET/items.csv"
    [ "$(bqj show "$DS.auto" | json_get "[(f['name'], f['type']) for f in j['schema']['fields']]")" = \
      "[('id', 'INTEGER'), ('brand', 'STRING'), ('price', 'FLOAT'), ('sold', 'BOOLEAN')]" ]
}

t_load_bad() {
    printf '1,a,1,true\nx,b,2,false\n' >"$WORK/bad.csv"
    put_object bad.csv "$WORK/bad.csv"
    ! bqc load --source_format=CSV "$DS.items" "gs://$BUCKET/bad.csv" >"$WORK/err.txt" 2>&1
    tr '\n' ' ' <"$WORK/err.txt" | grep -q "line 2"
    bqc load --source_format=CSV --max_bad_records=1 "$DS.items2" "gs://$BUCKET/bad.csv" \
        id:INTEGER,brand:STRING,price:FLOAT,sold:BOOLEAN
    [ "$(bqj show "$DS.items2" | json_get "j['numRows']")" = 1 ]
}

t_query() {
    out=$(bqj query --use_legacy_sql=false \
        "SELECT brand, COUNT(*) AS n, SUM(price) AS total FROM \`$PROJECT.$DS.items\` GROUP BY brand ORDER BY n DESC, brand")
    [ "$(echo "$out" | json_get "[(r['brand'], r['n'], r['total']) for r in j]")" = \
      "[('Chanel', '2', '130.5'), ('Dior, Paris', '1', '99.99'), ('Gucci', '1', '80.0')]" ]
}

t_query_params() {
    out=$(bqj query --use_legacy_sql=false --parameter=lo:FLOAT64:50 --parameter=b:STRING:Chanel \
        "SELECT id FROM $DS.items WHERE price > @lo AND brand = @b ORDER BY id")
    [ "$(echo "$out" | json_get "[r['id'] for r in j]")" = "['1']" ]
    out=$(bqj query --use_legacy_sql=false --parameter='ids:ARRAY<INT64>:[2,3]' \
        "SELECT brand FROM $DS.items WHERE id IN UNNEST(@ids) ORDER BY brand")
    [ "$(echo "$out" | json_get "[r['brand'] for r in j]")" = "['Dior, Paris', 'Gucci']" ]
}

t_query_types() {
    out=$(bqj query --use_legacy_sql=false \
        "SELECT 7 / 2 AS q, CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS ts, 'a' LIKE 'A' AS l, DIV(7, 2) AS d")
    [ "$(echo "$out" | json_get "[(r['q'], r['ts'], r['l'], r['d']) for r in j]")" = \
      "[('3.5', '2024-01-01 00:00:00', 'false', '3')]" ]
}

t_query_error() {
    ! bqc query --use_legacy_sql=false "SELECT nope FROM $DS.items" >"$WORK/err.txt" 2>&1
    grep -q "Unrecognized name: nope" "$WORK/err.txt"
    ! bqc query --use_legacy_sql=false "SELECT * FROM $DS.missing" >"$WORK/err.txt" 2>&1
    grep -qi "not found: table" "$WORK/err.txt"
}

t_insert() {
    bqc insert "$DS.items" "$WORK/rows.json"
    out=$(bqj query --use_legacy_sql=false "SELECT id, brand, price FROM $DS.items WHERE id >= 10 ORDER BY id")
    [ "$(echo "$out" | json_get "[(r['id'], r['brand'], r['price']) for r in j]")" = \
      "[('10', 'Hermes', '1000.25'), ('11', None, None)]" ]
    printf '{"id": "not a number"}\n' >"$WORK/badrow.json"
    ! bqc insert "$DS.items" "$WORK/badrow.json"
}

t_head() {
    out=$(bqj head -n 3 "$DS.items")
    [ "$(echo "$out" | json_get "len(j)")" = 3 ]
    out=$(bqj head -s 4 -n 10 "$DS.items")
    [ "$(echo "$out" | json_get "[r['id'] for r in j]")" = "['10', '11']" ]
}

t_dml() {
    bqc query --use_legacy_sql=false "DELETE FROM $DS.items WHERE id = 11"
    [ "$(bqj show "$DS.items" | json_get "j['numRows']")" = 5 ]
    bqc query --use_legacy_sql=false "TRUNCATE TABLE \`$PROJECT.$DS.items2\`"
    [ "$(bqj show "$DS.items2" | json_get "j['numRows']")" = 0 ]
}

t_mk_dataset_flag() {
    bqc mk --dataset "${DS}_b"
    bqj show "${DS}_b" | json_get "j['datasetReference']['datasetId']" | grep -qx "${DS}_b"
    fails bqc mk --dataset "${DS}_b"    # 409 duplicate
    bqc rm -f -d "${DS}_b"
    fails bqc show "${DS}_b"
}

t_load_schema_options() {
    put_object listings.tsv "$WORK/listings.tsv"
    for _ in 1 2; do   # --replace twice: one copy of the rows
        bqc load --source_format=CSV --field_delimiter=tab --skip_leading_rows=1 --null_marker=NA \
            --max_bad_records=1 --replace --schema=id:INTEGER,brand:STRING,price:FLOAT,sold:BOOLEAN,day:DATE \
            "$DS.listings" "gs://$BUCKET/listings.tsv"
    done
    [ "$(bqj show "$DS.listings" | json_get "(j['numRows'], [f['type'] for f in j['schema']['fields']])")" = \
      "('4', ['INTEGER', 'STRING', 'FLOAT', 'BOOLEAN', 'DATE'])" ]
    out=$(bqj query --use_legacy_sql=false "SELECT id, brand, price, sold, day FROM $DS.listings ORDER BY id")
    [ "$(echo "$out" | json_get "[(r['id'], r['price'], r['sold'], r['day']) for r in j]")" = \
      "[('1', '10.5', 'true', '2024-01-01'), ('2', None, 'false', '2024-01-02'), ('3', '30.0', 'true', None), ('4', '7.25', 'false', '2024-01-04')]" ]
    fails bqc load --source_format=CSV --field_delimiter=tab --skip_leading_rows=1 --null_marker=NA \
        --replace "$DS.listings" "gs://$BUCKET/listings.tsv" >"$WORK/err.txt" 2>&1
    grep -q "too many errors" "$WORK/err.txt"
    [ "$(bqj show "$DS.listings" | json_get "j['numRows']")" = 4 ]   # the failed load changed nothing
}

t_query_destination() {
    for _ in 1 2; do
        bqc query --use_legacy_sql=false --destination_table="$DS.top" --replace \
            "SELECT brand, COUNT(*) AS n FROM $DS.listings GROUP BY brand" >/dev/null
    done
    [ "$(bqj show "$DS.top" | json_get "j['numRows']")" = 3 ]
    bqc query --use_legacy_sql=false --destination_table="$DS.top" --append_table \
        "SELECT 'Hermes' AS brand, 9 AS n" >/dev/null
    out=$(bqj query --use_legacy_sql=false "SELECT brand, n FROM $DS.top ORDER BY brand")
    [ "$(echo "$out" | json_get "[(r['brand'], r['n']) for r in j]")" = \
      "[('Chanel', '2'), ('Dior', '1'), ('Gucci', '1'), ('Hermes', '9')]" ]
}

t_query_window() {
    out=$(bqj query --use_legacy_sql=false "SELECT brand, COUNT(*) AS n, SUM(COUNT(*)) OVER () AS total,
        ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, brand) AS rk,
        PERCENTILE_CONT(MAX(price), 0.5) OVER () AS med FROM $DS.listings GROUP BY brand ORDER BY rk")
    # MAX(price) per brand: Chanel 30, Dior NULL, Gucci 7.25; the median of (7.25, 30) interpolates
    [ "$(echo "$out" | json_get "[(r['brand'], r['n'], r['total'], r['rk'], r['med']) for r in j]")" = \
      "[('Chanel', '2', '4', '1', '18.625'), ('Dior', '1', '4', '2', '18.625'), ('Gucci', '1', '4', '3', '18.625')]" ]
}

t_max_bytes_billed() {
    fails bqc query --use_legacy_sql=false --maximum_bytes_billed=1000 --destination_table="$DS.capped" \
        "SELECT brand FROM $DS.listings" >"$WORK/err.txt" 2>&1
    tr '\n' ' ' <"$WORK/err.txt" | grep -q "Query exceeded limit for bytes billed: 1000. 10485760 or higher required"
    fails bqc show "$DS.capped"
    out=$(bqj query --use_legacy_sql=false --maximum_bytes_billed=10485760 "SELECT COUNT(brand) AS c FROM $DS.listings")
    [ "$(echo "$out" | json_get "j[0]['c']")" = 4 ]
}

t_view() {
    bqc query --use_legacy_sql=false "CREATE OR REPLACE VIEW $DS.priced AS SELECT brand, price FROM $DS.listings WHERE price IS NOT NULL"
    [ "$(bqj show "$DS.priced" | json_get "(j['type'], j['view']['useLegacySql'])")" = "('VIEW', False)" ]
    bqc ls "$DS" | grep -q "priced *VIEW"
    out=$(bqj query --use_legacy_sql=false "SELECT brand FROM $DS.priced ORDER BY price DESC")
    [ "$(echo "$out" | json_get "[r['brand'] for r in j]")" = "['Chanel', 'Chanel', 'Gucci']" ]
    bqc rm -f -t "$DS.priced"
    fails bqc show "$DS.priced"
}

t_script() {
    bqj query --use_legacy_sql=false "BEGIN TRANSACTION;
        DELETE FROM $DS.listings WHERE id IN (SELECT id FROM $DS.listings WHERE price > 20);
        COMMIT TRANSACTION;
        SELECT COUNT(*) AS n FROM $DS.listings" >"$WORK/out.txt"
    tr -d ' \n' <"$WORK/out.txt" | grep -q '\[{"n":"3"}\]'   # the last statement's rows
    [ "$(bqj show "$DS.listings" | json_get "j['numRows']")" = 3 ]
    fails bqc query --use_legacy_sql=false "BEGIN TRANSACTION; DELETE FROM $DS.listings WHERE TRUE;
        SELECT DIV(1, 0); COMMIT TRANSACTION" >"$WORK/err.txt" 2>&1
    tr '\n' ' ' <"$WORK/err.txt" | grep -q "division by zero"
    [ "$(bqj show "$DS.listings" | json_get "j['numRows']")" = 3 ]   # rolled back
}

t_rm_table() {
    bqc rm -f -t "$DS.top"
    fails bqc show "$DS.top"
    fails emulator DELETE "/bigquery/v2/projects/$PROJECT/datasets/$DS/tables/top"    # 404 notFound
}

t_rm() {
    bqc rm -f -t "$DS.auto"
    ! bqc show "$DS.auto"
    ! bqc rm -f -d "$DS"          # not empty
    bqc rm -r -f -d "$DS"
    ! bqc show "$DS"
}

run "mk a dataset; show and ls it" t_mk_dataset
run "mk a table with a schema" t_mk_table
run "load CSV from the GCS emulator (append, --replace)" t_load_csv
run "load --autodetect detects the header and the types" t_load_autodetect
run "load of bad rows fails, --max_bad_records skips them" t_load_bad
run "query with GROUP BY / ORDER BY" t_query
run "query --parameter (scalar and ARRAY)" t_query_params
run "query result values: float division, TIMESTAMP, LIKE, DIV" t_query_types
run "query errors are reported" t_query_error
run "insert NDJSON rows (insertAll)" t_insert
run "head pages through tabledata.list" t_head
run "DELETE and TRUNCATE TABLE" t_dml
run "mk --dataset, duplicate refused, rm -d" t_mk_dataset_flag
run "load --schema with tab, skip_leading_rows, null_marker, max_bad_records, --replace" t_load_schema_options
run "query --destination_table --replace (twice) and --append_table" t_query_destination
run "query with analytic functions over aggregates and PERCENTILE_CONT" t_query_window
run "query --maximum_bytes_billed refuses the job, writes nothing" t_max_bytes_billed
run "CREATE VIEW, show (type VIEW), query it, rm -f -t" t_view
run "a script with BEGIN/COMMIT TRANSACTION; a failed one rolls back" t_script
run "rm -f -t a table; a missing one is refused" t_rm_table
run "rm a table and a dataset" t_rm

tap_summary bq-cli

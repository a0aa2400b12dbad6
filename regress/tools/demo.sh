#!/bin/bash
# make demo: the whole pipeline on generated data, end to end.
#
# Generates a Vestiaire-shaped CSV (ROWS, default 100000), serves it from
# the local emulator as gs://vestiaire/data/vestiaire.csv, creates the
# server, user mapping and foreign table in a private cluster, sets up and
# refreshes the pipeline, prints the four insights, writes the dashboard to
# DASHBOARD (default ./luxe_dashboard.html) and prints a one-line summary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-100000}
SEED=${SEED:-42}
DASHBOARD=${DASHBOARD:-$PWD/luxe_dashboard.html}

luxe_setup
t0=$(date +%s.%N)
luxe_log "generating $ROWS Vestiaire-shaped rows (seed $SEED)"
mkdir -p "$LUXE_ROOT/vestiaire/data"
python3 "$LUXE_REPO/regress/gen_vestiaire" --rows "$ROWS" --seed "$SEED" \
	--out "$LUXE_ROOT/vestiaire/data/vestiaire.csv"
t_gen=$(date +%s.%N)
bytes=$(stat -c %s "$LUXE_ROOT/vestiaire/data/vestiaire.csv")
luxe_log "serving it from the local GCS emulator as gs://vestiaire/data/vestiaire.csv ($((bytes / 1000000)) MB)"
luxe_start_emulator "$LUXE_ROOT"
luxe_log "starting a private PostgreSQL 15 cluster"
luxe_start_cluster

run_psql() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

luxe_log "creating the extension, server, user mapping and foreign table"
COLDEFS=$(cd "$LUXE_REPO/regress/tools" && python3 -c 'from vestiaire_schema import COLDEFS; print(COLDEFS)')
run_psql <<SQL
CREATE EXTENSION luxe_fdw;
CREATE SERVER vestiaire_gcs FOREIGN DATA WRAPPER luxe_fdw
  OPTIONS (service 'gcs', endpoint '$LUXE_EMULATOR_URL');
CREATE USER MAPPING FOR CURRENT_USER SERVER vestiaire_gcs OPTIONS (auth 'none');
CREATE FOREIGN TABLE raw_listings ($COLDEFS
) SERVER vestiaire_gcs
  OPTIONS (uri 'gs://vestiaire/data/vestiaire.csv', skip_leading_rows '1');
\o /dev/null
SELECT luxe.setup_pipeline('raw_listings');
\o
SQL
run_psql -c "EXPLAIN SELECT * FROM raw_listings" | sed 's/^/    /'

luxe_log "refreshing the pipeline: GCS object -> luxe.listings -> four views"
t_ref0=$(date +%s.%N)
# the refresh in the background; its progress, as another session sees it
# (luxe.pipeline_progress), on one line meanwhile
run_psql -c "CALL luxe.refresh_pipeline()" &
refresh=$!
last=
printed=0
while kill -0 "$refresh" 2>/dev/null; do
	line=$(run_psql -At -c "SELECT CASE WHEN bytes_total > 0
	                                 THEN format('  %s: %s of %s MB, %s rows, %s s', phase, round(bytes_done / 1e6),
	                                             round(bytes_total / 1e6), rows_done,
	                                             round(extract(epoch FROM elapsed)::numeric, 1))
	                                 ELSE format('  %s: %s s', phase, round(extract(epoch FROM elapsed)::numeric, 1))
	                            END
	                          FROM luxe.pipeline_progress WHERE phase IS NOT NULL LIMIT 1" 2>/dev/null || true)
	now=$(date +%s)
	if [ -n "$line" ] && [ "$line" != "$last" ]; then
		if [ -t 1 ]; then
			printf '\r%-72s' "$line"	# one line, redrawn
		elif [ "${line%%:*}" != "${last%%:*}" ] || [ $((now - printed)) -ge 2 ]; then
			echo "$line"			# a log: each phase, then every 2 s
			printed=$now
		fi
		last=$line
	fi
	sleep 0.2
done
if [ -t 1 ] && [ -n "$last" ]; then printf '\r%-72s\r' ""; fi
wait "$refresh"
t_ref1=$(date +%s.%N)

echo
echo "== 1. Sellers by country (top 10)"
run_psql -c "SELECT seller_country, sellers, listings, round(share_pct, 2) AS share_pct
               FROM luxe.sellers_by_country ORDER BY sellers DESC, seller_country LIMIT 10"
echo "== 2. Average brand price (top 10 brands by listings)"
run_psql -c "SELECT brand_name, listings, round(avg_price::numeric, 2) AS avg_price,
                    round(p25::numeric, 2) AS p25, round(median::numeric, 2) AS median,
                    round(p75::numeric, 2) AS p75, min_price, max_price
               FROM luxe.brand_prices ORDER BY listings DESC, brand_name LIMIT 10"
echo "== 3. Product type % by brand (top 3 types of the 5 biggest brands)"
run_psql -c "SELECT brand_name, product_type, listings, round(pct, 2) AS pct
               FROM (SELECT *, row_number() OVER (PARTITION BY brand_name ORDER BY listings DESC, product_type) AS r
                       FROM luxe.product_types_by_brand
                      WHERE brand_name IN (SELECT brand_name FROM luxe.brand_prices ORDER BY listings DESC, brand_name LIMIT 5)) t
              WHERE r <= 3 ORDER BY brand_name, r"
echo "== 4. Sales % by shipping interval"
run_psql -c "SELECT usually_ships_within, sold, listings, round(share_pct, 2) AS share_pct,
                    round(sell_through_pct, 3) AS sell_through_pct
               FROM luxe.sales_by_ship_interval ORDER BY bucket_order"
echo "== Run history"
run_psql -c "SELECT run_id, status, rows_read, round(load_seconds::numeric, 2) AS load_s,
                    round(refresh_seconds::numeric, 2) AS views_s FROM luxe.pipeline_runs ORDER BY run_id"

run_psql -At -c "SELECT luxe.dashboard_html()" >"$DASHBOARD"
luxe_log "dashboard written to $DASHBOARD"

summary=$(run_psql -At -F ' ' -c "SELECT rows_read, round(load_seconds::numeric, 2), round(refresh_seconds::numeric, 2)
                                    FROM luxe.last_refresh")
read -r rows load views <<<"$summary"
printf 'demo: %s rows (%s MB) read from GCS; generate %.1f s, pipeline %.2f s (load %s s, views %s s); dashboard %s\n' \
	"$rows" "$((bytes / 1000000))" "$(awk "BEGIN{print $t_gen - $t0}")" "$(awk "BEGIN{print $t_ref1 - $t_ref0}")" \
	"$load" "$views" "$DASHBOARD"

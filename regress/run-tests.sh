#!/bin/bash
# Run every luxe_fdw test suite and end with "N passed, M failed".
#
# Suites: pg_regress (SQL behaviour, against a private cluster and the local
# emulator), emulator conformance (Google's own clients), the generator
# checks, and integration tests (scans of generated data compared with an
# independent reading in Python).  Exits non-zero if anything failed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

total_passed=0
total_failed=0
count() {	# count SUITE PASSED FAILED
	printf '%s: %d passed, %d failed\n' "$1" "$2" "$3"
	total_passed=$((total_passed + $2))
	total_failed=$((total_failed + $3))
}
# Read the "NAME: N passed, M failed" line a suite prints last.
count_from_log() {	# count_from_log SUITE LOG STATUS
	local line p f
	line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$2" | tail -1)
	if [ -z "$line" ]; then
		count "$1" 0 1
		tail -20 "$2"
		return
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	[ "$f" -ne 0 ] && grep -E '^not ok' "$2" | head -20
	count "$1" "$p" "$f"
}

# bash regress/run-tests.sh [SUITE...]: the named suites only (pg_regress,
# conformance, generator, integration, integration-bq); default all.
SUITES=("$@")
want() {
	[ ${#SUITES[@]} -eq 0 ] && return 0
	local s
	for s in "${SUITES[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

luxe_setup
luxe_log "generating fixtures"
python3 "$LUXE_REPO/regress/fixtures.py" "$LUXE_ROOT"
luxe_log "starting the emulator and a private cluster"
luxe_start_emulator "$LUXE_ROOT"
LUXE_EMULATOR_PLAIN_URL=$LUXE_EMULATOR_URL
# the BigQuery side of the same emulator: datasets and tables for pg_regress
python3 "$LUXE_REPO/regress/fixtures_bq.py" "$LUXE_EMULATOR_URL" >/dev/null
# A second emulator on the same objects that demands credentials: a fixed
# token, or an OAuth2 token it issued itself, from a service-account JWT
# (test keys made here, one registered and one not) or as the metadata
# server.  Its port is chosen first because the keys name their token_uri.
auth_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
install -d -o postgres -m 700 "$LUXE_TMP/keys"
for k in good bad; do
	python3 "$LUXE_REPO/regress/make_sa_key.py" --token-uri "http://127.0.0.1:$auth_port/token" \
		--email "regress-$k@luxe-test.iam.gserviceaccount.com" --out "$LUXE_TMP/keys/$k.json" >/dev/null
	chown postgres "$LUXE_TMP/keys/$k.json"
done
export LUXE_SA_KEY_FILE="$LUXE_TMP/keys/good.json" LUXE_SA_BAD_KEY_FILE="$LUXE_TMP/keys/bad.json"
python3 "$LUXE_REPO/regress/emulator" --root "$LUXE_ROOT" --port "$auth_port" \
	--require-token regress-secret-token --require-auth \
	--service-account "$LUXE_SA_KEY_FILE" >"$LUXE_TMP/emulator-auth.log" 2>&1 &
LUXE_EMU_AUTH_PID=$!
for _ in $(seq 1 100); do
	LUXE_EMULATOR_AUTH_URL=$(sed -n 's/^luxe emulator listening on //p' "$LUXE_TMP/emulator-auth.log" | head -1)
	[ -n "$LUXE_EMULATOR_AUTH_URL" ] && break
	sleep 0.1
done
export LUXE_EMULATOR_AUTH_URL
# the backends find the metadata server through GCE_METADATA_HOST (loopback)
export GCE_METADATA_HOST="127.0.0.1:$auth_port"
trap 'kill $LUXE_EMU_AUTH_PID 2>/dev/null; luxe_cleanup' EXIT
luxe_start_cluster

# 1. pg_regress
if want pg_regress; then
luxe_log "pg_regress"
export LUXE_DASHBOARD_FILE="$LUXE_TMP/regress_dashboard.html"
cd "$LUXE_REPO"
rm -rf results regression.diffs regression.out
make --no-print-directory installcheck >"$LUXE_TMP/pg_regress.log" 2>&1
status=$?
p=$(grep -cE '\.\.\. ok' "$LUXE_TMP/pg_regress.log")
f=$(grep -cE '\.\.\. (FAILED|failed)' "$LUXE_TMP/pg_regress.log")
if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; tail -30 "$LUXE_TMP/pg_regress.log"; fi
grep -E '\.\.\. (FAILED|failed)' "$LUXE_TMP/pg_regress.log"
[ -f regression.diffs ] && head -150 regression.diffs
count pg_regress "$p" "$f"
fi

# 2. emulator conformance, driven by gcloud and Google's Node clients
if want conformance; then
luxe_log "emulator conformance"
if [ ! -d "$LUXE_REPO/regress/node_modules/@google-cloud/storage" ]; then
	(cd "$LUXE_REPO/regress" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
		npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1)
fi
bash "$LUXE_REPO/regress/conformance/run.sh" >"$LUXE_TMP/conformance.log" 2>&1
count_from_log conformance "$LUXE_TMP/conformance.log" $?
fi

# 3. generator
if want generator; then
luxe_log "generator checks"
python3 "$LUXE_REPO/regress/gen_vestiaire_check.py" >"$LUXE_TMP/gen.log" 2>&1
count_from_log generator "$LUXE_TMP/gen.log" $?
fi

# 4. integration
if want integration; then
luxe_log "integration"
LUXE_TMP="$LUXE_TMP" LUXE_ROOT="$LUXE_ROOT" LUXE_EMULATOR_URL="$LUXE_EMULATOR_PLAIN_URL" LUXE_PGLOG="$LUXE_PGLOG" python3 "$LUXE_REPO/regress/integration.py" >"$LUXE_TMP/integration.log" 2>&1
count_from_log integration "$LUXE_TMP/integration.log" $?
fi
if want integration-bq; then
luxe_log "integration (BigQuery)"
LUXE_TMP="$LUXE_TMP" LUXE_ROOT="$LUXE_ROOT" LUXE_EMULATOR_URL="$LUXE_EMULATOR_PLAIN_URL" python3 "$LUXE_REPO/regress/integration_bq.py" >"$LUXE_TMP/integration_bq.log" 2>&1
count_from_log integration-bq "$LUXE_TMP/integration_bq.log" $?
fi

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]

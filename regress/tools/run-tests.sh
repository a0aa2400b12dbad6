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

# bash regress/tools/run-tests.sh [SUITE...]: the named suites only (pg_regress,
# conformance, generator, integration, integration-bq); default all.
SUITES=("$@")
want() {
	[ ${#SUITES[@]} -eq 0 ] && return 0
	local s
	for s in "${SUITES[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

luxe_setup
luxe_log "starting the emulators and a private cluster"
luxe_step emulator luxe_start_emulator "$LUXE_ROOT"
luxe_step fixtures luxe_fixtures "$LUXE_ROOT" "$LUXE_EMULATOR_URL"
luxe_step auth-emulator luxe_start_auth_emulator "$LUXE_ROOT"
luxe_step cluster luxe_start_cluster

# 1. pg_regress
if want pg_regress; then
luxe_log "pg_regress"
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
python3 "$LUXE_REPO/regress/tools/gen_vestiaire_check.py" >"$LUXE_TMP/gen.log" 2>&1
count_from_log generator "$LUXE_TMP/gen.log" $?
fi

# 4. integration
if want integration; then
luxe_log "integration"
LUXE_TMP="$LUXE_TMP" LUXE_ROOT="$LUXE_ROOT" LUXE_PGLOG="$LUXE_PGLOG" python3 "$LUXE_REPO/regress/integration/integration.py" >"$LUXE_TMP/integration.log" 2>&1
count_from_log integration "$LUXE_TMP/integration.log" $?
fi
if want integration-bq; then
luxe_log "integration (BigQuery)"
LUXE_TMP="$LUXE_TMP" LUXE_ROOT="$LUXE_ROOT" python3 "$LUXE_REPO/regress/integration/integration_bq.py" >"$LUXE_TMP/integration_bq.log" 2>&1
count_from_log integration-bq "$LUXE_TMP/integration_bq.log" $?
fi

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]

#!/bin/bash
# Run every luxe_fdw test suite and end with "N passed, M failed, K skipped".
#
#   bash regress/tools/run-tests.sh [SUITE...]      (default: all, in order)
#
# Suites: pg_regress (SQL behaviour, against a private cluster and the local
# emulators), conformance (Google's own clients against the emulator),
# generator (the data generator's checks), integration and integration-bq
# (generated data through the FDW compared with independent readings, faults,
# the pipeline, the dashboard, pg_cron), faults (the fault matrix: every
# operation under every fault), pipeline-ops (the pipeline unattended:
# incremental refresh, skips, progress, alerts, timeouts, cancels, BI
# listing), engine-bq (the pipeline run inside BigQuery, compared with the
# local engine), fuzz (the libFuzzer harnesses of regress/fuzz, briefly).
#
# Every suite runs under a timeout (LUXE_SUITE_TIMEOUT seconds, default 1200):
# one that hangs is killed and counted as a failure naming it, as is one that
# crashes, exits non-zero or prints no summary.  A skipped test is counted as
# skipped, never as passed.  Setup failures stop the run with their own
# message.  Exits non-zero if anything failed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

SUITE_TIMEOUT=${LUXE_SUITE_TIMEOUT:-1200}
total_passed=0
total_failed=0
total_skipped=0

count() {	# count SUITE PASSED FAILED SKIPPED
	printf '%s: %d passed, %d failed, %d skipped\n' "$1" "$2" "$3" "$4"
	total_passed=$((total_passed + $2))
	total_failed=$((total_failed + $3))
	total_skipped=$((total_skipped + $4))
}

# run_suite NAME LOG COMMAND...: run a suite under the timeout, its output in
# LOG; then count the "LABEL: N passed, M failed[, K skipped]" line it prints
# last (pg_regress: its "... ok" and "... FAILED" lines).
run_suite() {
	local name=$1 log=$2 status line p f k
	shift 2
	luxe_log "$name"
	timeout --kill-after=30 "$SUITE_TIMEOUT" "$@" >"$log" 2>&1
	status=$?
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		echo "not ok - $name: timed out after $SUITE_TIMEOUT s (log: $log)"
		tail -20 "$log"
	fi
	if [ "$name" = pg_regress ]; then
		p=$(grep -cE '\.\.\. ok' "$log")
		f=$(grep -cE '\.\.\. (FAILED|failed)' "$log")
		k=0
		grep -E '\.\.\. (FAILED|failed)' "$log"
		[ -f "$LUXE_REPO/regression.diffs" ] && head -150 "$LUXE_REPO/regression.diffs"
	else
		line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
		if [ -z "$line" ]; then
			echo "not ok - $name: no summary line (exit status $status)"
			tail -20 "$log"
			count "$name" 0 1 0
			return
		fi
		p=$(sed -E 's/^[^:]+: ([0-9]+) passed.*/\1/' <<<"$line")
		f=$(sed -E 's/^[^:]+: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
		k=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line")
		k=${k:-0}
		[ "$f" -ne 0 ] && grep -E '^not ok' "$log" | head -20
		grep -E '# SKIP' "$log" | head -20
	fi
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name: exit status $status (log: $log)"
		tail -30 "$log"
		f=1
	fi
	count "$name" "$p" "$f" "$k"
}

SUITES=("$@")
want() {
	[ ${#SUITES[@]} -eq 0 ] && return 0
	local s
	for s in "${SUITES[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

node_modules() {
	[ -d "$LUXE_REPO/regress/node_modules/@google-cloud/storage" ] && return 0
	cd "$LUXE_REPO/regress" && timeout 900 npm ci --no-audit --no-fund --loglevel=error
}

luxe_setup
luxe_log "starting the emulators and a private cluster"
luxe_step emulator luxe_start_emulator "$LUXE_ROOT"
luxe_step fixtures luxe_fixtures "$LUXE_ROOT" "$LUXE_EMULATOR_URL"
luxe_step auth-emulator luxe_start_auth_emulator "$LUXE_ROOT"
luxe_step cluster luxe_start_cluster
cd "$LUXE_REPO"

if want pg_regress; then
	rm -rf results regression.diffs regression.out
	run_suite pg_regress "$LUXE_TMP/pg_regress.log" make --no-print-directory installcheck
fi
if want conformance; then
	luxe_step node-modules node_modules
	run_suite conformance "$LUXE_TMP/conformance.log" bash "$LUXE_REPO/regress/conformance/run.sh"
fi
if want generator; then
	# Debian's python3, where make deps installed pandas for the pandas checks
	run_suite generator "$LUXE_TMP/gen.log" /usr/bin/python3 "$LUXE_REPO/regress/tools/gen_vestiaire_check.py"
fi
export LUXE_TMP LUXE_ROOT LUXE_PGLOG
if want integration; then
	run_suite integration "$LUXE_TMP/integration.log" python3 "$LUXE_REPO/regress/integration/integration.py"
fi
if want faults; then
	# the fast cells of the fault matrix (LUXE_FAULTS_ALL=1: every cell)
	run_suite faults "$LUXE_TMP/faults.log" python3 "$LUXE_REPO/regress/integration/fault_matrix.py" \
		${LUXE_FAULTS_ALL:+--all}
fi
if want pipeline-ops; then
	# Debian's python3: psycopg2 comes from python3-psycopg2
	run_suite pipeline-ops "$LUXE_TMP/pipeline_ops.log" /usr/bin/python3 "$LUXE_REPO/regress/integration/pipeline_ops.py"
fi
if want integration-bq; then
	run_suite integration-bq "$LUXE_TMP/integration_bq.log" python3 "$LUXE_REPO/regress/integration/integration_bq.py"
fi
if want fuzz; then
	# every known reproducer and the corpus replayed, then a short fuzzing
	# run per target (make fuzz SECONDS=N: longer runs)
	run_suite fuzz "$LUXE_TMP/fuzz.log" bash "$LUXE_REPO/regress/fuzz/run.sh" "${LUXE_FUZZ_SECONDS:-15}"
fi
if want engine-bq; then
	run_suite engine-bq "$LUXE_TMP/engine_bq.log" /usr/bin/python3 "$LUXE_REPO/regress/integration/engine_bigquery.py"
fi

# the closing line: "N passed, M failed, K skipped" (a skip is never a pass)
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[ "$total_failed" -eq 0 ]

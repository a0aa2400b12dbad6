#!/usr/bin/env bash
# Run the emulator conformance suites: start regress/emulator on a free loopback port over
# a temporary root, run the GCS and BigQuery wire (Python), Node client and gcloud/bq CLI
# suites against it, stop
# it; then the OAuth2/metadata suites (oauth_wire.py, oauth_node.mjs), which start their own
# emulators with throw-away service-account keys. Prints "conformance: N passed, M failed,
# K skipped"; exits non-zero if anything failed.  Each suite runs under a timeout
# (LUXE_SUITE_TIMEOUT seconds, default 600): a suite that hangs, crashes, exits
# non-zero or prints no summary is a counted failure naming it.
#
# Usage: bash regress/conformance/run.sh
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REGRESS=$(dirname "$HERE")

# Nothing may leave loopback: no metadata-server probes, no ambient credentials.
export METADATA_SERVER_DETECTION=none GCE_METADATA_HOST=127.0.0.1:9 GCE_METADATA_IP=127.0.0.1:9 NO_GCE_CHECK=True
unset GOOGLE_APPLICATION_CREDENTIALS STORAGE_EMULATOR_HOST

TMP=$(mktemp -d)
EMULATOR_PID=
cleanup() {
    if [ -n "$EMULATOR_PID" ]; then
        kill "$EMULATOR_PID" 2>/dev/null
        wait "$EMULATOR_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

if [ ! -d "$REGRESS/node_modules/@google-cloud/storage" ]; then
    echo "# installing the Node client libraries (npm ci)"
    (cd "$REGRESS" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) || exit 1
fi

export LUXE_EMULATOR_ROOT="$TMP/root"
"$REGRESS/emulator" --root "$LUXE_EMULATOR_ROOT" --port 0 >"$TMP/emulator.out" 2>"$TMP/emulator.err" &
EMULATOR_PID=$!
for _ in $(seq 1 100); do
    grep -q '^luxe emulator listening on ' "$TMP/emulator.out" && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || break
    sleep 0.1
done
LUXE_EMULATOR_URL=$(sed -n 's/^luxe emulator listening on //p' "$TMP/emulator.out")
if [ -z "$LUXE_EMULATOR_URL" ]; then
    echo "# the emulator did not start:"
    sed 's/^/# /' "$TMP/emulator.err"
    echo "conformance: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
export LUXE_EMULATOR_URL
echo "# emulator at $LUXE_EMULATOR_URL, root $LUXE_EMULATOR_ROOT"

PASSED=0 FAILED=0 SKIPPED=0
TIMEOUT=${LUXE_SUITE_TIMEOUT:-600}
suite() {  # suite LABEL COMMAND...: run it, then add up its "LABEL: N passed, M failed[, K skipped]" line
    local label=$1 summary status p f k
    shift
    timeout --kill-after=10 "$TIMEOUT" "$@" | tee "$TMP/suite.out"
    status=$?
    summary=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed" "$TMP/suite.out" | tail -n 1)
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        echo "not ok - $label: timed out after ${TIMEOUT} s"
        FAILED=$((FAILED + 1))
    fi
    if [ -z "$summary" ]; then
        echo "not ok - $label: no summary line (the suite crashed or hung, exit status $status)"
        FAILED=$((FAILED + 1))
        return
    fi
    p=$(echo "$summary" | sed -E 's/^[^:]+: ([0-9]+) passed.*/\1/')
    f=$(echo "$summary" | sed -E 's/^[^:]+: [0-9]+ passed, ([0-9]+) failed.*/\1/')
    k=$(echo "$summary" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    # a suite that exits non-zero with no failure in its summary still failed
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $label: exit status $status"
        f=1
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    SKIPPED=$((SKIPPED + ${k:-0}))
}

suite gcs-wire python3 "$HERE/gcs_wire.py"
suite gcs-node node "$HERE/gcs_node.mjs"
suite gcs-gcloud bash "$HERE/gcs_gcloud.sh"
suite bq-wire python3 "$HERE/bq_wire.py"
suite bq-node node "$HERE/bq_node.mjs"
suite bq-cli bash "$HERE/bq_cli.sh"
suite oauth-wire python3 "$HERE/oauth_wire.py"
suite oauth-node node "$HERE/oauth_node.mjs"

if [ "$FAILED" -ne 0 ] && [ -s "$TMP/emulator.err" ]; then
    echo "# emulator stderr (last lines):"
    tail -n 30 "$TMP/emulator.err" | sed 's/^/# /'
fi
echo "conformance: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]

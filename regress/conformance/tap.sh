# TAP-style runner shared by the shell conformance suites (gcs_gcloud.sh, bq_cli.sh), the
# shell twin of tap.py.  Source it after setting WORK (a scratch directory), LOG (the file the
# client under test writes its stderr to) and TAP_TOOL (the prefix of that log's lines).

N=0 PASSED=0 FAILED=0

json_get() {  # json_get EXPR: print EXPR evaluated on the JSON document `j` read from stdin
    python3 -c 'import json, sys; j = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
fails() {  # succeed only if the command fails (a bare `! cmd` would not trip set -e)
    if "$@"; then return 1; fi
}
run() {  # run NAME FUNCTION; the function runs under set -e in a subshell
    N=$((N + 1))
    : >"$LOG"
    ( set -e; "$2" ) >"$WORK/out" 2>&1
    if [ $? -eq 0 ]; then
        PASSED=$((PASSED + 1)); echo "ok $N - $1"
    else
        FAILED=$((FAILED + 1)); echo "not ok $N - $1"
        sed 's/^/# /' "$WORK/out" | tail -n 15
        [ -s "$LOG" ] && sed "s/^/# $TAP_TOOL: /" "$LOG" | tail -n 10
    fi
}
tap_summary() {  # tap_summary LABEL: the "LABEL: N passed, M failed" line; fails if any did
    echo "$1: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

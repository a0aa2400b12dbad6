#!/bin/bash
# make sanitize: the SQL regression suite (and, with SUITES, others) against
# an UndefinedBehaviorSanitizer build of luxe_fdw running under Valgrind's
# memcheck.
#
#   bash regress/tools/sanitize.sh [SUITE...]     (default: pg_regress)
#
# Why not AddressSanitizer: an ASan build of a shared library needs the ASan
# runtime preloaded into the program that loads it, and Debian's postgres
# (and initdb) deadlock at startup with libasan preloaded (in glibc's
# bindtextdomain, before main does anything of ours).  Valgrind needs no
# preloading and checks every heap access of the process, libcurl's,
# jansson's and libcsv's included; UBSan's runtime loads with the library.
# Every report is kept under the work directory; a report whose stack names
# luxe_fdw code fails the run (PostgreSQL's own, which it does not suppress
# without a Valgrind-aware build, are counted apart).  Leak checking is off:
# PostgreSQL frees memory by resetting contexts and by exiting.  The normal
# build is reinstalled at the end, whatever happened.
set -uo pipefail
cd "$(dirname "$0")/../.."
SAN="-fsanitize=undefined -fno-sanitize=alignment -fno-omit-frame-pointer -g"
SUITES=("$@")
[ ${#SUITES[@]} -eq 0 ] && SUITES=(pg_regress)

command -v valgrind >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
[ -e "$(gcc -print-file-name=libubsan.so)" ] ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libubsan1 >/dev/null
REPORTS=$(mktemp -d /tmp/luxe-sanitize.XXXXXX)
chmod 777 "$REPORTS"

restore() {
	make --no-print-directory clean >/dev/null
	make --no-print-directory >/dev/null && make --no-print-directory install >/dev/null
}
trap restore EXIT

echo "sanitize: building luxe_fdw with $SAN"
make --no-print-directory clean >/dev/null
make --no-print-directory COPT="$SAN" >"$REPORTS/build.log" 2>&1 || { tail -30 "$REPORTS/build.log"; exit 1; }
make --no-print-directory COPT="$SAN" install >/dev/null || exit 1

export UBSAN_OPTIONS="print_stacktrace=1:log_path=$REPORTS/ubsan"
export LUXE_PG_WRAPPER="valgrind --quiet --trace-children=yes --leak-check=no --track-origins=no \
--error-limit=no --num-callers=30 --log-file=$REPORTS/valgrind.%p"
# everything is slower under Valgrind: give the suites room
export LUXE_SUITE_TIMEOUT=${LUXE_SUITE_TIMEOUT:-5400}
bash regress/tools/run-tests.sh "${SUITES[@]}" 2>&1 | tee "$REPORTS/tests.log"
tests=${PIPESTATUS[0]}

ours=0
theirs=0
for f in "$REPORTS"/valgrind.* "$REPORTS"/ubsan.*; do
	[ -s "$f" ] || continue
	# one Valgrind error block per blank-line separated paragraph
	n=$(awk -v RS= '/luxe_fdw\.so|\/fdw\// && /(Invalid|uninitialised|Uninitialised|overlap|runtime error|Mismatched)/ {c++} END {print c+0}' "$f")
	m=$(awk -v RS= '!/luxe_fdw\.so|\/fdw\// && /(Invalid|uninitialised|Uninitialised|overlap|runtime error|Mismatched)/ {c++} END {print c+0}' "$f")
	ours=$((ours + n))
	theirs=$((theirs + m))
	if [ "$n" -gt 0 ]; then
		echo "== reports in luxe_fdw code: $f"
		awk -v RS= -v ORS='\n\n' '/luxe_fdw\.so|\/fdw\// && /(Invalid|uninitialised|Uninitialised|overlap|runtime error|Mismatched)/' "$f" | head -80
	fi
done
echo "sanitize: $ours report(s) in luxe_fdw code, $theirs elsewhere (PostgreSQL, libraries); reports in $REPORTS"
[ "$tests" -eq 0 ] && [ "$ours" -eq 0 ]

#!/usr/bin/env bash
# regress/fuzz/run.sh: build the libFuzzer harnesses of luxe_fdw and run each
# one for a while on its corpus.
#
#   regress/fuzz/run.sh [SECONDS]        fuzz every target SECONDS (default 60)
#   regress/fuzz/run.sh --short          30 s per target (the test suite's mode)
#   regress/fuzz/run.sh --build          build only
#   regress/fuzz/run.sh --replay         run every corpus, seed and crash input
#                                        once, no fuzzing
#   regress/fuzz/run.sh --merge TARGET   minimise the working corpus of TARGET
#                                        into regress/fuzz/corpus/TARGET
#
# Environment: FUZZ_TARGETS="csv gcs" picks targets; FUZZ_BUILD_DIR (default
# regress/fuzz/build); FUZZ_TOLERATE_KNOWN=1 lets the harnesses step past
# the known bugs listed in regress/fuzz/README.md, so a long run can look
# for new ones; FUZZ_JOBS (default 1) runs that many targets at once.
#
# Each target prints "ok N - TARGET ..." or "not ok N - TARGET ..."; the last
# line is "fuzz: N passed, M failed, 0 skipped".  A crash, leak, timeout,
# sanitizer report or invariant failure fails the target; the input that
# caused it is saved in the build directory's artifacts/TARGET/.
#
# The repository's corpus is never written by a run: each target fuzzes a
# working copy (seeds + corpus) under the build directory.
set -u

here=$(cd "$(dirname "$0")" && pwd)
fdw=$(cd "$here/../../fdw" && pwd)
build=${FUZZ_BUILD_DIR:-$here/build}
all_targets="csv gcs bigquery auth google_error"
targets=${FUZZ_TARGETS:-$all_targets}
seconds=60
mode=fuzz
merge_target=

while [ $# -gt 0 ]; do
	case "$1" in
		--short) seconds=30 ;;
		--build) mode=build ;;
		--replay) mode=replay ;;
		--merge) mode=merge; merge_target=${2:?--merge needs a target}; shift ;;
		[0-9]*) seconds=$1 ;;
		-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
		*) echo "run.sh: unknown argument \"$1\"" >&2; exit 2 ;;
	esac
	shift
done

cc=
for c in clang-14 clang; do
	if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
done
pg_config=/usr/lib/postgresql/15/bin/pg_config
[ -x "$pg_config" ] || pg_config=pg_config
if [ -z "$cc" ] || ! "$pg_config" --includedir-server >/dev/null 2>&1; then
	echo "fuzz: clang and the PostgreSQL 15 server headers are needed (apt-get install clang-14 libclang-rt-14-dev postgresql-server-dev-15)" >&2
	echo "fuzz: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
pg_inc=$("$pg_config" --includedir-server)
pg_lib=$("$pg_config" --pkglibdir)   # libpgcommon.a, libpgport.a

# ---- build ----------------------------------------------------------------

cflags="-g -O1 -fno-omit-frame-pointer -Wall -Wno-ignored-attributes -Wno-unused-function
	-D_GNU_SOURCE -Werror=implicit-function-declaration
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
	-iquote $here -iquote $fdw -I$pg_inc $(pkg-config --cflags jansson libcurl 2>/dev/null)"
# coverage feedback for the fdw code and the harnesses, not for the doubles
cov=-fsanitize=fuzzer-no-link
libs="-L$pg_lib -lpgcommon -lpgport $(pkg-config --libs jansson libcurl 2>/dev/null || echo -ljansson -lcurl) -lcsv -lcrypto -lz -lm"

declare -A sources=(
	[csv]="fuzz_csv.c fdw:csv.c"
	[gcs]="fuzz_gcs.c fdw:gcs.c fdw:google.c fdw_auth.c"
	[bigquery]="fuzz_bigquery.c fdw:bigquery.c fdw:google.c fdw_auth.c"
	[auth]="fuzz_auth.c fdw_auth.c fdw:google.c"
	[google_error]="fuzz_google_error.c fdw:google.c fdw_auth.c"
)
common="mini_backend.c fake_http.c fake_option.c"
# fdw/http.c is compiled as it is, with every name http.h declares
# renamed to real_...: fake_http.c answers for the functions that touch the
# network (or sleep) and forwards the pure helpers (URL checks, escaping,
# excerpts of remote text, header lookup, retry delays, the quiet wrapper)
# to the real ones.
http_renames=$(grep -o 'luxe_http_[a-z_]*' "$fdw/http.h" | sort -u | sed 's/.*/-D&=real_&/' | tr '\n' ' ')

compile() {		# compile SRC OBJ [coverage]
	local src=$1 obj=$2 extra=${3:-}
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$here/fuzz_common.h" -nt "$obj" ] ||
		[ "$here/run.sh" -nt "$obj" ] || { [ "$(basename "$src")" = fdw_auth.c ] && [ "$fdw/auth.c" -nt "$obj" ]; } ||
		[ -n "$(find "$fdw" -name '*.h' -newer "$obj" 2>/dev/null | head -1)" ]; then
		# shellcheck disable=SC2086
		$cc $cflags $extra -c "$src" -o "$obj" 2>"$obj.log" || { cat "$obj.log" >&2; return 1; }
	fi
}

build_target() {	# build_target TARGET -> $build/fuzz_TARGET
	local t=$1 objs="" s src obj
	mkdir -p "$build/obj"
	for s in $common; do
		compile "$here/$s" "$build/obj/${s%.c}.o" || return 1
		objs="$objs $build/obj/${s%.c}.o"
	done
	compile "$fdw/http.c" "$build/obj/fdw_http.o" "$cov $http_renames" || return 1
	objs="$objs $build/obj/fdw_http.o"
	for s in ${sources[$t]}; do
		case "$s" in
			fdw:*) src=$fdw/${s#fdw:}; obj=$build/obj/fdw_${s#fdw:}; obj=${obj%.c}.o ;;
			*) src=$here/$s; obj=$build/obj/${s%.c}.o ;;
		esac
		compile "$src" "$obj" "$cov" || return 1
		objs="$objs $obj"
	done
	# shellcheck disable=SC2086
	$cc $cflags -fsanitize=fuzzer $objs $libs -o "$build/fuzz_$t" 2>"$build/obj/link_$t.log" ||
		{ cat "$build/obj/link_$t.log" >&2; return 1; }
}

mkdir -p "$build"
built=""
for t in $targets; do
	if [ -z "${sources[$t]:-}" ]; then
		echo "run.sh: unknown target \"$t\" (targets: $all_targets)" >&2
		exit 2
	fi
	if build_target "$t"; then built="$built $t"; else echo "fuzz: build of $t failed" >&2; fi
done
[ "$mode" = build ] && { [ "$(echo $built)" = "$(echo $targets)" ]; exit $?; }

# ---- run ------------------------------------------------------------------

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Targets with known leaks (README.md): with FUZZ_TOLERATE_KNOWN=1 they fuzz
# without leak detection, and their corpus is then replayed once with the
# leaks of known_leaks.supp suppressed (jansson has no frame pointers, so
# that replay unwinds slowly to see who allocated).
known_leak_targets="auth gcs bigquery"
tolerate=${FUZZ_TOLERATE_KNOWN:-0}

dict_args() {
	[ -f "$here/dict/$1.dict" ] && echo "-dict=$here/dict/$1.dict"
}

if [ "$mode" = merge ]; then
	# every feature first; past 300 inputs, edge coverage alone
	t=$merge_target
	for counters in 1 0; do
		rm -rf "$here/corpus/$t.new" && mkdir -p "$here/corpus/$t.new"
		ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
			"$build/fuzz_$t" -merge=1 -use_counters=$counters -rss_limit_mb=4096 -timeout=30 \
			"$here/corpus/$t.new" "$here/seeds/$t" "$here/corpus/$t" "$build/work/$t" \
			>"$build/merge_$t.log" 2>&1 ||
			{ tail -20 "$build/merge_$t.log"; rm -rf "$here/corpus/$t.new"; exit 1; }
		[ "$(ls "$here/corpus/$t.new" | wc -l)" -le 300 ] && break
	done
	rm -rf "$here/corpus/$t" && mv "$here/corpus/$t.new" "$here/corpus/$t"
	echo "fuzz: corpus/$t has $(ls "$here/corpus/$t" | wc -l) inputs"
	exit 0
fi

run_target() {		# run_target N TARGET -> prints the TAP line; 0 if ok
	local n=$1 t=$2 log=$build/log_$t.txt work=$build/work/$t art=$build/artifacts/$t/ rc inputs=""
	mkdir -p "$work" "$art"
	if [ "$mode" = replay ]; then
		local asan=$ASAN_OPTIONS lsan=${LSAN_OPTIONS:-}
		inputs=$(find "$here/seeds/$t" "$here/corpus/$t" "$here/crashes/$t" -type f 2>/dev/null)
		if [ -z "$inputs" ]; then
			echo "not ok $n - $t: no inputs"; return 1
		fi
		if [ "$tolerate" = 1 ]; then
			asan="$asan:fast_unwind_on_malloc=0"
			lsan="suppressions=$here/known_leaks.supp:print_suppressions=0"
		fi
		# shellcheck disable=SC2086
		ASAN_OPTIONS=$asan LSAN_OPTIONS=$lsan \
			"$build/fuzz_$t" -rss_limit_mb=4096 -timeout=30 -artifact_prefix="$art" $inputs >"$log" 2>&1
		rc=$?
	else
		local leaks=1 extra=""
		if [ "$tolerate" = 1 ] && echo " $known_leak_targets " | grep -q " $t "; then
			leaks=0
		elif [ "$tolerate" != 1 ] && [ -d "$here/crashes/$t" ]; then
			extra="$here/crashes/$t"	# known bugs fail at once
		fi
		# A target whose known leaks are tolerated runs in slices of at most
		# 60 s, each a fresh process on the corpus so far, so that what it
		# leaks does not pile up.
		local left=$seconds slice
		: >"$log"
		rc=0
		while [ "$left" -gt 0 ] && [ $rc -eq 0 ]; do
			slice=$left
			[ $leaks = 0 ] && [ "$slice" -gt 60 ] && slice=60
			# shellcheck disable=SC2086
			ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=$leaks" \
			"$build/fuzz_$t" -max_total_time="$slice" -timeout=30 -rss_limit_mb=4096 \
				-max_len=65536 -print_final_stats=1 -detect_leaks=$leaks -artifact_prefix="$art" \
				$(dict_args "$t") "$work" "$here/seeds/$t" "$here/corpus/$t" $extra \
				>>"$log" 2>&1
			rc=$?
			left=$((left - slice))
		done 2>>"$log"		# the shell's own "Aborted" notices too
		if [ $rc -eq 0 ] && [ $leaks = 0 ]; then
			ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" \
				LSAN_OPTIONS="suppressions=$here/known_leaks.supp:print_suppressions=0" \
				"$build/fuzz_$t" -runs=0 -timeout=60 -rss_limit_mb=4096 -artifact_prefix="$art" \
				"$work" "$here/seeds/$t" "$here/corpus/$t" >"$log.leaks" 2>&1
			rc=$?
			[ $rc -ne 0 ] && cat "$log.leaks" >>"$log"
		fi
	fi
	local stats
	[ "$mode" = replay ] && stats="$(echo "$inputs" | wc -l) inputs replayed" ||
	stats=$(awk '/stat::number_of_executed_units/{e+=$2} /stat::peak_rss_mb/{if ($2>r) r=$2}
		/^#[0-9]+.*(DONE|INITED|pulse|NEW|REDUCE)/{for(i=1;i<=NF;i++){if($i=="cov:")c=$(i+1); if($i=="ft:")f=$(i+1)}}
		END{printf "%s execs, cov %s, ft %s, rss %s MB", e?e:"?", c?c:"?", f?f:"?", r?r:"?"}' "$log")
	if [ $rc -eq 0 ]; then
		echo "ok $n - $t ($stats)"
		return 0
	fi
	echo "not ok $n - $t (exit $rc; $stats; log $log; inputs in $art)"
	grep -m1 -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|==FUZZ==" "$log" | sed 's/^/#   /'
	return 1
}

echo "1..$(echo $targets | wc -w)"
passed=0
failed=0
n=0
jobs=${FUZZ_JOBS:-1}
results=$build/results
rm -rf "$results" && mkdir -p "$results"
for t in $targets; do
	n=$((n + 1))
	if ! echo " $built " | grep -q " $t "; then
		echo "not ok $n - $t (build failed)" >"$results/$n"
		continue
	fi
	if [ "$jobs" -gt 1 ]; then
		run_target $n "$t" >"$results/$n" &
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	else
		run_target $n "$t" | tee "$results/$n"
	fi
done
wait
for f in $(ls "$results" | sort -n); do
	[ "$jobs" -gt 1 ] && cat "$results/$f"
	if head -1 "$results/$f" | grep -q '^ok'; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed, 0 skipped"
[ $failed -eq 0 ]

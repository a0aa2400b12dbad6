#!/bin/bash
# Run the luxe_fdw benchmarks against a private cluster and the emulator.
#   bash bench/run.sh [gcs_scan gcs_faults pipeline aggregates bq_pushdown refresh_readers incremental engines vs_duckdb many_objects big_object]   (default: all, in that order;
#   aggregates runs on the table pipeline leaves)
# ROWS=N changes the generated data size (default 900000).
set -euo pipefail
source "$(dirname "$0")/../regress/tools/lib.sh"
# pandas is the yardstick of bench/pipeline.py (Debian's, for /usr/bin/python3)
if ! /usr/bin/python3 -c 'import pandas' 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pandas >/dev/null
fi
luxe_setup
luxe_start_emulator "$LUXE_ROOT"
# benchmarks run as users run PostgreSQL: default durability (fsync,
# full_page_writes and synchronous_commit on)
LUXE_DURABLE=1 luxe_start_cluster
export LUXE_ROOT
benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(gcs_scan gcs_faults pipeline aggregates bq_pushdown refresh_readers incremental engines vs_duckdb many_objects big_object)
status=0
for b in "${benches[@]}"; do
	echo "== $b"
	python3 "$LUXE_REPO/bench/$b.py" || { echo "== $b: FAILED (a bar missed or a check failed)"; status=1; }
done
exit $status

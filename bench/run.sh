#!/bin/bash
# Run the luxe_fdw benchmarks against a private cluster and the emulator.
#   bash bench/run.sh [gcs_scan ...]     (default: all)
# ROWS=N changes the generated data size (default 900000).
set -euo pipefail
source "$(dirname "$0")/../regress/lib.sh"
luxe_setup
luxe_start_emulator "$LUXE_ROOT"
luxe_start_cluster
export LUXE_ROOT
benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(gcs_scan)
for b in "${benches[@]}"; do
	echo "== $b"
	python3 "$LUXE_REPO/bench/$b.py"
done

#!/bin/bash
# regress/tools/with-emulators.sh COMMAND [ARG...]
#
# Run COMMAND (pg_regress, from "make installcheck") with what the SQL
# tests need besides a running server that has luxe_fdw installed: the
# local GCS/BigQuery emulator seeded with the fixtures, a second emulator
# that demands credentials, and throw-away service-account keys; their
# addresses are exported (LUXE_EMULATOR_URL, LUXE_EMULATOR_AUTH_URL,
# LUXE_SA_KEY_FILE, LUXE_SA_BAD_KEY_FILE, LUXE_METADATA_HOST) for the
# tests' \getenv.  Everything is stopped and removed afterwards; the exit
# status is COMMAND's.  Nothing here contacts anything but loopback.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

luxe_setup
luxe_step emulator luxe_start_emulator "$LUXE_ROOT"
luxe_step fixtures luxe_fixtures "$LUXE_ROOT" "$LUXE_EMULATOR_URL"
luxe_step auth-emulator luxe_start_auth_emulator "$LUXE_ROOT"
"$@"

# Shared shell functions of the luxe_fdw test harness and demo.
#
# luxe_setup creates a private work directory, starts the local GCS/BigQuery
# emulator on a free loopback port and a private PostgreSQL 15 cluster on a
# unix socket (as the postgres OS user: PostgreSQL refuses root); luxe_cleanup
# stops both.  Nothing here contacts anything but loopback.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
LUXE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Google clients must never probe the real metadata server or pick up
# credentials from the environment.
export METADATA_SERVER_DETECTION=none
export GCE_METADATA_HOST=127.0.0.1:9
export GCE_METADATA_IP=127.0.0.1:9
export NO_GCE_CHECK=True
unset GOOGLE_APPLICATION_CREDENTIALS STORAGE_EMULATOR_HOST BIGQUERY_EMULATOR_HOST

luxe_log() { printf '%s luxe: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

luxe_cleanup() {
	if [ -n "${LUXE_PGDATA:-}" ] && [ -f "$LUXE_PGDATA/postmaster.pid" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$LUXE_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ -n "${LUXE_EMU_PID:-}" ]; then
		kill "$LUXE_EMU_PID" 2>/dev/null || true
		wait "$LUXE_EMU_PID" 2>/dev/null || true
	fi
	if [ -n "${LUXE_TMP:-}" ] && [ -z "${LUXE_KEEP:-}" ]; then
		rm -rf "$LUXE_TMP"
	fi
}

# luxe_start_emulator ROOT: sets LUXE_EMULATOR_URL and LUXE_EMU_PID
luxe_start_emulator() {
	local root=$1 log="$LUXE_TMP/emulator.log" i
	python3 "$LUXE_REPO/regress/emulator" --root "$root" --port 0 >"$log" 2>&1 &
	LUXE_EMU_PID=$!
	for i in $(seq 1 100); do
		LUXE_EMULATOR_URL=$(sed -n 's/^luxe emulator listening on //p' "$log" | head -1)
		[ -n "$LUXE_EMULATOR_URL" ] && break
		if ! kill -0 "$LUXE_EMU_PID" 2>/dev/null; then
			cat "$log" >&2
			luxe_log "emulator did not start"
			return 1
		fi
		sleep 0.1
	done
	[ -n "$LUXE_EMULATOR_URL" ] || { luxe_log "emulator did not report its port"; return 1; }
	export LUXE_EMULATOR_URL
}

# luxe_start_cluster: a throw-away cluster; sets PGHOST, PGPORT, PGUSER
luxe_start_cluster() {
	LUXE_PGDATA="$LUXE_TMP/pgdata"
	local sock="$LUXE_TMP/sock"
	install -d -o postgres -m 700 "$LUXE_PGDATA"
	install -d -o postgres -m 755 "$sock"
	install -d -o postgres -m 755 "$LUXE_TMP/log"
	LUXE_PGLOG="$LUXE_TMP/log/postgres.log"
	runuser -u postgres -- "$PGBIN/initdb" -D "$LUXE_PGDATA" -U postgres -A trust \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$LUXE_TMP/initdb.log" 2>&1 ||
		{ cat "$LUXE_TMP/initdb.log" >&2; return 1; }
	cat >>"$LUXE_PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$sock'
port = 5499
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 256MB
max_worker_processes = 16
max_parallel_workers_per_gather = 2
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
cron.max_running_jobs = 4
log_min_messages = warning
CONF
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$LUXE_PGDATA" -l "$LUXE_PGLOG" \
		-w -t 60 start >/dev/null || { cat "$LUXE_PGLOG" >&2; return 1; }
	export PGHOST="$sock" PGPORT=5499 PGUSER=postgres
}

# luxe_setup [ROOT_FILLER]: work dir, fixtures via the given command, both servers
luxe_setup() {
	LUXE_TMP=$(mktemp -d /tmp/luxe.XXXXXX)
	chmod 755 "$LUXE_TMP"
	LUXE_ROOT="$LUXE_TMP/gcs"
	mkdir -p "$LUXE_ROOT"
	trap luxe_cleanup EXIT
	trap 'exit 130' INT TERM
}

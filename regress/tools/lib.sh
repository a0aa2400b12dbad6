# Shared shell functions of the luxe_fdw test harness and demo.
#
# luxe_setup creates a private work directory, starts the local GCS/BigQuery
# emulator on a free loopback port and a private PostgreSQL 15 cluster on a
# unix socket (as the postgres OS user: PostgreSQL refuses root); luxe_cleanup
# stops both.  Nothing here contacts anything but loopback.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
LUXE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Google clients must never probe the real metadata server or pick up
# credentials from the environment.
export METADATA_SERVER_DETECTION=none
export GCE_METADATA_HOST=127.0.0.1:9
export GCE_METADATA_IP=127.0.0.1:9
export NO_GCE_CHECK=True
unset GOOGLE_APPLICATION_CREDENTIALS STORAGE_EMULATOR_HOST BIGQUERY_EMULATOR_HOST

luxe_log() { printf '%s luxe: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

luxe_cleanup() {
	local pid
	if [ -n "${LUXE_PGDATA:-}" ] && [ -f "$LUXE_PGDATA/postmaster.pid" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$LUXE_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	for pid in ${LUXE_EMU_PID:-} ${LUXE_EMU_AUTH_PID:-}; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "${LUXE_TMP:-}" ] && [ -z "${LUXE_KEEP:-}" ]; then
		rm -rf "$LUXE_TMP"
	fi
}

# luxe_step NAME COMMAND...: a setup step; its output goes to a log, and a
# failure stops everything with its own message instead of surfacing later
# as unrelated test failures.
luxe_step() {
	local name=$1 log="$LUXE_TMP/setup-$1.log"
	shift
	if ! "$@" >"$log" 2>&1; then
		tail -30 "$log" >&2
		luxe_log "setup failed: $name (log: $log)"
		exit 2
	fi
}

# luxe_wait_emulator LOG PID: the URL an emulator reports once listening
luxe_wait_emulator() {
	local log=$1 pid=$2 url="" i
	for i in $(seq 1 150); do
		url=$(sed -n 's/^luxe emulator listening on //p' "$log" | head -1)
		[ -n "$url" ] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$log" >&2
			luxe_log "emulator did not start"
			return 1
		fi
		sleep 0.1
	done
	[ -n "$url" ] || { luxe_log "emulator did not report its port"; return 1; }
	echo "$url"
}

# luxe_start_emulator ROOT [ARGS...]: sets LUXE_EMULATOR_URL and LUXE_EMU_PID
luxe_start_emulator() {
	local root=$1 log="$LUXE_TMP/emulator.log"
	shift
	python3 "$LUXE_REPO/regress/emulator" --root "$root" --port 0 "$@" >"$log" 2>&1 &
	LUXE_EMU_PID=$!
	LUXE_EMULATOR_URL=$(luxe_wait_emulator "$log" "$LUXE_EMU_PID") || return 1
	export LUXE_EMULATOR_URL
}

# luxe_fixtures ROOT URL: the GCS objects and the BigQuery datasets the SQL
# tests read, and (LUXE_BQ_LOCAL_SQL) SQL making local copies of the
# BigQuery rows from the same fixture values
luxe_fixtures() {
	export LUXE_BQ_LOCAL_SQL="$LUXE_TMP/bq_local.sql"
	python3 "$LUXE_REPO/regress/fixtures/fixtures.py" "$1" &&
		python3 "$LUXE_REPO/regress/fixtures/fixtures_bq.py" "$2" --local-sql "$LUXE_BQ_LOCAL_SQL"
}

# luxe_start_auth_emulator ROOT: a second emulator on the same objects that
# demands credentials -- a fixed token, or an OAuth2 token it issued itself
# from a service-account JWT (throw-away keys made here, one registered and
# one not) or as the metadata server.  Its port is chosen first because the
# keys name their token_uri.  Sets LUXE_EMULATOR_AUTH_URL, LUXE_SA_KEY_FILE,
# LUXE_SA_BAD_KEY_FILE, LUXE_METADATA_HOST and LUXE_EMU_AUTH_PID.  The keys
# must be readable by the database server, which reads key_file options.
luxe_start_auth_emulator() {
	local root=$1 port k
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$LUXE_TMP/keys"
	chmod 755 "$LUXE_TMP/keys"
	for k in good bad; do
		python3 "$LUXE_REPO/regress/tools/make_sa_key.py" --token-uri "http://127.0.0.1:$port/token" \
			--email "regress-$k@luxe-test.iam.gserviceaccount.com" --out "$LUXE_TMP/keys/$k.json" >/dev/null || return 1
		chmod 644 "$LUXE_TMP/keys/$k.json"
	done
	export LUXE_SA_KEY_FILE="$LUXE_TMP/keys/good.json" LUXE_SA_BAD_KEY_FILE="$LUXE_TMP/keys/bad.json"
	python3 "$LUXE_REPO/regress/emulator" --root "$root" --port "$port" \
		--require-token regress-secret-token --require-auth \
		--service-account "$LUXE_SA_KEY_FILE" >"$LUXE_TMP/emulator-auth.log" 2>&1 &
	LUXE_EMU_AUTH_PID=$!
	LUXE_EMULATOR_AUTH_URL=$(luxe_wait_emulator "$LUXE_TMP/emulator-auth.log" "$LUXE_EMU_AUTH_PID") || return 1
	export LUXE_EMULATOR_AUTH_URL LUXE_METADATA_HOST="127.0.0.1:$port"
}

# luxe_start_cluster: a throw-away cluster; sets PGHOST, PGPORT, PGUSER.
# Tests run it without durability (fsync and friends off) for speed;
# LUXE_DURABLE=1 keeps PostgreSQL's defaults, as benchmarks must.
luxe_start_cluster() {
	LUXE_PGDATA="$LUXE_TMP/pgdata"
	local sock="$LUXE_TMP/sock"
	# a free TCP port on loopback (JDBC clients need TCP; two clusters, such
	# as a test run beside a benchmark, must not collide)
	local port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	install -d -o postgres -m 700 "$LUXE_PGDATA"
	install -d -o postgres -m 755 "$sock"
	install -d -o postgres -m 755 "$LUXE_TMP/log"
	LUXE_PGLOG="$LUXE_TMP/log/postgres.log"
	runuser -u postgres -- "$PGBIN/initdb" -D "$LUXE_PGDATA" -U postgres -A trust \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$LUXE_TMP/initdb.log" 2>&1 ||
		{ cat "$LUXE_TMP/initdb.log" >&2; return 1; }
	cat >>"$LUXE_PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
port = $port
$( [ -n "${LUXE_DURABLE:-}" ] || printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' )
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
	# (LUXE_PGDATA is not exported: a child script that sources this file
	# and runs luxe_setup would stop this cluster in its luxe_cleanup)
	luxe_run_cluster
}

# luxe_run_cluster: start the cluster of luxe_start_cluster (again, as
# after a crash: a test stops it with pg_ctl -m immediate); needs LUXE_TMP,
# LUXE_PGDATA and LUXE_PGLOG
luxe_run_cluster() {
	local sock="$LUXE_TMP/sock"
	local port
	port=$(sed -n 's/^port = //p' "$LUXE_PGDATA/postgresql.conf")
	if [ -n "${LUXE_PG_WRAPPER:-}" ]; then
		# make sanitize: the postmaster (and every backend it forks) runs
		# under a wrapper such as valgrind; pg_ctl cannot start it so
		# shellcheck disable=SC2086
		runuser -u postgres -- $LUXE_PG_WRAPPER "$PGBIN/postgres" -D "$LUXE_PGDATA" \
			>>"$LUXE_PGLOG" 2>&1 &
		local i
		for i in $(seq 1 600); do
			runuser -u postgres -- "$PGBIN/pg_isready" -q -h "$sock" -p "$port" && break
			sleep 0.5
		done
		runuser -u postgres -- "$PGBIN/pg_isready" -q -h "$sock" -p "$port" ||
			{ cat "$LUXE_PGLOG" >&2; return 1; }
	else
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$LUXE_PGDATA" -l "$LUXE_PGLOG" \
			-w -t 60 start >/dev/null || { cat "$LUXE_PGLOG" >&2; return 1; }
	fi
	export PGHOST="$sock" PGPORT="$port" PGUSER=postgres
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

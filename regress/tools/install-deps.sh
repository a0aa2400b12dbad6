#!/bin/bash
# Install the Debian packages luxe_fdw needs to build and test, if missing.
# Runs as root on a fresh Debian 12 machine; does nothing when all present.
set -euo pipefail

pkgs=(
	build-essential pkg-config
	postgresql-15 postgresql-server-dev-15 postgresql-contrib
	postgresql-15-cron
	libcurl4-openssl-dev libjansson-dev libcsv-dev libssl-dev zlib1g-dev
	python3 python3-pandas python3-google-auth python3-psycopg2 nodejs npm
	curl chromium
	default-jdk-headless libpostgresql-jdbc-java
	clang-14 libclang-rt-14-dev
)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
# Node and npm may come from outside Debian (e.g. a NodeSource build).
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	missing=("${missing[@]/nodejs}")
	missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]:-}"
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "luxe_fdw: missing packages: ${missing[*]}" >&2
	echo "luxe_fdw: run as root, or install them with apt-get" >&2
	exit 1
fi
echo "luxe_fdw: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

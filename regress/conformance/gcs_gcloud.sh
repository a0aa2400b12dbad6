#!/usr/bin/env bash
# Conformance of the luxe emulator's GCS JSON API, judged by `gcloud storage` (Cloud SDK).
#
# Usage: LUXE_EMULATOR_URL=http://127.0.0.1:PORT bash regress/conformance/gcs_gcloud.sh
# Starts nothing: the emulator must already be running. Prints "ok N - name" or
# "not ok N - name" per test, then "gcs-gcloud: N passed, M failed"; exits 1 on failure.
set -u

: "${LUXE_EMULATOR_URL:?LUXE_EMULATOR_URL is not set}"
if ! command -v gcloud >/dev/null 2>&1; then
    echo "gcloud not found (Debian package google-cloud-cli)" >&2
    exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Point gcloud at the emulator, without credentials, and keep everything on loopback.
export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE="$LUXE_EMULATOR_URL/"
export CLOUDSDK_AUTH_DISABLE_CREDENTIALS=True
export CLOUDSDK_CONFIG="$WORK/config"
export CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_CORE_PROJECT=p
export CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=True
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=True
export METADATA_SERVER_DETECTION=none GCE_METADATA_HOST=127.0.0.1:9 GCE_METADATA_IP=127.0.0.1:9 NO_GCE_CHECK=True
unset GOOGLE_APPLICATION_CREDENTIALS

BUCKET="gcloud-$RANDOM$RANDOM"
GS="gs://$BUCKET"
LOG="$WORK/last.log"
TAP_TOOL=gcloud
source "$(dirname "$0")/tap.sh"

gs() { gcloud storage "$@" 2>"$LOG"; }
emulator() { curl -sf -X "$1" "$LUXE_EMULATOR_URL$2"; }
requests_of() {  # count of one operation in /_emulator/stats
    emulator GET /_emulator/stats | json_get "j['requests'].get('$1', 0)"
}
field() {  # one field of `gcloud storage objects describe --format=json`
    gs objects describe "$1" --format=json | json_get "j.get('$2', '')"
}
local_hash() {  # crc32c_hash or md5_hash of a local file, as gcloud computes it
    gcloud storage hash "$1" --format=json 2>/dev/null | json_get "j[0]['$2']"
}


# ---- fixtures ----
printf 'id,name\n1,alpha\n2,beta\n' >"$WORK/small.csv"
head -c $((12 * 1024 * 1024 + 321)) /dev/urandom >"$WORK/big.bin"
mkdir "$WORK/many"
for i in $(seq -w 1 1205); do echo "$i" >"$WORK/many/f$i.txt"; done
for i in $(seq 1 2000); do echo "row $i,some text,$((i * 7))"; done >"$WORK/text.csv"

# ---- tests ----
t_create_bucket() {
    gs buckets create "$GS"
    gs buckets list --format='value(name)' | grep -qx "$BUCKET"
}

t_cp_small() {
    gs cp "$WORK/small.csv" "$GS/small.csv"
    [ "$(field "$GS/small.csv" size)" = "$(stat -c %s "$WORK/small.csv")" ]
    [ "$(field "$GS/small.csv" md5_hash)" = "$(local_hash "$WORK/small.csv" md5_hash)" ]
    [ "$(field "$GS/small.csv" crc32c_hash)" = "$(local_hash "$WORK/small.csv" crc32c_hash)" ]
}

t_cp_big_resumable() {
    emulator POST /_emulator/stats/reset >/dev/null
    gs cp "$WORK/big.bin" "$GS/dir/big.bin"
    [ "$(requests_of storage.objects.insert)" -ge 2 ]   # session POST + PUT(s)
    [ "$(field "$GS/dir/big.bin" crc32c_hash)" = "$(local_hash "$WORK/big.bin" crc32c_hash)" ]
}

t_cp_big_composite() {
    CLOUDSDK_STORAGE_PARALLEL_COMPOSITE_UPLOAD_ENABLED=True \
    CLOUDSDK_STORAGE_PARALLEL_COMPOSITE_UPLOAD_THRESHOLD=1M \
    CLOUDSDK_STORAGE_PARALLEL_COMPOSITE_UPLOAD_COMPONENT_SIZE=2M \
        gs cp "$WORK/big.bin" "$GS/dir/composite.bin"
    [ "$(field "$GS/dir/composite.bin" component_count)" -ge 2 ]
    [ -z "$(field "$GS/dir/composite.bin" md5_hash)" ]   # composite objects have no MD5
    [ "$(field "$GS/dir/composite.bin" crc32c_hash)" = "$(local_hash "$WORK/big.bin" crc32c_hash)" ]
    gs cp "$GS/dir/composite.bin" "$WORK/composite.down"
    cmp "$WORK/big.bin" "$WORK/composite.down"
}

t_cp_down() {
    gs cp "$GS/dir/big.bin" "$WORK/big.down"
    cmp "$WORK/big.bin" "$WORK/big.down"
    gs cp "$GS/small.csv" "$WORK/small.down"
    cmp "$WORK/small.csv" "$WORK/small.down"
}

t_cp_down_sliced() {
    emulator POST /_emulator/stats/reset >/dev/null
    CLOUDSDK_STORAGE_SLICED_OBJECT_DOWNLOAD_THRESHOLD=1M \
    CLOUDSDK_STORAGE_SLICED_OBJECT_DOWNLOAD_COMPONENT_SIZE=2M \
    CLOUDSDK_STORAGE_SLICED_OBJECT_DOWNLOAD_MAX_COMPONENTS=4 \
        gs cp "$GS/dir/big.bin" "$WORK/sliced.down"
    cmp "$WORK/big.bin" "$WORK/sliced.down"
    [ "$(requests_of storage.objects.get)" -ge 3 ]   # metadata + several ranged GETs
}

t_cat() {
    gs cat "$GS/small.csv" >"$WORK/cat.out"
    cmp "$WORK/small.csv" "$WORK/cat.out"
    [ "$(gs cat -r 3-6 "$GS/small.csv")" = "name" ]
    [ "$(gs cat -r 18- "$GS/small.csv")" = "beta" ]
    [ "$(gs cat -r -5 "$GS/small.csv")" = "beta" ]
}

t_gzip_transcoding() {
    gs cp -Z "$WORK/text.csv" "$GS/gz/text.csv"
    [ "$(field "$GS/gz/text.csv" content_encoding)" = "gzip" ]
    [ "$(field "$GS/gz/text.csv" size)" -lt "$(stat -c %s "$WORK/text.csv")" ]
    gs cp "$GS/gz/text.csv" "$WORK/text.down"
    cmp "$WORK/text.csv" "$WORK/text.down"
}

t_ls() {
    gs ls "$GS" >"$WORK/ls.out"
    grep -qx "$GS/small.csv" "$WORK/ls.out"
    grep -qx "$GS/dir/" "$WORK/ls.out"
    fails grep -q "$GS/dir/big.bin" "$WORK/ls.out"
    gs ls "$GS/dir/" >"$WORK/ls2.out"
    grep -qx "$GS/dir/big.bin" "$WORK/ls2.out"
}

t_ls_recursive() {
    gs ls -r "$GS" >"$WORK/lsr.out"
    grep -qx "$GS/dir/big.bin" "$WORK/lsr.out"
    grep -qx "$GS/gz/text.csv" "$WORK/lsr.out"
    grep -qx "$GS/small.csv" "$WORK/lsr.out"
    gs ls -l "$GS/dir/big.bin" | grep -q "$(stat -c %s "$WORK/big.bin")"
}

t_ls_paging() {
    gs cp -r "$WORK/many" "$GS/"
    emulator POST /_emulator/stats/reset >/dev/null
    gs ls "$GS/many/" >"$WORK/many.out"
    [ "$(wc -l <"$WORK/many.out")" -eq 1205 ]
    [ "$(requests_of storage.objects.list)" -ge 2 ]   # at most 1000 entries per page
    diff <(ls "$WORK/many" | sed "s|^|$GS/many/|") "$WORK/many.out"
}

t_rm() {
    gs rm "$GS/small.csv"
    fails gs ls "$GS/small.csv"
    gs rm -r "$GS/many"
    [ -z "$(gs ls "$GS/many/" 2>/dev/null)" ]
}

t_missing() {
    fails gs cat "$GS/no/such/object"
    fails gs ls "gs://$BUCKET-missing"
}

run "buckets create and list" t_create_bucket
run "cp up a small file (multipart) with matching hashes" t_cp_small
run "cp up a 12 MB file (resumable)" t_cp_big_resumable
run "cp up with parallel composite upload (compose)" t_cp_big_composite
run "cp down and compare bytes" t_cp_down
run "cp down as a sliced (ranged, parallel) download" t_cp_down_sliced
run "cat whole and with -r ranges" t_cat
run "cp -Z stores gzip and downloads the original bytes" t_gzip_transcoding
run "ls of a bucket and of a prefix" t_ls
run "ls -r and ls -l" t_ls_recursive
run "ls pages through 1205 objects" t_ls_paging
run "rm and rm -r" t_rm
run "missing objects and buckets fail" t_missing

tap_summary gcs-gcloud

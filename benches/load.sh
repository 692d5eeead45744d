#!/usr/bin/env bash
# Intake under load: messages accepted per second and latency percentiles for canonical JSON
# and for cpi-unilav XML, on SQLite and on PostgreSQL, with deliveries running to the
# example parties (raccordo simulate parties) — beside a bare axum server answering 202 to
# the same load, measured in the same run. Installs wrk (Debian) when missing.
#
# Usage: benches/load.sh [seconds per run, default 10] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin raccordo --example bare_axum
bin=target/release/raccordo
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A canonical employment.started whose id and relationship code carry the request's number
# (each message is about a relationship of its own, as real traffic is: the example routes
# keep order per relationship, and one shared code would queue every delivery behind the
# one before), and a UniLav hire made unique by a comment (its id is derived from its bytes).
$bin transform --from cpi-unilav --to canonical --source urn:raccordo:inps:INPS \
  conformance/profiles/cpi-unilav/employment.started/valid/extra-ue-live-in-open-ended.xml 2>/dev/null \
  | python3 -c 'import json,sys; m=json.load(sys.stdin); m["id"]="load-__N__"; m["data"]["inpsRelationshipCode"]="9__N__"; print(json.dumps(m))' > "$work/canonical.json"
sed 's|<inputUniLav|<!-- __N__ --><inputUniLav|' \
  conformance/profiles/cpi-unilav/employment.started/valid/extra-ue-live-in-open-ended.xml > "$work/unilav.xml"

config() {  # $1 storage URL
  sed -e "s|^data_dir = .*|data_dir = \"$work/data\"|" -e "s|\"data/|\"$work/data/|g" -e "/^schedule = /d" config/example.toml > "$work/raccordo.toml"
  printf '\n[storage]\nurl = "%s"\n' "$1" >> "$work/raccordo.toml"
  # The CPI sends UniLav too in this run.
  sed -i 's|sends = { profiles = \["canonical"\] }\nreceives = { profile = "canonical", endpoint = "http://127.0.0.1:8481|&|' "$work/raccordo.toml"
  python3 - "$work/raccordo.toml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace('code = "CR01"\nname = "Centro per l\'Impiego di Cremona"\nsends = { profiles = ["canonical"] }',
                           'code = "CR01"\nname = "Centro per l\'Impiego di Cremona"\nsends = { profiles = ["canonical", "cpi-unilav"] }')
open(p, "w").write(s)
PY
}

run() {  # $1 label, $2 url, $3 body file, $4 content type, $5 profile, $6 token
  local out
  out=$(BODY_FILE="$3" CONTENT_TYPE="$4" PROFILE="$5" TOKEN="$6" \
        wrk -t2 -c"$connections" -d"${seconds}s" --latency -s benches/load/post.lua "$2")
  local rps p50 p99
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-44s %10s req/s   p50 %8s   p99 %8s   (%s)\n' "$1" "$rps" "$p50" "$p99" "$(echo "$out" | grep '^requests')"
}

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

target/release/examples/bare_axum 127.0.0.1:8479 & pids+=($!)
wait_up_bare() { for _ in $(seq 100); do curl -s -o /dev/null -X POST http://127.0.0.1:8479/v1/messages && return 0; sleep 0.1; done; }
wait_up_bare
echo "== $(nproc) cores, wrk -t2 -c$connections -d${seconds}s, $(date -u +%FT%TZ)"
run "bare axum, 202 to every POST (the ceiling)" http://127.0.0.1:8479/v1/messages "$work/canonical.json" application/json canonical x

pg_url=${RACCORDO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
# LOAD_STORES picks the stores (default: both, PostgreSQL when one answers).
stores=${LOAD_STORES:-sqlite postgres}
storages=()
[[ " $stores " == *" sqlite "* ]] && storages+=("sqlite://$work/data/raccordo.db")
if [[ " $stores " == *" postgres "* ]] && command -v pg_isready >/dev/null && pg_isready -q -d "$pg_url"; then
  schema="load_$(date +%s)"
  psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
  storages+=("$pg_url?options=-c%20search_path%3D$schema")
fi
for storage in "${storages[@]}"; do
  config "$storage"
  $bin simulate parties --config "$work/raccordo.toml" > "$work/parties.log" 2>&1 & parties=$!; pids+=($parties)
  RUST_LOG=warn $bin serve --config "$work/raccordo.toml" > "$work/serve.log" 2>&1 & serve=$!; pids+=($serve)
  wait_up http://127.0.0.1:8470/readyz
  kind=${storage%%:*}
  run "raccordo, canonical JSON, $kind" http://127.0.0.1:8470/v1/messages "$work/canonical.json" application/json canonical example-token-inps-pull
  run "raccordo, cpi-unilav XML, $kind" http://127.0.0.1:8470/v1/messages "$work/unilav.xml" application/xml cpi-unilav example-token-cpi-cremona
  accepted=$(curl -s http://127.0.0.1:8470/metrics | awk '/^raccordo_messages_received_total/ && /outcome="accepted"/ {s+=$2} END {print s+0}')
  delivered=$(curl -s http://127.0.0.1:8470/metrics | awk '/^raccordo_delivery_attempts_total/ && /outcome="delivered"/ {s+=$2} END {print s+0}')
  echo "   $kind: $accepted messages accepted, $delivered deliveries acknowledged during the runs"
  kill "$serve" "$parties"; wait "$serve" "$parties" 2>/dev/null || true
done

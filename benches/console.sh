#!/usr/bin/env bash
# The operator console with a million messages stored: time to first byte of the messages
# view (its first page, the next page) and of searches (type and status, id, codice fiscale
# through the blind index, recipient, a day a fortnight ago) and of the overview, on SQLite
# and on PostgreSQL. Rows are loaded straight into the store (benches/console_load.py), then
# `raccordo serve` answers; each figure is the median of 15 requests after 2 to warm up,
# measured by curl (`time_starttransfer`), each request also writing its audit entry.
#
# Usage: benches/console.sh [messages, default 1000000]
# CONSOLE_STORES picks the stores (default: sqlite postgres, PostgreSQL when one answers at
# RACCORDO_TEST_DATABASE_URL or 127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
cargo build --release --quiet --bin raccordo
bin=target/release/raccordo
work=$(mktemp -d)
pids=()
schema=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  [ -z "$schema" ] || psql -q "$pg_url" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
port=8471
pg_url=${RACCORDO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
base="http://127.0.0.1:$port"
index_key=$(printf '22%.0s' $(seq 32))
printf '11%.0s' $(seq 32) > "$work/payload.key"
printf '%s' "$index_key" > "$work/index.key"

config() {  # $1 storage URL
  cat > "$work/raccordo.toml" <<EOF
listen = "127.0.0.1:$port"
data_dir = "$work/data"
[storage]
url = "$1"
[storage.encryption]
keys = [{ id = "k1", file = "$work/payload.key" }]
index_key = { id = "i1", file = "$work/index.key" }

[[parties]]
id = "cpi-cremona"
kind = "cpi"
code = "CR01"
name = "Centro per l'Impiego di Cremona"
sends = { profiles = ["canonical"] }

[[parties]]
id = "cpi-crema"
kind = "cpi"
code = "CR02"
name = "Centro per l'Impiego di Crema"
sends = { profiles = ["canonical"] }

[[parties]]
id = "social-cremona"
kind = "social"
code = "D150"
name = "Servizi sociali del Comune di Cremona"
receives = { profile = "canonical", endpoint = "http://127.0.0.1:9/unused" }

[[parties]]
id = "sui-cremona"
kind = "sui"
code = "PREF-CR"
name = "Sportello Unico per l'Immigrazione"
receives = { profile = "canonical", endpoint = "http://127.0.0.1:9/unused" }

[[operators]]
name = "bench"
tokens = ["console-bench-operator-token"]
codice_fiscale_search = true
EOF
}

wait_up() { for _ in $(seq 300); do curl -sf "$base/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not up" >&2; exit 1; }

serve() {
  RUST_LOG=warn $bin serve --config "$work/raccordo.toml" > "$work/serve.log" 2>&1 & serving=$!; pids+=($serving)
  wait_up
}

stop() { kill "$serving"; wait "$serving" 2>/dev/null || true; }

ttfb() {  # $1 label, $2 path under /console/api/, [$3 extra header]; the median in ms
  local times=()
  local extra=(-H "X-Bench: 1")
  [ -n "${3:-}" ] && extra=(-H "$3")
  for i in $(seq 17); do
    local t
    t=$(curl -s -o "$work/answer.json" -w '%{http_code} %{time_starttransfer}' -b "$work/cookies" "${extra[@]}" "$base/console/api/$2")
    [ "${t%% *}" = 200 ] || { echo "$1: HTTP ${t%% *}: $(head -c 300 "$work/answer.json")" >&2; exit 1; }
    [ "$i" -gt 2 ] && times+=("${t#* }")
  done
  local median rows
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }')
  rows=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d.get("messages", d.get("throughput", []))))' "$work/answer.json")
  printf '  %-52s %8s ms   (%s rows)\n' "$1" "$median" "$rows"
}

stores=${CONSOLE_STORES:-sqlite postgres}
echo "== $(nproc) cores, $count messages, $(date -u +%FT%TZ)"
for kind in $stores; do
  case $kind in
    sqlite) storage="sqlite://$work/data/raccordo.db"; target="$work/data/raccordo.db" ;;
    postgres)
      pg_isready -q -d "$pg_url" || { echo "no PostgreSQL at $pg_url: skipped"; continue; }
      schema="console_$(date +%s)"
      psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
      storage="$pg_url?options=-c%20search_path%3D$schema"
      target="$pg_url?options=-c%20search_path%3D$schema" ;;
  esac
  config "$storage"
  serve && stop   # the store, migrated
  python3 benches/console_load.py "$kind" "$target" "$count" "$index_key"
  serve
  curl -s -o /dev/null -c "$work/cookies" --data-urlencode "token=console-bench-operator-token" "$base/console/login"
  next=$(curl -s -b "$work/cookies" "$base/console/api/messages" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"])')
  day=$(date -u -d '15 days ago' +%F)
  echo "$kind:"
  ttfb "messages, first page (50, newest first)" "messages"
  ttfb "messages, next page" "messages?after=$next"
  ttfb "type + status failed (1 in 200 dead)" "messages?type=worker.registered&status=failed"
  ttfb "type + status delivered" "messages?type=employment.started&status=delivered"
  ttfb "status accepted (pending deliveries)" "messages?status=accepted"
  ttfb "recipient sui-cremona (1 in 10)" "messages?recipient=sui-cremona"
  ttfb "gateway id" "messages?id=bench-0500000"
  ttfb "sender's message id" "messages?id=sender-500000"
  ttfb "codice fiscale (blind index, ~5 messages)" "messages" "Raccordo-Codice-Fiscale: BNCPRS012345ABCD"
  ttfb "one day a fortnight ago + type" "messages?since=$day&until=$day&type=subsidy.granted"
  ttfb "overview (counts of the last day)" "overview"
  stop
done

#!/usr/bin/env bash
# A backfill from the INPS simulator: records/s end to end (fetched over HTTPS with a PDND
# voucher, translated, validated, routed, committed with their deliveries) and the pull's
# peak RSS, for two sizes side by side: memory that does not grow with the records is what
# "bounded" means.
#
#   benches/inps_backfill.sh [records] [small-records]
#
# Defaults: 1,000,000 and 100,000. Uses the bundled example configuration (SQLite in a
# temporary folder; keys and certificates made there). With RACCORDO_BENCH_DATABASE_URL set
# to a PostgreSQL URL, runs once more on it (RACCORDO_BENCH_SQLITE=0 skips the SQLite runs).
set -euo pipefail
cd "$(dirname "$0")/.."

records=${1:-1000000}
small=${2:-100000}
if [ ! -x /usr/bin/time ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq time >/dev/null
fi
cargo build --release --quiet
bin=$PWD/target/release/raccordo
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# One pull of `count` records into a fresh store; prints "records seconds rss_kib".
run() {
  local count=$1 storage=${2:-}
  local dir
  dir=$(mktemp -d "$work/run.XXXX")
  cp config/example.toml "$dir/raccordo.toml"
  if [ -n "$storage" ]; then
    sed -i "s|^data_dir = \"data\"|data_dir = \"data\"\nstorage = { url = \"$storage\" }|" "$dir/raccordo.toml"
  fi
  (cd "$dir" && "$bin" inps status --config raccordo.toml >/dev/null) # makes the example PKI
  (cd "$dir" && exec "$bin" simulate inps --config raccordo.toml --records "$count" --seed 7 >"$dir/sim.log" 2>&1) &
  local sim=$!
  for _ in $(seq 50); do grep -q "INPS simulator" "$dir/sim.log" 2>/dev/null && break; sleep 0.1; done
  (cd "$dir" && /usr/bin/time -f "%e %M" -o "$dir/time" "$bin" inps pull --config raccordo.toml --output json >"$dir/run.json" 2>"$dir/pull.log")
  kill "$sim" 2>/dev/null || true
  wait "$sim" 2>/dev/null || true
  local taken seconds rss
  taken=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$dir/run.json")
  read -r seconds rss <"$dir/time"
  echo "$taken $seconds $rss"
}

report() {
  local label=$1 records=$2 seconds=$3 rss=$4
  python3 - "$label" "$records" "$seconds" "$rss" <<'EOF'
import sys
label, records, seconds, rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"| {label} | {records:,} | {seconds:.1f} | {records / seconds:,.0f} | {rss / 1024:.1f} |")
EOF
}

echo "| run | records | seconds | records/s | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
if [ "${RACCORDO_BENCH_SQLITE:-1}" != 0 ]; then
  read -r n s m < <(run "$small")
  report "SQLite, $small records" "$n" "$s" "$m"
  read -r n s m < <(run "$records")
  report "SQLite, $records records" "$n" "$s" "$m"
fi
if [ -n "${RACCORDO_BENCH_DATABASE_URL:-}" ]; then
  psql "$RACCORDO_BENCH_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS bench_inps CASCADE; CREATE SCHEMA bench_inps" >/dev/null
  url="$RACCORDO_BENCH_DATABASE_URL?options=-c%20search_path%3Dbench_inps"
  read -r n s m < <(run "$records" "$url")
  report "PostgreSQL, $records records" "$n" "$s" "$m"
fi

#!/usr/bin/env bash
# Intake under load: messages accepted per second and latency percentiles for canonical JSON
# and for cpi-unilav XML, on SQLite and on PostgreSQL, with deliveries running to the
# example parties (raccordo simulate parties) — beside a bare axum server answering 202 to
# the same load, measured in the same run. Installs wrk (Debian) when missing.
#
# For each store it also offers half the maximum canonical rate at a fixed pace, open loop
# (examples/fixed_rate.rs: latency counted from when each request was due, as wrk2 does),
# giving p50/p99 there and how many seconds of the run had an answer slower than 20 ms (a
# tail made by a few stalls, or by every second), then waits for the delivery backlog to
# drain and says how long that took, and serve's CPU per message accepted over that run and
# the drain (a figure the machine's noise moves less than a rate: what a change costs or
# saves in work) and, on SQLite, the bytes it wrote to the disk per message (moved by the
# noise least of all); on PostgreSQL it runs a second gateway instance on the same database
# (the scale-out path) and loads both at once. LOAD_SYNC=normal runs SQLite with
# synchronous=NORMAL instead of the default FULL.
#
# Usage: benches/load.sh [seconds per run, default 10] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin raccordo --example bare_axum --example fixed_rate
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
s = open(p).read()
at = s.index('code = "CR01"')
sends = 'sends = { profiles = ["canonical"] }'
at = s.index(sends, at)
s = s[:at] + 'sends = { profiles = ["canonical", "cpi-unilav"] }' + s[at + len(sends):]
open(p, "w").write(s)
PY
}

# run LABEL URL BODY CONTENT_TYPE PROFILE TOKEN [RATE [CONNECTIONS [THREADS]]]: prints a
# line and leaves the rate in $last_rps. With RATE, requests are offered at that many a
# second by examples/fixed_rate.rs instead of as fast as wrk's connections get answers.
last_rps=0
# Each run sends messages of its own (ID_BASE in post.lua): a run that repeated an earlier
# run's ids would measure answers to resends. A run started in the background increments a
# copy of the counter, so the caller increments it too before the next.
id_base=0
run() {
  local out rate=${7:-} conns=${8:-$connections} threads=${9:-2}
  id_base=$((id_base + 1))
  if [ -n "$rate" ]; then
    out=$(TIMELINE=1 ID_BASE="$id_base" target/release/examples/fixed_rate "$2" "$rate" "$seconds" "$conns" "$3" \
          "Content-Type: $4" "Raccordo-Profile: $5" "Authorization: Bearer $6")
  else
    out=$(BODY_FILE="$3" CONTENT_TYPE="$4" PROFILE="$5" TOKEN="$6" ID_BASE="$id_base" \
          wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency -s benches/load/post.lua "$2")
  fi
  local p50 p99
  last_rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-52s %10s req/s   p50 %8s   p99 %8s   (%s)\n' "$1" "$last_rps" "$p50" "$p99" "$(echo "$out" | grep '^requests')"
  # A steady run's tail, by the second the requests fell due in: a p99 made by one stall
  # shows as one bad second, a slow server as every second.
  echo "$out" | awk '/^second/ {n++; m = $NF; sub("ms", "", m); if (m + 0 > 20) slow++; if (m + 0 > worst) {worst = m + 0; at = $2 + 0}}
    END {if (n) printf "   seconds whose slowest answer took over 20 ms: %d of %d; the slowest %.1f ms, in second %d\n", slow, n, worst, at}'
}

metric() {  # $1 port, $2 metric name, $3 label filter: the sum over its series
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" -v f="$3" '$1 ~ "^"m && $0 ~ f {s+=$2} END {print s+0}'
}

delivered() {  # the deliveries acknowledged so far by the instances on ports $@
  local sum=0 port
  for port in "$@"; do sum=$((sum + $(metric "$port" raccordo_delivery_attempts_total 'outcome="delivered"'))); done
  echo "$sum"
}

# Waits for every delivery to be acknowledged; prints how long it took after the load.
drain() {  # $1 port
  local start=$SECONDS
  for _ in $(seq 600); do
    [ "$(metric "$1" raccordo_queue_depth "")" = 0 ] && { echo "$((SECONDS - start))"; return; }
    sleep 0.5
  done
  echo "over 300"
}

# SQLite's write lock: the seconds each kind of writer has held it, "intake outcomes claims
# rest" (nothing on PostgreSQL, which has no such lock).
lock_held() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^raccordo_store_write_lock_seconds_total/ {split($1, a, "\""); s[a[2]] = $2}
    END {printf "%s %s %s %s\n", s["intake"] + 0, s["outcomes"] + 0, s["claims"] + 0, s["pull"] + s["other"]}'
}

# The share of the wall time from $3 to $4 (Unix seconds) the lock was held, from two
# lock_held readings $1 and $2.
lock_share() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys
before, after = ([float(x) for x in arg.split()] for arg in sys.argv[1:3])
wall = float(sys.argv[4]) - float(sys.argv[3])
held = [(b - a) / wall * 100 for a, b in zip(before, after)]
names = ["intake", "outcomes", "claims", "the rest"]
print(f"SQLite's write lock held {sum(held):.0f} % of the time: " + ", ".join(f"{n} {h:.0f} %" for n, h in zip(names, held)))
PY
}

# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Bytes a process has caused to be written to the disk (its page-cache writes included).
written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }

per_message() {  # $1 clock ticks, $2 messages: "N µs (S s for M messages)"
  python3 -c 'import sys; t, m, hz = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]); print(f"{t / hz * 1e6 / max(m, 1):,.0f} µs ({t / hz:.1f} s for {m:,} messages)")' "$1" "$2" "$(getconf CLK_TCK)"
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
  kind=${storage%%:*}
  [ "$kind" = sqlite ] && [ -n "${LOAD_SYNC:-}" ] && storage="$storage?synchronous=$LOAD_SYNC"
  config "$storage"
  $bin simulate parties --config "$work/raccordo.toml" > "$work/parties.log" 2>&1 & parties=$!; pids+=($parties)
  RUST_LOG=warn $bin serve --config "$work/raccordo.toml" > "$work/serve.log" 2>&1 & serve=$!; pids+=($serve)
  wait_up http://127.0.0.1:8470/readyz
  label="$kind${LOAD_SYNC:+ (synchronous=$LOAD_SYNC)}"
  before=$(delivered 8470)
  lock_before=$(lock_held 8470) started=$(date +%s.%N)
  run "raccordo, canonical JSON, $label" http://127.0.0.1:8470/v1/messages "$work/canonical.json" application/json canonical example-token-inps-pull
  max=$last_rps
  echo "   during the run: $(($(delivered 8470) - before)) deliveries acknowledged"
  [ "$kind" = sqlite ] && echo "   during the run: $(lock_share "$lock_before" "$(lock_held 8470)" "$started" "$(date +%s.%N)")"
  run "raccordo, cpi-unilav XML, $label" http://127.0.0.1:8470/v1/messages "$work/unilav.xml" application/xml cpi-unilav example-token-cpi-cremona
  echo "   drained the backlog in $(drain 8470) s"
  # Half the maximum canonical rate, offered at a steady pace.
  half=$(python3 -c "print(max(1, int(float('$max') / 2)))")
  cpu_before=$(cpu_ticks "$serve")
  written_before=$(written "$serve")
  accepted_before=$(metric 8470 raccordo_messages_received_total 'outcome="accepted"')
  lock_before=$(lock_held 8470) started=$(date +%s.%N)
  run "raccordo, canonical JSON at ~$half req/s offered, $label" http://127.0.0.1:8470/v1/messages "$work/canonical.json" application/json canonical example-token-inps-pull "$half"
  [ "$kind" = sqlite ] && echo "   during the steady load: $(lock_share "$lock_before" "$(lock_held 8470)" "$started" "$(date +%s.%N)")"
  echo "   after the steady load: backlog $(metric 8470 raccordo_queue_depth "") deliveries, drained in $(drain 8470) s"
  steady=$(($(metric 8470 raccordo_messages_received_total 'outcome="accepted"') - accepted_before))
  echo "   $label at the steady load: serve's CPU $(per_message $(($(cpu_ticks "$serve") - cpu_before)) "$steady") per message accepted, its deliveries included (until drained)"
  # On PostgreSQL the server writes, not serve.
  if [ "$kind" = sqlite ]; then
    echo "   $label at the steady load: serve wrote $(python3 -c 'import sys; print(f"{int(sys.argv[1]) // max(int(sys.argv[2]), 1):,}")' $(($(written "$serve") - written_before)) "$steady") bytes to the disk per message accepted (WAL, checkpoints)"
  fi
  accepted=$(metric 8470 raccordo_messages_received_total 'outcome="accepted"')
  delivered=$(metric 8470 raccordo_delivery_attempts_total 'outcome="delivered"')
  echo "   $label: $accepted messages accepted, $delivered deliveries acknowledged"
  if [ "$kind" = postgres ]; then
    # The scale-out path: a second stateless instance on the same database.
    sed 's|^listen = .*|listen = "127.0.0.1:8471"|' "$work/raccordo.toml" > "$work/second.toml"
    RUST_LOG=warn $bin serve --config "$work/second.toml" > "$work/second.log" 2>&1 & second=$!; pids+=($second)
    wait_up http://127.0.0.1:8471/readyz
    # Half the connections and one wrk thread each: the same client as the single run.
    half_conns=$((connections / 2))
    before=$(delivered 8470 8471)
    run "  instance 1 of 2, canonical JSON, $label" http://127.0.0.1:8470/v1/messages "$work/canonical.json" application/json canonical example-token-inps-pull "" "$half_conns" 1 > "$work/one.txt" &
    one=$!
    id_base=$((id_base + 1))
    run "  instance 2 of 2, canonical JSON, $label" http://127.0.0.1:8471/v1/messages "$work/canonical.json" application/json canonical example-token-inps-pull "" "$half_conns" 1 > "$work/two.txt"
    wait "$one"
    cat "$work/one.txt" "$work/two.txt"
    total=$(cat "$work/one.txt" "$work/two.txt" | awk '{for (i = 1; i <= NF; i++) if ($(i+1) == "req/s") s += $i} END {print s}')
    # On a machine without a spare core, a second instance's deliverer takes its CPU from
    # intake: the deliveries acknowledged during the run are the other half of the work.
    echo "   two instances on one PostgreSQL: $total req/s together, $(($(delivered 8470 8471) - before)) deliveries acknowledged during the run; drained in $(drain 8470) s"
    kill "$second"; wait "$second" 2>/dev/null || true
  fi
  kill "$serve" "$parties"; wait "$serve" "$parties" 2>/dev/null || true
done

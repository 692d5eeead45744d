#!/usr/bin/env bash
# One command for the figures of docs/PERFORMANCE.md: T1-T4, each printed as a ratio
# against its ceiling measured in the same run on the same machine.
#
#   T1  cpi-unilav -> validated canonical, one thread, against a bare quick-xml pass that
#       writes each text out with serde_json (cargo bench --bench profiles);
#   T2  durable intake (canonical JSON, deliveries running) against a bare axum server
#       answering 202, on SQLite and PostgreSQL, and p99 at half the maximum rate
#       (benches/load.sh);
#   T3  the INPS backfill into storage (fetched, translated, validated, sealed, routed,
#       committed) against translating the same profile alone (T1's inps-json row), and its
#       peak RSS (benches/inps_backfill.sh);
#   T4  `raccordo serve` ready (/readyz answers) and idle RSS on the bundled example, against
#       the bare axum server's start and RSS.
#
# Usage: benches/all.sh [load seconds, default 10] [backfill records, default 200000]
# Takes about 10 minutes on the 2-core machine with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
records=${2:-200000}
out=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT

echo "== benches/all.sh: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB, $(date -u +%FT%TZ)"
cargo build --release --quiet --bin raccordo --example bare_axum
bin=$PWD/target/release/raccordo

echo "== T1: translation per profile"
cargo bench --quiet --bench profiles 2>/dev/null | tee "$out/t1.txt"

echo "== T2: durable intake"
benches/load.sh "$seconds" 32 | tee "$out/t2.txt"

echo "== T3: INPS backfill"
benches/inps_backfill.sh "$records" "$((records / 4))" | tee "$out/t3.txt"

echo "== T4: start-up and idle memory"
# Milliseconds from spawn until `$2` answers, and the RSS (KiB) two seconds later.
start() {  # $1 working folder, $2 URL to poll, $3 curl method, then the command
  local dir=$1 url=$2 method=$3
  shift 3
  local begin end pid
  begin=$(date +%s%N)
  (cd "$dir" && exec "$@" >/dev/null 2>&1) &
  pid=$!
  pids+=("$pid")
  until curl -s -o /dev/null -X "$method" "$url"; do sleep 0.002; done
  end=$(date +%s%N)
  sleep 2
  echo "$(((end - begin) / 1000000)) $(ps -o rss= -p "$pid")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
mkdir -p "$out/serve"
cp config/example.toml "$out/serve/raccordo.toml"
sed -i '/^schedule = /d' "$out/serve/raccordo.toml"
(cd "$out/serve" && "$bin" inps status --config raccordo.toml >/dev/null) # makes the example's keys first
for round in 1 2 3 4 5; do
  echo "raccordo $(start "$out/serve" http://127.0.0.1:8470/readyz GET "$bin" serve --config raccordo.toml)" >>"$out/t4.txt"
  echo "bare $(start "$out" http://127.0.0.1:8479/v1/messages POST "$PWD/target/release/examples/bare_axum" 127.0.0.1:8479)" >>"$out/t4.txt"
  echo "   round $round: $(tail -2 "$out/t4.txt" | tr '\n' ' ')"
done

python3 - "$out" <<'EOF'
import re, statistics, sys
out = sys.argv[1]
t1 = open(f"{out}/t1.txt").read()
t2 = open(f"{out}/t2.txt").read()
t3 = open(f"{out}/t3.txt").read()
t4 = [line.split() for line in open(f"{out}/t4.txt")]

def row(name):
    for line in t1.splitlines():
        if line.split()[:1] == [name]:
            return line.split()
    return None

def rate(label):
    m = re.search(re.escape(label) + r"\s+([\d.]+) req/s\s+p50\s+(\S+)\s+p99\s+(\S+)", t2)
    return (float(m.group(1)), m.group(2), m.group(3)) if m else None

print()
print("| figure | measured | ceiling, same run | ratio |")
print("|---|---|---|---|")
unilav = row("cpi-unilav")
if unilav:
    print(f"| T1 cpi-unilav -> canonical, 1 thread | {unilav[2]} MB/s | {unilav[5]} MB/s bare quick-xml + serde_json | {unilav[6]} |")
bare = rate("bare axum, 202 to every POST (the ceiling)")
for store in ("sqlite", "postgres"):
    full = rate(f"raccordo, canonical JSON, {store}")
    acked = re.search(r"raccordo, canonical JSON, " + store + r"\s.*\n\s+during the run: (\d+) deliveries acknowledged", t2)
    acked = f", {int(acked.group(1)):,} deliveries acknowledged meanwhile" if acked else ""
    if bare and full:
        print(f"| T2 durable intake, canonical, {store} | {full[0]:,.0f} req/s (p99 {full[2]}{acked}) | {bare[0]:,.0f} req/s bare axum | {100 * full[0] / bare[0]:.1f} % |")
    half = re.search(r"raccordo, canonical JSON at ~(\d+) req/s offered, " + store + r"\s+([\d.]+) req/s\s+p50\s+(\S+)\s+p99\s+(\S+)", t2)
    if half:
        print(f"| T2 p99 at half the maximum rate, {store} | {half.group(4)} (p50 {half.group(3)}) at {float(half.group(2)):,.0f} req/s | - | - |")
    cpu = re.search(store + r" at the steady load: serve's CPU ([\d,]+) µs", t2)
    if cpu:
        print(f"| T2 serve's CPU per message at half the maximum rate, {store} | {cpu.group(1)} µs, deliveries included | - | - |")
    written = re.search(store + r" at the steady load: serve wrote ([\d,]+) bytes", t2)
    if written:
        print(f"| T2 bytes written to the disk per message at half the maximum rate, {store} | {written.group(1)} | - | - |")
two = re.search(r"two instances on one PostgreSQL: ([\d.]+) req/s together, (\d+) deliveries", t2)
if two and bare:
    print(f"| T2 two instances on one PostgreSQL | {float(two.group(1)):,.0f} req/s ({int(two.group(2)):,} deliveries acknowledged meanwhile) | {bare[0]:,.0f} req/s bare axum | {100 * float(two.group(1)) / bare[0]:.1f} % |")
inps = row("inps-json")
backfills = re.findall(r"\| SQLite, ([\d,]+) records \| ([\d,]+) \| ([\d.]+) \| ([\d,]+) \| ([\d.]+) \|", t3)
for records, _, _, per_second, rss in backfills:
    ceiling = float(inps[1]) if inps else None
    ratio = f"{100 * float(per_second.replace(',', '')) / ceiling:.1f} %" if ceiling else "-"
    print(f"| T3 INPS backfill, {records} records, SQLite | {per_second} records/s, peak RSS {rss} MiB | {ceiling or 0:,.0f} records/s translating inps-json alone | {ratio} |")
ours = [(int(r[1]), int(r[2])) for r in t4 if r[0] == "raccordo"]
bares = [(int(r[1]), int(r[2])) for r in t4 if r[0] == "bare"]
if ours and bares:
    ready, rss = statistics.median(r for r, _ in ours), statistics.median(m for _, m in ours)
    bready, brss = statistics.median(r for r, _ in bares), statistics.median(m for _, m in bares)
    print(f"| T4 serve ready, bundled example (median of {len(ours)}) | {ready:.0f} ms | {bready:.0f} ms bare axum | {ready / max(bready, 1):.1f}x |")
    print(f"| T4 idle RSS | {rss / 1024:.1f} MiB | {brss / 1024:.1f} MiB bare axum | {rss / brss:.1f}x |")
EOF

#!/usr/bin/env bash
# Fuzzes the whole path party bytes -> canonical (fuzz_targets/party_to_canonical.rs) for
# each profile in turn, seeded with its conformance vectors, and prints one line per run:
#   fuzz/run-profiles.sh [SECONDS_PER_PROFILE] [PROFILE...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer stops at the first crash and
# leaves it under fuzz/artifacts/party_to_canonical/; the line then says CRASH.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
profiles=("$@")
if ((${#profiles[@]} == 0)); then
  profiles=($(ls ../mappings | grep -v '^codes$'))
fi
# The toolchain is stable: cargo-fuzz's sanitizer flags need RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
cargo fuzz build --release party_to_canonical >/dev/null
for profile in "${profiles[@]}"; do
  corpus=$(mktemp -d)
  find "../conformance/profiles/$profile" -type f ! -name '*.expect.toml' ! -name '*.expected.json' ! -name '*.md' \
    -exec cp {} "$corpus/" \;
  log=$(mktemp)
  status=ok
  RACCORDO_FUZZ_PROFILE=$profile cargo fuzz run --release party_to_canonical "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1 || status=CRASH
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo "?")
  printf '%s\t%s\t%ss\truns %s\tcoverage %s edges\tcorpus %s files\n' "$profile" "$status" "$seconds" "$runs" "$coverage" \
    "$(ls "$corpus" | wc -l)"
  if [ "$status" = CRASH ]; then tail -n 40 "$log"; fi
  rm -rf "$corpus" "$log"
done

#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what is missing (Debian
# packages via apt-get, rustup components), then checks formatting, lints, runs every test
# and builds the docs with warnings as errors. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*"; }

# Debian packages the build and tests need (scripts/deps.sh: a C toolchain, pkg-config,
# OpenSSL's and libxml2's headers), and Chromium, which opens the conformance suite's HTML
# report and drives the operator console in tests.
source scripts/deps.sh
extra=()
command -v chromium >/dev/null 2>&1 || extra+=(chromium)
command -v python3 >/dev/null 2>&1 || extra+=(python3)
python3 -m pip --version >/dev/null 2>&1 || extra+=(python3-pip)
install_missing "${extra[@]}"
# Playwright for Python drives that Chromium in the console's browser tests
# (tests/browser/console.py): the Python package only, never its browser downloads.
if ! python3 -c "import playwright" >/dev/null 2>&1; then
  log "installing Playwright for Python"
  # Debian 12 marks its Python as externally managed; the package goes in beside it.
  python3 -m pip install --quiet playwright==1.49.0 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages playwright==1.49.0
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

# PostgreSQL for the tests that share one database between gateway instances: the server
# named by RACCORDO_TEST_DATABASE_URL, else the one on 127.0.0.1:5432, else a throwaway
# cluster started here (from Debian's postgresql package) and stopped on exit.
pg_answers() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$1" -p "$2"; }
if [ -z "${RACCORDO_TEST_DATABASE_URL:-}" ] && ! pg_answers 127.0.0.1 5432; then
  if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    log "installing postgresql"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq postgresql >/dev/null
  fi
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pgdir=$(mktemp -d)
  pg_user=$(id -un)
  # PostgreSQL refuses to run as root: run the throwaway cluster as the postgres user.
  if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres
    id postgres >/dev/null 2>&1 || useradd --system --home "$pgdir" postgres
    chown postgres "$pgdir"
  fi
  as_pg() { if [ "$pg_user" = "$(id -un)" ]; then "$@"; else su -s /bin/sh "$pg_user" -c "$(printf '%q ' "$@")"; fi; }
  log "starting a local PostgreSQL in $pgdir"
  as_pg "$bin/initdb" -D "$pgdir/data" -U postgres --auth=trust >/dev/null
  as_pg "$bin/pg_ctl" -D "$pgdir/data" -o "-p 55432 -k $pgdir -c listen_addresses=127.0.0.1" -l "$pgdir/log" -w start >/dev/null
  trap 'as_pg "$bin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true' EXIT
  as_pg "$bin/createdb" -h 127.0.0.1 -p 55432 -U postgres test
  export RACCORDO_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:55432/test"
fi

log "cargo fmt --check"
cargo fmt --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
log "no build-time code generation (bindgen needs libclang, which a fresh machine lacks)"
if cargo tree --quiet -i bindgen >/dev/null 2>&1; then
  echo "bindgen is in the dependency tree: the README's run command would need libclang" >&2
  exit 1
fi
log "cargo test"
test_log=$(mktemp)
previous_trap=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT$/\1/")
trap "rm -f '$test_log'; ${previous_trap:-true}" EXIT
cargo test --quiet 2>&1 | tee "$test_log"
log "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

# One closing line for the whole run, summed over the test binaries (unit, integration, doc).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"

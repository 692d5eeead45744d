#!/usr/bin/env bash
# The README's first command: installs what a fresh Debian machine lacks to build raccordo
# (scripts/deps.sh), then runs the gateway on its embedded default: SQLite in ./data, the
# bundled example configuration, its keys made on first use. Arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_missing
exec cargo run --release --quiet -- serve "$@"

#!/usr/bin/env bash
# What PostgreSQL's sessions wait on while a load runs: samples pg_stat_activity every
# 20 ms for SECONDS and counts each (wait event, state, statement start) seen. Run it
# beside benches/load.sh (or any load) against the same server; the counts are samples,
# so their shares, not their sizes, are the figure.
#
# Usage: benches/pg_waits.sh [seconds, default 10] [database URL, default
# $RACCORDO_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test]
set -euo pipefail
seconds=${1:-10}
url=${2:-${RACCORDO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}
samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
end=$((SECONDS + seconds))
while [ "$SECONDS" -lt "$end" ]; do
  psql -qAt "$url" -c "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') || ' | ' || state \
    || ' | ' || left(regexp_replace(query, '\s+', ' ', 'g'), 60) FROM pg_stat_activity \
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'" >> "$samples"
  sleep 0.02
done
echo "samples  wait | state | statement"
sort "$samples" | uniq -c | sort -rn | head -25

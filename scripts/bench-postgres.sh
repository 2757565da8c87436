#!/usr/bin/env bash
# The purchase path on SQLite and on PostgreSQL, measured in one run on one machine, and the
# 1M-client churn sweep on PostgreSQL. A throwaway PostgreSQL with its durable defaults (fsync,
# synchronous_commit on) is started for the run and stopped after. Prints each benchmark's own
# report, then the PostgreSQL figures as ratios of the SQLite one (only ratios measured in one
# run compare across machines).
#   usage: scripts/bench-postgres.sh [EVENTS] [CLIENTS] [SWEEP_CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
clients=${2:-20000}
sweep_clients=${3:-1000000}
bin=.build/release/clientele
[ -x "$bin" ] || { echo "error: build first: swift build -c release" >&2; exit 1; }

dir=$(mktemp -d -u /tmp/clientele-bench-postgres-XXXXXX)
trap 'scripts/test-postgres.sh stop "$dir"' EXIT
admin=$(POSTGRES_DURABLE=1 scripts/test-postgres.sh start "$dir")
server=${admin%/postgres\?*}

out=bench-output/postgres
mkdir -p "$out"
run() {  # name, then the bench arguments
  local name=$1; shift
  echo "▶ $name"
  "$@" | tee "$out/$name.txt"
}

run sqlite "$bin" bench --events "$events" --clients "$clients" --directory "$out/sqlite"
for replicas in 1 2; do
  db="bench_${replicas}"
  scripts/test-postgres.sh createdb "$dir" "$db"
  run "postgres-$replicas" "$bin" bench --events "$events" --clients "$clients" --replicas "$replicas" \
    --directory "$out/postgres-$replicas" --database "$server/$db?sslmode=disable"
done
scripts/test-postgres.sh createdb "$dir" sweep
run sweep "$bin" bench-sweep --clients "$sweep_clients" --due-percent 1 --database "$server/sweep?sslmode=disable"

rate() { sed -n 's/.*sustained throughput *\([0-9]*\) events\/s.*/\1/p' "$out/$1.txt"; }
p99() { sed -n 's/.*purchase → status .* p99 \([0-9.]*\) ms.*/\1/p' "$out/$1.txt"; }
sqlite=$(rate sqlite)
echo ""
echo "purchase path, same machine, same run (PostgreSQL with durable settings: fsync and synchronous_commit on)"
printf '  %-28s %8s events/s   p99 event → status %s ms\n' "SQLite" "$sqlite" "$(p99 sqlite)"
for replicas in 1 2; do
  r=$(rate "postgres-$replicas")
  printf '  %-28s %8s events/s   %s of SQLite   p99 event → status %s ms\n' "PostgreSQL, $replicas replica(s)" "$r" \
    "$(awk -v a="$r" -v b="$sqlite" 'BEGIN { printf "%.0f%%", 100 * a / b }')" "$(p99 "postgres-$replicas")"
done

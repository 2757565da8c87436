#!/usr/bin/env bash
# The purchase path on SQLite and on PostgreSQL (1 and 2 purchase-worker replicas), measured in
# one run on one machine, and the 1M-client churn sweep on both. A throwaway PostgreSQL with its durable defaults (fsync,
# synchronous_commit on) is started for the run and stopped after. Prints each benchmark's own
# report, then the figures as ratios: each run's to the Python worker
# (scripts/bench/peer_purchase_worker.py, run on the same preloaded topic first) and PostgreSQL's
# to SQLite's (only ratios measured in one run compare across machines).
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

# CPU seconds of the PostgreSQL server so far: the postmaster and every backend it has reaped
# (the workers' connections close when they stop, so a run's backends are counted once it ends).
pg_cpu() {
  local pid; pid=$(head -1 "$dir/data/postmaster.pid")
  awk -v tick="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / tick }' "/proc/$pid/stat"
}

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
  before=$(pg_cpu)
  run "postgres-$replicas" "$bin" bench --events "$events" --clients "$clients" --replicas "$replicas" \
    --directory "$out/postgres-$replicas" --database "$server/$db?sslmode=disable"
  sleep 1
  awk -v a="$before" -v b="$(pg_cpu)" 'BEGIN { printf "  CPU, whole run          PostgreSQL server %.1f s\n", b - a }' | tee -a "$out/postgres-$replicas.txt"
done
run sweep-sqlite "$bin" bench-sweep --clients "$sweep_clients" --due-percent 1 --database "sqlite:$out/sweep.sqlite"
scripts/test-postgres.sh createdb "$dir" sweep
run sweep-postgres "$bin" bench-sweep --clients "$sweep_clients" --due-percent 1 --database "$server/sweep?sslmode=disable"

rate() { sed -n 's/.*sustained throughput *\([0-9]*\) events\/s.*/\1/p' "$out/$1.txt"; }
p99() { sed -n 's/.*purchase → status .* p99 \([0-9.]*\) ms.*/\1/p' "$out/$1.txt"; }
python() { sed -n 's/.*ratio to Python *\([0-9.]*×\).*/\1/p' "$out/$1.txt"; }
sqlite=$(rate sqlite)
echo ""
echo "purchase path, same machine, same run (PostgreSQL with durable settings: fsync and synchronous_commit on)"
printf '  %-28s %8s events/s   %s the Python worker   p99 event → status %s ms\n' "SQLite" "$sqlite" "$(python sqlite)" "$(p99 sqlite)"
for replicas in 1 2; do
  r=$(rate "postgres-$replicas")
  printf '  %-28s %8s events/s   %s the Python worker   %s of SQLite   p99 event → status %s ms\n' "PostgreSQL, $replicas replica(s)" "$r" \
    "$(python "postgres-$replicas")" "$(awk -v a="$r" -v b="$sqlite" 'BEGIN { printf "%.0f%%", 100 * a / b }')" "$(p99 "postgres-$replicas")"
done
echo ""
echo "CPU seconds over each whole run (both phases):"
for name in sqlite postgres-1 postgres-2; do
  printf '  %-12s %s\n' "$name" "$(grep -h 'CPU, whole run' "$out/$name.txt" | sed 's/.*CPU, whole run *//' | paste -sd ';' -)"
done
echo ""
echo "churn sweep, $sweep_clients clients of which 1% due:"
sweep() { sed -n 's/^sweep: .* reviewed in \([0-9.]*\) s (\([0-9]*\) reviews\/s).*/\1 s (\2 reviews\/s)/p' "$out/$1.txt"; }
seconds() { sweep "$1" | cut -d' ' -f1; }
printf '  %-12s %s\n' "SQLite" "$(sweep sweep-sqlite)" "PostgreSQL" "$(sweep sweep-postgres)"
awk -v a="$(seconds sweep-postgres)" -v b="$(seconds sweep-sqlite)" 'BEGIN { printf "  PostgreSQL takes %.2f× the SQLite time\n", a / b }'


#!/usr/bin/env bash
# CPU an idle deployment burns: the embedded broker, contact-worker and purchase-worker on one
# SQLite file with no events, measured over SECONDS after a warm-up.
#
# Usage: scripts/bench/idle-cpu.sh [BIN_DIR] [SECONDS]
#   BIN_DIR  folder holding clientele, contact-worker and purchase-worker (default: .build/release)
#   SECONDS  measuring window (default: 10)
# Extra worker settings pass through the environment (e.g. KAFKA_FETCH_WAIT_MAX_MS=5, as the
# benchmark and the demo set it for the embedded broker).
#
# Prints, per worker, its CPU time in the window as milliseconds per second (1000 = one core).
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${1:-$root_dir/.build/release}"
window="${2:-10}"
[[ "$window" =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS must be a positive integer (got $window)" >&2; exit 2; }
for name in clientele contact-worker purchase-worker; do
    [[ -x "$bin/$name" ]] || { echo "no executable $bin/$name (build with swift build -c release)" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/clientele" broker >"$work/broker.out" 2>"$work/broker.err" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/broker.out" ]] && break; sleep 0.1; done
servers="$(head -n 1 "$work/broker.out" | sed 's/^bootstrap.servers=//')"
[[ -n "$servers" ]] || { echo "the embedded broker did not start" >&2; exit 1; }

declare -A worker_pid
for name in contact-worker purchase-worker; do
    KAFKA_BOOTSTRAP_SERVERS="$servers" DATABASE_URL="sqlite:$work/store.sqlite" CLIENTELE_HTTP_PORT=0 \
        "$bin/$name" >"$work/$name.log" 2>&1 &
    pids+=($!)
    worker_pid[$name]=$!
done
sleep 8  # joined their groups, past their first maintenance pass

ticks="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A before
for name in "${!worker_pid[@]}"; do before[$name]="$(cpu "${worker_pid[$name]}")"; done
sleep "$window"
for name in contact-worker purchase-worker; do
    after="$(cpu "${worker_pid[$name]}")"
    awk -v a="${before[$name]}" -v b="$after" -v t="$ticks" -v w="$window" -v n="$name" \
        'BEGIN { printf "%-16s %6.1f ms of CPU per second, idle\n", n, (b - a) * 1000 / t / w }'
done

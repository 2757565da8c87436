#!/usr/bin/env bash
# Instructions per purchase event on the store apply path, counted by callgrind.
#
# Usage: scripts/bench/instructions-per-event.sh [CLIENTELE] [EVENTS1] [EVENTS2] [EVENTS_PER_CLIENT]
#   CLIENTELE  release binary to profile (default: .build/release/clientele of this repo)
#   EVENTS1    events in the smaller run (default: 2000)
#   EVENTS2    events in the larger run  (default: 4000)
#   EVENTS_PER_CLIENT  purchases per client in both runs (default: 10, as in `make bench`):
#              each run has EVENTS / EVENTS_PER_CLIENT clients, so what a new client costs
#              (its welcome task, its first status change) is counted per event too.
# Environment: VALGRIND (default: valgrind), BATCH_SIZE (default: 1000).
#
# Runs `clientele bench-store --events N --clients N/EVENTS_PER_CLIENT --batch-size BATCH_SIZE`
# on a fresh SQLite file under `valgrind --tool=callgrind --collect-atstart=yes`
# for N = EVENTS1 and N = EVENTS2 and prints
#   (Ir(EVENTS2) - Ir(EVENTS1)) / (EVENTS2 - EVENTS1),
# so startup, argument parsing, schema creation and exit cancel out. Per event that
# counts everything bench-store does for one event: generate, decode, apply.
# The counts are nearly deterministic: repeated runs differ by ~0.1% in total,
# i.e. a few hundred instructions per event for 2000 vs 4000 events.
#
# Two things make valgrind (Debian's 3.19, and 3.24 too for the second) fail
# on a Swift binary, and this script works around both:
#  1. The binary's DWARF 5 debug info ("unhandled dwarf2 abbrev form code 0x25"
#     in valgrind 3.19): we profile an `objcopy --strip-debug` copy. The symbol
#     table stays, so callgrind_annotate still names functions. The toolchain's
#     runtime libraries carry no .debug_info, so they need nothing.
#  2. "Valgrind received a signal 11 ... syscall 130": when the async main hands
#     the main thread to dispatch_main(), libdispatch parks it in
#     sigsuspend(&mask) with a `static const` mask that lives in .rodata, and
#     valgrind's rt_sigsuspend wrapper deletes its own SIGVGKILL from that mask
#     in place, faulting on the read-only page. We LD_PRELOAD a small shim
#     whose sigsuspend() passes a writable copy of the mask to libc's.
#
# Installs valgrind (and binutils / gcc if missing) with apt-get when needed.
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="${1:-$root_dir/.build/release/clientele}"
events1="${2:-2000}"
events2="${3:-4000}"
per_client="${4:-10}"
batch_size="${BATCH_SIZE:-1000}"
valgrind="${VALGRIND:-valgrind}"

for n in "$events1" "$events2" "$per_client" "$batch_size"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "not a positive integer: $n" >&2; exit 2; }
done
(( events2 > events1 )) || { echo "EVENTS2 ($events2) must exceed EVENTS1 ($events1)" >&2; exit 2; }
[[ -x "$binary" ]] || { echo "no executable at $binary (build it with swift build -c release)" >&2; exit 2; }

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

find_cc() {
    local c swift_bin
    for c in cc gcc clang; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    # The Swift toolchain ships a clang next to swift.
    if swift_bin="$(command -v swift 2>/dev/null)"; then
        c="$(dirname "$(readlink -f "$swift_bin")")/clang"
        if [[ -x "$c" ]]; then echo "$c"; return 0; fi
    fi
    return 1
}

packages=()
command -v "$valgrind" >/dev/null 2>&1 || { valgrind=valgrind; packages+=(valgrind); }
command -v objcopy >/dev/null 2>&1 || packages+=(binutils)
find_cc >/dev/null || packages+=(gcc libc6-dev)
if (( ${#packages[@]} > 0 )); then
    echo "installing ${packages[*]} ..." >&2
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
cc="$(find_cc)"

work="$(mktemp -d "${TMPDIR:-/tmp}/instructions-per-event.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# 1. A copy without DWARF (also shields the run from a concurrent rebuild).
objcopy --strip-debug "$binary" "$work/clientele"

# 2. The sigsuspend shim.
cat >"$work/sigsuspend-shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
/* Valgrind edits the sigsuspend mask in place; libdispatch's is read-only. */
int sigsuspend(const sigset_t *mask) {
    static int (*real)(const sigset_t *);
    if (!real) real = (int (*)(const sigset_t *))dlsym(RTLD_NEXT, "sigsuspend");
    if (!mask) return real(mask);
    sigset_t copy = *mask;
    return real(&copy);
}
EOF
if ! "$cc" -shared -fPIC -O2 -o "$work/sigsuspend-shim.so" "$work/sigsuspend-shim.c" -ldl 2>"$work/cc.log"; then
    if ! dpkg -s libc6-dev >/dev/null 2>&1; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev >/dev/null
    fi
    "$cc" -shared -fPIC -O2 -o "$work/sigsuspend-shim.so" "$work/sigsuspend-shim.c" -ldl
fi

# Prints the total Ir of one whole-program run of bench-store with $1 events.
count() {
    local events="$1" db="$work/store-$1.sqlite" out="$work/callgrind-$1.out" log="$work/valgrind-$1.log"
    rm -f "$db" "$db-wal" "$db-shm"
    if ! LD_PRELOAD="$work/sigsuspend-shim.so${LD_PRELOAD:+:$LD_PRELOAD}" SWIFT_BACKTRACE=enable=no \
        nice -n 19 "$valgrind" --tool=callgrind --collect-atstart=yes \
            --callgrind-out-file="$out" --log-file="$log" \
            "$work/clientele" bench-store --events "$events" --clients "$(( (events + per_client - 1) / per_client ))" \
            --batch-size "$batch_size" --database "sqlite:$db" >"$work/bench-$events.txt" 2>&1
    then
        echo "callgrind run with $events events failed; valgrind log:" >&2
        tail -n 40 "$log" >&2 || true
        tail -n 20 "$work/bench-$events.txt" >&2 || true
        return 1
    fi
    local total
    total="$(sed -n 's/^summary: *\([0-9][0-9]*\).*/\1/p' "$out" | head -n 1)"
    [[ -n "$total" ]] || { echo "no summary line in $out" >&2; return 1; }
    echo "$total"
}

ir1="$(count "$events1")"
echo "Ir($events1 events) = $ir1" >&2
ir2="$(count "$events2")"
echo "Ir($events2 events) = $ir2" >&2

delta_events=$(( events2 - events1 ))
per_event=$(( (ir2 - ir1 + delta_events / 2) / delta_events ))
echo "apply path: $per_event instructions per event (callgrind, bench-store, $events2 − $events1 events, $per_client per client)"

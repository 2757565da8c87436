#!/usr/bin/env bash
# A throwaway PostgreSQL for a test run: `start DIR` prints the admin URL (and writes it to
# DIR/url), `createdb DIR NAME` adds a database, `pause DIR` stops the server keeping its data and
# `resume DIR` starts it again on its port (the outage tests), `stop DIR` stops it and removes DIR.
# No Docker, no server assumed: Debian's `postgresql` package is installed when missing.
# PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user of its own
# (`clientele-test`, created when missing).
# Durability is switched off (fsync, synchronous_commit) for speed; with POSTGRES_DURABLE=1 the
# server keeps PostgreSQL's durable defaults (benchmarks: figures are taken with durable settings).
set -euo pipefail

command=${1:-}
dir=${2:-}
usage="usage: $0 start|stop|pause|resume DIR | createdb DIR NAME"
[ -n "$command" ] && [ -n "$dir" ] || { echo "$usage" >&2; exit 2; }

find_bin() {
  for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    su -s /bin/sh clientele-test -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

start_server() {  # bin dir port
  # The server outlives this script: it must not hold the caller's descriptors (a caller waiting
  # for this script's output or exit would wait for the server too).
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    # (not 255: bash reads this script from it)
    [ "$fd" -gt 2 ] 2>/dev/null && [ "$fd" -lt 255 ] && eval "exec $fd>&-" 2>/dev/null || true
  done
  speed="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${POSTGRES_DURABLE:-0}" = 1 ] && speed=""
  as_owner "$1/pg_ctl" -D "$2/data" -l "$2/server.log" -w -t 60 \
    -o "-p $3 -k $2 -c listen_addresses=127.0.0.1 -c max_connections=400 $speed -c shared_buffers=256MB" \
    start </dev/null >/dev/null 2>&1 || { cat "$2/server.log" >&2; exit 1; }
}

case "$command" in
pause)
  bin=$(find_bin)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
resume)
  bin=$(find_bin)
  start_server "$bin" "$dir" "$(cat "$dir/port")"
  ;;
start)
  if ! bin=$(find_bin); then
    echo "installing: postgresql" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq postgresql >/dev/null
    bin=$(find_bin) || { echo "error: PostgreSQL's initdb not found after installing postgresql" >&2; exit 1; }
  fi
  if [ "$(id -u)" -eq 0 ] && ! id clientele-test >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin clientele-test
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown clientele-test "$dir"
  # A free port below the kernel's ephemeral range (32768 and up), so that while the server is
  # paused no client socket or embedded broker of the test run is given its port.
  port=$(python3 -c '
import random, socket
low, high = 20000, 32000
try:
    low_ephemeral = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    high = min(high, low_ephemeral - 1)
except Exception:
    pass
for _ in range(200):
    port = random.randint(low, high)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
')
  [ -n "$port" ] || { echo "error: no free port for PostgreSQL" >&2; exit 1; }
  as_owner "$bin/initdb" -D "$dir/data" -U clientele --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  start_server "$bin" "$dir" "$port"
  echo "$port" > "$dir/port"
  url="postgres://clientele@127.0.0.1:$port/postgres?sslmode=disable"
  echo "$url" > "$dir/url"
  echo "$url"
  ;;
createdb)
  # createdb DIR NAME: a new database on the server DIR runs.
  name=${3:?usage: $0 createdb DIR NAME}
  bin=$(find_bin)
  url=$(cat "$dir/url")
  port=${url##*:}; port=${port%%/*}
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U clientele "$name"
  ;;
stop)
  if [ -d "$dir/data" ]; then
    bin=$(find_bin) || true
    [ -n "${bin:-}" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "$usage" >&2; exit 2
  ;;
esac

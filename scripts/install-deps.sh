#!/usr/bin/env bash
# Installs the system libraries Clientele builds against, when they are missing:
# librdkafka (pkg-config name `rdkafka`), SQLite and pkg-config. Debian/Ubuntu (apt-get).
# With --test, also what `make test` runs beside the build: Prometheus (its server, for the
# end-to-end scrape test, and promtool, for the alert rules' unit tests).
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists rdkafka 2>/dev/null || missing+=(librdkafka-dev)
pkg-config --exists sqlite3 2>/dev/null || missing+=(libsqlite3-dev)
if [ "${1:-}" = "--test" ]; then
  { command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: apt-get not found; install ${missing[*]} (librdkafka >= 2.0) with your package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "error: not root and no sudo; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# --no-install-recommends: Prometheus's recommended exporters are not needed. A package removed
# earlier but not purged ("rc") is installed again like a missing one.
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
pkg-config --exists rdkafka || { echo "error: librdkafka still not found by pkg-config" >&2; exit 1; }

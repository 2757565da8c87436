#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL: `with-test-postgres.sh DIR COMMAND…` starts one in
# DIR, exports its admin URL as CLIENTELE_TEST_DATABASE_URL, runs COMMAND, stops the server
# whatever COMMAND's outcome, and exits with COMMAND's status.
set -euo pipefail
dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
url=$("$here/test-postgres.sh" start "$dir")
trap '"$here/test-postgres.sh" stop "$dir"' EXIT
echo "test PostgreSQL: $url" >&2
CLIENTELE_TEST_DATABASE_URL=$url "$@"

#!/usr/bin/env bash
# Runs scripts/acceptance/replicas_postgres.py against a release build, on a throwaway PostgreSQL
# (durable settings) started for the run: two purchase-worker replicas (one SIGKILLed and
# restarted), a contact-worker and a churn-worker on one database.
#   usage: scripts/acceptance-postgres.sh [EVENTS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
python3 -c "import confluent_kafka" 2>/dev/null || python3 -m pip install -q confluent-kafka
dir=$(mktemp -d -u /tmp/clientele-acceptance-postgres-XXXXXX)
trap 'scripts/test-postgres.sh stop "$dir"' EXIT
admin=$(POSTGRES_DURABLE=1 scripts/test-postgres.sh start "$dir")
scripts/test-postgres.sh createdb "$dir" acceptance
psql=""
for candidate in /usr/lib/postgresql/*/bin/psql; do [ -x "$candidate" ] && psql=$candidate; done
python3 scripts/acceptance/replicas_postgres.py .build/release "${admin%/postgres\?*}/acceptance?sslmode=disable" "$psql" "${1:-200000}" "${2:-20000}"

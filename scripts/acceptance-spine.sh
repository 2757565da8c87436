#!/usr/bin/env bash
# Runs scripts/acceptance/spine.py against a release build (installs confluent-kafka if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
python3 -c "import confluent_kafka" 2>/dev/null || python3 -m pip install -q confluent-kafka
python3 scripts/acceptance/spine.py .build/release "${1:-200000}" "${2:-20000}"

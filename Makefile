# Clientele — the two commands a newcomer needs are `make demo` and `make test`.
SWIFT ?= swift
BENCH_EVENTS ?= 300000
BENCH_CLIENTS ?= 30000

.PHONY: help deps test-deps build demo test test-unit test-e2e test-alerts bench acceptance acceptance-postgres broker clean

help:
	@echo "make demo    load a generated history of purchases and contacts into the embedded broker, run the three workers on it; print a summary"
	@echo "make test    build and run every test (unit, Kafka on the mock cluster, end-to-end processes, a real Prometheus, the alert rules' unit tests)"
	@echo "make bench   release build; purchase-worker events/s beside a Python worker on the same topic (the ratio), latency p50/p99, peak memory, on SQLite and on PostgreSQL (1 and 2 replicas)"
	@echo "make acceptance  200,000 purchases sent with an independent client (confluent-kafka), checked end to end"
	@echo "make acceptance-postgres  the same on PostgreSQL with two purchase-worker replicas (one SIGKILLed), a contact- and a churn-worker"
	@echo "make broker  run the embedded development broker"

deps:
	@scripts/install-deps.sh

# What the tests need beyond the build: Prometheus (a real server for the scrape test, promtool for the rules).
test-deps: deps
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build

demo: build
	.build/debug/clientele demo

# `swift build` first: the end-to-end tests run the built executables as processes. The store's
# contract tests and the PostgreSQL process tests use a throwaway PostgreSQL started for the run
# (scripts/test-postgres.sh: installed when missing, run as an unprivileged user, stopped after).
TEST_POSTGRES_DIR ?= $(shell mktemp -d -u /tmp/clientele-test-postgres-XXXXXX)
WITH_POSTGRES = scripts/with-test-postgres.sh $(TEST_POSTGRES_DIR)

test: build test-deps test-alerts
	$(WITH_POSTGRES) $(SWIFT) test

# The alert rules: promtool check rules, promtool test rules (a unit test for every alert), a runbook per alert.
test-alerts: test-deps
	scripts/check-alerts.sh

test-unit: build test-deps
	$(WITH_POSTGRES) $(SWIFT) test --skip EndToEndTests

test-e2e: build test-deps
	$(WITH_POSTGRES) $(SWIFT) test --filter EndToEndTests

# Each purchase-path run first runs the Python worker (confluent-kafka + sqlite3) on the same
# preloaded topic and prints the ratio; confluent-kafka comes from PyPI when missing.
bench: deps
	python3 -c "import confluent_kafka" 2>/dev/null || python3 -m pip install -q confluent-kafka
	$(SWIFT) build -c release
	scripts/bench-postgres.sh $(BENCH_EVENTS) $(BENCH_CLIENTS) 1000000
	.build/release/clientele bench-store --events $(BENCH_EVENTS) --clients $(BENCH_CLIENTS)
	.build/release/clientele bench-model --clients 1000000

# The spine's acceptance run: 200,000 purchases for 20,000 clients sent with confluent-kafka.
acceptance: deps
	scripts/acceptance-spine.sh

acceptance-postgres: deps
	scripts/acceptance-postgres.sh

broker: build
	.build/debug/clientele broker

clean:
	rm -rf .build demo-output bench-output

# syntax=docker/dockerfile:1
#
# Clientele: the three workers and the CLI in one image. The container's command chooses the
# process (compose.yaml: `command: [purchase-worker]`, `[contact-worker]`, `[churn-worker]`);
# there is no entrypoint wrapper.
#
#   docker build -t clientele:local .
#   docker run --rm clientele:local clientele --help
#
# Both stages are Debian 12 (bookworm), so the librdkafka and SQLite the binaries were linked
# against at build time are the ones installed at run time (librdkafka 2.0.2).

# Build: the Swift toolchain of the 6.3 line the package is developed with, pinned to a patch release.
ARG SWIFT_IMAGE=swift:6.3.1-bookworm
# Run: a dated Debian 12 snapshot rather than the floating `bookworm-slim`; bump it deliberately.
ARG RUNTIME_IMAGE=debian:bookworm-20251229-slim

FROM ${SWIFT_IMAGE} AS build

# librdkafka (the CRdKafka system library) and SQLite (GRDB's system library), found with pkg-config.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends librdkafka-dev libsqlite3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Package.resolved is git-ignored; when the build context has one, its pins are used.
COPY Package.swift Package.resolve[d] ./
COPY Sources ./Sources
# The manifest declares the test targets too: SwiftPM refuses a manifest whose target folders are
# missing, so they are copied although only the products are built.
COPY Tests ./Tests

# Every product (the four executables and the domain library), release, with the Swift runtime
# and Foundation linked in statically. The build folder is a BuildKit cache (incremental
# rebuilds), so the binaries are copied out of it in the same step.
RUN --mount=type=cache,id=clientele-swiftpm-build,target=/src/.build \
    swift build -c release --static-swift-stdlib \
 && bin="$(swift build -c release --show-bin-path)" \
 && mkdir -p /staging/bin \
 && for product in purchase-worker contact-worker churn-worker clientele; do \
        install -m 0755 "$bin/$product" /staging/bin/"$product"; \
    done \
 && strip /staging/bin/*


FROM ${RUNTIME_IMAGE}

LABEL org.opencontainers.image.title="clientele" \
      org.opencontainers.image.description="Clientele workers (purchase-worker, contact-worker, churn-worker) and the clientele CLI"

# librdkafka1 and libsqlite3-0: the system libraries the binaries link; ca-certificates for TLS to
# Kafka and PostgreSQL (sslmode=verify-full); curl for the health check; tzdata for time zones.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends librdkafka1 libsqlite3-0 ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 clientele \
 && useradd --system --uid 10001 --gid clientele --home-dir /var/lib/clientele --no-create-home \
        --shell /usr/sbin/nologin clientele \
 && install -d -o clientele -g clientele -m 0750 /var/lib/clientele \
 && install -d -o clientele -g clientele -m 0700 /keys \
 && install -d -o clientele -g clientele -m 0755 /db-secret
# /keys and /db-secret are where compose.yaml mounts the deployment key and the database password
# volumes; created here so that a fresh named volume starts owned by the clientele user.

COPY --from=build /staging/bin/ /usr/local/bin/
COPY config/sectors.yaml config/exchange-rates.yaml /etc/clientele/
COPY config/schemas/ /etc/clientele/schemas/

# Fail the build, not the first start, if a binary needs a library this stage lacks.
RUN if ldd /usr/local/bin/purchase-worker /usr/local/bin/contact-worker /usr/local/bin/churn-worker \
        /usr/local/bin/clientele | grep 'not found'; then exit 1; fi

# What running from the repository finds in ./config; both can be overridden per container.
ENV CLIENTELE_SECTORS_FILE=/etc/clientele/sectors.yaml \
    CLIENTELE_EXCHANGE_RATES_FILE=/etc/clientele/exchange-rates.yaml

USER 10001:10001
# An SQLite store (DATABASE_URL=sqlite:clientele.sqlite, the default) lands here; mount a volume.
WORKDIR /var/lib/clientele

# Metrics and health: 9101 purchase-worker, 9102 contact-worker, 9103 churn-worker (CLIENTELE_HTTP_PORT).
EXPOSE 9101 9102 9103

# SIGTERM drains: the current batch finishes, offsets are committed, the relay publishes what is
# left. Give the container a stop timeout of about 30 s (compose: stop_grace_period).
STOPSIGNAL SIGTERM

# CLIENTELE_HTTP_PORT is each worker's own port; set it explicitly (compose.yaml does). Unset, the
# check asks 9101, purchase-worker's default.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${CLIENTELE_HTTP_PORT:-9101}/health/ready" || exit 1

CMD ["clientele", "--help"]

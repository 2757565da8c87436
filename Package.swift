// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "clientele",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "purchase-worker", targets: ["purchase-worker"]),
        .executable(name: "contact-worker", targets: ["contact-worker"]),
        .executable(name: "churn-worker", targets: ["churn-worker"]),
        .executable(name: "clientele", targets: ["clientele"]),
        .library(name: "ClienteleDomain", targets: ["ClienteleDomain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0" ..< "5.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
    ],
    targets: [
        // librdkafka, the system C library (Debian: librdkafka-dev). Only ClienteleKafka imports it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        // Pure domain: events, validation, statuses, rules, tasks. No I/O, no dependencies.
        .target(name: "ClienteleDomain"),
        // Kafka over librdkafka: producer, consumer, mock cluster.
        .target(
            name: "ClienteleKafka",
            dependencies: ["CRdKafka", .product(name: "Logging", package: "swift-log")]
        ),
        // Client store: one contract (ClientStore), two backends — SQLite (GRDB), the embedded
        // default, and PostgreSQL (postgres-nio), for worker replicas on several hosts.
        .target(
            name: "ClienteleStore",
            dependencies: [
                "ClienteleDomain",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Worker runtime: consume → process → commit, dead letters, outbox relay, config, shutdown.
        .target(
            name: "ClienteleRuntime",
            dependencies: [
                "ClienteleDomain", "ClienteleKafka", "ClienteleStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Generated workloads (purchases, malformed samples) for the demo, benchmarks and tests.
        .target(name: "ClienteleWorkload", dependencies: ["ClienteleDomain"]),
        .executableTarget(
            name: "purchase-worker",
            dependencies: ["ClienteleRuntime"]
        ),
        .executableTarget(
            name: "contact-worker",
            dependencies: ["ClienteleRuntime"]
        ),
        .executableTarget(
            name: "churn-worker",
            dependencies: ["ClienteleRuntime"]
        ),
        .executableTarget(
            name: "clientele",
            dependencies: [
                "ClienteleRuntime", "ClienteleWorkload",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "ClienteleDomainTests", dependencies: ["ClienteleDomain", "ClienteleWorkload"], exclude: ["Fixtures"]),
        .testTarget(name: "ClienteleKafkaTests", dependencies: ["ClienteleKafka"]),
        .testTarget(name: "ClienteleStoreTests", dependencies: [
            "ClienteleStore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        .testTarget(name: "ClienteleRuntimeTests", dependencies: ["ClienteleRuntime", "ClienteleWorkload"]),
        .testTarget(name: "EndToEndTests", dependencies: [
            "ClienteleKafka", "ClienteleStore", "ClienteleWorkload", .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Yams", package: "Yams"),
        ]),
    ]
)

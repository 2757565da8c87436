import ClienteleKafka
import ClienteleStore
import ClienteleDomain
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Starts a worker process: configuration, logging, store, Kafka clients, services, signals.
public enum WorkerLauncher {
    /// Exit status for a configuration that cannot be used (sysexits' EX_CONFIG).
    public static let configurationErrorExitCode: Int32 = 78

    /// Sets up the process's memory allocator (see ``MemoryTuning``). Call it first in a worker's
    /// `main.swift`, before its first `await`: a thread that has allocated once keeps the malloc
    /// arena it got, so a limit set from async code (already on a thread of the concurrency pool)
    /// leaves that thread an arena of its own.
    public static func prepareProcess() {
        MemoryTuning.configureAllocator()
    }

    /// Runs an event worker until SIGTERM/SIGINT; exits the process with a clear message on bad configuration.
    public static func run<Handler: EventHandler>(
        workerName: String, defaultHTTPPort: Int, makeHandler: @escaping (WorkerConfiguration) -> Handler
    ) async {
        await run(workerName: workerName, defaultHTTPPort: defaultHTTPPort) { configuration, logger, operations in
            try WorkerServices(handler: makeHandler(configuration), configuration: configuration, logger: logger, operations: operations)
        }
    }

    /// Runs the services `assemble` builds until SIGTERM/SIGINT; exits the process with a clear
    /// message on bad configuration (status 78) or an unusable store.
    public static func run(
        workerName: String, defaultHTTPPort: Int,
        assemble: (WorkerConfiguration, Logger, WorkerOperations) throws -> any WorkerAssembly
    ) async {
        let configuration: WorkerConfiguration
        do {
            configuration = try await WorkerConfiguration.load(workerName: workerName, defaultHTTPPort: defaultHTTPPort)
        } catch {
            FileHandle.standardError.write(Data("\(workerName): configuration error: \(error)\n".utf8))
            exit(configurationErrorExitCode)
        }
        let replica = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
        LoggingSystem.bootstrap { label in
            switch configuration.logFormat {
            case .json:
                return JSONLogHandler(label: label, worker: workerName, replica: replica, level: configuration.logLevel)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = configuration.logLevel
                return handler
            }
        }
        let logger = Logger(label: "clientele.\(workerName)")
        // Before any instrument exists: instruments made earlier would stay unexported.
        let operations = WorkerOperations(configuration: configuration, registry: OperatorMetrics.bootstrap(worker: workerName))
        do {
            let services = try assemble(configuration, logger, operations)
            try await ServiceGroup(configuration: services.groupConfiguration(signals: [.sigterm, .sigint], logger: logger)).run()
            await services.producer.close()
            logger.info("stopped")
        } catch let error as StoreError {
            logger.critical("store unavailable", metadata: ["error": "\(error)"])
            exit(error.code == .invalidURL || error.code == .unsupportedBackend || error.code == .invalidKey ? configurationErrorExitCode : 1)
        } catch let problem as ConfigurationProblem {
            // Found once running (e.g. the topics' partition counts): a setup to fix, like a bad setting.
            FileHandle.standardError.write(Data("\(workerName): configuration error: \(problem)\n".utf8))
            exit(configurationErrorExitCode)
        } catch {
            logger.critical("worker failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}

/// The operator's side of a worker process: the metrics it serves, its health, and where the
/// HTTP endpoints listen.
public struct WorkerOperations: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let health: WorkerHealth
    let host: String
    let port: Int

    init(configuration: WorkerConfiguration, registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let churn = configuration.workerName == "churn-worker"
        // The sweep loop turns once per sweep and then waits the interval: a stall is the limit past that.
        health = WorkerHealth(
            loop: churn ? .sweep : .consume, stallAfter: configuration.stallAfter + (churn ? configuration.churn.sweepInterval : .zero),
            unsteadyLimit: configuration.maxPollInterval * 2, freshness: .seconds(30))
        host = configuration.httpHost
        port = configuration.httpPort
    }

    /// The HTTP endpoints, and the monitor that keeps the sampled metrics and health current.
    func services(monitor: OperationsMonitor, logger: Logger) -> [any Service] {
        [OperationsServer(host: host, port: port, registry: registry, health: health, logger: logger), monitor]
    }
}

/// A worker process's services, ready to run in a service group.
public protocol WorkerAssembly: Sendable {
    /// Closed after the group has stopped (its queue flushed).
    var producer: KafkaProducer { get }
    /// The service group: shutdown runs in reverse order of the services.
    func groupConfiguration(signals: [UnixSignal], logger: Logger) -> ServiceGroupConfiguration
}

extension WorkerAssembly {
    static func group(_ services: [any Service], store: any ClientStore, signals: [UnixSignal], logger: Logger) -> ServiceGroupConfiguration {
        // A store with a connection pool (PostgreSQL) is a service of its own, first: it is shut
        // down last, after the services that use it.
        let all = ((store as? any Service).map { [$0] } ?? []) + services
        return ServiceGroupConfiguration(
            services: all.map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: signals, logger: logger)
    }

    /// A relay with a unique lease holder name for this process.
    static func relay(store: any ClientStore, producer: KafkaProducer, configuration: WorkerConfiguration, logger: Logger) -> OutboxRelay {
        let holder = "\(configuration.workerName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
        return OutboxRelay(store: store, producer: producer, topics: configuration.topics, holder: holder, logger: logger)
    }
}

/// An event worker's parts, wired together: store, Kafka clients, outbox relay and consume loop.
public struct WorkerServices<Handler: EventHandler>: WorkerAssembly {
    public let store: any ClientStore
    public let producer: KafkaProducer
    public let relay: OutboxRelay
    public let worker: ConsumerWorker<Handler>
    /// `CLIENTELE_IDEMPOTENCY_RETENTION_DAYS`, for the store's upkeep.
    let retentionDays: Int
    /// `/metrics`, `/health` and their monitor (none when the worker runs inside a test).
    let operationsServices: [any Service]

    public init(handler: Handler, configuration: WorkerConfiguration, logger: Logger, operations: WorkerOperations? = nil) throws {
        logger.info("starting", metadata: [
            "kafka": "\(configuration.kafka.description)", "database": "\(configuration.database)",
            "group": "\(configuration.groupId)", "instance": "\(configuration.instanceId ?? "none")", "batchSize": "\(configuration.batchSize)",
        ])
        store = try configuration.openStore(logger: logger)
        retentionDays = configuration.idempotencyRetentionDays
        producer = try KafkaProducer(configuration: configuration.producerKafka, logger: logger)
        // Subscribed by the worker once the store is ready.
        let consumer = try KafkaConsumer(configuration: configuration.consumerKafka, groupId: configuration.groupId, topics: [], logger: logger)
        relay = Self.relay(store: store, producer: producer, configuration: configuration, logger: logger)
        let progress = PartitionProgress()
        worker = ConsumerWorker(
            handler: handler, consumer: consumer, producer: producer, store: store, relay: relay,
            churnPolicy: ChurnPolicySource(configuration: configuration.churn, store: store, logger: logger),
            purchaseRules: configuration.purchaseRules, contactRules: configuration.contactRules,
            settings: .init(topics: configuration.topics, batchSize: configuration.batchSize, batchWait: configuration.batchWait,
                            alignment: configuration.alignment, taskMaxAge: configuration.clock == .wall ? configuration.taskMaxAge : nil),
            logger: logger, workerName: configuration.workerName, health: operations?.health, progress: progress)
        if let operations {
            operationsServices = operations.services(monitor: OperationsMonitor(
                health: operations.health, store: store, producer: producer, consumer: consumer,
                inputTopic: configuration.topics.resolve(handler.inputTopic), progress: progress, logger: logger), logger: logger)
        } else {
            operationsServices = []
        }
    }

    /// The worker stops consuming first and the relay then publishes what the last batches wrote.
    /// Either service ending ends the group.
    public func groupConfiguration(signals: [UnixSignal], logger: Logger) -> ServiceGroupConfiguration {
        Self.group(operationsServices + [
            StoreMaintenance(store: store, retentionDays: retentionDays, logger: logger), WaitingEventsMonitor(store: store, logger: logger), relay, worker,
        ], store: store, signals: signals, logger: logger)
    }
}

/// The churn-worker's parts: store, producer, outbox relay and the sweeps.
public struct ChurnServices: WorkerAssembly {
    public let store: any ClientStore
    public let producer: KafkaProducer
    public let relay: OutboxRelay
    public let worker: ChurnWorker
    /// `CLIENTELE_IDEMPOTENCY_RETENTION_DAYS`, for the store's upkeep.
    let retentionDays: Int
    /// `/metrics`, `/health` and their monitor (none when the worker runs inside a test).
    let operationsServices: [any Service]

    public init(configuration: WorkerConfiguration, logger: Logger, operations: WorkerOperations? = nil) throws {
        let churn = configuration.churn
        logger.info("starting", metadata: [
            "kafka": "\(configuration.kafka.description)", "database": "\(configuration.database)",
            "clock": "\(configuration.clock.rawValue)", "sector": "\(churn.rules.sector.name)", "sectors": "\(churn.sectorsSource)",
            "model": "\(churn.modelKind.rawValue)",
        ])
        store = try configuration.openStore(logger: logger)
        retentionDays = configuration.idempotencyRetentionDays
        producer = try KafkaProducer(configuration: configuration.producerKafka, logger: logger)
        relay = Self.relay(store: store, producer: producer, configuration: configuration, logger: logger)
        worker = ChurnWorker(
            store: store, policies: ChurnPolicySource(configuration: churn, store: store, logger: logger), relay: relay,
            clock: configuration.clock, configuration: churn, alignment: configuration.alignment,
            taskMaxAge: configuration.clock == .wall ? configuration.taskMaxAge : nil, logger: logger, health: operations?.health)
        if let operations {
            let worker = worker
            operationsServices = operations.services(monitor: OperationsMonitor(
                health: operations.health, store: store, producer: producer,
                churn: .init(dueClients: { try await worker.dueClients() }, modelKinds: ["bgnbd", "mbgnbd", "gamma-gamma"]),
                logger: logger), logger: logger)
        } else {
            operationsServices = []
        }
    }

    public func groupConfiguration(signals: [UnixSignal], logger: Logger) -> ServiceGroupConfiguration {
        Self.group(operationsServices + [StoreMaintenance(store: store, retentionDays: retentionDays, logger: logger), relay, worker],
                   store: store, signals: signals, logger: logger)
    }
}

extension WorkerConfiguration {
    /// Opens the store with the deployment key (`CLIENTELE_ERASURE_KEY_FILE`, or for SQLite a
    /// file beside the database, created on first use and logged).
    func openStore(logger: Logger) throws -> any ClientStore {
        // Workers wait for a PostgreSQL that is down at startup (with backoff, saying so), never crash-loop.
        let store = try StoreOpener.open(
            database, key: erasureKeyFile.map(DeploymentKeySource.file) ?? .besideStore, poolSize: databasePoolSize, startupTimeout: nil,
            logger: logger)
        if let created = (store as? SQLiteClientStore)?.createdKeyFile {
            logger.notice("created the deployment key (it keys the erasure records): back it up, and give it to every worker of this store", metadata: [
                "file": "\(created)",
            ])
        }
        return store
    }
}

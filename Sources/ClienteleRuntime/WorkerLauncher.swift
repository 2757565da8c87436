import ClienteleKafka
import ClienteleStore
import ClienteleDomain
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Starts a worker process: configuration, logging, store, Kafka clients, services, signals.
public enum WorkerLauncher {
    /// Exit status for a configuration that cannot be used (sysexits' EX_CONFIG).
    public static let configurationErrorExitCode: Int32 = 78

    /// Runs the worker until SIGTERM/SIGINT; exits the process with a clear message on bad configuration.
    public static func run<Handler: EventHandler>(
        workerName: String, defaultHTTPPort: Int, makeHandler: (WorkerConfiguration) -> Handler
    ) async {
        let configuration: WorkerConfiguration
        do {
            configuration = try await WorkerConfiguration.load(workerName: workerName, defaultHTTPPort: defaultHTTPPort)
        } catch {
            FileHandle.standardError.write(Data("\(workerName): configuration error: \(error)\n".utf8))
            exit(configurationErrorExitCode)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        let logger = Logger(label: "clientele.\(workerName)")
        do {
            try await run(handler: makeHandler(configuration), configuration: configuration, logger: logger)
        } catch let error as StoreError {
            logger.critical("store unavailable", metadata: ["error": "\(error)"])
            exit(error.code == .invalidURL || error.code == .unsupportedBackend ? configurationErrorExitCode : 1)
        } catch {
            logger.critical("worker failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    /// Builds and runs the worker's services until SIGTERM/SIGINT.
    public static func run<Handler: EventHandler>(
        handler: Handler, configuration: WorkerConfiguration, logger: Logger
    ) async throws {
        let services = try WorkerServices(handler: handler, configuration: configuration, logger: logger)
        try await ServiceGroup(configuration: services.groupConfiguration(signals: [.sigterm, .sigint], logger: logger)).run()
        await services.producer.close()
        logger.info("stopped")
    }
}

/// A worker's parts, wired together: store, Kafka clients, outbox relay and consume loop.
public struct WorkerServices<Handler: EventHandler>: Sendable {
    public let store: any ClientStore
    public let producer: KafkaProducer
    public let relay: OutboxRelay
    public let worker: ConsumerWorker<Handler>

    public init(handler: Handler, configuration: WorkerConfiguration, logger: Logger) throws {
        logger.info("starting", metadata: [
            "kafka": "\(configuration.kafka.description)", "database": "\(configuration.database)",
            "group": "\(configuration.groupId)", "batchSize": "\(configuration.batchSize)",
        ])
        store = try StoreOpener.open(configuration.database)
        producer = try KafkaProducer(configuration: configuration.kafka, logger: logger)
        let consumer = try KafkaConsumer(
            configuration: configuration.kafka, groupId: configuration.groupId,
            topics: [configuration.topics.resolve(handler.inputTopic)], logger: logger)
        let holder = "\(configuration.workerName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
        relay = OutboxRelay(store: store, producer: producer, topics: configuration.topics, holder: holder, logger: logger)
        worker = ConsumerWorker(
            handler: handler, consumer: consumer, producer: producer, store: store, relay: relay,
            settings: .init(topics: configuration.topics, batchSize: configuration.batchSize, batchWait: configuration.batchWait),
            logger: logger, workerName: configuration.workerName)
    }

    /// The service group: shutdown runs in reverse order, so the worker stops consuming first and
    /// the relay then publishes what the last batches wrote. Either service ending ends the group.
    public func groupConfiguration(signals: [UnixSignal], logger: Logger) -> ServiceGroupConfiguration {
        ServiceGroupConfiguration(
            services: [
                .init(service: relay, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: signals,
            logger: logger)
    }
}

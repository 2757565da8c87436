import ClienteleKafka
import ClienteleStore
import ClienteleDomain
import Foundation
import Logging
import ServiceLifecycle

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

    /// Builds and runs the worker's services (in-process use, e.g. tests and the demo).
    public static func run<Handler: EventHandler>(
        handler: Handler, configuration: WorkerConfiguration, logger: Logger
    ) async throws {
        logger.info("starting", metadata: [
            "kafka": "\(configuration.kafka.description)", "database": "\(configuration.database)",
            "group": "\(configuration.groupId)", "batchSize": "\(configuration.batchSize)",
        ])
        let store = try StoreOpener.open(configuration.database)
        let producer = try KafkaProducer(configuration: configuration.kafka, logger: logger)
        let consumer = try KafkaConsumer(
            configuration: configuration.kafka, groupId: configuration.groupId,
            topics: [configuration.topics.resolve(handler.inputTopic)], logger: logger)
        let holder = "\(configuration.workerName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
        let relay = OutboxRelay(store: store, producer: producer, topics: configuration.topics, holder: holder, logger: logger)
        let worker = ConsumerWorker(
            handler: handler, consumer: consumer, producer: producer, store: store, relay: relay,
            settings: .init(topics: configuration.topics, batchSize: configuration.batchSize, batchWait: configuration.batchWait),
            logger: logger, workerName: configuration.workerName)
        // Shutdown runs in reverse order: the worker stops consuming first, then the relay
        // publishes what the last batches wrote.
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: relay, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        await producer.close()
        logger.info("stopped")
    }
}

import ClienteleDomain
import ClienteleKafka
import ClienteleRuntime
import ClienteleStore
import Foundation
import Logging
import ServiceLifecycle

/// A mock cluster with the contract's topics, a temporary SQLite file and an in-process purchase
/// worker (the same services the executable runs), for one test.
final class WorkerHarness: Sendable {
    let cluster: MockKafkaCluster
    let directory: String
    let configuration: WorkerConfiguration
    let topics = TopicNames(prefix: "test.")
    let logger = Logger(label: "test")

    init(environment extra: [String: String] = [:]) async throws {
        cluster = try MockKafkaCluster(brokerCount: 1)
        for topic in TopicNames.all { try cluster.createTopic(topics.resolve(topic), partitions: 4) }
        directory = NSTemporaryDirectory() + "clientele-runtime-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var environment = [
            "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrapServers,
            "DATABASE_URL": "sqlite:\(directory)/store.sqlite",
            "CLIENTELE_TOPIC_PREFIX": topics.prefix,
            "CLIENTELE_BATCH_WAIT_MS": "20",
            // The purchase worker alone: nothing to wait for from a contact stream.
            "CLIENTELE_STREAM_ALIGNMENT": "off",
            // The tests' purchases are dated 2026: none is too old to act on here.
            "CLIENTELE_TASK_MAX_AGE": "36500d",
        ]
        environment.merge(extra) { $1 }
        configuration = try await WorkerConfiguration.load(workerName: "purchase-worker", defaultHTTPPort: 9101, environment: environment)
    }

    var kafka: KafkaConfiguration { configuration.kafka }

    func store() throws -> SQLiteClientStore { try SQLiteClientStore(path: "\(directory)/store.sqlite") }

    /// Runs the worker until `body` returns, then shuts it down gracefully.
    func withWorker<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withWorker(configuration: configuration, body)
    }

    func withWorker<T: Sendable>(configuration: WorkerConfiguration, _ body: @Sendable () async throws -> T) async throws -> T {
        let handler = PurchaseHandler(maxMessageBytes: configuration.maxMessageBytes)
        let services = try WorkerServices(handler: handler, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: services.groupConfiguration(signals: [], logger: logger))
        let running = Task { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await running.value
            await services.producer.close()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            await services.producer.close()
            throw error
        }
    }

    func produce(_ messages: [(key: String?, value: [UInt8])]) async throws {
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        try await producer.send(messages.map {
            OutgoingMessage(topic: topics.resolve(TopicNames.purchases), key: $0.key.map { Array($0.utf8) }, value: $0.value)
        })
        await producer.close()
    }

    /// Reads `count` messages from a logical topic (fresh group), or what arrived within `within`.
    func read(_ logicalTopic: String, count: Int, within: Duration = .seconds(30)) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: kafka, groupId: "reader-\(UUID().uuidString)", topics: [topics.resolve(logicalTopic)], logger: logger)
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now.advanced(by: within)
        while messages.count < count, ContinuousClock.now < deadline {
            messages += try await consumer.poll(maxMessages: 1000, maxWait: .milliseconds(100))
        }
        await consumer.close()
        return messages
    }

    /// Waits until the store applied `accepted` events and published its outbox.
    func waitForStore(accepted: Int, within: Duration = .seconds(30)) async throws -> StoreSummary {
        let store = try store()
        let deadline = ContinuousClock.now.advanced(by: within)
        var summary = try await store.summary()
        while (summary.acceptedEvents < accepted || summary.outboxBacklog > 0), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            summary = try await store.summary()
        }
        return summary
    }

    deinit {
        cluster.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func json(_ message: KafkaMessage) -> [String: JSONValue] {
    guard let value = message.value, case .object(let object)? = try? JSONParser.parse(value) else { return [:] }
    return object
}

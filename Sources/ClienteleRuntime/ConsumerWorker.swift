import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import Logging
import Metrics
import ServiceLifecycle

/// The consume → process → commit loop shared by every event worker.
///
/// Each poll yields a batch (the next one is fetched and decoded while the current one is written). Messages that fail validation are copied to the dead-letter topic;
/// the others are applied to the store in one transaction (idempotently). Only when both are
/// durable are the batch's offsets stored for commit, so a crash at any point redelivers work
/// that the idempotency records then skip. Store or Kafka failures are retried with backoff and
/// never skip a message. On graceful shutdown the current batch is finished, offsets committed
/// and the group left.
public final class ConsumerWorker<Handler: EventHandler>: Service, Sendable {
    private let handler: Handler
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let store: any ClientStore
    private let relay: OutboxRelay
    private let churnPolicy: ChurnPolicySource
    private let settings: Settings
    private let logger: Logger
    private let metrics: WorkerMetrics
    /// Where rejected input goes, e.g. `purchases.dlq` with the deployment's prefix.
    private let deadLetterTopic: String

    /// Batch and topic settings.
    public struct Settings: Sendable {
        public var topics: TopicNames
        public var batchSize: Int
        public var batchWait: Duration

        public init(topics: TopicNames, batchSize: Int, batchWait: Duration) {
            self.topics = topics
            self.batchSize = batchSize
            self.batchWait = batchWait
        }
    }

    public init(
        handler: Handler, consumer: KafkaConsumer, producer: KafkaProducer, store: any ClientStore,
        relay: OutboxRelay, churnPolicy: ChurnPolicySource, settings: Settings, logger: Logger, workerName: String
    ) {
        self.churnPolicy = churnPolicy
        self.handler = handler
        self.consumer = consumer
        self.producer = producer
        self.store = store
        self.relay = relay
        self.settings = settings
        self.logger = logger
        self.metrics = WorkerMetrics(worker: workerName)
        self.deadLetterTopic = settings.topics.resolve(TopicNames.deadLetter(of: handler.inputTopic))
    }

    public func run() async throws {
        logger.info("consuming", metadata: ["topic": "\(settings.topics.resolve(handler.inputTopic))"])
        await churnPolicy.checkAgreesWithChurnWorker()
        defer { logger.info("consumer stopped") }
        // The next batch is fetched and decoded while the current one is written (the poll runs
        // on the consumer's own queue). A revocation during that fetch only means the new owner
        // re-reads our last batch, which the idempotency records make harmless.
        var batch = try await fetch()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard !batch.messages.isEmpty else {
                batch = try await fetch()
                continue
            }
            async let next = fetch()
            guard try await write(batch) else {
                _ = try? await next
                break
            }
            try consumer.storeOffsets(Self.nextOffsets(after: batch.messages))
            relay.wake()
            batch = try await next
        }
        do {
            try await consumer.commit()
        } catch {
            logger.warning("final commit failed; uncommitted messages will be redelivered", metadata: ["error": "\(error)"])
        }
        await consumer.close()
    }

    /// A polled batch, split into accepted events and dead letters.
    struct DecodedBatch: Sendable {
        var messages: [KafkaMessage] = []
        var events: [Handler.Event] = []
        var deadLetters: [OutgoingMessage] = []
        /// Newest accepted event time per partition, for the event clock.
        var newestEventTimes: [TopicPartition: Timestamp] = [:]
        var polledAt = ContinuousClock.now
    }

    private func fetch() async throws -> DecodedBatch {
        var batch = DecodedBatch()
        batch.messages = try await consumer.poll(maxMessages: settings.batchSize, maxWait: settings.batchWait)
        batch.polledAt = .now
        batch.events.reserveCapacity(batch.messages.count)
        for message in batch.messages {
            do {
                let event = try handler.decode(message)
                batch.events.append(event)
                let source = TopicPartition(topic: message.topic, partition: message.partition)
                batch.newestEventTimes[source] = max(batch.newestEventTimes[source] ?? event.occurredAt, event.occurredAt)
            } catch {
                logger.warning("rejected message", metadata: [
                    "topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)",
                    "reason": "\(error.reason.rawValue)", "detail": "\(error.detail)",
                ])
                metrics.rejected(error.reason)
                batch.deadLetters.append(DeadLetters.message(for: message, rejection: error, deadLetterTopic: deadLetterTopic))
            }
        }
        return batch
    }

    /// Makes the batch durable: dead letters acknowledged by Kafka and events applied in one store
    /// transaction. Returns false if shutdown came while a failure was being retried (the batch
    /// then stays uncommitted and is redelivered).
    private func write(_ batch: DecodedBatch) async throws -> Bool {
        let started = ContinuousClock.now
        // Every changed client's next churn review is set in the same transaction.
        let policy = await churnPolicy.current()
        let newest = Dictionary(uniqueKeysWithValues: batch.newestEventTimes.map { ("\($0.key.topic)/\($0.key.partition)", $0.value) })
        let context = BatchContext(schedule: { policy.nextReview(for: $0) }, newestEventTimes: newest)
        let outcome = try await retrying("dead-letter publish and store transaction") { [handler, store, producer] in
            async let published: Void = producer.send(batch.deadLetters)
            let outcome = try await store.apply(batch.events, context: context) { event, client in handler.reduce(event, &client) }
            try await published
            return outcome
        }
        guard let outcome else { return false }
        metrics.record(outcome, batchSize: batch.messages.count, duration: ContinuousClock.now - batch.polledAt)
        logger.debug("batch committed", metadata: [
            "messages": "\(batch.messages.count)", "accepted": "\(outcome.accepted)", "duplicates": "\(outcome.duplicates)",
            "rejected": "\(batch.deadLetters.count)", "statusChanges": "\(outcome.statusChanges)", "tasks": "\(outcome.tasks)",
            "writeMs": "\((ContinuousClock.now - started) / .milliseconds(1))",
        ])
        return true
    }

    /// Retries `body` with exponential backoff (100 ms … 10 s) until it succeeds or shutdown.
    private func retrying<T: Sendable>(_ what: String, _ body: @Sendable () async throws -> T) async throws -> T? {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch {
                attempt += 1
                metrics.retried()
                logger.error("\(what) failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
                try? await Task.sleep(for: .milliseconds(min(10_000, 100 << min(attempt, 7))))
            }
        }
    }

    static func nextOffsets(after batch: [KafkaMessage]) -> [TopicPartitionOffset] {
        var next: [TopicPartition: Int64] = [:]
        for message in batch {
            let partition = TopicPartition(topic: message.topic, partition: message.partition)
            next[partition] = max(next[partition] ?? 0, message.offset + 1)
        }
        return next.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
    }
}

/// The worker's swift-metrics instruments (exported by whatever backend the process bootstraps).
struct WorkerMetrics: Sendable {
    let worker: String
    private let accepted: Counter
    private let duplicates: Counter
    private let statusChanges: Counter
    private let tasks: Counter
    private let retries: Counter
    private let batchDuration: Timer

    init(worker: String) {
        self.worker = worker
        let dimensions = [("worker", worker)]
        accepted = Counter(label: "clientele_events_accepted_total", dimensions: dimensions)
        duplicates = Counter(label: "clientele_events_duplicate_total", dimensions: dimensions)
        statusChanges = Counter(label: "clientele_status_changes_total", dimensions: dimensions)
        tasks = Counter(label: "clientele_tasks_total", dimensions: dimensions)
        retries = Counter(label: "clientele_batch_retries_total", dimensions: dimensions)
        batchDuration = Timer(label: "clientele_batch_duration_seconds", dimensions: dimensions)
    }

    func rejected(_ reason: EventRejection.Reason) {
        Counter(label: "clientele_events_rejected_total", dimensions: [("worker", worker), ("reason", reason.rawValue)]).increment()
    }

    func retried() { retries.increment() }

    func record(_ outcome: BatchOutcome, batchSize: Int, duration: Duration) {
        accepted.increment(by: outcome.accepted)
        duplicates.increment(by: outcome.duplicates)
        statusChanges.increment(by: outcome.statusChanges)
        tasks.increment(by: outcome.tasks)
        batchDuration.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

import ClienteleKafka
import ClienteleStore
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Header carrying an output event's stable id.
public let messageIdHeader = "clientele.message.id"

/// Publishes the store's outbox to Kafka, oldest first, and removes what the broker acknowledged.
///
/// Only the holder of the store's relay lease publishes, so messages of one client leave in the
/// order they were written even when several workers share a store. Woken by ``wake()`` after each
/// committed batch, and every `interval` in any case (so what another worker's transaction wrote —
/// e.g. the other stream's events it applied — leaves within an interval; while looks find rows,
/// every ``ClientStore/pollInterval`` of the store if shorter: see ``PollPace``); a relay without the
/// lease tries to take it at most every `leaseRetry`. On graceful shutdown it publishes what is
/// left (giving up after `shutdownDrainLimit` if Kafka is unreachable: the rows stay for the next
/// start) before returning.
public final class OutboxRelay: Service, Sendable {
    private let store: any ClientStore
    private let producer: KafkaProducer
    private let topics: TopicNames
    private let logger: Logger
    private let holder: String
    private let batchSize: Int
    /// How soon the next look for rows other processes wrote.
    private let pace: Mutex<PollPace>
    private let shutdownDrainLimit: Duration
    private let signal: AsyncStream<Void>.Continuation
    private let signals: AsyncStream<Void>
    private let published: Counter
    /// When this relay last took or renewed the lease (it is renewed at a third of its term).
    private let leaseRenewedAt = Mutex<ContinuousClock.Instant?>(nil)
    /// When this relay last tried and failed to take it.
    private let leaseRefusedAt = Mutex<ContinuousClock.Instant?>(nil)
    private let leaseTerm: Duration = .seconds(30)
    private let leaseRetry: Duration

    public init(
        store: any ClientStore, producer: KafkaProducer, topics: TopicNames, holder: String, logger: Logger,
        batchSize: Int = 5000, interval: Duration = .milliseconds(50), leaseRetry: Duration = .seconds(1),
        shutdownDrainLimit: Duration = .seconds(30)
    ) {
        self.leaseRetry = leaseRetry
        self.store = store
        self.producer = producer
        self.topics = topics
        self.holder = holder
        self.logger = logger
        self.batchSize = batchSize
        self.pace = Mutex(PollPace(fastest: store.pollInterval, slowest: interval))
        self.shutdownDrainLimit = shutdownDrainLimit
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        published = Counter(label: OperatorMetrics.Names.outboxPublished)
    }

    /// Asks the relay to publish now (non-blocking).
    public func wake() { signal.yield() }

    public func run() async throws {
        let clock = ContinuousClock()
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: pace.withLock { $0.next })
                    signal.yield()
                }
            }
            var failures = 0
            for await _ in signals.cancelOnGracefulShutdown() {
                do {
                    let published = try await drain()
                    pace.withLock { published > 0 ? $0.found() : $0.foundNothing() }
                    failures = 0
                } catch {
                    failures += 1
                    logger.warning("outbox publish failed; will retry", metadata: ["error": "\(error)", "attempt": "\(failures)"])
                    try? await Task.sleep(for: .milliseconds(min(5000, 100 * (1 << min(failures, 6)))))
                }
            }
            // Graceful shutdown: the workers have stopped writing; publish what is left.
            let deadline = clock.now.advanced(by: shutdownDrainLimit)
            while clock.now < deadline {
                do {
                    try await drain()
                    break
                } catch is CancellationError {
                    // The store never became ready (a database down since startup): nothing to publish.
                    break
                } catch {
                    logger.warning("outbox publish failed during shutdown", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
            // Another worker's relay takes over at once instead of waiting for the lease to expire.
            if leaseRenewedAt.withLock({ $0 }) != nil {
                do {
                    try await store.releaseRelayLease(holder: holder)
                } catch {
                    logger.warning("could not give up the relay lease; it expires by itself", metadata: ["error": "\(error)"])
                }
            }
            group.cancelAll()
        }
    }

    /// Takes or renews the store's relay lease when a third of its term has passed.
    private func holdLease() async throws -> Bool {
        let now = ContinuousClock.now
        if let renewed = leaseRenewedAt.withLock({ $0 }), now - renewed < leaseTerm / 3 { return true }
        if let refused = leaseRefusedAt.withLock({ $0 }), now - refused < leaseRetry { return false }
        let held = try await StoreErrors.counting { try await store.acquireRelayLease(holder: holder, for: leaseTerm) }
        leaseRenewedAt.withLock { $0 = held ? now : nil }
        leaseRefusedAt.withLock { $0 = held ? nil : now }
        return held
    }

    /// Publishes until the outbox is empty (or another relay holds the lease); returns how many
    /// messages it published.
    @discardableResult
    public func drain() async throws -> Int {
        var total = 0
        while true {
            guard try await holdLease() else { return total }
            let started = ContinuousClock.now
            let pending = try await StoreErrors.counting { try await store.pendingOutbox(limit: batchSize) }
            if pending.isEmpty { return total }
            let read = ContinuousClock.now
            try await producer.send(pending.map { row in
                OutgoingMessage(
                    topic: topics.resolve(row.topic), key: Array(row.key.utf8), value: row.payload,
                    headers: [KafkaHeader(name: messageIdHeader, text: row.messageId)])
            })
            let sent = ContinuousClock.now
            try await StoreErrors.counting { try await store.markPublished(pending.map(\.id)) }
            published.increment(by: pending.count)
            total += pending.count
            logger.debug("outbox published", metadata: [
                "messages": "\(pending.count)", "readMs": "\((read - started) / .milliseconds(1))",
                "sendMs": "\((sent - read) / .milliseconds(1))", "markMs": "\((ContinuousClock.now - sent) / .milliseconds(1))",
            ])
            if pending.count < batchSize { return total }
        }
    }
}

import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// The consume → process → commit loop shared by every event worker.
///
/// Each poll yields a batch (the next one is fetched and decoded while the current one is
/// written). Messages that fail validation are copied to the dead-letter topic; the others go to
/// the store in one transaction (idempotently), with how far the stream is now complete in each
/// partition: the store applies each event once the other stream is complete up to its time, in
/// event-time order with it (see ``InputBatch``). Only when both are durable are the batch's
/// offsets stored and committed, so a crash at any point redelivers work that the idempotency
/// records then skip. While the stream is idle, its completeness still advances (``StreamTracker``)
/// so that the other stream's events do not wait for it. Store or Kafka failures are retried
/// with backoff and never skip a message. On graceful shutdown the current batch is finished,
/// offsets committed and the group left.
public final class ConsumerWorker<Handler: EventHandler>: Service, Sendable {
    private let handler: Handler
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let store: any ClientStore
    private let relay: OutboxRelay
    private let churnPolicy: ChurnPolicySource
    private let purchaseRules: PurchaseRules
    private let contactRules: ContactRules
    private let settings: Settings
    private let logger: Logger
    private let metrics: WorkerMetrics
    /// Where rejected input goes, e.g. `purchases.dlq` with the deployment's prefix.
    private let deadLetterTopic: String
    private let inputTopic: String
    /// What `/health` says: the loop reports each turn.
    private let health: WorkerHealth?
    /// When each partition last moved, for the operator's metrics.
    private let progress: PartitionProgress?

    /// Batch, topic and alignment settings.
    public struct Settings: Sendable {
        public var topics: TopicNames
        public var batchSize: Int
        public var batchWait: Duration
        public var alignment: StreamAlignmentSettings
        /// On the wall clock, a task caused longer ago than this is held back as stale; nil: never.
        public var taskMaxAge: Duration?

        public init(
            topics: TopicNames, batchSize: Int, batchWait: Duration, alignment: StreamAlignmentSettings = StreamAlignmentSettings(),
            taskMaxAge: Duration? = nil
        ) {
            self.topics = topics
            self.batchSize = batchSize
            self.batchWait = batchWait
            self.alignment = alignment
            self.taskMaxAge = taskMaxAge
        }
    }

    public init(
        handler: Handler, consumer: KafkaConsumer, producer: KafkaProducer, store: any ClientStore,
        relay: OutboxRelay, churnPolicy: ChurnPolicySource, purchaseRules: PurchaseRules, contactRules: ContactRules,
        settings: Settings, logger: Logger, workerName: String, health: WorkerHealth? = nil, progress: PartitionProgress? = nil
    ) {
        self.health = health
        self.progress = progress
        self.churnPolicy = churnPolicy
        self.handler = handler
        self.consumer = consumer
        self.producer = producer
        self.store = store
        self.relay = relay
        self.purchaseRules = purchaseRules
        self.contactRules = contactRules
        self.settings = settings
        self.logger = logger
        self.deadLetterTopic = settings.topics.resolve(TopicNames.deadLetter(of: handler.inputTopic))
        self.inputTopic = settings.topics.resolve(handler.inputTopic)
        self.metrics = WorkerMetrics(worker: workerName, topic: inputTopic)
    }

    public func run() async throws {
        // Nothing is consumed until the store is usable (a PostgreSQL down at startup is waited for):
        // the group is joined after that, so that no partition is held meanwhile.
        guard try await StoreReadiness.wait(for: store, health: health, meanwhile: { [consumer] in await consumer.serveCallbacks() }) else {
            await consumer.close()
            return
        }
        logger.info("consuming", metadata: [
            "topic": "\(inputTopic)", "alignment": "\(settings.alignment.enabled ? "on" : "off")",
        ])
        await churnPolicy.checkAgreesWithChurnWorker()
        if settings.alignment.enabled {
            guard try await checkCoPartitioning() else { return }
        }
        defer { logger.info("consumer stopped") }
        try await consumer.subscribe([inputTopic])
        var tracker = StreamTracker(settings: settings.alignment)
        // The next batch is fetched and decoded while the current one is written (the poll runs
        // on the consumer's own queue). A revocation during that fetch only means the new owner
        // re-reads our last batch, which the idempotency records make harmless.
        var batch = try await fetch()
        // While idle, how soon to look again for the other stream's events waiting for this one.
        var idlePace = PollPace(fastest: store.pollInterval, slowest: settings.batchWait)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            health?.loopTurned()
            tracker.reset(batch.reassigned)
            tracker.retain(Set(consumer.assignment.filter { $0.topic == inputTopic }.map(\.partition)))
            tracker.observe(newest: batch.newestByPartition, reachedEnd: batch.reachedEnd, polledAt: batch.polledAtWall)
            guard !batch.messages.isEmpty else {
                progress?.moved(batch.reachedEnd)
                guard let released = try await advanceWhileIdle(&tracker, polledAt: batch.polledAtWall) else { break }
                // Idle: the other stream's events may be waiting for this one to pass their time,
                // and only a look at the store tells: soon again while looks release some.
                if released { idlePace.found() } else { idlePace.foundNothing() }
                batch = try await fetch(waitingAtMost: settings.alignment.enabled ? idlePace.next : settings.batchWait)
                continue
            }
            async let next = fetch()
            let proposal = tracker.completeBefore(now: batch.polledAtWall)
            guard var outcome = try await write(batch, completeBefore: proposal) else {
                _ = try? await next
                break
            }
            tracker.recordWritten(proposal, at: batch.polledAtWall)
            let offsets = Self.nextOffsets(after: batch.messages)
            try consumer.storeOffsets(offsets)
            await consumer.commitAsync()
            relay.wake()
            progress?.moved(offsets.map(\.partition) + batch.reachedEnd)
            metrics.recordAges(of: batch.entries)
            // A stream that caught up after a long wait may have more waiting events due.
            while outcome.moreDue, !Task.isShuttingDownGracefully {
                guard let more = try await write(DecodedBatch(), completeBefore: proposal) else { break }
                outcome = more
                relay.wake()
            }
            batch = try await next
        }
        do {
            try await consumer.commit()
        } catch {
            logger.warning("final commit failed; uncommitted messages will be redelivered", metadata: ["error": "\(error)"])
        }
        await consumer.close()
    }

    /// While no message comes, declares the stream complete further when that can release the
    /// other stream's waiting events (or at least every second, so the churn-worker's frontier
    /// and the operator's view move). Returns whether it released any, or nil if shutdown came
    /// during a retry.
    private func advanceWhileIdle(_ tracker: inout StreamTracker, polledAt: Timestamp) async throws -> Bool? {
        let moved = tracker.advanced(tracker.completeBefore(now: polledAt))
        guard !moved.isEmpty else { return false }
        var worthWriting = tracker.lastWriteAt.map { polledAt.millisecondsSinceEpoch - $0.millisecondsSinceEpoch >= 1000 } ?? true
        if !worthWriting, settings.alignment.enabled {
            // Raising this stream's completeness releases the other stream's waiting events up to it.
            let other = handler.stream.other
            let waiting = try await store.oldestWaitingByPartition(stream: other)
            worthWriting = moved.contains { partition, complete in
                guard let oldest = waiting[partition] else { return false }
                return EventTimeKey(occurredAt: oldest, stream: other, sequence: 0).isDue { $0 == other ? oldest : complete }
            }
        }
        guard worthWriting else { return false }
        guard var outcome = try await write(DecodedBatch(), completeBefore: moved) else { return nil }
        tracker.recordWritten(moved, at: polledAt)
        let released = outcome.released > 0
        if released { relay.wake() }
        while outcome.moreDue, !Task.isShuttingDownGracefully {
            guard let more = try await write(DecodedBatch(), completeBefore: moved) else { return nil }
            outcome = more
            relay.wake()
        }
        return released
    }

    /// The workers rely on both input topics being keyed by `clientId` with the same partition
    /// count, so that partition k of one holds the same clients as partition k of the other.
    /// Returns false if shutdown came while Kafka was unreachable.
    private func checkCoPartitioning() async throws -> Bool {
        let purchases = settings.topics.resolve(TopicNames.purchases)
        let contacts = settings.topics.resolve(TopicNames.contacts)
        guard let counts = try await retrying("reading the input topics' partition counts", {
            [consumer] in (try await consumer.partitionCount(of: purchases), try await consumer.partitionCount(of: contacts))
        }) else { return false }
        guard let purchaseCount = counts.0, let contactCount = counts.1 else {
            throw ConfigurationProblem(
                "the topic '\(counts.0 == nil ? purchases : contacts)' does not exist: create '\(purchases)' and '\(contacts)' with the same partition count")
        }
        guard purchaseCount == contactCount else {
            throw ConfigurationProblem("""
                '\(purchases)' has \(purchaseCount) partitions and '\(contacts)' \(contactCount): the workers apply both streams \
                in event-time order per partition, so both topics must be keyed by clientId with the same partition count \
                (or set CLIENTELE_STREAM_ALIGNMENT=off for a deployment with one event worker)
                """)
        }
        try await store.setSetting(StoreSettingNames.partitions, to: String(purchaseCount))
        return true
    }

    /// A polled batch, split into accepted events and dead letters.
    struct DecodedBatch: Sendable {
        var messages: [KafkaMessage] = []
        var entries: [InputBatch.Entry] = []
        var deadLetters: [OutgoingMessage] = []
        /// Newest accepted event time per partition.
        var newestByPartition: [Int32: Timestamp] = [:]
        /// Partitions the poll read to their end.
        var reachedEnd: Set<Int32> = []
        /// Partitions assigned or revoked during the poll.
        var reassigned: Set<Int32> = []
        var polledAt = ContinuousClock.now
        var polledAtWall = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
    }

    private func fetch(waitingAtMost wait: Duration? = nil) async throws -> DecodedBatch {
        var batch = DecodedBatch()
        let polled = try await consumer.pollBatch(maxMessages: settings.batchSize, maxWait: wait ?? settings.batchWait)
        batch.messages = polled.messages
        batch.reachedEnd = Set(polled.reachedEnd.filter { $0.topic == inputTopic }.map(\.partition))
        batch.reassigned = Set(polled.reassigned.filter { $0.topic == inputTopic }.map(\.partition))
        batch.polledAt = .now
        batch.polledAtWall = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        batch.entries.reserveCapacity(batch.messages.count)
        for message in batch.messages {
            do {
                let event = try handler.decode(message, now: batch.polledAtWall)
                batch.entries.append(InputBatch.Entry(event: event, partition: message.partition, offset: message.offset))
                batch.newestByPartition[message.partition] = max(batch.newestByPartition[message.partition] ?? event.occurredAt, event.occurredAt)
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

    /// Makes the batch durable: dead letters acknowledged by Kafka and events given to the store
    /// in one transaction, with the stream's completeness. Returns nil if shutdown came while a
    /// failure was being retried (the batch then stays uncommitted and is redelivered).
    private func write(_ batch: DecodedBatch, completeBefore: [Int32: Timestamp]) async throws -> BatchOutcome? {
        let started = ContinuousClock.now
        let policy = await churnPolicy.current()
        let rules = ClientRules(
            purchases: purchaseRules, contacts: contactRules, churn: policy,
            staleBefore: settings.taskMaxAge.map { batch.polledAtWall.adding(milliseconds: -$0.milliseconds) })
        let input = InputBatch(
            stream: handler.stream, entries: batch.entries, completeBefore: completeBefore,
            newestEventTimes: Dictionary(uniqueKeysWithValues: batch.newestByPartition.map { ("\(inputTopic)/\($0.key)", $0.value) }),
            aligned: settings.alignment.enabled, releaseLimit: settings.alignment.releaseLimit)
        let outcome = try await retrying("dead-letter publish and store transaction") { [store, producer] in
            async let published: Void = producer.send(batch.deadLetters)
            let outcome = try await StoreErrors.counting { try await store.apply(input, rules: rules) }
            try await published
            return outcome
        }
        guard let outcome else { return nil }
        if !outcome.conflicts.isEmpty || !outcome.rejected.isEmpty {
            guard try await deadLetter(outcome.conflicts, outcome.rejected, of: batch) else { return nil }
        }
        metrics.record(outcome, duration: ContinuousClock.now - batch.polledAt)
        if outcome.unreadableWaiting > 0 {
            logger.error("waiting events could not be read back when due; kept in unreadable_waiting_events", metadata: [
                "count": "\(outcome.unreadableWaiting)",
            ])
        }
        if outcome.late > 0 {
            logger.notice("events read after their stream was recorded complete past their time; applied at once", metadata: [
                "late": "\(outcome.late)", "allowedLatenessMs": "\(settings.alignment.allowedLateness / .milliseconds(1))",
            ])
        }
        logger.debug("batch committed", metadata: [
            "messages": "\(batch.messages.count)", "accepted": "\(outcome.accepted)", "duplicates": "\(outcome.duplicates)",
            "rejected": "\(batch.deadLetters.count)", "statusChanges": "\(outcome.statusChanges)", "tasks": "\(outcome.tasks)",
            "waiting": "\(outcome.held)", "released": "\(outcome.released)",
            "writeMs": "\((ContinuousClock.now - started) / .milliseconds(1))",
            // By the Kafka timestamps: how long the oldest message had been in the topic when polled.
            "oldestMessageAgeMs": "\(batch.polledAtWall.millisecondsSinceEpoch - (batch.messages.lazy.compactMap(\.timestampMilliseconds).min() ?? batch.polledAtWall.millisecondsSinceEpoch))",
            "sincePollMs": "\((ContinuousClock.now - batch.polledAt) / .milliseconds(1))",
        ])
        return outcome
    }

    /// Dead-letters what the store found only when applying: events read under an id their stream
    /// had accepted with other content, and events the rules refused (e.g. another currency than
    /// the client's) — before the batch's offsets are stored: a crash meanwhile reads them again,
    /// and finds them again. Returns false if shutdown came during a retry.
    private func deadLetter(_ conflicts: [ConflictingDuplicate], _ rejected: [RejectedEvent], of batch: DecodedBatch) async throws -> Bool {
        let byPosition = Dictionary(batch.messages.map { ("\($0.partition)/\($0.offset)", $0) }, uniquingKeysWith: { first, _ in first })
        var letters: [OutgoingMessage] = []
        let conflict = EventRejection(.conflictingDuplicate, "an event with this eventId and different content was accepted before on this stream")
        for item in conflicts {
            guard let message = byPosition["\(item.partition)/\(item.offset)"] else { continue }
            logRejection(conflict, topic: message.topic, partition: message.partition, offset: message.offset, extra: [
                "firstPartition": "\(item.firstPartition)", "firstOffset": "\(item.firstOffset)",
            ])
            var letter = DeadLetters.message(for: message, rejection: conflict, deadLetterTopic: deadLetterTopic)
            letter.headers += [
                KafkaHeader(name: DeadLetterHeader.eventId, text: item.eventId),
                KafkaHeader(name: DeadLetterHeader.firstSourcePartition, text: String(item.firstPartition)),
                KafkaHeader(name: DeadLetterHeader.firstSourceOffset, text: String(item.firstOffset)),
            ]
            letters.append(letter)
        }
        for item in rejected {
            let sourceTopic = settings.topics.resolve(item.stream.topic)
            let topic = settings.topics.resolve(TopicNames.deadLetter(of: item.stream.topic))
            logRejection(item.rejection, topic: sourceTopic, partition: item.partition, offset: item.offset, extra: [:])
            if item.stream == handler.stream, let message = byPosition["\(item.partition)/\(item.offset)"] {
                letters.append(DeadLetters.message(for: message, rejection: item.rejection, deadLetterTopic: topic))
            } else {
                // The event waited and this worker applied it: the original message is not at hand.
                letters.append(DeadLetters.message(
                    for: KafkaMessage(topic: sourceTopic, partition: item.partition, offset: item.offset,
                                      key: Array(item.clientId.utf8), value: item.encoded),
                    rejection: item.rejection, deadLetterTopic: topic, valueIsAcceptedEvent: true))
            }
        }
        let toSend = letters
        return try await retrying("dead-letter publish of events refused when applied") { [producer] in try await producer.send(toSend) } != nil
    }

    private func logRejection(_ rejection: EventRejection, topic: String, partition: Int32, offset: Int64, extra: Logger.Metadata) {
        var metadata: Logger.Metadata = [
            "topic": "\(topic)", "partition": "\(partition)", "offset": "\(offset)", "reason": "\(rejection.reason.rawValue)",
            "detail": "\(rejection.detail)",
        ]
        metadata.merge(extra) { $1 }
        logger.warning("rejected message", metadata: metadata)
        // The stream the event came from (a waiting event of the other stream goes to its own .dlq).
        metrics.rejected(rejection.reason, topic: topic)
    }

    /// Retries `body` with exponential backoff (100 ms … 10 s) until it succeeds or shutdown.
    private func retrying<T: Sendable>(_ what: String, _ body: @Sendable () async throws -> T) async throws -> T? {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch {
                attempt += 1
                health?.loopTurned()  // retrying is turning: a restart would not mend an outage
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

/// The worker's swift-metrics instruments (exported by whatever backend the process bootstraps;
/// the workers serve them on `/metrics`).
struct WorkerMetrics: Sendable {
    let worker: String
    let topic: String
    private let accepted: Counter
    private let duplicates: Counter
    private let retries: Counter
    private let waiting: Counter
    private let released: Counter
    private let late: Counter
    private let batchDuration: Timer
    private let eventAge: Recorder

    init(worker: String, topic: String) {
        self.worker = worker
        self.topic = topic
        let dimensions = [("worker", worker)]
        accepted = Counter(label: OperatorMetrics.Names.eventsAccepted, dimensions: dimensions + [("topic", topic)])
        duplicates = Counter(label: OperatorMetrics.Names.eventsDuplicate, dimensions: dimensions + [("topic", topic)])
        retries = Counter(label: OperatorMetrics.Names.batchRetries, dimensions: dimensions)
        waiting = Counter(label: "clientele_events_waited_total", dimensions: dimensions)
        released = Counter(label: "clientele_events_released_total", dimensions: dimensions)
        late = Counter(label: "clientele_late_events_total", dimensions: dimensions)
        batchDuration = Timer(label: OperatorMetrics.Names.batchDuration, dimensions: dimensions)
        eventAge = Recorder(label: OperatorMetrics.Names.eventAge, dimensions: dimensions, aggregate: true)
    }

    /// A message went to the dead-letter topic.
    func rejected(_ reason: EventRejection.Reason, topic: String? = nil) {
        Counter(label: OperatorMetrics.Names.deadLetters, dimensions: [
            ("worker", worker), ("topic", topic ?? self.topic), ("reason", reason.rawValue),
        ]).increment()
    }

    func retried() { retries.increment() }

    /// Now minus each event's `occurredAt`, as its batch is committed.
    func recordAges(of entries: [InputBatch.Entry]) {
        let now = Date().timeIntervalSince1970
        for entry in entries {
            eventAge.record(max(0, now - Double(entry.event.occurredAt.millisecondsSinceEpoch) / 1000))
        }
    }

    func record(_ outcome: BatchOutcome, duration: Duration) {
        // A write that applies the other stream's waiting events may refuse one of them when its turn
        // comes: it leaves this batch's `accepted` below zero (the event was counted as accepted when
        // read, by the other worker). Counters only go up.
        accepted.increment(by: max(0, outcome.accepted))
        duplicates.increment(by: outcome.duplicates)
        waiting.increment(by: outcome.held)
        released.increment(by: outcome.released)
        late.increment(by: outcome.late)
        batchDuration.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        OutputMetrics.record(outcome.tally, worker: worker)
    }
}

/// Status changes, tasks and suppressed tasks by kind: the same families from every worker.
enum OutputMetrics {
    static func record(_ tally: OutputTally, worker: String) {
        for (transition, count) in tally.transitions {
            Counter(label: OperatorMetrics.Names.statusChanges, dimensions: [
                ("worker", worker), ("from", transition.from?.rawValue ?? "none"), ("to", transition.to.rawValue),
            ]).increment(by: count)
        }
        for (kind, count) in tally.tasks {
            Counter(label: OperatorMetrics.Names.tasks, dimensions: [("worker", worker), ("kind", kind)]).increment(by: count)
        }
        for (suppression, count) in tally.suppressed {
            Counter(label: OperatorMetrics.Names.tasksSuppressed, dimensions: [
                ("worker", worker), ("kind", suppression.kind), ("reason", suppression.reason),
            ]).increment(by: count)
        }
    }
}

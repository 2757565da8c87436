import ClienteleDomain
import ClienteleKafka
import Foundation
import Logging

/// Sends dead letters back to the topic they came from, once what refused them is fixed (a
/// larger `CLIENTELE_MAX_MESSAGE_BYTES`, a missing exchange rate, a producer that now writes
/// the field): `clientele dlq replay`.
///
/// The dead-letter topic is read from its start to the end it had when the replay began, without
/// committing anything (a fresh consumer group each time). Each message chosen goes back with its
/// key, value and original headers, without the dead-letter headers and with
/// `clientele.replayed-from: <topic>/<partition>/<offset>`, to the partition it was read from (so
/// it stays beside the client's other events, whatever partitioner its producer used). Replaying
/// twice is harmless: an event accepted the first time is a duplicate the second. One still
/// refused is dead-lettered again, as a copy carrying `clientele.replayed-from`: copies are left
/// out of later replays (the original is replayed instead), so still-refused letters do not
/// multiply. `conflicting_duplicate` letters (refused again by construction) are replayed only
/// when asked for by name.
public struct DeadLetterReplay: Sendable {
    /// The header a replayed message carries: where its dead letter was.
    public static let replayedFromHeader = "clientele.replayed-from"

    /// What a replay read and did, by reason.
    public struct Report: Sendable, Equatable {
        public var read = 0
        /// Dead letters matching the reason asked for (all when none was).
        public var matched: [String: Int] = [:]
        /// Dead letters left where they are (another reason).
        public var skipped: [String: Int] = [:]
        /// Copies of letters replayed before and refused again (their original is replayed).
        public var earlierCopies = 0
        /// Messages produced back to their source topics (0 on a dry run).
        public var replayed = 0

        public init() {}
    }

    public var kafka: KafkaConfiguration
    /// The resolved dead-letter topic, e.g. `purchases.dlq` or `acme.purchases.dlq`.
    public var deadLetterTopic: String
    /// Only dead letters with this reason code (`clientele.reason`); nil: every one.
    public var reason: String?
    public var dryRun: Bool

    public init(kafka: KafkaConfiguration, deadLetterTopic: String, reason: String?, dryRun: Bool) {
        self.kafka = kafka
        self.deadLetterTopic = deadLetterTopic
        self.reason = reason
        self.dryRun = dryRun
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public func run(logger: Logger, idleTimeout: Duration = .seconds(30)) async throws -> Report {
        var configuration = kafka
        configuration.properties["enable.auto.commit"] = "false"
        let consumer = try KafkaConsumer(
            configuration: configuration, groupId: "clientele-dlq-replay-\(UUID().uuidString.prefix(8))", topics: [deadLetterTopic], logger: logger)
        let producer = dryRun ? nil : try KafkaProducer(configuration: kafka, logger: logger)
        do {
            let report = try await replay(consumer: consumer, producer: producer, idleTimeout: idleTimeout)
            await producer?.close()
            await consumer.close()
            return report
        } catch {
            // Every client closed on every path: librdkafka's threads outlive a handle left open.
            await producer?.close()
            await consumer.close()
            throw error
        }
    }

    private func replay(consumer: KafkaConsumer, producer: KafkaProducer?, idleTimeout: Duration) async throws -> Report {
        guard let count = try await consumer.partitionCount(of: deadLetterTopic) else {
            throw Failure(description: "the topic '\(deadLetterTopic)' does not exist")
        }
        let partitions = (0..<Int32(count)).map { TopicPartition(topic: deadLetterTopic, partition: $0) }
        // Read up to the end each partition had now: what is dead-lettered meanwhile waits for the next replay.
        var remaining = try await consumer.watermarks(partitions).filter { $0.value.high > $0.value.low }.mapValues(\.high)
        var report = Report()
        var toSend: [OutgoingMessage] = []
        var lastProgress = ContinuousClock.now
        var partitionCounts: [String: Int?] = [:]
        while !remaining.isEmpty {
            let batch = try await consumer.pollBatch(maxMessages: 1000, maxWait: .milliseconds(200))
            if batch.messages.isEmpty, ContinuousClock.now - lastProgress > idleTimeout {
                throw Failure(description: "no message from '\(deadLetterTopic)' for \(idleTimeout) with \(remaining.count) partitions not read to their end")
            }
            for message in batch.messages {
                lastProgress = .now
                let partition = TopicPartition(topic: message.topic, partition: message.partition)
                guard let end = remaining[partition], message.offset < end else { continue }
                if message.offset + 1 >= end { remaining[partition] = nil }
                report.read += 1
                let header = { (name: String) in message.headers.first { $0.name == name }?.value.map { String(decoding: $0, as: UTF8.self) } }
                let messageReason = header(DeadLetterHeader.reason) ?? "unknown"
                if header(Self.replayedFromHeader) != nil {
                    report.earlierCopies += 1
                    continue
                }
                let wanted = reason.map { $0 == messageReason } ?? (messageReason != EventRejection.Reason.conflictingDuplicate.rawValue)
                guard wanted else {
                    report.skipped[messageReason, default: 0] += 1
                    continue
                }
                report.matched[messageReason, default: 0] += 1
                let source = header(DeadLetterHeader.sourceTopic)
                    ?? (deadLetterTopic.hasSuffix(".dlq") ? String(deadLetterTopic.dropLast(4)) : deadLetterTopic)
                if partitionCounts[source] == nil { partitionCounts[source] = .some(try await consumer.partitionCount(of: source)) }
                let sourcePartition = header(DeadLetterHeader.sourcePartition).flatMap { Int32($0) }
                    .flatMap { index in (partitionCounts[source] ?? nil).map { Int(index) < $0 } == true ? index : nil }
                toSend.append(OutgoingMessage(
                    topic: source, key: message.key, value: message.value,
                    headers: message.headers.filter { !Self.deadLetterHeaders.contains($0.name) && $0.name != Self.replayedFromHeader }
                        + [KafkaHeader(name: Self.replayedFromHeader, text: "\(message.topic)/\(message.partition)/\(message.offset)")],
                    partition: sourcePartition))
            }
            // A partition read to its end is done even if its last offsets were no messages.
            for partition in batch.reachedEnd { remaining[partition] = nil }
            if let producer, toSend.count >= 1000 {
                try await producer.send(toSend)
                report.replayed += toSend.count
                toSend.removeAll(keepingCapacity: true)
            }
        }
        if let producer {
            try await producer.send(toSend)
            report.replayed += toSend.count
        }
        return report
    }

    /// The headers a dead letter gains, left out when it goes back.
    static let deadLetterHeaders: Set<String> = [
        DeadLetterHeader.sourceTopic, DeadLetterHeader.sourcePartition, DeadLetterHeader.sourceOffset, DeadLetterHeader.reason,
        DeadLetterHeader.detail, DeadLetterHeader.eventId, DeadLetterHeader.firstSourcePartition, DeadLetterHeader.firstSourceOffset,
        DeadLetterHeader.value,
    ]
}

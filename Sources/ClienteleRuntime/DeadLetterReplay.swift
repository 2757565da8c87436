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
/// `clientele.replayed-from: <topic>/<partition>/<offset>`. Replaying twice is harmless: an event
/// accepted the first time is a duplicate the second, and one still refused is dead-lettered again.
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
        guard let count = try await consumer.partitionCount(of: deadLetterTopic) else {
            await consumer.close()
            throw Failure(description: "the topic '\(deadLetterTopic)' does not exist")
        }
        let partitions = (0..<Int32(count)).map { TopicPartition(topic: deadLetterTopic, partition: $0) }
        // Read up to the end each partition had now: what is dead-lettered meanwhile waits for the next replay.
        var remaining = try await consumer.watermarks(partitions).filter { $0.value.high > $0.value.low }.mapValues(\.high)
        var report = Report()
        var toSend: [OutgoingMessage] = []
        let producer = dryRun ? nil : try KafkaProducer(configuration: kafka, logger: logger)
        var lastProgress = ContinuousClock.now
        while !remaining.isEmpty {
            let batch = try await consumer.pollBatch(maxMessages: 1000, maxWait: .milliseconds(200))
            if batch.messages.isEmpty, ContinuousClock.now - lastProgress > idleTimeout {
                await consumer.close()
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
                guard reason == nil || reason == messageReason else {
                    report.skipped[messageReason, default: 0] += 1
                    continue
                }
                report.matched[messageReason, default: 0] += 1
                let source = header(DeadLetterHeader.sourceTopic)
                    ?? (deadLetterTopic.hasSuffix(".dlq") ? String(deadLetterTopic.dropLast(4)) : deadLetterTopic)
                toSend.append(OutgoingMessage(
                    topic: source, key: message.key, value: message.value,
                    headers: message.headers.filter { !Self.deadLetterHeaders.contains($0.name) && $0.name != Self.replayedFromHeader }
                        + [KafkaHeader(name: Self.replayedFromHeader, text: "\(message.topic)/\(message.partition)/\(message.offset)")]))
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
            await producer.close()
        }
        await consumer.close()
        return report
    }

    /// The headers a dead letter gains, left out when it goes back.
    static let deadLetterHeaders: Set<String> = [
        DeadLetterHeader.sourceTopic, DeadLetterHeader.sourcePartition, DeadLetterHeader.sourceOffset, DeadLetterHeader.reason,
        DeadLetterHeader.detail, DeadLetterHeader.eventId, DeadLetterHeader.firstSourcePartition, DeadLetterHeader.firstSourceOffset,
        DeadLetterHeader.value,
    ]
}

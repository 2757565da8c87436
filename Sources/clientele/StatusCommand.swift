import ArgumentParser
import ClienteleDomain
import ClienteleKafka
import ClienteleRuntime
import ClienteleStore
import Foundation
import Logging

/// The deployment at a glance: which clock it judges by and where, how far each input stream is
/// complete, what waits, what is still to publish and since when, the newest models, the clients
/// by status — and with a broker (`--bootstrap-servers` or `KAFKA_BOOTSTRAP_SERVERS`) each worker
/// group's lag and the dead letters.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the deployment's clock, stream progress, lag per worker group, dead letters, outbox backlog, due reviews, models and clients by status.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions
    @Option(name: .customLong("purchase-group"), help: "The purchase-worker's consumer group.") var purchaseGroup = "clientele-purchase-worker"
    @Option(name: .customLong("contact-group"), help: "The contact-worker's consumer group.") var contactGroup = "clientele-contact-worker"
    @Option(name: .customLong("as-of"), help: "Moment to count due reviews at, RFC 3339 (default: the deployment's clock).")
    var asOf: String?

    func run() async throws {
        let configuration = try await loadReaderConfiguration()
        let store = try database.openStore()
        let clock = try await ReaderClock.resolve(asOf: asOf, configuration: configuration, store: store)
        let summary = try await store.summary()
        let progress = try await store.streamProgress()
        let waiting = try await store.waitingEvents()
        var lines = ["Clientele status", "  judged as of     \(clock.now) (\(clock.name))"]
        for stream in EventStream.allCases {
            let rows = progress.filter { $0.stream == stream }
            if let least = rows.min(by: { $0.completeBefore < $1.completeBefore }), let most = rows.max(by: { $0.completeBefore < $1.completeBefore }) {
                lines.append("  \(stream.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) complete to \(least.completeBefore) … \(most.completeBefore) over \(rows.count) partitions")
            } else {
                lines.append("  \(stream.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) no progress recorded yet")
            }
        }
        lines.append("  waiting events   \(waiting.total)" + (waiting.total == 0 ? "" :
            " (\(EventStream.allCases.map { "\($0.rawValue) \(waiting.counts[$0] ?? 0)" }.joined(separator: ", ")); oldest read \(waiting.oldestSince.map(\.rfc3339) ?? "?"))"))
        let backlog = try await store.outboxBacklog()
        let backlogAge = backlog.oldestWrittenAt.map { Int64(Date().timeIntervalSince1970 * 1000) - $0.millisecondsSinceEpoch }
        lines.append("  outbox backlog   \(backlog.pending)" + (backlogAge.map { " (oldest written \(Self.duration(milliseconds: $0)) ago)" } ?? ""))
        lines.append("  due for review   \(try await store.dueReviewCount(at: clock.now))")
        for kind in ["mbgnbd", "bgnbd", "gamma-gamma"] {
            guard let model = try await store.newestModel(kind: kind) else { continue }
            lines.append("  model \(kind.padding(toLength: 10, withPad: " ", startingAt: 0)) v\(model.version), fitted \(model.fittedAt) on \(model.clients) clients as of \(model.asOf)")
        }
        if kafka.bootstrapServers != nil || ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"] != nil {
            lines += await kafkaLines()
        }
        if !summary.suppressedByReason.isEmpty {
            lines.append("  tasks held back  " + summary.suppressedByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        lines.append("  events accepted  \(summary.acceptedEvents); clients \(summary.clients); erased \(summary.erasedClients)")
        for (status, count) in summary.clientsByStatus.sorted(by: { $0.value > $1.value }) {
            lines.append("    \(status.padding(toLength: 14, withPad: " ", startingAt: 0)) \(count)")
        }
        print(lines.joined(separator: "\n"))
    }

    /// Each event worker group's lag (committed offsets against the partitions' ends) and the
    /// dead-letter topics' sizes; a broker that does not answer is said so, not fatal.
    private func kafkaLines() async -> [String] {
        bootstrapCommandLogging(.critical)
        let configuration = KafkaConfiguration(bootstrapServers: kafka.resolvedBootstrapServers)
        var lines: [String] = []
        for (group, logical) in [(purchaseGroup, TopicNames.purchases), (contactGroup, TopicNames.contacts)] {
            let topic = kafka.topics.resolve(logical)
            let handle: KafkaConsumer
            do {
                handle = try KafkaConsumer(configuration: configuration, groupId: group, topics: [], logger: Logger(label: "clientele.status"))
            } catch {
                lines.append("  \(group): \(error)")
                continue
            }
            do {
                guard let count = try await handle.partitionCount(of: topic) else {
                    lines.append("  \(group): topic \(topic) does not exist")
                    await handle.close()
                    continue
                }
                let partitions = (0..<Int32(count)).map { TopicPartition(topic: topic, partition: $0) }
                let ends = try await handle.watermarks(partitions)
                let committed = try await handle.committed(partitions)
                var lag: Int64 = 0
                var behind = 0
                for partition in partitions {
                    guard let end = ends[partition] else { continue }
                    let position = committed[partition] ?? end.low
                    if end.high > position {
                        lag += end.high - position
                        behind += 1
                    }
                }
                lines.append("  \(group.padding(toLength: 27, withPad: " ", startingAt: 0)) lag \(lag) messages on \(topic) (\(behind) of \(count) partitions behind)")
                let deadLetterTopic = kafka.topics.resolve(TopicNames.deadLetter(of: logical))
                if let dlqCount = try await handle.partitionCount(of: deadLetterTopic) {
                    let dlqEnds = try await handle.watermarks((0..<Int32(dlqCount)).map { TopicPartition(topic: deadLetterTopic, partition: $0) })
                    lines.append("  dead letters     \(dlqEnds.values.reduce(0) { $0 + $1.high - $1.low }) on \(deadLetterTopic)")
                }
            } catch {
                lines.append("  \(group): Kafka did not answer (\(error))")
            }
            await handle.close()
        }
        return lines
    }

    static func duration(milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds) / 1000
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        return "\(seconds / 3600) h"
    }
}

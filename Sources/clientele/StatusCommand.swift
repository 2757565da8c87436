import ArgumentParser
import ClienteleDomain
import ClienteleRuntime
import ClienteleStore
import Foundation

/// The deployment at a glance: which clock it judges by and where, how far each input stream is
/// complete, what waits, what is still to publish, and the clients by status.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the deployment's clock, stream progress, waiting events, outbox backlog and clients by status.")

    @OptionGroup var database: DatabaseOptions
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
        lines.append("  outbox backlog   \(summary.outboxBacklog)")
        lines.append("  due for review   \(try await store.dueReviewCount(at: clock.now))")
        if !summary.suppressedByReason.isEmpty {
            lines.append("  tasks held back  " + summary.suppressedByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        lines.append("  events accepted  \(summary.acceptedEvents); clients \(summary.clients); erased \(summary.erasedClients)")
        for (status, count) in summary.clientsByStatus.sorted(by: { $0.value > $1.value }) {
            lines.append("    \(status.padding(toLength: 14, withPad: " ", startingAt: 0)) \(count)")
        }
        print(lines.joined(separator: "\n"))
    }
}

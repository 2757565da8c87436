import ClienteleDomain
import ClienteleStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Shows the operator the events that wait for the other stream: gauges of how many wait per
/// stream (`clientele_waiting_events`) and how long the oldest has waited
/// (`clientele_waiting_oldest_seconds`), and a warning once a minute while the oldest has waited
/// longer than `warnAfter` — the sign of an event worker that is down or far behind.
public struct WaitingEventsMonitor: Service {
    private let store: any ClientStore
    private let interval: Duration
    private let warnAfter: Duration
    private let logger: Logger

    public init(store: any ClientStore, interval: Duration = .seconds(5), warnAfter: Duration = .seconds(60), logger: Logger) {
        self.store = store
        self.interval = interval
        self.warnAfter = warnAfter
        self.logger = logger
    }

    public func run() async throws {
        let counts = Dictionary(uniqueKeysWithValues: EventStream.allCases.map {
            ($0, Gauge(label: "clientele_waiting_events", dimensions: [("stream", $0.rawValue)]))
        })
        let oldest = Gauge(label: "clientele_waiting_oldest_seconds")
        var lastWarning: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let waiting = try await store.waitingEvents()
                for (stream, gauge) in counts { gauge.record(waiting.counts[stream] ?? 0) }
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let age = waiting.oldestSince.map { Double(now - $0.millisecondsSinceEpoch) / 1000 } ?? 0
                oldest.record(age)
                if age >= Double(warnAfter.components.seconds), lastWarning.map({ ContinuousClock.now - $0 >= .seconds(60) }) ?? true {
                    lastWarning = .now
                    let waitingFor = EventStream.allCases.filter { (waiting.counts[$0] ?? 0) > 0 }.map { $0.other.rawValue }
                    logger.warning("events wait for the other stream: is its worker running and caught up?", metadata: [
                        "waiting": "\(waiting.total)", "oldestSeconds": "\(Int(age))",
                        "waitingFor": "\(waitingFor.joined(separator: ","))",
                        "earliestOccurredAt": "\(waiting.earliestOccurredAt.map(\.rfc3339) ?? "-")",
                    ])
                }
            } catch {
                logger.debug("cannot read the waiting events", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}

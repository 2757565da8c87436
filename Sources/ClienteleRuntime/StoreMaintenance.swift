import ClienteleDomain
import ClienteleStore
import Logging
import ServiceLifecycle

/// Runs the store's background upkeep every `interval` until shutdown, so the write path never
/// pays for it: ``ClientStore/performMaintenance()`` (SQLite: WAL checkpoints; PostgreSQL: vacuum
/// after erasures), and the idempotency records' retention — a pass every
/// ``retentionPassInterval`` that forgets the records of events older than `retentionDays` before
/// the oldest input partition's newest event (one small step per interval, so it never holds the write lock long).
public struct StoreMaintenance: Service {
    private let store: any ClientStore
    private let interval: Duration
    private let retentionDays: Int?
    private let firstPassAfter: Duration
    private let logger: Logger

    /// How often a retention pass starts.
    static let retentionPassInterval: Duration = .seconds(3600)
    /// No input partition counts as idle for the retention's clock.
    static let neverIdle: Duration = .seconds(100 * 366 * 86_400)
    /// Records looked at per step of a pass (SQLite).
    static let retentionStep = 2_000

    /// `retentionDays`: nil keeps every record (tools and tests). The first retention pass starts
    /// `firstPassAfter` the start (not while the worker catches up).
    public init(
        store: any ClientStore, interval: Duration = .seconds(1), retentionDays: Int? = nil, firstPassAfter: Duration = .seconds(60),
        logger: Logger
    ) {
        self.store = store
        self.interval = interval
        self.retentionDays = retentionDays
        self.firstPassAfter = firstPassAfter
        self.logger = logger
    }

    public func run() async throws {
        var nextPass = ContinuousClock.now.advanced(by: firstPassAfter)
        var pass: (before: Timestamp, resumeAfter: String?, removed: Int)?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.performMaintenance()
            } catch {
                logger.warning("store maintenance failed; retrying", metadata: ["error": "\(error)"])
            }
            if let retentionDays {
                do {
                    if pass == nil, ContinuousClock.now >= nextPass {
                        nextPass = ContinuousClock.now.advanced(by: Self.retentionPassInterval)
                        // Counted back from the event clock of the partition furthest behind (no
                        // idle exemption), not from the newest event: a stream replaying history
                        // behind the other keeps the records it may still be redelivered.
                        if let watermark = try await store.eventClock(idleAfter: Self.neverIdle) {
                            pass = (watermark.adding(seconds: -Int64(retentionDays) * 86_400), nil, 0)
                        }
                    }
                    if let current = pass {
                        let step = try await store.expireEventRecords(
                            occurredBefore: current.before, resumingAfter: current.resumeAfter, limit: Self.retentionStep)
                        pass = step.resumeAfter.map { (current.before, $0, current.removed + step.removed) }
                        if step.resumeAfter == nil, current.removed + step.removed > 0 {
                            logger.info("idempotency records expired", metadata: [
                                "records": "\(current.removed + step.removed)", "occurredBefore": "\(current.before.rfc3339)",
                            ])
                        }
                    }
                } catch {
                    logger.warning("expiring idempotency records failed; retrying at the next pass", metadata: ["error": "\(error)"])
                    pass = nil
                }
            }
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}

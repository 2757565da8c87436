import ClienteleDomain
import ClienteleStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Detects churn by time passing: sweeps the clients whose next review is due and lets the churn
/// policy move them to `at_risk`/`passive` (or back), with `churn-risk` events and tasks, through
/// the store's outbox.
///
/// Each sweep reads only the due clients (an index on the review time), in transactions of
/// ``ChurnConfiguration/sweepBatchSize``. When the policy changes (a newer model, other settings),
/// every client's review time is recomputed first, in short transactions. "Now" is the wall clock,
/// or with `CLIENTELE_CLOCK=event` the store's event clock, so a replay of past data behaves as the
/// past did. Replicas may run side by side: the store hands each due client to one reviewer.
public final class ChurnWorker: Service, Sendable {
    private let store: any ClientStore
    private let policies: ChurnPolicySource
    private let relay: OutboxRelay?
    private let clock: WorkerConfiguration.Clock
    private let configuration: ChurnConfiguration
    private let alignment: StreamAlignmentSettings
    private let taskMaxAge: Duration?
    private let logger: Logger
    /// The furthest moment judged, as recorded in the store (for operators and tests).
    private let judgedThrough = Mutex<Timestamp?>(nil)
    private let waitingForStreamsLogged = Mutex(false)
    private let reviewed = Counter(label: OperatorMetrics.Names.churnReviews)
    private let lapses = Counter(label: OperatorMetrics.Names.churnRisks)
    private let sweepDuration = Timer(label: OperatorMetrics.Names.churnSweepDuration)
    private let lastSweep = Gauge(label: OperatorMetrics.Names.churnLastSweep)
    /// What `/health` says: the sweep loop reports each turn and each completed sweep.
    private let health: WorkerHealth?

    /// The store setting that records which policy the stored review times were computed with.
    static let scheduleSetting = "churn.review_schedule"
    /// Clients rescheduled per transaction.
    static let rescheduleChunk = 5000

    public init(
        store: any ClientStore, policies: ChurnPolicySource, relay: OutboxRelay?, clock: WorkerConfiguration.Clock,
        configuration: ChurnConfiguration, alignment: StreamAlignmentSettings = StreamAlignmentSettings(), taskMaxAge: Duration? = nil,
        logger: Logger, health: WorkerHealth? = nil
    ) {
        self.health = health
        self.taskMaxAge = taskMaxAge
        self.store = store
        self.policies = policies
        self.relay = relay
        self.clock = clock
        self.configuration = configuration
        self.alignment = alignment
        self.logger = logger
    }

    public func run() async throws {
        logger.info("sweeping", metadata: [
            "clock": "\(clock.rawValue)", "sector": "\(configuration.rules.sector.name)",
            "intervalMs": "\(configuration.sweepInterval / .milliseconds(1))",
        ])
        guard try await StoreReadiness.wait(for: store, health: health) else { return }
        do {
            try await store.setSetting(StoreSettingNames.churnClock, to: clock.rawValue)
        } catch {
            logger.warning("cannot record the churn clock in the store", metadata: ["error": "\(error)"])
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            health?.loopTurned()
            do {
                try await StoreErrors.counting { try await sweepOnce() }
            } catch {
                logger.error("sweep failed; retrying after the interval", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { [interval = configuration.sweepInterval] in
                    try await Task.sleep(for: interval)
                }
            } catch {
                break
            }
        }
        logger.info("churn sweeps stopped")
    }

    /// One sweep: reschedule if the policy changed, then review every client due by now.
    /// Returns what the reviews did.
    @discardableResult
    public func sweepOnce() async throws -> ReviewOutcome {
        let policy = await policies.current()
        try await rescheduleIfNeeded(policy)
        guard let now = try await now() else { return ReviewOutcome() }
        let outcome = try await sweep(at: now, policy: policy)
        health?.swept()
        lastSweep.record(Date().timeIntervalSince1970)
        // The furthest moment judged (the event clock can step back when an idle partition wakes).
        let recorded = judgedThrough.withLock { $0 }
        if recorded.map({ now > $0 }) ?? true {
            let stored = try await store.setting(StoreSettingNames.churnJudgedThrough).flatMap(Timestamp.init(rfc3339:))
            if stored.map({ now > $0 }) ?? true {
                try await store.setSetting(StoreSettingNames.churnJudgedThrough, to: now.rfc3339)
            }
            judgedThrough.withLock { $0 = max(now, stored ?? now) }
        }
        return outcome
    }

    /// Reviews every client due by `now` with the current policy (no rescheduling).
    public func sweep(at now: Timestamp) async throws -> ReviewOutcome {
        try await sweep(at: now, policy: await policies.current())
    }

    private func sweep(at now: Timestamp, policy: ChurnPolicy) async throws -> ReviewOutcome {
        let started = ContinuousClock.now
        var total = ReviewOutcome()
        while !Task.isShuttingDownGracefully {
            // On the wall clock, a lapse found long after it happened (the churn-worker was down) is
            // recorded, but its task is history.
            let rules = ClientRules(churn: policy, staleBefore: taskMaxAge.map { now.adding(milliseconds: -$0.milliseconds) })
            let outcome = try await store.reviewDueClients(now: now, limit: configuration.sweepBatchSize) { client, lastTasks in
                var taskTimes = lastTasks
                return rules.review(&client, now: now, lastTaskAt: &taskTimes)
            }
            total += outcome
            health?.loopTurned()
            if outcome.statusChanges + outcome.tasks + outcome.churnRisks > 0 { relay?.wake() }
            if outcome.reviewed < configuration.sweepBatchSize { break }
        }
        if total.reviewed > 0 {
            reviewed.increment(by: total.reviewed)
            lapses.increment(by: total.churnRisks)
            sweepDuration.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
            OutputMetrics.record(total.tally, worker: "churn-worker")
            logger.debug("sweep", metadata: [
                "now": "\(now)", "reviewed": "\(total.reviewed)", "statusChanges": "\(total.statusChanges)",
                "churnRisks": "\(total.churnRisks)", "tasks": "\(total.tasks)", "suppressed": "\(total.suppressedTasks)",
            ])
        }
        return total
    }

    /// Clients whose review is due by the clock now (the wall clock, or the newest event time on
    /// the event clock), whether or not the streams let them be judged yet: the sweeps' backlog.
    /// Nil before the event clock has any event.
    public func dueClients() async throws -> Int? {
        let clockNow: Timestamp? = switch clock {
        case .wall: Self.wallNow
        case .event: try await store.newestEventTime()
        }
        guard let clockNow else { return nil }
        return try await store.dueReviewCount(at: clockNow)
    }

    private static var wallNow: Timestamp { Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)) }

    /// The moment to judge at: the wall clock, or on the event clock the newest event time read
    /// (nil before any event: nothing to judge yet) — but never a moment up to which both input
    /// streams are not yet complete (``ClientStore/streamFrontier(partitions:)``): a lagging
    /// purchase-worker must not make clients look lapsed. Strictly before the frontier, so every
    /// event at or before the judged moment has been applied. (Without stream alignment, the event
    /// clock is the oldest partition's newest event instead, ``ClientStore/eventClock(idleAfter:)``.)
    func now() async throws -> Timestamp? {
        let clockNow: Timestamp?
        switch clock {
        case .wall: clockNow = Self.wallNow
        case .event where alignment.enabled: clockNow = try await store.newestEventTime()
        case .event: clockNow = try await store.eventClock(idleAfter: configuration.eventClockIdle)
        }
        guard let clockNow, alignment.enabled else { return clockNow }
        guard let partitions = try await store.setting(StoreSettingNames.partitions).flatMap({ Int($0) }),
              let frontier = try await store.streamFrontier(partitions: partitions)
        else {
            let alreadyLogged = waitingForStreamsLogged.withLock { logged in
                defer { logged = true }
                return logged
            }
            if !alreadyLogged {
                logger.notice("no churn judgement until both event workers have reported every partition of their streams")
            }
            return nil
        }
        return min(clockNow, Timestamp(millisecondsSinceEpoch: frontier.millisecondsSinceEpoch - 1))
    }

    /// Recomputes every client's next review when the stored ones were computed with another
    /// policy (first start, a newer model, changed settings). The pass is shared through the store:
    /// replicas that start it together take its chunks in turn, so no client is rescheduled twice,
    /// and a pass interrupted by a restart goes on where it stopped.
    public func rescheduleIfNeeded(_ policy: ChurnPolicy) async throws {
        let fingerprint = ChurnPolicySource.fingerprint(policy)
        guard try await store.setting(Self.scheduleSetting) != fingerprint else { return }
        let started = ContinuousClock.now
        let pass = ReschedulePass(id: fingerprint, completedSetting: Self.scheduleSetting)
        var progress: RescheduleProgress
        var count = 0
        repeat {
            progress = try await store.rescheduleReviews(pass, limit: Self.rescheduleChunk) { policy.nextReview(for: $0) }
            count += progress.clients
            health?.loopTurned()  // a long pass is progress, chunk by chunk
        } while !progress.finished && !Task.isShuttingDownGracefully
        guard progress.finished else { return }
        logger.info("review times recomputed", metadata: [
            "model": "\(policy.models.map { "\($0.label) v\($0.version)" } ?? "none: recency rules")",
            "clients": "\(count)", "seconds": "\((ContinuousClock.now - started) / .seconds(1))",
        ])
    }
}

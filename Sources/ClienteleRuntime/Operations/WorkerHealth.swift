import ClienteleDomain
import Foundation
import Synchronization

/// What `/health/live` and `/health/ready` answer, from what the worker's loops and monitor report.
///
/// **Live** (a restart would help): the worker's main loop (consume or sweep) turned within
/// `CLIENTELE_STALL_SECONDS` — a store or broker failure being retried counts as turning, since
/// restarting would not mend a database outage —, the consumer has not sat in one non-steady
/// group state for twice `max.poll.interval.ms`, and librdkafka reported no fatal error.
///
/// **Ready** (send it work, count it in): the consumer is in its group with partitions (the
/// churn-worker: it has swept once), the store answered lately, and a broker is reachable.
public final class WorkerHealth: Sendable {
    /// One check's result, as the JSON body shows it.
    public struct Check: Sendable, Equatable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }

    /// A probe's answer: healthy when every check is.
    public struct Report: Sendable, Equatable {
        public var checks: [Check]
        public var ok: Bool { checks.allSatisfy(\.ok) }

        /// `{"status":"ok"|"failing","checks":{"name":{"ok":…,"detail":…},…},"failed":[names]}`.
        public var json: String {
            var checksObject = JSONObjectWriter()
            for check in checks {
                var entry = JSONObjectWriter(capacity: 64)
                entry.add("ok", check.ok)
                entry.add("detail", check.detail)
                checksObject.add(check.name, object: entry)
            }
            var body = JSONObjectWriter()
            body.add("status", ok ? "ok" : "failing")
            body.add("failed", checks.filter { !$0.ok }.map(\.name).joined(separator: ","))
            body.add("checks", object: checksObject)
            return body.json
        }
    }

    /// The worker's main loop: what it is called in the answers.
    public enum Loop: String, Sendable {
        case consume = "consume_loop"
        case sweep = "sweep_loop"
    }

    private struct State {
        var loopTurnedAt: ContinuousClock.Instant
        var unsteadySince: ContinuousClock.Instant?
        var unsteadyState: String?
        var fatalError: String?
        var assignedPartitions = 0
        var swept = false
        var storeAnsweredAt: ContinuousClock.Instant?
        var storeError: String?
        var brokersUp: Int?
        var brokersSeenAt: ContinuousClock.Instant?
    }

    public let loop: Loop
    private let stallAfter: Duration
    private let unsteadyLimit: Duration
    private let freshness: Duration
    private let state: Mutex<State>

    /// - Parameters:
    ///   - stallAfter: `CLIENTELE_STALL_SECONDS`.
    ///   - unsteadyLimit: how long the group may stay in one non-steady state (twice the poll interval).
    ///   - freshness: how old the store's last answer and the brokers' last statistics may be.
    public init(loop: Loop, stallAfter: Duration, unsteadyLimit: Duration, freshness: Duration) {
        self.loop = loop
        self.stallAfter = stallAfter
        self.unsteadyLimit = unsteadyLimit
        self.freshness = freshness
        state = Mutex(State(loopTurnedAt: .now))
    }

    /// The main loop turned (a batch, an idle poll, a retry, a sweep).
    public func loopTurned() { state.withLock { $0.loopTurnedAt = .now } }

    /// The churn-worker completed a sweep.
    public func swept() { state.withLock { $0.swept = true } }

    /// What the monitor saw of the Kafka clients.
    func observeKafka(groupState: String?, steady: Bool, fatalError: String?, brokersUp: Int?, assignedPartitions: Int) {
        state.withLock { state in
            let now = ContinuousClock.now
            if steady || groupState == nil {
                state.unsteadySince = nil
                state.unsteadyState = nil
            } else if state.unsteadyState != groupState {
                state.unsteadyState = groupState
                state.unsteadySince = now
            }
            if let fatalError { state.fatalError = fatalError }
            if let brokersUp {
                state.brokersUp = brokersUp
                state.brokersSeenAt = now
            }
            state.assignedPartitions = assignedPartitions
        }
    }

    /// What the monitor's last look at the store gave.
    func observeStore(error: String?) {
        state.withLock { state in
            if let error {
                state.storeError = error
            } else {
                state.storeError = nil
                state.storeAnsweredAt = .now
            }
        }
    }

    public func liveness(now: ContinuousClock.Instant = .now) -> Report {
        state.withLock { state in
            let idle = now - state.loopTurnedAt
            var checks = [Check(
                name: loop.rawValue, ok: idle < stallAfter,
                detail: "turned \(Self.seconds(idle)) ago (limit \(Self.seconds(stallAfter)))")]
            if loop == .consume {
                let unsteady = state.unsteadySince.map { now - $0 }
                checks.append(Check(
                    name: "consumer_group", ok: unsteady.map { $0 < unsteadyLimit } ?? true,
                    detail: unsteady.map { "in state \(state.unsteadyState ?? "?") for \(Self.seconds($0)) (limit \(Self.seconds(unsteadyLimit)))" } ?? "steady"))
            }
            checks.append(Check(name: "kafka_fatal_error", ok: state.fatalError == nil, detail: state.fatalError ?? "none"))
            return Report(checks: checks)
        }
    }

    public func readiness(now: ContinuousClock.Instant = .now) -> Report {
        state.withLock { state in
            var checks: [Check] = []
            switch loop {
            case .consume:
                checks.append(Check(name: "partitions", ok: state.assignedPartitions > 0,
                                    detail: "\(state.assignedPartitions) assigned"))
            case .sweep:
                checks.append(Check(name: "swept", ok: state.swept, detail: state.swept ? "has swept" : "no sweep completed yet"))
            }
            let storeFresh = state.storeAnsweredAt.map { now - $0 < freshness } ?? false
            checks.append(Check(
                name: "store", ok: storeFresh && state.storeError == nil,
                detail: state.storeError.map { "failing: \($0)" }
                    ?? state.storeAnsweredAt.map { "answered \(Self.seconds(now - $0)) ago" } ?? "not answered yet"))
            let brokersFresh = state.brokersSeenAt.map { now - $0 < freshness } ?? false
            checks.append(Check(
                name: "broker", ok: brokersFresh && (state.brokersUp ?? 0) > 0,
                detail: brokersFresh ? "\(state.brokersUp ?? 0) connections up" : "no statistics from the Kafka client lately"))
            return Report(checks: checks)
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1fs", value)
    }
}

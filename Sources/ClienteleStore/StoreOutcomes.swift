import ClienteleDomain

/// What one ``ClientStore/reviewDueClients(now:limit:review:)`` call did.
public struct ReviewOutcome: Sendable, Equatable {
    /// Clients that were due and were reviewed.
    public var reviewed: Int = 0
    public var statusChanges: Int = 0
    public var churnRisks: Int = 0
    public var tasks: Int = 0
    public var suppressedTasks: Int = 0
    /// The same outputs by transition and kind.
    public var tally = OutputTally()

    public init() {}

    /// `reviewed` clients whose reviews wrote what `batch` counts.
    public init(reviewed: Int, wrote batch: BatchOutcome) {
        self.reviewed = reviewed
        statusChanges = batch.statusChanges
        churnRisks = batch.churnRisks
        tasks = batch.tasks
        suppressedTasks = batch.suppressedTasks
        tally = batch.tally
    }

    /// Adds another batch's counts (a sweep's total).
    public static func += (total: inout ReviewOutcome, batch: ReviewOutcome) {
        total.reviewed += batch.reviewed
        total.statusChanges += batch.statusChanges
        total.churnRisks += batch.churnRisks
        total.tasks += batch.tasks
        total.suppressedTasks += batch.suppressedTasks
        total.tally += batch.tally
    }
}

/// A transaction's outputs by kind, for the operator's metrics: status changes by transition,
/// tasks sent by kind, tasks held back by kind and reason. Only codes, never a client's data.
public struct OutputTally: Sendable, Equatable {
    /// A status change, from (nil: a client's first status) → to.
    public struct Transition: Sendable, Hashable {
        public var from: ClientStatus?
        public var to: ClientStatus
        public init(from: ClientStatus?, to: ClientStatus) {
            self.from = from
            self.to = to
        }
    }

    /// A task held back: its kind, and why (`consent_withdrawn`, `stale`, …).
    public struct Suppression: Sendable, Hashable {
        public var kind: String
        public var reason: String
        public init(kind: String, reason: String) {
            self.kind = kind
            self.reason = reason
        }
    }

    public var transitions: [Transition: Int] = [:]
    public var tasks: [String: Int] = [:]
    public var suppressed: [Suppression: Int] = [:]

    public init() {}

    public var isEmpty: Bool { transitions.isEmpty && tasks.isEmpty && suppressed.isEmpty }

    public static func += (total: inout OutputTally, other: OutputTally) {
        total.transitions.merge(other.transitions, uniquingKeysWith: +)
        total.tasks.merge(other.tasks, uniquingKeysWith: +)
        total.suppressed.merge(other.suppressed, uniquingKeysWith: +)
    }
}

/// The outbox's backlog: what the relay has still to publish.
public struct OutboxBacklog: Sendable, Equatable {
    /// Up to this span of message ids the pending messages are counted exactly; above it the
    /// span is given (exact but for the rows an erasure removed from the middle).
    public static let exactCountUpTo = 10_000

    /// Messages written and not yet published.
    public var pending: Int
    /// When the oldest of them was written (wall clock); nil when none is pending, or when it was
    /// written before the store recorded such times.
    public var oldestWrittenAt: Timestamp?

    public init(pending: Int, oldestWrittenAt: Timestamp?) {
        self.pending = pending
        self.oldestWrittenAt = oldestWrittenAt
    }
}

/// What one ``ClientStore/apply(_:context:reducer:)`` call did.
public struct BatchOutcome: Sendable, Equatable {
    /// Events applied for the first time.
    public var accepted: Int
    /// Events skipped because they had been applied before.
    public var duplicates: Int
    public var statusChanges: Int
    public var tasks: Int
    /// Tasks held back by a policy (recorded, not published).
    public var suppressedTasks: Int
    /// `churn-risk` events written.
    public var churnRisks: Int = 0
    /// Clients erased by this batch.
    public var erasures: Int
    /// Accepted events ignored because their client was erased.
    public var ignoredForErasedClients: Int
    /// Events of this batch left waiting for the other stream.
    public var held: Int = 0
    /// Waiting events (of either stream, from earlier batches) applied by this batch.
    public var released: Int = 0
    /// Events read after their stream had been recorded complete past their time: applied at
    /// once, possibly after events of the other stream that happened later.
    public var late: Int = 0
    /// Whether waiting events that are already due were left for a next transaction (the
    /// ``InputBatch/releaseLimit`` was reached).
    public var moreDue: Bool = false
    /// Events under an id already accepted on the same stream with different content: neither
    /// applied nor counted as duplicates; the worker dead-letters them (`conflicting_duplicate`).
    public var conflicts: [ConflictingDuplicate] = []
    /// Events accepted but refused by the rules when their turn came (e.g. `currency_mismatch`):
    /// not applied, their idempotency record removed; the worker dead-letters them.
    public var rejected: [RejectedEvent] = []
    /// Waiting events that could not be read back when their turn came: set aside in the store
    /// (`unreadable_waiting_events`) for an operator, not applied.
    public var unreadableWaiting: Int = 0
    /// The outputs by transition and kind (``statusChanges``, ``tasks``, ``suppressedTasks`` in detail).
    public var tally = OutputTally()

    public init(
        accepted: Int = 0, duplicates: Int = 0, statusChanges: Int = 0, tasks: Int = 0,
        suppressedTasks: Int = 0, erasures: Int = 0, ignoredForErasedClients: Int = 0
    ) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.statusChanges = statusChanges
        self.tasks = tasks
        self.suppressedTasks = suppressedTasks
        self.erasures = erasures
        self.ignoredForErasedClients = ignoredForErasedClients
    }
}

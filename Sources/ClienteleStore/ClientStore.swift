import ClienteleDomain

/// The durable state of every client, the idempotency records, the task log and the outbox.
///
/// One contract for every backend (SQLite now; PostgreSQL with several worker replicas later):
/// workers only call ``apply(_:rules:)`` and the outbox relay only calls ``pendingOutbox(limit:)``
/// and ``markPublished(_:)``, so a backend that locks rows (`SELECT … FOR UPDATE`) and claims
/// outbox rows (`SKIP LOCKED`) fits without changing them.
public protocol ClientStore: Sendable {
    /// Waits until the store can be used (PostgreSQL: reachable, migrated, the key checked),
    /// throwing what stops it; SQLite is ready once opened.
    func waitUntilReady() async throws

    /// Applies a batch read from one input stream, in one transaction, in event-time order with
    /// the other stream.
    ///
    /// For each event an idempotency record is inserted; an event whose record already exists is
    /// a duplicate and is skipped, and so is an event for an erased client. The batch's
    /// completeness per partition (``InputBatch/completeBefore``) is recorded. With
    /// ``InputBatch/aligned``, an event is applied only once both streams are complete up to it
    /// (``EventTimeKey/isDue(completeBefore:)``): until then it waits in the store, and the
    /// waiting events of either stream that the new completeness makes due are applied with the
    /// batch's, all in event-time order (``EventTimeKey``), by ``ClientRules``. An erasure request
    /// is applied at once. The new states, status changes, tasks and outbox messages are written
    /// before the commit: either all of it is durable when this returns, or none of it.
    func apply(_ batch: InputBatch, rules: ClientRules) async throws -> BatchOutcome

    /// How far both input streams are complete in every partition: every event before this time,
    /// of either stream, has been read and applied (or is being applied by a committed batch).
    /// Nil while some partition of a stream has reported nothing yet.
    func streamFrontier(partitions: Int) async throws -> Timestamp?

    /// Each stream's recorded completeness per partition.
    func streamProgress() async throws -> [StreamProgress]

    /// The events waiting for the other stream: how many per stream, and the oldest.
    func waitingEvents() async throws -> WaitingEvents

    /// The oldest waiting event's time per partition among those read from `stream`, to tell
    /// whether raising the other stream's completeness would release any.
    func oldestWaitingByPartition(stream: EventStream) async throws -> [Int32: Timestamp]

    /// Reviews the clients whose next review is due by `now`, oldest first, at most `limit`, in one
    /// transaction: each due client is claimed (locked, where the backend can), `review` gets them
    /// with the newest task of each kind already created for them (for cooldowns), and the new
    /// states and everything the reviews caused are written before the commit. Two reviewers
    /// (churn-worker replicas) never review the same client at once, and a client reviewed by one
    /// is no longer due for the other.
    func reviewDueClients(
        now: Timestamp, limit: Int,
        review: @escaping @Sendable (inout ClientState, [FollowUpTask.Kind: Timestamp]) -> [ClientEffect]
    ) async throws -> ReviewOutcome

    /// Recomputes the next review time of the next `limit` clients of a rescheduling pass, in one
    /// transaction, and returns how far the pass is. Used when the churn rules or the model change,
    /// so a whole store is rescheduled in short transactions.
    ///
    /// The pass is shared: its cursor (the last client id handled, in id order) is kept in the
    /// store and claimed with each chunk, so churn-worker replicas that start the same pass at once
    /// split it between them and no client is rescheduled twice. The chunk that reaches the end
    /// records the pass's id under ``ReschedulePass/completedSetting`` in the same transaction and
    /// drops every pass cursor (a pass started again later starts from the beginning); once it is
    /// recorded, the pass is finished for everyone and a call does nothing.
    func rescheduleReviews(
        _ pass: ReschedulePass, limit: Int, schedule: @escaping @Sendable (ClientState) -> Timestamp?
    ) async throws -> RescheduleProgress

    /// The event clock: the oldest of the newest event times recorded per input partition (a
    /// watermark, so a partition the consumers have not caught up on holds it back), leaving out
    /// partitions idle — not advanced for `idleAfter` (wall time) while others advanced. Nil
    /// before any event.
    func eventClock(idleAfter: Duration) async throws -> Timestamp?

    /// The newest event time read from any input partition (the present of a replay), nil before any.
    func newestEventTime() async throws -> Timestamp?

    /// How many clients are due for a churn review by `now` (the sweep's backlog).
    func dueReviewCount(at now: Timestamp) async throws -> Int

    /// Background upkeep the workers run every second (SQLite: copy the write-ahead log into the
    /// database file, off the write path).
    func performMaintenance() async throws

    /// Forgets the idempotency records of events that occurred before `occurredBefore` (the
    /// retention horizon: a redelivery older than it is taken as a new event), one step at a time
    /// off the write path. PostgreSQL drops the whole days (partitions) before the horizon at once;
    /// SQLite looks at the next `limit` records after `resumingAfter` (nil: from the first) and
    /// deletes the old ones among them. Returns how many records went and where to resume (nil:
    /// the pass is complete).
    func expireEventRecords(occurredBefore: Timestamp, resumingAfter: String?, limit: Int) async throws -> EventRecordExpiry

    /// A small named value the workers keep in the store (e.g. which churn rules the review
    /// times were computed with).
    func setting(_ name: String) async throws -> String?
    func setSetting(_ name: String, to value: String) async throws

    /// Takes or renews the right to publish the outbox for `duration`. Only one relay holds it at a
    /// time, so messages of one client are published in the order they were written even when
    /// several workers share the store. Returns false while another live holder has it.
    func acquireRelayLease(holder: String, for duration: Duration) async throws -> Bool

    /// Gives the lease up (on a graceful shutdown), so another relay can take it at once.
    func releaseRelayLease(holder: String) async throws

    /// Outbox messages not yet published, oldest first (so per client in the order written).
    func pendingOutbox(limit: Int) async throws -> [OutboxMessage]

    /// How often a process looks for what other processes wrote — outbox rows to publish (its own
    /// commits wake its relay at once), events of the other stream waiting for its idle stream to
    /// pass their time: as often as a look costs little to whoever answers it.
    var pollInterval: Duration { get }

    /// How many outbox messages wait to be published, and since when the oldest does.
    func outboxBacklog() async throws -> OutboxBacklog

    /// Removes published messages from the outbox.
    func markPublished(_ ids: [Int64]) async throws

    /// One client's state with their recent tasks and status changes, or nil if unknown.
    func client(id: String, recent: Int) async throws -> ClientView?

    /// How many input events were accepted (one count, cheaper than ``summary()``; for tools
    /// watching a load go in).
    func acceptedEventCount() async throws -> Int

    /// Counts for reports: clients by status, tasks by kind, accepted and waiting events, outbox backlog.
    func summary() async throws -> StoreSummary

    /// Every client's purchase history as of the end of `asOf`'s day (UTC), keyed by client id.
    func purchaseHistories(asOf: Timestamp) async throws -> [String: PurchaseHistorySummary]

    /// Stores a fitted model as a new version and returns it with its version number.
    func saveModel(_ model: StoredModel) async throws -> StoredModel

    /// The newest model of a kind (`bgnbd`, `mbgnbd`, `gamma-gamma`), if any was fitted.
    func newestModel(kind: String) async throws -> StoredModel?
}

/// A pass over every client recomputing review times, shared by whoever runs it (see
/// ``ClientStore/rescheduleReviews(_:limit:schedule:)``).
public struct ReschedulePass: Sendable, Equatable {
    /// What the pass recomputes with (the churn policy's fingerprint): passes with other ids keep
    /// cursors of their own.
    public var id: String
    /// The store setting that holds the id of the pass last completed.
    public var completedSetting: String

    public init(id: String, completedSetting: String) {
        self.id = id
        self.completedSetting = completedSetting
    }

    /// The setting holding this pass's cursor: one per pass id (a short digest of it), all
    /// under one prefix so a completed pass can drop them together.
    public var cursorSetting: String {
        cursorPrefix + SHA256.hex(id).prefix(24)
    }

    /// The prefix of every pass cursor of ``completedSetting``.
    public var cursorPrefix: String { completedSetting + ".cursor." }
}

/// What one chunk of a rescheduling pass did.
public struct RescheduleProgress: Sendable, Equatable {
    /// Clients whose review time this chunk recomputed (changed or not).
    public var clients: Int
    /// Whether the pass is complete (by this chunk or an earlier one, of any replica).
    public var finished: Bool

    public init(clients: Int, finished: Bool) {
        self.clients = clients
        self.finished = finished
    }
}

/// What one step of the idempotency records' retention did.
public struct EventRecordExpiry: Sendable, Equatable {
    /// Records removed by this step.
    public var removed: Int
    /// Where the next step goes on; nil when the pass is complete.
    public var resumeAfter: String?

    public init(removed: Int, resumeAfter: String?) {
        self.removed = removed
        self.resumeAfter = resumeAfter
    }
}

/// A fitted model as stored: its kind, parameters (JSON object of numbers) and fit figures.
public struct StoredModel: Sendable, Equatable {
    /// Assigned by the store; 0 before saving.
    public var version: Int
    public var kind: String
    public var parametersJSON: String
    public var logLikelihood: Double
    public var clients: Int
    /// The calibration end the model was fitted as of.
    public var asOf: Timestamp
    public var fittedAt: Timestamp

    public init(version: Int = 0, kind: String, parametersJSON: String, logLikelihood: Double, clients: Int, asOf: Timestamp, fittedAt: Timestamp) {
        self.version = version
        self.kind = kind
        self.parametersJSON = parametersJSON
        self.logLikelihood = logLikelihood
        self.clients = clients
        self.asOf = asOf
        self.fittedAt = fittedAt
    }

    /// The parameters as named numbers.
    public var parameters: [String: Double] {
        guard case .object(let object)? = try? JSONParser.parse(Array(parametersJSON.utf8)) else { return [:] }
        return object.compactMapValues { if case .number(let text) = $0 { Double(text) } else { nil } }
    }
}

extension ClientStore {
    public func waitUntilReady() async throws {}

    /// Every 50 ms: a query to a database server.
    public var pollInterval: Duration { .milliseconds(50) }

    /// Applies purchases as read, in the order given, without waiting for the contact stream (for
    /// tools and tests).
    public func apply(_ events: [PurchaseEvent], rules: ClientRules, newestEventTimes: [String: Timestamp] = [:]) async throws -> BatchOutcome {
        try await apply(InputBatch(unaligned: events.map(InputEvent.purchase), stream: .purchases, newestEventTimes: newestEventTimes), rules: rules)
    }

    /// Applies contacts as read, in the order given, without waiting for the purchase stream.
    public func apply(_ events: [ContactEvent], rules: ClientRules, newestEventTimes: [String: Timestamp] = [:]) async throws -> BatchOutcome {
        try await apply(InputBatch(unaligned: events.map(InputEvent.contact), stream: .contacts, newestEventTimes: newestEventTimes), rules: rules)
    }
}

/// What one worker read from its stream, to be applied in one transaction.
public struct InputBatch: Sendable {
    /// An accepted event and where it was read.
    public struct Entry: Sendable {
        public var event: InputEvent
        public var partition: Int32
        public var offset: Int64

        public init(event: InputEvent, partition: Int32, offset: Int64) {
            self.event = event
            self.partition = partition
            self.offset = offset
        }

        public var key: EventTimeKey { EventTimeKey(occurredAt: event.occurredAt, stream: event.stream, sequence: offset) }
    }

    /// The stream the batch was read from.
    public var stream: EventStream
    /// Accepted events, in the order read.
    public var entries: [Entry]
    /// Per partition: every event of ``stream`` that occurred before this time has been read (by
    /// this batch or an earlier one). Partitions not named keep what was recorded.
    public var completeBefore: [Int32: Timestamp]
    /// The newest event time of the batch per input source (`topic/partition`), for the event clock.
    public var newestEventTimes: [String: Timestamp]
    /// Whether events wait until the other stream is complete up to them. Off for a deployment
    /// that runs one event worker only: each event is applied when read.
    public var aligned: Bool
    /// At most this many waiting events are released by one transaction (a long-idle stream
    /// catching up releases the rest in the next ones).
    public var releaseLimit: Int

    public init(
        stream: EventStream, entries: [Entry], completeBefore: [Int32: Timestamp], newestEventTimes: [String: Timestamp] = [:],
        aligned: Bool, releaseLimit: Int = 50_000
    ) {
        self.stream = stream
        self.entries = entries
        self.completeBefore = completeBefore
        self.newestEventTimes = newestEventTimes
        self.aligned = aligned
        self.releaseLimit = releaseLimit
    }

    /// Events applied as given, in order, in partition 0, without alignment.
    public init(unaligned events: [InputEvent], stream: EventStream, newestEventTimes: [String: Timestamp] = [:]) {
        self.init(
            stream: stream, entries: events.enumerated().map { Entry(event: $0.element, partition: 0, offset: Int64($0.offset)) },
            completeBefore: [:], newestEventTimes: newestEventTimes, aligned: false)
    }

    /// Whether an event at `key` may be applied (see ``EventTimeKey/isDue(completeBefore:)``).
    public static func isReady(_ key: EventTimeKey, completeBefore: (EventStream) -> Timestamp?) -> Bool {
        key.isDue(completeBefore: completeBefore)
    }
}

/// An event read under an id its stream had already accepted, with different content: another
/// event, not a redelivery, so neither applied nor silently dropped.
public struct ConflictingDuplicate: Sendable, Equatable {
    public var stream: EventStream
    public var eventId: String
    /// Where this one was read.
    public var partition: Int32
    public var offset: Int64
    /// Where the accepted one was read.
    public var firstPartition: Int32
    public var firstOffset: Int64

    public init(stream: EventStream, eventId: String, partition: Int32, offset: Int64, firstPartition: Int32, firstOffset: Int64) {
        self.stream = stream
        self.eventId = eventId
        self.partition = partition
        self.offset = offset
        self.firstPartition = firstPartition
        self.firstOffset = firstOffset
    }
}

/// An event the rules refused when it was applied.
public struct RejectedEvent: Sendable, Equatable {
    public var stream: EventStream
    public var partition: Int32
    public var offset: Int64
    public var clientId: String
    public var eventId: String
    /// The event as accepted (its contract JSON), for a dead letter when the original message is
    /// not at hand (the event waited and another worker applied it).
    public var encoded: [UInt8]
    public var rejection: EventRejection

    public init(stream: EventStream, partition: Int32, offset: Int64, clientId: String, eventId: String, encoded: [UInt8], rejection: EventRejection) {
        self.stream = stream
        self.partition = partition
        self.offset = offset
        self.clientId = clientId
        self.eventId = eventId
        self.encoded = encoded
        self.rejection = rejection
    }
}

/// One stream's recorded completeness in one partition.
public struct StreamProgress: Sendable, Equatable {
    public var stream: EventStream
    public var partition: Int32
    /// Every event of the stream before this time has been read.
    public var completeBefore: Timestamp
    /// When it was last recorded (wall clock).
    public var updatedAt: Timestamp

    public init(stream: EventStream, partition: Int32, completeBefore: Timestamp, updatedAt: Timestamp) {
        self.stream = stream
        self.partition = partition
        self.completeBefore = completeBefore
        self.updatedAt = updatedAt
    }
}

/// The events read but not yet applied, waiting for the other stream to reach their time.
public struct WaitingEvents: Sendable, Equatable {
    /// Per stream the events came from.
    public var counts: [EventStream: Int]
    /// When the longest-waiting one was read (wall clock).
    public var oldestSince: Timestamp?
    /// The earliest event time among them.
    public var earliestOccurredAt: Timestamp?

    public init(counts: [EventStream: Int] = [:], oldestSince: Timestamp? = nil, earliestOccurredAt: Timestamp? = nil) {
        self.counts = counts
        self.oldestSince = oldestSince
        self.earliestOccurredAt = earliestOccurredAt
    }

    public var total: Int { counts.values.reduce(0, +) }
}

/// A task that was not sent, and why.
public struct SuppressedTask: Sendable, Equatable {
    public var task: FollowUpTask
    /// e.g. `consent_withdrawn`.
    public var because: String

    public init(task: FollowUpTask, because: String) {
        self.task = task
        self.because = because
    }
}

/// A message waiting in the outbox.
public struct OutboxMessage: Sendable, Equatable {
    /// Store-assigned, increasing in write order.
    public var id: Int64
    /// Logical topic name (without the deployment's prefix), e.g. `client-status`.
    public var topic: String
    public var key: String
    /// Nil for a tombstone.
    public var payload: [UInt8]?
    /// The stable id of the output event (also sent as a header).
    public var messageId: String

    public init(id: Int64, topic: String, key: String, payload: [UInt8]?, messageId: String) {
        self.id = id
        self.topic = topic
        self.key = key
        self.payload = payload
        self.messageId = messageId
    }
}

/// The logical names of the output topics.
public enum OutputTopic {
    public static let clientStatus = "client-status"
    public static let followUpTasks = "follow-up-tasks"
    public static let churnRisk = "churn-risk"
}

/// A client as shown by `clientele client show`.
public struct ClientView: Sendable, Equatable {
    public var state: ClientState
    /// Newest first.
    public var recentTasks: [FollowUpTask]
    /// Newest first.
    public var recentStatusChanges: [StatusChange]
    /// Newest first.
    public var recentSuppressedTasks: [SuppressedTask]
    /// Purchases converted to the reporting currency, newest first: what was sent.
    public var recentConvertedPurchases: [ConvertedPurchase]

    public init(
        state: ClientState, recentTasks: [FollowUpTask], recentStatusChanges: [StatusChange], recentSuppressedTasks: [SuppressedTask] = [],
        recentConvertedPurchases: [ConvertedPurchase] = []
    ) {
        self.state = state
        self.recentTasks = recentTasks
        self.recentStatusChanges = recentStatusChanges
        self.recentSuppressedTasks = recentSuppressedTasks
        self.recentConvertedPurchases = recentConvertedPurchases
    }
}

/// Whole-store counts.
public struct StoreSummary: Sendable, Equatable {
    public var clients: Int
    /// Keyed by status wire name; clients without a status count under `none`.
    public var clientsByStatus: [String: Int]
    public var tasksByKind: [String: Int]
    public var acceptedEvents: Int
    public var outboxBacklog: Int
    public var totalPurchases: Int
    public var statusChanges: Int
    public var suppressedTasks: Int
    public var erasedClients: Int
    /// Accepted events not applied yet: they wait for the other stream to reach their time.
    public var waitingEvents: Int
    /// Suppressed tasks by reason (`consent_withdrawn`, `stale`).
    public var suppressedByReason: [String: Int] = [:]

    public init(
        clients: Int, clientsByStatus: [String: Int], tasksByKind: [String: Int],
        acceptedEvents: Int, outboxBacklog: Int, totalPurchases: Int, statusChanges: Int,
        suppressedTasks: Int = 0, erasedClients: Int = 0, waitingEvents: Int = 0
    ) {
        self.waitingEvents = waitingEvents
        self.statusChanges = statusChanges
        self.suppressedTasks = suppressedTasks
        self.erasedClients = erasedClients
        self.clients = clients
        self.clientsByStatus = clientsByStatus
        self.tasksByKind = tasksByKind
        self.acceptedEvents = acceptedEvents
        self.outboxBacklog = outboxBacklog
        self.totalPurchases = totalPurchases
    }
}

/// A store failure with a stable code; the message never holds client data.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// `DATABASE_URL` cannot be used.
        public static let invalidURL = Code(rawValue: "invalid_database_url")
        /// The backend named by the URL is not available in this build.
        public static let unsupportedBackend = Code(rawValue: "unsupported_backend")
        /// The database could not be opened or migrated.
        public static let unavailable = Code(rawValue: "database_unavailable")
        /// A stored row could not be read back.
        public static let corruptRow = Code(rawValue: "corrupt_row")
        /// The deployment key is missing, unreadable, or not the one the store was written with.
        public static let invalidKey = Code(rawValue: "invalid_deployment_key")
        /// A store copy was refused: the target is not empty, a worker still runs on the source, or
        /// the source holds what the target cannot take.
        public static let notCopyable = Code(rawValue: "store_not_copyable")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

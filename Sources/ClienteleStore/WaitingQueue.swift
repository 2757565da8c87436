import ClienteleDomain

/// The backend-neutral part of event time across the two streams: which waiting events one
/// partition releases, and which of a batch's events are due. Backends read and write the rows.
enum WaitingQueue {
    /// The stream a stored rank (0 contacts, 1 purchases) names.
    static func stream(rank: Int) -> EventStream? { EventStream.allCases.first { $0.rank == rank } }

    /// A waiting event as stored.
    struct Row: Sendable {
        var key: EventTimeKey
        var eventId: String
        var clientId: String
        var payload: [UInt8]
    }

    /// What one batch's transaction applies and keeps waiting.
    struct Advance {
        /// Events of the batch that are due now.
        var dueFresh: [PlacedEvent] = []
        /// Waiting events (of either stream) that are due now.
        var released: [PlacedEvent] = []
        /// Events of the batch that must wait.
        var waiting: [PlacedEvent] = []
        var late = 0
        var moreDue = false
        /// Waiting events that could not be read back (set aside).
        var unreadable = 0

        /// Files a fresh event: an erasure is due at once; another event when ready and before
        /// `firstKept`, the first event still waiting in its partition.
        mutating func place(_ event: PlacedEvent, firstKept: EventTimeKey?, isReady: Bool) {
            if event.event.isErasure {
                dueFresh.append(event)
            } else if isReady, firstKept.map({ event.key < $0 }) ?? true {
                dueFresh.append(event)
            } else {
                waiting.append(event)
            }
        }
    }

    /// What one partition's queue releases.
    struct Release {
        var released: [PlacedEvent] = []
        /// Rows that were due but cannot be decoded any more, with the reason: set aside.
        var unreadable: [(row: Row, reason: String)] = []
        /// The first row left waiting, if the release stopped before the end of the candidates.
        var firstKept: EventTimeKey?
        /// Whether a row left waiting was due (the budget ran out).
        var moreDue = false
        /// Per stream, the last row taken: the queue's rows up to it are removed.
        var lastTaken: [EventStream: (key: EventTimeKey, eventId: String)] = [:]
    }

    /// Takes `candidates` (both streams' rows of one partition that may be due) in event-time
    /// order while they are ready and `budget` lasts.
    static func release(_ candidates: [Row], partition: Int32, budget: inout Int, isReady: (EventTimeKey) -> Bool) -> Release {
        var release = Release()
        let rows = candidates.sorted { $0.key < $1.key || ($0.key == $1.key && $0.eventId < $1.eventId) }
        for row in rows {
            guard isReady(row.key), budget > 0 else {
                release.firstKept = row.key
                if isReady(row.key) { release.moreDue = true }
                break
            }
            release.lastTaken[row.key.stream] = (row.key, row.eventId)
            budget -= 1
            do throws(EventRejection) {
                let event = try InputEvent.decode(row.payload, stream: row.key.stream)
                release.released.append(PlacedEvent(key: row.key, partition: partition, event: event))
            } catch {
                // Accepted once, unreadable now (e.g. a stricter check after an upgrade): kept
                // aside for an operator, never dropped in silence.
                release.unreadable.append((row, error.reason.rawValue))
            }
        }
        return release
    }
}

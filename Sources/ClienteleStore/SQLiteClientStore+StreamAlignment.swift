import ClienteleDomain
import Foundation
import GRDB

/// Event time across the two input streams: each stream's completeness per partition, and the
/// events that wait in the store until the other stream is complete up to them.
enum SQLiteStreamAlignment {
    /// An event with its place in event time.
    struct Placed: Sendable {
        var key: EventTimeKey
        var partition: Int32
        var event: InputEvent
    }

    /// What one batch's transaction applies and keeps waiting.
    struct Advance {
        /// Events of the batch that are due now.
        var dueFresh: [Placed] = []
        /// Waiting events (of either stream) that are due now.
        var released: [Placed] = []
        /// Events of the batch that must wait.
        var waiting: [Placed] = []
        var late = 0
        var moreDue = false
    }

    static func rank(_ stream: EventStream) -> Int { stream.rank }
    static func stream(rank: Int) -> EventStream? { EventStream.allCases.first { $0.rank == rank } }

    /// Records the batch's completeness and splits its events (and the waiting ones) into due and waiting.
    static func advance(_ batch: InputBatch, fresh: [InputBatch.Entry], wallNow: Int64, in db: Database) throws -> Advance {
        var result = Advance()
        let placed = fresh.map { Placed(key: $0.key, partition: $0.partition, event: $0.event) }
        let partitions = Set(batch.completeBefore.keys).union(fresh.map(\.partition)).sorted()
        guard !partitions.isEmpty else { return result }

        var progress = try read(partitions: partitions, in: db)
        let before = progress[batch.stream] ?? [:]
        if !batch.completeBefore.isEmpty {
            let statement = try db.cachedStatement(sql: """
                INSERT INTO stream_progress (stream, partition, complete_before, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (stream, partition) DO UPDATE
                SET complete_before = max(complete_before, excluded.complete_before), updated_at = excluded.updated_at
                """)
            for (partition, time) in batch.completeBefore {
                try statement.execute(arguments: [batch.stream.rawValue, partition, time.millisecondsSinceEpoch, wallNow])
                progress[batch.stream, default: [:]][partition] = max(before[partition] ?? time.millisecondsSinceEpoch, time.millisecondsSinceEpoch)
            }
        }
        for event in placed where !event.event.isErasure {
            if let complete = before[event.partition], event.key.occurredAt.millisecondsSinceEpoch < complete { result.late += 1 }
        }

        func isReady(_ key: EventTimeKey, in partition: Int32) -> Bool {
            guard batch.aligned else { return true }
            return InputBatch.isReady(key) { stream in progress[stream]?[partition].map(Timestamp.init(millisecondsSinceEpoch:)) }
        }

        // Waiting events now due, per partition, oldest first; the first one not due ends the run
        // (readiness holds for everything before a ready key).
        var budget = batch.releaseLimit
        var firstKept: [Int32: EventTimeKey] = [:]
        let oldest = try db.cachedStatement(sql: """
            SELECT occurred_at, rank, sequence FROM waiting_events WHERE partition = ? ORDER BY occurred_at, rank, sequence LIMIT 1
            """)
        let candidates = try db.cachedStatement(sql: """
            SELECT occurred_at, rank, sequence, payload FROM waiting_events
            WHERE partition = ? AND occurred_at <= ? ORDER BY occurred_at, rank, sequence LIMIT ?
            """)
        let remove = try db.cachedStatement(sql: """
            DELETE FROM waiting_events WHERE partition = ? AND (occurred_at, rank, sequence) <= (?, ?, ?)
            """)
        for partition in partitions {
            guard let row = try Row.fetchOne(oldest, arguments: [partition]) else { continue }
            let first = try key(row)
            guard isReady(first, in: partition) else {
                firstKept[partition] = first
                continue
            }
            guard budget > 0 else {
                firstKept[partition] = first
                result.moreDue = true
                continue
            }
            // Nothing later than the least complete stream can be due.
            let bound = batch.aligned
                ? EventStream.allCases.compactMap { progress[$0]?[partition] }.min() ?? Int64.min
                : Int64.max
            var last: EventTimeKey?
            for row in try Row.fetchAll(candidates, arguments: [partition, bound, budget + 1]) {
                let key = try key(row)
                guard isReady(key, in: partition), budget > 0 else {
                    firstKept[partition] = key
                    if isReady(key, in: partition) { result.moreDue = true }
                    break
                }
                let payload: [UInt8] = Array(row[3] as Data)
                let event: InputEvent
                do throws(EventRejection) {
                    event = try InputEvent.decode(payload, stream: key.stream)
                } catch {
                    throw StoreError(.corruptRow, "a waiting event cannot be read back (\(error.reason.rawValue))")
                }
                result.released.append(Placed(key: key, partition: partition, event: event))
                budget -= 1
                last = key
            }
            if let last {
                try remove.execute(arguments: [partition, last.occurredAt.millisecondsSinceEpoch, rank(last.stream), last.sequence])
            }
        }

        for event in placed {
            if event.event.isErasure {
                result.dueFresh.append(event)
            } else if isReady(event.key, in: event.partition), firstKept[event.partition].map({ event.key < $0 }) ?? true {
                result.dueFresh.append(event)
            } else {
                result.waiting.append(event)
            }
        }
        return result
    }

    /// Keeps events until their turn.
    static func wait(_ events: [Placed], since wallNow: Int64, in db: Database) throws {
        try SQLiteClientStore.insertRows(
            events, "INSERT INTO waiting_events (partition, occurred_at, rank, sequence, client_id, payload, waiting_since)", columns: 7,
            suffix: "ON CONFLICT DO NOTHING", in: db
        ) { event in
            [event.partition, event.key.occurredAt.millisecondsSinceEpoch, rank(event.key.stream), event.key.sequence,
             event.event.clientId, Data(event.event.encoded), wallNow]
        }
    }

    private static func key(_ row: Row) throws -> EventTimeKey {
        let rankValue: Int = row[1]
        guard let stream = stream(rank: rankValue) else { throw StoreError(.corruptRow, "a waiting event has an unknown stream") }
        return EventTimeKey(occurredAt: Timestamp(millisecondsSinceEpoch: row[0]), stream: stream, sequence: row[2])
    }

    /// Completeness per stream and partition, for `partitions`.
    static func read(partitions: [Int32], in db: Database) throws -> [EventStream: [Int32: Int64]] {
        var progress: [EventStream: [Int32: Int64]] = [:]
        try SQLiteClientStore.forEachChunk(of: partitions) { chunk in
            let statement = try db.cachedStatement(sql: """
                SELECT stream, partition, complete_before FROM stream_progress WHERE partition IN (\(SQLiteClientStore.placeholders(chunk.count)))
                """)
            for row in try Row.fetchAll(statement, arguments: StatementArguments(Array(chunk))) {
                guard let stream = EventStream(rawValue: row[0]) else { continue }
                progress[stream, default: [:]][row[1]] = row[2]
            }
        }
        return progress
    }
}

extension SQLiteClientStore {
    public func streamFrontier(partitions: Int) async throws -> Timestamp? {
        guard partitions > 0 else { return nil }
        return try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT stream, partition, complete_before FROM stream_progress WHERE partition < ?",
                                        arguments: [partitions])
            var seen = Set<String>()
            var frontier: Int64?
            for row in rows {
                let stream: String = row[0]
                let partition: Int32 = row[1]
                seen.insert("\(stream)/\(partition)")
                let complete: Int64 = row[2]
                frontier = min(frontier ?? complete, complete)
            }
            guard seen.count == partitions * EventStream.allCases.count else { return nil }
            return frontier.map(Timestamp.init(millisecondsSinceEpoch:))
        }
    }

    public func streamProgress() async throws -> [StreamProgress] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT stream, partition, complete_before, updated_at FROM stream_progress ORDER BY stream, partition")
                .compactMap { row in
                    guard let stream = EventStream(rawValue: row[0]) else { return nil }
                    return StreamProgress(stream: stream, partition: row[1], completeBefore: Timestamp(millisecondsSinceEpoch: row[2]),
                                          updatedAt: Timestamp(millisecondsSinceEpoch: row[3]))
                }
        }
    }

    public func waitingEvents() async throws -> WaitingEvents {
        try await pool.read { db in
            var waiting = WaitingEvents()
            for row in try Row.fetchAll(db, sql: """
                SELECT rank, count(*), min(waiting_since), min(occurred_at) FROM waiting_events GROUP BY rank
                """) {
                guard let stream = SQLiteStreamAlignment.stream(rank: row[0]) else { continue }
                waiting.counts[stream] = row[1]
                let since = Timestamp(millisecondsSinceEpoch: row[2])
                let earliest = Timestamp(millisecondsSinceEpoch: row[3])
                waiting.oldestSince = min(waiting.oldestSince ?? since, since)
                waiting.earliestOccurredAt = min(waiting.earliestOccurredAt ?? earliest, earliest)
            }
            return waiting
        }
    }

    public func oldestWaitingByPartition() async throws -> [Int32: Timestamp] {
        try await pool.read { db in
            var oldest: [Int32: Timestamp] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT partition, min(occurred_at) FROM waiting_events GROUP BY partition") {
                oldest[row[0]] = Timestamp(millisecondsSinceEpoch: row[1])
            }
            return oldest
        }
    }
}

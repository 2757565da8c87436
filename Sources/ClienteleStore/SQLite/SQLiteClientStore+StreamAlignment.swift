import ClienteleDomain
import Foundation
import GRDB

/// Event time across the two input streams: each stream's completeness per partition, and the
/// events that wait in the store until the other stream is complete up to them.
enum SQLiteStreamAlignment {
    typealias Placed = PlacedEvent
    typealias Advance = WaitingQueue.Advance

    static func rank(_ stream: EventStream) -> Int { stream.rank }

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

        // Waiting events now due, per partition, oldest first (the two streams' queues merged);
        // the first one not due ends the run (readiness holds for everything before a ready key).
        var budget = batch.releaseLimit
        var firstKept: [Int32: EventTimeKey] = [:]
        let oldest = try db.cachedStatement(sql: """
            SELECT occurred_at, rank, sequence FROM waiting_events WHERE partition = ? AND rank = ?
            ORDER BY occurred_at, sequence, event_id LIMIT 1
            """)
        let candidates = try db.cachedStatement(sql: """
            SELECT occurred_at, rank, sequence, event_id, client_id, payload FROM waiting_events
            WHERE partition = ? AND rank = ? AND occurred_at <= ? ORDER BY occurred_at, sequence, event_id LIMIT ?
            """)
        let remove = try db.cachedStatement(sql: """
            DELETE FROM waiting_events WHERE partition = ? AND rank = ? AND (occurred_at, sequence, event_id) <= (?, ?, ?)
            """)
        let quarantine = try db.cachedStatement(sql: """
            INSERT INTO unreadable_waiting_events (event_id, rank, partition, client_id, payload, reason, found_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for partition in partitions {
            let heads = try EventStream.allCases.compactMap { stream in
                try Row.fetchOne(oldest, arguments: [partition, rank(stream)]).map(key)
            }
            guard let first = heads.min() else { continue }
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
            var rows: [WaitingQueue.Row] = []
            for stream in EventStream.allCases {
                for row in try Row.fetchAll(candidates, arguments: [partition, rank(stream), bound, budget + 1]) {
                    rows.append(WaitingQueue.Row(key: try key(row), eventId: row[3], clientId: row[4], payload: Array(row[5] as Data)))
                }
            }
            let release = WaitingQueue.release(rows, partition: partition, budget: &budget) { isReady($0, in: partition) }
            result.released += release.released
            result.moreDue = result.moreDue || release.moreDue
            if let kept = release.firstKept { firstKept[partition] = kept }
            for (row, reason) in release.unreadable {
                try quarantine.execute(arguments: [row.eventId, rank(row.key.stream), partition, row.clientId, Data(row.payload), reason, wallNow])
            }
            result.unreadable += release.unreadable.count
            for (stream, position) in release.lastTaken {
                try remove.execute(arguments: [partition, rank(stream), position.key.occurredAt.millisecondsSinceEpoch,
                                               position.key.sequence, position.eventId])
            }
        }

        for event in placed {
            result.place(event, firstKept: firstKept[event.partition], isReady: isReady(event.key, in: event.partition))
        }
        return result
    }

    /// Keeps events until their turn.
    static func wait(_ events: [Placed], since wallNow: Int64, in db: Database) throws {
        try SQLiteClientStore.insertRows(
            events, "INSERT INTO waiting_events (partition, rank, occurred_at, sequence, event_id, client_id, payload, waiting_since)",
            columns: 8, in: db
        ) { event in
            [event.partition, rank(event.key.stream), event.key.occurredAt.millisecondsSinceEpoch, event.key.sequence,
             event.event.eventId, event.event.clientId, Data(event.event.encoded), wallNow]
        }
    }

    /// A key from a row whose first columns are occurred_at, rank, sequence.
    private static func key(_ row: Row) throws -> EventTimeKey {
        let rankValue: Int = row[1]
        guard let stream = WaitingQueue.stream(rank: rankValue) else { throw StoreError(.corruptRow, "a waiting event has an unknown stream") }
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
            guard seen.count == partitions * EventStream.allCases.count, var frontier else { return nil }
            // Events already due may still wait for a next transaction (a release limit reached):
            // nothing at or after the oldest of them is complete yet.
            let oldest = try db.cachedStatement(sql: """
                SELECT occurred_at FROM waiting_events WHERE partition = ? AND rank = ? ORDER BY occurred_at LIMIT 1
                """)
            for partition in 0..<partitions {
                for stream in EventStream.allCases {
                    if let waiting = try Int64.fetchOne(oldest, arguments: [partition, stream.rank]) { frontier = min(frontier, waiting) }
                }
            }
            return Timestamp(millisecondsSinceEpoch: frontier)
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
                guard let stream = WaitingQueue.stream(rank: row[0]) else { continue }
                waiting.counts[stream] = row[1]
                let since = Timestamp(millisecondsSinceEpoch: row[2])
                let earliest = Timestamp(millisecondsSinceEpoch: row[3])
                waiting.oldestSince = min(waiting.oldestSince ?? since, since)
                waiting.earliestOccurredAt = min(waiting.earliestOccurredAt ?? earliest, earliest)
            }
            return waiting
        }
    }

    public func oldestWaitingByPartition(stream: EventStream) async throws -> [Int32: Timestamp] {
        try await pool.read { db in
            var oldest: [Int32: Timestamp] = [:]
            let partitions = try Int32.fetchAll(db, sql: "SELECT DISTINCT partition FROM stream_progress")
            let first = try db.cachedStatement(sql: """
                SELECT occurred_at FROM waiting_events WHERE partition = ? AND rank = ? ORDER BY occurred_at LIMIT 1
                """)
            for partition in partitions {
                if let time = try Int64.fetchOne(first, arguments: [partition, stream.rank]) {
                    oldest[partition] = Timestamp(millisecondsSinceEpoch: time)
                }
            }
            return oldest
        }
    }
}

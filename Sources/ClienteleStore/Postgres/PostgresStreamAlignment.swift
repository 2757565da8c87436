import ClienteleDomain
import NIOCore
import PostgresNIO

/// Event time across the two input streams on PostgreSQL: the same rules as
/// `SQLiteStreamAlignment`, with every partition's queue read in one statement.
struct PostgresStreamAlignment {
    let writer: PostgresBatchWriter

    typealias Advance = WaitingQueue.Advance

    /// Records the batch's completeness and splits its events (and the waiting ones) into due and
    /// waiting. The caller holds the partitions' locks.
    func advance(_ batch: InputBatch, fresh: [InputBatch.Entry], wallNow: Int64) async throws -> Advance {
        var result = Advance()
        let placed = fresh.map { PlacedEvent(key: $0.key, partition: $0.partition, event: $0.event) }
        let partitions = Set(batch.completeBefore.keys).union(fresh.map(\.partition)).sorted()
        guard !partitions.isEmpty else { return result }

        var progress: [EventStream: [Int32: Int64]] = [:]
        let rows = try await writer.run("""
            SELECT stream, partition, complete_before FROM stream_progress WHERE partition = ANY(\(partitions)::int4[])
            """)
        for try await (name, partition, complete) in rows.decode((String, Int32, Int64).self) {
            guard let stream = EventStream(rawValue: name) else { continue }
            progress[stream, default: [:]][partition] = complete
        }
        let before = progress[batch.stream] ?? [:]
        if !batch.completeBefore.isEmpty {
            let recorded = batch.completeBefore.keys.sorted()
            try await writer.run("""
                INSERT INTO stream_progress (stream, partition, complete_before, updated_at)
                SELECT \(batch.stream.rawValue), p, t, \(wallNow)
                FROM unnest(\(recorded)::int4[], \(recorded.map { batch.completeBefore[$0]!.millisecondsSinceEpoch })::int8[]) AS u(p, t)
                ON CONFLICT (stream, partition) DO UPDATE
                SET complete_before = greatest(stream_progress.complete_before, excluded.complete_before), updated_at = excluded.updated_at
                """)
            for (partition, time) in batch.completeBefore {
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

        // The head of each partition's two queues, in one statement.
        var heads: [Int32: [EventTimeKey]] = [:]
        let headRows = try await writer.run("""
            SELECT p, h.rank, h.occurred_at, h.sequence
            FROM unnest(\(partitions)::int4[]) AS p CROSS JOIN (VALUES (0), (1)) AS r(rank)
            CROSS JOIN LATERAL (
                SELECT rank, occurred_at, sequence FROM waiting_events w WHERE w.partition = p AND w.rank = r.rank
                ORDER BY occurred_at, sequence, event_id LIMIT 1) AS h
            """)
        for try await (partition, rank, occurredAt, sequence) in headRows.decode((Int32, Int32, Int64, Int64).self) {
            heads[partition, default: []].append(try Self.key(rank: rank, occurredAt: occurredAt, sequence: sequence))
        }
        guard !heads.isEmpty else {
            // Nothing waits: every fresh event is due when ready.
            for event in placed { result.place(event, firstKept: nil, isReady: isReady(event.key, in: event.partition)) }
            return result
        }

        // The waiting events that may be due (up to the least complete stream), for the partitions
        // whose first waiting event is ready, in one statement.
        var firstKept: [Int32: EventTimeKey] = [:]
        var readyPartitions: [Int32] = []
        var bounds: [Int64] = []
        for partition in partitions {
            guard let first = heads[partition]?.min() else { continue }
            guard isReady(first, in: partition) else {
                firstKept[partition] = first
                continue
            }
            readyPartitions.append(partition)
            bounds.append(batch.aligned ? EventStream.allCases.compactMap { progress[$0]?[partition] }.min() ?? Int64.min : Int64.max)
        }
        var candidates: [Int32: [WaitingQueue.Row]] = [:]
        if !readyPartitions.isEmpty {
            let rows = try await writer.run("""
                SELECT u.p, c.rank, c.occurred_at, c.sequence, c.event_id, c.client_id, c.payload
                FROM unnest(\(readyPartitions)::int4[], \(bounds)::int8[]) AS u(p, bound) CROSS JOIN (VALUES (0), (1)) AS r(rank)
                CROSS JOIN LATERAL (
                    SELECT rank, occurred_at, sequence, event_id, client_id, payload FROM waiting_events w
                    WHERE w.partition = u.p AND w.rank = r.rank AND w.occurred_at <= u.bound
                    ORDER BY occurred_at, sequence, event_id LIMIT \(Int64(batch.releaseLimit + 1))) AS c
                """)
            for try await (partition, rank, occurredAt, sequence, eventId, clientId, payload)
                in rows.decode((Int32, Int32, Int64, Int64, String, String, ByteBuffer).self) {
                candidates[partition, default: []].append(WaitingQueue.Row(
                    key: try Self.key(rank: rank, occurredAt: occurredAt, sequence: sequence), eventId: eventId, clientId: clientId,
                    payload: Array(payload.readableBytesView)))
            }
        }

        var budget = batch.releaseLimit
        var removals: [(partition: Int32, key: EventTimeKey, eventId: String)] = []
        var unreadable: [(row: WaitingQueue.Row, partition: Int32, reason: String)] = []
        for partition in readyPartitions {
            guard budget > 0 else {
                firstKept[partition] = heads[partition]?.min()
                result.moreDue = true
                continue
            }
            let release = WaitingQueue.release(candidates[partition] ?? [], partition: partition, budget: &budget) { isReady($0, in: partition) }
            result.released += release.released
            result.moreDue = result.moreDue || release.moreDue
            if let kept = release.firstKept { firstKept[partition] = kept }
            unreadable += release.unreadable.map { ($0.row, partition, $0.reason) }
            result.unreadable += release.unreadable.count
            for (_, position) in release.lastTaken { removals.append((partition, position.key, position.eventId)) }
        }
        if !unreadable.isEmpty {
            try await writer.run("""
                INSERT INTO unreadable_waiting_events (event_id, rank, partition, client_id, payload, reason, found_at)
                SELECT *, \(wallNow) FROM unnest(\(unreadable.map(\.row.eventId))::text[], \(unreadable.map { Int32($0.row.key.stream.rank) })::int4[],
                                                 \(unreadable.map(\.partition))::int4[], \(unreadable.map(\.row.clientId))::text[],
                                                 \(unreadable.map { PostgresRows.bytes($0.row.payload) })::bytea[], \(unreadable.map(\.reason))::text[])
                """)
        }
        if !removals.isEmpty {
            try await writer.run("""
                DELETE FROM waiting_events w
                USING unnest(\(removals.map(\.partition))::int4[], \(removals.map { Int32($0.key.stream.rank) })::int4[],
                             \(removals.map(\.key.occurredAt.millisecondsSinceEpoch))::int8[], \(removals.map(\.key.sequence))::int8[],
                             \(removals.map(\.eventId))::text[]) AS d(p, rank, occurred_at, sequence, event_id)
                WHERE w.partition = d.p AND w.rank = d.rank
                  AND (w.occurred_at, w.sequence, w.event_id) <= (d.occurred_at, d.sequence, d.event_id)
                """)
        }
        for event in placed { result.place(event, firstKept: firstKept[event.partition], isReady: isReady(event.key, in: event.partition)) }
        return result
    }

    /// Keeps events until their turn.
    func wait(_ events: [PlacedEvent], since wallNow: Int64) async throws {
        guard !events.isEmpty else { return }
        try await writer.run("""
            INSERT INTO waiting_events (partition, rank, occurred_at, sequence, event_id, client_id, payload, waiting_since)
            SELECT *, \(wallNow) FROM unnest(\(events.map(\.partition))::int4[], \(events.map { Int32($0.key.stream.rank) })::int4[],
                                             \(events.map(\.key.occurredAt.millisecondsSinceEpoch))::int8[], \(events.map(\.key.sequence))::int8[],
                                             \(events.map(\.event.eventId))::text[], \(events.map(\.event.clientId))::text[],
                                             \(events.map { PostgresRows.bytes($0.event.encoded) })::bytea[])
            """)
    }

    static func key(rank: Int32, occurredAt: Int64, sequence: Int64) throws -> EventTimeKey {
        guard let stream = WaitingQueue.stream(rank: Int(rank)) else {
            throw StoreError(.corruptRow, "a waiting event has an unknown stream")
        }
        return EventTimeKey(occurredAt: Timestamp(millisecondsSinceEpoch: occurredAt), stream: stream, sequence: sequence)
    }
}

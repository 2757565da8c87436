import ClienteleDomain
import Foundation
import GRDB

/// What the store remembers of its input: which events were accepted (per stream, with a keyed
/// fingerprint of their content) and which clients were erased (by keyed hash).
extension SQLiteClientStore {
    /// Among events whose id was seen before on this stream, those whose content differs from the
    /// first one's: not applied, and named with where the first was read.
    static func conflicts(
        among indices: [Int], of batch: InputBatch, fingerprints: [[UInt8]], key: DeploymentKey, in db: Database
    ) throws -> [ConflictingDuplicate] {
        var first: [String: IdempotencyRecords.FirstRecord] = [:]
        let ids = Array(Set(indices.map { batch.entries[$0].event.eventId }))
        try forEachChunk(of: ids) { chunk in
            let statement = try db.cachedStatement(sql: """
                SELECT event_id, content, source_partition, source_offset FROM processed_events
                WHERE stream = ? AND event_id IN (\(placeholders(chunk.count)))
                """)
            for row in try Row.fetchAll(statement, arguments: StatementArguments([batch.stream.rawValue] + Array(chunk))) {
                first[row[0]] = IdempotencyRecords.FirstRecord(content: Array(row[1] as Data), partition: row[2], offset: row[3])
            }
        }
        return IdempotencyRecords.conflicts(among: indices, of: batch, fingerprints: fingerprints, key: key, first: first)
    }

    /// The ids among `ids` recorded before records were kept per stream.
    static func recordedBeforeStreams(_ ids: [String], in db: Database) throws -> Set<String> {
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM processed_events_legacy)")) == true else { return [] }
        var found = Set<String>()
        try forEachChunk(of: ids) { chunk in
            let statement = try db.cachedStatement(sql:
                "SELECT event_id FROM processed_events_legacy WHERE event_id IN (\(placeholders(chunk.count)))")
            found.formUnion(try String.fetchAll(statement, arguments: StatementArguments(Array(chunk))))
        }
        return found
    }

    /// The ids among `clientIds` that belong to erased clients (matched by keyed hash).
    static func erasedClients(among clientIds: Set<String>, key: DeploymentKey, in db: Database) throws -> Set<String> {
        // Most stores have erased nobody, or nobody lately: skip hashing every id then.
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM erased_clients)")) == true else {
            return []
        }
        let byHash = Dictionary(clientIds.map { (key.erasureHash(of: $0), $0) }, uniquingKeysWith: { first, _ in first })
        var erased = Set<String>()
        try forEachChunk(of: Array(byHash.keys)) { chunk in
            let statement = try db.cachedStatement(sql:
                "SELECT client_hash FROM erased_clients WHERE client_hash IN (\(placeholders(chunk.count)))")
            for hash in try String.fetchAll(statement, arguments: StatementArguments(chunk)) {
                if let id = byHash[hash] { erased.insert(id) }
            }
        }
        return erased
    }

    /// Removes every row that holds an erased client's id, remembers only the id's keyed hash, and
    /// queues a tombstone for `client-status` (after any of their messages still unpublished,
    /// which are dropped).
    static func erase(_ erasures: [BatchReduction.Erasure], key: DeploymentKey, in db: Database) throws {
        for erasure in erasures {
            let id = erasure.clientId
            for table in ["clients", "tasks", "suppressed_tasks", "status_changes", "purchase_days"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE client_id = ?", arguments: [id])
            }
            try db.execute(sql: "DELETE FROM outbox WHERE message_key = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM waiting_events WHERE client_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM unreadable_waiting_events WHERE client_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM converted_purchases WHERE client_id = ?", arguments: [id])
            try db.execute(sql: """
                INSERT INTO erased_clients (client_hash, erased_at, keyed) VALUES (?, ?, 1)
                ON CONFLICT (client_hash) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at), keyed = 1
                """, arguments: [key.erasureHash(of: id), erasure.at.millisecondsSinceEpoch])
            try db.execute(sql: "INSERT INTO outbox (topic, message_key, payload, message_id, written_at) VALUES (?, ?, NULL, ?, ?)",
                           arguments: [OutputTopic.clientStatus, id, StableID.make("tombstone", id, erasure.causedBy),
                                       Int64(Date().timeIntervalSince1970 * 1000)])
        }
    }

    public func expireEventRecords(occurredBefore: Timestamp, resumingAfter cursor: String?, limit: Int) async throws -> EventRecordExpiry {
        // Read without the write lock, in key order; only the old records found are deleted, in one
        // short write (no index on the event time: it would cost every insert).
        let separator: Character = "\u{1F}"
        let start = cursor.map { $0.split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false).map(String.init) }
        let before = occurredBefore.millisecondsSinceEpoch
        let (old, last, count) = try await pool.read { db -> ([(String, String)], (String, String)?, Int) in
            let rows: [Row]
            if let start, start.count == 2 {
                rows = try Row.fetchAll(db, sql: """
                    SELECT stream, event_id, occurred_at FROM processed_events WHERE (stream, event_id) > (?, ?) ORDER BY stream, event_id LIMIT ?
                    """, arguments: [start[0], start[1], limit])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT stream, event_id, occurred_at FROM processed_events ORDER BY stream, event_id LIMIT ?",
                                        arguments: [limit])
            }
            let old = rows.filter { ($0[2] as Int64) < before }.map { ($0[0] as String, $0[1] as String) }
            return (old, rows.last.map { ($0[0] as String, $0[1] as String) }, rows.count)
        }
        if !old.isEmpty {
            try await pool.write { db in
                let statement = try db.cachedStatement(sql: "DELETE FROM processed_events WHERE stream = ? AND event_id = ? AND occurred_at < ?")
                for (stream, id) in old { try statement.execute(arguments: [stream, id, before]) }
            }
        }
        let resume = count == limit ? last.map { "\($0.0)\(separator)\($0.1)" } : nil
        return EventRecordExpiry(removed: old.count, resumeAfter: resume)
    }
}

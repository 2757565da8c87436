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
            try db.execute(sql: "INSERT INTO outbox (topic, message_key, payload, message_id) VALUES (?, ?, NULL, ?)",
                           arguments: [OutputTopic.clientStatus, id, StableID.make("tombstone", id, erasure.causedBy)])
        }
    }
}

import ClienteleDomain
import Foundation
import GRDB

/// The outbox relay's side of the store: one lease holder publishes, in order per client.
extension SQLiteClientStore {
    public func acquireRelayLease(holder: String, for duration: Duration) async throws -> Bool {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let expires = now + duration.components.seconds * 1000
        return try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO relay_lease (name, holder, expires_at) VALUES ('outbox', ?, ?)
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE relay_lease.holder = excluded.holder OR relay_lease.expires_at < ?
                """, arguments: [holder, expires, now])
            return db.changesCount == 1
        }
    }

    public func releaseRelayLease(holder: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM relay_lease WHERE name = 'outbox' AND holder = ?", arguments: [holder])
        }
    }

    /// Every 5 ms: a look is a read of the WAL index in shared memory and a B-tree page or two, no
    /// I/O — so the other worker's outputs (either worker may hold the relay lease) leave, and
    /// events waiting for an idle stream are released, within 5 ms instead of 50 or 100.
    public var pollInterval: Duration { .milliseconds(5) }

    public func pendingOutbox(limit: Int) async throws -> [OutboxMessage] {
        try await pool.read { db in
            let statement = try db.cachedStatement(sql:
                "SELECT id, topic, message_key, payload, message_id FROM outbox ORDER BY id LIMIT ?")
            // Read through the C API (the relay reads every message once): no per-value generic
            // decoding, and the payload copied once instead of through `Data`.
            var messages: [OutboxMessage] = []
            try SQLiteColumns.forEachRow(of: statement, arguments: [limit]) { columns in
                guard let id = columns.integer(0), let topic = columns.text(1), let key = columns.text(2),
                      let messageId = columns.text(4) else {
                    throw StoreError(.corruptRow, "an outbox row lacks its id, topic, key or message id")
                }
                messages.append(OutboxMessage(id: id, topic: topic, key: key, payload: columns.bytes(3), messageId: messageId))
            }
            return messages
        }
    }

    public func outboxBacklog() async throws -> OutboxBacklog {
        try await pool.read { db in
            // Two primary-key lookups, not a scan: the monitor asks every few seconds, and the
            // outbox is largest exactly when asking matters (Kafka down).
            let ends = try Row.fetchOne(db, sql: "SELECT min(id), max(id) FROM outbox")
            guard let low: Int64 = ends?[0], let high: Int64 = ends?[1] else { return OutboxBacklog(pending: 0, oldestWrittenAt: nil) }
            let span = Int(high - low + 1)
            let pending = span <= OutboxBacklog.exactCountUpTo
                ? try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox WHERE id BETWEEN ? AND ?", arguments: [low, high]) ?? 0 : span
            let writtenAt = try Int64.fetchOne(db, sql: "SELECT written_at FROM outbox WHERE id = ?", arguments: [low])
            return OutboxBacklog(pending: pending, oldestWrittenAt: writtenAt.flatMap { $0 > 0 ? Timestamp(millisecondsSinceEpoch: $0) : nil })
        }
    }

    public func markPublished(_ ids: [Int64]) async throws {
        guard let low = ids.min(), let high = ids.max() else { return }
        let publishedTombstones = try await pool.write { db in
            let tombstones = try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox WHERE id BETWEEN ? AND ? AND payload IS NULL",
                                              arguments: [low, high]) ?? 0
            if high - low + 1 == Int64(ids.count) {
                // A contiguous run (the usual case: the relay reads rows in id order): one statement.
                try db.execute(sql: "DELETE FROM outbox WHERE id BETWEEN ? AND ?", arguments: [low, high])
            } else {
                let delete = try db.cachedStatement(sql: "DELETE FROM outbox WHERE id = ?")
                for id in ids { try delete.execute(arguments: [id]) }
            }
            return tombstones > 0
        }
        // An erased client's id was in the outbox until now: flush the WAL into the (zeroed)
        // main file and truncate it, so no copy of the id is left in either file.
        if publishedTombstones { try await purgeWriteAheadLog() }
    }
}

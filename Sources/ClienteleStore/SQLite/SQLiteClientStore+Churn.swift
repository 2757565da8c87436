import ClienteleDomain
import Foundation
import GRDB

/// Churn reviews: the due-client sweep, rescheduling, the event clock and the workers' settings.
extension SQLiteClientStore {
    public func reviewDueClients(
        now: Timestamp, limit: Int,
        review: @escaping @Sendable (inout ClientState, [FollowUpTask.Kind: Timestamp]) -> [ClientEffect]
    ) async throws -> ReviewOutcome {
        // Most sweeps find nobody due: a read answers that without taking the write lock.
        let anyDue = try await pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM clients WHERE next_review_at <= ?)",
                              arguments: [now.millisecondsSinceEpoch]) ?? false
        }
        guard anyDue else { return ReviewOutcome() }
        return try await immediateTransaction { db in
            var due = try Self.loadClients(
                db.cachedStatement(sql: "SELECT \(ClientRows.columns) FROM clients WHERE next_review_at <= ? ORDER BY next_review_at LIMIT ?"),
                arguments: [now.millisecondsSinceEpoch, limit])
            guard !due.isEmpty else { return ReviewOutcome() }
            let lastTasks = try Self.newestTasks(of: due.map(\.clientId), in: db)
            var effects: [ClientEffect] = []
            for index in due.indices {
                effects += review(&due[index], lastTasks[due[index].clientId] ?? [:])
            }
            try Self.updateReviewed(due, in: db)
            var batch = BatchOutcome()
            try Self.write(EffectRows(effects), in: db, outcome: &batch)
            return ReviewOutcome(reviewed: due.count, wrote: batch)
        }
    }

    /// A review changes the status and the next review time only.
    static func updateReviewed(_ clients: [ClientState], in db: Database) throws {
        try updateColumns(["status", "status_changed_at", "next_review_at"], of: clients.map { client in
            (client.clientId, [client.status?.rawValue, client.statusChangedAt?.millisecondsSinceEpoch,
                               client.nextReviewAt?.millisecondsSinceEpoch])
        }, in: db)
    }

    /// Sets `columns` of existing clients (a multi-row upsert whose insert never happens: the
    /// other columns keep their values).
    static func updateColumns(
        _ columns: [String], of rows: [(clientId: String, values: [(any DatabaseValueConvertible)?])], in db: Database
    ) throws {
        try insertRows(
            rows, "INSERT INTO clients (client_id, \(columns.joined(separator: ", ")))", columns: columns.count + 1,
            suffix: "ON CONFLICT (client_id) DO UPDATE SET " + columns.map { "\($0) = excluded.\($0)" }.joined(separator: ", "),
            in: db) { [$0.clientId] + $0.values }
    }

    /// The newest task of each kind per client, sent or suppressed (what a cooldown counts).
    static func newestTasks(of clientIds: [String], in db: Database) throws -> [String: [FollowUpTask.Kind: Timestamp]] {
        var newest: [String: [FollowUpTask.Kind: Timestamp]] = [:]
        try forEachChunk(of: clientIds) { chunk in
            let list = placeholders(chunk.count)
            let statement = try db.cachedStatement(sql: """
                SELECT client_id, kind, max(created_at) FROM tasks WHERE client_id IN (\(list)) GROUP BY client_id, kind
                UNION ALL
                SELECT client_id, kind, max(created_at) FROM suppressed_tasks WHERE client_id IN (\(list)) GROUP BY client_id, kind
                """)
            var bindings = SQLiteBindings(statement)
            for _ in 0..<2 { for id in chunk { bindings.text(id) } }
            try SQLiteColumns.forEachRow(of: statement) { columns in
                guard let clientId = columns.text(0), let kind = columns.text(1).flatMap(FollowUpTask.Kind.init(rawValue:)),
                      let milliseconds = columns.integer(2) else { return }
                let at = Timestamp(millisecondsSinceEpoch: milliseconds)
                newest[clientId, default: [:]][kind] = max(newest[clientId]?[kind] ?? at, at)
            }
        }
        return newest
    }

    public func rescheduleReviews(
        _ pass: ReschedulePass, limit: Int, schedule: @escaping @Sendable (ClientState) -> Timestamp?
    ) async throws -> RescheduleProgress {
        // One writer at a time: the immediate transaction is the claim on the pass's cursor.
        try await immediateTransaction { db in
            let setting = "SELECT value FROM settings WHERE name = ?"
            if try String.fetchOne(db, sql: setting, arguments: [pass.completedSetting]) == pass.id {
                return RescheduleProgress(clients: 0, finished: true)
            }
            let cursor = try String.fetchOne(db, sql: setting, arguments: [pass.cursorSetting]) ?? ""
            // The chunk's last client, unless fewer than `limit` are left (the pass's last chunk).
            let last = try String.fetchOne(
                db, sql: "SELECT client_id FROM clients WHERE client_id > ? ORDER BY client_id LIMIT 1 OFFSET ?",
                arguments: [cursor, limit - 1])
            if last != nil {
                // A pass longer than one chunk moves nearly every client's review time: kept in
                // the index, each chunk's commit rewrote most of its pages (at 1,000,000 clients,
                // far more than the rows themselves). The index is dropped until the pass ends;
                // the sweep meanwhile reads the table, slower but the same answer.
                try db.execute(sql: "DROP INDEX IF EXISTS \(SQLiteSchema.reviewIndex)")
            }
            // The schedule runs inside one range UPDATE, as an SQL function of the row: each row
            // is read and rewritten where the scan stands, instead of being read into a list and
            // then looked up again by id to be written (README, "Rescheduling after a new model").
            let update = "UPDATE clients SET next_review_at = \(Self.reviewTimeFunction)(\(ClientRows.columns)) WHERE client_id > ?"
            let upsert = "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            return try SQLiteRowFunction.with(Self.reviewTimeFunction, argumentCount: ClientRows.columnCount, on: db, body: { row in
                try schedule(ClientRows.state(from: row))?.millisecondsSinceEpoch
            }) {
                guard let last else {
                    try db.execute(sql: update, arguments: [cursor])
                    let clients = db.changesCount
                    // The pass's last chunk builds the review index again (one sort of the column).
                    try db.execute(sql: SQLiteSchema.createReviewIndex)
                    try db.execute(sql: upsert, arguments: [pass.completedSetting, pass.id])
                    try db.execute(sql: "DELETE FROM settings WHERE substr(name, 1, length(?)) = ?", arguments: [pass.cursorPrefix, pass.cursorPrefix])
                    return RescheduleProgress(clients: clients, finished: true)
                }
                try db.execute(sql: update + " AND client_id <= ?", arguments: [cursor, last])
                let clients = db.changesCount
                try db.execute(sql: upsert, arguments: [pass.cursorSetting, last])
                return RescheduleProgress(clients: clients, finished: false)
            }
        }
    }

    /// The SQL function a rescheduling chunk computes review times with (on its own connection,
    /// for the chunk's statement only).
    private static let reviewTimeFunction = "clientele_review_time"

    public func eventClock(idleAfter: Duration) async throws -> Timestamp? {
        let idle = idleAfter.components.seconds * 1000 + idleAfter.components.attoseconds / 1_000_000_000_000_000
        return try await pool.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT min(newest_at) FROM event_clock WHERE updated_at >= (SELECT max(updated_at) FROM event_clock) - ?
                """, arguments: [idle]).map(Timestamp.init(millisecondsSinceEpoch:))
        }
    }

    public func newestEventTime() async throws -> Timestamp? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT max(newest_at) FROM event_clock").map(Timestamp.init(millisecondsSinceEpoch:))
        }
    }

    public func dueReviewCount(at now: Timestamp) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM clients WHERE next_review_at <= ?", arguments: [now.millisecondsSinceEpoch]) ?? 0
        }
    }

    public func setting(_ name: String) async throws -> String? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE name = ?", arguments: [name]) }
    }

    public func setSetting(_ name: String, to value: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                           arguments: [name, value])
        }
    }
}

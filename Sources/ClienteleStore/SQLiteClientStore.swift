import ClienteleDomain
import Foundation
import GRDB

/// The embedded store: one SQLite file in WAL mode, shared by every worker process on the host.
///
/// Writes run in `BEGIN IMMEDIATE` transactions, so two processes updating the same client
/// serialize on SQLite's write lock instead of losing an update; a writer waits up to
/// `busyTimeout` for the lock.
public final class SQLiteClientStore: ClientStore {
    private let pool: DatabasePool
    /// The file's path.
    public let path: String

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, options: DatabaseURL.SQLiteOptions = .init(), busyTimeout: Double = 30) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        let synchronous = options.synchronous == "normal" ? "NORMAL" : "FULL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Freed pages are zeroed, so erased personal data does not linger in the file.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool)
        } catch {
            throw StoreError(.unavailable, "cannot open the SQLite database at '\(path)': \(Self.describe(error))")
        }
        self.path = path
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "")"
        }
        return "\(error)"
    }

    public func apply<Event: ClientEvent>(
        _ events: [Event], reducer: @escaping @Sendable (Event, inout ClientState) -> [ClientEffect]
    ) async throws -> BatchOutcome {
        guard !events.isEmpty else { return BatchOutcome() }
        return try await pool.writeWithoutTransaction { db in
            var outcome = BatchOutcome()
            try db.inTransaction(.immediate) {
                outcome = try Self.apply(events, reducer: reducer, in: db)
                return .commit
            }
            return outcome
        }
    }

    private static func apply<Event: ClientEvent>(
        _ events: [Event], reducer: (Event, inout ClientState) -> [ClientEffect], in db: Database
    ) throws -> BatchOutcome {
        var outcome = BatchOutcome()
        let markProcessed = try db.cachedStatement(sql:
            "INSERT OR IGNORE INTO processed_events (event_id, client_id, occurred_at) VALUES (?, ?, ?)")
        var fresh: [Event] = []
        fresh.reserveCapacity(events.count)
        for event in events {
            try markProcessed.execute(arguments: [event.eventId, event.clientId, event.occurredAt.millisecondsSinceEpoch])
            if db.changesCount == 1 { fresh.append(event) } else { outcome.duplicates += 1 }
        }
        outcome.accepted = fresh.count
        guard !fresh.isEmpty else { return outcome }

        var clients: [String: ClientState] = [:]
        let load = try db.cachedStatement(sql: "SELECT * FROM clients WHERE client_id = ?")
        var effects: [ClientEffect] = []
        for event in fresh {
            if clients[event.clientId] == nil {
                if let row = try Row.fetchOne(load, arguments: [event.clientId]) {
                    clients[event.clientId] = try ClientRows.state(from: row)
                } else {
                    clients[event.clientId] = ClientState(clientId: event.clientId)
                }
            }
            effects += reducer(event, &clients[event.clientId]!)
        }

        let save = try db.cachedStatement(sql: ClientRows.upsertSQL)
        for state in clients.values {
            try save.execute(arguments: ClientRows.arguments(for: state))
        }
        try write(effects, in: db, outcome: &outcome)
        return outcome
    }

    private static func write(_ effects: [ClientEffect], in db: Database, outcome: inout BatchOutcome) throws {
        let insertTask = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO tasks (task_id, client_id, kind, priority, due_at, created_at, reason, caused_by)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertStatus = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO status_changes
                (event_id, client_id, status, previous_status, changed_at, reason, caused_by, purchase_count)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let enqueue = try db.cachedStatement(sql:
            "INSERT INTO outbox (topic, message_key, payload, message_id) VALUES (?, ?, ?, ?)")
        for effect in effects {
            switch effect {
            case .statusChanged(let change):
                try insertStatus.execute(arguments: [
                    change.eventId, change.clientId, change.status.rawValue, change.previousStatus?.rawValue,
                    change.changedAt.millisecondsSinceEpoch, change.reason, change.causedBy, change.purchaseCount,
                ])
                guard db.changesCount == 1 else { continue }
                outcome.statusChanges += 1
                try enqueue.execute(arguments: [OutputTopic.clientStatus, change.clientId, Data(change.payload), change.eventId])
            case .task(let task):
                try insertTask.execute(arguments: [
                    task.taskId, task.clientId, task.kind.rawValue, task.priority.rawValue,
                    task.dueAt.millisecondsSinceEpoch, task.createdAt.millisecondsSinceEpoch, task.reason, task.causedBy,
                ])
                // A task id seen before (same cause) is not sent again.
                guard db.changesCount == 1 else { continue }
                outcome.tasks += 1
                try enqueue.execute(arguments: [OutputTopic.followUpTasks, task.clientId, Data(task.payload), task.taskId])
            }
        }
    }

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

    public func pendingOutbox(limit: Int) async throws -> [OutboxMessage] {
        try await pool.read { db in
            let statement = try db.cachedStatement(sql:
                "SELECT id, topic, message_key, payload, message_id FROM outbox ORDER BY id LIMIT ?")
            return try Row.fetchAll(statement, arguments: [limit]).map { row in
                OutboxMessage(
                    id: row[0], topic: row[1], key: row[2],
                    payload: (row[3] as Data?).map { Array($0) }, messageId: row[4])
            }
        }
    }

    public func markPublished(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await pool.write { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM outbox WHERE id = ?")
            for id in ids { try delete.execute(arguments: [id]) }
        }
    }

    public func client(id: String, recent: Int) async throws -> ClientView? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM clients WHERE client_id = ?", arguments: [id]) else {
                return nil
            }
            let state = try ClientRows.state(from: row)
            let tasks = try Row.fetchAll(db, sql: """
                SELECT * FROM tasks WHERE client_id = ? ORDER BY created_at DESC, task_id LIMIT ?
                """, arguments: [id, recent]).map(ClientRows.task(from:))
            let changes = try Row.fetchAll(db, sql: """
                SELECT * FROM status_changes WHERE client_id = ? ORDER BY changed_at DESC, event_id LIMIT ?
                """, arguments: [id, recent]).map(ClientRows.statusChange(from:))
            return ClientView(state: state, recentTasks: tasks, recentStatusChanges: changes)
        }
    }

    public func summary() async throws -> StoreSummary {
        try await pool.read { db in
            var byStatus: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT coalesce(status, 'none'), count(*) FROM clients GROUP BY 1") {
                byStatus[row[0]] = row[1]
            }
            var byKind: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, count(*) FROM tasks GROUP BY kind") {
                byKind[row[0]] = row[1]
            }
            return StoreSummary(
                clients: try Int.fetchOne(db, sql: "SELECT count(*) FROM clients") ?? 0,
                clientsByStatus: byStatus, tasksByKind: byKind,
                acceptedEvents: try Int.fetchOne(db, sql: "SELECT count(*) FROM processed_events") ?? 0,
                outboxBacklog: try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? 0,
                totalPurchases: try Int.fetchOne(db, sql: "SELECT coalesce(sum(purchase_count), 0) FROM clients") ?? 0,
                statusChanges: try Int.fetchOne(db, sql: "SELECT count(*) FROM status_changes") ?? 0)
        }
    }
}

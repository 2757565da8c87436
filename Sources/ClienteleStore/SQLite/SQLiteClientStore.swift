import ClienteleDomain
import Foundation
import GRDB

/// The embedded store: one SQLite file in WAL mode, shared by every worker process on the host.
///
/// Writes run in `BEGIN IMMEDIATE` transactions, so two processes updating the same client
/// serialize on SQLite's write lock instead of losing an update; a writer waits up to
/// `busyTimeout` for the lock.
public final class SQLiteClientStore: ClientStore {
    let pool: DatabasePool
    /// A connection of its own for WAL checkpoints, which then run beside the writer.
    private let checkpointer: DatabaseQueue
    /// The file's path.
    public let path: String
    /// The deployment key (nil for a read-only look).
    let key: DeploymentKey?
    /// The key file this open created (beside the store), for the caller to tell the operator.
    public let createdKeyFile: String?
    /// Whether records of events accepted before version 7 (ids without their stream) exist.
    let hasLegacyEventRecords: Bool


    /// Opens (creating if needed) and migrates the database at `path`, with the deployment key
    /// from `key` (by default a file beside the database, created by the first process).
    public init(path: String, options: DatabaseURL.SQLiteOptions = .init(), busyTimeout: Double = 30,
                key source: DeploymentKeySource = .besideStore) throws {
        var configuration = Configuration()
        configuration.busyMode = SQLiteBusyWait.mode(timeout: busyTimeout)
        let synchronous = options.synchronous == "normal" ? "NORMAL" : "FULL"
        configuration.prepareDatabase { db in
            // 2 KiB pages for a new file (an existing one keeps its size): most writes land on
            // random pages of large tables (one client here, one there), and every dirty page is
            // written whole to the WAL, so smaller pages write less per change. Measured: a churn
            // sweep of 10,000 of 1,000,000 clients 18–25% faster than with 4 KiB, the purchase path
            // within 5%.
            try db.execute(sql: "PRAGMA page_size = 2048")
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Freed pages are zeroed, so erased personal data does not linger in the file.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // The writer's page cache holds the hot client pages (64 MiB). Readers (the outbox
            // relay, `/metrics`, `client show`) look at a few pages each: a large cache on each of
            // them only keeps, per connection, whatever it last read — measured, up to 64 MiB each
            // while the relay read a large outbox, 600 MiB peak for the worker.
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -2048" : "PRAGMA cache_size = -65536")
            // Checkpoints run on their own connection (``performMaintenance()``), so a commit does
            // not copy the WAL into the main file; this only bounds the WAL (1 GiB) when nothing
            // calls it.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 262144")
        }
        var checkpointing = Configuration()
        checkpointing.busyMode = SQLiteBusyWait.mode(timeout: busyTimeout)
        checkpointing.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        do {
            (pool, checkpointer, hasLegacyEventRecords) = try Self.open(
                path: path, configuration: configuration, checkpointing: checkpointing, busyTimeout: busyTimeout)
        } catch {
            throw StoreError(.unavailable, "cannot open the SQLite database at '\(path)': \(Self.describe(error))")
        }
        self.path = path
        switch source {
        case .file(let file): (key, createdKeyFile) = (try DeploymentKey.read(file: file), nil)
        case .key(let given): (key, createdKeyFile) = (given, nil)
        case .none: (key, createdKeyFile) = (nil, nil)
        case .besideStore:
            let (found, created) = try DeploymentKey.readOrCreate(file: path + ".key")
            (key, createdKeyFile) = (found, created ? path + ".key" : nil)
        }
        if let key { try adopt(key) }
    }

    /// Checks `key` is the one the store's keyed hashes were made with (recording it on a new
    /// store), and re-keys erasure records written before keys existed.
    private func adopt(_ key: DeploymentKey) throws {
        do {
            try pool.write { db in
                let stored = try String.fetchOne(db, sql: "SELECT value FROM settings WHERE name = ?", arguments: [DeploymentKey.identitySetting])
                if let stored, stored != key.identity {
                    throw StoreError(.invalidKey, """
                        this store's keyed records were made with another deployment key (identity \(stored), given \(key.identity)): \
                        give every worker the same CLIENTELE_ERASURE_KEY_FILE
                        """)
                }
                if stored == nil {
                    try db.execute(sql: "INSERT INTO settings (name, value) VALUES (?, ?)", arguments: [DeploymentKey.identitySetting, key.identity])
                }
                // A plain SHA-256 of an id is a pseudonym, not an erasure: keep only its keyed hash.
                for legacy in try String.fetchAll(db, sql: "SELECT client_hash FROM erased_clients WHERE keyed = 0") {
                    try db.execute(sql: "DELETE FROM erased_clients WHERE client_hash = ?", arguments: [legacy])
                    try db.execute(sql: """
                        INSERT INTO erased_clients (client_hash, erased_at, keyed) VALUES (?, 0, 1)
                        ON CONFLICT (client_hash) DO UPDATE SET keyed = 1
                        """, arguments: [key.hash(legacy)])
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, "cannot record the deployment key in '\(path)': \(Self.describe(error))")
        }
    }

    /// Opens the file's connections and migrates it. Another process opening the same file at the
    /// same moment (the other worker, on a fresh file, switching it to WAL or migrating) can make
    /// an opening step answer "database is locked" without waiting for the busy timeout: the whole
    /// opening is tried again until `busyTimeout` has passed, as any other busy wait.
    private static func open(
        path: String, configuration: Configuration, checkpointing: Configuration, busyTimeout: Double
    ) throws -> (DatabasePool, DatabaseQueue, Bool) {
        let deadline = Date().addingTimeInterval(busyTimeout)
        while true {
            do {
                let pool = try DatabasePool(path: path, configuration: configuration)
                try migrate(pool)
                // A rescheduling pass interrupted before its end left the review index dropped:
                // the sweep answers without it, only slower, until this or the pass builds it.
                let indexed = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?)"
                if try pool.read({ try Bool.fetchOne($0, sql: indexed, arguments: [SQLiteSchema.reviewIndex]) != true }) {
                    try pool.write { try $0.execute(sql: SQLiteSchema.createReviewIndex) }
                }
                let checkpointer = try DatabaseQueue(path: path, configuration: checkpointing)
                let legacy = try pool.read { db in try db.tableExists("processed_events_legacy") }
                return (pool, checkpointer, legacy)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && Date() < deadline {
                usleep(50_000)
            }
        }
    }

    /// Migrates, tolerating another process (the other worker, started at the same moment on a
    /// fresh file) that migrates at the same time: each migration runs in its own transaction, so
    /// a loser's attempt rolls back, and the schema it finds afterwards is complete.
    private static func migrate(_ pool: DatabasePool) throws {
        let migrator = SQLiteSchema.migrator
        var attempt = 0
        while true {
            do {
                try migrator.migrate(pool)
                return
            } catch {
                attempt += 1
                if try pool.read({ try migrator.hasCompletedMigrations($0) }) { return }
                guard attempt < 5 else { throw error }
                usleep(useconds_t(50_000 * attempt))
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "")"
        }
        return "\(error)"
    }

    public func apply(_ batch: InputBatch, rules: ClientRules) async throws -> BatchOutcome {
        guard !batch.entries.isEmpty || !batch.completeBefore.isEmpty else { return BatchOutcome() }
        let wallNow = Self.wallClock()
        guard let key else { throw StoreError(.invalidKey, "the store was opened without the deployment key: it cannot apply events") }
        let legacy = hasLegacyEventRecords
        return try await immediateTransaction { db in
            try Self.advanceEventClock(batch.newestEventTimes, in: db)
            return try Self.apply(batch, rules: rules, key: key, legacyRecords: legacy, wallNow: wallNow, in: db)
        }
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction (the write lock taken up front, so two
    /// processes never both read a row and then both write it).
    func immediateTransaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    static func wallClock() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private static func advanceEventClock(_ times: [String: Timestamp], in db: Database) throws {
        guard !times.isEmpty else { return }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO event_clock (source, newest_at, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (source) DO UPDATE SET newest_at = max(newest_at, excluded.newest_at), updated_at = excluded.updated_at
            """)
        let wall = wallClock()
        for (source, time) in times { try statement.execute(arguments: [source, time.millisecondsSinceEpoch, wall]) }
    }

    /// Rows per multi-row statement (a power of two, see ``forEachChunk(of:_:)``): few statements
    /// per batch, well under SQLite's variable limit.
    static let rowsPerStatement = 256

    private static func apply(
        _ batch: InputBatch, rules: ClientRules, key: DeploymentKey, legacyRecords: Bool, wallNow: Int64, in db: Database
    ) throws -> BatchOutcome {
        var outcome = BatchOutcome()
        // 1. Idempotency records, per stream, with a keyed fingerprint of the content: the ids
        //    returned are the events never seen before; another event under a seen id is a conflict.
        let fingerprints = key.contentFingerprints(of: batch.entries.lazy.map(\.event))
        let stream = batch.stream.rawValue
        let inserted = Set(try insertRowsReturningIds(
            Array(batch.entries.indices), "INSERT INTO processed_events (stream, event_id, content, source_partition, source_offset, occurred_at)",
            columns: 6, suffix: "ON CONFLICT DO NOTHING RETURNING event_id", in: db
        ) { index, row in
            let entry = batch.entries[index]
            row.text(stream)
            row.text(entry.event.eventId)
            row.blob(fingerprints[index])
            row.integer(entry.partition)
            row.integer(entry.offset)
            row.integer(entry.event.occurredAt.millisecondsSinceEpoch)
        })
        let split = IdempotencyRecords.split(batch, inserted: inserted)
        var fresh = split.fresh
        let seenBefore = split.seenBefore
        if !seenBefore.isEmpty {
            outcome.conflicts = try conflicts(among: seenBefore, of: batch, fingerprints: fingerprints, key: key, in: db)
        }
        if legacyRecords, !fresh.isEmpty {
            // Accepted before ids were kept per stream: a duplicate, whichever stream it came from.
            let legacy = try recordedBeforeStreams(fresh.map(\.event.eventId), in: db)
            if !legacy.isEmpty { fresh.removeAll { legacy.contains($0.event.eventId) } }
        }
        outcome.accepted = fresh.count
        outcome.duplicates = batch.entries.count - fresh.count - outcome.conflicts.count

        // 2. The stream's completeness; which events are due now, which wait.
        let alignment = try SQLiteStreamAlignment.advance(batch, fresh: fresh, wallNow: wallNow, in: db)
        outcome.late = alignment.late
        outcome.released = alignment.released.count
        outcome.moreDue = alignment.moreDue
        outcome.unreadableWaiting = alignment.unreadable
        var due = alignment.dueFresh + alignment.released
        var waiting = alignment.waiting
        guard !due.isEmpty || !waiting.isEmpty else { return outcome }

        // 3. Erased clients stay erased: their events are ignored (and never wait).
        let erased = try erasedClients(among: Set(due.map(\.event.clientId) + waiting.map(\.event.clientId)), key: key, in: db)
        if !erased.isEmpty {
            let before = due.count + waiting.count
            due.removeAll { erased.contains($0.event.clientId) }
            waiting.removeAll { erased.contains($0.event.clientId) }
            outcome.ignoredForErasedClients += before - due.count - waiting.count
        }
        try SQLiteStreamAlignment.wait(waiting, since: wallNow, in: db)
        outcome.held = waiting.count
        guard !due.isEmpty else { return outcome }
        due.sort { $0.key < $1.key }

        // 4. Load the clients concerned, apply the events in event-time order.
        let clientIds = Array(Set(due.map(\.event.clientId)))
        // Room for every client of the batch, new ones included: the map never grows (a
        // ClientState is large, and each doubling copies every one).
        var clients: [String: ClientState] = Dictionary(minimumCapacity: clientIds.count)
        try forEachChunk(of: clientIds) { chunk in
            let statement = try db.cachedStatement(sql:
                "SELECT \(ClientRows.columns) FROM clients WHERE client_id IN (\(placeholders(chunk.count)))")
            var bindings = SQLiteBindings(statement)
            for id in chunk { bindings.text(id) }
            try SQLiteColumns.forEachClient(of: statement) { clients[$0.clientId] = $0 }
        }
        // The newest task of each kind, for cooldowns: loaded at once for the clients whose stored
        // review time falls before one of their events here, later (once) for any other.
        let reviewedSoon = BatchReduction.reviewedSoon(clients, by: due)
        let lastTasks = reviewedSoon.isEmpty ? [:] : try newestTasks(of: reviewedSoon, in: db)
        let knownDay = try db.cachedStatement(sql: "SELECT 1 FROM purchase_days WHERE day = ? AND client_id = ?")
        // Handed over, not shared: the reduction's first write would otherwise copy every client.
        var reduction = BatchReduction(clients: consume clients, erased: erased)
        try reduction.run(
            due, rules: rules, lastTasks: lastTasks, tasksLoaded: Set(reviewedSoon),
            storedTasks: { clientId in try newestTasks(of: [clientId], in: db)[clientId] ?? [:] },
            knownDay: { clientId, day in try Int.fetchOne(knownDay, arguments: [day, clientId]) != nil })
        outcome.ignoredForErasedClients += reduction.ignoredForErasedClients
        for rejected in reduction.rejected {
            // Not applied: its record goes, so that the event can be sent again once fixed.
            try db.execute(sql: "DELETE FROM processed_events WHERE stream = ? AND event_id = ?",
                           arguments: [rejected.stream.rawValue, rejected.eventId])
        }
        outcome.accepted -= reduction.rejected.count
        outcome.rejected = reduction.rejected

        // 5. Forget erased clients, then write the rest.
        if !reduction.erasures.isEmpty {
            try erase(reduction.erasures, key: key, in: db)
            outcome.erasures = reduction.erasures.count
        }
        let rows = EffectRows(reduction.effects)
        try recordPurchaseDays(rows, in: db)
        try recordConversions(rows, in: db)
        try upsert(reduction.clients.values, in: db)
        try write(rows, in: db, outcome: &outcome)
        return outcome
    }

    /// Writes `states` straight from the reduction's map (a copy into an array would hold a
    /// second copy of every client state of the batch).
    private static func upsert(_ states: some Collection<ClientState>, in db: Database) throws {
        try insertRows(states, ClientRows.insertPrefix, columns: ClientRows.columnCount, suffix: ClientRows.upsertSuffix, in: db) {
            ClientRows.write($0, to: &$1)
        }
    }

    static func loadClients(_ statement: Statement, arguments: StatementArguments) throws -> [ClientState] {
        var states: [ClientState] = []
        try SQLiteColumns.forEachClient(of: statement, arguments: arguments) { states.append($0) }
        return states
    }


    /// Keeps what was sent for each purchase converted to the reporting currency.
    private static func recordConversions(_ rows: EffectRows, in db: Database) throws {
        try insertRows(rows.conversions, """
            INSERT INTO converted_purchases (client_id, occurred_at, event_id, kind, original_amount, original_currency, rate, amount)
            """, columns: 8, suffix: "ON CONFLICT DO NOTHING", in: db) { conversion, row in
            row.text(conversion.clientId)
            row.integer(conversion.occurredAt.millisecondsSinceEpoch)
            row.text(conversion.eventId)
            row.text(conversion.kind.rawValue)
            row.integer(conversion.originalAmount.units)
            row.text(conversion.originalCurrency)
            row.text(conversion.rate.description)
            row.integer(conversion.amount.units)
        }
    }

    /// Adds the batch's purchase amounts to `purchase_days` (each client's per-day totals were
    /// kept in step as the events were applied).
    private static func recordPurchaseDays(_ rows: EffectRows, in db: Database) throws {
        try insertRows(rows.purchaseDays, "INSERT INTO purchase_days (day, client_id, amount)", columns: 3,
                       suffix: "ON CONFLICT (day, client_id) DO UPDATE SET amount = amount + excluded.amount", in: db) { total, row in
            row.integer(total.key.day)
            row.text(total.key.clientId)
            row.integer(total.amount.units)
        }
    }

    /// Records the status changes and the tasks not seen before, and queues them for publishing in
    /// the order the effects were produced. (A status change is new by construction: its event was
    /// accepted for the first time in this transaction.)
    static func write(_ rows: EffectRows, in db: Database, outcome: inout BatchOutcome) throws {
        try insertRows(rows.statusChanges, """
            INSERT INTO status_changes
                (event_id, client_id, status, previous_status, changed_at, reason, caused_by, purchase_count, temperature)
            """, columns: 9, in: db) { change, row in
            row.text(change.eventId)
            row.text(change.clientId)
            row.text(change.status.rawValue)
            row.text(change.previousStatus?.rawValue)
            row.integer(change.changedAt.millisecondsSinceEpoch)
            row.text(change.reason)
            row.text(change.causedBy)
            row.integer(change.purchaseCount)
            row.text(change.temperature?.rawValue)
        }
        func bindTask(_ task: FollowUpTask, _ row: inout SQLiteBindings) {
            row.text(task.taskId)
            row.text(task.clientId)
            row.text(task.kind.rawValue)
            row.text(task.priority.rawValue)
            row.integer(task.dueAt.millisecondsSinceEpoch)
            row.integer(task.createdAt.millisecondsSinceEpoch)
            row.text(task.reason)
            row.text(task.causedBy)
        }
        // A task id seen before (same cause) is not sent again.
        let newTaskIds = Set(try insertRowsReturningIds(
            rows.tasks, "INSERT INTO tasks (task_id, client_id, kind, priority, due_at, created_at, reason, caused_by)", columns: 8,
            suffix: "ON CONFLICT DO NOTHING RETURNING task_id", in: db, bind: bindTask))
        rows.countSuppressed(newIds: try insertRowsReturningIds(rows.suppressed, """
            INSERT INTO suppressed_tasks
                (task_id, client_id, kind, priority, due_at, created_at, reason, caused_by, suppressed_because)
            """, columns: 9, suffix: "ON CONFLICT DO NOTHING RETURNING task_id", in: db) { suppressed, row in
                bindTask(suppressed.task, &row)
                row.text(suppressed.because)
            }, outcome: &outcome)
        let writtenAt = Int64(Date().timeIntervalSince1970 * 1000)
        // Each payload is built when it is bound (SQLite copies it) and freed right after.
        try insertRows(rows.queued(newTaskIds: newTaskIds, outcome: &outcome),
                       "INSERT INTO outbox (topic, message_key, payload, message_id, written_at)", columns: 5, in: db) { position, row in
            let message = rows.message(of: position)
            row.text(message.topic)
            row.text(message.key)
            row.blob(message.payload)
            row.text(message.id)
            row.integer(writtenAt)
        }
    }

    /// Copies the WAL into the database file (a passive checkpoint on a connection of its own:
    /// the writer carries on meanwhile). The workers call it every second.
    public func performMaintenance() async throws {
        try await checkpointer.writeWithoutTransaction { db in
            _ = try? db.checkpoint(.passive)
        }
    }

    /// Checkpoints the WAL into the database file and truncates it (best effort while readers
    /// are active; retried at the next erasure).
    public func purgeWriteAheadLog() async throws {
        try await pool.writeWithoutTransaction { db in
            _ = try? db.checkpoint(.truncate)
        }
    }

    /// Number of accepted events (cheaper than ``summary()``, for progress polling).
    public func acceptedEventCount() async throws -> Int {
        try await pool.read { db in try Self.acceptedEvents(in: db) }
    }

    static func acceptedEvents(in db: Database) throws -> Int {
        let current = try Int.fetchOne(db, sql: "SELECT count(*) FROM processed_events") ?? 0
        guard try db.tableExists("processed_events_legacy") else { return current }
        return current + (try Int.fetchOne(db, sql: "SELECT count(*) FROM processed_events_legacy") ?? 0)
    }

    public func client(id: String, recent: Int) async throws -> ClientView? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(ClientRows.columns) FROM clients WHERE client_id = ?", arguments: [id]) else {
                return nil
            }
            let state = try ClientRows.state(from: row)
            let tasks = try Row.fetchAll(db, sql: """
                SELECT * FROM tasks WHERE client_id = ? ORDER BY created_at DESC, task_id LIMIT ?
                """, arguments: [id, recent]).map(SQLiteRows.task(from:))
            let changes = try Row.fetchAll(db, sql: """
                SELECT * FROM status_changes WHERE client_id = ? ORDER BY changed_at DESC, rowid DESC LIMIT ?
                """, arguments: [id, recent]).map(SQLiteRows.statusChange(from:))
            let suppressed = try Row.fetchAll(db, sql: """
                SELECT * FROM suppressed_tasks WHERE client_id = ? ORDER BY created_at DESC, task_id LIMIT ?
                """, arguments: [id, recent]).map(SQLiteRows.suppressedTask(from:))
            let converted = try Row.fetchAll(db, sql: """
                SELECT * FROM converted_purchases WHERE client_id = ? ORDER BY occurred_at DESC, event_id LIMIT ?
                """, arguments: [id, recent]).compactMap(SQLiteRows.convertedPurchase(from:))
            return ClientView(state: state, recentTasks: tasks, recentStatusChanges: changes, recentSuppressedTasks: suppressed,
                              recentConvertedPurchases: converted)
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
            var byReason: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT suppressed_because, count(*) FROM suppressed_tasks GROUP BY 1") {
                byReason[row[0]] = row[1]
            }
            var summary = StoreSummary(
                clients: try Int.fetchOne(db, sql: "SELECT count(*) FROM clients") ?? 0,
                clientsByStatus: byStatus, tasksByKind: byKind,
                acceptedEvents: try Self.acceptedEvents(in: db),
                outboxBacklog: try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? 0,
                totalPurchases: try Int.fetchOne(db, sql: "SELECT coalesce(sum(purchase_count), 0) FROM clients") ?? 0,
                statusChanges: try Int.fetchOne(db, sql: "SELECT count(*) FROM status_changes") ?? 0,
                suppressedTasks: try Int.fetchOne(db, sql: "SELECT count(*) FROM suppressed_tasks") ?? 0,
                erasedClients: try Int.fetchOne(db, sql: "SELECT count(*) FROM erased_clients") ?? 0,
                waitingEvents: try Int.fetchOne(db, sql: "SELECT count(*) FROM waiting_events") ?? 0)
            summary.suppressedByReason = byReason
            return summary
        }
    }
}

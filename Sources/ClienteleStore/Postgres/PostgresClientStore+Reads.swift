import ClienteleDomain
import NIOCore
import PostgresNIO

/// Stream progress, the outbox relay, reports, purchase histories, models and upkeep.
extension PostgresClientStore {
    public func streamFrontier(partitions: Int) async throws -> Timestamp? {
        guard partitions > 0 else { return nil }
        let logger = logger
        return try await read { connection in
            var seen = 0
            var frontier: Int64?
            for try await complete in try await connection.query(
                "SELECT complete_before FROM stream_progress WHERE partition < \(Int32(partitions))", logger: logger).decode(Int64.self) {
                seen += 1
                frontier = min(frontier ?? complete, complete)
            }
            guard seen == partitions * EventStream.allCases.count, var frontier else { return nil }
            // Events already due may still wait for a next transaction (a release limit reached):
            // nothing at or after the oldest of them is complete yet.
            for try await oldest in try await connection.query("""
                SELECT min(occurred_at) FROM waiting_events WHERE partition < \(Int32(partitions))
                """, logger: logger).decode(Int64?.self) {
                if let oldest { frontier = min(frontier, oldest) }
            }
            return Timestamp(millisecondsSinceEpoch: frontier)
        }
    }

    public func streamProgress() async throws -> [StreamProgress] {
        let logger = logger
        return try await read { connection in
            var progress: [StreamProgress] = []
            for try await (name, partition, complete, updated) in try await connection.query("""
                SELECT stream, partition, complete_before, updated_at FROM stream_progress ORDER BY stream, partition
                """, logger: logger).decode((String, Int32, Int64, Int64).self) {
                guard let stream = EventStream(rawValue: name) else { continue }
                progress.append(StreamProgress(stream: stream, partition: partition, completeBefore: Timestamp(millisecondsSinceEpoch: complete),
                                               updatedAt: Timestamp(millisecondsSinceEpoch: updated)))
            }
            return progress
        }
    }

    public func waitingEvents() async throws -> WaitingEvents {
        let logger = logger
        return try await read { connection in
            var waiting = WaitingEvents()
            for try await (rank, count, since, earliest) in try await connection.query("""
                SELECT rank, count(*), min(waiting_since), min(occurred_at) FROM waiting_events GROUP BY rank
                """, logger: logger).decode((Int32, Int64, Int64, Int64).self) {
                guard let stream = WaitingQueue.stream(rank: Int(rank)) else { continue }
                waiting.counts[stream] = Int(count)
                waiting.oldestSince = min(waiting.oldestSince ?? Timestamp(millisecondsSinceEpoch: since), Timestamp(millisecondsSinceEpoch: since))
                waiting.earliestOccurredAt = min(waiting.earliestOccurredAt ?? Timestamp(millisecondsSinceEpoch: earliest),
                                                 Timestamp(millisecondsSinceEpoch: earliest))
            }
            return waiting
        }
    }

    public func oldestWaitingByPartition(stream: EventStream) async throws -> [Int32: Timestamp] {
        let logger = logger
        return try await read { connection in
            var oldest: [Int32: Timestamp] = [:]
            for try await (partition, time) in try await connection.query("""
                SELECT partition, min(occurred_at) FROM waiting_events WHERE rank = \(Int32(stream.rank)) GROUP BY partition
                """, logger: logger).decode((Int32, Int64).self) {
                oldest[partition] = Timestamp(millisecondsSinceEpoch: time)
            }
            return oldest
        }
    }

    // MARK: The outbox relay

    public func acquireRelayLease(holder: String, for duration: Duration) async throws -> Bool {
        let now = Self.wallClock()
        let expires = now + duration.components.seconds * 1000
        let logger = logger
        return try await read { connection in
            var taken = false
            for try await _ in try await connection.query("""
                INSERT INTO relay_lease (name, holder, expires_at) VALUES ('outbox', \(holder), \(expires))
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE relay_lease.holder = excluded.holder OR relay_lease.expires_at < \(now)
                RETURNING holder
                """, logger: logger).decode(String.self) { taken = true }
            return taken
        }
    }

    public func releaseRelayLease(holder: String) async throws {
        let logger = logger
        _ = try await read { connection in
            try await connection.query("DELETE FROM relay_lease WHERE name = 'outbox' AND holder = \(holder)", logger: logger)
            return true
        }
    }

    /// Oldest first by id. Ids commit out of order across transactions, so every call reads from
    /// the start of what is left (never "after the last id seen"); one client's rows are written
    /// under their row lock, so their ids follow their commit order.
    public func pendingOutbox(limit: Int) async throws -> [OutboxMessage] {
        let logger = logger
        return try await read { connection in
            var messages: [OutboxMessage] = []
            for try await (id, topic, key, payload, messageId) in try await connection.query("""
                SELECT id, topic, message_key, payload, message_id FROM outbox ORDER BY id LIMIT \(Int64(limit))
                """, logger: logger).decode((Int64, String, String, ByteBuffer?, String).self) {
                messages.append(OutboxMessage(id: id, topic: topic, key: key, payload: payload.map { Array($0.readableBytesView) }, messageId: messageId))
            }
            return messages
        }
    }

    public func outboxBacklog() async throws -> OutboxBacklog {
        let logger = logger
        return try await read { connection in
            // Index lookups, not a scan (see the SQLite store); an exact count only for a small span.
            var backlog = OutboxBacklog(pending: 0, oldestWrittenAt: nil)
            for try await (low, high, writtenAt) in try await connection.query("""
                SELECT min(id), max(id), (SELECT written_at FROM outbox ORDER BY id LIMIT 1) FROM outbox
                """, logger: logger).decode((Int64?, Int64?, Int64?).self) {
                guard let low, let high else { break }
                backlog = OutboxBacklog(pending: Int(high - low + 1), oldestWrittenAt: writtenAt.flatMap { $0 > 0 ? Timestamp(millisecondsSinceEpoch: $0) : nil })
            }
            if backlog.pending > 0, backlog.pending <= OutboxBacklog.exactCountUpTo {
                for try await count in try await connection.query("SELECT count(*) FROM outbox", logger: logger).decode(Int64.self) {
                    backlog.pending = Int(count)
                }
            }
            return backlog
        }
    }

    public func markPublished(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        let logger = logger
        _ = try await read { connection in
            try await connection.query("DELETE FROM outbox WHERE id = ANY(\(ids)::int8[])", logger: logger)
            return true
        }
    }

    // MARK: Reports

    public func client(id: String, recent: Int) async throws -> ClientView? {
        let logger = logger
        let limit = Int64(recent)
        return try await read { connection in
            var bindings = PostgresBindings()
            bindings.append(id)
            guard let state = try await PostgresRows.clients(connection.query(PostgresQuery(
                unsafeSQL: "SELECT \(ClientRows.columns) FROM clients WHERE client_id = $1", binds: bindings), logger: logger)).first else {
                return nil
            }
            var tasks: [FollowUpTask] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT \(PostgresRows.taskColumns) FROM tasks WHERE client_id = $1 ORDER BY created_at DESC, task_id LIMIT \(limit)
                """, binds: bindings), logger: logger) { tasks.append(try PostgresRows.task(row)) }
            var changes: [StatusChange] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT \(PostgresRows.statusChangeColumns) FROM status_changes WHERE client_id = $1 ORDER BY changed_at DESC, seq DESC LIMIT \(limit)
                """, binds: bindings), logger: logger) { changes.append(try PostgresRows.statusChange(row)) }
            var suppressed: [SuppressedTask] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT \(PostgresRows.taskColumns), suppressed_because FROM suppressed_tasks WHERE client_id = $1
                ORDER BY created_at DESC, task_id LIMIT \(limit)
                """, binds: bindings), logger: logger) {
                let random = row.makeRandomAccess()
                suppressed.append(SuppressedTask(task: try PostgresRows.task(row), because: try random[8].decode(String.self)))
            }
            var converted: [ConvertedPurchase] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT \(PostgresRows.convertedPurchaseColumns) FROM converted_purchases WHERE client_id = $1
                ORDER BY occurred_at DESC, event_id LIMIT \(limit)
                """, binds: bindings), logger: logger) {
                if let purchase = try PostgresRows.convertedPurchase(row) { converted.append(purchase) }
            }
            return ClientView(state: state, recentTasks: tasks, recentStatusChanges: changes, recentSuppressedTasks: suppressed,
                              recentConvertedPurchases: converted)
        }
    }

    public func summary() async throws -> StoreSummary {
        let logger = logger
        return try await read { connection in
            func grouped(_ sql: String) async throws -> [String: Int] {
                var counts: [String: Int] = [:]
                for try await (name, count) in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode((String, Int64).self) {
                    counts[name] = Int(count)
                }
                return counts
            }
            func count(_ sql: String) async throws -> Int {
                for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int64.self) { return Int(value) }
                return 0
            }
            var summary = StoreSummary(
                clients: try await count("SELECT count(*) FROM clients"),
                clientsByStatus: try await grouped("SELECT coalesce(status, 'none'), count(*) FROM clients GROUP BY 1"),
                tasksByKind: try await grouped("SELECT kind, count(*) FROM tasks GROUP BY kind"),
                acceptedEvents: try await count("SELECT count(*) FROM processed_events"),
                outboxBacklog: try await count("SELECT count(*) FROM outbox"),
                totalPurchases: try await count("SELECT coalesce(sum(purchase_count), 0)::int8 FROM clients"),
                statusChanges: try await count("SELECT count(*) FROM status_changes"),
                suppressedTasks: try await count("SELECT count(*) FROM suppressed_tasks"),
                erasedClients: try await count("SELECT count(*) FROM erased_clients"),
                waitingEvents: try await count("SELECT count(*) FROM waiting_events"))
            summary.suppressedByReason = try await grouped("SELECT suppressed_because, count(*) FROM suppressed_tasks GROUP BY 1")
            return summary
        }
    }

    public func purchaseHistories(asOf: Timestamp) async throws -> [String: PurchaseHistorySummary] {
        let endDay = asOf.day
        let logger = logger
        return try await read { connection in
            var days: [String: [(day: Int, value: Double)]] = [:]
            for try await (clientId, day, amount) in try await connection.query("""
                SELECT client_id, day, amount FROM purchase_days WHERE day <= \(Int64(endDay))
                """, logger: logger).decode((String, Int64, Int64).self) {
                days[clientId, default: []].append((Int(day), Double(amount) / Double(Money.scale)))
            }
            return days.compactMapValues { PurchaseHistorySummary.from(purchases: $0, calibrationEndDay: endDay) }
        }
    }

    public func saveModel(_ model: StoredModel) async throws -> StoredModel {
        let logger = logger
        return try await read { connection in
            var saved = model
            for try await version in try await connection.query("""
                INSERT INTO models (kind, parameters, log_likelihood, clients, as_of, fitted_at)
                VALUES (\(model.kind), \(model.parametersJSON), \(model.logLikelihood), \(Int64(model.clients)),
                        \(model.asOf.millisecondsSinceEpoch), \(model.fittedAt.millisecondsSinceEpoch))
                RETURNING version
                """, logger: logger).decode(Int64.self) { saved.version = Int(version) }
            return saved
        }
    }

    public func newestModel(kind: String) async throws -> StoredModel? {
        let logger = logger
        return try await read { connection in
            for try await (version, kind, parameters, logLikelihood, clients, asOf, fittedAt) in try await connection.query("""
                SELECT version, kind, parameters, log_likelihood, clients, as_of, fitted_at FROM models
                WHERE kind = \(kind) ORDER BY version DESC LIMIT 1
                """, logger: logger).decode((Int64, String, String, Double, Int64, Int64, Int64).self) {
                return StoredModel(version: Int(version), kind: kind, parametersJSON: parameters, logLikelihood: logLikelihood, clients: Int(clients),
                                   asOf: Timestamp(millisecondsSinceEpoch: asOf), fittedAt: Timestamp(millisecondsSinceEpoch: fittedAt))
            }
            return nil
        }
    }

    /// After erasures, vacuums the tables that held the erased clients' rows, so their dead tuples
    /// are reclaimed (and overwritten) soon rather than whenever autovacuum comes by.
    public func performMaintenance() async throws {
        guard try await setting("maintenance.vacuum_due") == "1" else { return }
        let logger = logger
        _ = try await read { connection in
            try await connection.query("DELETE FROM settings WHERE name = 'maintenance.vacuum_due'", logger: logger)
            try await connection.query("""
                VACUUM clients, tasks, suppressed_tasks, status_changes, purchase_days, waiting_events, unreadable_waiting_events,
                       converted_purchases, outbox
                """, logger: logger)
            return true
        }
    }

    public func expireEventRecords(occurredBefore: Timestamp, resumingAfter: String?, limit: Int) async throws -> EventRecordExpiry {
        // Whole days only: a partition goes once its day ends before the horizon.
        let horizon = occurredBefore.day
        let logger = logger
        let dropped = try await read { connection -> [(day: Int, rows: Int)] in
            // One replica at a time (the others skip this pass).
            var locked = false
            for try await got in try await connection.query(
                "SELECT pg_try_advisory_lock(\(PostgresSchema.lockSpace), \(PostgresSchema.retentionLock))", logger: logger).decode(Bool.self) {
                locked = got
            }
            guard locked else { return [] }
            let unlock: PostgresQuery = "SELECT pg_advisory_unlock(\(PostgresSchema.lockSpace), \(PostgresSchema.retentionLock))"
            do {
                let dropped = try await Self.dropRecordPartitions(before: horizon, connection: connection, logger: logger)
                try await connection.query(unlock, logger: logger)
                return dropped
            } catch {
                _ = try? await connection.query(unlock, logger: logger)
                throw error
            }
        }
        knownEventDays.withLock { known in for entry in dropped { known.remove(Int32(entry.day)) } }
        return EventRecordExpiry(removed: dropped.reduce(0) { $0 + $1.rows }, resumeAfter: nil)
    }

    /// Detaches and drops the record partitions of days before `horizon`; returns each day dropped
    /// with its record count.
    private static func dropRecordPartitions(before horizon: Int, connection: PostgresConnection, logger: Logger) async throws -> [(day: Int, rows: Int)] {
        var old: [(name: String, day: Int)] = []
        let partitions = try await connection.query("""
            SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = 'processed_events' AND p.relnamespace = current_schema()::regnamespace ORDER BY 1
            """, logger: logger)
        for try await name in partitions.decode(String.self) {
            guard let day = Self.eventDay(ofPartition: name), day < horizon else { continue }
            old.append((name, day))
        }
        var dropped: [(day: Int, rows: Int)] = []
        for (name, day) in old {
            var rows = 0
            for try await count in try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(name)"), logger: logger).decode(Int64.self) {
                rows = Int(count)
            }
            // Detached without blocking the batches that write other days, then dropped.
            do {
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER TABLE processed_events DETACH PARTITION \(name) CONCURRENTLY"), logger: logger)
            } catch let error as PSQLError where (error.serverInfo?[.message] ?? "").contains("pending detach") {
                // An earlier detach interrupted half-way is finished instead.
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER TABLE processed_events DETACH PARTITION \(name) FINALIZE"), logger: logger)
            }
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"), logger: logger)
            dropped.append((day, rows))
        }
        return dropped
    }

    /// The event day of a record partition's name (`processed_events_YYYYMMDD`).
    static func eventDay(ofPartition name: String) -> Int? {
        let digits = name.dropFirst("processed_events_".count)
        guard name.hasPrefix("processed_events_"), digits.count == 8, digits.allSatisfy(\.isNumber) else { return nil }
        let text = "\(digits.prefix(4))-\(digits.dropFirst(4).prefix(2))-\(digits.suffix(2))T00:00:00Z"
        return Timestamp(rfc3339: text)?.day
    }
}

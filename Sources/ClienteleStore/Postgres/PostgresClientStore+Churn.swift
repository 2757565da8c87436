import ClienteleDomain
import PostgresNIO

/// Churn reviews: due clients claimed with `SKIP LOCKED`, rescheduling, the event clock, settings.
extension PostgresClientStore {
    public func reviewDueClients(
        now: Timestamp, limit: Int,
        review: @escaping @Sendable (inout ClientState, [FollowUpTask.Kind: Timestamp]) -> [ClientEffect]
    ) async throws -> ReviewOutcome {
        guard let key else { throw StoreError(.invalidKey, "the store was opened without the deployment key: it cannot review clients") }
        let logger = logger
        return try await transaction { connection in
            // Clients another reviewer (or an event batch) holds are skipped, not waited for: two
            // churn-workers never review one client, and the next sweep finds what is left.
            var bindings = PostgresBindings()
            bindings.append(now.millisecondsSinceEpoch)
            bindings.append(Int64(limit))
            var due = try await PostgresRows.clients(connection.query(PostgresQuery(unsafeSQL: """
                SELECT \(ClientRows.columns) FROM clients WHERE next_review_at <= $1 ORDER BY next_review_at LIMIT $2
                FOR UPDATE SKIP LOCKED
                """, binds: bindings), logger: logger))
            guard !due.isEmpty else { return ReviewOutcome() }
            let writer = PostgresBatchWriter(connection: connection, key: key, logger: logger)
            let lastTasks = try await writer.newestTasks(of: due.map(\.clientId))
            var effects: [ClientEffect] = []
            for index in due.indices {
                effects += review(&due[index], lastTasks[due[index].clientId] ?? [:])
            }
            try await connection.query("""
                UPDATE clients SET status = NULLIF(u.status, chr(1)), status_changed_at = NULLIF(u.changed, \(PostgresClientColumns.nullInteger)),
                                   next_review_at = NULLIF(u.next, \(PostgresClientColumns.nullInteger))
                FROM unnest(\(due.map(\.clientId))::text[], \(due.map { PostgresClientColumns.text($0.status?.rawValue) })::text[],
                            \(due.map { PostgresClientColumns.integer($0.statusChangedAt?.millisecondsSinceEpoch) })::int8[],
                            \(due.map { PostgresClientColumns.integer($0.nextReviewAt?.millisecondsSinceEpoch) })::int8[]) AS u(id, status, changed, next)
                WHERE clients.client_id = u.id
                """, logger: logger)
            var batch = BatchOutcome()
            try await writer.write(EffectRows(effects), outcome: &batch)
            return ReviewOutcome(reviewed: due.count, wrote: batch)
        }
    }

    public func rescheduleReviews(
        _ pass: ReschedulePass, limit: Int, schedule: @escaping @Sendable (ClientState) -> Timestamp?
    ) async throws -> RescheduleProgress {
        let logger = logger
        return try await transaction { connection in
            // The claim on the pass's cursor: replicas take their chunks one after the other.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockSpace), \(PostgresSchema.rescheduleLock))", logger: logger)
            var completed: String?
            var cursor = ""
            let settings = try await connection.query(
                "SELECT name, value FROM settings WHERE name = \(pass.completedSetting) OR name = \(pass.cursorSetting)", logger: logger)
            for try await (name, value) in settings.decode((String, String).self) {
                if name == pass.completedSetting { completed = value } else { cursor = value }
            }
            if completed == pass.id { return RescheduleProgress(clients: 0, finished: true) }
            var bindings = PostgresBindings()
            bindings.append(cursor)
            bindings.append(Int64(limit))
            let clients = try await PostgresRows.clients(connection.query(PostgresQuery(unsafeSQL: """
                SELECT \(ClientRows.columns) FROM clients WHERE client_id > $1 ORDER BY client_id LIMIT $2 FOR UPDATE
                """, binds: bindings), logger: logger))
            var ids: [String] = []
            var times: [Int64] = []
            for client in clients {
                let next = schedule(client)
                if next != client.nextReviewAt {
                    ids.append(client.clientId)
                    times.append(PostgresClientColumns.integer(next?.millisecondsSinceEpoch))
                }
            }
            if !ids.isEmpty {
                try await connection.query("""
                    UPDATE clients SET next_review_at = NULLIF(u.next, \(PostgresClientColumns.nullInteger))
                    FROM unnest(\(ids)::text[], \(times)::int8[]) AS u(id, next) WHERE clients.client_id = u.id
                    """, logger: logger)
            }
            guard clients.count == limit, let last = clients.last?.clientId else {
                try await connection.query("""
                    INSERT INTO settings (name, value) VALUES (\(pass.completedSetting), \(pass.id))
                    ON CONFLICT (name) DO UPDATE SET value = excluded.value
                    """, logger: logger)
                try await connection.query("DELETE FROM settings WHERE starts_with(name, \(pass.cursorPrefix))", logger: logger)
                return RescheduleProgress(clients: clients.count, finished: true)
            }
            try await connection.query("""
                INSERT INTO settings (name, value) VALUES (\(pass.cursorSetting), \(last)) ON CONFLICT (name) DO UPDATE SET value = excluded.value
                """, logger: logger)
            return RescheduleProgress(clients: clients.count, finished: false)
        }
    }

    public func eventClock(idleAfter: Duration) async throws -> Timestamp? {
        let idle = idleAfter.components.seconds * 1000 + idleAfter.components.attoseconds / 1_000_000_000_000_000
        return try await single("""
            SELECT min(newest_at) FROM event_clock WHERE updated_at >= (SELECT max(updated_at) FROM event_clock) - \(idle)
            """, as: Int64?.self).flatMap { $0 }.map(Timestamp.init(millisecondsSinceEpoch:))
    }

    public func newestEventTime() async throws -> Timestamp? {
        try await single("SELECT max(newest_at) FROM event_clock", as: Int64?.self).flatMap { $0 }.map(Timestamp.init(millisecondsSinceEpoch:))
    }

    public func acceptedEventCount() async throws -> Int {
        Int(try await single("SELECT count(*) FROM processed_events", as: Int64.self) ?? 0)
    }

    public func dueReviewCount(at now: Timestamp) async throws -> Int {
        Int(try await single("SELECT count(*) FROM clients WHERE next_review_at <= \(now.millisecondsSinceEpoch)", as: Int64.self) ?? 0)
    }

    public func setting(_ name: String) async throws -> String? {
        try await single("SELECT value FROM settings WHERE name = \(name)", as: String.self)
    }

    public func setSetting(_ name: String, to value: String) async throws {
        let logger = logger
        _ = try await read { connection in
            try await connection.query("""
                INSERT INTO settings (name, value) VALUES (\(name), \(value)) ON CONFLICT (name) DO UPDATE SET value = excluded.value
                """, logger: logger)
            return true
        }
    }

    /// The first column of the first row, nil without rows.
    func single<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type) async throws -> T? {
        let logger = logger
        return try await read { connection in
            for try await value in try await connection.query(query, logger: logger).decode(T.self) { return value }
            return nil
        }
    }
}

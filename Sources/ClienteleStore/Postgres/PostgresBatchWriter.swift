import ClienteleDomain
import Logging
import NIOCore
import PostgresNIO

/// An event id with its event day: the key of an event record on PostgreSQL.
private struct EventDayKey: Hashable {
    var id: String
    var day: Int32
}

/// One batch's transaction on PostgreSQL: a handful of statements whatever the batch's size, each
/// binding arrays (`unnest`) instead of a round trip per event.
struct PostgresBatchWriter {
    let connection: PostgresConnection
    let key: DeploymentKey
    let logger: Logger

    @discardableResult
    func run(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await connection.query(query, logger: logger)
    }

    func apply(_ batch: InputBatch, fingerprints: [[UInt8]], rules: ClientRules, wallNow: Int64) async throws -> BatchOutcome {
        // 0. The two streams of a partition meet in one order: one batch per partition at a time.
        let partitions = Set(batch.completeBefore.keys).union(batch.entries.map(\.partition)).sorted()
        try await lockPartitions(partitions)
        try await advanceEventClock(batch.newestEventTimes, wallNow: wallNow)

        var outcome = BatchOutcome()
        // 1. Idempotency records, per stream, with a keyed fingerprint of the content: the ids
        //    returned are the events never seen before; another event under a seen id is a conflict.
        let stream = batch.stream.rawValue
        var inserted = Set<String>()
        if !batch.entries.isEmpty {
            let rows = try await run("""
                INSERT INTO processed_events (stream, event_id, event_day, content, source_partition, source_offset, occurred_at)
                SELECT \(stream), * FROM unnest(\(batch.entries.map(\.event.eventId))::text[],
                                               \(batch.entries.map { Int32($0.event.occurredAt.day) })::int4[],
                                               \(fingerprints.map(PostgresRows.bytes))::bytea[],
                                               \(batch.entries.map(\.partition))::int4[], \(batch.entries.map(\.offset))::int8[],
                                               \(batch.entries.map(\.event.occurredAt.millisecondsSinceEpoch))::int8[])
                ON CONFLICT DO NOTHING RETURNING event_id
                """)
            for try await id in rows.decode(String.self) { inserted.insert(id) }
        }
        let (fresh, seenBefore) = IdempotencyRecords.split(batch, inserted: inserted)
        if !seenBefore.isEmpty {
            outcome.conflicts = try await conflicts(among: seenBefore, of: batch, fingerprints: fingerprints)
        }
        outcome.accepted = fresh.count
        outcome.duplicates = batch.entries.count - fresh.count - outcome.conflicts.count

        // 2. The stream's completeness; which events are due now, which wait.
        let alignment = try await PostgresStreamAlignment(writer: self).advance(batch, fresh: fresh, wallNow: wallNow)
        outcome.late = alignment.late
        outcome.released = alignment.released.count
        outcome.moreDue = alignment.moreDue
        outcome.unreadableWaiting = alignment.unreadable
        var due = alignment.dueFresh + alignment.released
        var waiting = alignment.waiting
        guard !due.isEmpty || !waiting.isEmpty else { return outcome }

        // 3. Erased clients stay erased: their events are ignored (and never wait).
        let erased = try await erasedClients(among: Set(due.map(\.event.clientId) + waiting.map(\.event.clientId)))
        if !erased.isEmpty {
            let before = due.count + waiting.count
            due.removeAll { erased.contains($0.event.clientId) }
            waiting.removeAll { erased.contains($0.event.clientId) }
            outcome.ignoredForErasedClients += before - due.count - waiting.count
        }
        try await PostgresStreamAlignment(writer: self).wait(waiting, since: wallNow)
        outcome.held = waiting.count
        guard !due.isEmpty else { return outcome }
        due.sort { $0.key < $1.key }

        // 4. Lock the clients concerned (in id order: no deadlock with another worker's batch),
        //    apply the events in event-time order.
        let clientIds = Array(Set(due.map(\.event.clientId))).sorted()
        // Room for every client of the batch, new ones included: the map never grows (a
        // ClientState is large, and each doubling copies every one).
        var clients: [String: ClientState] = Dictionary(minimumCapacity: clientIds.count)
        for client in try await loadClients(clientIds, lock: true) { clients[client.clientId] = client }
        let reviewedSoon = BatchReduction.reviewedSoon(clients, by: due)
        var lastTasks = reviewedSoon.isEmpty ? [:] : try await newestTasks(of: reviewedSoon)
        var tasksLoaded = Set(reviewedSoon)
        // The rules ask for stored tasks and purchase days as they go; a lookup not loaded yet is
        // noted, loaded, and the (pure) reduction run again: rare, and never a round trip per event.
        var checkedDays = Set<PurchaseDayKey>()
        var knownDays = Set<PurchaseDayKey>()
        var reduction: BatchReduction
        while true {
            var missingTasks = Set<String>()
            var missingDays = Set<PurchaseDayKey>()
            reduction = BatchReduction(clients: clients, erased: erased)
            try reduction.run(
                due, rules: rules, lastTasks: lastTasks, tasksLoaded: tasksLoaded,
                storedTasks: { clientId in
                    missingTasks.insert(clientId)
                    return [:]
                },
                knownDay: { clientId, day in
                    let key = PurchaseDayKey(clientId: clientId, day: day)
                    if checkedDays.contains(key) { return knownDays.contains(key) }
                    missingDays.insert(key)
                    return false
                })
            guard !missingTasks.isEmpty || !missingDays.isEmpty else { break }
            if !missingTasks.isEmpty {
                let stored = try await newestTasks(of: Array(missingTasks))
                for id in missingTasks { lastTasks[id] = (lastTasks[id] ?? [:]).merging(stored[id] ?? [:]) { max($0, $1) } }
                tasksLoaded.formUnion(missingTasks)
            }
            if !missingDays.isEmpty {
                knownDays.formUnion(try await recordedDays(among: Array(missingDays)))
                checkedDays.formUnion(missingDays)
            }
        }
        outcome.ignoredForErasedClients += reduction.ignoredForErasedClients
        if !reduction.rejected.isEmpty {
            // Not applied: their records go, so that the events can be sent again once fixed.
            let days = Dictionary(due.map { ($0.event.eventId, Int32($0.event.occurredAt.day)) }, uniquingKeysWith: { first, _ in first })
            try await run("""
                DELETE FROM processed_events WHERE stream = \(stream) AND event_day = ANY(\(Array(Set(reduction.rejected.map { days[$0.eventId] ?? -1 })))::int4[])
                AND (event_id, event_day) IN (SELECT * FROM unnest(\(reduction.rejected.map(\.eventId))::text[],
                                                                   \(reduction.rejected.map { days[$0.eventId] ?? -1 })::int4[]))
                """)
        }
        outcome.accepted -= reduction.rejected.count
        outcome.rejected = reduction.rejected

        // 5. Forget erased clients, then write the rest.
        if !reduction.erasures.isEmpty {
            try await erase(reduction.erasures)
            outcome.erasures = reduction.erasures.count
        }
        let rows = EffectRows(reduction.effects)
        try await recordPurchaseDays(rows)
        try await recordConversions(rows)
        try await upsert(Array(reduction.clients.values))
        try await write(rows, outcome: &outcome)
        return outcome
    }

    /// Takes the transaction-level advisory locks of `partitions` (ascending: never a deadlock).
    func lockPartitions(_ partitions: [Int32]) async throws {
        guard !partitions.isEmpty else { return }
        try await run("""
            SELECT count(pg_advisory_xact_lock(\(PostgresSchema.lockSpace), 100 + p))
            FROM (SELECT p FROM unnest(\(partitions)::int4[]) AS p ORDER BY p) AS ordered
            """)
    }

    private func advanceEventClock(_ times: [String: Timestamp], wallNow: Int64) async throws {
        guard !times.isEmpty else { return }
        let sources = times.keys.sorted()
        try await run("""
            INSERT INTO event_clock (source, newest_at, updated_at)
            SELECT s, t, \(wallNow) FROM unnest(\(sources)::text[], \(sources.map { times[$0]!.millisecondsSinceEpoch })::int8[]) AS u(s, t)
            ON CONFLICT (source) DO UPDATE
            SET newest_at = greatest(event_clock.newest_at, excluded.newest_at), updated_at = excluded.updated_at
            """)
    }

    /// Among events whose id was seen before on this stream, those whose content differs from the
    /// first one's: not applied, and named with where the first was read.
    private func conflicts(among indices: [Int], of batch: InputBatch, fingerprints: [[UInt8]]) async throws -> [ConflictingDuplicate] {
        // Looked up by id and event day: an id is unique per day (the partition), and the days
        // given let the planner look in their partitions only.
        let keys = Array(Set(indices.map { EventDayKey(id: batch.entries[$0].event.eventId, day: Int32(batch.entries[$0].event.occurredAt.day)) }))
        var first: [String: IdempotencyRecords.FirstRecord] = [:]
        let rows = try await run("""
            SELECT event_id, content, source_partition, source_offset FROM processed_events
            WHERE stream = \(batch.stream.rawValue) AND event_day = ANY(\(Array(Set(keys.map(\.day))))::int4[])
            AND (event_id, event_day) IN (SELECT * FROM unnest(\(keys.map(\.id))::text[], \(keys.map(\.day))::int4[]))
            """)
        for try await (id, content, partition, offset) in rows.decode((String, ByteBuffer, Int32, Int64).self) {
            first[id] = IdempotencyRecords.FirstRecord(content: Array(content.readableBytesView), partition: partition, offset: offset)
        }
        return IdempotencyRecords.conflicts(among: indices, of: batch, fingerprints: fingerprints, key: key, first: first)
    }

    /// The ids among `clientIds` that belong to erased clients (matched by keyed hash).
    private func erasedClients(among clientIds: Set<String>) async throws -> Set<String> {
        var any = false
        for try await exists in try await run("SELECT EXISTS (SELECT 1 FROM erased_clients)").decode(Bool.self) { any = exists }
        guard any else { return [] }
        let byHash = Dictionary(clientIds.map { (key.erasureHash(of: $0), $0) }, uniquingKeysWith: { first, _ in first })
        var erased = Set<String>()
        let rows = try await run("SELECT client_hash FROM erased_clients WHERE client_hash = ANY(\(Array(byHash.keys))::text[])")
        for try await hash in rows.decode(String.self) {
            if let id = byHash[hash] { erased.insert(id) }
        }
        return erased
    }

    func loadClients(_ ids: [String], lock: Bool) async throws -> [ClientState] {
        guard !ids.isEmpty else { return [] }
        let sql = "SELECT \(ClientRows.columns) FROM clients WHERE client_id = ANY($1::text[]) ORDER BY client_id"
            + (lock ? " FOR UPDATE" : "")
        var bindings = PostgresBindings()
        bindings.append(ids)
        return try await PostgresRows.clients(run(PostgresQuery(unsafeSQL: sql, binds: bindings)))
    }

    /// The newest task of each kind per client, sent or suppressed (what a cooldown counts).
    func newestTasks(of clientIds: [String]) async throws -> [String: [FollowUpTask.Kind: Timestamp]] {
        var newest: [String: [FollowUpTask.Kind: Timestamp]] = [:]
        let rows = try await run("""
            SELECT client_id, kind, max(created_at) FROM tasks WHERE client_id = ANY(\(clientIds)::text[]) GROUP BY client_id, kind
            UNION ALL
            SELECT client_id, kind, max(created_at) FROM suppressed_tasks WHERE client_id = ANY(\(clientIds)::text[]) GROUP BY client_id, kind
            """)
        for try await (clientId, kindName, created) in rows.decode((String, String, Int64).self) {
            guard let kind = FollowUpTask.Kind(rawValue: kindName) else { continue }
            let at = Timestamp(millisecondsSinceEpoch: created)
            newest[clientId, default: [:]][kind] = max(newest[clientId]?[kind] ?? at, at)
        }
        return newest
    }

    /// Which of `days` the store holds.
    private func recordedDays(among days: [PurchaseDayKey]) async throws -> Set<PurchaseDayKey> {
        var found = Set<PurchaseDayKey>()
        let rows = try await run("""
            SELECT p.client_id, p.day FROM purchase_days p
            JOIN unnest(\(days.map(\.clientId))::text[], \(days.map { Int64($0.day) })::int8[]) AS u(client_id, day)
              ON p.client_id = u.client_id AND p.day = u.day
            """)
        for try await (clientId, day) in rows.decode((String, Int64).self) { found.insert(PurchaseDayKey(clientId: clientId, day: Int(day))) }
        return found
    }

    /// Removes every row that holds an erased client's id, remembers only the id's keyed hash, and
    /// queues a tombstone for `client-status` (after any of their messages still unpublished,
    /// which are dropped).
    private func erase(_ erasures: [BatchReduction.Erasure]) async throws {
        let ids = erasures.map(\.clientId)
        for table in ["clients", "tasks", "suppressed_tasks", "status_changes", "purchase_days", "waiting_events",
                      "unreadable_waiting_events", "converted_purchases"] {
            try await run(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE client_id = ANY($1::text[])", binds: {
                var bindings = PostgresBindings()
                bindings.append(ids)
                return bindings
            }()))
        }
        try await run("DELETE FROM outbox WHERE message_key = ANY(\(ids)::text[])")
        try await run("""
            INSERT INTO erased_clients (client_hash, erased_at)
            SELECT h, max(t) FROM unnest(\(erasures.map { key.erasureHash(of: $0.clientId) })::text[],
                                         \(erasures.map(\.at.millisecondsSinceEpoch))::int8[]) AS u(h, t) GROUP BY h
            ON CONFLICT (client_hash) DO UPDATE SET erased_at = greatest(erased_clients.erased_at, excluded.erased_at)
            """)
        try await run("""
            INSERT INTO outbox (topic, message_key, payload, message_id)
            SELECT \(OutputTopic.clientStatus), id, NULL, message_id
            FROM unnest(\(ids)::text[], \(erasures.map { StableID.make("tombstone", $0.clientId, $0.causedBy) })::text[])
                 WITH ORDINALITY AS u(id, message_id, n) ORDER BY n
            """)
        try await run("INSERT INTO settings (name, value) VALUES ('maintenance.vacuum_due', '1') ON CONFLICT (name) DO UPDATE SET value = '1'")
    }

    private func recordPurchaseDays(_ rows: EffectRows) async throws {
        guard !rows.purchaseDays.isEmpty else { return }
        try await run("""
            INSERT INTO purchase_days (day, client_id, amount)
            SELECT * FROM unnest(\(rows.purchaseDays.map { Int64($0.key.day) })::int8[], \(rows.purchaseDays.map(\.key.clientId))::text[],
                                 \(rows.purchaseDays.map(\.amount.units))::int8[])
            ON CONFLICT (day, client_id) DO UPDATE SET amount = purchase_days.amount + excluded.amount
            """)
    }

    private func recordConversions(_ rows: EffectRows) async throws {
        let conversions = rows.conversions
        guard !conversions.isEmpty else { return }
        try await run("""
            INSERT INTO converted_purchases (client_id, occurred_at, event_id, kind, original_amount, original_currency, rate, amount)
            SELECT * FROM unnest(\(conversions.map(\.clientId))::text[], \(conversions.map(\.occurredAt.millisecondsSinceEpoch))::int8[],
                                 \(conversions.map(\.eventId))::text[], \(conversions.map(\.kind.rawValue))::text[],
                                 \(conversions.map(\.originalAmount.units))::int8[], \(conversions.map(\.originalCurrency))::text[],
                                 \(conversions.map(\.rate.description))::text[], \(conversions.map(\.amount.units))::int8[])
            ON CONFLICT DO NOTHING
            """)
    }

    func upsert(_ states: [ClientState]) async throws {
        guard !states.isEmpty else { return }
        var columns = PostgresClientColumns(capacity: states.count)
        // In id order, as they were locked.
        for state in states.sorted(by: { $0.clientId < $1.clientId }) { columns.append(state) }
        try await run(columns.upsert())
    }

    /// Records the status changes and the tasks not seen before, and queues them for publishing in
    /// the order the effects were produced.
    func write(_ rows: EffectRows, outcome: inout BatchOutcome) async throws {
        let changes = rows.statusChanges
        if !changes.isEmpty {
            try await run("""
                INSERT INTO status_changes (event_id, client_id, status, previous_status, changed_at, reason, caused_by, purchase_count, temperature)
                SELECT e, c, s, NULLIF(p, chr(1)), t, r, b, n, NULLIF(m, chr(1))
                FROM unnest(\(changes.map(\.eventId))::text[], \(changes.map(\.clientId))::text[], \(changes.map(\.status.rawValue))::text[],
                            \(changes.map { PostgresClientColumns.text($0.previousStatus?.rawValue) })::text[],
                            \(changes.map(\.changedAt.millisecondsSinceEpoch))::int8[], \(changes.map(\.reason))::text[],
                            \(changes.map(\.causedBy))::text[], \(changes.map { Int64($0.purchaseCount) })::int8[],
                            \(changes.map { PostgresClientColumns.text($0.temperature?.rawValue) })::text[])
                     WITH ORDINALITY AS u(e, c, s, p, t, r, b, n, m, o) ORDER BY o
                """)
        }
        // A task id seen before (same cause) is not sent again.
        var newTaskIds = Set<String>()
        if !rows.tasks.isEmpty {
            let tasks = rows.tasks
            let inserted = try await run("""
                INSERT INTO tasks (\(unescaped: PostgresRows.taskColumns))
                SELECT * FROM unnest(\(tasks.map(\.taskId))::text[], \(tasks.map(\.clientId))::text[], \(tasks.map(\.kind.rawValue))::text[],
                                     \(tasks.map(\.priority.rawValue))::text[], \(tasks.map(\.dueAt.millisecondsSinceEpoch))::int8[],
                                     \(tasks.map(\.createdAt.millisecondsSinceEpoch))::int8[], \(tasks.map(\.reason))::text[],
                                     \(tasks.map(\.causedBy))::text[])
                ON CONFLICT DO NOTHING RETURNING task_id
                """)
            for try await id in inserted.decode(String.self) { newTaskIds.insert(id) }
        }
        if !rows.suppressed.isEmpty {
            let tasks = rows.suppressed.map(\.task)
            let inserted = try await run("""
                INSERT INTO suppressed_tasks (\(unescaped: PostgresRows.taskColumns), suppressed_because)
                SELECT * FROM unnest(\(tasks.map(\.taskId))::text[], \(tasks.map(\.clientId))::text[], \(tasks.map(\.kind.rawValue))::text[],
                                     \(tasks.map(\.priority.rawValue))::text[], \(tasks.map(\.dueAt.millisecondsSinceEpoch))::int8[],
                                     \(tasks.map(\.createdAt.millisecondsSinceEpoch))::int8[], \(tasks.map(\.reason))::text[],
                                     \(tasks.map(\.causedBy))::text[], \(rows.suppressed.map(\.because))::text[])
                ON CONFLICT DO NOTHING RETURNING task_id
                """)
            var recorded: [String] = []
            for try await id in inserted.decode(String.self) { recorded.append(id) }
            rows.countSuppressed(newIds: recorded, outcome: &outcome)
        }
        let messages = rows.outbox(newTaskIds: newTaskIds, outcome: &outcome)
        guard !messages.isEmpty else { return }
        try await run("""
            INSERT INTO outbox (topic, message_key, payload, message_id)
            SELECT t, k, p, m FROM unnest(\(messages.map(\.topic))::text[], \(messages.map(\.key))::text[],
                                          \(messages.map { PostgresRows.bytes($0.payload) })::bytea[], \(messages.map(\.id))::text[])
                 WITH ORDINALITY AS u(t, k, p, m, n) ORDER BY n
            """)
    }
}

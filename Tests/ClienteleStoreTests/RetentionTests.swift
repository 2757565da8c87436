import ClienteleDomain
@testable import ClienteleStore
import Foundation
import Logging
import PostgresNIO
import Testing

@Suite("Idempotency records' retention (SQLite and PostgreSQL)")
struct RetentionTests {
    static let origin = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
    static func day(_ n: Int) -> Timestamp { origin.adding(seconds: Int64(n) * 86_400) }

    /// Runs retention steps until the pass is complete; returns the records removed.
    static func expire(_ store: any ClientStore, before: Timestamp, step: Int) async throws -> Int {
        var removed = 0
        var resume: String?
        var steps = 0
        repeat {
            let outcome = try await store.expireEventRecords(occurredBefore: before, resumingAfter: resume, limit: step)
            removed += outcome.removed
            resume = outcome.resumeAfter
            steps += 1
        } while resume != nil && steps < 1_000
        return removed
    }

    @Test("records of events before the horizon go; later ones still tell a redelivery", arguments: StoreBackend.allCases)
    func expiresOldRecords(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        // Two purchases a day for ten days, the day's second one in the afternoon.
        let events = (0..<10).flatMap { day in
            [purchase("m\(day)", client: "C\(day)", day: day),
             PurchaseEvent(eventId: "a\(day)", clientId: "C\(day)", occurredAt: Self.day(day).adding(seconds: 15 * 3600),
                           amount: Money(jsonNumber: "5")!, currency: Currency(code: "EUR")!)]
        }
        _ = try await store.apply(events, rules: clientRules)
        #expect(try await store.acceptedEventCount() == 20)

        // Nothing is older than day 0.
        #expect(try await Self.expire(store, before: Self.day(0), step: 3) == 0)
        // The horizon at the start of day 4: the records of days 0–3 go, whatever the step.
        #expect(try await Self.expire(store, before: Self.day(4), step: 3) == 8)
        #expect(try await store.acceptedEventCount() == 12)
        #expect(try await Self.expire(store, before: Self.day(4), step: 3) == 0)  // a second pass finds nothing

        // A redelivery inside the retention window is still a duplicate…
        let recent = try await store.apply([purchase("m6", client: "C6", day: 6)], rules: clientRules)
        #expect(recent.duplicates == 1 && recent.accepted == 0)
        // …and one from before the horizon is new again: why the retention must exceed any replay window.
        let old = try await store.apply([purchase("m1", client: "C1", day: 1)], rules: clientRules)
        #expect(old.accepted == 1)
        #expect(try await store.client(id: "C1", recent: 0)?.state.purchaseCount == 3)
        #expect(try await store.client(id: "C6", recent: 0)?.state.purchaseCount == 2)
    }

    @Test("a PostgreSQL store of the first schema moves its event records into day partitions, and still recognizes them")
    func partitionMigration() async throws {
        let database = try await TemporaryDatabase.make(.postgres)
        defer { database.remove() }
        let location = try #require(database.postgres)
        let logger = Logger(label: "test.migration")
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: location.host, port: location.port, username: location.user, password: location.password,
                                 database: location.database, tls: .disable),
            id: 1, logger: logger)
        #expect(try await PostgresSchema.migrate(connection, through: 1, logger: logger) == [1])
        // Two records in the first layout (no event day), with the content fingerprints a worker wrote.
        let events = [purchase("old-1", client: "A", day: 0), purchase("old-2", client: "B", day: 40)]
        let fingerprints = database.key.contentFingerprints(of: events.map(InputEvent.purchase))
        for (event, fingerprint) in zip(events, fingerprints) {
            try await connection.query("""
                INSERT INTO processed_events (stream, event_id, content, source_partition, source_offset, occurred_at)
                VALUES ('purchases', \(event.eventId), \(PostgresRows.bytes(fingerprint)), 0, 1, \(event.occurredAt.millisecondsSinceEpoch))
                """, logger: logger)
        }
        try await connection.close()

        let store = try database.open()
        try await store.waitUntilReady()
        #expect(try await store.acceptedEventCount() == 2)
        let again = try await store.apply(events, rules: clientRules)
        #expect(again.duplicates == 2 && again.accepted == 0 && again.conflicts.isEmpty)
        #expect(try await Self.expire(store, before: Self.day(10), step: 100) == 1)
        #expect(try await store.acceptedEventCount() == 1)
    }

    @Test("a replica writing a day whose records another replica's retention dropped creates the day again")
    func dayDroppedByAnotherReplica() async throws {
        let database = try await TemporaryDatabase.make(.postgres)
        defer { database.remove() }
        let writer = try database.open()
        let other = try database.open()
        _ = try await writer.apply([purchase("d1-a", client: "A", day: 1)], rules: clientRules)  // the writer knows day 1 now
        #expect(try await Self.expire(other, before: Self.day(3), step: 100) == 1)           // …which the other drops
        let late = try await writer.apply([purchase("d1-b", client: "B", day: 1)], rules: clientRules)
        #expect(late.accepted == 1)
        #expect(try await writer.acceptedEventCount() == 1)
    }
}

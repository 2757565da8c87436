import ClienteleDomain
import ClienteleStore
import Foundation
import Testing

@Suite("Copying a SQLite store into PostgreSQL")
struct StoreCopyTests {
    static let now = Timestamp(rfc3339: "2026-06-01T00:00:00Z")!

    /// A SQLite store with what a company's store holds: clients of every kind, contacts, consent,
    /// an erasure, a model, events waiting for the other stream, published and pending outbox rows.
    static func populatedSQLite() async throws -> (TemporaryDatabase, SQLiteClientStore, [String]) {
        let database = try TemporaryDatabase()
        let store = try database.openSQLite()
        var purchases: [PurchaseEvent] = []
        for client in 0..<120 {
            for order in 0...(client % 5) {
                purchases.append(purchase("p\(client)-\(order)", client: String(format: "C%03d", client), day: client % 40 + order * 9,
                                          amount: "\(10 + client).\(order)5"))
            }
        }
        _ = try await store.apply(purchases, rules: clientRules)
        try await store.markPublished(try await store.pendingOutbox(limit: 100).map(\.id))
        _ = try await store.apply([
            contact("k1", .complaint, client: "C001", day: 50), contact("k2", .consentWithdrawn, client: "C002", day: 51),
            contact("k3", .inquiry, client: "prospect-1", day: 52), contact("k4", .erasureRequest, client: "C003", day: 53),
        ], rules: clientRules)
        // Purchases waiting for the contact stream (aligned, and the contacts not complete yet).
        let waiting = InputBatch(
            stream: .purchases,
            entries: [InputBatch.Entry(event: .purchase(purchase("w1", client: "C010", day: 90)), partition: 0, offset: 900)],
            completeBefore: [0: Timestamp(rfc3339: "2026-04-02T00:00:00Z")!], aligned: true)
        _ = try await store.apply(waiting, rules: clientRules)
        _ = try await store.saveModel(StoredModel(kind: "bgnbd", parametersJSON: #"{"r":0.24,"alpha":4.41,"a":0.79,"b":2.43}"#,
                                                  logLikelihood: -9582.4, clients: 120, asOf: now, fittedAt: now))
        try await store.setSetting("churn.review_schedule", to: "fingerprint")
        let ids = (0..<120).map { String(format: "C%03d", $0) } + ["prospect-1"]
        return (database, store, ids)
    }

    @Test("every row arrives: the same clients, history, outbox, models and settings; erasures and duplicates still hold")
    func copiesEverything() async throws {
        let (source, sqlite, ids) = try await Self.populatedSQLite()
        defer { source.remove() }
        let target = try await TemporaryDatabase.make(.postgres)
        defer { target.remove() }
        let postgres = try #require(try target.open(key: .file(source.path + ".key")) as? PostgresClientStore)

        let report = try await StoreCopy.copy(from: sqlite, to: postgres, now: Self.now)
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.table, $0.count) })
        #expect(rows["clients"] == 120)  // 120 clients and a prospect, less the erased one
        #expect(rows["erased_clients"] == 1)
        #expect(rows["models"] == 1)
        #expect(rows["waiting_events"] == 1)

        #expect(try await postgres.summary() == (try await sqlite.summary()))
        for id in ids {
            #expect(try await postgres.client(id: id, recent: 50) == (try await sqlite.client(id: id, recent: 50)), "client \(id)")
        }
        #expect(try await postgres.client(id: "C003", recent: 5) == nil)
        #expect(try await postgres.pendingOutbox(limit: 1_000) == (try await sqlite.pendingOutbox(limit: 1_000)))
        #expect(try await postgres.purchaseHistories(asOf: Self.now) == (try await sqlite.purchaseHistories(asOf: Self.now)))
        #expect(try await postgres.newestModel(kind: "bgnbd") == (try await sqlite.newestModel(kind: "bgnbd")))
        #expect(try await postgres.streamProgress() == (try await sqlite.streamProgress()))
        #expect(try await postgres.setting("churn.review_schedule") == "fingerprint")

        // The copy goes on as the original would: a redelivered event is a duplicate, the erased
        // client stays erased, and new outbox rows come after the copied ones.
        let lastCopied = try #require(try await postgres.pendingOutbox(limit: 1_000).last?.id)
        let replay = try await postgres.apply([purchase("p5-0", client: "C005", day: 5, amount: "15.05"),
                                               purchase("late", client: "C003", day: 60)], rules: clientRules)
        #expect(replay.duplicates == 1, "\(replay)")
        #expect(replay.ignoredForErasedClients == 1, "\(replay)")
        // The copied waiting purchase goes on waiting, and is released like any other.
        #expect(replay.released == 1 && replay.accepted == 1 && replay.tasks == 0, "\(replay)")
        #expect(try await postgres.client(id: "C003", recent: 5) == nil)
        _ = try await postgres.apply([purchase("new", client: "N1", day: 60)], rules: clientRules)
        #expect(try #require(try await postgres.pendingOutbox(limit: 1_000).last?.id) > lastCopied)
        let model = try await postgres.saveModel(StoredModel(kind: "mbgnbd", parametersJSON: "{}", logLikelihood: 0, clients: 1,
                                                             asOf: Self.now, fittedAt: Self.now))
        #expect(model.version == 2)
    }

    @Test("a copy is refused into a store that is not empty, with another key, or while a worker runs on the source")
    func refusals() async throws {
        let (source, sqlite, _) = try await Self.populatedSQLite()
        defer { source.remove() }
        let target = try await TemporaryDatabase.make(.postgres)
        defer { target.remove() }

        // Another deployment key: the keyed hashes would no longer match.
        let otherKey = try #require(try target.open(key: .key(DeploymentKey.random())) as? PostgresClientStore)
        let wrongKey = await #expect(throws: StoreError.self) { try await StoreCopy.copy(from: sqlite, to: otherKey, now: Self.now) }
        #expect(wrongKey?.code == .invalidKey)

        let other = try await TemporaryDatabase.make(.postgres)
        defer { other.remove() }
        let postgres = try #require(try other.open(key: .file(source.path + ".key")) as? PostgresClientStore)
        // A worker holding the outbox lease on the source.
        #expect(try await sqlite.acquireRelayLease(holder: "worker-1", for: .seconds(3_600)))
        let live = await #expect(throws: StoreError.self) {
            try await StoreCopy.copy(from: sqlite, to: postgres, now: Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)))
        }
        #expect(live?.message.contains("stop every worker") == true)
        try await sqlite.releaseRelayLease(holder: "worker-1")

        _ = try await StoreCopy.copy(from: sqlite, to: postgres, now: Self.now)
        let again = await #expect(throws: StoreError.self) { try await StoreCopy.copy(from: sqlite, to: postgres, now: Self.now) }
        #expect(again?.code == .notCopyable)
        #expect(again?.message.contains("not empty") == true)
        #expect(try await postgres.summary().clients == 120)  // nothing merged
    }
}

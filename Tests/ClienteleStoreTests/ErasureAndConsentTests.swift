import ClienteleDomain
import ClienteleStore
import Foundation
import Testing

let contactRules = ContactRules()

func contact(_ id: String, _ kind: ContactEvent.Kind, client: String, day: Int) -> ContactEvent {
    ContactEvent(eventId: id, clientId: client, occurredAt: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!.adding(seconds: Int64(day) * 86_400),
                 kind: kind, channel: "phone", direction: .inbound)
}

/// True if any of the database's files holds these bytes.
func databaseFiles(at path: String, contain text: String) -> Bool {
    let needle = Data(text.utf8)
    return ["", "-wal", "-shm"].contains { suffix in
        guard let data = FileManager.default.contents(atPath: path + suffix) else { return false }
        return data.range(of: needle) != nil
    }
}

/// True if any of the database's files holds these bytes.
func databaseFiles(at path: String, bytes: [UInt8]) -> Bool {
    let needle = Data(bytes)
    return ["", "-wal", "-shm"].contains { suffix in
        FileManager.default.contents(atPath: path + suffix)?.range(of: needle) != nil
    }
}

@Suite("erasure and consent in the store")
struct ErasureAndConsentTests {
    @Test("an erasure removes every trace of the client from the file, queues a tombstone, and replays stay ignored")
    func erasure() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = try database.openSQLite()
        let secretId = "client-jane.doe@example.com"
        _ = try await store.apply([purchase("p1", client: secretId, day: 0), purchase("p2", client: secretId, day: 1),
                                   purchase("p3", client: "keep", day: 1)], rules: clientRules)
        _ = try await store.apply([contact("c1", .complaint, client: secretId, day: 2)], rules: clientRules)
        // Publish what was queued so far, as the relay would.
        try await store.markPublished(try await store.pendingOutbox(limit: 100).map(\.id))
        _ = try await store.apply([contact("c2", .call, client: secretId, day: 3)], rules: clientRules)  // still pending

        let outcome = try await store.apply([contact("x1", .erasureRequest, client: secretId, day: 4)], rules: clientRules)
        #expect(outcome.erasures == 1)
        #expect(try await store.client(id: secretId, recent: 10) == nil)
        let pending = try await store.pendingOutbox(limit: 100)
        #expect(pending.count == 1)  // the unpublished messages were dropped; only the tombstone is left
        #expect(pending.first?.key == secretId)
        #expect(pending.first?.payload == nil)
        #expect(pending.first?.topic == "client-status")

        try await store.markPublished(pending.map(\.id))  // publishing the tombstone purges the WAL
        #expect(!databaseFiles(at: database.path, contain: secretId))
        // Nor its plain SHA-256, as hex or as bytes: the erasure record is a keyed hash.
        let digest = SHA256.hash(Array(secretId.utf8))
        #expect(!databaseFiles(at: database.path, contain: SHA256.hex(secretId)))
        #expect(!databaseFiles(at: database.path, bytes: digest))
        #expect(databaseFiles(at: database.path, contain: "keep"))  // the search does find what is there

        // Replayed older events (new ids) and later ones are ignored; nothing comes back.
        let replay = try await store.apply([purchase("p1-replay", client: secretId, day: 0),
                                            purchase("p9", client: secretId, day: 30)], rules: clientRules)
        #expect(replay.ignoredForErasedClients == 2)
        #expect(replay.accepted == 2)
        #expect(try await store.client(id: secretId, recent: 10) == nil)
        #expect(try await store.pendingOutbox(limit: 10).isEmpty)
        try await store.purgeWriteAheadLog()
        #expect(!databaseFiles(at: database.path, contain: secretId))
        let summary = try await store.summary()
        #expect(summary.erasedClients == 1)
        #expect(summary.clients == 1)
    }

    @Test("events after an erasure in the same batch are ignored", arguments: StoreBackend.allCases)
    func erasureMidBatch(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let outcome = try await store.apply([
            contact("a", .call, client: "E", day: 0), contact("x", .erasureRequest, client: "E", day: 1),
            contact("b", .call, client: "E", day: 2),
        ], rules: clientRules)
        #expect(outcome.accepted == 3)
        #expect(outcome.erasures == 1)
        #expect(outcome.ignoredForErasedClients == 1)
        #expect(outcome.statusChanges == 0)
        #expect(try await store.client(id: "E", recent: 1) == nil)
        #expect(try await store.pendingOutbox(limit: 10).map { $0.payload == nil } == [true])
    }

    @Test("PostgreSQL: an erasure leaves no row holding the id, only its keyed hash; replays stay ignored; maintenance vacuums")
    func erasureOnPostgres() async throws {
        let database = try await TemporaryDatabase.make(.postgres)
        defer { database.remove() }
        let store = try database.open()
        let secretId = "erase.me@example.com"
        _ = try await store.apply([purchase("p1", client: secretId, day: 0), purchase("p2", client: "keep", day: 0)], rules: clientRules)
        _ = try await store.apply([contact("e1", .erasureRequest, client: secretId, day: 1)], rules: clientRules)
        #expect(try await store.client(id: secretId, recent: 5) == nil)
        #expect(try await store.summary().erasedClients == 1)
        // Only the tombstone is left in the outbox for the id.
        #expect(try await store.pendingOutbox(limit: 100).filter { $0.key == secretId }.map(\.payload) == [nil])
        let replay = try await store.apply([purchase("p3", client: secretId, day: 2)], rules: clientRules)
        #expect(replay.ignoredForErasedClients == 1)
        #expect(try await store.client(id: secretId, recent: 5) == nil)
        // The maintenance pass after an erasure vacuums the tables that held the client's rows.
        #expect(try await store.setting("maintenance.vacuum_due") == "1")
        try await store.performMaintenance()
        #expect(try await store.setting("maintenance.vacuum_due") == nil)
        #expect(try await store.client(id: "keep", recent: 1)?.state.purchaseCount == 1)
    }

    @Test("marketing tasks without consent are recorded as suppressed, service tasks still go out", arguments: StoreBackend.allCases)
    func suppressedTasks(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        _ = try await store.apply([contact("w", .consentWithdrawn, client: "C", day: 0)], rules: clientRules)
        let bought = try await store.apply([purchase("p1", client: "C", day: 1, amount: "2500")], rules: clientRules)
        #expect(bought.suppressedTasks == 2)
        #expect(bought.tasks == 0)
        let complained = try await store.apply([contact("k", .complaint, client: "C", day: 2)], rules: clientRules)
        #expect(complained.tasks == 1)
        let view = try #require(try await store.client(id: "C", recent: 10))
        #expect(Set(view.recentSuppressedTasks.map(\.task.kind)) == [.welcomeNewClient, .thankYouLargeOrder])
        #expect(view.recentSuppressedTasks.allSatisfy { $0.because == "consent_withdrawn" })
        #expect(view.recentTasks.map(\.kind) == [.complaintFollowUp])
        #expect(view.state.contacts.consent?.value == false)
        let tasksQueued = try await store.pendingOutbox(limit: 100).filter { $0.topic == "follow-up-tasks" }
        #expect(tasksQueued.count == 1)
    }
}

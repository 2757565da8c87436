import ClienteleDomain
import ClienteleStore
import Foundation
import Testing

func purchase(_ id: String, client: String, day: Int, amount: String = "10") -> PurchaseEvent {
    PurchaseEvent(
        eventId: id, clientId: client,
        occurredAt: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!.adding(seconds: Int64(day) * 86_400),
        amount: Money(jsonNumber: amount)!, currency: Currency(code: "EUR")!)
}

let rules = PurchaseRules()
let clientRules = ClientRules()

@Suite("Client store contract (SQLite and PostgreSQL)")
struct StoreTests {
    @Test("a batch updates clients and writes status changes, tasks and outbox rows together", arguments: StoreBackend.allCases)
    func applyBatch(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let outcome = try await store.apply(
            [purchase("p1", client: "A", day: 0), purchase("p2", client: "A", day: 1), purchase("p3", client: "B", day: 2)],
            rules: clientRules)
        var expected = BatchOutcome(accepted: 3, duplicates: 0, statusChanges: 3, tasks: 2)
        expected.tally.transitions = [.init(from: nil, to: .new): 2, .init(from: .new, to: .active): 1]
        expected.tally.tasks = ["welcome_new_client": 2]
        #expect(outcome == expected)
        let a = try #require(try await store.client(id: "A", recent: 10))
        #expect(a.state.status == .active)
        #expect(a.state.purchaseCount == 2)
        #expect(a.recentStatusChanges.map(\.status) == [.active, .new])
        #expect(a.recentTasks.map(\.kind) == [.welcomeNewClient])
        let outbox = try await store.pendingOutbox(limit: 100)
        #expect(outbox.count == 5)
        #expect(outbox.map(\.id) == outbox.map(\.id).sorted())
        // Per client, in the order written: A's new, A's welcome, A's active.
        #expect(outbox.filter { $0.key == "A" }.map(\.topic) == ["client-status", "follow-up-tasks", "client-status"])
        let before = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
        let backlog = try await store.outboxBacklog()
        #expect(backlog.pending == 5)
        #expect(backlog.oldestWrittenAt.map { $0.millisecondsSinceEpoch > before && $0.millisecondsSinceEpoch <= before + 120_000 } == true,
                "\(String(describing: backlog.oldestWrittenAt))")
        try await store.markPublished(outbox.prefix(2).map(\.id))
        #expect(try await store.pendingOutbox(limit: 100).count == 3)
        #expect(try await store.outboxBacklog().pending == 3)
        try await store.markPublished(try await store.pendingOutbox(limit: 100).map(\.id))
        #expect(try await store.outboxBacklog() == OutboxBacklog(pending: 0, oldestWrittenAt: nil))
    }

    @Test("suppressed tasks are counted by kind and reason once, however often their cause is applied", arguments: StoreBackend.allCases)
    func suppressionTally(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let withdrawn = ContactEvent(
            eventId: "c1", clientId: "S", occurredAt: Timestamp(rfc3339: "2025-12-31T00:00:00Z")!, kind: .consentWithdrawn)
        _ = try await store.apply([withdrawn], rules: clientRules)
        let first = try await store.apply([purchase("s1", client: "S", day: 0)], rules: clientRules)
        #expect(first.suppressedTasks == 1)
        #expect(first.tally.suppressed == [.init(kind: "welcome_new_client", reason: "consent_withdrawn"): 1])
        #expect(first.tally.tasks.isEmpty)
        let again = try await store.apply([purchase("s1", client: "S", day: 0)], rules: clientRules)
        #expect(again.tally.isEmpty)
    }

    @Test("an event applied twice, in the same batch or a later one, counts once", arguments: StoreBackend.allCases)
    func idempotency(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let first = try await store.apply([purchase("p1", client: "A", day: 0), purchase("p1", client: "A", day: 0)], rules: clientRules)
        #expect(first.accepted == 1)
        #expect(first.duplicates == 1)
        // A restarted worker (new connection) replays the batch: nothing changes.
        let reopened = try database.open()
        let replay = try await reopened.apply([purchase("p1", client: "A", day: 0)], rules: clientRules)
        #expect(replay == BatchOutcome(accepted: 0, duplicates: 1))
        let summary = try await reopened.summary()
        #expect(summary.totalPurchases == 1)
        #expect(summary.acceptedEvents == 1)
        #expect(summary.outboxBacklog == 2)
    }

    @Test("two connections updating the same client at once lose no update", arguments: StoreBackend.allCases)
    func concurrentWriters(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let one = try database.open()
        let two = try database.open()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (writer, store) in [(0, one), (1, two)] {
                group.addTask {
                    for batch in 0..<20 {
                        let events = (0..<25).map { index in
                            purchase("w\(writer)-\(batch)-\(index)", client: "shared", day: batch, amount: "1")
                        }
                        _ = try await store.apply(events, rules: clientRules)
                    }
                }
            }
            try await group.waitForAll()
        }
        let client = try #require(try await one.client(id: "shared", recent: 1))
        #expect(client.state.purchaseCount == 1000)
        #expect(client.state.totalAmount == Money(jsonNumber: "1000"))
    }

    @Test("only one relay holds the outbox lease until it expires", arguments: StoreBackend.allCases)
    func relayLease(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        #expect(try await store.acquireRelayLease(holder: "a", for: .seconds(30)))
        #expect(try await store.acquireRelayLease(holder: "a", for: .seconds(30)))
        #expect(try await !store.acquireRelayLease(holder: "b", for: .seconds(30)))
        #expect(try await store.acquireRelayLease(holder: "a", for: .seconds(0)))  // a lets it lapse
        try await Task.sleep(for: .milliseconds(5))
        #expect(try await store.acquireRelayLease(holder: "b", for: .seconds(30)))
    }

    @Test("the file survives a reopen with its data, migrations are not re-run", arguments: StoreBackend.allCases)
    func reopen(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        do {
            let store = try database.open()
            _ = try await store.apply([purchase("p1", client: "A", day: 0)], rules: clientRules)
        }
        let again = try database.open()
        #expect(try await again.client(id: "A", recent: 5)?.state.purchaseCount == 1)
        #expect(try await again.client(id: "nobody", recent: 5) == nil)
    }

    @Test("two workers opening a fresh file at the same moment both migrate it without error", arguments: StoreBackend.allCases)
    func concurrentMigration(backend: StoreBackend) async throws {
        for _ in 0..<10 {
            let database = try await TemporaryDatabase.make(backend)
            defer { database.remove() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask { try await database.open().waitUntilReady() }
                }
                try await group.waitForAll()
            }
            _ = try await database.open().apply([purchase("p", client: "A", day: 0)], rules: clientRules)
        }
    }

    @Test("per-day purchase totals on the client match the recorded purchase days, whatever the order", arguments: StoreBackend.allCases)
    func purchaseDayTotals(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        // Day 10 twice (merged), day 3 late (becomes the first day), day 20; a refund changes nothing.
        _ = try await store.apply([purchase("a", client: "A", day: 10, amount: "5"), purchase("b", client: "A", day: 10, amount: "7")], rules: clientRules)
        _ = try await store.apply([purchase("c", client: "A", day: 20, amount: "30")], rules: clientRules)
        _ = try await store.apply([purchase("d", client: "A", day: 3, amount: "1")], rules: clientRules)
        let state = try #require(try await store.client(id: "A", recent: 0)?.state)
        let asOf = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!.adding(seconds: 30 * 86_400)
        let fromState = try #require(state.purchaseDays.summary(asOfDay: asOf.day))
        let fromTable = try #require(try await store.purchaseHistories(asOf: asOf)["A"])
        #expect(fromState == fromTable)
        #expect(fromState.x == 2)
        #expect(fromState.tx == 17.0 / 7)
        #expect(fromState.T == 27.0 / 7)
        #expect(fromState.meanRepeatValue == 21)  // (12 + 30) / 2
        #expect(state.purchaseCount == 4)

        // Late events between the first and last day: one on a known day, one on a new day.
        _ = try await store.apply([purchase("e", client: "A", day: 10, amount: "3"), purchase("f", client: "A", day: 15, amount: "9")], rules: clientRules)
        let later = try #require(try await store.client(id: "A", recent: 0)?.state.purchaseDays.summary(asOfDay: asOf.day))
        #expect(later == (try await store.purchaseHistories(asOf: asOf)["A"]))
        #expect(later.x == 3)
        #expect(later.meanRepeatValue == 18)  // (15 + 9 + 30) / 3
    }

    @Test("a path that cannot be opened gives a store error naming it")
    func unopenable() {
        #expect {
            _ = try SQLiteClientStore(path: "/nonexistent-dir/x/y.sqlite")
        } throws: { error in
            (error as? StoreError)?.code == .unavailable && "\(error)".contains("/nonexistent-dir/x/y.sqlite")
        }
    }
}

@Suite("DATABASE_URL parsing")
struct DatabaseURLTests {
    @Test("valid URLs", arguments: [
        ("sqlite:clientele.sqlite", "sqlite:clientele.sqlite?synchronous=full"),
        ("sqlite:///var/lib/c.db", "sqlite:/var/lib/c.db?synchronous=full"),
        ("sqlite:data.db?synchronous=normal", "sqlite:data.db?synchronous=normal"),
        ("postgres://app:secret@db:5433/clientele", "postgres://app:<redacted>@db:5433/clientele?sslmode=prefer"),
        ("postgresql://app@localhost/c?sslmode=verify-full", "postgres://app@localhost:5432/c?sslmode=verify-full"),
    ])
    func valid(text: String, normalized: String) throws {
        #expect(try DatabaseURL(parsing: text).description == normalized)
    }

    @Test("invalid URLs say what to fix", arguments: [
        "mysql://x", "sqlite:", "sqlite::memory:", "sqlite:x.db?journal=off", "postgres://localhost/db",
        "postgres://u@host:99999/db", "postgres://u@host:5432/", "", "postgres://u@h/db?sslmode=allow", "postgres://u@h/db?ssl=true",
    ])
    func invalid(text: String) {
        #expect {
            _ = try DatabaseURL(parsing: text)
        } throws: { error in
            (error as? StoreError)?.code == .invalidURL && (error as? StoreError)?.message.contains("DATABASE_URL") == true
        }
    }

    @Test("a PostgreSQL store needs the deployment key given: workers on several hosts share it")
    func postgresNeedsKey() throws {
        #expect {
            _ = try StoreOpener.open(try DatabaseURL(parsing: "postgres://u:p@localhost/db"))
        } throws: { error in
            (error as? StoreError)?.code == .invalidKey && "\(error)".contains("CLIENTELE_ERASURE_KEY_FILE")
        }
    }

    @Test("sslmode and sslrootcert are read; anything else is refused by name", arguments: [
        ("postgres://u@h/db?sslmode=require", DatabaseURL.SSLMode.require),
        ("postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem", .verifyFull),
        ("postgres://u@h/db?sslmode=disable", .disable),
        ("postgres://u@h/db", .prefer),
    ])
    func sslModes(text: String, mode: DatabaseURL.SSLMode) throws {
        guard case .postgres(let location) = try DatabaseURL(parsing: text) else { Issue.record("not PostgreSQL"); return }
        #expect(location.sslMode == mode)
    }

    @Test("a percent-encoded password is decoded and never shown")
    func encodedPassword() throws {
        let url = try DatabaseURL(parsing: "postgres://app:p%40ss%3Aword@db/c")
        guard case .postgres(let location) = url else { Issue.record("not PostgreSQL"); return }
        #expect(location.password == "p@ss:word")
        #expect(!url.description.contains("p@ss") && !url.description.contains("word"))
    }

    @Test("the password can come from DATABASE_PASSWORD_FILE, not from both places")
    func passwordFile() throws {
        let file = NSTemporaryDirectory() + "clientele-password-\(UUID().uuidString)"
        try "s3cret\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        guard case .postgres(let location) = try DatabaseURL(parsing: "postgres://app@db/c").withPassword(fromFile: file) else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(location.password == "s3cret")
        #expect(throws: StoreError.self) { try DatabaseURL(parsing: "postgres://app:x@db/c").withPassword(fromFile: file) }
        #expect(throws: StoreError.self) { try DatabaseURL(parsing: "sqlite:x.db").withPassword(fromFile: file) }
        #expect(throws: StoreError.self) { try DatabaseURL(parsing: "postgres://app@db/c").withPassword(fromFile: file + ".missing") }
    }
}

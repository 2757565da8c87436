import ClienteleDomain
import ClienteleStore
import Foundation
import GRDB
import Testing

@Suite("Store: idempotency per stream and content; the deployment key")
struct IdempotencyAndKeyTests {
    static let start = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!

    func bought(_ id: String, _ client: String, amount: String = "10", offset: Int64) -> InputBatch.Entry {
        .init(event: .purchase(PurchaseEvent(eventId: id, clientId: client, occurredAt: Self.start, amount: Money(jsonNumber: amount)!,
                                             currency: Currency(code: "EUR")!)), partition: 3, offset: offset)
    }

    @Test("the same id on the other stream is another event; on the same stream with other content it is a conflict, with the same content a duplicate", arguments: StoreBackend.allCases)
    func perStreamAndContent(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let rules = ClientRules()
        _ = try await store.apply(InputBatch(stream: .purchases, entries: [bought("42", "A", offset: 7)], completeBefore: [:], aligned: false), rules: rules)
        let contact = InputBatch(stream: .contacts, entries: [.init(event: .contact(ContactEvent(
            eventId: "42", clientId: "P", occurredAt: Self.start, kind: .call)), partition: 0, offset: 0)], completeBefore: [:], aligned: false)
        let other = try await store.apply(contact, rules: rules)
        #expect(other.accepted == 1 && other.duplicates == 0)
        #expect(try await store.client(id: "P", recent: 1) != nil)

        let again = try await store.apply(InputBatch(stream: .purchases, entries: [bought("42", "A", offset: 9)], completeBefore: [:], aligned: false), rules: rules)
        #expect(again.duplicates == 1 && again.conflicts.isEmpty)
        let changed = try await store.apply(
            InputBatch(stream: .purchases, entries: [bought("42", "A", amount: "99", offset: 11)], completeBefore: [:], aligned: false), rules: rules)
        #expect(changed.accepted == 0 && changed.duplicates == 0)
        #expect(changed.conflicts == [ConflictingDuplicate(stream: .purchases, eventId: "42", partition: 3, offset: 11, firstPartition: 3, firstOffset: 7)])
        #expect(try await store.client(id: "A", recent: 1)?.state.totalAmount == Money(jsonNumber: "10"))
    }

    @Test("an event the rules refuse when applied is not applied, and its record goes so that it can be sent again once fixed", arguments: StoreBackend.allCases)
    func refusedWhenApplied(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let rules = ClientRules()
        _ = try await store.apply([purchase("p1", client: "C", day: 0)], rules: rules)
        let usd = PurchaseEvent(eventId: "p2", clientId: "C", occurredAt: Self.start.adding(seconds: 86_400), amount: Money(jsonNumber: "100")!,
                                currency: Currency(code: "USD")!)
        let outcome = try await store.apply([usd], rules: rules)
        #expect(outcome.accepted == 0 && outcome.rejected.map(\.rejection.reason) == [.currencyMismatch])
        #expect(try await store.client(id: "C", recent: 1)?.state.purchaseCount == 1)
        // With a reporting currency and a rate, the same event is accepted when sent again.
        var rates = ExchangeRates()
        try rates.add(Currency(code: "USD")!, from: Self.start.day, rate: ExchangeRate(decimal: "0.9")!)
        let converting = ClientRules(purchases: PurchaseRules(currencies: CurrencyPolicy(reportingCurrency: Currency(code: "EUR")!, rates: rates)))
        let resent = try await store.apply([usd], rules: converting)
        #expect(resent.accepted == 1 && resent.rejected.isEmpty)
        let view = try #require(try await store.client(id: "C", recent: 5))
        #expect(view.state.totalAmount == Money(jsonNumber: "100"))  // 10 EUR + 100 USD × 0.9
        #expect(view.recentConvertedPurchases.map(\.originalCurrency) == ["USD"])
    }

    @Test("every process of a store uses the same deployment key; another key is refused")
    func keyIdentity() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let first = try database.openSQLite()
        #expect(first.createdKeyFile == database.path + ".key")
        let attributes = try FileManager.default.attributesOfItem(atPath: database.path + ".key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try database.openSQLite()
        #expect(second.createdKeyFile == nil)
        do {
            _ = try SQLiteClientStore(path: database.path, key: .key(DeploymentKey.random()))
            Issue.record("another key was accepted")
        } catch let error as StoreError {
            #expect(error.code == .invalidKey && error.message.contains("CLIENTELE_ERASURE_KEY_FILE"))
        }
        // A look without the key opens, and refuses to apply.
        let look = try SQLiteClientStore(path: database.path, key: .none)
        await #expect(throws: StoreError.self) { try await look.apply([purchase("x", client: "A", day: 0)], rules: ClientRules()) }
    }

    @Test("erasure records kept as a plain SHA-256 before keys existed are re-keyed, and still recognized")
    func legacyErasureRecords() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let key = DeploymentKey.random()
        _ = try SQLiteClientStore(path: database.path, key: .key(key))
        let legacy = SHA256.hex("alice@example.com")
        let queue = try DatabaseQueue(path: database.path)
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO erased_clients (client_hash, erased_at, keyed) VALUES (?, 1, 0)", arguments: [legacy])
        }
        try await queue.close()
        let store = try SQLiteClientStore(path: database.path, key: .key(key))
        try await store.purgeWriteAheadLog()
        #expect(!databaseFiles(at: database.path, contain: legacy))
        let outcome = try await store.apply([purchase("p", client: "alice@example.com", day: 0)], rules: ClientRules())
        #expect(outcome.ignoredForErasedClients == 1)
    }

    @Test("records of the first release that kept fingerprints (the keyed hash of the contract JSON) still tell a redelivery from a conflict")
    func legacyContentFingerprints() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let key = try DeploymentKey(bytes: Array(0..<32))
        let store = try SQLiteClientStore(path: database.path, key: .key(key))
        let rules = ClientRules()
        let first = bought("7", "A", offset: 1)
        _ = try await store.apply(InputBatch(stream: .purchases, entries: [first], completeBefore: [:], aligned: false), rules: rules)
        let queue = try DatabaseQueue(path: database.path)
        let stored = try await queue.read { db in try Data.fetchOne(db, sql: "SELECT content FROM processed_events WHERE event_id = '7'") }
        #expect(stored?.count == DeploymentKey.contentFingerprintLength)
        try await queue.write { db in
            try db.execute(sql: "UPDATE processed_events SET content = ? WHERE event_id = '7'", arguments: [Data(Self.bytes(hex: Self.legacyFingerprint))])
        }
        try await queue.close()
        let again = try await store.apply(InputBatch(stream: .purchases, entries: [bought("7", "A", offset: 2)], completeBefore: [:], aligned: false), rules: rules)
        #expect(again.duplicates == 1 && again.conflicts.isEmpty)
        let changed = try await store.apply(
            InputBatch(stream: .purchases, entries: [bought("7", "A", amount: "11", offset: 3)], completeBefore: [:], aligned: false), rules: rules)
        #expect(changed.conflicts.map(\.offset) == [3])
    }

    // Computed apart from the code under test (Python's hmac) for the key 00 01 … 1f and the purchase
    // "7" of client "A", 10 EUR at 2026-01-01T00:00:00Z: HMAC-SHA-256 of its contract JSON
    // `{"eventId":"7","clientId":"A","occurredAt":"2026-01-01T00:00:00Z","amount":10.00,"currency":"EUR"}`,
    // 16 bytes; and of "clientele event content v2\0" followed by its field encoding, 20 bytes.
    static let legacyFingerprint = "85248cf9d1a9c57ecdc8e0bcc31ee1ec"
    static let contentFingerprint = "94c119104ecaa081fb041cc14c7d1581de34925b"

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    @Test("content fingerprints are what an independent HMAC-SHA-256 gives: a record written today is recognized by every later release")
    func pinnedFingerprints() throws {
        let key = try DeploymentKey(bytes: Array(0..<32))
        let event = bought("7", "A", offset: 1).event
        #expect(key.contentFingerprints(of: [event]) == [Self.bytes(hex: Self.contentFingerprint)])
        #expect(key.legacyFingerprint(event) == Self.bytes(hex: Self.legacyFingerprint))
        #expect(DeploymentKey.random().contentFingerprints(of: [event]) != key.contentFingerprints(of: [event]))
    }
}

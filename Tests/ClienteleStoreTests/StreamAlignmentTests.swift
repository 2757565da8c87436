import ClienteleDomain
import ClienteleStore
import Foundation
import GRDB
import Testing

@Suite("Store: events applied in event-time order across the two streams")
struct StreamAlignmentTests {
    static let start = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
    static func day(_ n: Double) -> Timestamp { start.adding(seconds: Int64(n * 86_400)) }

    func bought(_ id: String, _ client: String, day: Double, partition: Int32 = 0, offset: Int64) -> InputBatch.Entry {
        .init(event: .purchase(PurchaseEvent(eventId: id, clientId: client, occurredAt: Self.day(day),
                                             amount: Money(jsonNumber: "30")!, currency: Currency(code: "EUR")!)),
              partition: partition, offset: offset)
    }

    func contacted(_ id: String, _ client: String, _ kind: ContactEvent.Kind, day: Double, partition: Int32 = 0, offset: Int64,
                   qualification: Qualification? = nil) -> InputBatch.Entry {
        .init(event: .contact(ContactEvent(eventId: id, clientId: client, occurredAt: Self.day(day), kind: kind, channel: "web",
                                           direction: .inbound, qualification: qualification)),
              partition: partition, offset: offset)
    }

    func batch(_ stream: EventStream, _ entries: [InputBatch.Entry], complete: [Int32: Double], limit: Int = 50_000) -> InputBatch {
        InputBatch(stream: stream, entries: entries, completeBefore: complete.mapValues { Self.day($0) }, aligned: true, releaseLimit: limit)
    }

    let rules = ClientRules()

    @Test("a purchase waits until the contact stream has passed its time, then finds the withdrawal made before it", arguments: StoreBackend.allCases)
    func purchaseWaitsForWithdrawal(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        // The purchase-worker is first: nothing is known of the contacts yet.
        let first = try await store.apply(batch(.purchases, [bought("p1", "C1", day: 31, offset: 0)], complete: [0: 31]), rules: rules)
        #expect(first.accepted == 1 && first.held == 1 && first.tasks == 0)
        #expect(try await store.client(id: "C1", recent: 1) == nil)
        #expect(try await store.waitingEvents().counts == [.purchases: 1])
        #expect(try await store.pendingOutbox(limit: 10).isEmpty)
        // The contact-worker reads a withdrawal of day 0 and is complete to day 40: both apply, in order.
        let second = try await store.apply(
            batch(.contacts, [contacted("w1", "C1", .consentWithdrawn, day: 0, offset: 0)], complete: [0: 40]), rules: rules)
        #expect(second.released == 1 && second.held == 0)
        #expect(second.tasks == 0 && second.suppressedTasks == 1)
        let view = try #require(try await store.client(id: "C1", recent: 5))
        #expect(view.state.status == .new && view.recentSuppressedTasks.map(\.task.kind) == [.welcomeNewClient])
        #expect(try await store.waitingEvents().total == 0)
        // The same purchase delivered again is a duplicate, waiting or not.
        let again = try await store.apply(batch(.purchases, [bought("p1", "C1", day: 31, offset: 0)], complete: [0: 31]), rules: rules)
        #expect(again.duplicates == 1 && again.accepted == 0)
    }

    @Test("contacts read far ahead wait for the purchases; a prospect who had bought gets no follow-up", arguments: StoreBackend.allCases)
    func contactsAheadWait(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let hot = Qualification(budget: true, authority: true, need: true)
        let contacts = try await store.apply(batch(.contacts, [
            contacted("c1", "C1", .inquiry, day: 10, offset: 0, qualification: hot),   // after C1's first purchase
            contacted("c2", "P1", .inquiry, day: 12, offset: 1, qualification: hot),   // P1 never buys
        ], complete: [0: 12]), rules: rules)
        #expect(contacts.held == 2)
        let purchases = try await store.apply(batch(.purchases, [
            bought("p1", "C1", day: 5, offset: 0), bought("p2", "C1", day: 20, offset: 1),
        ], complete: [0: 20]), rules: rules)
        // Day 20 is past what the contacts reported (day 12): that purchase waits in its turn.
        #expect(purchases.released == 2 && purchases.held == 1)
        _ = try await store.apply(batch(.contacts, [], complete: [0: 25]), rules: rules)
        let c1 = try #require(try await store.client(id: "C1", recent: 10))
        #expect(c1.recentStatusChanges.map(\.status) == [.active, .new])
        #expect(!c1.recentTasks.contains { $0.kind == .prospectFollowUp })
        let p1 = try #require(try await store.client(id: "P1", recent: 10))
        #expect(p1.state.status == .prospect && p1.state.temperature == .hot)
        #expect(p1.recentTasks.map(\.kind) == [.prospectFollowUp])
        // The outbox holds C1's messages in event-time order: new (day 5), welcome, active (day 20).
        let outbox = try await store.pendingOutbox(limit: 20).filter { $0.key == "C1" }
        #expect(outbox.map(\.topic) == ["client-status", "follow-up-tasks", "client-status"])
    }

    @Test("a long-waiting backlog is released in bounded transactions, in order, never overtaken by newer events", arguments: StoreBackend.allCases)
    func releaseLimit(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let purchases = (0..<10).map { bought("p\($0)", "C\($0 % 3)", day: Double($0), offset: Int64($0)) }
        #expect(try await store.apply(batch(.purchases, purchases, complete: [0: 9]), rules: rules).held == 10)
        // The contact stream jumps past them all, with one contact of its own on day 4.5.
        var outcome = try await store.apply(
            batch(.contacts, [contacted("k", "C1", .complaint, day: 4.5, offset: 0)], complete: [0: 30], limit: 4), rules: rules)
        #expect(outcome.released == 4 && outcome.moreDue)
        // The complaint (day 4.5) comes after purchases 0–4: it waits too.
        #expect(outcome.held == 1)
        var rounds = 1
        while outcome.moreDue {
            outcome = try await store.apply(batch(.contacts, [], complete: [0: 30], limit: 4), rules: rules)
            rounds += 1
        }
        #expect(rounds == 3)
        #expect(try await store.waitingEvents().total == 0)
        let c1 = try #require(try await store.client(id: "C1", recent: 20))
        #expect(c1.state.purchaseCount == 3 && c1.state.contacts.complaintCount == 1)
        // C1 bought on days 1, 4 (then complained: an active client, high), 7.
        #expect(c1.recentTasks.first { $0.kind == .complaintFollowUp }?.priority == .high)
    }

    @Test("an erasure is applied at once and removes the client's waiting events", arguments: StoreBackend.allCases)
    func erasureAtOnce(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        _ = try await store.apply(batch(.purchases, [bought("p1", "jane@example.com", day: 1, offset: 0),
                                                     bought("p2", "other", day: 1, offset: 1)], complete: [0: 1]), rules: rules)
        #expect(try await store.waitingEvents().total == 2)
        let erased = try await store.apply(
            batch(.contacts, [contacted("x", "jane@example.com", .erasureRequest, day: 0.5, offset: 0)], complete: [0: 0.5]), rules: rules)
        #expect(erased.erasures == 1)
        #expect(try await store.waitingEvents().total == 1)
        _ = try await store.apply(batch(.contacts, [], complete: [0: 5]), rules: rules)
        #expect(try await store.client(id: "jane@example.com", recent: 1) == nil)
        #expect(try await store.client(id: "other", recent: 1)?.state.purchaseCount == 1)
    }

    @Test("completeness is recorded per partition, only raised; an event read behind it is late; the frontier is the least complete", arguments: StoreBackend.allCases)
    func progressAndLateness(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        _ = try await store.apply(batch(.contacts, [], complete: [0: 50, 1: 50]), rules: rules)
        _ = try await store.apply(batch(.purchases, [bought("p1", "A", day: 10, partition: 1, offset: 0)], complete: [0: 20, 1: 10]), rules: rules)
        #expect(try await store.streamFrontier(partitions: 2) == Self.day(10))
        #expect(try await store.streamFrontier(partitions: 3) == nil)
        // Lower completeness is ignored; an event before what was recorded is late, and applied at once.
        let late = try await store.apply(batch(.purchases, [bought("p0", "B", day: 15, offset: 0)], complete: [0: 16]), rules: rules)
        #expect(late.late == 1 && late.held == 0 && late.accepted == 1)
        let progress = try await store.streamProgress()
        #expect(progress.first { $0.stream == .purchases && $0.partition == 0 }?.completeBefore == Self.day(20))
        #expect(try await store.streamFrontier(partitions: 2) == Self.day(10))
    }

    @Test("without alignment every event is applied when read", arguments: StoreBackend.allCases)
    func unaligned(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        var input = batch(.purchases, [bought("p1", "A", day: 10, offset: 0)], complete: [0: 10])
        input.aligned = false
        let outcome = try await store.apply(input, rules: rules)
        #expect(outcome.held == 0 && outcome.tasks == 1)
    }

    @Test("a churn review in a batch counts the tasks the store already holds, also after the batch created one", arguments: StoreBackend.allCases)
    func cooldownAcrossTheBatch(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let quick = ClientRules(churn: ChurnPolicy(rules: RecencyRules(sector: SectorLimits(name: "q", atRiskAfterDays: 20, passiveAfterDays: 60)), models: nil))
        func input(_ entries: [InputBatch.Entry]) -> InputBatch { InputBatch(unaligned: entries.map(\.event), stream: .purchases) }
        // Day 0 purchase; at risk on day 20 (a retention offer), reactivated on day 25.
        _ = try await store.apply(input([bought("a", "C1", day: 0, offset: 0)]), rules: quick)
        _ = try await store.apply(input([bought("b", "C1", day: 25, offset: 1)]), rules: quick)
        // One batch: a complaint on day 30 (a task, no review due), then a call on day 50 after a
        // new lapse on day 45 — within 30 days of the offer of day 20: no second offer.
        let outcome = try await store.apply(InputBatch(unaligned: [
            contacted("k", "C1", .complaint, day: 30, offset: 0).event, contacted("c", "C1", .call, day: 50, offset: 1).event,
        ], stream: .contacts), rules: quick)
        #expect(outcome.churnRisks == 1)
        let kinds = try #require(try await store.client(id: "C1", recent: 20)).recentTasks.map(\.kind)
        #expect(kinds.filter { $0 == .retentionOffer }.count == 1)
        #expect(kinds.contains(.complaintFollowUp))
    }

    @Test("the frontier stays before events already due but left waiting by a release limit", arguments: StoreBackend.allCases)
    func frontierBeforeDueWaiting(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let purchases = (0..<6).map { bought("p\($0)", "C\($0)", day: Double($0), offset: Int64($0)) }
        _ = try await store.apply(batch(.purchases, purchases, complete: [0: 10]), rules: rules)
        let outcome = try await store.apply(batch(.contacts, [], complete: [0: 10], limit: 2), rules: rules)
        #expect(outcome.released == 2 && outcome.moreDue)
        #expect(try await store.streamFrontier(partitions: 1) == Self.day(2))
        #expect(try await store.oldestWaitingByPartition(stream: .purchases) == [0: Self.day(2)])
        #expect(try await store.oldestWaitingByPartition(stream: .contacts).isEmpty)
    }

    @Test("a waiting event that cannot be read back when due is set aside, not applied and not lost")
    func unreadableWaitingEvent() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = try database.open()
        _ = try await store.apply(batch(.purchases, [bought("p1", "C1", day: 1, offset: 0), bought("p2", "C2", day: 2, offset: 1)],
                                        complete: [0: 2]), rules: rules)
        let queue = try DatabaseQueue(path: database.path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE waiting_events SET payload = ? WHERE event_id = 'p1'", arguments: [Data("{}".utf8)])
        }
        let outcome = try await store.apply(batch(.contacts, [], complete: [0: 5]), rules: rules)
        #expect(outcome.unreadableWaiting == 1 && outcome.released == 1)
        #expect(try await store.client(id: "C1", recent: 1) == nil)
        #expect(try await store.client(id: "C2", recent: 1) != nil)
        let kept = try await queue.read { db in try String.fetchAll(db, sql: "SELECT event_id || ':' || reason FROM unreadable_waiting_events") }
        #expect(kept == ["p1:missing_field"])
        #expect(try await store.waitingEvents().total == 0)
    }
}

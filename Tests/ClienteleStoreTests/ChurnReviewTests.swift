import ClienteleDomain
import ClienteleStore
import Foundation
import GRDB
import Synchronization
import Testing

@Suite("Churn reviews in the store (SQLite and PostgreSQL)")
struct ChurnReviewTests {
    static let origin = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
    static func day(_ n: Int) -> Timestamp { origin.adding(seconds: Int64(n) * 86_400) }

    /// At risk 10 days after the last purchase, passive after 40 (one- and two-time buyers).
    let policy = ChurnPolicy(rules: RecencyRules(sector: SectorLimits(name: "test", atRiskAfterDays: 10, passiveAfterDays: 40)), models: nil)
    var rules: ClientRules { ClientRules(churn: policy) }

    func review(_ store: any ClientStore, at now: Timestamp, limit: Int = 1000) async throws -> ReviewOutcome {
        let policy = policy
        return try await store.reviewDueClients(now: now, limit: limit) { client, lastTasks in
            policy.review(&client, now: now, lastTaskAt: lastTasks)
        }
    }

    @Test("a sweep reviews only the due clients, once, and writes statuses, churn-risk events and tasks to the outbox", arguments: StoreBackend.allCases)
    func sweepReadsOnlyDueClients(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        _ = try await store.apply(
            [purchase("a", client: "A", day: 0), purchase("b", client: "B", day: 5), purchase("c", client: "C", day: 30)],
            rules: rules)
        #expect(try await store.client(id: "A", recent: 0)?.state.nextReviewAt == Self.day(10))

        let first = try await review(store, at: Self.day(12))
        #expect(first.reviewed == 1)
        #expect(first.statusChanges == 1 && first.churnRisks == 1 && first.tasks == 1)
        #expect(try await store.client(id: "A", recent: 0)?.state.status == .atRisk)
        #expect(try await store.client(id: "B", recent: 0)?.state.status == .new)
        #expect(try await review(store, at: Self.day(12)).reviewed == 0)

        // Much later: B goes through both levels in one review, each at its own moment with its
        // own event and task; A becomes passive, C at risk.
        let later = try await review(store, at: Self.day(46))
        #expect(later.reviewed == 3)
        let statuses = try await ["A", "B", "C"].asyncMap { try await store.client(id: $0, recent: 5)!.state.status }
        #expect(statuses == [.passive, .passive, .atRisk])
        let topics = try await store.pendingOutbox(limit: 100).map(\.topic)
        #expect(topics.filter { $0 == OutputTopic.churnRisk }.count == 5)
        let b = try #require(try await store.client(id: "B", recent: 5))
        #expect(b.recentStatusChanges.map(\.status) == [.passive, .atRisk, .new])
        #expect(b.recentStatusChanges.map(\.changedAt) == [Self.day(45), Self.day(15), Self.day(5)])
        #expect(b.recentTasks.map(\.kind) == [.reactivationCampaign, .retentionOffer, .welcomeNewClient])
        #expect(b.recentTasks.prefix(2).map(\.createdAt) == [Self.day(45), Self.day(15)])
        #expect(b.state.nextReviewAt == nil)
    }

    @Test("two reviewers on one file never review a client twice", arguments: StoreBackend.allCases)
    func concurrentReviewers(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let events = (0..<2000).map { purchase("p\($0)", client: "C\($0)", day: $0 % 20) }
        _ = try await store.apply(events, rules: rules)
        let other = try database.open()
        let now = Self.day(25)
        async let one = sweepAll(store, at: now)
        async let two = sweepAll(other, at: now)
        let (a, b) = try await (one, two)
        #expect(a + b == 1600)  // clients who bought on days 0…15 are at risk by day 25
        let outbox = try await store.pendingOutbox(limit: 10_000)
        let risks = outbox.filter { $0.topic == OutputTopic.churnRisk }
        #expect(risks.count == 1600)
        #expect(Set(risks.map(\.messageId)).count == 1600)
        #expect(try await store.summary().clientsByStatus["at_risk"] == 1600)
    }

    private func sweepAll(_ store: any ClientStore, at now: Timestamp) async throws -> Int {
        var total = 0
        while true {
            let outcome = try await review(store, at: now, limit: 10)
            total += outcome.reviewed
            if outcome.reviewed == 0 { return total }
            await Task.yield()
        }
    }

    @Test("the cooldown counts the tasks already in the store", arguments: StoreBackend.allCases)
    func cooldown(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        _ = try await store.apply([purchase("1", client: "A", day: 0)], rules: rules)
        #expect(try await review(store, at: Self.day(11)).tasks == 1)  // retention_offer
        _ = try await store.apply([purchase("2", client: "A", day: 12)], rules: rules)
        #expect(try await store.client(id: "A", recent: 0)?.state.status == .active)
        let again = try await review(store, at: Self.day(23))
        #expect(again.statusChanges == 1 && again.churnRisks == 1)
        #expect(again.tasks == 0)  // the offer of day 10 is 12 days older than the new lapse
        let kinds = try #require(try await store.client(id: "A", recent: 10)).recentTasks.map(\.kind)
        #expect(kinds.filter { $0 == .retentionOffer }.count == 1)
    }

    @Test("rescheduling recomputes review times; the event clock is the oldest partition's newest event", arguments: StoreBackend.allCases)
    func rescheduleAndClock(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let events = (0..<25).map { purchase("p\($0)", client: String(format: "C%02d", $0), day: $0) }
        // Scheduled with the general sector (90 days), then rescheduled with the test's 10 days.
        _ = try await store.apply(events, rules: clientRules, newestEventTimes: ["purchases/0": Self.day(24), "purchases/1": Self.day(7)])
        #expect(try await store.client(id: "C03", recent: 0)?.state.nextReviewAt == Self.day(93))
        #expect(try await store.eventClock(idleAfter: .seconds(30)) == Self.day(7))
        _ = try await store.apply([purchase("x", client: "C00", day: 1)], rules: clientRules, newestEventTimes: ["purchases/1": Self.day(30)])
        #expect(try await store.eventClock(idleAfter: .seconds(30)) == Self.day(24))
        // A partition that stops advancing stops holding the clock back once idle.
        try await Task.sleep(for: .milliseconds(20))
        _ = try await store.apply([purchase("y", client: "C01", day: 2)], rules: clientRules, newestEventTimes: ["purchases/1": Self.day(40)])
        #expect(try await store.eventClock(idleAfter: .seconds(30)) == Self.day(24))
        #expect(try await store.eventClock(idleAfter: .milliseconds(10)) == Self.day(40))
        #expect(try await store.dueReviewCount(at: Self.day(40)) == 0)
        #expect(try await store.dueReviewCount(at: Self.day(93)) == 4)  // C00 (day 91), C01 (92), C02, C03

        let policy = policy
        let pass = ReschedulePass(id: "test-policy", completedSetting: "schedule")
        var chunks: [RescheduleProgress] = []
        repeat {
            chunks.append(try await store.rescheduleReviews(pass, limit: 10) { policy.nextReview(for: $0) })
        } while !(chunks.last?.finished ?? false)
        #expect(chunks == [.init(clients: 10, finished: false), .init(clients: 10, finished: false), .init(clients: 5, finished: true)])
        #expect(try await store.client(id: "C03", recent: 0)?.state.nextReviewAt == Self.day(13))
        #expect(try await store.setting("schedule") == "test-policy")
        #expect(try await store.setting(pass.cursorSetting) == nil)  // cursors dropped once complete
        // A completed pass does nothing; the same pass started again after another completed starts over.
        #expect(try await store.rescheduleReviews(pass, limit: 10) { _ in nil } == .init(clients: 0, finished: true))
        let other = ReschedulePass(id: "other-policy", completedSetting: "schedule")
        #expect(try await store.rescheduleReviews(other, limit: 30) { policy.nextReview(for: $0) }.clients == 25)
        #expect(try await store.rescheduleReviews(pass, limit: 30) { policy.nextReview(for: $0) }.clients == 25)
        #expect(try await store.setting("x") == nil)
        try await store.setSetting("x", to: "1")
        try await store.setSetting("x", to: "2")
        #expect(try await store.setting("x") == "2")
    }

    @Test("churn-worker replicas share a rescheduling pass: every client rescheduled exactly once", arguments: StoreBackend.allCases)
    func sharedReschedulingPass(backend: StoreBackend) async throws {
        let database = try await TemporaryDatabase.make(backend)
        defer { database.remove() }
        let store = try database.open()
        let events = (0..<1_000).map { purchase("p\($0)", client: String(format: "C%04d", $0), day: $0 % 30) }
        _ = try await store.apply(events, rules: clientRules)
        let policy = policy
        let pass = ReschedulePass(id: "shared", completedSetting: "schedule")
        // Every client the schedule closure sees, per replica: a client seen twice was rescheduled twice.
        let seen = SeenClients()
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    var handled = 0
                    var progress: RescheduleProgress
                    repeat {
                        progress = try await store.rescheduleReviews(pass, limit: 37) { client in
                            seen.counts.withLock { $0[client.clientId, default: 0] += 1 }
                            return policy.nextReview(for: client)
                        }
                        handled += progress.clients
                    } while !progress.finished
                    return handled
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts.reduce(0, +) == 1_000)
        let everyClient = seen.counts.withLock { $0 }
        #expect(everyClient.count == 1_000 && everyClient.values.allSatisfy { $0 == 1 })
        let client = try #require(try await store.client(id: "C0003", recent: 0)).state
        #expect(client.nextReviewAt == policy.nextReview(for: client))
        #expect(try await store.setting("schedule") == "shared")
    }

    @Test("SQLite: a pass longer than one chunk drops the review index until its end; meanwhile the sweep still finds the due clients, and reopening the store builds the index of an interrupted pass")
    func reviewIndexDuringAPass() async throws {
        let database = try await TemporaryDatabase.make(.sqlite)
        defer { database.remove() }
        let store = try database.open()
        let file = try GRDB.DatabaseQueue(path: database.path)
        func indexed() throws -> Bool {
            try file.read { try Bool.fetchOne($0, sql: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'clients_by_next_review')") ?? false }
        }
        // Scheduled with the general sector (90 days after the purchase).
        _ = try await store.apply((0..<25).map { purchase("p\($0)", client: String(format: "C%02d", $0), day: $0) }, rules: clientRules)
        #expect(try indexed())
        let policy = policy
        let pass = ReschedulePass(id: "test-policy", completedSetting: "schedule")
        // The first chunk (C00–C09) moves to the test policy's 10 days, then the pass stops.
        #expect(try await store.rescheduleReviews(pass, limit: 10) { policy.nextReview(for: $0) } == .init(clients: 10, finished: false))
        #expect(try !indexed())
        #expect(try await store.client(id: "C02", recent: 0)?.state.nextReviewAt == Self.day(12))
        #expect(try await store.client(id: "C12", recent: 0)?.state.nextReviewAt == Self.day(102))
        #expect(try await store.dueReviewCount(at: Self.day(12)) == 3)
        #expect(try await review(store, at: Self.day(12)).reviewed == 3)  // C00, C01, C02, read without the index
        // Another process opening the file meanwhile builds the index again; the pass goes on.
        _ = try database.open()
        #expect(try indexed())
        var progress: RescheduleProgress
        repeat { progress = try await store.rescheduleReviews(pass, limit: 10) { policy.nextReview(for: $0) } } while !progress.finished
        #expect(try indexed())
        let client = try #require(try await store.client(id: "C24", recent: 0)).state
        #expect(client.nextReviewAt == Self.day(34) && client.nextReviewAt == policy.nextReview(for: client))
        // A store of at most one chunk never drops it.
        let again = ReschedulePass(id: "again", completedSetting: "schedule")
        #expect(try await store.rescheduleReviews(again, limit: 30) { policy.nextReview(for: $0) } == .init(clients: 25, finished: true))
        #expect(try indexed())
    }

}

/// How often each client was handed to a schedule closure, across tasks.
final class SeenClients: Sendable {
    let counts = Mutex<[String: Int]>([:])
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

import ClienteleDomain
import ClienteleRuntime
import ClienteleStore
import Foundation
import ClienteleWorkload
import Logging
import Testing

@Suite("churn-worker sweeps on a store")
struct ChurnWorkerTests {
    static let origin = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
    static func day(_ n: Int) -> Timestamp { origin.adding(seconds: Int64(n) * 86_400) }

    func purchase(_ id: String, client: String, day: Int) -> PurchaseEvent {
        PurchaseEvent(eventId: id, clientId: client, occurredAt: Self.day(day), amount: Money(jsonNumber: "40")!,
                      currency: Currency(code: "EUR")!)
    }

    /// Grocery: at risk after 21 quiet days, passive after 60.
    let churn = ChurnConfiguration(
        rules: RecencyRules(sector: SectorLimits(name: "grocery", atRiskAfterDays: 21, passiveAfterDays: 60)),
        modelRefresh: .milliseconds(1))

    @Test("on the event clock the sweep judges by the newest event time, and a fitted model is picked up without a restart")
    func eventClockAndModelPickUp() async throws {
        let directory = NSTemporaryDirectory() + "clientele-churn-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteClientStore(path: directory + "/store.sqlite")
        let logger = Logger(label: "test")
        let policies = ChurnPolicySource(configuration: churn, store: store, logger: logger)
        // One stream only here: the sweep judges by the event clock alone (the streams' frontier
        // is tested below).
        let worker = ChurnWorker(store: store, policies: policies, relay: nil, clock: .event, configuration: churn,
                                 alignment: StreamAlignmentSettings(enabled: false), logger: logger)

        // Nothing has happened yet: no clock, nothing to judge.
        #expect(try await worker.sweepOnce().reviewed == 0)

        // Forty clients buy weekly for 10 weeks; ten of them stop after week 2.
        var events: [PurchaseEvent] = []
        for client in 0..<40 {
            let weeks = client < 10 ? 0..<3 : 0..<10
            for week in weeks { events.append(purchase("p\(client)-\(week)", client: "C\(client)", day: week * 7)) }
        }
        let rules = ClientRules(churn: await policies.current())
        _ = try await store.apply(events, rules: rules, newestEventTimes: ["purchases/0": Self.day(63)])

        // Event clock = day 63. The ten who stopped on day 14 bought weekly: at risk after 2 × 7
        // days, passive after 4 × 7 — both passed; the sweep records both levels, each with its
        // churn-risk event and task.
        let first = try await worker.sweepOnce()
        #expect(first.reviewed == 10)
        #expect(first.statusChanges == 20 && first.churnRisks == 20 && first.tasks == 20)
        #expect(try await store.setting(StoreSettingNames.churnJudgedThrough) == Self.day(63).rfc3339)
        #expect(try await store.summary().clientsByStatus["passive"] == 10)
        #expect(try await store.setting("churn.review_schedule")?.hasPrefix("model=none;") == true)
        #expect(try await worker.sweepOnce().reviewed == 0)

        // A year later (event clock day 400), with varied rhythms (simulated MBG/NBD buyers who
        // joined over the year), a model is fitted: the next sweep reschedules everyone with it and
        // judges by P(alive).
        let simulated = SyntheticHistories(
            parameters: .init(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426), variant: .mbgnbd, clients: 3000, cohortWeeks: 52, seed: 3
        ).histories()
        var more: [PurchaseEvent] = []
        for (index, summary) in simulated.enumerated() {
            let first = 400 - Int((summary.T * 7).rounded())
            let last = first + Int((summary.tx * 7).rounded())
            let repeats = Int(summary.x)
            let days = repeats == 0 ? [first] : [first] + (1...repeats).map { first + (last - first) * $0 / repeats }
            for (n, day) in days.enumerated() { more.append(purchase("s\(index)-\(n)", client: "S\(index)", day: day)) }
        }
        _ = try await store.apply(more, rules: rules, newestEventTimes: ["purchases/0": Self.day(400)])
        let fit = try await ModelFitting.fitAndSave(store: store, asOf: Self.day(400), variant: .mbgnbd)
        try await Task.sleep(for: .milliseconds(5))
        _ = try await worker.sweepOnce()
        let schedule = try #require(try await store.setting("churn.review_schedule"))
        #expect(schedule.hasPrefix("model=mbgnbd/v\(fit.savedPurchases.version);"))
        let models = try #require(try await ChurnPolicySource.newestModels(kind: .mbgnbd, store: store))
        let modelPolicy = churn.policy(models: models)
        var lapsed = 0
        for id in (0..<40).map({ "C\($0)" }) + (0..<3000).map({ "S\($0)" }) {
            let state = try #require(try await store.client(id: id, recent: 0)?.state)
            let assessment = try #require(modelPolicy.assess(state, at: Self.day(400)))
            #expect(assessment.basis.hasPrefix("mbgnbd:"))
            // Every status agrees with P(alive) now (allowing the hysteresis band for lapsed clients).
            let p = try #require(assessment.probabilityAlive)
            switch state.status {
            case .atRisk?: #expect(p < 0.6 && p >= 0.2, "\(id) at risk with P(alive) \(p)"); lapsed += 1
            case .passive?: #expect(p < 0.3, "\(id) passive with P(alive) \(p)"); lapsed += 1
            default: #expect(p >= 0.5, "\(id) \(String(describing: state.status)) with P(alive) \(p)")
            }
            #expect(state.nextReviewAt.map { $0 > Self.day(400) } ?? true)
        }
        #expect(lapsed >= 10)
    }

    @Test("an event worker notices churn settings that differ from the churn-worker's")
    func settingsAgreement() async throws {
        let directory = NSTemporaryDirectory() + "clientele-churn-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteClientStore(path: directory + "/store.sqlite")
        let logger = Logger(label: "test")
        let same = ChurnPolicySource(configuration: churn, store: store, logger: logger)
        #expect(await same.checkAgreesWithChurnWorker())  // nothing stored yet
        try await ChurnWorker(store: store, policies: same, relay: nil, clock: .wall, configuration: churn,
                              alignment: StreamAlignmentSettings(enabled: false), logger: logger)
            .rescheduleIfNeeded(await same.current())
        #expect(await same.checkAgreesWithChurnWorker())
        var other = churn
        other.settings.taskCooldownSeconds = 7 * 86_400
        #expect(await !ChurnPolicySource(configuration: other, store: store, logger: logger).checkAgreesWithChurnWorker())
    }

    @Test("the sweep judges only up to where both streams are complete in every partition")
    func judgesUpToTheStreamsFrontier() async throws {
        let directory = NSTemporaryDirectory() + "clientele-churn-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteClientStore(path: directory + "/store.sqlite")
        let logger = Logger(label: "test")
        let policies = ChurnPolicySource(configuration: churn, store: store, logger: logger)
        let worker = ChurnWorker(store: store, policies: policies, relay: nil, clock: .wall, configuration: churn, logger: logger)
        let rules = ClientRules(churn: await policies.current())
        // Two clients bought on day 0 (at risk from day 21), in partitions 0 and 1.
        try await store.setSetting(StoreSettingNames.partitions, to: "2")
        for (partition, client) in [(Int32(0), "A"), (1, "B")] {
            _ = try await store.apply(InputBatch(
                stream: .purchases, entries: [.init(event: .purchase(purchase("p-\(client)", client: client, day: 0)), partition: partition, offset: 0)],
                completeBefore: [partition: Self.day(1)], aligned: true), rules: rules)
        }
        // Contacts have reported nothing: no judgement, however late the wall clock.
        #expect(try await worker.sweepOnce().reviewed == 0)
        // Both streams complete to day 30 in partition 0 but only to day 10 in partition 1.
        for (stream, partition, day) in [(EventStream.purchases, Int32(0), 30), (.contacts, 0, 30), (.purchases, 1, 30), (.contacts, 1, 10)] {
            _ = try await store.apply(InputBatch(stream: stream, entries: [], completeBefore: [partition: Self.day(day)], aligned: true), rules: rules)
        }
        #expect(try await store.streamFrontier(partitions: 2) == Self.day(10))
        #expect(try await worker.sweepOnce().reviewed == 0)
        _ = try await store.apply(InputBatch(stream: .contacts, entries: [], completeBefore: [1: Self.day(30)], aligned: true), rules: rules)
        let judged = try await worker.sweepOnce()
        #expect(judged.reviewed == 2 && judged.churnRisks == 2)
        #expect(try await store.setting(StoreSettingNames.churnJudgedThrough) == Timestamp(millisecondsSinceEpoch: Self.day(30).millisecondsSinceEpoch - 1).rfc3339)
    }
}

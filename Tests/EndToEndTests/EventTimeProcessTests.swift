import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import ClienteleWorkload
import Foundation
import Testing

/// The event workers' outputs follow event time across both streams, whichever worker runs ahead,
/// starts late, is paused or killed: every published status change, task and churn-risk event is
/// what one reader applying all purchases and contacts in event-time order publishes
/// (``ReferenceReplay``), churn judged on the event clock.
@Suite("event time across the two streams, with the real executables", .serialized, .timeLimit(.minutes(10)))
struct EventTimeProcessTests {
    /// At risk after 20 quiet days, passive after 60 (for short histories; own rhythm otherwise).
    static let sectors = """
        sectors:
          quick:
            at_risk_after_days: 20
            passive_after_days: 60
        """
    static let rules = ClientRules(churn: ChurnPolicy(
        rules: RecencyRules(sector: SectorLimits(name: "quick", atRiskAfterDays: 20, passiveAfterDays: 60)), models: nil))

    /// 12,000 purchases of 500 clients and 8,000 contacts of them and 200 prospects over 180 days,
    /// with consent withdrawn and granted along the way.
    static let purchases = PurchaseGenerator(clients: 500, purchases: 12_000, seed: 21, spanSeconds: 180 * 86_400).lines()
    static let contacts = ContactGenerator(clients: 500, prospects: 200, contacts: 8_000, seed: 22, spanSeconds: 180 * 86_400,
                                           consentShare: 0.05).lines()

    enum Plan {
        case together
        case lateStart(String)
        case paused(String)
        case killed(String)
    }

    @Test("both workers together: exactly the reference's outputs")
    func together() async throws { try await run(.together) }

    @Test("contact-worker started 30 s late: exactly the reference's outputs")
    func contactWorkerLate() async throws { try await run(.lateStart("contact-worker")) }

    @Test("purchase-worker started 30 s late: exactly the reference's outputs")
    func purchaseWorkerLate() async throws { try await run(.lateStart("purchase-worker")) }

    @Test("contact-worker paused (SIGSTOP) for 30 s mid-load: exactly the reference's outputs")
    func contactWorkerPaused() async throws { try await run(.paused("contact-worker")) }

    @Test("purchase-worker killed (SIGKILL) mid-load and restarted: exactly the reference's outputs")
    func purchaseWorkerKilled() async throws { try await run(.killed("purchase-worker")) }

    @Test("on PostgreSQL, contact-worker started 30 s late: exactly the reference's outputs")
    func contactWorkerLateOnPostgres() async throws { try await run(.lateStart("contact-worker"), postgres: true) }

    func run(_ plan: Plan, postgres: Bool = false) async throws {
        let broker = try await BrokerProcess(postgres: postgres)
        let sectorsFile = broker.directory + "/sectors.yaml"
        try Self.sectors.write(toFile: sectorsFile, atomically: true, encoding: .utf8)
        var environment = broker.workerEnvironment
        environment["CLIENTELE_CLOCK"] = "event"
        environment["CLIENTELE_SECTORS_FILE"] = sectorsFile
        environment["CLIENTELE_SECTOR"] = "quick"
        environment["CLIENTELE_SWEEP_INTERVAL_MS"] = "100"
        environment["CLIENTELE_EVENT_CLOCK_IDLE_SECONDS"] = "2"
        environment["CLIENTELE_BATCH_SIZE"] = "500"
        environment["CLIENTELE_LOG_LEVEL"] = ProcessInfo.processInfo.environment["E2E_WORKER_LOG_LEVEL"] ?? "notice"

        // The whole history is in the topics first, as in a company's first load.
        #expect(try await broker.produce(topic: "purchases", Self.purchases.map(\.json)) == 0)
        #expect(try await broker.produce(topic: "contacts", Self.contacts.map(\.json)) == 0)
        let total = Self.purchases.count + Self.contacts.count

        var workers: [String: ChildProcess] = [:]
        func start(_ name: String) throws { workers[name] = try ChildProcess(name, [], environment: environment, directory: broker.directory) }
        switch plan {
        case .together:
            for name in ["purchase-worker", "contact-worker", "churn-worker"] { try start(name) }
        case .lateStart(let late):
            for name in ["purchase-worker", "contact-worker", "churn-worker"] where name != late { try start(name) }
            try await Task.sleep(for: .seconds(30))
            try start(late)
        case .paused(let paused):
            for name in ["purchase-worker", "contact-worker", "churn-worker"] { try start(name) }
            try await broker.waitUntilAccepted(total / 5)
            workers[paused]!.signal(SIGSTOP)
            try await Task.sleep(for: .seconds(30))
            workers[paused]!.signal(SIGCONT)
        case .killed(let killed):
            for name in ["purchase-worker", "contact-worker", "churn-worker"] { try start(name) }
            try await broker.waitUntilAccepted(total / 5)
            workers[killed]!.signal(SIGKILL)
            _ = await workers[killed]!.wait(timeout: .seconds(10))
            try start(killed)
        }
        let summary = try await broker.waitUntilApplied(total, timeout: .seconds(240))
        #expect(summary.acceptedEvents == total && summary.waitingEvents == 0)
        let judged = try await broker.waitForChurnJudgement()
        for worker in workers.values { worker.signal(SIGTERM) }
        for (name, worker) in workers { #expect(await worker.wait() == 0, "\(name) exit; stderr: \(worker.stderr.suffix(2000))") }

        let reference = ReferenceReplay(
            purchases: Self.purchases.map { try! PurchaseEvent.decode(Array($0.json.utf8)) },
            contacts: Self.contacts.map { try! ContactEvent.decode(Array($0.json.utf8)) },
            rules: Self.rules, judgedThrough: judged)
        try await compare(broker, with: reference)
        await broker.stop()
    }

    /// Published ids equal the reference's (each at least once, nothing else); a client's status
    /// events in the order they happened; suppressed tasks as the reference held them back.
    func compare(_ broker: BrokerProcess, with reference: ReferenceReplay) async throws {
        let statuses = try await broker.readAll(topic: "client-status", atLeast: reference.statusChanges.count)
        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: reference.tasks.count)
        let risks = try await broker.readAll(topic: "churn-risk", atLeast: reference.churnRisks.count)
        let statusIds = Set(statuses.compactMap { field($0, "eventId") })
        let taskIds = Set(tasks.compactMap { field($0, "taskId") })
        let riskIds = Set(risks.compactMap { field($0, "eventId") })
        #expect(!reference.tasks.isEmpty && !reference.churnRisks.isEmpty && !reference.suppressed.isEmpty)
        print("client-status: \(statuses.count) messages, \(statusIds.count) distinct; follow-up-tasks: \(tasks.count) messages, \(taskIds.count) distinct")
        func difference(_ published: Set<String>, _ expected: Set<String>) -> (extra: Set<String>, missing: Set<String>) {
            (published.subtracting(expected), expected.subtracting(published))
        }
        let statusDiff = difference(statusIds, Set(reference.statusChanges.keys))
        #expect(statusDiff.extra.isEmpty && statusDiff.missing.isEmpty,
                "status changes: \(statusDiff.extra.count) extra \(describeStatuses(statusDiff.extra, statuses)), missing \(statusDiff.missing.prefix(5).map { reference.statusChanges[$0].map { "\($0.clientId) \($0.status.rawValue)@\($0.changedAt) \($0.reason)" } ?? "" })")
        let taskDiff = difference(taskIds, Set(reference.tasks.keys))
        #expect(taskDiff.extra.isEmpty && taskDiff.missing.isEmpty,
                "tasks: \(taskDiff.extra.count) extra \(describe(taskDiff.extra, tasks)), \(taskDiff.missing.count) missing \(taskDiff.missing.prefix(5).map { reference.tasks[$0].map { "\($0.clientId) \($0.kind.rawValue)@\($0.createdAt)" } ?? "" })")
        let riskDiff = difference(riskIds, Set(reference.churnRisks.keys))
        #expect(riskDiff.extra.isEmpty && riskDiff.missing.isEmpty,
                "churn-risk: \(riskDiff.extra.count) extra, \(riskDiff.missing.count) missing \(riskDiff.missing.prefix(5).map { reference.churnRisks[$0].map { "\($0.clientId) \($0.level.rawValue)@\($0.crossedAt)" } ?? "" })")
        // Each status change as the reference has it.
        var mismatched = 0
        for message in statuses {
            guard let id = field(message, "eventId"), let expected = reference.statusChanges[id] else { continue }
            if field(message, "status") != expected.status.rawValue || field(message, "changedAt") != expected.changedAt.rfc3339
                || field(message, "previousStatus") != expected.previousStatus?.rawValue { mismatched += 1 }
        }
        #expect(mismatched == 0)
        // Per client, status events first published in the order they happened. (A copy published
        // again later — at least once: a relay paused past its lease finishing the batch it had
        // in flight — is a redelivery, not a new event.)
        var disordered = 0
        for (_, messages) in Dictionary(grouping: statuses, by: { $0.keyText ?? "" }) {
            var seen = Set<String>()
            let firsts = messages.sorted { $0.offset < $1.offset }.filter { seen.insert(field($0, "eventId") ?? "").inserted }
            let times = firsts.compactMap { field($0, "changedAt") }
            // RFC 3339 in UTC with the same layout sorts as text, duplicates of a redelivery aside.
            if zip(times, times.dropFirst()).contains(where: { $0 > $1 }) { disordered += 1 }
        }
        #expect(disordered == 0)
        // No prospect follow-up for anyone who had bought by then; no prospect status after a purchase.
        let firstPurchase = Dictionary(Self.purchases.compactMap { line -> (String, Timestamp)? in
            guard let event = try? PurchaseEvent.decode(Array(line.json.utf8)), event.kind == .purchase else { return nil }
            return (event.clientId, event.occurredAt)
        }, uniquingKeysWith: min)
        for message in tasks where field(message, "kind") == "prospect_follow_up" {
            let created = field(message, "createdAt").flatMap(Timestamp.init(rfc3339:))
            #expect(firstPurchase[message.keyText ?? ""].map { created! < $0 } ?? true, "a follow-up for a client who had bought")
        }
        // Suppressed as the reference held them back.
        let store = try broker.store()
        var suppressed: [String: String] = [:]
        for id in Set(reference.clients.keys) {
            for task in try await store.client(id: id, recent: 100_000)?.recentSuppressedTasks ?? [] { suppressed[task.task.taskId] = task.because }
        }
        let suppressedDiff = difference(Set(suppressed.keys), Set(reference.suppressed.keys))
        #expect(suppressedDiff.extra.isEmpty && suppressedDiff.missing.isEmpty,
                "suppressed: \(suppressed.count) of \(reference.suppressed.count), \(suppressedDiff.extra.count) extra, \(suppressedDiff.missing.count) missing")
    }

    private func describeStatuses(_ ids: Set<String>, _ messages: [KafkaMessage]) -> String {
        messages.filter { ids.contains(field($0, "eventId") ?? "") }.prefix(5)
            .map { "\($0.keyText ?? "?") \(field($0, "status") ?? "?")@\(field($0, "changedAt") ?? "?") \(field($0, "reason") ?? "")" }
            .joined(separator: ", ")
    }

    private func describe(_ ids: Set<String>, _ messages: [KafkaMessage]) -> String {
        messages.filter { ids.contains(field($0, "taskId") ?? "") }.prefix(5)
            .map { "\($0.keyText ?? "?") \(field($0, "kind") ?? "?")@\(field($0, "createdAt") ?? "?")" }.joined(separator: ", ")
    }

    @Test("consent withdrawn on 1 January, first purchase on 1 February, contact-worker started after the purchase-worker caught up: no welcome task published, all suppressed")
    func withdrawalBeforeFirstPurchase() async throws {
        let broker = try await BrokerProcess()
        let clients = (0..<1000).map { String(format: "W%04d", $0) }
        let withdrawals = clients.enumerated().map { index, id in
            #"{"eventId":"w-\#(index)","clientId":"\#(id)","occurredAt":"2026-01-01T09:00:00Z","kind":"consent_withdrawn"}"#
        }
        let purchases = clients.enumerated().map { index, id in
            #"{"eventId":"b-\#(index)","clientId":"\#(id)","occurredAt":"2026-02-01T10:00:00Z","amount":40,"currency":"EUR"}"#
        }
        #expect(try await broker.produce(topic: "contacts", withdrawals) == 0)
        #expect(try await broker.produce(topic: "purchases", purchases) == 0)
        let purchaseWorker = try ChildProcess("purchase-worker", [], environment: broker.workerEnvironment, directory: broker.directory)
        // The purchase-worker reads every purchase: they wait for the contact stream.
        let store = try await broker.createdStore()
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while try await store.summary().waitingEvents < clients.count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await store.waitingEvents().counts[.purchases] == clients.count)
        #expect(try await store.summary().outboxBacklog == 0)
        let contactWorker = try ChildProcess("contact-worker", [], environment: broker.workerEnvironment, directory: broker.directory)
        let summary = try await broker.waitUntilApplied(2 * clients.count)
        #expect(summary.waitingEvents == 0)
        #expect(summary.suppressedTasks == clients.count)
        #expect(summary.tasksByKind["welcome_new_client"] == nil)
        for worker in [purchaseWorker, contactWorker] { worker.signal(SIGTERM) }
        for worker in [purchaseWorker, contactWorker] { #expect(await worker.wait() == 0) }
        let statuses = try await broker.readAll(topic: "client-status", atLeast: clients.count)
        #expect(Set(statuses.compactMap(\.keyText)) == Set(clients))
        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: 0)
        #expect(tasks.isEmpty)
        await broker.stop()
    }

    @Test("purchases alone, no contact at all: their tasks flow once the empty contact stream has been idle for its timeout")
    func idleContactStream() async throws {
        let broker = try await BrokerProcess()
        var environment = broker.workerEnvironment
        environment["CLIENTELE_STREAM_IDLE_SECONDS"] = "5"
        let workers = try ["purchase-worker", "contact-worker"].map {
            try ChildProcess($0, [], environment: environment, directory: broker.directory)
        }
        // Ten minutes of purchases, up to now (a live stream), from 300 new clients.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let lines = (0..<300).map { index in
            let at = Timestamp(millisecondsSinceEpoch: now - 600_000 + Int64(index) * 2000).rfc3339
            return #"{"eventId":"live-\#(index)","clientId":"L\#(index)","occurredAt":"\#(at)","amount":25,"currency":"EUR"}"#
        }
        _ = try await broker.createdStore()
        let started = ContinuousClock.now
        #expect(try await broker.produce(topic: "purchases", lines) == 0)
        let summary = try await broker.waitUntilApplied(lines.count, timeout: .seconds(60))
        let elapsed = ContinuousClock.now - started
        #expect(summary.tasksByKind["welcome_new_client"] == lines.count)
        // Within the idle timeout (5 s) plus the two group joins (about 3 s each) and a margin for
        // a busy machine.
        #expect(elapsed < .seconds(25), "took \(elapsed)")
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { #expect(await worker.wait() == 0) }
        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: lines.count)
        #expect(Set(tasks.compactMap { field($0, "clientId") }).count == lines.count)
        await broker.stop()
    }

    @Test("input topics with different partition counts stop a worker at startup with a message that says so")
    func coPartitioningChecked() async throws {
        let cluster = try MockKafkaCluster(brokerCount: 1)
        defer { cluster.shutdown() }
        try cluster.createTopic("purchases", partitions: 8)
        try cluster.createTopic("contacts", partitions: 4)
        let directory = NSTemporaryDirectory() + "clientele-copartition-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await ChildProcess.run("purchase-worker", [], environment: [
            "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrapServers, "DATABASE_URL": "sqlite:\(directory)/store.sqlite", "CLIENTELE_HTTP_PORT": "0",
        ], directory: directory)
        #expect(result.status == 78)
        #expect(result.stderr.contains("'purchases' has 8 partitions and 'contacts' 4"), "\(result.stderr)")
        #expect(result.stderr.contains("same partition count"))
    }
}

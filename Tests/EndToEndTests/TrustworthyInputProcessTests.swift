import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import Foundation
import Testing

/// Events real companies' systems send, through the real workers: nothing lost silently, nothing
/// summed that cannot be, nothing dated impossibly, nothing mistyped, history not taken for news.
@Suite("input that cannot be trusted as sent, with the real executables", .serialized, .timeLimit(.minutes(8)))
struct TrustworthyInputProcessTests {
    @Test("the same eventId from the shop and the CRM: both applied; a changed event under a seen id, another currency, a date in 2099: dead-lettered with their reasons")
    func idsCurrenciesAndTimes() async throws {
        let broker = try await BrokerProcess()
        let workers = try ["purchase-worker", "contact-worker"].map {
            try ChildProcess($0, [], environment: broker.workerEnvironment, directory: broker.directory)
        }
        let purchases = [
            #"{"eventId":"42","clientId":"C1","occurredAt":"2026-02-01T10:00:00Z","amount":100,"currency":"EUR"}"#,
            #"{"eventId":"42","clientId":"C1","occurredAt":"2026-02-01T10:00:00Z","amount":100,"currency":"EUR","note":"sent twice"}"#,
            #"{"eventId":"42","clientId":"C1","occurredAt":"2026-02-01T10:00:00Z","amount":55,"currency":"EUR"}"#,
            #"{"eventId":"43","clientId":"C1","occurredAt":"2026-02-02T10:00:00Z","amount":100,"currency":"USD"}"#,
            #"{"eventId":"44","clientId":"C2","occurredAt":"2099-01-01T00:00:00Z","amount":10,"currency":"EUR"}"#,
        ]
        let contacts = [#"{"eventId":"42","clientId":"P1","occurredAt":"2026-02-01T09:00:00Z","kind":"call"}"#]
        #expect(try await broker.produce(topic: "purchases", purchases) == 0)
        #expect(try await broker.produce(topic: "contacts", contacts) == 0)
        let dead = try await broker.readAll(topic: "purchases.dlq", atLeast: 3)
        let summary = try await broker.waitUntilApplied(2)
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { #expect(await worker.wait() == 0) }

        let store = try broker.store()
        let c1 = try #require(try await store.client(id: "C1", recent: 5))
        #expect(c1.state.purchaseCount == 1 && c1.state.totalAmount == Money(jsonNumber: "100") && c1.state.currency == "EUR")
        #expect(try await store.client(id: "P1", recent: 5)?.state.status == .prospect)
        #expect(summary.acceptedEvents == 2 && summary.clients == 2)
        let reasons = Dictionary(uniqueKeysWithValues: dead.map { ($0.header("clientele.source.offset")?.text ?? "", $0) })
            .mapValues { $0.header("clientele.reason")?.text ?? "" }
        #expect(Set(reasons.values) == ["conflicting_duplicate", "currency_mismatch", "future_timestamp"], "\(reasons)")
        let conflict = try #require(dead.first { $0.header("clientele.reason")?.text == "conflicting_duplicate" })
        #expect(conflict.header("clientele.event.id")?.text == "42")
        #expect(conflict.header("clientele.first.source.offset")?.text != conflict.header("clientele.source.offset")?.text)
        #expect(conflict.value.map { String(decoding: $0, as: UTF8.self).contains("\"amount\":55") } == true)
        await broker.stop()
    }

    @Test("with a reporting currency and a rates file, a USD purchase is converted at its day's rate and kept as sent; a GBP one without a rate is dead-lettered")
    func conversion() async throws {
        let broker = try await BrokerProcess()
        let rates = broker.directory + "/rates.yaml"
        try "rates:\n  USD:\n    - from: 2026-01-01\n      rate: 0.9\n    - from: 2026-03-01\n      rate: 0.8\n".write(toFile: rates, atomically: true, encoding: .utf8)
        var environment = broker.purchaseOnlyEnvironment
        environment["CLIENTELE_REPORTING_CURRENCY"] = "EUR"
        environment["CLIENTELE_EXCHANGE_RATES_FILE"] = rates
        let worker = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let purchases = [
            #"{"eventId":"e1","clientId":"C1","occurredAt":"2026-02-01T10:00:00Z","amount":100,"currency":"EUR"}"#,
            #"{"eventId":"u1","clientId":"C1","occurredAt":"2026-02-15T10:00:00Z","amount":100,"currency":"USD","margin":10}"#,
            #"{"eventId":"u2","clientId":"C1","occurredAt":"2026-03-15T10:00:00Z","amount":50,"currency":"USD"}"#,
            #"{"eventId":"g1","clientId":"C1","occurredAt":"2026-03-16T10:00:00Z","amount":50,"currency":"GBP"}"#,
        ]
        #expect(try await broker.produce(topic: "purchases", purchases) == 0)
        let dead = try await broker.readAll(topic: "purchases.dlq", atLeast: 1)
        _ = try await broker.waitUntilApplied(3)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        #expect(dead.map { $0.header("clientele.reason")?.text } == ["no_exchange_rate"])
        let c1 = try #require(try await broker.store().client(id: "C1", recent: 10))
        #expect(c1.state.totalAmount == Money(jsonNumber: "230"))  // 100 + 100 × 0.9 + 50 × 0.8
        #expect(c1.state.totalMargin == Money(jsonNumber: "9"))
        #expect(c1.recentConvertedPurchases.map(\.originalAmount) == [Money(jsonNumber: "50")!, Money(jsonNumber: "100")!])
        let shown = try await ChildProcess.run("clientele", ["client", "show", "C1", "--database", broker.databaseURL],
                                               environment: ["CLIENTELE_REPORTING_CURRENCY": "EUR", "CLIENTELE_EXCHANGE_RATES_FILE": rates],
                                               directory: broker.directory)
        #expect(shown.stdout.contains("100.00 USD × 0.9 = 90.00"), "\(shown.stdout)\(shown.stderr)")
        await broker.stop()
    }

    @Test("a mistyped setting, in the environment or the configuration file, stops a worker naming the closest known name")
    func mistypedSettings() async throws {
        let directory = NSTemporaryDirectory() + "clientele-typo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let variable = try await ChildProcess.run("purchase-worker", [], environment: ["CLIENTELE_BATCH_SISE": "9"], directory: directory)
        #expect(variable.status == 78)
        #expect(variable.stderr.contains("CLIENTELE_BATCH_SISE") && variable.stderr.contains("did you mean CLIENTELE_BATCH_SIZE?"), "\(variable.stderr)")
        let file = directory + "/clientele.yaml"
        try "clientele:\n  batch:\n    sise: 5\n".write(toFile: file, atomically: true, encoding: .utf8)
        let key = try await ChildProcess.run("contact-worker", [], environment: ["CLIENTELE_CONFIG_FILE": file], directory: directory)
        #expect(key.status == 78)
        #expect(key.stderr.contains("clientele.batch.sise") && key.stderr.contains("did you mean clientele.batch.size?"), "\(key.stderr)")
    }

    @Test("a replay of the CDNOW sample on the wall clock publishes no task older than the maximum age, and every status change")
    func historyIsNotNews() async throws {
        let broker = try await BrokerProcess()
        var environment = broker.purchaseOnlyEnvironment
        environment["CLIENTELE_TASK_MAX_AGE"] = "7d"
        let worker = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ClienteleDomainTests/Fixtures/CDNOW_sample.txt").path
        let replay = try await ChildProcess.run(
            "clientele", ["replay", "--format", "cdnow", "--bootstrap-servers", broker.bootstrapServers, sample], directory: broker.directory)
        #expect(replay.status == 0, "\(replay.stderr)")
        let summary = try await broker.waitUntilApplied(6919)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        #expect(summary.tasksByKind.isEmpty, "\(summary.tasksByKind)")
        #expect((summary.suppressedByReason["stale"] ?? 0) >= 2357, "\(summary.suppressedByReason)")
        let statuses = try await broker.readAll(topic: "client-status", atLeast: summary.statusChanges)
        #expect(statuses.count >= summary.statusChanges && summary.statusChanges >= 2357)
        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: 0)
        let weekAgo = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000) - 7 * 86_400_000)
        #expect(tasks.allSatisfy { field($0, "createdAt").flatMap(Timestamp.init(rfc3339:)).map { $0 >= weekAgo } ?? false })
        #expect(tasks.isEmpty)
        await broker.stop()
    }

    @Test("after the demo, client show judges at the churn-worker's last judgement: each client's churn standing agrees with the stored status")
    func clientShowAfterDemo() async throws {
        let directory = NSTemporaryDirectory() + "clientele-demo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let demo = try await ChildProcess.run(
            "clientele", ["demo", "--clients", "300", "--purchases", "3000", "--prospects", "50", "--contacts", "1500", "--directory", directory + "/demo"],
            directory: directory)
        #expect(demo.status == 0, "\(demo.stderr.suffix(2000))")
        #expect(demo.stdout.contains("0 prospect follow-ups to people who had already bought, 0 marketing tasks after a withdrawal"), "\(demo.stdout)")
        var compared = 0
        for index in stride(from: 1, through: 300, by: 6) {
            let id = String(format: "C%06d", index)
            let shown = try await ChildProcess.run(
                "clientele", ["client", "show", id, "--json", "--database", "sqlite:\(directory)/demo/clientele.sqlite"], directory: directory)
            guard shown.status == 0, case .object(let object)? = try? JSONParser.parse(Array(shown.stdout.utf8)) else { continue }
            guard case .string(let status)? = object["status"] else { continue }
            let level: String? = if case .string(let text)? = object["churnLevel"] { text } else { nil }
            let expected: String? = ["at_risk", "passive"].contains(status) ? status : nil
            #expect(level == expected, "\(id): status \(status), churn standing \(level ?? "good standing")")
            #expect(object["clock"].map { if case .string(let text) = $0 { text.contains("where the churn-worker last judged") } else { false } } == true)
            compared += 1
        }
        #expect(compared >= 40)
    }
}

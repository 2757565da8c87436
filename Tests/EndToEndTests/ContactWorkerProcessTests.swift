import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import ClienteleWorkload
import Foundation
import Logging
import Testing

@Suite("both workers as processes on one store", .serialized, .timeLimit(.minutes(6)))
struct ContactWorkerProcessTests {
    @Test("withdrawn consent: no marketing task is published, complaint tasks are, suppressions are shown; bad contacts are dead-lettered")
    func consentAndDeadLetters() async throws {
        let broker = try await BrokerProcess()
        let workers = try startWorkers(broker)
        let quiet = ["W1", "W2", "W3"]
        let withdrawals = quiet.enumerated().map { index, id in
            #"{"eventId":"w-\#(index)","clientId":"\#(id)","occurredAt":"2026-02-01T09:00:00Z","kind":"consent_withdrawn","channel":"web"}"#
        }
        #expect(try await produce(broker, topic: "contacts", withdrawals) == 0)
        _ = try await broker.waitUntilApplied(withdrawals.count)

        var later: [String] = []
        var buys: [String] = []
        for (index, id) in (quiet + ["OK1"]).enumerated() {
            buys.append(#"{"eventId":"b-\#(index)","clientId":"\#(id)","occurredAt":"2026-02-02T10:00:00Z","amount":2500,"currency":"EUR"}"#)
            later.append(#"{"eventId":"k-\#(index)","clientId":"\#(id)","occurredAt":"2026-02-03T10:00:00Z","kind":"complaint","channel":"phone","satisfaction":1}"#)
        }
        later.append(#"{"eventId":"q-1","clientId":"W9","occurredAt":"2026-02-01T08:00:00Z","kind":"consent_withdrawn"}"#)
        later.append(#"{"eventId":"q-2","clientId":"W9","occurredAt":"2026-02-02T08:00:00Z","kind":"inquiry","direction":"inbound","qualification":{"budget":true,"authority":true,"need":true}}"#)
        let bad = ContactGenerator.malformedSamples()
        #expect(try await produce(broker, topic: "purchases", buys) == 0)
        #expect(try await produce(broker, topic: "contacts", later + bad.map { String(decoding: $0.bytes, as: UTF8.self) }) == 0)
        let summary = try await broker.waitUntilApplied(withdrawals.count + buys.count + later.count)
        // The bad contacts may sit on partitions the worker has not reached when the good ones are
        // applied: read their dead letters while the workers still run, then stop them.
        let dead = try await broker.readAll(topic: "contacts.dlq", atLeast: bad.count)
        #expect(await stop(workers) == 0)
        #expect(summary.suppressedTasks >= 7)  // welcome + thank-you × 3, prospect follow-up for W9

        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: summary.tasksByKind.values.reduce(0, +))
        let kindsFor = Dictionary(grouping: tasks, by: { $0.keyText ?? "" }).mapValues { Set($0.compactMap { field($0, "kind") }) }
        for id in quiet {
            #expect(kindsFor[id] == ["complaint_follow_up", "satisfaction_recovery"], "\(id): \(kindsFor[id] ?? [])")
        }
        #expect(kindsFor["W9"] == nil)
        #expect(kindsFor["OK1"]?.isSuperset(of: ["welcome_new_client", "thank_you_large_order", "complaint_follow_up"]) == true)

        let shown = try await ChildProcess.run(
            "clientele", ["client", "show", "W1", "--database", broker.databaseURL], directory: broker.directory)
        #expect(shown.stdout.contains("consent         withdrawn"))
        #expect(shown.stdout.contains("suppressed tasks (not sent)"))
        #expect(shown.stdout.contains("welcome_new_client  because consent_withdrawn"))

        #expect(dead.compactMap { $0.header("clientele.reason")?.text }.sorted() == bad.map(\.reason).sorted())
        await broker.stop()
    }

    @Test("an erasure leaves no trace in the database file, puts a tombstone on client-status, and survives a replay")
    func erasure() async throws {
        let broker = try await BrokerProcess()
        let secret = "jane.doe@example.com"
        let history = [
            #"{"eventId":"e-1","clientId":"\#(secret)","occurredAt":"2026-01-05T10:00:00Z","amount":40,"currency":"EUR"}"#,
            #"{"eventId":"e-2","clientId":"\#(secret)","occurredAt":"2026-01-20T10:00:00Z","amount":60,"currency":"EUR"}"#,
            #"{"eventId":"e-3","clientId":"someone.else","occurredAt":"2026-01-21T10:00:00Z","amount":10,"currency":"EUR"}"#,
        ]
        let touches = [
            #"{"eventId":"e-4","clientId":"\#(secret)","occurredAt":"2026-01-22T10:00:00Z","kind":"complaint","channel":"email"}"#,
            #"{"eventId":"e-5","clientId":"\#(secret)","occurredAt":"2026-01-23T10:00:00Z","kind":"satisfaction","satisfaction":2}"#,
        ]
        var workers = try startWorkers(broker)
        #expect(try await produce(broker, topic: "purchases", history) == 0)
        #expect(try await produce(broker, topic: "contacts", touches) == 0)
        _ = try await broker.waitUntilApplied(5)
        #expect(try await broker.store().client(id: secret, recent: 1) != nil)

        let erasure = #"{"eventId":"e-6","clientId":"\#(secret)","occurredAt":"2026-02-01T10:00:00Z","kind":"erasure_request","channel":"email"}"#
        #expect(try await produce(broker, topic: "contacts", [erasure]) == 0)
        let afterErasure = try await broker.waitUntilApplied(6)
        #expect(afterErasure.erasedClients == 1)
        #expect(await stop(workers) == 0)
        #expect(!databaseHolds(broker, secret), "the client's id is still in the database files")
        // Nor its plain SHA-256, as hex or as bytes: what the store remembers is keyed.
        #expect(!databaseHolds(broker, SHA256.hex(secret)))
        #expect(!databaseHolds(broker, bytes: SHA256.hash(Array(secret.utf8))))
        #expect(FileManager.default.fileExists(atPath: "\(broker.directory)/clientele.sqlite.key"))

        let statuses = try await broker.readAll(topic: "client-status", atLeast: 1)
        let last = statuses.filter { $0.keyText == secret }.max { $0.offset < $1.offset }
        #expect(last != nil && last?.value == nil, "the last client-status message for the client is a tombstone")

        // Replay: the original messages again, and older events under new ids.
        workers = try startWorkers(broker)
        let replayed = history + touches + [erasure] + [
            #"{"eventId":"r-1","clientId":"\#(secret)","occurredAt":"2026-01-02T10:00:00Z","amount":99,"currency":"EUR"}"#,
        ]
        #expect(try await produce(broker, topic: "purchases", replayed.filter { $0.contains("amount") }) == 0)
        #expect(try await produce(broker, topic: "contacts", replayed.filter { $0.contains("kind") }) == 0)
        _ = try await broker.waitUntilApplied(7)
        #expect(await stop(workers) == 0)
        let shown = try await ChildProcess.run(
            "clientele", ["client", "show", secret, "--database", broker.databaseURL], directory: broker.directory)
        #expect(shown.status == 1)
        #expect(!databaseHolds(broker, secret))
        #expect(try await broker.store().client(id: "someone.else", recent: 1) != nil)
        await broker.stop()
    }

    // MARK: - helpers

    private func startWorkers(_ broker: BrokerProcess) throws -> [ChildProcess] {
        try ["purchase-worker", "contact-worker"].map {
            try ChildProcess($0, [], environment: broker.workerEnvironment, directory: broker.directory)
        }
    }

    private func stop(_ workers: [ChildProcess]) async -> Int32 {
        for worker in workers { worker.signal(SIGTERM) }
        var worst: Int32 = 0
        for worker in workers {
            let status = await worker.wait() ?? -1
            if status != 0 { worst = status }
        }
        return worst
    }

    private func produce(_ broker: BrokerProcess, topic: String, _ lines: [String]) async throws -> Int32 {
        let file = broker.directory + "/\(topic)-\(UUID().uuidString.prefix(6)).jsonl"
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return try await ChildProcess.run(
            "clientele", ["produce", "--topic", topic, "--bootstrap-servers", broker.bootstrapServers, file],
            directory: broker.directory).status
    }

    private func databaseHolds(_ broker: BrokerProcess, _ text: String) -> Bool {
        databaseHolds(broker, bytes: Array(text.utf8))
    }

    private func databaseHolds(_ broker: BrokerProcess, bytes: [UInt8]) -> Bool {
        let needle = Data(bytes)
        return ["", "-wal", "-shm"].contains { suffix in
            FileManager.default.contents(atPath: "\(broker.directory)/clientele.sqlite\(suffix)")?.range(of: needle) != nil
        }
    }

}


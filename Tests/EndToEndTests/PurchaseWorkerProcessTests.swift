import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import ClienteleWorkload
import Foundation
import Logging
import Testing

@Suite("executables as processes", .serialized, .timeLimit(.minutes(5)))
struct PurchaseWorkerProcessTests {
    @Test("clientele broker prints exactly its bootstrap line first")
    func brokerLine() async throws {
        let broker = try await BrokerProcess()
        defer { Task { await broker.stop() } }
        let first = String(broker.child.stdout.split(separator: "\n").first ?? "")
        let servers = broker.bootstrapServers.split(separator: ",")
        #expect(servers.count == 3)
        #expect(servers.allSatisfy { $0.split(separator: ":").count == 2 })
        #expect(first == "bootstrap.servers=\(broker.bootstrapServers)")
    }

    @Test("SIGKILL mid-stream and a restart lose nothing and count nothing twice")
    func killAndRestart() async throws {
        let broker = try await BrokerProcess()
        let generator = PurchaseGenerator(clients: 1500, purchases: 15_000, seed: 21, refundShare: 0.02)
        let lines = generator.lines()
        let file = broker.directory + "/purchases.jsonl"
        // Every tenth event is sent twice: duplicates must count once.
        let doubled = lines + lines.enumerated().filter { $0.offset % 10 == 0 }.map(\.element)
        try doubled.map(\.json).joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)

        // Small batches, so that the kill lands between many commits.
        var environment = broker.purchaseOnlyEnvironment
        environment["CLIENTELE_BATCH_SIZE"] = "250"
        var worker = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let produced = try await ChildProcess.run(
            "clientele", ["produce", "--topic", "purchases", "--bootstrap-servers", broker.bootstrapServers, file],
            directory: broker.directory)
        #expect(produced.status == 0, "\(produced.stderr)")

        // Kill the worker hard once it has applied part of the stream.
        let store = try await broker.createdStore()
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while try await store.summary().acceptedEvents < 3000, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        worker.signal(SIGKILL)
        #expect(await worker.wait() == 9)  // killed by signal 9
        let atKill = try await store.summary().acceptedEvents
        #expect(atKill < lines.count)

        let restartedAt = ContinuousClock.now
        worker = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        // Back to consuming once the dead member's session ended (10 s) and the group gave the
        // partitions to the new one: measured and printed, not asserted (a shared machine's pace).
        let resumeDeadline = restartedAt.advanced(by: .seconds(120))
        while try await store.summary().acceptedEvents <= atKill, ContinuousClock.now < resumeDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        print(String(format: "purchase-worker consuming again %.1f s after its restart following SIGKILL",
                     (ContinuousClock.now - restartedAt) / .seconds(1)))
        let summary = try await broker.waitUntilApplied(lines.count)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0, "graceful stop; stderr: \(worker.stderr.suffix(2000))")

        // The store: exactly the distinct events, per client.
        let purchasesPerClient = Dictionary(grouping: lines.filter { !$0.isRefund }, by: \.clientId).mapValues(\.count)
        #expect(summary.acceptedEvents == lines.count)
        #expect(summary.totalPurchases == purchasesPerClient.values.reduce(0, +))
        #expect(summary.clients == Set(lines.map(\.clientId)).count)
        for clientId in purchasesPerClient.keys.sorted().prefix(25) {
            let shown = try await ChildProcess.run(
                "clientele", ["client", "show", clientId, "--json", "--database", broker.databaseURL], directory: broker.directory)
            #expect(shown.status == 0)
            guard case .object(let object)? = try? JSONParser.parse(Array(shown.stdout.utf8)) else {
                Issue.record("client show printed no JSON object: \(shown.stdout)"); continue
            }
            #expect(object["purchaseCount"] == .number(String(purchasesPerClient[clientId]!)))
        }

        // The topics: one `new` and one welcome task per client (by stable id); a re-published
        // message carries the same id and the same bytes.
        let statuses = try await broker.readAll(topic: "client-status", atLeast: summary.statusChanges)
        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: summary.tasksByKind.values.reduce(0, +))
        for messages in [statuses, tasks] {
            let byId = Dictionary(grouping: messages, by: { $0.header("clientele.message.id")?.text ?? "" })
            #expect(byId[""] == nil)
            #expect(byId.values.allSatisfy { Set($0.map(\.value)).count == 1 })
        }
        let newIds = Set(statuses.filter { field($0, "status") == "new" }.compactMap { $0.header("clientele.message.id")?.text })
        let newClients = Set(statuses.filter { field($0, "status") == "new" }.compactMap(\.keyText))
        #expect(newIds.count == purchasesPerClient.count)
        #expect(newClients.count == purchasesPerClient.count)
        let welcomeIds = Set(tasks.filter { field($0, "kind") == "welcome_new_client" }.compactMap { field($0, "taskId") })
        #expect(welcomeIds.count == purchasesPerClient.count)
        await broker.stop()
    }

    @Test("a bad setting stops purchase-worker at once with a message naming it")
    func badConfiguration() async throws {
        let directory = NSTemporaryDirectory()
        for (variable, value) in [("KAFKA_BOOTSTRAP_SERVERS", "nohostport"), ("DATABASE_URL", "mysql://x"), ("CLIENTELE_BATCH_SIZE", "0")] {
            let result = try await ChildProcess.run("purchase-worker", [], environment: [variable: value], directory: directory)
            #expect(result.status == 78)
            #expect(result.stderr.contains(variable), "\(result.stderr)")
        }
    }
}

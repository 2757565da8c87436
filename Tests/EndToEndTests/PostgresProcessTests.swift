import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import ClienteleWorkload
import Foundation
import Testing

@Suite("Workers as replicas on one PostgreSQL", .serialized)
struct PostgresProcessTests {
    @Test("two purchase-workers, two contact-workers and two churn-workers on one PostgreSQL, one of each SIGKILLed and restarted: exact counts, statuses in order")
    func replicasOnPostgres() async throws {
        let broker = try await BrokerProcess(postgres: true)
        let generator = PurchaseGenerator(clients: 1500, purchases: 15_000, seed: 34, refundShare: 0.02)
        let lines = generator.lines()
        let contacts = (0..<1500).map { index in
            """
            {"eventId":"c\(index)","clientId":"\(PurchaseGenerator.clientId(index * 5))","occurredAt":"2026-01-01T00:00:00Z","kind":"inquiry","direction":"inbound","channel":"phone"}
            """
        }
        var environment = broker.workerEnvironment
        environment["CLIENTELE_BATCH_SIZE"] = "250"
        environment["CLIENTELE_CLOCK"] = "event"
        var first = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let second = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        var contactWorker = try ChildProcess("contact-worker", [], environment: environment, directory: broker.directory)
        let secondContactWorker = try ChildProcess("contact-worker", [], environment: environment, directory: broker.directory)
        var churnWorker = try ChildProcess("churn-worker", [], environment: environment, directory: broker.directory)
        let secondChurnWorker = try ChildProcess("churn-worker", [], environment: environment, directory: broker.directory)
        #expect(try await broker.produce(topic: "contacts", contacts) == 0)
        #expect(try await broker.produce(topic: "purchases", lines.map(\.json)) == 0)

        // Kill one replica of each worker hard once part of the streams is applied; its partitions
        // (or due clients) go to the other, and a restarted one takes some back.
        let store = try await broker.createdStore()
        let deadline = ContinuousClock.now.advanced(by: .seconds(90))
        while try await store.summary().acceptedEvents < 4000, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        for worker in [first, contactWorker, churnWorker] { worker.signal(SIGKILL) }
        for worker in [first, contactWorker, churnWorker] { #expect(await worker.wait() == 9) }
        first = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        contactWorker = try ChildProcess("contact-worker", [], environment: environment, directory: broker.directory)
        churnWorker = try ChildProcess("churn-worker", [], environment: environment, directory: broker.directory)

        let summary = try await broker.waitUntilApplied(lines.count + contacts.count, timeout: .seconds(180))
        let everyWorker = [first, second, contactWorker, secondContactWorker, churnWorker, secondChurnWorker]
        for worker in everyWorker { worker.signal(SIGTERM) }
        for worker in everyWorker {
            #expect(await worker.wait() == 0, "graceful stop; stderr: \(worker.stderr.suffix(1500))")
        }

        // The store: exactly the distinct events, per client.
        let purchasesPerClient = Dictionary(grouping: lines.filter { !$0.isRefund }, by: \.clientId).mapValues(\.count)
        #expect(summary.acceptedEvents == lines.count + contacts.count)
        #expect(summary.totalPurchases == purchasesPerClient.values.reduce(0, +))
        for clientId in purchasesPerClient.keys.sorted().prefix(20) {
            #expect(try await store.client(id: clientId, recent: 1)?.state.purchaseCount == purchasesPerClient[clientId])
        }
        let shown = try await ChildProcess.run(
            "clientele", ["client", "show", purchasesPerClient.keys.sorted()[0], "--json", "--database", broker.databaseURL],
            directory: broker.directory)
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("\"purchaseCount\":\(purchasesPerClient[purchasesPerClient.keys.sorted()[0]]!)"))

        // The topics: one welcome task id per client; each client's statuses in the order they happened.
        let statuses = try await broker.readAll(topic: "client-status", atLeast: summary.statusChanges)
        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: summary.tasksByKind.values.reduce(0, +))
        let welcomeIds = Set(tasks.filter { field($0, "kind") == "welcome_new_client" }.compactMap { field($0, "taskId") })
        #expect(welcomeIds.count == purchasesPerClient.count)
        let order: [String: Int] = ["prospect": 0, "new": 1, "active": 2, "regular": 3]
        var outOfOrder = 0
        for (_, messages) in Dictionary(grouping: statuses, by: { $0.keyText ?? "" }) {
            // First delivery of each message id, in the order read from the partition.
            var seen = Set<String>()
            let ranks = messages.compactMap { message -> Int? in
                guard let id = message.header("clientele.message.id")?.text, seen.insert(id).inserted else { return nil }
                return field(message, "status").flatMap { order[$0] }
            }
            if ranks != ranks.sorted() { outOfOrder += 1 }
        }
        #expect(outOfOrder == 0)
        await broker.stop()
    }

    @Test("PostgreSQL down when the worker starts, then restarted mid-load: the worker waits and says so, nothing lost, nothing applied twice")
    func outages() async throws {
        let server = try await TestPostgres.PrivateServer.start()
        defer { Task { await server.stop() } }
        let broker = try await BrokerProcess(postgresURL: server.url)
        let generator = PurchaseGenerator(clients: 1000, purchases: 12_000, seed: 55, refundShare: 0)
        let lines = generator.lines()
        #expect(try await broker.produce(topic: "purchases", lines.map(\.json)) == 0)

        // Down at startup: the worker waits, consuming nothing, and says why.
        try await server.pause()
        var environment = broker.purchaseOnlyEnvironment
        environment["CLIENTELE_BATCH_SIZE"] = "300"
        environment["CLIENTELE_STALL_SECONDS"] = "5"
        let worker = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let waitingDeadline = ContinuousClock.now.advanced(by: .seconds(30))
        while !worker.stderr.contains("waiting for the database"), ContinuousClock.now < waitingDeadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(worker.stderr.contains("waiting for the database"), "stderr: \(worker.stderr.suffix(1000))")
        #expect(!worker.stderr.contains("consuming"))
        #expect(worker.isRunning)
        // A database outage is not a liveness failure (a restart would not mend it), past the stall limit too.
        let port = try await OperationsProcessTests.port(of: worker, name: "purchase-worker")
        try await Task.sleep(for: .seconds(6))
        let live = try await OperationsProcessTests.get(port: port, path: "/health/live")
        let ready = try await OperationsProcessTests.get(port: port, path: "/health/ready")
        #expect(live.status == 200, "\(live.body)")
        #expect(ready.status == 503 && ready.body.contains(#""failed":"partitions,store""#), "\(ready.body)")
        try await server.resume()

        // Restarted while batches are being written.
        let store = try broker.store()
        let deadline = ContinuousClock.now.advanced(by: .seconds(90))
        while try await store.summary().acceptedEvents < 3000, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await server.pause()
        try await Task.sleep(for: .seconds(3))
        try await server.resume()

        let summary = try await broker.waitUntilApplied(lines.count, timeout: .seconds(150))
        try await broker.waitUntilReady(port: port)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0, "graceful stop; stderr: \(worker.stderr.suffix(1500))")
        #expect(summary.acceptedEvents == lines.count)
        #expect(summary.totalPurchases == lines.count)
        #expect(summary.clients == Set(lines.map(\.clientId)).count)
        #expect(summary.tasksByKind["welcome_new_client"] == summary.clients)
        let tasks = try await broker.readAll(topic: "follow-up-tasks", atLeast: summary.tasksByKind.values.reduce(0, +))
        let welcomeIds = Set(tasks.filter { field($0, "kind") == "welcome_new_client" }.compactMap { field($0, "taskId") })
        #expect(welcomeIds.count == summary.clients)
        await broker.stop()
        await server.stop()
    }
}

import ClienteleDomain
import ClienteleKafka
import ClienteleRuntime
import ClienteleStore
import ClienteleWorkload
import Testing

@Suite("purchase worker on the mock cluster and a SQLite file", .timeLimit(.minutes(3)))
struct PurchaseWorkerTests {
    @Test("purchases become client states, status events and tasks on the output topics")
    func endToEndInProcess() async throws {
        let harness = try await WorkerHarness()
        let lines = PurchaseGenerator(clients: 50, purchases: 500, seed: 3, refundShare: 0).lines()
        let summary = try await harness.withWorker {
            try await harness.produce(lines.map { ($0.clientId, Array($0.json.utf8)) })
            return try await harness.waitForStore(accepted: 500)
        }
        #expect(summary.acceptedEvents == 500)
        #expect(summary.totalPurchases == 500)
        #expect(summary.clients == 50)
        #expect(summary.tasksByKind["welcome_new_client"] == 50)
        #expect(summary.outboxBacklog == 0)

        let statusEvents = try await harness.read(TopicNames.clientStatus, count: summary.statusChanges)
        #expect(statusEvents.count == summary.statusChanges)
        let newEvents = statusEvents.filter { json($0)["status"] == .string("new") }
        #expect(Set(newEvents.compactMap(\.keyText)).count == 50)  // one `new` per client
        #expect(statusEvents.allSatisfy { $0.header(messageIdHeader)?.text == (json($0)["eventId"]).flatMap {
            if case .string(let id) = $0 { id } else { nil } } })
        let tasks = try await harness.read(TopicNames.followUpTasks, count: summary.tasksByKind.values.reduce(0, +))
        #expect(tasks.count == summary.tasksByKind.values.reduce(0, +))
        #expect(Set(tasks.map { $0.header(messageIdHeader)?.text ?? "" }).count == tasks.count)  // ids unique
    }

    @Test("every kind of bad message lands on the dead-letter topic with its reason; the worker keeps going")
    func deadLetters() async throws {
        let harness = try await WorkerHarness()
        let bad = PurchaseGenerator.malformedSamples()
        let good = PurchaseGenerator(clients: 5, purchases: 20, seed: 9, refundShare: 0).lines()
        let summary = try await harness.withWorker {
            try await harness.produce(bad.map { ($0.clientId, $0.bytes) } + good.map { ($0.clientId, Array($0.json.utf8)) })
            return try await harness.waitForStore(accepted: 20)
        }
        #expect(summary.acceptedEvents == 20)
        let dead = try await harness.read(TopicNames.deadLetter(of: TopicNames.purchases), count: bad.count)
        #expect(dead.count == bad.count)
        let reasons = dead.compactMap { $0.header(DeadLetterHeader.reason)?.text }
        #expect(reasons.sorted() == bad.map(\.reason).sorted())
        for message in dead {
            #expect(message.header(DeadLetterHeader.sourceTopic)?.text == "test.purchases")
            #expect(message.header(DeadLetterHeader.sourcePartition)?.text.flatMap(Int32.init) != nil)
            #expect(message.header(DeadLetterHeader.sourceOffset)?.text.flatMap(Int64.init) != nil)
            // The value is forwarded unchanged.
            let original = bad.first { $0.reason == message.header(DeadLetterHeader.reason)?.text }
            #expect(message.value == original?.bytes)
        }
    }

    @Test("a redelivered batch (offsets lost) changes nothing a second time")
    func redeliveryIsIdempotent() async throws {
        let harness = try await WorkerHarness(environment: ["CLIENTELE_GROUP_ID": "first"])
        let lines = PurchaseGenerator(clients: 10, purchases: 100, seed: 5, refundShare: 0).lines()
        try await harness.produce(lines.map { ($0.clientId, Array($0.json.utf8)) })
        let first = try await harness.withWorker { try await harness.waitForStore(accepted: 100) }
        // A second group reads the topic from the start: every event is a duplicate.
        let replay = try await WorkerHarness.sharing(harness, groupId: "second")
        let second = try await replay.withWorker {
            // Wait until the second group has consumed (and so committed past) every message.
            let probe = try KafkaConsumer(configuration: harness.kafka, groupId: "second", topics: [], logger: harness.logger)
            let partitions = (0..<4).map { TopicPartition(topic: harness.topics.resolve(TopicNames.purchases), partition: Int32($0)) }
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while try await probe.committed(partitions).values.reduce(0, +) < 100, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            let committed = try await probe.committed(partitions).values.reduce(0, +)
            await probe.close()
            #expect(committed == 100)
            return try await replay.waitForStore(accepted: 100)
        }
        #expect(first.totalPurchases == 100)
        #expect(second.totalPurchases == 100)
        #expect(second.statusChanges == first.statusChanges)
        #expect(second.tasksByKind == first.tasksByKind)
    }
}

extension WorkerHarness {
    /// Another worker configuration on the same cluster and store, in another consumer group.
    static func sharing(_ other: WorkerHarness, groupId: String) async throws -> WorkerHarnessView {
        var configuration = other.configuration
        configuration.groupId = groupId
        return WorkerHarnessView(base: other, configuration: configuration)
    }
}

/// A second worker over an existing harness's cluster and store.
struct WorkerHarnessView: Sendable {
    let base: WorkerHarness
    let configuration: WorkerConfiguration

    func withWorker<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await base.withWorker(configuration: configuration, body)
    }

    func waitForStore(accepted: Int) async throws -> StoreSummary { try await base.waitForStore(accepted: accepted) }
}

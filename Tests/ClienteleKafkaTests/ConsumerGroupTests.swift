import ClienteleKafka
import Testing

@Suite("Consumer groups on the mock cluster", .timeLimit(.minutes(3)))
struct ConsumerGroupTests {
    @Test("two consumers in one group split the partitions and together read everything once")
    func twoConsumersSplitPartitions() async throws {
        let fixture = try KafkaFixture(partitions: 8)
        let producer = try fixture.producer()
        try await producer.send(fixture.messages(400, keys: 64))
        let first = try fixture.consumer()
        let second = try fixture.consumer()

        var seen: [KafkaMessage] = []
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(40))
        // Keep both polling until both hold partitions and everything was read.
        while clock.now < deadline {
            async let a = first.poll(maxMessages: 500, maxWait: .milliseconds(200))
            async let b = second.poll(maxMessages: 500, maxWait: .milliseconds(200))
            let (batchA, batchB) = try await (a, b)
            try first.storeOffsets(nextOffsets(batchA))
            try second.storeOffsets(nextOffsets(batchB))
            seen += batchA + batchB
            if Set(seen.map(\.offset).enumerated().map { "\($0)" }).count >= 400,
               !first.assignment.isEmpty, !second.assignment.isEmpty { break }
        }
        let assignmentA = Set(first.assignment)
        let assignmentB = Set(second.assignment)
        await first.close()
        await second.close()
        await producer.close()

        #expect(!assignmentA.isEmpty)
        #expect(!assignmentB.isEmpty)
        #expect(assignmentA.isDisjoint(with: assignmentB))
        #expect(assignmentA.union(assignmentB).count == 8)
        let distinct = Set(seen.map { "\($0.partition)/\($0.offset)" })
        #expect(distinct.count == 400)
    }

    @Test("messages whose offsets were not stored are delivered again after a restart")
    func uncommittedAreRedelivered() async throws {
        let fixture = try KafkaFixture(partitions: 2)
        let producer = try fixture.producer()
        try await producer.send(fixture.messages(100))
        await producer.close()

        // First run: read everything, store offsets for nothing → nothing committed.
        let first = try fixture.consumer()
        let firstRun = try await consume(first, count: 100, store: false)
        await first.close()
        #expect(firstRun.count == 100)

        // Second run: everything again; store this time.
        let second = try fixture.consumer()
        let secondRun = try await consume(second, count: 100, store: true)
        await second.close()
        #expect(secondRun.count == 100)

        // Third run: nothing left.
        let third = try fixture.consumer()
        let thirdRun = try await consume(third, count: 1, store: false, within: .seconds(6))
        await third.close()
        #expect(thirdRun.isEmpty)
    }

    @Test("offsets stored before a revocation are committed when the partitions move")
    func commitOnRevoke() async throws {
        let fixture = try KafkaFixture(partitions: 4)
        var configuration = fixture.configuration
        configuration.properties["enable.auto.commit"] = "false"  // only the revoke path commits
        let producer = try fixture.producer()
        try await producer.send(fixture.messages(200, keys: 40))
        await producer.close()

        let first = try KafkaConsumer(configuration: configuration, groupId: "g", topics: [fixture.topic], logger: fixture.logger)
        let read = try await consume(first, count: 200, store: true)
        #expect(read.count == 200)
        let partitions = (0..<4).map { TopicPartition(topic: fixture.topic, partition: Int32($0)) }
        let before = try await first.committed(partitions)
        #expect(before.isEmpty)  // nothing committed yet: auto-commit is off

        // A second member joins: the first member's partitions are revoked → commit.
        let second = try KafkaConsumer(configuration: configuration, groupId: "g", topics: [fixture.topic], logger: fixture.logger)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(30))
        var leftover: [KafkaMessage] = []
        while clock.now < deadline, second.assignment.isEmpty || first.assignment.count == 4 {
            async let a = first.poll(maxMessages: 100, maxWait: .milliseconds(200))
            async let b = second.poll(maxMessages: 100, maxWait: .milliseconds(200))
            let (batchA, batchB) = try await (a, b)
            leftover += batchA + batchB
        }
        let after = try await second.committed(partitions)
        await first.close()
        await second.close()
        #expect(after.values.reduce(0, +) == 200)
        #expect(leftover.isEmpty)  // the second member starts after the committed work
    }
}

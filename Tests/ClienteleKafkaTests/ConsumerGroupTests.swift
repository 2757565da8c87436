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

    @Test("a revocation loses nothing: the next owner resumes exactly at the committed offset, which holds the stored offsets unless the coordinator refused the commit")
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
        var end: [Int32: Int64] = [:]
        for message in read { end[message.partition] = max(end[message.partition] ?? 0, message.offset + 1) }
        let partitions = (0..<4).map { TopicPartition(topic: fixture.topic, partition: Int32($0)) }
        let before = try await first.committed(partitions)
        #expect(before.isEmpty)  // nothing committed yet: auto-commit is off

        // A second member joins: part of the first member's partitions are revoked → commit.
        let second = try KafkaConsumer(configuration: configuration, groupId: "g", topics: [fixture.topic], logger: fixture.logger)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(40))
        var leftover: [KafkaMessage] = []
        var settledAt: ContinuousClock.Instant?
        // Poll until both hold partitions, then two more seconds for the new owner to read what
        // it has to read again.
        while clock.now < deadline, settledAt.map({ clock.now - $0 < .seconds(2) }) ?? true {
            async let a = first.poll(maxMessages: 100, maxWait: .milliseconds(200))
            async let b = second.poll(maxMessages: 100, maxWait: .milliseconds(200))
            let (batchA, batchB) = try await (a, b)
            leftover += batchA + batchB
            if settledAt == nil, !second.assignment.isEmpty, first.assignment.count < 4 { settledAt = clock.now }
        }
        let moved = Set(second.assignment.map(\.partition))
        let after = try await second.committed(partitions)
        let refused = first.revokeCommitsRefused
        await first.close()
        await second.close()

        #expect(!moved.isEmpty)
        // Each moved partition is read again from its committed offset to its end, with no gap;
        // a kept one is not read again (unless another round moved it back and forth, when the
        // same holds for it).
        for partition in 0..<Int32(4) {
            let reread = Set(leftover.filter { $0.partition == partition }.map(\.offset))
            let fromCommitted = Set((after[TopicPartition(topic: fixture.topic, partition: partition)] ?? 0)..<(end[partition] ?? 0))
            if moved.contains(partition) {
                #expect(reread == fromCommitted, "partition \(partition)")
            } else {
                #expect(reread.isEmpty || reread == fromCommitted, "partition \(partition)")
            }
        }
        // The usual case: the commit was accepted, so the moved partitions' work is committed and
        // the new owner starts after it.
        if refused == 0 {
            #expect(moved.allSatisfy { after[TopicPartition(topic: fixture.topic, partition: $0)] == end[$0] })
            #expect(leftover.isEmpty)
        }
    }

    @Test("offsets committed before a rebalance are where the next owner starts")
    func committedBeforeRebalance() async throws {
        let fixture = try KafkaFixture(partitions: 4)
        var configuration = fixture.configuration
        configuration.properties["enable.auto.commit"] = "false"
        let producer = try fixture.producer()
        try await producer.send(fixture.messages(200, keys: 40))
        await producer.close()

        let first = try KafkaConsumer(configuration: configuration, groupId: "g", topics: [fixture.topic], logger: fixture.logger)
        let read = try await consume(first, count: 200, store: true)
        #expect(read.count == 200)
        try await first.commit()
        let second = try KafkaConsumer(configuration: configuration, groupId: "g", topics: [fixture.topic], logger: fixture.logger)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(40))
        var leftover: [KafkaMessage] = []
        while clock.now < deadline, second.assignment.isEmpty || first.assignment.count == 4 {
            async let a = first.poll(maxMessages: 100, maxWait: .milliseconds(200))
            async let b = second.poll(maxMessages: 100, maxWait: .milliseconds(200))
            let (batchA, batchB) = try await (a, b)
            leftover += batchA + batchB
        }
        let moved = second.assignment
        leftover += try await consume(second, count: 1, store: false, within: .seconds(2))
        await first.close()
        await second.close()
        #expect(!moved.isEmpty)
        #expect(leftover.isEmpty)
    }

    @Test("a poll says which partitions were read to their end, and a partition with new messages is no longer at its end")
    func endOfPartition() async throws {
        let fixture = try KafkaFixture(partitions: 3)
        let producer = try fixture.producer()
        try await producer.send(fixture.messages(30, keys: 9))
        let consumer = try fixture.consumer()
        var atEnd: Set<Int32> = []
        var read = 0
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(30))
        while clock.now < deadline, read < 30 || atEnd.count < 3 {
            let batch = try await consumer.pollBatch(maxMessages: 100, maxWait: .milliseconds(200))
            read += batch.messages.count
            for message in batch.messages { atEnd.remove(message.partition) }
            atEnd.formUnion(batch.reachedEnd.map(\.partition))
        }
        #expect(read == 30)
        #expect(atEnd == [0, 1, 2])

        // One more message for one partition: it is delivered, then that partition is at its end again.
        try await producer.send([OutgoingMessage(topic: fixture.topic, key: Array("k1".utf8), value: Array("late".utf8))])
        var sawMessage = false
        var endAgain = false
        while clock.now < deadline, !(sawMessage && endAgain) {
            let batch = try await consumer.pollBatch(maxMessages: 100, maxWait: .milliseconds(200))
            if let message = batch.messages.first {
                sawMessage = true
                endAgain = batch.reachedEnd.contains(TopicPartition(topic: fixture.topic, partition: message.partition))
            } else if sawMessage {
                endAgain = !batch.reachedEnd.isEmpty
            }
        }
        await consumer.close()
        await producer.close()
        #expect(sawMessage)
        #expect(endAgain)
    }

    @Test("the partition count of a topic comes from the cluster's metadata")
    func partitionCount() async throws {
        let fixture = try KafkaFixture(partitions: 5)
        let consumer = try KafkaConsumer(configuration: fixture.configuration, groupId: "g", topics: [], logger: fixture.logger)
        #expect(try await consumer.partitionCount(of: fixture.topic) == 5)
        await consumer.close()
    }
}

import ClienteleKafka
import Logging

/// A fresh mock cluster with one topic, for one test.
struct KafkaFixture {
    let cluster: MockKafkaCluster
    let topic: String
    let logger = Logger(label: "test")

    init(partitions: Int = 4, topic: String = "t") throws {
        cluster = try MockKafkaCluster(brokerCount: 3)
        self.topic = topic
        try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
    }

    var configuration: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, properties: ["session.timeout.ms": "6000"])
    }

    func producer() throws -> KafkaProducer { try KafkaProducer(configuration: configuration, logger: logger) }

    func consumer(group: String = "g") throws -> KafkaConsumer {
        try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
    }

    func messages(_ count: Int, keys: Int = 10) -> [OutgoingMessage] {
        (0..<count).map { index in
            OutgoingMessage(topic: topic, key: Array("k\(index % keys)".utf8), value: Array("v\(index)".utf8),
                            headers: [KafkaHeader(name: "n", text: "\(index)")])
        }
    }
}

/// Polls until `count` messages arrived or the deadline passed; stores their offsets if asked.
func consume(_ consumer: KafkaConsumer, count: Int, store: Bool, within: Duration = .seconds(30)) async throws -> [KafkaMessage] {
    var received: [KafkaMessage] = []
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: within)
    while received.count < count, clock.now < deadline {
        let batch = try await consumer.poll(maxMessages: 500, maxWait: .milliseconds(200))
        received += batch
        if store { try consumer.storeOffsets(nextOffsets(batch)) }
    }
    return received
}

func nextOffsets(_ batch: [KafkaMessage]) -> [TopicPartitionOffset] {
    var next: [TopicPartition: Int64] = [:]
    for message in batch {
        let tp = TopicPartition(topic: message.topic, partition: message.partition)
        next[tp] = max(next[tp] ?? 0, message.offset + 1)
    }
    return next.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
}

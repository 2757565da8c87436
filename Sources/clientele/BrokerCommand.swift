import ArgumentParser
import ClienteleKafka
import ClienteleRuntime
import Foundation
import Logging
import UnixSignals

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the embedded development broker (librdkafka's mock cluster) with every topic created.",
        discussion: """
            Prints exactly `bootstrap.servers=HOST:PORT[,...]` as its first line on stdout, then runs \
            until SIGINT/SIGTERM. In-memory, for development, demos and tests only.
            """)

    @Option(help: "Number of brokers.") var brokers = 3
    @Option(help: "Partitions per topic.") var partitions = 16
    @Option(name: .customLong("topic-prefix"), help: "Prefix of every topic name (default: $CLIENTELE_TOPIC_PREFIX).")
    var topicPrefix: String?

    func validate() throws {
        guard (1...10).contains(brokers) else { throw ValidationError("--brokers must be from 1 to 10") }
        guard (1...256).contains(partitions) else { throw ValidationError("--partitions must be from 1 to 256") }
    }

    func run() async throws {
        bootstrapCommandLogging(.warning)
        let topics = TopicNames(prefix: topicPrefix ?? ProcessInfo.processInfo.environment["CLIENTELE_TOPIC_PREFIX"] ?? "")
        let cluster = try EmbeddedBroker.start(brokers: brokers, partitions: partitions, topics: topics)
        print("bootstrap.servers=\(cluster.bootstrapServers)")
        flushStandardOutput()
        printError("embedded broker: \(brokers) brokers, topics \(TopicNames.all.map(topics.resolve).joined(separator: ", ")) with \(partitions) partitions; Ctrl-C to stop")
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await _ in signals { break }
        cluster.shutdown()
    }
}

/// Starts a mock cluster with every contract topic.
enum EmbeddedBroker {
    static func start(brokers: Int, partitions: Int, topics: TopicNames) throws -> MockKafkaCluster {
        let cluster = try MockKafkaCluster(brokerCount: brokers)
        for topic in TopicNames.all {
            try cluster.createTopic(topics.resolve(topic), partitions: partitions, replicationFactor: min(brokers, 3))
        }
        return cluster
    }
}

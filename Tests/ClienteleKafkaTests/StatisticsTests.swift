import ClienteleKafka
import Foundation
import Testing

@Suite("librdkafka statistics: lag, group state, brokers", .timeLimit(.minutes(2)))
struct StatisticsTests {
    @Test("a statistics document is read: lag from the stored offset, else the committed one, else (fetching) the fetch position — not while the committed offset is still being looked up; the internal partition and broker are left out")
    func parsesDocument() throws {
        let json = """
            {"time": 1796237545, "brokers": {
                "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned", "state": "UP"},
                "127.0.0.1:9093/2": {"name": "127.0.0.1:9093/2", "nodeid": 2, "source": "learned", "state": "DOWN"},
                ":0/internal": {"name": ":0/internal", "nodeid": -1, "source": "internal", "state": "UP"}},
             "topics": {"purchases": {"partitions": {
                "0": {"partition": 0, "hi_offset": 120, "lo_offset": 0, "stored_offset": 100, "committed_offset": 90, "consumer_lag": 30, "consumer_lag_stored": 20},
                "1": {"partition": 1, "hi_offset": 50, "lo_offset": 0, "stored_offset": -1001, "committed_offset": 45, "consumer_lag": 5, "consumer_lag_stored": -1},
                "2": {"partition": 2, "fetch_state": "active", "hi_offset": 70, "lo_offset": 10, "app_offset": 10, "stored_offset": -1001, "committed_offset": -1001, "consumer_lag": -1, "consumer_lag_stored": -1},
                "4": {"partition": 4, "fetch_state": "offset-query", "hi_offset": 70, "lo_offset": 0, "app_offset": -1001, "stored_offset": -1001, "committed_offset": -1001, "consumer_lag": -1, "consumer_lag_stored": -1},
                "3": {"partition": 3, "hi_offset": -1, "lo_offset": -1, "stored_offset": -1001, "committed_offset": -1001, "consumer_lag": -1, "consumer_lag_stored": -1},
                "-1": {"partition": -1, "hi_offset": -1, "consumer_lag": -1, "consumer_lag_stored": -1}}}},
             "cgrp": {"state": "up", "join_state": "wait-sync", "rebalance_cnt": 3}}
            """
        let statistics = try #require(KafkaStatistics(json: Array(json.utf8)))
        #expect(statistics.producedAt == Date(timeIntervalSince1970: 1_796_237_545))
        #expect(statistics.partitions.map(\.partition) == [0, 1, 2, 3, 4])
        #expect(statistics.partitions.map(\.lag) == [20, 5, 60, nil, nil])
        #expect(statistics.partitions.map(\.highWatermark) == [120, 50, 70, nil, 70])
        #expect(statistics.brokersKnown == 2)
        #expect(statistics.brokersUp == 1)
        #expect(statistics.groupState == "up")
        #expect(statistics.groupJoinState == "wait-sync")
        #expect(!statistics.groupIsSteady)
        #expect(statistics.rebalances == 3)
        #expect(KafkaStatistics(json: Array("[1]".utf8)) == nil)
    }

    @Test("a consumer's statistics on the mock cluster show its lag falling to 0 once it stored every offset, a steady group and brokers up")
    func consumerLagReachesZero() async throws {
        let fixture = try KafkaFixture(partitions: 3)
        var configuration = fixture.configuration
        configuration.properties["statistics.interval.ms"] = "200"
        let producer = try KafkaProducer(configuration: configuration, logger: fixture.logger)
        try await producer.send(fixture.messages(300, keys: 30))
        let consumer = try KafkaConsumer(configuration: configuration, groupId: "stats", topics: [fixture.topic], logger: fixture.logger)
        let read = try await consume(consumer, count: 300, store: true)
        #expect(read.count == 300)

        var last: KafkaStatistics?
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while ContinuousClock.now < deadline {
            _ = try await consumer.poll(maxMessages: 10, maxWait: .milliseconds(100))  // statistics are served by polls
            last = consumer.statistics
            if let last, last.partitions.filter({ $0.topic == fixture.topic }).count == 3,
               last.partitions.allSatisfy({ $0.lag == 0 }), last.groupIsSteady { break }
        }
        let statistics = try #require(last)
        let partitions = statistics.partitions.filter { $0.topic == fixture.topic }
        #expect(partitions.count == 3)
        #expect(partitions.allSatisfy { $0.lag == 0 }, "\(partitions)")
        #expect(partitions.map { $0.highWatermark ?? 0 }.reduce(0, +) == 300)
        #expect(statistics.groupIsSteady)
        #expect(statistics.brokersUp >= 1)
        #expect(consumer.rebalances >= 1)
        #expect(consumer.fatalError == nil)
        #expect(producer.statistics.map { $0.brokersUp >= 1 } ?? false)
        let ends = try await consumer.watermarks((0..<3).map { TopicPartition(topic: fixture.topic, partition: $0) })
        #expect(ends.values.map(\.high).reduce(0, +) == 300)
        await consumer.close()
        await producer.close()
    }
}

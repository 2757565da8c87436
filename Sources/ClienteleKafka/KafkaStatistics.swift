import Foundation

/// What a client's latest librdkafka statistics say (`statistics.interval.ms`), reduced to what
/// an operator watches: lag per partition, the consumer group's state, the brokers reachable.
public struct KafkaStatistics: Sendable, Equatable {
    /// One partition as the client sees it.
    public struct Partition: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        /// Messages between the position this member stored (processed) and the partition's end,
        /// or from the committed offset before anything was stored; nil when not known yet.
        public var lag: Int64?
        /// The partition's end (high watermark) as last fetched; nil when not known yet.
        public var highWatermark: Int64?
    }

    /// When the client produced these statistics (its own `time` field, seconds since 1970).
    public var producedAt: Date
    /// Partitions with a fetch position, by topic and partition (librdkafka's internal `-1`
    /// partition left out).
    public var partitions: [Partition]
    /// The consumer group's state (`up` when steady), and its join state (`steady`); nil for a
    /// producer or a consumer without a group.
    public var groupState: String?
    public var groupJoinState: String?
    /// How many rebalances the group went through as this member saw them.
    public var rebalances: Int?
    /// Broker connections that are up (configured, learned or the group coordinator's).
    public var brokersUp: Int
    /// Broker connections known, librdkafka's internal handle left out.
    public var brokersKnown: Int

    /// Whether the group membership is steady (a member with its assignment, no rebalance under way).
    public var groupIsSteady: Bool { groupState == "up" && groupJoinState == "steady" }

    public init(
        producedAt: Date, partitions: [Partition] = [], groupState: String? = nil, groupJoinState: String? = nil,
        rebalances: Int? = nil, brokersUp: Int = 0, brokersKnown: Int = 0
    ) {
        self.producedAt = producedAt
        self.partitions = partitions
        self.groupState = groupState
        self.groupJoinState = groupJoinState
        self.rebalances = rebalances
        self.brokersUp = brokersUp
        self.brokersKnown = brokersKnown
    }

    /// Reads librdkafka's statistics JSON (see its STATISTICS.md); nil when it is not an object.
    public init?(json: [UInt8]) {
        guard let root = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else { return nil }
        let seconds = (root["time"] as? NSNumber)?.doubleValue
        producedAt = seconds.map { Date(timeIntervalSince1970: $0) } ?? Date()
        var partitions: [Partition] = []
        for (topic, value) in (root["topics"] as? [String: Any]) ?? [:] {
            for (_, entry) in ((value as? [String: Any])?["partitions"] as? [String: Any]) ?? [:] {
                guard let entry = entry as? [String: Any], let id = (entry["partition"] as? NSNumber)?.int32Value, id >= 0 else { continue }
                func number(_ key: String) -> Int64? {
                    guard let value = (entry[key] as? NSNumber)?.int64Value, value >= 0 else { return nil }
                    return value
                }
                // librdkafka gives -1 for "not known": before anything is stored, fall back on the
                // committed position, then (nothing committed, reading from the start) on the
                // partition's size.
                let high = number("hi_offset")
                var lag = number("consumer_lag_stored") ?? number("consumer_lag")
                // Nothing stored or committed yet: only once fetching (the committed offset may
                // still be on its way right after an assignment), from the fetch position.
                if lag == nil, entry["fetch_state"] as? String == "active", let high,
                   let position = number("app_offset") ?? number("next_offset") ?? number("lo_offset") {
                    lag = max(0, high - position)
                }
                partitions.append(Partition(topic: topic, partition: id, lag: lag, highWatermark: high))
            }
        }
        self.partitions = partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        if let group = root["cgrp"] as? [String: Any] {
            groupState = group["state"] as? String
            groupJoinState = group["join_state"] as? String
            rebalances = (group["rebalance_cnt"] as? NSNumber)?.intValue
        }
        var up = 0
        var known = 0
        for (_, broker) in (root["brokers"] as? [String: Any]) ?? [:] {
            guard let broker = broker as? [String: Any] else { continue }
            // librdkafka's internal handle is no broker.
            if broker["source"] as? String == "internal" { continue }
            known += 1
            if broker["state"] as? String == "UP" { up += 1 }
        }
        brokersUp = up
        brokersKnown = known
    }
}

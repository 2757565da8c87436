/// A record header: a name and an optional value.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public init(name: String, text: String) {
        self.init(name: name, value: Array(text.utf8))
    }

    /// The value as UTF-8 text, when it is.
    public var text: String? { value.flatMap { String(validating: $0, as: UTF8.self) } }
}

/// A record read from a topic.
public struct KafkaMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    /// Nil for a tombstone.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Producer (create) time in milliseconds since the epoch, when the broker reports one.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaHeader] = [], timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The key as UTF-8 text, when it is.
    public var keyText: String? { key.flatMap { String(validating: $0, as: UTF8.self) } }

    /// The first header with this name.
    public func header(_ name: String) -> KafkaHeader? { headers.first { $0.name == name } }
}

/// A record to produce.
public struct OutgoingMessage: Sendable, Hashable {
    public var topic: String
    public var key: [UInt8]?
    /// Nil produces a tombstone.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// An explicit partition, or nil to let the partitioner hash the key.
    public var partition: Int32?

    public init(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [], partition: Int32? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
    }
}

/// A position in a partition.
public struct TopicPartitionOffset: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    /// The offset of the next record to read (last processed + 1).
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// A partition of a topic.
public struct TopicPartition: Sendable, Hashable, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// What one consumer poll returned.
public struct ConsumerBatch: Sendable {
    public var messages: [KafkaMessage]
    /// Partitions at their end as of this poll: read to the end (after their last message in this
    /// poll, if any), nothing queued behind, no message since. Empty for a poll that stopped at
    /// its message limit (more may be queued).
    public var reachedEnd: Set<TopicPartition>
    /// Partitions assigned or revoked during this poll: what was known of their position before
    /// no longer holds.
    public var reassigned: Set<TopicPartition>

    public init(messages: [KafkaMessage], reachedEnd: Set<TopicPartition> = [], reassigned: Set<TopicPartition> = []) {
        self.messages = messages
        self.reachedEnd = reachedEnd
        self.reassigned = reassigned
    }
}

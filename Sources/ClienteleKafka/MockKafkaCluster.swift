import CRdKafka
import Logging
import Synchronization

/// librdkafka's built-in mock cluster: a real Kafka-protocol broker set on loopback TCP, for the
/// development broker, demos and tests. Other processes can connect while this object lives.
///
/// It supports produce, fetch, consumer groups, offset commits and the idempotent producer, and
/// exposes fault injection (brokers down/up, request errors, round-trip time, leader moves).
/// Topics must be created with ``createTopic(_:partitions:replicationFactor:)`` (no CreateTopics).
public final class MockKafkaCluster: @unchecked Sendable {
    private let rk: OpaquePointer
    private let cluster: OpaquePointer
    private let context: NativeCallbackContext
    private let destroyed = Mutex(false)
    /// The `bootstrap.servers` value clients use to reach the cluster.
    public let bootstrapServers: String
    /// Number of brokers (ids 1...brokerCount).
    public let brokerCount: Int
    /// The brokers' loopback ports (a broker brought back up keeps its port).
    private let ports: [Int32]

    /// Starts a cluster of `brokerCount` brokers on loopback ports chosen by the OS.
    public init(brokerCount: Int = 3, logger: Logger = Logger(label: "clientele.kafka.mock")) throws(KafkaError) {
        precondition(brokerCount >= 1, "a cluster needs at least one broker")
        let context = NativeCallbackContext(logger: logger)
        var configuration = KafkaConfiguration(bootstrapServers: "")
        configuration.properties.removeValue(forKey: "bootstrap.servers")
        configuration.properties["client.id"] = "clientele-mock-cluster"
        let conf = try configuration.makeNativeConfiguration()
        installCommonCallbacks(conf, context: context)
        let rk = try makeNativeClient(type: RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(rk, Int32(brokerCount)) else {
            rd_kafka_destroy(rk)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL.rawValue, message: "could not start the mock cluster")
        }
        self.rk = rk
        self.cluster = cluster
        self.context = context
        self.brokerCount = brokerCount
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        ports = bootstrapServers.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { Int32($0) } }
        disableNagle(allUp: true)
    }

    /// The brokers' side of the connections clients have open to them, by whether Nagle's
    /// algorithm is off on it (a diagnostic: every one should be).
    public func brokerConnections() -> (noDelay: Int, nagle: Int) {
        var noDelay: Int32 = 0
        var nagle: Int32 = 0
        ports.withUnsafeBufferPointer { clientele_count_broker_connections($0.baseAddress, Int32($0.count), &noDelay, &nagle) }
        return (Int(noDelay), Int(nagle))
    }

    /// The mock brokers write each response as soon as it is ready, with Nagle's algorithm on:
    /// a client that sends several requests at once (librdkafka's producer sends one per partition)
    /// got the second response only after its delayed ACK of the first — about 40 ms. Measured on
    /// a 3-broker cluster, 100 keyed messages to 16 partitions: 48 ms from produce to the last
    /// delivery report, 5.5 ms to one partition. Set before any client connects, the option is
    /// inherited by every accepted connection.
    private func disableNagle(allUp: Bool) {
        let changed = ports.withUnsafeBufferPointer { clientele_disable_nagle_on_listeners($0.baseAddress, Int32($0.count)) }
        // (A broker taken down has no listening socket: fewer than all may be found then.)
        if allUp ? changed < ports.count : changed == 0 {
            context.logger.warning("the embedded broker's listening sockets keep Nagle's algorithm on: responses may wait ~40 ms", metadata: [
                "found": "\(changed)", "brokers": "\(ports.count)",
            ])
        }
    }

    deinit { shutdown() }

    /// Creates a topic. Creating an existing topic is an error.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        try check(rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor)),
                  "create topic '\(name)'")
    }

    /// Takes a broker down: its connections close and it accepts no new ones.
    public func setBrokerDown(_ brokerId: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_down(cluster, brokerId), "set broker \(brokerId) down")
    }

    /// Brings a broker taken down back up.
    public func setBrokerUp(_ brokerId: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_up(cluster, brokerId), "set broker \(brokerId) up")
        // The broker listens on a new socket (its port kept): turn Nagle's algorithm off there too.
        disableNagle(allUp: false)
    }

    /// Delays every response of a broker by `milliseconds`.
    public func setBrokerRoundTripTime(_ brokerId: Int32, milliseconds: Int) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_rtt(cluster, brokerId, Int32(milliseconds)), "set broker \(brokerId) rtt")
    }

    /// Makes the next requests of a Kafka API (e.g. 0 = Produce, 1 = Fetch, 8 = OffsetCommit)
    /// fail with these error codes, one per request, in order.
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        codes.withUnsafeBufferPointer { buffer in
            clientele_mock_push_request_errors(cluster, apiKey, buffer.count, buffer.baseAddress)
        }
    }

    /// Moves the leadership of a partition to another broker.
    public func setPartitionLeader(topic: String, partition: Int32, brokerId: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_partition_set_leader(cluster, topic, partition, brokerId),
                  "set leader of \(topic)/\(partition)")
    }

    /// Stops the brokers; clients connected to them lose their connections.
    public func shutdown() {
        let wasDestroyed = destroyed.withLock { state in
            defer { state = true }
            return state
        }
        guard !wasDestroyed else { return }
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(rk)
    }

    private func check(_ error: rd_kafka_resp_err_t, _ what: String) throws(KafkaError) {
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: what) }
    }
}

/// Kafka protocol API keys, for ``MockKafkaCluster/pushRequestErrors(apiKey:errors:)``.
public enum KafkaAPIKey {
    public static let produce: Int16 = 0
    public static let fetch: Int16 = 1
    public static let offsetCommit: Int16 = 8
    public static let offsetFetch: Int16 = 9
    public static let findCoordinator: Int16 = 10
    public static let joinGroup: Int16 = 11
    public static let heartbeat: Int16 = 12
    public static let syncGroup: Int16 = 14
    public static let initProducerId: Int16 = 22
}

/// Error codes worth injecting.
public enum KafkaErrorCode {
    public static let notLeaderForPartition: Int32 = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue
    public static let requestTimedOut: Int32 = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue
    public static let notEnoughReplicas: Int32 = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue
    public static let notCoordinator: Int32 = RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue
    public static let coordinatorNotAvailable: Int32 = RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue
}

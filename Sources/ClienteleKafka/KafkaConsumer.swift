import CRdKafka
import Dispatch
import Logging
import Synchronization

/// A consumer-group member with manual offset storage.
///
/// Offsets are never stored automatically: call ``storeOffsets(_:)`` once the work for a batch is
/// durable; librdkafka then commits them in the background (`auto.commit.interval.ms`), on
/// ``commitAsync()``, synchronously when partitions are revoked and on ``close()``. Messages polled
/// in the same call as a revocation, from a revoked partition, are dropped from the batch: the
/// partition's next owner reads them again from the committed offset.
///
/// The commit on revocation is sent with the current generation. A coordinator that has already
/// started another rebalance refuses it (`REBALANCE_IN_PROGRESS`): librdkafka 2.0.2's mock cluster
/// does so when a follower's SyncGroup reaches it after the leader's, which makes it start a new
/// round at once. The next owner then starts from the previous commit and reads again what was
/// stored since; ``revokeCommitsRefused`` counts such revocations.
///
/// Every librdkafka call runs on the consumer's own serial dispatch queue.
public final class KafkaConsumer: Sendable {
    private let client: Client
    private let queue: DispatchQueue

    /// Joins `groupId` and subscribes to `topics` (with no topics, joins nothing: a handle for
    /// ``committed(_:timeout:)``).
    ///
    /// Defaults (overridable in `configuration`): `enable.auto.offset.store=false`,
    /// `enable.auto.commit=true`, `auto.commit.interval.ms=1000`, `auto.offset.reset=earliest`,
    /// `fetch.wait.max.ms=50`, `partition.assignment.strategy=cooperative-sticky`,
    /// `queued.max.messages.kbytes=16384`.
    public init(configuration: KafkaConfiguration, groupId: String, topics: [String], logger: Logger) throws(KafkaError) {
        var configuration = configuration
        configuration.properties["group.id"] = groupId
        configuration.properties["enable.auto.offset.store"] = "false"
        configuration.setDefault("enable.auto.commit", "true")
        configuration.setDefault("auto.commit.interval.ms", "1000")
        configuration.setDefault("auto.offset.reset", "earliest")
        configuration.setDefault("fetch.wait.max.ms", "50")
        // An end-of-partition event each time a partition is read to its end: how a worker knows
        // its stream is caught up (``ConsumerBatch/reachedEnd``).
        configuration.setDefault("enable.partition.eof", "true")
        // Incremental rebalancing: only the partitions that move are revoked, and a member may
        // commit during the revocation (the eager protocol's commit is refused mid-rebalance).
        configuration.setDefault("partition.assignment.strategy", "cooperative-sticky")
        configuration.setDefault("client.id", "clientele")
        configuration.setDefault("statistics.interval.ms", KafkaConfiguration.defaultStatisticsIntervalMilliseconds)
        // Messages fetched ahead of the worker: 16 MiB (librdkafka's default is 64 MiB), a few
        // batches of events. Measured with 1,000,000 new clients: 8 MiB took 33 MiB off the
        // worker's peak at the same events/s.
        configuration.setDefault("queued.max.messages.kbytes", "16384")
        let context = Client.Context(logger: logger)
        let conf = try configuration.makeNativeConfiguration()
        installCommonCallbacks(conf, context: context)
        rd_kafka_conf_set_rebalance_cb(conf) { rk, error, partitions, opaque in
            guard let rk, let opaque else { return }
            let context = Unmanaged<Client.Context>.fromOpaque(opaque).takeUnretainedValue()
            context.rebalance(rk: rk, error: error, partitions: partitions)
        }
        let rk = try makeNativeClient(type: RD_KAFKA_CONSUMER, conf: conf)
        rd_kafka_poll_set_consumer(rk)
        self.client = Client(rk: rk, context: context)
        self.queue = DispatchQueue(label: "clientele.kafka.consumer")

        // No topics: a group handle for looking at committed offsets, without joining the group.
        guard !topics.isEmpty else { return }
        if case .failure(let error) = client.subscribe(topics) {
            client.destroy()
            throw (error as? KafkaError) ?? KafkaError.configuration("subscribe: \(error)")
        }
    }

    /// Subscribes to `topics` (a consumer made with none joins its group now).
    public func subscribe(_ topics: [String]) async throws {
        try await queue.perform { [client] in client.subscribe(topics) }
    }

    /// Serves what librdkafka queued for the application (statistics, logs, errors) without
    /// consuming: call it while not polling for messages, or the queue grows.
    public func serveCallbacks() async {
        await queue.perform { [client] in client.serveCallbacks() }
    }

    /// Waits up to `maxWait` for a first message, then takes what is already buffered, up to
    /// `maxMessages`. Returns an empty array when nothing arrived in time.
    public func poll(maxMessages: Int, maxWait: Duration) async throws -> [KafkaMessage] {
        try await pollBatch(maxMessages: maxMessages, maxWait: maxWait).messages
    }

    /// Like ``poll(maxMessages:maxWait:)``, and also says which partitions were read to their end.
    public func pollBatch(maxMessages: Int, maxWait: Duration) async throws -> ConsumerBatch {
        let waitMilliseconds = Int32(clamping: maxWait.components.seconds * 1000 + maxWait.components.attoseconds / 1_000_000_000_000_000)
        return try await queue.perform { [client] in client.poll(maxMessages: maxMessages, waitMilliseconds: waitMilliseconds) }
    }

    /// How many revocations found their commit refused by the coordinator (see the type's notes).
    public var revokeCommitsRefused: Int { client.context.refusedRevokeCommits.load(ordering: .relaxed) }

    /// Marks these positions as processed; they are committed with the next (auto) commit.
    /// Positions of partitions this member no longer owns are ignored.
    public func storeOffsets(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        try client.storeOffsets(offsets)
    }

    /// Commits the stored offsets now and waits for the broker's answer.
    public func commit() async throws {
        try await queue.perform { [client] in client.commitStored() }
    }

    /// Sends the stored offsets for commit without waiting for the answer (a failed commit is
    /// retried by the next one).
    public func commitAsync() async {
        await queue.perform { [client] in client.commitStoredAsync() }
    }

    /// The number of partitions of `topic` (nil when the cluster does not know the topic).
    public func partitionCount(of topic: String, timeout: Duration = .seconds(10)) async throws -> Int? {
        try await queue.perform { [client] in
            client.partitionCount(of: topic, timeoutMilliseconds: Int32(timeout.components.seconds * 1000))
        }
    }

    /// The latest librdkafka statistics (lag per partition, group state, brokers up); nil until
    /// the first interval passed.
    public var statistics: KafkaStatistics? { client.context.statistics.withLock { $0 } }

    /// librdkafka's fatal error, once one happened: the consumer cannot go on.
    public var fatalError: String? { client.context.fatalError.withLock { $0 } }

    /// Rebalances this member took part in (each assignment it was given, empty ones included).
    public var rebalances: Int { client.context.rebalances.load(ordering: .relaxed) }

    /// Assigned partitions read to their end and given no message since: nothing left to consume
    /// there, whatever the offsets say (transaction markers occupy offsets too).
    public var partitionsAtEnd: Set<TopicPartition> { client.context.atEnd.withLock { $0 } }

    /// The partitions currently assigned to this member.
    public var assignment: [TopicPartition] { client.context.assigned.withLock { $0.sorted() } }

    /// The group's committed offsets for these partitions (nil where none is committed).
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(5)) async throws -> [TopicPartition: Int64] {
        try await queue.perform { [client] in
            client.committed(partitions, timeoutMilliseconds: Int32(timeout.components.seconds * 1000))
        }
    }

    /// The low and high watermarks (first offset kept, next offset to be written) of these
    /// partitions, asked of their leaders.
    public func watermarks(_ partitions: [TopicPartition], timeout: Duration = .seconds(5)) async throws -> [TopicPartition: (low: Int64, high: Int64)] {
        try await queue.perform { [client] in
            client.watermarks(partitions, timeoutMilliseconds: Int32(timeout.components.seconds * 1000))
        }
    }

    /// Commits stored offsets, leaves the group and releases the client.
    public func close() async {
        await queue.perform { [client] in client.close() }
    }

    final class Client: @unchecked Sendable {
        let rk: OpaquePointer
        let context: Context
        private let open = Atomic<Bool>(true)
        /// Topic names by librdkafka topic handle; touched only on the consumer queue.
        private var topicNames: [OpaquePointer: String] = [:]


        init(rk: OpaquePointer, context: Context) {
            self.rk = rk
            self.context = context
        }

        func poll(maxMessages: Int, waitMilliseconds: Int32) -> Result<ConsumerBatch, Error> {
            guard open.load(ordering: .acquiring) else { return .failure(KafkaError.closed) }
            context.revokedDuringPoll.withLock { $0.removeAll() }
            context.assignedDuringPoll.withLock { $0.removeAll() }
            var messages: [KafkaMessage] = []
            messages.reserveCapacity(min(maxMessages, 4096))
            var timeout = waitMilliseconds
            while messages.count < maxMessages {
                guard let raw = rd_kafka_consumer_poll(rk, timeout) else { break }
                timeout = 0
                defer { rd_kafka_message_destroy(raw) }
                let error = raw.pointee.err
                if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if error == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        if let rkt = raw.pointee.rkt {
                            let partition = TopicPartition(topic: topicName(rkt), partition: raw.pointee.partition)
                            context.atEnd.withLock { _ = $0.insert(partition) }
                        }
                        continue
                    }
                    var text = [CChar](repeating: 0, count: 512)
                    if rd_kafka_fatal_error(rk, &text, text.count) != RD_KAFKA_RESP_ERR_NO_ERROR {
                        return .failure(KafkaError(code: error.rawValue, message: "fatal consumer error", isFatal: true))
                    }
                    context.logger.warning("consumer error", metadata: ["error": "\(String(cString: rd_kafka_err2name(error)))"])
                    continue
                }
                let message = convert(raw)
                context.atEnd.withLock { atEnd in
                    if !atEnd.isEmpty { atEnd.remove(TopicPartition(topic: message.topic, partition: message.partition)) }
                }
                messages.append(message)
            }
            let revoked = context.revokedDuringPoll.withLock { $0 }
            if !revoked.isEmpty {
                messages.removeAll { revoked.contains(TopicPartition(topic: $0.topic, partition: $0.partition)) }
            }
            let moved = revoked.union(context.assignedDuringPoll.withLock { $0 })
            // A partition stays at its end until a message of it arrives (librdkafka says so once;
            // an assignment or revocation forgets it). It is reported only by a poll that took
            // everything there was: one that stopped at `maxMessages` may have newer messages of
            // an "ended" partition still queued behind.
            let drained = messages.count < maxMessages
            return .success(ConsumerBatch(messages: messages, reachedEnd: drained ? context.atEnd.withLock { $0 } : [], reassigned: moved))
        }

        private func topicName(_ rkt: OpaquePointer) -> String {
            if let known = topicNames[rkt] { return known }
            let name = String(cString: rd_kafka_topic_name(rkt))
            topicNames[rkt] = name
            return name
        }

        private func convert(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaMessage {
            let message = raw.pointee
            let topic = message.rkt.map(topicName) ?? ""
            let key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) }
            let value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) }
            var headers: [KafkaHeader] = []
            var nativeHeaders: OpaquePointer?
            if rd_kafka_message_headers(raw, &nativeHeaders) == RD_KAFKA_RESP_ERR_NO_ERROR, let nativeHeaders {
                var index = 0
                var name: UnsafePointer<CChar>?
                var valuePointer: UnsafeRawPointer?
                var size = 0
                while rd_kafka_header_get_all(nativeHeaders, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                    headers.append(KafkaHeader(
                        name: name.map { String(cString: $0) } ?? "",
                        value: valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
                    index += 1
                }
            }
            var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let timestamp = rd_kafka_message_timestamp(raw, &timestampType)
            return KafkaMessage(
                topic: topic, partition: message.partition, offset: message.offset, key: key, value: value,
                headers: headers, timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp)
        }

        func subscribe(_ topics: [String]) -> Result<Void, Error> {
            guard open.load(ordering: .acquiring) else { return .failure(KafkaError.closed) }
            guard let list = rd_kafka_topic_partition_list_new(Int32(topics.count)) else {
                return .failure(KafkaError.configuration("out of memory"))
            }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
            let error = rd_kafka_subscribe(rk, list)
            return error == RD_KAFKA_RESP_ERR_NO_ERROR ? .success(()) : .failure(KafkaError(error, context: "subscribe"))
        }

        /// Without a subscription a poll returns no message; it serves the queued callbacks.
        func serveCallbacks() {
            guard open.load(ordering: .acquiring) else { return }
            while let raw = rd_kafka_consumer_poll(rk, 0) { rd_kafka_message_destroy(raw) }
        }

        func storeOffsets(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
            guard open.load(ordering: .acquiring) else { throw KafkaError.closed }
            guard let list = rd_kafka_topic_partition_list_new(Int32(offsets.count)) else { return }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for position in offsets {
                let element = rd_kafka_topic_partition_list_add(list, position.topic, position.partition)
                element?.pointee.offset = position.offset
            }
            let error = rd_kafka_offsets_store(rk, list)
            // _STATE / per-partition errors: the partition was revoked meanwhile; its next owner
            // reprocesses from the committed offset, which idempotent processing makes harmless.
            if error != RD_KAFKA_RESP_ERR_NO_ERROR, error != RD_KAFKA_RESP_ERR__STATE,
               error != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION {
                throw KafkaError(error, context: "store offsets")
            }
        }

        func commitStored() -> Result<Void, Error> {
            guard open.load(ordering: .acquiring) else { return .failure(KafkaError.closed) }
            let error = rd_kafka_commit(rk, nil, 0)
            if error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET {
                return .success(())
            }
            return .failure(KafkaError(error, context: "commit"))
        }

        func commitStoredAsync() {
            guard open.load(ordering: .acquiring) else { return }
            _ = rd_kafka_commit(rk, nil, 1)
        }

        func partitionCount(of topic: String, timeoutMilliseconds: Int32) -> Result<Int?, Error> {
            guard open.load(ordering: .acquiring) else { return .failure(KafkaError.closed) }
            guard let handle = rd_kafka_topic_new(rk, topic, nil) else { return .failure(KafkaError.configuration("cannot name topic")) }
            defer { rd_kafka_topic_destroy(handle) }
            return withTopicMetadata(rk, handle, timeoutMilliseconds: timeoutMilliseconds) { entry -> Result<Int?, KafkaError> in
                guard let entry, entry.err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, entry.partition_cnt > 0 else { return .success(nil) }
                guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(entry.err, context: "metadata for a topic")) }
                return .success(Int(entry.partition_cnt))
            }.mapError { $0 }
        }

        func committed(_ partitions: [TopicPartition], timeoutMilliseconds: Int32) -> Result<[TopicPartition: Int64], Error> {
            guard open.load(ordering: .acquiring) else { return .failure(KafkaError.closed) }
            guard let list = rd_kafka_topic_partition_list_new(Int32(partitions.count)) else { return .success([:]) }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for tp in partitions { rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition) }
            let error = rd_kafka_committed(rk, list, timeoutMilliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(error, context: "committed")) }
            var result: [TopicPartition: Int64] = [:]
            for index in 0..<Int(list.pointee.cnt) {
                let element = list.pointee.elems[index]
                if element.offset >= 0 {
                    result[TopicPartition(topic: String(cString: element.topic), partition: element.partition)] = element.offset
                }
            }
            return .success(result)
        }

        func watermarks(_ partitions: [TopicPartition], timeoutMilliseconds: Int32) -> Result<[TopicPartition: (low: Int64, high: Int64)], Error> {
            guard open.load(ordering: .acquiring) else { return .failure(KafkaError.closed) }
            var result: [TopicPartition: (low: Int64, high: Int64)] = [:]
            for partition in partitions {
                var low: Int64 = 0
                var high: Int64 = 0
                let error = rd_kafka_query_watermark_offsets(rk, partition.topic, partition.partition, &low, &high, timeoutMilliseconds)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(error, context: "watermarks of a partition")) }
                result[partition] = (low, high)
            }
            return .success(result)
        }

        func close() {
            guard open.exchange(false, ordering: .acquiringAndReleasing) else { return }
            let error = rd_kafka_consumer_close(rk)
            if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                context.logger.warning("consumer close", metadata: ["error": "\(String(cString: rd_kafka_err2name(error)))"])
            }
            rd_kafka_destroy(rk)
        }

        func destroy() {
            guard open.exchange(false, ordering: .acquiringAndReleasing) else { return }
            rd_kafka_destroy(rk)
        }

        final class Context: NativeCallbackContext, @unchecked Sendable {
            let assigned = Mutex<Set<TopicPartition>>([])
            let revokedDuringPoll = Mutex<Set<TopicPartition>>([])
            let assignedDuringPoll = Mutex<Set<TopicPartition>>([])
            /// Partitions read to their end and given no message since.
            let atEnd = Mutex<Set<TopicPartition>>([])
            let refusedRevokeCommits = Atomic<Int>(0)
            let rebalances = Atomic<Int>(0)
            /// The group's protocol as last reported (librdkafka returns none once the consumer has
            /// left its group, e.g. for the revocation while it closes); cooperative is the default.
            let cooperativeProtocol = Atomic<Bool>(true)

            /// Runs inside rd_kafka_consumer_poll (on the consumer queue).
            func rebalance(rk: OpaquePointer, error: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
                let cooperative: Bool
                if let name = rd_kafka_rebalance_protocol(rk) {
                    cooperative = String(cString: name) == "COOPERATIVE"
                    cooperativeProtocol.store(cooperative, ordering: .relaxed)
                } else {
                    cooperative = cooperativeProtocol.load(ordering: .relaxed)
                }
                let changed = Self.partitions(of: partitions)
                switch error {
                case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                    rebalances.add(1, ordering: .relaxed)
                    if cooperative {
                        if let failure = rd_kafka_incremental_assign(rk, partitions) { rd_kafka_error_destroy(failure) }
                    } else {
                        _ = rd_kafka_assign(rk, partitions)
                    }
                    assigned.withLock { $0.formUnion(changed) }
                    assignedDuringPoll.withLock { $0.formUnion(changed) }
                    atEnd.withLock { $0.subtract(changed) }
                    logger.info("partitions assigned", metadata: ["count": "\(changed.count)"])
                case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                    // Everything processed so far has its offsets stored: commit them before the
                    // partitions move, so the next owner starts exactly after our work.
                    let commitError = rd_kafka_commit(rk, nil, 0)
                    if commitError != RD_KAFKA_RESP_ERR_NO_ERROR, commitError != RD_KAFKA_RESP_ERR__NO_OFFSET {
                        // The next owner starts from the previous commit and reads the rest again
                        // (harmless for idempotent work); see the type's notes.
                        refusedRevokeCommits.add(1, ordering: .relaxed)
                        logger.notice("commit on revoke refused; the partitions' next owner re-reads from the previous commit",
                                      metadata: ["error": "\(String(cString: rd_kafka_err2name(commitError)))"])
                    }
                    revokedDuringPoll.withLock { $0.formUnion(changed) }
                    atEnd.withLock { $0.subtract(changed) }
                    if cooperative {
                        if let failure = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(failure) }
                    } else {
                        _ = rd_kafka_assign(rk, nil)
                    }
                    assigned.withLock { $0.subtract(changed) }
                    logger.info("partitions revoked", metadata: ["count": "\(changed.count)"])
                default:
                    logger.warning("rebalance error", metadata: ["error": "\(String(cString: rd_kafka_err2name(error)))"])
                    _ = rd_kafka_assign(rk, nil)
                    assigned.withLock { $0.removeAll() }
                    atEnd.withLock { $0.removeAll() }
                }
            }

            static func partitions(of list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Set<TopicPartition> {
                guard let list else { return [] }
                var result: Set<TopicPartition> = []
                for index in 0..<Int(list.pointee.cnt) {
                    let element = list.pointee.elems[index]
                    result.insert(TopicPartition(topic: String(cString: element.topic), partition: element.partition))
                }
                return result
            }
        }
    }
}

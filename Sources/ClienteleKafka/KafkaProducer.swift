import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// An idempotent Kafka producer with delivery reports.
///
/// `send(_:)` returns once the broker acknowledged every message of the call (or throws the
/// first delivery error), so callers can mark work done only after it is durable in Kafka.
/// librdkafka's blocking calls run on the producer's own dispatch queue and poll thread, never
/// on Swift's cooperative pool.
public final class KafkaProducer: Sendable {
    private let client: Client
    private let queue: DispatchQueue

    /// Creates the producer. Defaults: `enable.idempotence=true`, `linger.ms=5`,
    /// `message.timeout.ms=120000`; any of them can be overridden in `configuration`.
    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        var configuration = configuration
        configuration.setDefault("enable.idempotence", "true")
        configuration.setDefault("linger.ms", "5")
        configuration.setDefault("message.timeout.ms", "120000")
        configuration.setDefault("client.id", "clientele")
        configuration.setDefault("statistics.interval.ms", KafkaConfiguration.defaultStatisticsIntervalMilliseconds)
        let context = Client.Context(logger: logger)
        let conf = try configuration.makeNativeConfiguration()
        installCommonCallbacks(conf, context: context)
        rd_kafka_conf_set_dr_msg_cb(conf) { rk, message, _ in
            guard let rk, let message, let opaque = rd_kafka_opaque(rk) else { return }
            let context = Unmanaged<Client.Context>.fromOpaque(opaque).takeUnretainedValue()
            let token = UInt(bitPattern: message.pointee._private)
            context.delivered(token: token, error: message.pointee.err)
        }
        let rk = try makeNativeClient(type: RD_KAFKA_PRODUCER, conf: conf)
        self.client = Client(rk: rk, context: context)
        self.queue = DispatchQueue(label: "clientele.kafka.producer")
        client.startPolling()
    }

    /// The latest librdkafka statistics (brokers up); nil until the first interval passed.
    public var statistics: KafkaStatistics? { client.context.statistics.withLock { $0 } }

    /// librdkafka's fatal error (e.g. of the idempotent producer), once one happened.
    public var fatalError: String? { client.context.fatalError.withLock { $0 } }

    /// Produces the messages and waits until all are acknowledged.
    ///
    /// Messages with the same key go to the same partition in the order given.
    /// - Throws: ``KafkaError`` with the first failed delivery; the others may have been written.
    public func send(_ messages: [OutgoingMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            queue.async { [client] in
                client.produce(messages, completion: continuation)
            }
        }
    }

    /// Learns where these topics' partitions are before the first message to them is produced.
    ///
    /// A producer learns of a topic when it is first given a message for it, and holds that message
    /// until the topic's metadata arrives (hundreds of milliseconds): a caller that measures the
    /// first messages' latency, or cannot afford that wait, asks first.
    /// - Throws: ``KafkaError`` when the cluster does not answer within `timeout`.
    public func prepare(topics: [String], timeout: Duration = .seconds(10)) async throws {
        let milliseconds = Int32(timeout.components.seconds * 1000)
        try await queue.perform { [client] () -> Result<Void, Error> in
            for topic in topics {
                if let error = client.learnTopic(topic, timeoutMilliseconds: milliseconds) { return .failure(error) }
            }
            return .success(())
        }
    }

    /// Waits until every message produced so far is delivered, or the timeout passes.
    public func flush(timeout: Duration = .seconds(10)) async throws {
        try await queue.perform { [client] in
            let error = rd_kafka_flush(client.rk, Int32(timeout.components.seconds * 1000))
            return error == RD_KAFKA_RESP_ERR_NO_ERROR ? .success(()) : .failure(KafkaError(error, context: "flush"))
        }
    }

    /// Flushes what is pending, then releases the client. Further sends fail.
    public func close(timeout: Duration = .seconds(10)) async {
        try? await flush(timeout: timeout)
        await queue.perform { [client] in client.destroy() }
    }

    /// The librdkafka handle owner: a poll thread for delivery reports and the pending batches.
    final class Client: @unchecked Sendable {
        let rk: OpaquePointer
        let context: Context
        private let running = Atomic<Bool>(true)
        private let stopped = DispatchSemaphore(value: 0)

        init(rk: OpaquePointer, context: Context) {
            self.rk = rk
            self.context = context
        }

        func startPolling() {
            let thread = Thread { [self] in
                while running.load(ordering: .acquiring) {
                    rd_kafka_poll(rk, 50)
                }
                stopped.signal()
            }
            thread.name = "clientele.kafka.producer.poll"
            thread.start()
        }

        /// Runs on the producer queue.
        func produce(_ messages: [OutgoingMessage], completion: CheckedContinuation<Void, Error>) {
            guard running.load(ordering: .acquiring) else {
                completion.resume(throwing: KafkaError.closed)
                return
            }
            let token = context.register(count: messages.count, completion: completion)
            for (index, message) in messages.enumerated() {
                var attempt = 0
                while true {
                    let headers = makeNativeHeaders(message.headers)
                    let result = produceOne(message, headers: headers, token: token)
                    if result == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                    if let headers { rd_kafka_headers_destroy(headers) }
                    if result == RD_KAFKA_RESP_ERR__QUEUE_FULL, attempt < 60_000 {
                        attempt += 1
                        usleep(1000)  // the poll thread drains delivery reports meanwhile
                        continue
                    }
                    // This message and the rest of the batch will never get a report.
                    context.failUndelivered(
                        token: token, count: messages.count - index,
                        error: KafkaError(result, context: "produce to topic '\(message.topic)'"))
                    return
                }
            }
        }

        private func produceOne(_ message: OutgoingMessage, headers: OpaquePointer?, token: UInt) -> rd_kafka_resp_err_t {
            let partition = message.partition ?? RD_KAFKA_PARTITION_UA
            let opaque = UnsafeMutableRawPointer(bitPattern: token)
            return withOptionalBytes(message.key) { key, keyLength in
                withOptionalBytes(message.value) { value, valueLength in
                    clientele_produce(rk, message.topic, partition, key, keyLength, value, valueLength, headers, opaque)
                }
            }
        }

        /// Topic handles kept for the producer's life, so that what was learned of them stays.
        /// Only touched on the producer queue (``learnTopic`` and ``destroy``).
        private var learnedTopics: [OpaquePointer] = []

        /// Runs on the producer queue: takes a handle on `topic` and asks for its metadata.
        func learnTopic(_ topic: String, timeoutMilliseconds: Int32) -> KafkaError? {
            guard running.load(ordering: .acquiring) else { return KafkaError.closed }
            guard let handle = rd_kafka_topic_new(rk, topic, nil) else { return KafkaError.configuration("cannot name topic '\(topic)'") }
            learnedTopics.append(handle)
            if case .failure(let error) = withTopicMetadata(rk, handle, timeoutMilliseconds: timeoutMilliseconds, { _ in .success(()) }) {
                return error
            }
            return nil
        }

        func destroy() {
            guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
            for handle in learnedTopics { rd_kafka_topic_destroy(handle) }
            learnedTopics.removeAll()
            stopped.wait()
            rd_kafka_destroy(rk)
        }

        /// Tracks how many deliveries each `send` still waits for.
        final class Context: NativeCallbackContext, @unchecked Sendable {
            private struct Pending {
                var remaining: Int
                var firstError: KafkaError?
                let completion: CheckedContinuation<Void, Error>
            }

            private let pending = Mutex<(next: UInt, batches: [UInt: Pending])>((1, [:]))

            func register(count: Int, completion: CheckedContinuation<Void, Error>) -> UInt {
                pending.withLock { state in
                    let token = state.next
                    state.next += 1
                    state.batches[token] = Pending(remaining: count, firstError: nil, completion: completion)
                    return token
                }
            }

            func delivered(token: UInt, error: rd_kafka_resp_err_t) {
                let failure = error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(error, context: "delivery")
                settle(token: token, count: 1, error: failure)
            }

            func failUndelivered(token: UInt, count: Int, error: KafkaError) {
                settle(token: token, count: count, error: error)
            }

            private func settle(token: UInt, count: Int, error: KafkaError?) {
                let finished: Pending? = pending.withLock { state in
                    guard var batch = state.batches[token] else { return nil }
                    batch.remaining -= count
                    if batch.firstError == nil { batch.firstError = error }
                    if batch.remaining <= 0 {
                        state.batches[token] = nil
                        return batch
                    }
                    state.batches[token] = batch
                    return nil
                }
                guard let finished else { return }
                if let error = finished.firstError {
                    finished.completion.resume(throwing: error)
                } else {
                    finished.completion.resume()
                }
            }
        }
    }
}

/// Calls `body` with a pointer and length for optional bytes (nil, 0 for nil).
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    return bytes.withUnsafeBytes { buffer in
        // An empty, non-nil value is an empty message, not a tombstone: give it a valid pointer.
        body(buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), buffer.count)
    }
}

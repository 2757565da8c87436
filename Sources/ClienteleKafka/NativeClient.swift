import CRdKafka
import Logging
import Synchronization

/// State reachable from librdkafka's C callbacks through the client's opaque pointer.
class NativeCallbackContext: @unchecked Sendable {
    let logger: Logger
    /// The latest statistics librdkafka emitted (every `statistics.interval.ms`).
    let statistics = Mutex<KafkaStatistics?>(nil)
    /// librdkafka's description of a fatal error, once one happened (the client is then unusable).
    let fatalError = Mutex<String?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    /// Forwards librdkafka's log lines to swift-log (they hold broker names, never message data).
    func log(level: Int32, facility: String, message: String) {
        let swiftLevel: Logger.Level
        switch level {
        case ...3: swiftLevel = .error
        case 4: swiftLevel = .warning
        case 5, 6: swiftLevel = .info
        default: swiftLevel = .debug
        }
        logger.log(level: swiftLevel, "\(message)", metadata: ["rdkafka.facility": "\(facility)"])
    }

    /// Called for client-level errors (all brokers down, fatal idempotence errors, …).
    func clientError(rk: OpaquePointer?, code: rd_kafka_resp_err_t, reason: String) {
        if code == RD_KAFKA_RESP_ERR__FATAL, let rk {
            var text = [CChar](repeating: 0, count: 512)
            let original = rd_kafka_fatal_error(rk, &text, text.count)
            let description = "\(String(cString: rd_kafka_err2name(original))): \(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))"
            fatalError.withLock { $0 = $0 ?? description }
            logger.critical("librdkafka fatal error: the client cannot go on", metadata: ["error": "\(description)"])
            return
        }
        let name = String(cString: rd_kafka_err2name(code))
        logger.warning("librdkafka error", metadata: ["error": "\(name)", "reason": "\(reason)"])
    }
}

/// Installs the log and error callbacks that route through a ``NativeCallbackContext``.
func installCommonCallbacks(_ conf: OpaquePointer, context: NativeCallbackContext) {
    rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
    rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
        let context = Unmanaged<NativeCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
        context.log(
            level: level, facility: facility.map { String(cString: $0) } ?? "",
            message: message.map { String(cString: $0) } ?? "")
    }
    rd_kafka_conf_set_error_cb(conf) { rk, code, reason, opaque in
        guard let opaque else { return }
        let context = Unmanaged<NativeCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
        context.clientError(rk: rk, code: rd_kafka_resp_err_t(rawValue: code), reason: reason.map { String(cString: $0) } ?? "")
    }
    rd_kafka_conf_set_stats_cb(conf) { rk, json, length, _ in
        guard let rk, let json, let opaque = rd_kafka_opaque(rk) else { return 0 }
        let context = Unmanaged<NativeCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
        let bytes = Array(UnsafeRawBufferPointer(start: json, count: length))
        if let statistics = KafkaStatistics(json: bytes) {
            context.statistics.withLock { $0 = statistics }
        }
        return 0  // librdkafka frees the JSON
    }
}

extension KafkaConfiguration {
    /// How often librdkafka reports statistics (lag, group state, brokers) unless configured:
    /// `KAFKA_STATISTICS_INTERVAL_MS`.
    static let defaultStatisticsIntervalMilliseconds = "5000"
}

/// Creates a librdkafka client; takes ownership of `conf` on success and on failure.
func makeNativeClient(type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var errorText = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        let text = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw KafkaError.configuration(text)
    }
    return rk
}

/// Asks the cluster for one topic's metadata, waiting up to the timeout (a blocking call: run it
/// on a client's own queue), and hands the topic's entry to `body` (nil when the answer names no
/// topic). Asking also makes `rk` learn where the topic's partitions are.
func withTopicMetadata<T>(
    _ rk: OpaquePointer, _ topic: OpaquePointer, timeoutMilliseconds: Int32,
    _ body: (rd_kafka_metadata_topic?) -> Result<T, KafkaError>
) -> Result<T, KafkaError> {
    var metadata: UnsafePointer<rd_kafka_metadata>?
    let error = rd_kafka_metadata(rk, 0, topic, &metadata, timeoutMilliseconds)
    guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
        return .failure(KafkaError(error, context: "metadata for a topic"))
    }
    defer { rd_kafka_metadata_destroy(metadata) }
    return body(metadata.pointee.topic_cnt > 0 ? metadata.pointee.topics[0] : nil)
}

/// Builds a librdkafka header list; nil when there are no headers.
func makeNativeHeaders(_ headers: [KafkaHeader]) -> OpaquePointer? {
    guard !headers.isEmpty, let list = rd_kafka_headers_new(headers.count) else { return nil }
    for header in headers {
        if let value = header.value {
            value.withUnsafeBytes { buffer in
                _ = rd_kafka_header_add(list, header.name, -1, buffer.baseAddress, buffer.count)
            }
        } else {
            _ = rd_kafka_header_add(list, header.name, -1, nil, 0)
        }
    }
    return list
}

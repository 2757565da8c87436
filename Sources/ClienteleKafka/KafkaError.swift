import CRdKafka

/// An error reported by librdkafka or by this module's use of it.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The librdkafka error code (`rd_kafka_resp_err_t`); negative codes are client-side.
    public var code: Int32
    /// librdkafka's text for the code plus context from this module. Never holds message data.
    public var message: String
    /// The operation may succeed if tried again.
    public var isRetriable: Bool
    /// The client instance is unusable and must be recreated.
    public var isFatal: Bool

    public init(code: Int32, message: String, isRetriable: Bool = false, isFatal: Bool = false) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
        self.isFatal = isFatal
    }

    init(_ error: rd_kafka_resp_err_t, context: String) {
        let text = String(cString: rd_kafka_err2str(error))
        let name = String(cString: rd_kafka_err2name(error))
        self.init(code: error.rawValue, message: "\(context): \(name): \(text)", isRetriable: Self.retriable(error))
    }

    static func retriable(_ error: rd_kafka_resp_err_t) -> Bool {
        switch error {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL,
             RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
             RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
             RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
            return true
        default:
            return false
        }
    }

    /// A configuration property was rejected by librdkafka.
    static func configuration(_ text: String) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: "invalid Kafka configuration: \(text)")
    }

    /// The client was used after it was closed.
    static let closed = KafkaError(code: RD_KAFKA_RESP_ERR__DESTROY.rawValue, message: "the Kafka client is closed")

    public var description: String { "KafkaError(\(code)): \(message)" }
}

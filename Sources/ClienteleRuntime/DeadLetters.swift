import ClienteleDomain
import ClienteleKafka

/// Header names on dead-lettered messages.
public enum DeadLetterHeader {
    public static let sourceTopic = "clientele.source.topic"
    public static let sourcePartition = "clientele.source.partition"
    public static let sourceOffset = "clientele.source.offset"
    /// A stable reason code, e.g. `negative_amount` (see ``EventRejection/Reason``).
    public static let reason = "clientele.reason"
    /// Which field and rule; never a value from the message.
    public static let detail = "clientele.reason.detail"
    /// For `conflicting_duplicate`: the event id both events carry, and where the accepted one was read.
    public static let eventId = "clientele.event.id"
    public static let firstSourcePartition = "clientele.first.source.partition"
    public static let firstSourceOffset = "clientele.first.source.offset"
    /// `accepted-event` when the value is the event as accepted (its contract JSON, free text
    /// left out) rather than the original message: refused only when applied, by another worker.
    public static let value = "clientele.value"
}

/// Builds the dead-letter copy of a rejected message: same key and value, the original
/// headers, and headers naming where it came from and why it was refused.
public enum DeadLetters {
    /// The copy of `source` for `deadLetterTopic` (the resolved name, e.g. `acme.purchases.dlq`).
    public static func message(
        for source: KafkaMessage, rejection: EventRejection, deadLetterTopic: String, valueIsAcceptedEvent: Bool = false
    ) -> OutgoingMessage {
        OutgoingMessage(
            topic: deadLetterTopic,
            key: source.key,
            value: source.value,
            headers: source.headers + [
                KafkaHeader(name: DeadLetterHeader.sourceTopic, text: source.topic),
                KafkaHeader(name: DeadLetterHeader.sourcePartition, text: String(source.partition)),
                KafkaHeader(name: DeadLetterHeader.sourceOffset, text: String(source.offset)),
                KafkaHeader(name: DeadLetterHeader.reason, text: rejection.reason.rawValue),
                KafkaHeader(name: DeadLetterHeader.detail, text: rejection.detail),
            ] + (valueIsAcceptedEvent ? [KafkaHeader(name: DeadLetterHeader.value, text: "accepted-event")] : []))
    }
}

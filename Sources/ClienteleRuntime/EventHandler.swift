import ClienteleDomain
import ClienteleKafka

/// What makes a worker specific: how its input is decoded and how an event changes a client.
/// The runtime does the rest (batching, the store transaction, dead letters, offsets, outbox).
public protocol EventHandler: Sendable {
    associatedtype Event: ClientEvent
    /// Logical input topic, e.g. `purchases`.
    var inputTopic: String { get }
    /// Decodes and validates one message.
    func decode(_ message: KafkaMessage) throws(EventRejection) -> Event
    /// Applies one accepted event to its client (pure domain logic).
    func reduce(_ event: Event, _ client: inout ClientState) -> [ClientEffect]
}

/// The purchase worker's handler: purchase/refund events and the purchase lifecycle rules.
public struct PurchaseHandler: EventHandler {
    public let rules: PurchaseRules
    public let maxMessageBytes: Int
    public var inputTopic: String { TopicNames.purchases }

    public init(rules: PurchaseRules, maxMessageBytes: Int) {
        self.rules = rules
        self.maxMessageBytes = maxMessageBytes
    }

    public func decode(_ message: KafkaMessage) throws(EventRejection) -> PurchaseEvent {
        try PurchaseEvent.decode(message.value, maximumBytes: maxMessageBytes)
    }

    public func reduce(_ event: PurchaseEvent, _ client: inout ClientState) -> [ClientEffect] {
        rules.apply(event, to: &client)
    }
}

/// The contact worker's handler: interactions, prospects, complaints, consent and erasure.
public struct ContactHandler: EventHandler {
    public let rules: ContactRules
    public let maxMessageBytes: Int
    public var inputTopic: String { TopicNames.contacts }

    public init(rules: ContactRules, maxMessageBytes: Int) {
        self.rules = rules
        self.maxMessageBytes = maxMessageBytes
    }

    public func decode(_ message: KafkaMessage) throws(EventRejection) -> ContactEvent {
        try ContactEvent.decode(message.value, maximumBytes: maxMessageBytes)
    }

    public func reduce(_ event: ContactEvent, _ client: inout ClientState) -> [ClientEffect] {
        rules.apply(event, to: &client)
    }
}

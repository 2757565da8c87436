import ClienteleDomain
import ClienteleKafka

/// What makes an event worker specific: which stream it reads and how a message becomes an event.
/// The runtime does the rest (batching, event-time alignment with the other stream, the store
/// transaction, dead letters, offsets, outbox); the rules of both streams are applied by every
/// event worker, since each applies the other's waiting events when their turn comes.
public protocol EventHandler: Sendable {
    /// The stream read, e.g. `purchases`.
    var stream: EventStream { get }
    /// Decodes and validates one message read at wall time `now`.
    func decode(_ message: KafkaMessage, now: Timestamp) throws(EventRejection) -> InputEvent
}

extension EventHandler {
    /// Logical input topic, e.g. `purchases`.
    public var inputTopic: String { stream.topic }
}

extension EventStream {
    /// The stream's logical topic name.
    public var topic: String {
        switch self {
        case .purchases: TopicNames.purchases
        case .contacts: TopicNames.contacts
        }
    }
}

/// The purchase worker's handler: purchase and refund events.
public struct PurchaseHandler: EventHandler {
    public let maxMessageBytes: Int
    public let timeWindow: EventTimeWindow
    public let currencies: CurrencyPolicy
    public var stream: EventStream { .purchases }

    public init(maxMessageBytes: Int, timeWindow: EventTimeWindow = EventTimeWindow(), currencies: CurrencyPolicy = CurrencyPolicy()) {
        self.maxMessageBytes = maxMessageBytes
        self.timeWindow = timeWindow
        self.currencies = currencies
    }

    public func decode(_ message: KafkaMessage, now: Timestamp) throws(EventRejection) -> InputEvent {
        let event = try PurchaseEvent.decode(message.value, maximumBytes: maxMessageBytes)
        try timeWindow.check(event.occurredAt, now: now)
        try currencies.check(event)
        return .purchase(event)
    }
}

/// The contact worker's handler: interactions, prospects, complaints, consent and erasure.
public struct ContactHandler: EventHandler {
    public let maxMessageBytes: Int
    public let timeWindow: EventTimeWindow
    public var stream: EventStream { .contacts }

    public init(maxMessageBytes: Int, timeWindow: EventTimeWindow = EventTimeWindow()) {
        self.maxMessageBytes = maxMessageBytes
        self.timeWindow = timeWindow
    }

    public func decode(_ message: KafkaMessage, now: Timestamp) throws(EventRejection) -> InputEvent {
        let event = try ContactEvent.decode(message.value, maximumBytes: maxMessageBytes)
        try timeWindow.check(event.occurredAt, now: now)
        return .contact(event)
    }
}

/// The two input streams. Their events are applied to a client in one order, event time: by
/// `occurredAt`, and at the same instant contacts before purchases (so a withdrawal of consent
/// stated at the moment of a purchase already holds for it).
public enum EventStream: String, Sendable, CaseIterable, Comparable {
    case contacts
    case purchases

    /// Position among events at the same instant.
    public var rank: Int {
        switch self {
        case .contacts: 0
        case .purchases: 1
        }
    }

    /// The other stream.
    public var other: EventStream { self == .contacts ? .purchases : .contacts }

    public static func < (lhs: EventStream, rhs: EventStream) -> Bool { lhs.rank < rhs.rank }
}

/// An accepted event of either stream.
public enum InputEvent: Sendable, Equatable, ClientEvent {
    case purchase(PurchaseEvent)
    case contact(ContactEvent)

    public var stream: EventStream {
        switch self {
        case .purchase: .purchases
        case .contact: .contacts
        }
    }

    public var eventId: String {
        switch self {
        case .purchase(let event): event.eventId
        case .contact(let event): event.eventId
        }
    }

    public var clientId: String {
        switch self {
        case .purchase(let event): event.clientId
        case .contact(let event): event.clientId
        }
    }

    public var occurredAt: Timestamp {
        switch self {
        case .purchase(let event): event.occurredAt
        case .contact(let event): event.occurredAt
        }
    }

    /// True for an erasure request: applied as soon as it is read, whatever the other stream's
    /// progress (a person's data is never kept waiting for another stream).
    public var isErasure: Bool {
        if case .contact(let event) = self { return event.kind == .erasureRequest }
        return false
    }

    /// The event in the contract's JSON (without free text such as `note`), for keeping it until
    /// its turn comes; ``decode(_:stream:)`` reads it back.
    public var encoded: [UInt8] {
        switch self {
        case .purchase(let event): event.contractJSON
        case .contact(let event): event.contractJSON
        }
    }

    /// Reads back what ``encoded`` wrote.
    public static func decode(_ bytes: [UInt8], stream: EventStream) throws(EventRejection) -> InputEvent {
        switch stream {
        case .purchases: .purchase(try PurchaseEvent.decode(bytes, maximumBytes: Int.max))
        case .contacts: .contact(try ContactEvent.decode(bytes, maximumBytes: Int.max))
        }
    }
}

/// Where an event stands in event time: ordered by time, then stream (contacts first at the same
/// instant), then its position in its stream.
public struct EventTimeKey: Sendable, Hashable, Comparable {
    public var occurredAt: Timestamp
    public var stream: EventStream
    /// Order within the stream at the same instant (e.g. the offset).
    public var sequence: Int64

    public init(occurredAt: Timestamp, stream: EventStream, sequence: Int64) {
        self.occurredAt = occurredAt
        self.stream = stream
        self.sequence = sequence
    }

    public static func < (lhs: EventTimeKey, rhs: EventTimeKey) -> Bool {
        if lhs.occurredAt != rhs.occurredAt { return lhs.occurredAt < rhs.occurredAt }
        if lhs.stream != rhs.stream { return lhs.stream < rhs.stream }
        return lhs.sequence < rhs.sequence
    }

    /// Whether the event at this key may be applied: every event that comes before it in event
    /// time, of either stream, has been read. `completeBefore` gives each stream's completeness
    /// in the event's partition (every event of the stream before that time has been read; one at
    /// exactly that time may still come, and comes after the events of its own stream already
    /// read), or nil while the stream has reported nothing.
    ///
    /// If a key is due, so is every key before it: what is due is a prefix of event-time order.
    public func isDue(completeBefore: (EventStream) -> Timestamp?) -> Bool {
        for other in EventStream.allCases {
            guard let complete = completeBefore(other) else { return false }
            // A stream ranked before this one at the same instant has its events at this instant
            // come first: it must be complete past it. This event's own stream (and any ranked
            // after it) need only be complete up to it.
            let isComplete = other.rank < stream.rank ? occurredAt < complete : occurredAt <= complete
            guard isComplete else { return false }
        }
        return true
    }
}

extension PurchaseEvent {
    /// The event as contract JSON.
    public var contractJSON: [UInt8] {
        var json = JSONObjectWriter()
        json.add("eventId", eventId)
        json.add("clientId", clientId)
        json.add("occurredAt", occurredAt)
        if kind == .refund { json.add("type", kind.rawValue) }
        json.add("amount", amount)
        json.add("currency", currency.code)
        json.add("margin", margin)
        json.add("discount", discount)
        json.add("channel", channel)
        json.add("items", items)
        return json.bytes
    }
}

extension ContactEvent {
    /// The event as contract JSON (free text is not kept, so not written).
    public var contractJSON: [UInt8] {
        var json = JSONObjectWriter()
        json.add("eventId", eventId)
        json.add("clientId", clientId)
        json.add("occurredAt", occurredAt)
        json.add("kind", kind.rawValue)
        json.add("channel", channel)
        json.add("direction", direction?.rawValue)
        json.add("satisfaction", satisfaction)
        if let qualification {
            var nested = JSONObjectWriter(capacity: 64)
            nested.add("budget", qualification.budget)
            nested.add("authority", qualification.authority)
            nested.add("need", qualification.need)
            nested.add("timing", qualification.timing)
            json.add("qualification", object: nested)
        }
        return json.bytes
    }
}

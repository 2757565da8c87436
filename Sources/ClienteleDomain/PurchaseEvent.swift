/// A purchase or a refund, as read from the `purchases` topic.
public struct PurchaseEvent: Sendable, Equatable, ClientEvent {
    /// Whether money came in or went back.
    public enum Kind: String, Sendable {
        case purchase
        case refund
    }

    public var eventId: String
    public var clientId: String
    public var occurredAt: Timestamp
    public var kind: Kind
    /// Always ≥ 0; for a refund, the amount given back.
    public var amount: Money
    public var currency: Currency
    public var margin: Money?
    public var discount: Money?
    public var channel: String?
    public var items: Int?

    public init(
        eventId: String, clientId: String, occurredAt: Timestamp, kind: Kind = .purchase,
        amount: Money, currency: Currency, margin: Money? = nil, discount: Money? = nil,
        channel: String? = nil, items: Int? = nil
    ) {
        self.eventId = eventId
        self.clientId = clientId
        self.occurredAt = occurredAt
        self.kind = kind
        self.amount = amount
        self.currency = currency
        self.margin = margin
        self.discount = discount
        self.channel = channel
        self.items = items
    }

    /// Decodes and validates one message value from the `purchases` topic.
    ///
    /// Unknown fields are ignored (producers may add their own); every field the contract
    /// names is checked for presence, type and range.
    public static func decode(
        _ bytes: [UInt8]?, maximumBytes: Int = EventLimits.defaultMaximumMessageBytes
    ) throws(EventRejection) -> PurchaseEvent {
        let fields = try EventFields(message: bytes, maximumBytes: maximumBytes)
        let eventId = try fields.requiredIdentifier("eventId")
        let clientId = try fields.requiredIdentifier("clientId")
        let occurredAt = try fields.requiredTimestamp("occurredAt")
        let kind: Kind
        if let type = try fields.optionalString("type", maxLength: 32) {
            guard let known = Kind(rawValue: type) else {
                throw EventRejection(.unknownKind, "field 'type' must be 'purchase' or 'refund'")
            }
            kind = known
        } else {
            kind = .purchase
        }
        let amount = try fields.requiredMoney("amount")
        let code = try fields.requiredString("currency", maxLength: 3)
        guard let currency = Currency(code: code) else {
            throw EventRejection(.unknownCurrency, "field 'currency' must be an active ISO 4217 code")
        }
        return PurchaseEvent(
            eventId: eventId, clientId: clientId, occurredAt: occurredAt, kind: kind,
            amount: amount, currency: currency,
            margin: try fields.optionalMoney("margin", allowNegative: true),
            discount: try fields.optionalMoney("discount"),
            channel: try fields.optionalString("channel", maxLength: 64),
            items: try fields.optionalCount("items", maximum: 1_000_000)
        )
    }
}

/// What every input event has: the idempotency key, the client and the time it happened.
public protocol ClientEvent: Sendable {
    var eventId: String { get }
    var clientId: String { get }
    var occurredAt: Timestamp { get }
}

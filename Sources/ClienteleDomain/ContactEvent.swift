/// An interaction with a client or prospect, as read from the `contacts` topic.
///
/// Free-text fields (e.g. `note`) are personal data that no rule needs: they are neither kept
/// nor logged.
public struct ContactEvent: Sendable, Equatable, ClientEvent {
    /// What happened. Raw values are the contract's wire names.
    public enum Kind: String, Sendable, CaseIterable {
        case inquiry, call, email, visit, meeting
        case serviceUse = "service_use"
        case complaint, satisfaction
        case consentGranted = "consent_granted"
        case consentWithdrawn = "consent_withdrawn"
        case erasureRequest = "erasure_request"
    }

    /// Who started the interaction.
    public enum Direction: String, Sendable, CaseIterable {
        case inbound, outbound
    }

    public var eventId: String
    public var clientId: String
    public var occurredAt: Timestamp
    public var kind: Kind
    public var channel: String?
    public var direction: Direction?
    /// 1 (very unhappy) … 5 (very happy).
    public var satisfaction: Int?
    public var qualification: Qualification?

    public init(
        eventId: String, clientId: String, occurredAt: Timestamp, kind: Kind, channel: String? = nil,
        direction: Direction? = nil, satisfaction: Int? = nil, qualification: Qualification? = nil
    ) {
        self.eventId = eventId
        self.clientId = clientId
        self.occurredAt = occurredAt
        self.kind = kind
        self.channel = channel
        self.direction = direction
        self.satisfaction = satisfaction
        self.qualification = qualification
    }

    /// Decodes and validates one message value from the `contacts` topic.
    public static func decode(
        _ bytes: [UInt8]?, maximumBytes: Int = EventLimits.defaultMaximumMessageBytes
    ) throws(EventRejection) -> ContactEvent {
        let fields = try EventFields(message: bytes, maximumBytes: maximumBytes)
        let eventId = try fields.requiredIdentifier("eventId")
        let clientId = try fields.requiredIdentifier("clientId")
        let occurredAt = try fields.requiredTimestamp("occurredAt")
        let kindName = try fields.requiredString("kind", maxLength: 32)
        guard let kind = Kind(rawValue: kindName) else {
            throw EventRejection(.unknownKind, "field 'kind' must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var direction: Direction?
        if let name = try fields.optionalString("direction", maxLength: 16) {
            guard let known = Direction(rawValue: name) else {
                throw EventRejection(.invalidField, "field 'direction' must be 'inbound' or 'outbound'")
            }
            direction = known
        }
        let satisfaction = try fields.optionalCount("satisfaction", maximum: 5)
        if let satisfaction, satisfaction < 1 {
            throw EventRejection(.invalidField, "field 'satisfaction' must be a whole number from 1 to 5")
        }
        if kind == .satisfaction, satisfaction == nil {
            throw EventRejection(.missingField, "field 'satisfaction' is required for kind 'satisfaction'")
        }
        var qualification: Qualification?
        if let object = try fields.optionalObject("qualification") {
            let nested = EventFields(object: object, prefix: "qualification.")
            qualification = Qualification(
                budget: try nested.optionalBool("budget"), authority: try nested.optionalBool("authority"),
                need: try nested.optionalBool("need"), timing: try nested.optionalBool("timing"))
        }
        if let note = fields.value("note"), note != .null {
            guard case .string = note else {
                throw EventRejection(.wrongType, "field 'note' must be a string, not a \(note.typeName)")
            }
        }
        return ContactEvent(
            eventId: eventId, clientId: clientId, occurredAt: occurredAt, kind: kind,
            channel: try fields.optionalString("channel", maxLength: 64), direction: direction,
            satisfaction: satisfaction, qualification: qualification)
    }
}

/// BANT qualification: budget, authority, need, timing. Nil means "not said".
public struct Qualification: Sendable, Equatable {
    public var budget: Bool?
    public var authority: Bool?
    public var need: Bool?
    public var timing: Bool?

    public init(budget: Bool? = nil, authority: Bool? = nil, need: Bool? = nil, timing: Bool? = nil) {
        self.budget = budget
        self.authority = authority
        self.need = need
        self.timing = timing
    }

    /// How many of the four are known to be true.
    public var satisfiedCount: Int { [budget, authority, need, timing].filter { $0 == true }.count }
}

/// Typed, validating access to the fields of a JSON event object.
///
/// Every accessor throws an ``EventRejection`` that names the field and the rule broken.
struct EventFields {
    /// The object's members (few: an event's fields), looked up by name in order.
    private let members: [JSONMember]
    /// Prepended to field names in messages, for nested objects (e.g. `qualification.`).
    var prefix = ""

    init(object: [String: JSONValue], prefix: String) {
        self.members = object.map { JSONMember(name: $0.key, value: $0.value) }
        self.prefix = prefix
    }

    /// Parses and checks the raw bytes of a message: size, UTF-8, JSON, object.
    init(message bytes: [UInt8]?, maximumBytes: Int) throws(EventRejection) {
        guard let bytes, !bytes.isEmpty else { throw EventRejection(.emptyMessage, "the message has no value") }
        guard bytes.count <= maximumBytes else {
            throw EventRejection(.tooLarge, "message of \(bytes.count) bytes exceeds the limit of \(maximumBytes)")
        }
        // ASCII is valid UTF-8: only a message with other bytes is decoded to check.
        guard bytes.allSatisfy({ $0 < 0x80 }) || String(validating: bytes, as: UTF8.self) != nil else {
            throw EventRejection(.invalidUTF8, "the message is not valid UTF-8")
        }
        let document: JSONParser.Document
        do {
            document = try JSONParser.parseDocument(bytes, utf8Checked: true)
        } catch {
            throw EventRejection(.malformedJSON, error.description)
        }
        switch document {
        case .members(let members): self.members = members
        case .other(let value): throw EventRejection(.notAnObject, "the message is a JSON \(value.typeName), not an object")
        }
    }

    /// The field's value as written (null included); nil when absent. Names are unique: the
    /// parser refuses a name written twice.
    func value(_ name: String) -> JSONValue? {
        for member in members where member.name == name { return member.value }
        return nil
    }

    private func present(_ name: String) -> JSONValue? {
        guard let value = value(name), value != .null else { return nil }
        return value
    }

    func requiredString(_ name: String, maxLength: Int = 128) throws(EventRejection) -> String {
        guard let value = present(name) else { throw EventRejection(.missingField, "field '\(prefix)\(name)' is required") }
        return try string(name, value, maxLength: maxLength)
    }

    func optionalString(_ name: String, maxLength: Int = 128) throws(EventRejection) -> String? {
        guard let value = present(name) else { return nil }
        return try string(name, value, maxLength: maxLength)
    }

    private func string(_ name: String, _ value: JSONValue, maxLength: Int) throws(EventRejection) -> String {
        guard case .string(let text) = value else {
            throw EventRejection(.wrongType, "field '\(prefix)\(name)' must be a string, not a \(value.typeName)")
        }
        // Characters never outnumber UTF-8 bytes: counted only when the bytes exceed the limit.
        let bytes = text.utf8.count
        guard bytes >= 1, bytes <= maxLength || text.count <= maxLength else {
            throw EventRejection(.invalidField, "field '\(prefix)\(name)' must be 1 to \(maxLength) characters long")
        }
        return text
    }

    /// An identifier: 1–128 characters with no control characters.
    func requiredIdentifier(_ name: String) throws(EventRejection) -> String {
        let text = try requiredString(name)
        // Control characters are single bytes in UTF-8, and no other character has such a byte.
        guard !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw EventRejection(.invalidField, "field '\(prefix)\(name)' must not contain control characters")
        }
        return text
    }

    func requiredTimestamp(_ name: String) throws(EventRejection) -> Timestamp {
        let text = try requiredString(name, maxLength: 40)
        guard let timestamp = Timestamp(rfc3339: text) else {
            throw EventRejection(.invalidTimestamp, "field '\(prefix)\(name)' must be an RFC 3339 timestamp with offset")
        }
        guard timestamp >= EventLimits.earliestTimestamp, timestamp <= EventLimits.latestTimestamp else {
            throw EventRejection(.invalidTimestamp, "field '\(prefix)\(name)' must lie between 1970 and 2999")
        }
        return timestamp
    }

    func requiredMoney(_ name: String, allowNegative: Bool = false) throws(EventRejection) -> Money {
        guard let value = present(name) else { throw EventRejection(.missingField, "field '\(prefix)\(name)' is required") }
        return try money(name, value, allowNegative: allowNegative)
    }

    func optionalMoney(_ name: String, allowNegative: Bool = false) throws(EventRejection) -> Money? {
        guard let value = present(name) else { return nil }
        return try money(name, value, allowNegative: allowNegative)
    }

    private func money(_ name: String, _ value: JSONValue, allowNegative: Bool) throws(EventRejection) -> Money {
        guard case .number(let literal) = value else {
            throw EventRejection(.wrongType, "field '\(prefix)\(name)' must be a number, not a \(value.typeName)")
        }
        guard let money = Money(jsonNumber: literal), money.units.magnitude <= Money.maximumEventAmount.units.magnitude else {
            throw EventRejection(.invalidField, "field '\(prefix)\(name)' must be at most 1e12 in magnitude")
        }
        guard allowNegative || money.units >= 0 else {
            throw EventRejection(.negativeAmount, "field '\(prefix)\(name)' must be >= 0")
        }
        return money
    }

    func optionalCount(_ name: String, maximum: Int) throws(EventRejection) -> Int? {
        guard let value = present(name) else { return nil }
        guard case .number(let literal) = value else {
            throw EventRejection(.wrongType, "field '\(prefix)\(name)' must be a number, not a \(value.typeName)")
        }
        guard let count = Int(literal), count >= 0, count <= maximum else {
            throw EventRejection(.invalidField, "field '\(prefix)\(name)' must be a whole number from 0 to \(maximum)")
        }
        return count
    }

    func optionalBool(_ name: String) throws(EventRejection) -> Bool? {
        guard let value = present(name) else { return nil }
        guard case .bool(let flag) = value else {
            throw EventRejection(.wrongType, "field '\(prefix)\(name)' must be a boolean, not a \(value.typeName)")
        }
        return flag
    }

    func optionalObject(_ name: String) throws(EventRejection) -> [String: JSONValue]? {
        guard let value = present(name) else { return nil }
        guard case .object(let object) = value else {
            throw EventRejection(.wrongType, "field '\(prefix)\(name)' must be an object, not a \(value.typeName)")
        }
        return object
    }
}

/// Limits every input event is checked against.
public enum EventLimits {
    /// The default maximum size of one input message: 64 KiB.
    public static let defaultMaximumMessageBytes = 64 * 1024
    /// 1970-01-01T00:00:00Z.
    public static let earliestTimestamp = Timestamp(millisecondsSinceEpoch: 0)
    /// 2999-12-31T23:59:59Z.
    public static let latestTimestamp = Timestamp(millisecondsSinceEpoch: 32_503_679_999_000)
}

/// The moments an accepted event may have happened at: not before `earliest` (default
/// 1990-01-01), and not more than `maximumClockSkewSeconds` (default 24 h) ahead of the wall
/// clock. A time outside is not a fact: an event dated 2099 would keep its client from ever
/// lapsing and move the event clock. Replays of history are unaffected.
public struct EventTimeWindow: Sendable, Equatable {
    public var earliest: Timestamp
    public var maximumClockSkewSeconds: Int64

    public static let defaultEarliest = Timestamp(rfc3339: "1990-01-01T00:00:00Z")!

    public init(earliest: Timestamp = EventTimeWindow.defaultEarliest, maximumClockSkewSeconds: Int64 = 86_400) {
        self.earliest = earliest
        self.maximumClockSkewSeconds = maximumClockSkewSeconds
    }

    /// Accepts `occurredAt` read at wall time `now`, or says why not.
    public func check(_ occurredAt: Timestamp, now: Timestamp) throws(EventRejection) {
        guard occurredAt >= earliest else {
            throw EventRejection(.invalidTimestamp, "field 'occurredAt' lies before the earliest accepted time (\(earliest.rfc3339))")
        }
        guard occurredAt.millisecondsSinceEpoch <= now.millisecondsSinceEpoch + maximumClockSkewSeconds * 1000 else {
            throw EventRejection(.futureTimestamp,
                                 "field 'occurredAt' lies more than \(maximumClockSkewSeconds) s ahead of the wall clock")
        }
    }
}

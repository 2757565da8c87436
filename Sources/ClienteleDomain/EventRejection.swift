/// Why an input message was not accepted. Carried to the dead-letter topic as a header.
///
/// `detail` names fields and rules only, never values from the message, because messages hold
/// personal data and the detail is logged.
public struct EventRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, machine-readable reason code.
    public struct Reason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The message has no value (a null/tombstone message on an input topic).
        public static let emptyMessage = Reason(rawValue: "empty_message")
        /// Larger than the configured maximum message size.
        public static let tooLarge = Reason(rawValue: "too_large")
        /// The bytes are not valid UTF-8.
        public static let invalidUTF8 = Reason(rawValue: "invalid_utf8")
        /// Not parseable as JSON.
        public static let malformedJSON = Reason(rawValue: "malformed_json")
        /// Valid JSON, but not an object.
        public static let notAnObject = Reason(rawValue: "not_an_object")
        /// A required field is absent (or null).
        public static let missingField = Reason(rawValue: "missing_field")
        /// A field has the wrong JSON type.
        public static let wrongType = Reason(rawValue: "wrong_type")
        /// A field has the right type but a value outside its rules.
        public static let invalidField = Reason(rawValue: "invalid_field")
        /// `amount` (or another non-negative money field) is negative.
        public static let negativeAmount = Reason(rawValue: "negative_amount")
        /// `currency` is not an active ISO 4217 code.
        public static let unknownCurrency = Reason(rawValue: "unknown_currency")
        /// `occurredAt` is not an RFC 3339 timestamp with offset, or outside the accepted range.
        public static let invalidTimestamp = Reason(rawValue: "invalid_timestamp")
        /// `type` or `kind` names something the system does not know.
        public static let unknownKind = Reason(rawValue: "unknown_kind")
        /// A purchase in a currency with no exchange rate to the reporting currency on its day.
        public static let noExchangeRate = Reason(rawValue: "no_exchange_rate")
        /// A purchase in another currency than the client's, without a reporting currency.
        public static let currencyMismatch = Reason(rawValue: "currency_mismatch")
        /// The event id was accepted before on the same stream for an event with other content.
        public static let conflictingDuplicate = Reason(rawValue: "conflicting_duplicate")
        /// `occurredAt` lies further ahead of the wall clock than the allowed clock skew.
        public static let futureTimestamp = Reason(rawValue: "future_timestamp")
    }

    public var reason: Reason
    /// Which field and which rule, e.g. `field 'amount' must be >= 0`.
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}

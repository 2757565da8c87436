import ClienteleDomain
import Foundation

/// A small, fast, seedable random number generator (SplitMix64), so generated data is reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generates realistic purchase events as contract JSON lines (for the demo, the benchmark and tests).
///
/// Purchases are spread evenly over `span` from `start`; each picks a client at random, so with
/// 200,000 purchases for 20,000 clients a client buys about ten times. About 1% of orders are
/// large (1,000–5,000) and 2% are refunds.
public struct PurchaseGenerator: Sendable {
    public var clients: Int
    public var purchases: Int
    public var seed: UInt64
    public var start: Timestamp
    public var spanSeconds: Int64
    public var eventIdPrefix: String
    public var refundShare: Double

    public init(
        clients: Int, purchases: Int, seed: UInt64 = 42,
        start: Timestamp = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!, spanSeconds: Int64 = 180 * 86_400,
        eventIdPrefix: String = "p", refundShare: Double = 0.02
    ) {
        self.clients = clients
        self.purchases = purchases
        self.seed = seed
        self.start = start
        self.spanSeconds = spanSeconds
        self.eventIdPrefix = eventIdPrefix
        self.refundShare = refundShare
    }

    /// The client id of client number `index` (0-based), e.g. `C000042`.
    public static func clientId(_ index: Int) -> String {
        let digits = String(index + 1)
        return "C" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// One generated event: its key (the client id), its id and its JSON value.
    public struct Line: Sendable {
        public var clientId: String
        public var eventId: String
        public var json: String
        public var isRefund: Bool
    }

    /// All events, in time order.
    public func lines() -> [Line] {
        var random = SeededGenerator(seed: seed)
        var lines: [Line] = []
        lines.reserveCapacity(purchases)
        let channels = ["web", "store", "app", "phone"]
        for index in 0..<purchases {
            let clientId = Self.clientId(Int.random(in: 0..<clients, using: &random))
            let offset = purchases > 1 ? spanSeconds * Int64(index) / Int64(purchases) : 0
            let occurredAt = start.adding(seconds: offset + Int64.random(in: 0..<60, using: &random))
            let large = Double.random(in: 0..<1, using: &random) < 0.01
            let cents = large ? Int64.random(in: 100_000...500_000, using: &random) : Int64.random(in: 500...30_000, using: &random)
            let amount = Money(units: cents * 100)
            let isRefund = Double.random(in: 0..<1, using: &random) < refundShare
            let eventId = "\(eventIdPrefix)-\(seed)-\(index)"
            var json = JSONObjectWriter()
            json.add("eventId", eventId)
            json.add("clientId", clientId)
            json.add("occurredAt", occurredAt)
            if isRefund { json.add("type", "refund") }
            json.add("amount", amount)
            json.add("currency", "EUR")
            json.add("margin", Money(units: amount.units * 3 / 10))
            json.add("discount", Double.random(in: 0..<1, using: &random) < 0.2 ? Money(units: amount.units / 10) : Money.zero)
            json.add("channel", channels[Int.random(in: 0..<channels.count, using: &random)])
            json.add("items", Int.random(in: 1...5, using: &random))
            lines.append(Line(clientId: clientId, eventId: eventId, json: json.json, isRefund: isRefund))
        }
        return lines
    }

    /// Messages that every worker must dead-letter, one per rejection reason, with the reason expected.
    public static func malformedSamples() -> [(reason: String, clientId: String?, bytes: [UInt8])] {
        let ok = #""eventId":"bad-%@","clientId":"C999999","occurredAt":"2026-03-01T10:15:00Z""#
        func event(_ id: String, _ rest: String) -> [UInt8] {
            Array(("{" + ok.replacingPlaceholder(with: id) + rest + "}").utf8)
        }
        return [
            ("malformed_json", "C999999", Array(#"{"eventId":"bad-1","clientId":"C999999","#.utf8)),
            ("missing_field", "C999999", event("2", #","currency":"EUR""#)),
            ("wrong_type", "C999999", event("3", #","amount":"12.50","currency":"EUR""#)),
            ("negative_amount", "C999999", event("4", #","amount":-5,"currency":"EUR""#)),
            ("unknown_currency", "C999999", event("5", #","amount":5,"currency":"XYZ""#)),
            ("invalid_utf8", "C999999", Array(#"{"eventId":"bad-6","clientId":"C9"#.utf8) + [0xFF, 0xFE] + Array(#"","amount":1}"#.utf8)),
            ("too_large", "C999999", event("7", #","amount":5,"currency":"EUR","note":""# + String(repeating: "x", count: 70_000) + "\"")),
            ("invalid_timestamp", "C999999", Array(#"{"eventId":"bad-8","clientId":"C999999","occurredAt":"yesterday","amount":5,"currency":"EUR"}"#.utf8)),
            ("not_an_object", nil, Array("[1,2,3]".utf8)),
        ]
    }
}

extension String {
    fileprivate func replacingPlaceholder(with value: String) -> String {
        guard let range = range(of: "%@") else { return self }
        return replacingCharacters(in: range, with: value)
    }
}

/// A prospect's temperature.
public enum Temperature: String, Sendable, CaseIterable {
    case hot, cold
}

/// A value with the event time it was stated at. Merging keeps the latest statement, so the
/// result does not depend on the order events arrive in (ties keep the larger value).
public struct Fact<Value: Sendable & Equatable & Comparable>: Sendable, Equatable {
    public var value: Value
    public var at: Timestamp

    public init(_ value: Value, at: Timestamp) {
        self.value = value
        self.at = at
    }

    /// The later of two statements.
    public static func latest(_ current: Fact?, _ new: Fact) -> Fact {
        guard let current else { return new }
        if new.at != current.at { return new.at > current.at ? new : current }
        return new.value > current.value ? new : current
    }
}

extension Bool: @retroactive Comparable {
    public static func < (lhs: Bool, rhs: Bool) -> Bool { !lhs && rhs }
}

/// How often, and when last, the client was in touch by one kind of contact on one channel.
public struct ContactTally: Sendable, Equatable {
    public var count: Int
    public var lastAt: Timestamp

    public init(count: Int, lastAt: Timestamp) {
        self.count = count
        self.lastAt = lastAt
    }
}

/// Which kind of contact on which channel (empty channel when none was given).
public struct ContactTallyKey: Sendable, Hashable, Comparable {
    public var kind: String
    public var channel: String

    public init(kind: String, channel: String) {
        self.kind = kind
        self.channel = channel
    }

    public static func < (lhs: ContactTallyKey, rhs: ContactTallyKey) -> Bool {
        (lhs.kind, lhs.channel) < (rhs.kind, rhs.channel)
    }
}

/// What contacts taught us about a client or prospect: the 360° view's interaction side.
/// Every field merges commutatively (counts add, times take the maximum, facts keep the latest).
public struct ContactProfile: Sendable, Equatable {
    public var budget: Fact<Bool>?
    public var authority: Fact<Bool>?
    public var need: Fact<Bool>?
    public var timing: Fact<Bool>?
    public var lastInboundInquiryAt: Timestamp?
    public var lastServiceUseAt: Timestamp?
    public var lastContactAt: Timestamp?
    public var complaintCount: Int = 0
    public var lastComplaintAt: Timestamp?
    public var lastSatisfaction: Fact<Int>?
    /// `granted` true/false as last stated; nil when the client never said.
    public var consent: Fact<Bool>? { consentStatements.last }
    /// Every consent statement, oldest first (at most ``consentStatementsKept``; two at the same
    /// instant are kept as one, withdrawn): what a task created at some moment is checked against.
    public var consentStatements: [Fact<Bool>] = []
    public var history: [ContactTallyKey: ContactTally] = [:]

    /// Consent statements kept per client. Older ones are dropped; a moment before the oldest kept
    /// is judged by it.
    public static let consentStatementsKept = 64

    public init() {}

    /// BANT criteria currently known to be met.
    public var qualifiedCount: Int {
        [budget, authority, need, timing].filter { $0?.value == true }.count
    }

    /// False only when the client withdrew consent and has not granted it again.
    public var allowsMarketing: Bool { consent?.value ?? true }

    /// Whether consent stood at `time`: the latest statement at or before it decides (a tie counts
    /// as withdrawn); with none, marketing is allowed unless the oldest statement kept is a
    /// withdrawal and older ones were dropped.
    public func allowsMarketing(at time: Timestamp) -> Bool {
        guard let index = consentStatements.lastIndex(where: { $0.at <= time }) else {
            return consentStatements.count < Self.consentStatementsKept || (consentStatements.first?.value ?? true)
        }
        return consentStatements[index].value
    }

    /// Records a consent statement, wherever it falls in time (the latest wins; two at the same
    /// instant count as withdrawn).
    public mutating func recordConsent(_ granted: Bool, at time: Timestamp) {
        if let same = consentStatements.firstIndex(where: { $0.at == time }) {
            consentStatements[same].value = consentStatements[same].value && granted
            return
        }
        let position = consentStatements.firstIndex { $0.at > time } ?? consentStatements.endIndex
        consentStatements.insert(Fact(granted, at: time), at: position)
        if consentStatements.count > Self.consentStatementsKept { consentStatements.removeFirst() }
    }

    mutating func record(_ qualification: Qualification, at time: Timestamp) {
        if let value = qualification.budget { budget = .latest(budget, Fact(value, at: time)) }
        if let value = qualification.authority { authority = .latest(authority, Fact(value, at: time)) }
        if let value = qualification.need { need = .latest(need, Fact(value, at: time)) }
        if let value = qualification.timing { timing = .latest(timing, Fact(value, at: time)) }
    }

    mutating func tally(kind: String, channel: String?, at time: Timestamp) {
        let key = ContactTallyKey(kind: kind, channel: channel ?? "")
        var entry = history[key] ?? ContactTally(count: 0, lastAt: time)
        entry.count += 1
        entry.lastAt = max(entry.lastAt, time)
        history[key] = entry
        lastContactAt = max(lastContactAt ?? time, time)
    }
}

// MARK: - Storage encoding

extension ContactProfile {
    /// The qualification facts as compact JSON (nil when none is known), for storage.
    public var qualificationJSON: String? {
        let facts = [("budget", budget), ("authority", authority), ("need", need), ("timing", timing)]
        let known = facts.compactMap { name, fact in fact.map { "[\"\(name)\",\($0.value),\($0.at.millisecondsSinceEpoch)]" } }
        return known.isEmpty ? nil : "[" + known.joined(separator: ",") + "]"
    }

    /// The consent statements as compact JSON (nil when none), for storage: `[[1,ms],[0,ms]]`.
    public var consentJSON: String? {
        guard !consentStatements.isEmpty else { return nil }
        return "[" + consentStatements.map { "[\($0.value ? 1 : 0),\($0.at.millisecondsSinceEpoch)]" }.joined(separator: ",") + "]"
    }

    /// Restores what ``consentJSON`` wrote.
    public mutating func restore(consentJSON: String) throws(ConfigurationProblem) {
        consentStatements = []
        for row in try Self.rows(consentJSON) {
            guard row.count == 2, case .number(let flag) = row[0], case .number(let ms) = row[1],
                  let millis = Int64(ms), flag == "0" || flag == "1" else { throw ConfigurationProblem("bad consent row") }
            consentStatements.append(Fact(flag == "1", at: Timestamp(millisecondsSinceEpoch: millis)))
        }
        consentStatements.sort { $0.at < $1.at }
    }

    /// The contact history as compact JSON (nil when empty), for storage; sorted, so stable.
    public var historyJSON: String? {
        guard !history.isEmpty else { return nil }
        var parts: [String] = []
        for key in history.keys.sorted() {
            var row: [UInt8] = [UInt8(ascii: "[")]
            JSONObjectWriter.appendQuoted(key.kind, to: &row)
            row.append(UInt8(ascii: ","))
            JSONObjectWriter.appendQuoted(key.channel, to: &row)
            let tally = history[key]!
            parts.append(String(decoding: row, as: UTF8.self) + ",\(tally.count),\(tally.lastAt.millisecondsSinceEpoch)]")
        }
        return "[" + parts.joined(separator: ",") + "]"
    }

    /// Restores what ``qualificationJSON`` and ``historyJSON`` wrote.
    public mutating func restore(qualificationJSON: String?, historyJSON: String?) throws(ConfigurationProblem) {
        for row in try Self.rows(qualificationJSON) {
            guard row.count == 3, case .string(let name) = row[0], case .bool(let value) = row[1],
                  case .number(let ms) = row[2], let millis = Int64(ms) else { throw ConfigurationProblem("bad qualification row") }
            let fact = Fact(value, at: Timestamp(millisecondsSinceEpoch: millis))
            switch name {
            case "budget": budget = fact
            case "authority": authority = fact
            case "need": need = fact
            case "timing": timing = fact
            default: throw ConfigurationProblem("unknown qualification '\(name)'")
            }
        }
        for row in try Self.rows(historyJSON) {
            guard row.count == 4, case .string(let kind) = row[0], case .string(let channel) = row[1],
                  case .number(let count) = row[2], case .number(let ms) = row[3],
                  let number = Int(count), let millis = Int64(ms) else { throw ConfigurationProblem("bad contact history row") }
            history[ContactTallyKey(kind: kind, channel: channel)] = ContactTally(
                count: number, lastAt: Timestamp(millisecondsSinceEpoch: millis))
        }
    }

    private static func rows(_ text: String?) throws(ConfigurationProblem) -> [[JSONValue]] {
        guard let text else { return [] }
        guard case .array(let rows)? = try? JSONParser.parse(Array(text.utf8)) else {
            throw ConfigurationProblem("stored contact data is not a JSON array")
        }
        return try rows.map { row throws(ConfigurationProblem) in
            guard case .array(let fields) = row else { throw ConfigurationProblem("stored contact row is not an array") }
            return fields
        }
    }
}

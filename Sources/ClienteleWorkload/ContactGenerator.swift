import ClienteleDomain
import Foundation

/// Generates contact events as contract JSON lines: calls, e-mails, visits, meetings, service
/// use, inquiries with BANT qualification, complaints, satisfaction scores and consent changes,
/// for existing clients (`C…` ids, shared with ``PurchaseGenerator``) and for prospects (`P…`).
public struct ContactGenerator: Sendable {
    public var clients: Int
    public var prospects: Int
    public var contacts: Int
    public var seed: UInt64
    public var start: Timestamp
    public var spanSeconds: Int64
    /// Share of events that withdraw (or, less often, grant) consent.
    public var consentShare: Double

    public init(
        clients: Int, prospects: Int, contacts: Int, seed: UInt64 = 43,
        start: Timestamp = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!, spanSeconds: Int64 = 180 * 86_400,
        consentShare: Double = 0.02
    ) {
        self.clients = clients
        self.prospects = prospects
        self.contacts = contacts
        self.seed = seed
        self.start = start
        self.spanSeconds = spanSeconds
        self.consentShare = consentShare
    }

    /// The id of prospect number `index` (0-based), e.g. `P000042`.
    public static func prospectId(_ index: Int) -> String {
        let digits = String(index + 1)
        return "P" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// All events, in time order.
    public func lines() -> [PurchaseGenerator.Line] {
        var random = SeededGenerator(seed: seed)
        let kinds: [(ContactEvent.Kind, Double)] = [
            (.call, 0.2), (.email, 0.2), (.visit, 0.08), (.meeting, 0.07), (.serviceUse, 0.15),
            (.inquiry, 0.12), (.complaint, 0.06), (.satisfaction, 0.12),
        ]
        let channels = ["phone", "email", "web", "store", "app"]
        var lines: [PurchaseGenerator.Line] = []
        lines.reserveCapacity(contacts)
        for index in 0..<contacts {
            let population = clients + prospects
            let pick = Int.random(in: 0..<max(1, population), using: &random)
            let clientId = pick < clients ? PurchaseGenerator.clientId(pick) : Self.prospectId(pick - clients)
            let offset = contacts > 1 ? spanSeconds * Int64(index) / Int64(contacts) : 0
            let occurredAt = start.adding(seconds: offset + Int64.random(in: 0..<60, using: &random))
            var kind = ContactEvent.Kind.call
            if Double.random(in: 0..<1, using: &random) < consentShare {
                kind = Double.random(in: 0..<1, using: &random) < 0.8 ? .consentWithdrawn : .consentGranted
            } else {
                var roll = Double.random(in: 0..<1, using: &random)
                for (candidate, weight) in kinds {
                    roll -= weight
                    if roll < 0 { kind = candidate; break }
                }
            }
            let eventId = "c-\(seed)-\(index)"
            var json = JSONObjectWriter()
            json.add("eventId", eventId)
            json.add("clientId", clientId)
            json.add("occurredAt", occurredAt)
            json.add("kind", kind.rawValue)
            json.add("channel", channels[Int.random(in: 0..<channels.count, using: &random)])
            json.add("direction", kind == .inquiry || kind == .complaint || Bool.random(using: &random) ? "inbound" : "outbound")
            if kind == .satisfaction || (kind == .complaint && Bool.random(using: &random)) {
                json.add("satisfaction", kind == .complaint ? Int.random(in: 1...2, using: &random) : Int.random(in: 1...5, using: &random))
            }
            var text = json.json
            if kind == .inquiry || kind == .meeting {
                let flags = (0..<4).map { _ in Double.random(in: 0..<1, using: &random) < 0.6 ? "true" : "false" }
                text.removeLast()
                text += #","qualification":{"budget":\#(flags[0]),"authority":\#(flags[1]),"need":\#(flags[2]),"timing":\#(flags[3])}}"#
            }
            lines.append(PurchaseGenerator.Line(clientId: clientId, eventId: eventId, json: text, isRefund: false))
        }
        return lines
    }

    /// Contact messages that the contact worker must dead-letter, with the reason expected.
    public static func malformedSamples() -> [(reason: String, clientId: String?, bytes: [UInt8])] {
        let head = #"{"eventId":"badc-%@","clientId":"P999999","occurredAt":"2026-03-01T10:15:00Z""#
        func event(_ id: String, _ rest: String) -> [UInt8] {
            Array((head.replacingOccurrences(of: "%@", with: id) + rest + "}").utf8)
        }
        return [
            ("unknown_kind", "P999999", event("1", #","kind":"telepathy""#)),
            ("missing_field", "P999999", event("2", "")),
            ("invalid_field", "P999999", event("3", #","kind":"satisfaction","satisfaction":9"#)),
            ("wrong_type", "P999999", event("4", #","kind":"meeting","qualification":{"budget":"yes"}"#)),
            ("invalid_timestamp", "P999999", Array(#"{"eventId":"badc-5","clientId":"P999999","occurredAt":"2026-13-01T10:15:00Z","kind":"call"}"#.utf8)),
            ("malformed_json", "P999999", Array(#"{"eventId":"badc-6","kind":"call""#.utf8)),
        ]
    }
}

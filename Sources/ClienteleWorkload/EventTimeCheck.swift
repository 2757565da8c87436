import ClienteleDomain

/// Checks published tasks against the input they came from, independently of the workers: a
/// prospect follow-up must not reach someone who had bought by then, and no marketing task may
/// have been caused at a moment when the client's consent stood withdrawn.
public struct EventTimeCheck: Sendable {
    /// Prospect follow-ups created at or after the client's first purchase.
    public var followUpsAfterPurchase = 0
    /// Marketing tasks created while the client's latest consent statement was a withdrawal.
    public var marketingAfterWithdrawal = 0

    /// - Parameters:
    ///   - purchases, contacts: the input, as generated.
    ///   - tasks: published `follow-up-tasks` values (JSON).
    public init(purchases: [PurchaseGenerator.Line], contacts: [PurchaseGenerator.Line], tasks: [[UInt8]]) {
        var firstPurchase: [String: Timestamp] = [:]
        for line in purchases {
            guard let event = try? PurchaseEvent.decode(Array(line.json.utf8)), event.kind == .purchase else { continue }
            firstPurchase[event.clientId] = min(firstPurchase[event.clientId] ?? event.occurredAt, event.occurredAt)
        }
        var consent: [String: ContactProfile] = [:]
        for line in contacts {
            guard let event = try? ContactEvent.decode(Array(line.json.utf8)),
                  event.kind == .consentGranted || event.kind == .consentWithdrawn else { continue }
            consent[event.clientId, default: ContactProfile()].recordConsent(event.kind == .consentGranted, at: event.occurredAt)
        }
        for value in tasks {
            guard case .object(let task)? = try? JSONParser.parse(value),
                  case .string(let clientId)? = task["clientId"], case .string(let kindName)? = task["kind"],
                  case .string(let created)? = task["createdAt"], let createdAt = Timestamp(rfc3339: created),
                  let kind = FollowUpTask.Kind(rawValue: kindName) else { continue }
            if kind == .prospectFollowUp, let first = firstPurchase[clientId], first <= createdAt { followUpsAfterPurchase += 1 }
            if kind.isMarketing, let profile = consent[clientId], !profile.allowsMarketing(at: createdAt) { marketingAfterWithdrawal += 1 }
        }
    }
}

import ClienteleDomain
import Testing

@Suite("Event content: the bytes behind an idempotency record's fingerprint")
struct EventContentTests {
    static let at = Timestamp(rfc3339: "2026-03-01T10:00:00Z")!

    /// Purchases differing from one another in every field, one at a time, including a field
    /// absent or present and a character moved from one string to the next.
    static var purchases: [PurchaseEvent] {
        let base = PurchaseEvent(eventId: "e1", clientId: "ab", occurredAt: at, amount: Money(jsonNumber: "10")!,
                                 currency: Currency(code: "EUR")!, channel: "c")
        var variants = [base]
        func vary(_ change: (inout PurchaseEvent) -> Void) { var event = base; change(&event); variants.append(event) }
        vary { $0.eventId = "e2" }
        vary { $0.clientId = "a"; $0.channel = "bc" }
        vary { $0.occurredAt = at.adding(seconds: 1) }
        vary { $0.kind = .refund }
        vary { $0.amount = Money(jsonNumber: "10.0001")! }
        vary { $0.currency = Currency(code: "USD")! }
        vary { $0.margin = Money(jsonNumber: "2")! }
        vary { $0.margin = .zero }
        vary { $0.discount = Money(jsonNumber: "2")! }
        vary { $0.channel = nil }
        vary { $0.channel = "" }
        vary { $0.items = 3 }
        vary { $0.items = 0 }
        return variants
    }

    static var contacts: [ContactEvent] {
        let base = ContactEvent(eventId: "e1", clientId: "ab", occurredAt: at, kind: .call, channel: "c")
        var variants = [base]
        func vary(_ change: (inout ContactEvent) -> Void) { var event = base; change(&event); variants.append(event) }
        vary { $0.eventId = "e2" }
        vary { $0.clientId = "a"; $0.channel = "bc" }
        vary { $0.occurredAt = at.adding(seconds: -1) }
        vary { $0.kind = .complaint }
        vary { $0.channel = nil }
        vary { $0.direction = .inbound }
        vary { $0.direction = .outbound }
        vary { $0.satisfaction = 2 }
        vary { $0.qualification = Qualification() }
        vary { $0.qualification = Qualification(budget: true) }
        vary { $0.qualification = Qualification(budget: false) }
        vary { $0.qualification = Qualification(authority: true) }
        vary { $0.qualification = Qualification(need: true) }
        vary { $0.qualification = Qualification(need: false) }
        vary { $0.qualification = Qualification(timing: true) }
        return variants
    }

    @Test("two events have the same content exactly when their contract JSON is the same")
    func sameContentExactlyWhenSameContract() {
        let events = Self.purchases.map(InputEvent.purchase) + Self.contacts.map(InputEvent.contact)
        func content(_ event: InputEvent) -> [UInt8] {
            var content = EventContent()
            content.write(event)
            return content.bytes
        }
        for first in events {
            for second in events {
                #expect((content(first) == content(second)) == (first.encoded == second.encoded),
                        "\(String(decoding: first.encoded, as: UTF8.self)) vs \(String(decoding: second.encoded, as: UTF8.self))")
            }
        }
        // A redelivery read back from its contract JSON has the same content (every variant but
        // the empty channel, which the contract refuses).
        var readBack = 0
        for event in events {
            let stream: EventStream = if case .purchase = event { .purchases } else { .contacts }
            guard let decoded = try? InputEvent.decode(event.encoded, stream: stream) else { continue }
            #expect(content(decoded) == content(event))
            readBack += 1
        }
        #expect(readBack == events.count - 1)
    }

    @Test("one content holder reused for many events gives each its own bytes")
    func reuse() {
        var content = EventContent()
        let events = Self.purchases.map(InputEvent.purchase)
        let once = events.map { event -> [UInt8] in var fresh = EventContent(); fresh.write(event); return fresh.bytes }
        let reused = events.map { event -> [UInt8] in content.write(event); return content.bytes }
        #expect(once == reused)
    }
}

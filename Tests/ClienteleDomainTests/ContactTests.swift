import ClienteleDomain
import Testing

@Suite("Contact events and rules")
struct ContactTests {
    let rules = ContactRules()
    let base = Timestamp(rfc3339: "2026-03-01T09:00:00Z")!

    func contact(_ id: String, _ kind: ContactEvent.Kind, day: Int = 0, client: String = "P1",
                 direction: ContactEvent.Direction? = nil, satisfaction: Int? = nil,
                 qualification: Qualification? = nil, channel: String? = "phone") -> ContactEvent {
        ContactEvent(eventId: id, clientId: client, occurredAt: base.adding(seconds: Int64(day) * 86_400), kind: kind,
                     channel: channel, direction: direction, satisfaction: satisfaction, qualification: qualification)
    }

    func tasks(_ effects: [ClientEffect]) -> [FollowUpTask] {
        effects.compactMap { if case .task(let task) = $0 { task } else { nil } }
    }

    func suppressed(_ effects: [ClientEffect]) -> [FollowUpTask.Kind] {
        effects.compactMap { if case .taskSuppressed(let task, _) = $0 { task.kind } else { nil } }
    }

    func changes(_ effects: [ClientEffect]) -> [StatusChange] {
        effects.compactMap { if case .statusChanged(let change) = $0 { change } else { nil } }
    }

    @Test("the contract's example decodes")
    func decodesExample() throws {
        let event = try ContactEvent.decode(Array(#"{"eventId":"c-77","clientId":"C000042","occurredAt":"2026-03-02T09:00:00Z","kind":"complaint","channel":"phone","direction":"inbound","satisfaction":2,"qualification":{"budget":true,"authority":true,"need":true,"timing":false},"note":"called twice about the delivery"}"#.utf8))
        #expect(event.kind == .complaint)
        #expect(event.direction == .inbound)
        #expect(event.satisfaction == 2)
        #expect(event.qualification == Qualification(budget: true, authority: true, need: true, timing: false))
    }

    @Test("bad contact events are rejected with the right reason", arguments: [
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"telepathy"}"#, "unknown_kind"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z"}"#, "missing_field"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"satisfaction"}"#, "missing_field"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"satisfaction","satisfaction":6}"#, "invalid_field"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"satisfaction","satisfaction":0}"#, "invalid_field"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"satisfaction","satisfaction":"5"}"#, "wrong_type"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"call","direction":"sideways"}"#, "invalid_field"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"call","qualification":{"budget":"yes"}}"#, "wrong_type"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"call","qualification":[true]}"#, "wrong_type"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-02-30T09:00:00Z","kind":"call"}"#, "invalid_timestamp"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00","kind":"call"}"#, "invalid_timestamp"),
        (#"{"eventId":"e","clientId":"P","occurredAt":"2026-03-02T09:00:00Z","kind":"call","note":42}"#, "wrong_type"),
    ])
    func rejections(message: String, reason: String) {
        #expect {
            _ = try ContactEvent.decode(Array(message.utf8))
        } throws: { error in
            (error as? EventRejection)?.reason.rawValue == reason
        }
    }

    @Test("someone known only from contacts is a cold prospect; three BANT criteria make them hot")
    func prospectTemperature() {
        var client = ClientState(clientId: "P1")
        let first = rules.apply(contact("c1", .call, qualification: Qualification(budget: true, need: true)), to: &client)
        #expect(changes(first).map(\.status) == [.prospect])
        #expect(changes(first).first?.temperature == .cold)
        #expect(tasks(first).isEmpty)
        let hot = rules.apply(contact("c2", .meeting, day: 1, qualification: Qualification(authority: true)), to: &client)
        #expect(changes(hot).map(\.temperature) == [.hot])
        #expect(tasks(hot).map(\.kind) == [.prospectFollowUp])
        #expect(client.temperature == .hot)
        // The same qualification again changes nothing.
        #expect(rules.apply(contact("c3", .email, day: 2), to: &client).isEmpty)
        // Budget turns out to be missing: back to cold.
        let cold = rules.apply(contact("c4", .call, day: 3, qualification: Qualification(budget: false)), to: &client)
        #expect(changes(cold).map(\.temperature) == [.cold])
    }

    @Test("a recent inbound inquiry makes a prospect hot; it cools once newer events are past the window")
    func inquiryWindow() {
        var client = ClientState(clientId: "P1")
        let inquiry = rules.apply(contact("c1", .inquiry, direction: .inbound), to: &client)
        #expect(client.temperature == .hot)
        #expect(tasks(inquiry).map(\.kind) == [.prospectFollowUp])
        #expect(rules.apply(contact("c2", .email, day: 10, direction: .outbound), to: &client).isEmpty)
        let later = rules.apply(contact("c3", .email, day: 15, direction: .outbound), to: &client)
        #expect(changes(later).map(\.temperature) == [.cold])
        var outbound = ClientState(clientId: "P2")
        _ = rules.apply(contact("o1", .inquiry, client: "P2", direction: .outbound), to: &outbound)
        #expect(outbound.temperature == .cold)
    }

    @Test("a prospect's first purchase makes them new and clears the temperature")
    func prospectBuys() {
        var client = ClientState(clientId: "P1")
        _ = rules.apply(contact("c1", .inquiry), to: &client)
        let purchase = PurchaseEvent(eventId: "p1", clientId: "P1", occurredAt: base.adding(seconds: 3600),
                                     amount: Money(jsonNumber: "10")!, currency: Currency(code: "EUR")!)
        let effects = PurchaseRules().apply(purchase, to: &client)
        #expect(changes(effects).map(\.status) == [.new])
        #expect(changes(effects).first?.previousStatus == .prospect)
        #expect(client.temperature == nil)
        // Contacts no longer touch the status of a client.
        #expect(changes(rules.apply(contact("c2", .inquiry, day: 1), to: &client)).isEmpty)
    }

    @Test("complaints: due after the SLA; urgent for regular, high-value or repeated complaints")
    func complaints() {
        var prospect = ClientState(clientId: "P1")
        let first = tasks(rules.apply(contact("k1", .complaint), to: &prospect))
        #expect(first.map(\.kind) == [.complaintFollowUp])
        #expect(first.first?.priority == .high)
        #expect(first.first?.dueAt == base.adding(seconds: 24 * 3600))
        let repeated = tasks(rules.apply(contact("k2", .complaint, day: 20), to: &prospect))
        #expect(repeated.first?.priority == .urgent)
        #expect(repeated.first?.reason == "repeated_complaint")
        #expect(prospect.contacts.complaintCount == 2)

        var regular = ClientState(clientId: "R1")
        regular.status = .regular
        #expect(tasks(rules.apply(contact("k3", .complaint, client: "R1"), to: &regular)).first?.priority == .urgent)
        var rich = ClientState(clientId: "V1")
        rich.status = .active
        rich.totalAmount = Money(jsonNumber: "7500")!
        #expect(tasks(rules.apply(contact("k4", .complaint, client: "V1"), to: &rich)).first?.reason == "high_value_client")
    }

    @Test("a low satisfaction score creates satisfaction recovery; a good one does not")
    func satisfaction() {
        var client = ClientState(clientId: "C1")
        client.status = .active
        client.purchaseCount = 2
        #expect(tasks(rules.apply(contact("s1", .satisfaction, satisfaction: 2), to: &client)).map(\.kind) == [.satisfactionRecovery])
        #expect(tasks(rules.apply(contact("s2", .satisfaction, day: 1, satisfaction: 4), to: &client)).isEmpty)
        #expect(client.contacts.lastSatisfaction?.value == 4)
    }

    @Test("withdrawn consent suppresses marketing tasks, not service tasks, until granted again")
    func consent() {
        var client = ClientState(clientId: "P1")
        _ = rules.apply(contact("w1", .consentWithdrawn), to: &client)
        let hot = rules.apply(contact("q1", .meeting, day: 1, qualification: Qualification(budget: true, authority: true, need: true)), to: &client)
        #expect(tasks(hot).isEmpty)
        #expect(suppressed(hot) == [.prospectFollowUp])
        #expect(tasks(rules.apply(contact("k1", .complaint, day: 2), to: &client)).map(\.kind) == [.complaintFollowUp])
        let purchase = PurchaseEvent(eventId: "p1", clientId: "P1", occurredAt: base.adding(seconds: 3 * 86_400),
                                     amount: Money(jsonNumber: "2000")!, currency: Currency(code: "EUR")!)
        let bought = PurchaseRules().apply(purchase, to: &client)
        #expect(tasks(bought).isEmpty)
        #expect(Set(suppressed(bought)) == [.welcomeNewClient, .thankYouLargeOrder])
        _ = rules.apply(contact("g1", .consentGranted, day: 4), to: &client)
        #expect(client.contacts.allowsMarketing)
        // An older withdrawal arriving late does not override the newer grant.
        _ = rules.apply(contact("w0", .consentWithdrawn, day: -5), to: &client)
        #expect(client.contacts.allowsMarketing)
    }

    @Test("service use is activity: it brings a lapsed client back")
    func serviceUse() {
        var client = ClientState(clientId: "C1")
        client.status = .passive
        client.purchaseCount = 5
        client.statusChangedAt = base
        let effects = rules.apply(contact("u1", .serviceUse, day: 3), to: &client)
        #expect(changes(effects).map(\.status) == [.regular])
        #expect(client.lastActivityAt == base.adding(seconds: 3 * 86_400))
        #expect(client.contacts.history[ContactTallyKey(kind: "service_use", channel: "phone")]?.count == 1)
    }

    @Test("an erasure request forgets the client")
    func erasure() {
        var client = ClientState(clientId: "C1")
        _ = rules.apply(contact("c1", .call, client: "C1"), to: &client)
        let effects = rules.apply(contact("x1", .erasureRequest, day: 1, client: "C1"), to: &client)
        #expect(effects == [.erased(clientId: "C1", at: base.adding(seconds: 86_400), causedBy: "x1")])
        #expect(client == ClientState(clientId: "C1"))
    }

    @Test("contact facts merge the same in any order")
    func commutative() {
        let events = [
            contact("a", .call, day: 0, qualification: Qualification(budget: true)),
            contact("b", .email, day: 3, qualification: Qualification(budget: false, need: true)),
            contact("c", .consentWithdrawn, day: 1), contact("d", .consentGranted, day: 2),
            contact("e", .satisfaction, day: 4, satisfaction: 3), contact("f", .inquiry, day: 5, direction: .inbound),
            contact("g", .complaint, day: 6), contact("h", .serviceUse, day: 7, channel: nil),
        ]
        var reference = ClientState(clientId: "P1")
        for event in events { _ = rules.apply(event, to: &reference) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<30 {
            var client = ClientState(clientId: "P1")
            for event in events.shuffled(using: &generator) { _ = rules.apply(event, to: &client) }
            #expect(client.contacts == reference.contacts)
            #expect(client.temperature == reference.temperature)
            #expect(client.status == reference.status)
        }
    }

    @Test("the stored encoding of contact facts round-trips")
    func storageRoundTrip() throws {
        var client = ClientState(clientId: "P1")
        _ = rules.apply(contact("a", .call, qualification: Qualification(budget: true, timing: false), channel: "we\"b/1"), to: &client)
        _ = rules.apply(contact("b", .email, day: 1, channel: nil), to: &client)
        var restored = ContactProfile()
        try restored.restore(qualificationJSON: client.contacts.qualificationJSON, historyJSON: client.contacts.historyJSON)
        #expect(restored.budget == client.contacts.budget)
        #expect(restored.timing == client.contacts.timing)
        #expect(restored.history == client.contacts.history)
    }

    @Test("SHA-256 matches the standard test vectors")
    func sha256() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}

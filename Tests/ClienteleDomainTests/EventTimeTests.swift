import ClienteleDomain
import ClienteleWorkload
import Testing

@Suite("Event time: order across the streams, catch-up reviews, consent as it stood")
struct EventTimeTests {
    static let start = Timestamp(rfc3339: "2026-01-01T10:00:00Z")!
    static func day(_ n: Double) -> Timestamp { start.adding(seconds: Int64(n * 86_400)) }

    func purchase(_ id: String, _ client: String, day: Double, amount: String = "50") -> PurchaseEvent {
        PurchaseEvent(eventId: id, clientId: client, occurredAt: Self.day(day), amount: Money(jsonNumber: amount)!,
                      currency: Currency(code: "EUR")!, margin: Money(jsonNumber: "12.5"), discount: Money(jsonNumber: "0.25"),
                      channel: "web", items: 3)
    }

    func contact(_ id: String, _ client: String, _ kind: ContactEvent.Kind, day: Double, satisfaction: Int? = nil) -> ContactEvent {
        ContactEvent(eventId: id, clientId: client, occurredAt: Self.day(day), kind: kind, channel: "phone",
                     direction: .inbound, satisfaction: satisfaction,
                     qualification: kind == .inquiry ? Qualification(budget: true, authority: false, need: nil, timing: true) : nil)
    }

    /// At risk after 20 quiet days, passive after 60 (one- and two-time buyers).
    let rules = ClientRules(churn: ChurnPolicy(rules: RecencyRules(sector: SectorLimits(name: "quick", atRiskAfterDays: 20, passiveAfterDays: 60)), models: nil))

    func apply(_ events: [InputEvent], to client: inout ClientState) -> [ClientEffect] {
        var lastTasks: [FollowUpTask.Kind: Timestamp] = [:]
        return events.flatMap { rules.apply($0, to: &client, lastTaskAt: &lastTasks) { _ in false } }
    }

    func taskKinds(_ effects: [ClientEffect]) -> [FollowUpTask.Kind] {
        effects.compactMap { if case .task(let task) = $0 { task.kind } else { nil } }
    }

    @Test("events are ordered by time, contacts before purchases at the same instant, then by their place in their stream")
    func order() {
        let t = Self.day(1)
        let keys = [
            EventTimeKey(occurredAt: t, stream: .purchases, sequence: 1),
            EventTimeKey(occurredAt: t, stream: .contacts, sequence: 9),
            EventTimeKey(occurredAt: Self.day(0), stream: .purchases, sequence: 5),
            EventTimeKey(occurredAt: t, stream: .purchases, sequence: 0),
        ]
        #expect(keys.sorted().map(\.sequence) == [5, 9, 0, 1])
    }

    @Test("an event is due once every event before it, of either stream, has been read")
    func readiness() {
        let t = Self.day(1)
        func ready(_ stream: EventStream, purchases: Timestamp?, contacts: Timestamp?) -> Bool {
            EventTimeKey(occurredAt: t, stream: stream, sequence: 0).isDue { $0 == .purchases ? purchases : contacts }
        }
        let later = t.adding(seconds: 1)
        // A contact at t needs both streams complete before t (more purchases at t come after it).
        #expect(ready(.contacts, purchases: t, contacts: t))
        #expect(!ready(.contacts, purchases: Self.day(0.5), contacts: later))
        // A purchase at t also needs every contact at t: the contact stream must be past t.
        #expect(!ready(.purchases, purchases: later, contacts: t))
        #expect(ready(.purchases, purchases: t, contacts: later))
        // A stream that never reported holds everything.
        #expect(!ready(.purchases, purchases: later, contacts: nil))
    }

    @Test("a waiting event's stored form reads back as the same event, without free text")
    func encoding() throws {
        let bought = InputEvent.purchase(purchase("p1", "C1", day: 3, amount: "129.9"))
        #expect(try InputEvent.decode(bought.encoded, stream: .purchases) == bought)
        var refund = purchase("p2", "C1", day: 4)
        refund.kind = .refund
        refund.margin = nil
        #expect(try InputEvent.decode(InputEvent.purchase(refund).encoded, stream: .purchases) == .purchase(refund))
        let asked = InputEvent.contact(contact("c1", "C\"1", .inquiry, day: 2, satisfaction: 4))
        #expect(try InputEvent.decode(asked.encoded, stream: .contacts) == asked)
        let noted = try ContactEvent.decode(Array(#"{"eventId":"c2","clientId":"C1","occurredAt":"2026-03-02T09:00:00Z","kind":"call","note":"private words"}"#.utf8))
        #expect(!String(decoding: InputEvent.contact(noted).encoded, as: UTF8.self).contains("private"))
    }

    @Test("a purchase long after the last one: the lapse in between is recorded at its moment, then the purchase brings the client back")
    func catchUpReview() {
        var client = ClientState(clientId: "C1")
        let effects = apply([.purchase(purchase("p1", "C1", day: 0)), .purchase(purchase("p2", "C1", day: 100))], to: &client)
        let changes = effects.compactMap { if case .statusChanged(let change) = $0 { change } else { nil } }
        #expect(changes.map(\.status) == [.new, .atRisk, .passive, .active])
        #expect(changes.map(\.changedAt) == [Self.day(0), Self.day(20), Self.day(60), Self.day(100)])
        #expect(taskKinds(effects) == [.welcomeNewClient, .retentionOffer, .reactivationCampaign, .welcomeBack])
        #expect(client.status == .active && client.nextReviewAt == Self.day(120))
    }

    @Test("a complaint after a lapse is judged for the client as they stand then")
    func complaintAfterLapse() {
        var regular = ClientState(clientId: "C1")
        var events: [InputEvent] = (0..<4).map { .purchase(purchase("p\($0)", "C1", day: Double($0))) }
        _ = apply(events, to: &regular)
        #expect(regular.status == .regular)
        events = [.contact(contact("k1", "C1", .complaint, day: 3.5))]
        var soon = regular
        let urgent = apply(events, to: &soon).compactMap { if case .task(let task) = $0 { task.priority } else { nil } }
        #expect(urgent == [.urgent])  // a regular client
        // Months later the same complaint finds a passive client: high, not urgent.
        events = [.contact(contact("k1", "C1", .complaint, day: 200))]
        let late = apply(events, to: &regular)
        let priorities: [FollowUpTask.Priority] = late.compactMap { if case .task(let task) = $0 { task.priority } else { nil } }
        #expect(priorities.last == .high)
        #expect(regular.status == .passive)
    }

    @Test("a churn task is checked against the consent that stood when the threshold was crossed")
    func consentAsItStood() {
        var client = ClientState(clientId: "C1")
        // Bought on day 0, at risk on day 20; consent withdrawn on day 30, the next event on day 40.
        let effects = apply([
            .purchase(purchase("p1", "C1", day: 0)), .contact(contact("w", "C1", .consentWithdrawn, day: 30)),
            .contact(contact("c", "C1", .call, day: 40)),
        ], to: &client)
        #expect(taskKinds(effects) == [.welcomeNewClient, .retentionOffer])
        // And the other way round: withdrawn before the crossing, granted again after it.
        var other = ClientState(clientId: "C2")
        let held = apply([
            .purchase(purchase("q1", "C2", day: 0)), .contact(contact("w2", "C2", .consentWithdrawn, day: 10)),
            .contact(contact("g2", "C2", .consentGranted, day: 30)), .contact(contact("c2", "C2", .call, day: 40)),
        ], to: &other)
        #expect(taskKinds(held) == [.welcomeNewClient])
        #expect(held.compactMap { if case .taskSuppressed(let task, let why) = $0 { "\(task.kind.rawValue):\(why)" } else { nil } }
            == ["retention_offer:consent_withdrawn"])
    }

    @Test("consent statements: the latest at or before a moment decides; a tie counts as withdrawn")
    func consentStatements() {
        var profile = ContactProfile()
        #expect(profile.allowsMarketing(at: Self.day(0)))
        profile.recordConsent(false, at: Self.day(10))
        profile.recordConsent(true, at: Self.day(20))
        profile.recordConsent(true, at: Self.day(5))  // arrives late
        #expect(profile.allowsMarketing(at: Self.day(7)))
        #expect(!profile.allowsMarketing(at: Self.day(10)))
        #expect(profile.allowsMarketing(at: Self.day(25)))
        profile.recordConsent(false, at: Self.day(20))
        #expect(!profile.allowsMarketing(at: Self.day(25)))
        #expect(profile.consent == Fact(false, at: Self.day(20)))
        var restored = ContactProfile()
        try? restored.restore(consentJSON: profile.consentJSON!)
        #expect(restored.consentStatements == profile.consentStatements)
    }

    @Test("the reference replay publishes no prospect follow-up to anyone who had bought and no marketing task past a withdrawal")
    func referenceProperties() {
        let purchases = PurchaseGenerator(clients: 60, purchases: 600, seed: 3, spanSeconds: 120 * 86_400).lines()
            .map { try! PurchaseEvent.decode(Array($0.json.utf8)) }
        let contacts = ContactGenerator(clients: 60, prospects: 20, contacts: 400, seed: 4, spanSeconds: 120 * 86_400, consentShare: 0.1).lines()
            .map { try! ContactEvent.decode(Array($0.json.utf8)) }
        let reference = ReferenceReplay(purchases: purchases, contacts: contacts, rules: rules, judgedThrough: Self.day(200))
        #expect(reference.tasks.values.contains { $0.kind == .prospectFollowUp })
        #expect(reference.tasks.values.contains { $0.kind == .retentionOffer })
        #expect(!reference.suppressed.isEmpty)
        let firstPurchase = Dictionary(purchases.filter { $0.kind == .purchase }.map { ($0.clientId, $0.occurredAt) }, uniquingKeysWith: min)
        for task in reference.tasks.values where task.kind == .prospectFollowUp {
            #expect(firstPurchase[task.clientId].map { $0 > task.createdAt } ?? true, "\(task.clientId)")
        }
        // Consent from the raw input: the latest statement at or before the task's cause.
        let statements = Dictionary(grouping: contacts.filter { $0.kind == .consentGranted || $0.kind == .consentWithdrawn }, by: \.clientId)
        for task in reference.tasks.values where task.kind.isMarketing {
            let stated = (statements[task.clientId] ?? []).filter { $0.occurredAt <= task.createdAt }.max { $0.occurredAt < $1.occurredAt }
            #expect(stated?.kind != .consentWithdrawn, "\(task.clientId) \(task.kind)")
        }
    }
}

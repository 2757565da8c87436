import ClienteleDomain
import Testing

@Suite("Purchase lifecycle rules")
struct PurchaseRulesTests {
    let rules = PurchaseRules()

    func purchase(_ id: String, day: Int, amount: String = "50", kind: PurchaseEvent.Kind = .purchase, client: String = "C1") -> PurchaseEvent {
        PurchaseEvent(
            eventId: id, clientId: client,
            occurredAt: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!.adding(seconds: Int64(day) * 86_400),
            kind: kind, amount: Money(jsonNumber: amount)!, currency: Currency(code: "EUR")!,
            margin: Money(jsonNumber: "10")!)
    }

    func statuses(_ effects: [ClientEffect]) -> [ClientStatus] {
        effects.compactMap { if case .statusChanged(let change) = $0 { change.status } else { nil } }
    }

    func tasks(_ effects: [ClientEffect]) -> [FollowUpTask.Kind] {
        effects.compactMap { if case .task(let task) = $0 { task.kind } else { nil } }
    }

    @Test("first purchase → new with a welcome task; second → active; fourth → regular")
    func progression() {
        var client = ClientState(clientId: "C1")
        let first = rules.apply(purchase("p1", day: 0), to: &client)
        #expect(statuses(first) == [.new])
        #expect(tasks(first) == [.welcomeNewClient])
        #expect(statuses(rules.apply(purchase("p2", day: 10), to: &client)) == [.active])
        #expect(statuses(rules.apply(purchase("p3", day: 20), to: &client)).isEmpty)
        let fourth = rules.apply(purchase("p4", day: 30), to: &client)
        #expect(statuses(fourth) == [.regular])
        #expect(tasks(fourth).isEmpty)
        #expect(client.status == .regular)
        #expect(client.purchaseCount == 4)
        #expect(client.totalAmount == Money(jsonNumber: "200"))
        #expect(client.totalMargin == Money(jsonNumber: "40"))
    }

    @Test("the regular threshold is configurable")
    func configurableThreshold() {
        var rules = PurchaseRules()
        rules.regularAfter = 2
        var client = ClientState(clientId: "C1")
        _ = rules.apply(purchase("p1", day: 0), to: &client)
        #expect(statuses(rules.apply(purchase("p2", day: 1), to: &client)) == [.regular])
    }

    @Test("a large order creates a thank-you task, by threshold or against the client's own average")
    func largeOrders() {
        var client = ClientState(clientId: "C1")
        #expect(tasks(rules.apply(purchase("p1", day: 0, amount: "1500"), to: &client)).contains(.thankYouLargeOrder))
        var small = ClientState(clientId: "C2")
        for day in 0..<3 { _ = rules.apply(purchase("s\(day)", day: day, amount: "20", client: "C2"), to: &small) }
        #expect(tasks(rules.apply(purchase("s3", day: 3, amount: "59", client: "C2"), to: &small)).isEmpty)
        #expect(tasks(rules.apply(purchase("s4", day: 4, amount: "90", client: "C2"), to: &small)) == [.thankYouLargeOrder])
        // Not enough history yet: a 3× order on the second purchase is not "large".
        var young = ClientState(clientId: "C3")
        _ = rules.apply(purchase("y0", day: 0, amount: "10", client: "C3"), to: &young)
        #expect(tasks(rules.apply(purchase("y1", day: 1, amount: "100", client: "C3"), to: &young)).isEmpty)
    }

    @Test("a purchase after lapsing reactivates with welcome_back; an older late event does not")
    func reactivation() {
        var client = ClientState(clientId: "C1")
        for day in 0..<5 { _ = rules.apply(purchase("p\(day)", day: day * 10), to: &client) }
        client.status = .atRisk
        client.statusChangedAt = Timestamp(rfc3339: "2026-04-01T00:00:00Z")
        let late = rules.apply(purchase("late", day: 45), to: &client)  // happened before the lapse
        #expect(statuses(late).isEmpty)
        #expect(client.status == .atRisk)
        let back = rules.apply(purchase("back", day: 120), to: &client)
        #expect(statuses(back) == [.regular])
        #expect(tasks(back) == [.welcomeBack])
        guard let change = back.compactMap({ if case .statusChanged(let change) = $0 { change } else { nil } }).first else {
            Issue.record("no status change"); return
        }
        #expect(change.previousStatus == .atRisk)
        #expect(change.reason == "reactivated_by_purchase")
    }

    @Test("a refund adds to refund totals and changes no status")
    func refunds() {
        var client = ClientState(clientId: "C1")
        _ = rules.apply(purchase("p1", day: 0), to: &client)
        let effects = rules.apply(purchase("r1", day: 1, amount: "20", kind: .refund), to: &client)
        #expect(effects.isEmpty)
        #expect(client.purchaseCount == 1)
        #expect(client.refundCount == 1)
        #expect(client.refundTotal == Money(jsonNumber: "20"))
        var unknown = ClientState(clientId: "C9")
        #expect(rules.apply(purchase("r2", day: 1, kind: .refund, client: "C9"), to: &unknown).isEmpty)
        #expect(unknown.status == nil)
    }

    @Test("aggregates and status are the same whatever order the events arrive in")
    func commutative() {
        let events = (0..<7).map { purchase("p\($0)", day: $0 * 13 % 50, amount: ["9.99", "120", "35.5", "0.01", "80", "42", "7"][$0]) }
            + [purchase("r", day: 3, amount: "5", kind: .refund)]
        var reference = ClientState(clientId: "C1")
        for event in events { _ = rules.apply(event, to: &reference) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var client = ClientState(clientId: "C1")
            for event in events.shuffled(using: &generator) { _ = rules.apply(event, to: &client) }
            #expect(client.purchaseCount == reference.purchaseCount)
            #expect(client.totalAmount == reference.totalAmount)
            #expect(client.firstPurchaseAt == reference.firstPurchaseAt)
            #expect(client.lastPurchaseAt == reference.lastPurchaseAt)
            #expect(client.refundTotal == reference.refundTotal)
            #expect(client.status == reference.status)
        }
        // A late older event never moves the last purchase backwards.
        #expect(reference.lastPurchaseAt == Timestamp(rfc3339: "2026-01-01T00:00:00Z")!.adding(seconds: 39 * 86_400))
    }

    @Test("outputs carry stable ids and the contract's fields")
    func outputs() throws {
        var client = ClientState(clientId: "C1")
        let effects = rules.apply(purchase("p1", day: 0), to: &client)
        var again = ClientState(clientId: "C1")
        #expect(rules.apply(purchase("p1", day: 0), to: &again) == effects)
        #expect(effects.first == .purchaseDay(clientId: "C1", day: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!.day, amount: Money(jsonNumber: "50")!))
        guard case .statusChanged(let change) = effects[1], case .task(let task) = effects[2] else {
            Issue.record("unexpected effects"); return
        }
        let statusJSON = try JSONParser.parse(change.payload)
        guard case .object(let status) = statusJSON else { Issue.record("status payload"); return }
        #expect(status["clientId"] == .string("C1"))
        #expect(status["status"] == .string("new"))
        #expect(status["causedBy"] == .string("p1"))
        #expect(status["purchaseCount"] == .number("1"))
        #expect(status["previousStatus"] == nil)
        guard case .object(let taskObject) = try JSONParser.parse(task.payload) else { Issue.record("task payload"); return }
        #expect(taskObject["kind"] == .string("welcome_new_client"))
        #expect(taskObject["taskId"] == .string(task.taskId))
        #expect(taskObject["priority"] == .string("normal"))
    }

    @Test("rules that make no sense are refused with a message")
    func validation() {
        var rules = PurchaseRules()
        rules.regularAfter = 1
        #expect(throws: ConfigurationProblem.self) { try rules.validate() }
        rules = PurchaseRules()
        rules.largeOrderFactor = 0.5
        #expect(throws: ConfigurationProblem.self) { try rules.validate() }
    }
}

import ClienteleDomain
import Testing

@Suite("Input that cannot be true or cannot be added: times, currencies, stale tasks")
struct TrustworthyInputTests {
    static let now = Timestamp(rfc3339: "2026-12-01T12:00:00Z")!
    static func day(_ text: String) -> Timestamp { Timestamp(rfc3339: text + "T10:00:00Z")! }

    func purchase(_ id: String, _ client: String, at: Timestamp, amount: String, currency: String, margin: String? = nil) -> PurchaseEvent {
        PurchaseEvent(eventId: id, clientId: client, occurredAt: at, amount: Money(jsonNumber: amount)!, currency: Currency(code: currency)!,
                      margin: margin.flatMap { Money(jsonNumber: $0) })
    }

    @Test("an event more than the allowed skew ahead of the wall clock, or before the floor, is refused with its reason")
    func timeWindow() {
        let window = EventTimeWindow()
        #expect(throws: Never.self) { try window.check(Self.now.adding(seconds: 3600), now: Self.now) }
        #expect(throws: Never.self) { try window.check(Timestamp(rfc3339: "1997-01-01T00:00:00Z")!, now: Self.now) }
        do {
            try window.check(Timestamp(rfc3339: "2099-01-01T00:00:00Z")!, now: Self.now)
            Issue.record("2099 accepted")
        } catch {
            #expect(error.reason == .futureTimestamp)
        }
        do {
            try window.check(Timestamp(rfc3339: "1985-05-01T00:00:00Z")!, now: Self.now)
            Issue.record("1985 accepted")
        } catch {
            #expect(error.reason == .invalidTimestamp)
        }
    }

    @Test("exchange rates: exact decimals, the rate in force on the purchase's day, rounding to a ten-thousandth")
    func rates() throws {
        #expect(ExchangeRate(decimal: "0.92")?.description == "0.92")
        #expect(ExchangeRate(decimal: "1.08351234")?.units == 108_351_234)
        for bad in ["0", "-1", "1.123456789", "abc", "", "1.", ".5"] { #expect(ExchangeRate(decimal: bad) == nil, "\(bad)") }
        let rate = try #require(ExchangeRate(decimal: "0.92"))
        #expect(rate.convert(Money(jsonNumber: "100")!) == Money(jsonNumber: "92"))
        #expect(rate.convert(Money(jsonNumber: "0.0001")!) == Money(jsonNumber: "0.0001"))  // 0.000092 rounds up
        #expect(ExchangeRate(decimal: "3")!.convert(Money(units: .max)) == Money(units: .max))
        var rates = ExchangeRates()
        let usd = Currency(code: "USD")!
        try rates.add(usd, from: Self.day("2026-01-01").day, rate: ExchangeRate(decimal: "0.92")!)
        try rates.add(usd, from: Self.day("2026-06-01").day, rate: ExchangeRate(decimal: "0.9")!)
        #expect(rates.rate(for: usd, at: Self.day("2025-12-31")) == nil)
        #expect(rates.rate(for: usd, at: Self.day("2026-05-31"))?.description == "0.92")
        #expect(rates.rate(for: usd, at: Self.day("2026-06-01"))?.description == "0.9")
        #expect(throws: ConfigurationProblem.self) { try rates.add(usd, from: Self.day("2026-06-01").day, rate: ExchangeRate(decimal: "1")!) }
    }

    @Test("with a reporting currency a purchase is converted at its day's rate and what was sent is kept; without one, another currency than the client's is refused")
    func currencies() throws {
        var rates = ExchangeRates()
        try rates.add(Currency(code: "USD")!, from: Self.day("2026-01-01").day, rate: ExchangeRate(decimal: "0.9")!)
        let reporting = PurchaseRules(currencies: CurrencyPolicy(reportingCurrency: Currency(code: "EUR")!, rates: rates))
        var client = ClientState(clientId: "C1")
        _ = reporting.apply(purchase("p1", "C1", at: Self.day("2026-02-01"), amount: "100", currency: "EUR"), to: &client)
        let effects = reporting.apply(purchase("p2", "C1", at: Self.day("2026-02-02"), amount: "100", currency: "USD", margin: "20"), to: &client)
        #expect(client.totalAmount == Money(jsonNumber: "190") && client.totalMargin == Money(jsonNumber: "18") && client.currency == "EUR")
        let kept = effects.compactMap { if case .convertedPurchase(let record) = $0 { record } else { nil } }
        #expect(kept.map(\.originalAmount) == [Money(jsonNumber: "100")!] && kept.map(\.originalCurrency) == ["USD"])
        #expect(kept.first?.amount == Money(jsonNumber: "90"))
        // A currency without a rate on its day is refused when read.
        #expect(throws: EventRejection.self) {
            try reporting.currencies.check(purchase("p3", "C1", at: Self.day("2026-02-03"), amount: "5", currency: "GBP"))
        }

        let own = PurchaseRules()
        var mine = ClientState(clientId: "C2")
        _ = own.apply(purchase("q1", "C2", at: Self.day("2026-02-01"), amount: "100", currency: "EUR"), to: &mine)
        let refused = own.apply(purchase("q2", "C2", at: Self.day("2026-02-02"), amount: "100", currency: "USD"), to: &mine)
        #expect(refused.count == 1)
        if case .rejected(let id, let rejection)? = refused.first {
            #expect(id == "q2" && rejection.reason == .currencyMismatch)
        } else {
            Issue.record("not rejected: \(refused)")
        }
        #expect(mine.totalAmount == Money(jsonNumber: "100") && mine.purchaseCount == 1 && mine.lastEventAt == Self.day("2026-02-01"))
    }

    @Test("a task whose cause is older than the cutoff is held back as stale; status changes are still published")
    func staleTasks() {
        let rules = ClientRules(staleBefore: Self.day("2026-11-24"))
        var client = ClientState(clientId: "C1")
        var last: [FollowUpTask.Kind: Timestamp] = [:]
        let old = rules.apply(.purchase(purchase("p1", "C1", at: Self.day("2025-01-01"), amount: "2000", currency: "EUR")),
                              to: &client, lastTaskAt: &last) { _ in false }
        #expect(old.contains { if case .statusChanged = $0 { true } else { false } })
        #expect(!old.contains { if case .task = $0 { true } else { false } })
        let held = old.compactMap { if case .taskSuppressed(let task, let why) = $0 { "\(task.kind.rawValue):\(why)" } else { nil } }
        #expect(held.sorted() == ["thank_you_large_order:stale", "welcome_new_client:stale"])
        let recent = rules.apply(.purchase(purchase("p2", "C1", at: Self.day("2026-11-30"), amount: "5000", currency: "EUR")),
                                 to: &client, lastTaskAt: &last) { _ in false }
        #expect(recent.contains { if case .task(let task) = $0 { task.kind == .thankYouLargeOrder } else { false } })
    }
}

import ClienteleDomain
import Testing

@Suite("Churn policy: thresholds in time, reviews, hysteresis, cooldown, consent")
struct ChurnPolicyTests {
    static let start = Timestamp(rfc3339: "2026-01-01T10:00:00Z")!
    let fashion = SectorLimits(name: "fashion", atRiskAfterDays: 120, passiveAfterDays: 365)
    /// CDNOW's published BG/NBD parameters, used as an MBG/NBD model here.
    let models = ChurnModels(
        purchases: BGNBDModel(parameters: .init(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426), variant: .mbgnbd),
        spend: GammaGammaModel(parameters: .init(p: 6.25, q: 3.74, v: 15.44)),
        version: 3, asOf: Timestamp(rfc3339: "1997-09-30T23:59:59Z")!)

    static func at(day: Double) -> Timestamp {
        start.adding(seconds: Int64(day * 86_400))
    }

    /// A client built the way the workers build one: purchase rules, then the purchase days the store records.
    func client(purchasedOn days: [Int], amount: String = "50", id: String = "C1") -> ClientState {
        var state = ClientState(clientId: id)
        for (index, day) in days.enumerated() {
            let event = PurchaseEvent(eventId: "\(id)-p\(index)", clientId: id, occurredAt: Self.at(day: Double(day)),
                                      amount: Money(jsonNumber: amount)!, currency: Currency(code: "EUR")!)
            for case .purchaseDay(_, let day, let amount) in PurchaseRules().apply(event, to: &state) {
                state.purchaseDays.add(day: day, amount: amount, isNewDay: !state.purchaseDays.recentDays.contains(day))
            }
        }
        return state
    }

    func statuses(_ effects: [ClientEffect]) -> [ClientStatus] {
        effects.compactMap { if case .statusChanged(let change) = $0 { change.status } else { nil } }
    }

    func tasks(_ effects: [ClientEffect]) -> [FollowUpTask] {
        effects.compactMap { if case .task(let task) = $0 { task } else { nil } }
    }

    func risks(_ effects: [ClientEffect]) -> [ChurnRisk] {
        effects.compactMap { if case .churnRisk(let risk) = $0 { risk } else { nil } }
    }

    @Test("without a model a one-time buyer lapses at the sector's limits, with an event and a task each time")
    func rulesOneTimeBuyer() {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: nil)
        var state = client(purchasedOn: [0])
        #expect(policy.nextReview(for: state) == Self.at(day: 120))
        var effects = policy.review(&state, now: Self.at(day: 119), lastTaskAt: [:])
        #expect(effects.isEmpty)
        #expect(state.nextReviewAt == Self.at(day: 120))

        effects = policy.review(&state, now: Self.at(day: 121), lastTaskAt: [:])
        #expect(statuses(effects) == [.atRisk])
        #expect(state.statusChangedAt == Self.at(day: 120))
        let risk = try! #require(risks(effects).first)
        #expect(risk.level == .atRisk && risk.probabilityAlive == nil && risk.model == "rules:sector_fashion")
        // Judged as of the crossing (day 120), whenever the review ran.
        #expect(abs(risk.risk - 120.0 / 365) < 1e-9)
        #expect(risk.crossedAt == Self.at(day: 120) && risk.detectedAt == Self.at(day: 121))
        #expect(tasks(effects).map(\.kind) == [.retentionOffer])  // 50 EUR a year is below the call threshold
        #expect(state.nextReviewAt == Self.at(day: 365))

        effects = policy.review(&state, now: Self.at(day: 400), lastTaskAt: [.retentionOffer: Self.at(day: 121)])
        #expect(statuses(effects) == [.passive])
        #expect(tasks(effects).map(\.kind) == [.reactivationCampaign])
        #expect(state.nextReviewAt == nil)
        #expect(policy.review(&state, now: Self.at(day: 900), lastTaskAt: [:]).isEmpty)
    }

    @Test("a review long overdue passes every threshold in order, each with the event and task it had when crossed")
    func overdueReview() {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: nil)
        var state = client(purchasedOn: [0], amount: "900")
        var onTime = state
        let effects = policy.review(&state, now: Self.at(day: 500), lastTaskAt: [:])
        #expect(statuses(effects) == [.atRisk, .passive])
        let changes = effects.compactMap { if case .statusChanged(let change) = $0 { change } else { nil } }
        #expect(changes.map(\.changedAt) == [Self.at(day: 120), Self.at(day: 365)])
        #expect(risks(effects).map(\.level) == [.atRisk, .passive])
        #expect(risks(effects).map(\.crossedAt) == [Self.at(day: 120), Self.at(day: 365)])
        #expect(tasks(effects).map(\.kind) == [.retentionCall, .reactivationCampaign])
        #expect(tasks(effects).map(\.createdAt) == [Self.at(day: 120), Self.at(day: 365)])
        // Reviews on time publish the same: what a review emits does not depend on when it runs.
        var onTimeEffects = policy.review(&onTime, now: Self.at(day: 121), lastTaskAt: [:])
        onTimeEffects += policy.review(&onTime, now: Self.at(day: 366), lastTaskAt: [.retentionCall: Self.at(day: 120)])
        #expect(tasks(onTimeEffects).map(\.taskId) == tasks(effects).map(\.taskId))
        #expect(tasks(onTimeEffects).map(\.dueAt) == tasks(effects).map(\.dueAt))
        #expect(risks(onTimeEffects).map(\.eventId) == risks(effects).map(\.eventId))
        #expect(risks(onTimeEffects).map(\.risk) == risks(effects).map(\.risk))
        #expect(changes.map(\.eventId) == onTimeEffects.compactMap { if case .statusChanged(let change) = $0 { change.eventId } else { nil } })
        #expect(onTime == state)
    }

    @Test("with history the client's own median gap sets the limits")
    func ownRhythm() {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: nil)
        // Every 40 days: at risk 80 days after the last purchase, passive after 160.
        var state = client(purchasedOn: [0, 40, 80, 120])
        #expect(state.purchaseDays.recentDays.count == 4)
        #expect(policy.nextReview(for: state) == Self.at(day: 200))
        _ = policy.review(&state, now: Self.at(day: 200), lastTaskAt: [:])
        #expect(state.status == .atRisk)
        #expect(state.nextReviewAt == Self.at(day: 280))
    }

    @Test("with a model the review falls due exactly when P(alive) crosses the threshold")
    func modelCrossing() throws {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: models)
        for days in [[0], [0, 14, 30], [0, 7, 14, 21, 28, 35]] {
            let state = client(purchasedOn: days)
            let due = try #require(policy.nextReview(for: state))
            let p = try #require(policy.assess(state, at: due)?.probabilityAlive)
            #expect(abs(p - 0.5) < 1e-6, "history \(days): P(alive) at the review is \(p)")
            #expect(policy.assess(state, at: due.adding(seconds: -3600))?.level == nil)
            #expect(policy.assess(state, at: due)?.level == .atRisk)
            // Frequent buyers are due sooner after their last purchase than occasional ones.
        }
        let frequent = try #require(policy.nextReview(for: client(purchasedOn: [0, 7, 14, 21, 28, 35])))
        let occasional = try #require(policy.nextReview(for: client(purchasedOn: [0, 60, 120])))
        #expect(frequent.millisecondsSinceEpoch - Self.at(day: 35).millisecondsSinceEpoch
            < occasional.millisecondsSinceEpoch - Self.at(day: 120).millisecondsSinceEpoch)
    }

    @Test("a valuable client at risk gets a call; the event carries P(alive), CLV and the model")
    func retentionCall() throws {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: models,
                                 settings: ChurnSettings(retentionCallValue: 20))
        var state = client(purchasedOn: [0, 7, 14, 21, 28, 35], amount: "80")
        let due = try #require(policy.nextReview(for: state))
        let effects = policy.review(&state, now: due.adding(seconds: 60), lastTaskAt: [:])
        let risk = try #require(risks(effects).first)
        #expect(risk.model == "mbgnbd:1997-09-30")
        #expect(abs(risk.risk + risk.probabilityAlive! - 1) < 1e-12)
        #expect(risk.probabilityAlive! < 0.5 && risk.probabilityAlive! > 0.49)
        #expect(risk.valueAtRisk > 20)
        #expect(tasks(effects).map(\.kind) == [.retentionCall])
        #expect(tasks(effects).first?.priority == .high)
        let change = effects.compactMap { if case .statusChanged(let change) = $0 { change } else { nil } }.first
        #expect(change?.probabilityAlive != nil && change?.clv == risk.valueAtRisk)
        #expect(String(decoding: risk.payload, as: UTF8.self).contains(#""level":"at_risk""#))
    }

    @Test("hysteresis: a refit that lifts P(alive) just above the threshold does not bring a client back")
    func hysteresis() throws {
        var policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: models)
        var state = client(purchasedOn: [0, 20, 40])
        let due = try #require(policy.nextReview(for: state))
        _ = policy.review(&state, now: due, lastTaskAt: [:])
        #expect(state.status == .atRisk)
        let now = due.adding(seconds: 3600)
        // A looser threshold puts P(alive) above 0.45 but below 0.45 + 0.1: stays at risk.
        policy.settings.atRiskBelow = 0.45
        let p = try #require(policy.assess(state, at: now)?.probabilityAlive)
        #expect(p > 0.45 && p < 0.55)
        #expect(policy.review(&state, now: now, lastTaskAt: [:]).isEmpty)
        #expect(state.status == .atRisk)
        // A much looser one brings them back, once.
        policy.settings.atRiskBelow = 0.3
        policy.settings.passiveBelow = 0.1
        #expect(policy.nextReview(for: state) == state.statusChangedAt)
        let effects = policy.review(&state, now: now, lastTaskAt: [:])
        #expect(statuses(effects) == [.active])
        #expect(effects.compactMap { if case .statusChanged(let change) = $0 { change.reason } else { nil } } == ["churn_risk_receded"])
        #expect(policy.review(&state, now: now, lastTaskAt: [:]).isEmpty)
    }

    @Test("cooldown: no second task of a kind within 30 days; ids are the same for the same lapse")
    func cooldownAndIds() {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: nil)
        var first = client(purchasedOn: [0])
        var twin = first
        let a = policy.review(&first, now: Self.at(day: 130), lastTaskAt: [:])
        let b = policy.review(&twin, now: Self.at(day: 131), lastTaskAt: [:])
        #expect(tasks(a).map(\.taskId) == tasks(b).map(\.taskId))
        #expect(risks(a).map(\.eventId) == risks(b).map(\.eventId))
        var cooling = client(purchasedOn: [0])
        let held = policy.review(&cooling, now: Self.at(day: 130), lastTaskAt: [.retentionOffer: Self.at(day: 110)])
        #expect(statuses(held) == [.atRisk])
        #expect(tasks(held).isEmpty)
        // The cooldown counts back from the crossing (day 120), not from the review.
        var cooled = client(purchasedOn: [0])
        #expect(tasks(policy.review(&cooled, now: Self.at(day: 130), lastTaskAt: [.retentionOffer: Self.at(day: 90)])).count == 1)
        var stillCooling = client(purchasedOn: [0])
        #expect(tasks(policy.review(&stillCooling, now: Self.at(day: 130), lastTaskAt: [.retentionOffer: Self.at(day: 91)])).isEmpty)
    }

    @Test("consent withdrawn: the status still changes, the marketing task is suppressed")
    func consent() {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: nil)
        var state = client(purchasedOn: [0])
        state.contacts.recordConsent(false, at: Self.at(day: 1))
        let effects = policy.review(&state, now: Self.at(day: 130), lastTaskAt: [:])
        #expect(statuses(effects) == [.atRisk])
        #expect(tasks(effects).isEmpty)
        #expect(effects.contains { if case .taskSuppressed(let task, _) = $0 { task.kind == .retentionOffer } else { false } })
    }

    @Test("use of a service postpones the review; a late purchase makes a lapsed client due at once")
    func activity() throws {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: models)
        var state = client(purchasedOn: [0, 30, 60])
        let due = try #require(policy.nextReview(for: state))
        state.contacts.lastServiceUseAt = Self.at(day: 90)
        let postponed = try #require(policy.nextReview(for: state))
        #expect(postponed.millisecondsSinceEpoch - due.millisecondsSinceEpoch == 30 * 86_400_000)

        var lapsed = client(purchasedOn: [0, 30, 60])
        _ = policy.review(&lapsed, now: due.adding(seconds: 86_400), lastTaskAt: [:])
        #expect(lapsed.status == .atRisk)
        // A purchase from before the lapse arrives late: counted, reactivates nothing by itself…
        let late = PurchaseEvent(eventId: "late", clientId: "C1", occurredAt: due.adding(seconds: -86_400),
                                 amount: Money(jsonNumber: "50")!, currency: Currency(code: "EUR")!)
        for case .purchaseDay(_, let day, let amount) in PurchaseRules().apply(late, to: &lapsed) {
            lapsed.purchaseDays.add(day: day, amount: amount, isNewDay: true)
        }
        #expect(lapsed.status == .atRisk)
        // …but the client is due at once, and the review brings them back.
        #expect(policy.nextReview(for: lapsed) == lapsed.statusChangedAt)
        let effects = policy.review(&lapsed, now: due.adding(seconds: 2 * 86_400), lastTaskAt: [:])
        #expect(statuses(effects) == [.regular])
    }

    @Test("a degenerate fit (the Poisson limit) is refused, and the rules judge instead")
    func degenerateModel() throws {
        let degenerate = BGNBDModel(parameters: .init(r: 1.4e150, alpha: 1.7e150, a: 1.5e5, b: 1.7e6), variant: .mbgnbd)
        #expect(degenerate.problem?.contains("parameter") == true)
        #expect(models.purchases.problem == nil)
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: ChurnModels(
            purchases: degenerate, spend: nil, version: 1, asOf: Self.start))
        let state = client(purchasedOn: [0, 5])
        #expect(policy.assess(state, at: Self.at(day: 10))?.basis == "rules:sector_fashion")
        #expect(policy.nextReview(for: state) == Self.at(day: 125))
    }

    @Test("a spend fit on clients who all spend alike stops at the boundary and is flagged, quickly")
    func degenerateSpend() {
        let alike = (0..<3000).map { PurchaseHistorySummary(x: Double(1 + $0 % 5), tx: 10, T: 20, meanRepeatValue: 50) }
        let fit = GammaGammaModel.fit(alike)
        #expect(fit.iterations < 200)
        #expect(!fit.converged)
        #expect(fit.model.problem != nil)
        #expect(GammaGammaModel(parameters: .init(p: 6.25, q: 3.74, v: 15.44)).problem == nil)
        #expect(GammaGammaModel(parameters: .init(p: 6.25, q: 0.9, v: 15.44)).problem?.contains("q") == true)
    }

    @Test("prospects and refund-only records are never reviewed; recent days keep the newest 21")
    func eligibility() {
        let policy = ChurnPolicy(rules: RecencyRules(sector: fashion), models: models)
        var prospect = ClientState(clientId: "P")
        prospect.status = .prospect
        #expect(policy.nextReview(for: prospect) == nil)
        #expect(policy.review(&prospect, now: Self.at(day: 1000), lastTaskAt: [:]).isEmpty)
        var totals = PurchaseDayTotals()
        for day in (0..<30).reversed() { totals.add(day: day * 2, amount: .zero, isNewDay: true) }
        #expect(totals.recentDays == Array(stride(from: 18, through: 58, by: 2)))
        #expect(throws: ConfigurationProblem.self) { try ChurnSettings(atRiskBelow: 0.2, passiveBelow: 0.3).validate() }
        #expect(throws: ConfigurationProblem.self) { try ChurnSettings(atRiskBelow: 0.95, hysteresis: 0.1).validate() }
    }
}

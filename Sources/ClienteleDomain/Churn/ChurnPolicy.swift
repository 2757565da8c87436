import Foundation

/// The fitted models the churn rules use: the purchase model, the spend model if fitted, and
/// where they come from.
public struct ChurnModels: Sendable, Equatable {
    public var purchases: BGNBDModel
    public var spend: GammaGammaModel?
    /// The purchase model's version in the store (models are replaced by newer versions).
    public var version: Int
    /// The purchase model's calibration end.
    public var asOf: Timestamp

    public init(purchases: BGNBDModel, spend: GammaGammaModel?, version: Int, asOf: Timestamp) {
        self.purchases = purchases
        self.spend = spend
        self.version = version
        self.asOf = asOf
    }

    /// `mbgnbd:1998-06-30`: the kind and the calibration date, as `churn-risk` events name it.
    public var label: String {
        "\(purchases.variant.rawValue):\(String(asOf.rfc3339.prefix(10)))"
    }
}

/// The thresholds and task settings of the churn rules.
public struct ChurnSettings: Sendable, Equatable {
    /// With a model, a client is `at_risk` once P(alive) falls below this. Default 0.5.
    public var atRiskBelow: Double
    /// With a model, a client is `passive` once P(alive) falls below this. Default 0.2.
    public var passiveBelow: Double
    /// Hysteresis: a lapsed client returns (without new activity, e.g. after a model refit) only
    /// once P(alive) is this much above the threshold they crossed; with the recency rules, once
    /// their silence is this share below the limit. Default 0.1.
    public var hysteresis: Double
    /// No second task of the same kind for a client within this time. Default 30 days.
    public var taskCooldownSeconds: Int64
    /// An at-risk client worth at least this much (value at risk) gets a `retention_call`,
    /// others a `retention_offer`. Default 100 (in the client's currency).
    public var retentionCallValue: Double
    /// Seconds after detection at which a churn task is due. Default 2 days.
    public var taskDueAfterSeconds: Int64
    /// CLV horizon in months (default 12) and monthly discount rate (default 0.01).
    public var clvMonths: Int
    public var monthlyDiscountRate: Double

    public init(
        atRiskBelow: Double = 0.5, passiveBelow: Double = 0.2, hysteresis: Double = 0.1,
        taskCooldownSeconds: Int64 = 30 * 86_400, retentionCallValue: Double = 100,
        taskDueAfterSeconds: Int64 = 2 * 86_400, clvMonths: Int = 12, monthlyDiscountRate: Double = 0.01
    ) {
        self.atRiskBelow = atRiskBelow
        self.passiveBelow = passiveBelow
        self.hysteresis = hysteresis
        self.taskCooldownSeconds = taskCooldownSeconds
        self.retentionCallValue = retentionCallValue
        self.taskDueAfterSeconds = taskDueAfterSeconds
        self.clvMonths = clvMonths
        self.monthlyDiscountRate = monthlyDiscountRate
    }

    /// Checks the settings make sense; the message says what to fix.
    public func validate() throws(ConfigurationProblem) {
        guard passiveBelow > 0, passiveBelow < atRiskBelow, atRiskBelow < 1 else {
            throw ConfigurationProblem(
                "the P(alive) thresholds must satisfy 0 < passive (\(passiveBelow)) < at risk (\(atRiskBelow)) < 1")
        }
        guard hysteresis >= 0, hysteresis < 1, atRiskBelow + hysteresis < 1, passiveBelow + hysteresis < 1 else {
            throw ConfigurationProblem("the hysteresis must be from 0 to below 1 − the at-risk threshold (got \(hysteresis))")
        }
        guard taskCooldownSeconds >= 0, taskDueAfterSeconds >= 0 else {
            throw ConfigurationProblem("the task cooldown and due delay cannot be negative")
        }
        guard retentionCallValue.isFinite, retentionCallValue >= 0 else {
            throw ConfigurationProblem("the retention-call value must be a number ≥ 0 (got \(retentionCallValue))")
        }
        guard (1...600).contains(clvMonths), monthlyDiscountRate >= 0, monthlyDiscountRate < 1 else {
            throw ConfigurationProblem("the CLV horizon must be 1–600 months and the monthly discount rate from 0 to below 1")
        }
    }
}

/// Where a client stands against the churn rules at one moment.
public struct ChurnAssessment: Sendable, Equatable {
    /// Nil for good standing, else `atRisk` or `passive` (thresholds without hysteresis).
    public var level: ClientStatus?
    /// Nil without a model.
    public var probabilityAlive: Double?
    public var risk: Double
    public var valueAtRisk: Double
    /// CLV over the settings' horizon, with a model.
    public var clv: Double?
    /// When the client becomes (or became) at risk and passive; nil when time alone never does it.
    public var atRiskAt: Timestamp?
    public var passiveAt: Timestamp?
    /// `mbgnbd:…` or `rules:…`.
    public var basis: String
}

/// The churn rules: when a client is at risk or passive *given their own rhythm*, what that
/// causes, and when they next need a look.
///
/// With a fitted model a client's standing is their P(alive): at risk below
/// ``ChurnSettings/atRiskBelow``, passive below ``ChurnSettings/passiveBelow``. P(alive) only falls
/// while nothing happens, so the moment each threshold is crossed has a closed form
/// (``BGNBDModel/ageWhenProbabilityAliveFalls(to:_:)``), and that moment is the client's next
/// review. Use of a service after the last purchase postpones it by the same time (it is
/// activity, not a purchase the model counts). Without a model, or for a one-time buyer under
/// plain BG/NBD, the ``RecencyRules`` give the limits.
public struct ChurnPolicy: Sendable, Equatable {
    public var rules: RecencyRules
    public var models: ChurnModels?
    public var settings: ChurnSettings
    /// For the standing status a client returns to.
    public var purchaseRules: PurchaseRules

    public init(rules: RecencyRules, models: ChurnModels?, settings: ChurnSettings = ChurnSettings(), purchaseRules: PurchaseRules = PurchaseRules()) {
        self.rules = rules
        self.models = models
        self.settings = settings
        self.purchaseRules = purchaseRules
    }

    static let millisecondsPerDay = 86_400_000.0
    static let millisecondsPerWeek = 7 * millisecondsPerDay

    /// The client's thresholds as moments in time, and how to read P(alive) at any moment.
    struct Curve {
        var atRiskAt: Timestamp?
        var passiveAt: Timestamp?
        /// Until when a lapsed client would return to the level above (hysteresis applied).
        var recoversFromAtRiskUntil: Timestamp?
        var recoversFromPassiveUntil: Timestamp?
        var basis: String
        var probabilityAlive: (Timestamp) -> Double?
    }

    /// Clients (a purchase seen, a client status) are judged; prospects and refund-only records are not.
    func isEligible(_ client: ClientState) -> Bool {
        guard let status = client.status, status != .prospect else { return false }
        return client.lastPurchaseAt != nil
    }

    func curve(for client: ClientState) -> Curve? {
        guard isEligible(client), let lastActivity = client.lastActivityAt else { return nil }
        if let models, let first = client.purchaseDays.firstDay, let last = client.purchaseDays.lastDay,
           let modelCurve = modelCurve(models, client, firstDay: first, lastDay: last, lastActivity: lastActivity) {
            return modelCurve
        }
        let days = client.purchaseDays.recentDays.isEmpty ? [client.lastPurchaseAt!.day] : client.purchaseDays.recentDays
        let limits = rules.limits(purchaseDays: days)
        func after(_ days: Double) -> Timestamp {
            Timestamp(millisecondsSinceEpoch: lastActivity.millisecondsSinceEpoch + Int64((days * Self.millisecondsPerDay).rounded(.up)))
        }
        let margin = 1 - settings.hysteresis
        return Curve(
            atRiskAt: after(limits.atRiskAfterDays), passiveAt: after(limits.passiveAfterDays),
            recoversFromAtRiskUntil: after(limits.atRiskAfterDays * margin),
            recoversFromPassiveUntil: after(limits.passiveAfterDays * margin),
            basis: "rules:\(limits.basis)", probabilityAlive: { _ in nil })
    }

    private func modelCurve(_ models: ChurnModels, _ client: ClientState, firstDay: Int, lastDay: Int, lastActivity: Timestamp) -> Curve? {
        let model = models.purchases
        let x = Double(client.purchaseDays.count - 1)
        let tx = Double(lastDay - firstDay) / 7
        // BG/NBD one-time buyers, and parameters no fit should have produced: the rules decide.
        guard model.variant == .mbgnbd || x > 0, model.problem == nil else { return nil }
        let origin = Double(Timestamp(day: firstDay).millisecondsSinceEpoch)
        // Service use after the last purchase shifts the clock: silence is measured from it.
        let lastPurchase = client.lastPurchaseAt ?? lastActivity
        let shift = Double(max(0, lastActivity.millisecondsSinceEpoch - lastPurchase.millisecondsSinceEpoch))
        let floor = Double(lastActivity.millisecondsSinceEpoch)
        let summary = PurchaseHistorySummary(x: x, tx: tx, T: tx)
        func crossing(_ threshold: Double) -> Timestamp? {
            guard threshold > 0, threshold < 1, let age = model.ageWhenProbabilityAliveFalls(to: threshold, summary) else { return nil }
            let at = max(floor, origin + max(age, tx) * Self.millisecondsPerWeek + shift)
            // Beyond any date a timestamp holds: never, in practice.
            guard at.isFinite, at < 1e15 else { return nil }
            return Timestamp(millisecondsSinceEpoch: Int64(at.rounded(.up)))
        }
        let s = settings
        return Curve(
            atRiskAt: crossing(s.atRiskBelow), passiveAt: crossing(s.passiveBelow),
            recoversFromAtRiskUntil: crossing(s.atRiskBelow + s.hysteresis),
            recoversFromPassiveUntil: crossing(s.passiveBelow + s.hysteresis),
            basis: models.label,
            probabilityAlive: { time in
                let age = (Double(time.millisecondsSinceEpoch) - shift - origin) / Self.millisecondsPerWeek
                return model.probabilityAlive(PurchaseHistorySummary(x: x, tx: tx, T: max(tx, age)))
            })
    }

    /// The client's standing at `time` (thresholds only, no hysteresis), with the figures a
    /// `churn-risk` event and `clientele client show` report. Nil for prospects.
    public func assess(_ client: ClientState, at time: Timestamp) -> ChurnAssessment? {
        curve(for: client).map { assess(client, curve: $0, at: time) }
    }

    private func assess(_ client: ClientState, curve: Curve, at time: Timestamp) -> ChurnAssessment {
        let level: ClientStatus? =
            curve.passiveAt.map { time >= $0 } == true ? .passive : curve.atRiskAt.map { time >= $0 } == true ? .atRisk : nil
        let pAlive = curve.probabilityAlive(time)
        let value = valueFigures(client, at: time)
        let risk: Double
        if let pAlive {
            risk = 1 - pAlive
        } else if let passiveAt = curve.passiveAt, let last = client.lastActivityAt {
            let limit = Double(passiveAt.millisecondsSinceEpoch - last.millisecondsSinceEpoch)
            risk = min(1, max(0, Double(time.millisecondsSinceEpoch - last.millisecondsSinceEpoch) / max(1, limit)))
        } else {
            risk = 0
        }
        return ChurnAssessment(
            level: level, probabilityAlive: pAlive, risk: risk, valueAtRisk: value.atRisk, clv: value.clv,
            atRiskAt: curve.atRiskAt, passiveAt: curve.passiveAt, basis: curve.basis)
    }

    /// CLV (with a model) and the value at risk: the CLV, or without a model the client's spend
    /// per year of relationship.
    private func valueFigures(_ client: ClientState, at time: Timestamp) -> (clv: Double?, atRisk: Double) {
        if let models, let summary = client.purchaseDays.summary(asOfDay: max(time.day, client.purchaseDays.firstDay ?? time.day)),
           models.purchases.variant == .mbgnbd || summary.x > 0 {
            let averageValue: Double
            if let spend = models.spend {
                averageValue = spend.expectedAverageValue(x: summary.x, meanValue: summary.meanRepeatValue ?? 0)
            } else {
                averageValue = client.purchaseDays.totalAmount.doubleValue / Double(max(1, client.purchaseDays.count))
            }
            let clv = CustomerLifetimeValue.value(
                history: summary, purchases: models.purchases, averageValue: averageValue,
                months: settings.clvMonths, monthlyDiscountRate: settings.monthlyDiscountRate)
            return (clv, clv)
        }
        guard let first = client.firstPurchaseAt else { return (nil, 0) }
        let days = max(365, Double(time.millisecondsSinceEpoch - first.millisecondsSinceEpoch) / Self.millisecondsPerDay)
        return (nil, client.totalAmount.doubleValue * 365 / days)
    }

    /// When the client next needs a look; nil when time alone can change nothing.
    ///
    /// A client in good standing is due when they cross into `at_risk`, an at-risk client when
    /// they cross into `passive`. A lapsed client whose data now says they should not have lapsed
    /// (a late purchase, a refit) is due at once, unless `notBefore` (the review that just looked)
    /// is already past the moment they could have returned.
    public func nextReview(for client: ClientState, notBefore: Timestamp? = nil) -> Timestamp? {
        curve(for: client).flatMap { nextReview(for: client, curve: $0, notBefore: notBefore) }
    }

    private func nextReview(for client: ClientState, curve: Curve, notBefore: Timestamp?) -> Timestamp? {
        guard let status = client.status else { return nil }
        let since = max(client.statusChangedAt ?? Timestamp(millisecondsSinceEpoch: 0), notBefore ?? Timestamp(millisecondsSinceEpoch: 0))
        switch status {
        case .atRisk:
            if let until = curve.recoversFromAtRiskUntil, until > since { return since }
            return curve.passiveAt
        case .passive:
            if let until = curve.recoversFromPassiveUntil, until > since { return since }
            return nil
        default:
            return curve.atRiskAt
        }
    }

    /// Reviews one client at `now`: returns a lapsed client whose standing came back (hysteresis
    /// applied), and moves a client across every threshold passed by `now`, each at the moment it
    /// was crossed: a status change, a `churn-risk` event and a task (unless a task of that kind
    /// was created for the client within the cooldown before that moment) for every level, with
    /// the figures of that moment. What a review publishes therefore does not depend on when it
    /// runs — a sweep every second, a churn-worker stopped for a day, or an event worker judging
    /// the client just before applying their next event all give the same events. Consent is
    /// checked as it stood at each crossing; the next review is set.
    ///
    /// - Parameter lastTaskAt: the newest task of each kind already created for the client (sent
    ///   or suppressed), for the cooldown.
    public func review(_ client: inout ClientState, now: Timestamp, lastTaskAt: [FollowUpTask.Kind: Timestamp]) -> [ClientEffect] {
        guard let curve = curve(for: client), let status = client.status, let lastActivity = client.lastActivityAt else {
            client.nextReviewAt = nil
            return []
        }
        var effects: [ClientEffect] = []
        var lastTaskAt = lastTaskAt
        let standing = purchaseRules.standingStatus(forPurchaseCount: client.purchaseCount)
        func change(to next: ClientStatus, at time: Timestamp, figures: ChurnAssessment, reason: String, causedBy: String) {
            var statusChange = StatusChange(
                clientId: client.clientId, status: next, previousStatus: client.status, changedAt: time,
                reason: reason, causedBy: causedBy, purchaseCount: client.purchaseCount)
            statusChange.probabilityAlive = curve.probabilityAlive(time)
            statusChange.clv = figures.clv
            client.status = next
            client.statusChangedAt = time
            effects.append(.statusChanged(statusChange))
        }

        // 1. A lapse the current data no longer supports is undone (with hysteresis).
        func recoveryCause() -> String {
            StableID.make("churn-recovery", client.clientId, String(lastActivity.millisecondsSinceEpoch), curve.basis)
        }
        if status == .passive, let until = curve.recoversFromPassiveUntil, now < until {
            let back = curve.recoversFromAtRiskUntil.map { now < $0 } == true ? standing : .atRisk
            change(to: back, at: now, figures: assess(client, curve: curve, at: now), reason: "churn_risk_receded", causedBy: recoveryCause())
        } else if status == .atRisk, let until = curve.recoversFromAtRiskUntil, now < until {
            change(to: standing, at: now, figures: assess(client, curve: curve, at: now), reason: "churn_risk_receded", causedBy: recoveryCause())
        }

        // 2. Every threshold crossed by now, in order, each with its event and task.
        while true {
            let current = client.status!
            let next: (level: ClientStatus, at: Timestamp?)
            switch current {
            case .atRisk: next = (.passive, curve.passiveAt)
            case .passive, .prospect: next = (current, nil)
            default: next = (.atRisk, curve.atRiskAt)
            }
            guard let crossedAt = next.at, crossedAt <= now else { break }
            let at = max(crossedAt, client.statusChangedAt ?? crossedAt)
            let figures = assess(client, curve: curve, at: at)
            let reason = reason(for: next.level, basis: curve.basis)
            let cause = StableID.make("churn-risk", client.clientId, next.level.rawValue, String(lastActivity.millisecondsSinceEpoch))
            change(to: next.level, at: at, figures: figures, reason: reason, causedBy: cause)
            let event = ChurnRisk(
                clientId: client.clientId, level: next.level, risk: figures.risk, probabilityAlive: figures.probabilityAlive,
                valueAtRisk: figures.valueAtRisk, currency: client.currency, detectedAt: now, crossedAt: at,
                model: curve.basis, lapseOf: lastActivity)
            effects.append(.churnRisk(event))
            let kind: FollowUpTask.Kind = next.level == .passive
                ? .reactivationCampaign
                : figures.valueAtRisk >= settings.retentionCallValue ? .retentionCall : .retentionOffer
            let coolingDown = lastTaskAt[kind].map {
                at.millisecondsSinceEpoch - $0.millisecondsSinceEpoch < settings.taskCooldownSeconds * 1000
            } ?? false
            if !coolingDown {
                effects.append(.task(FollowUpTask(
                    taskId: StableID.make("task", kind.rawValue, client.clientId, event.eventId), clientId: client.clientId,
                    kind: kind, priority: kind == .retentionCall ? .high : kind == .retentionOffer ? .normal : .low,
                    dueAt: at.adding(seconds: settings.taskDueAfterSeconds), createdAt: at,
                    reason: reason, causedBy: event.eventId)))
                lastTaskAt[kind] = at
            }
        }
        client.nextReviewAt = nextReview(for: client, curve: curve, notBefore: now)
        return ConsentPolicy.enforce(effects, for: client)
    }

    private func reason(for level: ClientStatus, basis: String) -> String {
        if models != nil, !basis.hasPrefix("rules:") {
            let threshold = level == .passive ? settings.passiveBelow : settings.atRiskBelow
            return "p_alive_below_\(threshold)"
        }
        return level == .passive ? "inactive_past_passive_limit" : "inactive_past_at_risk_limit"
    }
}

/// Recency limits of one business sector, in days.
public struct SectorLimits: Sendable, Equatable {
    public var name: String
    public var atRiskAfterDays: Int
    public var passiveAfterDays: Int

    public init(name: String, atRiskAfterDays: Int, passiveAfterDays: Int) {
        self.name = name
        self.atRiskAfterDays = atRiskAfterDays
        self.passiveAfterDays = passiveAfterDays
    }

    /// The built-in sector: at risk after 90 days, passive after a year.
    public static let general = SectorLimits(name: "general", atRiskAfterDays: 90, passiveAfterDays: 365)

    public func validate() throws(ConfigurationProblem) {
        guard atRiskAfterDays > 0, passiveAfterDays > atRiskAfterDays else {
            throw ConfigurationProblem(
                "sector '\(name)': at_risk_after_days must be positive and below passive_after_days (got \(atRiskAfterDays) and \(passiveAfterDays))")
        }
    }
}

/// The churn rules used before a model is fitted: each client against their own rhythm (the
/// median gap between their purchase days) when they have enough history, else against their
/// sector's limits.
public struct RecencyRules: Sendable, Equatable {
    public var sector: SectorLimits
    public var minimumPurchaseDays: Int
    public var atRiskGapMultiple: Double
    public var passiveGapMultiple: Double

    public init(sector: SectorLimits, minimumPurchaseDays: Int = 3, atRiskGapMultiple: Double = 2, passiveGapMultiple: Double = 4) {
        self.sector = sector
        self.minimumPurchaseDays = minimumPurchaseDays
        self.atRiskGapMultiple = atRiskGapMultiple
        self.passiveGapMultiple = passiveGapMultiple
    }

    public func validate() throws(ConfigurationProblem) {
        try sector.validate()
        guard minimumPurchaseDays >= 3 else { throw ConfigurationProblem("minimum_purchase_days must be at least 3 (two gaps)") }
        guard atRiskGapMultiple >= 1, passiveGapMultiple > atRiskGapMultiple else {
            throw ConfigurationProblem("the gap multiples must satisfy 1 ≤ at_risk_gap_multiple < passive_gap_multiple")
        }
    }

    /// The ages (days since the last activity) at which the client becomes at risk and passive.
    ///
    /// With at least `minimumPurchaseDays` distinct purchase days: multiples of the median gap,
    /// kept within the sector's limits (never sooner than a quarter of them, never later than
    /// the limits themselves), so a daily buyer is not flagged after two quiet days and a
    /// once-a-decade buyer is not kept active forever. Otherwise the sector's limits.
    public func limits(purchaseDays: [Int]) -> (atRiskAfterDays: Double, passiveAfterDays: Double, basis: String) {
        // Usually already distinct and ascending (a client's recent days): then no copy is made.
        let days = zip(purchaseDays, purchaseDays.dropFirst()).allSatisfy { $0 < $1 } ? purchaseDays : Array(Set(purchaseDays)).sorted()
        guard days.count >= minimumPurchaseDays else {
            return (Double(sector.atRiskAfterDays), Double(sector.passiveAfterDays), "sector_\(sector.name)")
        }
        let gaps = zip(days.dropFirst(), days).map { Double($0 - $1) }.sorted()
        let median = gaps.count % 2 == 1 ? gaps[gaps.count / 2] : (gaps[gaps.count / 2 - 1] + gaps[gaps.count / 2]) / 2
        func bounded(_ value: Double, _ limit: Int) -> Double {
            min(Double(limit), max(Double(limit) / 4, value))
        }
        return (bounded(median * atRiskGapMultiple, sector.atRiskAfterDays),
                bounded(median * passiveGapMultiple, sector.passiveAfterDays), "own_rhythm")
    }
}

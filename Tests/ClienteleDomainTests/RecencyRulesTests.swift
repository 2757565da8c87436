import ClienteleDomain
import Testing

@Suite("Recency rules before a model")
struct RecencyRulesTests {
    let fashion = SectorLimits(name: "fashion", atRiskAfterDays: 120, passiveAfterDays: 365)

    @Test("a one-time buyer is judged by the sector's limits")
    func oneTimeBuyer() {
        let limits = RecencyRules(sector: fashion).limits(purchaseDays: [100])
        #expect(limits.atRiskAfterDays == 120)
        #expect(limits.passiveAfterDays == 365)
        #expect(limits.basis == "sector_fashion")
    }

    @Test("a client with history is judged by their own median gap, within the sector's bounds")
    func ownRhythm() {
        let rules = RecencyRules(sector: fashion)
        // Every 40 days (one odd gap of 90): median 40 → at risk after 80, passive after 160.
        let days = [0, 40, 80, 170, 210, 250]
        let limits = rules.limits(purchaseDays: days)
        #expect(limits.atRiskAfterDays == 80)
        #expect(limits.passiveAfterDays == 160)
        #expect(limits.basis == "own_rhythm")
        // A weekly buyer is not flagged after two quiet weeks: at least a quarter of the sector's limit.
        let weekly = rules.limits(purchaseDays: [0, 7, 14, 21])
        #expect(weekly.atRiskAfterDays == 30)
        // A very slow buyer is still flagged by the sector's limits.
        let slow = rules.limits(purchaseDays: [0, 400, 800])
        #expect(slow.atRiskAfterDays == 120)
        #expect(slow.passiveAfterDays == 365)
    }

    @Test("same-day purchases count once; bad limits are refused")
    func validation() {
        let rules = RecencyRules(sector: fashion)
        #expect(rules.limits(purchaseDays: [5, 5, 5, 9]).basis == "sector_fashion")
        #expect(throws: ConfigurationProblem.self) { try SectorLimits(name: "x", atRiskAfterDays: 90, passiveAfterDays: 30).validate() }
        #expect(throws: ConfigurationProblem.self) { try RecencyRules(sector: fashion, atRiskGapMultiple: 3, passiveGapMultiple: 2).validate() }
    }
}

import ClienteleDomain
import Foundation
import Yams

/// The sectors' recency limits and the own-rhythm settings, read from `config/sectors.yaml`
/// (or the file `CLIENTELE_SECTORS_FILE` names). Every entry is validated; a problem names the
/// file, the sector and what to fix.
public struct SectorCatalog: Sendable, Equatable {
    public var sectors: [String: SectorLimits]
    public var minimumPurchaseDays: Int
    public var atRiskGapMultiple: Double
    public var passiveGapMultiple: Double

    /// The rules for one sector.
    public func rules(for sector: String) throws(ConfigurationProblem) -> RecencyRules {
        guard let limits = sectors[sector] else {
            throw ConfigurationProblem("CLIENTELE_SECTOR '\(sector)' is not in the sectors file; known: \(sectors.keys.sorted().joined(separator: ", "))")
        }
        let rules = RecencyRules(sector: limits, minimumPurchaseDays: minimumPurchaseDays,
                                 atRiskGapMultiple: atRiskGapMultiple, passiveGapMultiple: passiveGapMultiple)
        try rules.validate()
        return rules
    }

    public static func load(path: String) throws -> SectorCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationProblem("the sectors file '\(path)' cannot be read (set CLIENTELE_SECTORS_FILE)")
        }
        do {
            return try parse(String(decoding: data, as: UTF8.self))
        } catch let problem as ConfigurationProblem {
            throw ConfigurationProblem("\(path): \(problem.message)")
        } catch {
            throw ConfigurationProblem("\(path) is not valid YAML: \(error)")
        }
    }

    public static func parse(_ yaml: String) throws -> SectorCatalog {
        guard let root = try Yams.load(yaml: yaml) as? [String: Any] else {
            throw ConfigurationProblem("the sectors file must be a mapping with a 'sectors' key")
        }
        guard let entries = root["sectors"] as? [String: Any], !entries.isEmpty else {
            throw ConfigurationProblem("'sectors' must map sector names to their limits")
        }
        var sectors: [String: SectorLimits] = [:]
        for (name, value) in entries {
            guard let fields = value as? [String: Any],
                  let atRisk = fields["at_risk_after_days"] as? Int, let passive = fields["passive_after_days"] as? Int
            else {
                throw ConfigurationProblem("sector '\(name)' needs whole numbers at_risk_after_days and passive_after_days")
            }
            let limits = SectorLimits(name: name, atRiskAfterDays: atRisk, passiveAfterDays: passive)
            try limits.validate()
            sectors[name] = limits
        }
        let rhythm = ((root["defaults"] as? [String: Any])?["own_rhythm"] as? [String: Any]) ?? [:]
        func number(_ key: String, _ fallback: Double) throws -> Double {
            guard let value = rhythm[key] else { return fallback }
            if let double = value as? Double { return double }
            if let int = value as? Int { return Double(int) }
            throw ConfigurationProblem("defaults.own_rhythm.\(key) must be a number")
        }
        let catalog = SectorCatalog(
            sectors: sectors, minimumPurchaseDays: Int(try number("minimum_purchase_days", 3)),
            atRiskGapMultiple: try number("at_risk_gap_multiple", 2), passiveGapMultiple: try number("passive_gap_multiple", 4))
        for name in sectors.keys { _ = try catalog.rules(for: name) }
        return catalog
    }
}

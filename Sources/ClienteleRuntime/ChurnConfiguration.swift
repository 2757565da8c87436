import ClienteleDomain
import Foundation

/// The churn settings every worker reads (the event workers schedule reviews with them, the
/// churn-worker reviews with them): keep them the same for all workers, e.g. in one config file.
public struct ChurnConfiguration: Sendable {
    /// The recency rules of the chosen sector.
    public var rules: RecencyRules
    /// Where the sectors came from (a path, or `built-in`).
    public var sectorsSource: String
    public var settings: ChurnSettings
    /// Which fitted purchase model judges churn.
    public var modelKind: BGNBDModel.Variant
    public var modelRefresh: Duration
    public var sweepInterval: Duration
    public var sweepBatchSize: Int
    /// Event clock: a partition not advanced for this long (wall time) no longer holds it back.
    public var eventClockIdle: Duration
    public var purchaseRules: PurchaseRules

    /// Used when no sectors file is configured and `config/sectors.yaml` is not in the working
    /// directory: one general-purpose sector.
    public static let builtInSectors = """
        sectors:
          general:
            at_risk_after_days: 90
            passive_after_days: 365
        """

    /// Settings given directly (benchmarks, tools); workers read them with ``WorkerConfiguration/load(workerName:defaultHTTPPort:environment:)``.
    public init(
        rules: RecencyRules, settings: ChurnSettings = ChurnSettings(), modelKind: BGNBDModel.Variant = .mbgnbd,
        modelRefresh: Duration = .seconds(30), sweepInterval: Duration = .seconds(1), sweepBatchSize: Int = 5000,
        purchaseRules: PurchaseRules = PurchaseRules()
    ) {
        self.rules = rules
        self.sectorsSource = "given"
        self.settings = settings
        self.modelKind = modelKind
        self.modelRefresh = modelRefresh
        self.sweepInterval = sweepInterval
        self.sweepBatchSize = sweepBatchSize
        self.eventClockIdle = .seconds(30)
        self.purchaseRules = purchaseRules
    }

    init(reader: SettingsReader, purchaseRules: PurchaseRules) throws {
        self.purchaseRules = purchaseRules
        let catalog: SectorCatalog
        if case let path = reader.string("clientele.sectors.file", default: ""), !path.isEmpty {
            catalog = try SectorCatalog.load(path: path)
            sectorsSource = path
        } else if FileManager.default.fileExists(atPath: "config/sectors.yaml") {
            catalog = try SectorCatalog.load(path: "config/sectors.yaml")
            sectorsSource = "config/sectors.yaml"
        } else {
            catalog = try SectorCatalog.parse(Self.builtInSectors)
            sectorsSource = "built-in"
        }
        rules = try catalog.rules(for: reader.string("clientele.sector", default: "general"))
        guard let kind = BGNBDModel.Variant(rawValue: reader.string("clientele.churn.model", default: "mbgnbd")) else {
            throw ConfigurationProblem("CLIENTELE_CHURN_MODEL must be 'mbgnbd' or 'bgnbd'")
        }
        modelKind = kind
        var settings = ChurnSettings()
        settings.atRiskBelow = try reader.fraction("clientele.at.risk.below", default: settings.atRiskBelow)
        settings.passiveBelow = try reader.fraction("clientele.passive.below", default: settings.passiveBelow)
        settings.hysteresis = try reader.fraction("clientele.churn.hysteresis", default: settings.hysteresis)
        settings.taskCooldownSeconds = Int64(try reader.integer("clientele.task.cooldown.days", default: 30, in: 0...3650)) * 86_400
        settings.retentionCallValue = try reader.positiveMoney("clientele.retention.call.value", default: "100").doubleValue
        do {
            try settings.validate()
        } catch {
            throw ConfigurationProblem("CLIENTELE_AT_RISK_BELOW, CLIENTELE_PASSIVE_BELOW and CLIENTELE_CHURN_HYSTERESIS: \(error.message)")
        }
        self.settings = settings
        modelRefresh = .seconds(try reader.integer("clientele.model.refresh.seconds", default: 30, in: 1...86_400))
        sweepInterval = .milliseconds(try reader.integer("clientele.sweep.interval.ms", default: 1000, in: 10...3_600_000))
        sweepBatchSize = try reader.integer("clientele.sweep.batch.size", default: 5000, in: 1...100_000)
        eventClockIdle = .seconds(try reader.integer("clientele.event.clock.idle.seconds", default: 30, in: 1...86_400))
    }

    /// The policy with the given models (nil: the recency rules alone).
    public func policy(models: ChurnModels?) -> ChurnPolicy {
        ChurnPolicy(rules: rules, models: models, settings: settings, purchaseRules: purchaseRules)
    }
}

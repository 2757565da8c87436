import ClienteleDomain
import ClienteleStore
import Logging
import Synchronization

/// The churn policy every worker uses, with the newest fitted model from the store: looked up
/// again at most every ``ChurnConfiguration/modelRefresh``, so a `clientele model fit` reaches
/// running workers without a restart.
public final class ChurnPolicySource: Sendable {
    private let configuration: ChurnConfiguration
    private let store: any ClientStore
    private let logger: Logger
    private let cached: Mutex<(policy: ChurnPolicy, checkedAt: ContinuousClock.Instant?)>

    public init(configuration: ChurnConfiguration, store: any ClientStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        cached = Mutex((configuration.policy(models: nil), nil))
    }

    /// The current policy, refreshed from the store when the last look is older than the refresh
    /// interval. A failed look keeps the policy it had (and is retried at the next call).
    public func current() async -> ChurnPolicy {
        let (policy, checkedAt) = cached.withLock { ($0.policy, $0.checkedAt) }
        if let checkedAt, ContinuousClock.now - checkedAt < configuration.modelRefresh { return policy }
        do {
            return try await refresh()
        } catch {
            logger.warning("cannot read the newest churn model; keeping the current one", metadata: ["error": "\(error)"])
            cached.withLock { $0.checkedAt = .now }
            return policy
        }
    }

    /// Reads the newest model now.
    @discardableResult
    public func refresh() async throws -> ChurnPolicy {
        let models = try await Self.newestModels(kind: configuration.modelKind, store: store)
        let policy = configuration.policy(models: models)
        let previous = cached.withLock { state in
            defer { state = (policy, .now) }
            return state.policy.models?.version
        }
        if previous != models?.version {
            logger.info("churn model", metadata: [
                "model": "\(models.map { "\($0.label) v\($0.version)" } ?? "none: recency rules")",
                "sector": "\(configuration.rules.sector.name)",
            ])
        }
        return policy
    }

    /// The newest purchase model of `kind` with the newest spend model, or nil before any fit.
    public static func newestModels(kind: BGNBDModel.Variant, store: any ClientStore) async throws -> ChurnModels? {
        guard let stored = try await store.newestModel(kind: kind.rawValue) else { return nil }
        let values = stored.parameters
        guard let r = values["r"], let alpha = values["alpha"], let a = values["a"], let b = values["b"],
              [r, alpha, a, b].allSatisfy({ $0 > 0 && $0.isFinite })
        else {
            throw StoreError(.corruptRow, "model \(stored.kind) v\(stored.version) does not hold four positive parameters r, alpha, a, b")
        }
        var spend: GammaGammaModel?
        if let stored = try await store.newestModel(kind: "gamma-gamma"), let p = stored.parameters["p"],
           let q = stored.parameters["q"], let v = stored.parameters["v"], q > 1 {
            spend = GammaGammaModel(parameters: .init(p: p, q: q, v: v))
        }
        return ChurnModels(
            purchases: BGNBDModel(parameters: .init(r: r, alpha: alpha, a: a, b: b), variant: kind),
            spend: spend, version: stored.version, asOf: stored.asOf)
    }

    /// Identifies what review times computed with `policy` depend on: when it changes, every
    /// client's next review is recomputed.
    public static func fingerprint(_ policy: ChurnPolicy) -> String {
        "model=\(policy.models.map { "\($0.purchases.variant.rawValue)/v\($0.version)" } ?? "none");" + settingsFingerprint(policy)
    }

    /// The part of the fingerprint that comes from configuration (not from the fitted model).
    static func settingsFingerprint(_ policy: ChurnPolicy) -> String {
        "rules=\(policy.rules);settings=\(policy.settings)"
    }

    /// For an event worker: warns when the churn settings the churn-worker last scheduled with
    /// differ from this worker's, since this worker's review times would then be off until the
    /// churn-worker re-judges each client. Returns whether they agree (true when nothing is stored).
    @discardableResult
    public func checkAgreesWithChurnWorker() async -> Bool {
        let policy = await current()
        guard let stored = try? await store.setting(ChurnWorker.scheduleSetting),
              let range = stored.range(of: ";") else { return true }
        let agrees = String(stored[range.upperBound...]) == Self.settingsFingerprint(policy)
        if !agrees {
            logger.warning("the churn settings differ from the ones the churn-worker scheduled with; give every worker the same CLIENTELE_SECTOR, thresholds and cooldown (one config file)")
        }
        return agrees
    }
}

import Foundation

/// BG/NBD (Fader, Hardie & Lee 2005) and its MBG/NBD variant (Batislam et al. 2007): how many
/// purchases a client makes while "alive", and how likely they are still alive.
///
/// Plain BG/NBD gives one-time buyers P(alive) = 1 forever; MBG/NBD lets a client drop out at the
/// first purchase too, so one-time buyers' P(alive) decays with time like everybody else's. The
/// workers use MBG/NBD by default for that reason; BG/NBD reproduces the published results.
public struct BGNBDModel: Sendable, Equatable {
    public enum Variant: String, Sendable, CaseIterable {
        case bgnbd, mbgnbd
    }

    /// r, α (purchase rate heterogeneity, gamma) and a, b (dropout heterogeneity, beta).
    public struct Parameters: Sendable, Equatable {
        public var r: Double
        public var alpha: Double
        public var a: Double
        public var b: Double

        public init(r: Double, alpha: Double, a: Double, b: Double) {
            self.r = r
            self.alpha = alpha
            self.a = a
            self.b = b
        }
    }

    public var parameters: Parameters
    public var variant: Variant

    /// Why these parameters cannot be used to judge clients (nil when they can): each must be a
    /// finite number between 1e-6 and 1e6. A fit on data with too little repeat buying drifts
    /// to such extremes (the Poisson limit r, α → ∞, or a → ∞).
    public var problem: String? {
        let p = parameters
        for (name, value) in [("r", p.r), ("alpha", p.alpha), ("a", p.a), ("b", p.b)] where !(value.isFinite && value >= 1e-6 && value <= 1e6) {
            return "parameter \(name) = \(value) is outside 1e-6…1e6: the data have too little repeat buying (or too short a history) for this model"
        }
        return nil
    }

    public init(parameters: Parameters, variant: Variant) {
        self.parameters = parameters
        self.variant = variant
    }

    /// ln of the odds term (a/(b+x−1))·((α+T)/(α+tx))^(r+x) (b+x for MBG/NBD); nil when the
    /// model has no dropout term for this client (BG/NBD, x = 0).
    private func logDropoutOdds(_ s: PurchaseHistorySummary) -> Double? {
        let p = parameters
        let shift = variant == .bgnbd ? -1.0 : 0.0
        if variant == .bgnbd, s.x == 0 { return nil }
        return log(p.a) - log(p.b + s.x + shift) + (p.r + s.x) * (log(p.alpha + s.T) - log(p.alpha + s.tx))
    }

    /// P(alive | x, tx, T).
    public func probabilityAlive(_ s: PurchaseHistorySummary) -> Double {
        guard let odds = logDropoutOdds(s) else { return 1 }
        return 1 / (1 + exp(odds))
    }

    /// Expected number of purchases in the next `t` weeks.
    public func expectedPurchases(in t: Double, _ s: PurchaseHistorySummary) -> Double {
        let p = parameters
        let rx = p.r + s.x
        let z = t / (p.alpha + s.T + t)
        let power = exp(rx * (log(p.alpha + s.T) - log(p.alpha + s.T + t)))
        let numerator: Double
        switch variant {
        case .bgnbd:
            numerator = (p.a + p.b + s.x - 1) / (p.a - 1)
                * (1 - power * SpecialFunctions.hypergeometric2F1(rx, p.b + s.x, p.a + p.b + s.x - 1, z))
        case .mbgnbd:
            numerator = (p.a + p.b + s.x) / (p.a - 1)
                * (1 - power * SpecialFunctions.hypergeometric2F1(rx, p.b + s.x + 1, p.a + p.b + s.x, z))
        }
        let odds = logDropoutOdds(s).map(exp) ?? 0
        return numerator / (1 + odds)
    }

    /// The age T* (weeks since the first purchase) at which P(alive) falls to `threshold`,
    /// given the client's x and tx: P(alive) decreases in T, so this is closed-form. Nil when it
    /// never falls (BG/NBD one-time buyers); at most the current T when it already has.
    public func ageWhenProbabilityAliveFalls(to threshold: Double, _ s: PurchaseHistorySummary) -> Double? {
        precondition(threshold > 0 && threshold < 1, "the threshold is a probability strictly between 0 and 1")
        if variant == .bgnbd, s.x == 0 { return nil }
        let p = parameters
        let shift = variant == .bgnbd ? -1.0 : 0.0
        let target = (1 / threshold - 1) * (p.b + s.x + shift) / p.a
        return (p.alpha + s.tx) * pow(target, 1 / (p.r + s.x)) - p.alpha
    }

    // MARK: - Fitting

    /// The result of a maximum-likelihood fit.
    public struct Fit: Sendable {
        public var model: BGNBDModel
        /// Total log-likelihood at the optimum.
        public var logLikelihood: Double
        public var iterations: Int
        public var converged: Bool
        public var clients: Int
    }

    /// Fits the parameters by maximum likelihood (BFGS on log-parameters, analytic gradient).
    /// Identical summaries are grouped first, and every term that depends on x alone is computed
    /// once per distinct x, so a million clients cost little more than their distinct histories.
    public static func fit(_ summaries: [PurchaseHistorySummary], variant: Variant, start: Parameters? = nil) -> Fit {
        let data = GroupedHistories(summaries)
        let initial = start ?? Parameters(r: 1, alpha: 1, a: 1, b: 1)
        let scale = 1 / Double(max(1, summaries.count))
        let result = BFGSMinimizer().minimize(from: [initial.r, initial.alpha, initial.a, initial.b].map(log)) { u in
            let (ll, gradient) = data.logLikelihood(Parameters(r: exp(u[0]), alpha: exp(u[1]), a: exp(u[2]), b: exp(u[3])), variant: variant)
            return (-ll * scale, zip(gradient, u).map { -$0 * exp($1) * scale })
        }
        let u = result.point
        let parameters = Parameters(r: exp(u[0]), alpha: exp(u[1]), a: exp(u[2]), b: exp(u[3]))
        return Fit(
            model: BGNBDModel(parameters: parameters, variant: variant),
            logLikelihood: data.logLikelihood(parameters, variant: variant).value,
            iterations: result.iterations, converged: result.converged, clients: summaries.count)
    }

    /// Total log-likelihood of the histories under these parameters.
    public static func logLikelihood(_ summaries: [PurchaseHistorySummary], parameters: Parameters, variant: Variant) -> Double {
        GroupedHistories(summaries).logLikelihood(parameters, variant: variant).value
    }
}

/// Histories grouped by identical (x, tx, T), with their multiplicity.
struct GroupedHistories {
    struct Key: Hashable { var x: Double; var tx: Double; var T: Double }
    let rows: [(x: Double, tx: Double, T: Double, weight: Double, xIndex: Int)]
    let distinctX: [Double]
    let weightByX: [Double]

    init(_ summaries: [PurchaseHistorySummary]) {
        var counts: [Key: Double] = [:]
        for s in summaries { counts[Key(x: s.x, tx: s.tx, T: s.T), default: 0] += 1 }
        let xs = Array(Set(counts.keys.map(\.x))).sorted()
        let index = Dictionary(uniqueKeysWithValues: xs.enumerated().map { ($1, $0) })
        var weights = [Double](repeating: 0, count: xs.count)
        var rows: [(Double, Double, Double, Double, Int)] = []
        rows.reserveCapacity(counts.count)
        for (key, weight) in counts {
            let i = index[key.x]!
            weights[i] += weight
            rows.append((key.x, key.tx, key.T, weight, i))
        }
        self.rows = rows
        distinctX = xs
        weightByX = weights
    }

    /// Log-likelihood and its gradient with respect to (r, α, a, b).
    func logLikelihood(_ p: BGNBDModel.Parameters, variant: BGNBDModel.Variant) -> (value: Double, gradient: [Double]) {
        let mbg = variant == .mbgnbd ? 1.0 : 0.0
        let lgR = SpecialFunctions.logGamma(p.r), psiR = SpecialFunctions.digamma(p.r)
        let lgB = SpecialFunctions.logGamma(p.b), psiB = SpecialFunctions.digamma(p.b)
        let lgAB = SpecialFunctions.logGamma(p.a + p.b), psiAB = SpecialFunctions.digamma(p.a + p.b)
        let logAlpha = log(p.alpha), logA = log(p.a)
        // Terms of x alone (A1 and A2 with their derivatives), once per distinct x.
        var xTerm = [Double](repeating: 0, count: distinctX.count)
        var xdr = xTerm, xda = xTerm, xdb = xTerm
        for (i, x) in distinctX.enumerated() {
            let bx = p.b + x + mbg, abx = p.a + p.b + x + mbg
            xTerm[i] = SpecialFunctions.logGamma(p.r + x) - lgR + p.r * logAlpha
                + lgAB + SpecialFunctions.logGamma(bx) - lgB - SpecialFunctions.logGamma(abx)
            xdr[i] = SpecialFunctions.digamma(p.r + x) - psiR + logAlpha
            let psiABX = SpecialFunctions.digamma(abx)
            xda[i] = psiAB - psiABX
            xdb[i] = psiAB + SpecialFunctions.digamma(bx) - psiB - psiABX
        }
        var value = 0.0
        var gr = 0.0, galpha = 0.0, ga = 0.0, gb = 0.0
        for i in distinctX.indices {
            let w = weightByX[i]
            value += w * xTerm[i]
            gr += w * xdr[i]
            galpha += w * p.r / p.alpha
            ga += w * xda[i]
            gb += w * xdb[i]
        }
        for row in rows {
            let rx = p.r + row.x
            let logAT = log(p.alpha + row.T)
            let a3 = -rx * logAT
            let hasA4 = row.x > 0 || mbg == 1
            guard hasA4 else {
                value += row.weight * a3
                gr -= row.weight * logAT
                galpha -= row.weight * rx / (p.alpha + row.T)
                continue
            }
            let denominator = p.b + row.x - 1 + mbg
            let logATx = log(p.alpha + row.tx)
            let a4 = logA - log(denominator) - rx * logATx
            let top = max(a3, a4)
            let e3 = exp(a3 - top), e4 = exp(a4 - top)
            let total = e3 + e4
            let w3 = e3 / total, w4 = e4 / total
            value += row.weight * (top + log(total))
            gr += row.weight * (-w3 * logAT - w4 * logATx)
            galpha += row.weight * (-w3 * rx / (p.alpha + row.T) - w4 * rx / (p.alpha + row.tx))
            ga += row.weight * w4 / p.a
            gb -= row.weight * w4 / denominator
        }
        return (value, [gr, galpha, ga, gb])
    }
}

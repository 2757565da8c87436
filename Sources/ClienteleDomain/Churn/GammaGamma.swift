import Foundation

/// Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"): the value of a client's
/// transactions varies around their own mean, which varies across clients.
public struct GammaGammaModel: Sendable, Equatable {
    public struct Parameters: Sendable, Equatable {
        public var p: Double
        public var q: Double
        public var v: Double

        public init(p: Double, q: Double, v: Double) {
            self.p = p
            self.q = q
            self.v = v
        }
    }

    public var parameters: Parameters

    public init(parameters: Parameters) { self.parameters = parameters }

    /// Why these parameters cannot be used (nil when they can): each must be a finite number
    /// between 1e-6 and 1e6, and q above 1 (the expected value needs it).
    public var problem: String? {
        let p = parameters
        for (name, value) in [("p", p.p), ("q", p.q), ("v", p.v)] where !(value.isFinite && value >= 1e-6 && value <= 1e6) {
            return "parameter \(name) = \(value) is outside 1e-6…1e6: the spend data show no variation between clients for this model to fit"
        }
        return p.q > 1 ? nil : "q = \(p.q) must be above 1 for an expected spend"
    }

    /// E[M | x, m̄]: the expected mean transaction value of a client with x repeat purchases of
    /// mean value m̄ (the population mean p·v/(q−1) when x is 0).
    public func expectedAverageValue(x: Double, meanValue: Double) -> Double {
        let p = parameters
        return p.p * (p.v + x * meanValue) / (p.p * x + p.q - 1)
    }

    /// The result of a maximum-likelihood fit.
    public struct Fit: Sendable {
        public var model: GammaGammaModel
        public var logLikelihood: Double
        public var iterations: Int
        public var converged: Bool
        /// Clients with x > 0 and m̄ > 0, the only ones that enter the fit.
        public var clients: Int
    }

    /// Fits p, q, v on the clients with repeat purchases (BFGS on log-parameters, analytic gradient).
    public static func fit(_ summaries: [PurchaseHistorySummary], start: Parameters = Parameters(p: 1, q: 1, v: 1)) -> Fit {
        let data = summaries.compactMap { s -> (x: Double, m: Double)? in
            guard s.x > 0, let m = s.meanRepeatValue, m > 0 else { return nil }
            return (s.x, m)
        }
        let scale = 1 / Double(max(1, data.count))
        let result = BFGSMinimizer().minimize(from: [start.p, start.q, start.v].map(log)) { u in
            let (ll, gradient) = logLikelihood(data, Parameters(p: exp(u[0]), q: exp(u[1]), v: exp(u[2])))
            return (-ll * scale, zip(gradient, u).map { -$0 * exp($1) * scale })
        }
        let parameters = Parameters(p: exp(result.point[0]), q: exp(result.point[1]), v: exp(result.point[2]))
        return Fit(
            model: GammaGammaModel(parameters: parameters), logLikelihood: logLikelihood(data, parameters).value,
            iterations: result.iterations, converged: result.converged, clients: data.count)
    }

    static func logLikelihood(_ data: [(x: Double, m: Double)], _ p: Parameters) -> (value: Double, gradient: [Double]) {
        let lgQ = SpecialFunctions.logGamma(p.q), psiQ = SpecialFunctions.digamma(p.q)
        let logV = log(p.v)
        var value = 0.0, gp = 0.0, gq = 0.0, gv = 0.0
        for (x, m) in data {
            let px = p.p * x
            let logXM = log(x * m + p.v)
            let psiPXQ = SpecialFunctions.digamma(px + p.q)
            value += SpecialFunctions.logGamma(px + p.q) - SpecialFunctions.logGamma(px) - lgQ + p.q * logV
                + (px - 1) * log(m) + px * log(x) - (px + p.q) * logXM
            gp += x * (psiPXQ - SpecialFunctions.digamma(px) + log(m) + log(x) - logXM)
            gq += psiPXQ - psiQ + logV - logXM
            gv += p.q / p.v - (px + p.q) / (x * m + p.v)
        }
        return (value, [gp, gq, gv])
    }
}

/// Discounted customer lifetime value, as in the `lifetimes` library:
/// Σₖ E[M]·(E[Y(k·f)] − E[Y((k−1)·f)]) / (1+d)^k over `months` months of f = 4.345 weeks.
public enum CustomerLifetimeValue {
    public static let weeksPerMonth = 4.345

    public static func value(
        history: PurchaseHistorySummary, purchases: BGNBDModel, spend: GammaGammaModel,
        months: Int = 12, monthlyDiscountRate: Double = 0.01
    ) -> Double {
        value(history: history, purchases: purchases,
              averageValue: spend.expectedAverageValue(x: history.x, meanValue: history.meanRepeatValue ?? 0),
              months: months, monthlyDiscountRate: monthlyDiscountRate)
    }

    /// The same with a given expected value per purchase (e.g. the client's own mean when no
    /// spend model is fitted).
    public static func value(
        history: PurchaseHistorySummary, purchases: BGNBDModel, averageValue: Double,
        months: Int = 12, monthlyDiscountRate: Double = 0.01
    ) -> Double {
        var total = 0.0
        var previous = 0.0
        for month in 1...max(1, months) {
            let expected = purchases.expectedPurchases(in: Double(month) * weeksPerMonth, history)
            total += averageValue * (expected - previous) / pow(1 + monthlyDiscountRate, Double(month))
            previous = expected
        }
        return total
    }
}

import ClienteleDomain
import Foundation

/// Simulates purchase histories from the BG/NBD process itself (λ ~ Gamma(r, α), p ~ Beta(a, b),
/// exponential inter-purchase times, dropout with probability p after each purchase), so a fit
/// can be checked for speed and for recovering the parameters it was generated with.
public struct SyntheticHistories: Sendable {
    public var parameters: BGNBDModel.Parameters
    public var clients: Int
    /// Clients joined uniformly over this many weeks before the calibration end.
    public var cohortWeeks: Double
    public var seed: UInt64
    /// BG/NBD: dropout only after repeat purchases; MBG/NBD: after the first purchase too.
    public var variant: BGNBDModel.Variant

    public init(
        parameters: BGNBDModel.Parameters, variant: BGNBDModel.Variant = .bgnbd, clients: Int,
        cohortWeeks: Double = 52, seed: UInt64 = 1
    ) {
        self.parameters = parameters
        self.variant = variant
        self.clients = clients
        self.cohortWeeks = cohortWeeks
        self.seed = seed
    }

    /// Histories with times rounded to whole days, as a store records them.
    public func histories() -> [PurchaseHistorySummary] {
        var random = SeededGenerator(seed: seed)
        var result: [PurchaseHistorySummary] = []
        result.reserveCapacity(clients)
        for _ in 0..<clients {
            let lambda = gamma(shape: parameters.r, using: &random) / parameters.alpha
            let gA = gamma(shape: parameters.a, using: &random)
            let dropout = gA / (gA + gamma(shape: parameters.b, using: &random))
            let T = (Double.random(in: 0..<cohortWeeks * 7, using: &random)).rounded(.down) / 7
            var time = 0.0, x = 0.0, lastDay = 0.0
            var alive = variant == .bgnbd || Double.random(in: 0..<1, using: &random) >= dropout
            while alive {
                time += -log(1 - Double.random(in: 0..<1, using: &random)) / max(lambda, 1e-12)
                guard time <= T else { break }
                let day = (time * 7).rounded(.down) / 7  // purchases on one day are merged
                if day > lastDay {
                    x += 1
                    lastDay = day
                }
                alive = Double.random(in: 0..<1, using: &random) >= dropout
            }
            result.append(PurchaseHistorySummary(x: x, tx: lastDay, T: T))
        }
        return result
    }

    /// Marsaglia–Tsang gamma sampler (shape < 1 boosted by U^(1/shape)).
    private func gamma(shape: Double, using random: inout SeededGenerator) -> Double {
        if shape < 1 {
            return gamma(shape: shape + 1, using: &random) * pow(Double.random(in: Double.ulpOfOne..<1, using: &random), 1 / shape)
        }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                // Box–Muller normal.
                let u1 = Double.random(in: Double.ulpOfOne..<1, using: &random), u2 = Double.random(in: 0..<1, using: &random)
                x = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = Double.random(in: 0..<1, using: &random)
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }
}

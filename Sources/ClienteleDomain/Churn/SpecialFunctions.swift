import Foundation

/// Special functions for the buy-till-you-die models.
public enum SpecialFunctions {
    /// ln Γ(x) for x > 0.
    @inline(__always)
    public static func logGamma(_ x: Double) -> Double { Foundation.lgamma(x) }

    /// ψ(x) = d/dx ln Γ(x) for x > 0: recurrence up to x ≥ 10, then the asymptotic series
    /// (error below 1e-15 there).
    public static func digamma(_ x: Double) -> Double {
        var x = x
        var result = 0.0
        while x < 10 {
            result -= 1 / x
            x += 1
        }
        let inverse = 1 / x
        let inverse2 = inverse * inverse
        result += Foundation.log(x) - 0.5 * inverse
            - inverse2 * (1.0 / 12 - inverse2 * (1.0 / 120 - inverse2 * (1.0 / 252 - inverse2 * (1.0 / 240 - inverse2 / 132))))
        return result
    }

    /// The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1, summed as a power series
    /// to a relative precision of 1e-15 (at most 200,000 terms; the models use z well below 1).
    public static func hypergeometric2F1(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
        precondition(z >= 0 && z < 1, "₂F₁ is summed for 0 ≤ z < 1 only")
        var term = 1.0
        var sum = 1.0
        var n = 0.0
        while n < 200_000 {
            term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
            sum += term
            if Swift.abs(term) <= 1e-15 * Swift.abs(sum) { break }
            n += 1
        }
        return sum
    }
}

/// A small BFGS minimizer with a backtracking (Armijo) line search, for smooth objectives with an
/// analytic gradient. Robust enough for likelihoods fitted on log-parameters: a step that leaves
/// the finite region is shortened, and the inverse-Hessian update is skipped when the curvature
/// condition fails.
public struct BFGSMinimizer: Sendable {
    /// Stop when the gradient's largest component falls below this.
    public var gradientTolerance: Double = 1e-9
    /// Stop when a step changes the objective by less than this (relative).
    public var valueTolerance: Double = 1e-14
    public var maximumIterations: Int = 1000
    /// Stop (not converged) once a coordinate's magnitude exceeds this: fitted on log-parameters,
    /// that is a parameter beyond e^±25 — the likelihood is drifting to a degenerate limit (e.g.
    /// no heterogeneity left to explain), where more iterations only cost time.
    public var coordinateLimit: Double = 25

    public init() {}

    /// The result of a minimization.
    public struct Result: Sendable {
        public var point: [Double]
        public var value: Double
        public var iterations: Int
        public var converged: Bool
    }

    /// Minimizes `objective`, which returns the value and the gradient at a point.
    public func minimize(from start: [Double], _ objective: ([Double]) -> (value: Double, gradient: [Double])) -> Result {
        let n = start.count
        var x = start
        var (f, g) = objective(x)
        var h = identity(n)
        var iterations = 0
        var converged = false
        while iterations < maximumIterations {
            iterations += 1
            if g.map({ Swift.abs($0) }).max() ?? 0 < gradientTolerance { converged = true; break }
            var direction = multiply(h, g).map { -$0 }
            var slope = dot(direction, g)
            if slope >= 0 {  // not a descent direction: restart from steepest descent
                h = identity(n)
                direction = g.map { -$0 }
                slope = dot(direction, g)
            }
            var step = 1.0
            var next = x
            var fNext = Double.infinity
            var gNext = g
            for _ in 0..<60 {
                next = zip(x, direction).map { $0 + step * $1 }
                (fNext, gNext) = objective(next)
                if fNext.isFinite, fNext <= f + 1e-4 * step * slope { break }
                step *= 0.5
            }
            guard fNext.isFinite, fNext <= f else { converged = true; break }  // no further progress possible
            if next.contains(where: { Swift.abs($0) > coordinateLimit }) {
                x = next
                f = fNext
                break
            }
            let s = zip(next, x).map { $0 - $1 }
            let y = zip(gNext, g).map { $0 - $1 }
            let change = Swift.abs(f - fNext)
            x = next
            f = fNext
            g = gNext
            let sy = dot(s, y)
            if sy > 1e-12 {
                let hy = multiply(h, y)
                let yhy = dot(y, hy)
                for i in 0..<n {
                    for j in 0..<n {
                        h[i][j] += (sy + yhy) * s[i] * s[j] / (sy * sy) - (hy[i] * s[j] + s[i] * hy[j]) / sy
                    }
                }
            }
            if change <= valueTolerance * max(1, Swift.abs(f)), g.map({ Swift.abs($0) }).max() ?? 0 < 1e-6 {
                converged = true
                break
            }
        }
        return Result(point: x, value: f, iterations: iterations, converged: converged)
    }

    private func identity(_ n: Int) -> [[Double]] {
        (0..<n).map { i in (0..<n).map { $0 == i ? 1 : 0 } }
    }

    private func multiply(_ m: [[Double]], _ v: [Double]) -> [Double] {
        m.map { dot($0, v) }
    }

    private func dot(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
    }
}

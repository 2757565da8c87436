import ClienteleDomain
import ClienteleStore
import Foundation

/// Fits the purchase model (BG/NBD or MBG/NBD) and the Gamma-Gamma spend model on every client's
/// purchase history in the store, and saves both as new model versions (which the workers then
/// pick up).
public enum ModelFitting {
    /// A fit that cannot be saved, and why.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public enum Code: String, Sendable { case tooFewClients = "too_few_clients", degenerate = "degenerate_fit" }
        public var code: Code
        public var message: String
        public var description: String { message }
    }

    /// Both fits and their saved versions.
    public struct Outcome: Sendable {
        public var purchases: BGNBDModel.Fit
        public var spend: GammaGammaModel.Fit
        public var savedPurchases: StoredModel
        /// Nil when the spend fit was degenerate (``spendProblem`` says why): CLV then uses each
        /// client's own mean purchase value.
        public var savedSpend: StoredModel?
        public var spendProblem: String?
        /// Clients with at least one purchase by the calibration end.
        public var clients: Int
        /// Reading the histories and fitting.
        public var duration: Duration
    }

    /// Fits as of the end of `asOf`'s day; throws ``Failure`` without saving anything when there
    /// are fewer than `minimumClients` clients or the purchase fit is degenerate.
    public static func fitAndSave(
        store: any ClientStore, asOf: Timestamp, variant: BGNBDModel.Variant, minimumClients: Int = 10
    ) async throws -> Outcome {
        let started = ContinuousClock.now
        let histories = Array(try await store.purchaseHistories(asOf: asOf).values)
        guard histories.count >= minimumClients else {
            throw Failure(code: .tooFewClients, message: "only \(histories.count) clients with purchases by \(asOf): too few to fit a model")
        }
        let purchases = BGNBDModel.fit(histories, variant: variant)
        if let problem = purchases.model.problem {
            throw Failure(code: .degenerate, message: "\(variant.rawValue) fit not saved: \(problem)")
        }
        let spend = GammaGammaModel.fit(histories)
        let duration = ContinuousClock.now - started
        let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        let p = purchases.model.parameters
        let g = spend.model.parameters
        let savedPurchases = try await store.saveModel(StoredModel(
            kind: variant.rawValue, parametersJSON: #"{"r":\#(p.r),"alpha":\#(p.alpha),"a":\#(p.a),"b":\#(p.b)}"#,
            logLikelihood: purchases.logLikelihood, clients: purchases.clients, asOf: asOf, fittedAt: now))
        let spendProblem = spend.model.problem
        var savedSpend: StoredModel?
        if spendProblem == nil {
            savedSpend = try await store.saveModel(StoredModel(
                kind: "gamma-gamma", parametersJSON: #"{"p":\#(g.p),"q":\#(g.q),"v":\#(g.v)}"#,
                logLikelihood: spend.logLikelihood, clients: spend.clients, asOf: asOf, fittedAt: now))
        }
        return Outcome(purchases: purchases, spend: spend, savedPurchases: savedPurchases, savedSpend: savedSpend,
                       spendProblem: spendProblem, clients: histories.count, duration: duration)
    }
}

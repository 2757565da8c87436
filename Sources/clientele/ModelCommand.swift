import ArgumentParser
import ClienteleDomain
import ClienteleStore
import Foundation

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Fit and inspect the churn and value models.", subcommands: [Fit.self])

    struct Fit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit BG/NBD (or MBG/NBD) and Gamma-Gamma on every client's purchase history and store them as new versions.",
            discussion: """
                Builds (x, tx, T) and the mean repeat value for every client from the store's purchase \
                days up to the end of --as-of's day, fits both models by maximum likelihood, saves them \
                as new model versions (workers pick up the newest) and prints the parameters.
                """)

        @OptionGroup var database: DatabaseOptions
        @Option(name: .customLong("as-of"), help: "Calibration end, RFC 3339 or YYYY-MM-DD (default: now).") var asOf: String?
        @Option(help: "Purchase model: mbgnbd (one-time buyers fade; the default) or bgnbd.") var variant = "mbgnbd"

        func run() async throws {
            guard let variant = BGNBDModel.Variant(rawValue: variant) else { throw ValidationError("--variant must be mbgnbd or bgnbd") }
            let calibrationEnd: Timestamp
            if let asOf {
                guard let parsed = Timestamp(rfc3339: asOf) ?? Timestamp(rfc3339: asOf + "T23:59:59Z") else {
                    throw ValidationError("--as-of must be an RFC 3339 timestamp or a date YYYY-MM-DD (got '\(asOf)')")
                }
                calibrationEnd = parsed
            } else {
                calibrationEnd = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
            }
            let store = try database.openStore()
            let started = ContinuousClock.now
            let histories = Array(try await store.purchaseHistories(asOf: calibrationEnd).values)
            guard histories.count >= 10 else {
                printError("only \(histories.count) clients with purchases by \(calibrationEnd): too few to fit a model")
                throw ExitCode(1)
            }
            let purchases = BGNBDModel.fit(histories, variant: variant)
            let spend = GammaGammaModel.fit(histories)
            if let problem = purchases.model.problem {
                printError("\(variant.rawValue) fit not saved: \(problem)")
                throw ExitCode(1)
            }
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
            let p = purchases.model.parameters
            let g = spend.model.parameters
            let savedPurchases = try await store.saveModel(StoredModel(
                kind: variant.rawValue, parametersJSON: #"{"r":\#(p.r),"alpha":\#(p.alpha),"a":\#(p.a),"b":\#(p.b)}"#,
                logLikelihood: purchases.logLikelihood, clients: purchases.clients, asOf: calibrationEnd, fittedAt: now))
            let savedSpend = try await store.saveModel(StoredModel(
                kind: "gamma-gamma", parametersJSON: #"{"p":\#(g.p),"q":\#(g.q),"v":\#(g.v)}"#,
                logLikelihood: spend.logLikelihood, clients: spend.clients, asOf: calibrationEnd, fittedAt: now))
            print("as of \(calibrationEnd): \(histories.count) clients, fitted in \(String(format: "%.2f", seconds)) s")
            print(String(format: "%@ v%d   r %.6f  alpha %.6f  a %.6f  b %.6f   LL %.3f  (%d iterations%@)",
                         variant.rawValue, savedPurchases.version, p.r, p.alpha, p.a, p.b, purchases.logLikelihood,
                         purchases.iterations, purchases.converged ? "" : ", NOT converged"))
            print(String(format: "gamma-gamma v%d   p %.6f  q %.6f  v %.6f   LL %.3f  (%d repeat clients, %d iterations%@)",
                         savedSpend.version, g.p, g.q, g.v, spend.logLikelihood, spend.clients, spend.iterations,
                         spend.converged ? "" : ", NOT converged"))
        }
    }
}

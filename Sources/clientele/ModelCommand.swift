import ArgumentParser
import ClienteleDomain
import ClienteleRuntime
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
            let outcome: ModelFitting.Outcome
            do {
                outcome = try await ModelFitting.fitAndSave(store: store, asOf: calibrationEnd, variant: variant)
            } catch let failure as ModelFitting.Failure {
                printError(failure.message)
                throw ExitCode(1)
            }
            let (purchases, spend) = (outcome.purchases, outcome.spend)
            let (savedPurchases, savedSpend) = (outcome.savedPurchases, outcome.savedSpend)
            let seconds = outcome.duration / .seconds(1)
            let histories = outcome.clients
            let p = purchases.model.parameters
            let g = spend.model.parameters
            print("as of \(calibrationEnd): \(histories) clients, fitted in \(String(format: "%.2f", seconds)) s")
            print(String(format: "%@ v%d   r %.6f  alpha %.6f  a %.6f  b %.6f   LL %.3f  (%d iterations%@)",
                         variant.rawValue, savedPurchases.version, p.r, p.alpha, p.a, p.b, purchases.logLikelihood,
                         purchases.iterations, purchases.converged ? "" : ", NOT converged"))
            if let savedSpend {
                print(String(format: "gamma-gamma v%d   p %.6f  q %.6f  v %.6f   LL %.3f  (%d repeat clients, %d iterations%@)",
                             savedSpend.version, g.p, g.q, g.v, spend.logLikelihood, spend.clients, spend.iterations,
                             spend.converged ? "" : ", NOT converged"))
            } else {
                printError("gamma-gamma fit not saved: \(outcome.spendProblem ?? "degenerate"); CLV uses each client's own mean purchase value")
            }
        }
    }
}

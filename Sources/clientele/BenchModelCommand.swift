import ArgumentParser
import ClienteleDomain
import ClienteleWorkload
import Foundation

struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-model",
        abstract: "Time BG/NBD fits on synthetic histories simulated from known parameters.")

    @Option(help: "Synthetic clients.") var clients = 1_000_000
    @Option(help: "Model variant: bgnbd or mbgnbd.") var variant = "bgnbd"

    func run() throws {
        guard let variant = BGNBDModel.Variant(rawValue: variant) else { throw ValidationError("--variant must be bgnbd or mbgnbd") }
        let truth = BGNBDModel.Parameters(r: 0.25, alpha: 4.0, a: 0.8, b: 2.5)
        let simulated = ContinuousClock.now
        let histories = SyntheticHistories(parameters: truth, variant: variant, clients: clients).histories()
        let fitting = ContinuousClock.now
        let fit = BGNBDModel.fit(histories, variant: variant)
        let done = ContinuousClock.now
        let p = fit.model.parameters
        print(String(format: "simulated %d clients in %.2f s", clients, (fitting - simulated) / .seconds(1)))
        print(String(format: "%@ fit: %.2f s, %d iterations, LL %.1f; r %.4f α %.4f a %.4f b %.4f (simulated with r %.2f α %.2f a %.2f b %.2f)",
                     variant.rawValue, (done - fitting) / .seconds(1), fit.iterations, fit.logLikelihood,
                     p.r, p.alpha, p.a, p.b, truth.r, truth.alpha, truth.a, truth.b))
    }
}

import ArgumentParser
import ClienteleWorkload
import Foundation

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write generated purchase events as JSON lines to standard output.")

    @Option(help: "Number of distinct clients.") var clients = 2000
    @Option(help: "Number of purchase events.") var purchases = 20_000
    @Option(help: "Random seed (the same seed gives the same events).") var seed: UInt64 = 42

    func validate() throws {
        guard clients >= 1, purchases >= 1 else { throw ValidationError("--clients and --purchases must be at least 1") }
    }

    func run() throws {
        let generator = PurchaseGenerator(clients: clients, purchases: purchases, seed: seed)
        var buffer = ""
        for line in generator.lines() {
            buffer += line.json + "\n"
            if buffer.utf8.count > 1 << 20 {
                FileHandle.standardOutput.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        FileHandle.standardOutput.write(Data(buffer.utf8))
    }
}

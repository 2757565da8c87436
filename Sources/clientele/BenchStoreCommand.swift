import ArgumentParser
import ClienteleDomain
import ClienteleStore
import ClienteleWorkload
import Foundation

struct BenchStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store",
        abstract: "Measure the store alone: decode and apply generated purchases in batches, no Kafka.")

    @Option(help: "Purchases to apply.") var events = 200_000
    @Option(help: "Distinct clients.") var clients = 20_000
    @Option(help: "Events per store transaction.") var batchSize = 10_000
    @Option(help: "Store URL (a fresh SQLite file by default).") var database = "sqlite:bench-output/store-bench.sqlite"
    @Flag(help: "After each batch, read and delete its outbox messages as the relay does (no Kafka), and time that too.")
    var relay = false

    func run() async throws {
        let url = try DatabaseURL(parsing: database)
        if case .sqlite(let path, _) = url {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let store = try StoreOpener.open(url)
        let lines = PurchaseGenerator(clients: clients, purchases: events, seed: 11).lines().map { Array($0.json.utf8) }
        let rules = ClientRules()
        var decodeTime = Duration.zero
        var writeTime = Duration.zero
        var relayTime = Duration.zero
        var relayed = 0
        for start in stride(from: 0, to: lines.count, by: batchSize) {
            let t0 = ContinuousClock.now
            let batch = try lines[start..<min(start + batchSize, lines.count)].map { try PurchaseEvent.decode($0) }
            let t1 = ContinuousClock.now
            _ = try await store.apply(batch, rules: rules)
            let t2 = ContinuousClock.now
            decodeTime += t1 - t0
            writeTime += t2 - t1
            if relay {
                while true {
                    let pending = try await store.pendingOutbox(limit: 5000)
                    if pending.isEmpty { break }
                    try await store.markPublished(pending.map(\.id))
                    relayed += pending.count
                }
                relayTime += ContinuousClock.now - t2
            }
        }
        let seconds = { (d: Duration) in d / .seconds(1) }
        print(String(format: "decode: %.0f events/s (%.2f s)   store apply: %.0f events/s (%.2f s)   together: %.0f events/s",
                     Double(events) / seconds(decodeTime), seconds(decodeTime),
                     Double(events) / seconds(writeTime), seconds(writeTime),
                     Double(events) / seconds(decodeTime + writeTime)))
        if relay {
            print(String(format: "relay (store side): %d messages, %.0f messages/s (%.2f s)",
                         relayed, Double(relayed) / seconds(relayTime), seconds(relayTime)))
        }
    }
}

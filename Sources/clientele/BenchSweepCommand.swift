import ArgumentParser
import ClienteleDomain
import ClienteleRuntime
import ClienteleStore
import Foundation
import ClienteleWorkload
import Logging

struct BenchSweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-sweep",
        abstract: "Measure the churn sweep: store many clients of which a share is due, then review the due ones.",
        discussion: """
            Seeds --clients clients through the store (one to four purchases each, review times \
            set as the workers set them), of which --due-percent bought last long ago and are due \
            for review now; then runs the churn-worker's sweep and prints how long it took. With \
            --model, an MBG/NBD and a Gamma-Gamma model are fitted on the seeded store first and \
            every review time recomputed with them (timed too).
            """)

    @Option(help: "Clients to store.") var clients = 1_000_000
    @Option(name: .customLong("due-percent"), help: "Share of the clients due for review, in percent.") var duePercent = 1.0
    @Option(help: "Clients reviewed per transaction.") var batchSize = 5000
    @Flag(help: "Fit the models on the seeded store and judge churn with them.") var model = false
    @Option(help: "Store URL (a fresh SQLite file by default).") var database = "sqlite:bench-output/sweep-bench.sqlite"
    @Flag(name: .customLong("reuse-seed"), help: "Keep the seeded store as FILE.seed and start from a copy of it next time (SQLite only).")
    var reuseSeed = false

    func run() async throws {
        guard clients > 0, duePercent >= 0, duePercent <= 100 else { throw ValidationError("--clients must be positive and --due-percent 0–100") }
        bootstrapCommandLogging(.warning)
        let url = try DatabaseURL(parsing: database)
        if case .sqlite(let path, _) = url {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        var seeded = false
        if reuseSeed, case .sqlite(let path, _) = url, FileManager.default.fileExists(atPath: path + ".seed") {
            try FileManager.default.copyItem(atPath: path + ".seed", toPath: path)
            // Written back to disk now, not during the measured sweep.
            try FileHandle(forUpdating: URL(fileURLWithPath: path)).synchronize()
            seeded = true
            print("starting from the seeded store \(path).seed")
        }
        // A throwaway key for a PostgreSQL benchmark database (SQLite: the file beside it).
        let key: DeploymentKeySource = if case .postgres = url { .key(DeploymentKey.random()) } else { .besideStore }
        let store = try StoreOpener.open(url, key: key)
        try await store.waitUntilReady()
        // WAL checkpoints beside the writes, as in a worker process.
        let maintenance = Task { try? await StoreMaintenance(store: store, logger: Logger(label: "bench-sweep")).run() }
        defer { maintenance.cancel() }
        let sector = SectorLimits(name: "general", atRiskAfterDays: 90, passiveAfterDays: 365)
        let churn = ChurnConfiguration(rules: RecencyRules(sector: sector), sweepBatchSize: batchSize)
        let origin = Timestamp(rfc3339: "2025-01-01T00:00:00Z")!
        let today = 400
        let now = Timestamp(day: origin.day + today).adding(seconds: 12 * 3600)

        let seedStarted = ContinuousClock.now
        let rules = ClientRules(churn: churn.policy(models: nil))
        let purchaseDays = seeded ? [] : model ? modelHistories(today: today) : ruleHistories(today: today)
        var generator = SystemRandomNumberGenerator()
        var batch: [PurchaseEvent] = []
        var events = 0
        for (index, days) in purchaseDays.enumerated() {
            let id = String(format: "C%08d", index)
            // Each client spends around a mean of their own (what the spend model needs to find).
            let mean = Int64.random(in: 10...200, using: &generator)
            for (n, day) in days.enumerated() {
                batch.append(PurchaseEvent(
                    eventId: "\(id)-\(n)", clientId: id,
                    occurredAt: Timestamp(day: origin.day + day).adding(seconds: Int64.random(in: 0..<86_400, using: &generator)),
                    amount: Money(units: Int64.random(in: (mean / 2)...(mean * 3 / 2), using: &generator) * Money.scale),
                    currency: Currency(code: "EUR")!))
            }
            if batch.count >= 20_000 || index == clients - 1 {
                events += batch.count
                _ = try await store.apply(batch, rules: rules)
                batch.removeAll(keepingCapacity: true)
                // As the outbox relay would: what was written is published and removed.
                while case let pending = try await store.pendingOutbox(limit: 50_000), !pending.isEmpty {
                    try await store.markPublished(pending.map(\.id))
                }
            }
        }
        if !seeded {
            print(String(format: "seeded %d clients (%d purchases) in %.1f s", clients, events, (ContinuousClock.now - seedStarted) / .seconds(1)))
            if reuseSeed, case .sqlite(let path, _) = url {
                try await (store as? SQLiteClientStore)?.purgeWriteAheadLog()
                try? FileManager.default.removeItem(atPath: path + ".seed")
                try FileManager.default.copyItem(atPath: path, toPath: path + ".seed")
            }
        }

        let policies = ChurnPolicySource(configuration: churn, store: store, logger: Logger(label: "bench-sweep"))
        if model {
            let outcome = try await ModelFitting.fitAndSave(store: store, asOf: now, variant: .mbgnbd)
            let p = outcome.purchases.model.parameters
            print(String(format: "fitted MBG/NBD (r %.4f alpha %.4f a %.4f b %.4f) and Gamma-Gamma on %d histories (read and fit) in %.2f s",
                         p.r, p.alpha, p.a, p.b, outcome.clients, outcome.duration / .seconds(1)))
        }
        let worker = ChurnWorker(store: store, policies: policies, relay: nil, clock: .wall, configuration: churn, logger: Logger(label: "bench-sweep"))
        let rescheduleStarted = ContinuousClock.now
        try await worker.rescheduleIfNeeded(try await policies.refresh())
        print(String(format: "review times %@ for %d clients in %.2f s", model ? "recomputed with the model" : "checked",
                     clients, (ContinuousClock.now - rescheduleStarted) / .seconds(1)))

        if model {
            // The model makes many clients due at once (everyone it judges lapsed); a live worker
            // clears that once, then sweeps only those crossing since its last sweep.
            let catchUp = try await timedSweep(worker, at: now, label: "catch-up sweep at the calibration end")
            _ = catchUp
            for days in [1, 3, 7] {
                try await timedSweep(worker, at: now.adding(seconds: Int64(days) * 86_400), label: "sweep \(days) day(s) later")
            }
        } else {
            try await timedSweep(worker, at: now, label: "sweep")
        }
        let again = try await worker.sweep(at: now)
        print("another sweep at the same time: \(again.reviewed) clients due")
    }

    @discardableResult
    private func timedSweep(_ worker: ChurnWorker, at now: Timestamp, label: String) async throws -> ReviewOutcome {
        let started = ContinuousClock.now
        let outcome = try await worker.sweep(at: now)
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print("\(label): \(outcome.reviewed) of \(clients) clients due ("
            + String(format: "%.2f%%), reviewed in %.3f s (%.0f reviews/s)", 100 * Double(outcome.reviewed) / Double(clients), seconds,
                     Double(outcome.reviewed) / max(seconds, 1e-9))
            + ": \(outcome.statusChanges) status changes, \(outcome.churnRisks) churn-risk events, \(outcome.tasks) tasks")
        return outcome
    }

    /// Purchase days (relative to the origin) per client: the due share bought once, long ago;
    /// the others one to four times in the last 20 days (not due under the recency rules).
    private func ruleHistories(today: Int) -> [[Int]] {
        let dueEvery = duePercent > 0 ? max(1, Int((100 / duePercent).rounded())) : Int.max
        var generator = SystemRandomNumberGenerator()
        return (0..<clients).map { index in
            index % dueEvery == 0
                ? [Int.random(in: 0...200, using: &generator)]
                : (0..<Int.random(in: 1...4, using: &generator)).map { _ in Int.random(in: (today - 20)...(today - 1), using: &generator) }
        }
    }

    /// Purchase days simulated from MBG/NBD with CDNOW's parameters (clients joining over a year).
    private func modelHistories(today: Int) -> [[Int]] {
        let summaries = SyntheticHistories(
            parameters: .init(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426), variant: .mbgnbd, clients: clients, cohortWeeks: 52, seed: 7
        ).histories()
        return summaries.map { summary in
            let first = today - Int((summary.T * 7).rounded())
            let last = first + Int((summary.tx * 7).rounded())
            let repeats = Int(summary.x)
            guard repeats > 0 else { return [first] }
            return [first] + (1...repeats).map { first + (last - first) * $0 / repeats }
        }
    }
}

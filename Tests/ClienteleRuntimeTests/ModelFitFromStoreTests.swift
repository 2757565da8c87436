import ClienteleDomain
import ClienteleRuntime
import ClienteleStore
import ClienteleWorkload
import Foundation
import Testing

@Suite("models fitted on the store")
struct ModelFitFromStoreTests {
    @Test("the CDNOW sample applied through the purchase worker's rules and fitted as of 1997-09-30 reproduces the published models")
    func cdnowThroughTheStore() async throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ClienteleDomainTests/Fixtures/CDNOW_sample.txt")
        let events = try CDNOWFormat.events(from: String(contentsOf: fixtures, encoding: .utf8))
            .map { try PurchaseEvent.decode(Array($0.json.utf8)) }
        let directory = NSTemporaryDirectory() + "clientele-fit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteClientStore(path: directory + "/store.sqlite")
        for start in stride(from: 0, to: events.count, by: 1000) {
            _ = try await store.apply(Array(events[start..<min(start + 1000, events.count)]), rules: ClientRules())
        }
        let histories = try await store.purchaseHistories(asOf: Timestamp(rfc3339: "1997-09-30T12:00:00Z")!)
        #expect(histories.count == 2357)

        let outcome = try await ModelFitting.fitAndSave(store: store, asOf: Timestamp(rfc3339: "1997-09-30T12:00:00Z")!, variant: .bgnbd)
        let fit = outcome.purchases
        let p = fit.model.parameters
        #expect(outcome.clients == 2357)
        #expect(abs(p.r / 0.242593 - 1) < 0.005, "r = \(p.r)")
        #expect(abs(p.alpha / 4.413532 - 1) < 0.005, "α = \(p.alpha)")
        #expect(abs(p.a / 0.792886 - 1) < 0.005, "a = \(p.a)")
        #expect(abs(p.b / 2.425754 - 1) < 0.005, "b = \(p.b)")
        #expect(abs(fit.logLikelihood - -9582.426) < 0.1, "LL = \(fit.logLikelihood)")
        let spend = outcome.spend
        #expect(spend.clients == 946)
        #expect(abs(spend.model.parameters.p / 6.25 - 1) < 0.01)
        #expect(abs(spend.model.parameters.q / 3.74 - 1) < 0.01)
        #expect(abs(spend.model.parameters.v / 15.44 - 1) < 0.01)
        let saved = outcome.savedPurchases
        let newest = try #require(try await store.newestModel(kind: "bgnbd"))
        #expect(newest.version == saved.version)
        #expect(abs((newest.parameters["r"] ?? 0) - p.r) < 1e-12)
        // The churn policy reads the saved pair back.
        let models = try #require(try await ChurnPolicySource.newestModels(kind: .bgnbd, store: store))
        #expect(models.purchases.parameters == p && models.version == saved.version)
        #expect(models.spend?.parameters == spend.model.parameters)
        #expect(models.label == "bgnbd:1997-09-30")
    }
}

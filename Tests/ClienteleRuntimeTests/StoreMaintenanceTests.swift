import ClienteleDomain
import ClienteleRuntime
import ClienteleStore
import Foundation
import Logging
import Testing

@Suite("store upkeep in a worker")
struct StoreMaintenanceTests {
    static let origin = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!

    @Test("the retention pass forgets the event records older than the retention before the newest event, in steps")
    func retentionPass() async throws {
        let directory = NSTemporaryDirectory() + "clientele-maintenance-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteClientStore(path: directory + "/store.sqlite")
        // 5,000 purchases over 50 days (100 a day, more than one step of the pass); the newest read is day 49.
        let events = (0..<5_000).map { index in
            PurchaseEvent(eventId: "p\(index)", clientId: "C\(index % 700)", occurredAt: Self.origin.adding(seconds: Int64(index / 100) * 86_400 + 60),
                          amount: Money(jsonNumber: "12")!, currency: Currency(code: "EUR")!)
        }
        _ = try await store.apply(events, rules: ClientRules(), newestEventTimes: ["purchases/0": events.last!.occurredAt])
        #expect(try await store.acceptedEventCount() == 5_000)

        // The horizon is day 19 00:01 (30 days before the newest event): days 19–49 stay, 3,100 events.
        let upkeep = Task {
            try await StoreMaintenance(store: store, interval: .milliseconds(5), retentionDays: 30, firstPassAfter: .zero,
                                       logger: Logger(label: "test")).run()
        }
        defer { upkeep.cancel() }
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while try await store.acceptedEventCount() > 3_100, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await store.acceptedEventCount() == 3_100)
        // A redelivery of a kept event is still a duplicate.
        let again = try await store.apply([events[4_000]], rules: ClientRules())
        #expect(again.duplicates == 1)
    }
}

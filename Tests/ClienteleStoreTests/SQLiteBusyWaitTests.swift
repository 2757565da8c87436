import ClienteleDomain
@testable import ClienteleStore
import Foundation
import GRDB
import Testing

/// A writer that finds the SQLite file's write lock taken by another connection waits for it
/// (trying again every millisecond) until the busy timeout, then fails without losing the batch.
@Suite("SQLite busy wait")
struct SQLiteBusyWaitTests {
    @Test("the tries span the timeout: 1 ms apart for two seconds, then 10 ms")
    func triesSpanTheTimeout() {
        #expect(SQLiteBusyWait.maximumTries(timeout: 0) == 0)
        #expect(SQLiteBusyWait.maximumTries(timeout: 0.3) == 300)
        #expect(SQLiteBusyWait.maximumTries(timeout: 2) == 2000)
        #expect(SQLiteBusyWait.maximumTries(timeout: 30) == 2000 + 2800)
        let callback = SQLiteBusyWait.callback(timeout: 0.002)
        #expect(callback(0) && callback(1))
        #expect(!callback(2))
    }

    /// Holds the file's write lock on a connection of its own (as another process would) for
    /// `duration`; returns once the lock is taken.
    private func holdWriteLock(_ path: String, for duration: TimeInterval) throws -> Task<Void, any Error> {
        let queue = try DatabaseQueue(path: path)
        let taken = DispatchSemaphore(value: 0)
        let task = Task.detached {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                taken.signal()
                Thread.sleep(forTimeInterval: duration)
                try db.execute(sql: "COMMIT")
            }
        }
        taken.wait()
        return task
    }

    @Test("a batch waits for a lock held shorter than the busy timeout and is applied")
    func waitsForTheLock() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = try SQLiteClientStore(path: database.path, busyTimeout: 5, key: .key(database.key))
        let holder = try holdWriteLock(database.path, for: 0.3)
        let outcome = try await store.apply([purchase("p1", client: "A", day: 0)], rules: clientRules)
        try await holder.value
        #expect(outcome.accepted == 1)
        #expect(try await store.client(id: "A", recent: 1)?.state.purchaseCount == 1)
    }

    @Test("a lock held past the busy timeout fails the batch, which applies in full once retried")
    func failsPastTheTimeout() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = try SQLiteClientStore(path: database.path, busyTimeout: 0.2, key: .key(database.key))
        let holder = try holdWriteLock(database.path, for: 1.5)
        await #expect(throws: (any Error).self) {
            try await store.apply([purchase("p1", client: "A", day: 0)], rules: clientRules)
        }
        try await holder.value
        let outcome = try await store.apply([purchase("p1", client: "A", day: 0)], rules: clientRules)
        #expect(outcome.accepted == 1)
        #expect(try await store.client(id: "A", recent: 1)?.state.purchaseCount == 1)
    }
}

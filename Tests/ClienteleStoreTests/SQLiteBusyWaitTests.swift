import ClienteleDomain
@testable import ClienteleStore
import Foundation
import GRDB
import Testing

/// A writer that finds the SQLite file's write lock taken by another connection waits for it
/// (trying again every millisecond) until the busy timeout, then fails without losing the batch.
@Suite("SQLite busy wait", .timeLimit(.minutes(1)))
struct SQLiteBusyWaitTests {
    @Test("the tries, a millisecond apart, span the timeout")
    func triesSpanTheTimeout() {
        #expect(SQLiteBusyWait.maximumTries(timeout: 0) == 0)
        #expect(SQLiteBusyWait.maximumTries(timeout: 0.3) == 300)
        #expect(SQLiteBusyWait.maximumTries(timeout: 30) == 30_000)
        let callback = SQLiteBusyWait.callback(timeout: 0.002)
        #expect(callback(0) && callback(1))
        #expect(!callback(2))
    }

    /// The file's write lock held on a connection and thread of their own, as another process
    /// would hold it (no thread of the concurrency pool blocks meanwhile).
    private final class LockHolder: @unchecked Sendable {
        private let released = DispatchSemaphore(value: 0)
        private let finished = DispatchSemaphore(value: 0)

        /// Returns once the lock is taken.
        init(_ path: String) async throws {
            let queue = try DatabaseQueue(path: path)
            try await withCheckedThrowingContinuation { (taken: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [released, finished] in
                    defer { finished.signal() }
                    do {
                        try queue.inDatabase { db in
                            try db.execute(sql: "BEGIN IMMEDIATE")
                            taken.resume()
                            released.wait()
                            try db.execute(sql: "COMMIT")
                        }
                    } catch {
                        taken.resume(throwing: error)
                    }
                }
                thread.start()
            }
        }

        /// Releases the lock after `delay` (on a thread of its own); returns at once.
        func release(after delay: TimeInterval) {
            let thread = Thread { [released] in
                Thread.sleep(forTimeInterval: delay)
                released.signal()
            }
            thread.start()
        }

        /// Releases the lock now and waits until it is given up.
        func releaseNow() async {
            released.signal()
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread { [finished] in
                    finished.wait()
                    done.resume()
                }
                thread.start()
            }
        }
    }

    /// Runs `body` with a store on a fresh file (waiting up to `busyTimeout` for the write lock)
    /// whose write lock another connection holds.
    private func withLockedStore(
        busyTimeout: Double, _ body: (SQLiteClientStore, LockHolder) async throws -> Void
    ) async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = try SQLiteClientStore(path: database.path, busyTimeout: busyTimeout, key: .key(database.key))
        try await body(store, try await LockHolder(database.path))
    }

    private let firstPurchase = [purchase("p1", client: "A", day: 0)]

    /// Applies the first purchase and checks it counted once.
    private func expectApplied(_ store: SQLiteClientStore) async throws {
        let outcome = try await store.apply(firstPurchase, rules: clientRules)
        #expect(outcome.accepted == 1)
        #expect(try await store.client(id: "A", recent: 1)?.state.purchaseCount == 1)
    }

    @Test("a batch waits for a lock held shorter than the busy timeout and is applied")
    func waitsForTheLock() async throws {
        try await withLockedStore(busyTimeout: 20) { store, holder in
            holder.release(after: 0.3)
            try await expectApplied(store)
        }
    }

    @Test("a lock held past the busy timeout fails the batch as busy; retried, it applies in full")
    func failsPastTheTimeout() async throws {
        try await withLockedStore(busyTimeout: 0.05) { store, holder in
            do {
                _ = try await store.apply(firstPurchase, rules: clientRules)
                Issue.record("the batch was applied while another connection held the write lock")
            } catch {
                #expect((error as? DatabaseError)?.resultCode == .SQLITE_BUSY, "\(error)")
            }
            await holder.releaseNow()
            try await expectApplied(store)
        }
    }
}

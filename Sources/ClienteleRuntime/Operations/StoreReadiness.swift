import ClienteleStore
import ServiceLifecycle

/// Waiting for the store at startup (a PostgreSQL that is down is waited for, with backoff).
enum StoreReadiness {
    /// Waits until `store` is usable, reporting the worker's loop as turning meanwhile: a database
    /// outage is not a liveness failure, since a restart would not bring the database back.
    /// Returns false when a graceful shutdown came first; rethrows what made the store unusable.
    static func wait(for store: any ClientStore, health: WorkerHealth?) async throws -> Bool {
        let beating = Task {
            while !Task.isCancelled {
                health?.loopTurned()
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { beating.cancel() }
        do {
            try await store.waitUntilReady()
        } catch where Task.isShuttingDownGracefully || error is CancellationError {
            return false
        }
        return !Task.isShuttingDownGracefully
    }
}

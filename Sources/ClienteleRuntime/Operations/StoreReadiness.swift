import ClienteleStore
import ServiceLifecycle

/// Waiting for the store at startup (a PostgreSQL that is down is waited for, with backoff).
enum StoreReadiness {
    /// Waits until `store` is usable, reporting the worker's loop as turning meanwhile: a database
    /// outage is not a liveness failure, since a restart would not bring the database back.
    /// Returns false when a graceful shutdown came first; rethrows what made the store unusable.
    /// `meanwhile` runs every second while waiting (a consumer serving its queued statistics).
    static func wait(
        for store: any ClientStore, health: WorkerHealth?, meanwhile: @escaping @Sendable () async -> Void = {}
    ) async throws -> Bool {
        let beating = Task {
            while !Task.isCancelled {
                health?.loopTurned()
                await meanwhile()
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

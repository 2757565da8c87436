import ClienteleStore
import Logging
import ServiceLifecycle

/// Runs the store's background upkeep (``ClientStore/performMaintenance()``) every `interval`
/// until shutdown, so the write path never pays for it.
public struct StoreMaintenance: Service {
    private let store: any ClientStore
    private let interval: Duration
    private let logger: Logger

    public init(store: any ClientStore, interval: Duration = .seconds(1), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.performMaintenance()
            } catch {
                logger.warning("store maintenance failed; retrying", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}

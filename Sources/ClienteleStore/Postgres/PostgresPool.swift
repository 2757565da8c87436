import Logging
import PostgresNIO
import Synchronization

/// The store's connection pool, replaceable: postgres-nio 1.33's pool can stay wedged after the
/// server restarted under load (a lease that never returns, no new connection tried), so an
/// operation that outlives its deadline replaces the whole pool and is run again on a fresh one.
final class PostgresPool: Sendable {
    private struct Current {
        var client: PostgresClient
        var runner: Task<Void, Never>
        var generation: Int
    }

    private let configuration: PostgresClient.Configuration
    private let logger: Logger
    private let state: Mutex<Current?>

    init(configuration: PostgresClient.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        state = Mutex(Self.start(configuration, logger: logger, generation: 0))
    }

    private static func start(_ configuration: PostgresClient.Configuration, logger: Logger, generation: Int) -> Current {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return Current(client: client, runner: Task { await client.run() }, generation: generation)
    }

    /// The pool in use and its generation; nil once closed.
    func current() throws -> (client: PostgresClient, generation: Int) {
        guard let current = state.withLock({ $0 }) else { throw StoreError(.unavailable, "the PostgreSQL store is closed") }
        return (current.client, current.generation)
    }

    /// Replaces the pool of `generation` (if it is still the one in use) by a new one; the old
    /// one is shut down, failing whatever still waits on it.
    func replace(generation: Int) {
        let old: Task<Void, Never>? = state.withLock { current in
            guard let running = current, running.generation == generation else { return nil }
            current = Self.start(configuration, logger: logger, generation: generation + 1)
            return running.runner
        }
        if let old {
            logger.warning("replaced the database connection pool: an operation outlived its deadline", metadata: ["generation": "\(generation + 1)"])
            old.cancel()
        }
    }

    func close() {
        state.withLock { current in
            current?.runner.cancel()
            current = nil
        }
    }

    /// Runs `operation` on the current pool; past `deadline`, replaces the pool and throws
    /// ``Expired`` (the caller runs it again). A wedged operation does not answer cancellation,
    /// so it is raced rather than awaited: once abandoned, it is left to end with its old pool.
    func run<T: Sendable>(deadline: Duration, _ operation: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let (client, generation) = try current()
        let outcome = FirstOutcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.attach(continuation)
                outcome.work = Task {
                    do { outcome.finish(.success(try await operation(client))) } catch { outcome.finish(.failure(error)) }
                }
                outcome.timer = Task { [self] in
                    guard (try? await Task.sleep(for: deadline)) != nil else { return }
                    if outcome.finish(.failure(Expired())) { replace(generation: generation) }
                }
            }
        } onCancel: {
            outcome.cancel()
        }
    }

    /// Whichever of an operation and its deadline ends first resumes the caller, once.
    private final class FirstOutcome<T: Sendable>: @unchecked Sendable {
        private let lock = Mutex<(continuation: CheckedContinuation<T, any Error>?, result: Result<T, any Error>?)>((nil, nil))
        private let tasks = Mutex<(work: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))

        var work: Task<Void, Never>? {
            get { tasks.withLock { $0.work } }
            set { tasks.withLock { $0.work = newValue } }
        }
        var timer: Task<Void, Never>? {
            get { tasks.withLock { $0.timer } }
            set { tasks.withLock { $0.timer = newValue } }
        }

        func attach(_ continuation: CheckedContinuation<T, any Error>) {
            let early = lock.withLock { state -> Result<T, any Error>? in
                if let result = state.result { return result }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        /// Records the first outcome and resumes the caller with it; false for a later one.
        @discardableResult
        func finish(_ result: Result<T, any Error>) -> Bool {
            let (first, continuation) = lock.withLock { state -> (Bool, CheckedContinuation<T, any Error>?) in
                guard state.result == nil else { return (false, nil) }
                state.result = result
                defer { state.continuation = nil }
                return (true, state.continuation)
            }
            guard first else { return false }
            continuation?.resume(with: result)
            timer?.cancel()
            return true
        }

        func cancel() {
            work?.cancel()
            timer?.cancel()
            finish(.failure(CancellationError()))
        }
    }

    /// An operation outlived its deadline (its pool was replaced).
    struct Expired: Error {}
}

import Logging
import PostgresNIO
import Synchronization

/// The store's connection pool, replaceable.
///
/// postgres-nio 1.33's pool can stay wedged after the server restarted under load: a lease that
/// never returns and ignores cancellation, with no new connection tried. So the wait for a
/// connection — only the wait, never the work done with it — has a deadline: past it, the lease
/// is abandoned, a new pool replaces the old one, and the caller is told to run again
/// (``LeaseExpired``). Only a pool that lent no connection during the whole wait is replaced (one
/// that did is busy, not wedged), and the old pool is shut down once the operations that hold its
/// connections are done, so a long transaction is never cut short by the replacement.
final class PostgresPool: Sendable {
    private struct Generation: Sendable {
        var client: PostgresClient
        var runner: Task<Void, Never>
        var number: Int
        /// Operations holding one of its connections.
        var active: Int = 0
        /// When it last lent a connection: a pool that lent none for a whole deadline is wedged,
        /// one that did is only busy.
        var lastLent: ContinuousClock.Instant = .now
    }

    private struct State: Sendable {
        var current: Generation?
        /// Replaced pools still lending a connection, by number.
        var retired: [Int: Generation] = [:]
    }

    private let configuration: PostgresClient.Configuration
    private let logger: Logger
    private let state: Mutex<State>

    /// The wait for a connection that is given up (and the pool replaced).
    let leaseDeadline: Duration

    /// The wait for a connection outlived ``leaseDeadline``: the pool was replaced; run again.
    struct LeaseExpired: Error, CustomStringConvertible {
        var description: String { "no database connection within the lease deadline: the connection pool was replaced" }
    }

    init(configuration: PostgresClient.Configuration, leaseDeadline: Duration = .seconds(20), logger: Logger) {
        self.configuration = configuration
        self.leaseDeadline = leaseDeadline
        self.logger = logger
        state = Mutex(State(current: Self.start(configuration, number: 0, logger: logger)))
    }

    private static func start(_ configuration: PostgresClient.Configuration, number: Int, logger: Logger) -> Generation {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return Generation(client: client, runner: Task { await client.run() }, number: number)
    }

    /// Closes every pool; operations after this fail.
    func close() {
        let runners = state.withLock { state -> [Task<Void, Never>] in
            defer { state = State(current: nil) }
            return ([state.current] + state.retired.values.map { Optional($0) }).compactMap { $0?.runner }
        }
        for runner in runners { runner.cancel() }
    }

    /// Runs `body` with a connection of the current pool, waiting for it at most
    /// ``leaseDeadline`` (then the pool is replaced and ``LeaseExpired`` thrown). `body` itself
    /// runs as long as it takes — unless its connection closes under it and it does not fail by
    /// itself within ``closedGrace`` (postgres-nio 1.33 can leave a query waiting for ever on a
    /// connection the server closed while other connections were busy): then it is abandoned and
    /// ``ConnectionLost`` thrown, so the caller runs again on another connection.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        guard let generation = state.withLock({ $0.current }) else { throw StoreError(.unavailable, "the PostgreSQL store is closed") }
        let handoff = LeaseHandoff()
        let waitStarted = ContinuousClock.now
        // The lease is raced, not awaited: a wedged lease does not answer cancellation.
        let leaser = Task { [self, client = generation.client] in
            do {
                try await client.withConnection { connection in
                    // Counted before it is handed over, so the pool is not shut down under it.
                    guard begin(generation.number) else {
                        handoff.fail(LeaseExpired())
                        return
                    }
                    defer { end(generation.number) }
                    guard handoff.deliver(connection) else { return }
                    await handoff.waitUntilReturned()
                }
            } catch {
                handoff.fail(error)
            }
        }
        let timer = Task { [self, leaseDeadline] in
            guard (try? await Task.sleep(for: leaseDeadline)) != nil else { return }
            if handoff.abandon(with: LeaseExpired()) {
                leaser.cancel()
                replaceIfWedged(generation.number, waitingSince: waitStarted)
            }
        }
        let connection: PostgresConnection
        do {
            connection = try await withTaskCancellationHandler {
                try await handoff.connection()
            } onCancel: {
                if handoff.abandon(with: CancellationError()) { leaser.cancel() }
            }
        } catch {
            timer.cancel()
            // A lease failed because its pool was replaced meanwhile: run again on the new one.
            if !(error is CancellationError), state.withLock({ $0.current.map { $0.number != generation.number } ?? false }) {
                throw LeaseExpired()
            }
            throw error
        }
        timer.cancel()
        defer { handoff.giveBack() }
        return try await Self.watched(connection, grace: closedGrace, body)
    }

    /// How long an operation may go on once its connection closed before it is abandoned.
    let closedGrace: Duration = .seconds(2)

    /// The connection closed under an operation that did not fail by itself.
    struct ConnectionLost: Error, CustomStringConvertible {
        var description: String { "the database connection closed under a statement that never answered" }
    }

    /// Runs `body` in a task of its own, raced against its connection closing (checked twice a
    /// second): whichever comes first answers the caller.
    static func watched<T: Sendable>(
        _ connection: PostgresConnection, grace: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let outcome = FirstOutcome<T>()
        let work = Task {
            do { outcome.finish(.success(try await body(connection))) } catch { outcome.finish(.failure(error)) }
        }
        let watcher = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(500))
                if connection.isClosed {
                    try await Task.sleep(for: grace)
                    outcome.finish(.failure(ConnectionLost()))
                    return
                }
            }
        }
        defer { watcher.cancel() }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            work.cancel()
        }
    }

    /// One more operation holds a connection of pool `number`; false when that pool was shut down.
    private func begin(_ number: Int) -> Bool {
        state.withLock { state in
            if state.current?.number == number {
                state.current?.active += 1
                state.current?.lastLent = .now
                return true
            }
            guard state.retired[number] != nil else { return false }
            state.retired[number]?.active += 1
            return true
        }
    }

    /// One operation of pool `number` is done; a replaced pool left with none is shut down.
    private func end(_ number: Int) {
        let idle = state.withLock { state -> Task<Void, Never>? in
            if state.current?.number == number {
                state.current?.active -= 1
                return nil
            }
            state.retired[number]?.active -= 1
            guard let retired = state.retired[number], retired.active <= 0 else { return nil }
            state.retired[number] = nil
            return retired.runner
        }
        idle?.cancel()
    }

    /// Replaces pool `number` (if it is still the current one) by a new one — if it lent no
    /// connection since `waitingSince` (a pool that did is busy, not wedged: the caller just runs
    /// again).
    private func replaceIfWedged(_ number: Int, waitingSince: ContinuousClock.Instant) {
        let outcome = state.withLock { state -> (replaced: Bool, idle: Task<Void, Never>?) in
            guard let old = state.current, old.number == number, old.lastLent < waitingSince else { return (false, nil) }
            state.current = Self.start(configuration, number: number + 1, logger: logger)
            if old.active > 0 {
                state.retired[number] = old
                return (true, nil)
            }
            return (true, old.runner)
        }
        guard outcome.replaced else { return }
        logger.warning("replaced the database connection pool: no connection within the lease deadline", metadata: [
            "pool": "\(number + 1)", "deadlineSeconds": "\(leaseDeadline.components.seconds)",
        ])
        outcome.idle?.cancel()
    }
}

/// Hands a leased connection from the task that holds the lease to the caller, and tells that task
/// when the caller is done with it. Either side may come first; a caller that gave up (deadline,
/// cancellation) gets nothing, and a lease arriving after that is given back at once.
final class LeaseHandoff: Sendable {
    private enum State {
        /// Nothing yet, nobody waiting.
        case idle
        case awaiting(CheckedContinuation<PostgresConnection, any Error>)
        /// The lease came before the caller waited for it.
        case ready(PostgresConnection)
        case failed(any Error)
        /// The caller holds the connection.
        case inUse
        /// The caller gave up (with this error) before getting a connection.
        case abandoned(any Error)
        /// The caller is done with the connection.
        case returned
    }

    private let state = Mutex<State>(.idle)
    private let returnedSignal = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// The leasing task's side: hands `connection` over; false when the caller gave up.
    func deliver(_ connection: PostgresConnection) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<PostgresConnection, any Error>?) in
            switch state {
            case .idle:
                state = .ready(connection)
                return (true, nil)
            case .awaiting(let continuation):
                state = .inUse
                return (true, continuation)
            default:
                return (false, nil)
            }
        }
        waiter?.resume(returning: connection)
        return accepted
    }

    /// The leasing task's side: the lease failed.
    func fail(_ error: any Error) {
        let waiter = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
            switch state {
            case .idle:
                state = .failed(error)
                return nil
            case .awaiting(let continuation):
                state = .failed(error)
                return continuation
            default:
                return nil
            }
        }
        waiter?.resume(throwing: error)
    }

    /// The caller's side: the connection, once leased.
    func connection() async throws -> PostgresConnection {
        try await withCheckedThrowingContinuation { continuation in
            let now = state.withLock { state -> Result<PostgresConnection, any Error>? in
                switch state {
                case .idle:
                    state = .awaiting(continuation)
                    return nil
                case .ready(let connection):
                    state = .inUse
                    return .success(connection)
                case .failed(let error), .abandoned(let error):
                    return .failure(error)
                case .awaiting, .inUse, .returned:
                    return .failure(StoreError(.unavailable, "a connection lease was awaited twice"))
                }
            }
            if let now { continuation.resume(with: now) }
        }
    }

    /// Gives up waiting (deadline or cancellation); false when the caller already has the
    /// connection or the lease failed.
    func abandon(with error: any Error) -> Bool {
        let (gaveUp, waiter, wasReady) = state.withLock { state -> (Bool, CheckedContinuation<PostgresConnection, any Error>?, Bool) in
            switch state {
            case .idle:
                state = .abandoned(error)
                return (true, nil, false)
            case .awaiting(let continuation):
                state = .abandoned(error)
                return (true, continuation, false)
            case .ready:
                state = .abandoned(error)
                return (true, nil, true)
            default:
                return (false, nil, false)
            }
        }
        waiter?.resume(throwing: error)
        if wasReady { signalReturned() }
        return gaveUp
    }

    /// The caller's side: done with the connection.
    func giveBack() {
        state.withLock { $0 = .returned }
        signalReturned()
    }

    /// The leasing task's side: waits until the caller gave the connection back.
    func waitUntilReturned() async {
        await withCheckedContinuation { continuation in
            let done = returnedSignal.withLock { signal -> Bool in
                if signal.done { return true }
                signal.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func signalReturned() {
        let waiter = returnedSignal.withLock { signal -> CheckedContinuation<Void, Never>? in
            signal.done = true
            defer { signal.waiter = nil }
            return signal.waiter
        }
        waiter?.resume()
    }
}

/// The first of several outcomes (an operation's result, a watcher's verdict) answers the one
/// caller waiting for it; later ones are dropped.
final class FirstOutcome<T: Sendable>: Sendable {
    private enum State {
        case pending(CheckedContinuation<T, any Error>?)
        case finished(Result<T, any Error>)
        case delivered
    }

    private let state = Mutex<State>(.pending(nil))

    /// Records `result` if it is the first; resumes the caller if waiting.
    func finish(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard case .pending(let continuation) = state else { return nil }
            if let continuation {
                state = .delivered
                return continuation
            }
            state = .finished(result)
            return nil
        }
        waiter?.resume(with: result)
    }

    /// Waits for the first outcome (once).
    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                switch state {
                case .pending:
                    state = .pending(continuation)
                    return nil
                case .finished(let result):
                    state = .delivered
                    return result
                case .delivered:
                    return .failure(StoreError(.unavailable, "an outcome was awaited twice"))
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

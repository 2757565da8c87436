import ClienteleDomain
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The production store: one PostgreSQL database shared by any number of worker replicas on any
/// hosts.
///
/// A batch is one transaction of a handful of statements (arrays bound with `unnest`, never a
/// round trip per event). The purchase- and contact-worker batches of one input partition take
/// that partition's transaction-level advisory lock first (the two streams of a partition meet in
/// one event-time order, as on SQLite's single writer), and replicas of one worker own different
/// partitions, so they write side by side. Clients are locked `FOR UPDATE` in client-id order; churn
/// sweeps claim due clients with `SKIP LOCKED`. A deadlock, a serialization failure or a lost
/// connection rolls the transaction back and runs it again (idempotency makes a commit whose
/// answer was lost harmless).
///
/// The connection pool (``PostgresPool``, postgres-nio's `PostgresClient` replaced when a lease
/// wedges) runs as long as the store; as a `Service` in a worker's service group, the store closes
/// it at graceful shutdown, after the services that use it.
public final class PostgresClientStore: ClientStore, Service {
    let pool: PostgresPool
    let logger: Logger
    /// The deployment key (nil for a read-only look).
    let key: DeploymentKey?
    /// Where the database is (the password stays out of every log line).
    public let location: DatabaseURL.PostgresLocation
    private let connectionConfiguration: PostgresConnection.Configuration
    /// The event days whose record partition this process knows to exist.
    let knownEventDays = Mutex<Set<Int32>>([])
    private let preparation: Task<Void, any Error>
    /// Set once the preparation ended (ready or failed).
    private let prepared = PreparationFlag()

    /// How long a transaction that keeps failing on a lost connection is retried before the
    /// error reaches the worker (which then retries the batch itself).
    static let reconnectBudget: Duration = .seconds(60)

    /// Opens the pool (`poolSize` connections at most) and starts preparing the database in the
    /// background: connecting (waiting with backoff while it is unreachable, for at most
    /// `startupTimeout`, nil: for ever), migrating, checking the deployment key. Every operation
    /// waits for that first; ``waitUntilReady()`` reports its outcome.
    public init(
        location: DatabaseURL.PostgresLocation, poolSize: Int = 10, key: DeploymentKey?, startupTimeout: Duration? = nil,
        logger: Logger = Logger(label: "clientele.store")
    ) throws(StoreError) {
        guard (1...500).contains(poolSize) else {
            throw StoreError(.invalidURL, "CLIENTELE_DB_POOL_SIZE must be from 1 to 500 connections (given \(poolSize))")
        }
        self.location = location
        self.key = key
        self.logger = logger
        let tls = try Self.tls(for: location)
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls.client)
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "clientele")]
        pool = PostgresPool(configuration: configuration, logger: logger)
        connectionConfiguration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls.connection)
        let connection = connectionConfiguration
        let prepared = prepared
        preparation = Task {
            defer { prepared.done.store(true, ordering: .releasing) }
            try await Self.prepare(connection, key: key, startupTimeout: startupTimeout, location: location, logger: logger)
        }
    }

    deinit {
        pool.close()
        preparation.cancel()
    }

    /// Waits until the database is migrated and the key checked; throws what stopped it.
    /// A graceful shutdown (or the caller's cancellation) ends the wait with `CancellationError`:
    /// a worker stopped while the database is still down exits instead of waiting on.
    public func waitUntilReady() async throws {
        if !prepared.done.load(ordering: .acquiring) {
            // Polled rather than awaited: awaiting the preparation task would not end with the caller.
            try await cancelWhenGracefulShutdown { [prepared] in
                while !prepared.done.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(100)) }
            }
        }
        try await preparation.value
    }

    /// Runs until graceful shutdown, then closes the pool (the service group shuts it down after
    /// the services listed after it).
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }

    /// Closes the pool; operations after this fail.
    public func close() {
        preparation.cancel()
        pool.close()
    }

    private struct TLSSettings {
        var client: PostgresClient.Configuration.TLS
        var connection: PostgresConnection.Configuration.TLS
    }

    private static func tls(for location: DatabaseURL.PostgresLocation) throws(StoreError) -> TLSSettings {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch location.sslMode {
        case .disable:
            return TLSSettings(client: .disable, connection: .disable)
        case .prefer, .require:
            configuration.certificateVerification = .none
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            if let file = location.rootCertificateFile {
                guard FileManager.default.isReadableFile(atPath: file) else {
                    throw StoreError(.invalidURL, "DATABASE_URL: sslrootcert '\(file)' cannot be read")
                }
                configuration.trustRoots = .file(file)
            }
        }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw StoreError(.invalidURL, "DATABASE_URL: the TLS settings cannot be used: \(error)")
        }
        return location.sslMode == .prefer
            ? TLSSettings(client: .prefer(configuration), connection: .prefer(context))
            : TLSSettings(client: .require(configuration), connection: .require(context))
    }

    /// Connects (with backoff while the database is unreachable), migrates, checks the key.
    private static func prepare(
        _ configuration: PostgresConnection.Configuration, key: DeploymentKey?, startupTimeout: Duration?,
        location: DatabaseURL.PostgresLocation, logger: Logger
    ) async throws {
        let started = ContinuousClock.now
        var delay = Duration.milliseconds(250)
        var attempt = 0
        while true {
            attempt += 1
            let connection: PostgresConnection
            do {
                connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            } catch {
                let reason = describe(error)
                guard isUnreachable(error) else {
                    throw StoreError(.unavailable, "cannot connect to PostgreSQL at \(location.host):\(location.port): \(reason)")
                }
                if let startupTimeout, ContinuousClock.now - started + delay > startupTimeout {
                    throw StoreError(.unavailable, "PostgreSQL at \(location.host):\(location.port) is unreachable: \(reason)")
                }
                logger.warning("waiting for the database", metadata: [
                    "host": "\(location.host)", "port": "\(location.port)", "attempt": "\(attempt)", "retry_in": "\(delay)", "error": "\(reason)",
                ])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(10))
                continue
            }
            do {
                // Watched as every operation is: a statement can be left waiting for ever when the
                // server closes the connection under it.
                let applied = try await PostgresPool.watched(connection, grace: .seconds(2)) { connection in
                    let applied = try await PostgresSchema.migrate(connection, logger: logger)
                    if let key { try await adopt(key, on: connection, logger: logger) }
                    return applied
                }
                if !applied.isEmpty { logger.notice("migrated the PostgreSQL schema", metadata: ["versions": "\(applied)"]) }
                try? await connection.close()
                if attempt > 1 { logger.notice("the database is reachable", metadata: ["host": "\(location.host)"]) }
                return
            } catch {
                try? await connection.close()
                if let error = error as? StoreError { throw error }
                // Lost while migrating (each migration is a transaction of its own): again.
                if isUnreachable(error), startupTimeout.map({ ContinuousClock.now - started + delay <= $0 }) ?? true {
                    logger.warning("the database connection was lost while preparing it: retrying", metadata: [
                        "attempt": "\(attempt)", "retry_in": "\(delay)", "error": "\(describe(error))",
                    ])
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(10))
                    continue
                }
                throw StoreError(.unavailable, "cannot prepare the PostgreSQL database '\(location.database)': \(describe(error))")
            }
        }
    }

    /// Records the key's identity on a new database, or checks it is the recorded one.
    private static func adopt(_ key: DeploymentKey, on connection: PostgresConnection, logger: Logger) async throws {
        let setting = DeploymentKey.identitySetting
        try await connection.query("""
            INSERT INTO settings (name, value) VALUES (\(setting), \(key.identity)) ON CONFLICT (name) DO NOTHING
            """, logger: logger)
        var stored: String?
        for try await value in try await connection.query(
            "SELECT value FROM settings WHERE name = \(setting)", logger: logger).decode(String.self) { stored = value }
        if let stored, stored != key.identity {
            throw StoreError(.invalidKey, """
                this store's keyed records were made with another deployment key (identity \(stored), given \(key.identity)): \
                give every worker the same CLIENTELE_ERASURE_KEY_FILE
                """)
        }
    }

    /// Whether a failure means the server cannot be reached (yet), rather than refused us.
    static func isUnreachable(_ error: any Error) -> Bool {
        if let error = error as? PSQLError {
            if error.code == .server {
                // 57P03 cannot_connect_now (starting up, shutting down), 57P01 admin_shutdown,
                // 53300 too_many_connections (pools of other processes are full).
                return ["57P03", "57P01", "57P02", "53300"].contains(error.serverInfo?[.sqlState] ?? "")
            }
            // (A closed pool: the store replaced it; a closed store fails before leasing.)
            return [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed].contains(error.code)
        }
        if error is ChannelError || error is IOError || error is PostgresPool.LeaseExpired || error is PostgresPool.ConnectionLost { return true }
        let text = String(describing: error)
        return text.contains("connect") || text.contains("Connection refused")
    }

    /// Deadlocks and serialization failures: roll back and run the transaction again.
    static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// A message for logs and errors: the server's own, never the query's bound values.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                // The statement's text holds no values (they are bound apart): it tells which one failed.
                let statement = error.query.map { " in: " + $0.sql.split(whereSeparator: \.isWhitespace).joined(separator: " ").prefix(160) } ?? ""
                return "PostgreSQL error \(info[.sqlState] ?? "?"): \(info[.message] ?? "")\(statement)"
            }
            return "PostgreSQL client error: \(error.code)"
        }
        if let error = error as? StoreError { return error.message }
        return "\(error)"
    }

    /// Runs `body` in a transaction, again after a deadlock or serialization failure or a lost
    /// connection (see ``retrying(_:)``).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = logger
        return try await retrying { [pool] in
            try await pool.withConnection { connection in
                try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        }
    }

    /// Runs `body`'s statements on one connection, outside a transaction (reads and single
    /// writes), with the same retries.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await retrying { [pool] in
            try await pool.withConnection { connection in try await body(connection) }
        }
    }

    /// Runs `attempt` once the store is ready, again after a deadlock or serialization failure (at
    /// once, then with a short backoff) or a lost connection (while the database comes back, for
    /// up to ``reconnectBudget``). A store error is not retried; other failures become one.
    private func retrying<T: Sendable>(_ attempt: @Sendable () async throws -> T) async throws -> T {
        try await waitUntilReady()
        let started = ContinuousClock.now
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await attempt()
            } catch {
                let underlying = (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.commitError ?? $0.beginError } ?? error
                if Self.isTransient(underlying), attempts < 20 {
                    logger.info("transaction retried", metadata: ["reason": "\(Self.describe(underlying))", "attempt": "\(attempts)"])
                    if attempts > 1 { try await Task.sleep(for: .milliseconds(Int64(min(attempts * 20, 500)))) }
                    continue
                }
                if Self.isUnreachable(underlying), ContinuousClock.now - started < Self.reconnectBudget {
                    logger.warning("the database connection was lost: retrying", metadata: [
                        "error": "\(Self.describe(underlying))", "attempt": "\(attempts)",
                    ])
                    try await Task.sleep(for: .milliseconds(Int64(min(attempts * 250, 2_000))))
                    continue
                }
                if underlying is StoreError { throw underlying }
                if Self.isMissingPartition(underlying) { throw MissingEventDayPartition() }
                throw StoreError(.unavailable, Self.describe(underlying))
            }
        }
    }

    static func wallClock() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    public func apply(_ batch: InputBatch, rules: ClientRules) async throws -> BatchOutcome {
        guard !batch.entries.isEmpty || !batch.completeBefore.isEmpty else { return BatchOutcome() }
        guard let key else { throw StoreError(.invalidKey, "the store was opened without the deployment key: it cannot apply events") }
        let fingerprints = key.contentFingerprints(of: batch.entries.lazy.map(\.event))
        let logger = logger
        let days = Set(batch.entries.map { Int32($0.event.occurredAt.day) })
        let applyOnce = { [self] () async throws -> BatchOutcome in
            try await ensureEventDays(days)
            return try await transaction { connection in
                let writer = PostgresBatchWriter(connection: connection, key: key, logger: logger)
                return try await writer.apply(batch, fingerprints: fingerprints, rules: rules, wallNow: Self.wallClock())
            }
        }
        do {
            return try await applyOnce()
        } catch is MissingEventDayPartition {
            // A day this process knew was dropped by another replica's retention since: create it
            // again (its records expire at the next pass) and apply once more.
            knownEventDays.withLock { $0.removeAll() }
            do {
                return try await applyOnce()
            } catch is MissingEventDayPartition {
                throw StoreError(.unavailable, "a day of the batch's event records was being dropped by the retention meanwhile: the batch is retried")
            }
        }
    }

    /// Creates the event-day partitions of `days` this process has not seen yet, in a transaction
    /// of its own (creating a partition locks the parent table: never inside a batch's transaction).
    func ensureEventDays(_ days: Set<Int32>) async throws {
        let missing = knownEventDays.withLock { $0.isEmpty ? days : days.subtracting($0) }
        guard !missing.isEmpty else { return }
        let logger = logger
        // A replay of a year of history creates hundreds: a few dozen per transaction, to stay far
        // from the server's lock table size.
        let sorted = missing.sorted()
        for start in stride(from: 0, to: sorted.count, by: 50) {
            let chunk = Array(sorted[start..<min(start + 50, sorted.count)])
            _ = try await transaction { connection in
                try await connection.query("SELECT clientele_ensure_event_days(\(chunk)::int4[])", logger: logger)
                return true
            }
        }
        knownEventDays.withLock { $0.formUnion(missing) }
    }

    /// An insert found no partition for its event day (SQLSTATE 23514 on the event records).
    static func isMissingPartition(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError, let message = psql.serverInfo?[.message] else { return false }
        return psql.serverInfo?[.sqlState] == "23514" && message.contains("no partition of relation")
    }

    /// A batch's event day has no record partition (dropped by another replica's retention).
    struct MissingEventDayPartition: Error {}
}

/// Whether a store's preparation has ended.
private final class PreparationFlag: Sendable {
    let done = Atomic<Bool>(false)
}

import ClienteleStore
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// The two implementations of the store contract; every contract test runs on both.
enum StoreBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// The throwaway PostgreSQL server `make test` starts (its admin URL).
    static let postgresAdminURL: String? = ProcessInfo.processInfo.environment["CLIENTELE_TEST_DATABASE_URL"]
}

/// A fresh, empty store of one backend: a SQLite file in a temporary folder, or a database of its
/// own on the test PostgreSQL server. Stores opened from it are closed by ``remove()``.
final class TemporaryDatabase: Sendable {
    let backend: StoreBackend
    let directory: String
    /// The deployment key every store opened here uses (PostgreSQL needs one given).
    let key: DeploymentKey
    let postgres: DatabaseURL.PostgresLocation?
    private let opened = Mutex<[PostgresClientStore]>([])

    var path: String { directory + "/test.sqlite" }

    /// A new SQLite store (for tests of what only SQLite has: the file, the WAL).
    convenience init() throws {
        try self.init(backend: .sqlite, postgres: nil)
    }

    private init(backend: StoreBackend, postgres: DatabaseURL.PostgresLocation?) throws {
        self.backend = backend
        self.postgres = postgres
        key = DeploymentKey.random()
        directory = NSTemporaryDirectory() + "clientele-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    static func make(_ backend: StoreBackend) async throws -> TemporaryDatabase {
        switch backend {
        case .sqlite:
            return try TemporaryDatabase()
        case .postgres:
            guard let admin = StoreBackend.postgresAdminURL else {
                Issue.record("CLIENTELE_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL")
                throw CancellationError()
            }
            guard case .postgres(var location) = try DatabaseURL(parsing: admin) else { throw StoreError(.invalidURL, "not a PostgreSQL URL") }
            let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            try await adminQuery(location, "CREATE DATABASE \(name)")
            location.database = name
            return try TemporaryDatabase(backend: .postgres, postgres: location)
        }
    }

    /// Runs one statement on the server's `postgres` database.
    static func adminQuery(_ location: DatabaseURL.PostgresLocation, _ sql: String) async throws {
        let logger = Logger(label: "test.admin")
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: location.host, port: location.port, username: location.user, password: location.password,
                                 database: "postgres", tls: .disable),
            id: 1, logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// The URL of this store.
    var url: String {
        switch backend {
        case .sqlite: "sqlite:\(path)"
        case .postgres: "postgres://\(postgres!.user)@\(postgres!.host):\(postgres!.port)/\(postgres!.database)?sslmode=disable"
        }
    }

    /// Opens the store (again): a new SQLite connection pool, or a new PostgreSQL pool.
    func open(key source: DeploymentKeySource? = nil) throws -> any ClientStore {
        switch backend {
        case .sqlite:
            return try SQLiteClientStore(path: path, key: source ?? .besideStore)
        case .postgres:
            let store = try PostgresClientStore(location: postgres!, poolSize: 4, key: Self.key(from: source ?? .key(key)), startupTimeout: .seconds(20))
            opened.withLock { $0.append(store) }
            return store
        }
    }

    /// Opens the SQLite store itself (for what only SQLite has).
    func openSQLite(key source: DeploymentKeySource = .besideStore) throws -> SQLiteClientStore {
        precondition(backend == .sqlite)
        return try SQLiteClientStore(path: path, key: source)
    }

    private static func key(from source: DeploymentKeySource) throws -> DeploymentKey? {
        switch source {
        case .key(let key): key
        case .file(let file): try DeploymentKey.read(file: file)
        case .none: nil
        case .besideStore: throw StoreError(.invalidKey, "PostgreSQL needs the key given")
        }
    }

    func remove() {
        for store in opened.withLock({ stores in defer { stores = [] }; return stores }) { store.close() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

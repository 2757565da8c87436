import ClienteleStore
import Foundation
import Logging
import PostgresNIO
import Testing

/// Databases on the throwaway PostgreSQL server `make test` starts (`CLIENTELE_TEST_DATABASE_URL`).
enum TestPostgres {
    /// A new, empty database; its URL.
    static func createDatabase() async throws -> String {
        guard let admin = ProcessInfo.processInfo.environment["CLIENTELE_TEST_DATABASE_URL"],
              case .postgres(let location) = try DatabaseURL(parsing: admin) else {
            Issue.record("CLIENTELE_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL")
            throw CancellationError()
        }
        let name = "e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let logger = Logger(label: "test.admin")
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: location.host, port: location.port, username: location.user, password: location.password,
                                 database: location.database, tls: .disable),
            id: 1, logger: logger)
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        return "postgres://\(location.user)@\(location.host):\(location.port)/\(name)?sslmode=disable"
    }
}

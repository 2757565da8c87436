import ClienteleStore
import Foundation
import Logging
import PostgresNIO
import Testing

/// Databases on the throwaway PostgreSQL server `make test` starts (`CLIENTELE_TEST_DATABASE_URL`).
enum TestPostgres {
    /// A PostgreSQL server of one test's own (`scripts/test-postgres.sh`), to stop and start.
    struct PrivateServer {
        let directory: String
        let url: String

        static var script: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("scripts/test-postgres.sh").path
        }

        static func start() async throws -> PrivateServer {
            let directory = "/tmp/clientele-e2e-postgres-\(UUID().uuidString.prefix(8))"
            let started = try await ChildProcess.run(script, ["start", directory], directory: NSTemporaryDirectory())
            guard started.status == 0, let line = started.stdout.split(separator: "\n").last else {
                throw E2EError("the private PostgreSQL did not start: \(started.stderr)")
            }
            return PrivateServer(directory: directory, url: String(line))
        }

        func pause() async throws { try await run("pause") }
        func resume() async throws { try await run("resume") }
        func stop() async { try? await run("stop") }

        private func run(_ command: String) async throws {
            let result = try await ChildProcess.run(Self.script, [command, directory], directory: NSTemporaryDirectory())
            guard result.status == 0 else { throw E2EError("test-postgres.sh \(command): \(result.stderr)") }
        }
    }

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

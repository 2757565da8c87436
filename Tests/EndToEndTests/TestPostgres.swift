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
            let started = try await runScript(["start", directory])
            guard started.status == 0, let line = started.stdout.split(separator: "\n").last else {
                throw E2EError("the private PostgreSQL did not start (status \(started.status)): \(started.stderr)")
            }
            return PrivateServer(directory: directory, url: String(line))
        }

        func pause() async throws { try await run("pause") }
        func resume() async throws { try await run("resume") }
        func stop() async { try? await run("stop") }

        private func run(_ command: String) async throws {
            let result = try await Self.runScript([command, directory])
            guard result.status == 0 else {
                let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8))?.suffix(1500) ?? ""
                throw E2EError("test-postgres.sh \(command) (status \(result.status)): \(result.stderr)\nserver.log: \(log)")
            }
        }

        /// Runs the script, spawned and reaped here (`posix_spawn`, `waitpid` polled, output through
        /// files): Foundation's `Process` was seen missing this short-lived child's exit under the
        /// test run's load. Status -1: still running after three minutes (killed).
        static func runScript(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            let base = NSTemporaryDirectory() + "test-postgres-\(UUID().uuidString)"
            defer { unlink(base + ".out"); unlink(base + ".err") }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, base + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_addopen(&actions, 2, base + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            var argv: [UnsafeMutablePointer<CChar>?] = ([script] + arguments).map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, script, &actions, nil, &argv, environ)
            guard spawned == 0 else { throw E2EError("cannot run test-postgres.sh: errno \(spawned)") }
            var status: Int32 = 0
            let deadline = ContinuousClock.now.advanced(by: .seconds(180))
            var exited = false
            while ContinuousClock.now < deadline {
                if waitpid(pid, &status, WNOHANG) != 0 {
                    exited = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if !exited {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
            }
            let code: Int32 = exited && status & 0x7f == 0 ? (status >> 8) & 0xff : -1
            let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
            let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            return (code, stdout.trimmingCharacters(in: .whitespacesAndNewlines), stderr)
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

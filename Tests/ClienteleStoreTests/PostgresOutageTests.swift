import ClienteleDomain
import ClienteleStore
import Foundation
import Testing

/// A PostgreSQL server of this test's own (`scripts/test-postgres.sh`), stopped and started.
struct PrivatePostgres {
    let directory = "/tmp/clientele-store-postgres-\(UUID().uuidString.prefix(8))"

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/test-postgres.sh").path
    }

    /// Runs the script's `command` on this server; its output. Spawned and reaped here
    /// (`posix_spawn`, `waitpid` polled): Foundation's `Process` can miss a child's exit while
    /// other tests run, and a blocking wait would hold one of the test run's few threads.
    func run(_ command: String) async throws -> String {
        let outputPath = NSTemporaryDirectory() + "test-postgres-\(UUID().uuidString).out"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [Self.script, command, directory]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, Self.script, &actions, nil, &argv, environ)
        guard spawned == 0 else { throw StoreError(.unavailable, "cannot run test-postgres.sh: errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else { throw StoreError(.unavailable, "test-postgres.sh \(command) failed (status \(status))") }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite("PostgreSQL outages")
struct PostgresOutageTests {
    @Test("a restart of PostgreSQL between and during batches: every batch is applied once, none lost")
    func restartMidLoad() async throws {
        let server = PrivatePostgres()
        let url = try await server.run("start")
        do {
            try await Self.restartMidLoad(server: server, url: url)
        } catch {
            _ = try? await server.run("stop")
            throw error
        }
        _ = try? await server.run("stop")
    }

    private static func restartMidLoad(server: PrivatePostgres, url: String) async throws {
        guard case .postgres(let location) = try DatabaseURL(parsing: url) else { return }
        let store = try PostgresClientStore(location: location, poolSize: 4, key: DeploymentKey.random(), startupTimeout: .seconds(20))
        defer { store.close() }
        // Prepared (migrated) before the outages begin: what is tested is batches and the relay
        // across restarts; a restart while the store is prepared is bounded by the startup
        // timeout, which a loaded machine could otherwise spend before the second restart.
        try await store.waitUntilReady()
        // A writer and a relay-like reader keep the pool busy while the server goes down and up.
        let writer = Task {
            var applied = 0
            for batch in 0..<60 {
                let events = (0..<50).map { purchase("b\(batch)-\($0)", client: "C\($0)", day: batch) }
                applied += try await store.apply(events, rules: clientRules).accepted
                try await Task.sleep(for: .milliseconds(30))
            }
            return applied
        }
        let relay = Task {
            while !Task.isCancelled {
                if let messages = try? await store.pendingOutbox(limit: 100), !messages.isEmpty {
                    try? await store.markPublished(messages.map(\.id))
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        for _ in 0..<2 {
            try await Task.sleep(for: .milliseconds(700))
            _ = try await server.run("pause")
            try await Task.sleep(for: .seconds(2))
            _ = try await server.run("resume")
        }
        let applied = try await writer.value
        relay.cancel()
        #expect(applied == 3000)
        #expect(try await store.summary().totalPurchases == 3000)
    }
}

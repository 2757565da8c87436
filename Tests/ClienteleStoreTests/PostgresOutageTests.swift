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

    func run(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.script)
        process.arguments = [command, directory]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw StoreError(.unavailable, "test-postgres.sh \(command) failed") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite("PostgreSQL outages")
struct PostgresOutageTests {
    @Test("a restart of PostgreSQL between and during batches: every batch is applied once, none lost")
    func restartMidLoad() async throws {
        let server = PrivatePostgres()
        let url = try server.run("start")
        defer { _ = try? server.run("stop") }
        guard case .postgres(let location) = try DatabaseURL(parsing: url) else { return }
        let store = try PostgresClientStore(location: location, poolSize: 4, key: DeploymentKey.random(), startupTimeout: .seconds(20))
        defer { store.close() }
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
            _ = try server.run("pause")
            try await Task.sleep(for: .seconds(2))
            _ = try server.run("resume")
        }
        let applied = try await writer.value
        relay.cancel()
        #expect(applied == 3000)
        #expect(try await store.summary().totalPurchases == 3000)
    }
}

import ClienteleDomain
@testable import ClienteleRuntime
import Foundation
import Testing

@Suite("settings that cannot be mistyped")
struct UnknownSettingsTests {
    func problem(_ environment: [String: String]) async -> String? {
        do {
            _ = try await WorkerConfiguration.load(workerName: "purchase-worker", defaultHTTPPort: 9101, environment: environment)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("an unknown CLIENTELE_ variable stops startup, naming it and the closest known name")
    func environmentTypo() async {
        let message = await problem(["CLIENTELE_BATCH_SISE": "9"])
        #expect(message?.contains("CLIENTELE_BATCH_SISE") == true && message?.contains("did you mean CLIENTELE_BATCH_SIZE?") == true, "\(message ?? "")")
        #expect(await problem(["CLIENTELE_BATCH_SIZE": "9", "KAFKA_SOME_PROPERTY": "x", "OTHER": "y"]) == nil)
    }

    @Test("an unknown key in the configuration file stops startup, naming it and the closest known key")
    func fileTypo() async throws {
        let path = NSTemporaryDirectory() + "clientele-\(UUID().uuidString).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "clientele:\n  batch:\n    sise: 5\n".write(toFile: path, atomically: true, encoding: .utf8)
        let message = await problem(["CLIENTELE_CONFIG_FILE": path])
        #expect(message?.contains("'clientele.batch.sise'") == true && message?.contains("did you mean clientele.batch.size?") == true, "\(message ?? "")")
        try "kafka:\n  security:\n    protocol: SSL\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await problem(["CLIENTELE_CONFIG_FILE": path])?.contains("kafka.security.protocol") == true)
    }

    @Test("distance and suggestions")
    func suggestions() {
        #expect(UnknownSettings.distance("kitten", "sitting") == 3)
        #expect(UnknownSettings.suggestion(for: "CLIENTELE_SECTR", among: ["CLIENTELE_SECTOR", "CLIENTELE_CLOCK"]) == " (did you mean CLIENTELE_SECTOR?)")
        #expect(UnknownSettings.suggestion(for: "CLIENTELE_SOMETHING_ELSE_ENTIRELY", among: ["CLIENTELE_CLOCK"]) == "")
    }
}

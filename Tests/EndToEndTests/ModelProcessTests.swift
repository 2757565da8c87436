import ClienteleDomain
import Foundation
import Testing

@Suite("models through the executables", .serialized, .timeLimit(.minutes(4)))
struct ModelProcessTests {
    @Test("the CDNOW sample replayed through purchase-worker fits to the published BG/NBD; client show reports P(alive) and CLV")
    func cdnowSampleThroughTheWorker() async throws {
        let broker = try await BrokerProcess()
        let worker = try ChildProcess("purchase-worker", [], environment: broker.purchaseOnlyEnvironment, directory: broker.directory)
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ClienteleDomainTests/Fixtures/CDNOW_sample.txt").path
        let replay = try await ChildProcess.run(
            "clientele", ["replay", "--format", "cdnow", "--bootstrap-servers", broker.bootstrapServers, sample], directory: broker.directory)
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(try await broker.waitUntilApplied(6919).acceptedEvents == 6919)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)

        let fit = try await ChildProcess.run(
            "clientele", ["model", "fit", "--as-of", "1997-09-30", "--variant", "bgnbd", "--database", broker.databaseURL],
            directory: broker.directory)
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(fit.stdout.contains("2357 clients"))
        let words = fit.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        func value(after name: String) -> Double? { words.firstIndex(of: name).flatMap { Double(words[$0 + 1]) } }
        let r = try #require(value(after: "r"))
        let alpha = try #require(value(after: "alpha"))
        let ll = try #require(value(after: "LL"))
        #expect(abs(r / 0.242593 - 1) < 0.005)
        #expect(abs(alpha / 4.413532 - 1) < 0.005)
        #expect(abs(ll - -9582.426) < 0.1)
        #expect(abs((value(after: "p") ?? 0) / 6.25 - 1) < 0.01)

        let shown = try await ChildProcess.run(
            "clientele", ["client", "show", "CDNOW-0001", "--json", "--as-of", "1997-09-30T23:59:59Z", "--database", broker.databaseURL],
            environment: ["CLIENTELE_CHURN_MODEL": "bgnbd"], directory: broker.directory)
        guard case .object(let object)? = try? JSONParser.parse(Array(shown.stdout.utf8)),
              case .number(let pAlive)? = object["pAlive"], case .number(let clv)? = object["clv"] else {
            Issue.record("no model figures in: \(shown.stdout)"); return
        }
        // The worker scheduled the client's next churn review when it applied their purchases.
        guard case .string(let nextReview)? = object["nextReviewAt"] else {
            Issue.record("no next review time in: \(shown.stdout)"); return
        }
        #expect(Timestamp(rfc3339: nextReview) != nil)
        #expect(object["churnBasis"] == .string("bgnbd:1997-09-30"))
        let probability = try #require(Double(pAlive))
        #expect(probability > 0 && probability <= 1)
        #expect((Double(clv) ?? 0) > 0)
        await broker.stop()
    }
}

import ClienteleDomain
import Foundation
import Logging
@testable import ClienteleRuntime
import Testing

@Suite("Health answers and JSON log lines")
struct OperationsTests {
    @Test("liveness fails when the loop stops turning, when the group sits unsteady too long and after a fatal error — not because of the store")
    func liveness() {
        let health = WorkerHealth(loop: .consume, stallAfter: .seconds(10), unsteadyLimit: .seconds(60), freshness: .seconds(30))
        let start = ContinuousClock.now
        health.loopTurned()
        #expect(health.liveness(now: start + .seconds(5)).ok)
        #expect(!health.liveness(now: start + .seconds(11)).ok)
        #expect(health.liveness(now: start + .seconds(11)).checks.first { !$0.ok }?.name == "consume_loop")

        // A store outage is a readiness matter only.
        health.observeStore(error: "connection refused")
        health.loopTurned()
        #expect(health.liveness().ok)
        #expect(health.readiness().checks.first { $0.name == "store" }?.ok == false)
        #expect(health.readiness().checks.first { $0.name == "store" }?.detail == "failing: connection refused")

        // One non-steady state for longer than the limit; a new state starts the count again.
        let group = WorkerHealth(loop: .consume, stallAfter: .seconds(1000), unsteadyLimit: .seconds(60), freshness: .seconds(30))
        group.observeKafka(groupState: "up/wait-sync", steady: false, fatalError: nil, brokersUp: 1, assignedPartitions: 0)
        #expect(group.liveness(now: .now + .seconds(30)).ok)
        #expect(!group.liveness(now: .now + .seconds(61)).ok)
        group.observeKafka(groupState: "up/wait-assign-call", steady: false, fatalError: nil, brokersUp: 1, assignedPartitions: 0)
        #expect(group.liveness(now: .now + .seconds(30)).ok)
        group.observeKafka(groupState: "up/steady", steady: true, fatalError: nil, brokersUp: 1, assignedPartitions: 4)
        #expect(group.liveness(now: .now + .seconds(61)).checks.first { $0.name == "consumer_group" }?.ok == true)

        health.observeKafka(groupState: "up/steady", steady: true, fatalError: "_FENCED: producer fenced", brokersUp: 1, assignedPartitions: 4)
        let report = health.liveness()
        #expect(!report.ok)
        #expect(report.json.contains(#""failed":"kafka_fatal_error""#), "\(report.json)")
    }

    @Test("readiness needs partitions (or a sweep), a store that answered lately and a broker up; the body names what failed")
    func readiness() throws {
        let health = WorkerHealth(loop: .consume, stallAfter: .seconds(10), unsteadyLimit: .seconds(60), freshness: .seconds(30))
        let before = health.readiness()
        #expect(!before.ok)
        #expect(Set(before.checks.filter { !$0.ok }.map(\.name)) == ["partitions", "store", "broker"])
        health.observeStore(error: nil)
        health.observeKafka(groupState: "up/steady", steady: true, fatalError: nil, brokersUp: 0, assignedPartitions: 2)
        let noBroker = health.readiness()
        #expect(noBroker.checks.filter { !$0.ok }.map(\.name) == ["broker"])
        health.observeKafka(groupState: "up/steady", steady: true, fatalError: nil, brokersUp: 3, assignedPartitions: 2)
        #expect(health.readiness().ok)
        // An answer older than the freshness limit no longer counts.
        #expect(health.readiness(now: .now + .seconds(31)).checks.filter { !$0.ok }.map(\.name) == ["store", "broker"])
        let body = try #require(try JSONSerialization.jsonObject(with: Data(health.readiness().json.utf8)) as? [String: Any])
        #expect(body["status"] as? String == "ok")
        #expect(((body["checks"] as? [String: Any])?["partitions"] as? [String: Any])?["detail"] as? String == "2 assigned")

        let churn = WorkerHealth(loop: .sweep, stallAfter: .seconds(10), unsteadyLimit: .seconds(60), freshness: .seconds(30))
        churn.observeStore(error: nil)
        churn.observeKafka(groupState: nil, steady: true, fatalError: nil, brokersUp: 1, assignedPartitions: 0)
        #expect(churn.readiness().checks.filter { !$0.ok }.map(\.name) == ["swept"])
        churn.swept()
        #expect(churn.readiness().ok)
    }

    @Test("a JSON log line is one object with time, level, worker, replica, logger, message and the metadata, escaped")
    func jsonLine() throws {
        let line = JSONLogHandler.line(
            time: Date(timeIntervalSince1970: 1_796_237_545.25), level: .warning, worker: "purchase-worker", replica: "host:42",
            logger: "clientele.purchase-worker", message: "rejected \"message\"\nsecond line",
            metadata: ["reason": "malformed_json", "partition": .stringConvertible(3), "nested": ["a": "b"]])
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["time"] as? String == "2026-12-02T18:52:25.250Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["worker"] as? String == "purchase-worker")
        #expect(object["replica"] as? String == "host:42")
        #expect(object["message"] as? String == "rejected \"message\"\nsecond line")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["reason"] as? String == "malformed_json")
        #expect(metadata["partition"] as? String == "3")
        #expect((metadata["nested"] as? [String: Any])?["a"] as? String == "b")
    }

    @Test("the operator settings are validated: port range, listen address, stall seconds, log format")
    func settings() async throws {
        let base = ["KAFKA_BOOTSTRAP_SERVERS": "localhost:9092"]
        let defaults = try await WorkerConfiguration.load(workerName: "purchase-worker", defaultHTTPPort: 9101, environment: base)
        #expect(defaults.httpPort == 9101)
        #expect(defaults.httpHost == "0.0.0.0")
        #expect(defaults.stallAfter == .seconds(120))
        #expect(defaults.logFormat == .text)
        #expect(defaults.maxPollInterval == .seconds(300))
        let set = try await WorkerConfiguration.load(workerName: "purchase-worker", defaultHTTPPort: 9101, environment: base.merging([
            "CLIENTELE_HTTP_PORT": "0", "CLIENTELE_HTTP_HOST": "127.0.0.1", "CLIENTELE_STALL_SECONDS": "30", "CLIENTELE_LOG_FORMAT": "JSON",
        ]) { $1 })
        #expect(set.httpPort == 0)
        #expect(set.httpHost == "127.0.0.1")
        #expect(set.stallAfter == .seconds(30))
        #expect(set.logFormat == .json)
        for (variable, value, says) in [
            ("CLIENTELE_HTTP_PORT", "70000", "CLIENTELE_HTTP_PORT"), ("CLIENTELE_HTTP_HOST", "0.0.0.0; rm", "CLIENTELE_HTTP_HOST"),
            ("CLIENTELE_STALL_SECONDS", "1", "CLIENTELE_STALL_SECONDS"), ("CLIENTELE_LOG_FORMAT", "xml", "'text' or 'json'"),
        ] {
            let problem = await #expect(throws: ConfigurationProblem.self) {
                try await WorkerConfiguration.load(workerName: "purchase-worker", defaultHTTPPort: 9101, environment: base.merging([variable: value]) { $1 })
            }
            #expect(problem.map { "\($0)".contains(says) } ?? false, "\(String(describing: problem))")
        }
    }
}

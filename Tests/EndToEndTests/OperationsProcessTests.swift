import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import ClienteleWorkload
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The operator's side from outside: the three workers as processes serve `/metrics` and
/// `/health`, a real Prometheus scrapes them, and the dashboard's and the alert rules' queries
/// use only what the workers really export.
@Suite("operations: metrics, health, Prometheus", .serialized, .timeLimit(.minutes(6)))
struct OperationsProcessTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("after 50,000 purchases with 5 malformed: accepted count, dead letters by reason, lag 0 on every partition and the event-age histogram, on /metrics and through a real Prometheus; live and ready 200; the dashboard and alerts query only exported metrics; SIGTERM exits 0")
    func operatorView() async throws {
        let prometheusBinary = try #require(
            ["/usr/bin/prometheus", "/usr/local/bin/prometheus"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "Prometheus is not installed: `make test` installs Debian's prometheus package (scripts/install-deps.sh --test)")
        let broker = try await BrokerProcess()
        defer { Task { await broker.stop() } }
        let environment = broker.workerEnvironment
        let workers = try ["purchase-worker", "contact-worker", "churn-worker"].map {
            ($0, try ChildProcess($0, [], environment: environment, directory: broker.directory))
        }
        var ports: [String: Int] = [:]
        for (name, child) in workers { ports[name] = try await Self.port(of: child, name: name) }

        // One client withdrew consent before buying: its welcome task is held back (a suppression to count).
        #expect(try await broker.produce(topic: "contacts", [
            #"{"eventId":"ops-w1","clientId":"ops-withdrawn","occurredAt":"2026-01-01T08:00:00Z","kind":"consent_withdrawn"}"#,
        ]) == 0)
        let generated = PurchaseGenerator(clients: 5000, purchases: 50_000, seed: 9).lines()
        let lines = generated.map(\.json)
        let clients = Set(generated.map(\.clientId)).count + 1
        let withdrawnPurchase = #"{"eventId":"ops-p1","clientId":"ops-withdrawn","occurredAt":"2026-01-02T08:00:00Z","amount":12.5,"currency":"EUR"}"#
        let malformed = PurchaseGenerator.malformedSamples().prefix(5)
        #expect(try await broker.produce(topic: "purchases", lines + [withdrawnPurchase] + malformed.map { String(decoding: $0.bytes, as: UTF8.self) }) == 0)

        // A real Prometheus scraping the three workers every second.
        let prometheusPort = try Self.freePort()
        let prometheusDirectory = broker.directory + "/prometheus"
        try FileManager.default.createDirectory(atPath: prometheusDirectory, withIntermediateDirectories: true)
        let targets = ports.values.sorted().map { "'127.0.0.1:\($0)'" }.joined(separator: ", ")
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: clientele
                static_configs: [{targets: [\(targets)]}]
            """.write(toFile: prometheusDirectory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try ChildProcess(prometheusBinary, [
            "--config.file=\(prometheusDirectory)/prometheus.yml", "--storage.tsdb.path=\(prometheusDirectory)/data",
            "--web.listen-address=127.0.0.1:\(prometheusPort)",
        ], directory: prometheusDirectory)
        defer { prometheus.signal(SIGTERM) }

        // The purchases, and the one contact.
        let summary = try await broker.waitUntilApplied(lines.count + 2)
        #expect(summary.acceptedEvents == lines.count + 2)

        // The purchase-worker's own scrape.
        let purchasePort = try #require(ports["purchase-worker"])
        let partitions = 16  // the embedded broker's default
        var scrape = Scrape(text: "")
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        repeat {
            scrape = Scrape(text: try await Self.get(port: purchasePort, path: "/metrics").body)
            if scrape.values("clientele_consumer_lag").count == partitions, scrape.values("clientele_consumer_lag").allSatisfy({ $0.value == 0 }),
               scrape.sum("clientele_dead_letters_total") == 5 { break }
            try await Task.sleep(for: .milliseconds(500))
        } while ContinuousClock.now < deadline
        #expect(scrape.sum("clientele_events_accepted_total", ["topic": "purchases"]) == Double(lines.count + 1))
        #expect(scrape.sum("clientele_dead_letters_total") == 5)
        for sample in malformed {
            #expect(scrape.sum("clientele_dead_letters_total", ["topic": "purchases", "reason": sample.reason]) == 1, "\(sample.reason)")
        }
        let lags = scrape.values("clientele_consumer_lag")
        #expect(Set(lags.compactMap { $0.labels["partition"] }) == Set((0..<partitions).map(String.init)))
        #expect(lags.allSatisfy { $0.value == 0 }, "\(lags)")
        #expect(scrape.sum("clientele_event_age_seconds_count") == Double(lines.count + 1))
        #expect(scrape.sum("clientele_event_age_seconds_bucket", ["le": "+Inf"]) == Double(lines.count + 1))
        // Outputs are counted by the worker that applied the event (a purchase may wait for the
        // contact stream and be applied by the contact-worker): both scrapes together.
        let contactScrape = Scrape(text: try await Self.get(port: try #require(ports["contact-worker"]), path: "/metrics").body)
        #expect(scrape.sum("clientele_status_changes_total", ["to": "new"]) + contactScrape.sum("clientele_status_changes_total", ["to": "new"])
                == Double(clients))
        #expect(scrape.sum("clientele_tasks_suppressed_total", ["kind": "welcome_new_client", "reason": "consent_withdrawn"])
                + contactScrape.sum("clientele_tasks_suppressed_total", ["kind": "welcome_new_client", "reason": "consent_withdrawn"]) == 1)
        #expect(scrape.sum("clientele_tasks_total", ["kind": "welcome_new_client"]) + contactScrape.sum("clientele_tasks_total", ["kind": "welcome_new_client"])
                == Double(clients - 1))
        #expect(scrape.values("clientele_partition_last_progress_timestamp_seconds").count == partitions)
        #expect(scrape.sum("clientele_build_info", ["version": "0.9.0"]) == 1)
        #expect(!scrape.text.contains("ops-withdrawn") && scrape.text.range(of: #"C\d{6}"#, options: .regularExpression) == nil,
                "no client id in any label")

        // Health, every worker (the churn-worker is ready once it has swept).
        for (name, port) in ports {
            var live = try await Self.get(port: port, path: "/health/live")
            var ready = try await Self.get(port: port, path: "/health/ready")
            let until = ContinuousClock.now.advanced(by: .seconds(30))
            while ready.status != 200, ContinuousClock.now < until {
                try await Task.sleep(for: .milliseconds(500))
                live = try await Self.get(port: port, path: "/health/live")
                ready = try await Self.get(port: port, path: "/health/ready")
            }
            #expect(live.status == 200, "\(name) live: \(live.body)")
            #expect(ready.status == 200, "\(name) ready: \(ready.body)")
            #expect(ready.body.contains(#""status":"ok""#))
        }

        // A fitted model, so that the churn-worker reports its age too (the generated purchases are
        // too regular for a fit of their own: the published CDNOW parameters stand in, as saved by `model fit`).
        let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        _ = try await broker.createdStore().saveModel(StoredModel(
            kind: "mbgnbd", parametersJSON: #"{"r":0.525,"alpha":6.183,"a":0.891,"b":1.614}"#, logLikelihood: -9582.4, clients: 2357,
            asOf: now, fittedAt: now.adding(milliseconds: -3_600_000)))

        // Through Prometheus's HTTP API: the lag of every partition and the dead letters.
        var deadLetters: Double?
        var lagSeries: [(labels: [String: String], value: Double)] = []
        var scrapes: [String: Scrape] = [:]
        let prometheusDeadline = ContinuousClock.now.advanced(by: .seconds(60))
        while ContinuousClock.now < prometheusDeadline {
            deadLetters = try? await Self.query(port: prometheusPort, "sum(clientele_dead_letters_total)").first?.value
            lagSeries = (try? await Self.query(port: prometheusPort, #"clientele_consumer_lag{topic="purchases"}"#)) ?? []
            for (name, port) in ports { scrapes[name] = Scrape(text: try await Self.get(port: port, path: "/metrics").body) }
            if deadLetters == 5, lagSeries.count == partitions, lagSeries.allSatisfy({ $0.value == 0 }),
               scrapes["churn-worker"]?.values("clientele_model_age_seconds").isEmpty == false { break }
            try await Task.sleep(for: .seconds(1))
        }
        #expect(deadLetters == 5, "Prometheus: sum(clientele_dead_letters_total); its log: \(prometheus.stderr.suffix(1500))")
        #expect(lagSeries.count == partitions)
        #expect(lagSeries.allSatisfy { $0.value == 0 && $0.labels["worker"] == "purchase-worker" && $0.labels["topic"] == "purchases" })
        let modelAge = try #require(scrapes["churn-worker"]?.values("clientele_model_age_seconds").first)
        #expect(modelAge.labels["kind"] == "mbgnbd")
        #expect((3600..<3900).contains(modelAge.value), "\(modelAge)")
        let up = try await Self.query(port: prometheusPort, "up{job=\"clientele\"}")
        #expect(up.count == 3 && up.allSatisfy { $0.value == 1 }, "\(up)")

        // Every metric the dashboard and the alert rules use is one the workers export.
        let exported = scrapes.values.reduce(into: Set<String>()) { $0.formUnion($1.families) }
        let dashboard = try String(contentsOf: Self.root.appendingPathComponent("config/grafana/dashboards/clientele.json"), encoding: .utf8)
        let alerts = try String(contentsOf: Self.root.appendingPathComponent("config/prometheus/alerts.yml"), encoding: .utf8)
        for (file, text) in [("dashboard", dashboard), ("alerts", alerts)] {
            let used = Self.metricNames(in: text)
            #expect(used.count >= 10, "\(file) uses \(used)")
            let unknown = used.filter { !exported.contains($0) && $0 != "up" }
            #expect(unknown.isEmpty, "\(file) queries metrics no worker exports: \(unknown.sorted()); exported: \(exported.sorted())")
        }

        for (name, child) in workers {
            child.signal(SIGTERM)
            #expect(await child.wait(timeout: .seconds(30)) == 0, "\(name) after SIGTERM; stderr: \(child.stderr.suffix(1500))")
        }
    }

    @Test("with CLIENTELE_LOG_FORMAT=json every log line is one JSON object naming the worker; a worker whose port is taken stops at startup with exit 78 and a message naming the setting")
    func jsonLogsAndPortTaken() async throws {
        let broker = try await BrokerProcess()
        defer { Task { await broker.stop() } }
        let first = try ChildProcess("purchase-worker", [], environment: broker.purchaseOnlyEnvironment.merging([
            "CLIENTELE_LOG_FORMAT": "json", "CLIENTELE_LOG_LEVEL": "info",
        ]) { $1 }, directory: broker.directory)
        let port = try await Self.port(of: first, name: "purchase-worker")
        try await broker.waitUntilReady(port: port)
        let logLines = first.stderr.split(separator: "\n")
        #expect(logLines.count >= 3)
        for line in logLines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["worker"] as? String == "purchase-worker" && object?["message"] != nil && object?["time"] != nil, "\(line)")
        }
        #expect(logLines.contains { $0.contains(#""message":"partitions assigned""#) })
        var environment = broker.purchaseOnlyEnvironment
        environment["CLIENTELE_HTTP_PORT"] = String(port)
        environment["CLIENTELE_HTTP_HOST"] = "0.0.0.0"
        let second = try await ChildProcess.run("purchase-worker", [], environment: environment, directory: broker.directory)
        #expect(second.status == 78, "\(second.stderr)")
        #expect(second.stderr.contains("CLIENTELE_HTTP_PORT"), "\(second.stderr)")
        first.signal(SIGTERM)
        #expect(await first.wait() == 0)
    }

    // MARK: Helpers

    /// The port a worker logged it serves on (`serving /metrics and /health … port=N`).
    static func port(of child: ChildProcess, name: String) async throws -> Int {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            // Text (`port=N`) or JSON (`"port":"N"`) log lines.
            if let line = child.stderr.split(separator: "\n").first(where: { $0.contains("serving /metrics and /health") }),
               let range = line.range(of: #"port(=|":")\d+"#, options: .regularExpression),
               let port = Int(line[range].drop { !$0.isNumber }) {
                return port
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw E2EError("\(name) never logged its metrics port; stderr: \(child.stderr.suffix(2000))")
    }

    /// Two replicas of one worker: each partition's lag series is on the replica that owns it, and
    /// the series of a partition that moved away is gone from the other.
    @Test("lag series move with their partitions: with a second replica each reports only its own, together all of them once")
    func lagSeriesFollowAssignment() async throws {
        let broker = try await BrokerProcess()
        defer { Task { await broker.stop() } }
        let environment = broker.purchaseOnlyEnvironment
        let first = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let firstPort = try await Self.port(of: first, name: "purchase-worker")
        func lagPartitions(_ port: Int) async throws -> Set<String> {
            Set(Scrape(text: try await Self.get(port: port, path: "/metrics").body).values("clientele_consumer_lag").compactMap { $0.labels["partition"] })
        }
        var alone: Set<String> = []
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while alone.count < 16, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
            alone = try await lagPartitions(firstPort)
        }
        #expect(alone.count == 16)
        let second = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let secondPort = try await Self.port(of: second, name: "purchase-worker")
        var mine: Set<String> = []
        var theirs: Set<String> = []
        let split = ContinuousClock.now.advanced(by: .seconds(60))
        while ContinuousClock.now < split {
            try await Task.sleep(for: .milliseconds(300))
            mine = try await lagPartitions(firstPort)
            theirs = try await lagPartitions(secondPort)
            if !mine.isEmpty, !theirs.isEmpty, mine.isDisjoint(with: theirs), mine.union(theirs).count == 16 { break }
        }
        #expect(!mine.isEmpty && !theirs.isEmpty, "both replicas own partitions: \(mine) / \(theirs)")
        #expect(mine.isDisjoint(with: theirs), "no partition reported by both: \(mine.intersection(theirs))")
        #expect(mine.union(theirs).count == 16)
        for child in [first, second] {
            child.signal(SIGTERM)
            #expect(await child.wait(timeout: .seconds(30)) == 0)
        }
    }

    /// A free port below the ephemeral range (where the embedded brokers and the workers' port 0
    /// land), so that nothing else takes it between this check and Prometheus binding it.
    static func freePort() throws -> Int {
        for _ in 0..<50 {
            let candidate = Int.random(in: 20_000..<32_000)
            let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(candidate).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if bound { return candidate }
        }
        throw E2EError("no free port below the ephemeral range")
    }

    static func get(port: Int, path: String) async throws -> (status: Int, body: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// An instant query through Prometheus's HTTP API: each series' labels and value.
    static func query(port: Int, _ expression: String) async throws -> [(labels: [String: String], value: Double)] {
        var components = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        components.queryItems = [URLQueryItem(name: "query", value: expression)]
        let (data, _) = try await URLSession.shared.data(from: components.url!)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], object["status"] as? String == "success",
              let results = (object["data"] as? [String: Any])?["result"] as? [[String: Any]]
        else { throw E2EError("Prometheus answered \(String(decoding: data, as: UTF8.self))") }
        return results.compactMap { result in
            guard let pair = result["value"] as? [Any], pair.count == 2, let text = pair[1] as? String, let value = Double(text) else { return nil }
            return ((result["metric"] as? [String: String]) ?? [:], value)
        }
    }

    /// The metric names a file's PromQL uses (`clientele_…`, `process_…`), histogram series
    /// suffixes folded into their family.
    static func metricNames(in text: String) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: #"\b(clientele_[a-z0-9_]+|process_start_time_seconds)\b"#)
        let range = NSRange(text.startIndex..., in: text)
        return Set(regex.matches(in: text, range: range).map { match -> String in
            let name = String(text[Range(match.range, in: text)!])
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && name.hasPrefix("clientele_") && name.contains("_seconds") {
                return String(name.dropLast(suffix.count))
            }
            return name
        })
    }
}

/// A parsed Prometheus text exposition.
struct Scrape {
    let text: String
    /// Sample lines: name, labels, value.
    let samples: [(name: String, labels: [String: String], value: Double)]

    init(text: String) {
        self.text = text
        samples = text.split(separator: "\n").compactMap { line -> (String, [String: String], Double)? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return (String(series), [:], value) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return (String(series[..<brace]), labels, value)
        }
    }

    /// The families declared (`# TYPE name kind`).
    var families: Set<String> {
        Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
    }

    func values(_ name: String) -> [(labels: [String: String], value: Double)] {
        samples.filter { $0.name == name }.map { ($0.labels, $0.value) }
    }

    /// The sum over the series of `name` whose labels include `matching`.
    func sum(_ name: String, _ matching: [String: String] = [:]) -> Double {
        values(name).filter { sample in matching.allSatisfy { sample.labels[$0.key] == $0.value } }.map(\.value).reduce(0, +)
    }
}

@Suite("operations: dead-letter replay and status", .serialized, .timeLimit(.minutes(4)))
struct DeadLetterReplayProcessTests {
    @Test("dlq replay sends the dead letters of one reason back once the limit is raised: a dry run produces nothing, a replay gets them accepted, a second replay adds nothing; status shows lag and dead letters")
    func replayAfterFix() async throws {
        let broker = try await BrokerProcess()
        defer { Task { await broker.stop() } }
        var environment = broker.purchaseOnlyEnvironment
        environment["CLIENTELE_MAX_MESSAGE_BYTES"] = "256"
        var worker = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        func purchase(_ index: Int, note: Int = 0) -> String {
            #"{"eventId":"r-\#(index)","clientId":"R\#(index)","occurredAt":"2026-03-0\#(1 + index % 5)T10:00:00Z","amount":\#(10 + index),"currency":"EUR","productId":"\#(String(repeating: "p", count: note))"}"#
        }
        let good = (0..<5).map { purchase($0) }
        let large = (5..<8).map { purchase($0, note: 300) }
        #expect(try await broker.produce(topic: "purchases", good + large + [#"{"eventId":"r-x","#, #"{"eventId":"r-y","clientId":"R9"}"#]) == 0)
        _ = try await broker.waitUntilApplied(5)
        let store = try await broker.createdStore()

        func replay(_ arguments: [String]) async throws -> String {
            let result = try await ChildProcess.run(
                "clientele", ["dlq", "replay", "--topic", "purchases.dlq", "--bootstrap-servers", broker.bootstrapServers] + arguments,
                directory: broker.directory)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        // Wait for the five dead letters to be on the topic, then a dry run counts them by reason.
        var dry = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        repeat {
            dry = try await replay(["--dry-run"])
        } while !dry.contains("read 5 dead letters") && ContinuousClock.now < deadline
        #expect(dry.contains("too_large                3 would be replayed"), "\(dry)")
        #expect(dry.contains("malformed_json           1 would be replayed"), "\(dry)")
        #expect(dry.contains("dry run: 5 would be replayed, nothing produced"), "\(dry)")

        // Replayed before the fix: refused again. The copies are not replayed later (their
        // originals are), so letters that keep failing do not multiply.
        #expect(try await replay(["--reason", "too_large"]).contains("replayed 3 messages"))
        var copies = ""
        let copiesDeadline = ContinuousClock.now.advanced(by: .seconds(30))
        repeat {
            copies = try await replay(["--dry-run"])
        } while !copies.contains("read 8 dead letters") && ContinuousClock.now < copiesDeadline
        #expect(copies.contains("3 copies of letters replayed before and refused again"), "\(copies)")
        #expect(copies.contains("dry run: 5 would be replayed"), "\(copies)")

        // The fix: the default limit. Replay only the reason it fixes.
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        environment["CLIENTELE_MAX_MESSAGE_BYTES"] = nil
        worker = try ChildProcess("purchase-worker", [], environment: environment, directory: broker.directory)
        let replayed = try await replay(["--reason", "too_large"])
        #expect(replayed.contains("replayed 3 messages"), "\(replayed)")
        #expect(replayed.contains("missing_field            1 left (another reason)"), "\(replayed)")
        let summary = try await broker.waitUntilApplied(8)
        #expect(summary.acceptedEvents == 8)
        #expect(summary.clients == 8)

        // Again: each is a duplicate now (the worker counts them); nothing more is accepted or dead-lettered.
        let port = try await OperationsProcessTests.port(of: worker, name: "purchase-worker")
        let again = try await replay(["--reason", "too_large"])
        #expect(again.contains("read 8 dead letters"), "no new dead letter: \(again)")
        var duplicates = 0.0
        let duplicatesDeadline = ContinuousClock.now.advanced(by: .seconds(30))
        while duplicates < 3, ContinuousClock.now < duplicatesDeadline {
            try await Task.sleep(for: .milliseconds(200))
            duplicates = Scrape(text: try await OperationsProcessTests.get(port: port, path: "/metrics").body).sum("clientele_events_duplicate_total")
        }
        #expect(duplicates == 3)
        let replayedTwice = try await replay(["--dry-run"])
        #expect(replayedTwice.contains("read 8 dead letters"), "\(replayedTwice)")
        #expect(try await store.summary().acceptedEvents == 8)

        let status = try await ChildProcess.run(
            "clientele", ["status", "--database", broker.databaseURL, "--bootstrap-servers", broker.bootstrapServers], directory: broker.directory)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("clientele-purchase-worker   lag 0 messages on purchases"), "\(status.stdout)")
        #expect(status.stdout.contains("dead letters     8 on purchases.dlq"), "\(status.stdout)")
        #expect(status.stdout.contains("outbox backlog   0"), "\(status.stdout)")

        let bad = try await ChildProcess.run("clientele", ["dlq", "replay", "--topic", "purchases", "--bootstrap-servers", broker.bootstrapServers],
                                             directory: broker.directory)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("dead-letter topic"), "\(bad.stderr)")
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
    }
}

import Foundation
import Testing
import Yams

/// `compose.yaml`, the Dockerfile and Prometheus's compose configuration, checked statically (no
/// Docker engine runs here): the file parses, every service exists, images are pinned, the
/// workers get a PostgreSQL URL, a key and a readiness healthcheck, and every worker port is a
/// Prometheus scrape target.
@Suite("compose.yaml and the Dockerfile")
struct ComposeFileTests {
    static let root = OperationsProcessTests.root

    static let workers = ["purchase-worker": 9101, "contact-worker": 9102, "churn-worker": 9103]

    /// A mapping with YAML merge keys (`<<: *anchor`) folded in, as Compose reads it.
    static func mapping(_ value: Any?) -> [String: Any] {
        guard var mapping = value as? [String: Any] else { return [:] }
        if let merged = mapping.removeValue(forKey: "<<") {
            let bases = (merged as? [Any])?.map { Self.mapping($0) } ?? [Self.mapping(merged)]
            for base in bases { mapping.merge(base) { mine, _ in mine } }
        }
        return mapping
    }

    static func load(_ path: String) throws -> [String: Any] {
        let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        return mapping(try Yams.load(yaml: text))
    }

    @Test("every service is there, images are pinned, and the workers are wired to PostgreSQL, the key, Kafka and a readiness healthcheck")
    func services() throws {
        let compose = try Self.load("compose.yaml")
        let services = Self.mapping(compose["services"])
        for name in ["kafka", "kafka-init", "postgres", "keygen", "prometheus", "grafana"] + Self.workers.keys {
            #expect(services[name] != nil, "compose.yaml has no service \(name)")
        }
        for (name, value) in services {
            let service = Self.mapping(value)
            let image = try #require(service["image"] as? String, "\(name) names no image")
            if image.hasPrefix("clientele:") {
                #expect(service["build"] != nil || services.values.contains { Self.mapping($0)["build"] != nil && Self.mapping($0)["image"] as? String == image },
                        "\(name): the local image \(image) is built by some service")
                continue
            }
            let tag = image.split(separator: ":").last.map(String.init) ?? ""
            #expect(image.contains(":") && tag != "latest" && tag.contains(where: \.isNumber), "\(name): image \(image) is not pinned to a version")
        }
        #expect((Self.mapping(services["kafka"])["environment"].map(Self.mapping)?["KAFKA_PROCESS_ROLES"] as? String)?.contains("controller") == true,
                "Kafka runs in KRaft mode")
        for (name, port) in Self.workers {
            let service = Self.mapping(services[name])
            let command = (service["command"] as? [Any])?.compactMap { $0 as? String } ?? []
            #expect(command.first == name, "\(name) runs \(command)")
            let environment = Self.mapping(service["environment"])
            #expect((environment["DATABASE_URL"] as? String)?.hasPrefix("postgres://") == true, "\(name): DATABASE_URL \(String(describing: environment["DATABASE_URL"]))")
            #expect(environment["CLIENTELE_ERASURE_KEY_FILE"] != nil, "\(name) has the deployment key")
            #expect(environment["KAFKA_BOOTSTRAP_SERVERS"] as? String == "kafka:9092")
            #expect("\(environment["CLIENTELE_HTTP_PORT"] ?? "")" == String(port))
            let healthcheck = Self.mapping(service["healthcheck"])
            let test = (healthcheck["test"] as? [Any])?.map { "\($0)" }.joined(separator: " ") ?? "\(healthcheck["test"] ?? "")"
            #expect(test.contains("127.0.0.1:\(port)/health/ready"), "\(name) healthcheck: \(test)")
            #expect(healthcheck["interval"] != nil && healthcheck["retries"] != nil)
            let dependsOn = Self.mapping(service["depends_on"])
            #expect(dependsOn["postgres"] != nil && dependsOn["kafka-init"] != nil, "\(name) waits for the database and the topics")
        }
        #expect((Self.mapping(Self.mapping(services["purchase-worker"])["deploy"])["replicas"] as? Int ?? 1) >= 2, "purchase-worker has replicas")
    }

    @Test("every worker port is a scrape target of the job the alerts and the dashboard use, and Prometheus loads the alert rules")
    func scrapeTargets() throws {
        let prometheus = try Self.load("config/prometheus/prometheus.yml")
        let jobs = (prometheus["scrape_configs"] as? [Any] ?? []).map(Self.mapping)
        let clientele = try #require(jobs.first { $0["job_name"] as? String == "clientele" })
        var targets: Set<String> = []
        for entry in (clientele["dns_sd_configs"] as? [Any] ?? []).map(Self.mapping) {
            for name in entry["names"] as? [Any] ?? [] { targets.insert("\(name):\(entry["port"] ?? "")") }
        }
        for entry in (clientele["static_configs"] as? [Any] ?? []).map(Self.mapping) {
            for target in entry["targets"] as? [Any] ?? [] { targets.insert("\(target)") }
        }
        for (name, port) in Self.workers {
            #expect(targets.contains("\(name):\(port)"), "\(name):\(port) is not scraped; targets: \(targets)")
        }
        #expect((prometheus["rule_files"] as? [Any])?.contains { "\($0)".hasSuffix("alerts.yml") } == true)
        let compose = try Self.load("compose.yaml")
        let volumes = (Self.mapping(Self.mapping(compose["services"])["prometheus"])["volumes"] as? [Any] ?? []).map { "\($0)" }
        #expect(volumes.contains { $0.hasPrefix("./config/prometheus") }, "Prometheus mounts config/prometheus: \(volumes)")
        let grafana = (Self.mapping(Self.mapping(compose["services"])["grafana"])["volumes"] as? [Any] ?? []).map { "\($0)" }
        #expect(grafana.contains { $0.contains("config/grafana/dashboards") } && grafana.contains { $0.contains("config/grafana/provisioning") })
    }

    @Test("the Dockerfile is multi-stage and runs as a non-root user with a readiness healthcheck, on a pinned base")
    func dockerfile() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let lines = text.split(separator: "\n")
        let froms = lines.filter { $0.hasPrefix("FROM ") }
        #expect(froms.count >= 2, "multi-stage")
        // Base images are build arguments with pinned defaults.
        let defaults = Dictionary(lines.filter { $0.hasPrefix("ARG ") && $0.contains("=") }.map { line -> (String, String) in
            let pair = line.dropFirst(4).split(separator: "=", maxSplits: 1)
            return (String(pair[0]), String(pair[1]))
        }, uniquingKeysWith: { $1 })
        for from in froms {
            var image = String(from.split(separator: " ")[1])
            if image.hasPrefix("${"), let name = image.dropFirst(2).split(separator: "}").first { image = defaults[String(name)] ?? image }
            #expect(image.contains(":") && !image.hasSuffix(":latest") && image.contains(where: \.isNumber), "\(from) → \(image)")
        }
        let user = try #require(text.split(separator: "\n").last { $0.hasPrefix("USER ") })
        #expect(!user.contains("root") && user != "USER 0")
        #expect(text.contains("HEALTHCHECK") && text.contains("/health/ready"))
        #expect(text.contains("librdkafka1"))
        let ignore = try String(contentsOf: Self.root.appendingPathComponent(".dockerignore"), encoding: .utf8)
        #expect(ignore.contains(".build"))
    }

    @Test("every alert has a summary, a description, a severity and a runbook that exists")
    func alertsHaveRunbooks() throws {
        let rules = try Self.load("config/prometheus/alerts.yml")
        var alerts: [[String: Any]] = []
        for group in rules["groups"] as? [Any] ?? [] {
            for rule in Self.mapping(group)["rules"] as? [Any] ?? [] { alerts.append(Self.mapping(rule)) }
        }
        #expect(alerts.count >= 10)
        for alert in alerts {
            let name = try #require(alert["alert"] as? String)
            let annotations = Self.mapping(alert["annotations"])
            #expect(annotations["summary"] != nil && annotations["description"] != nil, "\(name)")
            #expect(Self.mapping(alert["labels"])["severity"] != nil, "\(name)")
            let url = try #require(annotations["runbook_url"] as? String, "\(name) has no runbook_url")
            let path = try #require(url.range(of: "/blob/main/").map { String(url[$0.upperBound...]) }, "\(name): \(url)")
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(path).path), "\(name): runbook \(path) is missing")
        }
        let names = Set(alerts.compactMap { $0["alert"] as? String })
        for needed in ["ConsumerLagHigh", "ConsumerLagGrowing", "ConsumerStalled", "ConsumerPartitionStalled", "DeadLettersRising",
                       "OutboxBacklogOld", "StoreErrors", "WorkerDown", "ChurnSweepBehind", "ModelStale", "RebalanceStorm"] {
            #expect(names.contains("Clientele" + needed), "no alert Clientele\(needed)")
        }
    }
}

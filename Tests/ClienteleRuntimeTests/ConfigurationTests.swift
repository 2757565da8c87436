import ClienteleDomain
import ClienteleRuntime
import Foundation
import Testing

@Suite("worker configuration")
struct ConfigurationTests {
    func load(_ environment: [String: String]) async throws -> WorkerConfiguration {
        try await WorkerConfiguration.load(workerName: "purchase-worker", defaultHTTPPort: 9101, environment: environment)
    }

    func problem(_ environment: [String: String]) async -> String? {
        do {
            _ = try await load(environment)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("defaults follow the contract")
    func defaults() async throws {
        let configuration = try await load([:])
        #expect(configuration.kafka.bootstrapServers == "localhost:9092")
        #expect(configuration.database.description == "sqlite:clientele.sqlite?synchronous=full")
        #expect(configuration.topics.prefix == "")
        #expect(configuration.httpPort == 9101)
        #expect(configuration.clock == .wall)
        #expect(configuration.groupId == "clientele-purchase-worker")
        #expect(configuration.purchaseRules.currencies.reportingCurrency == nil)
        var rules = configuration.purchaseRules
        rules.currencies = CurrencyPolicy()
        #expect(rules == PurchaseRules())
    }

    @Test("churn settings: defaults, the sectors file and the chosen sector")
    func churn() async throws {
        let defaults = try await load([:]).churn
        #expect(defaults.rules.sector.name == "general")
        #expect(defaults.settings == ChurnSettings())
        #expect(defaults.modelKind == .mbgnbd)
        let chosen = try await load([
            "CLIENTELE_SECTOR": "grocery", "CLIENTELE_AT_RISK_BELOW": "0.4", "CLIENTELE_PASSIVE_BELOW": "0.1",
            "CLIENTELE_TASK_COOLDOWN_DAYS": "7", "CLIENTELE_CHURN_MODEL": "bgnbd", "CLIENTELE_SWEEP_BATCH_SIZE": "100",
        ]).churn
        #expect(chosen.rules.sector == SectorLimits(name: "grocery", atRiskAfterDays: 21, passiveAfterDays: 60))
        #expect(chosen.settings.atRiskBelow == 0.4 && chosen.settings.passiveBelow == 0.1)
        #expect(chosen.settings.taskCooldownSeconds == 7 * 86_400)
        #expect(chosen.modelKind == .bgnbd && chosen.sweepBatchSize == 100)
    }

    @Test("environment variables and KAFKA_ pass-through properties are read")
    func environment() async throws {
        let configuration = try await load([
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9093", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_PASSWORD": "hunter2", "CLIENTELE_TOPIC_PREFIX": "acme.", "CLIENTELE_CLOCK": "event",
            "CLIENTELE_REGULAR_AFTER": "6", "CLIENTELE_LARGE_ORDER_AMOUNT": "250.50", "CLIENTELE_BATCH_SIZE": "500",
        ])
        #expect(configuration.kafka.bootstrapServers == "k1:9092,k2:9093")
        #expect(configuration.kafka.properties["security.protocol"] == "SASL_SSL")
        #expect(!configuration.kafka.description.contains("hunter2"))
        #expect(configuration.topics.resolve("purchases") == "acme.purchases")
        #expect(configuration.clock == .event)
        #expect(configuration.purchaseRules.regularAfter == 6)
        #expect(configuration.purchaseRules.largeOrderAmount == Money(jsonNumber: "250.50"))
        #expect(configuration.batchSize == 500)
    }

    @Test("bad settings stop startup with a message naming the variable", arguments: [
        (["KAFKA_BOOTSTRAP_SERVERS": "localhost"], "KAFKA_BOOTSTRAP_SERVERS"),
        (["DATABASE_URL": "mysql://x"], "DATABASE_URL"),
        (["CLIENTELE_CLOCK": "sundial"], "CLIENTELE_CLOCK"),
        (["CLIENTELE_HTTP_PORT": "70000"], "CLIENTELE_HTTP_PORT"),
        (["CLIENTELE_BATCH_SIZE": "lots"], "CLIENTELE_BATCH_SIZE"),
        (["CLIENTELE_TOPIC_PREFIX": "a b"], "CLIENTELE_TOPIC_PREFIX"),
        (["CLIENTELE_LOG_LEVEL": "loud"], "CLIENTELE_LOG_LEVEL"),
        (["CLIENTELE_LARGE_ORDER_AMOUNT": "-3"], "CLIENTELE_LARGE_ORDER_AMOUNT"),
        (["CLIENTELE_REGULAR_AFTER": "1"], "CLIENTELE_REGULAR_AFTER"),
        (["CLIENTELE_SECTOR": "bakery"], "CLIENTELE_SECTOR"),
        (["CLIENTELE_SECTORS_FILE": "/no/such/sectors.yaml"], "CLIENTELE_SECTORS_FILE"),
        (["CLIENTELE_CHURN_MODEL": "pareto"], "CLIENTELE_CHURN_MODEL"),
        (["CLIENTELE_AT_RISK_BELOW": "1.5"], "CLIENTELE_AT_RISK_BELOW"),
        (["CLIENTELE_AT_RISK_BELOW": "0.1", "CLIENTELE_PASSIVE_BELOW": "0.3"], "CLIENTELE_PASSIVE_BELOW"),
        (["CLIENTELE_TASK_COOLDOWN_DAYS": "-1"], "CLIENTELE_TASK_COOLDOWN_DAYS"),
        (["CLIENTELE_SWEEP_INTERVAL_MS": "0"], "CLIENTELE_SWEEP_INTERVAL_MS"),
        (["CLIENTELE_CONFIG_FILE": "/no/such/file.yaml"], "CLIENTELE_CONFIG_FILE"),
        (["CLIENTELE_STREAM_ALIGNMENT": "maybe"], "CLIENTELE_STREAM_ALIGNMENT"),
        (["CLIENTELE_ALLOWED_LATENESS": "soon"], "CLIENTELE_ALLOWED_LATENESS"),
        (["CLIENTELE_ALLOWED_LATENESS": "2"], "CLIENTELE_ALLOWED_LATENESS"),
        (["CLIENTELE_ALLOWED_LATENESS": "2d"], "CLIENTELE_ALLOWED_LATENESS"),
        (["CLIENTELE_STREAM_IDLE_SECONDS": "0"], "CLIENTELE_STREAM_IDLE_SECONDS"),
        (["CLIENTELE_INSTANCE_ID": "purchase worker 1"], "CLIENTELE_INSTANCE_ID"),
        (["CLIENTELE_INSTANCE_ID": "pw/1"], "CLIENTELE_INSTANCE_ID"),
        (["CLIENTELE_INSTANCE_ID": String(repeating: "w", count: 201)], "CLIENTELE_INSTANCE_ID"),
    ])
    func badSettings(environment: [String: String], variable: String) async {
        let message = await problem(environment)
        #expect(message?.contains(variable) == true, "got: \(message ?? "no error")")
    }

    @Test("a replica's instance id becomes its consumer's static membership; the consumer's session is 10 s unless set")
    func staticMembership() async throws {
        let plain = try await load([:])
        #expect(plain.instanceId == nil)
        #expect(plain.consumerKafka.properties["group.instance.id"] == nil)
        #expect(plain.consumerKafka.properties["session.timeout.ms"] == "10000")
        #expect(plain.kafka.properties["session.timeout.ms"] == nil)  // the producer does not get it

        let named = try await load(["CLIENTELE_INSTANCE_ID": "purchase-worker-0"])
        #expect(named.instanceId == "purchase-worker-0")
        #expect(named.consumerKafka.properties["group.instance.id"] == "purchase-worker-0")

        let explicit = try await load([
            "CLIENTELE_INSTANCE_ID": "purchase-worker-0", "KAFKA_GROUP_INSTANCE_ID": "given", "KAFKA_SESSION_TIMEOUT_MS": "30000",
        ])
        #expect(explicit.consumerKafka.properties["group.instance.id"] == "given")
        #expect(explicit.consumerKafka.properties["session.timeout.ms"] == "30000")
    }

    @Test("stream alignment: on by default with no lateness and a 30 s idle time; durations take a unit")
    func streamAlignment() async throws {
        let defaults = try await load([:]).alignment
        #expect(defaults == StreamAlignmentSettings(enabled: true, allowedLateness: .zero, idleAfter: .seconds(30)))
        let set = try await load([
            "CLIENTELE_STREAM_ALIGNMENT": "off", "CLIENTELE_ALLOWED_LATENESS": "1500ms", "CLIENTELE_STREAM_IDLE_SECONDS": "5",
        ]).alignment
        #expect(!set.enabled && set.allowedLateness == .milliseconds(1500) && set.idleAfter == .seconds(5))
        #expect(try await load(["CLIENTELE_ALLOWED_LATENESS": "2m"]).alignment.allowedLateness == .seconds(120))
        #expect(try await load(["CLIENTELE_ALLOWED_LATENESS": "0"]).alignment.allowedLateness == .zero)
    }

    @Test("a YAML file sets the same keys; the environment wins over it")
    func yamlFile() async throws {
        let path = NSTemporaryDirectory() + "clientele-\(UUID().uuidString).yaml"
        try """
            kafka:
              bootstrap:
                servers: "file-broker:9092"
            database:
              url: "sqlite:from-file.sqlite"
            clientele:
              regular:
                after: 5
              batch:
                size: 750
            """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try await load(["CLIENTELE_CONFIG_FILE": path, "DATABASE_URL": "sqlite:from-env.sqlite"])
        #expect(configuration.kafka.bootstrapServers == "file-broker:9092")
        #expect(configuration.database.description.hasPrefix("sqlite:from-env.sqlite"))
        #expect(configuration.purchaseRules.regularAfter == 5)
        #expect(configuration.batchSize == 750)
    }
}

@Suite("shipped configuration files")
struct ShippedConfigurationTests {
    @Test("config/clientele.example.yaml loads and matches the defaults")
    func exampleFile() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("config/clientele.example.yaml").path
        let configuration = try await WorkerConfiguration.load(
            workerName: "purchase-worker", defaultHTTPPort: 9101, environment: ["CLIENTELE_CONFIG_FILE": path])
        #expect(configuration.kafka.bootstrapServers == "localhost:9092")
        #expect(configuration.batchSize == 20_000)
        #expect(configuration.maxMessageBytes == 65536)
        var rules = configuration.purchaseRules
        rules.currencies = CurrencyPolicy()
        #expect(rules == PurchaseRules())
        var contacts = configuration.contactRules
        contacts.purchaseRules.currencies = CurrencyPolicy()
        #expect(contacts == ContactRules())
        #expect(configuration.churn.settings == ChurnSettings())
        #expect(configuration.churn.rules.sector.name == "general")
        #expect(configuration.churn.sectorsSource == "config/sectors.yaml")
        #expect(configuration.churn.sweepBatchSize == 5000)
        #expect(configuration.alignment == StreamAlignmentSettings())
        #expect(configuration.httpHost == "0.0.0.0" && configuration.httpPort == 9101)
        #expect(configuration.logFormat == .text && configuration.stallAfter == .seconds(120))
    }
}

@Suite("sectors file")
struct SectorCatalogTests {
    @Test("config/sectors.yaml loads, and every sector in it validates")
    func shippedFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let catalog = try SectorCatalog.load(path: root.appendingPathComponent("config/sectors.yaml").path)
        #expect(Set(catalog.sectors.keys).isSuperset(of: ["grocery", "fashion", "car_dealer", "hotel", "subscription_software"]))
        let grocery = try catalog.rules(for: "grocery")
        #expect(grocery.sector.atRiskAfterDays == 21)
        #expect(grocery.atRiskGapMultiple == 2)
    }

    @Test("a bad sectors file says what to fix", arguments: [
        ("sectors: {}", "sectors"),
        ("sectors:\n  shop:\n    at_risk_after_days: 30\n", "shop"),
        ("sectors:\n  shop:\n    at_risk_after_days: 90\n    passive_after_days: 30\n", "shop"),
        ("sectors:\n  shop: {at_risk_after_days: 9, passive_after_days: 30}\ndefaults:\n  own_rhythm:\n    at_risk_gap_multiple: x\n", "at_risk_gap_multiple"),
    ])
    func badFiles(yaml: String, mentions: String) {
        #expect {
            _ = try SectorCatalog.parse(yaml)
        } throws: { error in
            "\(error)".contains(mentions)
        }
    }

    @Test("an unknown sector lists the known ones")
    func unknownSector() throws {
        let catalog = try SectorCatalog.parse("sectors:\n  shop: {at_risk_after_days: 9, passive_after_days: 30}\n")
        #expect {
            _ = try catalog.rules(for: "bakery")
        } throws: { error in
            "\(error)".contains("shop") && "\(error)".contains("CLIENTELE_SECTOR")
        }
    }
}

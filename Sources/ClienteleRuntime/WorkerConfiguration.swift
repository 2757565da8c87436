import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import Configuration
import Foundation
import Logging

/// Everything a worker reads at startup, validated. Sources, highest priority first:
/// environment variables, then the YAML file named by `CLIENTELE_CONFIG_FILE` (nested keys,
/// e.g. `kafka: {bootstrap: {servers: …}}` for `KAFKA_BOOTSTRAP_SERVERS`), then defaults.
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `KAFKA_BOOTSTRAP_SERVERS` | `host:port[,host:port…]` | `localhost:9092` |
/// | `KAFKA_<PROPERTY>` | any librdkafka property, dots as underscores | – |
/// | `DATABASE_URL` | `sqlite:PATH` or `postgres://user[:password]@host[:port]/db[?sslmode=disable\|prefer\|require\|verify-full]` | `sqlite:clientele.sqlite` |
/// | `DATABASE_PASSWORD_FILE` | PostgreSQL password read from this file (instead of the URL) | – |
/// | `CLIENTELE_DB_POOL_SIZE` | PostgreSQL connections per process, at most | 10 |
/// | `CLIENTELE_TOPIC_PREFIX` | prepended to every topic | empty |
/// | `CLIENTELE_HTTP_PORT` | `/metrics` and `/health` port (0: any free port, logged) | 9101 purchase-, 9102 contact-, 9103 churn-worker |
/// | `CLIENTELE_HTTP_HOST` | address they listen on | `0.0.0.0` |
/// | `CLIENTELE_STALL_SECONDS` | the consume/sweep loop not turning this long fails `/health/live` | 120 |
/// | `CLIENTELE_LOG_FORMAT` | `text` or `json` (one object per line) | `text` |
/// | `CLIENTELE_CLOCK` | `wall` or `event` | `wall` |
/// | `CLIENTELE_GROUP_ID` | consumer group | `clientele-<worker>` |
/// | `CLIENTELE_INSTANCE_ID` | this replica's stable name in its group (static membership: a restart takes its partitions back at once) | none |
/// | `CLIENTELE_BATCH_SIZE` | messages per store transaction | 20000 |
/// | `CLIENTELE_BATCH_WAIT_MS` | longest wait for a batch's first message | 100 |
/// | `CLIENTELE_MAX_MESSAGE_BYTES` | larger input messages are dead-lettered | 65536 |
/// | `CLIENTELE_LOG_LEVEL` | `trace` … `critical` | `info` |
/// | `CLIENTELE_REGULAR_AFTER` | purchases that make a client `regular` | 4 |
/// | `CLIENTELE_LARGE_ORDER_AMOUNT` | absolute large-order threshold | 1000 |
/// | `CLIENTELE_LARGE_ORDER_FACTOR` | large order = factor × own average | 3 |
/// | `CLIENTELE_HOT_INQUIRY_DAYS` | an inbound inquiry keeps a prospect hot this long | 14 |
/// | `CLIENTELE_COMPLAINT_SLA_HOURS` | a complaint follow-up is due after | 24 |
/// | `CLIENTELE_REPEATED_COMPLAINT_DAYS` | two complaints this close make the second urgent | 30 |
/// | `CLIENTELE_HIGH_VALUE_AMOUNT` | total purchases that make a complaint urgent | 5000 |
/// | `CLIENTELE_LOW_SATISFACTION` | scores up to this (of 5) need recovery | 2 |
/// | `CLIENTELE_SECTOR` | business sector whose recency limits apply before a model | `general` |
/// | `CLIENTELE_SECTORS_FILE` | the sectors' limits | `config/sectors.yaml` if present, else built in |
/// | `CLIENTELE_CHURN_MODEL` | `mbgnbd` or `bgnbd`: which fitted model judges churn | `mbgnbd` |
/// | `CLIENTELE_AT_RISK_BELOW` | P(alive) below which a client is `at_risk` | 0.5 |
/// | `CLIENTELE_PASSIVE_BELOW` | P(alive) below which a client is `passive` | 0.2 |
/// | `CLIENTELE_CHURN_HYSTERESIS` | margin a lapsed client must clear to return without activity | 0.1 |
/// | `CLIENTELE_TASK_COOLDOWN_DAYS` | no second churn task of a kind per client within | 30 |
/// | `CLIENTELE_RETENTION_CALL_VALUE` | value at risk from which `retention_call` replaces `retention_offer` | 100 |
/// | `CLIENTELE_MODEL_REFRESH_SECONDS` | how often workers look for a newer fitted model | 30 |
/// | `CLIENTELE_SWEEP_INTERVAL_MS` | churn-worker: pause between sweeps | 1000 |
/// | `CLIENTELE_SWEEP_BATCH_SIZE` | churn-worker: clients reviewed per transaction | 5000 |
/// | `CLIENTELE_EVENT_CLOCK_IDLE_SECONDS` | event clock: a partition not advancing this long stops holding it back | 30 |
/// | `CLIENTELE_STREAM_ALIGNMENT`, `CLIENTELE_ALLOWED_LATENESS`, `CLIENTELE_STREAM_IDLE_SECONDS` | see ``StreamAlignmentSettings`` | on, 0s, 30 |
public struct WorkerConfiguration: Sendable {
    public enum Clock: String, Sendable { case wall, event }

    public var workerName: String
    public var kafka: KafkaConfiguration
    public var database: DatabaseURL
    /// PostgreSQL: the most connections this process opens (`CLIENTELE_DB_POOL_SIZE`).
    public var databasePoolSize: Int
    public var topics: TopicNames
    /// `/metrics` and `/health` port (0: any free port, logged).
    public var httpPort: Int
    /// The address `/metrics` and `/health` listen on (`CLIENTELE_HTTP_HOST`).
    public var httpHost: String
    /// `CLIENTELE_STALL_SECONDS`: the main loop not turning this long fails `/health/live`.
    public var stallAfter: Duration
    /// `CLIENTELE_LOG_FORMAT`.
    public var logFormat: LogFormat
    public var clock: Clock
    public var groupId: String
    /// This replica's stable name in its consumer group (`CLIENTELE_INSTANCE_ID`), librdkafka's
    /// `group.instance.id`: a replica restarted under the same name gets its partitions back
    /// without a rebalance, instead of waiting for its old self's session to time out.
    public var instanceId: String?
    public var batchSize: Int
    public var batchWait: Duration
    public var maxMessageBytes: Int
    public var logLevel: Logger.Level
    public var purchaseRules: PurchaseRules
    public var contactRules: ContactRules
    public var churn: ChurnConfiguration
    public var alignment: StreamAlignmentSettings
    /// When accepted events may have happened.
    public var timeWindow: EventTimeWindow
    /// A task whose cause is older than this on the deployment's clock is held back as `stale`
    /// (wall clock only: a replay on the event clock behaves as its time did).
    public var taskMaxAge: Duration
    /// The deployment key file (`CLIENTELE_ERASURE_KEY_FILE`); nil: beside an SQLite store.
    public var erasureKeyFile: String?
    /// How long the idempotency record of an event is kept, counted back from the event clock of
    /// the input partition furthest behind (`CLIENTELE_IDEMPOTENCY_RETENTION_DAYS`): longer than
    /// any Kafka retention or replay window, since a redelivery older than it is taken as new.
    public var idempotencyRetentionDays: Int

    /// Reads and validates the configuration of `workerName`.
    /// - Throws: ``ConfigurationProblem`` naming the setting and what to fix.
    public static func load(
        workerName: String, defaultHTTPPort: Int, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> WorkerConfiguration {
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(environmentVariables: environment)]
        var fileKeys: [String] = []
        let file = environment["CLIENTELE_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigurationProblem("CLIENTELE_CONFIG_FILE names '\(file)', which does not exist or cannot be read")
            }
            do {
                fileKeys = try UnknownSettings.keys(ofYAML: String(decoding: data, as: UTF8.self))
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: .init(file)))
            } catch {
                throw ConfigurationProblem("CLIENTELE_CONFIG_FILE '\(file)' is not valid YAML: \(error)")
            }
        }
        let reader = SettingsReader(config: ConfigReader(providers: providers))
        let configuration = try WorkerConfiguration(workerName: workerName, defaultHTTPPort: defaultHTTPPort, reader: reader, environment: environment)
        try UnknownSettings.check(environment: environment, fileKeys: fileKeys, file: file, known: reader.keys.all)
        return configuration
    }

    init(workerName: String, defaultHTTPPort: Int, reader: SettingsReader, environment: [String: String]) throws {
        self.workerName = workerName
        let servers = reader.string("kafka.bootstrap.servers", default: "localhost:9092")
        try Self.validateBootstrapServers(servers)
        var properties: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("KAFKA_") && name != "KAFKA_BOOTSTRAP_SERVERS" {
            let property = name.dropFirst("KAFKA_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            guard !property.isEmpty else { continue }
            properties[property] = value
        }
        kafka = KafkaConfiguration(bootstrapServers: servers, properties: properties)
        do {
            let passwordFile = reader.string("database.password.file", default: "")
            database = try DatabaseURL(parsing: reader.string("database.url", default: "sqlite:clientele.sqlite"))
                .withPassword(fromFile: passwordFile.isEmpty ? nil : passwordFile)
        } catch {
            throw ConfigurationProblem(error.message)
        }
        databasePoolSize = try reader.integer("clientele.db.pool.size", default: 10, in: 1...500)
        topics = TopicNames(prefix: try reader.matching("clientele.topic.prefix", default: "",
            rule: "letters, digits, '.', '_' or '-', at most 100", { $0.count <= 100 && $0.allSatisfy(Self.isTopicCharacter) }))
        httpPort = try reader.integer("clientele.http.port", default: defaultHTTPPort, in: 0...65535)
        httpHost = try reader.matching("clientele.http.host", default: "0.0.0.0",
            rule: "an IP address or host name to listen on, such as 0.0.0.0 or 127.0.0.1", { Self.isListenAddress($0) })
        stallAfter = .seconds(try reader.integer("clientele.stall.seconds", default: 120, in: 5...86_400))
        guard let format = LogFormat(rawValue: reader.string("clientele.log.format", default: "text").lowercased()) else {
            throw ConfigurationProblem("CLIENTELE_LOG_FORMAT must be 'text' or 'json'")
        }
        logFormat = format
        guard let clock = Clock(rawValue: reader.string("clientele.clock", default: "wall")) else {
            throw ConfigurationProblem("CLIENTELE_CLOCK must be 'wall' or 'event'")
        }
        self.clock = clock
        groupId = try reader.matching("clientele.group.id", default: "clientele-\(workerName)",
            rule: "1 to 200 characters", { (1...200).contains($0.count) })
        let instance = try reader.matching("clientele.instance.id", default: "",
            rule: "empty or 1 to 200 letters, digits, '.', '_' or '-' (e.g. the StatefulSet pod's name)",
            { $0.count <= 200 && $0.allSatisfy(Self.isTopicCharacter) })
        instanceId = instance.isEmpty ? nil : instance
        batchSize = try reader.integer("clientele.batch.size", default: 20_000, in: 1...100_000)
        batchWait = .milliseconds(try reader.integer("clientele.batch.wait.ms", default: 100, in: 1...10_000))
        maxMessageBytes = try reader.integer("clientele.max.message.bytes", default: EventLimits.defaultMaximumMessageBytes, in: 256...10_485_760)
        guard let level = Logger.Level(rawValue: reader.string("clientele.log.level", default: "info").lowercased()) else {
            throw ConfigurationProblem("CLIENTELE_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = level
        var rules = PurchaseRules()
        rules.currencies = try Self.currencies(reader)
        rules.regularAfter = try reader.integer("clientele.regular.after", default: rules.regularAfter, in: 2...1000)
        rules.largeOrderAmount = try reader.positiveMoney("clientele.large.order.amount", default: "1000")
        rules.largeOrderFactor = try reader.double("clientele.large.order.factor", default: rules.largeOrderFactor)
        try rules.validate()
        purchaseRules = rules
        var contact = ContactRules(purchaseRules: rules)
        contact.hotInquiryWindowSeconds = Int64(try reader.integer("clientele.hot.inquiry.days", default: 14, in: 1...3650)) * 86_400
        contact.complaintSLASeconds = Int64(try reader.integer("clientele.complaint.sla.hours", default: 24, in: 1...8760)) * 3600
        contact.repeatedComplaintWindowSeconds =
            Int64(try reader.integer("clientele.repeated.complaint.days", default: 30, in: 1...3650)) * 86_400
        contact.highValueAmount = try reader.positiveMoney("clientele.high.value.amount", default: "5000")
        contact.lowSatisfaction = try reader.integer("clientele.low.satisfaction", default: 2, in: 1...4)
        try contact.validate()
        contactRules = contact
        churn = try ChurnConfiguration(reader: reader, purchaseRules: rules)
        alignment = try StreamAlignmentSettings(reader: reader)
        let skew = try reader.duration("clientele.max.clock.skew", default: "24h", in: .zero ... .seconds(366 * 86_400))
        let earliestText = reader.string("clientele.earliest.event.time", default: "1990-01-01T00:00:00Z")
        guard let earliest = Timestamp(rfc3339: earliestText) ?? Timestamp(rfc3339: earliestText + "T00:00:00Z") else {
            throw ConfigurationProblem("CLIENTELE_EARLIEST_EVENT_TIME must be an RFC 3339 time or a date such as 1990-01-01 (got '\(earliestText)')")
        }
        timeWindow = EventTimeWindow(earliest: earliest, maximumClockSkewSeconds: skew.components.seconds)
        taskMaxAge = try reader.duration("clientele.task.max.age", default: "7d", in: .seconds(1) ... .seconds(36_500 * 86_400))
        idempotencyRetentionDays = try reader.integer("clientele.idempotency.retention.days", default: 400, in: 1...36_500)
        let keyFile = reader.string("clientele.erasure.key.file", default: "")
        erasureKeyFile = keyFile.isEmpty ? nil : keyFile
        if let erasureKeyFile, !FileManager.default.isReadableFile(atPath: erasureKeyFile) {
            throw ConfigurationProblem("CLIENTELE_ERASURE_KEY_FILE names '\(erasureKeyFile)', which cannot be read (create one with: openssl rand -hex 32 > FILE; chmod 600 FILE)")
        }
    }

    /// Every rule a worker applies (both streams' and the churn policy with `models`).
    public func clientRules(models: ChurnModels?) -> ClientRules {
        ClientRules(purchases: purchaseRules, contacts: contactRules, churn: churn.policy(models: models))
    }

    /// The reporting currency (`CLIENTELE_REPORTING_CURRENCY`) and the rates
    /// (`CLIENTELE_EXCHANGE_RATES_FILE`, else `config/exchange-rates.yaml` when present).
    static func currencies(_ reader: SettingsReader) throws -> CurrencyPolicy {
        let code = reader.string("clientele.reporting.currency", default: "").trimmingCharacters(in: .whitespaces)
        var reporting: Currency?
        if !code.isEmpty {
            guard let currency = Currency(code: code) else {
                throw ConfigurationProblem("CLIENTELE_REPORTING_CURRENCY must be an active ISO 4217 code such as EUR (got '\(code)')")
            }
            reporting = currency
        }
        var rates = ExchangeRates()
        let file = reader.string("clientele.exchange.rates.file", default: "")
        if !file.isEmpty {
            rates = try ExchangeRatesFile.load(path: file, reporting: reporting)
        } else if FileManager.default.fileExists(atPath: "config/exchange-rates.yaml") {
            rates = try ExchangeRatesFile.load(path: "config/exchange-rates.yaml", reporting: reporting)
        }
        return CurrencyPolicy(reportingCurrency: reporting, rates: rates)
    }

    static func isListenAddress(_ text: String) -> Bool {
        (1...253).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:".contains($0)) }
    }

    /// `max.poll.interval.ms` as librdkafka uses it (its default, 300 s, unless configured).
    public var maxPollInterval: Duration {
        .milliseconds(kafka.properties["max.poll.interval.ms"].flatMap { Int($0) } ?? 300_000)
    }

    /// The worker's consumer: ``kafka`` with `group.instance.id` from ``instanceId`` (unless
    /// `KAFKA_GROUP_INSTANCE_ID` gives one) and a 10 s session (`session.timeout.ms`, librdkafka's
    /// default 45 s, unless `KAFKA_SESSION_TIMEOUT_MS` says otherwise): a replica that died leaves
    /// its partitions to the others after 10 s, and heartbeats come from librdkafka's own thread,
    /// so a long batch does not end a session.
    public var consumerKafka: KafkaConfiguration {
        var configuration = kafka
        if let instanceId { configuration.setDefault("group.instance.id", instanceId) }
        configuration.setDefault("session.timeout.ms", "10000")
        return configuration
    }

    /// The worker's producer (the outbox relay, dead letters): ``kafka`` with `linger.ms` 1 unless
    /// `KAFKA_LINGER_MS` (or its alias `queue.buffering.max.ms`) says otherwise. The relay sends
    /// what one read of the outbox found and waits for it, so requests fill anyway; librdkafka's 5
    /// only held each publish 4 ms longer (measured: purchase → `client-status` p50 27.0–29.5 →
    /// 22.0–22.7 ms, p99 47.4–53.0 → 40.9–42.5 ms at 10,000/s, events/s unchanged).
    public var producerKafka: KafkaConfiguration {
        var configuration = kafka
        if configuration.properties["queue.buffering.max.ms"] == nil { configuration.setDefault("linger.ms", "1") }
        return configuration
    }

    static func isTopicCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "._-".contains(character))
    }

    static func validateBootstrapServers(_ servers: String) throws {
        let entries = servers.split(separator: ",", omittingEmptySubsequences: false)
        for entry in entries {
            let trimmed = entry.trimmingCharacters(in: .whitespaces)
            let withoutScheme = trimmed.split(separator: "://", maxSplits: 1).last.map(String.init) ?? trimmed
            guard let colon = withoutScheme.lastIndex(of: ":"), colon != withoutScheme.startIndex,
                  let port = Int(withoutScheme[withoutScheme.index(after: colon)...]), (1...65535).contains(port)
            else {
                throw ConfigurationProblem(
                    "KAFKA_BOOTSTRAP_SERVERS must be a comma-separated list of host:port (got '\(servers)')")
            }
        }
    }
}

/// Reads settings by their dotted key; errors name the environment variable. Every key read is
/// recorded (``keys``): the settings a deployment may give.
struct SettingsReader {
    let config: ConfigReader
    let keys = SettingKeys()

    static func variableName(_ key: String) -> String {
        key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    func string(_ key: String, default defaultValue: String) -> String {
        keys.note(key)
        return config.string(forKey: ConfigKey(key.split(separator: ".").map(String.init))) ?? defaultValue
    }

    func matching(_ key: String, default defaultValue: String, rule: String, _ isValid: (String) -> Bool) throws -> String {
        let value = string(key, default: defaultValue)
        guard isValid(value) else {
            throw ConfigurationProblem("\(Self.variableName(key)) must be \(rule) (got '\(value)')")
        }
        return value
    }

    func integer(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws -> Int {
        let text = string(key, default: String(defaultValue)).trimmingCharacters(in: .whitespaces)
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationProblem(
                "\(Self.variableName(key)) must be a whole number from \(range.lowerBound) to \(range.upperBound) (got '\(text)')")
        }
        return value
    }

    func fraction(_ key: String, default defaultValue: Double) throws -> Double {
        let value = try double(key, default: defaultValue)
        guard value >= 0, value < 1 else {
            throw ConfigurationProblem("\(Self.variableName(key)) must be a number from 0 to below 1 (got \(value))")
        }
        return value
    }

    func double(_ key: String, default defaultValue: Double) throws -> Double {
        let text = string(key, default: String(defaultValue)).trimmingCharacters(in: .whitespaces)
        guard let value = Double(text), value.isFinite else {
            throw ConfigurationProblem("\(Self.variableName(key)) must be a number (got '\(text)')")
        }
        return value
    }

    func positiveMoney(_ key: String, default defaultValue: String) throws -> Money {
        let text = string(key, default: defaultValue).trimmingCharacters(in: .whitespaces)
        guard let money = Money(jsonNumber: text), money.units > 0 else {
            throw ConfigurationProblem("\(Self.variableName(key)) must be a positive number (got '\(text)')")
        }
        return money
    }
}

import ClienteleDomain
import ClienteleKafka
import ClienteleRuntime
import ClienteleStore
import Foundation
import Logging

/// The embedded broker, a store (a fresh SQLite file, or an empty PostgreSQL database given) and
/// worker child processes (`purchase-worker`, `contact-worker`, `churn-worker`) sharing it: what
/// the demo and the benchmark run on.
final class LocalStack {
    let cluster: MockKafkaCluster
    let topics: TopicNames
    /// The SQLite file (used when no PostgreSQL database is given).
    let databasePath: String
    /// The PostgreSQL database the workers share, nil: the SQLite file.
    let postgres: DatabaseURL.PostgresLocation?
    /// The store URL given to the workers.
    let databaseURL: String
    /// The deployment key every process on a PostgreSQL store uses (created in the folder).
    let keyFile: String
    let directory: String
    /// Running workers by name (`purchase-worker`, or `purchase-worker-2` for a second replica).
    private(set) var workers: [String: Process] = [:]
    private var openedStore: (any ClientStore)?

    /// `database`: a `postgres://` URL of an empty database; nil, a fresh SQLite file in `directory`.
    init(directory: String, partitions: Int, topics: TopicNames = TopicNames(), database: String? = nil) throws {
        self.directory = directory
        self.topics = topics
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        databasePath = directory + "/clientele.sqlite"
        keyFile = directory + "/clientele.key"
        if let database {
            guard case .postgres(let location) = try DatabaseURL(parsing: database) else {
                throw LocalStackError("--database takes a postgres:// URL (without it, a fresh SQLite file is used)")
            }
            postgres = location
            databaseURL = database
            _ = try DeploymentKey.readOrCreate(file: keyFile)
        } else {
            postgres = nil
            databaseURL = "sqlite:" + databasePath
            for suffix in ["", "-wal", "-shm", ".key"] { try? FileManager.default.removeItem(atPath: databasePath + suffix) }
        }
        cluster = try EmbeddedBroker.start(brokers: 3, partitions: partitions, topics: topics)
    }

    /// Where the workers' store is, for people (no password).
    var databaseDescription: String {
        postgres.map { "PostgreSQL \(DatabaseURL.postgres($0))" } ?? "a fresh SQLite file: \(databasePath)"
    }

    /// The `--database` argument that shows this store to `clientele` commands.
    var databaseArgument: String { postgres == nil ? databaseURL : "'<the --database URL>'" }

    /// Refuses a PostgreSQL database that already holds a store (the figures would mix runs).
    func requireEmptyStore() async throws {
        guard postgres != nil else { return }
        let store = try store()
        try await store.waitUntilReady()
        let accepted = try await store.acceptedEventCount()
        guard accepted == 0 else {
            throw LocalStackError("the PostgreSQL database already holds a store (\(accepted) events accepted): give an empty one, e.g. createdb clientele_demo_2")
        }
    }

    /// See ``startWorker(environment:)``.
    static let mockFetchWaitMilliseconds = 5

    /// For this process's own clients (producer and readers) of the embedded broker.
    var kafkaConfiguration: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
    }

    /// For this process's consumers: short fetch waits, as for the worker.
    var consumerConfiguration: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: cluster.bootstrapServers,
                           properties: ["fetch.wait.max.ms": String(Self.mockFetchWaitMilliseconds)])
    }

    /// Opens the store (after the worker created it, or creating it); one pool for the stack.
    func store() throws -> any ClientStore {
        if let openedStore { return openedStore }
        let store: any ClientStore
        if let postgres {
            store = try PostgresClientStore(location: postgres, poolSize: 2, key: try DeploymentKey.read(file: keyFile), startupTimeout: .seconds(30))
        } else {
            store = try SQLiteClientStore(path: databasePath)
        }
        openedStore = store
        return store
    }

    /// Starts `count` replicas of a worker: `name`, then `name-2`, `name-3`… (each with its own log).
    func startReplicas(_ name: String, count: Int, environment extra: [String: String] = [:]) throws {
        for replica in 1...max(1, count) {
            try startWorker(name, replica: replica, environment: extra)
        }
    }

    /// Starts a worker (the executable next to this one), logging to `<directory>/<name>.log`.
    func startWorker(_ name: String = "purchase-worker", replica: Int = 1, environment extra: [String: String] = [:]) throws {
        let executable = Self.siblingExecutable(name)
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw LocalStackError("cannot find the \(name) executable at \(executable); build it with `swift build`")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var environment = ProcessInfo.processInfo.environment
        environment["KAFKA_BOOTSTRAP_SERVERS"] = cluster.bootstrapServers
        environment["DATABASE_URL"] = databaseURL
        if postgres != nil { environment["CLIENTELE_ERASURE_KEY_FILE"] = keyFile }
        environment["CLIENTELE_TOPIC_PREFIX"] = topics.prefix
        environment["CLIENTELE_LOG_LEVEL"] = environment["CLIENTELE_LOG_LEVEL"] ?? "notice"
        // Any free port for /metrics and /health (logged): replicas and other stacks on this host
        // would collide on the workers' fixed ports.
        environment["CLIENTELE_HTTP_PORT"] = environment["CLIENTELE_HTTP_PORT"] ?? "0"
        // librdkafka's mock broker holds every fetch for the full fetch.wait.max.ms even when data
        // arrives (a real broker answers at once), so keep the wait short on the embedded broker.
        environment["KAFKA_FETCH_WAIT_MAX_MS"] = environment["KAFKA_FETCH_WAIT_MAX_MS"] ?? String(Self.mockFetchWaitMilliseconds)
        environment.merge(extra) { $1 }
        process.environment = environment
        let label = replica == 1 ? name : "\(name)-\(replica)"
        let logPath = directory + "/\(label).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        try process.run()
        workers[label] = process
    }

    /// Peak resident memory of a worker so far (VmHWM), in bytes.
    func workerPeakMemory(_ name: String = "purchase-worker") -> Int? {
        guard let pid = workers[name]?.processIdentifier,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first
        return kilobytes.map { $0 * 1024 }
    }

    /// CPU time a running worker used so far (user + system), in seconds.
    func workerCPUSeconds(_ name: String) -> Double? {
        guard let pid = workers[name]?.processIdentifier else { return nil }
        return Self.cpuSeconds(ofProcess: pid)
    }

    /// CPU time of a process so far (user + system, `/proc/PID/stat` fields 14 and 15), in seconds.
    static func cpuSeconds(ofProcess pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Waits until the churn-worker has judged with no client due by its judged moment and the
    /// outbox published; returns that moment.
    func waitForChurnSweeps(timeout: Duration) async throws -> Timestamp? {
        let store = try store()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var last: Timestamp?
        var quiet = 0
        while ContinuousClock.now < deadline, quiet < 4 {
            try await Task.sleep(for: .milliseconds(300))
            let judged = try await store.setting(StoreSettingNames.churnJudgedThrough).flatMap(Timestamp.init(rfc3339:))
            var due = 1
            if let judged { due = try await store.dueReviewCount(at: judged) }
            let backlog = try await store.summary().outboxBacklog
            // On the event clock the judged moment settles; on the wall clock it moves with every
            // sweep, and what settles is the work: nobody due, nothing to publish.
            quiet = judged != nil && due == 0 && backlog == 0 ? quiet + 1 : 0
            last = judged
        }
        return last
    }

    /// Sends SIGTERM to every worker and waits for them to exit; returns the worst exit status.
    @discardableResult
    func stopWorkers() async -> Int32 {
        for worker in workers.values where worker.isRunning { worker.terminate() }
        var status: Int32 = 0
        for worker in workers.values {
            while worker.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            if worker.terminationStatus != 0 { status = worker.terminationStatus }
        }
        return status
    }

    /// Polls the store until `accepted` events are applied and the outbox is empty.
    func waitForStore(accepted: Int, timeout: Duration, progress: ((StoreSummary) -> Void)? = nil) async throws -> StoreSummary {
        let store = try store()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let summary = try await store.summary()
            progress?(summary)
            if summary.acceptedEvents >= accepted && summary.waitingEvents == 0 && summary.outboxBacklog == 0 { return summary }
            if let (name, worker) = workers.first(where: { !$0.value.isRunning }) {
                throw LocalStackError("\(name) exited with status \(worker.terminationStatus); see \(directory)/\(name).log")
            }
            guard ContinuousClock.now < deadline else {
                throw LocalStackError("timed out: \(summary.acceptedEvents) of \(accepted) events applied, \(summary.outboxBacklog) outbox messages pending")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Counts the messages on logical topics, reading until `expected` are seen or nothing new arrives for `quiet`.
    func countMessages(on logicalTopics: [String], expected: Int, quiet: Duration = .seconds(8)) async throws -> [String: Int] {
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration, groupId: "clientele-count-\(UUID().uuidString)",
            topics: logicalTopics.map(topics.resolve), logger: Logger(label: "clientele.count"))
        var counts: [String: Int] = [:]
        var total = 0
        var lastNew = ContinuousClock.now
        while total < expected, ContinuousClock.now - lastNew < quiet {
            let batch = try await consumer.poll(maxMessages: 10_000, maxWait: .milliseconds(200))
            if !batch.isEmpty { lastNew = .now }
            for message in batch {
                let logical = topics.prefix.isEmpty ? message.topic : String(message.topic.dropFirst(topics.prefix.count))
                counts[logical, default: 0] += 1
            }
            total += batch.count
        }
        await consumer.close()
        return counts
    }

    /// The values of the messages on a logical topic, read until `expected` are seen or nothing new arrives for `quiet`.
    func readMessages(on logicalTopic: String, expected: Int, quiet: Duration = .seconds(5)) async throws -> [[UInt8]] {
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration, groupId: "clientele-read-\(UUID().uuidString)",
            topics: [topics.resolve(logicalTopic)], logger: Logger(label: "clientele.read"))
        var values: [[UInt8]] = []
        var lastNew = ContinuousClock.now
        while values.count < expected, ContinuousClock.now - lastNew < quiet {
            let batch = try await consumer.poll(maxMessages: 10_000, maxWait: .milliseconds(200))
            if !batch.isEmpty { lastNew = .now }
            values += batch.compactMap(\.value)
        }
        await consumer.close()
        return values
    }

    func shutdown() async {
        await stopWorkers()
        (openedStore as? PostgresClientStore)?.close()
        cluster.shutdown()
    }

    static func siblingExecutable(_ name: String) -> String {
        let me = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return me.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name).path
    }
}

struct LocalStackError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

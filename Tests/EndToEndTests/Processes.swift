import ClienteleDomain
import ClienteleKafka
import ClienteleStore
import Foundation
import Logging

/// Runs the package's real executables as child processes.
enum Executables {
    /// The folder holding the built products (next to this test bundle).
    static var directory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
}

/// A child process with its output captured to files.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String) throws {
        // A built product by name, or any program by absolute path.
        process.executableURL = executable.hasPrefix("/") ? URL(fileURLWithPath: executable) : Executables.url(executable)
        process.arguments = arguments
        // The test run's own settings (the test server's URL) are not the workers' business: they
        // would refuse them as unknown.
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CLIENTELE_TEST_") }
        env.merge(environment) { $1 }
        process.environment = env
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let name = (executable as NSString).lastPathComponent + "-" + UUID().uuidString.prefix(6)
        stdoutPath = directory + "/\(name).out"
        stderrPath = directory + "/\(name).err"
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    var isRunning: Bool { process.isRunning }

    /// Waits for the exit; returns the status (or nil on timeout).
    func wait(timeout: Duration = .seconds(60)) async -> Int32? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// Runs to completion and returns (status, stdout, stderr).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String)
        async throws -> (status: Int32, stdout: String, stderr: String)
    {
        let child = try ChildProcess(executable, arguments, environment: environment, directory: directory)
        let status = await child.wait(timeout: .seconds(120)) ?? -1
        return (status, child.stdout, child.stderr)
    }
}

/// `clientele broker` running as a process, plus a scratch folder.
final class BrokerProcess: @unchecked Sendable {
    let child: ChildProcess
    let bootstrapServers: String
    let directory: String

    /// The workers' store: nil for a SQLite file in the scratch folder, else a fresh database on
    /// the test PostgreSQL server (with a deployment key file in the folder).
    let postgresURL: String?

    /// `postgresURL`: a database of the test's own (e.g. on a server it stops and starts).
    init(postgres: Bool = false, postgresURL givenURL: String? = nil) async throws {
        directory = NSTemporaryDirectory() + "clientele-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let givenURL {
            postgresURL = givenURL
        } else {
            postgresURL = postgres ? try await TestPostgres.createDatabase() : nil
        }
        if postgresURL != nil {
            try DeploymentKey.random().hex.write(toFile: directory + "/deployment.key", atomically: true, encoding: .utf8)
        }
        child = try ChildProcess("clientele", ["broker"], directory: directory)
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        var line = ""
        while ContinuousClock.now < deadline {
            if let first = child.stdout.split(separator: "\n").first, child.stdout.contains("\n") {
                line = String(first)
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard line.hasPrefix("bootstrap.servers=") else {
            throw E2EError("clientele broker printed '\(line)'; stderr: \(child.stderr)")
        }
        bootstrapServers = String(line.dropFirst("bootstrap.servers=".count))
    }

    var databaseURL: String { postgresURL ?? "sqlite:\(directory)/clientele.sqlite" }

    var workerEnvironment: [String: String] {
        var environment = baseEnvironment
        if postgresURL != nil { environment["CLIENTELE_ERASURE_KEY_FILE"] = directory + "/deployment.key" }
        return environment
    }

    private var baseEnvironment: [String: String] {
        ["KAFKA_BOOTSTRAP_SERVERS": bootstrapServers, "DATABASE_URL": databaseURL,
         "KAFKA_FETCH_WAIT_MAX_MS": "5", "CLIENTELE_LOG_LEVEL": "notice",
         // /metrics and /health on any free port (the tests run many workers at once); the port
         // bound is logged. Statistics (lag, group state) every second.
         "CLIENTELE_HTTP_PORT": "0", "KAFKA_STATISTICS_INTERVAL_MS": "1000",
         // A killed member holds its partitions until its session expires (default 45 s).
         "KAFKA_SESSION_TIMEOUT_MS": "6000",
         // A stream read to its end (e.g. an empty topic) counts as complete after 2 s, not 30.
         "CLIENTELE_STREAM_IDLE_SECONDS": "2",
         // The tests' events are dated 2026 on the wall clock: none is too old to act on here
         // (the tests of stale tasks set it).
         "CLIENTELE_TASK_MAX_AGE": "36500d"]
    }

    /// Waits until the worker serving on `port` answers 200 on `/health/ready` (30 s at most).
    func waitUntilReady(port: Int) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            if (try? await OperationsProcessTests.get(port: port, path: "/health/ready"))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw E2EError("the worker on port \(port) never became ready")
    }

    /// For a purchase-worker running alone: nothing to wait for from a contact stream.
    var purchaseOnlyEnvironment: [String: String] {
        workerEnvironment.merging(["CLIENTELE_STREAM_ALIGNMENT": "off"]) { $1 }
    }

    func store() throws -> any ClientStore {
        guard postgresURL != nil else { return try SQLiteClientStore(path: "\(directory)/clientele.sqlite") }
        return try StoreOpener.open(try DatabaseURL(parsing: databaseURL), key: .file(directory + "/deployment.key"), poolSize: 2)
    }

    func stop() async {
        child.signal(SIGTERM)
        _ = await child.wait(timeout: .seconds(10))
        // E2E_KEEP=1 keeps the folder (store, worker logs) for a look after a failure.
        if ProcessInfo.processInfo.environment["E2E_KEEP"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}

extension BrokerProcess {
    /// The workers' store, once a worker has created its file (waits up to 10 s for it).
    func createdStore() async throws -> any ClientStore {
        let path = "\(directory)/clientele.sqlite"
        for _ in 0..<200 where postgresURL == nil && !FileManager.default.fileExists(atPath: path) {
            try await Task.sleep(for: .milliseconds(50))
        }
        return try store()
    }

    /// Waits until `count` events are accepted, none waits for the other stream any more and the
    /// outbox is empty, or two minutes passed.
    func waitUntilApplied(_ count: Int, timeout: Duration = .seconds(120)) async throws -> StoreSummary {
        let store = try await createdStore()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var summary = try await store.summary()
        while (summary.acceptedEvents < count || summary.waitingEvents > 0 || summary.outboxBacklog > 0), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            summary = try await store.summary()
        }
        return summary
    }

    /// Waits until at least `count` events are accepted (applied or waiting), or a minute passed.
    func waitUntilAccepted(_ count: Int) async throws {
        let store = try await createdStore()
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        func accepted() async throws -> Int {
            if let file = store as? SQLiteClientStore { return try await file.acceptedEventCount() }
            return try await store.summary().acceptedEvents
        }
        while try await accepted() < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the churn-worker's furthest judged moment has stayed the same for two seconds
    /// with nobody due by it and the outbox published; returns it.
    func waitForChurnJudgement(timeout: Duration = .seconds(90)) async throws -> Timestamp? {
        let store = try await createdStore()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var last: Timestamp?
        var stableSince = ContinuousClock.now
        while ContinuousClock.now < deadline {
            let judged = try await store.setting("churn.judged_through").flatMap(Timestamp.init(rfc3339:))
            if judged != last {
                last = judged
                stableSince = .now
            } else if let judged, ContinuousClock.now - stableSince >= .seconds(2),
                      try await store.dueReviewCount(at: judged) == 0, try await store.summary().outboxBacklog == 0 {
                return judged
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    /// Produces JSON lines to a logical topic with `clientele produce`; returns its exit status.
    func produce(topic: String, _ lines: [String]) async throws -> Int32 {
        let file = directory + "/\(topic)-\(UUID().uuidString.prefix(6)).jsonl"
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await ChildProcess.run(
            "clientele", ["produce", "--topic", topic, "--bootstrap-servers", bootstrapServers, file], directory: directory)
        // Why, in the test log: a produce that failed once in CI (after 120 s) said nothing.
        if result.status != 0 { print("clientele produce to \(topic) exited with \(result.status): \(result.stderr.suffix(2000))") }
        return result.status
    }

    /// Reads a topic from the start (fresh group) until at least `count` messages arrived and
    /// nothing new came for two seconds, or a minute passed.
    func readAll(topic: String, atLeast count: Int) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: bootstrapServers, properties: ["fetch.wait.max.ms": "5"]),
            groupId: "e2e-\(UUID().uuidString)", topics: [topic], logger: Logger(label: "e2e"))
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        var quietSince = ContinuousClock.now
        while ContinuousClock.now < deadline {
            let batch = try await consumer.poll(maxMessages: 10_000, maxWait: .milliseconds(100))
            if !batch.isEmpty { quietSince = .now }
            messages += batch
            if messages.count >= count, ContinuousClock.now - quietSince > .seconds(2) { break }
        }
        await consumer.close()
        return messages
    }
}

/// A string field of a message's JSON value.
func field(_ message: KafkaMessage, _ name: String) -> String? {
    guard let value = message.value, case .object(let object)? = try? JSONParser.parse(value),
          case .string(let text)? = object[name] else { return nil }
    return text
}

struct E2EError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

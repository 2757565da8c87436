import Foundation

/// The Python purchase worker the benchmark measures ours against (`scripts/bench/peer_purchase_worker.py`:
/// confluent-kafka and sqlite3, WAL, batches of 1,000, an idempotency table and an outbox — what a
/// competent team would write instead). It reads the same preloaded topic on the same broker, in
/// its own consumer group, into its own SQLite file.
struct PeerWorker {
    /// The script, found beside the package's sources unless given.
    var script: String

    /// What one run of the peer measured.
    struct Result {
        var eventsPerSecond: Double
        var events: Int
        var seconds: Double
        /// Largest resident set of the Python process (getrusage of the reaped child).
        var peakBytes: Int
        /// User + system CPU of the Python process, seconds.
        var cpuSeconds: Double
    }

    /// The checked-in script, looked for from the working directory and from the executable's
    /// place in `.build/<configuration>/`.
    static func defaultScript() -> String {
        let relative = "scripts/bench/peer_purchase_worker.py"
        let executable = URL(fileURLWithPath: LocalStack.siblingExecutable("clientele"))
        let candidates = [
            FileManager.default.currentDirectoryPath + "/" + relative,
            executable.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(relative).path,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// Why the peer cannot run here, if it cannot (no script, no Python, no confluent-kafka).
    func problem() -> String? {
        guard FileManager.default.fileExists(atPath: script) else { return "the peer script is not at \(script) (give --peer PATH)" }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import confluent_kafka"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        do { try check.run() } catch { return "python3 cannot be started: \(error)" }
        check.waitUntilExit()
        return check.terminationStatus == 0 ? nil : "python3 lacks confluent-kafka: python3 -m pip install confluent-kafka (make bench installs it)"
    }

    /// Consumes `events` messages of `topic` and returns the rate the script printed. Run it while
    /// no other child of this process has exited unreaped: its peak memory and CPU come from
    /// `getrusage(RUSAGE_CHILDREN)` deltas.
    func run(bootstrapServers: String, topic: String, events: Int, database: String, group: String) throws -> Result {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, bootstrapServers, topic, String(events), database, group]
        let output = Pipe()
        process.standardOutput = output
        let before = Self.childrenCPUSeconds()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw LocalStackError("the peer worker exited with status \(process.terminationStatus): \(text)")
        }
        // "peer processed 300000 (0 bad) in 12.34s = 24310 events/s"
        let words = text.split(whereSeparator: \.isWhitespace)
        guard let processedAt = words.firstIndex(of: "processed"), processedAt + 1 < words.count, let count = Int(words[processedAt + 1]),
              let inAt = words.firstIndex(of: "in"), inAt + 1 < words.count, let seconds = Double(words[inAt + 1].dropLast()),
              let rateAt = words.firstIndex(of: "events/s"), rateAt > 0, let rate = Double(words[rateAt - 1])
        else { throw LocalStackError("cannot read the peer worker's figures from: \(text)") }
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return Result(eventsPerSecond: rate, events: count, seconds: seconds, peakBytes: Int(usage.ru_maxrss) * 1024,
                      cpuSeconds: Self.childrenCPUSeconds() - before)
    }

    private static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

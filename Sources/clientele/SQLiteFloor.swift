import Foundation

/// The SQLite floor of the Python worker's writes (`scripts/bench/sqlite-floor.c`): the same
/// statements, schema and PRAGMAs as the peer, per event and per batch, run through prepared
/// statements in C with no Kafka, JSON or interpreter. Its rate bounds what any worker that stores
/// what the peer stores, in transactions of the peer's size, can reach on this machine, so the
/// benchmark prints it beside the peer's rate: their quotient is the largest ratio to the peer
/// such a worker could show.
struct SQLiteFloor {
    /// The C source, found like the peer's script.
    var source: String

    /// One run's figures.
    struct Result {
        var eventsPerSecond: Double
        var cpuMicrosecondsPerEvent: Double
    }

    /// The checked-in source, beside the peer's script.
    static func defaultSource() -> String {
        URL(fileURLWithPath: PeerWorker.defaultScript()).deletingLastPathComponent().appendingPathComponent("sqlite-floor.c").path
    }

    /// Compiles the source into `directory` with the system C compiler and SQLite headers; the
    /// reason it cannot, if it cannot (the benchmark then prints that instead of the floor).
    func build(into directory: String) -> (executable: String?, problem: String?) {
        guard FileManager.default.fileExists(atPath: source) else { return (nil, "no \(source)") }
        let executable = directory + "/sqlite-floor"
        let (status, output) = Self.run("/usr/bin/env", ["cc", "-O2", "-o", executable, source, "-lsqlite3"])
        return status == 0 ? (executable, nil) : (nil, "cc could not build \(source): \(output.prefix(300))")
    }

    /// Runs the floor for `events` purchases over `clients` clients into a fresh `database`.
    func measure(executable: String, database: String, events: Int, clients: Int) throws -> Result {
        let (status, text) = Self.run(executable, [database, String(events), String(clients)])
        // "... in 6.83s = 43912 events/s; 22.77 us wall, 18.22 us CPU per event"
        let words = text.split(whereSeparator: \.isWhitespace)
        guard status == 0, let rateAt = words.firstIndex(of: "events/s;"), rateAt > 0, let rate = Double(words[rateAt - 1]),
              let cpuAt = words.firstIndex(of: "CPU"), cpuAt > 1, let cpu = Double(words[cpuAt - 2])
        else { throw LocalStackError("the SQLite floor failed (status \(status)): \(text)") }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        return Result(eventsPerSecond: rate, cpuMicrosecondsPerEvent: cpu)
    }

    private static func run(_ executable: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

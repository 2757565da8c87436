import ArgumentParser
import ClienteleDomain
import ClienteleStore
import Foundation

/// `clientele store …`: moving a store between backends.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Work on a store as a whole.", subcommands: [StoreCopyCommand.self])
}

/// `clientele store copy --from sqlite:FILE --to postgres://…`: moves an existing SQLite store
/// into an empty PostgreSQL database, for a company that outgrows one host.
struct StoreCopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a SQLite store into an empty PostgreSQL database (stop the workers first).",
        discussion: """
            Every client, event record, task, status change, pending outbox message, erasure, model and \
            setting is copied in one PostgreSQL transaction: all of it or nothing. The target must be empty. \
            The workers then run on PostgreSQL with the SQLite store's deployment key (by default the .key \
            file beside it) as CLIENTELE_ERASURE_KEY_FILE, and resume from their committed Kafka offsets.
            """)

    @Option(help: "The store to copy (sqlite:FILE).") var from: String
    @Option(help: "The empty PostgreSQL database to copy into (postgres://user@host:port/db?sslmode=…).") var to: String
    @Option(name: .customLong("key-file"),
            help: "The SQLite store's deployment key (default: $CLIENTELE_ERASURE_KEY_FILE, else the .key file beside it).")
    var keyFile: String?

    func run() async throws {
        bootstrapCommandLogging(.warning)
        let source: DatabaseURL
        let target: DatabaseURL
        do {
            source = try DatabaseURL(parsing: from)
            target = try DatabaseURL(parsing: to)
        } catch { throw ValidationError(error.message) }
        guard case .sqlite(let path, let options) = source else { throw ValidationError("--from must be a SQLite store (sqlite:FILE)") }
        guard case .postgres(let location) = target else { throw ValidationError("--to must be a PostgreSQL database (postgres://…)") }
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("--from: there is no store at \(path)") }
        let keyPath = keyFile ?? ProcessInfo.processInfo.environment["CLIENTELE_ERASURE_KEY_FILE"] ?? path + ".key"
        guard FileManager.default.isReadableFile(atPath: keyPath) else {
            throw ValidationError("the deployment key file \(keyPath) cannot be read: give the SQLite store's key with --key-file")
        }
        do {
            let key = try DeploymentKey.read(file: keyPath)
            let sqlite = try SQLiteClientStore(path: path, options: options, key: .key(key))
            let postgres = try PostgresClientStore(location: location, poolSize: 2, key: key, startupTimeout: .seconds(30))
            defer { postgres.close() }
            print("copying \(path) into \(target)")
            let started = ContinuousClock.now
            let report = try await StoreCopy.copy(
                from: sqlite, to: postgres, now: Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
            ) { table, count in
                print("  \(table.padding(toLength: 26, withPad: " ", startingAt: 0)) \(count)")
            }
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            print(String(format: "copied %d rows in %.1f s", report.total, seconds))
            print("run the workers with DATABASE_URL set to the --to URL and CLIENTELE_ERASURE_KEY_FILE=\(keyPath)")
        } catch let error as StoreError {
            printError("error: \(error.message)")
            throw ExitCode(1)
        }
    }
}

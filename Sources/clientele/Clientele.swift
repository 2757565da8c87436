import ArgumentParser
import ClienteleRuntime
import ClienteleStore
import Foundation
import Logging

@main
struct Clientele: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clientele",
        abstract: "Clientele: client status, churn risk and follow-up tasks from Kafka event streams.",
        subcommands: [
            BrokerCommand.self, ProduceCommand.self, ClientCommand.self, GenerateCommand.self,
            DemoCommand.self, StatusCommand.self, BenchCommand.self, BenchStoreCommand.self, BenchModelCommand.self, BenchSweepCommand.self, ReplayCommand.self, ModelCommand.self, StoreCommand.self, DeadLetterCommand.self,
        ])
}

/// Options shared by commands that talk to Kafka.
struct KafkaOptions: ParsableArguments {
    @Option(name: .customLong("bootstrap-servers"), help: "Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or localhost:9092).")
    var bootstrapServers: String?

    @Option(name: .customLong("topic-prefix"), help: "Prefix of every topic name (default: $CLIENTELE_TOPIC_PREFIX).")
    var topicPrefix: String?

    var resolvedBootstrapServers: String {
        bootstrapServers ?? ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"] ?? "localhost:9092"
    }

    var topics: TopicNames {
        TopicNames(prefix: topicPrefix ?? ProcessInfo.processInfo.environment["CLIENTELE_TOPIC_PREFIX"] ?? "")
    }
}

/// Options shared by commands that read the store.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database"), help: "Store URL (default: $DATABASE_URL or sqlite:clientele.sqlite).")
    var database: String?

    var resolved: String {
        database ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "sqlite:clientele.sqlite"
    }

    /// Opens the store the URL names for a look (no deployment key: nothing is applied); a bad
    /// URL is a usage error with the message saying what to fix.
    func openStore() throws -> any ClientStore {
        let url: DatabaseURL
        do { url = try DatabaseURL(parsing: resolved) } catch { throw ValidationError(error.message) }
        return try StoreOpener.open(url, key: .none)
    }
}

/// Sends the command's logs (librdkafka's included) to standard error from `level` up.
func bootstrapCommandLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Flushes standard output (so a parent reading our first line sees it at once).
func flushStandardOutput() {
    fflush(nil)
}

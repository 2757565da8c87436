import ArgumentParser
import ClienteleKafka
import ClienteleRuntime
import Foundation
import Logging

/// `clientele dlq`: the dead-letter topics.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Work on the dead-letter topics.", subcommands: [Replay.self])

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Send dead letters back to their source topic, once what refused them is fixed.",
            discussion: """
                Reads the dead-letter topic from its start to its current end (committing nothing) and \
                produces each chosen message again to the topic it came from, with its key, value and \
                original headers, and a clientele.replayed-from header, to the partition it was read from. \
                Replaying twice is harmless: an event accepted the first time counts as a duplicate the \
                second; a letter refused again is not replayed twice (its copy is left out). \
                conflicting_duplicate letters are replayed only with --reason conflicting_duplicate.
                """)

        @OptionGroup var kafka: KafkaOptions
        @Option(help: "Logical dead-letter topic: purchases.dlq or contacts.dlq (the prefix is added).") var topic: String
        @Option(help: "Only dead letters with this reason code, e.g. too_large (the clientele.reason header).") var reason: String?
        @Flag(name: .customLong("dry-run"), help: "Count what would be replayed; produce nothing.") var dryRun = false

        func validate() throws {
            guard topic.hasSuffix(".dlq") else {
                throw ValidationError("--topic must name a dead-letter topic such as purchases.dlq (got '\(topic)')")
            }
            if let reason, reason.isEmpty || !reason.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                throw ValidationError("--reason must be a reason code such as too_large or missing_field (got '\(reason)')")
            }
        }

        func run() async throws {
            bootstrapCommandLogging(.warning)
            let replay = DeadLetterReplay(
                kafka: KafkaConfiguration(bootstrapServers: kafka.resolvedBootstrapServers), deadLetterTopic: kafka.topics.resolve(topic),
                reason: reason, dryRun: dryRun)
            let report: DeadLetterReplay.Report
            do {
                report = try await replay.run(logger: Logger(label: "clientele.dlq"))
            } catch let failure as DeadLetterReplay.Failure {
                throw ValidationError(failure.description)
            }
            let matched = report.matched.values.reduce(0, +)
            var lines = ["read \(report.read) dead letters from \(kafka.topics.resolve(topic))"]
            for (code, count) in report.matched.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(code.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)\(dryRun ? " would be replayed" : " replayed")")
            }
            for (code, count) in report.skipped.sorted(by: { $0.key < $1.key }) {
                let why = reason == nil ? "left (refused again by construction: name it with --reason to replay)" : "left (another reason)"
                lines.append("  \(code.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count) \(why)")
            }
            if report.earlierCopies > 0 {
                lines.append("  \(report.earlierCopies) copies of letters replayed before and refused again: left (their originals are replayed)")
            }
            lines.append(dryRun ? "dry run: \(matched) would be replayed, nothing produced" : "replayed \(report.replayed) messages to their source topics")
            print(lines.joined(separator: "\n"))
        }
    }
}

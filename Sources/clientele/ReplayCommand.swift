import ArgumentParser
import ClienteleKafka
import ClienteleRuntime
import ClienteleWorkload
import Foundation
import Logging

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Turn a public transaction log into purchase events and produce them.",
        discussion: """
            --format cdnow reads CDNOW_master.txt or CDNOW_sample.txt (Fader & Hardie): one purchase \
            event per line, clientId CDNOW-<id>, amount in USD, items = CDs, occurredAt = the day at \
            00:00Z. Event ids are stable (cdnow-<layout>-<line>), so a second replay changes nothing. \
            With --dry-run the events are printed as JSON lines instead.
            """)

    @OptionGroup var kafka: KafkaOptions
    @Option(help: "Input format; only cdnow for now.") var format: String
    @Flag(name: .customLong("dry-run"), help: "Print the events instead of producing them.") var dryRun = false
    @Argument(help: "The transaction log.") var file: String

    func validate() throws {
        guard format == "cdnow" else { throw ValidationError("--format must be cdnow") }
    }

    func run() async throws {
        bootstrapCommandLogging(.warning)
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read '\(file)'") }
        let events: [CDNOWFormat.Event]
        do {
            events = try CDNOWFormat.events(from: String(decoding: data, as: UTF8.self))
        } catch {
            throw ValidationError("\(file): \(error)")
        }
        if dryRun {
            FileHandle.standardOutput.write(Data((events.map(\.json).joined(separator: "\n") + "\n").utf8))
            return
        }
        let topic = kafka.topics.resolve(TopicNames.purchases)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: kafka.resolvedBootstrapServers), logger: Logger(label: "clientele.replay"))
        let started = ContinuousClock.now
        try await producer.send(events.map {
            OutgoingMessage(topic: topic, key: Array($0.clientId.utf8), value: Array($0.json.utf8))
        })
        await producer.close()
        let clients = Set(events.map(\.clientId)).count
        printError("replayed \(events.count) purchases of \(clients) clients to \(topic) in "
            + String(format: "%.2f s", (ContinuousClock.now - started) / .seconds(1)))
    }
}

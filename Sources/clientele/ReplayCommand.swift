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
            Events are produced in time order (the files are sorted by customer), as fast as Kafka \
            takes them, or --days-per-second of history per second so that a churn-worker with \
            CLIENTELE_CLOCK=event sweeps along the way. With --dry-run the events are printed as \
            JSON lines instead.
            """)

    @OptionGroup var kafka: KafkaOptions
    @Option(help: "Input format; only cdnow for now.") var format: String
    @Flag(name: .customLong("dry-run"), help: "Print the events instead of producing them.") var dryRun = false
    @Option(name: .customLong("days-per-second"), help: "Pace: days of history produced per second (default: no pacing).")
    var daysPerSecond: Double?
    @Argument(help: "The transaction log.") var file: String

    func validate() throws {
        guard format == "cdnow" else { throw ValidationError("--format must be cdnow") }
        if let daysPerSecond, !(daysPerSecond > 0 && daysPerSecond.isFinite) {
            throw ValidationError("--days-per-second must be a positive number")
        }
    }

    func run() async throws {
        bootstrapCommandLogging(.warning)
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read '\(file)'") }
        let events: [CDNOWFormat.Event]
        do {
            // In time order; the file's order within a day.
            events = try CDNOWFormat.events(from: String(decoding: data, as: UTF8.self)).enumerated()
                .sorted { ($0.element.occurredAt, $0.offset) < ($1.element.occurredAt, $1.offset) }.map(\.element)
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
        func message(_ event: CDNOWFormat.Event) -> OutgoingMessage {
            OutgoingMessage(topic: topic, key: Array(event.clientId.utf8), value: Array(event.json.utf8))
        }
        if let daysPerSecond, let firstDay = events.first?.occurredAt.day {
            var start = 0
            while start < events.count {
                let day = events[start].occurredAt.day
                let end = events[start...].firstIndex { $0.occurredAt.day != day } ?? events.count
                try await producer.send(events[start..<end].map(message))
                let due = started.advanced(by: .seconds(Double(day + 1 - firstDay) / daysPerSecond))
                if due > .now { try await Task.sleep(until: due) }
                start = end
            }
        } else {
            try await producer.send(events.map(message))
        }
        await producer.close()
        let clients = Set(events.map(\.clientId)).count
        printError("replayed \(events.count) purchases of \(clients) clients to \(topic) in "
            + String(format: "%.2f s", (ContinuousClock.now - started) / .seconds(1)))
    }
}

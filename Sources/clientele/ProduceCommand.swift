import ArgumentParser
import ClienteleDomain
import ClienteleKafka
import Foundation
import Logging

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce JSON lines to a topic, keyed by each line's clientId.",
        discussion: """
            Every non-empty line becomes one message, unchanged. Lines that are not JSON or have no \
            clientId are produced without a key (the worker dead-letters what it cannot accept).
            """)

    @OptionGroup var kafka: KafkaOptions
    @Option(help: "Logical topic name, e.g. purchases or contacts (the prefix is added).") var topic: String
    @Argument(help: "A file of JSON lines, or - for standard input.") var file: String

    func run() async throws {
        bootstrapCommandLogging(.warning)
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read '\(file)'")
            }
            data = contents
        }
        let lines = Array(data).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            .map { line in line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : Array(line) }
            .filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
        let topicName = kafka.topics.resolve(topic)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: kafka.resolvedBootstrapServers), logger: Logger(label: "clientele.produce"))
        let started = ContinuousClock.now
        var unkeyed = 0
        let messages = lines.map { line -> OutgoingMessage in
            let key = Self.clientId(of: line)
            if key == nil { unkeyed += 1 }
            return OutgoingMessage(topic: topicName, key: key.map { Array($0.utf8) }, value: line)
        }
        try await producer.send(messages)
        let sent = messages.count
        await producer.close()
        let seconds = max(0.001, (ContinuousClock.now - started) / .seconds(1))
        printError("produced \(sent) messages to \(topicName) in \(String(format: "%.2f", seconds)) s (\(Int(Double(sent) / seconds))/s)"
            + (unkeyed > 0 ? "; \(unkeyed) without a clientId key" : ""))
    }

    static func clientId(of line: [UInt8]) -> String? {
        guard let value = try? JSONParser.parse(line), case .object(let object) = value,
              case .string(let clientId)? = object["clientId"], !clientId.isEmpty
        else { return nil }
        return clientId
    }
}

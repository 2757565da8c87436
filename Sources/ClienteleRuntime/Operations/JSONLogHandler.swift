import ClienteleDomain
import Foundation
import Logging

/// `CLIENTELE_LOG_FORMAT`: how log lines are written to standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's text lines (the default).
    case text
    /// One JSON object per line: `time`, `level`, `worker`, `replica`, `logger`, `message`, `metadata`.
    case json
}

/// Writes one JSON object per log line to standard error, for log shippers.
///
/// The line holds what the call site logged and nothing else: the worker's code never logs an
/// event's payload or a client id, so neither does this handler.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let worker: String
    private let replica: String

    /// - Parameter replica: which process of the worker this is (e.g. `host:pid`).
    public init(label: String, worker: String, replica: String, level: Logger.Level) {
        self.label = label
        self.worker = worker
        self.replica = replica
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        let bytes = Self.line(
            time: Date(), level: event.level, worker: worker, replica: replica, logger: label, message: event.message.description,
            metadata: merged)
        // One write per line: lines from several threads never interleave.
        FileHandle.standardError.write(Data(bytes))
    }

    /// The JSON line (with its newline) for one entry.
    static func line(
        time: Date, level: Logger.Level, worker: String, replica: String, logger: String, message: String, metadata: Logger.Metadata
    ) -> [UInt8] {
        var object = JSONObjectWriter(capacity: 256)
        object.add("time", Timestamp(millisecondsSinceEpoch: Int64((time.timeIntervalSince1970 * 1000).rounded(.down))).rfc3339)
        object.add("level", level.rawValue)
        object.add("worker", worker)
        object.add("replica", replica)
        object.add("logger", logger)
        object.add("message", message)
        if !metadata.isEmpty {
            object.add("metadata", object: Self.object(metadata))
        }
        return object.bytes + [UInt8(ascii: "\n")]
    }

    private static func object(_ metadata: Logger.Metadata) -> JSONObjectWriter {
        var object = JSONObjectWriter(capacity: 128)
        for key in metadata.keys.sorted() {
            switch metadata[key]! {
            case .string(let text): object.add(key, text)
            case .stringConvertible(let value): object.add(key, value.description)
            case .dictionary(let nested): object.add(key, object: Self.object(nested))
            case .array(let values): object.add(key, "[" + values.map(\.description).joined(separator: ", ") + "]")
            }
        }
        return object
    }
}

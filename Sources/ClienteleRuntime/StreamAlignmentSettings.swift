import ClienteleDomain
import Foundation

/// How the two event workers keep their outputs in event-time order with each other.
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `CLIENTELE_STREAM_ALIGNMENT` | `on`: an event is applied once the other stream is complete up to its time; `off`: when read (a deployment with one event worker) | `on` |
/// | `CLIENTELE_ALLOWED_LATENESS` | how far behind its stream's newest event (or behind the moment the stream was seen caught up) an event may arrive and still be applied in order; outputs that depend on the other stream wait this much longer | `0s` |
/// | `CLIENTELE_STREAM_IDLE_SECONDS` | a partition read to its end counts as complete up to now after this long, or at once when its newest event is this recent (a live stream) | 30 |
public struct StreamAlignmentSettings: Sendable, Equatable {
    public var enabled: Bool
    public var allowedLateness: Duration
    public var idleAfter: Duration
    /// Waiting events released per transaction at most.
    public var releaseLimit: Int

    public init(enabled: Bool = true, allowedLateness: Duration = .zero, idleAfter: Duration = .seconds(30), releaseLimit: Int = 50_000) {
        self.enabled = enabled
        self.allowedLateness = allowedLateness
        self.idleAfter = idleAfter
        self.releaseLimit = releaseLimit
    }

    init(reader: SettingsReader) throws {
        switch reader.string("clientele.stream.alignment", default: "on").lowercased() {
        case "on", "true", "1": enabled = true
        case "off", "false", "0": enabled = false
        case let other: throw ConfigurationProblem("CLIENTELE_STREAM_ALIGNMENT must be 'on' or 'off' (got '\(other)')")
        }
        allowedLateness = try reader.duration("clientele.allowed.lateness", default: "0s", in: .zero ... .seconds(86_400))
        idleAfter = .seconds(try reader.integer("clientele.stream.idle.seconds", default: 30, in: 1...86_400))
        releaseLimit = 50_000
    }
}

extension SettingsReader {
    /// A duration written as a number and a unit: `250ms`, `2s`, `5m`, `1h`, `7d` (a bare `0` is zero).
    func duration(_ key: String, default defaultValue: String, in range: ClosedRange<Duration>) throws -> Duration {
        let text = string(key, default: defaultValue).trimmingCharacters(in: .whitespaces).lowercased()
        guard let value = Self.parseDuration(text), range.contains(value) else {
            throw ConfigurationProblem(
                "\(Self.variableName(key)) must be a duration such as 500ms, 2s, 5m, 1h or 7d, from \(range.lowerBound.components.seconds) to \(range.upperBound.components.seconds) s (got '\(text)')")
        }
        return value
    }

    static func parseDuration(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (unit, milliseconds) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            guard let count = Int64(number), count >= 0, count <= Int64.max / milliseconds / 2 else { return nil }
            return .milliseconds(count * milliseconds)
        }
        return nil
    }
}

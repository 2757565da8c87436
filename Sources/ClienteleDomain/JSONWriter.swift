/// Builds compact JSON objects field by field, in the order written (stable output bytes).
public struct JSONObjectWriter: Sendable {
    private var text = "{"
    private var first = true

    public init() {}

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        Self.appendQuoted(name, to: &text)
        text += ":"
    }

    public mutating func add(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        Self.appendQuoted(value, to: &text)
    }

    public mutating func add(_ name: String, _ value: Int?) {
        guard let value else { return }
        key(name)
        text += String(value)
    }

    public mutating func add(_ name: String, _ value: Money?) {
        guard let value else { return }
        key(name)
        text += value.description
    }

    public mutating func add(_ name: String, _ value: Double?) {
        guard let value, value.isFinite else { return }
        key(name)
        text += String(value)
    }

    public mutating func add(_ name: String, _ value: Timestamp?) {
        add(name, value?.rfc3339)
    }

    public mutating func addNull(_ name: String) {
        key(name)
        text += "null"
    }

    /// The finished object.
    public var json: String { text + "}" }

    /// The finished object as UTF-8 bytes.
    public var bytes: [UInt8] { Array(json.utf8) }

    static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

/// Builds compact JSON objects field by field, in the order written (stable output bytes).
public struct JSONObjectWriter: Sendable {
    private var buffer: [UInt8]
    private var first = true

    public init(capacity: Int = 256) {
        buffer = []
        buffer.reserveCapacity(capacity)
        buffer.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: String) {
        if !first { buffer.append(UInt8(ascii: ",")) }
        first = false
        Self.appendQuoted(name, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
    }

    private mutating func raw(_ text: String) {
        buffer.append(contentsOf: text.utf8)
    }

    public mutating func add(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        Self.appendQuoted(value, to: &buffer)
    }

    public mutating func add(_ name: String, _ value: Int?) {
        guard let value else { return }
        key(name)
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        DecimalDigits.append(UInt64(value.magnitude), minimumWidth: 1, to: &buffer)
    }

    public mutating func add(_ name: String, _ value: Money?) {
        guard let value else { return }
        key(name)
        raw(value.description)
    }

    public mutating func add(_ name: String, _ value: Double?) {
        guard let value, value.isFinite else { return }
        key(name)
        raw(String(value))
    }

    public mutating func add(_ name: String, _ value: Bool?) {
        guard let value else { return }
        key(name)
        raw(value ? "true" : "false")
    }

    /// A nested object.
    public mutating func add(_ name: String, object: JSONObjectWriter) {
        key(name)
        buffer.append(contentsOf: object.bytes)
    }

    public mutating func add(_ name: String, _ value: Timestamp?) {
        guard let value else { return }
        key(name)
        buffer.append(UInt8(ascii: "\""))
        value.appendRFC3339(to: &buffer)  // digits, '-', ':', 'T', 'Z' and '.': nothing to escape
        buffer.append(UInt8(ascii: "\""))
    }

    public mutating func addNull(_ name: String) {
        key(name)
        raw("null")
    }

    /// The finished object as UTF-8 bytes.
    public var bytes: [UInt8] { buffer + [UInt8(ascii: "}")] }

    /// The finished object.
    public var json: String { String(decoding: bytes, as: UTF8.self) }

    static func appendQuoted(_ value: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        // Ids, names and codes rarely need escaping: copied whole when nothing in them does.
        let copied = value.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !bytes.contains(where: needsEscaping) else { return false }
            buffer.append(contentsOf: bytes)
            return true
        } ?? false
        if copied {
            buffer.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): buffer.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: buffer.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: buffer.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: buffer.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                buffer.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default:
                buffer.append(byte)  // UTF-8 multi-byte sequences pass through unchanged
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    /// Whether a byte is written escaped inside a JSON string.
    private static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }
}

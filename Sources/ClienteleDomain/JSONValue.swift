/// A parsed JSON value. Numbers keep their literal text so that money can be read exactly.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text, as it appeared in the input (already checked to be valid JSON).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// A short name of the value's JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// One member of a JSON object: its name and value.
public struct JSONMember: Sendable, Equatable {
    public var name: String
    public var value: JSONValue

    public init(name: String, value: JSONValue) {
        self.name = name
        self.value = value
    }
}

/// Why a byte sequence is not acceptable JSON.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset at which the problem was found.
    public var offset: Int
    /// What is wrong, without quoting any of the input.
    public var message: String
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// It rejects duplicate object keys, control characters in strings, unpaired surrogates and
/// nesting deeper than `maxDepth`, and never quotes the input in its errors (the input may hold
/// personal data).
public struct JSONParser {
    public static let defaultMaxDepth = 32

    private let bytes: [UInt8]
    private var index = 0
    private let maxDepth: Int
    /// The whole input is known to be valid UTF-8, so every string between quotes is too (a quote
    /// is ASCII: it never falls inside a multi-byte sequence) and needs no check of its own.
    private let validUTF8: Bool

    /// `utf8Checked`: the caller has already found the whole input valid UTF-8.
    private init(bytes: [UInt8], maxDepth: Int, utf8Checked: Bool = false) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        // One pass over the input instead of one generic validation per string: ASCII (the usual
        // event) is checked byte by byte; anything else once as a whole. If that fails, each string
        // is checked as it is read, so the error still says where.
        self.validUTF8 = utf8Checked || bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil
    }

    /// Parses one JSON document that must span the whole input (surrounding white space allowed).
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    /// A document whose top-level value is an object, as its members in the order written; any
    /// other document as its value.
    public enum Document: Sendable, Equatable {
        case members([JSONMember])
        case other(JSONValue)
    }

    /// Parses like ``parse(_:maxDepth:)`` — the same checks, errors and offsets — but keeps a
    /// top-level object as its list of members: an event's few fields are then found by comparing
    /// (mostly small, inline) strings instead of hashing each name twice into a dictionary.
    public static func parseDocument(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> Document {
        try parseDocument(bytes, maxDepth: maxDepth, utf8Checked: false)
    }

    /// The same, for a caller that has already checked the input's UTF-8 (an event's message is
    /// checked first, to be refused with its own reason): the input is not scanned a second time.
    static func parseDocument(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth, utf8Checked: Bool) throws(JSONParseError) -> Document {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth, utf8Checked: utf8Checked)
        parser.skipWhitespace()
        let document: Document
        if parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "{") {
            document = .members(try parser.parseMembers(depth: 1))
        } else {
            document = .other(try parser.parseValue(depth: 0))
        }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return document
    }

    private func error(_ message: String) -> JSONParseError {
        JSONParseError(offset: index, message: message)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        let matches = literal.withUTF8Buffer { buffer in
            for offset in 0..<count where bytes[index + offset] != buffer[offset] { return false }
            return true
        }
        guard matches else { throw error("invalid literal") }
        index += count
    }

    /// An object's members in the order written (the opening brace at `index`). A name written
    /// twice is refused where its value ends.
    private mutating func parseMembers(depth: Int) throws(JSONParseError) -> [JSONMember] {
        var list = MemberList()
        try readMembers(depth: depth, into: &list)
        return list.members
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        var map = MemberMap()
        try readMembers(depth: depth, into: &map)
        return .object(map.object)
    }

    /// Reads an object (the opening brace at `index`) into `collector`, which refuses a name it
    /// already holds: that is a duplicate key. (Generic, not a closure: specialized per collector.)
    private mutating func readMembers<Collector: MemberCollector>(
        depth: Int, into collector: inout Collector
    ) throws(JSONParseError) {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard collector.accept(key, value) else { throw error("duplicate key") }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        index += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(array) }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(bytes[index]) {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        } else {
            throw error("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try validatedUTF8(bytes[start..<index])
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in string") }
            index += 1
        }
        var scalars = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return try validatedUTF8(scalars[...])  // escapes add valid UTF-8 only
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte != UInt8(ascii: "\\") {
                scalars.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { break }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append(0x22)
            case UInt8(ascii: "\\"): scalars.append(0x5C)
            case UInt8(ascii: "/"): scalars.append(0x2F)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800...0xDBFF).contains(code) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    else { throw error("unpaired surrogate") }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw error("unpaired surrogate")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid escape") }
                scalars.append(contentsOf: String(Character(scalar)).utf8)
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private func validatedUTF8(_ slice: ArraySlice<UInt8>) throws(JSONParseError) -> String {
        if validUTF8 {
            return slice.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
        }
        guard let text = String(validating: slice, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return text
    }
}

/// Where ``JSONParser`` puts an object's members as it reads them.
private protocol MemberCollector {
    /// Takes a member; false when the name is already there (a duplicate key).
    mutating func accept(_ name: String, _ value: JSONValue) -> Bool
}

/// An object as a dictionary (``JSONValue/object(_:)``).
private struct MemberMap: MemberCollector {
    // Room for an event's fields up front: growing from empty rehashes every key at each doubling.
    var object = Dictionary<String, JSONValue>(minimumCapacity: 16)

    mutating func accept(_ name: String, _ value: JSONValue) -> Bool {
        object.updateValue(value, forKey: name) == nil
    }
}

/// An object as its members in the order written.
private struct MemberList: MemberCollector {
    var members: [JSONMember] = []
    /// Past a few members, names are checked against a set: comparing each with all the others
    /// would be quadratic in a hostile message's thousands of keys.
    private var names: Set<String>?

    init() { members.reserveCapacity(16) }

    mutating func accept(_ name: String, _ value: JSONValue) -> Bool {
        if names == nil, members.count >= 16 { names = Set(members.map(\.name)) }
        if names != nil {
            guard names!.insert(name).inserted else { return false }
        } else if members.contains(where: { $0.name == name }) {
            return false
        }
        members.append(JSONMember(name: name, value: value))
        return true
    }
}

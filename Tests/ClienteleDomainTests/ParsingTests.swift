import ClienteleDomain
import Testing

@Suite("Timestamps, money and JSON")
struct ParsingTests {
    @Test("RFC 3339 timestamps with offsets and fractions", arguments: [
        ("2026-03-01T10:15:00Z", "2026-03-01T10:15:00Z"),
        ("2026-03-01T11:15:00+01:00", "2026-03-01T10:15:00Z"),
        ("2026-03-01T05:45:00-04:30", "2026-03-01T10:15:00Z"),
        ("2026-03-01T10:15:00.250Z", "2026-03-01T10:15:00.250Z"),
        ("2026-03-01T10:15:00.123456789Z", "2026-03-01T10:15:00.123Z"),
        ("2024-02-29t23:59:59z", "2024-02-29T23:59:59Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    ])
    func timestamps(input: String, normalized: String) throws {
        let timestamp = try #require(Timestamp(rfc3339: input))
        #expect(timestamp.rfc3339 == normalized)
        #expect(Timestamp(rfc3339: normalized) == timestamp)
    }

    @Test("invalid timestamps are refused", arguments: [
        "2026-02-30T10:00:00Z", "2025-02-29T10:00:00Z", "2026-13-01T10:00:00Z", "2026-03-01T24:00:00Z",
        "2026-03-01 10:15:00Z", "2026-03-01T10:15:00", "2026-03-01", "yesterday", "2026-03-01T10:15:00+1:00",
        "2026-03-01T10:15:00.Z", "", "2026-03-01T10:15:00Zjunk",
    ])
    func invalidTimestamps(input: String) {
        #expect(Timestamp(rfc3339: input) == nil)
    }

    @Test("the epoch arithmetic agrees with known instants")
    func knownInstants() {
        #expect(Timestamp(rfc3339: "2000-01-01T00:00:00Z")?.millisecondsSinceEpoch == 946_684_800_000)
        #expect(Timestamp(rfc3339: "2026-11-23T00:00:00Z")?.millisecondsSinceEpoch == 1_795_392_000_000)
        #expect(Timestamp(millisecondsSinceEpoch: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
    }

    @Test("money is read exactly from JSON number literals", arguments: [
        ("129.90", Int64(1_299_000)), ("0", 0), ("0.0001", 1), ("0.00005", 1), ("0.00004", 0),
        ("1e3", 10_000_000), ("1.5E2", 1_500_000), ("12.3456", 123_456), ("-2.5", -25_000),
        ("1000000000000", 10_000_000_000_000_000),
    ])
    func money(literal: String, units: Int64) {
        #expect(Money(jsonNumber: literal)?.units == units)
    }

    @Test("money sums are exact and saturate instead of wrapping")
    func moneySums() {
        var total = Money.zero
        for _ in 0..<10 { total += Money(jsonNumber: "0.1")! }
        #expect(total == Money(jsonNumber: "1")!)
        #expect((Money(units: .max) + Money(units: 1)).units == .max)
        #expect(Money(units: 1_299_000).description == "129.90")
        #expect(Money(units: 2_176_710).description == "217.671")
        #expect(Money(units: 0).description == "0.00")
        #expect(Money(units: -5).description == "-0.0005")
        #expect(Money(units: -1_299_000).description == "-129.90")
        #expect(Money(units: 10_000_000_000_000_012).description == "1000000000000.0012")
        #expect(Money(units: Int64.min).description == "-922337203685477.5808")
    }

    @Test("JSON parser accepts valid documents")
    func jsonValid() throws {
        let value = try JSONParser.parse(Array(#" {"a":[1,-2.5e3,true,false,null],"b":"x\"\u00e9\ud83d\ude00","c":{}} "#.utf8))
        guard case .object(let object) = value else { Issue.record("not an object"); return }
        #expect(object["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(object["b"] == .string("x\"é😀"))
        #expect(object["c"] == .object([:]))
    }

    @Test("JSON parser refuses invalid documents", arguments: [
        #"{"a":1,"a":2}"#, #"{"a":1,}"#, #"{"a":01}"#, #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, #"{"a":1} x"#,
        #"{"a":.5}"#, #"{'a':1}"#, "{\"a\":\"\u{01}\"}", #"["#, "", #"{"a":tru}"#,
        String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
    ])
    func jsonInvalid(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    /// Valid and invalid documents, objects and others, small and past the 16 members at which
    /// duplicate names are looked up in a set.
    static let documents: [String] = {
        var documents: [String] = [
            #"{"a":1,"a":2}"#, #"{"a":1,}"#, #"{"a":01}"#, #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, #"{"a":1} x"#,
            #"{"a":.5}"#, #"{'a':1}"#, "{\"a\":\"\u{01}\"}", #"["#, "", #"{"a":tru}"#,
            #"{}"#, #" { "b" : [1, {"c": null}], "a": "x\u00e9\n", "n": -0.5e3 } "#, #"[1,2]"#, #""s""#, "7",
        ]
        documents.append(String(repeating: "[", count: 40) + String(repeating: "]", count: 40))
        documents.append(String(repeating: #"{"a":"#, count: 33) + "1" + String(repeating: "}", count: 33))
        documents.append(String(repeating: #"{"a":"#, count: 32) + "1" + String(repeating: "}", count: 32))
        let forty: [String] = (0..<40).map { (number: Int) -> String in "\"k\(number)\":\(number)" }
        documents.append("{" + forty.joined(separator: ",") + "}")
        documents.append("{" + forty.joined(separator: ",") + ",\"k3\":0}")
        return documents
    }()

    @Test("a document parsed as members says what parse(_:) says: the same members, the same error at the same offset",
          arguments: documents)
    func jsonDocumentMembers(text: String) {
        let bytes = Array(text.utf8)
        let whole = Result { () throws(JSONParseError) in try JSONParser.parse(bytes) }
        let document = Result { () throws(JSONParseError) in try JSONParser.parseDocument(bytes) }
        switch (whole, document) {
        case (.success(.object(let object)), .success(.members(let members))):
            #expect(members.count == object.count)
            #expect(Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0.value) }) == object)
        case (.success(let value), .success(.other(let other))):
            #expect(value == other)
            if case .object = value { Issue.record("an object came back as another value") }
        case (.failure(let expected), .failure(let error)):
            #expect(error == expected)
        default:
            Issue.record("parse and parseDocument disagree: \(whole) vs \(document)")
        }
    }

    @Test("the JSON writer escapes what JSON requires and copies the rest; timestamps as RFC 3339")
    func jsonWriter() throws {
        var writer = JSONObjectWriter()
        writer.add("plain", "C-001 é€")
        writer.add("escaped", "a\"b\\c\nd\u{01}\u{7F}")
        writer.add("at", Timestamp(millisecondsSinceEpoch: 1_795_392_000_250))
        writer.add("before", Timestamp(millisecondsSinceEpoch: -1))
        #expect(writer.json == #"{"plain":"C-001 é€","escaped":"a\"b\\c\nd\u0001\u007f","at":"2026-11-23T00:00:00.250Z","before":"1969-12-31T23:59:59.999Z"}"#)
        guard case .object(let parsed) = try JSONParser.parse(writer.bytes) else { Issue.record("not an object"); return }
        #expect(parsed["escaped"] == .string("a\"b\\c\nd\u{01}\u{7F}"))
        #expect(parsed["plain"] == .string("C-001 é€"))
    }

    @Test("the JSON writer writes integers as String(_:) does, at both ends of the range", arguments: [
        0, 7, 10, 99, 100, -1, -10, 1_000_000_007, Int.max, Int.min,
    ])
    func jsonWriterIntegers(value: Int) {
        var writer = JSONObjectWriter()
        writer.add("n", value)
        #expect(writer.json == "{\"n\":\(value)}")
    }

    @Test("stable ids are deterministic, distinct and UUID-shaped")
    func stableIDs() {
        let a = StableID.make("task", "welcome", "C1")
        #expect(a == StableID.make("task", "welcome", "C1"))
        #expect(a != StableID.make("task", "welcome", "C2"))
        #expect(StableID.make("ab", "c") != StableID.make("a", "bc"))
        #expect(a.count == 36)
        #expect(a.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
        // The ids stay what earlier releases made (outputs re-emitted after an upgrade are deduplicated).
        #expect(a == "18a5f930-d178-844f-971c-10a673f89f16")
        #expect(StableID.make("", "é", "p-11-0") == "fb0358f2-228c-899d-a5dd-df0b8fcdad40")
    }
}

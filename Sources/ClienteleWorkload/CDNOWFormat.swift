import ClienteleDomain

/// Reads the CDNOW transaction logs (Fader & Hardie) and turns each line into a contract purchase
/// event, so the models can be tried on public data.
///
/// Two layouts are recognised by their column count: the master file (`customer_id date cds
/// dollar_value`, with a header line) and the 1/10 sample (`customer_id sample_id date cds
/// dollar_value`, where the sample id is the one the published summary uses).
public enum CDNOWFormat {
    /// A line that cannot be read; `line` is 1-based.
    public struct LineError: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var problem: String
        public var description: String { "line \(line): \(problem)" }
    }

    /// One converted transaction.
    public struct Event: Sendable {
        public var clientId: String
        public var eventId: String
        public var occurredAt: Timestamp
        public var json: String
    }

    /// Converts every line, in file order (the files are sorted by customer); throws at the first
    /// line that is not a CDNOW transaction.
    public static func events(from text: String, clientPrefix: String = "CDNOW-") throws(LineError) -> [Event] {
        var events: [Event] = []
        var lineNumber = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            if lineNumber == 1, fields.first == "customer_id" { continue }  // the master file's header
            let layout: (id: Substring, date: Substring, cds: Substring, value: Substring, name: String)
            switch fields.count {
            case 4: layout = (fields[0], fields[1], fields[2], fields[3], "master")
            case 5: layout = (fields[1], fields[2], fields[3], fields[4], "sample")
            default: throw LineError(line: lineNumber, problem: "expected 4 (master) or 5 (sample) columns, found \(fields.count)")
            }
            guard layout.id.allSatisfy(\.isNumber) else { throw LineError(line: lineNumber, problem: "the customer id is not a number") }
            let date = String(layout.date)
            guard date.count == 8, date.allSatisfy(\.isNumber),
                  let day = Timestamp(rfc3339: "\(date.prefix(4))-\(date.dropFirst(4).prefix(2))-\(date.suffix(2))T00:00:00Z")
            else { throw LineError(line: lineNumber, problem: "the date must be YYYYMMDD") }
            guard let cds = Int(layout.cds), cds >= 0 else { throw LineError(line: lineNumber, problem: "the number of CDs must be a whole number") }
            guard let value = Money(jsonNumber: String(layout.value)), value.units >= 0 else {
                throw LineError(line: lineNumber, problem: "the dollar value must be a non-negative number")
            }
            let clientId = clientPrefix + layout.id
            let eventId = "cdnow-\(layout.name)-\(lineNumber)"
            var json = JSONObjectWriter()
            json.add("eventId", eventId)
            json.add("clientId", clientId)
            json.add("occurredAt", day)
            json.add("amount", value)
            json.add("currency", "USD")
            json.add("items", cds)
            json.add("channel", "web")
            events.append(Event(clientId: clientId, eventId: eventId, occurredAt: day, json: json.json))
        }
        return events
    }
}

/// A point in time with millisecond precision, counted from the Unix epoch (UTC).
///
/// The domain keeps its own time type so that it stays free of Foundation and of any clock:
/// "now" is always passed in.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    /// Whole days since 1970-01-01 (UTC) of this time.
    public var day: Int {
        Int((millisecondsSinceEpoch >= 0 ? millisecondsSinceEpoch : millisecondsSinceEpoch - 86_399_999) / 86_400_000)
    }

    /// The start (00:00 UTC) of a day counted from 1970-01-01.
    public init(day: Int) {
        self.init(millisecondsSinceEpoch: Int64(day) * 86_400_000)
    }

    /// This time moved by a number of milliseconds (negative moves it back).
    public func adding(milliseconds: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + milliseconds)
    }

    /// This time moved by a number of seconds (negative moves it back).
    public func adding(seconds: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + seconds * 1000)
    }

    /// RFC 3339 in UTC, e.g. `2026-03-01T10:15:00Z` (milliseconds shown only when not zero).
    public var description: String { rfc3339 }

    /// RFC 3339 in UTC, e.g. `2026-03-01T10:15:00Z` (milliseconds shown only when not zero).
    public var rfc3339: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``rfc3339``'s UTF-8 bytes to `buffer` (the JSON writer's path: no string made).
    public func appendRFC3339(to buffer: inout [UInt8]) {
        let millis = millisecondsSinceEpoch
        var days = millis / 86_400_000
        var msOfDay = millis % 86_400_000
        if msOfDay < 0 { msOfDay += 86_400_000; days -= 1 }
        let (year, month, day) = Self.civil(fromDays: days)
        let seconds = msOfDay / 1000
        let fraction = msOfDay % 1000
        func digits(_ value: Int64, _ width: Int) {
            guard value < 0 else { return DecimalDigits.append(UInt64(value), minimumWidth: width, to: &buffer) }
            // Before year 0: the sign, padded as before.
            let text = String(value)
            if text.utf8.count < width { buffer.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - text.utf8.count)) }
            buffer.append(contentsOf: text.utf8)
        }
        digits(year, 4); buffer.append(UInt8(ascii: "-")); digits(month, 2); buffer.append(UInt8(ascii: "-")); digits(day, 2)
        buffer.append(UInt8(ascii: "T"))
        digits(seconds / 3600, 2); buffer.append(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2); buffer.append(UInt8(ascii: ":"))
        digits(seconds % 60, 2)
        if fraction != 0 { buffer.append(UInt8(ascii: ".")); digits(fraction, 3) }
        buffer.append(UInt8(ascii: "Z"))
    }

    /// Parses an RFC 3339 timestamp with an explicit offset (`Z` or `±HH:MM`), e.g.
    /// `2026-03-01T10:15:00Z` or `2026-03-01T11:15:00.250+01:00`. Fractions beyond
    /// milliseconds are truncated. Returns nil for anything else, including impossible dates.
    public init?(rfc3339 text: String) {
        var utf8 = Array(text.utf8)
        guard utf8.count >= 20, utf8.count <= 40 else { return nil }
        // RFC 3339 allows a lower-case 't'/'z' and a space between date and time is not allowed here.
        for i in utf8.indices where utf8[i] == UInt8(ascii: "t") || utf8[i] == UInt8(ascii: "z") {
            utf8[i] -= 32
        }
        func number(_ from: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for i in from..<(from + count) {
                let byte = utf8[i]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            return value
        }
        guard utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"), utf8[10] == UInt8(ascii: "T"),
              utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60  // 60: leap second, folded into the next
        else { return nil }
        var index = 19
        var millis: Int64 = 0
        if utf8[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < utf8.count, utf8[index] >= 0x30, utf8[index] <= 0x39 {
                if digits < 3 { millis = millis * 10 + Int64(utf8[index] - 0x30) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            var scale = digits
            while scale < 3 { millis *= 10; scale += 1 }
        }
        guard index < utf8.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch utf8[index] {
        case UInt8(ascii: "Z"):
            guard index + 1 == utf8.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == utf8.count, utf8[index + 3] == UInt8(ascii: ":"),
                  let offsetHours = number(index + 1, 2), let offsetMinutes = number(index + 4, 2),
                  offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (utf8[index] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        let days = Self.days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        self.millisecondsSinceEpoch = seconds * 1000 + millis
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

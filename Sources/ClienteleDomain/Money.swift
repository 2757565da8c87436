/// An exact amount of money in ten-thousandths of a currency unit (four decimal places cover every
/// ISO 4217 minor unit). Sums are exact and so independent of the order events arrive in.
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Ten-thousandths of the currency unit.
    public var units: Int64

    public static let scale: Int64 = 10_000
    /// The largest accepted amount of a single event: one trillion.
    public static let maximumEventAmount = Money(units: 1_000_000_000_000 * scale)
    public static let zero = Money(units: 0)

    public init(units: Int64) { self.units = units }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.units < rhs.units }

    /// Saturating addition: totals never wrap around.
    public static func + (lhs: Money, rhs: Money) -> Money {
        let (sum, overflow) = lhs.units.addingReportingOverflow(rhs.units)
        if overflow { return Money(units: rhs.units > 0 ? .max : .min) }
        return Money(units: sum)
    }

    public static func += (lhs: inout Money, rhs: Money) { lhs = lhs + rhs }

    /// The amount as a floating-point number of currency units (for ratios and display).
    public var doubleValue: Double { Double(units) / Double(Self.scale) }

    /// Decimal text with up to four decimals and no trailing zeros beyond two, e.g. `129.9` → `129.90`.
    public var description: String {
        // Written digit by digit into one small buffer: amounts are formatted for every event's
        // fingerprint and every outbox message.
        var digits: [UInt8] = []
        digits.reserveCapacity(26)
        if units < 0 { digits.append(UInt8(ascii: "-")) }
        let magnitude = units.magnitude
        DecimalDigits.append(magnitude / UInt64(Self.scale), minimumWidth: 1, to: &digits)
        digits.append(UInt8(ascii: "."))
        // Four decimals, trailing zeros dropped down to two.
        var fraction = magnitude % UInt64(Self.scale)
        var decimals = 4
        while decimals > 2, fraction % 10 == 0 { fraction /= 10; decimals -= 1 }
        DecimalDigits.append(fraction, minimumWidth: decimals, to: &digits)
        return String(decoding: digits, as: UTF8.self)
    }

    /// Reads a JSON number literal exactly. Digits past the fourth decimal are rounded half away
    /// from zero. Returns nil when the literal is not a plain decimal number or is too large.
    public init?(jsonNumber literal: String) {
        var utf8 = Substring(literal).utf8[...]
        var negative = false
        if utf8.first == UInt8(ascii: "-") { negative = true; utf8 = utf8.dropFirst() }
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var roundUp = false
        var seenPoint = false
        var exponent = 0
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let digit = Int64(byte - 0x30)
                if !seenPoint {
                    let (shifted, o1) = whole.multipliedReportingOverflow(by: 10)
                    let (sum, o2) = shifted.addingReportingOverflow(digit)
                    guard !o1, !o2, sum <= 1_000_000_000_000_000 else { return nil }
                    whole = sum
                } else if fractionDigits < 4 {
                    fraction = fraction * 10 + digit
                    fractionDigits += 1
                } else if fractionDigits == 4 {
                    roundUp = digit >= 5
                    fractionDigits += 1
                }
            case UInt8(ascii: "."):
                seenPoint = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                var rest = ""
                while let next = iterator.next() { rest.unicodeScalars.append(Unicode.Scalar(next)) }
                guard let value = Int(rest), abs(value) <= 20 else { return nil }
                exponent = value
            default:
                return nil
            }
        }
        while fractionDigits < 4 { fraction *= 10; fractionDigits += 1 }
        var units = whole.multipliedReportingOverflow(by: Self.scale)
        guard !units.overflow else { return nil }
        units.partialValue += fraction + (roundUp ? 1 : 0)
        var value = units.partialValue
        if exponent > 0 {
            for _ in 0..<exponent {
                let next = value.multipliedReportingOverflow(by: 10)
                guard !next.overflow else { return nil }
                value = next.partialValue
            }
        } else if exponent < 0 {
            for _ in 0..<(-exponent) { value = (value + 5) / 10 }
        }
        self.units = negative ? -value : value
    }
}

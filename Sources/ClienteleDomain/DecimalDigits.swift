/// Decimal digits written straight into a UTF-8 buffer, for the formatters on the event path
/// (amounts, timestamps): no intermediate strings.
enum DecimalDigits {
    /// Appends `value`'s digits, zero-padded on the left to at least `minimumWidth`.
    static func append(_ value: UInt64, minimumWidth: Int, to buffer: inout [UInt8]) {
        var divisor: UInt64 = 1
        var width = 1
        while width < minimumWidth || (divisor <= value / 10) {
            divisor *= 10
            width += 1
        }
        while divisor > 0 {
            buffer.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}

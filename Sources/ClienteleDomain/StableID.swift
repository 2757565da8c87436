/// Deterministic identifiers: the same inputs always give the same id, so outputs re-emitted
/// after a crash or a redelivery carry the id they had the first time and can be deduplicated.
public enum StableID {
    /// A UUID-formatted (version 8) id derived from the parts by two independent 64-bit FNV-1a
    /// hashes. Parts are separated unambiguously (length-prefixed).
    public static func make(_ parts: String...) -> String {
        var high: UInt64 = 0xcbf2_9ce4_8422_2325
        var low: UInt64 = 0x6c62_272e_07bb_0142
        func mix(_ byte: UInt8) {
            high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            low = low ^ (low >> 29)
        }
        for part in parts {
            let count = part.utf8.count
            for shift in stride(from: 0, to: 32, by: 8) { mix(UInt8(truncatingIfNeeded: count >> shift)) }
            for byte in part.utf8 { mix(byte) }
        }
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_8000  // version 8
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        let hex = hex16(high) + hex16(low)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-"
            + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    private static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

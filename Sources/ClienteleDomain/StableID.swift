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
        return format(high, low)
    }

    /// `hhhhhhhh-hhhh-hhhh-llll-llllllllllll`, lower-case hex, written into the string's own
    /// storage (ids are made for every status change, task and message: no intermediate strings;
    /// measured, formatting through `[Character]` slices cost about 50,000 instructions an id).
    private static func format(_ high: UInt64, _ low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            let digits: StaticString = "0123456789abcdef"
            var position = 0
            func write(_ value: UInt64, from nibble: Int, count: Int) {
                for index in nibble..<(nibble + count) {
                    let shift = UInt64(60 - 4 * index)
                    buffer[position] = digits.utf8Start[Int((value >> shift) & 0xF)]
                    position += 1
                }
            }
            func dash() { buffer[position] = UInt8(ascii: "-"); position += 1 }
            write(high, from: 0, count: 8); dash()
            write(high, from: 8, count: 4); dash()
            write(high, from: 12, count: 4); dash()
            write(low, from: 0, count: 4); dash()
            write(low, from: 4, count: 12)
            return position
        }
    }
}

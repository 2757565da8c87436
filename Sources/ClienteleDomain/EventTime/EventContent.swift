/// An event's content as a compact byte string, for the keyed fingerprint the store keeps with
/// each idempotency record (so a different event under a seen id is told from a redelivery).
///
/// Two events have the same content bytes exactly when their contract JSON (``InputEvent/encoded``)
/// is the same: the same fields, free text left out. Each present field is written as a tag byte,
/// then its value — a string as its UTF-8 length (4 bytes, little-endian) and bytes, a number as 8
/// bytes little-endian, a flag as one byte — so no two different contents give the same bytes.
/// Cheaper than the contract JSON (no number or time formatting): it is computed for every event.
public struct EventContent: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Replaces what is held by `event`'s content.
    public mutating func write(_ event: InputEvent) {
        bytes.removeAll(keepingCapacity: true)
        switch event {
        case .purchase(let purchase):
            bytes.append(0x50)  // "P"
            field(1, purchase.eventId)
            field(2, purchase.clientId)
            field(3, purchase.occurredAt.millisecondsSinceEpoch)
            field(4, purchase.kind.rawValue)
            field(5, purchase.amount.units)
            field(6, purchase.currency.code)
            field(7, purchase.margin?.units)
            field(8, purchase.discount?.units)
            field(9, purchase.channel)
            field(10, purchase.items.map(Int64.init))
        case .contact(let contact):
            bytes.append(0x43)  // "C"
            field(1, contact.eventId)
            field(2, contact.clientId)
            field(3, contact.occurredAt.millisecondsSinceEpoch)
            field(4, contact.kind.rawValue)
            field(5, contact.channel)
            field(6, contact.direction?.rawValue)
            field(7, contact.satisfaction.map(Int64.init))
            if let qualification = contact.qualification {
                bytes.append(8)
                field(9, qualification.budget)
                field(10, qualification.authority)
                field(11, qualification.need)
                field(12, qualification.timing)
            }
        }
    }

    private mutating func field(_ tag: UInt8, _ value: String?) {
        guard var value else { return }
        bytes.append(tag)
        value.withUTF8 { utf8 in
            let count = UInt32(truncatingIfNeeded: utf8.count)
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
            bytes.append(contentsOf: utf8)
        }
    }

    private mutating func field(_ tag: UInt8, _ value: Int64?) {
        guard let value else { return }
        bytes.append(tag)
        let bits = UInt64(bitPattern: value)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    private mutating func field(_ tag: UInt8, _ value: Bool?) {
        guard let value else { return }
        bytes.append(tag)
        bytes.append(value ? 1 : 0)
    }
}

import ClienteleDomain

/// Reads a stored client row's columns by index (``ClientRows/columnNames`` order), whatever the
/// backend: integers (times, counts, amounts) and texts, nil for NULL.
protocol ClientColumnReader {
    var columnCount: Int { get }
    func integer(_ index: Int) -> Int64?
    func text(_ index: Int) -> String?
}

/// Takes a client's column values in ``ClientRows/columnNames`` order.
protocol ClientColumnWriter {
    mutating func integer(_ value: Int64?)
    mutating func text(_ value: String?)
}

/// The client table's columns and their mapping to ``ClientState``, shared by both backends.
enum ClientRows {
    /// The client columns, in the order of ``values(for:)`` and ``state(from:)``.
    static let columnNames = [
        "client_id", "status", "status_changed_at", "purchase_count", "first_purchase_at", "last_purchase_at",
        "total_amount", "total_margin", "total_discount", "refund_count", "refund_total", "currency", "last_event_at",
        "temperature", "qualification", "last_inbound_inquiry_at", "last_service_use_at", "last_contact_at",
        "complaint_count", "last_complaint_at", "last_satisfaction", "last_satisfaction_at", "consent",
        "consent_changed_at", "contact_history", "purchase_days", "first_purchase_day", "last_purchase_day",
        "first_day_amount", "purchase_days_amount", "recent_purchase_days", "next_review_at", "consent_history",
    ]
    static let columns = columnNames.joined(separator: ", ")
    static let columnCount = columnNames.count
    static let insertPrefix = "INSERT INTO clients (\(columns))"
    static let upsertSuffix = "ON CONFLICT (client_id) DO UPDATE SET "
        + columnNames.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")

    /// Writes the values of ``columnNames``, in order.
    static func write<Writer: ClientColumnWriter>(_ state: ClientState, to writer: inout Writer) {
        let contacts = state.contacts
        writer.text(state.clientId)
        writer.text(state.status?.rawValue)
        writer.integer(state.statusChangedAt?.millisecondsSinceEpoch)
        writer.integer(Int64(state.purchaseCount))
        writer.integer(state.firstPurchaseAt?.millisecondsSinceEpoch)
        writer.integer(state.lastPurchaseAt?.millisecondsSinceEpoch)
        writer.integer(state.totalAmount.units)
        writer.integer(state.totalMargin.units)
        writer.integer(state.totalDiscount.units)
        writer.integer(Int64(state.refundCount))
        writer.integer(state.refundTotal.units)
        writer.text(state.currency)
        writer.integer(state.lastEventAt?.millisecondsSinceEpoch)
        writer.text(state.temperature?.rawValue)
        writer.text(contacts.qualificationJSON)
        writer.integer(contacts.lastInboundInquiryAt?.millisecondsSinceEpoch)
        writer.integer(contacts.lastServiceUseAt?.millisecondsSinceEpoch)
        writer.integer(contacts.lastContactAt?.millisecondsSinceEpoch)
        writer.integer(Int64(contacts.complaintCount))
        writer.integer(contacts.lastComplaintAt?.millisecondsSinceEpoch)
        writer.integer(contacts.lastSatisfaction.map { Int64($0.value) })
        writer.integer(contacts.lastSatisfaction?.at.millisecondsSinceEpoch)
        writer.integer(contacts.consent.map { $0.value ? 1 : 0 })
        writer.integer(contacts.consent?.at.millisecondsSinceEpoch)
        writer.text(contacts.historyJSON)
        writer.integer(Int64(state.purchaseDays.count))
        writer.integer(state.purchaseDays.firstDay.map(Int64.init))
        writer.integer(state.purchaseDays.lastDay.map(Int64.init))
        writer.integer(state.purchaseDays.firstDayAmount.units)
        writer.integer(state.purchaseDays.totalAmount.units)
        writer.text(state.purchaseDays.recentDays.isEmpty ? nil : state.purchaseDays.recentDays.map(String.init).joined(separator: ","))
        writer.integer(state.nextReviewAt?.millisecondsSinceEpoch)
        writer.text(contacts.consentJSON)
    }

    /// The indices of the text columns (the others hold integers).
    static let textColumns: Set<Int> = [0, 1, 11, 13, 14, 24, 30, 32]

    /// Reads a row selected with ``columns``, by index and storage class (no per-column generic
    /// decoding: this runs for every client of every batch).
    static func state<Reader: ClientColumnReader>(from row: Reader) throws -> ClientState {
        guard row.columnCount == columnCount, let clientId = row.text(0) else {
            throw StoreError(.corruptRow, "a clients row does not have the expected columns")
        }
        var state = ClientState(clientId: clientId)
        if let status = row.text(1) {
            guard let parsed = ClientStatus(rawValue: status) else {
                throw StoreError(.corruptRow, "unknown status '\(status)' in the clients table")
            }
            state.status = parsed
        }
        state.statusChangedAt = time(row, 2)
        state.purchaseCount = Int(row.integer(3) ?? 0)
        state.firstPurchaseAt = time(row, 4)
        state.lastPurchaseAt = time(row, 5)
        state.totalAmount = Money(units: row.integer(6) ?? 0)
        state.totalMargin = Money(units: row.integer(7) ?? 0)
        state.totalDiscount = Money(units: row.integer(8) ?? 0)
        state.refundCount = Int(row.integer(9) ?? 0)
        state.refundTotal = Money(units: row.integer(10) ?? 0)
        state.currency = row.text(11)
        state.lastEventAt = time(row, 12)
        state.temperature = row.text(13).flatMap(Temperature.init(rawValue:))
        state.purchaseDays = purchaseDays(from: row)
        state.contacts = try contacts(from: row)
        state.nextReviewAt = time(row, 31)
        return state
    }

    private static func purchaseDays<Reader: ClientColumnReader>(from row: Reader) -> PurchaseDayTotals {
        var totals = PurchaseDayTotals()
        totals.count = Int(row.integer(25) ?? 0)
        totals.firstDay = row.integer(26).map { Int($0) }
        totals.lastDay = row.integer(27).map { Int($0) }
        totals.firstDayAmount = Money(units: row.integer(28) ?? 0)
        totals.totalAmount = Money(units: row.integer(29) ?? 0)
        if let days = row.text(30) {
            totals.recentDays = dayNumbers(days)
        }
        return totals
    }

    /// The comma-separated day numbers of the recent-days column, sorted. Read byte by byte when
    /// it holds only digits and commas, as the store writes it (this runs for every client of
    /// every batch); anything else is read as before, by splitting.
    static func dayNumbers(_ text: String) -> [Int] {
        var days: [Int] = []
        var value = 0
        var digits = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: ","):
                if digits > 0 { days.append(value) }
                value = 0
                digits = 0
            case UInt8(ascii: "0")...UInt8(ascii: "9") where digits < 18:
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            default:
                return text.split(separator: ",").compactMap { Int($0) }.sorted()
            }
        }
        if digits > 0 { days.append(value) }
        days.sort()
        return days
    }

    private static func contacts<Reader: ClientColumnReader>(from row: Reader) throws -> ContactProfile {
        var contacts = ContactProfile()
        let qualification = row.text(14)
        let history = row.text(24)
        let consent = row.text(32)
        // Purchase-only clients have no contact data at all: skip the rest.
        guard qualification != nil || history != nil || consent != nil else { return contacts }
        do {
            try contacts.restore(qualificationJSON: qualification, historyJSON: history)
            if let consent { try contacts.restore(consentJSON: consent) }
        } catch {
            throw StoreError(.corruptRow, "unreadable contact data in the clients table: \(error.message)")
        }
        contacts.lastInboundInquiryAt = time(row, 15)
        contacts.lastServiceUseAt = time(row, 16)
        contacts.lastContactAt = time(row, 17)
        contacts.complaintCount = Int(row.integer(18) ?? 0)
        contacts.lastComplaintAt = time(row, 19)
        if let score = row.integer(20), let at = time(row, 21) { contacts.lastSatisfaction = Fact(Int(score), at: at) }
        return contacts
    }

    private static func time<Reader: ClientColumnReader>(_ row: Reader, _ index: Int) -> Timestamp? {
        row.integer(index).map(Timestamp.init(millisecondsSinceEpoch:))
    }
}

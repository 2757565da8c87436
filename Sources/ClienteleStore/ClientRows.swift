import ClienteleDomain
import GRDB

/// Mapping between domain values and SQL rows (shared by the SQL backends' column layout).
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

    /// The values of ``columnNames``, in order.
    static func values(for state: ClientState) -> [(any DatabaseValueConvertible)?] {
        let contacts = state.contacts
        return [
            state.clientId, state.status?.rawValue, state.statusChangedAt?.millisecondsSinceEpoch,
            state.purchaseCount, state.firstPurchaseAt?.millisecondsSinceEpoch,
            state.lastPurchaseAt?.millisecondsSinceEpoch, state.totalAmount.units, state.totalMargin.units,
            state.totalDiscount.units, state.refundCount, state.refundTotal.units, state.currency,
            state.lastEventAt?.millisecondsSinceEpoch,
            state.temperature?.rawValue, contacts.qualificationJSON, contacts.lastInboundInquiryAt?.millisecondsSinceEpoch,
            contacts.lastServiceUseAt?.millisecondsSinceEpoch, contacts.lastContactAt?.millisecondsSinceEpoch,
            contacts.complaintCount, contacts.lastComplaintAt?.millisecondsSinceEpoch, contacts.lastSatisfaction?.value,
            contacts.lastSatisfaction?.at.millisecondsSinceEpoch, contacts.consent.map { $0.value ? 1 : 0 },
            contacts.consent?.at.millisecondsSinceEpoch, contacts.historyJSON,
            state.purchaseDays.count, state.purchaseDays.firstDay, state.purchaseDays.lastDay,
            state.purchaseDays.firstDayAmount.units, state.purchaseDays.totalAmount.units,
            state.purchaseDays.recentDays.isEmpty ? nil : state.purchaseDays.recentDays.map(String.init).joined(separator: ","),
            state.nextReviewAt?.millisecondsSinceEpoch, contacts.consentJSON,
        ]
    }

    /// Reads a row selected with ``columns``, by index and storage class (no per-column generic
    /// decoding: this runs for every client of every batch).
    static func state(from row: Row) throws -> ClientState {
        guard row.count == columnCount, let clientId = text(row, 0) else {
            throw StoreError(.corruptRow, "a clients row does not have the expected columns")
        }
        var state = ClientState(clientId: clientId)
        if let status = text(row, 1) {
            guard let parsed = ClientStatus(rawValue: status) else {
                throw StoreError(.corruptRow, "unknown status '\(status)' in the clients table")
            }
            state.status = parsed
        }
        state.statusChangedAt = time(row, 2)
        state.purchaseCount = Int(integer(row, 3) ?? 0)
        state.firstPurchaseAt = time(row, 4)
        state.lastPurchaseAt = time(row, 5)
        state.totalAmount = Money(units: integer(row, 6) ?? 0)
        state.totalMargin = Money(units: integer(row, 7) ?? 0)
        state.totalDiscount = Money(units: integer(row, 8) ?? 0)
        state.refundCount = Int(integer(row, 9) ?? 0)
        state.refundTotal = Money(units: integer(row, 10) ?? 0)
        state.currency = text(row, 11)
        state.lastEventAt = time(row, 12)
        state.temperature = text(row, 13).flatMap(Temperature.init(rawValue:))
        state.purchaseDays = purchaseDays(from: row)
        state.contacts = try contacts(from: row)
        state.nextReviewAt = time(row, 31)
        return state
    }

    private static func purchaseDays(from row: Row) -> PurchaseDayTotals {
        var totals = PurchaseDayTotals()
        totals.count = Int(integer(row, 25) ?? 0)
        totals.firstDay = integer(row, 26).map { Int($0) }
        totals.lastDay = integer(row, 27).map { Int($0) }
        totals.firstDayAmount = Money(units: integer(row, 28) ?? 0)
        totals.totalAmount = Money(units: integer(row, 29) ?? 0)
        if let days = text(row, 30) {
            totals.recentDays = days.split(separator: ",").compactMap { Int($0) }.sorted()
        }
        return totals
    }

    private static func contacts(from row: Row) throws -> ContactProfile {
        var contacts = ContactProfile()
        let qualification = text(row, 14)
        let history = text(row, 24)
        let consent = text(row, 32)
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
        contacts.complaintCount = Int(integer(row, 18) ?? 0)
        contacts.lastComplaintAt = time(row, 19)
        if let score = integer(row, 20), let at = time(row, 21) { contacts.lastSatisfaction = Fact(Int(score), at: at) }
        return contacts
    }

    private static func integer(_ row: Row, _ index: Int) -> Int64? {
        let value: DatabaseValue = row[index]
        if case .int64(let number) = value.storage { return number }
        return nil
    }

    private static func text(_ row: Row, _ index: Int) -> String? {
        let value: DatabaseValue = row[index]
        if case .string(let string) = value.storage { return string }
        return nil
    }

    private static func time(_ row: Row, _ index: Int) -> Timestamp? {
        integer(row, index).map(Timestamp.init(millisecondsSinceEpoch:))
    }

    static func task(from row: Row) throws -> FollowUpTask {
        let kindName: String = row["kind"]
        let priorityName: String = row["priority"]
        guard let kind = FollowUpTask.Kind(rawValue: kindName), let priority = FollowUpTask.Priority(rawValue: priorityName) else {
            throw StoreError(.corruptRow, "unknown task kind or priority in the tasks table")
        }
        return FollowUpTask(
            taskId: row["task_id"], clientId: row["client_id"], kind: kind, priority: priority,
            dueAt: Timestamp(millisecondsSinceEpoch: row["due_at"]),
            createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]),
            reason: row["reason"], causedBy: row["caused_by"])
    }

    static func suppressedTask(from row: Row) throws -> SuppressedTask {
        SuppressedTask(task: try task(from: row), because: row["suppressed_because"])
    }

    static func statusChange(from row: Row) throws -> StatusChange {
        let statusName: String = row["status"]
        guard let status = ClientStatus(rawValue: statusName) else {
            throw StoreError(.corruptRow, "unknown status '\(statusName)' in the status_changes table")
        }
        let previousName: String? = row["previous_status"]
        var change = StatusChange(
            clientId: row["client_id"], status: status, previousStatus: previousName.flatMap(ClientStatus.init(rawValue:)),
            changedAt: Timestamp(millisecondsSinceEpoch: row["changed_at"]), reason: row["reason"],
            causedBy: row["caused_by"], purchaseCount: row["purchase_count"],
            temperature: (row["temperature"] as String?).flatMap(Temperature.init(rawValue:)))
        change.eventId = row["event_id"]
        return change
    }

    static func convertedPurchase(from row: Row) -> ConvertedPurchase? {
        guard let kind = PurchaseEvent.Kind(rawValue: row["kind"]), let rate = ExchangeRate(decimal: row["rate"]) else { return nil }
        return ConvertedPurchase(
            clientId: row["client_id"], eventId: row["event_id"], occurredAt: Timestamp(millisecondsSinceEpoch: row["occurred_at"]),
            kind: kind, originalAmount: Money(units: row["original_amount"]), originalCurrency: row["original_currency"],
            rate: rate, amount: Money(units: row["amount"]))
    }
}

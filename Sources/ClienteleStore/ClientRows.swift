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
        "consent_changed_at", "contact_history",
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
        ]
    }

    /// Reads a row selected with ``columns`` (by index: no per-row column-name lookups).
    static func state(from row: Row) throws -> ClientState {
        var state = ClientState(clientId: row[0])
        if let status: String = row[1] {
            guard let parsed = ClientStatus(rawValue: status) else {
                throw StoreError(.corruptRow, "unknown status '\(status)' in the clients table")
            }
            state.status = parsed
        }
        state.statusChangedAt = timestamp(row[2])
        state.purchaseCount = row[3]
        state.firstPurchaseAt = timestamp(row[4])
        state.lastPurchaseAt = timestamp(row[5])
        state.totalAmount = Money(units: row[6])
        state.totalMargin = Money(units: row[7])
        state.totalDiscount = Money(units: row[8])
        state.refundCount = row[9]
        state.refundTotal = Money(units: row[10])
        state.currency = row[11]
        state.lastEventAt = timestamp(row[12])
        state.temperature = (row[13] as String?).flatMap(Temperature.init(rawValue:))
        var contacts = ContactProfile()
        do {
            try contacts.restore(qualificationJSON: row[14], historyJSON: row[24])
        } catch {
            throw StoreError(.corruptRow, "unreadable contact data in the clients table: \(error.message)")
        }
        contacts.lastInboundInquiryAt = timestamp(row[15])
        contacts.lastServiceUseAt = timestamp(row[16])
        contacts.lastContactAt = timestamp(row[17])
        contacts.complaintCount = row[18]
        contacts.lastComplaintAt = timestamp(row[19])
        if let score: Int = row[20], let at = timestamp(row[21]) { contacts.lastSatisfaction = Fact(score, at: at) }
        if let consent: Int = row[22], let at = timestamp(row[23]) { contacts.consent = Fact(consent == 1, at: at) }
        state.contacts = contacts
        return state
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

    private static func timestamp(_ value: Int64?) -> Timestamp? {
        value.map(Timestamp.init(millisecondsSinceEpoch:))
    }
}

import ClienteleDomain
import GRDB

/// Mapping between domain values and SQL rows (shared by the SQL backends' column layout).
enum ClientRows {
    static let insertPrefix = """
        INSERT INTO clients (client_id, status, status_changed_at, purchase_count, first_purchase_at,
            last_purchase_at, total_amount, total_margin, total_discount, refund_count, refund_total,
            currency, last_event_at)
        """
    static let columnCount = 13
    static let upsertSuffix = """
        ON CONFLICT (client_id) DO UPDATE SET
            status = excluded.status, status_changed_at = excluded.status_changed_at,
            purchase_count = excluded.purchase_count, first_purchase_at = excluded.first_purchase_at,
            last_purchase_at = excluded.last_purchase_at, total_amount = excluded.total_amount,
            total_margin = excluded.total_margin, total_discount = excluded.total_discount,
            refund_count = excluded.refund_count, refund_total = excluded.refund_total,
            currency = excluded.currency, last_event_at = excluded.last_event_at
        """

    /// The values of ``insertPrefix``'s columns, in order.
    static func values(for state: ClientState) -> [(any DatabaseValueConvertible)?] {
        [
            state.clientId, state.status?.rawValue, state.statusChangedAt?.millisecondsSinceEpoch,
            state.purchaseCount, state.firstPurchaseAt?.millisecondsSinceEpoch,
            state.lastPurchaseAt?.millisecondsSinceEpoch, state.totalAmount.units, state.totalMargin.units,
            state.totalDiscount.units, state.refundCount, state.refundTotal.units, state.currency,
            state.lastEventAt?.millisecondsSinceEpoch,
        ]
    }

    /// The client columns in the order ``state(from:)`` reads them by index.
    static let columns = """
        client_id, status, status_changed_at, purchase_count, first_purchase_at, last_purchase_at,
        total_amount, total_margin, total_discount, refund_count, refund_total, currency, last_event_at
        """

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

    static func statusChange(from row: Row) throws -> StatusChange {
        let statusName: String = row["status"]
        guard let status = ClientStatus(rawValue: statusName) else {
            throw StoreError(.corruptRow, "unknown status '\(statusName)' in the status_changes table")
        }
        let previousName: String? = row["previous_status"]
        var change = StatusChange(
            clientId: row["client_id"], status: status, previousStatus: previousName.flatMap(ClientStatus.init(rawValue:)),
            changedAt: Timestamp(millisecondsSinceEpoch: row["changed_at"]), reason: row["reason"],
            causedBy: row["caused_by"], purchaseCount: row["purchase_count"])
        change.eventId = row["event_id"]
        return change
    }

    private static func timestamp(_ value: Int64?) -> Timestamp? {
        value.map(Timestamp.init(millisecondsSinceEpoch:))
    }
}

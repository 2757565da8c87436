import ClienteleDomain
import GRDB
import GRDBSQLite

/// A stored value as a client column reads it: an integer or a text, nil for anything else.
extension DatabaseValue {
    var integerColumn: Int64? {
        if case .int64(let number) = storage { return number }
        return nil
    }

    var textColumn: String? {
        if case .string(let string) = storage { return string }
        return nil
    }
}

/// GRDB rows as client columns, and the SQLite mapping of the other tables' rows.
extension Row: ClientColumnReader {
    var columnCount: Int { count }
    func integer(_ index: Int) -> Int64? { (self[index] as DatabaseValue).integerColumn }
    func text(_ index: Int) -> String? { (self[index] as DatabaseValue).textColumn }
}

/// The current row of a statement being stepped, read straight through SQLite's C API: a client
/// row has 33 columns and every client of every batch is read, so GRDB's per-value generic decoding
/// (a metadata lookup and an existential per column) is left out here.
struct SQLiteColumns: ClientColumnReader {
    let statement: SQLiteStatement

    var columnCount: Int { Int(sqlite3_column_count(statement)) }

    func integer(_ index: Int) -> Int64? {
        let column = CInt(index)
        guard sqlite3_column_type(statement, column) == SQLITE_INTEGER else { return nil }
        return sqlite3_column_int64(statement, column)
    }

    func text(_ index: Int) -> String? {
        let column = CInt(index)
        guard sqlite3_column_type(statement, column) == SQLITE_TEXT, let text = sqlite3_column_text(statement, column) else { return nil }
        // The byte count after the text pointer, as SQLite documents.
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// A blob (or text) column's bytes; nil for NULL, empty for a zero-length blob.
    func bytes(_ index: Int) -> [UInt8]? {
        let column = CInt(index)
        switch sqlite3_column_type(statement, column) {
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let start = sqlite3_column_blob(statement, column) else { return [] }
            return Array(UnsafeRawBufferPointer(start: start, count: count))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let start = sqlite3_column_text(statement, column) else { return [] }
            return Array(UnsafeBufferPointer(start: start, count: count))
        default:
            return nil
        }
    }

    /// Runs `statement` with `arguments` (nil: the parameters already bound through
    /// ``SQLiteBindings``) and hands each row's columns to `body`, read in place.
    static func forEachRow(
        of statement: Statement, arguments: StatementArguments? = nil, _ body: (SQLiteColumns) throws -> Void
    ) throws {
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        let columns = SQLiteColumns(statement: statement.sqliteStatement)
        while try cursor.next() != nil {
            try body(columns)
        }
    }

    /// The same for a statement that selects ``ClientRows/columns``: each row as a client.
    static func forEachClient(
        of statement: Statement, arguments: StatementArguments? = nil, _ body: (ClientState) throws -> Void
    ) throws {
        try forEachRow(of: statement, arguments: arguments) { try body(try ClientRows.state(from: $0)) }
    }
}

enum SQLiteRows {
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

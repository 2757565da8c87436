import ClienteleDomain
import NIOCore
import PostgresNIO

/// A PostgreSQL row as client columns.
struct PostgresClientRow: ClientColumnReader {
    let row: PostgresRandomAccessRow

    var columnCount: Int { row.count }

    func integer(_ index: Int) -> Int64? {
        guard row[index].bytes != nil else { return nil }
        return try? row[index].decode(Int64.self)
    }

    func text(_ index: Int) -> String? {
        guard row[index].bytes != nil else { return nil }
        return try? row[index].decode(String.self)
    }
}

/// Clients as one array per column, for `INSERT … SELECT FROM unnest(…)`. Arrays cannot hold
/// NULL here, so a NULL travels as a sentinel that no real value takes (`Int64.min`, U+0001) and
/// `NULLIF` turns it back.
struct PostgresClientColumns: ClientColumnWriter {
    static let nullInteger = Int64.min
    static let nullText = "\u{1}"

    private(set) var texts: [[String]]
    private(set) var integers: [[Int64]]
    /// For each column, its index among the text or the integer columns.
    private static let slots: [Int] = {
        var text = 0, integer = 0
        return (0..<ClientRows.columnCount).map { column in
            if ClientRows.textColumns.contains(column) { defer { text += 1 }; return text }
            defer { integer += 1 }
            return integer
        }
    }()
    private var column = 0

    init(capacity: Int) {
        texts = Array(repeating: [], count: ClientRows.textColumns.count)
        integers = Array(repeating: [], count: ClientRows.columnCount - ClientRows.textColumns.count)
        for index in texts.indices { texts[index].reserveCapacity(capacity) }
        for index in integers.indices { integers[index].reserveCapacity(capacity) }
    }

    mutating func append(_ state: ClientState) {
        column = 0
        ClientRows.write(state, to: &self)
    }

    mutating func integer(_ value: Int64?) {
        integers[Self.slots[column]].append(value ?? Self.nullInteger)
        column += 1
    }

    mutating func text(_ value: String?) {
        texts[Self.slots[column]].append(value ?? Self.nullText)
        column += 1
    }

    /// The upsert of the appended clients.
    func upsert() -> PostgresQuery {
        var bindings = PostgresBindings(capacity: ClientRows.columnCount)
        var arrays: [String] = []
        var selected: [String] = []
        for column in 0..<ClientRows.columnCount {
            let name = "c\(column)"
            if ClientRows.textColumns.contains(column) {
                bindings.append(texts[Self.slots[column]])
                arrays.append("$\(column + 1)::text[]")
                selected.append(column == 0 ? name : "NULLIF(\(name), chr(1))")
            } else {
                bindings.append(integers[Self.slots[column]])
                arrays.append("$\(column + 1)::int8[]")
                selected.append("NULLIF(\(name), \(Self.nullInteger))")
            }
        }
        let names = (0..<ClientRows.columnCount).map { "c\($0)" }.joined(separator: ", ")
        let sql = """
            INSERT INTO clients (\(ClientRows.columns)) SELECT \(selected.joined(separator: ", "))
            FROM unnest(\(arrays.joined(separator: ", "))) AS u(\(names))
            ON CONFLICT (client_id) DO UPDATE SET \(ClientRows.columnNames.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
            """
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}

extension PostgresClientColumns {
    /// The sentinel for a nullable text column.
    static func text(_ value: String?) -> String { value ?? nullText }
    /// The sentinel for a nullable integer column.
    static func integer(_ value: Int64?) -> Int64 { value ?? nullInteger }
}

/// Reading rows of the other tables.
enum PostgresRows {
    static func clients(_ rows: PostgresRowSequence) async throws -> [ClientState] {
        var clients: [ClientState] = []
        for try await row in rows { clients.append(try ClientRows.state(from: PostgresClientRow(row: row.makeRandomAccess()))) }
        return clients
    }

    /// `task_id, client_id, kind, priority, due_at, created_at, reason, caused_by`.
    static func task(_ row: PostgresRow) throws -> FollowUpTask {
        let (taskId, clientId, kindName, priorityName, dueAt, createdAt, reason, causedBy) =
            try row.decode((String, String, String, String, Int64, Int64, String, String).self)
        guard let kind = FollowUpTask.Kind(rawValue: kindName), let priority = FollowUpTask.Priority(rawValue: priorityName) else {
            throw StoreError(.corruptRow, "unknown task kind or priority in the tasks table")
        }
        return FollowUpTask(
            taskId: taskId, clientId: clientId, kind: kind, priority: priority, dueAt: Timestamp(millisecondsSinceEpoch: dueAt),
            createdAt: Timestamp(millisecondsSinceEpoch: createdAt), reason: reason, causedBy: causedBy)
    }

    static let taskColumns = "task_id, client_id, kind, priority, due_at, created_at, reason, caused_by"
    static let statusChangeColumns = "event_id, client_id, status, previous_status, changed_at, reason, caused_by, purchase_count, temperature"

    static func statusChange(_ row: PostgresRow) throws -> StatusChange {
        let (eventId, clientId, statusName, previousName, changedAt, reason, causedBy, purchaseCount, temperature) =
            try row.decode((String, String, String, String?, Int64, String, String, Int64, String?).self)
        guard let status = ClientStatus(rawValue: statusName) else {
            throw StoreError(.corruptRow, "unknown status '\(statusName)' in the status_changes table")
        }
        var change = StatusChange(
            clientId: clientId, status: status, previousStatus: previousName.flatMap(ClientStatus.init(rawValue:)),
            changedAt: Timestamp(millisecondsSinceEpoch: changedAt), reason: reason, causedBy: causedBy, purchaseCount: Int(purchaseCount),
            temperature: temperature.flatMap(Temperature.init(rawValue:)))
        change.eventId = eventId
        return change
    }

    static let convertedPurchaseColumns = "client_id, event_id, occurred_at, kind, original_amount, original_currency, rate, amount"

    static func convertedPurchase(_ row: PostgresRow) throws -> ConvertedPurchase? {
        let (clientId, eventId, occurredAt, kindName, original, currency, rateText, amount) =
            try row.decode((String, String, Int64, String, Int64, String, String, Int64).self)
        guard let kind = PurchaseEvent.Kind(rawValue: kindName), let rate = ExchangeRate(decimal: rateText) else { return nil }
        return ConvertedPurchase(
            clientId: clientId, eventId: eventId, occurredAt: Timestamp(millisecondsSinceEpoch: occurredAt), kind: kind,
            originalAmount: Money(units: original), originalCurrency: currency, rate: rate, amount: Money(units: amount))
    }

    static func bytes(_ value: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: value) }
}

import ClienteleDomain
import Foundation
import GRDB

/// Multi-row statements: few statements per batch, well under SQLite's variable limit.
extension SQLiteClientStore {
    /// Writes `rows` with multi-row statements of ``rowsPerStatement`` rows:
    /// `PREFIX VALUES (…),(…) SUFFIX`, each row's `columns` values bound by `bind`, in order.
    static func insertRows<Rows: Collection>(
        _ rows: Rows, _ prefix: String, columns: Int, suffix: String = "", in db: Database,
        bind: (Rows.Element, inout SQLiteBindings) -> Void
    ) throws {
        try forEachStatement(rows, prefix, columns: columns, suffix: suffix, in: db, bind: bind) { statement in
            try statement.execute()
        }
    }

    /// The same, each row's values given as GRDB values (for the paths that are not hot).
    static func insertRows<Item>(
        _ rows: [Item], _ prefix: String, columns: Int, suffix: String = "", in db: Database,
        values: (Item) -> [(any DatabaseValueConvertible)?]
    ) throws {
        try insertRows(rows, prefix, columns: columns, suffix: suffix, in: db) { row, bindings in
            for value in values(row) { bindings.value(value) }
        }
    }

    /// The same, for a `suffix` ending in `RETURNING <text column>`: the values it returned.
    static func insertRowsReturningIds<Item>(
        _ rows: [Item], _ prefix: String, columns: Int, suffix: String, in db: Database,
        bind: (Item, inout SQLiteBindings) -> Void
    ) throws -> [String] {
        var returned: [String] = []
        try forEachStatement(rows, prefix, columns: columns, suffix: suffix, in: db, bind: bind) { statement in
            // Read through the C API: a value per accepted event, no per-value generic decoding.
            try SQLiteColumns.forEachRow(of: statement) { columns in
                guard let id = columns.text(0) else { throw StoreError(.corruptRow, "an insert returned no id") }
                returned.append(id)
            }
        }
        return returned
    }

    static func forEachStatement<Rows: Collection>(
        _ rows: Rows, _ prefix: String, columns: Int, suffix: String, in db: Database,
        bind: (Rows.Element, inout SQLiteBindings) -> Void, run: (Statement) throws -> Void
    ) throws {
        try forEachChunk(of: rows) { chunk in
            let statement = try db.cachedStatement(sql: insertSQL(prefix, columns: columns, rows: chunk.count, suffix: suffix))
            var bindings = SQLiteBindings(statement)
            for row in chunk {
                let first = bindings.count
                bind(row, &bindings)
                precondition(bindings.count - first == columns, "a row of '\(prefix)' bound \(bindings.count - first) values, not \(columns)")
            }
            try run(statement)
        }
    }

    /// Calls `body` with consecutive chunks of `items` whose sizes are powers of two, at most
    /// ``rowsPerStatement``: chunks of the largest size, then the rest by its binary digits
    /// (999 rows: 256, 256, 256, 128, 64, 32, 4, 2, 1). A statement's text depends only on its
    /// number of rows, so a handful of shapes per statement stay prepared in GRDB's statement
    /// cache; with one shape per row count, nearly every batch prepared its statements anew
    /// (measured: SQLite's parser took 13% of the store benchmark's instructions), and the cache
    /// kept every shape it had seen.
    static func forEachChunk<Items: Collection>(of items: Items, _ body: (Items.SubSequence) throws -> Void) throws {
        var start = items.startIndex
        var left = items.count
        var size = rowsPerStatement
        while left > 0 {
            while size > left { size /= 2 }
            let end = items.index(start, offsetBy: size)
            try body(items[start..<end])
            start = end
            left -= size
        }
    }

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ",")
    }

    /// `PREFIX VALUES (?,…),(?,…) SUFFIX` for `rows` rows of `columns` values.
    static func insertSQL(_ prefix: String, columns: Int, rows: Int, suffix: String) -> String {
        let row = "(" + placeholders(columns) + ")"
        return prefix + " VALUES " + Array(repeating: row, count: rows).joined(separator: ",") + " " + suffix
    }
}

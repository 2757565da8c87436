import ClienteleDomain
import Foundation
import GRDB

/// Multi-row statements: few statements per batch, well under SQLite's variable limit.
extension SQLiteClientStore {
    /// Writes `rows` with multi-row statements of ``rowsPerStatement`` rows:
    /// `PREFIX VALUES (…),(…) SUFFIX`, each row's `columns` values given by `values`.
    static func insertRows<Item>(
        _ rows: [Item], _ prefix: String, columns: Int, suffix: String = "", in db: Database,
        values: (Item) -> [(any DatabaseValueConvertible)?]
    ) throws {
        try forEachStatement(rows, prefix, columns: columns, suffix: suffix, in: db, values: values) { statement, arguments in
            try statement.execute(arguments: arguments)
        }
    }

    /// The same, for a `suffix` ending in `RETURNING <text column>`: the values it returned.
    static func insertRowsReturningIds<Item>(
        _ rows: [Item], _ prefix: String, columns: Int, suffix: String, in db: Database,
        values: (Item) -> [(any DatabaseValueConvertible)?]
    ) throws -> [String] {
        var returned: [String] = []
        try forEachStatement(rows, prefix, columns: columns, suffix: suffix, in: db, values: values) { statement, arguments in
            returned += try String.fetchAll(statement, arguments: arguments)
        }
        return returned
    }

    static func forEachStatement<Item>(
        _ rows: [Item], _ prefix: String, columns: Int, suffix: String, in db: Database,
        values: (Item) -> [(any DatabaseValueConvertible)?], run: (Statement, StatementArguments) throws -> Void
    ) throws {
        try forEachChunk(of: rows) { chunk in
            let statement = try db.cachedStatement(sql: insertSQL(prefix, columns: columns, rows: chunk.count, suffix: suffix))
            var arguments: [(any DatabaseValueConvertible)?] = []
            arguments.reserveCapacity(chunk.count * columns)
            for row in chunk { arguments += values(row) }
            try run(statement, StatementArguments(arguments))
        }
    }

    static func forEachChunk<T>(of items: [T], _ body: (ArraySlice<T>) throws -> Void) throws {
        var start = 0
        while start < items.count {
            let end = min(start + rowsPerStatement, items.count)
            try body(items[start..<end])
            start = end
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

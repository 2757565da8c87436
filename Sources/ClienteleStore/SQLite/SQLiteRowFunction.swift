import GRDB
import GRDBSQLite

/// A scalar SQL function of a client row, for one statement on one connection, registered through
/// SQLite's C API: its arguments are read where SQLite holds them (``SQLiteValueColumns``) instead
/// of being converted into `DatabaseValue`s first, as GRDB's `DatabaseFunction` does for every
/// argument of every call (a rescheduling pass calls it once per client, with 33 arguments).
final class SQLiteRowFunction {
    /// The row's columns in, the integer result (nil for NULL) out.
    typealias Body = (SQLiteValueColumns) throws -> Int64?

    private let body: Body

    private init(body: @escaping Body) {
        self.body = body
    }

    /// Runs `work` with `name` defined as `body` over `argumentCount` arguments on `db`'s
    /// connection, and removes it afterwards.
    static func with<T>(
        _ name: String, argumentCount: Int, on db: Database, body: @escaping Body, _ work: () throws -> T
    ) throws -> T {
        let box = Unmanaged.passRetained(SQLiteRowFunction(body: body))
        let created = sqlite3_create_function_v2(
            db.sqliteConnection, name, CInt(argumentCount), SQLITE_UTF8 | SQLITE_DETERMINISTIC, box.toOpaque(),
            { context, count, values in
                let function = Unmanaged<SQLiteRowFunction>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                do {
                    if let result = try function.body(SQLiteValueColumns(values: values, count: Int(count))) {
                        sqlite3_result_int64(context, result)
                    } else {
                        sqlite3_result_null(context)
                    }
                } catch {
                    sqlite3_result_error(context, "\(error)", -1)
                }
            },
            nil, nil,
            { pointer in if let pointer { Unmanaged<SQLiteRowFunction>.fromOpaque(pointer).release() } })
        guard created == SQLITE_OK else {
            // SQLite calls the destructor when the creation fails too.
            throw StoreError(.unavailable, "cannot define the SQL function \(name): \(String(cString: sqlite3_errstr(created)))")
        }
        defer { _ = sqlite3_create_function_v2(db.sqliteConnection, name, CInt(argumentCount), SQLITE_UTF8, nil, nil, nil, nil, nil) }
        return try work()
    }
}

/// An SQL function's arguments as client columns, read in place.
struct SQLiteValueColumns: ClientColumnReader {
    let values: UnsafeMutablePointer<OpaquePointer?>?
    let count: Int

    var columnCount: Int { count }

    func integer(_ index: Int) -> Int64? {
        guard let value = values?[index], sqlite3_value_type(value) == SQLITE_INTEGER else { return nil }
        return sqlite3_value_int64(value)
    }

    func text(_ index: Int) -> String? {
        guard let value = values?[index], sqlite3_value_type(value) == SQLITE_TEXT, let text = sqlite3_value_text(value) else { return nil }
        // The byte count after the text pointer, as SQLite documents.
        let count = Int(sqlite3_value_bytes(value))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }
}

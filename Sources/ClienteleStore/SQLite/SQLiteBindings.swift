import Foundation
import GRDB
import GRDBSQLite

/// Binds a statement's parameters straight through SQLite's C API, in order.
///
/// The multi-row statements bind thousands of values per batch: going through
/// `[(any DatabaseValueConvertible)?]` and `StatementArguments` boxed each value in an existential
/// and copied it twice (measured: a tenth of the worker's CPU in argument handling). Values are
/// copied once, by SQLite (`SQLITE_TRANSIENT`).
struct SQLiteBindings: ClientColumnWriter {
    private let statement: SQLiteStatement
    /// The next parameter's 1-based index.
    private(set) var index: CInt = 1

    /// Prepares `statement` to take new values: GRDB resets it and clears the old ones, and then
    /// runs it with what is bound here (``Statement/execute()`` without arguments).
    init(_ statement: Statement) {
        statement.setUncheckedArguments(StatementArguments())
        self.statement = statement.sqliteStatement
    }

    /// The number of parameters bound so far.
    var count: Int { Int(index - 1) }

    mutating func integer(_ value: Int64?) {
        if let value { check(sqlite3_bind_int64(statement, index, value)) } else { null() }
        index += 1
    }

    mutating func integer(_ value: Int?) { integer(value.map(Int64.init)) }
    mutating func integer(_ value: Int32?) { integer(value.map(Int64.init)) }

    mutating func text(_ value: String?) {
        guard var value else { null(); index += 1; return }
        let index = self.index
        let statement = self.statement
        value.withUTF8 { bytes in
            guard let start = bytes.baseAddress, !bytes.isEmpty else {
                check(sqlite3_bind_text(statement, index, "", 0, SQLiteBindings.transient))
                return
            }
            check(sqlite3_bind_text(statement, index, UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self),
                                    CInt(bytes.count), SQLiteBindings.transient))
        }
        self.index += 1
    }

    mutating func blob(_ value: [UInt8]?) {
        guard let value else { null(); index += 1; return }
        let index = self.index
        let statement = self.statement
        value.withUnsafeBytes { bytes in
            // A zero-length blob, not NULL, for an empty value.
            if bytes.isEmpty { check(sqlite3_bind_zeroblob(statement, index, 0)); return }
            check(sqlite3_bind_blob(statement, index, bytes.baseAddress, CInt(bytes.count), SQLiteBindings.transient))
        }
        self.index += 1
    }

    /// Any GRDB value (the paths that are not hot keep building arrays of them).
    mutating func value(_ value: (any DatabaseValueConvertible)?) {
        switch value?.databaseValue.storage ?? .null {
        case .null: null(); index += 1
        case .int64(let number): integer(number)
        case .double(let number): check(sqlite3_bind_double(statement, index, number)); index += 1
        case .string(let string): text(string)
        case .blob(let data): blob([UInt8](data))
        }
    }

    private func null() { check(sqlite3_bind_null(statement, index)) }

    private func check(_ code: CInt) {
        // Binding does not touch the file system: it fails only on a programming error (an index
        // out of range), as GRDB's own binding treats it.
        guard code == SQLITE_OK else { fatalError("sqlite3_bind failed with code \(code) at parameter \(index)") }
    }

    /// `SQLITE_TRANSIENT`: SQLite copies the value before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

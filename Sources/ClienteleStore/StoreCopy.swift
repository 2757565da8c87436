import ClienteleDomain
import GRDB
import Logging
import PostgresNIO

/// Moves a company's SQLite store into an empty PostgreSQL database, when it outgrows one host:
/// every table the PostgreSQL schema has, row for row (clients, event records, tasks, status
/// history, outbox, erasures, models, stream progress, waiting events, settings), in one
/// PostgreSQL transaction — either all of it is copied or none.
///
/// The source is read from one snapshot, so the copy is consistent even if something writes to
/// the file meanwhile; but the workers must be stopped first (their Kafka offsets would run ahead
/// of the copy), and the copy refuses while a worker holds the outbox lease. The target must be
/// empty and opened with the source's deployment key (its keyed hashes stay valid).
public enum StoreCopy {
    /// Rows copied per table, in copy order.
    public struct Report: Sendable {
        public var rows: [(table: String, count: Int)]

        public var total: Int { rows.reduce(0) { $0 + $1.count } }
    }

    /// Tables not copied: the migration log (the target has its own) and the relay lease (held by
    /// live relays only).
    static let skippedTables: Set<String> = ["schema_migrations", "relay_lease"]
    /// The rows that make a store non-empty: a copy never merges into one of these.
    static let contentTables = ["clients", "processed_events", "erased_clients", "outbox", "status_changes", "models", "waiting_events"]
    /// Columns PostgreSQL has that SQLite derives: the SQLite expression giving each.
    static let derivedColumns: [String: [String: String]] = [
        // The event's UTC day (floor division, also before 1970).
        "processed_events": ["event_day": "((occurred_at - ((occurred_at % 86400000) + 86400000) % 86400000) / 86400000)"],
    ]
    /// Rows read from SQLite and inserted per statement.
    static let chunkSize = 5_000

    /// Copies `source` into `target` (which must be empty) and reports the rows copied per table.
    /// `progress` is told each table as it is done.
    public static func copy(
        from source: SQLiteClientStore, to target: PostgresClientStore, now: Timestamp,
        progress: @escaping @Sendable (String, Int) -> Void = { _, _ in }
    ) async throws -> Report {
        try await target.waitUntilReady()
        let snapshot = try source.pool.makeSnapshot()
        try await refuseLiveWorkers(snapshot, now: now)
        let legacy = try await snapshot.read { db in
            try db.tableExists("processed_events_legacy") ? try Int.fetchOne(db, sql: "SELECT count(*) FROM processed_events_legacy") ?? 0 : 0
        }
        guard legacy == 0 else {
            throw StoreError(.notCopyable, """
                the SQLite store still holds \(legacy) event records from before release 0.7 (no content fingerprint): \
                they cannot be moved; let them age out of the Kafka retention window, or replay into an empty PostgreSQL store instead
                """)
        }
        try await checkSameKey(snapshot, target: target)
        let logger = target.logger
        return try await target.transaction { connection in
            let tables = try await targetTables(connection, logger: logger)
            try await refuseNonEmpty(connection, tables: tables, logger: logger)
            var report = Report(rows: [])
            for table in tables {
                let count = try await copyTable(table, from: snapshot, to: connection, logger: logger)
                report.rows.append((table.name, count))
                progress(table.name, count)
            }
            return report
        }
    }

    /// A table of the PostgreSQL schema and its columns.
    struct Table: Sendable {
        struct Column: Sendable {
            var name: String
            var type: String
            var isIdentity: Bool
            var hasDefault: Bool
        }

        var name: String
        var columns: [Column]
    }

    private static func targetTables(_ connection: PostgresConnection, logger: Logger) async throws -> [Table] {
        var tables: [Table] = []
        let rows = try await connection.query("""
            SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_identity::text, (c.column_default IS NOT NULL OR c.is_nullable = 'YES' OR c.is_identity = 'YES')
            FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
            ORDER BY c.table_name, c.ordinal_position
            """, logger: logger)
        for try await (table, column, type, identity, optional) in rows.decode((String, String, String, String, Bool).self) {
            guard !skippedTables.contains(table) else { continue }
            let entry = Table.Column(name: column, type: type, isIdentity: identity == "YES", hasDefault: optional)
            if tables.last?.name == table { tables[tables.count - 1].columns.append(entry) } else { tables.append(Table(name: table, columns: [entry])) }
        }
        return tables
    }

    private static func refuseLiveWorkers(_ snapshot: DatabaseSnapshot, now: Timestamp) async throws {
        let lease = try await snapshot.read { db in
            try Int64.fetchOne(db, sql: "SELECT max(expires_at) FROM relay_lease WHERE expires_at > ?", arguments: [now.millisecondsSinceEpoch])
        }
        if let lease {
            throw StoreError(.notCopyable, """
                a worker is running on the SQLite store (it holds the outbox lease until \(Timestamp(millisecondsSinceEpoch: lease).rfc3339)): \
                stop every worker first, so that no event is applied after the copy
                """)
        }
    }

    /// The keyed records (erasures, event fingerprints) stay valid only under the key they were
    /// made with: the target must use the source's deployment key.
    private static func checkSameKey(_ snapshot: DatabaseSnapshot, target: PostgresClientStore) async throws {
        guard let key = target.key else {
            throw StoreError(.invalidKey, "the copy needs the SQLite store's deployment key for the target (CLIENTELE_ERASURE_KEY_FILE)")
        }
        let (stored, unkeyed) = try await snapshot.read { db in
            (try String.fetchOne(db, sql: "SELECT value FROM settings WHERE name = ?", arguments: [DeploymentKey.identitySetting]),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM erased_clients WHERE keyed = 0") ?? 0)
        }
        if let stored, stored != key.identity {
            throw StoreError(.invalidKey, """
                the SQLite store's keyed records were made with another deployment key (identity \(stored), given \(key.identity)): \
                give the key the workers on that store used (by default the .key file beside it)
                """)
        }
        guard unkeyed == 0 else {
            throw StoreError(.notCopyable, "the SQLite store holds \(unkeyed) erasures from before keyed hashes: open it once with this release's workers first")
        }
    }

    private static func refuseNonEmpty(_ connection: PostgresConnection, tables: [Table], logger: Logger) async throws {
        let present = Set(tables.map(\.name))
        for table in contentTables where present.contains(table) {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM (SELECT 1 FROM \(table) LIMIT 1) AS t"), logger: logger)
            for try await count in rows.decode(Int64.self) where count > 0 {
                throw StoreError(.notCopyable, "the target database is not empty (it has rows in \(table)): copy only into a new, empty database")
            }
        }
    }

    /// Copies one table in chunks (in rowid order, so identity columns keep the source's order),
    /// then moves the identity past the largest copied value.
    private static func copyTable(_ table: Table, from snapshot: DatabaseSnapshot, to connection: PostgresConnection, logger: Logger) async throws -> Int {
        let sourceColumns = try await snapshot.read { db -> Set<String>? in
            guard try db.tableExists(table.name) else { return nil }
            return Set(try db.columns(in: table.name).map(\.name))
        }
        guard let sourceColumns else { return 0 }
        let derived = derivedColumns[table.name] ?? [:]
        let columns = table.columns.filter { sourceColumns.contains($0.name) || derived[$0.name] != nil }
        if let missing = table.columns.first(where: { !sourceColumns.contains($0.name) && derived[$0.name] == nil && !$0.hasDefault }) {
            throw StoreError(.notCopyable, "the SQLite store's table \(table.name) has no column \(missing.name): open it once with this release's workers first")
        }
        guard !columns.isEmpty else { return 0 }
        let selectList = columns.map { derived[$0.name] ?? "\"\($0.name)\"" }.joined(separator: ", ")
        // Paged by the primary key (most tables are WITHOUT ROWID), else by rowid.
        let primaryKey = try await snapshot.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", arguments: [table.name])
        }
        let order = primaryKey.isEmpty ? ["rowid"] : primaryKey.map { "\"\($0)\"" }
        let orderList = order.joined(separator: ", ")
        var after: [DatabaseValue]?
        var copied = 0
        while true {
            let page = try await snapshot.read { [after] db -> [[DatabaseValue]] in
                let condition = after == nil ? "" : "WHERE (\(orderList)) > (\(order.map { _ in "?" }.joined(separator: ", ")))"
                let rows = try Row.fetchAll(db, sql: """
                    SELECT \(orderList), \(selectList) FROM "\(table.name)" \(condition) ORDER BY \(orderList) LIMIT ?
                    """, arguments: StatementArguments((after ?? []) + [chunkSize.databaseValue]))
                return rows.map { row in (0..<(order.count + columns.count)).map { row[$0] as DatabaseValue } }
            }
            guard let last = page.last else { break }
            after = Array(last.prefix(order.count))
            if let dayColumn = columns.firstIndex(where: { $0.name == "event_day" }), table.name == "processed_events" {
                // The record partitions of these days, before the rows go in.
                let days = Set(page.compactMap { Int64.fromDatabaseValue($0[order.count + dayColumn]) }).map(Int32.init).sorted()
                try await connection.query("SELECT clientele_ensure_event_days(\(days)::int4[])", logger: logger)
            }
            try await insert(page.map { Array($0.dropFirst(order.count)) }, into: table.name, columns: columns,
                             connection: connection, logger: logger)
            copied += page.count
            if page.count < chunkSize { break }
        }
        for column in columns where column.isIdentity && copied > 0 {
            try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT setval(pg_get_serial_sequence('\(table.name)', '\(column.name)'), (SELECT max("\(column.name)") FROM "\(table.name)"))
                """), logger: logger)
        }
        return copied
    }

    /// One multi-row insert, in the order read (identities the source did not have are assigned
    /// in that order): each column travels as a text array with a null flag array beside it
    /// (postgres-nio arrays cannot hold NULL) and is cast to its type in the statement.
    private static func insert(
        _ rows: [[DatabaseValue]], into table: String, columns: [Table.Column], connection: PostgresConnection, logger: Logger
    ) async throws {
        var bindings = PostgresBindings()
        var unnestArguments: [String] = []
        var aliases: [String] = []
        var selected: [String] = []
        for (index, column) in columns.enumerated() {
            var texts: [String] = []
            var nulls: [Bool] = []
            texts.reserveCapacity(rows.count)
            nulls.reserveCapacity(rows.count)
            for row in rows {
                let text = try Self.text(row[index], table: table, column: column.name)
                texts.append(text ?? "")
                nulls.append(text == nil)
            }
            bindings.append(texts)
            bindings.append(nulls)
            unnestArguments.append("$\(2 * index + 1)::text[], $\(2 * index + 2)::bool[]")
            aliases.append("v\(index), n\(index)")
            selected.append("CASE WHEN u.n\(index) THEN NULL ELSE u.v\(index)::\(column.type) END")
        }
        let overriding = columns.contains(where: \.isIdentity) ? " OVERRIDING SYSTEM VALUE" : ""
        // The target's own settings (its key identity, recorded when it was prepared) stay.
        let conflict = table == "settings" ? " ON CONFLICT DO NOTHING" : ""
        try await connection.query(PostgresQuery(unsafeSQL: """
            INSERT INTO "\(table)" (\(columns.map { "\"\($0.name)\"" }.joined(separator: ", ")))\(overriding)
            SELECT \(selected.joined(separator: ", ")) FROM unnest(\(unnestArguments.joined(separator: ", "))) WITH ORDINALITY AS u(\(aliases.joined(separator: ", ")), ord)
            ORDER BY u.ord\(conflict)
            """, binds: bindings), logger: logger)
    }

    /// A SQLite value as PostgreSQL's text input for it (blobs in bytea's hex form); nil for NULL.
    static func text(_ value: DatabaseValue, table: String, column: String) throws -> String? {
        switch value.storage {
        case .null: return nil
        case .int64(let integer): return String(integer)
        case .double(let double): return double.description
        case .string(let string):
            guard !string.utf8.contains(0) else {
                throw StoreError(.notCopyable, "\(table).\(column) holds a text with a NUL character, which PostgreSQL cannot store")
            }
            return string
        case .blob(let data):
            let digits = Array("0123456789abcdef".utf8)
            var out: [UInt8] = Array("\\x".utf8)
            out.reserveCapacity(2 + data.count * 2)
            for byte in data {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
